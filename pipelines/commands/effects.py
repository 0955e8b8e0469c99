"""``python -m pipelines effects``: suggest the cast shadow of an object selected for removal.

    python -m pipelines effects --image photo.jpg --mask object.png --out shadow.png [--light -1,-1]

Writes the suggestion as a black/white PNG (white = suggested shadow; all black when there is none) and prints
one JSON line: area (px), score (0-1) and reason. The suggestion is never added to any mask by itself: add it to
the object's mask to remove the shadow with the object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError

HELP = "suggest the cast shadow of an object (white in --mask) and write it as a black/white PNG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="input image file")
    parser.add_argument("--mask", required=True, help="the object's mask, white = the object; the image's size")
    parser.add_argument("--out", required=True, help="output .png file for the suggested shadow")
    parser.add_argument("--light", default=None,
                        help="optional direction from the object towards the light as x,y (y down), e.g. -1,-1 "
                             "for light from the upper left; default: the shadow touches the object's lower side")


def _light(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--light must be x,y (two numbers), got {text!r}") from None
    if not (x or y):
        raise UserError("--light must not be 0,0")
    return x, y


def run(args: argparse.Namespace) -> int:
    from .. import io, masks
    from ..segment.effects import suggest_shadow

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file, got {args.out}")
    light = _light(args.light)
    picture = io.read(args.image)
    try:
        mask = masks.to_mask(args.mask, size=picture.size)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    image = io.to_working(picture.pixels, keep_alpha=False)
    shadow = suggest_shadow(image, mask, light=light)
    io.save_png(out, shadow.mask, protect=(args.image, args.mask))
    print(json.dumps(shadow.summary()))
    return 0
