"""The cast-shadow suggestion (pipelines.segment.effects.suggest_shadow) and ``python -m pipelines effects``.

Synthetic scenes: a flat or mildly textured background, or a real texture photo (skimage.data brick, grass,
gravel: strong texture with dark grains), an object (an ellipse on a stem) pasted with a soft matte, and a
rendered soft shadow (the silhouette sheared from the object's base, blurred, darkening the background
multiplicatively) falling in a few directions. Without a shadow, dark texture under the object (a dark patch of
another colour, dark stripes of the same colour) must give an empty or small suggestion. Under overcast light there
is no cast shadow, only ambient occlusion: a darkening that fades with the distance from the object's footprint.
"""

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from pipelines.segment.effects import Shadow, suggest_shadow

# Measured on these scenes against the core (darkening > 15%): flat 0.90-0.97, mildly textured 0.87-0.94, real
# textures 0.89-0.97 at darkness 0.5; the thin side shadow (shear 1.5, scale 0.2) 0.65-0.67 (its darkening is
# measured low, so its edge is taken at the penumbra's middle). (Before the shape selection of 2026-11-29: flat
# 0.85-0.97, mildly textured 0.84-0.97, real textures 0.68-0.97, thin 0.70.)
MIN_IOU = 0.75
MIN_IOU_TEXTURED = 0.75
MIN_IOU_THIN = 0.6
MIN_IOU_REAL = 0.6
# Shadows of solids (the projection swept up by a footprint), tilted ground lines and hovering objects (see
# general_scene): measured 0.85-0.94 (the plain projection from the base row gave 0.39-0.81); the hovering object
# reached 0.74 only with a lower cost for the lift (it is an expected failure now: 0.0, support 46%).
MIN_IOU_GENERAL = 0.8
MIN_IOU_HOVERING = 0.65
# Ambient occlusion alone (occlusion_scene, mildly textured ground): measured 0.95 (darkening 0.6 at the footprint)
# and 0.75 (0.45); without the occlusion step nothing was found in either. On grass or gravel the same halo is taken
# for a cast shadow (0.83); a halo decaying over 8% of the object's width is missed.
MIN_IOU_OCCLUSION = 0.65


def scene(shear: float, scale: float, *, textured: bool = False, darkness: float = 0.5, shadow: bool = True,
          seed: int = 0):
    rng = np.random.default_rng(seed)
    h, w = 200, 240
    background = np.empty((h, w, 3), np.float32)
    background[:] = (150, 170, 120)
    if textured:
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2)
        background *= (1 + 0.12 * noise / noise.std())[..., None]
    obj = np.zeros((h, w), np.uint8)
    cv2.ellipse(obj, (120, 70), (22, 30), 0, 0, 360, 1, -1)
    cv2.rectangle(obj, (108, 90), (132, 120), 1, -1)
    obj = obj.astype(bool)
    base = 120
    A = np.float32([[1, -shear, shear * base], [0, -scale, base + scale * base]])
    proj = cv2.warpAffine(obj.astype(np.float32), A, (w, h))
    s = cv2.GaussianBlur(proj, (0, 0), 2.0)
    dark = (1 - darkness) * s if shadow else np.zeros_like(s)
    shaded = background * (1 - dark[..., None])
    matte = cv2.GaussianBlur(obj.astype(np.float32), (0, 0), 0.8)[..., None]
    image = np.clip(matte * np.float32([40, 60, 200]) + (1 - matte) * shaded, 0, 255).astype(np.uint8)
    user = matte[..., 0] > 0.5
    return image, user, (dark > 0.15) & ~user


