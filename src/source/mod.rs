//! Reads endpoint files into valid documents and located problems: `walk.rs` finds them
//! safely, `cache.rs` reads and checks each one (and keeps it until it changes), and this file
//! checks them against each other.
//!
//! A file is valid only as a whole: one bad document makes the whole file invalid, and the
//! daemon then leaves every endpoint the file held exactly as it was. Problems between files
//! (a name used twice) are charged to the later file in path order, so adding a bad file never
//! disturbs the files that were already there.
//!
//! Whatever sits in the directory is a finding about its own path, never a reason to stop
//! reading the others: only regular files are opened (a FIFO would block `open` forever),
//! symlinks are followed but a directory is never read twice (no cycles), and an entry that
//! cannot be read at all freezes the endpoints that came from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::diag::{Diagnostic, Pos};
use crate::spec::EndpointDocument;

mod cache;
mod walk;

pub use cache::{FileCache, parse_file, read_file};
use walk::Walk;

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
    /// Shared with the passes that act on it.
    pub spec: Arc<EndpointDocument>,
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
    /// A directory (or what looks like one) that could not be read: everything that came
    /// from under it is frozen, and it has no status file of its own.
    pub directory: bool,
    /// Endpoint names an invalid file still seems to name (from what parses of it, or from
    /// `name:` lines): their endpoints are frozen too, even if they came from another file.
    pub mentions: BTreeSet<String>,
}

impl SpecFile {
    fn new(path: &Path) -> SpecFile {
        SpecFile {
            path: path.to_path_buf(),
            documents: Vec::new(),
            problems: Vec::new(),
            unreadable: false,
            directory: false,
            mentions: BTreeSet::new(),
        }
    }

    /// An entry that is a finding by itself (a FIFO, a dangling symlink, a cycle...).
    fn problem(path: &Path, directory: bool, message: String) -> SpecFile {
        let mut file = SpecFile::new(path);
        file.directory = directory;
        file.problems
            .push(Diagnostic::new(path, Pos::START, message));
        file
    }

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
    /// Shared with the daemon's `Tree`: a pass over an unchanged directory copies nothing.
    pub files: Vec<Arc<SpecFile>>,
}

impl Catalog {
    /// Reads files and directories (recursively) and checks them against each other.
    pub fn read(paths: &[PathBuf]) -> Result<Catalog, SourceError> {
        Catalog::read_cached(paths, &mut FileCache::default())
    }

