//! The bundled model through the Rust pipeline on the real Camelyon16 patches: its tile AUC must
//! stay within 0.02 of the figure its model card reports (models/capricorn-crc/evaluation.json), so
//! a broken export, a wrong normalisation or swapped channels fail here. The calibrated operating
//! point must give the card's sensitivity and specificity, and the file the CPU runs by default
//! must agree with the full model per tile on the real slides (the card's ship rule).

mod common;

use common::{auc, bundled_model_dir};

use std::path::{Path, PathBuf};

use sentinel::analysis::model::{Device, LoadOptions, Model};

/// The patches are 256 px at 0.243 µm/px (Camelyon16 level 0).
const PATCH_MPP: f64 = 0.243;
const MARGIN: f64 = 0.02;

/// The card's "mpp" protocol: resample to the model's µm/px, then mirror-pad (numpy's
/// "symmetric": the edge pixel repeats) to the model's input size.
fn to_model_input(patch: &image::RgbaImage, model_mpp: f64, size: u32) -> Vec<u8> {
    let side = (f64::from(patch.width()) * PATCH_MPP / model_mpp).round() as u32;
    let small = image::imageops::resize(patch, side, side, image::imageops::FilterType::Triangle);
    let before = (size - side) / 2;
    let mirror = |i: i64| -> u32 {
        let n = i64::from(side);
        let period = 2 * n;
        let m = i.rem_euclid(period);
        (if m < n { m } else { period - 1 - m }) as u32
    };
    let mut out = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let sx = mirror(i64::from(x) - i64::from(before));
            let sy = mirror(i64::from(y) - i64::from(before));
            out.extend_from_slice(&small.get_pixel(sx, sy).0);
        }
    }
    out
}

fn patches(root: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    for (sub, tumour) in [("tumor", true), ("normal", false)] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .expect("patch folder")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|p| (p, tumour)));
    }
    out
}

fn card() -> serde_json::Value {
    let path = bundled_model_dir().join("evaluation.json");
    serde_json::from_slice(&std::fs::read(&path).expect("evaluation.json")).expect("json")
}

fn card_auc(variant: &str) -> f64 {
    card()[variant]["mpp"]["original"]["auc"]
        .as_f64()
        .expect("the card's AUC")
}

/// Mean |Rust score - the build's ONNX Runtime score| per patch. A channel swap or a slip in
/// normalisation can leave the AUC nearly unchanged (BGR input: AUC 0.962 against 0.979), but not
/// the scores: measured mean gaps are 0.072 for BGR and 0.092 for ImageNet mean/std.
fn mean_score_gap(variant: &str, scores: &[(String, f32)]) -> f64 {
    let reference = card();
    let gaps: Vec<f64> = scores
        .iter()
        .map(|(name, p)| {
            let want = reference[variant]["mpp_scores"][name]
                .as_f64()
                .unwrap_or_else(|| panic!("no reference score for {name}"));
            (f64::from(*p) - want).abs()
        })
        .collect();
    gaps.iter().sum::<f64>() / gaps.len() as f64
}

struct Run {
    auc: f64,
    /// Raw class probability per patch (what the card records).
    scores: Vec<(String, f32)>,
    /// Calibrated risk and label per patch.
    risks: Vec<(f32, bool)>,
    onnx: PathBuf,
    meta: sentinel::analysis::model::ModelMeta,
}

fn patch_auc(full_precision: bool) -> Run {
    let data = common::shared_data();
    let mut model = Model::load(
        &bundled_model_dir(),
        LoadOptions {
            threads: 2,
            device: Device::Cpu,
            full_precision,
        },
    )
    .expect("the bundled model loads");
    let meta = model.meta.clone();
    let list = patches(&data.join("patches/camelyon16"));
    let mut scores = Vec::new();
    let mut named = Vec::new();
    let mut risks = Vec::new();
    for chunk in list.chunks(16) {
        let mut batch = Vec::new();
        for (path, _) in chunk {
            let img = image::open(path).expect("patch").to_rgba8();
            meta.normalise_into(&to_model_input(&img, meta.mpp, meta.input_size), &mut batch);
        }
        let out = model.scores(&batch, chunk.len()).expect("inference");
        for ((path, tumour), s) in chunk.iter().zip(out) {
            let p = s.raw;
            scores.push((p, *tumour));
            risks.push((s.risk, *tumour));
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            named.push((name, p));
        }
    }
    Run {
        auc: auc(&scores),
        scores: named,
        risks,
        onnx: model.onnx.clone(),
        meta,
    }
}

