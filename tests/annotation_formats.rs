//! Interchange with QuPath (GeoJSON), ASAP and ImageScope (XML), and NDP.view (NDPA) on files
//! shaped like what those tools write (`tests/fixtures`): what is read, round trips that keep
//! geometry and classes, and malformed files that import nothing and say where they are wrong.

mod common;

use std::path::Path;

use sentinel::annotate::geojson::{self, Imported};
use sentinel::annotate::{Shape, xml};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Geometry and classes, ignoring ids (ASAP has none) and names.
fn essence(i: &Imported) -> Vec<(Shape, Option<String>)> {
    i.annotations
        .iter()
        .map(|a| (a.shape.clone(), a.class.clone()))
        .collect()
}

#[test]
fn qupath_geojson_reads_holes_multipolygons_points_lines_and_skips_detections() {
    let got = geojson::import(&fixture("qupath-0.5-export.geojson")).expect("valid");
    assert_eq!(got.annotations.len(), 4);
    assert_eq!(got.skipped, 1, "the detection");
    let tumour = &got.annotations[0];
    assert_eq!(tumour.id, "5f0a4c8e-3b1d-4d8a-9a51-2f6c1e7b9d01");
    assert_eq!(tumour.name, "Tumour with a necrotic hole");
    // 2000² - 500² px² at 0.25 µm/px.
    let m = tumour.shape.measure([0.25, 0.25]);
    assert!((m.area_um2 - (4_000_000.0 - 250_000.0) * 0.0625).abs() < 1e-6);
    assert!(
        !tumour.shape.hit([1750.0, 1750.0], 0.0),
        "the hole is a hole"
    );
    let Shape::Area { polygons } = &got.annotations[1].shape else {
        panic!("a multipolygon")
    };
    assert_eq!(polygons.len(), 2);
    assert_eq!(
        polygons[1][0][0],
        [6000.5, 6000.25],
        "fractional coordinates kept"
    );
    assert!(matches!(&got.annotations[2].shape, Shape::Points { points } if points.len() == 3));
    assert!(matches!(&got.annotations[3].shape, Shape::Line { .. }));
    assert_eq!(got.annotations[3].class, None);
    let names: Vec<&str> = got.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Tumor", "Lymph node capsule", "Other"]);
    assert_eq!(got.classes[1].color, [0, 120, 255]);
}

#[test]
fn qupath_geojson_round_trip_keeps_geometry_ids_and_classes() {
    let first = geojson::import(&fixture("qupath-0.5-export.geojson")).expect("valid");
    let text = geojson::export(&first.annotations, &first.classes);
    let again = geojson::import(&text).expect("our export reads back");
    assert_eq!(again.annotations, first.annotations);
    assert_eq!(again.classes, first.classes);
    // What QuPath needs to see: annotations with classification names and colours.
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    for f in v["features"].as_array().expect("features") {
        assert_eq!(f["properties"]["objectType"], "annotation");
    }
    assert_eq!(
        v["features"][1]["properties"]["classification"],
        serde_json::json!({"name": "Lymph node capsule", "color": [0, 120, 255]})
    );
}

#[test]
fn camelyon16_style_asap_xml_reads_and_round_trips() {
    let first = xml::import(&fixture("camelyon16-style-asap.xml")).expect("valid");
    assert_eq!(first.annotations.len(), 3);
    let Shape::Area { polygons } = &first.annotations[0].shape else {
        panic!("a polygon")
    };
    assert_eq!(polygons[0][0].len(), 5);
    assert_eq!(polygons[0][0][0], [65584.3984, 99036.7969]);
    assert_eq!(first.annotations[2].class.as_deref(), Some("_2"));
    assert_eq!(first.classes[2].color, [0, 255, 0]);
    let text = xml::export_asap(&first.annotations, &first.classes);
    let again = xml::import(&text).expect("our export reads back");
    assert_eq!(essence(&again), essence(&first));
    assert_eq!(again.classes, first.classes);
}

#[test]
fn asap_export_of_a_hole_keeps_it_as_its_own_polygon() {
    let q = geojson::import(&fixture("qupath-0.5-export.geojson")).expect("valid");
    let text = xml::export_asap(&q.annotations[..1], &q.classes);
    let back = xml::import(&text).expect("valid");
    assert_eq!(back.annotations.len(), 2);
    assert_eq!(back.annotations[1].class.as_deref(), Some("Holes"));
    assert!((back.annotations[1].shape.area_px() - 250_000.0).abs() < 1e-6);
}

#[test]
fn imagescope_xml_layers_negative_regions_rectangles_and_ellipses() {
    let got = xml::import(&fixture("imagescope-12.4.xml")).expect("valid");
    assert_eq!(
        got.annotations.len(),
        3,
        "the negative region is a hole, not an annotation"
    );
    let front = &got.annotations[0];
    assert_eq!(front.class.as_deref(), Some("Tumor"));
    assert_eq!(front.name, "invasive front");
    assert!((front.shape.area_px() - (1_000_000.0 - 40_000.0)).abs() < 1e-6);
    assert!(!front.shape.hit([10_500.0, 10_500.0], 0.0));
    assert_eq!(
        got.annotations[1].shape,
        Shape::Ellipse {
            centre: [20_200.0, 20_100.0],
            radii: [200.0, 100.0]
        }
    );
    // An unnamed layer: the region's text is its class; LineColor 65280 is green.
    assert_eq!(
        got.annotations[2].shape,
        Shape::rectangle([30_000.0, 30_000.0], [30_500.0, 30_300.0])
    );
    assert_eq!(got.annotations[2].class.as_deref(), Some("normal"));
    assert_eq!(
        got.classes
            .iter()
            .find(|c| c.name == "normal")
            .map(|c| c.color),
        Some([0, 255, 0])
    );
    assert_eq!(got.classes[0].color, [255, 0, 0], "LineColor 255 is red");
}

