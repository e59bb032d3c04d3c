//! TAXII 2.1 wire types, media types, timestamps and query filters.
//!
//! Pure: no I/O. The server builds its responses from these types and parses its requests
//! with [`media`] and [`filter`]; the client (`detente-taxii-client`) reads the same types and
//! writes its queries with [`Filter::to_query`].
//!
//! Per-process state: none.

pub mod filter;
pub mod media;
pub mod time;
mod types;

pub use filter::{Endpoint, Filter, FilterError, VersionSelector};
pub use types::{
    ApiRoot, Collection, Collections, Discovery, Envelope, ErrorMessage, Manifest, ManifestRecord,
    Status, StatusDetails, Versions,
};
