r"""Audit a learned score against a reference: errors, the Girsanov bound, realised errors, consistency.

:func:`audit` measures a learned score :math:`\hat s` (typically a
:class:`~fpdiff.TabulatedScore` exported from a network) against a reference
score :math:`s = \nabla \log p_t` whose law :math:`p_t` is known
(:class:`~fpdiff.ExactScore`, :class:`~fpdiff.EmpiricalScore` or
:class:`~fpdiff.GridScore`), for a forward process
:math:`dX = -\beta(t) X\,dt + \sigma(t)\,dW`:

1. **Score error** :math:`e(t) = E_{p_t}|\hat s - s|^2` at a list of times, and
   relative to :math:`E_{p_t}|s|^2`.
2. **Girsanov bound** (:math:`\gamma = 1` only; Chen et al., "Sampling is as
   easy as learning the score", ICLR 2023, §5 and eq. (5); Song et al.,
   "Maximum likelihood training of score-based diffusion models", NeurIPS
   2021, Thm. 1): the output law :math:`q` of the reverse SDE with
   :math:`\hat s`, started from the prior :math:`\pi`, satisfies

   .. math::  \mathrm{KL}(p_{t_{min}} \,\|\, q) \le \mathrm{KL}(p_T \,\|\, \pi)
              + \frac12 \int_{t_{min}}^T \sigma(t)^2\, E_{p_t}|\hat s - s|^2 \, dt ,

   (data processing applied to the path measures, whose KL is Girsanov's
   :math:`E\int |a - \hat a|^2 / (2\sigma^2)` with drift difference
   :math:`a - \hat a = \sigma^2 (s - \hat s)`). It is compared with the
   realised :math:`\mathrm{KL}(p_{t_{min}} \| q)` of
   :func:`~fpdiff.solve_reverse`. The reference score's own numbers split
   what is not the learned score's fault in two: the **prior mismatch**, the
   KL of the exact reverse process started from :math:`\pi` instead of
   :math:`p_T` (:func:`fpdiff.theory.reverse_output_pdf`, :math:`\gamma = 1`
   and mixture laws), which the same solve with the reference score from the
   prior reproduces up to discretisation; and the **discretisation floor**,
   the same solve with the reference score started from the exact
   :math:`p_T`, whose exact answer is :math:`p_{t_{min}}` for every
   :math:`\gamma`.
3. **Realised errors** at :math:`t_{min}`: the density view
   (:func:`~fpdiff.solve_reverse`; L1, KL, W1 against the reference's cell
   averages) and the particle view (:func:`~fpdiff.sample_reverse`; W1 in one
   dimension, sliced W1 in more, against exact samples of :math:`p_{t_{min}}`),
   each also with the reference score, from the prior and from exact samples
   (or cell averages) of :math:`p_T`.
4. **Memorisation**: distances of generated samples to the nearest training
   point, against those of held-out points, and the fraction of samples with
   :math:`d_1/d_2 < 1/3` (nearest over second-nearest training point;
   Yoon et al., "Diffusion probabilistic models generalize when they fail to
   memorize", ICML 2023 workshop; Gu et al., "On memorization in diffusion
   models", 2023, eq. (1)).
5. **Score Fokker–Planck residual** (tabulated scores). If :math:`p_t` solves
   :math:`\partial_t p = -\nabla\cdot(f p) + \frac{g^2}{2}\Delta p`, its score
   solves

   .. math::  \partial_t s = \nabla\Big(-\nabla\cdot f - f\cdot s
              + \frac{g^2}{2}\big(\nabla\cdot s + |s|^2\big)\Big)

   (take :math:`\nabla` of the equation for :math:`\log p`). Here
   :math:`f = -\beta x`, :math:`g = \sigma`, so
   :math:`R = \partial_t s - \nabla\big(\beta\, x\cdot s + \frac{\sigma^2}{2}(\nabla\cdot s + |s|^2)\big)`
   (the constant :math:`d\beta` has no gradient) vanishes for a true score.
6. **Curl** (tabulated scores, :math:`d \ge 2`): a true score is a gradient,
   so :math:`\partial_i s_j - \partial_j s_i = 0`.

   Both are discretised on the table, so even a true score leaves a residual:
   each is also computed for the reference score tabulated on the same nodes
   and times (its **floor**), against which the learned field's numbers are
   read.

A check that was asked for (or applies) but could not run or failed is
recorded in :attr:`AuditResult.failed` with the reason, and shown as failed
by the summary and the figure.

The law :math:`p_t` of the reference is used exactly where it is known in
closed form (Gaussian mixtures, and the mixture :math:`\frac1n \sum_i
N(\alpha_t x_i, v_t I)` of training points), and by quadrature on its own
grid for a :class:`~fpdiff.GridScore`.
"""

import dataclasses
import time
import warnings

import numpy as np

from . import metrics
from ._validation import as_finite_array, as_float, as_int
from .distributions import Empirical
from .errors import BlowUpError, DomainError, InputError, MassWarning
from .fv import solve_reverse
from .grid import Grid
from .particles import sample_reverse
from .processes import LinearProcess
from .scores import EmpiricalScore, ExactScore, GridScore, Score, as_score
from .tabulated import TabulatedScore, tabulate_score
from .theory import reverse_output_pdf

__all__ = ["audit", "AuditResult", "GirsanovCheck", "RealisedErrors", "Memorisation", "FieldCheck",
           "score_fp_residual", "score_curl", "memorisation_check"]

#: cells of the realised q at or below this fraction of max(q) are raised to it before the KL (round-off negatives)
KL_FLOOR = 1e-12

#: the d1/d2 threshold below which a generated sample counts as a copy of a training point
MEMORISATION_RATIO = 1.0 / 3.0

#: lower end of the default t_min (the solvers' default)
DEFAULT_T_MIN = 1e-3

#: rows of the per-time tables shown by :meth:`AuditResult.summary`
SUMMARY_ROWS = 12


# ------------------------------------------------------------------ the law p_t of the reference


