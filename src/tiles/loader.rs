//! Worker threads that read tiles. The UI thread hands over an ordered wish list (replacing the
//! previous one, which cancels whatever left the view) and drains finished tiles; it never reads a
//! file and never waits.
//!
//! Readers call `notify` (the app's repaint request) when the last tile the view waits for
//! arrives, not on every tile: a frame drawn between two tiles of one view shows nothing the
//! complete frame will not, and drawing it takes CPU the readers need (on a software rasteriser,
//! a whole frame's worth). The canvas redraws on its own every [`PROGRESS_INTERVAL`] while tiles
//! in view are missing, which shows progress on slow storage.

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{GUTTER_PX, TILE_PX, TileGrid, TileId};
use crate::slide::{SlideError, SlideSource};

/// A tile's pixels as the GPU will get them: (TILE_PX + 2 * GUTTER_PX) square, premultiplied.
pub type TileImage = Arc<egui::ColorImage>;

pub struct LoadedTile {
    pub tile: TileId,
    pub image: Result<TileImage, SlideError>,
    pub read_seconds: f64,
}

/// How often the canvas redraws while tiles in view are missing, with those that came.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Queue {
    wanted: VecDeque<TileId>,
    in_flight: HashSet<TileId>,
    /// The tiles the view waits for that are not delivered yet.
    urgent: HashSet<TileId>,
    shutdown: bool,
}

impl Queue {
    /// Takes `tile` off the books; whether the UI should now be woken (it was the last tile the
    /// view waited for).
    fn delivered(&mut self, tile: &TileId) -> bool {
        self.in_flight.remove(tile);
        self.urgent.remove(tile) && self.urgent.is_empty()
    }
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

    /// Replaces the wish list. Tiles being read stay in flight and are delivered. `urgent` are
    /// the tiles the view waits for (each also in `wanted`, or in flight): the UI is woken when
    /// the last of them arrives.
    pub fn request(
        &self,
        wanted: impl IntoIterator<Item = TileId>,
        urgent: impl IntoIterator<Item = TileId>,
    ) {
        let mut q = self.shared.lock();
        let in_flight = std::mem::take(&mut q.in_flight);
        q.wanted = wanted
            .into_iter()
            .filter(|t| !in_flight.contains(t))
            .collect();
        q.in_flight = in_flight;
        q.urgent = urgent.into_iter().collect();
        drop(q);
        self.shared.wake.notify_all();
    }

    /// Tiles finished since the last call.
    pub fn drain(&self) -> Vec<LoadedTile> {
        self.results.try_iter().collect()
    }

    /// Whether tiles the view waits for are still to come (a tile that failed is not waited for).
    pub fn view_waiting(&self) -> bool {
        !self.shared.lock().urgent.is_empty()
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
        let wake = shared.lock().delivered(&tile);
        if !sent {
            return;
        }
        if wake {
            notify();
        }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::slide::{Level, QUICKHASH_PROPERTY, RgbaImage, SlideId};

    /// A slide whose tiles take a moment to read.
    struct Slow {
        path: PathBuf,
        id: SlideId,
        levels: Vec<Level>,
        props: BTreeMap<String, String>,
    }

    impl Slow {
        fn new() -> Self {
            let levels = vec![Level {
                width_px: 4096,
                height_px: 4096,
                downsample: 1.0,
                tile_size_px: None,
            }];
            let props = BTreeMap::from([(QUICKHASH_PROPERTY.to_string(), "ab".to_string())]);
            let path = PathBuf::from("slow.svs");
            let id = SlideId::compute(&path, &props, &levels).expect("id from the quickhash");
            Self {
                path,
                id,
                levels,
                props,
            }
        }
    }

    impl SlideSource for Slow {
        fn path(&self) -> &Path {
            &self.path
        }
        fn id(&self) -> &SlideId {
            &self.id
        }
        fn levels(&self) -> &[Level] {
            &self.levels
        }
        fn mpp(&self) -> Option<(f64, f64)> {
            None
        }
        fn objective_power(&self) -> Option<f64> {
            None
        }
        fn vendor(&self) -> &str {
            "test"
        }
        fn properties(&self) -> &BTreeMap<String, String> {
            &self.props
        }
        fn associated_image_names(&self) -> &[String] {
            &[]
        }
        fn associated_image(&self, _: &str) -> Result<RgbaImage, SlideError> {
            Ok(RgbaImage::transparent(1, 1))
        }
        fn read_region(
            &self,
            _: usize,
            _: i64,
            _: i64,
            w: u32,
            h: u32,
        ) -> Result<RgbaImage, SlideError> {
            std::thread::sleep(Duration::from_millis(5));
            Ok(RgbaImage::transparent(w, h))
        }
    }

    fn tile(col: u32) -> TileId {
        TileId {
            level: 0,
            col,
            row: 0,
        }
    }

    #[test]
    fn the_ui_is_woken_once_when_the_last_tile_the_view_waits_for_arrives() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        let loader = TileLoader::new(
            Arc::new(Slow::new()),
            2,
            Arc::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        );
        // Three tiles in view, then nine prefetched around it.
        loader.request((0..12).map(tile), (0..3).map(tile));
        let started = Instant::now();
        let wait_for = |n: usize| {
            let mut got = Vec::new();
            while got.len() < n || loader.pending() > 0 {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "tiles never came"
                );
                got.extend(loader.drain().into_iter().map(|t| t.tile));
                std::thread::sleep(Duration::from_millis(1));
            }
            // A wake comes just after its tile leaves the books.
            std::thread::sleep(Duration::from_millis(50));
            got
        };
        assert_eq!(wait_for(12).len(), 12);
        assert_eq!(
            wakes.load(Ordering::SeqCst),
            1,
            "one wake for the view's tiles, none for each prefetched tile"
        );
        assert!(!loader.view_waiting());
        // A view with nothing missing wakes nobody; one with a tile missing wakes once more.
        loader.request([tile(20), tile(21)], []);
        assert_eq!(wait_for(2).len(), 2);
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        loader.request([tile(30), tile(31)], [tile(31)]);
        assert_eq!(wait_for(2).len(), 2);
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_tile_the_view_waits_for_wakes_only_when_it_is_the_last() {
        let mut q = Queue {
            urgent: [tile(1), tile(2)].into_iter().collect(),
            in_flight: [tile(1), tile(2), tile(3)].into_iter().collect(),
            ..Queue::default()
        };
        assert!(!q.delivered(&tile(3)), "prefetched");
        assert!(!q.delivered(&tile(1)), "one still missing");
        assert!(q.delivered(&tile(2)), "the last");
        assert!(q.in_flight.is_empty());
        assert!(
            !q.delivered(&tile(2)),
            "delivered twice (re-read) wakes once"
        );
    }
}
