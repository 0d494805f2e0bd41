//! Writes synthetic whole-slide images: pyramidal, tiled, JPEG-compressed BigTIFFs that OpenSlide
//! opens as `aperio` (SVS flavour) or `generic-tiff`, with H&E-like content and known tumour regions.
//!
//! The slide is streamed: level 0 is rendered one 256-row band at a time, each band is written as
//! tiles and box-downsampled into the next level's band, and so on down the pyramid, so memory stays
//! bounded by a few bands however large the slide. Every pixel is a pure function of the seed and
//! the position ([`Scene::render`]), which is what lets tests check what OpenSlide reads back.

mod associated;
pub mod cells;
pub mod node_demo;
pub mod noise;
mod pyramid;
pub mod quilt;
pub mod scene;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;

use crate::tiff_writer::{Directory, TiffWriter, Value, tag};
pub use scene::{BACKGROUND, Scene};

/// Container flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthFormat {
    /// Aperio SVS: ImageDescription with MPP and AppMag, thumbnail, label and macro images.
    Svs,
    /// Generic tiled TIFF: pyramid levels only, resolution in the TIFF resolution tags.
    Tiff,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub width: u64,
    pub height: u64,
    pub format: SynthFormat,
    pub seed: u64,
    /// Microns per level-0 pixel (0.25 is a 40x scan).
    pub mpp: f64,
    pub tile_size: u32,
    pub jpeg_quality: u8,
    /// ImageDescription of a generic TIFF (default: says it is synthetic, with the seed).
    pub description: Option<String>,
}

impl SynthSpec {
    pub fn new(width: u64, height: u64, format: SynthFormat) -> Self {
        Self {
            width,
            height,
            format,
            seed: 1,
            mpp: 0.25,
            tile_size: 256,
            jpeg_quality: 85,
            description: None,
        }
    }

    /// Level sizes, finest first: each a quarter of the one above (rounded up) until one fits in 512 px.
    pub fn level_sizes(&self) -> Vec<(u64, u64)> {
        let mut sizes = vec![(self.width, self.height)];
        while let Some(&(w, h)) = sizes.last() {
            if w.max(h) <= 512 {
                break;
            }
            sizes.push((w.div_ceil(DOWNSAMPLE as u64), h.div_ceil(DOWNSAMPLE as u64)));
        }
        sizes
    }

    /// Nominal objective magnification for the mpp (10 µm / mpp: 0.25 → 40x, 0.5 → 20x).
    pub fn objective_power(&self) -> f64 {
        (10.0 / self.mpp).round()
    }

    pub fn scene(&self) -> Scene {
        Scene::new(self.width, self.height, self.mpp, self.seed)
    }
}

/// Downsample between consecutive levels, as Aperio scanners write.
pub const DOWNSAMPLE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synthetic slide: {0}")]
    Invalid(String),
    #[error("{path}: cannot write: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Clone)]
pub struct SynthReport {
    pub path: PathBuf,
    pub truth_path: PathBuf,
    pub levels: Vec<(u64, u64)>,
    pub file_bytes: u64,
    /// Tiles whose pixels were encoded (the rest are plain glass and share one stored tile).
    pub tiles_encoded: u64,
    pub tiles_total: u64,
    pub seconds: f64,
    pub scene: Scene,
}

/// What the writer stores at `level` for the `width` x `height` pixels whose top-left corner is
/// level pixel (`lx`, `ly`): level 0 rendered and box-downsampled `level` times, as [`write_slide`]
/// does (before JPEG). Pixels outside the level are glass.
pub fn render_level(
    scene: &Scene,
    level: u32,
    lx: u64,
    ly: u64,
    width: u32,
    height: u32,
) -> Vec<u8> {
    let ds = (DOWNSAMPLE as u64).pow(level);
    let (x0, y0) = (lx * ds, ly * ds);
    // Only pixels inside the image take part in the averages, exactly as in the writer.
    let w0 = (u64::from(width) * ds).min(scene.width.saturating_sub(x0)) as usize;
    let h0 = (u64::from(height) * ds).min(scene.height.saturating_sub(y0)) as usize;
    let mut img = vec![0u8; w0 * h0 * 3];
    if w0 > 0 && h0 > 0 {
        scene.render(x0, y0, w0 as u32, h0 as u32, &mut img);
    }
    let (mut w, mut h) = (w0, h0);
    for _ in 0..level {
        let (next, nw, nh) = pyramid::box_downsample(&img, w, h, DOWNSAMPLE);
        (img, w, h) = (next, nw, nh);
    }
    // Pad to the requested size with glass.
    let mut out = vec![0u8; width as usize * height as usize * 3];
    scene::fill_background(&mut out);
    for row in 0..h.min(height as usize) {
        let n = w.min(width as usize) * 3;
        out[row * width as usize * 3..row * width as usize * 3 + n]
            .copy_from_slice(&img[row * w * 3..row * w * 3 + n]);
    }
    out
}

