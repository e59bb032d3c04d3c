//! `tlog-tiles`: tile paths, hash tiles, entry bundles, and proofs computed from tiles.
//!
//! Tiles have height 8: tile level `L` holds the hashes of tree level `8·L`, 256 to a full tile.

use std::collections::HashMap;
use std::fmt;

use crate::hash::{HASH_SIZE, Hash, node_hash};
use crate::proof::HashReader;

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels covered by one tile level.
pub const TILE_HEIGHT: u32 = 8;
/// Largest entry an entry bundle can carry (uint16 length prefix).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// One hash tile (or, with [`TileId::entries_path`], the entry bundle at level 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level (tree level divided by 8).
    pub level: u8,
    /// Tile index at its level.
    pub index: u64,
    /// Number of hashes, 1..=256; 256 is a full tile.
    pub width: u16,
}

/// What a `tile/...` path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`.
    Hashes(TileId),
    /// `tile/entries/<N>[.p/<W>]` (the level of the id is 0).
    Entries(TileId),
}

/// A malformed tile, bundle or path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A tile body of the wrong length.
    #[error("{path} has {got} bytes, expected {want}")]
    Length {
        /// Tile path.
        path: String,
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// An entry bundle that ends inside a length prefix or an entry.
    #[error("entry bundle is truncated after {entries} entries")]
    TruncatedBundle {
        /// Complete entries read before the truncation.
        entries: usize,
    },
    /// An entry bundle with the wrong number of entries.
    #[error("{path} holds {got} entries, expected {want}")]
    BundleCount {
        /// Bundle path.
        path: String,
        /// Entries found.
        got: usize,
        /// Entries expected.
        want: usize,
    },
    /// An entry longer than 65,535 bytes.
    #[error("entry of {0} bytes exceeds the 65535-byte limit")]
    EntryTooLarge(usize),
    /// A path that is not a canonical tile path.
    #[error("not a canonical tile path: {0:?}")]
    BadPath(String),
}

/// Writes a tile index as 3-digit groups, all but the last prefixed with `x`: `x001/x234/067`.
pub fn index_path(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    n /= 1000;
    while n > 0 {
        s = format!("x{:03}/{s}", n % 1000);
        n /= 1000;
    }
    s
}

impl TileId {
    /// A full tile.
    pub fn full(level: u8, index: u64) -> Self {
        TileId {
            level,
            index,
            width: TILE_WIDTH as u16,
        }
    }

    /// Whether the tile holds all 256 hashes.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    fn suffix(&self) -> String {
        if self.is_full() {
            index_path(self.index)
        } else {
            format!("{}.p/{}", index_path(self.index), self.width)
        }
    }

    /// `tile/<L>/<N>[.p/<W>]`, relative to the log prefix.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.suffix())
    }

    /// `tile/entries/<N>[.p/<W>]` for the entry bundle of a level-0 tile.
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.suffix())
    }

    /// Bytes in the tile's hash body.
    pub fn byte_len(&self) -> usize {
        usize::from(self.width) * HASH_SIZE
    }

    /// The first entry (leaf) index the tile covers.
    pub fn first_entry(&self) -> u128 {
        u128::from(self.index) << (TILE_HEIGHT * (u32::from(self.level) + 1))
    }

    /// Parses a canonical `tile/...` path (relative to the log prefix).
    pub fn parse_path(path: &str) -> Result<TilePath, TileError> {
        let bad = || TileError::BadPath(path.to_owned());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (entries, level, rest) = match rest.strip_prefix("entries/") {
            Some(r) => (true, 0u8, r),
            None => {
                let (l, r) = rest.split_once('/').ok_or_else(bad)?;
                let level = parse_decimal(l).filter(|&l| l <= 63).ok_or_else(bad)? as u8;
                (false, level, r)
            }
        };
        let mut groups: Vec<&str> = rest.split('/').collect();
        let mut width = TILE_WIDTH as u16;
        if groups.len() >= 2
            && let Some(index_part) = groups[groups.len() - 2].strip_suffix(".p")
        {
            let w = groups.pop().and_then(parse_decimal).ok_or_else(bad)?;
            if !(1..TILE_WIDTH).contains(&w) {
                return Err(bad());
            }
            width = w as u16;
            // Exactly one `.p`: `210.p.p/1` is not canonical (found by the tlog_tiles fuzzer).
            let last = groups.len() - 1;
            groups[last] = index_part;
        }
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let digits = if i + 1 == groups.len() {
                Some(*g)
            } else {
                g.strip_prefix('x')
            };
            let digits = digits.filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()));
            let d = digits.ok_or_else(bad)?;
            if i == 0 && groups.len() > 1 && d == "000" {
                return Err(bad());
            }
            let v: u64 = d.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(v))
                .ok_or_else(bad)?;
        }
        let id = TileId {
            level,
            index,
            width,
        };
        Ok(if entries {
            TilePath::Entries(id)
        } else {
            TilePath::Hashes(id)
        })
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Canonical ASCII decimal (no sign, no leading zeros).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Number of hashes stored at tile level `level` for a tree of `size` entries.
pub fn hashes_at_level(size: u64, level: u8) -> u64 {
    let shift = TILE_HEIGHT * u32::from(level);
    if shift >= 64 { 0 } else { size >> shift }
}

