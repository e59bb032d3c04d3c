//! Log line readers: each turns one line into (field name, value) observations.

use std::sync::Arc;

use memchr::memchr;

/// A log format, as chosen on the command line or detected from the first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Detect from content.
    Auto,
    /// Zeek TSV with `#fields`/`#types` headers.
    Zeek,
    /// Zeek JSON streaming logs.
    ZeekJson,
    /// Generic JSON lines.
    Jsonl,
    /// Squid native access.log.
    Squid,
    /// Common / combined log format.
    Clf,
    /// Syslog RFC 3164 / 5424.
    Syslog,
    /// Plain text: token extraction.
    Text,
}

impl Format {
    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Zeek => "zeek",
            Format::ZeekJson => "zeek-json",
            Format::Jsonl => "jsonl",
            Format::Squid => "squid",
            Format::Clf => "clf",
            Format::Syslog => "syslog",
            Format::Text => "text",
        }
    }

    /// Guesses the format of a log from its first non-empty line.
    pub fn detect(first: &[u8]) -> Format {
        if first.starts_with(b"#separator") || first.starts_with(b"#fields") {
            return Format::Zeek;
        }
        if first.starts_with(b"{") {
            let zeek = memchr::memmem::find(first, b"\"_path\"").is_some()
                || (memchr::memmem::find(first, b"\"uid\"").is_some()
                    && memchr::memmem::find(first, b"\"ts\"").is_some());
            return if zeek {
                Format::ZeekJson
            } else {
                Format::Jsonl
            };
        }
        if first.starts_with(b"<") || is_bsd_syslog_time(first) {
            return Format::Syslog;
        }
        let mut words = first.split(|c| *c == b' ').filter(|w| !w.is_empty());
        let w: Vec<&[u8]> = words.by_ref().take(4).collect();
        if w.len() == 4
            && is_epoch(w[0])
            && w[1].iter().all(u8::is_ascii_digit)
            && memchr(b'/', w[3]).is_some()
        {
            return Format::Squid;
        }
        if memchr::memmem::find(first, b" [").is_some()
            && memchr::memmem::find(first, b"] \"").is_some()
        {
            return Format::Clf;
        }
        Format::Text
    }
}

/// Whether a line looks like a header-less Zeek TSV record (epoch time then tabs).
pub fn looks_like_headless_zeek(line: &[u8]) -> bool {
    match memchr(b'\t', line) {
        Some(p) => is_epoch(&line[..p]) && memchr::memchr_iter(b'\t', line).count() >= 3,
        None => false,
    }
}

fn is_epoch(w: &[u8]) -> bool {
    let (a, b) = match memchr(b'.', w) {
        Some(p) => (&w[..p], &w[p + 1..]),
        None => (w, &w[..0]),
    };
    a.len() >= 9 && a.iter().all(u8::is_ascii_digit) && b.iter().all(u8::is_ascii_digit)
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn is_bsd_syslog_time(l: &[u8]) -> bool {
    l.len() > 16 && MONTHS.contains(&&l[..3]) && l[3] == b' ' && l[9] == b':' && l[12] == b':'
}

/// What to do with one Zeek column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    /// Numbers, times, enums, booleans: nothing to match.
    Skip,
    /// A single value typed by shape.
    Value,
    /// A set or vector: split on the set separator, each element typed by shape.
    List,
}

/// The layout of a Zeek TSV log, from its header lines.
#[derive(Clone, Debug)]
pub struct ZeekSchema {
    /// Column names (`#fields`).
    pub names: Vec<String>,
    /// The columns that are not [`Col::Skip`], ascending, with their action (from `#types`).
    pub active: Vec<Active>,
    /// The `host` column, when active: with `uri`, HTTP's parts of a rebuilt URL.
    pub host: Option<usize>,
    /// The `uri` column, when active.
    pub uri: Option<usize>,
}

/// A column worth matching, with what [`zeek_fields`] needs of it read once per header rather
/// than once per line.
#[derive(Clone, Debug)]
pub struct Active {
    /// Column number.
    pub col: usize,
    /// Column name.
    pub name: Box<str>,
    /// A set or vector ([`Col::List`]).
    pub list: bool,
}

/// Header state of a Zeek TSV log as header lines are read.
#[derive(Clone, Debug)]
pub struct ZeekState {
    /// Field separator (`#separator`, tab by default).
    pub sep: u8,
    /// Set separator (`#set_separator`, comma by default).
    pub set_sep: u8,
    fields: Vec<String>,
    /// The schema in force, once `#fields` has been read.
    pub schema: Option<Arc<ZeekSchema>>,
}

impl Default for ZeekState {
    fn default() -> Self {
        ZeekState {
            sep: b'\t',
            set_sep: b',',
            fields: Vec::new(),
            schema: None,
        }
    }
}

impl ZeekState {
    /// Applies one `#...` header line; returns an error message for malformed headers.
    pub fn header_line(&mut self, line: &[u8]) -> Result<(), String> {
        if let Some(v) = line.strip_prefix(b"#separator ") {
            self.sep = unescape_sep(v).ok_or("unreadable #separator")?;
            return Ok(());
        }
        let mut parts = line.split(|c| *c == self.sep);
        let key = parts.next().unwrap_or_default();
        match key {
            b"#set_separator" => {
                let v = parts.next().ok_or("#set_separator without value")?;
                self.set_sep = unescape_sep(v).ok_or("unreadable #set_separator")?;
            }
            b"#fields" => {
                self.fields = parts
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                // Until #types arrives, every column is typed by shape.
                let cols = vec![Col::Value; self.fields.len()];
                self.schema = Some(Arc::new(self.build(cols)));
            }
            b"#types" => {
                if self.fields.is_empty() {
                    return Err("#types before #fields".into());
                }
                let types: Vec<&[u8]> = parts.collect();
                if types.len() != self.fields.len() {
                    return Err(format!(
                        "#types has {} columns, #fields {}",
                        types.len(),
                        self.fields.len()
                    ));
                }
                let cols = types.iter().map(|t| col_for(t)).collect();
                self.schema = Some(Arc::new(self.build(cols)));
            }
            _ => {}
        }
        Ok(())
    }

