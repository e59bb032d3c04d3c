//! Receipts and log leaves come from a node the member does not trust: parsing and checking
//! them must never panic.
#![no_main]

use detente_logentry::Leaf;
use detente_logentry::receipt::Receipt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Leaf::parse(data);
    if let Ok(r) = serde_json::from_slice::<Receipt>(data) {
        let _ = r.check_inclusion();
        let _ = r.check_entry(None);
        let _ = r.check_entry(Some(&serde_json::json!({"type": "x"})));
    }
});
