//! [`SqliteStore`]: the [`Store`] implementation.

use std::path::Path;
use std::sync::{Mutex, mpsc};

use detente_store::entries::{
    self, DeletedVersionRow, details_from_json, details_to_json, now_micros,
};
use detente_store::rules;
use detente_store::{
    Access, ApiRootRecord, Clearance, CollectionRecord, DeleteScope, DeletedVersion, IngestBatch,
    IngestReport, Member, MemberId, NewMember, NewObject, ObjectLogEntry, ObjectQuery, Page,
    Result, StatusRecord, Store, StoreError, StoredObject, TokenRecord, TombstoneLogEntry,
    VersionMatch, Viewer,
};
use rusqlite::types::Value as Sql;
use rusqlite::{
    Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter,
};

use crate::id_gate;
use crate::tx::{
    backend, bump_generation, coll_key, ingest_tx, last_date_added, log_tombstone, open_conn,
    refresh_bounds, row_tombstone, vis_of, vis_params,
};

/// The most reader connections kept open for reuse.
const MAX_IDLE_READERS: usize = 16;

/// The write side: the single writer connection and the last `date_added` handed out.
struct Writer {
    conn: Connection,
    last_date_added: i64,
}

/// An envelope waiting for the writer, with the canonical forms of its objects and where
/// its result goes.
struct Queued {
    batch: IngestBatch,
    canonical: Vec<Vec<u8>>,
    reply: mpsc::Sender<Result<IngestReport>>,
}

/// A detente store in one SQLite file.
pub struct SqliteStore {
    path: std::path::PathBuf,
    writer: Mutex<Writer>,
    /// Envelopes queued for the next group commit ([`Store::ingest`]).
    queue: Mutex<Vec<Queued>>,
    readers: Mutex<Vec<Connection>>,
    _checkpointer: crate::checkpoint::Checkpointer,
}

/// Page cache of the writer connection, KiB. Small on purpose: a commit whose B-tree
/// balancing renumbered a page (most inserts of random ids) ends by walking every page the
/// cache holds (SQLite's `pcache1TruncateUnsafe`, as the temporary page number is past the
/// end of the file), under the write lock. At 64 MiB that walk was 12% of a POST-only
/// node's CPU; reads the cache misses come from the memory map or the WAL.
const WRITER_CACHE_KIB: u32 = 4_096;
/// Turns SQLite's spilling of dirty pages from the cache mid-transaction off, or back on
/// with its default threshold (the cache size).
fn set_cache_spill(conn: &Connection, on: bool) -> Result<()> {
    // `cache_spill = N` sets the threshold and then reads N as a boolean; 1 is the default.
    conn.pragma_update(None, "cache_spill", i64::from(on))
        .map_err(backend)
}

/// Applies one mirror page in its own write transaction.
fn apply_mirror_page(
    w: &mut Writer,
    page: &detente_store::MirrorPage,
) -> Result<detente_store::MirrorApplied> {
    let tx = w
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let mut last = last_date_added(&tx, w.last_date_added)?;
    let applied = crate::peers::apply(&tx, &mut last, page)?;
    tx.commit().map_err(backend)?;
    w.last_date_added = last;
    Ok(applied)
}

/// Page cache of each reader connection, KiB. Reads mostly go through the memory map; the
/// cache holds pages read from the WAL, and under steady writes each reader's cache slowly
/// filled to its cap: at 8 MiB that was most of the node's memory growth over 10 minutes.
const READER_CACHE_KIB: u32 = 256;

