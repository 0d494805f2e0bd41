//! The annotation side of the GUI: the current slide's annotations (loaded from and saved to the
//! store on its own thread after every edit), the drawing tools on the canvas, selection, moving and
//! vertex editing, undo/redo, the class list, the annotation list with measurements, and GeoJSON
//! import/export (file dialogs and file I/O off the UI thread).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use egui::{Color32, Pos2, RichText, Stroke as Pen, pos2};

use super::Command;
use crate::analysis::heatmap::Heatmap;
use crate::annotate::geojson::{self, Imported};
use crate::annotate::tool::{Drawing, Input, Stroke, Tool};
use crate::annotate::{Annotation, Class, Document, Edit, Point, Shape};
use crate::colormap::Colormap;
use crate::region::{Overlay, RegionRequest, export_region};
use crate::store::{StoreEvent, StoreThread};
use crate::task::{Poll, Task};
use crate::viewer::SlideView;

/// Screen points within which a click picks a vertex, closes a polygon or hits a point or line.
const PICK_PT: f64 = 6.0;
/// Vertex handles are drawn only on shapes with at most this many vertices.
const MAX_HANDLES: usize = 400;

/// A move or vertex drag in progress with the Select tool.
struct Moving {
    before: Annotation,
    shape: Shape,
    last: Point,
    vertex: Option<usize>,
}

enum FileJob {
    Import(Task<Option<Result<Imported, String>>>),
    Export(Task<Option<Result<PathBuf, String>>>),
    /// A folder for region export is being chosen for these annotations.
    Folder(
        Task<Option<PathBuf>>,
        Arc<dyn crate::slide::SlideSource>,
        Vec<String>,
    ),
}

pub struct AnnotationUi {
    store: StoreThread,
    wake: Arc<dyn Fn() + Send + Sync>,
    /// Identity key, path and µm per pixel of the open slide.
    slide: Option<(String, PathBuf, Option<[f64; 2]>)>,
    /// The open slide's level-0 size: imports are placed against it.
    slide_dims: Option<(u64, u64)>,
    loaded: bool,
    doc: Document,
    tool: Tool,
    drawing: Drawing,
    selected: Option<String>,
    moving: Option<Moving>,
    /// Class given to new annotations.
    pub active_class: Option<String>,
    hidden: HashSet<String>,
    filter: Option<String>,
    pub fill: bool,
    /// Brush radius in screen points (so it feels the same at every zoom).
    pub brush_pt: f32,
    name_buf: String,
    comment_buf: String,
    new_class: String,
    error: Option<String>,
    status: Option<String>,
    file_job: Option<FileJob>,
    triangles: HashMap<String, (Shape, Vec<[Point; 3]>)>,
    /// Class list before and during a colour-picker drag.
    pending_classes: Option<(Vec<Class>, Vec<Class>)>,
    /// Where the annotations of the slide at this path are kept, when not under its identity.
    /// (slide identity, scope): a review read's annotations, kept under the scope.
    scope: Option<(String, String)>,
    /// Region export settings and the running export.
    pub export: ExportSettings,
    export_job: Option<ExportJob>,
    heatmap: Option<(Arc<Heatmap>, Colormap, f32, f32)>,
}

/// How regions are exported from the panel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExportSettings {
    pub level: usize,
    pub mask: bool,
    pub outlines: bool,
    pub heatmap: bool,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            level: 0,
            mask: true,
            outlines: false,
            heatmap: false,
        }
    }
}

/// Region exports running on their own thread.
struct ExportJob {
    task: Task<Result<Vec<PathBuf>, String>>,
    /// Permille of the whole job.
    progress: Arc<AtomicU32>,
    cancel: Arc<AtomicBool>,
    count: usize,
}

/// The identity under which a slide's annotations are stored (see [`crate::slide::SlideId`]): a
/// moved or copied file keeps them, another file at the same path does not get them.
pub fn slide_key(v: &SlideView) -> String {
    crate::review::materials::slide_key(v.slide.as_ref())
}

impl AnnotationUi {
    pub fn new(data_dir: PathBuf, wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self {
            store: StoreThread::start(data_dir, Arc::clone(&wake)),
            wake,
            slide: None,
            slide_dims: None,
            loaded: false,
            doc: Document::default(),
            tool: Tool::Select,
            drawing: Drawing::new(Tool::Select),
            selected: None,
            moving: None,
            active_class: Some("Tumor".into()),
            hidden: HashSet::new(),
            filter: None,
            fill: true,
            brush_pt: 12.0,
            name_buf: String::new(),
            comment_buf: String::new(),
            new_class: String::new(),
            error: None,
            status: None,
            file_job: None,
            triangles: HashMap::new(),
            pending_classes: None,
            scope: None,
            export: ExportSettings::default(),
            export_job: None,
            heatmap: None,
        }
    }

