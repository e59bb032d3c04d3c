//! The stateless `next` cursor: a paging position authenticated with an HMAC over the
//! caller, the resource and the query's filters, so a cursor cannot be forged, replayed by
//! another member or reused with different filters (TAXII App. B).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of the truncated MAC in a cursor.
const TAG_LEN: usize = 16;

/// Mints and checks cursors with one node key.
#[derive(Clone)]
pub struct Cursors {
    key: Vec<u8>,
}

impl Cursors {
    /// Cursors under this key.
    pub fn new(key: Vec<u8>) -> Self {
        Cursors { key }
    }

    fn tag(&self, binding: &str, position: i64) -> [u8; TAG_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"detente-cursor-v1\0");
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        mac.update(&position.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&full[..TAG_LEN]);
        out
    }

    /// A cursor for `position` bound to `binding` (caller, resource, filters).
    pub fn mint(&self, binding: &str, position: i64) -> String {
        let mut raw = position.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.tag(binding, position));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position in a cursor, if it is authentic for `binding`.
    pub fn open(&self, binding: &str, cursor: &str) -> Option<i64> {
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if raw.len() != 8 + TAG_LEN {
            return None;
        }
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&raw[..8]);
        let position = i64::from_be_bytes(pos);
        let expected = self.tag(binding, position);
        bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], &raw[8..])).then_some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_bound() {
        let c = Cursors::new(vec![7; 32]);
        let t = c.mint("m1|objects|coll|limit=5", 12345);
        assert_eq!(c.open("m1|objects|coll|limit=5", &t), Some(12345));
        assert_eq!(c.open("m2|objects|coll|limit=5", &t), None);
        assert_eq!(c.open("m1|objects|coll|limit=6", &t), None);
        assert_eq!(
            Cursors::new(vec![8; 32]).open("m1|objects|coll|limit=5", &t),
            None
        );
        assert_eq!(c.open("x", "not base64 !"), None);
        assert_eq!(c.open("x", ""), None);
        let mut forged = URL_SAFE_NO_PAD.decode(&t).unwrap();
        forged[7] ^= 1;
        assert_eq!(
            c.open("m1|objects|coll|limit=5", &URL_SAFE_NO_PAD.encode(forged)),
            None
        );
    }
}
