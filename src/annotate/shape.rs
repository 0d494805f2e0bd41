//! Annotation geometry in level-0 slide pixels, and what a pathologist measures on it (area,
//! perimeter, length in µm), hit-testing for selection, and editing by vertex. Pure.

use geo::{Area, BooleanOps, Contains, Coord, LineString, MultiPolygon, Polygon};
use serde::{Deserialize, Serialize};

/// A level-0 pixel position.
pub type Point = [f64; 2];

/// Vertices used for an ellipse wherever a polygon is needed (export, masks, boolean operations).
pub const ELLIPSE_VERTICES: usize = 72;
/// The largest coordinate an imported annotation may have, level-0 px: 1e8 px is 25 m at
/// 0.25 µm/px, far beyond any slide. Larger values are a broken or hostile file; geometry
/// operations lose all precision there.
pub const MAX_COORDINATE: f64 = 1e8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Shape {
    Rectangle {
        min: Point,
        max: Point,
    },
    Ellipse {
        centre: Point,
        radii: Point,
    },
    /// Polygons with holes (polygon, freehand and brush tools, imported areas): per polygon the
    /// exterior ring, then its holes; rings are open (the first vertex is not repeated).
    Area {
        polygons: Vec<Vec<Vec<Point>>>,
    },
    Points {
        points: Vec<Point>,
    },
    /// A ruler (two points) or a polyline.
    Line {
        points: Vec<Point>,
    },
}

/// What a shape measures, in µm.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measures {
    pub area_um2: f64,
    pub perimeter_um: f64,
    /// Length of a line; 0 for other shapes.
    pub length_um: f64,
}

impl Shape {
    /// A rectangle from two corners in any order.
    pub fn rectangle(a: Point, b: Point) -> Self {
        Shape::Rectangle {
            min: [a[0].min(b[0]), a[1].min(b[1])],
            max: [a[0].max(b[0]), a[1].max(b[1])],
        }
    }

    /// The ellipse inscribed in the box with corners `a` and `b`.
    pub fn ellipse_in(a: Point, b: Point) -> Self {
        Shape::Ellipse {
            centre: [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0],
            radii: [(a[0] - b[0]).abs() / 2.0, (a[1] - b[1]).abs() / 2.0],
        }
    }

    /// One polygon without holes.
    pub fn polygon(ring: Vec<Point>) -> Self {
        Shape::Area {
            polygons: vec![vec![ring]],
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Rectangle { .. } => "rectangle",
            Shape::Ellipse { .. } => "ellipse",
            Shape::Area { .. } => "polygon",
            Shape::Points { .. } => "points",
            Shape::Line { .. } => "line",
        }
    }

    /// Whether the shape encloses an area (as opposed to points and lines).
    pub fn is_area(&self) -> bool {
        matches!(
            self,
            Shape::Rectangle { .. } | Shape::Ellipse { .. } | Shape::Area { .. }
        )
    }

