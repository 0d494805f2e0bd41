//! Annotation tools in the GUI (egui_kittest, real slide): draw by clicks and drags, undo, redo,
//! select, delete, and the edits reach the store on disk.

mod common;

use egui::{Key, Modifiers, Pos2, pos2};
use egui_kittest::Harness;
use sentinel::annotate::{Shape, tool::Tool};
use sentinel::app::SentinelApp;
use sentinel::store::Store;

fn harness(slide: &std::path::Path, data_dir: &std::path::Path) -> Harness<'static, SentinelApp> {
    common::app_harness(slide, data_dir, egui::vec2(900.0, 700.0))
}

use common::{click, drag, run_until};

fn key(h: &mut Harness<'static, SentinelApp>, modifiers: Modifiers, k: Key) {
    h.key_press_modifiers(modifiers, k);
    h.step();
    h.step();
}

/// Level-0 position of a screen point on the canvas.
fn slide_at(h: &Harness<'static, SentinelApp>, p: Pos2) -> [f64; 2] {
    let canvas = h.state().layout().0.expect("canvas");
    let v = h.state().slide_view().expect("view");
    v.slide_position(canvas, p).expect("on the canvas")
}

#[test]
fn polygon_by_clicks_then_undo_redo_select_delete_and_saved() {
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    assert!(h.state().annotations().document().items().is_empty());

    key(&mut h, Modifiers::NONE, Key::G);
    assert_eq!(h.state().annotations().tool(), Tool::Polygon);
    let canvas = h.state().layout().0.expect("canvas");
    let c = canvas.center();
    let corners = [
        c + egui::vec2(-120.0, -80.0),
        c + egui::vec2(100.0, -60.0),
        c + egui::vec2(0.0, 110.0),
    ];
    let expected: Vec<[f64; 2]> = corners.iter().map(|p| slide_at(&h, *p)).collect();
    let centre_before = h.state().slide_view().expect("view").view.centre;
    for p in corners {
        click(&mut h, p);
    }
    assert!(
        h.state().annotations().document().items().is_empty(),
        "open until finished"
    );
    key(&mut h, Modifiers::NONE, Key::Enter);
    let items = h.state().annotations().document().items().to_vec();
    assert_eq!(items.len(), 1, "one polygon");
    let Shape::Area { polygons } = &items[0].shape else {
        panic!("a polygon, got {:?}", items[0].shape)
    };
    let zoom = h.state().slide_view().expect("view").view.zoom;
    assert_eq!(polygons[0][0].len(), 3);
    for (got, want) in polygons[0][0].iter().zip(&expected) {
        let err = (got[0] - want[0]).hypot(got[1] - want[1]) * zoom;
        assert!(
            err < 1.0,
            "vertex {got:?} is {err} pt from the click at {want:?}"
        );
    }
    assert_eq!(items[0].class.as_deref(), Some("Tumor"));
    assert_eq!(
        h.state().slide_view().expect("view").view.centre,
        centre_before,
        "drawing does not pan"
    );

    key(&mut h, Modifiers::COMMAND, Key::Z);
    assert!(
        h.state().annotations().document().items().is_empty(),
        "undone"
    );
    key(&mut h, Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    assert_eq!(
        h.state().annotations().document().items(),
        items.as_slice(),
        "redone"
    );

    // A look at it (written for people; nothing is compared).
    h.state_mut().set_annotation_panel(true);
    h.state_mut()
        .annotations_mut()
        .select(Some(items[0].id.clone()));
    h.step();
    h.step();
    if let Ok(img) = h.render() {
        let _ =
            img.save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("annotations-cmu.png"));
    }
    h.state_mut().set_annotation_panel(false);
    h.step();
    h.step();

    // Select it by clicking inside, then delete it with the Delete key.
    key(&mut h, Modifiers::NONE, Key::Escape);
    key(&mut h, Modifiers::NONE, Key::V);
    h.state_mut().annotations_mut().select(None);
    let inside = pos2(
        (corners[0].x + corners[1].x + corners[2].x) / 3.0,
        (corners[0].y + corners[1].y + corners[2].y) / 3.0,
    );
    click(&mut h, inside);
    assert_eq!(
        h.state().annotations().selected().map(|a| a.id.clone()),
        Some(items[0].id.clone()),
        "a click inside selects"
    );
    key(&mut h, Modifiers::NONE, Key::Delete);
    assert!(
        h.state().annotations().document().items().is_empty(),
        "deleted"
    );
    key(&mut h, Modifiers::COMMAND, Key::Z);
    assert_eq!(
        h.state().annotations().document().items().len(),
        1,
        "delete undone"
    );

    run_until(&mut h, "the saves", |a| a.annotations().all_saved());
    let key = sentinel::ui::annotations::slide_key(h.state().slide_view().expect("view"));
    let stored = Store::in_data_dir(dir.path())
        .expect("store")
        .annotations(&key)
        .expect("load");
    assert_eq!(stored, items, "what is on screen is on disk");
}

