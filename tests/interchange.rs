//! Heatmaps in other tools' formats, checked with independent readers from the project venv
//! (tifffile, jsonschema with large_image's griddata schema, shapely), and foreign maps read back.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sentinel::analysis::heatmap::Heatmap;
use sentinel::analysis::interchange::{self, asap, compare};

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python");
    assert!(p.is_file(), "{} is absent: run ./setup", p.display());
    p
}

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("out dir");
    d
}

/// Runs `sentinel analyze` on the 3000 x 2000 TIFF fixture (levels /1, /4, /16; 64 px model
/// tiles at 0.5 µm/px) with the mean-red model, exporting `formats`; returns the sidecar path.
fn analyze(out: &Path, formats: &str, threshold: &str) -> (PathBuf, &'static common::Fixture) {
    let f = common::tiff();
    let model = common::test_models().join("mean-red");
    let o = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .arg("analyze")
        .arg(&f.path)
        .arg("--model")
        .arg(&model)
        .arg("--out")
        .arg(out)
        .args(["--threshold", threshold, "--json", "--export", formats])
        .output()
        .expect("run analyze");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line: serde_json::Value =
        serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().expect("line"))
            .expect("json");
    (PathBuf::from(line["heatmap"].as_str().expect("sidecar")), f)
}

fn stored(sidecar: &Path) -> Heatmap {
    let r: sentinel::analysis::result::AnalysisResult =
        serde_json::from_str(&std::fs::read_to_string(sidecar).expect("read")).expect("parse");
    r.heatmap
}

#[test]
fn exports_read_back_in_tifffile_jsonschema_and_shapely() {
    let out = out_dir("interchange-exports");
    // About the median risk: the regions above it are several, with holes where a tile dips below.
    let threshold = "0.8";
    let (sidecar, f) = analyze(&out, "csv,geojson,asap,dsa,contours", threshold);
    let slide = sentinel::slide::open(&f.path).expect("open");
    let asap_path = out.join("tiff-3000x2000_likelihood_map.tif");
    assert!(
        asap_path.is_file(),
        "ASAP's name: {:?}",
        common::file_names(&out)
    );
    // The map mirrors the slide's levels from the first that resolves a 64 px tile in 8 px.
    let levels: Vec<(u64, u64, f64)> =
        asap::map_levels(slide.levels(), stored(&sidecar).cell_level0)
            .iter()
            .map(|l| (l.width, l.height, l.downsample))
            .collect();
    assert_eq!(levels.len(), 2, "{levels:?}");
    assert_eq!(
        (levels[0].0, levels[0].1),
        (slide.levels()[1].width_px, slide.levels()[1].height_px)
    );
    let spec = serde_json::json!({
        "asap": asap_path,
        "dsa": sidecar.with_extension("dsa.json"),
        "contours": sidecar.with_extension("contours.geojson"),
        "csv": sidecar.with_extension("csv"),
        "tiles": sidecar.with_extension("geojson"),
        "schema": Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dsa-annotation-schema.json"),
        "qupath_schema": Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qupath-geojson-schema.json"),
        "levels": levels,
        "slide": slide.dimensions(),
        "threshold": threshold.parse::<f64>().expect("threshold"),
    });
    let o = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interchange_check.py"))
        .arg(spec.to_string())
        .output()
        .expect("run the checker");
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The threshold leaves regions with holes: the check covers them.
    assert!(!report.contains(" 0 holes"), "{report}");
    for want in [
        "asap level 750x500",
        "asap level 188x125",
        "dsa: schema-valid",
        "qupath tiles: schema-valid",
        "contours: schema-valid",
    ] {
        assert!(report.contains(want), "{report}");
    }
}

#[test]
fn our_own_exports_import_as_the_same_heatmap() {
    let out = out_dir("interchange-roundtrip");
    let (sidecar, f) = analyze(&out, "asap,dsa", "0.5");
    let ours = stored(&sidecar);
    let dims = sentinel::slide::open(&f.path).expect("open").dimensions();
    for file in [
        out.join("tiff-3000x2000_likelihood_map.tif"),
        sidecar.with_extension("dsa.json"),
    ] {
        let theirs = interchange::read_foreign(&file, dims).expect("import");
        let c = compare::compare(&ours, &theirs.heatmap);
        assert_eq!(
            c.tiles,
            ours.values.iter().flatten().count(),
            "{}: every analysed tile compared",
            theirs.format
        );
        assert!(c.mean_abs_difference < 1e-5, "{}: {c:?}", theirs.format);
        assert!(c.pearson.expect("r") > 0.99999, "{}", theirs.format);
    }
}

