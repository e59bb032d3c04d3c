-- A partner's key bindings recorded by the sync (issue 13), proven against the partner's
-- log. Published (leaf_idx set) as a key_bindings row and a leaf of this node's log under the
-- name `member` (peer:PARTNER/NAME) once an object its member signed is mirrored. Never
-- removed.
CREATE TABLE peer_key_bindings (
    peer TEXT NOT NULL,
    partner_index BIGINT NOT NULL,
    partner_member TEXT NOT NULL,
    vkey TEXT NOT NULL,
    member TEXT NOT NULL,
    leaf_idx BIGINT REFERENCES key_bindings(leaf_idx),
    PRIMARY KEY (peer, partner_index));