    /// Keeps the annotations of the slide whose identity is `key` (wherever it is found), when it
    /// opens, under `scope` instead of the slide's own identity (a review read's annotations,
    /// which no other reader sees); any other slide keeps its own. `None` goes back to slide
    /// identities.
    pub fn set_scope(&mut self, scope: Option<(String, String)>) {
        self.scope = scope;
    }

    /// A slide was opened: its annotations load from the store.
    pub fn on_slide_opened(&mut self, v: &SlideView) {
        let scoped = self
            .scope
            .as_ref()
            .filter(|(key, _)| crate::review::materials::key_matches(v.slide.as_ref(), key))
            .map(|(_, scope)| scope.clone());
        let key = scoped.clone().unwrap_or_else(|| slide_key(v));
        let mpp = v.slide.mpp().map(|(x, y)| [x, y]);
        // Earlier releases keyed slides without a quickhash by their path: adopt those.
        let legacy =
            crate::review::materials::legacy_key(v.slide.as_ref()).filter(|_| scoped.is_none());
        self.store.load_or_adopt(&key, legacy.as_deref());
        self.slide = Some((key, v.slide.path().to_path_buf(), mpp));
        self.slide_dims = Some(v.slide.dimensions());
        self.loaded = false;
        self.doc = Document::default();
        self.selected = None;
        self.moving = None;
        self.drawing = Drawing::new(self.tool);
        self.triangles.clear();
    }

