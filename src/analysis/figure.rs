//! The heatmap as a stand-alone figure: at a chosen width, over the slide's thumbnail (or white),
//! with a legend strip below (colour bar, tick values, the threshold marked). Pure: the caller
//! supplies the thumbnail and writes the PNG.

use super::heatmap::Heatmap;
use crate::colormap::Colormap;
use crate::slide::RgbaImage;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FigureStyle {
    pub width: u32,
    pub colormap: Colormap,
    /// Opacity of the heatmap over the thumbnail.
    pub opacity: f32,
    /// Cells scoring below this are not drawn (the tissue shows through).
    pub hide_below: f32,
}

impl Default for FigureStyle {
    fn default() -> Self {
        Self {
            width: 1600,
            colormap: Colormap::Viridis,
            opacity: 0.6,
            hide_below: 0.2,
        }
    }
}

const LEGEND_HEIGHT: u32 = 64;
const GLASS: [u8; 3] = [255, 255, 255];

/// Renders `map` of a slide of `slide` level-0 pixels. `thumbnail`, if given, is the whole slide
/// scaled to any size (it is resampled to the figure). Each figure pixel shows the cell under its
/// centre, as the viewer's shader does, so cells keep crisp, aligned edges.
pub fn render(
    map: &Heatmap,
    slide: (u64, u64),
    thumbnail: Option<&RgbaImage>,
    threshold: f32,
    style: FigureStyle,
) -> RgbaImage {
    let width = style.width.clamp(64, 16_384);
    let scale = slide.0.max(1) as f64 / f64::from(width);
    let map_h = ((slide.1 as f64 / scale).round() as u32).max(1);
    let height = map_h + LEGEND_HEIGHT;
    let mut px = vec![255u8; (width * height * 4) as usize];
    let alpha = f64::from(style.opacity.clamp(0.0, 1.0));
    for y in 0..map_h {
        for x in 0..width {
            let (sx, sy) = ((f64::from(x) + 0.5) * scale, (f64::from(y) + 0.5) * scale);
            let base = thumbnail.map_or(GLASS, |t| {
                sample(t, sx / slide.0 as f64, sy / slide.1 as f64)
            });
            let c = match map.value_at(sx, sy).filter(|v| *v >= style.hide_below) {
                Some(v) => {
                    let m = style.colormap.rgb(f64::from(v));
                    std::array::from_fn(|k| {
                        (alpha * f64::from(m[k]) + (1.0 - alpha) * f64::from(base[k])).round() as u8
                    })
                }
                None => base,
            };
            let o = ((y * width + x) * 4) as usize;
            px[o..o + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
        }
    }
    let mut img = RgbaImage {
        width,
        height,
        pixels: px,
    };
    legend(&mut img, map_h, threshold, style);
    img
}

/// The thumbnail's pixel at relative position (u, v) in 0..1 (nearest).
fn sample(t: &RgbaImage, u: f64, v: f64) -> [u8; 3] {
    let x = ((u * f64::from(t.width)) as u32).min(t.width.saturating_sub(1));
    let y = ((v * f64::from(t.height)) as u32).min(t.height.saturating_sub(1));
    let o = ((y * t.width + x) * 4) as usize;
    match t.pixels.get(o..o + 4) {
        // Transparent (outside the slide) reads as glass.
        Some(p) if p[3] > 0 => [p[0], p[1], p[2]],
        _ => GLASS,
    }
}

fn legend(img: &mut RgbaImage, top: u32, threshold: f32, style: FigureStyle) {
    let bar_w = (img.width * 3 / 5).max(40);
    let x0 = (img.width - bar_w) / 2;
    let (y0, bar_h) = (top + 10, 14);
    for x in 0..bar_w {
        let t = (f64::from(x) + 0.5) / f64::from(bar_w);
        let c = if (t as f32) < style.hide_below {
            [200, 200, 200]
        } else {
            style.colormap.rgb(t)
        };
        for y in y0..y0 + bar_h {
            put(img, x0 + x, y, c);
        }
    }
    let text_y = y0 + bar_h + 6;
    for (v, label) in [
        (0.0, "0"),
        (0.25, "0.25"),
        (0.5, "0.5"),
        (0.75, "0.75"),
        (1.0, "1"),
    ] {
        let x = x0 + (v * f64::from(bar_w - 1)) as u32;
        for y in y0 + bar_h..y0 + bar_h + 4 {
            put(img, x, y, [60, 60, 60]);
        }
        text(img, x, text_y, label, [60, 60, 60]);
    }
    // The threshold: a dark triangle above the bar and its value.
    let tx = x0 + (f64::from(threshold.clamp(0.0, 1.0)) * f64::from(bar_w - 1)) as u32;
    for row in 0..6u32 {
        for dx in 0..=row {
            put(img, tx + dx, y0 - 7 + row, [0, 0, 0]);
            put(img, tx.saturating_sub(dx), y0 - 7 + row, [0, 0, 0]);
        }
    }
    let label = format!("{threshold:.2}");
    // `text` centres on its x: put the label's left edge just right of the marker.
    text(
        img,
        tx + 10 + label.len() as u32 * 6,
        y0 - 9,
        &label,
        [0, 0, 0],
    );
}

fn put(img: &mut RgbaImage, x: u32, y: u32, c: [u8; 3]) {
    if x < img.width && y < img.height {
        let o = ((y * img.width + x) * 4) as usize;
        img.pixels[o..o + 4].copy_from_slice(&[c[0], c[1], c[2], 255]);
    }
}

/// 5 x 7 pixel glyphs (rows top to bottom, 5 bits each, high bit left) for tick labels.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        _ => [0; 7],
    }
}