#[test]
fn rectangle_by_drag_draws_without_panning() {
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    key(&mut h, Modifiers::NONE, Key::R);
    let c = h.state().layout().0.expect("canvas").center();
    let (a, b) = (c + egui::vec2(-100.0, -50.0), c + egui::vec2(80.0, 60.0));
    let (sa, sb) = (slide_at(&h, a), slide_at(&h, b));
    let centre_before = h.state().slide_view().expect("view").view.centre;
    h.hover_at(a);
    h.step();
    h.drag_at(a);
    h.step();
    for i in 1..=5 {
        h.hover_at(a + (b - a) * (i as f32 / 5.0));
        h.step();
    }
    h.drop_at(b);
    h.step();
    h.step();
    let items = h.state().annotations().document().items().to_vec();
    assert_eq!(items.len(), 1);
    let zoom = h.state().slide_view().expect("view").view.zoom;
    let Shape::Rectangle { min, max } = items[0].shape else {
        panic!("a rectangle, got {:?}", items[0].shape)
    };
    for (got, want) in [(min, sa), (max, sb)] {
        let err = (got[0] - want[0]).hypot(got[1] - want[1]) * zoom;
        assert!(err < 1.0, "corner {got:?} vs {want:?}");
    }
    assert_eq!(
        h.state().slide_view().expect("view").view.centre,
        centre_before
    );
}

#[test]
fn region_export_from_the_panel_runs_off_the_ui_thread() {
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    let shape = Shape::Ellipse {
        centre: [1100.0, 1500.0],
        radii: [300.0, 200.0],
    };
    // Imported annotations keep their files' ids: short and non-ASCII ones too (the export once
    // sliced ids at byte 8 and its thread panicked on these).
    let mut a = sentinel::annotate::Annotation::new(shape.clone(), Some("Tumor".into()));
    a.id = "é".into();
    let mut b = sentinel::annotate::Annotation::new(shape.clone(), Some("Tumor".into()));
    b.id = "x".into();
    let ids = [a.id.clone(), b.id.clone()];
    h.state_mut()
        .annotations_mut()
        .edit(sentinel::annotate::Edit::Add(vec![a, b]));
    let src = std::sync::Arc::clone(&h.state().slide_view().expect("view").slide);
    let out = dir.path().join("regions");
    std::fs::create_dir_all(&out).expect("dir");
    h.state_mut().annotations_mut().export.mask = true;
    h.state_mut()
        .annotations_mut()
        .export_regions(src, &ids, out.clone());
    assert!(
        h.state().annotations().export_progress().is_some(),
        "running"
    );
    run_until(&mut h, "the export", |a| {
        a.annotations().export_progress().is_none()
    });
    assert_eq!(h.state().annotations().error(), None);
    let files = common::file_names(&out);
    // Two regions of the same class: numbered apart, each with its mask.
    assert_eq!(
        files,
        [
            "CMU-1-Small-Region-000-Tumor-mask.png",
            "CMU-1-Small-Region-000-Tumor.png",
            "CMU-1-Small-Region-001-Tumor-mask.png",
            "CMU-1-Small-Region-001-Tumor.png",
        ]
    );
    let img = image::open(out.join(&files[1])).expect("png");
    assert_eq!((img.width(), img.height()), (600, 400));
}

