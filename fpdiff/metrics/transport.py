r"""Transport distances: exact :math:`W_p` on the line, :math:`W_1` by assignment, sliced :math:`W_p`, energy distance.

Part of :mod:`fpdiff.metrics` (every name here is imported from there); the accepted forms of the arguments are
described in that module's docstring.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from .._validation import as_float, as_int
from ..errors import InputError
from ._laws import _check_grid, _density_mass, _generator, _law, _law_dim, _laws, _samples
from ._sort import sort_values

#: largest sample sets (each) for the exact assignment W1 in d > 1 (O(M^3) time, O(M^2) memory)
MAX_ASSIGNMENT_SAMPLES = 2000


class _Line:
    r"""A law on the real line made of uniform pieces: mass ``mass[i]`` spread on ``[lo[i], lo[i] + width[i]]``.

    Atoms (samples, cell centres) have width 0; the cells of a 1-D density
    have the cell width. Pieces are sorted by ``lo`` and the masses
    normalised to 1. The quantile function is linear on every piece:
    :math:`Q(u) = lo_i + (u - c_i) / m_i \cdot w_i` for :math:`c_i \le u \le c_{i+1}`,
    :math:`c` the cumulative masses.
    """

    def __init__(self, lo, width, mass, sort=np.sort, uniform_atoms=None):
        # equally weighted atoms allow the sorted-pairing shortcut of _wasserstein_line (a caller that makes many
        # lines of the same pieces says whether they are)
        self.atoms = not np.any(width)
        self.uniform_atoms = _uniform_atoms(width, mass) if uniform_atoms is None else uniform_atoms
        if self.uniform_atoms:
            # equal masses need no permutation: the sorted points alone, by `sort` (np.sort: 1.3-2x the stable
            # argsort and gather that weighted pieces need; the projections' radix sort, fpdiff.metrics._sort: 4-5x
            # more, worth its one compilation where a comparison sorts on 128 directions)
            self.lo, self.width = sort(lo), width
        else:
            order = np.argsort(lo, kind="stable")
            self.lo, self.width, mass = lo[order], width[order], mass[order]
        self._weights = mass
        self._cumulative = self._mass = None

    def _normalise(self):
        """The cumulative masses (from 0 to 1) and the normalised masses, computed when first asked (pairing needs
        neither)."""
        if self._cumulative is None:
            total = float(np.sum(self._weights))
            cumulative = np.concatenate([[0.0], np.cumsum(self._weights) / total])
            cumulative[-1] = 1.0
            # _cumulative last: a line shared by threads is never seen with it set and its masses missing
            self._mass = np.diff(cumulative)
            self._cumulative = cumulative

    @property
    def cumulative(self):
        """The cumulative masses, non-decreasing from 0 to 1."""
        self._normalise()
        return self._cumulative

    @property
    def mass(self):
        """The pieces' masses, normalised to sum 1."""
        self._normalise()
        return self._mass

    def quantile(self, u_low, u_high):
        """Quantiles at the two ends of u-intervals containing no breakpoint of this law."""
        piece = np.searchsorted(self.cumulative, 0.5 * (u_low + u_high), side="right") - 1
        piece = np.clip(piece, 0, len(self.lo) - 1)
        lo, width, start, mass = self.lo[piece], self.width[piece], self.cumulative[piece], self.mass[piece]
        if not np.any(width):
            return lo, lo
        safe = np.where(mass > 0, mass, 1.0)
        return lo + (u_low - start) / safe * width, lo + (u_high - start) / safe * width


def _uniform_atoms(width, mass):
    """Whether pieces are atoms (width 0) of equal masses."""
    return not np.any(width) and bool(np.all(mass == mass[0]))


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
    if a.uniform_atoms and b.uniform_atoms:
        if len(a.lo) == len(b.lo):
            # two equal-size sets of equally weighted atoms: the sorted points are paired
            return float(np.mean(np.abs(a.lo - b.lo) ** p)) ** (1.0 / p)
        return _uniform_atoms_line(a.lo, b.lo, p)
    # the union of two sorted arrays: a stable sort merges the two runs in linear time (np.union1d sorts anew)
    breaks = np.sort(np.concatenate([a.cumulative, b.cumulative]), kind="stable")
    breaks = breaks[np.concatenate([[True], breaks[1:] != breaks[:-1]])]
    u_low, u_high = breaks[:-1], breaks[1:]
    a_low, a_high = a.quantile(u_low, u_high)
    b_low, b_high = b.quantile(u_low, u_high)
    if a.atoms and b.atoms:  # two step functions: |Q_a - Q_b| is constant on each interval
        return float(np.sum((u_high - u_low) * np.abs(a_low - b_low) ** p)) ** (1.0 / p)
    total = float(np.sum(_power_integral(a_low - b_low, a_high - b_high, u_high - u_low, p)))
    return total ** (1.0 / p)


