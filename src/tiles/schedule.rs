//! Which tiles to fetch, most urgent first. Pure: the loader's queue is replaced by this list on
//! every view change, which is also how requests that left the view get cancelled.

use super::{TileGrid, TileId};
use crate::view::{Rect, Viewport};

/// Tiles of `grid` intersecting `area`, nearest `centre` first.
pub fn tiles_by_distance(grid: &TileGrid, area: Rect, centre: [f64; 2]) -> Vec<TileId> {
    let Some((cols, rows)) = grid.range(area) else {
        return Vec::new();
    };
    let mut tiles: Vec<(f64, TileId)> = rows
        .flat_map(|r| cols.clone().map(move |c| (c, r)))
        .map(|(c, r)| {
            let m = grid.slide_rect(c, r).centre();
            let d = (m[0] - centre[0]).powi(2) + (m[1] - centre[1]).powi(2);
            (d, grid.id(c, r))
        })
        .collect();
    tiles.sort_by(|a, b| a.0.total_cmp(&b.0));
    tiles.into_iter().map(|(_, t)| t).collect()
}

/// The fetch order for a view drawn at level `target`:
/// 1. the coarsest level under the view (few tiles; the view is never blank),
/// 2. the visible tiles of the target level, nearest the centre first,
/// 3. a one-tile ring around the view at the target level (panning),
/// 4. the next coarser level under the view (zooming out, and a better fallback),
/// 5. the tiles of the next finer level that a zoom in to it around the centre would show.
pub fn plan(view: &Viewport, grids: &[TileGrid], target: usize) -> Vec<TileId> {
    let Some(coarsest) = grids.last() else {
        return Vec::new();
    };
    let visible = view.visible();
    let centre = view.centre;
    let mut out = tiles_by_distance(coarsest, visible, centre);
    let t = &grids[target];
    out.extend(tiles_by_distance(t, visible, centre));
    let pad = f64::from(super::TILE_PX) * t.downsample;
    let ring_area = Rect {
        x0: visible.x0 - pad,
        y0: visible.y0 - pad,
        x1: visible.x1 + pad,
        y1: visible.y1 + pad,
    };
    out.extend(tiles_by_distance(t, ring_area, centre));
    if let Some(coarser) = grids.get(target + 1) {
        out.extend(tiles_by_distance(coarser, visible, centre));
    }
    if target > 0 {
        // Zooming in from a level read at half size to the full level at the same place (20x to
        // 40x) is the commonest move; this makes it instant once the prefetch is done.
        let finer = &grids[target - 1];
        let k = finer.downsample / t.downsample / 2.0;
        let (hw, hh) = ((visible.x1 - visible.x0) * k, (visible.y1 - visible.y0) * k);
        let zoomed_in = Rect {
            x0: centre[0] - hw,
            y0: centre[1] - hh,
            x1: centre[0] + hw,
            y1: centre[1] + hh,
        };
        out.extend(tiles_by_distance(finer, zoomed_in, centre));
    }
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    out.retain(|t| seen.insert(*t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grids() -> Vec<TileGrid> {
        [
            (100_000u64, 80_000u64, 1.0),
            (25_000, 20_000, 4.0),
            (6_250, 5_000, 16.0),
            (1_563, 1_250, 64.0),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(w, h, ds))| TileGrid {
            level: i as u32,
            source_level: i as u32,
            reduce: 1,
            width_px: w,
            height_px: h,
            downsample: ds,
        })
        .collect()
    }

    fn view() -> Viewport {
        Viewport {
            centre: [50_000.0, 40_000.0],
            zoom: 1.0,
            size: [1920.0, 1080.0],
            pixels_per_point: 1.0,
        }
    }

    #[test]
    fn visible_target_tiles_cover_the_view_nearest_centre_first() {
        let g = grids();
        let v = view();
        let plan = plan(&v, &g, 0);
        // Coarsest first: one tile of level 3 covers the 1920x1080 view at 64x.
        assert_eq!(plan[0].level, 3);
        let target: Vec<_> = plan
            .iter()
            .skip_while(|t| t.level == 3)
            .take_while(|t| t.level == 0)
            .collect();
        // The view spans x 49040..50960 and y 39460..40540: columns 191..=199, rows 154..=158.
        let mut cols: Vec<u32> = target.iter().map(|t| t.col).collect();
        cols.sort();
        cols.dedup();
        // Visible columns are 191..=199; the ring adds one on each side.
        assert_eq!(cols.first(), Some(&190));
        assert_eq!(cols.last(), Some(&200));
        // The first target tile is the one under the centre.
        assert_eq!((target[0].col, target[0].row), (195, 156));
        let first9: Vec<_> = target.iter().take(45).map(|t| (t.col, t.row)).collect();
        for c in 191..=199 {
            for r in 154..=158 {
                assert!(
                    first9.contains(&(c, r)),
                    "visible tile ({c},{r}) not before the ring"
                );
            }
        }
    }

    #[test]
    fn plan_includes_neighbour_levels_and_no_duplicates() {
        let g = grids();
        let mut v = view();
        v.zoom = 0.25;
        let p = plan(&v, &g, 1);
        assert!(p.iter().any(|t| t.level == 2), "coarser prefetch");
        // Level 0 where a 4x zoom in at the centre lands: the 1920 x 1080 px middle of the view
        // (which spans 7680 x 4320 px of level 0), columns 191..=199 and rows 154..=158.
        let finer: Vec<(u32, u32)> = p
            .iter()
            .filter(|t| t.level == 0)
            .map(|t| (t.col, t.row))
            .collect();
        assert_eq!(finer.len(), 9 * 5);
        assert_eq!(finer[0], (195, 156), "the centre first");
        assert!(
            finer
                .iter()
                .all(|&(c, r)| (191..=199).contains(&c) && (154..=158).contains(&r))
        );
        let mut sorted = p.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), p.len());
    }

    #[test]
    fn views_off_the_slide_need_nothing_there() {
        let g = grids();
        let mut v = view();
        v.centre = [-10_000.0, -10_000.0];
        assert!(plan(&v, &g, 0).is_empty());
    }
}
