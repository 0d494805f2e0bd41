"""Step 4 of the bundled model's build: the ship rule for a CPU variant (a faster ONNX file the CPU
runs instead of model.onnx). A variant ships only if it agrees with the full-precision model
**per tile, on every tissue tile of every real slide** in ../shared/data, not only on evaluation
patches:

  - Pearson correlation of the two risk scores >= 0.98 on each slide,
  - the 99th percentile of |risk difference| <= 0.05 on each slide,
  - no tile on the other side of the operating threshold (model.json `threshold`) unless both
    scores are within 0.05 of it.

Scores are compared as the app shows them: the risk class's probability through model.json's
calibration. Tiles are laid as Sentinel lays them (a grid of model tiles from the slide origin,
read at the coarsest level not coarser than the model, resized to the input), and a tile is tissue
when its mean colour saturation (max - min channel) exceeds 25.

Slides: every slide of ../shared/data/slides that Sentinel would analyse. A slide recording no
µm/px is read at an assumed one (stated in the output); a slide on which the model's tile would be
under 8 px is skipped, as `sentinel analyze` refuses it.

Writes evaluation.json["cpu_variants"] and sets or removes model.json's `cpu_variant`.

    python agreement.py MODEL_DIR [VARIANT.onnx ...]
"""

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import openslide
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from finish_capricorn import DATA, RISK, SIZE, run, session  # noqa: E402

PEARSON_MIN = 0.98
P99_MAX = 0.05
NEAR_THRESHOLD = 0.05
MIN_TILE_PX = 8.0  # as sentinel::analysis::pipeline::MIN_TILE_PX
TISSUE_SATURATION = 25
# Files that record no µm/px: the value assumed for this comparison only.
ASSUMED_MPP = {
    "TCGA-CR-7395-01A-01-TS1-jp2k.svs": 0.5,  # a downsized 20x frozen section; scale unknown
    "camelyon16-tumor_001-level5.tif": 0.243 * 32,  # Camelyon16 level 0 x 32
}


def calibrated(raw: np.ndarray, meta: dict) -> np.ndarray:
    c = meta.get("calibration")
    if not c:
        return raw
    p = np.clip(raw.astype(np.float64), 1e-7, 1 - 1e-7)
    return 1.0 / (1.0 + np.exp(-(c["a"] * np.log(p / (1 - p)) + c["b"])))


def slide_tiles(path: Path, model_mpp: float):
    """(tiles NHWC float32 in 0..1, mpp used, assumed?) for every tissue tile of the slide."""
    slide = openslide.OpenSlide(str(path))
    mpp = slide.properties.get(openslide.PROPERTY_NAME_MPP_X)
    assumed = mpp is None
    mpp = float(mpp) if mpp else ASSUMED_MPP.get(path.name)
    if mpp is None:
        return None, None, assumed
    cell = SIZE * model_mpp / mpp
    if cell < MIN_TILE_PX:
        return None, mpp, assumed
    level = 0
    for i, ds in enumerate(slide.level_downsamples):
        if mpp * ds <= model_mpp * 1.01:
            level = i
    ds = slide.level_downsamples[level]
    side = max(1, round(cell / ds))
    w, h = slide.dimensions
    tiles = []
    for r in range(int(np.ceil(h / cell))):
        for c in range(int(np.ceil(w / cell))):
            x, y = round(c * cell), round(r * cell)
            img = slide.read_region((x, y), level, (side, side))
            rgba = np.asarray(img)
            rgb = rgba[..., :3].astype(np.float32)
            opaque = rgba[..., 3] > 0
            if not opaque.any():
                continue
            sat = (rgb.max(axis=2) - rgb.min(axis=2))[opaque].mean()
            if sat <= TISSUE_SATURATION:
                continue
            tile = img.convert("RGB")
            if side != SIZE:
                tile = tile.resize((SIZE, SIZE), Image.BILINEAR)
            tiles.append(np.asarray(tile, dtype=np.float32) / 255.0)
    if not tiles:
        return np.zeros((0, SIZE, SIZE, 3), np.float32), mpp, assumed
    return np.stack(tiles), mpp, assumed


