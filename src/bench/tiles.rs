//! Random tile-read throughput: Sentinel's `SlideSource` against raw OpenSlide calls (same process,
//! same handle type, no pixel conversion) and against openslide-python (same positions).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::slide::{DirectTiffSource, JpegCodec, OpenSlideSource, SlideError, SlideSource};

pub const TILE: u32 = 256;

#[derive(Debug, Clone)]
pub struct TileBenchSpec {
    pub slide: PathBuf,
    pub levels: Vec<usize>,
    pub threads: Vec<usize>,
    pub reads: usize,
    pub seed: u64,
    /// Python interpreter with openslide-python; `None` skips the comparison.
    pub python: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TileBenchRow {
    pub reader: String,
    pub level: usize,
    /// Reads on the 256 px grid, or shifted off it (97, 61 px: across the file's tile edges).
    pub aligned: bool,
    pub threads: usize,
    pub tiles: usize,
    pub seconds: f64,
    pub tiles_per_s: f64,
    pub mp_per_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TileBenchError {
    #[error(transparent)]
    Slide(#[from] SlideError),
    #[error("level {level} is smaller than one {TILE}px tile")]
    LevelTooSmall { level: usize },
    #[error("openslide-python run failed: {0}")]
    Python(String),
}

/// Aligned random tile positions (level-0 coordinates of the top-left corner) on `level`.
pub fn random_positions(
    slide: &dyn SlideSource,
    level: usize,
    count: usize,
    seed: u64,
) -> Result<Vec<(i64, i64)>, TileBenchError> {
    let lvl = slide.levels()[level];
    let (across, down) = (
        lvl.width_px / u64::from(TILE),
        lvl.height_px / u64::from(TILE),
    );
    if across == 0 || down == 0 {
        return Err(TileBenchError::LevelTooSmall { level });
    }
    let mut rng = fastrand::Rng::with_seed(seed ^ level as u64);
    Ok((0..count)
        .map(|_| {
            let (c, r) = (rng.u64(0..across), rng.u64(0..down));
            let x = (c * u64::from(TILE)) as f64 * lvl.downsample;
            let y = (r * u64::from(TILE)) as f64 * lvl.downsample;
            (x.round() as i64, y.round() as i64)
        })
        .collect())
}

fn row(
    reader: &str,
    (level, aligned): (usize, bool),
    threads: usize,
    tiles: usize,
    seconds: f64,
) -> TileBenchRow {
    let tiles_per_s = tiles as f64 / seconds;
    TileBenchRow {
        reader: reader.to_owned(),
        level,
        aligned,
        threads,
        tiles,
        seconds,
        tiles_per_s,
        mp_per_s: tiles_per_s * f64::from(TILE * TILE) / 1e6,
    }
}

/// Reads every position once, split across `threads` threads, with `read` (which must return the
/// tile's bytes so the work cannot be optimised away). Returns seconds.
fn timed<F>(positions: &[(i64, i64)], threads: usize, read: F) -> f64
where
    F: Fn(i64, i64) -> usize + Sync,
{
    let started = Instant::now();
    let chunk = positions.len().div_ceil(threads);
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = positions
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| {
                let read = &read;
                std::thread::Builder::new()
                    .name(format!("bench-reader-{i}"))
                    .spawn_scoped(s, move || {
                        part.iter().map(|&(x, y)| read(x, y)).sum::<usize>()
                    })
                    .expect("spawn benchmark thread")
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    std::hint::black_box(total);
    started.elapsed().as_secs_f64()
}

#[derive(Serialize)]
struct PythonJob<'a> {
    slide: &'a Path,
    level: usize,
    size: u32,
    threads: usize,
    positions: &'a [(i64, i64)],
}

#[derive(Deserialize)]
struct PythonResult {
    tiles: usize,
    seconds: f64,
}

/// Runs every (level, threads) combination for each reader; `report` sees each row as it lands.
pub fn run(
    spec: &TileBenchSpec,
    mut report: impl FnMut(&TileBenchRow),
) -> Result<Vec<TileBenchRow>, TileBenchError> {
    let mut rows = Vec::new();
    let probe = OpenSlideSource::open(&spec.slide)?;
    let open_raw = || {
        openslide_rs::OpenSlide::new(&spec.slide).map_err(|e| SlideError::Corrupt {
            path: spec.slide.clone(),
            reason: e.to_string(),
        })
    };
    for &level in &spec.levels {
        let aligned = random_positions(&probe, level, spec.reads, spec.seed)?;
        let ds = probe.levels()[level].downsample;
        let shifted: Vec<(i64, i64)> = aligned
            .iter()
            .map(|&(x, y)| {
                (
                    x + (97.0 * ds).round() as i64,
                    y + (61.0 * ds).round() as i64,
                )
            })
            .collect();
        for (positions, is_aligned) in [(aligned, true), (shifted, false)] {
            let at = (level, is_aligned);
            for &threads in &spec.threads {
                // Fresh handles per run, so no reader profits from another's tile cache. The
                // first pass also warms the OS page cache for everyone.
                let raw = open_raw()?;
                let _ = timed(&positions[..positions.len().min(200)], threads, |x, y| {
                    raw_read(&raw, level, x, y)
                });
                let raw = open_raw()?;
                let secs = timed(&positions, threads, |x, y| raw_read(&raw, level, x, y));
                let r = row(
                    "openslide (raw C calls)",
                    at,
                    threads,
                    positions.len(),
                    secs,
                );
                report(&r);
                rows.push(r);

                let ours = OpenSlideSource::open(&spec.slide)?;
                let secs = timed(&positions, threads, |x, y| {
                    ours.read_region(level, x, y, TILE, TILE)
                        .map(|img| img.pixels.len())
                        .unwrap_or(0)
                });
                let r = row("sentinel via OpenSlide", at, threads, positions.len(), secs);
                report(&r);
                rows.push(r);

                for (codec, name) in [
                    (
                        JpegCodec::LibjpegTurbo,
                        "sentinel direct JPEG (libjpeg-turbo)",
                    ),
                    (JpegCodec::Zune, "sentinel direct JPEG (zune-jpeg)"),
                ] {
                    let Ok(direct) = DirectTiffSource::new(OpenSlideSource::open(&spec.slide)?)
                    else {
                        break;
                    };
                    let direct = direct.with_codec(codec);
                    let secs = timed(&positions, threads, |x, y| {
                        direct
                            .read_region(level, x, y, TILE, TILE)
                            .map(|img| img.pixels.len())
                            .unwrap_or(0)
                    });
                    let r = row(name, at, threads, positions.len(), secs);
                    report(&r);
                    rows.push(r);
                }

                if let Some(python) = &spec.python {
                    let result: PythonResult = super::run_python(
                        python,
                        "openslide_python_tiles.py",
                        &PythonJob {
                            slide: &spec.slide,
                            level,
                            size: TILE,
                            threads,
                            positions: &positions,
                        },
                    )
                    .map_err(TileBenchError::Python)?;
                    let r = row(
                        "openslide-python",
                        at,
                        threads,
                        result.tiles,
                        result.seconds,
                    );
                    report(&r);
                    rows.push(r);
                }
            }
        }
    }
    Ok(rows)
}

fn raw_read(slide: &openslide_rs::OpenSlide, level: usize, x: i64, y: i64) -> usize {
    let region = openslide_rs::Region {
        address: openslide_rs::Address {
            x: x as u32,
            y: y as u32,
        },
        level: level as u32,
        size: openslide_rs::Size { w: TILE, h: TILE },
    };
    slide.read_region(&region).map(|v| v.len()).unwrap_or(0)
}
