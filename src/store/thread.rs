//! The store thread: the app's edits and review data go through one SQLite connection on one
//! thread, off the UI thread, each answered as saved or failed. The annotation and review panels
//! are each a client ([`StoreThread::connect`]) with their own events and acknowledgements.

use std::path::{Path, PathBuf};

use super::{MergeReport, Store};
use crate::annotate::{Annotation, Change, Class};
use crate::review::session::{Read, Session};

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

/// A request with where its answer goes.
struct Envelope {
    request: Request,
    reply: std::sync::mpsc::Sender<StoreEvent>,
    wake: Wake,
}

type Wake = std::sync::Arc<dyn Fn() + Send + Sync>;

/// What the clients of one store thread share.
struct Shared {
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Why the store could not be opened, once known: every client reports it.
    failure: std::sync::Mutex<Option<String>>,
}

/// A client of the store thread, so the UI never waits for the disk: its loads and saves are
/// queued in order and answered through its own events.
pub struct StoreThread {
    tx: Option<std::sync::mpsc::Sender<Envelope>>,
    reply: std::sync::mpsc::Sender<StoreEvent>,
    rx: std::sync::mpsc::Receiver<StoreEvent>,
    wake: Wake,
    shared: std::sync::Arc<Shared>,
    sent: u64,
    /// Changes answered (saved or failed), by number.
    answered: std::collections::BTreeSet<u64>,
    failed: u64,
    /// Failures noticed on this side (the thread is gone), reported by the next poll.
    local: Vec<StoreEvent>,
}

impl StoreThread {
    /// Opens the store of `data_dir` on a new thread and returns its first client; `wake` is
    /// called after each of this client's events.
    pub fn start(data_dir: PathBuf, wake: Wake) -> Self {
        let (tx, requests) = std::sync::mpsc::channel::<Envelope>();
        let (reply, rx) = std::sync::mpsc::channel();
        let shared = std::sync::Arc::new(Shared {
            thread: std::sync::Mutex::new(None),
            failure: std::sync::Mutex::new(None),
        });
        let (first_reply, first_wake, thread_shared) =
            (reply.clone(), wake.clone(), std::sync::Arc::clone(&shared));
        let spawned = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let mut store = match Store::in_data_dir(&data_dir) {
                    Ok(s) => s,
                    Err(e) => {
                        let message = format!("annotations and reads cannot be saved: {e}");
                        if let Ok(mut f) = thread_shared.failure.lock() {
                            *f = Some(message.clone());
                        }
                        let _ = first_reply.send(StoreEvent::Failed(message));
                        first_wake();
                        return;
                    }
                };
                drop((first_reply, first_wake));
                for Envelope {
                    request: req,
                    reply,
                    wake,
                } in requests
                {
                    let send = |e: StoreEvent| {
                        let _ = reply.send(e);
                        wake();
                    };
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
                            let r = super::import_bundle(&mut store, &data_dir, &text)
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
        match spawned {
            Ok(t) => {
                if let Ok(mut slot) = shared.thread.lock() {
                    *slot = Some(t);
                }
            }
            Err(e) => {
                tracing::error!("cannot start the store thread: {e}");
                if let Ok(mut f) = shared.failure.lock() {
                    *f = Some(format!("the store thread could not start: {e}"));
                }
            }
        }
        Self {
            tx: Some(tx),
            reply,
            rx,
            wake,
            shared,
            sent: 0,
            answered: std::collections::BTreeSet::new(),
            failed: 0,
            local: Vec::new(),
        }
    }

    /// Another client of the same store thread (one SQLite connection for the whole app), with
    /// its own events, woken by `wake`.
    pub fn connect(&self, wake: Wake) -> Self {
        let (reply, rx) = std::sync::mpsc::channel();
        let failure = self.shared.failure.lock().ok().and_then(|f| f.clone());
        Self {
            tx: self.tx.clone(),
            reply,
            rx,
            wake,
            shared: std::sync::Arc::clone(&self.shared),
            sent: 0,
            answered: std::collections::BTreeSet::new(),
            failed: 0,
            local: failure.map(StoreEvent::Failed).into_iter().collect(),
        }
    }

    /// Queues a request; a change that cannot reach the thread (it ended: the store could not be
    /// opened) is answered at once as not saved, so nothing waits "Saving…" for ever.
    fn send(&mut self, req: Request) {
        let seq = match &req {
            Request::Apply { seq, .. } | Request::SaveRead { seq, .. } => Some(*seq),
            _ => None,
        };
        let envelope = Envelope {
            request: req,
            reply: self.reply.clone(),
            wake: self.wake.clone(),
        };
        let delivered = self.tx.as_ref().is_some_and(|tx| tx.send(envelope).is_ok());
        if !delivered {
            let why = self
                .shared
                .failure
                .lock()
                .ok()
                .and_then(|f| f.clone())
                .unwrap_or_else(|| "the store is not running".into());
            self.local.push(match seq {
                Some(seq) => StoreEvent::SaveFailed {
                    seq,
                    message: format!("change {seq} was not saved: {why}"),
                },
                None => StoreEvent::Failed(why),
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
        self.tx = None; // once every client has let go, the thread ends after its queue
        let deadline = std::time::Instant::now() + limit;
        let timed_out = |this: &Self| {
            format!(
                "the store did not finish within {} s; up to {} change(s) may not be saved",
                limit.as_secs(),
                this.pending()
            )
        };
        // This client's own changes first: answered (saved or failed) before it lets go.
        while {
            self.poll();
            self.pending() > 0
        } {
            if std::time::Instant::now() >= deadline {
                return Err(timed_out(self));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The last client out joins the thread.
        if std::sync::Arc::strong_count(&self.shared) > 1 {
            return Ok(());
        }
        let Some(thread) = self.shared.thread.lock().ok().and_then(|mut t| t.take()) else {
            return Ok(());
        };
        while !thread.is_finished() {
            if std::time::Instant::now() >= deadline {
                self.poll();
                return Err(timed_out(self));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = thread.join();
        Ok(())
    }
}

/// A change set in words, for messages: "2 annotation(s) saved, 1 deleted on /path/slide.svs".
pub(super) fn describe_changes(changes: &[Change], slide: &Path) -> String {
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
