//! The viewer driven through egui_kittest and rendered by wgpu (Mesa lavapipe where there is no GPU).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicI32;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use sentinel::app::{Launch, SentinelApp};
use sentinel::slide::{OpenSlideSource, SlideSource};
use sentinel::viewer::Budgets;

fn launch(slide: &std::path::Path) -> Launch {
    let data_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("gui-data-{}", std::process::id()));
    Launch {
        slide: Some(slide.to_path_buf()),
        goto: None,
        screenshot: None,
        budgets: Budgets::default(),
        data_dir,
        bench: None,
        heatmap: sentinel::app::LaunchHeatmap::Off,
        compare: None,
        annotations: None,
        layer: Default::default(),
    }
}

/// The app on `slide`, without the analysis side panel (so the canvas is the window's width).
fn harness(slide: &std::path::Path) -> Harness<'static, SentinelApp> {
    let launch = launch(slide);
    let mut h = Harness::builder()
        .with_size(egui::vec2(900.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| SentinelApp::new(cc, launch, Arc::new(AtomicI32::new(0))));
    h.state_mut().set_analysis_panel(false);
    h.state_mut().set_annotation_panel(false);
    h.step();
    h
}

/// Steps frames until `done` holds (tiles arrive from reader threads in real time).
fn run_until(
    h: &mut Harness<'static, SentinelApp>,
    what: &str,
    done: impl Fn(&SentinelApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            // One more frame so the last uploads are drawn.
            h.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn settled(app: &SentinelApp) -> bool {
    app.slide_view()
        .is_some_and(|v| v.stats.complete() && v.stats.pending == 0)
}

/// Places level `level` read at 1/`reduce` at 1:1 with its pixel grid on the screen's pixel grid,
/// with pixel (`lx`, `ly`) of that grid at the canvas pixel `inset` pixels in from the top-left
/// corner.
fn align_level(
    h: &mut Harness<'static, SentinelApp>,
    level: usize,
    reduce: u32,
    lx: f64,
    ly: f64,
    inset: f32,
) -> (f32, f32) {
    let canvas = h.state().layout().0.expect("canvas drawn");
    let first = (canvas.min.x.ceil() + inset, canvas.min.y.ceil() + inset);
    let v = h.state_mut().slide_view_mut().expect("slide");
    let ds = v.slide.levels()[level].downsample * f64::from(reduce);
    let zoom = 1.0 / ds;
    // Screen x of level pixel lx's left edge must be `first.0`: canvas.min.x + (lx*ds - left)*zoom.
    let left = lx * ds - f64::from(first.0 - canvas.min.x) / zoom;
    let top = ly * ds - f64::from(first.1 - canvas.min.y) / zoom;
    let centre = [
        left + v.view.size[0] / 2.0 / zoom,
        top + v.view.size[1] / 2.0 / zoom,
    ];
    v.jump_to(centre, zoom);
    first
}

fn psnr(a: &[[u8; 3]], b: &[[u8; 3]]) -> f64 {
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| {
            (0..3)
                .map(|c| (f64::from(p[c]) - f64::from(q[c])).powi(2))
                .sum::<f64>()
        })
        .sum();
    let mse = se / (a.len() as f64 * 3.0);
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[allow(clippy::too_many_arguments)]
/// Compares a `w` x `h` block of the rendered window at `at` with `read_region` of the level
/// (`read_region_reduced` at 1/`reduce`) starting at pixel (lx, ly) of that grid; also against
/// the same region one row lower, which must be clearly worse (so an offset by one row would
/// fail).
fn compare(
    h: &mut Harness<'static, SentinelApp>,
    slide: &OpenSlideSource,
    level: usize,
    reduce: u32,
    lx: u64,
    ly: u64,
    at: (f32, f32),
    w: u32,
    hgt: u32,
) {
    let image = h.render().expect("render");
    let shot: Vec<[u8; 3]> = (0..hgt)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let p = image.get_pixel(at.0 as u32 + x, at.1 as u32 + y);
            [p[0], p[1], p[2]]
        })
        .collect();
    let ds = slide.levels()[level].downsample * f64::from(reduce);
    let read = |row: u64| -> Vec<[u8; 3]> {
        let r = slide
            .read_region_reduced(
                level,
                (lx as f64 * ds) as i64,
                (row as f64 * ds) as i64,
                w,
                hgt,
                reduce,
            )
            .expect("read");
        r.pixels
            .chunks_exact(4)
            .map(|p| [p[0], p[1], p[2]])
            .collect()
    };
    let p = psnr(&shot, &read(ly));
    let shifted = psnr(&shot, &read(ly + 1));
    assert!(
        p > 35.0,
        "level {level} at 1/{reduce} at ({lx},{ly}): PSNR {p:.1} dB against read_region"
    );
    assert!(
        shifted < p - 5.0,
        "level {level} at 1/{reduce}: one-row shift not distinguishable ({shifted:.1} vs {p:.1})"
    );
}

