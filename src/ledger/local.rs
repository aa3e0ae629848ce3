//! The ledger on one host: `stateDir/ledger.sqlite`, one row per document (its entry as JSON).
//!
//! SQLite rather than a journal of our own or redb: a commit is durable once it returns
//! (`journal_mode=WAL`, `synchronous=FULL`), a crash at any moment leaves the last commit,
//! and other processes may read it while the daemon writes, so `privatelinkd state` works
//! beside a running daemon (and `state forget` writes; the daemon notices through
//! `PRAGMA data_version`). redb locks its file for one process.
//!
//! A lost ledger is told from a first one by `ledger.id`, written beside it when it is made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Backend, Change, Entry, Health, Ledger, LedgerError};

pub const FILE: &str = "ledger.sqlite";
const MARK: &str = "ledger.id";

/// The open ledger file.
pub struct Local {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// `PRAGMA data_version` when last read: it moves when another connection commits.
    version: i64,
}

fn io(path: &Path, e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Corrupt {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

/// Opens `dir`'s ledger: as written, or new, or (lost or corrupt) new and saying so. Fails
/// only when the directory cannot hold a ledger at all.
pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
    let path = dir.join(FILE);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let existed = path.exists();
    let expected = dir.join(MARK).exists();
    let health = match (existed, expected) {
        (true, _) => match read(&path) {
            Ok((local, entries)) => {
                return Ok(Ledger::with(Backend::Local(local), entries, Health::Loaded));
            }
            Err(LedgerError::Corrupt { why, .. }) => {
                let aside = dir.join(format!("{FILE}.corrupt-{}", super::now()));
                for suffix in ["", "-wal", "-shm"] {
                    let from = PathBuf::from(format!("{}{suffix}", path.display()));
                    let to = PathBuf::from(format!("{}{suffix}", aside.display()));
                    if from.exists() {
                        std::fs::rename(&from, &to).map_err(|e| io(&from, e))?;
                    }
                }
                Health::Rebuilding(format!(
                    "the ledger {} is corrupt ({why}); it was moved to {} and is rebuilt from \
                     the owner tags",
                    path.display(),
                    aside.display()
                ))
            }
            Err(e) => return Err(e),
        },
        (false, true) => Health::Rebuilding(format!(
            "the ledger {} is missing (this state directory had one); it is rebuilt from the \
             owner tags",
            path.display()
        )),
        (false, false) => Health::New,
    };
    let (local, entries) = read(&path)?;
    crate::status::write_atomically(&dir.join(MARK), format!("{}\n", super::now()).as_bytes())
        .map_err(|e| io(dir, e))?;
    Ok(Ledger::with(Backend::Local(local), entries, health))
}

/// Opens (creating if needed) and reads every entry; anything unreadable is corruption.
fn read(path: &Path) -> Result<(Local, BTreeMap<String, Entry>), LedgerError> {
    let conn = Connection::open(path).map_err(|e| corrupt(path, e))?;
    let setup = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;
        CREATE TABLE IF NOT EXISTS entries (name TEXT PRIMARY KEY, body TEXT NOT NULL) STRICT;";
    conn.execute_batch(setup).map_err(|e| corrupt(path, e))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| corrupt(path, e))?;
    if check != "ok" {
        return Err(corrupt(path, check));
    }
    let entries = entries_of(&conn, path)?;
    let version = data_version(&conn, path)?;
    let local = Local {
        path: path.to_path_buf(),
        conn: Arc::new(Mutex::new(conn)),
        version,
    };
    Ok((local, entries))
}

fn entries_of(conn: &Connection, path: &Path) -> Result<BTreeMap<String, Entry>, LedgerError> {
    let mut statement = conn
        .prepare("SELECT name, body FROM entries")
        .map_err(|e| corrupt(path, e))?;
    let rows = statement
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| corrupt(path, e))?;
    let mut entries = BTreeMap::new();
    for row in rows {
        let (name, body) = row.map_err(|e| corrupt(path, e))?;
        let entry: Entry = serde_json::from_str(&body)
            .map_err(|e| corrupt(path, format!("the entry of {name}: {e}")))?;
        entries.insert(name, entry);
    }
    Ok(entries)
}

fn data_version(conn: &Connection, path: &Path) -> Result<i64, LedgerError> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(|e| io(path, e))
}

impl Local {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `changes` in one transaction, off the event loop (a commit waits for fsync).
    pub async fn write(&mut self, changes: Vec<Change>) -> Result<(), LedgerError> {
        let (conn, path) = (self.conn.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().expect("ledger connection poisoned");
            write_now(&mut conn, &changes).map_err(|e| io(&path, e))
        })
        .await
        .map_err(|e| io(&self.path, e))?
    }

    /// Every entry, read again.
    pub async fn reload(&mut self) -> Result<BTreeMap<String, Entry>, LedgerError> {
        let conn = self.conn.lock().expect("ledger connection poisoned");
        let entries = entries_of(&conn, &self.path)?;
        self.version = data_version(&conn, &self.path)?;
        Ok(entries)
    }

    /// The entries again, if another process committed since we last read.
    pub async fn reload_if_changed(
        &mut self,
    ) -> Result<Option<BTreeMap<String, Entry>>, LedgerError> {
        let conn = self.conn.lock().expect("ledger connection poisoned");
        let version = data_version(&conn, &self.path)?;
        if version == self.version {
            return Ok(None);
        }
        let entries = entries_of(&conn, &self.path)?;
        drop(conn);
        self.version = version;
        Ok(Some(entries))
    }
}

fn write_now(conn: &mut Connection, changes: &[Change]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO entries (name, body) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
        )?;
        let mut remove = tx.prepare_cached("DELETE FROM entries WHERE name = ?1")?;
        for change in changes {
            match change {
                Change::Put(name, entry) => {
                    let body = serde_json::to_string(entry).expect("an entry serializes");
                    put.execute(params![name, body])?;
                }
                Change::Remove(name) => {
                    remove.execute(params![name])?;
                }
            }
        }
    }
    tx.commit()
}

/// For `privatelinkd state`: the entries of a ledger file, read beside a running daemon.
pub fn read_only(dir: &Path) -> Result<BTreeMap<String, Entry>, LedgerError> {
    let path = dir.join(FILE);
    if !path.exists() {
        return Err(io(
            &path,
            "no ledger here (has the daemon run with this stateDir?)",
        ));
    }
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| io(&path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| io(&path, e))?;
    entries_of(&conn, &path)
}

/// For `privatelinkd state forget`: removes one entry; a running daemon reads the change
/// before its next pass. Returns whether there was one.
pub fn forget(dir: &Path, name: &str) -> Result<bool, LedgerError> {
    let path = dir.join(FILE);
    if !path.exists() {
        return Err(io(
            &path,
            "no ledger here (has the daemon run with this stateDir?)",
        ));
    }
    let conn = Connection::open(&path).map_err(|e| io(&path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| io(&path, e))?;
    let known: Option<String> = conn
        .query_row("SELECT name FROM entries WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| io(&path, e))?;
    if known.is_none() {
        return Ok(false);
    }
    conn.execute("DELETE FROM entries WHERE name = ?1", [name])
        .map_err(|e| io(&path, e))?;
    Ok(true)
}
