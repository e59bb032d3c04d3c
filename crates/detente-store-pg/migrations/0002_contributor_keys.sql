-- Contributor key bindings (issue 13): every binding kept with its log entry's nonce; the
-- leaf is in log_leaves at leaf_idx, appended in the same transaction. Never removed.
CREATE TABLE key_bindings (
    leaf_idx BIGINT PRIMARY KEY,
    member TEXT NOT NULL,
    vkey TEXT NOT NULL,
    time TEXT NOT NULL,
    nonce BYTEA NOT NULL);
CREATE INDEX key_bindings_member ON key_bindings (member, leaf_idx);
ALTER TABLE collections ADD COLUMN require_signatures BOOLEAN NOT NULL DEFAULT FALSE;
