//! The run journal: an append-only file of events, one JSON object per line.
//!
//! Every event that changes what a resumed run would do is synced to disk before the
//! run goes on (`fdatasync`, about 0.25 ms here); logs and progress are written but
//! synced with the next durable event. A crash can only leave a partial last line,
//! which `read` detects and `repair` cuts off, so the journal is never torn in the
//! middle and no completed step is ever lost.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::events::Envelope;

pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("reading journal {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A line other than the last is not a valid event: not a crash artefact but damage.
    #[error("journal {path} is damaged at line {line}: {reason}")]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// The events of a journal, and whether a torn last line was found after them.
pub struct Contents {
    pub events: Vec<Envelope>,
    /// Byte length of the complete lines; anything past it is a torn write.
    pub valid_len: u64,
    pub torn_tail: bool,
}

impl Journal {
    /// Creates a new journal; fails if one exists (run ids are unique).
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)?;
        sync_dir(path);
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event; durable events are on disk when this returns.
    pub fn append(&self, envelope: &Envelope) -> io::Result<()> {
        let mut line = serde_json::to_vec(envelope).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)?;
        if envelope.event.is_durable() {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Reads a journal, tolerating a torn last line (the mark of a crash mid-write).
    pub fn read(path: &Path) -> Result<Contents, JournalError> {
        let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
            path: path.into(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// Reads the bytes of the journal at `path` (named in errors); what `read` does once
    /// the file is in memory.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Contents, JournalError> {
        let mut events = Vec::new();
        let mut offset = 0usize;
        let mut line_no = 0usize;
        while offset < bytes.len() {
            line_no += 1;
            let rest = &bytes[offset..];
            let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                // No newline: the write of this last line never finished.
                return Ok(Contents {
                    events,
                    valid_len: offset as u64,
                    torn_tail: true,
                });
            };
            match serde_json::from_slice::<Envelope>(&rest[..end]) {
                Ok(e) => events.push(e),
                Err(_) if offset + end + 1 == bytes.len() => {
                    return Ok(Contents {
                        events,
                        valid_len: offset as u64,
                        torn_tail: true,
                    });
                }
                Err(e) => {
                    return Err(JournalError::Damaged {
                        path: path.into(),
                        line: line_no,
                        reason: e.to_string(),
                    });
                }
            }
            offset += end + 1;
        }
        Ok(Contents {
            events,
            valid_len: offset as u64,
            torn_tail: false,
        })
    }

    /// Cuts a torn last line off, so the journal can be appended to or trusted again.
    pub fn repair(path: &Path) -> Result<Contents, JournalError> {
        let contents = Self::read(path)?;
        if contents.torn_tail {
            let io = |source| JournalError::Io {
                path: path.into(),
                source,
            };
            let file = OpenOptions::new().write(true).open(path).map_err(io)?;
            file.set_len(contents.valid_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(contents)
    }
}

/// Makes a newly created file's directory entry durable too.
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, StepStatus};

    fn finished(step: &str) -> Envelope {
        Envelope::now(Event::StepFinished {
            step: step.into(),
            status: StepStatus::Succeeded,
            attempt: 1,
            duration_ms: 3,
            outputs: Some(serde_json::json!({"k": "v"})),
            error: None,
            reason: None,
            input_hash: Some("h".into()),
        })
    }

    #[test]
    fn every_truncation_of_the_last_record_recovers_the_complete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let j = Journal::create(&path).unwrap();
        j.append(&finished("a")).unwrap();
        j.append(&finished("b")).unwrap();
        let whole = std::fs::read(&path).unwrap();
        let first_len = whole.iter().position(|b| *b == b'\n').unwrap() + 1;
        for cut in first_len..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let c = Journal::repair(&path).unwrap();
            assert_eq!(c.events.len(), 1, "cut at {cut}");
            assert_eq!(c.torn_tail, cut != first_len, "cut at {cut}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                &whole[..first_len],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn damage_before_the_last_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.ndjson");
        let good = serde_json::to_string(&finished("a")).unwrap();
        std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
        let err = Journal::read(&path).err().unwrap().to_string();
        assert!(err.contains("damaged at line 2"), "{err}");
    }
}
