//! The overview (minimap): the slide's coarsest level with the current view outlined.
//! Click or drag on it to move the view there.

use std::sync::Arc;

use egui::{Color32, Rect, Sense, Stroke, StrokeKind, TextureHandle, TextureOptions, pos2, vec2};

use crate::slide::RgbaImage;
use crate::view::Viewport;

pub struct Overview {
    image: RgbaImage,
    texture: Option<TextureHandle>,
}

impl Overview {
    /// The overview pixels (the slide's coarsest level, scaled to fit 512 px).
    pub fn image(&self) -> &RgbaImage {
        &self.image
    }

    pub fn new(image: RgbaImage) -> Self {
        Self {
            image,
            texture: None,
        }
    }

    /// The overview as a texture (uploaded on first use), for standing in where no tile is
    /// loaded yet.
    pub fn texture(&mut self, ctx: &egui::Context) -> Option<egui::TextureId> {
        let img = &self.image;
        if img.width == 0 || img.height == 0 {
            return None;
        }
        let tex = self.texture.get_or_insert_with(|| {
            let color = egui::ColorImage::from_rgba_unmultiplied(
                [img.width as usize, img.height as usize],
                &img.pixels,
            );
            ctx.load_texture("overview", Arc::new(color), TextureOptions::LINEAR)
        });
        Some(tex.id())
    }

    /// Draws the overview fitted into `max` (points) at the top-left of `ui`'s cursor. Returns the
    /// slide position (level-0 px) the user clicked or dragged to, if any.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        max: egui::Vec2,
        slide_size: (u64, u64),
        view: &Viewport,
    ) -> Option<[f64; 2]> {
        let img = &self.image;
        if img.width == 0 || img.height == 0 {
            return None;
        }
        let tex = self.texture(ui.ctx())?;
        let (sw, sh) = (slide_size.0.max(1) as f32, slide_size.1.max(1) as f32);
        let scale = (max.x / sw).min(max.y / sh);
        let size = vec2(sw * scale, sh * scale);
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        let painter = ui.painter_at(rect.expand(2.0));
        painter.rect_filled(rect, 2.0, Color32::from_gray(250));
        painter.image(
            tex,
            rect,
            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
            Color32::WHITE,
        );
        let v = view.visible();
        let to_screen =
            |x: f64, y: f64| pos2(rect.min.x + x as f32 * scale, rect.min.y + y as f32 * scale);
        let view_rect = Rect::from_min_max(to_screen(v.x0, v.y0), to_screen(v.x1, v.y1))
            .intersect(rect.expand(1.0));
        painter.rect_stroke(
            view_rect,
            0.0,
            Stroke::new(2.0, Color32::from_rgb(230, 40, 40)),
            StrokeKind::Middle,
        );
        painter.rect_stroke(
            rect,
            2.0,
            Stroke::new(1.0, Color32::from_gray(120)),
            StrokeKind::Outside,
        );
        if response.clicked() || response.dragged() {
            let p = response.interact_pointer_pos()?;
            let x = f64::from((p.x - rect.min.x) / scale).clamp(0.0, f64::from(sw));
            let y = f64::from((p.y - rect.min.y) / scale).clamp(0.0, f64::from(sh));
            return Some([x, y]);
        }
        None
    }
}
