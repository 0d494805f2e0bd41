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

/// The tile grid of one pyramid level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileGrid {
    pub level: u32,
    pub width_px: u64,
    pub height_px: u64,
    pub downsample: f64,
}

impl TileGrid {
    pub fn for_levels(levels: &[Level]) -> Vec<TileGrid> {
        levels
            .iter()
            .enumerate()
            .map(|(i, l)| TileGrid {
                level: i as u32,
                width_px: l.width_px,
                height_px: l.height_px,
                downsample: l.downsample,
            })
            .collect()
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
