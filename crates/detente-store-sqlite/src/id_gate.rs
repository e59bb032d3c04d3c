//! The id gate (migration `0002_id_gate.sql`): per (collection, object id) the lowest TLP rank among the
//! stored versions and who may see one of its TLP:RED versions, kept by triggers, so whether
//! a viewer may see any version of an id is decided without visiting the versions.

use detente_store::{Result, Tlp, Viewer, tlp_from_stored};
use rusqlite::Connection;

use crate::tx::backend;

/// Whether `viewer` may see some version of `object_id` in the collection `coll`: one probe
/// of each gate table, the same work whether the id is stored or not.
pub(crate) fn may_see(
    conn: &Connection,
    coll: i64,
    object_id: &str,
    viewer: &Viewer,
) -> Result<bool> {
    let (lowest, red): (Option<i64>, bool) = conn
        .prepare_cached(
            "SELECT (SELECT min_tlp FROM id_gate WHERE coll = ?1 AND object_id = ?2),
                    EXISTS (SELECT 1 FROM id_red_contributors
                            WHERE coll = ?1 AND object_id = ?2 AND contributor = ?3)
                 OR EXISTS (SELECT 1 FROM id_red_recipients
                            WHERE coll = ?1 AND object_id = ?2 AND member = ?4)",
        )
        .and_then(|mut st| {
            let args = rusqlite::params![coll, object_id, viewer.member, viewer.name];
            st.query_row(args, |r| Ok((r.get(0)?, r.get(1)?)))
        })
        .map_err(backend)?;
    // A rank no level has (a damaged row) opens the gate to no one but RED viewers.
    let lowest = lowest.map(|t| tlp_from_stored(t).unwrap_or(Tlp::Red));
    Ok(viewer.may_see_some(lowest, red))
}
