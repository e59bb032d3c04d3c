//! The plain-JSON STIX bundle reader (`detente_indicator::bundle`) against serde_json's reading
//! of the same text: whatever the fast reader accepts, serde_json accepts too, with the same
//! objects in the same order (the loader relies on this to skip serde_json for large bundles).
#![no_main]

use detente_indicator::bundle::read_bundle;
use detente_indicator::object::StixObject;
use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    objects: Vec<StixObject<'a>>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fast = Vec::new();
    if read_bundle(text, |o| fast.push(format!("{o:?}"))).is_none() {
        return;
    }
    let slow: Vec<String> = match serde_json::from_str::<Doc<'_>>(text) {
        Ok(d) => d.objects.iter().map(|o| format!("{o:?}")).collect(),
        Err(e) => panic!("the fast reader accepted what serde_json refuses ({e}): {text}"),
    };
    assert_eq!(fast, slow, "{text}");
});