#[test]
fn rendered_slide_matches_read_region_at_several_levels() {
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let mut h = harness(&f.path);
    run_until(&mut h, "the slide to open and load", settled);
    let t = &f.report.scene.tumours[0];
    // Level 0 on the tumour, level 1 and 2 on tissue, a pan at level 0, and level 0 at half size
    // (a zoom between levels 0 and 1, 4x apart, is drawn from level 0 read at 1/2).
    let cases = [
        (0usize, 1, t.cx / 1.0 - 200.0, t.cy - 150.0),
        (1, 1, t.cx / 4.0 - 150.0, t.cy / 4.0 - 100.0),
        (2, 1, 20.0, 20.0),
        (0, 1, t.cx - 30.0, t.cy + 40.0),
        (0, 2, t.cx / 2.0 - 120.0, t.cy / 2.0 - 90.0),
    ];
    for (level, reduce, lx, ly) in cases {
        let (lx, ly) = (lx.max(0.0).floor(), ly.max(0.0).floor());
        let at = align_level(&mut h, level, reduce, lx, ly, 8.0);
        run_until(&mut h, "full resolution", settled);
        let stats = h.state().slide_view().expect("slide").stats;
        assert_eq!(
            (stats.level, stats.reduce),
            (level, reduce),
            "drawn at the wrong level"
        );
        let (w, hh) = if level == 2 { (200, 150) } else { (400, 300) };
        compare(
            &mut h, &slide, level, reduce, lx as u64, ly as u64, at, w, hh,
        );
    }
}

#[test]
fn keyboard_shortcuts_change_the_view() {
    let f = common::svs();
    let mut h = harness(&f.path);
    run_until(&mut h, "open", |a| {
        a.slide_view().is_some_and(|v| v.is_initialised())
    });
    h.step();
    let idle = |a: &SentinelApp| a.slide_view().is_some_and(|v| !v.stats.animating);
    let zoom0 = h.state().slide_view().expect("slide").view.zoom;

    h.key_press(egui::Key::Plus);
    run_until(&mut h, "zoom in", idle);
    let z = h.state().slide_view().expect("slide").view.zoom;
    assert!(
        (z / zoom0 - 2.0).abs() < 1e-6,
        "+ doubles the zoom: {zoom0} -> {z}"
    );

    h.key_press(egui::Key::Minus);
    run_until(&mut h, "zoom out", idle);
    let z = h.state().slide_view().expect("slide").view.zoom;
    assert!((z / zoom0 - 1.0).abs() < 1e-6, "- halves the zoom");

    let before = h.state().slide_view().expect("slide").view;
    h.key_press(egui::Key::ArrowRight);
    run_until(&mut h, "pan right", idle);
    let after = h.state().slide_view().expect("slide").view;
    let expected = before.centre[0] + 0.25 * before.size[0] / before.zoom;
    assert!(
        (after.centre[0] - expected).abs() < 1e-6,
        "{} vs {expected}",
        after.centre[0]
    );
    assert_eq!(after.centre[1], before.centre[1]);

    h.key_press(egui::Key::S);
    run_until(&mut h, "pan down", idle);
    assert!(h.state().slide_view().expect("slide").view.centre[1] > before.centre[1]);

    h.key_press(egui::Key::Num1);
    run_until(&mut h, "1:1", idle);
    let v = h.state().slide_view().expect("slide");
    assert!(
        (v.view.zoom_px() - 1.0).abs() < 1e-9,
        "1 shows one slide pixel per screen pixel"
    );
    assert_eq!(v.magnification(), Some(40.0));

    h.key_press(egui::Key::Num0);
    run_until(&mut h, "fit", idle);
    let v = h.state().slide_view().expect("slide");
    assert!((v.view.zoom - zoom0).abs() < 1e-9, "0 fits the slide again");
    assert_eq!(v.view.centre, [2048.0, 1536.0]);
}

