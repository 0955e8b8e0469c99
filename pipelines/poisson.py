"""Dirichlet Laplace/Poisson solves on a masked pixel domain.

The gradient-domain blend needs ``h`` with ``laplacian(h) = 0`` inside the mask and ``h = d`` on the pixels
just outside it (d = original - generated there). We solve the 5-point discretisation exactly (to a tight
tolerance) over the mask only, on the mask's bounding box plus a one pixel ring, never the whole image:

- small domains: a sparse direct solve (scipy.sparse.linalg.splu), factorised once for all channels;
- large domains: conjugate gradients preconditioned by a geometric multigrid V-cycle (damped Jacobi
  smoothing, 2x2 block restriction, piecewise-constant prolongation, direct solve on the coarsest grid),
  which costs O(pixels) instead of the direct solver's superlinear fill-in.

Where the domain touches the image border the missing neighbours are dropped from the stencil (a zero
normal derivative), so masks touching borders need no special care from callers.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from .errors import UserError

DIRECT_MAX = 4_000
"""Domains up to this many unknowns use the sparse direct solver."""

_COARSEST = 3_000
COARSE_SCALE = 1.0


_CROSS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32)
_LAPLACE = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=np.float32)


def _neighbour_sum(x: np.ndarray) -> np.ndarray:
    """Sum of the 4-neighbours of every pixel of x (HW or HWC with C <= 4), zero beyond the array."""
    out = cv2.filter2D(x, -1, _CROSS, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(x.shape)


def _degree(shape: tuple[int, int], open_edges: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Number of existing neighbours per pixel. open_edges = (top, bottom, left, right): True where the
    array edge is an image border (no neighbour beyond it)."""
    h, w = shape
    deg = np.full((h, w), 4.0)
    top, bottom, left, right = open_edges
    if top:
        deg[0] -= 1
    if bottom:
        deg[-1] -= 1
    if left:
        deg[:, 0] -= 1
    if right:
        deg[:, -1] -= 1
    return deg


