-- The id gate: per (collection, object id) what decides whether a viewer may see any of the
-- object's versions, so a by-id read or delete of an object above the viewer's view is one
-- index probe per table, as for an absent id, whatever the number of its versions.
-- id_gate.min_tlp: the lowest TLP rank among the stored versions (no row: none stored);
-- id_red_contributors, id_red_recipients: who contributed, or is named as a recipient on,
-- a stored TLP:RED version (by member id and by name, as `Viewer::sees` compares them).
-- Kept by statement triggers on objects and red_recipients (ingest inserts an envelope in
-- one statement), so every writer keeps it exact; an object's coll, id, tlp and
-- contributor never change once stored. Writers hold the sequence_point row lock, so the
-- triggers of two transactions never interleave on one id.
CREATE TABLE id_gate (
    coll BIGINT NOT NULL,
    object_id TEXT NOT NULL,
    min_tlp BIGINT NOT NULL,
    PRIMARY KEY (coll, object_id));
CREATE TABLE id_red_contributors (
    coll BIGINT NOT NULL,
    object_id TEXT NOT NULL,
    contributor BIGINT NOT NULL,
    PRIMARY KEY (coll, object_id, contributor));
CREATE TABLE id_red_recipients (
    coll BIGINT NOT NULL,
    object_id TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (coll, object_id, member));

CREATE FUNCTION id_gate_objects_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO id_gate (coll, object_id, min_tlp)
        SELECT coll, object_id, min(tlp) FROM new_objects GROUP BY coll, object_id
        ON CONFLICT (coll, object_id)
        DO UPDATE SET min_tlp = LEAST(id_gate.min_tlp, EXCLUDED.min_tlp);
    INSERT INTO id_red_contributors (coll, object_id, contributor)
        SELECT DISTINCT coll, object_id, contributor FROM new_objects WHERE tlp = 4
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER objects_id_gate_insert AFTER INSERT ON objects
    REFERENCING NEW TABLE AS new_objects
    FOR EACH STATEMENT EXECUTE FUNCTION id_gate_objects_inserted();

CREATE FUNCTION id_gate_recipients_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO id_red_recipients (coll, object_id, member)
        SELECT DISTINCT o.coll, o.object_id, r.member FROM new_recipients r
        JOIN objects o ON o.date_added = r.date_added WHERE o.tlp = 4
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER red_recipients_id_gate_insert AFTER INSERT ON red_recipients
    REFERENCING NEW TABLE AS new_recipients
    FOR EACH STATEMENT EXECUTE FUNCTION id_gate_recipients_inserted();

-- A deletion recomputes the gate of the ids it touched from their remaining versions
-- (red_recipients rows outlive their versions for the tombstones, so they are read
-- through objects).
CREATE FUNCTION id_gate_objects_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM id_gate g USING (SELECT DISTINCT coll, object_id FROM old_objects) d
        WHERE g.coll = d.coll AND g.object_id = d.object_id;
    INSERT INTO id_gate (coll, object_id, min_tlp)
        SELECT o.coll, o.object_id, min(o.tlp) FROM objects o
        JOIN (SELECT DISTINCT coll, object_id FROM old_objects) d
          ON o.coll = d.coll AND o.object_id = d.object_id
        GROUP BY o.coll, o.object_id;
    DELETE FROM id_red_contributors v
        USING (SELECT DISTINCT coll, object_id FROM old_objects WHERE tlp = 4) d
        WHERE v.coll = d.coll AND v.object_id = d.object_id;
    INSERT INTO id_red_contributors (coll, object_id, contributor)
        SELECT DISTINCT o.coll, o.object_id, o.contributor FROM objects o
        JOIN (SELECT DISTINCT coll, object_id FROM old_objects WHERE tlp = 4) d
          ON o.coll = d.coll AND o.object_id = d.object_id
        WHERE o.tlp = 4;
    DELETE FROM id_red_recipients v
        USING (SELECT DISTINCT coll, object_id FROM old_objects WHERE tlp = 4) d
        WHERE v.coll = d.coll AND v.object_id = d.object_id;
    INSERT INTO id_red_recipients (coll, object_id, member)
        SELECT DISTINCT o.coll, o.object_id, r.member FROM objects o
        JOIN (SELECT DISTINCT coll, object_id FROM old_objects WHERE tlp = 4) d
          ON o.coll = d.coll AND o.object_id = d.object_id
        JOIN red_recipients r ON r.date_added = o.date_added WHERE o.tlp = 4;
    RETURN NULL;
END $$;
CREATE TRIGGER objects_id_gate_delete AFTER DELETE ON objects
    REFERENCING OLD TABLE AS old_objects
    FOR EACH STATEMENT EXECUTE FUNCTION id_gate_objects_deleted();

-- Backfill from what is stored.
INSERT INTO id_gate (coll, object_id, min_tlp)
    SELECT coll, object_id, min(tlp) FROM objects GROUP BY coll, object_id;
INSERT INTO id_red_contributors (coll, object_id, contributor)
    SELECT DISTINCT coll, object_id, contributor FROM objects WHERE tlp = 4;
INSERT INTO id_red_recipients (coll, object_id, member)
    SELECT DISTINCT o.coll, o.object_id, r.member FROM objects o
    JOIN red_recipients r ON r.date_added = o.date_added WHERE o.tlp = 4;
