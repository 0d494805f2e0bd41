//! The reading side of a review session: pick a session, a reader and an arm, then work through
//! the reader's case order. Each case opens with the heatmap shown (AI-assisted) or hidden
//! (unassisted), its annotations kept apart under the read; time on case and the view track are
//! recorded; the form is submitted and locked; afterwards the coverage audit lists the regions the
//! model scored high that were never looked at closely, and other readers' answers appear only
//! once they have submitted too. All store access runs on the store thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use egui::{Color32, RichText};

use super::Command;
use crate::analysis::heatmap::{Heatmap, Hotspot};
use crate::annotate::{Annotation, Shape};
use crate::review::coverage::unviewed_hotspots;
use crate::review::session::{
    Arm, Assessment, Category, Questions, Read, Session, latest, reading_order, record_view,
    visible_to,
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
}

use crate::review::session::CONSENSUS;

impl ReviewUi {
    pub fn new(data_dir: PathBuf, wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        let mut store = StoreThread::start(data_dir.clone(), Arc::clone(&wake));
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

    /// Merges the review bundle `text` (on the store thread); the outcome shows in the panel.
    pub fn import_text(&mut self, text: String) {
        self.store.import_bundle(text, self.data_dir.clone());
    }

    fn import_dialog(&mut self) {
        match Task::spawn("import-bundle", Arc::clone(&self.wake), || {
            rfd::FileDialog::new()
                .pick_file()
                .map(|p| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display())))
        }) {
            Ok(t) => self.import_rx = Some(t),
            Err(e) => self.error = Some(e),
        }
    }

    /// Makes a session from the form's fields and `slides` on a thread (each slide is opened for
    /// its identity); it is saved and selected when done.
    pub fn create_session(
        &mut self,
        name: &str,
        readers: &str,
        slides: Vec<PathBuf>,
        questions: Questions,
    ) {
        let (name, readers) = (name.to_owned(), readers.to_owned());
        let spawned = Task::spawn("new-session", Arc::clone(&self.wake), move || {
            let keyed: Result<Vec<(PathBuf, String)>, String> = slides
                .iter()
                .map(|p| {
                    let s = crate::slide::open(p).map_err(|e| e.to_string())?;
                    let path = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                    Ok((path, crate::review::materials::slide_key(s.as_ref())))
                })
                .collect();
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            keyed.and_then(|k| {
                crate::review::session::new_session(&name, &readers, &k, seed, questions)
            })
        });
        match spawned {
            Ok(t) => self.form.making = Some(t),
            Err(e) => self.error = Some(format!("cannot create the session: {e}")),
        }
    }

    /// Whether a session is being created.
    pub fn creating(&self) -> bool {
        self.form.making.is_some()
    }

    fn poll_form(&mut self) {
        if let Some(t) = &mut self.form.picking {
            match t.poll() {
                Poll::Ready(paths) => {
                    self.form.slides.extend(paths);
                    self.form.picking = None;
                }
                Poll::Gone => self.form.picking = None,
                Poll::Pending => {}
            }
        }
        if let Some(t) = &mut self.form.making {
            match t.poll() {
                Poll::Ready(Ok(session)) => {
                    self.form.making = None;
                    self.notice = Some(format!("Created session \"{}\"", session.name));
                    self.form = NewSessionForm::default();
                    self.pending_select = Some(session.id.clone());
                    self.store.save_session(session);
                }
                Poll::Ready(Err(e)) => {
                    self.form.making = None;
                    self.error = Some(e);
                }
                Poll::Gone => {
                    self.form.making = None;
                    self.error = Some("making the session stopped unexpectedly".into());
                }
                Poll::Pending => {}
            }
        }
    }

    fn new_session_ui(&mut self, ui: &mut egui::Ui) {
        egui::CollapsingHeader::new("New session").show(ui, |ui| {
            ui.add(egui::TextEdit::singleline(&mut self.form.name).hint_text("session name"));
            ui.add(
                egui::TextEdit::multiline(&mut self.form.readers)
                    .hint_text("readers, one per line: Name[:unassisted|assisted|both]")
                    .desired_rows(3),
            );
            ui.add(
                egui::TextEdit::singleline(&mut self.form.categories)
                    .hint_text("categories (default: sentinel node)"),
            )
            .on_hover_text(
                "comma-separated, least to most severe, e.g. benign, atypical, malignant",
            );
            if !self.form.categories.trim().is_empty() {
                ui.add(
                    egui::DragValue::new(&mut self.form.positive_from)
                        .range(2..=32)
                        .prefix("first positive category: "),
                );
            }
            ui.label(format!("{} slide(s)", self.form.slides.len()));
            for p in &self.form.slides {
                ui.label(RichText::new(p.display().to_string()).weak());
            }
            ui.horizontal(|ui| {
                if ui.button("Add slides…").clicked() && self.form.picking.is_none() {
                    match Task::spawn("pick-slides", Arc::clone(&self.wake), || {
                        rfd::FileDialog::new().pick_files().unwrap_or_default()
                    }) {
                        Ok(t) => self.form.picking = Some(t),
                        Err(e) => self.error = Some(e),
                    }
                }
                if ui
                    .add_enabled(!self.creating(), egui::Button::new("Create session"))
                    .clicked()
                {
                    let (name, readers, slides) = (
                        self.form.name.clone(),
                        self.form.readers.clone(),
                        self.form.slides.clone(),
                    );
                    let questions = form_questions(&self.form.categories, self.form.positive_from);
                    self.create_session(&name, &readers, slides, questions);
                }
            });
        });
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

    /// Records what is on screen (level-0 rectangle, magnification) since the previous call, by
    /// the wall clock (frames are not drawn while nothing changes; the caller asks for one a
    /// second while a case is open, and a longer gap counts as at most 2 s).
    pub fn record(&mut self, rect: [f64; 4], magnification: f64) {
        let now = Instant::now();
        let last = self.last_record.replace(now);
        if let Some(r) = self.reading.as_mut().filter(|r| !r.read.submitted) {
            let dt = last.map_or(0.0, |l| now.duration_since(l).as_secs_f64().min(2.0));
            let t = r.opened.elapsed().as_secs_f64();
            record_view(&mut r.read.view_track, t, dt, rect, magnification);
        }
    }

    /// Starts reading the selected session as the selected reader in `self.arm`, at the first
    /// case of the reader's order not yet submitted.
    pub fn start(&mut self, out: &mut Vec<Command>) {
        let Some(session) = self.sessions.get(self.session_idx).cloned() else {
            return;
        };
        let Some(reader) = session.readers.get(self.reader_idx).map(|r| r.id.clone()) else {
            return;
        };
        let order = reading_order(&session, &reader);
        self.reading = Some(Reading {
            read: Read::new("", &reader, self.arm),
            session,
            reader,
            arm: self.arm,
            order,
            pos: 0,
            opened: Instant::now(),
            earlier: 0.0,
            submitted_audit: None,
        });
        self.store
            .load_review(self.reading.as_ref().map(|r| r.session.id.as_str()));
        self.open_next_unsubmitted(0, out);
    }

    /// Opens the first case at or after `from` in the order that this reader has not submitted.
    fn open_next_unsubmitted(&mut self, from: usize, out: &mut Vec<Command>) {
        let Some(r) = self.reading.as_mut() else {
            return;
        };
        let done = |case_id: &str| {
            latest(&self.reads).iter().any(|x| {
                x.case_id == case_id && x.reader_id == r.reader && x.arm == r.arm && x.submitted
            })
        };
        let next = (from..r.order.len()).find(|&p| !done(&r.session.cases[r.order[p]].id));
        let Some(pos) = next else {
            r.pos = r.order.len();
            return;
        };
        let case = r.session.cases[r.order[pos]].clone();
        // Resume an open read of this case, or start one.
        let existing = latest(&self.reads)
            .into_iter()
            .find(|x| x.case_id == case.id && x.reader_id == r.reader && x.arm == r.arm)
            .cloned();
        r.read = existing.unwrap_or_else(|| Read::new(&case.id, &r.reader, r.arm));
        r.earlier = r.read.seconds_on_case;
        r.pos = pos;
        r.opened = Instant::now();
        self.last_record = None;
        r.submitted_audit = None;
        let a = r.read.assessment.clone();
        self.category = a.as_ref().map(|a| a.category);
        self.largest_mm = a.as_ref().and_then(|a| a.largest_mm).unwrap_or(0.0);
        self.confidence = a.as_ref().map_or(3, |a| a.confidence);
        self.notes = a.map(|a| a.notes).unwrap_or_default();
        self.open_error = None;
        let cmd = Command::OpenForReview {
            path: case.path.clone(),
            slide_key: case.slide_key.clone(),
            search: self.search.clone(),
            label: format!("case {}", pos + 1),
            scope: format!(
                "review:{}:{}:{}:{}",
                r.session.id,
                case.id,
                r.reader,
                r.arm.label()
            ),
            heatmap: r.arm == Arm::Assisted,
        };
        self.case_command = Some(cmd.clone());
        out.push(cmd);
    }

    /// The case being read (or adjudicated): its number for messages and its slide identity.
    fn open_case(&self) -> Option<(String, String)> {
        if let Some(r) = self.reading.as_ref().filter(|r| r.pos < r.order.len()) {
            let case = &r.session.cases[r.order[r.pos]];
            return Some((format!("case {}", r.pos + 1), case.slide_key.clone()));
        }
        let (s, id) = self.adjudicating.as_ref()?;
        let case = s.cases.iter().find(|c| &c.id == id)?;
        Some((format!("case {id}"), case.slide_key.clone()))
    }

    /// Whether the read is bound to what is on screen: the open slide is the case's and its
    /// annotations have loaded. Otherwise why not, for the form.
    pub fn binding(
        &self,
        slide: Option<&dyn crate::slide::SlideSource>,
        annotations_loaded: bool,
        opening: bool,
    ) -> Result<(), String> {
        let Some((label, key)) = self.open_case() else {
            return Err("no case is open".into());
        };
        let matches = slide.is_some_and(|s| crate::review::materials::key_matches(s, &key));
        if matches && annotations_loaded && !opening {
            return Ok(());
        }
        if let Some(e) = &self.open_error {
            return Err(e.clone());
        }
        Err(if opening || !matches {
            format!("Loading {label}…")
        } else {
            format!("Loading {label}'s annotations…")
        })
    }

    /// The app could not open the case's slide (missing, or another slide at its path).
    pub fn case_open_failed(&mut self, message: String) {
        self.open_error = Some(message);
    }

    /// Adds a folder where moved slides are looked for (by file name, checked by identity) and
    /// opens the current case again.
    pub fn add_search_folder(&mut self, dir: PathBuf) {
        if !self.search.contains(&dir) {
            self.search.push(dir);
        }
        self.open_error = None;
        self.reopen = true;
    }

    /// Picks a folder to search in a dialog on its own thread.
    fn pick_search_folder(&mut self) {
        match Task::spawn("pick-search-folder", Arc::clone(&self.wake), || {
            rfd::FileDialog::new().pick_folder()
        }) {
            Ok(t) => self.picking_folder = Some(t),
            Err(e) => self.error = Some(e),
        }
    }

    /// A picked folder, and the case opened again when one was added.
    fn poll_search(&mut self, out: &mut Vec<Command>) {
        if let Some(t) = &mut self.picking_folder {
            match t.poll() {
                Poll::Ready(picked) => {
                    self.picking_folder = None;
                    if let Some(dir) = picked {
                        self.add_search_folder(dir);
                    }
                }
                Poll::Gone => self.picking_folder = None,
                Poll::Pending => {}
            }
        }
        if std::mem::take(&mut self.reopen)
            && let Some(Command::OpenForReview {
                path,
                slide_key,
                label,
                scope,
                heatmap,
                ..
            }) = self.case_command.clone()
        {
            out.push(Command::OpenForReview {
                path,
                slide_key,
                search: self.search.clone(),
                label,
                scope,
                heatmap,
            });
        }
    }

    /// Submits the open read with `ctx`'s annotations; the coverage audit is computed at once.
    /// Refused unless the read is bound to the slide on screen (see [`Self::binding`]).
    pub fn submit(&mut self, ctx: &CaseContext<'_>) {
        if let Err(why) = self.binding(ctx.slide, ctx.annotations_loaded, ctx.opening) {
            self.error = Some(format!("not submitted: {why}"));
            return;
        }
        let Some(category) = self.category else {
            self.error = Some("choose a category first".into());
            return;
        };
        let Some(r) = self.reading.as_mut() else {
            return;
        };
        let q = &r.session.questions;
        let assessment = Assessment {
            category,
            largest_mm: (q.size_mm && self.largest_mm > 0.0).then_some(self.largest_mm),
            confidence: if q.confidence { self.confidence } else { 0 },
            notes: self.notes.clone(),
        };
        r.read.seconds_on_case = r.earlier + r.opened.elapsed().as_secs_f64();
        r.read.annotations = ctx.annotations.to_vec();
        let result = r.read.answer(assessment).and_then(|()| r.read.submit());
        if let Err(e) = result {
            self.error = Some(e.to_string());
            return;
        }
        r.submitted_audit = ctx.heatmap.map(|h| {
            unviewed_hotspots(
                h,
                &r.read.view_track,
                ctx.audit_threshold,
                ctx.mpp.unwrap_or(0.25),
            )
        });
        let (session, read) = (r.session.id.clone(), r.read.clone());
        self.reads.push(read.clone());
        self.store.save_read(&session, read);
        self.store.load_review(Some(&session));
    }

    /// Reopens the submitted read as its next version (the submitted one stays, locked).
    pub fn amend(&mut self) {
        let Some(r) = self.reading.as_mut() else {
            return;
        };
        match r.read.amend() {
            Ok(next) => {
                r.earlier = next.seconds_on_case;
                r.opened = Instant::now();
                r.read = next;
                r.submitted_audit = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// The submitted reads (latest versions, consensus excluded) of the case being adjudicated.
    fn adjudicated_reads(&self) -> Vec<&Read> {
        let Some((_, case)) = &self.adjudicating else {
            return Vec::new();
        };
        latest(&self.reads)
            .into_iter()
            .filter(|r| &r.case_id == case && r.submitted && r.reader_id != CONSENSUS)
            .collect()
    }

    /// Every reader's annotations of the case being adjudicated, each reader in their colour.
    pub fn adjudication_overlay(&self) -> Vec<(Shape, [u8; 3])> {
        let Some((session, _)) = &self.adjudicating else {
            return Vec::new();
        };
        let colours = crate::review::materials::READER_COLOURS;
        self.adjudicated_reads()
            .into_iter()
            .flat_map(|r| {
                let i = session
                    .readers
                    .iter()
                    .position(|p| p.id == r.reader_id)
                    .unwrap_or(0);
                let c = colours[i % colours.len()];
                r.annotations.iter().map(move |a| (a.shape.clone(), c))
            })
            .collect()
    }

    /// Cases of the selected session where the readers' latest submitted answers differ.
    pub fn discrepancies(&self) -> Vec<String> {
        let Some(s) = self.sessions.get(self.session_idx) else {
            return Vec::new();
        };
        crate::review::report::discrepancies(s, &self.reads)
    }

    /// Opens `case` of the selected session for adjudication.
    pub fn adjudicate(&mut self, case_id: &str, out: &mut Vec<Command>) {
        let Some(s) = self.sessions.get(self.session_idx).cloned() else {
            return;
        };
        let Some(case) = s.cases.iter().find(|c| c.id == case_id).cloned() else {
            return;
        };
        let done = latest(&self.reads)
            .into_iter()
            .find(|r| r.case_id == case.id && r.reader_id == CONSENSUS)
            .and_then(|r| r.assessment.clone());
        self.consensus = done.as_ref().map(|a| a.category);
        self.consensus_notes = done.map(|a| a.notes).unwrap_or_default();
        self.open_error = None;
        let cmd = Command::OpenForReview {
            path: case.path.clone(),
            slide_key: case.slide_key.clone(),
            search: self.search.clone(),
            label: format!("case {}", case.id),
            scope: format!("adjudication:{}:{}", s.id, case.id),
            heatmap: false,
        };
        self.case_command = Some(cmd.clone());
        out.push(cmd);
        self.adjudicating = Some((s, case.id));
    }

    /// Stores the consensus for the case being adjudicated (a new version if there was one).
    pub fn record_consensus(&mut self) {
        let (Some((session, case)), Some(category)) = (&self.adjudicating, self.consensus) else {
            return;
        };
        let previous = latest(&self.reads)
            .into_iter()
            .find(|r| &r.case_id == case && r.reader_id == CONSENSUS)
            .cloned();
        let mut read = match previous {
            Some(p) => match p.amend() {
                Ok(r) => r,
                Err(e) => {
                    self.error = Some(e.to_string());
                    return;
                }
            },
            None => Read::new(case, CONSENSUS, Arm::Unassisted),
        };
        let result = read
            .answer(Assessment {
                category,
                largest_mm: None,
                confidence: 5,
                notes: self.consensus_notes.clone(),
            })
            .and_then(|()| read.submit());
        if let Err(e) = result {
            self.error = Some(e.to_string());
            return;
        }
        let id = session.id.clone();
        self.reads.push(read.clone());
        self.store.save_read(&id, read);
        self.notice = Some(format!(
            "Consensus for {case}: {}",
            session.questions.label(category)
        ));
    }

    fn adjudication_ui(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let Some((session, case)) = self.adjudicating.clone() else {
            return;
        };
        ui.label(RichText::new(format!("Adjudicating {case}")).strong());
        let colours = crate::review::materials::READER_COLOURS;
        for r in self.adjudicated_reads() {
            let i = session
                .readers
                .iter()
                .position(|p| p.id == r.reader_id)
                .unwrap_or(0);
            let name = session
                .readers
                .get(i)
                .map_or(r.reader_id.clone(), |p| p.name.clone());
            let c = colours[i % colours.len()];
            let Some(a) = &r.assessment else { continue };
            ui.horizontal(|ui| {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 2.0, Color32::from_rgb(c[0], c[1], c[2]));
                ui.label(format!(
                    "{name} ({}): {}{}, confidence {}, {} annotation(s){}",
                    r.arm.label(),
                    session.questions.label(a.category),
                    a.largest_mm
                        .map(|m| format!(", {m:.2} mm"))
                        .unwrap_or_default(),
                    a.confidence,
                    r.annotations.len(),
                    if a.notes.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", a.notes)
                    }
                ));
            });
        }
        ui.separator();
        ui.label("Consensus");
        for c in session.questions.all() {
            ui.radio_value(
                &mut self.consensus,
                Some(c),
                session.questions.label(c).to_owned(),
            );
        }
        ui.add(
            egui::TextEdit::multiline(&mut self.consensus_notes)
                .hint_text("consensus notes")
                .desired_rows(2),
        );
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    self.consensus.is_some(),
                    egui::Button::new("Record consensus"),
                )
                .clicked()
            {
                self.record_consensus();
            }
            if ui.button("Back to the list").clicked() {
                self.adjudicating = None;
                out.push(Command::LeaveReview);
            }
        });
    }

    /// Level-0 boxes of the regions the coverage audit found (drawn over the slide).
    pub fn audit_regions(&self) -> Vec<[f64; 4]> {
        self.reading
            .as_ref()
            .and_then(|r| r.submitted_audit.as_ref())
            .map(|list| list.iter().map(|h| h.bbox).collect())
            .unwrap_or_default()
    }

    /// Writes this reader's reads of the session as a bundle, chosen in a dialog (on a thread).
    fn export_dialog(&mut self) {
        let Some(r) = self.reading.as_ref() else {
            return;
        };
        let mine: Vec<Read> = self
            .reads
            .iter()
            .filter(|x| x.reader_id == r.reader)
            .cloned()
            .collect();
        let text = crate::review::bundle::write(&r.session, &mine, Vec::new());
        let name = format!("{}-{}.sentinel-review", r.session.name, r.reader)
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>();
        match Task::spawn("export-reads", Arc::clone(&self.wake), move || {
            rfd::FileDialog::new()
                .set_file_name(name)
                .save_file()
                .map(|p| {
                    crate::fsutil::write_atomic(&p, text.as_bytes())
                        .map(|()| p.clone())
                        .map_err(|e| format!("{}: {e}", p.display()))
                })
        }) {
            Ok(t) => self.export_rx = Some(t),
            Err(e) => self.error = Some(e),
        }
    }

    /// The panel.
    pub fn panel(&mut self, ui: &mut egui::Ui, ctx: &CaseContext<'_>, out: &mut Vec<Command>) {
        self.poll_search(out);
        ui.heading("Review");
        if let Some(n) = &self.notice {
            ui.label(RichText::new(n).weak());
        }
        if let Some(m) = self.error.clone() {
            ui.colored_label(Color32::from_rgb(230, 90, 80), m);
            if ui.small_button("Dismiss").clicked() {
                self.error = None;
            }
        }
        if self.adjudicating.is_some() {
            self.adjudication_ui(ui, out);
            return;
        }
        if self.reading.is_none() {
            self.choose_ui(ui, out);
            return;
        }
        self.reading_ui(ui, ctx, out);
    }

    fn choose_ui(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        if !self.loaded {
            ui.label("Loading sessions…");
            return;
        }
        self.new_session_ui(ui);
        if self.sessions.is_empty() {
            ui.label("No review sessions yet: create one above (or with `sentinel review new`), or import a bundle.");
            if ui.button("Import a bundle…").clicked() {
                self.import_dialog();
            }
            return;
        }
        self.session_idx = self.session_idx.min(self.sessions.len() - 1);
        let names: Vec<String> = self.sessions.iter().map(|s| s.name.clone()).collect();
        let before = self.session_idx;
        egui::ComboBox::from_label("session")
            .selected_text(names[self.session_idx].clone())
            .show_ui(ui, |ui| {
                for (i, n) in names.iter().enumerate() {
                    ui.selectable_value(&mut self.session_idx, i, n);
                }
            });
        if self.session_idx != before {
            self.reads.clear();
            self.store
                .load_review(Some(&self.sessions[self.session_idx].id));
        }
        let s = &self.sessions[self.session_idx];
        if s.readers.is_empty() {
            ui.label("This session has no readers.");
            return;
        }
        self.reader_idx = self.reader_idx.min(s.readers.len() - 1);
        let readers: Vec<String> = s.readers.iter().map(|r| r.name.clone()).collect();
        let arms = s.readers[self.reader_idx].arms.clone();
        egui::ComboBox::from_label("reader")
            .selected_text(readers[self.reader_idx].clone())
            .show_ui(ui, |ui| {
                for (i, n) in readers.iter().enumerate() {
                    ui.selectable_value(&mut self.reader_idx, i, n);
                }
            });
        if !arms.contains(&self.arm) {
            self.arm = arms.first().copied().unwrap_or(Arm::Unassisted);
        }
        ui.horizontal(|ui| {
            for a in arms {
                ui.radio_value(&mut self.arm, a, a.label());
            }
        });
        ui.label(format!(
            "{} case(s), in this reader's own order",
            s.cases.len()
        ));
        if ui.button("Start reading").clicked() {
            self.start(out);
        }
        ui.separator();
        ui.label(RichText::new("Adjudication").strong());
        let list = self.discrepancies();
        if list.is_empty() {
            ui.label("No discrepancies among submitted reads.");
        }
        for case in list {
            if ui.button(format!("Adjudicate {case}")).clicked() {
                self.adjudicate(&case, out);
            }
        }
        ui.separator();
        if ui
            .button("Import a bundle…")
            .on_hover_text("reads from another workstation (sentinel review export)")
            .clicked()
        {
            self.import_dialog();
        }
        ui.label(RichText::new("Reports: `sentinel review report SESSION --out DIR`.").weak());
    }

    /// The largest-deposit field, "from ruler", and (sentinel nodes) a hint when the size implies
    /// another category than the one chosen.
    fn size_ui(&mut self, ui: &mut egui::Ui, ctx: &CaseContext<'_>, q: &Questions) {
        ui.horizontal(|ui| {
            ui.add(
                egui::DragValue::new(&mut self.largest_mm)
                    .range(0.0..=100.0)
                    .speed(0.01)
                    .suffix(" mm"),
            );
            ui.label("largest deposit");
            if ui
                .button("from ruler")
                .on_hover_text("the longest ruler on this case")
                .clicked()
                && let Some(mm) = longest_ruler_mm(ctx)
            {
                self.largest_mm = mm;
            }
        });
        if q.is_sentinel_node()
            && self.largest_mm > 0.0
            && let Some(c) = self.category
            && Category::for_size_mm(self.largest_mm) != c
        {
            ui.colored_label(
                Color32::from_rgb(230, 170, 60),
                format!(
                    "{:.2} mm is {}",
                    self.largest_mm,
                    q.label(Category::for_size_mm(self.largest_mm))
                ),
            );
        }
    }

    fn reading_ui(&mut self, ui: &mut egui::Ui, ctx: &CaseContext<'_>, out: &mut Vec<Command>) {
        let Some(r) = self.reading.as_ref() else {
            return;
        };
        let total = r.order.len();
        if r.pos >= total {
            ui.label(RichText::new("All cases of this reading are submitted.").strong());
            if ui.button("Export my reads…").clicked() {
                self.export_dialog();
            }
            if ui.button("Leave the session").clicked() {
                self.reading = None;
                out.push(Command::LeaveReview);
            }
            return;
        }
        let case = &r.session.cases[r.order[r.pos]];
        ui.label(
            RichText::new(format!(
                "Case {} of {total} ({}), {}",
                r.pos + 1,
                case.id,
                r.arm.label()
            ))
            .strong(),
        );
        let seconds = r.earlier + r.opened.elapsed().as_secs_f64();
        ui.label(format!(
            "{seconds:.0} s on this case; {} view(s) recorded",
            r.read.view_track.len()
        ));
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs(1));
        let locked = r.read.submitted;
        let audit = r.submitted_audit.clone();
        let (session_id, case_id, reader) =
            (r.session.id.clone(), case.id.clone(), r.reader.clone());
        ui.separator();
        let q = r.session.questions.clone();
        ui.add_enabled_ui(!locked, |ui| {
            ui.label(if q.is_sentinel_node() {
                "Metastasis category"
            } else {
                "Category"
            });
            for c in q.all() {
                ui.radio_value(&mut self.category, Some(c), q.label(c).to_owned());
            }
            if q.size_mm {
                self.size_ui(ui, ctx, &q);
            }
            if q.confidence {
                ui.add(egui::Slider::new(&mut self.confidence, 1..=5).text("confidence"));
            }
            ui.add(
                egui::TextEdit::multiline(&mut self.notes)
                    .hint_text("notes")
                    .desired_rows(2),
            );
        });
        if !locked {
            let bound = self.binding(ctx.slide, ctx.annotations_loaded, ctx.opening);
            if ui
                .add_enabled(
                    self.category.is_some() && bound.is_ok(),
                    egui::Button::new("Submit"),
                )
                .clicked()
            {
                self.submit(ctx);
            }
            if let Err(why) = bound {
                ui.colored_label(Color32::from_rgb(230, 160, 60), why);
                if self.open_error.is_some()
                    && self.picking_folder.is_none()
                    && ui.button("Add a folder to search…").clicked()
                {
                    self.pick_search_folder();
                }
            }
            return;
        }
        ui.label(RichText::new("Submitted and locked.").weak());
        match &audit {
            None => {
                ui.label(
                    "Coverage audit: no heatmap for this slide (analyse it to audit coverage).",
                );
            }
            Some(list) if list.is_empty() => {
                ui.label("Coverage audit: every high-scoring region was viewed at 10x or more.");
            }
            Some(list) => {
                ui.label(
                    RichText::new(format!(
                        "Coverage audit: {} high-scoring region(s) never viewed at 10x or more",
                        list.len()
                    ))
                    .color(Color32::from_rgb(230, 170, 60)),
                );
                for (i, h) in list.iter().enumerate() {
                    if ui
                        .button(format!(
                            "region {} (max {:.2}, {:.3} mm²)",
                            i + 1,
                            h.max,
                            h.area_mm2
                        ))
                        .clicked()
                    {
                        out.push(Command::GoToHotspot(h.peak, h.bbox));
                    }
                }
            }
        }
        // Unblinded now that this reader has submitted: others' submitted answers.
        let others: Vec<String> = visible_to(&self.reads, &reader, &case_id)
            .into_iter()
            .filter(|x| x.reader_id != reader)
            .filter_map(|x| {
                let name = self
                    .reading
                    .as_ref()
                    .and_then(|r| r.session.readers.iter().find(|p| p.id == x.reader_id))
                    .map_or(x.reader_id.clone(), |p| p.name.clone());
                let q = &self.reading.as_ref()?.session.questions;
                Some(format!(
                    "{name} ({}): {}",
                    x.arm.label(),
                    q.label(x.assessment.as_ref()?.category)
                ))
            })
            .collect();
        if !others.is_empty() {
            ui.label(RichText::new("Other readers").strong());
            for o in others {
                ui.label(o);
            }
        }
        if ui
            .button("Amend")
            .on_hover_text("reopen as a new version; this one is kept")
            .clicked()
        {
            self.amend();
        }
        let _ = session_id;
        if ui.button("Next case").clicked() {
            let from = self.reading.as_ref().map_or(0, |r| r.pos + 1);
            self.open_next_unsubmitted(from, out);
        }
    }
}

/// The question set the form describes: the sentinel-node default when no categories are given,
/// else those categories (size not asked, confidence asked).
fn form_questions(categories: &str, positive_from: u8) -> Questions {
    let list: Vec<String> = categories
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if list.is_empty() {
        return Questions::default();
    }
    Questions {
        categories: list,
        positive_from: positive_from.saturating_sub(1),
        size_mm: false,
        confidence: true,
    }
}

/// The longest ruler (two-point line) among the case's annotations, in mm.
fn longest_ruler_mm(ctx: &CaseContext<'_>) -> Option<f64> {
    let mpp = ctx.mpp?;
    ctx.annotations
        .iter()
        .filter_map(|a| match &a.shape {
            Shape::Line { .. } => Some(a.shape.measure([mpp, mpp]).length_um / 1000.0),
            _ => None,
        })
        .reduce(f64::max)
}
