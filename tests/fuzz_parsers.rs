//! Mutation fuzzing of every importer, as an ordinary test with a fixed case budget: GeoJSON,
//! ASAP/ImageScope XML, review bundles and model.json. Seeds are the real-format fixtures and the
//! regression corpus (`tests/fuzz-corpus`: the hostile inputs found so far); each case is a seed
//! with random byte flips, cuts, duplications and hostile tokens. Asserted for every case: no
//! panic, and anything accepted re-exports to an equivalent file (it reads back equal).
//!
//! Budget: `SENTINEL_FUZZ_CASES` cases per seed (default 300, about a second). For a long run:
//! `SENTINEL_FUZZ_CASES=200000 SENTINEL_FUZZ_SEED=$RANDOM cargo test --release --test fuzz_parsers`.
//! A failing input is written to `target/tmp/fuzz-failures/` for the corpus.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

const HOSTILE: &[&str] = &[
    "1e18",
    "-1e18",
    "1e308",
    "NaN",
    "-0",
    "\0",
    "]]>",
    "<",
    ">",
    "&#0;",
    "&amp;",
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    "99999999999999999999999999",
    "\u{1b}[31m",
    "</Annotation>",
    "<Annotation>",
    "\"coordinates\":",
    "null",
    "true",
    "-1",
    "255",
    "\u{fffd}",
];

/// Whether two annotation lists hold the same things: ids, classes, names, comments, and shapes
/// with the same kind of geometry (area or not), box, vertices as a set and area (an axis-aligned
/// four-point polygon reads back as the rectangle it is).
fn equivalent(
    a: &[sentinel::annotate::Annotation],
    b: &[sentinel::annotate::Annotation],
) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} annotations read back as {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(b) {
        let mut vx = x.shape.vertices();
        let mut vy = y.shape.vertices();
        let key = |p: &[f64; 2]| (p[0].to_bits(), p[1].to_bits());
        vx.sort_by_key(key);
        vy.sort_by_key(key);
        // GeoJSON has no ellipse: it is written as a polygon around it, equal within 2%.
        let ellipse = matches!(x.shape, sentinel::annotate::Shape::Ellipse { .. });
        let tol = if ellipse { 0.02 } else { 1e-9 };
        let (bx, by) = (x.shape.bbox(), y.shape.bbox());
        let extent = (bx[2] - bx[0]).abs().max((bx[3] - bx[1]).abs()).max(1.0);
        let close = |u: f64, v: f64, scale: f64| (u - v).abs() <= tol * scale;
        let same = x.id == y.id
            && x.class == y.class
            && x.name == y.name
            && x.comment == y.comment
            && x.shape.is_area() == y.shape.is_area()
            && bx.iter().zip(&by).all(|(u, v)| close(*u, *v, extent))
            && close(
                x.shape.area_px(),
                y.shape.area_px(),
                x.shape.area_px().abs().max(1.0),
            )
            && (vx == vy || ellipse);
        if !same {
            return Err(format!("{x:?} read back as {y:?}"));
        }
    }
    Ok(())
}

fn cases_per_seed() -> usize {
    std::env::var("SENTINEL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn seed() -> u64 {
    std::env::var("SENTINEL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2026)
}

fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        if b.is_empty() {
            b.extend_from_slice(HOSTILE[rng.usize(..HOSTILE.len())].as_bytes());
            continue;
        }
        let at = rng.usize(..b.len());
        match rng.u8(..5) {
            0 => b[at] = rng.u8(..),
            1 => {
                let end = (at + rng.usize(1..64)).min(b.len());
                b.drain(at..end);
            }
            2 => {
                let end = (at + rng.usize(1..64)).min(b.len());
                let piece = b[at..end].to_vec();
                b.splice(at..at, piece);
            }
            3 => b.truncate(at),
            _ => {
                let t = HOSTILE[rng.usize(..HOSTILE.len())].as_bytes();
                b.splice(at..at, t.iter().copied());
            }
        }
    }
    b
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Seeds: the fixture of the format and every corpus file with one of `exts`.
fn seeds(fixtures: &[&str], exts: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fixtures
        .iter()
        .map(|f| (f.to_string(), read(&root().join("tests/fixtures").join(f))))
        .collect();
    let corpus = root().join("tests/fuzz-corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("tests/fuzz-corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| exts.iter().any(|e| n.to_string_lossy().ends_with(e)))
        })
        .collect();
    files.sort();
    out.extend(files.into_iter().map(|p| {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        (name, read(&p))
    }));
    out
}

