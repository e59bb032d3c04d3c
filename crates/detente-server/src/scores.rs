//! Corroboration and scores for readers (issue 14):
//! `GET {root}collections/{id}/scores/` gives, for each indicator value of the collection,
//! how many distinct contributors carry it, how many distinct parties reported the indicator
//! as a false positive, and its decayed score, with the scanner's reading of indicators and
//! its model ([`detente_indicator`], `docs/detection.md`).
//!
//! Everything is computed from what the caller may read, through the store's one visibility
//! rule (the newest version of each object the caller sees, as a TAXII GET returns it): an
//! object or sighting above the caller's view neither raises a count nor lowers a score.
//! Contributors and reporters are the members the node bound the objects to (their log
//! entries), never what an object says of itself (`created_by_ref`), so one member cannot
//! pose as several; a mirrored object counts as its partner node and the partner's member.
//!
//! Pages as TAXII lists do: `limit` (default and maximum the node's page sizes) and `more`
//! with a `next` cursor, a position in the caller's ordered rows bound to the caller, the
//! collection and the limit ([`crate::cursor`]). Each page is computed from the collection
//! anew, from the caller's view alone, so how many rows and pages there are says nothing
//! about objects the caller may not read.

use std::collections::HashMap;

use axum::response::Response;
use detente_indicator::score::{DecayModel, Scoring, distinct_parties, rounded};
use detente_indicator::{Indicator, LoadOptions, Reading, Value, read_json};
use detente_store::{Store, StoreError, Viewer};
use detente_taxii::time::format_micros;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::access::{each_latest, readable};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::respond::{json, limit_param};

/// The scores of one collection as one reader sees them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Scores {
    /// When they were computed, RFC 3339.
    pub time: String,
    /// The decay model's parameters.
    pub model: Model,
    /// Whether rows follow this page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// The cursor of the next page (`?next=`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// One row per indicator value, ordered by indicator id, then value.
    pub scores: Vec<ScoreRow>,
}

/// The parameters of the model the node scores with (MISP's names).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Model {
    /// τ, days.
    pub lifetime_days: f64,
    /// δ.
    pub decay_speed: f64,
    /// Scores below it are `inform`.
    pub threshold: f64,
    /// The base score of indicators without a STIX `confidence`.
    pub default_base_score: f64,
}

/// One indicator value's corroboration and score.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ScoreRow {
    /// The indicator's id.
    pub indicator: String,
    /// The value as its pattern writes it; for a complex pattern, the pattern.
    pub value: String,
    /// Distinct contributors of indicators with this value (normalised) in the collection.
    pub contributors: u32,
    /// Distinct parties whose false-positive sightings of this indicator the reader sees.
    pub false_positives: u32,
    /// The score: base, decayed from the indicator's last update, halved per report.
    pub score: f64,
    /// Whether the score is below the model's threshold.
    pub below_threshold: bool,
}

/// `GET …/collections/{id}/scores/[?limit=N][&next=CURSOR]`.
pub(crate) fn get<S: Store>(
    a: &App<S>,
    p: &Principal,
    root: &str,
    cid: &str,
    query: &str,
) -> Result<Response, ApiError> {
    let c = readable(a, p, root, cid)?;
    let limit = limit_param(query, &a.config)?;
    let binding = format!("{}|scores|{}|limit={limit}", p.member.id, c.id);
    let next = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "next");
    let from = match next {
        Some((_, cursor)) => a
            .cursors
            .open(&binding, &cursor)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::BadRequest("the `next` cursor is not valid for this query".into())
            })?,
        None => 0,
    };
    let now = crate::now_micros();
    let scoring = Scoring {
        model: DecayModel::NIDS_SIMPLE,
        decay: true,
        now: now.div_euclid(1_000_000),
    };
    let mut scores = collection_scores(&*a.store, &c.id, &p.viewer(), &scoring)?;
    let more = scores.len() > from.saturating_add(limit);
    scores = scores.into_iter().skip(from).take(limit).collect();
    let next = more
        .then(|| i64::try_from(from + limit).ok())
        .flatten()
        .map(|n| a.cursors.mint(&binding, n));
    let m = scoring.model;
    json(&Scores {
        time: format_micros(now),
        model: Model {
            lifetime_days: m.lifetime_days,
            decay_speed: m.decay_speed,
            threshold: m.threshold,
            default_base_score: m.default_base_score,
        },
        more: next.is_some(),
        next,
        scores,
    })
}

