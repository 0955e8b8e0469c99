"""Click latency with a cached SAM embedding, against computing the embedding itself.

    python bench/click_latency.py                  # vit_b on the CPU, 20 clicks
    python bench/click_latency.py --device cuda --model vit_h --clicks 50

No weights are downloaded: the model is the real architecture (segment_anything's build_sam_vit_b, via our
registry) with random weights, which costs the same compute as the released checkpoint. The photo is SAM's own
notebook photo (tests/data/segment/dog.jpg) resized to 1024x768.

Measured through pipelines.segment.Segmenter, as the app calls it:
  embed   prepare(image): hashing the pixels + SamPredictor.set_image (the ViT image encoder), once
  click   segment(image, positive=[one random click]) with the embedding cached: hash lookup, prompt encoder,
          mask decoder, upscaling 3 candidate masks to 1024x768 (median of --clicks, after 2 warm-up clicks)
  bare    SamPredictor.predict on the same embedding, interleaved with the clicks: what our layer adds
  refine  the same with every click added to the previous ones and the previous result as mask_input
SAM 2.1 (segment.sam2.Sam2Segmenter, transformers' Sam2Model) at the real architectures of facebook/sam2.1-hiera-
tiny (default) and -small, random weights (the configs are written below, nothing is downloaded), on the same photo
and clicks: embed, click and refine as above; its embedding and click are also given as a ratio of SAM 1's
(targets: embedding <= 0.25x vit_b, click <= 0.1 s). --sam2 tiny,small picks them; --sam2 none skips them.
Prints the figures and the embed/click ratio; writes JSON to bench/out/click_latency.json. The target (a click
<= 0.1 s on the CPU) is reported, never asserted.

GrabCut (the no-weights fallback), 1024x768 pictures, median seconds per click over --grabcut-clicks clicks:
  flat        grey 128 with Gaussian noise (sigma 2), click in the middle
  gradient    a smooth two-colour gradient with noise (sigma 1), click in the middle
  flat+disc   a red disc on the flat grey, click on the background
  photo       tests/data/segment/dog.jpg, random clicks (the same draw as the SAM clicks)
  sky         scikit-image's rocket photo, click in its dark, noisy sky
A click may answer with a UserError (a flat picture): it is timed like a mask and counted as an answer.

    python bench/click_latency.py --skip-sam --grabcut-baseline 338cd4e   # GrabCut only, before/after

--grabcut-baseline REV also times the GrabCut code as it was at git revision REV, on the same clicks (once each:
the pictures with one click point get one), each picture in its own process killed after --baseline-timeout seconds
(the old code ran for minutes on flat pictures).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_CLICK_S = 0.1
GRABCUT_CASES = ("flat", "gradient", "flat+disc", "photo", "sky")


def _torch_setup(args):
    """(torch device, a synchronise function for timing, the 1024x768 test photo) with args.threads applied."""
    import cv2
    import torch

    from pipelines.io import load_image

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    photo = load_image(ROOT / "tests" / "data" / "segment" / "dog.jpg", keep_alpha=False)
    return device, sync, np.ascontiguousarray(cv2.resize(photo, (1024, 768), interpolation=cv2.INTER_CUBIC))



def embed_times(seg, image: np.ndarray, sync, repeats: int, gpu: bool) -> tuple[float, float | None]:
    """(median seconds of seg.prepare over ``repeats`` distinct copies of the photo, the untimed-warm-up's seconds).

    On a GPU the first call pays for CUDA's lazy initialisation and kernel selection, which a server pays once
    at start-up, so a warm-up prepare on a flipped copy runs first there and is reported apart. Each timed copy
    differs by one pixel, so every prepare computes a new embedding (the cache is keyed by content). ``image``
    itself is prepared last, so the clicks that follow find its embedding cached.
    """
    cold = None
    if repeats > 1 or gpu:
        sync()
        t0 = time.perf_counter()
        seg.prepare(np.ascontiguousarray(image[:, ::-1]))
        sync()
        cold = time.perf_counter() - t0
    times = []
    for k in range(repeats):
        copy = image.copy()
        if k < repeats - 1:
            copy[0, 0, 0] ^= k + 1
        sync()
        t0 = time.perf_counter()
        seg.prepare(copy)
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), cold


def grabcut_picture(name: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """One GrabCut bench picture (1024x768 HWC uint8 RGB) and the clicks to time on it."""
    import cv2

    h, w = 768, 1024
    rng = np.random.default_rng(0)
    grey = np.full((h, w, 3), 128.0)
    if name == "flat":
        image = grey + rng.normal(0, 2, grey.shape)
        return np.clip(image, 0, 255).astype(np.uint8), [(512.0, 384.0)]
    if name == "gradient":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        image = np.stack([xx / w * 255, yy / h * 255, np.full((h, w), 90.0)], axis=-1) + rng.normal(0, 1, grey.shape)
        return np.clip(image, 0, 255).astype(np.uint8), [(512.0, 384.0)]
    if name == "flat+disc":
        cv2.circle(grey, (700, 400), 150, (200, 60, 60), -1)
        image = grey + rng.normal(0, 2, grey.shape)
        return np.clip(image, 0, 255).astype(np.uint8), [(200.0, 200.0)]
    if name == "photo":
        from pipelines.io import load_image

        photo = load_image(ROOT / "tests" / "data" / "segment" / "dog.jpg", keep_alpha=False)
        image = np.ascontiguousarray(cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC))
        return image, [(float(rng.integers(0, w)), float(rng.integers(0, h))) for _ in range(9)]
    if name == "sky":
        import skimage.data

        image = np.ascontiguousarray(cv2.resize(skimage.data.rocket(), (w, h), interpolation=cv2.INTER_AREA))
        return image, [(100.0, 100.0)]
    raise ValueError(f"unknown GrabCut bench picture {name!r}")


def load_segment_module(path: str | None):
    """pipelines.segment, or the file ``path`` loaded in its place (an older version, for a before/after): an old
    pipelines/segment.py as a module of pipelines, or a newer pipelines/segment/grabcut.py as one of pipelines.segment
    (its relative imports then reach today's package)."""
    if path is None:
        from pipelines import segment

        return segment
    package = "pipelines.segment" if Path(path).name == "grabcut_baseline.py" else "pipelines"
    importlib.import_module(package)
    spec = importlib.util.spec_from_file_location(f"{package}._bench_baseline_segment", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def time_grabcut(name: str, clicks: int, module_path: str | None = None, *, distinct: bool = False) -> dict:
    """Median seconds per click of GrabCutSegmenter on picture ``name``; what each click answered.
    ``distinct``: each click point once (at most ``clicks``)."""
    S = load_segment_module(module_path)
    image, points = grabcut_picture(name)
    if distinct:
        clicks = min(clicks, len(points))
    seg = S.GrabCutSegmenter()
    times, answers = [], []
    for k in range(clicks):
        point = points[k % len(points)]
        start = time.perf_counter()
        try:
            result = seg.segment(image, positive=[point])
            answer = f"mask {result.mask.mean():.0%}" + (f" ({result.note})" if getattr(result, "note", "") else "")
        except ValueError as exc:  # UserError: the flat-picture answer
            answer = f"error: {exc}"
        times.append(time.perf_counter() - start)
        answers.append(answer)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "clicks": len(times),
            "answers": sorted(set(answers))}


def baseline_grabcut(rev: str, clicks: int, timeout: float) -> dict[str, dict]:
    """time_grabcut on the GrabCut code at git revision ``rev`` (pipelines/segment/grabcut.py, or pipelines/segment.py
    before the package split), each picture in a process of its own."""
    for where, name in (("pipelines/segment/grabcut.py", "grabcut_baseline.py"), ("pipelines/segment.py",
                                                                                "segment_baseline.py")):
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{where}"], capture_output=True, text=True)
        if shown.returncode == 0:
            source = shown.stdout
            break
    else:
        raise SystemExit(f"no GrabCut code at revision {rev}")
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(source)
        for name in GRABCUT_CASES:
            cmd = [sys.executable, __file__, "--_grabcut-case", name, "--_module", str(path),
                   "--grabcut-clicks", str(clicks), "--_distinct"]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
                out[name] = json.loads(done.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                out[name] = {"median_s": None, "timed_out_after_s": timeout, "clicks": 0, "answers": []}
            print(f"  baseline {name:10s} {fmt_s(out[name])}", flush=True)
    return out


def fmt_s(entry: dict) -> str:
    if entry.get("median_s") is None:
        return f"> {entry['timed_out_after_s']:g} s (killed)"
    return f"{entry['median_s']:.3f} s"


def grabcut_section(args: argparse.Namespace) -> dict:
    print(f"GrabCut, 1024x768 pictures, median s per click ({os.cpu_count()} CPUs)")
    baseline = {}
    if args.grabcut_baseline:
        baseline = baseline_grabcut(args.grabcut_baseline, args.grabcut_clicks, args.baseline_timeout)
    after = {}
    for name in GRABCUT_CASES:
        after[name] = time_grabcut(name, args.grabcut_clicks)
        before = f"   before ({args.grabcut_baseline}) {fmt_s(baseline[name]):>18s}" if baseline else ""
        print(f"  {name:10s} {fmt_s(after[name]):>10s} (max {after[name]['max_s']:.3f}, {after[name]['clicks']} "
              f"clicks){before}   {'; '.join(after[name]['answers'])[:90]}", flush=True)
    return {"clicks_per_picture": args.grabcut_clicks, "after": after,
            "baseline_rev": args.grabcut_baseline, "baseline": baseline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_b", help="SAM model type (default vit_b)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    parser.add_argument("--clicks", type=int, default=20, help="timed clicks (default 20)")
    parser.add_argument("--embeds", type=int, default=1,
                        help="timed embeddings, median (default 1; with more, or on a GPU, one untimed warm-up first)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "click_latency.json"))
    parser.add_argument("--skip-sam", action="store_true", help="time the GrabCut fallback only")
    parser.add_argument("--skip-grabcut", action="store_true", help="time SAM only")
    parser.add_argument("--sam2", default="tiny", help="SAM 2.1 sizes to time: tiny, small, comma-separated, or none")
    parser.add_argument("--grabcut-clicks", type=int, default=5, help="timed GrabCut clicks per picture (default 5)")
    parser.add_argument("--grabcut-baseline", metavar="REV", help="also time pipelines/segment.py at git revision REV")
    parser.add_argument("--baseline-timeout", type=float, default=300.0,
                        help="seconds before a baseline picture's process is killed (default 300)")
    parser.add_argument("--_grabcut-case", dest="grabcut_case", help=argparse.SUPPRESS)
    parser.add_argument("--_module", dest="module", help=argparse.SUPPRESS)
    parser.add_argument("--_distinct", dest="distinct", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.grabcut_case:  # one baseline picture, in its own process (see baseline_grabcut)
        print(json.dumps(time_grabcut(args.grabcut_case, args.grabcut_clicks, args.module, distinct=args.distinct)))
        return 0

    report: dict = {}
    if not args.skip_grabcut:
        report["grabcut"] = grabcut_section(args)
    if not args.skip_sam:
        report.update(sam_section(args))
    sizes = [x.strip() for x in args.sam2.split(",") if x.strip() and x.strip() != "none"]
    if sizes and not args.skip_sam:
        report["sam2"] = {size: sam2_section(args, size, report.get("embed_s"), report.get("click_median_s"))
                          for size in sizes}
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def sam_section(args: argparse.Namespace) -> dict:

    import torch

    from pipelines import segment as S

    device, sync, image = _torch_setup(args)

    t0 = time.perf_counter()
    sam = S.get_sam_spec(args.model).builder().to(device).eval()  # random weights: same compute as the real ones
    build_s = time.perf_counter() - t0
    seg = S.Segmenter.from_model(sam, name=args.model)

    embed_s, cold_s = embed_times(seg, image, sync, args.embeds, device.type == "cuda")

    rng = np.random.default_rng(0)
    h, w = image.shape[:2]
    points = [(float(rng.integers(0, w)), float(rng.integers(0, h))) for _ in range(args.clicks + 2)]

    def timed(call) -> tuple[float, object]:
        sync()
        start = time.perf_counter()
        out = call()
        sync()
        return time.perf_counter() - start, out

    # The bare SamPredictor.predict on the same embedding, interleaved with ours: what our layer adds.
    from segment_anything import SamPredictor

    emb = seg._embedding(sam, image, S.image_key(image))
    bare = SamPredictor(sam)
    bare.features, bare.original_size, bare.input_size = emb.features, emb.original_size, emb.input_size
    bare.is_image_set = True

    click_times, bare_times = [], []
    for k, p in enumerate(points):
        dt, _ = timed(lambda: seg.segment(image, positive=[p]))
        db, _ = timed(lambda: bare.predict(point_coords=np.array([p]), point_labels=np.array([1])))
        if k >= 2:
            click_times.append(dt)
            bare_times.append(db)

    refine_times = []
    previous = None
    clicks: list[tuple[float, float]] = []
    labels: list[int] = []
    for k, p in enumerate(points[: min(len(points), 12)]):
        clicks.append(p)
        labels.append(0 if k % 3 == 2 else 1)  # every third click is a negative one
        dt, previous = timed(
            lambda: seg.segment(image, points=clicks, labels=labels, previous=previous)
        )
        if k >= 2:
            refine_times.append(dt)
    info = seg.cache_info()
    seg.close()

    click_s = statistics.median(click_times)
    report = {
        "model": args.model,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "image": f"{w}x{h}",
        "build_s": round(build_s, 3),
        "embed_s": round(embed_s, 3),
        "embed_repeats": args.embeds,
        "first_embed_s": None if cold_s is None else round(cold_s, 3),
        "click_median_s": round(click_s, 4),
        "click_p90_s": round(float(np.percentile(click_times, 90)), 4),
        "click_min_s": round(min(click_times), 4),
        "click_max_s": round(max(click_times), 4),
        "clicks": len(click_times),
        "bare_predict_median_s": round(statistics.median(bare_times), 4),
        "refine_median_s": round(statistics.median(refine_times), 4),
        "refine_clicks": len(refine_times),
        "embed_over_click": round(embed_s / click_s, 1),
        "embeddings_computed": info.misses,
        "target_click_s": TARGET_CLICK_S,
        "meets_target": click_s <= TARGET_CLICK_S,
    }
    print(f"SAM {args.model} on {report['device_name']} ({report['torch_threads']} torch threads), {w}x{h} photo")
    print(f"  embedding (prepare)          {embed_s:8.3f} s median of {args.embeds}")
    print(f"  click, cached embedding      {click_s:8.4f} s median of {len(click_times)} "
          f"(p90 {report['click_p90_s']:.4f}, min {report['click_min_s']:.4f}, max {report['click_max_s']:.4f})")
    print(f"  bare SamPredictor.predict    {report['bare_predict_median_s']:8.4f} s median (same embedding, interleaved)")
    print(f"  refining click (mask_input)  {report['refine_median_s']:8.4f} s median of {len(refine_times)}")
    print(f"  embedding / click            {report['embed_over_click']:8.1f} x")
    print(f"  embeddings computed          {info.misses:8d}  for {info.hits} clicks on one image")
    print(f"  target <= {TARGET_CLICK_S} s per click: {'met' if report['meets_target'] else 'NOT met'}")
    return report


# ----------------------------------------------------------------------------------------------------------------
# SAM 2.1
# ----------------------------------------------------------------------------------------------------------------

SAM2_HIERA = {
    # facebook/sam2.1-hiera-{tiny,small}: the Hiera backbone's config (both at 1024 px, FPN width 256, and the
    # prompt encoder and mask decoder at transformers' Sam2Config defaults, which are these checkpoints' values)
    "tiny": dict(blocks_per_stage=[1, 2, 7, 2], global_attention_blocks=[5, 7, 9]),
    "small": dict(blocks_per_stage=[1, 2, 11, 2], global_attention_blocks=[7, 10, 13]),
}


def sam2_config(size: str):
    """The Sam2Config of facebook/sam2.1-hiera-<size>, written out (no download)."""
    from transformers import Sam2Config

    backbone = dict(
        model_type="sam2_hiera_det_model", image_size=[1024, 1024], hidden_size=96, num_attention_heads=1,
        patch_kernel_size=[7, 7], patch_stride=[4, 4], patch_padding=[3, 3], query_stride=[2, 2],
        num_query_pool_stages=3, embed_dim_per_stage=[96, 192, 384, 768], num_attention_heads_per_stage=[1, 2, 4, 8],
        window_size_per_stage=[8, 4, 14, 7], window_positional_embedding_background_size=[7, 7], mlp_ratio=4.0,
        **SAM2_HIERA[size],
    )
    return Sam2Config(
        vision_config=dict(
            backbone_config=backbone, backbone_channel_list=[768, 384, 192, 96],
            backbone_feature_sizes=[[256, 256], [128, 128], [64, 64]], fpn_hidden_size=256,
            fpn_top_down_levels=[2, 3], num_feature_levels=3,
        ),
        prompt_encoder_config=dict(hidden_size=256, image_size=1024, patch_size=16, mask_input_channels=16),
        mask_decoder_config=dict(hidden_size=256, mlp_dim=2048, num_hidden_layers=2, num_attention_heads=8,
                                 iou_head_depth=3, iou_head_hidden_dim=256),
    )


def sam2_section(args: argparse.Namespace, size: str, sam1_embed_s: float | None, sam1_click_s: float | None) -> dict:
    import torch
    from transformers import Sam2Model, Sam2Processor
    from transformers.models.sam2 import Sam2ImageProcessor

    from pipelines.segment.sam2 import Sam2Segmenter

    if size not in SAM2_HIERA:
        raise SystemExit(f"unknown SAM 2.1 size {size!r}: use {', '.join(SAM2_HIERA)}")
    device, sync, image = _torch_setup(args)

    t0 = time.perf_counter()
    model = Sam2Model(sam2_config(size)).to(device).eval()  # random weights: same compute as the real ones
    build_s = time.perf_counter() - t0
    processor = Sam2Processor(image_processor=Sam2ImageProcessor())  # 1024x1024, ImageNet mean/std
    seg = Sam2Segmenter.from_model(model, processor, name=f"hiera-{size}")

    def timed(call) -> tuple[float, object]:
        sync()
        start = time.perf_counter()
        out = call()
        sync()
        return time.perf_counter() - start, out

    embed_s, cold_s = embed_times(seg, image, sync, args.embeds, device.type == "cuda")
    rng = np.random.default_rng(0)  # the same clicks as SAM 1's
    h, w = image.shape[:2]
    points = [(float(rng.integers(0, w)), float(rng.integers(0, h))) for _ in range(args.clicks + 2)]
    click_times = []
    for k, p in enumerate(points):
        dt, _ = timed(lambda: seg.segment(image, positive=[p]))
        if k >= 2:
            click_times.append(dt)
    refine_times = []
    previous = None
    clicks: list[tuple[float, float]] = []
    labels: list[int] = []
    for k, p in enumerate(points[: min(len(points), 12)]):
        clicks.append(p)
        labels.append(0 if k % 3 == 2 else 1)
        dt, previous = timed(lambda: seg.segment(image, points=clicks, labels=labels, previous=previous))
        if k >= 2:
            refine_times.append(dt)
    info = seg.cache_info()
    seg.close()
    click_s = statistics.median(click_times)
    report = {
        "model": f"sam2.1-hiera-{size}",
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "image": f"{w}x{h}",
        "build_s": round(build_s, 3),
        "embed_s": round(embed_s, 3),
        "embed_repeats": args.embeds,
        "first_embed_s": None if cold_s is None else round(cold_s, 3),
        "click_median_s": round(click_s, 4),
        "click_p90_s": round(float(np.percentile(click_times, 90)), 4),
        "clicks": len(click_times),
        "refine_median_s": round(statistics.median(refine_times), 4),
        "embeddings_computed": info.misses,
        "embed_vs_sam1": round(embed_s / sam1_embed_s, 3) if sam1_embed_s else None,
        "click_vs_sam1": round(click_s / sam1_click_s, 3) if sam1_click_s else None,
        "meets_target": click_s <= TARGET_CLICK_S and (sam1_embed_s is None or embed_s <= 0.25 * sam1_embed_s),
    }
    print(f"SAM 2.1 hiera-{size} ({report['parameters_m']} M parameters, random weights), {w}x{h} photo")
    print(f"  embedding (prepare)          {embed_s:8.3f} s median of {args.embeds}" +
          (f"   = {report['embed_vs_sam1']:.2f}x SAM 1 {args.model}" if sam1_embed_s else ""))
    print(f"  click, cached embedding      {click_s:8.4f} s median of {len(click_times)} (p90 {report['click_p90_s']:.4f})"
          + (f"   = {report['click_vs_sam1']:.2f}x SAM 1" if sam1_click_s else ""))
    print(f"  refining click (mask_input)  {report['refine_median_s']:8.4f} s median of {len(refine_times)}")
    print(f"  embeddings computed          {info.misses:8d}")
    print(f"  targets (embedding <= 0.25x vit_b, click <= {TARGET_CLICK_S} s): "
          f"{'met' if report['meets_target'] else 'NOT met'}")
    return report


if __name__ == "__main__":
    sys.exit(main())
