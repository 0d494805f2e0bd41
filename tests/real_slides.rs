//! The real slides in ../shared/data open with the vendor, geometry and mpp that OpenSlide 4 reports.
//! DICOM needs OpenSlide 4: this is what proves the build links the right library.

mod common;

use sentinel::slide::{OpenSlideSource, SlideSource, openslide_version};

struct Expect {
    file: &'static str,
    vendor: &'static str,
    size: (u64, u64),
    levels: usize,
    mpp: Option<f64>,
    associated: &'static [&'static str],
}

const SLIDES: &[Expect] = &[
    Expect {
        file: "CMU-1-Small-Region.svs",
        vendor: "aperio",
        size: (2220, 2967),
        levels: 1,
        mpp: Some(0.499),
        associated: &["label", "macro", "thumbnail"],
    },
    Expect {
        file: "TCGA-CR-7395-01A-01-TS1-jp2k.svs",
        vendor: "aperio",
        size: (4443, 3567),
        levels: 2,
        mpp: None,
        associated: &[],
    },
    Expect {
        file: "hamamatsu-fluorescence-DAPI.ndpi",
        vendor: "hamamatsu",
        size: (3968, 4864),
        levels: 7,
        mpp: Some(0.2282),
        associated: &["macro"],
    },
    Expect {
        file: "dicom-wsi-jpeg.dcm",
        vendor: "dicom",
        size: (957, 715),
        levels: 1,
        mpp: Some(16.783),
        associated: &[],
    },
    Expect {
        file: "dicom-wsi-jpeg2000.dcm",
        vendor: "dicom",
        size: (957, 715),
        levels: 1,
        mpp: Some(16.783),
        associated: &[],
    },
    Expect {
        file: "camelyon16-tumor_001-level5.tif",
        vendor: "generic-tiff",
        size: (3072, 7168),
        levels: 1,
        mpp: None,
        associated: &[],
    },
];

#[test]
fn linked_against_openslide_4() {
    assert!(
        openslide_version().starts_with("4."),
        "{}",
        openslide_version()
    );
}

#[test]
fn real_slides_open_with_expected_metadata_and_pixels() {
    let data = common::shared_data();
    for e in SLIDES {
        let path = data.join("slides").join(e.file);
        let s = OpenSlideSource::open(&path).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(s.vendor(), e.vendor, "{}", e.file);
        assert_eq!(s.dimensions(), e.size, "{}", e.file);
        assert_eq!(s.level_count(), e.levels, "{}", e.file);
        match (e.mpp, s.mpp()) {
            (Some(want), Some((x, y))) => {
                assert!(
                    (x - want).abs() < 1e-3 && (y - want).abs() < 1e-3,
                    "{}: mpp {x} {y}",
                    e.file
                )
            }
            (None, None) => {}
            (want, got) => panic!("{}: mpp {want:?} vs {got:?}", e.file),
        }
        for name in e.associated {
            assert!(
                s.associated_image_names().iter().any(|n| n == name),
                "{}: no {name}",
                e.file
            );
        }
        // The centre of the slide is not empty: some pixels are opaque and not all alike.
        let (w, h) = e.size;
        let img = s
            .read_region(0, (w / 2) as i64 - 64, (h / 2) as i64 - 64, 128, 128)
            .expect("read");
        assert!(
            img.pixels.chunks_exact(4).any(|p| p[3] == 255),
            "{}: centre transparent",
            e.file
        );
        let first = img.pixel(0, 0);
        assert!(
            img.pixels.chunks_exact(4).any(|p| p != first),
            "{}: centre is flat",
            e.file
        );
    }
}

