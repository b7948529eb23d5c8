r"""Score providers with one call signature.

Every score is an object with

* ``score(x, t) -> (M, d)``: :math:`s(x, t) = \nabla_x \log p(x, t)` for ``x`` of shape ``(M, d)``;
* ``xhat0(x, t) -> (M, d)``: the denoiser, related to the score by Tweedie's formula
  :math:`s = (\alpha_t \hat x_0 - x)/v_t` (needs the forward process);
* ``dim``, ``process`` and ``t_range`` (the closed interval of times it is valid for;
  a time outside raises :class:`InputError`).

The reverse solvers call :meth:`Score.face_values` to get the score's normal
component on the faces of a grid; the default evaluates it pointwise on the
face centres, and :class:`GridScore` on its own grid returns its face
differences directly.
"""

import numpy as np

from . import _score_kernels
from ._validation import as_finite_array, as_float, as_points
from .distributions import Empirical, GaussianMixture
from .errors import DomainError, InputError
from .processes import LinearProcess, process_from_dict


class Score:
    """Base class of score providers (see the module docstring for the contract)."""

    dim = None
    process = None
    t_range = (0.0, np.inf)

    def __call__(self, x, t):
        return self.score(x, t)

    def score(self, x, t):
        """:math:`\\nabla_x \\log p(x, t)` at points ``x`` of shape ``(M, d)``."""
        return self._score(as_points(x, self.dim), self.check_time(t))

    def xhat0(self, x, t):
        """Denoiser :math:`\\hat x_0 = (x + v_t s)/\\alpha_t` (Tweedie's formula)."""
        x = as_points(x, self.dim)
        t = self.check_time(t)
        self._need_process()
        return (x + self.process.variance(t) * self._score(x, t)) / self.process.alpha(t)

    def face_values(self, grid, t, axis):
        """Normal score component on the faces of ``grid`` normal to ``axis`` (boundary faces included)."""
        t = self.check_time(t)
        points = grid.face_points(axis)
        values = self._score(points.reshape(-1, grid.ndim), t)[:, axis]
        return values.reshape(points.shape[:-1])

    def check_domain(self, x, what):
        """Raise :class:`InputError` if points ``x`` (``(M, d)``) lie where the score is not defined.

        Every score here is defined everywhere but those tabulated on a box;
        the solvers call this on their start points, so that a start outside
        the box is reported as such, not as a blow-up at the first step.
        ``what`` names the points in the message.
        """

    def check_time(self, t):
        """Return ``t`` as a float, or raise if it is outside :attr:`t_range`."""
        t = as_float(t, "t")
        lo, hi = self.t_range
        if not lo <= t <= hi:
            raise InputError(f"`t` = {t:.6g} is outside the range [{lo:.6g}, {hi:.6g}] of {type(self).__name__}")
        return t

    def _need_process(self):
        if self.process is None:
            raise InputError(f"{type(self).__name__} has no forward process: pass `process=` to use xhat0")

    def _score(self, x, t):
        raise NotImplementedError


def _check_process(process):
    if not isinstance(process, LinearProcess):
        raise InputError(f"`process` must be an fpdiff process (OU, VP, VE, Brownian); got {type(process).__name__}")
    return process


class ExactScore(Score):
    r"""The exact score of a Gaussian mixture :math:`p_0` noised by ``process``.

    :math:`p_t` is the mixture evolved in closed form
    (:meth:`GaussianMixture.evolve`); its score is computed stably (online
    log-sum-exp) by a numba kernel, parallel over points.
    An :class:`Empirical` ``dist0`` gives the :class:`EmpiricalScore`.
    """

    def __init__(self, process, dist0):
        self.process = _check_process(process)
        if isinstance(dist0, Empirical):
            self._empirical = EmpiricalScore(process, dist0.points)
        elif isinstance(dist0, GaussianMixture):
            self._empirical = None
        else:
            raise InputError(f"`dist0` must be a GaussianMixture or Empirical; got {type(dist0).__name__}")
        self.dist0 = dist0
        self.dim = dist0.dim
        self.t_range = (0.0 if self._empirical is None else np.finfo(float).tiny, np.inf)
        self._evolved = (None, None)

    def distribution(self, t):
        """The exact law :math:`p_t` (cached for the last ``t``)."""
        if self._evolved[0] != t:
            self._evolved = (t, self.dist0.evolve(self.process, t))
        return self._evolved[1]

    def _score(self, x, t):
        if self._empirical is not None:
            return self._empirical._score(x, t)
        return _score_kernels.gaussian_mixture_score(x, self.distribution(t))


