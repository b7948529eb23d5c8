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

from .._validation import as_float, as_points
from ..errors import InputError
from ..processes import LinearProcess


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


def check_process(process):
    """Return ``process``, or raise :class:`InputError` unless it is an fpdiff forward process."""
    if not isinstance(process, LinearProcess):
        raise InputError(f"`process` must be an fpdiff process (OU, VP, VE, Brownian); got {type(process).__name__}")
    return process


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
        self.process = None if process is None else check_process(process)
        self.t_range = (float(t_range[0]), float(t_range[1]))

    def _score(self, x, t):
        values = np.asarray(self.fn(x, t), dtype=np.float64)
        if values.shape != x.shape:
            raise InputError(f"the score function returned shape {values.shape} for points of shape {x.shape}")
        return values


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
