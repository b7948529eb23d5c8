r"""Distances between densities, samples, and the two views against each other.

The density view gives cell averages :math:`p_i` on a :class:`~fpdiff.Grid`,
the sample view gives points :math:`x_1, \dots, x_M`. This module measures

- densities against densities (same grid): :func:`l1`, :func:`tv`,
  :func:`kl`, :func:`hellinger`, integrals of cell values by
  :meth:`Grid.integrate`;
- anything against anything in transport distance: :func:`w1` (exact in one
  dimension, by optimal assignment for small sample sets in more) and
  :func:`sliced_w` (random one-dimensional projections, any dimension; :class:`SlicedReference` projects one
  law once, for many comparisons with it);
- samples against samples in any dimension: :func:`energy_distance`;
- samples on a grid: :func:`histogram`;
- a density against samples, with the statistical floor that tells a real
  discrepancy from Monte-Carlo noise: :func:`compare`.

Accepted forms
--------------
Where a *density* is expected, pass

- an array of cell averages of shape ``grid.shape``;
- a :class:`~fpdiff.DensitySolution` (its ``final`` snapshot; its grid must
  equal ``grid`` when one is given, and replaces it when not);
- a distribution (e.g. :class:`~fpdiff.GaussianMixture`) or a callable pdf,
  cell-averaged by :meth:`Grid.cell_average`.

Densities may dip below zero by round-off (negative mass up to ``1e-10`` times the total, the tolerance of the
finite-volume solvers); such values are set to zero, larger negative parts raise :class:`InputError`.

Where *samples* are expected, pass an array of shape ``(M, d)`` (or ``(M,)`` in one dimension), a
:class:`~fpdiff.ParticleSolution` (its final ``samples``) or an :class:`~fpdiff.Empirical` (its points).
"""

import dataclasses
import math

import numpy as np
from scipy.special import gammaln

from .._validation import as_float, as_int
from ..errors import InputError
from ..grid import BOX_MASS_LIMIT
from ._laws import _check_grid, _density, _density_pair, _generator, _resolve_grid, _samples, normalised_density
from .transport import (MAX_ASSIGNMENT_SAMPLES, SlicedReference, _sliced, energy_distance,  # noqa: F401 (re-exported)
                        sliced_w, w1)

__all__ = ["l1", "tv", "kl", "hellinger", "histogram", "w1", "sliced_w", "SlicedReference", "energy_distance",
           "compare", "Comparison"]


# ------------------------------------------------------- densities on a grid


def l1(p, q, grid=None):
    r"""L1 distance between two densities on a grid.

    .. math::  \|p - q\|_1 = \int |p - q| \, dx \approx \sum_i |p_i - q_i| \, |C|,

    the sum over cells of the cell averages (exact for the piecewise-constant densities; for smooth ones the error
    is :math:`O(h^2)`, coming from the cells where :math:`p - q` changes sign).

    Parameters
    ----------
    p, q : array_like of shape ``grid.shape``, DensitySolution or distribution
        The densities (see the module docstring for the accepted forms).
    grid : Grid, optional
        The grid they live on; may be left out when ``p`` or ``q`` is a
        :class:`DensitySolution`.

    Returns
    -------
    float
        In :math:`[0, 2]` for probability densities.
    """
    p, q, grid = _density_pair(p, q, grid)
    return float(grid.integrate(np.abs(p - q)))


def tv(p, q, grid=None):
    r"""Total-variation distance :math:`\mathrm{TV}(p, q) = \frac12 \int |p - q| \, dx` (half of :func:`l1`).

    Parameters
    ----------
    p, q, grid
        As in :func:`l1`.

    Returns
    -------
    float
        In :math:`[0, 1]` for probability densities: the largest difference of the probabilities the two give to
        an event.
    """
    return 0.5 * l1(p, q, grid)


