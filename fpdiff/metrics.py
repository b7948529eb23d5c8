r"""Distances between densities, samples, and the two views against each other.

The density view gives cell averages :math:`p_i` on a :class:`~fpdiff.Grid`,
the sample view gives points :math:`x_1, \dots, x_M`. This module measures

- densities against densities (same grid): :func:`l1`, :func:`tv`,
  :func:`kl`, :func:`hellinger`, integrals of cell values by
  :meth:`Grid.integrate`;
- anything against anything in transport distance: :func:`w1` (exact in one
  dimension, by optimal assignment for small sample sets in more) and
  :func:`sliced_w` (random one-dimensional projections, any dimension);
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
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.special import gammaln

from ._validation import as_finite_array, as_float, as_int
from .distributions import Empirical
from .errors import InputError
from .grid import BOX_MASS_LIMIT, NEGATIVE_TOLERANCE, Grid, format_box
from .solution import DensitySolution, ParticleSolution

__all__ = ["l1", "tv", "kl", "hellinger", "histogram", "w1", "sliced_w", "energy_distance", "compare", "Comparison"]

#: largest sample sets (each) for the exact assignment W1 in d > 1 (O(M^3) time, O(M^2) memory)
MAX_ASSIGNMENT_SAMPLES = 2000


# ------------------------------------------------------------------ validation


def _check_grid(grid, name="grid"):
    if not isinstance(grid, Grid):
        raise InputError(f"`{name}` must be an fpdiff.Grid; got {type(grid).__name__}")
    return grid


def _solution_grid(solution):
    """The grid of a solution's final snapshot (a co-moving solution moves its grid)."""
    if hasattr(solution, "grid_at"):
        return solution.grid_at(solution.t[-1])
    return solution.grid


def _resolve_grid(grid, *values):
    """``grid`` if given, else the grid of the first :class:`DensitySolution` among ``values``."""
    if grid is not None:
        return _check_grid(grid)
    for value in values:
        if isinstance(value, DensitySolution):
            return _solution_grid(value)
    return None


def _is_samples_object(value):
    return isinstance(value, (ParticleSolution, Empirical))


def _is_distribution(value):
    return not isinstance(value, (np.ndarray, list, tuple, Grid)) and (
        hasattr(value, "cell_average") or callable(value)
    )


def _density(value, grid, name):
    """Cell densities of ``value`` on ``grid`` as a non-negative float64 array of shape ``grid.shape``.

    ``grid`` may be ``None`` only when ``value`` is a :class:`DensitySolution`.
    Returns ``(values, grid)``.
    """
    if isinstance(value, DensitySolution):
        own = _solution_grid(value)
        if grid is not None and own != grid:
            raise InputError(f"`{name}` is a DensitySolution on {own!r}; expected one on the grid given, {grid!r}")
        grid, value = own, value.final
    elif grid is None:
        raise InputError(
            f"`{name}` is a {type(value).__name__}, not a DensitySolution: pass `grid` (an fpdiff.Grid) "
            "to say which cells it lives on"
        )
    elif isinstance(value, ParticleSolution):
        raise InputError(
            f"`{name}` must be a density (cell values, DensitySolution or distribution); got a "
            "ParticleSolution (samples): use `histogram` or `compare`"
        )
    elif _is_distribution(value):
        value = grid.cell_average(value)
    values = as_finite_array(value, name)
    if values.shape != grid.shape:
        raise InputError(
            f"`{name}` must be a density on the grid: cell values of shape {grid.shape}, a DensitySolution or a "
            f"distribution; got an array of shape {values.shape}"
        )
    if values.size and values.min() < 0:
        negative = -float(np.sum(np.minimum(values, 0.0)))
        total = float(np.sum(np.abs(values)))
        if negative > NEGATIVE_TOLERANCE * total:
            where = tuple(int(i) for i in np.unravel_index(np.argmin(values), values.shape))
            raise InputError(
                f"`{name}` must be a non-negative density; min is {values.min():.3g} at cell {where}, "
                f"negative mass {negative * grid.cell_volume:.3g} (relative {negative / total:.2g}, "
                f"round-off tolerance {NEGATIVE_TOLERANCE:g})"
            )
        values = np.maximum(values, 0.0)
    return values, grid


