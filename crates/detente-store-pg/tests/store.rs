//! The PostgreSQL backend against the store contract, on a throwaway cluster (or the server
//! `DETENTE_TEST_PG_URL` names), plus what is specific to it: migrations and errors.

use detente_store::conformance;
use detente_store::{Store, StoreError};
use detente_store_pg::PgStore;
use detente_testpg::TestPg;

#[test]
fn conforms_to_the_store_contract() {
    let pg = TestPg::start().unwrap();
    conformance::run_all(|| PgStore::open(&pg.fresh_database().unwrap()).unwrap());
}

#[test]
fn two_handles_on_one_database_conform() {
    let pg = TestPg::start().unwrap();
    conformance::run_shared(|| {
        let url = pg.fresh_database().unwrap();
        (PgStore::open(&url).unwrap(), PgStore::open(&url).unwrap())
    });
}

/// Reopening applies no migration twice and loses nothing; a database from a newer build is
/// refused with a message naming both versions.
#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let pg = TestPg::start().unwrap();
    let url = pg.fresh_database().unwrap();
    let s = conformance::setup(PgStore::open(&url).unwrap());
    let secret = s.secret("node", &|| vec![7; 32]).unwrap();
    drop(s);
    // Nodes starting together: each migration is applied once.
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::open(&url).map(|_| ()))
        })
        .collect();
    for t in opened {
        t.join().unwrap().unwrap();
    }
    let s = PgStore::open(&url).unwrap();
    assert_eq!(s.secret("node", &|| vec![8; 32]).unwrap(), secret);
    assert_eq!(s.collections().unwrap().len(), 1);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let rows = c.query("SELECT version FROM schema_version", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    c.execute("UPDATE schema_version SET version = 999", &[])
        .unwrap();
    let e = PgStore::open(&url).unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("999")),
        "{e}"
    );
}

/// A server that cannot be reached is `Unavailable` (retry later), not a plain failure; a
/// malformed URL is `Invalid`.
#[test]
fn unreachable_database_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = PgStore::open(&format!(
        "postgres://nobody@127.0.0.1:{port}/none?connect_timeout=2"
    ))
    .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(matches!(
        PgStore::open("postgres://[::1"),
        Err(StoreError::Invalid(_))
    ));
}