def _uniform_atoms_line(x, y, p):
    r""":math:`W_p` between ``n`` and ``m`` equally weighted sorted atoms ``x`` and ``y`` (``n != m``), exactly.

    In units of :math:`1/(nm)` the quantile functions jump at the integers :math:`k = i m` and :math:`k = j n`;
    between consecutive ones, :math:`[k_l, k_{l+1})`, they are :math:`x_{\lfloor k_l / m \rfloor}` and
    :math:`y_{\lfloor k_l / n \rfloor}`, so

    .. math::  W_p^p = \sum_l \frac{k_{l+1} - k_l}{nm} \, |x_{\lfloor k_l/m \rfloor} - y_{\lfloor k_l/n \rfloor}|^p

    with integer breakpoints (no round-off in where they fall).
    """
    n, m = len(x), len(y)
    breaks = np.sort(np.concatenate([np.arange(n + 1, dtype=np.int64) * m, np.arange(m + 1, dtype=np.int64) * n]),
                     kind="stable")
    breaks = breaks[np.concatenate([[True], breaks[1:] != breaks[:-1]])]
    start = breaks[:-1]
    lengths = np.diff(breaks) / (float(n) * m)
    return float(np.sum(lengths * np.abs(x[start // m] - y[start // n]) ** p)) ** (1.0 / p)


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
    p = _order(p)
    rng = _generator(seed)
    law_a, law_b, dim = _laws(a, b, grid)
    return _sliced(law_a, law_b, dim, n_projections, rng, p, ("a", "b"))


def _sliced(law_a, law_b, dim, n_projections, rng, p, names):
    """The sliced W_p of two validated laws (see :func:`sliced_w`)."""
    if dim == 1:
        return _wasserstein_line(_line_law(law_a, names[0]), _line_law(law_b, names[1]), p)
    directions = _directions(rng, n_projections, dim)
    return _sliced_lines(_projections(law_a, directions, names[0]), _projections(law_b, directions, names[1]), p)


def _directions(rng, n_projections, dim):
    """``n_projections`` uniform random unit vectors in ``dim`` dimensions (normalised standard normal draws)."""
    directions = rng.standard_normal((n_projections, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions


def _projections(law, directions, name):
    """The law projected on each direction, as :class:`_Line` objects (one at a time: the caller may keep them)."""
    points, weights = _atoms(law, name)
    zero = np.zeros(len(weights))
    uniform = _uniform_atoms(zero, weights)
    return (_Line(points @ u, zero, weights, sort=sort_values, uniform_atoms=uniform) for u in directions)


def _sliced_lines(lines_a, lines_b, p):
    """The mean of :math:`W_p^p` over paired projections, to the power :math:`1/p`."""
    total, count = 0.0, 0
    for line_a, line_b in zip(lines_a, lines_b):
        total += _wasserstein_line(line_a, line_b, p) ** p
        count += 1
    return (total / count) ** (1.0 / p)


class SlicedReference:
    r"""A law projected once on the directions of :func:`sliced_w`, for many comparisons with it.

    ``SlicedReference(b, grid, n_projections, seed).distance(a, p=p)`` is
    ``sliced_w(a, b, grid, n_projections, seed, p)``, to the last bit, with ``b``'s projections sorted here once
    instead of at every call (half of each call's sorting, which is most of its time): a sweep compares each point's
    samples with the same exact samples. In one dimension ``b`` is kept as the
    sorted law of :func:`w1` (``distance(a)`` is then ``w1(a, b)``). Holds :math:`8 L M` bytes for :math:`M`
    samples and :math:`L` directions (100 MB for :math:`L = 128`, :math:`M = 10^5`).

    Parameters
    ----------
    b : samples or density
        The reference law, as in :func:`w1`.
    grid : Grid, optional
        The grid of ``b`` when it is a density given as an array or a distribution.
    n_projections : int
        Number of random directions :math:`L` (>= 1), as in :func:`sliced_w`.
    seed : int or None
        Seed of the directions, as in :func:`sliced_w` (a Generator is read once, here).

    Attributes
    ----------
    dim : int
        The dimension of the law.
    n_projections : int
        The number of directions.
    """

    def __init__(self, b, grid=None, n_projections=128, seed=0):
        self.n_projections = as_int(n_projections, "n_projections", minimum=1)
        rng = _generator(seed)
        law, self.dim = _one_law(b, grid, "b")
        if self.dim == 1:
            self._lines = [_line_law(law, "b")]
            self._directions = None
        else:
            self._directions = _directions(rng, self.n_projections, self.dim)
            self._lines = list(_projections(law, self._directions, "b"))

    def distance(self, a, grid=None, p=1):
        """Sliced :math:`W_p` between ``a`` and the reference: ``sliced_w(a, b, grid, n_projections, seed, p)``.

        Parameters
        ----------
        a : samples or density
            As in :func:`w1`, of the reference's dimension.
        grid : Grid, optional
            The grid of ``a`` when it is a density given as an array or a distribution.
        p : float
            Order :math:`p \\ge 1`.

        Returns
        -------
        float
        """
        p = _order(p)
        law, dim = _one_law(a, grid, "a")
        if dim != self.dim:
            raise InputError(f"`a` must have the reference's dimension, {self.dim}; got {dim}-D")
        if dim == 1:
            return _wasserstein_line(_line_law(law, "a"), self._lines[0], p)
        return _sliced_lines(_projections(law, self._directions, "a"), self._lines, p)


def _one_law(value, grid, name):
    """``(law, dimension)`` of one argument (see :func:`_laws`)."""
    if grid is not None:
        _check_grid(grid)
    law = _law(value, grid, name)
    return law, _law_dim(law)


def _order(p):
    """The order ``p`` of a Wasserstein distance, checked (>= 1)."""
    p = as_float(p, "p")
    if p < 1:
        raise InputError(f"`p` must be >= 1 (W_p is a distance for p >= 1); got {p!r}")
    return p


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

