//! The risk heatmap: one probability per model tile on a grid anchored at the slide origin, and the
//! slide-level summary derived from it (max, top-k mean, areas, connected hot-spots). Pure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    pub cols: u32,
    pub rows: u32,
    /// Edge of one cell in level-0 pixels (the model tile at the model's mpp).
    pub cell_level0: f64,
    /// Row-major risk scores (calibrated where the model says how); `None` where nothing was
    /// analysed (glass, or not yet).
    pub values: Vec<Option<f32>>,
    /// The model's raw class probability per cell, beside `values`, for users who calibrate
    /// themselves (the CSV export carries it). Empty in maps made without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw: Vec<Option<f32>>,
}

/// A connected region of cells at or above the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotspot {
    pub max: f32,
    pub mean: f32,
    pub cells: usize,
    pub area_mm2: f64,
    /// Level-0 centre of the highest cell (where "go to hot-spot" takes the view).
    pub peak: [f64; 2],
    /// Level-0 bounding box [x0, y0, x1, y1].
    pub bbox: [f64; 4],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub max: f32,
    pub top_k: usize,
    pub top_k_mean: f32,
    pub analysed_cells: usize,
    pub analysed_area_mm2: f64,
    pub threshold: f32,
    /// What the threshold means (sensitivity and specificity where it was measured), when the
    /// model states it for this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_meaning: Option<String>,
    pub area_above_mm2: f64,
    /// Sorted by `max`, highest first.
    pub hotspots: Vec<Hotspot>,
    /// Why the scores may not mean what they say (e.g. a slide far coarser than the model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Heatmap {
    /// An empty grid covering a slide of `slide` level-0 pixels.
    pub fn new(slide: (u64, u64), cell_level0: f64) -> Self {
        let cols = (slide.0 as f64 / cell_level0).ceil() as u32;
        let rows = (slide.1 as f64 / cell_level0).ceil() as u32;
        Self {
            cols,
            rows,
            cell_level0,
            values: vec![None; cols as usize * rows as usize],
            raw: Vec::new(),
        }
    }

    /// Sets a cell's risk and the raw probability it came from.
    pub fn set_scored(&mut self, col: u32, row: u32, risk: f32, raw: f32) {
        if col < self.cols && row < self.rows {
            let i = row as usize * self.cols as usize + col as usize;
            self.values[i] = Some(risk);
            if self.raw.len() != self.values.len() {
                self.raw = vec![None; self.values.len()];
            }
            self.raw[i] = Some(raw);
        }
    }

    /// The raw class probability of a cell, where it was kept.
    pub fn raw(&self, col: u32, row: u32) -> Option<f32> {
        (col < self.cols && row < self.rows)
            .then(|| {
                self.raw
                    .get(row as usize * self.cols as usize + col as usize)
                    .copied()
                    .flatten()
            })
            .flatten()
    }

    pub fn set(&mut self, col: u32, row: u32, p: f32) {
        if col < self.cols && row < self.rows {
            self.values[row as usize * self.cols as usize + col as usize] = Some(p);
        }
    }

    pub fn get(&self, col: u32, row: u32) -> Option<f32> {
        (col < self.cols && row < self.rows)
            .then(|| self.values[row as usize * self.cols as usize + col as usize])
            .flatten()
    }

    /// The probability under level-0 point (x, y): cell `floor(x / cell)`.
    pub fn value_at(&self, x: f64, y: f64) -> Option<f32> {
        if x < 0.0 || y < 0.0 {
            return None;
        }
        self.get(
            (x / self.cell_level0).floor() as u32,
            (y / self.cell_level0).floor() as u32,
        )
    }

    /// Level-0 box of a cell: [x0, y0, x1, y1].
    pub fn cell_box(&self, col: u32, row: u32) -> [f64; 4] {
        let s = self.cell_level0;
        [
            f64::from(col) * s,
            f64::from(row) * s,
            f64::from(col + 1) * s,
            f64::from(row + 1) * s,
        ]
    }

    /// Slide-level figures at `threshold`, with `mpp` (level 0) for areas.
    pub fn summary(&self, threshold: f32, top_k: usize, mpp: f64) -> Summary {
        let cell_mm2 = (self.cell_level0 * mpp / 1000.0).powi(2);
        let mut analysed: Vec<f32> = self.values.iter().flatten().copied().collect();
        analysed.sort_by(|a, b| b.total_cmp(a));
        let k = top_k.min(analysed.len());
        let top_k_mean = if k == 0 {
            0.0
        } else {
            analysed[..k].iter().sum::<f32>() / k as f32
        };
        let above = analysed.iter().filter(|&&p| p >= threshold).count();
        Summary {
            max: analysed.first().copied().unwrap_or(0.0),
            top_k: k,
            top_k_mean,
            analysed_cells: analysed.len(),
            analysed_area_mm2: analysed.len() as f64 * cell_mm2,
            threshold,
            threshold_meaning: None,
            area_above_mm2: above as f64 * cell_mm2,
            hotspots: self.hotspots_where(threshold, mpp, |_, _| true),
            warnings: Vec::new(),
        }
    }

    /// 8-connected components of the cells at or above `threshold` for which `keep(col, row)`
    /// holds, highest first (`mpp`: level 0, for areas).
    pub fn hotspots_where(
        &self,
        threshold: f32,
        mpp: f64,
        keep: impl Fn(u32, u32) -> bool,
    ) -> Vec<Hotspot> {
        let cell_mm2 = (self.cell_level0 * mpp / 1000.0).powi(2);
        let (w, h) = (self.cols as i64, self.rows as i64);
        let hot = |c: i64, r: i64| {
            c >= 0
                && r >= 0
                && c < w
                && r < h
                && self.values[(r * w + c) as usize].is_some_and(|p| p >= threshold)
                && keep(c as u32, r as u32)
        };
        let mut seen = vec![false; self.values.len()];
        let mut out = Vec::new();
        for r0 in 0..h {
            for c0 in 0..w {
                if seen[(r0 * w + c0) as usize] || !hot(c0, r0) {
                    continue;
                }
                let mut stack = vec![(c0, r0)];
                seen[(r0 * w + c0) as usize] = true;
                let (mut sum, mut n, mut best, mut peak) = (0.0f64, 0usize, f32::MIN, (c0, r0));
                let mut bbox = [i64::MAX, i64::MAX, i64::MIN, i64::MIN];
                while let Some((c, r)) = stack.pop() {
                    let p = self.values[(r * w + c) as usize].unwrap_or(0.0);
                    sum += f64::from(p);
                    n += 1;
                    if p > best {
                        best = p;
                        peak = (c, r);
                    }
                    bbox = [
                        bbox[0].min(c),
                        bbox[1].min(r),
                        bbox[2].max(c),
                        bbox[3].max(r),
                    ];
                    for dr in -1..=1 {
                        for dc in -1..=1 {
                            let (nc, nr) = (c + dc, r + dr);
                            if hot(nc, nr) && !seen[(nr * w + nc) as usize] {
                                seen[(nr * w + nc) as usize] = true;
                                stack.push((nc, nr));
                            }
                        }
                    }
                }
                let s = self.cell_level0;
                out.push(Hotspot {
                    max: best,
                    mean: (sum / n as f64) as f32,
                    cells: n,
                    area_mm2: n as f64 * cell_mm2,
                    peak: [(peak.0 as f64 + 0.5) * s, (peak.1 as f64 + 0.5) * s],
                    bbox: [
                        bbox[0] as f64 * s,
                        bbox[1] as f64 * s,
                        (bbox[2] + 1) as f64 * s,
                        (bbox[3] + 1) as f64 * s,
                    ],
                });
            }
        }
        out.sort_by(|a, b| b.max.total_cmp(&a.max));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Heatmap {
        // 10 x 6 cells of 100 level-0 px; two hot blobs and a diagonal neighbour.
        let mut m = Heatmap::new((1000, 600), 100.0);
        for (c, r) in [(0, 0), (1, 0), (9, 5)] {
            m.set(c, r, 0.1);
        }
        m.set(2, 2, 0.9);
        m.set(3, 3, 0.7); // diagonal: same hot-spot (8-connected)
        m.set(7, 1, 0.95);
        m.set(8, 1, 0.6);
        m
    }

    #[test]
    fn cells_line_up_with_slide_coordinates() {
        let m = map();
        assert_eq!((m.cols, m.rows), (10, 6));
        assert_eq!(m.value_at(250.0, 250.0), Some(0.9));
        assert_eq!(
            m.value_at(200.0, 200.0),
            Some(0.9),
            "a cell starts at its edge"
        );
        assert_eq!(
            m.value_at(199.9, 250.0),
            None,
            "one pixel left is the previous cell"
        );
        assert_eq!(m.value_at(-1.0, 0.0), None);
        assert_eq!(m.cell_box(2, 2), [200.0, 200.0, 300.0, 300.0]);
    }

    #[test]
    fn summary_figures() {
        let m = map();
        // 0.5 µm/px: a 100 px cell is 50 µm, 0.0025 mm².
        let s = m.summary(0.5, 2, 0.5);
        assert_eq!(s.max, 0.95);
        assert!((s.top_k_mean - 0.925).abs() < 1e-6);
        assert_eq!(s.analysed_cells, 7);
        assert!((s.analysed_area_mm2 - 7.0 * 0.0025).abs() < 1e-12);
        assert!((s.area_above_mm2 - 4.0 * 0.0025).abs() < 1e-12);
        assert_eq!(s.hotspots.len(), 2);
        let first = &s.hotspots[0];
        assert_eq!((first.max, first.cells), (0.95, 2));
        assert_eq!(first.peak, [750.0, 150.0]);
        assert_eq!(first.bbox, [700.0, 100.0, 900.0, 200.0]);
        let second = &s.hotspots[1];
        assert_eq!(second.cells, 2, "diagonal neighbours join");
        assert!((second.mean - 0.8).abs() < 1e-6);
    }

    #[test]
    fn raw_probability_is_kept_beside_the_risk() {
        let mut m = Heatmap::new((300, 100), 100.0);
        m.set_scored(1, 0, 0.6, 0.2);
        assert_eq!((m.get(1, 0), m.raw(1, 0)), (Some(0.6), Some(0.2)));
        assert_eq!(m.raw(0, 0), None);
        assert_eq!(m.raw(5, 0), None, "outside the grid");
        let back: Heatmap =
            serde_json::from_str(&serde_json::to_string(&m).expect("json")).expect("parse");
        assert_eq!(back, m);
        // A map stored before raw scores were kept still loads.
        let old = r#"{"cols":1,"rows":1,"cell_level0":10.0,"values":[0.5]}"#;
        let old: Heatmap = serde_json::from_str(old).expect("old format");
        assert_eq!((old.get(0, 0), old.raw(0, 0)), (Some(0.5), None));
    }

    #[test]
    fn empty_map_summarises_to_zero() {
        let s = Heatmap::new((100, 100), 50.0).summary(0.5, 10, 0.25);
        assert_eq!(
            (s.max, s.top_k, s.analysed_cells, s.hotspots.len()),
            (0.0, 0, 0, 0)
        );
    }
}
