r"""Score providers with one call signature.

Every score is an object with

* ``score(x, t) -> (M, d)``: :math:`s(x, t) = \nabla_x \log p(x, t)` for ``x`` of shape ``(M, d)``;
* ``xhat0(x, t) -> (M, d)``: the denoiser, related to the score by Tweedie's formula
  :math:`s = (\alpha_t \hat x_0 - x)/v_t` (needs the forward process);
* ``dim``, ``process`` and ``t_range`` (the closed interval of times it is valid for;
  a time outside raises :class:`InputError`);
* its domain: ``box`` (None where it is defined everywhere) and ``outside``
  (what it does beyond the box), with :meth:`Score.check_domain`;
* :meth:`Score.compiled`: how the compiled (numba) paths evaluate it, or
  None for the Python path.

The reverse solvers call :meth:`Score.face_values` to get the score's normal
component on the faces of a grid; the default evaluates it pointwise on the
face centres, and :class:`GridScore` on its own grid returns its face
differences directly. The particle solvers ask :meth:`Score.compiled`; nothing
switches on a score's concrete type, so a subclass keeps its parent's paths.
A reference score gives the audit its law :math:`p_t`: ``dist0`` (a law whose
evolution is known in closed form) or ``grid`` (density snapshots).
"""

from typing import NamedTuple

import numpy as np

from .._validation import as_float, as_points
from ..errors import InputError
from ..processes.base import check_process
from ._kernels import MIXTURE


class CompiledScore(NamedTuple):
    r"""How the compiled paths evaluate a score: a kind code and its parameter arrays (:meth:`Score.compiled`).

    ``kind`` is one of the codes of :mod:`fpdiff.scores._kernels`, and the
    fields it uses are

    - ``MIXTURE``: ``log_weights`` (K,), ``means`` (K, d) and ``covariances``
      (K, d, d) of :math:`p_0 = \sum_k w_k N(\mu_k, C_k)`, noised in closed
      form by the score's process;
    - ``EMPIRICAL``: ``points`` (n, d), the training points of the kernel score;
    - ``TABULATED``: ``table``, the score itself, whose ``kernel_data(t)``
      gives ``(axes, table, layout)`` at time ``t`` (:class:`TabulatedScore`).
    """

    kind: int
    log_weights: np.ndarray = None
    means: np.ndarray = None
    covariances: np.ndarray = None
    points: np.ndarray = None
    table: object = None

    def tables(self, process, times):
        r"""The score's data at every time of ``times`` (``MIXTURE`` and ``EMPIRICAL``), stacked by time.

        Returns ``(log_coefficients, centres, precisions, alpha, variance,
        centre_rows)``, row ``i`` at ``times[i]``; the centres of time ``i``
        are row ``centre_rows[i]`` of ``centres`` (training points do not
        move: one row for all times). For a mixture at time ``t``: covariances
        :math:`\alpha_t^2 C_k + v_t I`, their inverses (symmetrised),
        ``log w_k - log det(2 pi C_k(t)) / 2`` and centres :math:`\alpha_t \mu_k`.
        Training points need :math:`v_t > 0`.
        """
        times = np.asarray(times, dtype=np.float64)
        alpha = np.array(np.broadcast_to(process.alpha(times), times.shape), dtype=np.float64)
        variance = np.array(np.broadcast_to(process.variance(times), times.shape), dtype=np.float64)
        count = len(times)
        if self.kind == MIXTURE:
            dim = self.means.shape[1]
            covariances = ((alpha * alpha)[:, None, None, None] * self.covariances
                           + variance[:, None, None, None] * np.eye(dim))
            precisions = np.linalg.inv(covariances)
            precisions = 0.5 * (precisions + np.swapaxes(precisions, -1, -2))
            log_det = np.linalg.slogdet(2 * np.pi * covariances)[1]
            return (np.ascontiguousarray(self.log_weights - 0.5 * log_det),
                    np.ascontiguousarray(alpha[:, None, None] * self.means), np.ascontiguousarray(precisions),
                    alpha, variance, np.arange(count))
        if not np.all(variance > 0):
            t = float(times[np.argmin(variance > 0)])
            raise InputError(f"the empirical score needs v_t > 0; got v = {process.variance(t)!r} at t = {t}")
        # a writeable C-ordered copy: the kernels are compiled (and cached) for exactly that array type
        return (np.zeros((count, 0)), np.array(self.points, dtype=np.float64, order="C")[None],
                np.zeros((count, 0, 1, 1)), alpha, variance, np.zeros(count, dtype=np.int64))


