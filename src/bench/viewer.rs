//! `sentinel bench viewer`: drives the real app through a script and measures what a user feels.
//!
//! Script: open the slide; jump to random places on tissue, each place new, at 20x and 40x in
//! turn, waiting each time for a complete full-resolution view; then pan continuously at 40x. Reported: time from open to the
//! first complete frame, jump-to-complete latency, UI-thread time per frame while panning, and
//! peak memory. Nothing here asserts a speed.
//!
//! A jump is made at the start of a frame, before the canvas draws, as a click on the overview
//! is, and timed from there to the end of the first frame that finds the view complete. Only the
//! frames the app asks for itself are drawn meanwhile (those of a tile arriving).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::viewer::SlideView;

#[derive(Debug, Clone)]
pub struct ViewerBenchSpec {
    pub places: usize,
    pub magnifications: Vec<f64>,
    /// Each pan runs at these magnifications, from the first place.
    pub pan_magnifications: Vec<f64>,
    pub pan_seconds: f64,
    /// Pan speed in screen points per second.
    pub pan_speed: f64,
    pub seed: u64,
    /// Annotations to import after the bare pans; the pans then run again with them.
    pub annotations: Option<PathBuf>,
}

impl Default for ViewerBenchSpec {
    fn default() -> Self {
        Self {
            places: 20,
            magnifications: vec![20.0, 40.0],
            pan_magnifications: vec![40.0],
            pan_seconds: 10.0,
            pan_speed: 1500.0,
            seed: 7,
            annotations: None,
        }
    }
}

/// The jumps at one magnification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JumpSummary {
    pub magnification: f64,
    pub jumps: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One continuous pan's frame times.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PanReport {
    pub magnification: f64,
    pub with_annotations: bool,
    pub frames: usize,
    pub ui_frame_ms_p50: f64,
    pub ui_frame_ms_p99: f64,
    /// Whole frame on the UI thread as eframe measures it (app + egui + rendering, no vsync wait).
    pub frame_cpu_ms_p50: f64,
    pub frame_cpu_ms_p99: f64,
    pub frame_interval_ms_p50: f64,
    pub frame_interval_ms_p99: f64,
    /// Share of frames that showed every visible tile at full resolution.
    pub complete_frame_share: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ViewerBenchReport {
    pub open_to_first_complete_ms: f64,
    pub jumps: usize,
    pub jump_to_complete_ms_p50: f64,
    pub jump_to_complete_ms_p99: f64,
    pub jump_to_complete_ms_max: f64,
    /// Every jump in order (20x and 40x alternating, each to a new place), to see which are slow.
    pub jump_to_complete_ms: Vec<f64>,
    /// p50 and p99 of the jumps at each magnification.
    pub jumps_by_magnification: Vec<JumpSummary>,
    pub pans: Vec<PanReport>,
    /// Annotations drawn in the pans with them; the time from asking for the import to the first
    /// frame that drew them all, and to all of them being saved in the store (the pans with them
    /// start after both, so the store's writing does not share their frames).
    pub annotations: usize,
    pub annotations_drawn_ms: f64,
    pub annotations_saved_ms: f64,
    pub peak_rss_mb: f64,
    pub cache_ram_mb: f64,
    pub cache_gpu_mb: f64,
}

/// A pan being measured.
#[derive(Default)]
struct PanSamples {
    ui_ms: Vec<f64>,
    frame_cpu_ms: Vec<f64>,
    interval_ms: Vec<f64>,
    complete_frames: usize,
}

enum Phase {
    Opening,
    /// Jump `index` is made at the start of the next frame.
    JumpDue {
        index: usize,
    },
    Jumping {
        index: usize,
        started: Instant,
    },
    /// Moving to pan `index`'s start and waiting for a complete view there.
    Settling {
        index: usize,
    },
    Panning {
        index: usize,
        started: Instant,
        last_frame: Option<Instant>,
    },
    /// The annotations are being imported and their layer built.
    Importing {
        started: Instant,
    },
    Done,
}

