//! Shared indicators as detente reads them, for the scanner (`detente-scan`) and the node's
//! per-reader scores (`detente-server`): typed indicator values and their provenance
//! ([`types`]), the reading of STIX indicators and false-positive sightings ([`object`]),
//! which patterns are plain values and which atoms select the records a pattern can match
//! ([`stix_pattern`]), and MISP's decaying score model with the counting of distinct parties
//! ([`score`], `docs/detection.md`).
//!
//! Pure: no I/O, and no clock (the time an indicator is judged at is passed in).
//! Per-process state: none.

#![forbid(unsafe_code)]

pub mod object;
pub mod score;
pub mod stix_pattern;
pub mod types;

pub use object::{LoadOptions, Reading, read_json};
pub use score::{DecayModel, Scoring};
pub use types::{Comparison, Indicator, PatternIndicator, Provenance, Value};
