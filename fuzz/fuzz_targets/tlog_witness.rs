//! `add-checkpoint` request bodies: parsing and the witness's decision never panic, and a
//! parsed request re-encodes to the bytes it came from.
#![no_main]

use detente_tlog::witness::{AddCheckpoint, Cosigned, add_checkpoint_body, decide};
use detente_tlog::{Hash, NoteSigner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = AddCheckpoint::parse(data) else {
        return;
    };
    assert_eq!(
        add_checkpoint_body(req.old, &req.proof, &req.note.to_bytes()),
        data
    );
    let key = NoteSigner::from_seed(&req.checkpoint.origin.replace([' ', '+'], "_"), &[1; 32])
        .map(|s| s.verifier());
    let keys: Vec<_> = key.into_iter().collect();
    let last = Cosigned {
        size: req.old,
        root: Hash([0; 32]),
    };
    let _ = decide(&req, &keys, None);
    let _ = decide(&req, &keys, Some(&last));
});
