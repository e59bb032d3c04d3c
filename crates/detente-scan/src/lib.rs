//! Detente's scanner: loads shared indicators (STIX 2.1, Zeek intel, MISP warninglists, the
//! JAR-16-20296 CSV), indexes them by type and matches them against logs (Zeek TSV/JSON, JSON
//! lines, Squid, CLF, syslog, plain text) with CIDR, subdomain and URL semantics.
//!
//! Per-process state: a per-thread buffer for URL keys (`index.rs`). It starts and configures
//! no thread pool: every parallel step runs on the rayon pool of its caller (`detente scan`
//! builds one, [`engine::scan_threads`] wide, and hands it over as [`Scanner::pool`]).

pub mod allowlist;
pub mod engine;
pub mod formats;
pub mod index;
pub mod norm;
pub mod sighting;
pub mod sources;
pub mod window;

pub use allowlist::{Action, Allowlist};
pub use detente_indicator::{DecayModel, Scoring};
pub use engine::{
    Events, FileStats, Finding, Hit, HostCheck, Log, ScanError, ScanOptions, Scanner,
};
pub use formats::Format;
pub use index::{Index, Indicator, MatchKind, Provenance, Value};
pub use window::{Took, Windows};