def kl(p, q, grid=None, floor=0.0):
    r"""Kullback–Leibler divergence :math:`\mathrm{KL}(p \,\|\, q)` between two densities on a grid.

    .. math::

        \mathrm{KL}(p \,\|\, q) = \int p \log\frac{p}{q} \, dx
            \approx \sum_i p_i \log\frac{p_i}{q_i} \, |C|,

    with :math:`0 \log(0/q) = 0`; it is :math:`+\infty` when :math:`q_i = 0` in a cell where :math:`p_i > 0`. Not
    symmetric; :math:`\geq 0` for probability densities (Gibbs' inequality). On cell averages the error for smooth
    densities is :math:`O(h^2)`. A solver's density can be exactly 0 (or round-off below it) far in the tails where
    the exact :math:`p` is, say, 1e-80; ``floor`` > 0 replaces :math:`q_i` by :math:`\max(q_i, \text{floor})`, which
    leaves such cells' negligible contribution finite.

    Parameters
    ----------
    p, q : array_like of shape ``grid.shape``, DensitySolution or distribution
        The densities (see the module docstring for the accepted forms).
    grid : Grid, optional
        The grid they live on; may be left out when ``p`` or ``q`` is a
        :class:`DensitySolution`.
    floor : float, optional
        Lower bound applied to ``q`` (default 0: the exact definition).

    Returns
    -------
    float
        The divergence, or ``inf``.
    """
    p, q, grid = _density_pair(p, q, grid)
    floor = as_float(floor, "floor", nonnegative=True)
    q = np.maximum(q, floor)
    support = p > 0
    if np.any(support & (q <= 0)):
        return math.inf
    terms = np.zeros_like(p)
    terms[support] = p[support] * (np.log(p[support]) - np.log(q[support]))
    return float(grid.integrate(terms))


def hellinger(p, q, grid=None):
    r"""Hellinger distance between two densities on a grid.

    .. math::

        H(p, q) = \Big(\tfrac12 \int \big(\sqrt p - \sqrt q\big)^2 dx\Big)^{1/2}
            \approx \Big(\tfrac12 \sum_i \big(\sqrt{p_i} - \sqrt{q_i}\big)^2 |C|\Big)^{1/2},

    in :math:`[0, 1]` for probability densities, with
    :math:`H^2 \le \mathrm{TV} \le \sqrt2\, H`. On cell averages the error for
    smooth densities is :math:`O(h^2)`.

    Parameters
    ----------
    p, q : array_like of shape ``grid.shape``, DensitySolution or distribution
        The densities (see the module docstring for the accepted forms).
    grid : Grid, optional
        The grid they live on; may be left out when ``p`` or ``q`` is a
        :class:`DensitySolution`.

    Returns
    -------
    float
    """
    p, q, grid = _density_pair(p, q, grid)
    return float(np.sqrt(0.5 * grid.integrate((np.sqrt(p) - np.sqrt(q)) ** 2)))


def histogram(samples, grid):
    r"""Cell densities of samples on a grid, normalised by the number of samples.

    .. math::  h_i = \frac{\#\{m : x_m \in C_i\}}{M \, |C|},

    with the cells of ``grid`` (:func:`numpy.histogramdd` on ``grid.edges``: half-open cells, the last one on each
    axis closed). Samples outside the box are counted in :math:`M` but in no cell, so ``grid.integrate(h)`` is the
    fraction of samples inside the box (1 when all are), and :math:`h` compares directly with a density of mass 1.

    Parameters
    ----------
    samples : array_like, shape (M, d) or (M,) in one dimension
        Also a ParticleSolution or an Empirical. ``d`` must be ``grid.ndim``.
    grid : Grid

    Returns
    -------
    ndarray of shape ``grid.shape``
    """
    grid = _check_grid(grid)
    points = _samples(samples, "samples", grid.ndim, f"the {grid.ndim}-D grid")
    counts, _ = np.histogramdd(points, bins=grid.edges)
    return counts / (points.shape[0] * grid.cell_volume)


def _outside_fraction(points, grid):
    lo = np.array([edges[0] for edges in grid.edges])
    hi = np.array([edges[-1] for edges in grid.edges])
    return float(np.mean(np.any((points < lo) | (points > hi), axis=1)))



# ------------------------------------------------------- density vs samples


