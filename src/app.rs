//! The eframe application: owns the open slide and routes input and commands; no business logic.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, channel};

use crate::task::{Poll, Task};
use std::time::Instant;

use egui::{Color32, TextureHandle};

use crate::recent::RecentFiles;
use crate::slide::read_overview;
use crate::slide::{RgbaImage, SlideSource};
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
    error: Option<String>,
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
    bench: Option<crate::bench::viewer::ViewerBench>,
    analysis: AnalysisUi,
    show_analysis: bool,
    annotations: AnnotationUi,
    show_annotations: bool,
    snapshot: Snapshot,
    review: ReviewUi,
    show_review: bool,
    /// Opening threads whose result is no longer wanted, still running.
    superseded: Vec<Task<Result<Opened, String>>>,
    /// A short message shown over the canvas (what was saved) and until when.
    notice: Option<(String, Instant)>,
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
        }
        let analysis = AnalysisUi::new(crate::paths::model_dir(), launch.data_dir.join("analyses"));
        let annotations = AnnotationUi::new(launch.data_dir.clone(), Arc::clone(&repaint));
        let review = ReviewUi::new(launch.data_dir.clone(), Arc::clone(&repaint));
        let mut app = Self {
            analysis,
            annotations,
            show_annotations: launch.screenshot.is_none() && launch.bench.is_none(),
            snapshot: Snapshot::Idle,
            review,
            show_review: false,
            superseded: Vec::new(),
            notice: None,
            // Scripted screenshots and benchmarks measure the bare viewer unless a heatmap is asked.
            show_analysis: (launch.screenshot.is_none() && launch.bench.is_none())
                || launch.heatmap != LaunchHeatmap::Off,
            bench: launch
                .bench
                .clone()
                .map(crate::bench::viewer::ViewerBench::new),
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
        };
        match app.launch.slide.clone() {
            Some(p) => app.open(p),
            None => app.open_demo(),
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

    /// Saves the next frame's slide canvas (slide, overlays, scale bar) to `path` as PNG.
    pub fn snapshot_to(&mut self, ctx: &egui::Context, path: PathBuf) {
        self.snapshot = Snapshot::Capturing(path, self.request_capture(ctx));
    }

    /// Asks for a capture of the next frame; it arrives on the returned channel.
    fn request_capture(&self, ctx: &egui::Context) -> Receiver<Arc<egui::ColorImage>> {
        let (tx, rx) = channel();
        let repaint = Arc::clone(&self.repaint);
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
            egui::ScreenshotCallback::new(move |img| {
                let _ = tx.send(img);
                repaint();
            }),
        ));
        ctx.request_repaint();
        rx
    }

    /// The message shown after a snapshot or similar, if still showing.
    pub fn notice(&self) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(m, _)| m.as_str())
    }

    fn drive_snapshot(&mut self, ctx: &egui::Context) {
        let state = std::mem::replace(&mut self.snapshot, Snapshot::Idle);
        self.snapshot = match state {
            Snapshot::Idle => Snapshot::Idle,
            Snapshot::Choosing(mut t) => match t.poll() {
                Poll::Ready(Some(path)) => {
                    self.snapshot_to(ctx, path);
                    return;
                }
                Poll::Ready(None) | Poll::Gone => Snapshot::Idle,
                Poll::Pending => Snapshot::Choosing(t),
            },
            Snapshot::Capturing(path, rx) => match rx.try_recv() {
                Ok(img) => {
                    let crop = self.canvas.map(|r| {
                        let ppp = ctx.pixels_per_point();
                        [r.min.x * ppp, r.min.y * ppp, r.max.x * ppp, r.max.y * ppp]
                    });
                    let target = path.clone();
                    let spawned =
                        Task::spawn("save-snapshot", Arc::clone(&self.repaint), move || {
                            let cropped = match crop {
                                Some(c) => crop_image(&img, c),
                                None => (*img).clone(),
                            };
                            save_png(&target, &cropped)
                        });
                    match spawned {
                        Ok(t) => Snapshot::Saving(path, t),
                        Err(e) => {
                            self.error = Some(e);
                            Snapshot::Idle
                        }
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => Snapshot::Capturing(path, rx),
                Err(_) => {
                    self.error = Some("the window could not be captured".into());
                    Snapshot::Idle
                }
            },
            Snapshot::Saving(path, mut t) => match t.poll() {
                Poll::Ready(Ok(())) => {
                    self.notice = Some((
                        format!("Saved {}", path.display()),
                        Instant::now() + std::time::Duration::from_secs(4),
                    ));
                    ctx.request_repaint_after(std::time::Duration::from_secs(4));
                    Snapshot::Idle
                }
                Poll::Ready(Err(e)) => {
                    self.error = Some(e);
                    Snapshot::Idle
                }
                Poll::Pending => Snapshot::Saving(path, t),
                Poll::Gone => {
                    self.error = Some("saving the snapshot stopped unexpectedly".into());
                    Snapshot::Idle
                }
            },
        };
    }

    /// Whether a snapshot is being chosen, captured or saved.
    pub fn snapshot_pending(&self) -> bool {
        !matches!(self.snapshot, Snapshot::Idle)
    }

    pub fn set_review_panel(&mut self, show: bool) {
        self.show_review = show;
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
        self.error.as_deref()
    }

    /// Where the slide canvas and the overview were drawn in the last frame (points).
    pub fn layout(&self) -> (Option<egui::Rect>, Option<egui::Rect>) {
        (self.canvas, self.overview)
    }

    /// Whether a slide is being opened in the background.
    pub fn is_opening(&self) -> bool {
        self.opening.is_some()
    }

    /// Starts opening `path` on a background thread; the current slide stays until it succeeds.
    pub fn open(&mut self, path: PathBuf) {
        let p = path.clone();
        self.spawn_open(path, None, move |_| open_slide(&p));
    }

    /// Opens the demo slide, generating it first (with progress) if this is the first run.
    fn open_demo(&mut self) {
        let path = crate::demo::demo_slide_path();
        // Progress stays 0 when the demo slide already exists (nothing is generated).
        let progress = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let generating = Some(Arc::clone(&progress));
        self.spawn_open(path, generating, move |repaint| {
            let mut last_percent = 0;
            crate::demo::ensure_demo_slide(|f| {
                let permille = (f * 1000.0) as u32;
                progress.store(permille, Ordering::Relaxed);
                if permille / 10 != last_percent {
                    last_percent = permille / 10;
                    repaint();
                }
            })
            .map_err(|e| format!("cannot generate the demo slide: {e:#}"))
            .and_then(|(p, _)| open_slide(&p))
        });
    }

    /// Runs `job` on an "open-slide" thread; its result arrives in [`Self::poll_opening`].
    fn spawn_open(
        &mut self,
        path: PathBuf,
        generating: Option<Arc<std::sync::atomic::AtomicU32>>,
        job: impl FnOnce(&(dyn Fn() + Send + Sync)) -> Result<Opened, String> + Send + 'static,
    ) {
        let repaint = Arc::clone(&self.repaint);
        let spawned = Task::spawn("open-slide", Arc::clone(&self.repaint), move || {
            job(repaint.as_ref())
        });
        match spawned {
            Ok(task) => {
                // A slide still opening is superseded but keeps running: remember it so that
                // exiting waits for it rather than unloading OpenSlide under its feet.
                if let Some(old) = self.opening.take() {
                    self.superseded.push(old.task);
                }
                self.superseded
                    .retain_mut(|t| matches!(t.poll(), Poll::Pending));
                self.opening = Some(Opening {
                    path,
                    for_review: false,
                    task,
                    generating,
                })
            }
            Err(e) => self.error = Some(format!("{e} for {}", path.display())),
        }
    }

    fn poll_opening(&mut self, ctx: &egui::Context) {
        let Some(opening) = &mut self.opening else {
            return;
        };
        let result = match opening.task.poll() {
            Poll::Pending => return,
            Poll::Ready(r) => r,
            Poll::Gone => Err(format!(
                "{}: opening stopped unexpectedly",
                opening.path.display()
            )),
        };
        let for_review = opening.for_review;
        self.opening = None;
        match result {
            Ok(opened) => {
                self.recent.add(&opened.path);
                self.recent
                    .save_in_background(self.launch.data_dir.join("recent.json"));
                let repaint = Arc::clone(&self.repaint);
                self.current = Some(SlideView::new(
                    opened.slide,
                    opened.overview,
                    self.launch.budgets,
                    repaint,
                ));
                self.associated.clear();
                self.pending_associated = opened.associated;
                self.analysis.reset();
                if let Some(v) = &self.current {
                    self.annotations.on_slide_opened(v);
                }
                if let Some(v) = &self.current {
                    match self.launch.heatmap {
                        LaunchHeatmap::Analyze => {
                            self.analysis.start(v, Arc::clone(&self.repaint));
                        }
                        LaunchHeatmap::Stored => {
                            self.analysis.probe_stored(v, Arc::clone(&self.repaint));
                        }
                        LaunchHeatmap::Off
                            if self.launch.screenshot.is_none() && self.launch.bench.is_none() =>
                        {
                            // A stored heatmap for this slide and model shows at once.
                            self.analysis.probe_stored(v, Arc::clone(&self.repaint));
                        }
                        LaunchHeatmap::Off => {}
                    }
                }
                ctx.request_repaint();
            }
            Err(message) => {
                tracing::warn!("{message}");
                if matches!(self.screenshot, Screenshot::Waiting { .. }) {
                    self.screenshot = self.fail_screenshot(ctx, &message);
                }
                if for_review {
                    self.review.case_open_failed(message.clone());
                }
                self.error = Some(message);
            }
        }
    }

    fn apply(&mut self, ctx: &egui::Context, cmd: Command) {
        match cmd {
            Command::OpenDialog => self.open_dialog(),
            Command::Open(p) => self.open(p),
            Command::OpenDemo => self.open_demo(),
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            Command::ToggleProperties => self.show_properties = !self.show_properties,
            Command::ToggleAssociated => self.show_associated = !self.show_associated,
            Command::ToggleHelp => self.show_help = !self.show_help,
            Command::DismissError => self.error = None,
            Command::ToggleAnalysisPanel => self.show_analysis = !self.show_analysis,
            Command::ToggleAnnotationPanel => self.show_annotations = !self.show_annotations,
            Command::ToggleReviewPanel => {
                self.show_review = !self.show_review;
                if self.show_review {
                    self.review.reload();
                }
            }
            Command::OpenForReview {
                path,
                slide_key,
                search,
                label,
                scope,
                heatmap,
            } => {
                self.annotations.set_scope(Some((slide_key.clone(), scope)));
                self.analysis.style.visible = heatmap;
                self.show_analysis = heatmap;
                // Found, checked against the case's identity and opened on the opener thread.
                self.spawn_open(path.clone(), None, move |_| {
                    let slide = crate::review::materials::open_case_slide(
                        &path, &slide_key, &search, &label,
                    )?;
                    opened(slide)
                });
                if let Some(o) = self.opening.as_mut() {
                    o.for_review = true;
                }
            }
            Command::LeaveReview => {
                self.annotations.set_scope(None);
                if let Some(v) = &self.current {
                    self.annotations.on_slide_opened(v);
                }
            }
            Command::SnapshotDialog => {
                let name = self
                    .current
                    .as_ref()
                    .and_then(|v| v.slide.path().file_stem().map(|s| s.to_owned()))
                    .map(|s| format!("{}-view.png", s.to_string_lossy()))
                    .unwrap_or_else(|| "view.png".into());
                match Task::spawn("snapshot-dialog", Arc::clone(&self.repaint), move || {
                    rfd::FileDialog::new()
                        .add_filter("PNG", &["png"])
                        .set_file_name(name)
                        .save_file()
                }) {
                    Ok(t) => self.snapshot = Snapshot::Choosing(t),
                    Err(e) => self.error = Some(e),
                }
            }
            Command::CancelAnalysis => self.analysis.cancel(),
            Command::Analyze => {
                if let Some(v) = &self.current {
                    self.show_analysis = true;
                    self.analysis.start(v, Arc::clone(&self.repaint));
                }
            }
            cmd => {
                let Some(v) = self.current.as_mut() else {
                    return;
                };
                match cmd {
                    Command::Fit => v.animate_fit(),
                    Command::OneToOne => v.animate_one_to_one(),
                    Command::ZoomBy(f) => v.animate_zoom_by(f),
                    Command::PanBy(fx, fy) => v.animate_pan_by_view(fx, fy),
                    Command::Magnification(m) => v.animate_to_magnification(m),
                    Command::CentreOn(c) => {
                        let z = v.view.zoom;
                        v.jump_to(c, z);
                    }
                    Command::SetSmooth(s) => v.set_smooth(s),
                    Command::GoToHotspot(peak, bbox) => {
                        // Frame the hot-spot with a margin, but no further out than 10x so the
                        // tissue under it is readable.
                        let (w, h) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
                        let fit = (v.view.size[0] / (w * 1.5)).min(v.view.size[1] / (h * 1.5));
                        let ten_x = v
                            .base_magnification()
                            .map_or(fit, |base| 10.0 / base / v.view.pixels_per_point);
                        v.animate_to(peak, fit.max(ten_x));
                    }
                    Command::FrameRegion(b) => {
                        let (w, h) = ((b[2] - b[0]).max(1.0), (b[3] - b[1]).max(1.0));
                        let zoom = (v.view.size[0] / (w * 1.5)).min(v.view.size[1] / (h * 1.5));
                        let limits = v.zoom_limits();
                        v.animate_to(
                            [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0],
                            limits.clamp(zoom),
                        );
                    }
                    _ => {}
                }
                ctx.request_repaint();
            }
        }
    }

    /// The native file dialog runs on its own thread; the chosen file arrives as an open request.
    fn open_dialog(&mut self) {
        let spawned = Task::spawn("file-dialog", Arc::clone(&self.repaint), || {
            let picked = pollster::block_on(
                rfd::AsyncFileDialog::new()
                    .set_title("Open a slide")
                    .add_filter(
                        "Whole-slide images",
                        &[
                            "svs", "tif", "tiff", "ndpi", "vms", "vmu", "scn", "mrxs", "svslide",
                            "bif", "dcm", "czi",
                        ],
                    )
                    .add_filter("All files", &["*"])
                    .pick_file(),
            );
            picked.map(|f| f.path().to_path_buf())
        });
        match spawned {
            Ok(t) => self.dialog = Some(t),
            Err(e) => self.error = Some(e),
        }
    }
}

/// Opens a slide and reads what the viewer needs up front (overview, associated images).
/// Runs off the UI thread.
fn open_slide(path: &Path) -> Result<Opened, String> {
    opened(crate::slide::open(path).map_err(|e| e.to_string())?)
}

/// What the viewer needs of a slide just opened: its overview and associated images.
fn opened(slide: Box<dyn SlideSource>) -> Result<Opened, String> {
    let path = slide.path().to_path_buf();
    let path = path.as_path();
    let overview = read_overview(slide.as_ref(), 512).map_err(|e| e.to_string())?;
    let associated = slide
        .associated_image_names()
        .iter()
        .filter_map(|n| slide.associated_image(n).ok().map(|img| (n.clone(), img)))
        .collect();
    Ok(Opened {
        path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        slide: Arc::from(slide),
        overview,
        associated,
    })
}

impl eframe::App for SentinelApp {
    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        crate::viewer::BACKDROP.to_normalized_gamma_f32()
    }

    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        if let Some(b) = &mut self.bench {
            b.frame_start(frame.info().cpu_usage);
        }
        self.poll_opening(ctx);
        // What the worker threads reported (analysis progress, saves, review data), once a frame
        // before anything is drawn.
        self.analysis.poll();
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
        egui::Panel::top("menu").show(ui, |ui| {
            ui::top_bar(ui, self.current.as_ref(), &self.recent.paths, &mut commands);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            let opening = self.opening.as_ref().map(|o| match &o.generating {
                Some(p) if p.load(Ordering::Relaxed) > 0 => format!(
                    "the demo slide: generating it on first run, {:.0}%",
                    f64::from(p.load(Ordering::Relaxed)) / 10.0
                ),
                _ => o.path.display().to_string(),
            });
            ui::status_bar(ui, self.current.as_ref(), self.cursor, opening.as_deref());
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
            let has_slide = self.current.is_some();
            egui::Panel::right("analysis")
                .default_size(300.0)
                .show(ui, |ui| self.analysis.panel(ui, has_slide, &mut commands));
        }
        if let Some(v) = self.current.as_ref().filter(|_| self.show_properties) {
            egui::Panel::right("properties")
                .default_size(340.0)
                .show(ui, |ui| ui::properties_panel(ui, v));
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                self.central(ui, &mut commands);
            });
        self.associated_window(&ctx);
        ui::help_window(&ctx, &mut self.show_help);
        if let Some(message) = self.error.clone() {
            let modal =
                egui::Modal::new(egui::Id::unique("sentinel-error-dialog")).show(&ctx, |ui| {
                    ui.set_max_width(520.0);
                    ui.heading("Cannot open the slide");
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
        self.drive_bench(&ctx);
    }
}

impl SentinelApp {
    fn central(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let rect = ui.max_rect();
        let Some(v) = self.current.as_mut() else {
            let text = if self.opening.is_some() {
                "Opening…"
            } else {
                "Open a slide: File > Open, Ctrl+O, or drop it here"
            };
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(18.0),
                Color32::from_gray(200),
            );
            return;
        };
        if let Some(goto) = self.pending_goto.take() {
            v.set_view_size(
                [f64::from(rect.width()), f64::from(rect.height())],
                f64::from(ui.ctx().pixels_per_point()),
            );
            let zoom_px = match (goto.magnification, v.base_magnification()) {
                (Some(m), Some(base)) => crate::view::zoom_px_for_magnification(base, m),
                (Some(m), None) => m,
                (None, _) => v.view.zoom_px(),
            };
            let centre = if goto.centre.iter().all(|c| c.is_finite()) {
                goto.centre
            } else {
                v.view.centre
            };
            v.jump_to(centre, zoom_px / v.view.pixels_per_point);
        }
        self.canvas = Some(rect);
        // The view track records only what is on screen of the case's own slide.
        let bound = self
            .review
            .binding(
                Some(v.slide.as_ref()),
                self.annotations.is_loaded(),
                self.opening.is_some(),
            )
            .is_ok();
        if self.review.reading_arm().is_some() && bound {
            let r = v.view.visible();
            let mag = v.magnification().unwrap_or(v.view.zoom_px());
            self.review.record([r.x0, r.y0, r.x1, r.y1], mag);
            // Time on a still view counts too: a frame at least every second while reading.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs(1));
        }
        v.primary_pans = self.annotations.primary_pans();
        let response = v.canvas(ui, rect);
        self.annotations.canvas_input(ui, &response, rect, v);
        self.cursor = response.hover_pos().and_then(|p| v.slide_position(rect, p));
        self.analysis.overlay(ui, rect, v);
        let painter = ui.painter_at(rect);
        self.annotations.paint(&painter, rect, v);
        // Adjudication: every reader's annotations, each in their colour.
        let overlay = self.review.adjudication_overlay();
        if !overlay.is_empty() {
            let mpp = v.slide.mpp().map(|m| [m.0, m.1]);
            let to_screen = |p: [f64; 2]| {
                let s = v.view.screen_from_slide(p);
                egui::pos2(rect.min.x + s[0] as f32, rect.min.y + s[1] as f32)
            };
            for (shape, c) in &overlay {
                crate::ui::annotations::draw_outline(
                    &painter,
                    shape,
                    &to_screen,
                    Color32::from_rgb(c[0], c[1], c[2]),
                    2.5,
                    mpp,
                );
            }
        }
        // Coverage audit: high-scoring regions never looked at closely, outlined.
        for b in self.review.audit_regions() {
            let r = v.screen_rect(
                rect.min,
                crate::view::Rect {
                    x0: b[0],
                    y0: b[1],
                    x1: b[2],
                    y1: b[3],
                },
            );
            painter.rect_stroke(
                r.expand(3.0),
                2.0,
                egui::Stroke::new(2.5, Color32::from_rgb(255, 150, 0)),
                egui::StrokeKind::Outside,
            );
        }
        ui::scale_bar(&painter, rect, v);
        if let Some((text, until)) = &self.notice
            && Instant::now() < *until
        {
            let galley = painter.layout_no_wrap(
                text.clone(),
                egui::FontId::proportional(14.0),
                Color32::WHITE,
            );
            let at = egui::pos2(
                rect.max.x - galley.size().x - 16.0,
                rect.max.y - galley.size().y - 16.0,
            );
            painter.rect_filled(
                egui::Rect::from_min_size(at, galley.size()).expand(6.0),
                4.0,
                Color32::from_black_alpha(200),
            );
            painter.galley(at, galley, Color32::WHITE);
        }
        if let (Some(pos), Some(slide_pos)) = (response.hover_pos(), self.cursor)
            && let Some(text) = self.analysis.hover_text(slide_pos)
        {
            let galley =
                painter.layout_no_wrap(text, egui::FontId::proportional(13.0), Color32::WHITE);
            let at = pos + egui::vec2(14.0, 14.0);
            painter.rect_filled(
                egui::Rect::from_min_size(at, galley.size()).expand(4.0),
                3.0,
                Color32::from_black_alpha(190),
            );
            painter.galley(at, galley, Color32::WHITE);
        }

        // Overview in the top-right corner.
        let max = egui::vec2(240.0, 200.0);
        let (w, h) = v.slide.dimensions();
        let scale = (max.x / w.max(1) as f32).min(max.y / h.max(1) as f32);
        let size = egui::vec2(w as f32 * scale, h as f32 * scale);
        let corner = egui::Rect::from_min_size(
            egui::pos2(rect.max.x - size.x - 12.0, rect.min.y + 12.0),
            size,
        );
        self.overview = Some(corner);
        let view = v.view;
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(corner));
        if let Some(target) = v.overview.show(&mut child, max, (w, h), &view) {
            commands.push(Command::CentreOn(target));
        }

        // Drop hint.
        if ui.ctx().input(|i| !i.raw.hovered_files.is_empty()) {
            painter.rect_filled(rect, 0.0, Color32::from_black_alpha(160));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Drop to open",
                egui::FontId::proportional(28.0),
                Color32::WHITE,
            );
        }
    }

    fn associated_window(&mut self, ctx: &egui::Context) {
        for (name, img) in self.pending_associated.drain(..) {
            let size = [img.width as usize, img.height as usize];
            let color = egui::ColorImage::from_rgba_unmultiplied(size, &img.pixels);
            let tex = ctx.load_texture(
                format!("associated-{name}"),
                Arc::new(color),
                egui::TextureOptions::LINEAR,
            );
            self.associated.push((name, tex, size));
        }
        let mut open = self.show_associated;
        egui::Window::new("Associated images")
            .open(&mut open)
            .default_width(420.0)
            .show(ctx, |ui| {
                if self.associated.is_empty() {
                    ui.label("This slide has no label, macro or thumbnail image.");
                }
                egui::ScrollArea::vertical().show(ui, |ui| {
                    for (name, tex, [w, h]) in &self.associated {
                        ui.label(egui::RichText::new(format!("{name}  ({w} x {h})")).strong());
                        let scale = (400.0 / *w as f32).min(1.0);
                        ui.image((tex.id(), egui::vec2(*w as f32 * scale, *h as f32 * scale)));
                        ui.add_space(6.0);
                    }
                });
            });
        self.show_associated = open;
    }

    fn drive_bench(&mut self, ctx: &egui::Context) {
        let (Some(bench), Some(view)) = (self.bench.as_mut(), self.current.as_mut()) else {
            return;
        };
        if let Some(report) = bench.frame_end(view) {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        } else if bench.wants_continuous_frames() {
            ctx.request_repaint();
        }
    }

    /// Scripted screenshots: wait for a complete full-resolution frame, capture it, save, exit.
    fn drive_screenshot(&mut self, ctx: &egui::Context) {
        let state = std::mem::replace(&mut self.screenshot, Screenshot::Done);
        self.screenshot = match state {
            Screenshot::Waiting {
                path,
                since,
                complete_frames,
            } => {
                let complete = self
                    .current
                    .as_ref()
                    .is_some_and(|v| v.stats.complete() && self.pending_goto.is_none());
                let heatmap = self.screenshot_heatmap();
                // An analysis asked for runs as long as it needs; the timeout is for the tiles.
                let since = if heatmap == Ok(false) && self.analysis.is_running() {
                    Instant::now()
                } else {
                    since
                };
                let complete = complete && heatmap == Ok(true);
                if let Err(why) = heatmap {
                    self.fail_screenshot(ctx, &why)
                } else if since.elapsed().as_secs() > SCREENSHOT_TIMEOUT_S {
                    self.fail_screenshot(
                        ctx,
                        &format!(
                            "the view did not reach full resolution within {SCREENSHOT_TIMEOUT_S} s"
                        ),
                    )
                } else if complete && complete_frames >= 1 {
                    // The previous frame was already complete, so what is on screen is final.
                    Screenshot::Requested {
                        path,
                        since: Instant::now(),
                        rx: self.request_capture(ctx),
                    }
                } else {
                    ctx.request_repaint_after(std::time::Duration::from_millis(30));
                    Screenshot::Waiting {
                        path,
                        since,
                        complete_frames: if complete { complete_frames + 1 } else { 0 },
                    }
                }
            }
            Screenshot::Requested { path, since, rx } => match rx.try_recv() {
                Ok(img) => {
                    match Task::spawn("save-screenshot", Arc::clone(&self.repaint), move || {
                        save_png(&path, &img)
                    }) {
                        Ok(task) => Screenshot::Saving { task },
                        Err(e) => self.fail_screenshot(ctx, &e),
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty)
                    if since.elapsed().as_secs() <= SCREENSHOT_TIMEOUT_S =>
                {
                    Screenshot::Requested { path, since, rx }
                }
                Err(_) => self.fail_screenshot(ctx, "the window could not be captured"),
            },
            Screenshot::Saving { mut task } => match task.poll() {
                Poll::Ready(Ok(())) => {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    Screenshot::Done
                }
                Poll::Ready(Err(e)) => self.fail_screenshot(ctx, &e),
                Poll::Pending => Screenshot::Saving { task },
                Poll::Gone => self.fail_screenshot(ctx, "the screenshot was not saved"),
            },
            other => other,
        };
    }
}

