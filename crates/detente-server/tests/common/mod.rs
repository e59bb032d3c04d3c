//! The node the integration tests of members' isolation run against: a real in-process
//! node over a fresh SQLite store with one collection, given members and their grants, and
//! the transparency log (sequenced on demand).

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use detente_sequencer::{Prover, Sequencer};
use detente_server::{Config, LogService, Metrics, credentials, serve};
use detente_store::{Access, ApiRootRecord, Clearance, CollectionRecord, NewMember, Role, Store};
use detente_store_sqlite::SqliteStore;
use serde_json::Value;

/// The collection.
pub const COLL: &str = "0b1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// The TAXII media type.
pub const TAXII: &str = "application/taxii+json;version=2.1";

/// A member to create: name, role, clearance and grant on [`COLL`]; every secret is `pw`.
pub type MemberSpec = (String, Role, Clearance, Option<Access>);

/// A running node, stopped when dropped.
pub struct Node {
    pub addr: SocketAddr,
    pub store: Arc<SqliteStore>,
    pub sequencer: Sequencer,
    pub agent: ureq::Agent,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// HTTP Basic credentials of a member.
pub fn basic(user: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"))
    )
}

/// Starts a node with `members`.
pub fn start(members: &[MemberSpec]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    store
        .ensure_api_root(&ApiRootRecord {
            path: "/api/".into(),
            title: "t".into(),
            description: None,
        })
        .unwrap();
    store
        .add_collection(&CollectionRecord {
            id: COLL.into(),
            api_root: "/api/".into(),
            title: "c".into(),
            description: None,
            alias: None,
        })
        .unwrap();
    let hash = credentials::Hasher::of(&store).unwrap().hash("pw");
    for (name, role, clearance, grant) in members {
        store
            .add_member(&NewMember {
                name: name.clone(),
                role: *role,
                clearance: *clearance,
                secret_hash: hash.clone(),
            })
            .unwrap();
        if let Some(g) = grant {
            store.grant(COLL, name, *g).unwrap();
        }
    }
    let log_dir = dir.path().join("log");
    let sequencer = Sequencer::open(&log_dir, "matrix.test/node", &[5u8; 32]).unwrap();
    let store = Arc::new(store);
    let config = Config {
        log: Some(LogService {
            dir: log_dir.clone(),
            prover: Arc::new(Prover::new(&log_dir, sequencer.published())),
            verifier_key: sequencer.verifier_key(),
            witnesses: Default::default(),
        }),
        ..Config::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let s = store.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            serve(config, s, Arc::new(Metrics::default()), l, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    Node {
        addr: rx.recv().unwrap(),
        store,
        sequencer,
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into(),
        _stop: stop,
        _dir: dir,
    }
}

impl Node {
    /// Publishes everything stored so far to the log.
    pub fn sequence(&mut self) {
        while self.sequencer.step(&*self.store).unwrap().is_some() {}
    }

    /// One request as `user`: (status, body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        user: &str,
        body: Option<&Value>,
    ) -> (u16, String) {
        let url = format!("http://{}{path}", self.addr);
        let auth = basic(user);
        let r = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("Accept", TAXII)
                .header("Authorization", &auth)
                .call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Accept", TAXII)
                .header("Authorization", &auth)
                .call(),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("Accept", TAXII)
                .header("Content-Type", TAXII)
                .header("Authorization", &auth)
                .send(b.to_string()),
            _ => unreachable!(),
        };
        let mut r = r.unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }
}
