//! The `sentinel` binary: synth, info (text and JSON, against openslide-python), region, errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn sentinel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentinel"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join(name)
}

#[test]
fn synth_then_info_json() {
    let out = tmp("cli.svs");
    let st = sentinel()
        .args([
            "synth",
            out.to_str().expect("utf8"),
            "--width",
            "2048",
            "--height",
            "2048",
            "--seed",
            "3",
            "--mpp",
            "0.5",
        ])
        .output()
        .expect("run synth");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(out.with_file_name("cli.svs.truth.geojson").is_file());

    let info = sentinel()
        .args(["info", "--json"])
        .arg(&out)
        .output()
        .expect("run info");
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).expect("json");
    assert_eq!(v["vendor"], "aperio");
    assert_eq!(v["width"], 2048);
    assert_eq!(v["mpp_x"], 0.5);
    assert_eq!(v["objective_power"], 20.0);
    assert_eq!(v["levels"].as_array().expect("levels").len(), 2);
    assert_eq!(v["levels"][1]["width"], 512);
    assert_eq!(v["levels"][1]["tile_width"], 256);
    let names: Vec<_> = v["associated_images"]
        .as_array()
        .expect("assoc")
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, ["label", "macro", "thumbnail"]);
    assert_eq!(v["associated_images"][0]["width"], 400);

    let text = sentinel().arg("info").arg(&out).output().expect("run info");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("vendor:           aperio"), "{text}");
    assert!(
        text.contains("read by:          direct JPEG tiles"),
        "{text}"
    );
    let forced = sentinel()
        .env("SENTINEL_OPENSLIDE_ONLY", "1")
        .arg("info")
        .arg(&out)
        .output()
        .expect("run info");
    let forced = String::from_utf8_lossy(&forced.stdout);
    assert!(forced.contains("read by:          OpenSlide\n"), "{forced}");
    assert!(text.contains("20x"), "{text}");
    assert!(text.contains("1.02 x 1.02 mm"), "{text}");
}

/// Our properties are exactly what openslide-python (same OpenSlide) reports.
#[test]
fn info_properties_match_openslide_python() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is absent: run ./setup",
        python.display()
    );
    let data = common::shared_data();
    let slides = [
        common::svs().path.clone(),
        common::tiff().path.clone(),
        data.join("slides/CMU-1-Small-Region.svs"),
        data.join("slides/dicom-wsi-jpeg.dcm"),
    ];
    for slide in slides {
        let ours = sentinel()
            .args(["info", "--json"])
            .arg(&slide)
            .output()
            .expect("info");
        assert!(ours.status.success());
        let ours: serde_json::Value = serde_json::from_slice(&ours.stdout).expect("json");
        let theirs = Command::new(&python)
            .args(["-c", "import json, sys, openslide; print(json.dumps(dict(openslide.OpenSlide(sys.argv[1]).properties)))"])
            .arg(&slide)
            .output()
            .expect("python");
        assert!(
            theirs.status.success(),
            "{}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).expect("json");
        assert_eq!(ours["properties"], theirs, "{}", slide.display());
    }
}

#[test]
fn info_on_a_missing_file_fails_with_the_path() {
    let out = sentinel()
        .args(["info", "/nonexistent/slide.svs"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/slide.svs: no such file"),
        "{err}"
    );
}

#[test]
fn synth_rejects_a_bad_size() {
    let out = sentinel()
        .args([
            "synth",
            tmp("tiny.svs").to_str().expect("utf8"),
            "--width",
            "10",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("size 10x6144"));
    assert!(!tmp("tiny.svs").exists());
}

#[test]
fn region_writes_the_pixels_as_png() {
    let f = common::svs();
    let png = tmp("region.png");
    let out = sentinel()
        .args(["region"])
        .arg(&f.path)
        .args([
            "--level", "1", "--x", "400", "--y", "800", "--width", "64", "--height", "32", "--out",
        ])
        .arg(&png)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).expect("png").to_rgba8();
    let s = sentinel::slide::open(&f.path).expect("open");
    let want = s.read_region(1, 400, 800, 64, 32).expect("read");
    assert_eq!(img.into_raw(), want.pixels);
}

/// A region is bounded by the slide, not per side: 1 x 536,870,912 px once took 3.7 GB and wrote
/// an 805 MB PNG of glass.
#[test]
fn region_larger_than_its_level_is_refused() {
    let f = common::svs(); // level 1 is 1024 x 768
    let png = tmp("huge-region.png");
    let out = sentinel()
        .args(["region"])
        .arg(&f.path)
        .args([
            "--level",
            "1",
            "--x",
            "0",
            "--y",
            "0",
            "--width",
            "1",
            "--height",
            "536870912",
            "--out",
        ])
        .arg(&png)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("more pixels than level 1 itself (1024x768 px)"),
        "{err}"
    );
    assert!(!png.exists());
}