def real_scene(texture: str, shear: float, scale: float, *, darkness: float = 0.5, shadow: bool = True,
               dark_texture: str | None = None):
    """A real texture photo (skimage.data ``texture``, tinted) with the object and, optionally, its shadow.

    dark_texture: None, "patch" (a dark patch of another colour under the object) or "stripes" (dark stripes of the
    same colour, like boards). Returns image (HWC uint8 RGB), object (HW bool), core (HW bool, darkening > 15%).
    """
    h, w = 200, 240
    gray = getattr(data, texture)().astype(np.float32)[100: 100 + h, 100: 100 + w] / 255
    shade = (0.45 + 0.55 * gray)[..., None]
    background = shade * np.float32([170, 150, 120])
    if dark_texture == "patch":
        patch = np.zeros((h, w), np.float32)
        cv2.ellipse(patch, (140, 140), (45, 22), 20, 0, 360, 1, -1)
        patch = cv2.GaussianBlur(patch, (0, 0), 2)[..., None]
        background = (1 - patch) * background + patch * shade * np.float32([60, 70, 110])
    elif dark_texture == "stripes":
        stripes = cv2.GaussianBlur((np.arange(w) // 14 % 2 == 1).astype(np.float32)[None].repeat(h, 0), (0, 0), 1.5)
        background = background * (1 - 0.45 * stripes)[..., None]
    obj = np.zeros((h, w), np.uint8)
    cv2.ellipse(obj, (120, 70), (22, 30), 0, 0, 360, 1, -1)
    cv2.rectangle(obj, (108, 90), (132, 120), 1, -1)
    obj = obj.astype(bool)
    base = 120
    A = np.float32([[1, -shear, shear * base], [0, -scale, base + scale * base]])
    s = cv2.GaussianBlur(cv2.warpAffine(obj.astype(np.float32), A, (w, h)), (0, 0), 2.0)
    dark = (1 - darkness) * s if shadow else np.zeros_like(s)
    shaded = background * (1 - dark[..., None])
    matte = cv2.GaussianBlur(obj.astype(np.float32), (0, 0), 0.8)[..., None]
    image = np.clip(matte * np.float32([40, 60, 200]) + (1 - matte) * shaded, 0, 255).astype(np.uint8)
    user = matte[..., 0] > 0.5
    return image, user, (dark > 0.15) & ~user


def general_scene(shear: float, scale: float, *, tilt: float = 0.0, lift: float = 0.0, depth: float = 0.0,
                  textured: bool = True, darkness: float = 0.5, seed: int = 0):
    """Like ``scene`` but with shadows the plain projection from the base row does not give: the ground line
    through the object's lowest point is tilted by ``tilt`` (the object's bottom follows it), the object hovers
    ``lift`` px above it, or the object is a solid whose footprint reaches ``depth`` px up the picture (the
    projection swept up by it)."""
    rng = np.random.default_rng(seed)
    h, w = 220, 260
    background = np.empty((h, w, 3), np.float32)
    background[:] = (150, 170, 120)
    if textured:
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2)
        background *= (1 + 0.12 * noise / noise.std())[..., None]
    obj = np.zeros((h, w), np.uint8)
    cv2.ellipse(obj, (130, 70), (22, 30), 0, 0, 360, 1, -1)
    cv2.rectangle(obj, (118, 90), (142, 120), 1, -1)
    xc, base = 130.0, 120.0
    if tilt:
        obj = cv2.warpAffine(obj, np.float32([[1, 0, 0], [tilt, 1, -tilt * xc]]), (w, h), flags=cv2.INTER_NEAREST)
    obj = obj.astype(bool)
    c = base + lift - tilt * xc
    A = np.float32([[1 + shear * tilt, -shear, shear * c], [tilt * (1 + scale), -scale, (1 + scale) * c]])
    hard = cv2.warpAffine(obj.astype(np.uint8), A, (w, h), flags=cv2.INTER_NEAREST)
    if depth:
        hard = cv2.dilate(hard, np.ones((int(depth) + 1, 1), np.uint8), anchor=(0, 0))
    s = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), 2.0)
    dark = (1 - darkness) * s
    shaded = background * (1 - dark[..., None])
    matte = cv2.GaussianBlur(obj.astype(np.float32), (0, 0), 0.8)[..., None]
    image = np.clip(matte * np.float32([40, 60, 200]) + (1 - matte) * shaded, 0, 255).astype(np.uint8)
    user = matte[..., 0] > 0.5
    return image, user, (dark > 0.15) & ~user


