//! The drawing tools as a state machine over pointer input in level-0 coordinates: what is being
//! drawn (for the preview) and the finished shape. Pure, so every tool is tested without a window.

use super::shape::{Point, Shape, disc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tool {
    /// Select, move, edit vertices; drag on empty slide pans.
    #[default]
    Select,
    Rectangle,
    Ellipse,
    /// Click vertices; double-click, Enter or a click on the first vertex closes.
    Polygon,
    /// Drag a lasso.
    Freehand,
    /// Paint an area (with Shift held: erase from the selected one).
    Brush,
    /// Click points; double-click or Enter ends the set.
    Points,
    /// Drag a line; its length is shown in µm.
    Ruler,
}

impl Tool {
    pub const ALL: [Tool; 8] = [
        Tool::Select,
        Tool::Rectangle,
        Tool::Ellipse,
        Tool::Polygon,
        Tool::Freehand,
        Tool::Brush,
        Tool::Points,
        Tool::Ruler,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tool::Select => "Select",
            Tool::Rectangle => "Rectangle",
            Tool::Ellipse => "Ellipse",
            Tool::Polygon => "Polygon",
            Tool::Freehand => "Freehand",
            Tool::Brush => "Brush",
            Tool::Points => "Points",
            Tool::Ruler => "Ruler",
        }
    }

    /// Single-key shortcut.
    pub fn key(self) -> char {
        match self {
            Tool::Select => 'V',
            Tool::Rectangle => 'R',
            Tool::Ellipse => 'E',
            Tool::Polygon => 'G',
            Tool::Freehand => 'F',
            Tool::Brush => 'B',
            Tool::Points => '.',
            Tool::Ruler => 'M',
        }
    }
}

/// Pointer input, in level-0 coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    Press(Point),
    Drag(Point),
    Release(Point),
    Click(Point),
    DoubleClick(Point),
    /// Enter: finish a polygon or point set.
    Finish,
    /// Escape: drop what is being drawn.
    Cancel,
}

/// What a tool produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Stroke {
    Shape(Shape),
    /// A brush stroke to add to (or, `erase`, take from) an area.
    Brush {
        area: Shape,
        erase: bool,
    },
}

/// The shape being drawn with one tool.
#[derive(Debug, Clone, Default)]
pub struct Drawing {
    pub tool: Tool,
    points: Vec<Point>,
    brush: Option<Shape>,
    erase: bool,
}

impl Drawing {
    pub fn new(tool: Tool) -> Self {
        Self {
            tool,
            ..Default::default()
        }
    }

    pub fn is_active(&self) -> bool {
        !self.points.is_empty() || self.brush.is_some()
    }