/// What [`ViewerBench::next_frame`] asks of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextFrame {
    None,
    One,
    Every,
}

pub struct ViewerBench {
    spec: ViewerBenchSpec,
    created: Instant,
    phase: Phase,
    /// (centre, zoom in screen px per slide px, magnification) of each jump.
    targets: Vec<([f64; 2], f64, f64)>,
    /// (magnification, with annotations) of each pan in order.
    pans: Vec<(f64, bool)>,
    pan_start: [f64; 2],
    first_complete_ms: f64,
    jump_ms: Vec<f64>,
    samples: Vec<PanSamples>,
    annotations_drawn_ms: f64,
    annotations_saved_ms: f64,
    frame_started: Option<Instant>,
}

/// Percentile (0..=100) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// What the app tells the bench each frame about the annotations it asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnnotationState {
    /// Annotations in the document.
    pub count: usize,
    /// Whether what the canvas draws is built for the document as it is.
    pub drawn: bool,
    /// Whether every edit is on disk.
    pub saved: bool,
    /// The import or a save failed (the app shows why): the pans with annotations cannot run.
    pub failed: bool,
}

impl ViewerBench {
    pub fn new(spec: ViewerBenchSpec) -> Self {
        let mut pans: Vec<(f64, bool)> = spec
            .pan_magnifications
            .iter()
            .map(|&m| (m, false))
            .collect();
        if spec.annotations.is_some() {
            pans.extend(spec.pan_magnifications.iter().map(|&m| (m, true)));
        }
        Self {
            samples: pans.iter().map(|_| PanSamples::default()).collect(),
            pans,
            spec,
            created: Instant::now(),
            phase: Phase::Opening,
            targets: Vec::new(),
            pan_start: [0.0, 0.0],
            first_complete_ms: f64::NAN,
            jump_ms: Vec::new(),
            annotations_drawn_ms: f64::NAN,
            annotations_saved_ms: f64::NAN,
            frame_started: None,
        }
    }

    /// Call at the start of each frame's UI-thread work (before any of the app's logic), with
    /// eframe's CPU time for the previous frame.
    pub fn frame_start(&mut self, previous_frame_cpu_s: Option<f32>) {
        self.frame_started = Some(Instant::now());
        if let (
            Phase::Panning {
                index,
                last_frame: Some(_),
                ..
            },
            Some(s),
        ) = (&self.phase, previous_frame_cpu_s)
        {
            self.samples[*index].frame_cpu_ms.push(f64::from(s) * 1e3);
        }
    }

    /// The annotation file the app should import now (once), if the script has reached it.
    pub fn annotations_to_import(&self) -> Option<&Path> {
        match self.phase {
            Phase::Importing { .. } => self.spec.annotations.as_deref(),
            _ => None,
        }
    }

    /// Places on tissue (non-glass pixels of the overview), deterministic from the seed.
    fn pick_targets(&mut self, view: &SlideView) {
        let Some(base) = view.base_magnification() else {
            return;
        };
        let img = view.overview.image();
        let (w, h) = view.slide.dimensions();
        let mut rng = fastrand::Rng::with_seed(self.spec.seed);
        let mut places = Vec::new();
        for _ in 0..100_000 {
            if places.len() >= self.spec.places {
                break;
            }
            let (ox, oy) = (rng.u32(0..img.width), rng.u32(0..img.height));
            let [r, g, b, a] = img.pixel(ox, oy);
            let (max, min) = (r.max(g).max(b), r.min(g).min(b));
            if a == 255 && max - min > 30 {
                let x = (f64::from(ox) + 0.5) / f64::from(img.width) * w as f64;
                let y = (f64::from(oy) + 0.5) / f64::from(img.height) * h as f64;
                places.push([x, y]);
            }
        }
        if let Some(&first) = places.first() {
            self.pan_start = first;
        }
        // Each jump to a new place: at a place just seen at 20x, a 40x view would be ready before
        // the jump (its tiles prefetched), which is not what a jump across the slide finds.
        let mags = self.spec.magnifications.iter().cycle();
        for (p, &m) in places.into_iter().zip(mags) {
            self.targets
                .push((p, crate::view::zoom_px_for_magnification(base, m), m));
        }
    }