class EmpiricalScore(Score):
    r"""The kernel score of ``n`` training points: the exact minimiser of denoising score matching on them.

    .. math::  \hat x_0(x,t) = \sum_i \lambda_i x_i, \quad
               \lambda = \operatorname{softmax}_i\!\left(-\frac{|x-\alpha_t x_i|^2}{2 v_t}\right), \quad
               s = \frac{\alpha_t \hat x_0 - x}{v_t}.

    It is the score of :math:`p_t` for :math:`p_0 = \frac1n\sum_i \delta_{x_i}`; exact reverse
    diffusion with it reproduces the training points (memorisation). Numba,
    parallel over evaluation points, O(M n d), stable for tiny :math:`v_t`.
    Valid for ``t > 0``.
    """

    def __init__(self, process, points):
        self.process = _check_process(process)
        points = as_finite_array(points, "points")
        if points.ndim == 1:
            points = points[:, None]
        if points.ndim != 2 or len(points) == 0:
            raise InputError(f"`points` must have shape (n, d) with n >= 1; got {np.shape(points)}")
        self.points = np.ascontiguousarray(points)
        self.dim = points.shape[1]
        self.t_range = (np.finfo(float).tiny, np.inf)

    def distribution(self, t):
        """The law :math:`p_t` whose score this is: the training points noised to ``t > 0`` (a GaussianMixture)."""
        return Empirical(self.points).evolve(self.process, self.check_time(t))

    def _xhat0(self, x, t):
        return _score_kernels.denoise(np.ascontiguousarray(x), self.points, self.process.alpha(t),
                                      self.process.variance(t))

    def xhat0(self, x, t):
        return self._xhat0(as_points(x, self.dim), self.check_time(t))

    def _score(self, x, t):
        alpha, variance = self.process.alpha(t), self.process.variance(t)
        return (alpha * self._xhat0(x, t) - x) / variance


class CallableScore(Score):
    """A user's score function ``fn(x, t) -> (M, d)`` (numpy-vectorised or numba).

    The slow path: the solvers call it from Python once per stage time.
    ``process`` is needed only for :meth:`xhat0`.
    """

    def __init__(self, fn, dim, process=None, t_range=(0.0, np.inf)):
        if not callable(fn):
            raise InputError(f"`fn` must be callable fn(x, t); got {type(fn).__name__}")
        self.fn = fn
        self.dim = int(dim)
        self.process = None if process is None else _check_process(process)
        self.t_range = (float(t_range[0]), float(t_range[1]))

    def _score(self, x, t):
        values = np.asarray(self.fn(x, t), dtype=np.float64)
        if values.shape != x.shape:
            raise InputError(f"the score function returned shape {values.shape} for points of shape {x.shape}")
        return values


