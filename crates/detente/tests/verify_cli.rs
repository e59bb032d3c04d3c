//! `detente verify` end to end: a real HTTP server on loopback serves the generated 70,000-entry
//! log under `/log/`, then tampered copies of it; each tampering must fail with a precise message
//! and exit status 1.

mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use detente_tlog::hash::leaf_hash;
use detente_tlog::tile::encode_entry_bundle;
use detente_tlog::{Checkpoint, Note, NoteSigner, TreeBuilder};
use support::{command, copy_dir, tempdir};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/tlog-vectors/detente-generated"
);

fn vectors() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(format!("{VECTORS}/vectors.json")).unwrap()).unwrap()
}

/// A minimal static file server: `GET /log/<path>` reads `<root>/<path>`; the root can be swapped.
struct Server {
    url: String,
    root: Arc<Mutex<PathBuf>>,
}

fn handle(stream: TcpStream, root: &Path) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let body = path
        .strip_prefix("/log/")
        .filter(|p| !p.split('/').any(|s| s == ".." || s.is_empty()))
        .and_then(|p| std::fs::read(root.join(p)).ok());
    let mut out = &stream;
    let _ = match body {
        Some(b) => out
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                )
                .as_bytes(),
            )
            .and_then(|_| out.write_all(&b)),
        None => out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

impl Server {
    fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let root = Arc::new(Mutex::new(root.to_path_buf()));
        let shared = root.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let dir = shared.lock().unwrap().clone();
                std::thread::spawn(move || handle(stream, &dir));
            }
        });
        Server { url, root }
    }

    fn serve(&self, root: &Path) {
        *self.root.lock().unwrap() = root.to_path_buf();
    }
}

fn detente_verify(server: &Server, state: &Path, key: Option<&str>) -> Output {
    let mut cmd = command();
    cmd.args(["verify", "--url", &server.url, "--state"])
        .arg(state);
    if let Some(k) = key {
        cmd.args(["--key", k]);
    }
    cmd.output().unwrap()
}

fn assert_fails(out: &Output, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(want), "expected {want:?} in {stderr:?}");
}

fn assert_ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("OK\n"), "{stdout}");
    stdout
}

/// Writes a complete C2SP log of these entries, signed by `signer`.
fn write_log(dir: &Path, signer: &NoteSigner, entries: &[Vec<u8>]) {
    let mut b = TreeBuilder::new();
    let mut tiles = Vec::new();
    for e in entries {
        b.append(leaf_hash(e));
        tiles.extend(b.take_full_tiles());
    }
    tiles.extend(b.partial_tiles());
    for t in &tiles {
        let path = dir.join(t.id.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &t.body).unwrap();
        if t.id.level == 0 {
            let start = (t.id.index * 256) as usize;
            let slice = &entries[start..start + usize::from(t.id.width)];
            let path = dir.join(t.id.entries_path());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(
                path,
                encode_entry_bundle(slice.iter().map(Vec::as_slice)).unwrap(),
            )
            .unwrap();
        }
    }
    let cp = Checkpoint::new(signer.name(), entries.len() as u64, b.root()).unwrap();
    let mut note = Note::new(cp.to_string()).unwrap();
    note.add_signature(signer.sign(note.text())).unwrap();
    std::fs::write(dir.join("checkpoint"), note.to_bytes()).unwrap();
}

