//! Synthetic slides read back through OpenSlide 4: structure, metadata and pixels.

mod common;

use common::{psnr_rgba_rgb, svs, tiff};
use sentinel::slide::{OpenSlideSource, SlideSource};
use sentinel::synth::{SynthFormat, SynthSpec, render_level, scene::BACKGROUND, truth_path_for};

#[test]
fn svs_reports_aperio_levels_mpp_and_associated_images() {
    let f = svs();
    let s = OpenSlideSource::open(&f.path).expect("open");
    assert_eq!(s.vendor(), "aperio");
    assert_eq!(s.dimensions(), (4096, 3072));
    let dims: Vec<_> = s
        .levels()
        .iter()
        .map(|l| (l.width_px, l.height_px))
        .collect();
    assert_eq!(dims, vec![(4096, 3072), (1024, 768), (256, 192)]);
    let ds: Vec<_> = s.levels().iter().map(|l| l.downsample).collect();
    assert!(
        (ds[1] - 4.0).abs() < 1e-9 && (ds[2] - 16.0).abs() < 1e-9,
        "{ds:?}"
    );
    assert!(
        s.levels()
            .iter()
            .all(|l| l.tile_size_px == Some((256, 256)))
    );
    assert_eq!(s.mpp(), Some((0.25, 0.25)));
    assert_eq!(s.objective_power(), Some(40.0));
    assert_eq!(s.associated_image_names(), ["label", "macro", "thumbnail"]);
    assert_eq!(
        s.properties().get("aperio.AppMag").map(String::as_str),
        Some("40")
    );

    let thumb = s.associated_image("thumbnail").expect("thumbnail");
    assert_eq!((thumb.width, thumb.height), (1024, 768));
    // The thumbnail is the level-1 image: it must match what level 1 reads back.
    let level1 = s.read_region(1, 0, 0, 1024, 768).expect("level 1");
    let thumb_rgb: Vec<u8> = thumb
        .pixels
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    assert!(psnr_rgba_rgb(&level1.pixels, &thumb_rgb) > 30.0);

    let label = s.associated_image("label").expect("label");
    assert_eq!(label.pixel(10, 10), [40, 90, 170, 255], "label header band");
    let macro_image = s.associated_image("macro").expect("macro");
    assert_eq!((macro_image.width, macro_image.height), (1280, 431));
}

#[test]
fn generic_tiff_reports_levels_and_mpp_from_resolution_tags() {
    let f = tiff();
    let s = OpenSlideSource::open(&f.path).expect("open");
    assert_eq!(s.vendor(), "generic-tiff");
    let dims: Vec<_> = s
        .levels()
        .iter()
        .map(|l| (l.width_px, l.height_px))
        .collect();
    assert_eq!(dims, vec![(3000, 2000), (750, 500), (188, 125)]);
    let (mx, my) = s.mpp().expect("mpp from resolution tags");
    assert!(
        (mx - 0.5).abs() < 1e-3 && (my - 0.5).abs() < 1e-3,
        "{mx} {my}"
    );
    assert!(s.associated_image_names().is_empty());
}

/// Level-pixel regions to check at each level: a tumour, tissue, and the slide's last tile.
fn check_pixels(f: &common::Fixture) {
    let s = OpenSlideSource::open(&f.path).expect("open");
    let scene = &f.report.scene;
    let tumour = &scene.tumours[0];
    for (level, l) in s.levels().iter().enumerate() {
        let ds = l.downsample.round() as u64;
        let (lw, lh) = (l.width_px, l.height_px);
        let (w, h) = (lw.min(200) as u32, lh.min(150) as u32);
        let centre = (
            (tumour.cx as u64 / ds).saturating_sub(u64::from(w) / 2),
            (tumour.cy as u64 / ds).saturating_sub(u64::from(h) / 2),
        );
        let island = scene.islands.last().expect("an island");
        let tissue = (
            ((island.cx - island.r_min() * 0.5) as u64 / ds).saturating_sub(u64::from(w) / 2),
            (island.cy as u64 / ds).saturating_sub(u64::from(h) / 2),
        );
        let places = [centre, tissue, (lw - u64::from(w), lh - u64::from(h))];
        for (lx, ly) in places {
            let (lx, ly) = (lx.min(lw - u64::from(w)), ly.min(lh - u64::from(h)));
            let got = s
                .read_region(level, (lx * ds) as i64, (ly * ds) as i64, w, h)
                .expect("read");
            let want = render_level(scene, level as u32, lx, ly, w, h);
            let p = psnr_rgba_rgb(&got.pixels, &want);
            assert!(
                p > 28.0,
                "{}: level {level} at ({lx},{ly}): PSNR {p:.1} dB",
                f.path.display()
            );
            assert!(
                got.pixels.chunks_exact(4).all(|px| px[3] == 255),
                "inside the slide is opaque"
            );

            // The check must notice a one-row offset: compare against the region one row lower.
            if ly + 1 + u64::from(h) <= lh {
                let shifted = render_level(scene, level as u32, lx, ly + 1, w, h);
                let ps = psnr_rgba_rgb(&got.pixels, &shifted);
                let has_detail = want.chunks_exact(3).any(|px| px != BACKGROUND);
                if has_detail {
                    assert!(
                        ps < p - 3.0,
                        "level {level}: a one-row shift is not detected ({ps:.1} vs {p:.1} dB)"
                    );
                }
            }
        }
    }
}

