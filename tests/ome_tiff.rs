//! OME-TIFF pyramids (reduced levels as SubIFDs, which OpenSlide 4 reads as level 0 only) read by
//! Sentinel's own reader: a fixture written by the project and two written by tifffile, every
//! level compared pixel for pixel with the pixels they were made from, and with tifffile's and
//! OpenSlide's reading where those apply.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sentinel::slide::SlideSource;
use sentinel::tiff_writer::{Directory, TiffWriter, Value, tag};

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python");
    assert!(p.is_file(), "{} is absent: run ./setup", p.display());
    p
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ome_fixtures.py")
}

/// The fixtures' pixels (the same function as tests/ome_fixtures.py), RGB.
fn pattern(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            out.push(((x * 7 + y * 3) % 256) as u8);
            out.push(((x * y / 5) % 256) as u8);
            out.push((((x / 16 + y / 16) % 2) * 200 + x % 50) as u8);
        }
    }
    out
}

/// Every other pixel of every other row (numpy's `a[::2, ::2]`).
fn decimate(rgb: &[u8], w: u32, h: u32) -> (Vec<u8>, u32, u32) {
    let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = Vec::with_capacity((nw * nh * 3) as usize);
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let i = ((y * w + x) * 3) as usize;
            out.extend_from_slice(&rgb[i..i + 3]);
        }
    }
    (out, nw, nh)
}

fn pyramid() -> Vec<(Vec<u8>, u32, u32)> {
    let mut levels = vec![(pattern(517, 391), 517, 391)];
    for _ in 0..2 {
        let (rgb, w, h) = levels.last().cloned().expect("level");
        levels.push(decimate(&rgb, w, h));
    }
    levels
}

/// How the fixture's tiles are coded.
#[derive(Clone, Copy, PartialEq)]
enum Codec {
    Deflate,
    /// LZW over horizontally differenced rows (TIFF predictor 2).
    LzwPredicted,
    /// JPEG, YCbCr 4:2:0, as scanners write.
    Jpeg,
}

/// Writes `levels` as an OME-TIFF (BigTIFF, `tile` px tiles, reduced levels as SubIFDs of the
/// first image) with this project's TIFF writer.
fn write_ome(path: &Path, levels: &[(Vec<u8>, u32, u32)], tile: u32, mpp: f64, codec: Codec) {
    let mut out = TiffWriter::create(path).expect("create");
    let mut dirs = Vec::new();
    for (i, (rgb, w, h)) in levels.iter().enumerate() {
        let (mut offsets, mut counts) = (Vec::new(), Vec::new());
        for ty in 0..h.div_ceil(tile) {
            for tx in 0..w.div_ceil(tile) {
                let mut t = vec![0u8; (tile * tile * 3) as usize];
                for y in 0..tile {
                    for x in 0..tile {
                        let (px, py) = (tx * tile + x, ty * tile + y);
                        if px < *w && py < *h {
                            let s = ((py * w + px) * 3) as usize;
                            let d = ((y * tile + x) * 3) as usize;
                            t[d..d + 3].copy_from_slice(&rgb[s..s + 3]);
                        }
                    }
                }
                let bytes = match codec {
                    Codec::Deflate => {
                        let mut z = flate2::write::ZlibEncoder::new(
                            Vec::new(),
                            flate2::Compression::fast(),
                        );
                        z.write_all(&t).expect("deflate");
                        z.finish().expect("deflate")
                    }
                    Codec::LzwPredicted => {
                        for row in t.chunks_exact_mut((tile * 3) as usize) {
                            for i in (3..row.len()).rev() {
                                row[i] = row[i].wrapping_sub(row[i - 3]);
                            }
                        }
                        weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                            .encode(&t)
                            .expect("LZW")
                    }
                    Codec::Jpeg => {
                        let mut out = Vec::new();
                        let mut e = jpeg_encoder::Encoder::new(&mut out, 90);
                        e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
                        e.encode(&t, tile as u16, tile as u16, jpeg_encoder::ColorType::Rgb)
                            .expect("JPEG");
                        out
                    }
                };
                offsets.push(out.append(&bytes).expect("append"));
                counts.push(bytes.len() as u64);
            }
        }
        let mut d = Directory::default();
        d.set(tag::NEW_SUBFILE_TYPE, Value::Long(vec![u32::from(i > 0)]))
            .set(tag::IMAGE_WIDTH, Value::Long(vec![*w]))
            .set(tag::IMAGE_LENGTH, Value::Long(vec![*h]))
            .set(tag::BITS_PER_SAMPLE, Value::Short(vec![8, 8, 8]))
            .set(
                tag::COMPRESSION,
                Value::Short(vec![match codec {
                    Codec::Deflate => 8,
                    Codec::LzwPredicted => 5,
                    Codec::Jpeg => 7,
                }]),
            )
            .set(
                317, // Predictor
                Value::Short(vec![if codec == Codec::LzwPredicted { 2 } else { 1 }]),
            )
            .set(
                tag::PHOTOMETRIC,
                Value::Short(vec![if codec == Codec::Jpeg { 6 } else { 2 }]),
            )
            .set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![3]))
            .set(tag::PLANAR_CONFIG, Value::Short(vec![1]))
            .set(tag::TILE_WIDTH, Value::Long(vec![tile]))
            .set(tag::TILE_LENGTH, Value::Long(vec![tile]))
            .set(tag::TILE_OFFSETS, Value::Long8(offsets))
            .set(tag::TILE_BYTE_COUNTS, Value::Long8(counts));
        if codec == Codec::Jpeg {
            d.set(tag::YCBCR_SUBSAMPLING, Value::Short(vec![2, 2]));
        }
        if i == 0 {
            let (w, h) = (levels[0].1, levels[0].2);
            d.set(
                tag::IMAGE_DESCRIPTION,
                Value::Ascii(format!(
                    r#"<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Instrument ID="Instrument:0"><Objective ID="Objective:0" NominalMagnification="20"/></Instrument><Image ID="Image:0" Name="sentinel fixture"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" SizeX="{w}" SizeY="{h}" SizeC="3" SizeZ="1" SizeT="1" PhysicalSizeX="{mpp}" PhysicalSizeY="{mpp}" PhysicalSizeXUnit="µm" PhysicalSizeYUnit="µm"><Channel ID="Channel:0:0" SamplesPerPixel="3"/><TiffData IFD="0" PlaneCount="1"/></Pixels></Image></OME>"#
                )),
            );
        }
        dirs.push(d);
    }
    let subs = dirs.split_off(1);
    out.finish_with_sub_ifds(&dirs, vec![subs]).expect("finish");
}

