//! The scan loop: large-buffer reads cut at line ends, chunks matched in parallel (rayon) with
//! per-chunk line numbering, results merged in order.

use std::net::{Ipv4Addr, Ipv6Addr};

use std::io::{self, Read};
use std::sync::Arc;

use crate::allowlist::{Allowlist, Entry};
use crate::formats::{self, Format, ZeekState};
use crate::index::{self, Index, Indicator, MatchKind};
use crate::norm::Ip;
use crate::window::{Candidate, Took, Windows};
use detente_indicator::Scoring;

/// Bytes per chunk handed to one worker: about a core's L2 cache, so the passes over it
/// (validation, matching) mostly hit it, yet few enough pieces that handing them between
/// threads costs little (measured against 512 KiB and 2 MiB).
const CHUNK: usize = 1 << 20;
/// The most a read reserves before it has seen that much input.
const FIRST_READ: usize = 8 << 10;
/// Longer lines are skipped with a warning.
pub const MAX_LINE: usize = 1 << 20;
/// Warnings kept per chunk and kind before they are only counted.
const WARN_CAP: usize = 5;

/// How many workers a scan's pool wants: one per core plus one, because the thread that reads
/// the logs is not a worker and keeps waking up to hand out pieces (measured: 6% faster on two
/// cores than a worker per core). The caller builds the pool ([`Scanner::pool`]); the scanner
/// configures no pool of its own and never the global one.
pub fn scan_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}

/// Options of one scan.
#[derive(Clone, Copy, Debug)]
pub struct ScanOptions {
    /// Log format (or auto-detection).
    pub format: Format,
    /// Keep reading at end of input, waiting for more (like `tail -f`).
    pub follow: bool,
    /// Distinct contributors an indicator value needs before its hits alert (fewer: `inform`);
    /// needs [`Index::count_contributors`] when above 1.
    pub min_corroboration: u32,
    /// The indicator score and the threshold below which hits are `inform`.
    pub scoring: Scoring,
    /// The year of RFC 3164 syslog times (which name none); by default each log's time of last
    /// write places them ([`formats::bsd_syslog_time_ms`]).
    pub syslog_year: Option<i32>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            format: Format::Auto,
            follow: false,
            min_corroboration: 1,
            scoring: Scoring::default(),
            syslog_year: None,
        }
    }
}

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A worker panicked (a bug): the scan stops rather than report partial results as whole.
    #[error("{file}: scanning stopped near line {line}: a worker panicked: {message}")]
    WorkerPanicked {
        /// The log being scanned.
        file: String,
        /// First line of the piece of the log the worker held.
        line: u64,
        /// The panic's message.
        message: String,
    },
}

/// Runs `f`, turning a panic into its message: a panicking worker must end the scan with an
/// error, never leave the reader waiting for a result that will not come.
pub fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic without a message".into())
    })
}

/// One hit, as reported.
#[derive(Debug)]
pub struct Hit<'a> {
    /// Log name as given.
    pub file: &'a str,
    /// 1-based line number, header lines counted.
    pub line: u64,
    /// Field (column, JSON key, or `text`) holding the value.
    pub field: &'a str,
    /// The observed value as written in the log.
    pub observed: &'a str,
    /// The indicator met.
    pub indicator: &'a Indicator,
    /// How it was met.
    pub kind: MatchKind,
    /// Report as `inform` rather than `alert` (allowlisted, uncorroborated or a low score).
    pub inform: bool,
    /// The allowlist entry the observed value meets, if any.
    pub allowlisted: Option<Entry<'a>>,
    /// The indicator's score (0-100) at scan time.
    pub score: f64,
    /// Distinct contributors of the indicator's value, when counted.
    pub contributors: Option<u32>,
    /// The record's own time (Unix milliseconds) when the format carries one.
    pub time_ms: Option<i64>,
    /// For a pattern across records: every record that took part, by time (empty otherwise).
    pub records: &'a [Took],
}

/// A check the scan runs, beside the indicators and in its workers, on the host name of every
/// value that names one, as [`crate::index::host_name`] reads it (`detente scan --protected`:
/// look-alikes of protected domains). The host comes from the typing the indicator lookup does
/// anyway, so the check reads no value twice.
pub trait HostCheck: Sync {
    /// Reports each finding on `host` as `found(key, label, score)`: what it concerns (e.g.
    /// which protected domain), how (e.g. the technique) and how strongly (0-1).
    fn check(&self, host: &[u8], found: &mut dyn FnMut(u32, &'static str, f32));
}

/// A [`HostCheck`] finding, as reported.
#[derive(Debug)]
pub struct Finding<'a> {
    /// Log name as given.
    pub file: &'a str,
    /// 1-based line number, header lines counted.
    pub line: u64,
    /// Field holding the value.
    pub field: &'a str,
    /// The value as written in the log.
    pub observed: &'a str,
    /// What it concerns, as the check numbers it.
    pub key: u32,
    /// How, as the check names it.
    pub label: &'static str,
    /// How strongly (0-1).
    pub score: f32,
    /// The record's own time (Unix milliseconds) when the format carries one.
    pub time_ms: Option<i64>,
}

/// Receives a scan's results in input order.
pub trait Events {
    /// A hit.
    fn hit(&mut self, hit: &Hit<'_>);
    /// A finding of the scan's [`HostCheck`].
    fn finding(&mut self, _finding: &Finding<'_>) {}
    /// A problem with the input; the scan goes on.
    fn warning(&mut self, message: &str);
    /// Bytes consumed so far: in all the logs of [`Scanner::scan_logs`], in this log for
    /// [`Scanner::each_value`] (called after every batch).
    fn progress(&mut self, _bytes: u64) {}
}

/// Totals for one log.
#[derive(Debug, Default, Clone)]
pub struct FileStats {
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Lines seen.
    pub lines: u64,
    /// Hits reported.
    pub hits: u64,
    /// Problems reported.
    pub warnings: u64,
    /// The format used.
    pub format: &'static str,
}

/// Matches logs against an index and an optional allowlist.
pub struct Scanner<'a> {
    /// Indicators.
    pub index: &'a Index,
    /// Allowlist: hits whose observed value meets it become `inform` or are dropped.
    pub allow: Option<&'a Allowlist>,
    /// Options.
    pub opts: ScanOptions,
    /// The workers that match pieces of a log; the thread calling [`Scanner::scan`] reads the
    /// log and hands them out. Built by the caller, once per process ([`scan_threads`] wide).
    pub pool: &'a rayon::ThreadPool,
}

#[derive(Clone)]
enum Mode {
    Zeek(ZeekState),
    Json,
    Squid,
    Clf,
    /// With the reference instant for RFC 3164 years (Unix ms).
    Syslog(i64),
    Text,
}

enum Piece {
    Data(Vec<u8>),
    /// A line longer than a chunk, skipped; holds its length.
    Overlong(usize),
}

struct RawHit {
    line: u64,
    field: Box<str>,
    observed: Box<str>,
    ind: u32,
    kind: MatchKind,
    inform: bool,
    allowlisted: Option<u32>,
    score: f64,
    time_ms: Option<i64>,
}

/// A record selected by cross-record patterns' atoms, for the windows (in input order).
struct CrossRecord {
    line: u64,
    time_ms: Option<i64>,
    objects: Arc<Vec<serde_json::Value>>,
    /// (pattern, field, observed) per pattern whose atoms selected it.
    patterns: Vec<(u32, Box<str>, Box<str>)>,
}

struct RawFinding {
    line: u64,
    field: Box<str>,
    observed: Box<str>,
    key: u32,
    label: &'static str,
    score: f32,
    time_ms: Option<i64>,
}

#[derive(Default)]
struct ChunkOut {
    lines: u64,
    hits: Vec<RawHit>,
    findings: Vec<RawFinding>,
    cross: Vec<CrossRecord>,
    warnings: Vec<(u64, String)>,
    suppressed: u64,
}

/// Cuts a byte stream into newline-aligned chunks.
struct Chunker<R> {
    inner: R,
    carry: Vec<u8>,
    pool: Vec<Vec<u8>>,
    eof: bool,
    follow: bool,
    error: Option<io::Error>,
    bytes: u64,
}

impl<R: Read> Chunker<R> {
    fn new(inner: R, follow: bool) -> Self {
        Chunker {
            inner,
            carry: Vec::new(),
            pool: Vec::new(),
            eof: false,
            follow,
            error: None,
            bytes: 0,
        }
    }