def compare(full: np.ndarray, variant: np.ndarray, threshold: float) -> dict:
    diff = np.abs(full - variant)
    flipped = (full >= threshold) != (variant >= threshold)
    near = (np.abs(full - threshold) <= NEAR_THRESHOLD) & (np.abs(variant - threshold) <= NEAR_THRESHOLD)
    pearson = float(np.corrcoef(full, variant)[0, 1]) if len(full) > 2 and full.std() > 0 and variant.std() > 0 else None
    out = {
        "tiles": int(len(full)),
        "pearson": pearson,
        "p99_abs_diff": float(np.percentile(diff, 99)) if len(diff) else 0.0,
        "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
        "mean_abs_diff": float(diff.mean()) if len(diff) else 0.0,
        "flips_beyond_0.05_of_threshold": int((flipped & ~near).sum()),
    }
    # A slide whose scores barely vary (all glass-like, all one class) has no meaningful
    # correlation; the difference bounds still apply to it.
    corr_ok = pearson is None and out["max_abs_diff"] <= P99_MAX or (pearson is not None and pearson >= PEARSON_MIN)
    out["passes"] = bool(corr_ok and out["p99_abs_diff"] <= P99_MAX and out["flips_beyond_0.05_of_threshold"] == 0)
    return out


def main() -> None:
    model_dir = Path(sys.argv[1])
    variants = [Path(v) for v in sys.argv[2:]]
    meta = json.loads((model_dir / "model.json").read_text())
    threshold = meta.get("threshold", {}).get("value", 0.5)
    full_sess = session(model_dir / "model.onnx")
    sessions = {v.name: session(v) for v in variants}
    results = {v.name: {"slides": {}} for v in variants}
    skipped = {}
    for path in sorted((DATA / "slides").iterdir()):
        t0 = time.perf_counter()
        try:
            x, mpp, assumed = slide_tiles(path, meta["mpp"])
        except openslide.OpenSlideError as e:
            skipped[path.name] = f"OpenSlide cannot read it: {e}"
            continue
        if x is None:
            skipped[path.name] = (
                "records no µm/px" if mpp is None else f"{mpp:g} µm/px: the model's tile would be under {MIN_TILE_PX} px"
            )
            continue
        full = calibrated(run(full_sess, x)[:, RISK], meta) if len(x) else np.zeros(0)
        for name, sess in sessions.items():
            var = calibrated(run(sess, x)[:, RISK], meta) if len(x) else np.zeros(0)
            row = compare(full, var, threshold)
            row["mpp"] = mpp
            row["mpp_assumed"] = assumed
            results[name]["slides"][path.name] = row
            print(f"{name} on {path.name} ({len(x)} tiles, {time.perf_counter() - t0:.0f} s): {row}", flush=True)
    for name, r in results.items():
        r["passes"] = all(s["passes"] for s in r["slides"].values() if s["tiles"] > 0)
    rule = {
        "pearson_min": PEARSON_MIN,
        "p99_abs_diff_max": P99_MAX,
        "threshold": threshold,
        "near_threshold": NEAR_THRESHOLD,
        "tissue": f"mean saturation > {TISSUE_SATURATION}",
        "skipped_slides": skipped,
    }
    shipped = next((n for n, r in results.items() if r["passes"]), None)
    if shipped:
        source = next(v for v in variants if v.name == shipped)
        if source.resolve() != (model_dir / shipped).resolve():
            shutil.copyfile(source, model_dir / shipped)
        meta["cpu_variant"] = shipped
    else:
        for v in variants:
            if v.parent.resolve() == model_dir.resolve():
                v.unlink()  # a variant that failed the rule is not shipped

        meta.pop("cpu_variant", None)
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    ev_path = model_dir / "evaluation.json"
    ev = json.loads(ev_path.read_text())
    ev["cpu_variants"] = {"rule": rule, "variants": results, "shipped": shipped}
    ev_path.write_text(json.dumps(ev, indent=2) + "\n")
    print(f"CPU variant shipped: {shipped or 'none: the CPU runs model.onnx'}")


if __name__ == "__main__":
    main()
