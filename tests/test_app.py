"""Callback unit tests for the Gradio app (editor/): plain values in and out, no server."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

import app  # noqa: E402
from editor import callbacks as cb  # noqa: E402
from editor.state import AppConfig, Resources, Session  # noqa: E402

HAS_SEGMENT = importlib.util.find_spec("pipelines.segment") is not None


def photo(h=96, w=128, seed=0) -> np.ndarray:
    """A smooth gradient with mild noise: HWC uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    base = np.dstack([60 + xx, 80 + yy, 120 + 0.3 * (xx + yy)])
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def layer(h, w, y0, y1, x0, x1, alpha=200) -> np.ndarray:
    out = np.zeros((h, w, 4), np.uint8)
    out[y0:y1, x0:x1] = (255, 0, 0, alpha)
    return out


def editor(image, *layers):
    """An editor value as the browser sends it; its background is never used as the photo."""
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    return {"background": rgba, "layers": list(layers), "composite": rgba}


RES = None


def resources() -> Resources:
    global RES
    if RES is None:
        RES = Resources(AppConfig(segmenter="grabcut"))
    return RES


def session_for(image, tmp_path, name="photo.png") -> Session:
    """A session whose photo is ``image`` uploaded as a PNG file and decoded by the app."""
    from pipelines import io

    path = tmp_path / name
    io.save_png(path, image)
    return cb.open_photo(str(path), Session(), resources(), key="test")


def rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


# ------------------------------------------------------------------------------------------ masks from the editor


def test_mask_from_editor_dict_is_union_of_layer_alpha(tmp_path):
    img = photo()
    session = session_for(img, tmp_path)
    value = editor(img, layer(96, 128, 10, 20, 10, 30), layer(96, 128, 50, 60, 70, 90), layer(96, 128, 0, 96, 0, 128, 40))
    mask = cb.editor_mask(value, session)
    assert mask.dtype == bool and mask.shape == (96, 128)
    assert np.array_equal(mask, rect(96, 128, 10, 20, 10, 30) | rect(96, 128, 50, 60, 70, 90))
    assert np.array_equal(session.picture.pixels, img)  # the photo is the uploaded file, not the editor's background


def test_editor_value_round_trips_through_mask_layer(tmp_path):
    img = photo()
    session = session_for(img, tmp_path)
    m = rect(96, 128, 30, 50, 40, 70)
    value = cb.editor_value(session, m)
    layers = [np.asarray(layer) for layer in value["layers"]]
    assert value["background"] == session.display_path  # the display copy's file, never pixels from the browser
    assert np.array_equal(cb.editor_mask({"background": None, "layers": layers}, session), m)
    assert cb.editor_value(session, None)["layers"] == []


def test_photo_is_decoded_on_the_server_with_alpha_16_bit_and_exif(tmp_path):
    from pipelines import io

    rgba = np.dstack([photo(), np.linspace(0, 255, 96 * 128).reshape(96, 128).astype(np.uint8)])
    session = session_for(rgba, tmp_path, "rgba.png")
    assert np.array_equal(session.picture.pixels, rgba) and session.display.shape == (96, 128, 3)
    grey16 = (np.arange(96 * 128, dtype=np.uint32).reshape(96, 128) * 5).astype(np.uint16)
    session = session_for(grey16, tmp_path, "g16.png")
    assert session.picture.pixels.dtype == np.uint16 and np.array_equal(session.picture.pixels, grey16)
    m = rect(96, 128, 30, 50, 40, 70)
    out = cb.run_inpaint(cb.editor_value(session, m), "", "", "Replace", "telea", "", 1.0, -1, 0, 10, 7.5, 1, 1,
                         "seamless", session)
    result = io.read(out["result_png"]).pixels
    assert result.dtype == np.uint16 and np.array_equal(result[~m], grey16[~m])


