"""Step 2 of the bundled model's build (runs in the app's venv, .deps/venv, whose onnxruntime 1.31.1
is the one Sentinel loads).

  1. checks the ONNX export against the Keras reference on the real patches (max abs difference);
  2. makes an INT8 variant (static QDQ quantisation, calibrated on real H&E that is *not* in the
     evaluation set: tiles of CMU-1-Small-Region.svs);
  3. evaluates both on the 89 real Camelyon16 patches (AUC, sensitivity at fixed specificity,
     calibration), under a stain shift and a blur, and on camelyon16-tumor_001-level5.tif against
     its ground-truth outlines; measures patches/s on this machine's CPU;
  4. writes model.json and evaluation.json. The INT8 file stays in the work folder as a candidate
     CPU variant: whether it ships is decided by agreement.py (per-tile agreement with the full
     model on every real slide), not by the patch AUC, which is blind to per-tile disagreement.

    python finish_capricorn.py EXPORT_DIR REFERENCE.npz MODEL_DIR
"""

import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import openslide
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).parent))
import patches  # noqa: E402

RISK = 8  # "colorectal adenocarcinoma epithelium"
SIZE = 224
DATA = patches.ROOT.parent / "shared" / "data"
CAMELYON_LEVEL0_MPP = 0.243  # Camelyon16 scanners; level 5 is a downsample of 32
MAX_ABS_DIFF = 1e-4
THREADS = 2

CLASSES = [
    "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
    "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium",
    "actinic keratoses/IEC", "basal cell carcinoma", "benign keratosis-like lesions",
    "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions",
    "basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte",
    "monocyte", "neutrophil", "platelet",
]  # fmt: skip


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, nhwc: np.ndarray, batch: int = 16) -> np.ndarray:
    x = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2), dtype=np.float32)
    return np.concatenate([sess.run(None, {"image": x[i : i + batch]})[0] for i in range(0, len(x), batch)])


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney form: P(score of a positive > score of a negative), ties count half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def sensitivity_at_specificity(scores, labels, specificity: float):
    """Highest sensitivity with specificity >= the target; the threshold that gives it."""
    neg = np.sort(scores[labels == 0])
    # Smallest threshold t with fraction of negatives strictly below t >= specificity.
    k = int(np.ceil(specificity * len(neg)))
    t = float(np.nextafter(neg[k - 1], np.inf)) if k > 0 else float(neg[0])
    sens = float((scores[labels == 1] >= t).mean())
    return sens, t


def calibration(scores, labels, edges=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)):
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (scores >= lo) & ((scores < hi) if hi < 1.0 else (scores <= hi))
        rows.append(
            {
                "bin": f"{lo:.1f}-{hi:.1f}",
                "patches": int(m.sum()),
                "mean_predicted": float(scores[m].mean()) if m.any() else None,
                "fraction_tumour": float(labels[m].mean()) if m.any() else None,
            }
        )
    return rows


def metrics(scores, labels):
    s90, t90 = sensitivity_at_specificity(scores, labels, 0.90)
    s95, t95 = sensitivity_at_specificity(scores, labels, 0.95)
    return {
        "auc": roc_auc(scores, labels),
        "sensitivity_at_90_specificity": s90,
        "threshold_at_90_specificity": t90,
        "sensitivity_at_95_specificity": s95,
        "threshold_at_95_specificity": t95,
        "calibration": calibration(scores, labels),
    }


# ------------------------------------------------------------------ perturbations
# Ruifrok & Johnston's H&E-DAB optical-density vectors (rows), as in scikit-image's rgb2hed.
HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
HED = HED / np.linalg.norm(HED, axis=1, keepdims=True)


def stain_shift(h_scale: float, e_scale: float):
    def apply(img: Image.Image) -> Image.Image:
        rgb = np.asarray(img, dtype=np.float64)
        od = -np.log((rgb + 1.0) / 256.0)
        conc = od.reshape(-1, 3) @ np.linalg.inv(HED)
        conc[:, 0] *= h_scale
        conc[:, 1] *= e_scale
        out = 256.0 * np.exp(-(conc @ HED)) - 1.0
        return Image.fromarray(np.clip(out, 0, 255).reshape(rgb.shape).astype(np.uint8))

    return apply


def blur(sigma_um: float):
    return lambda img: img.filter(ImageFilter.GaussianBlur(sigma_um / patches.PATCH_MPP))


CONDITIONS = {
    "original": None,
    "stain: pale haematoxylin, strong eosin (H x0.6, E x1.4)": stain_shift(0.6, 1.4),
    "stain: dark haematoxylin, pale eosin (H x1.4, E x0.6)": stain_shift(1.4, 0.6),
    "blur: Gaussian sigma 1 um": blur(1.0),
    "blur: Gaussian sigma 2 um": blur(2.0),
}


