//! The eframe application: owns the open slide and routes input and commands; no business logic.

mod canvas;
mod capture;
mod commands;
mod opening;
mod panes;

pub use capture::save_png;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::Instant;

use egui::{Color32, TextureHandle};

use crate::recent::RecentFiles;
use crate::slide::read_overview;
use crate::slide::{RgbaImage, SlideSource};
use crate::task::{Poll, Task};
use crate::ui::analysis_panel::AnalysisUi;
use crate::ui::annotations::AnnotationUi;
use crate::ui::review::{CaseContext, ReviewUi};
use crate::ui::{self, Command};
use crate::viewer::{Budgets, SlideView};

/// Where to go once the slide is open (`--at X,Y --mag M`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoTo {
    pub centre: [f64; 2],
    /// On-screen magnification; where the slide has no objective power or mpp it is read as
    /// screen pixels per slide pixel.
    pub magnification: Option<f64>,
}

/// How the app starts.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The slide to open; `None` opens the demo slide (generated on first use).
    pub slide: Option<PathBuf>,
    pub goto: Option<GoTo>,
    /// Save a screenshot here once every visible tile is at full resolution, then exit.
    pub screenshot: Option<PathBuf>,
    pub budgets: Budgets,
    /// Where recent files are remembered.
    pub data_dir: PathBuf,
    /// Run the viewer benchmark script and print its report instead of waiting for the user.
    pub bench: Option<crate::bench::viewer::ViewerBenchSpec>,
    /// Which heatmap a scripted screenshot shows (with the analysis panel).
    pub heatmap: LaunchHeatmap,
    /// Another tool's heatmap (ASAP TIFF or DSA JSON) to import over the slide once it opens.
    pub compare: Option<PathBuf>,
    /// The overlay layer shown at launch.
    pub layer: crate::ui::heatmap_compare::Layer,
    /// Annotations (GeoJSON, ASAP or ImageScope XML, NDPA) to import once the slide's own have
    /// loaded; a scripted screenshot waits until they are drawn.
    pub annotations: Option<PathBuf>,
}

/// The heatmap a scripted screenshot waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LaunchHeatmap {
    /// None: the bare viewer.
    #[default]
    Off,
    /// The stored result of the bundled model; the screenshot fails if there is none.
    Stored,
    /// Analyse the slide first (or reuse the stored result).
    Analyze,
}

/// The exit status the binary should return (set by the screenshot driver).
pub type ExitStatus = Arc<AtomicI32>;

struct Opened {
    path: PathBuf,
    slide: Arc<dyn SlideSource>,
    overview: RgbaImage,
    associated: Vec<(String, RgbaImage)>,
}

struct Opening {
    path: PathBuf,
    /// A review case is being opened: a failure is the review panel's to show too.
    for_review: bool,
    task: Task<Result<Opened, String>>,
    /// Per-mille done while the demo slide is being generated on first run.
    generating: Option<Arc<std::sync::atomic::AtomicU32>>,
}

enum Screenshot {
    Off,
    /// Waiting for a complete frame.
    Waiting {
        path: PathBuf,
        since: Instant,
        complete_frames: u32,
    },
    Requested {
        path: PathBuf,
        since: Instant,
        rx: Receiver<Arc<egui::ColorImage>>,
    },
    Saving {
        task: Task<Result<(), String>>,
    },
    Done,
}

/// How long a scripted screenshot may wait for tiles.
const SCREENSHOT_TIMEOUT_S: u64 = 120;

