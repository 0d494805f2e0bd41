//! Durable storage: one SQLite database per user data directory (`sentinel.db`), written in a
//! transaction per edit with the write-ahead log synced on every commit, so an edit acknowledged by
//! [`Store::apply`] survives a crash or a kill. Annotations are keyed by the slide's identity
//! (OpenSlide's quickhash, falling back to the path), so a slide that is moved or copied keeps them.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::annotate::{Annotation, Change, Class, default_classes};
use crate::review::session::{Read, Session};

/// Bumped when the schema changes; a database from a newer Sentinel is refused, not rewritten.
const SCHEMA_VERSION: i64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error(
        "{path}: written by a newer Sentinel (schema {found}, this one reads {SCHEMA_VERSION})"
    )]
    Newer { path: PathBuf, found: i64 },
    #[error("{path}: annotation {id} is unreadable: {message}")]
    Record {
        path: PathBuf,
        id: String,
        message: String,
    },
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
        let err = |e: rusqlite::Error| StoreError::Db {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            // A data directory made here is its owner's only (reader names, reads, notes).
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| StoreError::Db {
                path: dir.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        // A new database is created private (0600); SQLite gives its WAL files the same mode.
        if !path.exists() {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            if let Err(e) = options.open(path)
                && e.kind() != std::io::ErrorKind::AlreadyExists
            {
                return Err(StoreError::Db {
                    path: path.to_path_buf(),
                    message: e.to_string(),
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

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// The user's class list ([`default_classes`] until they change it).
    pub fn classes(&self) -> Result<Vec<Class>, StoreError> {
        let mut stmt = self
            .db
            .prepare("SELECT name, r, g, b FROM classes ORDER BY position")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Class {
                    name: r.get(0)?,
                    color: [r.get(1)?, r.get(2)?, r.get(3)?],
                })
            })
            .map_err(|e| self.err(e))?;
        let list = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(if list.is_empty() {
            default_classes()
        } else {
            list
        })
    }

    /// The annotations of the slide `key`, in the order they were first saved.
    /// Moves the annotations stored under `legacy` (a key of an earlier release: `path:<path>` for
    /// slides without a quickhash) to `key`, if `key` has none yet; returns how many moved.
    pub fn adopt_legacy(&mut self, key: &str, legacy: &str) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| StoreError::Db {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let here: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM annotations WHERE slide = ?1",
                [key],
                |r| r.get(0),
            )
            .map_err(err)?;
        if here > 0 {
            return Ok(0);
        }
        tx.execute(
            "INSERT INTO slides (key, path) SELECT ?1, path FROM slides WHERE key = ?2
             ON CONFLICT(key) DO NOTHING",
            params![key, legacy],
        )
        .map_err(err)?;
        let moved = tx
            .execute(
                "UPDATE annotations SET slide = ?1 WHERE slide = ?2",
                params![key, legacy],
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(moved)
    }

    pub fn annotations(&self, key: &str) -> Result<Vec<Annotation>, StoreError> {
        self.json_rows(
            "SELECT id, json FROM annotations WHERE slide = ?1 ORDER BY seq",
            [key],
        )
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

    /// Writes `changes` for the slide `key` (at `slide_path`) in one transaction; when this returns
    /// `Ok`, they are on disk.
    pub fn apply(
        &mut self,
        key: &str,
        slide_path: &Path,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| StoreError::Db {
            path: path.clone(),
            message: e.to_string(),
        };
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO slides (key, path) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET path = excluded.path",
            params![key, slide_path.to_string_lossy()],
        )
        .map_err(err)?;
        for change in changes {
            match change {
                Change::Upsert(a) => {
                    let json = serde_json::to_string(a).map_err(|e| StoreError::Record {
                        path: path.clone(),
                        id: a.id.clone(),
                        message: e.to_string(),
                    })?;
                    // A new annotation goes last; an existing one keeps its place.
                    let seq: Option<i64> = tx
                        .query_row(
                            "SELECT seq FROM annotations WHERE slide = ?1 AND id = ?2",
                            params![key, a.id],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(err)?;
                    let seq = match seq {
                        Some(s) => s,
                        None => tx
                            .query_row(
                                "SELECT COALESCE(MAX(seq), 0) + 1 FROM annotations WHERE slide = ?1",
                                [key],
                                |r| r.get(0),
                            )
                            .map_err(err)?,
                    };
                    tx.execute(
                        "INSERT INTO annotations (slide, id, seq, json) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(slide, id) DO UPDATE SET json = excluded.json",
                        params![key, a.id, seq, json],
                    )
                    .map_err(err)?;
                }
                Change::Delete(id) => {
                    tx.execute(
                        "DELETE FROM annotations WHERE slide = ?1 AND id = ?2",
                        params![key, id],
                    )
                    .map_err(err)?;
                }
                Change::Classes(list) => {
                    tx.execute("DELETE FROM classes", []).map_err(err)?;
                    for (i, c) in list.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO classes (position, name, r, g, b) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![i as i64, c.name, c.color[0], c.color[1], c.color[2]],
                        )
                        .map_err(err)?;
                    }
                }
            }
        }
        tx.commit().map_err(err)
    }
}

/// What merging a bundle changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeReport {
    pub reads_added: usize,
    /// Already here, identical.
    pub reads_present: usize,
    /// The same version with different content was here: the incoming one was kept as a new
    /// version, so neither is lost.
    pub reads_renumbered: usize,
    pub cases_added: usize,
    pub readers_added: usize,
}