/// The direct JPEG tile path reads the same pixels as OpenSlide, on real and synthetic slides:
/// every level, regions at random places and sizes (unaligned, across tile boundaries, over the
/// slide's edges). Where it does not recognise a slide with certainty (JPEG 2000), OpenSlide
/// stays the reader.
#[test]
fn direct_tile_path_reads_what_openslide_reads() {
    use sentinel::slide::{DirectTiffSource, JpegCodec};
    let data = common::shared_data();
    // (slide, read directly, the largest difference allowed with zune-jpeg, with libjpeg-turbo).
    // libjpeg-turbo is what OpenSlide decodes with: the same pixels. zune-jpeg's IDCT and chroma
    // upsampling round differently: by at most 1 where the JPEG holds R, G, B (Aperio's CMU-1),
    // by at most 4 of 255 on YCbCr 4:2:0 tiles.
    let cases: Vec<(std::path::PathBuf, bool, u8, u8)> = vec![
        (data.join("slides/CMU-1-Small-Region.svs"), true, 1, 0),
        (
            data.join("slides/camelyon16-tumor_001-level5.tif"),
            true,
            4,
            0,
        ),
        (common::svs().path.clone(), true, 4, 0),
        (common::tiff().path.clone(), true, 4, 0),
        (
            data.join("slides/TCGA-CR-7395-01A-01-TS1-jp2k.svs"),
            false,
            0,
            0,
        ),
    ];
    let mut worst = 0u8;
    for (path, direct, zune_bound, turbo_bound) in cases {
        for (codec, bound) in [
            (JpegCodec::LibjpegTurbo, turbo_bound),
            (JpegCodec::Zune, zune_bound),
        ] {
            let name = format!(
                "{} ({codec:?})",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            let reference = OpenSlideSource::open(&path).expect("opens");
            let fast = match DirectTiffSource::new(OpenSlideSource::open(&path).expect("opens")) {
                Ok(f) => f.with_codec(codec),
                Err(_) => {
                    assert!(!direct, "{name}: not taken by the direct path");
                    eprintln!("{name}: OpenSlide reads it");
                    continue;
                }
            };
            assert!(direct, "{name}: taken by the direct path");
            worst = worst.max(compare_with_openslide(&name, &reference, &fast, bound));
        }
    }
    eprintln!("largest difference from OpenSlide: {worst}");
}

/// Regions of every level at random places and sizes, read by both; each within `bound` of 255
/// (and the same coverage). Returns the largest difference.
fn compare_with_openslide(
    name: &str,
    reference: &OpenSlideSource,
    fast: &dyn SlideSource,
    bound: u8,
) -> u8 {
    let mut rng = fastrand::Rng::with_seed(3);
    let (mut slide_worst, mut differing, mut total) = (0u8, 0usize, 0usize);
    for (level, l) in reference.levels().iter().enumerate() {
        // Where the downsample is not a whole number, OpenSlide resamples a region by its
        // sub-pixel remainder; the direct path reads whole pixels. Compared where both read
        // whole pixels.
        if (l.downsample - l.downsample.round()).abs() > 1e-9 {
            eprintln!(
                "{name} level {level}: downsample {} not compared",
                l.downsample
            );
            continue;
        }
        let (w, h) = (l.width_px as i64, l.height_px as i64);
        for i in 0..40 {
            let (rw, rh) = (rng.u32(1..400), rng.u32(1..300));
            // Every tenth region hangs over an edge.
            let (lx, ly) = if i % 10 == 0 {
                (w - i64::from(rw) / 2, rng.i64(-50..h))
            } else {
                (rng.i64(0..w.max(1)), rng.i64(0..h.max(1)))
            };
            let x = (lx as f64 * l.downsample).round() as i64;
            let y = (ly as f64 * l.downsample).round() as i64;
            let a = reference
                .read_region(level, x, y, rw, rh)
                .expect("OpenSlide");
            let b = fast.read_region(level, x, y, rw, rh).expect("direct");
            let diff = a
                .pixels
                .iter()
                .zip(&b.pixels)
                .map(|(p, q)| p.abs_diff(*q))
                .max()
                .unwrap_or(0);
            let alpha_same = a
                .pixels
                .chunks(4)
                .zip(b.pixels.chunks(4))
                .all(|(p, q)| p[3] == q[3]);
            assert!(
                alpha_same,
                "{name} level {level} at ({lx}, {ly}) {rw}x{rh}: coverage differs"
            );
            slide_worst = slide_worst.max(diff);
            differing += a
                .pixels
                .iter()
                .zip(&b.pixels)
                .filter(|(p, q)| p != q)
                .count();
            total += a.pixels.len();
            assert!(
                diff <= bound,
                "{name} level {level} at ({lx}, {ly}) {rw}x{rh}: max difference {diff}"
            );
        }
    }
    eprintln!(
        "{name}: direct path, {} level(s): max difference {slide_worst}, {:.4}% of samples differ",
        reference.levels().len(),
        100.0 * differing as f64 / total.max(1) as f64
    );
    slide_worst
}

/// Reduced-size reads (the analysis reads tiles at 1/2, 1/4, 1/8 of a level with the JPEG's reduced
/// IDCT) show what the full-size pixels averaged over each block show: on real and synthetic
/// slides, at every factor the tiles allow, regions on the reduced grid and off it (read by
/// averaging), inside and over the edge. The reduced IDCT keeps a block's low frequencies where an
/// average is a box filter, so single pixels differ at sharp edges; on average they agree to
/// within a level or two of 255.
#[test]
fn reduced_size_reads_match_full_size_reads_averaged() {
    use sentinel::slide::DirectTiffSource;
    let data = common::shared_data();
    let cases = [
        data.join("slides/CMU-1-Small-Region.svs"),
        data.join("slides/camelyon16-tumor_001-level5.tif"),
        common::svs().path.clone(),
        common::tiff().path.clone(),
    ];
    for path in cases {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reference = OpenSlideSource::open(&path).expect("opens");
        let fast = DirectTiffSource::new(OpenSlideSource::open(&path).expect("opens"))
            .unwrap_or_else(|_| panic!("{name}: taken by the direct path"));
        let tile = reference.levels()[0].tile_size_px.expect("tiled");
        let mut rng = fastrand::Rng::with_seed(5);
        for factor in [2u32, 4, 8] {
            if !tile.0.is_multiple_of(factor) || !tile.1.is_multiple_of(factor) {
                continue;
            }
            let l = reference.levels()[0];
            let f = i64::from(factor);
            let (w, h) = (l.width_px as i64 / f, l.height_px as i64 / f);
            let (mut sum, mut count, mut worst) = (0u64, 0u64, 0u8);
            for i in 0..24 {
                let (rw, rh) = (rng.u32(1..160), rng.u32(1..120));
                let (rx, ry) = if i % 8 == 0 {
                    (w - i64::from(rw) / 2, rng.i64(0..h))
                } else {
                    (rng.i64(0..w.max(1)), rng.i64(0..h.max(1)))
                };
                // Every fourth region is off the reduced grid: read by averaging on both sides.
                let off = if i % 4 == 3 { 1 } else { 0 };
                let (x, y) = (rx * f + off, ry * f);
                let a = reference
                    .read_region_reduced(0, x, y, rw, rh, factor)
                    .expect("averaged");
                let b = fast
                    .read_region_reduced(0, x, y, rw, rh, factor)
                    .expect("reduced");
                for (p, q) in a.pixels.chunks(4).zip(b.pixels.chunks(4)) {
                    assert_eq!(
                        p[3] == 0,
                        q[3] == 0,
                        "{name} 1/{factor} at ({x}, {y}) {rw}x{rh}: coverage differs"
                    );
                    if p[3] == 255 && q[3] == 255 {
                        for c in 0..3 {
                            let d = p[c].abs_diff(q[c]);
                            sum += u64::from(d);
                            count += 1;
                            worst = worst.max(d);
                        }
                    }
                }
            }
            let mean = sum as f64 / count.max(1) as f64;
            eprintln!("{name} 1/{factor}: mean difference {mean:.3}, max {worst}");
            assert!(count > 1000, "{name} 1/{factor}: compared {count} samples");
            assert!(mean <= 2.0, "{name} 1/{factor}: mean difference {mean:.3}");
            assert!(worst <= 64, "{name} 1/{factor}: max difference {worst}");
        }
    }
}

/// A tile the file does not hold (byte count 0, as sparse scans write) reads as transparent on
/// the direct path, as through OpenSlide; its neighbours read as usual.
#[test]
fn a_missing_tile_is_transparent_on_both_paths() {
    use sentinel::slide::DirectTiffSource;
    use sentinel::tiff_writer::{Directory, TiffWriter, Value, tag};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sparse.tif");
    let mut w = TiffWriter::create(&path).expect("create");
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    for i in 0..4u8 {
        if i == 1 {
            offsets.push(0);
            counts.push(0);
            continue;
        }
        let pixels: Vec<u8> = (0..256 * 256)
            .flat_map(|_| [200, 60 + 40 * i, 120])
            .collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&pixels, 256, 256, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        offsets.push(w.append(&jpeg).expect("append"));
        counts.push(jpeg.len() as u64);
    }
    let mut d = Directory::default();
    d.set(tag::IMAGE_WIDTH, Value::Long(vec![512]))
        .set(tag::IMAGE_LENGTH, Value::Long(vec![512]))
        .set(tag::BITS_PER_SAMPLE, Value::Short(vec![8, 8, 8]))
        .set(tag::COMPRESSION, Value::Short(vec![7]))
        .set(tag::PHOTOMETRIC, Value::Short(vec![6]))
        .set(tag::SAMPLES_PER_PIXEL, Value::Short(vec![3]))
        .set(tag::PLANAR_CONFIG, Value::Short(vec![1]))
        .set(tag::TILE_WIDTH, Value::Long(vec![256]))
        .set(tag::TILE_LENGTH, Value::Long(vec![256]))
        .set(tag::TILE_OFFSETS, Value::Long8(offsets))
        .set(tag::TILE_BYTE_COUNTS, Value::Long8(counts));
    w.finish(&[d]).expect("finish");

    let reference = OpenSlideSource::open(&path).expect("OpenSlide opens it");
    let direct = DirectTiffSource::new(OpenSlideSource::open(&path).expect("opens"))
        .unwrap_or_else(|_| panic!("taken by the direct path"));
    let a = reference
        .read_region(0, 200, 100, 200, 100)
        .expect("OpenSlide");
    let b = direct.read_region(0, 200, 100, 200, 100).expect("direct");
    let alpha =
        |img: &sentinel::slide::RgbaImage, x: usize, y: usize| img.pixels[(y * 200 + x) * 4 + 3];
    // (250, 150) is in tile 0, (300, 150) in the missing tile 1.
    assert_eq!(alpha(&a, 50, 50), 255);
    assert_eq!(
        alpha(&a, 100, 50),
        0,
        "OpenSlide leaves the missing tile transparent"
    );
    assert_eq!(
        a.pixels.chunks(4).map(|p| p[3]).collect::<Vec<_>>(),
        b.pixels.chunks(4).map(|p| p[3]).collect::<Vec<_>>(),
        "the same coverage"
    );
}