/// Runs the patches through the Rust pipeline and checks AUC and per-patch scores against the card.
fn check_against_card(full_precision: bool, variant: &str, file: &str, max_gap: f64) {
    let run = patch_auc(full_precision);
    let (auc, card) = (run.auc, card_auc(variant));
    let gap = mean_score_gap(variant, &run.scores);
    println!(
        "{}: AUC {auc:.4} on {} patches (card {card:.4}); mean score gap {gap:.4}",
        run.onnx.display(),
        run.scores.len()
    );
    assert_eq!(run.scores.len(), 89);
    assert!(run.onnx.ends_with(file), "runs {}", run.onnx.display());
    assert!(
        auc >= card - MARGIN,
        "AUC {auc:.4} < card {card:.4} - {MARGIN}"
    );
    assert!(
        gap < max_gap,
        "per-patch scores drift from the build's: mean {gap:.4}"
    );
}

#[test]
fn full_model_patch_auc_matches_its_card() {
    check_against_card(true, "fp32", "model.onnx", 0.01);
}

/// The CPU default (no `--full-precision`) is the file the card ships for the CPU, and its scores
/// are the build's: no INT8 variant passed the per-tile agreement rule, so it is `model.onnx`.
#[test]
fn cpu_default_is_the_file_the_card_ships_and_matches_its_scores() {
    let card = card();
    let shipped = card["cpu_variants"]["shipped"].as_str().map(str::to_owned);
    let meta = sentinel::analysis::model::ModelMeta::load(&bundled_model_dir().join("model.json"))
        .expect("model.json");
    assert_eq!(
        meta.cpu_variant, shipped,
        "model.json's cpu_variant is not the one the agreement rule shipped"
    );
    match shipped {
        None => check_against_card(false, "fp32", "model.onnx", 0.01),
        Some(file) => {
            // A shipped variant's own scores are compared per tile in the agreement test.
            let run = patch_auc(false);
            assert!(run.onnx.ends_with(&file));
        }
    }
}

/// The default threshold is a measured operating point: through the Rust pipeline, the calibrated
/// risk of the 89 patches at model.json's threshold flags exactly what the build counted on the
/// same patches, and the meaning shown in the legend quotes the card's cross-validated figures.
#[test]
fn calibrated_threshold_gives_the_cards_sensitivity_and_specificity() {
    let run = patch_auc(false);
    let card = card();
    let cal = &card["calibration"];
    let meta = &run.meta;
    let threshold = meta.default_threshold();
    assert!(
        meta.calibration.is_some(),
        "the bundled model is calibrated"
    );
    let want = |k: &str| cal["at_threshold_all_patches"][k].as_u64().expect(k) as usize;
    let tp = run
        .risks
        .iter()
        .filter(|(r, t)| *t && *r >= threshold)
        .count();
    let tn = run
        .risks
        .iter()
        .filter(|(r, t)| !*t && *r < threshold)
        .count();
    println!(
        "threshold {threshold}: {tp}/{} tumour flagged, {tn}/{} normal not (card {} and {})",
        want("tumour"),
        want("normal"),
        want("true_positives"),
        want("true_negatives")
    );
    // One patch of slack each way: the image crate and Pillow resample slightly differently, and a
    // patch sitting on the threshold may fall either side.
    assert!(
        tp.abs_diff(want("true_positives")) <= 1,
        "tumour flagged: {tp}"
    );
    assert!(
        tn.abs_diff(want("true_negatives")) <= 1,
        "normal passed: {tn}"
    );
    // The sentence in model.json is the card's own cross-validated figures.
    let cv = &cal["cross_validated"];
    let pct = |v: &serde_json::Value| format!("{:.0}%", v.as_f64().expect("number") * 100.0);
    let meaning = meta.threshold_meaning(threshold).expect("a stated meaning");
    assert!(
        meaning.starts_with(&format!("{threshold:.2}:")),
        "{meaning}"
    );
    for figure in [
        pct(&cv["sensitivity"]),
        pct(&cv["specificity"]),
        pct(&cv["sensitivity_ci95"][0]),
        pct(&cv["sensitivity_ci95"][1]),
        pct(&cv["specificity_ci95"][0]),
        pct(&cv["specificity_ci95"][1]),
    ] {
        assert!(meaning.contains(&figure), "{meaning} lacks {figure}");
    }
    assert!(meaning.contains("leave-one-slide-out"), "{meaning}");
}