impl Store {
    pub fn review_sessions(&self) -> Result<Vec<Session>, StoreError> {
        self.json_rows("SELECT id, json FROM review_sessions ORDER BY rowid", [])
    }

    pub fn review_session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        json_rows_in(
            &self.db,
            &self.path,
            &self.skipped,
            "SELECT id, json FROM review_sessions WHERE id = ?1",
            [id],
        )
        .map(|mut v| v.pop())
    }

    pub fn save_review_session(&mut self, session: &Session) -> Result<(), StoreError> {
        let json = serde_json::to_string(session).map_err(|e| StoreError::Record {
            path: self.path.clone(),
            id: session.id.clone(),
            message: e.to_string(),
        })?;
        self.db
            .execute(
                "INSERT INTO review_sessions (id, json) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET json = excluded.json",
                params![session.id, json],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every version of every read of the session.
    pub fn reads(&self, session_id: &str) -> Result<Vec<Read>, StoreError> {
        self.json_rows(
            "SELECT case_id, json FROM review_reads WHERE session = ?1
             ORDER BY case_id, reader, arm, version",
            [session_id],
        )
    }

    /// Saves one read version. A submitted version on disk is never overwritten.
    pub fn save_read(&mut self, session_id: &str, read: &Read) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| StoreError::Db {
                path: path.clone(),
                message: e.to_string(),
            })?;
        put_read(&tx, &path, session_id, read, false)?;
        tx.commit().map_err(|e| StoreError::Db {
            path,
            message: e.to_string(),
        })
    }

    /// Merges a session and its reads from elsewhere in one transaction: cases and readers by id,
    /// reads by (case, reader, arm, version); nothing here is overwritten or lost.
    pub fn merge_review(
        &mut self,
        session: &Session,
        reads: &[Read],
    ) -> Result<MergeReport, StoreError> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| StoreError::Db {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut report = MergeReport::default();
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        // Read inside the write transaction: another connection's merge of the same session
        // cannot slip in between this read and the write below.
        let existing: Option<Session> = json_rows_in(
            &tx,
            &path,
            &self.skipped,
            "SELECT id, json FROM review_sessions WHERE id = ?1",
            [&session.id],
        )?
        .pop();
        let merged = match existing {
            None => {
                report.cases_added = session.cases.len();
                report.readers_added = session.readers.len();
                session.clone()
            }
            Some(mut here) => {
                for c in &session.cases {
                    if !here.cases.iter().any(|h| h.id == c.id) {
                        here.cases.push(c.clone());
                        report.cases_added += 1;
                    }
                }
                for r in &session.readers {
                    match here.readers.iter_mut().find(|h| h.id == r.id) {
                        Some(h) => {
                            for arm in &r.arms {
                                if !h.arms.contains(arm) {
                                    h.arms.push(*arm);
                                }
                            }
                        }
                        None => {
                            here.readers.push(r.clone());
                            report.readers_added += 1;
                        }
                    }
                }
                here
            }
        };
        let json = serde_json::to_string(&merged).map_err(|e| StoreError::Record {
            path: path.clone(),
            id: merged.id.clone(),
            message: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO review_sessions (id, json) VALUES (?1, ?2)
             ON CONFLICT(id) DO UPDATE SET json = excluded.json",
            params![merged.id, json],
        )
        .map_err(err)?;
        for r in reads {
            match put_read(&tx, &path, &session.id, r, true)? {
                Put::Added => report.reads_added += 1,
                Put::Present => report.reads_present += 1,
                Put::Renumbered => report.reads_renumbered += 1,
            }
        }
        tx.commit().map_err(err)?;
        Ok(report)
    }
}

