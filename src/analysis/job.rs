//! An analysis running on its own thread for the GUI: it loads the model, reuses a stored result or
//! runs the pipeline with the visible region first, and reports through a channel that the UI
//! polls once a frame (so the UI thread never waits on disk or inference). Cancellable.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use super::heatmap::Heatmap;
use super::model::{LoadOptions, Model};
use super::pipeline::{self, Params, Progress};
use super::result::AnalysisResult;
use super::runner::{AnalysisError, RunOptions};
use super::tissue::TissueMask;
use crate::slide::SlideSource;
use crate::view::Rect;

/// What a job reports, in order: `ModelReady`, then either `Finished` (a stored result, at once)
/// or `Planned`, `Progress`..., `Finished`; or `Failed` / `Cancelled` at any point.
pub enum JobEvent {
    ModelReady {
        name: String,
        provider: &'static str,
        /// The threshold this run applies, and what it means where the model states it.
        threshold: f32,
        threshold_meaning: Option<String>,
    },
    Planned {
        mask: Arc<TissueMask>,
        tiles: usize,
    },
    Progress {
        heatmap: Arc<Heatmap>,
        done: usize,
        total: usize,
    },
    Finished {
        result: Box<AnalysisResult>,
        reused: bool,
        seconds: f64,
    },
    /// Only a stored-result lookup was asked for and there is none.
    NothingStored,
    Cancelled {
        done: usize,
        total: usize,
    },
    Failed(String),
}

/// What to run.
#[derive(Clone)]
pub struct JobSpec {
    pub model_dir: PathBuf,
    /// The risk class, where the model folder leaves it to the user (WSInfer).
    pub risk_class: Option<String>,
    pub out_dir: PathBuf,
    pub load: LoadOptions,
    pub params: Params,
    pub run: RunOptions,
    /// Level-0 rectangle to infer first.
    pub focus: Option<Rect>,
    /// Only look for a stored result (on opening a slide); never start ONNX Runtime.
    pub stored_only: bool,
}

pub struct AnalysisJob {
    rx: Receiver<JobEvent>,
    /// The heatmap so far: only the newest is kept, however long the UI does not poll.
    progress: Arc<Latest<(Arc<Heatmap>, usize, usize)>>,
    cancel: Arc<AtomicBool>,
    pub started: Instant,
}

/// A one-place mailbox: a new value replaces one not yet taken. Progress goes through it, so a
/// UI that draws no frames for a while (minimised, busy) holds one heatmap, not one per batch.
pub struct Latest<T>(std::sync::Mutex<Option<T>>);

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(None))
    }
}

impl<T> Latest<T> {
    pub fn put(&self, value: T) {
        // A poisoned lock only means a panic elsewhere mid-put; the slot itself stays usable.
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
    }

    pub fn take(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// At most this often does a running job send the heatmap so far.
const PROGRESS_EVERY: Duration = Duration::from_millis(120);

impl AnalysisJob {
    /// Starts the job; `wake` is called after each event (to repaint the UI).
    pub fn start(
        slide: Arc<dyn SlideSource>,
        spec: JobSpec,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let progress = Arc::new(Latest::default());
        let cancel = Arc::new(AtomicBool::new(false));
        let (flag, slot) = (Arc::clone(&cancel), Arc::clone(&progress));
        std::thread::Builder::new()
            .name("analysis".into())
            .spawn(move || run(slide.as_ref(), &spec, &flag, &tx, &slot, wake.as_ref()))?;
        Ok(Self {
            rx,
            progress,
            cancel,
            started: Instant::now(),
        })
    }

    /// Events so far, the newest progress last (none once the job has ended: its result
    /// supersedes any progress); never blocks.
    pub fn poll(&self) -> Vec<JobEvent> {
        let mut events: Vec<JobEvent> = self.rx.try_iter().collect();
        let ended = events.iter().any(|e| {
            matches!(
                e,
                JobEvent::Finished { .. }
                    | JobEvent::Cancelled { .. }
                    | JobEvent::Failed(_)
                    | JobEvent::NothingStored
            )
        });
        if let Some((heatmap, done, total)) = self.progress.take()
            && !ended
        {
            events.push(JobEvent::Progress {
                heatmap,
                done,
                total,
            });
        }
        events
    }

    /// Asks the job to stop; it reports `Cancelled` within one batch.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether the job's thread has ended (it drops its sender last).
    pub fn finished(&self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(_) => continue,
                Err(std::sync::mpsc::TryRecvError::Empty) => return false,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return true,
            }
        }
    }

    /// Waits until the job's thread has ended or `deadline` passes; its events are discarded.
    pub fn wait_until(&self, deadline: Instant) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(_) => continue,
                Err(_) => return,
            }
        }
    }
}

fn run(
    slide: &dyn SlideSource,
    spec: &JobSpec,
    cancel: &AtomicBool,
    tx: &Sender<JobEvent>,
    progress: &Latest<(Arc<Heatmap>, usize, usize)>,
    wake: &(dyn Fn() + Send + Sync),
) {
    let send = |e: JobEvent| {
        // The receiver is gone when the slide was closed: nothing left to tell.
        let _ = tx.send(e);
        wake();
    };
    let started = Instant::now();
    if spec.stored_only {
        match pipeline::stored_result(
            slide,
            &spec.model_dir,
            spec.risk_class.as_deref(),
            &spec.out_dir,
            spec.params,
        ) {
            Ok(Some(result)) => send(JobEvent::Finished {
                result: Box::new(result),
                reused: true,
                seconds: started.elapsed().as_secs_f64(),
            }),
            Ok(None) => send(JobEvent::NothingStored),
            Err(e) => send(JobEvent::Failed(e.to_string())),
        }
        return;
    }
    let mut model = match Model::load_with(&spec.model_dir, spec.risk_class.as_deref(), spec.load) {
        Ok(m) => m,
        Err(e) => return send(JobEvent::Failed(e.to_string())),
    };
    let threshold = spec.params.threshold_for(&model.meta);
    send(JobEvent::ModelReady {
        name: format!("{} {}", model.meta.name, model.meta.version),
        provider: model.provider.name(),
        threshold,
        threshold_meaning: model.meta.threshold_meaning(threshold).map(str::to_owned),
    });
    let mut last_sent = Instant::now();
    let outcome = pipeline::analyze_slide(
        slide,
        &mut model,
        &spec.out_dir,
        spec.params,
        spec.run,
        spec.focus,
        cancel,
        |p| match p {
            Progress::Planned { mask, tiles } => send(JobEvent::Planned {
                mask: Arc::new(mask.clone()),
                tiles,
            }),
            Progress::Batch {
                heatmap,
                done,
                total,
            } => {
                if done == total || last_sent.elapsed() >= PROGRESS_EVERY {
                    last_sent = Instant::now();
                    progress.put((Arc::new(heatmap.clone()), done, total));
                    wake();
                }
            }
        },
    );
    match outcome {
        Ok((report, result)) => send(JobEvent::Finished {
            result: Box::new(result),
            reused: report.reused,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(AnalysisError::Cancelled { done, total }) => send(JobEvent::Cancelled { done, total }),
        Err(e) => send(JobEvent::Failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_keeps_only_the_newest_value() {
        let slot = Latest::default();
        assert_eq!(slot.take(), None::<u32>);
        for v in 0..1000u32 {
            slot.put(v);
        }
        assert_eq!(slot.take(), Some(999));
        assert_eq!(slot.take(), None, "taken once");
    }
}
