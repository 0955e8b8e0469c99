"""``python -m pipelines inpaint``: inpaint an image where a mask is white, write a lossless PNG, print the seam report.

    python -m pipelines inpaint --image photo.jpg --mask mask.png --out result.png --prompt "a wooden bench"
    python -m pipelines inpaint --image photo.jpg --mask mask.png --out result.png --engine telea   # no weights

stdout gets one JSON object: the best image's seam report under "report", plus engine, model, seeds,
crop boxes, timings, notes and the files written. With --variants N the best image goes to --out and
the others to <out stem>-2.png, -3.png, ... in rank order. Each PNG carries its settings (its own seed and
seam report, the mask's digest) in an iTXt chunk: pipelines.provenance.read_settings reads them back.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UserError

HELP = "inpaint an image inside a mask (diffusion model or classical fill) and print the seam report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="input image file")
    parser.add_argument("--mask", required=True, help="mask image file, white = repaint; the image's size")
    parser.add_argument("--out", required=True, help="output .png file (never one of the inputs)")
    parser.add_argument("--prompt", default="", help="what to paint in the mask (ignored by telea/ns)")
    parser.add_argument("--negative-prompt", default="", help="what not to paint")
    parser.add_argument("--engine", default="diffusers", choices=["diffusers", "lama", "telea", "ns"],
                        help="diffusers (a diffusion model, default), lama (LaMa object removal, no prompt; "
                             "--model a big-lama .pt file or the preset's) or a classical OpenCV fill: telea, ns")
    parser.add_argument("--model", default=None,
                        help="a preset id (python -m pipelines models: sd15-inpaint, sdxl-inpaint, flux-fill, ...), "
                             "hub id, local diffusers folder or .safetensors/.ckpt file "
                             "(default stable-diffusion-v1-5/stable-diffusion-inpainting)")
    parser.add_argument("--control", default=None, choices=["depth"],
                        help="diffusers only: depth = the photo's depth map steers a ControlNet (staging furniture "
                             "in the room's perspective; --model then defaults to the depth-staging preset)")
    parser.add_argument("--controlnet", default=None,
                        help="with --control depth: ControlNet hub id or folder (default: the model family's)")
    parser.add_argument("--depth-model", default=None,
                        help="with --control depth: transformers depth model hub id or folder "
                             "(default depth-anything/Depth-Anything-V2-Small-hf)")
    parser.add_argument("--model-config", default=None,
                        help="single-file models only: a local diffusers folder (or hub id) with the matching configs")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    parser.add_argument("--strength", type=float, default=1.0, help="in (0, 1]; below 1 keeps some of the input")
    parser.add_argument("--guidance", type=float, default=None,
                        help="guidance scale (default: the model's own, 7.5 for SD/SDXL, 30 for FLUX.1 Fill)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    parser.add_argument("--variants", type=int, default=1, help="images to generate, ranked by seam score")
    parser.add_argument("--grow", type=int, default=0,
                        help="px to grow the mask by first (default 0: the mask as given is the contract); the "
                             "report gives the growth and the pixels changed outside the given mask")
    parser.add_argument("--feather", type=float, default=None, help="feather width in px for the composite")
    parser.add_argument("--method", default="seamless", choices=["seamless", "inward", "hard"],
                        help="compositing method; all keep outside pixels byte-identical (default seamless)")
    parser.add_argument("--margin", type=int, default=32, help="context px around each mask region (default 32)")
    parser.add_argument("--prefill", action="store_true",
                        help="fill the mask classically before generating (object removal; use --strength < 1)")
    parser.add_argument("--radius", type=float, default=5.0, help="telea/ns fill radius in px (default 5)")
    parser.add_argument("--soft-edge", type=float, default=0.0, metavar="PX",
                        help="diffusers (SD/SDXL): ramp the denoising strength up from the mask's edge inward over PX "
                             "px at the model's resolution, so the model continues the surroundings (default 0)")
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:N, mps or cpu")
    parser.add_argument("--dtype", default=None, help="fp16, bf16 or fp32 (default fp16 on cuda, else fp32)")
    parser.add_argument("--offload", action="store_true", help="model CPU offload (cuda): less GPU memory")


def run(args: argparse.Namespace) -> int:
    from .. import io, masks, provenance
    from ..inpaint import inpaint

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file (lossless), got {args.out}")
    for given in (args.image, args.mask):
        if Path(given).exists() and Path(given).resolve() == out.resolve():
            raise UserError(f"refusing to overwrite the input {given}: choose another --out")
    picture = io.read(args.image)
    image = picture.pixels
    mask = masks.to_mask(args.mask, size=picture.size)

    def progress(step: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rstep {step}/{total}", end="" if step < total else "\n", file=sys.stderr, flush=True)

    result = inpaint(
        image, mask, args.prompt, args.negative_prompt,
        engine=args.engine, model=args.model, strength=args.strength, steps=args.steps, guidance=args.guidance,
        seed=args.seed, variants=args.variants, grow=args.grow, feather=args.feather, method=args.method,
        context_margin=args.margin, prefill=args.prefill, radius=args.radius, progress=progress,
        device=args.device, dtype=args.dtype, offload=args.offload, model_config=args.model_config,
        control=args.control, controlnet=args.controlnet, depth_model=args.depth_model,
        soft_edge=args.soft_edge,
    )
    protect = (args.image, args.mask)
    icc = picture.icc_profile
    written = []
    for k, image_k in enumerate(result.images):
        record = provenance.settings_record(
            operation="inpaint", engine=result.engine, model=result.model, prompt=args.prompt,
            negative=args.negative_prompt, seed=result.seeds[k], strength=args.strength, steps=args.steps,
            guidance=result.params.get("guidance", args.guidance), grow=args.grow, feather=args.feather,
            method=args.method, mask=mask,
            report=result.reports[k],
            extra={"rank": k + 1, "variants": args.variants, "context_margin": args.margin, "prefill": args.prefill,
                   "radius": args.radius,
                   **{key: result.params[key]
                      for key in ("control", "controlnet", "depth_model", "control_scale", "soft_edge")
                      if key in result.params}},
        )
        path_k = out if k == 0 else out.with_name(f"{out.stem}-{k + 1}.png")
        written.append(str(io.save_png(path_k, image_k, protect=protect, icc_profile=icc,
                                       text=provenance.png_text(record))))

    summary = result.summary()
    summary["notes"] = picture.notes + summary["notes"]
    print(json.dumps({"report": summary["reports"][0], "outputs": written, **summary}, indent=2))
    return 0
