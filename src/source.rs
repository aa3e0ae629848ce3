//! Reads endpoint files into valid documents and located problems.
//!
//! A file is valid only as a whole: one bad document makes the whole file invalid, and the
//! daemon then leaves every endpoint the file held exactly as it was. Problems between files
//! (a name used twice) are charged to the later file in path order, so adding a bad file never
//! disturbs the files that were already there.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::diag::{Diagnostic, Pos};
use crate::spec::{self, EndpointDocument};
use crate::yaml;

/// Larger files are refused: an endpoint document is well under a kilobyte.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Errors that stop reading altogether (a file's own problems are [`Diagnostic`]s instead).
#[derive(Debug, Error)]
pub enum SourceError {
    /// A path given to read does not exist or cannot be listed.
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One valid document and where its parts were written, for later cross-file checks.
#[derive(Debug, Clone)]
pub struct Document {
    pub spec: EndpointDocument,
    /// `spec::generation` of the document, computed once when the file is read.
    pub generation: String,
    pub pos: Pos,
    pub name_pos: Pos,
    pub endpoint_id_pos: Pos,
}

/// One file as read: its documents if it is valid, its problems otherwise.
#[derive(Debug, Clone)]
pub struct SpecFile {
    pub path: PathBuf,
    /// The documents, which the daemon acts on only when `problems` is empty.
    pub documents: Vec<Document>,
    pub problems: Vec<Diagnostic>,
    /// Set when the file could not be read at all (permissions, vanished meanwhile).
    pub unreadable: bool,
}

impl SpecFile {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// The file name without `.yaml`/`.yml`: names the status file.
    pub fn stem(&self) -> String {
        stem(&self.path)
    }
}

/// Every endpoint file found under the given paths, in path order.
#[derive(Debug, Default)]
pub struct Catalog {
    pub files: Vec<SpecFile>,
}

impl Catalog {
    /// Reads files and directories (recursively) and checks them against each other.
    pub fn read(paths: &[PathBuf]) -> Result<Catalog, SourceError> {
        Catalog::read_cached(paths, &mut FileCache::default())
    }

    /// Like `read`, re-reading only the files that changed since `cache` saw them.
    pub fn read_cached(paths: &[PathBuf], cache: &mut FileCache) -> Result<Catalog, SourceError> {
        let mut found = Vec::new();
        for path in paths {
            discover(path, true, &mut found)?;
        }
        found.sort();
        found.dedup();
        let mut files: Vec<SpecFile> = found.iter().map(|p| cache.read(p)).collect();
        cache.files.retain(|p, _| found.binary_search(p).is_ok());
        cross_check(&mut files);
        Ok(Catalog { files })
    }

    pub fn problems(&self) -> impl Iterator<Item = &Diagnostic> {
        self.files.iter().flat_map(|f| f.problems.iter())
    }

    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.files
            .iter()
            .filter(|f| f.is_valid())
            .flat_map(|f| f.documents.iter())
    }
}

/// Files as last read, kept while their inode, size and modification time stay the same: the
/// daemon's pass over an unchanged directory parses nothing again.
#[derive(Debug, Default)]
pub struct FileCache {
    files: HashMap<PathBuf, (Stamp, SpecFile)>,
}

/// What tells that a file changed.
type Stamp = (std::time::SystemTime, u64, u64);

impl FileCache {
    fn read(&mut self, path: &Path) -> SpecFile {
        use std::os::unix::fs::MetadataExt;
        let stamp = fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())));
        if let (Some(stamp), Some((seen, file))) = (stamp, self.files.get(path))
            && stamp == *seen
        {
            return file.clone();
        }
        let file = read_file(path);
        match stamp {
            Some(stamp) if !file.unreadable => {
                self.files.insert(path.to_path_buf(), (stamp, file.clone()));
            }
            _ => {
                self.files.remove(path);
            }
        }
        file
    }
}

/// Is this the name of an endpoint file? Status sidecars and hidden files are not.
pub fn is_spec_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.')
        && (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !name.ends_with(".status.yaml")
        && !name.ends_with(".status.yml")
}

fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.trim_end_matches(".yaml")
        .trim_end_matches(".yml")
        .to_string()
}