    /// Call after the frame's slide canvas ran: advances the script. Returns the report when done.
    pub fn frame_end(
        &mut self,
        view: &mut SlideView,
        annotations: AnnotationState,
    ) -> Option<ViewerBenchReport> {
        let now = Instant::now();
        let frame_ms = self.frame_started.map(|s| (now - s).as_secs_f64() * 1e3);
        let complete =
            view.is_initialised() && view.stats.complete() && view.stats.visible_tiles > 0;
        match &mut self.phase {
            Phase::Opening => {
                if complete {
                    self.first_complete_ms = (now - self.created).as_secs_f64() * 1e3;
                    self.pan_start = view.view.centre;
                    self.pick_targets(view);
                    self.phase = Phase::JumpDue { index: 0 };
                }
            }
            Phase::Jumping { index, started } => {
                if complete {
                    self.jump_ms.push((now - *started).as_secs_f64() * 1e3);
                    self.phase = Phase::JumpDue { index: *index + 1 };
                }
            }
            Phase::Settling { index } => {
                let index = *index;
                if complete {
                    self.phase = Phase::Panning {
                        index,
                        started: now,
                        last_frame: None,
                    };
                }
            }
            Phase::Importing { started } => {
                if annotations.failed {
                    // The report says so: no annotations drawn, no time to them.
                    self.pans.retain(|p| !p.1);
                    self.phase = Phase::Done;
                    return Some(self.report(view, annotations.count));
                }
                let ms = (now - *started).as_secs_f64() * 1e3;
                if annotations.count > 0 && annotations.drawn && self.annotations_drawn_ms.is_nan()
                {
                    self.annotations_drawn_ms = ms;
                }
                if annotations.count > 0 && annotations.saved && self.annotations_saved_ms.is_nan()
                {
                    self.annotations_saved_ms = ms;
                }
                if annotations.count > 0 && annotations.drawn && annotations.saved {
                    let first_with = self.pans.iter().position(|p| p.1).unwrap_or(0);
                    self.start_pan(view, first_with);
                }
            }
            Phase::Panning {
                index,
                started,
                last_frame,
            } => {
                let index = *index;
                let samples = &mut self.samples[index];
                if let Some(ms) = frame_ms {
                    samples.ui_ms.push(ms);
                }
                if let Some(prev) = *last_frame {
                    samples.interval_ms.push((now - prev).as_secs_f64() * 1e3);
                }
                *last_frame = Some(now);
                if complete {
                    samples.complete_frames += 1;
                }
                let elapsed = (now - *started).as_secs_f64();
                if elapsed >= self.spec.pan_seconds {
                    let next = index + 1;
                    match self.pans.get(next) {
                        None => {
                            self.phase = Phase::Done;
                            return Some(self.report(view, annotations.count));
                        }
                        Some((_, true)) if !self.pans[index].1 => {
                            self.phase = Phase::Importing { started: now };
                        }
                        Some(_) => self.start_pan(view, next),
                    }
                    return None;
                }
                // Back and forth every two seconds, at a constant speed in screen points.
                let direction = if (elapsed / 2.0).floor() as i64 % 2 == 0 {
                    1.0
                } else {
                    -1.0
                };
                let dt = samples.interval_ms.last().map_or(1.0 / 60.0, |ms| ms / 1e3);
                let dx = direction * self.spec.pan_speed * dt;
                view.view.pan_screen([-dx, -dx * 0.3]);
            }
            Phase::JumpDue { .. } | Phase::Done => {}
        }
        None
    }

