//! The central canvas with its overlays (heatmap, annotations, review, scale bar, overview,
//! notices) and the associated-images window.

use super::*;

impl SentinelApp {
    /// Keeps the dwell map on the canvas in step with the adjudication panel's choice: computed
    /// once per read version (and again after a slide change cleared it).
    pub(super) fn sync_dwell(&mut self) {
        let want = self.review.dwell_request();
        let key = want.as_ref().map(|w| w.0.as_str());
        if key == self.analysis.dwell_key() {
            return;
        }
        let dwell = match (want, &self.current) {
            (Some((key, track, label)), Some(v)) => {
                let dims = v.slide.dimensions();
                // About 160 cells along the slide's longer side: fine enough to show where a
                // reader looked, coarse enough for a quick glance.
                let cell = (dims.0.max(dims.1) as f64 / 160.0).max(1.0);
                let (map, longest) = crate::review::behaviour::dwell(dims, cell, &track);
                Some((key, map, label, longest))
            }
            _ => None,
        };
        self.analysis.set_dwell(dwell);
    }

    pub(super) fn central(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let (rect, second) = match (&self.second, &self.current) {
            (Some(_), Some(_)) => {
                let (a, b) = panes::split(ui.max_rect());
                (a, Some(b))
            }
            _ => (ui.max_rect(), None),
        };
        let Some(v) = self.current.as_mut() else {
            let text = if self.opening.is_some() {
                "Opening…"
            } else {
                "Open a slide: File > Open, Ctrl+O, or drop it here"
            };
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(18.0),
                Color32::from_gray(200),
            );
            return;
        };
        if let Some(goto) = self.pending_goto.take() {
            v.set_view_size(
                [f64::from(rect.width()), f64::from(rect.height())],
                f64::from(ui.ctx().pixels_per_point()),
            );
            let zoom_px = match (goto.magnification, v.base_magnification()) {
                (Some(m), Some(base)) => crate::view::zoom_px_for_magnification(base, m),
                (Some(m), None) => m,
                (None, _) => v.view.zoom_px(),
            };
            let centre = if goto.centre.iter().all(|c| c.is_finite()) {
                goto.centre
            } else {
                v.view.centre
            };
            v.jump_to(centre, zoom_px / v.view.pixels_per_point);
        }
        self.canvas = Some(rect);
        // The view track records only what is on screen of the case's own slide.
        let bound = self
            .review
            .binding(
                Some(v.slide.as_ref()),
                self.annotations.is_loaded(),
                self.opening.is_some(),
            )
            .is_ok();
        if self.review.reading_arm().is_some() && bound {
            let r = v.view.visible();
            let mag = v.magnification().unwrap_or(v.view.zoom_px());
            self.review.record([r.x0, r.y0, r.x1, r.y1], mag);
            // Time on a still view counts too: a frame at least every second while reading.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs(1));
        }
        v.primary_pans = self.annotations.primary_pans();
        let before = v.view;
        let response = v.canvas(ui, rect);
        let main_moved = crate::view::link::moved(&before, &v.view);
        self.annotations.canvas_input(ui, &response, rect, v);
        self.cursor = response.hover_pos().and_then(|p| v.slide_position(rect, p));
        self.analysis.overlay(ui, rect, v);
        let painter = ui.painter_at(rect);
        self.annotations.paint(&painter, rect, v);
        // Adjudication: every reader's annotations, each in their colour.
        let overlay = self.review.adjudication_overlay();
        if !overlay.is_empty() {
            let mpp = v.slide.mpp().map(|m| [m.0, m.1]);
            let to_screen = |p: [f64; 2]| {
                let s = v.view.screen_from_slide(p);
                egui::pos2(rect.min.x + s[0] as f32, rect.min.y + s[1] as f32)
            };
            for (shape, c) in &overlay {
                crate::ui::annotations::draw_outline(
                    &painter,
                    shape,
                    &to_screen,
                    Color32::from_rgb(c[0], c[1], c[2]),
                    2.5,
                    mpp,
                );
            }
        }
        // Coverage audit: high-scoring regions never looked at closely, outlined.
        for b in self.review.audit_regions() {
            let r = v.screen_rect(
                rect.min,
                crate::view::Rect {
                    x0: b[0],
                    y0: b[1],
                    x1: b[2],
                    y1: b[3],
                },
            );
            painter.rect_stroke(
                r.expand(3.0),
                2.0,
                egui::Stroke::new(2.5, Color32::from_rgb(255, 150, 0)),
                egui::StrokeKind::Outside,
            );
        }
        ui::scale_bar(&painter, rect, v);
        if let Some((text, until)) = &self.notice
            && Instant::now() < *until
        {
            let galley = painter.layout_no_wrap(
                text.clone(),
                egui::FontId::proportional(14.0),
                Color32::WHITE,
            );
            let at = egui::pos2(
                rect.max.x - galley.size().x - 16.0,
                rect.max.y - galley.size().y - 16.0,
            );
            painter.rect_filled(
                egui::Rect::from_min_size(at, galley.size()).expand(6.0),
                4.0,
                Color32::from_black_alpha(200),
            );
            painter.galley(at, galley, Color32::WHITE);
        }
        if let (Some(pos), Some(slide_pos)) = (response.hover_pos(), self.cursor)
            && let Some(text) = self.analysis.hover_text(slide_pos)
        {
            let galley =
                painter.layout_no_wrap(text, egui::FontId::proportional(13.0), Color32::WHITE);
            let at = pos + egui::vec2(14.0, 14.0);
            painter.rect_filled(
                egui::Rect::from_min_size(at, galley.size()).expand(4.0),
                3.0,
                Color32::from_black_alpha(190),
            );
            painter.galley(at, galley, Color32::WHITE);
        }