class Score:
    """Base class of score providers (see the module docstring for the contract).

    A subclass defines the field by ``_score(x, t)`` (points already checked).
    The attributes below describe the score to the solvers and the audit;
    the defaults fit a score known only by its values.

    Attributes
    ----------
    dim, process, t_range
        Dimension, forward process (or None), closed time interval of validity.
    box : list of (float, float) or None
        The box per axis outside which the score is not given (None: defined everywhere).
    outside : {"raise", "clamp"} or None
        What the score does beyond ``box``: raise (or NaN in the kernels), or
        take the value at the nearest point of the box.
    dist0 : GaussianMixture or Empirical or None
        The law :math:`p_0` whose closed-form evolution :math:`p_t` this is the exact score of.
    grid : Grid or None
        The grid of density snapshots this is the score of (:class:`GridScore`,
        with ``log_values`` and :meth:`~GridScore.bracket`).
    tables : ndarray or None
        The score at the nodes of the tensor grid of ``axes`` at the times ``t``
        (:class:`TabulatedScore`), shape ``(n_t, n_0, ..., n_{d-1}, d)``.
    """

    dim = None
    process = None
    t_range = (0.0, np.inf)
    box = None
    outside = None
    dist0 = None
    grid = None
    tables = None

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

    def compiled(self):
        """How the compiled paths evaluate this score: a ``CompiledScore``, or None for the Python path.

        The base returns None: the particle solvers then call :meth:`score`
        from Python once per stage (the slow path). :class:`ExactScore`,
        :class:`EmpiricalScore` and :class:`TabulatedScore` return their kind
        and arrays, and so do their subclasses. A subclass that changes the
        field (overrides ``_score`` or ``score``) must return None from here,
        or the kernels would evaluate its parent's field; the scores here
        return None by themselves when they see ``score``, ``_score`` or a
        method their field is computed by overridden (``_keeps_field``).
        """
        return None

    def describe(self):
        """A one-line description of the score (the audit's report)."""
        return type(self).__name__

    def check_domain(self, x, what):
        """Raise :class:`InputError` if points ``x`` (``(M, d)``) lie where the score is not defined.

        Every score here is defined everywhere but those tabulated on a box;
        the solvers call this on their start points, so that a start outside
        the box is reported as such, not as a blow-up at the first step.
        ``what`` names the points in the message.
        """

    def check_time(self, t):
        """Return ``t`` as a float, or raise if it is outside ``t_range``."""
        t = as_float(t, "t")
        lo, hi = self.t_range
        if not lo <= t <= hi:
            raise InputError(f"`t` = {t:.6g} is outside the range [{lo:.6g}, {hi:.6g}] of {type(self).__name__}")
        return t

    def _keeps_field(self, owner, *names):
        """Whether this score's class evaluates the field as ``owner`` does.

        True when ``score``, ``_score`` and the methods ``names`` that
        ``owner``'s field is computed by are ``owner``'s own (not overridden).
        """
        return all(getattr(type(self), name) is getattr(owner, name) for name in ("score", "_score", *names))

    def _need_process(self):
        if self.process is None:
            raise InputError(f"{type(self).__name__} has no forward process: pass `process=` to use xhat0")

    def _score(self, x, t):
        raise NotImplementedError


class CallableScore(Score):
    """A user's score function ``fn(x, t) -> (M, d)`` (numpy-vectorised or numba).

    The slow path: the solvers call it from Python once per stage time.

    Parameters
    ----------
    fn : callable
        ``fn(x, t)``: points ``x`` of shape (M, d) and a float ``t`` to the
        score, shape (M, d).
    dim : int
        The dimension ``d``.
    process : LinearProcess, optional
        The forward process the score belongs to: needed only for
        :meth:`xhat0`, and checked against a solver's process when given.
    t_range : (float, float)
        The times where ``fn`` may be called.
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


def refuse_space_only(score, name="score"):
    """Raise :class:`InputError` if ``score`` is a space-only field (``space_only``: :class:`~fpdiff.HomogeneousScore`).

    The random time reversal's field :math:`s(x)` has no time and belongs
    to no :math:`p_t`; a solver of the time-indexed reverse equation would
    run with it and give a wrong answer.
    """
    if getattr(score, "space_only", False):
        raise InputError(f"`{name}` is a space-only score ({type(score).__name__}, the random time reversal's field "
                         "s(x)): run it with fd.sample_homogeneous; the reverse solvers and the audit need the score "
                         "s(x, t) of the marginals p_t (e.g. fd.EmpiricalScore of the same points)")


def as_score(score, dim, process, name="score"):
    """A :class:`Score` from a score object or a callable ``fn(x, t)`` (wrapped as :class:`CallableScore`).

    Raises :class:`InputError` unless its dimension is ``dim``, and unless a
    score that knows its forward process was made for ``process``: the score
    of another process is a different field (a VE score in an OU solve gives
    a finite, wrong answer). A score without a process (a plain callable) is
    taken as given.

    Parameters
    ----------
    score : Score or callable
        A score object, or ``fn(x, t) -> (M, d)``.
    dim : int
        The problem's dimension.
    process : LinearProcess or None
        The solver's forward process (None: not checked).
    name : str
        The argument's name in error messages.

    Returns
    -------
    Score
        ``score`` itself, or a :class:`CallableScore` wrapping the callable.
    """
    refuse_space_only(score, name)
    if not isinstance(score, Score):
        if not callable(score):
            raise InputError(f"`{name}` must be an fpdiff score or a callable fn(x, t); got {type(score).__name__}")
        score = CallableScore(score, dim, process)
    if score.dim is not None and score.dim != dim:  # a score without a dim (ModelScore(dim=None)) takes any
        raise InputError(f"`{name}` has dimension {score.dim} but the problem has {dim}")
    if score.process is not None and process is not None and score.process != process:
        raise InputError(f"`{name}` was made for the process {score.process!r}, but the solver's `process` is "
                         f"{process!r}: pass the process the score belongs to (a score file records it; "
                         "`fpdiff info FILE` shows it)")
    return score
