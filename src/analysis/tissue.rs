//! Where the tissue is: a mask from a low-resolution image of the slide (Otsu's threshold on
//! saturation, since glass is bright and grey while stained tissue is coloured), with small holes
//! filled and specks removed, and the grid of model tiles that cover it. Pure: no I/O.

use crate::slide::RgbaImage;

/// Below this saturation (0..255) nothing is tissue, whatever Otsu says (an all-glass image).
const MIN_SATURATION: u8 = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct TissueMask {
    pub width: u32,
    pub height: u32,
    /// Level-0 pixels per mask pixel.
    pub downsample: f64,
    pub tissue: Vec<bool>,
    /// The saturation threshold that was used.
    pub threshold: u8,
}

/// HSV-style saturation of one pixel, 0..255; transparent pixels (outside the scan) are 0.
pub fn saturation(px: [u8; 4]) -> u8 {
    let max = px[0].max(px[1]).max(px[2]);
    let min = px[0].min(px[1]).min(px[2]);
    if px[3] < 128 || max == 0 {
        return 0;
    }
    ((u16::from(max - min) * 255) / u16::from(max)) as u8
}

/// Otsu's threshold of a 256-bin histogram: the value that maximises between-class variance.
/// Values above it form the foreground.
pub fn otsu_threshold(hist: &[u64; 256]) -> u8 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0;
    }
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let (mut best, mut best_var) = (0u8, -1.0f64);
    for (t, &n) in hist.iter().enumerate() {
        w0 += n as f64;
        sum0 += t as f64 * n as f64;
        let w1 = total as f64 - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let var = w0 * w1 * (m0 - m1).powi(2);
        if var > best_var {
            best_var = var;
            best = t as u8;
        }
    }
    best
}

impl TissueMask {
    /// Builds the mask from `image`, which shows the whole slide at `downsample` level-0 pixels per
    /// pixel. Holes and specks smaller than `min_area_um2` are filled / dropped (needs `mpp`; without
    /// it, a tenth of a percent of the image).
    pub fn from_image(
        image: &RgbaImage,
        downsample: f64,
        mpp: Option<f64>,
        min_area_um2: f64,
    ) -> Self {
        let sat: Vec<u8> = image
            .pixels
            .chunks_exact(4)
            .map(|p| saturation([p[0], p[1], p[2], p[3]]))
            .collect();
        let mut hist = [0u64; 256];
        for &s in &sat {
            hist[s as usize] += 1;
        }
        let threshold = otsu_threshold(&hist).max(MIN_SATURATION);
        let mut tissue: Vec<bool> = sat.iter().map(|&s| s > threshold).collect();
        let (w, h) = (image.width as usize, image.height as usize);
        let min_px = match mpp {
            Some(m) => (min_area_um2 / (m * downsample).powi(2)).ceil() as usize,
            None => (w * h) / 1000,
        };
        // Holes: background components that do not touch the border and are small.
        fill_small_components(&mut tissue, w, h, false, min_px, true);
        // Specks: small tissue components anywhere.
        fill_small_components(&mut tissue, w, h, true, min_px, false);
        Self {
            width: image.width,
            height: image.height,
            downsample,
            tissue,
            threshold,
        }
    }

    /// Whether the mask pixel under level-0 point (x, y) is tissue.
    pub fn at(&self, x: f64, y: f64) -> bool {
        let (mx, my) = ((x / self.downsample).floor(), (y / self.downsample).floor());
        if mx < 0.0 || my < 0.0 || mx >= f64::from(self.width) || my >= f64::from(self.height) {
            return false;
        }
        self.tissue[my as usize * self.width as usize + mx as usize]
    }

