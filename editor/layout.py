"""The Gradio Blocks: build_demo(config) -> gr.Blocks. Wiring only; the work is in editor.callbacks.

Concurrency: generation (inpaint, outpaint) shares concurrency_id "gpu" with the configured limit; segmentation
(a new photo's embedding, clicks, the segment API) has its own group "segment", so a click never waits behind a
30-step generation and a generation never waits behind a click; mask tools and previews are light and have their
own small group. When a tab closes, its running job is cancelled and its files removed (demo.unload); Gradio's
cache is cleaned hourly (delete_cache). Uploads arrive as files and are decoded by pipelines.io.read.

Every main action has an api_name so gradio_client can drive it: "load_photo", "inpaint", "preview",
"grow_mask", "shrink_mask", "invert_mask", "clear_mask", "upload_mask", "segment_click", "segment", "use_mask",
"feather_lab", "outpaint", "random_seed".
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from pipelines import blend

from . import callbacks as cb
from .state import ENGINES, AppConfig, Resources, Session

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "examples"
GPU = "gpu"
SEGMENT = "segment"
TOOLS = "tools"
STATE_TTL = 3 * 3600
"""Seconds a session's state (its decoded photo, last result) is kept after its last update."""

CSS = """
#seg-view img { cursor: crosshair; }
.band-legend { font-size: 0.9em; }
"""


def examples() -> list[list]:
    """Example rows (photo file, prompt, quick mode, mask file name) from assets/examples; rows whose files are
    missing are skipped. The photo goes through the same decoder as an upload and the mask is put into the editor
    as a layer made on the server."""
    rows = []
    dog, mask = ASSETS / "bench_dog.jpg", ASSETS / "bench_dog_mask.png"
    if dog.is_file() and mask.is_file():
        rows.append([str(dog), "a white cat sitting on a park bench, photo", "Replace", mask.name])
    ball = ASSETS / "remove_baseball.jpg"
    if ball.is_file():
        rows.append([str(ball), "", "Remove", ""])
    return rows


def load_example(photo, mask_name: str, session, resources, key=None):
    """The example's photo decoded into the session, with its mask (assets/examples/<mask_name>) as the layer.
    Returns (editor value, segmentation view, session, status)."""
    value, view, session, status = cb.load_photo(photo, session, resources, key)
    if mask_name:
        h, w = session.image.shape[:2]
        value = cb.editor_value(session, cb.mask_from_upload(str(ASSETS / Path(mask_name).name), (w, h)))
    return value, view, session, status


