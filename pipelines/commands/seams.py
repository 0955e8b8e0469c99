"""python -m pipelines seams: print the seam report of a result as JSON."""

from ..errors import UserError

HELP = "print the seam report (outside_changed, ring_delta_e, seam_excess, noref_ratio) of a result as JSON"


def add_arguments(parser):
    parser.add_argument("--reference", required=True, help="the reference image (the input, or a clean original)")
    parser.add_argument("--result", required=True, help="the composited result")
    parser.add_argument("--mask", required=True, help="mask image: white (or opaque alpha) = repainted")
    parser.add_argument("--original", default=None,
                        help="the input whose outside pixels must be unchanged (default: --reference)")


def run(args):
    import json

    from ..io import load_image, open_image
    from ..masks import to_mask
    from ..seams import seam_report

    reference = load_image(args.reference)
    result = load_image(args.result)
    original = load_image(args.original) if args.original else None
    if reference.shape[:2] != result.shape[:2]:
        raise UserError(
            f"the result is {result.shape[1]}x{result.shape[0]} but the reference is "
            f"{reference.shape[1]}x{reference.shape[0]} (width x height)"
        )
    if original is not None and original.shape != result.shape:
        raise UserError(f"the original has shape {original.shape} but the result {result.shape}")
    if original is None and reference.shape != result.shape:
        raise UserError(f"the reference has shape {reference.shape} but the result {result.shape}")
    if min(result.shape[:2]) < 2:
        raise UserError(f"the result is {result.shape[1]}x{result.shape[0]}: too small to measure a seam "
                        "(at least 2 px a side)")
    mask = to_mask(open_image(args.mask), size=(result.shape[1], result.shape[0]))
    print(json.dumps(seam_report(reference, result, mask, original=original), indent=2))
    return 0
