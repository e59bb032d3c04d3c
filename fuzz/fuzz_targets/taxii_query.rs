//! TAXII GET query strings as the server reads them (`added_after`, `limit`, `next`,
//! `match[...]`): parsing never panics; a filter's canonical form (what a `next` cursor is
//! bound to) reads back as the same filter, so two different queries never share a cursor;
//! a cursor opens only for the binding it was minted for.
#![no_main]

use detente_server::Cursors;
use detente_taxii::filter::{Endpoint, Filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let cursors = Cursors::new(vec![7; 32]);
    for endpoint in [
        Endpoint::Objects,
        Endpoint::Object,
        Endpoint::Delete,
        Endpoint::Versions,
    ] {
        let Ok(f) = Filter::parse(query, endpoint) else {
            continue;
        };
        let again = Filter::parse(&f.canonical, endpoint).expect("a canonical query parses");
        assert_eq!(
            Filter {
                next: f.next.clone(),
                ..again
            },
            f,
            "canonical {:?}",
            f.canonical
        );
        let binding = format!("1|Objects|collection||{}", f.canonical);
        if let Some(next) = &f.next {
            // Only a cursor minted by the node opens; a fuzzed one forging a tag is a crash.
            assert_eq!(cursors.open(&binding, next), None);
        }
        let position = i64::try_from(data.len()).unwrap_or(0);
        let minted = cursors.mint(&binding, position);
        assert_eq!(cursors.open(&binding, &minted), Some(position));
        assert_eq!(cursors.open(&format!("{binding}&"), &minted), None);
    }
});
