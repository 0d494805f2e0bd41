//! Pictures of the view: the File > Save view snapshot (choose, capture the next frame, crop to
//! the canvas, save off the UI thread) and the scripted `--screenshot` run.

use super::*;

/// The error dialog's title when a picture of the view cannot be saved.
pub(super) const SAVE_FAILED: &str = "Cannot save the view";

impl SentinelApp {
    /// Saves the next frame's slide canvas (slide, overlays, scale bar) to `path` as PNG.
    pub fn snapshot_to(&mut self, ctx: &egui::Context, path: PathBuf) {
        self.snapshot = Snapshot::Capturing(path, self.request_capture(ctx));
    }

    /// Asks for a capture of the next frame; it arrives on the returned channel.
    pub(super) fn request_capture(&self, ctx: &egui::Context) -> Receiver<Arc<egui::ColorImage>> {
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

    pub(super) fn drive_snapshot(&mut self, ctx: &egui::Context) {
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
                            self.error = Some((SAVE_FAILED, e));
                            Snapshot::Idle
                        }
                    }
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => Snapshot::Capturing(path, rx),
                Err(_) => {
                    self.error = Some((SAVE_FAILED, "the window could not be captured".into()));
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
                    self.error = Some((SAVE_FAILED, e));
                    Snapshot::Idle
                }
                Poll::Pending => Snapshot::Saving(path, t),
                Poll::Gone => {
                    self.error = Some((
                        SAVE_FAILED,
                        "saving the snapshot stopped unexpectedly".into(),
                    ));
                    Snapshot::Idle
                }
            },
        };
    }

    /// Whether a snapshot is being chosen, captured or saved.
    pub fn snapshot_pending(&self) -> bool {
        !matches!(self.snapshot, Snapshot::Idle)
    }

    /// Scripted screenshots: wait for a complete full-resolution frame, capture it, save, exit.
    pub(super) fn drive_screenshot(&mut self, ctx: &egui::Context) {
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
                let complete = complete && heatmap == Ok(true) && self.launch_annotations_shown();
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

    /// Whether the heatmap a scripted screenshot asked for is on screen: `Ok(false)` while it is
    /// coming, an error when it will not come.
    pub(super) fn screenshot_heatmap(&mut self) -> Result<bool, String> {
        use crate::ui::analysis_panel::RunState;
        if self.launch.compare.is_some() && self.current.is_some() {
            let c = &self.analysis.compare;
            if c.is_busy() {
                return Ok(false);
            }
            if c.imported().is_none() {
                return Err(c
                    .message
                    .clone()
                    .unwrap_or_else(|| "no heatmap imported".into()));
            }
            // The difference appears once our heatmap is final and compared.
            if c.layer == crate::ui::heatmap_compare::Layer::Difference && c.comparison().is_none()
            {
                if self.launch.heatmap == LaunchHeatmap::Off {
                    return Err("--layer difference needs --analyze or --heatmap".into());
                }
                return Ok(false);
            }
        }
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
    pub(super) fn fail_screenshot(&self, ctx: &egui::Context, message: &str) -> Screenshot {
        eprintln!("error: {message}");
        self.exit.store(1, Ordering::SeqCst);
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        Screenshot::Done
    }
}

/// The part of `img` inside the physical-pixel box [x0, y0, x1, y1].
pub(super) fn crop_image(img: &egui::ColorImage, b: [f32; 4]) -> egui::ColorImage {
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