def test_large_photo_is_shown_reduced_and_the_mask_scaled_up(tmp_path, monkeypatch):
    monkeypatch.setattr(cb, "DISPLAY_MAX", 64)
    img = photo()
    session = session_for(img, tmp_path)
    assert session.display.shape == (48, 64, 3) and session.scale == 0.5
    shown = np.zeros((48, 64, 4), np.uint8)
    shown[10:20, 20:40] = (255, 0, 0, 255)  # painted on the display copy
    mask = cb.editor_mask({"background": None, "layers": [shown]}, session)
    assert mask.shape == (96, 128) and mask[20:40, 40:80].all() and mask.sum() == 20 * 40
    m = rect(96, 128, 31, 53, 41, 77)  # set by the server at full size: an unedited layer maps back exactly
    value = cb.editor_value(session, m)
    assert np.array_equal(cb.editor_mask({"layers": [np.asarray(value["layers"][0])]}, session), m)


@pytest.mark.parametrize("what, message", [("nothing", "no photo"), ("empty", "the mask is empty")])
def test_user_errors_are_one_line_gr_error(tmp_path, what, message):
    session = Session() if what == "nothing" else session_for(photo(), tmp_path)
    with pytest.raises(gr.Error) as info:
        cb.preview(editor(photo()), 8, -1, "seamless", session)
    text = str(info.value.message)
    assert message in text and "\n" not in text


