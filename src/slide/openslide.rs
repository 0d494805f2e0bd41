//! [`SlideSource`] over OpenSlide 4 (through `openslide-rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openslide_rs::{Address, OpenSlide, Region, Size, errors::OpenSlideError};

use super::image::premultiplied_argb_to_rgba_in_place;
use super::{Level, RgbaImage, SlideError, SlideSource};

/// The version of the OpenSlide library this binary runs against.
pub fn openslide_version() -> String {
    OpenSlide::version().unwrap_or_else(|_| "unknown".to_owned())
}

/// A slide opened through OpenSlide. One handle serves every thread: OpenSlide's reads are thread-safe.
pub struct OpenSlideSource {
    path: PathBuf,
    slide: OpenSlide,
    levels: Vec<Level>,
    properties: BTreeMap<String, String>,
    associated: Vec<String>,
    vendor: String,
    id: super::SlideId,
}

impl OpenSlideSource {
    /// Opens `path`, checking the file itself first so that each failure gets its own error.
    pub fn open(path: &Path) -> Result<Self, SlideError> {
        let path_buf = path.to_path_buf();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SlideError::NotFound {
                path: path_buf.clone(),
            },
            _ => SlideError::Io {
                path: path_buf.clone(),
                source: e,
            },
        })?;
        if !meta.is_file() {
            // OpenSlide accepts some directories' index files (MIRAX .mrxs), never a directory.
            return Err(SlideError::NotAFile { path: path_buf });
        }
        if meta.len() == 0 {
            return Err(SlideError::Empty { path: path_buf });
        }
        // OpenSlide reports an unreadable file as "unsupported"; say what really happened.
        std::fs::File::open(path).map_err(|e| SlideError::Io {
            path: path_buf.clone(),
            source: e,
        })?;

        // Damage to a TIFF-family file would otherwise surface as "unsupported format" (OpenSlide
        // cannot tell) or only when the damaged tile is read.
        if super::tiff_check::is_tiff(path) {
            super::tiff_check::check(path).map_err(|reason| SlideError::Corrupt {
                path: path_buf.clone(),
                reason,
            })?;
        }
        let slide = OpenSlide::new(path).map_err(|e| map_open_error(path, e))?;
        let properties: BTreeMap<String, String> = slide
            .property_names()
            .map_err(|e| map_open_error(path, e))?
            .into_iter()
            .filter_map(|name| {
                let value = slide.property_value(&name).ok()?;
                Some((name, value))
            })
            .collect();

        let levels = slide
            .all_level_dimensions()
            .iter()
            .zip(slide.all_level_downsamples())
            .enumerate()
            .map(|(i, (size, downsample))| {
                let tile = |axis: &str| {
                    properties
                        .get(&format!("openslide.level[{i}].tile-{axis}"))
                        .and_then(|v| v.parse::<u32>().ok())
                };
                Level {
                    width_px: u64::from(size.w),
                    height_px: u64::from(size.h),
                    downsample: *downsample,
                    tile_size_px: tile("width").zip(tile("height")),
                }
            })
            .collect::<Vec<_>>();
        if levels.is_empty() {
            return Err(SlideError::Corrupt {
                path: path_buf,
                reason: "the slide has no pyramid levels".into(),
            });
        }

        let mut associated = slide
            .associated_image_names()
            .map_err(|e| map_open_error(path, e))?;
        associated.sort();
        let vendor = properties
            .get("openslide.vendor")
            .cloned()
            .unwrap_or_else(|| "unknown".into());

        let id =
            super::SlideId::compute(path, &properties, &levels).map_err(|e| SlideError::Io {
                path: path_buf.clone(),
                source: e,
            })?;
        Ok(Self {
            path: path_buf,
            slide,
            levels,
            properties,
            associated,
            vendor,
            id,
        })
    }

    fn property_f64(&self, name: &str) -> Option<f64> {
        self.properties
            .get(name)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
    }

    fn read_error(&self, e: OpenSlideError) -> SlideError {
        match e {
            OpenSlideError::ImageTooLarge { width, height } => SlideError::RegionTooLarge {
                path: self.path.clone(),
                width: u32::try_from(width).unwrap_or(u32::MAX),
                height: u32::try_from(height).unwrap_or(u32::MAX),
            },
            other => SlideError::Corrupt {
                path: self.path.clone(),
                reason: other.to_string(),
            },
        }
    }
}

