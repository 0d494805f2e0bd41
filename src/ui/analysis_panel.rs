//! The analysis side of the GUI: the state of the current slide's analysis (job, heatmap, summary,
//! tissue mask), the side panel (Analyze/Cancel, progress with tiles/s and ETA, summary, hot-spots,
//! overlay controls, exports) and what it draws over the canvas (heatmap, tissue, legend).

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, RichText};

use super::Command;
use super::heatmap_compare::Layer;
use super::heatmap_legend::{Legend, legend};
use crate::analysis::heatmap::{Heatmap, Summary};
use crate::analysis::job::{AnalysisJob, JobEvent, JobSpec};
use crate::analysis::model::{Device, LoadOptions};
use crate::analysis::pipeline::{self, ExportFormat, Params};
use crate::analysis::result::{AnalysisResult, sidecar_path};
use crate::analysis::runner::RunOptions;
use crate::analysis::tissue::TissueMask;
use crate::colormap::Colormap;
use crate::viewer::SlideView;
use crate::viewer::heatmap_layer::{HeatmapCallback, HeatmapStyle, HeatmapTexels};

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    Idle,
    Running { done: usize, total: usize },
    Done { seconds: f64, reused: bool },
    Cancelled { done: usize, total: usize },
    Failed(String),
}

pub struct AnalysisUi {
    pub model_dir: PathBuf,
    /// The risk class chosen for a WSInfer model folder.
    pub risk_class: Option<String>,
    /// Why there is no model to run (it was found in none of the places searched).
    model_missing: Option<String>,
    pub out_dir: PathBuf,
    job: Option<AnalysisJob>,
    pub state: RunState,
    pub model: Option<(String, &'static str)>,
    /// The threshold the running job applies and its meaning (until a result carries them).
    operating: Option<(f32, Option<String>)>,
    heatmap: Option<Arc<Heatmap>>,
    texels: Option<Arc<HeatmapTexels>>,
    version: u64,
    pub result: Option<AnalysisResult>,
    mask: Option<Arc<TissueMask>>,
    mask_texture: Option<egui::TextureHandle>,
    pub style: HeatmapStyle,
    nothing_stored: bool,
    /// Cancelled jobs whose threads may still be running.
    retired: Vec<AnalysisJob>,
    pub show_tissue: bool,
    pub message: Option<String>,
    export: Option<crate::task::Task<String>>,
    /// Another tool's heatmap, imported for comparison.
    pub compare: super::heatmap_compare::CompareUi,
    /// "Load model folder…" and the card of the folder picked.
    pub model_folder: super::model_folder::ModelFolderUi,
    /// A reader's dwell map shown instead of the heatmaps (adjudication): its key, texels,
    /// label and longest dwell in seconds.
    dwell: Option<Dwell>,
}

struct Dwell {
    key: String,
    texels: Arc<HeatmapTexels>,
    label: String,
    longest_s: f64,
}

/// Texel versions of dwell maps, apart from the analysis's and the comparison's.
const DWELL_VERSION_BASE: u64 = 1 << 56;

impl AnalysisUi {
    pub fn new(model_dir: Result<PathBuf, crate::paths::NotFound>, out_dir: PathBuf) -> Self {
        let (model_dir, model_missing) = match model_dir {
            Ok(d) => (d, None),
            Err(e) => (PathBuf::new(), Some(e.to_string())),
        };
        Self {
            model_dir,
            risk_class: None,
            model_missing,
            out_dir,
            job: None,
            state: RunState::Idle,
            model: None,
            operating: None,
            heatmap: None,
            texels: None,
            version: 0,
            result: None,
            mask: None,
            mask_texture: None,
            style: HeatmapStyle::default(),
            nothing_stored: false,
            retired: Vec::new(),
            show_tissue: false,
            message: None,
            export: None,
            compare: Default::default(),
            model_folder: Default::default(),
            dwell: None,
        }
    }