fn discover(path: &Path, explicit: bool, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let io_error = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(io_error)?;
    if meta.is_dir() {
        let mut entries = Vec::new();
        for entry in fs::read_dir(path).map_err(io_error)? {
            entries.push(entry.map_err(io_error)?.path());
        }
        for entry in entries {
            let hidden = entry
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                discover(&entry, false, out)?;
            }
        }
    } else if explicit || is_spec_file(path) {
        // A file named on the command line is read whatever its name: the user asked for it.
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Reads and checks one file on its own.
pub fn read_file(path: &Path) -> SpecFile {
    let mut file = SpecFile {
        path: path.to_path_buf(),
        documents: Vec::new(),
        problems: Vec::new(),
        unreadable: false,
    };
    let problem = |file: &mut SpecFile, pos: Pos, message: String| {
        file.problems.push(Diagnostic::new(path, pos, message));
    };
    let bytes = match fs::metadata(path).and_then(|m| {
        if m.len() > MAX_FILE_BYTES {
            Ok(None)
        } else {
            fs::read(path).map(Some)
        }
    }) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let message = format!("file is larger than {} KiB", MAX_FILE_BYTES / 1024);
            problem(&mut file, Pos::START, message);
            return file;
        }
        Err(e) => {
            file.unreadable = true;
            problem(&mut file, Pos::START, format!("cannot read file: {e}"));
            return file;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => text,
        _ => {
            let message = "not a text file (binary data or not UTF-8)".to_string();
            problem(&mut file, Pos::START, message);
            return file;
        }
    };
    let loaded = yaml::load(&text);
    for finding in loaded.problems {
        file.problems.push(finding.in_file(path));
    }
    if loaded.documents.is_empty() && file.problems.is_empty() {
        let message = "no endpoint documents (the file is empty or holds only comments)";
        problem(&mut file, Pos::START, message.to_string());
    }
    for tree in &loaded.documents {
        match spec::checker().check(tree) {
            Ok(spec) => file.documents.push(Document {
                generation: spec::generation(&spec),
                spec,
                pos: tree.pos,
                name_pos: tree.at("/metadata/name").map_or(tree.pos, |n| n.pos),
                endpoint_id_pos: tree.at("/spec/aws/endpointId").map_or(tree.pos, |n| n.pos),
            }),
            Err(findings) => file
                .problems
                .extend(findings.into_iter().map(|f| f.in_file(path))),
        }
    }
    file
}

/// Problems between files: names, adopted endpoint IDs and status-file names must be unique.
fn cross_check(files: &mut [SpecFile]) {
    let mut names: HashMap<String, (PathBuf, usize)> = HashMap::new();
    let mut adopted: HashMap<String, (PathBuf, usize)> = HashMap::new();
    let mut stems: HashMap<String, PathBuf> = HashMap::new();
    for file in files.iter_mut() {
        let mut found = Vec::new();
        if let Some(first) = stems.get(&file.stem()) {
            found.push(Diagnostic::new(
                &file.path,
                Pos::START,
                format!(
                    "same file name as {} (their status files would collide); rename one",
                    first.display()
                ),
            ));
        } else {
            stems.insert(file.stem(), file.path.clone());
        }
        for doc in &file.documents {
            let name = doc.spec.metadata.name.to_string();
            if let Some((path, line)) = names.get(&name) {
                found.push(Diagnostic::new(
                    &file.path,
                    doc.name_pos,
                    format!(
                        "duplicate endpoint name `{name}` (first used in {}:{line})",
                        path.display()
                    ),
                ));
            } else {
                names.insert(name, (file.path.clone(), doc.name_pos.line));
            }
            if let Some(id) = &doc.spec.spec.aws.endpoint_id {
                if let Some((path, line)) = adopted.get(id.as_str()) {
                    found.push(Diagnostic::new(
                        &file.path,
                        doc.endpoint_id_pos,
                        format!(
                            "endpoint `{id}` is already adopted in {}:{line}",
                            path.display()
                        ),
                    ));
                } else {
                    adopted.insert(
                        id.to_string(),
                        (file.path.clone(), doc.endpoint_id_pos.line),
                    );
                }
            }
        }
        file.problems.extend(found);
        file.problems.sort();
    }
}
