//! Reading a case: the blinded order, opening each case's own slide (with folders to search), the
//! view track, submitting and amending.

use super::*;

impl ReviewUi {
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
    pub(super) fn open_next_unsubmitted(&mut self, from: usize, out: &mut Vec<Command>) {
        let Some(r) = self.reading.as_mut() else {
            return;
        };
        let done = |case_id: &str| {
            latest(&self.reads).iter().any(|x| {
                x.case_id == case_id && x.reader_id == r.reader && x.arm == r.arm && x.submitted
            })
        };
        // Cases held back (washout, or the reader's first arm first) are skipped, and every one
        // still to come is listed with the reason.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.held_back.clear();
        // The first open case from `from` on, else an earlier one whose washout has ended.
        let (mut next, mut earlier) = (None, None);
        for p in 0..r.order.len() {
            let case = &r.session.cases[r.order[p]];
            if done(&case.id) {
                continue;
            }
            use crate::review::washout::{Availability, availability, utc};
            match availability(&r.session, &self.reads, &r.reader, &case.id, r.arm, now) {
                Availability::Open if p >= from => next = next.or(Some(p)),
                Availability::Open => earlier = earlier.or(Some(p)),
                Availability::Waiting { opens_at } => self.held_back.push(format!(
                    "Case {} opens on {} (washout since its other arm)",
                    p + 1,
                    utc(opens_at)
                )),
                Availability::FirstArmFirst(arm) => self.held_back.push(format!(
                    "Case {}: read it {} first (this reader's first arm)",
                    p + 1,
                    arm.label()
                )),
            }
        }
        let Some(pos) = next.or(earlier) else {
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
        self.answer_form = a
            .as_ref()
            .map(|a| questions::AnswerForm::from_answers(&a.answers))
            .unwrap_or_default();
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
    pub(super) fn open_case(&self) -> Option<(String, String)> {
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
        let matches = slide.is_some_and(|s| s.id().matches_key(s.path(), &key));
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
    pub(super) fn pick_search_folder(&mut self) {
        match Task::spawn("pick-search-folder", Arc::clone(&self.wake), || {
            rfd::FileDialog::new().pick_folder()
        }) {
            Ok(t) => self.picking_folder = Some(t),
            Err(e) => self.error = Some(e),
        }
    }

    /// A picked folder, and the case opened again when one was added.
    pub(super) fn poll_search(&mut self, out: &mut Vec<Command>) {
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
        let answers = self
            .answer_form
            .answers(&q.extra)
            .and_then(|a| crate::review::questions::check_all(&q.extra, &a).map(|()| a));
        let answers = match answers {
            Ok(a) => a,
            Err(e) => {
                self.error = Some(format!("not submitted: {e}"));
                return;
            }
        };
        let assessment = Assessment {
            category,
            largest_mm: (q.size_mm && self.largest_mm > 0.0).then_some(self.largest_mm),
            confidence: if q.confidence { self.confidence } else { 0 },
            notes: self.notes.clone(),
            answers,
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
}

/// The longest ruler (two-point line) among the case's annotations, in mm.
pub(super) fn longest_ruler_mm(ctx: &CaseContext<'_>) -> Option<f64> {
    let mpp = ctx.mpp?;
    ctx.annotations
        .iter()
        .filter_map(|a| match &a.shape {
            Shape::Line { .. } => Some(a.shape.measure([mpp, mpp]).length_um / 1000.0),
            _ => None,
        })
        .reduce(f64::max)
}
