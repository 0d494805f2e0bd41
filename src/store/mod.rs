//! Durable storage: one SQLite database per user data directory (`sentinel.db`), written in a
//! transaction per edit with the write-ahead log synced on every commit, so an edit acknowledged by
//! [`Store::apply`] survives a crash or a kill. Annotations are keyed by the slide's identity
//! (OpenSlide's quickhash, falling back to the path), so a slide that is moved or copied keeps them.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

mod annotations;
mod review;
#[cfg(test)]
mod tests;
mod thread;

pub use review::{ImportError, MergeReport, import_bundle};
pub use thread::{StoreEvent, StoreThread};

/// Bumped when the schema changes; a database from a newer Sentinel is refused, not rewritten.
const SCHEMA_VERSION: i64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: written by a newer Sentinel (schema {found}, this one reads {SCHEMA_VERSION})"
    )]
    Newer { path: PathBuf, found: i64 },
    #[error(
        "{path}: version {version} of the read of case {case} is submitted and locked; amend it instead"
    )]
    Locked {
        path: PathBuf,
        case: String,
        version: u32,
    },
    #[error("{path}: record {id} cannot be stored or read: {source}")]
    Record {
        path: PathBuf,
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Turns SQLite errors into [`StoreError::Db`] naming the database at `path`.
fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Db {
        path: path.to_path_buf(),
        source,
    }
}

/// A write transaction on `db` (the database at `path`) that takes the write lock up front, so it
/// waits for another writer at its start instead of failing halfway; every write goes through one.
fn write_transaction<'a>(
    db: &'a mut rusqlite::Connection,
    path: &Path,
) -> Result<rusqlite::Transaction<'a>, StoreError> {
    db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_error(path))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub struct Store {
    path: PathBuf,
    db: Connection,
    /// Rows that could not be read since the last [`Store::take_skipped`]: skipped, so one damaged
    /// record never makes the rest unreadable, and reported.
    skipped: std::cell::RefCell<Vec<String>>,
}

impl Store {
    /// The store of the user data directory `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open(&data_dir.join("sentinel.db"))
    }

    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = db_error(path);
        if let Some(dir) = path.parent() {
            // A data directory made here is its owner's only (reader names, reads, notes).
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // A new database is created private (0600); SQLite gives its WAL files the same mode.
        if !path.exists() {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            if let Err(source) = options.open(path)
                && source.kind() != std::io::ErrorKind::AlreadyExists
            {
                return Err(StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        let db = Connection::open(path).map_err(err)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        // WAL + FULL: every commit is synced to the log before it returns. Switching to WAL takes
        // an exclusive lock that the busy handler does not wait for, so another connection opening
        // at the same moment (the GUI has one per panel) is waited out here.
        let started = std::time::Instant::now();
        loop {
            match db.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(e) if is_busy(&e) && started.elapsed().as_secs() < 10 => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(err(e)),
            }
        }
        db.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        let version: i64 = db
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: path.to_path_buf(),
                found: version,
            });
        }
        // IMMEDIATE: take the write lock up front, so the busy handler waits for other writers
        // (a deferred transaction that must upgrade fails at once instead).
        db.execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS slides (
                 key TEXT PRIMARY KEY,
                 path TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS annotations (
                 slide TEXT NOT NULL,
                 id TEXT NOT NULL,
                 seq INTEGER NOT NULL,
                 json TEXT NOT NULL,
                 PRIMARY KEY (slide, id)
             );
             CREATE TABLE IF NOT EXISTS classes (
                 position INTEGER PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 r INTEGER NOT NULL, g INTEGER NOT NULL, b INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS review_sessions (
                 id TEXT PRIMARY KEY,
                 json TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS review_reads (
                 session TEXT NOT NULL,
                 case_id TEXT NOT NULL,
                 reader TEXT NOT NULL,
                 arm TEXT NOT NULL,
                 version INTEGER NOT NULL,
                 json TEXT NOT NULL,
                 PRIMARY KEY (session, case_id, reader, arm, version)
             );
             PRAGMA user_version = 2;
             COMMIT;",
        )
        .map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            db,
            skipped: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// The rows skipped as unreadable since the last call, each "table id: reason".
    pub fn take_skipped(&self) -> Vec<String> {
        std::mem::take(&mut *self.skipped.borrow_mut())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        db_error(&self.path)(source)
    }

    /// Runs `sql` (selecting an id, for error messages, and a JSON column) and parses each row's
    /// JSON.
    fn json_rows<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>, StoreError> {
        json_rows_in(&self.db, &self.path, &self.skipped, sql, args)
    }
}

/// Rows of (id, JSON) parsed as `T`; a row that does not parse is skipped and noted in `skipped`.
fn json_rows_in<T: serde::de::DeserializeOwned>(
    db: &Connection,
    path: &Path,
    skipped: &std::cell::RefCell<Vec<String>>,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let err = db_error(path);
    let mut stmt = db.prepare(sql).map_err(err)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(err)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json) = row.map_err(err)?;
        match serde_json::from_str(&json) {
            Ok(v) => out.push(v),
            Err(e) => {
                let table = sql
                    .split("FROM ")
                    .nth(1)
                    .and_then(|t| t.split_whitespace().next())
                    .unwrap_or("?");
                tracing::warn!(
                    "{}: skipping unreadable {table} row {id}: {e}",
                    path.display()
                );
                skipped.borrow_mut().push(format!("{table} {id}: {e}"));
            }
        }
    }
    Ok(out)
}