/// The card's ship rule for a CPU variant, checked through the Rust pipeline: on the real slides
/// at the model's scale, the CPU default's risk agrees with the full model's tile by tile.
#[test]
fn cpu_default_agrees_with_full_model_per_tile_on_real_slides() {
    let data = common::shared_data();
    let rule = card()["cpu_variants"]["rule"].clone();
    let num = |k: &str| rule[k].as_f64().unwrap_or_else(|| panic!("rule {k}"));
    let (pearson_min, p99_max, near) = (
        num("pearson_min"),
        num("p99_abs_diff_max"),
        num("near_threshold"),
    );
    let load = |full_precision| {
        Model::load(
            &bundled_model_dir(),
            LoadOptions {
                threads: 2,
                device: Device::Cpu,
                full_precision,
            },
        )
        .expect("model")
    };
    let (mut cpu, mut full) = (load(false), load(true));
    let same_file = cpu.onnx == full.onnx;
    // Slides the pipeline reads at the model's scale (µm/px within 2x); the no-mpp JPEG 2000 slide
    // at the value agreement.py assumes. Far coarser files are covered by agreement.py alone.
    let slides: &[(&str, Option<f64>)] = if same_file {
        // One file: the comparison shows the pipeline is deterministic; one slide suffices.
        &[("CMU-1-Small-Region.svs", None)]
    } else {
        &[
            ("CMU-1-Small-Region.svs", None),
            ("hamamatsu-fluorescence-DAPI.ndpi", None),
            ("TCGA-CR-7395-01A-01-TS1-jp2k.svs", Some(0.5)),
        ]
    };
    let threshold = cpu.meta.default_threshold();
    let dir = tempfile::tempdir().expect("dir");
    for (name, mpp) in slides {
        let mut opened = sentinel::slide::open(&data.join("slides").join(name)).expect("slide");
        if let Some(m) = mpp {
            opened = Box::new(sentinel::slide::WithMpp::new(opened, *m).expect("mpp"));
        }
        let run = |model: &mut Model, sub: &str| {
            let out = dir.path().join(sub);
            common::analyze_all(opened.as_ref(), model, &out)
                .expect("analysis")
                .1
                .heatmap
        };
        let (a, b) = (run(&mut full, "full"), run(&mut cpu, "cpu"));
        assert_eq!(a.values.len(), b.values.len());
        let pairs: Vec<(f64, f64)> = a
            .values
            .iter()
            .zip(&b.values)
            .filter_map(|(x, y)| Some((f64::from((*x)?), f64::from(y.expect("same tiles")))))
            .collect();
        assert!(pairs.len() >= 20, "{name}: only {} tiles", pairs.len());
        let n = pairs.len() as f64;
        let (mx, my) = (
            pairs.iter().map(|p| p.0).sum::<f64>() / n,
            pairs.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let cov: f64 = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        let vx: f64 = pairs.iter().map(|(x, _)| (x - mx).powi(2)).sum();
        let vy: f64 = pairs.iter().map(|(_, y)| (y - my).powi(2)).sum();
        let pearson = cov / (vx * vy).sqrt();
        let mut diffs: Vec<f64> = pairs.iter().map(|(x, y)| (x - y).abs()).collect();
        diffs.sort_by(f64::total_cmp);
        let p99 = diffs[((0.99 * n).ceil() as usize).min(diffs.len()) - 1];
        let t = f64::from(threshold);
        let flips = pairs
            .iter()
            .filter(|(x, y)| {
                (*x >= t) != (*y >= t) && !((x - t).abs() <= near && (y - t).abs() <= near)
            })
            .count();
        println!(
            "{name}: {} tiles, Pearson {pearson:.5}, p99 |diff| {p99:.5}, flips {flips} ({} vs {})",
            pairs.len(),
            cpu.onnx.display(),
            full.onnx.display()
        );
        assert!(pearson >= pearson_min, "{name}: Pearson {pearson}");
        assert!(p99 <= p99_max, "{name}: p99 |diff| {p99}");
        assert_eq!(flips, 0, "{name}: tiles across the threshold");
    }
}

#[test]
fn mirror_padding_matches_numpy_symmetric() {
    // A 2x2 patch at a scale that keeps it 2 px, padded to 6: numpy.pad(mode="symmetric") gives
    // columns [1, 0, 0, 1, 1, 0] for a row [0, 1] (the edge pixel repeats).
    let mut img = image::RgbaImage::new(2, 2);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgba([(x * 100) as u8, (y * 100) as u8, 0, 255]);
    }
    let out = to_model_input(&img, PATCH_MPP, 6);
    let reds: Vec<u8> = (0..6).map(|x| out[x * 4]).collect();
    assert_eq!(reds, vec![100, 0, 0, 100, 100, 0]);
    let greens: Vec<u8> = (0..6).map(|y| out[y * 6 * 4 + 1]).collect();
    assert_eq!(greens, vec![100, 0, 0, 100, 100, 0]);
}

