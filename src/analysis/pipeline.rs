//! One slide, end to end: tissue mask -> grid -> inference -> heatmap -> summary -> sidecar, or the
//! stored result when its provenance still matches. What `sentinel analyze` runs per slide.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::heatmap::Heatmap;
use super::model::{Model, ModelMeta};
use super::order::{STRIP_TILES, strips, visible_first};
use super::result::{AnalysisResult, FORMAT, Provenance, sidecar_path};
use super::runner::{AnalysisError, RunOptions, analyse, tile_level0};
use super::tissue::{GridTile, TissueMask, plan_grid};
use crate::slide::{SlideError, SlideSource};
use crate::view::Rect;

/// Parameters that change the result (and so invalidate a stored one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub min_tissue_fraction: f64,
    /// Risk at or above which a tile counts as positive; `None`: the model's own operating point
    /// ([`ModelMeta::default_threshold`]).
    pub threshold: Option<f32>,
    pub top_k: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            min_tissue_fraction: 0.1,
            threshold: None,
            top_k: 10,
        }
    }
}

impl Params {
    /// The threshold that applies with `meta`.
    pub fn threshold_for(&self, meta: &ModelMeta) -> f32 {
        self.threshold.unwrap_or_else(|| meta.default_threshold())
    }
}

/// A model tile must cover at least this many level-0 pixels of the slide: below it the slide is
/// far too coarse for the model (or its mpp is wrong) and the "tiles" are a few pixels blown up.
pub const MIN_TILE_PX: f64 = 8.0;
/// At most this many grid cells (a 200k x 100k px slide at 0.25 µm/px has about 100,000).
pub const MAX_GRID_CELLS: f64 = 4.0e6;
/// Slides coarser than this many times the model's mpp get a warning with their scores.
pub const COARSE_WARNING_RATIO: f64 = 2.0;

/// Refuses a slide whose resolution cannot give the model meaningful tiles, and returns the
/// warnings to carry with its scores.
pub fn check_resolution(
    slide: &dyn SlideSource,
    meta: &ModelMeta,
    slide_mpp: f64,
) -> Result<Vec<String>, AnalysisError> {
    let cell = tile_level0(slide_mpp, meta.mpp, meta.input_size);
    let (w, h) = slide.dimensions();
    let cells = (w as f64 / cell).ceil() * (h as f64 / cell).ceil();
    // NaN (a zero or absurd mpp) fails both comparisons and is refused too.
    let usable = cell >= MIN_TILE_PX && cells <= MAX_GRID_CELLS;
    if !usable {
        return Err(AnalysisError::Resolution {
            path: slide.path().to_path_buf(),
            reason: format!(
                "the model's {size} px tile at {model} µm/px is {cell:.1} px of this {w}x{h} px slide at \
                 {slide_mpp} µm/px ({cells:.0} grid cells); it needs at least {MIN_TILE_PX} px a tile and \
                 at most {MAX_GRID_CELLS:.0} cells. The slide is too coarse for this model, or a µm/px \
                 (the slide's or the model's) is wrong (give the slide's with --mpp)",
                size = meta.input_size,
                model = meta.mpp,
            ),
        });
    }
    let ratio = slide_mpp / meta.mpp;
    let mut warnings = Vec::new();
    if ratio > COARSE_WARNING_RATIO {
        warnings.push(format!(
            "read at {slide_mpp:.2} µm/px, {ratio:.1}x coarser than the model's {} µm/px: tiles are \
             upsampled, so scores carry little meaning",
            meta.mpp
        ));
    }
    Ok(warnings)
}

/// One JSON line of `sentinel analyze --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SlideReport {
    pub slide: PathBuf,
    pub model: String,
    pub provider: String,
    pub tiles: usize,
    pub seconds: f64,
    pub reused: bool,
    pub max: f32,
    pub top_k_mean: f32,
    pub tissue_area_mm2: f64,
    pub threshold: f32,
    /// What the threshold means, where the model states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_meaning: Option<String>,
    pub area_above_threshold_mm2: f64,
    pub hotspots: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub heatmap: PathBuf,
}

/// What [`analyze_slide`] reports while it works.
pub enum Progress<'a> {
    /// The tissue mask is made and `tiles` model tiles cover it.
    Planned { mask: &'a TissueMask, tiles: usize },
    /// A batch was inferred: the heatmap so far.
    Batch {
        heatmap: &'a Heatmap,
        done: usize,
        total: usize,
    },
}

