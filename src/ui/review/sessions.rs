//! Sessions: the new-session form (slides picked and opened for their identity on a task), bundle
//! import and the reads' export.

use super::*;

impl ReviewUi {
    /// Merges the review bundle `text` (on the store thread); the outcome shows in the panel.
    pub fn import_text(&mut self, text: String) {
        self.store.import_bundle(text, self.data_dir.clone());
    }

    pub(super) fn import_dialog(&mut self) {
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
        let (washout_days, counterbalance) = (self.form.washout_days, self.form.counterbalance);
        let blinded = !self.form.open_names;
        let spawned = Task::spawn("new-session", Arc::clone(&self.wake), move || {
            let keyed: Result<Vec<(PathBuf, String)>, String> = slides
                .iter()
                .map(|p| {
                    let s = crate::slide::open(p).map_err(|e| e.to_string())?;
                    let path = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                    Ok((path, s.id().to_string()))
                })
                .collect();
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            keyed
                .and_then(|k| {
                    crate::review::session::new_session(&name, &readers, &k, seed, questions)
                })
                .map(|mut s| {
                    s.washout_days = washout_days;
                    s.counterbalance = counterbalance;
                    s.blinded = blinded;
                    s
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

    pub(super) fn poll_form(&mut self) {
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

    pub(super) fn new_session_ui(&mut self, ui: &mut egui::Ui) {
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
            let label = ui.label("Further questions, one per line");
            ui.add(
                egui::TextEdit::multiline(&mut self.form.questions)
                    .hint_text(
                        "yes/no: Lymphovascular invasion?\nnumber 0..100 %: Tumour cellularity\n\
                         choice Low | High: Grade\nmultiple A | B: Patterns\ntext: Comments\n\
                         region polygon: Outline the largest deposit",
                    )
                    .desired_rows(2),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "kinds: yes/no, number MIN..MAX [unit], choice A | B, multiple A | B, text, \
                 region polygon|point; start a line with \"optional\" when it may be left out",
            );
            ui.horizontal(|ui| {
                let label = ui.label("washout");
                ui.add(
                    egui::DragValue::new(&mut self.form.washout_days)
                        .range(0..=365)
                        .suffix(" days"),
                )
                .labelled_by(label.id)
                .on_hover_text("a reader's second arm of a case opens this long after the first");
            });
            ui.checkbox(&mut self.form.counterbalance, "Counterbalance arm order")
                .on_hover_text("half the readers of both arms start unassisted, half assisted");
            ui.checkbox(&mut self.form.open_names, "Show file names (not blinded)")
                .on_hover_text(
                    "by default a session is blinded: slide file names stay out of bundles and \
                     the report, and readers' names out of bundles, until you unblind it",
                );
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
                    match form_questions(
                        &self.form.categories,
                        self.form.positive_from,
                        &self.form.questions,
                    ) {
                        Ok(q) => self.create_session(&name, &readers, slides, q),
                        Err(e) => self.error = Some(e),
                    }
                }
            });
        });
    }

    /// Writes this reader's reads of the session as a bundle, chosen in a dialog (on a thread).
    pub(super) fn export_dialog(&mut self) {
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
        // The one sanitiser for file names (export_names): a session called "../x" or one with
        // a 300-character name still gives one plain, bounded file name.
        let name = format!(
            "{}-{}.sentinel-review",
            crate::export_names::sanitise(&r.session.name, 60),
            crate::export_names::sanitise(&r.reader, 40)
        );
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
}

/// The question set the form describes: the sentinel-node default when no categories are given,
/// else those categories (size not asked, confidence asked); and the further questions, one per
/// line (a line that does not parse is refused, naming it).
pub(super) fn form_questions(
    categories: &str,
    positive_from: u8,
    further: &str,
) -> Result<Questions, String> {
    let extra = crate::review::questions::parse_lines(further)?;
    let list: Vec<String> = categories
        .split(',')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if list.is_empty() {
        return Ok(Questions {
            extra,
            ..Questions::default()
        });
    }
    Ok(Questions {
        categories: list,
        positive_from: positive_from.saturating_sub(1),
        size_mm: false,
        confidence: true,
        extra,
    })
}