pub struct SentinelApp {
    launch: Launch,
    current: Option<SlideView>,
    associated: Vec<(String, TextureHandle, [usize; 2])>,
    pending_associated: Vec<(String, RgbaImage)>,
    opening: Option<Opening>,
    dialog: Option<Task<Option<PathBuf>>>,
    pending_goto: Option<GoTo>,
    /// The error dialog: what failed (its title) and why.
    error: Option<(&'static str, String)>,
    recent: RecentFiles,
    show_properties: bool,
    show_help: bool,
    show_associated: bool,
    cursor: Option<[f64; 2]>,
    canvas: Option<egui::Rect>,
    overview: Option<egui::Rect>,
    screenshot: Screenshot,
    exit: ExitStatus,
    repaint: Arc<dyn Fn() + Send + Sync>,
    /// What tile readers call: [`one_frame`].
    tile_wake: Arc<dyn Fn() + Send + Sync>,
    bench: Option<crate::bench::viewer::ViewerBench>,
    /// The benchmark's annotations were asked for.
    bench_imported: bool,
    /// The launch's annotation file is still to be imported.
    launch_import_pending: bool,
    analysis: AnalysisUi,
    show_analysis: bool,
    annotations: AnnotationUi,
    show_annotations: bool,
    snapshot: Snapshot,
    review: ReviewUi,
    show_review: bool,
    /// Opening threads whose result is no longer wanted, still running.
    superseded: Vec<Task<Result<Opened, String>>>,
    /// Writes the user's preferences as they change; `None` in scripted runs (screenshots,
    /// benchmarks), which neither read nor write them.
    prefs: Option<crate::prefs::PrefsSaver>,
    /// A short message shown over the canvas (what was saved) and until when.
    notice: Option<(String, Instant)>,
    /// A second view beside the main one, the slide it is opening, and its file dialog.
    second: Option<panes::SecondPane>,
    pane_opening: Option<panes::PaneOpening>,
    pane_dialog: Option<Task<Option<PathBuf>>>,
}

/// Saving a picture of the view: choose a file, capture the next frame, crop it to the canvas,
/// write it off the UI thread.
enum Snapshot {
    Idle,
    Choosing(Task<Option<PathBuf>>),
    /// The frame is asked of the window (an egui event, not a thread).
    Capturing(PathBuf, Receiver<Arc<egui::ColorImage>>),
    Saving(PathBuf, Task<Result<(), String>>),
}

impl SentinelApp {
    pub fn new(cc: &eframe::CreationContext<'_>, launch: Launch, exit: ExitStatus) -> Self {
        let ctx = cc.egui_ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
        let ctx = cc.egui_ctx.clone();
        let tile_wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || one_frame(&ctx));
        let recent = RecentFiles::load(&launch.data_dir.join("recent.json"));
        let screenshot = match &launch.screenshot {
            Some(p) => Screenshot::Waiting {
                path: p.clone(),
                since: Instant::now(),
                complete_frames: 0,
            },
            None => Screenshot::Off,
        };
        if let Some(rs) = cc.wgpu_render_state.as_ref() {
            crate::viewer::heatmap_layer::HeatmapRenderer::install(rs);
            crate::viewer::annotation_layer::AnnotationRenderer::install(rs);
        }
        let analysis = AnalysisUi::new(crate::paths::model_dir(), launch.data_dir.join("analyses"));
        // One store thread (one SQLite connection) for the app; each panel is a client of it.
        let store = crate::store::StoreThread::start(launch.data_dir.clone(), Arc::clone(&repaint));
        let review_store = store.connect(Arc::clone(&repaint));
        let annotations = AnnotationUi::new(store, Arc::clone(&repaint));
        let review = ReviewUi::new(review_store, launch.data_dir.clone(), Arc::clone(&repaint));
        let mut app = Self {
            analysis,
            annotations,
            show_annotations: launch.screenshot.is_none() && launch.bench.is_none(),
            snapshot: Snapshot::Idle,
            review,
            show_review: false,
            superseded: Vec::new(),
            notice: None,
            second: None,
            pane_opening: None,
            pane_dialog: None,
            prefs: None,
            // Scripted screenshots and benchmarks measure the bare viewer unless a heatmap is asked.
            show_analysis: (launch.screenshot.is_none() && launch.bench.is_none())
                || launch.heatmap != LaunchHeatmap::Off,
            bench: launch
                .bench
                .clone()
                .map(crate::bench::viewer::ViewerBench::new),
            bench_imported: false,
            launch_import_pending: launch.annotations.is_some(),
            pending_goto: launch.goto,
            launch,
            current: None,
            associated: Vec::new(),
            pending_associated: Vec::new(),
            opening: None,
            dialog: None,
            error: None,
            recent,
            show_properties: false,
            show_help: false,
            show_associated: false,
            cursor: None,
            canvas: None,
            overview: None,
            screenshot,
            exit,
            repaint,
            tile_wake,
        };
        match app.launch.slide.clone() {
            Some(p) => app.open(p),
            None => app.open_demo(),
        }
        // A scripted run measures or pictures the bare viewer: it neither reads nor writes the
        // user's preferences.
        if app.launch.screenshot.is_none() && app.launch.bench.is_none() {
            let file = crate::prefs::Preferences::file_in(&app.launch.data_dir);
            let loaded = crate::prefs::Preferences::load(&file);
            app.apply_preferences(&loaded);
            app.prefs = Some(crate::prefs::PrefsSaver::new(
                file,
                loaded,
                Arc::clone(&app.repaint),
            ));
        }
        app
    }

