"""Weight-free benchmark of the cast-shadow suggestion (pipelines.segment.effects.suggest_shadow).

Scene: a real photo (skimage.data astronaut, coffee, chelsea, rocket, motorcycle_left and ../shared/images/*.jpg,
longer side 512); a foreign object (the horse silhouette, an ellipse, a bottle or a blob, filled with another photo's
patch with its channels swapped) pasted with a soft matte (Gaussian 0.8); under it a rendered shadow whose direction
and length vary per scene (falling in front, behind or to the side), darkening the background multiplicatively down
to a factor m in [0.35, 0.8]. The scenes cycle through seven kinds of shadow (--kinds):

- affine: the object's silhouette projected from its base (an affine shear and scale fixing the base row), blurred
  for the penumbra (sigma 1-7 px): the model pipelines/segment/effects.py fits, kept as the easy case;
- solid: a 3D solid (each row an elliptic cross-section 0.4-1x as deep as it is wide, its depth foreshortened up the
  picture by 0.25-0.6) lit by an area light (the mean of 6 jittered projections), so the shadow is fatter than the
  silhouette's projection, starts from a footprint, and its penumbra widens away from the contact;
- contact: solid plus ambient occlusion around the footprint (darkening 0.4-0.75, decay 5-12% of the object's width);
- uneven: solid on bumpy ground (the shadow displaced along the light by a smooth field, up to 6-14% of the object's
  height) with the shadow's darkness varying by +-0.1 over it;
- tilted: the ground line under the object is tilted (slope 0.15-0.35; the object's bottom follows it), so the
  object's lowest row is one corner of its base;
- floating: the object hovers 8-25% of its height above the ground, the shadow is detached from it;
- overcast: ambient occlusion only (no cast shadow; decay 10-25% of the object's width).

The object mask given to the suggestion is matte > 0.5. A scene whose shadow core is under 10% of the object's
area (hidden behind the object or off the frame) is drawn again.

Truth: the shadow's core = darkening > 15% outside the object; the true shadow (for false area) = darkening > 3%.
Reported over every scene: shadow IoU of the suggestion against the core (distribution and the fraction of scenes
with IoU >= 0.7, the issue's target being >= 80%), false area (suggested pixels outside the true shadow / core
area), the same with the light direction given, and on scenes with no shadow the suggested area / object area.
Ghost shadow after removal: pipelines.inpaint.inpaint(engine="telea") with the object mask alone vs object mask |
suggestion (both grown 3 px for the matte), and the darkening left in the core, 1 - sum L(result) / sum L(clean photo) over the core.

    python bench/effects.py [--scenes 56] [--seed 0] [--kinds affine,solid,...] [--no-inpaint] [--out bench/out]

Figures are reported over all scenes and per kind. Seeds 3 and 4 are for tuning, 0, 1 and 2 for reporting.

Figures at the first commit (48 scenes, 9 photos, seed 0): IoU median 0.09, >= 0.7 in 12% of scenes (target 80%:
NOT met); false area median 0.50; no-shadow scenes empty 40%; residual shadow median 0.24 -> 0.15 with the
suggestion. Flat and mildly textured synthetic backgrounds (tests/test_effects.py) reach IoU 0.66-0.96: on real
textured photos the pixel-wise darker-than-the-background test confuses dark texture with shadow. The same method
on seeds 1 and 2: IoU median 0.11 and 0.08, >= 0.7 in 4% and 4%, false area median 0.98 and 0.71, no-shadow
scenes empty 30% and 50%.

Figures with the projection fit (the object's outline mapped by a shear and a scale from its base, scored by the
clipped log contrast across it; see pipelines/segment/effects.py), 48 scenes, seeds 0 / 1 / 2:
IoU median 0.67 / 0.40 / 0.66, >= 0.7 in 50% / 33% / 48% of scenes (with the light direction 52% / 35% / 48%;
target 80%: NOT met); false area median 0.00 / 0.00 / 0.00 (p75 0.03 / 0.14 / 0.01); no-shadow scenes empty
80% / 50% / 70% (largest suggestion 0.15 / 0.51 / 0.51 of the object's area); residual shadow median 0.24 -> 0.09,
0.28 -> 0.13, 0.27 -> 0.08; 45-110 ms a scene (1 MP photo: ~0.1-0.16 s). The misses are mostly all-or-nothing:
about a third of the scenes get IoU ~0, where the fit picks another projection along dark texture or the
evidence test says "no shadow" (weak 20-30% shadows on busy texture, thin side shadows). Note that this
benchmark renders its shadows with the same projection model the method fits, so these figures are an upper
bound for real shadows of 3D objects; tests/test_effects.py also covers real textures (skimage brick, grass,
gravel: IoU 0.68-0.97) and dark texture without a shadow.

Figures on the widened set (2026-11-29, seven kinds, 56 scenes + 10 without a shadow; seeds 0 / 1 / 2; dev seeds 3 / 4).
The method of the commit before (plain projection from the base row): IoU >= 0.7 in 20% / 21% / 29% of scenes
(dev 12% / 25%), no-shadow scenes empty 60% / 100% / 90%; per kind (seeds 0 / 1 / 2) affine 38/62/50%, solid
0/12/50%, contact 25/25/25%, uneven 12/0/50%, tilted 25/38/12%, floating 38/12/12%, overcast 0/0/0%; ghost shadow median 0.32 -> 0.22, 0.34 -> 0.21, 0.38 -> 0.23; 40-90 ms a scene.
With the tilted / hovering / solid projections, the inside-hue check and the pixel-evidence refinement:
IoU >= 0.7 in 25% / 34% / 29% (with the light direction 25% / 36% / 29%; dev 21% / 25%; target 80%: NOT met);
IoU median 0.35 / 0.48 / 0.38; false area median 0.02 / 0.01 / 0.01 (p75 0.20 / 0.11 / 0.40); no-shadow scenes
empty 80% / 80% / 70% (largest suggestion 0.46 / 1.04 / 0.80 of the object's area); ghost shadow left after removal
(median) 0.32 -> 0.12, 0.34 -> 0.09, 0.38 -> 0.13 with the suggestion (object mask alone -> with it); per kind
IoU >= 0.7 / median IoU:
  affine   25/25/25%  0.43/0.44/0.57      solid    0/25/38%   0.03/0.54/0.62
  contact  38/62/38%  0.38/0.72/0.53      uneven   50/50/38%  0.70/0.67/0.67
  tilted   12/50/25%  0.15/0.61/0.00      floating 50/25/38%  0.64/0.00/0.28
  overcast  0/0/0%    0.00/0.16/0.06
The widened shapes help the 3D kinds (contact, uneven) but cost the easy affine kind (62/50% -> 25/25% on seeds
1 / 2: a shape variant or the refinement now wins on some plain shadows) and about 3x the time: 70-370 ms a scene
here (p10-p75 on 2 shared cores; a 640 px photo with the object 200 px tall 0.31 s, a 4000 x 3385 px photo 0.56 s:
the search runs at the working scale, only the crop's resizes and the final mask grow with the photo).

Figures after the shape selection, the fallback and ambient occlusion (2026-11-29, later; scene generator unchanged;
all numbers from runs of this file, the "before" ones re-run with the method of the previous paragraph):
what changed (pipelines/segment/effects.py): (1) the suggestion's shape is chosen among candidates by edge agreement
(the fraction of a candidate's own outline darker inside by d / 2): the rendered projection and its pixel-evidence
reshaping, each for the best projection, the two next best (OTHER_SHAPES) and the best plain one; (2) the reshaping
looks 0.12 object sizes around the rendered shadow (was 0.2: it leaked into dark texture); (3) when the best
projection fails the "is there a shadow" tests, those alternatives are tested in turn (a fallback needs support >=
0.65); (4) ambient occlusion is fitted around the footprint (c + amp exp(-distance / decay), both sides of the
footprint, hue kept, amp <= 70%) and added to the suggestion, also when no cast shadow is found; (5) the lit-surface
fill runs on a 4x coarser grid (2x faster; dev 23/32% -> 21/32% at that step).
Report seeds 0 / 1 / 2 (before -> after): IoU >= 0.7 in 25/34/29% -> 30/38/46% of scenes (with the light direction
25/36/29% -> 34/39/48%; target 80%: NOT met); IoU median 0.35/0.48/0.38 -> 0.53/0.39/0.53; false area median
0.02/0.01/0.01 -> 0.01/0.01/0.04, p75 0.20/0.11/0.40 -> 0.18/0.15/0.28; no-shadow scenes empty 80/80/70% ->
60/80/70% (largest suggestion 0.46/1.04/0.80 -> 0.45/0.73/0.69 of the object's area); ghost shadow left after
removal (median, object mask alone -> with the suggestion) 0.32 -> 0.12 / 0.34 -> 0.09 / 0.38 -> 0.13 before, 0.32
-> 0.10 / 0.34 -> 0.09 / 0.38 -> 0.12 after. Per kind, IoU >= 0.7 / median IoU, after (before):
  affine   38/50/50% 0.66/0.67/0.69 (25/25/25% 0.43/0.44/0.57)
  solid    12/38/50% 0.22/0.46/0.39 (0/25/38% 0.03/0.54/0.62)
  contact  50/75/62% 0.73/0.76/0.72 (38/62/38% 0.38/0.72/0.53)
  uneven   38/50/62% 0.68/0.72/0.78 (50/50/38% 0.70/0.67/0.67)
  tilted   25/38/25% 0.14/0.36/0.00 (12/50/25% 0.15/0.61/0.00)
  floating 50/12/62% 0.73/0.00/0.72 (50/25/38% 0.64/0.00/0.28)
  overcast  0/0/12%  0.07/0.23/0.06 (0/0/0% 0.00/0.16/0.06); its ghost shadow 0.22 -> 0.18 / 0.22 -> 0.05 /
  0.25 -> 0.19 (before 0.22 -> 0.21 / 0.22 -> 0.11 / 0.25 -> 0.19).
Dev seeds 3 / 4: IoU >= 0.7 in 20/25% -> 32/38%, median 0.10/0.34 -> 0.44/0.59, false area p75 0.19/0.11 ->
0.18/0.11, no-shadow scenes empty 60/70% -> 60/60% (on 80 more no-shadow scenes, --scenes 0 --empty 40 on seeds 3
and 4: 54% -> 51%), ghost shadow 0.30 -> 0.18 / 0.38 -> 0.19 before, 0.30 -> 0.14 / 0.38 -> 0.11 after.
Time: 97-291 ms a scene here (p10-p75 of the report runs, 2 cores shared at load 3-5; the previous method's runs at
a similar or higher load: 71-649 ms); the 56 dev scenes of seed 3 scaled to 640 x 426 px: median 0.20 s, p90 0.29 s,
max 0.37 s (the previous method back to back: 0.29 / 0.49 / 0.53 s); a 3994 x 2668 px photo 0.48 s (before 0.52 s).
The gain is in the shape (affine, contact, floating) and in fewer wrong rejections; what keeps the target far: weak
shadows (darkening 20-30%) on busy texture are still rejected by the inside-darkening test (they look like dark
texture, and lowering the thresholds fills the no-shadow scenes), tilted grounds fit badly, ambient occlusion alone
is found in few overcast scenes (5 of 16 on dev) and its extent only roughly (0 to 12% reach IoU 0.7), and the
selection is imperfect: always taking the best of its own candidates would give IoU >= 0.7 in 45 of the 112 dev
scenes instead of 36 (measured before the fallback).
Tried and dropped (dev seeds 3 / 4, IoU >= 0.7; the reference of the step in brackets): the reshaping repeated
around its own result 16/25% (20/25%); the rendered edge allowed up to level 0.6 or 0.7 of the coverage (tighter for
weak shadows) 20/25% both (20/25%); smoother pixel evidence (PIXEL_BLUR 2, 3) 14/25%, 14/25%; no reshaping at all
18/25% (better affine and floating, worse solid and uneven: why the selection); the rendered shadow kept wherever
darker than the lit surface (KEEP_TEMPLATE 0, -0.3) 16/25%, 14/25%; higher shape costs (SHAPE_COST 0.06, 0.1)
20/25%, 16/25% (20/23%); a lower darkening threshold (MIN_DARKENING 0.12, 0.1) 23/34%, 25/34% with no-shadow scenes
empty 60/50% (23/34%, 60/70%); the union of the rendered and the reshaped shape as a candidate: never chosen; a
GrabCut reshaping of the best projection as a candidate 23/36% (23/34%) at +40 ms and the largest no-shadow
suggestion 0.46 -> 0.68, on every alternative 23/36% at twice the time; 1, 4 or 5 next best projections as
candidates 25/34%, 27/38%, 21/34% (29/36% with 2; 5 measured before the zone change, then 23/34%); TOP_PROJECTIONS
10: 27/38%, no-shadow empty 60/50% (32/38%, 60/60%); d taken from the inside alone 27/36% (29/36%); MIN_SUPPORT
0.42, 0.58: 30/36%, 21/32% (empty 60/70%, 60/90%) (29/36%, 60/70%); selecting by the mean clipped contrast, by the
fraction darker by 0.3 d or 0.7 d, or at half or 1.5x the edge offset: 35, 36, 35, 35, 32 of 112 dev scenes at IoU
>= 0.7 (36); occlusion refitted with the cast shadow included when none is found without it 27/32% (29/36%); the
fallback to the best plain projection only 29/36% (29/36%), to all alternatives without a support margin 32/38% with
no-shadow scenes empty 60/50%, with a margin of 0.1 32/38%, 60/60% and 48% of the 80 extra, 0.2: 30/38%, 60/60%, 51%
(0.15 kept: 32/38%, 60/60%, 51%); lower lit-surface hysteresis LOW 0.25 or 0.45: 23/34%, 25/36% (29/36%); a lower
rendered edge (MIN_LEVEL 0.2) 20/32% (23/34%); the occlusion evidence threshold (OCC_MIN_T 1.5 to 10) does not bind
(the sides, hue and amplitude tests decide).

Tried and dropped on 2026-11-30 (dev seeds 3 / 4; the projection fit as above: 32% / 38% of scenes at IoU >= 0.7):
- A learned detector instead of the fit: a U-Net (5 inputs: the crop's log RGB less its mean log luminance, the
  object's coverage, the crop's validity; 0.4 M parameters; a stride-2 stem, 4 levels, a full-resolution head) on a
  square crop 4 object sizes wide resampled to 128 px, trained on CPU (2 cores; BCE + soft Dice, batch 16, AdamW,
  cosine schedule) on 8000 scenes of this file's generator (make_scene, all seven kinds, 12% without a shadow) over
  15 pictures this benchmark does not use (skimage's camera, coins, moon, page, brick, grass, gravel, hubble, ihc,
  retina, colorwheel; gradio's cheetah, groot, tower, cheetah2) and procedural textures, with colour and scale jitter.
  After 3300 steps (22 min): IoU >= 0.7 in 19% of the 112 dev scenes (median 0.35), no-shadow scenes empty 40%. At
  3000 steps no seed-3 scene that the fit missed was found by the net (the better of the two per scene: 32%, the
  fit's own figure), so the net is no candidate beside the fit either.
  A first, plainer U-Net (no stem, 25 min with data generation competing for the cores) reached 9% / 16% on seed 3
  after 500 / 1000 steps. On new scenes of its own training pictures the net's median IoU was 0.64 at 2000 steps
  against 0.35 on this benchmark's photos: what limits it is the few natural pictures available without a download,
  more than the training time. The code (pipelines/segment/shadow_net.py, tools/train_shadow_net.py, with a
  --device option for a GPU) is kept on the git branch experiments/shadow-net, without weights.
- The inside test against the lit surface filled in locally (normalized convolution of the log luminance from
  outside the projected shadow, sigma 2 or 4 x the edge offset) instead of the median of a ring: 30% / 38% (sigma 2)
  and 30% / 38% with no-shadow scenes empty 70% (sigma 4), against 32% / 38%.
- The projection scored and rendered from the object's silhouette closed by a disk of 0.05 / 0.1 / 0.15 object sizes
  (a solid lit by an area light casts a shadow without the gaps between a horse's legs): 32% / 39%, 32% / 38%,
  27% / 39%. The case that prompted it (seed 3 scene 23: a horse's fat, 58% dark shadow behind it on a plain tile
  floor, rejected because only 43% of the projected outline is darker inside) stays rejected (38%, 33%).
- More candidates and a fitted pick (session 24): for the 8 best projections with their shape variants and the best
  plain one, the rendered and the reshaped shadow were all kept (no rejection tests; about 18 candidates a scene,
  0.13 s), ambient occlusion added where found. The best of them reaches IoU >= 0.7 in 32 / 28 of the 56 shadow
  scenes of dev seeds 3 / 4 (30 / 25 with the 3 best projections only), against 18 / 21 for the method as it is:
  even a perfect pick stays near 54%, far from the 80% target, so the shapes this family of projections gives,
  not the choice among them, are the limit (overcast: 3 / 0 of 8 at best). A logistic regression over 19 features
  of each candidate (score, rank, the darkening along the edge and inside, hue change, edge support, visibility,
  penumbra, areas, the projection's parameters, reshaped or not, edge agreement, occlusion found), fitted on one
  seed and tested on the other, picks worse than the method (seeds 3 / 4 tested): 15 / 19 with nothing ever
  rejected (no-shadow scenes empty 0 / 0 of 10), 15 / 15 at the threshold that leaves 8 / 9 of them empty (the
  method: 18 / 21, 6 / 6 empty). Shapes without a projection (dark, hue-kept pixels connected to the object's
  fringe within 0.4 or 0.8 object sizes, the lit surface filled in from outside, thresholds 0.35 or 0.5 of the
  fitted darkening) reach IoU >= 0.7 in 1 / 3 of the 56 scenes only (best available with them 33 / 29).
By kind of scene (dev seeds 3 + 4, the 96 scenes with a cast shadow): falling in front 57% at IoU >= 0.7, behind
26%, to the side 28%; horse 21%, ellipse 48%, bottle 52%, blob 46%; darkness m 0.3-0.5 46%, 0.5-0.65 40%, 0.65-0.85
35%. A real photo outside the benchmark (../shared/images/remove_baseball.jpg, the batter, with a hand-drawn mask):
his long shadow on the grass, about half as bright as the lit grass, is not found ("darker along its edge but only
8% darker inside"; with the light direction given, "the projection that fits is hidden behind the object").

Where the headroom is (2026-11-30, bench/effects_ceiling.py, dev seeds 3 / 4): the method's own shapes (projection,
tilt, lift, footprint) with the true light direction and the best of 12 renderings reach IoU >= 0.7 in 42 / 47 of
the 56 scenes (cast-shadow kinds 42 / 47 of 48; overcast 0, whose ambient occlusion a band around the footprint
fits in 8 / 5 of 8). This corrects the paragraph above: the family is not the limit for cast shadows, the search
is. Over all 25,200 projections and shapes, the best of the top 1 / 5 / 20 / 50 by outline contrast reaches 0.7 in
14 / 29 / 35 / 40 and 18 / 30 / 37 / 40 scenes (best of 6 renderings): the right shape is among the 50 best but
seldom on top, and nothing measured picks it better than the method does. Tried and dropped (the method: 18 / 21
of 56, no-shadow scenes empty 6 / 6 of 10):
- re-ranking the top 50 by 16 features (outline score and rank, edge darkening, visibility, the darkening fitted
  to the rendered shadow and its t statistic, residual spread, inside darkening, fractions darker inside and
  outside, edge agreement, area, penumbra, tilt, lift, depth; three penumbras each): the best single feature picks
  12-16, a logistic regression fitted on the other seed 9-12 / 17; consensus among the top 20 / 50 / 150 (the
  candidate overlapping the others most, equal or score weights): 13-21 / 20-25 with the best of 6 renderings;
- the gradient matched filter of bench/effects_ceiling.py in the method: 17 / 21 (see there);
- the rejection tests nearly off (MIN_DARKENING 0.05, MIN_SUPPORT 0.3, no inside test): 19 / 21 with no-shadow
  scenes empty 0 / 2: the tests are not what misses shadows;
- the shape as the per-pixel darkening shrunk towards the rendered shadow's by the texture's noise, as a candidate
  or instead of the rendering: 14-18 / 21-22;
- a finer working scale and edge offset (WORK_SIDE 160, EDGE_OFFSET 0.03): 12 / 22 (empty 10 / 10); EDGE_OFFSET
  0.03 alone 11 / 22 (9 / 9). It finds the batter's thin shadow on ../shared/images/remove_baseball.jpg (a third of
  its length), which the method misses. As a second pass only when the first finds no cast shadow (EDGE_OFFSET
  0.035): dev 18 / 22 with no-shadow scenes empty 6 / 6; on the report seeds 0 / 1 / 2 18 / 22 / 26 (the method
  17 / 21 / 26) with no-shadow scenes empty 3 / 7 / 6 (6 / 8 / 7), and half of the batter's shadow found (0.025
  and 0.04: none of it). Not kept: two scenes in 168 against five more false suggestions in 30;
- a point on the shadow given (the core's most interior point; projections must cover it): mean IoU 0.40 -> 0.41 /
  0.49 -> 0.53 with the tests, 0.51 / 0.56 without them, IoU >= 0.7 18-19 / 21: the point fixes where the shadow is,
  not its outline;
- ambient occlusion fitted as a radial profile (median darkening in 2 px rings around 12 footprints, c + amp
  exp(-r / w), the footprint and w by the fit's t statistic): overcast scenes at IoU >= 0.7 2 / 2 of 8 (the method
  0 / 0), with a suggestion on 2 / 4 of the 10 no-shadow scenes. In the method instead of its occlusion fit (the
  lowest 8% as the footprint, t >= 4, amp 0.2-1.5, both sides and the hue tested as before): 20 / 21, overcast
  1 / 0 (a cast shadow found first takes the occlusion's place), mean IoU 0.41 / 0.47 against 0.40 / 0.49;
- the darkening and penumbra fitted to the rendered shadow (lit surface filled in from outside it) instead of the
  outline's contrast profile, the shape rendered from them: 11 / 14; projection-free dark regions connected to the
  object (a percentile filter for the lit surface): 0-2 scenes more than the method per seed, and 2-8 of 10
  no-shadow scenes filled;
- the shape picked among the top 50 of the joint grid by how much of the picture's log RGB gradient it explains
  (L1, bench/effects_ceiling.py): 22 / 25 alone with the best of 6 renderings; in the method 18 / 26 on dev and
  18 / 23 / 18 on the report seeds (the method 17 / 21 / 26), 16x slower: not kept;
- ambient occlusion fitted against a plane or a quadratic background (the luminance regressed on it plus the
  exponential term, samples out to 1.0, 1.3 or 1.6 object widths) instead of the lit surface filled in from far
  away (in seed 3 scene 48, a horse over a sky gradient, that fill reads -0.004 of darkening in the true core):
  overcast scenes at IoU >= 0.7 0-1 of 16 on dev (the method's fit alone: 1), found in 3-9 of 16; the fitted decay
  scaled by 0.7-2.0 for the mask: 0-1 of 16. The fit is what misses occlusion, not the background nor the extent.
Why the 80% target is out of this approach's reach (2026-12-01): with the true light direction handed to it, the
family reaches 0.7 in 75% / 84% of the dev scenes (42 / 47 of 56), and every piece of evidence measured for picking
the shape (outline contrast, the matched filter, the L1 explanation, 16 features with a logistic fit, consensus)
picks a shape that good in at most 25 of 56 before the shadow-or-dark-texture decision, which overlaps as badly (the
L1 pick's gain relative to its largest possible: the 96 cast-shadow scenes median 0.26, p25 0.20; at 0.20, 7 of the
20 no-shadow scenes pass).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import masks  # noqa: E402
from pipelines.segment.effects import suggest_shadow  # noqa: E402
from pipelines.inpaint import inpaint  # noqa: E402
from pipelines.io import load_image  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"
SIDE = 512


def _fit(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    s = SIDE / max(img.shape[:2])
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)


def photos() -> list[tuple[str, np.ndarray]]:
    out = [(n, _fit(getattr(data, n)())) for n in ("astronaut", "coffee", "chelsea", "rocket")]
    out.append(("motorcycle_left", _fit(data.stereo_motorcycle()[0])))
    for p in sorted(SHARED.glob("*.jpg")):
        out.append((p.stem, _fit(load_image(p, keep_alpha=False))))
    return out


def silhouette(kind: str, h: int, rng: np.random.Generator) -> np.ndarray:
    """A bool object shape about h px tall, tightly cropped."""
    if kind == "horse":
        m = ~data.horse()
        aspect = m.shape[1] / m.shape[0] * rng.uniform(0.8, 1.2)
    elif kind == "ellipse":
        aspect = rng.uniform(0.5, 1.5)
        m = np.zeros((200, round(200 * aspect)), np.uint8)
        cv2.ellipse(m, (m.shape[1] // 2, 100), (m.shape[1] // 2 - 2, 98), 0, 0, 360, 1, -1)
        m = m.astype(bool)
    elif kind == "bottle":
        aspect = rng.uniform(0.3, 0.5)
        m = np.zeros((200, round(200 * aspect)), np.uint8)
        w = m.shape[1]
        cv2.rectangle(m, (2, 70), (w - 3, 197), 1, -1)
        cv2.rectangle(m, (w // 2 - w // 6, 2), (w // 2 + w // 6, 80), 1, -1)
        cv2.circle(m, (w // 2, 70), w // 2 - 2, 1, -1)
        m = m.astype(bool)
    else:  # blob
        aspect = rng.uniform(0.6, 1.4)
        noise = cv2.GaussianBlur(rng.normal(size=(200, round(200 * aspect))).astype(np.float32), (0, 0), 18)
        yy, xx = np.mgrid[:200, : noise.shape[1]]
        r = ((yy - 100) / 95) ** 2 + ((xx - noise.shape[1] / 2) / (noise.shape[1] / 2 - 5)) ** 2
        m = (1 - r + 8 * noise) > 0.3
    m = cv2.resize(m.astype(np.uint8), (max(8, round(h * aspect)), h), interpolation=cv2.INTER_NEAREST).astype(bool)
    ys, xs = np.nonzero(m)
    return m[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


KINDS = ("affine", "solid", "contact", "uneven", "tilted", "floating", "overcast")


def _projection(a: float, b: float, base: float, *, tilt: float = 0.0, lift: float = 0.0, xc: float = 0.0,
                dy: float = 0.0) -> np.ndarray:
    """Forward affine map (2 x 3, for cv2.warpAffine) of a point (x, y) of the object to its shadow on the ground.

    Its height above the ground line is t = c + tilt * x - y with c = base + lift - tilt * xc (the ground line runs
    through (xc, base + lift) with slope tilt); the shadow point is (x + a t, c + tilt * x + b t + dy)."""
    c = base + lift - tilt * xc
    return np.float32([[1 + a * tilt, -a, a * c], [tilt * (1 + b), -b, (1 + b) * c + dy]])


def _depth(obj: np.ndarray, ratio: float) -> np.ndarray:
    """Half the depth (px) of a solid whose rows are elliptic cross-sections as deep as ``ratio`` x their width."""
    r = np.zeros(obj.shape, np.float32)
    for y in np.nonzero(obj.any(axis=1))[0]:
        xs = np.nonzero(obj[y])[0]
        half = (xs[-1] - xs[0] + 1) / 2
        u = (np.arange(xs[0], xs[-1] + 1) - (xs[0] + xs[-1]) / 2) / half
        r[y, xs[0]: xs[-1] + 1] = ratio * half * np.sqrt(np.clip(1 - u ** 2, 0, 1))
    return r * obj


def render_shadow(obj, kind, a, b, base, xc, rng, *, tilt=0.0, lift=0.0):
    """The shadow's coverage s (HW float32 in [0, 1]) and the ambient occlusion ao (HW float32, its own darkening
    factor) of ``obj`` for the shadow ``kind``: see the module's docstring."""
    H, W = obj.shape
    ao = np.zeros((H, W), np.float32)
    if kind == "affine":
        proj = cv2.warpAffine(obj.astype(np.float32), _projection(a, b, base), (W, H), flags=cv2.INTER_LINEAR)
        return cv2.GaussianBlur(proj, (0, 0), rng.uniform(1.0, 7.0)), ao
    # A solid: rows are elliptic cross-sections; a slice at depth z (0 = the front, behind = up the picture by
    # foreshortening k) casts the part of the silhouette that is that deep. An area light: the mean over jittered
    # projections, so the penumbra widens with the distance from the contact (contact hardening).
    half = _depth(obj, rng.uniform(0.4, 1.0))
    dc, k = float(half.max()), rng.uniform(0.25, 0.6)
    spread = rng.uniform(0.05, 0.25)
    s = np.zeros((H, W), np.float32)
    slices = [(z, obj & (np.abs(z - dc) <= half)) for z in np.linspace(0, 2 * dc, 7)]
    foot = np.zeros((H, W), np.float32)
    yy, xx = np.mgrid[:H, :W]
    height = (base + lift + tilt * (xx - xc) - yy).astype(np.float32)
    lights = [(a, b)] + [(a * (1 + spread * rng.uniform(-1, 1)) + spread * rng.uniform(-0.3, 0.3),
                          b * (1 + spread * rng.uniform(-1, 1))) for _ in range(5)]
    for z, part in slices:
        if not part.any():
            continue
        for la, lb in lights:
            A = _projection(la, lb, base, tilt=tilt, lift=lift, xc=xc, dy=-k * z)
            s += cv2.warpAffine(part.astype(np.float32), A, (W, H), flags=cv2.INTER_LINEAR) / len(lights)
        ground = (part & (height <= 0.03 * (obj.any(axis=1).sum()) + 1)).astype(np.float32)
        foot = np.maximum(foot, cv2.warpAffine(ground, np.float32([[1, 0, 0], [0, 1, -k * z]]), (W, H)))
    s = cv2.GaussianBlur(np.clip(s, 0, 1), (0, 0), 1.0)
    if kind == "overcast":
        s[:] = 0
    if kind in ("contact", "overcast") and foot.any():
        width = obj.any(axis=0).sum()
        w = width * (rng.uniform(0.05, 0.12) if kind == "contact" else rng.uniform(0.1, 0.25))
        dist = cv2.distanceTransform((foot < 0.5).astype(np.uint8), cv2.DIST_L2, 5)
        ao = rng.uniform(0.4, 0.75) * np.exp(-dist / w).astype(np.float32)
    if kind == "uneven":
        # Bumpy ground shifts the shadow along the light's direction by the bump's height.
        size = obj.any(axis=1).sum()
        field = cv2.GaussianBlur(rng.normal(size=(H, W)).astype(np.float32), (0, 0), 0.15 * size)
        field *= rng.uniform(0.06, 0.14) * size / (np.abs(field).max() + 1e-9)
        ua, ub = np.float32([a, b]) / max(1e-6, float(np.hypot(a, b)))
        s = cv2.remap(s, (xx + ua * field).astype(np.float32), (yy + ub * field).astype(np.float32),
                      cv2.INTER_LINEAR)
    return s, ao


