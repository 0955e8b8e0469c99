"""Peak memory (RSS) and wall time of the big-image paths, each case in its own process.

    python bench/memory.py [--sizes 6,12,24] [--cases inpaint,composite,outpaint,outpaint_long]
                           [--masks small,half] [--limit-gb 10] [--timeout 900]

Cases (synthetic photos: a real photo, /work/shared/images/dog.jpg or skimage's astronaut, resized to the
size with added grain so no area is flat):
- inpaint: pipelines.inpaint.inpaint(engine="telea", grow=0) with a small mask (a ~300 px blob) and a
  half-image mask (a wavy ellipse covering about half the picture), at 6, 12 and 24 MP;
- composite: blend.composite (seamless) of a colour-shifted copy followed by seams.seam_report, same masks;
- outpaint: pipelines.outpaint.outpaint(engine="telea", right=512) of a photo of that size;
- outpaint_long: outpaint(engine="telea", right=5000) of a 320x240 photo (the CLI's
  ``python -m pipelines outpaint --image small.png --right 5000 --engine telea``);
- cli: ``python -m pipelines inpaint --engine telea`` end to end (decode a JPEG photo and a PNG mask, inpaint,
  verify, write the PNG), with the same masks and sizes as inpaint.

Each case runs in a child process (this script with --child) that prints its peak RSS (VmHWM from
/proc/self/status), the RSS before the job (imports and inputs) and the job's wall time; the parent also
watches the child's RSS and kills it above --limit-gb (the machine is shared: a case that would need 20 GB
is reported as killed, not allowed to take the machine down). Prints a table and writes
bench/out/memory.json, plus the ratio time(24 MP, half mask) / time(6 MP, half mask) for telea inpaint.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES_MP = {6: (3000, 2000), 12: (4240, 2830), 24: (6000, 4000)}
DOG = Path("/work/shared/images/dog.jpg")


def _status_kb(field: str, pid: str = "self") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """HWC uint8 RGB: a real photo resized to width x height, plus Gaussian grain (sigma 4 levels)."""
    import cv2

    if DOG.exists():
        base = cv2.cvtColor(cv2.imread(str(DOG)), cv2.COLOR_BGR2RGB)
    else:
        from skimage import data

        base = data.astronaut()
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    cv2.setRNGSeed(seed)
    noise = np.empty((height, width, 3), np.int16)
    cv2.randn(noise, 0, 4)
    return cv2.add(img, noise, dtype=cv2.CV_8U)  # saturating, no float copy of the image


def mask_for(kind: str, width: int, height: int) -> np.ndarray:
    """HW bool: "small" a ~300 px wavy blob at the centre; "half" a wavy ellipse over ~half the image."""
    import cv2

    cx, cy = width / 2, height / 2
    if kind == "small":
        ax, ay = 150.0, 150.0
    else:
        k = np.sqrt(2 / np.pi)  # ellipse area = pi/4 * k^2 * W * H = W * H / 2
        ax, ay = k * width / 2, k * height / 2
    t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    r = 1 + 0.06 * np.sin(5 * t) + 0.03 * np.sin(11 * t + 1)
    pts = np.stack([cx + ax * r * np.cos(t), cy + ay * r * np.sin(t)], axis=1)
    m = np.zeros((height, width), np.uint8)
    cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    return m.astype(bool)


def child(case: str, mp: int, mask_kind: str) -> dict:
    """Run one case in this process; returns the figures."""
    from pipelines import blend, seams
    from pipelines.inpaint import inpaint
    from pipelines.outpaint import outpaint

    if case == "outpaint_long":
        image = photo(320, 240)
    else:
        image = photo(*SIZES_MP[mp])
    h, w = image.shape[:2]
    out = {"case": case, "mp": mp, "mask": mask_kind, "size": [w, h]}
    if case in ("inpaint", "composite", "cli"):
        mask = mask_for(mask_kind, w, h)
        out["mask_px"] = int(mask.sum())
    if case == "cli":
        import tempfile

        import cv2

        from pipelines import cli, io

        folder = Path(tempfile.mkdtemp(prefix="memory-bench-"))
        cv2.imwrite(str(folder / "photo.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        io.save_png(folder / "mask.png", mask)
        del image, mask
    if case == "composite":
        generated = np.clip(image * np.float32(1.08), 0, 255).astype(np.uint8)
    rss_before = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if case == "inpaint":
        inpaint(image, mask, engine="telea", grow=0)
    elif case == "composite":
        result = blend.composite(image, generated, mask)
        seams.seam_report(image, result, mask)
    elif case == "outpaint":
        outpaint(image, right=512, engine="telea", seed=0)
    elif case == "outpaint_long":
        outpaint(image, right=5000, engine="telea", seed=0)
    elif case == "cli":
        import contextlib
        import io as stdio

        with contextlib.redirect_stdout(stdio.StringIO()):
            code = cli.main(["inpaint", "--image", str(folder / "photo.jpg"), "--mask", str(folder / "mask.png"),
                             "--out", str(folder / "out.png"), "--engine", "telea"])
        if code != 0:
            raise SystemExit(f"the CLI exited with {code}")
    else:
        raise SystemExit(f"unknown case {case}")
    out["seconds"] = time.perf_counter() - t0
    out["rss_before_mb"] = rss_before / 1024
    out["peak_mb"] = _status_kb("VmHWM") / 1024
    return out


def run_case(case: str, mp: int, mask_kind: str, limit_gb: float, timeout: float) -> dict:
    """The case in a child process, killed above limit_gb of RSS or after timeout seconds."""
    cmd = [sys.executable, __file__, "--child", case, str(mp), mask_kind]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.perf_counter()
    killed = None
    seen_kb = 0
    while proc.poll() is None:
        rss = _status_kb("VmRSS", str(proc.pid))
        seen_kb = max(seen_kb, rss)
        if rss > limit_gb * 1024 * 1024:
            killed = f"RSS over {limit_gb:g} GB"
        elif time.perf_counter() - start > timeout:
            killed = f"over {timeout:g} s"
        if killed:
            proc.kill()
            break
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # max over all children so far
    row = {"case": case, "mp": mp, "mask": mask_kind}
    if killed:
        row.update(killed=killed, seconds=wall, peak_mb=seen_kb / 1024)
        return row
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        row.update(error=(stderr.strip().splitlines() or ["?"])[-1], seconds=wall, peak_mb=seen_kb / 1024)
        return row
    row.update(json.loads(lines[-1]))
    row["children_maxrss_mb"] = children
    return row


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        case, mp, mask_kind = argv[1], int(argv[2]), argv[3]
        print(json.dumps(child(case, mp, mask_kind)), flush=True)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="6,12,24", help="megapixels, from 6, 12, 24")
    ap.add_argument("--cases", default="inpaint,composite,outpaint,outpaint_long")
    ap.add_argument("--masks", default="small,half")
    ap.add_argument("--limit-gb", type=float, default=10.0, help="kill a case whose RSS passes this")
    ap.add_argument("--timeout", type=float, default=900.0, help="kill a case that runs longer (s)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--tag", default="", help="a label stored in the JSON (e.g. before/after)")
    args = ap.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",") if s]
    cases = [c for c in args.cases.split(",") if c]
    kinds = [k for k in args.masks.split(",") if k]
    plan = []
    for case in cases:
        if case == "outpaint_long":
            plan.append((case, 0, "-"))
        elif case == "outpaint":
            plan += [(case, mp, "-") for mp in sizes]
        else:
            plan += [(case, mp, kind) for kind in kinds for mp in sizes]
    rows = []
    print(f"{'case':<14} {'MP':>3} {'mask':<6} {'peak RSS MB':>12} {'before MB':>10} {'seconds':>9}  note", flush=True)
    for case, mp, kind in plan:
        row = run_case(case, mp, kind, args.limit_gb, args.timeout)
        rows.append(row)
        note = row.get("killed") or row.get("error") or ""
        peak = ("> " if row.get("killed") else "") + f"{row['peak_mb']:.0f}"
        before = f"{row['rss_before_mb']:.0f}" if "rss_before_mb" in row else "-"
        print(f"{case:<14} {mp or '':>3} {kind:<6} {peak:>12} {before:>10} {row['seconds']:>9.2f}  {note}", flush=True)

    def find(case, mp, kind):
        for r in rows:
            if (r["case"], r["mp"], r["mask"]) == (case, mp, kind) and "killed" not in r and "error" not in r:
                return r
        return None

    ratios = {}
    a, b = find("inpaint", 24, "half"), find("inpaint", 6, "half")
    if a and b:
        ratios["inpaint_time_24mp_over_6mp_half"] = a["seconds"] / b["seconds"]
    a, b = find("composite", 24, "half"), find("composite", 6, "half")
    if a and b:
        ratios["composite_time_24mp_over_6mp_half"] = a["seconds"] / b["seconds"]
    a, b = find("cli", 24, "half"), find("cli", 6, "half")
    if a and b:
        ratios["cli_inpaint_time_24mp_over_6mp_half"] = a["seconds"] / b["seconds"]
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "memory.json"
    payload = {"tag": args.tag, "cpus": os.cpu_count(), "rows": rows, "ratios": ratios}
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