    /// Reads until `buf` holds `limit` bytes or input ends; returns bytes added.
    fn fill(&mut self, buf: &mut Vec<u8>, limit: usize) -> usize {
        let start = buf.len();
        let want = limit.saturating_sub(start);
        if want == 0 {
            return 0;
        }
        // A small input must not cost a whole chunk (a 1 MiB allocation per scan was most of
        // the time of scanning short logs): reserve at most FIRST_READ and let `read_to_end`
        // grow the buffer, which the pool keeps, so a big input pays the growth once.
        buf.reserve(want.min(FIRST_READ));
        // `read_to_end` fills spare capacity without zeroing it first (unlike `resize` + `read`).
        let r = (&mut self.inner).take(want as u64).read_to_end(buf);
        let n = buf.len() - start;
        match r {
            Ok(0) if !self.follow => self.eof = true,
            Ok(_) => {}
            Err(e) => {
                self.error = Some(e);
                self.eof = true;
            }
        }
        self.bytes += n as u64;
        n
    }

    /// The next piece, or `None` at end of input (or, when following, when no data is ready).
    fn next_piece(&mut self) -> Option<Piece> {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.append(&mut self.carry);
        loop {
            // A chunk without a line end grows until the line ends or exceeds MAX_LINE.
            let limit = if buf.len() < CHUNK {
                CHUNK
            } else {
                buf.len() + CHUNK
            };
            let added = if self.eof {
                0
            } else {
                self.fill(&mut buf, limit)
            };
            if let Some(p) = memchr::memrchr(b'\n', &buf) {
                self.carry.extend_from_slice(&buf[p + 1..]);
                buf.truncate(p + 1);
                return Some(Piece::Data(buf));
            }
            if self.eof {
                return if buf.is_empty() {
                    None
                } else {
                    Some(Piece::Data(buf))
                };
            }
            if added == 0 {
                // Following: keep the partial line until its end arrives.
                self.carry = buf;
                return None;
            }
            if buf.len() > MAX_LINE + 1 {
                return Some(self.skip_overlong(buf));
            }
        }
    }

    /// Discards the rest of a line that does not fit in a chunk.
    fn skip_overlong(&mut self, mut buf: Vec<u8>) -> Piece {
        let mut len = buf.len();
        loop {
            buf.clear();
            if self.fill(&mut buf, CHUNK) == 0 && self.eof {
                return Piece::Overlong(len);
            }
            if let Some(p) = memchr::memchr(b'\n', &buf) {
                self.carry.extend_from_slice(&buf[p + 1..]);
                self.pool.push(buf);
                return Piece::Overlong(len + p);
            }
            len += buf.len();
        }
    }
}

/// Opens a log when the scan first reads from it.
pub type Opener<'r> = Box<dyn FnOnce() -> io::Result<Box<dyn Read + 'r>> + 'r>;

/// One log of a scan: its name, how to open it, and when it was last written.
pub struct Log<'r> {
    /// Reported as hits' `file`.
    pub name: String,
    /// Opens it, when the scan first reads from it.
    pub open: Opener<'r>,
    /// When it was last written (Unix ms; its file's mtime): the reference that places RFC 3164
    /// syslog times in a year, unless [`ScanOptions::syslog_year`] names the year.
    pub modified_ms: Option<i64>,
}

impl<'r> Log<'r> {
    /// A log read from `reader`, with no time of last write.
    pub fn from_reader(name: &str, reader: impl Read + 'r) -> Log<'r> {
        Log {
            name: name.to_string(),
            open: Box::new(move || Ok(Box::new(reader) as Box<dyn Read + 'r>)),
            modified_ms: None,
        }
    }
}

/// The last lines of a piece [`last_time`] looks at for a time.
const LAST_TIME_LINES: usize = 16;

/// A log being read: its reader, format and how far it has got.
struct Source<'r> {
    name: Arc<str>,
    open: Option<Opener<'r>>,
    ch: Option<Chunker<Box<dyn Read + 'r>>>,
    /// No more to read (end of input, or it could not be opened).
    eof: bool,
    /// Its results are all emitted and reported.
    finished: bool,
    syslog_reference_ms: i64,
    mode: Option<Mode>,
    line_base: u64,
    stats: FileStats,
    /// Pieces sent to the workers and not yet emitted.
    in_flight: u64,
    /// Latest record time in the pieces read / emitted so far (see [`Merge`]).
    read_bound: Option<i64>,
    emit_bound: Option<i64>,
    /// Records selected by cross-record patterns that carry no time.
    untimed: u64,
}

impl Source<'_> {
    /// Bytes read from it so far.
    fn bytes(&self) -> u64 {
        self.ch.as_ref().map_or(self.stats.bytes, |c| c.bytes)
    }
}

/// A record selected by a cross-record pattern, waiting for its turn in time order.
struct Pending {
    time_ms: i64,
    src: usize,
    seq: u64,
    pattern: u32,
    candidate: Candidate,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.time_ms, self.src, self.seq).cmp(&(o.time_ms, o.src, o.seq))
    }
}

/// The k-way merge of several logs' selected records by time, in front of the windows. Each
/// log is taken to be in time order: a record of log `s` at time `t` goes to the windows once
/// every other unfinished log has been emitted up to a record at `t` or later, so records
/// reach the windows in time order across logs (ties: by log, then line). A log's own records
/// never wait for each other (its disorder is the windows' to tolerate), so one log alone is
/// never held. The scan reads next from the log that has got least far, so what waits here is
/// about a piece's worth per log.
#[derive(Default)]
struct Merge {
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Pending>>,
    seq: u64,
}

/// A cross-record hit, ready to report.
struct CrossHit {
    src: usize,
    took: Took,
    pattern: u32,
    verdict: Verdict,
    records: Vec<Took>,
}

impl Merge {
    fn push(&mut self, src: usize, time_ms: i64, pattern: u32, candidate: Candidate) {
        self.seq += 1;
        self.heap.push(std::cmp::Reverse(Pending {
            time_ms,
            src,
            seq: self.seq,
            pattern,
            candidate,
        }));
    }

    /// Offers the windows every record no unfinished log can still precede.
    fn release(
        &mut self,
        scanner: &Scanner<'_>,
        sources: &[Source<'_>],
        windows: &mut Windows,
    ) -> Vec<CrossHit> {
        let mut hits = Vec::new();
        while let Some(std::cmp::Reverse(top)) = self.heap.peek() {
            let ready = sources.iter().enumerate().all(|(i, s)| {
                i == top.src || s.finished || s.emit_bound.is_some_and(|b| b >= top.time_ms)
            });
            if !ready {
                break;
            }
            let Some(std::cmp::Reverse(p)) = self.heap.pop() else {
                break;
            };
            let took = p.candidate.took.clone();
            let Some(records) = windows.offer(p.pattern, p.candidate) else {
                continue;
            };
            let verdict = judge(
                scanner.index,
                scanner.allow,
                &scanner.opts,
                &scanner.opts.scoring,
                p.pattern,
                took.observed.as_bytes(),
            );
            if let Some(verdict) = verdict {
                hits.push(CrossHit {
                    src: p.src,
                    took,
                    pattern: p.pattern,
                    verdict,
                    records,
                });
            }
        }
        hits
    }
}

impl Scanner<'_> {
    /// Scans one log; `name` is reported as the hit's `file`. Cross-record patterns see this
    /// log alone; [`Scanner::scan_with`] carries their windows from log to log.
    pub fn scan<R: Read + Send>(
        &self,
        name: &str,
        reader: R,
        ev: &mut dyn Events,
    ) -> Result<FileStats, ScanError> {
        self.scan_with(name, reader, ev, &mut Windows::new(self.index), None)
    }