class _ReferenceLaw:
    r"""The law :math:`p_t` behind a reference score.

    ``kind`` is ``"mixture"`` (an exact Gaussian mixture at every t: an
    :class:`ExactScore`, or the training-point mixture of an
    :class:`EmpiricalScore`) or ``"grid"`` (the snapshots of a
    :class:`GridScore`, linear in t between them).
    """

    def __init__(self, reference, process):
        self.reference = reference
        self.process = process
        if isinstance(reference, GridScore):
            self.kind = "grid"
            self.grid = reference.grid
            self._densities = np.exp(reference.log_values)
        else:
            self.kind = "mixture"
            if isinstance(reference, EmpiricalScore):
                self.dist0 = Empirical(reference.points)
            else:
                self.dist0 = reference.dist0
        self._cache = {}

    def distribution(self, t):
        """The exact :class:`GaussianMixture` :math:`p_t` (mixture kind only)."""
        key = ("distribution", t)
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = self.dist0.evolve(self.process, t)
        return self._cache[key]

    def density(self, t):
        """Cell values of :math:`p_t` on the GridScore's grid, linear in t between snapshots (grid kind only)."""
        left, right, weight = self.reference._bracket(t)
        return (1 - weight) * self._densities[left] + weight * self._densities[right]

    def expectation_points(self, t, n, seed):
        """``(points, weights)`` with :math:`E_{p_t} h \\approx \\sum_j w_j h(x_j)`, weights summing to 1.

        Mixture: ``n`` exact samples (weights ``1/n``), the same random
        numbers at every ``t``. Grid: the cell centres weighted by the cell
        masses (midpoint quadrature).
        """
        if self.kind == "mixture":
            points = self.distribution(t).sample(n, seed)
            return points, np.full(n, 1.0 / n)
        mass = self.density(t).ravel() * self.grid.cell_volume
        keep = mass > 0
        return self.grid.points()[keep], mass[keep] / np.sum(mass[keep])

    def sample(self, t, n, seed):
        """``n`` samples of :math:`p_t` (grid kind: from the piecewise-constant density of its cells)."""
        if self.kind == "mixture":
            return self.distribution(t).sample(n, seed)
        rng = np.random.default_rng(seed)
        mass = self.density(t).ravel()
        cells = rng.choice(mass.size, size=n, p=mass / np.sum(mass))
        centres = self.grid.points()[cells]
        return centres + (rng.uniform(size=centres.shape) - 0.5) * np.asarray(self.grid.spacing)

    def pdf(self, x, t):
        """:math:`p_t(x)` at points ``x`` (M, d); grid kind: multilinear in the cell values, 0 outside."""
        if self.kind == "mixture":
            return self.distribution(t).pdf(x)
        from scipy.interpolate import RegularGridInterpolator

        interpolate = RegularGridInterpolator(self.grid.centers, self.density(t), bounds_error=False, fill_value=0.0)
        return interpolate(x)

    def cell_average(self, grid, t):
        """Cell averages of :math:`p_t` on ``grid`` (exact for mixtures; own cells, else 4-point quadrature)."""
        if self.kind == "mixture":
            return self.distribution(t).cell_average(grid)
        if grid == self.grid:
            return self.density(t)
        return grid.quadrature_average(lambda x: self.pdf(x, t))

    def prior_kl(self, T, grid, n, seed):
        r""":math:`\mathrm{KL}(p_T \| \pi)` and how it was computed.

        On ``grid`` (or the GridScore's own grid) by :func:`metrics.kl` of cell
        averages; with no grid, by Monte Carlo,
        :math:`\frac1n \sum_j \log p_T(X_j) - \log \pi(X_j)`, :math:`X_j \sim p_T`.
        Returns ``(value, standard_error or None, method)``.
        """
        prior = self.process.prior(T, self.reference.dim)
        grid = grid if grid is not None else (self.grid if self.kind == "grid" else None)
        if grid is not None:
            value = metrics.kl(self.cell_average(grid, T), prior.cell_average(grid), grid)
            return value, None, f"cell averages on the {'x'.join(map(str, grid.shape))}-cell grid"
        points = self.distribution(T).sample(n, seed)
        log_ratio = self.distribution(T).logpdf(points) - prior.logpdf(points)
        return float(np.mean(log_ratio)), float(np.std(log_ratio) / np.sqrt(n)), f"Monte Carlo, {n} samples of p_T"


def _inside_box(score, x):
    """Mask of the points ``x`` inside the learned score's table box (or GridScore grid); all True for other scores."""
    if isinstance(score, TabulatedScore):
        lo = np.array([a for a, _ in score.box])
        hi = np.array([b for _, b in score.box])
    elif isinstance(score, GridScore):
        lo = np.array([c[0] for c in score.grid.centers])
        hi = np.array([c[-1] for c in score.grid.centers])
    else:
        return np.ones(len(x), dtype=bool)
    return np.all((x >= lo) & (x <= hi), axis=1)


# ------------------------------------------------------------------ result objects


@dataclasses.dataclass
class GirsanovCheck:
    r"""The Girsanov bound against the realised KL on the grid.

    Attributes
    ----------
    prior_kl : float
        :math:`\mathrm{KL}(p_T \| \pi)`, ``prior_kl_method`` says how.
    prior_kl_stderr : float or None
        Its Monte-Carlo standard error (None on a grid).
    integral : float
        :math:`\frac12 \int_{t_{min}}^T \sigma^2 E_{p_t}|\hat s - s|^2 dt` by the
        trapezoidal rule over the audit times (``quadrature``).
    integral_stderr : float
        Monte-Carlo standard error of ``integral`` (the times' errors added, as
        if fully correlated: they share their random numbers).
    quadrature_error : float or None
        :math:`|I_h - I_{2h}|/3`, the trapezoid against itself on every other
        time (odd number of times only): an estimate of the quadrature error.
    bound : float
        ``prior_kl + integral``.
    applies : bool
        True for :math:`\gamma = 1`, the only :math:`\gamma` the bound is proved for.
    realised_kl, realised_kl_reference : float or None
        :math:`\mathrm{KL}(p_{t_{min}} \| q)` from :func:`solve_reverse` started
        from the prior, with the learned and with the reference score (the
        latter is prior mismatch plus discretisation); None without a grid or
        when the run failed.
    prior_mismatch : float or None
        :math:`\mathrm{KL}(p_{t_{min}} \| q_{out})` of the exact reverse process
        started from the prior (:func:`fpdiff.theory.reverse_output_pdf` and
        :math:`p_{t_{min}}` at the grid's cell centres, a midpoint rule): the
        part of the realised KL that no score and no solver can remove. None
        where it has no closed form (``prior_mismatch_method`` says why).
    prior_mismatch_method : str or None
    discretisation_floor : float or None
        :math:`\mathrm{KL}(p_{t_{min}} \| q)` of the same solve with the reference
        score started from the cell averages of the exact :math:`p_T`: the
        solver's own error, the least a learned score can show.
    """

    prior_kl: float
    prior_kl_stderr: object
    prior_kl_method: str
    integral: float
    integral_stderr: float
    quadrature_error: object
    quadrature: str
    bound: float
    applies: bool
    realised_kl: object = None
    realised_kl_reference: object = None
    prior_mismatch: object = None
    prior_mismatch_method: object = None
    discretisation_floor: object = None

    @property
    def holds(self):
        """``realised_kl <= bound`` (None when there is no realised KL or the bound does not apply)."""
        if self.realised_kl is None or not self.applies:
            return None
        return bool(self.realised_kl <= self.bound)


@dataclasses.dataclass
class RealisedErrors:
    r"""Errors at :math:`t_{min}` of one view, with the learned and with the reference score.

    ``view`` is ``"density"`` (:func:`solve_reverse` on ``grid``) or
    ``"particles"`` (:func:`sample_reverse`). ``learned`` and ``reference``
    map metric names to values: density view ``l1``, ``kl``, ``w1`` (exact in
    1-D, sliced W1 in more); particle view ``w1`` (or sliced) against exact
    samples of :math:`p_{t_{min}}`, and with a grid ``l1_histogram`` (L1 of the
    samples' histogram against the reference cell averages) with its
    Monte-Carlo floor ``l1_histogram_floor`` (:func:`metrics.compare`).
    Both runs start from the prior. ``reference_from_p_T`` holds the same
    metrics of the reference score started from the exact :math:`p_T` (its
    cell averages, or exact samples): the discretisation floor, free of
    prior mismatch. ``prior_mismatch`` (density view, :math:`\gamma = 1`,
    mixture laws) holds them for the exact output of the reverse process
    started from the prior (:func:`fpdiff.theory.reverse_output_pdf`).
    ``floor`` holds Monte-Carlo floors (the W1 between two independent sets of
    exact samples of the same sizes). ``failed`` holds the message of a
    :class:`BlowUpError` instead of numbers when a run failed (keys
    ``"learned"``, ``"reference"``, ``"reference_from_p_T"``).
    """

    view: str
    w1_kind: str
    learned: dict
    reference: dict
    floor: dict
    settings: dict
    failed: dict = dataclasses.field(default_factory=dict)
    samples: object = None
    reference_from_p_T: dict = dataclasses.field(default_factory=dict)
    prior_mismatch: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        return f"RealisedErrors(view={self.view!r}, learned={self.learned}, reference={self.reference})"