#[test]
fn snapshot_saves_the_canvas_with_annotations_and_scale_bar() {
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    let a = sentinel::annotate::Annotation::new(
        Shape::rectangle([600.0, 900.0], [1500.0, 2000.0]),
        Some("Tumor".into()),
    );
    h.state_mut()
        .annotations_mut()
        .edit(sentinel::annotate::Edit::Add(vec![a]));
    h.step();
    let path = dir.path().join("view.png");
    let ctx = h.ctx.clone();
    h.state_mut().snapshot_to(&ctx, path.clone());
    run_until(&mut h, "the snapshot", |a| !a.snapshot_pending());
    assert!(h.state().notice().is_some_and(|n| n.contains("view.png")));
    let _ = std::fs::copy(
        &path,
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("snapshot-cmu.png"),
    );
    let img = image::open(&path).expect("png").to_rgb8();
    let canvas = h.state().layout().0.expect("canvas");
    assert_eq!(
        (img.width(), img.height()),
        (
            canvas.width().round() as u32,
            canvas.height().round() as u32
        ),
        "cropped to the canvas"
    );
    // The Tumor outline (200, 0, 0) and the scale bar's white text on its dark box are in it.
    let red = img.pixels().filter(|p| p.0 == [200, 0, 0]).count();
    assert!(red > 500, "{red} outline pixels");
    let bottom_left = image::imageops::crop_imm(&img, 0, img.height() - 60, 220, 60).to_image();
    assert!(
        bottom_left.pixels().any(|p| p.0.iter().all(|c| *c > 230)),
        "scale bar label"
    );
}

#[test]
fn panel_buttons_pick_tools_undo_and_list_with_measures() {
    use egui_kittest::kittest::Queryable;
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    h.state_mut().set_annotation_panel(true);
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    h.get_by_label("Ellipse (E)").click();
    h.run_steps(5);
    assert_eq!(h.state().annotations().tool(), Tool::Ellipse);
    // CMU-1-Small-Region is 0.499 µm/px: a 200 x 100 px box is 99.8 x 49.9 µm.
    let a = sentinel::annotate::Annotation::new(
        Shape::rectangle([500.0, 500.0], [700.0, 600.0]),
        Some("Stroma".into()),
    );
    h.state_mut()
        .annotations_mut()
        .edit(sentinel::annotate::Edit::Add(vec![a]));
    h.run_steps(5);
    h.get_by_label_contains("rectangle · Stroma · 4980 µm² · 299.4 µm");
    h.get_by_label("Undo").click();
    h.run_steps(5);
    assert!(h.state().annotations().document().items().is_empty());
    h.get_by_label("Redo").click();
    h.run_steps(5);
    assert_eq!(h.state().annotations().document().items().len(), 1);

    // Stroma is used: only the four unused classes offer "remove".
    let removable = h.get_all_by_label("remove").count();
    assert_eq!(removable, 4);
    h.get_all_by_label("remove")
        .next()
        .expect("a remove button")
        .click();
    h.run_steps(5);
    let names: Vec<String> = h
        .state()
        .annotations()
        .document()
        .classes()
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["Stroma", "Necrosis", "Lymphocytes", "Other"]);
}

#[test]
fn select_tool_moves_a_shape_and_drags_a_vertex_with_undo() {
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    let c = h.state().layout().0.expect("canvas").center();
    let (p0, p1) = (c - egui::vec2(100.0, 60.0), c + egui::vec2(100.0, 60.0));
    let original = Shape::rectangle(slide_at(&h, p0), slide_at(&h, p1));
    let a = sentinel::annotate::Annotation::new(original.clone(), Some("Tumor".into()));
    let id = a.id.clone();
    h.state_mut()
        .annotations_mut()
        .edit(sentinel::annotate::Edit::Add(vec![a]));
    h.state_mut().annotations_mut().select(Some(id.clone()));
    key(&mut h, Modifiers::NONE, Key::V);
    let zoom = h.state().slide_view().expect("view").view.zoom;
    let centre_before = h.state().slide_view().expect("view").view.centre;
    let shape_now = |h: &Harness<'static, SentinelApp>| {
        h.state()
            .annotations()
            .document()
            .get(&id)
            .expect("still there")
            .shape
            .clone()
    };
    // Drag from inside: the whole shape moves by the drag, the view does not pan.
    drag(&mut h, c, c + egui::vec2(40.0, 30.0));
    let mut moved = original.clone();
    moved.translate([40.0 / zoom, 30.0 / zoom]);
    let close = |a: &Shape, b: &Shape| {
        a.vertices()
            .iter()
            .zip(b.vertices())
            .all(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]) * zoom < 0.5)
    };
    assert!(
        close(&shape_now(&h), &moved),
        "{:?} vs {moved:?}",
        shape_now(&h)
    );
    assert_eq!(
        h.state().slide_view().expect("view").view.centre,
        centre_before
    );
    // Drag the bottom-right handle: only that corner moves.
    let corner = p1 + egui::vec2(40.0, 30.0);
    drag(&mut h, corner, corner + egui::vec2(25.0, 15.0));
    let Shape::Rectangle { min, max } = shape_now(&h) else {
        panic!("still a rectangle")
    };
    let Shape::Rectangle { min: m0, max: m1 } = moved else {
        unreachable!()
    };
    assert!(
        (min[0] - m0[0]).hypot(min[1] - m0[1]) * zoom < 0.5,
        "top-left stays"
    );
    assert!(
        ((max[0] - m1[0]) * zoom - 25.0).abs() < 0.5
            && ((max[1] - m1[1]) * zoom - 15.0).abs() < 0.5
    );
    // Each drag was one edit.
    key(&mut h, Modifiers::COMMAND, Key::Z);
    assert!(close(&shape_now(&h), &moved));
    key(&mut h, Modifiers::COMMAND, Key::Z);
    assert!(close(&shape_now(&h), &original));
}

