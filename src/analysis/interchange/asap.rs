//! ASAP likelihood maps: a pyramidal tiled TIFF of risk values that ASAP lays over the slide.
//!
//! ASAP matches an overlay's levels to the slide's by downsample, so the map mirrors the slide's own
//! pyramid: its level 0 has the exact pixel size of one slide level (the coarsest where a model
//! tile still spans at least [`MIN_PX_PER_CELL`] pixels), and each further level has the size of the
//! next slide level, so every level's factor is the slide's. Values are float32 risks in 0..=1
//! (single channel, deflate-compressed 256 px tiles); pixels where nothing was analysed are 0, as
//! ASAP's own maps have for background. Reading accepts float32, uint8 (0-255) and uint16 (0-65535)
//! maps, as other tools write them.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::InterchangeError;
use crate::analysis::heatmap::Heatmap;
use crate::slide::Level;
use crate::tiff_writer::{Directory, TiffWriter, Value, tag};

/// The map's level 0 is the coarsest slide level where a model tile spans this many pixels, so a
/// tile's edges land within 1/16 of a tile of where they are.
pub const MIN_PX_PER_CELL: f64 = 8.0;
const TILE: u32 = 256;

/// Where ASAP looks for a slide's likelihood map: `<slide-basename>_likelihood_map.tif` in `dir`.
pub fn path_for(dir: &Path, slide: &Path) -> PathBuf {
    dir.join(format!("{}_likelihood_map.tif", stem(slide)))
}

fn stem(slide: &Path) -> String {
    slide
        .file_stem()
        .map_or_else(|| "slide".into(), |s| s.to_string_lossy().into_owned())
}

/// The marker in a map's description naming the slide identity it was made for.
const OWNER: &str = "slide_id=";

/// The description our maps carry: what they hold, and (last) the slide identity they belong to,
/// so a map of another slide with the same file name is never taken for, or removed as, this one's.
pub fn description(what: &str, slide_id: &str) -> String {
    format!("{what}; {OWNER}{slide_id}")
}

/// The slide identity a Sentinel map at `path` was made for (`None`: no file, not ours, unreadable).
pub fn owner(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut dec = tiff::decoder::Decoder::new(std::io::BufReader::new(file)).ok()?;
    let d = dec
        .find_tag(tiff::tags::Tag::ImageDescription)
        .ok()??
        .into_string()
        .ok()?;
    d.rsplit_once(OWNER).map(|(_, id)| id.trim().to_owned())
}

/// Where the map of the slide `slide_id` at `slide` goes in `dir`: ASAP's name, unless a map of
/// another slide of the same file name is there; then `<name>-<identity>_likelihood_map.tif`.
pub fn path_for_owner(dir: &Path, slide: &Path, slide_id: &str) -> PathBuf {
    let default = path_for(dir, slide);
    match owner(&default) {
        Some(o) if o != slide_id => {
            let short: String = slide_id.chars().take(12).collect();
            dir.join(format!("{}-{short}_likelihood_map.tif", stem(slide)))
        }
        _ => default,
    }
}

/// One level of the map: its size and its downsample from the slide's level 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapLevel {
    pub width: u64,
    pub height: u64,
    pub downsample: f64,
}

/// The slide levels the map mirrors, from the coarsest that still resolves a model tile.
pub fn map_levels(slide: &[Level], cell_level0: f64) -> Vec<MapLevel> {
    let first = slide
        .iter()
        .rposition(|l| cell_level0 / l.downsample >= MIN_PX_PER_CELL)
        .unwrap_or(0);
    slide
        .iter()
        .skip(first)
        .map(|l| MapLevel {
            width: l.width_px.max(1),
            height: l.height_px.max(1),
            downsample: l.downsample,
        })
        .collect()
}

/// Writes `heatmap` as an ASAP likelihood map at `path` (atomically), one directory per level.
/// `mpp` (level 0) sets the resolution tags; `description` goes in the first directory.
pub fn write(
    heatmap: &Heatmap,
    levels: &[MapLevel],
    mpp: Option<(f64, f64)>,
    description: &str,
    path: &Path,
) -> std::io::Result<()> {
    let mut out = TiffWriter::create(path)?;
    let result = write_levels(&mut out, heatmap, levels, mpp, description);
    match result {
        Ok(dirs) => out.finish(&dirs).map(|_| ()),
        Err(e) => {
            out.abandon();
            Err(e)
        }
    }
}

