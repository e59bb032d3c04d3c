-- PSI abuse limits shared by every node on the database: each answered session id (a replay
-- for good) with the budget key it was charged to, when, and its cost in items. Every charge
-- of a key first locks that key's row of psi_peers, so the charges of one member serialize
-- across nodes. Sessions answered before this table existed become replays at no cost (the
-- budgets were then in each node's memory).
CREATE TABLE psi_peers (peer TEXT PRIMARY KEY);
CREATE TABLE psi_charges (
    session TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    at BIGINT NOT NULL,
    cost BIGINT NOT NULL);
CREATE INDEX psi_charges_peer ON psi_charges (peer, at);
INSERT INTO psi_charges (session, peer, at, cost)
  SELECT session, '', min(time), 0 FROM psi_sessions
  WHERE role = 'answerer' AND session <> '' GROUP BY session;
