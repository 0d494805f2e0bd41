"""Builds the real-tissue texture atlases the demo slide is synthesised from (run once; the outputs
are committed, so a user's machine needs neither this script nor ../shared/data).

Source: the CC0 Camelyon16 patches in ../shared/data/patches/camelyon16 (256 px at 0.243 µm/px,
40x; DIDSR/DeepLearningCamelyon_II). Only the patches of one stain family are used (slides
tumor_001, tumor_004 and tumor_064: pink H&E), so that texture synthesis never stitches two
laboratories' colours into one field; tumor_073's purple stain is left out.

Out-of-focus patches are left out (variance of the Laplacian under 200, where the others measure
247-703): quilting would spread their blur, and blur is where the bundled model fails (its card).

Writes tumour.jpg and node.jpg (patches side by side, 8 across, JPEG quality 90) and SOURCES.md.

    .deps/venv/bin/python assets/demo-tissue/build.py
"""

from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
PATCHES = HERE.parents[2] / "shared" / "data" / "patches" / "camelyon16"
SLIDES = ("tumor_001", "tumor_004", "tumor_064")
EDGE = 256
ACROSS = 8
MIN_SHARPNESS = 200.0


def sharpness(img: Image.Image) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image."""
    g = np.asarray(img.convert("L"), dtype=np.float64)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def main() -> None:
    lines = [
        "# Real tissue for the demo slide",
        "",
        "`tumour.jpg` (metastatic breast carcinoma in a lymph node) and `node.jpg` (normal lymph node: lymphocytes,",
        "sinuses, capsule) are Camelyon16 patches of 256 x 256 px at 0.243 µm/px (40x), laid side by side 8 across.",
        "Sentinel synthesises the demo slide from them by image quilting (`src/synth/quilt.rs`).",
        "",
        "**Licence:** CC0 1.0 (public domain). Camelyon16 challenge data (Radboud University Medical Center and",
        "University Medical Center Utrecht), sample patches from DIDSR/DeepLearningCamelyon_II (CC0 1.0).",
        "Built by `build.py` from the copies in the project's shared test data.",
        "",
    ]
    for name, sub in (("tumour", "tumor"), ("node", "normal")):
        files = sorted(p for p in (PATCHES / sub).glob("*.png") if p.stem.rsplit("_", 2)[0] in SLIDES)
        blurred = [f for f in files if sharpness(Image.open(f)) < MIN_SHARPNESS]
        files = [f for f in files if f not in blurred]
        rows = (len(files) + ACROSS - 1) // ACROSS
        atlas = Image.new("RGB", (ACROSS * EDGE, rows * EDGE), (255, 255, 255))
        for i, f in enumerate(files):
            atlas.paste(Image.open(f).convert("RGB"), ((i % ACROSS) * EDGE, (i // ACROSS) * EDGE))
        atlas.save(HERE / f"{name}.jpg", quality=90, subsampling=0)
        lines.append(f"## {name}.jpg: {len(files)} patches, in order")
        lines += [f"- {f.name}" for f in files]
        lines += [f"- (left out, out of focus: {f.name})" for f in blurred]
        lines.append("")
    (HERE / "SOURCES.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