    pub fn document(&self) -> &Document {
        &self.doc
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    pub fn tool(&self) -> Tool {
        self.tool
    }

    pub fn set_tool(&mut self, tool: Tool) {
        self.tool = tool;
        self.drawing = Drawing::new(tool);
        self.moving = None;
    }

    pub fn selected(&self) -> Option<&Annotation> {
        self.selected.as_deref().and_then(|id| self.doc.get(id))
    }

    pub fn select(&mut self, id: Option<String>) {
        self.selected = id;
        if let Some((name, comment)) = self.selected().map(|a| (a.name.clone(), a.comment.clone()))
        {
            self.name_buf = name;
            self.comment_buf = comment;
        }
    }

    /// Whether every edit is on disk.
    pub fn all_saved(&self) -> bool {
        self.store.all_saved()
    }

    /// Ends the store thread once its queued saves are done (at most `limit`); see
    /// [`StoreThread::shutdown`].
    pub fn shutdown(&mut self, limit: std::time::Duration) -> Result<(), String> {
        self.store.shutdown(limit)
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether a primary-button drag on the canvas should pan the slide.
    pub fn primary_pans(&self) -> bool {
        self.tool == Tool::Select && self.moving.is_none()
    }

    /// Store events and finished file jobs.
    pub fn poll(&mut self) {
        for e in self.store.poll() {
            match e {
                StoreEvent::Loaded {
                    key,
                    annotations,
                    classes,
                } => {
                    if self.slide.as_ref().is_some_and(|s| s.0 == key) {
                        self.doc = Document::new(annotations, classes);
                        self.loaded = true;
                    }
                }
                StoreEvent::Saved { .. } | StoreEvent::Review { .. } | StoreEvent::Imported(_) => {}
                StoreEvent::Failed(m) | StoreEvent::SaveFailed { message: m, .. } => {
                    self.error = Some(m)
                }
            }
        }
        if let Some(job) = &mut self.export_job {
            match job.task.poll() {
                Poll::Ready(Ok(paths)) => {
                    self.status = Some(match paths.first() {
                        Some(p) => format!(
                            "Exported {} file(s) to {}",
                            paths.len(),
                            p.parent().unwrap_or(p).display()
                        ),
                        None => "Nothing to export".into(),
                    });
                    self.export_job = None;
                }
                Poll::Ready(Err(m)) => {
                    self.error = Some(m);
                    self.export_job = None;
                }
                Poll::Pending => {}
                Poll::Gone => {
                    self.error = Some("the region export stopped unexpectedly".into());
                    self.export_job = None;
                }
            }
        }
        match self.file_job.take() {
            Some(FileJob::Import(mut t)) => match t.poll() {
                Poll::Ready(Some(Ok(imported))) => self.add_imported(imported),
                Poll::Ready(Some(Err(m))) => self.error = Some(m),
                Poll::Ready(None) => {}
                Poll::Pending => self.file_job = Some(FileJob::Import(t)),
                Poll::Gone => self.error = Some("the import stopped unexpectedly".into()),
            },
            Some(FileJob::Export(mut t)) => match t.poll() {
                Poll::Ready(Some(Ok(path))) => {
                    self.status = Some(format!("Exported {}", path.display()))
                }
                Poll::Ready(Some(Err(m))) => self.error = Some(m),
                Poll::Ready(None) => {}
                Poll::Pending => self.file_job = Some(FileJob::Export(t)),
                Poll::Gone => self.error = Some("the export stopped unexpectedly".into()),
            },
            Some(FileJob::Folder(mut t, slide, ids)) => match t.poll() {
                Poll::Ready(Some(dir)) => self.export_regions(slide, &ids, dir),
                Poll::Ready(None) | Poll::Gone => {}
                Poll::Pending => self.file_job = Some(FileJob::Folder(t, slide, ids)),
            },
            None => {}
        }
    }

    /// Applies an edit and queues its changes for the store.
    pub fn edit(&mut self, edit: Edit) {
        match self.doc.apply(edit) {
            Ok(changes) => self.save(changes),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn save(&mut self, changes: Vec<crate::annotate::Change>) {
        if let Some((key, path, _)) = &self.slide {
            self.store.apply(key, path, changes);
        }
    }

    pub fn undo(&mut self) {
        if let Some(changes) = self.doc.undo() {
            self.save(changes);
        }
        self.drop_stale_selection();
    }

    pub fn redo(&mut self) {
        if let Some(changes) = self.doc.redo() {
            self.save(changes);
        }
        self.drop_stale_selection();
    }

    fn drop_stale_selection(&mut self) {
        if self.selected().is_none() {
            self.selected = None;
        }
    }

    pub fn delete_selected(&mut self) {
        if let Some(a) = self.selected().cloned() {
            self.selected = None;
            self.edit(Edit::Remove(vec![a]));
        }
    }

    /// A copy of the selection, offset by `offset` level-0 pixels, selected.
    pub fn duplicate_selected(&mut self, offset: f64) {
        if let Some(a) = self.selected().cloned() {
            let mut copy = Annotation::new(a.shape.clone(), a.class.clone());
            copy.shape.translate([offset, offset]);
            copy.name = a.name.clone();
            copy.comment = a.comment.clone();
            let id = copy.id.clone();
            self.edit(Edit::Add(vec![copy]));
            self.select(Some(id));
        }
    }

    fn add_imported(&mut self, imported: Imported) {
        let mut classes = self.doc.classes().to_vec();
        let before = classes.clone();
        for c in imported.classes {
            if !classes.iter().any(|k| k.name == c.name) {
                classes.push(c);
            }
        }
        if classes != before {
            self.edit(Edit::Classes {
                before,
                after: classes,
            });
        }
        // Ids already present (the same file imported twice) get fresh ones.
        let list: Vec<Annotation> = imported
            .annotations
            .into_iter()
            .map(|mut a| {
                if self.doc.get(&a.id).is_some() {
                    a.id = crate::annotate::document::new_id();
                }
                a
            })
            .collect();
        let n = list.len();
        if n > 0 {
            self.edit(Edit::Add(list));
        }
        self.status = Some(format!(
            "Imported {n} annotation(s){}",
            if imported.skipped > 0 {
                format!(", skipped {} detection(s)", imported.skipped)
            } else {
                String::new()
            }
        ));
    }

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

    fn feed(&mut self, input: Input, tolerance: f64, brush: f64, erase: bool) {
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
    fn apply_brush(&mut self, stroke: Shape, erase: bool) {
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

    fn visible(&self, a: &Annotation) -> bool {
        a.class.as_ref().is_none_or(|c| !self.hidden.contains(c))
    }

    /// The topmost visible annotation under `p`.
    fn pick(&self, p: Point, tolerance: f64) -> Option<String> {
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

    fn select_input(
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

    /// The class list as shown: with a colour being picked, before it is recorded.
    fn classes_now(&self) -> &[Class] {
        self.pending_classes
            .as_ref()
            .map_or(self.doc.classes(), |(_, now)| now)
    }

    fn color_of(&self, a: &Annotation) -> Color32 {
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
        for a in self.doc.items().iter().filter(|a| self.visible(a)) {
            let selected = self.selected.as_deref() == Some(a.id.as_str());
            let shape = match (&self.moving, selected) {
                (Some(m), true) => &m.shape,
                _ => &a.shape,
            };
            let b = shape.bbox();
            if b[2] < visible.x0 || b[0] > visible.x1 || b[3] < visible.y0 || b[1] > visible.y1 {
                continue;
            }
            let color = self.color_of(a);
            if self.fill && shape.is_area() {
                let mut mesh = egui::Mesh::default();
                let fill = color.gamma_multiply(0.25);
                for t in triangles_of(&mut cache, &a.id, shape) {
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
                &to_screen,
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
        // Forget deleted annotations' triangles.
        cache.retain(|id, _| self.doc.get(id).is_some());
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

    /// The side panel: tools, classes, the list, the selection's details, import/export.
    pub fn panel(
        &mut self,
        ui: &mut egui::Ui,
        slide: Option<&Arc<dyn crate::slide::SlideSource>>,
        commands: &mut Vec<Command>,
    ) {
        ui.heading("Annotations");
        let Some(slide) = slide else {
            ui.label("Open a slide to annotate it.");
            return;
        };
        ui.horizontal_wrapped(|ui| {
            for t in Tool::ALL {
                let label = format!("{} ({})", t.label(), t.key());
                if ui.selectable_label(self.tool == t, label).clicked() {
                    self.set_tool(t);
                }
            }
        });
        if self.tool == Tool::Brush {
            ui.add(
                egui::Slider::new(&mut self.brush_pt, 2.0..=80.0).text("brush (pt); Shift erases"),
            );
        }
        ui.horizontal(|ui| {
            let current = self
                .active_class
                .clone()
                .unwrap_or_else(|| "Unclassified".into());
            egui::ComboBox::from_label("for new shapes")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.active_class, None, "Unclassified");
                    for c in self.doc.classes() {
                        ui.selectable_value(&mut self.active_class, Some(c.name.clone()), &c.name);
                    }
                });
            ui.checkbox(&mut self.fill, "Fill");
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.doc.can_undo(), egui::Button::new("Undo"))
                .clicked()
            {
                self.undo();
            }
            if ui
                .add_enabled(self.doc.can_redo(), egui::Button::new("Redo"))
                .clicked()
            {
                self.redo();
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Import…")
                .on_hover_text("QuPath GeoJSON, ASAP XML or ImageScope XML")
                .clicked()
            {
                self.import_dialog();
            }
            if ui
                .button("Export GeoJSON…")
                .on_hover_text("for QuPath")
                .clicked()
            {
                self.export_dialog(false);
            }
            if ui.button("Export ASAP XML…").clicked() {
                self.export_dialog(true);
            }
        });
        ui.separator();
        self.classes_ui(ui);
        ui.separator();
        self.list_ui(ui, commands);
        ui.separator();
        self.selection_ui(ui);
        ui.separator();
        self.export_ui(ui, slide);
        if let Some(m) = self.error.clone() {
            ui.colored_label(Color32::from_rgb(230, 90, 80), m);
            if ui.small_button("Dismiss").clicked() {
                self.error = None;
            }
        }
        let saved = if !self.loaded {
            "Loading…".to_owned()
        } else if self.store.pending() > 0 {
            "Saving…".to_owned()
        } else if self.store.failed() > 0 {
            format!("{} change(s) not saved (see above)", self.store.failed())
        } else {
            "All changes saved".to_owned()
        };
        ui.label(RichText::new(saved).weak());
        if let Some(s) = &self.status {
            ui.label(RichText::new(s).weak());
        }
    }

    fn classes_ui(&mut self, ui: &mut egui::Ui) {
        ui.label(RichText::new("Classes").strong());
        let mut classes = self.classes_now().to_vec();
        let before = self.doc.classes().to_vec();
        let mut remove = None;
        for c in &mut classes {
            ui.horizontal(|ui| {
                ui.color_edit_button_srgb(&mut c.color);
                let mut shown = !self.hidden.contains(&c.name);
                let count = self
                    .doc
                    .items()
                    .iter()
                    .filter(|a| a.class.as_deref() == Some(c.name.as_str()))
                    .count();
                if ui
                    .checkbox(&mut shown, format!("{} ({count})", c.name))
                    .changed()
                {
                    if shown {
                        self.hidden.remove(&c.name);
                    } else {
                        self.hidden.insert(c.name.clone());
                    }
                }
                // Only an unused class can go: annotations never lose theirs.
                if count == 0
                    && ui
                        .small_button("remove")
                        .on_hover_text("remove this unused class")
                        .clicked()
                {
                    remove = Some(c.name.clone());
                }
            });
        }
        if let Some(name) = remove {
            classes.retain(|c| c.name != name);
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.new_class)
                    .hint_text("new class")
                    .desired_width(120.0),
            );
            let name = self.new_class.trim().to_owned();
            if ui
                .add_enabled(
                    !name.is_empty() && !classes.iter().any(|c| c.name == name),
                    egui::Button::new("Add"),
                )
                .clicked()
            {
                let h = classes.len() as f32 * 0.23;
                let c = egui::ecolor::Hsva::new(h.fract(), 0.7, 0.9, 1.0).to_srgb();
                classes.push(Class {
                    name,
                    color: [c[0], c[1], c[2]],
                });
                self.new_class.clear();
            }
        });
        // A colour picker changes on every step of a drag: show the change at once, record one
        // edit when the pointer lets go.
        let before = self
            .pending_classes
            .take()
            .map_or(before, |(original, _)| original);
        if classes == before {
            return;
        }
        if ui.ctx().input(|i| i.pointer.any_down()) {
            self.pending_classes = Some((before, classes));
        } else {
            self.edit(Edit::Classes {
                before,
                after: classes,
            });
        }
    }

    fn list_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let mpp = self.slide.as_ref().and_then(|s| s.2);
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{} annotation(s)", self.doc.items().len())).strong());
            let current = self.filter.clone().unwrap_or_else(|| "All classes".into());
            egui::ComboBox::from_label("listed")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.filter, None, "All classes");
                    for c in self.doc.classes() {
                        ui.selectable_value(&mut self.filter, Some(c.name.clone()), &c.name);
                    }
                });
        });
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .max_height(220.0)
            .id_salt("annotation-list")
            .show(ui, |ui| {
                for a in self.doc.items() {
                    if self
                        .filter
                        .as_ref()
                        .is_some_and(|f| a.class.as_ref() != Some(f))
                    {
                        continue;
                    }
                    let title = if a.name.is_empty() {
                        a.shape.kind().to_owned()
                    } else {
                        a.name.clone()
                    };
                    let class = a.class.as_deref().unwrap_or("Unclassified");
                    let text = format!("{title} · {class} · {}", measure_text(&a.shape, mpp));
                    let selected = self.selected.as_deref() == Some(a.id.as_str());
                    ui.horizontal(|ui| {
                        let (r, _) =
                            ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                        ui.painter().rect_filled(r, 2.0, self.color_of(a));
                        if ui.selectable_label(selected, text).clicked() {
                            clicked = Some((a.id.clone(), a.shape.bbox()));
                        }
                    });
                }
            });
        if let Some((id, bbox)) = clicked {
            self.select(Some(id));
            commands.push(Command::FrameRegion(bbox));
        }
    }

