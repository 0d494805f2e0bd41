//! egui panels around the slide. Each is a plain function that draws from state and returns the
//! commands the user gave; the app applies them in one place.

use std::path::PathBuf;

use egui::{Align2, Color32, FontId, RichText, Stroke, pos2, vec2};

use crate::view::{MAGNIFICATION_PRESETS, format_length_um, nice_length_um};
use crate::viewer::SlideView;

pub mod analysis_panel;
pub mod annotations;
pub mod heatmap_compare;
pub mod heatmap_legend;
pub mod model_folder;
pub mod review;

/// What the user asked for this frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    OpenDialog,
    Open(PathBuf),
    OpenDemo,
    Fit,
    OneToOne,
    ZoomBy(f64),
    PanBy(f64, f64),
    Magnification(f64),
    CentreOn([f64; 2]),
    SetSmooth(bool),
    ToggleProperties,
    ToggleAssociated,
    ToggleHelp,
    DismissError,
    Quit,
    Analyze,
    CancelAnalysis,
    ToggleAnalysisPanel,
    /// Pick a model folder (ours or WSInfer's) and show its card.
    LoadModelFolder,
    /// Level-0 peak and bounding box [x0, y0, x1, y1] of a hot-spot.
    GoToHotspot([f64; 2], [f64; 4]),
    /// Frame a level-0 box [x0, y0, x1, y1] (an annotation).
    FrameRegion([f64; 4]),
    ToggleAnnotationPanel,
    /// Save what the slide canvas shows (with the scale bar) as a PNG chosen in a dialog.
    SnapshotDialog,
    ToggleReviewPanel,
    /// A second pane beside the main one: of the slide on screen, or of another picked in a
    /// dialog; and closing it.
    SplitSameSlide,
    SplitOtherDialog,
    CloseSplit,
    /// Open a case of a review session: its annotations kept under `scope`, the heatmap shown or
    /// hidden by the reading arm. The slide must be the case's (`slide_key`): it is looked for at
    /// `path`, then by file name in `search`, off the UI thread; another slide is refused.
    OpenForReview {
        path: PathBuf,
        slide_key: String,
        search: Vec<PathBuf>,
        /// "case 3", for messages.
        label: String,
        scope: String,
        heatmap: bool,
    },
    /// Reading is over: annotations belong to slides again.
    LeaveReview,
}

/// Keyboard shortcuts, also listed in the help overlay.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Drag / middle-drag", "pan"),
    ("Wheel / pinch", "zoom around the pointer"),
    ("Arrows or W A S D", "pan by a quarter view"),
    ("+ / -", "zoom in / out 2x"),
    ("0", "fit the slide"),
    ("1", "1:1 (one slide pixel per screen pixel)"),
    ("Ctrl+O", "open a slide"),
    ("P", "properties panel"),
    ("H or F1", "this help"),
    (
        "V R E G F B . M",
        "select, rectangle, ellipse, polygon, freehand, brush, points, ruler",
    ),
    ("Enter / double-click", "finish a polygon or point set"),
    ("Esc", "drop the shape being drawn, or the selection"),
    ("Delete / Backspace", "delete the selected annotation"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
    ("Ctrl+D", "duplicate the selected annotation"),
];

/// Reads the keyboard (when no text field has focus).
pub fn keyboard(ctx: &egui::Context) -> Vec<Command> {
    if ctx.egui_wants_keyboard_input() {
        return Vec::new();
    }
    ctx.input(|i| {
        use egui::Key;
        let mut out = Vec::new();
        let pressed = |k: Key| i.key_pressed(k);
        if i.modifiers.command {
            if pressed(Key::O) {
                out.push(Command::OpenDialog);
            }
            return out;
        }
        let step = 0.25;
        if pressed(Key::ArrowLeft) || pressed(Key::A) {
            out.push(Command::PanBy(-step, 0.0));
        }
        if pressed(Key::ArrowRight) || pressed(Key::D) {
            out.push(Command::PanBy(step, 0.0));
        }
        if pressed(Key::ArrowUp) || pressed(Key::W) {
            out.push(Command::PanBy(0.0, -step));
        }
        if pressed(Key::ArrowDown) || pressed(Key::S) {
            out.push(Command::PanBy(0.0, step));
        }
        if pressed(Key::Plus) || pressed(Key::Equals) {
            out.push(Command::ZoomBy(2.0));
        }
        if pressed(Key::Minus) {
            out.push(Command::ZoomBy(0.5));
        }
        if pressed(Key::Num0) {
            out.push(Command::Fit);
        }
        if pressed(Key::Num1) {
            out.push(Command::OneToOne);
        }
        if pressed(Key::H) || pressed(Key::F1) {
            out.push(Command::ToggleHelp);
        }
        if pressed(Key::P) {
            out.push(Command::ToggleProperties);
        }
        out
    })
}

