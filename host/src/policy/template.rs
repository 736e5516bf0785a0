//! `runner policy new DIR`: a routing-policy crate to start from, written from the
//! template embedded at build time (`plugins/templates/routing-policy`) plus the
//! contract's WIT files, so it builds anywhere with cargo and no checkout of runner.
//! The crate is written into a temporary sibling and renamed into place: a failure
//! leaves nothing half-written.

use std::path::Path;

use super::builtins::{template_files, wit_files};

/// Writes the template into `dir`, which must not exist (or be an empty directory).
pub fn write(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(format!(
                "{} already exists and is not empty; choose a new directory",
                dir.display()
            ));
        }
        std::fs::remove_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .ok_or_else(|| format!("{} has no directory name", dir.display()))?
        .to_string_lossy()
        .to_string();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempdir_in(&parent)
        .map_err(|e| format!("creating a directory in {}: {e}", parent.display()))?;
    let files = template_files()
        .iter()
        .map(|(path, text)| (path.to_string(), *text))
        .chain(
            wit_files()
                .iter()
                .map(|(f, text)| (format!("wit/{f}"), *text)),
        );
    for (path, text) in files {
        let target = staging.path().join(&path);
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        std::fs::write(&target, text).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        format!("moving the new crate to {}: {e}", dir.display())
    })
}
