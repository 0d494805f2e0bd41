//! Documents too large to walk every frame (imported detections) are drawn from a
//! [`DenseLayer`]: built off the UI thread once per revision, uploaded to the GPU once, and culled
//! by its grid. Far out, its raster stands in. egui still draws what is being edited, the lines
//! (they carry a measurement label) and the tools.

use std::hash::{Hash, Hasher};

use super::*;
use crate::annotate::dense::{DenseLayer, Lod};
use crate::viewer::annotation_layer::AnnotationCallback;

/// From this many vertices (points count one each) a document is drawn as a dense layer. Below
/// it egui's per-frame drawing is cheaper than a rebuild after every edit.
pub const DENSE_FROM_VERTICES: usize = 20_000;

/// What a build makes: the layer, and its raster as an image for egui.
type Layered = (Arc<DenseLayer>, egui::ColorImage);

/// A built layer, its GPU version and its raster as a texture.
struct Built {
    key: u64,
    version: u64,
    layer: Arc<DenseLayer>,
    raster: Option<egui::TextureHandle>,
    raster_image: Option<egui::ColorImage>,
}

#[derive(Default)]
pub(super) struct DenseDraw {
    /// (revision, vertex count) of the document last measured.
    weight: Option<(u64, usize)>,
    current: Option<Built>,
    building: Option<(u64, Task<Layered>)>,
    versions: u64,
}

impl DenseDraw {
    /// Whether a document this size is drawn as a layer.
    pub(super) fn wanted(&mut self, doc: &Document) -> bool {
        let revision = doc.revision();
        let weight = match self.weight {
            Some((r, w)) if r == revision => w,
            _ => {
                let w = doc
                    .items()
                    .iter()
                    .map(|a| match &a.shape {
                        Shape::Points { points } => points.len(),
                        Shape::Area { polygons } => polygons.iter().flatten().map(Vec::len).sum(),
                        Shape::Line { points } => points.len(),
                        Shape::Rectangle { .. } => 4,
                        Shape::Ellipse { .. } => crate::annotate::shape::ELLIPSE_VERTICES,
                    })
                    .sum();
                self.weight = Some((revision, w));
                w
            }
        };
        weight >= DENSE_FROM_VERTICES
    }

    pub(super) fn clear(&mut self) {
        *self = Self {
            versions: self.versions,
            ..Self::default()
        };
    }

    /// Whether a layer for exactly what is shown now is on hand (tests wait for it).
    pub(super) fn is_current(&self, key: u64) -> bool {
        self.current.as_ref().is_some_and(|b| b.key == key)
    }
}

impl AnnotationUi {
    /// What the layer depends on besides geometry: the document's revision, the class colours
    /// shown now and the hidden classes.
    fn dense_key(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.doc.revision().hash(&mut h);
        for c in self.classes_now() {
            c.name.hash(&mut h);
            c.color.hash(&mut h);
        }
        self.hidden_classes().hash(&mut h);
        h.finish()
    }

    /// Whether the canvas draws this document from a dense layer (some layer: see
    /// [`Self::drawn_as_built`] for whether it is up to date).
    pub fn drawn_densely(&self) -> bool {
        self.dense.current.is_some()
            && self
                .dense
                .weight
                .is_some_and(|(r, w)| r == self.doc.revision() && w >= DENSE_FROM_VERTICES)
    }

    /// Whether the last frame drew the document as it is now: with egui, or from a dense layer
    /// built for this revision.
    pub fn drawn_as_built(&self) -> bool {
        match self.dense.weight {
            Some((r, w)) if r == self.doc.revision() => {
                w < DENSE_FROM_VERTICES || self.dense.is_current(self.dense_key())
            }
            _ => false,
        }
    }

    /// Starts a build when the layer is out of date and none is running; takes a finished one.
    fn refresh_dense(&mut self, ctx: &egui::Context, extent: (u64, u64)) {
        let key = self.dense_key();
        if let Some((k, task)) = &mut self.dense.building {
            match task.poll() {
                Poll::Ready((layer, image)) => {
                    self.dense.versions += 1;
                    self.dense.current = Some(Built {
                        key: *k,
                        version: self.dense.versions,
                        layer,
                        raster: None,
                        raster_image: Some(image),
                    });
                    self.dense.building = None;
                }
                Poll::Pending => return,
                Poll::Gone => {
                    self.error = Some("drawing the annotations stopped unexpectedly".into());
                    self.dense.building = None;
                    return;
                }
            }
        }
        if let Some(b) = &mut self.dense.current
            && let Some(image) = b.raster_image.take()
        {
            b.raster =
                Some(ctx.load_texture("annotation-lod", image, egui::TextureOptions::LINEAR));
        }
        if self.dense.is_current(key) {
            return;
        }
        let items = self.doc.snapshot();
        let colours: HashMap<String, [u8; 3]> = self
            .classes_now()
            .iter()
            .map(|c| (c.name.clone(), c.color))
            .collect();
        let hidden = self.hidden.clone();
        match Task::spawn("annotation-layer", Arc::clone(&self.wake), move || {
            let color = |a: &Annotation| match &a.class {
                Some(c) if hidden.contains(c) => None,
                Some(c) => Some(colours.get(c).copied().unwrap_or([200, 200, 200])),
                None => Some([200, 200, 200]),
            };
            let layer = DenseLayer::build(&items, extent, color, true);
            let r = &layer.raster;
            let image = egui::ColorImage::from_rgba_unmultiplied(
                [r.width as usize, r.height as usize],
                &r.rgba,
            );
            (Arc::new(layer), image)
        }) {
            Ok(task) => self.dense.building = Some((key, task)),
            Err(m) => self.error = Some(m),
        }
    }

    /// Draws the dense layer (or, while the first one is built, says so). The caller draws the
    /// edited annotation, previews and tools on top.
    pub(super) fn paint_dense(&mut self, painter: &egui::Painter, rect: egui::Rect, v: &SlideView) {
        self.refresh_dense(painter.ctx(), v.slide.dimensions());
        let Some(b) = &self.dense.current else {
            painter.text(
                rect.center_top() + egui::vec2(0.0, 24.0),
                egui::Align2::CENTER_TOP,
                format!("Preparing {} annotations…", self.doc.items().len()),
                egui::FontId::proportional(14.0),
                Color32::WHITE,
            );
            return;
        };
        let visible = v.view.visible();
        // Point discs (radius 5.75 points) and line shadows reach past their geometry.
        let margin = 8.0 / v.view.zoom;
        match b.layer.lod(visible, margin) {
            Lod::Vectors(ranges) => {
                let mut cb = AnnotationCallback::new(
                    Arc::clone(&b.layer),
                    b.version,
                    ranges,
                    &v.view,
                    rect.min,
                );
                cb.fill = self.fill;
                cb.skip = self
                    .selected
                    .as_ref()
                    .and_then(|id| b.layer.index_of.get(id).copied());
                painter.add(egui_wgpu::Callback::new_paint_callback(rect, cb));
            }
            Lod::Raster => {
                if let Some(tex) = &b.raster {
                    let r = &b.layer.raster;
                    v.paint_slide_image(
                        painter,
                        rect.min,
                        tex.id(),
                        [r.width, r.height],
                        r.downsample,
                    );
                }
            }
        }
    }

    /// Ids of the lines to draw with egui, from the current layer.
    pub(super) fn dense_lines(&self) -> Vec<String> {
        self.dense
            .current
            .as_ref()
            .map(|b| b.layer.lines.clone())
            .unwrap_or_default()
    }
}
