"""Peer for `sentinel bench analysis`: the same tiles through a straightforward Python pipeline.

This is how the analysis is usually written in Python (and how Slideflow-style scripts look at
their simplest): openslide-python reads each tile, Pillow resizes it to the model's input, NumPy
normalises it, and onnxruntime scores one batch at a time, all in one loop.

Reads a JSON job on stdin:
  {slide, onnx, level, input_size, mean, std, channel_order, risk_index, batch, threads,
   tiles: [[x, y, side], ...]}
(x, y in level-0 pixels, side in pixels at `level`) and prints
  {"tiles": N, "seconds": S, "scores": [...]}
on stdout. The session is created and warmed with one batch before the clock starts.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import openslide
from PIL import Image


def main():
    job = json.load(sys.stdin)
    slide = openslide.OpenSlide(job["slide"])
    level, size, batch = job["level"], job["input_size"], job["batch"]
    mean = np.asarray(job["mean"], dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(job["std"], dtype=np.float32).reshape(3, 1, 1)
    bgr = job["channel_order"] == "BGR"
    risk = job["risk_index"]

    options = ort.SessionOptions()
    if job["threads"]:
        options.intra_op_num_threads = job["threads"]
    session = ort.InferenceSession(job["onnx"], options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def tile(x, y, side):
        img = slide.read_region((x, y), level, (side, side)).convert("RGB")
        if side != size:
            img = img.resize((size, size), Image.BILINEAR)
        a = np.asarray(img, dtype=np.float32) / 255.0
        if bgr:
            a = a[:, :, ::-1]
        return (a.transpose(2, 0, 1) - mean) / std

    def infer(part):
        x = np.stack([tile(*t) for t in part]).astype(np.float32)
        return session.run(None, {input_name: x})[0][:, risk]

    tiles = job["tiles"]
    infer(tiles[:batch])  # warm-up, not timed

    scores = []
    start = time.perf_counter()
    for i in range(0, len(tiles), batch):
        scores.extend(float(s) for s in infer(tiles[i:i + batch]))
    seconds = time.perf_counter() - start
    json.dump({"tiles": len(scores), "seconds": seconds, "scores": scores}, sys.stdout)


if __name__ == "__main__":
    main()
