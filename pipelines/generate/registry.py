"""The engines and model presets this build knows: what each is for, its native size, licence and download size,
and whether its weights are on this machine.

    preset("flux-fill").source        # "black-forest-labs/FLUX.1-Fill-dev"
    resolve_model("sdxl-inpaint")     # a preset id becomes its hub id; anything else is returned unchanged
    rows()                            # one dict per preset, with "on_disk", for the app and `python -m pipelines models`

A preset is a name a user can pass wherever a model is taken (--model, the app's model box). Sizes are the
download of the weights the engine loads (the hub repository's files for that use, rounded), for planning disk and
bandwidth; "on disk" never touches the network. Licences are the model cards'; gated models need a Hugging Face
token with the licence accepted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError


@dataclass(frozen=True)
class Preset:
    """One model preset.

    id           the short name users type
    engine       the engine that runs it: "diffusers", "lama", "depth" (ControlNet depth staging), "telea", "ns"
    source       hub id (diffusers), URL (single files), or None (no weights)
    native_size  the square side the model works at (px); None: the crop's own size
    licence      the model card's licence
    download_gb  approximate download of the weights this engine loads (0 for none)
    use          what it is for: "replace", "remove", "stage", "outpaint" (several allowed)
    note         one line for the list
    extra        engine-specific: ControlNet and depth model ids, checksums
    """

    id: str
    engine: str
    source: str | None
    native_size: int | None
    licence: str
    download_gb: float
    use: tuple[str, ...]
    note: str = ""
    extra: dict = field(default_factory=dict)


PRESETS: tuple[Preset, ...] = (
    Preset("sd15-inpaint", "diffusers", "stable-diffusion-v1-5/stable-diffusion-inpainting", 512,
           "CreativeML OpenRAIL-M", 4.3, ("replace", "remove", "outpaint"),
           "SD 1.5 inpainting checkpoint (9-channel UNet); the default"),
    Preset("sdxl-inpaint", "diffusers", "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", 1024,
           "CreativeML OpenRAIL++-M", 13.9, ("replace", "remove", "outpaint"),
           "SDXL inpainting checkpoint (9-channel UNet), 1024 px"),
    Preset("sdxl-base", "diffusers", "stabilityai/stable-diffusion-xl-base-1.0", 1024,
           "CreativeML OpenRAIL++-M", 13.9, ("replace", "outpaint"),
           "SDXL base as blended latent diffusion (4-channel UNet)"),
    Preset("flux-fill", "diffusers", "black-forest-labs/FLUX.1-Fill-dev", 1024,
           "FLUX.1 [dev] Non-Commercial License (gated)", 33.5, ("replace", "outpaint"),
           "FLUX.1 Fill (FluxFillPipeline), guidance 30; its VAE's colour shift is what the seamless blend fixes"),
    Preset("lama", "lama", "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt", 512,
           "Apache-2.0", 0.2, ("remove",),
           "big-lama TorchScript (as IOPaint loads it): prompt-free removal, runs on CPU",
           {"md5": "e3aa4aaa15225a33ec84f9f4bc47e500", "filename": "big-lama.pt"}),
    Preset("depth-staging", "depth", "stable-diffusion-v1-5/stable-diffusion-inpainting", 512,
           "CreativeML OpenRAIL-M (SD 1.5, ControlNet); Apache-2.0 (Depth Anything V2 Small)", 6.0, ("stage",),
           "ControlNet depth inpainting: new furniture in the room's perspective",
           {"controlnet": "lllyasviel/control_v11f1p_sd15_depth",
            "depth_model": "depth-anything/Depth-Anything-V2-Small-hf"}),
    Preset("depth-staging-sdxl", "depth", "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", 1024,
           "CreativeML OpenRAIL++-M; Apache-2.0 (Depth Anything V2 Small)", 16.5, ("stage",),
           "ControlNet depth inpainting with SDXL",
           {"controlnet": "diffusers/controlnet-depth-sdxl-1.0",
            "depth_model": "depth-anything/Depth-Anything-V2-Small-hf"}),
    Preset("telea", "telea", None, None, "BSD (OpenCV)", 0.0, ("remove",),
           "OpenCV Telea fast-marching fill: no weights"),
    Preset("ns", "ns", None, None, "BSD (OpenCV)", 0.0, ("remove",),
           "OpenCV Navier-Stokes fill: no weights"),
)

_BY_ID = {p.id: p for p in PRESETS}


def preset(preset_id: str) -> Preset:
    """The preset called ``preset_id``; a UserError listing the ids otherwise."""
    try:
        return _BY_ID[str(preset_id).strip()]
    except KeyError:
        raise UserError(f"unknown model preset {preset_id!r}: choose one of {', '.join(_BY_ID)}") from None


def is_preset(name) -> bool:
    return isinstance(name, str) and name.strip() in _BY_ID


def resolve_model(name):
    """A diffusers preset id becomes its source (hub id); anything else (a hub id, a folder, a file, a loaded model,
    None) is returned unchanged."""
    if is_preset(name):
        p = _BY_ID[name.strip()]
        if p.engine == "diffusers":
            return p.source
    return name


def on_disk(p: Preset) -> bool:
    """Whether the preset's weights are on this machine (never goes online): always for engines without weights;
    the single file in the engine's cache folder for file URLs; the hub repository (and the ControlNet and depth
    model for "depth") in the local Hugging Face cache."""
    if p.source is None:
        return True
    if p.source.startswith(("http://", "https://")):
        return (weights_dir() / p.extra.get("filename", Path(p.source).name)).is_file()
    from .. import models

    ids = [p.source] + [v for k, v in p.extra.items() if k in ("controlnet", "depth_model")]
    return all(_hub_cached(i) if k else models.is_available_locally(i) for k, i in enumerate(ids))


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def weights_dir() -> Path:
    """Where single-file weights (LaMa) are kept: $INPAINT_APP_CACHE/weights (default ~/.cache/inpaint-app/weights)."""
    import os

    base = Path(os.environ.get("INPAINT_APP_CACHE") or Path.home() / ".cache" / "inpaint-app")
    return base / "weights"


def rows() -> list[dict]:
    """One JSON-ready dict per preset, with ``on_disk``."""
    out = []
    for p in PRESETS:
        row = asdict(p)
        row["use"] = list(p.use)
        row["on_disk"] = on_disk(p)
        out.append(row)
    return out
