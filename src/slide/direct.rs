//! Direct tile decoding for slides that are JPEG tiles in a TIFF (Aperio SVS, generic tiled
//! TIFF): the tiles a region needs are read at their offsets with positioned reads (no lock
//! between threads), decoded straight to RGB and kept in a small shared cache of decoded tiles,
//! instead of going through OpenSlide's cache, premultiplied-ARGB conversion and locks. OpenSlide
//! still opens the slide (identity, properties, associated images) and stays the reader of every
//! level this path does not recognise with certainty: the direct path is taken only when every
//! level OpenSlide reports is a tiled, 8-bit, 3-sample, JPEG-compressed TIFF directory of exactly
//! its size and tile size.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tiff::decoder::Decoder;
use tiff::tags::Tag;

use super::{Level, OpenSlideSource, RgbaImage, SlideError, SlideId, SlideSource};

/// Decoded tiles kept, shared by every thread reading this slide (RGB bytes).
const CACHE_BYTES: usize = 96 << 20;
/// Cache shards: readers of different tiles rarely wait on one another.
const SHARDS: usize = 16;
/// The most bytes one compressed tile may claim (a 4096 px tile at no compression is 48 MiB).
const MAX_TILE_BYTES: u64 = 64 << 20;

/// One pyramid level as the TIFF stores it.
#[derive(Debug, Clone)]
struct JpegLevel {
    width: u32,
    height: u32,
    tile: (u32, u32),
    offsets: Vec<u64>,
    counts: Vec<u64>,
    /// JPEGTables: the quantisation and Huffman tables the tiles leave out.
    tables: Option<Vec<u8>>,
    /// PhotometricInterpretation RGB: the JPEG's components are R, G, B (Aperio's quirk), not
    /// YCbCr.
    rgb_components: bool,
}

impl JpegLevel {
    fn across(&self) -> u32 {
        self.width.div_ceil(self.tile.0)
    }
}

/// What a TIFF directory is, for matching against OpenSlide's levels; `None` when it is not one
/// this path reads (not tiled, not JPEG, not 8-bit RGB).
fn jpeg_level(t: &mut tiff::decoder::IfdDecoder<'_>) -> Option<JpegLevel> {
    let mut u = |tag: Tag| {
        t.find_tag(tag)
            .ok()
            .flatten()
            .and_then(|v| v.into_u64().ok())
    };
    let width = u(Tag::ImageWidth)? as u32;
    let height = u(Tag::ImageLength)? as u32;
    let tile = (u(Tag::TileWidth)? as u32, u(Tag::TileLength)? as u32);
    if u(Tag::Compression)? != 7 || u(Tag::SamplesPerPixel).unwrap_or(1) != 3 {
        return None;
    }
    if u(Tag::PlanarConfiguration).unwrap_or(1) != 1 {
        return None;
    }
    let photometric = u(Tag::PhotometricInterpretation)?;
    if !matches!(photometric, 2 | 6) || tile.0 == 0 || tile.1 == 0 || width == 0 || height == 0 {
        return None;
    }
    let bits = t
        .find_tag(Tag::BitsPerSample)
        .ok()
        .flatten()
        .and_then(|v| v.into_u64_vec().ok())
        .unwrap_or_default();
    if bits.iter().any(|&b| b != 8) {
        return None;
    }
    let mut vec = |tag: Tag| {
        t.find_tag(tag)
            .ok()
            .flatten()
            .and_then(|v| v.into_u64_vec().ok())
    };
    let offsets = vec(Tag::TileOffsets)?;
    let counts = vec(Tag::TileByteCounts)?;
    let tables = t
        .find_tag(Tag::JPEGTables)
        .ok()
        .flatten()
        .and_then(|v| v.into_u8_vec().ok());
    let expected = u64::from(width.div_ceil(tile.0)) * u64::from(height.div_ceil(tile.1));
    if offsets.len() as u64 != expected || counts.len() as u64 != expected {
        return None;
    }
    Some(JpegLevel {
        width,
        height,
        tile,
        offsets,
        counts,
        tables,
        rgb_components: photometric == 2,
    })
}

