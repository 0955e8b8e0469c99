"""Tiny, seeded SDXL inpainting pipelines built from configs, for tests (no downloads).

The component configs follow diffusers' SDXL inpainting tests (shallower: one layer per block, two text encoder
layers, a narrower VAE, for speed on a shared CPU): a UNet with SDXL's added conditioning
(addition_embed_type "text_time": the pooled prompt of the second text encoder and the six micro-conditioning
numbers original_size + crops_coords_top_left + target_size, 8 dims each: 32 + 6 x 8 = 80), two CLIP text encoders
(CLIPTextModel and CLIPTextModelWithProjection, hidden 32 each, concatenated to the UNet's cross-attention 64),
their tokenizers (vocabulary written by tiny_models.write_tiny_clip_vocabulary), a two-block VAE (scale factor 2)
and EulerDiscreteScheduler as SDXL ships. ``save_tiny_sdxl`` writes a diffusers folder with ``save_pretrained`` so
tests load it through the loader a user's model takes.

Native size: UNet sample_size 32 x VAE scale factor 2 = 64 px.
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import write_tiny_clip_vocabulary

TINY_SDXL_NATIVE = 64
"""Native resolution (pixels) of the tiny SDXL pipelines: unet sample_size 32 x vae scale factor 2."""


def tiny_sdxl_components(in_channels: int = 9, seed: int = 0, vocab_folder: str | Path | None = None) -> dict:
    """Components of a tiny SDXL inpainting pipeline with a UNet of ``in_channels`` (9 inpainting, 4 base); weights
    from a local seed (fork_rng: the caller's global generator is untouched)."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=32,
            in_channels=in_channels,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            transformer_layers_per_block=1,
            projection_class_embeddings_input_dim=80,  # pooled 32 + 6 micro-conditioning numbers x 8
            cross_attention_dim=64,  # the two text encoders' hidden states side by side
        )
        vae = AutoencoderKL(
            block_out_channels=[16, 32],
            norm_num_groups=8,
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
            latent_channels=4,
            sample_size=128,
            scaling_factor=0.13025,  # SDXL's VAE
        )
        config = dict(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
            layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
            max_position_embeddings=77, hidden_act="gelu", projection_dim=32,
        )
        text_encoder = CLIPTextModel(CLIPTextConfig(**config))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**config))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="leading",
    )
    if vocab_folder is None:
        vocab_folder = tempfile.mkdtemp(prefix="tiny_sdxl_vocab_")
    vocab = str(write_tiny_clip_vocabulary(vocab_folder))
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "text_encoder_2": text_encoder_2.eval(),
        "tokenizer": CLIPTokenizer.from_pretrained(vocab, model_max_length=77),
        "tokenizer_2": CLIPTokenizer.from_pretrained(vocab, model_max_length=77),
        "scheduler": scheduler,
        "image_encoder": None,
        "feature_extractor": None,
    }


def save_tiny_sdxl(folder: str | Path, in_channels: int = 9, seed: int = 0,
                   pipeline_class: str = "StableDiffusionXLInpaintPipeline") -> Path:
    """Build a tiny SDXL pipeline and save it as a diffusers folder; returns the folder.

    ``pipeline_class="StableDiffusionXLPipeline"`` (with in_channels=4) saves a text-to-image base model folder,
    the way SDXL base ships, which the loader must open as an inpainting pipeline (blended latent diffusion).
    """
    import diffusers

    folder = Path(folder)
    components = tiny_sdxl_components(in_channels, seed, vocab_folder=folder.parent / f"{folder.name}_vocab")
    getattr(diffusers, pipeline_class)(**components).save_pretrained(folder, safe_serialization=True)
    return folder
