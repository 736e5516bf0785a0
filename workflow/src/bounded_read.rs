//! Reading a file a user named, at a bounded cost: only regular files (a FIFO would
//! block the reader, `/dev/zero` or a socket would never end), and never more than a
//! limit past which the file is refused rather than read. Every path that comes from a
//! workflow or a flag (the workflow itself, `${file:…}` references, plugin components,
//! recorded observations) is read through here.

use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadProblem {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A directory, FIFO, socket or device.
    #[error("not a regular file")]
    NotAFile,
    #[error("larger than {limit} bytes")]
    TooBig { limit: u64 },
}

/// Reads the regular file at `path`, refusing it when it holds more than `limit` bytes.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadProblem> {
    // The type is checked before opening: opening a FIFO blocks until a writer comes.
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(ReadProblem::NotAFile);
    }
    if metadata.len() > limit {
        return Err(ReadProblem::TooBig { limit });
    }
    let file = std::fs::File::open(path)?;
    // Checked again on the open file: the path may have been replaced in between.
    if !file.metadata()?.is_file() {
        return Err(ReadProblem::NotAFile);
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // One byte past the limit, in case the file grew since its metadata was read.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadProblem::TooBig { limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_regular_file(&path, 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular_file(&path, 4),
            Err(ReadProblem::TooBig { limit: 4 })
        ));
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        for path in [Path::new("/dev/zero"), Path::new("/dev/null"), dir.path()] {
            assert!(
                matches!(read_regular_file(path, 1 << 20), Err(ReadProblem::NotAFile)),
                "{}",
                path.display()
            );
        }
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Would block forever if it were opened.
        assert!(matches!(
            read_regular_file(&fifo, 1 << 20),
            Err(ReadProblem::NotAFile)
        ));
    }
}
