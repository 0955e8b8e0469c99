"""Tiny, seeded Stable Diffusion inpainting pipelines built from configs, for tests (no downloads).

The component configs follow diffusers' own inpainting tests (tests/pipelines/stable_diffusion/
test_stable_diffusion_inpaint.py); the CLIP tokenizer's vocabulary is written here instead of being
fetched from the hub. ``save_tiny_pipeline`` writes a diffusers folder with ``save_pretrained`` so that
tests load it back through the same code path a user's model takes (pipelines.models.load_model).

Sizes: UNet sample_size 32 and a VAE with two blocks (scale factor 2) give a native resolution of
64x64 pixels; one denoising step takes a few milliseconds on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_NATIVE = 64
"""Native resolution (pixels) of the tiny pipelines: unet sample_size 32 x vae scale factor 2."""


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-level alphabet: every byte maps to one printable unicode character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_tiny_clip_vocabulary(folder: str | Path) -> Path:
    """Write vocab.json and merges.txt of a tiny CLIP BPE vocabulary (< 600 tokens) into ``folder``.

    Every byte is a token, alone and word-final (``</w>``), so any text tokenizes; a few merges make
    common words ("a cat", "the sky", "photo") multi-character tokens.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    alphabet = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in alphabet:
        vocab.setdefault(ch, len(vocab))
    for ch in alphabet:
        vocab.setdefault(ch + "</w>", len(vocab))
    merges = ["c a", "ca t</w>", "t h", "th e</w>", "s k", "sk y</w>", "p h", "ph o", "pho t", "phot o</w>"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return folder


def tiny_components(in_channels: int = 9, seed: int = 0, vocab_folder: str | Path | None = None) -> dict:
    """Components of a tiny SD inpainting pipeline: UNet with ``in_channels`` (9 inpainting, 4 base).

    Weights are drawn from a local seed (torch.manual_seed inside a fork_rng block, so the caller's global
    generator is untouched). ``vocab_folder`` is where the tokenizer vocabulary is written (a temp folder).
    """
    import tempfile

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=2,
            sample_size=32,
            in_channels=in_channels,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
        )
        vae = AutoencoderKL(
            block_out_channels=[32, 64],
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
            latent_channels=4,
            sample_size=TINY_NATIVE,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
                hidden_size=32,
                intermediate_size=37,
                layer_norm_eps=1e-05,
                num_attention_heads=4,
                num_hidden_layers=5,
                vocab_size=1000,
                max_position_embeddings=77,
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    if vocab_folder is None:
        vocab_folder = tempfile.mkdtemp(prefix="tiny_clip_vocab_")
    tokenizer = CLIPTokenizer.from_pretrained(str(write_tiny_clip_vocabulary(vocab_folder)), model_max_length=77)
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
        "scheduler": scheduler,
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def save_tiny_pipeline(
    folder: str | Path, in_channels: int = 9, seed: int = 0, pipeline_class: str = "StableDiffusionInpaintPipeline"
) -> Path:
    """Build a tiny pipeline and save it as a diffusers folder; returns the folder.

    ``pipeline_class="StableDiffusionPipeline"`` (with in_channels=4) saves a text-to-image base model folder,
    the way SD 1.5 base ships, which the loader must open as an inpainting pipeline.
    """
    import diffusers

    folder = Path(folder)
    components = tiny_components(in_channels=in_channels, seed=seed, vocab_folder=folder.parent / f"{folder.name}_vocab")
    pipe = getattr(diffusers, pipeline_class)(**components, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


_BUILT: dict[int, Path] = {}


def tiny_pipeline_folder(tmp_path_factory, in_channels: int = 9) -> Path:
    """The saved tiny pipeline for ``in_channels``, built once per test session (shared across modules)."""
    if in_channels not in _BUILT:
        root = tmp_path_factory.mktemp(f"tiny_sd{in_channels}")
        _BUILT[in_channels] = save_tiny_pipeline(root / "pipeline", in_channels=in_channels)
    return _BUILT[in_channels]