fn row_member(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, String, bool, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_member(t: (i64, String, String, String, bool, String)) -> Result<Member> {
    Ok(Member {
        id: t.0,
        name: t.1,
        role: t.2.parse()?,
        clearance: t.3.parse()?,
        disabled: t.4,
        secret_hash: t.5,
    })
}

/// SQL keeping only the rows of `o` in the latest spec version held for their object (the
/// TAXII default without `match[spec_version]`). An object with one version (first and last)
/// short-circuits the per-object probe.
const LATEST_SPEC_VERSION: &str = "((o.is_first = 1 AND o.is_last = 1) OR NOT EXISTS (SELECT 1 \
     FROM objects s INDEXED BY objects_version WHERE s.coll = o.coll AND s.object_id = o.object_id \
     AND s.spec_version > o.spec_version))";

/// SQL for the TLP visibility of `o` to the viewer, pushing its parameters.
fn visibility(viewer: &Viewer, args: &mut Vec<Sql>) -> String {
    let p = vis_params(viewer, args);
    vis_of("o", p)
}

fn in_list(column: &str, values: &[String], args: &mut Vec<Sql>) -> String {
    let mut marks = Vec::with_capacity(values.len());
    for v in values {
        args.push(Sql::Text(v.clone()));
        marks.push(format!("?{}", args.len()));
    }
    format!("{column} IN ({})", marks.join(","))
}

/// SQL for a version selection, or `None` when every version matches. `first` and `last`
/// are taken among the versions `scope` admits (SQL over the row `s`), so versions a reader
/// cannot see (or, deleting, does not own) neither hide nor shift its newest and oldest; with
/// no scope they are the stored flags.
fn version_cond(v: &VersionMatch, scope: Option<&str>, args: &mut Vec<Sql>) -> Option<String> {
    if v.all {
        return None;
    }
    let none_beyond = |flag: &str, cmp: &str| match scope {
        None => format!("o.{flag} = 1"),
        Some(scope) => format!(
            "(o.{flag} = 1 OR NOT EXISTS (SELECT 1 FROM objects s INDEXED BY objects_version \
             WHERE s.coll = o.coll AND s.object_id = o.object_id AND s.version_us {cmp} \
             o.version_us AND {scope}))"
        ),
    };
    let mut terms = Vec::new();
    if v.last {
        terms.push(none_beyond("is_last", ">"));
    }
    if v.first {
        terms.push(none_beyond("is_first", "<"));
    }
    if !v.exact.is_empty() {
        let mut marks = Vec::new();
        for t in &v.exact {
            args.push(Sql::Integer(*t));
            marks.push(format!("?{}", args.len()));
        }
        terms.push(format!("o.version_us IN ({})", marks.join(",")));
    }
    if terms.is_empty() {
        return Some("0".to_owned());
    }
    Some(format!("({})", terms.join(" OR ")))
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let mut conn = open_conn(path, true, WRITER_CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", crate::checkpoint::WRITER_PAGES)
            .map_err(backend)?;
        crate::schema::migrate(&mut conn)?;
        let last_from_meta: Option<i64> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'last_date_added'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        let last_from_rows: Option<i64> = conn
            .query_row("SELECT max(date_added) FROM objects", [], |r| r.get(0))
            .map_err(backend)?;
        let last_date_added = last_from_meta.unwrap_or(0).max(last_from_rows.unwrap_or(0));
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn,
                last_date_added,
            }),
            queue: Mutex::new(Vec::new()),
            readers: Mutex::new(Vec::new()),
            _checkpointer: crate::checkpoint::Checkpointer::start(path)?,
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
        f(&mut w)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path, false, READER_CACHE_KIB)?,
        };
        let out = f(&conn);
        if let Ok(mut r) = self.readers.lock()
            && r.len() < MAX_IDLE_READERS
        {
            r.push(conn);
        }
        out
    }

    fn change_member(&self, sql: &str, args: &[&dyn rusqlite::ToSql], name: &str) -> Result<()> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let n = tx.execute(sql, args).map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("member {name}")));
            }
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
    }

    /// Replaces a stored secret hash only while it is still `old` (`sql` binds new, key,
    /// old); whether it did. Not a membership change, so the generation stays.
    fn swap_hash(&self, sql: &str, key: &str, old: &str, new: &str) -> Result<bool> {
        self.write(|w| {
            w.conn
                .execute(sql, params![new, key, old])
                .map(|n| n == 1)
                .map_err(backend)
        })
    }
}

/// Group commit: stores every queued envelope in one transaction (one sync of the WAL for
/// all), each inside its own savepoint so that one failing leaves the others as if alone, and
/// answers each only after the commit. `date_added` and log indices follow queue order.
fn commit_group(w: &mut Writer, group: Vec<Queued>) {
    let (work, replies): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|q| ((q.batch, q.canonical), q.reply))
        .unzip();
    let committed = (|| {
        let tx = w
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        // Another process (an admin command, a sync) may have ingested into this file since
        // our last write.
        let mut last = last_date_added(&tx, w.last_date_added)?;
        let mut results = Vec::with_capacity(work.len());
        for (batch, canonical) in &work {
            tx.execute_batch("SAVEPOINT envelope").map_err(backend)?;
            let before = last;
            match ingest_envelope(&tx, &mut last, batch, canonical) {
                Ok(report) => {
                    tx.execute_batch("RELEASE envelope").map_err(backend)?;
                    results.push(Ok(report));
                }
                Err(e) => {
                    tx.execute_batch("ROLLBACK TO envelope; RELEASE envelope")
                        .map_err(backend)?;
                    last = before;
                    results.push(Err(e));
                }
            }
        }
        tx.commit().map_err(backend)?;
        Ok::<_, StoreError>((last, results))
    })();
    match committed {
        Ok((last, results)) => {
            w.last_date_added = last;
            for (reply, r) in replies.into_iter().zip(results) {
                // A caller that went away needs no answer.
                let _ = reply.send(r);
            }
        }
        Err(e) => {
            // Nothing of the group was stored: every envelope fails with the reason.
            for reply in replies {
                let _ = reply.send(Err(StoreError::Backend(e.to_string())));
            }
        }
    }
}

