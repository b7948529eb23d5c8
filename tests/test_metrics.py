"""Tests of fpdiff.metrics against closed forms, independent solvers and Monte-Carlo expectations."""

import itertools

import numpy as np
import pytest
from scipy.stats import norm, wasserstein_distance, wasserstein_distance_nd

import fpdiff as fd
from fpdiff.metrics import observed_order
from fpdiff import metrics
from fpdiff.fv.comoving import ComovingDensitySolution

# E W1(empirical law of M samples, N(0,1)) = sqrt(2/pi) int sqrt(Phi (1 - Phi)) dx / sqrt(M) ~ 1.29 / sqrt(M)
# (the CLT for the empirical CDF); used to size Monte-Carlo tolerances below.
W1_SAMPLING_CONSTANT = 1.29


def gaussian(mean, variance):
    return fd.GaussianMixture([1.0], np.atleast_2d(mean), [variance])


# ------------------------------------------------------- densities on a grid


def test_l1_converges_to_closed_form_with_order_two():
    # N(0,1) vs N(1,1): the densities cross once, at x = 1/2, and
    # int |p - q| = 2 (Phi(1/2) - Phi(-1/2)). Sums of cell averages are exact
    # except in the cell holding the crossing, where the error is ~ h^2; the
    # grids put the crossing at 1/3 or 2/3 of a cell, so the error is a clean h^2.
    p, q = gaussian(0.0, 1.0), gaussian(1.0, 1.0)
    exact = 2 * (norm.cdf(0.5) - norm.cdf(-0.5))
    lo = 0.5 - (22 + 1 / 3) * 0.5
    spacings, errors = [], []
    for refinement in range(4):
        grid = fd.Grid([(lo, lo + 22)], 44 * 2**refinement)
        spacings.append(grid.spacing[0])
        errors.append(abs(metrics.l1(p, q, grid) - exact))
        assert metrics.tv(p, q, grid) == pytest.approx(0.5 * metrics.l1(p, q, grid), rel=1e-15)
    assert observed_order(spacings, errors) == pytest.approx(2.0, abs=0.15)
    assert errors[-1] < 2e-4


@pytest.mark.parametrize("name", ["kl", "hellinger"])
def test_kl_and_hellinger_converge_to_closed_forms_with_order_two(name):
    m1, s1, m2, s2 = 0.3, 0.8, -0.5, 1.3
    p, q = gaussian(m1, s1**2), gaussian(m2, s2**2)
    exact = {
        # KL(N(m1, s1^2) || N(m2, s2^2))
        "kl": np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5,
        # H^2 = 1 - sqrt(2 s1 s2 / (s1^2 + s2^2)) exp(-(m1 - m2)^2 / (4 (s1^2 + s2^2)))
        "hellinger": np.sqrt(
            1 - np.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * np.exp(-((m1 - m2) ** 2) / (4 * (s1**2 + s2**2)))
        ),
    }[name]
    function = getattr(metrics, name)
    spacings, errors = [], []
    for refinement in range(4):
        grid = fd.Grid([(-12, 12)], 40 * 2**refinement)
        spacings.append(grid.spacing[0])
        errors.append(abs(function(p, q, grid) - exact))
    assert observed_order(spacings, errors) == pytest.approx(2.0, abs=0.15)
    assert errors[-1] < 2e-4


def test_piecewise_constant_densities_are_exact_and_kl_infinite_off_support():
    # p = 2 on [0, 1/2], 0 on (1/2, 1]; q = 1 on [0, 1]. By hand:
    # KL(p||q) = int_0^1/2 2 log 2 = log 2 (with 0 log 0 = 0), KL(q||p) = inf,
    # L1 = 1/2 + 1/2 = 1, H^2 = 1 - int sqrt(p q) = 1 - 1/sqrt(2).
    grid = fd.Grid([(0, 1)], 10)
    p = np.r_[np.full(5, 2.0), np.zeros(5)]
    q = np.ones(10)
    assert metrics.kl(p, q, grid) == pytest.approx(np.log(2), rel=1e-14)
    assert metrics.kl(q, p, grid) == np.inf
    assert metrics.kl(q, q, grid) == 0.0
    assert metrics.l1(p, q, grid) == pytest.approx(1.0, rel=1e-14)
    assert metrics.hellinger(p, q, grid) == pytest.approx(np.sqrt(1 - 1 / np.sqrt(2)), rel=1e-14)
    assert metrics.hellinger(p, p, grid) == 0.0