#[test]
fn verify_against_a_served_log_and_tampered_copies() {
    let v = vectors();
    let key = v["log_vkey"].as_str().unwrap();
    let tmp = tempdir();
    let original = PathBuf::from(VECTORS).join("log");
    let server = Server::start(&original);

    // First use: no key, nothing pinned.
    let state = tmp.path().join("state");
    assert_fails(
        &detente_verify(&server, &state, None),
        "no verifier key is pinned",
    );
    // With the key: verified, key pinned, checkpoint remembered.
    let out = assert_ok(&detente_verify(&server, &state, Some(key)));
    assert!(
        out.contains("checkpoint: size 70000, root nbPsodjqHIVNKWNR8GKJQF91fr6B7FISXk7WGP9EqAU=")
    );
    assert!(
        out.contains("277 hash tiles and 274 entry bundles checked"),
        "{out}"
    );
    assert!(out.contains("(pinned now)"), "{out}");
    let out = assert_ok(&detente_verify(&server, &state, None));
    assert!(
        out.contains("extends the remembered checkpoint of size 70000"),
        "{out}"
    );

    // A changed byte in a level-0 tile.
    let changed = tmp.path().join("changed");
    copy_dir(&original, &changed);
    let mut tile = std::fs::read(changed.join("tile/0/005")).unwrap();
    tile[1234] ^= 1;
    std::fs::write(changed.join("tile/0/005"), &tile).unwrap();
    server.serve(&changed);
    assert_fails(
        &detente_verify(&server, &state, None),
        "hash 5 of tile/1/000 does not match the hash of tile tile/0/005",
    );

    // A truncated tile.
    let truncated = tmp.path().join("truncated");
    copy_dir(&original, &truncated);
    let tile = std::fs::read(truncated.join("tile/0/042")).unwrap();
    std::fs::write(truncated.join("tile/0/042"), &tile[..4096]).unwrap();
    server.serve(&truncated);
    assert_fails(
        &detente_verify(&server, &state, None),
        "tile tile/0/042 has 4096 bytes, expected 8192",
    );

    // A changed entry.
    let entry = tmp.path().join("entry");
    copy_dir(&original, &entry);
    let bundle = std::fs::read(entry.join("tile/entries/100")).unwrap();
    let text = String::from_utf8(bundle)
        .unwrap()
        .replace("entry 25600", "entry 99999");
    std::fs::write(entry.join("tile/entries/100"), text).unwrap();
    server.serve(&entry);
    assert_fails(
        &detente_verify(&server, &state, None),
        "entry 25600 in tile/entries/100 does not match its hash in tile/0/100",
    );

    // A checkpoint whose log signature was altered.
    let badsig = tmp.path().join("badsig");
    copy_dir(&original, &badsig);
    let cp = std::fs::read_to_string(badsig.join("checkpoint")).unwrap();
    let cp = cp.replacen("HrXDkgM7", "HrXDkgM8", 1);
    std::fs::write(badsig.join("checkpoint"), cp).unwrap();
    server.serve(&badsig);
    assert_fails(
        &detente_verify(&server, &state, None),
        &format!("checkpoint signature by {key} is invalid"),
    );

    // A rewritten history, validly signed by the log key, that extends to a larger size.
    let signer = NoteSigner::parse(v["log_skey"].as_str().unwrap()).unwrap();
    let rewritten = tmp.path().join("rewritten");
    let entries: Vec<Vec<u8>> = (0..70_100)
        .map(|i| {
            if i == 31_337 {
                b"a quietly replaced entry".to_vec()
            } else {
                format!("detente test entry {i}").into_bytes()
            }
        })
        .collect();
    write_log(&rewritten, &signer, &entries);
    server.serve(&rewritten);
    assert_fails(
        &detente_verify(&server, &state, None),
        "history rewritten: the tree of size 70100 is not consistent with the remembered \
         checkpoint of size 70000",
    );
    // The rewritten log is internally valid: a client without memory of the old one accepts it.
    assert_ok(&detente_verify(
        &server,
        &tmp.path().join("fresh"),
        Some(key),
    ));

    // An honest extension of the original passes.
    let extended = tmp.path().join("extended");
    let entries: Vec<Vec<u8>> = (0..70_100)
        .map(|i| format!("detente test entry {i}").into_bytes())
        .collect();
    write_log(&extended, &signer, &entries);
    server.serve(&extended);
    let out = assert_ok(&detente_verify(&server, &state, None));
    assert!(out.contains("checkpoint: size 70100"), "{out}");

    // Going back to the older checkpoint is a rollback.
    server.serve(&original);
    assert_fails(
        &detente_verify(&server, &state, None),
        "log shrank: served size 70000",
    );

    // A key different from the pinned one is refused.
    let other = NoteSigner::from_seed("example.com/detente/test-log", &[3; 32]).unwrap();
    let out = detente_verify(&server, &state, Some(&other.verifier().to_string()));
    assert_fails(&out, "differs from the key pinned for this log");

    // Nothing served at all.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    server.serve(&empty);
    assert_fails(&detente_verify(&server, &state, None), "HTTP status 404");
}
