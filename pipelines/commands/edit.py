"""``python -m pipelines edit``: one plain-English instruction does the whole edit.

    python -m pipelines edit --instruction "replace the car with a red bus" --dry-run    # the plan only
    python -m pipelines edit --image photo.jpg --mask car.png --out result.png --instruction "remove the car"

The instruction is parsed by pipelines.instructions into a plan (select, mode, prompt). --dry-run prints that plan
as one JSON object and reads no image. Otherwise the object is taken from --mask or, without one, selected by the
plan's phrase (pipelines.segment.grounding: Grounding DINO from --text-model finds its box(es), and SAM when its checkpoint
is cached, else GrabCut, turns them into the mask; a text model that cannot be loaded is one line naming --mask), and
painted with pipelines.inpaint.inpaint: remove uses pre-fill, strength
0.9 and the app's background prompt; replace and recolour paint the plan's prompt. The result is written like the
inpaint command's (a lossless PNG in the input's own format, with its ICC profile and its settings record: see
pipelines.provenance) and stdout gets one JSON object: the plan, the seam report and the rest of the inpaint summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UserError
from ..instructions import REMOVE_NEGATIVE, REMOVE_PROMPT, parse

HELP = "do one plain-English edit ('remove the car', 'replace the sky with a sunset', 'make the door red')"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instruction", required=True,
                        help="the edit in plain English, e.g. \"replace the car with a red bus\"")
    parser.add_argument("--image", default=None, help="input image file (not needed with --dry-run)")
    parser.add_argument("--out", default=None,
                        help="output .png file, never one of the inputs (not needed with --dry-run)")
    parser.add_argument("--mask", default=None,
                        help="mask of the object to edit, white = repaint; the image's size (default: select the "
                             "instruction's object by text with --text-model)")
    parser.add_argument("--box-threshold", type=float, default=0.35, metavar="T",
                        help="text selection: the least score a box needs, in [0, 1] (default 0.35)")
    parser.add_argument("--text-model", default=None, metavar="ID_OR_DIR",
                        help="without --mask: Grounding DINO hub id or saved folder "
                             "(default IDEA-Research/grounding-dino-tiny)")
    parser.add_argument("--instances", default="best", choices=["best", "all"],
                        help="without --mask: edit the best match (default) or all matches of the object")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the parsed plan as one JSON object (select, mode, prompt) and stop")
    parser.add_argument("--engine", default="diffusers", choices=["diffusers", "lama", "telea", "ns"],
                        help="diffusers (a diffusion model, default), lama (prompt-free removal) or a classical "
                             "OpenCV fill: telea, ns")
    parser.add_argument("--model", default=None,
                        help="hub id, local diffusers folder or .safetensors/.ckpt file "
                             "(default stable-diffusion-v1-5/stable-diffusion-inpainting)")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30)")
    parser.add_argument("--strength", type=float, default=None,
                        help="in (0, 1] (default 0.9 for remove, where the mask is pre-filled; 1 otherwise)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    parser.add_argument("--grow", type=int, default=0,
                        help="px to grow the mask by first (default 0: the mask as given is the contract)")
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:N, mps or cpu")


def run(args: argparse.Namespace) -> int:
    plan = parse(args.instruction)
    if args.dry_run:
        print(plan.as_json())
        return 0

    if not args.image or not args.out:
        raise UserError("--image and --out are required (only --dry-run works without them)")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file (lossless), got {args.out}")
    for given in (args.image, args.mask):
        if given and Path(given).exists() and Path(given).resolve() == out.resolve():
            raise UserError(f"refusing to overwrite the input {given}: choose another --out")

    from .. import io, masks, provenance
    from ..inpaint import inpaint

    picture = io.read(args.image)
    selection = None
    if args.mask:
        mask = masks.to_mask(args.mask, size=picture.size)
    else:
        mask, selection = _select_by_text(picture, plan.select, args)
    if plan.mode == "remove":
        prompt, negative, prefill = REMOVE_PROMPT, REMOVE_NEGATIVE, True
        strength = 0.9 if args.strength is None else args.strength
    else:
        prompt, negative, prefill = plan.prompt, "", False
        strength = 1.0 if args.strength is None else args.strength

    def progress(step: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rstep {step}/{total}", end="" if step < total else "\n", file=sys.stderr, flush=True)

    result = inpaint(
        picture.pixels, mask, prompt, negative,
        engine=args.engine, model=args.model, strength=strength, steps=args.steps, seed=args.seed,
        grow=args.grow, prefill=prefill, progress=progress, device=args.device,
    )
    record = provenance.settings_record(
        operation="edit", engine=result.engine, model=result.model, prompt=prompt, negative=negative,
        seed=result.seeds[0], strength=strength, steps=args.steps, guidance=result.params.get("guidance"), grow=args.grow, feather=None,
        method=None, mask=mask, report=result.reports[0],
        extra={"instruction": args.instruction, "mode": plan.mode, "select": plan.select, "prefill": prefill,
               "selection": selection},  # selection: the text selection's report, null with --mask
    )
    written = str(io.save_png(out, result.images[0], protect=(args.image, args.mask), icc_profile=picture.icc_profile,
                              text=provenance.png_text(record)))

    summary = result.summary()
    summary["notes"] = picture.notes + summary["notes"]
    extra = {"selection": selection} if selection is not None else {}
    print(json.dumps({"plan": json.loads(plan.as_json()), **extra, "report": summary["reports"][0],
                      "outputs": [written], **summary}, indent=2))
    return 0


def _select_by_text(picture, phrase: str, args: argparse.Namespace):
    """(mask HW bool, report) of the plan's object: Grounding DINO boxes -> SAM (cached checkpoint) or GrabCut."""
    from .. import segment as seg_mod
    from ..segment.grounding import DEFAULT_TEXT_MODEL, TextSelector

    image = picture.rgb()
    device = None if args.device in ("auto", "mps") else args.device
    model_id = args.text_model or DEFAULT_TEXT_MODEL
    selector = TextSelector(model_id, device=device, box_threshold=args.box_threshold)
    selector.remedy = (f"{phrase!r} cannot be selected by text: pass --mask MASK.png, or give --text-model a "
                       "folder saved with save_pretrained")
    selector.load()
    try:
        segmenter = seg_mod.make_segmenter("auto", download=False)  # SAM when its checkpoint is cached, else GrabCut
        result = selector.select(image, phrase, segmenter, instances=args.instances)
        segmenter.close()
    finally:
        selector.close()
    mask = seg_mod.clean_mask(result.mask)
    if not mask.any():
        raise UserError(f"the mask of {phrase!r} came out empty: pass --mask MASK.png")
    if result.is_fallback or result.note:
        print(f"note: {result.engine}" + (f"; {result.note}" if result.note else ""), file=sys.stderr)
    report = {"phrase": result.phrase, "engine": result.engine, "model": model_id, "instances": result.instances,
              "boxes": [list(b) for b in result.boxes], "box_scores": [round(s, 4) for s in result.box_scores],
              "area_px": int(mask.sum())}
    return mask, report