def test_density_forms_agree():
    grid = fd.Grid([(-6, 6), (-5, 5)], [30, 24])
    p_dist = fd.GaussianMixture([0.4, 0.6], [[-1, 0], [1, 0.5]], [0.5, 1.0])
    q_dist = gaussian([0.2, 0.1], 1.2)
    p, q = grid.cell_average(p_dist), grid.cell_average(q_dist)
    reference = metrics.hellinger(p, q, grid)
    solution = fd.DensitySolution(grid, [0.0, 1.0], np.stack([q, p]))  # final snapshot is p
    assert metrics.hellinger(solution, q_dist, grid) == reference
    assert metrics.hellinger(solution, q) == reference  # the grid comes from the solution
    assert metrics.hellinger(p_dist, solution, grid) == metrics.hellinger(p, p, grid) == 0.0
    assert metrics.hellinger(p_dist.pdf, q_dist, grid) == pytest.approx(reference, rel=1e-6)  # callable pdf
    # a co-moving solution's final snapshot lives on its scaled grid
    moving = ComovingDensitySolution(grid, [0.0, 1.0], np.stack([q, p]), scales=[1.0, 2.0])
    scaled = grid.scaled(2.0)
    assert metrics.l1(moving, p, scaled) == 0.0
    with pytest.raises(fd.InputError, match="DensitySolution on Grid"):
        metrics.l1(moving, p, grid)


def test_round_off_negatives_are_accepted():
    grid = fd.Grid([(0, 1)], 4)
    p = np.array([1.0, 1.0, 1.0, -1e-14])
    assert metrics.l1(p, np.ones(4), grid) == pytest.approx(0.25, rel=1e-12)


# ------------------------------------------------------------------ histogram


def test_histogram_counts_and_mass_accounting(rng):
    grid = fd.Grid([(-1, 1), (0, 3)], [4, 6])
    samples = rng.uniform([-1.5, -0.5], [1.5, 3.5], size=(2000, 2))
    h = metrics.histogram(samples, grid)
    inside = np.all((samples >= [-1, 0]) & (samples <= [1, 3]), axis=1)
    assert grid.integrate(h) == pytest.approx(np.mean(inside), rel=1e-14)
    # cell-by-cell against integer cell indices (no sample lies on an edge here)
    index = np.floor((samples[inside] - [-1, 0]) / grid.spacing).astype(int)
    counts = np.zeros(grid.shape)
    np.add.at(counts, (index[:, 0], index[:, 1]), 1)
    np.testing.assert_allclose(h, counts / (len(samples) * grid.cell_volume), rtol=1e-14)
    # 1-D samples may be a flat array
    line = fd.Grid([(0, 1)], 5)
    # fraction per cell / width 0.2: 2/4, 0, 1/4, 0, 1/4 -> 2.5, 0, 1.25, 0, 1.25
    np.testing.assert_allclose(metrics.histogram([0.1, 0.1, 0.5, 0.95], line), [2.5, 0, 1.25, 0, 1.25])


# ------------------------------------------------------------------------ W1


def test_w1_of_shifted_gaussian_samples(rng):
    shift, M = 0.7, 20000
    a = rng.standard_normal(M)
    b = shift + rng.standard_normal(M)
    # |W1(a, b) - shift| <= W1(a, N(0,1)) + W1(b, N(shift,1)), each ~ 1.29/sqrt(M) = 0.009 on average;
    # 0.05 is ~ 3x their sum.
    assert abs(metrics.w1(a, b) - shift) < 0.05
    # a translate of the same points is exactly the shift away
    assert metrics.w1(a, a + shift) == pytest.approx(shift, rel=1e-12)