    /// Scans one log, cross-record patterns evaluated in `windows` (made from this scanner's
    /// index with [`Windows::new`]), which go on from the logs scanned before; `check`, if
    /// given, runs on every value too.
    pub fn scan_with<R: Read + Send>(
        &self,
        name: &str,
        reader: R,
        ev: &mut dyn Events,
        windows: &mut Windows,
        check: Option<&dyn HostCheck>,
    ) -> Result<FileStats, ScanError> {
        let stats = self.scan_logs(vec![Log::from_reader(name, reader)], ev, windows, check)?;
        Ok(stats.into_iter().next().unwrap_or_default())
    }

    /// The reference instant for RFC 3164 years: that of [`ScanOptions::syslog_year`], else
    /// the log's last write, else the scan's clock.
    fn syslog_reference_ms(&self, modified_ms: Option<i64>) -> i64 {
        match self.opts.syslog_year {
            Some(y) => formats::end_of_year_ms(y),
            None => modified_ms.unwrap_or(self.opts.scoring.now.saturating_mul(1000)),
        }
    }

    /// Scans several logs; returns each one's totals, in the order given. Without cross-record
    /// patterns (or with one log) they are read one after the other. With them, the logs are
    /// read together, merged by record time: the next piece comes from the log whose records
    /// have got least far (a log whose pieces carry no time yet goes first), and the records
    /// the patterns select reach `windows` in time order across logs ([`Merge`]); hits are
    /// reported as the pieces are, so the logs' hits interleave.
    pub fn scan_logs<'r>(
        &self,
        logs: Vec<Log<'r>>,
        ev: &mut dyn Events,
        windows: &mut Windows,
        check: Option<&dyn HostCheck>,
    ) -> Result<Vec<FileStats>, ScanError> {
        let merging = logs.len() > 1 && !windows.is_empty();
        let mut sources: Vec<Source<'r>> = logs
            .into_iter()
            .map(|l| Source {
                name: l.name.as_str().into(),
                open: Some(l.open),
                ch: None,
                eof: false,
                finished: false,
                syslog_reference_ms: self.syslog_reference_ms(l.modified_ms),
                mode: None,
                line_base: 0,
                stats: FileStats {
                    format: self.opts.format.as_str(),
                    ..FileStats::default()
                },
                in_flight: 0,
                read_bound: None,
                emit_bound: None,
                untimed: 0,
            })
            .collect();
        let mut merge = Merge::default();
        // Buffers of emitted pieces, for the next reads of any log.
        let mut pool: Vec<Vec<u8>> = Vec::new();
        // Pieces are read here and matched by the pool as they come, with no batch barrier: a
        // thread that finishes early takes the next piece. Results are emitted in the order
        // read; at most `window` pieces (1 MiB each) are in flight, which bounds memory.
        let window = self.pool.current_num_threads().max(1) as u64 * 6;
        type Done = (u64, usize, Option<i64>, Result<ChunkOut, String>, Piece);
        let (tx, rx) = std::sync::mpsc::channel::<Done>();
        let mut done: std::collections::BTreeMap<u64, (usize, Option<i64>, ChunkOut, Piece)> =
            Default::default();
        let (mut sent, mut emitted) = (0u64, 0u64);
        let mut panicked: Option<(usize, String)> = None;
        // On the only thread of a one-thread pool (a scan inside that pool's `install`), a
        // spawned piece would wait for this very thread, blocked below on the channel: the
        // pieces are matched here instead. Anywhere else (every real scan) the pool does it.
        let here =
            self.pool.current_thread_index().is_some() && self.pool.current_num_threads() == 1;
        self.pool.in_place_scope(|scope| {
            while panicked.is_none() {
                // Emit every finished piece that is next in order.
                while let Some((k, last, out, piece)) = done.remove(&emitted) {
                    let src = &mut sources[k];
                    src.in_flight -= 1;
                    let base = src.line_base;
                    src.line_base += out.lines;
                    let mut selected = Vec::new();
                    for c in &out.cross {
                        let Some(time_ms) = c.time_ms else {
                            src.untimed += 1;
                            continue;
                        };
                        for (p, field, observed) in &c.patterns {
                            let took = Took {
                                file: src.name.clone(),
                                line: base + c.line,
                                time_ms,
                                field: field.clone(),
                                observed: observed.clone(),
                            };
                            let objects = c.objects.clone();
                            selected.push((time_ms, *p, Candidate { took, objects }));
                        }
                    }
                    // One at a time, so a log's own records go on in its order; the log has
                    // got as far as the piece's end only once all of them wait.
                    let mut cross = Vec::new();
                    for (time_ms, p, candidate) in selected {
                        merge.push(k, time_ms, p, candidate);
                        cross.extend(merge.release(self, &sources, windows));
                    }
                    if last.is_some() {
                        sources[k].emit_bound = sources[k].emit_bound.max(last);
                        cross.extend(merge.release(self, &sources, windows));
                    }
                    self.emit(k, base, &out, &mut sources, ev, cross);
                    if let Piece::Data(buf) = piece {
                        pool.push(buf);
                    }
                    emitted += 1;
                    if sources[k].eof && sources[k].in_flight == 0 {
                        self.finish(k, &mut sources, &mut merge, windows, merging, ev);
                    }
                    ev.progress(sources.iter().map(Source::bytes).sum());
                }
                let pick = if sent - emitted >= window {
                    None
                } else {
                    // Logs not yet read through: the one that has got least far when merging
                    // (`None` first), else the first.
                    sources
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| !s.eof)
                        .min_by_key(|(i, s)| {
                            if merging {
                                (s.read_bound.is_some(), s.read_bound, *i)
                            } else {
                                (false, None, *i)
                            }
                        })
                        .map(|(i, _)| i)
                };
                let mut piece = None;
                if let Some(k) = pick {
                    let src = &mut sources[k];
                    if let Some(open) = src.open.take() {
                        match open() {
                            Ok(r) => src.ch = Some(Chunker::new(r, self.opts.follow)),
                            Err(e) => {
                                src.stats.warnings += 1;
                                ev.warning(&format!("{}: cannot open: {e}", src.name));
                                self.finish(k, &mut sources, &mut merge, windows, merging, ev);
                                continue;
                            }
                        }
                    }
                    let Some(ch) = src.ch.as_mut() else {
                        self.finish(k, &mut sources, &mut merge, windows, merging, ev);
                        continue;
                    };
                    if ch.pool.is_empty()
                        && let Some(buf) = pool.pop()
                    {
                        ch.pool.push(buf);
                    }
                    piece = ch.next_piece();
                    if piece.is_none() && ch.eof {
                        src.eof = true;
                        src.stats.bytes = ch.bytes;
                        if src.in_flight == 0 {
                            self.finish(k, &mut sources, &mut merge, windows, merging, ev);
                        }
                        continue;
                    }
                }
                let (Some(k), Some(piece)) = (pick, piece) else {
                    if sent > emitted {
                        // Full window, or input paused: wait for a result.
                        match rx.recv() {
                            Ok((n, k, last, Ok(out), piece)) => {
                                done.insert(n, (k, last, out, piece));
                            }
                            // The pieces still out finish before the scope ends; their
                            // results are not wanted.
                            Ok((_, k, _, Err(message), _)) => panicked = Some((k, message)),
                            Err(_) => break,
                        }
                        continue;
                    }
                    if sources.iter().all(|s| s.eof) {
                        break;
                    }
                    // Following a file that has not grown: wait for more.
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    continue;
                };
                let src = &mut sources[k];
                let m = match &src.mode {
                    Some(m) => m.clone(),
                    None => {
                        let m = self.initial_mode(
                            &piece,
                            &src.name,
                            src.syslog_reference_ms,
                            &mut src.stats,
                            ev,
                        );
                        src.mode = Some(m.clone());
                        m
                    }
                };
                // Header lines inside this piece change the schema for the pieces after it.
                if let (Piece::Data(buf), Some(Mode::Zeek(st))) = (&piece, src.mode.as_mut()) {
                    advance_zeek_state(st, buf);
                }
                let last = match (&piece, &src.mode) {
                    (Piece::Data(buf), Some(mode)) if merging => last_time(mode, buf),
                    _ => None,
                };
                if last.is_some() {
                    src.read_bound = src.read_bound.max(last);
                }
                src.in_flight += 1;
                let (tx, n) = (tx.clone(), sent);
                let work = move || {
                    let out = caught(|| self.process(&piece, &m, check));
                    // The receiver lives until every piece is back.
                    let _ = tx.send((n, k, last, out, piece));
                };
                if here {
                    work();
                } else {
                    scope.spawn(move |_| work());
                }
                sent += 1;
            }
        });
        if let Some((k, message)) = panicked {
            return Err(ScanError::WorkerPanicked {
                file: sources[k].name.to_string(),
                line: sources[k].line_base + 1,
                message,
            });
        }
        for k in 0..sources.len() {
            if !sources[k].finished {
                self.finish(k, &mut sources, &mut merge, windows, merging, ev);
            }
        }
        if merging {
            // Problems of the patterns' windows, over the logs merged.
            let first = sources.first().map_or("", |s| &s.name).to_string();
            let label = format!("{first} and {} more logs merged by time", sources.len() - 1);
            let mut stats = sources.first_mut().map(|s| &mut s.stats);
            for problem in windows.problems(self.index) {
                if let Some(st) = stats.as_mut() {
                    st.warnings += 1;
                }
                ev.warning(&format!("{label}: {problem}"));
            }
        }
        Ok(sources.into_iter().map(|s| s.stats).collect())
    }

    /// Reports a log read through and emitted: its untimed records, its windows' problems
    /// (when logs are read one after the other), a read error; releases what it held back.
    fn finish(
        &self,
        k: usize,
        sources: &mut [Source<'_>],
        merge: &mut Merge,
        windows: &mut Windows,
        merging: bool,
        ev: &mut dyn Events,
    ) {
        sources[k].finished = true;
        sources[k].eof = true;
        // Nothing of this log is still to come: what waited for it can go.
        let cross = merge.release(self, sources, windows);
        self.emit_cross(cross, sources, ev);
        let src = &mut sources[k];
        let name = src.name.clone();
        let mut problems = Vec::new();
        if src.untimed > 0 {
            problems.push(format!(
                "{} records selected by cross-record patterns carry no time and were not evaluated",
                src.untimed
            ));
        }
        if !merging {
            problems.extend(windows.problems(self.index));
        }
        for problem in problems {
            src.stats.warnings += 1;
            ev.warning(&format!("{name}: {problem}"));
        }
        if let Some(mut ch) = src.ch.take() {
            src.stats.bytes = ch.bytes;
            if let Some(e) = ch.error.take() {
                src.stats.warnings += 1;
                ev.warning(&format!(
                    "{name}: read error after {} bytes (line {}): {e}",
                    ch.bytes,
                    src.line_base + 1
                ));
            }
        }
        src.stats.lines = src.line_base;
    }

    /// Runs the compiled matcher on a record selected by complex-pattern atoms.
    fn evaluate_patterns(
        &self,
        mode: &Mode,
        line: &[u8],
        n: u64,
        scratch: &mut Vec<u8>,
        sink: &mut Sink<'_>,
    ) {
        let (cross, candidates): (Vec<_>, Vec<_>) = std::mem::take(&mut sink.candidates)
            .into_iter()
            .partition(|c| self.index.is_cross(c.0));
        let mut vals: Vec<Vec<u8>> = Vec::new();
        let _ = values(
            mode,
            line,
            None,
            self.index.has_urls(),
            scratch,
            &mut |_, v| vals.push(v.to_vec()),
        );
        let objects = record_objects(&vals);
        if !candidates.is_empty() {
            let bundle = record_bundle(objects.clone());
            for p in self.index.patterns_matching(&bundle) {
                if let Some((_, field, observed)) = candidates.iter().find(|c| c.0 == p) {
                    sink.record_pattern(n, field, observed, p);
                }
            }
        }
        if !cross.is_empty() {
            sink.out.cross.push(CrossRecord {
                line: n,
                time_ms: record_time(mode, line),
                objects: Arc::new(objects),
                patterns: cross,
            });
        }
    }

    fn initial_mode(
        &self,
        piece: &Piece,
        name: &str,
        syslog_reference_ms: i64,
        stats: &mut FileStats,
        ev: &mut dyn Events,
    ) -> Mode {
        let data: &[u8] = match piece {
            Piece::Data(b) => b,
            Piece::Overlong(_) => b"",
        };
        let first = data
            .split(|c| *c == b'\n')
            .find(|l| !l.trim_ascii().is_empty())
            .unwrap_or_default();
        let fmt = match self.opts.format {
            Format::Auto => Format::detect(first),
            f => f,
        };
        stats.format = fmt.as_str();
        match fmt {
            Format::Zeek => {
                if !first.starts_with(b"#") {
                    stats.warnings += 1;
                    ev.warning(&format!("{name}:1: Zeek log without #fields header; falling back to token extraction"));
                    stats.format = "text";
                    return Mode::Text;
                }
                Mode::Zeek(ZeekState::default())
            }
            Format::ZeekJson | Format::Jsonl => Mode::Json,
            Format::Squid => Mode::Squid,
            Format::Clf => Mode::Clf,
            Format::Syslog => Mode::Syslog(syslog_reference_ms),
            Format::Text | Format::Auto => {
                if formats::looks_like_headless_zeek(first) {
                    stats.warnings += 1;
                    ev.warning(&format!("{name}:1: looks like a Zeek log but has no #fields header; using token extraction"));
                }
                Mode::Text
            }
        }
    }

    /// Reports one piece's results in line order, with the cross-record hits the merge released
    /// on its account (those of other logs first: their records are older).
    fn emit(
        &self,
        k: usize,
        base: u64,
        out: &ChunkOut,
        sources: &mut [Source<'_>],
        ev: &mut dyn Events,
        cross: Vec<CrossHit>,
    ) {
        let (own, other): (Vec<_>, Vec<_>) = cross.into_iter().partition(|c| c.src == k);
        self.emit_cross(other, sources, ev);
        let src = &mut sources[k];
        let file = src.name.clone();
        let name: &str = &file;
        let stats = &mut src.stats;
        for (line, w) in &out.warnings {
            stats.warnings += 1;
            ev.warning(&format!("{name}:{}: {w}", base + line));
        }
        if out.suppressed > 0 {
            stats.warnings += out.suppressed;
            ev.warning(&format!(
                "{name}: {} more problem lines near line {} not shown",
                out.suppressed,
                base + 1
            ));
        }
        // Cross-record hits of this log and the piece's own hits are merged by line.
        let mut cross = own.into_iter().peekable();
        let mut emit_cross = |upto: u64, stats: &mut FileStats, ev: &mut dyn Events| {
            while let Some(c) = cross.next_if(|c| c.took.line <= upto) {
                self.report_cross(&c, stats, ev);
            }
        };
        let mut findings = out.findings.iter().peekable();
        let mut emit_findings = |upto: u64, ev: &mut dyn Events| {
            while let Some(f) = findings.next_if(|f| base + f.line <= upto) {
                ev.finding(&Finding {
                    file: name,
                    line: base + f.line,
                    field: &f.field,
                    observed: &f.observed,
                    key: f.key,
                    label: f.label,
                    score: f.score,
                    time_ms: f.time_ms,
                });
            }
        };
        for h in &out.hits {
            emit_findings(base + h.line, ev);
            emit_cross(base + h.line, stats, ev);
            stats.hits += 1;
            ev.hit(&Hit {
                file: name,
                line: base + h.line,
                field: &h.field,
                observed: &h.observed,
                indicator: self.index.indicator(h.ind),
                kind: h.kind,
                inform: h.inform,
                allowlisted: h.allowlisted.and_then(|e| self.allow.map(|a| a.entry(e))),
                score: h.score,
                contributors: self.index.contributors(h.ind),
                time_ms: h.time_ms,
                records: &[],
            });
        }
        emit_findings(u64::MAX, ev);
        emit_cross(u64::MAX, stats, ev);
    }

    /// Reports cross-record hits, each counted to the log of the record that completed it.
    fn emit_cross(&self, cross: Vec<CrossHit>, sources: &mut [Source<'_>], ev: &mut dyn Events) {
        for c in cross {
            if let Some(src) = sources.get_mut(c.src) {
                self.report_cross(&c, &mut src.stats, ev);
            }
        }
    }

    fn report_cross(&self, c: &CrossHit, stats: &mut FileStats, ev: &mut dyn Events) {
        stats.hits += 1;
        let v = &c.verdict;
        ev.hit(&Hit {
            file: &c.took.file,
            line: c.took.line,
            field: &c.took.field,
            observed: &c.took.observed,
            indicator: self.index.indicator(c.pattern),
            kind: MatchKind::Pattern,
            inform: v.inform,
            allowlisted: v.allowlisted.and_then(|e| self.allow.map(|a| a.entry(e))),
            score: v.score,
            contributors: self.index.contributors(c.pattern),
            time_ms: Some(c.took.time_ms),
            records: &c.records,
        });
    }

    fn process(&self, piece: &Piece, mode: &Mode, check: Option<&dyn HostCheck>) -> ChunkOut {
        let mut scoring = self.opts.scoring;
        if self.opts.follow {
            // A followed log may be read for days: scores and validity go by the clock.
            scoring.now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(scoring.now, |d| {
                    i64::try_from(d.as_secs()).unwrap_or(scoring.now)
                });
        }
        let mut sink = Sink {
            ix: self.index,
            candidates: Vec::new(),
            allow: self.allow,
            opts: &self.opts,
            scoring,
            out: ChunkOut::default(),
            start: 0,
            check,
            fstart: 0,
        };
        let buf = match piece {
            Piece::Overlong(len) => {
                sink.warn(
                    1,
                    format!("line of {len} bytes exceeds the {MAX_LINE}-byte limit; skipped"),
                );
                sink.out.lines = 1;
                return sink.out;
            }
            Piece::Data(b) => b.as_slice(),
        };
        // One validation pass per chunk; only a failing chunk is examined line by line.
        let clean = ascii_without_nul(buf)
            || (std::str::from_utf8(buf).is_ok() && memchr::memchr(0, buf).is_none());
        let mut mode = mode.clone();
        let rebuild = self.index.has_urls();
        let mut scratch = Vec::new();
        let mut n: u64 = 0;
        let mut start = 0;
        // Zeek TSV: one pass over the chunk finds line ends and field separators together;
        // `seps[..nseps]` holds the current line's separator offsets.
        let mut seps: Vec<u32> = Vec::new();
        let mut nseps = 0;
        let mut scan: Option<formats::Seps<'_>> = None;
        let mut scan_sep = 0u8;
        let mut memo = formats::ColumnMemo::default();
        while start < buf.len() {
            let end = match &mode {
                Mode::Zeek(st) if st.sep != b'\n' => {
                    let sc = match &mut scan {
                        Some(sc) if scan_sep == st.sep => sc,
                        _ => {
                            scan_sep = st.sep;
                            scan.insert(formats::Seps::new(buf, start, st.sep, b'\n'))
                        }
                    };
                    let (end, count) = sc.line(start, &mut seps);
                    nseps = count;
                    end
                }
                _ => {
                    scan = None;
                    memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |p| start + p)
                }
            };
            let raw = &buf[start..end];
            start = end + 1;
            n += 1;
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.len() > MAX_LINE {
                sink.warn(
                    n,
                    format!(
                        "line of {} bytes exceeds the {MAX_LINE}-byte limit; skipped",
                        line.len()
                    ),
                );
                continue;
            }
            if !clean {
                if memchr::memchr(0, line).is_some() {
                    sink.warn(n, "binary data (NUL bytes) in line".into());
                } else if std::str::from_utf8(line).is_err() {
                    sink.warn(n, "invalid UTF-8 in line".into());
                }
            }
            if line.is_empty() {
                continue;
            }
            sink.start = sink.out.hits.len();
            sink.fstart = sink.out.findings.len();
            if let Mode::Zeek(st) = &mut mode {
                if line[0] == b'#' {
                    if let Err(e) = st.header_line(line) {
                        sink.warn(n, format!("bad Zeek header: {e}"));
                    }
                    memo.clear();
                    continue;
                }
                if st.schema.is_none() {
                    let msg = "Zeek data line before any #fields header; using token extraction";
                    sink.warn(n, msg.into());
                }
            }
            let line_seps = scan.is_some().then(|| &seps[..nseps.min(seps.len())]);
            let r = values_memo(
                &mode,
                line,
                line_seps,
                rebuild,
                &mut scratch,
                Some(&mut memo),
                &mut |f, v| sink.observe(n, f, v),
            );
            if let Err(e) = r {
                sink.warn(n, format!("invalid JSON ({e})"));
            }
            if !sink.candidates.is_empty() {
                self.evaluate_patterns(&mode, line, n, &mut scratch, &mut sink);
            }
            // Only lines with hits pay for reading their timestamp.
            if sink.out.hits.len() > sink.start || sink.out.findings.len() > sink.fstart {
                let t = record_time(&mode, line);
                sink.out.hits[sink.start..]
                    .iter_mut()
                    .for_each(|h| h.time_ms = t);
                sink.out.findings[sink.fstart..]
                    .iter_mut()
                    .for_each(|f| f.time_ms = t);
            }
        }
        sink.out.lines = n;
        sink.out
    }
}

impl Scanner<'_> {
    /// Reads one log as [`Scanner::scan`] does (format detection, Zeek headers, JSON lines,
    /// syslog, …), but in order on this thread, handing every value to `f(line, field, value)`
    /// instead of matching it: for checks that type values themselves (`detente lookalike`).
    pub fn each_value<R: Read>(
        &self,
        name: &str,
        reader: R,
        ev: &mut dyn Events,
        f: &mut dyn FnMut(u64, &str, &[u8]),
    ) -> FileStats {
        use std::io::BufRead;
        let mut r = io::BufReader::with_capacity(CHUNK, reader);
        let mut stats = FileStats {
            format: self.opts.format.as_str(),
            ..FileStats::default()
        };
        let mut mode: Option<Mode> = None;
        let (mut line, mut scratch) = (Vec::new(), Vec::new());
        let mut n = 0u64;
        let warn = |stats: &mut FileStats, ev: &mut dyn Events, msg: String| {
            stats.warnings += 1;
            ev.warning(&msg);
        };
        loop {
            line.clear();
            // Bounded: a line longer than MAX_LINE is skipped, not held.
            let got = (&mut r)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line);
            let k = match got {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) => {
                    let msg = format!("{name}: read error after {} bytes: {e}", stats.bytes);
                    warn(&mut stats, ev, msg);
                    break;
                }
            };
            stats.bytes += k as u64;
            n += 1;
            if line.last() != Some(&b'\n') && k > MAX_LINE {
                let mut skipped = 0u64;
                while let Ok(buf) = r.fill_buf() {
                    if buf.is_empty() {
                        break;
                    }
                    let (used, end) = match memchr::memchr(b'\n', buf) {
                        Some(p) => (p + 1, true),
                        None => (buf.len(), false),
                    };
                    r.consume(used);
                    skipped += used as u64;
                    if end {
                        break;
                    }
                }
                stats.bytes += skipped;
                let msg = format!("{name}:{n}: line exceeds the {MAX_LINE}-byte limit; skipped");
                warn(&mut stats, ev, msg);
                continue;
            }
            let l = line.strip_suffix(b"\n").unwrap_or(&line);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.trim_ascii().is_empty() {
                continue;
            }
            let m = match &mut mode {
                Some(m) => m,
                None => {
                    let first = Piece::Data(l.to_vec());
                    let reference = self.syslog_reference_ms(None);
                    mode.insert(self.initial_mode(&first, name, reference, &mut stats, ev))
                }
            };
            if let Mode::Zeek(st) = m
                && l[0] == b'#'
            {
                if let Err(e) = st.header_line(l) {
                    warn(&mut stats, ev, format!("{name}:{n}: bad Zeek header: {e}"));
                }
                continue;
            }
            if let Err(e) = values(m, l, None, false, &mut scratch, &mut |fd, v| f(n, fd, v)) {
                warn(&mut stats, ev, format!("{name}:{n}: invalid JSON ({e})"));
            }
            if n.is_multiple_of(65536) {
                ev.progress(stats.bytes);
            }
        }
        stats.lines = n;
        ev.progress(stats.bytes);
        stats
    }
}