enum Put {
    Added,
    Present,
    Renumbered,
}

fn arm_key(read: &Read) -> &'static str {
    match read.arm {
        crate::review::session::Arm::Unassisted => "unassisted",
        crate::review::session::Arm::Assisted => "assisted",
    }
}

/// Writes `read` unless that version is already there. The same version with other content is an
/// error when saving locally (a submitted read is locked) and a new version when merging.
fn put_read(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    session_id: &str,
    read: &Read,
    merging: bool,
) -> Result<Put, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Db {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let json = |r: &Read| {
        serde_json::to_string(r).map_err(|e| StoreError::Record {
            path: path.to_path_buf(),
            id: r.case_id.clone(),
            message: e.to_string(),
        })
    };
    let arm = arm_key(read);
    let here: Option<String> = tx
        .query_row(
            "SELECT json FROM review_reads
             WHERE session = ?1 AND case_id = ?2 AND reader = ?3 AND arm = ?4 AND version = ?5",
            params![session_id, read.case_id, read.reader_id, arm, read.version],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    let mut read = read.clone();
    let mut outcome = Put::Added;
    if let Some(existing) = here {
        let existing: Read = serde_json::from_str(&existing).map_err(|e| StoreError::Record {
            path: path.to_path_buf(),
            id: read.case_id.clone(),
            message: e.to_string(),
        })?;
        if existing == read {
            return Ok(Put::Present);
        }
        if !merging {
            if existing.submitted {
                return Err(StoreError::Record {
                    path: path.to_path_buf(),
                    id: read.case_id.clone(),
                    message: format!(
                        "version {} of this read is submitted and locked; amend it instead",
                        read.version
                    ),
                });
            }
        } else {
            let max: i64 = tx
                .query_row(
                    "SELECT MAX(version) FROM review_reads
                     WHERE session = ?1 AND case_id = ?2 AND reader = ?3 AND arm = ?4",
                    params![session_id, read.case_id, read.reader_id, arm],
                    |r| r.get(0),
                )
                .map_err(err)?;
            read.version = u32::try_from(max + 1).unwrap_or(u32::MAX);
            outcome = Put::Renumbered;
        }
    }
    tx.execute(
        "INSERT INTO review_reads (session, case_id, reader, arm, version, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(session, case_id, reader, arm, version) DO UPDATE SET json = excluded.json",
        params![
            session_id,
            read.case_id,
            read.reader_id,
            arm,
            read.version,
            json(&read)?
        ],
    )
    .map_err(err)?;
    Ok(outcome)
}

/// Rows of (id, JSON) parsed as `T`; a row that does not parse is skipped and noted in `skipped`.
fn json_rows_in<T: serde::de::DeserializeOwned>(
    db: &Connection,
    path: &Path,
    skipped: &std::cell::RefCell<Vec<String>>,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Db {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotate::Shape;

    fn rect(x: f64) -> Annotation {
        Annotation::new(Shape::rectangle([x, 0.0], [x + 5.0, 5.0]), None)
    }

    fn noop() -> std::sync::Arc<dyn Fn() + Send + Sync> {
        std::sync::Arc::new(|| {})
    }

    #[test]
    fn a_damaged_row_is_skipped_and_reported_and_the_rest_stays_usable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::in_data_dir(dir.path()).expect("store");
        let session = |id: &str| Session {
            id: id.into(),
            name: format!("session {id}"),
            cases: Vec::new(),
            readers: Vec::new(),
            seed: 1,
            questions: Default::default(),
        };
        store.save_review_session(&session("good")).expect("save");
        store
            .db
            .execute(
                "INSERT INTO review_sessions (id, json) VALUES ('bad', '{\"id\": 3')",
                [],
            )
            .expect("insert a damaged row");
        let sessions = store.review_sessions().expect("the store stays usable");
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].id, "good");
        let skipped = store.take_skipped();
        assert_eq!(skipped.len(), 1);
        assert!(
            skipped[0].starts_with("review_sessions bad:"),
            "{skipped:?}"
        );
        // A merge into the good session still works with the damaged row present.
        let report = store.merge_review(&session("good"), &[]).expect("merge");
        assert_eq!(report.cases_added, 0);
    }

    /// An annotation row whose shape no tool makes (radii 1e18: the outline burner and the
    /// coverage maths would loop over it) is skipped and reported like an unparsable one.
    #[test]
    fn an_annotation_row_with_an_impossible_shape_is_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::in_data_dir(dir.path()).expect("store");
        for (id, shape) in [
            ("ok", r#"{"kind":"rectangle","min":[0,0],"max":[5,5]}"#),
            (
                "huge",
                r#"{"kind":"ellipse","centre":[1,1],"radii":[1e18,1e18]}"#,
            ),
            ("empty", r#"{"kind":"area","polygons":[]}"#),
        ] {
            let json = format!(r#"{{"id":"{id}","shape":{shape},"class":null}}"#);
            store
                .db
                .execute(
                    "INSERT INTO annotations (slide, id, seq, json) VALUES ('k', ?1, 0, ?2)",
                    [id, json.as_str()],
                )
                .expect("insert");
        }
        let kept = store.annotations("k").expect("the store stays usable");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id, "ok");
        let skipped = store.take_skipped();
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(
            skipped.iter().any(|s| s.contains("not within")),
            "{skipped:?}"
        );
    }

    /// Merges of the same session from two connections at once: each reads and writes inside
    /// its own write transaction, so no merge overwrites another's additions.
    #[test]
    fn concurrent_merges_of_one_session_lose_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = Session {
            id: "s".into(),
            name: "shared".into(),
            cases: Vec::new(),
            readers: Vec::new(),
            seed: 1,
            questions: Default::default(),
        };
        Store::in_data_dir(dir.path())
            .expect("store")
            .save_review_session(&base)
            .expect("save");
        let threads: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|who| {
                let (dir, base) = (dir.path().to_path_buf(), base.clone());
                std::thread::spawn(move || {
                    let mut store = Store::in_data_dir(&dir).expect("store");
                    for i in 0..300 {
                        let mut s = base.clone();
                        s.readers = vec![crate::review::session::Reader::new(
                            &format!("{who}{i}"),
                            &format!("Reader {who}{i}"),
                            vec![crate::review::session::Arm::Unassisted],
                        )];
                        store.merge_review(&s, &[]).expect("merge");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let store = Store::in_data_dir(dir.path()).expect("store");
        let merged = store.review_session("s").expect("read").expect("session");
        assert_eq!(
            merged.readers.len(),
            600,
            "every reader of both workstations"
        );
    }

    /// Annotations an earlier release stored under `path:<path>` (slides without a quickhash) are
    /// adopted by the slide's identity once, and never into a key that has its own.
    #[test]
    fn legacy_path_keys_are_adopted_by_the_identity() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::in_data_dir(dir.path()).expect("store");
        let p = Path::new("/slides/scan.tiff");
        store
            .apply(
                "path:/slides/scan.tiff",
                p,
                &[Change::Upsert(rect(1.0)), Change::Upsert(rect(2.0))],
            )
            .expect("old");
        assert_eq!(
            store
                .adopt_legacy("content1:ab", "path:/slides/scan.tiff")
                .expect("adopt"),
            2
        );
        assert_eq!(store.annotations("content1:ab").expect("read").len(), 2);
        assert!(
            store
                .annotations("path:/slides/scan.tiff")
                .expect("read")
                .is_empty()
        );
        store
            .apply("path:/slides/scan.tiff", p, &[Change::Upsert(rect(3.0))])
            .expect("old again");
        assert_eq!(
            store
                .adopt_legacy("content1:ab", "path:/slides/scan.tiff")
                .expect("adopt"),
            0
        );
        assert_eq!(store.annotations("content1:ab").expect("read").len(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_store_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("sentinel-data");
        let mut store = Store::in_data_dir(&data).expect("store");
        store
            .apply("k", Path::new("/s.svs"), &[Change::Upsert(rect(0.0))])
            .expect("write, so the WAL exists");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700, "the data directory");
        assert_eq!(mode(&data.join("sentinel.db")), 0o600, "the database");
        let wal = data.join("sentinel.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600, "its write-ahead log");
        }
    }

    #[test]
    fn store_thread_is_joined_with_every_queued_change_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut t = StoreThread::start(dir.path().to_path_buf(), noop());
        let path = dir.path().join("s.svs");
        for i in 0..300 {
            t.apply("k", &path, vec![Change::Upsert(rect(f64::from(i)))]);
        }
        // Exit right after queueing: shutdown waits for the queue, bounded.
        t.shutdown(std::time::Duration::from_secs(60))
            .expect("joined in time");
        let store = Store::in_data_dir(dir.path()).expect("reopen");
        assert_eq!(store.annotations("k").expect("read").len(), 300);
        // Nothing runs any more: a late change is answered as not saved, never left pending.
        t.apply("k", &path, vec![Change::Upsert(rect(1e4))]);
        let events = t.poll();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StoreEvent::SaveFailed { seq: 301, .. })),
            "{events:?}"
        );
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn a_change_that_cannot_be_saved_is_named_not_left_saving() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The data directory is a file: the store cannot open, its thread ends.
        let data = dir.path().join("not-a-dir");
        std::fs::write(&data, b"x").expect("write");
        let mut t = StoreThread::start(data, noop());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !t.poll().iter().any(|e| matches!(e, StoreEvent::Failed(_))) {
            assert!(std::time::Instant::now() < deadline, "no failure reported");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The thread is gone once it has reported; give it the moment to drop its receiver.
        std::thread::sleep(std::time::Duration::from_millis(50));
        t.apply(
            "k",
            Path::new("/slides/a.svs"),
            vec![Change::Upsert(rect(0.0))],
        );
        let events = t.poll();
        let message = events
            .iter()
            .find_map(|e| match e {
                StoreEvent::SaveFailed { seq: 1, message } => Some(message.clone()),
                _ => None,
            })
            .expect("the failed change is reported");
        assert!(message.contains("change 1"), "{message}");
        assert_eq!(t.pending(), 0, "nothing left \"Saving…\"");
        assert!(!t.all_saved());
        assert_eq!(t.failed(), 1);
    }

    #[test]
    fn failed_changes_name_what_they_were() {
        let d = describe_changes(
            &[
                Change::Upsert(rect(0.0)),
                Change::Upsert(rect(1.0)),
                Change::Delete("x".into()),
            ],
            Path::new("/s/a.svs"),
        );
        assert_eq!(d, "2 annotation(s) saved, 1 deleted on /s/a.svs");
    }

    #[test]
    fn changes_persist_in_order_across_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("sentinel.db");
        let (a, b, c) = (rect(0.0), rect(10.0), rect(20.0));
        {
            let mut s = Store::open(&db).expect("open");
            assert_eq!(s.classes().expect("classes"), default_classes());
            let slide = Path::new("/slides/x.svs");
            s.apply(
                "k1",
                slide,
                &[Change::Upsert(a.clone()), Change::Upsert(b.clone())],
            )
            .expect("save");
            s.apply(
                "k1",
                slide,
                &[Change::Upsert(c.clone()), Change::Delete(a.id.clone())],
            )
            .expect("save");
            let mut b2 = b.clone();
            b2.name = "renamed".into();
            s.apply("k1", slide, &[Change::Upsert(b2)]).expect("save");
            s.apply("k2", slide, &[Change::Upsert(a.clone())])
                .expect("save");
            let mut classes = default_classes();
            classes.truncate(2);
            s.apply("k1", slide, &[Change::Classes(classes)])
                .expect("save");
        }
        let s = Store::open(&db).expect("reopen");
        let k1 = s.annotations("k1").expect("load");
        assert_eq!(k1.iter().map(|x| &x.id).collect::<Vec<_>>(), [&b.id, &c.id]);
        assert_eq!(
            k1[0].name, "renamed",
            "an edit keeps its place in the order"
        );
        assert_eq!(s.annotations("k2").expect("load"), vec![a]);
        assert_eq!(s.classes().expect("classes").len(), 2);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("sentinel.db");
        std::fs::write(
            &db,
            b"this is not SQLite, just some text long enough to have a header....",
        )
        .expect("write");
        let e = Store::open(&db).err().expect("refused");
        assert!(e.to_string().contains("sentinel.db"), "{e}");
        assert!(e.to_string().contains("not a database"), "{e}");
    }

    #[test]
    fn connections_opening_and_writing_at_once_all_succeed() {
        // The GUI opens one connection per panel at start-up; before schema set-up waited for
        // the write lock, the second one failed with "database is locked".
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("sentinel.db");
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let mut s = Store::open(&db)?;
                    for k in 0..20 {
                        let a = rect(f64::from(i * 100 + k));
                        s.apply("k", Path::new("/x.svs"), &[Change::Upsert(a)])?;
                    }
                    Ok::<(), StoreError>(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread").expect("open and write");
        }
        let s = Store::open(&db).expect("open");
        assert_eq!(s.annotations("k").expect("load").len(), 120);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("sentinel.db");
        Connection::open(&db)
            .and_then(|c| c.pragma_update(None, "user_version", 99))
            .expect("prepare");
        assert!(matches!(
            Store::open(&db),
            Err(StoreError::Newer { found: 99, .. })
        ));
    }
}

