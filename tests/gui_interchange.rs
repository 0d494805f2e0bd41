//! Interchange in the GUI: another tool's heatmap imported over the slide (the layer choice, the
//! per-tile agreement in the panel, the difference overlay's colours, the hover text), and a
//! WSInfer model folder loaded through its card.

mod common;

use std::sync::Arc;

use egui_kittest::kittest::Queryable;
use sentinel::analysis::heatmap::Heatmap;

#[test]
fn an_imported_dsa_heatmap_is_compared_tile_by_tile_and_drawn_as_a_difference() {
    let svs = common::svs();
    let data = tempfile::tempdir().expect("data dir");
    let mut h = common::app_harness(&svs.path, data.path(), egui::vec2(1400.0, 900.0));
    h.state_mut().set_analysis_panel(true);
    common::run_until(&mut h, "the slide", |a| a.slide_view().is_some());
    let dims = h.state().slide_view().expect("slide").slide.dimensions();
    // Ours rises left to right; theirs agrees on the right half and is 0.5 higher on the left.
    let cell = 512.0;
    let mut ours = Heatmap::new(dims, cell);
    let mut theirs = Heatmap::new(dims, cell);
    for r in 0..ours.rows {
        for c in 0..ours.cols {
            let v = 0.1 + 0.4 * c as f32 / ours.cols as f32;
            ours.set(c, r, v);
            theirs.set(c, r, if c < ours.cols / 2 { v + 0.5 } else { v });
        }
    }
    let file = data.path().join("other-tool.json");
    let doc = sentinel::analysis::interchange::dsa::to_annotation(
        &theirs,
        "other tool",
        "",
        sentinel::colormap::Colormap::Viridis,
        serde_json::json!({}),
    );
    std::fs::write(&file, doc.to_string()).expect("write");
    {
        let a = h.state_mut().analysis_mut();
        a.set_heatmap(ours);
        a.style.opacity = 1.0;
        a.compare.import(Some(file), dims, Arc::new(|| {}));
    }
    common::run_until(&mut h, "the comparison", |a| {
        a.analysis().compare.comparison().is_some()
    });
    let c = h.state().analysis().compare.comparison().expect("compared");
    assert_eq!(
        c.tiles,
        (dims.0.div_ceil(512) * dims.1.div_ceil(512)) as usize
    );
    assert!((c.mean_abs_difference - 0.25).abs() < 0.02, "{c:?}");
    let text = format!(
        "over {} tiles both scored: r = {:.3}, mean |difference| {:.3}",
        c.tiles,
        c.pearson.expect("r"),
        c.mean_abs_difference
    );
    assert!(
        h.query_by_label_contains(&text).is_some(),
        "panel shows {text}"
    );
    assert!(
        h.query_by_label_contains("Imported: other-tool.json (DSA griddata)")
            .is_some()
    );
    assert_eq!(
        h.state().analysis().hover_text([100.0, 100.0]).as_deref(),
        Some("risk 0.100 · imported 0.600")
    );

    h.get_by_label("Difference").click();
    h.step();
    h.step();
    assert_eq!(
        h.state().analysis().compare.layer,
        sentinel::ui::heatmap_compare::Layer::Difference
    );
    // Whole slide in view; sample the middle of a left-half and a right-half cell.
    let image = h.render().expect("render");
    let _ = image
        .save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare-difference.png"));
    let (canvas, _) = h.state().layout();
    let canvas = canvas.expect("canvas");
    let view = h.state().slide_view().expect("slide").view;
    let at = |x: f64, y: f64| {
        let s = view.screen_from_slide([x, y]);
        let p = canvas.min + egui::vec2(s[0] as f32, s[1] as f32);
        *image.get_pixel(p.x as u32, p.y as u32)
    };
    let y = dims.1 as f64 / 3.0;
    let left = at(cell * 1.5, y);
    let right = at(dims.0 as f64 - cell * 1.5, y);
    assert!(
        i32::from(left[0]) - i32::from(left[2]) > 40,
        "imported higher: red, got {left:?}"
    );
    assert!(
        left[0].abs_diff(right[0]) > 20 && right[0].abs_diff(right[2]) < 20,
        "agreement: near white (not red), got {right:?}"
    );
}

/// "Load model folder…" on a WSInfer folder: the card shows the model before anything runs, the
/// risk class is chosen from its classes, and Analyze then runs that model.
#[test]
fn a_wsinfer_folder_is_loaded_through_its_card_and_analyses_the_slide() {
    let svs = common::svs();
    let data = tempfile::tempdir().expect("data dir");
    let mut h = common::app_harness(&svs.path, data.path(), egui::vec2(1400.0, 900.0));
    h.state_mut().set_analysis_panel(true);
    common::run_until(&mut h, "the slide", |a| a.slide_view().is_some());
    let dir = common::test_models().join("mean-red-wsinfer");
    h.state_mut()
        .analysis_mut()
        .model_folder
        .open(Some(dir.clone()), Arc::new(|| {}));
    common::run_until(&mut h, "the card", |a| {
        a.analysis().model_folder.card.is_some()
    });
    // 128 px at 0.25 µm/px resized to 64: 0.5 µm/px, 32 µm tiles.
    assert!(
        h.query_by_label("Input 64 px at 0.500 µm/px (32.0 µm tiles)")
            .is_some()
    );
    assert!(h.query_by_label("Classes: other, red").is_some());
    // Without a risk class the button does nothing.
    let before = h.state().analysis().model_dir.clone();
    h.get_by_label("Use this model").click();
    h.step();
    assert_eq!(
        h.state().analysis().model_dir,
        before,
        "no risk class chosen yet"
    );
    h.get_by_label("Risk class").click();
    // The popup opens on the next frames.
    for _ in 0..3 {
        h.step();
    }
    h.get_by_label("red").click();
    h.step();
    h.get_by_label("Use this model").click();
    h.step();
    {
        let a = h.state().analysis();
        assert_eq!(a.model_dir, dir);
        assert_eq!(a.risk_class.as_deref(), Some("red"));
    }
    // The card is gone: one more frame so the button is found where it now is.
    h.step();
    h.get_by_label("Analyze").click();
    common::run_until(&mut h, "the analysis", |a| {
        matches!(
            a.analysis().state,
            sentinel::ui::analysis_panel::RunState::Done { .. }
                | sentinel::ui::analysis_panel::RunState::Failed(_)
        )
    });
    let a = h.state().analysis();
    assert!(
        matches!(a.state, sentinel::ui::analysis_panel::RunState::Done { .. }),
        "{:?}",
        a.state
    );
    let name = a.model.as_ref().map(|m| m.0.clone()).unwrap_or_default();
    assert!(name.starts_with("mean-red-wsinfer WSInfer 1.0"), "{name}");
    // The mean-red function: reddish H&E scores well above 0.5 somewhere.
    let max = a
        .heatmap()
        .expect("heatmap")
        .values
        .iter()
        .flatten()
        .fold(0.0f32, |m, v| m.max(*v));
    assert!(max > 0.5 && max < 1.0, "{max}");
}