class GridScore(Score):
    r"""Score :math:`\nabla \log p` of a forward :class:`DensitySolution`, linear in ``t`` between snapshots.

    On the solution's own grid the normal component on a face is the
    difference quotient :math:`(\log p_{n} - \log p_{n-1})/h` — with
    Scharfetter–Gummel fluxes and ``gamma = 1`` this makes the reverse drift
    the discrete counterpart of the forward one. Elsewhere the cell-centred
    gradient is interpolated multilinearly. Densities are floored at
    ``floor`` (default 1e-300) before taking logs.
    """

    def __init__(self, density_solution, process=None, floor=1e-300):
        solution = density_solution
        order = np.argsort(solution.t)
        self.times = solution.t[order]
        if len(self.times) < 2 or np.any(np.diff(self.times) <= 0):
            raise InputError("`density_solution` must hold at least two snapshots at distinct times")
        self.grid = solution.grid
        self.dim = self.grid.ndim
        self.log_values = np.log(np.maximum(solution.values[order], floor))
        self.t_range = (float(self.times[0]), float(self.times[-1]))
        if process is None and "process" in solution.diagnostics:
            process = process_from_dict(solution.diagnostics["process"])
        self.process = None if process is None else _check_process(process)
        self._faces = {}
        self._centred = None

    def _bracket(self, t):
        right = int(np.clip(np.searchsorted(self.times, t), 1, len(self.times) - 1))
        weight = (t - self.times[right - 1]) / (self.times[right] - self.times[right - 1])
        return right - 1, right, weight

    def _outside(self, x):
        """Mask of the points outside the box of cell centres, and that box as ``(lo, hi)``."""
        lo = np.array([c[0] for c in self.grid.centers])
        hi = np.array([c[-1] for c in self.grid.centers])
        return np.any((x < lo) | (x > hi), axis=1), (lo, hi)

    def check_domain(self, x, what):
        outside, (lo, hi) = self._outside(x)
        if np.any(outside):
            raise DomainError(
                f"{int(outside.sum())} of {what} lie outside the GridScore's box of cell centres "
                f"{list(zip(lo.tolist(), hi.tolist()))}, e.g. {x[np.argmax(outside)].tolist()}"
            )

    def _snapshot_faces(self, index, axis):
        key = (index, axis)
        if key not in self._faces:
            log_p = self.log_values[index]
            gradient = np.diff(log_p, axis=axis) / self.grid.spacing[axis]
            pad = [(0, 0)] * self.grid.ndim
            pad[axis] = (1, 1)  # boundary faces: no flux crosses them, the value is unused
            self._faces[key] = np.pad(gradient, pad)
        return self._faces[key]

    def face_values(self, grid, t, axis):
        if grid != self.grid:
            return super().face_values(grid, t, axis)
        t = self.check_time(t)
        left, right, weight = self._bracket(t)
        return (1 - weight) * self._snapshot_faces(left, axis) + weight * self._snapshot_faces(right, axis)

    def _score(self, x, t):
        from scipy.interpolate import RegularGridInterpolator

        if self._centred is None:
            self._centred = np.stack(
                [np.stack(np.gradient(v, *self.grid.spacing), axis=-1) if self.dim > 1
                 else np.gradient(v, self.grid.spacing[0])[:, None] for v in self.log_values]
            )
        self.check_domain(x, "the point(s)")
        left, right, weight = self._bracket(t)
        values = [RegularGridInterpolator(self.grid.centers, self._centred[i])(x) for i in (left, right)]
        return (1 - weight) * values[0] + weight * values[1]


def as_score(score, dim, process, name="score"):
    """A :class:`Score` from a score object or a callable ``fn(x, t)`` (wrapped as :class:`CallableScore`).

    Raises :class:`InputError` unless its dimension is ``dim``, and unless a
    score that knows its forward process was made for ``process``: the score
    of another process is a different field (a VE score in an OU solve gives
    a finite, wrong answer). A score without a process (a plain callable) is
    taken as given.
    """
    if not isinstance(score, Score):
        if not callable(score):
            raise InputError(f"`{name}` must be an fpdiff score or a callable fn(x, t); got {type(score).__name__}")
        score = CallableScore(score, dim, process)
    if score.dim != dim:
        raise InputError(f"`{name}` has dimension {score.dim} but the problem has {dim}")
    if score.process is not None and process is not None and score.process != process:
        raise InputError(f"`{name}` was made for the process {score.process!r}, but the solver's `process` is "
                         f"{process!r}: pass the process the score belongs to (a score file records it; "
                         "`fpdiff info FILE` shows it)")
    return score
