//! MISP warninglists: the `list.json` format ([`Warninglist`]), the five list types (`string`,
//! `hostname`, `cidr`, `substring`, `regex`) matched with MISP's rules, and an action per list
//! (`inform` or `suppress`) ([`Matcher`]). Pure: callers hand in bytes and observed values.
//!
//! Per-process state: none.

pub mod format;
pub mod matcher;

pub use format::{ParseError, Warninglist};
pub use matcher::{Action, Entry, List, Matcher, REGEX_SIZE_LIMIT, Verdict, compile_pcre};
