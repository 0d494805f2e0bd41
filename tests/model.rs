//! The model contract through the real ONNX Runtime (loaded from the project venv), with small
//! deterministic models built by `models/build/make_test_models.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use sentinel::analysis::heatmap::Heatmap;
use sentinel::analysis::model::{LoadOptions, Model, ModelError};
use sentinel::analysis::runner::{AnalysisError, RunOptions, analyse, tile_level0};
use sentinel::analysis::tissue::GridTile;
use sentinel::slide::{OpenSlideSource, SlideSource};

fn tile(size: u32, rgb: [u8; 3]) -> Vec<u8> {
    (0..size * size)
        .flat_map(|_| [rgb[0], rgb[1], rgb[2], 255])
        .collect()
}

/// A copy of the mean-red model named `name`, with its model.json passed through `edit_json`.
fn mean_red_variant(models: &Path, name: &str, edit_json: impl Fn(String) -> String) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(models.join("mean-red/model.onnx"), dir.join("model.onnx")).expect("copy");
    let meta = std::fs::read_to_string(models.join("mean-red/model.json")).expect("read");
    std::fs::write(dir.join("model.json"), edit_json(meta)).expect("write");
    dir
}

#[test]
fn mean_red_model_computes_its_known_function() {
    let dir = common::test_models();
    let mut model = Model::load(&dir.join("mean-red"), LoadOptions::cpu(1)).expect("load");
    let size = model.meta.input_size;
    let reds = [0u8, 51, 255, 128];
    let mut batch = Vec::new();
    for r in reds {
        model
            .meta
            .normalise_into(&tile(size, [r, 200, 10]), &mut batch);
    }
    let risk = model.risk(&batch, reds.len()).expect("run");
    for (r, p) in reds.iter().zip(&risk) {
        assert!(
            (p - f32::from(*r) / 255.0).abs() < 1e-5,
            "red {r}: risk {p}"
        );
    }
    // Half red, half black: the mean.
    let mut half = tile(size, [255, 0, 0]);
    for px in half.chunks_exact_mut(4).skip((size * size / 2) as usize) {
        px[0] = 0;
    }
    let mut batch = Vec::new();
    model.meta.normalise_into(&half, &mut batch);
    assert!((model.risk(&batch, 1).expect("run")[0] - 0.5).abs() < 1e-5);
}

#[test]
fn a_model_that_contradicts_its_metadata_is_rejected_naming_the_field() {
    let dir = common::test_models();
    match Model::load(&dir.join("wrong-shape"), LoadOptions::cpu(1)) {
        Err(ModelError::Field { field, message, .. }) => {
            assert_eq!(field, "channel_order", "{message}");
            assert!(message.contains("[-1, 1, 64, 64]"), "{message}");
        }
        Err(other) => panic!("expected a field error, got {other}"),
        Ok(_) => panic!("a 1-channel model was accepted for a 3-channel contract"),
    }
    // Same graph, metadata with the wrong tile size: the size is named.
    let bad = mean_red_variant(dir, "bad-size", |m| {
        m.replace("\"input_size\": 64", "\"input_size\": 224")
    });
    match Model::load(&bad, LoadOptions::cpu(1)) {
        Err(ModelError::Field { field, .. }) => assert_eq!(field, "input_size"),
        other => panic!(
            "expected an input_size error, got {:?}",
            other.err().map(|e| e.to_string())
        ),
    }
}

#[test]
fn a_file_that_is_not_onnx_is_a_clear_error() {
    let dir = common::test_models();
    let bad = mean_red_variant(dir, "not-onnx", |m| m);
    std::fs::write(bad.join("model.onnx"), b"definitely not a protobuf").expect("write");
    let e = Model::load(&bad, LoadOptions::cpu(1))
        .err()
        .expect("must fail");
    assert!(matches!(e, ModelError::Onnx { .. }), "{e}");
    assert!(e.to_string().contains("model.onnx"), "{e}");
}

fn whole_grid(h: &Heatmap) -> Vec<GridTile> {
    (0..h.rows)
        .flat_map(|row| (0..h.cols).map(move |col| (col, row)))
        .map(|(col, row)| {
            let [x, y, ..] = h.cell_box(col, row);
            GridTile {
                col,
                row,
                x,
                y,
                size: h.cell_level0,
            }
        })
        .collect()
}