@dataclasses.dataclass
class Memorisation:
    r"""Generated samples against the training set.

    Attributes
    ----------
    generated_distance, held_out_distance : ndarray
        Distance of each generated / held-out point to its nearest training point.
    generated_ratio, held_out_ratio : ndarray or None
        :math:`d_1/d_2`, nearest over second-nearest training distance (None
        for a single training point).
    median_generated, median_held_out : float
    median_ratio : float
        ``median_generated / median_held_out``: well below 1 means the
        samples sit closer to the training points than fresh data does.
    fraction_memorised, fraction_memorised_held_out : float or None
        Fraction with :math:`d_1/d_2 <` :data:`MEMORISATION_RATIO`.
    held_out_source : str
        ``"held_out"`` (given points) or ``"reference"`` (fresh samples of the
        reference's :math:`p_{t_{min}}`).
    """

    generated_distance: np.ndarray
    held_out_distance: np.ndarray
    generated_ratio: object
    held_out_ratio: object
    median_generated: float
    median_held_out: float
    median_ratio: float
    fraction_memorised: object
    fraction_memorised_held_out: object
    held_out_source: str
    n_train: int

    def __repr__(self):
        return (f"Memorisation(median_ratio={self.median_ratio:.3g}, fraction_memorised={self.fraction_memorised}, "
                f"held_out_source={self.held_out_source!r})")


@dataclasses.dataclass
class FieldCheck:
    r"""A consistency check of a tabulated field against time.

    ``value[k]`` is the :math:`p_t`-weighted RMS of the defect at ``times[k]``,
    ``scale[k]`` the weighted RMS it is compared with, ``relative = value / scale``.
    ``name`` is ``"fp_residual"`` or ``"curl"``; ``note`` states the discretisation.
    ``floor`` and ``floor_relative`` (set by :func:`audit`; None otherwise)
    are ``value`` and ``relative`` of the reference score tabulated on the
    same nodes and times: what the discretisation alone leaves (NaN at a time
    the reference does not cover).
    """

    name: str
    times: np.ndarray
    value: np.ndarray
    scale: np.ndarray
    relative: np.ndarray
    note: str
    floor: object = None
    floor_relative: object = None

    def __repr__(self):
        worst = float(np.max(self.relative)) if len(self.relative) else float("nan")
        return f"FieldCheck({self.name!r}, {len(self.times)} times, max relative {worst:.3g})"


@dataclasses.dataclass
class AuditResult:
    r"""What :func:`audit` found; :meth:`summary` prints it, :func:`fpdiff.plot.audit_figure` draws it.

    Attributes
    ----------
    times : ndarray (n,)
        The audit times, ascending.
    score_error : ndarray (n,)
        :math:`E_{p_t}|\hat s - s|^2` (over the part of :math:`p_t` where the
        learned score is defined; see ``outside_mass``).
    score_error_stderr : ndarray (n,)
        Its Monte-Carlo standard error (0 for quadrature).
    reference_norm : ndarray (n,)
        :math:`E_{p_t}|s|^2`.
    relative_score_error : ndarray (n,)
        ``score_error / reference_norm``.
    outside_mass : ndarray (n,)
        Mass of :math:`p_t` outside the learned score's table box (or
        GridScore grid): left out of the expectations where the score is
        undefined (``outside='raise'``), included with the clamped values
        where it is extended (``outside='clamp'``); ``settings["outside"]``
        says which.
    score_error_method : str
    girsanov : GirsanovCheck
    density, particles : RealisedErrors or None
    memorisation : Memorisation or None
    fp_residual, curl : FieldCheck or None
    failed : dict
        Checks that were asked for or apply but gave no numbers, mapped to
        the reason (``"memorisation"`` when the learned score's particle run
        failed, ``"fp_residual"`` / ``"curl"`` for a table too small for the
        differences, ``"fp_residual floor"`` / ``"curl floor"`` when the
        reference cannot be tabulated on the learned table's nodes).
    settings : dict
        Process, gamma, T, t_min, sizes, seed, the scores' names, wall time.
    """

    times: np.ndarray
    score_error: np.ndarray
    score_error_stderr: np.ndarray
    reference_norm: np.ndarray
    relative_score_error: np.ndarray
    outside_mass: np.ndarray
    score_error_method: str
    girsanov: GirsanovCheck
    density: object = None
    particles: object = None
    memorisation: object = None
    fp_residual: object = None
    curl: object = None
    settings: dict = dataclasses.field(default_factory=dict)
    failed: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        parts = [f"{len(self.times)} times", f"bound={self.girsanov.bound:.4g}"]
        if self.girsanov.realised_kl is not None:
            parts.append(f"realised_kl={self.girsanov.realised_kl:.4g}")
        return f"AuditResult({', '.join(parts)})"

    def __str__(self):
        return self.summary()

    def summary(self):
        """A readable text report: one section per check, numbers with their method and floors."""
        return _summary(self)


# ------------------------------------------------------------------ the audit