/// One envelope of a group: its objects and its status record, inside the caller's
/// transaction.
fn ingest_envelope(
    tx: &Transaction<'_>,
    last: &mut i64,
    batch: &IngestBatch,
    canonical: &[Vec<u8>],
) -> Result<IngestReport> {
    let canonical: Vec<&[u8]> = canonical.iter().map(Vec::as_slice).collect();
    let objects: Vec<&NewObject> = batch.objects.iter().collect();
    let outcomes = ingest_tx(
        tx,
        last,
        (&batch.collection, batch.contributor),
        &objects,
        &canonical,
    )?;
    let status = rules::status_record(batch, &outcomes);
    tx.prepare_cached(
        "INSERT INTO statuses (id, member_id, collection_id, request_timestamp, successes, failures)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(backend)?
    .execute(params![
        status.id,
        status.member,
        status.collection,
        status.request_timestamp,
        details_to_json(&status.successes),
        details_to_json(&status.failures)
    ])
    .map_err(backend)?;
    Ok(IngestReport { outcomes, status })
}

impl Store for SqliteStore {
    fn generation(&self) -> Result<u64> {
        self.read(|c| {
            let g: Option<i64> = c
                .prepare_cached("SELECT value FROM meta WHERE key = 'generation'")
                .map_err(backend)?
                .query_row([], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            Ok(g.unwrap_or(0).unsigned_abs())
        })
    }

    fn secret(&self, name: &str, init: &dyn Fn() -> Vec<u8>) -> Result<Vec<u8>> {
        let key = format!("secret:{name}");
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let got: Option<Vec<u8>> = tx
                .query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            let v = match got {
                Some(v) => v,
                None => {
                    let v = init();
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                        params![key, v],
                    )
                    .map_err(backend)?;
                    v
                }
            };
            tx.commit().map_err(backend)?;
            Ok(v)
        })
    }

    fn ensure_api_root(&self, root: &ApiRootRecord) -> Result<bool> {
        self.write(|w| {
            let n = w
                .conn
                .execute(
                    "INSERT OR IGNORE INTO api_roots (path, title, description) VALUES (?1, ?2, ?3)",
                    params![root.path, root.title, root.description],
                )
                .map_err(backend)?;
            Ok(n == 1)
        })
    }

    fn api_roots(&self) -> Result<Vec<ApiRootRecord>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached("SELECT path, title, description FROM api_roots ORDER BY path")
                .map_err(backend)?;
            let rows = st
                .query_map([], |r| {
                    Ok(ApiRootRecord {
                        path: r.get(0)?,
                        title: r.get(1)?,
                        description: r.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
    }

    fn add_member(&self, m: &NewMember) -> Result<Member> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let taken: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM members WHERE name = ?1)",
                    [&m.name],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if taken {
                return Err(StoreError::AlreadyExists(format!("member {}", m.name)));
            }
            tx.execute(
                "INSERT INTO members (name, role, clearance, secret_hash) VALUES (?1, ?2, ?3, ?4)",
                params![m.name, m.role.as_str(), m.clearance.as_str(), m.secret_hash],
            )
            .map_err(backend)?;
            let id = tx.last_insert_rowid();
            bump_generation(&tx)?;
            tx.commit().map_err(backend)?;
            Ok(m.stored(id))
        })
    }

    fn member_by_name(&self, name: &str) -> Result<Option<Member>> {
        self.read(|c| {
            c.query_row(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members WHERE name = ?1",
                [name],
                row_member,
            )
            .optional()
            .map_err(backend)?
            .map(to_member)
            .transpose()
        })
    }

    fn member_by_id(&self, id: MemberId) -> Result<Option<Member>> {
        self.read(|c| {
            c.query_row(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members WHERE id = ?1",
                [id],
                row_member,
            )
            .optional()
            .map_err(backend)?
            .map(to_member)
            .transpose()
        })
    }

    fn members(&self) -> Result<Vec<Member>> {
        self.read(|c| {
            let mut st = c
                .prepare("SELECT id, name, role, clearance, disabled, secret_hash FROM members ORDER BY name")
                .map_err(backend)?;
            let rows = st
                .query_map([], row_member)
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?;
            rows.into_iter().map(to_member).collect()
        })
    }

    fn set_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        self.change_member(
            "UPDATE members SET disabled = ?1 WHERE name = ?2",
            &[&disabled, &name],
            name,
        )
    }

    fn set_secret_hash(&self, name: &str, secret_hash: &str) -> Result<()> {
        self.change_member(
            "UPDATE members SET secret_hash = ?1 WHERE name = ?2",
            &[&secret_hash, &name],
            name,
        )
    }

    fn upgrade_secret_hash(&self, name: &str, old: &str, new: &str) -> Result<bool> {
        self.swap_hash(
            "UPDATE members SET secret_hash = ?1 WHERE name = ?2 AND secret_hash = ?3",
            name,
            old,
            new,
        )
    }

    fn upgrade_token_hash(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        self.swap_hash(
            "UPDATE tokens SET secret_hash = ?1 WHERE id = ?2 AND secret_hash = ?3",
            id,
            old,
            new,
        )
    }

    fn set_clearance(&self, name: &str, clearance: Clearance) -> Result<()> {
        self.change_member(
            "UPDATE members SET clearance = ?1 WHERE name = ?2",
            &[&clearance.as_str(), &name],
            name,
        )
    }

    fn add_token(&self, t: &TokenRecord) -> Result<()> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            tx.execute(
                "INSERT INTO tokens (id, member_id, secret_hash, revoked) VALUES (?1, ?2, ?3, ?4)",
                params![t.id, t.member, t.secret_hash, t.revoked],
            )
            .map_err(backend)?;
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.read(|c| {
            c.query_row(
                "SELECT id, member_id, secret_hash, revoked FROM tokens WHERE id = ?1",
                [id],
                |r| {
                    Ok(TokenRecord {
                        id: r.get(0)?,
                        member: r.get(1)?,
                        secret_hash: r.get(2)?,
                        revoked: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
    }

    fn revoke_token(&self, id: &str) -> Result<()> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let n = tx
                .execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id])
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("token {id}")));
            }
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
    }

    fn add_collection(&self, c: &CollectionRecord) -> Result<()> {
        self.write(|w| {
            let tx = w.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let taken: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM collections WHERE id = ?1 OR (api_root = ?2 AND alias = ?3))",
                    params![c.id, c.api_root, c.alias],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            if taken {
                return Err(StoreError::AlreadyExists(format!("collection {}", c.id)));
            }
            let root: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM api_roots WHERE path = ?1)", [&c.api_root], |r| {
                    r.get(0)
                })
                .map_err(backend)?;
            if !root {
                return Err(StoreError::NotFound(format!("API root {}", c.api_root)));
            }
            tx.execute(
                "INSERT INTO collections (id, api_root, title, description, alias, require_signatures) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.id, c.api_root, c.title, c.description, c.alias, c.require_signatures],
            )
            .map_err(backend)?;
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
    }

    fn collection(&self, id: &str) -> Result<Option<CollectionRecord>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT id, api_root, title, description, alias, require_signatures FROM collections WHERE id = ?1",
            )
            .map_err(backend)?
            .query_row([id], |r| {
                Ok(CollectionRecord {
                    id: r.get(0)?,
                    api_root: r.get(1)?,
                    title: r.get(2)?,
                    description: r.get(3)?,
                    alias: r.get(4)?,
                    require_signatures: r.get(5)?,
                })
            })
            .optional()
            .map_err(backend)
        })
    }

    fn collections(&self) -> Result<Vec<CollectionRecord>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT id, api_root, title, description, alias, require_signatures FROM collections ORDER BY coll",
                )
                .map_err(backend)?;
            let rows = st
                .query_map([], |r| {
                    Ok(CollectionRecord {
                        id: r.get(0)?,
                        api_root: r.get(1)?,
                        title: r.get(2)?,
                        description: r.get(3)?,
                        alias: r.get(4)?,
                        require_signatures: r.get(5)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
    }

    fn grant(&self, collection: &str, member: &str, access: Access) -> Result<()> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let coll = coll_key(&tx, collection)?;
            let mid: i64 = tx
                .query_row("SELECT id FROM members WHERE name = ?1", [member], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("member {member}")))?;
            tx.execute(
                "INSERT INTO grants (coll, member_id, access) VALUES (?1, ?2, ?3)
                 ON CONFLICT (coll, member_id) DO UPDATE SET access = excluded.access",
                params![coll, mid, access.as_str()],
            )
            .map_err(backend)?;
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
    }

    fn revoke(&self, collection: &str, member: &str) -> Result<()> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let coll = coll_key(&tx, collection)?;
            let n = tx
                .execute(
                    "DELETE FROM grants WHERE coll = ?1
                     AND member_id = (SELECT id FROM members WHERE name = ?2)",
                    params![coll, member],
                )
                .map_err(backend)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "a grant of {member} on collection {collection}"
                )));
            }
            bump_generation(&tx)?;
            tx.commit().map_err(backend)
        })
    }

    fn grants_of(&self, member: MemberId) -> Result<Vec<(String, Access)>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT c.id, g.access FROM grants g JOIN collections c ON c.coll = g.coll
                     WHERE g.member_id = ?1",
                )
                .map_err(backend)?;
            let rows = st
                .query_map([member], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?;
            rows.into_iter().map(|(c, a)| Ok((c, a.parse()?))).collect()
        })
    }

    fn ingest(&self, batch: IngestBatch) -> Result<IngestReport> {
        // What the log entries commit to is computed before the writer is taken.
        let canonical = batch
            .objects
            .iter()
            .map(entries::canonical_body)
            .collect::<Result<Vec<_>>>()?;
        let (reply, result) = mpsc::channel();
        self.queue
            .lock()
            .map_err(|_| StoreError::Backend("ingest queue lock poisoned".into()))?
            .push(Queued {
                batch,
                canonical,
                reply,
            });
        self.write(|w| {
            // The writer before us may have committed this envelope with its own group.
            if let Ok(report) = result.try_recv() {
                return report;
            }
            let group = std::mem::take(
                &mut *self
                    .queue
                    .lock()
                    .map_err(|_| StoreError::Backend("ingest queue lock poisoned".into()))?,
            );
            commit_group(w, group);
            result.try_recv().unwrap_or_else(|_| {
                Err(StoreError::Backend(
                    "the envelope's group commit gave no result".into(),
                ))
            })
        })
    }

    fn query_objects(&self, q: &ObjectQuery) -> Result<Page> {
        self.read(|c| {
            let coll = coll_key(c, &q.collection)?;
            // By id, only ids with a version the viewer may see go on to the index scan,
            // which visits every version: a hidden id costs what an absent one does.
            let mut ids = Vec::with_capacity(q.ids.len());
            for id in &q.ids {
                if id_gate::may_see(c, coll, id, &q.viewer)? {
                    ids.push(id.clone());
                }
            }
            if !q.ids.is_empty() && ids.is_empty() {
                return Ok(Page {
                    items: Vec::new(),
                    more: false,
                });
            }
            let mut args: Vec<Sql> = vec![Sql::Integer(coll)];
            let mut conds = vec!["o.coll = ?1".to_owned()];
            let vis = vis_params(&q.viewer, &mut args);
            conds.push(vis_of("o", vis));
            let lower = q
                .added_after
                .unwrap_or(i64::MIN)
                .max(q.after.unwrap_or(i64::MIN));
            args.push(Sql::Integer(lower));
            conds.push(format!("o.date_added > ?{}", args.len()));
            if !ids.is_empty() {
                conds.push(in_list("o.object_id", &ids, &mut args));
            }
            if !q.types.is_empty() {
                conds.push(in_list("o.object_type", &q.types, &mut args));
            }
            if q.spec_versions.is_empty() {
                conds.push(LATEST_SPEC_VERSION.to_owned());
            } else {
                conds.push(in_list("o.spec_version", &q.spec_versions, &mut args));
            }
            if let Some(vc) = version_cond(&q.versions, Some(&vis_of("s", vis)), &mut args) {
                conds.push(vc);
            }
            // Pin the index so every query is a range scan whatever the planner's statistics.
            // (`last` is per viewer, so the `is_last` index cannot serve it.)
            let index = if !ids.is_empty() {
                "objects_version"
            } else if !q.types.is_empty() {
                "objects_type"
            } else {
                "objects_all"
            };
            let limit = i64::try_from(q.limit)
                .unwrap_or(i64::MAX - 1)
                .saturating_add(1);
            args.push(Sql::Integer(limit));
            let body = if q.with_body { "o.body" } else { "''" };
            let sql = format!(
                "SELECT o.object_id, o.date_added, o.version, o.spec_version, {body}
                 FROM objects o INDEXED BY {index} WHERE {} ORDER BY o.date_added LIMIT ?{}",
                conds.join(" AND "),
                args.len()
            );
            let mut st = c.prepare_cached(&sql).map_err(backend)?;
            let rows = st
                .query_map(params_from_iter(args), |r| {
                    Ok(StoredObject {
                        id: r.get(0)?,
                        date_added: r.get(1)?,
                        version: r.get(2)?,
                        spec_version: r.get(3)?,
                        body: r.get(4)?,
                    })
                })
                .map_err(backend)?;
            Page::fill(rows.map(|r| r.map_err(backend)), q.limit, q.max_bytes)
        })
    }

    fn delete_object(
        &self,
        collection: &str,
        object_id: &str,
        versions: &VersionMatch,
        spec_versions: &[String],
        scope: &DeleteScope,
    ) -> Result<Vec<DeletedVersion>> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let coll = coll_key(&tx, collection)?;
            // Nothing a member may not see is its to delete: a hidden id stops here, at the
            // cost of an absent one, before the scan of its versions.
            if let DeleteScope::Own(viewer) = scope
                && !id_gate::may_see(&tx, coll, object_id, viewer)?
            {
                return Ok(Vec::new());
            }
            let mut args: Vec<Sql> = vec![Sql::Integer(coll), Sql::Text(object_id.to_owned())];
            let mut conds = vec!["o.coll = ?1".to_owned(), "o.object_id = ?2".to_owned()];
            // A member deletes only what it contributed and sees; `last` is its newest.
            let own = match scope {
                DeleteScope::Own(viewer) => {
                    let vis = vis_params(viewer, &mut args);
                    let (_, m, _) = vis;
                    let own = |t: &str| format!("({} AND {t}.contributor = ?{m})", vis_of(t, vis));
                    conds.push(own("o"));
                    Some(own("s"))
                }
                DeleteScope::Moderator(_) => None,
            };
            if !spec_versions.is_empty() {
                conds.push(in_list("o.spec_version", spec_versions, &mut args));
            }
            if let Some(vc) = version_cond(versions, own.as_deref(), &mut args) {
                conds.push(vc);
            }
            let sql = format!(
                "SELECT o.date_added, o.version, o.tlp, o.contributor, n.leaf_idx \
                 FROM objects o INDEXED BY objects_version \
                 JOIN log_nonces n ON n.date_added = o.date_added WHERE {}",
                conds.join(" AND ")
            );
            let rows = {
                let mut st = tx.prepare(&sql).map_err(backend)?;
                st.query_map(params_from_iter(args), |r| {
                    Ok(DeletedVersionRow {
                        date_added: r.get(0)?,
                        version: r.get(1)?,
                        tlp: r.get(2)?,
                        contributor: r.get(3)?,
                        leaf_idx: r.get(4)?,
                    })
                })
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?
            };
            let deleted_at = entries::deletion_time();
            for d in &rows {
                tx.execute("DELETE FROM objects WHERE date_added = ?1", [d.date_added])
                    .map_err(backend)?;
                // red_recipients rows stay: they decide who may see the tombstone.
                log_tombstone(
                    &tx,
                    collection,
                    object_id,
                    d,
                    scope.member_name(),
                    &deleted_at,
                )?;
            }
            let gone: Vec<DeletedVersion> = rows
                .into_iter()
                .map(|d| DeletedVersion {
                    id: object_id.to_owned(),
                    date_added: d.date_added,
                    version: d.version,
                })
                .collect();
            if !gone.is_empty() {
                refresh_bounds(&tx, coll, object_id)?;
            }
            tx.commit().map_err(backend)?;
            Ok(gone)
        })
    }

    fn log_size(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c
                .query_row(
                    "SELECT coalesce(max(idx) + 1, 0) FROM log_leaves",
                    [],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            Ok(n.unsigned_abs())
        })
    }

    fn log_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        let end = i64::try_from(end).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT leaf FROM log_leaves WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                )
                .map_err(backend)?;
            st.query_map([start, end], |r| r.get(0))
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<Vec<u8>>>>()
                .map_err(backend)
        })
    }

    fn log_object_entry(&self, date_added: i64) -> Result<Option<ObjectLogEntry>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT n.leaf_idx, l.leaf, n.nonce, coalesce(m.name, CAST(o.contributor AS TEXT)) \
                 FROM log_nonces n JOIN log_leaves l ON l.idx = n.leaf_idx \
                 JOIN objects o ON o.date_added = n.date_added \
                 LEFT JOIN members m ON m.id = o.contributor WHERE n.date_added = ?1",
            )
            .map_err(backend)?
            .query_row([date_added], |r| {
                Ok(ObjectLogEntry {
                    index: r.get::<_, i64>(0)?.unsigned_abs(),
                    leaf: r.get(1)?,
                    nonce: r.get(2)?,
                    contributor: r.get(3)?,
                })
            })
            .optional()
            .map_err(backend)
        })
    }

    fn log_object_entries(&self, date_added: &[i64]) -> Result<Vec<Option<ObjectLogEntry>>> {
        if date_added.is_empty() {
            return Ok(Vec::new());
        }
        // One statement whatever the page size: the values travel as one JSON array, and each
        // drives a primary-key lookup.
        let wanted = serde_json::to_string(date_added)
            .map_err(|e| StoreError::Backend(format!("date_added list: {e}")))?;
        let mut found = self.read(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT n.date_added, n.leaf_idx, l.leaf, n.nonce, \
                     coalesce(m.name, CAST(o.contributor AS TEXT)) \
                     FROM log_nonces n JOIN log_leaves l ON l.idx = n.leaf_idx \
                     JOIN objects o ON o.date_added = n.date_added \
                     LEFT JOIN members m ON m.id = o.contributor \
                     WHERE n.date_added IN (SELECT value FROM json_each(?1))",
                )
                .map_err(backend)?;
            st.query_map([wanted], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ObjectLogEntry {
                        index: r.get::<_, i64>(1)?.unsigned_abs(),
                        leaf: r.get(2)?,
                        nonce: r.get(3)?,
                        contributor: r.get(4)?,
                    },
                ))
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<std::collections::HashMap<_, _>>>()
            .map_err(backend)
        })?;
        Ok(date_added.iter().map(|d| found.remove(d)).collect())
    }

    fn log_tombstones(
        &self,
        collection: &str,
        object_id: &str,
        viewer: &Viewer,
    ) -> Result<Vec<TombstoneLogEntry>> {
        let mut args = vec![
            Sql::Text(collection.to_owned()),
            Sql::Text(object_id.to_owned()),
        ];
        let visible = visibility(viewer, &mut args);
        let sql = format!(
            "SELECT o.leaf_idx, l.leaf, o.nonce, o.version, o.member, o.time, o.deleted_idx \
             FROM log_tombstones o JOIN log_leaves l ON l.idx = o.leaf_idx \
             WHERE o.coll_id = ?1 AND o.object_id = ?2 AND {visible} ORDER BY o.leaf_idx"
        );
        self.read(|c| {
            let mut st = c.prepare_cached(&sql).map_err(backend)?;
            st.query_map(params_from_iter(args), row_tombstone)
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)
        })
    }

    fn status(&self, id: &str) -> Result<Option<StatusRecord>> {
        self.read(|c| {
            let row: Option<(String, i64, String, i64, String, String)> = c
                .query_row(
                    "SELECT id, member_id, collection_id, request_timestamp, successes, failures
                     FROM statuses WHERE id = ?1",
                    [id],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(backend)?;
            row.map(|(id, member, collection, request_timestamp, s, f)| {
                Ok(StatusRecord {
                    id,
                    member,
                    collection,
                    request_timestamp,
                    successes: details_from_json(&s)?,
                    failures: details_from_json(&f)?,
                })
            })
            .transpose()
        })
    }

    fn record_psi_session(&self, record: &detente_store::PsiSessionRecord) -> Result<()> {
        self.write(|w| crate::psi_audit::insert(&w.conn, record))
    }

    fn psi_sessions(&self, limit: usize) -> Result<Vec<detente_store::PsiSessionRecord>> {
        self.read(|c| crate::psi_audit::latest(c, limit))
    }

    fn psi_charge(
        &self,
        charge: &detente_store::PsiCharge,
    ) -> Result<detente_store::PsiChargeOutcome> {
        self.write(|w| crate::psi_audit::charge(&mut w.conn, charge))
    }

    fn witness_trust(&self, origin: &str, vkey: &str) -> Result<bool> {
        self.write(|w| crate::witness::trust(&w.conn, origin, vkey, now_micros()))
    }

    fn witness_trusted(&self, origin: &str) -> Result<Vec<String>> {
        self.read(|c| crate::witness::trusted(c, origin))
    }

    fn witness_trusted_logs(&self) -> Result<Vec<detente_store::TrustedLog>> {
        self.read(crate::witness::trusted_logs)
    }

    fn witness_state(&self, origin: &str) -> Result<Option<detente_store::WitnessState>> {
        self.read(|c| crate::witness::state(c, origin))
    }

    fn witness_states(&self) -> Result<Vec<detente_store::WitnessState>> {
        self.read(crate::witness::states)
    }

    fn witness_advance(
        &self,
        expected: Option<(u64, &[u8])>,
        new: &detente_store::WitnessState,
    ) -> Result<bool> {
        self.write(|w| crate::witness::advance(&w.conn, expected, new))
    }

    fn witness_advance_batch(&self, ops: &[detente_store::WitnessAdvance]) -> Result<Vec<bool>> {
        self.write(|w| {
            let tx = w.conn.transaction().map_err(backend)?;
            let out = ops
                .iter()
                .map(|o| {
                    let expected = o.expected.as_ref().map(|(s, r)| (*s, r.as_slice()));
                    crate::witness::advance(&tx, expected, &o.new)
                })
                .collect::<Result<Vec<bool>>>()?;
            tx.commit().map_err(backend)?;
            Ok(out)
        })
    }

    fn witness_record_evidence(&self, evidence: &detente_store::WitnessEvidence) -> Result<bool> {
        self.write(|w| crate::witness::record_evidence(&w.conn, evidence))
    }

    fn witness_evidence(&self) -> Result<Vec<detente_store::WitnessEvidence>> {
        self.read(crate::witness::evidence)
    }

    fn log_add_witness(&self, witness: &detente_store::LogWitness) -> Result<()> {
        self.write(|w| crate::witness::add_log_witness(&w.conn, witness))
    }

    fn log_witnesses(&self) -> Result<Vec<detente_store::LogWitness>> {
        self.read(crate::witness::log_witnesses)
    }

    fn bind_key(&self, member: &str, vkey: &str) -> Result<detente_store::KeyBindingRecord> {
        self.write(|w| crate::keys::bind(&mut w.conn, member, vkey))
    }

    fn key_bindings(&self) -> Result<Vec<detente_store::KeyBindingRecord>> {
        self.read(crate::keys::all)
    }

    fn current_key(&self, member: &str) -> Result<Option<detente_store::KeyBindingRecord>> {
        self.read(|c| crate::keys::current(c, member))
    }

    fn set_require_signatures(&self, collection: &str, required: bool) -> Result<()> {
        self.write(|w| crate::keys::require_signatures(&mut w.conn, collection, required))
    }

    fn peer_add(&self, peer: &detente_store::NewPeer) -> Result<detente_store::PeerRecord> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let p = crate::peers::add(&tx, peer)?;
            tx.commit().map_err(backend)?;
            Ok(p)
        })
    }

    fn peer(&self, name: &str) -> Result<Option<detente_store::PeerRecord>> {
        self.read(|c| crate::peers::peer(c, name))
    }

    fn peers(&self) -> Result<Vec<detente_store::PeerRecord>> {
        self.read(crate::peers::peers)
    }

    fn peer_add_mirror(
        &self,
        peer: &str,
        remote_collection: &str,
        local_collection: &str,
    ) -> Result<detente_store::MirrorRecord> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let m = crate::peers::add_mirror(&tx, peer, remote_collection, local_collection)?;
            tx.commit().map_err(backend)?;
            Ok(m)
        })
    }

    fn mirrors(&self, peer: Option<&str>) -> Result<Vec<detente_store::MirrorRecord>> {
        self.read(|c| crate::peers::mirrors(c, peer))
    }

    fn peer_leaves_put(&self, peer: &str, start: u64, leaves: &[Vec<u8>]) -> Result<()> {
        self.write(|w| {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            crate::peers::leaves_put(&tx, peer, start, leaves)?;
            tx.commit().map_err(backend)
        })
    }

    fn peer_leaves_at(&self, peer: &str, indices: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        self.read(|c| crate::peers::leaves_at(c, peer, indices))
    }

    fn peer_keys_record(
        &self,
        peer: &str,
        bindings: &[detente_store::PeerKeyBinding],
    ) -> Result<Vec<detente_store::PeerKeyBinding>> {
        self.write(|w| crate::keys::peer_record(&mut w.conn, peer, bindings))
    }

    fn peer_keys_publish(&self, peer: &str, partner_members: &[String]) -> Result<u64> {
        self.write(|w| crate::keys::peer_publish(&mut w.conn, peer, partner_members))
    }

    fn peer_keys(&self, peer: &str) -> Result<Vec<detente_store::PeerKeyBinding>> {
        self.read(|c| crate::keys::peer_all(c, peer))
    }

    fn peer_log_accept(
        &self,
        peer: &str,
        expected: Option<u64>,
        new: &detente_store::PeerLog,
    ) -> Result<bool> {
        self.write(|w| crate::peers::log_accept(&w.conn, peer, expected, new))
    }

    fn mirror_apply(
        &self,
        page: &detente_store::MirrorPage,
    ) -> Result<detente_store::MirrorApplied> {
        self.write(|w| {
            // A page of objects with random ids dirties more B-tree pages than the writer's
            // small cache holds; spilling them to the WAL mid-transaction wrote and read them
            // back again (most of a sync's system time). This transaction's dirty pages, at
            // most one feed page's objects' worth, stay in memory; then SQLite's default
            // (spill at the cache size) is restored for every other transaction.
            set_cache_spill(&w.conn, false)?;
            let applied = apply_mirror_page(w, page);
            set_cache_spill(&w.conn, true)?;
            applied
        })
    }

    fn mirror_provenance(
        &self,
        collection: &str,
        date_added: &[i64],
    ) -> Result<Vec<detente_store::Provenance>> {
        self.read(|c| crate::peers::provenance(c, collection, date_added))
    }

    fn log_tombstones_after(
        &self,
        collection: &str,
        viewer: &Viewer,
        after: i64,
        limit: usize,
    ) -> Result<Vec<detente_store::TombstoneFeedEntry>> {
        self.read(|c| crate::peers::tombstones_after(c, collection, viewer, after, limit))
    }

    // --- Protected assets and ingest flags (issues 14, 16) ---

    fn flag_warninglist_put(&self, list: &detente_store::WarninglistRecord) -> Result<bool> {
        self.write(|w| crate::assets::put_warninglist(&mut w.conn, list, now_micros()))
    }

    fn flag_warninglist_remove(&self, key: &str, collection: Option<&str>) -> Result<()> {
        self.write(|w| crate::assets::remove_warninglist(&mut w.conn, key, collection))
    }

    fn flag_warninglists(&self) -> Result<Vec<detente_store::WarninglistRecord>> {
        self.read(crate::assets::warninglists)
    }

    fn asset_add(&self, asset: &detente_store::AssetRecord) -> Result<bool> {
        self.write(|w| crate::assets::add_asset(&mut w.conn, asset, now_micros()))
    }

    fn asset_remove(
        &self,
        kind: detente_store::AssetKind,
        value: &str,
        collection: Option<&str>,
    ) -> Result<()> {
        self.write(|w| crate::assets::remove_asset(&mut w.conn, kind, value, collection))
    }

    fn assets(&self) -> Result<Vec<detente_store::AssetRecord>> {
        self.read(crate::assets::assets)
    }

    fn flag_record(&self, flags: &[detente_store::FlagRecord]) -> Result<()> {
        self.write(|w| crate::assets::record(&mut w.conn, flags))
    }

    fn flags(&self, limit: usize) -> Result<Vec<detente_store::FlagRecord>> {
        self.read(|c| crate::assets::latest(c, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_spill(store: &SqliteStore) -> i64 {
        store
            .write(|w| {
                w.conn
                    .query_row("PRAGMA cache_spill", [], |r| r.get(0))
                    .map_err(backend)
            })
            .unwrap()
    }

    /// Spilling is off only for the mirror transaction: the writer's other transactions
    /// (every POST) keep the small cache, also after a page that failed.
    #[test]
    fn a_mirror_page_restores_the_writers_cache_spill() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("detente.sqlite")).unwrap();
        let before = cache_spill(&store);
        assert!(before > 0, "spilling is on by default");
        let page = detente_store::MirrorPage {
            mirror: 1,
            expected: (0, -1),
            next: (1, -1),
            deleted: Vec::new(),
            objects: Vec::new(),
        };
        assert!(store.mirror_apply(&page).is_err(), "there is no mirror 1");
        assert_eq!(cache_spill(&store), before);
    }

    #[cfg(target_os = "linux")]
    mod checkpointer {
        use std::path::Path;

        /// Descriptors this process holds on `path`.
        fn open_descriptors(path: &Path) -> usize {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target == path)
                .count()
        }

        /// The thread's own descriptor of the database is closed by the time the store's drop
        /// returns, so it can never close later under another store's locks on the same file.
        #[test]
        fn dropping_the_store_closes_the_checkpointers_descriptor() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().canonicalize().unwrap().join("detente.sqlite");
            let store = crate::SqliteStore::open(&path).unwrap();
            assert!(
                open_descriptors(&path) >= 2,
                "the writer's and the thread's"
            );
            drop(store);
            assert_eq!(open_descriptors(&path), 0);
        }
    }
}
