//! The safe walk of the endpoints directory (the rules are in the module's documentation):
//! files to read, and entries that are findings by themselves.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{MAX_FILE_BYTES, SourceError, SpecFile, is_spec_file};

/// What a walk of the given paths found: files to read, and entries that are findings.
#[derive(Debug, Default)]
pub(super) struct Walk {
    pub(super) files: Vec<PathBuf>,
    pub(super) problems: Vec<SpecFile>,
    /// Directories read so far, by device and inode: a symlink back to one of them (a cycle)
    /// or a second way into one is not followed.
    pub(super) seen: HashSet<(u64, u64)>,
}

impl Walk {
    /// A path the user named: a file is read whatever its name; one that cannot be read at all
    /// stops the walk (a usage error).
    pub(super) fn explicit(&mut self, path: &Path) -> Result<(), SourceError> {
        let io_error = |source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(io_error)?;
        if meta.is_dir() {
            self.seen.insert((meta.dev(), meta.ino()));
            let entries = list(path).map_err(io_error)?;
            entries.iter().for_each(|e| self.entry(e));
        } else if meta.is_file() {
            self.files.push(path.to_path_buf());
        } else {
            self.problems
                .push(SpecFile::problem(path, false, not_regular(&meta)));
        }
        Ok(())
    }

    /// An entry found inside a directory.
    pub(super) fn entry(&mut self, path: &Path) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') {
            return;
        }
        // What matters here is an entry that may hold endpoint files: one named like an
        // endpoint file, or one without an extension (a directory, or a link to one).
        let relevant = is_spec_file(path) || Path::new(name).extension().is_none();
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if relevant => {
                let message = match fs::read_link(path) {
                    Ok(target) if e.raw_os_error() == Some(libc::ELOOP) => {
                        format!("symlink loop (-> {}); not followed", target.display())
                    }
                    Ok(target) => format!("dangling symlink (-> {}): {e}", target.display()),
                    Err(_) => format!("cannot read: {e}"),
                };
                let directory = !is_spec_file(path);
                self.problems
                    .push(SpecFile::problem(path, directory, message));
                return;
            }
            Err(_) => return,
        };
        if meta.is_dir() {
            if !self.seen.insert((meta.dev(), meta.ino())) {
                let message =
                    "a directory already read (a symlink cycle or a second link); not followed";
                self.problems
                    .push(SpecFile::problem(path, true, message.into()));
                return;
            }
            match list(path) {
                Ok(entries) => entries.iter().for_each(|e| self.entry(e)),
                Err(e) => self.problems.push(SpecFile::problem(
                    path,
                    true,
                    format!("cannot list directory: {e}"),
                )),
            }
        } else if is_spec_file(path) {
            if meta.is_file() {
                self.files.push(path.to_path_buf());
            } else {
                self.problems
                    .push(SpecFile::problem(path, false, not_regular(&meta)));
            }
        }
    }
}

/// The entries of a directory.
fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect()
}

fn not_regular(meta: &fs::Metadata) -> String {
    let t = meta.file_type();
    let what = if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a file"
    };
    format!("not a regular file ({what}); only regular files are read")
}

/// Opens a regular file without ever blocking (a FIFO put in its place since it was listed
/// would block `open` until a writer comes) and reads at most `MAX_FILE_BYTES` and one more.
pub(super) fn read_bounded(path: &Path) -> io::Result<Result<Vec<u8>, String>> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Err(not_regular(&meta)));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok(Err(format!(
            "file is larger than {} KiB",
            MAX_FILE_BYTES / 1024
        )));
    }
    Ok(Ok(bytes))
}