#[test]
fn brush_paints_an_area_and_shift_erases_from_it() {
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    key(&mut h, Modifiers::NONE, Key::B);
    h.state_mut().annotations_mut().brush_pt = 20.0;
    let c = h.state().layout().0.expect("canvas").center();
    let stroke = |h: &mut Harness<'static, SentinelApp>, from: Pos2, to: Pos2, shift: bool| {
        let m = if shift {
            Modifiers::SHIFT
        } else {
            Modifiers::NONE
        };
        h.event(egui::Event::ModifiersChanged(m));
        h.hover_at(from);
        h.step();
        h.event(egui::Event::PointerButton {
            pos: from,
            button: egui::PointerButton::Primary,
            pressed: true,
            modifiers: m,
        });
        h.step();
        for i in 1..=8 {
            h.hover_at(from + (to - from) * (i as f32 / 8.0));
            h.step();
        }
        h.event(egui::Event::PointerButton {
            pos: to,
            button: egui::PointerButton::Primary,
            pressed: false,
            modifiers: m,
        });
        h.step();
        h.event(egui::Event::ModifiersChanged(Modifiers::NONE));
        h.step();
    };
    stroke(
        &mut h,
        c - egui::vec2(120.0, 0.0),
        c + egui::vec2(120.0, 0.0),
        false,
    );
    let zoom = h.state().slide_view().expect("view").view.zoom;
    let items = h.state().annotations().document().items().to_vec();
    assert_eq!(items.len(), 1, "one painted area");
    // A band 240 pt long and 40 pt wide with round ends: about 240 * 40 + pi * 20² pt².
    let area_pt = items[0].shape.area_px() * zoom * zoom;
    assert!((10_000.0..11_000.0).contains(&area_pt), "{area_pt} pt²");
    // Erase across the middle: the band splits in two.
    stroke(
        &mut h,
        c - egui::vec2(0.0, 60.0),
        c + egui::vec2(0.0, 60.0),
        true,
    );
    let after = h.state().annotations().document().items().to_vec();
    assert_eq!(after.len(), 1);
    let Shape::Area { polygons } = &after[0].shape else {
        panic!("an area")
    };
    assert_eq!(polygons.len(), 2, "cut in two");
    assert!(
        !after[0].shape.hit(slide_at(&h, c), 0.0),
        "the middle is erased"
    );
}

/// An annotation file for another slide (a region a million pixels away) imports nothing, and
/// the panel says which annotation and why; one that fits is imported.
#[test]
fn importing_a_file_for_another_slide_adds_nothing_and_says_why() {
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some() && a.annotations().is_loaded()
    });
    let classes = sentinel::annotate::default_classes();
    let far = sentinel::annotate::Annotation::new(
        Shape::rectangle([1_000_000.0, 0.0], [1_000_400.0, 300.0]),
        None,
    );
    let near =
        sentinel::annotate::Annotation::new(Shape::rectangle([100.0, 100.0], [400.0, 300.0]), None);
    let file = dir.path().join("other-slide.geojson");
    std::fs::write(
        &file,
        sentinel::annotate::geojson::export(&[near.clone(), far], &classes),
    )
    .expect("write");
    h.state_mut().annotations_mut().import_path(file);
    run_until(&mut h, "the refusal", |a| a.annotations().error().is_some());
    let e = h.state().annotations().error().expect("error").to_owned();
    assert!(
        e.contains("annotation 2") && e.contains("2220x2967 px"),
        "{e}"
    );
    assert!(h.state().annotations().document().items().is_empty());
    let file = dir.path().join("this-slide.geojson");
    std::fs::write(
        &file,
        sentinel::annotate::geojson::export(&[near], &classes),
    )
    .expect("write");
    h.state_mut().annotations_mut().import_path(file);
    run_until(&mut h, "the import", |a| {
        a.annotations().document().items().len() == 1
    });
}

