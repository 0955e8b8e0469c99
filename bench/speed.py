"""Speed of pipelines.inpaint.inpaint against a bare diffusers call, with the real architectures at random weights.

    python bench/speed.py                 # CPU part (and the GPU part when CUDA is available)
    python bench/speed.py --skip-gpu --repeat 2

No weights are downloaded: the UNet, VAE and text encoder are built from the real configs (SD 1.5
inpainting; SDXL inpainting for the GPU part) with random weights, which costs the same compute as the
real model. The tokenizer vocabulary is a tiny one written here (token ids do not change the compute).

Measured side by side in one run (runs interleaved A, B, A, B, ...; medians compared):
  overhead  inpaint() on a 512x512 image against the bare pipeline call on the same crop (same inputs,
            model, steps, seed), CPU, 2 steps at 512x512. Target ratio <= 1.05.
  scale     the same 300 px mask on a 4096x4096 image against a 512x512 image, both through inpaint().
            Target ratio <= 1.2.
  sdxl      (--sdxl-cpu) the same overhead for SDXL inpainting at its real architecture, CPU, fp32, 1 step at
            1024x1024 (about 14 GB of memory; minutes per call on 2 cores). Target ratio <= 1.05.
  gpu       (CUDA only) end-to-end inpaint() latency, fp16, 30 steps: SD 1.5 inpainting at 512x512 and
            SDXL inpainting at 1024x1024.
Every inpaint() here runs through the engine driver (pipelines.generate.driver); the bare call's crop, mask and
size are computed by the driver's own plan. Not measured here: LaMa's real architecture (big-lama is distributed
as TorchScript only, and its FFC generator is not part of any installed library) and FLUX.1 Fill (12B parameters:
a GPU part for when one is lent).
Prints a table and writes JSON to bench/out/speed-<time>.json. Targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Component configs of the real checkpoints (stable-diffusion-v1-5/stable-diffusion-inpainting and
# diffusers/stable-diffusion-xl-1.0-inpainting-0.1), written out so that nothing is fetched.
SD15_INPAINT_UNET = {
    "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False, "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 9, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD_VAE = {
    "act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
    "sample_size": 512, "up_block_types": ["UpDecoderBlock2D"] * 4, "scaling_factor": 0.18215,
}
CLIP_L_TEXT = {
    "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
    "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu", "projection_dim": 768,
    "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
}
SD15_SCHEDULER = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
}
SDXL_INPAINT_UNET = {
    "act_fn": "silu", "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20], "block_out_channels": [320, 640, 1280],
    "center_input_sample": False, "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], "downsample_padding": 1,
    "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 9, "layers_per_block": 2, "mid_block_scale_factor": 1,
    "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "projection_class_embeddings_input_dim": 2816,
    "sample_size": 128, "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "use_linear_projection": True,
}
SDXL_VAE = dict(SD_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)
CLIP_BIGG_TEXT = {
    "hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 20, "num_hidden_layers": 32,
    "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "gelu", "projection_dim": 1280,
    "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
}
SDXL_SCHEDULER = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
    "steps_offset": 1, "timestep_spacing": "leading", "interpolation_type": "linear", "use_karras_sigmas": False,
}
PROMPT = "a wooden park bench, photo"


def tiny_tokenizer(folder: Path):
    """A CLIP tokenizer over a byte-level alphabet written to ``folder`` (no hub access)."""
    from transformers import CLIPTokenizer

    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    alphabet = [chr(c) for c in cs]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in alphabet:
            vocab.setdefault(ch + suffix, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)


def build_sd15(device: str, dtype):
    """SD 1.5 inpainting pipeline (9-channel UNet) at random weights, as a LoadedModel."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from pipelines import models

    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**SD15_INPAINT_UNET).to(dtype).eval()
        vae = AutoencoderKL(**SD_VAE).to(dtype).eval()
        text = CLIPTextModel(CLIPTextConfig(**CLIP_L_TEXT)).to(dtype).eval()
    pipe = StableDiffusionInpaintPipeline(
        unet=unet, vae=vae, text_encoder=text, tokenizer=tiny_tokenizer(Path(tempfile.mkdtemp()) / "tok"),
        scheduler=PNDMScheduler(**SD15_SCHEDULER), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return models.describe(pipe, "random:sd15-inpainting", device, dtype)


def build_sdxl(device: str, dtype):
    """SDXL inpainting pipeline (9-channel UNet) at random weights, as a LoadedModel."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from pipelines import models

    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(0)
        unet = UNet2DConditionModel(**SDXL_INPAINT_UNET).to(dtype).eval()
        vae = AutoencoderKL(**SDXL_VAE).to(dtype).eval()
        text = CLIPTextModel(CLIPTextConfig(**CLIP_L_TEXT)).to(dtype).eval()
        text_2 = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIGG_TEXT)).to(dtype).eval()
    tokenizer = tiny_tokenizer(Path(tempfile.mkdtemp()) / "tok")
    pipe = StableDiffusionXLInpaintPipeline(
        unet=unet, vae=vae, text_encoder=text, text_encoder_2=text_2, tokenizer=tokenizer, tokenizer_2=tokenizer,
        scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER), requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True,
    )
    pipe.set_progress_bar_config(disable=True)
    return models.describe(pipe, "random:sdxl-inpainting", device, dtype)


def scene(size: int, mask_px: int = 300):
    """A textured size x size photo stand-in and a mask_px-wide disc mask in it."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    image = np.stack([80 + 90 * np.sin(xx / 37.0), 110 + 70 * np.cos(yy / 53.0), 140 + 40 * np.sin((xx + yy) / 71.0)], -1)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    c = size / 2
    mask = (xx - c) ** 2 + (yy - c) ** 2 <= (mask_px / 2) ** 2
    return image, mask


def bare_inputs(model, image, mask, **kw):
    """The exact crop, mask and size inpaint() hands the pipeline for this image (computed through the driver's own
    plan, not timed)."""
    from pipelines import masks
    from pipelines.generate import driver
    from pipelines.generate.diffusion import DiffusionEngine
    from pipelines.generate.prepare import DEFAULT_GROW, prepare

    prep = prepare(image, mask, kw.get("grow", DEFAULT_GROW))
    (crop,) = driver.plan_crops(prep.mask, DiffusionEngine(model))
    x0, y0, x1, y1 = crop.box
    pixels = driver.resize_image(prep.rgb[y0:y1, x0:x1], crop.size)
    crop_mask = masks.grow(driver.resize_mask(crop.group[y0:y1, x0:x1], crop.size), model.vae_scale_factor)
    return pixels, crop_mask, crop.box, crop.size


def bare_call(model, crop, crop_mask, steps, guidance, seed, strength=1.0, batch=1):
    """A plain diffusers call: the baseline for the overhead ratio (strength as inpaint() passes it: the SDXL
    pipeline's own default, 0.9999, would leave no step at 1 step); ``batch`` images of the crop at once."""
    import torch
    from PIL import Image

    return model.pipe(
        prompt=PROMPT, image=Image.fromarray(crop), mask_image=Image.fromarray(crop_mask.astype(np.uint8) * 255),
        height=crop.shape[0], width=crop.shape[1], num_inference_steps=steps, guidance_scale=guidance,
        strength=strength, num_images_per_prompt=batch,
        generator=torch.Generator(device="cpu").manual_seed(seed), output_type="np",
    ).images[0]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


CPU_TIMES: dict = {}
"""label -> process CPU seconds of each timed run (all threads): steadier than wall time on a shared machine."""


def timed(fn, label: str = ""):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if _cuda():
        import torch

        torch.cuda.synchronize()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    if label:
        CPU_TIMES.setdefault(label, []).append(cpu)
        log(f"{label}: {elapsed:.2f} s wall, {cpu:.2f} s process CPU")
    return elapsed, out


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def interleaved(fns: dict, repeat: int) -> tuple[dict, dict]:
    """Run every function once per round, ``repeat`` rounds (A, B, C, A, B, C, ...); times and last outputs."""
    times: dict = {name: [] for name in fns}
    outs: dict = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            t, outs[name] = timed(fn, name)
            times[name].append(t)
    return times, outs


def cpu_part(repeat: int, steps: int, guidance: float, rows: list, detail: dict, warmup: bool = True) -> None:
    import torch

    from pipelines.inpaint import inpaint

    t0 = time.perf_counter()
    model = build_sd15("cpu", torch.float32)
    detail["cpu_build_s"] = time.perf_counter() - t0
    log(f"built SD 1.5 inpainting at random weights in {detail['cpu_build_s']:.1f} s")
    small, small_mask = scene(512)
    big, big_mask = scene(4096)
    crop, crop_mask, box, size = bare_inputs(model, small, small_mask)
    kw = dict(model=model, steps=steps, guidance=guidance, seed=0)
    if warmup:  # first-call allocations and lazy inits, not counted
        timed(lambda: inpaint(small, small_mask, PROMPT, **kw), "warm-up inpaint() 512")

    times, outs = interleaved(
        {
            "inpaint() 512": lambda: inpaint(small, small_mask, PROMPT, **kw),
            "bare pipeline call": lambda: bare_call(model, crop, crop_mask, steps, guidance, 0),
            "inpaint() 4096": lambda: inpaint(big, big_mask, PROMPT, **kw),
        },
        repeat,
    )
    ours, big_res = outs["inpaint() 512"], outs["inpaint() 4096"]
    assert ours.boxes == [box] and ours.sizes == [size], (ours.boxes, box, ours.sizes, size)
    setup = f"512x512 image, crop {box_str(box)} -> {size[0]}x{size[1]}, {steps} steps"
    for clock, t in (("wall", times), ("process CPU", CPU_TIMES)):
        rows.append(_row(f"overhead ({clock}): inpaint() vs bare call", "cpu", setup,
                         t["inpaint() 512"], t["bare pipeline call"], 1.05))
    setup = f"crops {box_str(big_res.boxes[0])} vs {box_str(ours.boxes[0])}, {steps} steps"
    for clock, t in (("wall", times), ("process CPU", CPU_TIMES)):
        rows.append(_row(f"scale ({clock}): 300 px mask 4096^2 vs 512^2", "cpu", setup,
                         t["inpaint() 4096"], t["inpaint() 512"], 1.2))
    detail["stage_timings_last"] = {"512": ours.timings, "4096": big_res.timings}
    model.pipe = None
    del model


def sdxl_cpu_part(repeat: int, steps: int, guidance: float, rows: list, detail: dict, warmup: bool = True) -> None:
    """inpaint() against the bare call with SDXL inpainting at random weights on the CPU (fp32)."""
    import torch

    from pipelines.inpaint import inpaint

    t0 = time.perf_counter()
    model = build_sdxl("cpu", torch.float32)
    detail["sdxl_cpu_build_s"] = time.perf_counter() - t0
    log(f"built SDXL inpainting at random weights in {detail['sdxl_cpu_build_s']:.1f} s")
    image, mask = scene(1024, mask_px=400)
    crop, crop_mask, box, size = bare_inputs(model, image, mask)
    kw = dict(model=model, steps=steps, guidance=guidance, seed=0)
    if warmup:
        timed(lambda: inpaint(image, mask, PROMPT, **kw), "warm-up SDXL inpaint() 1024")
    times, outs = interleaved(
        {
            "SDXL inpaint() 1024": lambda: inpaint(image, mask, PROMPT, **kw),
            "SDXL bare pipeline call": lambda: bare_call(model, crop, crop_mask, steps, guidance, 0),
        },
        repeat,
    )
    ours = outs["SDXL inpaint() 1024"]
    assert ours.boxes == [box] and ours.sizes == [size], (ours.boxes, box, ours.sizes, size)
    setup = f"1024x1024 image, crop {box_str(box)} -> {size[0]}x{size[1]}, {steps} step(s), fp32"
    for clock, t in (("wall", times), ("process CPU", CPU_TIMES)):
        rows.append(_row(f"SDXL overhead ({clock}): inpaint() vs bare", "cpu", setup,
                         t["SDXL inpaint() 1024"], t["SDXL bare pipeline call"], 1.05))
    detail["sdxl_stage_timings_last"] = ours.timings
    model.pipe = None
    del model


def gpu_part(repeat: int, rows: list, detail: dict, batch: int = 4, device: str = "cuda",
             which: tuple[str, ...] = ("sd15", "sdxl")) -> None:
    """fp16, 30 steps, guidance 7.5 on the GPU: inpaint() against the bare call on the same crop (interleaved), and
    the bare call with ``batch`` crops of one shape at once (num_images_per_prompt), whose time / batch is the
    GPU-seconds per crop a batch job pays."""
    import torch

    from pipelines.inpaint import inpaint

    cuda = device.startswith("cuda")
    detail["gpu"] = torch.cuda.get_device_name(0) if cuda else f"{device} (smoke)"
    for key, name, build, size in (("sd15", "SD 1.5 inpainting", build_sd15, 512),
                                   ("sdxl", "SDXL inpainting", build_sdxl, 1024)):
        if key not in which:
            continue
        t0 = time.perf_counter()
        model = build(device, torch.float16 if cuda else torch.float32)
        detail[f"gpu_build_s_{size}"] = round(time.perf_counter() - t0, 1)
        image, mask = scene(size, mask_px=int(size * 0.6))
        crop, crop_mask, box, csize = bare_inputs(model, image, mask)
        kw = dict(model=model, steps=30, guidance=7.5, seed=0)
        timed(lambda: inpaint(image, mask, PROMPT, **kw), f"warm-up {name}")
        timed(lambda: bare_call(model, crop, crop_mask, 30, 7.5, 0), f"warm-up bare {name}")
        times, outs = interleaved(
            {
                f"{name} inpaint()": lambda: inpaint(image, mask, PROMPT, **kw),
                f"{name} bare call": lambda: bare_call(model, crop, crop_mask, 30, 7.5, 0),
                f"{name} bare x{batch}": lambda: bare_call(model, crop, crop_mask, 30, 7.5, 0, batch=batch),
            },
            repeat,
        )
        res = outs[f"{name} inpaint()"]
        assert res.boxes == [box] and res.sizes == [csize], (res.boxes, box, res.sizes, csize)
        setup = f"{size}x{size} image, crop {box_str(box)} -> {csize[0]}x{csize[1]}, 30 steps, fp16, guidance 7.5"
        rows.append(_row(f"gpu overhead: {name} inpaint() vs bare", detail["gpu"], setup,
                         times[f"{name} inpaint()"], times[f"{name} bare call"], 1.05))
        per_crop = [t / batch for t in times[f"{name} bare x{batch}"]]
        rows.append(_row(f"gpu per crop, batch {batch} vs 1: {name}", detail["gpu"], setup,
                         per_crop, times[f"{name} bare call"], None))
        detail[f"gpu_stage_timings_{size}"] = res.timings
        model.pipe = None
        del model
        if cuda:
            detail[f"gpu_peak_memory_gb_{size}"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


def box_str(box) -> str:
    x0, y0, x1, y1 = box
    return f"{x1 - x0}x{y1 - y0}"


def _row(name, device, setup, ours, base, limit) -> dict:
    med = statistics.median(ours)
    row = {"name": name, "device": device, "setup": setup, "ours_s": ours, "ours_median_s": med}
    if base is not None:
        bmed = statistics.median(base)
        row.update(baseline_s=base, baseline_median_s=bmed, ratio=med / bmed, limit=limit)
        if limit is not None:
            row["within"] = med / bmed <= limit
    return row


def print_table(rows: list) -> None:
    print(f"{'measurement':46} {'device':10} {'ours s':>9} {'baseline s':>11} {'ratio':>7} {'limit':>6}  setup")
    for r in rows:
        base = f"{r['baseline_median_s']:11.2f}" if "baseline_median_s" in r else f"{'-':>11}"
        ratio = f"{r['ratio']:7.3f}" if "ratio" in r else f"{'-':>7}"
        limit = f"{r['limit']:6.2f}" if r.get("limit") else f"{'-':>6}"
        flag = "" if "within" not in r else ("  ok" if r["within"] else "  OVER")
        print(f"{r['name']:46} {str(r['device'])[:10]:10} {r['ours_median_s']:9.2f} {base} {ratio} {limit}  "
              f"{r['setup']}{flag}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per side (interleaved); medians compared")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps for the CPU part (default 2)")
    parser.add_argument("--guidance", type=float, default=7.5, help="guidance for the CPU part (7.5: batch of 2)")
    parser.add_argument("--no-warmup", action="store_true", help="CPU parts: skip the untimed warm-up run")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-gpu", action="store_true")
    parser.add_argument("--sdxl-cpu", action="store_true",
                        help="also SDXL inpainting on the CPU at its real architecture (1 step, ~14 GB, slow)")
    parser.add_argument("--gpu-models", default="sd15,sdxl", help="GPU part: sd15, sdxl or both (default)")
    parser.add_argument("--gpu-batch", type=int, default=4, help="GPU part: crops per batched call (default 4)")
    parser.add_argument("--gpu-device", default="cuda", help=argparse.SUPPRESS)  # cpu: a smoke run of the GPU part
    parser.add_argument("--smoke", action="store_true",
                        help="tiny stand-in architectures: checks the script runs, measures nothing meaningful")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"), help="folder for the JSON")
    args = parser.parse_args(argv)

    import torch

    if args.smoke:
        SD15_INPAINT_UNET.update(block_out_channels=[32, 64], down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
                                 up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"], cross_attention_dim=32,
                                 sample_size=32, attention_head_dim=8)
        SD_VAE.update(block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D"] * 2,
                      up_block_types=["UpDecoderBlock2D"] * 2)
        CLIP_L_TEXT.update(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                           vocab_size=1000, projection_dim=32)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list = []
    detail: dict = {
        "python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "machine": platform.machine(),
    }
    import diffusers

    detail["diffusers"] = diffusers.__version__
    t0 = time.perf_counter()
    if not args.skip_cpu:
        cpu_part(args.repeat, args.steps, args.guidance, rows, detail, warmup=not args.no_warmup)
        detail["load_average_after_cpu_part"] = os.getloadavg()
    if args.sdxl_cpu:
        sdxl_cpu_part(args.repeat, 1, args.guidance, rows, detail, warmup=not args.no_warmup)
    if not args.skip_gpu:
        if torch.cuda.is_available() or not args.gpu_device.startswith("cuda"):
            gpu_part(args.repeat, rows, detail, batch=args.gpu_batch, device=args.gpu_device,
                     which=tuple(x.strip() for x in args.gpu_models.split(",")))
        else:
            detail["gpu"] = "not measured: CUDA is not available on this machine"
            print("GPU part skipped: CUDA is not available here (figures not measured)")
    detail["wall_s"] = time.perf_counter() - t0

    print_table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"speed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"rows": rows, "detail": detail}, indent=2, default=str), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
