"""The outpainting seed exercise, measured: triple a photo's width in one shot and in three overlapping steps.

For each photo (skimage chelsea, ../shared/images/dog.jpg) the width is tripled, the original centred
(left = right = width): "single" is one generation over the whole new area; "tiled" extends each side in
three overlapping bands (window 512, at most a third of each window new, a third of a window of known
context), left then right. Engines: the classical fills (telea) that need no weights. Every run is made
with and without drift control.

Generators: "telea" (cv2.inpaint through pipelines.inpaint, as shipped) and "telea+drift", a stand-in for
a diffusion model that wanders in tone: each generation is telea plus a brightness ramp that grows to
+DRIFT_BIAS levels at the far side of its new strip (each window compounds the previous one's).

Reported per run: every join's seam report (seam_excess, ring_delta_e, noref_ratio, passed) and their
worst / median, the overall report of the new area against the pre-filled canvas, and the colour drift
per side (Lab dE76 between the mean of the outermost 16 px of the new area and the original's border
ring on that side), plus timings.

Ground truth: the centre third of each photo is outpainted back to the full width (window = 2/3 of the
width, so each side takes two or three bands) and scored against the real photo: the seam report of the
new area against the photo, the far strip's Lab distance from the photo's, the mean dE of the new area.

Diffusion engines need model weights and a GPU: neither is available on the build machines, so their
numbers are not measured here (run with --engine diffusers --model <folder> where they are).

    python bench/outpaint.py [--quick] [--engine telea|ns|diffusers] [--model M] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import outpaint as op  # noqa: E402
from pipelines.outpaint import prefill as op_prefill  # noqa: E402
from pipelines.outpaint import run as op_run  # noqa: E402
from pipelines.io import load_image  # noqa: E402

SHARED_IMAGES = ROOT.parent / "shared" / "images"
DRIFT_BIAS = 12.0


def photos(quick: bool) -> dict[str, np.ndarray]:
    out = {"chelsea": data.chelsea()}
    dog = SHARED_IMAGES / "dog.jpg"
    if dog.is_file() and not quick:
        img = load_image(dog, keep_alpha=False)
        scale = 600 / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        out["dog"] = img
    return out


class Drifting:
    """A generator stand-in that wanders in tone: the real window generation plus a brightness ramp."""

    def __init__(self, inner, bias: float):
        self.inner, self.bias = inner, bias

    def __call__(self, window, mask, **kwargs):
        out = self.inner(window, mask, **kwargs).astype(np.float32)
        dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        ramp = self.bias * dist / max(1.0, float(dist.max()))
        out[mask] += ramp[mask][:, None]
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _r(v, nd=4):
    return None if v is None or not np.isfinite(v) else round(float(v), nd)


def run_one(image, mode, drift, engine, model, seed, generator) -> dict:
    w = image.shape[1]
    original = op_run.generate_window
    if generator == "drifting":
        op_run.generate_window = Drifting(original, DRIFT_BIAS)
    try:
        t0 = time.perf_counter()
        res = op.outpaint(image, left=w, right=w, mode=mode, engine=engine, model=model, seed=seed,
                          drift_control=drift, steps=30)
        wall = time.perf_counter() - t0
    finally:
        op_run.generate_window = original
    ox, oy = res.offset
    identical = bool(np.array_equal(res.images[0][oy:oy + image.shape[0], ox:ox + w], image))
    joins = [
        {"side": j["side"], "box": list(j["box"]), "known_px": j["known_px"], "new_px": j["new_px"],
         **{k: _r(j["report"][k]) for k in ("seam_excess", "ring_delta_e", "noref_ratio")},
         "passed": bool(j["report"]["passed"])}
        for j in res.joins
    ]
    se = [j["seam_excess"] for j in joins]
    de = [j["ring_delta_e"] for j in joins]
    return {
        "size_in": [w, image.shape[0]], "size_out": [res.images[0].shape[1], res.images[0].shape[0]],
        "original_identical": identical, "windows": len(joins),
        "joins": joins,
        "join_seam_excess_max": _r(max(se)), "join_seam_excess_median": _r(float(np.median(se))),
        "join_ring_delta_e_max": _r(max(de)), "join_ring_delta_e_median": _r(float(np.median(de))),
        "joins_passed": f"{sum(j['passed'] for j in joins)}/{len(joins)}",
        "overall": {k: _r(res.reports[0][k]) for k in ("seam_excess", "ring_delta_e", "noref_ratio")},
        "drift": {k: _r(v, 3) for k, v in res.drift.items()},
        "drift_mean": _r(float(np.mean(list(res.drift.values()))), 3),
        "seconds": round(wall, 2),
    }


def run_truth(photo, mode, drift, engine, model, seed) -> dict:
    """Ground truth: keep the centre third of ``photo``, outpaint it back to the full width, and score the
    result against the real photo (BOUNDARIES.md: reference = the clean original where known)."""
    from pipelines import seams

    w = photo.shape[1]
    third = w // 3
    crop = np.ascontiguousarray(photo[:, third:2 * third])
    pads = dict(left=third, right=w - 2 * third)
    t0 = time.perf_counter()
    res = op.outpaint(crop, mode=mode, engine=engine, model=model, seed=seed, drift_control=drift, steps=30,
                      window=2 * third, **pads)
    wall = time.perf_counter() - t0
    out = res.images[0]
    rep = seams.seam_report(photo, out, res.mask)
    truth_drift = {}
    for side in ("left", "right"):
        a = op_prefill._lab(op.far_strip(out, side, res.pads, res.offset, (crop.shape[1], crop.shape[0]))).reshape(-1, 3)
        b = op_prefill._lab(op.far_strip(photo, side, res.pads, res.offset, (crop.shape[1], crop.shape[0]))).reshape(-1, 3)
        truth_drift[side] = _r(float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0))), 3)
    err = np.linalg.norm(op_prefill._lab(out)[res.mask] - op_prefill._lab(photo)[res.mask], axis=1)
    return {
        "size_in": [crop.shape[1], crop.shape[0]], "size_out": [out.shape[1], out.shape[0]], "windows": len(res.joins),
        "vs_truth": {k: _r(rep[k]) for k in ("outside_changed", "ring_delta_e", "seam_excess", "noref_ratio")},
        "vs_truth_passed": bool(rep["passed"]),
        "far_strip_dE_vs_truth": truth_drift,
        "new_area_dE_mean_vs_truth": _r(float(err.mean()), 3),
        "drift_vs_border": {k: _r(v, 3) for k, v in res.drift.items()},
        "seconds": round(wall, 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="chelsea only")
    ap.add_argument("--engine", default="telea", choices=["telea", "ns", "diffusers"])
    ap.add_argument("--model", default=None, help="diffusers engine: a local model folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args(argv)

    results = []
    generators = ["engine", "drifting"] if args.engine != "diffusers" else ["engine"]
    for name, image in photos(args.quick).items():
        for generator in generators:
            for mode in ("single", "tiled"):
                for drift in (True, False):
                    r = run_one(image, mode, drift, args.engine, args.model, args.seed, generator)
                    label = args.engine if generator == "engine" else f"{args.engine}+drift{DRIFT_BIAS:g}"
                    results.append({"photo": name, "generator": label, "mode": mode, "drift_control": drift, **r})
                    print(f"{name:8s} {label:14s} {mode:6s} drift_control={str(drift):5s} windows={r['windows']:2d} "
                          f"join seam_excess max {r['join_seam_excess_max']:.3f} med {r['join_seam_excess_median']:.3f} "
                          f"ring dE max {r['join_ring_delta_e_max']:.2f} passed {r['joins_passed']} | "
                          f"drift dE {r['drift']} | {r['seconds']:.1f} s", flush=True)
    truth = []
    if args.engine != "diffusers":
        for name, image in photos(args.quick).items():
            for mode in ("single", "tiled"):
                for drift in (True, False):
                    r = run_truth(image, mode, drift, args.engine, args.model, args.seed)
                    truth.append({"photo": name, "mode": mode, "drift_control": drift, **r})
                    v = r["vs_truth"]
                    print(f"truth {name:8s} {mode:6s} drift_control={str(drift):5s} windows={r['windows']:2d} "
                          f"vs truth: ring dE {v['ring_delta_e']:.2f} seam_excess {v['seam_excess']:.3f} "
                          f"noref {v['noref_ratio']:.2f} | far strip dE vs truth {r['far_strip_dE_vs_truth']} | "
                          f"new area dE {r['new_area_dE_mean_vs_truth']:.1f}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "exercise": "triple the width (original centred): single shot vs tiled (3 overlapping bands per side)",
        "engine": args.engine,
        "note": "diffusion engines need weights and a GPU: not measured on the build machine",
        "drift_stand_in": f"telea plus a brightness ramp to +{DRIFT_BIAS:g} levels per generation",
        "results": results,
        "ground_truth": {
            "exercise": "keep the centre third of the photo, outpaint it back to the full width, score against the photo",
            "results": truth,
        },
    }
    (out / "outpaint.json").write_text(json.dumps(payload, indent=2))
    print(f"wrote {out / 'outpaint.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