    /// Fraction of the level-0 box [x0, x1) x [y0, y1) that is tissue, by mask pixels.
    pub fn fraction(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> f64 {
        let c0 = (x0 / self.downsample).floor().max(0.0) as usize;
        let r0 = (y0 / self.downsample).floor().max(0.0) as usize;
        let c1 = ((x1 / self.downsample).ceil() as usize).min(self.width as usize);
        let r1 = ((y1 / self.downsample).ceil() as usize).min(self.height as usize);
        if c0 >= c1 || r0 >= r1 {
            return 0.0;
        }
        let mut n = 0usize;
        for r in r0..r1 {
            n += self.tissue[r * self.width as usize + c0..r * self.width as usize + c1]
                .iter()
                .filter(|&&t| t)
                .count();
        }
        n as f64 / ((c1 - c0) * (r1 - r0)) as f64
    }

    /// Area of tissue in mm², given the level-0 mpp.
    pub fn area_mm2(&self, mpp: f64) -> f64 {
        let px_um = mpp * self.downsample;
        self.tissue.iter().filter(|&&t| t).count() as f64 * px_um * px_um / 1e6
    }
}

/// Flips connected components (4-connected) of value `value` smaller than `min_px` pixels. With
/// `skip_border`, components touching the image border are kept whatever their size.
fn fill_small_components(
    mask: &mut [bool],
    w: usize,
    h: usize,
    value: bool,
    min_px: usize,
    skip_border: bool,
) {
    let mut seen = vec![false; mask.len()];
    let mut stack = Vec::new();
    let mut component = Vec::new();
    for start in 0..mask.len() {
        if seen[start] || mask[start] != value {
            continue;
        }
        component.clear();
        stack.push(start);
        seen[start] = true;
        let mut touches_border = false;
        while let Some(i) = stack.pop() {
            component.push(i);
            let (x, y) = (i % w, i / w);
            touches_border |= x == 0 || y == 0 || x == w - 1 || y == h - 1;
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < w).then(|| i + 1),
                (y > 0).then(|| i - w),
                (y + 1 < h).then(|| i + w),
            ];
            for n in neighbours.into_iter().flatten() {
                if !seen[n] && mask[n] == value {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
        if component.len() < min_px && !(skip_border && touches_border) {
            for &i in &component {
                mask[i] = !value;
            }
        }
    }
}

/// One model tile to infer: its grid position and level-0 box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridTile {
    pub col: u32,
    pub row: u32,
    pub x: f64,
    pub y: f64,
    pub size: f64,
}

/// The grid of model tiles (each `tile_level0` level-0 pixels square, from the slide origin) whose
/// tissue fraction is at least `min_fraction`.
pub fn plan_grid(
    mask: &TissueMask,
    slide: (u64, u64),
    tile_level0: f64,
    min_fraction: f64,
) -> Vec<GridTile> {
    let cols = (slide.0 as f64 / tile_level0).ceil() as u32;
    let rows = (slide.1 as f64 / tile_level0).ceil() as u32;
    let mut out = Vec::new();
    for row in 0..rows {
        for col in 0..cols {
            let (x, y) = (f64::from(col) * tile_level0, f64::from(row) * tile_level0);
            if mask.fraction(x, y, x + tile_level0, y + tile_level0) >= min_fraction {
                out.push(GridTile {
                    col,
                    row,
                    x,
                    y,
                    size: tile_level0,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_of_grey_and_colour() {
        assert_eq!(saturation([200, 200, 200, 255]), 0);
        assert_eq!(saturation([200, 100, 200, 255]), 127);
        assert_eq!(saturation([255, 0, 0, 0]), 0, "transparent is not tissue");
    }

    #[test]
    fn otsu_splits_two_populations() {
        let mut hist = [0u64; 256];
        hist[10] = 500;
        hist[12] = 500;
        hist[120] = 300;
        hist[130] = 300;
        let t = otsu_threshold(&hist);
        assert!((12..120).contains(&t), "{t}");
    }

    #[test]
    fn small_holes_fill_and_specks_go_but_big_holes_stay() {
        // 20x20: a tissue block with a 1-pixel hole and a 6x6 hole, plus a lone speck.
        let (w, h) = (20usize, 20usize);
        let mut px = vec![[240u8, 240, 240, 255]; w * h];
        for y in 2..18 {
            for x in 2..18 {
                px[y * w + x] = [200, 90, 180, 255];
            }
        }
        px[5 * w + 5] = [240, 240, 240, 255];
        for y in 8..14 {
            for x in 8..14 {
                px[y * w + x] = [240, 240, 240, 255];
            }
        }
        px[0] = [200, 90, 180, 255];
        let img = RgbaImage {
            width: w as u32,
            height: h as u32,
            pixels: px.into_iter().flatten().collect(),
        };
        // 1 µm per mask pixel; holes/specks under 10 µm² change.
        let m = TissueMask::from_image(&img, 1.0, Some(1.0), 10.0);
        assert!(m.at(5.5, 5.5), "the 1-pixel hole is filled");
        assert!(!m.at(10.5, 10.5), "the 36-pixel hole stays");
        assert!(!m.at(0.5, 0.5), "the speck is removed");
        assert!(m.at(3.5, 3.5));
        assert!((m.area_mm2(1.0) - (256.0 - 36.0) * 1e-6).abs() < 1e-12);
    }
}
