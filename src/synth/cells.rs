//! Synthetic detections for the dense-overlay benchmark: cell outlines (irregular polygons of
//! nuclear size) and point annotations scattered over tissue, as a detection algorithm or a QuPath
//! cell export would leave them. Pure: the same seed and mask give the same annotations.

use crate::annotate::{Annotation, Point, Shape};

/// Where tissue is: a coarse mask over the slide, `true` for tissue, row-major.
pub struct TissueMask<'a> {
    pub width: u32,
    pub height: u32,
    pub tissue: &'a [bool],
    /// The slide's level-0 size.
    pub extent: (u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellSpec {
    pub cells: usize,
    pub points: usize,
    /// Points go in annotations of this many (as a point tool or an export groups them).
    pub points_per_annotation: usize,
    /// Nucleus radius range, level-0 pixels.
    pub radius: (f64, f64),
    pub seed: u64,
}

impl Default for CellSpec {
    fn default() -> Self {
        Self {
            cells: 100_000,
            points: 1_000_000,
            points_per_annotation: 10_000,
            // 4-7 µm at 0.25 µm/px.
            radius: (16.0, 28.0),
            seed: 1,
        }
    }
}

/// Classes a cell gets, in proportion.
const CELL_CLASSES: [(&str, u32); 3] = [("Tumor", 3), ("Lymphocytes", 5), ("Stroma", 2)];
const POINT_CLASS: &str = "Other";
const VERTICES: usize = 16;

impl TissueMask<'_> {
    /// A level-0 point on tissue (uniform over the mask's tissue pixels), or `None` without tissue.
    fn sample(&self, on: &[usize], rng: &mut fastrand::Rng) -> Option<Point> {
        let &i = on.get(rng.usize(0..on.len().max(1)))?;
        let (mx, my) = (
            (i % self.width as usize) as f64,
            (i / self.width as usize) as f64,
        );
        let sx = self.extent.0 as f64 / f64::from(self.width);
        let sy = self.extent.1 as f64 / f64::from(self.height);
        Some([(mx + rng.f64()) * sx, (my + rng.f64()) * sy])
    }
}

/// Cells and point annotations on the mask's tissue; empty when the mask has none.
pub fn generate(mask: &TissueMask, spec: &CellSpec) -> Vec<Annotation> {
    let on: Vec<usize> = (0..mask.tissue.len()).filter(|&i| mask.tissue[i]).collect();
    let mut rng = fastrand::Rng::with_seed(spec.seed);
    let mut out = Vec::with_capacity(spec.cells + spec.points / spec.points_per_annotation.max(1));
    if on.is_empty() {
        return out;
    }
    let weights: u32 = CELL_CLASSES.iter().map(|c| c.1).sum();
    for _ in 0..spec.cells {
        let Some(c) = mask.sample(&on, &mut rng) else {
            break;
        };
        let r = spec.radius.0 + rng.f64() * (spec.radius.1 - spec.radius.0);
        // An ellipse with a random axis ratio and orientation, its radius jittered per vertex.
        let (ratio, turn) = (0.6 + 0.4 * rng.f64(), rng.f64() * std::f64::consts::PI);
        let ring: Vec<Point> = (0..VERTICES)
            .map(|k| {
                let t = k as f64 / VERTICES as f64 * std::f64::consts::TAU;
                let j = 0.85 + 0.3 * rng.f64();
                let (x, y) = (t.cos() * r * j, t.sin() * r * ratio * j);
                let (s, co) = turn.sin_cos();
                [c[0] + x * co - y * s, c[1] + x * s + y * co]
            })
            .collect();
        let mut pick = rng.u32(0..weights);
        let class = CELL_CLASSES
            .iter()
            .find(|(_, w)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map_or("Tumor", |c| c.0);
        out.push(Annotation::new(
            Shape::Area {
                polygons: vec![vec![ring]],
            },
            Some(class.into()),
        ));
    }
    let per = spec.points_per_annotation.max(1);
    let mut left = spec.points;
    while left > 0 {
        let n = left.min(per);
        let points: Vec<Point> = (0..n).filter_map(|_| mask.sample(&on, &mut rng)).collect();
        out.push(Annotation::new(
            Shape::Points { points },
            Some(POINT_CLASS.into()),
        ));
        left -= n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_points_land_on_tissue_only_with_the_asked_counts() {
        // Tissue in the left half of a 4x2 mask over a 4000x2000 slide.
        let tissue = [true, true, false, false, true, true, false, false];
        let mask = TissueMask {
            width: 4,
            height: 2,
            tissue: &tissue,
            extent: (4000, 2000),
        };
        let spec = CellSpec {
            cells: 500,
            points: 25_000,
            points_per_annotation: 10_000,
            ..CellSpec::default()
        };
        let a = generate(&mask, &spec);
        assert_eq!(a.len(), 500 + 3);
        let again = generate(&mask, &spec);
        assert!(
            again
                .iter()
                .zip(&a)
                .all(|(x, y)| x.shape == y.shape && x.class == y.class)
        );
        for cell in &a[..500] {
            let b = cell.shape.bbox();
            let centre = [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0];
            assert!(centre[0] < 2000.0 + 28.0, "{centre:?}");
            assert!(b[2] - b[0] <= 2.0 * 28.0 * 1.15 + 1e-9);
            assert!(cell.shape.check().is_ok());
        }
        let classes: std::collections::HashSet<_> =
            a[..500].iter().filter_map(|c| c.class.as_deref()).collect();
        assert_eq!(classes.len(), 3);
        let points: usize = a[500..]
            .iter()
            .map(|p| match &p.shape {
                Shape::Points { points } => {
                    assert!(points.iter().all(|q| q[0] < 2000.0));
                    points.len()
                }
                _ => panic!("not points"),
            })
            .sum();
        assert_eq!(points, 25_000);
        let empty = TissueMask {
            tissue: &[false; 8],
            ..mask
        };
        assert!(generate(&empty, &spec).is_empty());
    }
}
