//! The reading side of a review session: pick a session, a reader and an arm, then work through
//! the reader's case order. Each case opens with the heatmap shown (AI-assisted) or hidden
//! (unassisted), its annotations kept apart under the read; time on case and the view track are
//! recorded; the form is submitted and locked; afterwards the coverage audit lists the regions the
//! model scored high that were never looked at closely, and other readers' answers appear only
//! once they have submitted too. All store access runs on the store thread.

mod adjudication;
mod panel;
mod questions;
mod reading;
mod sessions;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use egui::{Color32, RichText};

use super::Command;
use crate::analysis::heatmap::{Heatmap, Hotspot};
use crate::annotate::{Annotation, Shape};
use crate::review::coverage::unviewed_hotspots;
use crate::review::session::{
    Arm, Assessment, Category, Questions, Read, Session, ViewSample, latest, reading_order,
    record_view, visible_to,
};
use crate::store::{StoreEvent, StoreThread};
use crate::task::{Poll, Task};

/// A case being read.
struct Reading {
    session: Session,
    reader: String,
    arm: Arm,
    order: Vec<usize>,
    pos: usize,
    read: Read,
    opened: Instant,
    /// Seconds spent before this sitting (a read resumed after a restart).
    earlier: f64,
    submitted_audit: Option<Vec<Hotspot>>,
}

/// What the open case needs from the rest of the app this frame.
pub struct CaseContext<'a> {
    /// The slide on screen: a read is bound to its case only while this is the case's slide.
    pub slide: Option<&'a dyn crate::slide::SlideSource>,
    /// Whether the open slide's annotations (the read's) have loaded.
    pub annotations_loaded: bool,
    /// Whether a slide is being opened.
    pub opening: bool,
    pub annotations: &'a [Annotation],
    pub heatmap: Option<&'a Heatmap>,
    pub mpp: Option<f64>,
    /// The heatmap's risk threshold: the coverage audit looks for regions at or above it.
    pub audit_threshold: f32,
}

/// The "new session" form.
#[derive(Default)]
struct NewSessionForm {
    name: String,
    readers: String,
    /// Custom categories, comma-separated, least to most severe; empty: sentinel node.
    categories: String,
    /// 1-based number of the first positive category.
    positive_from: u8,
    /// Further questions, one per line (see `review::questions`).
    questions: String,
    /// Days between a reader's two arms of a case.
    washout_days: u32,
    /// Half the readers of both arms start unassisted.
    counterbalance: bool,
    /// The session is not blinded (file names shown in bundles and the report).
    open_names: bool,
    slides: Vec<PathBuf>,
    /// Slides being picked in a dialog.
    picking: Option<Task<Vec<PathBuf>>>,
    /// The session being made (slides opened for their identity) off the UI thread.
    making: Option<Task<Result<Session, String>>>,
}

pub struct ReviewUi {
    store: StoreThread,
    data_dir: PathBuf,
    form: NewSessionForm,
    /// Select this session when the list next arrives (one just created).
    pending_select: Option<String>,
    import_rx: Option<Task<Option<Result<String, String>>>>,
    sessions: Vec<Session>,
    reads: Vec<Read>,
    loaded: bool,
    /// Selections before starting.
    pub session_idx: usize,
    pub reader_idx: usize,
    pub arm: Arm,
    reading: Option<Reading>,
    category: Option<Category>,
    largest_mm: f64,
    confidence: u8,
    notes: String,
    /// Answers to the session's further questions.
    answer_form: questions::AnswerForm,
    error: Option<String>,
    notice: Option<String>,
    search: Vec<PathBuf>,
    /// Why the open case's slide could not be opened (missing, another slide at its path).
    open_error: Option<String>,
    /// The command that opened the current case (re-sent with more folders to search).
    case_command: Option<Command>,
    /// Open the current case again at the next frame (a folder to search was added).
    reopen: bool,
    /// A folder being picked in a dialog, off the UI thread.
    picking_folder: Option<Task<Option<PathBuf>>>,
    /// Repaints the UI when a dialog answers.
    wake: Arc<dyn Fn() + Send + Sync>,
    last_record: Option<Instant>,
    export_rx: Option<Task<Option<Result<PathBuf, String>>>>,
    /// The session and case being adjudicated.
    adjudicating: Option<(Session, String)>,
    consensus: Option<Category>,
    consensus_notes: String,
    /// The reader whose dwell map is shown while adjudicating (reader id, arm).
    dwell: Option<(String, Arm)>,
    /// Cases of the current reading not offered yet, and why (washout, arm order).
    held_back: Vec<String>,
}

use crate::review::session::CONSENSUS;

impl ReviewUi {
    /// Cases of the current reading held back, and why.
    pub fn held_back(&self) -> &[String] {
        &self.held_back
    }