#[test]
fn clicking_the_overview_moves_the_view_there() {
    let f = common::svs();
    let mut h = harness(&f.path);
    run_until(&mut h, "open", |a| a.layout().1.is_some());
    let ov = h.state().layout().1.expect("overview");
    // A quarter across and three quarters down the overview.
    let p = egui::pos2(ov.min.x + ov.width() * 0.25, ov.min.y + ov.height() * 0.75);
    h.hover_at(p);
    h.event(egui::Event::PointerButton {
        pos: p,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: Default::default(),
    });
    h.step();
    h.event(egui::Event::PointerButton {
        pos: p,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: Default::default(),
    });
    h.step();
    h.step();
    let c = h.state().slide_view().expect("slide").view.centre;
    assert!(
        (c[0] - 1024.0).abs() < 20.0 && (c[1] - 2304.0).abs() < 20.0,
        "centre {c:?}"
    );
}

#[test]
fn a_bad_file_shows_an_error_and_keeps_the_open_slide() {
    let f = common::svs();
    let mut h = harness(&f.path);
    run_until(&mut h, "open", |a| a.slide_view().is_some());
    let bad = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("not-a-slide.svs");
    std::fs::write(&bad, b"this is not a slide").expect("write");
    h.state_mut().open(bad.clone());
    run_until(&mut h, "the error", |a| a.error_message().is_some());
    let msg = h.state().error_message().expect("error").to_owned();
    assert!(
        msg.contains("not-a-slide.svs") && msg.contains("not a slide format"),
        "{msg}"
    );
    assert_eq!(
        h.state().slide_view().expect("still open").slide.path(),
        f.path.as_path()
    );
    // The dialog is on screen, says what failed, and is dismissable.
    use egui_kittest::kittest::Queryable;
    h.get_by_label("Cannot open the slide");
    h.get_by_label("OK").click();
    h.step();
    h.step();
    assert!(h.state().error_message().is_none());

    // A view that cannot be saved is not called a slide that cannot be opened.
    let ctx = h.ctx.clone();
    h.state_mut().snapshot_to(
        &ctx,
        std::path::PathBuf::from("/nonexistent-folder/view.png"),
    );
    run_until(&mut h, "the snapshot error", |a| {
        a.error_message().is_some()
    });
    assert_eq!(h.state().error_title(), Some("Cannot save the view"));
    h.get_by_label("Cannot save the view");
}

#[test]
fn memory_stays_within_budgets_while_panning_across_the_slide() {
    let f = common::svs();
    let mut launch = launch(&f.path);
    launch.budgets = Budgets {
        cpu_bytes: 8 << 20,
        gpu_bytes: 8 << 20,
        upload_bytes_per_frame: 1 << 20,
        reader_threads: 2,
    };
    let budgets = launch.budgets;
    let mut h = Harness::builder()
        .with_size(egui::vec2(700.0, 500.0))
        .wgpu()
        .build_eframe(move |cc| SentinelApp::new(cc, launch, Arc::new(AtomicI32::new(0))));
    run_until(&mut h, "open", settled);
    // 1:1 at level 0, then sweep right and down across the whole slide.
    let tile_bytes = 258 * 258 * 4;
    {
        let v = h.state_mut().slide_view_mut().expect("slide");
        v.jump_to([300.0, 300.0], 1.0);
    }
    let mut frames = 0;
    for step in 0..60 {
        {
            let v = h.state_mut().slide_view_mut().expect("slide");
            let x = 300.0 + f64::from(step) * 60.0;
            v.jump_to([x, 300.0 + f64::from(step) * 45.0], 1.0);
        }
        for _ in 0..3 {
            h.step();
            frames += 1;
            let v = h.state().slide_view().expect("slide");
            let (ram, gpu) = v.memory();
            assert!(ram <= budgets.cpu_bytes, "RAM cache {ram} over budget");
            assert!(gpu <= budgets.gpu_bytes, "texture cache {gpu} over budget");
            assert!(
                v.stats.uploaded_bytes <= budgets.upload_bytes_per_frame.max(tile_bytes),
                "frame uploaded {} bytes",
                v.stats.uploaded_bytes
            );
            std::thread::sleep(Duration::from_millis(3));
        }
    }
    assert!(frames >= 180);
    // And the view still reaches full resolution with such small budgets.
    run_until(&mut h, "full resolution with small budgets", settled);
}