    /// Call before the slide canvas runs: makes a jump that is due.
    pub fn before_canvas(&mut self, view: &mut SlideView) {
        if let Phase::JumpDue { index } = self.phase {
            self.start_jump(view, index, Instant::now());
        }
    }

    fn start_jump(&mut self, view: &mut SlideView, index: usize, now: Instant) {
        match self.targets.get(index) {
            Some(&(centre, zoom_px, _)) => {
                view.jump_to(centre, zoom_px / view.view.pixels_per_point);
                self.phase = Phase::Jumping {
                    index,
                    started: now,
                };
            }
            None => self.start_pan(view, 0),
        }
    }

    /// Goes to the pan's start at its magnification (1:1 where the slide has none).
    fn start_pan(&mut self, view: &mut SlideView, index: usize) {
        let Some(&(magnification, _)) = self.pans.get(index) else {
            self.phase = Phase::Done;
            return;
        };
        let zoom_px = view.base_magnification().map_or(1.0, |base| {
            crate::view::zoom_px_for_magnification(base, magnification)
        });
        view.jump_to(self.pan_start, zoom_px / view.view.pixels_per_point);
        self.phase = Phase::Settling { index };
    }

    fn report(&self, view: &SlideView, annotations: usize) -> ViewerBenchReport {
        let (ram, gpu) = view.memory();
        ViewerBenchReport {
            open_to_first_complete_ms: self.first_complete_ms,
            jumps: self.jump_ms.len(),
            jump_to_complete_ms_p50: percentile(&self.jump_ms, 50.0),
            jump_to_complete_ms_p99: percentile(&self.jump_ms, 99.0),
            jump_to_complete_ms_max: percentile(&self.jump_ms, 100.0),
            jump_to_complete_ms: self.jump_ms.clone(),
            jumps_by_magnification: self
                .spec
                .magnifications
                .iter()
                .map(|&m| {
                    let ms: Vec<f64> = self
                        .jump_ms
                        .iter()
                        .zip(&self.targets)
                        .filter(|(_, t)| t.2 == m)
                        .map(|(ms, _)| *ms)
                        .collect();
                    JumpSummary {
                        magnification: m,
                        jumps: ms.len(),
                        p50_ms: percentile(&ms, 50.0),
                        p99_ms: percentile(&ms, 99.0),
                    }
                })
                .collect(),
            pans: self
                .pans
                .iter()
                .zip(&self.samples)
                .map(|(&(magnification, with_annotations), s)| PanReport {
                    magnification,
                    with_annotations,
                    frames: s.ui_ms.len(),
                    ui_frame_ms_p50: percentile(&s.ui_ms, 50.0),
                    ui_frame_ms_p99: percentile(&s.ui_ms, 99.0),
                    frame_cpu_ms_p50: percentile(&s.frame_cpu_ms, 50.0),
                    frame_cpu_ms_p99: percentile(&s.frame_cpu_ms, 99.0),
                    frame_interval_ms_p50: percentile(&s.interval_ms, 50.0),
                    frame_interval_ms_p99: percentile(&s.interval_ms, 99.0),
                    complete_frame_share: s.complete_frames as f64 / s.ui_ms.len().max(1) as f64,
                })
                .collect(),
            annotations,
            annotations_drawn_ms: self.annotations_drawn_ms,
            annotations_saved_ms: self.annotations_saved_ms,
            peak_rss_mb: peak_rss_mb(),
            cache_ram_mb: ram as f64 / 1048576.0,
            cache_gpu_mb: gpu as f64 / 1048576.0,
        }
    }

    /// The frames the script needs: every frame while it runs, but during a jump only the app's
    /// own, and only one before a jump (egui's `request_repaint` gives two, and the second would
    /// fall inside the jump).
    pub fn next_frame(&self) -> NextFrame {
        match self.phase {
            Phase::Done | Phase::Jumping { .. } => NextFrame::None,
            Phase::JumpDue { .. } => NextFrame::One,
            _ => NextFrame::Every,
        }
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