    /// Feeds one input. `tolerance` is a few screen pixels in level-0 pixels (closing a polygon,
    /// thinning a lasso); `brush_radius` is in level-0 pixels; `erase` is the brush's modifier.
    pub fn input(
        &mut self,
        input: Input,
        tolerance: f64,
        brush_radius: f64,
        erase: bool,
    ) -> Option<Stroke> {
        if input == Input::Cancel {
            self.points.clear();
            self.brush = None;
            return None;
        }
        match (self.tool, input) {
            (Tool::Select, _) => None,
            (Tool::Rectangle | Tool::Ellipse | Tool::Ruler, Input::Press(p)) => {
                self.points = vec![p, p];
                None
            }
            (Tool::Rectangle | Tool::Ellipse | Tool::Ruler, Input::Drag(p)) => {
                if self.points.len() == 2 {
                    self.points[1] = p;
                }
                None
            }
            (Tool::Rectangle | Tool::Ellipse | Tool::Ruler, Input::Release(p)) => {
                if self.points.len() != 2 {
                    return None;
                }
                let a = self.points[0];
                self.points.clear();
                let shape = match self.tool {
                    Tool::Rectangle => Shape::rectangle(a, p),
                    Tool::Ellipse => Shape::ellipse_in(a, p),
                    _ => Shape::Line { points: vec![a, p] },
                };
                (!shape.is_degenerate()).then_some(Stroke::Shape(shape))
            }
            (Tool::Freehand, Input::Press(p)) => {
                self.points = vec![p];
                None
            }
            (Tool::Freehand, Input::Drag(p)) => {
                if let Some(last) = self.points.last()
                    && dist(*last, p) >= tolerance
                {
                    self.points.push(p);
                }
                None
            }
            (Tool::Freehand, Input::Release(_)) => self.close_polygon(),
            (Tool::Polygon, Input::Click(p)) => {
                if self.points.len() >= 3 && dist(self.points[0], p) <= tolerance {
                    return self.close_polygon();
                }
                if self.points.last().is_none_or(|l| dist(*l, p) > 0.0) {
                    self.points.push(p);
                }
                None
            }
            (Tool::Polygon, Input::DoubleClick(_) | Input::Finish) => self.close_polygon(),
            (Tool::Points, Input::Click(p)) => {
                self.points.push(p);
                None
            }
            (Tool::Points, Input::DoubleClick(_) | Input::Finish) => {
                let points = std::mem::take(&mut self.points);
                (!points.is_empty()).then_some(Stroke::Shape(Shape::Points { points }))
            }
            (Tool::Brush, Input::Press(p)) => {
                self.erase = erase;
                self.points = vec![p];
                self.brush = Some(disc(p, brush_radius));
                None
            }
            (Tool::Brush, Input::Drag(p)) => {
                let last = self.points.last().copied()?;
                // Dabs every half radius along the way, so a fast stroke has no gaps.
                let step = (brush_radius / 2.0).max(1e-9);
                let n = (dist(last, p) / step).floor() as usize;
                for k in 1..=n {
                    let t = k as f64 / n as f64;
                    let q = [
                        last[0] + (p[0] - last[0]) * t,
                        last[1] + (p[1] - last[1]) * t,
                    ];
                    self.brush = match self.brush.take() {
                        Some(b) => b.combine(&disc(q, brush_radius), false),
                        None => Some(disc(q, brush_radius)),
                    };
                }
                if n > 0 {
                    self.points.push(p);
                }
                None
            }
            (Tool::Brush, Input::Release(_)) => {
                self.points.clear();
                self.brush.take().map(|area| Stroke::Brush {
                    area,
                    erase: self.erase,
                })
            }
            _ => None,
        }
    }

    fn close_polygon(&mut self) -> Option<Stroke> {
        let ring = std::mem::take(&mut self.points);
        let shape = Shape::polygon(ring);
        (!shape.is_degenerate()).then_some(Stroke::Shape(shape))
    }

    /// What to draw while drawing: the shape so far (a polygon's rubber band to `cursor`).
    pub fn preview(&self, cursor: Option<Point>) -> Option<Shape> {
        if let Some(b) = &self.brush {
            return Some(b.clone());
        }
        let pts = &self.points;
        match self.tool {
            _ if pts.is_empty() => None,
            Tool::Rectangle if pts.len() == 2 => Some(Shape::rectangle(pts[0], pts[1])),
            Tool::Ellipse if pts.len() == 2 => Some(Shape::ellipse_in(pts[0], pts[1])),
            Tool::Ruler if pts.len() == 2 => Some(Shape::Line {
                points: pts.clone(),
            }),
            Tool::Polygon | Tool::Freehand => {
                let mut line = pts.clone();
                if self.tool == Tool::Polygon
                    && let Some(c) = cursor
                {
                    line.push(c);
                }
                Some(Shape::Line { points: line })
            }
            Tool::Points => Some(Shape::Points {
                points: pts.clone(),
            }),
            _ => None,
        }
    }
}

