"""Callback unit tests for the Gradio app (editor/): plain values in and out, no server."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

import app  # noqa: E402
from editor import callbacks as cb  # noqa: E402
from editor import canvas  # noqa: E402
from pipelines import maskcodec  # noqa: E402
from editor.state import AppConfig, Resources, Session  # noqa: E402

HAS_SEGMENT = importlib.util.find_spec("pipelines.segment") is not None


def photo(h=96, w=128, seed=0) -> np.ndarray:
    """A smooth gradient with mild noise: HWC uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    base = np.dstack([60 + xx, 80 + yy, 120 + 0.3 * (xx + yy)])
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def cv(mask, session=None, rev=0):
    """The canvas value the browser sends for ``mask`` (HW bool at the photo's full size)."""
    return canvas.canvas_value(mask, None if session is None else session.key, rev)


def mask_of(value, session):
    """The mask a canvas value from the server (op load / mask) puts on the canvas."""
    h, w = session.picture.pixels.shape[:2]
    return np.zeros((h, w), bool) if not value.get("mask") else maskcodec.decode(value["mask"], (h, w))


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


# ------------------------------------------------------------------------------------------ masks from the canvas


def test_the_canvas_mask_is_the_mask_pixel_for_pixel(tmp_path):
    img = photo()
    session = session_for(img, tmp_path)
    rng = np.random.default_rng(1)
    for m in (rect(96, 128, 10, 20, 10, 30) | rect(96, 128, 50, 60, 70, 90), rng.random((96, 128)) < 0.5):
        assert np.array_equal(cb.canvas_mask(cv(m, session), session), m)
    assert np.array_equal(session.picture.pixels, img)  # the photo is the uploaded file, never the browser's


def test_canvas_values_for_another_photo_or_damaged_are_refused(tmp_path):
    session = session_for(photo(), tmp_path)
    with pytest.raises(gr.Error, match="another photo"):
        cb.user_errors(cb.canvas_mask)(cv(rect(48, 64, 1, 5, 1, 5)), session)
    with pytest.raises(gr.Error, match="another photo"):
        cb.user_errors(cb.canvas_mask)(dict(cv(rect(96, 128, 1, 5, 1, 5)), key="other"), session)
    with pytest.raises(gr.Error, match="damaged"):
        cb.user_errors(cb.canvas_mask)(dict(cv(rect(96, 128, 1, 5, 1, 5)), mask="r:@@"), session)
    with pytest.raises(gr.Error, match="empty"):
        cb.user_errors(cb.canvas_mask)(cv(np.zeros((96, 128), bool)), session)


def test_load_puts_the_display_copy_and_the_full_size_mask_on_the_canvas(tmp_path, monkeypatch):
    monkeypatch.setattr(cb, "DISPLAY_MAX", 64)
    session = session_for(photo(), tmp_path)
    assert session.display.shape == (48, 64, 3) and session.scale == 0.5  # shown reduced ...
    m = rect(96, 128, 31, 53, 41, 77)
    value = cb.canvas_load(session, m)
    assert value["op"] == "load" and (value["w"], value["h"]) == (128, 96) and value["key"] == session.key
    assert value["photo"].startswith("data:image/jpeg;base64,")
    assert np.array_equal(mask_of(value, session), m)  # ... the mask at full size, exact
    assert cb.canvas_load(session)["mask"] is None


def test_photo_is_decoded_on_the_server_with_alpha_16_bit_and_exif(tmp_path):
    from pipelines import io

    rgba = np.dstack([photo(), np.linspace(0, 255, 96 * 128).reshape(96, 128).astype(np.uint8)])
    session = session_for(rgba, tmp_path, "rgba.png")
    assert np.array_equal(session.picture.pixels, rgba) and session.display.shape == (96, 128, 3)
    grey16 = (np.arange(96 * 128, dtype=np.uint32).reshape(96, 128) * 5).astype(np.uint16)
    session = session_for(grey16, tmp_path, "g16.png")
    assert session.picture.pixels.dtype == np.uint16 and np.array_equal(session.picture.pixels, grey16)
    m = rect(96, 128, 30, 50, 40, 70)
    out = cb.run_inpaint(cv(m, session), "", "", "Replace", "telea", "", 1.0, -1, 0, 10, 7.5, 1, 1, "seamless",
                         session)
    result = io.read(out["result_png"]).pixels
    assert result.dtype == np.uint16 and np.array_equal(result[~m], grey16[~m])


