"""``python -m pipelines batch``: run a manifest of edits, write verified PNGs and OUT/results.jsonl.

    python -m pipelines batch --manifest jobs.csv --out results/ --engine telea
    python -m pipelines batch --manifest jobs.jsonl --out results/ --backend ray --model sd15-inpaint --retries 2
    python -m pipelines batch --manifest jobs.parquet --out results/ --backend ray --ray-address ray://head:10001

The manifest's columns are documented in pipelines/batch/manifest.py (at least image, mask, prompt, mode, seed;
paths relative to the manifest's folder). Each row's result passes the gate when nothing outside its mask changed
and its seam report is within the limits (--gate NAME=LIMIT changes one); otherwise it is retried with the next
seed up to --retries times and marked "review" with its best attempt kept. A re-run skips the rows already done.
stdout gets one JSON object: rows per status, rows done now and reused, seconds, the results file. Exit code 0
when the job ran (even with failed rows: see the results), 2 for a manifest or a setting that is unusable.
"""

from __future__ import annotations

import argparse
import json

from ..errors import UserError

HELP = "run a manifest of edits (CSV, JSON Lines, Parquet) locally or on Ray, with a quality gate and results.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="the jobs: .csv, .jsonl or .parquet, one edit per row")
    parser.add_argument("--out", required=True, help="output folder (created if missing): PNGs and results.jsonl")
    parser.add_argument("--backend", default="local", choices=["local", "ray"],
                        help="local (this machine, no Ray needed; default) or ray (Ray Data, local or a cluster)")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="with --backend ray: a cluster address (default: start Ray on this machine)")
    parser.add_argument("--workers", type=int, default=1,
                        help="local backend: worker processes, each with its own model (default 1)")
    parser.add_argument("--actors", type=int, default=None,
                        help="ray backend: the most generate actors (default: one per GPU, or CPUs / 2)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="rows whose same-size crops go through the model in one call (default 1: each row "
                             "alone, as the inpaint command paints it; 4-8 on a GPU)")
    parser.add_argument("--engine", default="diffusers", choices=["diffusers", "lama", "telea", "ns"],
                        help="diffusers (default), lama or a classical OpenCV fill: telea, ns")
    parser.add_argument("--model", default=None, help="a preset id, hub id, folder or single file (diffusers/lama)")
    parser.add_argument("--text-model", default=None,
                        help="rows with mask_text: Grounding DINO hub id or saved folder")
    parser.add_argument("--segmenter", default="auto", choices=["auto", "sam", "sam2", "grabcut"],
                        help="rows with mask_text, clicks or a box: auto (SAM when on disk, else GrabCut; default)")
    parser.add_argument("--stage-control", default="depth", choices=["depth", "none"],
                        help="stage rows (diffusers): depth (a depth ControlNet keeps the room's perspective; "
                             "default) or none (plain inpainting)")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (default 30; rows may override)")
    parser.add_argument("--strength", type=float, default=None,
                        help="default strength (remove 0.9 with pre-fill, else 1.0; rows may override)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    parser.add_argument("--grow", type=int, default=0, help="px to grow every mask by (default 0; reported)")
    parser.add_argument("--retries", type=int, default=2,
                        help="attempts with the next seed after a failed gate (default 2)")
    parser.add_argument("--gate", action="append", default=[], metavar="NAME=LIMIT",
                        help="a gate limit: outside_changed, seam_excess, ring_delta_e or noref_ratio (repeatable; "
                             "default outside_changed=0 seam_excess=0.25 ring_delta_e=2)")
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cuda, cuda:N, mps or cpu")
    parser.add_argument("--dtype", default=None, help="fp16, bf16 or fp32 (default fp16 on cuda, else fp32)")
    parser.add_argument("--no-download", action="store_true",
                        help="never download weights: models must be on disk")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def parse_gate(items: list[str]) -> tuple[tuple[str, float], ...]:
    from ..batch import GATE

    gate = dict(GATE)
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in ("outside_changed", "seam_excess", "ring_delta_e", "noref_ratio"):
            raise UserError(f"--gate takes NAME=LIMIT with NAME outside_changed, seam_excess, ring_delta_e or "
                            f"noref_ratio; got {item!r}")
        try:
            gate[name] = float(value)
        except ValueError:
            raise UserError(f"--gate {name}: the limit must be a number, got {value!r}") from None
    return tuple(gate.items())


def run(args: argparse.Namespace) -> int:
    from ..batch import Job, run_batch
    from ..generate.checks import check_generation

    if args.retries < 0:
        raise UserError(f"--retries must be >= 0, got {args.retries}")
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.actors is not None and args.actors < 1:
        raise UserError(f"--actors must be >= 1, got {args.actors}")
    if args.ray_address and args.backend != "ray":
        raise UserError("--ray-address goes with --backend ray")
    check_generation(1.0 if args.strength is None else args.strength, args.steps, args.guidance)
    job = Job(out=args.out, engine=args.engine, model=args.model, text_model=args.text_model,
              segmenter=args.segmenter, steps=args.steps, strength=args.strength, guidance=args.guidance,
              grow=args.grow, retries=args.retries, gate=parse_gate(args.gate), device=args.device, dtype=args.dtype,
              allow_download=not args.no_download,
              stage_control=None if args.stage_control == "none" else args.stage_control,
              batch_size=args.batch_size)
    summary = run_batch(args.manifest, args.out, job, backend=args.backend, workers=args.workers,
                        ray_address=args.ray_address, actors=args.actors, show_progress=not args.quiet)
    print(json.dumps(summary.as_dict(), indent=2))
    return 0