# ------------------------------------------------------------------ calibration data for INT8
def calibration_tiles(n: int = 256) -> np.ndarray:
    """Tissue tiles of CMU-1-Small-Region.svs (real H&E, 0.499 µm/px: the model's scale)."""
    slide = openslide.OpenSlide(str(DATA / "slides" / "CMU-1-Small-Region.svs"))
    w, h = slide.dimensions
    tiles = []
    for y in range(0, h - SIZE, SIZE // 2):
        for x in range(0, w - SIZE, SIZE // 2):
            rgb = np.asarray(slide.read_region((x, y), 0, (SIZE, SIZE)).convert("RGB"), dtype=np.float32)
            if (rgb.max(axis=2) - rgb.min(axis=2)).mean() > 30:  # stained, not glass
                tiles.append(rgb / 255.0)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(tiles), size=min(n, len(tiles)), replace=False)
    return np.stack([tiles[i] for i in sorted(pick)])


class Reader(CalibrationDataReader):
    def __init__(self, nhwc: np.ndarray):
        self.items = iter([{"image": t[None].transpose(0, 3, 1, 2).copy()} for t in nhwc])

    def get_next(self):
        return next(self.items, None)


def quantise(fp32: Path, int8: Path, work: Path) -> None:
    pre = work / "model.pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(
        str(pre),
        str(int8),
        Reader(calibration_tiles()),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


# ------------------------------------------------------------------ throughput
def patches_per_second(sess, batch=16, batches=6) -> float:
    x = np.random.default_rng(1).random((batch, 3, SIZE, SIZE), dtype=np.float32)
    sess.run(None, {"image": x})
    t = time.perf_counter()
    for _ in range(batches):
        sess.run(None, {"image": x})
    return batch * batches / (time.perf_counter() - t)


# ------------------------------------------------------------------ tumor_001 at level 5
def inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd ray casting, vectorised over points."""
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    x0, y0 = poly[:, 0][None, :], poly[:, 1][None, :]
    x1, y1 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = ((y0 > y) != (y1 > y)) & (x < (x1 - x0) * (y - y0) / np.where(y1 != y0, y1 - y0, 1) + x0)
    return crosses.sum(axis=1) % 2 == 1


def tumor_001(sessions, per_class: int = 150):
    """Model tiles (112 µm = 14.4 px at level 5) over tissue, upsampled to 224 px: the model sees a
    blurred image, since the file holds 7.8 µm/px and the model needs 0.5."""
    slide = openslide.OpenSlide(str(DATA / "slides" / "camelyon16-tumor_001-level5.tif"))
    outlines = json.loads((DATA / "annotations" / "camelyon16-tumor_001-level0.json").read_text())
    polys = [np.array(p["vertices"], dtype=np.float64) / 32.0 for p in outlines["positive"]]
    img = np.asarray(slide.read_region((0, 0), 0, slide.dimensions).convert("RGB"), dtype=np.float32)
    mpp = CAMELYON_LEVEL0_MPP * 32
    cell = SIZE * patches.MODEL_MPP / mpp
    sat = img.max(axis=2) - img.min(axis=2)
    cols, rows = int(img.shape[1] // cell), int(img.shape[0] // cell)
    centres, tissue = [], []
    for r in range(rows):
        for c in range(cols):
            y0, x0 = int(r * cell), int(c * cell)
            block = sat[y0 : int((r + 1) * cell), x0 : int((c + 1) * cell)]
            centres.append(((c + 0.5) * cell, (r + 0.5) * cell))
            tissue.append(block.mean() > 25)
    centres, tissue = np.array(centres), np.array(tissue)
    tumour = np.zeros(len(centres), dtype=bool)
    for p in polys:
        tumour |= inside(centres, p)
    rng = np.random.default_rng(0)
    pos = np.flatnonzero(tissue & tumour)
    neg = np.flatnonzero(tissue & ~tumour)
    pick_pos = rng.choice(pos, size=min(per_class, len(pos)), replace=False)
    pick_neg = rng.choice(neg, size=min(per_class, len(neg)), replace=False)
    pick = np.concatenate([pick_pos, pick_neg])
    labels = np.concatenate([np.ones(len(pick_pos), int), np.zeros(len(pick_neg), int)])
    xs = []
    for i in pick:
        cx, cy = centres[i]
        x0, y0 = int(round(cx - cell / 2)), int(round(cy - cell / 2))
        tile = Image.fromarray(img[y0 : y0 + int(round(cell)), x0 : x0 + int(round(cell))].astype(np.uint8))
        xs.append(np.asarray(tile.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32) / 255.0)
    xs = np.stack(xs)
    out = {
        "assumed_mpp": mpp,
        "model_tile_px": cell,
        "tissue_tiles": int(tissue.sum()),
        "tumour_tissue_tiles": int((tissue & tumour).sum()),
        "sampled_tumour": int(len(pick_pos)),
        "sampled_normal": int(len(pick_neg)),
    }
    for name, sess in sessions.items():
        p = run(sess, xs)[:, RISK]
        out[name] = {
            "auc": roc_auc(p, labels),
            "mean_risk_tumour": float(p[labels == 1].mean()),
            "mean_risk_normal": float(p[labels == 0].mean()),
            "tumour_above_0.5": float((p[labels == 1] >= 0.5).mean()),
            "normal_above_0.5": float((p[labels == 0] >= 0.5).mean()),
        }
    return out


# ------------------------------------------------------------------ main
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    export_dir, reference, model_dir = (Path(a) for a in sys.argv[1:4])
    model_dir.mkdir(parents=True, exist_ok=True)
    work = reference.parent
    fp32 = model_dir / "model.onnx"
    shutil.copyfile(export_dir / "model.onnx", fp32)
    ref = np.load(reference)
    labels = ref["labels"]
    fp32_sess = session(fp32)

    verification = {}
    for protocol in patches.PROTOCOLS:
        onnx_out = run(fp32_sess, ref[f"{protocol}_input"])
        verification[protocol] = float(np.abs(onnx_out - ref[f"{protocol}_keras"]).max())
    worst = max(verification.values())
    if worst > MAX_ABS_DIFF:
        raise SystemExit(f"ONNX export differs from Keras by {worst} (> {MAX_ABS_DIFF})")
    print(f"export matches Keras: max abs diff {worst:.2e} over 24 outputs x 89 patches x 2 protocols")

    int8 = work / "model.int8.onnx"
    quantise(fp32, int8, work)
    sessions = {"fp32": fp32_sess, "int8": session(int8)}

    evaluation = {"patches": int(len(labels)), "tumour": int(labels.sum()), "normal": int((labels == 0).sum())}
    for name, sess in sessions.items():
        ev = {}
        for protocol in patches.PROTOCOLS:
            ev[protocol] = {}
            for cond, transform in CONDITIONS.items():
                if protocol != "mpp" and cond != "original":
                    continue
                x, y, _ = patches.load(protocol, SIZE, transform)
                assert (y == labels).all()
                ev[protocol][cond] = metrics(run(sess, x)[:, RISK], y)
        # Per-patch scores, so the Rust test can tell a channel swap or a normalisation slip (which
        # can leave the AUC almost unchanged) from the real thing.
        x, _, names = patches.load("mpp", SIZE)
        ev["mpp_scores"] = dict(zip(names, map(float, run(sess, x)[:, RISK])))
        ev["patches_per_second_cpu"] = patches_per_second(sess)
        evaluation[name] = ev
        print(name, {p: round(ev[p]["original"]["auc"], 4) for p in patches.PROTOCOLS}, f"{ev['patches_per_second_cpu']:.1f} patches/s")
    # Grouped by source slide: a model that only recognised one slide's colour would show it here.
    x, y, names = patches.load("mpp", SIZE)
    p = run(fp32_sess, x)[:, RISK]
    groups = {}
    for slide in sorted({patches.slide_of(Path(n)) for n in names}):
        m = np.array([patches.slide_of(Path(n)) == slide for n in names])
        groups[slide] = {"tumour": int(y[m].sum()), "normal": int((y[m] == 0).sum()),
                         "auc": roc_auc(p[m], y[m]) if 0 < y[m].sum() < m.sum() else None}
    evaluation["fp32"]["per_slide_mpp"] = groups
    evaluation["tumor_001_level5"] = tumor_001(sessions)

    auc32 = evaluation["fp32"]["mpp"]["original"]["auc"]
    auc8 = evaluation["int8"]["mpp"]["original"]["auc"]

    graph = onnx.load(str(fp32), load_external_data=False)
    meta = {
        "name": "capricorn-crc-carcinoma",
        "version": "0.1.1",
        "input_size": SIZE,
        "mpp": patches.MODEL_MPP,
        "channel_order": "RGB",
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "classes": CLASSES,
        "risk_class": CLASSES[RISK],
        "output": "probabilities",
    }
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")

    build = {
        "script_sha256": {
            f: sha256(Path(__file__).parent / f)
            for f in ("build", "export_capricorn.py", "finish_capricorn.py", "model_card.py", "patches.py", "requirements.txt")
        },
        "onnx_sha256": {f.name: sha256(f) for f in sorted(model_dir.glob("*.onnx"))},
        "onnx_opset": graph.opset_import[0].version,
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": THREADS,
        "keras_max_abs_diff": verification,
    }
    (model_dir / "evaluation.json").write_text(json.dumps({"build": build, **evaluation}, indent=2) + "\n")
    print(f"wrote {model_dir}: fp32 AUC {auc32:.4f}, int8 candidate AUC {auc8:.4f} (ship rule: agreement.py)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
    main()
