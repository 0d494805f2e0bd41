//! Region export: pixels equal `read_region` for the same box (PNG), a large region becomes a
//! pyramidal TIFF that OpenSlide reads back, masks line up with the shape pixel for pixel, and a
//! cancelled export leaves nothing.

mod common;

use std::sync::atomic::AtomicBool;

use sentinel::annotate::Shape;
use sentinel::region::{Overlay, RegionError, RegionRequest, export_region, pixel_box};
use sentinel::slide::{OpenSlideSource, SlideSource};

fn request(bbox: [f64; 4], level: usize, out: std::path::PathBuf) -> RegionRequest<'static> {
    RegionRequest {
        bbox,
        level,
        out,
        mask: None,
        overlay: None,
        png_max_pixels: sentinel::region::PNG_MAX_PIXELS,
    }
}

#[test]
fn png_export_equals_read_region_at_each_level() {
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let dir = tempfile::tempdir().expect("temp dir");
    for level in 0..2 {
        let bbox = [1000.3, 700.8, 2600.0, 1900.5];
        let out = export_region(
            &slide,
            &request(bbox, level, dir.path().join(format!("r{level}"))),
            &AtomicBool::new(false),
            |_| {},
        )
        .expect("export");
        let ds = slide.levels()[level].downsample;
        let (origin, w, h) = pixel_box(bbox, ds);
        assert_eq!((out.origin, out.width, out.height), (origin, w, h));
        assert!(out.image.extension().is_some_and(|e| e == "png"));
        let want = slide
            .read_region(level, origin[0], origin[1], w, h)
            .expect("read");
        let got = image::open(&out.image).expect("png").to_rgba8();
        assert_eq!((got.width(), got.height()), (w, h));
        assert_eq!(got.into_raw(), want.pixels, "level {level}");
        assert!((out.mpp.expect("mpp") - 0.25 * ds).abs() < 1e-9);
    }
}

#[test]
fn large_region_is_a_pyramidal_tiff_that_openslide_reads_back() {
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut req = request([512.0, 256.0, 3584.0, 2816.0], 0, dir.path().join("big"));
    req.png_max_pixels = 1_000_000; // 3072 x 2560 is over it
    let out = export_region(&slide, &req, &AtomicBool::new(false), |_| {}).expect("export");
    assert!(out.image.extension().is_some_and(|e| e == "tif"));
    let back = OpenSlideSource::open(&out.image).expect("OpenSlide opens the export");
    assert_eq!(back.dimensions(), (3072, 2560));
    assert!(back.levels().len() >= 2, "pyramidal");
    let mpp = back.mpp().expect("resolution recorded").0;
    assert!((mpp - 0.25).abs() < 1e-3, "mpp {mpp}");
    let want = slide.read_region(0, 1500, 1200, 512, 512).expect("read");
    let got = back.read_region(0, 988, 944, 512, 512).expect("read back");
    let rgb: Vec<u8> = want
        .pixels
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let psnr = common::psnr_rgba_rgb(&got.pixels, &rgb);
    assert!(psnr > 35.0, "JPEG q90 round trip, PSNR {psnr:.1} dB");
}

#[test]
fn mask_lines_up_with_the_shape_including_its_hole() {
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let dir = tempfile::tempdir().expect("temp dir");
    let shape = Shape::Area {
        polygons: vec![vec![
            vec![
                [1000.0, 1000.0],
                [1800.0, 1100.0],
                [1500.0, 1900.0],
                [900.0, 1600.0],
            ],
            vec![[1200.0, 1300.0], [1400.0, 1300.0], [1300.0, 1500.0]],
        ]],
    };
    let b = shape.bbox();
    for level in 0..2 {
        let mut req = request(b, level, dir.path().join(format!("m{level}")));
        req.mask = Some(&shape);
        let out = export_region(&slide, &req, &AtomicBool::new(false), |_| {}).expect("export");
        let mask = image::open(out.mask.as_ref().expect("mask"))
            .expect("png")
            .to_luma8();
        assert_eq!((mask.width(), mask.height()), (out.width, out.height));
        let ds = slide.levels()[level].downsample;
        let mut inside = 0;
        for (x, y, v) in mask.enumerate_pixels() {
            let c = [
                out.origin[0] as f64 + (f64::from(x) + 0.5) * ds,
                out.origin[1] as f64 + (f64::from(y) + 0.5) * ds,
            ];
            assert_eq!(
                v.0[0] == 255,
                shape.hit(c, 0.0),
                "level {level} pixel ({x}, {y})"
            );
            inside += usize::from(v.0[0] == 255);
        }
        let expected = shape.area_px() / (ds * ds);
        assert!(
            (inside as f64 / expected - 1.0).abs() < 0.02,
            "{inside} vs {expected}"
        );
    }
}

#[test]
fn overlay_changes_only_the_outline() {
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let dir = tempfile::tempdir().expect("temp dir");
    let bbox = [1000.0, 1000.0, 1400.0, 1300.0];
    let plain = export_region(
        &slide,
        &request(bbox, 0, dir.path().join("plain")),
        &AtomicBool::new(false),
        |_| {},
    )
    .expect("export");
    let outlines = [(
        Shape::rectangle([1100.0, 1100.0], [1300.0, 1200.0]),
        [0u8, 255, 0],
    )];
    let mut req = request(bbox, 0, dir.path().join("burned"));
    req.overlay = Some(Overlay {
        outlines: &outlines,
        heatmap: None,
    });
    let burned = export_region(&slide, &req, &AtomicBool::new(false), |_| {}).expect("export");
    let (a, b) = (
        image::open(&plain.image).expect("png").to_rgb8(),
        image::open(&burned.image).expect("png").to_rgb8(),
    );
    assert_eq!(
        b.get_pixel(100, 150).0,
        [0, 255, 0],
        "on the left edge of the rectangle"
    );
    assert_eq!(
        a.get_pixel(200, 150),
        b.get_pixel(200, 150),
        "inside untouched"
    );
    assert_eq!(
        a.get_pixel(20, 20),
        b.get_pixel(20, 20),
        "outside untouched"
    );
}

#[test]
fn cancelled_export_leaves_nothing() {
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut req = request([0.0, 0.0, 4096.0, 3072.0], 0, dir.path().join("all"));
    req.png_max_pixels = 0;
    let r = export_region(&slide, &req, &AtomicBool::new(true), |_| {});
    assert!(matches!(r, Err(RegionError::Cancelled)), "{r:?}");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("ls").count(),
        0,
        "no file left"
    );
}
