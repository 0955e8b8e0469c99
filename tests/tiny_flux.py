"""A tiny, seeded FLUX.1 Fill pipeline built from configs, for tests (no downloads).

The structure is FLUX.1-Fill-dev's, shrunk in width and depth only: an AutoencoderKL with 16 latent channels and
four blocks (scale factor 8, so the pipeline's native size is 128 x 8 = 1024 px as for the real model), a
FluxTransformer2DModel whose input is the real 384 channels (packed 2x2: noisy latents 16 x 4 = 64, masked-image
latents 64, the pixel mask 8 x 8 x 4 = 256) with 64 output channels and guidance embedding, CLIPTextModel +
CLIPTokenizer (the pooled prompt), T5EncoderModel + T5TokenizerFast (the sequence prompt) and
FlowMatchEulerDiscreteScheduler with FLUX's dynamic shifting. Both tokenizers' vocabularies are written here
(tiny_models.write_tiny_clip_vocabulary, TINY_T5_PIECES); ``save_tiny_flux_fill`` writes a diffusers folder with
``save_pretrained`` so tests load it through the same loader a user's model takes.

What is shrunk for speed: channel widths (4 in the VAE, 32 in the transformer and text encoders), one double-stream
and one single-stream transformer block, no attention in the VAE's mid block, and the T5 context
(``max_sequence_length`` stays the pipeline's 512 tokens; the encoder is 2 layers of width 32).
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import write_tiny_clip_vocabulary

TINY_FLUX_NATIVE = 1024
"""Native size of the tiny pipeline: FluxFillPipeline.default_sample_size (128) x the VAE's scale factor (8)."""
TINY_FLUX_IN_CHANNELS = 384
"""The transformer's input channels, as FLUX.1-Fill-dev's: 16 x 4 (latents) + 16 x 4 (masked image) + 8 x 8 x 4."""

TINY_T5_PIECES = (
    ["<pad>", "</s>", "<unk>", "\u2581"]
    + [chr(c) for c in range(33, 127)]
    + ["\u2581" + chr(c) for c in range(33, 127)]
    + ["\u2581a", "\u2581the", "\u2581red", "\u2581brick", "\u2581wall", "\u2581cat", "\u2581sky", "\u2581photo"]
)
"""The tiny T5 (Unigram) vocabulary: the three specials, the word-start marker, every printable ASCII character
alone and word-initial (so any ASCII text tokenizes), and a few whole words."""


def write_tiny_t5_tokenizer(folder: str | Path):
    """Write a T5TokenizerFast with the TINY_T5_PIECES Unigram vocabulary into ``folder`` (tokenizer.json and its
    config, no sentencepiece model) and load it back from there; returns the tokenizer."""
    from transformers import T5TokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # scores: longer pieces are likelier, so whole words win over their letters
    vocab = [(p, 0.0) for p in TINY_T5_PIECES[:3]] + [(p, -10.0 + len(p)) for p in TINY_T5_PIECES[3:]]
    T5TokenizerFast(vocab=vocab, extra_ids=0).save_pretrained(folder)
    return T5TokenizerFast.from_pretrained(folder)


def tiny_flux_fill_components(seed: int = 0, vocab_folder: str | Path | None = None) -> dict:
    """The components of a tiny FluxFillPipeline (see the module docstring), weights drawn from a local seed
    (fork_rng: the caller's global generator is untouched). Tokenizer vocabularies go to ``vocab_folder``."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel

    if vocab_folder is None:
        vocab_folder = tempfile.mkdtemp(prefix="tiny_flux_vocab_")
    vocab_folder = Path(vocab_folder)
    latent_channels, scale = 16, 8
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=4 * latent_channels + 4 * latent_channels + 4 * scale * scale,
            out_channels=4 * latent_channels,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            guidance_embeds=True,
            axes_dims_rope=(4, 6, 6),
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            block_out_channels=[4, 4, 4, 4],
            layers_per_block=1,
            latent_channels=latent_channels,
            norm_num_groups=2,
            sample_size=TINY_FLUX_NATIVE,
            scaling_factor=0.3611,
            shift_factor=0.1159,
            use_quant_conv=False,
            use_post_quant_conv=False,
            mid_block_add_attention=False,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
                max_position_embeddings=77,
            )
        )
        text_encoder_2 = T5EncoderModel(
            T5Config(
                vocab_size=256, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
            )
        )
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096,
    )
    tokenizer = CLIPTokenizer.from_pretrained(str(write_tiny_clip_vocabulary(vocab_folder / "clip")),
                                              model_max_length=77)
    tokenizer_2 = write_tiny_t5_tokenizer(vocab_folder / "t5")
    return {
        "scheduler": scheduler,
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2.eval(),
        "tokenizer_2": tokenizer_2,
        "transformer": transformer.eval(),
    }


def save_tiny_flux_fill(folder: str | Path, seed: int = 0) -> Path:
    """Build the tiny FluxFillPipeline and save it as a diffusers folder (model_index.json names FluxFillPipeline);
    returns the folder."""
    from diffusers import FluxFillPipeline

    folder = Path(folder)
    components = tiny_flux_fill_components(seed=seed, vocab_folder=folder.parent / f"{folder.name}_vocab")
    FluxFillPipeline(**components).save_pretrained(folder, safe_serialization=True)
    return folder
