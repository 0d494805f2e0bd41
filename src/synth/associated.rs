//! Label and macro images for the SVS flavour.

use super::noise::{hash2, unit};

pub struct Picture {
    pub rgb: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

impl Picture {
    fn filled(width: usize, height: usize, rgb: [u8; 3]) -> Self {
        Self {
            rgb: rgb
                .iter()
                .copied()
                .cycle()
                .take(width * height * 3)
                .collect(),
            width,
            height,
        }
    }

    fn rect(&mut self, x0: usize, y0: usize, w: usize, h: usize, rgb: [u8; 3]) {
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                let i = (y * self.width + x) * 3;
                self.rgb[i..i + 3].copy_from_slice(&rgb);
            }
        }
    }
}

/// A slide label: a coloured header band and a 2D barcode derived from the seed.
pub fn label(seed: u64) -> Picture {
    let mut p = Picture::filled(400, 400, [250, 250, 247]);
    p.rect(0, 0, 400, 70, [40, 90, 170]);
    let modules = 16;
    let cell = 14;
    let origin = (200 - modules * cell / 2, 110);
    for j in 0..modules {
        for i in 0..modules {
            // Finder pattern: solid left and bottom edges, like a Data Matrix code.
            let finder = i == 0 || j == modules - 1;
            let on = finder || unit(hash2(seed ^ 0x1ABE1, i as i64, j as i64), 0) < 0.5;
            if on {
                p.rect(
                    origin.0 + i * cell,
                    origin.1 + j * cell,
                    cell,
                    cell,
                    [20, 20, 20],
                );
            }
        }
    }
    p
}

/// A photograph of the whole glass slide: the label on the left, the specimen on the right.
pub fn macro_image(thumb: &[u8], tw: usize, th: usize, label: &Picture) -> Picture {
    let (w, h) = (1280usize, 431usize);
    let mut p = Picture::filled(w, h, [214, 218, 222]);
    paste_scaled(
        &mut p,
        10,
        10,
        380,
        411,
        &label.rgb,
        label.width,
        label.height,
    );
    // Fit the specimen into the remaining area, keeping its aspect ratio.
    let (aw, ah) = (w - 420, h - 20);
    let scale = (aw as f64 / tw as f64).min(ah as f64 / th as f64);
    let (sw, sh) = ((tw as f64 * scale) as usize, (th as f64 * scale) as usize);
    paste_scaled(
        &mut p,
        410 + (aw - sw) / 2,
        10 + (ah - sh) / 2,
        sw,
        sh,
        thumb,
        tw,
        th,
    );
    p
}

#[allow(clippy::too_many_arguments)]
fn paste_scaled(
    dst: &mut Picture,
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    src: &[u8],
    sw: usize,
    sh: usize,
) {
    for y in 0..h {
        let sy = (y * sh / h.max(1)).min(sh - 1);
        for x in 0..w {
            let sx = (x * sw / w.max(1)).min(sw - 1);
            let (dx, dy) = (x0 + x, y0 + y);
            if dx < dst.width && dy < dst.height {
                let s = (sy * sw + sx) * 3;
                let d = (dy * dst.width + dx) * 3;
                dst.rgb[d..d + 3].copy_from_slice(&src[s..s + 3]);
            }
        }
    }
}