def occlusion_scene(strength: float = 0.6, decay: float = 0.15, seed: int = 0):
    """Like ``scene`` (mildly textured) with no cast shadow but ambient occlusion: the ground darkens by
    strength x exp(-distance / (decay x the object's width)) from the object's footprint (its lowest rows)."""
    rng = np.random.default_rng(seed)
    h, w = 200, 240
    background = np.empty((h, w, 3), np.float32)
    background[:] = (150, 170, 120)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2)
    background *= (1 + 0.12 * noise / noise.std())[..., None]
    obj = np.zeros((h, w), np.uint8)
    cv2.ellipse(obj, (120, 70), (22, 30), 0, 0, 360, 1, -1)
    cv2.rectangle(obj, (108, 90), (132, 120), 1, -1)
    obj = obj.astype(bool)
    foot = obj & (np.arange(h)[:, None] >= 116)
    dist = cv2.distanceTransform((~foot).astype(np.uint8), cv2.DIST_L2, 5)
    ao = strength * np.exp(-dist / (decay * 44))
    shaded = background * (1 - ao[..., None])
    matte = cv2.GaussianBlur(obj.astype(np.float32), (0, 0), 0.8)[..., None]
    image = np.clip(matte * np.float32([40, 60, 200]) + (1 - matte) * shaded, 0, 255).astype(np.uint8)
    user = matte[..., 0] > 0.5
    return image, user, (ao > 0.15) & ~user


def iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


@pytest.mark.parametrize("shear, scale", [(0.0, 0.6), (1.0, 0.5), (-1.0, 0.5), (1.5, 0.2), (-0.6, -0.4)])
@pytest.mark.parametrize("textured", [False, True])
def test_finds_the_shadow(shear, scale, textured):
    image, obj, core = scene(shear, scale, textured=textured)
    found = suggest_shadow(image, obj)
    assert isinstance(found, Shadow)
    assert found.mask.dtype == bool and found.mask.shape == obj.shape
    assert not (found.mask & obj).any()
    least = MIN_IOU_THIN if abs(scale) < 0.3 else MIN_IOU_TEXTURED if textured else MIN_IOU
    assert iou(found.mask, core) >= least, found.reason
    assert 0 < found.score <= 1 and "\n" not in found.reason


@pytest.mark.parametrize("shear, scale", [(0.0, 0.6), (1.0, 0.5), (-1.0, 0.5), (-0.6, -0.4)])
@pytest.mark.parametrize("texture", ["brick", "grass", "gravel"])
def test_finds_the_shadow_on_real_texture(texture, shear, scale):
    image, obj, core = real_scene(texture, shear, scale)
    found = suggest_shadow(image, obj)
    assert not (found.mask & obj).any()
    assert iou(found.mask, core) >= MIN_IOU_REAL, found.reason
    assert (found.mask & ~core).sum() <= 0.25 * core.sum()  # little suggested outside the visible shadow


@pytest.mark.parametrize("dark_texture", [None, "patch", "stripes"])
@pytest.mark.parametrize("texture", ["brick", "grass", "gravel"])
def test_dark_texture_is_not_a_shadow(texture, dark_texture):
    image, obj, _ = real_scene(texture, 0.0, 0.6, shadow=False, dark_texture=dark_texture)
    found = suggest_shadow(image, obj)
    if dark_texture == "stripes":  # stripes of the surface's own colour can line up with part of an outline
        assert found.area <= 0.2 * obj.sum(), found.reason
    else:
        assert found.area == 0 and found.reason.startswith("no shadow"), found.reason


@pytest.mark.parametrize("kind, params", [
    ("solid", dict(shear=0.8, scale=0.5, depth=20)),
    ("solid behind", dict(shear=-1.0, scale=-0.4, depth=16)),
    ("tilted", dict(shear=0.0, scale=0.6, tilt=0.25)),
    ("tilted side", dict(shear=1.2, scale=0.3, tilt=-0.2)),
    pytest.param("hovering", dict(shear=0.6, scale=0.5, lift=18), marks=pytest.mark.xfail(
        strict=False, reason="IoU 0.74 with SHAPE_COST 0.01 for the lift, but that fits grass stripes; with the "
                             "costs now the plain projection wins and fails the support test")),
])
def test_finds_shadows_beyond_the_plain_projection(kind, params):
    image, obj, core = general_scene(**params)
    found = suggest_shadow(image, obj)
    assert not (found.mask & obj).any()
    least = MIN_IOU_HOVERING if kind == "hovering" else MIN_IOU_GENERAL
    assert iou(found.mask, core) >= least, (kind, iou(found.mask, core), found.reason)


