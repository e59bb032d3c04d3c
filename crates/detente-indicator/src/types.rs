//! What indicators are once loaded, whatever their source: typed values normalised for lookup,
//! patterns for the pattern engine, and the provenance scores start from. The scanner's index
//! and sources, the reading of STIX objects and patterns, and the node's scores build on these
//! types.

use detente_observable::{Ip, Observable};

/// One comparison of a pattern: the value as written and its typed form.
pub type Comparison = (String, Value);

/// A typed indicator value, normalised for lookup.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// An address or CIDR block (`len` = full width for a single address).
    Net(Ip, u8),
    /// A domain; `subdomains` says whether names below it match too.
    Domain(String, bool),
    /// A URL in [`detente_observable::normalize_url`] form.
    Url(String),
    /// A lower-case hex digest.
    Hash(String),
    /// A lower-case e-mail address.
    Email(String),
    /// A pattern evaluated by the pattern engine on records its atoms select.
    Pattern,
}

/// One loaded indicator.
#[derive(Clone, Debug)]
pub struct Indicator {
    /// The STIX id (or a stable derived id for other sources).
    pub id: String,
    /// The value as written in the source (`evil.com`, `10.0.0.0/8`, `http://x/y`).
    pub written: String,
    /// The normalised value.
    pub value: Value,
    /// Who contributed it and how far it is trusted.
    pub provenance: Provenance,
}

impl Indicator {
    /// What corroboration counts the contributors of: the normalised value (`EVIL.com.` and
    /// `evil.com` are one), or for a pattern its text.
    pub fn claim(&self) -> (&Value, &str) {
        let text = if self.value == Value::Pattern {
            self.written.as_str()
        } else {
            ""
        };
        (&self.value, text)
    }
}

/// Where an indicator comes from and what its score starts from (see `docs/detection.md`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The contributing party: the STIX `created_by_ref` (for data pulled over TAXII, the
    /// contributing member's identity); `None` when the source does not say.
    pub contributor: Option<String>,
    /// The STIX `confidence` (0-100): the base score of the decay model when present.
    pub confidence: Option<u8>,
    /// Unix seconds from which the score decays: `modified`, else `created`, else `valid_from`.
    pub since: Option<i64>,
    /// Unix seconds of `valid_until`: from then on the indicator hits nothing.
    pub valid_until: Option<i64>,
    /// Distinct parties that reported the indicator as a false positive.
    pub false_positives: u32,
    /// Distinct contributors of the indicator's value its source attests (a detente node's
    /// `/scores/`, counted from the members its log names): the value counts at least this
    /// many; 0 when the source says nothing.
    pub attested: u32,
}

impl Value {
    /// The normalised text of a domain, URL, digest or e-mail value (empty for others): the
    /// scanner's lookup key of the text kinds.
    pub fn text(&self) -> &[u8] {
        match self {
            Value::Domain(t, _) | Value::Url(t) | Value::Hash(t) | Value::Email(t) => t.as_bytes(),
            Value::Net(..) | Value::Pattern => b"",
        }
    }

    /// Classifies a bare indicator value by its shape (used for untyped lists), as
    /// [`Observable::parse`] reads it.
    pub fn guess(s: &str, subdomains: bool) -> Option<Value> {
        Observable::parse(s).map(|o| Value::of(o, subdomains))
    }

    /// The scanner's form of an observable: its canonical text is the lookup key.
    pub fn of(o: Observable, subdomains: bool) -> Value {
        match o {
            Observable::Net(ip, len) => Value::Net(ip, len),
            Observable::Domain(d) => Value::Domain(d, subdomains),
            Observable::Url(u) => Value::Url(u),
            Observable::Email(e) => Value::Email(e),
            Observable::Hash(_, h) => Value::Hash(h),
        }
    }
}

/// A STIX indicator whose pattern needs the pattern engine.
#[derive(Clone, Debug)]
pub struct PatternIndicator {
    /// The STIX id.
    pub id: String,
    /// The pattern text.
    pub pattern: String,
    /// Equality tests of which every matching record holds one.
    pub atoms: Vec<Comparison>,
    /// Who contributed it and how far it is trusted.
    pub provenance: Provenance,
}