/// The tile holding hash number `hash_index` of tile level `level` in a tree of `size` entries,
/// with the width that tree size publishes; `None` if that hash does not exist yet.
pub fn tile_containing(level: u8, hash_index: u64, size: u64) -> Option<TileId> {
    let count = hashes_at_level(size, level);
    if hash_index >= count {
        return None;
    }
    let index = hash_index / TILE_WIDTH;
    let width = (count - index * TILE_WIDTH).min(TILE_WIDTH) as u16;
    Some(TileId {
        level,
        index,
        width,
    })
}

/// Every hash tile a tree of `size` entries publishes, level by level, lazily (a claimed size
/// can be huge). The level-0 tiles are also the ids of the entry bundles.
pub fn tiles_for_size(size: u64) -> impl Iterator<Item = TileId> {
    (0u8..8)
        .take_while(move |&l| hashes_at_level(size, l) > 0)
        .flat_map(move |level| {
            let count = hashes_at_level(size, level);
            (0..count.div_ceil(TILE_WIDTH))
                .filter_map(move |i| tile_containing(level, i * TILE_WIDTH, size))
        })
}

/// Concatenates hashes into a tile body.
pub fn encode_hashes(hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * HASH_SIZE);
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

/// Splits a tile body into hashes, checking its length against the tile's width.
pub fn decode_tile(tile: TileId, body: &[u8]) -> Result<Vec<Hash>, TileError> {
    if body.len() != tile.byte_len() {
        return Err(TileError::Length {
            path: tile.path(),
            got: body.len(),
            want: tile.byte_len(),
        });
    }
    Ok(body
        .chunks_exact(HASH_SIZE)
        .map(|c| Hash(c.try_into().unwrap_or([0; 32])))
        .collect())
}

/// Encodes entries as a bundle: each one prefixed by its big-endian uint16 length.
pub fn encode_entry_bundle<'a, I>(entries: I) -> Result<Vec<u8>, TileError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries.
pub fn decode_entry_bundle(body: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let truncated = TileError::TruncatedBundle { entries: out.len() };
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(truncated);
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    Ok(out)
}

/// Splits the entry bundle of a level-0 tile, checking it holds exactly `width` entries.
pub fn decode_bundle_for(tile: TileId, body: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let entries = decode_entry_bundle(body)?;
    if entries.len() != usize::from(tile.width) {
        return Err(TileError::BundleCount {
            path: tile.entries_path(),
            got: entries.len(),
            want: usize::from(tile.width),
        });
    }
    Ok(entries)
}