/// A likelihood map as other tools write them: uint8, one pixel per 256 px patch, truncated
/// sizes, written by tifffile (not by us). It must land on the slide where its writer put it.
#[test]
fn a_uint8_map_written_by_tifffile_lands_where_its_writer_put_it() {
    let out = out_dir("interchange-foreign");
    let path = out.join("foreign_likelihood_map.tif");
    // A 3000 x 2000 slide at 1 px per 256 px: 11 x 7 pixels; value = 20 * col + row.
    let script = r#"
import sys, numpy as np, tifffile
a = np.fromfunction(lambda r, c: 20 * c + r, (7, 11), dtype=np.int32).astype(np.uint8)
tifffile.imwrite(sys.argv[1], a, tile=(16, 16), compression='zlib')
"#;
    let st = Command::new(python())
        .args(["-c", script])
        .arg(&path)
        .status()
        .expect("python");
    assert!(st.success());
    let m = interchange::read_foreign(&path, (3000, 2000)).expect("import");
    assert_eq!(m.format, "ASAP likelihood map");
    assert_eq!(
        (m.heatmap.cols, m.heatmap.rows, m.heatmap.cell_level0),
        (11, 7, 256.0)
    );
    for (x, y, col, row) in [
        (10.0, 10.0, 0, 0),
        (2815.0, 1790.0, 10, 6),
        (600.0, 300.0, 2, 1),
    ] {
        let want = f32::from((20 * col + row) as u8) / 255.0;
        assert_eq!(m.heatmap.value_at(x, y), Some(want), "at ({x}, {y})");
    }
}

/// The same deterministic model as a Sentinel folder (model.json, probabilities) and as a WSInfer
/// folder taken as it is (config.json with a 128 px patch at 0.25 µm/px resized to 64, logits):
/// the same heatmap comes out, cell for cell.
#[test]
fn a_wsinfer_folder_gives_the_heatmap_of_the_same_model_in_our_layout() {
    let f = common::tiff();
    let models = common::test_models();
    let run = |model: &Path, extra: &[&str], out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .arg("analyze")
            .arg(&f.path)
            .arg("--model")
            .arg(model)
            .arg("--out")
            .arg(out)
            .arg("--json")
            .args(extra)
            .output()
            .expect("run analyze")
    };
    let sidecar = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line: serde_json::Value =
            serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().expect("line"))
                .expect("json");
        PathBuf::from(line["heatmap"].as_str().expect("sidecar"))
    };
    let ours = stored(&sidecar(&run(
        &models.join("mean-red"),
        &[],
        &out_dir("ws-ours"),
    )));
    // A copy, so the side file written below stays in this test.
    let ws = out_dir("ws-model");
    for name in ["model.onnx", "config.json"] {
        std::fs::copy(models.join("mean-red-wsinfer").join(name), ws.join(name)).expect("copy");
    }
    let refused = run(&ws, &[], &out_dir("ws-refused"));
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("[\"other\", \"red\"]") && why.contains("--risk-class"),
        "{why}"
    );

    let by_flag = stored(&sidecar(&run(
        &ws,
        &["--risk-class", "red"],
        &out_dir("ws-flag"),
    )));
    std::fs::write(
        ws.join("sentinel-risk-class.json"),
        r#"{"risk_class": "red"}"#,
    )
    .expect("side");
    let by_file = stored(&sidecar(&run(&ws, &[], &out_dir("ws-file"))));
    for theirs in [&by_flag, &by_file] {
        assert_eq!((theirs.cols, theirs.rows), (ours.cols, ours.rows));
        assert!((theirs.cell_level0 - ours.cell_level0).abs() < 1e-9);
        let mut compared = 0;
        for (a, b) in ours.values.iter().zip(&theirs.values) {
            assert_eq!(a.is_some(), b.is_some(), "the same tissue tiles");
            if let (Some(a), Some(b)) = (a, b) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
                compared += 1;
            }
        }
        assert!(compared > 100, "{compared} tiles");
    }
    // The other class by flag is another model: its heatmap is stored apart, not reused.
    let other = stored(&sidecar(&run(
        &ws,
        &["--risk-class", "other"],
        &out_dir("ws-flag"),
    )));
    let (a, b) = (
        ours.values.iter().flatten().next(),
        other.values.iter().flatten().next(),
    );
    assert!((a.expect("ours") + b.expect("other") - 1.0).abs() < 1e-5);
}
