"""``python -m pipelines models``: the engines and model presets, their native size, licence, download size and
whether their weights are on this machine; ``--download ID`` fetches a preset's weights once, with progress.

    python -m pipelines models                 # a table
    python -m pipelines models --json          # one JSON object: {"presets": [...]}
    python -m pipelines models --download lama

A preset id works wherever a model is taken (``inpaint --model sdxl-inpaint``).
"""

from __future__ import annotations

import argparse
import json

HELP = "list the engines and model presets (size, licence, on disk?) or download one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--download", metavar="ID", default=None,
                        help="fetch a preset's weights now (with progress) instead of on first use")


def run(args: argparse.Namespace) -> int:
    from ..generate import registry

    if args.download:
        preset = registry.preset(args.download)
        _download(preset)
    table = registry.rows()
    if args.json:
        print(json.dumps({"presets": table}))
        return 0
    header = f"{'id':<20}{'engine':<10}{'native':>7}  {'GB':>5}  {'on disk':<8}{'use':<24}licence"
    print(header)
    for row in table:
        native = str(row["native_size"] or "-")
        print(f"{row['id']:<20}{row['engine']:<10}{native:>7}  {row['download_gb']:>5.1f}  "
              f"{'yes' if row['on_disk'] else 'no':<8}{','.join(row['use']):<24}{row['licence']}")
    print("\nsizes are approximate downloads; pass an id as --model, or --download ID to fetch it now")
    return 0


def _download(preset) -> None:
    """Fetch a preset's weights into the caches the engines read (the Hugging Face cache; the weights folder for
    single files), printing progress on stderr."""
    from ..errors import UserError

    if preset.source is None:
        return  # nothing to fetch
    if preset.engine == "lama":
        from ..generate.lama import download_weights

        download_weights(preset)
        return
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    ids = [preset.source] + [v for k, v in preset.extra.items() if k in ("controlnet", "depth_model")]
    for repo_id in ids:
        try:
            snapshot_download(repo_id)
        except HfHubHTTPError as exc:
            raise UserError(f"could not download {repo_id}: {str(exc).splitlines()[0]} (gated models need "
                            "`huggingface-cli login` with the licence accepted)") from None
