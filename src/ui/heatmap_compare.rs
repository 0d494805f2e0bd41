//! Another tool's heatmap over the open slide: an ASAP likelihood map or a DSA griddata annotation
//! imported (read on a thread), drawn instead of Sentinel's or as the difference between the two,
//! with the per-tile agreement in the panel.

use std::path::PathBuf;
use std::sync::Arc;

use crate::analysis::heatmap::Heatmap;
use crate::analysis::interchange::compare::{Comparison, compare};
use crate::analysis::interchange::{ForeignHeatmap, read_foreign};
use crate::task::{Poll, Task, Wake};
use crate::viewer::heatmap_layer::HeatmapTexels;

/// Which map the overlay draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Layer {
    /// Sentinel's own risk map.
    #[default]
    Sentinel,
    /// The imported map.
    Imported,
    /// Imported minus Sentinel, per Sentinel tile: red where the other tool scores higher.
    Difference,
}

/// Texel versions of imported and difference maps, apart from the analysis's own (which count up
/// from 1), so the GPU never mistakes one for the other.
const VERSION_BASE: u64 = 1 << 48;

struct Imported {
    map: ForeignHeatmap,
    texels: Arc<HeatmapTexels>,
}

struct Compared {
    /// The version of our heatmap it was computed from.
    ours: u64,
    comparison: Comparison,
    texels: Arc<HeatmapTexels>,
}

#[derive(Default)]
pub struct CompareUi {
    pub layer: Layer,
    imported: Option<Imported>,
    compared: Option<Compared>,
    import: Option<Task<Option<Result<ForeignHeatmap, String>>>>,
    comparing: Option<(u64, Task<Comparison>)>,
    /// Whether the import under way was the user's pick (it then shows itself when there is
    /// nothing else to see); a scripted one keeps the layer it was given.
    picked: bool,
    versions: u64,
    pub message: Option<String>,
}

impl CompareUi {
    fn next_version(&mut self) -> u64 {
        self.versions += 1;
        VERSION_BASE + self.versions
    }

    /// Drops the imported map (another slide was opened).
    pub fn reset(&mut self) {
        *self = Self {
            versions: self.versions,
            ..Self::default()
        };
    }

    /// Drops the comparison (our heatmap is about to be replaced by another model's).
    pub fn forget_comparison(&mut self) {
        self.compared = None;
        self.comparing = None;
        if self.layer == Layer::Difference {
            self.layer = Layer::Imported;
        }
    }

    /// Whether an import or a comparison is still being worked on.
    pub fn is_busy(&self) -> bool {
        self.import.is_some() || self.comparing.is_some()
    }

    pub fn imported(&self) -> Option<&ForeignHeatmap> {
        self.imported.as_ref().map(|i| &i.map)
    }

    pub fn comparison(&self) -> Option<&Comparison> {
        self.compared.as_ref().map(|c| &c.comparison)
    }

    /// Reads `path` (or, with `None`, a file the user picks) for a slide of `dims` level-0 px.
    pub fn import(&mut self, path: Option<PathBuf>, dims: (u64, u64), wake: Wake) {
        self.picked = path.is_none();
        let spawned = Task::spawn("import-heatmap", wake, move || {
            let path = path.or_else(|| {
                rfd::FileDialog::new()
                    .add_filter("Heatmap (ASAP TIFF, DSA JSON)", &["tif", "tiff", "json"])
                    .pick_file()
            })?;
            Some(read_foreign(&path, dims).map_err(|e| e.to_string()))
        });
        match spawned {
            Ok(t) => {
                self.import = Some(t);
                self.message = Some("Importing…".into());
            }
            Err(e) => self.message = Some(format!("Import failed: {e}")),
        }
    }