def audit(learned, reference, process=None, *, grid=None, times=None, T=None, t_min=None, gamma=1.0, steps=None,
          particle_steps=100, n_samples=20000, particles=20000, train=None, held_out=None, seed=0,
          grid_options=None, particle_options=None):
    r"""Audit a learned score against a reference score whose law :math:`p_t` is known.

    See the module docstring for the quantities and their sources.

    Parameters
    ----------
    learned : Score or callable
        The score to audit: any fpdiff score or ``fn(x, t) -> (M, d)``. A
        :class:`TabulatedScore` also gets the Fokker–Planck residual (with >= 3
        times and >= 5 nodes per axis) and, in d >= 2, the curl check.
    reference : ExactScore, EmpiricalScore or GridScore
        The truth. Its law: :meth:`GaussianMixture.evolve` (exact samples and
        pdf), the mixture :math:`\frac1n\sum_i N(\alpha_t x_i, v_t I)` of
        training points, or a GridScore's snapshots (midpoint quadrature on
        its cells, linear in t between snapshots).
    process : LinearProcess, optional
        Default: ``learned.process`` (else ``reference.process``); must agree
        with the scores' own.
    grid : Grid, optional
        The density view's grid; without it the density view and the
        realised KL are skipped.
    times : array_like, optional
        Audit times in ``[t_min, T]``; ``t_min`` and ``T`` are always added
        (the Girsanov integral runs over ``[t_min, T]``). Default: the
        learned table's times in ``[t_min, T]`` and the midpoints between
        them (so the quadrature sees the table's linear-in-t interpolation
        error), or 33 geometric times for an untabulated score.
    T, t_min : float, optional
        Start and stop of the reverse process. Default ``T``: the end of the
        two scores' common time range; ``t_min``: the larger of
        :data:`DEFAULT_T_MIN` and the start of that range.
    gamma : float
        :math:`\gamma \ge 0` of the realised runs; the bound is proved for
        :math:`\gamma = 1` only (``girsanov.applies``).
    steps : int, optional
        Time steps of :func:`solve_reverse` (default: its automatic choice).
    particle_steps : int
        Time steps of :func:`sample_reverse` (exponential integrator).
    n_samples : int
        Monte-Carlo samples of :math:`p_t` per audit time (mixture references),
        and exact samples of :math:`p_{t_{min}}` the particles are compared with.
    particles : int
        Particles of :func:`sample_reverse`; 0 skips the particle view (and
        the memorisation check).
    train : array_like (n, d), optional
        Training points: enables the memorisation check (on the learned
        score's particles; skipped if that run failed).
    held_out : array_like (m, d), optional
        Points not trained on; default: ``min(n_samples, particles)`` fresh
        samples of the reference's :math:`p_{t_{min}}`.
    seed : int
        Seed of every random number drawn (samples of :math:`p_t`, particles).
    grid_options, particle_options : dict, optional
        Further keyword options of :func:`solve_reverse` (e.g. ``method``,
        ``time_grid``) and of :func:`sample_reverse` (e.g. ``scheme``,
        ``time_grid``, ``"log-snr"`` by default), used for
        both the learned and the reference runs.

    Returns
    -------
    AuditResult

    Raises
    ------
    InputError
        A bad argument, named with what was expected and what was received.

    Notes
    -----
    A :class:`BlowUpError` of a realised run (e.g. particles leaving a
    table's box) does not stop the audit: it is recorded in that view's
    ``failed`` and shown by :meth:`AuditResult.summary`.
    """
    started = time.perf_counter()
    reference, learned, process = _check_scores(learned, reference, process)
    dim = reference.dim
    T, t_min = _check_interval(learned, reference, T, t_min)
    if grid is not None:
        if not isinstance(grid, Grid):
            raise InputError(f"`grid` must be an fpdiff.Grid or None; got {type(grid).__name__}")
        if grid.ndim != dim:
            raise InputError(f"`grid` must be {dim}-D like the scores; got a {grid.ndim}-D grid")
    gamma = as_float(gamma, "gamma", nonnegative=True)
    if steps is not None:
        steps = as_int(steps, "steps", minimum=1)
    particle_steps = as_int(particle_steps, "particle_steps", minimum=1)
    n_samples = as_int(n_samples, "n_samples", minimum=2)
    particles = as_int(particles, "particles", minimum=0)
    seed = as_int(seed, "seed", minimum=0)
    grid_options = _check_options(grid_options, "grid_options", ("gamma", "t_min", "steps", "q0"))
    particle_options = _check_options(particle_options, "particle_options", ("gamma", "t_min", "steps", "seed"))
    times = _audit_times(times, learned, T, t_min)
    train = None if train is None else _check_points(train, "train", dim)
    held_out = None if held_out is None else _check_points(held_out, "held_out", dim)
    if train is not None and particles == 0:
        raise InputError("`train` asks for the memorisation check, which needs generated samples: "
                         "`particles` must be >= 1; got 0")

    law = _ReferenceLaw(reference, process)
    error, stderr, norm, outside = _score_errors(learned, reference, law, times, n_samples, seed)
    method = (f"Monte Carlo, {n_samples} exact samples of p_t per time" if law.kind == "mixture"
              else "midpoint quadrature on the GridScore's cells")
    girsanov = _girsanov(process, law, times, error, stderr, T, t_min, gamma, grid, n_samples, seed)

    density = None
    if grid is not None:
        density = _density_view(process, grid, learned, reference, law, T, t_min, gamma, steps, grid_options)
        girsanov.realised_kl = density.learned.get("kl")
        girsanov.realised_kl_reference = density.reference.get("kl")
        girsanov.discretisation_floor = density.reference_from_p_T.get("kl")
        girsanov.prior_mismatch = density.prior_mismatch.get("kl")
        girsanov.prior_mismatch_method = density.settings["prior_mismatch_method"]

    particle_view = None
    if particles:
        particle_view = _particle_view(process, learned, reference, law, T, t_min, gamma, particle_steps,
                                       particles, n_samples, grid, seed, particle_options)

    failed = {}
    memorisation = None
    if train is not None:
        if particle_view.samples is None:
            failed["memorisation"] = ("no generated samples: the learned score's particle run failed: "
                                      + particle_view.failed["learned"])
        else:
            if held_out is None:
                held_out, source = law.sample(t_min, min(n_samples, particles), seed + 3), "reference"
            else:
                source = "held_out"
            memorisation = memorisation_check(particle_view.samples, train, held_out, source)

    fp_residual = curl = None
    if isinstance(learned, TabulatedScore):
        fp_residual = _field_check(score_fp_residual, "fp_residual", learned, reference, law, failed)
        if dim >= 2:
            curl = _field_check(score_curl, "curl", learned, reference, law, failed)

    settings = {
        "learned": _describe(learned),
        "reference": _describe(reference),
        "process": repr(process),
        "dim": dim,
        "gamma": gamma,
        "T": T,
        "t_min": t_min,
        "steps": steps,
        "particle_steps": particle_steps,
        "n_samples": n_samples,
        "particles": particles,
        "grid": (f"{'x'.join(map(str, grid.shape))} cells on {[tuple(b) for b in grid.bounds]}"
                 if grid is not None else None),
        "seed": seed,
        "outside": _outside_policy(learned),
        "grid_options": grid_options,
        "particle_options": particle_options,
        "wall_time": time.perf_counter() - started,
    }
    return AuditResult(times, error, stderr, norm, _ratio(error, norm), outside, method, girsanov, density,
                       particle_view, memorisation, fp_residual, curl, settings, failed)


def _field_check(check, name, learned, reference, law, failed):
    """``check`` (:func:`score_fp_residual` or :func:`score_curl`) of the learned table, with its floor.

    The floor is the same check of the reference score tabulated on the
    learned table's nodes, at its times inside the reference's time range.
    A table too small for the differences, or a reference that cannot be
    tabulated there, is recorded in ``failed``.
    """
    try:
        result = check(learned, law.pdf, reference.t_range)
    except InputError as error:
        failed[name] = str(error)
        return None
    lo, hi = reference.t_range
    times = learned.t[(learned.t >= lo) & (learned.t <= hi)]
    try:
        table = tabulate_score(reference, times, learned.axes, process=learned.process)
        floor = check(table, law.pdf, reference.t_range)
    except InputError as error:
        failed[f"{name} floor"] = f"the reference score tabulated on the learned table's nodes: {error}"
        return result
    # the floor's times are a subset of the learned check's (the reference's range may cut the ends)
    position = {float(t): k for k, t in enumerate(floor.times)}
    index = np.array([position.get(float(t), -1) for t in result.times])
    found = index >= 0
    result.floor = np.where(found, floor.value[index], np.nan)
    result.floor_relative = np.where(found, floor.relative[index], np.nan)
    return result


def _outside_policy(score):
    """What the audit does with :math:`p_t` outside the learned score's box: ``"left out"``, ``"clamped"`` or None."""
    if isinstance(score, TabulatedScore):
        return "left out" if score.outside == "raise" else "clamped"
    if isinstance(score, GridScore):
        return "left out"
    return None


# ------------------------------------------------------------------ validation


def _check_scores(learned, reference, process):
    if not isinstance(reference, (ExactScore, EmpiricalScore, GridScore)):
        raise InputError("`reference` must be an ExactScore, EmpiricalScore or GridScore (a score whose law p_t "
                         f"is known); got {type(reference).__name__}")
    if process is None:
        process = getattr(learned, "process", None) or reference.process
    if not isinstance(process, LinearProcess):
        raise InputError("`process` must be an fpdiff process (OU, VP, VE, Brownian), or None to take the learned "
                         f"score's; got {type(process).__name__}")
    for name, score in (("learned", learned), ("reference", reference)):
        own = getattr(score, "process", None)
        if isinstance(score, Score) and own is not None and own != process:
            raise InputError(f"`{name}` belongs to {own!r}, but the audit's `process` is {process!r}")
    learned = as_score(learned, reference.dim, process, name="learned")
    return reference, learned, process


