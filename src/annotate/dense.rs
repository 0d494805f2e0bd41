//! Dense annotation sets (detections: 100,000 cell outlines, a million points) as GPU-ready arrays,
//! built once per document revision so a frame never walks the annotations. Pure.
//!
//! Every outline segment, point and fill triangle is an instance in level-0 coordinates, filed
//! under the grid cell that holds its centre; instances are stored cell by cell in row-major
//! order, so the cells a view touches in one grid row are one contiguous range and a frame issues
//! one draw per visible row. Anything longer than a cell (a tumour region's edge) goes to a last
//! bucket that is always drawn. Far out, where the visible instances exceed a budget, a raster of
//! the outlines and points (one texel per `lod_downsample` level-0 pixels) stands in for them.

use std::collections::HashMap;
use std::ops::Range;

use super::{Annotation, Point, Shape};
use crate::view::Rect;

/// Grid cell side, level-0 pixels. Large enough that a cell outline (tens of pixels) fits, small
/// enough that a 40x view touches a handful of cells.
pub const CELL: f64 = 2048.0;

/// Above this many instances in view the level-of-detail raster is drawn instead: at that point
/// the outlines are a few screen pixels each and the raster shows the same picture.
pub const VECTOR_BUDGET: u32 = 400_000;

/// The raster's opacity: where detections cover every texel the tissue still shows through.
pub const RASTER_ALPHA: u8 = 170;

/// The raster's longer side is at most this many texels.
pub const LOD_MAX_SIDE: u64 = 2048;

/// One outline segment: endpoints in level-0 pixels, straight sRGB colour (r, g, b, a in bytes 0-3)
/// and the annotation's position in the document (the one being edited is skipped).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Segment {
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub color: u32,
    pub index: u32,
}

/// One point (drawn as a disc of fixed screen size), or one fill-triangle vertex.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Vertex {
    pub p: [f32; 2],
    pub color: u32,
    pub index: u32,
}

/// Instances filed by grid cell: cell `k`'s are `items[starts[k]..starts[k + 1]]`; the last bucket
/// (`k == cols * rows`) holds those drawn whatever the view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucketed<T> {
    pub items: Vec<T>,
    pub starts: Vec<u32>,
}

/// Which cells a view needs, and how much it would draw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Visible {
    pub segments: Vec<Range<u32>>,
    pub dots: Vec<Range<u32>>,
    /// In triangles' vertices (three per triangle).
    pub fills: Vec<Range<u32>>,
    pub instances: u32,
}

/// What to draw for a view.
#[derive(Debug, Clone, PartialEq)]
pub enum Lod {
    Vectors(Visible),
    Raster,
}

/// The level-of-detail raster: straight RGBA, one texel per `downsample` level-0 pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    pub downsample: f64,
    pub rgba: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    pub cols: u32,
    pub rows: u32,
    pub segments: Bucketed<Segment>,
    pub dots: Bucketed<Vertex>,
    /// Triangle-list vertices; a triangle's three stay together in one bucket.
    pub fills: Bucketed<Vertex>,
    pub raster: Raster,
    /// How far (level-0 pixels) a filed item reaches from the centre it is filed by: a view
    /// widened by this catches every item that overlaps it.
    pub reach: f64,
    /// How many annotations went in (hidden classes and lines excluded).
    pub annotations: usize,
    /// Ids of the lines (drawn by the caller, with their measurement labels).
    pub lines: Vec<String>,
    /// Document position of each annotation id when the layer was built.
    pub index_of: HashMap<String, u32>,
}

/// Packs a straight colour for the shaders (`unpack4x8unorm`).
pub fn pack(rgb: [u8; 3], alpha: u8) -> u32 {
    u32::from_le_bytes([rgb[0], rgb[1], rgb[2], alpha])
}

struct Grid {
    cols: u32,
    rows: u32,
}

impl Grid {
    fn new(extent: (u64, u64)) -> Self {
        let n = |v: u64| ((v as f64 / CELL).ceil() as u32).max(1);
        Self {
            cols: n(extent.0),
            rows: n(extent.1),
        }
    }

    fn cells(&self) -> usize {
        self.cols as usize * self.rows as usize
    }