fn write_levels(
    out: &mut TiffWriter,
    heatmap: &Heatmap,
    levels: &[MapLevel],
    mpp: Option<(f64, f64)>,
    description: &str,
) -> std::io::Result<Vec<Directory>> {
    let mut dirs = Vec::with_capacity(levels.len());
    for (i, level) in levels.iter().enumerate() {
        let (w, h) = (level.width, level.height);
        let (across, down) = (w.div_ceil(u64::from(TILE)), h.div_ceil(u64::from(TILE)));
        let (mut offsets, mut counts) = (Vec::new(), Vec::new());
        let mut tile = vec![0f32; (TILE * TILE) as usize];
        for ty in 0..down {
            for tx in 0..across {
                render_tile(heatmap, level, tx, ty, &mut tile);
                let bytes = deflate(&tile)?;
                offsets.push(out.append(&bytes)?);
                counts.push(bytes.len() as u64);
            }
        }
        let mut d = Directory::default();
        d.set(tag::NEW_SUBFILE_TYPE, Value::Long(vec![u32::from(i > 0)]))
            .set(tag::IMAGE_WIDTH, Value::Long(vec![to_u32(w)?]))
            .set(tag::IMAGE_LENGTH, Value::Long(vec![to_u32(h)?]))
            .set(tag::BITS_PER_SAMPLE, Value::Short(vec![32]))
            .set(tag::COMPRESSION, Value::Short(vec![8]))
            .set(tag::PHOTOMETRIC, Value::Short(vec![1]))
            .set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![1]))
            .set(tag::PLANAR_CONFIG, Value::Short(vec![1]))
            .set(tag::SAMPLE_FORMAT, Value::Short(vec![3]))
            .set(tag::SOFTWARE, Value::Ascii("Sentinel".into()))
            .set(tag::TILE_WIDTH, Value::Long(vec![TILE]))
            .set(tag::TILE_LENGTH, Value::Long(vec![TILE]))
            .set(tag::TILE_OFFSETS, Value::Long8(offsets))
            .set(tag::TILE_BYTE_COUNTS, Value::Long8(counts));
        if i == 0 {
            d.set(tag::IMAGE_DESCRIPTION, Value::Ascii(description.into()));
        }
        if let Some((mx, my)) = mpp.filter(|(x, y)| *x > 0.0 && *y > 0.0) {
            // Pixels per centimetre at this level, as a rational with three decimals.
            let per_cm = |m: f64| {
                let v = (1e4 / (m * level.downsample) * 1000.0).round();
                (v.clamp(1.0, f64::from(u32::MAX)) as u32, 1000)
            };
            d.set(tag::X_RESOLUTION, Value::Rational(vec![per_cm(mx)]))
                .set(tag::Y_RESOLUTION, Value::Rational(vec![per_cm(my)]))
                .set(tag::RESOLUTION_UNIT, Value::Short(vec![3]));
        }
        dirs.push(d);
    }
    Ok(dirs)
}

fn to_u32(v: u64) -> std::io::Result<u32> {
    u32::try_from(v).map_err(|_| std::io::Error::other(format!("map level of {v} px is too wide")))
}

/// Fills one 256 px tile of `level` with the risk under each pixel's centre (0 where nothing was
/// analysed, and past the image edge).
fn render_tile(h: &Heatmap, level: &MapLevel, tx: u64, ty: u64, tile: &mut [f32]) {
    let t = u64::from(TILE);
    for y in 0..t {
        let py = ty * t + y;
        for x in 0..t {
            let px = tx * t + x;
            let v = if px < level.width && py < level.height {
                let lx = (px as f64 + 0.5) * level.downsample;
                let ly = (py as f64 + 0.5) * level.downsample;
                h.value_at(lx, ly).unwrap_or(0.0)
            } else {
                0.0
            };
            tile[(y * t + x) as usize] = v;
        }
    }
}

fn deflate(values: &[f32]) -> std::io::Result<Vec<u8>> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    z.write_all(&bytes)?;
    z.finish()
}

/// The largest map level this reads (pixels): finer levels are skipped for the next one down.
/// 2048 px along a 100,000 px slide is 49 slide pixels per value, finer than any model tile.
pub const MAX_READ_PIXELS: u64 = 2048 * 2048;

