//! The process's one pool of scan workers: `detente scan` and `detente lookalike` build it
//! at their start and hand it to the scanner (`detente_scan::Scanner::pool`), which builds none.

use anyhow::{Context, Result};

/// A rayon pool for reading logs: `RAYON_NUM_THREADS` workers when set, else
/// [`detente_scan::engine::scan_threads`].
pub fn scan_pool() -> Result<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        b = b.num_threads(detente_scan::engine::scan_threads());
    }
    b.build().context("starting the scan's worker threads")
}