def test_w1_matches_scipy_for_unequal_sample_sets(rng):
    a = rng.standard_normal(300)
    b = rng.gamma(2.0, size=(451, 1))
    assert metrics.w1(a, b) == pytest.approx(wasserstein_distance(a, b[:, 0]), rel=1e-12)


def test_w1_of_densities_is_exact_for_piecewise_constant_laws(rng):
    grid = fd.Grid([(-8, 8)], 160)
    p = grid.cell_average(gaussian(0.0, 1.0))
    samples = rng.normal(0.5, 0.7, size=1000)
    # independent reference: the piecewise-constant law as 200 equally spaced atoms per cell (scipy's
    # W1 of weighted atoms); replacing each uniform cell by them moves the law by h / (4 * 200) at most
    sub = 200
    offsets = (np.arange(sub) + 0.5) / sub * grid.spacing[0]
    atoms = (grid.edges[0][:-1, None] + offsets).ravel()
    weights = np.repeat(p, sub)
    reference = wasserstein_distance(atoms, samples, weights)
    assert abs(metrics.w1(p, samples, grid) - reference) <= grid.spacing[0] / (4 * sub)
    assert metrics.w1(samples, p, grid) == pytest.approx(metrics.w1(p, samples, grid), rel=1e-12)


def test_w1_density_and_samples_are_consistent(rng):
    shift = 0.37
    grid = fd.Grid([(-8, 8)], 320)
    p_dist, q_dist = gaussian(0.0, 1.0), gaussian(shift, 1.0)
    # density vs density: the piecewise-linear CDFs interpolate the exact ones at the edges
    assert metrics.w1(p_dist, q_dist, grid) == pytest.approx(shift, abs=1e-4)
    # density vs samples: only the sample's Monte-Carlo error, ~1.29/sqrt(M) = 0.013 on average (5x margin)
    samples = q_dist.sample(10000, seed=11)
    assert abs(metrics.w1(p_dist, samples, grid) - shift) < 0.065
    # density vs exact samples of itself: no grid-size bias (cell centres alone would add ~ h/4 = 0.0125)
    exact_samples = p_dist.sample(40000, seed=12)
    assert metrics.w1(p_dist, exact_samples, grid) < 5 * W1_SAMPLING_CONSTANT / np.sqrt(40000)
    # a DensitySolution and a ParticleSolution are accepted
    solution = fd.DensitySolution(grid, [0.0], grid.cell_average(p_dist)[None])
    particles = fd.ParticleSolution([0.0], samples[None])
    assert metrics.w1(solution, particles) == metrics.w1(p_dist, samples, grid)
    assert metrics.w1(fd.Empirical(samples), p_dist, grid) == metrics.w1(samples, p_dist, grid)
    # two DensitySolutions on different grids, each on its own: W1 of translates is the shift
    other = fd.Grid([(-7, 9)], 200)
    shifted = fd.DensitySolution(other, [0.0], other.cell_average(q_dist)[None])
    assert metrics.w1(solution, shifted) == pytest.approx(shift, abs=1e-4)


def test_w1_in_two_dimensions_is_exact(rng):
    a = rng.standard_normal((300, 2))
    shift = np.array([0.3, -0.4])
    # W1 >= |E a - E b| = |shift| (Jensen), attained by the translation coupling
    assert metrics.w1(a, a + shift) == pytest.approx(0.5, rel=1e-12)
    b = rng.standard_normal((80, 2)) * [1.0, 2.0]
    c = rng.standard_normal((80, 2)) + [1.0, 0.0]
    # scipy's linear-programming solver as the independent reference
    assert metrics.w1(b, c) == pytest.approx(wasserstein_distance_nd(b, c), rel=1e-9)
    # and the brute-force optimum over all permutations of 6 points
    small_a, small_b = b[:6], c[:6]
    costs = [
        np.mean(np.linalg.norm(small_a - small_b[list(perm)], axis=1)) for perm in itertools.permutations(range(6))
    ]
    assert metrics.w1(small_a, small_b) == pytest.approx(min(costs), rel=1e-12)


