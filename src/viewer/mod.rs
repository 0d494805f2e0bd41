//! One open slide on screen: its viewport, tile pipeline and GPU textures, and the canvas that
//! draws them. Tiles are egui textures drawn as meshes, one layer only: each visible tile of the
//! target level is drawn from its own texture or, until it arrives, from the matching part of the
//! nearest coarser tile that is loaded (stretched; never a hole, and no overdraw, which matters on
//! a software rasteriser).

pub mod annotation_layer;
mod canvas;
pub mod heatmap_layer;
mod uniform_slots;
pub use canvas::BACKDROP;
pub mod overview;

use std::sync::Arc;

use egui::{TextureHandle, TextureOptions};

use crate::slide::{RgbaImage, SlideSource};
use crate::tiles::cache::ByteLru;
use crate::tiles::loader::{TileImage, TileLoader};
use crate::tiles::{GUTTER_PX, TILE_PX, TileGrid, TileId, schedule};
use crate::view::{Animation, Viewport, ZoomLimits, base_magnification, level_for_zoom};

pub use overview::Overview;

/// Memory budgets and per-frame limits.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Decoded tiles kept in RAM.
    pub cpu_bytes: usize,
    /// Tile textures kept on the GPU.
    pub gpu_bytes: usize,
    /// Texture bytes uploaded per frame at most, so no frame stalls on uploads.
    pub upload_bytes_per_frame: usize,
    pub reader_threads: usize,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            cpu_bytes: 192 << 20,
            gpu_bytes: 160 << 20,
            upload_bytes_per_frame: 24 << 20,
            reader_threads: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
        }
    }
}

/// What the status bar and the screenshot/benchmark drivers need to know about the last frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameStats {
    /// The slide's pyramid level drawn...
    pub level: usize,
    /// ...at 1/`reduce` of its size (1: as stored).
    pub reduce: u32,
    /// Visible tiles of the drawn level.
    pub visible_tiles: usize,
    /// Of those, how many were drawn at full resolution.
    pub full_res_tiles: usize,
    /// Tiles queued or being read.
    pub pending: usize,
    pub uploaded_bytes: usize,
    pub animating: bool,
}

impl FrameStats {
    /// Every visible tile of the right level is on screen and nothing is moving.
    pub fn complete(&self) -> bool {
        self.full_res_tiles == self.visible_tiles && !self.animating
    }
}

pub struct SlideView {
    pub slide: Arc<dyn SlideSource>,
    grids: Vec<TileGrid>,
    pub view: Viewport,
    initialised: bool,
    animation: Option<Animation>,
    loader: TileLoader,
    cpu: ByteLru<TileId, TileImage>,
    gpu: ByteLru<TileId, TextureHandle>,
    budgets: Budgets,
    /// Pixel interpolation when zoomed in beyond level 0 (and for stretched fallbacks).
    pub smooth: bool,
    pub overview: Overview,
    base_mag: Option<f64>,
    pub stats: FrameStats,
    pub last_error: Option<String>,
    failed: std::collections::HashSet<TileId>,
    /// Whether a primary-button drag pans (off while a drawing tool owns the pointer; the middle
    /// button always pans).
    pub primary_pans: bool,
}

impl SlideView {
    /// Starts viewing `slide`. `overview` is the slide's coarsest level (read off the UI thread by
    /// whoever opened the slide); `repaint` is called by reader threads when a tile arrives.
    pub fn new(
        slide: Arc<dyn SlideSource>,
        overview: RgbaImage,
        budgets: Budgets,
        repaint: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let grids = TileGrid::for_display(slide.levels());
        let loader = TileLoader::new(Arc::clone(&slide), budgets.reader_threads, repaint);
        let base_mag = base_magnification(slide.objective_power(), slide.mpp().map(|m| m.0));
        Self {
            view: Viewport::fit(slide.dimensions(), [800.0, 600.0], 1.0),
            slide,
            grids,
            initialised: false,
            animation: None,
            loader,
            cpu: ByteLru::new(budgets.cpu_bytes),
            gpu: ByteLru::new(budgets.gpu_bytes),
            budgets,
            smooth: true,
            overview: Overview::new(overview),
            base_mag,
            stats: FrameStats::default(),
            last_error: None,
            failed: Default::default(),
            primary_pans: true,
        }
    }

    /// Objective magnification of level 0, where known.
    pub fn base_magnification(&self) -> Option<f64> {
        self.base_mag
    }

    pub fn magnification(&self) -> Option<f64> {
        self.base_mag
            .map(|b| crate::view::magnification(b, self.view.zoom_px()))
    }

    pub fn zoom_limits(&self) -> ZoomLimits {
        ZoomLimits::for_view(&self.view, self.slide.dimensions())
    }

    pub fn is_initialised(&self) -> bool {
        self.initialised
    }