        // Overview in the top-right corner.
        let max = egui::vec2(240.0, 200.0);
        let (w, h) = v.slide.dimensions();
        let scale = (max.x / w.max(1) as f32).min(max.y / h.max(1) as f32);
        let size = egui::vec2(w as f32 * scale, h as f32 * scale);
        let corner = egui::Rect::from_min_size(
            egui::pos2(rect.max.x - size.x - 12.0, rect.min.y + 12.0),
            size,
        );
        self.overview = Some(corner);
        let view = v.view;
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(corner));
        if let Some(target) = v.overview.show(&mut child, max, (w, h), &view) {
            commands.push(Command::CentreOn(target));
        }

        if let Some(r) = second {
            self.second_pane(ui, r, main_moved);
        }

        // Drop hint.
        let rect = ui.max_rect();
        if ui.ctx().input(|i| !i.raw.hovered_files.is_empty()) {
            painter.rect_filled(rect, 0.0, Color32::from_black_alpha(160));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop to open",
                egui::FontId::proportional(28.0),
                Color32::WHITE,
            );
        }
    }

    pub(super) fn associated_window(&mut self, ctx: &egui::Context) {
        for (name, img) in self.pending_associated.drain(..) {
            let size = [img.width as usize, img.height as usize];
            let color = egui::ColorImage::from_rgba_unmultiplied(size, &img.pixels);
            let tex = ctx.load_texture(
                format!("associated-{name}"),
                Arc::new(color),
                egui::TextureOptions::LINEAR,
            );
            self.associated.push((name, tex, size));
        }
        let mut open = self.show_associated;
        egui::Window::new("Associated images")
            .open(&mut open)
            .default_width(420.0)
            .show(ctx, |ui| {
                if self.associated.is_empty() {
                    ui.label("This slide has no label, macro or thumbnail image.");
                }
                egui::ScrollArea::vertical().show(ui, |ui| {
                    for (name, tex, [w, h]) in &self.associated {
                        ui.label(egui::RichText::new(format!("{name}  ({w} x {h})")).strong());
                        let scale = (400.0 / *w as f32).min(1.0);
                        ui.image((tex.id(), egui::vec2(*w as f32 * scale, *h as f32 * scale)));
                        ui.add_space(6.0);
                    }
                });
            });
        self.show_associated = open;
    }
}