def _density_pair(p, q, grid):
    grid = _resolve_grid(grid, p, q)
    if grid is None:
        raise InputError(
            f"`grid` is needed when neither density is a DensitySolution; got p: {type(p).__name__}, "
            f"q: {type(q).__name__}"
        )
    p, _ = _density(p, grid, "p")
    q, _ = _density(q, grid, "q")
    return p, q, grid


def _samples(value, name, dim=None, against=None):
    """Samples as a float64 ``(M, d)`` array with ``M >= 1`` (and ``d == dim`` when given)."""
    if isinstance(value, ParticleSolution):
        value = value.samples
    elif isinstance(value, Empirical):
        value = value.points
    array = as_finite_array(value, name)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError(f"`{name}` must be samples of shape (M, d), or (M,) in one dimension; got shape {np.shape(value)}")
    if array.shape[0] == 0:
        raise InputError(f"`{name}` must hold at least one sample; got shape {np.shape(value)} (empty)")
    if dim is not None and array.shape[1] != dim:
        raise InputError(
            f"`{name}` must have {dim} coordinate(s) per sample, shape (M, {dim}), like {against}; "
            f"got shape {np.shape(value)}"
        )
    return array


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


# ------------------------------------------------------- transport distances


class _Line:
    r"""A law on the real line made of uniform pieces: mass ``mass[i]`` spread on ``[lo[i], lo[i] + width[i]]``.

    Atoms (samples, cell centres) have width 0; the cells of a 1-D density
    have the cell width. Pieces are sorted by ``lo`` and the masses
    normalised to 1. The quantile function is linear on every piece:
    :math:`Q(u) = lo_i + (u - c_i) / m_i \cdot w_i` for :math:`c_i \le u \le c_{i+1}`,
    :math:`c` the cumulative masses.
    """

    def __init__(self, lo, width, mass):
        # equally weighted atoms allow the sorted-pairing shortcut of _wasserstein_line
        self.uniform_atoms = not np.any(width) and bool(np.all(mass == mass[0]))
        order = np.argsort(lo, kind="stable")
        self.lo, self.width, mass = lo[order], width[order], mass[order]
        total = float(np.sum(mass))
        self.cumulative = np.concatenate([[0.0], np.cumsum(mass) / total])
        self.cumulative[-1] = 1.0
        self.mass = np.diff(self.cumulative)

    def quantile(self, u_low, u_high):
        """Quantiles at the two ends of u-intervals containing no breakpoint of this law."""
        piece = np.searchsorted(self.cumulative, 0.5 * (u_low + u_high), side="right") - 1
        piece = np.clip(piece, 0, len(self.lo) - 1)
        lo, width, start, mass = self.lo[piece], self.width[piece], self.cumulative[piece], self.mass[piece]
        if not np.any(width):
            return lo, lo
        safe = np.where(mass > 0, mass, 1.0)
        return lo + (u_low - start) / safe * width, lo + (u_high - start) / safe * width


def _power_integral(a, b, length, p):
    r""":math:`\int_0^L |g(s)|^p ds` for ``g`` linear from ``a`` to ``b`` (elementwise, exact)."""
    fa, fb = np.abs(a), np.abs(b)
    crossing = a * b < 0
    if p == 1:
        same = 0.5 * (fa + fb)
        split = 0.5 * (fa * fa + fb * fb) / np.where(crossing, fa + fb, 1.0)
    elif p == 2:
        same = (a * a + a * b + b * b) / 3.0
        split = (fa**3 + fb**3) / (3.0 * np.where(crossing, fa + fb, 1.0))
    else:
        big, small = np.maximum(fa, fb), np.minimum(fa, fb)
        ratio = small / np.where(big > 0, big, 1.0)
        gap = 1.0 - ratio
        # (1 - r^(p+1)) / ((p+1)(1-r)), with its limit 1 as r -> 1
        factor = np.where(gap > 1e-8, (1.0 - ratio ** (p + 1)) / ((p + 1) * np.where(gap > 1e-8, gap, 1.0)), 1.0)
        same = big**p * factor
        split = (fa ** (p + 1) + fb ** (p + 1)) / ((p + 1) * np.where(crossing, fa + fb, 1.0))
    return length * np.where(crossing, split, same)