/// The ground-truth file written beside a slide: `slide.svs` -> `slide.svs.truth.geojson`.
pub fn truth_path_for(slide: &Path) -> PathBuf {
    let mut name = slide.file_name().unwrap_or_default().to_os_string();
    name.push(".truth.geojson");
    slide.with_file_name(name)
}

struct LevelState {
    width: usize,
    height: usize,
    tiles_across: usize,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    band: Vec<u8>,
    band_rows: usize,
    rows_done: usize,
}

struct Writer<'a> {
    spec: &'a SynthSpec,
    tiff: TiffWriter,
    levels: Vec<LevelState>,
    /// Offset and size of the one stored all-glass tile.
    glass_tile: (u64, u64),
    /// A whole level small enough to keep (the source of the thumbnail and macro image).
    overview_level: usize,
    overview: Vec<u8>,
    tiles_encoded: u64,
    tiles_total: u64,
}

/// Level-0 pixel content for [`write_painted`].
pub trait Painter: Sync {
    /// Fills `out` (packed RGB, `w * h * 3` bytes) with level-0 pixels [x0, x0+w) x [y0, y0+h);
    /// returns whether any of them is not plain glass (all-glass tiles are stored once).
    fn paint(&self, x0: u64, y0: u64, w: u32, h: u32, out: &mut [u8]) -> bool;
}

impl Painter for Scene {
    fn paint(&self, x0: u64, y0: u64, w: u32, h: u32, out: &mut [u8]) -> bool {
        self.render(x0, y0, w, h, out)
    }
}

/// What [`write_painted`] wrote.
#[derive(Debug, Clone)]
pub struct PyramidReport {
    pub levels: Vec<(u64, u64)>,
    pub file_bytes: u64,
    pub tiles_encoded: u64,
    pub tiles_total: u64,
    pub seconds: f64,
}

/// Writes the slide described by `spec` (the synthetic H&E scene of its seed) to `path` and its
/// ground truth beside it. `progress` is called with the fraction of level 0 done.
pub fn write_slide(
    spec: &SynthSpec,
    path: &Path,
    progress: impl FnMut(f64),
) -> Result<SynthReport, SynthError> {
    let scene = spec.scene();
    let written = write_painted(spec, &scene, path, progress)?;
    let truth_path = truth_path_for(path);
    write_truth(&scene, spec, &truth_path).map_err(|source| SynthError::Io {
        path: truth_path.clone(),
        source,
    })?;
    Ok(SynthReport {
        path: path.to_path_buf(),
        truth_path,
        levels: written.levels,
        file_bytes: written.file_bytes,
        tiles_encoded: written.tiles_encoded,
        tiles_total: written.tiles_total,
        seconds: written.seconds,
        scene,
    })
}

