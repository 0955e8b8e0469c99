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
Prints the figures and the embed/click ratio; writes JSON to bench/out/click_latency.json. The target (a click
<= 0.1 s on the CPU) is reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_CLICK_S = 0.1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_b", help="SAM model type (default vit_b)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    parser.add_argument("--clicks", type=int, default=20, help="timed clicks (default 20)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "click_latency.json"))
    args = parser.parse_args(argv)

    import cv2
    import torch

    from pipelines import segment as S
    from pipelines.io import load_image

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    photo = load_image(ROOT / "tests" / "data" / "segment" / "dog.jpg", keep_alpha=False)
    image = np.ascontiguousarray(cv2.resize(photo, (1024, 768), interpolation=cv2.INTER_CUBIC))

    t0 = time.perf_counter()
    sam = S.get_sam_spec(args.model).builder().to(device).eval()  # random weights: same compute as the real ones
    build_s = time.perf_counter() - t0
    seg = S.Segmenter.from_model(sam, name=args.model)

    sync()
    t0 = time.perf_counter()
    seg.prepare(image)
    sync()
    embed_s = time.perf_counter() - t0

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
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(f"SAM {args.model} on {report['device_name']} ({report['torch_threads']} torch threads), {w}x{h} photo")
    print(f"  embedding (prepare, once)    {embed_s:8.3f} s")
    print(f"  click, cached embedding      {click_s:8.4f} s median of {len(click_times)} "
          f"(p90 {report['click_p90_s']:.4f}, min {report['click_min_s']:.4f}, max {report['click_max_s']:.4f})")
    print(f"  bare SamPredictor.predict    {report['bare_predict_median_s']:8.4f} s median (same embedding, interleaved)")
    print(f"  refining click (mask_input)  {report['refine_median_s']:8.4f} s median of {len(refine_times)}")
    print(f"  embedding / click            {report['embed_over_click']:8.1f} x")
    print(f"  embeddings computed          {info.misses:8d}  for {info.hits} clicks on one image")
    print(f"  target <= {TARGET_CLICK_S} s per click: {'met' if report['meets_target'] else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