    fn selection_ui(&mut self, ui: &mut egui::Ui) {
        let Some(a) = self.selected().cloned() else {
            ui.label(RichText::new("Nothing selected").weak());
            return;
        };
        let mpp = self.slide.as_ref().and_then(|s| s.2);
        ui.label(
            RichText::new(format!(
                "Selected {}: {}",
                a.shape.kind(),
                measure_text(&a.shape, mpp)
            ))
            .strong(),
        );
        let mut after = a.clone();
        egui::ComboBox::from_label("class")
            .selected_text(after.class.clone().unwrap_or_else(|| "Unclassified".into()))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut after.class, None, "Unclassified");
                for c in self.doc.classes() {
                    ui.selectable_value(&mut after.class, Some(c.name.clone()), &c.name);
                }
            });
        let name = ui.add(egui::TextEdit::singleline(&mut self.name_buf).hint_text("name"));
        let comment = ui.add(
            egui::TextEdit::multiline(&mut self.comment_buf)
                .hint_text("comment")
                .desired_rows(2),
        );
        if name.lost_focus() || comment.lost_focus() {
            after.name = self.name_buf.clone();
            after.comment = self.comment_buf.clone();
        }
        ui.horizontal(|ui| {
            if ui.button("Delete").clicked() {
                self.delete_selected();
            }
            if ui.button("Duplicate").clicked() {
                self.duplicate_selected(50.0);
            }
        });
        if after != a && self.doc.get(&a.id).is_some() {
            self.edit(Edit::Change {
                before: Box::new(a),
                after: Box::new(after),
            });
        }
    }

    /// The heatmap an export may burn in (what the analysis panel shows).
    pub fn set_export_heatmap(&mut self, heatmap: Option<(Arc<Heatmap>, Colormap, f32, f32)>) {
        self.heatmap = heatmap;
    }

    /// Whether a region export is running, and how far it is (0..1).
    pub fn export_progress(&self) -> Option<f32> {
        self.export_job
            .as_ref()
            .map(|j| j.progress.load(Ordering::Relaxed) as f32 / 1000.0)
    }

    pub fn cancel_export(&mut self) {
        if let Some(j) = &self.export_job {
            j.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Exports the regions of `ids` from `slide` into `dir` on a thread, with the panel's settings.
    pub fn export_regions(
        &mut self,
        slide: Arc<dyn crate::slide::SlideSource>,
        ids: &[String],
        dir: PathBuf,
    ) {
        let items: Vec<Annotation> = ids
            .iter()
            .filter_map(|id| self.doc.get(id))
            .filter(|a| a.shape.is_area())
            .cloned()
            .collect();
        let outlines: Vec<(Shape, [u8; 3])> = if self.export.outlines {
            self.doc
                .items()
                .iter()
                .filter(|a| self.visible(a))
                .map(|a| {
                    let c = self.color_of(a);
                    (a.shape.clone(), [c.r(), c.g(), c.b()])
                })
                .collect()
        } else {
            Vec::new()
        };
        let heatmap = self.heatmap.clone().filter(|_| self.export.heatmap);
        let settings = self.export;
        let slide_path = slide.path().to_path_buf();
        let progress = Arc::new(AtomicU32::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let (p, c, wake) = (
            Arc::clone(&progress),
            Arc::clone(&cancel),
            Arc::clone(&self.wake),
        );
        let count = items.len();
        let spawned = Task::spawn("export-regions", Arc::clone(&self.wake), move || {
            let overlay = (settings.outlines || heatmap.is_some()).then(|| Overlay {
                outlines: &outlines,
                heatmap: heatmap
                    .as_ref()
                    .map(|(h, cm, t, o)| (h.as_ref(), *cm, *t, *o)),
            });
            let mut written = Vec::new();
            let n = items.len().max(1) as f64;
            // Every region is placed on the slide before anything is written: one wholly off
            // it refuses the export, one partly off it is cut to the slide.
            let dims = slide.dimensions();
            let mut boxes = Vec::with_capacity(items.len());
            for (k, a) in items.iter().enumerate() {
                match crate::region::placement(a.shape.bbox(), dims) {
                    crate::region::Placement::Inside => boxes.push(a.shape.bbox()),
                    crate::region::Placement::Clipped(cut) => boxes.push(cut),
                    crate::region::Placement::Outside => {
                        return Err(format!(
                            "region {} ({}) lies wholly outside the {}x{} px slide: nothing exported",
                            k + 1,
                            if a.name.is_empty() { &a.id } else { &a.name },
                            dims.0,
                            dims.1
                        ));
                    }
                }
            }
            // Named on this thread: the namer looks at the folder for names already taken.
            let mut names = crate::export_names::RegionNamer::new(&dir, &slide_path);
            // All or nothing: staged, moved into place once every region is written.
            let run = crate::export_names::ExportRun::start(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            for ((k, a), bbox) in items.iter().enumerate().zip(boxes) {
                let req = RegionRequest {
                    bbox,
                    level: settings.level,
                    out: run.stage(&names.next(k, a.class.as_deref(), &a.name)),
                    mask: settings.mask.then_some(&a.shape),
                    overlay,
                    png_max_pixels: crate::region::PNG_MAX_PIXELS,
                };
                let result = export_region(slide.as_ref(), &req, &c, |f| {
                    p.store(((k as f64 + f) / n * 1000.0) as u32, Ordering::Relaxed);
                    wake();
                });
                match result {
                    Ok(out) => {
                        written.push(out.image);
                        written.extend(out.mask);
                    }
                    Err(e) => {
                        let name = req.out.file_name().unwrap_or_default().to_string_lossy();
                        return Err(format!("exporting {name}: {e}"));
                    }
                }
            }
            run.commit(&written)
                .map_err(|e| format!("moving the regions into {}: {e}", dir.display()))
        });
        match spawned {
            Ok(task) => {
                self.export_job = Some(ExportJob {
                    task,
                    progress,
                    cancel,
                    count,
                })
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Asks for a folder (on a thread), then exports the regions of `ids` there.
    fn export_dialog_for(&mut self, slide: Arc<dyn crate::slide::SlideSource>, ids: Vec<String>) {
        match Task::spawn("export-folder", Arc::clone(&self.wake), || {
            rfd::FileDialog::new().pick_folder()
        }) {
            Ok(t) => self.file_job = Some(FileJob::Folder(t, slide, ids)),
            Err(e) => self.error = Some(e),
        }
    }

    fn export_ui(&mut self, ui: &mut egui::Ui, slide: &Arc<dyn crate::slide::SlideSource>) {
        ui.label(RichText::new("Region export").strong());
        let mpp = slide.mpp().map(|m| m.0);
        let label = |i: usize| -> String {
            let ds = slide.levels()[i].downsample;
            match mpp {
                Some(m) => format!("level {i} ({:.2} µm/px)", m * ds),
                None => format!("level {i} (1/{ds:.0})"),
            }
        };
        self.export.level = self
            .export
            .level
            .min(slide.levels().len().saturating_sub(1));
        egui::ComboBox::from_label("export at")
            .selected_text(label(self.export.level))
            .show_ui(ui, |ui| {
                for i in 0..slide.levels().len() {
                    ui.selectable_value(&mut self.export.level, i, label(i));
                }
            });
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.export.mask, "mask");
            ui.checkbox(&mut self.export.outlines, "outlines");
            ui.add_enabled(
                self.heatmap.is_some(),
                egui::Checkbox::new(&mut self.export.heatmap, "heatmap"),
            );
        });
        if let Some(f) = self.export_progress() {
            let count = self.export_job.as_ref().map_or(0, |j| j.count);
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(f)
                        .show_percentage()
                        .desired_width(160.0),
                );
                if ui.button("Cancel export").clicked() {
                    self.cancel_export();
                }
            });
            ui.label(RichText::new(format!("{count} region(s)")).weak());
            return;
        }
        ui.horizontal(|ui| {
            let selected = self
                .selected()
                .filter(|a| a.shape.is_area())
                .map(|a| a.id.clone());
            if ui
                .add_enabled(selected.is_some(), egui::Button::new("Export selected…"))
                .clicked()
                && let Some(id) = selected
            {
                self.export_dialog_for(Arc::clone(slide), vec![id]);
            }
            let class = self.filter.clone();
            let ids: Vec<String> = self
                .doc
                .items()
                .iter()
                .filter(|a| a.shape.is_area() && (class.is_none() || a.class == class))
                .map(|a| a.id.clone())
                .collect();
            let text = match &class {
                Some(c) => format!("Export all {c} ({})…", ids.len()),
                None => format!("Export all ({})…", ids.len()),
            };
            if ui
                .add_enabled(!ids.is_empty(), egui::Button::new(text))
                .clicked()
            {
                self.export_dialog_for(Arc::clone(slide), ids);
            }
        });
    }

    fn import_dialog(&mut self) {
        let dims = self.slide_dims;
        match Task::spawn("import-annotations", Arc::clone(&self.wake), move || {
            rfd::FileDialog::new()
                .add_filter(
                    "Annotations (QuPath GeoJSON, ASAP or ImageScope XML)",
                    &["geojson", "json", "xml"],
                )
                .pick_file()
                .map(|p| import(&p, dims))
        }) {
            Ok(t) => self.file_job = Some(FileJob::Import(t)),
            Err(e) => self.error = Some(e),
        }
    }

    /// Reads and parses `path` off the UI thread; the annotations arrive through [`Self::poll`].
    pub fn import_path(&mut self, path: PathBuf) {
        let dims = self.slide_dims;
        match Task::spawn("import-annotations", Arc::clone(&self.wake), move || {
            Some(import(&path, dims))
        }) {
            Ok(t) => self.file_job = Some(FileJob::Import(t)),
            Err(e) => self.error = Some(e),
        }
    }

    fn export_dialog(&mut self, asap: bool) {
        let (text, ext) = if asap {
            (
                crate::annotate::xml::export_asap(self.doc.items(), self.doc.classes()),
                "xml",
            )
        } else {
            (
                geojson::export(self.doc.items(), self.doc.classes()),
                "geojson",
            )
        };
        let stem = self
            .slide
            .as_ref()
            .and_then(|s| s.1.file_stem().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "annotations".into());
        let name = format!("{stem}.{ext}");
        match Task::spawn("export-annotations", Arc::clone(&self.wake), move || {
            let picked = rfd::FileDialog::new()
                .add_filter(if asap { "ASAP XML" } else { "GeoJSON" }, &[ext])
                .set_file_name(name)
                .save_file();
            picked.map(|p| {
                crate::fsutil::write_atomic(&p, text.as_bytes())
                    .map(|()| p.clone())
                    .map_err(|e| format!("{}: {e}", p.display()))
            })
        }) {
            Ok(t) => self.file_job = Some(FileJob::Export(t)),
            Err(e) => self.error = Some(e),
        }
    }
}