def _wasserstein_line(a, b, p):
    r"""Exact :math:`W_p` between two laws on the line, through quantile functions.

    .. math::  W_p(a, b)^p = \int_0^1 |Q_a(u) - Q_b(u)|^p \, du,

    integrated exactly: on each interval between consecutive cumulative
    masses of either law both quantile functions are linear.
    """
    if a.uniform_atoms and b.uniform_atoms and len(a.lo) == len(b.lo):
        # two equal-size sets of equally weighted atoms: the sorted points are paired
        return float(np.mean(np.abs(a.lo - b.lo) ** p)) ** (1.0 / p)
    breaks = np.union1d(a.cumulative, b.cumulative)
    u_low, u_high = breaks[:-1], breaks[1:]
    a_low, a_high = a.quantile(u_low, u_high)
    b_low, b_high = b.quantile(u_low, u_high)
    total = float(np.sum(_power_integral(a_low - b_low, a_high - b_high, u_high - u_low, p)))
    return total ** (1.0 / p)


def _law(value, grid, name):
    """Samples or a density as ``("samples", points)`` or ``("density", values, grid)``.

    An array is a density when ``grid`` is given and its shape is
    ``grid.shape``, and samples otherwise.
    """
    if _is_samples_object(value):
        return ("samples", _samples(value, name))
    if isinstance(value, DensitySolution) or _is_distribution(value):
        values, grid = _density(value, grid, name)
        return ("density", values, grid)
    if grid is not None and np.shape(value) == grid.shape:
        values, grid = _density(value, grid, name)
        return ("density", values, grid)
    return ("samples", _samples(value, name))


def _law_dim(law):
    return law[1].shape[1] if law[0] == "samples" else law[2].ndim


def normalised_density(values, grid, name):
    """``(values / mass, mass)``: cell densities scaled to mass 1 on purpose, with the mass they had.

    For callers that compare the law inside the box and report the missing mass beside it (:func:`compare`, the
    audit); raises :class:`InputError` for a density without positive mass.
    """
    mass = _positive_mass(values, grid, name)
    return values / mass, mass


def _positive_mass(values, grid, name):
    """The integral of cell densities ``values``; :class:`InputError` unless it is positive."""
    mass = float(grid.integrate(values))
    if not mass > 0:
        raise InputError(f"`{name}` must have positive mass to be compared as a law; its integral is {mass!r}")
    return mass


def _density_mass(law, name):
    """Cell masses of a density law, which must be a probability law on the grid (mass 1 within the limit).

    A transport distance needs two laws of equal mass. Renormalising a density whose box cuts off part of the law
    would compare the law conditioned on the box, and hide what is missing.
    """
    values, grid = law[1], law[2]
    mass = _positive_mass(values, grid, name)
    if abs(mass - 1.0) > BOX_MASS_LIMIT:
        raise InputError(
            f"`{name}` has mass {mass:.6g} on the grid {format_box(grid)}, not 1 (limit {BOX_MASS_LIMIT:g}): a transport "
            "distance between laws of unequal mass is not defined. If the box cuts off part of the law, enlarge "
            "the grid's bounds (or solve with `comoving=True`); if the law inside the box is what you mean, "
            "normalise it yourself: `values / grid.integrate(values)`"
        )
    return values.ravel() * grid.cell_volume


def _laws(a, b, grid):
    if grid is not None:
        _check_grid(grid)
    law_a, law_b = _law(a, grid, "a"), _law(b, grid, "b")
    dim_a, dim_b = _law_dim(law_a), _law_dim(law_b)
    if dim_a != dim_b:
        raise InputError(f"`a` and `b` must have the same dimension; `a` is {dim_a}-D and `b` is {dim_b}-D")
    return law_a, law_b, dim_a


def _line_law(law, name):
    """A 1-D law as a :class:`_Line` (densities as their exact piecewise-constant law)."""
    if law[0] == "samples":
        x = law[1][:, 0]
        return _Line(x, np.zeros_like(x), np.ones_like(x))
    mass = _density_mass(law, name)
    grid = law[2]
    lo = grid.edges[0][:-1]
    return _Line(lo, np.full_like(lo, grid.spacing[0]), mass)


