-- The schema as it stood when SQLite got numbered migrations. Every statement is idempotent
-- (IF NOT EXISTS), because a file from before numbered migrations is brought to this version by
-- running it over what it has (src/schema.rs, `adopt`); later migrations need not be.

-- The store: members, collections, object versions, statuses, the log's leaves.
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
    require_signatures INTEGER NOT NULL DEFAULT 0,
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

-- Witnessing: trusted log keys, the witness state per origin, evidence, this log's witnesses.
CREATE TABLE IF NOT EXISTS witness_trusted (
    origin TEXT NOT NULL, vkey TEXT NOT NULL, added INTEGER NOT NULL,
    PRIMARY KEY (origin, vkey)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS witness_state (
    origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note BLOB NOT NULL,
    updated INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS witness_evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, cosigned BLOB NOT NULL,
    conflicting BLOB NOT NULL, reason TEXT NOT NULL, seen INTEGER NOT NULL,
    UNIQUE (origin, conflicting));
CREATE TABLE IF NOT EXISTS log_witnesses (
    vkey TEXT PRIMARY KEY, url TEXT NOT NULL, added INTEGER NOT NULL) WITHOUT ROWID;

-- Contributor key bindings, and partners' bindings proven against their logs.
CREATE TABLE IF NOT EXISTS key_bindings (
    leaf_idx INTEGER PRIMARY KEY, member TEXT NOT NULL, vkey TEXT NOT NULL,
    time TEXT NOT NULL, nonce BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS key_bindings_member ON key_bindings (member, leaf_idx);
CREATE TABLE IF NOT EXISTS peer_key_bindings (
    peer TEXT NOT NULL, partner_index INTEGER NOT NULL, partner_member TEXT NOT NULL,
    vkey TEXT NOT NULL, member TEXT NOT NULL,
    leaf_idx INTEGER REFERENCES key_bindings(leaf_idx),
    PRIMARY KEY (peer, partner_index)) WITHOUT ROWID;

-- Federation: partners, their accepted leaves, mirrors, provenance of mirrored versions.
CREATE TABLE IF NOT EXISTS peers (
    name TEXT PRIMARY KEY, url TEXT NOT NULL, log_key TEXT NOT NULL, witnesses TEXT NOT NULL,
    quorum INTEGER NOT NULL, authorization TEXT NOT NULL, ca_cert TEXT,
    member_id INTEGER NOT NULL REFERENCES members(id),
    log_size INTEGER, log_root BLOB, log_note BLOB, log_frontier BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS peer_leaves (
    peer TEXT NOT NULL, idx INTEGER NOT NULL, leaf BLOB NOT NULL,
    PRIMARY KEY (peer, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mirrors (
    id INTEGER PRIMARY KEY AUTOINCREMENT, peer TEXT NOT NULL REFERENCES peers(name),
    remote_collection TEXT NOT NULL, local_collection TEXT NOT NULL,
    objects_after INTEGER NOT NULL DEFAULT 0, tombstones_after INTEGER NOT NULL DEFAULT -1,
    UNIQUE (peer, remote_collection, local_collection));
CREATE TABLE IF NOT EXISTS mirror_provenance (
    date_added INTEGER PRIMARY KEY, peer TEXT NOT NULL, partner_index INTEGER NOT NULL,
    partner_contributor TEXT NOT NULL, partner_date_added INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS mirror_provenance_partner ON mirror_provenance (peer, partner_index);

-- Flagging at ingest: warninglists, protected assets, the flags written.
CREATE TABLE IF NOT EXISTS flag_warninglists (
    key TEXT NOT NULL, coll_id TEXT NOT NULL, action TEXT NOT NULL, body TEXT NOT NULL,
    added INTEGER NOT NULL, PRIMARY KEY (key, coll_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flag_assets (
    kind TEXT NOT NULL, value TEXT NOT NULL, coll_id TEXT NOT NULL, subdomains INTEGER NOT NULL,
    added INTEGER NOT NULL, PRIMARY KEY (kind, value, coll_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT, coll_id TEXT NOT NULL, note_id TEXT NOT NULL,
    indicator_id TEXT NOT NULL, indicator_version TEXT NOT NULL, contributor TEXT NOT NULL,
    tlp INTEGER NOT NULL, matches TEXT NOT NULL, created INTEGER NOT NULL);
