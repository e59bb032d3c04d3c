//! C2SP `signed-note` with Ed25519 log signatures (type 0x01) and `cosignature/v1` witness
//! cosignatures (type 0x04, see C2SP `tlog-cosignature`).

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Notes with more signature lines are rejected (the x/mod limit; the spec asks for ≥ 16).
pub const MAX_SIGNATURES: usize = 100;
/// Notes larger than this are rejected before parsing (the x/mod limit).
pub const MAX_NOTE_SIZE: usize = 1 << 20;

const SIG_PREFIX: &str = "\u{2014} ";

/// Signature algorithm bytes this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// 0x01: Ed25519 over the note text.
    Ed25519,
    /// 0x04: `cosignature/v1`, Ed25519 over a timestamped message.
    CosignatureV1,
}

impl KeyType {
    /// The algorithm byte.
    pub fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => 0x01,
            KeyType::CosignatureV1 => 0x04,
        }
    }
}

/// A malformed note or key, or a note that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note breaks the signed-note grammar.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature from a known key did not verify: the whole note is rejected.
    #[error("invalid signature by known key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// No signature line came from a known key.
    #[error("note has no signature from a known key")]
    NoKnownSignature,
    /// A malformed verifier or signer key.
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    /// A key whose id does not match its name, type and public key.
    #[error("key id {given:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch {
        /// The id written in the key.
        given: u32,
        /// The id computed from the key.
        computed: u32,
    },
    /// A key of an algorithm this crate does not implement.
    #[error("unsupported key algorithm 0x{0:02x}")]
    UnknownAlgorithm(u8),
}

/// `SHA-256(name || 0x0A || type || public key)[:4]`, big-endian.
pub fn key_id(name: &str, key_type: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', key_type]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Key names are non-empty, contain no Unicode whitespace and no `+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Valid UTF-8 text without control characters other than `\n`, ending in `\n`.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("control character"));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text does not end in a newline"));
    }
    Ok(())
}

/// One signature line: `— <name> base64(key id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
    /// Signature bytes after the key id (at least one byte).
    pub signature: Vec<u8>,
}

impl fmt::Display for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        write!(f, "{SIG_PREFIX}{} {}", self.name, STANDARD.encode(raw))
    }
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub key_id: u32,
    /// Algorithm.
    pub key_type: KeyType,
    /// The cosignature timestamp (POSIX seconds), for type 0x04.
    pub timestamp: Option<u64>,
}

/// A signed note: text plus signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// An unsigned note; the text must end in `\n` and contain no control characters but `\n`.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a note. Signatures are not checked; see [`Note::verify`].
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::Malformed("note too large"));
        }
        let msg = std::str::from_utf8(bytes).map_err(|_| NoteError::Malformed("invalid UTF-8"))?;
        if msg.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed("control character"));
        }
        let split = msg
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no signature block"))?;
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature block does not end in a newline",
            ));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let line = line
                .strip_prefix(SIG_PREFIX)
                .ok_or(NoteError::Malformed("bad signature line"))?;
            let (name, b64) = line.split_once(' ').unwrap_or((line, ""));
            if !is_valid_name(name) {
                return Err(NoteError::Malformed("bad key name"));
            }
            let raw = STANDARD
                .decode(b64)
                .map_err(|_| NoteError::Malformed("bad base64"))?;
            if raw.len() < 5 {
                return Err(NoteError::Malformed("signature too short"));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                signature: raw[4..].to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text (ends in `\n`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        if !is_valid_name(&sig.name) || sig.signature.is_empty() {
            return Err(NoteError::Malformed("bad signature"));
        }
        if self.signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// The serialized note.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the note against known keys, per signed-note: signatures by unknown (name, id)
    /// pairs are ignored, a known key's signature must verify (else the note is rejected), a key
    /// that signs twice counts once, and at least one known signature is required.
    pub fn verify(&self, verifiers: &Verifiers) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut seen = HashSet::new();
        let mut verified = Vec::new();
        for sig in &self.signatures {
            let Some(key) = verifiers.find(&sig.name, sig.key_id) else {
                continue;
            };
            let timestamp = key.verify(&self.text, &sig.signature).ok_or_else(|| {
                NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                }
            })?;
            if seen.insert((sig.name.as_str(), sig.key_id)) {
                verified.push(VerifiedSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    key_type: key.key_type,
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(verified)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            writeln!(f, "{s}")?;
        }
        Ok(())
    }
}

/// The message a `cosignature/v1` signs: `cosignature/v1\ntime <t>\n` then the checkpoint body.
pub fn cosignature_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// A public key that verifies note signatures, written `name+hex id+base64(type || key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    key_type: KeyType,
    key: VerifyingKey,
}

