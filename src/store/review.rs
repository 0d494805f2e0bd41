//! Review sessions and their versioned reads in the store; merging what a bundle brings
//! (`review::bundle` parses and checks a bundle, this module commits it).

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, db_error, json_rows_in, write_transaction};
use crate::review::bundle::{self, BundleError};
use crate::review::session::{Read, Session};

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
        let json = serde_json::to_string(session).map_err(|source| StoreError::Record {
            path: self.path.clone(),
            id: session.id.clone(),
            source,
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
        let tx = write_transaction(&mut self.db, &path)?;
        put_read(&tx, &path, session_id, read, false)?;
        tx.commit().map_err(db_error(&path))
    }

    /// Merges a session and its reads from elsewhere in one transaction: cases and readers by id,
    /// reads by (case, reader, arm, version); nothing here is overwritten or lost.
    pub fn merge_review(
        &mut self,
        session: &Session,
        reads: &[Read],
    ) -> Result<MergeReport, StoreError> {
        let path = self.path.clone();
        let err = db_error(&path);
        let mut report = MergeReport::default();
        let tx = write_transaction(&mut self.db, &path)?;
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
        let json = serde_json::to_string(&merged).map_err(|source| StoreError::Record {
            path: path.clone(),
            id: merged.id.clone(),
            source,
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
    let err = db_error(path);
    let json = |r: &Read| {
        serde_json::to_string(r).map_err(|source| StoreError::Record {
            path: path.to_path_buf(),
            id: r.case_id.clone(),
            source,
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
        let existing: Read =
            serde_json::from_str(&existing).map_err(|source| StoreError::Record {
                path: path.to_path_buf(),
                id: read.case_id.clone(),
                source,
            })?;
        if existing == read {
            return Ok(Put::Present);
        }
        if !merging {
            if existing.submitted {
                return Err(StoreError::Locked {
                    path: path.to_path_buf(),
                    case: read.case_id.clone(),
                    version: read.version,
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

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Checks `text` and merges it into `store`; attachments go under
/// `data_dir/review/<session id>/`. Nothing is written unless the whole bundle checks out.
pub fn import_bundle(
    store: &mut Store,
    data_dir: &Path,
    text: &str,
) -> Result<MergeReport, ImportError> {
    let payload = bundle::read(text)?;
    // The session id becomes a folder name: it must be one plain component too.
    let folder = bundle::safe_relative(&payload.session.id)?;
    if folder.components().count() != 1 {
        return Err(BundleError::PathEscape(payload.session.id.clone()).into());
    }
    // All or nothing: the attachments are written to a staging folder first (a name clash or an
    // unwritable name fails here, before anything is merged), then the store commits, then the
    // staged files are renamed into place. Staging folders left by a killed import are removed.
    let review = data_dir.join("review");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    let staging = crate::fsutil::new_staging_dir(&review, ".import-").map_err(io(&review))?;
    let staged = bundle::write_attachments(&staging, &payload.attachments);
    let staged = match staged {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(io(&staging)(e));
        }
    };
    let report = match store.merge_review(&payload.session, &payload.reads) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e.into());
        }
    };
    let dir = review.join(folder);
    for file in staged {
        let rel = file.strip_prefix(&staging).unwrap_or(&file);
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::rename(&file, &target).map_err(io(&target))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(report)
}