/// Where hash tiles come from (files, HTTP, a database).
pub trait TileSource {
    /// Why a tile could not be read.
    type Error: std::error::Error + 'static;

    /// The body of the given hash tile, at exactly the given width.
    fn read_tile(&mut self, tile: TileId) -> Result<Vec<u8>, Self::Error>;
}

/// Why a hash could not be read from tiles.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError<E: std::error::Error + 'static> {
    /// The tile source failed.
    #[error("reading {path}: {source}")]
    Source {
        /// Tile path.
        path: String,
        /// The source's error.
        source: E,
    },
    /// The tile was malformed.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// The requested subtree is not complete in the tree.
    #[error("subtree at level {level}, index {index} is not complete in a tree of size {size}")]
    OutsideTree {
        /// Tree level.
        level: u32,
        /// Index at that level.
        index: u64,
        /// Tree size.
        size: u64,
    },
}

/// A tile's hashes and the subtree hashes computed from them so far.
struct CachedTile {
    hashes: Vec<Hash>,
    /// `memo[r - 1][i]`: hash of the `2^r` tile hashes starting at `i << r`, once computed.
    memo: Vec<Vec<Option<Hash>>>,
}

impl CachedTile {
    fn new(hashes: Vec<Hash>) -> Self {
        let memo = (1..TILE_HEIGHT)
            .map(|r| vec![None; hashes.len() >> r])
            .collect();
        CachedTile { hashes, memo }
    }

    /// Hash of the `2^r` hashes starting at `pos << r`, if they are all in the tile.
    fn subtree(&mut self, r: u32, pos: usize) -> Option<Hash> {
        if r == 0 {
            return self.hashes.get(pos).copied();
        }
        let slot = self.memo.get(r as usize - 1)?.get(pos)?;
        if let Some(h) = slot {
            return Some(*h);
        }
        let h = node_hash(
            &self.subtree(r - 1, 2 * pos)?,
            &self.subtree(r - 1, 2 * pos + 1)?,
        );
        self.memo[r as usize - 1][pos] = Some(h);
        Some(h)
    }
}

/// Tiles kept by a [`TileHashReader`] unless told otherwise (about 16 MiB).
pub const DEFAULT_CACHED_TILES: usize = 1024;

/// A [`HashReader`] for the tree of `size` entries, reading the tiles that size publishes (it
/// never asks for any other, as tlog-tiles requires). Tiles and the subtree hashes computed from
/// them are cached, so a long-lived reader serves proofs with few hash operations; the cache is
/// dropped when it exceeds its limit.
pub struct TileHashReader<S> {
    source: S,
    size: u64,
    limit: usize,
    cache: HashMap<(u8, u64), CachedTile>,
}

impl<S: TileSource> TileHashReader<S> {
    /// A reader for the tree of `size` entries.
    pub fn new(source: S, size: u64) -> Self {
        TileHashReader {
            source,
            size,
            limit: DEFAULT_CACHED_TILES,
            cache: HashMap::new(),
        }
    }

    /// Keeps at most `tiles` tiles cached.
    pub fn with_cache_limit(mut self, tiles: usize) -> Self {
        self.limit = tiles.max(1);
        self
    }

    /// The tree size this reader serves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Moves to another tree size, keeping cached full tiles (they never change) and dropping
    /// partial ones.
    pub fn set_size(&mut self, size: u64) {
        self.size = size;
        self.cache
            .retain(|_, t| t.hashes.len() as u64 == TILE_WIDTH);
    }

    fn load(&mut self, tile: TileId) -> Result<&mut CachedTile, TileReadError<S::Error>> {
        let key = (tile.level, tile.index);
        if !self.cache.contains_key(&key) {
            let body = self
                .source
                .read_tile(tile)
                .map_err(|source| TileReadError::Source {
                    path: tile.path(),
                    source,
                })?;
            let hashes = decode_tile(tile, &body)?;
            if self.cache.len() >= self.limit {
                self.cache.clear();
            }
            self.cache.insert(key, CachedTile::new(hashes));
        }
        self.cache
            .get_mut(&key)
            .ok_or(TileReadError::Tile(TileError::BadPath(tile.path())))
    }

