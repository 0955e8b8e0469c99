"""Render the staging example's empty rooms and their floor masks (no downloads; seeded, so always the same files).

    python examples/staging/make_rooms.py            # writes rooms/room*.png and rooms/floor*.png here
    python examples/staging/make_rooms.py --out DIR  # ... or into DIR

Each room is a one-point-perspective box: a back wall, two side walls and a ceiling lit from a window (a bright
pane with a frame on a side or the back wall), and a floor textured with a photo from scikit-image's wheel (brick,
gravel or grass, or wood planks drawn here) seen in perspective, with the light falling off with depth and a
soft ambient-occlusion band along the walls. floor<k>.png is the free floor area where furniture may go (white =
repaint): the floor less a margin along the walls, the window's wall left untouched. jobs.csv stages every room with
its mask file; jobs_text.csv selects "the floor" by text instead (needs Grounding DINO: see README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from pipelines import io  # noqa: E402

ROOMS = [  # (floor texture, wall colour RGB, window side, width, height)
    ("brick", (214, 206, 190), "left", 1024, 768),
    ("gravel", (190, 200, 208), "back", 1024, 768),
    ("wood", (225, 215, 200), "right", 960, 720),
    ("grass", (200, 190, 180), "back", 1024, 683),
]


def texture(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size RGB floor texture from a scikit-image photo."""
    if name == "wood":  # planks: a grain of stretched noise, a tint per plank, dark joints
        noise = cv2.resize(rng.normal(0, 1, (size // 16, size // 2)).astype(np.float32), (size, size),
                           interpolation=cv2.INTER_CUBIC)
        xx = np.arange(size, dtype=np.float32)[None, :]
        grain = 0.5 + 0.5 * np.sin(xx / 3.0 + 4.0 * noise)
        plank = (np.arange(size) // (size // 8))[None, :]
        tint = 0.85 + 0.3 * rng.random(9)[plank]
        joints = (np.arange(size) % (size // 8) < 3)[None, :]
        shade = (0.7 + 0.3 * grain) * tint * np.where(joints, 0.45, 1.0)
        return np.clip(np.array([160, 112, 70], np.float32) * shade[..., None], 0, 255).astype(np.uint8)
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
        img = (img.astype(np.float32) * np.array([1.0, 0.92, 0.8])).astype(np.uint8)
    tiles = np.tile(img, (size // img.shape[0] + 1, size // img.shape[1] + 1, 1))
    return np.ascontiguousarray(tiles[:size, :size])


def room(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(room HWC uint8 RGB, free-floor mask HW bool) of ROOMS[k]."""
    rng = np.random.default_rng(k)
    floor_name, wall, window, w, h = ROOMS[k]
    # the back wall's rectangle and the vanishing geometry
    bx0, bx1 = int(w * rng.uniform(0.26, 0.32)), int(w * rng.uniform(0.68, 0.74))
    by0, by1 = int(h * rng.uniform(0.16, 0.22)), int(h * rng.uniform(0.52, 0.58))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.zeros((h, w, 3), np.float32)
    wall_c = np.array(wall, np.float32)
    image[:] = wall_c * 0.92
    # side walls darker, ceiling lighter
    polys = {
        "left": np.array([[0, 0], [bx0, by0], [bx0, by1], [0, h]], np.int32),
        "right": np.array([[w, 0], [bx1, by0], [bx1, by1], [w, h]], np.int32),
        "ceiling": np.array([[0, 0], [w, 0], [bx1, by0], [bx0, by0]], np.int32),
        "floor": np.array([[0, h], [bx0, by1], [bx1, by1], [w, h]], np.int32),
    }
    masks = {}
    for name, poly in polys.items():
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [poly], 1)
        masks[name] = m.astype(bool)
    image[masks["left"]] = wall_c * 0.78
    image[masks["right"]] = wall_c * 0.84
    image[masks["ceiling"]] = np.minimum(wall_c * 1.08, 255)
    # the floor: the texture mapped through the perspective of the floor trapezoid
    tex = texture(floor_name, 1024, rng).astype(np.float32)
    src = np.float32([[0, 1023], [0, 0], [1023, 0], [1023, 1023]])
    dst = np.float32([[0, h], [bx0, by1], [bx1, by1], [w, h]])
    warped = cv2.warpPerspective(tex, cv2.getPerspectiveTransform(src, dst), (w, h), flags=cv2.INTER_LINEAR)
    image[masks["floor"]] = warped[masks["floor"]]
    # light: brighter near the window, falling off with depth
    wx = {"left": 0.0, "right": 1.0, "back": 0.5}[window] * w
    light = 0.75 + 0.35 * np.exp(-(((xx - wx) / (0.6 * w)) ** 2)) * (0.6 + 0.4 * yy / h)
    image *= light[..., None]
    # ambient occlusion along the floor's edges with the walls
    edges = np.zeros((h, w), np.uint8)
    cv2.polylines(edges, [polys["floor"][[0, 1, 2, 3]]], False, 1, 1)
    dist = cv2.distanceTransform(1 - edges, cv2.DIST_L2, 3)
    image *= (1 - 0.25 * np.exp(-dist / (0.015 * w)))[..., None]
    # the window: a bright pane with a frame
    pane = np.zeros((h, w), np.uint8)
    if window == "back":
        x0, x1 = int(bx0 + 0.3 * (bx1 - bx0)), int(bx0 + 0.7 * (bx1 - bx0))
        cv2.rectangle(pane, (x0, int(by0 + 0.15 * (by1 - by0))), (x1, int(by0 + 0.7 * (by1 - by0))), 1, -1)
    else:
        side = 0 if window == "left" else w
        bxs = bx0 if window == "left" else bx1
        t0, t1 = 0.3, 0.75
        xa, xb = int(side + t0 * (bxs - side)), int(side + t1 * (bxs - side))
        ya0, ya1 = int(0.25 * by0 + t0 * 0.75 * by0), int(h * 0.55 - t0 * (h * 0.55 - by1) * 0.5)
        yb0, yb1 = int(0.25 * by0 + t1 * 0.75 * by0), int(h * 0.55 - t1 * (h * 0.55 - by1) * 0.5)
        cv2.fillPoly(pane, [np.array([[xa, ya0], [xb, yb0], [xb, yb1], [xa, ya1]], np.int32)], 1)
    frame = cv2.dilate(pane, np.ones((9, 9), np.uint8)) & ~pane.astype(bool)
    image[frame.astype(bool)] = (235, 235, 230)
    sky = np.array([200, 222, 245], np.float32) * (1 - 0.1 * yy / h)[..., None]
    image[pane.astype(bool)] = sky[pane.astype(bool)]
    noise = rng.normal(0, 2.5, image.shape)
    out = np.clip(image + noise, 0, 255).astype(np.uint8)
    # the free floor: the floor less 4% of the width along the walls and the front edge
    free = cv2.erode(masks["floor"].astype(np.uint8), np.ones((3, 3), np.uint8), iterations=int(0.04 * w))
    free[int(0.93 * h):] = 0
    return out, free.astype(bool)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "rooms"), help="folder for the rooms (default: rooms/ here)")
    folder = Path(parser.parse_args(argv).out)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(len(ROOMS)):
        image, free = room(k)
        io.save_png(folder / f"room{k}.png", image)
        io.save_png(folder / f"floor{k}.png", free.astype(np.uint8) * 255)
    print(f"wrote {len(ROOMS)} rooms and floor masks to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
