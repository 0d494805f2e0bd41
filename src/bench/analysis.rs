//! Analysis throughput: Sentinel's end-to-end pipeline (reader threads feeding ONNX Runtime) on a
//! sample of a slide's tissue tiles, against the two bounds that limit it, decode only (read,
//! resize, normalise) and model only (the same batches from memory), and against a straightforward
//! Python pipeline (openslide-python + Pillow + onnxruntime) over the same tiles and ONNX file.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analysis::heatmap::Heatmap;
use crate::analysis::model::{ChannelOrder, Device, LoadOptions, Model, ModelError, ModelMeta};
use crate::analysis::pipeline::{Params, plan_tiles};
use crate::analysis::runner::{
    AnalysisError, Decode, RunOptions, analyse, model_input, model_level, reduction, tile_level0,
};
use crate::analysis::tissue::GridTile;
use crate::slide::{OpenSlideSource, SlideError, SlideSource};

#[derive(Debug, Clone)]
pub struct AnalysisBenchSpec {
    pub slide: PathBuf,
    pub model_dir: PathBuf,
    pub device: Device,
    pub full_precision: bool,
    /// Tissue tiles to run (consecutive, from the middle of the slide's tissue grid).
    pub tiles: usize,
    pub batch: usize,
    /// CPU threads for ONNX Runtime and for the tile readers.
    pub threads: usize,
    /// Python interpreter with openslide-python and onnxruntime; `None` skips the comparison.
    pub python: Option<PathBuf>,
    /// Batch sizes to try for the Python pipeline (its best counts).
    pub python_batches: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalysisBenchRow {
    pub pipeline: String,
    pub batch: usize,
    pub tiles: usize,
    pub seconds: f64,
    pub tiles_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalysisBenchReport {
    pub slide: PathBuf,
    pub onnx: PathBuf,
    pub provider: String,
    pub level: usize,
    pub tissue_tiles: usize,
    pub threads: usize,
    pub rows: Vec<AnalysisBenchRow>,
    /// Mean |Sentinel - Python| over the sampled tiles' raw class probabilities (the pipelines resize with
    /// different code, so small differences are expected; a large one means they disagree).
    pub python_score_gap: Option<f64>,
    /// The reduction the model's tiles are decoded at (1: full size, 2, 4 or 8).
    pub reduction: u32,
    /// Risk change per tile, reduced-size against full-size decoding (present when the tiles are
    /// read reduced).
    pub reduced_vs_full: Option<ScoreChange>,
    /// The model's own noise for comparison: risk change per tile when the full-size tiles are
    /// read one reduced pixel (`reduction` level pixels) to the right and down.
    pub shifted_vs_full: Option<ScoreChange>,
}

/// How much per-tile risk moves between two ways of reading the same tiles.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ScoreChange {
    pub tiles: usize,
    pub mean_abs: f64,
    pub p99_abs: f64,
    pub max_abs: f64,
}

impl ScoreChange {
    fn between(a: &[f32], b: &[f32]) -> Self {
        let mut d: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from((x - y).abs()))
            .collect();
        d.sort_by(f64::total_cmp);
        let n = d.len().max(1);
        Self {
            tiles: d.len(),
            mean_abs: d.iter().sum::<f64>() / n as f64,
            p99_abs: d
                .get(((n as f64 * 0.99).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0),
            max_abs: d.last().copied().unwrap_or(0.0),
        }
    }
}

impl AnalysisBenchReport {
    pub fn rate(&self, pipeline: &str) -> Option<f64> {
        self.rows
            .iter()
            .filter(|r| r.pipeline == pipeline)
            .map(|r| r.tiles_per_s)
            .reduce(f64::max)
    }
}

pub const DECODE: &str = "decode only";
/// Decode only with reduced-size decoding where the model is coarser than the level.
pub const DECODE_REDUCED: &str = "decode only, reduced size";
/// Decode only, every tile read through OpenSlide (how Sentinel read every slide before the
/// direct tile path).
pub const DECODE_OPENSLIDE: &str = "decode only via OpenSlide";
pub const MODEL: &str = "model only";
pub const END_TO_END: &str = "sentinel end-to-end";
pub const PYTHON: &str = "python end-to-end";

#[derive(Debug, thiserror::Error)]
pub enum AnalysisBenchError {
    #[error(transparent)]
    Slide(#[from] SlideError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error("{0}: no tissue tiles to run")]
    NoTissue(PathBuf),
    #[error("Python pipeline failed: {0}")]
    Python(String),
}

/// `count` consecutive tiles (grid order, as a whole-slide run reads them, so neighbours share
/// OpenSlide's tile cache as they do there) from the middle of `tiles`; all if there are fewer.
pub fn middle_run(tiles: &[GridTile], count: usize) -> Vec<GridTile> {
    let count = count.min(tiles.len());
    let start = (tiles.len() - count) / 2;
    tiles[start..start + count].to_vec()
}

fn row(pipeline: &str, batch: usize, tiles: usize, seconds: f64) -> AnalysisBenchRow {
    AnalysisBenchRow {
        pipeline: pipeline.to_owned(),
        batch,
        tiles,
        seconds,
        tiles_per_s: tiles as f64 / seconds,
    }
}

/// Decodes every tile into model input with `threads` threads; returns seconds and the first
/// `keep` inputs (the model-only run's batch).
fn decode(
    slide: &dyn SlideSource,
    level: usize,
    tiles: &[GridTile],
    meta: &ModelMeta,
    (threads, how): (usize, Decode),
    keep: usize,
) -> Result<(f64, Vec<Vec<f32>>), SlideError> {
    let started = Instant::now();
    let chunk = tiles.len().div_ceil(threads.max(1));
    let parts: Vec<Result<Vec<Vec<f32>>, SlideError>> = std::thread::scope(|s| {
        let handles: Vec<_> = tiles
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| {
                s.spawn(move || {
                    let mut kept = Vec::new();
                    for (j, t) in part.iter().enumerate() {
                        let input = model_input(slide, level, t, meta, how)?;
                        if i == 0 && j < keep {
                            kept.push(input);
                        } else {
                            std::hint::black_box(&input);
                        }
                    }
                    Ok(kept)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut kept = Vec::new();
    for p in parts {
        kept.extend(p?);
    }
    Ok((seconds, kept))
}

#[derive(Serialize)]
struct PythonJob<'a> {
    slide: &'a Path,
    onnx: &'a Path,
    level: usize,
    input_size: u32,
    mean: [f32; 3],
    std: [f32; 3],
    channel_order: ChannelOrder,
    risk_index: usize,
    batch: usize,
    threads: usize,
    tiles: Vec<[i64; 3]>,
}

#[derive(Deserialize)]
struct PythonResult {
    tiles: usize,
    seconds: f64,
    scores: Vec<f32>,
}

/// Runs the benchmark; `report` sees each row as it lands.
pub fn run(
    spec: &AnalysisBenchSpec,
    mut report: impl FnMut(&AnalysisBenchRow),
) -> Result<AnalysisBenchReport, AnalysisBenchError> {
    let threads = spec.threads.max(1);
    let batch = spec.batch.max(1);
    let mut model = Model::load(
        &spec.model_dir,
        LoadOptions {
            threads,
            device: spec.device,
            full_precision: spec.full_precision,
        },
    )?;
    let open = || OpenSlideSource::open(&spec.slide);
    let slide = open()?;
    let (_, all) = plan_tiles(&slide, &model, Params::default())?;
    let tiles = middle_run(&all, spec.tiles);
    if tiles.is_empty() {
        return Err(AnalysisBenchError::NoTissue(spec.slide.clone()));
    }
    let (level, _) = model_level(&slide, model.meta.mpp)?;
    let mut rows = Vec::new();
    let mut push = |r: AnalysisBenchRow, rows: &mut Vec<AnalysisBenchRow>| {
        report(&r);
        rows.push(r);
    };

    // Untimed pass: the OS page cache holds the sampled tiles for every pipeline after it.
    let full = (threads, Decode::Full);
    decode(&open()?, level, &tiles, &model.meta, full, 0)?;
    let (secs, _) = decode(&open()?, level, &tiles, &model.meta, full, 0)?;
    push(row(DECODE_OPENSLIDE, batch, tiles.len(), secs), &mut rows);
    // As the app reads the slide: directly where its tiles are JPEG in a TIFF, at full size; then
    // reduced where the model is coarser than the level (an option, see `Decode`).
    let ours = || crate::slide::open(&spec.slide);
    let (secs, inputs) = decode(ours()?.as_ref(), level, &tiles, &model.meta, full, batch)?;
    push(row(DECODE, batch, tiles.len(), secs), &mut rows);
    let reduced = (threads, Decode::Reduced);
    let (secs, _) = decode(ours()?.as_ref(), level, &tiles, &model.meta, reduced, 0)?;
    push(row(DECODE_REDUCED, batch, tiles.len(), secs), &mut rows);

    let one_batch: Vec<f32> = inputs.iter().flatten().copied().collect();
    let n = inputs.len();
    model.risk(&one_batch, n)?; // warm-up
    let runs = tiles.len().div_ceil(n);
    let started = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(model.risk(&one_batch, n)?);
    }
    push(
        row(MODEL, batch, runs * n, started.elapsed().as_secs_f64()),
        &mut rows,
    );

    let fresh = ours()?;
    let fresh = fresh.as_ref();
    let mpp0 = fresh.mpp().map_or(model.meta.mpp, |m| m.0);
    let mut heatmap = Heatmap::new(
        fresh.dimensions(),
        tile_level0(mpp0, model.meta.mpp, model.meta.input_size),
    );
    let stats = analyse(
        fresh,
        &mut model,
        &tiles,
        &mut heatmap,
        RunOptions {
            batch,
            reader_threads: threads,
        },
        &AtomicBool::new(false),
        |_, _, _| {},
    )?;
    push(
        row(END_TO_END, batch, stats.tiles, stats.seconds),
        &mut rows,
    );
    // The raw class probability: what the Python peer computes (it applies no calibration).
    let ours: Vec<f32> = tiles
        .iter()
        .map(|t| heatmap.raw(t.col, t.row).unwrap_or(f32::NAN))
        .collect();

    // What reduced-size decoding does to the scores, against what a shift of one reduced pixel does.
    let side = (tiles[0].size / slide.levels()[level].downsample)
        .round()
        .max(1.0) as u32;
    let factor = reduction(side, model.meta.input_size);
    let (mut reduced_vs_full, mut shifted_vs_full) = (None, None);
    if factor > 1 {
        let source = crate::slide::open(&spec.slide)?;
        let shift = f64::from(factor) * slide.levels()[level].downsample;
        let shifted: Vec<GridTile> = tiles
            .iter()
            .map(|t| GridTile {
                x: t.x + shift,
                y: t.y + shift,
                ..*t
            })
            .collect();
        let mut risks = |tiles: &[GridTile], how| -> Result<Vec<f32>, AnalysisBenchError> {
            let mut out = Vec::with_capacity(tiles.len());
            for part in tiles.chunks(batch) {
                let mut input = Vec::new();
                for t in part {
                    input.extend(model_input(source.as_ref(), level, t, &model.meta, how)?);
                }
                out.extend(model.risk(&input, part.len())?);
            }
            Ok(out)
        };
        // Full-size risks are what the end-to-end run above put in the heatmap.
        let base: Vec<f32> = tiles
            .iter()
            .map(|t| heatmap.get(t.col, t.row).unwrap_or(f32::NAN))
            .collect();
        reduced_vs_full = Some(ScoreChange::between(
            &base,
            &risks(&tiles, Decode::Reduced)?,
        ));
        shifted_vs_full = Some(ScoreChange::between(&base, &risks(&shifted, Decode::Full)?));
    }

    let mut python_score_gap = None;
    if let Some(python) = &spec.python {
        let ds = slide.levels()[level].downsample;
        let job_tiles: Vec<[i64; 3]> = tiles
            .iter()
            .map(|t| {
                [
                    t.x.round() as i64,
                    t.y.round() as i64,
                    (t.size / ds).round().max(1.0) as i64,
                ]
            })
            .collect();
        for &b in &spec.python_batches {
            let result: PythonResult = super::run_python(
                python,
                "python_analysis.py",
                &PythonJob {
                    slide: &spec.slide,
                    onnx: &model.onnx,
                    level,
                    input_size: model.meta.input_size,
                    mean: model.meta.mean,
                    std: model.meta.std,
                    channel_order: model.meta.channel_order,
                    risk_index: model.meta.risk_index().unwrap_or(0),
                    batch: b,
                    threads,
                    tiles: job_tiles.clone(),
                },
            )
            .map_err(AnalysisBenchError::Python)?;
            if result.scores.len() == ours.len() {
                let gap = ours
                    .iter()
                    .zip(&result.scores)
                    .map(|(a, b)| f64::from((a - b).abs()))
                    .sum::<f64>()
                    / ours.len() as f64;
                python_score_gap = Some(gap);
            }
            push(row(PYTHON, b, result.tiles, result.seconds), &mut rows);
        }
    }
    Ok(AnalysisBenchReport {
        slide: spec.slide.clone(),
        onnx: model.onnx.clone(),
        provider: model.provider.name().to_owned(),
        level,
        tissue_tiles: all.len(),
        threads,
        rows,
        python_score_gap,
        reduction: factor,
        reduced_vs_full,
        shifted_vs_full,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(col: u32) -> GridTile {
        GridTile {
            col,
            row: 0,
            x: f64::from(col),
            y: 0.0,
            size: 1.0,
        }
    }

    #[test]
    fn middle_run_takes_consecutive_tiles_from_the_middle() {
        let all: Vec<GridTile> = (0..100).map(tile).collect();
        let cols: Vec<u32> = middle_run(&all, 4).iter().map(|t| t.col).collect();
        assert_eq!(cols, vec![48, 49, 50, 51]);
        assert_eq!(middle_run(&all, 500).len(), 100);
    }
}