# ------------------------------------------------------------------- sliced W


def test_sliced_w_of_a_translation_matches_the_sphere_average(rng):
    # per direction the projections are translates by <u, s>, so SW_1 = mean_u |<u, s>| -> |s| 2/pi and
    # SW_2 = (mean_u <u, s>^2)^(1/2) -> |s| / sqrt(2) in 2-D. Over L directions the standard errors are
    # |s| sqrt(1/2 - 4/pi^2) / sqrt(L) (SW_1) and about |s| sqrt(1/8) / sqrt(L) / sqrt(2) (SW_2); 4 of them.
    x = rng.standard_normal((400, 2))
    shift = np.array([0.6, -0.8])
    L = 4000
    sw1 = metrics.sliced_w(x, x + shift, n_projections=L, seed=3)
    assert abs(sw1 - 2 / np.pi) < 4 * np.sqrt(0.5 - 4 / np.pi**2) / np.sqrt(L)
    sw2 = metrics.sliced_w(x, x + shift, n_projections=L, seed=3, p=2)
    assert abs(sw2 - 1 / np.sqrt(2)) < 4 * np.sqrt(1 / 8) / np.sqrt(L)


def test_sliced_w_of_independent_shifted_samples(rng):
    x = rng.standard_normal((10000, 2))
    y = rng.standard_normal((10000, 2)) + [0.6, -0.8]
    # direction average: 2/pi |s| +- 4 * 0.31 / sqrt(256) = 0.08; sampling error of each projected W1
    # <= 2 * 1.29 / sqrt(10000) = 0.026 on average. 0.1 covers both.
    assert abs(metrics.sliced_w(x, y, n_projections=256) - 2 / np.pi) < 0.1


def test_sliced_w_of_densities_matches_samples_translated_alike():
    # a shift by whole cells translates the cell averages (up to the far tails), so with the same
    # directions the densities' projections are translates by <u, s> exactly like the samples'.
    grid = fd.Grid([(-6, 6), (-6, 6)], [80, 80])
    shift = np.array([4, -6]) * grid.spacing[0]
    p, q = gaussian([0.0, 0.0], 1.0), gaussian(shift, 1.0)
    x = np.random.default_rng(0).standard_normal((50, 2))
    by_densities = metrics.sliced_w(p, q, grid, n_projections=64, seed=5)
    by_samples = metrics.sliced_w(x, x + shift, n_projections=64, seed=5)
    assert by_densities == pytest.approx(by_samples, rel=1e-6)


def test_sliced_w_is_reproducible_and_exact_in_one_dimension(rng):
    x, y = rng.standard_normal((500, 3)), rng.standard_normal((700, 3)) * 1.5
    assert metrics.sliced_w(x, y, seed=1) == metrics.sliced_w(x, y, seed=1)
    assert metrics.sliced_w(x, y, seed=1) != metrics.sliced_w(x, y, seed=2)
    a, b = rng.standard_normal(300), rng.exponential(size=200)
    assert metrics.sliced_w(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-12)


# -------------------------------------------------------------------- compare