#[test]
fn svs_pixels_match_the_generator_at_every_level() {
    check_pixels(svs());
}

#[test]
fn tiff_pixels_match_the_generator_at_every_level() {
    check_pixels(tiff());
}

#[test]
fn tumour_regions_read_back_as_tumour_and_truth_lists_them() {
    let f = svs();
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(truth_path_for(&f.path)).expect("truth file"))
            .expect("json");
    let features = truth["features"].as_array().expect("features");
    let tumours: Vec<_> = features
        .iter()
        .filter(|ft| ft["properties"]["classification"]["name"] == "Tumor")
        .collect();
    assert_eq!(tumours.len(), f.report.scene.tumours.len());
    for (ft, blob) in tumours.iter().zip(&f.report.scene.tumours) {
        assert_eq!(ft["properties"]["objectType"], "annotation");
        let ring = ft["geometry"]["coordinates"][0].as_array().expect("ring");
        assert_eq!(ring.first(), ring.last(), "closed ring");
        let xs: Vec<f64> = ring.iter().map(|p| p[0].as_f64().expect("x")).collect();
        let cx = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((cx - blob.cx).abs() < blob.r_max());
    }

    // Tumour looks different from the tissue around it: darker (more haematoxylin).
    let s = OpenSlideSource::open(&f.path).expect("open");
    let t = &f.report.scene.tumours[0];
    let r = (t.r_min() * 0.6) as i64;
    let inside = s
        .read_region(
            0,
            t.cx as i64 - r / 2,
            t.cy as i64 - r / 2,
            r as u32,
            r as u32,
        )
        .expect("read");
    let mean_green = |px: &[u8]| {
        px.chunks_exact(4).map(|p| f64::from(p[1])).sum::<f64>() / (px.len() / 4) as f64
    };
    let slide_mean = mean_green(&s.read_region(1, 0, 0, 1024, 768).expect("read").pixels);
    assert!(mean_green(&inside.pixels) < slide_mean - 40.0);
}

#[test]
fn output_is_deterministic_per_seed() {
    let mut spec = SynthSpec::new(1500, 1200, SynthFormat::Svs);
    spec.seed = 5;
    let a = common::make("det-a.svs", spec.clone());
    let b = common::make("det-b.svs", spec.clone());
    spec.seed = 6;
    let c = common::make("det-c.svs", spec);
    let bytes = |p: &std::path::Path| std::fs::read(p).expect("read");
    // The file name is recorded in the description; compare pixels and structure instead of bytes.
    let (sa, sb, sc) = (
        OpenSlideSource::open(&a.path).expect("a"),
        OpenSlideSource::open(&b.path).expect("b"),
        OpenSlideSource::open(&c.path).expect("c"),
    );
    let region = |s: &OpenSlideSource| s.read_region(0, 0, 0, 1500, 1200).expect("read").pixels;
    assert_eq!(region(&sa), region(&sb));
    assert_ne!(region(&sa), region(&sc));
    assert_eq!(bytes(&a.path).len(), bytes(&b.path).len());
}

#[test]
fn regions_beyond_the_edges_are_transparent() {
    let f = svs();
    let s = OpenSlideSource::open(&f.path).expect("open");
    let inside = s.read_region(0, 0, 0, 156, 156).expect("read");
    let straddling = s.read_region(0, -100, -100, 256, 256).expect("read");
    assert_eq!(straddling.pixel(0, 0)[3], 0);
    assert_eq!(straddling.pixel(99, 99)[3], 0);
    for (x, y) in [(100, 100), (180, 120), (255, 255)] {
        assert_eq!(straddling.pixel(x, y), inside.pixel(x - 100, y - 100));
    }
    // Level 1 with a negative origin: the first opaque column is where level-0 x = 0 falls.
    let l1 = s.read_region(1, -8, 0, 16, 16).expect("read");
    assert_eq!(l1.pixel(1, 0)[3], 0);
    assert_eq!(l1.pixel(2, 0)[3], 255);
    let far = s.read_region(0, 10_000, 10_000, 64, 64).expect("read");
    assert!(far.pixels.iter().all(|&b| b == 0));
}

/// Extreme coordinates read glass, not pixels from elsewhere: `-i64::MIN` once wrapped and the
/// read landed at x = 0 (`sentinel region --x=-9223372036854775808`).
#[test]
fn regions_at_extreme_coordinates_are_transparent() {
    let f = svs();
    let s = OpenSlideSource::open(&f.path).expect("open");
    for (x, y) in [
        (i64::MIN, 0),
        (0, i64::MIN),
        (i64::MIN, i64::MIN),
        (i64::MAX, 0),
        (-(1 << 40), 100),
    ] {
        for level in 0..s.level_count() {
            let img = s.read_region(level, x, y, 16, 16).expect("read");
            assert!(
                img.pixels.chunks_exact(4).all(|p| p[3] == 0),
                "({x}, {y}) at level {level} read slide pixels"
            );
        }
    }
    // A region straddling the origin still shows the slide where it overlaps it.
    let img = s.read_region(0, -8, -8, 16, 16).expect("read");
    assert_eq!(img.pixels[3], 0, "outside: transparent");
    assert_eq!(img.pixels[(8 * 16 + 8) * 4 + 3], 255, "inside: the slide");
}