@pytest.mark.parametrize("strength", [0.6, 0.45])
def test_finds_ambient_occlusion_without_a_cast_shadow(strength):
    image, obj, core = occlusion_scene(strength)
    found = suggest_shadow(image, obj)
    assert not (found.mask & obj).any()
    assert "ambient occlusion" in found.reason and 0 < found.score <= 1, found.reason
    assert iou(found.mask, core) >= MIN_IOU_OCCLUSION, (iou(found.mask, core), found.reason)


def test_light_direction_picks_the_far_side():
    image, obj, core = scene(1.0, 0.5)
    found = suggest_shadow(image, obj, light=(-1, -0.3))  # light from the left: shadow to the right
    assert iou(found.mask, core) >= MIN_IOU
    wrong = suggest_shadow(image, obj, light=(0, 1))  # light from below: the shadow would be above the object
    assert wrong.area == 0 and wrong.reason.startswith("no shadow")


@pytest.mark.parametrize("textured", [False, True])
def test_no_shadow_gives_an_empty_suggestion(textured):
    image, obj, _ = scene(0.0, 0.6, textured=textured, shadow=False)
    found = suggest_shadow(image, obj)
    assert found.area == 0 and not found.mask.any()
    assert found.score == 0 and found.reason.startswith("no shadow")


def test_bad_inputs_are_concise_errors():
    image, obj, _ = scene(0.0, 0.6)
    with pytest.raises(ValueError, match="empty"):
        suggest_shadow(image, np.zeros_like(obj))
    with pytest.raises(ValueError, match="HW bool"):
        suggest_shadow(image, obj.astype(np.uint8))
    with pytest.raises(ValueError, match="but the image is"):
        suggest_shadow(image, obj[:-1])
    with pytest.raises(ValueError, match="HWC uint8"):
        suggest_shadow(image.astype(np.float32), obj)
    with pytest.raises(ValueError, match="light"):
        suggest_shadow(image, obj, light=(0, 0))


def test_large_photo_searches_only_near_the_object():
    image, obj, core = scene(1.0, 0.5)
    big = np.pad(image, ((0, 1800), (0, 1800), (0, 0)), mode="edge")
    big[1500:1700, 1500:1700] //= 3  # a dark patch far away is not a shadow of this object
    big_obj = np.pad(obj, ((0, 1800), (0, 1800)))
    found = suggest_shadow(big, big_obj)
    assert not found.mask[1000:, 1000:].any()
    assert iou(found.mask[:200, :240], core) >= MIN_IOU


def test_cli_writes_the_suggestion(tmp_path, run_cli):
    image, obj, core = scene(1.0, 0.5)
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(obj.astype(np.uint8) * 255).save(tmp_path / "m.png")
    res = run_cli(["effects", "--image", tmp_path / "i.png", "--mask", tmp_path / "m.png", "--out", tmp_path / "s.png"])
    assert res.code == 0, res.err
    line = res.out.strip()
    assert "\n" not in line
    report = json.loads(line)
    assert report["area"] > 0 and report["score"] > 0 and report["reason"]
    with Image.open(tmp_path / "s.png") as written:
        assert written.mode == "1" and written.size == (240, 200)
        mask = np.asarray(written).astype(bool)
    assert report["area"] == int(mask.sum()) and iou(mask, core) >= MIN_IOU


def test_cli_writes_all_black_when_there_is_none(tmp_path, run_cli):
    image, obj, _ = scene(0.0, 0.6, shadow=False)
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(obj.astype(np.uint8) * 255).save(tmp_path / "m.png")
    res = run_cli(["effects", "--image", tmp_path / "i.png", "--mask", tmp_path / "m.png", "--out", tmp_path / "s.png"])
    assert res.code == 0, res.err
    assert json.loads(res.out)["area"] == 0
    with Image.open(tmp_path / "s.png") as written:
        assert written.mode == "1" and not np.asarray(written).any()


def test_cli_missing_file_is_one_line(tmp_path, run_cli):
    res = run_cli(["effects", "--image", tmp_path / "nope.png", "--mask", tmp_path / "m.png", "--out", tmp_path / "s.png"])
    assert res.code == 2
    assert res.err.startswith("error:") and res.err.strip().count("\n") == 0
    assert not (tmp_path / "s.png").exists()