/// "1.23 mm² · 4.5 mm" style measures (pixels where the slide has no mpp).
/// Reads an annotation file, placed against the open slide's size when there is one.
fn import(
    path: &std::path::Path,
    dims: Option<(u64, u64)>,
) -> Result<crate::annotate::geojson::Imported, String> {
    match dims {
        Some(d) => crate::annotate::import_file_for_slide(path, d),
        None => crate::annotate::import_file(path),
    }
}

pub fn measure_text(shape: &Shape, mpp: Option<[f64; 2]>) -> String {
    let Some(mpp) = mpp else {
        return match shape {
            Shape::Line { .. } => format!("{:.0} px", shape.measure([1.0, 1.0]).length_um),
            Shape::Points { points } => format!("{} point(s)", points.len()),
            _ => format!("{:.0} px²", shape.area_px()),
        };
    };
    let m = shape.measure(mpp);
    let area = |a: f64| {
        if a >= 1e5 {
            format!("{:.3} mm²", a / 1e6)
        } else {
            format!("{a:.0} µm²")
        }
    };
    match shape {
        Shape::Line { .. } => format_length(m.length_um),
        Shape::Points { points } => format!("{} point(s)", points.len()),
        _ => format!("{} · {}", area(m.area_um2), format_length(m.perimeter_um)),
    }
}