/// The real app in a real window (under xvfb-run): `--at X,Y --mag M --screenshot` saves the view
/// at that place and magnification once it is at full resolution, and exits 0.
#[test]
fn scripted_screenshot_shows_the_requested_place() {
    assert!(
        Command::new("xvfb-run").arg("--help").output().is_ok(),
        "xvfb-run is absent: run ./setup (it installs xvfb)"
    );
    let f = common::svs();
    let t = &f.report.scene.tumours[0];
    let (cx, cy) = (t.cx.round() as i64, t.cy.round() as i64);
    let png = tmp("screenshot.png");
    let runtime = tmp("xdg");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x1024x24"])
        .arg(env!("CARGO_BIN_EXE_sentinel"))
        .arg(&f.path)
        .args([
            "--at",
            &format!("{cx},{cy}"),
            "--mag",
            "40",
            "--window",
            "800x600",
            "--screenshot",
        ])
        .arg(&png)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SENTINEL_DATA_DIR", tmp("data"))
        .output()
        .expect("run xvfb-run");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let shot = image::open(&png).expect("png").to_rgb8();
    assert_eq!(shot.dimensions(), (800, 600));

    // At 40x on a 40x slide one slide pixel is one screen pixel: a block read around the requested
    // centre must appear, unscaled, near the middle of the window (panels shift it a little).
    let s = sentinel::slide::open(&f.path).expect("open");
    let (bw, bh) = (120i64, 120i64);
    let block = s
        .read_region(0, cx - bw / 2, cy - bh / 2, bw as u32, bh as u32)
        .expect("read");
    let mut best = (f64::MAX, 0, 0);
    for dy in -40..=40i64 {
        for dx in -20..=20i64 {
            let (x0, y0) = (400 - bw / 2 + dx, 300 - bh / 2 + dy);
            let mut se = 0.0;
            for y in 0..bh {
                for x in 0..bw {
                    let p = shot.get_pixel((x0 + x) as u32, (y0 + y) as u32);
                    let q = block.pixel(x as u32, y as u32);
                    for c in 0..3 {
                        se += (f64::from(p[c]) - f64::from(q[c])).powi(2);
                    }
                }
            }
            if se < best.0 {
                best = (se, dx, dy);
            }
        }
    }
    let mse = best.0 / (bw * bh * 3) as f64;
    let psnr = 10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10();
    assert!(
        psnr > 35.0,
        "best match {psnr:.1} dB at offset ({}, {})",
        best.1,
        best.2
    );
    assert_eq!(
        best.1, 0,
        "horizontally the canvas spans the window, so no offset"
    );
}

#[test]
fn screenshot_of_a_bad_slide_fails_with_the_reason() {
    assert!(
        Command::new("xvfb-run").arg("--help").output().is_ok(),
        "xvfb-run is absent: run ./setup (it installs xvfb)"
    );
    let bad = tmp("bad-for-screenshot.svs");
    std::fs::write(&bad, b"not a slide").expect("write");
    let runtime = tmp("xdg2");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let out = Command::new("xvfb-run")
        .arg("-a")
        .arg(env!("CARGO_BIN_EXE_sentinel"))
        .arg(&bad)
        .args(["--screenshot"])
        .arg(tmp("never.png"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SENTINEL_DATA_DIR", tmp("data2"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad-for-screenshot.svs") && err.contains("not a slide format"),
        "{err}"
    );
    assert!(!tmp("never.png").exists());
}

