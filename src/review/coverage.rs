//! The coverage audit: regions the model scored high that a reader never looked at closely (at
//! 10x or more), from the read's view track. Computed for every arm, also where the heatmap was
//! hidden from the reader. Pure.

use super::session::ViewSample;
use crate::analysis::heatmap::{Heatmap, Hotspot};

/// The magnification at or above which a view counts as having looked at a region.
pub const CLOSE_LOOK_MAG: f64 = 10.0;

/// Which heatmap cells had their centre on screen at `min_mag` or more, row-major.
pub fn viewed_cells(heatmap: &Heatmap, track: &[ViewSample], min_mag: f64) -> Vec<bool> {
    let mut seen = vec![false; heatmap.values.len()];
    let s = heatmap.cell_level0;
    for v in track.iter().filter(|v| v.magnification >= min_mag) {
        // Cells whose centre (c + 0.5) * s lies in [x0, x1).
        let first = |lo: f64| ((lo / s) - 0.5).ceil().max(0.0) as u32;
        let end = |hi: f64, n: u32| (((hi / s) - 0.5).ceil().max(0.0) as u32).min(n);
        for r in first(v.rect[1])..end(v.rect[3], heatmap.rows) {
            for c in first(v.rect[0])..end(v.rect[2], heatmap.cols) {
                seen[(r * heatmap.cols + c) as usize] = true;
            }
        }
    }
    seen
}

/// Connected regions scoring at least `threshold` with no cell looked at closely, highest first.
pub fn unviewed_hotspots(
    heatmap: &Heatmap,
    track: &[ViewSample],
    threshold: f32,
    mpp: f64,
) -> Vec<Hotspot> {
    unviewed_in(
        heatmap,
        &viewed_cells(heatmap, track, CLOSE_LOOK_MAG),
        threshold,
        mpp,
    )
}

/// [`unviewed_hotspots`] given the cells looked at closely ([`viewed_cells`]).
pub fn unviewed_in(heatmap: &Heatmap, seen: &[bool], threshold: f32, mpp: f64) -> Vec<Hotspot> {
    let cols = heatmap.cols;
    heatmap.hotspots_where(threshold, mpp, |c, r| !seen[(r * cols + c) as usize])
}

/// Whether the hot-spot `h` counts as looked at: its peak cell is among `seen`.
pub fn peak_seen(heatmap: &Heatmap, seen: &[bool], h: &Hotspot) -> bool {
    let s = heatmap.cell_level0;
    let (c, r) = (
        (h.peak[0] / s).floor() as u32,
        (h.peak[1] / s).floor() as u32,
    );
    seen.get((r * heatmap.cols + c) as usize)
        .copied()
        .unwrap_or(false)
}

/// How many of the map's hot-spots (connected regions at or above `threshold`) the reader looked
/// at closely, counting one as looked at when its peak cell was on screen at 10x or more:
/// (looked at, all).
pub fn hotspots_viewed(
    heatmap: &Heatmap,
    track: &[ViewSample],
    threshold: f32,
    mpp: f64,
) -> (usize, usize) {
    hotspots_viewed_in(
        heatmap,
        &viewed_cells(heatmap, track, CLOSE_LOOK_MAG),
        threshold,
        mpp,
    )
}

/// [`hotspots_viewed`] given the cells looked at closely ([`viewed_cells`]).
pub fn hotspots_viewed_in(
    heatmap: &Heatmap,
    seen: &[bool],
    threshold: f32,
    mpp: f64,
) -> (usize, usize) {
    let all = heatmap.hotspots_where(threshold, mpp, |_, _| true);
    let looked = all.iter().filter(|h| peak_seen(heatmap, seen, h)).count();
    (looked, all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rect: [f64; 4], magnification: f64) -> ViewSample {
        ViewSample {
            t: 0.0,
            seconds: 2.0,
            rect,
            magnification,
        }
    }

    #[test]
    fn hot_regions_seen_only_at_low_power_are_reported() {
        // 10 x 10 cells of 100 px; hot blobs at (2, 2) and (7, 7).
        let mut m = Heatmap::new((1000, 1000), 100.0);
        for (c, r) in [(2, 2), (2, 3), (7, 7)] {
            m.set(c, r, 0.9);
        }
        m.set(5, 5, 0.3);
        // The whole slide at 2x, then a close look at the first blob only.
        let track = [
            sample([0.0, 0.0, 1000.0, 1000.0], 2.0),
            sample([150.0, 150.0, 400.0, 400.0], 20.0),
        ];
        let missed = unviewed_hotspots(&m, &track, 0.5, 0.25);
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].bbox, [700.0, 700.0, 800.0, 800.0]);
        // A view that covers the cell's centre counts; one that stops short of it does not.
        let edge = [sample([650.0, 650.0, 751.0, 751.0], 10.0)];
        assert!(unviewed_hotspots(&m, &[track[1], edge[0]], 0.5, 0.25).is_empty());
        assert_eq!(hotspots_viewed(&m, &track, 0.5, 0.25), (1, 2));
        assert_eq!(hotspots_viewed(&m, &[track[1], edge[0]], 0.5, 0.25), (2, 2));
        assert_eq!(
            hotspots_viewed(&m, &track[..1], 0.5, 0.25),
            (0, 2),
            "2x is not a look"
        );
        let short = [sample([650.0, 650.0, 749.0, 749.0], 10.0)];
        assert_eq!(
            unviewed_hotspots(&m, &[track[1], short[0]], 0.5, 0.25).len(),
            1
        );
    }
}