    /// Column or row of a level-0 coordinate, clamped into the grid: off-slide items go to the
    /// edge cells, which every view past that edge also touches.
    fn at(v: f64, n: u32) -> u32 {
        if v.is_nan() {
            return 0;
        }
        ((v / CELL).floor().max(0.0) as u32).min(n - 1)
    }

    /// The bucket of an item centred at `c` reaching `reach` from it: long ones go everywhere.
    fn bucket(&self, c: Point, reach: f64, widest: &mut f64) -> usize {
        if reach > CELL / 2.0 {
            return self.cells();
        }
        *widest = widest.max(reach);
        Self::at(c[1], self.rows) as usize * self.cols as usize + Self::at(c[0], self.cols) as usize
    }
}

/// Sorts `(bucket, item)` pairs into a [`Bucketed`] of `buckets + 1` buckets (stable: drawing
/// order within a cell is document order).
fn bucketed<T: Copy>(mut pairs: Vec<(usize, T)>, buckets: usize) -> Bucketed<T> {
    pairs.sort_by_key(|(b, _)| *b);
    let mut starts = vec![0u32; buckets + 2];
    for (b, _) in &pairs {
        starts[b + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    Bucketed {
        items: pairs.into_iter().map(|(_, t)| t).collect(),
        starts,
    }
}

fn to_f32(p: Point) -> [f32; 2] {
    [p[0] as f32, p[1] as f32]
}

/// The closed rings of an area shape (rectangles and ellipses as their outline).
fn rings(shape: &Shape) -> Vec<Vec<Point>> {
    match shape {
        Shape::Rectangle { .. } | Shape::Ellipse { .. } => vec![shape.outline()],
        Shape::Area { polygons } => polygons.iter().flatten().cloned().collect(),
        Shape::Points { .. } | Shape::Line { .. } => Vec::new(),
    }
}

impl DenseLayer {
    /// Builds the layer for a slide of `extent` level-0 pixels. `color` gives an annotation's
    /// colour, or `None` when its class is hidden. Lines are left to the caller (they carry a
    /// measurement label); fills are made for areas when `fill`.
    pub fn build(
        items: &[Annotation],
        extent: (u64, u64),
        color: impl Fn(&Annotation) -> Option<[u8; 3]>,
        fill: bool,
    ) -> Self {
        use geo::TriangulateEarcut;
        let grid = Grid::new(extent);
        let mut segments = Vec::new();
        let mut dots = Vec::new();
        let mut fills = Vec::new();
        let mut reach = 0.0f64;
        let mut annotations = 0;
        let mut lines = Vec::new();
        let mut index_of = HashMap::with_capacity(items.len());
        for (i, a) in items.iter().enumerate() {
            let index = i as u32;
            index_of.insert(a.id.clone(), index);
            let Some(rgb) = color(a) else { continue };
            if matches!(a.shape, Shape::Line { .. }) {
                lines.push(a.id.clone());
                continue;
            }
            annotations += 1;
            let line = pack(rgb, 255);
            if let Shape::Points { points } = &a.shape {
                for &p in points {
                    dots.push((
                        grid.bucket(p, 0.0, &mut reach),
                        Vertex {
                            p: to_f32(p),
                            color: line,
                            index,
                        },
                    ));
                }
                continue;
            }
            for ring in rings(&a.shape) {
                for (k, &p) in ring.iter().enumerate() {
                    let q = ring[(k + 1) % ring.len()];
                    let mid = [(p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0];
                    let len = (q[0] - p[0]).hypot(q[1] - p[1]);
                    segments.push((
                        grid.bucket(mid, len / 2.0, &mut reach),
                        Segment {
                            a: to_f32(p),
                            b: to_f32(q),
                            color: line,
                            index,
                        },
                    ));
                }
            }
            if fill && let Some(m) = a.shape.to_multipolygon() {
                let color = pack(rgb, 64);
                for t in m.0.iter().flat_map(|p| p.earcut_triangles()) {
                    let v = [t.v1(), t.v2(), t.v3()].map(|c| [c.x, c.y]);
                    let centre = [
                        (v[0][0] + v[1][0] + v[2][0]) / 3.0,
                        (v[0][1] + v[1][1] + v[2][1]) / 3.0,
                    ];
                    let far = v
                        .iter()
                        .map(|p| (p[0] - centre[0]).hypot(p[1] - centre[1]))
                        .fold(0.0, f64::max);
                    let bucket = grid.bucket(centre, far, &mut reach);
                    for p in v {
                        fills.push((
                            bucket,
                            Vertex {
                                p: to_f32(p),
                                color,
                                index,
                            },
                        ));
                    }
                }
            }
        }
        let raster = Raster::draw(extent, &segments, &dots);
        let cells = grid.cells();
        // Fill vertices sort in threes: the sort is stable and a triangle's share one bucket.
        Self {
            cols: grid.cols,
            rows: grid.rows,
            segments: bucketed(segments, cells),
            dots: bucketed(dots, cells),
            fills: bucketed(fills, cells),
            raster,
            reach,
            annotations,
            lines,
            index_of,
        }
    }

    /// The instance ranges `view` (level-0) needs: the cells it touches once widened by the
    /// items' reach and `margin` (what the drawing adds around them: line width, point discs, in
    /// level-0 pixels), plus the always-drawn bucket.
    pub fn visible(&self, view: Rect, margin: f64) -> Visible {
        let margin = self.reach + margin.max(0.0);
        let c0 = Grid::at(view.x0 - margin, self.cols);
        let c1 = Grid::at(view.x1 + margin, self.cols);
        let r0 = Grid::at(view.y0 - margin, self.rows);
        let r1 = Grid::at(view.y1 + margin, self.rows);
        let everywhere = self.cols as usize * self.rows as usize;
        let ranges = |starts: &[u32]| -> Vec<Range<u32>> {
            let mut out: Vec<Range<u32>> = Vec::new();
            let rows = (r0..=r1).map(|r| {
                let first = r as usize * self.cols as usize;
                starts[first + c0 as usize]..starts[first + c1 as usize + 1]
            });
            for range in rows.chain(std::iter::once(starts[everywhere]..starts[everywhere + 1])) {
                if range.is_empty() {
                    continue;
                }
                match out.last_mut() {
                    Some(last) if last.end == range.start => last.end = range.end,
                    _ => out.push(range),
                }
            }
            out
        };
        let segments = ranges(&self.segments.starts);
        let dots = ranges(&self.dots.starts);
        let fills = ranges(&self.fills.starts);
        let count = |r: &[Range<u32>]| r.iter().map(|r| r.end - r.start).sum::<u32>();
        let instances = count(&segments) + count(&dots) + count(&fills) / 3;
        Visible {
            segments,
            dots,
            fills,
            instances,
        }
    }

    /// Vectors while the view's instances fit the budget, else the raster.
    pub fn lod(&self, view: Rect, margin: f64) -> Lod {
        let v = self.visible(view, margin);
        if v.instances > VECTOR_BUDGET {
            Lod::Raster
        } else {
            Lod::Vectors(v)
        }
    }
}

impl Raster {
    /// Outlines and points drawn one texel wide at the coarsest power-of-two downsample whose
    /// longer side fits [`LOD_MAX_SIDE`].
    fn draw(extent: (u64, u64), segments: &[(usize, Segment)], dots: &[(usize, Vertex)]) -> Self {
        let longer = extent.0.max(extent.1).max(1);
        let mut downsample = 1u64;
        while longer.div_ceil(downsample) > LOD_MAX_SIDE {
            downsample *= 2;
        }
        let width = extent.0.div_ceil(downsample).max(1) as u32;
        let height = extent.1.div_ceil(downsample).max(1) as u32;
        let d = downsample as f32;
        let mut rgba = vec![0u8; width as usize * height as usize * 4];
        let mut plot = |x: f32, y: f32, color: u32| {
            let (tx, ty) = ((x / d).floor(), (y / d).floor());
            if tx >= 0.0 && ty >= 0.0 && tx < width as f32 && ty < height as f32 {
                let at = (ty as usize * width as usize + tx as usize) * 4;
                let [r, g, b, _] = color.to_le_bytes();
                rgba[at..at + 4].copy_from_slice(&[r, g, b, RASTER_ALPHA]);
            }
        };
        for (_, s) in segments {
            // One plot per texel along the segment (and at both ends).
            let steps = ((s.b[0] - s.a[0]).abs().max((s.b[1] - s.a[1]).abs()) / d).ceil() as u32;
            for k in 0..=steps {
                let t = if steps == 0 {
                    0.0
                } else {
                    k as f32 / steps as f32
                };
                plot(
                    s.a[0] + (s.b[0] - s.a[0]) * t,
                    s.a[1] + (s.b[1] - s.a[1]) * t,
                    s.color,
                );
            }
        }
        for (_, v) in dots {
            plot(v.p[0], v.p[1], v.color);
        }
        Self {
            width,
            height,
            downsample: downsample as f64,
            rgba,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell_at(x: f64, y: f64) -> Annotation {
        Annotation::new(
            Shape::Ellipse {
                centre: [x, y],
                radii: [10.0, 8.0],
            },
            Some("Tumor".into()),
        )
    }

    fn red(_: &Annotation) -> Option<[u8; 3]> {
        Some([200, 0, 0])
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Rect {
        Rect { x0, y0, x1, y1 }
    }

    /// The annotation indices a view's ranges draw, each once.
    fn drawn(layer: &DenseLayer, v: &Visible) -> Vec<u32> {
        let mut out: Vec<u32> = v
            .segments
            .iter()
            .flat_map(|r| layer.segments.items[r.start as usize..r.end as usize].iter())
            .map(|s| s.index)
            .chain(
                v.dots
                    .iter()
                    .flat_map(|r| layer.dots.items[r.start as usize..r.end as usize].iter())
                    .map(|d| d.index),
            )
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn a_view_draws_what_it_overlaps_and_skips_far_cells() {
        let items = vec![
            cell_at(100.0, 100.0),
            cell_at(9000.0, 100.0),
            cell_at(100.0, 9000.0),
            cell_at(5000.0, 5000.0),
        ];
        let layer = DenseLayer::build(&items, (10_000, 10_000), red, true);
        assert_eq!((layer.cols, layer.rows), (5, 5));
        assert_eq!(
            layer.segments.items.len(),
            4 * crate::annotate::shape::ELLIPSE_VERTICES
        );
        let v = layer.visible(rect(0.0, 0.0, 500.0, 500.0), 0.0);
        assert_eq!(drawn(&layer, &v), [0]);
        // One view row and the buckets next to it: a single contiguous range.
        assert_eq!(v.segments.len(), 1);
        assert_eq!(v.fills.iter().map(|r| r.end - r.start).sum::<u32>() % 3, 0);
        let v = layer.visible(rect(4500.0, 4500.0, 5500.0, 5500.0), 0.0);
        assert_eq!(drawn(&layer, &v), [3]);
        let all = layer.visible(rect(0.0, 0.0, 10_000.0, 10_000.0), 0.0);
        assert_eq!(drawn(&layer, &all), [0, 1, 2, 3]);
        assert_eq!(
            drawn(&layer, &layer.visible(rect(0.0, 0.0, 2045.0, 2045.0), 0.0)),
            [0]
        );
        // A fill triangle filed in the next cell (by its centroid) that reaches into the view is
        // drawn: the view is widened by the layer's reach.
        let wide = Annotation::new(Shape::rectangle([2030.0, 100.0], [2200.0, 160.0]), None);
        let edge = DenseLayer::build(&[wide], (10_000, 10_000), red, true);
        assert!(edge.fills.starts[1] == 0, "no triangle is filed in cell 0");
        assert!(edge.reach > 50.0, "{}", edge.reach);
        let v = edge.visible(rect(0.0, 0.0, 2040.0, 2040.0), 0.0);
        assert_eq!(v.fills.iter().map(|r| r.end - r.start).sum::<u32>(), 6);
        // Culling is by grid cell: a view cells away draws none of it.
        let far = edge.visible(rect(5000.0, 5000.0, 6000.0, 6000.0), 0.0);
        assert_eq!(far.instances, 0);
    }

    #[test]
    fn the_margin_reaches_point_discs_centred_outside_the_view() {
        let items = vec![Annotation::new(
            Shape::Points {
                points: vec![[2100.0, 100.0]],
            },
            None,
        )];
        let layer = DenseLayer::build(&items, (10_000, 10_000), red, false);
        assert_eq!(layer.reach, 0.0);
        let view = rect(0.0, 0.0, 2040.0, 2040.0);
        assert!(drawn(&layer, &layer.visible(view, 0.0)).is_empty());
        assert_eq!(drawn(&layer, &layer.visible(view, 100.0)), [0]);
    }

    #[test]
    fn long_edges_are_drawn_from_anywhere_and_hidden_classes_not_at_all() {
        let big = Annotation::new(
            Shape::rectangle([0.0, 0.0], [9000.0, 9000.0]),
            Some("Stroma".into()),
        );
        let items = vec![big, cell_at(300.0, 300.0)];
        let color = |a: &Annotation| (a.class.as_deref() != Some("Tumor")).then_some([0, 200, 0]);
        let layer = DenseLayer::build(&items, (10_000, 10_000), color, true);
        assert_eq!(layer.annotations, 1);
        // The rectangle's edges are 9000 px long: in the last bucket, drawn from the middle.
        let v = layer.visible(rect(4000.0, 4000.0, 4100.0, 4100.0), 0.0);
        assert_eq!(drawn(&layer, &v), [0]);
        assert_eq!(v.segments.iter().map(|r| r.end - r.start).sum::<u32>(), 4);
        // Its fill's two triangles are long too.
        assert_eq!(v.fills.iter().map(|r| r.end - r.start).sum::<u32>(), 6);
        assert!(
            layer
                .fills
                .items
                .iter()
                .all(|f| f.color == pack([0, 200, 0], 64))
        );
    }

    #[test]
    fn points_are_filed_one_by_one_and_the_raster_takes_over_past_the_budget() {
        let n = 1000u32;
        let points: Vec<Point> = (0..n)
            .flat_map(|i| {
                (0..n).map(move |j| [f64::from(i) * 10.0 + 5.0, f64::from(j) * 10.0 + 5.0])
            })
            .collect();
        let items = vec![Annotation::new(Shape::Points { points }, None)];
        let layer = DenseLayer::build(&items, (10_000, 10_000), red, false);
        assert_eq!(layer.dots.items.len(), 1_000_000);
        // A 40x-sized view needs a few cells' worth, not the million.
        let near = layer.visible(rect(3000.0, 3000.0, 4000.0, 3600.0), 0.0);
        assert!(near.instances < 200_000, "{}", near.instances);
        assert!(near.instances >= 100 * 60);
        assert!(matches!(
            layer.lod(rect(3000.0, 3000.0, 4000.0, 3600.0), 0.0),
            Lod::Vectors(_)
        ));
        assert_eq!(
            layer.lod(rect(0.0, 0.0, 10_000.0, 10_000.0), 0.0),
            Lod::Raster
        );
        // 10,000 px fits 2048 texels at downsample 8; every texel under the grid of points is set.
        let r = &layer.raster;
        assert_eq!((r.width, r.height, r.downsample), (1250, 1250, 8.0));
        let at = |x: u32, y: u32| {
            let i = (y as usize * r.width as usize + x as usize) * 4;
            [r.rgba[i], r.rgba[i + 1], r.rgba[i + 2], r.rgba[i + 3]]
        };
        assert_eq!(at(0, 0), [200, 0, 0, RASTER_ALPHA]);
        assert_eq!(at(1249, 1249), [200, 0, 0, RASTER_ALPHA]);
    }

    #[test]
    fn the_raster_draws_outlines_and_leaves_the_inside_clear() {
        let items = vec![Annotation::new(
            Shape::rectangle([1000.0, 1000.0], [5000.0, 3000.0]),
            None,
        )];
        let layer = DenseLayer::build(&items, (8192, 4096), red, true);
        let r = &layer.raster;
        assert_eq!((r.width, r.height, r.downsample), (2048, 1024, 4.0));
        let alpha = |x: u32, y: u32| r.rgba[(y as usize * r.width as usize + x as usize) * 4 + 3];
        assert_eq!(alpha(250, 250), RASTER_ALPHA);
        assert_eq!(alpha(700, 250), RASTER_ALPHA);
        assert_eq!(alpha(1250, 500), RASTER_ALPHA);
        assert_eq!(alpha(700, 500), 0);
        assert_eq!(alpha(100, 100), 0);
    }
}