/// Every directory of the TIFF's main chain that this path could read.
fn jpeg_levels(path: &Path) -> Vec<JpegLevel> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(mut dec) = Decoder::new(std::io::BufReader::new(file)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    loop {
        if let Some(l) = jpeg_level(&mut dec.image_ifd()) {
            out.push(l);
        }
        if !dec.more_images() || dec.next_image().is_err() {
            break;
        }
    }
    out
}

/// (level, tile index, reduction: 1 for full size, else 2, 4 or 8).
type TileKey = (usize, u32, u32);

/// The JPEG decoder of the tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegCodec {
    /// libjpeg-turbo (TurboJPEG 3, built with the crate): the decoder OpenSlide uses, so the same
    /// pixels. A stream with components stored as R, G, B that a JFIF marker calls YCbCr goes to
    /// the pure-Rust decoders (TurboJPEG cannot be told a stream's colour space).
    LibjpegTurbo,
    /// zune-jpeg (pure Rust; jpeg-decoder for reduced sizes): within 1 of 255 of libjpeg-turbo
    /// on components stored as RGB, within 4 on YCbCr 4:2:0 (its IDCT and chroma upsampling round
    /// differently).
    Zune,
}

/// A slide read through its JPEG tiles, with OpenSlide for everything else.
pub struct DirectTiffSource {
    inner: OpenSlideSource,
    file: std::fs::File,
    levels: Vec<JpegLevel>,
    cache: Vec<Mutex<crate::tiles::cache::ByteLru<TileKey, Arc<Vec<u8>>>>>,
    codec: JpegCodec,
}

impl DirectTiffSource {
    /// The direct reader of `inner`'s file, or `inner` back when any of its levels is not plainly
    /// a JPEG-tiled TIFF directory (then OpenSlide reads it, as before).
    pub fn new(inner: OpenSlideSource) -> Result<Self, Box<OpenSlideSource>> {
        if !matches!(inner.vendor(), "aperio" | "generic-tiff") {
            return Err(Box::new(inner));
        }
        let found = jpeg_levels(inner.path());
        let mut levels = Vec::new();
        for l in inner.levels() {
            let m = found.iter().find(|j| {
                u64::from(j.width) == l.width_px
                    && u64::from(j.height) == l.height_px
                    && l.tile_size_px.is_none_or(|t| t == j.tile)
            });
            match m {
                Some(j) => levels.push(j.clone()),
                None => return Err(Box::new(inner)),
            }
        }
        let Ok(file) = std::fs::File::open(inner.path()) else {
            return Err(Box::new(inner));
        };
        let cache = (0..SHARDS)
            .map(|_| Mutex::new(crate::tiles::cache::ByteLru::new(CACHE_BYTES / SHARDS)))
            .collect();
        Ok(Self {
            inner,
            file,
            levels,
            cache,
            codec: JpegCodec::LibjpegTurbo,
        })
    }

    /// The same reader with another JPEG decoder (the benchmark compares them).
    pub fn with_codec(mut self, codec: JpegCodec) -> Self {
        self.codec = codec;
        self
    }

    fn corrupt(&self, reason: String) -> SlideError {
        SlideError::Corrupt {
            path: self.inner.path().to_path_buf(),
            reason,
        }
    }

