-- One published transparency log for every node on the database (issue 15): its tiles and
-- entry bundles (immutable once written), the checkpoint (moved by compare-and-set on size,
-- root and epoch) and the sequencer lease whose epoch fences every write of tree state.
CREATE TABLE log_tiles (
    path TEXT PRIMARY KEY,
    body BYTEA NOT NULL
);
CREATE TABLE log_checkpoint (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    root BYTEA NOT NULL,
    epoch BIGINT NOT NULL,
    note BYTEA NOT NULL
);
CREATE TABLE sequencer_lease (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
INSERT INTO sequencer_lease (id, holder, epoch, expires) VALUES (1, '', 0, '-infinity');
