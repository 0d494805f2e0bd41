//! Drawing the slide and handling pointer input on it.

use egui::{Color32, Pos2, Rect, Sense, Vec2, pos2};

use super::{FrameStats, SlideView};
use crate::tiles::{GUTTER_PX, TILE_PX};

/// Slide pixels outside the tissue scan show as this (OpenSlide's transparent areas). It is the
/// window's clear colour: painting it as a rectangle would cost a full-screen layer.
pub const BACKDROP: Color32 = Color32::from_gray(28);

impl SlideView {
    /// Screen rectangle (points) of a slide rectangle, relative to the canvas at `origin`.
    pub fn screen_rect(&self, origin: Pos2, r: crate::view::Rect) -> Rect {
        let a = self.view.screen_from_slide([r.x0, r.y0]);
        let b = self.view.screen_from_slide([r.x1, r.y1]);
        Rect::from_min_max(
            pos2(origin.x + a[0] as f32, origin.y + a[1] as f32),
            pos2(origin.x + b[0] as f32, origin.y + b[1] as f32),
        )
    }

    /// Draws `texture`, a picture of the whole slide whose `texels` each cover `downsample`
    /// level-0 pixels from the slide's origin (a tissue mask, an annotation raster), over the
    /// canvas at `origin`.
    pub fn paint_slide_image(
        &self,
        painter: &egui::Painter,
        origin: Pos2,
        texture: egui::TextureId,
        texels: [u32; 2],
        downsample: f64,
    ) {
        let r = crate::view::Rect {
            x0: 0.0,
            y0: 0.0,
            x1: f64::from(texels[0]) * downsample,
            y1: f64::from(texels[1]) * downsample,
        };
        painter.image(
            texture,
            self.screen_rect(origin, r),
            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
            Color32::WHITE,
        );
    }

    /// Runs one frame of the slide canvas in `rect`: input, animation, tile requests, uploads and
    /// drawing. Returns the canvas response (for hover position and context menus).
    pub fn canvas(&mut self, ui: &mut egui::Ui, rect: Rect) -> egui::Response {
        let ctx = ui.ctx().clone();
        let ppp = f64::from(ctx.pixels_per_point());
        self.set_view_size([f64::from(rect.width()), f64::from(rect.height())], ppp);
        let response = ui.allocate_rect(rect, Sense::click_and_drag());
        self.handle_pointer(ui, &response, rect);

        let dt = f64::from(ui.input(|i| i.stable_dt)).min(0.1);
        let animating = self.step_animation(dt);
        self.view.clamp_centre(self.slide.dimensions());

        self.receive_tiles();
        let visible = self.visible_tiles();
        self.request_tiles(&visible);
        let (plan, uncovered) = self.draw_plan(&visible);
        let wanted: Vec<_> = plan.iter().map(|(t, _)| *t).collect();
        let (uploaded, more) = self.upload(&ctx, &wanted);

        let painter = ui.painter_at(rect);
        // Where no tile is loaded yet (just opened, or a far jump), the overview image stands
        // in, stretched: blurred for a moment rather than a hole.
        if !uncovered.is_empty()
            && let Some(tex) = self.overview.texture(&ctx)
        {
            let (w, h) = self.slide.dimensions();
            let (w, h) = (w.max(1) as f64, h.max(1) as f64);
            for a in &uncovered {
                let a = crate::view::Rect {
                    x0: a.x0.max(0.0),
                    y0: a.y0.max(0.0),
                    x1: a.x1.min(w),
                    y1: a.y1.min(h),
                };
                if a.x0 >= a.x1 || a.y0 >= a.y1 {
                    continue;
                }
                let uv = Rect::from_min_max(
                    pos2((a.x0 / w) as f32, (a.y0 / h) as f32),
                    pos2((a.x1 / w) as f32, (a.y1 / h) as f32),
                );
                painter.image(tex, self.screen_rect(rect.min, a), uv, Color32::WHITE);
            }
        }
        let target = self.target_level() as u32;
        let side = f64::from(TILE_PX + 2 * GUTTER_PX);
        let mut full_res = 0;
        for (tile, area) in &plan {
            let Some(tex) = self.gpu.get(tile) else {
                continue;
            };
            let tex_id = tex.id();
            let grid = &self.grids[tile.level as usize];
            let full = grid.slide_rect(tile.col, tile.row);
            // UVs of `area` inside the tile's texture (which has a gutter on every side).
            let scale = f64::from(TILE_PX) / full.width();
            let u = |x: f64| ((f64::from(GUTTER_PX) + (x - full.x0) * scale) / side) as f32;
            let v = |y: f64| ((f64::from(GUTTER_PX) + (y - full.y0) * scale) / side) as f32;
            let uv = Rect::from_min_max(pos2(u(area.x0), v(area.y0)), pos2(u(area.x1), v(area.y1)));
            painter.image(
                tex_id,
                self.screen_rect(rect.min, *area),
                uv,
                Color32::WHITE,
            );
            if tile.level == target {
                full_res += 1;
            }
        }
        let visible_tiles = visible.len();

        let pending = self.loader.pending();
        let drawn = &self.grids[target as usize];
        self.stats = FrameStats {
            level: drawn.source_level as usize,
            reduce: drawn.reduce,
            visible_tiles,
            full_res_tiles: full_res,
            pending,
            uploaded_bytes: uploaded,
            animating,
        };
        // Keep frames coming only while something is changing: animation, uploads still queued,
        // or tiles on their way. The reader that delivers the last tile the view waits for wakes
        // the UI; meanwhile a slow redraw shows those that came, and a slower one keeps the
        // status bar's count of prefetched tiles true.
        if animating || more {
            ctx.request_repaint();
        } else if self.loader.view_waiting() {
            ctx.request_repaint_after(crate::tiles::loader::PROGRESS_INTERVAL);
        } else if pending > 0 {
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        }
        response
    }

    fn handle_pointer(&mut self, ui: &egui::Ui, response: &egui::Response, rect: Rect) {
        if (self.primary_pans && response.dragged_by(egui::PointerButton::Primary))
            || response.dragged_by(egui::PointerButton::Middle)
        {
            let d: Vec2 = response.drag_delta();
            if d != Vec2::ZERO {
                self.cancel_animation();
                self.view.pan_screen([f64::from(d.x), f64::from(d.y)]);
            }
        }
        if !response.hovered() {
            return;
        }
        let (scroll, pinch, pointer) =
            ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta(), i.pointer.hover_pos()));
        let wheel = (f64::from(scroll.y) / 300.0).exp();
        let factor = wheel * f64::from(pinch);
        if (factor - 1.0).abs() > 1e-6 {
            self.cancel_animation();
            let anchor = pointer.unwrap_or(rect.center()) - rect.min;
            let limits = self.zoom_limits();
            self.view
                .zoom_around([f64::from(anchor.x), f64::from(anchor.y)], factor, limits);
        }
    }

    /// The level-0 slide position under a screen point, if the point is on the canvas.
    pub fn slide_position(&self, canvas: Rect, screen: Pos2) -> Option<[f64; 2]> {
        canvas.contains(screen).then(|| {
            let local = screen - canvas.min;
            self.view
                .slide_from_screen([f64::from(local.x), f64::from(local.y)])
        })
    }
}
