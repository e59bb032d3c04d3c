//! How a client authenticates to a node: HTTP Basic with a member's name and secret, or a
//! bearer token (`detente token issue`).

use std::path::Path;

use base64::Engine as _;

use crate::Error;

/// A member's credentials on a node.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` header.
    Anonymous,
    /// HTTP Basic: the member's name and secret.
    Basic {
        /// The member's name.
        user: String,
        /// The member's secret.
        secret: String,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
}

// Secrets stay out of logs and panic messages.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}:…)"),
            Credentials::Bearer(_) => f.write_str("Bearer(…)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` header value, if any.
    pub fn authorization(&self) -> Option<String> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic { user, secret } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
            )),
            Credentials::Bearer(token) => Some(format!("Bearer {token}")),
        }
    }

    /// Reads a credentials file: one line `NAME:SECRET` (what `detente serve` writes to
    /// `DIR/admin.credentials`), or a JSON object with `token`, or `user` and `secret`.
    pub fn from_file(path: &Path) -> Result<Credentials, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Credentials::parse(&text)
            .map_err(|why| Error::Credentials(format!("{}: {why}", path.display())))
    }

    /// Parses the text of a credentials file (see [`Credentials::from_file`]).
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let text = text.trim();
        if text.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
            let get = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
            return match (get("token"), get("user"), get("secret")) {
                (Some(t), _, _) => Ok(Credentials::Bearer(t.to_owned())),
                (None, Some(u), Some(s)) => Ok(Credentials::Basic {
                    user: u.to_owned(),
                    secret: s.to_owned(),
                }),
                _ => Err("expected `token`, or `user` and `secret`".to_owned()),
            };
        }
        match text.split_once(':') {
            Some((user, secret)) if !user.is_empty() && !text.contains('\n') => {
                Ok(Credentials::Basic {
                    user: user.to_owned(),
                    secret: secret.to_owned(),
                })
            }
            _ => Err("expected one line NAME:SECRET, or JSON".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_file_forms() {
        let basic = Credentials::Basic {
            user: "alice".into(),
            secret: "s3cret".into(),
        };
        assert_eq!(Credentials::parse("alice:s3cret\n").unwrap(), basic);
        assert_eq!(
            Credentials::parse(r#"{"user": "alice", "secret": "s3cret"}"#).unwrap(),
            basic
        );
        assert_eq!(
            basic.authorization().as_deref(),
            Some("Basic YWxpY2U6czNjcmV0")
        );
        let bearer = Credentials::parse(r#"{"token": "dtk_1"}"#).unwrap();
        assert_eq!(bearer.authorization().as_deref(), Some("Bearer dtk_1"));
        for bad in ["", "alice", ":x", "a:b\nc:d", r#"{"user": "a"}"#, "{"] {
            assert!(Credentials::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{basic:?}").contains("s3cret"));
    }
}
