//! Reading and checking one file on its own, and the cache that keeps what was read until
//! the file changes.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use super::walk::read_bounded;
use super::{Document, SpecFile};
use crate::diag::{Diagnostic, Pos};
use crate::spec;
use crate::yaml;

/// Files as last read, kept while their inode, size and modification time stay the same: the
/// daemon's pass over an unchanged directory parses nothing again.
#[derive(Debug, Default)]
pub struct FileCache {
    pub(super) files: HashMap<PathBuf, (Stamp, Arc<SpecFile>)>,
}

/// What tells that a file changed.
type Stamp = (std::time::SystemTime, u64, u64);

impl FileCache {
    pub(super) fn read(&mut self, path: &Path) -> Arc<SpecFile> {
        let stamp = fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())));
        if let (Some(stamp), Some((seen, file))) = (stamp, self.files.get(path))
            && stamp == *seen
        {
            return file.clone();
        }
        let file = Arc::new(read_file(path));
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

/// Reads and checks one file on its own.
pub fn read_file(path: &Path) -> SpecFile {
    match read_bounded(path) {
        Ok(Ok(bytes)) => parse_file(path, &bytes),
        Ok(Err(message)) => SpecFile::problem(path, false, message),
        Err(e) => {
            let mut file = SpecFile::problem(path, false, format!("cannot read file: {e}"));
            file.unreadable = true;
            file
        }
    }
}

/// Checks the contents of one file (the fuzz harness feeds this directly).
pub fn parse_file(path: &Path, bytes: &[u8]) -> SpecFile {
    let mut file = SpecFile::new(path);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => text,
        _ => {
            let message = "not a text file (binary data or not UTF-8)".to_string();
            return SpecFile::problem(path, false, message);
        }
    };
    let loaded = yaml::load(text);
    for finding in loaded.problems {
        file.problems.push(finding.in_file(path));
    }
    if loaded.documents.is_empty() && file.problems.is_empty() {
        let message = "no endpoint documents (the file is empty or holds only comments)";
        file.problems
            .push(Diagnostic::new(path, Pos::START, message));
    }
    for tree in &loaded.documents {
        match spec::checker().check(tree) {
            Ok(spec) => file.documents.push(Document {
                generation: spec::generation(&spec),
                spec: Arc::new(spec),
                pos: tree.pos,
                name_pos: tree.at("/metadata/name").map_or(tree.pos, |n| n.pos),
                endpoint_id_pos: tree
                    .at("/spec/aws/endpointId")
                    .or_else(|| tree.at("/spec/gcp/endpointName"))
                    .map_or(tree.pos, |n| n.pos),
            }),
            Err(findings) => file
                .problems
                .extend(findings.into_iter().map(|f| f.in_file(path))),
        }
    }
    if !file.is_valid() {
        file.mentions = mentions(text, &loaded.documents);
    }
    file
}

/// The endpoint names an invalid file seems to name: `metadata.name` of what parsed, and any
/// `name:` line (a file broken beyond parsing still says which endpoints it meant).
fn mentions(text: &str, documents: &[yaml::Node]) -> BTreeSet<String> {
    static NAME_LINE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"(?m)^\s*name\s*:\s*["']?([a-z][a-z0-9-]{0,62})["']?\s*(?:#.*)?$"#)
            .expect("a valid pattern")
    });
    let mut names: BTreeSet<String> = documents
        .iter()
        .filter_map(|d| match &d.at("/metadata/name")?.value {
            yaml::Value::Str(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    names.extend(NAME_LINE.captures_iter(text).map(|c| c[1].to_string()));
    names
}