    fn build(&self, mut cols: Vec<Col>) -> ZeekSchema {
        let pos = |n: &str| self.fields.iter().position(|f| f == n);
        for (c, name) in cols.iter_mut().zip(&self.fields) {
            if zeek_id_field(name.as_bytes()) {
                *c = Col::Skip;
            }
        }
        let active: Vec<Active> = cols
            .iter()
            .zip(&self.fields)
            .enumerate()
            .filter(|(_, (c, _))| **c != Col::Skip)
            .map(|(col, (c, name))| Active {
                col,
                name: name.as_str().into(),
                list: *c == Col::List,
            })
            .collect();
        let is_active = |col: &usize| active.iter().any(|a| a.col == *col);
        ZeekSchema {
            names: self.fields.clone(),
            host: pos("host").filter(is_active),
            uri: pos("uri").filter(is_active),
            active,
        }
    }
}

fn col_for(t: &[u8]) -> Col {
    match t {
        b"addr" | b"string" => Col::Value,
        b"set[addr]" | b"vector[addr]" | b"set[string]" | b"vector[string]" => Col::List,
        _ => Col::Skip,
    }
}

fn unescape_sep(v: &[u8]) -> Option<u8> {
    match v {
        [c] => Some(*c),
        [b'\\', b'x', h, l] => u8::from_str_radix(std::str::from_utf8(&[*h, *l]).ok()?, 16).ok(),
        _ => None,
    }
}

/// Zeek's own connection and file identifiers (`uid`, `fuid`, `conn_uids`, `resp_fuids`, ...):
/// generated by the sensor, never an indicator value, so not matched (in TSV and JSON alike).
pub fn zeek_id_field(name: &[u8]) -> bool {
    matches!(name, b"uid" | b"fuid" | b"parent_fuid")
        || name.ends_with(b"_uids")
        || name.ends_with(b"_fuids")
}

/// Field name of a URL rebuilt from a record's `host` and `uri`.
pub const HOST_URI: &str = "host+uri";

/// Bit `i` set where `block[i]` is `a` or `b`, and where it is `b`: per 16 bytes three
/// compares, an OR and two `movemask`s (SSE2 on x86-64, through `wide`'s safe API; LLVM does
/// not derive the movemask from a portable loop, which took about 80 instructions a block).
#[inline(always)]
fn block_masks(block: &[u8; 64], a: u8, b: u8) -> (u64, u64) {
    let v = wide::u8x64::new(*block);
    let is_b = v.simd_eq(wide::u8x64::splat(b));
    (
        (v.simd_eq(wide::u8x64::splat(a)) | is_b).to_bitmask(),
        is_b.to_bitmask(),
    )
}

/// Positions of the bytes `a` and `b` in a buffer, in order, found 64 bytes at a time: one pass
/// over a whole chunk instead of a `memchr` call per short field (Zeek TSV fields average a
/// few bytes, where a call's setup costs more than the search).
pub struct Seps<'a> {
    buf: &'a [u8],
    base: usize,
    /// The `a` and `b` bytes of the block at `base` not yet handed out.
    mask: u64,
    /// The block's `b` bytes (handed out or not).
    ends: u64,
    a: u8,
    b: u8,
}

impl<'a> Seps<'a> {
    /// Scans `buf` from `from` on.
    pub fn new(buf: &'a [u8], from: usize, a: u8, b: u8) -> Self {
        let mut s = Seps {
            buf,
            base: from,
            mask: 0,
            ends: 0,
            a,
            b,
        };
        s.load();
        s
    }

    fn load(&mut self) {
        (self.mask, self.ends) = load_block(self.buf, self.base, self.a, self.b);
    }

    /// Writes into `seps[..n]` the offsets from `start` of the `a` bytes before the next `b`
    /// (growing `seps` as needed, never shrinking it) and returns where that `b` is (the
    /// buffer's length if none is left) and `n`: one Zeek line's field separators and its end.
    /// The same positions as [`Iterator::next`] gives, in a loop of its own: with the scan's
    /// state in registers, the block's first line end found from its mask of `b` bytes (no
    /// test per separator) and no vector length stored per separator (inlined into the scan's
    /// loop, the compiler kept all of it on the stack).
    #[inline(never)]
    pub fn line(&mut self, start: usize, seps: &mut Vec<u32>) -> (usize, usize) {
        let buf = self.buf;
        let (mut base, mut mask, mut ends) = (self.base, self.mask, self.ends);
        let mut n = 0;
        loop {
            // A separator's offset is `off + bit` (`base` may precede `start` in a line's first
            // block, but no separator before `start` is left in `mask`), taken modulo 2^32:
            // exact for any line shorter than 4 GiB (the scan hands over pieces of a few MiB).
            let off = base.wrapping_sub(start) as u32;
            // The lowest line end left in this block (0 if none) and the separators before it
            // (all of the block's if none).
            let end = ends & mask & (ends & mask).wrapping_neg();
            let mut before = mask & end.wrapping_sub(1);
            if seps.len() < n + 64 {
                seps.resize(n + 64, 0);
            }
            // This block's at most 64 separators go here: no bounds check per separator.
            let dst = &mut seps[n..n + 64];
            let mut k = 0;
            while before != 0 {
                dst[k & 63] = off.wrapping_add(before.trailing_zeros());
                before &= before - 1;
                k += 1;
            }
            n += k;
            if end != 0 {
                self.base = base;
                self.mask = mask & !(end | end.wrapping_sub(1));
                self.ends = ends;
                return (base + end.trailing_zeros() as usize, n);
            }
            base += 64;
            if base >= buf.len() {
                self.base = base;
                self.mask = 0;
                return (buf.len(), n);
            }
            (mask, ends) = load_block(buf, base, self.a, self.b);
        }
    }
}

/// The [`block_masks`] of the 64 bytes from `base`, zero-padded at the buffer's end (no bits
/// past the buffer's end).
#[inline(always)]
fn load_block(buf: &[u8], base: usize, a: u8, b: u8) -> (u64, u64) {
    let rest = buf.get(base..).unwrap_or_default();
    match rest.first_chunk::<64>() {
        Some(block) => block_masks(block, a, b),
        None => {
            let mut tmp = [0u8; 64];
            tmp[..rest.len()].copy_from_slice(rest);
            let valid = (1u64 << rest.len()) - 1;
            let (mask, ends) = block_masks(&tmp, a, b);
            (mask & valid, ends & valid)
        }
    }
}

impl Iterator for Seps<'_> {
    type Item = usize;

    // Inlined into the space-separated readers' loops, as it was before the mask of line ends
    // made it larger (a call per separator there cost 13 M instructions on the 50 MB bench).
    #[inline]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.mask != 0 {
                let t = self.mask.trailing_zeros() as usize;
                self.mask &= self.mask - 1;
                return Some(self.base + t);
            }
            self.base += 64;
            if self.base >= self.buf.len() {
                return None;
            }
            self.load();
        }
    }
}