    /// Tile `index` of `level`, decoded to RGB at 1/`factor` of its size (`tile / factor` pixels
    /// a side, `factor` 1, 2, 4 or 8; empty for a tile the file does not hold), from the cache or
    /// the file.
    fn tile(&self, level: usize, index: u32, factor: u32) -> Result<Arc<Vec<u8>>, SlideError> {
        let shard = &self.cache[(index as usize ^ level.wrapping_mul(7919)) % SHARDS];
        let key = (level, index, factor);
        if let Some(t) = shard.lock().ok().and_then(|mut c| c.get(&key).cloned()) {
            return Ok(t);
        }
        let l = &self.levels[level];
        let i = index as usize;
        let (offset, count) = (l.offsets[i], l.counts[i]);
        let (tw, th) = (l.tile.0 as usize, l.tile.1 as usize);
        let rgb = if count == 0 {
            // A tile the file does not hold (a sparse scan): left transparent, as OpenSlide
            // leaves a missing tile. Empty here, skipped when copied.
            Vec::new()
        } else {
            // A damaged byte count must not become a huge allocation.
            if count > MAX_TILE_BYTES {
                return Err(
                    self.corrupt(format!("level {level} tile {index}: {count} bytes claimed"))
                );
            }
            let mut raw = vec![0u8; count as usize];
            self.file.read_exact_at(&mut raw, offset).map_err(|e| {
                self.corrupt(format!("level {level} tile {index} at byte {offset}: {e}"))
            })?;
            let stream = with_tables(&raw, l.tables.as_deref());
            let decoded = self.decode(&stream, l.rgb_components, (tw, th), factor);
            decoded.map_err(|e| self.corrupt(format!("level {level} tile {index}: JPEG: {e}")))?
        };
        let rgb = Arc::new(rgb);
        if let Ok(mut c) = shard.lock() {
            c.insert(key, Arc::clone(&rgb), rgb.len().max(1));
        }
        Ok(rgb)
    }

    /// A tile's RGB at 1/`factor` with this reader's codec. The pure-Rust decoders (zune-jpeg at
    /// full size, jpeg-decoder reduced) take what libjpeg-turbo cannot be told how to read.
    fn decode(
        &self,
        stream: &[u8],
        rgb_components: bool,
        size: (usize, usize),
        factor: u32,
    ) -> Result<Vec<u8>, String> {
        if self.codec == JpegCodec::LibjpegTurbo
            && let Some(px) = decode_rgb_turbo(stream, rgb_components, size, factor)?
        {
            return Ok(px);
        }
        if factor == 1 {
            decode_rgb(stream, rgb_components, size)
        } else {
            decode_rgb_reduced(stream, rgb_components, size, factor)
        }
    }
}

/// A tile's abbreviated JPEG stream with the directory's tables put in after its SOI (the
/// tables' own SOI .. EOI wrap the quantisation and Huffman tables).
pub(super) fn with_tables(raw: &[u8], tables: Option<&[u8]>) -> Vec<u8> {
    match tables {
        Some(t) if t.len() > 4 && raw.len() > 2 => {
            let mut b = Vec::with_capacity(t.len() + raw.len());
            b.extend_from_slice(&raw[..2]);
            b.extend_from_slice(&t[2..t.len() - 2]);
            b.extend_from_slice(&raw[2..]);
            b
        }
        _ => raw.to_vec(),
    }
}

/// Decodes a tile to RGB of exactly `size` (a short or long stream is an error).
pub(crate) fn decode_rgb(
    stream: &[u8],
    rgb_components: bool,
    size: (usize, usize),
) -> Result<Vec<u8>, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = |out| {
        DecoderOptions::default()
            .jpeg_set_out_colorspace(out)
            .set_strict_mode(true)
    };
    let mut dec =
        zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(stream), options(ColorSpace::RGB));
    dec.decode_headers().map_err(|e| e.to_string())?;
    match dec.input_colorspace() {
        Some(ColorSpace::RGB) => {}
        // Aperio's quirk: the TIFF says RGB, the JPEG's components are R, G, B, but their ids do
        // not say so and the decoder would take them for YCbCr. Asking for its input colour space
        // as output returns the components as stored, which are R, G, B (as OpenSlide reads
        // them: libjpeg told the stream is RGB).
        Some(ColorSpace::YCbCr) if rgb_components => dec.set_options(options(ColorSpace::YCbCr)),
        Some(ColorSpace::YCbCr) => {}
        other => return Err(format!("{other:?} components, not an RGB image")),
    }
    let (w, h) = dec.dimensions().ok_or("no dimensions")?;
    if (w, h) != size {
        return Err(format!(
            "{w} x {h} px, not the tile size {} x {}",
            size.0, size.1
        ));
    }
    let px = dec.decode().map_err(|e| e.to_string())?;
    if px.len() != size.0 * size.1 * 3 {
        return Err(format!("{} bytes decoded", px.len()));
    }
    Ok(px)
}

