"""Bad and unusual inputs, as one table that any front end can be run against (the CLI in test_bad_inputs.py; the
web API in test_web_bad_inputs.py takes its files, UNREADABLE, WORKING_IMAGES and THIN, and adds the web's own
cases: canvas values and every endpoint).

A case is a dict:

    id        a unique, readable name
    command   "inpaint" (engine telea), "blend", "seams", "segment" (engine grabcut) or "outpaint" (engine telea)
    files     role -> file name: image / mask (inpaint); original / generated / mask (blend); reference / result /
              mask (seams); image (segment, outpaint). Names are made by ``materialize`` (see FILES below) or come
              from ../shared/images/edge_cases. Three special names are resolved per case: "auto-mask" (a mask of
              the input image's displayed size, a rectangle over its middle), "auto-generated" (an RGB image of
              that size) and "auto-result" (a copy of the input image).
    params    option -> value, passed as --option value ("radius": -1 -> --radius -1); None drops a default option
    out       "out.png" (a fresh file in a fresh folder, the default), "missing-folder" (a folder that does not
              exist), or "same-as:ROLE" (the path of that input file)
    expect    "ok": exit 0, and the contract holds at the input's own format (outside the mask, io.read of the
              output equals io.read of the input; outpaint: the original at its offset; segment: a 0/255 mask
              of the input's size); "error": exit 2 with one line "error: ..." containing ``message``, inputs
              byte-identical, nothing written.
    message   (errors) a piece of the one-line message

Defaults per command are in DEFAULTS; a case's files and params are merged over them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

COMMANDS = ("inpaint", "blend", "seams", "segment", "outpaint")

DEFAULTS = {
    "inpaint": {"files": {"image": "photo.png", "mask": "auto-mask"}, "params": {"engine": "telea"}},
    "blend": {"files": {"original": "photo.png", "generated": "auto-generated", "mask": "auto-mask"}, "params": {}},
    "seams": {"files": {"reference": "photo.png", "result": "auto-result", "mask": "auto-mask"}, "params": {}},
    "segment": {"files": {"image": "photo.png"}, "params": {"engine": "grabcut", "box": "auto-box"}},
    "outpaint": {"files": {"image": "photo.png"}, "params": {"engine": "telea", "right": 24}},
}
IMAGE_ROLE = {"inpaint": "image", "blend": "original", "seams": "reference", "segment": "image", "outpaint": "image"}
OUTPUT = {"inpaint": True, "blend": True, "seams": False, "segment": True, "outpaint": True}

# ------------------------------------------------------------------------------------------------------------
# Files that cannot be read: (file, a piece of the message)
UNREADABLE = [
    ("corrupt.jpg", "truncated or corrupt"),
    ("corrupt_zlib.png", "truncated or corrupt"),
    ("truncated.png", "truncated or corrupt"),
    ("empty.png", "empty (0 bytes)"),
    ("text.png", "not an image file"),
    ("bomb_full_14200x14200_L.png", "megapixels"),
    ("bomb_header_100k.png", "megapixels"),
    ("missing.png", "no such image file"),
    ("folder.png", "not a file"),
]
UNREADABLE_ROLES = [("inpaint", "image"), ("inpaint", "mask"), ("blend", "original"), ("blend", "generated"),
                    ("blend", "mask"), ("seams", "reference"), ("seams", "result"), ("seams", "mask"),
                    ("segment", "image"), ("outpaint", "image")]

# Images that must work at their own format: file -> the commands to run them through
WORKING_IMAGES = {
    "grey16.png": COMMANDS,
    "rgb16.png": ("inpaint", "blend", "outpaint"),
    "rgba16.png": ("inpaint", "blend", "outpaint"),
    "cmyk.jpg": COMMANDS,
    "palette.png": ("inpaint", "blend", "outpaint"),
    "palette_alpha.png": ("inpaint", "blend", "outpaint"),
    "mask_pal.png": ("inpaint",),
    "la.png": COMMANDS,
    "bench_rgba.png": ("inpaint", "blend", "outpaint", "segment"),
    "dog_p3icc.jpg": ("inpaint", "blend"),
    "dog_exif6.jpg": ("inpaint", "blend"),
    **{f"exif{k}.png": ("inpaint", "blend", "outpaint") for k in range(1, 9)},
    "exif6.jpg": ("inpaint", "seams", "segment"),
    "thin_1x1.png": ("blend",),
    "thin_row.png": ("blend",),
    "thin_column.png": ("blend",),
    "thin_2x2.png": ("inpaint", "blend", "seams", "outpaint"),
    "thin_2xN.png": ("inpaint", "seams", "outpaint"),
}
# Images with a side under 2 px: blended as given, but too small to inpaint, measure or outpaint (a seam needs a
# neighbour on each axis): a clear reason
THIN = {"inpaint": "too small", "seams": "too small", "outpaint": "too small"}


def _cases() -> list[dict]:
    cases: list[dict] = []
    for name, message in UNREADABLE:
        for command, role in UNREADABLE_ROLES:
            files = {role: name}
            if role in ("mask", "generated", "result"):
                files[IMAGE_ROLE[command]] = "photo.png"
            cases.append({"id": f"{command}-{role}-{name}", "command": command, "files": files,
                          "expect": "error", "message": message})
    for name, commands in WORKING_IMAGES.items():
        for command in commands:
            cases.append({"id": f"{command}-works-{name}", "command": command,
                          "files": {IMAGE_ROLE[command]: name}, "expect": "ok"})
    for name in ("thin_1x1.png", "thin_row.png", "thin_column.png"):
        for command, message in THIN.items():
            cases.append({"id": f"{command}-thin-{name}", "command": command,
                          "files": {IMAGE_ROLE[command]: name}, "expect": "error", "message": message})

    # masks
    for command in ("inpaint", "blend", "seams"):
        cases += [
            {"id": f"{command}-mask-empty", "command": command, "files": {"mask": "mask_empty.png"},
             "expect": "error", "message": "the mask is empty"},
            {"id": f"{command}-mask-grey127", "command": command, "files": {"mask": "mask_grey127.png"},
             "expect": "error", "message": "the mask is empty"},
            {"id": f"{command}-mask-mismatched", "command": command, "files": {"mask": "mask_small.png"},
             "expect": "error", "message": "the mask is 50x40 but the image is 128x96"},
            {"id": f"{command}-mask-full", "command": command, "files": {"mask": "mask_full.png"}, "expect": "ok"},
            {"id": f"{command}-mask-grey-noise", "command": command, "files": {"mask": "mask_grey_noise.png"},
             "expect": "ok"},
            {"id": f"{command}-mask-noisy-jpeg", "command": command,
             "files": {IMAGE_ROLE[command]: "photo320.png", "mask": "mask_noisy.jpg"}, "expect": "ok"},
            {"id": f"{command}-mask-palette", "command": command,
             "files": {IMAGE_ROLE[command]: "photo320.png", "mask": "mask_pal.png"}, "expect": "ok"},
            {"id": f"{command}-mask-rgba-layer", "command": command, "files": {"mask": "mask_layer_rgba.png"},
             "expect": "ok"},
        ]
    cases.append({"id": "blend-generated-mismatched", "command": "blend", "files": {"generated": "mask_small.png"},
                  "expect": "error", "message": "50x40"})
    cases.append({"id": "seams-result-mismatched", "command": "seams", "files": {"result": "mask_small.png"},
                  "expect": "error", "message": "50x40"})

    # outputs
    for command in ("inpaint", "blend", "segment", "outpaint"):
        role = IMAGE_ROLE[command]
        cases.append({"id": f"{command}-out-missing-folder", "command": command, "out": "missing-folder",
                      "expect": "error", "message": "does not exist"})
        cases.append({"id": f"{command}-out-is-the-input", "command": command, "out": f"same-as:{role}",
                      "expect": "error", "message": "refusing to overwrite"})
    cases.append({"id": "inpaint-out-is-the-mask", "command": "inpaint", "out": "same-as:mask",
                  "expect": "error", "message": "refusing to overwrite"})
    cases.append({"id": "blend-out-is-the-generated", "command": "blend", "out": "same-as:generated",
                  "expect": "error", "message": "refusing to overwrite"})

    # parameters out of range
    bad_params = [
        ("inpaint", {"grow": -1}, "grow"),
        ("inpaint", {"steps": 0}, "steps"),
        ("inpaint", {"strength": 2}, "strength"),
        ("inpaint", {"strength": 0}, "strength"),
        ("inpaint", {"radius": -1}, "radius"),
        ("inpaint", {"radius": 0}, "radius"),
        ("inpaint", {"feather": -2}, "feather"),
        ("inpaint", {"margin": -1}, "context_margin"),
        ("inpaint", {"variants": 0}, "variants"),
        ("inpaint", {"guidance": -1}, "guidance"),
        ("inpaint", {"seed": -5}, "seed"),
        ("blend", {"grow": -1}, "grow"),
        ("blend", {"feather": -2}, "feather"),
        ("blend", {"box": "1,2,3"}, "--box"),
        ("blend", {"box": "a,b,c,d"}, "--box"),
        ("blend", {"box": "0,0,500,500"}, "does not lie inside"),
        ("blend", {"box": "50,40,10,10"}, "box"),
        ("segment", {"box": "1,2,3"}, "--box"),
        ("segment", {"box": "100,80,20,10"}, "box"),
        ("segment", {"box": "0,0,500,500"}, "box"),
        ("segment", {"grow": -1}, "growth"),
        ("segment", {"grow": "lots"}, "growth"),
        ("segment", {"box": None, "point": "500,500"}, "outside"),
        ("segment", {"box": None, "point": "1,2,3"}, "--point"),
        ("segment", {"min-area": -1}, "--min-area"),
        ("outpaint", {"right": -5}, "right"),
        ("outpaint", {"right": 0}, "nothing to outpaint"),
        ("outpaint", {"right": None, "aspect": "0:9"}, "aspect"),
        ("outpaint", {"right": None, "aspect": "wide"}, "aspect"),
        ("outpaint", {"steps": 0}, "steps"),
        ("outpaint", {"strength": 2}, "strength"),
        ("outpaint", {"right": 100000, "bottom": 100000}, "megapixels"),
        ("outpaint", {"context": 600}, "context"),
    ]
    for command, params, message in bad_params:
        key = "-".join(f"{k}{'' if v is None else v}" for k, v in params.items()).replace(",", "_")
        cases.append({"id": f"{command}-param-{key}", "command": command, "params": params,
                      "expect": "error", "message": message})
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


CASES: list[dict] = _cases()


# ------------------------------------------------------------------------------------------------------------
# Files


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A textured colour field, HWC uint8 RGB (no download, deterministic)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([40 + 150 * xx / max(w, 1), 70 + 100 * yy / max(h, 1), 180 - 90 * xx / max(w, 1)], axis=-1)
    image += 15 * np.sin(xx / 4.0)[..., None] * np.cos(yy / 5.0)[..., None] + rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_files(folder: Path, edge_cases: Path | None) -> None:
    """Write every named input file of the table into ``folder`` (edge cases are copied from ``edge_cases``)."""
    from PIL import Image

    from pipelines import io

    folder.mkdir(parents=True, exist_ok=True)
    photo = _photo(96, 128)
    io.save_png(folder / "photo.png", photo)
    io.save_png(folder / "photo320.png", _photo(240, 320, 1))
    data = io.encode_png(photo)
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is a text file with a .png name\n")
    (folder / "folder.png").mkdir(exist_ok=True)

    rng = np.random.default_rng(7)
    rgb16 = photo.astype(np.uint16) * 257 + rng.integers(0, 257, photo.shape, dtype=np.uint16)
    io.save_png(folder / "rgb16.png", rgb16)
    alpha16 = np.linspace(1000, 65000, 96 * 128).reshape(96, 128).astype(np.uint16)
    io.save_png(folder / "rgba16.png", np.dstack([rgb16, alpha16]))
    pal = Image.fromarray(photo).quantize(16)
    pal.save(folder / "palette.png")
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    pal_t.save(folder / "palette_alpha.png", transparency=3)

    asym = _photo(40, 64, 2)
    for k in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = k
        Image.fromarray(asym).save(folder / f"exif{k}.png", exif=exif)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(asym).save(folder / "exif6.jpg", exif=exif, quality=92)

    io.save_png(folder / "thin_1x1.png", photo[:1, :1])
    io.save_png(folder / "thin_row.png", photo[:1, :64])
    io.save_png(folder / "thin_column.png", photo[:64, :1])
    io.save_png(folder / "thin_2x2.png", photo[:2, :2])
    io.save_png(folder / "thin_2xN.png", photo[:2, :96])

    io.save_png(folder / "mask_empty.png", np.zeros((96, 128), np.uint8))
    io.save_png(folder / "mask_full.png", np.full((96, 128), 255, np.uint8))
    io.save_png(folder / "mask_small.png", np.full((40, 50), 255, np.uint8))
    io.save_png(folder / "mask_grey127.png", np.full((96, 128), 127, np.uint8))
    io.save_png(folder / "mask_grey_noise.png", rng.integers(118, 139, (96, 128)).astype(np.uint8))
    layer = np.zeros((96, 128, 4), np.uint8)
    layer[30:60, 40:90] = (255, 0, 0, 255)  # a red brush stroke on a transparent layer
    io.save_png(folder / "mask_layer_rgba.png", layer)

    if edge_cases is not None:
        for path in Path(edge_cases).iterdir():
            if path.is_file() and not (folder / path.name).exists():
                shutil.copyfile(path, folder / path.name)


def _middle_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    y0, x0 = height // 4, width // 4
    mask[y0:max(y0 + 1, 3 * height // 4), x0:max(x0 + 1, 3 * width // 4)] = 255
    return mask


def materialize(case: dict, inputs: Path, work: Path) -> dict:
    """Resolve a case into paths: {"files": role -> Path, "params": option -> value, "out": Path or None}.

    ``inputs`` holds the files make_files wrote; ``work`` is a fresh, empty folder for this case (the auto files
    and the output go there)."""
    from pipelines import io

    command = case["command"]
    files = {**DEFAULTS[command]["files"], **case.get("files", {})}
    params = {**DEFAULTS[command]["params"], **case.get("params", {})}
    paths = {role: inputs / name for role, name in files.items() if not name.startswith("auto-")}
    image = paths[IMAGE_ROLE[command]]
    auto = [role for role, name in files.items() if name.startswith("auto-")]
    if auto or params.get("box") == "auto-box":
        try:
            size = io.read(image).size  # the displayed size (EXIF applied)
        except ValueError:  # an unreadable input: the auto files get photo.png's size
            size = (128, 96)
        for role in auto:
            name = files[role]
            if name == "auto-mask":
                paths[role] = io.save_png(work / "mask.png", _middle_mask(size[1], size[0]))
            elif name == "auto-generated":
                gen = 255 - _photo(size[1], size[0], 3)
                paths[role] = io.save_png(work / "generated.png", gen)
            elif name == "auto-result":  # a copy of the input (of photo.png when the input is unreadable)
                source = image if image.is_file() else inputs / "photo.png"
                paths[role] = work / ("result" + source.suffix)
                shutil.copyfile(source, paths[role])
        if params.get("box") == "auto-box":
            w, h = size
            params["box"] = f"{w // 4},{h // 4},{max(w // 4 + 1, 3 * w // 4)},{max(h // 4 + 1, 3 * h // 4)}"
    params = {k: v for k, v in params.items() if v is not None}  # None: drop a default option
    out_spec = case.get("out", "out.png")
    if not OUTPUT[command]:
        out = None
    elif out_spec == "missing-folder":
        out = work / "no-such-folder" / "out.png"
    elif out_spec.startswith("same-as:"):
        out = paths[out_spec.split(":", 1)[1]]
    else:
        out = work / out_spec
    return {"files": paths, "params": params, "out": out}


def cli_argv(case: dict, resolved: dict) -> list[str]:
    """The ``python -m pipelines`` arguments of a materialized case."""
    argv = [case["command"]]
    for role, path in resolved["files"].items():
        argv += [f"--{role}", str(path)]
    if resolved["out"] is not None:
        argv += ["--out", str(resolved["out"])]
    for key, value in resolved["params"].items():
        argv += [f"--{key}", str(value)]
    return argv
