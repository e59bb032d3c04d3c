//! What the client remembers about each log: the pinned key and the last verified checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ClientError;

/// The state directory of one log: `<root>/logs/<hex SHA-256 of the log URL>/`.
#[derive(Debug, Clone)]
pub struct State {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::State {
        path: path.display().to_string(),
        source,
    }
}

impl State {
    /// The state of the log at `location` under the state root `root` (created on first save).
    pub fn new(root: &Path, location: &str) -> Self {
        let digest = Sha256::digest(location.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        State {
            dir: root.join("logs").join(name),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads a file of this log's state (also used for what callers keep beside it, such as
    /// remembered receipts); `None` if it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Writes a file of this log's state atomically (temporary file, fsync, rename).
    pub fn write(&self, name: &str, data: &[u8]) -> Result<(), ClientError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        {
            use std::io::Write as _;
            let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(data).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// The pinned verifier key, if any.
    pub fn pinned_key(&self) -> Result<Option<String>, ClientError> {
        let Some(bytes) = self.read("key")? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| ClientError::CorruptState {
            path: self.dir.join("key").display().to_string(),
            detail: "not UTF-8".into(),
        })?;
        Ok(Some(text.trim().to_owned()))
    }

    /// Pins a verifier key.
    pub fn pin_key(&self, vkey: &str) -> Result<(), ClientError> {
        self.write("key", format!("{vkey}\n").as_bytes())
    }

    /// The last verified checkpoint note, if any.
    pub fn last_checkpoint(&self) -> Result<Option<Vec<u8>>, ClientError> {
        self.read("checkpoint")
    }

    /// Remembers a verified checkpoint note.
    pub fn save_checkpoint(&self, note: &[u8], location: &str) -> Result<(), ClientError> {
        self.write("location", format!("{location}\n").as_bytes())?;
        self.write("checkpoint", note)
    }

    /// Path of a state file, for messages.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}