/// Writes a slide of `spec`'s size, format and resolution whose level-0 pixels come from `painter`
/// (e.g. a mosaic of real patches for an evaluation), with the same pyramid and containers as
/// [`write_slide`]; no ground truth is written.
pub fn write_painted(
    spec: &SynthSpec,
    painter: &dyn Painter,
    path: &Path,
    mut progress: impl FnMut(f64),
) -> Result<PyramidReport, SynthError> {
    validate(spec)?;
    let started = Instant::now();
    let io = |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tile = spec.tile_size as usize;
    let sizes = spec.level_sizes();
    let levels = sizes
        .iter()
        .map(|&(w, h)| {
            let (w, h) = (w as usize, h as usize);
            let count = w.div_ceil(tile) * h.div_ceil(tile);
            LevelState {
                width: w,
                height: h,
                tiles_across: w.div_ceil(tile),
                offsets: Vec::with_capacity(count),
                counts: Vec::with_capacity(count),
                band: Vec::new(),
                band_rows: 0,
                rows_done: 0,
            }
        })
        .collect::<Vec<_>>();
    let overview_level = sizes
        .iter()
        .position(|&(w, h)| w.max(h) <= 2048)
        .unwrap_or(sizes.len() - 1);

    let mut tiff = TiffWriter::create(path).map_err(io)?;
    let glass = {
        let mut buf = vec![0u8; tile * tile * 3];
        scene::fill_background(&mut buf);
        pyramid::encode_jpeg(&buf, tile, tile, spec.jpeg_quality)
    };
    let glass_offset = tiff.append(&glass).map_err(io)?;
    let mut writer = Writer {
        spec,
        tiff,
        levels,
        glass_tile: (glass_offset, glass.len() as u64),
        overview_level,
        overview: Vec::new(),
        tiles_encoded: 0,
        tiles_total: 0,
    };

    let result = (|| -> std::io::Result<()> {
        let (w0, h0) = (writer.levels[0].width, writer.levels[0].height);
        let across = writer.levels[0].tiles_across;
        for y0 in (0..h0).step_by(tile) {
            let rows = tile.min(h0 - y0);
            // Render and encode the band's tiles in parallel; glass tiles skip both.
            let tiles: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..across)
                .into_par_iter()
                .map(|col| {
                    let mut buf = vec![0u8; tile * tile * 3];
                    let tissue = painter.paint(
                        (col * tile) as u64,
                        y0 as u64,
                        tile as u32,
                        tile as u32,
                        &mut buf,
                    );
                    let jpeg =
                        tissue.then(|| pyramid::encode_jpeg(&buf, tile, tile, spec.jpeg_quality));
                    (buf, jpeg)
                })
                .collect();
            for (_, jpeg) in &tiles {
                writer.store_tile(0, jpeg.as_deref())?;
            }
            // Assemble the band (only the rows and columns inside the image) for the next level.
            let mut band = vec![0u8; w0 * rows * 3];
            band.par_chunks_mut(w0 * 3)
                .enumerate()
                .for_each(|(y, line)| {
                    for (col, (buf, _)) in tiles.iter().enumerate() {
                        let x0 = col * tile;
                        let n = tile.min(w0 - x0);
                        line[x0 * 3..(x0 + n) * 3]
                            .copy_from_slice(&buf[y * tile * 3..(y * tile + n) * 3]);
                    }
                });
            drop(tiles);
            writer.levels[0].rows_done += rows;
            writer.after_band(0, &band, rows)?;
            progress((y0 + rows) as f64 / h0 as f64);
        }
        Ok(())
    })();
    if let Err(e) = result {
        writer.tiff.abandon();
        return Err(io(e));
    }

    let directories = writer.directories(path).map_err(io)?;
    let (tiles_encoded, tiles_total) = (writer.tiles_encoded, writer.tiles_total);
    let file_bytes = writer.tiff.finish(&directories).map_err(io)?;
    Ok(PyramidReport {
        levels: sizes,
        file_bytes,
        tiles_encoded,
        tiles_total,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn validate(spec: &SynthSpec) -> Result<(), SynthError> {
    const MAX_SIDE: u64 = 1 << 20;
    if spec.width < 64 || spec.height < 64 || spec.width > MAX_SIDE || spec.height > MAX_SIDE {
        return Err(SynthError::Invalid(format!(
            "size {}x{} must be between 64 and {MAX_SIDE} pixels per side",
            spec.width, spec.height
        )));
    }
    if !(spec.tile_size >= 16 && spec.tile_size.is_multiple_of(16) && spec.tile_size <= 4096) {
        return Err(SynthError::Invalid(format!(
            "tile size {} must be a multiple of 16 between 16 and 4096",
            spec.tile_size
        )));
    }
    if !(spec.mpp.is_finite() && spec.mpp > 0.01 && spec.mpp < 100.0) {
        return Err(SynthError::Invalid(format!(
            "mpp {} out of range",
            spec.mpp
        )));
    }
    if !(1..=100).contains(&spec.jpeg_quality) {
        return Err(SynthError::Invalid(format!(
            "JPEG quality {} must be 1..=100",
            spec.jpeg_quality
        )));
    }
    Ok(())
}

impl Writer<'_> {
    fn store_tile(&mut self, level: usize, jpeg: Option<&[u8]>) -> std::io::Result<()> {
        let (offset, len) = match jpeg {
            Some(bytes) => {
                self.tiles_encoded += 1;
                (self.tiff.append(bytes)?, bytes.len() as u64)
            }
            None => self.glass_tile,
        };
        self.tiles_total += 1;
        let lv = &mut self.levels[level];
        lv.offsets.push(offset);
        lv.counts.push(len);
        Ok(())
    }

    /// Called when `level` has finished a band: keeps it for the overview if needed and feeds its
    /// downsample to the next level.
    fn after_band(&mut self, level: usize, band: &[u8], rows: usize) -> std::io::Result<()> {
        if level == self.overview_level {
            self.overview.extend_from_slice(band);
        }
        if level + 1 >= self.levels.len() {
            return Ok(());
        }
        let (down, _, down_rows) =
            pyramid::box_downsample(band, self.levels[level].width, rows, DOWNSAMPLE);
        self.push_rows(level + 1, &down, down_rows)
    }

    fn push_rows(&mut self, level: usize, rows_rgb: &[u8], rows: usize) -> std::io::Result<()> {
        let tile = self.spec.tile_size as usize;
        let lv = &mut self.levels[level];
        lv.band.extend_from_slice(rows_rgb);
        lv.band_rows += rows;
        if lv.band_rows < tile && lv.rows_done + lv.band_rows < lv.height {
            return Ok(());
        }
        let band = std::mem::take(&mut lv.band);
        let band_rows = std::mem::replace(&mut lv.band_rows, 0);
        lv.rows_done += band_rows;
        let (width, across) = (lv.width, lv.tiles_across);
        let quality = self.spec.jpeg_quality;
        let jpegs: Vec<Option<Vec<u8>>> = (0..across)
            .into_par_iter()
            .map(|col| {
                let (buf, glass) = pyramid::cut_tile(&band, width, band_rows, col, tile);
                (!glass).then(|| pyramid::encode_jpeg(&buf, tile, tile, quality))
            })
            .collect();
        for jpeg in &jpegs {
            self.store_tile(level, jpeg.as_deref())?;
        }
        self.after_band(level, &band, band_rows)
    }

    fn directories(&mut self, path: &Path) -> std::io::Result<Vec<Directory>> {
        let spec = self.spec;
        let (w0, h0) = (spec.width, spec.height);
        let tile = spec.tile_size;
        let filename = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fields = format!(
            "AppMag = {}|MPP = {:.4}|Filename = {}|Sentinel = synthetic H&E, seed {}",
            spec.objective_power(),
            spec.mpp,
            filename,
            spec.seed
        );
        let aperio = |line: String| format!("Aperio Image Library v12.0.16 \n{line}|{fields}");

        let mut levels = Vec::new();
        for (i, lv) in self.levels.iter().enumerate() {
            let mut d = Directory::default();
            let downsample = w0 as f64 / lv.width as f64;
            let px_per_cm = 1e4 / (spec.mpp * downsample);
            let description = match spec.format {
                SynthFormat::Svs if i == 0 => aperio(format!(
                    "{w0}x{h0} ({tile}x{tile}) JPEG/YCC Q={}",
                    spec.jpeg_quality
                )),
                SynthFormat::Svs => aperio(format!(
                    "{w0}x{h0} -> {}x{} ({tile}x{tile}) JPEG/YCC Q={}",
                    lv.width, lv.height, spec.jpeg_quality
                )),
                SynthFormat::Tiff => spec
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("Sentinel synthetic H&E slide, seed {}", spec.seed)),
            };
            d.set(tag::NEW_SUBFILE_TYPE, Value::Long(vec![u32::from(i > 0)]))
                .set(tag::IMAGE_WIDTH, Value::Long(vec![lv.width as u32]))
                .set(tag::IMAGE_LENGTH, Value::Long(vec![lv.height as u32]))
                .set(tag::BITS_PER_SAMPLE, Value::Short(vec![8, 8, 8]))
                .set(tag::COMPRESSION, Value::Short(vec![7]))
                .set(tag::PHOTOMETRIC, Value::Short(vec![6]))
                .set(tag::IMAGE_DESCRIPTION, Value::Ascii(description))
                .set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![3]))
                .set(
                    tag::X_RESOLUTION,
                    Value::Rational(vec![((px_per_cm * 1000.0).round() as u32, 1000)]),
                )
                .set(
                    tag::Y_RESOLUTION,
                    Value::Rational(vec![((px_per_cm * 1000.0).round() as u32, 1000)]),
                )
                .set(tag::PLANAR_CONFIG, Value::Short(vec![1]))
                .set(tag::RESOLUTION_UNIT, Value::Short(vec![3]))
                .set(tag::SOFTWARE, Value::Ascii("Sentinel synth".into()))
                .set(tag::TILE_WIDTH, Value::Long(vec![tile]))
                .set(tag::TILE_LENGTH, Value::Long(vec![tile]))
                .set(tag::TILE_OFFSETS, Value::Long8(lv.offsets.clone()))
                .set(tag::TILE_BYTE_COUNTS, Value::Long8(lv.counts.clone()))
                .set(tag::YCBCR_SUBSAMPLING, Value::Short(vec![2, 2]));
            levels.push(d);
        }
        if spec.format == SynthFormat::Tiff {
            return Ok(levels);
        }

        // Aperio order: level 0, thumbnail, the other levels, label, macro.
        let ov = &self.levels[self.overview_level];
        let (thumb, tw, th) = pyramid::fit_within(&self.overview, ov.width, ov.height, 1024);
        let label = associated::label(spec.seed);
        let macro_image = associated::macro_image(&thumb, tw, th, &label);
        let mut dirs = Vec::with_capacity(levels.len() + 3);
        let mut levels = levels.into_iter();
        dirs.extend(levels.next());
        dirs.push(self.strip_directory(
            &thumb,
            tw,
            th,
            0,
            aperio(format!("{w0}x{h0} -> {tw}x{th} - ")),
        )?);
        dirs.extend(levels);
        dirs.push(self.strip_directory(
            &label.rgb,
            label.width,
            label.height,
            1,
            format!(
                "Aperio Image Library v12.0.16\nlabel {}x{}",
                label.width, label.height
            ),
        )?);
        dirs.push(self.strip_directory(
            &macro_image.rgb,
            macro_image.width,
            macro_image.height,
            9,
            format!(
                "Aperio Image Library v12.0.16\nmacro {}x{}",
                macro_image.width, macro_image.height
            ),
        )?);
        Ok(dirs)
    }

    /// An uncompressed single-strip RGB image (associated images are small).
    fn strip_directory(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        subfile_type: u32,
        description: String,
    ) -> std::io::Result<Directory> {
        let offset = self.tiff.append(rgb)?;
        let mut d = Directory::default();
        d.set(tag::NEW_SUBFILE_TYPE, Value::Long(vec![subfile_type]))
            .set(tag::IMAGE_WIDTH, Value::Long(vec![width as u32]))
            .set(tag::IMAGE_LENGTH, Value::Long(vec![height as u32]))
            .set(tag::BITS_PER_SAMPLE, Value::Short(vec![8, 8, 8]))
            .set(tag::COMPRESSION, Value::Short(vec![1]))
            .set(tag::PHOTOMETRIC, Value::Short(vec![2]))
            .set(tag::IMAGE_DESCRIPTION, Value::Ascii(description))
            .set(tag::STRIP_OFFSETS, Value::Long8(vec![offset]))
            .set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![3]))
            .set(tag::ROWS_PER_STRIP, Value::Long(vec![height as u32]))
            .set(tag::STRIP_BYTE_COUNTS, Value::Long8(vec![rgb.len() as u64]))
            .set(tag::PLANAR_CONFIG, Value::Short(vec![1]));
        Ok(d)
    }
}

