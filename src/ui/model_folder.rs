//! "Load model folder…": a model folder (ours, or WSInfer's as it is) read on a thread and shown as
//! a card (name, classes, input size and resolution, tile size) before anything runs; a WSInfer
//! folder that names no risk class gets a choice of its classes.

use std::path::PathBuf;
use std::sync::Arc;

use crate::analysis::model::{ModelError, ModelMeta};
use crate::task::{Poll, Task, Wake};

/// What the card shows of a model folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub dir: PathBuf,
    pub name: String,
    pub version: String,
    pub classes: Vec<String>,
    pub input_size: u32,
    pub mpp: f64,
    /// The risk class: the folder's own, or the user's choice (`None` until chosen).
    pub risk_class: Option<String>,
    /// Whether the folder leaves the risk class to the user (WSInfer without a side file).
    pub choose_risk: bool,
}

impl Card {
    fn read(dir: PathBuf) -> Result<Card, String> {
        let card = |meta: ModelMeta, choose_risk: bool, dir: PathBuf| Card {
            name: meta.name,
            version: meta.version,
            input_size: meta.input_size,
            mpp: meta.mpp,
            risk_class: (!choose_risk).then_some(meta.risk_class),
            classes: meta.classes,
            choose_risk,
            dir,
        };
        match ModelMeta::load_dir(&dir, None) {
            Ok((meta, _)) => Ok(card(meta, false, dir)),
            Err(ModelError::RiskClassNeeded { classes, .. }) => {
                // Everything but the risk class, read with any class in its place.
                let first = classes.first().cloned().unwrap_or_default();
                let (meta, _) =
                    ModelMeta::load_dir(&dir, Some(&first)).map_err(|e| e.to_string())?;
                Ok(card(meta, true, dir))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

#[derive(Default)]
pub struct ModelFolderUi {
    reading: Option<Task<Option<Result<Card, String>>>>,
    pub card: Option<Card>,
    pub error: Option<String>,
}

impl ModelFolderUi {
    /// Reads `dir` (or, with `None`, a folder the user picks) into a card.
    pub fn open(&mut self, dir: Option<PathBuf>, wake: Wake) {
        self.error = None;
        match Task::spawn("read-model-folder", wake, move || {
            let dir = dir.or_else(|| rfd::FileDialog::new().pick_folder())?;
            Some(Card::read(dir))
        }) {
            Ok(t) => self.reading = Some(t),
            Err(e) => self.error = Some(e),
        }
    }

    pub fn poll(&mut self) {
        if let Some(t) = &mut self.reading {
            match t.poll() {
                Poll::Pending => {}
                Poll::Ready(r) => {
                    self.reading = None;
                    match r {
                        None => {}
                        Some(Ok(card)) => self.card = Some(card),
                        Some(Err(e)) => self.error = Some(e),
                    }
                }
                Poll::Gone => {
                    self.reading = None;
                    self.error = Some("reading the model folder stopped unexpectedly".into());
                }
            }
        }
    }

    /// The card, with the risk-class choice; returns the folder and risk class when the user
    /// takes the model.
    pub fn panel(&mut self, ui: &mut egui::Ui) -> Option<(PathBuf, Option<String>)> {
        if ui.button("Load model folder…").clicked() {
            let ctx = ui.ctx().clone();
            self.open(None, Arc::new(move || ctx.request_repaint()));
        }
        if self.reading.is_some() {
            ui.label("Reading the model folder…");
        }
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let card = self.card.as_mut()?;
        let mut taken = None;
        let mut dismissed = false;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.label(egui::RichText::new(&card.name).strong());
            ui.label(format!("Version: {}", card.version));
            ui.label(format!("Classes: {}", card.classes.join(", ")));
            let tile_um = f64::from(card.input_size) * card.mpp;
            ui.label(format!(
                "Input {} px at {:.3} µm/px ({tile_um:.1} µm tiles)",
                card.input_size, card.mpp
            ));
            if card.choose_risk {
                egui::ComboBox::from_label("Risk class")
                    .selected_text(card.risk_class.as_deref().unwrap_or("choose…"))
                    .show_ui(ui, |ui| {
                        for c in &card.classes {
                            ui.selectable_value(&mut card.risk_class, Some(c.clone()), c);
                        }
                    });
            } else {
                ui.label(format!(
                    "Risk class: {}",
                    card.risk_class.as_deref().unwrap_or("")
                ));
            }
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(
                        card.risk_class.is_some(),
                        egui::Button::new("Use this model"),
                    )
                    .clicked()
                {
                    let chosen = card.risk_class.clone().filter(|_| card.choose_risk);
                    taken = Some((card.dir.clone(), chosen));
                }
                if ui.button("Dismiss").clicked() {
                    dismissed = true;
                }
            });
        });
        if taken.is_some() || dismissed {
            self.card = None;
        }
        taken
    }
}