def test_tv_floor_is_the_expected_tv_of_exact_samples(rng):
    # Monte-Carlo mean of the TV between P and multinomial histograms, over 2000 repetitions; the
    # grid has dense and sparse cells (n P_i from ~1e-3 to ~50), where the normal approximation fails.
    grid = fd.Grid([(-5, 5)], 40)
    dist = gaussian(0.0, 1.0)
    P = grid.cell_average(dist) * grid.cell_volume
    n = 400
    draws = rng.multinomial(n, np.r_[P, 1 - P.sum()], size=2000)[:, :-1]
    tvs = 0.5 * np.sum(np.abs(draws / n - P), axis=1)
    standard_error = tvs.std() / np.sqrt(len(tvs))
    floor = metrics.compare(dist, dist.sample(n, seed=0), grid).tv_floor
    assert abs(floor - tvs.mean()) < 4 * standard_error
    # where every n P_i (1 - P_i) >> 1 it is the normal approximation 1/2 sum sqrt(2 P (1-P) / (pi n))
    coarse = fd.Grid([(-3, 3)], 6)
    P = coarse.cell_average(dist) * coarse.cell_volume
    n = 10**6
    normal = 0.5 * np.sum(np.sqrt(2 * P * (1 - P) / (np.pi * n)))
    assert metrics.compare(dist, np.zeros(n), coarse).tv_floor == pytest.approx(normal, rel=1e-3)


def test_compare_exact_and_shifted_samples():
    grid = fd.Grid([(-6, 6)], 60)
    dist = gaussian(0.0, 1.0)
    good = metrics.compare(dist, dist.sample(5000, seed=1), grid)
    # the TV of exact samples is a sum over ~30 occupied cells of nearly independent |deviations|: its
    # relative spread is about 16% (0.67 to 1.61 x floor over 200 seeds), so [0.5, 2] x its expectation,
    # the floor, is more than 3 standard deviations either side.
    assert 0.5 * good.tv_floor < good.tv < 2 * good.tv_floor
    assert good.w1_kind == "w1" and good.n_samples == 5000 and good.outside == 0.0
    assert good.w1 < 5 * W1_SAMPLING_CONSTANT / np.sqrt(5000)
    shifted = gaussian(0.5, 1.0).sample(5000, seed=2)
    bad = metrics.compare(dist, shifted, grid)
    # TV(N(0,1), N(0.5,1)) = 2 Phi(0.25) - 1 = 0.197, about 7x the floor (0.028 at n = 5000)
    assert bad.tv > 5 * bad.tv_floor
    assert bad.tv == pytest.approx(2 * norm.cdf(0.25) - 1, abs=3 * bad.tv_floor)
    assert bad.w1 == pytest.approx(metrics.w1(dist, shifted, grid), rel=1e-14)
    text = str(bad)
    assert "5000 samples" in text and f"{bad.tv:.4g}" in text and f"{bad.tv_floor:.4g}" in text
    with pytest.raises(AttributeError):
        bad.tv = 0.0  # frozen


def test_compare_in_two_dimensions_with_samples_outside(rng):
    grid = fd.Grid([(-5, 5), (-5, 5)], [40, 40])
    dist = gaussian([0.0, 0.0], 1.0)
    samples = dist.sample(3000, seed=4)
    outside = np.array([[6.0, 0.0], [0.0, -5.5], [7.0, 7.0]])
    result = metrics.compare(dist, np.vstack([samples, outside]), grid)
    assert result.outside == pytest.approx(3 / 3003, rel=1e-14)
    assert result.n_samples == 3003
    assert result.w1_kind == "sliced_w1"
    assert result.tv < 2 * result.tv_floor + 3 / 3003  # the outside samples add their mass to the TV
    # a DensitySolution brings its grid
    solution = fd.DensitySolution(grid, [0.0], grid.cell_average(dist)[None])
    assert metrics.compare(solution, samples) == metrics.compare(dist, samples, grid)
    assert "sliced W1" in str(result)


# --------------------------------------------------------------------- errors