def test_unreadable_upload_is_one_line(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(gr.Error) as info:
        cb.user_errors(cb.load_photo)(str(bad), Session(), resources(), "k")
    assert "cannot read bad.png" in str(info.value.message) and "\n" not in str(info.value.message)


def test_internal_errors_are_logged_and_one_line(caplog):
    def broken():
        raise ZeroDivisionError("boom")

    with pytest.raises(gr.Error) as info:
        cb.user_errors(broken)()
    assert str(info.value.message).startswith("internal error (ZeroDivisionError: boom)")
    assert any(r.exc_info for r in caplog.records)


def test_bad_parameters_become_gr_error(tmp_path):
    session = session_for(photo(), tmp_path)
    value = editor(photo(), layer(96, 128, 30, 50, 40, 70))
    run = cb.user_errors(cb.run_inpaint)
    with pytest.raises(gr.Error, match="engine"):
        run(value, "", "", "Replace", "nope", "", 1.0, -1, 4, 10, 7.5, 1, 1, "seamless", session)
    with pytest.raises(gr.Error, match="contract-safe"):
        run(value, "", "", "Replace", "telea", "", 1.0, -1, 4, 10, 7.5, 1, 1, "feather", session)
    with pytest.raises(gr.Error, match="seed"):
        cb.user_errors(cb.parse_seed)(1.5)


def test_model_load_failure_is_one_line_suggesting_the_classical_engine(tmp_path):
    pytest.importorskip("diffusers")
    session = session_for(photo(), tmp_path)
    value = editor(photo(), layer(96, 128, 30, 50, 40, 70))
    run = cb.user_errors(cb.run_inpaint)
    with pytest.raises(gr.Error) as info:
        run(value, "a cat", "", "Replace", "diffusers", str(tmp_path / "no-such-model"), 1.0, -1, 4, 2, 2.0, 1, 1,
            "seamless", session, device="cpu")
    text = str(info.value.message)
    assert "\n" not in text and "no-such-model" in text


def test_custom_models_and_downloads_refused_beyond_localhost(tmp_path):
    cfg = app.config_from_args(app.parse_args(["--host", "0.0.0.0"]))
    assert not cfg.allow_custom_models and not cfg.allow_downloads
    local = app.config_from_args(app.parse_args([]))
    assert local.allow_custom_models and local.allow_downloads
    allowed = app.config_from_args(app.parse_args(["--host", "0.0.0.0", "--allow-custom-models"]))
    assert allowed.allow_custom_models and not allowed.allow_downloads
    session = session_for(photo(), tmp_path)
    value = editor(photo(), layer(96, 128, 30, 50, 40, 70))
    with pytest.raises(gr.Error, match="not offered on this server"):
        cb.user_errors(cb.run_inpaint)(value, "a", "", "Replace", "diffusers", "someone/huge-model", 1.0, -1, 0, 2,
                                       2.0, 1, 1, "seamless", session, config=cfg)


# ------------------------------------------------------------------------------------------ preview and heatmap


def test_preview_band_shows_mask_growth_and_feather(tmp_path):
    img = np.full((80, 80, 3), 128, np.uint8)
    m = rect(80, 80, 30, 50, 30, 50)
    out = cb.preview(editor(img, cb.mask_layer(m)), 6, 3, "seamless", session_for(img, tmp_path))
    assert out.shape == img.shape and out.dtype == np.uint8
    centre, growth, far = out[40, 40], out[27, 40], out[2, 2]
    assert centre[0] > centre[2] + 40  # red: the mask
    assert growth[0] > 150 and growth[1] > 130 and growth[2] < 100  # yellow: the growth band
    feather_px = out[25, 40]  # 1 px inside the grown edge (grown by 6 -> edge at row 24): the feather band
    assert feather_px[2] > feather_px[0]  # blue
    assert np.array_equal(far, np.array([96, 96, 96], np.uint8))  # dimmed original, untouched by the bands


def test_preview_feather_method_band_straddles_the_edge():
    img = np.full((80, 80, 3), 128, np.uint8)
    m = rect(80, 80, 30, 50, 30, 50)
    safe = cb.blend_band_preview(img, m, 0, 4, "seamless")
    textbook = cb.blend_band_preview(img, m, 0, 4, "feather")
    outside = (27, 40)  # 3 px outside the mask
    assert np.array_equal(safe[outside], np.array([96, 96, 96], np.uint8))
    assert textbook[outside][2] > textbook[outside][0]


def test_heatmap_is_zero_outside_the_mask_after_inpainting(tmp_path):
    img = photo()
    m = rect(96, 128, 30, 60, 40, 80)
    session = session_for(img, tmp_path)
    out = cb.run_inpaint(editor(img, cb.mask_layer(m)), "", "", "Replace", "telea", "", 1.0, -1, 4, 10, 7.5, -1, 1,
                         "seamless", session)
    before, _ = out["before_after"]
    assert np.array_equal(before, img)
    from pipelines import io

    after = io.read(out["result_png"]).pixels  # the one lossless PNG
    repainted = out["session"].result_mask
    assert repainted[m].all() and repainted.sum() > m.sum()  # growth 4 was asked for, and reported
    assert "grown by 4 px" in out["info"]
    assert np.array_equal(after[~repainted], img[~repainted])  # the contract
    heat = out["heatmap"]
    assert heat.shape == img.shape
    assert not heat[~repainted].any()  # black (zero) outside
    assert heat[repainted].any()  # something changed inside
    assert len(out["gallery"]) == 1 and "seam excess" in out["gallery"][0][1]
    assert np.array_equal(io.read(out["mask_png"]).pixels > 0, repainted)


def test_difference_heatmap_marks_changes_only():
    a = photo()
    b = a.copy()
    b[5, 7] += 1
    heat = cb.difference_heatmap(a, b)
    assert heat[5, 7].any() and heat.sum() == heat[5, 7].sum()


# ------------------------------------------------------------------------------------------ feather lab


def test_feather_lab_panel_count_and_labels():
    img = photo()
    m = rect(96, 128, 30, 60, 40, 80)
    panels = cb.feather_lab(img, cb.solid_patch(img, "#00ff00"), m, "0, 4, 12, 40", ["feather", "seamless", "hard"])
    assert len(panels) == 4 + 4 + 1
    for res, caption in panels:
        assert res.shape == img.shape and "seam excess" in caption
    feather_caps = [c for _, c in panels[1:4]]  # textbook feather, widths 4, 12, 40
    assert all("CHANGES" in c and "not contract-safe" in c for c in feather_caps)
    for res, caption in panels[4:]:
        assert "outside unchanged" in caption
        assert np.array_equal(res[~m], img[~m])


def test_feather_lab_from_editor_uses_default_mask_and_checks_input(tmp_path):
    value = editor(photo())
    panels = cb.run_feather_lab("patch", None, value, session_for(photo(), tmp_path), "0 8", ["inward"], "#ff00ff", 0)
    assert len(panels) == 2
    with pytest.raises(gr.Error, match="no result yet"):
        cb.user_errors(cb.run_feather_lab)("result", None, value, Session(), "4", ["inward"], "#ff00ff", 0)
    with pytest.raises(gr.Error, match="numbers"):
        cb.user_errors(cb.run_feather_lab)("patch", None, value, session_for(photo(), tmp_path), "4, x", ["inward"],
                                           "#ff00ff", 0)


# ------------------------------------------------------------------------------------------ mask tools, modes


def test_mask_tools_grow_shrink_invert_clear_upload(tmp_path):
    from pipelines import io

    img = photo()
    s = session_for(img, tmp_path)
    m = rect(96, 128, 30, 60, 40, 80)

    def mask_of(value):
        return cb.editor_mask({"layers": [np.asarray(x) for x in value["layers"]]}, s, allow_empty=True)

    value = cb.editor_value(s, m)
    grown = mask_of(cb.mask_tool(value, "grow", s, 4))
    shrunk = mask_of(cb.mask_tool(value, "shrink", s, 4))
    assert grown.sum() > m.sum() > shrunk.sum() > 0 and grown[m].all() and m[shrunk].all()
    assert np.array_equal(mask_of(cb.mask_tool(value, "invert", s)), ~m)
    assert cb.mask_tool(value, "clear", s)["layers"] == []
    bw = tmp_path / "half.png"
    io.save_png(bw, (rect(48, 64, 15, 30, 20, 40) * 255).astype(np.uint8))  # half size: resized to the photo
    up = mask_of(cb.mask_tool(value, "upload", s, upload=str(bw)))
    assert up.shape == (96, 128) and up[45, 60] and not up[5, 5]
    pal = "../shared/images/edge_cases/mask_pal.png"  # two-colour palette: read as black/white, not indices
    if __import__("os").path.exists(pal):
        s2 = session_for(np.zeros((240, 320, 3), np.uint8), tmp_path, "black.png")
        assert 0 < mask_of(cb.mask_tool(None, "upload", s2, upload=pal)).mean() < 1
    with pytest.raises(gr.Error, match="empty"):
        cb.mask_tool(cb.editor_value(s, None), "grow", s, 4)


def test_quick_mode_remove_sets_background_prompt_and_strength():
    p, n, s = cb.quick_mode("Remove", "a cat", "", 1.0)
    assert p == cb.REMOVE_PROMPT and s <= 0.9 and n
    assert cb.quick_mode("Replace", p, n, s)[0] == ""
    assert cb.quick_mode("Replace", "a dog", "", 0.7) == ("a dog", "", 0.7)


def test_outpaint_classical_keeps_the_original_and_takes_presets(tmp_path):
    from pipelines import io

    img = photo(48, 64)
    path = tmp_path / "small.png"
    io.save_png(path, img)
    before, after, png, info = cb.run_outpaint(str(path), 0, 16, 0, 8, "none (amounts per side)", "single", "", "",
                                               "telea", "", 10, 7.5, 1, folder=tmp_path)
    assert np.array_equal(before, img) and after.shape == (56, 80, 3)
    assert np.array_equal(io.read(png).pixels[:48, :64], img) and "telea" in info
    _, after, _, _ = cb.run_outpaint(str(path), 0, 0, 0, 0, "1:1", "tiled", "", "", "telea", "", 10, 7.5, 1,
                                     folder=tmp_path)
    assert after.shape[:2] == (64, 64)
    with pytest.raises(gr.Error):
        cb.user_errors(cb.run_outpaint)(str(path), 0, 0, 0, 0, "none (amounts per side)", "tiled", "", "", "telea",
                                        "", 10, 7.5, 1)


# ------------------------------------------------------------------------------------------ click-to-segment


@pytest.mark.skipif(not HAS_SEGMENT, reason="pipelines/segment.py is not there yet")
def test_click_to_segment_with_grabcut_fallback_feeds_the_editor(tmp_path):
    from pipelines import io

    h, w = 96, 128
    img = np.full((h, w, 3), (40, 120, 40), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    disc = (xx - 64) ** 2 + (yy - 48) ** 2 <= 20**2
    img[disc] = (230, 40, 200)
    res = Resources(AppConfig(segmenter="grabcut"))
    io.save_png(tmp_path / "disc.png", img)
    _, overlay, session, status = cb.load_photo(str(tmp_path / "disc.png"), Session(), res, "k")
    assert overlay.shape == img.shape and "grabcut" in status
    overlay, session, choices, best, status = cb.segment_click(session, "positive", 64, 48, res)
    assert choices and best == 0 and "fallback" in status
    mask = session.segmentation.mask
    assert (mask & disc).sum() / disc.sum() > 0.9 and (mask & ~disc).sum() < 0.1 * disc.sum()
    assert overlay[48, 64].tolist() != img[48, 64].tolist()  # the click is drawn
    value = cb.use_segmentation(session, editor(img), "none")
    assert np.array_equal(cb.editor_mask({"layers": [np.asarray(x) for x in value["layers"]]}, session), mask)
    grown = cb.use_segmentation(session, editor(img), "removal")  # a preset grows the mask visibly on the canvas
    shown = cb.editor_mask({"layers": [np.asarray(x) for x in grown["layers"]]}, session)
    assert shown.sum() > mask.sum() and shown[mask].all()
    # box mode: two corners
    _, session, _ = cb.clear_clicks(session)
    _, session, choices, _, status = cb.segment_click(session, "box", 40, 24, res)
    assert choices is None and "corner" in status
    _, session, choices, _, _ = cb.segment_click(session, "box", 88, 72, res)
    assert session.box == (40, 24, 89, 73) and session.segmentation.mask[48, 64]


def test_segment_click_without_image_is_an_error():
    with pytest.raises(ValueError, match="no photo"):
        cb.segment_click(Session(), "positive", 1, 1, Resources(AppConfig(segmenter="grabcut")))


# ------------------------------------------------------------------------------------------ app and layout


def test_app_flags_defaults():
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.share is False and args.engine == "auto"
    cfg = app.config_from_args(app.parse_args(["--engine", "ns", "--model", "/m", "--port", "9"]))
    assert cfg.engine == "ns" and cfg.model == "/m" and cfg.default_engine() == "ns"
    assert AppConfig(model="/some/folder").default_engine() == "diffusers"


def test_demo_has_api_names_and_gpu_concurrency():
    from editor.layout import build_demo

    demo = build_demo(AppConfig(engine="telea"))
    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name in ("inpaint", "preview", "segment", "segment_click", "feather_lab", "outpaint", "grow_mask",
                 "invert_mask", "upload_mask", "use_mask", "random_seed", "load_photo"):
        assert name in fns, name
    assert fns["inpaint"].concurrency_id == fns["outpaint"].concurrency_id == "gpu"
    # clicks never wait behind a generation, nor generation behind a click
    assert fns["segment"].concurrency_id == fns["segment_click"].concurrency_id == fns["load_photo"].concurrency_id
    assert fns["segment_click"].concurrency_id != "gpu" and fns["grow_mask"].concurrency_id not in ("gpu", "segment")
    assert demo.delete_cache is not None


def test_examples_load_photo_and_mask_from_assets():
    from editor.layout import examples, load_example

    rows = examples()
    assert rows and all(len(r) == 4 for r in rows)
    value, _, session, _ = load_example(rows[0][0], rows[0][3], None, resources(), "k")
    mask = cb.editor_mask({"layers": [np.asarray(x) for x in value["layers"]]}, session)
    assert mask.shape == session.image.shape[:2] and 0.05 < mask.mean() < 0.3


def test_stop_sets_the_sessions_cancel_event_and_the_run_says_cancelled(tmp_path):
    res = Resources(AppConfig(engine="telea"))
    event = res.cancel_event("abc")
    assert res.cancel("abc") and event.is_set() and not res.cancel("abc")
    value = editor(photo(), layer(96, 128, 30, 50, 40, 70))
    with pytest.raises(gr.Error, match="cancelled"):
        cb.user_errors(cb.run_inpaint)(value, "", "", "Replace", "telea", "", 1.0, -1, 4, 10, 7.5, 1, 1, "seamless",
                                       session_for(photo(), tmp_path), cancel=event)


def test_closing_a_tab_cancels_its_job_and_removes_its_files():
    res = Resources(AppConfig(engine="telea"))
    folder = res.session_dir("tab1")
    (folder / "result.png").write_bytes(b"x")
    event = res.cancel_event("tab1")
    res.end_session("tab1")
    assert event.is_set() and not folder.exists()
    res.close()


@pytest.mark.skipif(not HAS_SEGMENT, reason="pipelines/segment.py is not there yet")
def test_click_to_segment_with_a_tiny_sam_offers_candidates_and_refines(tmp_path):
    pytest.importorskip("segment_anything")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_segment import seeded_tiny_sam

    from pipelines.segment import Segmenter

    res = Resources(AppConfig(), segmenter=Segmenter.from_model(seeded_tiny_sam(), name="tiny"))
    img = photo()
    from pipelines import io

    io.save_png(tmp_path / "p.png", img)
    _, overlay, session, status = cb.load_photo(str(tmp_path / "p.png"), Session(), res, "k")
    assert "sam tiny" in status
    overlay, session, choices, best, status = cb.segment_click(session, "positive", 60, 40, res)
    assert len(choices) == 3 and all("score" in label for label, _ in choices) and best == choices[0][1]
    other = next(i for _, i in choices if i != best)
    overlay, session = cb.choose_candidate(session, other)
    assert session.segmentation.best == other
    _, session, choices, _, _ = cb.segment_click(session, "negative", 10, 10, res)  # refines from the chosen one
    assert len(session.points) == 2 and session.segmentation.masks.shape == (3, 96, 128)
    mask = session.segmentation.mask
    if mask.any():
        value = cb.use_segmentation(session, editor(img), "none")
        assert np.array_equal(cb.editor_mask({"layers": [np.asarray(x) for x in value["layers"]]}, session), mask)


def test_an_opaque_layer_without_alpha_is_read_by_luminance(tmp_path):
    """The editor turns every layer into RGBA: a black/white image layer arrives opaque everywhere and must not
    repaint the whole photo."""
    session = session_for(photo(), tmp_path)
    bw = np.zeros((96, 128, 4), np.uint8)
    bw[..., 3] = 255
    bw[20:40, 30:60, :3] = 255
    assert np.array_equal(cb.editor_mask({"layers": [bw]}, session), rect(96, 128, 20, 40, 30, 60))


def test_change_map_is_black_outside_the_repainted_box_and_marks_every_change(monkeypatch):
    monkeypatch.setattr(cb, "DISPLAY_MAX", 40)
    before = photo()
    after = before.copy()
    repainted = rect(96, 128, 50, 53, 61, 64)
    after[51, 62] += 1  # one changed pixel, far smaller than a display pixel
    heat = cb.change_map(before, after, repainted)
    assert heat.shape == (30, 40, 3)
    assert heat.any(axis=2).sum() >= 1 and heat[int(51 * 30 / 96), int(62 * 40 / 128)].any()
    assert heat.any(axis=2).sum() <= 4  # nothing outside the box