#[test]
fn export_writes_each_tumour_region_with_its_mask_and_refuses_a_broken_file() {
    let f = common::svs();
    let dir = tmp("export");
    std::fs::create_dir_all(&dir).expect("dir");
    let geojson = dir.join("marks.geojson");
    std::fs::write(
        &geojson,
        r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "id": "a", "geometry": {"type": "Polygon", "coordinates": [[[1000, 1000], [1800, 1000], [1400, 1700], [1000, 1000]]]},
   "properties": {"objectType": "annotation", "name": "front", "classification": {"name": "Tumor", "color": [200, 0, 0]}}},
  {"type": "Feature", "id": "b", "geometry": {"type": "Polygon", "coordinates": [[[2000, 2000], [2400, 2000], [2400, 2400], [2000, 2000]]]},
   "properties": {"objectType": "annotation", "classification": {"name": "Stroma", "color": [0, 200, 0]}}},
  {"type": "Feature", "id": "c", "geometry": {"type": "Point", "coordinates": [500, 500]},
   "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]}}}
]}"#,
    )
    .expect("write");
    let out_dir = dir.join("regions");
    let st = sentinel()
        .args(["export", f.path.to_str().expect("utf8"), "--annotations"])
        .arg(&geojson)
        .args(["--class", "Tumor", "--mpp", "1.0", "--mask", "--out"])
        .arg(&out_dir)
        .output()
        .expect("run export");
    let stderr = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{stderr}");
    assert!(stderr.contains("skipping 1 point or line"), "{stderr}");
    let stem = f
        .path
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    let image = out_dir.join(format!("{stem}-000-Tumor-front.png"));
    let mask = out_dir.join(format!("{stem}-000-Tumor-front-mask.png"));
    assert_eq!(
        std::fs::read_dir(&out_dir).expect("ls").count(),
        2,
        "only the Tumor polygon: image and mask"
    );
    // --mpp 1.0 on a 0.25 µm/px slide with 4x levels picks level 1; the pixels are the slide's as
    // Sentinel reads it.
    let slide = sentinel::slide::open(&f.path).expect("open");
    let want = slide.read_region(1, 1000, 1000, 200, 175).expect("read");
    let got = image::open(&image).expect("png").to_rgba8();
    assert_eq!((got.width(), got.height()), (200, 175));
    assert_eq!(got.into_raw(), want.pixels);
    let m = image::open(&mask).expect("mask").to_luma8();
    assert_eq!(m.get_pixel(100, 20).0, [255], "inside the triangle");
    assert_eq!(m.get_pixel(5, 170).0, [0], "outside it");

    let broken = dir.join("broken.geojson");
    std::fs::write(
        &broken,
        "{\"type\": \"FeatureCollection\",\n\"features\": [\n{\"type\": }]}",
    )
    .expect("write");
    let st = sentinel()
        .args(["export", f.path.to_str().expect("utf8"), "--annotations"])
        .arg(&broken)
        .arg("--out")
        .arg(dir.join("none"))
        .output()
        .expect("run export");
    let stderr = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success());
    assert!(stderr.contains("broken.geojson: line 3"), "{stderr}");
    assert!(!dir.join("none").exists(), "nothing written");
}

/// A slide whose name holds dots (TCGA's "DX1.<uuid>", "mpp0.5") once sent every region of an
/// export to the same file (`with_extension` cut the name at its last dot), each replacing the last.
#[test]
fn export_of_a_dotted_slide_name_writes_every_region_apart() {
    let f = common::svs();
    let dir = tmp("export-dotted");
    std::fs::create_dir_all(&dir).expect("dir");
    let slide = dir.join("TCGA-AA-3562-01Z-00-DX1.8a2b5c7d.svs");
    std::fs::copy(&f.path, &slide).expect("copy");
    let geojson = dir.join("two.geojson");
    let square = |x: u32| {
        format!(
            r#"{{"type": "Feature", "geometry": {{"type": "Polygon", "coordinates": [[[{x}, 1000], [{}, 1000], [{}, 1300], [{x}, 1300], [{x}, 1000]]]}},
              "properties": {{"objectType": "annotation", "classification": {{"name": "Tumor"}}}}}}"#,
            x + 300,
            x + 300
        )
    };
    std::fs::write(
        &geojson,
        format!(
            r#"{{"type": "FeatureCollection", "features": [{}, {}]}}"#,
            square(1000),
            square(2000)
        ),
    )
    .expect("write");
    let out_dir = dir.join("regions");
    let run = || {
        let o = sentinel()
            .args(["export", slide.to_str().expect("utf8"), "--annotations"])
            .arg(&geojson)
            .args(["--level", "0", "--out"])
            .arg(&out_dir)
            .output()
            .expect("run export");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run();
    let files = common::file_names(&out_dir);
    assert_eq!(
        files,
        [
            "TCGA-AA-3562-01Z-00-DX1_8a2b5c7d-000-Tumor.png",
            "TCGA-AA-3562-01Z-00-DX1_8a2b5c7d-001-Tumor.png"
        ]
    );
    // A second run never overwrites the first one's files.
    run();
    assert_eq!(std::fs::read_dir(&out_dir).expect("ls").count(), 4);
}

