"""The Gradio Blocks: build_demo(config) -> gr.Blocks. Wiring only; the work is in editor.callbacks.

Canvas first: the mask canvas (editor.canvas.MaskCanvas, its tool bar on its edge) takes most of the page; mode,
prompt, run and the main sliders sit beside it, mask tools and advanced settings fold. The canvas shows the
result's before/after at its own zoom; variants, the difference heatmap and the downloads sit under it.

Concurrency: generation (inpaint, outpaint) shares concurrency_id "gpu" with the configured limit; segmentation
(a new photo's embedding, the canvas's clicks, the segment API) has its own group "segment", so a click never waits
behind a 30-step generation and a generation never waits behind a click; mask tools and previews are light and
have their own small group. When a tab closes, its running job is cancelled and its files removed (demo.unload);
Gradio's cache is cleaned hourly (delete_cache). Uploads arrive as files and are decoded by pipelines.io.read.

Every main action has an api_name so gradio_client can drive it: "load_photo", "inpaint", "inpaint_image" (plain
image + mask files, no session), "preview", "grow_mask", "shrink_mask", "invert_mask", "clear_mask",
"upload_mask", "segment" (plain image + clicks -> mask), "feather_lab", "outpaint", "random_seed".
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from pipelines import blend

from . import callbacks as cb
from .canvas import MaskCanvas
from .state import ENGINES, AppConfig, Resources, Session

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "examples"
CSS = """
#engine-info p, #info p { margin: 0.2em 0; }
"""
"""Page CSS, passed to launch() by app.py (Gradio 6 takes css there)."""
GPU = "gpu"
SEGMENT = "segment"
TOOLS = "tools"
STATE_TTL = 3 * 3600
"""Seconds a session's state (its decoded photo, last result) is kept after its last update."""

STOPPED = "**Stopped.** Nothing was changed; the previous result is kept."