#[test]
fn malformed_files_import_nothing_and_say_where() {
    // A QuPath export cut short mid-way.
    let text = fixture("qupath-0.5-export.geojson");
    let cut = text.get(..text.len() / 2).expect("ASCII text");
    match geojson::import(cut) {
        Err(geojson::GeoJsonError::Syntax { line, .. }) => assert!(line > 10, "line {line}"),
        other => panic!("{other:?}"),
    }
    // A valid file with one broken feature: an error naming it, not the other features.
    let broken = text.replace(
        "[[7000, 7000], [7100, 7050], [7200, 7010]]",
        "[[7000, \"x\"]]",
    );
    let e = geojson::import(&broken).expect_err("broken feature");
    assert!(
        e.to_string()
            .starts_with("feature 2 (id 9b2e7c1d-4f3a-4e8b-a6d2-1c5f8e0b7a03)"),
        "{e}"
    );
    let xml_text = fixture("imagescope-12.4.xml").replace("X=\"30500\" Y=\"30300\"", "X=\"30500\"");
    let e = xml::import(&xml_text).expect_err("vertex without Y");
    let line = xml_text
        .lines()
        .position(|l| l.contains("X=\"30500\" Z"))
        .expect("the edited line")
        + 1;
    assert_eq!(e.line, line, "{e}");
}

/// NDP.view annotations on the shared NDPI (nanometres from the glass slide's centre, through the
/// NDPI's offset properties): the fixture places shapes over the brightest nuclei and over empty
/// background of `hamamatsu-fluorescence-DAPI.ndpi`; read back, each shape must cover those pixels.
#[test]
fn ndpa_shapes_land_on_the_ndpi_pixels_they_were_drawn_on() {
    use sentinel::annotate::{Placement, import_file_for_slide};

    let slide_path = common::shared_data().join("slides/hamamatsu-fluorescence-DAPI.ndpi");
    let slide = sentinel::slide::open(&slide_path).expect("open the NDPI");
    let placement = Placement::new(slide.dimensions(), slide.mpp(), slide.properties());
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hamamatsu-fluorescence-DAPI.ndpa");
    let got = import_file_for_slide(&file, &placement).expect("import");
    let names: Vec<&str> = got.annotations.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Bright nuclei (rectangle)",
            "Bright nuclei (freehand)",
            "Background & glass",
            "Look here",
            "Centre"
        ]
    );
    // Mean grey level of the slide under a shape's box.
    let mean_under = |s: &Shape| {
        let [x0, y0, x1, y1] = s.bbox();
        let img = slide
            .read_region(0, x0 as i64, y0 as i64, (x1 - x0) as u32, (y1 - y0) as u32)
            .expect("read");
        let px = img.pixels.chunks_exact(4);
        let n = px.len() as f64;
        px.map(|p| (f64::from(p[0]) + f64::from(p[1]) + f64::from(p[2])) / 3.0)
            .sum::<f64>()
            / n
    };
    let close = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).abs() < 0.02 && (a[1] - b[1]).abs() < 0.02;
    let a = &got.annotations;
    // The rectangle: exactly the 64 px block of the brightest nuclei (mean grey ~27 of a slide
    // whose median block is ~2.5).
    let Shape::Rectangle { min, max } = &a[0].shape else {
        panic!("a rectangle: {:?}", a[0].shape)
    };
    assert!(
        close(*min, [896.0, 576.0]) && close(*max, [960.0, 640.0]),
        "{min:?} {max:?}"
    );
    assert!(
        mean_under(&a[0].shape) > 20.0,
        "{}",
        mean_under(&a[0].shape)
    );
    let Shape::Area { polygons } = &a[1].shape else {
        panic!("a polygon: {:?}", a[1].shape)
    };
    assert_eq!(polygons[0][0].len(), 5);
    assert!(mean_under(&a[1].shape) > 20.0);
    // The circle: 24 px of glass.
    let Shape::Ellipse { centre, radii } = &a[2].shape else {
        panic!("an ellipse: {:?}", a[2].shape)
    };
    assert!(close(*centre, [672.0, 4640.0]) && (radii[0] - 24.0).abs() < 0.01);
    assert!(mean_under(&a[2].shape) < 1.0, "{}", mean_under(&a[2].shape));
    let Shape::Line { points } = &a[3].shape else {
        panic!("the pointer: {:?}", a[3].shape)
    };
    assert!(
        close(points[1], [928.0, 608.0]),
        "the arrow's head: {points:?}"
    );
    let Shape::Points { points } = &a[4].shape else {
        panic!("the pin: {:?}", a[4].shape)
    };
    assert!(
        points.len() == 1 && close(points[0], [928.0, 608.0]),
        "{points:?}"
    );

    // Without the NDPI's frame (another slide), the file is refused, saying why.
    let other = Placement::new(slide.dimensions(), slide.mpp(), &Default::default());
    let e = import_file_for_slide(&file, &other)
        .expect_err("no offsets")
        .to_string();
    assert!(e.contains("hamamatsu.XOffsetFromSlideCentre"), "{e}");
}