    /// Sets the view size (points) and display scale; the first call fits the slide.
    pub fn set_view_size(&mut self, size: [f64; 2], pixels_per_point: f64) {
        self.view.size = size;
        self.view.pixels_per_point = pixels_per_point;
        if !self.initialised {
            self.view = Viewport::fit(self.slide.dimensions(), size, pixels_per_point);
            self.initialised = true;
        }
    }

    /// Animated move to a centre and zoom.
    pub fn animate_to(&mut self, centre: [f64; 2], zoom: f64) {
        let zoom = self.zoom_limits().clamp(zoom);
        self.animation = Some(Animation::to(centre, zoom));
    }

    /// Immediate move (no animation). The new view's tiles are requested at once rather than on
    /// the next frame: on a slow renderer a frame is tens of milliseconds of latency.
    pub fn jump_to(&mut self, centre: [f64; 2], zoom: f64) {
        self.animation = None;
        self.view.centre = centre;
        self.view.zoom = self.zoom_limits().clamp(zoom);
        if self.initialised {
            self.receive_tiles();
            let visible = self.visible_tiles();
            self.request_tiles(&visible);
        }
    }

    /// Animated zoom to an on-screen magnification (e.g. 20x), around the current centre.
    pub fn animate_to_magnification(&mut self, mag: f64) {
        if let Some(base) = self.base_mag {
            let zoom =
                crate::view::zoom_px_for_magnification(base, mag) / self.view.pixels_per_point;
            self.animate_to(self.animation_target_centre(), zoom);
        }
    }

    pub fn animate_fit(&mut self) {
        let (w, h) = self.slide.dimensions();
        let zoom = self.view.fit_zoom((w, h));
        self.animate_to([w as f64 / 2.0, h as f64 / 2.0], zoom);
    }

    /// One slide pixel per screen pixel.
    pub fn animate_one_to_one(&mut self) {
        self.animate_to(
            self.animation_target_centre(),
            1.0 / self.view.pixels_per_point,
        );
    }

    /// Zooms by `factor` around the view centre (animated, composing with a running animation).
    pub fn animate_zoom_by(&mut self, factor: f64) {
        let (c, z) = self
            .animation
            .map_or((self.view.centre, self.view.zoom), |a| {
                (a.target_centre, a.target_zoom)
            });
        self.animate_to(c, z * factor);
    }

    /// Pans by a fraction of the view size (animated).
    pub fn animate_pan_by_view(&mut self, fx: f64, fy: f64) {
        let (c, z) = self
            .animation
            .map_or((self.view.centre, self.view.zoom), |a| {
                (a.target_centre, a.target_zoom)
            });
        let target = [
            c[0] + fx * self.view.size[0] / z,
            c[1] + fy * self.view.size[1] / z,
        ];
        let mut at_target = self.view;
        at_target.zoom = z;
        let target = at_target.clamped_centre(target, self.slide.dimensions());
        self.animate_to(target, z);
    }

    fn animation_target_centre(&self) -> [f64; 2] {
        self.animation.map_or(self.view.centre, |a| a.target_centre)
    }

    pub fn cancel_animation(&mut self) {
        self.animation = None;
    }

    /// Advances the animation by `dt` seconds; true while still moving.
    pub fn step_animation(&mut self, dt: f64) -> bool {
        if let Some(a) = self.animation
            && a.step(&mut self.view, dt)
        {
            self.animation = None;
        }
        self.animation.is_some()
    }

    /// The level drawn at the current zoom.
    pub fn target_level(&self) -> usize {
        let ds: Vec<f64> = self.grids.iter().map(|g| g.downsample).collect();
        level_for_zoom(&ds, self.view.zoom_px())
    }

    /// Moves finished tiles into the RAM cache. Called once per frame before drawing.
    pub fn receive_tiles(&mut self) {
        for loaded in self.loader.drain() {
            match loaded.image {
                Ok(img) => {
                    let bytes = img.pixels.len() * 4;
                    self.cpu.insert(loaded.tile, img, bytes);
                }
                Err(e) => {
                    tracing::warn!("tile {:?}: {e}", loaded.tile);
                    self.last_error = Some(e.to_string());
                    self.failed.insert(loaded.tile);
                }
            }
        }
    }

    /// Hands the loader the current wish list (what is neither cached nor failed), and which of
    /// it the view waits for (of `visible`, the visible tiles of the target level).
    ///
    /// The list is cut, in priority order, to what fits in three quarters of the RAM cache: a
    /// longer list would have prefetched tiles evict each other and be fetched again forever.
    /// The coarsest level and the visible tiles are always kept.
    pub fn request_tiles(&mut self, visible: &[TileId]) {
        let target = self.target_level();
        let mut plan = schedule::plan(&self.view, &self.grids, target);
        let tile_bytes = ((TILE_PX + 2 * GUTTER_PX) as usize).pow(2) * 4;
        let coarsest = self.grids.len() - 1;
        let must = plan
            .iter()
            .take_while(|t| t.level as usize == coarsest || t.level as usize == target)
            .count();
        let fits = self.budgets.cpu_bytes * 3 / 4 / tile_bytes;
        plan.truncate(fits.max(must));
        let cpu = &self.cpu;
        let failed = &self.failed;
        let missing = |t: &TileId| !cpu.contains(t) && !failed.contains(t);
        self.loader.request(
            plan.into_iter().filter(missing),
            visible.iter().copied().filter(missing),
        );
    }

