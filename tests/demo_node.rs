//! The real-tissue demo slide: a smaller section made by the same generator as the first-run demo,
//! analysed by the bundled model's CPU default, must light up its metastases and not the normal
//! node, and must show no grid of pasted patches.

use sentinel::analysis::model::{LoadOptions, Model};
use sentinel::synth::node_demo::{node_spec, write_node_slide};

mod common;
use common::{auc, bundled_model_dir};

/// Mean absolute step between horizontally adjacent pixels, at columns `x` with `x % period == 0`
/// (the left edge of a would-be pasted patch) and elsewhere.
fn seam_ratio(rgba: &[u8], w: usize, h: usize, period: usize) -> f64 {
    let (mut on, mut n_on, mut off, mut n_off) = (0.0, 0usize, 0.0, 0usize);
    for y in 0..h {
        for x in 1..w {
            let a = &rgba[(y * w + x - 1) * 4..][..3];
            let b = &rgba[(y * w + x) * 4..][..3];
            let d: f64 = (0..3)
                .map(|k| (f64::from(a[k]) - f64::from(b[k])).abs())
                .sum();
            if x % period == 0 {
                on += d;
                n_on += 1;
            } else {
                off += d;
                n_off += 1;
            }
        }
    }
    (on / n_on as f64) / (off / n_off as f64)
}

#[test]
fn demo_section_lights_up_its_metastases_and_has_no_patch_grid() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("node-section.svs");
    let spec = node_spec(8192, 6144, 2026);
    let (written, layout) = write_node_slide(&spec, &path, |_| {}).expect("write the section");
    assert!(
        written.levels.len() >= 3,
        "a real pyramid: {:?}",
        written.levels
    );

    // The ground truth beside it imports as annotations: two tumour outlines and the node.
    let truth = sentinel::synth::truth_path_for(&path);
    let text = std::fs::read_to_string(&truth).expect("truth file");
    let imported = sentinel::annotate::geojson::import(&text).expect("QuPath GeoJSON");
    let tumours = imported
        .annotations
        .iter()
        .filter(|a| a.class.as_deref() == Some("Tumor"))
        .count();
    assert_eq!(tumours, 2);

    let slide = sentinel::slide::open(&path).expect("open");
    assert_eq!(slide.vendor(), "aperio");
    assert!(slide.associated_image_names().iter().any(|n| n == "label"));

    // No seam grid: pixel steps at would-be patch edges (256 px, the patches' size; 96 px, the
    // quilting step) are like steps anywhere else.
    let (w, h) = (2048u32, 1536u32);
    let (x0, y0) = (
        (layout.node.cx as i64 - i64::from(w) / 2),
        (layout.node.cy as i64 - i64::from(h) / 2),
    );
    let region = slide.read_region(0, x0, y0, w, h).expect("read");
    for period in [256, 96] {
        let r = seam_ratio(&region.pixels, w as usize, h as usize, period);
        println!("step ratio at {period} px edges: {r:.3}");
        assert!(r < 1.25, "a visible grid every {period} px (ratio {r:.3})");
    }

    let mut model = Model::load(&bundled_model_dir(), LoadOptions::cpu(2)).expect("model");
    let (report, result) =
        common::analyze_all(slide.as_ref(), &mut model, dir.path()).expect("analysis");
    let map = &result.heatmap;
    let mut scores = Vec::new();
    for row in 0..map.rows {
        for col in 0..map.cols {
            if let Some(p) = map.get(col, row) {
                let [x0, y0, x1, y1] = map.cell_box(col, row);
                let tumour = layout.is_tumour((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                scores.push((p, tumour));
            }
        }
    }
    let positives = scores.iter().filter(|s| s.1).count();
    let auc = auc(&scores);
    let inside: Vec<_> = result
        .summary
        .hotspots
        .iter()
        .filter(|h| layout.is_tumour(h.peak[0], h.peak[1]))
        .collect();
    println!(
        "section {}x{}: {} tiles ({positives} in metastases) on {}; AUC {auc:.3}; max {:.3}; \
         {} hot-spot(s), {} peaking in a metastasis; threshold {}",
        spec.width,
        spec.height,
        report.tiles,
        report.provider,
        result.summary.max,
        result.summary.hotspots.len(),
        inside.len(),
        result.summary.threshold
    );
    assert!(positives >= 5, "too few tumour tiles to judge: {positives}");
    assert!(
        auc >= 0.9,
        "heatmap AUC against the outlines {auc:.3} < 0.9"
    );
    assert!(!inside.is_empty(), "no hot-spot peaks inside a metastasis");
}
