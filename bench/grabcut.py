"""The GrabCut fallback on photos it has never seen: a wide, seeded evaluation set (measurement only).

Scenes (seeded, one recipe per scene index): a background that is a random crop (30-100% of the side, aspect
0.6-1.7) of one of the photos available without downloads (skimage.data astronaut, coffee, chelsea, rocket,
stereo_motorcycle left, camera, hubble_deep_field, retina, immunohistochemistry, brick, grass, gravel, coins, moon,
the grey ones made RGB, and ../shared/images/*.jpg and bench_dog.png), resized to 640 px on the longer side. On it
one object: a silhouette (skimage's horse, an ellipse, a random blob, a thin shape: bar / arc / stroke, a shape with
holes: ring / holed blob), rotated and flipped at random, whose area is log-uniform from 1% to 30% of the image;
about a third of the objects are pushed partly off the frame (touching the border). Its pixels are a crop of ANOTHER
photo, its mean colour moved to ring + c * (far - ring) in Lab, where ring is the mean of the background around the
object, far the palette colour farthest from it and c the scene's contrast level (low 0.05-0.3, mid 0.3-0.65,
high 0.65-1.0), its texture detail kept (scaled by 0.5-1.0). Pasted with a soft matte (Gaussian sigma 0.6-1.5).
Truth = matte > 0.5. The contrast bucket reported is the measured one: dE76 between the object's mean Lab colour and
the ring's (< 15 low, 15-35 mid, >= 35 high).

Prompts: one click at the object's most interior point (distance transform maximum), and separately a box = the
object's bounding box padded by 3-8 px (clipped to the image). Each runs GrabCutSegmenter(time_budget=2.0) with its
other settings at their defaults; IoU against the truth and the wall time of the segment() call are recorded. A
UserError (e.g. "flat picture") counts as IoU 0 and is listed.

Report: IoU distribution (p10/p25/median/p75), the share of clicks with IoU >= 0.8 (issue 11's target: >= 75%) and
of boxes with IoU >= 0.85 (target >= 90%), by size bucket (1-3%, 3-10%, 10-30%), contrast bucket and border
contact, and the time per click and per box (median, p90, max) against the 2 s budget. Writes bench/out/grabcut.json.

    python bench/grabcut.py [--scenes 150] [--seed 0] [--quick] [--only click|box] [--two-part] [--out bench/out]

--two-part recolours one side of each object (make_scene): many-coloured objects, where a method that drops a distinct
part of its answer as background loses (writes grabcut-two-part.json).

OpenCV runs with 2 threads (cv2.setNumThreads(2)); timings are wall clock on whatever else the machine is doing.

Figures at the first commit (150 scenes, 19 photos, seed 0, 2 cores shared with another job): click IoU p10/p25/
median/p75 0.21/0.36/0.72/0.98, IoU >= 0.8 in 46% (target 75%: NOT met); box 0.49/0.65/0.85/0.97, IoU >= 0.85 in 50%
(target 90%: NOT met). Clicks by size 1-3% / 3-10% / 10-30%: 54% / 52% / 25%; by measured contrast low / mid / high:
21% / 46% / 51%. Click failures are mostly under-segmentation (54 of 81 give < 0.8x the true area; 22 of the 27
failures on 10-30% objects): on a textured object the click's region covers only the part like the click. Box
failures are mostly over-segmentation (58 of 75 give > 1.25x): background inside the box is kept, so the box depends
on how much of its box the object fills (fill < 0.35: 28% ok; 0.35-0.6: 56%; >= 0.6: 95%): horse 19%, thin 32%,
holes 38% vs ellipse 86%, blob 77%. Time per click median 0.45 s, p90 1.31, max 3.08 (1% over 2 s); per box 0.42 /
1.50 / 4.41 (3% over): the solve running at the deadline finishes past it.

Figures after issue 11 (GrabCut models Lab smoothed by 1.5 px plus the local spread of lightness, projected to 3
channels; box: a ring of 30% of the box's long side as background, the box's own 2-px edge probable background,
solved at 0.75 x max_side, then the edge redrawn on raw colours in a 4-px band; 150 scenes, 2 cores, nothing else
running), old -> new, click >= 0.8 / box >= 0.85 / time p50, p90, max per click; per box:
seed 0: click 46% -> 54%, box 50% -> 61%; click 0.64 / 1.21 / 2.44 s, box 0.51 / 1.32 / 1.96 s.
seed 1: click 43% -> 52%, box 46% -> 53%; click 0.71 / 1.64 / 2.35 s, box 0.56 / 1.48 / 1.76 s.
seed 2: click 43% -> 54%, box 55% -> 63%; click 0.86 / 1.56 / 3.23 s, box 0.64 / 1.52 / 2.41 s.
(The old figures of seeds 1 and 2 were measured with another job on the same 2 cores: their times, click p50
1.42 / 1.47 s and max 5.39 / 14.21 s, are not comparable.) Both targets are still NOT met: horse, thin and holed
shapes stay the weak ones, and clicks on 10-30% objects still under-segment.

Figures of 2026-11-29 (issue 11, box ring vote: before GrabCut the box's inside starts as probable background where its
texture features, in 16^3-bin histograms, are about as common in the background ring and the box's 2-px edge band as
inside; tuned on seed 4, 40 scenes, no time budget: box 50% -> 68%, clicks unchanged). 150 scenes, measured on 2
cores with a load average of 7-8 from other jobs (the process had about half a core: each scene's solves hit the
2 s budget far more often, click 58-75 of 150, box 37-53, so these IoUs are a floor and the times are NOT comparable
with the figures above). Old -> new, click >= 0.8 / box >= 0.85; median IoU click / box; time p50 / p90 / max per
click; per box:
seed 0: click 54% -> 54%, box 61% -> 70%; median 0.84 / 0.93; click 1.52 / 1.82 / 2.40 s, box 1.15 / 1.71 / 1.89 s.
seed 1: click 52% -> 51%, box 53% -> 69%; median 0.83 / 0.93; click 1.51 / 1.80 / 2.85 s, box 1.21 / 1.72 / 3.24 s.
seed 2: click 54% -> 55%, box 63% -> 71%; median 0.86 / 0.94; click 1.52 / 1.77 / 3.15 s, box 1.13 / 1.69 / 1.88 s.
Both targets are still NOT met. Boxes: ellipse and blob 76-100%, holes 73-90%, horse 52-62%, thin 35-44% (a thin
object leaves a box mostly background, some of it unlike the ring). Clicks still under-segment textured and large
objects. Tried for clicks and dropped (dev seed 4, 40 scenes, 60% before): pass 2 from the vote instead of pass 1's
mask on a 1.5x box (32%: spills), pass 1's mask united with the vote (45%), the better of the two by outline contrast
(40%: the spilled one has the stronger outline), growing pass 2's box while the mask reaches its edge (60%: pass 2
never reaches it, as it starts from pass 1's mask), wider click seeds (dE 30 / 40, reach 0.4: 55% / 52%); for boxes
a wider edge band counted as ring (4 px: 57%, 8 px: 52%).

Figures of 2026-11-29, evening (issue 11, clicks: a second pass-1 hypothesis, GrabCut started from a region of SLIC
superpixels (250, on the 320 px pass-1 picture) grown from the clicked one by feature-histogram similarity (Hellinger
<= 0.65, at most half the picture), kept when its answer separates from a ring around it (1 - Bhattacharyya of
feature histograms, less 0.5 x its share of the picture) by 0.05 more than the colour-seeded one; boxes unchanged).
150 scenes, 2 cores at a load average of 5.5-6.7 from other jobs (budget stops: click 21-28, box 7-14 of 150).
Click >= 0.8, old (the code before this change, clicks only, run right after at load 4-6.6, time p50 0.85-0.92 s)
-> new; box >= 0.85 (same code as before: differences are load); median IoU click / box; time p50 / p90 / max per
click; per box:
seed 0: click 53% -> 59%, box 71%; median 0.87 / 0.94; click 1.29 / 1.78 / 1.96 s, box 0.68 / 1.54 / 1.97 s.
seed 1: click 52% -> 55%, box 69%; median 0.89 / 0.93; click 1.13 / 1.77 / 2.27 s, box 0.62 / 1.24 / 1.84 s.
seed 2: click 55% -> 57%, box 71%; median 0.86 / 0.94; click 1.18 / 1.69 / 1.86 s, box 0.62 / 1.32 / 1.88 s.
Mean click IoU 0.714 / 0.662 / 0.705 -> 0.746 / 0.670 / 0.714; the second hypothesis costs about 0.3-0.4 s per
click (median). Both targets are still NOT met. Dev seeds 3 / 4 (60 scenes, clicks only) before: 62% / 58%.
Tried and dropped:
pass 1 started from the click seeds united with the superpixel region, no second hypothesis (60% / 50%: the region
spills for 1-3% objects, where a superpixel is as large as the object); the hypothesis picked by separation alone
(63% / 55%), with the share penalty (65% / 55%), and with the 0.05 margin, kept (65% / 55%: the same share, the mean
click IoU 0.729 / 0.701 -> 0.741 / 0.715). Region growing that also weighed the boundary strength between
superpixels (Sobel of Lab, mean along the shared boundary) grew less (mean IoU of the grown region alone 0.53 ->
0.26-0.44). The grower merges superpixels whose histograms overlap: a fine-grained multi-coloured texture joins, but
blotches as large as a superpixel or a gradual change of colour across the object do not (tests/test_segment.py).

Figures of 2026-11-29, night (issue 11: hypotheses picked by _separation for boxes and clicks). Boxes: the ring vote
runs at two thresholds (0.45 as before, and 0.3), each start is solved, and the answer that separates better from
the ring around it keeps its edge redrawn. Clicks: after pass 2, one more hypothesis, the box recipe started from
the ring vote at 0.3 on pass 2's bounding box grown by half, wins when its separation less 0.25 x its share of the
picture is higher (it takes in parts of a textured object that pass 1 left out). Dev seeds 3 + 4 (40 scenes each,
time_budget=None, /tmp harness on the same scenes): box >= 0.85 75% -> 80% (seed 3 82% -> 85%, seed 4 68% -> 75%;
horse 56% -> 62%, thin 47% -> 65%), click >= 0.8 59% -> 70% (62% -> 72%, 55% -> 68%; mean IoU 0.725 -> 0.767;
10-30% objects 50% -> 61%). With the 2 s budget at a load average of 5 the clicks gave 64% (the wide hypothesis is
often cut by the budget). Report seeds, 150 scenes, `python bench/grabcut.py --seed S --scenes 150`, the old code
(f60ddbb) run right after the new one on the same machine (load average 2.3-6.8 from other jobs for both), old ->
new: click >= 0.8 / box >= 0.85; median IoU click / box; time p50 / p90 / max per click; per box; budget stops:
seed 0: click 59% -> 61%, box 72% -> 79%; median 0.87 -> 0.90 / 0.94 -> 0.95; click 1.08 / 1.67 / 1.98 s ->
1.51 / 1.92 / 2.47 s, box 0.56 / 1.19 / 2.00 s -> 0.78 / 1.76 / 2.04 s; stops click 18 -> 46, box 7 -> 22.
seed 1: click 55% -> 58%, box 69% -> 77%; median 0.89 -> 0.89 / 0.93 -> 0.94; click 1.07 / 1.74 / 2.12 s ->
1.55 / 1.92 / 2.51 s, box 0.58 / 1.09 / 1.79 s -> 0.89 / 1.77 / 2.22 s; stops click 24 -> 59, box 6 -> 20.
seed 2: click 58% -> 61%, box 71% -> 82%; median 0.87 -> 0.88 / 0.94 -> 0.95; click 1.20 / 1.73 / 2.10 s ->
1.68 / 1.91 / 2.17 s, box 0.68 / 1.42 / 1.77 s -> 0.84 / 1.79 / 2.59 s; stops click 30 -> 67, box 16 -> 25.
Per kind (new, box >= 0.85, seeds 0 / 1 / 2): ellipse 100 / 100 / 97%, blob 90 / 86 / 96%, holes 88 / 97 / 83%,
horse 65 / 65 / 79%, thin 56 / 45 / 55%. Both targets are still NOT met, and the new code spends more of the budget:
a click's median time rises by about 0.5 s, and 3-7% of the clicks end past 2 s (old: 0-1%; max 2.5 s: the solve
running at the deadline finishes first); 31-45% of the clicks are cut by the budget, so they keep less of the dev
gain.
Tried and dropped (dev seeds 3 + 4, no budget): boxes, each start alone: vote 0.45 75%, 0.3 76%, 0.6 58%, no vote 55%,
0.45 with scores > 0.6 / > 0.75 as definite background (GC_BGD) 78% / 74%; picked by separation, 0.45 + 0.3: 80% (their
oracle), + the start with scores > 0.6 definite 81% (a third solve for one scene); picked by the outline's mean gradient
normalised by the median gradient of a 15-px band around it 76% (unnormalised 79%); keeping only the connected parts of
a box's answer needed to reach every side of the box (largest first) 80% -> 80% (the distractors GrabCut keeps touch the
object, or the object's missing part is a sliver on the frame). Clicks: the wide hypothesis from the vote at 0.45 only
61%, at both 0.45 and 0.3 69%; on pass 2's box grown by 15% instead of 50% (picked with pass 2's answer) 68%, both boxes
69%; the 1.5x box started from pass 2's mask 61%; pass 1 with 3 iterations instead of 5 69% (GrabCut work per click,
median, 1.95 -> 1.74 Mpx-iterations).

Figures of 2026-11-30 (issue 11): independent GrabCut starts (pass 1's two hypotheses, a box's two ring-vote starts)
are solved side by side in two threads (cv2.grabCut releases the GIL: two 5-iteration solves of a 400 px picture,
5.0 s one after the other, 2.9 s side by side, the same answers), and a large flat area around a click is the answer
only when it is of one colour (90% within dE 20 of its median; a flood of small steps crossed into the background
through a low-contrast object's edge in 2 of 80 dev scenes). The IoUs without a budget are unchanged but for that
guard (dev seeds 3 + 4, 80 scenes: click >= 0.8 70% -> 70%, one scene 0.07 -> 0.27). On a quiet machine (load
average 1.2-1.7, nothing else running), `python bench/grabcut.py --seed S --scenes 150`, the code before (16dfea3)
on seed 0 run right after the new one, old -> new: click >= 0.8 / box >= 0.85; time p50 / p90 per click; per box;
budget stops click / box:
seed 0: 61% -> 61%, box 79% -> 81%; click 1.27 / 1.81 -> 1.25 / 1.81 s, box 0.64 / 1.73 -> 0.54 / 1.16 s; stops click
28 -> 30, box 17 -> 9.
seed 1 (new only): click 59%, box 77%; click 1.25 / 1.84 s, box 0.57 / 1.15 s; stops click 34, box 7.
seed 2 (new only): click 64%, box 86%; click 1.43 / 1.83 s, box 0.58 / 1.35 s; stops click 39, box 13.
Boxes gain time (p90 about 1.7 -> 1.2 s; the second start now costs no wall time), clicks hardly: most of a click's
time is pass 2 and the wide hypothesis, which depend on each other (the wide one solved from pass 1's box alongside
pass 2 instead: dev seed 4, 40 scenes, no budget, 68% -> 62%, time 76 -> 63 s). Both targets are still NOT met
(click 59-64% of 75%, box 77-86% of 90%). Tried and dropped (dev seeds 3 + 4, no budget): growing the wide
hypothesis's box by half again while its answer reaches the box's edge (1 or 2 times: 70% -> 70%, one scene 0.51 ->
0.98, another 0.97 -> 0.72); for boxes, GrabCut from the whole box without the vote when the answers collapse below
5% of the box (80% -> 80%: the one collapsed scene collapses without the vote too).

Figures of 2026-11-30, later (issue 11): (1) a user's box lets each side of its own edge band vote on its own
(_ring_vote's ``sides``: a feature about as common along one side of the box as inside starts as probable background,
so a floor that fills much of a large box, and that its clipped or mixed ring hardly holds, is no longer kept);
(2) the edge is redrawn by local colour models of the two sides (Gaussian-weighted mean and variance of Lab over
each side's pixels beyond a 4-px band, sigma 4 px) instead of a colour GrabCut in the band, which followed the
background's own texture edges just outside the object and made thin objects on busy backgrounds 1-3 px too wide
(dev box 4/67: 0.93 before that GrabCut, 0.81 after it, 0.93 now; 4/12: 0.87 / 0.82 / 0.97). Dev seeds 3 + 4, 80
scenes each (160 boxes), no budget: box >= 0.85 83.8% -> 88.1% with (1) -> 90.0% with (1) and (2), mean IoU 0.883 ->
0.905 -> 0.913, no scene lost by more than 0.1; clicks (80, (2) only: the side vote in place of the clicks' wide
hypothesis' plain one lost 4 scenes for 3 gained) 70.0% -> 73.8%. Report seeds on a quiet machine (load average
1.2-2), old figures from the previous paragraph, old -> new: click >= 0.8 / box >= 0.85; median IoU click / box;
time p50 / p90 per click; per box; budget stops click / box:
seed 0: click 61% -> 69%, box 81% -> 89%; median 0.94 / 0.97; click 1.25 / 1.81 -> 1.04 / 1.75 s, box 0.54 / 1.16 ->
0.40 / 0.85 s; stops click 30 -> 21, box 9 -> 4.
seed 1: click 59% -> 59%, box 77% -> 88%; median 0.93 / 0.97; click 1.25 / 1.84 -> 1.09 / 1.77 s, box 0.57 / 1.15 ->
0.46 / 0.88 s; stops click 34 -> 25, box 7 -> 4.
seed 2: click 64% -> 66%, box 86% -> 91%; median 0.94 / 0.97; click 1.43 / 1.83 -> 1.17 / 1.76 s, box 0.58 / 1.35 ->
0.45 / 0.81 s; stops click 39 -> 27, box 13 -> 2.
The local edge costs a few blurs where the GrabCut edge cost two iterations, so both prompts are faster and fewer are
cut by the budget. Per kind, box >= 0.85, seeds 0 / 1 / 2: ellipse 96 / 96 / 94%, blob 97 / 97 / 96%, holes 92 / 93 /
90%, horse 77 / 85 / 90%, thin 82 / 71 / 84%; low contrast (dE < 15) 74 / 74 / 68%. The box target (90%) is met on
seed 2 only (89 / 88 / 91%); the click target (75%) on none: click failures are mostly under-segmentation (30 of 47,
37 of 61, 30 of 51 give < 0.8x the true area) and mostly low contrast (23 / 37 / 31 of them), and 14-19 of them were
cut by the budget (dev: the budget costs 1 scene in 80). Tried and dropped (dev, 160 boxes, no budget, 90.0% before):
the edge band 3 or 6 px 90.0%, 90.0%; the box's band 3 px 89.4%; a variance floor of 16 90.0% (mean IoU 0.918); the
edge redrawn at full resolution 90.0% (mean 0.915); the colour-line projection (alpha > 0.5 between the local means)
instead of the two local models 90.0%; texture features with a second spread scale (8 px) or gradient energies,
projected to 3 channels, 88.1% / 85.6%; a flood from the box's edge band (fixed range 6-20 in features) as a start:
it reached 1-18% of the floor it was meant to take; for the three dev boxes whose answers are far from the box's
sides (IoU 0: the object's colours are the background's), GrabCut from the whole box without the vote or with the
vote at 0.6 / 0.75 also gives IoU 0-0.15. For clicks: the wide hypothesis started both from the plain vote and
from the side vote (solved side by side, the better separated kept): dev (160 clicks, no budget) 75.6% -> 76.9%, but
on the report seeds with the budget click >= 0.8 69 / 59 / 66% -> 69 / 61 / 66% (mean IoU +0.002 to +0.008) for a
median time of 1.13-1.18 s instead of 1.04-1.17 s and 2-5% of the clicks past 2 s instead of 1%: not kept.

Figures of 2026-11-30, a third step (issue 11): a user's box keeps Fisher's discriminant among its features. The 4
standardised features (smoothed Lab and the spread of lightness) went into GrabCut's 3 channels by their 3 principal
components, which drop the direction of least variance; in a picture whose a* and b* move together (orange fur) that
is the very direction that tells a lavender arc from the fur (tests/test_segment.py: the arc's d' under 1 in every
principal channel, above 3 on the discriminant). For a user's box the channels are now the discriminant of what the
box holds against the known background (the ring and any negative clicks) and the 2 principal components of the rest.
Dev seeds 3 + 4, 160 boxes, no budget: box >= 0.85 90.0% -> 91.2%, mean IoU 0.913 -> 0.930 (5 scenes up by 0.1 or
more, 3/29 0.00 -> 0.96, 4/36 0.50 -> 0.97, 4/68 0.00 -> 0.69; one down, 4/2 0.90 -> 0.82). Report seeds, box only
(`--only box`), the commit before and this one back to back on a quiet machine, old -> new: box >= 0.85 / mean IoU /
time p50 / p90 / budget stops:
seed 0: 89% (133) -> 91% (137), 0.918 -> 0.927, 0.42 / 0.90 -> 0.47 / 0.84 s, stops 5 -> 3.
seed 1: 88% (132) -> 89% (134), 0.915 -> 0.923, 0.50 / 0.92 -> 0.47 / 0.85 s, stops 5 -> 2.
seed 2: 91% (136) -> 89% (133), 0.931 -> 0.931, 0.48 / 0.90 -> 0.52 / 0.83 s, stops 3 -> 1.
Pooled: 401 -> 404 of 450 boxes (89.1% -> 89.8%); 10-15 scenes per seed move by 0.1 or more either way, so the gain
is small against GrabCut's own swings; the target (90% on every seed) is still NOT met. Tried and dropped (dev): the
discriminant scaled like the third direction instead of the second 92.5% but mean IoU 0.928 (the changed scenes were
all within 0.03 of 0.85); both feature sets as starts (4 solves), the answer with the best summed separation 90.6%,
mean 0.919, twice the time (the separation prefers the principal-component answers where the discriminant's are
right); the discriminant also for the clicks' boxes (pass 2 and the wide hypothesis, 160 dev clicks) 75.6% -> 73.1%,
and for the wide hypothesis alone 75.0%: a click's box is drawn around its own guess, so the discriminant sharpens
the guess; tightness (Lempitsky et al.'s box prior: a user's box is crossed by the object in every row and column)
measured on the dev boxes flags 6 of the 16 misses and none of the hits below 0.8 of the lines covered, but neither
pinpointing foreground seeds on empty lines by the colour models' likelihood ratio (they land on the background's
texture) nor solving again with the first answer as background (the next object is not the thin one) found the arcs.
Clicks, the same finding: pass 1 also solves GrabCut from the colour seeds on features that keep Fisher's
discriminant of the seeds against the rest of the picture (a third start beside the seeds and the superpixel region
on the principal-component features, solved alongside; the answers are compared on the principal-component
features as before). Dev seeds 3 + 4, 160 clicks, no budget: click >= 0.8 75.6% -> 77.5%, mean IoU 0.805 -> 0.818,
5 scenes up by 0.1 or more (3/39 0.35 -> 0.97, 3/79 0.37 -> 0.97, 4/59 0.26 -> 0.98), none down. Report seeds, click
only (`--only click`), the commit before and this one back to back, old -> new: click >= 0.8 / mean IoU / time p50
/ p90 / max / share past 2 s / budget stops:
seed 0: 69% (103) -> 70% (105), 0.773 -> 0.788, 1.23 / 1.79 / 2.43 -> 1.36 / 1.82 / 2.63 s, 2% -> 2%, 27 -> 31.
seed 1: 59% (89) -> 65% (97), 0.697 -> 0.746, 1.17 / 1.79 / 2.07 -> 1.35 / 1.87 / 2.21 s, 1% -> 1%, 28 -> 34.
seed 2: 66% (99) -> 67% (101), 0.763 -> 0.774, 1.20 / 1.82 / 2.33 -> 1.40 / 1.85 / 3.32 s, 1% -> 3%, 31 -> 35.
No scene crosses 0.8 downwards on any seed; the low contrast level gains most (48 / 38 / 42% -> 52 / 45 / 43%). The
target (75%) is still NOT met. Tried and dropped (dev, 160 clicks, no budget): pass 1 on the discriminant features
alone, of a disc around the click (5% of the long side) 75.6% (mean 0.817) or of the seeds 76.9% (mean 0.818), each
with 6-12 scenes lost by 0.3 or more (the discriminant of the clicked texture drops the object's other textures: a
light and a dark purple part), which the third start does not lose.
Also tried and dropped: the superpixel region's start solved on its own discriminant too (a fourth start; 4 starts on
2 threads take about the time of 3): dev 77.5% -> 78.8% (mean 0.818 -> 0.824, none lost), but on the report seeds
105 / 97 / 101 -> 105 / 97 / 102 of 150 (mean +0.004 / -0.001 / +0.003) for a median click of 1.44 / 1.37 / 1.45 s
instead of 1.36 / 1.35 / 1.40 s and budget stops 31 / 34 / 35 -> 36 / 42 / 43; the wide hypothesis solved a second
time on the discriminant of its box against its ring, the better by _separation on the principal-component
features kept: dev 78.8% -> 78.8% (mean +0.002) for 9% more time.
For a user's box, the discriminant taken again from the first answer (the answer against the rest) and GrabCut
solved once more from the chosen start on those features: dev boxes 91.2% -> 91.2% (mean IoU 0.930 -> 0.932; 4/73
0.77 -> 0.97, 4/13 0.84 -> 0.73) for 73% more time: dropped.
Measured on 2026-11-30 and dropped (dev boxes, 160, no budget; 14 misses): the box's rows and columns that the answer
crosses (mean of the two shares) flag only 2 of the 14 misses below 0.8 (4/56 0.42, 4/0 0.77; none of the hits) and 4
below 0.85 (one hit): most misses are the object plus a salient background thing inside the box (the rocket beside
the bar 4/8, the floor 4/18 and 4/23, the cat's nose 3/39), which crosses every row and column as the object does.
Dropping what continues across the box's edge (answer pixels within 8% of the box's side of an edge it reaches, whose
features are within 20 of the mean just outside, set as background and solved again) changes 1 of the 160 answers
(4/8 0.61 -> 0.60): in 3 of those 4 misses the background thing leaves through the image's border, where the box has
no outside to compare with.
A real object outside the benchmark (../shared/images/remove_baseball.jpg, the generator, box (446, 55, 524, 192)):
the box gives its dark front panel and top sign only (38% of the box; separation 0.896), where a start without the
ring vote gives the whole unit with its light grey frame and striped base (79% of the box) but separates less (0.611),
so a third start would not be chosen: _separation prefers a salient part of a many-coloured object. One case, no
ground truth: a reason to build a set of real objects with hand-drawn masks next to the pasted ones.
A user's box: the edge found at the working scale is redrawn once more by _refine_edge on the photo's own pixels
(when the box and its ring were solved at >= 0.5 x; below that the full-resolution crop would be large). Dev boxes
(160, no budget) 91.2% -> 91.9%, mean IoU 0.930 -> 0.933, no box worse by 0.02. Report seeds, box only, the commit
before and this one back to back, old -> new: box >= 0.85 / mean IoU / time p50 / p90:
seed 0: 91% (137) -> 92% (138), 0.927 -> 0.930, 0.43 / 0.86 -> 0.42 / 0.89 s (0/113 0.79 -> 0.86).
seed 1: 89% (134) -> 89% (134), 0.923 -> 0.925, 0.47 / 0.82 -> 0.48 / 0.88 s.
seed 2: 89% (133) -> 89% (134), 0.931 -> 0.935, 0.51 / 0.90 -> 0.52 / 0.93 s.
No box got worse by 0.02 on any seed; the target (90% on every seed) is still NOT met (one box short on seeds 1
and 2). Redrawing the working-scale edge 2 or 3 times instead (dev 91.2%, mean 0.931 / 0.932) was dropped.
Tried and dropped on 2026-11-30 (a user's box): most of the box misses left on the report seeds are the object plus
a distinct piece of background it encloses or bends around, whose colours the ring does not hold (the crema inside a
cup's rim under an arc, a cat's eye under a stroke, an orange tree under a green arc), so the foreground model takes
it. A pruning step split the answer's features into 3 k-means clusters and, for each connected region of a cluster
(at least 8% of the answer, bordering what lies outside the answer along at least 15% of its outline, leaving the
rest still spanning the answer's extent within 3% of the box), solved GrabCut again (2 iterations) from the answer
with that region as probable background, keeping the result when it still spanned the extent, did not close around
the region, and separated from its ring by 0.02 more. Dev boxes (160, no budget): 147 -> 149 (91.9% -> 93.1%), mean
IoU 0.933 -> 0.936, none lost (4/68 0.69 -> 0.86, 4/73 0.78 -> 0.99), 15% more time (5 iterations: 52% more; 1 or 2
clusters more or fewer, or regions of 5%: 148-149); on report-seed misses 2/84 0.64 -> 0.98, 2/140 0.62 -> 0.97, 1/64
0.34 -> 0.96, 1/32 0.37 -> 0.96, 1/93 0.51 -> 0.98. But on two-part objects (the same dev scenes with the object's
pixels on one side of a random line through it moved towards another palette colour, 149 boxes) it removes real
parts: 126 -> 124 of 149 at IoU >= 0.85 (3/15 0.88 -> 0.44, 4/27 0.99 -> 0.79, 4/78 0.99 -> 0.45, one gained). No
guard told the two apart: the rest spanning the answer's extent to 2 px (dev 149, two-part 126, 3/15 still lost),
the region more like the ring than like the rest (two-part 123), the region mostly (>= 60%) inside the rest's convex
hull (dev 149, two-part 125, and 1/32 and 1/93 lost again); the wrong prunes gained as much separation (0.095, 0.097)
as the right ones (0.055-0.22). A box alone does not say whether a distinct enclosed part belongs to the object; a
negative click does (tests/test_segment.py), so the box recipe is unchanged.
Clicks, 2026-11-30: without the time budget the report seeds' clicks get 64.7% (seed 1) and 65.3% (seed 2) at IoU
>= 0.8, against 65% / 67% with it, so the budget is not what keeps the target; and the best of the top-level answers
a click computes (pass 1, pass 2, the wide box, the fallback's boxes) reaches 0.8 in 126 of the 160 dev clicks and
104 of seed 1's 150 (124 and 97 chosen): no rule that picks among them reaches 75% (picking all by separation less
0 / 0.25 / 0.5 / 1 x share: dev 105-108, seed 1 90-92). Two faults of the chain are fixed: pass 2 keeping under a
tenth of pass 1's answer has lost the object and pass 1's stands (seed 1 scene 63: pass 1 0.96, pass 2 0.02); the
fallback's boxes no longer end on the last one that did not collapse, which may have spilled (seed 2 scene 65: pass
1 0.96, a box 0.85, then a spill over a third of the picture, 0.05), but pass 1's answer and the boxes' compete by
separation less 0.5 x share. No budget, old -> new: dev 124 -> 124 of 160 (mean 0.818 -> 0.820; 3/69 0.20 -> 0.79,
4/45 0.19 -> 0.01, 4/68 0.08 -> 0.00), seed 1 97 -> 99 (mean 0.736 -> 0.755). Report seeds, `--only click`, the
commit before (ac34a06) and this one back to back, old -> new: click >= 0.8 / mean IoU / time p50 / p90 / max /
share past 2 s / budget stops:
seed 0: 105 -> 105 (70%), 0.788 -> 0.787, 1.36 / 1.84 / 2.78 -> 1.33 / 1.83 / 2.54 s, 3% -> 2%, 31 -> 29.
seed 1: 97 -> 99 (66%), 0.747 -> 0.757, 1.35 / 1.85 / 2.08 -> 1.31 / 1.82 / 2.15 s, 1% -> 2%, 38 -> 30.
seed 2: 101 -> 101 (67%), 0.773 -> 0.779, 1.42 / 1.82 / 3.58 -> 1.39 / 1.81 / 3.37 s, 4% -> 2%, 42 -> 40.
Moved by more than 0.05: seed 0 scene 125 0.33 -> 0.24; seed 1 63 0.15 -> 0.96, 120 0.64 -> 0.87, 143 0.21 -> 0.76;
seed 2 138 0.13 -> 0.53, 144 0.35 -> 0.74. The click target (75%) is still NOT met.
Many-coloured objects (`--two-part`, the code of that commit, seed 0, 150 scenes of which 138 got a second part;
the same scenes single-coloured in brackets): box >= 0.85 83% (92%), median 0.959, horse 58%, ellipse 93%, blob 94%,
thin 85%, holes 88%; one click >= 0.8 26% (70%), median 0.54, by size 1-3% / 3-10% / 10-30% 46 / 21 / 3%: one click
on a two-coloured object mostly takes the clicked part; one click at each part's most interior point instead (a
harness over the same 138 two-part scenes, 2 s budget): 64% (median 0.91) against 22% (median 0.51) for one click,
time p50 / p90 1.48 / 1.85 s. Time per box p50 / p90 0.50 / 0.98 s, per click 1.28 / 1.78 s.
Clicks, 2026-11-30, later: squares and agreement. A click gives no box, and the box recipe (92 / 89 / 89% at IoU
>= 0.85 on the report seeds) is much stronger than a click's chain, so the recipe of a user's box (side votes, the
discriminant) also runs on squares centred on the click, 0.2 / 0.3 / 0.4 / 0.55 of the long side, solved at 0.4 x
max_side with 2 iterations (an answer covering more than 10% of its square's edge is dropped: cut off or spilled);
of the chain's answers (pass 1 or 2, the wide box, the fallback's boxes) and the squares', the one most others agree
with (IoU >= 0.9 on pass 1's grid; the chain's own choice votes once more; ties to separation less 0.25 x share,
weighted 0.5) wins, and a chain answer that agrees with the winner stands for it (finer scale, more iterations).
The object's answer recurs across box sizes, where a part or a spill depends on one start. Offline, over the answers
of the dev clicks (160, no budget): the best of the chain's answers reaches 0.8 in 127 (chosen: 124), with the
squares in 137-138; agreement picks 127-129 at IoU thresholds 0.8-0.95, 124 without the chain's extra vote, 124-125
with the squares' votes weighted 0.5-0.75, 125 with the squares solved by the plain ring vote (no sides, no
discriminant), 128 with six sizes (0.15-0.75) instead of four. The code, dev (160 clicks, no budget): 124 -> 129
at IoU >= 0.8, mean IoU 0.820 -> 0.841 (squares at 0.5 x max_side and 3 iterations: 128 and 0.69 s per click for
the squares; 0.4 and 2: 129, 0.36 s; 0.3 and 2: 126; 0.4 and 1: 129, 0.31 s; without the wide hypothesis: 119).
Report seeds, `--only click`, the commit before (bb34691, a worktree) and this one on the same quiet machine within
an hour, old -> new: click >= 0.8 / mean IoU / time p50 / p90 / max / share past 2 s / budget stops:
seed 0: 105 -> 104 (70% -> 69%), 0.784 -> 0.784, 0.71 / 1.48 / 2.24 -> 1.05 / 1.83 / 2.21 s, 1.3% -> 3.3%, 10 -> 16.
seed 1: 100 -> 101 (67%), 0.759 -> 0.765, 0.72 / 1.58 / 1.96 -> 1.08 / 1.72 / 2.01 s, 0% -> 1.3%, 13 -> 18.
seed 2: 101 -> 105 (67% -> 70%), 0.777 -> 0.779, 0.81 / 1.65 / 2.09 -> 1.18 / 1.85 / 2.04 s, 1.3% -> 2%, 15 -> 21.
(The machine was quieter than on the earlier runs above: the old code's median click was 1.31-1.39 s then.) Up by
more than 0.1: holed blobs and rings (0/119 0.43 -> 0.94, 0/149 0.13 -> 0.74, 1/54 0.42 -> 0.96), blobs and
ellipses taken in part or with a spill before (1/47 0.44 -> 0.94, 2/51 0.44 -> 0.96, 2/141 0.56 -> 0.94); down:
mostly horses, where the squares agree on the body without the legs or on the horse with the background between
them (0/11 0.83 -> 0.30, 1/20 0.96 -> 0.68, 2/115 0.78 -> 0.39, 2/145 0.69 -> 0.31), and 0/44 (ring) 0.81 -> 0.39.
Many-coloured objects (`--two-part`, seed 0, the 138 scenes with a second part), old -> new: one click >= 0.8 31 ->
43 (22% -> 31%), mean IoU 0.552 -> 0.588, median 0.515 -> 0.551; time p50 / p90 0.70 / 1.34 -> 0.99 / 1.51 s.
The click target (75%) is still NOT met: 69 / 67 / 70%.
Clicks, 2026-11-30, session 23: a fitted ranker, regions of a merge hierarchy, and a new order under the budget.
(1) The answers' quality was not the limit, picking one was: over the dumped answers of 150 scenes per seed (no
budget), the best answer reached IoU >= 0.8 in 128 / 120 (dev seeds 3 / 4, chain + squares) while agreement picked
116 / 107. (2) More answers: the box recipe also runs on the boxes (grown 15%) of the 3 best scored, distinct regions
of a merge hierarchy of pass 1's SLIC superpixels (adjacent regions with the closest feature histograms merge first;
the regions that hold the clicks are the candidates): best available 128 / 120 -> 134 / 132. (3) The pick: a
logistic regression over 17 features of each answer (pipelines/segment/ranking.py: separation from two rings,
size, edges along the outline, compactness, click depth, agreement with the other answers, whether a larger answer
holding it separates better, the chain's choice), fitted on dev seeds 3 / 4 / 5 by bench/grabcut_ranker.py; on each
dev seed left out it picks 125 / 117 / 122 (the chain's own choice 114 / 105 / 109, agreement 115 / 109 / -); the
chain's choice, or its best answer, that agrees with the pick stands for it (finer scale). Offline on report seeds
(answers dumped, no budget; 125 scenes of seed 0, 150 of seed 1): ranker 95 / 117 against agreement 85 / 104.
(4) Under the 2 s budget the answers that the ranker picks mostly come from the squares and regions, so they now run
right after pass 2 and before the wide box or the fallback's growing boxes, two boxes side by side (_boxed_answers).
Seed 2 with the budget, squares and regions after the whole chain: 109 (no budget 114; the 5 lost were all budget
stops where the winner was a square or a region); solved side by side: 109 (p50 1.39 -> 1.29 s); before the rest of
the chain: 114.
Report seeds, `--only click` (2 s budget), this commit; before -> after (session 22's figures, same machine, quiet):
click >= 0.8 / mean IoU / time p50 / p90 / max / clicks past 2 s / budget stops:
seed 0: 104 -> 115 (69% -> 77%), 0.784 -> 0.830, 1.05 / 1.83 / 2.21 -> 1.32 / 1.85 / 2.42 s, 3.3% -> 3.3%, 16 -> 36.
seed 1: 101 -> 115 (67% -> 77%), 0.765 -> 0.824, 1.08 / 1.72 / 2.01 -> 1.33 / 1.78 / 2.09 s, 1.3% -> 2%, 18 -> 34.
seed 2: 105 -> 114 (70% -> 76%), 0.779 -> 0.840, 1.18 / 1.85 / 2.04 -> 1.34 / 1.85 / 2.07 s, 2% -> 2%, 21 -> 39.
The click target (75% at IoU >= 0.8) is met on every report seed. Seed 0 by shape: horse 68%, ellipse 89%, blob 84%,
thin 68%, holes 77%; by size 1-3% / 3-10% / 10-30%: 79 / 79 / 69%; by contrast low / mid / high 53 / 73 / 83%.
(More budget stops: the wide box and the fallback's boxes, which now come last, are what the budget cuts.)
Many-coloured objects (`--two-part`, seed 0, the 138 scenes with a second part), session 22 -> this commit: one click
>= 0.8 43 -> 56 (31% -> 41%), mean IoU 0.588 -> 0.650, median 0.551 -> 0.634; time p50 / p90 1.15 / 1.76 s.
`python bench/grabcut_ranker.py --seeds 3,4,5 --cache DIR` with seeds 3 and 4 collected afresh reprints the constants
in pipelines/segment/ranking.py exactly.
Session 24 (2026-11-30): edges at the soft edge's half level, and a fitted ranker for a user's box.
(1) _refine_edge's variance-weighted local models left a box's edge about a pixel out on the busier side: on the dev
boxes that missed 0.85 narrowly, most wrong pixels lay within 1 px outside the truth (seed 3 scene 25, a 1% horse:
440 of 546 false pixels), which a small object's long outline cannot afford. _midpoint_edge then moves each pixel
within 1.5 px of the edge to the side whose local mean colour (Gaussian sigma 2 px, pixels at least 2 px from the
edge) it is nearer along the line between the two means (alpha > 0.5). Dev boxes (no budget) 141 -> 144 and 135 ->
136 of 150 (seeds 3 / 4), mean IoU 0.944 -> 0.955, 0.923 -> 0.933; better by > 0.01 in 69 / 61 scenes, worse in
4 / 5. For clicks the chosen answer gets _refine_edge and _midpoint_edge on the photo's own pixels (_finish_edge):
dev (no budget) IoU >= 0.8 127 -> 127, 118 -> 119, mean 0.854 -> 0.871, 0.835 -> 0.851.
(2) A user's box now starts GrabCut from four ring-vote thresholds (0.45, 0.3, 0.2, 0.6) and a logistic regression
over 12 features of each distinct answer (separation, the gap to each open side of the box, background kept along
the box's inner band, edges, parts, agreement, threshold; ranking.box_features, fitted by bench/grabcut_ranker.py
--kind box on dev seeds 3-5) picks. A first fit also had the share of the box the answer fills (and its log):
the same picks on the dev seeds left out (388 of 450 either way), but it depends on the object's shape, and on
report seed 1 it chose an ellipse with background kept (0.92 -> 0.79, 0.96 -> 0.77) over the better separated
answer; without it (this code) dev end to end is unchanged (146 / 140 / 142) and the report seeds below read
139 / 136 / 136 (with it 140 / 135 / 137): the choice was made after seeing report scenes, hence this note.
Offline over the dumped starts: best of v45 / v30 142 / 138 of 150, of all six
tried (also 0.6, 0.2, no vote, no sides) 143 / 139; the fitted pick, each dev seed left out, 131 / 128 / 129 of the
140 / 141 / 137 scenes with a choice, separation alone 131 / 127 / 127. Dev end to end (no budget, in-sample):
144 / 136 / 138 -> 146 / 140 / 142.
Report seeds, `--only box` and `--only click` (2 s budget, quiet machine, one seed at a time). Boxes, session 23 ->
(1) -> (1)+(2): box >= 0.85 138 / 134 / 135 -> 139 / 135 / 135 -> 139 / 136 / 136 of 150 (93 / 91 / 91%: the
target, 90% on every seed, is met, by 1-4 scenes); mean IoU (1) 0.940 / 0.935 / 0.948 -> 0.946 / 0.940 / 0.948;
time p50 / p90 / max (1) 0.26-0.30 / 0.52-0.55 / 1.67-1.85 s -> (1)+(2) 0.44-0.53 / 1.07-1.20 / 2.18-2.47 s (1-3%
past 2 s), budget stops 2 / 0 / 0 -> 2 / 3 / 5. A 12 MP photo (4000 x 3000, seed 0 scene 5 scaled up): box
0.88 -> 1.78 s, click 3.57 -> 3.26 s, peak memory of the process 590 MB both (measured while tests ran).
Clicks, session 23 -> (1): click >= 0.8 115 / 115 / 114 -> 118 / 117 /
119 (79 / 78 / 79%), mean IoU 0.830 / 0.824 / 0.840 -> 0.845 / 0.835 / 0.856; time p50 / p90 / max 1.17 / 1.79 /
2.41, 1.25 / 1.77 / 2.02, 1.30 / 1.86 / 2.27 s; past 2 s 1 / 1 / 5%; budget stops 36 / 34 / 39 -> 23 / 29 / 34.
Fresh seeds 6 and 7 (2026-12-01, never run before, code of session 24, quiet machine, one run at a time, `--only box`
then `--only click`): box >= 0.85 136 / 140 of 150 (91 / 93%), mean IoU 0.943 / 0.946, time p50 / p90 / max 0.38 /
0.93 / 2.14 and 0.45 / 0.98 / 2.10 s; click >= 0.8 120 / 110 of 150 (80 / 73%: seed 7 misses the 75% target), mean
IoU 0.850 / 0.806, time p50 / p90 / max 1.20 / 1.71 / 2.01 and 1.16 / 1.76 / 2.35 s, budget stops 21 / 19. Over
the five seeds never tuned on (0, 1, 2, 6, 7) one click reaches 0.8 in 584 of 750 (78%), a box 0.85 in 687 of 750
(92%). Seed 7's misses: thin shapes 18 of its 31 (bars, arcs, strokes), low contrast (dE < 15) 19 of 29. Without the
2 s budget its 50 missed or budget-stopped clicks give one more at 0.8: the misses are the method's, not the time's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.errors import UserError  # noqa: E402
from pipelines.io import load_image  # noqa: E402
from pipelines.segment import GrabCutSegmenter  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"
SIDE = 640
BUDGET = 2.0
CLICK_TARGET, CLICK_SHARE = 0.8, 0.75
BOX_TARGET, BOX_SHARE = 0.85, 0.90
SIZE_BUCKETS = (("1-3%", 0.0, 0.03), ("3-10%", 0.03, 0.10), ("10-30%", 0.10, 1.0))
CONTRAST_LEVELS = {"low": (0.05, 0.3), "mid": (0.3, 0.65), "high": (0.65, 1.0)}
CONTRAST_BUCKETS = (("low dE<15", 0.0, 15.0), ("mid dE15-35", 15.0, 35.0), ("high dE>=35", 35.0, math.inf))
KINDS = ("horse", "ellipse", "blob", "thin", "holes")
PALETTE = np.array([[220, 40, 40], [40, 200, 60], [40, 80, 230], [230, 210, 40], [210, 50, 210], [40, 210, 210],
                    [240, 130, 20], [120, 40, 200], [250, 250, 250], [25, 25, 25], [128, 128, 128],
                    [140, 90, 50]], np.uint8)


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def photos() -> list[tuple[str, np.ndarray]]:
    """Every real photo available without downloads, HWC uint8 RGB at native size."""
    out = [(n, _rgb(getattr(data, n)())) for n in (
        "astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field", "retina",
        "immunohistochemistry", "brick", "grass", "gravel", "coins", "moon")]
    out.append(("motorcycle_left", _rgb(data.stereo_motorcycle()[0])))
    for p in sorted(SHARED.glob("*.jpg")) + [SHARED / "bench_dog.png"]:
        if p.exists():
            out.append((p.stem, _rgb(load_image(p, keep_alpha=False))))
    return out


def background(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (30-100% of the side, aspect 0.6-1.7) resized to SIDE px on the longer side."""
    h, w = photo.shape[:2]
    aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.7)))  # w / h
    scale = rng.uniform(0.3, 1.0)
    ch = scale * min(h, w / aspect)
    cw, ch = max(32, int(ch * aspect)), max(32, int(ch))
    cw, ch = min(cw, w), min(ch, h)
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = photo[y0:y0 + ch, x0:x0 + cw]
    s = SIDE / max(ch, cw)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(crop, (max(1, round(cw * s)), max(1, round(ch * s))), interpolation=interp)