/// Thousands of detections (2,000 cell outlines and 400,000 points, as an import of a detection
/// run) are drawn from the GPU layer: the outlines show in their class colours, a hidden class
/// goes, a cell moved with the Select tool is drawn where it went and not where it was, and the
/// whole slide far out shows the points as the level-of-detail raster.
#[test]
fn thousands_of_detections_draw_from_the_gpu_layer_and_edit_like_one_shape() {
    use sentinel::annotate::{Annotation, default_classes, geojson};
    let data = common::shared_data();
    let slide = data.join("slides/CMU-1-Small-Region.svs");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(&slide, dir.path());
    run_until(&mut h, "the slide and its annotations", |a| {
        a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().is_loaded()
    });
    // Stroma cells (16-gons) on a 40 px grid left of x = 1000, one Tumor cell at (1100, 1500),
    // and 400,000 points right of x = 1400.
    let ring = |c: [f64; 2], r: f64| -> Vec<[f64; 2]> {
        (0..16)
            .map(|k| {
                let t = f64::from(k) / 16.0 * std::f64::consts::TAU;
                [c[0] + r * t.cos(), c[1] + r * t.sin()]
            })
            .collect()
    };
    let mut items = Vec::new();
    for i in 0..25 {
        for j in 0..80 {
            let c = [20.0 + 40.0 * f64::from(i), 20.0 + 36.0 * f64::from(j)];
            items.push(Annotation::new(
                Shape::Area {
                    polygons: vec![vec![ring(c, 14.0)]],
                },
                Some("Stroma".into()),
            ));
        }
    }
    let tumour = Annotation::new(
        Shape::Area {
            polygons: vec![vec![ring([1100.0, 1500.0], 40.0)]],
        },
        Some("Tumor".into()),
    );
    let tumour_id = tumour.id.clone();
    items.push(tumour);
    let mut rng = fastrand::Rng::with_seed(3);
    let points: Vec<[f64; 2]> = (0..400_000)
        .map(|_| [1400.0 + rng.f64() * 800.0, rng.f64() * 2900.0])
        .collect();
    items.push(Annotation::new(
        Shape::Points { points },
        Some("Other".into()),
    ));
    let file = dir.path().join("detections.geojson");
    std::fs::write(&file, geojson::export(&items, &default_classes())).expect("write");
    h.state_mut().annotations_mut().import_path(file);
    run_until(&mut h, "the detections imported and drawn", |a| {
        a.annotations().document().items().len() == items.len() && a.annotations().drawn_as_built()
    });
    assert!(h.state().annotations().drawn_densely(), "a dense layer");

    let red = |p: &image::Rgba<u8>| p[0] > 150 && p[1] < 60 && p[2] < 60;
    let green =
        |p: &image::Rgba<u8>| p[1] > 160 && p[0].abs_diff(150) < 40 && p[2].abs_diff(150) < 40;
    // Whether some pixel within 1.5 points of slide point `at` passes `test`.
    let near = |h: &mut Harness<'static, SentinelApp>,
                at: [f64; 2],
                test: &dyn Fn(&image::Rgba<u8>) -> bool| {
        let image = h.render().expect("render");
        let canvas = h.state().layout().0.expect("canvas");
        let view = h.state().slide_view().expect("view").view;
        pixel_near(&image, canvas.min, &view, at, test)
    };
    let settle = |h: &mut Harness<'static, SentinelApp>| {
        run_until(h, "tiles and the layer", |a| {
            a.slide_view().is_some_and(|v| v.stats.complete()) && a.annotations().drawn_as_built()
        });
    };
    h.state_mut()
        .slide_view_mut()
        .expect("view")
        .jump_to([1000.0, 1500.0], 1.0);
    settle(&mut h);
    let _ = h
        .render()
        .expect("render")
        .save(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dense-annotations.png"));
    assert!(
        near(&mut h, [1140.0, 1500.0], &red),
        "the Tumor cell's outline"
    );
    assert!(
        near(&mut h, [980.0 + 14.0, 20.0 + 36.0 * 41.0], &green),
        "a Stroma cell's outline"
    );
    assert!(
        !near(&mut h, [1100.0, 1380.0], &red),
        "no outline in the gap"
    );

    // Hiding the class rebuilds the layer without it.
    h.state_mut()
        .annotations_mut()
        .set_hidden_classes(&["Tumor".to_owned()]);
    settle(&mut h);
    assert!(!near(&mut h, [1140.0, 1500.0], &red), "hidden");
    h.state_mut().annotations_mut().set_hidden_classes(&[]);
    settle(&mut h);
    assert!(near(&mut h, [1140.0, 1500.0], &red), "shown again");

    // Move the Tumor cell 60 points right with the Select tool.
    key(&mut h, Modifiers::NONE, Key::V);
    let canvas = h.state().layout().0.expect("canvas");
    let view = h.state().slide_view().expect("view").view;
    let s = view.screen_from_slide([1100.0, 1500.0]);
    let from = canvas.min + egui::vec2(s[0] as f32, s[1] as f32);
    click(&mut h, from);
    assert_eq!(
        h.state().annotations().selected().map(|a| a.id.clone()),
        Some(tumour_id.clone()),
        "the click picks the Tumor cell"
    );
    drag(&mut h, from, from + egui::vec2(60.0, 0.0));
    let moved = h
        .state()
        .annotations()
        .document()
        .get(&tumour_id)
        .expect("kept")
        .shape
        .bbox();
    assert!((moved[0] - 1120.0).abs() < 1.0, "moved to {moved:?}");
    h.state_mut().annotations_mut().select(None);
    settle(&mut h);
    assert!(!near(&mut h, [1060.0, 1500.0], &red), "not where it was");
    assert!(near(&mut h, [1200.0, 1500.0], &red), "where it went");

    // The whole slide: 400,000 points are past the vector budget; the raster shows them.
    h.state_mut()
        .slide_view_mut()
        .expect("view")
        .jump_to([1110.0, 1480.0], 0.2);
    settle(&mut h);
    let yellow = |p: &image::Rgba<u8>| p[0] > 200 && p[1] > 150 && p[2] < 130;
    assert!(
        near(&mut h, [1800.0, 1500.0], &yellow),
        "points as a raster"
    );
    assert!(!near(&mut h, [1200.0, 600.0], &yellow), "none in the gap");

    // Side by side on the same slide: each pane draws the layer with its own view.
    h.state_mut()
        .slide_view_mut()
        .expect("view")
        .jump_to([1160.0, 1500.0], 1.0);
    settle(&mut h);
    h.state_mut().split_same_slide();
    run_until(&mut h, "the second pane", |a| {
        a.second_view().is_some_and(|v| v.stats.complete()) && a.annotations().drawn_as_built()
    });
    let image = h.render().expect("render");
    let _ = image.save(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dense-annotations-panes.png"),
    );
    let left = h.state().layout().0.expect("canvas");
    let right_min = egui::pos2(left.max.x + 3.0, left.min.y);
    let seen = |min: egui::Pos2, view: sentinel::view::Viewport, at: [f64; 2]| {
        pixel_near(&image, min, &view, at, &red)
    };
    let main = h.state().slide_view().expect("main").view;
    let second = h.state().second_view().expect("second").view;
    assert!(
        seen(left.min, main, [1200.0, 1500.0]),
        "the left pane's outline"
    );
    assert!(
        seen(right_min, second, [1200.0, 1500.0]),
        "the right pane's outline"
    );
    assert!(
        seen(left.min, main, [1120.0, 1500.0]),
        "the left pane's other side"
    );
}

/// Whether some pixel of `image` within 1.5 points of slide point `at`, in a pane whose canvas
/// starts at `min` and shows `view`, passes `test`.
fn pixel_near(
    image: &image::RgbaImage,
    min: egui::Pos2,
    view: &sentinel::view::Viewport,
    at: [f64; 2],
    test: &dyn Fn(&image::Rgba<u8>) -> bool,
) -> bool {
    let s = view.screen_from_slide(at);
    let (x, y) = (min.x + s[0] as f32, min.y + s[1] as f32);
    (-2..=2).any(|dx| {
        (-2..=2).any(|dy| {
            let (px, py) = (
                (x + dx as f32 * 0.75).floor(),
                (y + dy as f32 * 0.75).floor(),
            );
            px >= 0.0 && py >= 0.0 && test(image.get_pixel(px as u32, py as u32))
        })
    })
}
