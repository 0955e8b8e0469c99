"""``python -m pipelines segment``: click-to-segment an object and write its mask as a black/white PNG.

    python -m pipelines segment --image photo.jpg --out mask.png --point 420,310
    python -m pipelines segment --image photo.jpg --out mask.png --point 420,310 --negative 500,300 --grow removal
    python -m pipelines segment --image photo.jpg --out mask.png --box 300,200,560,420 --engine grabcut
    python -m pipelines segment --image photo.jpg --out mask.png --text "the car" --instances all --engine grabcut

Points are X,Y pixel coordinates (x to the right, y down); the box is X0,Y0,X1,Y1 with exclusive ends.
The mask is uint8 0 (keep) / 255 (the object = repaint), the image's size. stdout gets one JSON object: engine
(a GrabCut result says "fallback"), the chosen candidate and all candidates' scores, the mask's area and box, the
file written and timings. With --engine sam the checkpoint comes from --sam-checkpoint, the cache folder, or one
download; offline without it, the command stops with one line naming the file and the remedies.
--text selects by a phrase instead of clicks or a box: Grounding DINO (--text-model, a hub id or a saved folder)
finds its boxes and the --engine segmenter turns the best one (--instances best) or all of them (all: the union) into
the mask; the report then also has the phrase, the boxes and their scores.
"""

from __future__ import annotations

from ..errors import UserError

import argparse
import json
import sys
import time
from pathlib import Path

HELP = "segment an object from clicks and/or a box (Segment Anything, or the GrabCut fallback) into a mask PNG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="input image file")
    parser.add_argument("--out", required=True, help="output mask .png (white = the object; never the input)")
    parser.add_argument("--point", action="append", default=[], metavar="X,Y",
                        help="a positive click on the object (repeatable)")
    parser.add_argument("--negative", action="append", default=[], metavar="X,Y",
                        help="a negative click on something that is not the object (repeatable)")
    parser.add_argument("--box", default=None, metavar="X0,Y0,X1,Y1", help="a box around the object (exclusive ends)")
    parser.add_argument("--text", default=None, metavar="PHRASE",
                        help="select by a phrase instead of clicks or a box, e.g. \"the car\" (Grounding DINO)")
    parser.add_argument("--instances", default="best", choices=["best", "all"],
                        help="with --text: the best match (default) or all matches united")
    parser.add_argument("--box-threshold", type=float, default=0.35, metavar="T",
                        help="text selection: the least score a box needs, in [0, 1] (default 0.35)")
    parser.add_argument("--text-model", default=None, metavar="ID_OR_DIR",
                        help="with --text: Grounding DINO hub id or saved folder "
                             "(default IDEA-Research/grounding-dino-tiny)")
    parser.add_argument("--engine", default="sam", choices=["sam", "sam2", "sam-hq", "grabcut"],
                        help="sam (Segment Anything, default), sam2 (SAM 2.1 through transformers; --sam-checkpoint "
                             "is then a hub id or a saved folder, default facebook/sam2.1-hiera-tiny), sam-hq (HQ-SAM "
                             "for thin structures, default syscv-community/sam-hq-vit-base) or grabcut (the "
                             "no-weights fallback)")
    parser.add_argument("--sam-model", default="vit_b", help="SAM model type: vit_b (default), vit_l or vit_h")
    parser.add_argument("--sam-checkpoint", default=None, metavar="PATH",
                        help="local SAM checkpoint (default: the cache folder, downloaded there once)")
    parser.add_argument("--device", default="auto", help="SAM device: auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument("--candidate", type=int, default=None,
                        help="SAM multimask candidate to write, 0-2 (default: the highest-scoring one)")
    parser.add_argument("--grow", default="0", metavar="PX",
                        help="grow the mask by PX pixels, or by a preset: replacement (15), removal (10: a typical "
                             "fringe + the feather band), or auto (this object's soft edge measured by a closed-form "
                             "matte + the seamless blend's feather band; reported as grow_auto). Default 0")
    parser.add_argument("--min-area", type=int, default=None, metavar="PX",
                        help="drop islands smaller than PX pixels (default 0.05%% of the image, at least 16)")
    parser.add_argument("--keep-holes", action="store_true", help="do not fill holes in the mask")


