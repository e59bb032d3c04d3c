//! The verifier against the generated 70,000-entry log read from disk, and tampered variants of
//! it (overriding single resources), each caught with its own error.

use std::collections::HashMap;
use std::path::PathBuf;

use detente_tlog::{Checkpoint, Hash, Note, NoteSigner, VerifierKey};
use detente_tlog_client::{ClientError, Fetcher, Options, State, verify_log};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/tlog-vectors");

fn vectors() -> serde_json::Value {
    let p = PathBuf::from(VECTORS).join("detente-generated/vectors.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Serves the generated log directory, with some resources replaced.
struct DirFetcher {
    root: PathBuf,
    overrides: HashMap<String, Vec<u8>>,
}

impl DirFetcher {
    fn new() -> Self {
        DirFetcher {
            root: PathBuf::from(VECTORS).join("detente-generated/log"),
            overrides: HashMap::new(),
        }
    }

    fn with(mut self, path: &str, body: Vec<u8>) -> Self {
        self.overrides.insert(path.to_owned(), body);
        self
    }

    fn original(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.root.join(path)).unwrap()
    }
}

impl Fetcher for DirFetcher {
    fn fetch(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        if let Some(b) = self.overrides.get(path) {
            return Ok(b.clone());
        }
        std::fs::read(self.root.join(path)).map_err(|_| ClientError::HttpStatus {
            url: path.to_owned(),
            status: 404,
        })
    }

    fn location(&self) -> &str {
        "test://generated/log/"
    }
}

fn key() -> VerifierKey {
    VerifierKey::parse(vectors()["log_vkey"].as_str().unwrap()).unwrap()
}

fn signer() -> NoteSigner {
    NoteSigner::parse(vectors()["log_skey"].as_str().unwrap()).unwrap()
}

fn signed(cp: &Checkpoint, signer: &NoteSigner) -> Vec<u8> {
    let mut note = Note::new(cp.to_string()).unwrap();
    note.add_signature(signer.sign(note.text())).unwrap();
    note.to_bytes()
}

fn with_key() -> Options {
    Options {
        key: Some(key()),
        skip_entries: false,
        ..Options::default()
    }
}

/// Replaces one base64 character with another valid one.
fn swap_b64(mut b: Vec<u8>, at: usize) -> Vec<u8> {
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    b
}

fn flip(mut b: Vec<u8>, at: usize) -> Vec<u8> {
    b[at] ^= 0x40;
    b
}

#[test]
fn verifies_pins_and_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let f = DirFetcher::new();
    let state = State::new(dir.path(), f.location());
    let err = verify_log(&f, Some(&state), &Options::default()).unwrap_err();
    assert!(matches!(err, ClientError::NoKey { .. }), "{err}");

    let r = verify_log(&f, Some(&state), &with_key()).unwrap();
    assert_eq!(
        (r.size, r.tiles, r.bundles, r.pinned_key),
        (70_000, 277, 274, true)
    );
    assert_eq!(r.previous_size, None);
    // Second run: the pinned key is used, and the remembered checkpoint is checked.
    let r = verify_log(&f, Some(&state), &Options::default()).unwrap();
    assert_eq!((r.previous_size, r.pinned_key), (Some(70_000), false));

    let other = NoteSigner::from_seed("example.com/detente/test-log", &[1; 32]).unwrap();
    let opts = Options {
        key: Some(other.verifier()),
        skip_entries: false,
        ..Options::default()
    };
    let err = verify_log(&f, Some(&state), &opts).unwrap_err();
    assert!(matches!(err, ClientError::KeyMismatch { .. }), "{err}");
}

#[test]
fn consistency_rollback_and_fork() {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    // Size 65,536 publishes only tiles that the size-70,000 directory also has.
    let older = v["checkpoints"]["65536"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec();
    let f = DirFetcher::new().with("checkpoint", older.clone());
    let state = State::new(dir.path(), f.location());
    assert_eq!(
        verify_log(&f, Some(&state), &with_key()).unwrap().size,
        65_536
    );
    let r = verify_log(&DirFetcher::new(), Some(&state), &with_key()).unwrap();
    assert_eq!((r.size, r.previous_size), (70_000, Some(65_536)));

    let err = verify_log(&f, Some(&state), &with_key()).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Rollback {
                remembered: 70_000,
                served: 65_536
            }
        ),
        "{err}"
    );

    let mut cp = Checkpoint::parse(
        Note::parse(&DirFetcher::new().original("checkpoint"))
            .unwrap()
            .text(),
    )
    .unwrap();
    cp.root = Hash([7; 32]);
    let forked = DirFetcher::new().with("checkpoint", signed(&cp, &signer()));
    let err = verify_log(&forked, Some(&state), &with_key()).unwrap_err();
    assert!(
        matches!(err, ClientError::Fork { size: 70_000, .. }),
        "{err}"
    );
}