def _tv_floor(probabilities, n):
    r"""Expected TV between the cell probabilities and the histogram of ``n`` exact samples.

    :math:`\frac1{2n}\sum_i E|N_i - n P_i|` with :math:`N_i \sim \mathrm{Bin}(n, P_i)`,
    by de Moivre's mean absolute deviation
    :math:`E|N - nP| = 2 k \binom{n}{k} P^k (1-P)^{n-k+1}`, :math:`k = \lfloor nP \rfloor + 1`.
    """
    P = np.clip(probabilities.ravel(), 0.0, 1.0)
    active = (P > 0) & (P < 1)
    P = P[active]
    k = np.floor(n * P) + 1
    valid = k <= n
    P, k = P[valid], k[valid]
    log_mad = (
        np.log(2.0 * k)
        + gammaln(n + 1.0)
        - gammaln(k + 1.0)
        - gammaln(n - k + 1.0)
        + k * np.log(P)
        + (n - k + 1) * np.log1p(-P)
    )
    return float(0.5 * np.sum(np.exp(log_mad)) / n)


@dataclasses.dataclass(frozen=True)
class Comparison:
    r"""A density against samples: the result of :func:`compare`.

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    tv : float
        :math:`\frac12 \int |p - h| dx`, ``h`` the :func:`histogram` of the
        samples on the density's grid (samples outside the box count as mass
        the histogram misses).
    tv_floor : float
        The expected ``tv`` of a histogram of ``n_samples`` exact samples from the density itself: the Monte-Carlo
        floor. A ``tv`` within a small multiple of it (about 1.5x for hundreds of occupied cells) means the samples
        cannot tell the two apart.
    w1 : float
        Transport distance between the density, normalised to mass 1, and the samples: exact :math:`W_1` in one
        dimension, sliced :math:`W_1` in more. When ``density_mass`` is not 1 this compares the law conditioned on
        the box. NaN when :func:`compare` was asked not to compute it (``transport=False``).
    w1_kind : str
        ``"w1"`` (exact) or ``"sliced_w1"``.
    outside : float
        Fraction of the samples outside the grid's box.
    n_samples : int
        Number of samples.
    density_mass : float
        The density's integral over the box (1 for a law the box holds).
    """

    tv: float
    tv_floor: float
    w1: float
    w1_kind: str
    outside: float
    n_samples: int
    density_mass: float = 1.0

    def __str__(self):
        ratio = f", {self.tv / self.tv_floor:.2f}x floor" if self.tv_floor > 0 else ""
        kind = "W1" if self.w1_kind == "w1" else "sliced W1"
        return (
            f"density vs {self.n_samples} samples: TV = {self.tv:.4g} (Monte-Carlo floor {self.tv_floor:.4g}"
            f"{ratio}){'' if math.isnan(self.w1) else f', {kind} = {self.w1:.4g}'}, outside the grid: "
            f"{100 * self.outside:.3g}%"
            + (f", density mass in the box: {self.density_mass:.6g}" if abs(self.density_mass - 1) > BOX_MASS_LIMIT
               else "")
        )