/// Calls `f(field, value)` for each column of a Zeek TSV data line worth matching; then, when
/// `rebuild_url`, `f("host+uri", host ++ uri)` through `url_buf`.
pub fn zeek_line(
    line: &[u8],
    st: &ZeekState,
    schema: &ZeekSchema,
    rebuild_url: bool,
    url_buf: &mut Vec<u8>,
    f: &mut impl FnMut(&str, &[u8]),
) {
    let seps: Vec<u32> = memchr::memchr_iter(st.sep, line)
        .map(|p| u32::try_from(p).unwrap_or(u32::MAX))
        .collect();
    zeek_fields(line, &seps, st, schema, rebuild_url, url_buf, f);
}

/// [`zeek_line`] with the line's separator offsets (ascending, all inside `line`) given. Only
/// the columns worth matching are looked at.
pub fn zeek_fields(
    line: &[u8],
    seps: &[u32],
    st: &ZeekState,
    schema: &ZeekSchema,
    rebuild_url: bool,
    url_buf: &mut Vec<u8>,
    f: &mut impl FnMut(&str, &[u8]),
) {
    let mut each = |k: &str, v: &[u8]| {
        f(k, v);
        false
    };
    zeek_fields_memo(
        line,
        seps,
        st,
        schema,
        rebuild_url,
        url_buf,
        None,
        &mut each,
    );
}

/// Values an active column remembers as inert ([`ColumnMemo`]).
const MEMO_SLOTS: usize = 8;
/// Values of a column looked at before [`ColumnMemo`] decides whether to keep remembering it.
const MEMO_PROBE: u16 = 64;

/// The last few values of each active Zeek column that met nothing (no indicator, no pattern
/// atom, no check), borrowed from the chunk: enum-like columns (`GET`, `SF`, `NOERROR`, a user
/// agent, a MIME type) repeat, and a repeat is skipped rather than typed and looked up again.
/// Exact because what a value meets depends on the value alone. A column whose first
/// [`MEMO_PROBE`] values repeat less than a quarter of the time (addresses, names, URLs,
/// digests) is not compared any more: there the comparisons would cost more than they save.
#[derive(Default)]
pub struct ColumnMemo<'l> {
    cols: Vec<MemoCol<'l>>,
}

#[derive(Default, Clone, Copy)]
struct MemoCol<'l> {
    slots: [&'l [u8]; MEMO_SLOTS],
    /// Each slot's [`memo_key`] (0 for an empty slot), folded to 32 bits: compared eight at
    /// once, so only a slot whose key agrees is looked at (comparing the slots themselves called
    /// `memcmp` for every slot of the value's length).
    folded: [u32; MEMO_SLOTS],
    /// Each slot's [`memo_key`]: for a value of at most eight bytes, equal keys and lengths are
    /// equal values (no `memcmp` call on a hit of the short values most memo columns hold).
    keys: [u64; MEMO_SLOTS],
    next: usize,
    tries: u16,
    hits: u16,
    off: bool,
}

impl<'l> ColumnMemo<'l> {
    /// Forgets every column (a new header may number them differently).
    pub fn clear(&mut self) {
        self.cols.clear();
    }

    /// Whether column `k` holds `v` as inert, and `v`'s key (from `key`, called only when the
    /// column is on; 0 when off). Inlined: called for every value, most of them in columns
    /// that are off.
    #[inline(always)]
    fn seen(&mut self, k: usize, v: &[u8], key: impl FnOnce() -> u64) -> (bool, u64) {
        let Some(c) = self.cols.get_mut(k) else {
            return (false, 0);
        };
        if c.off {
            return (false, 0);
        }
        let key = key();
        let mut same = wide::u32x8::new(c.folded)
            .simd_eq(wide::u32x8::splat(fold(key)))
            .to_bitmask();
        let mut hit = false;
        while same != 0 {
            let j = same.trailing_zeros() as usize % MEMO_SLOTS;
            let slot = c.slots[j];
            hit |= c.keys[j] == key && slot.len() == v.len() && (v.len() <= 8 || slot == v);
            same &= same - 1;
        }
        // Counted over the first values only: a column kept on is never counted again, so the
        // counters cannot overflow on a long chunk.
        if c.tries < MEMO_PROBE {
            c.hits += u16::from(hit);
            c.tries += 1;
            c.off = c.tries == MEMO_PROBE && c.hits < MEMO_PROBE / 4;
        }
        (hit, key)
    }

    /// Remembers `v` (of [`memo_key`] `key`) as inert in column `k`, in place of the column's
    /// oldest value.
    fn keep(&mut self, k: usize, v: &'l [u8], key: u64) {
        if let Some(c) = self.cols.get_mut(k)
            && !c.off
        {
            c.slots[c.next] = v;
            c.folded[c.next] = fold(key);
            c.keys[c.next] = key;
            c.next = (c.next + 1) % MEMO_SLOTS;
        }
    }
}

/// A [`ColumnMemo`] key of the value `line[start..end]`: its last eight bytes (all of a shorter
/// one) and its length. Equal values have equal keys, and values of the same length up to eight
/// bytes with equal keys are equal; read from the line as one word, not copied out of the value.
#[inline(always)]
fn memo_key(line: &[u8], start: usize, end: usize) -> u64 {
    let len = end.saturating_sub(start);
    let last8 = end
        .checked_sub(8)
        .and_then(|from| line.get(from..end))
        .and_then(|b| b.first_chunk::<8>());
    let word = match last8 {
        Some(b) => u64::from_le_bytes(*b),
        // A value ending in the line's first eight bytes: the bytes before the line read as 0.
        None => {
            let mut b = [0u8; 8];
            let head = line.get(..end).unwrap_or_default();
            b[8 - head.len()..].copy_from_slice(head);
            u64::from_le_bytes(b)
        }
    };
    // The value's own bytes are the word's top `len` bytes (the line's bytes before it, the
    // rest, are dropped).
    let own = word
        .checked_shr(8 * 8u32.saturating_sub(len as u32))
        .unwrap_or(0);
    own ^ ((len as u64) << 56)
}

/// A [`memo_key`] in 32 bits, for [`MemoCol::folded`].
#[inline(always)]
fn fold(key: u64) -> u32 {
    (key ^ (key >> 32)) as u32
}

