//! Exporting a slide region (the box around an annotation) at a chosen level: a PNG when it is
//! small, otherwise a tiled, pyramidal, JPEG-compressed TIFF written band by band (so a 50k x 50k
//! region at 40x never sits in memory); optionally a binary mask of the shape (PNG, streamed row by
//! row) and annotation outlines and the heatmap burned in. All files are written atomically; a
//! cancelled or failed export leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::analysis::heatmap::Heatmap;
use crate::annotate::{Point, Shape};
use crate::colormap::Colormap;
use crate::slide::{SlideError, SlideSource};
use crate::synth::{BACKGROUND, Painter, SynthFormat, SynthSpec, write_painted};

/// Regions up to this many pixels are written as PNG; larger ones as pyramidal TIFF.
pub const PNG_MAX_PIXELS: u64 = 8192 * 8192;

#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error(transparent)]
    Slide(#[from] SlideError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("level {level} does not exist (the slide has {count})")]
    NoLevel { level: usize, count: usize },
    #[error("the region is empty")]
    Empty,
    #[error("export cancelled")]
    Cancelled,
}

/// What to burn into the exported pixels.
#[derive(Clone, Copy)]
pub struct Overlay<'a> {
    /// Shapes outlined in their colours.
    pub outlines: &'a [(Shape, [u8; 3])],
    /// The heatmap, with its colour map, the score below which nothing is drawn, and opacity.
    pub heatmap: Option<(&'a Heatmap, Colormap, f32, f32)>,
}

/// Where a region's box lies against the slide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placement {
    /// Wholly on the slide.
    Inside,
    /// Partly off it: the box cut to the slide.
    Clipped([f64; 4]),
    /// Wholly off it (typically level-0 coordinates laid on a downsampled file, or the reverse).
    Outside,
}

/// Places the level-0 box `bbox` on a slide of `dims` level-0 pixels.
pub fn placement(bbox: [f64; 4], dims: (u64, u64)) -> Placement {
    let (w, h) = (dims.0 as f64, dims.1 as f64);
    let [x0, y0, x1, y1] = bbox;
    let finite = bbox.iter().all(|v| v.is_finite());
    if !finite || x1 <= 0.0 || y1 <= 0.0 || x0 >= w || y0 >= h || x1 <= x0 || y1 <= y0 {
        return Placement::Outside;
    }
    if x0 >= 0.0 && y0 >= 0.0 && x1 <= w && y1 <= h {
        Placement::Inside
    } else {
        Placement::Clipped([x0.max(0.0), y0.max(0.0), x1.min(w), y1.min(h)])
    }
}

pub struct RegionRequest<'a> {
    /// Level-0 box [x0, y0, x1, y1].
    pub bbox: [f64; 4],
    pub level: usize,
    /// Output path without extension (".png" or ".tif" is added; the mask gets "-mask.png").
    pub out: PathBuf,
    /// Also write a mask of this shape.
    pub mask: Option<&'a Shape>,
    pub overlay: Option<Overlay<'a>>,
    /// Pixels above which the TIFF is written instead of a PNG.
    pub png_max_pixels: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionOutput {
    pub image: PathBuf,
    pub mask: Option<PathBuf>,
    /// Level-0 top-left corner of the exported pixels.
    pub origin: [i64; 2],
    pub width: u32,
    pub height: u32,
    pub level: usize,
    /// µm per exported pixel, where the slide records it.
    pub mpp: Option<f64>,
}

/// The finest level whose resolution is no finer than needed: the coarsest level with at most
/// `mpp` µm per pixel (level 0 if none is that fine, or the slide has no mpp).
pub fn level_for_mpp(slide: &dyn SlideSource, mpp: f64) -> usize {
    let Some((mpp0, _)) = slide.mpp() else {
        return 0;
    };
    slide
        .levels()
        .iter()
        .enumerate()
        .filter(|(_, l)| mpp0 * l.downsample <= mpp * 1.01)
        .map(|(i, _)| i)
        .next_back()
        .unwrap_or(0)
}

/// The pixel box at a level of downsample `ds` that covers the level-0 `bbox`: level-0 origin
/// (floored) and size in level pixels (rounded up).
pub fn pixel_box(bbox: [f64; 4], ds: f64) -> ([i64; 2], u32, u32) {
    let (x0, y0) = (bbox[0].floor(), bbox[1].floor());
    let w = ((bbox[2] - x0) / ds).ceil().max(0.0) as u32;
    let h = ((bbox[3] - y0) / ds).ceil().max(0.0) as u32;
    ([x0 as i64, y0 as i64], w, h)
}