/// Draws `s` at 2x scale, centred on `cx`, top at `y`.
fn text(img: &mut RgbaImage, cx: u32, y: u32, s: &str, c: [u8; 3]) {
    let w = s.chars().count() as u32 * 12;
    let mut x = cx.saturating_sub(w / 2);
    for ch in s.chars() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) != 0 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        put(img, x + col * 2 + dx, y + row as u32 * 2 + dy, c);
                    }
                }
            }
        }
        x += 12;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_land_where_the_slide_has_them_over_the_thumbnail() {
        // A 1000 x 500 slide, 100 px cells; cell (2, 1) high, (7, 3) below the hide threshold.
        let mut m = Heatmap::new((1000, 500), 100.0);
        m.set(2, 1, 0.9);
        m.set(7, 3, 0.1);
        let thumb = RgbaImage {
            width: 10,
            height: 5,
            pixels: [200u8, 100, 150, 255].repeat(50),
        };
        let style = FigureStyle {
            width: 200,
            opacity: 1.0,
            ..Default::default()
        };
        let img = render(&m, (1000, 500), Some(&thumb), 0.56, style);
        assert_eq!((img.width, img.height), (200, 100 + LEGEND_HEIGHT));
        let at = |x: u32, y: u32| {
            let o = ((y * img.width + x) * 4) as usize;
            [img.pixels[o], img.pixels[o + 1], img.pixels[o + 2]]
        };
        // Cell (2, 1) covers figure pixels x 40..60, y 20..40.
        assert_eq!(at(40, 20), Colormap::Viridis.rgb(0.9f32.into()));
        assert_eq!(at(59, 39), Colormap::Viridis.rgb(0.9f32.into()));
        assert_eq!(
            at(39, 20),
            [200, 100, 150],
            "one pixel left is the thumbnail"
        );
        assert_eq!(at(60, 30), [200, 100, 150]);
        assert_eq!(at(145, 65), [200, 100, 150], "hidden below 0.2");
        // The legend's bar is below the map.
        assert_ne!(at(100, 100 + 15), [255, 255, 255]);
    }
}
