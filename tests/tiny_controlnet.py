"""Tiny, seeded ControlNet and depth models built from configs, for the depth staging tests (no downloads).

- ``save_tiny_controlnet``: a ControlNetModel matching tests/tiny_models.py's SD UNet (block_out_channels (32, 64),
  cross-attention 32) or tests/tiny_sdxl.py's SDXL UNet, with a 4-channel input (a ControlNet sees the noisy
  latents, not the inpainting UNet's 9 channels) and a conditioning embedding that downsamples by 2, the tiny VAEs'
  factor. Its zero convolutions (zero at initialisation in diffusers, so an untrained ControlNet changes nothing) get small
  seeded weights, so the control image visibly steers the result.
- ``save_tiny_depth_model``: DepthAnythingForDepthEstimation with a 4-layer, 32-wide Dinov2 backbone and a
  DPTImageProcessor at 56 px (14 px patches), seeded so that its depth varies across a photo.

Both are written with save_pretrained, so the tests load them through the same code a user's folder takes.
"""

from __future__ import annotations

from pathlib import Path

DEPTH_INPUT = 56
"""The tiny depth processor's input side (px): 4 patches of 14."""


def tiny_controlnet(seed: int = 0, cross_attention_dim: int | None = None, family: str = "sd"):
    """The tiny ControlNetModel (eval mode) for tests/tiny_models.py's SD UNet (``family`` "sd") or tests/tiny_sdxl.py's
    SDXL UNet ("sdxl": one layer per block, linear projections, SDXL's "text_time" added conditioning, cross-attention
    64); weights from a local seed (the caller's global generator untouched). ``cross_attention_dim`` overrides the
    family's (a ControlNet that does not fit)."""
    import torch
    from diffusers import ControlNetModel

    if family == "sdxl":
        config = dict(
            layers_per_block=1, attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=8, transformer_layers_per_block=1, projection_class_embeddings_input_dim=80,
            cross_attention_dim=64,
        )
    else:
        config = dict(layers_per_block=2, cross_attention_dim=32)
    if cross_attention_dim is not None:
        config["cross_attention_dim"] = cross_attention_dim
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ControlNetModel(
            block_out_channels=(32, 64),
            in_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            conditioning_embedding_out_channels=(16, 32),
            **config,
        )
        with torch.no_grad():
            for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
                torch.nn.init.normal_(conv.weight, std=0.2)
                torch.nn.init.normal_(conv.bias, std=0.2)
    return net.eval()


def save_tiny_controlnet(folder: str | Path, seed: int = 0, cross_attention_dim: int | None = None,
                         family: str = "sd") -> Path:
    folder = Path(folder)
    tiny_controlnet(seed, cross_attention_dim, family).save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_depth_model(seed: int = 0):
    """(DepthAnythingForDepthEstimation, DPTImageProcessor): a tiny relative-depth model and its processor."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, DPTImageProcessor

    backbone = dict(
        model_type="dinov2", image_size=DEPTH_INPUT, patch_size=14, hidden_size=32, num_hidden_layers=4,
        num_attention_heads=2, intermediate_size=37, out_indices=[1, 2, 3, 4], reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, patch_size=14, reassemble_hidden_size=32, neck_hidden_sizes=[16, 16, 16, 16],
        fusion_hidden_size=16, head_hidden_size=8,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DepthAnythingForDepthEstimation(config)
        with torch.no_grad():  # the default init's head answers ~1e-7 everywhere: give it a spread
            for param in model.head.parameters():
                torch.nn.init.normal_(param, std=0.5)
    processor = DPTImageProcessor(
        do_resize=True, size={"height": DEPTH_INPUT, "width": DEPTH_INPUT}, keep_aspect_ratio=True,
        ensure_multiple_of=14, resample=3, do_rescale=True, do_normalize=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    )
    return model.eval(), processor


def save_tiny_depth_model(folder: str | Path, seed: int = 0) -> Path:
    folder = Path(folder)
    model, processor = tiny_depth_model(seed)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder
