//! Import and export off the UI thread: annotation files (GeoJSON, ASAP XML) and region images.

use super::*;

impl AnnotationUi {
    /// The heatmap an export may burn in (what the analysis panel shows).
    pub fn set_export_heatmap(&mut self, heatmap: Option<(Arc<Heatmap>, Colormap, f32, f32)>) {
        self.heatmap = heatmap;
    }

    /// Whether a region export is running, and how far it is (0..1).
    pub fn export_progress(&self) -> Option<f32> {
        self.export_job
            .as_ref()
            .map(|j| j.progress.load(Ordering::Relaxed) as f32 / 1000.0)
    }

    pub fn cancel_export(&mut self) {
        if let Some(j) = &self.export_job {
            j.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Exports the regions of `ids` from `slide` into `dir` on a thread, with the panel's settings.
    pub fn export_regions(
        &mut self,
        slide: Arc<dyn crate::slide::SlideSource>,
        ids: &[String],
        dir: PathBuf,
    ) {
        let items: Vec<Annotation> = ids
            .iter()
            .filter_map(|id| self.doc.get(id))
            .filter(|a| a.shape.is_area())
            .cloned()
            .collect();
        let outlines: Vec<(Shape, [u8; 3])> = if self.export.outlines {
            self.doc
                .items()
                .iter()
                .filter(|a| self.visible(a))
                .map(|a| {
                    let c = self.color_of(a);
                    (a.shape.clone(), [c.r(), c.g(), c.b()])
                })
                .collect()
        } else {
            Vec::new()
        };
        let heatmap = self.heatmap.clone().filter(|_| self.export.heatmap);
        let settings = self.export;
        let slide_path = slide.path().to_path_buf();
        let progress = Arc::new(AtomicU32::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let (p, c, wake) = (
            Arc::clone(&progress),
            Arc::clone(&cancel),
            Arc::clone(&self.wake),
        );
        let count = items.len();
        let spawned = Task::spawn("export-regions", Arc::clone(&self.wake), move || {
            let overlay = (settings.outlines || heatmap.is_some()).then(|| Overlay {
                outlines: &outlines,
                heatmap: heatmap
                    .as_ref()
                    .map(|(h, cm, t, o)| (h.as_ref(), *cm, *t, *o)),
            });
            let mut written = Vec::new();
            let n = items.len().max(1) as f64;
            // Every region is placed on the slide before anything is written: one wholly off
            // it refuses the export, one partly off it is cut to the slide.
            let dims = slide.dimensions();
            let mut boxes = Vec::with_capacity(items.len());
            for (k, a) in items.iter().enumerate() {
                match crate::region::placement(a.shape.bbox(), dims) {
                    crate::region::Placement::Inside => boxes.push(a.shape.bbox()),
                    crate::region::Placement::Clipped(cut) => boxes.push(cut),
                    crate::region::Placement::Outside => {
                        return Err(format!(
                            "region {} ({}) lies wholly outside the {}x{} px slide: nothing exported",
                            k + 1,
                            if a.name.is_empty() { &a.id } else { &a.name },
                            dims.0,
                            dims.1
                        ));
                    }
                }
            }
            // Named on this thread: the namer looks at the folder for names already taken.
            let mut names = crate::export_names::RegionNamer::new(&dir, &slide_path);
            // All or nothing: staged, moved into place once every region is written.
            let run = crate::export_names::ExportRun::start(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            for ((k, a), bbox) in items.iter().enumerate().zip(boxes) {
                let req = RegionRequest {
                    bbox,
                    level: settings.level,
                    out: run.stage(&names.next(k, a.class.as_deref(), &a.name)),
                    mask: settings.mask.then_some(&a.shape),
                    overlay,
                    png_max_pixels: crate::region::PNG_MAX_PIXELS,
                };
                let result = export_region(slide.as_ref(), &req, &c, |f| {
                    p.store(((k as f64 + f) / n * 1000.0) as u32, Ordering::Relaxed);
                    wake();
                });
                match result {
                    Ok(out) => {
                        written.push(out.image);
                        written.extend(out.mask);
                    }
                    Err(e) => {
                        let name = req.out.file_name().unwrap_or_default().to_string_lossy();
                        return Err(format!("exporting {name}: {e}"));
                    }
                }
            }
            run.commit(&written)
                .map_err(|e| format!("moving the regions into {}: {e}", dir.display()))
        });
        match spawned {
            Ok(task) => {
                self.export_job = Some(ExportJob {
                    task,
                    progress,
                    cancel,
                    count,
                })
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Asks for a folder (on a thread), then exports the regions of `ids` there.
    pub(super) fn export_dialog_for(
        &mut self,
        slide: Arc<dyn crate::slide::SlideSource>,
        ids: Vec<String>,
    ) {
        match Task::spawn("export-folder", Arc::clone(&self.wake), || {
            rfd::FileDialog::new().pick_folder()
        }) {
            Ok(t) => self.file_job = Some(FileJob::Folder(t, slide, ids)),
            Err(e) => self.error = Some(e),
        }
    }

    pub(super) fn import_dialog(&mut self) {
        let placement = self.placement.clone();
        match Task::spawn("import-annotations", Arc::clone(&self.wake), move || {
            rfd::FileDialog::new()
                .add_filter(
                    "Annotations (QuPath GeoJSON, ASAP or ImageScope XML, NDP.view NDPA)",
                    &["geojson", "json", "xml", "ndpa"],
                )
                .pick_file()
                .map(|p| import(&p, placement.as_ref()))
        }) {
            Ok(t) => self.file_job = Some(FileJob::Import(t)),
            Err(e) => self.error = Some(e),
        }
    }

    /// Whether an import is being read or chosen.
    pub fn importing(&self) -> bool {
        matches!(self.file_job, Some(FileJob::Import(_)))
    }

    /// Reads and parses `path` off the UI thread; the annotations arrive through [`Self::poll`].
    pub fn import_path(&mut self, path: PathBuf) {
        let placement = self.placement.clone();
        match Task::spawn("import-annotations", Arc::clone(&self.wake), move || {
            Some(import(&path, placement.as_ref()))
        }) {
            Ok(t) => self.file_job = Some(FileJob::Import(t)),
            Err(e) => self.error = Some(e),
        }
    }

    pub(super) fn export_dialog(&mut self, asap: bool) {
        let (text, ext) = if asap {
            (
                crate::annotate::xml::export_asap(self.doc.items(), self.doc.classes()),
                "xml",
            )
        } else {
            (
                geojson::export(self.doc.items(), self.doc.classes()),
                "geojson",
            )
        };
        let stem = self
            .slide
            .as_ref()
            .and_then(|s| s.1.file_stem().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "annotations".into());
        let name = format!("{stem}.{ext}");
        match Task::spawn("export-annotations", Arc::clone(&self.wake), move || {
            let picked = rfd::FileDialog::new()
                .add_filter(if asap { "ASAP XML" } else { "GeoJSON" }, &[ext])
                .set_file_name(name)
                .save_file();
            picked.map(|p| {
                crate::fsutil::write_atomic(&p, text.as_bytes())
                    .map(|()| p.clone())
                    .map_err(|e| format!("{}: {e}", p.display()))
            })
        }) {
            Ok(t) => self.file_job = Some(FileJob::Export(t)),
            Err(e) => self.error = Some(e),
        }
    }
}

/// Reads an annotation file, placed against the open slide's size when there is one.
pub(super) fn import(
    path: &std::path::Path,
    slide: Option<&crate::annotate::Placement>,
) -> Result<crate::annotate::geojson::Imported, String> {
    match slide {
        Some(s) => crate::annotate::import_file_for_slide(path, s),
        None => crate::annotate::import_file(path),
    }
    .map_err(|e| e.to_string())
}