/// What the store thread reports.
#[derive(Debug)]
pub enum StoreEvent {
    /// The annotations and classes of a slide, after [`StoreThread::load`].
    Loaded {
        key: String,
        annotations: Vec<Annotation>,
        classes: Vec<Class>,
    },
    /// Every change sent up to and including number `seq` is on disk.
    Saved {
        seq: u64,
    },
    /// After [`StoreThread::load_review`]: the sessions, and every read of `session` if one was
    /// named.
    Review {
        sessions: Vec<Session>,
        session: Option<String>,
        reads: Vec<Read>,
    },
    /// After [`StoreThread::import_bundle`].
    Imported(Result<MergeReport, String>),
    /// Change number `seq` (an edit or a read) was not saved; `message` names it and says why.
    SaveFailed {
        seq: u64,
        message: String,
    },
    Failed(String),
}

enum Request {
    /// Annotations of a slide key; those of the legacy key are adopted first if the key has none.
    Load(String, Option<String>),
    Review(Option<String>),
    ImportBundle {
        text: String,
        data_dir: PathBuf,
    },
    SaveSession(Box<Session>),
    SaveRead {
        session: String,
        read: Box<Read>,
        seq: u64,
    },
    Apply {
        key: String,
        path: PathBuf,
        changes: Vec<Change>,
        seq: u64,
    },
}

