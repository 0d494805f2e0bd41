//! Side-by-side panes: a second view beside the main one, of the same slide (e.g. heatmap on in
//! one, off in the other) or of another slide of the case (H&E beside IHC). Linked, they pan and
//! zoom together at the same place and scale in micrometres (see `view::link`); unlinked, each
//! moves alone, and linking again keeps the offset between them.

use super::*;
use crate::view::link;

pub(super) struct SecondPane {
    pub(super) view: SlideView,
    pub(super) linked: bool,
    /// Draw the main slide's heatmap here too (same slide only).
    pub(super) overlay: bool,
    /// Follower centre minus leader centre, µm (or pixels where a slide has no resolution).
    offset: [f64; 2],
    /// Just opened: take the main pane's place at the next frame.
    fresh: bool,
}

pub(super) type PaneOpening = Task<Result<(Arc<dyn SlideSource>, RgbaImage), String>>;

/// The gap between the two panes, in points.
const GAP: f32 = 3.0;

/// The two halves of `rect`: main pane left, second right.
pub(super) fn split(rect: egui::Rect) -> (egui::Rect, egui::Rect) {
    let mid = rect.center().x;
    (
        egui::Rect::from_min_max(rect.min, egui::pos2(mid - GAP / 2.0, rect.max.y)),
        egui::Rect::from_min_max(egui::pos2(mid + GAP / 2.0, rect.min.y), rect.max),
    )
}

impl SentinelApp {
    /// Opens a second pane on the slide on screen (its overview read off the UI thread).
    pub fn split_same_slide(&mut self) {
        let Some(v) = &self.current else {
            return;
        };
        let slide = Arc::clone(&v.slide);
        self.spawn_pane(move || {
            let overview = read_overview(slide.as_ref(), 512).map_err(|e| e.to_string())?;
            Ok((slide, overview))
        });
    }

    /// Opens `path` in a second pane beside the slide on screen.
    pub fn split_open(&mut self, path: PathBuf) {
        self.spawn_pane(move || {
            let slide = crate::slide::open(&path).map_err(|e| e.to_string())?;
            let overview = read_overview(slide.as_ref(), 512).map_err(|e| e.to_string())?;
            Ok((Arc::from(slide), overview))
        });
    }

    /// Picks the second pane's slide in a dialog (on its own thread).
    pub(super) fn split_dialog(&mut self) {
        match Task::spawn("pick-pane-slide", Arc::clone(&self.repaint), || {
            rfd::FileDialog::new().pick_file()
        }) {
            Ok(t) => self.pane_dialog = Some(t),
            Err(e) => self.error = Some((super::opening::OPEN_FAILED, e)),
        }
    }

    fn spawn_pane(
        &mut self,
        job: impl FnOnce() -> Result<(Arc<dyn SlideSource>, RgbaImage), String> + Send + 'static,
    ) {
        match Task::spawn("open-pane", Arc::clone(&self.repaint), job) {
            Ok(t) => self.pane_opening = Some(t),
            Err(e) => self.error = Some((super::opening::OPEN_FAILED, e)),
        }
    }

    /// Closes the second pane.
    pub fn close_split(&mut self) {
        self.second = None;
    }

    /// The second pane's view, if one is open (tests drive it).
    pub fn second_view(&self) -> Option<&SlideView> {
        self.second.as_ref().map(|p| &p.view)
    }

    /// Whether the panes move together.
    pub fn panes_linked(&self) -> Option<bool> {
        self.second.as_ref().map(|p| p.linked)
    }