#[test]
fn rewritten_history_is_inconsistent() {
    let dir = tempfile::tempdir().unwrap();
    let f = DirFetcher::new();
    let state = State::new(dir.path(), f.location());
    // Remember a validly signed checkpoint of a different history at size 65,536.
    let cp = Checkpoint::new("example.com/detente/test-log", 65_536, Hash([9; 32])).unwrap();
    let remembered = DirFetcher::new().with("checkpoint", signed(&cp, &signer()));
    let opts = Options {
        key: Some(key()),
        skip_entries: true,
        ..Options::default()
    };
    // That log's tiles don't match its root, so it is rejected as served...
    let err = verify_log(&remembered, Some(&state), &opts).unwrap_err();
    assert!(
        matches!(err, ClientError::RootMismatch { size: 65_536, .. }),
        "{err}"
    );
    // ...but once remembered, the real log is caught as a rewrite of it.
    state.pin_key(&key().to_string()).unwrap();
    state
        .save_checkpoint(&signed(&cp, &signer()), f.location())
        .unwrap();
    let err = verify_log(&f, Some(&state), &opts).unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Inconsistent {
                old_size: 65_536,
                new_size: 70_000,
                ..
            }
        ),
        "{err}"
    );
}

/// Whether an error is the expected one.
type Check = fn(&ClientError) -> bool;

#[test]
fn tampering_is_caught_precisely() {
    let base = DirFetcher::new();
    let cp = base.original("checkpoint");
    let t5 = base.original("tile/0/005");
    let t1 = base.original("tile/1/000");
    let top = base.original("tile/2/000.p/1");
    let bundle = base.original("tile/entries/007");
    let sig_at = cp.len() - 10;
    let other = NoteSigner::from_seed("example.com/detente/test-log", &[1; 32]).unwrap();
    let body = Note::parse(&cp).unwrap().text().to_owned();

    let cases: Vec<(&str, DirFetcher, Check)> = vec![
        (
            "bad signature",
            DirFetcher::new().with("checkpoint", {
                // Break the log signature line (the first one), keep the witness line.
                let text = String::from_utf8(cp.clone()).unwrap();
                let i = text.find("HrXDk").unwrap() + 10;
                swap_b64(cp.clone(), i)
            }),
            |e| matches!(e, ClientError::BadSignature { .. }),
        ),
        (
            "broken note",
            DirFetcher::new().with("checkpoint", flip(cp.clone(), sig_at)),
            |e| {
                matches!(
                    e,
                    ClientError::MalformedCheckpoint(_) | ClientError::BadSignature { .. }
                )
            },
        ),
        (
            "signed by another key",
            DirFetcher::new().with(
                "checkpoint",
                signed(&Checkpoint::parse(&body).unwrap(), &other),
            ),
            |e| matches!(e, ClientError::NotSigned { .. }),
        ),
        (
            "changed tile byte",
            DirFetcher::new().with("tile/0/005", flip(t5.clone(), 100)),
            |e| matches!(e, ClientError::TileHashMismatch { path, position: 5, child } if path == "tile/1/000" && child == "tile/0/005"),
        ),
        (
            "truncated tile",
            DirFetcher::new().with("tile/0/005", t5[..8000].to_vec()),
            |e| matches!(e, ClientError::TileLength { path, got: 8000, want: 8192 } if path == "tile/0/005"),
        ),
        (
            "changed upper tile",
            DirFetcher::new().with("tile/1/000", flip(t1, 33)),
            |e| matches!(e, ClientError::TileHashMismatch { path, position: 1, .. } if path == "tile/1/000"),
        ),
        (
            "changed top tile",
            DirFetcher::new().with("tile/2/000.p/1", flip(top, 0)),
            |e| matches!(e, ClientError::TileHashMismatch { path, position: 0, .. } if path == "tile/2/000.p/1"),
        ),
        (
            "changed entry",
            DirFetcher::new().with("tile/entries/007", flip(bundle.clone(), 5)),
            |e| matches!(e, ClientError::EntryMismatch { index: 1792, .. }),
        ),
        (
            "truncated bundle",
            DirFetcher::new().with("tile/entries/007", bundle[..bundle.len() - 3].to_vec()),
            |e| matches!(e, ClientError::MalformedBundle { .. }),
        ),
        (
            "missing tile",
            DirFetcher::new().with("tile/0/273.p/112", Vec::new()),
            |e| matches!(e, ClientError::TileLength { got: 0, .. }),
        ),
    ];
    for (name, f, check) in cases {
        let err = verify_log(&f, None, &with_key()).unwrap_err();
        assert!(check(&err), "{name}: got {err}");
    }
}

#[test]
fn huge_claimed_size_fails_on_the_first_missing_tile() {
    let cp = Checkpoint::new("example.com/detente/test-log", 1 << 62, Hash([5; 32])).unwrap();
    let f = DirFetcher::new().with("checkpoint", signed(&cp, &signer()));
    let opts = Options {
        key: Some(key()),
        skip_entries: true,
        ..Options::default()
    };
    let err = verify_log(&f, None, &opts).unwrap_err();
    assert!(
        matches!(&err, ClientError::HttpStatus { url, status: 404 } if url == "tile/1/001"),
        "{err}"
    );
}