/// Rings of an area shape (exterior and holes alike: the even-odd rule makes holes holes).
/// The part of segment `p`-`q` inside the box [x0, y0, x1, y1] (Liang-Barsky); `None` when it
/// misses the box or a coordinate is not finite.
fn clip_segment(p: Point, q: Point, b: [f64; 4]) -> Option<(Point, Point)> {
    if !p.iter().chain(q.iter()).all(|v| v.is_finite()) {
        return None;
    }
    let d = [q[0] - p[0], q[1] - p[1]];
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (pk, qk) in [
        (-d[0], p[0] - b[0]),
        (d[0], b[2] - p[0]),
        (-d[1], p[1] - b[1]),
        (d[1], b[3] - p[1]),
    ] {
        if pk == 0.0 {
            if qk < 0.0 {
                return None;
            }
        } else {
            let r = qk / pk;
            if pk < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    Some((
        [p[0] + t0 * d[0], p[1] + t0 * d[1]],
        [p[0] + t1 * d[0], p[1] + t1 * d[1]],
    ))
}

fn rings(shape: &Shape) -> Vec<Vec<Point>> {
    match shape {
        Shape::Rectangle { .. } | Shape::Ellipse { .. } => vec![shape.outline()],
        Shape::Area { polygons } => polygons.iter().flatten().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Fills one row of a mask: `row[i]` = 255 where the centre of pixel `i` (level-0
/// `origin_x + (i + 0.5) * ds`, `y`) is inside `rings` (even-odd), else 0.
pub fn mask_row(rings: &[Vec<Point>], origin_x: f64, y: f64, ds: f64, row: &mut [u8]) {
    row.fill(0);
    let mut xs: Vec<f64> = Vec::new();
    for r in rings {
        for i in 0..r.len() {
            let (a, b) = (r[i], r[(i + 1) % r.len()]);
            if (a[1] <= y) != (b[1] <= y) {
                xs.push(a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]));
            }
        }
    }
    xs.sort_by(f64::total_cmp);
    let n = row.len() as i64;
    for span in xs.chunks_exact(2) {
        // Pixels whose centre lies in [span[0], span[1]).
        let first = ((span[0] - origin_x) / ds - 0.5).ceil() as i64;
        let end = ((span[1] - origin_x) / ds - 0.5).ceil() as i64;
        for i in first.clamp(0, n)..end.clamp(0, n) {
            row[i as usize] = 255;
        }
    }
}

/// Burns `overlay` into packed RGB `rgb` (`w` x `h` pixels whose top-left is level-0 `origin`, one
/// pixel `ds` level-0 pixels).
pub fn burn(rgb: &mut [u8], w: u32, h: u32, origin: [f64; 2], ds: f64, overlay: &Overlay<'_>) {
    let (wi, hi) = (w as i64, h as i64);
    if let Some((map, colormap, threshold, opacity)) = overlay.heatmap {
        let lut = colormap.table();
        for y in 0..h {
            for x in 0..w {
                let p = [
                    origin[0] + (f64::from(x) + 0.5) * ds,
                    origin[1] + (f64::from(y) + 0.5) * ds,
                ];
                if let Some(v) = map.value_at(p[0], p[1]).filter(|v| *v >= threshold) {
                    let k0 = (v.clamp(0.0, 1.0) * 255.0).round() as usize * 4;
                    let c = &lut[k0..k0 + 3];
                    let i = (y as usize * w as usize + x as usize) * 3;
                    for k in 0..3 {
                        let blended =
                            f32::from(rgb[i + k]) * (1.0 - opacity) + f32::from(c[k]) * opacity;
                        rgb[i + k] = blended.round() as u8;
                    }
                }
            }
        }
    }
    // Outlines 3 px wide whatever the level, so they read at any size.
    let mut dot = |x: i64, y: i64, c: [u8; 3]| {
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && px < wi && py < hi {
                    let i = (py as usize * w as usize + px as usize) * 3;
                    rgb[i..i + 3].copy_from_slice(&c);
                }
            }
        }
    };
    let to_px = |p: Point| [(p[0] - origin[0]) / ds, (p[1] - origin[1]) / ds];
    for (shape, color) in overlay.outlines {
        let b = shape.bbox();
        let (a, z) = (to_px([b[0], b[1]]), to_px([b[2], b[3]]));
        if z[0] < -2.0 || z[1] < -2.0 || a[0] > f64::from(w) + 2.0 || a[1] > f64::from(h) + 2.0 {
            continue;
        }
        // The image box with the outline's width around it: segments are cut to it first, so a
        // vertex at 1e18 costs no more than one across the image (it once stepped for ever).
        let frame = [-2.0, -2.0, f64::from(w) + 2.0, f64::from(h) + 2.0];
        let mut segment = |p: Point, q: Point| {
            let Some((p, q)) = clip_segment(to_px(p), to_px(q), frame) else {
                return;
            };
            let steps = ((q[0] - p[0]).abs().max((q[1] - p[1]).abs()) * 2.0)
                .ceil()
                .max(1.0);
            let n = steps as usize;
            for k in 0..=n {
                let t = k as f64 / steps;
                dot(
                    (p[0] + (q[0] - p[0]) * t).floor() as i64,
                    (p[1] + (q[1] - p[1]) * t).floor() as i64,
                    *color,
                );
            }
        };
        match shape {
            Shape::Points { points } => {
                for p in points {
                    segment(*p, *p);
                }
            }
            Shape::Line { points } => {
                for s in points.windows(2) {
                    segment(s[0], s[1]);
                }
            }
            _ => {
                for r in rings(shape) {
                    for i in 0..r.len() {
                        segment(r[i], r[(i + 1) % r.len()]);
                    }
                }
            }
        }
    }
}

/// Reads `w` x `h` pixels of `level` at level-0 `origin` as packed RGB, transparent (outside the
/// scan) as glass.
fn read_rgb(
    slide: &dyn SlideSource,
    level: usize,
    origin: [i64; 2],
    w: u32,
    h: u32,
) -> Result<Vec<u8>, SlideError> {
    let img = slide.read_region(level, origin[0], origin[1], w, h)?;
    Ok(img
        .pixels
        .chunks_exact(4)
        .flat_map(|p| {
            if p[3] == 0 {
                BACKGROUND
            } else {
                [p[0], p[1], p[2]]
            }
        })
        .collect())
}

/// Writes the region of `req` from `slide`; `progress` gets the fraction done.
pub fn export_region(
    slide: &dyn SlideSource,
    req: &RegionRequest<'_>,
    cancel: &AtomicBool,
    mut progress: impl FnMut(f64),
) -> Result<RegionOutput, RegionError> {
    let levels = slide.levels();
    let Some(level) = levels.get(req.level) else {
        return Err(RegionError::NoLevel {
            level: req.level,
            count: levels.len(),
        });
    };
    let ds = level.downsample;
    let (origin, w, h) = pixel_box(req.bbox, ds);
    if w == 0 || h == 0 {
        return Err(RegionError::Empty);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RegionError::Io { path, source }
    };
    let mpp = slide.mpp().map(|m| m.0 * ds);
    let origin_f = [origin[0] as f64, origin[1] as f64];
    let png = u64::from(w) * u64::from(h) <= req.png_max_pixels;
    let image = crate::export_names::with_suffix(&req.out, if png { ".png" } else { ".tif" });
    let total_steps = if req.mask.is_some() { 2.0 } else { 1.0 };
    if png {
        let mut rgb = read_rgb(slide, req.level, origin, w, h)?;
        if let Some(o) = &req.overlay {
            burn(&mut rgb, w, h, origin_f, ds, o);
        }
        let rgba: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        crate::fsutil::write_png(&image, w, h, rgba).map_err(io(&image))?;
        progress(1.0 / total_steps);
    } else {
        write_tiff(
            slide,
            req,
            &image,
            origin,
            w,
            h,
            ds,
            mpp,
            cancel,
            &mut |f| progress(f / total_steps),
        )?;
    }
    if cancel.load(Ordering::Relaxed) {
        let _ = std::fs::remove_file(&image);
        return Err(RegionError::Cancelled);
    }
    let mask = match req.mask {
        None => None,
        Some(shape) => {
            let path = crate::export_names::with_suffix(&req.out, "-mask.png");
            let rings = rings(shape);
            let result = crate::fsutil::write_atomic_with(&path, |file| {
                let mut enc = png::Encoder::new(file, w, h);
                enc.set_color(png::ColorType::Grayscale);
                enc.set_depth(png::BitDepth::Eight);
                let mut writer = enc.write_header().map_err(std::io::Error::other)?;
                let mut stream = writer.stream_writer().map_err(std::io::Error::other)?;
                let mut row = vec![0u8; w as usize];
                for y in 0..h {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(std::io::Error::other("cancelled"));
                    }
                    let yc = origin_f[1] + (f64::from(y) + 0.5) * ds;
                    mask_row(&rings, origin_f[0], yc, ds, &mut row);
                    std::io::Write::write_all(&mut stream, &row)?;
                    if y % 256 == 0 {
                        progress((1.0 + f64::from(y) / f64::from(h)) / total_steps);
                    }
                }
                stream.finish().map_err(std::io::Error::other)
            });
            if cancel.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(&image);
                return Err(RegionError::Cancelled);
            }
            result.map_err(io(&path))?;
            Some(path)
        }
    };
    progress(1.0);
    Ok(RegionOutput {
        image,
        mask,
        origin,
        width: w,
        height: h,
        level: req.level,
        mpp,
    })
}

