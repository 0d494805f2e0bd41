"""OME-TIFF pyramids for tests/ome_tiff.rs, from an independent writer (tifffile).

    ome_fixtures.py write OUT_DIR
        OUT_DIR/tifffile-tiled.ome.tif    zlib, 64 px tiles, 2 SubIFD levels, PhysicalSize 0.25 µm
        OUT_DIR/tifffile-strips.ome.tif   zlib with horizontal predictor, strips, 2 SubIFD levels
        OUT_DIR/level{0,1,2}.rgb          the pixels of each level, raw RGB (row-major)
    ome_fixtures.py check FILE LEVEL0.rgb W H ...   tifffile reads FILE's levels and compares them
"""
import sys
from pathlib import Path

import numpy as np
import tifffile


def pattern(w, h):
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 7 + y * 3) % 256
    g = (x * y // 5) % 256
    b = ((x // 16 + y // 16) % 2) * 200 + (x % 50)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def write(out):
    out.mkdir(parents=True, exist_ok=True)
    levels = [pattern(517, 391)]
    for _ in range(2):
        levels.append(levels[-1][::2, ::2])  # a pyramid by decimation: exact, any writer's choice
    for i, a in enumerate(levels):
        (out / f"level{i}.rgb").write_bytes(a.tobytes())
    meta = {"axes": "YXS", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25,
            "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm", "Name": "tifffile fixture"}
    for name, opts in [
        ("tifffile-tiled.ome.tif", {"tile": (64, 64), "compression": "zlib"}),
        ("tifffile-strips.ome.tif", {"rowsperstrip": 37, "compression": "zlib", "predictor": True}),
    ]:
        with tifffile.TiffWriter(out / name, ome=True, bigtiff=True) as tif:
            tif.write(levels[0], subifds=2, photometric="rgb", metadata=meta, **opts)
            for a in levels[1:]:
                tif.write(a, subfiletype=1, photometric="rgb", **opts)


def check(path, expected):
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome, "not OME"
        levels = tif.series[0].levels
        assert len(levels) == len(expected), (len(levels), len(expected))
        for lv, (raw, w, h) in zip(levels, expected):
            a = lv.asarray()
            assert a.shape == (h, w, 3), (a.shape, (h, w))
            want = np.frombuffer(Path(raw).read_bytes(), np.uint8).reshape(h, w, 3)
            assert np.array_equal(a, want), f"level {w}x{h} differs"
        print(f"tifffile read {len(levels)} levels, all equal")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]))
    else:
        args = sys.argv[3:]
        check(sys.argv[2], [(args[i], int(args[i + 1]), int(args[i + 2])) for i in range(0, len(args), 3)])
