//! An incremental, storage-agnostic tree builder for a sequencer.
//!
//! It keeps only the right edge of the tree (one hash per set bit of the size) and the incomplete
//! tile at each tile level (fewer than 256 hashes each). Appending leaf hashes yields the full
//! tiles they complete; the caller stores those, the entry, and the partial tiles of each
//! checkpoint. Storage per entry is the level-0 hash (32 bytes) plus ~1/255 of that for the
//! upper levels.

use crate::hash::{Hash, empty_root, node_hash, subtree_root};
use crate::tile::{TILE_HEIGHT, TILE_WIDTH, TileId, encode_hashes, hashes_at_level};

/// Resume state that does not match the tree size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partial tile at level {level} has {got} hashes, tree size {size} needs {want}")]
pub struct ResumeError {
    /// Tile level.
    pub level: u8,
    /// Hashes given.
    pub got: usize,
    /// Hashes needed.
    pub want: u64,
    /// Tree size.
    pub size: u64,
}

/// A full tile finished by an append: its id and its 8,192-byte body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullTile {
    /// The tile.
    pub id: TileId,
    /// Its hashes.
    pub body: Vec<u8>,
}

/// Incremental Merkle tree over leaf hashes; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct TreeBuilder {
    size: u64,
    /// Roots of the complete subtrees of the size's binary decomposition, largest first.
    edge: Vec<(u32, Hash)>,
    /// The incomplete tile at each tile level.
    partial: Vec<Vec<Hash>>,
    /// Full tiles completed since the last [`TreeBuilder::take_full_tiles`].
    completed: Vec<FullTile>,
}

impl TreeBuilder {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes a tree of `size` entries from its partial tiles: `partials[L]` holds the hashes of
    /// the incomplete tile at level `L`, `(size >> 8L) % 256` of them (empty vectors, or missing
    /// trailing levels, where that is 0).
    pub fn resume(size: u64, partials: Vec<Vec<Hash>>) -> Result<Self, ResumeError> {
        let mut partial = Vec::new();
        let mut edge = Vec::new();
        let levels = (0u8..8)
            .take_while(|&l| hashes_at_level(size, l) > 0)
            .count();
        let mut given = partials.into_iter();
        for level in 0..levels as u8 {
            let hashes = given.next().unwrap_or_default();
            let want = hashes_at_level(size, level) % TILE_WIDTH;
            if hashes.len() as u64 != want {
                return Err(ResumeError {
                    level,
                    got: hashes.len(),
                    want,
                    size,
                });
            }
            partial.push(hashes);
        }
        if let Some(extra) = given.find(|h| !h.is_empty()) {
            return Err(ResumeError {
                level: levels as u8,
                got: extra.len(),
                want: 0,
                size,
            });
        }
        for (level, hashes) in partial.iter().enumerate().rev() {
            let mut offset = 0usize;
            for bit in (0..TILE_HEIGHT).rev() {
                if hashes.len() & (1 << bit) != 0 {
                    let group = &hashes[offset..offset + (1 << bit)];
                    edge.push((level as u32 * TILE_HEIGHT + bit, subtree_root(group)));
                    offset += 1 << bit;
                }
            }
        }
        Ok(TreeBuilder {
            size,
            edge,
            partial,
            completed: Vec::new(),
        })
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash; returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        let index = self.size;
        self.size += 1;
        self.push_tile_hash(0, leaf);
        let mut level = 0u32;
        let mut h = leaf;
        while let Some(&(l, left)) = self.edge.last() {
            if l != level {
                break;
            }
            self.edge.pop();
            h = node_hash(&left, &h);
            level += 1;
            if level.is_multiple_of(TILE_HEIGHT) {
                self.push_tile_hash((level / TILE_HEIGHT) as usize, h);
            }
        }
        self.edge.push((level, h));
        index
    }

    fn push_tile_hash(&mut self, level: usize, h: Hash) {
        if self.partial.len() <= level {
            self.partial.resize_with(level + 1, Vec::new);
        }
        let tile = &mut self.partial[level];
        tile.push(h);
        if tile.len() as u64 == TILE_WIDTH {
            let index = (hashes_at_level(self.size, level as u8) - 1) / TILE_WIDTH;
            let body = encode_hashes(tile);
            tile.clear();
            self.completed.push(FullTile {
                id: TileId::full(level as u8, index),
                body,
            });
        }
    }

    /// The root hash of the current tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.edge.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// Full tiles completed since the last call, in completion order.
    pub fn take_full_tiles(&mut self) -> Vec<FullTile> {
        std::mem::take(&mut self.completed)
    }

    /// The partial tiles of the current size (what a checkpoint at this size publishes
    /// besides the full tiles), lowest level first.
    pub fn partial_tiles(&self) -> Vec<FullTile> {
        self.partial
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(level, h)| FullTile {
                id: TileId {
                    level: level as u8,
                    index: hashes_at_level(self.size, level as u8) / TILE_WIDTH,
                    width: h.len() as u16,
                },
                body: encode_hashes(h),
            })
            .collect()
    }

    /// The hashes of the incomplete tile at each level, as [`TreeBuilder::resume`] takes them.
    pub fn partial_hashes(&self) -> &[Vec<Hash>] {
        &self.partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn builder_matches_recursive_root_and_resumes() {
        let leaves: Vec<Hash> = (0..600u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut b = TreeBuilder::new();
        assert_eq!(b.root(), empty_root());
        for (i, h) in leaves.iter().enumerate() {
            b.append(*h);
            let n = i + 1;
            assert_eq!(b.root(), subtree_root(&leaves[..n]), "size {n}");
            let r = TreeBuilder::resume(n as u64, b.partial_hashes().to_vec()).unwrap();
            assert_eq!(r.root(), b.root(), "resumed size {n}");
        }
        let tiles = b.take_full_tiles();
        let ids: Vec<_> = tiles.iter().map(|t| t.id.path()).collect();
        assert_eq!(ids, ["tile/0/000", "tile/0/001"]);
        let p: Vec<_> = b.partial_tiles().iter().map(|t| t.id.path()).collect();
        assert_eq!(p, ["tile/0/002.p/88", "tile/1/000.p/2"]);
    }

    #[test]
    fn resume_rejects_wrong_widths() {
        assert!(TreeBuilder::resume(3, vec![vec![Hash::default(); 2]]).is_err());
        assert!(TreeBuilder::resume(0, vec![vec![Hash::default()]]).is_err());
        assert!(TreeBuilder::resume(0, vec![]).is_ok());
    }
}