/// A region wholly off the slide (level-0 coordinates laid on a downsampled file, say) once
/// exported as large uniform images with exit 0; now it refuses the export and names it, and a
/// region partly off the slide is cut to it and said so.
#[test]
fn export_refuses_regions_off_the_slide_and_clips_partial_ones() {
    let f = common::svs(); // 4096 x 3072
    let dir = tmp("export-outside");
    std::fs::create_dir_all(&dir).expect("dir");
    let write = |name: &str, x0: i64, y0: i64, x1: i64, y1: i64| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                r#"{{"type": "Feature", "id": "far-1", "geometry": {{"type": "Polygon", "coordinates": [[[{x0}, {y0}], [{x1}, {y0}], [{x1}, {y1}], [{x0}, {y1}], [{x0}, {y0}]]]}},
                   "properties": {{"objectType": "annotation", "name": "deposit", "classification": {{"name": "Tumor"}}}}}}"#
            ),
        )
        .expect("write");
        p
    };
    let export = |annotations: &Path, out: &Path| {
        sentinel()
            .args(["export", f.path.to_str().expect("utf8"), "--annotations"])
            .arg(annotations)
            .args(["--level", "0", "--out"])
            .arg(out)
            .output()
            .expect("run export")
    };
    let far = write("far.geojson", 40_000, 30_000, 41_000, 31_000);
    let out = dir.join("far-out");
    let o = export(&far, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("wholly outside the 4096x3072 px slide")
            && err.contains("\"deposit\"")
            && err.contains("far-1"),
        "{err}"
    );
    assert!(!out.exists() || std::fs::read_dir(&out).expect("ls").count() == 0);

    let edge = write("edge.geojson", 3900, 2900, 4300, 3300);
    let out = dir.join("edge-out");
    let o = export(&edge, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("exported clipped to it"), "{err}");
    let png = std::fs::read_dir(&out)
        .expect("ls")
        .flatten()
        .next()
        .expect("a file")
        .path();
    let img = image::open(&png).expect("png");
    assert_eq!((img.width(), img.height()), (196, 172), "cut to the slide");
}