/// Menu bar and magnification toolbar.
pub fn top_bar(
    ui: &mut egui::Ui,
    view: Option<&SlideView>,
    recent: &[PathBuf],
    out: &mut Vec<Command>,
) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open…  (Ctrl+O)").clicked() {
                out.push(Command::OpenDialog);
            }
            if ui.button("Open demo slide").clicked() {
                out.push(Command::OpenDemo);
            }
            ui.menu_button("Open recent", |ui| {
                if recent.is_empty() {
                    ui.label("(none yet)");
                }
                for p in recent {
                    if ui.button(p.display().to_string()).clicked() {
                        out.push(Command::Open(p.clone()));
                    }
                }
            });
            ui.separator();
            if ui
                .add_enabled(view.is_some(), egui::Button::new("Snapshot of the view…"))
                .clicked()
            {
                out.push(Command::SnapshotDialog);
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                out.push(Command::Quit);
            }
        });
        ui.menu_button("View", |ui| {
            if ui.button("Fit slide  (0)").clicked() {
                out.push(Command::Fit);
            }
            if ui.button("1:1  (1)").clicked() {
                out.push(Command::OneToOne);
            }
            if let Some(v) = view {
                let mut smooth = v.smooth;
                if ui
                    .checkbox(&mut smooth, "Smooth pixels when magnified")
                    .changed()
                {
                    out.push(Command::SetSmooth(smooth));
                }
            }
            ui.separator();
            if ui.button("Side by side: this slide").clicked() {
                out.push(Command::SplitSameSlide);
            }
            if ui.button("Side by side: another slide…").clicked() {
                out.push(Command::SplitOtherDialog);
            }
            if ui.button("Single pane").clicked() {
                out.push(Command::CloseSplit);
            }
            ui.separator();
            if ui.button("Properties  (P)").clicked() {
                out.push(Command::ToggleProperties);
            }
            if ui.button("Label, macro and thumbnail").clicked() {
                out.push(Command::ToggleAssociated);
            }
            if ui.button("Keyboard shortcuts  (H)").clicked() {
                out.push(Command::ToggleHelp);
            }
        });
        ui.menu_button("Analysis", |ui| {
            if ui.button("Analyze this slide").clicked() {
                out.push(Command::Analyze);
            }
            if ui.button("Load model folder…").clicked() {
                out.push(Command::LoadModelFolder);
            }
            if ui.button("Analysis panel").clicked() {
                out.push(Command::ToggleAnalysisPanel);
            }
        });
        if ui.button("Annotations").clicked() {
            out.push(Command::ToggleAnnotationPanel);
        }
        if ui.button("Review").clicked() {
            out.push(Command::ToggleReviewPanel);
        }
        ui.separator();
        if let Some(v) = view {
            if let Some(base) = v.base_magnification() {
                for &m in MAGNIFICATION_PRESETS
                    .iter()
                    .filter(|&&m| m <= base * crate::view::MAX_PIXEL_MAGNIFICATION)
                {
                    let current = v
                        .magnification()
                        .is_some_and(|c| (c / m - 1.0).abs() < 0.02);
                    if ui.selectable_label(current, format!("{m}x")).clicked() {
                        out.push(Command::Magnification(m));
                    }
                }
            }
            if ui.button("Fit").clicked() {
                out.push(Command::Fit);
            }
        }
    });
}

