"""Checks Sentinel's heatmap exports with independent readers (run by tests/interchange.rs in the
project venv): the ASAP likelihood map with tifffile, the DSA annotation with jsonschema against
large_image's griddata schema, the contour GeoJSON with shapely. Every figure is checked against
the CSV export of the same heatmap.

    interchange_check.py SPEC_JSON

SPEC_JSON: {"asap", "dsa", "contours", "tiles", "csv", "schema" (DSA), "qupath_schema": paths; "levels": [[w, h, downsample], ...]
the map levels expected; "slide": [w, h]; "threshold": t}
"""
import csv
import json
import sys

import jsonschema
import numpy as np
import shapely.geometry
import shapely.ops
import tifffile

spec = json.loads(sys.argv[1])
with open(spec["csv"]) as f:
    tiles = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
assert tiles, "the CSV lists no tiles"

# ASAP: one page per level, float32, the expected sizes; each tile's risk under its centre.
with tifffile.TiffFile(spec["asap"]) as tif:
    pages = tif.pages
    assert len(pages) == len(spec["levels"]), (len(pages), spec["levels"])
    for page, (w, h, ds) in zip(pages, spec["levels"]):
        assert page.is_tiled, "levels are tiled"
        assert page.dtype == np.float32, page.dtype
        assert page.shape == (h, w), (page.shape, (h, w))
        img = page.asarray()
        checked = 0
        for t in tiles:
            # Only where a tile spans several pixels of this level, away from pixel-rounding edges.
            if t["width"] / ds < 4 or t["height"] / ds < 4:
                continue
            cx = int((t["x"] + t["width"] / 2) / ds)
            cy = int((t["y"] + t["height"] / 2) / ds)
            if cx < w and cy < h:
                assert abs(img[cy, cx] - t["risk"]) < 1e-5, (ds, t, img[cy, cx])
                checked += 1
        print(f"asap level {w}x{h} (/{ds:g}): {checked} tiles match the CSV")
    assert tif.pages[0].description.startswith("Sentinel likelihood map"), tif.pages[0].description

# DSA: valid against large_image's schema; grid points at tile centres carry the tile's risk.
with open(spec["schema"]) as f:
    schema = json.load(f)
with open(spec["dsa"]) as f:
    doc = json.load(f)
jsonschema.Draft6Validator(schema).validate(doc)
el = doc["elements"][0]
assert el["interpretation"] == "heatmap"
dx, gw, values = el["dx"], el["gridWidth"], el["values"]
assert len(values) % gw == 0
for t in tiles:
    c = round((t["x"] + t["width"] / 2 - el["origin"][0]) / dx)
    r = round((t["y"] + t["height"] / 2 - el["origin"][1]) / el["dy"])
    assert abs(values[r * gw + c] - t["risk"]) < 2e-6, (t, values[r * gw + c])
print(f"dsa: schema-valid, {len(tiles)} tiles match the CSV")

# Contours: valid polygons whose union is exactly the above-threshold tiles within the slide.
with open(spec["contours"]) as f:
    fc = json.load(f)
polys = [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]
for p, f in zip(polys, fc["features"]):
    assert p.is_valid, shapely.validation.explain_validity(p)
    assert f["properties"]["classification"]["name"] == "Tumor"
    assert f["properties"]["measurements"]["Max risk"] >= spec["threshold"]
sw, sh = spec["slide"]
hot = [
    shapely.geometry.box(t["x"], t["y"], min(t["x"] + t["width"], sw), min(t["y"] + t["height"], sh))
    for t in tiles
    if t["risk"] >= spec["threshold"]
]
assert hot, "no tile above the threshold: the contour check would be empty"
want = shapely.ops.unary_union(hot)
got = shapely.ops.unary_union(polys)
assert abs(got.area - want.area) < 1e-6 * want.area, (got.area, want.area)
assert got.symmetric_difference(want).area < 1e-6 * want.area
# QuPath tiles: one valid square "tile" object per CSV row, carrying its risk.
with open(spec["qupath_schema"]) as f:
    qupath = jsonschema.Draft6Validator(json.load(f))
qupath.validate(fc)
with open(spec["tiles"]) as f:
    tfc = json.load(f)
qupath.validate(tfc)
assert len(tfc["features"]) == len(tiles), (len(tfc["features"]), len(tiles))
for feat, t in zip(tfc["features"], tiles):
    g = shapely.geometry.shape(feat["geometry"])
    assert g.is_valid and abs(g.area - t["width"] * t["height"]) < 1e-6, (g.area, t)
    assert feat["properties"]["objectType"] == "tile"
    assert abs(feat["properties"]["measurements"]["Risk"] - t["risk"]) < 2e-6
print(f"qupath tiles: schema-valid, {len(tiles)} valid tiles with their risk")
print(f"contours: schema-valid, {len(polys)} valid polygons, {sum(len(p.interiors) for p in polys)} holes, area matches {len(hot)} tiles")