    /// The panel, keeping sessions and reads through `store` (a client of the app's store thread);
    /// attachments go under `data_dir`.
    pub fn new(
        mut store: StoreThread,
        data_dir: PathBuf,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        store.load_review(None);
        Self {
            store,
            wake,
            data_dir,
            form: NewSessionForm::default(),
            pending_select: None,
            import_rx: None,
            sessions: Vec::new(),
            reads: Vec::new(),
            loaded: false,
            session_idx: 0,
            reader_idx: 0,
            arm: Arm::Unassisted,
            reading: None,
            category: None,
            largest_mm: 0.0,
            confidence: 3,
            notes: String::new(),
            answer_form: Default::default(),
            error: None,
            notice: None,
            search: Vec::new(),
            open_error: None,
            case_command: None,
            reopen: false,
            picking_folder: None,
            last_record: None,
            export_rx: None,
            adjudicating: None,
            consensus: None,
            consensus_notes: String::new(),
            dwell: None,
            held_back: Vec::new(),
        }
    }

    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// Every read version of the active session, as last loaded.
    pub fn reads(&self) -> &[Read] {
        &self.reads
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether a case is open for reading, and the arm (what the heatmap may show).
    pub fn reading_arm(&self) -> Option<Arm> {
        self.reading.as_ref().map(|r| r.arm)
    }

    /// The case being read: (session id, case id, reader id).
    /// While a reading is under way, what the rest of the window calls the slide ("Case 2 of 8")
    /// instead of its file name: readers see no file name, label, macro or identifying property.
    pub fn blind_label(&self) -> Option<String> {
        self.reading.as_ref().map(|r| {
            if r.pos < r.order.len() {
                format!("Case {} of {}", r.pos + 1, r.order.len())
            } else {
                "Review reading".to_owned()
            }
        })
    }

    pub fn current_case(&self) -> Option<(&str, &str, &str)> {
        self.reading.as_ref().map(|r| {
            (
                r.session.id.as_str(),
                r.read.case_id.as_str(),
                r.reader.as_str(),
            )
        })
    }

    /// The open read's view track so far.
    pub fn view_track_len(&self) -> usize {
        self.reading.as_ref().map_or(0, |r| r.read.view_track.len())
    }

    pub fn all_saved(&self) -> bool {
        self.store.all_saved()
    }

    /// Ends the store thread once its queued saves are done (at most `limit`); see
    /// [`StoreThread::shutdown`].
    pub fn shutdown(&mut self, limit: std::time::Duration) -> Result<(), String> {
        self.store.shutdown(limit)
    }

    pub fn reload(&mut self) {
        let id = self
            .reading
            .as_ref()
            .map(|r| r.session.id.clone())
            .or_else(|| self.sessions.get(self.session_idx).map(|s| s.id.clone()));
        self.store.load_review(id.as_deref());
    }

    pub fn poll(&mut self) {
        self.poll_form();
        if let Some(t) = &mut self.import_rx {
            match t.poll() {
                Poll::Ready(Some(Ok(text))) => {
                    self.import_rx = None;
                    self.import_text(text);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.import_rx = None;
                    self.error = Some(e);
                }
                Poll::Ready(None) | Poll::Gone => self.import_rx = None,
                Poll::Pending => {}
            }
        }
        if let Some(t) = &mut self.export_rx {
            match t.poll() {
                Poll::Ready(Some(Ok(p))) => self.notice = Some(format!("Wrote {}", p.display())),
                Poll::Ready(Some(Err(e))) => self.error = Some(e),
                Poll::Ready(None) | Poll::Gone => {}
                Poll::Pending => return self.poll_store(),
            }
            self.export_rx = None;
        }
        self.poll_store();
    }

    fn poll_store(&mut self) {
        for e in self.store.poll() {
            match e {
                StoreEvent::Review {
                    sessions,
                    session,
                    reads,
                } => {
                    self.sessions = sessions;
                    self.reads = reads;
                    self.loaded = true;
                    if let Some(id) = self.pending_select.take() {
                        self.session_idx = self
                            .sessions
                            .iter()
                            .position(|s| s.id == id)
                            .unwrap_or(self.session_idx);
                    }
                    // The first load lists sessions only: fetch the selected one's reads.
                    if session.is_none()
                        && let Some(s) = self.sessions.get(self.session_idx)
                    {
                        self.store.load_review(Some(&s.id));
                    }
                }
                StoreEvent::Imported(Ok(r)) => {
                    self.notice = Some(format!(
                        "Imported: {} read(s) added, {} already here, {} kept as new versions",
                        r.reads_added, r.reads_present, r.reads_renumbered
                    ));
                    self.reload();
                }
                StoreEvent::Imported(Err(e)) => self.error = Some(format!("bundle refused: {e}")),
                StoreEvent::Failed(m) | StoreEvent::SaveFailed { message: m, .. } => {
                    self.error = Some(m)
                }
                _ => {}
            }
        }
    }
}
