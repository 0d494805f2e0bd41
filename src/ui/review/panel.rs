//! The review side panel: choosing a session and reader, the reading form.

use super::reading::longest_ruler_mm;
use super::*;

impl ReviewUi {
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

    pub(super) fn choose_ui(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
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
        let masked = s.masked().then(|| s.owner.clone());
        if ui.button("Start reading").clicked() {
            self.start(out);
        }
        if let Some(owner) = masked {
            self.unblind_ui(ui, &owner);
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

    /// A blinded session's state, and for its owner the button that unblinds it.
    fn unblind_ui(&mut self, ui: &mut egui::Ui, owner: &str) {
        ui.label(
            RichText::new("Blinded: slide file names stay out of bundles and the report, and readers' names out of bundles, until the owner unblinds the session.")
                .weak(),
        );
        let user = crate::review::session::current_user();
        let is_owner = !owner.is_empty() && user == owner;
        let button = ui
            .add_enabled(is_owner, egui::Button::new("Unblind session"))
            .on_disabled_hover_text(format!("only the owner ({owner}) can unblind it"));
        if button.clicked() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let Some(s) = self.sessions.get_mut(self.session_idx) else {
                return;
            };
            match s.unblind(&user, now) {
                Ok(()) => {
                    self.notice = Some(format!("Session \"{}\" is unblinded", s.name));
                    self.store.save_session(s.clone());
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
    }

    /// The largest-deposit field, "from ruler", and (sentinel nodes) a hint when the size implies
    /// another category than the one chosen.
    pub(super) fn size_ui(&mut self, ui: &mut egui::Ui, ctx: &CaseContext<'_>, q: &Questions) {
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

    pub(super) fn reading_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &CaseContext<'_>,
        out: &mut Vec<Command>,
    ) {
        let Some(r) = self.reading.as_ref() else {
            return;
        };
        let total = r.order.len();
        if r.pos >= total {
            if self.held_back.is_empty() {
                ui.label(RichText::new("All cases of this reading are submitted.").strong());
            } else {
                ui.label(
                    RichText::new("Every case open to this reading now is submitted.").strong(),
                );
            }
            for line in &self.held_back {
                ui.label(line);
            }
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
        for line in &self.held_back {
            ui.label(RichText::new(line).weak());
        }
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
            self.answer_form.ui(ui, ctx, &q.extra);
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
