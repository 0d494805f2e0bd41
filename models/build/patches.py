"""The real Camelyon16 evaluation patches (../shared/data/patches/camelyon16) as model input.

Two protocols, because the patches cover less tissue than one model tile:
  mpp     the 256 px patch (0.243 µm/px, 62 µm across) resampled to the model's 0.5 µm/px (124 px)
          and mirror-padded to the model's 224 px. The scale the model was trained at; what
          Sentinel's Rust test reproduces.
  resize  the patch stretched to 224 px (0.278 µm/px: structures 1.8x larger than in training).
Pixels are RGB scaled to 0..1 (the model's normalisation), NHWC.
"""

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PATCHES = ROOT.parent / "shared" / "data" / "patches" / "camelyon16"
PATCH_MPP = 0.243
MODEL_MPP = 0.5
PROTOCOLS = ("mpp", "resize")


def files():
    """(path, label) for every patch, tumour = 1, sorted for a stable order."""
    out = []
    for label, sub in ((1, "tumor"), (0, "normal")):
        out += [(p, label) for p in sorted((PATCHES / sub).glob("*.png"))]
    if not out:
        raise SystemExit(f"no patches under {PATCHES}")
    return out


def slide_of(path: Path) -> str:
    """tumor_064_1234_5678.png -> tumor_064 (the source slide, for grouping)."""
    return "_".join(path.stem.split("_")[:2])


def to_model(img: Image.Image, protocol: str, size: int) -> np.ndarray:
    img = img.convert("RGB")
    if protocol == "resize":
        img = img.resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.float32) / 255.0
    side = round(img.width * PATCH_MPP / MODEL_MPP)
    small = np.asarray(img.resize((side, side), Image.BILINEAR), dtype=np.float32) / 255.0
    before = (size - side) // 2
    after = size - side - before
    return np.pad(small, ((before, after), (before, after), (0, 0)), mode="symmetric")


def load(protocol: str, size: int, transform=None):
    """(NHWC float32 batch, labels, names). `transform` maps a PIL RGB image before resampling."""
    xs, ys, names = [], [], []
    for path, label in files():
        img = Image.open(path).convert("RGB")
        if transform is not None:
            img = transform(img)
        xs.append(to_model(img, protocol, size))
        ys.append(label)
        names.append(path.name)
    return np.stack(xs), np.array(ys), names
