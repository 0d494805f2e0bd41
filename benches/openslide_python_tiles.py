"""Peer for `sentinel bench tiles`: the same random tile reads through openslide-python.

Reads a JSON job on stdin ({slide, level, size, threads, positions: [[x, y], ...]}) and prints
{"tiles": N, "seconds": S} on stdout. Each read returns a PIL RGBA image, as users of
openslide-python get it (OpenSlide's premultiplied ARGB converted to straight RGBA).
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import openslide


def main():
    job = json.load(sys.stdin)
    slide = openslide.OpenSlide(job["slide"])
    level, size, threads = job["level"], job["size"], job["threads"]
    positions = [tuple(p) for p in job["positions"]]
    chunk = (len(positions) + threads - 1) // threads
    parts = [positions[i:i + chunk] for i in range(0, len(positions), chunk)]

    def work(part):
        n = 0
        for x, y in part:
            img = slide.read_region((x, y), level, (size, size))
            n += img.size[0] == size
        return n

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        tiles = sum(pool.map(work, parts))
    seconds = time.perf_counter() - start
    json.dump({"tiles": tiles, "seconds": seconds}, sys.stdout)


if __name__ == "__main__":
    main()