/// Whether `buf` is ASCII without NUL bytes: one vectorised pass instead of UTF-8
/// validation plus a NUL search, for the usual chunk.
fn ascii_without_nul(buf: &[u8]) -> bool {
    // The smallest and the largest byte, 64 at a time (a load, a minimum and a maximum per 16
    // bytes with SSE2, through `wide`): a NUL is the smallest byte there is, a non-ASCII byte
    // one above 0x7f. Half the instructions of testing 8-byte words for both.
    let (blocks, tail) = buf.as_chunks::<64>();
    let (lo, hi) = blocks.iter().fold(
        (wide::u8x64::splat(u8::MAX), wide::u8x64::splat(0)),
        |(lo, hi), b| {
            let v = wide::u8x64::new(*b);
            (lo.min(v), hi.max(v))
        },
    );
    lo.reduce_min() != 0 && hi.reduce_max() <= 0x7f && tail.iter().all(|c| *c != 0 && c.is_ascii())
}

fn mode_format(m: &Mode) -> Format {
    match m {
        Mode::Zeek(_) => Format::Zeek,
        Mode::Json => Format::Jsonl,
        Mode::Squid => Format::Squid,
        Mode::Clf => Format::Clf,
        Mode::Syslog(_) => Format::Syslog,
        Mode::Text => Format::Text,
    }
}

