//! The annotation side of the GUI: the current slide's annotations (loaded from and saved to the
//! store on its own thread after every edit), the drawing tools on the canvas, selection, moving and
//! vertex editing, undo/redo, the class list, the annotation list with measurements, and GeoJSON
//! import/export (file dialogs and file I/O off the UI thread).

mod dense;
mod files;
mod input;
mod paint;
mod panel;

pub use panel::{format_length, measure_text};

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
    /// The open slide's size and NDPA frame: imports are placed against it.
    placement: Option<crate::annotate::Placement>,
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
    dense: dense::DenseDraw,
    /// Annotations per class at a document revision (the class list shows them every frame).
    class_counts: Option<(u64, HashMap<String, usize>)>,
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
    v.slide.id().to_string()
}

impl AnnotationUi {
    /// The panel, saving through `store` (the app's store thread, see [`StoreThread::connect`]).
    pub fn new(store: StoreThread, wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self {
            store,
            wake,
            slide: None,
            placement: None,
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
            dense: dense::DenseDraw::default(),
            class_counts: None,
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
            .filter(|(key, _)| v.slide.id().matches_key(v.slide.path(), key))
            .map(|(_, scope)| scope.clone());
        let key = scoped.clone().unwrap_or_else(|| slide_key(v));
        let mpp = v.slide.mpp().map(|(x, y)| [x, y]);
        // Earlier releases keyed slides without a quickhash by their path: adopt those.
        let legacy = v
            .slide
            .id()
            .legacy_key(v.slide.path())
            .filter(|_| scoped.is_none());
        self.store.load_or_adopt(&key, legacy.as_deref());
        self.slide = Some((key, v.slide.path().to_path_buf(), mpp));
        self.placement = Some(crate::annotate::Placement::new(
            v.slide.dimensions(),
            v.slide.mpp(),
            v.slide.properties(),
        ));
        self.loaded = false;
        self.doc = Document::default();
        self.selected = None;
        self.moving = None;
        self.drawing = Drawing::new(self.tool);
        self.triangles.clear();
        self.dense.clear();
    }

    /// Classes hidden on the canvas, sorted (a preference that persists).
    pub fn hidden_classes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.hidden.iter().cloned().collect();
        v.sort();
        v
    }

    pub fn set_hidden_classes(&mut self, classes: &[String]) {
        self.hidden = classes.iter().cloned().collect();
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

    fn visible(&self, a: &Annotation) -> bool {
        a.class.as_ref().is_none_or(|c| !self.hidden.contains(c))
    }
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
