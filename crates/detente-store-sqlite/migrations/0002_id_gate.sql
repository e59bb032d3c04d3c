-- The id gate: per (collection, object id) what decides whether a viewer may see any of the
-- object's versions, so a by-id read or delete of an object above the viewer's view is one
-- index probe per table, as for an absent id, whatever the number of its versions.
-- id_gate.min_tlp: the lowest TLP rank among the stored versions (no row: none stored);
-- id_red_contributors, id_red_recipients: who contributed, or is named as a recipient on,
-- a stored TLP:RED version (by member id and by name, as `Viewer::sees` compares them).
-- Kept by triggers on objects and red_recipients, so every writer (ingest, mirroring,
-- deleting, admin commands) keeps it exact; an object's coll, id, tlp and contributor
-- never change once stored. The backfill fills the gate of a file written before it.
CREATE TABLE IF NOT EXISTS id_gate (
    coll INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    min_tlp INTEGER NOT NULL,
    PRIMARY KEY (coll, object_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS id_red_contributors (
    coll INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    contributor INTEGER NOT NULL,
    PRIMARY KEY (coll, object_id, contributor)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS id_red_recipients (
    coll INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (coll, object_id, member)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS objects_id_gate_insert AFTER INSERT ON objects BEGIN
    INSERT OR IGNORE INTO id_gate (coll, object_id, min_tlp)
        VALUES (NEW.coll, NEW.object_id, NEW.tlp);
    UPDATE id_gate SET min_tlp = NEW.tlp
        WHERE coll = NEW.coll AND object_id = NEW.object_id AND min_tlp > NEW.tlp;
    INSERT OR IGNORE INTO id_red_contributors (coll, object_id, contributor)
        SELECT NEW.coll, NEW.object_id, NEW.contributor WHERE NEW.tlp = 4;
END;
CREATE TRIGGER IF NOT EXISTS red_recipients_id_gate_insert AFTER INSERT ON red_recipients BEGIN
    INSERT OR IGNORE INTO id_red_recipients (coll, object_id, member)
        SELECT o.coll, o.object_id, NEW.member FROM objects o
        WHERE o.date_added = NEW.date_added AND o.tlp = 4;
END;
-- A deletion recomputes the object's gate from its remaining versions (red_recipients rows
-- outlive their versions for the tombstones, so they are read through objects).
CREATE TRIGGER IF NOT EXISTS objects_id_gate_delete AFTER DELETE ON objects BEGIN
    DELETE FROM id_gate WHERE coll = OLD.coll AND object_id = OLD.object_id;
    INSERT INTO id_gate (coll, object_id, min_tlp)
        SELECT coll, object_id, min(tlp) FROM objects
        WHERE coll = OLD.coll AND object_id = OLD.object_id GROUP BY coll, object_id;
    DELETE FROM id_red_contributors
        WHERE OLD.tlp = 4 AND coll = OLD.coll AND object_id = OLD.object_id;
    INSERT OR IGNORE INTO id_red_contributors (coll, object_id, contributor)
        SELECT coll, object_id, contributor FROM objects
        WHERE OLD.tlp = 4 AND coll = OLD.coll AND object_id = OLD.object_id AND tlp = 4;
    DELETE FROM id_red_recipients
        WHERE OLD.tlp = 4 AND coll = OLD.coll AND object_id = OLD.object_id;
    INSERT OR IGNORE INTO id_red_recipients (coll, object_id, member)
        SELECT o.coll, o.object_id, r.member FROM objects o
        JOIN red_recipients r ON r.date_added = o.date_added
        WHERE OLD.tlp = 4 AND o.coll = OLD.coll AND o.object_id = OLD.object_id AND o.tlp = 4;
END;
-- Backfill from what is stored (a no-op on a new file).
INSERT OR IGNORE INTO id_gate (coll, object_id, min_tlp)
    SELECT coll, object_id, min(tlp) FROM objects GROUP BY coll, object_id;
INSERT OR IGNORE INTO id_red_contributors (coll, object_id, contributor)
    SELECT coll, object_id, contributor FROM objects WHERE tlp = 4;
INSERT OR IGNORE INTO id_red_recipients (coll, object_id, member)
    SELECT o.coll, o.object_id, r.member FROM objects o
    JOIN red_recipients r ON r.date_added = o.date_added WHERE o.tlp = 4;