def _check_interval(learned, reference, T, t_min):
    lo = max(float(learned.t_range[0]), float(reference.t_range[0]))
    hi = min(float(learned.t_range[1]), float(reference.t_range[1]))
    if T is None:
        if not np.isfinite(hi):
            raise InputError("`T` is needed: neither score has a finite time range; pass e.g. T=1.0")
        T = hi
    T = as_float(T, "T", positive=True)
    t_min = max(DEFAULT_T_MIN, lo) if t_min is None else as_float(t_min, "t_min", positive=True)
    if not t_min < T:
        raise InputError(f"`t_min` must be < `T`; got t_min={t_min:.6g}, T={T:.6g}")
    if t_min < lo or T > hi:
        raise InputError(f"[t_min, T] = [{t_min:.6g}, {T:.6g}] must lie in the time range both scores cover, "
                         f"[{lo:.6g}, {hi:.6g}] (learned {_range(learned)}, reference {_range(reference)})")
    return T, t_min


def _range(score):
    lo, hi = score.t_range
    return f"[{lo:.6g}, {hi:.6g}]"


def _audit_times(times, learned, T, t_min):
    if times is None:
        if isinstance(learned, TabulatedScore):
            nodes = learned.t[(learned.t > t_min) & (learned.t < T)]
            nodes = np.concatenate([[t_min], nodes, [T]])
            return np.sort(np.concatenate([nodes, 0.5 * (nodes[1:] + nodes[:-1])]))
        return np.geomspace(t_min, T, 33)
    values = np.atleast_1d(as_finite_array(times, "times"))
    if values.ndim != 1 or values.size == 0:
        raise InputError(f"`times` must be a non-empty 1-D array of times; got shape {np.shape(times)}")
    tolerance = 1e-12 * T
    if np.any(values < t_min - tolerance) or np.any(values > T + tolerance):
        raise InputError(f"`times` must lie in [t_min, T] = [{t_min:.6g}, {T:.6g}]; got values from "
                         f"{values.min():.6g} to {values.max():.6g}")
    values = np.union1d(np.clip(values, t_min, T), [t_min, T])
    return values[np.concatenate([[True], np.diff(values) > tolerance])]


def _check_options(options, name, reserved):
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InputError(f"`{name}` must be a dict of keyword options or None; got {type(options).__name__}")
    clashes = sorted(set(options) & set(reserved))
    if clashes:
        raise InputError(f"`{name}` must not set {clashes}: pass them as arguments of audit (the audit sets "
                         f"{', '.join(reserved)} itself)")
    return dict(options)


def _check_points(points, name, dim):
    array = as_finite_array(points, name)
    if array.ndim == 1 and dim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != dim or array.shape[0] == 0:
        raise InputError(f"`{name}` must be points of shape (n, {dim}) with n >= 1; got shape {np.shape(points)}")
    return array


def _describe(score):
    if isinstance(score, TabulatedScore):
        return (f"TabulatedScore ({'x'.join(map(str, score.shape))} nodes, {len(score.t)} times, "
                f"outside={score.outside!r})")
    if isinstance(score, ExactScore):
        return f"ExactScore of {type(score.dist0).__name__}"
    if isinstance(score, EmpiricalScore):
        return f"EmpiricalScore ({len(score.points)} points)"
    if isinstance(score, GridScore):
        return f"GridScore ({'x'.join(map(str, score.grid.shape))} cells)"
    return type(score).__name__


def _ratio(numerator, denominator):
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan), where=denominator > 0)


# ------------------------------------------------------------------ score error and the bound


def _score_errors(learned, reference, law, times, n_samples, seed):
    r"""Per time: :math:`E|\hat s - s|^2`, its standard error, :math:`E|s|^2`, and the mass outside ``learned``'s box.

    Where ``learned`` is undefined outside its box (``outside='raise'``, a
    GridScore) that mass is left out of the expectations; a clamped table is
    evaluated there too.
    """
    error, stderr, norm, outside = (np.zeros(len(times)) for _ in range(4))
    defined_outside = _outside_policy(learned) != "left out"
    for k, t in enumerate(times):
        t = float(t)
        points, weights = law.expectation_points(t, n_samples, seed)
        inside = _inside_box(learned, points)
        exact = reference.score(points, t)
        norm[k] = float(weights @ np.sum(exact * exact, axis=1))
        outside[k] = float(np.sum(weights[~inside]))
        if defined_outside:
            inside[:] = True
        difference = np.zeros(len(points))
        if np.any(inside):
            delta = learned.score(points[inside], t) - exact[inside]
            difference[inside] = np.sum(delta * delta, axis=1)
        error[k] = float(weights @ difference)
        if law.kind == "mixture":
            stderr[k] = float(np.std(difference) / np.sqrt(len(points)))
    return error, stderr, norm, outside


def _girsanov(process, law, times, error, stderr, T, t_min, gamma, grid, n_samples, seed):
    sigma2 = np.asarray(process.diffusion(times), dtype=np.float64) ** 2 + 0.0 * times
    integrand = 0.5 * sigma2 * error
    integral = float(np.trapezoid(integrand, times))
    weights = np.zeros(len(times))
    weights[1:] += 0.5 * np.diff(times)
    weights[:-1] += 0.5 * np.diff(times)
    integral_stderr = float(np.sum(weights * 0.5 * sigma2 * stderr))
    quadrature_error = None
    if len(times) >= 5 and len(times) % 2 == 1:
        quadrature_error = abs(integral - float(np.trapezoid(integrand[::2], times[::2]))) / 3.0
    prior_kl, prior_stderr, prior_method = law.prior_kl(T, grid, n_samples, seed + 4)
    return GirsanovCheck(
        prior_kl=prior_kl, prior_kl_stderr=prior_stderr, prior_kl_method=prior_method, integral=integral,
        integral_stderr=integral_stderr, quadrature_error=quadrature_error,
        quadrature=f"trapezoidal rule over the {len(times)} audit times in [{t_min:.4g}, {T:.4g}]",
        bound=prior_kl + integral, applies=gamma == 1.0)


# ------------------------------------------------------------------ realised errors


def _kl_realised(p, q, grid):
    r""":math:`\mathrm{KL}(p \| q)` of a solver output ``q``, with ``q`` raised to ``KL_FLOOR * max q``.

    A finite-volume solution may hold round-off negatives (or underflowed
    zeros) far in the tails, where :math:`p` is tiny but positive; they would
    make the KL infinite. Returns ``(kl, p-mass of the raised cells)``.
    """
    q = np.asarray(q, dtype=np.float64)
    floor = KL_FLOOR * float(np.max(q))
    raised = q < floor
    return metrics.kl(p, np.maximum(q, floor), grid), float(grid.integrate(np.where(raised, p, 0.0)))


def _transport(a, b, grid, dim, seed):
    """W1 (sliced in d > 1) of samples or densities on ``grid``.

    Densities are normalised on purpose: the W1 of the law inside the box.
    The metrics refuse to do that silently; the audit reports the mass its
    box misses beside it (``outside_mass``, a WARNING in the summary).
    """
    a, b = (metrics.normalised_density(v, grid, name)[0] if grid is not None and np.shape(v) == grid.shape else v
            for v, name in ((a, "a"), (b, "b")))
    if dim == 1:
        return metrics.w1(a, b, grid)
    return metrics.sliced_w(a, b, grid, seed=seed)


