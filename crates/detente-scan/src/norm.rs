//! The observable parsers the scanner matches with. Their one home is `detente-observable`
//! (canonical forms in `docs/observables.md`); they are re-exported here so the scanner's
//! modules and its users keep one path to them.

pub use detente_observable::*;
