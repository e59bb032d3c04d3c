//! C2SP `tlog-checkpoint` bodies: `origin\nsize\nbase64(root)\n[extension lines]`.

use std::fmt;

use crate::hash::Hash;

/// A malformed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Fewer than three lines, or text not ending in a newline.
    #[error("checkpoint must have at least 3 newline-terminated lines")]
    TooShort,
    /// Empty origin or extension line, or one with a control character.
    #[error("checkpoint line {0} is empty or has a control character")]
    BadLine(usize),
    /// Tree size not canonical ASCII decimal.
    #[error("checkpoint tree size {0:?} is not canonical decimal")]
    BadSize(String),
    /// Root hash not canonical base64 of 32 bytes.
    #[error("checkpoint root hash {0:?} is not base64 of 32 bytes")]
    BadRoot(String),
}

/// A checkpoint: the signed statement of a log's size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (scheme-less URL prefix, say).
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root hash of those entries.
    pub root: Hash,
    /// Optional extension lines (without newlines).
    pub extensions: Vec<String>,
}

fn valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(|c| c < ' ')
}

impl Checkpoint {
    /// A checkpoint without extension lines; the origin must be a valid line.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if !valid_line(origin) {
            return Err(CheckpointError::BadLine(1));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Parses a checkpoint body (the text of a signed note).
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::TooShort)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooShort);
        }
        for (i, l) in lines.iter().enumerate() {
            if !valid_line(l) {
                return Err(CheckpointError::BadLine(i + 1));
            }
        }
        let size_text = lines[1];
        let canonical = size_text.bytes().all(|b| b.is_ascii_digit())
            && !(size_text.len() > 1 && size_text.starts_with('0'));
        let size = size_text
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| CheckpointError::BadSize(size_text.to_owned()))?;
        let root = Hash::from_base64(lines[2])
            .map_err(|_| CheckpointError::BadRoot(lines[2].to_owned()))?;
        Ok(Checkpoint {
            origin: lines[0].to_owned(),
            size,
            root,
            extensions: lines[3..].iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        )?;
        for e in &self.extensions {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_spec_example() {
        let t =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse(t).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert_eq!(c.to_string(), t);
        let ext = format!("{t}extension line\n");
        assert_eq!(
            Checkpoint::parse(&ext).unwrap().extensions,
            ["extension line"]
        );
    }

    #[test]
    fn rejects_malformed() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            format!("o\n1\n{root}"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n1\n{root}\n\n"),
            format!("\n1\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
            "o\n1\n".to_owned(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
