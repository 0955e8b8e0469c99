"""Weight-free benchmark of the cast-shadow suggestion (pipelines.segment.effects.suggest_shadow).

Scene: a real photo (skimage.data astronaut, coffee, chelsea, rocket, motorcycle_left and ../shared/images/*.jpg,
longer side 512); a foreign object (the horse silhouette, an ellipse, a bottle or a blob, filled with another photo's
patch with its channels swapped) pasted with a soft matte (Gaussian 0.8); under it a rendered soft shadow: the
object's silhouette projected from its base (an affine shear and scale whose direction and length vary per scene:
falling in front, behind or to the side), blurred for the penumbra (sigma 1-7 px), darkening the background
multiplicatively down to a factor m in [0.35, 0.8] (I * (1 - (1 - m) * s)), touching the object's base.
The object mask given to the suggestion is matte > 0.5. A scene whose shadow core is under 10% of the object's
area (hidden behind the object or off the frame) is drawn again.

Truth: the shadow's core = darkening > 15% outside the object; the true shadow (for false area) = darkening > 3%.
Reported over every scene: shadow IoU of the suggestion against the core (distribution and the fraction of scenes
with IoU >= 0.7, the issue's target being >= 80%), false area (suggested pixels outside the true shadow / core
area), the same with the light direction given, and on scenes with no shadow the suggested area / object area.
Ghost shadow after removal: pipelines.inpaint.inpaint(engine="telea") with the object mask alone vs object mask |
suggestion (both grown 3 px for the matte), and the darkening left in the core, 1 - sum L(result) / sum L(clean photo) over the core.

    python bench/effects.py [--scenes 48] [--seed 0] [--out bench/out]

Figures at the first commit (48 scenes, 9 photos, seed 0): IoU median 0.09, >= 0.7 in 12% of scenes (target 80%:
NOT met); false area median 0.50; no-shadow scenes empty 40%; residual shadow median 0.24 -> 0.15 with the
suggestion. Flat and mildly textured synthetic backgrounds (tests/test_effects.py) reach IoU 0.66-0.96: on real
textured photos the pixel-wise darker-than-the-background test confuses dark texture with shadow. The same method
on seeds 1 and 2: IoU median 0.11 and 0.08, >= 0.7 in 4% and 4%, false area median 0.98 and 0.71, no-shadow
scenes empty 30% and 50%.

Figures with the projection fit (the object's outline mapped by a shear and a scale from its base, scored by the
clipped log contrast across it; see pipelines/segment/effects.py), 48 scenes, seeds 0 / 1 / 2:
IoU median 0.67 / 0.40 / 0.66, >= 0.7 in 50% / 33% / 48% of scenes (with the light direction 52% / 35% / 48%;
target 80%: NOT met); false area median 0.00 / 0.00 / 0.00 (p75 0.03 / 0.14 / 0.01); no-shadow scenes empty
80% / 50% / 70% (largest suggestion 0.15 / 0.51 / 0.51 of the object's area); residual shadow median 0.24 -> 0.09,
0.28 -> 0.13, 0.27 -> 0.08; 45-110 ms a scene (1 MP photo: ~0.1-0.16 s). The misses are mostly all-or-nothing:
about a third of the scenes get IoU ~0, where the fit picks another projection along dark texture or the
evidence test says "no shadow" (weak 20-30% shadows on busy texture, thin side shadows). Note that this
benchmark renders its shadows with the same projection model the method fits, so these figures are an upper
bound for real shadows of 3D objects; tests/test_effects.py also covers real textures (skimage brick, grass,
gravel: IoU 0.68-0.97) and dark texture without a shadow.
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

from pipelines import masks  # noqa: E402
from pipelines.segment.effects import suggest_shadow  # noqa: E402
from pipelines.inpaint import inpaint  # noqa: E402
from pipelines.io import load_image  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"
SIDE = 512


def _fit(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    s = SIDE / max(img.shape[:2])
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)


def photos() -> list[tuple[str, np.ndarray]]:
    out = [(n, _fit(getattr(data, n)())) for n in ("astronaut", "coffee", "chelsea", "rocket")]
    out.append(("motorcycle_left", _fit(data.stereo_motorcycle()[0])))
    for p in sorted(SHARED.glob("*.jpg")):
        out.append((p.stem, _fit(load_image(p, keep_alpha=False))))
    return out


def silhouette(kind: str, h: int, rng: np.random.Generator) -> np.ndarray:
    """A bool object shape about h px tall, tightly cropped."""
    if kind == "horse":
        m = ~data.horse()
        aspect = m.shape[1] / m.shape[0] * rng.uniform(0.8, 1.2)
    elif kind == "ellipse":
        aspect = rng.uniform(0.5, 1.5)
        m = np.zeros((200, round(200 * aspect)), np.uint8)
        cv2.ellipse(m, (m.shape[1] // 2, 100), (m.shape[1] // 2 - 2, 98), 0, 0, 360, 1, -1)
        m = m.astype(bool)
    elif kind == "bottle":
        aspect = rng.uniform(0.3, 0.5)
        m = np.zeros((200, round(200 * aspect)), np.uint8)
        w = m.shape[1]
        cv2.rectangle(m, (2, 70), (w - 3, 197), 1, -1)
        cv2.rectangle(m, (w // 2 - w // 6, 2), (w // 2 + w // 6, 80), 1, -1)
        cv2.circle(m, (w // 2, 70), w // 2 - 2, 1, -1)
        m = m.astype(bool)
    else:  # blob
        aspect = rng.uniform(0.6, 1.4)
        noise = cv2.GaussianBlur(rng.normal(size=(200, round(200 * aspect))).astype(np.float32), (0, 0), 18)
        yy, xx = np.mgrid[:200, : noise.shape[1]]
        r = ((yy - 100) / 95) ** 2 + ((xx - noise.shape[1] / 2) / (noise.shape[1] / 2 - 5)) ** 2
        m = (1 - r + 8 * noise) > 0.3
    m = cv2.resize(m.astype(np.uint8), (max(8, round(h * aspect)), h), interpolation=cv2.INTER_NEAREST).astype(bool)
    ys, xs = np.nonzero(m)
    return m[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def make_scene(photo: np.ndarray, texture_src: np.ndarray, rng: np.random.Generator, shadow: bool = True) -> dict:
    H, W = photo.shape[:2]
    kind = rng.choice(["horse", "ellipse", "bottle", "blob"])
    sil = silhouette(kind, int(rng.uniform(0.16, 0.32) * min(H, W)), rng)
    oh, ow = sil.shape
    # The shadow's projection: from the base row, a point at height t above the base goes to
    # (x + shear * t, base + sign * scale * t).
    mode = rng.choice(["front", "front", "behind", "side"])
    shear = rng.uniform(-1.4, 1.4)
    if mode == "side":
        shear = rng.choice([-1, 1]) * rng.uniform(1.0, 1.8)
        scale, sign = rng.uniform(0.1, 0.3), rng.choice([-1, 1])
    elif mode == "front":
        scale, sign = rng.uniform(0.3, 0.9), 1
    else:
        scale, sign = rng.uniform(0.3, 0.7), -1
        shear = rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)
    reach_x = int(abs(shear) * oh) + 4
    reach_y = int(scale * oh) + 4 if sign > 0 else 4
    x0 = int(rng.integers(min(reach_x, W - ow - 1) if shear < 0 else 0,
                          max(1, W - ow - (reach_x if shear > 0 else 0))))
    y0 = int(rng.integers(oh // 2 if sign < 0 else 0, max(oh // 2 + 1, H - oh - reach_y)))
    x0, y0 = min(max(0, x0), W - ow), min(max(0, y0), H - oh)
    obj = np.zeros((H, W), bool)
    obj[y0: y0 + oh, x0: x0 + ow] = sil
    base = y0 + oh - 1
    # Affine map, dst = A @ (x, y, 1): t = base - y; x' = x + shear * t; y' = base + sign * scale * t.
    A = np.float32([[1, -shear, shear * base], [0, -sign * scale, base + sign * scale * base]])
    proj = cv2.warpAffine(obj.astype(np.float32), A, (W, H), flags=cv2.INTER_LINEAR)
    penumbra = rng.uniform(1.0, 7.0)
    s = cv2.GaussianBlur(proj, (0, 0), penumbra)
    m = rng.uniform(0.35, 0.8)
    dark = (1 - m) * s if shadow else np.zeros_like(s)
    shaded = photo.astype(np.float32) * (1 - dark[..., None])
    # The object: another photo's patch, channels swapped, pasted with a soft matte.
    th, tw = texture_src.shape[:2]
    ty, tx = int(rng.integers(0, max(1, th - oh))), int(rng.integers(0, max(1, tw - ow)))
    patch = cv2.resize(texture_src, (W, H))[..., ::-1] if th < oh or tw < ow else None
    tex = np.zeros_like(shaded)
    tex[y0: y0 + oh, x0: x0 + ow] = (patch[y0: y0 + oh, x0: x0 + ow] if patch is not None
                                     else texture_src[ty: ty + oh, tx: tx + ow][..., ::-1])
    matte = cv2.GaussianBlur(obj.astype(np.float32), (0, 0), 0.8)
    image = matte[..., None] * tex + (1 - matte[..., None]) * shaded
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    user = matte > 0.5
    # Light direction: from the object towards the light = away from the shadow's offset.
    ys, xs = np.nonzero(proj > 0.5)
    oy, ox = np.nonzero(obj)
    light = None
    if len(xs):
        off = np.array([xs.mean() - ox.mean(), ys.mean() - oy.mean()])
        light = tuple(-off / (np.linalg.norm(off) + 1e-9))
    return {
        "image": image, "clean": photo, "object": user, "darkening": dark * (1 - matte),
        "core": (dark > 0.15) & ~user, "true": (dark > 0.03) & ~user, "light": light,
        "params": {"kind": str(kind), "mode": str(mode), "shear": round(float(shear), 2),
                   "scale": round(float(scale * sign), 2), "penumbra": round(float(penumbra), 1),
                   "m": round(float(m), 2), "shadow": shadow},
    }


def lum(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]) + 1.0


def residual(result: np.ndarray, clean: np.ndarray, core: np.ndarray) -> float:
    return float(1 - lum(result)[core].sum() / lum(clean)[core].sum())


def remove(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return inpaint(image, masks.grow(mask, 3), engine="telea").images[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=48)
    ap.add_argument("--empty", type=int, default=10, help="scenes with no shadow")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    pics = photos()
    rows, empties = [], []
    for i in range(args.scenes + args.empty):
        has_shadow = i < args.scenes
        k = i % len(pics)
        name, photo = pics[k]
        texture = pics[(k + 1 + int(rng.integers(0, len(pics) - 1))) % len(pics)][1]
        for _ in range(20):  # a shadow hidden behind the object or off the frame is no test: draw again
            sc = make_scene(photo, texture, rng, shadow=has_shadow)
            if not has_shadow or sc["core"].sum() >= 0.1 * sc["object"].sum():
                break
        t = time.perf_counter()
        sug = suggest_shadow(sc["image"], sc["object"])
        ms = 1000 * (time.perf_counter() - t)
        if not has_shadow:
            empties.append({"photo": name, "area_fraction": sug.area / sc["object"].sum(), "score": sug.score,
                            "reason": sug.reason, "ms": ms, **sc["params"]})
            continue
        core, true = sc["core"], sc["true"]
        iou = (sug.mask & core).sum() / max(1, (sug.mask | core).sum())
        false = (sug.mask & ~true).sum() / max(1, core.sum())
        lit = suggest_shadow(sc["image"], sc["object"], light=sc["light"])
        iou_l = (lit.mask & core).sum() / max(1, (lit.mask | core).sum())
        before = residual(sc["image"], sc["clean"], core)
        alone = residual(remove(sc["image"], sc["object"]), sc["clean"], core)
        both = residual(remove(sc["image"], sc["object"] | sug.mask), sc["clean"], core)
        rows.append({"photo": name, "iou": float(iou), "false_area": float(false), "iou_with_light": float(iou_l),
                     "core_px": int(core.sum()), "score": sug.score, "ms": ms,
                     "shadow_before": before, "residual_object_only": alone, "residual_with_suggestion": both,
                     **sc["params"]})
        print(f"{i:3d} {name:16s} {sc['params']['kind']:7s} {sc['params']['mode']:6s} m={sc['params']['m']:.2f} "
              f"pen={sc['params']['penumbra']:.1f} IoU {iou:.2f} (light {iou_l:.2f}) false {false:.2f} "
              f"residual {alone:.2f} -> {both:.2f}  {ms:.0f} ms", flush=True)

    def dist(key, rs=rows):
        v = np.array([r[key] for r in rs], float)
        return {"p10": float(np.percentile(v, 10)), "p25": float(np.percentile(v, 25)),
                "median": float(np.median(v)), "p75": float(np.percentile(v, 75)), "mean": float(v.mean())}

    iou = np.array([r["iou"] for r in rows])
    iou_l = np.array([r["iou_with_light"] for r in rows])
    summary = {
        "scenes": len(rows), "photos": sorted({r["photo"] for r in rows}), "seed": args.seed,
        "iou": dist("iou"), "iou_ge_0.7": float((iou >= 0.7).mean()),
        "iou_with_light": dist("iou_with_light"), "iou_with_light_ge_0.7": float((iou_l >= 0.7).mean()),
        "false_area": dist("false_area"),
        "shadow_before": dist("shadow_before"),
        "residual_object_only": dist("residual_object_only"),
        "residual_with_suggestion": dist("residual_with_suggestion"),
        "ms": dist("ms"),
        "no_shadow": {"scenes": len(empties),
                      "empty_fraction": float(np.mean([e["area_fraction"] == 0 for e in empties])) if empties else None,
                      "area_fraction": dist("area_fraction", empties) if empties else None},
    }
    print()
    print(f"{'metric':32s} {'p10':>6s} {'p25':>6s} {'median':>6s} {'p75':>6s} {'mean':>6s}")
    for key in ("iou", "iou_with_light", "false_area", "shadow_before", "residual_object_only",
                "residual_with_suggestion", "ms"):
        d = summary[key]
        print(f"{key:32s} " + " ".join(f"{d[q]:6.2f}" if key != "ms" else f"{d[q]:6.0f}"
                                       for q in ("p10", "p25", "median", "p75", "mean")))
    print(f"scenes with IoU >= 0.7: {summary['iou_ge_0.7']:.0%} (with the light direction "
          f"{summary['iou_with_light_ge_0.7']:.0%}) of {len(rows)}; target >= 80%")
    if empties:
        ns = summary["no_shadow"]
        print(f"no-shadow scenes: {ns['empty_fraction']:.0%} of {len(empties)} empty; suggested area / object area "
              f"median {ns['area_fraction']['median']:.3f}, max {max(e['area_fraction'] for e in empties):.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "effects.json").write_text(json.dumps({"summary": summary, "scenes": rows, "no_shadow": empties},
                                                 indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
