//! Opening slides off the UI thread: from a path, the file dialog or the demo (generated on
//! first run), with the newest request winning.

use super::*;

/// The error dialog's title when a slide does not open.
pub(super) const OPEN_FAILED: &str = "Cannot open the slide";

impl SentinelApp {
    /// Starts opening `path` on a background thread; the current slide stays until it succeeds.
    pub fn open(&mut self, path: PathBuf) {
        let p = path.clone();
        self.spawn_open(path, None, move |_| open_slide(&p));
    }

    /// Opens the demo slide, generating it first (with progress) if this is the first run.
    pub(super) fn open_demo(&mut self) {
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
    pub(super) fn spawn_open(
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
            Err(e) => self.error = Some((OPEN_FAILED, format!("{e} for {}", path.display()))),
        }
    }

    pub(super) fn poll_opening(&mut self, ctx: &egui::Context) {
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
                // A case opened for a blinded reading never joins the recent files: its name
                // would show in File > Open recent.
                if !for_review {
                    self.recent.add(&opened.path);
                    self.recent
                        .save_in_background(self.launch.data_dir.join("recent.json"));
                }
                self.current = Some(SlideView::new(
                    opened.slide,
                    opened.overview,
                    self.launch.budgets,
                    Arc::clone(&self.tile_wake),
                ));
                self.associated.clear();
                self.pending_associated = opened.associated;
                self.analysis.reset();
                if let Some(v) = &self.current {
                    self.annotations.on_slide_opened(v);
                    if let Some(p) = &self.launch.compare {
                        let wake = Arc::clone(&self.repaint);
                        let compare = &mut self.analysis.compare;
                        compare.import(Some(p.clone()), v.slide.dimensions(), wake);
                        compare.layer = self.launch.layer;
                    }
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
                self.error = Some((OPEN_FAILED, message));
            }
        }
    }

    /// The native file dialog runs on its own thread; the chosen file arrives as an open request.
    pub(super) fn open_dialog(&mut self) {
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
            Err(e) => self.error = Some(("Cannot show the file dialog", e)),
        }
    }
}

/// Opens a slide and reads what the viewer needs up front (overview, associated images).
/// Runs off the UI thread.
pub(super) fn open_slide(path: &Path) -> Result<Opened, String> {
    opened(crate::slide::open(path).map_err(|e| e.to_string())?)
}

/// What the viewer needs of a slide just opened: its overview and associated images.
pub(super) fn opened(slide: Box<dyn SlideSource>) -> Result<Opened, String> {
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
