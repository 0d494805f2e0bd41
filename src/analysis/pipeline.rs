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
    pub threshold: f32,
    pub top_k: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            min_tissue_fraction: 0.1,
            threshold: 0.5,
            top_k: 10,
        }
    }
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
    pub area_above_threshold_mm2: f64,
    pub hotspots: usize,
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
    let cell = tile_level0(mpp0, model.meta.mpp, model.meta.input_size);
    let io = |e: std::io::Error, p: &Path| SlideError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let provenance = provenance(slide, model, params)?;
    let sidecar = sidecar_path(out_dir, &path);
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
        area_above_threshold_mm2: r.summary.area_above_mm2,
        hotspots: r.summary.hotspots.len(),
        heatmap: sidecar.clone(),
    };
    if let Some(stored) = AnalysisResult::load_matching(&sidecar, &provenance) {
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
    let summary = heatmap.summary(params.threshold, params.top_k, mpp0);
    let result = AnalysisResult {
        format: FORMAT,
        slide: path.clone(),
        provenance,
        heatmap,
        summary,
        tissue_area_mm2: mask.area_mm2(mpp0),
        complete: true,
    };
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
        slide_hash: slide
            .properties()
            .get("openslide.quickhash-1")
            .cloned()
            .unwrap_or_else(|| format!("unhashed:{}", slide.path().display())),
        model_hash,
        model_name: meta.name.clone(),
        model_version: meta.version.clone(),
        tile_level0: tile_level0(mpp0, meta.mpp, meta.input_size),
        min_tissue_fraction: params.min_tissue_fraction,
        threshold: params.threshold,
        top_k: params.top_k,
    })
}

/// The stored result for `slide` in `out_dir` made by the model in `model_dir` (with whichever of
/// its ONNX files ran) and these parameters. Reads files only and never starts ONNX Runtime, so a
/// slide's stored heatmap shows as soon as it opens.
pub fn stored_result(
    slide: &dyn SlideSource,
    model_dir: &Path,
    out_dir: &Path,
    params: Params,
) -> Result<Option<AnalysisResult>, AnalysisError> {
    let json = model_dir.join("model.json");
    let meta = ModelMeta::load(&json)?;
    let mut candidates = vec![model_dir.join("model.onnx")];
    if let Some(v) = &meta.cpu_variant {
        candidates.insert(0, model_dir.join(v));
    }
    let sidecar = sidecar_path(out_dir, slide.path());
    for onnx in candidates.iter().filter(|f| f.is_file()) {
        let hash = super::result::files_hash(&[onnx, &json]).map_err(|e| SlideError::Io {
            path: onnx.clone(),
            source: e,
        })?;
        let p = provenance_for(slide, &meta, hash, params)?;
        if let Some(r) = AnalysisResult::load_matching(&sidecar, &p) {
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
}

/// Writes `result`'s heatmap beside its sidecar in each format (PNG in `colormap`); returns the
/// paths written.
pub fn export(
    result: &AnalysisResult,
    sidecar: &Path,
    formats: &[ExportFormat],
    colormap: crate::colormap::Colormap,
) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for f in formats {
        if *f == ExportFormat::Png {
            let h = &result.heatmap;
            let path = sidecar.with_extension("png");
            crate::fsutil::write_png(&path, h.cols, h.rows, super::export::to_rgba(h, colormap))?;
            written.push(path);
            continue;
        }
        let (ext, bytes) = match f {
            ExportFormat::Png => unreachable!("written above"),
            ExportFormat::Csv => ("csv", super::export::to_csv(&result.heatmap).into_bytes()),
            ExportFormat::Geojson => (
                "geojson",
                serde_json::to_vec(&super::export::to_geojson(
                    &result.heatmap,
                    result.provenance.threshold,
                ))
                .map_err(std::io::Error::other)?,
            ),
        };
        let path = sidecar.with_extension(ext);
        crate::fsutil::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}