def make_scene(photo: np.ndarray, texture_src: np.ndarray, rng: np.random.Generator, shadow: bool = True,
               kind: str = "affine") -> dict:
    H, W = photo.shape[:2]
    shape = rng.choice(["horse", "ellipse", "bottle", "blob"])
    sil = silhouette(shape, int(rng.uniform(0.16, 0.32) * min(H, W)), rng)
    oh, ow = sil.shape
    # The shadow's projection: from the base row, a point at height t above the base goes to
    # (x + shear * t, base + sign * scale * t).
    mode = rng.choice(["front", "front", "behind", "side"])
    shear = rng.uniform(-1.4, 1.4)
    if mode == "side":
        shear = rng.choice([-1, 1]) * rng.uniform(1.0, 1.8)
        scale, sign = rng.uniform(0.1, 0.3), rng.choice([-1, 1])
    elif mode == "front":
        scale, sign = rng.uniform(0.3, 0.9), 1
    else:
        scale, sign = rng.uniform(0.3, 0.7), -1
        shear = rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)
    tilt = rng.choice([-1, 1]) * rng.uniform(0.15, 0.35) if kind == "tilted" else 0.0
    lift = rng.uniform(0.08, 0.25) * oh if kind == "floating" else 0.0
    margin = int(abs(tilt) * ow / 2 + lift) + 2
    reach_x = int(abs(shear) * oh) + 4
    reach_y = int(scale * oh) + 4 + margin if sign > 0 else 4 + margin
    x0 = int(rng.integers(min(reach_x, W - ow - 1) if shear < 0 else 0,
                          max(1, W - ow - (reach_x if shear > 0 else 0))))
    y0 = int(rng.integers(oh // 2 + margin if sign < 0 else margin, max(oh // 2 + margin + 1, H - oh - reach_y)))
    x0, y0 = min(max(0, x0), W - ow), min(max(margin, y0), H - oh - margin)
    obj = np.zeros((H, W), bool)
    obj[y0: y0 + oh, x0: x0 + ow] = sil
    base, xc = y0 + oh - 1, x0 + ow / 2
    if tilt:  # the object stands on a tilted ground line: its bottom follows it
        obj = cv2.warpAffine(obj.astype(np.uint8), np.float32([[1, 0, 0], [tilt, 1, -tilt * xc]]), (W, H),
                             flags=cv2.INTER_NEAREST).astype(bool)
    s, ao = render_shadow(obj, kind, shear, sign * scale, base, xc, rng, tilt=tilt, lift=lift)
    m = rng.uniform(0.35, 0.8)
    if kind == "uneven":  # the ambient light in the shadow varies over bumpy ground
        field = cv2.GaussianBlur(rng.normal(size=(H, W)).astype(np.float32), (0, 0), 0.2 * oh)
        m = np.clip(m + 0.1 * field / (np.abs(field).max() + 1e-9), 0.3, 0.85)
    dark = 1 - (1 - (1 - m) * s) * (1 - ao)
    if not shadow:
        dark = np.zeros_like(s)
    shaded = photo.astype(np.float32) * (1 - dark[..., None])
    # The object: another photo's patch, channels swapped, pasted with a soft matte.
    ys, xs = np.nonzero(obj)
    by0, bx0 = ys.min(), xs.min()
    bh, bw = ys.max() + 1 - by0, xs.max() + 1 - bx0
    th, tw = texture_src.shape[:2]
    tex = np.zeros_like(shaded)
    if th < bh or tw < bw:
        tex[by0: by0 + bh, bx0: bx0 + bw] = cv2.resize(texture_src, (W, H))[..., ::-1][by0: by0 + bh, bx0: bx0 + bw]
    else:
        ty, tx = int(rng.integers(0, max(1, th - bh))), int(rng.integers(0, max(1, tw - bw)))
        tex[by0: by0 + bh, bx0: bx0 + bw] = texture_src[ty: ty + bh, tx: tx + bw][..., ::-1]
    matte = cv2.GaussianBlur(obj.astype(np.float32), (0, 0), 0.8)
    image = matte[..., None] * tex + (1 - matte[..., None]) * shaded
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    user = matte > 0.5
    # Light direction: from the object towards the light = away from the shadow's offset.
    ys, xs = np.nonzero(dark > 0.15)
    oy, ox = np.nonzero(obj)
    light = None
    if len(xs):
        off = np.array([xs.mean() - ox.mean(), ys.mean() - oy.mean()])
        light = tuple(-off / (np.linalg.norm(off) + 1e-9))
    return {
        "image": image, "clean": photo, "object": user, "darkening": dark * (1 - matte),
        "core": (dark > 0.15) & ~user, "true": (dark > 0.03) & ~user, "light": light,
        "params": {"kind": str(kind), "shape": str(shape), "mode": str(mode), "shear": round(float(shear), 2),
                   "scale": round(float(scale * sign), 2), "tilt": round(float(tilt), 2), "lift": round(float(lift), 1),
                   "m": round(float(np.mean(m)), 2), "shadow": shadow},
    }


def scenes(seed: int, n_shadow: int, n_empty: int, kinds=KINDS):
    """The benchmark's scenes in order: (index, photo name, make_scene's dict), n_shadow with a shadow (cycling
    through ``kinds`` and the photos), then n_empty without one; the same scenes for the same arguments."""
    rng = np.random.default_rng(seed)
    pics = photos()
    for i in range(n_shadow + n_empty):
        has_shadow = i < n_shadow
        k = i % len(pics)
        kind = kinds[i % len(kinds)] if has_shadow else "affine"
        name, photo = pics[k]
        texture = pics[(k + 1 + int(rng.integers(0, len(pics) - 1))) % len(pics)][1]
        for _ in range(20):  # a shadow hidden behind the object or off the frame is no test: draw again
            sc = make_scene(photo, texture, rng, shadow=has_shadow, kind=kind)
            if not has_shadow or sc["core"].sum() >= 0.1 * sc["object"].sum():
                break
        yield i, name, sc


def lum(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]) + 1.0


def residual(result: np.ndarray, clean: np.ndarray, core: np.ndarray) -> float:
    return float(1 - lum(result)[core].sum() / lum(clean)[core].sum())


def remove(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return inpaint(image, masks.grow(mask, 3), engine="telea").images[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=56, help="scenes with a shadow (cycling through the kinds)")
    ap.add_argument("--empty", type=int, default=10, help="scenes with no shadow")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"shadow kinds, comma-separated, of {', '.join(KINDS)}")
    ap.add_argument("--no-inpaint", action="store_true", help="skip the ghost-shadow measurement (faster)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    if not kinds or set(kinds) - set(KINDS):
        ap.error(f"--kinds must be of {', '.join(KINDS)}")
    rows, empties = [], []
    for i, name, sc in scenes(args.seed, args.scenes, args.empty, kinds):
        has_shadow = sc["params"]["shadow"]
        t = time.perf_counter()
        sug = suggest_shadow(sc["image"], sc["object"])
        ms = 1000 * (time.perf_counter() - t)
        if not has_shadow:
            empties.append({"photo": name, "area_fraction": sug.area / sc["object"].sum(), "score": sug.score,
                            "reason": sug.reason, "ms": ms, **sc["params"]})
            continue
        core, true = sc["core"], sc["true"]
        iou = (sug.mask & core).sum() / max(1, (sug.mask | core).sum())
        false = (sug.mask & ~true).sum() / max(1, core.sum())
        lit = suggest_shadow(sc["image"], sc["object"], light=sc["light"])
        iou_l = (lit.mask & core).sum() / max(1, (lit.mask | core).sum())
        before = residual(sc["image"], sc["clean"], core)
        if args.no_inpaint:
            alone = both = float("nan")
        else:
            alone = residual(remove(sc["image"], sc["object"]), sc["clean"], core)
            both = residual(remove(sc["image"], sc["object"] | sug.mask), sc["clean"], core)
        rows.append({"photo": name, "iou": float(iou), "false_area": float(false), "iou_with_light": float(iou_l),
                     "core_px": int(core.sum()), "score": sug.score, "ms": ms, "reason": sug.reason,
                     "shadow_before": before, "residual_object_only": alone, "residual_with_suggestion": both,
                     **sc["params"]})
        p = sc["params"]
        print(f"{i:3d} {name:16s} {p['kind']:8s} {p['shape']:7s} {p['mode']:6s} m={p['m']:.2f} "
              f"IoU {iou:.2f} (light {iou_l:.2f}) false {false:.2f} residual {alone:.2f} -> {both:.2f}  {ms:.0f} ms",
              flush=True)

    def dist(key, rs=rows):
        v = np.array([r[key] for r in rs], float)
        return {"p10": float(np.percentile(v, 10)), "p25": float(np.percentile(v, 25)),
                "median": float(np.median(v)), "p75": float(np.percentile(v, 75)), "mean": float(v.mean())}

    iou = np.array([r["iou"] for r in rows])
    iou_l = np.array([r["iou_with_light"] for r in rows])
    per_kind = {}
    for kd in kinds:
        rs = [r for r in rows if r["kind"] == kd]
        if rs:
            v = np.array([r["iou"] for r in rs])
            per_kind[kd] = {"scenes": len(rs), "iou_ge_0.7": float((v >= 0.7).mean()), "iou_median": float(np.median(v)),
                            "false_area_median": float(np.median([r["false_area"] for r in rs])),
                            "residual_object_only": float(np.median([r["residual_object_only"] for r in rs])),
                            "residual_with_suggestion": float(np.median([r["residual_with_suggestion"] for r in rs]))}
    summary = {
        "scenes": len(rows), "photos": sorted({r["photo"] for r in rows}), "seed": args.seed,
        "iou": dist("iou"), "iou_ge_0.7": float((iou >= 0.7).mean()),
        "iou_with_light": dist("iou_with_light"), "iou_with_light_ge_0.7": float((iou_l >= 0.7).mean()),
        "false_area": dist("false_area"),
        "shadow_before": dist("shadow_before"),
        "residual_object_only": dist("residual_object_only"),
        "residual_with_suggestion": dist("residual_with_suggestion"),
        "ms": dist("ms"), "per_kind": per_kind,
        "no_shadow": {"scenes": len(empties),
                      "empty_fraction": float(np.mean([e["area_fraction"] == 0 for e in empties])) if empties else None,
                      "area_fraction": dist("area_fraction", empties) if empties else None},
    }
    print()
    print(f"{'metric':32s} {'p10':>6s} {'p25':>6s} {'median':>6s} {'p75':>6s} {'mean':>6s}")
    for key in ("iou", "iou_with_light", "false_area", "shadow_before", "residual_object_only",
                "residual_with_suggestion", "ms"):
        d = summary[key]
        print(f"{key:32s} " + " ".join(f"{d[q]:6.2f}" if key != "ms" else f"{d[q]:6.0f}"
                                       for q in ("p10", "p25", "median", "p75", "mean")))
    print(f"\n{'kind':10s} {'n':>3s} {'>=0.7':>6s} {'median':>6s} {'false':>6s} {'ghost':>11s}")
    for kd, d in per_kind.items():
        print(f"{kd:10s} {d['scenes']:3d} {d['iou_ge_0.7']:6.0%} {d['iou_median']:6.2f} {d['false_area_median']:6.2f} "
              f"{d['residual_object_only']:5.2f}->{d['residual_with_suggestion']:4.2f}")
    print(f"scenes with IoU >= 0.7: {summary['iou_ge_0.7']:.0%} (with the light direction "
          f"{summary['iou_with_light_ge_0.7']:.0%}) of {len(rows)}; target >= 80%")
    if empties:
        ns = summary["no_shadow"]
        print(f"no-shadow scenes: {ns['empty_fraction']:.0%} of {len(empties)} empty; suggested area / object area "
              f"median {ns['area_fraction']['median']:.3f}, max {max(e['area_fraction'] for e in empties):.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "effects.json").write_text(json.dumps({"summary": summary, "scenes": rows, "no_shadow": empties},
                                                 indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