/// Reads each level whole and at unaligned windows crossing chunk edges and the image's edge, and
/// compares with `levels`; outside the image is transparent.
fn assert_reads(slide: &dyn SlideSource, levels: &[(Vec<u8>, u32, u32)]) {
    assert_eq!(slide.level_count(), levels.len());
    for (l, (rgb, w, h)) in levels.iter().enumerate() {
        let lv = slide.levels()[l];
        assert_eq!(
            (lv.width_px, lv.height_px),
            (u64::from(*w), u64::from(*h)),
            "level {l}"
        );
        let ds = lv.downsample;
        for (x, y, rw, rh) in [
            (0, 0, *w, *h),
            (61, 37, 150, 90),
            (*w as i64 - 20, *h as i64 - 10, 40, 30),
        ] {
            // Level-0 coordinates that land on (x, y) of this level (OpenSlide floors x / ds).
            let got = slide
                .read_region(
                    l,
                    (x as f64 * ds).ceil() as i64,
                    (y as f64 * ds).ceil() as i64,
                    rw,
                    rh,
                )
                .expect("read");
            for yy in 0..rh as i64 {
                for xx in 0..rw as i64 {
                    let (px, py) = (x + xx, y + yy);
                    let p = got.pixel(xx as u32, yy as u32);
                    if px < i64::from(*w) && py < i64::from(*h) {
                        let i = ((py * i64::from(*w) + px) * 3) as usize;
                        assert_eq!(
                            p,
                            [rgb[i], rgb[i + 1], rgb[i + 2], 255],
                            "level {l} pixel ({px}, {py})"
                        );
                    } else {
                        assert_eq!(p[3], 0, "level {l}: ({px}, {py}) is outside");
                    }
                }
            }
        }
    }
}

/// Level 0 of `path` whole, as OpenSlide (libtiff, libjpeg-turbo) reads it and as `slide` does;
/// OpenSlide must see a single level (the SubIFDs are invisible to it).
fn level0_both(path: &Path, slide: &dyn SlideSource) -> (Vec<u8>, Vec<u8>) {
    let os = sentinel::slide::OpenSlideSource::open(path).expect("OpenSlide");
    assert_eq!(os.level_count(), 1, "OpenSlide reads only level 0");
    let (w, h) = slide.dimensions();
    let a = os.read_region(0, 0, 0, w as u32, h as u32).expect("read");
    let b = slide
        .read_region(0, 0, 0, w as u32, h as u32)
        .expect("read");
    (a.pixels, b.pixels)
}

