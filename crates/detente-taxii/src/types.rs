//! TAXII 2.1 resources (sections 3.6.1, 4 and 5), serialised exactly as the spec names them.
//!
//! Optional properties are omitted when absent and lists are omitted when empty, because
//! TAXII forbids empty lists.

use serde::{Deserialize, Serialize};

/// The discovery resource (section 4.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Human-readable name of the server.
    pub title: String,
    /// Longer description.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// Contact information.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contact: Option<String>,
    /// The default API root; one of `api_roots`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub default: Option<String>,
    /// The API roots the caller may use, as relative URLs starting with one `/`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub api_roots: Vec<String>,
}

/// The API root resource (section 4.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRoot {
    /// Name of the API root.
    pub title: String,
    /// Longer description.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// Supported TAXII versions; always includes TAXII 2.1.
    pub versions: Vec<String>,
    /// The largest request body the root accepts, in bytes.
    pub max_content_length: u64,
}

/// The collection resource (section 5.2.1), as seen by one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    /// The collection id (a UUID).
    pub id: String,
    /// Human-readable name.
    pub title: String,
    /// Longer description.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// Alias unique within the API root.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alias: Option<String>,
    /// Whether this client may read objects.
    pub can_read: bool,
    /// Whether this client may add objects.
    pub can_write: bool,
    /// Media types of the objects held.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub media_types: Vec<String>,
}

/// The collections resource (section 5.1.1); `{}` when the client sees none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Collections {
    /// The collections visible to the client, in a stable order.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub collections: Vec<Collection>,
}

/// One manifest record (section 5.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    /// The object's id.
    pub id: String,
    /// When the server added this version (TAXII timestamp).
    pub date_added: String,
    /// The version (`modified`, else `created`, else `date_added`).
    pub version: String,
    /// The media type of the object.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub media_type: Option<String>,
}

/// The envelope resource (section 3.7): one page of objects, or the body of a POST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T = serde_json::Value> {
    /// Whether more objects are available.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub more: bool,
    /// The cursor to the next page, when `more`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next: Option<String>,
    /// The objects, oldest `date_added` first.
    #[serde(skip_serializing_if = "Vec::is_empty", default = "Vec::new")]
    pub objects: Vec<T>,
}

impl<T> Envelope<T> {
    /// An envelope of `objects` with no paging (what a client POSTs).
    pub fn of(objects: Vec<T>) -> Self {
        Envelope {
            more: false,
            next: None,
            objects,
        }
    }
}

/// The manifest resource (section 5.3.1): one page of manifest records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Manifest {
    /// Whether more records are available.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub more: bool,
    /// The cursor to the next page, when `more`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next: Option<String>,
    /// The records, oldest `date_added` first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub objects: Vec<ManifestRecord>,
}

/// The versions resource (section 5.8.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Versions {
    /// Whether more versions are available.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub more: bool,
    /// The cursor to the next page, when `more`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next: Option<String>,
    /// The versions, oldest `date_added` first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub versions: Vec<String>,
}

/// One status-details entry (section 4.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    /// The object's id.
    pub id: String,
    /// The object's version.
    pub version: String,
    /// Why it failed or is pending, or a note.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// The status resource (section 4.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The status id.
    pub id: String,
    /// `complete` or `pending`.
    pub status: String,
    /// When the request was received (TAXII timestamp).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_timestamp: Option<String>,
    /// Objects in the request.
    pub total_count: u64,
    /// Objects stored (or already present).
    pub success_count: u64,
    /// Objects stored.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub successes: Vec<StatusDetails>,
    /// Objects refused.
    pub failure_count: u64,
    /// Objects refused, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub failures: Vec<StatusDetails>,
    /// Objects not processed yet.
    pub pending_count: u64,
    /// Objects not processed yet.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub pendings: Vec<StatusDetails>,
}

/// The error resource (section 3.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// Short human-readable summary.
    pub title: String,
    /// Longer explanation, naming what was wrong.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// The HTTP status, as a string equal to the response's status code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub http_status: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_are_omitted() {
        assert_eq!(
            serde_json::to_string(&Collections::default()).unwrap(),
            "{}"
        );
        assert_eq!(serde_json::to_string(&Versions::default()).unwrap(), "{}");
        let s = Status {
            id: "x".into(),
            status: "complete".into(),
            request_timestamp: None,
            total_count: 0,
            success_count: 0,
            successes: vec![],
            failure_count: 0,
            failures: vec![],
            pending_count: 0,
            pendings: vec![],
        };
        let v = serde_json::to_value(&s).unwrap();
        assert!(v.get("successes").is_none() && v.get("failure_count").is_some());
        assert_eq!(serde_json::to_string(&Manifest::default()).unwrap(), "{}");
        let e: Envelope = Envelope::of(vec![]);
        assert_eq!(serde_json::to_string(&e).unwrap(), "{}");
    }

    #[test]
    fn envelope_reads_an_empty_page_and_paging() {
        let e: Envelope = serde_json::from_str("{}").unwrap();
        assert!(!e.more && e.next.is_none() && e.objects.is_empty());
        let e: Envelope =
            serde_json::from_str(r#"{"more":true,"next":"c1","objects":[{"id":"x"}]}"#).unwrap();
        assert!(e.more);
        assert_eq!(e.next.as_deref(), Some("c1"));
        assert_eq!(e.objects[0]["id"], "x");
    }
}