fn dist(a: Point, b: Point) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tool: Tool, inputs: &[Input]) -> Option<Stroke> {
        let mut d = Drawing::new(tool);
        let mut last = None;
        for &i in inputs {
            if let Some(s) = d.input(i, 2.0, 10.0, false) {
                last = Some(s);
            }
        }
        last
    }

    use Input::*;

    #[test]
    fn rectangle_and_ellipse_by_drag() {
        let r = run(
            Tool::Rectangle,
            &[Press([10.0, 10.0]), Drag([50.0, 5.0]), Release([60.0, 0.0])],
        );
        assert_eq!(
            r,
            Some(Stroke::Shape(Shape::rectangle([10.0, 0.0], [60.0, 10.0])))
        );
        let e = run(Tool::Ellipse, &[Press([0.0, 0.0]), Release([20.0, 10.0])]);
        assert_eq!(
            e,
            Some(Stroke::Shape(Shape::Ellipse {
                centre: [10.0, 5.0],
                radii: [10.0, 5.0]
            }))
        );
        assert_eq!(
            run(Tool::Rectangle, &[Press([1.0, 1.0]), Release([1.0, 1.0])]),
            None,
            "a click draws nothing"
        );
    }

    #[test]
    fn polygon_closes_on_the_first_vertex_or_double_click() {
        let square = [[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]];
        let mut clicks: Vec<Input> = square.iter().map(|&p| Click(p)).collect();
        clicks.push(Click([1.0, 1.0])); // within the tolerance of the first vertex
        assert_eq!(
            run(Tool::Polygon, &clicks),
            Some(Stroke::Shape(Shape::polygon(square.to_vec())))
        );
        let mut d = Drawing::new(Tool::Polygon);
        for p in &square[..3] {
            d.input(Click(*p), 2.0, 10.0, false);
        }
        let preview = d.preview(Some([5.0, 90.0])).expect("preview");
        assert_eq!(preview.vertices().len(), 4, "rubber band to the pointer");
        assert!(matches!(
            d.input(DoubleClick([0.0, 0.0]), 2.0, 10.0, false),
            Some(Stroke::Shape(_))
        ));
        assert!(!d.is_active());
        // Two vertices are not a polygon; Escape drops the sketch.
        assert_eq!(
            run(
                Tool::Polygon,
                &[Click([0.0, 0.0]), Click([5.0, 5.0]), Finish]
            ),
            None
        );
        assert_eq!(
            run(
                Tool::Polygon,
                &[
                    Click([0.0, 0.0]),
                    Click([5.0, 5.0]),
                    Click([0.0, 9.0]),
                    Cancel,
                    Finish
                ]
            ),
            None
        );
    }

    #[test]
    fn freehand_thins_points_closer_than_the_tolerance() {
        let mut inputs = vec![Press([0.0, 0.0])];
        for i in 1..=100 {
            let t = f64::from(i) * 0.5;
            inputs.push(Drag([t, (t * 0.3).sin() * 20.0 + t * 0.5]));
        }
        inputs.push(Release([50.0, 0.0]));
        let Some(Stroke::Shape(s)) = run(Tool::Freehand, &inputs) else {
            panic!("a lasso")
        };
        let n = s.vertices().len();
        assert!(n > 10 && n < 101, "{n} vertices kept");
    }

    #[test]
    fn points_and_ruler() {
        let p = run(
            Tool::Points,
            &[Click([1.0, 2.0]), Click([3.0, 4.0]), Finish],
        );
        assert_eq!(
            p,
            Some(Stroke::Shape(Shape::Points {
                points: vec![[1.0, 2.0], [3.0, 4.0]]
            }))
        );
        let r = run(
            Tool::Ruler,
            &[Press([0.0, 0.0]), Drag([30.0, 0.0]), Release([30.0, 40.0])],
        );
        assert_eq!(
            r,
            Some(Stroke::Shape(Shape::Line {
                points: vec![[0.0, 0.0], [30.0, 40.0]]
            }))
        );
    }

    #[test]
    fn brush_stroke_is_a_gapless_band() {
        let Some(Stroke::Brush { area, erase }) = run(
            Tool::Brush,
            &[Press([0.0, 0.0]), Drag([100.0, 0.0]), Release([100.0, 0.0])],
        ) else {
            panic!("a stroke")
        };
        assert!(!erase);
        // A 20-wide band 100 long with round caps: 20 * 100 + pi * 10² = 2314 (polygonal discs
        // and dab spacing make it a little less).
        let a = area.area_px();
        assert!((2200.0..2320.0).contains(&a), "area {a}");
        assert!(area.hit([50.0, 9.0], 0.0), "no gap between dabs");
        assert!(!area.hit([50.0, 11.0], 0.0));
    }
}