/// [`zeek_fields`] with a [`ColumnMemo`]: `f` returns whether the value met nothing (so its
/// repeats in the same column may be skipped); a list column is remembered whole when every
/// element met nothing. Rebuilt URLs are never skipped.
#[allow(clippy::too_many_arguments)]
pub fn zeek_fields_memo<'l>(
    line: &'l [u8],
    seps: &[u32],
    st: &ZeekState,
    schema: &ZeekSchema,
    rebuild_url: bool,
    url_buf: &mut Vec<u8>,
    mut memo: Option<&mut ColumnMemo<'l>>,
    f: &mut impl FnMut(&str, &[u8]) -> bool,
) {
    if let Some(m) = memo.as_deref_mut()
        && m.cols.len() != schema.active.len()
    {
        m.cols = vec![MemoCol::default(); schema.active.len()];
    }
    // Column `i` runs from after separator `i - 1` to separator `i` or the line's end.
    let span = |i: usize| {
        let start = if i == 0 { 0 } else { seps[i - 1] as usize + 1 };
        (start, seps.get(i).map_or(line.len(), |p| *p as usize))
    };
    let unset = |v: &[u8]| v == b"-" || v == b"(empty)" || v.is_empty();
    for (k, a) in schema.active.iter().enumerate() {
        let i = a.col;
        if i > seps.len() {
            break;
        }
        let (start, end) = span(i);
        let v = &line[start..end];
        if unset(v) {
            continue;
        }
        let name = &*a.name;
        let mut key = 0;
        if let Some(m) = memo.as_deref_mut() {
            let seen;
            (seen, key) = m.seen(k, v, || memo_key(line, start, end));
            if seen {
                continue;
            }
        }
        let inert = if a.list {
            let mut all = true;
            let mut rest = v;
            while let Some(p) = rest.iter().position(|c| *c == st.set_sep) {
                all &= f(name, &rest[..p]);
                rest = &rest[p + 1..];
            }
            all & f(name, rest)
        } else {
            f(name, v)
        };
        if inert && let Some(m) = memo.as_deref_mut() {
            m.keep(k, v, key);
        }
    }
    if !rebuild_url {
        return;
    }
    // Read here, not noted in the loop: that took about nine instructions per column (loads of
    // two flags, conditional moves, their stores).
    let field = |col: Option<usize>| -> &[u8] {
        match col {
            Some(i) if i <= seps.len() => {
                let (start, end) = span(i);
                Some(&line[start..end])
                    .filter(|v| !unset(v))
                    .unwrap_or_default()
            }
            _ => b"",
        }
    };
    let (host, uri) = (field(schema.host), field(schema.uri));
    if !host.is_empty() && uri.first() == Some(&b'/') {
        url_buf.clear();
        url_buf.extend_from_slice(host);
        url_buf.extend_from_slice(uri);
        f(HOST_URI, url_buf);
    }
}