/// Cursor position, magnification, level and tile activity.
/// The status bar; `name` (a blinded reading's "Case 2 of 8") replaces the slide's file name.
pub fn status_bar(
    ui: &mut egui::Ui,
    view: Option<&SlideView>,
    name: Option<&str>,
    cursor: Option<[f64; 2]>,
    opening: Option<&str>,
) {
    ui.horizontal(|ui| {
        if let Some(p) = opening {
            ui.spinner();
            ui.label(format!("Opening {p}…"));
            ui.separator();
        }
        let Some(v) = view else {
            ui.label("No slide open. File > Open, drag a slide onto the window, or Ctrl+O.");
            return;
        };
        let name = name.map_or_else(
            || {
                v.slide
                    .path()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            },
            str::to_owned,
        );
        ui.label(RichText::new(name).strong());
        ui.separator();
        match cursor {
            Some([x, y]) => {
                let mut text = format!("x {x:.0}  y {y:.0} px");
                if let Some((mx, my)) = v.slide.mpp() {
                    text.push_str(&format!("  ({:.1}, {:.1} µm)", x * mx, y * my));
                }
                ui.label(text);
            }
            None => {
                ui.label("x –  y –");
            }
        }
        ui.separator();
        match v.magnification() {
            Some(m) => ui.label(format!("{m:.1}x")),
            None => ui.label(format!("zoom {:.3}", v.view.zoom_px())),
        };
        if v.stats.reduce > 1 {
            ui.label(format!("level {} at 1/{}", v.stats.level, v.stats.reduce))
                .on_hover_text("Read at reduced size: this zoom falls between two pyramid levels");
        } else {
            ui.label(format!("level {}", v.stats.level));
        }
        ui.separator();
        let (cpu, gpu) = v.memory();
        ui.label(format!(
            "tiles pending {}  ·  cache {} MB RAM, {} MB GPU",
            v.stats.pending,
            cpu >> 20,
            gpu >> 20
        ));
        if let Some(e) = &v.last_error {
            ui.separator();
            ui.colored_label(Color32::from_rgb(200, 60, 40), format!("⚠ {e}"));
        }
    });
}

/// A scale bar in µm/mm at the bottom-left of the canvas.
pub fn scale_bar(painter: &egui::Painter, canvas: egui::Rect, view: &SlideView) {
    let Some((mpp, _)) = view.slide.mpp() else {
        return;
    };
    let um_per_point = mpp / view.view.zoom;
    let length_um = nice_length_um(um_per_point * 160.0);
    if length_um <= 0.0 {
        return;
    }
    let length_pt = (length_um / um_per_point) as f32;
    let base = pos2(canvas.min.x + 16.0, canvas.max.y - 18.0);
    let bg = egui::Rect::from_min_max(
        pos2(base.x - 8.0, base.y - 24.0),
        pos2(base.x + length_pt + 8.0, base.y + 8.0),
    );
    painter.rect_filled(bg, 4.0, Color32::from_black_alpha(150));
    let stroke = Stroke::new(3.0, Color32::WHITE);
    painter.line_segment([base, pos2(base.x + length_pt, base.y)], stroke);
    painter.line_segment(
        [pos2(base.x, base.y - 5.0), pos2(base.x, base.y + 3.0)],
        stroke,
    );
    painter.line_segment(
        [
            pos2(base.x + length_pt, base.y - 5.0),
            pos2(base.x + length_pt, base.y + 3.0),
        ],
        stroke,
    );
    painter.text(
        pos2(base.x + length_pt / 2.0, base.y - 6.0),
        Align2::CENTER_BOTTOM,
        format_length_um(length_um),
        FontId::proportional(13.0),
        Color32::WHITE,
    );
}

/// All properties, sorted by name.
pub fn properties_panel(ui: &mut egui::Ui, view: &SlideView) {
    let s = &view.slide;
    ui.heading("Slide");
    egui::Grid::new("summary")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            let (w, h) = s.dimensions();
            ui.label("vendor");
            ui.label(s.vendor());
            ui.end_row();
            ui.label("size");
            ui.label(format!("{w} x {h} px"));
            ui.end_row();
            ui.label("mpp");
            ui.label(
                s.mpp()
                    .map_or("unknown".into(), |(x, y)| format!("{x:.4} x {y:.4} µm/px")),
            );
            ui.end_row();
            ui.label("objective");
            ui.label(
                s.objective_power()
                    .map_or("unknown".into(), |p| format!("{p}x")),
            );
            ui.end_row();
            ui.label("levels");
            ui.label(
                s.levels()
                    .iter()
                    .map(|l| format!("{}x{} (/{:.0})", l.width_px, l.height_px, l.downsample))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            ui.end_row();
        });
    ui.separator();
    ui.heading("Properties");
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("props")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                for (k, v) in s.properties() {
                    ui.label(RichText::new(k).monospace().size(11.0));
                    ui.label(RichText::new(v).size(11.0));
                    ui.end_row();
                }
            });
    });
}

/// The help overlay.
pub fn help_window(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard shortcuts")
        .open(open)
        .collapsible(false)
        .resizable(false)
        .anchor(Align2::CENTER_CENTER, vec2(0.0, 0.0))
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts")
                .num_columns(2)
                .spacing(vec2(24.0, 6.0))
                .show(ui, |ui| {
                    for (k, what) in SHORTCUTS {
                        ui.label(RichText::new(*k).strong());
                        ui.label(*what);
                        ui.end_row();
                    }
                });
            ui.add_space(6.0);
            ui.label("Magnification buttons are derived from the slide's objective power or mpp.");
        });
}
