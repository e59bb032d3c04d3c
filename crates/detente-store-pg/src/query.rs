//! SQL of the TAXII queries: TLP visibility, version selection and lists of values, with
//! their parameters collected in order (`$1`, `$2`, …).

use detente_store::{Result, Tlp, VersionMatch, Viewer, tlp_from_stored};
use postgres::GenericClient;
use postgres::types::ToSql;

use crate::error::pg;

/// One query parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A BIGINT.
    Int(i64),
    /// A TEXT.
    Text(String),
}

/// Parameters of a query being built.
#[derive(Debug, Default)]
pub(crate) struct Args(Vec<Arg>);

impl Args {
    /// Adds a parameter; its placeholder (`$n`).
    pub(crate) fn push(&mut self, a: Arg) -> String {
        self.0.push(a);
        format!("${}", self.0.len())
    }

    /// The parameters as the driver takes them.
    pub(crate) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|a| match a {
                Arg::Int(i) => i as &(dyn ToSql + Sync),
                Arg::Text(t) => t as &(dyn ToSql + Sync),
            })
            .collect()
    }
}

/// SQL keeping only the rows of `o` in the latest spec version held for their object (the
/// TAXII default without `match[spec_version]`); an object with one version short-circuits.
pub(crate) const LATEST_SPEC_VERSION: &str = "((o.is_first AND o.is_last) OR NOT EXISTS (SELECT \
     1 FROM objects s WHERE s.coll = o.coll AND s.object_id = o.object_id \
     AND s.spec_version > o.spec_version))";

/// A viewer's parameters: placeholders of its clearance, member id and name.
#[derive(Debug, Clone)]
pub(crate) struct Vis {
    clearance: String,
    /// The member id's placeholder.
    pub(crate) member: String,
    name: String,
}

/// Pushes a viewer's parameters.
pub(crate) fn vis_params(viewer: &Viewer, args: &mut Args) -> Vis {
    Vis {
        clearance: args.push(Arg::Int(i64::from(viewer.clearance.rank()))),
        member: args.push(Arg::Int(viewer.member)),
        name: args.push(Arg::Text(viewer.name.clone())),
    }
}

/// SQL for the visibility of the row `t` to a viewer ([`Viewer::sees`] in SQL).
pub(crate) fn vis_of(t: &str, v: &Vis) -> String {
    format!(
        "({t}.tlp <= {c} OR ({t}.tlp = 4 AND ({t}.contributor = {m} OR EXISTS (SELECT 1 FROM \
         red_recipients r WHERE r.date_added = {t}.date_added AND r.member = {n}))))",
        c = v.clearance,
        m = v.member,
        n = v.name
    )
}

/// SQL for `column IN (values…)`.
pub(crate) fn in_list(column: &str, values: &[String], args: &mut Args) -> String {
    let marks: Vec<String> = values
        .iter()
        .map(|v| args.push(Arg::Text(v.clone())))
        .collect();
    format!("{column} IN ({})", marks.join(","))
}

/// SQL for a version selection, or `None` when every version matches. `first` and `last`
/// are taken among the versions `scope` admits (SQL over the row `s`); with no scope they are
/// the stored flags.
pub(crate) fn version_cond(
    v: &VersionMatch,
    scope: Option<&str>,
    args: &mut Args,
) -> Option<String> {
    if v.all {
        return None;
    }
    let none_beyond = |flag: &str, cmp: &str| match scope {
        None => format!("o.{flag}"),
        Some(scope) => format!(
            "(o.{flag} OR NOT EXISTS (SELECT 1 FROM objects s WHERE s.coll = o.coll AND \
             s.object_id = o.object_id AND s.version_us {cmp} o.version_us AND {scope}))"
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
        let marks: Vec<String> = v.exact.iter().map(|t| args.push(Arg::Int(*t))).collect();
        terms.push(format!("o.version_us IN ({})", marks.join(",")));
    }
    if terms.is_empty() {
        return Some("FALSE".to_owned());
    }
    Some(format!("({})", terms.join(" OR ")))
}

/// Whether `viewer` may see some version of `object_id` in the collection `coll`, from the
/// id gate (`migrations/0008_id_gate.sql`): one probe of each gate table, the same work
/// whether the id is stored or not, so a hidden id costs what an absent one does.
pub(crate) fn may_see(
    c: &mut impl GenericClient,
    coll: i64,
    object_id: &str,
    viewer: &Viewer,
) -> Result<bool> {
    let row = c
        .query_one(
            "SELECT (SELECT min_tlp FROM id_gate WHERE coll = $1 AND object_id = $2),
                    EXISTS (SELECT 1 FROM id_red_contributors
                            WHERE coll = $1 AND object_id = $2 AND contributor = $3)
                 OR EXISTS (SELECT 1 FROM id_red_recipients
                            WHERE coll = $1 AND object_id = $2 AND member = $4)",
            &[&coll, &object_id, &viewer.member, &viewer.name],
        )
        .map_err(pg)?;
    let lowest: Option<i64> = row.get(0);
    // A rank no level has (a damaged row) opens the gate to no one but RED viewers.
    let lowest = lowest.map(|t| tlp_from_stored(t).unwrap_or(Tlp::Red));
    Ok(viewer.may_see_some(lowest, row.get(1)))
}