/// The store on its own thread, so the UI never waits for the disk: loads and saves are queued in
/// order and answered through events.
pub struct StoreThread {
    tx: Option<std::sync::mpsc::Sender<Request>>,
    rx: std::sync::mpsc::Receiver<StoreEvent>,
    thread: Option<std::thread::JoinHandle<()>>,
    sent: u64,
    /// Changes answered (saved or failed), by number.
    answered: std::collections::BTreeSet<u64>,
    failed: u64,
    /// Failures noticed on this side (the thread is gone), reported by the next poll.
    local: Vec<StoreEvent>,
}

impl StoreThread {
    /// Opens the store of `data_dir` on a new thread; `wake` is called after each event.
    pub fn start(data_dir: PathBuf, wake: std::sync::Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, requests) = std::sync::mpsc::channel::<Request>();
        let (events, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let send = |e: StoreEvent| {
                    let _ = events.send(e);
                    wake();
                };
                let mut store = match Store::in_data_dir(&data_dir) {
                    Ok(s) => s,
                    Err(e) => {
                        send(StoreEvent::Failed(format!(
                            "annotations cannot be saved: {e}"
                        )));
                        return;
                    }
                };
                for req in requests {
                    match req {
                        Request::Load(key, legacy) => {
                            if let Some(old) = &legacy {
                                match store.adopt_legacy(&key, old) {
                                    Ok(0) => {}
                                    Ok(n) => tracing::info!("{n} annotation(s) moved from {old} to {key}"),
                                    Err(e) => send(StoreEvent::Failed(e.to_string())),
                                }
                            }
                            match store
                                .annotations(&key)
                                .and_then(|a| Ok((a, store.classes()?)))
                            {
                                Ok((annotations, classes)) => send(StoreEvent::Loaded {
                                    key,
                                    annotations,
                                    classes,
                                }),
                                Err(e) => send(StoreEvent::Failed(e.to_string())),
                            }
                        }
                        Request::Review(session) => {
                            let loaded = store.review_sessions().and_then(|sessions| {
                                let reads = match &session {
                                    Some(id) => store.reads(id)?,
                                    None => Vec::new(),
                                };
                                Ok((sessions, reads))
                            });
                            match loaded {
                                Ok((sessions, reads)) => send(StoreEvent::Review {
                                    sessions,
                                    session,
                                    reads,
                                }),
                                Err(e) => send(StoreEvent::Failed(e.to_string())),
                            }
                        }
                        Request::SaveSession(session) => {
                            match store.save_review_session(&session) {
                                Ok(()) => match store.review_sessions() {
                                    Ok(sessions) => send(StoreEvent::Review {
                                        sessions,
                                        session: Some(session.id.clone()),
                                        reads: Vec::new(),
                                    }),
                                    Err(e) => send(StoreEvent::Failed(e.to_string())),
                                },
                                Err(e) => {
                                    send(StoreEvent::Failed(format!("saving the session: {e}")))
                                }
                            }
                        }
                        Request::ImportBundle { text, data_dir } => {
                            let r = crate::review::bundle::import(&mut store, &data_dir, &text)
                                .map_err(|e| e.to_string());
                            send(StoreEvent::Imported(r));
                        }
                        Request::SaveRead { session, read, seq } => {
                            match store.save_read(&session, &read) {
                                Ok(()) => send(StoreEvent::Saved { seq }),
                                Err(e) => send(StoreEvent::SaveFailed {
                                    seq,
                                    message: format!(
                                        "change {seq} (case {} of session {session}, reader {}, version {}) was not saved: {e}",
                                        read.case_id, read.reader_id, read.version
                                    ),
                                }),
                            }
                        }
                        Request::Apply {
                            key,
                            path,
                            changes,
                            seq,
                        } => match store.apply(&key, &path, &changes) {
                            Ok(()) => send(StoreEvent::Saved { seq }),
                            Err(e) => send(StoreEvent::SaveFailed {
                                seq,
                                message: format!(
                                    "change {seq} ({}) was not saved: {e}",
                                    describe_changes(&changes, &path)
                                ),
                            }),
                        },
                    }
                    let skipped = store.take_skipped();
                    if !skipped.is_empty() {
                        send(StoreEvent::Failed(format!(
                            "{} damaged record(s) in the store were skipped: {}",
                            skipped.len(),
                            skipped.join("; ")
                        )));
                    }
                }
            });
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!("cannot start the store thread: {e}");
                None
            }
        };
        Self {
            tx: Some(tx),
            rx,
            thread,
            sent: 0,
            answered: std::collections::BTreeSet::new(),
            failed: 0,
            local: Vec::new(),
        }
    }

    /// Queues a request; a change that cannot reach the thread (it ended: the store could not be
    /// opened) is answered at once as not saved, so nothing waits "Saving…" for ever.
    fn send(&mut self, req: Request) {
        let seq = match &req {
            Request::Apply { seq, .. } | Request::SaveRead { seq, .. } => Some(*seq),
            _ => None,
        };
        let delivered = self.tx.as_ref().is_some_and(|tx| tx.send(req).is_ok());
        if let (false, Some(seq)) = (delivered, seq) {
            self.local.push(StoreEvent::SaveFailed {
                seq,
                message: format!("change {seq} was not saved: the store is not running"),
            });
        }
    }

    pub fn load(&mut self, key: &str) {
        self.send(Request::Load(key.to_owned(), None));
    }

    /// Loads `key`, adopting what an earlier release stored under `legacy` (see
    /// [`Store::adopt_legacy`]).
    pub fn load_or_adopt(&mut self, key: &str, legacy: Option<&str>) {
        self.send(Request::Load(key.to_owned(), legacy.map(str::to_owned)));
    }

    pub fn apply(&mut self, key: &str, path: &Path, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        self.sent += 1;
        let seq = self.sent;
        self.send(Request::Apply {
            key: key.to_owned(),
            path: path.to_path_buf(),
            changes,
            seq,
        });
    }

    /// Loads the review sessions (and the reads of `session`).
    pub fn load_review(&mut self, session: Option<&str>) {
        self.send(Request::Review(session.map(str::to_owned)));
    }

    /// Saves a new or changed review session; answered with the session list.
    pub fn save_session(&mut self, session: Session) {
        self.send(Request::SaveSession(Box::new(session)));
    }

    /// Checks and merges a review bundle (attachments go under `data_dir`).
    pub fn import_bundle(&mut self, text: String, data_dir: PathBuf) {
        self.send(Request::ImportBundle { text, data_dir });
    }

    /// Saves one read version (acknowledged like an edit, see [`Self::all_saved`]).
    pub fn save_read(&mut self, session: &str, read: Read) {
        self.sent += 1;
        let seq = self.sent;
        self.send(Request::SaveRead {
            session: session.to_owned(),
            read: Box::new(read),
            seq,
        });
    }

    /// Events since the last call.
    pub fn poll(&mut self) -> Vec<StoreEvent> {
        let mut events: Vec<StoreEvent> = std::mem::take(&mut self.local);
        events.extend(self.rx.try_iter());
        for e in &events {
            match e {
                StoreEvent::Saved { seq } => {
                    self.answered.insert(*seq);
                }
                StoreEvent::SaveFailed { seq, .. } => {
                    self.answered.insert(*seq);
                    self.failed += 1;
                }
                _ => {}
            }
        }
        events
    }

    /// Changes sent and not yet answered.
    pub fn pending(&self) -> u64 {
        self.sent - self.answered.len() as u64
    }

    /// Whether every change sent so far is on disk (none pending, none failed).
    pub fn all_saved(&self) -> bool {
        self.pending() == 0 && self.failed == 0
    }

    /// Changes that failed to save since the store started.
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Ends the thread after the changes already queued, waiting at most `limit`. On time out the
    /// error says how many changes may be lost (the thread keeps working until the process ends).
    pub fn shutdown(&mut self, limit: std::time::Duration) -> Result<(), String> {
        self.tx = None; // the thread's request loop ends once the queue is drained
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + limit;
        while !thread.is_finished() {
            if std::time::Instant::now() >= deadline {
                self.poll();
                return Err(format!(
                    "the store did not finish within {} s; up to {} change(s) may not be saved",
                    limit.as_secs(),
                    self.pending()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = thread.join();
        Ok(())
    }
}

/// A change set in words, for messages: "2 annotation(s) saved, 1 deleted on /path/slide.svs".
fn describe_changes(changes: &[Change], slide: &Path) -> String {
    let (mut up, mut del, mut classes) = (0, 0, false);
    for c in changes {
        match c {
            Change::Upsert(_) => up += 1,
            Change::Delete(_) => del += 1,
            Change::Classes(_) => classes = true,
        }
    }
    let mut parts = Vec::new();
    if up > 0 {
        parts.push(format!("{up} annotation(s) saved"));
    }
    if del > 0 {
        parts.push(format!("{del} deleted"));
    }
    if classes {
        parts.push("the class list".to_owned());
    }
    format!("{} on {}", parts.join(", "), slide.display())
}
