"""``python -m pipelines outpaint``: extend an image's canvas, write a lossless PNG, print the join seam reports.

    python -m pipelines outpaint --image photo.jpg --out wide.png --right 512 --prompt "a sandy beach"
    python -m pipelines outpaint --image photo.jpg --out wide.png --aspect 16:9 --engine telea   # no weights

stdout gets one JSON object: mode, engine, model, seed, the canvas size, the original's offset, the px added
per side, one entry per join (window box, known/new pixels, seam report), the overall seam report under
"report", the colour drift per side, timings, notes and the file written. The PNG carries its settings (the
new area's digest as the mask) in an iTXt chunk: pipelines.provenance.read_settings reads them back.
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
    parser.add_argument("--engine", default="diffusers", choices=["diffusers", "lama", "telea", "ns"],
                        help="diffusers (a diffusion model, default), lama (prompt-free removal) or a classical "
                             "OpenCV fill: telea, ns")
    parser.add_argument("--model", default=None, help="hub id, local diffusers folder or single file")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    parser.add_argument("--strength", type=float, default=0.9,
                        help="in (0, 1]; below 1 the model starts from the pre-filled canvas (default 0.9)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="guidance scale (default: the model's own, 7.5 for SD/SDXL, 30 for FLUX.1 Fill)")
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
    from .. import io, provenance
    from ..outpaint import outpaint

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file (lossless), got {args.out}")
    if Path(args.image).exists() and Path(args.image).resolve() == out.resolve():
        raise UserError(f"refusing to overwrite the input {args.image}: choose another --out")
    picture = io.read(args.image)
    image = picture.pixels  # outpaint works on an 8-bit copy and returns the input's own format

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
    record = provenance.settings_record(
        operation="outpaint", engine=result.engine, model=result.model, prompt=args.prompt,
        negative=args.negative_prompt, seed=result.seeds[0], strength=args.strength, steps=args.steps,
        guidance=result.params.get("guidance", args.guidance), grow=None, feather=None, method=None, mask=result.mask, report=result.reports[0],
        extra={"mode": result.mode, "pads": dict(result.pads), "offset": list(result.offset), "aspect": args.aspect,
               "anchor": args.anchor, "window": args.window, "context": args.context,
               "drift_control": not args.no_drift_control},
    )
    written = str(io.save_png(out, result.images[0], protect=(args.image,), icc_profile=picture.icc_profile,
                              text=provenance.png_text(record)))
    summary = result.summary()
    summary["notes"] = picture.notes + summary["notes"]
    print(json.dumps({"report": summary["reports"][0], "output": written, **summary}, indent=2))
    return 0