/// The mean-red model over a synthetic slide: every heatmap cell must equal the mean red of the
/// slide region it claims to cover, and not that of its neighbour (a one-cell shift fails).
#[test]
fn heatmap_of_a_known_function_lines_up_with_the_slide() {
    let dir = common::test_models();
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let mut model = Model::load(&dir.join("mean-red"), LoadOptions::cpu(1)).expect("load");
    let (mpp0, _) = slide.mpp().expect("mpp");
    let cell = tile_level0(mpp0, model.meta.mpp, model.meta.input_size);
    assert_eq!(cell, 128.0, "64 px at 0.5 µm/px is 128 px at 0.25 µm/px");
    let mut heat = Heatmap::new(slide.dimensions(), cell);
    let tiles = whole_grid(&heat);
    let mut batches = 0;
    let stats = analyse(
        &slide,
        &mut model,
        &tiles,
        &mut heat,
        RunOptions {
            batch: 16,
            reader_threads: 2,
        },
        &AtomicBool::new(false),
        |_, _, _| batches += 1,
    )
    .expect("analyse");
    assert_eq!(stats.tiles, tiles.len());
    assert_eq!(
        stats.level, 0,
        "level 1 (1 µm/px) is coarser than the model: read level 0 and downscale"
    );
    assert!(batches >= tiles.len() / 16);

    let mean_red = |col: u32, row: u32| -> f32 {
        let img = slide
            .read_region(0, i64::from(col) * 128, i64::from(row) * 128, 128, 128)
            .expect("read");
        img.pixels
            .chunks_exact(4)
            .map(|p| f32::from(p[0]))
            .sum::<f32>()
            / (128.0 * 128.0 * 255.0)
    };
    let (mut err, mut shifted, mut n) = (0.0f32, 0.0f32, 0);
    for row in 0..heat.rows {
        for col in 0..heat.cols - 1 {
            let got = heat.get(col, row).expect("every cell analysed");
            err += (got - mean_red(col, row)).abs();
            shifted += (got - mean_red(col + 1, row)).abs();
            n += 1;
        }
    }
    let (err, shifted) = (err / n as f32, shifted / n as f32);
    assert!(err < 0.005, "mean error {err}");
    assert!(
        shifted > 3.0 * err && shifted > 0.005,
        "a one-cell shift is not distinguishable ({shifted} vs {err})"
    );
}

#[test]
fn cancelling_stops_the_run_and_keeps_what_was_done() {
    let dir = common::test_models();
    let f = common::svs();
    let slide = OpenSlideSource::open(&f.path).expect("open");
    let mut model = Model::load(&dir.join("mean-red"), LoadOptions::cpu(1)).expect("load");
    let mut heat = Heatmap::new(slide.dimensions(), 128.0);
    let tiles = whole_grid(&heat);
    let cancel = AtomicBool::new(false);
    let mut cancelled_at = None;
    let result = analyse(
        &slide,
        &mut model,
        &tiles,
        &mut heat,
        RunOptions {
            batch: 8,
            reader_threads: 2,
        },
        &cancel,
        |_, done, _| {
            if done >= 8 && cancelled_at.is_none() {
                // A slow consumer: the readers fill the bounded channel and block on it before
                // the cancel arrives. They must still be released.
                std::thread::sleep(std::time::Duration::from_millis(300));
                cancel.store(true, Ordering::Relaxed);
                cancelled_at = Some(std::time::Instant::now());
            }
        },
    );
    match result {
        Err(AnalysisError::Cancelled { done, total }) => {
            assert_eq!(total, tiles.len());
            assert!(done >= 8 && done < total, "{done} of {total}");
        }
        other => panic!("expected cancellation, got {:?}", other.map(|s| s.tiles)),
    }
    let stopped = cancelled_at.expect("cancel was requested").elapsed();
    assert!(
        stopped < std::time::Duration::from_secs(1),
        "stopped {stopped:?} after the cancel"
    );
    let filled = heat.values.iter().filter(|v| v.is_some()).count();
    assert!(filled >= 8 && filled < tiles.len());
}

