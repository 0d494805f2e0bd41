//! Texture synthesis by image quilting (Efros & Freeman, SIGGRAPH 2001): square blocks copied from
//! real exemplar images, laid in raster order with an overlap; each block is the one (among random
//! candidates) that best matches what is already there in the overlap, and is cut in along the
//! minimum-error path through it, so no straight patch edge is ever visible.
//!
//! The output is streamed: block rows are placed on demand as rows of the image are asked for, and
//! rows that can no longer change are dropped, so a gigapixel image needs a few block rows of
//! memory. The result depends only on the exemplars, the layout and the seed. Pure: no I/O.

/// Real tissue to copy blocks from: square patches (packed RGB) and the block origins in them
/// that are mostly tissue (not glass or fat).
pub struct Exemplar {
    edge: usize,
    patches: Vec<Vec<u8>>,
    /// (patch, x, y) of usable blocks.
    candidates: Vec<(u32, u16, u16)>,
}

/// A pixel is "white" (glass, fat) when its darkest channel is above this.
const WHITE_MIN_CHANNEL: u8 = 205;
/// Blocks with more white than this are not used.
const MAX_WHITE_FRACTION: f64 = 0.2;

impl Exemplar {
    /// Splits an atlas of `edge`-pixel patches laid side by side (packed RGB, `width` x `height`)
    /// and lists the `block`-pixel blocks worth copying. All-white cells (atlas padding) are
    /// skipped. An error if no usable block remains.
    pub fn from_atlas(
        rgb: &[u8],
        width: usize,
        height: usize,
        edge: usize,
        block: usize,
    ) -> Result<Self, String> {
        if rgb.len() != width * height * 3 || edge == 0 || block > edge {
            return Err(format!(
                "atlas of {width}x{height} px ({} bytes) cannot hold {edge} px patches of {block} px blocks",
                rgb.len()
            ));
        }
        let mut patches = Vec::new();
        for py in 0..height / edge {
            for px in 0..width / edge {
                let mut p = Vec::with_capacity(edge * edge * 3);
                for y in 0..edge {
                    let start = ((py * edge + y) * width + px * edge) * 3;
                    p.extend_from_slice(&rgb[start..start + edge * 3]);
                }
                if p.chunks_exact(3)
                    .any(|c| c.iter().min() < Some(&WHITE_MIN_CHANNEL))
                {
                    patches.push(p);
                }
            }
        }
        let stride = 8;
        let mut candidates = Vec::new();
        for (i, p) in patches.iter().enumerate() {
            for y in (0..=edge - block).step_by(stride) {
                for x in (0..=edge - block).step_by(stride) {
                    // Every 4th pixel each way is enough to judge the block.
                    let (mut white, mut n) = (0usize, 0usize);
                    for yy in (y..y + block).step_by(4) {
                        for xx in (x..x + block).step_by(4) {
                            let o = (yy * edge + xx) * 3;
                            white +=
                                usize::from(p[o..o + 3].iter().all(|&c| c > WHITE_MIN_CHANNEL));
                            n += 1;
                        }
                    }
                    if (white as f64) <= MAX_WHITE_FRACTION * n as f64 {
                        candidates.push((i as u32, x as u16, y as u16));
                    }
                }
            }
        }
        if candidates.is_empty() {
            return Err("the atlas holds no tissue block".into());
        }
        Ok(Self {
            edge,
            patches,
            candidates,
        })
    }

    pub fn patch_count(&self) -> usize {
        self.patches.len()
    }