/// Analyses `slide` with `model` (or reuses a matching stored result in `out_dir`). Tiles overlapping
/// `focus` (level-0, what the user looks at) are inferred first. Returns the report line and the
/// result (heatmap, summary, provenance).
#[allow(clippy::too_many_arguments)]
pub fn analyze_slide(
    slide: &dyn SlideSource,
    model: &mut Model,
    out_dir: &Path,
    params: Params,
    options: RunOptions,
    focus: Option<Rect>,
    cancel: &AtomicBool,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<(SlideReport, AnalysisResult), AnalysisError> {
    let started = Instant::now();
    let path = slide.path().to_path_buf();
    let mpp0 = slide_mpp(slide, model)?;
    let warnings = check_resolution(slide, &model.meta, mpp0)?;
    let threshold = params.threshold_for(&model.meta);
    let cell = tile_level0(mpp0, model.meta.mpp, model.meta.input_size);
    let io = |e: std::io::Error, p: &Path| SlideError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let provenance = provenance(slide, model, params)?;
    let sidecar = sidecar_path(out_dir, slide.id());
    let model_name = model.meta.name.clone();
    let provider = model.provider.name();
    let report = |r: &AnalysisResult, tiles: usize, reused: bool| SlideReport {
        slide: path.clone(),
        model: model_name.clone(),
        provider: provider.into(),
        tiles,
        seconds: started.elapsed().as_secs_f64(),
        reused,
        max: r.summary.max,
        top_k_mean: r.summary.top_k_mean,
        tissue_area_mm2: r.tissue_area_mm2,
        threshold: r.summary.threshold,
        threshold_meaning: r.summary.threshold_meaning.clone(),
        area_above_threshold_mm2: r.summary.area_above_mm2,
        hotspots: r.summary.hotspots.len(),
        warnings: r.summary.warnings.clone(),
        heatmap: sidecar.clone(),
    };
    let legacy = super::result::legacy_sidecar_path(out_dir, &path);
    if let Some(stored) = AnalysisResult::load_matching(&sidecar, &provenance)
        .or_else(|| AnalysisResult::load_matching(&legacy, &provenance))
    {
        let line = report(&stored, stored.summary.analysed_cells, true);
        return Ok((line, stored));
    }

    let (mask, mut tiles) = plan_tiles(slide, model, params)?;
    if let Some(view) = focus {
        visible_first(&mut tiles, view);
    }
    progress(Progress::Planned {
        mask: &mask,
        tiles: tiles.len(),
    });
    let mut heatmap = Heatmap::new(slide.dimensions(), cell);
    let stats = analyse(
        slide,
        model,
        &tiles,
        &mut heatmap,
        options,
        cancel,
        |heatmap, done, total| {
            progress(Progress::Batch {
                heatmap,
                done,
                total,
            })
        },
    )?;
    let mut summary = heatmap.summary(threshold, params.top_k, mpp0);
    summary.threshold_meaning = model.meta.threshold_meaning(threshold).map(str::to_owned);
    summary.warnings = warnings;
    let result = AnalysisResult {
        format: FORMAT,
        slide: path.clone(),
        provenance,
        heatmap,
        summary,
        tissue_area_mm2: mask.area_mm2(mpp0),
        complete: true,
    };
    // The heatmap and its exports are one set: the previous heatmap's exports go before the new
    // heatmap lands, so no kill or failure can leave a new heatmap beside an old run's CSV or
    // GeoJSON. (A kill in between leaves the old heatmap alone; one after, the new one alone,
    // and `--export` writes its files from it on the next run.)
    remove_exports(&sidecar, &path, &result.provenance.slide_hash).map_err(|e| io(e, &sidecar))?;
    result.save(&sidecar).map_err(|e| io(e, &sidecar))?;
    let line = report(&result, stats.tiles, false);
    Ok((line, result))
}

/// The tissue mask of `slide` (from a ~1024 px overview) and the model tiles that cover it, in
/// strips (see [`strips`]).
pub fn plan_tiles(
    slide: &dyn SlideSource,
    model: &Model,
    params: Params,
) -> Result<(TissueMask, Vec<GridTile>), AnalysisError> {
    let mpp0 = slide_mpp(slide, model)?;
    check_resolution(slide, &model.meta, mpp0)?;
    let cell = tile_level0(mpp0, model.meta.mpp, model.meta.input_size);
    let overview = crate::slide::read_overview(slide, 1024)?;
    let ds = slide.dimensions().0 as f64 / f64::from(overview.width.max(1));
    let mask = TissueMask::from_image(&overview, ds, Some(mpp0), 20_000.0);
    let mut tiles = plan_grid(&mask, slide.dimensions(), cell, params.min_tissue_fraction);
    strips(&mut tiles, STRIP_TILES);
    Ok((mask, tiles))
}

fn slide_mpp(slide: &dyn SlideSource, model: &Model) -> Result<f64, AnalysisError> {
    slide
        .mpp()
        .map(|m| m.0)
        .ok_or_else(|| AnalysisError::NoMpp {
            path: slide.path().to_path_buf(),
            model_mpp: model.meta.mpp,
        })
}

/// What a result of `model` with `params` on `slide` depends on.
fn provenance(
    slide: &dyn SlideSource,
    model: &Model,
    params: Params,
) -> Result<Provenance, AnalysisError> {
    let hash = model.hash().map_err(|e| SlideError::Io {
        path: model.onnx.clone(),
        source: e,
    })?;
    provenance_for(slide, &model.meta, hash, params)
}

fn provenance_for(
    slide: &dyn SlideSource,
    meta: &ModelMeta,
    model_hash: String,
    params: Params,
) -> Result<Provenance, AnalysisError> {
    let mpp0 = slide
        .mpp()
        .map(|m| m.0)
        .ok_or_else(|| AnalysisError::NoMpp {
            path: slide.path().to_path_buf(),
            model_mpp: meta.mpp,
        })?;
    Ok(Provenance {
        slide_hash: slide.id().provenance_hash().to_owned(),
        model_hash,
        model_name: meta.name.clone(),
        model_version: meta.version.clone(),
        tile_level0: tile_level0(mpp0, meta.mpp, meta.input_size),
        min_tissue_fraction: params.min_tissue_fraction,
        threshold: params.threshold_for(meta),
        top_k: params.top_k,
    })
}

/// The stored result for `slide` in `out_dir` made by the model in `model_dir` (with whichever of
/// its ONNX files ran) and these parameters. Reads files only and never starts ONNX Runtime, so a
/// slide's stored heatmap shows as soon as it opens.
pub fn stored_result(
    slide: &dyn SlideSource,
    model_dir: &Path,
    risk_class: Option<&str>,
    out_dir: &Path,
    params: Params,
) -> Result<Option<AnalysisResult>, AnalysisError> {
    let (meta, meta_files) = ModelMeta::load_dir(model_dir, risk_class)?;
    let chosen = ModelMeta::chosen_risk_class(model_dir, risk_class);
    let mut candidates = vec![model_dir.join("model.onnx")];
    if let Some(v) = &meta.cpu_variant {
        candidates.insert(0, model_dir.join(v));
    }
    let sidecars = [
        sidecar_path(out_dir, slide.id()),
        super::result::legacy_sidecar_path(out_dir, slide.path()),
    ];
    for onnx in candidates.iter().filter(|f| f.is_file()) {
        let hash =
            super::model::model_hash(onnx, &meta_files, chosen).map_err(|e| SlideError::Io {
                path: onnx.clone(),
                source: e,
            })?;
        let p = provenance_for(slide, &meta, hash, params)?;
        if let Some(r) = sidecars
            .iter()
            .find_map(|s| AnalysisResult::load_matching(s, &p))
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Heatmap export formats besides the JSON sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// x, y, width, height, probability per tile.
    Csv,
    /// QuPath-compatible tiles with a "Risk" measurement.
    Geojson,
    /// One pixel per tile, colour-mapped, transparent where nothing was analysed.
    Png,
    /// A figure: the heatmap over the slide's thumbnail, 1600 px wide, with a legend
    /// (`<sidecar>.figure.png`).
    Figure,
    /// An ASAP likelihood map: a pyramidal float32 TIFF whose levels match the slide's,
    /// `<slide name>_likelihood_map.tif`.
    Asap,
    /// A DSA / large_image annotation with one `griddata` heatmap element (`<sidecar>.dsa.json`).
    Dsa,
    /// The regions at or above the threshold as classified QuPath annotations, holes kept
    /// (`<sidecar>.contours.geojson`).
    Contours,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 7] = [
        ExportFormat::Csv,
        ExportFormat::Geojson,
        ExportFormat::Png,
        ExportFormat::Figure,
        ExportFormat::Asap,
        ExportFormat::Dsa,
        ExportFormat::Contours,
    ];

    /// Where this export of the heatmap of the slide `slide_id` at `slide`, stored at `sidecar`,
    /// goes. The ASAP map takes ASAP's name for the slide unless another slide's map holds it.
    pub fn path(self, sidecar: &Path, slide: &Path, slide_id: &str) -> PathBuf {
        let ext = match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Geojson => "geojson",
            ExportFormat::Png => "png",
            ExportFormat::Figure => "figure.png",
            ExportFormat::Dsa => "dsa.json",
            ExportFormat::Contours => "contours.geojson",
            ExportFormat::Asap => {
                let dir = sidecar.parent().unwrap_or(Path::new("."));
                return super::interchange::asap::path_for_owner(dir, slide, slide_id);
            }
        };
        sidecar.with_extension(ext)
    }
}