impl VerifierKey {
    /// A verifier for an Ed25519 public key of the given type.
    pub fn new(name: &str, key_type: KeyType, key: VerifyingKey) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::BadKey("bad key name"));
        }
        let key_id = key_id(name, key_type.byte(), key.as_bytes());
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id,
            key_type,
            key,
        })
    }

    /// Parses a `name+hex+base64` verifier key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, given, alg, public) = split_key(vkey, "expected name+hex+base64")?;
        let key_type = match alg {
            0x01 => KeyType::Ed25519,
            0x04 => KeyType::CosignatureV1,
            other => return Err(NoteError::UnknownAlgorithm(other)),
        };
        let public: &[u8; 32] = public[..]
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 key is not 32 bytes"))?;
        let computed = key_id(name, alg, public);
        if computed != given {
            return Err(NoteError::KeyIdMismatch { given, computed });
        }
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| NoteError::BadKey("invalid Ed25519 key"))?;
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: given,
            key_type,
            key,
        })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Algorithm.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Checks one signature over `text`; `Some(timestamp)` on success (the timestamp is `None`
    /// for plain Ed25519), `None` if it does not verify.
    pub fn verify(&self, text: &str, sig: &[u8]) -> Option<Option<u64>> {
        match self.key_type {
            KeyType::Ed25519 => {
                let sig = Signature::from_slice(sig).ok()?;
                self.key.verify_strict(text.as_bytes(), &sig).ok()?;
                Some(None)
            }
            KeyType::CosignatureV1 => {
                let (ts, sig) = sig.split_first_chunk::<8>()?;
                let ts = u64::from_be_bytes(*ts);
                if ts > i64::MAX as u64 {
                    return None;
                }
                let sig = Signature::from_slice(sig).ok()?;
                let msg = cosignature_message(text, ts);
                self.key.verify_strict(msg.as_bytes(), &sig).ok()?;
                Some(Some(ts))
            }
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![self.key_type.byte()];
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }
}

/// The set of keys a verifier trusts.
#[derive(Debug, Clone, Default)]
pub struct Verifiers {
    keys: Vec<VerifierKey>,
}

impl Verifiers {
    /// Trusts exactly these keys.
    pub fn new(keys: Vec<VerifierKey>) -> Self {
        Verifiers { keys }
    }

    /// The key with this name and id, if trusted.
    pub fn find(&self, name: &str, key_id: u32) -> Option<&VerifierKey> {
        self.keys
            .iter()
            .find(|k| k.name == name && k.key_id == key_id)
    }
}

/// A named Ed25519 key of one key type: what a [`NoteSigner`] and a [`Cosigner`] share (they
/// differ only in the type byte and in what they sign).
#[derive(Clone)]
struct NamedKey {
    name: String,
    key_id: u32,
    key_type: KeyType,
    key: SigningKey,
}

impl NamedKey {
    /// The key of `name` from a 32-byte Ed25519 seed, its id computed for `key_type`.
    fn from_seed(name: &str, key_type: KeyType, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::BadKey("bad key name"));
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, key_type.byte(), key.verifying_key().as_bytes());
        Ok(NamedKey {
            name: name.to_owned(),
            key_id,
            key_type,
            key,
        })
    }

    /// The matching verifier key.
    fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key_type: self.key_type,
            key: self.key.verifying_key(),
        }
    }

    /// A signature line of this key carrying `signature`.
    fn signature(&self, signature: Vec<u8>) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature,
        }
    }
}

/// The parts of a `name+hex+base64(alg || key)` key (verifier and signer keys share the form):
/// the name, the key id as written, the algorithm byte and the key's bytes; `shape` is the
/// error when it does not have three parts.
fn split_key<'a>(
    text: &'a str,
    shape: &'static str,
) -> Result<(&'a str, u32, u8, Vec<u8>), NoteError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::BadKey(shape));
    };
    if !is_valid_name(name) {
        return Err(NoteError::BadKey("bad key name"));
    }
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadKey("key id is not 8 hex digits"));
    }
    let given = u32::from_str_radix(hex, 16).map_err(|_| NoteError::BadKey("bad key id"))?;
    let mut key = STANDARD
        .decode(b64)
        .map_err(|_| NoteError::BadKey("bad base64"))?;
    if key.is_empty() {
        return Err(NoteError::BadKey("empty key"));
    }
    let alg = key.remove(0);
    Ok((name, given, alg, key))
}

impl fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Name and id only: the seed must not reach logs.
        write!(f, "{}+{:08x}", self.name, self.key_id)
    }
}

/// An Ed25519 (type 0x01) note signer, e.g. a log's checkpoint key.
// Debug shows what `NamedKey`'s does: the name and id, never the seed.
#[derive(Clone, Debug)]
pub struct NoteSigner(NamedKey);

