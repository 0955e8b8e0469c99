"""Where the cast-shadow suggestion's headroom is: its shape family with the right parameters, and its search.

On bench/effects.py's scenes, at the suggestion's working scale (pipelines.segment.effects._working), each scene's
shadow core (darkening > 15% outside the object) is compared with:

1. family: the method's own shapes (effects._render: the projection with a tilted ground line, a lift and a
   footprint's depth, from TILTS x LIFTS x DEPTHS) for the scene's true light direction (the generator's shear a and
   scale b, each also +-0.2 / +-0.1), blurred by a penumbra sigma of 1, 2, 3 or 5 px and cut at coverage level 0.2,
   0.35 or 0.5; the best IoU. This is what the family reaches when the search finds the right parameters.
2. search: every projection of the coarse grid (SHEARS x SCALES) with every shape variant (25,200 candidates),
   scored by the method's outline contrast (effects._scores, with its shape costs); each of the top --top rendered
   six ways (sigma 2, 3.5, 5 x level 0.35, 0.5, the best kept): the best of the top K (K = 1, 5, 20, --top), and the
   candidate a gradient matched filter prefers among the top --top (the log-luminance gradient capped at 0.08 and
   zeroed where the chromaticity changes, projected on the rendered coverage's gradient over its norm; best of
   sigma 1.5, 3, 5), and the one among the top 50 whose shadow explains most of the picture's gradient in the L1
   sense (sum |G| - sum |G + d grad s| over the rendered edge, G the per-channel log RGB gradient: a shadow-free
   picture has sparse gradients; best of sigma 1.5, 3, 5 and nine darkenings d from 0.1 to 1.2).
3. occlusion (overcast scenes: no cast shadow, ambient occlusion only): a band of width w (0.05 to 0.5 object
   widths) around the footprint (the object's lowest 2, 4 or 8%, swept up the picture by 0 to 0.45 widths); the
   best IoU.

    python bench/effects_ceiling.py [--seed 3] [--scenes 56] [--top 50]

Figures (2026-11-30, dev seeds 3 / 4, 56 scenes each, 8 of each kind; the method itself reaches IoU >= 0.7 in
18 / 21 of them):
- family, with the true light direction: IoU >= 0.7 in 42 / 47 scenes; per kind (seed 3 / 4) affine 7 / 8, solid
  7 / 7, contact 7 / 8, uneven 7 / 8, tilted 6 / 8, floating 8 / 8 (of 8), overcast 0 / 0. For cast shadows the
  shapes are not what keeps the 80% target far; the search is.
- search: the best of the top 1 / 5 / 20 / 50 by outline contrast reaches IoU >= 0.7 in 14 / 29 / 35 / 40 scenes
  (seed 3) and 18 / 30 / 37 / 40 (seed 4); --top 150: 41 / 46. The right shape is usually among the 50 best but
  seldom on top. The matched filter's pick reaches 0.7 in 22 / 24 (caps 0.04-0.16 and chroma gates 0.005-0.02:
  19-26); put into the method (re-ranking its top 50 before its tests, rendering and shape selection) it gave
  17 / 21 (16 / 21 without the fine step, 14 / 23 over the whole joint grid), and with one fixed rendering and no
  tests (sigma 2, level 0.35) 20 / 22 while every no-shadow scene would get a suggestion: not kept. The L1 pick:
  22 / 25 (with the pick's own sigma and d, cut where the rendered shadow darkens by 15% between levels 0.3 and 0.5:
  the same count in a first version of it). Put into the method (the joint grid's top 50 by outline contrast
  re-ranked by it, no fine step, its sigma and d for the rendering and the darkening test, the method's tests and
  fallback kept): dev 18 / 26 (no-shadow scenes empty 7 / 4), report seeds 0 / 1 / 2 18 / 23 / 18 against the
  method's 17 / 21 / 26 (empty 8 / 8 / 5 against 6 / 8 / 7), and 16x slower (1.9 s a scene): not kept. Other
  measures of the same evidence pick no better (dev, best of 6 renderings): the gain over its largest possible
  (3 d sum |grad s|) 18 / 25, over the square root of the band's pixels 21 / 25 or of sum |G| 22 / 27, over sum |G|
  20 / 26, less 0.02 or 0.05 per band pixel 15 / 26, 13 / 16.
- occlusion: a footprint band reaches IoU >= 0.7 in 8 / 5 of the 8 overcast scenes (the method: 0 / 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.effects import KINDS, scenes  # noqa: E402
from bench.grabcut import iou  # noqa: E402
from pipelines.segment import effects as F  # noqa: E402

SIGMAS, LEVELS = (2.0, 3.5, 5.0), (0.35, 0.5)  # step 2's six renderings


def _best_render(hard: np.ndarray, obj: np.ndarray, core: np.ndarray, sigmas, levels) -> float:
    """The best IoU against ``core`` of the hard shadow blurred by each of ``sigmas`` and cut at each of ``levels``."""
    best = 0.0
    for sg in sigmas:
        soft = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), sg)
        best = max([best] + [iou((soft >= lv) & ~obj, core) for lv in levels])
    return best


def _geometry(obj: np.ndarray):
    """The outline points and normals (effects._outline), the base row and its mean x (effects._base)."""
    return (*F._outline(obj), *F._base(obj))


def family(work, core, shear, scale) -> float:
    """Step 1 of the module's docstring."""
    obj, side = work.obj, work.side
    base, low_x = F._base(obj)
    best = 0.0
    for a in shear + np.array([-0.2, 0.0, 0.2]):
        for b in scale + np.array([-0.1, 0.0, 0.1]):
            for tilt in F.TILTS:
                for lift in F.LIFTS * side:
                    for depth in F.DEPTHS * side:
                        hard = F._render(obj, base, a, b, tilt, lift, depth, low_x)
                        best = max(best, _best_render(hard, obj, core, (1.0, 2.0, 3.0, 5.0), (0.2, 0.35, 0.5)))
    return best


