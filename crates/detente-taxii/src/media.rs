//! TAXII 2.1 media types (section 1.6.8) and the strict checks the node applies to them.

/// The TAXII 2.1 media type, used for every request and response body.
pub const TAXII_21: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type, used in collections' `media_types` and manifest records.
pub const STIX_21: &str = "application/stix+json;version=2.1";

/// One media range of a header: `type/subtype` and its `version` parameter, lower-cased.
fn parse_range(range: &str) -> (String, Option<String>) {
    let mut parts = range.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut version = None;
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("version")
        {
            version = Some(v.trim().trim_matches('"').to_owned());
        }
    }
    (essence, version)
}

/// Whether one media range names TAXII 2.1 (`version=2.1`, or no version meaning latest).
fn is_taxii21(range: &str) -> bool {
    let (essence, version) = parse_range(range);
    essence == "application/taxii+json" && version.as_deref().is_none_or(|v| v == "2.1")
}

/// Whether an `Accept` header asks for TAXII 2.1 in at least one of its ranges.
///
/// Strict on purpose: `*/*`, `application/json` and `version=2.0` alone are refused (406).
pub fn accept_allows_taxii(accept: &str) -> bool {
    accept.split(',').any(is_taxii21)
}

/// Whether a `Content-Type` header is TAXII 2.1 (the only body type a POST may carry).
pub fn content_type_is_taxii(content_type: &str) -> bool {
    !content_type.contains(',') && is_taxii21(content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_is_strict() {
        assert!(accept_allows_taxii(TAXII_21));
        assert!(accept_allows_taxii("application/taxii+json"));
        assert!(accept_allows_taxii("application/TAXII+json ; version=2.1"));
        assert!(accept_allows_taxii(
            "application/json, application/taxii+json;version=2.1"
        ));
        assert!(!accept_allows_taxii("application/json"));
        assert!(!accept_allows_taxii("*/*"));
        assert!(!accept_allows_taxii("application/xml"));
        assert!(!accept_allows_taxii("application/taxii+json;version=2.0"));
        assert!(!accept_allows_taxii(""));
    }

    #[test]
    fn content_type_is_strict() {
        assert!(content_type_is_taxii(TAXII_21));
        assert!(content_type_is_taxii("application/taxii+json; version=2.1"));
        assert!(!content_type_is_taxii("application/json"));
        assert!(!content_type_is_taxii(STIX_21));
        assert!(!content_type_is_taxii("application/taxii+json;version=2.0"));
    }
}