impl NoteSigner {
    /// A signer from a name and a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        NamedKey::from_seed(name, KeyType::Ed25519, seed).map(NoteSigner)
    }

    /// Parses the Go `PRIVATE+KEY+name+hex+base64(0x01 || seed)` signer key format.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("no PRIVATE+KEY+"))?;
        let (name, given, alg, seed) = split_key(rest, "expected PRIVATE+KEY+name+hex+base64")?;
        if alg != 0x01 {
            return Err(NoteError::UnknownAlgorithm(alg));
        }
        let seed: &[u8; 32] = seed[..]
            .try_into()
            .map_err(|_| NoteError::BadKey("seed not 32 bytes"))?;
        let signer = Self::from_seed(name, seed)?;
        if signer.0.key_id != given {
            return Err(NoteError::KeyIdMismatch {
                given,
                computed: signer.0.key_id,
            });
        }
        Ok(signer)
    }

    /// The signer key in Go's `PRIVATE+KEY+...` format.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![KeyType::Ed25519.byte()];
        raw.extend_from_slice(self.0.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.0.name,
            self.0.key_id,
            STANDARD.encode(raw)
        )
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        self.0.verifier()
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Signs a note text.
    pub fn sign(&self, text: &str) -> NoteSignature {
        self.0
            .signature(self.0.key.sign(text.as_bytes()).to_bytes().to_vec())
    }
}

/// A `cosignature/v1` (type 0x04) witness signer.
// Debug shows what `NamedKey`'s does: the name and id, never the seed.
#[derive(Clone, Debug)]
pub struct Cosigner(NamedKey);

impl Cosigner {
    /// A cosigner from a name and a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        NamedKey::from_seed(name, KeyType::CosignatureV1, seed).map(Cosigner)
    }

    /// The matching verifier key (`name+id+base64(0x04 || key)`).
    pub fn verifier(&self) -> VerifierKey {
        self.0.verifier()
    }

    /// Cosigns a checkpoint body at `timestamp` (POSIX seconds, at most 2^63−1).
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<NoteSignature, NoteError> {
        if timestamp > i64::MAX as u64 {
            return Err(NoteError::Malformed("cosignature timestamp above 2^63-1"));
        }
        let sig = self
            .0
            .key
            .sign(cosignature_message(text, timestamp).as_bytes());
        let mut signature = timestamp.to_be_bytes().to_vec();
        signature.extend_from_slice(&sig.to_bytes());
        Ok(self.0.signature(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_key_not_the_seed() {
        let s = NoteSigner::from_seed("example.com/log", &[7; 32]).unwrap();
        let w = Cosigner::from_seed("witness.example", &[9; 32]).unwrap();
        // `name+id` of the verifier key, and nothing else: no seed.
        let id = |v: VerifierKey| {
            let v = v.to_string();
            v[..v.rfind('+').unwrap()].to_owned()
        };
        assert_eq!(
            format!("{s:?}"),
            format!("NoteSigner({})", id(s.verifier()))
        );
        assert_eq!(format!("{w:?}"), format!("Cosigner({})", id(w.verifier())));
    }

    #[test]
    fn sign_verify_and_reject() {
        let s = NoteSigner::from_seed("example.com/log", &[7; 32]).unwrap();
        let w = Cosigner::from_seed("witness.example", &[9; 32]).unwrap();
        let mut n = Note::new("hello\n").unwrap();
        n.add_signature(s.sign(n.text())).unwrap();
        n.add_signature(w.cosign(n.text(), 1234).unwrap()).unwrap();
        let parsed = Note::parse(&n.to_bytes()).unwrap();
        assert_eq!(parsed, n);
        let v = Verifiers::new(vec![s.verifier(), w.verifier()]);
        let ok = parsed.verify(&v).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].timestamp, Some(1234));
        assert_eq!(
            Note::parse(&n.to_bytes())
                .unwrap()
                .verify(&Verifiers::default()),
            Err(NoteError::NoKnownSignature)
        );
        let mut tampered = Note::new("hellO\n").unwrap();
        tampered.add_signature(n.signatures()[0].clone()).unwrap();
        assert!(matches!(
            tampered.verify(&v),
            Err(NoteError::InvalidSignature { .. })
        ));
        let vk = VerifierKey::parse(&s.verifier().to_string()).unwrap();
        assert_eq!(vk, s.verifier());
        assert_eq!(
            NoteSigner::parse(&s.to_skey()).unwrap().verifier(),
            s.verifier()
        );
    }

    #[test]
    fn malformed_notes() {
        for bad in [
            &b"no separator\n"[..],
            b"text\n\n",
            b"text\n\n\xe2\x80\x94 name AAAAAAA=",
            b"text\n\nname AAAAAAA=\n",
            b"text\n\n\xe2\x80\x94 name AAAA\n",
            b"te\x01xt\n\n\xe2\x80\x94 name AAAAAAA=\n",
            b"text\n\n\xe2\x80\x94 na+me AAAAAAA=\n",
            b"\xff\n\n\xe2\x80\x94 name AAAAAAA=\n",
        ] {
            assert!(
                Note::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
