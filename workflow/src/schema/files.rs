//! `${file:PATH}` in a step's `with`: the file is read while the workflow is validated, so
//! a missing file is a diagnostic at the reference, not a failure halfway through a run.
//!
//! Operators run workflows other people wrote, and a plugin must never see what the host
//! keeps beside them (`~/.aws/credentials`, a kubeconfig). So a workflow reads only
//! regular files in its own directory and below: PATH is relative, has no `..`, and must
//! still lie inside that directory once symbolic links are followed. Sizes are capped
//! because the text becomes a step's input.

use crate::bounded_read::{ReadProblem, read_regular_file};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use super::{Checker, within};
use crate::template::Reference;

/// Largest file a reference may read.
pub(crate) const MAX_REFERENCED_FILE_BYTES: usize = 1 << 20;
/// Most file text a workflow may substitute in all, a file counted at every reference:
/// counting uses rather than files keeps a small workflow from rendering into inputs
/// far larger than anything it read.
pub(crate) const MAX_REFERENCED_TOTAL_BYTES: usize = 4 << 20;

/// Help for a file reference that reaches outside the workflow's directory.
const CONFINED_HELP: &str = "a workflow can read only files in its own directory and below it, named by a relative path such as `${file:manifests/app.yaml}`";

/// Help for `${file:...}` anywhere but `with`.
pub(super) const OUTSIDE_WITH_HELP: &str =
    "write the value itself here, or put it in [vars] and use `${vars.NAME}`";

/// The message for a `${file:...}` outside `with` (in `scope`, such as `[aws]`).
pub(super) fn outside_with_message(reference: &Reference, scope: &str) -> String {
    format!(
        "`{reference}`{} reads a file, but files can only be read into a step's `with`",
        within(scope)
    )
}

/// Why a `${file:PATH}` cannot be read; the paths are as the diagnostic shows them (the
/// workflow's directory joined with PATH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileProblem {
    Absolute,
    Parent,
    NotFound(PathBuf),
    Unreadable(PathBuf, String),
    Outside(PathBuf),
    NotAFile(PathBuf),
    TooBig(PathBuf),
    NotUtf8(PathBuf, usize),
}

impl FileProblem {
    /// The message and help for this problem at `reference` in `scope`.
    fn describe(&self, reference: &Reference, scope: &str) -> (String, Option<String>) {
        let at = format!("for `{reference}`{}", within(scope));
        let (message, help) = match self {
            FileProblem::Absolute => (
                format!("`{reference}`{} is an absolute path", within(scope)),
                Some(CONFINED_HELP),
            ),
            FileProblem::Parent => (
                format!(
                    "`{reference}`{} leaves the workflow's directory through `..`",
                    within(scope)
                ),
                Some(CONFINED_HELP),
            ),
            FileProblem::NotFound(path) => (
                format!("no file `{}` {at}", path.display()),
                Some("the path is relative to the directory of the workflow file"),
            ),
            FileProblem::Unreadable(path, why) => (
                format!("cannot read `{}` {at}: {why}", path.display()),
                None,
            ),
            FileProblem::Outside(path) => (
                format!(
                    "`{}` {at} is outside the workflow's directory, through a symbolic link",
                    path.display()
                ),
                Some(CONFINED_HELP),
            ),
            FileProblem::NotAFile(path) => (
                format!("`{}` {at} is not a regular file", path.display()),
                Some("name a file, not a directory or a device"),
            ),
            FileProblem::TooBig(path) => (
                format!(
                    "`{}` {at} is larger than {} MiB, the limit for a file in `with`",
                    path.display(),
                    MAX_REFERENCED_FILE_BYTES >> 20
                ),
                Some(
                    "a file becomes a step's input: split it, or keep large data out of the workflow",
                ),
            ),
            FileProblem::NotUtf8(path, offset) => (
                format!(
                    "`{}` {at} is not UTF-8 text (invalid byte at offset {offset})",
                    path.display()
                ),
                Some("only text files can be read into `with`"),
            ),
        };
        (message, help.map(str::to_owned))
    }
}

impl Checker<'_> {
    /// Reads the file of `${file:path}`, found at `at` in `with` of `scope`, into the
    /// workflow's files, or reports why it cannot be.
    pub(super) fn file_reference(&mut self, path: &str, at: Range<usize>, scope: &str) {
        let read = match self.file_reads.get(path) {
            Some(read) => read.clone(),
            None => {
                let read = self.read_file(path);
                self.file_reads.insert(path.to_owned(), read.clone());
                read
            }
        };
        let reference = Reference::File(path.to_owned());
        let canonical = match read {
            Ok(canonical) => canonical,
            Err(problem) => {
                let (message, help) = problem.describe(&reference, scope);
                self.report(at, message, help);
                return;
            }
        };
        let len = self.files.texts.get(&canonical).map_or(0, String::len);
        if self.file_bytes + len > MAX_REFERENCED_TOTAL_BYTES {
            self.report(
                at,
                format!(
                    "`{reference}`{} takes the text read from files past {} MiB, the limit for a workflow",
                    within(scope),
                    MAX_REFERENCED_TOTAL_BYTES >> 20
                ),
                Some("the files of all `${file:...}` references together may hold at most 4 MiB, a file referred to twice counting twice".into()),
            );
            return;
        }
        self.file_bytes += len;
        self.files.paths.insert(path.to_owned(), canonical);
    }

    /// Checks and reads the file `written` names; its canonical path, its text stored in
    /// the workflow's files.
    fn read_file(&mut self, written: &str) -> Result<PathBuf, FileProblem> {
        let relative = Path::new(written);
        if relative.has_root()
            || relative
                .components()
                .any(|c| matches!(c, Component::Prefix(_)))
        {
            return Err(FileProblem::Absolute);
        }
        if relative.components().any(|c| c == Component::ParentDir) {
            return Err(FileProblem::Parent);
        }
        let dir = self.path.parent().unwrap_or(Path::new(""));
        let shown = dir.join(relative);
        let unreadable = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => FileProblem::NotFound(shown.clone()),
            _ => FileProblem::Unreadable(shown.clone(), e.to_string()),
        };
        // `Path::new("")` is the current directory, which `canonicalize` does not accept.
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let root = dir.canonicalize().map_err(unreadable)?;
        let canonical = shown.canonicalize().map_err(unreadable)?;
        // Component-wise, so `/w/app` does not count as inside `/w/ap`.
        if !canonical.starts_with(&root) {
            return Err(FileProblem::Outside(shown));
        }
        if self.files.texts.contains_key(&canonical) {
            return Ok(canonical);
        }
        let bytes = match read_regular_file(&canonical, MAX_REFERENCED_FILE_BYTES as u64) {
            Ok(bytes) => bytes,
            Err(ReadProblem::NotAFile) => return Err(FileProblem::NotAFile(shown)),
            Err(ReadProblem::TooBig { .. }) => return Err(FileProblem::TooBig(shown)),
            Err(ReadProblem::Io(e)) => return Err(unreadable(e)),
        };
        let text = String::from_utf8(bytes)
            .map_err(|e| FileProblem::NotUtf8(shown, e.utf8_error().valid_up_to()))?;
        self.files.texts.insert(canonical.clone(), text);
        Ok(canonical)
    }
}