    /// Like `read`, re-reading only the files that changed since `cache` saw them.
    pub fn read_cached(paths: &[PathBuf], cache: &mut FileCache) -> Result<Catalog, SourceError> {
        let mut walk = Walk::default();
        for path in paths {
            walk.explicit(path)?;
        }
        let mut found = walk.files;
        found.sort();
        found.dedup();
        let mut files: Vec<Arc<SpecFile>> = found.iter().map(|p| cache.read(p)).collect();
        cache.files.retain(|p, _| found.binary_search(p).is_ok());
        files.extend(walk.problems.into_iter().map(Arc::new));
        files.sort_by(|a, b| a.path.cmp(&b.path));
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

/// The daemon's view of its endpoints directory: walked in full at start and as a periodic
/// safety net; in between, only the paths the file watcher names are read again, so a pass
/// over an unchanged directory neither lists it nor stats a file.
#[derive(Debug)]
pub struct Tree {
    root: PathBuf,
    cache: FileCache,
    /// Every entry of the directory that matters, by path: files, and entries that are
    /// findings (each checked on its own; `catalog` checks them against each other).
    entries: BTreeMap<PathBuf, Arc<SpecFile>>,
    /// The entries checked against each other, until they change: most passes read nothing.
    checked: std::sync::OnceLock<Vec<Arc<SpecFile>>>,
}

impl Tree {
    pub fn new(root: PathBuf) -> Tree {
        Tree {
            root,
            cache: FileCache::default(),
            entries: BTreeMap::new(),
            checked: std::sync::OnceLock::new(),
        }
    }

    /// Walks the whole directory (a stat per file; only files that changed are read). An
    /// error means the directory itself cannot be read: then it holds nothing.
    pub fn rescan(&mut self) -> Result<(), SourceError> {
        let mut walk = Walk::default();
        let walked = walk.explicit(&self.root);
        let found = self.read(walk);
        self.cache.files.retain(|p, _| found.contains_key(p));
        self.entries = found;
        self.checked = std::sync::OnceLock::new();
        walked
    }

    /// Reads again what is at these paths now: files, or directories with everything under
    /// them; what is gone is dropped.
    pub fn refresh(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        self.checked = std::sync::OnceLock::new();
        for path in paths {
            if !path.starts_with(&self.root) || path == self.root {
                // Outside (a rename away), or the directory itself: only a rescan can tell.
                let _ = self.rescan();
                return;
            }
            let hidden = path
                .strip_prefix(&self.root)
                .into_iter()
                .flat_map(Path::components)
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            // The path and everything under it: in path order, a directory's entries follow
            // it, so this touches only them.
            let under: Vec<PathBuf> = self
                .entries
                .range(path.clone()..)
                .map(|(p, _)| p)
                .take_while(|p| p.starts_with(&path))
                .cloned()
                .collect();
            for p in &under {
                self.entries.remove(p);
                self.cache.files.remove(p);
            }
            self.cache.files.remove(&path);
            let mut walk = Walk::default();
            // The directories above are being read already: a symlink back to one of them
            // is a cycle here as in a full walk.
            for dir in path.ancestors().skip(1) {
                if let Ok(meta) = fs::metadata(dir) {
                    walk.seen.insert((meta.dev(), meta.ino()));
                }
                if dir == self.root {
                    break;
                }
            }
            if fs::symlink_metadata(&path).is_ok() {
                walk.entry(&path);
            }
            let found = self.read(walk);
            self.entries.extend(found);
        }
    }

    /// Reads the files a walk found (through the cache); with the walk's findings.
    fn read(&mut self, walk: Walk) -> BTreeMap<PathBuf, Arc<SpecFile>> {
        let mut found: BTreeMap<PathBuf, Arc<SpecFile>> = walk
            .files
            .iter()
            .map(|p| (p.clone(), self.cache.read(p)))
            .collect();
        found.extend(
            walk.problems
                .into_iter()
                .map(|f| (f.path.clone(), Arc::new(f))),
        );
        found
    }

    /// Every entry, checked against each other, in path order.
    pub fn catalog(&self) -> Catalog {
        let files = self.checked.get_or_init(|| {
            let mut files: Vec<Arc<SpecFile>> = self.entries.values().cloned().collect();
            cross_check(&mut files);
            files
        });
        Catalog {
            files: files.clone(),
        }
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

/// `path` relative to the endpoints directory `root` (as it is if it is not under it): how
/// status files, logs, tags and the frozen set name an endpoint file, so they always agree.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn stem(path: &Path) -> String {
    stem_of(path).to_string()
}

fn stem_of(path: &Path) -> &str {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.trim_end_matches(".yaml").trim_end_matches(".yml")
}

/// TiDB Cloud accepts at most this many Google Cloud endpoints per cluster (its Google Cloud
/// guide's limits).
const GCP_ENDPOINTS_PER_CLUSTER: usize = 10;

/// Problems between files: names, adopted endpoint IDs and status-file names must be unique;
/// a cluster takes at most 10 Google Cloud endpoints (the 11th and later, in path order, are
/// refused before any call), each with a name of its own (TiDB Cloud's `endpointId` is the
/// forwarding rule's name: two of one name, in two projects, could not be told apart). (Only
/// a file charged with a problem is copied to carry it.)
fn cross_check(files: &mut [Arc<SpecFile>]) {
    let mut charged: Vec<(usize, Vec<Diagnostic>)> = Vec::new();
    {
        let mut per_cluster: HashMap<&str, usize> = HashMap::new();
        let mut gcp_names: HashMap<(&str, &str), (&Path, usize)> = HashMap::new();
        let mut names: HashMap<&str, (&Path, usize)> = HashMap::new();
        let mut adopted: HashMap<&str, (&Path, usize)> = HashMap::new();
        let mut stems: HashMap<&str, &Path> = HashMap::new();
        for (i, file) in files.iter().enumerate().filter(|(_, f)| !f.directory) {
            let mut found = Vec::new();
            let stem = stem_of(&file.path);
            match stems.get(stem) {
                Some(first) => found.push(Diagnostic::new(
                    &file.path,
                    Pos::START,
                    format!(
                        "same file name as {} (their status files would collide); rename one",
                        first.display()
                    ),
                )),
                None => {
                    stems.insert(stem, &file.path);
                }
            }
            for doc in &file.documents {
                let spec = &doc.spec.spec;
                if spec.gcp().is_some() {
                    let cluster = spec.tidb_cloud.cluster_id.as_str();
                    let count = per_cluster.entry(cluster).or_default();
                    *count += 1;
                    let rule = spec
                        .gcp()
                        .map_or("", |g| g.endpoint_name(&doc.spec.metadata.name));
                    match gcp_names.get(&(cluster, rule)) {
                        Some((path, line)) => found.push(Diagnostic::new(
                            &file.path,
                            doc.name_pos,
                            format!(
                                "cluster {cluster} already has a Google Cloud endpoint named `{rule}` ({}:{line}); TiDB Cloud tells a cluster's endpoints apart by name: set another spec.gcp.endpointName",
                                path.display()
                            ),
                        )),
                        None => {
                            gcp_names.insert((cluster, rule), (&file.path, doc.name_pos.line));
                        }
                    }
                    if *count > GCP_ENDPOINTS_PER_CLUSTER {
                        found.push(Diagnostic::new(
                            &file.path,
                            doc.name_pos,
                            format!(
                                "cluster {cluster} already has {GCP_ENDPOINTS_PER_CLUSTER} Google Cloud endpoints in this directory, TiDB Cloud's limit per cluster"
                            ),
                        ));
                    }
                }
                let name = doc.spec.metadata.name.as_str();
                match names.get(name) {
                    Some((path, line)) => found.push(Diagnostic::new(
                        &file.path,
                        doc.name_pos,
                        format!(
                            "duplicate endpoint name `{name}` (first used in {}:{line})",
                            path.display()
                        ),
                    )),
                    None => {
                        names.insert(name, (&file.path, doc.name_pos.line));
                    }
                }
                if let Some(id) = doc.spec.spec.adopts() {
                    match adopted.get(id) {
                        Some((path, line)) => found.push(Diagnostic::new(
                            &file.path,
                            doc.endpoint_id_pos,
                            format!(
                                "endpoint `{id}` is already adopted in {}:{line}",
                                path.display()
                            ),
                        )),
                        None => {
                            adopted.insert(id, (&file.path, doc.endpoint_id_pos.line));
                        }
                    }
                }
            }
            if !found.is_empty() {
                charged.push((i, found));
            }
        }
    }
    for (i, found) in charged {
        let file = Arc::make_mut(&mut files[i]);
        file.problems.extend(found);
        file.problems.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str) -> String {
        format!(
            "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"1\"}}\n  aws:\n    region: us-east-1\n    vpcId: vpc-0a1b2c3d\n    subnetIds: [subnet-0000000a]\n"
        )
    }

    fn gcp_doc(name: &str) -> String {
        format!(
            "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"7\"}}\n  gcp: {{project: my-project, region: us-central1, network: n, subnetwork: s}}\n"
        )
    }

    #[test]
    fn an_eleventh_google_cloud_endpoint_of_a_cluster_is_refused_before_any_call() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..11 {
            std::fs::write(
                dir.path().join(format!("ep-{i:02}.yaml")),
                gcp_doc(&format!("ep-{i:02}")),
            )
            .unwrap();
        }
        let mut tree = Tree::new(dir.path().to_path_buf());
        tree.rescan().unwrap();
        let found = problems(&tree);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("ep-10.yaml:3:") && found[0].contains("TiDB Cloud's limit"),
            "{found:?}"
        );
    }

    #[test]
    fn two_google_cloud_endpoints_of_one_name_for_a_cluster_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let in_project = |name: &str, project: &str| {
            gcp_doc(name)
                .replace("my-project", project)
                .replace("subnetwork: s}", "subnetwork: s, endpointName: orders-psc}")
        };
        std::fs::write(dir.path().join("a.yaml"), in_project("a", "team-a")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), in_project("b", "team-b")).unwrap();
        let mut tree = Tree::new(dir.path().to_path_buf());
        tree.rescan().unwrap();
        let found = problems(&tree);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("b.yaml:3:") && found[0].contains("named `orders-psc`"),
            "{found:?}"
        );
    }

    fn problems(tree: &Tree) -> Vec<String> {
        tree.catalog()
            .files
            .iter()
            .flat_map(|f| f.problems.iter().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn files_are_checked_against_each_other_again_after_every_change() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), doc("orders")).unwrap();
        let mut tree = Tree::new(dir.path().to_path_buf());
        tree.rescan().unwrap();
        assert_eq!(problems(&tree), Vec::<String>::new());
        // A second file takes the same name: the watcher names it, the catalog says so.
        let b = dir.path().join("b.yaml");
        std::fs::write(&b, doc("orders")).unwrap();
        tree.refresh([b.clone()]);
        let found = problems(&tree);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("b.yaml") && found[0].contains("duplicate endpoint name `orders`")
        );
        // Renamed in place: the problem is gone.
        std::fs::write(&b, doc("billing")).unwrap();
        tree.refresh([b]);
        assert_eq!(problems(&tree), Vec::<String>::new());
    }
}