/// Reads a likelihood map for a slide of `slide_dims` level-0 pixels: the finest level of at most
/// [`MAX_READ_PIXELS`], as a grid with one cell per map pixel (values clamped to 0..=1).
pub fn read(path: &Path, slide_dims: (u64, u64)) -> Result<Heatmap, InterchangeError> {
    let bad = |why: String| InterchangeError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|e| InterchangeError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let tiff_err = |e: tiff::TiffError| bad(format!("not a readable TIFF: {e}"));
    let mut dec = tiff::decoder::Decoder::new(std::io::BufReader::new(file))
        .map_err(tiff_err)?
        .with_limits(tiff::decoder::Limits::default());
    // Walk the main chain; take the first single-channel level small enough to hold.
    let mut index = 0;
    loop {
        let (w, h) = dec.dimensions().map_err(tiff_err)?;
        let single = matches!(dec.colortype().map_err(tiff_err)?, tiff::ColorType::Gray(_));
        if single && u64::from(w) * u64::from(h) <= MAX_READ_PIXELS {
            break;
        }
        if !dec.more_images() {
            return Err(bad(format!(
                "no single-channel level of at most {MAX_READ_PIXELS} pixels (a likelihood map has one value per pixel)"
            )));
        }
        index += 1;
        dec.next_image()
            .map_err(|e| bad(format!("directory {index}: {e}")))?;
    }
    let (w, h) = dec.dimensions().map_err(tiff_err)?;
    let step = super::grid_step(slide_dims, (u64::from(w), u64::from(h)))
        .map_err(|why| bad(format!("level {index} ({w} x {h} px): {why}")))?;
    let image = dec
        .read_image()
        .map_err(|e| bad(format!("level {index}: {e}")))?;
    use tiff::decoder::DecodingResult as D;
    let values: Vec<f32> = match image {
        D::F32(v) => v,
        D::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        D::U8(v) => v.into_iter().map(|x| f32::from(x) / 255.0).collect(),
        D::U16(v) => v.into_iter().map(|x| f32::from(x) / 65535.0).collect(),
        _ => {
            return Err(bad(format!(
                "level {index}: samples are neither float nor 8- or 16-bit unsigned"
            )));
        }
    };
    if values.len() != w as usize * h as usize {
        return Err(bad(format!(
            "level {index}: {} samples for {w} x {h} px",
            values.len()
        )));
    }
    Ok(Heatmap {
        cols: w,
        rows: h,
        cell_level0: step,
        values: values
            .into_iter()
            .map(|v| v.is_finite().then(|| v.clamp(0.0, 1.0)))
            .collect(),
        raw: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(w: u64, h: u64, ds: f64) -> Level {
        Level {
            width_px: w,
            height_px: h,
            downsample: ds,
            tile_size_px: None,
        }
    }

    #[test]
    fn the_map_mirrors_the_slide_levels_that_resolve_a_tile() {
        let slide = [
            level(100_000, 80_000, 1.0),
            level(25_000, 20_000, 4.0),
            level(6_250, 5_000, 16.0),
            level(1_562, 1_250, 64.0),
        ];
        // 448 px cells: 28 px at /16, 7 px at /64: level 0 of the map is the slide's level 2.
        let m = map_levels(&slide, 448.0);
        assert_eq!(
            m,
            vec![
                MapLevel {
                    width: 6_250,
                    height: 5_000,
                    downsample: 16.0
                },
                MapLevel {
                    width: 1_562,
                    height: 1_250,
                    downsample: 64.0
                }
            ]
        );
        // Cells under 8 px even at level 0 still get a map, at level 0.
        assert_eq!(map_levels(&slide, 4.0).len(), 4);
    }

    #[test]
    fn written_maps_read_back_cell_for_cell() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut h = Heatmap::new((1000, 700), 100.0);
        h.set(0, 0, 0.25);
        h.set(9, 6, 1.0);
        h.set(4, 3, 0.5);
        let levels = [
            MapLevel {
                width: 1000,
                height: 700,
                downsample: 1.0,
            },
            MapLevel {
                width: 250,
                height: 175,
                downsample: 4.0,
            },
        ];
        let path = dir.path().join("m.tif");
        write(&h, &levels, Some((0.5, 0.5)), "test", &path).expect("write");
        let back = read(&path, (1000, 700)).expect("read");
        assert_eq!((back.cols, back.rows, back.cell_level0), (1000, 700, 1.0));
        for (x, y, want) in [
            (50.0, 50.0, 0.25),
            (950.0, 650.0, 1.0),
            (450.0, 350.0, 0.5),
            (150.0, 50.0, 0.0),
        ] {
            assert_eq!(back.value_at(x, y), Some(want), "at ({x}, {y})");
        }
    }

    #[test]
    fn a_map_of_another_slide_of_the_same_name_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let slide = Path::new("/a/case.svs");
        let h = Heatmap::new((100, 100), 10.0);
        let level = [MapLevel {
            width: 100,
            height: 100,
            downsample: 1.0,
        }];
        let first = path_for_owner(dir.path(), slide, "aaaa");
        assert_eq!(first, dir.path().join("case_likelihood_map.tif"));
        write(&h, &level, None, &description("map", "aaaa"), &first).expect("write");
        assert_eq!(owner(&first).as_deref(), Some("aaaa"));
        assert_eq!(
            path_for_owner(dir.path(), slide, "aaaa"),
            first,
            "its own: rewritten"
        );
        assert_eq!(
            path_for_owner(dir.path(), Path::new("/b/case.svs"), "bbbbbbbbbbbbbbbb"),
            dir.path().join("case-bbbbbbbbbbbb_likelihood_map.tif")
        );
    }

    #[test]
    fn a_map_of_another_shape_is_refused_with_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = Heatmap::new((1000, 700), 100.0);
        let path = dir.path().join("m.tif");
        let levels = [MapLevel {
            width: 1000,
            height: 700,
            downsample: 1.0,
        }];
        write(&h, &levels, None, "", &path).expect("write");
        let e = read(&path, (700, 1000)).expect_err("rotated slide");
        assert!(e.to_string().contains("1000 x 700"), "{e}");
        std::fs::write(&path, b"II*\0garbage").expect("write");
        let e = read(&path, (1000, 700)).expect_err("garbage");
        assert!(e.to_string().contains("not a readable TIFF"), "{e}");
    }
}