    /// Whether the shape is one the app could have made: every coordinate finite and within
    /// [`MAX_COORDINATE`], ellipse radii and rectangle sides not negative, and enough vertices for
    /// its kind. What every reader of stored or handed-over shapes (the store, review bundles)
    /// checks, so a damaged or hostile record cannot send the geometry code into a loop over
    /// 1e18 px or a polygon with no ring.
    pub fn check(&self) -> Result<(), String> {
        let coordinate = |p: &Point| -> Result<(), String> {
            if p.iter().all(|v| v.is_finite() && v.abs() <= MAX_COORDINATE) {
                Ok(())
            } else {
                Err(format!(
                    "position [{}, {}] is not within ±{MAX_COORDINATE:e} px",
                    p[0], p[1]
                ))
            }
        };
        let at_least = |n: usize, what: &str, found: usize| -> Result<(), String> {
            if found >= n {
                Ok(())
            } else {
                Err(format!("{what} needs at least {n} vertices, found {found}"))
            }
        };
        match self {
            Shape::Rectangle { min, max } => {
                coordinate(min)?;
                coordinate(max)?;
                if min[0] > max[0] || min[1] > max[1] {
                    return Err(format!(
                        "rectangle corners [{}, {}] and [{}, {}] are the wrong way round",
                        min[0], min[1], max[0], max[1]
                    ));
                }
            }
            Shape::Ellipse { centre, radii } => {
                coordinate(centre)?;
                if !radii.iter().all(|r| r.is_finite() && *r >= 0.0) {
                    return Err(format!(
                        "ellipse radii [{}, {}] must be finite and not negative",
                        radii[0], radii[1]
                    ));
                }
                let [x0, y0, x1, y1] = self.bbox();
                coordinate(&[x0, y0])?;
                coordinate(&[x1, y1])?;
            }
            Shape::Area { polygons } => {
                if polygons.is_empty() {
                    return Err("an area with no polygon".into());
                }
                for rings in polygons {
                    if rings.is_empty() {
                        return Err("a polygon with no ring".into());
                    }
                    for ring in rings {
                        at_least(3, "a polygon ring", ring.len())?;
                        ring.iter().try_for_each(coordinate)?;
                    }
                }
            }
            Shape::Points { points } => {
                at_least(1, "a point set", points.len())?;
                points.iter().try_for_each(coordinate)?;
            }
            Shape::Line { points } => {
                at_least(2, "a line", points.len())?;
                points.iter().try_for_each(coordinate)?;
            }
        }
        Ok(())
    }

