//! What several commands write the same way: one value alone on standard output, NDJSON
//! lines, warnings on standard error above a progress bar, the progress bar itself.

use std::io::{self, Write};

use anyhow::Context;

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

/// Prints one value alone on the last line of standard output.
pub fn print_value(value: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")
        .and_then(|()| out.flush())
        .context("couldn't write to standard output")
}

/// A progress bar on standard error (hidden when it is not a terminal).
pub fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = match len {
        Some(_) => "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg} ({per_sec})",
        None => "{spinner} [{elapsed_precise}] {pos} {msg} ({per_sec})",
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}