/// The scores of `collection`'s indicators from the newest version of each indicator and
/// sighting `viewer` may read. Indicators revoked, past `valid_until` or not yet valid at
/// `scoring.now` count for nothing, as in a scan.
pub fn collection_scores<S: Store + ?Sized>(
    store: &S,
    collection: &str,
    viewer: &Viewer,
    scoring: &Scoring,
) -> Result<Vec<ScoreRow>, StoreError> {
    let opts = LoadOptions {
        now: scoring.now,
        subdomains: true,
    };
    let mut claims: Vec<Indicator> = Vec::new();
    let mut reports: Vec<(String, String)> = Vec::new();
    let types = ["indicator".to_owned(), "sighting".to_owned()];
    each_latest(store, collection, viewer, &types, |page| {
        let dates: Vec<i64> = page.iter().map(|o| o.date_added).collect();
        let mirrored: HashMap<i64, String> = store
            .mirror_provenance(collection, &dates)?
            .into_iter()
            .map(|m| (m.date_added, m.partner_contributor))
            .collect();
        // Stored objects are valid STIX; one that does not read is no claim.
        let read: Vec<_> = page
            .iter()
            .filter_map(|o| {
                let (found, report) = match read_json(o.body.as_bytes(), opts).ok()? {
                    Reading::Indicators(list) => (list, None),
                    Reading::Pattern(p) => {
                        let i = Indicator {
                            id: p.id,
                            written: p.pattern,
                            value: Value::Pattern,
                            provenance: p.provenance,
                        };
                        (vec![i], None)
                    }
                    Reading::FalsePositive(of, _) => (Vec::new(), Some(of)),
                    _ => return None,
                };
                Some((o.date_added, found, report))
            })
            .collect();
        // The claims' log entries in one query, not one per object.
        let dates: Vec<i64> = read.iter().map(|(d, _, _)| *d).collect();
        let entries = store.log_object_entries(&dates)?;
        for ((date_added, found, report), entry) in read.into_iter().zip(entries) {
            let entry = entry.ok_or_else(|| {
                StoreError::Invalid(format!(
                    "no log entry for the version added at {date_added}"
                ))
            })?;
            // Local members are names without `:` or `/`; a mirror's entries are `peer:NAME`.
            let party = match mirrored.get(&date_added) {
                Some(theirs) => format!("{}/{theirs}", entry.contributor),
                None => entry.contributor,
            };
            if let Some(of) = report {
                reports.push((of, party.clone()));
            }
            for mut i in found {
                i.provenance.contributor = Some(party.clone());
                claims.push(i);
            }
        }
        Ok(())
    })?;
    let contributors = distinct_parties(
        claims
            .iter()
            .map(|i| (i.claim(), i.provenance.contributor.as_deref())),
    );
    let reported = distinct_parties(reports.iter().map(|(of, by)| (of.as_str(), by.as_str())));
    let mut rows: Vec<ScoreRow> = claims
        .iter()
        .map(|i| {
            let mut provenance = i.provenance.clone();
            provenance.false_positives = reported.get(i.id.as_str()).copied().unwrap_or(0);
            let score = scoring.score(&provenance);
            ScoreRow {
                indicator: i.id.clone(),
                value: i.written.clone(),
                contributors: contributors.get(&i.claim()).copied().unwrap_or(0),
                false_positives: provenance.false_positives,
                score: rounded(score),
                below_threshold: scoring.below(score),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.indicator, &a.value).cmp(&(&b.indicator, &b.value)));
    rows.dedup_by(|a, b| a.indicator == b.indicator && a.value == b.value);
    Ok(rows)
}