/// Walks the string values of one JSON object line: `f(key, value)` for every string (array
/// elements report their array's key). `scratch` receives unescaped values. Errors name the defect.
pub fn json_line(
    line: &[u8],
    rebuild_url: bool,
    scratch: &mut Vec<u8>,
    f: &mut impl FnMut(&str, &[u8]),
) -> Result<(), &'static str> {
    let line = line.trim_ascii();
    if line.first() != Some(&b'{') || line.last() != Some(&b'}') {
        return Err("not a JSON object");
    }
    let mut i = 0;
    let mut key: &[u8] = b"";
    let mut depth: i32 = 0;
    let mut host: Option<(usize, usize)> = None;
    let mut uri: Option<(usize, usize)> = None;
    while i < line.len() {
        match line[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                loop {
                    let Some(p) = memchr::memchr2(b'"', b'\\', &line[j..]) else {
                        return Err("unterminated JSON string");
                    };
                    j += p;
                    if line[j] == b'\\' {
                        escaped = true;
                        j += 2;
                        if j > line.len() {
                            return Err("unterminated JSON string");
                        }
                    } else {
                        break;
                    }
                }
                let raw = &line[start..j];
                i = j + 1;
                while i < line.len() && line[i].is_ascii_whitespace() {
                    i += 1;
                }
                if line.get(i) == Some(&b':') {
                    key = raw;
                    i += 1;
                    continue;
                }
                if zeek_id_field(key) {
                    continue;
                }
                let name = std::str::from_utf8(key).unwrap_or("?");
                if escaped {
                    unescape_json(raw, scratch)?;
                    f(name, scratch);
                } else if !raw.is_empty() && raw != b"-" {
                    if key == b"host" {
                        host = Some((start, j));
                    } else if key == b"uri" {
                        uri = Some((start, j));
                    }
                    f(name, raw);
                }
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced JSON brackets");
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if depth != 0 {
        return Err("unbalanced JSON brackets");
    }
    if rebuild_url
        && let (Some(h), Some(u)) = (host, uri)
        && line[u.0] == b'/'
    {
        scratch.clear();
        scratch.extend_from_slice(&line[h.0..h.1]);
        scratch.extend_from_slice(&line[u.0..u.1]);
        f(HOST_URI, scratch);
    }
    Ok(())
}

fn unescape_json(raw: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = *raw.get(i + 1).ok_or("bad JSON escape")?;
        i += 2;
        match c {
            b'"' | b'\\' | b'/' => out.push(c),
            b'b' | b'f' | b'n' | b'r' | b't' => out.push(b' '),
            b'u' => {
                let hex = raw.get(i..i + 4).ok_or("bad \\u escape")?;
                let v = u32::from_str_radix(
                    std::str::from_utf8(hex).map_err(|_| "bad \\u escape")?,
                    16,
                )
                .map_err(|_| "bad \\u escape")?;
                i += 4;
                let ch = char::from_u32(v).unwrap_or('\u{fffd}');
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            _ => return Err("bad JSON escape"),
        }
    }
    Ok(())
}

/// The record time of a log line in Unix milliseconds, when its format carries one: Zeek `ts`
/// (column `zeek_ts` with its separator), JSON `"ts"` (epoch or RFC 3339), Squid's first field,
/// CLF `[10/Oct/2000:13:55:36 -0700]`, syslog's RFC 5424 (RFC 3339) timestamp, or its RFC 3164
/// `Mmm dd hh:mm:ss` placed in a year by [`bsd_syslog_time_ms`] when `syslog_reference_ms` is
/// given (without it such a record has no time).
pub fn record_time_ms(
    fmt: Format,
    line: &[u8],
    zeek_ts: Option<(usize, u8)>,
    syslog_reference_ms: Option<i64>,
) -> Option<i64> {
    match fmt {
        Format::Zeek => {
            let (col, sep) = zeek_ts?;
            epoch_ms(line.split(|c| *c == sep).nth(col)?)
        }
        Format::ZeekJson | Format::Jsonl => {
            // The first of the keys Zeek, Elastic (`@timestamp`) and others write.
            let p = [&b"\"ts\":"[..], b"\"@timestamp\":", b"\"timestamp\":"]
                .iter()
                .find_map(|k| memchr::memmem::find(line, k).map(|p| p + k.len()))?;
            let rest = line[p..].trim_ascii_start();
            if let Some(q) = rest.strip_prefix(b"\"") {
                let end = memchr(b'"', q)?;
                let text = std::str::from_utf8(&q[..end]).ok()?;
                return crate::sources::parse_timestamp_ms(text);
            }
            let end = rest
                .iter()
                .position(|c| !(c.is_ascii_digit() || *c == b'.'))
                .unwrap_or(rest.len());
            epoch_ms(&rest[..end])
        }
        Format::Squid => epoch_ms(line.split(|c| *c == b' ').next()?),
        Format::Clf => {
            let open = memchr(b'[', line)?;
            let close = memchr(b']', &line[open..])? + open;
            clf_time_ms(&line[open + 1..close])
        }
        Format::Syslog => {
            let rest = match line.first() {
                Some(b'<') => &line[memchr(b'>', line)? + 1..],
                _ => line,
            };
            if is_bsd_syslog_time(rest) {
                return bsd_syslog_time_ms(&rest[..15], syslog_reference_ms?);
            }
            // RFC 5424 (`1 TIMESTAMP ...`), or an RFC 3339 time leading the line as rsyslog's
            // file format writes it.
            let rest = rest.strip_prefix(b"1 ").unwrap_or(rest);
            let ts = rest.split(|c| *c == b' ').next()?;
            crate::sources::parse_timestamp_ms(std::str::from_utf8(ts).ok()?)
        }
        Format::Text | Format::Auto => None,
    }
}

/// How far after its reference instant an RFC 3164 time may fall before it is taken to be of
/// the year before: one day, for time zones and clocks a little ahead of the reference.
pub const SYSLOG_SLACK_MS: i64 = 86_400_000;

/// The instant of an RFC 3164 timestamp `Mmm dd hh:mm:ss` (day space- or zero-padded), read as
/// UTC since it names no zone, in Unix milliseconds. It names no year either: the year is the
/// latest that puts the time at most [`SYSLOG_SLACK_MS`] after `reference_ms` (the log's last
/// write, or the end of the year the user names), so a log written in January that begins in
/// December places its December records in the year before. `None` for anything else.
pub fn bsd_syslog_time_ms(ts: &[u8], reference_ms: i64) -> Option<i64> {
    let ts: &[u8; 15] = ts.try_into().ok()?;
    let num = |b: &[u8]| -> Option<u32> {
        b.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let month = MONTHS.iter().position(|m| *m == &ts[..3])? as u32 + 1;
    let day = match (ts[4], ts[5]) {
        (b' ', d) => num(&[d])?,
        (a, b) => num(&[a, b])?,
    };
    if ts[3] != b' ' || ts[6] != b' ' || ts[9] != b':' || ts[12] != b':' {
        return None;
    }
    let (h, m, s) = (num(&ts[7..9])?, num(&ts[10..12])?, num(&ts[13..15])?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 59 {
        return None;
    }
    let secs_of_day = i64::from(h * 3600 + m * 60 + s);
    let latest = reference_ms.checked_add(SYSLOG_SLACK_MS)?;
    let (ref_year, _, _) =
        detente_stix::timestamp::civil_from_days(reference_ms.div_euclid(86_400_000));
    // The slack may reach into the next year; February 29th goes back to the latest leap year
    // (at most 8 years: 1896 to 1904).
    (ref_year - 8..=ref_year + 1).rev().find_map(|y| {
        if day > detente_stix::timestamp::days_in_month(y, month) {
            return None;
        }
        let days = detente_stix::timestamp::days_from_civil(y, month, day);
        let t = (days * 86_400 + secs_of_day).checked_mul(1000)?;
        (t <= latest).then_some(t)
    })
}

/// The reference instant that places every RFC 3164 time in `year` (when the user names it):
/// [`SYSLOG_SLACK_MS`] before the year's last millisecond.
pub fn end_of_year_ms(year: i32) -> i64 {
    detente_stix::timestamp::days_from_civil(i64::from(year) + 1, 1, 1) * 86_400_000
        - 1
        - SYSLOG_SLACK_MS
}

fn epoch_ms(v: &[u8]) -> Option<i64> {
    let t: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    (0.0..1e11)
        .contains(&t)
        .then(|| (t * 1000.0).round() as i64)
}

fn clf_time_ms(v: &[u8]) -> Option<i64> {
    // 10/Oct/2000:13:55:36 -0700
    let s = std::str::from_utf8(v).ok()?;
    let (date, zone) = s.split_once(' ')?;
    let mut parts = date.splitn(4, [':', '/']);
    let d: i64 = parts.next()?.parse().ok()?;
    let mon = parts.next()?;
    let m = MONTHS.iter().position(|x| *x == mon.as_bytes())? as i64 + 1;
    let y: i64 = parts.next()?.parse().ok()?;
    let hms = parts.next()?;
    let t = format!(
        "{y:04}-{m:02}-{d:02}T{hms}{}:{}",
        zone.get(..3)?,
        zone.get(3..5)?
    );
    crate::sources::parse_timestamp_ms(&t)
}

const SQUID_FIELDS: [&str; 10] = [
    "time", "elapsed", "client", "code", "bytes", "method", "url", "user", "peer", "type",
];

/// Squid native format: client address, URL, user and hierarchy peer are matched.
pub fn squid_line(line: &[u8], f: &mut impl FnMut(&str, &[u8])) {
    let mut i = 0;
    let mut start = 0;
    // Spaces found 64 bytes at a time (`Seps`), as Zeek's tabs: fields are short.
    for end in Seps::new(line, 0, b' ', b' ').chain(std::iter::once(line.len())) {
        let w = &line[start..end];
        start = end + 1;
        if w.is_empty() {
            continue;
        }
        let n = i;
        i += 1;
        match n {
            2 | 6 | 7 if w != b"-" => f(SQUID_FIELDS[n], w),
            8 => {
                if let Some(p) = memchr(b'/', w) {
                    f("peer", &w[p + 1..]);
                }
            }
            9.. => break,
            _ => {}
        }
    }
}

/// Common/combined log format: client, request target, referer (user agent is not matched).
pub fn clf_line(line: &[u8], f: &mut impl FnMut(&str, &[u8])) {
    let client_end = memchr(b' ', line).unwrap_or(line.len());
    f("client", &line[..client_end]);
    let mut quoted = line.split(|c| *c == b'"').skip(1).step_by(2);
    if let Some(req) = quoted.next()
        && let Some(target) = req.split(|c| *c == b' ').nth(1)
    {
        f("request", target);
    }
    if let Some(referer) = quoted.next()
        && referer != b"-"
    {
        f("referer", referer);
    }
}

/// Syslog: the HOSTNAME field and tokens of the message.
pub fn syslog_line(line: &[u8], f: &mut impl FnMut(&str, &[u8])) {
    let mut rest = line;
    if rest.first() == Some(&b'<')
        && let Some(p) = memchr(b'>', rest)
    {
        rest = &rest[p + 1..];
    }
    let (host, msg) = if rest.first().is_some_and(u8::is_ascii_digit) && rest.get(1) == Some(&b' ')
    {
        // RFC 5424: VERSION TIMESTAMP HOSTNAME APP PROCID MSGID SD MSG
        let mut it = rest.splitn(8, |c| *c == b' ');
        let host = it.nth(2).unwrap_or_default();
        (host, it.nth(4).unwrap_or_default())
    } else if is_bsd_syslog_time(rest) {
        let after = &rest[16.min(rest.len())..];
        match memchr(b' ', after) {
            Some(p) => (&after[..p], &after[p + 1..]),
            None => (after, &after[..0]),
        }
    } else {
        (&rest[..0], rest)
    };
    if !host.is_empty() && host != b"-" {
        f("host", host);
    }
    tokens(msg, &mut |t| f("msg", t));
}

/// Bytes that end a token in free text.
fn delimiter(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'"'
            | b'\''
            | b'<'
            | b'>'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b'['
            | b']'
            | b','
            | b';'
            | b'|'
            | b'`'
            | b'\\'
            | b'='
    ) || c < 0x20
}

/// Splits free text into candidate values (trailing sentence punctuation dropped).
pub fn tokens(text: &[u8], f: &mut impl FnMut(&[u8])) {
    for t in text.split(|c| delimiter(*c)) {
        let t = t.trim_ascii_end();
        let t = match t
            .iter()
            .rposition(|c| !matches!(c, b'.' | b':' | b'!' | b'?'))
        {
            Some(p) => &t[..=p],
            None => continue,
        };
        if t.len() >= 3 {
            f(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(run: impl FnOnce(&mut dyn FnMut(&str, &[u8]))) -> Vec<(String, String)> {
        let mut out = Vec::new();
        run(&mut |k: &str, v: &[u8]| {
            out.push((k.to_string(), String::from_utf8_lossy(v).into_owned()))
        });
        out
    }

    /// A column that repeats is compared for as long as the chunk lasts: its counters stop
    /// at the probe, so a chunk longer than `u16::MAX` values neither overflows them (a panic
    /// in a build with overflow checks) nor turns the column off on a wrapped count.
    #[test]
    fn column_memo_counts_only_its_probe() {
        let mut memo = ColumnMemo {
            cols: vec![MemoCol::default(); 1],
        };
        let key = |v: &[u8]| memo_key(v, 0, v.len());
        memo.keep(0, b"GET", key(b"GET"));
        for _ in 0..70_000 {
            assert!(memo.seen(0, b"GET", || key(b"GET")).0);
        }
        assert!(!memo.seen(0, b"POST", || key(b"POST")).0);
        let c = memo.cols[0];
        assert_eq!((c.tries, c.hits, c.off), (MEMO_PROBE, MEMO_PROBE, false));
    }

    /// Keys are read from the line: the same value has the same key wherever it stands, and
    /// values whose keys agree are still told apart by their bytes.
    #[test]
    fn memo_keys_are_the_values() {
        let line = b"x\tGET\tPOST\tGET\ta.example.org\tb.example.org\tGET";
        let at = |v: &[u8]| {
            let p = memchr::memmem::find_iter(line, v).collect::<Vec<_>>();
            p.iter()
                .map(|s| memo_key(line, *s, s + v.len()))
                .collect::<Vec<_>>()
        };
        let get = at(b"GET");
        assert_eq!(get.len(), 3);
        assert!(get.iter().all(|k| *k == get[0]));
        assert_ne!(get[0], at(b"POST")[0]);
        assert_eq!(memo_key(b"GET", 0, 3), get[0]);
        // Same length, same last eight bytes: one key, two values.
        let (a, b) = (at(b"a.example.org")[0], at(b"b.example.org")[0]);
        assert_eq!(a, b);
        let mut memo = ColumnMemo {
            cols: vec![MemoCol::default(); 1],
        };
        memo.keep(0, b"a.example.org", a);
        assert!(memo.seen(0, b"a.example.org", || a).0);
        assert!(!memo.seen(0, b"b.example.org", || b).0);
    }

    #[test]
    fn detects() {
        assert_eq!(Format::detect(b"#separator \\x09"), Format::Zeek);
        assert_eq!(
            Format::detect(br#"{"_path":"dns","ts":1}"#),
            Format::ZeekJson
        );
        assert_eq!(Format::detect(br#"{"a":1}"#), Format::Jsonl);
        assert_eq!(Format::detect(b"1726531200.003      5 10.0.0.1 TCP_MISS/200 123 GET http://a.com/ - HIER_DIRECT/1.2.3.4 text/html"), Format::Squid);
        assert_eq!(
            Format::detect(
                b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.0\" 200 2326"
            ),
            Format::Clf
        );
        assert_eq!(
            Format::detect(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed"),
            Format::Syslog
        );
        assert_eq!(
            Format::detect(b"Oct 11 22:14:15 mymachine su: failed"),
            Format::Syslog
        );
        assert_eq!(Format::detect(b"hello world"), Format::Text);
        assert!(looks_like_headless_zeek(
            b"1726531200.1\tCabc\t10.0.0.1\t5\t6"
        ));
    }

    #[test]
    fn zeek_header_and_line() {
        let mut st = ZeekState::default();
        st.header_line(b"#separator \\x09").unwrap();
        st.header_line(b"#set_separator\t,").unwrap();
        st.header_line(b"#fields\tts\thost\turi\tanswers").unwrap();
        st.header_line(b"#types\ttime\tstring\tstring\tvector[string]")
            .unwrap();
        assert!(st.header_line(b"#types\ttime").is_err());
        let schema = st.schema.clone().unwrap();
        let mut buf = Vec::new();
        let got = collect(|f| {
            zeek_line(
                b"1.5\tEvil.com\t/a\t1.2.3.4,b.com",
                &st,
                &schema,
                true,
                &mut buf,
                &mut |k, v| f(k, v),
            )
        });
        let keys: Vec<_> = got.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            keys,
            [
                "host=Evil.com",
                "uri=/a",
                "answers=1.2.3.4",
                "answers=b.com",
                "host+uri=Evil.com/a"
            ]
        );
    }

    #[test]
    fn json_walk() {
        let mut s = Vec::new();
        let got = collect(|f| {
            json_line(br#"{"ts":1.5,"host":"a.com","uri":"/x","answers":["1.2.3.4","b\u002ecom"],"n":{"q":"c.com"}}"#, true, &mut s, &mut |k, v| f(k, v)).unwrap()
        });
        let keys: Vec<_> = got.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            keys,
            [
                "host=a.com",
                "uri=/x",
                "answers=1.2.3.4",
                "answers=b.com",
                "q=c.com",
                "host+uri=a.com/x"
            ]
        );
        assert!(json_line(br#"{"a":"b"#, true, &mut s, &mut |_, _| {}).is_err());
        let got = collect(|f| {
            let l = br#"{"uid":"Cx.evil.com","conn_uids":["Cy.evil.com"],"q":"a.com"}"#;
            json_line(l, true, &mut s, &mut |k, v| f(k, v)).unwrap()
        });
        assert_eq!(got, [("q".to_string(), "a.com".to_string())]);
        assert!(json_line(b"not json", true, &mut s, &mut |_, _| {}).is_err());
    }

    #[test]
    fn record_times() {
        let z = Some((0, b'\t'));
        assert_eq!(
            record_time_ms(Format::Zeek, b"1521911720.865716\tC", z, None),
            Some(1_521_911_720_866)
        );
        let j = br#"{"_path":"dns","ts":"2018-03-24T17:15:20.865716Z","uid":"C"}"#;
        assert_eq!(
            record_time_ms(Format::ZeekJson, j, None, None),
            Some(1_521_911_720_865)
        );
        assert_eq!(
            record_time_ms(Format::Jsonl, br#"{"ts": 12.5}"#, None, None),
            Some(12_500)
        );
        for j in [
            &br#"{"@timestamp":"2018-03-24T17:15:20.865Z","host":"a"}"#[..],
            br#"{"timestamp": "2018-03-24T17:15:20.865Z"}"#,
        ] {
            assert_eq!(
                record_time_ms(Format::Jsonl, j, None, None),
                Some(1_521_911_720_865)
            );
        }
        let c = b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1";
        assert_eq!(
            record_time_ms(Format::Clf, c, None, None),
            Some(971_211_336_000)
        );
        let s = b"<165>1 2003-10-11T22:14:15.003Z host app - - - msg";
        assert_eq!(
            record_time_ms(Format::Syslog, s, None, None),
            Some(1_065_910_455_003)
        );
        assert_eq!(record_time_ms(Format::Text, b"x", None, None), None);
    }

    /// `t` (Unix ms) as an RFC 3164 timestamp, day space-padded.
    fn bsd(t: i64) -> String {
        let (_, m, d) = detente_stix::timestamp::civil_from_days(t.div_euclid(86_400_000));
        let s = t.div_euclid(1000).rem_euclid(86_400);
        let mon = std::str::from_utf8(MONTHS[m as usize - 1]).unwrap_or("?");
        format!(
            "{mon} {d:>2} {:02}:{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }

    #[test]
    fn syslog_times() {
        // 2026-01-02T03:00:00Z: the log was last written early in January.
        let jan = crate::sources::parse_timestamp_ms("2026-01-02T03:00:00Z").unwrap();
        let at = |l: &[u8], r| record_time_ms(Format::Syslog, l, None, r);
        let ms = |s| crate::sources::parse_timestamp_ms(s);
        assert_eq!(
            at(b"<34>Jan  2 01:02:03 host su: x", Some(jan)),
            ms("2026-01-02T01:02:03Z")
        );
        // December before a January reference is the year before.
        assert_eq!(
            at(b"Dec 31 23:59:59 host su: x", Some(jan)),
            ms("2025-12-31T23:59:59Z")
        );
        // Up to a day past the reference stays in its year; more goes back a year.
        assert_eq!(
            at(b"Jan 03 02:59:59 h a: x", Some(jan)),
            ms("2026-01-03T02:59:59Z")
        );
        assert_eq!(
            at(b"Jan 03 03:00:01 h a: x", Some(jan)),
            ms("2025-01-03T03:00:01Z")
        );
        // February 29th: the latest leap year.
        assert_eq!(
            at(b"Feb 29 12:00:00 h a: x", Some(jan)),
            ms("2024-02-29T12:00:00Z")
        );
        // A named year: its end is the reference.
        let y = Some(end_of_year_ms(2024));
        assert_eq!(at(b"Dec 31 23:59:59 h a: x", y), ms("2024-12-31T23:59:59Z"));
        assert_eq!(at(b"Jan  1 00:00:00 h a: x", y), ms("2024-01-01T00:00:00Z"));
        // No reference: no time. Malformed: no time.
        assert_eq!(at(b"Jan  1 00:00:00 h a: x", None), None);
        for bad in [
            &b"Jan 32 00:00:00 h a: x"[..],
            b"Jan  0 00:00:00 h a: x",
            b"Jan  1 24:00:00 h a: x",
            b"Jan  1 00:60:00 h a: x",
            b"Jan  1 00:00:6x h a: x",
            b"Jan -1 00:00:00 h a: x",
            b"Foo  1 00:00:00 h a: x",
            b"<13>",
            b"<13",
        ] {
            assert_eq!(at(bad, y), None, "{}", String::from_utf8_lossy(bad));
        }
        // RFC 5424, and an RFC 3339 time leading the line (rsyslog's file format).
        assert_eq!(
            at(b"<165>1 2003-10-11T22:14:15.003Z host app - - - msg", None),
            Some(1_065_910_455_003)
        );
        assert_eq!(
            at(b"2003-10-11T22:14:15.003+00:00 host app: msg", None),
            Some(1_065_910_455_003)
        );
        assert_eq!(at(b"<165>1 - host app - - - msg", None), None);
        assert_eq!(bsd(ms("2025-03-04T05:06:07Z").unwrap()), "Mar  4 05:06:07");
    }

    #[test]
    fn squid_clf_syslog() {
        let got = collect(|f| {
            squid_line(b"1726531200.003      5 10.0.0.1 TCP_MISS/200 123 GET http://a.com/x - HIER_DIRECT/1.2.3.4 text/html", &mut |k, v| f(k, v))
        });
        let keys: Vec<_> = got.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            keys,
            ["client=10.0.0.1", "url=http://a.com/x", "peer=1.2.3.4"]
        );
        let got = collect(|f| {
            clf_line(b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET http://e.com/a HTTP/1.0\" 200 2326 \"http://r.com/\" \"UA\"", &mut |k, v| f(k, v))
        });
        assert_eq!(
            got.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            ["client", "request", "referer"]
        );
        let got = collect(|f| {
            syslog_line(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - connect to 1.2.3.4:443 (evil.com).", &mut |k, v| f(k, v))
        });
        let vals: Vec<_> = got.iter().map(|x| x.1.as_str()).collect();
        assert!(
            vals.contains(&"mymachine.example.com")
                && vals.contains(&"1.2.3.4:443")
                && vals.contains(&"evil.com"),
            "{vals:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn seps_find_every_separator(
            buf in proptest::collection::vec(0u8..4, 0..300),
            from in 0usize..200,
            a in 0u8..4,
            b in 0u8..4,
        ) {
            let from = from.min(buf.len());
            let want: Vec<usize> = (from..buf.len()).filter(|i| buf[*i] == a || buf[*i] == b).collect();
            let got: Vec<usize> = Seps::new(&buf, from, a, b).collect();
            proptest::prop_assert_eq!(got, want);
        }

        #[test]
        fn block_masks_match_the_bytes(
            buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            base in 0usize..200,
            a: u8,
            b: u8,
        ) {
            // Whole blocks and the zero-padded last one (no bits past the buffer's end).
            let base = base.min(buf.len());
            let (mask, ends) = load_block(&buf, base, a, b);
            let rest = &buf[base..];
            let bits = |f: &dyn Fn(u8) -> bool| {
                (0..64).filter(|&i| rest.get(i).is_some_and(|&c| f(c))).fold(0u64, |m, i| m | (1 << i))
            };
            proptest::prop_assert_eq!(mask, bits(&|c| c == a || c == b));
            proptest::prop_assert_eq!(ends, bits(&|c| c == b));
        }

        #[test]
        fn column_memo_skips_only_inert_repeats(
            rows in proptest::collection::vec(proptest::collection::vec(0usize..8, 4), 0..200),
            met in proptest::collection::vec(proptest::prelude::any::<bool>(), 8),
        ) {
            // Few distinct values, so columns repeat; `met` says which values meet an indicator.
            const VOCAB: [&str; 8] = ["a", "b.c", "d,e", "-", "/p", "x,b.c", "GET", "e"];
            let mut st = ZeekState::default();
            st.header_line(b"#fields\tts\thost\turi\tlist\tm").unwrap();
            st.header_line(b"#types\ttime\tstring\tstring\tset[string]\tstring").unwrap();
            let schema = st.schema.clone().unwrap();
            let text: String = rows
                .iter()
                .map(|r| format!("1\t{}\n", r.iter().map(|i| VOCAB[*i]).collect::<Vec<_>>().join("\t")))
                .collect();
            let meets = |v: &[u8]| {
                v.split(|c| *c == b',').any(|e| VOCAB.iter().zip(&met).any(|(w, m)| *m && w.as_bytes() == e))
            };
            let mut want = Vec::new();
            let mut got = Vec::new();
            let mut memo = ColumnMemo::default();
            let mut buf = Vec::new();
            for (n, line) in text.as_bytes().split(|c| *c == b'\n').filter(|l| !l.is_empty()).enumerate() {
                let seps: Vec<u32> = memchr::memchr_iter(b'\t', line).map(|p| p as u32).collect();
                zeek_fields(line, &seps, &st, &schema, true, &mut buf, &mut |k, v| {
                    if k == HOST_URI || meets(v) {
                        want.push((n, k.to_string(), v.to_vec()));
                    }
                });
                zeek_fields_memo(line, &seps, &st, &schema, true, &mut buf, Some(&mut memo), &mut |k, v| {
                    let hit = k == HOST_URI || meets(v);
                    if hit {
                        got.push((n, k.to_string(), v.to_vec()));
                    }
                    !hit
                });
            }
            proptest::prop_assert_eq!(got, want);
        }

        #[test]
        fn seps_line_splits_as_the_bytes_say(
            buf in proptest::collection::vec(0u8..4, 0..300),
            from in 0usize..200,
        ) {
            // Field separator 1, line end 2, as the scan reads Zeek TSV line after line.
            let from = from.min(buf.len());
            let mut sc = Seps::new(&buf, from, 1, 2);
            let (mut start, mut seps) = (from, Vec::new());
            while start < buf.len() {
                let (end, n) = sc.line(start, &mut seps);
                let want_end = (start..buf.len()).find(|i| buf[*i] == 2).unwrap_or(buf.len());
                let want: Vec<u32> = (start..want_end)
                    .filter(|i| buf[*i] == 1)
                    .map(|i| u32::try_from(i - start).unwrap_or(u32::MAX))
                    .collect();
                proptest::prop_assert_eq!(end, want_end);
                proptest::prop_assert_eq!(&seps[..n], &want[..]);
                start = end + 1;
            }
        }

        #[test]
        fn syslog_time_round_trips(
            secs in -2_000_000_000i64..5_000_000_000,
            // From a day before the record to 300 days after it: within the year it names.
            after in -86_400i64..300 * 86_400,
        ) {
            let t = secs * 1000;
            let reference = t + after * 1000;
            let line = format!("<13>{} web1 app: hello", bsd(t));
            proptest::prop_assert_eq!(
                record_time_ms(Format::Syslog, line.as_bytes(), None, Some(reference)),
                Some(t)
            );
            // More than the slack before the record, the same text is a year (or more) earlier.
            let early = t - SYSLOG_SLACK_MS - 1000;
            let back = record_time_ms(Format::Syslog, line.as_bytes(), None, Some(early));
            proptest::prop_assert!(back.is_some_and(|b| b < t - 300 * 86_400_000), "{back:?}");
        }

        #[test]
        fn syslog_times_never_panic(line: Vec<u8>, reference: i64) {
            let _ = record_time_ms(Format::Syslog, &line, None, Some(reference));
            if let Some(ts) = line.get(..15) {
                let _ = bsd_syslog_time_ms(ts, reference);
            }
        }

        #[test]
        fn readers_never_panic(line: Vec<u8>) {
            let mut s = Vec::new();
            let _ = json_line(&line, true, &mut s, &mut |_, _| {});
            squid_line(&line, &mut |_, _| {});
            clf_line(&line, &mut |_, _| {});
            syslog_line(&line, &mut |_, _| {});
            let mut st = ZeekState::default();
            let _ = st.header_line(&line);
            let _ = Format::detect(&line);
        }
    }
}
