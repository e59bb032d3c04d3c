//! Inclusion and consistency proofs (RFC 6962 §2.1.1–2.1.2), made from any source of complete
//! subtree hashes and verified with the RFC 9162 §2.1.3.2 / §2.1.4.2 algorithms.

use crate::hash::{Hash, empty_root, largest_power_of_two_below, node_hash};

/// A source of complete, aligned subtree hashes: level `l`, index `i` is
/// `MTH(D[i·2^l .. (i+1)·2^l])`.
pub trait HashReader {
    /// Why a hash could not be read.
    type Error: std::error::Error + 'static;

    /// The hash of the complete subtree of `2^level` leaves starting at leaf `index << level`.
    fn subtree_hash(&mut self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof or root could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError<E: std::error::Error + 'static> {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Requested leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A consistency proof needs `0 < old <= new`.
    #[error("no consistency proof from size {old} to size {new}")]
    BadSizes {
        /// Older tree size.
        old: u64,
        /// Newer tree size.
        new: u64,
    },
    /// The hash source failed.
    #[error(transparent)]
    Read(E),
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Claimed leaf index.
        index: u64,
        /// Claimed tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for the sizes.
    #[error("proof has the wrong number of hashes for these tree sizes")]
    WrongLength,
    /// The proof leads to a different root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The old tree is larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesReversed {
        /// Older tree size.
        old: u64,
        /// Newer tree size.
        new: u64,
    },
    /// Consistency from the empty tree is a protocol case, not a proof.
    #[error("consistency from tree size 0 is not a proof")]
    OldSizeZero,
    /// Equal sizes need an empty proof and identical roots.
    #[error("equal tree sizes with different roots or a non-empty proof")]
    EqualSizesMismatch,
}

/// Hash of `D[lo..hi]` where `lo` is a multiple of the smallest power of two ≥ `hi - lo`, as in
/// every subtree of the RFC 6962 recursion: the complete subtrees of the binary decomposition of
/// the length, folded from the right.
fn range_hash<R: HashReader>(reader: &mut R, lo: u64, hi: u64) -> Result<Hash, R::Error> {
    let mut blocks = Vec::with_capacity(64);
    let (mut start, mut remaining) = (lo, hi - lo);
    while remaining > 0 {
        let level = 63 - remaining.leading_zeros();
        blocks.push(reader.subtree_hash(level, start >> level)?);
        start += 1u64 << level;
        remaining -= 1u64 << level;
    }
    let mut acc = blocks.pop().unwrap_or_else(empty_root);
    while let Some(left) = blocks.pop() {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root hash of the tree of the first `size` leaves.
pub fn tree_root<R: HashReader>(reader: &mut R, size: u64) -> Result<Hash, R::Error> {
    range_hash(reader, 0, size)
}

/// `PATH(index, D[0..size])`: the audit path proving leaf `index` is in the tree of `size` leaves.
pub fn prove_inclusion<R: HashReader>(
    reader: &mut R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    let mut siblings = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = largest_power_of_two_below(hi - lo);
        if index < lo + k {
            siblings.push(range_hash(reader, lo + k, hi).map_err(ProveError::Read)?);
            hi = lo + k;
        } else {
            siblings.push(range_hash(reader, lo, lo + k).map_err(ProveError::Read)?);
            lo += k;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// `PROOF(old, D[0..new])`: the consistency proof between two tree sizes, `0 < old <= new`.
pub fn prove_consistency<R: HashReader>(
    reader: &mut R,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if old == 0 || old > new {
        return Err(ProveError::BadSizes { old, new });
    }
    let mut siblings = Vec::new();
    let (mut lo, mut hi, mut m, mut complete) = (0u64, new, old, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !complete {
                siblings.push(range_hash(reader, lo, hi).map_err(ProveError::Read)?);
            }
            break;
        }
        let k = largest_power_of_two_below(n);
        if m <= k {
            siblings.push(range_hash(reader, lo + k, hi).map_err(ProveError::Read)?);
            hi = lo + k;
        } else {
            siblings.push(range_hash(reader, lo, lo + k).map_err(ProveError::Read)?);
            lo += k;
            m -= k;
            complete = false;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(VerifyError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(VerifyError::WrongLength);
    }
    if r != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizesReversed {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if proof.is_empty() && old_root == new_root {
            return Ok(());
        }
        return Err(VerifyError::EqualSizesMismatch);
    }
    if old_size == 0 {
        return Err(VerifyError::OldSizeZero);
    }
    if proof.is_empty() {
        return Err(VerifyError::WrongLength);
    }
    // When the old tree is a complete subtree its root is the implicit first proof element.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*path[0], *path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(VerifyError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(VerifyError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// A whole tree held in memory, level by level: for tests, tools and small logs.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

/// A subtree outside the leaves held by a [`MemoryTree`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no complete subtree at level {level}, index {index}")]
pub struct MissingSubtree {
    /// Requested level.
    pub level: u32,
    /// Requested index.
    pub index: u64,
}

impl MemoryTree {
    /// Builds every complete subtree over the given leaf hashes.
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(last) = levels.last().filter(|l| l.len() >= 2) {
            let next = last
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        MemoryTree { levels }
    }

    /// Appends one leaf hash, updating the complete subtrees it finishes.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut h = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            let n = self.levels[level].len();
            if n % 2 == 1 {
                break;
            }
            h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Root of the tree of the first `size` leaves (`size` at most [`Self::size`]).
    pub fn root(&self, size: u64) -> Result<Hash, MissingSubtree> {
        let mut this = self;
        tree_root(&mut this, size)
    }

    /// The leaf hashes.
    pub fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], |l| l.as_slice())
    }
}

impl HashReader for &MemoryTree {
    type Error = MissingSubtree;

    fn subtree_hash(&mut self, level: u32, index: u64) -> Result<Hash, MissingSubtree> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingSubtree { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{leaf_hash, subtree_root};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn roots_agree_with_recursive_definition() {
        for n in 0..70u64 {
            let l = leaves(n);
            let tree = MemoryTree::new(l.clone());
            assert_eq!(tree.root(n).unwrap(), subtree_root(&l), "size {n}");
            let mut inc = MemoryTree::default();
            for h in &l {
                inc.push(*h);
            }
            assert_eq!(
                inc.root(n).unwrap(),
                subtree_root(&l),
                "incremental size {n}"
            );
        }
    }

    #[test]
    fn all_small_proofs_verify() {
        let l = leaves(40);
        let tree = MemoryTree::new(l.clone());
        let mut r = &tree;
        for n in 1..=40u64 {
            let root = tree.root(n).unwrap();
            for i in 0..n {
                let p = prove_inclusion(&mut r, i, n).unwrap();
                verify_inclusion(i, n, &l[i as usize], &p, &root).unwrap();
            }
            for m in 1..=n {
                let p = prove_consistency(&mut r, m, n).unwrap();
                verify_consistency(m, n, &tree.root(m).unwrap(), &root, &p).unwrap();
            }
        }
    }

    #[test]
    fn bad_requests_are_errors() {
        let tree = MemoryTree::new(leaves(4));
        let mut s = &tree;
        assert!(matches!(
            prove_inclusion(&mut s, 4, 4),
            Err(ProveError::IndexOutOfRange { index: 4, size: 4 })
        ));
        assert!(matches!(
            prove_consistency(&mut s, 0, 4),
            Err(ProveError::BadSizes { .. })
        ));
        assert!(matches!(
            prove_consistency(&mut s, 5, 4),
            Err(ProveError::BadSizes { .. })
        ));
    }
}