    /// Takes finished imports and comparisons; starts a comparison when our finished heatmap
    /// (`ours`, at texel version `version`) and an imported one have none yet.
    pub fn poll(&mut self, ours: Option<(&Arc<Heatmap>, u64)>, running: bool, wake: &Wake) {
        if let Some(t) = &mut self.import {
            match t.poll() {
                Poll::Pending => {}
                Poll::Ready(picked) => {
                    self.import = None;
                    match picked {
                        None => self.message = None,
                        Some(Ok(map)) => {
                            let version = self.next_version();
                            self.message = Some(format!(
                                "Imported {} ({}): {} x {} values of {:.0} px",
                                map.name,
                                map.format,
                                map.heatmap.cols,
                                map.heatmap.rows,
                                map.heatmap.cell_level0
                            ));
                            self.imported = Some(Imported {
                                texels: Arc::new(HeatmapTexels::from_heatmap(
                                    &map.heatmap,
                                    version,
                                )),
                                map,
                            });
                            self.compared = None;
                            self.comparing = None;
                            if self.picked && self.layer == Layer::Sentinel && ours.is_none() {
                                self.layer = Layer::Imported;
                            }
                        }
                        Some(Err(e)) => self.message = Some(format!("Import failed: {e}")),
                    }
                }
                Poll::Gone => {
                    self.import = None;
                    self.message = Some("Import failed: it stopped unexpectedly".into());
                }
            }
        }
        if let Some((v, t)) = &mut self.comparing {
            let v = *v;
            match t.poll() {
                Poll::Pending => {}
                Poll::Ready(comparison) => {
                    self.comparing = None;
                    let version = self.next_version();
                    self.compared = Some(Compared {
                        ours: v,
                        texels: Arc::new(HeatmapTexels::from_heatmap(
                            &comparison.difference,
                            version,
                        )),
                        comparison,
                    });
                }
                Poll::Gone => {
                    self.comparing = None;
                    self.message = Some("Comparison failed: it stopped unexpectedly".into());
                }
            }
        }
        // Compare once our map is final: a running analysis changes it several times a second.
        let (Some((ours, version)), Some(imported), false) = (ours, &self.imported, running) else {
            return;
        };
        let current = self.compared.as_ref().is_some_and(|c| c.ours == version)
            || self.comparing.as_ref().is_some_and(|(v, _)| *v == version);
        if current {
            return;
        }
        let (ours, theirs) = (Arc::clone(ours), Arc::clone(&imported.map.heatmap));
        match Task::spawn("compare-heatmaps", Arc::clone(wake), move || {
            compare(&ours, &theirs)
        }) {
            Ok(t) => self.comparing = Some((version, t)),
            Err(e) => self.message = Some(format!("Comparison failed: {e}")),
        }
    }

    /// What the overlay draws for the chosen layer: the texels and whether they are a difference.
    pub fn texels(&self) -> Option<(Arc<HeatmapTexels>, bool)> {
        match self.layer {
            Layer::Sentinel => None,
            Layer::Imported => self
                .imported
                .as_ref()
                .map(|i| (Arc::clone(&i.texels), false)),
            Layer::Difference => self
                .compared
                .as_ref()
                .map(|c| (Arc::clone(&c.texels), true)),
        }
    }

    /// The imported value under level-0 point `p`.
    pub fn value_at(&self, p: [f64; 2]) -> Option<f32> {
        self.imported.as_ref()?.map.heatmap.value_at(p[0], p[1])
    }

    /// The panel section: import, the layer choice and the agreement figures.
    pub fn panel(&mut self, ui: &mut egui::Ui, dims: Option<(u64, u64)>) {
        ui.label(egui::RichText::new("Compare with another tool").strong());
        let busy = self.import.is_some();
        if ui
            .add_enabled(
                dims.is_some() && !busy,
                egui::Button::new("Import heatmap…"),
            )
            .on_hover_text("An ASAP likelihood map (TIFF) or a DSA griddata annotation (JSON)")
            .clicked()
            && let Some(d) = dims
        {
            let ctx = ui.ctx().clone();
            self.import(None, d, Arc::new(move || ctx.request_repaint()));
        }
        if let Some(i) = &self.imported {
            ui.label(format!("Imported: {} ({})", i.map.name, i.map.format));
            ui.horizontal(|ui| {
                ui.radio_value(&mut self.layer, Layer::Sentinel, "Sentinel");
                ui.radio_value(&mut self.layer, Layer::Imported, "Imported");
                ui.add_enabled_ui(self.compared.is_some(), |ui| {
                    ui.radio_value(&mut self.layer, Layer::Difference, "Difference");
                });
            });
            match (&self.compared, &self.comparing) {
                (Some(c), _) => {
                    let c = &c.comparison;
                    let r = c
                        .pearson
                        .map_or_else(|| "n/a".into(), |r| format!("{r:.3}"));
                    ui.label(format!(
                        "Per tile, over {} tiles both scored: r = {r}, mean |difference| {:.3}",
                        c.tiles, c.mean_abs_difference
                    ));
                }
                (None, Some(_)) => {
                    ui.label("Comparing…");
                }
                (None, None) => {
                    ui.label("Run the analysis to compare tile by tile.");
                }
            }
            if ui.button("Remove imported heatmap").clicked() {
                self.reset();
            }
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
    }
}