def compare(density, samples, grid=None, *, n_projections=128, seed=0, transport=True):
    r"""Compare a density with samples: the two views of one law against each other.

    .. math::

        \mathrm{TV} = \frac12 \sum_i |P_i - N_i / n|, \qquad
        \text{floor} = E\,\mathrm{TV}\big|_{N \sim \mathrm{Mult}(n, P)}
            = \frac1{2n} \sum_i E|N_i - n P_i|
            \approx \frac12 \sum_i \sqrt{\frac{2 P_i (1 - P_i)}{\pi n}},

    with :math:`P_i = p_i |C|` the cell probabilities of the density,
    :math:`N_i` the sample counts, :math:`n` the number of samples. The
    floor is computed exactly (binomial mean absolute deviations, de
    Moivre's formula); the normal approximation on the right holds where
    :math:`n P_i (1 - P_i) \gg 1` and overstates the floor in sparse cells.

    Parameters
    ----------
    density : array_like of shape ``grid.shape``, DensitySolution or distribution
        The density view.
    samples : array_like (n, d) or (n,), ParticleSolution or Empirical
        The sample view (never read as a density).
    grid : Grid, optional
        May be left out when ``density`` is a DensitySolution.
    n_projections : int
        Directions of :func:`sliced_w` in more than one dimension.
    seed : int or None
        Seed of those directions.
    transport : bool
        Compute ``w1`` (default). False leaves it NaN: the transport distance is most of the cost (in two
        dimensions, sorting the samples' projections on every direction), and a caller that needs only the
        TV and its floor skips it.

    Returns
    -------
    Comparison
        ``tv``, ``tv_floor``, ``w1``, ``w1_kind``, ``outside``, ``n_samples``,
        ``density_mass``.
    """
    grid = _resolve_grid(grid, density)
    if grid is None:
        raise InputError(
            f"`grid` is needed when `density` is not a DensitySolution; got density: {type(density).__name__}"
        )
    p, grid = _density(density, grid, "density")
    points = _samples(samples, "samples", grid.ndim, f"the {grid.ndim}-D density")
    n = points.shape[0]
    counts, _ = np.histogramdd(points, bins=grid.edges)
    probabilities = p * grid.cell_volume
    tv_value = 0.5 * float(np.sum(np.abs(probabilities - counts / n)))
    n_projections = as_int(n_projections, "n_projections", minimum=1)
    rng = _generator(seed)
    if not isinstance(transport, bool):
        raise InputError(f"`transport` must be True or False; got {transport!r}")
    normalised, mass = normalised_density(p, grid, "density")
    laws = ("density", normalised, grid), ("samples", points)  # normalised on purpose, and reported (density_mass)
    distance = _sliced(*laws, grid.ndim, n_projections, rng, 1, ("density", "samples")) if transport else math.nan
    kind = "w1" if grid.ndim == 1 else "sliced_w1"
    return Comparison(
        tv=tv_value,
        tv_floor=_tv_floor(probabilities, n),
        w1=distance,
        w1_kind=kind,
        outside=_outside_fraction(points, grid),
        n_samples=int(n),
        density_mass=mass,
    )


def observed_order(spacing, error):
    r"""Observed order of convergence: the least-squares slope of :math:`\log e` against :math:`\log h`.

    ``spacing`` is the cell width, time step or any resolution that goes to 0
    (use ``1 / cells`` for a number of cells); ``error`` the errors, positive.
    """
    spacing = np.asarray(spacing, dtype=float)
    error = np.asarray(error, dtype=float)
    if spacing.ndim != 1 or spacing.shape != error.shape or len(spacing) < 2:
        raise InputError(f"`spacing` and `error` must be 1-D arrays of equal length >= 2; got shapes "
                         f"{spacing.shape} and {error.shape}")
    if not (np.all(spacing > 0) and np.all(error > 0)):
        raise InputError(f"`spacing` and `error` must be positive; got {spacing} and {error}")
    return float(np.polyfit(np.log(spacing), np.log(error), 1)[0])


def w1_floor(law, grid, n):
    r"""Expected 1-D :math:`W_1` between ``n`` exact samples of ``law`` and ``law`` itself: the Monte-Carlo floor.

    In one dimension :math:`W_1 = \int |\hat F_n - F|\, dx` with
    :math:`n \hat F_n(x) \sim \mathrm{Bin}(n, F(x))`, so
    :math:`E W_1 = \int E|\hat F_n - F|\, dx \approx \int \sqrt{2F(1-F)/(\pi n)}\, dx`
    (the normal approximation of the binomial mean absolute deviation), with
    :math:`F` from the cell averages of ``law`` on the 1-D ``grid``.
    """
    grid = _check_grid(grid)
    if grid.ndim != 1:
        raise InputError(f"`grid` must be 1-D for w1_floor; got a {grid.ndim}-D grid")
    n = as_int(n, "n", minimum=1)
    values, _ = _density(law, grid, "law")
    cdf = np.cumsum(values) * grid.cell_volume
    return float(np.sum(np.sqrt(2 * cdf * np.clip(1 - cdf, 0, None) / (np.pi * n))) * grid.spacing[0])