/// Runs `check` on every seed and on `cases_per_seed()` mutations of it; a panic or a failed
/// check saves the input and fails the test. Returns (cases, accepted).
fn fuzz(
    name: &str,
    seeds: &[(String, Vec<u8>)],
    check: impl Fn(&str) -> Result<bool, String>,
) -> (usize, usize) {
    let mut rng = fastrand::Rng::with_seed(seed());
    let (mut cases, mut accepted) = (0, 0);
    for (seed_name, seed_bytes) in seeds {
        for k in 0..=cases_per_seed() {
            let bytes = if k == 0 {
                seed_bytes.clone()
            } else {
                mutate(&mut rng, seed_bytes)
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let outcome = catch_unwind(AssertUnwindSafe(|| check(&text)));
            let failure = match outcome {
                Ok(Ok(ok)) => {
                    accepted += usize::from(ok);
                    None
                }
                Ok(Err(why)) => Some(why),
                Err(_) => Some("panicked".to_owned()),
            };
            cases += 1;
            if let Some(why) = failure {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("{name}-{seed_name}-{k}"));
                let _ = std::fs::write(&path, &bytes);
                panic!(
                    "{name}: case {k} of {seed_name}: {why} (input saved as {})",
                    path.display()
                );
            }
        }
    }
    println!("{name}: {cases} cases, {accepted} accepted");
    (cases, accepted)
}

#[test]
fn geojson_import_never_panics_and_what_it_accepts_round_trips() {
    use sentinel::annotate::geojson;
    let seeds = seeds(&["qupath-0.5-export.geojson"], &[".geojson", ".json"]);
    let (cases, accepted) = fuzz("geojson", &seeds, |text| match geojson::import(text) {
        Err(_) => Ok(false),
        Ok(a) => {
            let again = geojson::import(&geojson::export(&a.annotations, &a.classes))
                .map_err(|e| format!("its own export does not read back: {e}"))?;
            if again.annotations != a.annotations {
                return Err("the re-export reads back different".into());
            }
            Ok(true)
        }
    });
    assert!(
        cases > 0 && accepted > 0,
        "the seeds themselves are accepted"
    );
}

#[test]
fn xml_import_never_panics_and_what_it_accepts_round_trips() {
    use sentinel::annotate::{geojson, xml};
    let seeds = seeds(
        &["camelyon16-style-asap.xml", "imagescope-12.4.xml"],
        &[".xml"],
    );
    let (cases, accepted) = fuzz("xml", &seeds, |text| match xml::import(text) {
        Err(_) => Ok(false),
        Ok(a) => {
            // Through QuPath GeoJSON, which keeps everything ASAP XML can hold.
            let again = geojson::import(&geojson::export(&a.annotations, &a.classes))
                .map_err(|e| format!("its re-export does not read back: {e}"))?;
            equivalent(&a.annotations, &again.annotations)?;
            Ok(true)
        }
    });
    assert!(cases > 0 && accepted > 0);
}

#[test]
fn bundle_read_never_panics_and_what_it_accepts_round_trips() {
    use sentinel::review::bundle;
    let seeds = seeds(&["review-bundle-v1.json"], &[".sentinel-review"]);
    let (cases, accepted) = fuzz("bundle", &seeds, |text| match bundle::read(text) {
        Err(_) => Ok(false),
        Ok(p) => {
            let again = bundle::read(&bundle::write(&p.session, &p.reads, p.attachments.clone()))
                .map_err(|e| format!("its re-export does not read back: {e}"))?;
            if again != p {
                return Err("the re-export reads back different".into());
            }
            Ok(true)
        }
    });
    assert!(cases > 0 && accepted > 0);
}

#[test]
fn model_json_never_panics() {
    use sentinel::analysis::model::ModelMeta;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("model.json");
    let seeds = vec![(
        "model.json".to_owned(),
        read(&root().join("models/capricorn-crc/model.json")),
    )];
    let (cases, accepted) = fuzz("model.json", &seeds, |text| {
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        Ok(ModelMeta::load(&path).is_ok())
    });
    assert!(cases > 0 && accepted > 0);
}

/// The corpus's hostile files (issue 14's list and what the fuzzer found) are refused, each with
/// a reason, not half-read.
#[test]
fn hostile_corpus_files_are_refused_with_a_reason() {
    use sentinel::annotate::{geojson, xml};
    use sentinel::review::bundle;
    let corpus = root().join("tests/fuzz-corpus");
    let text = |name: &str| String::from_utf8_lossy(&read(&corpus.join(name))).into_owned();
    for name in [
        "two-roots.xml",
        "declared-latin1.xml",
        "cdata-before-root.xml",
        "charref-zero.xml",
        "huge-coordinate.xml",
        "imagescope-negative-region-1e18.xml",
    ] {
        let e = xml::import(&text(name)).expect_err(name);
        assert!(!e.message.is_empty(), "{name}");
    }
    let e = geojson::import(&text("linestring-to-1e18.geojson")).expect_err("1e18");
    assert!(e.to_string().contains("beyond any slide"), "{e}");
    for name in [
        "category-200.sentinel-review",
        "version-0.sentinel-review",
        "reader-not-in-session.sentinel-review",
        "duplicate-case.sentinel-review",
        "ansi-reader.sentinel-review",
    ] {
        assert!(
            matches!(
                bundle::read(&text(name)),
                Err(bundle::BundleError::Invalid { .. })
            ),
            "{name}: {:?}",
            bundle::read(&text(name))
        );
    }
}

