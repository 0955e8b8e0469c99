"""The weight-free seam benchmark of ../shared/design/BOUNDARIES.md.

Scene: clean photo I; a foreign object (a patch of another photo, channels swapped) pasted with a soft
matte (Gaussian sigma 0.8) -> I_obj; user mask M = grow(matte > 0.5, d), d in {0, 6, 16}. Generator
stand-ins G = degrade(I): exact (G = I), vae (blur 0.9, 2% chroma gain, noise 3/255), shift (gains
1.10/1.06/0.95 plus small offsets). Composite C = method(I_obj, G, M), scored with pipelines.seams
against the clean I (seam metrics) and against the object (ghost and rim).

Methods side by side: ours (hard, inward, seamless, seamless without the cross-fade) and the anchors'
recipes reimplemented (IOPaint, A1111, diffusers apply_overlay, Fooocus, Krita AI) plus
cv2.seamlessClone with the outside re-pasted.

    python bench/seams.py [--quick] [--size 512] [--out bench/out]

Columns: medians of each metric; seam% = the seam rules of seams.THRESHOLDS (outside unchanged included);
all% = seam rules and the ghost/rim rules; look% = all% forgiving changed outside pixels (how the seam looks,
fair to recipes that do not keep the contract); ms = median time per composite.
Prints medians and pass rates per method and scenario, writes seams.json and a contact sheet
seams_contact.png of zoomed seams per method.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw
from skimage import color, data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import blend, masks, seams  # noqa: E402
from pipelines.io import load_image  # noqa: E402

SHARED_IMAGES = ROOT.parent / "shared" / "images"
GROWTHS = (0, 6, 16)
GENERATORS = ("exact", "vae", "shift")


# ---------------------------------------------------------------------------------------------------------
# Photos and scenes


def photos(size: int) -> dict[str, np.ndarray]:
    """Real photos, HWC uint8 RGB, longest side scaled to `size`."""
    found = {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "rocket": data.rocket(),
        "motorcycle": data.stereo_motorcycle()[0],
        "hubble": data.hubble_deep_field(),
        "retina": data.retina(),
    }
    for name in ("dog.jpg", "bench_dog.png", "remove_baseball.jpg", "remove_boat.jpg", "remove_bridge.jpg"):
        path = SHARED_IMAGES / name
        if path.is_file():
            found[path.stem] = load_image(path, keep_alpha=False)
    out = {}
    for name, img in found.items():
        img = img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
        h, w = img.shape[:2]
        scale = size / max(h, w)
        if scale < 1:
            img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        out[name] = np.ascontiguousarray(img)
    return out


def _blob(rng, h, w) -> np.ndarray:
    noise = rng.normal(size=(h, w)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), min(h, w) / 6)
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2))
    field = (1 - r) + 2.5 * noise / (np.abs(noise).max() + 1e-6) * 0.3
    return field > 0.25


def _horse(h, w) -> np.ndarray:
    horse = ~data.horse()  # True on the horse
    ys, xs = np.nonzero(horse)
    horse = horse[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8) * 255
    return cv2.resize(horse, (w, h), interpolation=cv2.INTER_AREA) >= 128


def _shapes(rng, img_h, img_w):
    """(name, HW bool object shape at full image size) x 3: a blob, a rectangle on the border, the horse."""
    side = min(img_h, img_w)
    out = []
    for kind in ("blob", "rect", "horse"):
        oh = int(side * rng.uniform(0.22, 0.35))
        ow = int(oh * rng.uniform(0.8, 1.4))
        ow = min(ow, img_w - 2)
        if kind == "blob":
            shape = _blob(rng, oh, ow)
        elif kind == "rect":
            shape = np.ones((oh, ow), bool)
        else:
            shape = _horse(oh, ow)
        full = np.zeros((img_h, img_w), bool)
        if kind == "rect":  # touches the left or the bottom border
            if rng.random() < 0.5:
                y, x = int(rng.integers(0, img_h - oh)), 0
            else:
                y, x = img_h - oh, int(rng.integers(0, img_w - ow))
        else:
            y = int(rng.integers(24, max(25, img_h - oh - 24)))
            x = int(rng.integers(24, max(25, img_w - ow - 24)))
        full[y : y + oh, x : x + ow] = shape
        out.append((kind, full))
    return out


def make_scene(clean, donor, shape):
    """Paste a foreign object (donor patch, channels swapped) into `clean` with a soft matte."""
    h, w = clean.shape[:2]
    donor = cv2.resize(donor, (w, h), interpolation=cv2.INTER_AREA)[..., ::-1]  # channels swapped
    matte = cv2.GaussianBlur(shape.astype(np.float32), (0, 0), 0.8)
    with_obj = matte[..., None] * donor.astype(np.float32) + (1 - matte[..., None]) * clean.astype(np.float32)
    return np.clip(np.rint(with_obj), 0, 255).astype(np.uint8), matte


def degrade(clean, kind, rng) -> np.ndarray:
    """Generator stand-ins."""
    img = clean.astype(np.float32)
    if kind == "exact":
        return clean.copy()
    if kind == "shift":
        out = img * np.array([1.10, 1.06, 0.95], np.float32) + np.array([3.0, -2.0, 4.0], np.float32)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if kind == "vae":
        blurred = cv2.GaussianBlur(img, (0, 0), 0.9)
        lab = color.rgb2lab(np.clip(blurred, 0, 255) / 255.0)
        lab[..., 1:] *= 1.02
        rgb = color.lab2rgb(lab) * 255.0 + rng.normal(0, 3.0, size=img.shape)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------------------
# Methods: (name, contract-safe?, fn(original, generated, mask) -> result)


def _alpha_blend(orig, gen, alpha):
    out = alpha[..., None] * gen.astype(np.float32) + (1 - alpha[..., None]) * orig.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def iopaint(orig, gen, mask):
    """IOPaint: the model gets the hard mask; the final composite blurs it with a 23x23 Gaussian."""
    soft = cv2.GaussianBlur(mask.astype(np.float32), (2 * 11 + 1, 2 * 11 + 1), 0)
    return _alpha_blend(orig, gen, soft)


def a1111(orig, gen, mask):
    """AUTOMATIC1111: mask blur 4 (kernel 2*int(2.5*4+0.5)+1), overlay alpha = clip(2 * blur) (whole picture)."""
    k = 2 * int(2.5 * 4 + 0.5) + 1
    soft = cv2.GaussianBlur(mask.astype(np.float32), (k, k), 4)
    return _alpha_blend(orig, gen, np.clip(2 * soft, 0, 1))


def diffusers_overlay(orig, gen, mask):
    """diffusers: mask_processor.blur(blur_factor=4) (PIL Gaussian), apply_overlay pastes the original through
    the inverted soft mask."""
    from PIL import ImageFilter

    soft_img = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(4))
    soft = np.asarray(soft_img).astype(np.float32) / 255.0
    return _alpha_blend(orig, gen, soft)


def fooocus(orig, gen, mask):
    """Fooocus: a 32 px linear ramp outward from the mask."""
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    alpha = np.where(mask, 1.0, np.clip(1 - dist / 32.0, 0, 1)).astype(np.float32)
    return _alpha_blend(orig, gen, alpha)


def krita(orig, gen, mask, blend_px: int = 8):
    """Krita AI: composite mask = mask eroded by blend/2, then blurred by blend (opaque inside); global LAB
    mean/std match of the generated image to the original, from outside the mask."""
    eroded = cv2.erode(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (blend_px + 1,) * 2))
    soft = cv2.GaussianBlur(eroded.astype(np.float32), (0, 0), blend_px / 2)
    soft = np.maximum(soft, eroded.astype(np.float32) * (soft > 0.5))
    lab_o = color.rgb2lab(orig / 255.0)
    lab_g = color.rgb2lab(gen / 255.0)
    out = ~mask
    mo, so = lab_o[out].mean(0), lab_o[out].std(0)
    mg, sg = lab_g[out].mean(0), lab_g[out].std(0)
    matched = (lab_g - mg) * (so / np.maximum(sg, 1e-6)) + mo
    gen2 = np.clip(color.lab2rgb(matched) * 255.0, 0, 255)
    return _alpha_blend(orig, gen2, soft)


def seamless_clone(orig, gen, mask):
    """cv2.seamlessClone NORMAL_CLONE, then the original re-pasted outside the mask."""
    m8 = mask.astype(np.uint8) * 255
    x0, y0, x1, y1 = masks.bbox(mask)
    h, w = mask.shape
    if x0 == 0 or y0 == 0 or x1 == w or y1 == h:
        # seamlessClone refuses masks touching the border: pad by reflection
        p = 4
        o = cv2.copyMakeBorder(orig[..., ::-1], p, p, p, p, cv2.BORDER_REFLECT)
        g = cv2.copyMakeBorder(gen[..., ::-1], p, p, p, p, cv2.BORDER_REFLECT)
        mm = cv2.copyMakeBorder(m8, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
        centre = ((x0 + x1) // 2 + p, (y0 + y1) // 2 + p)
        res = cv2.seamlessClone(g, o, mm.copy(), centre, cv2.NORMAL_CLONE)[p:-p, p:-p, ::-1]
    else:
        centre = ((x0 + x1) // 2, (y0 + y1) // 2)
        res = cv2.seamlessClone(gen[..., ::-1].copy(), orig[..., ::-1].copy(), m8.copy(), centre, cv2.NORMAL_CLONE)[
            ..., ::-1
        ]
    return np.where(mask[..., None], res, orig)


def _ours(method, **kw):
    # ours get the object mask and the growth, the way the app calls composite(); the grown mask equals M
    return lambda o, g, m, obj, d: blend.composite(o, g, obj, method=method, grow=d, **kw)


def _anchor(fn):
    return lambda o, g, m, obj, d: fn(o, g, m)


METHODS = {
    "ours:hard": (True, _ours("hard")),
    "ours:inward": (True, _ours("inward")),
    "ours:seamless": (True, _ours("seamless")),
    "ours:seamless-nodetail": (True, _ours("seamless", detail=False)),
    "ours:poisson-only": (True, _ours("seamless", feather=0, colour=False, detail=False)),
    "ours:feather(textbook)": (False, _ours("feather")),
    "cv2.seamlessClone+repaste": (True, _anchor(seamless_clone)),
    "IOPaint": (False, _anchor(iopaint)),
    "A1111": (False, _anchor(a1111)),
    "diffusers-overlay": (False, _anchor(diffusers_overlay)),
    "Fooocus": (False, _anchor(fooocus)),
    "KritaAI": (False, _anchor(krita)),
}


# ---------------------------------------------------------------------------------------------------------


def run(size: int, quick: bool, out_dir: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    pics = photos(size)
    names = sorted(pics)
    if quick:
        names = names[:4]
    rows = []
    sheet_cases = []
    t_start = time.perf_counter()
    for i, name in enumerate(names):
        clean = pics[name]
        donor = pics[names[(i + 1) % len(names)]]
        for kind, shape in _shapes(rng, *clean.shape[:2]):
            with_obj, matte = make_scene(clean, donor, shape)
            obj = matte > 0.5
            gens = {g: degrade(clean, g, rng) for g in GENERATORS}
            for d in GROWTHS:
                mask = masks.grow(obj, d)
                for gname, gen in gens.items():
                    keep = kind == "blob" and d == 6 and gname in ("shift", "vae") and len(sheet_cases) < 8
                    results = {}
                    for method, (safe, fn) in METHODS.items():
                        t0 = time.perf_counter()
                        res = fn(with_obj, gen, mask, obj, d)
                        dt = time.perf_counter() - t0
                        rep = seams.seam_report(clean, res, mask, original=with_obj)
                        ghost = seams.ghost_report(res, gen, with_obj, obj)
                        rows.append(
                            dict(
                                photo=name, object=kind, growth=d, generator=gname, method=method,
                                contract_safe=safe, seconds=dt,
                                **{k: rep[k] for k in ("outside_changed", "outside_max_diff", "ring_delta_e",
                                                       "seam_excess", "noref_ratio")},
                                seam_pass=rep["passed"], ghost=ghost["ghost"], rim=ghost["rim"],
                                ghost_pass=ghost["passed"], all_pass=rep["passed"] and ghost["passed"],
                                # the seam rules alone, forgiving a changed outside (fair to non-contract recipes)
                                look_pass=ghost["passed"] and all(
                                    rep[k] <= seams.THRESHOLDS[k] for k in ("ring_delta_e", "seam_excess", "noref_ratio")
                                ),
                            )
                        )
                        if keep:
                            results[method] = res
                    if keep:
                        sheet_cases.append((f"{name}/{kind} d={d} {gname}", with_obj, mask, results))
        print(f"  {name}: done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    (out_dir / "seams.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    contact_sheet(sheet_cases, out_dir / "seams_contact.png")
    return summary


def summarise(rows):
    summary = {}
    for gname in GENERATORS:
        for dset, label in (((0,), "d=0"), ((6, 16), "d>=6")):
            for method in METHODS:
                sel = [r for r in rows if r["generator"] == gname and r["growth"] in dset and r["method"] == method]
                if not sel:
                    continue
                med = {k: float(np.median([r[k] for r in sel])) for k in
                       ("ring_delta_e", "seam_excess", "noref_ratio", "ghost", "rim")}
                summary[f"{gname} {label} {method}"] = dict(
                    generator=gname, growth=label, method=method, n=len(sel),
                    outside_changed_max=float(max(r["outside_changed"] for r in sel)),
                    seam_pass=float(np.mean([r["seam_pass"] for r in sel])),
                    all_pass=float(np.mean([r["all_pass"] for r in sel])),
                    look_pass=float(np.mean([r["look_pass"] for r in sel])),
                    seconds=float(np.median([r["seconds"] for r in sel])),
                    **{f"median_{k}": v for k, v in med.items()},
                )
    return summary


def print_table(summary):
    head = (f"{'scenario':<12} {'method':<27} {'n':>3} {'outside':>8} {'ringdE':>7} {'excess':>7} {'noref':>6} "
            f"{'ghost':>6} {'rim':>6} {'seam%':>6} {'all%':>6} {'look%':>6} {'ms':>6}")
    print(head)
    print("-" * len(head))
    last = None
    for s in summary.values():
        scen = f"{s['generator']} {s['growth']}"
        if last and scen != last:
            print()
        last = scen
        print(f"{scen:<12} {s['method']:<27} {s['n']:>3} {s['outside_changed_max']:>8.4f} {s['median_ring_delta_e']:>7.2f} "
              f"{s['median_seam_excess']:>7.3f} {s['median_noref_ratio']:>6.3f} {s['median_ghost']:>6.3f} "
              f"{s['median_rim']:>6.3f} {100 * s['seam_pass']:>5.0f}% {100 * s['all_pass']:>5.0f}% {100 * s['look_pass']:>5.0f}% "
              f"{1000 * s['seconds']:>6.1f}")


def contact_sheet(cases, path: Path, zoom: int = 4, half: int = 20):
    """One row per case: a zoomed crop centred on a seam point, one column per method."""
    if not cases:
        return
    cols = list(cases[0][3])
    tile = 2 * half * zoom
    label_h = 14
    sheet = Image.new("RGB", (len(cols) * (tile + 4) + 4, len(cases) * (tile + label_h + 18) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (title, with_obj, mask, results) in enumerate(cases):
        sd = masks.signed_distance(mask)
        # centre on the seam point where a naive paste differs most from the input (the most visible seam)
        diff = np.abs(results[cols[0]].astype(np.float32) - with_obj.astype(np.float32)).mean(axis=2)
        diff = cv2.boxFilter(diff, -1, (15, 15))
        seam = (sd >= 1) & (sd <= 1.5) & (with_obj.mean(axis=2) > 40)  # skip near-black areas
        if not seam.any():
            seam = (sd >= 1) & (sd <= 1.5)
        ys, xs = np.nonzero(seam)
        k = int(np.argmax(diff[seam]))
        cy, cx = int(ys[k]), int(xs[k])
        h, w = mask.shape
        y0, x0 = min(max(cy - half, 0), h - 2 * half), min(max(cx - half, 0), w - 2 * half)
        top = 4 + r * (tile + label_h + 18)
        draw.text((4, top), title, fill="black")
        for c, method in enumerate(cols):
            crop = results[method][y0 : y0 + 2 * half, x0 : x0 + 2 * half]
            big = Image.fromarray(crop).resize((crop.shape[1] * zoom, crop.shape[0] * zoom), Image.NEAREST)
            left = 4 + c * (tile + 4)
            sheet.paste(big, (left, top + 16))
            draw.text((left, top + 16 + tile + 1), method[:24], fill="black")
    sheet.save(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512, help="longest side of the photos (default 512)")
    ap.add_argument("--quick", action="store_true", help="4 photos instead of all")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default="", help="comma-separated subset of the methods (default: all)")
    ap.add_argument("--generators", default="", help="comma-separated subset of exact,vae,shift")
    args = ap.parse_args(argv)
    if args.methods:
        for name in list(METHODS):
            if name not in args.methods.split(","):
                del METHODS[name]
    if args.generators:
        global GENERATORS
        GENERATORS = tuple(args.generators.split(","))
    t = time.perf_counter()
    summary = run(args.size, args.quick, args.out, args.seed)
    print_table(summary)
    print(f"\n{time.perf_counter() - t:.0f} s; wrote {args.out / 'seams.json'} and {args.out / 'seams_contact.png'}")


if __name__ == "__main__":
    main()