impl SentinelApp {
    /// Whether the heatmap a scripted screenshot asked for is on screen: `Ok(false)` while it is
    /// coming, an error when it will not come.
    fn screenshot_heatmap(&mut self) -> Result<bool, String> {
        use crate::ui::analysis_panel::RunState;
        if self.launch.heatmap == LaunchHeatmap::Off {
            return Ok(true);
        }
        if self.analysis.take_nothing_stored() {
            return Err("no stored heatmap for this slide and model (use --analyze)".into());
        }
        match &self.analysis.state {
            RunState::Failed(e) => Err(format!("analysis failed: {e}")),
            RunState::Done { .. } => Ok(self.analysis.heatmap().is_some()),
            _ => Ok(false),
        }
    }

    /// Ends a scripted screenshot run with an error message and a failing exit status.
    fn fail_screenshot(&self, ctx: &egui::Context, message: &str) -> Screenshot {
        eprintln!("error: {message}");
        self.exit.store(1, Ordering::SeqCst);
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        Screenshot::Done
    }
}

/// Writes an egui screenshot as PNG, atomically.
impl Drop for SentinelApp {
    /// Waits (a while) for analyses being cancelled and slides still being opened: their threads
    /// are inside ONNX Runtime or OpenSlide, and the process's exit handlers must not unload those
    /// libraries under them.
    fn drop(&mut self) {
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

/// The part of `img` inside the physical-pixel box [x0, y0, x1, y1].
fn crop_image(img: &egui::ColorImage, b: [f32; 4]) -> egui::ColorImage {
    let [w, h] = img.size;
    let x0 = (b[0].round().max(0.0) as usize).min(w);
    let y0 = (b[1].round().max(0.0) as usize).min(h);
    let x1 = (b[2].round().max(0.0) as usize).clamp(x0, w);
    let y1 = (b[3].round().max(0.0) as usize).clamp(y0, h);
    let mut pixels = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        pixels.extend_from_slice(&img.pixels[y * w + x0..y * w + x1]);
    }
    // Where the window showed its clear colour the capture may be transparent: a picture of the
    // view is opaque, on the viewer's backdrop.
    let back = crate::viewer::BACKDROP;
    for p in &mut pixels {
        if p.a() < 255 {
            *p = back.blend(*p);
        }
    }
    egui::ColorImage::new([x1 - x0, y1 - y0], pixels)
}

pub fn save_png(path: &Path, img: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = img.size;
    let rgba: Vec<u8> = img
        .pixels
        .iter()
        .flat_map(|c| c.to_srgba_unmultiplied())
        .collect();
    crate::fsutil::write_png(path, w as u32, h as u32, rgba)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
