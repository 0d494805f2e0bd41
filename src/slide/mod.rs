//! Reading whole-slide images.
//!
//! [`SlideSource`] is the one interface the rest of Sentinel reads slides through: the viewer's tile
//! loader, the analysis pipeline and the exporters. [`OpenSlideSource`] implements it over OpenSlide 4,
//! [`OmeTiffSource`] over OME-TIFF pyramids that OpenSlide reads as a single level.
//! Nothing here knows about the GUI.

mod direct;
mod error;
mod identity;
mod image;
mod ome_tiff;
mod openslide;
mod overview;
mod tiff_check;
mod with_mpp;

pub use direct::{DirectTiffSource, JpegCodec};
pub use error::SlideError;
pub use identity::{QUICKHASH_PROPERTY, SlideId};
pub use image::RgbaImage;
pub use ome_tiff::{OmeTiffSource, is_ome_pyramid};
pub use openslide::{OpenSlideSource, openslide_version};
pub use overview::read_overview;
pub use with_mpp::WithMpp;

use std::collections::BTreeMap;
use std::path::Path;

/// One pyramid level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub width_px: u64,
    pub height_px: u64,
    /// Level-0 pixels per pixel of this level.
    pub downsample: f64,
    /// The native tile size of this level, where the format has one.
    pub tile_size_px: Option<(u32, u32)>,
}

/// A whole-slide image that can be read region by region from any thread.
pub trait SlideSource: Send + Sync {
    /// The file the slide was opened from.
    fn path(&self) -> &Path;
    /// What per-slide records are keyed by (computed once, at open).
    fn id(&self) -> &SlideId;
    /// Pyramid levels, finest (level 0) first.
    fn levels(&self) -> &[Level];
    /// Microns per pixel at level 0, horizontally and vertically, where the slide records it.
    fn mpp(&self) -> Option<(f64, f64)>;
    /// Scanner objective magnification (e.g. 20 or 40), where the slide records it.
    fn objective_power(&self) -> Option<f64>;
    /// Format/vendor as OpenSlide names it (`aperio`, `hamamatsu`, `generic-tiff`, ...).
    fn vendor(&self) -> &str;
    /// Every property the format exposes, by name.
    fn properties(&self) -> &BTreeMap<String, String>;
    /// Names of the associated images (label, macro, thumbnail, ...).
    fn associated_image_names(&self) -> &[String];
    /// Reads an associated image as straight-alpha RGBA.
    fn associated_image(&self, name: &str) -> Result<RgbaImage, SlideError>;
    /// Reads `width` x `height` pixels of `level` whose top-left corner is at (`x`, `y`) in
    /// **level-0** coordinates, as straight-alpha RGBA. Pixels outside the slide are transparent.
    fn read_region(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
    ) -> Result<RgbaImage, SlideError>;

    /// Reads `width` x `height` pixels of `level` at 1/`factor` of its resolution (`factor` 1, 2,
    /// 4 or 8): each output pixel stands for `factor` x `factor` level pixels, the region's
    /// top-left corner at (`x`, `y`) in level-0 coordinates. Readers that can decode at a reduced
    /// size (JPEG's reduced IDCT) do; the rest read full size and average.
    fn read_region_reduced(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
        factor: u32,
    ) -> Result<RgbaImage, SlideError> {
        image::read_reduced_by_averaging(self, level, x, y, width, height, factor)
    }

    /// Which reader decodes the pixels (for `sentinel info` and bug reports).
    fn reader(&self) -> &'static str {
        "OpenSlide"
    }

    /// Level-0 dimensions.
    fn dimensions(&self) -> (u64, u64) {
        self.levels()
            .first()
            .map_or((0, 0), |l| (l.width_px, l.height_px))
    }

    /// Level count.
    fn level_count(&self) -> usize {
        self.levels().len()
    }
}

/// Set to `1`, every slide is read through OpenSlide (no direct tile path).
pub const OPENSLIDE_ONLY_ENV: &str = "SENTINEL_OPENSLIDE_ONLY";

/// Opens a slide with the best available reader: OME-TIFF pyramids (SubIFDs, which OpenSlide
/// reads as one level) with our own; JPEG-tiled TIFFs (Aperio SVS, generic tiled TIFF) through
/// their tiles directly ([`DirectTiffSource`], OpenSlide for the metadata); everything else with
/// OpenSlide.
pub fn open(path: &Path) -> Result<Box<dyn SlideSource>, SlideError> {
    if tiff_check::is_tiff(path) && ome_tiff::is_ome_pyramid(path) {
        tiff_check::check(path).map_err(|reason| SlideError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })?;
        return Ok(Box::new(OmeTiffSource::open(path)?));
    }
    let slide = OpenSlideSource::open(path)?;
    // An escape hatch (and the benchmarks' and evaluations' baseline): every read through
    // OpenSlide.
    if std::env::var_os(OPENSLIDE_ONLY_ENV).is_some_and(|v| v == "1") {
        return Ok(Box::new(slide));
    }
    match DirectTiffSource::new(slide) {
        Ok(direct) => Ok(Box::new(direct)),
        Err(openslide) => Ok(openslide),
    }
}
