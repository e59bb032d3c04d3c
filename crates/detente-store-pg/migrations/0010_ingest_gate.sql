-- The id gate's inserts move from statement triggers into `ingest_write`, the one writer of
-- objects and red_recipients rows (profiled with perf during a three-node ingest, the
-- triggers took 16% of PostgreSQL's CPU: the transition table, and an `ON CONFLICT` probe of
-- id_gate before each insert, twice the index descents of a plain insert). The node says,
-- per row, whether its id had a stored version when the envelope was decided (`n_known`):
-- ids that had none get their id_gate row by a plain insert (no other writer can have stored
-- one since: the rows are written only after the check under the sequence lock that none
-- touched the envelope's ids), the others by the same upsert as before. Deletions still
-- recompute the gate by the statement trigger of 0008.
--
-- Statements that would write nothing are skipped rather than planned (the function's
-- statements are planned for their values on every call).
DROP TRIGGER IF EXISTS objects_id_gate_insert ON objects;
DROP TRIGGER IF EXISTS red_recipients_id_gate_insert ON red_recipients;
DROP FUNCTION IF EXISTS id_gate_objects_inserted();
DROP FUNCTION IF EXISTS id_gate_recipients_inserted();
-- A node built before this migration would call the old signature and leave the gate
-- behind: it fails instead.
DROP FUNCTION IF EXISTS ingest_write(BIGINT, BIGINT, BOOLEAN, BIGINT, TEXT, BIGINT, TEXT[],
    TEXT[], BIGINT[], BOOLEAN[], BOOLEAN[], BIGINT[], TEXT[], TEXT[], TEXT[], TEXT[], BIGINT[],
    BOOLEAN[], BOOLEAN[], BIGINT[], TEXT[], BIGINT[], TEXT[], BIGINT[], BYTEA[], BYTEA[],
    BIGINT, BIGINT, TEXT, BIGINT, TEXT, BIGINT, TEXT, TEXT);
CREATE OR REPLACE FUNCTION ingest_write(
    seen_date_added BIGINT, seen_log_size BIGINT, shiftable BOOLEAN,
    coll_key BIGINT, coll_id TEXT, contributor BIGINT, ids TEXT[],
    clear_ids TEXT[], clear_vs BIGINT[], clear_last BOOLEAN[], clear_first BOOLEAN[],
    n_date_added BIGINT[], n_object_id TEXT[], n_object_type TEXT[], n_spec_version TEXT[],
    n_version TEXT[], n_version_us BIGINT[], n_is_first BOOLEAN[], n_is_last BOOLEAN[],
    n_tlp BIGINT[], n_body TEXT[], n_known BOOLEAN[], r_date_added BIGINT[], r_member TEXT[],
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
    IF cardinality(clear_ids) > 0 THEN
        UPDATE objects o SET is_last = o.is_last AND NOT k.l,
                is_first = o.is_first AND NOT k.f
            FROM unnest(clear_ids, clear_vs, clear_last, clear_first) AS k(id, v, l, f)
            WHERE o.coll = coll_key AND o.object_id = k.id AND o.version_us = k.v;
    END IF;
    INSERT INTO objects (date_added, coll, object_id, object_type, spec_version, version,
            version_us, is_first, is_last, tlp, contributor, body)
        SELECT d + dshift, coll_key, i, t, s, v, vu, f, l, tlp, ingest_write.contributor, b
        FROM unnest(n_date_added, n_object_id, n_object_type, n_spec_version, n_version,
            n_version_us, n_is_first, n_is_last, n_tlp, n_body)
            AS n(d, i, t, s, v, vu, f, l, tlp, b);
    INSERT INTO id_gate (coll, object_id, min_tlp)
        SELECT coll_key, i, min(tlp) FROM unnest(n_object_id, n_tlp, n_known) AS n(i, tlp, k)
        WHERE NOT k GROUP BY i;
    IF true = ANY(n_known) THEN
        INSERT INTO id_gate (coll, object_id, min_tlp)
            SELECT coll_key, i, min(tlp) FROM unnest(n_object_id, n_tlp, n_known)
                AS n(i, tlp, k)
            WHERE k GROUP BY i
            ON CONFLICT (coll, object_id)
            DO UPDATE SET min_tlp = LEAST(id_gate.min_tlp, EXCLUDED.min_tlp);
    END IF;
    IF 4 = ANY(n_tlp) THEN
        INSERT INTO id_red_contributors (coll, object_id, contributor)
            SELECT DISTINCT coll_key, i, ingest_write.contributor
            FROM unnest(n_object_id, n_tlp) AS n(i, tlp) WHERE tlp = 4
            ON CONFLICT DO NOTHING;
    END IF;
    IF cardinality(r_date_added) > 0 THEN
        INSERT INTO red_recipients (date_added, member)
            SELECT d + dshift, m FROM unnest(r_date_added, r_member) AS r(d, m)
            ON CONFLICT DO NOTHING;
        INSERT INTO id_red_recipients (coll, object_id, member)
            SELECT DISTINCT coll_key, n.i, r.m FROM unnest(r_date_added, r_member) AS r(d, m)
            JOIN unnest(n_date_added, n_object_id, n_tlp) AS n(d, i, tlp) ON n.d = r.d
            WHERE n.tlp = 4
            ON CONFLICT DO NOTHING;
    END IF;
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