class _Level:
    """One grid of the multigrid hierarchy: the domain, its stencil and (on the coarsest) a factorisation.

    The operator is ``scale * (deg * x - neighbour_sum(x))`` on the domain. Domain pixels sit either inside
    the array or on an open (image-border) edge, so one 3x3 filter with replicated borders computes it: a
    replicated neighbour cancels its own term, which is the zero-normal-derivative condition.
    """

    def __init__(self, omega: np.ndarray, deg: np.ndarray, scale: float, channels: int):
        self.omega = omega
        self.deg = deg
        self.scale = scale
        self.shape = omega.shape + (channels,)
        self.mask = np.repeat(omega.astype(np.float32)[..., None], channels, axis=2)
        self.kernel = _LAPLACE * np.float32(scale)
        # damped-Jacobi step: 0.8 / diagonal on the domain, 0 elsewhere
        step = np.where(omega, 0.8 / (scale * deg), 0.0).astype(np.float32)
        self.step = np.repeat(step[..., None], channels, axis=2)
        self.tmp = np.empty(self.shape, np.float32)
        self.lu = None
        self.coarse: _Level | None = None

    def apply(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = A x for x of shape HWC (zero outside the domain); out is zero outside the domain."""
        cv2.filter2D(x, -1, self.kernel, dst=out, borderType=cv2.BORDER_REPLICATE)
        cv2.multiply(out, self.mask, dst=out)
        return out

    def smooth(self, x: np.ndarray, b: np.ndarray) -> None:
        """One damped-Jacobi sweep in place."""
        r = self.apply(x, self.tmp)
        cv2.subtract(b, r, dst=r)
        cv2.multiply(r, self.step, dst=r)
        cv2.add(x, r, dst=x)


def _matrix(omega: np.ndarray, deg: np.ndarray, scale: float = 1.0) -> tuple[sp.csc_matrix, np.ndarray]:
    """The sparse 5-point operator on omega's pixels, and the pixel -> unknown index map (-1 outside)."""
    h, w = omega.shape
    index = np.full((h, w), -1, dtype=np.int64)
    ys, xs = np.nonzero(omega)
    n = ys.size
    index[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [deg[ys, xs] * scale]
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        y2, x2 = ys + dy, xs + dx
        inside = (y2 >= 0) & (y2 < h) & (x2 >= 0) & (x2 < w)
        j = np.full(n, -1, dtype=np.int64)
        j[inside] = index[y2[inside], x2[inside]]
        ok = j >= 0
        rows.append(np.arange(n)[ok])
        cols.append(j[ok])
        vals.append(np.full(ok.sum(), -scale))
    matrix = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return matrix, index


def _build_hierarchy(omega: np.ndarray, deg: np.ndarray, open_edges, channels: int) -> _Level:
    top = _Level(omega, deg, 1.0, channels)
    level = top
    while level.omega.sum() > _COARSEST and min(level.omega.shape) >= 8:
        h, w = level.omega.shape
        hc, wc = (h + 1) // 2, (w + 1) // 2
        padded = np.zeros((hc * 2, wc * 2), dtype=bool)
        padded[:h, :w] = level.omega
        # a coarse cell belongs to the domain when at least half of its fine pixels do
        omega_c = padded.reshape(hc, 2, wc, 2).sum(axis=(1, 3)) >= 2
        if not omega_c.any():
            break
        level.coarse = _Level(omega_c, _degree((hc, wc), open_edges), level.scale * COARSE_SCALE, channels)
        level = level.coarse
    matrix, _ = _matrix(level.omega, level.deg, level.scale)
    level.lu = spl.splu(matrix) if matrix.shape[0] else None
    return top


_BILINEAR_T = (np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 16.0).astype(np.float32)


def _restrict(r: np.ndarray, shape_c: tuple[int, int]) -> np.ndarray:
    """The transpose of _prolong: each coarse cell gathers its 4x4 fine neighbourhood with bilinear weights."""
    h, w, c = r.shape
    hc, wc = shape_c
    if (h, w) != (hc * 2, wc * 2):
        r = cv2.copyMakeBorder(r, 0, hc * 2 - h, 0, wc * 2 - w, cv2.BORDER_CONSTANT, value=0)
    gathered = cv2.filter2D(r, -1, _BILINEAR_T, anchor=(1, 1), borderType=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(gathered.reshape(hc * 2, wc * 2, c)[::2, ::2])


def _prolong(e: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Cell-centred bilinear upsampling (hc x wc x C -> HWC)."""
    h, w = shape
    hc, wc, c = e.shape
    up = cv2.resize(e, (wc * 2, hc * 2), interpolation=cv2.INTER_LINEAR).reshape(hc * 2, wc * 2, c)
    return up[:h, :w]


def _vcycle(level: _Level, b: np.ndarray, sweeps: int = 2) -> np.ndarray:
    """One symmetric V-cycle for A x = b starting from x = 0 (b zero outside the domain)."""
    if level.coarse is None:
        x = np.zeros_like(b)
        if level.lu is not None:
            ys, xs = np.nonzero(level.omega)
            x[ys, xs] = level.lu.solve(np.ascontiguousarray(b[ys, xs], dtype=np.float64))
        return x
    x = b * level.step
    for _ in range(sweeps - 1):
        level.smooth(x, b)
    coarse = level.coarse
    r = level.apply(x, level.tmp)
    np.subtract(b, r, out=r)
    # restriction = transpose of the bilinear prolongation, so the cycle stays (nearly) symmetric
    rc = _restrict(r, coarse.omega.shape)
    rc *= coarse.mask
    ec = _vcycle(coarse, rc, sweeps)
    up = _prolong(ec, level.omega.shape)
    up *= level.mask
    x += up
    for _ in range(sweeps):
        level.smooth(x, b)
    return x


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-channel inner products of two HWC arrays, accumulated in float64."""
    c = a.shape[-1]
    return np.array(cv2.sumElems(cv2.multiply(a, b))[:c], dtype=np.float64)


def _scalar(values: np.ndarray) -> tuple[float, float, float, float]:
    """Per-channel factors as an OpenCV scalar (multiplies each channel of an HWC array by its own value)."""
    v = [float(x) for x in values] + [0.0] * (4 - len(values))
    return tuple(v)


def _pcg(level: _Level, b: np.ndarray, tol: float, max_iter: int, x0: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Multigrid-preconditioned conjugate gradients, all channels at once. Returns (x, iterations)."""
    b = np.ascontiguousarray(b, dtype=np.float32)
    ap = np.empty_like(b)
    tmp = np.empty_like(b)
    bnorm = np.sqrt(_dot(b, b))
    bnorm[bnorm == 0] = 1.0
    if x0 is None:
        x = np.zeros_like(b)
        r = b.copy()
    else:
        x = x0.astype(np.float32)
        r = b - level.apply(x, ap)
    z = _vcycle(level, r)
    p = z.copy()
    rz = _dot(r, z)
    for it in range(1, max_iter + 1):
        level.apply(p, ap)
        pap = _dot(p, ap)
        alpha = _scalar(np.where(pap > 0, rz / np.where(pap > 0, pap, 1), 0.0))
        cv2.add(x, cv2.multiply(p, alpha, dst=tmp), dst=x)
        cv2.subtract(r, cv2.multiply(ap, alpha, dst=tmp), dst=r)
        if (np.sqrt(_dot(r, r)) / bnorm).max() < tol:
            return x, it
        z = _vcycle(level, r)
        rz_new = _dot(r, z)
        beta = _scalar(np.where(rz > 0, rz_new / np.where(rz > 0, rz, 1), 0.0))
        cv2.add(cv2.multiply(p, beta, dst=p), z, dst=p)
        rz = rz_new
    return x, max_iter


def solve_laplace(
    omega: np.ndarray,
    boundary: np.ndarray,
    open_edges: tuple[bool, bool, bool, bool] = (True, True, True, True),
    tol: float = 5e-4,
    max_iter: int = 200,
) -> np.ndarray:
    """Harmonic interpolation of ``boundary`` into ``omega``.

    omega: HW bool, the unknown pixels. It must not touch an array edge that is not an image border.
    boundary: HWC float, the Dirichlet values; only its values on pixels outside omega that neighbour omega
        are read.
    open_edges: (top, bottom, left, right), True where the array edge is an image border (zero normal
        derivative there); False edges must have a ring of known pixels.
    Returns HWC float64: the solution on omega, ``boundary`` elsewhere.
    """
    omega = np.asarray(omega, dtype=bool)
    boundary = np.asarray(boundary, dtype=np.float64)
    squeeze = boundary.ndim == 2
    if squeeze:
        boundary = boundary[..., None]
    out = boundary.copy()
    n = int(omega.sum())
    if n == 0:
        return out[..., 0] if squeeze else out
    for edge, is_open in zip((omega[0], omega[-1], omega[:, 0], omega[:, -1]), open_edges):
        if not is_open and edge.any():
            raise UserError("the domain touches an array edge that is not an image border: add a ring of known pixels")
    deg = _degree(omega.shape, open_edges)
    known = boundary * (~omega)[..., None]
    rhs = _neighbour_sum(known) * omega[..., None]
    if not (rhs != 0).any() and not (_neighbour_sum((~omega).astype(np.float64)) * omega).any():
        # no Dirichlet pixel at all (the domain is the whole image): nothing to match, h = 0
        out[omega] = 0.0
        return out[..., 0] if squeeze else out
    if n <= DIRECT_MAX:
        matrix, index = _matrix(omega, deg)
        ys, xs = np.nonzero(omega)
        out[ys, xs] = spl.splu(matrix).solve(np.ascontiguousarray(rhs[ys, xs]))
    else:
        level = _build_hierarchy(omega, deg, open_edges, rhs.shape[2])
        x, _ = _pcg(level, rhs, tol, max_iter)
        out[omega] = x[omega]
    return out[..., 0] if squeeze else out