def _density_view(process, grid, learned, reference, law, T, t_min, gamma, steps, options):
    """The reverse solves on ``grid``: learned and reference score from the prior, reference from the exact p_T.

    Adds the exact output of the reverse process from the prior
    (:func:`reverse_output_pdf`) where it has a closed form.
    """
    target = law.cell_average(grid, t_min)
    results, failed, settings = {}, {}, {}

    def metrics_of(q):
        kl, raised = _kl_realised(target, q, grid)
        q = np.maximum(q, 0.0)
        return {"l1": metrics.l1(target, q, grid), "kl": kl, "w1": _transport(target, q, grid, grid.ndim, 0),
                "kl_raised_mass": raised}

    # the exact p_T as start: without prior mismatch the reference run's error is the solver's alone
    exact_start = law.distribution(T) if law.kind == "mixture" else law.cell_average(grid, T)
    runs = (("learned", learned, None), ("reference", reference, None), ("reference_from_p_T", reference, exact_start))
    for name, score, q0 in runs:
        try:
            with warnings.catch_warnings():  # the audit reports the mass its box misses itself (outside_mass)
                warnings.simplefilter("ignore", MassWarning)
                solution = solve_reverse(process, grid, score, T, q0=q0, gamma=gamma, t_min=t_min, steps=steps,
                                         **options)
        except (BlowUpError, DomainError) as error:
            failed[name] = str(error)
            results[name] = {}
            continue
        results[name] = metrics_of(solution.final)
        settings[f"{name}_steps"] = solution.diagnostics.get("steps")
        settings[f"{name}_mass"] = float(grid.integrate(solution.final))
    settings["target_mass"] = float(grid.integrate(target))
    prior_mismatch, settings["prior_mismatch_method"] = {}, _prior_mismatch_method(law, gamma, grid.ndim)
    if settings["prior_mismatch_method"].startswith("exact"):
        # a property of the continuous laws: the midpoint rule on both exact densities is spectrally accurate for
        # smooth, decaying densities (cell averages would add an O(h^2) error), and 16x cheaper in 2-D
        centres = grid.points()
        p = law.pdf(centres, t_min).reshape(grid.shape)
        q = reverse_output_pdf(process, law.dist0, None, T, t_min, centres).reshape(grid.shape)
        prior_mismatch = {"l1": metrics.l1(p, q, grid), "kl": _kl_realised(p, q, grid)[0],
                          "w1": _transport(p, q, grid, grid.ndim, 0)}
    return RealisedErrors("density", "w1" if grid.ndim == 1 else "sliced_w1", results["learned"],
                          results["reference"], {}, settings, failed,
                          reference_from_p_T=results["reference_from_p_T"], prior_mismatch=prior_mismatch)


def _prior_mismatch_method(law, gamma, dim):
    """How the prior mismatch is known: ``"exact ..."``, or why it is not (then only the runs show it)."""
    if gamma != 1.0:
        return f"no closed form for gamma = {gamma:g} (fpdiff.theory.reverse_output_pdf is for gamma = 1)"
    if law.kind != "mixture":
        return "no closed form for a GridScore reference"
    if dim > 3:
        return f"no quadrature default in {dim} dimensions"
    return ("exact reverse process from the prior: fpdiff.theory.reverse_output_pdf and p_t_min at the cell "
            "centres")


def _particle_view(process, learned, reference, law, T, t_min, gamma, steps, particles, n_samples, grid, seed,
                   options):
    dim = reference.dim
    exact = law.sample(t_min, n_samples, seed + 1)
    fresh = law.sample(t_min, particles, seed + 2)
    results, failed, samples, diagnostics = {}, {}, None, {}
    floor = {"w1": _transport(exact, fresh, None, dim, 0)}
    target = law.cell_average(grid, t_min) if grid is not None else None
    if grid is not None:
        floor["l1_histogram"] = 2 * metrics.compare(target, fresh, grid).tv
    # exact samples of p_T as start: the reference run's error is then the integrator's and Monte Carlo's alone
    runs = (("learned", learned, particles), ("reference", reference, particles),
            ("reference_from_p_T", reference, law.sample(T, particles, seed + 5)))
    for name, score, start in runs:
        try:
            solution = sample_reverse(process, score, start, T, gamma=gamma, t_min=t_min, steps=steps, seed=seed,
                                      **options)
        except (BlowUpError, DomainError) as error:
            failed[name] = str(error)
            results[name] = {}
            continue
        values = {"w1": _transport(solution.samples, exact, None, dim, 0)}
        if grid is not None:
            comparison = metrics.compare(target, solution.samples, grid)
            values.update(l1_histogram=2 * comparison.tv, l1_histogram_floor=2 * comparison.tv_floor,
                          outside_grid=comparison.outside)
        results[name] = values
        diagnostics = solution.diagnostics
        if name == "learned":
            samples = solution.samples
    settings = {"scheme": diagnostics.get("scheme", options.get("scheme")),
                "time_grid": diagnostics.get("time_grid", options.get("time_grid")),
                "steps": steps, "particles": particles, "exact_samples": n_samples}
    view = RealisedErrors("particles", "w1" if dim == 1 else "sliced_w1", results["learned"], results["reference"],
                          floor, settings, failed, reference_from_p_T=results["reference_from_p_T"])
    view.samples = samples
    return view


# ------------------------------------------------------------------ memorisation


def memorisation_check(generated, train, held_out, held_out_source="held_out"):
    r"""Nearest-training-point distances of generated samples against held-out points.

    For each generated point: :math:`d_1` (nearest training point) and
    :math:`d_2` (second nearest), by :class:`scipy.spatial.cKDTree`; a point
    is *memorised* when :math:`d_1 / d_2 <` :data:`MEMORISATION_RATIO`
    (Yoon et al. 2023; Gu et al. 2023, eq. (1)). The same for the held-out
    points gives the baseline of data the model never saw.
    """
    from scipy.spatial import cKDTree

    tree = cKDTree(train)
    neighbours = min(2, len(train))

    def distances(points):
        d, _ = tree.query(points, k=neighbours)
        d = np.asarray(d).reshape(len(points), neighbours)
        ratio = _ratio(d[:, 0], d[:, 1]) if neighbours == 2 else None
        return d[:, 0], ratio

    generated_distance, generated_ratio = distances(generated)
    held_out_distance, held_out_ratio = distances(held_out)
    median_generated = float(np.median(generated_distance))
    median_held_out = float(np.median(held_out_distance))

    def fraction(ratio):
        return None if ratio is None else float(np.mean(np.nan_to_num(ratio, nan=0.0) < MEMORISATION_RATIO))

    return Memorisation(
        generated_distance=generated_distance, held_out_distance=held_out_distance,
        generated_ratio=generated_ratio, held_out_ratio=held_out_ratio,
        median_generated=median_generated, median_held_out=median_held_out,
        median_ratio=median_generated / median_held_out if median_held_out > 0 else float("inf"),
        fraction_memorised=fraction(generated_ratio), fraction_memorised_held_out=fraction(held_out_ratio),
        held_out_source=held_out_source, n_train=len(train))


# ------------------------------------------------------------------ consistency of a tabulated field


def _node_volumes(axes):
    """Quadrature weight of each node of a (possibly non-uniform) tensor grid: products of half neighbour gaps."""
    widths = []
    for axis in axes:
        gaps = np.diff(axis)
        width = np.empty(len(axis))
        width[0], width[-1] = 0.5 * gaps[0], 0.5 * gaps[-1]
        width[1:-1] = 0.5 * (gaps[1:] + gaps[:-1])
        widths.append(width)
    volume = widths[0]
    for width in widths[1:]:
        volume = np.multiply.outer(volume, width)
    return volume