def _atoms(law, name):
    """Points and weights of a law; a density becomes its cell centres with weights ``p_i |C|``."""
    if law[0] == "samples":
        points = law[1]
        return points, np.full(points.shape[0], 1.0 / points.shape[0])
    mass = _density_mass(law, name)
    keep = mass > 0
    return law[2].points()[keep], mass[keep]


def w1(a, b, grid=None):
    r"""Wasserstein-1 (earth mover's) distance between two laws, each samples or a density.

    .. math::

        W_1(a, b) = \inf_{\pi \in \Pi(a, b)} \int |x - y| \, d\pi(x, y)
            \overset{d=1}{=} \int_{\mathbb R} |F_a(x) - F_b(x)| \, dx,

    :math:`F` the cumulative distribution functions.

    - **One dimension**: exact, for any mix of samples and densities. Samples
      are atoms of mass :math:`1/M`; a density is the piecewise-constant law of its cell averages (uniform within
      each cell; its mass must be 1 within :data:`~fpdiff.grid.BOX_MASS_LIMIT`, and is then normalised to exactly 1;
      a law the box cuts off raises), so a density and exact samples from it agree to :math:`O(M^{-1/2})` with no
      grid-size bias.
    - **d > 1**: exact for two equal-size sample sets of at most 2000 points,
      by optimal assignment (:func:`scipy.optimize.linear_sum_assignment` on
      Euclidean distances; :math:`W_1` between two uniform laws on M points
      each is attained by a permutation). Anything else raises
      :class:`InputError`: use :func:`sliced_w`.

    Parameters
    ----------
    a, b : samples or density
        Samples: array of shape (M, d), or (M,) in one dimension, a ParticleSolution or an Empirical. Density: cell
        values on ``grid``, a DensitySolution, or a distribution (cell-averaged on ``grid``). An array is read as a
        density when ``grid`` is given and its shape is ``grid.shape``, and as samples otherwise (in one dimension
        pass samples as shape (M, 1) if M equals the number of cells).
    grid : Grid, optional
        The grid of array/distribution densities; a DensitySolution brings
        its own (which must equal ``grid`` when one is given).

    Returns
    -------
    float
    """
    law_a, law_b, dim = _laws(a, b, grid)
    if dim == 1:
        return _wasserstein_line(_line_law(law_a, "a"), _line_law(law_b, "b"), 1)
    if law_a[0] != "samples" or law_b[0] != "samples":
        raise InputError(
            f"`a` and `b` must both be samples for the exact W1 in {dim} dimensions; got a {law_a[0]} and a "
            f"{law_b[0]}: use fpdiff.metrics.sliced_w"
        )
    x, y = law_a[1], law_b[1]
    if x.shape[0] != y.shape[0] or x.shape[0] > MAX_ASSIGNMENT_SAMPLES:
        raise InputError(
            f"`a` and `b` must be sample sets of equal size, at most {MAX_ASSIGNMENT_SAMPLES} points each, for the "
            f"exact W1 in {dim} dimensions (an O(M^3) assignment); got {x.shape[0]} and {y.shape[0]} points: "
            "use fpdiff.metrics.sliced_w"
        )
    cost = cdist(x, y)
    rows, cols = linear_sum_assignment(cost)
    return float(np.mean(cost[rows, cols]))


def _generator(seed):
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`seed` must be an int, None or a numpy Generator; got {seed!r}: {exc}") from None