    /// The visible tiles of the target level.
    fn visible_tiles(&self) -> Vec<TileId> {
        let grid = &self.grids[self.target_level()];
        grid.range(self.view.visible())
            .map_or_else(Vec::new, |(cols, rows)| {
                rows.flat_map(|r| cols.clone().map(move |c| grid.id(c, r)))
                    .collect()
            })
    }

    /// What to draw for each visible target tile: itself if its texture exists, else the pieces
    /// of the nearest coarser level whose covering tiles are all loaded (in RAM or on the GPU).
    /// Returns (tile to sample, level-0 area to draw) pairs, and the areas no loaded tile covers
    /// yet (drawn from the overview image, so a jump never shows a hole).
    fn draw_plan(
        &self,
        visible: &[TileId],
    ) -> (Vec<(TileId, crate::view::Rect)>, Vec<crate::view::Rect>) {
        let mut out = Vec::with_capacity(visible.len());
        let mut uncovered = Vec::new();
        let ready = |t: &TileId| self.gpu.contains(t) || self.cpu.contains(t);
        for tile in visible {
            let grid = &self.grids[tile.level as usize];
            let area = grid.slide_rect(tile.col, tile.row);
            if ready(tile) {
                out.push((*tile, area));
                continue;
            }
            let before = out.len();
            for coarser in &self.grids[tile.level as usize + 1..] {
                let Some((cols, rows)) = coarser.range(area) else {
                    break;
                };
                let pieces: Vec<TileId> = rows
                    .flat_map(|r| cols.clone().map(move |c| coarser.id(c, r)))
                    .collect();
                if pieces.iter().all(ready) {
                    for p in pieces {
                        let r = coarser.slide_rect(p.col, p.row);
                        let clip = crate::view::Rect {
                            x0: r.x0.max(area.x0),
                            y0: r.y0.max(area.y0),
                            x1: r.x1.min(area.x1),
                            y1: r.y1.min(area.y1),
                        };
                        out.push((p, clip));
                    }
                    break;
                }
            }
            if out.len() == before {
                uncovered.push(area);
            }
        }
        (out, uncovered)
    }

    /// Creates GPU textures for tiles that are about to be drawn, coarsest first, within the
    /// per-frame upload budget. Returns bytes uploaded and whether more wait.
    fn upload(&mut self, ctx: &egui::Context, draw: &[TileId]) -> (usize, bool) {
        let options = self.texture_options();
        let mut uploaded = 0;
        let mut more = false;
        // Coarse tiles first (they cover the most), then the target level nearest the centre.
        let centre = self.view.centre;
        let mut order: Vec<&TileId> = draw.iter().filter(|t| !self.gpu.contains(t)).collect();
        order.dedup();
        order.sort_by(|a, b| {
            b.level.cmp(&a.level).then_with(|| {
                let da = self.tile_distance(a, centre);
                let db = self.tile_distance(b, centre);
                da.total_cmp(&db)
            })
        });
        for tile in order {
            let Some(img) = self.cpu.get(tile) else {
                continue;
            };
            let bytes = img.pixels.len() * 4;
            if uploaded + bytes > self.budgets.upload_bytes_per_frame && uploaded > 0 {
                more = true;
                break;
            }
            let name = format!("tile-{}-{}-{}", tile.level, tile.col, tile.row);
            let handle = ctx.load_texture(name, Arc::clone(img), options);
            self.gpu.insert(*tile, handle, bytes);
            uploaded += bytes;
        }
        (uploaded, more)
    }

    fn tile_distance(&self, t: &TileId, centre: [f64; 2]) -> f64 {
        let m = self.grids[t.level as usize]
            .slide_rect(t.col, t.row)
            .centre();
        (m[0] - centre[0]).powi(2) + (m[1] - centre[1]).powi(2)
    }

    fn texture_options(&self) -> TextureOptions {
        // Levels are shown minified by up to the pyramid step (4x); without mipmaps that aliases
        // nuclei into speckle.
        TextureOptions {
            magnification: if self.smooth {
                egui::TextureFilter::Linear
            } else {
                egui::TextureFilter::Nearest
            },
            minification: egui::TextureFilter::Linear,
            mipmap_mode: Some(egui::TextureFilter::Linear),
            ..TextureOptions::LINEAR
        }
    }

    /// Switches between smooth and nearest-neighbour magnification (textures are re-created).
    pub fn set_smooth(&mut self, smooth: bool) {
        if self.smooth != smooth {
            self.smooth = smooth;
            self.gpu.clear();
        }
    }

    /// Bytes of decoded tiles in RAM and of textures on the GPU.
    pub fn memory(&self) -> (usize, usize) {
        (self.cpu.bytes(), self.gpu.bytes())
    }
}