def parse_numbers(text: str, count: int, option: str, example: str) -> tuple[float, ...]:
    """``"12,34"`` -> (12.0, 34.0); anything else is a ValueError naming the option and the expected form."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(v == v and abs(v) != float("inf") for v in values):
        raise UserError(f"{option} expects {example}, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .. import io
    from .. import masks as mask_ops
    from .. import segment as seg_mod

    points = [parse_numbers(p, 2, "--point", "X,Y (e.g. 120,80)") for p in args.point]
    negatives = [parse_numbers(p, 2, "--negative", "X,Y (e.g. 120,80)") for p in args.negative]
    box = parse_numbers(args.box, 4, "--box", "X0,Y0,X1,Y1 (e.g. 10,20,200,180)") if args.box else None
    auto_grow = str(args.grow).strip().lower() == "auto"
    grow = 0 if auto_grow else seg_mod.growth_px(args.grow)
    if not str(args.out).lower().endswith(".png"):
        raise UserError(f"--out must be a .png file, got {args.out}")
    if Path(args.image).exists() and Path(args.image).resolve() == Path(args.out).resolve():
        raise UserError(f"refusing to overwrite the input {args.image}: choose another --out")
    if args.min_area is not None and args.min_area < 0:
        raise UserError("--min-area must be >= 0")
    if args.text is not None and (points or negatives or box):
        raise UserError("--text replaces --point, --negative and --box: give one or the other")
    if args.text is None and (args.text_model or args.instances != "best"):
        raise UserError("--text-model and --instances go with --text PHRASE")
    selector = None
    if args.text is not None:
        from ..segment.grounding import DEFAULT_TEXT_MODEL, TextSelector, normalise_phrase

        normalise_phrase(args.text)  # an empty phrase or a bad threshold fails before any model loads
        selector = TextSelector(args.text_model or DEFAULT_TEXT_MODEL, box_threshold=args.box_threshold,
                                device=None if args.device == "auto" else args.device)

    image = io.read(args.image).rgb()
    # Check the prompts before any model is loaded or downloaded.
    if args.text is None:
        seg_mod.check_prompts(image.shape[:2], positive=points, negative=negatives, box=box)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if args.engine == "grabcut":
        segmenter = seg_mod.GrabCutSegmenter(reason="chosen with --engine grabcut")
    elif args.engine in ("sam2", "sam-hq"):
        device = None if args.device == "auto" else args.device
        segmenter = seg_mod.make_segmenter(args.engine, checkpoint=args.sam_checkpoint, device=device)  # loaded
    else:
        seg_mod.get_sam_spec(args.sam_model)
        device = None if args.device == "auto" else args.device
        segmenter = seg_mod.Segmenter(args.sam_model, args.sam_checkpoint, device=device)
        segmenter.load(progress=_download_progress())
    if selector is not None:
        selector.load()
    timings["load_s"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    if selector is not None:
        result = selector.select(image, args.text, segmenter, instances=args.instances)
        selector.close()
    else:
        result = segmenter.segment(image, positive=points, negative=negatives, box=box)
    timings["segment_s"] = round(time.perf_counter() - t0, 3)
    if args.candidate is not None:
        result = result.select(args.candidate)
    mask = seg_mod.clean_mask(result.mask, min_area=args.min_area, fill_holes=not args.keep_holes)
    auto_report = None
    if auto_grow and mask.any():
        from .. import blend
        from ..segment import matting

        # the segmenter's unsure pixels (SAM: 0.1 < p < 0.9) join the matte's unknown band; GrabCut has none
        auto = matting.auto_growth(image, mask, feather=blend.default_feather("seamless"),
                                   probabilities=result.probabilities())
        grow = auto.px
        auto_report = {"px": auto.px, "fringe_px": round(auto.fringe, 2), "feather_px": auto.feather,
                       "note": auto.note or None}
    mask = seg_mod.grow_mask(mask, grow)
    written = io.save_png(args.out, mask.astype(np.uint8) * 255, protect=(args.image,))
    segmenter.close()

    area = int(mask.sum())
    report = {
        "out": str(written),
        "engine": result.engine,
        "fallback": result.is_fallback,
        "candidate": result.best,
        "scores": [None if s != s else round(float(s), 4) for s in result.scores],
        "grow_px": grow,
        "grow_auto": auto_report,
        "area_px": area,
        "area_fraction": round(area / mask.size, 6),
        "bbox": list(mask_ops.bbox(mask)) if area else None,
        "timings": timings,
        "note": getattr(result, "note", "") or None,
    }
    if selector is not None:
        report["text"] = {"phrase": result.phrase, "instances": result.instances, "model": selector.model_id,
                          "boxes": [list(b) for b in result.boxes],
                          "box_scores": [round(s, 4) for s in result.box_scores]}
    if area == 0:
        print("warning: the mask is empty: try another click or a box", file=sys.stderr)
    if result.is_fallback:
        print(f"note: {result.engine}", file=sys.stderr)
    if getattr(result, "note", ""):
        print(f"note: {result.note}", file=sys.stderr)
    print(json.dumps(report))
    return 0


def _download_progress():
    """A progress callback printing checkpoint download progress on stderr (in place on a terminal)."""
    state = {"last": -1}

    def progress(done: int, total: int | None) -> None:
        mb = done / 1e6
        if total:
            pct = int(100 * done / total)
            if pct == state["last"] or (not sys.stderr.isatty() and pct % 10 and done < total):
                return
            state["last"] = pct
            text = f"downloading the SAM checkpoint: {pct}% ({mb:.0f} of {total / 1e6:.0f} MB)"
        else:
            text = f"downloading the SAM checkpoint: {mb:.0f} MB"
        if sys.stderr.isatty():
            print("\r" + text, end="\n" if total and done >= total else "", file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)

    return progress
