//! [`PgStore`]: the [`Store`] implementation.

use std::time::Duration;

use detente_store::entries::{self, DeletedVersionRow, details_from_json, now_micros};
use detente_store::{
    Access, ApiRootRecord, AssetKind, AssetRecord, Clearance, CollectionRecord, DeleteScope,
    DeletedVersion, FlagRecord, IngestBatch, IngestReport, KeyBindingRecord, LogWitness, Member,
    MemberId, MirrorApplied, MirrorPage, MirrorRecord, NewMember, NewPeer, ObjectLogEntry,
    ObjectQuery, Page, PeerLog, PeerRecord, Provenance, PsiCharge, PsiChargeOutcome,
    PsiSessionRecord, Result, StatusRecord, Store, StoreError, StoredObject, TokenRecord,
    TombstoneFeedEntry, TombstoneLogEntry, TrustedLog, VersionMatch, Viewer, WarninglistRecord,
    WitnessAdvance, WitnessEvidence, WitnessState,
};
use postgres::{NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use crate::error::{pg, taken_or_pg, unavailable};
use crate::group::Groups;
use crate::ingest::{Sequence, coll_key};
use crate::query::{
    Arg, Args, LATEST_SPEC_VERSION, in_list, may_see, version_cond, vis_of, vis_params,
};
use crate::tx::{
    DELETED_COLUMNS, TOMBSTONE, bump_generation, delete_version, deleted_from_row, refresh_bounds,
    to_tombstone,
};
use crate::witness;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Connections kept per node: enough for the blocking threads that call the store at once.
const POOL_SIZE: u32 = 32;
/// How long a call waits for a free connection before the store reports itself unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A detente store in a PostgreSQL database, shareable by several nodes.
pub struct PgStore {
    pool: Pool,
    /// Envelopes ingested at once, written in groups (`src/group.rs`).
    groups: Groups,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_member(r: &postgres::Row) -> Result<Member> {
    Ok(Member {
        id: r.get(0),
        name: r.get(1),
        role: r.get::<_, String>(2).parse()?,
        clearance: r.get::<_, String>(3).parse()?,
        disabled: r.get(4),
        secret_hash: r.get(5),
    })
}

fn to_collection(r: &postgres::Row) -> CollectionRecord {
    CollectionRecord {
        id: r.get(0),
        api_root: r.get(1),
        title: r.get(2),
        description: r.get(3),
        alias: r.get(4),
        require_signatures: r.get(5),
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, or key=value
    /// form), applying the migrations it lacks.
    pub fn open(url: &str) -> Result<PgStore> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A broken connection shows when used (and is then dropped by the pool): checking
            // each one on checkout would cost a round trip per call.
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| unavailable(format!("connecting to the database: {e}")))?;
        let store = PgStore {
            pool,
            groups: Groups::default(),
        };
        crate::schema::migrate(&mut *store.conn()?)?;
        Ok(store)
    }

    pub(crate) fn conn(&self) -> Result<Conn> {
        self.pool
            .get()
            .map_err(|e| unavailable(format!("no database connection: {e}")))
    }

    /// Runs `f` in one transaction, committed if it returns `Ok` and rolled back otherwise.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        let out = f(&mut tx)?;
        tx.commit().map_err(pg)?;
        Ok(out)
    }

    /// Runs `f` on a pooled connection, outside any explicit transaction.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut postgres::Client) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        f(&mut c)
    }

    /// One statement changing a member (bumping the generation); `NotFound` if none matched.
    fn change_member(
        &self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
        name: &str,
    ) -> Result<()> {
        self.tx(|tx| {
            if tx.execute(sql, args).map_err(pg)? == 0 {
                return Err(StoreError::NotFound(format!("member {name}")));
            }
            bump_generation(tx)
        })
    }

    /// Replaces a stored secret hash only while it is still `old` (`sql` binds new, key,
    /// old); whether it did. Not a membership change, so the generation stays.
    fn swap_hash(&self, sql: &str, key: &str, old: &str, new: &str) -> Result<bool> {
        self.with(|c| {
            c.execute(sql, &[&new, &key, &old])
                .map(|n| n == 1)
                .map_err(pg)
        })
    }
}

