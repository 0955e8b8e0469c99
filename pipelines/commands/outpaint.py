"""``python -m pipelines outpaint``: extend an image's canvas, write a lossless PNG, print the join seam reports.

    python -m pipelines outpaint --image photo.jpg --out wide.png --right 512 --prompt "a sandy beach"
    python -m pipelines outpaint --image photo.jpg --out wide.png --aspect 16:9 --engine telea   # no weights

stdout gets one JSON object: mode, engine, model, seed, the canvas size, the original's offset, the px added
per side, one entry per join (window box, known/new pixels, seam report), the overall seam report under
"report", the colour drift per side, timings, notes and the file written.
"""

from __future__ import annotations

from ..errors import UserError

import argparse
import json
import sys
from pathlib import Path

HELP = "extend an image's canvas (outpainting, single shot or tiled) and print the join seam reports"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="input image file")
    parser.add_argument("--out", required=True, help="output .png file (never the input)")
    for side in ("left", "right", "top", "bottom"):
        parser.add_argument(f"--{side}", type=int, default=0, metavar="PX", help=f"px to add on the {side}")
    parser.add_argument("--aspect", default=None, help="instead of px: the target aspect ratio W:H (e.g. 16:9)")
    parser.add_argument("--anchor", default="center", choices=["center", "left", "right", "top", "bottom"],
                        help="with --aspect: where the original sits along the axis that grows (default center)")
    parser.add_argument("--mode", default="tiled", choices=["tiled", "single"],
                        help="tiled: a band at a time with overlapping context (default); single: one generation")
    parser.add_argument("--prompt", default="", help="what to paint in the new area (ignored by telea/ns)")
    parser.add_argument("--negative-prompt", default="", help="what not to paint")
    parser.add_argument("--engine", default="diffusers", choices=["diffusers", "telea", "ns"],
                        help="diffusers (a diffusion model, default) or a classical OpenCV fill: telea, ns")
    parser.add_argument("--model", default=None, help="hub id, local diffusers folder or single file")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    parser.add_argument("--strength", type=float, default=0.9,
                        help="in (0, 1]; below 1 the model starts from the pre-filled canvas (default 0.9)")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (default 7.5)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    parser.add_argument("--window", type=int, default=None,
                        help="tiled: window side in px (default: the model's native size; 512 for telea/ns)")
    parser.add_argument("--context", type=int, default=None,
                        help="px of known pixels each window holds (default a third of the window)")
    parser.add_argument("--no-drift-control", action="store_true",
                        help="do not anchor the new strips' colour statistics to the original's border")
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:N, mps or cpu")
    parser.add_argument("--dtype", default=None, help="fp16, bf16 or fp32 (default fp16 on cuda, else fp32)")


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..outpaint import outpaint

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file (lossless), got {args.out}")
    if Path(args.image).exists() and Path(args.image).resolve() == out.resolve():
        raise UserError(f"refusing to overwrite the input {args.image}: choose another --out")
    picture = io.read(args.image)
    image = picture.working()

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rwindow {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    result = outpaint(
        image, args.left, args.right, args.top, args.bottom, aspect=args.aspect, anchor=args.anchor,
        prompt=args.prompt, negative_prompt=args.negative_prompt, mode=args.mode, engine=args.engine,
        model=args.model, steps=args.steps, strength=args.strength, guidance=args.guidance, seed=args.seed,
        window=args.window, context=args.context, drift_control=not args.no_drift_control,
        progress=progress, device=args.device, dtype=args.dtype,
    )
    final = _native_canvas(picture.pixels, image, result.images[0], result.offset, result.mask)
    written = str(io.save_png(out, final, protect=(args.image,), icc_profile=picture.icc_profile))
    summary = result.summary()
    summary["notes"] = picture.notes + summary["notes"]
    print(json.dumps({"report": summary["reports"][0], "output": written, **summary}, indent=2))
    return 0


def _native_canvas(native, working, canvas, offset, new_area):
    """The outpainted canvas at the input's own format (depth, channels): the original's pixels byte for byte at
    ``offset``, the new area from the 8-bit ``canvas``. Fails closed (ContractViolation) when the canvas changed
    the original's pixels."""
    import numpy as np

    from .. import contract, io

    ox, oy = offset
    h, w = native.shape[:2]
    keep = np.zeros((h, w), bool)
    contract.verify_outside(working, canvas[oy:oy + h, ox:ox + w], keep, what="the outpainted canvas")
    base = np.zeros(canvas.shape[:2] + native.shape[2:], native.dtype)
    base[oy:oy + h, ox:ox + w] = native
    final = io.from_working(base, canvas, new_area)
    contract.verify_outside(base, final, new_area, what="the outpainted canvas")
    return final
