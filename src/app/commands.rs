//! What the panels ask for (`ui::Command`), carried out.

use super::opening::opened;
use super::*;

impl SentinelApp {
    pub(super) fn apply(&mut self, ctx: &egui::Context, cmd: Command) {
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
            Command::LoadModelFolder => {
                self.show_analysis = true;
                let wake = Arc::clone(&self.repaint);
                self.analysis.model_folder.open(None, wake);
            }
            Command::ToggleAnnotationPanel => self.show_annotations = !self.show_annotations,
            Command::SplitSameSlide => self.split_same_slide(),
            Command::SplitOtherDialog => self.split_dialog(),
            Command::CloseSplit => self.close_split(),
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
                    Err(e) => self.error = Some((super::capture::SAVE_FAILED, e)),
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
}