#[test]
fn the_projects_own_ome_tiff_reads_as_a_pyramid_pixel_for_pixel() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("sentinel.ome.tif");
    let levels = pyramid();
    write_ome(&path, &levels, 128, 0.5, Codec::Deflate);
    let slide = sentinel::slide::open(&path).expect("open");
    assert_eq!(slide.vendor(), "ome-tiff");
    assert_eq!(slide.mpp(), Some((0.5, 0.5)));
    assert_eq!(slide.objective_power(), Some(20.0));
    let ds: Vec<f64> = slide.levels().iter().map(|l| l.downsample).collect();
    assert!(
        (ds[1] - 2.0).abs() < 0.01 && (ds[2] - 4.0).abs() < 0.02,
        "{ds:?}"
    );
    assert_reads(slide.as_ref(), &levels);

    // OpenSlide sees one level of the same file, with the same pixels.
    let (a, b) = level0_both(&path, slide.as_ref());
    assert!(a == b, "level 0 as OpenSlide reads it");

    // tifffile reads our writer's file as the same pyramid.
    let mut args = vec![path.display().to_string()];
    for (i, (rgb, w, h)) in levels.iter().enumerate() {
        let raw = dir.path().join(format!("level{i}.rgb"));
        std::fs::write(&raw, rgb).expect("write");
        args.extend([raw.display().to_string(), w.to_string(), h.to_string()]);
    }
    let o = Command::new(python())
        .arg(script())
        .arg("check")
        .args(&args)
        .output()
        .expect("python");
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("3 levels, all equal"),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn lzw_tiles_with_the_horizontal_predictor_read_pixel_for_pixel() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("lzw.ome.tif");
    let levels = pyramid();
    write_ome(&path, &levels, 64, 0.5, Codec::LzwPredicted);
    let slide = sentinel::slide::open(&path).expect("open");
    assert_eq!(slide.vendor(), "ome-tiff");
    assert_reads(slide.as_ref(), &levels);
    // libtiff (through OpenSlide) decodes the same level 0.
    let (a, b) = level0_both(&path, slide.as_ref());
    assert!(a == b, "level 0 as libtiff decodes it");
}

/// JPEG tiles decode as libjpeg-turbo (through OpenSlide) decodes them, within the differences of
/// two decoders (IDCT rounding, chroma upsampling).
#[test]
fn jpeg_tiles_decode_as_libjpeg_does() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("jpeg.ome.tif");
    let levels = pyramid();
    write_ome(&path, &levels, 128, 0.5, Codec::Jpeg);
    let slide = sentinel::slide::open(&path).expect("open");
    assert_eq!(slide.level_count(), 3);
    let (a, b) = level0_both(&path, slide.as_ref());
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .expect("pixels");
    let mean = a
        .iter()
        .zip(&b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64;
    eprintln!("JPEG: |ours - libjpeg| max {max}, mean {mean:.3}");
    // Different IDCT and chroma upsampling code: a few levels at edges, well under one on average.
    assert!(max <= 8 && mean < 1.0, "max {max}, mean {mean}");
    // Every level decodes (the reduced levels have no second reader here).
    for l in 1..3 {
        let lv = slide.levels()[l];
        let img = slide
            .read_region(l, 0, 0, lv.width_px as u32, lv.height_px as u32)
            .expect("read");
        assert!(
            img.pixels.chunks_exact(4).all(|p| p[3] == 255),
            "level {l} fully decoded"
        );
    }
}

#[test]
fn tifffiles_ome_tiffs_read_pixel_for_pixel_tiled_and_in_strips() {
    let dir = tempfile::tempdir().expect("dir");
    let st = Command::new(python())
        .arg(script())
        .arg("write")
        .arg(dir.path())
        .status()
        .expect("python");
    assert!(st.success());
    // tifffile's own pixels, as it wrote them: the same function as ours, decimated.
    let levels = pyramid();
    for (i, (rgb, _, _)) in levels.iter().enumerate() {
        let theirs = std::fs::read(dir.path().join(format!("level{i}.rgb"))).expect("read");
        assert!(theirs == *rgb, "level {i}: the two pattern functions agree");
    }
    for name in ["tifffile-tiled.ome.tif", "tifffile-strips.ome.tif"] {
        let slide = sentinel::slide::open(&dir.path().join(name)).expect(name);
        assert_eq!(slide.vendor(), "ome-tiff", "{name}");
        assert_eq!(slide.mpp(), Some((0.25, 0.25)), "{name}");
        assert_eq!(
            slide.properties().get("ome.Image.Name").map(String::as_str),
            Some("tifffile fixture")
        );
        assert_reads(slide.as_ref(), &levels);
    }
}

#[test]
fn a_truncated_ome_tiff_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("cut.ome.tif");
    write_ome(&path, &pyramid(), 128, 0.5, Codec::Deflate);
    let bytes = std::fs::read(&path).expect("read");
    // Keep the header and directories (at the end) but drop the first tiles' bytes: zero them.
    let mut damaged = bytes.clone();
    for b in damaged.iter_mut().skip(16).take(4000) {
        *b = 0;
    }
    std::fs::write(&path, &damaged).expect("write");
    let slide = sentinel::slide::open(&path).expect("the structure is intact");
    let e = slide
        .read_region(0, 0, 0, 64, 64)
        .expect_err("damaged tile")
        .to_string();
    assert!(
        e.contains("level 0, chunk 0") && e.contains("deflate"),
        "{e}"
    );
    // Cut short: the directories (written last) are gone.
    let path2 = dir.path().join("short.ome.tif");
    write_ome(&path2, &pyramid(), 128, 0.5, Codec::Deflate);
    let whole = std::fs::read(&path2).expect("read");
    let dirs_at = whole.len() - 2000;
    std::fs::write(&path2, &whole[..dirs_at]).expect("write");
    match sentinel::slide::open(&path2) {
        Ok(_) => panic!("a file cut short opened"),
        Err(e) => assert!(e.to_string().contains("corrupt or truncated"), "{e}"),
    }
}
