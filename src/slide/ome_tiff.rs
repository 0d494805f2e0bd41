//! OME-TIFF pyramids read by Sentinel itself. OME-TIFF keeps a pyramid's reduced levels as
//! SubIFDs of the full-resolution image (OME's convention since 2020, written by bfconvert, QuPath,
//! tifffile and others); OpenSlide 4 reads such a file as a generic TIFF of one level. Here the
//! first image of the main chain is level 0 and its SubIFDs the next levels, tiles (or strips) are
//! read at their offsets with positioned reads (no lock between threads) and decoded (none, LZW,
//! deflate, JPEG; horizontal predictor), and the physical pixel size and objective come from the
//! OME-XML. Brightfield 8-bit images (RGB, or grey shown as grey) only; other OME-TIFFs still
//! open through OpenSlide.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tiff::decoder::{Decoder, IfdDecoder};
use tiff::tags::Tag;

use super::{Level, RgbaImage, SlideError, SlideSource};

/// Decoded chunks kept for reads that straddle them (a few viewer tiles' worth).
const CHUNK_CACHE: usize = 64;

/// Whether `path` is an OME-TIFF whose first image has SubIFDs (a pyramid OpenSlide would not
/// see). Any doubt (not TIFF, unreadable, no OME-XML) says no: OpenSlide then reports on it.
pub fn is_ome_pyramid(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(mut dec) = Decoder::new(std::io::BufReader::new(file)) else {
        return false;
    };
    let mut t = dec.image_ifd();
    let ome = t
        .find_tag(Tag::ImageDescription)
        .ok()
        .flatten()
        .and_then(|v| v.into_string().ok())
        .is_some_and(|d| d.contains("<OME"));
    ome && t.find_tag(Tag::SubIfd).ok().flatten().is_some()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Compression {
    None,
    Lzw,
    Deflate,
    Jpeg,
}

/// One pyramid level: where its chunks are and how they are coded.
#[derive(Debug, Clone)]
struct LevelInfo {
    width: u32,
    height: u32,
    /// Tile size, or (image width, rows per strip) for strips.
    chunk: (u32, u32),
    offsets: Vec<u64>,
    counts: Vec<u64>,
    compression: Compression,
    horizontal_predictor: bool,
    samples: usize,
    jpeg_tables: Option<Vec<u8>>,
}

impl LevelInfo {
    fn read(t: &mut IfdDecoder<'_>) -> Result<Self, String> {
        let u = |v: Option<tiff::decoder::ifd::Value>, what: &str| -> Result<u64, String> {
            v.ok_or(format!("no {what}"))?
                .into_u64()
                .map_err(|e| format!("{what}: {e}"))
        };
        let mut get = |tag: Tag| t.find_tag(tag).map_err(|e| format!("{tag:?}: {e}"));
        let width = u(get(Tag::ImageWidth)?, "ImageWidth")? as u32;
        let height = u(get(Tag::ImageLength)?, "ImageLength")? as u32;
        let samples = get(Tag::SamplesPerPixel)?
            .map_or(Ok(1), |v| v.into_u64().map_err(|e| e.to_string()))?
            as usize;
        let bits = get(Tag::BitsPerSample)?
            .map_or(Ok(vec![8]), |v| v.into_u64_vec().map_err(|e| e.to_string()))?;
        if bits.iter().any(|&b| b != 8) {
            return Err(format!(
                "{bits:?} bits per sample: only 8-bit images are read"
            ));
        }
        if !matches!(samples, 1 | 3 | 4) {
            return Err(format!(
                "{samples} samples per pixel: only grey and RGB(A) are read"
            ));
        }
        if get(Tag::PlanarConfiguration)?
            .and_then(|v| v.into_u64().ok())
            .unwrap_or(1)
            != 1
        {
            return Err("separate colour planes are not read".into());
        }
        let compression = match get(Tag::Compression)?
            .and_then(|v| v.into_u64().ok())
            .unwrap_or(1)
        {
            1 => Compression::None,
            5 => Compression::Lzw,
            8 | 32946 => Compression::Deflate,
            7 => Compression::Jpeg,
            other => return Err(format!("compression {other} is not read")),
        };
        let horizontal_predictor = match get(Tag::Predictor)?.and_then(|v| v.into_u64().ok()) {
            None | Some(1) => false,
            Some(2) => true,
            Some(p) => return Err(format!("predictor {p} is not read")),
        };
        let vec = |v: Option<tiff::decoder::ifd::Value>, what: &str| -> Result<Vec<u64>, String> {
            v.ok_or(format!("no {what}"))?
                .into_u64_vec()
                .map_err(|e| format!("{what}: {e}"))
        };
        let (chunk, offsets, counts) = match get(Tag::TileWidth)? {
            Some(tw) => {
                let tw = tw.into_u64().map_err(|e| e.to_string())? as u32;
                let th = u(get(Tag::TileLength)?, "TileLength")? as u32;
                (
                    (tw, th),
                    vec(get(Tag::TileOffsets)?, "TileOffsets")?,
                    vec(get(Tag::TileByteCounts)?, "TileByteCounts")?,
                )
            }
            None => {
                let rows = get(Tag::RowsPerStrip)?
                    .and_then(|v| v.into_u64().ok())
                    .unwrap_or(u64::from(height))
                    .min(u64::from(height)) as u32;
                (
                    (width, rows),
                    vec(get(Tag::StripOffsets)?, "StripOffsets")?,
                    vec(get(Tag::StripByteCounts)?, "StripByteCounts")?,
                )
            }
        };
        if chunk.0 == 0 || chunk.1 == 0 || width == 0 || height == 0 {
            return Err("an empty image or chunk".into());
        }
        let expected = u64::from(width.div_ceil(chunk.0)) * u64::from(height.div_ceil(chunk.1));
        if offsets.len() as u64 != expected || counts.len() as u64 != expected {
            return Err(format!(
                "{} offsets and {} byte counts for {expected} chunks",
                offsets.len(),
                counts.len()
            ));
        }
        let jpeg_tables = get(Tag::JPEGTables)?.and_then(|v| v.into_u8_vec().ok());
        Ok(Self {
            width,
            height,
            chunk,
            offsets,
            counts,
            compression,
            horizontal_predictor,
            samples,
            jpeg_tables,
        })
    }

    fn across(&self) -> u32 {
        self.width.div_ceil(self.chunk.0)
    }
}

/// What the OME-XML says of the first image.
struct OmeMeta {
    /// µm per pixel.
    mpp: Option<(f64, f64)>,
    objective: Option<f64>,
    /// `ome.*` entries for the properties panel.
    properties: BTreeMap<String, String>,
}

/// Physical size (µm/px), objective power and the image's name from OME-XML.
fn parse_ome(xml: &str) -> OmeMeta {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut props = BTreeMap::new();
    let (mut sx, mut sy, mut ux, mut uy, mut mag) = (None, None, None, None, None);
    let mut in_first_image = false;
    let mut images = 0;
    while let Ok(ev) = reader.read_event() {
        let e = match &ev {
            Event::Start(e) | Event::Empty(e) => e,
            Event::Eof => break,
            _ => continue,
        };
        let local = e.local_name();
        let name: String = AsRef::<str>::as_ref(&local).to_owned();
        let attr = |key: &str| {
            e.attributes().flatten().find_map(|a| {
                (AsRef::<str>::as_ref(&a.key.local_name()) == key)
                    .then(|| AsRef::<str>::as_ref(&a.value).to_owned())
            })
        };
        match name.as_str() {
            "Image" => {
                images += 1;
                in_first_image = images == 1;
                if let (true, Some(n)) = (in_first_image, attr("Name")) {
                    props.insert("ome.Image.Name".into(), n);
                }
            }
            "Pixels" if in_first_image && sx.is_none() => {
                sx = attr("PhysicalSizeX").and_then(|v| v.parse::<f64>().ok());
                sy = attr("PhysicalSizeY").and_then(|v| v.parse::<f64>().ok());
                ux = attr("PhysicalSizeXUnit");
                uy = attr("PhysicalSizeYUnit");
                for k in [
                    "PhysicalSizeX",
                    "PhysicalSizeY",
                    "SizeC",
                    "Type",
                    "DimensionOrder",
                ] {
                    if let Some(v) = attr(k) {
                        props.insert(format!("ome.Pixels.{k}"), v);
                    }
                }
            }
            "Objective" if mag.is_none() => {
                mag = attr("NominalMagnification").and_then(|v| v.parse::<f64>().ok());
            }
            _ => {}
        }
    }
    // OME's default unit is the micrometre.
    let to_um = |v: f64, unit: Option<&str>| match unit.unwrap_or("µm") {
        "µm" | "um" | "micron" => Some(v),
        "nm" => Some(v / 1000.0),
        "mm" => Some(v * 1000.0),
        "m" => Some(v * 1e6),
        _ => None,
    };
    let mpp = match (sx, sy) {
        (Some(x), Some(y)) => to_um(x, ux.as_deref())
            .zip(to_um(y, uy.as_deref()))
            .filter(|(x, y)| *x > 0.0 && *y > 0.0 && x.is_finite() && y.is_finite()),
        _ => None,
    };
    OmeMeta {
        mpp,
        objective: mag,
        properties: props,
    }
}

type Chunk = Arc<Vec<u8>>;

/// An OME-TIFF pyramid (see the module documentation).
pub struct OmeTiffSource {
    path: PathBuf,
    file: std::fs::File,
    infos: Vec<LevelInfo>,
    levels: Vec<Level>,
    mpp: Option<(f64, f64)>,
    objective: Option<f64>,
    properties: BTreeMap<String, String>,
    id: super::SlideId,
    /// Decoded chunks, RGBA, keyed by (level, chunk index).
    cache: Mutex<lru::LruCache<(usize, usize), Chunk>>,
}

impl OmeTiffSource {
    pub fn open(path: &Path) -> Result<Self, SlideError> {
        let path_buf = path.to_path_buf();
        let corrupt = |reason: String| SlideError::Corrupt {
            path: path_buf.clone(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| SlideError::Io {
            path: path_buf.clone(),
            source: e,
        })?;
        let mut dec = Decoder::new(std::io::BufReader::new(file.try_clone().map_err(|e| {
            SlideError::Io {
                path: path_buf.clone(),
                source: e,
            }
        })?))
        .map_err(|e| corrupt(format!("not a readable TIFF: {e}")))?;
        let mut main = dec.image_ifd();
        let description = main
            .find_tag(Tag::ImageDescription)
            .ok()
            .flatten()
            .and_then(|v| v.into_string().ok())
            .unwrap_or_default();
        let subs: Vec<u64> = match main
            .find_tag(Tag::SubIfd)
            .map_err(|e| corrupt(e.to_string()))?
        {
            None => Vec::new(),
            Some(v) => match v.clone().into_ifd_vec() {
                Ok(p) => p.into_iter().map(|p| p.0).collect(),
                Err(_) => v
                    .into_u64_vec()
                    .map_err(|e| corrupt(format!("SubIFDs: {e}")))?,
            },
        };
        let mut infos =
            vec![LevelInfo::read(&mut main).map_err(|e| corrupt(format!("level 0: {e}")))?];
        for (i, offset) in subs.into_iter().enumerate() {
            let dir = dec
                .read_directory(tiff::tags::IfdPointer(offset))
                .map_err(|e| corrupt(format!("SubIFD {i}: {e}")))?;
            let mut t = dec.read_directory_tags(&dir);
            infos.push(
                LevelInfo::read(&mut t).map_err(|e| corrupt(format!("level {}: {e}", i + 1)))?,
            );
        }
        let size = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        for (l, info) in infos.iter().enumerate() {
            if let Some(i) = info
                .offsets
                .iter()
                .zip(&info.counts)
                .position(|(o, c)| o.checked_add(*c).is_none_or(|end| end > size))
            {
                return Err(corrupt(format!(
                    "level {l}: chunk {i} lies past the end of the file (truncated?)"
                )));
            }
        }
        // Levels finest first, as a pyramid reads.
        infos.sort_by_key(|i| std::cmp::Reverse(u64::from(i.width) * u64::from(i.height)));
        let (w0, h0) = (f64::from(infos[0].width), f64::from(infos[0].height));
        let levels = infos
            .iter()
            .map(|i| Level {
                width_px: u64::from(i.width),
                height_px: u64::from(i.height),
                downsample: (w0 / f64::from(i.width) + h0 / f64::from(i.height)) / 2.0,
                tile_size_px: Some(i.chunk),
            })
            .collect::<Vec<_>>();
        let OmeMeta {
            mpp,
            objective,
            mut properties,
        } = parse_ome(&description);
        properties.insert("sentinel.reader".into(), "OME-TIFF (SubIFD pyramid)".into());
        properties.insert("tiff.ImageDescription".into(), description);
        let id =
            super::SlideId::compute(path, &properties, &levels).map_err(|e| SlideError::Io {
                path: path_buf.clone(),
                source: e,
            })?;
        Ok(Self {
            path: path_buf,
            file,
            infos,
            levels,
            mpp,
            objective,
            properties,
            id,
            cache: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(CHUNK_CACHE).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
        })
    }

    /// Chunk `index` of `level` as RGBA (its full chunk size; strips at the bottom may be short).
    fn chunk(&self, level: usize, index: usize) -> Result<Chunk, SlideError> {
        if let Some(c) = self
            .cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(&(level, index)).cloned())
        {
            return Ok(c);
        }
        let info = &self.infos[level];
        let corrupt = |reason: String| SlideError::Corrupt {
            path: self.path.clone(),
            reason: format!("level {level}, chunk {index}: {reason}"),
        };
        let (cw, ch) = (info.chunk.0 as usize, info.chunk.1 as usize);
        let mut raw = vec![0u8; info.counts[index] as usize];
        self.file
            .read_exact_at(&mut raw, info.offsets[index])
            .map_err(|e| SlideError::Io {
                path: self.path.clone(),
                source: e,
            })?;
        let spp = info.samples;
        let mut data = match info.compression {
            Compression::None => raw,
            // A chunk decodes to at most its own size: a hostile stream cannot inflate further.
            Compression::Deflate => {
                let mut out = Vec::with_capacity(cw * ch * spp);
                flate2::read::ZlibDecoder::new(&raw[..])
                    .take((cw * ch * spp) as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| corrupt(format!("deflate: {e}")))?;
                out
            }
            Compression::Lzw => {
                let mut dec =
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
                let mut out = vec![0u8; cw * ch * spp];
                let (mut input, mut filled) = (&raw[..], 0);
                // The decoder works in steps; it stops at the end code, a full chunk or no input.
                loop {
                    let r = dec.decode_bytes(input, &mut out[filled..]);
                    let status = r.status.map_err(|e| corrupt(format!("LZW: {e}")))?;
                    input = input.get(r.consumed_in..).unwrap_or_default();
                    filled += r.consumed_out;
                    let stuck = r.consumed_in == 0 && r.consumed_out == 0;
                    if stuck || !matches!(status, weezl::LzwStatus::Ok) || filled == out.len() {
                        break;
                    }
                }
                out.truncate(filled);
                out
            }
            Compression::Jpeg => {
                let bytes = super::direct::with_tables(&raw, info.jpeg_tables.as_deref());
                let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
                    .map_err(|e| corrupt(format!("JPEG: {e}")))?;
                if spp == 1 {
                    img.to_luma8().into_raw()
                } else {
                    img.to_rgb8().into_raw()
                }
            }
        };
        let spp = if info.compression == Compression::Jpeg {
            spp.min(3)
        } else {
            spp
        };
        let rows = data.len() / (cw * spp).max(1);
        if rows == 0 {
            return Err(corrupt("no pixels".into()));
        }
        if info.horizontal_predictor {
            for row in data.chunks_exact_mut(cw * spp) {
                for i in spp..row.len() {
                    row[i] = row[i].wrapping_add(row[i - spp]);
                }
            }
        }
        let mut rgba = vec![0u8; cw * ch * 4];
        for (src, dst) in data
            .chunks_exact(spp)
            .take(cw * rows.min(ch))
            .zip(rgba.chunks_exact_mut(4))
        {
            let (r, g, b) = if spp >= 3 {
                (src[0], src[1], src[2])
            } else {
                (src[0], src[0], src[0])
            };
            dst.copy_from_slice(&[r, g, b, 255]);
        }
        let chunk = Arc::new(rgba);
        if let Ok(mut c) = self.cache.lock() {
            c.put((level, index), Arc::clone(&chunk));
        }
        Ok(chunk)
    }
}

impl SlideSource for OmeTiffSource {
    fn path(&self) -> &Path {
        &self.path
    }
    fn reader(&self) -> &'static str {
        "Sentinel OME-TIFF reader"
    }

    fn id(&self) -> &super::SlideId {
        &self.id
    }

    fn levels(&self) -> &[Level] {
        &self.levels
    }

    fn mpp(&self) -> Option<(f64, f64)> {
        self.mpp
    }

    fn objective_power(&self) -> Option<f64> {
        self.objective
    }

    fn vendor(&self) -> &str {
        "ome-tiff"
    }

    fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    fn associated_image_names(&self) -> &[String] {
        &[]
    }

    fn associated_image(&self, name: &str) -> Result<RgbaImage, SlideError> {
        Err(SlideError::NoSuchAssociatedImage {
            path: self.path.clone(),
            name: name.to_owned(),
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
        let info = self.infos.get(level).ok_or(SlideError::NoSuchLevel {
            path: self.path.clone(),
            level,
            count: self.infos.len(),
        })?;
        super::image::check_region_size(&self.path, width, height)?;
        let ds = self.levels[level].downsample;
        // The region's top-left in this level's pixels, as OpenSlide places it.
        let lx = (x as f64 / ds).floor() as i64;
        let ly = (y as f64 / ds).floor() as i64;
        let mut out = RgbaImage::transparent(width, height);
        let (cw, ch) = (i64::from(info.chunk.0), i64::from(info.chunk.1));
        let x0 = lx.max(0);
        let y0 = ly.max(0);
        let x1 = (lx + i64::from(width)).min(i64::from(info.width));
        let y1 = (ly + i64::from(height)).min(i64::from(info.height));
        if x0 >= x1 || y0 >= y1 {
            return Ok(out);
        }
        for cy in (y0 / ch)..=((y1 - 1) / ch) {
            for cx in (x0 / cw)..=((x1 - 1) / cw) {
                let index = (cy * i64::from(info.across()) + cx) as usize;
                let chunk = self.chunk(level, index)?;
                // The overlap of this chunk with the region, in level pixels.
                let (ox0, oy0) = ((cx * cw).max(x0), (cy * ch).max(y0));
                let (ox1, oy1) = (((cx + 1) * cw).min(x1), ((cy + 1) * ch).min(y1));
                let n = ((ox1 - ox0) * 4) as usize;
                for py in oy0..oy1 {
                    let src = (((py - cy * ch) * cw + (ox0 - cx * cw)) * 4) as usize;
                    let dst = (((py - ly) * i64::from(width) + (ox0 - lx)) * 4) as usize;
                    out.pixels[dst..dst + n].copy_from_slice(&chunk[src..src + n]);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ome_xml_gives_the_pixel_size_in_micrometres_and_the_objective() {
        let xml = r#"<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
            <Instrument ID="Instrument:0"><Objective ID="Objective:0" NominalMagnification="40"/></Instrument>
            <Image ID="Image:0" Name="case 7"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8"
              SizeX="100" SizeY="50" SizeC="3" SizeZ="1" SizeT="1" PhysicalSizeX="250" PhysicalSizeXUnit="nm"
              PhysicalSizeY="0.25"/></Image>
            <Image ID="Image:1" Name="macro"><Pixels PhysicalSizeX="9" PhysicalSizeY="9"/></Image></OME>"#;
        let m = parse_ome(xml);
        assert_eq!(
            m.mpp,
            Some((0.25, 0.25)),
            "nm converted; the macro image ignored"
        );
        assert_eq!(m.objective, Some(40.0));
        assert_eq!(
            m.properties.get("ome.Image.Name").map(String::as_str),
            Some("case 7")
        );
        let mpp = parse_ome(
            r#"<OME><Image><Pixels PhysicalSizeX="1" PhysicalSizeY="1" PhysicalSizeXUnit="parsec"/></Image></OME>"#,
        )
        .mpp;
        assert_eq!(mpp, None, "an unknown unit is no pixel size");
    }
}