fn map_open_error(path: &Path, e: OpenSlideError) -> SlideError {
    match e {
        OpenSlideError::MissingFile(_) => SlideError::NotFound { path: path.into() },
        OpenSlideError::UnsupportedFile(_) => SlideError::Unsupported {
            path: path.into(),
            version: openslide_version(),
        },
        other => SlideError::Corrupt {
            path: path.into(),
            reason: other.to_string(),
        },
    }
}

impl SlideSource for OpenSlideSource {
    fn path(&self) -> &Path {
        &self.path
    }

    fn id(&self) -> &super::SlideId {
        &self.id
    }

    fn levels(&self) -> &[Level] {
        &self.levels
    }

    fn mpp(&self) -> Option<(f64, f64)> {
        self.property_f64("openslide.mpp-x")
            .zip(self.property_f64("openslide.mpp-y"))
    }

    fn objective_power(&self) -> Option<f64> {
        self.property_f64("openslide.objective-power")
    }

    fn vendor(&self) -> &str {
        &self.vendor
    }

    fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    fn associated_image_names(&self) -> &[String] {
        &self.associated
    }

    fn associated_image(&self, name: &str) -> Result<RgbaImage, SlideError> {
        if !self.associated.iter().any(|n| n == name) {
            return Err(SlideError::NoSuchAssociatedImage {
                path: self.path.clone(),
                name: name.into(),
            });
        }
        let (size, mut pixels) = self
            .slide
            .read_associated_buffer(name)
            .map_err(|e| self.read_error(e))?;
        premultiplied_argb_to_rgba_in_place(&mut pixels);
        Ok(RgbaImage {
            width: size.w,
            height: size.h,
            pixels,
        })
    }

    fn read_region(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
    ) -> Result<RgbaImage, SlideError> {
        let lvl = *self
            .levels
            .get(level)
            .ok_or_else(|| SlideError::NoSuchLevel {
                path: self.path.clone(),
                level,
                count: self.levels.len(),
            })?;
        super::image::check_region_size(&self.path, width, height)?;
        if width == 0 || height == 0 {
            return Ok(RgbaImage::transparent(width, height));
        }

        // openslide-rs takes unsigned level-0 coordinates; read the part inside the slide and
        // place it into a transparent canvas when the request starts left of or above the origin.
        let (w0, h0) = self.dimensions();
        let ds = lvl.downsample;
        // unsigned_abs: `-i64::MIN` overflows (it wrapped, and the read landed at x = 0); a
        // skip beyond u32 saturates, which is past any region's width.
        let skip_x = if x < 0 {
            (x.unsigned_abs() as f64 / ds).ceil() as u32
        } else {
            0
        };
        let skip_y = if y < 0 {
            (y.unsigned_abs() as f64 / ds).ceil() as u32
        } else {
            0
        };
        let read_x = x + (f64::from(skip_x) * ds).round() as i64;
        let read_y = y + (f64::from(skip_y) * ds).round() as i64;
        if skip_x >= width
            || skip_y >= height
            || read_x < 0
            || read_y < 0
            || read_x >= w0 as i64
            || read_y >= h0 as i64
            || read_x > i64::from(u32::MAX)
            || read_y > i64::from(u32::MAX)
        {
            return Ok(RgbaImage::transparent(width, height));
        }
        let (rw, rh) = (width - skip_x, height - skip_y);
        let region = Region {
            address: Address {
                x: read_x as u32,
                y: read_y as u32,
            },
            level: level as u32,
            size: Size { w: rw, h: rh },
        };
        let mut pixels = self
            .slide
            .read_region(&region)
            .map_err(|e| self.read_error(e))?;
        premultiplied_argb_to_rgba_in_place(&mut pixels);
        if skip_x == 0 && skip_y == 0 {
            return Ok(RgbaImage {
                width,
                height,
                pixels,
            });
        }
        let mut out = RgbaImage::transparent(width, height);
        let row_bytes = rw as usize * 4;
        for row in 0..rh as usize {
            let dst = ((row + skip_y as usize) * width as usize + skip_x as usize) * 4;
            out.pixels[dst..dst + row_bytes]
                .copy_from_slice(&pixels[row * row_bytes..(row + 1) * row_bytes]);
        }
        Ok(out)
    }
}