/// NDP.view annotations on the shared NDPI's frame: no panic, and whatever is accepted is a
/// shape the app could have made (within bounds, enough vertices).
#[test]
fn ndpa_import_never_panics_and_accepts_only_valid_shapes() {
    use sentinel::annotate::ndpa::{NdpaFrame, import};
    let frame = NdpaFrame {
        dims: (3968, 4864),
        mpp: (0.2281750559028887, 0.2281750559028887),
        offset_nm: (12_538_720.0, -96_063.0),
    };
    let seeds = seeds(&["hamamatsu-fluorescence-DAPI.ndpa"], &[".ndpa"]);
    let (cases, accepted) = fuzz("ndpa", &seeds, |text| match import(text, &frame) {
        Err(_) => Ok(false),
        Ok(a) => {
            for x in &a.annotations {
                x.shape
                    .check()
                    .map_err(|e| format!("accepted an impossible shape: {e}"))?;
            }
            Ok(true)
        }
    });
    assert!(cases > 0 && accepted > 0);
}

/// Byte-level mutations of TIFFs the app reads itself: an OME-TIFF pyramid (through
/// `slide::open`, every level read whole) and an ASAP likelihood map (`asap::read`). Never a
/// panic: a file opens and reads, or says what is wrong.
#[test]
fn damaged_ome_tiffs_and_likelihood_maps_never_panic() {
    use sentinel::analysis::heatmap::Heatmap;
    use sentinel::analysis::interchange::asap;
    let dir = tempfile::tempdir().expect("dir");
    // A small likelihood map, two levels.
    let map_path = dir.path().join("seed_likelihood_map.tif");
    let mut h = Heatmap::new((300, 200), 50.0);
    for c in 0..6 {
        h.set(c, 1, c as f32 / 6.0);
    }
    let levels = [
        asap::MapLevel {
            width: 300,
            height: 200,
            downsample: 1.0,
        },
        asap::MapLevel {
            width: 75,
            height: 50,
            downsample: 4.0,
        },
    ];
    asap::write(&h, &levels, Some((0.5, 0.5)), "seed", &map_path).expect("write map");
    // A small OME-TIFF pyramid written by tifffile.
    let python = root().join(".deps/venv/bin/python");
    assert!(python.is_file(), "run ./setup");
    let st = std::process::Command::new(&python)
        .arg(root().join("tests/ome_fixtures.py"))
        .arg("write")
        .arg(dir.path())
        .status()
        .expect("python");
    assert!(st.success());
    let seeds = [
        read(&dir.path().join("tifffile-strips.ome.tif")),
        read(&map_path),
    ];
    let mut rng = fastrand::Rng::with_seed(seed());
    let case_path = dir.path().join("case.ome.tif");
    let (mut cases, mut opened) = (0, 0);
    for (i, seed_bytes) in seeds.iter().enumerate() {
        for k in 0..=cases_per_seed() / 3 {
            let mut bytes = seed_bytes.clone();
            if k > 0 {
                // Flips and cuts only: the structure is binary, tokens mean nothing here.
                for _ in 0..rng.usize(1..=6) {
                    if bytes.is_empty() {
                        break;
                    }
                    let at = rng.usize(..bytes.len());
                    if rng.u8(..8) == 0 {
                        bytes.truncate(at);
                    } else {
                        bytes[at] = rng.u8(..);
                    }
                }
            }
            std::fs::write(&case_path, &bytes).expect("write case");
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                if i == 0 {
                    let Ok(s) = sentinel::slide::open(&case_path) else {
                        return false;
                    };
                    for (l, lv) in s.levels().iter().enumerate() {
                        let _ = s.read_region(
                            l,
                            0,
                            0,
                            lv.width_px.min(4096) as u32,
                            lv.height_px.min(4096) as u32,
                        );
                    }
                    true
                } else {
                    asap::read(&case_path, (300, 200)).is_ok()
                }
            }));
            cases += 1;
            match outcome {
                Ok(ok) => opened += usize::from(ok),
                Err(_) => {
                    let saved = Path::new(env!("CARGO_TARGET_TMPDIR"))
                        .join(format!("fuzz-failures-tiff-{i}-{k}.tif"));
                    let _ = std::fs::write(&saved, &bytes);
                    panic!(
                        "case {k} of seed {i} panicked (saved as {})",
                        saved.display()
                    );
                }
            }
        }
    }
    println!("tiff: {cases} cases, {opened} opened");
    assert!(opened > 0, "the seeds themselves open");
}