def sliced_w(a, b, grid=None, n_projections=128, seed=0, p=1):
    r"""Sliced Wasserstein-p distance: :math:`W_p` of one-dimensional projections, averaged over directions.

    .. math::

        SW_p(a, b) = \Big(\frac1L \sum_{l=1}^L W_p^p\big(\langle u_l, \cdot\rangle_\# a,\;
            \langle u_l, \cdot\rangle_\# b\big)\Big)^{1/p},

    with :math:`u_l` uniform random unit vectors (normalised standard normal draws of
    :func:`numpy.random.default_rng` ``(seed)``): a Monte-Carlo estimate of the average over the sphere (Bonneel et
    al., "Sliced and Radon Wasserstein barycenters of measures", J. Math. Imaging Vis. 51, 2015, eq. 3). Each
    projected :math:`W_p` is exact. :math:`SW_p \le W_p`; for a translation by :math:`s`, :math:`SW_1 = |s| \,
    E|u_1|` (:math:`2/\pi \, |s|` in two dimensions).

    In one dimension every direction is :math:`\pm 1` and this is the exact
    :math:`W_p` (densities as their piecewise-constant law, as in :func:`w1`).
    In more, a density enters as atoms at its cell centres with weights
    :math:`p_i |C|`, which moves each projection by at most half a cell
    diagonal.

    Parameters
    ----------
    a, b : samples or density
        As in :func:`w1`.
    grid : Grid, optional
        As in :func:`w1`.
    n_projections : int
        Number of random directions :math:`L` (>= 1). The Monte-Carlo error
        of the average over directions falls like :math:`L^{-1/2}`.
    seed : int or None
        Seed of the directions; the same seed gives the same result.
    p : float
        Order :math:`p \ge 1`.

    Returns
    -------
    float
    """
    n_projections = as_int(n_projections, "n_projections", minimum=1)
    p = as_float(p, "p")
    if p < 1:
        raise InputError(f"`p` must be >= 1 (W_p is a distance for p >= 1); got {p!r}")
    rng = _generator(seed)
    law_a, law_b, dim = _laws(a, b, grid)
    return _sliced(law_a, law_b, dim, n_projections, rng, p, ("a", "b"))


def _sliced(law_a, law_b, dim, n_projections, rng, p, names):
    """The sliced W_p of two validated laws (see :func:`sliced_w`)."""
    if dim == 1:
        return _wasserstein_line(_line_law(law_a, names[0]), _line_law(law_b, names[1]), p)
    directions = rng.standard_normal((n_projections, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    x, wx = _atoms(law_a, names[0])
    y, wy = _atoms(law_b, names[1])
    zero_x, zero_y = np.zeros(len(wx)), np.zeros(len(wy))
    total = 0.0
    for u in directions:
        line_a = _Line(x @ u, zero_x, wx)
        line_b = _Line(y @ u, zero_y, wy)
        total += _wasserstein_line(line_a, line_b, p) ** p
    return (total / n_projections) ** (1.0 / p)


def energy_distance(a, b):
    r"""Squared energy distance :math:`D^2 = 2E|X-Y| - E|X-X'| - E|Y-Y'|` of two sample sets, any dimension.

    :math:`D^2 \ge 0`, zero iff the laws are equal (Székely & Rizzo, "Energy statistics: a class of statistics based
    on distances", J. Stat. Plann. Inference 143, 2013, §2). The within-set means leave out each point's distance to
    itself (U-statistics), so the estimate is unbiased and, for two samples of one law, spreads around 0 with either
    sign. :math:`O((M+N)^2 d)` time, in blocks of rows.

    Parameters
    ----------
    a, b : samples
        As in :func:`w1`, at least 2 each.

    Returns
    -------
    float
        The unbiased estimate of :math:`D^2`.
    """
    x = _samples(a, "a")
    y = _samples(b, "b", x.shape[1], "`a`")
    if min(len(x), len(y)) < 2:
        raise InputError(f"`a` and `b` must hold >= 2 samples each; got {len(x)} and {len(y)}")

    def mean_distance(u, v, pairs):
        return sum(float(np.sum(cdist(u[i:i + 1024], v))) for i in range(0, len(u), 1024)) / pairs

    n, m = len(x), len(y)
    return 2 * mean_distance(x, y, n * m) - mean_distance(x, x, n * (n - 1)) - mean_distance(y, y, m * (m - 1))


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
        the box.
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
            f"{ratio}), {kind} = {self.w1:.4g}, outside the grid: {100 * self.outside:.3g}%"
            + (f", density mass in the box: {self.density_mass:.6g}" if abs(self.density_mass - 1) > BOX_MASS_LIMIT
               else "")
        )


def compare(density, samples, grid=None, *, n_projections=128, seed=0):
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
    normalised, mass = normalised_density(p, grid, "density")
    laws = ("density", normalised, grid), ("samples", points)  # normalised on purpose, and reported (density_mass)
    distance = _sliced(*laws, grid.ndim, n_projections, rng, 1, ("density", "samples"))
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