def _interior(shape, layers):
    """Mask of the nodes at least ``layers`` nodes away from every face of the box."""
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(layers, n - layers) for n in shape)] = True
    return mask


def _gradient(values, axes, axis):
    """:math:`\\partial_{axis}` of nodal ``values`` by :func:`numpy.gradient` (second order, also at the ends)."""
    return np.gradient(values, axes[axis], axis=axis, edge_order=2)


def _weighted_rms(squares, weights):
    total = float(np.sum(weights))
    return float(np.sqrt(np.sum(weights * squares) / total)) if total > 0 else float("nan")


def _table_weights(score, pdf, t, layers):
    """``p_t`` times the node volume on the interior nodes (0 elsewhere), shape ``score.shape``."""
    density = np.asarray(pdf(score.nodes(), t), dtype=np.float64).reshape(score.shape)
    return density * _node_volumes(score.axes) * _interior(score.shape, layers)


def _fields_times(score, t_range, first, last):
    lo, hi = t_range
    indices = [k for k in range(first, len(score.t) - last) if lo <= score.t[k] <= hi]
    return indices


def score_fp_residual(score, pdf, t_range=(0.0, np.inf)):
    r"""Residual of the score Fokker–Planck equation of a tabulated field, weighted by :math:`p_t`.

    .. math::

        R = \partial_t s - \nabla\Big(\beta(t)\, x\cdot s + \frac{\sigma(t)^2}{2}\big(\nabla\cdot s + |s|^2\big)\Big),

    which vanishes for the score of any solution of the forward FP equation
    (module docstring). Discretisation, on the table itself: :math:`\partial_t`
    by central differences between table slices (:func:`numpy.gradient`,
    second order also for non-uniform times), so only the interior table
    times are reported; :math:`\nabla\cdot` and :math:`\nabla` by
    :func:`numpy.gradient` on the (possibly non-uniform) axes, second order
    (``edge_order=2``). The nested gradients are second order on nodes at
    least two away from the box's faces, so only those nodes are weighted.

    Returns a :class:`FieldCheck`: ``value`` the weighted RMS of :math:`|R|`
    (weights :math:`p_t(x_j)` times the node volumes), ``scale`` the larger of
    the weighted RMS of :math:`\partial_t s` and of the gradient term (the two
    sides of the equation, equal for a true score), so ``relative`` lies in
    :math:`[0, 2]`.

    Parameters
    ----------
    score : TabulatedScore
        With at least 3 times and 5 nodes per axis.
    pdf : callable ``pdf(x, t) -> (M,)``
        The weight :math:`p_t`.
    t_range : (float, float)
        Times where ``pdf`` may be evaluated.
    """
    _check_table(score, times=3, nodes=5, what="the Fokker–Planck residual")
    process, axes, d = score.process, score.axes, score.dim
    fields = score._tables.reshape(len(score.t), *score.shape, d)
    dsdt = np.gradient(fields, score.t, axis=0)
    coordinates = np.meshgrid(*axes, indexing="ij")
    times, value, scale = [], [], []
    for k in _fields_times(score, t_range, 1, 1):
        t = float(score.t[k])
        s = fields[k]
        beta, sigma = float(process.drift_rate(t)), float(process.diffusion(t))
        divergence = sum(_gradient(s[..., i], axes, i) for i in range(d))
        potential = (beta * sum(coordinates[i] * s[..., i] for i in range(d))
                     + 0.5 * sigma * sigma * (divergence + np.sum(s * s, axis=-1)))
        right = np.stack([_gradient(potential, axes, i) for i in range(d)], axis=-1)
        residual = dsdt[k] - right
        weights = _table_weights(score, pdf, t, 2)
        times.append(t)
        value.append(_weighted_rms(np.sum(residual**2, axis=-1), weights))
        scale.append(max(_weighted_rms(np.sum(dsdt[k] ** 2, axis=-1), weights),
                         _weighted_rms(np.sum(right**2, axis=-1), weights)))
    note = ("d/dt: central differences between table slices (interior times); grad, div: numpy.gradient, "
            "second order; weighted by p_t on nodes >= 2 from the box faces")
    return FieldCheck("fp_residual", np.array(times), np.array(value), np.array(scale),
                      _ratio(value, scale), note)


def score_curl(score, pdf, t_range=(0.0, np.inf)):
    r"""Curl of a tabulated field, :math:`\partial_i s_j - \partial_j s_i`, weighted by :math:`p_t` (d >= 2).

    A true score is a gradient, so its curl vanishes. At every table time:
    ``value`` is the weighted RMS of :math:`\big(\sum_{i<j} (\partial_i s_j - \partial_j s_i)^2\big)^{1/2}`,
    ``scale`` the weighted RMS of the Jacobian's Frobenius norm
    :math:`\big(\sum_{ij} (\partial_j s_i)^2\big)^{1/2}`. Derivatives by
    :func:`numpy.gradient` (second order, non-uniform axes allowed); weights
    :math:`p_t(x_j)` times the node volumes on nodes not on the box's faces.
    """
    if score.dim < 2:
        raise InputError(f"the curl needs a field in d >= 2 dimensions; got d = {score.dim}")
    _check_table(score, times=1, nodes=3, what="the curl")
    axes, d = score.axes, score.dim
    fields = score._tables.reshape(len(score.t), *score.shape, d)
    times, value, scale = [], [], []
    for k in _fields_times(score, t_range, 0, 0):
        t = float(score.t[k])
        jacobian = [[_gradient(fields[k][..., i], axes, j) for j in range(d)] for i in range(d)]  # [i][j] = d_j s_i
        curl = sum((jacobian[j][i] - jacobian[i][j]) ** 2 for i in range(d) for j in range(i + 1, d))
        frobenius = sum(jacobian[i][j] ** 2 for i in range(d) for j in range(d))
        weights = _table_weights(score, pdf, t, 1)
        times.append(t)
        value.append(_weighted_rms(curl, weights))
        scale.append(_weighted_rms(frobenius, weights))
    note = "d_i s_j - d_j s_i by numpy.gradient, second order; weighted by p_t on nodes off the box faces"
    return FieldCheck("curl", np.array(times), np.array(value), np.array(scale), _ratio(value, scale), note)


def _check_table(score, times, nodes, what):
    if not isinstance(score, TabulatedScore):
        raise InputError(f"{what} needs a TabulatedScore; got {type(score).__name__}")
    if len(score.t) < times or min(score.shape) < nodes:
        raise InputError(f"{what} needs a table with >= {times} times and >= {nodes} nodes per axis; "
                         f"got {len(score.t)} times and shape {score.shape}")


# ------------------------------------------------------------------ summary


def _rows(count):
    if count <= SUMMARY_ROWS:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, SUMMARY_ROWS).round().astype(int).tolist()))