/// Removes every export of the heatmap of the slide `slide_id` at `slide` stored at `sidecar` (they
/// describe that heatmap, not the one about to replace it), durably: the folder is synced before
/// the caller writes on. Another slide's ASAP map of the same name stays.
fn remove_exports(sidecar: &Path, slide: &Path, slide_id: &str) -> std::io::Result<()> {
    let mut removed = false;
    for f in ExportFormat::ALL {
        let path = f.path(sidecar, slide, slide_id);
        if f == ExportFormat::Asap
            && super::interchange::asap::owner(&path).is_none_or(|o| o != slide_id)
        {
            continue;
        }
        match std::fs::remove_file(path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if removed && let Some(dir) = sidecar.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Writes `result`'s heatmap beside its sidecar in each format (images in `colormap`); returns the
/// paths written. `slide` gives the figure its thumbnail (without it, the figure is over white) and
/// the ASAP map the slide's pyramid and µm/px (without it, a single level at full size).
pub fn export(
    result: &AnalysisResult,
    sidecar: &Path,
    formats: &[ExportFormat],
    colormap: crate::colormap::Colormap,
    slide: Option<&dyn SlideSource>,
) -> std::io::Result<Vec<PathBuf>> {
    let h = &result.heatmap;
    let grid_dims = || {
        let edge = |n: u32| (f64::from(n) * h.cell_level0).round() as u64;
        (edge(h.cols), edge(h.rows))
    };
    let dims = slide.map_or_else(grid_dims, |s| s.dimensions());
    let mut written = Vec::new();
    for f in formats {
        let path = f.path(sidecar, &result.slide, &result.provenance.slide_hash);
        match f {
            ExportFormat::Figure => {
                let style = super::figure::FigureStyle {
                    colormap,
                    ..Default::default()
                };
                let thumbnail = slide
                    .map(|s| crate::slide::read_overview(s, 2048))
                    .transpose()
                    .map_err(std::io::Error::other)?;
                let img = super::figure::render(
                    h,
                    dims,
                    thumbnail.as_ref(),
                    result.summary.threshold,
                    style,
                );
                crate::fsutil::write_png(&path, img.width, img.height, img.pixels)?;
            }
            ExportFormat::Png => {
                crate::fsutil::write_png(
                    &path,
                    h.cols,
                    h.rows,
                    super::export::to_rgba(h, colormap),
                )?;
            }
            ExportFormat::Asap => {
                use super::interchange::asap;
                let levels = match slide {
                    Some(s) => asap::map_levels(s.levels(), h.cell_level0),
                    None => asap::map_levels(
                        &[crate::slide::Level {
                            width_px: dims.0,
                            height_px: dims.1,
                            downsample: 1.0,
                            tile_size_px: None,
                        }],
                        h.cell_level0,
                    ),
                };
                let p = &result.provenance;
                let description = asap::description(
                    &format!(
                        "Sentinel likelihood map: risk 0-1 (0 where not analysed); model {} {}; threshold {}",
                        p.model_name, p.model_version, p.threshold
                    ),
                    &p.slide_hash,
                );
                asap::write(h, &levels, slide.and_then(|s| s.mpp()), &description, &path)?;
            }
            ExportFormat::Csv
            | ExportFormat::Geojson
            | ExportFormat::Dsa
            | ExportFormat::Contours => {
                let p = &result.provenance;
                let json =
                    |v: serde_json::Value| serde_json::to_vec(&v).map_err(std::io::Error::other);
                let bytes = match f {
                    ExportFormat::Csv => super::export::to_csv(h).into_bytes(),
                    ExportFormat::Geojson => json(super::export::to_geojson(h, p.threshold))?,
                    ExportFormat::Dsa => json(super::interchange::dsa::to_annotation(
                        h,
                        &format!("Sentinel risk: {} {}", p.model_name, p.model_version),
                        &format!(
                            "Risk of metastasis per model tile; threshold {} (slide {})",
                            p.threshold,
                            result.slide.display()
                        ),
                        colormap,
                        serde_json::to_value(p).map_err(std::io::Error::other)?,
                    ))?,
                    _ => json(super::interchange::contours::to_geojson(
                        h,
                        p.threshold,
                        dims,
                        slide.and_then(|s| s.mpp()).map(|(x, y)| (x + y) / 2.0),
                        "Tumor",
                    ))?,
                };
                crate::fsutil::write_atomic(&path, &bytes)?;
            }
        }
        written.push(path);
    }
    Ok(written)
}