/// A slide of real patches: each fills one model tile of the analysis grid (mirror-padded at the
/// patches' own 0.243 µm/px, as the card's protocol pads them), side by side in one block with a
/// one-cell glass border (the tissue mask drops isolated specks smaller than one cell, so they
/// cannot stand alone), in a seeded shuffle so that tumour and normal interleave.
struct Mosaic {
    /// Edge of one analysis-grid cell in level-0 pixels (224 px at 0.5 µm/px).
    cell: f64,
    /// Pixels the runner reads per cell (the cell edge rounded).
    side: u32,
    /// (col, row, patch) per slot.
    slots: Vec<(u32, u32, image::RgbaImage)>,
}

impl Mosaic {
    fn origin(&self, col: u32, row: u32) -> (i64, i64) {
        (
            (f64::from(col) * self.cell).round() as i64,
            (f64::from(row) * self.cell).round() as i64,
        )
    }
}

impl sentinel::synth::Painter for Mosaic {
    fn paint(&self, x0: u64, y0: u64, w: u32, h: u32, out: &mut [u8]) -> bool {
        for px in out.chunks_exact_mut(3) {
            px.copy_from_slice(&sentinel::synth::BACKGROUND);
        }
        let (x0, y0) = (x0 as i64, y0 as i64);
        let side = i64::from(self.side);
        let mut any = false;
        for (col, row, patch) in &self.slots {
            let (ox, oy) = self.origin(*col, *row);
            let n = i64::from(patch.width());
            let before = (side - n) / 2;
            let mirror = |i: i64| -> u32 {
                let m = i.rem_euclid(2 * n);
                (if m < n { m } else { 2 * n - 1 - m }) as u32
            };
            for y in oy.max(y0)..(oy + side).min(y0 + i64::from(h)) {
                for x in ox.max(x0)..(ox + side).min(x0 + i64::from(w)) {
                    let p = patch.get_pixel(mirror(x - ox - before), mirror(y - oy - before));
                    let i = ((y - y0) * i64::from(w) + (x - x0)) as usize * 3;
                    out[i..i + 3].copy_from_slice(&p.0[..3]);
                    any = true;
                }
            }
        }
        any
    }
}