    /// Whether the last look for a stored result found none (cleared by reading it).
    pub fn take_nothing_stored(&mut self) -> bool {
        std::mem::take(&mut self.nothing_stored)
    }

    /// Cancels a job and keeps it until its thread has ended, so that exiting can wait for it.
    fn retire(&mut self, job: AnalysisJob) {
        job.cancel();
        self.retired.retain(|j| !j.finished());
        self.retired.push(job);
    }

    /// Cancels every job and waits (up to `limit` in all) for their threads to end: they may be
    /// inside ONNX Runtime or OpenSlide, which must not be unloaded under them at exit.
    pub fn shutdown(&mut self, limit: std::time::Duration) {
        if let Some(j) = self.job.take() {
            self.retire(j);
        }
        let deadline = std::time::Instant::now() + limit;
        for j in self.retired.drain(..) {
            j.wait_until(deadline);
        }
    }

    /// Forgets the previous slide's analysis (a new slide was opened).
    pub fn reset(&mut self) {
        if let Some(j) = self.job.take() {
            self.retire(j);
        }
        let retired = std::mem::take(&mut self.retired);
        let mut compare = std::mem::take(&mut self.compare);
        compare.reset();
        let risk_class = self.risk_class.take();
        let model_folder = std::mem::take(&mut self.model_folder);
        *self = Self {
            retired,
            compare,
            risk_class,
            model_folder,
            style: self.style,
            model_missing: self.model_missing.clone(),
            ..Self::new(Ok(self.model_dir.clone()), self.out_dir.clone())
        };
    }

    /// Runs `dir` (with `risk_class` where the folder leaves it open) from now on; the current
    /// slide's heatmap, made by the previous model, goes.
    pub fn use_model(&mut self, dir: PathBuf, risk_class: Option<String>) {
        self.model_dir = dir;
        self.risk_class = risk_class;
        self.model_missing = None;
        // An imported map stays for comparison with the new model's heatmap.
        let mut compare = std::mem::take(&mut self.compare);
        compare.forget_comparison();
        self.reset();
        self.compare = compare;
    }

    /// The key of the dwell map shown, if any (cleared with the slide).
    pub fn dwell_key(&self) -> Option<&str> {
        self.dwell.as_ref().map(|d| d.key.as_str())
    }

    /// Shows `map` (seconds at 10x or more per cell, scaled to 0..1; `longest_s` the longest) as
    /// `label`'s dwell, keyed by `key`; `None` goes back to the heatmaps.
    pub fn set_dwell(&mut self, dwell: Option<(String, Heatmap, String, f64)>) {
        self.dwell = dwell.map(|(key, map, label, longest_s)| {
            self.version += 1;
            Dwell {
                key,
                texels: Arc::new(HeatmapTexels::from_heatmap(
                    &map,
                    DWELL_VERSION_BASE + self.version,
                )),
                label,
                longest_s,
            }
        });
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, RunState::Running { .. }) || self.job.is_some()
    }

    pub fn heatmap(&self) -> Option<&Heatmap> {
        self.heatmap.as_deref()
    }

    /// The risk threshold of the heatmap on screen (hot-spots, areas, the review coverage audit)
    /// and what it means: the result's, else the running job's, else the uncalibrated default.
    pub fn operating_point(&self) -> (f32, Option<&str>) {
        if let Some(r) = &self.result {
            return (r.summary.threshold, r.summary.threshold_meaning.as_deref());
        }
        match &self.operating {
            Some((t, meaning)) => (*t, meaning.as_deref()),
            None => (crate::analysis::model::UNCALIBRATED_THRESHOLD, None),
        }
    }

    /// The heatmap as shown (shared, with its colour map, threshold and opacity), for exports that
    /// burn it in.
    pub fn shown_heatmap(&self) -> Option<(Arc<Heatmap>, Colormap, f32, f32)> {
        let h = self.heatmap.clone().filter(|_| self.style.visible)?;
        Some((
            h,
            self.style.colormap,
            self.style.threshold,
            self.style.opacity,
        ))
    }

