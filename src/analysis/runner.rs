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

/// How a model tile coarser than its level is decoded. The app reads `Full`: `Reduced` moved the
/// bundled model's risk by twice its own one-pixel noise on real tissue at 0.243 µm/px, though it
/// decodes 1.5x as fast there with libjpeg-turbo's scaled IDCT (`sentinel bench analysis`
/// measures both), so it stays an option for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// At the level's full size, then resized.
    Full,
    /// At 1/2, 1/4 or 1/8 of it where that still covers the model's input (the JPEG's reduced
    /// IDCT where the reader has one), then resized if needed.
    Reduced,
}

/// The reduction (1, 2, 4 or 8) at which `side` level pixels still give at least `input_size`.
pub fn reduction(side: u32, input_size: u32) -> u32 {
    [8, 4, 2]
        .into_iter()
        .find(|&f| side / f >= input_size)
        .unwrap_or(1)
}

/// Brings a reduced read closer to the full-size path's triangle-filtered resize: a triangle of
/// radius `f` puts 6/8 of its weight on the `f` x `f` block under an output pixel and 1/8 on each
/// neighbouring block along each axis, so [1, 6, 1] / 8 over block averages (which the reduced
/// IDCT approximates, a little sharper) follows it for smooth content. Chosen among [1, k, 1] on
/// the synthetic benchmark slide (k = 4, 6, 14, 30: the risk moved least with 6); without it the
/// model sees sharper tiles and its scores move several times more than a one-pixel shift moves them.
pub fn match_triangle_filter(img: &mut RgbaImage) {
    let (w, h) = (img.width as usize, img.height as usize);
    if w < 2 || h < 2 {
        return;
    }
    let row = w * 4;
    let mut tmp = vec![0u8; img.pixels.len()];
    let mix =
        |l: u8, c: u8, r: u8| ((u16::from(l) + 6 * u16::from(c) + u16::from(r) + 4) >> 3) as u8;
    // Along rows: neighbours 4 bytes apart, the edge pixel standing in for the one beyond it.
    for (src, dst) in img.pixels.chunks_exact(row).zip(tmp.chunks_exact_mut(row)) {
        for i in 0..row {
            let l = if i >= 4 { src[i - 4] } else { src[i] };
            let r = if i + 4 < row { src[i + 4] } else { src[i] };
            dst[i] = mix(l, src[i], r);
        }
    }
    // Along columns: whole rows at once.
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let out = &mut img.pixels[y * row..(y + 1) * row];
        let (l, c, r) = (
            &tmp[up * row..(up + 1) * row],
            &tmp[y * row..(y + 1) * row],
            &tmp[down * row..(down + 1) * row],
        );
        for (((o, &l), &c), &r) in out.iter_mut().zip(l).zip(c).zip(r) {
            *o = mix(l, c, r);
        }
    }
}

/// Reads `tile` at `level` and resizes it to `input_size`² (triangle filter) where the level's
/// resolution does not match the model's exactly.
pub fn read_model_tile(
    slide: &dyn SlideSource,
    level: usize,
    tile: &GridTile,
    input_size: u32,
    decode: Decode,
) -> Result<RgbaImage, SlideError> {
    let ds = slide.levels()[level].downsample;
    let full = (tile.size / ds).round().max(1.0) as u32;
    let factor = match decode {
        Decode::Full => 1,
        Decode::Reduced => reduction(full, input_size),
    };
    let side = full / factor;
    // On the reduced grid (the reader decodes whole reduced tiles there): at most `factor - 1`
    // level pixels up and left of the tile's own corner, less than the model's own noise.
    let on_grid = |v: f64| {
        let l = (v / ds).round() as i64;
        ((l - l.rem_euclid(i64::from(factor))) as f64 * ds).round() as i64
    };
    let img = if factor == 1 {
        let (x, y) = (tile.x.round() as i64, tile.y.round() as i64);
        slide.read_region(level, x, y, side, side)?
    } else {
        let (x, y) = (on_grid(tile.x), on_grid(tile.y));
        let mut img = slide.read_region_reduced(level, x, y, side, side, factor)?;
        match_triangle_filter(&mut img);
        img
    };
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
    decode: Decode,
) -> Result<Vec<f32>, SlideError> {
    let img = read_model_tile(slide, level, tile, meta.input_size, decode)?;
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
                        let item = model_input(slide, level, tile, meta, Decode::Full)
                            .map(|input| (k, input));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_reduced_only_as_far_as_the_model_input_allows() {
        assert_eq!(reduction(448, 224), 2);
        assert_eq!(reduction(896, 224), 4);
        assert_eq!(reduction(1792, 224), 8);
        assert_eq!(reduction(3584, 224), 8);
        // Never below the input: 443 px would give 221.
        assert_eq!(reduction(443, 224), 1);
        assert_eq!(reduction(224, 224), 1);
        assert_eq!(reduction(900, 224), 4);
    }

    /// The claim behind `match_triangle_filter`: on smooth content, a block average followed by
    /// it is within 3 of 255 of the full-size path's triangle resize, and closer than the plain
    /// block average.
    #[test]
    fn block_average_then_the_filter_is_the_triangle_resize() {
        let (w, f) = (96u32, 2u32);
        let mut rng = fastrand::Rng::with_seed(9);
        // Smooth-ish texture with some edges, as tissue.
        let full: Vec<u8> = (0..w * w)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let v = (128.0 + 80.0 * ((x as f32) / 5.0).sin() * ((y as f32) / 7.0).cos()) as u8;
                [v, v / 2 + rng.u8(0..20), 255 - v, 255]
            })
            .collect();
        let img = image::RgbaImage::from_raw(w, w, full.clone()).expect("size");
        let triangle =
            image::imageops::resize(&img, w / f, w / f, image::imageops::FilterType::Triangle);
        let n = (w / f) as usize;
        let mut avg = RgbaImage::transparent(w / f, w / f);
        for y in 0..n {
            for x in 0..n {
                for c in 0..4 {
                    let mut s = 0u32;
                    for dy in 0..2 {
                        for dx in 0..2 {
                            s += u32::from(full[((2 * y + dy) * w as usize + 2 * x + dx) * 4 + c]);
                        }
                    }
                    avg.pixels[(y * n + x) * 4 + c] = ((s + 2) / 4) as u8;
                }
            }
        }
        let plain = avg.clone();
        match_triangle_filter(&mut avg);
        let diff = |a: &[u8]| {
            a.iter()
                .zip(triangle.as_raw())
                .map(|(p, q)| p.abs_diff(*q))
                .max()
                .unwrap_or(0)
        };
        // Inside the edge rows, where the resize's clamping and ours agree.
        let inner = |a: &[u8]| -> Vec<u8> {
            (1..n - 1)
                .flat_map(|y| a[(y * n + 1) * 4..(y * n + n - 1) * 4].to_vec())
                .collect()
        };
        let tri_inner = inner(triangle.as_raw());
        let worst = |a: &[u8]| {
            inner(a)
                .iter()
                .zip(&tri_inner)
                .map(|(p, q)| p.abs_diff(*q))
                .max()
                .unwrap_or(0)
        };
        assert!(worst(&avg.pixels) <= 3, "filtered: {}", worst(&avg.pixels));
        assert!(
            worst(&plain.pixels) > worst(&avg.pixels),
            "the plain average is further off ({} vs {})",
            worst(&plain.pixels),
            worst(&avg.pixels)
        );
        assert!(diff(&avg.pixels) <= 40);
    }
}
