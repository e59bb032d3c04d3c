//! The schema, created idempotently when a store is opened.

/// Statements run on every open; each is idempotent.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_roots (
    path TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    clearance TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    secret_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members(id),
    secret_hash TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS collections (
    coll INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    api_root TEXT NOT NULL REFERENCES api_roots(path),
    title TEXT NOT NULL,
    description TEXT,
    alias TEXT,
    UNIQUE (api_root, alias));
CREATE TABLE IF NOT EXISTS grants (
    coll INTEGER NOT NULL REFERENCES collections(coll),
    member_id INTEGER NOT NULL REFERENCES members(id),
    access TEXT NOT NULL,
    PRIMARY KEY (coll, member_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    date_added INTEGER PRIMARY KEY,
    coll INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT,
    version_us INTEGER NOT NULL,
    is_first INTEGER NOT NULL,
    is_last INTEGER NOT NULL,
    tlp INTEGER NOT NULL,
    contributor INTEGER NOT NULL,
    body TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS objects_version ON objects (coll, object_id, version_us);
DROP INDEX IF EXISTS objects_last;
CREATE INDEX IF NOT EXISTS objects_all ON objects (coll, date_added);
CREATE INDEX IF NOT EXISTS objects_type ON objects (coll, object_type, date_added);
CREATE TABLE IF NOT EXISTS red_recipients (
    date_added INTEGER NOT NULL, member TEXT NOT NULL,
    PRIMARY KEY (date_added, member)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS statuses (
    id TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL,
    collection_id TEXT NOT NULL,
    request_timestamp INTEGER NOT NULL,
    successes TEXT NOT NULL,
    failures TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_leaves (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log_nonces (
    date_added INTEGER PRIMARY KEY, nonce BLOB NOT NULL, leaf_idx INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log_tombstones (
    leaf_idx INTEGER PRIMARY KEY,
    date_added INTEGER NOT NULL,
    coll_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    version TEXT NOT NULL,
    member TEXT NOT NULL,
    time TEXT NOT NULL,
    nonce BLOB NOT NULL,
    deleted_idx INTEGER NOT NULL,
    tlp INTEGER NOT NULL,
    contributor INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS log_tombstones_object ON log_tombstones (coll_id, object_id);
CREATE TABLE IF NOT EXISTS psi_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    role TEXT NOT NULL,
    session TEXT NOT NULL,
    peer TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    own_items INTEGER,
    peer_items INTEGER,
    result_items INTEGER,
    bytes_in INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS psi_charges (
    session TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    at INTEGER NOT NULL,
    cost INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS psi_charges_peer ON psi_charges (peer, at);
";