    /// The open slide's view, if any (tests and benchmarks drive it).
    pub fn slide_view(&self) -> Option<&SlideView> {
        self.current.as_ref()
    }

    pub fn slide_view_mut(&mut self) -> Option<&mut SlideView> {
        self.current.as_mut()
    }

    /// Shows or hides the analysis side panel.
    pub fn set_analysis_panel(&mut self, show: bool) {
        self.show_analysis = show;
    }

    /// The analysis state (tests drive it).
    pub fn set_annotation_panel(&mut self, show: bool) {
        self.show_annotations = show;
    }

    pub fn set_review_panel(&mut self, show: bool) {
        self.show_review = show;
    }

    /// Shows or hides the slide properties panel (hidden anyway during a blinded reading).
    pub fn set_properties_panel(&mut self, show: bool) {
        self.show_properties = show;
    }

    /// Whether the review read is bound to the slide on screen (see [`ReviewUi::binding`]).
    pub fn review_binding(&self) -> Result<(), String> {
        self.review.binding(
            self.current.as_ref().map(|v| v.slide.as_ref()),
            self.annotations.is_loaded(),
            self.opening.is_some(),
        )
    }

    pub fn review(&self) -> &ReviewUi {
        &self.review
    }

    pub fn review_mut(&mut self) -> &mut ReviewUi {
        &mut self.review
    }

    pub fn annotations(&self) -> &AnnotationUi {
        &self.annotations
    }

    pub fn annotations_mut(&mut self) -> &mut AnnotationUi {
        &mut self.annotations
    }

    pub fn analysis(&self) -> &AnalysisUi {
        &self.analysis
    }

    pub fn analysis_mut(&mut self) -> &mut AnalysisUi {
        &mut self.analysis
    }

    /// The error dialog's message, if one is showing.
    pub fn error_message(&self) -> Option<&str> {
        self.error.as_ref().map(|(_, m)| m.as_str())
    }

    /// The error dialog's title: what failed.
    pub fn error_title(&self) -> Option<&str> {
        self.error.as_ref().map(|(t, _)| *t)
    }

    /// Where the slide canvas and the overview were drawn in the last frame (points).
    pub fn layout(&self) -> (Option<egui::Rect>, Option<egui::Rect>) {
        (self.canvas, self.overview)
    }

    /// Whether a slide is being opened in the background.
    pub fn is_opening(&self) -> bool {
        self.opening.is_some()
    }
}