    /// Deserializes a shape and [`Shape::check`]s it (for `#[serde(deserialize_with)]`).
    pub fn deserialize_checked<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shape = Shape::deserialize(d)?;
        shape.check().map_err(serde::de::Error::custom)?;
        Ok(shape)
    }

    /// Whether the shape is too small to keep (a click without a drag, a polygon of two points).
    pub fn is_degenerate(&self) -> bool {
        match self {
            Shape::Rectangle { min, max } => max[0] - min[0] <= 0.0 || max[1] - min[1] <= 0.0,
            Shape::Ellipse { radii, .. } => radii[0] <= 0.0 || radii[1] <= 0.0,
            Shape::Area { .. } => self.area_px() <= 0.0,
            Shape::Points { points } => points.is_empty(),
            Shape::Line { points } => {
                points.len() < 2 || polyline_length(points, [1.0, 1.0]) <= 0.0
            }
        }
    }

    /// Bounding box [x0, y0, x1, y1] in level-0 pixels.
    pub fn bbox(&self) -> [f64; 4] {
        match self {
            Shape::Rectangle { min, max } => [min[0], min[1], max[0], max[1]],
            Shape::Ellipse { centre, radii } => [
                centre[0] - radii[0],
                centre[1] - radii[1],
                centre[0] + radii[0],
                centre[1] + radii[1],
            ],
            _ => {
                let mut b = [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ];
                for p in self.vertices() {
                    b = [
                        b[0].min(p[0]),
                        b[1].min(p[1]),
                        b[2].max(p[0]),
                        b[3].max(p[1]),
                    ];
                }
                b
            }
        }
    }

    /// The editable vertices, in a stable order: rectangle corners (clockwise from the top-left),
    /// the ellipse's right and bottom extremes, every ring vertex, every point.
    pub fn vertices(&self) -> Vec<Point> {
        match self {
            Shape::Rectangle { min, max } => {
                vec![*min, [max[0], min[1]], *max, [min[0], max[1]]]
            }
            Shape::Ellipse { centre, radii } => vec![
                [centre[0] + radii[0], centre[1]],
                [centre[0], centre[1] + radii[1]],
            ],
            Shape::Area { polygons } => polygons.iter().flatten().flatten().copied().collect(),
            Shape::Points { points } | Shape::Line { points } => points.clone(),
        }
    }

    /// Moves vertex `index` (as numbered by [`Shape::vertices`]) to `to`. A rectangle keeps the
    /// opposite corner fixed; an ellipse changes that radius.
    pub fn set_vertex(&mut self, index: usize, to: Point) {
        match self {
            Shape::Rectangle { min, max } => {
                let opposite = match index % 4 {
                    0 => *max,
                    1 => [min[0], max[1]],
                    2 => *min,
                    _ => [max[0], min[1]],
                };
                *self = Shape::rectangle(opposite, to);
            }
            Shape::Ellipse { centre, radii } => match index {
                0 => radii[0] = (to[0] - centre[0]).abs(),
                _ => radii[1] = (to[1] - centre[1]).abs(),
            },
            Shape::Area { polygons } => {
                if let Some(p) = polygons.iter_mut().flatten().flatten().nth(index) {
                    *p = to;
                }
            }
            Shape::Points { points } | Shape::Line { points } => {
                if let Some(p) = points.get_mut(index) {
                    *p = to;
                }
            }
        }
    }

    pub fn translate(&mut self, d: Point) {
        let mv = |p: &mut Point| {
            p[0] += d[0];
            p[1] += d[1];
        };
        match self {
            Shape::Rectangle { min, max } => {
                mv(min);
                mv(max);
            }
            Shape::Ellipse { centre, .. } => mv(centre),
            Shape::Area { polygons } => polygons.iter_mut().flatten().flatten().for_each(mv),
            Shape::Points { points } | Shape::Line { points } => points.iter_mut().for_each(mv),
        }
    }

    /// The enclosed region as polygons (an ellipse as a [`ELLIPSE_VERTICES`]-gon); `None` for
    /// points and lines.
    pub fn to_multipolygon(&self) -> Option<MultiPolygon<f64>> {
        let ring = |r: &[Point]| -> LineString<f64> {
            let mut c: Vec<Coord<f64>> = r.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
            if let Some(&first) = c.first() {
                c.push(first);
            }
            LineString(c)
        };
        let rings: Vec<Vec<Vec<Point>>> = match self {
            Shape::Rectangle { .. } | Shape::Ellipse { .. } => vec![vec![self.outline()]],
            Shape::Area { polygons } => polygons.clone(),
            Shape::Points { .. } | Shape::Line { .. } => return None,
        };
        Some(MultiPolygon(
            rings
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| Polygon::new(ring(&p[0]), p[1..].iter().map(|h| ring(h)).collect()))
                .collect(),
        ))
    }

    /// The outline of a rectangle or ellipse as one open ring (clockwise on screen, y down).
    pub fn outline(&self) -> Vec<Point> {
        match self {
            Shape::Rectangle { .. } => self.vertices(),
            Shape::Ellipse { centre, radii } => (0..ELLIPSE_VERTICES)
                .map(|i| {
                    let t = std::f64::consts::TAU * i as f64 / ELLIPSE_VERTICES as f64;
                    [
                        centre[0] + radii[0] * t.cos(),
                        centre[1] + radii[1] * t.sin(),
                    ]
                })
                .collect(),
            Shape::Area { polygons } => polygons
                .first()
                .and_then(|p| p.first())
                .cloned()
                .unwrap_or_default(),
            Shape::Points { points } | Shape::Line { points } => points.clone(),
        }
    }

    /// Enclosed area in level-0 pixels² (holes excluded).
    pub fn area_px(&self) -> f64 {
        match self {
            Shape::Rectangle { min, max } => (max[0] - min[0]) * (max[1] - min[1]),
            Shape::Ellipse { radii, .. } => std::f64::consts::PI * radii[0] * radii[1],
            Shape::Area { .. } => self.to_multipolygon().map_or(0.0, |m| m.unsigned_area()),
            Shape::Points { .. } | Shape::Line { .. } => 0.0,
        }
    }

    /// Area, perimeter and length in µm for a slide of `mpp` (x, y) µm per level-0 pixel.
    pub fn measure(&self, mpp: Point) -> Measures {
        let area_um2 = self.area_px() * mpp[0] * mpp[1];
        match self {
            Shape::Line { points } => Measures {
                length_um: polyline_length(points, mpp),
                ..Default::default()
            },
            Shape::Points { .. } => Measures::default(),
            Shape::Ellipse { radii, .. } => {
                // Ramanujan's second approximation: exact for circles, within 1e-9 relative for
                // any ellipse a slide shows.
                let (a, b) = (radii[0] * mpp[0], radii[1] * mpp[1]);
                let h = ((a - b) / (a + b)).powi(2);
                let perimeter_um = if a + b == 0.0 {
                    0.0
                } else {
                    std::f64::consts::PI
                        * (a + b)
                        * (1.0 + 3.0 * h / (10.0 + (4.0 - 3.0 * h).sqrt()))
                };
                Measures {
                    area_um2,
                    perimeter_um,
                    length_um: 0.0,
                }
            }
            Shape::Rectangle { .. } => Measures {
                area_um2,
                perimeter_um: ring_length(&self.vertices(), mpp),
                length_um: 0.0,
            },
            Shape::Area { polygons } => Measures {
                area_um2,
                perimeter_um: polygons.iter().flatten().map(|r| ring_length(r, mpp)).sum(),
                length_um: 0.0,
            },
        }
    }

    /// Whether `p` selects the shape: inside an area (not in a hole), or within `tolerance`
    /// level-0 pixels of a point or a line.
    pub fn hit(&self, p: Point, tolerance: f64) -> bool {
        match self {
            Shape::Rectangle { min, max } => {
                p[0] >= min[0] && p[0] <= max[0] && p[1] >= min[1] && p[1] <= max[1]
            }
            Shape::Ellipse { centre, radii } => {
                let dx = (p[0] - centre[0]) / radii[0].max(1e-9);
                let dy = (p[1] - centre[1]) / radii[1].max(1e-9);
                dx * dx + dy * dy <= 1.0
            }
            Shape::Area { .. } => self
                .to_multipolygon()
                .is_some_and(|m| m.contains(&geo::Point::new(p[0], p[1]))),
            Shape::Points { points } => points
                .iter()
                .any(|q| (q[0] - p[0]).hypot(q[1] - p[1]) <= tolerance),
            Shape::Line { points } => points
                .windows(2)
                .any(|w| segment_distance(p, w[0], w[1]) <= tolerance),
        }
    }

    /// This area with `other` added (`erase`: taken away), as an [`Shape::Area`]: the brush.
    /// `None` when either is not an area.
    pub fn combine(&self, other: &Shape, erase: bool) -> Option<Shape> {
        let (a, b) = (self.to_multipolygon()?, other.to_multipolygon()?);
        let m = if erase { a.difference(&b) } else { a.union(&b) };
        Some(from_multipolygon(&m))
    }
}