/// The size of a `size` tile decoded at 1/`factor`: `factor` one of `allowed`, dividing both sides.
fn scaled_size(
    size: (usize, usize),
    factor: u32,
    allowed: &[u32],
) -> Result<(usize, usize), String> {
    let f = factor as usize;
    if !allowed.contains(&factor) || !size.0.is_multiple_of(f) || !size.1.is_multiple_of(f) {
        return Err(format!(
            "cannot decode {} x {} at 1/{factor}",
            size.0, size.1
        ));
    }
    Ok((size.0 / f, size.1 / f))
}

/// An Adobe APP14 marker saying "no colour transform": libjpeg then takes the three components for
/// R, G, B, as OpenSlide tells it to when the TIFF says RGB (TurboJPEG has no way to say so).
const ADOBE_RGB: [u8; 16] = [
    0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o', b'b', b'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Decodes a tile of `size` to RGB at 1/`factor` (1, or 2, 4, 8 dividing both sides: its scaled
/// IDCT) with libjpeg-turbo (integer IDCT and smooth chroma upsampling: libjpeg's defaults, which
/// OpenSlide keeps). `None` for a stream whose components are R, G, B but that libjpeg would still
/// take for YCbCr (a JFIF marker says so), which the pure-Rust decoders read instead.
pub(crate) fn decode_rgb_turbo(
    stream: &[u8],
    rgb_components: bool,
    size: (usize, usize),
    factor: u32,
) -> Result<Option<Vec<u8>>, String> {
    let (w, h) = scaled_size(size, factor, &[1, 2, 4, 8])?;
    // Aperio's quirk: the TIFF says RGB, the JPEG's component ids do not.
    let marked;
    let stream = if rgb_components && stream.starts_with(&[0xFF, 0xD8]) {
        marked = [&stream[..2], &ADOBE_RGB[..], &stream[2..]].concat();
        &marked[..]
    } else {
        stream
    };
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};
    thread_local! {
        // One decompressor per reader thread: creating one allocates libjpeg's state.
        static DECOMPRESSOR: std::cell::RefCell<Option<Decompressor>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with_borrow_mut(|slot| {
        let dec = match slot {
            Some(d) => d,
            None => slot.insert(Decompressor::new().map_err(|e| e.to_string())?),
        };
        let header = dec.read_header(stream).map_err(|e| e.to_string())?;
        match header.colorspace {
            Colorspace::RGB => {}
            Colorspace::YCbCr if rgb_components => return Ok(None),
            Colorspace::YCbCr => {}
            other => return Err(format!("{other:?} components, not an RGB image")),
        }
        if (header.width, header.height) != size {
            return Err(format!(
                "{} x {} px, not the tile size {} x {}",
                header.width, header.height, size.0, size.1
            ));
        }
        dec.set_scaling_factor(ScalingFactor::new(1, factor as usize))
            .map_err(|e| e.to_string())?;
        let mut px = vec![0u8; w * h * 3];
        let image = Image {
            pixels: px.as_mut_slice(),
            width: w,
            pitch: w * 3,
            height: h,
            format: PixelFormat::RGB,
        };
        // A warning (a truncated stream, say) is an error here too: half a tile is not a tile.
        dec.decompress(stream, image).map_err(|e| e.to_string())?;
        Ok(Some(px))
    })
}

/// Decodes a tile of `size` at 1/`factor` (2, 4 or 8, dividing both sides) with the JPEG's
/// reduced-size IDCT: each 8x8 block straight to 4x4, 2x2 or 1x1, so the full-size pixels are never
/// made. RGB, `size / factor` a side.
pub(crate) fn decode_rgb_reduced(
    stream: &[u8],
    rgb_components: bool,
    size: (usize, usize),
    factor: u32,
) -> Result<Vec<u8>, String> {
    let (w, h) = scaled_size(size, factor, &[2, 4, 8])?;
    let mut dec = jpeg_decoder::Decoder::new(stream);
    dec.read_info().map_err(|e| e.to_string())?;
    let info = dec.info().ok_or("no header")?;
    if (usize::from(info.width), usize::from(info.height)) != size {
        return Err(format!(
            "{} x {} px, not the tile size {} x {}",
            info.width, info.height, size.0, size.1
        ));
    }
    if info.pixel_format != jpeg_decoder::PixelFormat::RGB24 {
        return Err(format!("{:?} pixels, not an RGB image", info.pixel_format));
    }
    // Aperio's quirk (see `decode_rgb`): the components are R, G, B whatever their ids say.
    if rgb_components {
        dec.set_color_transform(jpeg_decoder::ColorTransform::RGB);
    }
    let want = (w as u16, h as u16);
    let got = dec.scale(want.0, want.1).map_err(|e| e.to_string())?;
    if got != want {
        return Err(format!("scaled to {got:?}, not {want:?}"));
    }
    let px = dec.decode().map_err(|e| e.to_string())?;
    if px.len() != w * h * 3 {
        return Err(format!("{} bytes decoded", px.len()));
    }
    Ok(px)
}

impl SlideSource for DirectTiffSource {
    fn path(&self) -> &Path {
        self.inner.path()
    }
    fn reader(&self) -> &'static str {
        "direct JPEG tiles (OpenSlide for metadata)"
    }
    fn id(&self) -> &SlideId {
        self.inner.id()
    }
    fn levels(&self) -> &[Level] {
        self.inner.levels()
    }
    fn mpp(&self) -> Option<(f64, f64)> {
        self.inner.mpp()
    }
    fn objective_power(&self) -> Option<f64> {
        self.inner.objective_power()
    }
    fn vendor(&self) -> &str {
        self.inner.vendor()
    }
    fn properties(&self) -> &BTreeMap<String, String> {
        self.inner.properties()
    }
    fn associated_image_names(&self) -> &[String] {
        self.inner.associated_image_names()
    }
    fn associated_image(&self, name: &str) -> Result<RgbaImage, SlideError> {
        self.inner.associated_image(name)
    }

    fn read_region(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
    ) -> Result<RgbaImage, SlideError> {
        self.compose(level, x, y, width, height, 1)
    }

    fn read_region_reduced(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
        factor: u32,
    ) -> Result<RgbaImage, SlideError> {
        let aligned = self
            .levels
            .get(level)
            .zip(self.inner.levels().get(level))
            .is_some_and(|(l, info)| {
                let lx = (x as f64 / info.downsample).round() as i64;
                let ly = (y as f64 / info.downsample).round() as i64;
                let f = i64::from(factor);
                matches!(factor, 2 | 4 | 8)
                    && l.tile.0 % factor == 0
                    && l.tile.1 % factor == 0
                    && lx % f == 0
                    && ly % f == 0
            });
        if aligned {
            self.compose(level, x, y, width, height, factor)
        } else {
            super::image::read_reduced_by_averaging(self, level, x, y, width, height, factor)
        }
    }
}

impl DirectTiffSource {
    /// `width` x `height` pixels of `level` at 1/`factor` (1, or 2, 4, 8 with the region's corner
    /// and the tiles on the reduced grid), from tiles decoded at that size.
    fn compose(
        &self,
        level: usize,
        x: i64,
        y: i64,
        width: u32,
        height: u32,
        factor: u32,
    ) -> Result<RgbaImage, SlideError> {
        let (Some(l), Some(info)) = (self.levels.get(level), self.inner.levels().get(level)) else {
            return Err(SlideError::NoSuchLevel {
                path: self.inner.path().to_path_buf(),
                level,
                count: self.levels.len(),
            });
        };
        super::image::check_region_size(self.inner.path(), width, height)?;
        let mut out = RgbaImage::transparent(width, height);
        let f = i64::from(factor);
        // The region's corner on this level (the viewer asks at multiples of the downsample), on
        // the reduced grid.
        let lx = (x as f64 / info.downsample).round() as i64 / f;
        let ly = (y as f64 / info.downsample).round() as i64 / f;
        let (tw, th) = (i64::from(l.tile.0) / f, i64::from(l.tile.1) / f);
        // A reduced edge tile keeps its partial pixels: the level's reduced size rounds up.
        let (lw, lh) = (
            i64::from(l.width.div_ceil(factor)),
            i64::from(l.height.div_ceil(factor)),
        );
        let x_end = (lx + i64::from(width)).min(lw);
        let y_end = (ly + i64::from(height)).min(lh);
        let (x_start, y_start) = (lx.max(0), ly.max(0));
        if x_start >= x_end || y_start >= y_end {
            return Ok(out);
        }
        for row in (y_start / th)..=((y_end - 1) / th) {
            for col in (x_start / tw)..=((x_end - 1) / tw) {
                let index = (row * i64::from(l.across()) + col) as u32;
                let rgb = self.tile(level, index, factor)?;
                if rgb.is_empty() {
                    continue;
                }
                // The part of this tile inside both the region and the level.
                let (tx0, ty0) = (col * tw, row * th);
                let (ax0, ax1) = (x_start.max(tx0), x_end.min(tx0 + tw));
                let (ay0, ay1) = (y_start.max(ty0), y_end.min(ty0 + th));
                let n = (ax1 - ax0) as usize;
                for ay in ay0..ay1 {
                    let src = (((ay - ty0) * tw + (ax0 - tx0)) * 3) as usize;
                    let dst = (((ay - ly) * i64::from(width) + (ax0 - lx)) * 4) as usize;
                    let s = &rgb[src..src + n * 3];
                    let d = &mut out.pixels[dst..dst + n * 4];
                    for (p, q) in s.chunks_exact(3).zip(d.chunks_exact_mut(4)) {
                        q[0] = p[0];
                        q[1] = p[1];
                        q[2] = p[2];
                        q[3] = 255;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h))
            .flat_map(|i| [(i % 251) as u8, 120, 200])
            .collect();
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        out
    }

    #[test]
    fn tiles_decode_to_their_size_and_damage_is_an_error() {
        let j = jpeg(32, 16);
        let rgb = decode_rgb(&j, false, (32, 16)).expect("decodes");
        assert_eq!(rgb.len(), 32 * 16 * 3);
        assert!(
            (i32::from(rgb[1]) - 120).abs() <= 3,
            "green near 120: {}",
            rgb[1]
        );
        assert!(
            decode_rgb(&j, false, (16, 16))
                .expect_err("size")
                .contains("not the tile size")
        );
        assert!(
            decode_rgb(&j[..j.len() / 3], false, (32, 16)).is_err(),
            "truncated"
        );
        assert!(decode_rgb(b"not a jpeg", false, (32, 16)).is_err());
    }

    #[test]
    fn libjpeg_turbo_decodes_tiles_and_damage_is_an_error() {
        let j = jpeg(32, 16);
        let rgb = decode_rgb_turbo(&j, false, (32, 16), 1)
            .expect("decodes")
            .expect("a YCbCr stream");
        assert_eq!(rgb.len(), 32 * 16 * 3);
        let zune = decode_rgb(&j, false, (32, 16)).expect("decodes");
        let worst = rgb.iter().zip(&zune).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(worst <= Some(4), "the two decoders agree: {worst:?}");
        assert!(
            decode_rgb_turbo(&j, false, (16, 16), 1)
                .expect_err("size")
                .contains("not the tile size")
        );
        assert!(
            decode_rgb_turbo(&j[..j.len() / 3], false, (32, 16), 1).is_err(),
            "truncated"
        );
        assert!(decode_rgb_turbo(b"not a jpeg", false, (32, 16), 1).is_err());
    }

    #[test]
    fn components_stored_as_rgb_are_decoded_as_rgb() {
        // A YCbCr stream read as if its components were R, G, B: the marker put in front makes
        // libjpeg-turbo skip the colour transform, as OpenSlide's JCS_RGB does, so the output is
        // the stored Y, Cb, Cr planes, which is what zune-jpeg gives when asked for them.
        let j = jpeg(32, 16);
        let no_jfif = strip_jfif(&j);
        let raw = decode_rgb_turbo(&no_jfif, true, (32, 16), 1)
            .expect("decodes")
            .expect("taken for RGB");
        let zune = decode_rgb(&no_jfif, true, (32, 16)).expect("decodes");
        let worst = raw.iter().zip(&zune).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(worst <= Some(4), "stored components: {worst:?}");
        let converted = decode_rgb_turbo(&no_jfif, false, (32, 16), 1)
            .expect("decodes")
            .expect("YCbCr");
        assert_ne!(raw, converted, "the marker changed how the stream is read");
        // A JFIF marker says YCbCr whatever comes before it: zune-jpeg's turn.
        assert_ne!(j, no_jfif, "the encoder writes a JFIF marker");
        assert_eq!(decode_rgb_turbo(&j, true, (32, 16), 1), Ok(None));
    }

    /// The stream without its JFIF APP0 segment, if it has one right after SOI.
    fn strip_jfif(j: &[u8]) -> Vec<u8> {
        if j.len() > 6 && j[2..4] == [0xFF, 0xE0] {
            let len = usize::from(u16::from_be_bytes([j[4], j[5]]));
            [&j[..2], &j[4 + len..]].concat()
        } else {
            j.to_vec()
        }
    }

    #[test]
    fn tiles_decode_at_reduced_sizes_to_the_block_means() {
        let j = jpeg(32, 16);
        let full = decode_rgb(&j, false, (32, 16)).expect("decodes");
        let both = [2usize, 4, 8].into_iter().flat_map(|f| {
            let jd = decode_rgb_reduced(&j, false, (32, 16), f as u32).expect("decodes");
            let tj = decode_rgb_turbo(&j, false, (32, 16), f as u32)
                .expect("decodes")
                .expect("YCbCr");
            [(f, jd), (f, tj)]
        });
        for (f, small) in both {
            let (w, h) = (32 / f, 16 / f);
            assert_eq!(small.len(), w * h * 3, "1/{f}");
            // Each reduced pixel is close to the mean of its block of full-size pixels.
            for y in 0..h {
                for x in 0..w {
                    for c in 0..3 {
                        let mut sum = 0u32;
                        for dy in 0..f {
                            for dx in 0..f {
                                sum += u32::from(full[((y * f + dy) * 32 + x * f + dx) * 3 + c]);
                            }
                        }
                        let mean = sum as f64 / (f * f) as f64;
                        let got = f64::from(small[(y * w + x) * 3 + c]);
                        assert!(
                            (got - mean).abs() <= 40.0,
                            "1/{f} ({x},{y}) {c}: {got} vs {mean}"
                        );
                    }
                }
            }
            let g = small
                .iter()
                .skip(1)
                .step_by(3)
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / (w * h) as f64;
            assert!((g - 120.0).abs() < 4.0, "1/{f}: green {g}");
        }
        assert!(
            decode_rgb_reduced(&j, false, (32, 16), 3).is_err(),
            "factor 3"
        );
        assert!(decode_rgb_reduced(&j, false, (16, 16), 2).is_err(), "size");
        assert!(
            decode_rgb_turbo(&j, false, (32, 16), 3).is_err(),
            "factor 3"
        );
        assert!(decode_rgb_turbo(&j, false, (16, 16), 2).is_err(), "size");
        assert!(
            decode_rgb_reduced(&j[..j.len() / 3], false, (32, 16), 2).is_err(),
            "truncated"
        );
    }

    #[test]
    fn tables_go_after_the_tiles_own_start_marker() {
        let tables = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        let tile = [0xFF, 0xD8, 9, 9, 0xFF, 0xD9];
        assert_eq!(
            with_tables(&tile, Some(&tables)),
            [0xFF, 0xD8, 1, 2, 3, 9, 9, 0xFF, 0xD9]
        );
        assert_eq!(with_tables(&tile, None), tile);
    }
}
