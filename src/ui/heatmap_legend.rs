//! The heatmap legend in the canvas corner: the colour scale, with the risk's operating point, an
//! imported map's name, or the signed scale of the difference view.

use egui::Color32;

use crate::viewer::heatmap_layer::HeatmapStyle;

/// What the legend explains: the risk with its operating point, or the imported-minus-ours
/// difference.
pub enum Legend<'a> {
    Risk((f32, Option<&'a str>)),
    /// Another tool's map: its file name and format.
    Imported(&'a str, &'a str),
    Difference,
    /// A reader's dwell at 10x or more: who, and the longest dwell in seconds.
    Dwell(&'a str, f64),
}

/// The colour scale, bottom-left of the canvas above the scale bar.
pub fn legend(painter: &egui::Painter, canvas: egui::Rect, style: HeatmapStyle, kind: Legend<'_>) {
    // Title, caption, threshold marker, and whether the scale is signed (stored as (d + 1) / 2).
    let (title, caption, threshold, signed) = match kind {
        Legend::Risk((t, meaning)) => (
            "Spread risk: P(tumour), calibrated".to_owned(),
            match meaning {
                Some(m) => format!("Threshold (marker) {m}"),
                None => format!("Threshold (marker) {t:.2}: not a measured operating point"),
            },
            Some(t),
            false,
        ),
        Legend::Imported(name, format) => (
            format!("Imported: {name}"),
            format!("{format}: its values as the file gives them, 0-1"),
            None,
            false,
        ),
        Legend::Difference => (
            "Imported risk minus Sentinel's, per tile".to_owned(),
            "Blue: Sentinel higher · red: imported higher".to_owned(),
            None,
            true,
        ),
        Legend::Dwell(who, longest) => (
            format!("Dwell at 10x or more: {who}"),
            format!(
                "Share of the longest dwell ({longest:.0} s); unmarked: never looked at closely"
            ),
            None,
            false,
        ),
    };
    let size = egui::vec2(220.0, 12.0);
    // The caption, wrapped to the legend's width; the box grows upwards from just above the
    // scale bar, so a longer text never runs into it.
    let caption = painter.layout(
        caption,
        egui::FontId::proportional(11.0),
        Color32::from_gray(220),
        size.x + 40.0,
    );
    let bottom = canvas.max.y - 62.0;
    let min = egui::pos2(canvas.min.x + 16.0, bottom - 38.0 - caption.size().y);
    let frame = egui::Rect::from_min_max(
        min - egui::vec2(8.0, 24.0),
        egui::pos2(min.x + size.x.max(caption.size().x) + 8.0, bottom + 4.0),
    );
    painter.rect_filled(frame, 4.0, Color32::from_black_alpha(170));
    painter.text(
        min - egui::vec2(0.0, 4.0),
        egui::Align2::LEFT_BOTTOM,
        title,
        egui::FontId::proportional(12.0),
        Color32::WHITE,
    );
    if let Some(threshold) = threshold {
        let tx = min.x + size.x * threshold.clamp(0.0, 1.0);
        painter.add(egui::Shape::convex_polygon(
            vec![
                egui::pos2(tx, min.y + size.y + 14.0),
                egui::pos2(tx - 5.0, min.y + size.y + 22.0),
                egui::pos2(tx + 5.0, min.y + size.y + 22.0),
            ],
            Color32::WHITE,
            egui::Stroke::NONE,
        ));
    }
    painter.galley(
        egui::pos2(min.x, min.y + size.y + 26.0),
        caption,
        Color32::WHITE,
    );
    let steps = 64;
    for i in 0..steps {
        let t = (f64::from(i) + 0.5) / f64::from(steps);
        let [r, g, b] = style.colormap.rgb(t);
        let below = (t as f32) < style.threshold;
        let c = if below {
            Color32::from_gray(60)
        } else {
            Color32::from_rgb(r, g, b)
        };
        let x0 = min.x + size.x * i as f32 / steps as f32;
        let x1 = min.x + size.x * (i + 1) as f32 / steps as f32;
        painter.rect_filled(
            egui::Rect::from_min_max(egui::pos2(x0, min.y), egui::pos2(x1 + 0.5, min.y + size.y)),
            0.0,
            c,
        );
    }
    for v in [0.0f32, 0.25, 0.5, 0.75, 1.0] {
        let x = min.x + size.x * v;
        // The difference map stores (imported - ours + 1) / 2.
        let label = if signed {
            format!("{}", v * 2.0 - 1.0)
        } else {
            format!("{v}")
        };
        painter.text(
            egui::pos2(x, min.y + size.y + 2.0),
            egui::Align2::CENTER_TOP,
            label,
            egui::FontId::proportional(11.0),
            Color32::WHITE,
        );
    }
}