#[test]
fn review_session_from_the_command_line_new_export_import_report() {
    use sentinel::review::session::{Arm, Assessment, Category, Read};
    use sentinel::store::Store;
    let f = common::svs();
    let root = tmp("review");
    let _ = std::fs::remove_dir_all(&root);
    let (ws_a, ws_b, slides) = (root.join("ws-a"), root.join("ws-b"), root.join("slides"));
    std::fs::create_dir_all(&slides).expect("dir");
    // Two slides: the fixture and a copy under another name (same identity is fine for a test).
    let (s1, s2) = (slides.join("node-1.svs"), slides.join("node-2.svs"));
    std::fs::copy(&f.path, &s1).expect("copy");
    std::fs::copy(&f.path, &s2).expect("copy");
    let run = |ws: &Path, args: &[&str]| {
        let out = sentinel()
            .env("SENTINEL_DATA_DIR", ws)
            .args(args)
            .output()
            .expect("run sentinel");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{args:?}: {e}");
        o
    };
    let created = run(
        &ws_a,
        &[
            "review",
            "new",
            "--name",
            "pilot",
            "--reader",
            "a:Dr Alpha",
            "--reader",
            "b:Dr Beta",
            "--seed",
            "5",
            "--question",
            "yes/no: Extranodal extension?",
            "--question",
            "optional number 0..30 mm: Deposit size",
            s1.to_str().expect("utf8"),
            s2.to_str().expect("utf8"),
        ],
    );
    let id = created
        .split_whitespace()
        .nth(1)
        .expect("session id")
        .to_owned();
    // Both readers answer both cases (through the store, as the GUI does).
    {
        let mut store = Store::in_data_dir(&ws_a).expect("store");
        for (reader, cats) in [
            ("a", [Category::NONE, Category::MACRO]),
            ("b", [Category::ITC, Category::MACRO]),
        ] {
            for (i, c) in cats.iter().enumerate() {
                let mut r = Read::new(&format!("case-{:03}", i + 1), reader, Arm::Unassisted);
                r.answer(Assessment {
                    category: *c,
                    largest_mm: None,
                    confidence: 4,
                    notes: String::new(),
                    answers: Default::default(),
                })
                .expect("open");
                r.submit().expect("complete");
                store.save_read(&id, &r).expect("save");
            }
        }
    }
    assert!(run(&ws_a, &["review", "list"]).contains("4 submitted read(s)"));
    let bundle = root.join("pilot.sentinel-review");
    run(
        &ws_a,
        &[
            "review",
            "export",
            &id,
            "--out",
            bundle.to_str().expect("utf8"),
            "--reader",
            "a",
        ],
    );
    // Blinded by default: the bundle carries no file names.
    let text = std::fs::read_to_string(&bundle).expect("bundle");
    assert!(!text.contains("node-1.svs") && text.contains("case-001.svs"));
    let imported = run(&ws_b, &["review", "import", bundle.to_str().expect("utf8")]);
    assert!(imported.contains("2 read(s) added"), "{imported}");
    let asked = Store::in_data_dir(&ws_b)
        .expect("store")
        .review_session(&id)
        .expect("read")
        .expect("imported");
    assert_eq!(
        asked.questions.extra.len(),
        2,
        "the further questions travel"
    );
    assert!(!asked.questions.extra[1].required);

    // One slide moved: the report finds it by name in --search, checked by identity.
    let moved = root.join("archive");
    std::fs::create_dir_all(&moved).expect("dir");
    std::fs::rename(&s2, moved.join("node-2.svs")).expect("move");
    let out_dir = root.join("report");
    let report = || {
        run(
            &ws_a,
            &[
                "review",
                "report",
                &id,
                "--out",
                out_dir.to_str().expect("utf8"),
                "--search",
                moved.to_str().expect("utf8"),
            ],
        );
        std::fs::read_to_string(out_dir.join("report.html")).expect("html")
    };
    let html = report();
    assert_eq!(
        html.matches("data:image/png;base64,").count(),
        2,
        "both thumbnails"
    );
    assert!(html.contains("Blinded:") && !html.contains("node-1.svs"));
    assert!(html.contains("<h3>Extranodal extension?</h3>"));
    // The owner (this account) unblinds; the next report names the slides.
    assert!(run(&ws_a, &["review", "unblind", &id]).contains("is unblinded"));
    let html = report();
    assert!(html.contains("node-1.svs") && html.contains("unblinded by"));
    assert!(
        html.contains("<li>case-001</li>"),
        "the discrepancy is listed"
    );
    assert!(html.contains("50.0%"), "percent agreement");
    let long = std::fs::read_to_string(out_dir.join("imrmc.csv")).expect("csv");
    assert!(long.contains("NR=2\nNM=1\nBEGIN DATA:\n"), "{long}");
    assert!(long.contains("\nb,case-001,unassisted,1\n"), "{long}");
    let wide = std::fs::read_to_string(out_dir.join("reads.csv")).expect("csv");
    assert_eq!(wide.lines().count(), 5);
    // Reads saved without a view track: the view-track export is its header alone.
    let track = std::fs::read_to_string(out_dir.join("view-track.csv")).expect("csv");
    assert!(
        track.starts_with("session,case,reader,arm,version,t_s,"),
        "{track}"
    );
    assert_eq!(track.lines().count(), 1);
    // One arm only: the MRMC section says why there is no comparison.
    assert!(
        html.contains("No MRMC analysis: 0 reader(s) read both arms"),
        "MRMC section"
    );
    assert!(
        html.contains("No washout set. No case was read in both arms with timestamps."),
        "washout section"
    );
}