def stoppable(outputs: int, message_at: int):
    """Wrap a generation callback so that Stop (the pipeline raising pipelines.inpaint.Cancelled within one step)
    leaves every output as it was and says so in output ``message_at`` of ``outputs``: no error badge, no stale
    numbers."""

    def wrap(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            from pipelines.inpaint import Cancelled

            try:
                return fn(*args, **kwargs)
            except Cancelled:
                return tuple(STOPPED if i == message_at else gr.skip() for i in range(outputs))

        return wrapper

    return wrap


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
    """The example's photo decoded into the session, with its mask (assets/examples/<mask_name>) on the canvas.
    Returns (canvas value, session, status)."""
    value, session, status = cb.load_photo(photo, session, resources, key)
    if mask_name:
        size = session.picture.size
        value = cb.canvas_load(session, cb.mask_from_upload(str(ASSETS / Path(mask_name).name), size))
    return value, session, status


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

        with gr.Tabs():
            # ------------------------------------------------------------------ Inpaint / Replace / Remove
            with gr.Tab("Inpaint / Replace / Remove", id="inpaint"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5, min_width=560):
                        canvas = MaskCanvas(elem_id="canvas")
                        info = gr.Markdown(elem_id="info")
                        with gr.Row(equal_height=False):
                            gallery = gr.Gallery(label="Variants, ranked by seam score (best first; the score "
                                                 "measures the seam, not whether the fill is plausible)",
                                                 format="jpeg", columns=2, height="auto", object_fit="contain",
                                                 preview=False, elem_id="variants", scale=3)
                            heat = gr.Image(label=f"Difference x{cb.HEATMAP_GAIN:g} (black = unchanged)", type="numpy",
                                            format="png", interactive=False, elem_id="heatmap", height=300, scale=2)
                        with gr.Row():
                            result_file = gr.File(label="Result (lossless PNG, settings in its text chunk)",
                                                  elem_id="result-file")
                            mask_file = gr.File(label="Mask used (PNG)", elem_id="mask-file")
                            with gr.Column():
                                continue_btn = gr.Button("Continue from this result", elem_id="continue")
                                undo_result_btn = gr.Button("Undo result", elem_id="undo-result")
                    with gr.Column(scale=2, min_width=320, elem_id="side"):
                        photo = gr.File(label="Photo (PNG, JPEG, TIFF, WebP; EXIF, alpha and 16-bit kept)",
                                        file_types=["image"], type="filepath", height=80, elem_id="photo")
                        seg_status = gr.Markdown("Upload a photo, then paint its mask on the canvas.",
                                                 elem_id="seg-status")
                        mode = gr.Radio(["Replace", "Remove", "Stage", "Outpaint"], value="Replace", label="Mode",
                                        info="Stage: furniture into a room, in its perspective (depth ControlNet)",
                                        elem_id="mode")
                        prompt = gr.Textbox(label="Prompt", lines=2, placeholder="what to paint in the mask",
                                            elem_id="prompt")
                        with gr.Row():
                            instruction = gr.Textbox(label="Or say it in one sentence",
                                                     placeholder="replace the dog with a white cat", scale=4,
                                                     elem_id="instruction")
                            instruction_btn = gr.Button("Plan", size="sm", scale=1, min_width=60,
                                                        elem_id="instruction-btn")
                        with gr.Group(visible=False) as frame_group:
                            frame_aspect = gr.Dropdown(list(cb.ASPECTS), value="none (amounts per side)",
                                                       label="Aspect (or drag the frame's edges on the canvas)")
                            with gr.Row():
                                frame_left = gr.Number(0, precision=0, label="Left px", min_width=60)
                                frame_right = gr.Number(256, precision=0, label="Right px", min_width=60)
                                frame_top = gr.Number(0, precision=0, label="Top px", min_width=60)
                                frame_bottom = gr.Number(0, precision=0, label="Bottom px", min_width=60)
                            frame_mode = gr.Radio(["single", "tiled"], value="tiled", label="Outpaint mode")
                        with gr.Row():
                            run_btn = gr.Button("Inpaint", variant="primary", elem_id="run", scale=2)
                            frame_btn = gr.Button("Outpaint", variant="primary", elem_id="run-outpaint", scale=2,
                                                  visible=False)
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="stop", scale=1)
                        engine_info = gr.Markdown(cb.engine_status(default_engine, model_name, config),
                                                  elem_id="engine-info")
                        strength = gr.Slider(0.05, 1.0, value=1.0, step=0.01, label="Strength",
                                             interactive=default_engine == "diffusers")
                        grow = gr.Slider(0, 64, value=0, step=1, label="Growth px (0 = the mask as painted)")
                        feather = gr.Slider(-1, 64, value=-1, step=1, label="Feather px (-1 = method default)")
                        with gr.Accordion("Mask", open=True):
                            with gr.Row():
                                grow_btn = gr.Button("Grow", size="sm", min_width=60, elem_id="grow-mask")
                                shrink_btn = gr.Button("Shrink", size="sm", min_width=60, elem_id="shrink-mask")
                                invert_btn = gr.Button("Invert", size="sm", min_width=60, elem_id="invert-mask")
                                clear_btn = gr.Button("Clear", size="sm", min_width=60, elem_id="clear-mask")
                            tool_px = gr.Slider(1, 64, value=8, step=1, label="Grow / shrink by px")
                            seg_grow = gr.Dropdown(
                                [("none", "none"), ("auto: its soft edge + the feather band", "auto"),
                                 ("replacement (15 px)", "replacement"), ("removal (10 px)", "removal")],
                                value="none", label="A selection grows by", elem_id="seg-grow")
                            with gr.Row():
                                text_query = gr.Textbox(label="Select by text", placeholder="e.g. the dog",
                                                        scale=3, elem_id="select-text")
                                text_btn = gr.Button("Find", size="sm", scale=1, min_width=60,
                                                     elem_id="select-text-btn")
                            shadow_btn = gr.Button("Find the mask's shadow", size="sm", elem_id="shadow-btn")
                            mask_upload = gr.File(label="Upload a mask (black/white or alpha)", file_types=["image"],
                                                  type="filepath", height=70, elem_id="mask-upload")
                        with gr.Accordion("Advanced", open=False):
                            engine = gr.Dropdown(list(ENGINES), value=default_engine, label="Engine",
                                                 info="lama: prompt-free removal; telea/ns: classical, no weights",
                                                 elem_id="engine")
                            model = gr.Dropdown(config.allowed_models(), value=model_name,
                                                allow_custom_value=config.allow_custom_models,
                                                label="Model (hub id or local path)",
                                                info="loaded on first use; a failure suggests telea")
                            negative = gr.Textbox(label="Negative prompt", lines=1)
                            with gr.Row():
                                steps = gr.Slider(1, 100, value=30, step=1, label="Steps")
                                guidance = gr.Slider(0.0, 20.0, value=7.5, step=0.5, label="Guidance")
                            variants = gr.Slider(1, 4, value=1, step=1, label="Variants")
                            with gr.Row():
                                seed = gr.Number(value=-1, precision=0, label="Seed (-1 = random)")
                                seed_btn = gr.Button("🎲 Random seed", size="sm")
                            method = gr.Dropdown([m for m in blend.METHODS if m in blend.CONTRACT_SAFE],
                                                 value="seamless", label="Blend method")
                        with gr.Accordion("Models and engines", open=False):
                            models_md = gr.Markdown(cb.models_table(), elem_id="models-table")
                rows = examples() if config.examples else []
                if rows:
                    example_mask = gr.Textbox(visible=False, label="example mask")

                    @cb.user_errors
                    def _on_example(ph, p, m, mask_name, request: gr.Request):
                        return load_example(ph, mask_name, None, resources, key_of(request))  # a fresh session

                    gr.Examples(rows, inputs=[photo, prompt, mode, example_mask],
                                outputs=[canvas, session, seg_status], fn=_on_example, run_on_click=True,
                                cache_examples=False, visible_columns=[1, 2],
                                label="Examples (click one to load photo, mask and prompt)")
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
                lab_photo = gr.File(label="Photo (empty: the canvas's photo and mask)", file_types=["image"],
                                    type="filepath", height=90)
                lab_btn = gr.Button("Composite", variant="primary")
                lab_panels = gr.State([])
                lab_scrub = gr.Slider(1, cb.MAX_LAB_PANELS, value=1, step=1, label="Scrub through the panels",
                                      elem_id="lab-scrub")
                lab_caption = gr.Markdown(elem_id="lab-caption")
                with gr.Row():
                    lab_full = gr.Image(label="Panel", type="numpy", format="jpeg", interactive=False, height=420,
                                        elem_id="lab-full")
                    lab_zoom = gr.Image(label="The seam, 4x (the same spot in every panel)", type="numpy",
                                        format="png", interactive=False, height=420, elem_id="lab-zoom")
                lab_gallery = gr.Gallery(label="Feather widths x methods", format="jpeg", columns=4, height=460,
                                         object_fit="contain", elem_id="lab-gallery")

        # ---------------------------------------------------------------------- wiring
        @cb.user_errors
        def _on_photo(path, s, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
            if path is None:  # the file was removed from the box: keep the session as it is
                return gr.skip(), s, "Upload a photo, then paint its mask on the canvas."
            return cb.load_photo(path, s, resources, key_of(request), progress=progress)

        photo.upload(_on_photo, [photo, session], [canvas, session, seg_status], api_name="load_photo",
                     concurrency_id=SEGMENT, concurrency_limit=2)

        @cb.user_errors
        def _on_segment(s, preset, me, evt: gr.EventData):
            return cb.segment_prompts(s, getattr(evt, "_data", None) or {}, preset, resources, me)

        canvas.segment(_on_segment, [session, seg_grow, method], canvas, api_name=False, show_progress="minimal",
                       concurrency_id=SEGMENT, concurrency_limit=2)

        @cb.user_errors
        def _on_text(s, phrase, preset, me, progress=gr.Progress()):
            progress(0, desc="finding it (the first use loads the text model)")
            return cb.select_by_text(s, phrase, preset, resources, me)

        for trigger in (text_btn.click, text_query.submit):
            trigger(_on_text, [session, text_query, seg_grow, method], canvas, api_name=False, concurrency_id=SEGMENT,
                    concurrency_limit=2)

        @cb.user_errors
        def _on_instruction(s, sentence, preset, progress=gr.Progress()):
            progress(0, desc="reading the sentence and finding the object")
            return cb.plan_instruction(s, sentence, preset, resources)

        for trigger in (instruction_btn.click, instruction.submit):
            trigger(_on_instruction, [session, instruction, seg_grow], [canvas, mode, prompt, negative, seg_status],
                    api_name=False, concurrency_id=SEGMENT, concurrency_limit=2)
        shadow_btn.click(cb.user_errors(cb.suggest_shadow), [canvas, session], canvas, api_name=False,
                         concurrency_id=SEGMENT, concurrency_limit=2)

        with gr.Row(visible=False):
            api_image = gr.File(type="filepath", label="image file")
            api_pos = gr.Textbox(label="positive clicks, JSON [[x, y], ...]")
            api_neg = gr.Textbox(label="negative clicks, JSON")
            api_box = gr.Textbox(label="box, JSON [x0, y0, x1, y1]")
            api_mask = gr.Image(type="numpy", format="png", label="mask")
            api_engine = gr.Textbox(label="segmenter")
            api_btn = gr.Button("segment")
            api_mask_file = gr.File(type="filepath", label="mask file")
            api_result = gr.File(label="result PNG")
            api_result_mask = gr.File(label="mask PNG")
            api_info = gr.Markdown()
            api_inpaint_btn = gr.Button("inpaint image")
        api_btn.click(cb.user_errors(lambda i, p, n, b: cb.segment_api(i, p, n, b, resources)),
                      [api_image, api_pos, api_neg, api_box], [api_mask, api_engine], api_name="segment",
                      concurrency_id=SEGMENT, concurrency_limit=2)

        # the buttons work on the canvas itself (an exact distance transform in its JavaScript, as pipelines.masks:
        # no round trip); the same tools are API endpoints on the server for gradio_client
        api_tools = {}
        with gr.Row(visible=False):
            for tool in ("grow", "shrink", "invert", "clear"):
                api_tools[tool] = gr.Button(f"{tool} (API)")
        for btn, tool in ((grow_btn, "grow"), (shrink_btn, "shrink"), (invert_btn, "invert"), (clear_btn, "clear")):
            btn.click(None, [tool_px], None, api_name=False, queue=False,
                      js=f"(px) => {{ document.querySelector('#canvas .mc').maskCanvas.{tool}(px); }}")
            api_tools[tool].click(lambda v, s, px, t=tool: cb.mask_tool(v, t, s, px), [canvas, session, tool_px],
                                  canvas, api_name=f"{tool}_mask", concurrency_id=TOOLS, concurrency_limit=4)
        mask_upload.upload(lambda v, s, up: cb.mask_tool(v, "upload", s, upload=up), [canvas, session, mask_upload],
                           canvas, api_name="upload_mask", concurrency_id=TOOLS, concurrency_limit=4)

        seed_btn.click(cb.random_seed, None, seed, api_name="random_seed")
        frame_sides = [frame_left, frame_right, frame_top, frame_bottom]

        @cb.user_errors
        def _on_mode(md, p, n, st, eng, l_, r_, t_, b_, asp, s):
            p, n, st = cb.quick_mode(md, p, n, st)
            eng = cb.mode_engine(md, eng)
            outpainting = md == "Outpaint"
            if s is None or s.picture is None:
                shown = gr.skip()
            elif outpainting:
                shown = cb.frame(s, l_, r_, t_, b_, asp if asp in cb.ASPECTS and cb.ASPECTS[asp] else None)[0]
            else:
                shown = cb.canvas.frame_value(None, s.key)
            return (p, n, st, eng, gr.update(visible=outpainting), gr.update(visible=not outpainting),
                    gr.update(visible=outpainting), shown)

        mode.input(_on_mode, [mode, prompt, negative, strength, engine, *frame_sides, frame_aspect, session],
                   [prompt, negative, strength, engine, frame_group, run_btn, frame_btn, canvas], api_name=False)

        @cb.user_errors
        def _on_frame_numbers(l_, r_, t_, b_, asp, s):
            return cb.frame(s, l_, r_, t_, b_, asp if cb.ASPECTS.get(asp) else None)

        for control in (*frame_sides, frame_aspect):
            control.input(_on_frame_numbers, [*frame_sides, frame_aspect, session], [canvas, *frame_sides],
                          api_name=False, concurrency_id=TOOLS, concurrency_limit=4)

        @cb.user_errors
        def _on_frame_drag(s, evt: gr.EventData):
            left, top, right, bottom = (getattr(evt, "_data", None) or {}).get("pads") or (0, 0, 0, 0)
            return cb.frame(s, left, right, top, bottom) + ("none (amounts per side)",)

        canvas.frame(_on_frame_drag, [session], [canvas, *frame_sides, frame_aspect], api_name=False,
                     show_progress="hidden", concurrency_id=TOOLS, concurrency_limit=4)
        def _band_quiet(v, g, f, m, s):  # the band follows the sliders; without a mask it just stays off
            return cb.user_errors(cb.band)(v, g, f, m, s, quiet=True)

        def _band_button(v, g, f, m, s, evt: gr.EventData):  # the canvas's Band button, its request numbered
            return cb.user_errors(cb.band)(v, g, f, m, s, quiet=True, seq=(getattr(evt, "_data", None) or {}).get("seq"))

        canvas.band(_band_button, [canvas, grow, feather, method, session], canvas, api_name=False,
                    show_progress="hidden", concurrency_id=TOOLS, concurrency_limit=4)
        with gr.Row(visible=False):
            api_band_btn = gr.Button("preview")
        api_band_btn.click(cb.user_errors(cb.band), [canvas, grow, feather, method, session], canvas,
                           api_name="preview", concurrency_id=TOOLS, concurrency_limit=4)

        for control in (grow, feather):
            control.release(_band_quiet, [canvas, grow, feather, method, session], canvas, api_name=False,
                            show_progress="hidden", concurrency_id=TOOLS, concurrency_limit=4)
        method.input(_band_quiet, [canvas, grow, feather, method, session], canvas, api_name=False,
                     show_progress="hidden", concurrency_id=TOOLS, concurrency_limit=4)

        def _on_engine(eng, mdl, md):
            return (cb.engine_status(eng, mdl, config, md),) + cb.engine_controls(eng)

        for trigger in (engine.change, model.change, mode.change):
            trigger(_on_engine, [engine, model, mode],
                    [engine_info, prompt, negative, strength, steps, guidance, variants, seed, model],
                    api_name=False, queue=False)

        demo.load(cb.models_table, None, models_md, api_name=False, queue=False)  # what is on disk now
        demo.load(_on_engine, [engine, model, mode],
                  [engine_info, prompt, negative, strength, steps, guidance, variants, seed, model], api_name=False,
                  queue=False)

        @cb.user_errors
        @stoppable(outputs=7, message_at=5)
        def _on_inpaint(v, p, n, md, eng, mdl, st, fe, gr_, sp, gu, sd, va, me, s, request: gr.Request,
                        progress=gr.Progress(track_tqdm=True)):
            # track_tqdm: a first use's weight download (the hub's tqdm bars) shows in this progress bar
            progress(0, desc="starting" if eng != "diffusers" else "loading the model (the first use downloads it)")
            total_variants = max(1, int(va or 1)) if eng == "diffusers" else 1
            seen = {"variant": 1, "last": -1}

            def step(done, total):
                done, total = int(done), int(total)
                if done < seen["last"]:
                    seen["variant"] += 1
                seen["last"] = done
                what = "denoising" if eng == "diffusers" else "filling"
                progress((done, total), desc=f"{what} · variant {min(seen['variant'], total_variants)} of "
                                             f"{total_variants}")

            key = key_of(request)
            cancel = resources.cancel_event(key)
            cancel.clear()
            out = cb.run_inpaint(v, p, n, md, eng, mdl, st, fe, gr_, sp, gu, sd, va, me, s, progress=step,
                                 device=device, default_model=model_name, cancel=cancel,
                                 folder=resources.session_dir(key), config=config)
            return (out["canvas"], out["gallery"], out["heatmap"], out["result_png"], out["mask_png"],
                    out["info"], out["session"])

        run_btn.click(
            _on_inpaint,
            [canvas, prompt, negative, mode, engine, model, strength, feather, grow, steps, guidance, seed, variants,
             method, session],
            [canvas, gallery, heat, result_file, mask_file, info, session],
            api_name="inpaint", concurrency_id=GPU, concurrency_limit=limit,
        )

        @cb.user_errors
        def _on_inpaint_image(im, mk, p, n, md, eng, mdl, st, fe, gr_, sp, gu, sd, va, me, request: gr.Request):
            key = key_of(request)
            return cb.inpaint_files(im, mk, p, n, md, eng, mdl, st, fe, gr_, sp, gu, sd, va, me,
                                    folder=resources.session_dir(key), device=device, default_model=model_name,
                                    cancel=resources.cancel_event(key), config=config)

        api_inpaint_btn.click(
            _on_inpaint_image,
            [api_image, api_mask_file, prompt, negative, mode, engine, model, strength, feather, grow, steps,
             guidance, seed, variants, method],
            [api_result, api_result_mask, api_info], api_name="inpaint_image", concurrency_id=GPU,
            concurrency_limit=limit,
        )

        @cb.user_errors
        @stoppable(outputs=4, message_at=2)
        def _on_outpaint_canvas(s, l_, r_, t_, b_, asp, om, p, n, eng, mdl, sp, gu, sd, request: gr.Request,
                                progress=gr.Progress(track_tqdm=True)):
            def step(done, total):
                progress((int(done), int(total)), desc="outpainting")

            key = key_of(request)
            return cb.run_outpaint_canvas(
                s, l_, r_, t_, b_, asp if cb.ASPECTS.get(asp) else None, om, p, n, eng, mdl, sp, gu, sd,
                folder=resources.session_dir(key), progress=step, device=device, default_model=model_name,
                cancel=resources.cancel_event(key), config=config)

        frame_btn.click(_on_outpaint_canvas,
                        [session, *frame_sides, frame_aspect, frame_mode, prompt, negative, engine, model, steps,
                         guidance, seed],
                        [canvas, result_file, info, session], api_name=False, concurrency_id=GPU,
                        concurrency_limit=limit)

        def _on_stop(request: gr.Request):
            resources.cancel(key_of(request))  # the running job stops within one step and says "Stopped"

        stop_btn.click(_on_stop, None, None, api_name=False, queue=False)
        continue_btn.click(cb.user_errors(cb.continue_from_result), session, [canvas, session, seg_status],
                           api_name=False, concurrency_id=TOOLS, concurrency_limit=4)
        undo_result_btn.click(cb.user_errors(cb.undo_result), session, [canvas, session, seg_status],
                              api_name=False, concurrency_id=TOOLS, concurrency_limit=4)

        @cb.user_errors
        @stoppable(outputs=4, message_at=3)
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

        out_stop.click(_on_stop, None, None, api_name=False, queue=False)

        def _on_lab(src, ph, v, s, wd, ms, col, g):
            gallery, panels = cb.run_feather_lab(src, ph, v, s, wd, ms, col, g)
            full, crop, caption = cb.scrub_panel(1, panels)
            return gallery, panels, gr.update(maximum=max(2, len(panels)), value=1), full, crop, caption

        lab_btn.click(cb.user_errors(_on_lab),
                      [lab_source, lab_photo, canvas, session, lab_widths, lab_methods, lab_colour, lab_grow],
                      [lab_gallery, lab_panels, lab_scrub, lab_full, lab_zoom, lab_caption], api_name="feather_lab",
                      concurrency_id=TOOLS, concurrency_limit=4)
        lab_scrub.change(cb.user_errors(cb.scrub_panel), [lab_scrub, lab_panels], [lab_full, lab_zoom, lab_caption],
                         api_name=False, show_progress="hidden")

        def _on_unload(request: gr.Request):
            resources.end_session(key_of(request))  # a closed tab: cancel its job, remove its files

        demo.unload(_on_unload)

    demo.queue(default_concurrency_limit=2)
    return demo
