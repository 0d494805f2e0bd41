//! Drawing the annotations over the slide (fills triangulated once per shape and cached).

use super::*;

impl AnnotationUi {
    /// The class list as shown: with a colour being picked, before it is recorded.
    pub(super) fn classes_now(&self) -> &[Class] {
        self.pending_classes
            .as_ref()
            .map_or(self.doc.classes(), |(_, now)| now)
    }

    pub(super) fn color_of(&self, a: &Annotation) -> Color32 {
        let c = a
            .class
            .as_ref()
            .and_then(|c| self.classes_now().iter().find(|k| &k.name == c))
            .map_or([200, 200, 200], |c| c.color);
        Color32::from_rgb(c[0], c[1], c[2])
    }

    /// Draws the annotations, the selection and the shape being drawn over the canvas.
    pub fn paint(&mut self, painter: &egui::Painter, rect: egui::Rect, v: &SlideView) {
        let to_screen = |p: Point| -> Pos2 {
            let s = v.view.screen_from_slide(p);
            pos2(rect.min.x + s[0] as f32, rect.min.y + s[1] as f32)
        };
        let visible = v.view.visible();
        let mpp = self.slide.as_ref().and_then(|s| s.2);
        // The triangulation cache is taken out for the loop so the annotations can be borrowed
        // rather than copied every frame.
        let mut cache = std::mem::take(&mut self.triangles);
        if self.dense.wanted(&self.doc) {
            self.paint_dense(painter, rect, v);
            // On top, with egui: the lines (their labels) and the annotation being edited.
            let mut ids = self.dense_lines();
            ids.extend(self.selected.clone());
            for a in ids.iter().filter_map(|id| self.doc.get(id)) {
                self.paint_one(painter, a, &mut cache, &to_screen, visible, mpp);
            }
            cache.retain(|id, _| ids.contains(id));
        } else {
            for a in self.doc.items() {
                self.paint_one(painter, a, &mut cache, &to_screen, visible, mpp);
            }
            // Forget deleted annotations' triangles.
            cache.retain(|id, _| self.doc.get(id).is_some());
        }
        self.triangles = cache;
        let cursor = painter
            .ctx()
            .pointer_hover_pos()
            .filter(|p| rect.contains(*p))
            .map(|p| {
                let l = p - rect.min;
                v.view.slide_from_screen([f64::from(l.x), f64::from(l.y)])
            });
        if let Some(preview) = self.drawing.preview(cursor) {
            let color = self
                .active_class
                .as_ref()
                .and_then(|c| self.doc.class(c))
                .map_or(Color32::WHITE, |c| {
                    Color32::from_rgb(c.color[0], c.color[1], c.color[2])
                });
            draw_outline(painter, &preview, &to_screen, color, 2.0, mpp);
        }
        if self.tool == Tool::Brush
            && let Some(c) = cursor
        {
            painter.circle_stroke(to_screen(c), self.brush_pt, Pen::new(1.0, Color32::WHITE));
        }
    }
}

impl AnnotationUi {
    /// One annotation with egui: fill, outline and, when selected, its handles.
    fn paint_one(
        &self,
        painter: &egui::Painter,
        a: &Annotation,
        cache: &mut HashMap<String, (Shape, Vec<[Point; 3]>)>,
        to_screen: &dyn Fn(Point) -> Pos2,
        visible: crate::view::Rect,
        mpp: Option<[f64; 2]>,
    ) {
        if !self.visible(a) {
            return;
        }
        let selected = self.selected.as_deref() == Some(a.id.as_str());
        let shape = match (&self.moving, selected) {
            (Some(m), true) => &m.shape,
            _ => &a.shape,
        };
        let b = shape.bbox();
        if b[2] < visible.x0 || b[0] > visible.x1 || b[3] < visible.y0 || b[1] > visible.y1 {
            return;
        }
        let color = self.color_of(a);
        if self.fill && shape.is_area() {
            let mut mesh = egui::Mesh::default();
            let fill = color.gamma_multiply(0.25);
            for t in triangles_of(cache, &a.id, shape) {
                for p in t {
                    mesh.colored_vertex(to_screen(*p), fill);
                }
                let n = mesh.vertices.len() as u32;
                mesh.add_triangle(n - 3, n - 2, n - 1);
            }
            painter.add(egui::Shape::mesh(mesh));
        }
        draw_outline(
            painter,
            shape,
            to_screen,
            color,
            if selected { 3.0 } else { 2.0 },
            mpp,
        );
        if selected {
            let vertices = shape.vertices();
            if vertices.len() <= MAX_HANDLES {
                for p in vertices {
                    painter.circle(
                        to_screen(p),
                        4.0,
                        Color32::WHITE,
                        Pen::new(1.0, Color32::BLACK),
                    );
                }
            }
        }
    }
}

/// The fill triangles of `shape` (annotation `id`), from `cache` while the shape is unchanged.
pub(super) fn triangles_of<'a>(
    cache: &'a mut HashMap<String, (Shape, Vec<[Point; 3]>)>,
    id: &str,
    shape: &Shape,
) -> &'a [[Point; 3]] {
    use geo::TriangulateEarcut;
    let stale = cache.get(id).is_none_or(|(s, _)| s != shape);
    if stale {
        let tris: Vec<[Point; 3]> = shape
            .to_multipolygon()
            .map(|m| {
                m.0.iter()
                    .flat_map(|p| p.earcut_triangles())
                    .map(|t| [t.v1(), t.v2(), t.v3()].map(|c| [c.x, c.y]))
                    .collect()
            })
            .unwrap_or_default();
        cache.insert(id.to_owned(), (shape.clone(), tris));
    }
    cache.get(id).map_or(&[], |(_, t)| t.as_slice())
}
