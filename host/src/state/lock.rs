//! One run per state directory at a time.
//!
//! The lock is an OS file lock (released by the kernel when the holder dies, so it can
//! never be left stuck), and the file also names its holder. A holder that exits
//! cleanly empties the file; finding it non-empty but unlocked means the last holder
//! was killed, which is worth telling the user about.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct StateLock {
    file: File,
    /// Set when the previous holder died holding the lock: who it was.
    pub taken_over_from: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the state directory {dir} is in use by another runner ({holder}); wait for it to finish or use another --state-dir"
    )]
    Busy { dir: PathBuf, holder: String },
    #[error("locking {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StateLock {
    pub fn acquire(state_dir: &Path, what: &str) -> Result<Self, LockError> {
        let path = state_dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut holder = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() {
                    "unknown process".into()
                } else {
                    holder.trim().to_string()
                };
                return Err(LockError::Busy {
                    dir: state_dir.to_path_buf(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.read_to_string(&mut holder).map_err(io)?;
        let taken_over_from = (!holder.trim().is_empty()).then(|| holder.trim().to_string());
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(
            file,
            "pid {} ({what}, started at {} ms)",
            std::process::id(),
            crate::events::now_ms()
        )
        .map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Self {
            file,
            taken_over_from,
        })
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Empty means "released cleanly"; the kernel drops the lock itself.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path(), "exec a.toml").unwrap();
        let err = StateLock::acquire(dir.path(), "exec b.toml")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("in use by another runner (pid"), "{err}");
        assert!(err.contains("exec a.toml"), "{err}");
        drop(first);
        let again = StateLock::acquire(dir.path(), "exec b.toml").unwrap();
        assert!(
            again.taken_over_from.is_none(),
            "a clean release is not a takeover"
        );
    }

    #[test]
    fn a_lock_left_by_a_dead_holder_is_taken_over_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("lock"),
            "pid 999999 (exec a.toml, started at 1 ms)",
        )
        .unwrap();
        let lock = StateLock::acquire(dir.path(), "exec a.toml").unwrap();
        assert_eq!(
            lock.taken_over_from.as_deref(),
            Some("pid 999999 (exec a.toml, started at 1 ms)")
        );
    }
}
