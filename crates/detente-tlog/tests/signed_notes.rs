//! Signed-note vectors: Go x/mod's notes, the C2SP spec example, a real sum.golang.org checkpoint,
//! and the Tessera and Sunlight checkpoints (including type 0x04 cosignatures).

mod common;

use detente_tlog::note::{KeyType, NoteError};
use detente_tlog::{Checkpoint, Note, NoteSigner, VerifierKey, Verifiers};

fn key(line_prefix: &str) -> String {
    let keys = common::read_str("signed-note/KEYS.txt");
    let line = keys.lines().find(|l| l.starts_with(line_prefix)).unwrap();
    line.split_once(':')
        .unwrap()
        .1
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn vkey(s: &str) -> VerifierKey {
    VerifierKey::parse(s).unwrap()
}

#[test]
fn go_and_c2sp_notes_verify() {
    let peter = vkey(&key("PeterNeumann vkey"));
    let enoch = vkey(&key("EnochRoot"));
    let foo = vkey(&key("example.com/foo"));
    let sumdb = vkey(&key("sum.golang.org"));
    assert_eq!(peter.key_id(), 0xc74f20a3);

    for (file, keys, want) in [
        ("peterneumann.note", vec![peter.clone()], 1),
        (
            "peterneumann-enochroot.note",
            vec![peter.clone(), enoch.clone()],
            2,
        ),
        // Only one key known: the other signature is ignored.
        ("peterneumann-enochroot.note", vec![enoch.clone()], 1),
        ("c2sp-example-foo.note", vec![foo.clone()], 1),
        ("sum.golang.org-6476701.note", vec![sumdb.clone()], 1),
    ] {
        let bytes = common::read(&format!("signed-note/{file}"));
        let note = Note::parse(&bytes).unwrap();
        assert_eq!(note.to_bytes(), bytes, "{file} round trip");
        let ok = note.verify(&Verifiers::new(keys)).unwrap();
        assert_eq!(ok.len(), want, "{file}");
    }

    let sum = Note::parse(&common::read("signed-note/sum.golang.org-6476701.note")).unwrap();
    let cp = Checkpoint::parse(sum.text()).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size),
        ("go.sum database tree", 6476701)
    );

    // A note with only unknown signatures is rejected.
    let note = Note::parse(&common::read("signed-note/peterneumann.note")).unwrap();
    assert_eq!(
        note.verify(&Verifiers::new(vec![foo])),
        Err(NoteError::NoKnownSignature)
    );
}

#[test]
fn skey_reproduces_signature() {
    let signer = NoteSigner::parse(&key("PeterNeumann skey")).unwrap();
    assert_eq!(signer.verifier().to_string(), key("PeterNeumann vkey"));
    let bytes = common::read("signed-note/peterneumann.note");
    let parsed = Note::parse(&bytes).unwrap();
    let mut note = Note::new(parsed.text()).unwrap();
    note.add_signature(signer.sign(note.text())).unwrap();
    assert_eq!(note.to_bytes(), bytes);
}

#[test]
fn negative_vkeys_rejected() {
    let keys = common::read_str("signed-note/KEYS.txt");
    let bad: Vec<&str> = keys
        .lines()
        .filter_map(|l| l.strip_prefix("bad: "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(bad.len(), 2);
    assert!(matches!(
        VerifierKey::parse(bad[0]),
        Err(NoteError::BadKey(_))
    ));
    assert_eq!(
        VerifierKey::parse(bad[1]),
        Err(NoteError::UnknownAlgorithm(0x65))
    );
    for s in [
        "",
        "name",
        "name+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(VerifierKey::parse(s).is_err(), "{s}");
    }
}

#[test]
fn tampered_note_rejected() {
    let peter = vkey(&key("PeterNeumann vkey"));
    let text = common::read_str("signed-note/peterneumann.note").replace("answer", "Answer");
    let note = Note::parse(text.as_bytes()).unwrap();
    assert!(matches!(
        note.verify(&Verifiers::new(vec![peter])),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn sunlight_cosignatures() {
    let dir = "sunlight-skylight/cmd/skylight/testdata";
    let witness = vkey("witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN");
    let mirror = vkey("mirror.example.org+3fb148ef+BAAjjch9GyYz0sJsJx7ALhbdAtz2ov0unbzSl1vMp94O");
    assert_eq!(witness.key_type(), KeyType::CosignatureV1);
    let origin_dir = "000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706";
    for (file, key) in [
        (
            format!("{dir}/witness/{origin_dir}/checkpoint"),
            witness.clone(),
        ),
        (
            format!("{dir}/witness/mirror/{origin_dir}/checkpoint"),
            mirror,
        ),
    ] {
        let bytes = common::read(&file);
        let note = Note::parse(&bytes).unwrap();
        assert_eq!(note.to_bytes(), bytes);
        let ok = note.verify(&Verifiers::new(vec![key])).unwrap();
        assert_eq!(ok[0].timestamp, Some(1767139200), "{file}");
        Checkpoint::parse(note.text()).unwrap();
    }
    // The log's own type 0x05 signature is unknown: with only that, the note is rejected.
    let tree = Note::parse(&common::read(&format!("{dir}/tree/checkpoint"))).unwrap();
    assert_eq!(
        tree.verify(&Verifiers::new(vec![witness])),
        Err(NoteError::NoKnownSignature)
    );
    // The decoy files are not notes.
    assert!(Note::parse(&common::read(&format!("{dir}/witness/checkpoint"))).is_err());
}

#[test]
fn sunlight_witness2_cosignature() {
    let dir = "sunlight-skylight/cmd/skylight/testdata/witness2";
    let info = common::read_str(&format!("{dir}/witness.v0.json"));
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let key = vkey(info["verifier_keys"][0].as_str().unwrap());
    let cp = "88ad7a28caeb0b2aa890fdf0304c2fcaf59fca2ee140134ff8c1300bac493482/checkpoint";
    let note = Note::parse(&common::read(&format!("{dir}/{cp}"))).unwrap();
    assert_eq!(
        note.verify(&Verifiers::new(vec![key])).unwrap()[0].timestamp,
        Some(1767139200)
    );
}
