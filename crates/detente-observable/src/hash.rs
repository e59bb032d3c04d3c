//! File digests: MD5, SHA-1, SHA-256 and SHA-512 as lower-case hex.

/// A digest algorithm this crate knows, told apart by its hex length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashKind {
    /// 32 hex digits.
    Md5,
    /// 40 hex digits.
    Sha1,
    /// 64 hex digits.
    Sha256,
    /// 128 hex digits.
    Sha512,
}

/// Longest digest in hex.
pub const MAX_HASH: usize = 128;

impl HashKind {
    /// Every kind, shortest first.
    pub const ALL: [HashKind; 4] = [
        HashKind::Md5,
        HashKind::Sha1,
        HashKind::Sha256,
        HashKind::Sha512,
    ];

    /// Number of hex digits of a digest of this kind.
    pub fn hex_len(self) -> usize {
        match self {
            HashKind::Md5 => 32,
            HashKind::Sha1 => 40,
            HashKind::Sha256 => 64,
            HashKind::Sha512 => 128,
        }
    }

    /// The kind whose digests have `n` hex digits.
    pub fn from_hex_len(n: usize) -> Option<HashKind> {
        match n {
            32 => Some(HashKind::Md5),
            40 => Some(HashKind::Sha1),
            64 => Some(HashKind::Sha256),
            128 => Some(HashKind::Sha512),
            _ => None,
        }
    }

    /// Lower-case name, as in canonical text and hit output (`md5`, `sha1`, `sha256`, `sha512`).
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Md5 => "md5",
            HashKind::Sha1 => "sha1",
            HashKind::Sha256 => "sha256",
            HashKind::Sha512 => "sha512",
        }
    }

    /// The STIX 2.1 hash-algorithm-ov name (`MD5`, `SHA-1`, `SHA-256`, `SHA-512`).
    pub fn stix_name(self) -> &'static str {
        match self {
            HashKind::Md5 => "MD5",
            HashKind::Sha1 => "SHA-1",
            HashKind::Sha256 => "SHA-256",
            HashKind::Sha512 => "SHA-512",
        }
    }

    /// The kind named `s` in any case, with or without the `-` (`SHA-256`, `sha256`, `Sha-1`).
    pub fn from_name(s: &str) -> Option<HashKind> {
        let mut key = [0u8; 6];
        let mut n = 0;
        for c in s.bytes().filter(|c| *c != b'-') {
            *key.get_mut(n)? = c.to_ascii_lowercase();
            n += 1;
        }
        HashKind::ALL
            .into_iter()
            .find(|k| k.name().as_bytes() == &key[..n])
    }
}

/// Lower-cases an ASCII hex digest into `buf` when `s` is 32, 40, 64 or 128 hex digits.
#[inline]
pub fn normalize_hash<'b>(s: &[u8], buf: &'b mut [u8; MAX_HASH]) -> Option<&'b [u8]> {
    HashKind::from_hex_len(s.len())?;
    // Branch-free: digests mix digits and letters at random, so a per-byte branch mispredicts.
    let mut ok = true;
    for (o, &c) in buf.iter_mut().zip(s) {
        let lower = c | 0x20;
        ok &= (c.wrapping_sub(b'0') < 10) | (lower.wrapping_sub(b'a') < 6);
        *o = lower;
    }
    ok.then_some(&buf[..s.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_names() {
        let mut b = [0u8; MAX_HASH];
        for k in HashKind::ALL {
            let hex = "A".repeat(k.hex_len());
            assert_eq!(
                normalize_hash(hex.as_bytes(), &mut b),
                Some("a".repeat(k.hex_len()).as_bytes())
            );
            assert_eq!(HashKind::from_name(k.stix_name()), Some(k));
            assert_eq!(HashKind::from_name(k.name()), Some(k));
            assert_eq!(HashKind::from_name(&k.stix_name().to_lowercase()), Some(k));
        }
        assert_eq!(normalize_hash(b"xyz", &mut b), None);
        assert_eq!(normalize_hash(&[b'g'; 32], &mut b), None);
        assert_eq!(normalize_hash(&[b'a'; 48], &mut b), None);
        for bad in ["", "SHA", "SHA-384", "SHA3-256", "sha2566", "md5 "] {
            assert_eq!(HashKind::from_name(bad), None, "{bad}");
        }
    }
}