impl Store for PgStore {
    fn generation(&self) -> Result<u64> {
        self.with(|c| {
            let g: i64 = c
                .query_one("SELECT value FROM counters WHERE name = 'generation'", &[])
                .map_err(pg)?
                .get(0);
            Ok(g.unsigned_abs())
        })
    }

    fn secret(&self, name: &str, init: &dyn Fn() -> Vec<u8>) -> Result<Vec<u8>> {
        let key = format!("secret:{name}");
        self.with(|c| {
            let get = |c: &mut postgres::Client| -> Result<Option<Vec<u8>>> {
                Ok(
                    c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
                        .map_err(pg)?
                        .map(|r| r.get(0)),
                )
            };
            if let Some(v) = get(c)? {
                return Ok(v);
            }
            // Of nodes racing to create it, one insert wins; everyone reads the winner's.
            c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &init()],
            )
            .map_err(pg)?;
            get(c)?.ok_or_else(|| StoreError::Backend(format!("secret {name} vanished")))
        })
    }

    fn ensure_api_root(&self, root: &ApiRootRecord) -> Result<bool> {
        self.with(|c| {
            let n = c
                .execute(
                    "INSERT INTO api_roots (path, title, description) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&root.path, &root.title, &root.description],
                )
                .map_err(pg)?;
            Ok(n == 1)
        })
    }

    fn api_roots(&self) -> Result<Vec<ApiRootRecord>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT path, title, description FROM api_roots ORDER BY path",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(|r| ApiRootRecord {
                path: r.get(0),
                title: r.get(1),
                description: r.get(2),
            })
            .collect())
        })
    }

    fn add_member(&self, m: &NewMember) -> Result<Member> {
        self.tx(|tx| {
            let row = tx
                .query_opt(
                    "INSERT INTO members (name, role, clearance, secret_hash) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO NOTHING RETURNING id",
                    &[&m.name, &m.role.as_str(), &m.clearance.as_str(), &m.secret_hash],
                )
                .map_err(pg)?;
            let Some(row) = row else {
                return Err(StoreError::AlreadyExists(format!("member {}", m.name)));
            };
            bump_generation(tx)?;
            Ok(m.stored(row.get(0)))
        })
    }

    fn member_by_name(&self, name: &str) -> Result<Option<Member>> {
        self.with(|c| {
            c.query_opt(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members WHERE name = $1",
                &[&name],
            )
            .map_err(pg)?
            .as_ref()
            .map(to_member)
            .transpose()
        })
    }

    fn member_by_id(&self, id: MemberId) -> Result<Option<Member>> {
        self.with(|c| {
            c.query_opt(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .as_ref()
            .map(to_member)
            .transpose()
        })
    }

    fn members(&self) -> Result<Vec<Member>> {
        self.with(|c| {
            c.query(
                "SELECT id, name, role, clearance, disabled, secret_hash FROM members ORDER BY name",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(to_member)
            .collect()
        })
    }

    fn set_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        self.change_member(
            "UPDATE members SET disabled = $1 WHERE name = $2",
            &[&disabled, &name],
            name,
        )
    }

    fn set_secret_hash(&self, name: &str, secret_hash: &str) -> Result<()> {
        self.change_member(
            "UPDATE members SET secret_hash = $1 WHERE name = $2",
            &[&secret_hash, &name],
            name,
        )
    }

    fn upgrade_secret_hash(&self, name: &str, old: &str, new: &str) -> Result<bool> {
        self.swap_hash(
            "UPDATE members SET secret_hash = $1 WHERE name = $2 AND secret_hash = $3",
            name,
            old,
            new,
        )
    }

    fn upgrade_token_hash(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        self.swap_hash(
            "UPDATE tokens SET secret_hash = $1 WHERE id = $2 AND secret_hash = $3",
            id,
            old,
            new,
        )
    }

    fn set_clearance(&self, name: &str, clearance: Clearance) -> Result<()> {
        self.change_member(
            "UPDATE members SET clearance = $1 WHERE name = $2",
            &[&clearance.as_str(), &name],
            name,
        )
    }

    fn add_token(&self, t: &TokenRecord) -> Result<()> {
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO tokens (id, member_id, secret_hash, revoked) VALUES ($1, $2, $3, $4)",
                &[&t.id, &t.member, &t.secret_hash, &t.revoked],
            )
            .map_err(taken_or_pg(format!("token {}", t.id)))?;
            bump_generation(tx)
        })
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT id, member_id, secret_hash, revoked FROM tokens WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .map(|r| TokenRecord {
                id: r.get(0),
                member: r.get(1),
                secret_hash: r.get(2),
                revoked: r.get(3),
            }))
        })
    }

    fn revoke_token(&self, id: &str) -> Result<()> {
        self.tx(|tx| {
            let n = tx
                .execute("UPDATE tokens SET revoked = TRUE WHERE id = $1", &[&id])
                .map_err(pg)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("token {id}")));
            }
            bump_generation(tx)
        })
    }

    fn add_collection(&self, c: &CollectionRecord) -> Result<()> {
        self.tx(|tx| {
            let root = tx
                .query_opt("SELECT 1 FROM api_roots WHERE path = $1", &[&c.api_root])
                .map_err(pg)?;
            if root.is_none() {
                return Err(StoreError::NotFound(format!("API root {}", c.api_root)));
            }
            // A taken id or alias, even by a concurrent insert, is a unique violation.
            tx.execute(
                "INSERT INTO collections (id, api_root, title, description, alias, require_signatures)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&c.id, &c.api_root, &c.title, &c.description, &c.alias, &c.require_signatures],
            )
            .map_err(taken_or_pg(format!("collection {}", c.id)))?;
            bump_generation(tx)
        })
    }

    fn collection(&self, id: &str) -> Result<Option<CollectionRecord>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT id, api_root, title, description, alias, require_signatures FROM collections WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .as_ref()
            .map(to_collection))
        })
    }

    fn collections(&self) -> Result<Vec<CollectionRecord>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT id, api_root, title, description, alias, require_signatures FROM collections ORDER BY coll",
                &[],
            )
            .map_err(pg)?
            .iter()
            .map(to_collection)
            .collect())
        })
    }

    fn grant(&self, collection: &str, member: &str, access: Access) -> Result<()> {
        self.tx(|tx| {
            let coll = coll_key(tx, collection)?;
            let mid: i64 = tx
                .query_opt("SELECT id FROM members WHERE name = $1", &[&member])
                .map_err(pg)?
                .map(|r| r.get(0))
                .ok_or_else(|| StoreError::NotFound(format!("member {member}")))?;
            tx.execute(
                "INSERT INTO grants (coll, member_id, access) VALUES ($1, $2, $3)
                 ON CONFLICT (coll, member_id) DO UPDATE SET access = excluded.access",
                &[&coll, &mid, &access.as_str()],
            )
            .map_err(pg)?;
            bump_generation(tx)
        })
    }

    fn revoke(&self, collection: &str, member: &str) -> Result<()> {
        self.tx(|tx| {
            let coll = coll_key(tx, collection)?;
            let n = tx
                .execute(
                    "DELETE FROM grants WHERE coll = $1
                     AND member_id = (SELECT id FROM members WHERE name = $2)",
                    &[&coll, &member],
                )
                .map_err(pg)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "a grant of {member} on collection {collection}"
                )));
            }
            bump_generation(tx)
        })
    }

    fn grants_of(&self, member: MemberId) -> Result<Vec<(String, Access)>> {
        self.with(|c| {
            c.query(
                "SELECT c.id, g.access FROM grants g JOIN collections c ON c.coll = g.coll
                 WHERE g.member_id = $1 ORDER BY c.coll",
                &[&member],
            )
            .map_err(pg)?
            .iter()
            .map(|r| Ok((r.get(0), r.get::<_, String>(1).parse()?)))
            .collect()
        })
    }

    fn ingest(&self, batch: IngestBatch) -> Result<IngestReport> {
        let mut c = self.conn()?;
        let envelope = crate::ingest::prepare(&mut c, batch)?;
        if envelope.locks() {
            self.groups.submit(&mut c, envelope)
        } else {
            // It stores nothing, so it has nothing to wait for: its status record alone.
            crate::ingest::write_status(&mut c, envelope)
        }
    }

    fn query_objects(&self, q: &ObjectQuery) -> Result<Page> {
        self.with(|c| {
            let coll = coll_key(c, &q.collection)?;
            // By id, only ids with a version the viewer may see go on to the index scan,
            // which visits every version: a hidden id costs what an absent one does.
            let mut ids = Vec::with_capacity(q.ids.len());
            for id in &q.ids {
                if may_see(c, coll, id, &q.viewer)? {
                    ids.push(id.clone());
                }
            }
            if !q.ids.is_empty() && ids.is_empty() {
                return Ok(Page {
                    items: Vec::new(),
                    more: false,
                });
            }
            let mut args = Args::default();
            let mut conds = vec![format!("o.coll = {}", args.push(Arg::Int(coll)))];
            let vis = vis_params(&q.viewer, &mut args);
            conds.push(vis_of("o", &vis));
            let lower = q
                .added_after
                .unwrap_or(i64::MIN)
                .max(q.after.unwrap_or(i64::MIN));
            conds.push(format!("o.date_added > {}", args.push(Arg::Int(lower))));
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
            if let Some(vc) = version_cond(&q.versions, Some(&vis_of("s", &vis)), &mut args) {
                conds.push(vc);
            }
            let limit = to_i64(u64::try_from(q.limit).unwrap_or(u64::MAX))
                .saturating_add(1)
                .min(i64::MAX - 1);
            let limit = args.push(Arg::Int(limit));
            let body = if q.with_body { "o.body" } else { "''" };
            let sql = format!(
                "SELECT o.object_id, o.date_added, o.version, o.spec_version, {body}
                 FROM objects o WHERE {} ORDER BY o.date_added LIMIT {limit}",
                conds.join(" AND "),
            );
            let rows = c.query(sql.as_str(), &args.refs()).map_err(pg)?;
            Page::fill(
                rows.iter().map(|r| {
                    Ok(StoredObject {
                        id: r.get(0),
                        date_added: r.get(1),
                        version: r.get(2),
                        spec_version: r.get(3),
                        body: r.get(4),
                    })
                }),
                q.limit,
                q.max_bytes,
            )
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
        self.tx(|tx| {
            // Tombstones take log indices: allocate under the serialization point.
            let mut seq = Sequence::lock(tx)?;
            let coll = coll_key(tx, collection)?;
            // Nothing a member may not see is its to delete: a hidden id stops here, at the
            // cost of an absent one, before the scan of its versions.
            if let DeleteScope::Own(viewer) = scope
                && !may_see(tx, coll, object_id, viewer)?
            {
                return Ok(Vec::new());
            }
            let mut args = Args::default();
            let mut conds = vec![
                format!("o.coll = {}", args.push(Arg::Int(coll))),
                format!(
                    "o.object_id = {}",
                    args.push(Arg::Text(object_id.to_owned()))
                ),
            ];
            // A member deletes only what it contributed and sees; `last` is its newest.
            let own = match scope {
                DeleteScope::Own(viewer) => {
                    let vis = vis_params(viewer, &mut args);
                    let own = |t: &str| {
                        format!("({} AND {t}.contributor = {})", vis_of(t, &vis), vis.member)
                    };
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
                "SELECT {} FROM objects o JOIN log_nonces n ON n.date_added = o.date_added \
                 WHERE {} ORDER BY o.date_added",
                DELETED_COLUMNS,
                conds.join(" AND ")
            );
            let rows: Vec<DeletedVersionRow> = tx
                .query(sql.as_str(), &args.refs())
                .map_err(pg)?
                .iter()
                .map(|r| deleted_from_row(r, 0))
                .collect();
            let time = entries::deletion_time();
            let member = scope.member_name();
            for d in &rows {
                delete_version(tx, &mut seq, collection, object_id, d, member, &time)?;
            }
            if !rows.is_empty() {
                refresh_bounds(tx, coll, object_id)?;
                seq.store(tx)?;
            }
            Ok(rows
                .into_iter()
                .map(|d| DeletedVersion {
                    id: object_id.to_owned(),
                    date_added: d.date_added,
                    version: d.version,
                })
                .collect())
        })
    }

    fn status(&self, id: &str) -> Result<Option<StatusRecord>> {
        self.with(|c| {
            c.query_opt(
                "SELECT id, member_id, collection_id, request_timestamp, successes, failures
                 FROM statuses WHERE id = $1",
                &[&id],
            )
            .map_err(pg)?
            .map(|r| {
                Ok(StatusRecord {
                    id: r.get(0),
                    member: r.get(1),
                    collection: r.get(2),
                    request_timestamp: r.get(3),
                    successes: details_from_json(r.get(4))?,
                    failures: details_from_json(r.get(5))?,
                })
            })
            .transpose()
        })
    }

    fn log_size(&self) -> Result<u64> {
        self.with(|c| {
            let n: i64 = c
                .query_one("SELECT log_size FROM sequence_point", &[])
                .map_err(pg)?
                .get(0);
            Ok(n.unsigned_abs())
        })
    }

    fn log_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let (start, end) = (to_i64(start), to_i64(end));
        self.with(|c| {
            Ok(c.query(
                "SELECT leaf FROM log_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&start, &end],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn log_object_entry(&self, date_added: i64) -> Result<Option<ObjectLogEntry>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT n.leaf_idx, l.leaf, n.nonce, coalesce(m.name, o.contributor::text) \
                 FROM log_nonces n JOIN log_leaves l ON l.idx = n.leaf_idx \
                 JOIN objects o ON o.date_added = n.date_added \
                 LEFT JOIN members m ON m.id = o.contributor WHERE n.date_added = $1",
                &[&date_added],
            )
            .map_err(pg)?
            .map(|r| ObjectLogEntry {
                index: r.get::<_, i64>(0).unsigned_abs(),
                leaf: r.get(1),
                nonce: r.get(2),
                contributor: r.get(3),
            }))
        })
    }

    fn log_object_entries(&self, date_added: &[i64]) -> Result<Vec<Option<ObjectLogEntry>>> {
        if date_added.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: std::collections::HashMap<i64, ObjectLogEntry> = self.with(|c| {
            Ok(c.query(
                "SELECT n.date_added, n.leaf_idx, l.leaf, n.nonce, \
                 coalesce(m.name, o.contributor::text) \
                 FROM log_nonces n JOIN log_leaves l ON l.idx = n.leaf_idx \
                 JOIN objects o ON o.date_added = n.date_added \
                 LEFT JOIN members m ON m.id = o.contributor WHERE n.date_added = ANY($1)",
                &[&date_added],
            )
            .map_err(pg)?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    ObjectLogEntry {
                        index: r.get::<_, i64>(1).unsigned_abs(),
                        leaf: r.get(2),
                        nonce: r.get(3),
                        contributor: r.get(4),
                    },
                )
            })
            .collect())
        })?;
        Ok(date_added.iter().map(|d| found.remove(d)).collect())
    }

    fn log_tombstones(
        &self,
        collection: &str,
        object_id: &str,
        viewer: &Viewer,
    ) -> Result<Vec<TombstoneLogEntry>> {
        let mut args = Args::default();
        let c_ = args.push(Arg::Text(collection.to_owned()));
        let o_ = args.push(Arg::Text(object_id.to_owned()));
        let vis = vis_params(viewer, &mut args);
        let sql = format!(
            "SELECT {TOMBSTONE} FROM log_tombstones o JOIN log_leaves l ON l.idx = o.leaf_idx \
             WHERE o.coll_id = {c_} AND o.object_id = {o_} AND {} ORDER BY o.leaf_idx",
            vis_of("o", &vis)
        );
        self.with(|c| {
            Ok(c.query(sql.as_str(), &args.refs())
                .map_err(pg)?
                .iter()
                .map(to_tombstone)
                .collect())
        })
    }

    fn record_psi_session(&self, r: &PsiSessionRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO psi_sessions (time, role, peer, collection_id, mode, own_items,
                 peer_items, result_items, bytes_in, bytes_out, duration_us, outcome, session)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &r.time,
                    &r.role.as_str(),
                    &r.peer,
                    &r.collection,
                    &r.mode,
                    &r.own_items.map(to_i64),
                    &r.peer_items.map(to_i64),
                    &r.result_items.map(to_i64),
                    &to_i64(r.bytes_in),
                    &to_i64(r.bytes_out),
                    &to_i64(r.duration_micros),
                    &r.outcome,
                    &r.session,
                ],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn psi_sessions(&self, limit: usize) -> Result<Vec<PsiSessionRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let count = |v: Option<i64>| v.map(i64::unsigned_abs);
        self.with(|c| {
            c.query(
                "SELECT id, time, role, peer, collection_id, mode, own_items, peer_items,
                 result_items, bytes_in, bytes_out, duration_us, outcome, session
                 FROM (SELECT * FROM psi_sessions ORDER BY id DESC LIMIT $1) t ORDER BY id",
                &[&limit],
            )
            .map_err(pg)?
            .iter()
            .map(|r| {
                Ok(PsiSessionRecord {
                    id: r.get(0),
                    time: r.get(1),
                    role: r.get::<_, String>(2).parse()?,
                    session: r.get(13),
                    peer: r.get(3),
                    collection: r.get(4),
                    mode: r.get(5),
                    own_items: count(r.get(6)),
                    peer_items: count(r.get(7)),
                    result_items: count(r.get(8)),
                    bytes_in: r.get::<_, i64>(9).unsigned_abs(),
                    bytes_out: r.get::<_, i64>(10).unsigned_abs(),
                    duration_micros: r.get::<_, i64>(11).unsigned_abs(),
                    outcome: r.get(12),
                })
            })
            .collect()
        })
    }

    fn psi_charge(&self, charge: &PsiCharge) -> Result<PsiChargeOutcome> {
        self.tx(|tx| {
            if !charge.dry_run {
                // Held to commit: charges of one peer from every node run one at a time, and
                // each reads the charges the previous one committed.
                tx.execute(
                    "INSERT INTO psi_peers (peer) VALUES ($1)
                     ON CONFLICT (peer) DO UPDATE SET peer = EXCLUDED.peer",
                    &[&charge.peer],
                )
                .map_err(pg)?;
            }
            let replayed = tx
                .query_opt(
                    "SELECT 1 FROM psi_charges WHERE session = $1",
                    &[&charge.session],
                )
                .map_err(pg)?
                .is_some();
            let charges = if replayed || charge.limit.is_none() {
                Vec::new()
            } else {
                tx.query(
                    "SELECT at, cost FROM psi_charges WHERE peer = $1 AND at > $2 ORDER BY at",
                    &[&charge.peer, &charge.window_start()],
                )
                .map_err(pg)?
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1).unsigned_abs()))
                .collect()
            };
            let outcome = detente_store::decide_psi_charge(charge, replayed, charges);
            if outcome != PsiChargeOutcome::Charged || charge.dry_run {
                return Ok(outcome);
            }
            // Another peer's session with the same id may commit first: its row wins and
            // this one is a replay (the insert waits for that commit, then does nothing).
            let inserted = tx
                .execute(
                    "INSERT INTO psi_charges (session, peer, at, cost) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (session) DO NOTHING",
                    &[
                        &charge.session,
                        &charge.peer,
                        &charge.at,
                        &to_i64(charge.cost),
                    ],
                )
                .map_err(pg)?;
            Ok(if inserted == 1 {
                PsiChargeOutcome::Charged
            } else {
                PsiChargeOutcome::Replayed
            })
        })
    }

    fn witness_trust(&self, origin: &str, vkey: &str) -> Result<bool> {
        self.with(|c| witness::trust(c, origin, vkey, now_micros()))
    }

    fn witness_trusted(&self, origin: &str) -> Result<Vec<String>> {
        self.with(|c| witness::trusted(c, origin))
    }

    fn witness_trusted_logs(&self) -> Result<Vec<TrustedLog>> {
        self.with(witness::trusted_logs)
    }

    fn witness_state(&self, origin: &str) -> Result<Option<WitnessState>> {
        self.with(|c| witness::state(c, origin))
    }

    fn witness_states(&self) -> Result<Vec<WitnessState>> {
        self.with(witness::states)
    }

    fn witness_advance(&self, expected: Option<(u64, &[u8])>, new: &WitnessState) -> Result<bool> {
        self.with(|c| witness::advance(c, expected, new))
    }

    fn witness_advance_batch(&self, ops: &[WitnessAdvance]) -> Result<Vec<bool>> {
        self.tx(|tx| {
            ops.iter()
                .map(|o| {
                    let expected = o.expected.as_ref().map(|(s, r)| (*s, r.as_slice()));
                    witness::advance(tx, expected, &o.new)
                })
                .collect()
        })
    }

    fn witness_record_evidence(&self, evidence: &WitnessEvidence) -> Result<bool> {
        self.with(|c| witness::record_evidence(c, evidence))
    }

    fn witness_evidence(&self) -> Result<Vec<WitnessEvidence>> {
        self.with(witness::evidence)
    }

    fn log_add_witness(&self, w: &LogWitness) -> Result<()> {
        self.with(|c| witness::add_log_witness(c, w))
    }

    fn log_witnesses(&self) -> Result<Vec<LogWitness>> {
        self.with(witness::log_witnesses)
    }

    fn bind_key(&self, member: &str, vkey: &str) -> Result<KeyBindingRecord> {
        self.tx(|tx| crate::keys::bind(tx, member, vkey))
    }

    fn key_bindings(&self) -> Result<Vec<KeyBindingRecord>> {
        self.with(crate::keys::all)
    }

    fn current_key(&self, member: &str) -> Result<Option<KeyBindingRecord>> {
        self.with(|c| crate::keys::current(c, member))
    }

    fn set_require_signatures(&self, collection: &str, required: bool) -> Result<()> {
        self.tx(|tx| {
            let n = tx
                .execute(
                    "UPDATE collections SET require_signatures = $1 WHERE id = $2",
                    &[&required, &collection],
                )
                .map_err(pg)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("collection {collection}")));
            }
            bump_generation(tx)
        })
    }

    // --- Peers and mirrors (issue 13) ---

    fn peer_add(&self, peer: &NewPeer) -> Result<PeerRecord> {
        self.tx(|tx| crate::peers::add(tx, peer))
    }

    fn peer(&self, name: &str) -> Result<Option<PeerRecord>> {
        self.with(|c| crate::peers::peer(c, name))
    }

    fn peers(&self) -> Result<Vec<PeerRecord>> {
        self.with(crate::peers::peers)
    }

    fn peer_add_mirror(
        &self,
        peer: &str,
        remote_collection: &str,
        local_collection: &str,
    ) -> Result<MirrorRecord> {
        self.with(|c| crate::peers::add_mirror(c, peer, remote_collection, local_collection))
    }

    fn mirrors(&self, peer: Option<&str>) -> Result<Vec<MirrorRecord>> {
        self.with(|c| crate::peers::mirrors(c, peer))
    }

    fn peer_leaves_put(&self, peer: &str, start: u64, leaves: &[Vec<u8>]) -> Result<()> {
        self.tx(|tx| crate::peers::leaves_put(tx, peer, start, leaves))
    }

    fn peer_leaves_at(&self, peer: &str, indices: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        self.with(|c| crate::peers::leaves_at(c, peer, indices))
    }

    fn peer_keys_record(
        &self,
        peer: &str,
        bindings: &[detente_store::PeerKeyBinding],
    ) -> Result<Vec<detente_store::PeerKeyBinding>> {
        self.tx(|tx| crate::keys::peer_record(tx, peer, bindings))
    }

    fn peer_keys_publish(&self, peer: &str, partner_members: &[String]) -> Result<u64> {
        self.tx(|tx| crate::keys::peer_publish(tx, peer, partner_members))
    }

    fn peer_keys(&self, peer: &str) -> Result<Vec<detente_store::PeerKeyBinding>> {
        self.with(|c| crate::keys::peer_all(c, peer))
    }

    fn peer_log_accept(&self, peer: &str, expected: Option<u64>, new: &PeerLog) -> Result<bool> {
        self.with(|c| crate::peers::log_accept(c, peer, expected, new))
    }

    fn mirror_apply(&self, page: &MirrorPage) -> Result<MirrorApplied> {
        self.tx(|tx| crate::peers::apply(tx, page))
    }

    fn mirror_provenance(&self, collection: &str, date_added: &[i64]) -> Result<Vec<Provenance>> {
        self.with(|c| crate::peers::provenance(c, collection, date_added))
    }

    fn log_tombstones_after(
        &self,
        collection: &str,
        viewer: &Viewer,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TombstoneFeedEntry>> {
        self.with(|c| crate::peers::tombstones_after(c, collection, viewer, after, limit))
    }

    // --- Protected assets and ingest flags (issues 14, 16) ---

    fn flag_warninglist_put(&self, list: &WarninglistRecord) -> Result<bool> {
        self.tx(|tx| crate::flags::put_warninglist(tx, list, now_micros()))
    }

    fn flag_warninglist_remove(&self, key: &str, collection: Option<&str>) -> Result<()> {
        self.tx(|tx| crate::flags::remove_warninglist(tx, key, collection))
    }

    fn flag_warninglists(&self) -> Result<Vec<WarninglistRecord>> {
        self.with(crate::flags::warninglists)
    }

    fn asset_add(&self, asset: &AssetRecord) -> Result<bool> {
        self.tx(|tx| crate::flags::add_asset(tx, asset, now_micros()))
    }

    fn asset_remove(&self, kind: AssetKind, value: &str, collection: Option<&str>) -> Result<()> {
        self.tx(|tx| crate::flags::remove_asset(tx, kind, value, collection))
    }

    fn assets(&self) -> Result<Vec<AssetRecord>> {
        self.with(crate::flags::assets)
    }

    fn flag_record(&self, flags: &[FlagRecord]) -> Result<()> {
        self.tx(|tx| crate::flags::record(tx, flags))
    }

    fn flags(&self, limit: usize) -> Result<Vec<FlagRecord>> {
        self.with(|c| crate::flags::latest(c, limit))
    }
}
