"""The inpainting app: `python app.py` opens it. Thin: flags, build the Blocks (editor.layout), launch.

Nothing is loaded at import or at start: diffusion models load on the first Inpaint (a failure is a one-line
message suggesting the classical engine), the segmenter on the first uploaded photo.
"""

from __future__ import annotations

import argparse

import logging

from editor.state import ENGINES, AppConfig


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Inpainting app with excellent boundaries (Gradio).")
    p.add_argument("--model", default=None,
                   help="diffusion model: hub id, local diffusers folder or .safetensors (default: SD 1.5 inpainting)")
    p.add_argument("--engine", default="auto", choices=("auto",) + ENGINES,
                   help="default engine in the UI; auto = diffusers when the model is available locally, else telea")
    p.add_argument("--sam-model", default="vit_b", help="SAM model type (vit_b, vit_l, vit_h)")
    p.add_argument("--sam-checkpoint", default=None, help="local SAM checkpoint file (without one: GrabCut fallback "
                                                          "unless a checkpoint is already in the cache)")
    p.add_argument("--segmenter", default="auto", choices=("auto", "sam2", "sam", "sam-hq", "grabcut"),
                   help="auto = SAM 2.1 or SAM when their weights are on disk, else the GrabCut fallback; sam2 / sam "
                        "may download once")
    p.add_argument("--sam2-model", default=None,
                   help="SAM 2.1 hub id or folder for --segmenter sam2 (default facebook/sam2.1-hiera-tiny)")
    p.add_argument("--text-model", default=None,
                   help="Grounding DINO hub id or folder for Select by text (default IDEA-Research/grounding-dino-tiny)")
    p.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    p.add_argument("--concurrency", type=int, default=1, help="generation jobs at once (concurrency_id 'gpu')")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for the network)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    p.add_argument("--allow-custom-models", action="store_true",
                   help="let visitors type any hub id or path (always allowed when serving only localhost)")
    p.add_argument("--allow-downloads", action="store_true",
                   help="let visitors' requests download models not yet on disk (always allowed on localhost)")
    p.add_argument("--max-file-size", default="200mb", help="largest upload accepted (default 200mb)")
    return p.parse_args(argv)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """The app's configuration. Served beyond localhost (or shared), visitors may neither type their own model ids
    nor trigger downloads unless the operator allows it with --allow-custom-models / --allow-downloads."""
    local = args.host in LOOPBACK and not args.share
    return AppConfig(model=args.model, engine=args.engine, sam_model=args.sam_model,
                     sam_checkpoint=args.sam_checkpoint, sam2_model=args.sam2_model, segmenter=args.segmenter, device=args.device,
                     concurrency=args.concurrency, allow_custom_models=local or args.allow_custom_models,
                     allow_downloads=local or args.allow_downloads, text_model=args.text_model)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from editor.layout import CSS, build_demo

    demo = build_demo(config_from_args(args))
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, css=CSS,
                max_file_size=args.max_file_size)


if __name__ == "__main__":
    main()
