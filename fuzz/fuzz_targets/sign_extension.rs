//! Signed objects come from members and partner nodes nobody trusts: reading a signature
//! extension, computing the signing input and verifying must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(object) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = detente_sign::signature_of(&object);
    let _ = detente_sign::signing_input(&object);
    if let Ok(key) = detente_tlog::NoteSigner::from_seed("fuzz", &[1; 32]) {
        let _ = detente_sign::verify(&object, "alice", &key.verifier());
        let mut signed = object.clone();
        if detente_sign::sign(&mut signed, "alice", &key).is_ok() {
            assert!(detente_sign::verify(&signed, "alice", &key.verifier()).is_ok());
        }
    }
});