def _gradient(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The x and y derivatives (Sobel / 8: per px) of ``img`` (HW or HWC float32)."""
    return cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3) / 8


def _coverage_gradients(work, base, low_x, params):
    """For each row (a, b, tilt, lift, depth) of params, its index and the gradient (sx, sy) of its hard shadow
    blurred by each penumbra sigma of 1.5, 3 and 5 px."""
    for i, prm in enumerate(params):
        hard = F._render(work.obj, base, *prm, low_x).astype(np.float32)
        for sg in (1.5, 3.0, 5.0):
            yield (i, *_gradient(cv2.GaussianBlur(hard, (0, 0), sg)))


def _edge_match(work, base, low_x, params) -> np.ndarray:
    """The gradient matched filter of step 2 for each row (a, b, tilt, lift, depth) of params."""
    lum = cv2.GaussianBlur(work.feat[..., 0], (0, 0), 1.0)
    gx, gy = _gradient(lum)
    cx, cy = (np.abs(g).max(axis=2) for g in _gradient(np.ascontiguousarray(work.feat[..., 1:])))
    valid = (~cv2.dilate(work.fringe.astype(np.uint8), F._disk(1)).astype(bool)).astype(np.float32)
    f = np.minimum(1.0, 0.08 / (np.hypot(gx, gy) + 1e-6)) * (np.hypot(cx, cy) < 0.01) * valid
    gx, gy = gx * f, gy * f
    out = np.full(len(params), -np.inf)
    for i, sx, sy in _coverage_gradients(work, base, low_x, params):
        den = float(np.sqrt(((sx * sx + sy * sy) * valid).sum())) + 1e-6
        out[i] = max(out[i], -float((sx * gx + sy * gy).sum()) / den)
    return out


def _explained(work, base, low_x, params) -> np.ndarray:
    """The L1 gradient explanation of step 2 for each row (a, b, tilt, lift, depth) of params: sum |G| - sum
    |G + d grad s| over the rendered coverage's edge band (G: the per-channel log RGB gradient; G + d grad s: the
    shadow-free picture's, whose gradients are sparse), the best over the darkening d and the penumbra sigma."""
    w = work.feat[..., 1:] @ np.float32([0.299, 0.587, 0.114])
    log_rgb = work.feat[..., :1] + np.log(np.maximum(work.feat[..., 1:], 1e-4)) - np.log(np.maximum(w, 1e-4))[..., None]
    gx, gy = _gradient(cv2.GaussianBlur(log_rgb.astype(np.float32), (0, 0), 0.8))
    valid = ~cv2.dilate(work.fringe.astype(np.uint8), F._disk(1)).astype(bool)
    darkenings = np.float32([0.1, 0.15, 0.2, 0.3, 0.4, 0.55, 0.7, 0.9, 1.2])[None, :, None]
    out = np.full(len(params), -np.inf)
    for i, sx, sy in _coverage_gradients(work, base, low_x, params):
        band = (np.hypot(sx, sy) > 1e-3) & valid
        if band.sum() < 10:
            continue
        bx, by = gx[band], gy[band]
        shadow_free = np.hypot(bx[:, None] + darkenings * sx[band][:, None, None],
                               by[:, None] + darkenings * sy[band][:, None, None])
        out[i] = max(out[i], float(np.hypot(bx, by).sum() - shadow_free.sum(axis=(0, 2)).min()))
    return out


def search(work, core, top: int) -> dict:
    """Step 2 of the module's docstring: {"top1", "top5", "top20", "topK", "matched", "l1"} best-of-6 IoUs."""
    obj, side = work.obj, work.side
    pts, normals, base, low_x = _geometry(obj)
    offset = max(2.0, F.EDGE_OFFSET * side)
    a_grid, b_grid = (g.ravel() for g in np.meshgrid(F.SHEARS, F.SCALES))
    shapes = np.array(np.meshgrid(F.TILTS, F.LIFTS, F.DEPTHS)).reshape(3, -1).T
    cand = np.array([(a, b, *sh) for a, b in zip(a_grid, b_grid) for sh in shapes])
    cand[:, 3:] *= side
    xy, n = F._project(pts, normals, base, *cand.T, low_x)
    contrast, hue = F._contrasts(work.feat, work.fringe.astype(np.float32), xy, n, offset)
    score = F._scores(contrast, hue, len(pts)) - F._shape_cost(cand, side)
    order = np.argsort(-score)[:top]
    order = order[np.isfinite(score[order])]
    if not len(order):
        return {k: 0.0 for k in ("top1", "top5", "top20", "topK", "matched", "l1")}
    ious = np.array([_best_render(F._render(obj, base, *cand[j], low_x), obj, core, SIGMAS, LEVELS) for j in order])
    matched = _edge_match(work, base, low_x, cand[order])
    explained = _explained(work, base, low_x, cand[order[:50]])
    return {"top1": ious[0], "top5": ious[:5].max(), "top20": ious[:20].max(), "topK": ious.max(),
            "matched": ious[int(np.argmax(matched))], "l1": ious[int(np.argmax(explained))]}


def occlusion(work, core) -> float:
    """Step 3 of the module's docstring."""
    obj = work.obj
    ys, xs = np.nonzero(obj)
    top, bottom = ys.min(), ys.max()
    width = float(xs.max() - xs.min() + 1)
    rows = np.arange(obj.shape[0])[:, None]
    best = 0.0
    for part in (0.02, 0.04, 0.08):
        strip = (obj & (rows >= bottom - part * (bottom - top + 1))).astype(np.uint8)
        for depth in np.array([0.0, 0.1, 0.2, 0.3, 0.45]) * width:
            foot = cv2.dilate(strip, np.ones((int(round(depth)) + 1, 1), np.uint8), anchor=(0, 0))
            dist = cv2.distanceTransform(1 - foot, cv2.DIST_L2, 5)
            for reach in np.linspace(0.05, 0.5, 19) * width:
                best = max(best, iou((dist < reach) & ~obj, core))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--scenes", type=int, default=56)
    ap.add_argument("--top", type=int, default=50)
    args = ap.parse_args()
    rows = []
    for i, name, sc in scenes(args.seed, args.scenes, 0, KINDS):
        work = F._working(sc["image"], sc["object"])
        if work is None:
            continue
        bx0, by0, bx1, by1 = work.box
        core = sc["core"][by0:by1, bx0:bx1].astype(np.float32)
        if work.scale < 1.0:
            core = cv2.resize(core, work.obj.shape[::-1], interpolation=cv2.INTER_AREA)
        core = core > 0.5
        p = sc["params"]
        row = {"kind": p["kind"], "family": family(work, core, p["shear"], p["scale"]), **search(work, core, args.top)}
        if p["kind"] == "overcast":
            row["occlusion"] = occlusion(work, core)
        rows.append(row)
        print(f"{i:3d} {name:16s} {p['kind']:8s} " + " ".join(f"{k} {v:.2f}" for k, v in row.items() if k != "kind"),
              flush=True)
    print(f"\nseed {args.seed}, {len(rows)} scenes: IoU >= 0.7 in")
    for key in ("family", "top1", "top5", "top20", "topK", "matched", "l1"):
        print(f"  {key:8s} {sum(r[key] >= 0.7 for r in rows):3d}   " + " ".join(
            f"{k} {sum(r[key] >= 0.7 for r in rows if r['kind'] == k)}/{sum(r['kind'] == k for r in rows)}"
            for k in KINDS))
    occ = [r["occlusion"] for r in rows if "occlusion" in r]
    if occ:
        print(f"  occlusion band {sum(v >= 0.7 for v in occ)} of {len(occ)} overcast scenes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
