"""Speed of the seamless composite against cv2.seamlessClone on the same inputs, in the same run.

    python bench/blend_speed.py [--size 4096] [--diameter 600] [--repeats 5]

A real photo scaled to size x size, a colour-shifted "generated" copy, a disc mask of the given diameter
(and a blob of the same area). Each repeat runs both methods back to back; medians and their ratio
(ours / seamlessClone; <= 1 means ours is not slower) are printed and written to bench/out/blend_speed.json.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import blend, masks  # noqa: E402


def seamless_clone(original, generated, mask):
    x0, y0, x1, y1 = masks.bbox(mask)
    centre = ((x0 + x1) // 2, (y0 + y1) // 2)
    out = cv2.seamlessClone(generated[..., ::-1].copy(), original[..., ::-1].copy(),
                            mask.astype(np.uint8) * 255, centre, cv2.NORMAL_CLONE)
    return out[..., ::-1]


def timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--diameter", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args(argv)

    photo = cv2.resize(data.astronaut(), (args.size, args.size), interpolation=cv2.INTER_CUBIC)
    generated = np.clip(photo.astype(np.float32) * [1.10, 1.06, 0.95] + [3, -2, 4], 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[: args.size, : args.size]
    c = args.size // 2
    r = args.diameter / 2
    shapes = {
        "disc": (yy - c) ** 2 + (xx - c) ** 2 < r * r,
        "blob": np.hypot(yy - c, xx - c) < r * (1 + 0.15 * np.sin(5 * np.arctan2(yy - c, xx - c))),
    }
    results = {}
    for name, mask in shapes.items():
        blend.composite(photo[:64, :64], generated[:64, :64], mask[c - 32 : c + 32, c - 32 : c + 32])  # warm-up
        ours, clone = [], []
        for _ in range(args.repeats):
            ours.append(timed(blend.composite, photo, generated, mask))
            clone.append(timed(seamless_clone, photo, generated, mask))
        mo, mc = statistics.median(ours), statistics.median(clone)
        results[name] = dict(mask_pixels=int(mask.sum()), ours_s=mo, seamlessClone_s=mc, ratio=mo / mc,
                             ours_all=ours, clone_all=clone)
        print(f"{args.size}x{args.size}, {name} mask of {int(mask.sum())} px: ours (seamless) {mo:.3f} s, "
              f"cv2.seamlessClone {mc:.3f} s, ratio ours/clone = {mo / mc:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "blend_speed.json").write_text(json.dumps(dict(size=args.size, diameter=args.diameter,
                                                              repeats=args.repeats, results=results), indent=1))


if __name__ == "__main__":
    main()