GRID = fd.Grid([(0, 1)], 50)
GOOD = np.ones(50)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: metrics.l1(np.r_[GOOD[:-1], np.nan], GOOD, GRID), r"`p` must be finite; found nan at index \(49,\)"),
        (lambda: metrics.kl(GOOD, GOOD[:-1], GRID), r"`q` must be a density on the grid.*\(50,\).*shape \(49,\)"),
        (lambda: metrics.hellinger(np.r_[GOOD[:-1], -0.1], GOOD, GRID), r"`p` must be a non-negative.*-0\.1"),
        (lambda: metrics.l1(GOOD, GOOD), r"`grid` is needed"),
        (lambda: metrics.l1(GOOD, GOOD, "grid"), r"`grid` must be an fpdiff.Grid; got str"),
        (
            lambda: metrics.l1(fd.DensitySolution(fd.Grid([(0, 2)], 50), [0.0], GOOD[None]), GOOD, GRID),
            r"`p` is a DensitySolution on Grid\(bounds=\[\(0.0, 2.0\)\]",
        ),
        (lambda: metrics.l1(GOOD, gaussian([0, 0], 1.0), GRID), r"`grid` must have 2 dimension"),
        (lambda: metrics.histogram(np.zeros((5, 2)), GRID), r"`samples` must have 1 coordinate.*got shape \(5, 2\)"),
        (lambda: metrics.histogram(np.zeros((0, 1)), GRID), r"`samples` must hold at least one sample"),
        (lambda: metrics.histogram(np.zeros((2, 2, 2)), GRID), r"shape \(M, d\).*got shape \(2, 2, 2\)"),
        (lambda: metrics.w1(np.zeros((5, 2)), np.zeros((5, 3))), r"same dimension; `a` is 2-D and `b` is 3-D"),
        (lambda: metrics.w1(np.zeros((5, 2)), np.zeros((6, 2))), r"equal size.*got 5 and 6 points: use .*sliced_w"),
        (lambda: metrics.w1(np.zeros((2001, 2)), np.zeros((2001, 2))), r"at most 2000.*sliced_w"),
        (
            lambda: metrics.w1(gaussian([0, 0], 1.0), np.zeros((5, 2)), fd.Grid([(0, 1)] * 2, 4)),
            r"both be samples.*got a density and a samples: use .*sliced_w",
        ),
        (lambda: metrics.w1(np.zeros(50), [1.0, 2.0], GRID), r"`a` must have positive mass"),
        (lambda: metrics.sliced_w([1.0], [2.0], p=0.5), r"`p` must be >= 1"),
        (lambda: metrics.sliced_w([1.0], [2.0], n_projections=0), r"`n_projections` must be >= 1"),
        (lambda: metrics.sliced_w([1.0], [2.0], seed="x"), r"`seed` must be"),
        (
            lambda: metrics.compare(fd.ParticleSolution([0.0], np.zeros((1, 3, 1))), [0.5], GRID),
            r"`density` must be a density.*ParticleSolution",
        ),
        (lambda: metrics.compare(GOOD, [[0.5, 0.5]], GRID), r"`samples` must have 1 coordinate"),
        (lambda: metrics.compare(GOOD, [np.inf], GRID), r"`samples` must be finite"),
    ],
)
def test_bad_input_raises_input_error(call, match):
    with pytest.raises(fd.InputError, match=match):
        call()


def test_kl_floor_keeps_negligible_tails_finite():
    grid = fd.Grid([(-10.0, 10.0)], [400])
    p = grid.cell_average(fd.GaussianMixture([1.0], [[0.0]], [1.0]))
    q = p * (1 + 0.01 * np.sin(grid.centers[0]))
    q[np.abs(grid.centers[0]) > 9] = 0.0  # a solver's underflowed tails, where p < 1e-17
    assert metrics.kl(p, q, grid) == np.inf
    inside = np.abs(grid.centers[0]) <= 9
    expected = grid.cell_volume * np.sum(p[inside] * np.log(p[inside] / q[inside]))
    assert metrics.kl(p, q, grid, floor=1e-300) == pytest.approx(expected, rel=1e-6)