@pytest.mark.parametrize("what, message", [("nothing", "no photo"), ("empty", "the mask is empty")])
def test_user_errors_are_one_line_gr_error(tmp_path, what, message):
    session = Session() if what == "nothing" else session_for(photo(), tmp_path)
    with pytest.raises(gr.Error) as info:
        cb.user_errors(cb.band)(None, 8, -1, "seamless", session)
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
    value = cv(rect(96, 128, 30, 50, 40, 70), session)
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
    value = cv(rect(96, 128, 30, 50, 40, 70), session)
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
    value = cv(rect(96, 128, 30, 50, 40, 70), session)
    with pytest.raises(gr.Error, match="not offered on this server"):
        cb.user_errors(cb.run_inpaint)(value, "a", "", "Replace", "diffusers", "someone/huge-model", 1.0, -1, 0, 2,
                                       2.0, 1, 1, "seamless", session, config=cfg)


# ------------------------------------------------------------------------------------------ preview and heatmap


def band_pixels(value) -> np.ndarray:
    import base64

    import cv2

    assert value["op"] == "band" and value["band"].startswith("data:image/png;base64,")
    data = np.frombuffer(base64.b64decode(value["band"].split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)


def test_band_overlay_shows_growth_and_feather_and_nothing_else(tmp_path):
    img = np.full((80, 80, 3), 128, np.uint8)
    session = session_for(img, tmp_path)
    m = rect(80, 80, 30, 50, 30, 50)
    out = band_pixels(cb.band(cv(m, session), 6, 3, "seamless", session))
    assert out.shape == (80, 80, 4)
    growth, inside, far = out[27, 40], out[40, 40], out[2, 2]
    assert growth[3] > 0 and growth[0] > 150 and growth[1] > 130 and growth[2] < 100  # yellow: the growth band
    feather_px = out[25, 40]  # 1 px inside the grown edge (grown by 6 -> edge at row 24): the feather band
    assert feather_px[3] > 0 and feather_px[2] > feather_px[0]  # blue
    assert inside[3] == 0 and far[3] == 0  # the canvas draws the mask itself; the photo shows through elsewhere
    quiet = cb.band(None, 6, 3, "seamless", session, quiet=True)
    assert quiet["op"] == "band" and quiet["band"] is None


def test_band_of_the_feather_method_straddles_the_edge():
    m = rect(80, 80, 30, 50, 30, 50)
    safe = cb.band_overlay(m, 0, 4, "seamless")
    textbook = cb.band_overlay(m, 0, 4, "feather")
    outside = (27, 40)  # 3 px outside the mask
    assert safe[outside][3] == 0
    assert textbook[outside][3] > 0 and textbook[outside][2] > textbook[outside][0]


def test_heatmap_is_zero_outside_the_mask_after_inpainting(tmp_path):
    img = photo()
    m = rect(96, 128, 30, 60, 40, 80)
    session = session_for(img, tmp_path)
    out = cb.run_inpaint(cv(m, session), "", "", "Replace", "telea", "", 1.0, -1, 4, 10, 7.5, -1, 1, "seamless",
                         session)
    assert out["canvas"]["op"] == "result" and out["canvas"]["key"] == session.key  # the before/after view
    from pipelines import io, provenance

    after = io.read(out["result_png"]).pixels  # the one lossless PNG
    repainted = out["session"].result_mask
    assert repainted[m].all() and repainted.sum() > m.sum()  # growth 4 was asked for, and reported
    assert "grown by 4 px" in out["info"]
    assert np.array_equal(after[~repainted], img[~repainted])  # the contract
    heat = out["heatmap"]
    assert heat.shape == img.shape
    assert not heat[~repainted].any()  # black (zero) outside
    assert heat[repainted].any()  # something changed inside
    assert len(out["gallery"]) == 1 and "seam score" in out["gallery"][0][1]
    assert np.array_equal(io.read(out["mask_png"]).pixels > 0, repainted)
    record = provenance.read_settings(out["result_png"])  # the result carries its settings
    assert record["engine"] == "telea" and record["grow"] == 4 and record["mask"]["sha256"]
    assert record["mask"] == provenance.settings_record(
        operation="x", engine="x", model=None, prompt=None, negative=None, seed=None, strength=None, steps=None,
        guidance=None, grow=0, feather=None, method="x", mask=m, report=None)["mask"]  # the mask as painted


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
        assert res.shape == img.shape and "seam score" in caption
    feather_caps = [c for _, c in panels[1:4]]  # textbook feather, widths 4, 12, 40
    assert all("CHANGES" in c and "not contract-safe" in c for c in feather_caps)
    for res, caption in panels[4:]:
        assert "outside unchanged" in caption
        assert np.array_equal(res[~m], img[~m])


def test_feather_lab_from_the_canvas_uses_default_mask_and_checks_input(tmp_path):
    value = None
    panels, scrub = cb.run_feather_lab("patch", None, value, session_for(photo(), tmp_path), "0 8", ["inward"],
                                       "#ff00ff", 0)
    assert len(panels) == 2 and len(scrub) == 2
    with pytest.raises(gr.Error, match="no result yet"):
        cb.user_errors(cb.run_feather_lab)("result", None, value, Session(), "4", ["inward"], "#ff00ff", 0)
    with pytest.raises(gr.Error, match="numbers"):
        cb.user_errors(cb.run_feather_lab)("patch", None, value, session_for(photo(), tmp_path), "4, x", ["inward"],
                                           "#ff00ff", 0)


# ------------------------------------------------------------------------------------------ mask tools, modes


def test_mask_tools_grow_shrink_invert_clear_upload(tmp_path):
    from pipelines import io, masks

    img = photo()
    s = session_for(img, tmp_path)
    m = rect(96, 128, 30, 60, 40, 80)
    value = cv(m, s, rev=7)
    grown = cb.mask_tool(value, "grow", s, 4)
    assert grown["op"] == "mask" and grown["base"] == 7 and grown["key"] == s.key  # computed from canvas rev 7
    assert np.array_equal(mask_of(grown, s), masks.grow(m, 4))
    assert np.array_equal(mask_of(cb.mask_tool(value, "shrink", s, 4), s), masks.shrink(m, 4))
    assert np.array_equal(mask_of(cb.mask_tool(value, "invert", s), s), ~m)
    assert not mask_of(cb.mask_tool(value, "clear", s), s).any()
    bw = tmp_path / "half.png"
    io.save_png(bw, (rect(48, 64, 15, 30, 20, 40) * 255).astype(np.uint8))  # half size: resized to the photo
    up = mask_of(cb.mask_tool(value, "upload", s, upload=str(bw)), s)
    assert up.shape == (96, 128) and up[45, 60] and not up[5, 5]
    pal = "../shared/images/edge_cases/mask_pal.png"  # two-colour palette: read as black/white, not indices
    if __import__("os").path.exists(pal):
        s2 = session_for(np.zeros((240, 320, 3), np.uint8), tmp_path, "black.png")
        assert 0 < mask_of(cb.mask_tool(None, "upload", s2, upload=pal), s2).mean() < 1
    with pytest.raises(gr.Error, match="empty"):
        cb.mask_tool(cv(np.zeros((96, 128), bool), s), "grow", s, 4)


def test_continue_from_a_result_then_undo(tmp_path):
    from pipelines import io

    img = photo()
    s = session_for(img, tmp_path)
    first = rect(96, 128, 30, 60, 40, 80)
    out = cb.run_inpaint(cv(first, s), "", "", "Replace", "telea", "", 1.0, -1, 0, 10, 7.5, -1, 1, "seamless", s,
                         folder=tmp_path)
    result1 = io.read(out["result_png"]).pixels
    value, s, status = cb.continue_from_result(s)
    assert value["op"] == "load" and value["mask"] is None and "edit 2" in status
    assert np.array_equal(s.picture.pixels, result1)  # the next contract is against the result
    second = rect(96, 128, 5, 20, 5, 30)
    out = cb.run_inpaint(cv(second, s), "", "", "Replace", "telea", "", 1.0, -1, 0, 10, 7.5, -1, 1, "seamless", s,
                         folder=tmp_path)
    result2 = io.read(out["result_png"]).pixels
    assert np.array_equal(result2[~second], result1[~second]) and not np.array_equal(result2, result1)
    assert "edit 2 of a chain" in out["info"]
    value, s, status = cb.undo_result(s)
    assert np.array_equal(s.picture.pixels, img) and np.array_equal(mask_of(value, s), first)
    with pytest.raises(gr.Error, match="nothing to undo"):
        cb.user_errors(cb.undo_result)(s)
    with pytest.raises(gr.Error, match="no result yet"):
        cb.user_errors(cb.continue_from_result)(session_for(img, tmp_path))


def test_the_plain_endpoint_takes_an_image_and_a_mask_file(tmp_path):
    from pipelines import io

    rgba = np.dstack([photo(), np.linspace(0, 255, 96 * 128).reshape(96, 128).astype(np.uint8)])
    io.save_png(tmp_path / "rgba.png", rgba)
    m = rect(96, 128, 30, 60, 40, 80)
    io.save_png(tmp_path / "m.png", m)
    png, mask_png, info = cb.inpaint_files(str(tmp_path / "rgba.png"), str(tmp_path / "m.png"), "", "", "Replace",
                                           "telea", "", 1.0, -1, 0, 10, 7.5, -1, 1, "seamless", folder=tmp_path)
    out = io.read(png).pixels
    assert out.shape == rgba.shape and np.array_equal(out[~m], rgba[~m]) and "telea" in info
    with pytest.raises(gr.Error, match="no mask"):
        cb.user_errors(cb.inpaint_files)(str(tmp_path / "rgba.png"), None, "", "", "Replace", "telea", "", 1.0, -1,
                                         0, 10, 7.5, -1, 1, "seamless", folder=tmp_path)


def test_engine_status_and_ignored_controls():
    assert "telea" in cb.engine_status("telea", "", None) and "no weights" in cb.engine_status("telea", "", None)
    cfg = AppConfig(allow_downloads=False)
    assert "downloads are off" in cb.engine_status("diffusers", "someone/not-here", cfg)
    off, on = cb.engine_controls("ns"), cb.engine_controls("diffusers")
    assert all(u["interactive"] is False for u in off) and all(u["interactive"] is True for u in on)


def test_remove_picks_lama_when_its_weights_are_here_and_stage_runs_the_depth_controlnet(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINT_APP_CACHE", str(tmp_path / "app"))
    assert cb.mode_engine("Remove", "diffusers") == "telea"  # LaMa is never downloaded by a mode switch
    assert "models --download lama" in cb.engine_status("telea", "", None, "Remove")
    (tmp_path / "app" / "weights").mkdir(parents=True)
    (tmp_path / "app" / "weights" / "big-lama.pt").write_bytes(b"x")
    assert cb.mode_engine("Remove", "telea") == "lama"
    assert "LaMa" in cb.engine_status("lama", "", None) and "weights present" in cb.engine_status("lama", "", None)
    assert all(u["interactive"] is False for u in cb.engine_controls("lama"))
    assert cb.mode_engine("Stage", "lama") == "diffusers" and cb.mode_engine("Replace", "ns") == "diffusers"
    assert cb.mode_engine("Replace", "diffusers") == "diffusers"
    assert "depth ControlNet" in cb.engine_status("diffusers", "depth-staging", None, "Stage")
    assert {"sdxl-inpaint", "flux-fill", "depth-staging"} <= set(AppConfig().allowed_models())
    table = cb.models_table()
    assert "| `lama` | lama | 512 | ~0.2 GB | yes |" in table and "| `telea` | telea | - | none | yes |" in table

    calls = []

    def spy(image, mask, prompt, negative, **kw):
        calls.append(dict(kw, prompt=prompt))
        raise RuntimeError("stop here")

    monkeypatch.setattr("pipelines.inpaint.inpaint", spy)
    from pipelines import io

    io.save_png(tmp_path / "room.png", photo())
    picture = io.read(tmp_path / "room.png")
    m = rect(96, 128, 30, 60, 40, 80)
    args = ("Stage", "diffusers", "", 1.0, -1, 0, 2, 7.5, 1, 1, "seamless")
    with pytest.raises(RuntimeError, match="stop here"):
        cb.inpaint_picture(picture, m, "a grey sofa", "", *args, folder=tmp_path,
                           default_model="stable-diffusion-v1-5/stable-diffusion-inpainting")
    assert calls[-1]["control"] == "depth" and calls[-1]["model"] == cb.STAGE_MODEL
    with pytest.raises(gr.Error, match="Stage needs a prompt"):
        cb.user_errors(cb.inpaint_picture)(picture, m, "", "", *args, folder=tmp_path)
    with pytest.raises(gr.Error, match="Stage needs the diffusers engine"):
        cb.user_errors(cb.inpaint_picture)(picture, m, "a sofa", "", "Stage", "telea", "", 1.0, -1, 0, 2, 7.5, 1, 1,
                                           "seamless", folder=tmp_path)
    with pytest.raises(RuntimeError, match="stop here"):
        cb.inpaint_picture(picture, m, "", "", "Remove", "lama", "", 1.0, -1, 0, 2, 7.5, 1, 1, "seamless",
                           folder=tmp_path, config=AppConfig(allow_downloads=False))
    assert calls[-1]["engine"] == "lama" and calls[-1]["allow_download"] is False and "control" not in calls[-1]


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


@pytest.mark.skipif(not HAS_SEGMENT, reason="pipelines.segment is not there yet")
def test_select_on_the_canvas_with_grabcut_proposes_candidates(tmp_path):
    from pipelines import io, segment

    h, w = 96, 128
    img = np.full((h, w, 3), (40, 120, 40), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    disc = (xx - 64) ** 2 + (yy - 48) ** 2 <= 20**2
    img[disc] = (230, 40, 200)
    res = Resources(AppConfig(segmenter="grabcut"))
    io.save_png(tmp_path / "disc.png", img)
    value, session, status = cb.load_photo(str(tmp_path / "disc.png"), Session(), res, "k")
    assert value["op"] == "load" and "grabcut" in status
    out = cb.segment_prompts(session, {"points": [[64.4, 48.2]], "labels": [1], "box": None, "seq": 3}, "none", res)
    assert out["op"] == "proposal" and out["seq"] == 3 and out["key"] == session.key and "fallback" in out["info"]
    mask = maskcodec.decode(out["candidates"][out["best"]]["mask"], (h, w))
    assert (mask & disc).sum() / disc.sum() > 0.9 and (mask & ~disc).sum() < 0.1 * disc.sum()
    assert np.array_equal(mask, session.segmentation.mask)  # nothing is added to the mask until the user says so
    grown = cb.segment_prompts(session, {"points": [[64, 48]], "labels": [1], "box": None, "seq": 4}, "removal", res)
    shown = maskcodec.decode(grown["candidates"][0]["mask"], (h, w))  # a preset grows the proposal visibly
    assert np.array_equal(shown, segment.grow_mask(session.segmentation.mask, "removal"))
    boxed = cb.segment_prompts(session, {"points": [], "labels": [], "box": [40, 24, 89, 73], "seq": 5}, "none", res)
    assert maskcodec.decode(boxed["candidates"][0]["mask"], (h, w))[48, 64]
    lonely = cb.segment_prompts(session, {"points": [[5, 5]], "labels": [0], "box": None, "seq": 6}, "none", res)
    assert lonely["op"] == "notice" and "negative click alone" in lonely["text"]


def test_select_without_a_photo_is_an_error():
    with pytest.raises(ValueError, match="no photo"):
        cb.segment_prompts(Session(), {"points": [[1, 1]], "labels": [1]}, "none",
                           Resources(AppConfig(segmenter="grabcut")))


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
    for name in ("inpaint", "inpaint_image", "preview", "segment", "feather_lab", "outpaint", "grow_mask",
                 "invert_mask", "upload_mask", "random_seed", "load_photo"):
        assert name in fns, name
    assert fns["inpaint"].concurrency_id == fns["outpaint"].concurrency_id == fns["inpaint_image"].concurrency_id
    assert fns["inpaint"].concurrency_id == "gpu"
    clicks = [fn for fn in demo.fns.values() if fn.name == "_on_segment"]  # the canvas's Select / Box
    assert len(clicks) == 1
    # clicks never wait behind a generation, nor generation behind a click
    assert fns["segment"].concurrency_id == clicks[0].concurrency_id == fns["load_photo"].concurrency_id
    assert clicks[0].concurrency_id != "gpu" and fns["grow_mask"].concurrency_id not in ("gpu", "segment")
    assert demo.delete_cache is not None


def test_examples_load_photo_and_mask_from_assets():
    from editor.layout import examples, load_example

    rows = examples()
    assert rows and all(len(r) == 4 for r in rows)
    value, session, _ = load_example(rows[0][0], rows[0][3], None, resources(), "k")
    mask = mask_of(value, session)
    assert mask.shape == session.image.shape[:2] and 0.05 < mask.mean() < 0.3


def test_stop_sets_the_sessions_cancel_event_and_the_run_says_cancelled(tmp_path):
    res = Resources(AppConfig(engine="telea"))
    event = res.cancel_event("abc")
    assert res.cancel("abc") and event.is_set() and not res.cancel("abc")
    session = session_for(photo(), tmp_path)
    value = cv(rect(96, 128, 30, 50, 40, 70), session)
    with pytest.raises(gr.Error, match="cancelled"):
        cb.user_errors(cb.run_inpaint)(value, "", "", "Replace", "telea", "", 1.0, -1, 4, 10, 7.5, 1, 1, "seamless",
                                       session, cancel=event)


def test_closing_a_tab_cancels_its_job_and_removes_its_files():
    res = Resources(AppConfig(engine="telea"))
    folder = res.session_dir("tab1")
    (folder / "result.png").write_bytes(b"x")
    event = res.cancel_event("tab1")
    res.end_session("tab1")
    assert event.is_set() and not folder.exists()
    res.close()


@pytest.mark.skipif(not HAS_SEGMENT, reason="pipelines.segment is not there yet")
def test_select_with_a_tiny_sam_offers_ranked_candidates_and_refines(tmp_path):
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
    _, session, status = cb.load_photo(str(tmp_path / "p.png"), Session(), res, "k")
    assert "sam tiny" in status
    out = cb.segment_prompts(session, {"points": [[60, 40]], "labels": [1], "box": None, "seq": 1}, "none", res)
    assert len(out["candidates"]) == 3 and out["best"] == 0
    scores = [float(c["label"].split(" ")[0]) for c in out["candidates"]]
    assert scores == sorted(scores, reverse=True)  # best first
    first = session.segmentation
    out = cb.segment_prompts(session, {"points": [[60, 40], [10, 10]], "labels": [1, 0], "box": None, "seq": 2},
                             "none", res)
    assert len(session.segmentation.prompts.points) == 2 and session.segmentation is not first
    assert session.segmentation.masks.shape == (3, 96, 128)


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


def test_outpaint_on_the_canvas_frames_runs_and_continues(tmp_path):
    from pipelines import io, provenance

    img = photo(48, 64)
    s = session_for(img, tmp_path)
    value, left, right, top, bottom = cb.frame(s, 0, 16, 0, 8)
    assert value["op"] == "frame" and value["pads"] == [0, 0, 16, 8] and (left, right, top, bottom) == (0, 16, 0, 8)
    value, *sides = cb.frame(s, 0, 0, 0, 0, "1:1")  # an aspect preset centres the photo
    assert value["pads"] == [0, 8, 0, 8] and sides == [0, 0, 8, 8]
    with pytest.raises(gr.Error, match="nothing to outpaint"):
        cb.user_errors(cb.frame)(s, 0, 0, 0, 0)
    with pytest.raises(gr.Error, match="whole numbers"):
        cb.user_errors(cb.frame)(s, "x", 0, 0, 0)
    with pytest.raises(gr.Error):
        cb.user_errors(cb.frame)(s, 0, 10**6, 0, 10**6)  # a canvas over the size limit
    value, png, info, s = cb.run_outpaint_canvas(s, 0, 16, 0, 8, None, "single", "", "", "telea", "", 10, 7.5, 1,
                                                 folder=tmp_path)
    out = io.read(png).pixels
    assert value["op"] == "result" and out.shape == (56, 80, 3) and np.array_equal(out[:48, :64], img)
    record = provenance.read_settings(png)
    assert record["operation"] == "outpaint" and record["extra"]["pads"]["right"] == 16
    assert record["mask"]["pixels"] == 56 * 80 - 48 * 64
    value, s, _ = cb.continue_from_result(s)  # the outpainted picture becomes the photo to edit
    assert (value["w"], value["h"]) == (80, 56) and np.array_equal(s.picture.pixels, out)


def test_feather_lab_on_the_users_mask_with_seam_crops_and_a_scrubber(tmp_path):
    img = photo()
    s = session_for(img, tmp_path)
    m = rect(96, 128, 30, 60, 40, 80)
    gallery, scrub = cb.run_feather_lab("patch", None, cv(m, s), s, "0, 8", ["hard", "seamless"], "#00ff00", 0)
    assert len(gallery) == len(scrub) == 3  # hard once, seamless at 0 and 8
    assert cb.seam_point(m) == (40, 44)  # the left edge of the mask on its centroid row (44.5, rounded to even)
    for p in scrub:
        assert p["crop"].shape == (96 * 4, 96 * 4, 3)
    expected = img.copy()
    expected[m] = (0, 255, 0)  # the hard paste
    assert np.array_equal(scrub[0]["crop"][::4, ::4], expected[0:96, 0:96])  # the seam, pixel for pixel, 4x
    full, crop, caption = cb.scrub_panel(3, scrub)
    assert crop is scrub[2]["crop"] and caption.startswith("**3 of 3**") and "seamless 8 px" in caption
    assert cb.scrub_panel(99, scrub)[2].startswith("**3 of 3**")
    with pytest.raises(gr.Error, match="Composite first"):
        cb.user_errors(cb.scrub_panel)(1, [])


def test_select_by_text_proposes_each_instance_and_all(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_grounding import tiny_grounding_dino

    from pipelines.segment import grounding

    (tmp_path / "gd").mkdir()
    folder = tiny_grounding_dino(tmp_path / "gd")
    import torch

    monkeypatch.setattr(torch, "_app_test_threads", torch.get_num_threads(), raising=False)
    torch.set_num_threads(1)  # toy-sized matrices: two threads on a 2-core runner only spin
    res = Resources(AppConfig(segmenter="grabcut", text_model=str(folder), device="cpu", allow_downloads=False))
    h, w = 96, 128
    img = np.full((h, w, 3), (40, 120, 40), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    discs = [(xx - 32) ** 2 + (yy - 48) ** 2 <= 14**2, (xx - 96) ** 2 + (yy - 48) ** 2 <= 14**2]
    for d in discs:
        img[d] = (230, 40, 200)
    session = session_for(img, tmp_path)
    real = grounding.TextSelector.boxes
    asked = []

    def boxes_on_the_discs(self, image, phrase):  # the toy model runs; its boxes (meaningless) are replaced
        asked.append(real(self, image, phrase))
        return [((12, 28, 53, 69), 0.9), ((76, 28, 117, 69), 0.8)]

    monkeypatch.setattr(grounding.TextSelector, "boxes", boxes_on_the_discs)
    out = cb.select_by_text(session, "the discs", "none", res)
    assert asked and out["op"] == "proposal" and out["seq"] is None and "grounding-dino" in out["info"]
    labels = [c["label"] for c in out["candidates"]]
    assert len(labels) == 3 and labels[0].startswith("0.90") and labels[2].startswith("all 2")
    got = [maskcodec.decode(c["mask"], (h, w)) for c in out["candidates"]]
    for m, d in zip(got, discs):
        assert (m & d).sum() / d.sum() > 0.9 and not (m & ~masks_box(d)).any()
    assert np.array_equal(got[2], got[0] | got[1])
    monkeypatch.setattr(grounding.TextSelector, "boxes", lambda self, image, phrase: [])
    with pytest.raises(gr.Error, match="no 'a cat' found"):
        cb.user_errors(cb.select_by_text)(session, "a cat", "none", res)
    with pytest.raises(gr.Error, match="type what to select"):
        cb.user_errors(cb.select_by_text)(session, "  ", "none", res)
    missing = Resources(AppConfig(segmenter="grabcut", text_model=str(tmp_path / "none"), allow_downloads=False))
    with pytest.raises(gr.Error, match="select by clicking instead"):
        cb.user_errors(cb.select_by_text)(session, "the dog", "none", missing)
    res.close()
    torch.set_num_threads(torch._app_test_threads)


def masks_box(d):
    """The bounding box of ``d`` widened by 8 px, as a mask."""
    from pipelines import masks

    x0, y0, x1, y1 = masks.bbox(d)
    out = np.zeros_like(d)
    out[max(0, y0 - 8):y1 + 8, max(0, x0 - 8):x1 + 8] = True
    return out


def test_stop_leaves_every_output_as_it_was_and_says_stopped():
    from editor.layout import STOPPED, stoppable
    from pipelines.inpaint import Cancelled

    @stoppable(outputs=4, message_at=2)
    def run(stop):
        if stop:
            raise Cancelled("cancelled by the user")
        return 1, 2, 3, 4

    assert run(False) == (1, 2, 3, 4)
    out = run(True)
    assert out[2] == STOPPED and all(isinstance(o, type(gr.skip())) for i, o in enumerate(out) if i != 2)


def test_instruction_fills_mode_prompt_and_proposes_the_object(tmp_path, monkeypatch):
    from pipelines.segment import grounding

    h, w = 96, 128
    img = np.full((h, w, 3), (40, 120, 40), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    disc = (xx - 64) ** 2 + (yy - 48) ** 2 <= 18**2
    img[disc] = (230, 40, 200)
    session = session_for(img, tmp_path)
    res = Resources(AppConfig(segmenter="grabcut", allow_downloads=False, text_model=str(tmp_path / "none")))
    # without a text model: mode and prompt are filled, the canvas says to click
    value, mode, prompt, negative, status = cb.plan_instruction(session, "replace the ball with a red apple", "none",
                                                                res)
    assert (mode, prompt, negative) == ("Replace", "a red apple", "") and value["op"] == "notice"
    assert "select the ball by clicking" in value["text"] and "replace **ball**" in status
    value, mode, prompt, negative, _ = cb.plan_instruction(session, "please remove the ball", "none", res)
    assert mode == "Remove" and prompt == cb.REMOVE_PROMPT and negative == cb.REMOVE_NEGATIVE
    # with one: the object is proposed on the canvas
    monkeypatch.setattr(cb, "select_by_text", lambda s, phrase, preset, r: canvas.proposal_value(
        [(phrase, disc)], 0, s.key, None, "found"))
    value, mode, prompt, _, status = cb.plan_instruction(session, "make the ball light blue", "none", res)
    assert value["op"] == "proposal" and value["candidates"][0]["label"] == "ball" and mode == "Replace"
    assert "light blue" in prompt and "Add to mask" in status
    with pytest.raises(gr.Error, match="remove"):
        cb.user_errors(cb.plan_instruction)(session, "do something nice", "none", res)
    assert grounding.MAX_INSTANCES >= 1


def test_find_the_shadow_proposes_it_in_its_own_colour(tmp_path):
    h, w = 120, 160
    img = np.full((h, w, 3), 200, np.uint8)
    obj = np.zeros((h, w), bool)
    obj[30:70, 60:90] = True
    img[obj] = (40, 60, 200)
    shadow = np.zeros((h, w), bool)
    shadow[70:90, 55:100] = True  # under the object: the same surface, darker
    img[shadow] = 110
    session = session_for(img, tmp_path)
    out = cb.suggest_shadow(cv(obj, session), session)
    if out["op"] == "proposal":
        got = maskcodec.decode(out["candidates"][0]["mask"], (h, w))
        assert out["colour"] == list(cb.SHADOW_RGB) and not (got & obj).any()
        assert (got & shadow).sum() / max(1, (got | shadow).sum()) > 0.5
    else:  # no shadow is a status line, never an error
        assert out["op"] == "notice" and "no shadow" in out["text"]
    blank = session_for(np.full((h, w, 3), 200, np.uint8), tmp_path, "blank.png")
    assert cb.suggest_shadow(cv(obj, blank), blank)["op"] == "notice"


def test_the_app_segments_with_sam2_from_a_folder(tmp_path):
    pytest.importorskip("transformers")
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from test_sam2 import tiny_sam2

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # toy-sized matrices: two threads on a 2-core runner only spin
    try:
        model, processor = tiny_sam2()
        model.save_pretrained(tmp_path / "sam2")
        processor.save_pretrained(tmp_path / "sam2")
        args = app.parse_args(["--segmenter", "sam2", "--sam2-model", str(tmp_path / "sam2"), "--device", "cpu"])
        cfg = app.config_from_args(args)
        assert cfg.segmenter == "sam2" and cfg.sam2_model == str(tmp_path / "sam2")
        res = Resources(cfg)
        from pipelines import io

        io.save_png(tmp_path / "p.png", photo())
        _, session, status = cb.load_photo(str(tmp_path / "p.png"), Session(), res, "k")
        assert "sam2" in status.lower()
        out = cb.segment_prompts(session, {"points": [[60, 40]], "labels": [1], "box": None, "seq": 1}, "none", res)
        assert out["op"] == "proposal" and len(out["candidates"]) == 3
        res.close()
    finally:
        torch.set_num_threads(threads)


def test_auto_growth_proposes_the_selection_grown_by_its_soft_edge(tmp_path):
    pytest.importorskip("pymatting")
    from pipelines import io, masks
    from pipelines.segment import matting

    h, w = 96, 128
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(xx - 64, yy - 48)
    alpha = np.clip((22 - r) / 6 + 0.5, 0, 1)[..., None]  # a disc with a 6 px soft edge
    rng = np.random.default_rng(0)
    background = np.clip(rng.normal(90, 12, (h, w, 3)), 0, 255)
    img = np.round(alpha * np.array([230, 40, 200]) + (1 - alpha) * background).astype(np.uint8)
    io.save_png(tmp_path / "soft.png", img)
    res = Resources(AppConfig(segmenter="grabcut"))
    _, session, _ = cb.load_photo(str(tmp_path / "soft.png"), Session(), res, "k")
    out = cb.segment_prompts(session, {"points": [[64, 48]], "labels": [1], "box": None, "seq": 1}, "auto", res)
    chosen = session.segmentation.masks[session.segmentation.ranked()[0]]
    auto = matting.auto_growth(session.image, np.asarray(chosen, bool), feather=cb.blend.default_feather("seamless"))
    assert auto.px > 0 and f"auto {auto.px} px" in out["info"]
    got = maskcodec.decode(out["candidates"][0]["mask"], (h, w))
    assert np.array_equal(got, masks.grow(np.asarray(chosen, bool), auto.px))  # what is proposed is what grows
    none = cb.segment_prompts(session, {"points": [[64, 48]], "labels": [1], "box": None, "seq": 2}, "none", res)
    assert maskcodec.decode(none["candidates"][0]["mask"], (h, w)).sum() < got.sum()
    with pytest.raises(gr.Error, match="unknown growth"):
        cb.user_errors(cb.grow_selection)(img, np.asarray(chosen, bool), "lots")
