"""python -m pipelines blend: composite a generated image into the original inside a mask.

The PNG carries its settings (method, feather, grow, box, the mask's digest; no seam report: run ``seams`` for
one) in an iTXt chunk: pipelines.provenance.read_settings reads them back.
"""

from ..errors import UserError

HELP = "composite a generated image into the original inside a mask (lossless PNG out)"


def add_arguments(parser):
    parser.add_argument("--original", required=True, help="the untouched input image")
    parser.add_argument("--generated", required=True, help="the generated image: full size, or the crop given by --box")
    parser.add_argument("--mask", required=True, help="mask image: white (or opaque alpha) = repaint")
    parser.add_argument("--out", required=True, help="output PNG path")
    parser.add_argument("--method", default="seamless", choices=("seamless", "inward", "feather", "hard"),
                        help="blend method (default seamless; feather changes pixels outside the mask)")
    parser.add_argument("--feather", type=float, default=None, metavar="PX", help="transition width in px")
    parser.add_argument("--grow", type=int, default=0, metavar="PX", help="grow the mask by PX before blending")
    parser.add_argument("--box", default=None, metavar="X0,Y0,X1,Y1",
                        help="where --generated lies in the original, when it is a crop")
    parser.add_argument("--resize-mask", action="store_true", help="scale a mask of another size to the image")


def parse_box(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise UserError(f"--box must be X0,Y0,X1,Y1 integers, got {text!r}")
    return tuple(values)


def run(args):
    import numpy as np

    from ..blend import CONTRACT_SAFE, composite
    from ..contract import verify_outside
    from ..io import from_working, load_image, open_image, read, save_png, to_working
    from ..masks import grow as grow_mask
    from ..masks import to_mask
    from ..provenance import png_text, settings_record

    picture = read(args.original)
    native = picture.pixels
    original = to_working(native)
    generated = load_image(args.generated)
    size = picture.size
    try:
        mask = to_mask(open_image(args.mask), size=size, resize=args.resize_mask)
    except ValueError as exc:
        raise UserError(str(exc).replace("pass resize=True", "pass --resize-mask")) from None
    box = parse_box(args.box) if args.box else None
    result = composite(original, generated, mask, method=args.method, feather=args.feather, grow=args.grow, box=box)
    if args.method in CONTRACT_SAFE:
        repainted = grow_mask(mask, args.grow) if args.grow else mask
        verify_outside(original, result, repainted, what="the blend (8-bit working copy)")
        result = from_working(native, result, repainted)
        verify_outside(native, result, repainted)
    else:  # the textbook feather writes outside the mask too: keep everything it wrote
        result = from_working(native, result, np.ones(native.shape[:2], bool))
    record = settings_record(
        operation="blend", engine=None, model=None, prompt=None, negative=None, seed=None, strength=None, steps=None,
        guidance=None, grow=args.grow, feather=args.feather, method=args.method, mask=mask, report=None,
        extra={"box": list(box) if box else None, "resize_mask": args.resize_mask},
    )
    save_png(args.out, result, protect=(args.original, args.generated, args.mask), icc_profile=picture.icc_profile,
             text=png_text(record))
    print(f"wrote {args.out} ({size[0]}x{size[1]}, method {args.method})")
    return 0
