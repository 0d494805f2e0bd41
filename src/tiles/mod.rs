//! The tile pipeline: which tiles a view needs ([`schedule`]), byte-bounded caches ([`cache`]) and
//! the worker threads that read them off the UI thread ([`loader`]).

pub mod cache;
pub mod loader;
pub mod schedule;

use crate::slide::Level;
use crate::view::Rect;

/// Edge length of a viewer tile in level pixels (independent of the file's own tiling).
pub const TILE_PX: u32 = 256;
/// Extra pixels read around each tile, so linear filtering at tile edges samples the real
/// neighbouring pixels instead of clamping: this is what removes seams between tiles.
pub const GUTTER_PX: u32 = 1;

/// A tile: level, column, row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub level: u32,
    pub col: u32,
    pub row: u32,
}

/// The tile grid of one displayed level: a pyramid level of the slide, or one read from a pyramid
/// level at 1/`reduce` of its size to fill a wide gap between two levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileGrid {
    /// Index of this grid among the displayed levels (what [`TileId::level`] names).
    pub level: u32,
    /// The slide's pyramid level the pixels come from.
    pub source_level: u32,
    /// Each pixel of this grid stands for `reduce` x `reduce` pixels of the source level.
    pub reduce: u32,
    pub width_px: u64,
    pub height_px: u64,
    pub downsample: f64,
}

/// Reduction factors offered between two pyramid levels (what JPEG's reduced IDCT decodes).
const REDUCTIONS: [u32; 3] = [2, 4, 8];

impl TileGrid {
    /// The displayed levels of a pyramid, finest first: every slide level, and between two levels
    /// more than 3x apart, the source level reduced 2x (and 4x, 8x while the next level is still
    /// more than 1.5x coarser).
    ///
    /// Why: slides step 4x between levels, so a 20x view of a 40x slide would draw level 0 at half
    /// size: four times the tiles to read, upload and mipmap of a 40x view. Read at half size
    /// instead (JPEG decodes it directly at 1/2), a 20x jump costs what a 40x jump does, and no
    /// level is ever shown minified by more than 2x.
    pub fn for_display(levels: &[Level]) -> Vec<TileGrid> {
        let mut grids = Vec::with_capacity(levels.len() * 2);
        for (i, l) in levels.iter().enumerate() {
            let next = levels.get(i + 1).map(|n| n.downsample);
            for reduce in std::iter::once(1).chain(REDUCTIONS) {
                let downsample = l.downsample * f64::from(reduce);
                if reduce > 1 && next.is_none_or(|n| downsample * 1.5 >= n) {
                    break;
                }
                grids.push(TileGrid {
                    level: grids.len() as u32,
                    source_level: i as u32,
                    reduce,
                    width_px: l.width_px.div_ceil(u64::from(reduce)),
                    height_px: l.height_px.div_ceil(u64::from(reduce)),
                    downsample,
                });
            }
        }
        grids
    }

    pub fn cols(&self) -> u32 {
        self.width_px.div_ceil(u64::from(TILE_PX)) as u32
    }

    pub fn rows(&self) -> u32 {
        self.height_px.div_ceil(u64::from(TILE_PX)) as u32
    }

    /// The level-0 area a tile covers (its full 256 px square, even past the slide edge).
    pub fn slide_rect(&self, col: u32, row: u32) -> Rect {
        let s = f64::from(TILE_PX) * self.downsample;
        Rect {
            x0: f64::from(col) * s,
            y0: f64::from(row) * s,
            x1: f64::from(col + 1) * s,
            y1: f64::from(row + 1) * s,
        }
    }

    /// Columns and rows of the tiles that intersect `area` (level-0 px), clamped to the grid.
    pub fn range(&self, area: Rect) -> Option<(std::ops::Range<u32>, std::ops::Range<u32>)> {
        let s = f64::from(TILE_PX) * self.downsample;
        let c0 = (area.x0 / s).floor().max(0.0);
        let r0 = (area.y0 / s).floor().max(0.0);
        let c1 = (area.x1 / s).ceil().min(f64::from(self.cols()));
        let r1 = (area.y1 / s).ceil().min(f64::from(self.rows()));
        (c0 < c1 && r0 < r1).then_some((c0 as u32..c1 as u32, r0 as u32..r1 as u32))
    }

    pub fn id(&self, col: u32, row: u32) -> TileId {
        TileId {
            level: self.level,
            col,
            row,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(width_px: u64, height_px: u64, downsample: f64) -> Level {
        Level {
            width_px,
            height_px,
            downsample,
            tile_size_px: Some((256, 256)),
        }
    }

    #[test]
    fn wide_gaps_between_levels_get_reduced_grids() {
        // An Aperio-like pyramid: 4x, then 16x, then 2.5x.
        let levels = [
            level(100_001, 80_000, 1.0),
            level(25_001, 20_000, 4.000_04),
            level(1_563, 1_250, 64.0),
            level(625, 500, 160.0),
        ];
        let grids = TileGrid::for_display(&levels);
        let seen: Vec<(u32, u32, f64)> = grids
            .iter()
            .map(|g| (g.source_level, g.reduce, g.downsample))
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, 1, 1.0),
                (0, 2, 2.0),
                (1, 1, 4.000_04),
                (1, 2, 8.000_08),
                (1, 4, 16.000_16),
                (1, 8, 32.000_32),
                (2, 1, 64.0),
                (3, 1, 160.0),
            ]
        );
        for (i, g) in grids.iter().enumerate() {
            assert_eq!(g.level as usize, i, "tile ids index the displayed grids");
        }
        // A reduced grid keeps the partial pixel at the edge.
        assert_eq!((grids[1].width_px, grids[1].height_px), (50_001, 40_000));
        assert_eq!(grids[5].width_px, 3_126);
    }

    #[test]
    fn close_levels_are_shown_as_they_are() {
        let levels = [
            level(4_000, 3_000, 1.0),
            level(2_000, 1_500, 2.0),
            level(667, 500, 6.0),
        ];
        let grids = TileGrid::for_display(&levels);
        assert_eq!(grids.len(), 3);
        assert!(grids.iter().all(|g| g.reduce == 1));
        assert_eq!(
            grids.iter().map(|g| g.source_level).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }
}