/// Polygons with holes from geo (closing vertices dropped).
pub fn from_multipolygon(m: &MultiPolygon<f64>) -> Shape {
    let ring = |l: &LineString<f64>| -> Vec<Point> {
        let mut v: Vec<Point> = l.0.iter().map(|c| [c.x, c.y]).collect();
        if v.len() > 1 && v.first() == v.last() {
            v.pop();
        }
        v
    };
    Shape::Area {
        polygons: m
            .0
            .iter()
            .map(|p| {
                std::iter::once(ring(p.exterior()))
                    .chain(p.interiors().iter().map(ring))
                    .collect()
            })
            .collect(),
    }
}

/// A disc as a polygon (one dab of the brush).
pub fn disc(centre: Point, radius: f64) -> Shape {
    Shape::Ellipse {
        centre,
        radii: [radius, radius],
    }
}

fn polyline_length(points: &[Point], mpp: Point) -> f64 {
    points
        .windows(2)
        .map(|w| ((w[1][0] - w[0][0]) * mpp[0]).hypot((w[1][1] - w[0][1]) * mpp[1]))
        .sum()
}

fn ring_length(ring: &[Point], mpp: Point) -> f64 {
    let mut closed = ring.to_vec();
    if let Some(&first) = ring.first() {
        closed.push(first);
    }
    polyline_length(&closed, mpp)
}