    /// The picked file and the opened slide, when they arrive.
    pub(super) fn poll_panes(&mut self) {
        if let Some(t) = &mut self.pane_dialog {
            match t.poll() {
                Poll::Ready(picked) => {
                    self.pane_dialog = None;
                    if let Some(p) = picked {
                        self.split_open(p);
                    }
                }
                Poll::Gone => self.pane_dialog = None,
                Poll::Pending => {}
            }
        }
        let Some(t) = &mut self.pane_opening else {
            return;
        };
        let result = match t.poll() {
            Poll::Pending => return,
            Poll::Ready(r) => r,
            Poll::Gone => Err("opening the second pane stopped unexpectedly".into()),
        };
        self.pane_opening = None;
        match result {
            Ok((slide, overview)) => {
                // Half the main pane's memory: the two share the window.
                let budgets = Budgets {
                    cpu_bytes: self.launch.budgets.cpu_bytes / 2,
                    gpu_bytes: self.launch.budgets.gpu_bytes / 2,
                    ..self.launch.budgets
                };
                self.second = Some(SecondPane {
                    view: SlideView::new(slide, overview, budgets, Arc::clone(&self.tile_wake)),
                    linked: true,
                    overlay: false,
                    offset: [0.0, 0.0],
                    fresh: true,
                });
            }
            Err(e) => self.error = Some((super::opening::OPEN_FAILED, e)),
        }
    }

    /// Whether the second pane shows the main pane's slide.
    fn same_slide(&self) -> bool {
        match (&self.current, &self.second) {
            (Some(a), Some(b)) => a.slide.id() == b.view.slide.id(),
            _ => false,
        }
    }

    /// Runs the second pane for one frame in `rect`. `main_moved`: the main pane's view moved this
    /// frame (it leads); otherwise a move of this pane leads the main one.
    pub(super) fn second_pane(&mut self, ui: &mut egui::Ui, rect: egui::Rect, main_moved: bool) {
        let same = self.same_slide();
        let blind = self.review.blind_label().is_some();
        let (Some(main), Some(pane)) = (self.current.as_mut(), self.second.as_mut()) else {
            return;
        };
        let (main_mpp, pane_mpp) = link::link_scales(main.slide.mpp(), pane.view.slide.mpp());
        pane.view.set_view_size(
            [f64::from(rect.width()), f64::from(rect.height())],
            f64::from(ui.ctx().pixels_per_point()),
        );
        if pane.linked && (main_moved || pane.fresh) {
            let (c, z) = link::follow(&main.view, main_mpp, pane_mpp, pane.offset);
            pane.view.jump_to(c, z);
        }
        pane.fresh = false;
        let before = pane.view.view;
        pane.view.primary_pans = true;
        pane.view.canvas(ui, rect);
        if pane.linked && !main_moved && link::moved(&before, &pane.view.view) {
            let back = [-pane.offset[0], -pane.offset[1]];
            let (c, z) = link::follow(&pane.view.view, pane_mpp, main_mpp, back);
            main.jump_to(c, z);
            ui.ctx().request_repaint();
        }
        if same && pane.overlay {
            self.analysis.overlay(ui, rect, &pane.view);
        }
        let Some(pane) = self.second.as_mut() else {
            return;
        };
        if same {
            let painter = ui.painter_at(rect);
            self.annotations.paint(&painter, rect, &pane.view);
        }
        ui::scale_bar(&ui.painter_at(rect), rect, &pane.view);
        // The pane's bar: what it shows, link, heatmap, close.
        let name = if same {
            "this slide".to_owned()
        } else if blind {
            "second slide".to_owned()
        } else {
            pane.view
                .slide
                .path()
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        let bar =
            egui::Rect::from_min_size(rect.min + egui::vec2(8.0, 8.0), egui::vec2(420.0, 28.0));
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(bar));
        let mut close = false;
        egui::Frame::popup(child.style()).show(&mut child, |ui| {
            ui.horizontal(|ui| {
                ui.label(name);
                let was = pane.linked;
                ui.checkbox(&mut pane.linked, "Link panes")
                    .on_hover_text("pan and zoom both panes together; unlink to align them");
                if pane.linked && !was {
                    // Linking keeps what each pane shows: the offset between them is kept.
                    if let Some(main) = &self.current {
                        pane.offset =
                            link::offset_between(&main.view, main_mpp, &pane.view.view, pane_mpp);
                    }
                }
                if same {
                    ui.checkbox(&mut pane.overlay, "Heatmap here");
                }
                close = ui.button("Close pane").clicked();
            });
        });
        if close {
            self.second = None;
        }
    }
}
