"""Draw assets/seams_demo.png for the README: one colour-shifted fill composited four ways, seams zoomed.

    python bench/readme_figure.py
"""

import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import blend, masks, seams  # noqa: E402
from pipelines.io import load_image  # noqa: E402


def main():
    img = load_image(ROOT.parent / "shared" / "images" / "bench_dog.png", keep_alpha=False)
    mask = masks.to_mask(load_image(ROOT.parent / "shared" / "images" / "bench_dog_mask.png"))
    # a generator stand-in: the photo itself, blurred, warmer and brighter (what a VAE + sampler drift does)
    gen = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.9) * [1.10, 1.06, 0.95] + [3, -2, 4]
    gen = np.clip(gen, 0, 255).astype(np.uint8)
    panels = [
        ("input (the fill should match it)", img),
        ("hard paste", blend.composite(img, gen, mask, method="hard", grow=8)),
        ("textbook feather", blend.composite(img, gen, mask, method="feather", grow=8, feather=8)),
        ("inward feather", blend.composite(img, gen, mask, method="inward", grow=8)),
        ("seamless (ours)", blend.composite(img, gen, mask, method="seamless", grow=8)),
    ]
    grown = masks.grow(mask, 8)
    x0, y0, x1, y1 = masks.bbox(grown)
    pad = 24
    box = (max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, img.shape[1]), min(y1 + pad, img.shape[0]))
    tiles = []
    for title, res in panels:
        rep = seams.seam_report(img, res, grown)
        crop = Image.fromarray(res[box[1] : box[3], box[0] : box[2]])
        crop = crop.resize((crop.width * 3 // 2, crop.height * 3 // 2), Image.LANCZOS)
        canvas = Image.new("RGB", (crop.width, crop.height + 34), "white")
        canvas.paste(crop, (0, 34))
        d = ImageDraw.Draw(canvas)
        d.text((4, 2), title, fill="black")
        if res is img:
            d.text((4, 17), "fill: blurred, warmer, brighter", fill="black")
        else:
            d.text((4, 17), f"ring dE {rep['ring_delta_e']:.2f}  outside changed {100 * rep['outside_changed']:.1f}%",
                   fill="black")
        tiles.append(canvas)
    w = sum(t.width for t in tiles) + 6 * (len(tiles) + 1)
    sheet = Image.new("RGB", (w, tiles[0].height + 12), "white")
    x = 6
    for t in tiles:
        sheet.paste(t, (x, 6))
        x += t.width + 6
    out = ROOT / "assets" / "seams_demo.png"
    sheet.save(out, optimize=True)
    print(f"wrote {out} {sheet.size}")


if __name__ == "__main__":
    main()
