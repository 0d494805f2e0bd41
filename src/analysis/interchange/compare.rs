//! Sentinel's heatmap against another tool's, tile by tile: the other map brought onto our grid,
//! the per-tile correlation and the difference map the overlay draws.

use crate::analysis::heatmap::Heatmap;

/// `theirs` on `ours`'s grid: each of our cells takes the mean of their cells whose centres lie in
/// it (their grid finer), else their value under our cell's centre (their grid coarser).
pub fn resample(theirs: &Heatmap, ours: &Heatmap) -> Heatmap {
    let n = ours.values.len();
    let (mut sum, mut count) = (vec![0.0f64; n], vec![0u32; n]);
    let s = ours.cell_level0;
    for r in 0..theirs.rows {
        for c in 0..theirs.cols {
            let Some(v) = theirs.get(c, r) else { continue };
            let x = (f64::from(c) + 0.5) * theirs.cell_level0;
            let y = (f64::from(r) + 0.5) * theirs.cell_level0;
            let (oc, or) = ((x / s).floor(), (y / s).floor());
            if oc < f64::from(ours.cols) && or < f64::from(ours.rows) {
                let i = or as usize * ours.cols as usize + oc as usize;
                sum[i] += f64::from(v);
                count[i] += 1;
            }
        }
    }
    let mut out = Heatmap {
        cols: ours.cols,
        rows: ours.rows,
        cell_level0: s,
        values: vec![None; n],
        raw: Vec::new(),
    };
    for r in 0..ours.rows {
        for c in 0..ours.cols {
            let i = r as usize * ours.cols as usize + c as usize;
            out.values[i] = if count[i] > 0 {
                Some((sum[i] / f64::from(count[i])) as f32)
            } else {
                theirs.value_at((f64::from(c) + 0.5) * s, (f64::from(r) + 0.5) * s)
            };
        }
    }
    out
}

/// How two heatmaps agree over the tiles both scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Tiles both maps have a value for (ours analysed).
    pub tiles: usize,
    /// Pearson's r of the two scores over those tiles (`None` under 3 tiles or with no variance).
    pub pearson: Option<f64>,
    /// Mean of |theirs - ours|.
    pub mean_abs_difference: f64,
    /// On our grid: `(theirs - ours + 1) / 2` (0.5 = agreement) where both have a value, for a
    /// diverging colour map.
    pub difference: Heatmap,
}

pub fn compare(ours: &Heatmap, theirs: &Heatmap) -> Comparison {
    let theirs = resample(theirs, ours);
    let mut difference = Heatmap {
        values: vec![None; ours.values.len()],
        raw: Vec::new(),
        ..theirs.clone()
    };
    let mut pairs = Vec::new();
    for (i, (a, b)) in ours.values.iter().zip(&theirs.values).enumerate() {
        if let (Some(a), Some(b)) = (a, b) {
            pairs.push((f64::from(*a), f64::from(*b)));
            difference.values[i] = Some(((b - a + 1.0) / 2.0).clamp(0.0, 1.0));
        }
    }
    let n = pairs.len();
    let mean_abs_difference = if n == 0 {
        0.0
    } else {
        pairs.iter().map(|(a, b)| (b - a).abs()).sum::<f64>() / n as f64
    };
    Comparison {
        tiles: n,
        pearson: pearson(&pairs),
        mean_abs_difference,
        difference,
    }
}

fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (a, b) in pairs {
        sab += (a - ma) * (b - mb);
        saa += (a - ma).powi(2);
        sbb += (b - mb).powi(2);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finer_map_is_averaged_into_our_cells() {
        let mut ours = Heatmap::new((200, 100), 100.0);
        ours.set(0, 0, 0.2);
        ours.set(1, 0, 0.8);
        // Theirs: 50 px cells, four per ours; left cell all 0.4, right cell 1.0 and three 0.6.
        let mut theirs = Heatmap::new((200, 100), 50.0);
        for (c, r) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            theirs.set(c, r, 0.4);
        }
        theirs.set(2, 0, 1.0);
        for (c, r) in [(3, 0), (2, 1), (3, 1)] {
            theirs.set(c, r, 0.6);
        }
        let t = resample(&theirs, &ours);
        assert!((t.get(0, 0).expect("left") - 0.4).abs() < 1e-6);
        assert!((t.get(1, 0).expect("right") - 0.7).abs() < 1e-6);
    }

    #[test]
    fn a_coarser_map_is_sampled_at_our_centres() {
        let ours = Heatmap::new((400, 100), 100.0);
        let mut theirs = Heatmap::new((400, 100), 200.0);
        theirs.set(1, 0, 0.9);
        let t = resample(&theirs, &ours);
        assert_eq!(t.values, vec![None, None, Some(0.9), Some(0.9)]);
    }

    #[test]
    fn identical_maps_correlate_perfectly_and_differences_are_signed() {
        let mut ours = Heatmap::new((400, 100), 100.0);
        for (c, v) in [(0, 0.1), (1, 0.5), (2, 0.9)] {
            ours.set(c, 0, v);
        }
        let same = compare(&ours, &ours);
        assert_eq!(same.tiles, 3);
        assert!((same.pearson.expect("r") - 1.0).abs() < 1e-9);
        assert_eq!(same.mean_abs_difference, 0.0);
        assert_eq!(same.difference.get(1, 0), Some(0.5));
        let mut theirs = ours.clone();
        theirs.set(2, 0, 0.1);
        theirs.set(3, 0, 0.7); // we did not analyse it: not compared
        let d = compare(&ours, &theirs);
        assert_eq!(d.tiles, 3);
        assert!((d.difference.get(2, 0).expect("lower") - 0.1).abs() < 1e-6);
        assert_eq!(d.difference.get(3, 0), None);
        assert!((d.mean_abs_difference - 0.8 / 3.0).abs() < 1e-6);
        assert!(d.pearson.expect("r") < 0.5);
    }
}
