//! The node the integration tests of members' isolation run against: a real in-process
//! node over a fresh SQLite store with one collection, given members and their grants, and
//! the transparency log (sequenced on demand).

#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use detente_sequencer::{Prover, Sequencer};
use detente_server::{Config, LogService, Metrics, WitnessService, credentials, serve};
use detente_store::{Access, ApiRootRecord, Clearance, CollectionRecord, NewMember, Role, Store};
use detente_store_sqlite::SqliteStore;
use detente_tlog::Cosigner;
use serde_json::{Value, json};
use tokio::sync::oneshot::Sender;

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
    _stop: Sender<()>,
    _dir: tempfile::TempDir,
}

/// HTTP Basic credentials of a member.
pub fn basic(user: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw"))
    )
}

/// A fresh store with the API root `/api/` and `collections` under it.
pub fn store(dir: &Path, collections: &[&str]) -> SqliteStore {
    let store = SqliteStore::open(&dir.join("db.sqlite")).unwrap();
    store
        .ensure_api_root(&ApiRootRecord {
            path: "/api/".into(),
            title: "t".into(),
            description: None,
        })
        .unwrap();
    for id in collections {
        store
            .add_collection(&CollectionRecord {
                id: (*id).into(),
                api_root: "/api/".into(),
                title: (*id).into(),
                description: None,
                alias: None,
                require_signatures: false,
            })
            .unwrap();
    }
    store
}

/// Adds a member whose secret is `secret`.
pub fn member(store: &SqliteStore, name: &str, role: Role, clearance: Clearance, secret: &str) {
    store
        .add_member(&NewMember {
            name: name.into(),
            role,
            clearance,
            secret_hash: credentials::Hasher::of(store).unwrap().hash(secret),
        })
        .unwrap();
}

/// The transparency log under `dir/log`, named `origin`: its sequencer and the service.
pub fn log(dir: &Path, origin: &str, seed: u8) -> (Sequencer, LogService) {
    let log_dir = dir.join("log");
    let sequencer = Sequencer::open(&log_dir, origin, &[seed; 32]).unwrap();
    let service = LogService {
        storage: sequencer.storage(),
        prover: Arc::new(Prover::new(sequencer.storage(), sequencer.published())),
        verifier_key: sequencer.verifier_key(),
        witnesses: Default::default(),
    };
    (sequencer, service)
}

/// Serves `config` over `store` on a loopback port from a runtime of its own: the address,
/// and the sender whose drop stops the node.
pub fn spawn(config: Config, store: Arc<SqliteStore>) -> (SocketAddr, Sender<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            serve(config, store, Arc::new(Metrics::default()), l, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    (rx.recv().unwrap(), stop)
}

/// An HTTP client that hands back error statuses as responses.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Starts a node with `members`, the log and a witness (trusting no log).
pub fn start(members: &[MemberSpec]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &[COLL]);
    for (name, role, clearance, grant) in members {
        member(&store, name, *role, *clearance, "pw");
        if let Some(g) = grant {
            store.grant(COLL, name, *g).unwrap();
        }
    }
    let (sequencer, log) = log(dir.path(), "matrix.test/node", 5);
    let store = Arc::new(store);
    let config = Config {
        log: Some(log),
        witness: Some(WitnessService {
            cosigner: Cosigner::from_seed("matrix.test/witness", &[6; 32]).unwrap(),
        }),
        ..Config::default()
    };
    let (addr, stop) = spawn(config, store.clone());
    Node {
        addr,
        store,
        sequencer,
        agent: agent(),
        _stop: stop,
        _dir: dir,
    }
}

impl Node {
    /// POSTs objects as `user`; returns the status resource.
    pub fn post(&self, user: &str, objects: &[Value]) -> Value {
        let (status, body) = self.call(
            "POST",
            &format!("/api/collections/{COLL}/objects/"),
            user,
            Some(&json!({ "objects": objects })),
        );
        assert_eq!(status, 202, "{body}");
        serde_json::from_str(&body).unwrap()
    }

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
