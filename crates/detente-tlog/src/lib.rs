//! Transparency log formats and Merkle proofs, byte-compatible with the C2SP specs.
//!
//! * [`hash`]: RFC 6962 leaf and node hashing and the [`Hash`](struct@Hash) type.
//! * [`proof`]: inclusion and consistency proofs (RFC 6962 §2.1, verified per RFC 9162 §2.1.3–2.1.4),
//!   computed from any [`proof::HashReader`].
//! * [`note`]: `signed-note` (Ed25519 type 0x01 and `cosignature/v1` type 0x04).
//! * [`checkpoint`]: `tlog-checkpoint` bodies.
//! * [`tile`]: `tlog-tiles` paths, hash tiles, entry bundles, and a hash reader backed by tiles.
//! * [`builder`]: an incremental, storage-agnostic tree builder for a sequencer.
//! * [`witness`]: `tlog-witness` `add-checkpoint` requests, the witness's decision, and the
//!   verifier's quorum of cosignatures.
//!
//! The crate is pure: no I/O, no clocks, no randomness.
//!
//! # Using it in a sequencer
//!
//! * Append each entry's [`leaf_hash`] to a [`TreeBuilder`]; store the entry, and the
//!   [`builder::FullTile`]s returned by [`TreeBuilder::take_full_tiles`] (8 KiB per 256 entries:
//!   ~32 bytes of hashes per entry).
//! * At each checkpoint, store [`TreeBuilder::partial_tiles`] (served as `.p/W` for that size),
//!   and sign `Checkpoint::new(origin, size, root).to_string()` with a [`NoteSigner`].
//! * After a restart, [`TreeBuilder::resume`] takes the size and the partial tiles' hashes.
//! * Serve `tile/...` by [`TileId::parse_path`]; build bundles with
//!   [`tile::encode_entry_bundle`].
//! * Proofs for receipts and `consistency?from=&to=`: implement [`tile::TileSource`] over the
//!   store and keep one [`tile::TileHashReader`] per published size (it memoizes subtree hashes);
//!   call [`proof::prove_inclusion`] / [`proof::prove_consistency`].
//!
//! Per-process state: none.

pub mod builder;
pub mod checkpoint;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tile;
pub mod witness;

pub use builder::TreeBuilder;
pub use checkpoint::Checkpoint;
pub use hash::{Hash, leaf_hash, node_hash};
pub use note::{Cosigner, Note, NoteSigner, VerifierKey, Verifiers};
pub use tile::TileId;