fn analyze_cli(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .arg("analyze")
        .args(args)
        .output()
        .expect("run analyze")
}

#[test]
fn analyze_cli_reports_json_stores_reuses_and_invalidates() {
    let dir = common::test_models();
    let f = common::svs();
    let out =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("analyses-{}", std::process::id()));
    let model = dir.join("mean-red");
    let run = |model: &Path| {
        let o = analyze_cli(&[
            f.path.as_os_str(),
            "--model".as_ref(),
            model.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--json".as_ref(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line = String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .expect("one line")
            .to_owned();
        serde_json::from_str::<serde_json::Value>(&line).expect("json line")
    };
    let first = run(&model);
    assert_eq!(first["reused"], false);
    assert_eq!(first["provider"], "cpu");
    assert_eq!(first["model"], "mean-red (test)");
    assert!(first["tiles"].as_u64().expect("tiles") > 50);
    assert!(first["tissue_area_mm2"].as_f64().expect("area") > 0.1);
    let max = first["max"].as_f64().expect("max");
    assert!(max > 0.5 && max < 1.0, "the reddest tissue tile: {max}");
    let sidecar = Path::new(first["heatmap"].as_str().expect("path"));
    assert!(sidecar.is_file());

    // Exports beside the sidecar (from the stored result too).
    let o = analyze_cli(&[
        f.path.as_os_str(),
        "--model".as_ref(),
        model.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--export".as_ref(),
        "csv,geojson,figure".as_ref(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The figure: 1600 px wide, the slide's aspect, a legend strip below.
    let fig = image::open(sidecar.with_extension("figure.png")).expect("figure");
    assert_eq!(fig.width(), 1600);
    let map_h =
        (f64::from(fig.width()) * f.spec.height as f64 / f.spec.width as f64).round() as u32;
    assert!(
        fig.height() > map_h,
        "no legend below the map: {}",
        fig.height()
    );
    let csv = std::fs::read_to_string(sidecar.with_extension("csv")).expect("csv");
    assert_eq!(
        csv.lines().next(),
        Some("x,y,width,height,risk,class_probability")
    );
    assert_eq!(
        csv.lines().count() as u64,
        1 + first["tiles"].as_u64().expect("tiles")
    );
    let geo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sidecar.with_extension("geojson")).expect("geojson"))
            .expect("json");
    assert_eq!(
        geo["features"].as_array().expect("features").len() as u64,
        first["tiles"].as_u64().expect("tiles")
    );

    let second = run(&model);
    assert_eq!(
        second["reused"], true,
        "unchanged slide, model and parameters reuse the stored heatmap"
    );
    assert_eq!(second["max"], first["max"]);
    assert_eq!(second["tissue_area_mm2"], first["tissue_area_mm2"]);

    // Same graph, new version: a different model hash, so the result is recomputed.
    let changed = mean_red_variant(dir, "mean-red-v2", |m| {
        m.replace("\"version\": \"1\"", "\"version\": \"2\"")
    });
    assert_eq!(run(&changed)["reused"], false);
    // The new heatmap replaced the old one's exports too: a kill between the heatmap and its
    // exports once left a new heatmap beside the previous run's GeoJSON.
    for ext in ["csv", "geojson", "figure.png"] {
        assert!(
            !sidecar.with_extension(ext).exists(),
            "the previous heatmap's {ext} is still beside the new heatmap"
        );
    }
}

#[test]
fn analyze_cli_reports_each_bad_slide_and_still_does_the_good_ones() {
    let dir = common::test_models();
    let f = common::tiff();
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR")).join("not-a-slide-for-analyze.svs");
    std::fs::write(&bad, b"nope").expect("write");
    let out =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("analyses-bad-{}", std::process::id()));
    let model = dir.join("mean-red");
    let o = analyze_cli(&[
        bad.as_os_str(),
        f.path.as_os_str(),
        "--model".as_ref(),
        model.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not-a-slide-for-analyze.svs")
            && err.contains("1 slide(s) could not be analysed"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "the good slide is still reported: {stdout}"
    );
}

/// `analyze` refuses, with the numbers, a plan whose model tile is a few slide pixels (a model mpp
/// of 1e-6, or a 16.8 µm/px DICOM under a 0.5 µm/px model), instead of running for hours; a slide
/// far coarser than the model is analysed with a warning; a slide without mpp needs --mpp.
#[test]
fn analyze_refuses_unusable_resolutions_warns_on_coarse_ones_and_takes_mpp() {
    let dir = common::test_models();
    let f = common::tiff(); // 0.5 µm/px
    let out =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("analyses-res-{}", std::process::id()));
    let run = |slide: &Path, model: &Path, extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            slide.as_os_str(),
            "--model".as_ref(),
            model.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--json".as_ref(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let started = std::time::Instant::now();
        let o = analyze_cli(&args);
        (o, started.elapsed())
    };

    let tiny = mean_red_variant(dir, "mean-red-mpp-1e-6", |m| {
        m.replace("\"mpp\": 0.5", "\"mpp\": 1e-6")
    });
    let (o, took) = run(&f.path, &tiny, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not analysed") && err.contains("px of this 3000x2000 px slide"),
        "{err}"
    );
    assert!(took.as_secs() < 30, "refused only after {took:?}");

    // The model at 0.1 µm/px: this 0.5 µm/px slide is 5x coarser; scores come with a warning.
    let fine = mean_red_variant(dir, "mean-red-mpp-0.1", |m| {
        m.replace("\"mpp\": 0.5", "\"mpp\": 0.1")
    });
    let (o, _) = run(&f.path, &fine, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let warning = line["warnings"][0].as_str().expect("a warning");
    assert!(warning.contains("5.0x coarser"), "{warning}");
    // Without a stated operating point, the threshold is 0.5 and has no claimed meaning.
    assert_eq!(line["threshold"], 0.5);
    assert!(line.get("threshold_meaning").is_none());

    let data = common::shared_data();
    let model = dir.join("mean-red");
    let dicom = data.join("slides/dicom-wsi-jpeg.dcm");
    let (o, _) = run(&dicom, &model, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("too coarse for this model"), "{err}");

    let jp2k = data.join("slides/TCGA-CR-7395-01A-01-TS1-jp2k.svs");
    let (o, _) = run(&jp2k, &model, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no microns per pixel") && err.contains("--mpp"),
        "{err}"
    );
    let (o, _) = run(&jp2k, &model, &["--mpp", "0.5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(line["tiles"].as_u64().expect("tiles") > 10, "{line}");
}

/// Two slides called `slide.tiff` in different folders once shared one stored result (keyed by
/// file name): the second overwrote the first, which then re-ran. Keyed by identity, each keeps
/// its own, and a result stored under the old file-name scheme is still found.
#[test]
fn results_are_keyed_by_slide_identity_not_file_name() {
    let dir = common::test_models();
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("same-name-{}", std::process::id()));
    let (a, b) = (root.join("caseA/slide.tiff"), root.join("caseB/slide.tiff"));
    for (p, seed) in [(&a, 21u64), (&b, 22u64)] {
        std::fs::create_dir_all(p.parent().expect("dir")).expect("dir");
        let mut spec =
            sentinel::synth::SynthSpec::new(1600, 1200, sentinel::synth::SynthFormat::Tiff);
        (spec.seed, spec.mpp) = (seed, 0.5);
        sentinel::synth::write_slide(&spec, p, |_| {}).expect("write");
    }
    let out = root.join("analyses");
    let model = dir.join("mean-red");
    let run = |slides: &[&Path]| -> Vec<serde_json::Value> {
        let mut args: Vec<&std::ffi::OsStr> = slides.iter().map(|s| s.as_os_str()).collect();
        args.extend([
            "--model".as_ref(),
            model.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--json".as_ref(),
        ]);
        let o = analyze_cli(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };
    let first = run(&[&a, &b]);
    assert_ne!(
        first[0]["heatmap"], first[1]["heatmap"],
        "each slide its own result"
    );
    let again = run(&[&a]);
    assert_eq!(
        again[0]["reused"], true,
        "slide A's result survived slide B's analysis"
    );

    // A result stored by an earlier release (beside the slide's file name) is still found.
    let current = Path::new(again[0]["heatmap"].as_str().expect("path")).to_path_buf();
    let legacy = out.join("slide.tiff.heatmap.json");
    std::fs::rename(&current, &legacy).expect("move to the old name");
    let old = run(&[&a]);
    assert_eq!(old[0]["reused"], true, "the legacy result is used");
    // ... but never for another slide of that name.
    let other = run(&[&b]);
    assert_eq!(other[0]["reused"], true, "B has its own stored result");
    assert_ne!(other[0]["max"], serde_json::Value::Null);
}

/// A slide without an OpenSlide quickhash: keyed by its content, so a different slide written over
/// the same path does not inherit the stored result (it once did, reported as reused).
#[test]
fn a_slide_replaced_in_place_is_not_taken_for_the_old_one() {
    use sentinel::analysis::pipeline::{Params, analyze_slide};
    use sentinel::slide::{Level, RgbaImage, SlideError, SlideId};
    use std::collections::BTreeMap;

    /// The slide as a format without a quickhash would open it.
    struct Unhashed {
        inner: Box<dyn SlideSource>,
        props: BTreeMap<String, String>,
        id: SlideId,
    }
    impl SlideSource for Unhashed {
        fn path(&self) -> &Path {
            self.inner.path()
        }
        fn id(&self) -> &SlideId {
            &self.id
        }
        fn levels(&self) -> &[Level] {
            self.inner.levels()
        }
        fn mpp(&self) -> Option<(f64, f64)> {
            self.inner.mpp()
        }
        fn objective_power(&self) -> Option<f64> {
            None
        }
        fn vendor(&self) -> &str {
            self.inner.vendor()
        }
        fn properties(&self) -> &BTreeMap<String, String> {
            &self.props
        }
        fn associated_image_names(&self) -> &[String] {
            &[]
        }
        fn associated_image(&self, name: &str) -> Result<RgbaImage, SlideError> {
            self.inner.associated_image(name)
        }
        fn read_region(
            &self,
            level: usize,
            x: i64,
            y: i64,
            w: u32,
            h: u32,
        ) -> Result<RgbaImage, SlideError> {
            self.inner.read_region(level, x, y, w, h)
        }
    }
    let open = |p: &Path| -> Unhashed {
        let inner = sentinel::slide::open(p).expect("open");
        let mut props = inner.properties().clone();
        props.remove(sentinel::slide::QUICKHASH_PROPERTY);
        let id = SlideId::compute(p, &props, inner.levels()).expect("id");
        Unhashed { inner, props, id }
    };

    let dir = common::test_models();
    let root = tempfile::tempdir().expect("dir");
    let path = root.path().join("scan.tiff");
    let write = |seed: u64| {
        let mut spec =
            sentinel::synth::SynthSpec::new(1600, 1200, sentinel::synth::SynthFormat::Tiff);
        (spec.seed, spec.mpp) = (seed, 0.5);
        sentinel::synth::write_slide(&spec, &path, |_| {}).expect("write");
    };
    let mut model = Model::load(&dir.join("mean-red"), LoadOptions::cpu(1)).expect("model");
    let mut analyse = |slide: &Unhashed| {
        analyze_slide(
            slide,
            &mut model,
            root.path(),
            Params::default(),
            RunOptions {
                batch: 8,
                reader_threads: 1,
            },
            None,
            &AtomicBool::new(false),
            |_| {},
        )
        .expect("analysis")
    };
    write(31);
    let first = open(&path);
    assert!(first.id().as_str().starts_with("content1:"));
    let (r1, _) = analyse(&first);
    assert!(!r1.reused);
    assert!(
        analyse(&open(&path)).0.reused,
        "the same slide again: reused"
    );
    write(32);
    let second = open(&path);
    assert_ne!(second.id(), first.id());
    let (r2, res2) = analyse(&second);
    assert!(
        !r2.reused,
        "another slide at the same path must be analysed, not given the old result"
    );
    assert_eq!(res2.provenance.slide_hash, second.id().provenance_hash());
    assert_ne!(r2.heatmap, r1.heatmap);
}
