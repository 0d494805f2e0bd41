//! The side panel: tools, classes, the list, the selection's details and measures, export settings.

use super::*;

impl AnnotationUi {
    /// The side panel: tools, classes, the list, the selection's details, import/export.
    pub fn panel(
        &mut self,
        ui: &mut egui::Ui,
        slide: Option<&Arc<dyn crate::slide::SlideSource>>,
        commands: &mut Vec<Command>,
    ) {
        ui.heading("Annotations");
        let Some(slide) = slide else {
            ui.label("Open a slide to annotate it.");
            return;
        };
        ui.horizontal_wrapped(|ui| {
            for t in Tool::ALL {
                let label = format!("{} ({})", t.label(), t.key());
                if ui.selectable_label(self.tool == t, label).clicked() {
                    self.set_tool(t);
                }
            }
        });
        if self.tool == Tool::Brush {
            ui.add(
                egui::Slider::new(&mut self.brush_pt, 2.0..=80.0).text("brush (pt); Shift erases"),
            );
        }
        ui.horizontal(|ui| {
            let current = self
                .active_class
                .clone()
                .unwrap_or_else(|| "Unclassified".into());
            egui::ComboBox::from_label("for new shapes")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.active_class, None, "Unclassified");
                    for c in self.doc.classes() {
                        ui.selectable_value(&mut self.active_class, Some(c.name.clone()), &c.name);
                    }
                });
            ui.checkbox(&mut self.fill, "Fill");
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.doc.can_undo(), egui::Button::new("Undo"))
                .clicked()
            {
                self.undo();
            }
            if ui
                .add_enabled(self.doc.can_redo(), egui::Button::new("Redo"))
                .clicked()
            {
                self.redo();
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Import…")
                .on_hover_text("QuPath GeoJSON, ASAP XML or ImageScope XML")
                .clicked()
            {
                self.import_dialog();
            }
            if ui
                .button("Export GeoJSON…")
                .on_hover_text("for QuPath")
                .clicked()
            {
                self.export_dialog(false);
            }
            if ui.button("Export ASAP XML…").clicked() {
                self.export_dialog(true);
            }
        });
        ui.separator();
        self.classes_ui(ui);
        ui.separator();
        self.list_ui(ui, commands);
        ui.separator();
        self.selection_ui(ui);
        ui.separator();
        self.export_ui(ui, slide);
        if let Some(m) = self.error.clone() {
            ui.colored_label(Color32::from_rgb(230, 90, 80), m);
            if ui.small_button("Dismiss").clicked() {
                self.error = None;
            }
        }
        let saved = if !self.loaded {
            "Loading…".to_owned()
        } else if self.store.pending() > 0 {
            "Saving…".to_owned()
        } else if self.store.failed() > 0 {
            format!("{} change(s) not saved (see above)", self.store.failed())
        } else {
            "All changes saved".to_owned()
        };
        ui.label(RichText::new(saved).weak());
        if let Some(s) = &self.status {
            ui.label(RichText::new(s).weak());
        }
    }

    /// Annotations per class, counted once per document revision.
    fn class_counts(&mut self) -> HashMap<String, usize> {
        let revision = self.doc.revision();
        if let Some((r, counts)) = &self.class_counts
            && *r == revision
        {
            return counts.clone();
        }
        let mut counts = HashMap::new();
        for a in self.doc.items() {
            if let Some(c) = &a.class {
                *counts.entry(c.clone()).or_insert(0) += 1;
            }
        }
        self.class_counts = Some((revision, counts.clone()));
        counts
    }

    pub(super) fn classes_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Classes").strong());
        let mut classes = self.classes_now().to_vec();
        let before = self.doc.classes().to_vec();
        let mut remove = None;
        let counts = self.class_counts();
        for c in &mut classes {
            ui.horizontal(|ui| {
                ui.color_edit_button_srgb(&mut c.color);
                let mut shown = !self.hidden.contains(&c.name);
                let count = counts.get(&c.name).copied().unwrap_or(0);
                if ui
                    .checkbox(&mut shown, format!("{} ({count})", c.name))
                    .changed()
                {
                    if shown {
                        self.hidden.remove(&c.name);
                    } else {
                        self.hidden.insert(c.name.clone());
                    }
                }
                // Only an unused class can go: annotations never lose theirs.
                if count == 0
                    && ui
                        .small_button("remove")
                        .on_hover_text("remove this unused class")
                        .clicked()
                {
                    remove = Some(c.name.clone());
                }
            });
        }
        if let Some(name) = remove {
            classes.retain(|c| c.name != name);
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.new_class)
                    .hint_text("new class")
                    .desired_width(120.0),
            );
            let name = self.new_class.trim().to_owned();
            if ui
                .add_enabled(
                    !name.is_empty() && !classes.iter().any(|c| c.name == name),
                    egui::Button::new("Add"),
                )
                .clicked()
            {
                let h = classes.len() as f32 * 0.23;
                let c = egui::ecolor::Hsva::new(h.fract(), 0.7, 0.9, 1.0).to_srgb();
                classes.push(Class {
                    name,
                    color: [c[0], c[1], c[2]],
                });
                self.new_class.clear();
            }
        });
        // A colour picker changes on every step of a drag: show the change at once, record one
        // edit when the pointer lets go.
        let before = self
            .pending_classes
            .take()
            .map_or(before, |(original, _)| original);
        if classes == before {
            return;
        }
        if ui.ctx().input(|i| i.pointer.any_down()) {
            self.pending_classes = Some((before, classes));
        } else {
            self.edit(Edit::Classes {
                before,
                after: classes,
            });
        }
    }

    pub(super) fn list_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let mpp = self.slide.as_ref().and_then(|s| s.2);
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{} annotation(s)", self.doc.items().len())).strong());
            let current = self.filter.clone().unwrap_or_else(|| "All classes".into());
            egui::ComboBox::from_label("listed")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.filter, None, "All classes");
                    for c in self.doc.classes() {
                        ui.selectable_value(&mut self.filter, Some(c.name.clone()), &c.name);
                    }
                });
        });
        let mut clicked = None;
        let listed: Vec<&Annotation> = self
            .doc
            .items()
            .iter()
            .filter(|a| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| a.class.as_ref() == Some(f))
            })
            .collect();
        // Only the rows in sight are laid out: a list of 100,000 detections scrolls like one of ten.
        let row = ui.spacing().interact_size.y;
        egui::ScrollArea::vertical()
            .max_height(220.0)
            .id_salt("annotation-list")
            .show_rows(ui, row, listed.len(), |ui, rows| {
                for a in listed[rows].iter().copied() {
                    let title = if a.name.is_empty() {
                        a.shape.kind().to_owned()
                    } else {
                        a.name.clone()
                    };
                    let class = a.class.as_deref().unwrap_or("Unclassified");
                    let text = format!("{title} · {class} · {}", measure_text(&a.shape, mpp));
                    let selected = self.selected.as_deref() == Some(a.id.as_str());
                    ui.horizontal(|ui| {
                        let (r, _) =
                            ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                        ui.painter().rect_filled(r, 2.0, self.color_of(a));
                        if ui.selectable_label(selected, text).clicked() {
                            clicked = Some((a.id.clone(), a.shape.bbox()));
                        }
                    });
                }
            });
        if let Some((id, bbox)) = clicked {
            self.select(Some(id));
            commands.push(Command::FrameRegion(bbox));
        }
    }

    pub(super) fn selection_ui(&mut self, ui: &mut egui::Ui) {
        let Some(a) = self.selected().cloned() else {
            ui.label(RichText::new("Nothing selected").weak());
            return;
        };
        let mpp = self.slide.as_ref().and_then(|s| s.2);
        ui.label(
            RichText::new(format!(
                "Selected {}: {}",
                a.shape.kind(),
                measure_text(&a.shape, mpp)
            ))
            .strong(),
        );
        let mut after = a.clone();
        egui::ComboBox::from_label("class")
            .selected_text(after.class.clone().unwrap_or_else(|| "Unclassified".into()))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut after.class, None, "Unclassified");
                for c in self.doc.classes() {
                    ui.selectable_value(&mut after.class, Some(c.name.clone()), &c.name);
                }
            });
        let name = ui.add(egui::TextEdit::singleline(&mut self.name_buf).hint_text("name"));
        let comment = ui.add(
            egui::TextEdit::multiline(&mut self.comment_buf)
                .hint_text("comment")
                .desired_rows(2),
        );
        if name.lost_focus() || comment.lost_focus() {
            after.name = self.name_buf.clone();
            after.comment = self.comment_buf.clone();
        }
        ui.horizontal(|ui| {
            if ui.button("Delete").clicked() {
                self.delete_selected();
            }
            if ui.button("Duplicate").clicked() {
                self.duplicate_selected(50.0);
            }
        });
        if after != a && self.doc.get(&a.id).is_some() {
            self.edit(Edit::Change {
                before: Box::new(a),
                after: Box::new(after),
            });
        }
    }

    pub(super) fn export_ui(
        &mut self,
        ui: &mut egui::Ui,
        slide: &Arc<dyn crate::slide::SlideSource>,
    ) {
        ui.label(RichText::new("Region export").strong());
        let mpp = slide.mpp().map(|m| m.0);
        let label = |i: usize| -> String {
            let ds = slide.levels()[i].downsample;
            match mpp {
                Some(m) => format!("level {i} ({:.2} µm/px)", m * ds),
                None => format!("level {i} (1/{ds:.0})"),
            }
        };
        self.export.level = self
            .export
            .level
            .min(slide.levels().len().saturating_sub(1));
        egui::ComboBox::from_label("export at")
            .selected_text(label(self.export.level))
            .show_ui(ui, |ui| {
                for i in 0..slide.levels().len() {
                    ui.selectable_value(&mut self.export.level, i, label(i));
                }
            });
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.export.mask, "mask");
            ui.checkbox(&mut self.export.outlines, "outlines");
            ui.add_enabled(
                self.heatmap.is_some(),
                egui::Checkbox::new(&mut self.export.heatmap, "heatmap"),
            );
        });
        if let Some(f) = self.export_progress() {
            let count = self.export_job.as_ref().map_or(0, |j| j.count);
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(f)
                        .show_percentage()
                        .desired_width(160.0),
                );
                if ui.button("Cancel export").clicked() {
                    self.cancel_export();
                }
            });
            ui.label(RichText::new(format!("{count} region(s)")).weak());
            return;
        }
        ui.horizontal(|ui| {
            let selected = self
                .selected()
                .filter(|a| a.shape.is_area())
                .map(|a| a.id.clone());
            if ui
                .add_enabled(selected.is_some(), egui::Button::new("Export selected…"))
                .clicked()
                && let Some(id) = selected
            {
                self.export_dialog_for(Arc::clone(slide), vec![id]);
            }
            let class = self.filter.clone();
            let ids: Vec<String> = self
                .doc
                .items()
                .iter()
                .filter(|a| a.shape.is_area() && (class.is_none() || a.class == class))
                .map(|a| a.id.clone())
                .collect();
            let text = match &class {
                Some(c) => format!("Export all {c} ({})…", ids.len()),
                None => format!("Export all ({})…", ids.len()),
            };
            if ui
                .add_enabled(!ids.is_empty(), egui::Button::new(text))
                .clicked()
            {
                self.export_dialog_for(Arc::clone(slide), ids);
            }
        });
    }
}

/// "1.23 mm² · 4.5 mm" style measures (pixels where the slide has no mpp).
pub fn measure_text(shape: &Shape, mpp: Option<[f64; 2]>) -> String {
    let Some(mpp) = mpp else {
        return match shape {
            Shape::Line { .. } => format!("{:.0} px", shape.measure([1.0, 1.0]).length_um),
            Shape::Points { points } => format!("{} point(s)", points.len()),
            _ => format!("{:.0} px²", shape.area_px()),
        };
    };
    let m = shape.measure(mpp);
    let area = |a: f64| {
        if a >= 1e5 {
            format!("{:.3} mm²", a / 1e6)
        } else {
            format!("{a:.0} µm²")
        }
    };
    match shape {
        Shape::Line { .. } => format_length(m.length_um),
        Shape::Points { points } => format!("{} point(s)", points.len()),
        _ => format!("{} · {}", area(m.area_um2), format_length(m.perimeter_um)),
    }
}

/// A measured length: three significant figures, µm below a millimetre.
pub fn format_length(um: f64) -> String {
    if um >= 1000.0 {
        format!("{:.3} mm", um / 1000.0)
    } else if um >= 10.0 {
        format!("{um:.1} µm")
    } else {
        format!("{um:.2} µm")
    }
}