/// A measured length: three significant figures, µm below a millimetre.
pub fn format_length(um: f64) -> String {
    if um >= 1000.0 {
        format!("{:.3} mm", um / 1000.0)
    } else if um >= 10.0 {
        format!("{um:.1} µm")
    } else {
        format!("{um:.2} µm")
    }
}

/// The fill triangles of `shape` (annotation `id`), from `cache` while the shape is unchanged.
fn triangles_of<'a>(
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

pub(crate) fn draw_outline(
    painter: &egui::Painter,
    shape: &Shape,
    to_screen: &dyn Fn(Point) -> Pos2,
    color: Color32,
    width: f32,
    mpp: Option<[f64; 2]>,
) {
    let pen = Pen::new(width, color);
    let shadow = Pen::new(width + 2.0, Color32::from_black_alpha(120));
    let ring = |r: &[Point]| -> Vec<Pos2> { r.iter().map(|p| to_screen(*p)).collect() };
    match shape {
        Shape::Rectangle { .. } | Shape::Ellipse { .. } => {
            let pts = ring(&shape.outline());
            painter.add(egui::Shape::closed_line(pts.clone(), shadow));
            painter.add(egui::Shape::closed_line(pts, pen));
        }
        Shape::Area { polygons } => {
            for r in polygons.iter().flatten() {
                let pts = ring(r);
                painter.add(egui::Shape::closed_line(pts.clone(), shadow));
                painter.add(egui::Shape::closed_line(pts, pen));
            }
        }
        Shape::Points { points } => {
            for p in points {
                painter.circle(to_screen(*p), 5.0, color, Pen::new(1.5, Color32::BLACK));
            }
        }
        Shape::Line { points } => {
            let pts = ring(points);
            painter.add(egui::Shape::line(pts.clone(), shadow));
            painter.add(egui::Shape::line(pts.clone(), pen));
            if points.len() == 2 {
                let mid = pts[0] + (pts[1] - pts[0]) / 2.0;
                let text = measure_text(shape, mpp);
                let galley =
                    painter.layout_no_wrap(text, egui::FontId::proportional(13.0), Color32::WHITE);
                let at = mid + egui::vec2(8.0, -8.0 - galley.size().y);
                painter.rect_filled(
                    egui::Rect::from_min_size(at, galley.size()).expand(3.0),
                    3.0,
                    Color32::from_black_alpha(180),
                );
                painter.galley(at, galley, Color32::WHITE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_read_as_a_pathologist_writes_them() {
        let mpp = Some([0.25, 0.25]);
        let r = Shape::rectangle([0.0, 0.0], [400.0, 200.0]);
        assert_eq!(measure_text(&r, mpp), "5000 µm² · 300.0 µm");
        let big = Shape::rectangle([0.0, 0.0], [4000.0, 4000.0]);
        assert_eq!(measure_text(&big, mpp), "1.000 mm² · 4.000 mm");
        let ruler = Shape::Line {
            points: vec![[0.0, 0.0], [30.0, 40.0]],
        };
        assert_eq!(measure_text(&ruler, mpp), "12.5 µm");
        assert_eq!(measure_text(&ruler, None), "50 px");
    }
}