    /// Shows `heatmap` (a finished or partial analysis, or one a test made).
    pub fn set_heatmap(&mut self, heatmap: Heatmap) {
        self.set_heatmap_arc(Arc::new(heatmap));
    }

    fn set_heatmap_arc(&mut self, heatmap: Arc<Heatmap>) {
        self.version += 1;
        self.texels = Some(Arc::new(HeatmapTexels::from_heatmap(
            &heatmap,
            self.version,
        )));
        self.heatmap = Some(heatmap);
    }

    fn spec(&self, focus: Option<crate::view::Rect>, stored_only: bool) -> JobSpec {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        JobSpec {
            model_dir: self.model_dir.clone(),
            risk_class: self.risk_class.clone(),
            out_dir: self.out_dir.clone(),
            load: LoadOptions {
                threads: cores,
                device: Device::Auto,
                full_precision: false,
            },
            params: Params::default(),
            run: RunOptions {
                batch: 16,
                reader_threads: cores.max(2),
            },
            focus,
            stored_only,
        }
    }

    /// Looks for a stored result of the bundled/current model (on opening a slide).
    pub fn probe_stored(&mut self, view: &SlideView, wake: Arc<dyn Fn() + Send + Sync>) {
        self.start_job(view, true, wake);
    }

    /// Runs the analysis, visible region first.
    pub fn start(&mut self, view: &SlideView, wake: Arc<dyn Fn() + Send + Sync>) {
        self.start_job(view, false, wake);
    }

    fn start_job(
        &mut self,
        view: &SlideView,
        stored_only: bool,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) {
        if let Some(j) = self.job.take() {
            self.retire(j);
        }
        if let Some(m) = &self.model_missing {
            if !stored_only {
                self.state = RunState::Failed(m.clone());
            }
            return;
        }
        let spec = self.spec(Some(view.view.visible()), stored_only);
        match AnalysisJob::start(Arc::clone(&view.slide), spec, wake) {
            Ok(job) => {
                self.job = Some(job);
                if !stored_only {
                    self.state = RunState::Running { done: 0, total: 0 };
                    self.message = None;
                }
            }
            Err(e) => self.state = RunState::Failed(format!("cannot start the analysis: {e}")),
        }
    }

    pub fn cancel(&mut self) {
        if let Some(j) = &self.job {
            j.cancel();
        }
    }

    /// Applies what the job (and an export) reported since the last frame.
    pub fn poll(&mut self, wake: &crate::task::Wake) {
        self.model_folder.poll();
        let running = self.is_running();
        let ours = self.heatmap.as_ref().map(|h| (h, self.version));
        self.compare.poll(ours, running, wake);
        if let Some(t) = &mut self.export {
            match t.poll() {
                crate::task::Poll::Pending => {}
                crate::task::Poll::Ready(m) => {
                    self.message = Some(m);
                    self.export = None;
                }
                crate::task::Poll::Gone => {
                    self.message = Some("Export failed: it stopped unexpectedly".into());
                    self.export = None;
                }
            }
        }
        let Some(job) = &self.job else {
            return;
        };
        let mut finished = false;
        for event in job.poll() {
            match event {
                JobEvent::ModelReady {
                    name,
                    provider,
                    threshold,
                    threshold_meaning,
                } => {
                    self.model = Some((name, provider));
                    self.operating = Some((threshold, threshold_meaning));
                }
                JobEvent::Planned { mask, tiles } => {
                    self.mask = Some(mask);
                    self.mask_texture = None;
                    self.state = RunState::Running {
                        done: 0,
                        total: tiles,
                    };
                }
                JobEvent::Progress {
                    heatmap,
                    done,
                    total,
                } => {
                    self.set_heatmap_arc(heatmap);
                    self.state = RunState::Running { done, total };
                }
                JobEvent::Finished {
                    result,
                    reused,
                    seconds,
                } => {
                    self.set_heatmap(result.heatmap.clone());
                    self.result = Some(*result);
                    self.state = RunState::Done { seconds, reused };
                    finished = true;
                }
                JobEvent::NothingStored => {
                    self.nothing_stored = true;
                    finished = true;
                }
                JobEvent::Cancelled { done, total } => {
                    self.state = RunState::Cancelled { done, total };
                    finished = true;
                }
                JobEvent::Failed(e) => {
                    // A probe that finds no usable model is not worth a red message until the user
                    // asks for an analysis.
                    if matches!(self.state, RunState::Running { .. }) {
                        self.state = RunState::Failed(e);
                    }
                    finished = true;
                }
            }
        }
        if finished {
            self.job = None;
        }
    }

