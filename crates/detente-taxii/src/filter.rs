//! Query parameters of the TAXII 2.1 GET endpoints (sections 3.3–3.5).
//!
//! [`Filter::parse`] takes the raw query string and returns a typed filter, or a
//! [`FilterError`] naming the offending parameter (the server answers 400).

use std::collections::BTreeMap;

use thiserror::Error;

use crate::time;

/// A malformed query string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FilterError {
    /// A parameter appears more than once.
    #[error("query parameter `{0}` is given more than once")]
    Repeated(String),
    /// A parameter's value is malformed.
    #[error("query parameter `{name}`: {reason}")]
    Invalid {
        /// The parameter.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter is not allowed on this endpoint.
    #[error("query parameter `{0}` is not allowed on this endpoint")]
    NotAllowed(String),
    /// The query string is not valid percent-encoded UTF-8.
    #[error("the query string is not valid percent-encoded UTF-8")]
    Encoding,
}

/// `match[version]`: which versions of each object to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSelector {
    /// Every version (`all`).
    pub all: bool,
    /// The oldest version (`first`).
    pub first: bool,
    /// The newest version (`last`, the default).
    pub last: bool,
    /// Exact versions, as microseconds since the epoch.
    pub exact: Vec<i64>,
}

impl Default for VersionSelector {
    fn default() -> Self {
        VersionSelector {
            all: false,
            first: false,
            last: true,
            exact: Vec::new(),
        }
    }
}

impl VersionSelector {
    /// Every version.
    pub fn all() -> Self {
        VersionSelector {
            all: true,
            first: false,
            last: false,
            exact: Vec::new(),
        }
    }
}

/// Which `match[...]` and paging parameters an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Get Objects and Manifest: every filter.
    Objects,
    /// Get an Object: `added_after`, `limit`, `next`, `match[version]`, `match[spec_version]`.
    Object,
    /// Delete an Object: `match[version]`, `match[spec_version]`.
    Delete,
    /// Versions: `added_after`, `limit`, `next`, `match[spec_version]`.
    Versions,
}

/// The parsed filters of one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// `added_after`, in microseconds since the epoch.
    pub added_after: Option<i64>,
    /// `limit` (> 0).
    pub limit: Option<u64>,
    /// `next`, the opaque cursor, unverified.
    pub next: Option<String>,
    /// `match[id]`.
    pub ids: Vec<String>,
    /// `match[type]`.
    pub types: Vec<String>,
    /// `match[version]`.
    pub versions: VersionSelector,
    /// `match[spec_version]`.
    pub spec_versions: Vec<String>,
    /// Every parameter but `next`, sorted and escaped so that it parses back to the same
    /// filter (two different queries never share one): what a cursor must be bound to.
    pub canonical: String,
}

/// Decodes `%XX` escapes and `+` in one query component.
fn decode(s: &str) -> Result<String, FilterError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or(FilterError::Encoding)?;
                let hex = std::str::from_utf8(hex).map_err(|_| FilterError::Encoding)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| FilterError::Encoding)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FilterError::Encoding)
}

/// Appends one decoded query component escaped so that [`decode`] gives it back: `%`, `+`
/// and the separators `&` and `=` (unescaped, `a%26b=c` and `a&b=c` would read alike).
fn encode(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '+' => out.push_str("%2B"),
            '&' => out.push_str("%26"),
            '=' => out.push_str("%3D"),
            c => out.push(c),
        }
    }
}

/// Splits a comma-separated `match[...]` value, refusing empty items and repeats.
fn list(name: &str, value: &str) -> Result<Vec<String>, FilterError> {
    let mut items: Vec<String> = Vec::new();
    for item in value.split(',') {
        if item.is_empty() {
            return Err(FilterError::Invalid {
                name: name.to_owned(),
                reason: "empty value in the comma-separated list".to_owned(),
            });
        }
        if items.iter().any(|i| i == item) {
            return Err(FilterError::Invalid {
                name: name.to_owned(),
                reason: format!("value {item:?} is repeated"),
            });
        }
        items.push(item.to_owned());
    }
    Ok(items)
}

fn parse_versions(value: &str) -> Result<VersionSelector, FilterError> {
    let name = "match[version]";
    let mut sel = VersionSelector {
        last: false,
        ..VersionSelector::default()
    };
    let items = list(name, value)?;
    for item in &items {
        match item.as_str() {
            "all" => sel.all = true,
            "first" => sel.first = true,
            "last" => sel.last = true,
            ts => sel
                .exact
                .push(time::parse_micros(ts).map_err(|e| FilterError::Invalid {
                    name: name.to_owned(),
                    reason: format!("expected all, first, last or a timestamp: {e}"),
                })?),
        }
    }
    if sel.all && items.len() > 1 {
        return Err(FilterError::Invalid {
            name: name.to_owned(),
            reason: "`all` cannot be combined with other values".to_owned(),
        });
    }
    Ok(sel)
}