    /// The hashes of one tile.
    pub fn tile_hashes(&mut self, tile: TileId) -> Result<&[Hash], TileReadError<S::Error>> {
        Ok(&self.load(tile)?.hashes)
    }

    /// The underlying source.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }
}

impl<S: TileSource> HashReader for TileHashReader<S> {
    type Error = TileReadError<S::Error>;

    fn subtree_hash(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        let size = self.size;
        let outside = TileReadError::OutsideTree { level, index, size };
        if level >= 64 || (u128::from(index) + 1) << level > u128::from(size) {
            return Err(outside);
        }
        let tile_level = (level / TILE_HEIGHT) as u8;
        let r = level % TILE_HEIGHT;
        let start = index << r;
        let tile = tile_containing(tile_level, start, size).ok_or(outside)?;
        let pos = ((start % TILE_WIDTH) >> r) as usize;
        self.load(tile)?
            .subtree(r, pos)
            .ok_or(TileReadError::OutsideTree { level, index, size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(index_path(5), "005");
        assert_eq!(index_path(1000), "x001/000");
        let t = TileId {
            level: 0,
            index: 273,
            width: 112,
        };
        assert_eq!(t.path(), "tile/0/273.p/112");
        assert_eq!(t.entries_path(), "tile/entries/273.p/112");
        assert_eq!(
            TileId::parse_path("tile/0/273.p/112"),
            Ok(TilePath::Hashes(t))
        );
        assert_eq!(
            TileId::parse_path("tile/entries/273.p/112"),
            Ok(TilePath::Entries(t))
        );
        assert_eq!(
            TileId::parse_path("tile/3/x001/x234/067"),
            Ok(TilePath::Hashes(TileId::full(3, 1234067)))
        );
        for bad in [
            "tile/0/x000/005",
            "tile/0/5",
            "tile/01/005",
            "tile/0/005.p/0",
            "tile/0/005.p/256",
            "tile/0/005.p/07",
            "tile/64/000",
            "tile/0/x1/005",
            "tiles/0/000",
            "tile/0/000/",
            "tile/0/.p/5",
            "tile/entries/210.p.p.p/1",
            "tile/0/005.p.p/3",
        ] {
            assert!(TileId::parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiles_at_spec_example_sizes() {
        let paths = |n| tiles_for_size(n).map(|t| t.path()).collect::<Vec<_>>();
        assert_eq!(paths(256), ["tile/0/000", "tile/1/000.p/1"]);
        let p = paths(70_000);
        assert_eq!(p.len(), 274 + 2 + 1);
        assert!(p.contains(&"tile/0/273.p/112".to_owned()));
        assert!(p.contains(&"tile/1/001.p/17".to_owned()));
        assert!(p.contains(&"tile/2/000.p/1".to_owned()));
        assert_eq!(tiles_for_size(0).count(), 0);
        assert_eq!(tiles_for_size(u64::MAX).next(), Some(TileId::full(0, 0)));
        // Lazy: a huge claimed size does not allocate every tile id up front.
        assert_eq!(tiles_for_size(1 << 56).nth(1), Some(TileId::full(0, 1)));
    }

    #[test]
    fn bundles_round_trip_and_reject_truncation() {
        let entries: Vec<&[u8]> = vec![b"one", b"", b"three"];
        let b = encode_entry_bundle(entries.iter().copied()).unwrap();
        assert_eq!(decode_entry_bundle(&b).unwrap(), entries);
        assert_eq!(
            decode_entry_bundle(&b[..b.len() - 1]),
            Err(TileError::TruncatedBundle { entries: 2 })
        );
        let big = vec![0u8; 65_536];
        assert_eq!(
            encode_entry_bundle([big.as_slice()]),
            Err(TileError::EntryTooLarge(65_536))
        );
    }
}