/// The held-out patches (the model never saw Camelyon16) laid out as a slide and analysed by the
/// same pipeline as `sentinel analyze`: every patch's tile, and only those, is inferred, and the
/// tile-level AUC stays within 0.05 of the card's patch AUC for the file that runs on the CPU.
#[test]
fn mosaic_of_real_patches_analysed_end_to_end_keeps_the_cards_auc() {
    use sentinel::synth::{SynthFormat, SynthSpec, write_painted};

    let data = common::shared_data();
    const MOSAIC_MARGIN: f64 = 0.05;
    let mut list = patches(&data.join("patches/camelyon16"));
    fastrand::Rng::with_seed(16).shuffle(&mut list);
    let cell = 224.0 * 0.5 / PATCH_MPP;
    let per_row = 10u32;
    let slots: Vec<(u32, u32, image::RgbaImage)> = list
        .iter()
        .enumerate()
        .map(|(k, (path, _))| {
            let k = k as u32;
            let img = image::open(path).expect("patch").to_rgba8();
            (1 + k % per_row, 1 + k / per_row, img)
        })
        .collect();
    let rows = (list.len() as u32).div_ceil(per_row) + 2;
    let mosaic = Mosaic {
        cell,
        side: cell.round() as u32,
        slots,
    };
    let mut spec = SynthSpec::new(
        (f64::from(per_row + 2) * cell).ceil() as u64,
        (f64::from(rows) * cell).ceil() as u64,
        SynthFormat::Svs,
    );
    spec.mpp = PATCH_MPP;
    spec.jpeg_quality = 90;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("camelyon16-mosaic.svs");
    write_painted(&spec, &mosaic, &path, |_| {}).expect("write the mosaic");

    let slide = sentinel::slide::open(&path).expect("open the mosaic");
    let mut model = Model::load(&bundled_model_dir(), LoadOptions::cpu(2)).expect("model");
    let (report, result) =
        common::analyze_all(slide.as_ref(), &mut model, dir.path()).expect("analysis");
    let heatmap = &result.heatmap;
    assert!(
        (heatmap.cell_level0 - cell).abs() < 1e-3,
        "grid cell {}",
        heatmap.cell_level0
    );

    // A patch that is mostly fat or glass is not tissue to the mask and is skipped, as on a real
    // slide; it then shows no risk, so it scores 0. No tumour patch may be skipped.
    let mut scores = Vec::new();
    let mut skipped = Vec::new();
    for ((path, tumour), (col, row, _)) in list.iter().zip(&mosaic.slots) {
        match heatmap.get(*col, *row) {
            Some(p) => scores.push((p, *tumour)),
            None => {
                assert!(!tumour, "tumour patch {} was not analysed", path.display());
                skipped.push(path.file_name().expect("name").to_string_lossy());
                scores.push((0.0, false));
            }
        }
    }
    assert!(
        skipped.len() <= 3,
        "{} patches skipped: {skipped:?}",
        skipped.len()
    );
    let analysed = heatmap.values.iter().filter(|v| v.is_some()).count();
    assert_eq!(
        analysed,
        list.len() - skipped.len(),
        "tiles were inferred on the glass around the patches"
    );
    let (auc, card) = (auc(&scores), card_auc("fp32"));
    println!(
        "mosaic {}x{} px: {} tiles in {:.1} s on {}; tile AUC {auc:.4} (card {card:.4}); \
         not tissue: {skipped:?}",
        spec.width, spec.height, report.tiles, report.seconds, report.provider
    );
    assert!(
        auc >= card - MOSAIC_MARGIN,
        "tile AUC {auc:.4} < card {card:.4} - {MOSAIC_MARGIN}"
    );
}