/// Writes the ground truth as QuPath-compatible GeoJSON (level-0 pixel coordinates): the tumour
/// regions (class "Tumor") and the tissue islands with their holes (class "Tissue").
fn write_truth(scene: &Scene, spec: &SynthSpec, path: &Path) -> std::io::Result<()> {
    let ring = |b: &scene::Blob| {
        let mut pts: Vec<[f64; 2]> = b.outline(256);
        pts.push(pts[0]);
        pts
    };
    let feature = |class: &str, color: [u8; 3], rings: Vec<Vec<[f64; 2]>>| {
        json!({
            "type": "Feature",
            "geometry": { "type": "Polygon", "coordinates": rings },
            "properties": {
                "objectType": "annotation",
                "classification": { "name": class, "color": color },
            }
        })
    };
    let mut features = Vec::new();
    for t in &scene.tumours {
        features.push(feature("Tumor", [200, 0, 0], vec![ring(t)]));
    }
    for island in &scene.islands {
        let mut rings = vec![ring(island)];
        for hole in scene.holes.iter().filter(|h| island.contains(h.cx, h.cy)) {
            let mut r = ring(hole);
            r.reverse();
            rings.push(r);
        }
        features.push(feature("Tissue", [20, 160, 60], rings));
    }
    let doc = json!({
        "type": "FeatureCollection",
        "features": features,
        "sentinel_synth": {
            "width": spec.width, "height": spec.height, "mpp": spec.mpp, "seed": spec.seed,
        }
    });
    let bytes = serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomic(path, &bytes)
}
