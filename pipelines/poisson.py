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

Memory: the iterative solve runs one channel at a time on HW float32 vectors, in preallocated buffers
(about 50 bytes per pixel of the box, all levels together), and can write its solution into the caller's
array (``out=``). A solve that stops at the iteration cap before reaching the tolerance is logged as a
WARNING and reported through ``info``.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from .errors import UserError

log = logging.getLogger(__name__)

DIRECT_MAX = 4_000
"""Domains up to this many unknowns use the sparse direct solver."""

MAX_ITER = 200
"""Default cap on conjugate-gradient iterations (solve_laplace(max_iter=None))."""

_COARSEST = 3_000
COARSE_SCALE = 1.0


_CROSS = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32)
_LAPLACE = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=np.float32)


def _degree(shape: tuple[int, int], open_edges: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Number of existing neighbours per pixel (HW uint8). open_edges = (top, bottom, left, right): True
    where the array edge is an image border (no neighbour beyond it)."""
    h, w = shape
    deg = np.full((h, w), 4, np.uint8)
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
    """One grid of the multigrid hierarchy: the domain, its stencil, its work buffers (single channel, HW
    float32) and (on the coarsest) a factorisation.

    The operator is ``scale * (deg * x - neighbour_sum(x))`` on the domain. Domain pixels sit either inside
    the array or on an open (image-border) edge, so one 3x3 filter with replicated borders computes it: a
    replicated neighbour cancels its own term, which is the zero-normal-derivative condition.
    """

    def __init__(self, omega: np.ndarray, deg: np.ndarray, scale: float):
        self.omega = omega
        self.scale = scale
        self.shape = omega.shape
        self.mask = omega.astype(np.float32)
        self.kernel = _LAPLACE * np.float32(scale)
        # damped-Jacobi step: 0.8 / diagonal on the domain, 0 elsewhere (a table over the degrees 0..4)
        with np.errstate(divide="ignore"):
            table = np.where(np.arange(5) > 0, 0.8 / (scale * np.arange(5.0)), 0.0).astype(np.float32)
        self.step = table[deg]
        self.step *= self.mask
        self.tmp = np.empty(self.shape, np.float32)
        self.lu = None
        self.nodes = None
        self.coarse: _Level | None = None
        self.up = None  # the prolonged coarse correction (even-sized)
        self.x = None  # this level's V-cycle result (coarse levels)

    def apply(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out = A x for x of shape HW (zero outside the domain); out is zero outside the domain."""
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
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [deg[ys, xs] * float(scale)]
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


def _build_hierarchy(omega: np.ndarray, open_edges) -> _Level:
    top = _Level(omega, _degree(omega.shape, open_edges), 1.0)
    level = top
    while int(np.count_nonzero(level.omega)) > _COARSEST and min(level.omega.shape) >= 8:
        h, w = level.omega.shape
        hc, wc = (h + 1) // 2, (w + 1) // 2
        padded = np.zeros((hc * 2, wc * 2), dtype=np.uint8)
        padded[:h, :w] = level.omega
        # a coarse cell belongs to the domain when at least half of its fine pixels do
        omega_c = padded.reshape(hc, 2, wc, 2).sum(axis=(1, 3), dtype=np.uint8) >= 2
        del padded
        if not omega_c.any():
            break
        level.coarse = _Level(omega_c, _degree((hc, wc), open_edges), level.scale * COARSE_SCALE)
        level.up = np.empty((hc * 2, wc * 2), np.float32)
        level = level.coarse
        level.x = np.empty(level.shape, np.float32)
    matrix, _ = _matrix(level.omega, _degree(level.shape, open_edges), level.scale)
    if matrix.shape[0]:
        level.lu = spl.splu(matrix)
        level.nodes = np.nonzero(level.omega)
    return top


_BILINEAR_T = (np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 16.0).astype(np.float32)


def _restrict(r: np.ndarray, shape_c: tuple[int, int]) -> np.ndarray:
    """The transpose of _prolong: each coarse cell gathers its 4x4 fine neighbourhood with bilinear weights."""
    h, w = r.shape
    hc, wc = shape_c
    if (h, w) != (hc * 2, wc * 2):
        r = cv2.copyMakeBorder(r, 0, hc * 2 - h, 0, wc * 2 - w, cv2.BORDER_CONSTANT, value=0)
    gathered = cv2.filter2D(r, -1, _BILINEAR_T, anchor=(1, 1), borderType=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(gathered[::2, ::2])


def _vcycle(level: _Level, b: np.ndarray, x: np.ndarray, sweeps: int = 2) -> np.ndarray:
    """One symmetric V-cycle for A x = b starting from x = 0 (b, x: HW float32, b zero outside the
    domain); the result is written into x."""
    if level.coarse is None:
        x.fill(0.0)
        if level.lu is not None:
            ys, xs = level.nodes
            x[ys, xs] = level.lu.solve(b[ys, xs].astype(np.float64))
        return x
    cv2.multiply(b, level.step, dst=x)
    for _ in range(sweeps - 1):
        level.smooth(x, b)
    coarse = level.coarse
    r = level.apply(x, level.tmp)
    cv2.subtract(b, r, dst=r)
    # restriction = transpose of the bilinear prolongation, so the cycle stays (nearly) symmetric
    rc = _restrict(r, coarse.shape)
    rc *= coarse.mask
    ec = _vcycle(coarse, rc, coarse.x, sweeps)
    del rc
    # cell-centred bilinear upsampling of the coarse correction
    hc, wc = coarse.shape
    cv2.resize(ec, (wc * 2, hc * 2), dst=level.up, interpolation=cv2.INTER_LINEAR)
    h, w = level.shape
    up = level.up[:h, :w]
    np.multiply(up, level.mask, out=up)
    np.add(x, up, out=x)
    for _ in range(sweeps):
        level.smooth(x, b)
    return x


def _dot(a: np.ndarray, b: np.ndarray, tmp: np.ndarray) -> float:
    """Inner product of two HW float32 arrays, accumulated in float64 (tmp: a work buffer)."""
    cv2.multiply(a, b, dst=tmp)
    return float(cv2.sumElems(tmp)[0])


def _pcg(level: _Level, b: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int, float]:
    """Multigrid-preconditioned conjugate gradients on one channel. b: HW float32, zero outside the domain;
    it is used as the residual's buffer (overwritten). Returns (x, iterations, relative residual)."""
    r = b
    tmp = np.empty_like(r)
    bnorm = np.sqrt(_dot(r, r, tmp)) or 1.0
    x = np.zeros_like(r)
    z = _vcycle(level, r, np.empty_like(r))
    p = z.copy()
    ap = np.empty_like(r)
    rz = _dot(r, z, tmp)
    residual = 1.0
    for it in range(1, max_iter + 1):
        level.apply(p, ap)
        pap = _dot(p, ap, tmp)
        alpha = rz / pap if pap > 0 else 0.0
        cv2.scaleAdd(p, alpha, x, dst=x)
        cv2.scaleAdd(ap, -alpha, r, dst=r)
        residual = np.sqrt(_dot(r, r, tmp)) / bnorm
        if residual < tol:
            return x, it, residual
        _vcycle(level, r, z)
        rz_new = _dot(r, z, tmp)
        beta = rz_new / rz if rz > 0 else 0.0
        cv2.scaleAdd(p, beta, z, dst=p)
        rz = rz_new
    return x, max_iter, residual


def _rhs(known: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """float64 HW: the sum of the 4-neighbours' Dirichlet values (``known``: HW, zero on omega) on omega."""
    out = cv2.filter2D(known, -1, _CROSS, borderType=cv2.BORDER_CONSTANT).reshape(known.shape)
    out[~omega] = 0.0
    return out


def solve_laplace(
    omega: np.ndarray,
    boundary: np.ndarray,
    open_edges: tuple[bool, bool, bool, bool] = (True, True, True, True),
    tol: float = 5e-4,
    max_iter: int | None = None,
    *,
    out: np.ndarray | None = None,
    info: dict | None = None,
) -> np.ndarray:
    """Harmonic interpolation of ``boundary`` into ``omega``.

    omega: HW bool, the unknown pixels. It must not touch an array edge that is not an image border.
    boundary: HW or HWC float, the Dirichlet values; only its values on pixels outside omega that neighbour
        omega are read.
    open_edges: (top, bottom, left, right), True where the array edge is an image border (zero normal
        derivative there); False edges must have a ring of known pixels.
    tol, max_iter: the iterative solve stops when every channel's residual is below tol times its
        right-hand side, or after max_iter iterations (default MAX_ITER); stopping at the cap is logged as
        a WARNING.
    out: optional float32/float64 array of boundary's shape that receives the result (``boundary`` itself
        for an in-place solve: only omega's pixels are written); by default a new float64 array.
    info: optional dict filled with unknowns, iterations (the most any channel took), residual (the
        largest relative residual, 0 for a direct solve) and converged (bool).
    Returns ``out``: the solution on omega, ``boundary`` elsewhere (HW or HWC like ``boundary``).
    """
    omega = np.asarray(omega, dtype=bool)
    boundary = np.asarray(boundary)
    if not np.issubdtype(boundary.dtype, np.floating):
        boundary = boundary.astype(np.float64)
    max_iter = MAX_ITER if max_iter is None else int(max_iter)
    if out is None:
        out = boundary.astype(np.float64, copy=True)
    elif out is not boundary:
        if out.shape != boundary.shape:
            raise ValueError(f"out has shape {out.shape}, boundary {boundary.shape}")
        np.copyto(out, boundary)
    squeeze = boundary.ndim == 2
    bnd = boundary[..., None] if squeeze else boundary
    res = out[..., None] if squeeze else out
    channels = bnd.shape[2]
    n = int(np.count_nonzero(omega))
    report = {"unknowns": n, "iterations": 0, "residual": 0.0, "converged": True}
    if info is not None:
        info.update(report)
    if n == 0:
        return out
    for edge, is_open in zip((omega[0], omega[-1], omega[:, 0], omega[:, -1]), open_edges):
        if not is_open and edge.any():
            raise UserError("the domain touches an array edge that is not an image border: add a ring of known pixels")
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    touching = cv2.dilate((~omega).view(np.uint8), cross, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    if not touching.view(bool)[omega].any():
        # no Dirichlet pixel at all (the domain is the whole image): nothing to match, h = 0
        for c in range(channels):
            res[..., c][omega] = 0.0
        return out
    del touching

    def known(c: int) -> np.ndarray:
        """Channel c of the boundary with omega zeroed (HW float64: the neighbour sums are exact)."""
        k = bnd[..., c].astype(np.float64)
        k[omega] = 0.0
        return k

    if n <= DIRECT_MAX:
        matrix, _ = _matrix(omega, _degree(omega.shape, open_edges))
        ys, xs = np.nonzero(omega)
        rhs = np.stack([_rhs(known(c), omega)[ys, xs] for c in range(channels)], axis=1)
        solution = spl.splu(matrix).solve(np.ascontiguousarray(rhs))
        for c in range(channels):
            res[..., c][ys, xs] = solution[:, c]
        return out

    level = _build_hierarchy(omega, open_edges)
    iterations, residual = 0, 0.0
    for c in range(channels):
        b = _rhs(known(c), omega).astype(np.float32)
        x, it, r = _pcg(level, b, tol, max_iter)
        del b
        np.copyto(res[..., c], x, where=omega, casting="unsafe")
        del x
        iterations, residual = max(iterations, it), max(residual, r)
    converged = residual < tol
    if not converged:
        log.warning(
            "gradient-domain solve stopped at relative residual %.2g after %d iterations (tolerance %.2g, "
            "%d unknowns)", residual, iterations, tol, n,
        )
    if info is not None:
        info.update(iterations=iterations, residual=float(residual), converged=bool(converged))
    return out
