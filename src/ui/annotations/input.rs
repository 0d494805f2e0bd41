//! Canvas input: drawing tools, selection, moving shapes and vertices, the brush, keyboard shortcuts.

use super::*;

impl AnnotationUi {
    /// Keyboard shortcuts (when no text field has focus).
    pub fn keyboard(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        use egui::{Key, Modifiers};
        let (undo, redo, dup, del, enter, esc, tool) = ctx.input_mut(|i| {
            let redo = i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z)
                || i.consume_key(Modifiers::COMMAND, Key::Y);
            let undo = i.consume_key(Modifiers::COMMAND, Key::Z);
            let dup = i.consume_key(Modifiers::COMMAND, Key::D);
            let del = i.consume_key(Modifiers::NONE, Key::Delete)
                || i.consume_key(Modifiers::NONE, Key::Backspace);
            let enter = i.consume_key(Modifiers::NONE, Key::Enter);
            let esc = i.consume_key(Modifiers::NONE, Key::Escape);
            let tool = Tool::ALL.into_iter().find(|t| {
                let key = match t.key() {
                    'V' => Key::V,
                    'R' => Key::R,
                    'E' => Key::E,
                    'G' => Key::G,
                    'F' => Key::F,
                    'B' => Key::B,
                    '.' => Key::Period,
                    _ => Key::M,
                };
                i.consume_key(Modifiers::NONE, key)
            });
            (undo, redo, dup, del, enter, esc, tool)
        });
        if redo {
            self.redo();
        } else if undo {
            self.undo();
        }
        if dup {
            self.duplicate_selected(50.0);
        }
        if del {
            self.delete_selected();
        }
        if enter {
            self.feed(Input::Finish, 1.0, 1.0, false);
        }
        if esc {
            if self.drawing.is_active() {
                self.drawing.input(Input::Cancel, 1.0, 1.0, false);
            } else {
                self.selected = None;
            }
        }
        if let Some(t) = tool {
            self.set_tool(t);
        }
    }

    pub(super) fn feed(&mut self, input: Input, tolerance: f64, brush: f64, erase: bool) {
        match self.drawing.input(input, tolerance, brush, erase) {
            Some(Stroke::Shape(shape)) => {
                let a = Annotation::new(shape, self.active_class.clone());
                let id = a.id.clone();
                self.edit(Edit::Add(vec![a]));
                self.select(Some(id));
            }
            Some(Stroke::Brush { area, erase }) => self.apply_brush(area, erase),
            None => {}
        }
    }

    /// A brush stroke adds to the selected area (or starts a new one) or, erasing, takes from it.
    pub(super) fn apply_brush(&mut self, stroke: Shape, erase: bool) {
        let target = self.selected().filter(|a| a.shape.is_area()).cloned();
        match (target, erase) {
            (Some(a), _) => {
                let Some(shape) = a.shape.combine(&stroke, erase) else {
                    return;
                };
                if shape.is_degenerate() {
                    self.selected = None;
                    self.edit(Edit::Remove(vec![a]));
                } else {
                    let mut after = a.clone();
                    after.shape = shape;
                    self.edit(Edit::Change {
                        before: Box::new(a),
                        after: Box::new(after),
                    });
                }
            }
            (None, false) => {
                let a = Annotation::new(stroke, self.active_class.clone());
                let id = a.id.clone();
                self.edit(Edit::Add(vec![a]));
                self.select(Some(id));
            }
            (None, true) => {}
        }
    }

    /// The topmost visible annotation under `p`.
    pub(super) fn pick(&self, p: Point, tolerance: f64) -> Option<String> {
        self.doc
            .items()
            .iter()
            .rev()
            .filter(|a| self.visible(a))
            .find(|a| a.shape.hit(p, tolerance))
            .map(|a| a.id.clone())
    }

    /// Pointer input on the canvas (after the viewer had its turn).
    pub fn canvas_input(
        &mut self,
        ui: &egui::Ui,
        response: &egui::Response,
        rect: egui::Rect,
        v: &SlideView,
    ) {
        let to_slide = |p: Pos2| {
            let local = p - rect.min;
            v.view
                .slide_from_screen([f64::from(local.x), f64::from(local.y)])
        };
        let tolerance = PICK_PT / v.view.zoom;
        let brush = f64::from(self.brush_pt) / v.view.zoom;
        let (pressed, press_pos, pos, erase) = ui.input(|i| {
            (
                i.pointer.primary_pressed(),
                i.pointer.press_origin(),
                i.pointer.interact_pos(),
                i.modifiers.shift,
            )
        });
        if self.tool == Tool::Select {
            self.select_input(response, pressed, press_pos, pos, &to_slide, tolerance);
            return;
        }
        if pressed
            && response.hovered()
            && let Some(p) = press_pos
        {
            self.feed(Input::Press(to_slide(p)), tolerance, brush, erase);
        }
        if response.dragged_by(egui::PointerButton::Primary)
            && let Some(p) = pos
        {
            self.feed(Input::Drag(to_slide(p)), tolerance, brush, erase);
        }
        if response.drag_stopped_by(egui::PointerButton::Primary)
            && let Some(p) = pos
        {
            self.feed(Input::Release(to_slide(p)), tolerance, brush, erase);
        }
        if response.double_clicked()
            && let Some(p) = pos
        {
            self.feed(Input::DoubleClick(to_slide(p)), tolerance, brush, erase);
        } else if response.clicked()
            && let Some(p) = pos
        {
            // A click without a drag on a drag tool is a press and release in one place.
            let p = to_slide(p);
            match self.tool {
                Tool::Polygon | Tool::Points => self.feed(Input::Click(p), tolerance, brush, erase),
                Tool::Brush => self.feed(Input::Release(p), tolerance, brush, erase),
                _ => {
                    self.drawing.input(Input::Cancel, tolerance, brush, erase);
                }
            }
        }
    }

    pub(super) fn select_input(
        &mut self,
        response: &egui::Response,
        pressed: bool,
        press_pos: Option<Pos2>,
        pos: Option<Pos2>,
        to_slide: &dyn Fn(Pos2) -> Point,
        tolerance: f64,
    ) {
        if pressed
            && response.hovered()
            && let Some(p) = press_pos.map(to_slide)
            && let Some(a) = self.selected().cloned()
        {
            let vertex = a
                .shape
                .vertices()
                .iter()
                .position(|q| (q[0] - p[0]).hypot(q[1] - p[1]) <= tolerance);
            if vertex.is_some() || a.shape.hit(p, tolerance) {
                self.moving = Some(Moving {
                    shape: a.shape.clone(),
                    before: a,
                    last: p,
                    vertex,
                });
            }
        }
        if let Some(m) = &mut self.moving {
            if response.dragged_by(egui::PointerButton::Primary)
                && let Some(p) = pos.map(to_slide)
            {
                match m.vertex {
                    Some(i) => m.shape.set_vertex(i, p),
                    None => m.shape.translate([p[0] - m.last[0], p[1] - m.last[1]]),
                }
                m.last = p;
            }
            let released = response.drag_stopped_by(egui::PointerButton::Primary)
                || response.clicked()
                || !response.is_pointer_button_down_on();
            if released {
                let m = self.moving.take().expect("checked above");
                if m.shape != m.before.shape && !m.shape.is_degenerate() {
                    let mut after = m.before.clone();
                    after.shape = m.shape;
                    self.edit(Edit::Change {
                        before: Box::new(m.before),
                        after: Box::new(after),
                    });
                }
                return;
            }
        }
        if response.clicked()
            && let Some(p) = pos.map(to_slide)
        {
            let hit = self.pick(p, tolerance);
            self.select(hit);
        }
    }
}