impl eframe::App for SentinelApp {
    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        crate::viewer::BACKDROP.to_normalized_gamma_f32()
    }

    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        if let Some(b) = &mut self.bench {
            b.frame_start(frame.info().cpu_usage);
            if let Some(v) = self.current.as_mut() {
                b.before_canvas(v);
            }
        }
        let now = self.preferences();
        if let Some(p) = &mut self.prefs {
            p.update(&now);
        }
        self.poll_opening(ctx);
        self.poll_panes();
        // What the worker threads reported (analysis progress, saves, review data), once a frame
        // before anything is drawn.
        self.analysis.poll(&self.repaint);
        self.sync_dwell();
        self.annotations.poll();
        self.review.poll();
        if let Some(t) = &mut self.dialog {
            match t.poll() {
                Poll::Pending => {}
                Poll::Ready(picked) => {
                    self.dialog = None;
                    if let Some(path) = picked {
                        self.open(path);
                    }
                }
                Poll::Gone => self.dialog = None,
            }
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            self.open(p);
        }
        if self.current.is_some() {
            self.annotations.keyboard(ctx);
        }
        for cmd in ui::keyboard(ctx) {
            self.apply(ctx, cmd);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let mut commands = Vec::new();
        // Blinded while reading: no file names (status bar, recent files, opening), properties,
        // label or macro images.
        let blind = self.review.blind_label();
        egui::Panel::top("menu").show(ui, |ui| {
            let recent: &[PathBuf] = if blind.is_some() {
                &[]
            } else {
                &self.recent.paths
            };
            ui::top_bar(ui, self.current.as_ref(), recent, &mut commands);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            let opening = self
                .opening
                .as_ref()
                .map(|o| match (&o.generating, &blind) {
                    (Some(p), _) if p.load(Ordering::Relaxed) > 0 => format!(
                        "the demo slide: generating it on first run, {:.0}%",
                        f64::from(p.load(Ordering::Relaxed)) / 10.0
                    ),
                    (_, Some(label)) => label.clone(),
                    _ => o.path.display().to_string(),
                });
            ui::status_bar(
                ui,
                self.current.as_ref(),
                blind.as_deref(),
                self.cursor,
                opening.as_deref(),
            );
        });
        // A case being read gets its heatmap computed if none is stored: the assisted arm shows
        // it, the coverage audit needs it in both. The unassisted arm never shows it.
        if self.review.reading_arm().is_some()
            && self.analysis.take_nothing_stored()
            && let Some(v) = &self.current
        {
            self.analysis.start(v, Arc::clone(&self.repaint));
        }
        if self.review.reading_arm() == Some(crate::review::session::Arm::Unassisted) {
            self.analysis.style.visible = false;
            self.show_analysis = false;
        }
        if self.show_review {
            let mpp = self
                .current
                .as_ref()
                .and_then(|v| v.slide.mpp().map(|m| m.0));
            let ctx = CaseContext {
                slide: self.current.as_ref().map(|v| v.slide.as_ref()),
                annotations_loaded: self.annotations.is_loaded(),
                opening: self.opening.is_some(),
                annotations: self.annotations.document().items(),
                heatmap: self.analysis.heatmap(),
                mpp,
                audit_threshold: self.analysis.operating_point().0,
            };
            egui::Panel::right("review")
                .default_size(300.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("review-panel")
                        .show(ui, |ui| self.review.panel(ui, &ctx, &mut commands))
                });
        }
        if self.show_annotations {
            self.annotations
                .set_export_heatmap(self.analysis.shown_heatmap());
            let slide = self.current.as_ref().map(|v| Arc::clone(&v.slide));
            egui::Panel::left("annotations")
                .default_size(280.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("annotations-panel")
                        .show(ui, |ui| {
                            self.annotations.panel(ui, slide.as_ref(), &mut commands)
                        })
                });
        }
        if self.show_analysis {
            let slide = self.current.as_ref().map(|v| Arc::clone(&v.slide));
            egui::Panel::right("analysis")
                .default_size(300.0)
                .show(ui, |ui| {
                    self.analysis.panel(ui, slide.as_ref(), &mut commands)
                });
        }
        if let Some(v) = self
            .current
            .as_ref()
            .filter(|_| self.show_properties && blind.is_none())
        {
            egui::Panel::right("properties")
                .default_size(340.0)
                .show(ui, |ui| ui::properties_panel(ui, v));
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                self.central(ui, &mut commands);
            });
        if blind.is_none() {
            self.associated_window(&ctx);
        }
        ui::help_window(&ctx, &mut self.show_help);
        if let Some((title, message)) = self.error.clone() {
            let modal =
                egui::Modal::new(egui::Id::unique("sentinel-error-dialog")).show(&ctx, |ui| {
                    ui.set_max_width(520.0);
                    ui.heading(title);
                    ui.add_space(4.0);
                    ui.label(message);
                    ui.add_space(8.0);
                    if ui.button("OK").clicked() {
                        commands.push(Command::DismissError);
                    }
                });
            if modal.should_close() {
                commands.push(Command::DismissError);
            }
        }
        for cmd in commands {
            self.apply(&ctx, cmd);
        }
        self.drive_screenshot(&ctx);
        self.drive_snapshot(&ctx);
        self.drive_launch_import();
        self.drive_bench(&ctx);
    }
}

impl SentinelApp {
    /// Imports the launch's annotation file once the open slide's own annotations are loaded
    /// (importing earlier would be replaced by the load).
    fn drive_launch_import(&mut self) {
        if self.launch_import_pending
            && self.current.is_some()
            && self.opening.is_none()
            && self.annotations.is_loaded()
            && let Some(path) = self.launch.annotations.clone()
        {
            self.annotations.import_path(path);
            self.launch_import_pending = false;
        }
    }

