//! What several commands write the same way: NDJSON lines on standard output, warnings on
//! standard error above a progress bar.

use std::io::{self, Write};

use indicatif::ProgressBar;

/// Writes `value` as one NDJSON line; the first write error is kept in `error` (later lines
/// are still attempted, so a reader sees the error once, at the end).
pub fn write_ndjson<W: Write, T: serde::Serialize>(
    out: &mut W,
    value: &T,
    error: &mut Option<io::Error>,
) {
    let r = serde_json::to_writer(&mut *out, value)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"));
    if let Err(e) = r {
        error.get_or_insert(e);
    }
}

/// Prints a warning to standard error above the progress bar, if one is shown.
pub fn print_warning(bar: Option<&ProgressBar>, message: &str) {
    let print = || eprintln!("warning: {message}");
    match bar {
        Some(b) => b.suspend(print),
        None => print(),
    }
}
