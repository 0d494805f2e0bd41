//! Running a model over the planned tiles: reader threads read each tile at the pyramid level
//! nearest the model's resolution (never coarser), resize it to the model's input and normalise
//! it; the calling thread batches tiles into ONNX Runtime and fills the heatmap. Cancellable
//! between tiles and between batches. Tiles are processed in the order given (put the visible
//! ones first).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use super::heatmap::Heatmap;
use super::model::{Model, ModelError, ModelMeta};
use super::tissue::GridTile;
use crate::slide::{RgbaImage, SlideError, SlideSource};

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(
        "{path}: the slide records no microns per pixel, so tiles cannot be matched to the model's {model_mpp} µm/px; give it with --mpp"
    )]
    NoMpp {
        path: std::path::PathBuf,
        model_mpp: f64,
    },
    #[error("{path}: not analysed: {reason}")]
    Resolution {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Slide(#[from] SlideError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("analysis cancelled after {done} of {total} tiles")]
    Cancelled { done: usize, total: usize },
}

/// How to run: tiles per inference call and tile-reading threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    pub batch: usize,
    pub reader_threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunStats {
    pub tiles: usize,
    pub seconds: f64,
    pub level: usize,
}

/// The level to read for a model that wants `model_mpp`: the coarsest level that is still at least
/// as fine as the model (so tiles are only ever downscaled), and its mpp.
pub fn model_level(slide: &dyn SlideSource, model_mpp: f64) -> Result<(usize, f64), AnalysisError> {
    let (mpp0, _) = slide.mpp().ok_or_else(|| AnalysisError::NoMpp {
        path: slide.path().to_path_buf(),
        model_mpp,
    })?;
    let mut best = (0, mpp0);
    for (i, l) in slide.levels().iter().enumerate() {
        let mpp = mpp0 * l.downsample;
        if mpp <= model_mpp * 1.01 {
            best = (i, mpp);
        }
    }
    Ok(best)
}

/// The edge of one model tile in level-0 pixels.
pub fn tile_level0(slide_mpp: f64, model_mpp: f64, input_size: u32) -> f64 {
    f64::from(input_size) * model_mpp / slide_mpp
}

/// Reads `tile` at `level` and resizes it to `input_size`² (triangle filter) where the level's
/// resolution does not match the model's exactly.
pub fn read_model_tile(
    slide: &dyn SlideSource,
    level: usize,
    tile: &GridTile,
    input_size: u32,
) -> Result<RgbaImage, SlideError> {
    let ds = slide.levels()[level].downsample;
    let side = (tile.size / ds).round().max(1.0) as u32;
    let img = slide.read_region(
        level,
        tile.x.round() as i64,
        tile.y.round() as i64,
        side,
        side,
    )?;
    if side == input_size {
        return Ok(img);
    }
    let buf = image::RgbaImage::from_raw(img.width, img.height, img.pixels).ok_or_else(|| {
        SlideError::Corrupt {
            path: slide.path().to_path_buf(),
            reason: "region buffer has the wrong size".into(),
        }
    })?;
    let resized = image::imageops::resize(
        &buf,
        input_size,
        input_size,
        image::imageops::FilterType::Triangle,
    );
    Ok(RgbaImage {
        width: input_size,
        height: input_size,
        pixels: resized.into_raw(),
    })
}

/// One tile as the model's normalised NCHW input: what each reader thread produces.
pub fn model_input(
    slide: &dyn SlideSource,
    level: usize,
    tile: &GridTile,
    meta: &ModelMeta,
) -> Result<Vec<f32>, SlideError> {
    let img = read_model_tile(slide, level, tile, meta.input_size)?;
    let mut input = Vec::with_capacity((meta.input_size * meta.input_size * 3) as usize);
    meta.normalise_into(&img.pixels, &mut input);
    Ok(input)
}

/// Infers every tile in `tiles` (in that order) into `heatmap`. `on_batch(heatmap, done, total)`
/// runs after each batch (progress, streaming the map to the UI). Returns when done, on the first
/// error, or with [`AnalysisError::Cancelled`] once `cancel` is set.
pub fn analyse(
    slide: &dyn SlideSource,
    model: &mut Model,
    tiles: &[GridTile],
    heatmap: &mut Heatmap,
    options: RunOptions,
    cancel: &AtomicBool,
    mut on_batch: impl FnMut(&Heatmap, usize, usize),
) -> Result<RunStats, AnalysisError> {
    let started = Instant::now();
    let (level, _) = model_level(slide, model.meta.mpp)?;
    let meta = model.meta.clone();
    let batch = options.batch.max(1);
    let total = tiles.len();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<RunStats, AnalysisError> {
        // Bounded: readers stay at most a couple of batches ahead of inference. Created inside the
        // scope so that an early return (cancel, error) drops the receiver before the scope joins
        // the readers: a reader blocked on a full channel then wakes with an error and exits.
        let (tx, rx) = sync_channel::<Result<(usize, Vec<f32>), SlideError>>(batch * 2);
        for i in 0..options.reader_threads.max(1) {
            let tx = tx.clone();
            let (next, meta) = (&next, &meta);
            let spawned = std::thread::Builder::new()
                .name(format!("analysis-reader-{i}"))
                .spawn_scoped(s, move || {
                    loop {
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(tile) = tiles.get(k) else { return };
                        let item = model_input(slide, level, tile, meta).map(|input| (k, input));
                        if tx.send(item).is_err() {
                            return;
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start analysis reader thread: {e}");
            }
        }
        drop(tx);

        let mut done = 0;
        let mut pending: Vec<(usize, Vec<f32>)> = Vec::with_capacity(batch);
        let mut flush = |pending: &mut Vec<(usize, Vec<f32>)>,
                         heatmap: &mut Heatmap|
         -> Result<usize, AnalysisError> {
            if pending.is_empty() {
                return Ok(0);
            }
            let input: Vec<f32> = pending
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            let scores = model.scores(&input, pending.len())?;
            for ((k, _), s) in pending.iter().zip(scores) {
                heatmap.set_scored(tiles[*k].col, tiles[*k].row, s.risk, s.raw);
            }
            let n = pending.len();
            pending.clear();
            Ok(n)
        };
        for item in rx.iter() {
            if cancel.load(Ordering::Relaxed) {
                return Err(AnalysisError::Cancelled { done, total });
            }
            pending.push(item?);
            if pending.len() == batch {
                done += flush(&mut pending, heatmap)?;
                on_batch(heatmap, done, total);
            }
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(AnalysisError::Cancelled { done, total });
        }
        done += flush(&mut pending, heatmap)?;
        on_batch(heatmap, done, total);
        Ok(RunStats {
            tiles: done,
            seconds: started.elapsed().as_secs_f64(),
            level,
        })
    })
}