    /// Whether the launch's annotations are imported and drawn as they are.
    pub(super) fn launch_annotations_shown(&mut self) -> bool {
        self.launch.annotations.is_none()
            || (!self.launch_import_pending
                && !self.annotations.importing()
                && self.annotations.drawn_as_built())
    }

    fn drive_bench(&mut self, ctx: &egui::Context) {
        let (Some(bench), Some(view)) = (self.bench.as_mut(), self.current.as_mut()) else {
            return;
        };
        if let Some(path) = bench.annotations_to_import()
            && !self.bench_imported
        {
            self.annotations.import_path(path.to_owned());
            self.bench_imported = true;
        }
        let state = crate::bench::viewer::AnnotationState {
            count: self.annotations.document().items().len(),
            drawn: self.annotations.drawn_as_built(),
            saved: self.annotations.all_saved(),
            failed: self.annotations.error().is_some(),
        };
        if let Some(report) = bench.frame_end(view, state) {
            if let Some(why) = self.annotations.error() {
                eprintln!("annotations: {why}");
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        } else {
            use crate::bench::viewer::NextFrame;
            match bench.next_frame() {
                NextFrame::Every => ctx.request_repaint(),
                NextFrame::One => one_frame(ctx),
                NextFrame::None => {}
            }
        }
    }
}

impl SentinelApp {
    /// The preferences in effect now.
    pub fn preferences(&self) -> crate::prefs::Preferences {
        let style = &self.analysis.style;
        crate::prefs::Preferences {
            brush_pt: self.annotations.brush_pt,
            fill: self.annotations.fill,
            hidden_classes: self.annotations.hidden_classes(),
            heatmap_colormap: style.colormap,
            heatmap_opacity: style.opacity,
            heatmap_smooth: style.smooth,
            show_analysis: self.show_analysis,
            show_annotations: self.show_annotations,
            show_review: self.show_review,
            show_properties: self.show_properties,
        }
    }

    fn apply_preferences(&mut self, p: &crate::prefs::Preferences) {
        self.annotations.brush_pt = p.brush_pt;
        self.annotations.fill = p.fill;
        self.annotations.set_hidden_classes(&p.hidden_classes);
        self.analysis.style.colormap = p.heatmap_colormap;
        self.analysis.style.opacity = p.heatmap_opacity;
        self.analysis.style.smooth = p.heatmap_smooth;
        self.show_analysis = p.show_analysis;
        self.show_annotations = p.show_annotations;
        self.show_review = p.show_review;
        self.show_properties = p.show_properties;
    }
}

impl Drop for SentinelApp {
    /// Waits (a while) for analyses being cancelled and slides still being opened: their threads
    /// are inside ONNX Runtime or OpenSlide, and the process's exit handlers must not unload those
    /// libraries under them.
    fn drop(&mut self) {
        let now = self.preferences();
        if let Some(p) = &mut self.prefs {
            p.flush(&now);
        }
        // Queued saves (a large import, then Quit) reach the disk before the process ends.
        for (what, result) in [
            (
                "annotations",
                self.annotations
                    .shutdown(std::time::Duration::from_secs(20)),
            ),
            (
                "review",
                self.review.shutdown(std::time::Duration::from_secs(20)),
            ),
        ] {
            if let Err(e) = result {
                tracing::error!("{what}: {e}");
                eprintln!("warning: {what}: {e}");
            }
        }
        self.analysis.shutdown(std::time::Duration::from_secs(10));
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        let pending = self
            .opening
            .take()
            .map(|o| o.task)
            .into_iter()
            .chain(self.superseded.drain(..));
        for mut t in pending {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = t.wait(left);
        }
    }
}

/// Asks for one more frame. `request_repaint` gives two, the second for widgets that settle a
/// frame late; a repaint after a delay gives one. Tile arrivals and the benchmark's jumps need one
/// (the canvas asks for its own next frame while uploads remain), and a spare frame takes CPU from
/// the tile readers, all of a frame on a software rasteriser.
fn one_frame(ctx: &egui::Context) {
    ctx.request_repaint_after(std::time::Duration::from_millis(1));
}