    /// Tiles/s and seconds left of a running job.
    pub fn rate_and_eta(&self) -> Option<(f64, f64)> {
        let (RunState::Running { done, total }, Some(job)) = (&self.state, &self.job) else {
            return None;
        };
        let secs = job.started.elapsed().as_secs_f64();
        let rate = *done as f64 / secs.max(1e-6);
        (rate > 0.0).then(|| (rate, (*total - *done) as f64 / rate))
    }

    /// The side panel.
    pub fn panel(
        &mut self,
        ui: &mut egui::Ui,
        slide: Option<&Arc<dyn crate::slide::SlideSource>>,
        out: &mut Vec<Command>,
    ) {
        let has_slide = slide.is_some();
        ui.heading("Analysis");
        match &self.model {
            Some((name, provider)) => ui.label(format!("Model: {name} on {provider}")),
            None if self.model_missing.is_some() => ui.label("Model: not found"),
            None => ui.label(format!("Model: {}", self.model_dir.display())),
        };
        if let Some((dir, risk_class)) = self.model_folder.panel(ui) {
            self.use_model(dir, risk_class);
        }
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            let running = matches!(self.state, RunState::Running { .. });
            if ui
                .add_enabled(has_slide && !running, egui::Button::new("Analyze"))
                .clicked()
            {
                out.push(Command::Analyze);
            }
            if running && ui.button("Cancel").clicked() {
                out.push(Command::CancelAnalysis);
            }
        });
        match &self.state {
            RunState::Idle => {}
            RunState::Running { done, total } => {
                let frac = if *total == 0 {
                    0.0
                } else {
                    *done as f32 / *total as f32
                };
                let text = match self.rate_and_eta() {
                    Some((rate, eta)) => {
                        format!("{done}/{total} tiles, {rate:.0} tiles/s, {eta:.0} s left")
                    }
                    None if *total == 0 => "loading the model and finding tissue…".into(),
                    None => format!("{done}/{total} tiles"),
                };
                ui.add(egui::ProgressBar::new(frac).text(text));
            }
            RunState::Done { seconds, reused } => {
                ui.label(if *reused {
                    "Stored result (same slide, model and parameters)".to_string()
                } else {
                    format!("Done in {seconds:.1} s")
                });
            }
            RunState::Cancelled { done, total } => {
                ui.label(format!("Cancelled after {done} of {total} tiles"));
            }
            RunState::Failed(e) => {
                ui.colored_label(Color32::from_rgb(255, 120, 100), e);
            }
        }
        if let Some(r) = &self.result {
            ui.separator();
            summary_grid(ui, &r.summary, r.tissue_area_mm2);
            ui.separator();
            ui.label(RichText::new("Hot-spots").strong());
            egui::ScrollArea::vertical()
                .max_height(180.0)
                .show(ui, |ui| {
                    if r.summary.hotspots.is_empty() {
                        ui.label("none above the threshold");
                    }
                    for (i, h) in r.summary.hotspots.iter().enumerate() {
                        let label = format!(
                            "{}. max {:.2}, mean {:.2}, {:.3} mm²",
                            i + 1,
                            h.max,
                            h.mean,
                            h.area_mm2
                        );
                        if ui.button(label).clicked() {
                            out.push(Command::GoToHotspot(h.peak, h.bbox));
                        }
                    }
                });
        }
        ui.separator();
        ui.label(RichText::new("Overlay").strong());
        ui.checkbox(&mut self.style.visible, "Show heatmap");
        egui::ComboBox::from_label("Colour map")
            .selected_text(self.style.colormap.name())
            .show_ui(ui, |ui| {
                for m in Colormap::ALL {
                    ui.selectable_value(&mut self.style.colormap, m, m.name());
                }
            });
        ui.add(egui::Slider::new(&mut self.style.opacity, 0.0..=1.0).text("Opacity"));
        ui.add(egui::Slider::new(&mut self.style.threshold, 0.0..=1.0).text("Hide below"));
        ui.checkbox(&mut self.style.smooth, "Smooth (interpolate between tiles)");
        ui.checkbox(&mut self.show_tissue, "Show tissue mask");
        if let Some(r) = &self.result {
            ui.separator();
            ui.horizontal(|ui| {
                ui.label("Export:");
                for (label, f) in [
                    ("PNG", ExportFormat::Png),
                    ("CSV", ExportFormat::Csv),
                    ("GeoJSON", ExportFormat::Geojson),
                    ("ASAP", ExportFormat::Asap),
                    ("DSA", ExportFormat::Dsa),
                    ("Contours", ExportFormat::Contours),
                ] {
                    if ui.button(label).clicked() {
                        // Written on a thread: the UI never waits on the disk.
                        let sidecar = sidecar_path(
                            &self.out_dir,
                            &crate::slide::SlideId::from_provenance_hash(&r.provenance.slide_hash),
                        );
                        let (result, colormap) = (r.clone(), self.style.colormap);
                        let slide = slide.cloned();
                        let ctx = ui.ctx().clone();
                        let wake: crate::task::Wake = Arc::new(move || ctx.request_repaint());
                        let spawned = crate::task::Task::spawn("export-heatmap", wake, move || {
                            let slide = slide.as_deref();
                            match pipeline::export(&result, &sidecar, &[f], colormap, slide) {
                                Ok(paths) => paths.first().map_or_else(
                                    || "Nothing written".into(),
                                    |p| format!("Wrote {}", p.display()),
                                ),
                                Err(e) => format!("Export failed: {e}"),
                            }
                        });
                        match spawned {
                            Ok(t) => {
                                self.export = Some(t);
                                self.message = Some("Exporting…".into());
                            }
                            Err(e) => self.message = Some(format!("Export failed: {e}")),
                        }
                    }
                }
            });
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
        ui.separator();
        self.compare.panel(ui, slide.map(|s| s.dimensions()));
    }

    /// Draws the tissue mask and the heatmap over the canvas, and the legend in its corner.
    pub fn overlay(&mut self, ui: &egui::Ui, canvas: egui::Rect, view: &SlideView) {
        let painter = ui.painter_at(canvas);
        if self.show_tissue
            && let Some(mask) = &self.mask
        {
            let tex = self.mask_texture.get_or_insert_with(|| {
                let pixels = mask
                    .tissue
                    .iter()
                    .map(|&t| {
                        if t {
                            Color32::from_rgba_unmultiplied(40, 200, 90, 70)
                        } else {
                            Color32::TRANSPARENT
                        }
                    })
                    .collect();
                let img = egui::ColorImage {
                    size: [mask.width as usize, mask.height as usize],
                    source_size: egui::vec2(mask.width as f32, mask.height as f32),
                    pixels,
                };
                ui.ctx()
                    .load_texture("tissue-mask", img, egui::TextureOptions::NEAREST)
            });
            view.paint_slide_image(
                &painter,
                canvas.min,
                tex.id(),
                [mask.width, mask.height],
                mask.downsample,
            );
        }
        // The adjudicator's dwell map shows whether or not the heatmap does (set only while
        // adjudicating, never during a read). Every dwelt cell is drawn, brightest where the
        // reader stayed longest.
        if let Some(d) = &self.dwell {
            let style = HeatmapStyle {
                visible: true,
                colormap: Colormap::Magma,
                threshold: 0.0,
                ..self.style
            };
            painter.add(egui_wgpu::Callback::new_paint_callback(
                canvas,
                HeatmapCallback::new(Arc::clone(&d.texels), style, &view.view, canvas.min),
            ));
            legend(
                &painter,
                canvas,
                style,
                Legend::Dwell(&d.label, d.longest_s),
            );
            return;
        }
        let (texels, difference) = match self.compare.texels() {
            Some((t, d)) => (Some(t), d),
            None => (self.texels.clone(), false),
        };
        if let (true, Some(texels)) = (self.style.visible, texels) {
            // The difference is signed around 0.5: every value is drawn, in a diverging map.
            let style = if difference {
                HeatmapStyle {
                    colormap: Colormap::Diverging,
                    threshold: 0.0,
                    ..self.style
                }
            } else {
                self.style
            };
            painter.add(egui_wgpu::Callback::new_paint_callback(
                canvas,
                HeatmapCallback::new(texels, style, &view.view, canvas.min),
            ));
            let imported = self.compare.imported();
            let kind = match (difference, imported) {
                (true, _) => Legend::Difference,
                (false, Some(i)) if self.compare.layer == Layer::Imported => {
                    Legend::Imported(&i.name, i.format)
                }
                _ => Legend::Risk(self.operating_point()),
            };
            legend(&painter, canvas, style, kind);
        }
    }

    /// "risk 0.83" for the status bar, at level-0 point `p`.
    pub fn hover_text(&self, p: [f64; 2]) -> Option<String> {
        let ours = self.heatmap.as_ref().map(|h| match h.value_at(p[0], p[1]) {
            Some(v) => format!("risk {v:.3}"),
            None => "risk: not analysed".into(),
        });
        let theirs = self
            .compare
            .imported()
            .map(|_| match self.compare.value_at(p) {
                Some(v) => format!("imported {v:.3}"),
                None => "imported: none".into(),
            });
        match (ours, theirs) {
            (Some(a), Some(b)) => Some(format!("{a} · {b}")),
            (a, b) => a.or(b),
        }
    }
}

