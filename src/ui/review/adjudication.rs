//! Adjudication: the readers' discrepancies, their shapes over the slide, the consensus read and
//! the coverage audit.

use super::*;

impl ReviewUi {
    /// The submitted reads (latest versions, consensus excluded) of the case being adjudicated.
    pub(super) fn adjudicated_reads(&self) -> Vec<&Read> {
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
                answers: Default::default(),
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

    pub(super) fn adjudication_ui(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let Some((session, case)) = self.adjudicating.clone() else {
            return;
        };
        ui.label(RichText::new(format!("Adjudicating {case}")).strong());
        let colours = crate::review::materials::READER_COLOURS;
        let mut pending_dwell: Option<Option<(String, Arm)>> = None;
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
            let key = (r.reader_id.clone(), r.arm);
            let shown = self.dwell.as_ref() == Some(&key);
            let mut toggle = false;
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
            if !r.view_track.is_empty()
                && ui
                    .selectable_label(shown, format!("Dwell of {name} ({})", r.arm.label()))
                    .on_hover_text("Where this reader looked at 10x or more, by time spent")
                    .clicked()
            {
                toggle = true;
            }
            if toggle {
                pending_dwell = Some(if shown { None } else { Some(key) });
            }
        }
        if let Some(d) = pending_dwell {
            self.dwell = d;
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
                self.dwell = None;
                out.push(Command::LeaveReview);
            }
        });
    }

    /// The dwell map asked for while adjudicating: a key naming the read version, its view track
    /// and a label (reader and arm).
    pub fn dwell_request(&self) -> Option<(String, Vec<ViewSample>, String)> {
        let (reader, arm) = self.dwell.as_ref()?;
        let (session, case) = self.adjudicating.as_ref()?;
        let read = self
            .adjudicated_reads()
            .into_iter()
            .find(|r| &r.reader_id == reader && r.arm == *arm)?;
        let name = session
            .readers
            .iter()
            .find(|p| &p.id == reader)
            .map_or(reader.clone(), |p| p.name.clone());
        Some((
            format!("{case}:{reader}:{}:{}", arm.label(), read.version),
            read.view_track.clone(),
            format!("{name} ({})", arm.label()),
        ))
    }

    /// Level-0 boxes of the regions the coverage audit found (drawn over the slide).
    pub fn audit_regions(&self) -> Vec<[f64; 4]> {
        self.reading
            .as_ref()
            .and_then(|r| r.submitted_audit.as_ref())
            .map(|list| list.iter().map(|h| h.bbox).collect())
            .unwrap_or_default()
    }
}