/// A record's time as its log's mode reads it (Unix ms), if it carries one.
fn record_time(m: &Mode, line: &[u8]) -> Option<i64> {
    let syslog_reference = match m {
        Mode::Syslog(r) => Some(*r),
        _ => None,
    };
    formats::record_time_ms(mode_format(m), line, zeek_ts(m), syslog_reference)
}

/// The time of the last timed record among the last lines of `buf` (a piece read in `mode`),
/// looking at a few lines only: how far a log has got, for merging logs by time.
fn last_time(mode: &Mode, buf: &[u8]) -> Option<i64> {
    buf.trim_ascii_end()
        .rsplit(|c| *c == b'\n')
        .take(LAST_TIME_LINES)
        .filter(|l| !l.starts_with(b"#"))
        .find_map(|l| record_time(mode, l.strip_suffix(b"\r").unwrap_or(l)))
}

/// Column of Zeek's `ts` field and the field separator.
fn zeek_ts(m: &Mode) -> Option<(usize, u8)> {
    match m {
        Mode::Zeek(st) => {
            let col = st.schema.as_ref()?.names.iter().position(|n| n == "ts")?;
            Some((col, st.sep))
        }
        _ => None,
    }
}

/// Calls `f(field, value)` for every value of one data line, as the mode reads it; `seps` are
/// the line's Zeek separator offsets when already known.
fn values(
    mode: &Mode,
    line: &[u8],
    seps: Option<&[u32]>,
    rebuild: bool,
    scratch: &mut Vec<u8>,
    f: &mut impl FnMut(&str, &[u8]),
) -> Result<(), &'static str> {
    let mut each = |k: &str, v: &[u8]| {
        f(k, v);
        false
    };
    values_memo(mode, line, seps, rebuild, scratch, None, &mut each)
}