fn segment_distance(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    };
    (p[0] - (a[0] + t * dx)).hypot(p[1] - (a[1] + t * dy))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MPP: Point = [0.25, 0.25];

    fn square(x: f64, y: f64, s: f64) -> Vec<Point> {
        vec![[x, y], [x + s, y], [x + s, y + s], [x, y + s]]
    }

    /// Shapes no tool can draw (a bundle's read held a ruler to x = 1e18 and an ellipse of radii
    /// 1e18, and every report over it hung) are refused, saying what is wrong; drawn ones pass.
    #[test]
    fn check_refuses_shapes_the_app_cannot_make() {
        let refused = |s: Shape, what: &str| {
            let e = s.check().expect_err(what);
            assert!(e.contains(what), "{e} (expected {what:?})");
        };
        refused(
            Shape::Line {
                points: vec![[0.0, 0.0], [1e18, 5.0]],
            },
            "not within",
        );
        refused(
            Shape::Ellipse {
                centre: [10.0, 10.0],
                radii: [1e18, 1e18],
            },
            "not within",
        );
        refused(
            Shape::Ellipse {
                centre: [10.0, 10.0],
                radii: [-1.0, 3.0],
            },
            "not negative",
        );
        refused(
            Shape::Rectangle {
                min: [5.0, 5.0],
                max: [1.0, 9.0],
            },
            "wrong way round",
        );
        refused(
            Shape::Area {
                polygons: Vec::new(),
            },
            "no polygon",
        );
        refused(
            Shape::Area {
                polygons: vec![Vec::new()],
            },
            "no ring",
        );
        refused(Shape::polygon(vec![[0.0, 0.0], [1.0, 1.0]]), "at least 3");
        refused(Shape::Points { points: Vec::new() }, "at least 1");
        refused(
            Shape::Points {
                points: vec![[f64::NAN, 0.0]],
            },
            "not within",
        );
        refused(
            Shape::Line {
                points: vec![[0.0, 0.0]],
            },
            "at least 2",
        );
        for ok in [
            Shape::rectangle([0.0, 0.0], [10.0, 10.0]),
            Shape::ellipse_in([0.0, 0.0], [10.0, 4.0]),
            Shape::polygon(square(0.0, 0.0, 5.0)),
            Shape::Points {
                points: vec![[1.0, 2.0]],
            },
            Shape::Line {
                points: vec![[0.0, 0.0], [3.0, 4.0]],
            },
        ] {
            assert_eq!(ok.check(), Ok(()), "{ok:?}");
        }
        // Deserializing an annotation checks its shape.
        let json = r#"{"id":"a","shape":{"kind":"ellipse","centre":[1,1],"radii":[1e18,1e18]},"class":null}"#;
        let e = serde_json::from_str::<crate::annotate::Annotation>(json).expect_err("refused");
        assert!(e.to_string().contains("not within"), "{e}");
    }

    #[test]
    fn rectangle_measures_in_microns() {
        // 400 x 200 px at 0.25 µm/px = 100 x 50 µm.
        let r = Shape::rectangle([500.0, 300.0], [100.0, 100.0]);
        let m = r.measure(MPP);
        assert_eq!(r.bbox(), [100.0, 100.0, 500.0, 300.0]);
        assert!((m.area_um2 - 5000.0).abs() < 1e-9);
        assert!((m.perimeter_um - 300.0).abs() < 1e-9);
    }

    #[test]
    fn ellipse_area_and_circle_perimeter() {
        let c = Shape::Ellipse {
            centre: [0.0, 0.0],
            radii: [40.0, 40.0],
        };
        let m = c.measure(MPP); // radius 10 µm
        assert!((m.area_um2 - std::f64::consts::PI * 100.0).abs() < 1e-9);
        assert!((m.perimeter_um - std::f64::consts::TAU * 10.0).abs() < 1e-9);
        // A 3:1 ellipse: a = 30, b = 10 µm; perimeter 133.6489 µm (elliptic integral).
        let e = Shape::Ellipse {
            centre: [0.0, 0.0],
            radii: [120.0, 40.0],
        };
        assert!((e.measure(MPP).perimeter_um - 133.6489).abs() < 1e-3);
    }

    #[test]
    fn polygon_with_a_hole_excludes_the_hole() {
        let shape = Shape::Area {
            polygons: vec![vec![square(0.0, 0.0, 100.0), square(25.0, 25.0, 50.0)]],
        };
        // 100² - 50² px² = 7500 px² = 468.75 µm².
        let m = shape.measure(MPP);
        assert!((m.area_um2 - 468.75).abs() < 1e-9);
        // Both rings count: (400 + 200) px = 150 µm.
        assert!((m.perimeter_um - 150.0).abs() < 1e-9);
        assert!(shape.hit([10.0, 10.0], 0.0));
        assert!(!shape.hit([50.0, 50.0], 0.0), "inside the hole");
        assert!(!shape.hit([150.0, 50.0], 0.0));
    }

    #[test]
    fn multipolygon_areas_add() {
        let shape = Shape::Area {
            polygons: vec![vec![square(0.0, 0.0, 10.0)], vec![square(100.0, 0.0, 20.0)]],
        };
        assert!((shape.area_px() - 500.0).abs() < 1e-9);
        assert!(shape.hit([110.0, 10.0], 0.0));
    }

    #[test]
    fn ruler_length_respects_anisotropic_mpp() {
        let line = Shape::Line {
            points: vec![[0.0, 0.0], [300.0, 400.0]],
        };
        assert!((line.measure([1.0, 1.0]).length_um - 500.0).abs() < 1e-9);
        assert!((line.measure([0.5, 0.25]).length_um - 150.0f64.hypot(100.0)).abs() < 1e-9);
        assert!(line.hit([150.0, 201.0], 2.0));
        assert!(!line.hit([150.0, 230.0], 2.0));
    }

    #[test]
    fn rectangle_corner_drag_keeps_the_opposite_corner() {
        let mut r = Shape::rectangle([0.0, 0.0], [10.0, 10.0]);
        r.set_vertex(2, [20.0, 5.0]);
        assert_eq!(r, Shape::rectangle([0.0, 0.0], [20.0, 5.0]));
        r.set_vertex(0, [30.0, 30.0]); // dragged past the opposite corner: still a valid box
        assert_eq!(r, Shape::rectangle([20.0, 5.0], [30.0, 30.0]));
    }

    #[test]
    fn brush_adds_and_erases() {
        let base = Shape::polygon(square(0.0, 0.0, 100.0));
        let added = base
            .combine(&Shape::polygon(square(100.0, 0.0, 100.0)), false)
            .expect("areas");
        assert!((added.area_px() - 20_000.0).abs() < 1e-6);
        let holed = added
            .combine(&Shape::polygon(square(40.0, 40.0, 20.0)), true)
            .expect("areas");
        assert!((holed.area_px() - 19_600.0).abs() < 1e-6);
        assert!(!holed.hit([50.0, 50.0], 0.0), "erased");
        assert!(
            Shape::Points { points: vec![] }
                .combine(&base, false)
                .is_none()
        );
    }

    #[test]
    fn degenerate_shapes_are_recognised() {
        assert!(Shape::rectangle([1.0, 1.0], [1.0, 5.0]).is_degenerate());
        assert!(Shape::polygon(vec![[0.0, 0.0], [1.0, 1.0]]).is_degenerate());
        assert!(!Shape::polygon(square(0.0, 0.0, 1.0)).is_degenerate());
    }
}