def _number(value, digits=4):
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def _summary(result):
    s = result.settings
    lines = [
        f"fpdiff audit: {s['learned']} against {s['reference']}",
        f"  process {s['process']}, d = {s['dim']}, gamma = {s['gamma']:g}, T = {s['T']:.4g}, "
        f"t_min = {s['t_min']:.4g}, seed {s['seed']}, {s['wall_time']:.1f} s",
        "",
        f"Score error E_p_t |s - s_ref|^2 ({result.score_error_method})",
    ]
    shown = _rows(len(result.times))
    header = f"  {'t':>10}  {'E|ds|^2':>11}  {'+-':>9}  {'relative':>9}  {'E|s_ref|^2':>11}"
    if np.any(result.outside_mass > 0):
        header += f"  {'outside':>8}"
    lines.append(header)
    for k in shown:
        row = (f"  {result.times[k]:>10.4g}  {result.score_error[k]:>11.4g}  {result.score_error_stderr[k]:>9.2g}  "
               f"{result.relative_score_error[k]:>9.3g}  {result.reference_norm[k]:>11.4g}")
        if np.any(result.outside_mass > 0):
            row += f"  {result.outside_mass[k]:>8.2g}"
        lines.append(row)
    if len(shown) < len(result.times):
        lines.append(f"  ({len(shown)} of {len(result.times)} times shown)")
    if np.max(result.outside_mass) > 1e-3:
        what = ("its clamped (constant-extension) values are used there" if s.get("outside") == "clamped"
                else "it is left out of E|ds|^2 (and of the bound)")
        lines.append(f"  WARNING: up to {np.max(result.outside_mass):.2g} of p_t lies outside the learned score's "
                     f"box; {what}")

    lines += _girsanov_lines(result)
    for view in (result.density, result.particles):
        if view is not None:
            lines += _view_lines(view, s)
    lines += _memorisation_lines(result)
    for name, title in (("fp_residual", "Score Fokker-Planck residual (p_t-weighted RMS)"),
                        ("curl", "Curl of the learned field (p_t-weighted RMS)")):
        lines += _field_lines(result, name, title)
    not_run = [what for what, missing in (("density view and realised KL (no grid)", result.density is None),
                                          ("particle view (0 particles)", result.particles is None),
                                          ("memorisation (no training points)", result.memorisation is None
                                           and "memorisation" not in result.failed))
               if missing]
    if not_run:
        lines += ["", "Not asked for: " + "; ".join(not_run)]
    return "\n".join(lines)


def _girsanov_lines(result):
    g, s = result.girsanov, result.settings
    lines = ["", "Girsanov bound: KL(p_t_min || q) <= KL(p_T || prior) + 1/2 int sigma^2 E|ds|^2 dt"
             + ("" if g.applies else f"   (proved for gamma = 1 only; this audit ran gamma = {s['gamma']:g})")]
    prior = _number(g.prior_kl) + (f" +- {g.prior_kl_stderr:.2g}" if g.prior_kl_stderr is not None else "")
    lines.append(f"  KL(p_T || prior)             {prior}   ({g.prior_kl_method})")
    quadrature = g.quadrature + (f", error estimate {g.quadrature_error:.2g}" if g.quadrature_error is not None
                                 else "")
    lines.append(f"  1/2 int sigma^2 E|ds|^2 dt   {_number(g.integral)} +- {g.integral_stderr:.2g}   ({quadrature})")
    lines.append(f"  bound                        {_number(g.bound)}")
    density = result.density
    if density is None:
        return lines
    lines.append("  realised KL(p_t_min || q) of solve_reverse on the grid:")
    if g.realised_kl is not None:
        verdict = {True: "holds", False: "VIOLATED", None: "not applicable"}[g.holds]
        lines.append(f"    learned score, from the prior     {_number(g.realised_kl)}   (bound {verdict})")
    else:
        lines.append("    learned score, from the prior     FAILED (see the density view); bound not checked")
    if g.realised_kl_reference is not None:
        lines.append(f"    reference score, from the prior   {_number(g.realised_kl_reference)}   "
                     "(prior mismatch + discretisation)")
    if g.prior_mismatch is not None:
        lines.append(f"    prior mismatch                    {_number(g.prior_mismatch)}   ({g.prior_mismatch_method})")
    else:
        lines.append(f"    prior mismatch                    -   ({g.prior_mismatch_method})")
    if g.discretisation_floor is not None:
        lines.append(f"    discretisation floor              {_number(g.discretisation_floor)}   "
                     "(reference score from the exact p_T)")
    return lines


_RUN_LABELS = {"learned": "learned", "reference": "reference", "reference_from_p_T": "ref. from p_T",
               "prior_mismatch": "exact, prior"}


def _view_lines(view, s):
    kind = "W1" if view.w1_kind == "w1" else "sliced W1"
    if view.view == "density":
        title = f"Realised errors at t_min, density view (solve_reverse, {s['grid']})"
        columns = [("L1", "l1"), ("KL", "kl"), (kind, "w1")]
    else:
        title = (f"Realised errors at t_min, particle view (sample_reverse, {view.settings['particles']} particles, "
                 f"{view.settings['steps']} steps; {kind} against {view.settings['exact_samples']} exact samples)")
        columns = [(kind, "w1")] + ([("L1 histogram", "l1_histogram")] if "l1_histogram" in view.floor else [])
    lines = ["", title, "  " + f"{'score':<14}" + "".join(f"{label:>14}" for label, _ in columns)]
    names = ["learned", "reference", "reference_from_p_T"] + (["prior_mismatch"] if view.prior_mismatch else [])
    for name in names:
        label = _RUN_LABELS[name]
        if name in view.failed:
            lines.append(f"  {label:<14}FAILED: {view.failed[name]}")
        else:
            values = getattr(view, name)
            lines.append("  " + f"{label:<14}" + "".join(f"{_number(values.get(key)):>14}" for _, key in columns))
    if view.floor:
        lines.append("  " + f"{'MC floor':<14}" + "".join(f"{_number(view.floor.get(key)):>14}"
                                                          for _, key in columns))
    lines.append("  (learned, reference: from the prior; ref. from p_T: the reference score from the exact p_T, "
                 "the discretisation floor" + ("; exact, prior: the exact reverse process from the prior, "
                                              "the prior mismatch)" if view.prior_mismatch else ")"))
    return lines


def _memorisation_lines(result):
    m = result.memorisation
    if "memorisation" in result.failed:
        return ["", f"Memorisation: FAILED: {result.failed['memorisation']}"]
    if m is None:
        return []
    source = "held-out points" if m.held_out_source == "held_out" else "fresh samples of p_t_min"
    lines = ["", f"Memorisation ({m.n_train} training points; baseline: {source})",
             f"  median distance to the nearest training point: generated {m.median_generated:.4g}, "
             f"baseline {m.median_held_out:.4g} (ratio {m.median_ratio:.3g})"]
    if m.fraction_memorised is not None:
        lines.append(f"  fraction with d1/d2 < 1/3: generated {m.fraction_memorised:.3g}, "
                     f"baseline {m.fraction_memorised_held_out:.3g}")
    return lines


def _field_lines(result, name, title):
    check = getattr(result, name)
    if name in result.failed:
        return ["", f"{title}: FAILED: {result.failed[name]}"]
    if check is None:
        return []
    lines = ["", f"{title}; {check.note}"]
    if check.floor is not None:
        lines += ["  floor: the reference score tabulated on the same nodes and times",
                  f"  {'t':>10}  {'RMS':>11}  {'relative':>9}  {'floor RMS':>11}  {'floor rel.':>10}"]
    else:
        lines.append(f"  {'t':>10}  {'RMS':>11}  {'relative':>9}")
    rows = _rows(len(check.times))
    for k in rows:
        row = f"  {check.times[k]:>10.4g}  {check.value[k]:>11.4g}  {check.relative[k]:>9.3g}"
        if check.floor is not None:
            row += f"  {check.floor[k]:>11.4g}  {check.floor_relative[k]:>10.3g}"
        lines.append(row)
    if len(rows) < len(check.times):
        lines.append(f"  ({len(rows)} of {len(check.times)} times shown)")
    if f"{name} floor" in result.failed:
        lines.append(f"  floor FAILED: {result.failed[name + ' floor']}")
    return lines
