//! MISP warninglists, as a node stores them (`detente warninglist add`) and a scan loads them
//! (`--allowlist`): the parser and the matcher never panic, whatever the list holds (regexes
//! under the size limit included), and every entry of a `string` list matches itself.
#![no_main]

use detente_warninglist::{Matcher, Warninglist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(wl) = Warninglist::parse(data) else {
        return;
    };
    let mut m = Matcher::new();
    let _unusable = m.add("fuzz/list.json", &wl);
    m.finish();
    for e in wl.entries.iter().take(64) {
        let hit = m.check(e.as_bytes());
        if wl.kind == "string" {
            assert!(hit.is_some(), "string entry {e:?} does not match itself");
        }
    }
    let _ = m.check(data);
});