def test_w1_floor_is_the_mean_w1_of_exact_samples():
    law = fd.GaussianMixture([0.3, 0.7], [[-1.0], [2.0]], [0.2, 0.5])
    grid = fd.Grid([(-6, 8)], 1400)
    n = 400
    observed = [fd.metrics.w1(law.sample(n, seed=seed), law, grid) for seed in range(200)]
    # the floor is the expectation of W1 up to the normal approximation of the binomial (relative O(n^-1/2));
    # 200 repetitions give the mean to about 1.5% (the W1 spread is ~ 20% of its mean)
    assert fd.metrics.w1_floor(law, grid, n) == pytest.approx(np.mean(observed), rel=0.06)
    with pytest.raises(fd.InputError, match="`grid` must be 1-D"):
        fd.metrics.w1_floor(law, fd.Grid([(-1, 1)] * 2, 4), n)


def _mean_norm_of_gaussian(mean, variance, dim):
    r"""E|Z| for Z ~ N(mean, variance I_d): the noncentral chi mean,
    sqrt(2 variance) Gamma((d+1)/2) / Gamma(d/2) 1F1(-1/2; d/2; -|mean|^2 / (2 variance))."""
    from scipy.special import gammaln, hyp1f1

    scale = np.sqrt(2 * variance) * np.exp(gammaln((dim + 1) / 2) - gammaln(dim / 2))
    return scale * hyp1f1(-0.5, dim / 2, -float(np.sum(np.square(mean))) / (2 * variance))


def test_energy_distance_of_two_gaussians_matches_the_closed_form():
    dim, a, b = 5, 1.0, 1.3
    shift = np.full(dim, 0.2)
    # D^2 = 2E|X-Y| - E|X-X'| - E|Y-Y'| with X-Y ~ N(-shift, (a^2+b^2) I), X-X' ~ N(0, 2a^2 I), Y-Y' ~ N(0, 2b^2 I)
    exact = (2 * _mean_norm_of_gaussian(shift, a**2 + b**2, dim) - _mean_norm_of_gaussian(0, 2 * a**2, dim)
             - _mean_norm_of_gaussian(0, 2 * b**2, dim))
    estimates = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x = a * rng.standard_normal((1500, dim))
        y = shift + b * rng.standard_normal((1200, dim))
        estimates.append(metrics.energy_distance(x, y))
    # the U-statistic is unbiased: the mean of 10 independent estimates within 4 of its standard errors
    assert np.mean(estimates) == pytest.approx(exact, abs=4 * np.std(estimates, ddof=1) / np.sqrt(10))
    assert exact > 10 * np.std(estimates, ddof=1)  # and the closed form is well resolved, not ~0


def test_energy_distance_is_scipys_v_statistic_with_the_diagonal_left_out(rng):
    from scipy.stats import energy_distance as scipy_energy

    x, y = rng.normal(size=300), rng.normal(0.3, 1.2, size=200)
    within = [np.abs(s[:, None] - s[None, :]).sum() / (len(s) * (len(s) - 1)) for s in (x, y)]
    cross = np.abs(x[:, None] - y[None, :]).mean()
    assert metrics.energy_distance(x, y) == pytest.approx(2 * cross - within[0] - within[1], rel=1e-12)
    # scipy's (1-D) sqrt of the V-statistic: the within-set means over all n^2 pairs, the zeros included
    v_statistic = 2 * cross - within[0] * (len(x) - 1) / len(x) - within[1] * (len(y) - 1) / len(y)
    assert scipy_energy(x, y) ** 2 == pytest.approx(v_statistic, rel=1e-10)


def test_energy_distance_of_one_law_straddles_zero_and_bad_input_is_named():
    values = [metrics.energy_distance(np.random.default_rng(s).normal(size=(400, 3)),
                                      np.random.default_rng(s + 100).normal(size=(300, 3))) for s in range(20)]
    assert min(values) < 0 < max(values)  # unbiased: no positive floor for equal laws
    with pytest.raises(fd.InputError, match=r"`b` must have 3 coordinate\(s\)"):
        metrics.energy_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(fd.InputError, match=r"`a` and `b` must hold >= 2 samples each; got 1 and 4"):
        metrics.energy_distance(np.zeros((1, 3)), np.zeros((4, 3)))