/// [`values`] where `f` returns whether the value met nothing, which a Zeek TSV line with its
/// separators given remembers in `memo` ([`formats::zeek_fields_memo`]).
fn values_memo<'l>(
    mode: &Mode,
    line: &'l [u8],
    seps: Option<&[u32]>,
    rebuild: bool,
    scratch: &mut Vec<u8>,
    memo: Option<&mut formats::ColumnMemo<'l>>,
    f: &mut impl FnMut(&str, &[u8]) -> bool,
) -> Result<(), &'static str> {
    let mut g = |k: &str, v: &[u8]| {
        f(k, v);
    };
    match mode {
        Mode::Zeek(st) => match (&st.schema, seps) {
            (Some(schema), Some(seps)) => {
                // A stripped `\r` shortens the line; separators past its end are not its own.
                let past = seps.iter().rev().take_while(|p| **p as usize >= line.len());
                let seps = &seps[..seps.len() - past.count()];
                formats::zeek_fields_memo(line, seps, st, schema, rebuild, scratch, memo, f)
            }
            (Some(schema), None) => formats::zeek_line(line, st, schema, rebuild, scratch, &mut g),
            (None, _) => formats::tokens(line, &mut |t| g("text", t)),
        },
        Mode::Json => return formats::json_line(line, rebuild, scratch, &mut g),
        Mode::Squid => formats::squid_line(line, &mut g),
        Mode::Clf => formats::clf_line(line, &mut g),
        Mode::Syslog(_) => formats::syslog_line(line, &mut g),
        Mode::Text => formats::tokens(line, &mut |t| g("text", t)),
    }
    Ok(())
}

