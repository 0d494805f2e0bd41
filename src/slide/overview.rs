//! The overview image of a slide: its coarsest level scaled to a small size (minimap, tissue mask).

use super::{RgbaImage, SlideError, SlideSource};

/// Reads the slide's coarsest level, scaled down to fit `max_side`: the overview image.
/// It reads the file: call it off the UI thread (the viewer does so when it opens a slide).
pub fn read_overview(slide: &dyn SlideSource, max_side: u32) -> Result<RgbaImage, SlideError> {
    let level = slide.level_count() - 1;
    let l = slide.levels()[level];
    let (w, h) = (l.width_px, l.height_px);
    let factor = w.max(h).div_ceil(u64::from(max_side)).max(1);
    let (ow, oh) = (w.div_ceil(factor) as u32, h.div_ceil(factor) as u32);
    let mut out = RgbaImage::transparent(ow, oh);
    // Strips keep the memory small for single-level slides whose "coarsest" level is level 0.
    // They are a whole number of blocks tall, so no block straddles two strips.
    let strip_rows = factor * 64;
    let mut y = 0u64;
    while y < h {
        let rows = strip_rows.min(h - y);
        let strip = slide.read_region(
            level,
            0,
            (y as f64 * l.downsample).round() as i64,
            w as u32,
            rows as u32,
        )?;
        for oy in (y / factor)..((y + rows).div_ceil(factor)).min(u64::from(oh)) {
            for ox in 0..u64::from(ow) {
                let mut sum = [0u64; 4];
                let mut n = 0u64;
                for sy in (oy * factor).max(y)..((oy + 1) * factor).min(y + rows) {
                    for sx in (ox * factor)..((ox + 1) * factor).min(w) {
                        let i = (((sy - y) * w + sx) * 4) as usize;
                        for (acc, &v) in sum.iter_mut().zip(&strip.pixels[i..i + 4]) {
                            *acc += u64::from(v);
                        }
                        n += 1;
                    }
                }
                let o = ((oy * u64::from(ow) + ox) * 4) as usize;
                for (dst, acc) in out.pixels[o..o + 4].iter_mut().zip(sum) {
                    *dst = (acc + n / 2).checked_div(n).unwrap_or(0) as u8;
                }
            }
        }
        y += rows;
    }
    Ok(out)
}
