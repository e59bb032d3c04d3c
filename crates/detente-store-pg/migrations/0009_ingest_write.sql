-- An envelope's write as one server-side function, so the sequence_point row lock is held
-- for PostgreSQL's own work and the commit, with no round trip to the node under it, even
-- when other writers allocated since the envelope was read (the usual case with several
-- writers; before, the node then took the lock in a transaction and sent the touched-ids
-- check, the write and the commit one after the other while holding it).
--
-- The node reads and decides the envelope before the lock, with the allocation state it saw
-- (seen_date_added, seen_log_size), and passes the rows it decided: their date_added values
-- and log indices allocated from that state. The function takes the lock; if the state
-- moved and the node said the rows may be moved (shiftable: every stored version has its
-- own version key, so no status or version depends on date_added), it checks, in a later
-- statement and so on a snapshot taken after the lock was granted, that no writer stored or
-- deleted one of the envelope's ids since the seen state (versions stored since have a
-- later date_added, deletions since a tombstone leaf at or after the seen log size); if none
-- did, the decisions stand and the rows move past the locked state: date_added by the least
-- shift that puts the first one after the last allocated, log indices by what was appended
-- since. It returns that date_added shift, or NULL when it wrote nothing (the state moved
-- and the rows may not move, or one of the ids was touched): the node then decides again
-- under the lock.
--
-- Called with no seen state, by a transaction that already holds the lock (a mirror page,
-- a decision taken again) and allocated the rows from the state it holds, the function
-- writes them as they are. The touched
-- check is planned for its values each time (force_custom_plan): the ids become a constant
-- array that `= ANY` hashes once, whatever the table's statistics.
CREATE OR REPLACE FUNCTION ingest_write(
    seen_date_added BIGINT, seen_log_size BIGINT, shiftable BOOLEAN,
    coll_key BIGINT, coll_id TEXT, contributor BIGINT, ids TEXT[],
    clear_ids TEXT[], clear_vs BIGINT[], clear_last BOOLEAN[], clear_first BOOLEAN[],
    n_date_added BIGINT[], n_object_id TEXT[], n_object_type TEXT[], n_spec_version TEXT[],
    n_version TEXT[], n_version_us BIGINT[], n_is_first BOOLEAN[], n_is_last BOOLEAN[],
    n_tlp BIGINT[], n_body TEXT[], r_date_added BIGINT[], r_member TEXT[],
    l_idx BIGINT[], l_leaf BYTEA[], l_nonce BYTEA[],
    next_date_added BIGINT, next_log_size BIGINT,
    status_id TEXT, status_member BIGINT, status_collection TEXT, status_timestamp BIGINT,
    status_successes TEXT, status_failures TEXT)
RETURNS BIGINT LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
DECLARE
    locked_date_added BIGINT;
    locked_log_size BIGINT;
    dshift BIGINT := 0;
    ishift BIGINT := 0;
BEGIN
    IF seen_date_added IS NOT NULL THEN
        SELECT s.last_date_added, s.log_size INTO locked_date_added, locked_log_size
            FROM sequence_point s FOR UPDATE;
    END IF;
    IF locked_date_added <> seen_date_added OR locked_log_size <> seen_log_size THEN
        IF NOT shiftable THEN
            RETURN NULL;
        END IF;
        IF EXISTS (SELECT 1 FROM objects o WHERE o.date_added > seen_date_added
                     AND o.coll = coll_key AND o.object_id = ANY(ids))
           OR EXISTS (SELECT 1 FROM log_tombstones t WHERE t.leaf_idx >= seen_log_size
                     AND t.coll_id = ingest_write.coll_id AND t.object_id = ANY(ids)) THEN
            RETURN NULL;
        END IF;
        dshift := greatest(0, locked_date_added + 1 - n_date_added[1]);
        ishift := locked_log_size - seen_log_size;
    END IF;
    UPDATE objects o SET is_last = o.is_last AND NOT k.l, is_first = o.is_first AND NOT k.f
        FROM unnest(clear_ids, clear_vs, clear_last, clear_first) AS k(id, v, l, f)
        WHERE o.coll = coll_key AND o.object_id = k.id AND o.version_us = k.v;
    INSERT INTO objects (date_added, coll, object_id, object_type, spec_version, version,
            version_us, is_first, is_last, tlp, contributor, body)
        SELECT d + dshift, coll_key, i, t, s, v, vu, f, l, tlp, ingest_write.contributor, b
        FROM unnest(n_date_added, n_object_id, n_object_type, n_spec_version, n_version,
            n_version_us, n_is_first, n_is_last, n_tlp, n_body)
            AS n(d, i, t, s, v, vu, f, l, tlp, b);
    INSERT INTO red_recipients (date_added, member)
        SELECT d + dshift, m FROM unnest(r_date_added, r_member) AS r(d, m)
        ON CONFLICT DO NOTHING;
    INSERT INTO log_leaves (idx, leaf)
        SELECT i + ishift, leaf FROM unnest(l_idx, l_leaf) AS l(i, leaf);
    INSERT INTO log_nonces (date_added, nonce, leaf_idx)
        SELECT d + dshift, nonce, i + ishift FROM unnest(n_date_added, l_nonce, l_idx)
            AS l(d, nonce, i);
    UPDATE sequence_point SET last_date_added = next_date_added + dshift,
        log_size = next_log_size + ishift;
    IF status_id IS NOT NULL THEN
        INSERT INTO statuses (id, member_id, collection_id, request_timestamp, successes,
                failures)
            VALUES (status_id, status_member, status_collection, status_timestamp,
                status_successes, status_failures);
    END IF;
    RETURN dshift;
END $$;