/// The heatmap overlay (shaders/heatmap.wgsl) covers exactly its cells at every zoom: with a
/// checkerboard of probabilities 1 and 0 and the threshold at 0.5, every "1" cell must be solid
/// viridis yellow right up to (2 px inside) its corners and every "0" cell must show the slide.
/// A shift by one cell flips the pattern; a shift by half a cell breaks the corners.
#[test]
fn heatmap_overlay_lines_up_with_slide_cells_at_every_zoom() {
    use sentinel::analysis::heatmap::Heatmap;
    let svs = common::svs();
    let mut h = harness(&svs.path);
    run_until(&mut h, "the first complete frame", settled);
    let dims = h.state().slide_view().expect("slide").slide.dimensions();
    let cell = 200.0;
    let mut map = Heatmap::new(dims, cell);
    for r in 0..map.rows {
        for c in 0..map.cols {
            map.set(c, r, if (c + r) % 2 == 0 { 1.0 } else { 0.0 });
        }
    }
    {
        let a = h.state_mut().analysis_mut();
        a.set_heatmap(map.clone());
        a.style.opacity = 1.0;
        a.style.threshold = 0.5;
        a.style.smooth = false;
        a.style.colormap = sentinel::colormap::Colormap::Viridis;
    }
    assert_eq!(
        h.state().analysis().hover_text([250.0, 250.0]).as_deref(),
        Some("risk 1.000"),
        "cell (1, 1) is a 1"
    );
    assert_eq!(
        h.state().analysis().hover_text([250.0, 150.0]).as_deref(),
        Some("risk 0.000")
    );
    let yellow = |p: &image::Rgba<u8>| {
        p[0].abs_diff(253) <= 14 && p[1].abs_diff(231) <= 14 && p[2].abs_diff(37) <= 30
    };
    let centre = [1530.0, 1170.0];
    for zoom in [0.06, 0.3, 1.0, 2.7] {
        h.state_mut()
            .slide_view_mut()
            .expect("slide")
            .jump_to(centre, zoom);
        run_until(&mut h, "tiles at the new zoom", settled);
        let image = h.render().expect("render");
        if zoom == 0.3 {
            let _ = image.save(
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("heatmap-overlay.png"),
            );
        }
        let (canvas, overview) = h.state().layout();
        let canvas = canvas.expect("canvas");
        let overview = overview.expect("overview").expand(3.0);
        let view = h.state().slide_view().expect("slide").view;
        // Points in the middle half of the canvas (clear of the legend and the scale bar) and off
        // the overview.
        let inner = canvas.shrink2(canvas.size() / 4.0);
        let mut checked = 0;
        for r in 0..map.rows {
            for c in 0..map.cols {
                let b = map.cell_box(c, r);
                let a = view.screen_from_slide([b[0], b[1]]);
                let z = view.screen_from_slide([b[2], b[3]]);
                let rect = egui::Rect::from_min_max(
                    canvas.min + egui::vec2(a[0] as f32, a[1] as f32),
                    canvas.min + egui::vec2(z[0] as f32, z[1] as f32),
                );
                if !inner.intersects(rect) {
                    continue;
                }
                let inset = 2.0f32.min(rect.width() / 4.0);
                let r2 = rect.shrink(inset);
                for p in [
                    r2.left_top(),
                    r2.right_top(),
                    r2.left_bottom(),
                    r2.right_bottom(),
                    rect.center(),
                ]
                .into_iter()
                .filter(|p| inner.contains(*p) && !overview.contains(*p))
                {
                    // Pixel whose area contains p (pixel centres are at +0.5).
                    let px = image.get_pixel(p.x.floor() as u32, p.y.floor() as u32);
                    let one = (c + r) % 2 == 0;
                    assert_eq!(
                        yellow(px),
                        one,
                        "zoom {zoom}: cell ({c},{r}) at screen {p:?} is {px:?}; expected {}",
                        if one { "heatmap yellow" } else { "the slide" }
                    );
                }
                checked += 1;
            }
        }
        assert!(checked >= 1, "zoom {zoom}: no cell checked");
        eprintln!("zoom {zoom}: {checked} cells checked");
    }

    // Side by side on the same slide with the heatmap in both panes: each draws it with its own
    // view (their uniforms are separate), so each pane's "1" cells are yellow and "0" cells not.
    h.state_mut()
        .slide_view_mut()
        .expect("slide")
        .jump_to(centre, 0.3);
    h.state_mut().split_same_slide();
    run_until(&mut h, "the second pane", |a| {
        a.second_view().is_some_and(|v| v.stats.complete()) && settled(a)
    });
    h.get_by_label("Heatmap here").click();
    h.step();
    h.step();
    let image = h.render().expect("render");
    let left = h.state().layout().0.expect("canvas");
    let right = egui::Rect::from_min_max(
        egui::pos2(left.max.x + 3.0, left.min.y),
        egui::pos2(left.max.x + 3.0 + left.width(), left.max.y),
    );
    let panes = [
        (left, h.state().slide_view().expect("main").view),
        (right, h.state().second_view().expect("second").view),
    ];
    let overview = h.state().layout().1.expect("overview").expand(3.0);
    for (pane, (rect, view)) in panes.into_iter().enumerate() {
        let inner = rect.shrink2(rect.size() / 4.0);
        let mut checked = 0;
        for r in 0..map.rows {
            for c in 0..map.cols {
                let b = map.cell_box(c, r);
                let m = view.screen_from_slide([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]);
                let p = rect.min + egui::vec2(m[0] as f32, m[1] as f32);
                if !inner.contains(p) || overview.contains(p) {
                    continue;
                }
                let px = image.get_pixel(p.x.floor() as u32, p.y.floor() as u32);
                assert_eq!(
                    yellow(px),
                    (c + r) % 2 == 0,
                    "pane {pane}: cell ({c},{r}) at {p:?} is {px:?}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 4, "pane {pane}: {checked} cells checked");
    }
}

/// One click on "Analyze" runs the bundled model over a real slide: the progress state moves to
/// Done, the heatmap covers the tissue tiles, the summary is shown, and the result is stored so a
/// second open reuses it.
#[test]
fn analyze_button_runs_the_bundled_model_and_shows_the_heatmap() {
    use egui_kittest::kittest::Queryable;
    use sentinel::ui::analysis_panel::RunState;
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let mut h = harness(&slide);
    h.state_mut().set_analysis_panel(true);
    run_until(&mut h, "the slide", settled);
    h.get_by_label("Analyze").click();
    let start = Instant::now();
    loop {
        h.step();
        match &h.state().analysis().state {
            RunState::Done { .. } => break,
            RunState::Failed(e) => panic!("analysis failed: {e}"),
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "analysis did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run_until(&mut h, "the final frame", settled);
    let a = h.state().analysis();
    let result = a.result.as_ref().expect("a result");
    let map = a.heatmap().expect("a heatmap");
    assert_eq!(
        map.values.iter().flatten().count(),
        result.summary.analysed_cells
    );
    assert!(result.summary.analysed_cells > 20, "tissue tiles analysed");
    assert!(result.tissue_area_mm2 > 0.1);
    let cells = result.summary.analysed_cells;
    let image = h.render().expect("render");
    let _ = image.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("analysis-cmu.png"));
    // The summary is on screen.
    h.get_by_label("Tiles analysed");

    // Opening the slide again shows the stored result at once (files only, no inference).
    h.state_mut().open(slide.clone());
    let start = Instant::now();
    loop {
        h.step();
        if let RunState::Done { reused: true, .. } = h.state().analysis().state {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the stored result did not show"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let map = h.state().analysis().heatmap().expect("the stored heatmap");
    assert_eq!(map.values.iter().flatten().count(), cells);
}

/// Cancel during a run stops it: the state turns Cancelled part-way (not Done), the tiles scored so
/// far stay on the map, nothing is stored as a result, and Analyze is offered again.
#[test]
fn cancel_button_stops_a_running_analysis() {
    use egui_kittest::kittest::Queryable;
    use sentinel::synth::{SynthFormat, SynthSpec};
    use sentinel::ui::analysis_panel::RunState;

    // 0.5 µm/px, so every 224 px of level 0 is one model tile: hundreds of tissue tiles, tens of
    // seconds of CPU inference, so the run is still going when Cancel is clicked.
    let mut spec = SynthSpec::new(8000, 6000, SynthFormat::Svs);
    spec.mpp = 0.5;
    spec.seed = 5;
    let fixture = common::make("cancel-8000x6000.svs", spec);
    let mut h = harness(&fixture.path);
    h.state_mut().set_analysis_panel(true);
    run_until(&mut h, "the slide", settled);
    h.get_by_label("Analyze").click();
    run_until(
        &mut h,
        "the first scored tiles",
        |app| matches!(app.analysis().state, RunState::Running { done, .. } if done > 0),
    );
    let RunState::Running { total, .. } = h.state().analysis().state else {
        unreachable!("checked above")
    };
    assert!(
        total > 200,
        "only {total} tiles: too few to cancel part-way"
    );
    h.get_by_label("Cancel").click();
    let clicked = Instant::now();
    run_until(&mut h, "the cancellation", |app| {
        !matches!(app.analysis().state, RunState::Running { .. })
    });
    let waited = clicked.elapsed();
    let a = h.state().analysis();
    let RunState::Cancelled { done, total: t } = a.state else {
        panic!("expected Cancelled, got {:?}", a.state);
    };
    println!("cancelled after {done} of {t} tiles, {waited:?} after the click");
    assert_eq!(t, total);
    assert!(done < total, "the run went to the end");
    assert!(waited < Duration::from_secs(3), "stopping took {waited:?}");
    let shown = a
        .heatmap()
        .expect("the partial map stays")
        .values
        .iter()
        .flatten()
        .count();
    assert!(shown > 0 && shown < total, "{shown} cells shown");
    assert!(a.result.is_none(), "a cancelled run has no result");
    h.get_by_label("Analyze");
}

/// Brush size, hidden classes, the heatmap's colour map and opacity and the open panels are
/// found again at the next launch (they were reset at every start).
#[test]
fn preferences_persist_between_launches() {
    let f = common::svs();
    let data = tempfile::tempdir().expect("data dir");
    let mut first = launch(&f.path);
    first.data_dir = data.path().to_path_buf();
    let second = Launch {
        data_dir: data.path().to_path_buf(),
        ..launch(&f.path)
    };
    let build = |l: Launch| {
        Harness::builder()
            .with_size(egui::vec2(900.0, 700.0))
            .wgpu()
            .build_eframe(move |cc| SentinelApp::new(cc, l, Arc::new(AtomicI32::new(0))))
    };
    let expected = {
        let mut h = build(first);
        h.state_mut().set_analysis_panel(false);
        h.state_mut().set_review_panel(true);
        h.state_mut().annotations_mut().brush_pt = 30.0;
        h.state_mut()
            .annotations_mut()
            .set_hidden_classes(&["Stroma".to_owned()]);
        h.state_mut().analysis_mut().style.colormap = sentinel::colormap::Colormap::Magma;
        h.state_mut().analysis_mut().style.opacity = 0.8;
        h.step();
        h.step();
        let p = h.state().preferences();
        assert_ne!(p, sentinel::prefs::Preferences::default());
        p
        // Dropped here: the app exits and writes what is not on disk yet.
    };
    assert!(data.path().join("preferences.json").is_file());
    let h = build(second);
    let found = h.state().preferences();
    assert_eq!(found, expected);
    assert!(found.show_review && !found.show_analysis);
    assert_eq!(found.hidden_classes, ["Stroma"]);
}

/// Side-by-side panes: linked, panning or zooming either pane moves the other to the same place
/// and scale (in µm, across slides of other resolutions); unlinked, each moves alone, and linking
/// again keeps the offset between them.
#[test]
fn side_by_side_panes_pan_and_zoom_together_until_unlinked() {
    let f = common::svs();
    let mut h = harness(&f.path);
    run_until(&mut h, "the slide", settled);
    h.state_mut().split_same_slide();
    run_until(&mut h, "the second pane", |a| {
        a.second_view().is_some_and(|v| v.stats.complete())
    });
    let views = |h: &Harness<'static, SentinelApp>| {
        (
            h.state().slide_view().expect("main").view,
            h.state().second_view().expect("second").view,
        )
    };
    let (main, second) = views(&h);
    assert_eq!((main.centre, main.zoom), (second.centre, second.zoom));
    let (left, right) = {
        let canvas = h.state().layout().0.expect("canvas");
        (
            canvas,
            egui::Rect::from_min_max(
                egui::pos2(canvas.max.x + 3.0, canvas.min.y),
                egui::pos2(900.0, canvas.max.y),
            ),
        )
    };
    assert!(left.width() < 460.0, "the main pane is the left half");

    // Panning the main pane pans the second.
    common::drag(
        &mut h,
        left.center(),
        left.center() + egui::vec2(-80.0, -40.0),
    );
    let (main2, second2) = views(&h);
    assert!(main2.centre[0] > main.centre[0], "the main pane panned");
    assert_eq!(second2.centre, main2.centre, "the second followed");
    // Panning the second pans the main one.
    common::drag(
        &mut h,
        right.center(),
        right.center() + egui::vec2(60.0, 30.0),
    );
    let (main3, second3) = views(&h);
    assert!(
        second3.centre[0] < second2.centre[0],
        "the second pane panned"
    );
    assert_eq!(main3.centre, second3.centre, "the main pane followed");
    // Zooming the main one zooms both.
    h.key_press(egui::Key::Plus);
    run_until(&mut h, "zoom in", |a| {
        a.slide_view().is_some_and(|v| !v.stats.animating)
    });
    let (main4, second4) = views(&h);
    assert!((main4.zoom / main3.zoom - 2.0).abs() < 1e-6);
    assert_eq!((second4.centre, second4.zoom), (main4.centre, main4.zoom));

    // Unlinked, the second stays put.
    h.get_by_label("Link panes").click();
    h.step();
    assert_eq!(h.state().panes_linked(), Some(false));
    common::drag(
        &mut h,
        left.center(),
        left.center() + egui::vec2(-50.0, 0.0),
    );
    let (main5, second5) = views(&h);
    assert!(main5.centre[0] > main4.centre[0]);
    assert_eq!(second5.centre, second4.centre, "unlinked: not moved");
    // Linked again: the offset is kept and they pan together.
    h.get_by_label("Link panes").click();
    h.step();
    common::drag(
        &mut h,
        left.center(),
        left.center() + egui::vec2(-40.0, 0.0),
    );
    let (main6, second6) = views(&h);
    let moved = main6.centre[0] - main5.centre[0];
    assert!(moved > 0.0);
    assert!(
        (second6.centre[0] - second5.centre[0] - moved).abs() < 1e-6,
        "moved by as much, {} apart as before",
        main5.centre[0] - second5.centre[0]
    );
    assert!(
        ((main6.centre[0] - second6.centre[0]) - (main5.centre[0] - second5.centre[0])).abs()
            < 1e-6
    );
    if let Ok(img) = h.render() {
        let _ =
            img.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("side-by-side.png"));
    }

    // Another slide at another resolution (0.5 µm/px against 0.25): the same place in µm.
    h.get_by_label("Close pane").click();
    h.step();
    assert!(h.state().second_view().is_none());
    h.state_mut().split_open(common::tiff().path.clone());
    run_until(&mut h, "the other slide", |a| {
        a.second_view().is_some_and(|v| v.stats.complete())
    });
    let (main7, second7) = views(&h);
    for i in 0..2 {
        assert!(
            (second7.centre[i] - main7.centre[i] * 0.5).abs() < 1e-6,
            "{i}"
        );
    }
    assert!((second7.zoom - main7.zoom * 2.0).abs() < 1e-9);
}