fn summary_grid(ui: &mut egui::Ui, s: &Summary, tissue_mm2: f64) {
    for w in &s.warnings {
        ui.colored_label(Color32::from_rgb(255, 190, 90), format!("⚠ {w}"));
    }
    egui::Grid::new("analysis-summary")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("Max");
            ui.label(format!("{:.3}", s.max));
            ui.end_row();
            ui.label(format!("Top-{} mean", s.top_k));
            ui.label(format!("{:.3}", s.top_k_mean));
            ui.end_row();
            ui.label("Tissue");
            ui.label(format!("{tissue_mm2:.2} mm²"));
            ui.end_row();
            ui.label(format!("Area ≥ {:.2}", s.threshold));
            ui.label(format!("{:.3} mm²", s.area_above_mm2));
            ui.end_row();
            ui.label("Hot-spots");
            ui.label(s.hotspots.len().to_string());
            ui.end_row();
            ui.label("Tiles analysed");
            ui.label(s.analysed_cells.to_string());
            ui.end_row();
        });
    match &s.threshold_meaning {
        Some(m) => ui.label(RichText::new(format!("Threshold {m}.")).small()),
        None => ui.label(
            RichText::new(format!(
                "Threshold {:.2}: not a measured operating point of this model.",
                s.threshold
            ))
            .small(),
        ),
    };
}