    fn pixel(&self, c: (u32, u16, u16), x: usize, y: usize) -> &[u8] {
        let o = ((usize::from(c.2) + y) * self.edge + usize::from(c.1) + x) * 3;
        &self.patches[c.0 as usize][o..o + 3]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuiltParams {
    /// Block edge, pixels.
    pub block: usize,
    /// Overlap between neighbouring blocks, pixels.
    pub overlap: usize,
    /// Random candidates tried per block.
    pub candidates: usize,
    /// Blocks within this fraction of the best overlap error are equally acceptable (keeps the
    /// texture from repeating the single best match).
    pub tolerance: f64,
}

impl Default for QuiltParams {
    fn default() -> Self {
        Self {
            block: 128,
            overlap: 32,
            candidates: 24,
            tolerance: 0.1,
        }
    }
}

/// Streams a quilted image. `label(cx, cy)` says which exemplar fills the block centred there, or
/// `None` to leave it empty (glass).
pub struct Quilter<F> {
    sources: Vec<Exemplar>,
    label: F,
    width: usize,
    height: usize,
    p: QuiltParams,
    rng: fastrand::Rng,
    /// Rows [y0, y0 + rows) of the image, packed RGB, and which pixels hold tissue.
    y0: usize,
    rows: usize,
    buf: Vec<u8>,
    filled: Vec<bool>,
    /// The next block row to place.
    next_row: usize,
    block_rows: usize,
    block_cols: usize,
}

impl<F: Fn(f64, f64) -> Option<usize>> Quilter<F> {
    pub fn new(
        sources: Vec<Exemplar>,
        label: F,
        width: usize,
        height: usize,
        p: QuiltParams,
        seed: u64,
    ) -> Self {
        assert!(
            p.overlap < p.block,
            "overlap must be smaller than the block"
        );
        let step = p.block - p.overlap;
        let count = |n: usize| n.saturating_sub(p.overlap).div_ceil(step).max(1);
        Self {
            sources,
            label,
            width,
            height,
            p,
            rng: fastrand::Rng::with_seed(seed),
            y0: 0,
            rows: 0,
            buf: Vec::new(),
            filled: Vec::new(),
            next_row: 0,
            block_rows: count(height),
            block_cols: count(width),
        }
    }

    fn step(&self) -> usize {
        self.p.block - self.p.overlap
    }

    /// Rows below this are final.
    fn final_rows(&self) -> usize {
        if self.next_row >= self.block_rows {
            self.height
        } else {
            self.next_row * self.step()
        }
    }

    /// Copies rows [y, y + h) x columns [x, x + w) into `out` (packed RGB) and `tissue` (whether
    /// each pixel was quilted); rows must be asked for in non-decreasing `y` order (earlier rows
    /// are dropped).
    pub fn read(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        out: &mut [u8],
        tissue: &mut [bool],
    ) {
        let end = (y + h).min(self.height);
        while self.final_rows() < end {
            self.place_row();
        }
        // Rows above both the request and the next block row will not be read or changed again.
        self.drop_rows_below(y.min(self.next_row * self.step()));
        for yy in y..y + h {
            for xx in x..x + w {
                let o = (yy - y) * w + (xx - x);
                let inside =
                    yy < end && xx < self.width && yy >= self.y0 && yy < self.y0 + self.rows;
                let src = if inside {
                    (yy - self.y0) * self.width + xx
                } else {
                    usize::MAX
                };
                if inside && self.filled[src] {
                    out[o * 3..o * 3 + 3].copy_from_slice(&self.buf[src * 3..src * 3 + 3]);
                    tissue[o] = true;
                } else {
                    tissue[o] = false;
                }
            }
        }
    }

    fn drop_rows_below(&mut self, y: usize) {
        if y <= self.y0 {
            return;
        }
        let n = (y - self.y0).min(self.rows);
        self.buf.drain(..n * self.width * 3);
        self.filled.drain(..n * self.width);
        self.y0 += n;
        self.rows -= n;
    }

    fn place_row(&mut self) {
        let r = self.next_row;
        let by = r * self.step();
        let bottom = (by + self.p.block).min(self.height);
        if self.y0 + self.rows < bottom {
            let more = bottom - (self.y0 + self.rows);
            self.buf.resize(self.buf.len() + more * self.width * 3, 0);
            self.filled
                .resize(self.filled.len() + more * self.width, false);
            self.rows += more;
        }
        for c in 0..self.block_cols {
            self.place_block(r, c);
        }
        self.next_row += 1;
    }

    fn place_block(&mut self, r: usize, c: usize) {
        let (step, block, overlap) = (self.step(), self.p.block, self.p.overlap);
        let (bx, by) = (c * step, r * step);
        let bw = block.min(self.width - bx);
        let bh = block.min(self.height - by);
        let centre = ((bx + block / 2) as f64, (by + block / 2) as f64);
        let Some(source) = (self.label)(centre.0, centre.1) else {
            return;
        };
        let Some(src) = self.sources.get(source) else {
            return;
        };
        let (y0, width) = (self.y0, self.width);
        let at = |x: usize, y: usize| (y - y0) * width + x;
        // Overlap pixels already holding tissue, every other one each way: what a candidate must
        // match.
        let mut probe = Vec::new();
        for y in (0..bh).step_by(2) {
            for x in (0..bw).step_by(2) {
                if (x < overlap || y < overlap) && self.filled[at(bx + x, by + y)] {
                    probe.push((x, y));
                }
            }
        }
        let mut best: Vec<((u32, u16, u16), f64)> = Vec::with_capacity(self.p.candidates);
        for _ in 0..self.p.candidates {
            let cand = src.candidates[self.rng.usize(..src.candidates.len())];
            let mut e = 0.0f64;
            for &(x, y) in &probe {
                let o = at(bx + x, by + y) * 3;
                let s = src.pixel(cand, x, y);
                for (a, b) in s.iter().zip(&self.buf[o..o + 3]) {
                    let d = f64::from(*a) - f64::from(*b);
                    e += d * d;
                }
            }
            best.push((cand, e));
            if probe.is_empty() {
                break; // nothing to match: any block will do
            }
        }
        let min = best.iter().map(|b| b.1).fold(f64::INFINITY, f64::min);
        let good: Vec<_> = best
            .iter()
            .filter(|b| b.1 <= min * (1.0 + self.p.tolerance) + 1e-9)
            .collect();
        let cand = good[self.rng.usize(..good.len())].0;

        // Squared difference per pixel of the block (0 where nothing is there yet).
        let err = |q: &Self, x: usize, y: usize| -> f64 {
            let i = at(bx + x, by + y);
            if !q.filled[i] {
                return 0.0;
            }
            let s = src.pixel(cand, x, y);
            (0..3)
                .map(|k| (f64::from(s[k]) - f64::from(q.buf[i * 3 + k])).powi(2))
                .sum()
        };
        // Minimum-error seams: vertical through the left overlap (per row, the first column that
        // takes the new block), horizontal through the top one (per column, the first row).
        let left: Vec<usize> = if c > 0 {
            let ow = overlap.min(bw);
            min_path(bh, ow, |along, across| err(self, across, along))
        } else {
            vec![0; bh]
        };
        let top: Vec<usize> = if r > 0 {
            let oh = overlap.min(bh);
            min_path(bw, oh, |along, across| err(self, along, across))
        } else {
            vec![0; bw]
        };
        for (y, &left_y) in left.iter().enumerate() {
            for (x, &top_x) in top.iter().enumerate() {
                let i = at(bx + x, by + y);
                if !self.filled[i] || (x >= left_y && y >= top_x) {
                    self.buf[i * 3..i * 3 + 3].copy_from_slice(src.pixel(cand, x, y));
                    self.filled[i] = true;
                }
            }
        }
    }
}

/// The cheapest 8-connected path along `len` steps through a band `width` wide, where stepping on
/// (along, across) costs `cost(along, across)`. Returns, per step, the position just past the path:
/// cells before it keep the old image, cells from it on take the new block.
fn min_path(len: usize, width: usize, cost: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    if width == 0 || len == 0 {
        return vec![0; len];
    }
    let mut acc = vec![0.0f64; len * width];
    for i in 0..len {
        for j in 0..width {
            let c = cost(i, j);
            acc[i * width + j] = if i == 0 {
                c
            } else {
                let prev = &acc[(i - 1) * width..i * width];
                let lo = j.saturating_sub(1);
                let hi = (j + 1).min(width - 1);
                c + prev[lo..=hi].iter().copied().fold(f64::INFINITY, f64::min)
            };
        }
    }
    let mut path = vec![0usize; len];
    let last = &acc[(len - 1) * width..];
    let mut j = (0..width)
        .min_by(|&a, &b| last[a].total_cmp(&last[b]))
        .unwrap_or(0);
    for i in (0..len).rev() {
        path[i] = j;
        if i > 0 {
            let prev = &acc[(i - 1) * width..i * width];
            let lo = j.saturating_sub(1);
            let hi = (j + 1).min(width - 1);
            j = (lo..=hi)
                .min_by(|&a, &b| prev[a].total_cmp(&prev[b]))
                .unwrap_or(j);
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-patch atlas: patch 0 a horizontal gradient, patch 1 plain grey.
    fn atlas(edge: usize) -> Vec<u8> {
        let mut rgb = vec![0u8; 2 * edge * edge * 3];
        for y in 0..edge {
            for x in 0..2 * edge {
                let v = if x < edge {
                    (x * 200 / edge) as u8
                } else {
                    120
                };
                rgb[(y * 2 * edge + x) * 3..][..3].copy_from_slice(&[v, v / 2, 100]);
            }
        }
        rgb
    }

    #[test]
    fn exemplar_skips_white_blocks_and_padding() {
        let edge = 32;
        let mut rgb = atlas(edge);
        // A third, white cell: atlas padding.
        let mut wide = vec![255u8; 3 * edge * edge * 3];
        for y in 0..edge {
            wide[y * 3 * edge * 3..][..2 * edge * 3]
                .copy_from_slice(&rgb[y * 2 * edge * 3..][..2 * edge * 3]);
        }
        let e = Exemplar::from_atlas(&wide, 3 * edge, edge, edge, 16).expect("atlas");
        assert_eq!(e.patch_count(), 2);
        // Whiten most of patch 1: its blocks go.
        for y in 0..edge {
            for x in edge..2 * edge {
                rgb[(y * 2 * edge + x) * 3..][..3].copy_from_slice(&[250, 250, 250]);
            }
        }
        let e = Exemplar::from_atlas(&rgb, 2 * edge, edge, edge, 16).expect("atlas");
        assert!(e.candidates.iter().all(|c| c.0 == 0));
        assert!(Exemplar::from_atlas(&[255; 32 * 32 * 3], 32, 32, 32, 16).is_err());
        assert!(Exemplar::from_atlas(&rgb, 2 * edge, edge, edge, 64).is_err());
    }

    #[test]
    fn min_path_follows_the_cheap_cells() {
        // Cost 0 along column 2, 10 elsewhere: the path is column 2 throughout.
        let p = min_path(6, 5, |_, j| if j == 2 { 0.0 } else { 10.0 });
        assert_eq!(p, vec![2; 6]);
        // A diagonal valley is followed one step at a time.
        let p = min_path(4, 4, |i, j| if i == j { 0.0 } else { 5.0 });
        assert_eq!(p, vec![0, 1, 2, 3]);
    }

    fn quilt(
        label: impl Fn(f64, f64) -> Option<usize>,
        w: usize,
        h: usize,
        seed: u64,
    ) -> (Vec<u8>, Vec<bool>) {
        let edge = 64;
        let src = Exemplar::from_atlas(&atlas(edge), 2 * edge, edge, edge, 32).expect("atlas");
        let p = QuiltParams {
            block: 32,
            overlap: 8,
            candidates: 8,
            tolerance: 0.1,
        };
        let mut q = Quilter::new(vec![src], label, w, h, p, seed);
        let (mut out, mut tissue) = (vec![0u8; w * h * 3], vec![false; w * h]);
        // Read in bands of 20 rows, as the slide writer asks.
        for y in (0..h).step_by(20) {
            let rows = 20.min(h - y);
            q.read(
                0,
                y,
                w,
                rows,
                &mut out[y * w * 3..(y + rows) * w * 3],
                &mut tissue[y * w..(y + rows) * w],
            );
        }
        (out, tissue)
    }

    #[test]
    fn quilting_covers_the_labelled_area_with_exemplar_pixels_and_is_deterministic() {
        let (w, h) = (150, 110);
        let (a, ta) = quilt(|_, _| Some(0), w, h, 3);
        assert!(ta.iter().all(|&t| t), "every pixel quilted");
        // Every pixel is one of the exemplar's colours (blue channel fixed at 100).
        assert!(a.chunks_exact(3).all(|p| p[2] == 100));
        let (b, _) = quilt(|_, _| Some(0), w, h, 3);
        assert_eq!(a, b, "same seed, same image");
        let (c, _) = quilt(|_, _| Some(0), w, h, 4);
        assert_ne!(a, c, "another seed, another image");
    }

    #[test]
    fn unlabelled_blocks_stay_empty() {
        let (w, h) = (150, 110);
        let (_, t) = quilt(|x, _| (x < 60.0).then_some(0), w, h, 1);
        assert!(t[w * 50 + 5], "left side quilted");
        assert!(!t[w * 50 + 140], "right side left as glass");
    }
}
