//! Worker threads that read tiles. The UI thread hands over an ordered wish list (replacing the
//! previous one, which cancels whatever left the view) and drains finished tiles; it never reads a
//! file and never waits. Each delivered tile calls `notify` (the app's repaint request).

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use super::{GUTTER_PX, TILE_PX, TileGrid, TileId};
use crate::slide::{SlideError, SlideSource};

/// A tile's pixels as the GPU will get them: (TILE_PX + 2 * GUTTER_PX) square, premultiplied.
pub type TileImage = Arc<egui::ColorImage>;

pub struct LoadedTile {
    pub tile: TileId,
    pub image: Result<TileImage, SlideError>,
    pub read_seconds: f64,
}

#[derive(Default)]
struct Queue {
    wanted: VecDeque<TileId>,
    in_flight: HashSet<TileId>,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A worker that panicked mid-update leaves a consistent queue (plain collections), so a
        // poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct TileLoader {
    shared: Arc<Shared>,
    results: Receiver<LoadedTile>,
    workers: Vec<JoinHandle<()>>,
}

impl TileLoader {
    pub fn new(
        slide: Arc<dyn SlideSource>,
        threads: usize,
        notify: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let grids = TileGrid::for_display(slide.levels());
        let (tx, results) = channel();
        let workers = (0..threads.max(1))
            .filter_map(|i| {
                let shared = Arc::clone(&shared);
                let slide = Arc::clone(&slide);
                let grids = grids.clone();
                let tx: Sender<LoadedTile> = tx.clone();
                let notify = Arc::clone(&notify);
                std::thread::Builder::new()
                    .name(format!("tile-reader-{i}"))
                    .spawn(move || worker(&shared, slide.as_ref(), &grids, &tx, notify.as_ref()))
                    .map_err(|e| tracing::error!("cannot start tile reader thread: {e}"))
                    .ok()
            })
            .collect();
        Self {
            shared,
            results,
            workers,
        }
    }

    /// Replaces the wish list. Tiles being read stay in flight and are delivered.
    pub fn request(&self, wanted: impl IntoIterator<Item = TileId>) {
        let mut q = self.shared.lock();
        let in_flight = std::mem::take(&mut q.in_flight);
        q.wanted = wanted
            .into_iter()
            .filter(|t| !in_flight.contains(t))
            .collect();
        q.in_flight = in_flight;
        drop(q);
        self.shared.wake.notify_all();
    }

    /// Tiles finished since the last call.
    pub fn drain(&self) -> Vec<LoadedTile> {
        self.results.try_iter().collect()
    }

    /// Tiles queued or being read.
    pub fn pending(&self) -> usize {
        let q = self.shared.lock();
        q.wanted.len() + q.in_flight.len()
    }
}

impl Drop for TileLoader {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(
    shared: &Shared,
    slide: &dyn SlideSource,
    grids: &[TileGrid],
    tx: &Sender<LoadedTile>,
    notify: &(dyn Fn() + Send + Sync),
) {
    loop {
        let tile = {
            let mut q = shared.lock();
            loop {
                if q.shutdown {
                    return;
                }
                if let Some(t) = q.wanted.pop_front() {
                    q.in_flight.insert(t);
                    break t;
                }
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let started = Instant::now();
        let image = read_tile(slide, &grids[tile.level as usize], tile);
        let loaded = LoadedTile {
            tile,
            image,
            read_seconds: started.elapsed().as_secs_f64(),
        };
        // Deliver before leaving the in-flight set, so a tile is always either in flight or
        // in the channel until the UI drains it (the UI never re-requests it in between).
        let sent = tx.send(loaded).is_ok();
        shared.lock().in_flight.remove(&tile);
        if !sent {
            return;
        }
        notify();
    }
}

/// Reads one tile with its gutter, converted for the GPU (a reduced grid's tile at its reduced
/// size, which a JPEG-tiled slide decodes directly).
pub fn read_tile(
    slide: &dyn SlideSource,
    grid: &TileGrid,
    tile: TileId,
) -> Result<TileImage, SlideError> {
    let side = TILE_PX + 2 * GUTTER_PX;
    let lx = i64::from(tile.col) * i64::from(TILE_PX) - i64::from(GUTTER_PX);
    let ly = i64::from(tile.row) * i64::from(TILE_PX) - i64::from(GUTTER_PX);
    let x0 = (lx as f64 * grid.downsample).round() as i64;
    let y0 = (ly as f64 * grid.downsample).round() as i64;
    let level = grid.source_level as usize;
    let img = if grid.reduce > 1 {
        slide.read_region_reduced(level, x0, y0, side, side, grid.reduce)?
    } else {
        slide.read_region(level, x0, y0, side, side)?
    };
    Ok(Arc::new(egui::ColorImage::from_rgba_unmultiplied(
        [side as usize, side as usize],
        &img.pixels,
    )))
}