/// The slide's pixels (with the overlay) as the level 0 of a new pyramidal TIFF.
struct RegionPainter<'a> {
    slide: &'a dyn SlideSource,
    level: usize,
    origin: [i64; 2],
    ds: f64,
    size: (u32, u32),
    overlay: Option<Overlay<'a>>,
    cancel: &'a AtomicBool,
    error: Mutex<Option<SlideError>>,
}

impl Painter for RegionPainter<'_> {
    fn paint(&self, x0: u64, y0: u64, w: u32, h: u32, out: &mut [u8]) -> bool {
        let failed = self.error.lock().map(|e| e.is_some()).unwrap_or(true);
        if failed || self.cancel.load(Ordering::Relaxed) {
            // Glass tiles cost nothing to store: the writer runs out quickly and the file is
            // removed afterwards.
            out.chunks_exact_mut(3)
                .for_each(|p| p.copy_from_slice(&BACKGROUND));
            return false;
        }
        // Only the part inside the region is read; the writer pads edge tiles with glass.
        let rw = w.min(self.size.0.saturating_sub(x0 as u32));
        let rh = h.min(self.size.1.saturating_sub(y0 as u32));
        out.chunks_exact_mut(3)
            .for_each(|p| p.copy_from_slice(&BACKGROUND));
        if rw == 0 || rh == 0 {
            return false;
        }
        let at = [
            self.origin[0] + (x0 as f64 * self.ds).round() as i64,
            self.origin[1] + (y0 as f64 * self.ds).round() as i64,
        ];
        match read_rgb(self.slide, self.level, at, rw, rh) {
            Ok(mut rgb) => {
                if let Some(o) = &self.overlay {
                    burn(&mut rgb, rw, rh, [at[0] as f64, at[1] as f64], self.ds, o);
                }
                for row in 0..rh as usize {
                    let src = &rgb[row * rw as usize * 3..(row + 1) * rw as usize * 3];
                    out[row * w as usize * 3..row * w as usize * 3 + src.len()]
                        .copy_from_slice(src);
                }
                true
            }
            Err(e) => {
                if let Ok(mut slot) = self.error.lock() {
                    slot.get_or_insert(e);
                }
                false
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_tiff(
    slide: &dyn SlideSource,
    req: &RegionRequest<'_>,
    path: &Path,
    origin: [i64; 2],
    w: u32,
    h: u32,
    ds: f64,
    mpp: Option<f64>,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(f64),
) -> Result<(), RegionError> {
    let mut spec = SynthSpec::new(u64::from(w), u64::from(h), SynthFormat::Tiff);
    // Without an mpp the TIFF still needs a resolution; 1 µm/px says "unknown" plainly enough.
    spec.mpp = mpp.unwrap_or(1.0);
    spec.jpeg_quality = 90;
    spec.description = Some(format!(
        "Sentinel region export of {} at level {}, level-0 origin ({}, {})",
        slide.path().display(),
        req.level,
        origin[0],
        origin[1]
    ));
    let painter = RegionPainter {
        slide,
        level: req.level,
        origin,
        ds,
        size: (w, h),
        overlay: req.overlay,
        cancel,
        error: Mutex::new(None),
    };
    write_painted(&spec, &painter, path, progress).map_err(|e| match e {
        crate::synth::SynthError::Io { path, source } => RegionError::Io { path, source },
        crate::synth::SynthError::Invalid(m) => RegionError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(m),
        },
    })?;
    let failed = painter.error.lock().ok().and_then(|mut e| e.take());
    if let Some(e) = failed {
        let _ = std::fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_cut_to_the_box_before_drawing() {
        let b = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(
            clip_segment([-5.0, 5.0], [15.0, 5.0], b),
            Some(([0.0, 5.0], [10.0, 5.0]))
        );
        assert_eq!(clip_segment([20.0, 20.0], [30.0, 30.0], b), None);
        assert_eq!(clip_segment([1.0, 1.0], [f64::NAN, 1.0], b), None);
        let (p, q) = clip_segment([5.0, 5.0], [1e18, 5.0], b).expect("crosses");
        assert_eq!(p, [5.0, 5.0]);
        assert!((q[0] - 10.0).abs() < 1e-6 && q[1] == 5.0, "{q:?}");
    }

    /// An outline to x = 1e18 (a hostile or broken file) once stepped along the whole segment,
    /// for ever; cut to the image it draws its visible part at once.
    #[test]
    fn outlines_with_huge_coordinates_burn_only_their_visible_part() {
        let (w, h) = (64u32, 48u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let far = [
            (
                Shape::Line {
                    points: vec![[10.0, 20.0], [1e18, 20.0]],
                },
                [255, 0, 0],
            ),
            (
                Shape::Ellipse {
                    centre: [0.0, 0.0],
                    radii: [1e18, 1e18],
                },
                [0, 255, 0],
            ),
        ];
        let overlay = Overlay {
            outlines: &far,
            heatmap: None,
        };
        burn(&mut rgb, w, h, [0.0, 0.0], 1.0, &overlay);
        let at = |x: u32, y: u32| {
            let i = ((y * w + x) * 3) as usize;
            [rgb[i], rgb[i + 1], rgb[i + 2]]
        };
        assert_eq!(
            at(40, 20),
            [255, 0, 0],
            "the visible part of the line is drawn"
        );
        assert_eq!(at(5, 20), [0, 0, 0], "nothing before its start");
    }

    #[test]
    fn regions_are_placed_against_the_slide() {
        let dims = (1000, 500);
        assert_eq!(
            placement([10.0, 10.0, 100.0, 100.0], dims),
            Placement::Inside
        );
        assert_eq!(
            placement([900.0, -50.0, 1200.0, 100.0], dims),
            Placement::Clipped([900.0, 0.0, 1000.0, 100.0])
        );
        assert_eq!(
            placement([4000.0, 10.0, 4100.0, 100.0], dims),
            Placement::Outside
        );
        assert_eq!(
            placement([-300.0, 10.0, -1.0, 100.0], dims),
            Placement::Outside
        );
        assert_eq!(
            placement([0.0, 0.0, f64::INFINITY, 1.0], dims),
            Placement::Outside
        );
    }

    #[test]
    fn pixel_box_covers_the_shape() {
        assert_eq!(pixel_box([10.5, 20.2, 30.1, 40.0], 1.0), ([10, 20], 21, 20));
        assert_eq!(pixel_box([0.0, 0.0, 100.0, 50.0], 4.0), ([0, 0], 25, 13));
    }

    #[test]
    fn mask_rows_follow_pixel_centres_and_holes() {
        // A 10 x 10 square with a 4 x 4 hole, at level 0.
        let outer = vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let hole = vec![[3.0, 3.0], [7.0, 3.0], [7.0, 7.0], [3.0, 7.0]];
        let mut row = vec![0u8; 12];
        mask_row(&[outer.clone(), hole], -1.0, 5.5, 1.0, &mut row);
        // Pixel i covers level-0 x in [i - 1, i); centres at i - 0.5.
        assert_eq!(row, [0, 255, 255, 255, 0, 0, 0, 0, 255, 255, 255, 0]);
        mask_row(&[outer], -1.0, 10.5, 1.0, &mut row);
        assert!(row.iter().all(|v| *v == 0), "below the shape");
    }

    #[test]
    fn burned_outline_lands_on_the_shape_edge() {
        let (w, h) = (20u32, 20u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let shapes = [(Shape::rectangle([4.0, 4.0], [16.0, 16.0]), [255, 0, 0])];
        burn(
            &mut rgb,
            w,
            h,
            [0.0, 0.0],
            1.0,
            &Overlay {
                outlines: &shapes,
                heatmap: None,
            },
        );
        let px = |x: usize, y: usize| &rgb[(y * w as usize + x) * 3..(y * w as usize + x) * 3 + 3];
        assert_eq!(px(4, 10), [255, 0, 0], "left edge");
        assert_eq!(px(10, 16), [255, 0, 0], "bottom edge");
        assert_eq!(px(10, 10), [0, 0, 0], "inside untouched");
        assert_eq!(px(1, 1), [0, 0, 0]);
    }
}