def _blob(rng: np.random.Generator, n: int = 240) -> np.ndarray:
    noise = cv2.resize(ndimage.gaussian_filter(rng.normal(size=(40, 40)), rng.uniform(3, 6)), (n, n),
                       interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[-n // 2:n // 2, -n // 2:n // 2]
    blob = noise / noise.std() + 2.2 * (1 - np.hypot(xx, yy) / (n // 2)) > 1.0
    labels, count = ndimage.label(blob)
    if count == 0:
        return np.hypot(xx, yy) < n // 3
    return ndimage.binary_fill_holes(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)


def silhouette(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A bool shape (tightly cropped, any size) and its sub-kind."""
    sub = kind
    if kind == "horse":
        m = ~data.horse()
    elif kind == "ellipse":
        a = rng.uniform(0.4, 1.0)
        m = np.zeros((202, 302), np.uint8)
        cv2.ellipse(m, (151, 101), (150, int(100 * a)), 0, 0, 360, 1, -1)
        m = m.astype(bool)
    elif kind == "blob":
        m = _blob(rng)
    elif kind == "thin":
        sub = ("bar", "arc", "stroke")[rng.integers(3)]
        m = np.zeros((300, 300), np.uint8)
        t = int(rng.integers(12, 30))
        if sub == "bar":
            cv2.rectangle(m, (20, 150 - t // 2), (280, 150 + t // 2), 1, -1)
        elif sub == "arc":
            cv2.ellipse(m, (150, 150), (130, 100), 0, 180, 360 + rng.uniform(-60, 0), 1, t)
        else:
            pts = np.cumsum(rng.normal(0, 40, size=(6, 2)), axis=0)
            pts = (pts - pts.min(0)) / max(1e-6, np.ptp(pts, axis=0).max()) * 240 + 30
            cv2.polylines(m, [pts.astype(np.int32)], False, 1, t)
        m = m.astype(bool)
    else:  # holes
        sub = ("ring", "holed_blob")[rng.integers(2)]
        if sub == "ring":
            yy, xx = np.mgrid[-150:151, -150:151]
            r = np.hypot(xx, yy)
            m = (r <= 150) & (r >= 150 * rng.uniform(0.4, 0.7))
        else:
            m = _blob(rng)
            dist = ndimage.distance_transform_edt(m)
            for _ in range(int(rng.integers(1, 4))):
                ys, xs = np.nonzero(dist > 25)
                if not len(ys):
                    break
                k = rng.integers(len(ys))
                cv2.circle(m.view(np.uint8), (int(xs[k]), int(ys[k])), int(rng.integers(8, 20)), 0, -1)
                dist = ndimage.distance_transform_edt(m)
    m = m.astype(np.uint8)
    angle = rng.uniform(0, 360)
    h, w = m.shape
    d = int(math.ceil(math.hypot(h, w))) + 4
    pad = np.zeros((d, d), np.uint8)
    pad[(d - h) // 2:(d - h) // 2 + h, (d - w) // 2:(d - w) // 2 + w] = m
    rot = cv2.warpAffine(pad, cv2.getRotationMatrix2D((d / 2, d / 2), angle, 1.0), (d, d),
                         flags=cv2.INTER_NEAREST).astype(bool)
    if rng.random() < 0.5:
        rot = rot[:, ::-1]
    ys, xs = np.nonzero(rot)
    return rot[ys.min():ys.max() + 1, xs.min():xs.max() + 1], sub


def _lab(rgb: np.ndarray) -> np.ndarray:
    """float RGB 0-255 (..., 3) -> float Lab (L 0-100)."""
    arr = np.clip(rgb, 0, 255).astype(np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(arr, cv2.COLOR_RGB2LAB).reshape(rgb.shape)


def _rgb_of_lab(lab: np.ndarray) -> np.ndarray:
    arr = lab.astype(np.float32).reshape(-1, 1, 3)
    return (np.clip(cv2.cvtColor(arr, cv2.COLOR_LAB2RGB), 0, 1) * 255).reshape(lab.shape)


def make_scene(index: int, seed: int, pool: list[tuple[str, np.ndarray]], two_part: bool = False) -> dict:
    """Scene ``index`` of the set drawn with ``seed``: image (HWC uint8 RGB), truth (HW bool) and its recipe.

    With ``two_part`` the object's pixels on one side of a random line through its centre (20-80% of it, else the
    object stays whole) have their colour moved 80% of the way to a random palette colour: a many-coloured object,
    the same scene otherwise (its own random stream)."""
    rng = np.random.default_rng([seed, index])
    pi = int(rng.integers(len(pool)))
    host = background(pool[pi][1], rng).astype(np.float32)
    h, w = host.shape[:2]
    kind = KINDS[index % len(KINDS)] if rng.random() < 0.8 else KINDS[int(rng.integers(len(KINDS)))]
    shape, sub = silhouette(kind, rng)
    frac = math.exp(rng.uniform(math.log(0.01), math.log(0.30)))
    border = bool(rng.random() < 1 / 3)
    level = ("low", "mid", "high")[int(rng.integers(3))]
    c = rng.uniform(*CONTRAST_LEVELS[level])
    sigma = rng.uniform(0.6, 1.5)

    # 1. scale the shape to the target area (cannot exceed the frame), place it (partly off the frame if border)
    s = math.sqrt(frac * h * w / max(1, shape.sum()))
    s = min(s, 0.98 * w / shape.shape[1], 0.98 * h / shape.shape[0])
    m = cv2.resize(shape.astype(np.uint8), (max(4, round(shape.shape[1] * s)), max(4, round(shape.shape[0] * s))),
                   interpolation=cv2.INTER_NEAREST).astype(bool)
    mh, mw = m.shape
    if border:
        side = int(rng.integers(4))
        off = rng.uniform(0.1, 0.4)
        y0, x0 = int(rng.integers(0, h - mh + 1)), int(rng.integers(0, w - mw + 1))
        if side == 0:
            x0 = -int(off * mw)
        elif side == 1:
            x0 = w - mw + int(off * mw)
        elif side == 2:
            y0 = -int(off * mh)
        else:
            y0 = h - mh + int(off * mh)
    else:
        y0, x0 = int(rng.integers(0, h - mh + 1)), int(rng.integers(0, w - mw + 1))
    full = np.zeros((h, w), bool)
    ys, xs = slice(max(0, y0), min(h, y0 + mh)), slice(max(0, x0), min(w, x0 + mw))
    full[ys, xs] = m[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]

    # 2. texture: a crop of another photo, its mean moved towards the contrast target in Lab, detail scaled
    others = [i for i in range(len(pool)) if i != pi]
    tex_photo = pool[others[int(rng.integers(len(others)))]][1]
    th, tw = tex_photo.shape[:2]
    k = max(1.0, h / th * 1.02, w / tw * 1.02)
    if k > 1:
        tex_photo = cv2.resize(tex_photo, (int(tw * k) + 1, int(th * k) + 1), interpolation=cv2.INTER_CUBIC)
        th, tw = tex_photo.shape[:2]
    ty, tx = int(rng.integers(0, th - h + 1)), int(rng.integers(0, tw - w + 1))
    tex = _lab(tex_photo[ty:ty + h, tx:tx + w].astype(np.float32))
    ring = ndimage.binary_dilation(full, iterations=12) & ~full
    host_lab = _lab(host)
    ring_mean = host_lab[ring].mean(axis=0) if ring.any() else host_lab.reshape(-1, 3).mean(axis=0)
    pal = _lab(PALETTE.astype(np.float32))
    far = pal[int(np.argmax(np.linalg.norm(pal - ring_mean, axis=1)))]
    target = ring_mean + c * (far - ring_mean)
    detail = rng.uniform(0.5, 1.0)
    obj_lab = target + detail * (tex - tex[full].mean(axis=0))
    second = 0.0
    if two_part:
        rng2 = np.random.default_rng([seed, index, 7])
        ys_, xs_ = np.nonzero(full)
        angle = rng2.uniform(0, math.pi)
        yy, xx = np.mgrid[:h, :w]
        offset = rng2.uniform(-0.3, 0.3) * math.sqrt(full.sum())
        part = full & (((xx - xs_.mean()) * math.cos(angle) + (yy - ys_.mean()) * math.sin(angle)) > offset)
        colour = pal[int(rng2.integers(len(pal)))]
        share = float(part.sum() / full.sum())
        if 0.2 <= share <= 0.8:
            soft = ndimage.gaussian_filter(part.astype(np.float32), 0.8)[..., None]
            obj_lab = obj_lab + soft * 0.8 * (colour - obj_lab[part].mean(axis=0))
            second = share
    obj = _rgb_of_lab(obj_lab)

    # 3. the soft matte and the composite; truth = matte > 0.5; the measured contrast
    matte = ndimage.gaussian_filter(full.astype(np.float32), sigma)
    image = np.clip(np.round(matte[..., None] * obj + (1 - matte[..., None]) * host), 0, 255).astype(np.uint8)
    truth = matte > 0.5
    img_lab = _lab(image.astype(np.float32))
    de = float(np.linalg.norm(img_lab[truth].mean(axis=0) - img_lab[ring].mean(axis=0))) if ring.any() else 0.0
    touches = bool(truth[0].any() or truth[-1].any() or truth[:, 0].any() or truth[:, -1].any())
    return {
        "image": image, "truth": truth, "index": index, "photo": pool[pi][0], "kind": kind, "sub": sub,
        "area": float(truth.mean()), "border": touches, "level": level, "c": round(float(c), 3),
        "dE": round(de, 2), "sigma": round(float(sigma), 2), "size": [w, h], "second_part": round(second, 3),
    }


def centre_click(truth: np.ndarray) -> tuple[float, float]:
    """Where a user clicks: the object's most interior point, (x, y)."""
    dist = ndimage.distance_transform_edt(np.pad(truth, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(np.argmax(dist), dist.shape)
    return float(x), float(y)


def loose_box(truth: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    """A box a user drags: the object's bounding box plus ``pad`` px, clipped; XYXY."""
    ys, xs = np.nonzero(truth)
    h, w = truth.shape
    return (int(max(0, xs.min() - pad)), int(max(0, ys.min() - pad)),
            int(min(w, xs.max() + 1 + pad)), int(min(h, ys.max() + 1 + pad)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def run_one(seg: GrabCutSegmenter, image: np.ndarray, truth: np.ndarray, **prompt) -> dict:
    t0 = time.perf_counter()
    try:
        res = seg.segment(image, **prompt)
        mask, note = np.asarray(res.masks[res.best], bool), res.note
    except UserError as e:
        mask, note = np.zeros_like(truth), f"UserError: {e}"
    dt = time.perf_counter() - t0
    return {"iou": round(iou(mask, truth), 4), "time_s": round(dt, 3), "note": note,
            "pred_area": float(mask.mean())}


def _bucket(value: float, buckets) -> str:
    for name, lo, hi in buckets:
        if lo <= value < hi:
            return name
    return buckets[-1][0]


def summarise(rows: list[dict]) -> dict:
    def dist(vals):
        v = np.asarray(vals, float)
        if not len(v):
            return {}
        return {"n": int(len(v)), "p10": float(np.percentile(v, 10)), "p25": float(np.percentile(v, 25)),
                "median": float(np.median(v)), "p75": float(np.percentile(v, 75)), "mean": float(v.mean())}

    def group(sel):
        sub = [r for r in rows if sel(r)]
        if not sub:
            return None
        ci = [r["click"]["iou"] for r in sub]
        bi = [r["box"]["iou"] for r in sub]
        return {"n": len(sub),
                "click_ok": float(np.mean([v >= CLICK_TARGET for v in ci])),
                "box_ok": float(np.mean([v >= BOX_TARGET for v in bi])),
                "click_median": float(np.median(ci)), "box_median": float(np.median(bi))}

    groups = {"all": group(lambda r: True)}
    for name, _, _ in SIZE_BUCKETS:
        groups[f"size {name}"] = group(lambda r, n=name: r["size_bucket"] == n)
    for name, _, _ in CONTRAST_BUCKETS:
        groups[f"contrast {name}"] = group(lambda r, n=name: r["contrast_bucket"] == n)
    for lv in CONTRAST_LEVELS:
        groups[f"level {lv}"] = group(lambda r, n=lv: r["level"] == n)
    groups["border: touching"] = group(lambda r: r["border"])
    groups["border: inside"] = group(lambda r: not r["border"])
    for k in KINDS:
        groups[f"shape {k}"] = group(lambda r, n=k: r["kind"] == n)
    groups = {k: v for k, v in groups.items() if v is not None}

    def times(vals):
        v = np.asarray(vals, float)
        return {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "max": float(v.max()),
                "over_budget": float(np.mean(v > BUDGET))}

    return {
        "click_iou": dist([r["click"]["iou"] for r in rows]),
        "box_iou": dist([r["box"]["iou"] for r in rows]),
        "click_ok": groups["all"]["click_ok"], "box_ok": groups["all"]["box_ok"],
        "click_target_met": groups["all"]["click_ok"] >= CLICK_SHARE,
        "box_target_met": groups["all"]["box_ok"] >= BOX_SHARE,
        "groups": groups,
        "click_time_s": times([r["click"]["time_s"] for r in rows]),
        "box_time_s": times([r["box"]["time_s"] for r in rows]),
        "budget_notes": {"click": int(sum("time budget" in r["click"]["note"] for r in rows)),
                         "box": int(sum("time budget" in r["box"]["note"] for r in rows))},
        "user_errors": {"click": int(sum(r["click"]["note"].startswith("UserError") for r in rows)),
                        "box": int(sum(r["box"]["note"].startswith("UserError") for r in rows))},
    }


def print_report(s: dict, n: int, seed: int, wall: float) -> None:
    print(f"\nGrabCut fallback, {n} scenes (seed {seed}), {SIDE} px, time_budget {BUDGET:g} s, "
          f"cv2 threads {cv2.getNumThreads()}, {wall:.0f} s in all")
    print(f"{'IoU':<8}{'p10':>7}{'p25':>7}{'median':>8}{'p75':>7}{'mean':>7}")
    for key in ("click_iou", "box_iou"):
        d = s[key]
        print(f"{key[:-4]:<8}{d['p10']:>7.3f}{d['p25']:>7.3f}{d['median']:>8.3f}{d['p75']:>7.3f}{d['mean']:>7.3f}")
    print(f"\nclick IoU >= {CLICK_TARGET}: {s['click_ok']:.0%} (target {CLICK_SHARE:.0%}: "
          f"{'met' if s['click_target_met'] else 'NOT met'});  box IoU >= {BOX_TARGET}: {s['box_ok']:.0%} "
          f"(target {BOX_SHARE:.0%}: {'met' if s['box_target_met'] else 'NOT met'})")
    print(f"\n{'group':<22}{'n':>5}{'click>=0.8':>12}{'box>=0.85':>11}{'click med':>11}{'box med':>9}")
    for name, g in s["groups"].items():
        print(f"{name:<22}{g['n']:>5}{g['click_ok']:>12.0%}{g['box_ok']:>11.0%}"
              f"{g['click_median']:>11.3f}{g['box_median']:>9.3f}")
    print(f"\n{'time (s)':<8}{'median':>8}{'p90':>7}{'max':>7}{'> 2 s':>7}")
    for key in ("click_time_s", "box_time_s"):
        t = s[key]
        print(f"{key.split('_')[0]:<8}{t['median']:>8.2f}{t['p90']:>7.2f}{t['max']:>7.2f}{t['over_budget']:>7.0%}")
    print(f"stopped by the time budget: click {s['budget_notes']['click']}, box {s['budget_notes']['box']}; "
          f"UserErrors: click {s['user_errors']['click']}, box {s['user_errors']['box']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="20 scenes (a smoke run; the figures need --scenes >= 150)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--two-part", action="store_true", help="many-coloured objects: one side of a line through "
                    "each object recoloured (see make_scene)")
    ap.add_argument("--only", choices=("click", "box"), help="run one prompt kind (a development run; the other "
                    "counts as IoU 0 and 0 s)")
    args = ap.parse_args(argv)
    n = 20 if args.quick else args.scenes
    cv2.setNumThreads(2)
    pool = photos()
    seg = GrabCutSegmenter(time_budget=BUDGET)
    rows = []
    t_all = time.perf_counter()
    for i in range(n):
        sc = make_scene(i, args.seed, pool, two_part=args.two_part)
        image, truth = sc.pop("image"), sc.pop("truth")
        x, y = centre_click(truth)
        pad = int(np.random.default_rng([args.seed, i, 1]).integers(3, 9))
        box = loose_box(truth, pad)
        skipped = {"iou": 0.0, "time_s": 0.0, "note": "skipped", "pred_area": 0.0}
        sc["click"] = {"xy": [x, y], **(skipped if args.only == "box" else
                                        run_one(seg, image, truth, positive=[(x, y)]))}
        sc["box"] = {"xyxy": list(box), **(skipped if args.only == "click" else run_one(seg, image, truth, box=box))}
        sc["size_bucket"] = _bucket(sc["area"], SIZE_BUCKETS)
        sc["contrast_bucket"] = _bucket(sc["dE"], CONTRAST_BUCKETS)
        rows.append(sc)
        print(f"{i:4d} {sc['photo']:<22}{sc['sub']:<11}area {sc['area']:6.1%} dE {sc['dE']:5.1f} "
              f"{'border' if sc['border'] else '      '}  click {sc['click']['iou']:.3f} "
              f"({sc['click']['time_s']:.2f} s)  box {sc['box']['iou']:.3f} ({sc['box']['time_s']:.2f} s)",
              flush=True)
    wall = time.perf_counter() - t_all
    summary = summarise(rows)
    print_report(summary, n, args.seed, wall)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "grabcut-two-part" if args.two_part else "grabcut"
    out = args.out / (f"{stem}.json" if args.only is None else f"{stem}-{args.only}.json")
    out.write_text(json.dumps({"scenes": n, "seed": args.seed, "two_part": args.two_part, "side": SIDE,
                               "time_budget_s": BUDGET,
                               "photos": [p for p, _ in pool], "summary": summary, "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
