//! Observations as the reference sees them: STIX 2.0 observed-data with embedded `objects`,
//! or STIX 2.1 bundles whose observed-data reference SCOs by `object_refs`.

use std::collections::HashMap;

use serde_json::Value;

use crate::value::parse_timestamp;
use crate::{MatchError, StixVersion};

/// One observed-data object: its cyber-observable objects and when/how often it was seen.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    /// Root objects in order: (key, object); keys are unique.
    pub(crate) roots: Vec<(&'a str, &'a Value)>,
    /// Objects references resolve against (2.1: every object of the group, in order).
    pub(crate) group: Vec<&'a Value>,
    /// `first_observed`, microseconds since the epoch.
    pub first: i64,
    /// `last_observed`, microseconds since the epoch.
    pub last: i64,
    /// `number_observed` (≥ 1).
    pub number_observed: u64,
}

/// A set of observations that one pattern evaluation binds against.
#[derive(Debug, Clone)]
pub struct ObservationSet<'a> {
    /// STIX version of the data (and of the patterns matched against it).
    pub version: StixVersion,
    /// Observations in reference order (2.0: list order; 2.1: observed-data order across bundles).
    pub observations: Vec<Observation<'a>>,
    /// 2.0 only: the `objects` maps, for reference resolution by key.
    pub(crate) maps: Vec<Option<&'a serde_json::Map<String, Value>>>,
}

fn err(msg: impl Into<String>) -> MatchError {
    MatchError(msg.into())
}

fn interval(sdo: &Value, what: &str) -> Result<(i64, i64, u64), MatchError> {
    let (Some(n), Some(f), Some(l)) = (
        sdo.get("number_observed"),
        sdo.get("first_observed"),
        sdo.get("last_observed"),
    ) else {
        return Err(err(format!(
            "{what} must have all the following keys: number_observed, first_observed, last_observed."
        )));
    };
    let n = match n {
        Value::Number(x) => x.as_u64().unwrap_or_default(),
        _ => return Err(err(format!("invalid number_observed: {n}"))),
    };
    if n < 1 {
        return Err(err(format!(
            "SDO with invalid number_observed (must be >= 1): {n}"
        )));
    }
    let ts = |v: &Value| -> Result<i64, MatchError> {
        v.as_str()
            .and_then(parse_timestamp)
            .ok_or_else(|| err(format!("invalid timestamp: {v}")))
    };
    Ok((ts(f)?, ts(l)?, n))
}

impl<'a> Observation<'a> {
    /// An observation of STIX 2.1 cyber-observable objects (references resolve by `id`
    /// among `objects`), seen `number_observed` times between `first` and `last`
    /// (microseconds since the Unix epoch). For callers that build SCOs themselves.
    pub fn from_objects(
        objects: Vec<&'a Value>,
        first: i64,
        last: i64,
        number_observed: u64,
    ) -> Observation<'a> {
        let mut roots: Vec<(&'a str, &'a Value)> = Vec::with_capacity(objects.len());
        for o in &objects {
            let id = o.get("id").and_then(Value::as_str).unwrap_or("");
            match roots.iter_mut().find(|(k, _)| !id.is_empty() && *k == id) {
                Some(slot) => slot.1 = o,
                None => roots.push((id, o)),
            }
        }
        Observation {
            roots,
            group: objects,
            first,
            last,
            number_observed: number_observed.max(1),
        }
    }
}

impl<'a> ObservationSet<'a> {
    /// A STIX 2.1 set of observations built with [`Observation::from_objects`].
    pub fn from_observations(observations: Vec<Observation<'a>>) -> ObservationSet<'a> {
        let n = observations.len();
        ObservationSet {
            version: StixVersion::V21,
            observations,
            maps: vec![None; n],
        }
    }

    /// Builds the set from what `stix2matcher.match()` takes: a list of observed-data SDOs
    /// (2.0) or a list of bundles (2.1). A single object is taken as a one-element list.
    pub fn from_json(observed: &'a Value, version: StixVersion) -> Result<Self, MatchError> {
        let items: Vec<&'a Value> = match observed {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        match version {
            StixVersion::V20 => Self::from_v20(&items),
            StixVersion::V21 => Self::from_bundles(&items),
        }
    }

    fn from_v20(items: &[&'a Value]) -> Result<Self, MatchError> {
        let mut observations = Vec::with_capacity(items.len());
        let mut maps = Vec::with_capacity(items.len());
        for sdo in items {
            let (first, last, number_observed) = interval(sdo, "STIX v2.0 SDO")?;
            let map = sdo.get("objects").and_then(Value::as_object);
            let roots = map
                .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
                .unwrap_or_default();
            observations.push(Observation {
                roots,
                group: Vec::new(),
                first,
                last,
                number_observed,
            });
            maps.push(map);
        }
        Ok(ObservationSet {
            version: StixVersion::V20,
            observations,
            maps,
        })
    }

    /// Builds a 2.1 set from bundles (their `objects` lists are concatenated, as the
    /// reference's deep merge does).
    pub fn from_bundles(bundles: &[&'a Value]) -> Result<Self, MatchError> {
        let mut objects: Vec<&'a Value> = Vec::new();
        let mut any = false;
        for b in bundles {
            if let Some(list) = b.get("objects").and_then(Value::as_array) {
                any = true;
                objects.extend(list.iter());
            }
        }
        if !any {
            return Err(err("STIX v2.1 bundle object must have 'objects' key"));
        }
        let mut scos: HashMap<&'a str, &'a Value> = HashMap::new();
        let mut ods = Vec::new();
        for o in &objects {
            let t = o
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| err("object without 'type'"))?;
            if t == "observed-data" {
                ods.push(*o);
            } else {
                let id = o
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err("object without 'id'"))?;
                scos.insert(id, *o);
            }
        }
        let mut observations = Vec::with_capacity(ods.len());
        for od in ods {
            let refs = od
                .get("object_refs")
                .ok_or_else(|| err("STIX v2.1 observed-data object must have 'object_refs' key"))?;
            let mut group = vec![od];
            if let Some(refs) = refs.as_array() {
                for r in refs {
                    if let Some(o) = r.as_str().and_then(|r| scos.get(r)) {
                        group.push(*o);
                    }
                }
            }
            let (first, last, number_observed) = interval(od, "STIX v2.1 observed-data object")?;
            let mut roots: Vec<(&'a str, &'a Value)> = Vec::with_capacity(group.len());
            for o in &group {
                let id = o
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err("object without 'id'"))?;
                // A dict keyed by id: a later duplicate replaces the value in place.
                if let Some(slot) = roots.iter_mut().find(|(k, _)| *k == id) {
                    slot.1 = o;
                } else {
                    roots.push((id, o));
                }
            }
            observations.push(Observation {
                roots,
                group,
                first,
                last,
                number_observed,
            });
        }
        let n = observations.len();
        Ok(ObservationSet {
            version: StixVersion::V21,
            observations,
            maps: vec![None; n],
        })
    }

    /// Resolves a reference id within observation `obs`.
    pub(crate) fn deref(&self, obs: usize, id: &str, out: &mut Vec<&'a Value>) {
        match self.version {
            StixVersion::V20 => {
                if let Some(o) = self.maps[obs].and_then(|m| m.get(id)) {
                    out.push(o);
                }
            }
            StixVersion::V21 => {
                for o in &self.observations[obs].group {
                    if o.get("id").and_then(Value::as_str) == Some(id) {
                        out.push(o);
                    }
                }
            }
        }
    }
}
