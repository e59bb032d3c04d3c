//! Tile path and entry bundle parsing: never panics; round trips.
#![no_main]

use detente_tlog::TileId;
use detente_tlog::tile::{TilePath, decode_entry_bundle, encode_entry_bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = decode_entry_bundle(data) {
        assert_eq!(encode_entry_bundle(entries).ok().as_deref(), Some(data));
    }
    if let Ok(path) = std::str::from_utf8(data) {
        match TileId::parse_path(path) {
            Ok(TilePath::Hashes(t)) => assert_eq!(t.path(), path),
            Ok(TilePath::Entries(t)) => assert_eq!(t.entries_path(), path),
            Err(_) => {}
        }
    }
});