def build_demo(config: AppConfig | None = None, resources: Resources | None = None) -> gr.Blocks:
    """The app. ``config`` comes from app.py's flags; ``resources`` (the shared segmenter) is made if not given.
    Builds components only: no model is loaded and nothing is downloaded until a user asks for it."""
    config = config or AppConfig()
    resources = resources or Resources(config)
    default_engine = config.default_engine()
    model_name = config.model_name()
    device = config.device
    limit = max(1, int(config.concurrency))

    def key_of(request) -> str | None:
        return getattr(request, "session_hash", None)

    with gr.Blocks(title="Inpaint: excellent boundaries", delete_cache=(3600, 3600)) as demo:
        demo.inpaint_resources = resources  # for tests and app.py (shutdown)
        session = gr.State(Session(), time_to_live=STATE_TTL)
        gr.Markdown("## Inpaint · paint or click a mask, tune strength and feather, compare results\n"
                    "Pixels outside the mask come back byte-identical (contract-safe blends).")

        with gr.Tabs():
            # ------------------------------------------------------------------ Inpaint / Replace / Remove
            with gr.Tab("Inpaint / Replace / Remove", id="inpaint"):
                with gr.Row():
                    with gr.Column(scale=3):
                        photo = gr.File(label="Photo (PNG, JPEG, TIFF, WebP; EXIF, alpha and 16-bit kept)",
                                        file_types=["image"], type="filepath", height=90, elem_id="photo")
                        editor = gr.ImageEditor(
                            label="Mask (paint where to repaint)", type="numpy", image_mode="RGBA",
                            format="png", sources=(), transforms=(),
                            brush=gr.Brush(colors=[("#ff3b30", 0.65)], default_size=24, color_mode="fixed"),
                            eraser=gr.Eraser(default_size=24), layers=False, height=560, elem_id="editor",
                        )
                        with gr.Row():
                            grow_btn = gr.Button("Grow", size="sm")
                            shrink_btn = gr.Button("Shrink", size="sm")
                            tool_px = gr.Slider(1, 64, value=8, step=1, label="by px", scale=2)
                            invert_btn = gr.Button("Invert", size="sm")
                            clear_btn = gr.Button("Clear mask", size="sm")
                        mask_upload = gr.File(label="Upload a mask (black/white or alpha)", file_types=["image"],
                                              type="filepath", height=90, elem_id="mask-upload")
                    with gr.Column(scale=2):
                        with gr.Group():
                            seg_view = gr.Image(label="Click to segment", type="numpy", format="jpeg",
                                                interactive=False, height=360, elem_id="seg-view")
                            with gr.Row():
                                seg_mode = gr.Radio(["positive", "negative", "box"], value="positive",
                                                    label="Click mode", scale=3)
                                seg_grow = gr.Dropdown(["none", "replacement", "removal"], value="none",
                                                       label="Grow when used", scale=2)
                            candidates = gr.Radio([], label="Candidates (multimask)", type="value")
                            with gr.Row():
                                use_btn = gr.Button("Use as mask", variant="secondary", elem_id="use-mask")
                                clicks_clear = gr.Button("Clear clicks")
                            seg_status = gr.Markdown("Upload a photo to click on it.", elem_id="seg-status")
                with gr.Row():
                    with gr.Column(scale=3):
                        with gr.Row():
                            mode = gr.Radio(["Replace", "Remove"], value="Replace", label="Quick mode", scale=1)
                            engine = gr.Dropdown(list(ENGINES), value=default_engine, label="Engine", scale=1,
                                                 info="telea/ns: classical, no weights")
                            model = gr.Dropdown(config.allowed_models(), value=model_name,
                                                allow_custom_value=config.allow_custom_models,
                                                label="Model (hub id or local path)",
                                                scale=2, info="loaded on first use; a failure suggests telea")
                        prompt = gr.Textbox(label="Prompt", lines=2, placeholder="what to paint in the mask")
                        negative = gr.Textbox(label="Negative prompt", lines=1)
                        with gr.Row():
                            strength = gr.Slider(0.05, 1.0, value=1.0, step=0.01, label="Strength")
                            feather = gr.Slider(-1, 64, value=-1, step=1, label="Feather px (-1 = method default)")
                            grow = gr.Slider(0, 64, value=0, step=1, label="Growth px (0 = the mask as painted)")
                        with gr.Row():
                            steps = gr.Slider(1, 100, value=30, step=1, label="Steps")
                            guidance = gr.Slider(0.0, 20.0, value=7.5, step=0.5, label="Guidance")
                            variants = gr.Slider(1, 4, value=1, step=1, label="Variants")
                        with gr.Row():
                            seed = gr.Number(value=-1, precision=0, label="Seed (-1 = random)")
                            seed_btn = gr.Button("🎲 Random seed", size="sm")
                            method = gr.Dropdown([m for m in blend.METHODS if m in blend.CONTRACT_SAFE],
                                                 value="seamless", label="Blend method")
                        with gr.Row():
                            preview_btn = gr.Button("Preview blend band")
                            run_btn = gr.Button("Inpaint", variant="primary", elem_id="run")
                            stop_btn = gr.Button("Stop", variant="stop")
                    with gr.Column(scale=2):
                        band = gr.Image(label="Blend band: red mask · yellow growth · blue feather", type="numpy",
                                        format="jpeg", interactive=False, height=300)
                rows = examples() if config.examples else []
                if rows:
                    example_mask = gr.Textbox(visible=False, label="example mask")

                    @cb.user_errors
                    def _on_example(ph, p, m, mask_name, request: gr.Request):
                        return load_example(ph, mask_name, None, resources, key_of(request))  # a fresh session

                    gr.Examples(rows, inputs=[photo, prompt, mode, example_mask],
                                outputs=[editor, seg_view, session, seg_status], fn=_on_example, run_on_click=True,
                                cache_examples=False, visible_columns=[1, 2],
                                label="Examples (click one to load photo, mask and prompt)")
                gr.Markdown("### Results")
                info = gr.Markdown(elem_id="info")
                with gr.Row():
                    slider = gr.ImageSlider(label="Before / after (preview; the download is lossless)", type="numpy",
                                            format="jpeg", elem_id="slider")
                    heat = gr.Image(label=f"Difference x{cb.HEATMAP_GAIN:g} (black = unchanged)", type="numpy",
                                    format="png", interactive=False, elem_id="heatmap")
                gallery = gr.Gallery(label="Variants, ranked by seam score (best first)", format="jpeg", columns=4,
                                     height=300, object_fit="contain", elem_id="variants")
                with gr.Row():
                    result_file = gr.File(label="Result (lossless PNG)", elem_id="result-file")
                    mask_file = gr.File(label="Mask (PNG)", elem_id="mask-file")


            # ------------------------------------------------------------------ Outpaint
            with gr.Tab("Outpaint", id="outpaint"):
                with gr.Row():
                    with gr.Column():
                        out_image = gr.File(label="Photo", file_types=["image"], type="filepath", height=90,
                                            elem_id="outpaint-photo")
                        aspect = gr.Dropdown(list(cb.ASPECTS), value="none (amounts per side)", label="Aspect preset")
                        with gr.Row():
                            left = gr.Number(0, precision=0, label="Left px")
                            right = gr.Number(128, precision=0, label="Right px")
                            top = gr.Number(0, precision=0, label="Top px")
                            bottom = gr.Number(0, precision=0, label="Bottom px")
                        out_mode = gr.Radio(["single", "tiled"], value="tiled", label="Mode")
                        gr.Markdown("Engine and model: as chosen on the Inpaint tab.")
                        out_prompt = gr.Textbox(label="Prompt")
                        out_negative = gr.Textbox(label="Negative prompt")
                        with gr.Row():
                            out_steps = gr.Slider(1, 100, value=30, step=1, label="Steps")
                            out_guidance = gr.Slider(0.0, 20.0, value=7.5, step=0.5, label="Guidance")
                            out_seed = gr.Number(value=-1, precision=0, label="Seed (-1 = random)")
                        with gr.Row():
                            out_btn = gr.Button("Outpaint", variant="primary")
                            out_stop = gr.Button("Stop", variant="stop")
                    with gr.Column():
                        with gr.Row():
                            out_before = gr.Image(label="Original", type="numpy", format="jpeg", interactive=False)
                            out_after = gr.Image(label="Outpainted (preview)", type="numpy", format="jpeg",
                                                 interactive=False, elem_id="outpaint-result")
                        out_info = gr.Markdown()
                        out_file = gr.File(label="Result (lossless PNG)")

            # ------------------------------------------------------------------ Feather lab
            with gr.Tab("Feather lab", id="lab"):
                gr.Markdown(
                    "Composite at several feather widths and methods, side by side, with the seam score. "
                    "**feather** is the textbook symmetric feather: it is *not* contract-safe (it changes pixels "
                    "outside the mask); the others keep them byte-identical. The solid patch needs no model.")
                with gr.Row():
                    lab_source = gr.Radio([("solid patch on a photo", "patch"), ("the current result", "result")],
                                          value="patch", label="What to composite")
                    lab_colour = gr.ColorPicker("#ff00ff", label="Patch colour")
                    lab_widths = gr.Textbox(cb.DEFAULT_WIDTHS, label="Feather widths px")
                    lab_methods = gr.CheckboxGroup(list(blend.METHODS), value=["feather", "seamless"],
                                                   label="Methods")
                    lab_grow = gr.Slider(0, 32, value=0, step=1, label="Growth px")
                lab_photo = gr.File(label="Photo (empty: the editor's photo and mask)", file_types=["image"],
                                    type="filepath", height=90)
                lab_btn = gr.Button("Composite", variant="primary")
                lab_gallery = gr.Gallery(label="Feather widths x methods", format="jpeg", columns=4, height=560,
                                         object_fit="contain", elem_id="lab-gallery")

        # ---------------------------------------------------------------------- wiring
        @cb.user_errors
        def _on_photo(path, s, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
            if path is None:  # the file was removed from the box: keep the session as it is
                return gr.ImageEditor(), gr.Image(), s, "Upload a photo to click on it."
            return cb.load_photo(path, s, resources, key_of(request), progress=progress)

        photo.upload(_on_photo, [photo, session], [editor, seg_view, session, seg_status], api_name="load_photo",
                     concurrency_id=SEGMENT, concurrency_limit=2)

        @cb.user_errors
        def _on_click(s, m, evt: gr.SelectData):
            x, y = evt.index[0], evt.index[1]
            overlay, s, choices, best, status = cb.segment_click(s, m, x, y, resources)
            radio = gr.Radio() if choices is None else gr.Radio(choices=choices, value=best)
            return overlay, s, radio, status

        seg_view.select(_on_click, [session, seg_mode], [seg_view, session, candidates, seg_status],
                        api_name="segment_click", concurrency_id=SEGMENT, concurrency_limit=2)
        candidates.input(cb.user_errors(cb.choose_candidate), [session, candidates], [seg_view, session],
                         api_name=False)
        use_btn.click(cb.user_errors(cb.use_segmentation), [session, editor, seg_grow], editor, api_name="use_mask",
                      concurrency_id=TOOLS, concurrency_limit=4)
        clicks_clear.click(cb.user_errors(cb.clear_clicks), session, [seg_view, session, seg_status], api_name=False)

        with gr.Row(visible=False):
            api_image = gr.File(type="filepath", label="image file")
            api_pos = gr.Textbox(label="positive clicks, JSON [[x, y], ...]")
            api_neg = gr.Textbox(label="negative clicks, JSON")
            api_box = gr.Textbox(label="box, JSON [x0, y0, x1, y1]")
            api_mask = gr.Image(type="numpy", format="png", label="mask")
            api_engine = gr.Textbox(label="segmenter")
            api_btn = gr.Button("segment")
        api_btn.click(cb.user_errors(lambda i, p, n, b: cb.segment_api(i, p, n, b, resources)),
                      [api_image, api_pos, api_neg, api_box], [api_mask, api_engine], api_name="segment",
                      concurrency_id=SEGMENT, concurrency_limit=2)

        for btn, tool in ((grow_btn, "grow"), (shrink_btn, "shrink"), (invert_btn, "invert"), (clear_btn, "clear")):
            btn.click(lambda ed, s, px, t=tool: cb.mask_tool(ed, t, s, px), [editor, session, tool_px], editor,
                      api_name=f"{tool}_mask", concurrency_id=TOOLS, concurrency_limit=4)
        mask_upload.upload(lambda ed, s, up: cb.mask_tool(ed, "upload", s, upload=up), [editor, session, mask_upload],
                           editor, api_name="upload_mask", concurrency_id=TOOLS, concurrency_limit=4)

        seed_btn.click(cb.random_seed, None, seed, api_name="random_seed")
        mode.input(cb.user_errors(cb.quick_mode), [mode, prompt, negative, strength], [prompt, negative, strength], api_name=False)
        preview_btn.click(cb.preview, [editor, grow, feather, method, session], band, api_name="preview",
                          concurrency_id=TOOLS, concurrency_limit=4)
        for control in (grow, feather):  # live preview while tuning; silent when there is no mask yet
            control.release(cb.user_errors(cb.preview_quiet), [editor, grow, feather, method, session], band, api_name=False,
                            show_progress="hidden", concurrency_id=TOOLS, concurrency_limit=4)
        method.input(cb.user_errors(cb.preview_quiet), [editor, grow, feather, method, session], band, api_name=False,
                     show_progress="hidden", concurrency_id=TOOLS, concurrency_limit=4)

        @cb.user_errors
        def _on_inpaint(ed, p, n, md, eng, mdl, st, fe, gr_, sp, gu, sd, va, me, s, request: gr.Request,
                        progress=gr.Progress(track_tqdm=True)):
            # track_tqdm: a first use's weight download (the hub's tqdm bars) shows in this progress bar
            progress(0, desc="starting" if eng != "diffusers" else "loading the model (the first use downloads it)")

            def step(done, total):
                progress((int(done), int(total)), desc="denoising" if eng == "diffusers" else "filling")

            key = key_of(request)
            cancel = resources.cancel_event(key)
            out = cb.run_inpaint(ed, p, n, md, eng, mdl, st, fe, gr_, sp, gu, sd, va, me, s, progress=step,
                                 device=device, default_model=model_name, cancel=cancel,
                                 folder=resources.session_dir(key), config=config)
            return (out["before_after"], out["gallery"], out["heatmap"], out["result_png"], out["mask_png"],
                    out["info"], out["session"])

        run_event = run_btn.click(
            _on_inpaint,
            [editor, prompt, negative, mode, engine, model, strength, feather, grow, steps, guidance, seed, variants,
             method, session],
            [slider, gallery, heat, result_file, mask_file, info, session],
            api_name="inpaint", concurrency_id=GPU, concurrency_limit=limit,
        )

        def _on_stop(request: gr.Request):
            resources.cancel(key_of(request))  # the pipeline stops within one step

        stop_btn.click(_on_stop, None, None, cancels=[run_event], api_name=False, queue=False)

        @cb.user_errors
        def _on_outpaint(im, l_, r_, t_, b_, asp, om, p, n, eng, mdl, sp, gu, sd, request: gr.Request,
                         progress=gr.Progress(track_tqdm=True)):
            def step(done, total):
                progress((int(done), int(total)), desc="denoising")

            key = key_of(request)
            cancel = resources.cancel_event(key)
            return cb.run_outpaint(im, l_, r_, t_, b_, asp, om, p, n, eng, mdl, sp, gu, sd, progress=step,
                                   device=device, default_model=model_name, cancel=cancel,
                                   folder=resources.session_dir(key), config=config)

        out_event = out_btn.click(_on_outpaint,
                      [out_image, left, right, top, bottom, aspect, out_mode, out_prompt, out_negative, engine, model,
                       out_steps, out_guidance, out_seed],
                      [out_before, out_after, out_file, out_info], api_name="outpaint", concurrency_id=GPU, concurrency_limit=limit)

        out_stop.click(_on_stop, None, None, cancels=[out_event], api_name=False, queue=False)

        lab_btn.click(cb.user_errors(cb.run_feather_lab),
                      [lab_source, lab_photo, editor, session, lab_widths, lab_methods, lab_colour, lab_grow],
                      lab_gallery, api_name="feather_lab", concurrency_id=TOOLS, concurrency_limit=4)

        def _on_unload(request: gr.Request):
            resources.end_session(key_of(request))  # a closed tab: cancel its job, remove its files

        demo.unload(_on_unload)

    demo.queue(default_concurrency_limit=2)
    return demo
