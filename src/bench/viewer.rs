//! `sentinel bench viewer`: drives the real app through a script and measures what a user feels.
//!
//! Script: open the slide; jump to random places on tissue at 20x and 40x, waiting each time for a
//! complete full-resolution view; then pan continuously at 40x. Reported: time from open to the
//! first complete frame, jump-to-complete latency, UI-thread time per frame while panning, and
//! peak memory. Nothing here asserts a speed.

use std::time::Instant;

use crate::viewer::SlideView;

#[derive(Debug, Clone)]
pub struct ViewerBenchSpec {
    pub places: usize,
    pub magnifications: Vec<f64>,
    pub pan_seconds: f64,
    /// Pan speed in screen points per second.
    pub pan_speed: f64,
    pub seed: u64,
}

impl Default for ViewerBenchSpec {
    fn default() -> Self {
        Self {
            places: 10,
            magnifications: vec![20.0, 40.0],
            pan_seconds: 10.0,
            pan_speed: 1500.0,
            seed: 7,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ViewerBenchReport {
    pub open_to_first_complete_ms: f64,
    pub jumps: usize,
    pub jump_to_complete_ms_p50: f64,
    pub jump_to_complete_ms_p99: f64,
    pub jump_to_complete_ms_max: f64,
    pub pan_frames: usize,
    pub pan_ui_frame_ms_p50: f64,
    pub pan_ui_frame_ms_p99: f64,
    /// Whole frame on the UI thread as eframe measures it (app + egui + rendering, no vsync wait).
    pub pan_frame_cpu_ms_p50: f64,
    pub pan_frame_cpu_ms_p99: f64,
    pub pan_frame_interval_ms_p50: f64,
    pub pan_frame_interval_ms_p99: f64,
    /// Share of panning frames that showed every visible tile at full resolution.
    pub pan_complete_frame_share: f64,
    pub peak_rss_mb: f64,
    pub cache_ram_mb: f64,
    pub cache_gpu_mb: f64,
}

enum Phase {
    Opening,
    Jumping {
        index: usize,
        started: Instant,
    },
    Panning {
        started: Instant,
        last_frame: Option<Instant>,
    },
    Done,
}

pub struct ViewerBench {
    spec: ViewerBenchSpec,
    created: Instant,
    phase: Phase,
    targets: Vec<([f64; 2], f64)>,
    first_complete_ms: f64,
    jump_ms: Vec<f64>,
    ui_ms: Vec<f64>,
    frame_cpu_ms: Vec<f64>,
    interval_ms: Vec<f64>,
    complete_frames: usize,
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

impl ViewerBench {
    pub fn new(spec: ViewerBenchSpec) -> Self {
        Self {
            spec,
            created: Instant::now(),
            phase: Phase::Opening,
            targets: Vec::new(),
            first_complete_ms: f64::NAN,
            jump_ms: Vec::new(),
            ui_ms: Vec::new(),
            frame_cpu_ms: Vec::new(),
            interval_ms: Vec::new(),
            complete_frames: 0,
            frame_started: None,
        }
    }

    /// Call at the start of each frame's UI-thread work (before any of the app's logic), with
    /// eframe's CPU time for the previous frame.
    pub fn frame_start(&mut self, previous_frame_cpu_s: Option<f32>) {
        self.frame_started = Some(Instant::now());
        if let (
            Phase::Panning {
                last_frame: Some(_),
                ..
            },
            Some(s),
        ) = (&self.phase, previous_frame_cpu_s)
        {
            self.frame_cpu_ms.push(f64::from(s) * 1e3);
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
        for p in places {
            for &m in &self.spec.magnifications {
                self.targets
                    .push((p, crate::view::zoom_px_for_magnification(base, m)));
            }
        }
    }

    /// Call after the frame's slide canvas ran: advances the script. Returns the report when done.
    pub fn frame_end(&mut self, view: &mut SlideView) -> Option<ViewerBenchReport> {
        let now = Instant::now();
        let frame_ms = self.frame_started.map(|s| (now - s).as_secs_f64() * 1e3);
        let complete =
            view.is_initialised() && view.stats.complete() && view.stats.visible_tiles > 0;
        match &mut self.phase {
            Phase::Opening => {
                if complete {
                    self.first_complete_ms = (now - self.created).as_secs_f64() * 1e3;
                    self.pick_targets(view);
                    self.start_jump(view, 0, now);
                }
            }
            Phase::Jumping { index, started } => {
                if complete {
                    self.jump_ms.push((now - *started).as_secs_f64() * 1e3);
                    let next = *index + 1;
                    if next < self.targets.len() {
                        self.start_jump(view, next, now);
                    } else {
                        self.phase = Phase::Panning {
                            started: now,
                            last_frame: None,
                        };
                    }
                }
            }
            Phase::Panning {
                started,
                last_frame,
            } => {
                if let Some(ms) = frame_ms {
                    self.ui_ms.push(ms);
                }
                if let Some(prev) = *last_frame {
                    self.interval_ms.push((now - prev).as_secs_f64() * 1e3);
                }
                *last_frame = Some(now);
                if complete {
                    self.complete_frames += 1;
                }
                if (now - *started).as_secs_f64() >= self.spec.pan_seconds {
                    self.phase = Phase::Done;
                    return Some(self.report(view));
                }
                // Back and forth every two seconds, at a constant speed in screen points.
                let t = (now - *started).as_secs_f64();
                let direction = if (t / 2.0).floor() as i64 % 2 == 0 {
                    1.0
                } else {
                    -1.0
                };
                let dt = self.interval_ms.last().map_or(1.0 / 60.0, |ms| ms / 1e3);
                let dx = direction * self.spec.pan_speed * dt;
                view.view.pan_screen([-dx, -dx * 0.3]);
            }
            Phase::Done => {}
        }
        None
    }

    fn start_jump(&mut self, view: &mut SlideView, index: usize, now: Instant) {
        match self.targets.get(index) {
            Some(&(centre, zoom_px)) => {
                view.jump_to(centre, zoom_px / view.view.pixels_per_point);
                self.phase = Phase::Jumping {
                    index,
                    started: now,
                };
            }
            None => {
                // No magnification known: skip straight to panning at 1:1.
                let c = view.view.centre;
                view.jump_to(c, 1.0 / view.view.pixels_per_point);
                self.phase = Phase::Panning {
                    started: now,
                    last_frame: None,
                };
            }
        }
    }

    fn report(&self, view: &SlideView) -> ViewerBenchReport {
        let (ram, gpu) = view.memory();
        ViewerBenchReport {
            open_to_first_complete_ms: self.first_complete_ms,
            jumps: self.jump_ms.len(),
            jump_to_complete_ms_p50: percentile(&self.jump_ms, 50.0),
            jump_to_complete_ms_p99: percentile(&self.jump_ms, 99.0),
            jump_to_complete_ms_max: percentile(&self.jump_ms, 100.0),
            pan_frames: self.ui_ms.len(),
            pan_ui_frame_ms_p50: percentile(&self.ui_ms, 50.0),
            pan_ui_frame_ms_p99: percentile(&self.ui_ms, 99.0),
            pan_frame_cpu_ms_p50: percentile(&self.frame_cpu_ms, 50.0),
            pan_frame_cpu_ms_p99: percentile(&self.frame_cpu_ms, 99.0),
            pan_frame_interval_ms_p50: percentile(&self.interval_ms, 50.0),
            pan_frame_interval_ms_p99: percentile(&self.interval_ms, 99.0),
            pan_complete_frame_share: self.complete_frames as f64 / self.ui_ms.len().max(1) as f64,
            peak_rss_mb: peak_rss_mb(),
            cache_ram_mb: ram as f64 / 1048576.0,
            cache_gpu_mb: gpu as f64 / 1048576.0,
        }
    }

    /// While running, every frame must be drawn.
    pub fn wants_continuous_frames(&self) -> bool {
        !matches!(self.phase, Phase::Done)
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
