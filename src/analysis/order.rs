//! The order tiles are inferred in. In the viewer, what the user is looking at first (nearest the
//! view's centre first), then outwards, so the visible part of the heatmap colours in within a
//! second; otherwise in narrow vertical strips, so that neighbouring model tiles, which share the
//! slide's stored tiles, are read while those are still in OpenSlide's tile cache. Pure.

use super::tissue::GridTile;
use crate::view::Rect;

/// Sorts `tiles` so that those overlapping `view` (level-0) come first, each group by distance
/// from the view's centre. Stable for equal distances (grid order), so runs are reproducible.
pub fn visible_first(tiles: &mut [GridTile], view: Rect) {
    let centre = [(view.x0 + view.x1) / 2.0, (view.y0 + view.y1) / 2.0];
    let key = |t: &GridTile| {
        let visible =
            t.x < view.x1 && t.x + t.size > view.x0 && t.y < view.y1 && t.y + t.size > view.y0;
        let (cx, cy) = (
            t.x + t.size / 2.0 - centre[0],
            t.y + t.size / 2.0 - centre[1],
        );
        (!visible, cx * cx + cy * cy)
    };
    tiles.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
}

/// Model tiles per strip in [`strips`]: 8 tiles of 224 px at 0.5 µm/px are 1.8 mm, 14 stored
/// 256 px tiles at 40x, so the strip's stored tiles of the rows in flight fit in OpenSlide's
/// default 32 MiB cache.
pub const STRIP_TILES: u32 = 8;

/// Sorts `tiles` into vertical strips `width` tiles wide, left to right, each top to bottom in row
/// order. Grid order (whole slide rows) would evict a stored tile before the row below needs it.
pub fn strips(tiles: &mut [GridTile], width: u32) {
    let width = width.max(1);
    tiles.sort_by_key(|t| (t.col / width, t.row, t.col));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(cols: u32, rows: u32, size: f64) -> Vec<GridTile> {
        (0..rows)
            .flat_map(|row| {
                (0..cols).map(move |col| GridTile {
                    col,
                    row,
                    x: f64::from(col) * size,
                    y: f64::from(row) * size,
                    size,
                })
            })
            .collect()
    }

    #[test]
    fn visible_tiles_come_first_nearest_the_centre() {
        let mut tiles = grid(10, 10, 100.0);
        // The view covers cells (6..8, 6..8) and centres on (7, 7).
        let view = Rect {
            x0: 650.0,
            y0: 650.0,
            x1: 850.0,
            y1: 850.0,
        };
        visible_first(&mut tiles, view);
        assert_eq!((tiles[0].col, tiles[0].row), (7, 7));
        let first: Vec<(u32, u32)> = tiles[..9].iter().map(|t| (t.col, t.row)).collect();
        for c in 6..=8 {
            for r in 6..=8 {
                assert!(first.contains(&(c, r)), "({c},{r}) is visible: {first:?}");
            }
        }
        // Then outwards: the nearest invisible ring before the far corner.
        let pos = |c, r| {
            tiles
                .iter()
                .position(|t| (t.col, t.row) == (c, r))
                .expect("present")
        };
        assert!(pos(5, 7) < pos(0, 0));
        assert_eq!(tiles.len(), 100);
    }

    #[test]
    fn strips_go_down_narrow_columns() {
        let mut tiles = grid(5, 3, 10.0);
        strips(&mut tiles, 2);
        let order: Vec<(u32, u32)> = tiles.iter().map(|t| (t.col, t.row)).collect();
        assert_eq!(
            order,
            vec![
                (0, 0),
                (1, 0),
                (0, 1),
                (1, 1),
                (0, 2),
                (1, 2),
                (2, 0),
                (3, 0),
                (2, 1),
                (3, 1),
                (2, 2),
                (3, 2),
                (4, 0),
                (4, 1),
                (4, 2),
            ]
        );
    }
}