/// `s` percent-encoded for a URL path segment or query component: everything but RFC 3986's
/// unreserved characters is escaped, so a server's decoding gives it back whatever it holds.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Filter {
    /// Parses a raw query string (without `?`) for the given endpoint.
    pub fn parse(query: &str, endpoint: Endpoint) -> Result<Filter, FilterError> {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k)?, decode(v)?);
            if seen.contains_key(&k) {
                return Err(FilterError::Repeated(k));
            }
            seen.insert(k, v);
        }
        let mut f = Filter::default();
        let allowed = |name: &str| -> bool {
            match endpoint {
                Endpoint::Objects => true,
                Endpoint::Object => !matches!(name, "match[id]" | "match[type]"),
                Endpoint::Delete => matches!(name, "match[version]" | "match[spec_version]"),
                Endpoint::Versions => {
                    matches!(
                        name,
                        "added_after" | "limit" | "next" | "match[spec_version]"
                    )
                }
            }
        };
        let mut canonical = Vec::new();
        for (k, v) in &seen {
            let known = matches!(
                k.as_str(),
                "added_after"
                    | "limit"
                    | "next"
                    | "match[id]"
                    | "match[type]"
                    | "match[version]"
                    | "match[spec_version]"
            );
            if !known {
                // Unknown parameters and match fields may be ignored (section 3.4.1).
                continue;
            }
            if !allowed(k) {
                return Err(FilterError::NotAllowed(k.clone()));
            }
            if k != "next" {
                let mut pair = String::with_capacity(k.len() + v.len() + 1);
                encode(k, &mut pair);
                pair.push('=');
                encode(v, &mut pair);
                canonical.push(pair);
            }
            match k.as_str() {
                "added_after" => {
                    f.added_after =
                        Some(time::parse_micros(v).map_err(|e| FilterError::Invalid {
                            name: k.clone(),
                            reason: e.to_string(),
                        })?);
                }
                "limit" => {
                    let n: u64 = v.parse().map_err(|_| FilterError::Invalid {
                        name: k.clone(),
                        reason: format!("{v:?} is not a positive integer"),
                    })?;
                    if n == 0 {
                        return Err(FilterError::Invalid {
                            name: k.clone(),
                            reason: "must be greater than 0".to_owned(),
                        });
                    }
                    f.limit = Some(n);
                }
                "next" => {
                    if v.is_empty() {
                        return Err(FilterError::Invalid {
                            name: k.clone(),
                            reason: "empty cursor".to_owned(),
                        });
                    }
                    f.next = Some(v.clone());
                }
                "match[id]" => f.ids = list(k, v)?,
                "match[type]" => f.types = list(k, v)?,
                "match[version]" => f.versions = parse_versions(v)?,
                _ => f.spec_versions = list(k, v)?,
            }
        }
        f.canonical = canonical.join("&");
        Ok(f)
    }

    /// The query string (without `?`) a client sends for this filter, `next` included;
    /// [`Filter::parse`] reads it back as the same filter. `canonical` is ignored, and so is
    /// a `match[version]` that selects nothing. List items cannot contain `,` (TAXII's list
    /// separator).
    pub fn to_query(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(t) = self.added_after {
            params.push(("added_after", time::format_micros(t)));
        }
        if let Some(n) = self.limit {
            params.push(("limit", n.to_string()));
        }
        for (name, items) in [("match[id]", &self.ids), ("match[type]", &self.types)] {
            if !items.is_empty() {
                params.push((name, items.join(",")));
            }
        }
        let v = &self.versions;
        if *v != VersionSelector::default() {
            let mut items: Vec<String> = Vec::new();
            if v.all {
                items.push("all".to_owned());
            } else {
                for (on, name) in [(v.first, "first"), (v.last, "last")] {
                    if on {
                        items.push(name.to_owned());
                    }
                }
                items.extend(v.exact.iter().map(|&t| time::format_micros(t)));
            }
            if !items.is_empty() {
                params.push(("match[version]", items.join(",")));
            }
        }
        if !self.spec_versions.is_empty() {
            params.push(("match[spec_version]", self.spec_versions.join(",")));
        }
        if let Some(n) = &self.next {
            params.push(("next", n.clone()));
        }
        let mut out = String::new();
        for (name, value) in params {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&escape(name));
            out.push('=');
            // Items stay separated by a literal `,`; each item is escaped.
            for (i, item) in value.split(',').enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&escape(item));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_filter() {
        let f = Filter::parse(
            "added_after=2021-01-01T00:00:00.000000Z&limit=5&match%5Bid%5D=a--1,b--2\
             &match[type]=indicator&match[version]=first,2021-01-01T00:00:00Z\
             &match[spec_version]=2.1&next=abc",
            Endpoint::Objects,
        )
        .unwrap();
        assert_eq!(f.added_after, Some(1_609_459_200_000_000));
        assert_eq!(f.limit, Some(5));
        assert_eq!(f.ids, vec!["a--1", "b--2"]);
        assert_eq!(f.types, vec!["indicator"]);
        assert!(f.versions.first && !f.versions.last && !f.versions.all);
        assert_eq!(f.versions.exact, vec![1_609_459_200_000_000]);
        assert_eq!(f.spec_versions, vec!["2.1"]);
        assert_eq!(f.next.as_deref(), Some("abc"));
        assert!(!f.canonical.contains("next"));
    }

    #[test]
    fn defaults_and_errors() {
        let f = Filter::parse("", Endpoint::Objects).unwrap();
        assert_eq!(f.versions, VersionSelector::default());
        assert_eq!(f.limit, None);
        for bad in [
            "limit=0",
            "limit=-1",
            "limit=x",
            "added_after=yesterday",
            "limit=1&limit=2",
            "match[version]=all,last",
            "match[version]=last,last",
            "match[type]=a,,b",
            "next=",
            "%zz=1",
        ] {
            assert!(Filter::parse(bad, Endpoint::Objects).is_err(), "{bad}");
        }
        assert!(Filter::parse("match[type]=x", Endpoint::Object).is_err());
        assert!(Filter::parse("limit=3", Endpoint::Delete).is_err());
        assert!(Filter::parse("match[version]=all", Endpoint::Versions).is_err());
        assert!(Filter::parse("match[foo]=1&bar=2", Endpoint::Versions).is_ok());
    }

    /// Found by the `taxii_query` fuzzer: `+` and escaped separators were written to the
    /// canonical form decoded, so different queries shared a canonical form (and a cursor).
    #[test]
    fn canonical_form_reads_back_as_the_same_filter() {
        for (a, b) in [
            ("match[id]=a+$", "match[id]=a%2B$"),
            ("match[id]=x&match[type]=y", "match[id]=x%26match[type]%3Dy"),
            ("match[id]=a%25", "match[id]=a%2525"),
        ] {
            let (fa, fb) = (
                Filter::parse(a, Endpoint::Objects).unwrap(),
                Filter::parse(b, Endpoint::Objects).unwrap(),
            );
            assert_ne!(fa, fb, "{a} / {b}");
            assert_ne!(fa.canonical, fb.canonical, "{a} / {b}");
            for f in [fa, fb] {
                assert_eq!(Filter::parse(&f.canonical, Endpoint::Objects).unwrap(), f);
            }
        }
    }

    #[test]
    fn to_query_is_read_back() {
        let f = Filter {
            added_after: Some(1_609_459_200_123_456),
            limit: Some(7),
            next: Some("a+b/c=".into()),
            ids: vec!["indicator--1".into(), "x&y=z".into()],
            types: vec!["indicator".into(), "sighting".into()],
            versions: VersionSelector::all(),
            spec_versions: vec!["2.1".into()],
            canonical: String::new(),
        };
        let q = f.to_query();
        assert!(q.contains("match%5Btype%5D=indicator,sighting"), "{q}");
        let back = Filter::parse(&q, Endpoint::Objects).unwrap();
        assert_eq!(
            Filter {
                canonical: String::new(),
                ..back
            },
            f
        );
        assert_eq!(Filter::default().to_query(), "");
    }

    proptest! {
        #[test]
        fn never_panics(q in "\\PC{0,80}") {
            let _ = Filter::parse(&q, Endpoint::Objects);
        }

        #[test]
        fn to_query_round_trips(
            after in proptest::option::of(0i64..4_000_000_000_000_000),
            limit in proptest::option::of(1u64..100_000),
            next in proptest::option::of("[^,]{1,12}"),
            ids in proptest::collection::btree_set("[^,]{1,10}", 0..3),
            first in any::<bool>(),
            last in any::<bool>(),
            exact in proptest::collection::btree_set(0i64..4_000_000_000_000_000, 0..2),
        ) {
            let versions = VersionSelector { all: false, first, last, exact: exact.into_iter().collect() };
            let selects = first || last || !versions.exact.is_empty();
            let f = Filter {
                added_after: after,
                limit,
                next,
                ids: ids.into_iter().collect(),
                types: Vec::new(),
                versions: if selects { versions } else { VersionSelector::default() },
                spec_versions: Vec::new(),
                canonical: String::new(),
            };
            let back = Filter::parse(&f.to_query(), Endpoint::Objects).unwrap();
            prop_assert_eq!(Filter { canonical: String::new(), ..back }, f);
        }

        #[test]
        fn canonical_round_trips(q in "[a-z=&%+,\\[\\]0-9A-F]{0,60}") {
            if let Ok(f) = Filter::parse(&q, Endpoint::Objects) {
                let again = Filter::parse(&f.canonical, Endpoint::Objects).unwrap();
                prop_assert_eq!(Filter { next: f.next.clone(), ..again }, f);
            }
        }
    }
}
