//! Annotations and the class list in the store, keyed by slide identity.

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, db_error, write_transaction};
use crate::annotate::{Annotation, Change, Class, default_classes};

impl Store {
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
        let err = db_error(&path);
        let tx = write_transaction(&mut self.db, &path)?;
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
    /// Writes `changes` for the slide `key` (at `slide_path`) in one transaction; when this returns
    /// `Ok`, they are on disk.
    pub fn apply(
        &mut self,
        key: &str,
        slide_path: &Path,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = db_error(&path);
        let tx = write_transaction(&mut self.db, &path)?;
        tx.execute(
            "INSERT INTO slides (key, path) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET path = excluded.path",
            params![key, slide_path.to_string_lossy()],
        )
        .map_err(err)?;
        // The next place at the end, found once: asking per annotation scans the slide's rows
        // each time, which made an import of 100,000 detections quadratic.
        let mut next_seq: Option<i64> = None;
        for change in changes {
            match change {
                Change::Upsert(a) => {
                    let json = serde_json::to_string(a).map_err(|source| StoreError::Record {
                        path: path.clone(),
                        id: a.id.clone(),
                        source,
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
                    let seq = match (seq, next_seq) {
                        (Some(s), _) => s,
                        (None, Some(n)) => {
                            next_seq = Some(n + 1);
                            n
                        }
                        (None, None) => {
                            let n: i64 = tx
                                .query_row(
                                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM annotations WHERE slide = ?1",
                                    [key],
                                    |r| r.get(0),
                                )
                                .map_err(err)?;
                            next_seq = Some(n + 1);
                            n
                        }
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