/// One record's values as STIX 2.1 cyber-observable objects, so the pattern engine can
/// evaluate on it: every value the index types ([`index::shape`], the one typing of both
/// paths) becomes an SCO in its canonical form (a URL as the log wrote it, for `LIKE` and
/// `MATCHES`, and its host as the address or domain the index looks up too; the digests of one
/// record one `file`).
fn record_objects(vals: &[Vec<u8>]) -> Vec<serde_json::Value> {
    let mut objects: Vec<serde_json::Value> = Vec::new();
    let mut hashes = serde_json::Map::new();
    let mut add = |kind: &str, value: String| {
        let id = format!("{kind}--00000000-0000-4000-8000-{:012}", objects.len() + 1);
        objects.push(serde_json::json!({ "type": kind, "id": id, "value": value }));
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let ip = |ip: Ip| match ip {
        Ip::V4(v) => ("ipv4-addr", Ipv4Addr::from(v).to_string()),
        Ip::V6(v) => ("ipv6-addr", Ipv6Addr::from(v).to_string()),
    };
    for raw in vals {
        index::shape(raw, |s| match s {
            index::Shape::Ip(a) => {
                let (kind, v) = ip(a);
                add(kind, v);
            }
            index::Shape::Domain(d) => add("domain-name", text(d)),
            index::Shape::Email(e) => add("email-addr", text(e)),
            index::Shape::Url(parts) => {
                add("url", text(raw));
                // The host as the index's `match_host` reads it.
                if let Some(a) = crate::norm::parse_ip(parts.host) {
                    let (kind, v) = ip(a);
                    add(kind, v);
                } else {
                    let mut d = [0u8; crate::norm::MAX_DOMAIN];
                    if let Some(d) = crate::norm::normalize_domain(parts.host, &mut d) {
                        add("domain-name", text(d));
                    }
                }
            }
            index::Shape::Hash(h) => {
                if let Some(algo) = crate::norm::HashKind::from_hex_len(h.len()) {
                    hashes.insert(
                        algo.stix_name().to_string(),
                        serde_json::Value::String(text(h)),
                    );
                }
            }
            // No indicator is a Unicode name (the index skips them too).
            index::Shape::Unicode(_) => {}
        });
    }
    // The digests of one record describe one file (Zeek files.log: md5, sha1, sha256).
    if !hashes.is_empty() {
        let id = format!("file--00000000-0000-4000-8000-{:012}", objects.len() + 1);
        objects.push(serde_json::json!({ "type": "file", "id": id, "hashes": hashes }));
    }
    objects
}

/// One record as a STIX 2.1 bundle with a single observed-data holding its SCOs.
fn record_bundle(mut objects: Vec<serde_json::Value>) -> serde_json::Value {
    let refs: Vec<serde_json::Value> = objects.iter().map(|o| o["id"].clone()).collect();
    let t = "1970-01-01T00:00:00Z";
    let observed = serde_json::json!({
        "type": "observed-data", "id": "observed-data--00000000-0000-4000-8000-000000000000",
        "spec_version": "2.1", "created": t, "modified": t, "first_observed": t,
        "last_observed": t, "number_observed": 1, "object_refs": refs,
    });
    objects.insert(0, observed);
    serde_json::json!([{ "type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects }])
}

/// Applies the header lines found in `buf` to the running Zeek state.
fn advance_zeek_state(st: &mut ZeekState, buf: &[u8]) {
    let mut apply = |from: usize| {
        let end = memchr::memchr(b'\n', &buf[from..]).map_or(buf.len(), |p| from + p);
        let line = &buf[from..end];
        let _ = st.header_line(line.strip_suffix(b"\r").unwrap_or(line));
    };
    if buf.first() == Some(&b'#') {
        apply(0);
    }
    for p in memchr::memmem::find_iter(buf, b"\n#") {
        apply(p + 1);
    }
}

struct Sink<'a> {
    ix: &'a Index,
    /// Complex patterns whose atoms this line hit: (pattern, field, observed).
    candidates: Vec<(u32, Box<str>, Box<str>)>,
    allow: Option<&'a Allowlist>,
    opts: &'a ScanOptions,
    /// The scan's scoring, at this piece's time.
    scoring: Scoring,
    out: ChunkOut,
    /// First hit of the current line (hits are deduplicated per line and indicator).
    start: usize,
    /// The check run on every value, if any.
    check: Option<&'a dyn HostCheck>,
    /// First finding of the current line (deduplicated per line, value, key and label).
    fstart: usize,
}

impl Sink<'_> {
    fn warn(&mut self, line: u64, msg: String) {
        if self.out.warnings.len() < WARN_CAP {
            self.out.warnings.push((line, msg));
        } else {
            self.out.suppressed += 1;
        }
    }

    /// Matches one value; returns whether it met nothing and no check ran on it (so a repeat
    /// may be skipped: see [`formats::ColumnMemo`]).
    fn observe(&mut self, line: u64, field: &str, v: &[u8]) -> bool {
        let ix = self.ix;
        if field == formats::HOST_URI {
            // The host was matched as its own field already; only the URL is new.
            ix.match_url(v, &mut |n, kind| self.record(line, field, v, n, kind));
            return false;
        }
        let Some(check) = self.check else {
            let mut met = false;
            ix.match_value(v, &mut |n, kind| {
                met = true;
                self.record(line, field, v, n, kind);
            });
            return !met;
        };
        // `host_name` drops surrounding whitespace, the indicator lookup does not: such a value
        // (rare) is typed twice.
        let padded = v.first().is_some_and(u8::is_ascii_whitespace)
            || v.last().is_some_and(u8::is_ascii_whitespace);
        index::shape(v, |s| {
            ix.match_shape(&s, &mut |n, kind| self.record(line, field, v, n, kind));
            if !padded && let Some(host) = s.host() {
                self.check_host(check, line, field, v, host);
            }
        });
        if padded {
            index::host_name(v, |host| self.check_host(check, line, field, v, host));
        }
        false
    }

    /// Runs the check on the host name `value` names, each finding reported once per line.
    fn check_host(&mut self, check: &dyn HostCheck, line: u64, field: &str, v: &[u8], host: &[u8]) {
        check.check(host, &mut |key, label, score| {
            let seen = self.out.findings[self.fstart..]
                .iter()
                .any(|f| f.key == key && f.label == label && *f.observed.as_bytes() == *v);
            if !seen {
                self.out.findings.push(RawFinding {
                    line,
                    field: field.into(),
                    observed: String::from_utf8_lossy(v).into(),
                    key,
                    label,
                    score,
                    time_ms: None,
                });
            }
        });
    }

    fn record(&mut self, line: u64, field: &str, v: &[u8], n: u32, kind: MatchKind) {
        if let Some(p) = self.ix.atom_of(n) {
            if !self.candidates.iter().any(|c| c.0 == p) {
                let observed = String::from_utf8_lossy(v).into();
                self.candidates.push((p, field.into(), observed));
            }
            return;
        }
        if self.out.hits[self.start..].iter().any(|h| h.ind == n) {
            return;
        }
        self.push(line, field, v, n, kind);
    }

    fn record_pattern(&mut self, line: u64, field: &str, observed: &str, n: u32) {
        self.push(line, field, observed.as_bytes(), n, MatchKind::Pattern);
    }

    /// Adds a hit with its action: `inform` when the observed value is allowlisted, the
    /// indicator's value has too few contributors or its score is below the threshold; no hit
    /// at all when a suppressing list holds the value or the indicator is past `valid_until`.
    fn push(&mut self, line: u64, field: &str, v: &[u8], n: u32, kind: MatchKind) {
        let Some(verdict) = judge(self.ix, self.allow, self.opts, &self.scoring, n, v) else {
            return;
        };
        self.out.hits.push(RawHit {
            line,
            field: field.into(),
            observed: String::from_utf8_lossy(v).into(),
            ind: n,
            kind,
            inform: verdict.inform,
            allowlisted: verdict.allowlisted,
            score: verdict.score,
            time_ms: None,
        });
    }
}

/// How a hit is reported.
struct Verdict {
    inform: bool,
    allowlisted: Option<u32>,
    score: f64,
}

/// The action for a hit of indicator `n` on observed value `v`: `inform` when the value is
/// allowlisted, the indicator's value has too few contributors or its score is below the
/// threshold; `None` (no hit at all) when a suppressing list holds the value or the indicator
/// is past `valid_until`.
fn judge(
    ix: &Index,
    allow: Option<&Allowlist>,
    opts: &ScanOptions,
    scoring: &Scoring,
    n: u32,
    v: &[u8],
) -> Option<Verdict> {
    let provenance = &ix.indicator(n).provenance;
    if provenance.valid_until.is_some_and(|t| t <= scoring.now) {
        return None;
    }
    let verdict = allow.and_then(|a| a.check(v));
    if verdict.is_some_and(|x| x.suppress) {
        return None;
    }
    let score = scoring.score(provenance);
    let corroborated = opts.min_corroboration <= 1
        || ix
            .contributors(n)
            .is_some_and(|c| c >= opts.min_corroboration);
    Some(Verdict {
        inform: verdict.is_some() || !corroborated || scoring.below(score),
        allowlisted: verdict.map(|x| x.entry),
        score,
    })
}

/// Opens a log path: `-` is standard input, gzip is recognised by its magic bytes.
pub fn open_log(path: &std::path::Path) -> io::Result<Box<dyn Read + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin()));
    }
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let n = read_full(&mut f, &mut magic)?;
    use std::io::Seek;
    f.seek(io::SeekFrom::Start(0))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 20, f),
        )))
    } else {
        Ok(Box::new(f))
    }
}

fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Expands folders into their files (recursively, sorted); files and `-` pass through.
pub fn expand_paths(paths: &[std::path::PathBuf]) -> io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)?
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|e| e.path())
                .collect();
            entries.sort();
            out.extend(expand_paths(&entries)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Value;

    #[derive(Default)]
    struct Seen(Vec<(String, bool, f64)>);

    impl Events for Seen {
        fn hit(&mut self, h: &Hit<'_>) {
            self.0.push((h.observed.to_string(), h.inform, h.score));
        }
        fn warning(&mut self, m: &str) {
            panic!("unexpected warning {m}");
        }
    }

    #[test]
    fn validity_and_score_decide_each_hit() {
        let mut ix = Index::new(false);
        let ind = |v: &str, p: crate::index::Provenance| Indicator {
            id: format!("indicator--{v}"),
            written: v.into(),
            value: Value::guess(v, true).unwrap_or(Value::Pattern),
            provenance: p,
        };
        ix.extend(vec![
            ind(
                "until.example",
                crate::index::Provenance {
                    valid_until: Some(1_000),
                    ..Default::default()
                },
            ),
            ind(
                "weak.example",
                crate::index::Provenance {
                    confidence: Some(10),
                    ..Default::default()
                },
            ),
        ]);
        let at = |now: i64| {
            let opts = ScanOptions {
                scoring: Scoring {
                    now,
                    ..Scoring::default()
                },
                ..ScanOptions::default()
            };
            let s = Scanner {
                pool: &rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap(),
                index: &ix,
                allow: None,
                opts,
            };
            let mut seen = Seen::default();
            s.scan("t", &b"until.example weak.example\n"[..], &mut seen)
                .unwrap();
            seen.0
        };
        let weak = ("weak.example".to_string(), true, 10.0);
        assert_eq!(
            at(999),
            vec![("until.example".to_string(), false, 80.0), weak.clone()]
        );
        assert_eq!(at(1_000), vec![weak]);
    }

    #[test]
    fn caught_turns_a_panic_into_its_message() {
        assert_eq!(caught(|| 7), Ok(7));
        let n = 3;
        assert_eq!(
            caught(|| -> u8 { panic!("piece {n} went wrong") }),
            Err("piece 3 went wrong".to_string())
        );
        assert_eq!(
            caught(|| -> u8 { std::panic::panic_any(5u32) }),
            Err("panic without a message".to_string())
        );
    }

    struct Warnings(Vec<String>);

    impl Events for Warnings {
        fn hit(&mut self, _: &Hit<'_>) {}
        fn warning(&mut self, message: &str) {
            self.0.push(message.to_string());
        }
    }

    fn each(log: &str) -> (Vec<(u64, String, String)>, Vec<String>) {
        let index = Index::new(false);
        let scanner = Scanner {
            pool: &rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
            index: &index,
            allow: None,
            opts: ScanOptions::default(),
        };
        let mut seen = Vec::new();
        let mut ev = Warnings(Vec::new());
        scanner.each_value("t", log.as_bytes(), &mut ev, &mut |n, f, v| {
            seen.push((n, f.to_string(), String::from_utf8_lossy(v).into_owned()));
        });
        (seen, ev.0)
    }

    #[test]
    fn each_value_reads_zeek_json_and_syslog_in_order() {
        let zeek = "#separator \\x09\n#fields\tts\tuid\tquery\tanswers\n#types\ttime\tstring\tstring\tvector[string]\n1.0\tC1\tsos-ca.gov\tx.example.com,1.2.3.4\n";
        let (seen, warnings) = each(zeek);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(
            seen.contains(&(4, "query".into(), "sos-ca.gov".into())),
            "{seen:?}"
        );
        assert!(seen.contains(&(4, "answers".into(), "x.example.com".into())));
        let (seen, _) = each("{\"host\":\"a.example\"}\nnot json\n");
        assert_eq!(seen, vec![(1, "host".into(), "a.example".into())]);
        let (seen, _) = each("<13>Jan  1 00:00:00 web1.example.org app: visit vote-org.com now\n");
        assert!(
            seen.contains(&(1, "host".into(), "web1.example.org".into())),
            "{seen:?}"
        );
        assert!(seen.contains(&(1, "msg".into(), "vote-org.com".into())));
    }

    /// Records the host names it is given, with nothing found.
    struct Hosts(std::sync::Mutex<Vec<String>>);

    impl HostCheck for Hosts {
        fn check(&self, host: &[u8], _: &mut dyn FnMut(u32, &'static str, f32)) {
            if let Ok(mut h) = self.0.lock() {
                h.push(String::from_utf8_lossy(host).into_owned());
            }
        }
    }

    #[test]
    fn the_scan_checks_the_host_names_each_value_and_host_name_read() {
        // Every way a value may name a host, or seem to: a domain with a port, URLs (host as
        // written; an address is no name), e-mail and mailto, padding, a Unicode name, user
        // agents and paths.
        let log = concat!(
            "{\"q\":\"Sos-CA-gov.com.\",\"p\":\"sos-ca-gov.com:8443\",\"u\":\"https://u@Vote-Org.info:8443/x?y\"}\n",
            "{\"m\":\"Info@Fvap-Gov.com\",\"t\":\"mailto:a@fvap.gov.us\",\"w\":\"  sos.ca.gov.example \"}\n",
            "{\"i\":\"\\u0455os.ca.gov\",\"s\":\"\\u0455os ca.gov\",\"a\":\"http://1.2.3.4/x\",\"n\":\"1.2.3.4:80\"}\n",
            "{\"ua\":\"Mozilla/5.0 (X11; Linux x86_64)\",\"r\":\"/a/b.php?q=1.5\",\"h\":\"vote.org/login\"}\n",
        );
        let index = Index::new(false);
        let scanner = Scanner {
            pool: &rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
            index: &index,
            allow: None,
            opts: ScanOptions::default(),
        };
        let check = Hosts(std::sync::Mutex::new(Vec::new()));
        let mut ev = Warnings(Vec::new());
        let mut windows = Windows::new(&index);
        scanner
            .scan_with("t", log.as_bytes(), &mut ev, &mut windows, Some(&check))
            .unwrap();
        let mut scanned = check.0.into_inner().unwrap();
        scanned.sort();
        let mut read = Vec::new();
        scanner.each_value("t", log.as_bytes(), &mut ev, &mut |_, _, v| {
            index::host_name(v, |h| read.push(String::from_utf8_lossy(h).into_owned()));
        });
        read.sort();
        assert!(ev.0.is_empty(), "{:?}", ev.0);
        assert_eq!(scanned, read);
        assert_eq!(
            scanned,
            [
                "Vote-Org.info",
                "fvap-gov.com",
                "fvap.gov.us",
                "sos-ca-gov.com",
                "sos-ca-gov.com",
                "sos.ca.gov.example",
                "vote.org",
                // The Cyrillic name, as its A-label.
                "xn--os-doc.ca.gov",
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn ascii_check_agrees(buf in proptest::collection::vec(proptest::prop_oneof![0u8..4, 32u8..127, 120u8..=255], 0..300)) {
            proptest::prop_assert_eq!(ascii_without_nul(&buf), buf.is_ascii() && !buf.contains(&0));
        }

        #[test]
        fn ascii_check_finds_one_bad_byte(
            mut buf in proptest::collection::vec(1u8..=0x7f, 0..300),
            bad in proptest::option::of((0usize..300, proptest::prop_oneof![proptest::strategy::Just(0u8), 0x80u8..=255])),
        ) {
            // Mostly clean chunks of several 64-byte blocks, with at most one NUL or
            // non-ASCII byte anywhere in them.
            if let Some((at, b)) = bad
                && let Some(c) = buf.get_mut(at)
            {
                *c = b;
            }
            proptest::prop_assert_eq!(ascii_without_nul(&buf), buf.is_ascii() && !buf.contains(&0));
        }
    }
}
