"""Tests of fpdiff.distributions against independent references.

References: scipy.stats densities and CDFs, scipy.integrate quadrature,
finite differences, Monte Carlo (KS tests with fixed seeds) and the
closed-form Ornstein–Uhlenbeck law written out here.
"""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import dblquad, quad
from scipy.special import logsumexp, ndtr

from fpdiff.distributions import Empirical, GaussianMixture
from fpdiff.errors import InputError
from fpdiff.grid import Grid
from fpdiff.processes import OU, VE, VP, Brownian

# KS tests: with a fixed seed, p > 1e-3 fails with probability 1e-3 for a correct sampler
# (once, when the seed is chosen) and almost surely for a wrong one (see the power checks).
KS_P = 1e-3

W1 = np.array([0.2, 0.5, 0.3])
MU1 = np.array([-2.0, 0.5, 3.0])
VAR1 = np.array([0.3, 1.0, 0.05])

W2 = np.array([0.4, 0.6])
MU2 = np.array([[0.0, 0.0], [2.0, -1.0]])
FULL2 = np.array([[[1.0, 0.6], [0.6, 2.0]], [[0.5, -0.2], [-0.2, 0.3]]])


@pytest.fixture
def mix1d():
    return GaussianMixture(W1, MU1, VAR1)


@pytest.fixture
def mix2d():
    return GaussianMixture(W2, MU2, FULL2)


def mixture_cdf_1d(weights, means, variances):
    return lambda x: np.sum(weights * ndtr((np.asarray(x)[..., None] - means) / np.sqrt(variances)), axis=-1)


def reference_logpdf(weights, means, covs, x):
    """log p by scipy.stats.multivariate_normal, one component at a time."""
    logs = [np.log(w) + stats.multivariate_normal(m, c).logpdf(x) for w, m, c in zip(weights, means, covs)]
    return logsumexp(np.reshape(logs, (len(weights), -1)), axis=0)


# ----------------------------------------------------------------------- density


def test_pdf_integrates_to_one_1d(mix1d):
    total, err = quad(lambda x: mix1d.pdf(np.array([x]))[0], -40, 40, points=list(MU1), limit=200, epsabs=1e-13)
    assert total == pytest.approx(1.0, abs=1e-10)


def test_pdf_integrates_to_one_2d(mix2d):
    grid = Grid([(-12, 14), (-12, 12)], [260, 240])
    assert grid.integrate(grid.quadrature_average(mix2d.pdf, 4)) == pytest.approx(1.0, abs=1e-10)


def test_logpdf_matches_scipy_and_log_pdf(mix1d, mix2d, rng):
    x1 = rng.normal(0, 3, size=50)
    expected = reference_logpdf(W1, MU1[:, None], VAR1[:, None, None], x1)
    np.testing.assert_allclose(mix1d.logpdf(x1), expected, rtol=1e-12)
    np.testing.assert_allclose(np.log(mix1d.pdf(x1)), mix1d.logpdf(x1), rtol=1e-12)
    x2 = rng.normal(0, 3, size=(50, 2))
    np.testing.assert_allclose(mix2d.logpdf(x2), reference_logpdf(W2, MU2, FULL2, x2), rtol=1e-12)
    np.testing.assert_allclose(np.log(mix2d.pdf(x2)), mix2d.logpdf(x2), rtol=1e-12)
    assert mix2d.logpdf(x2).shape == (50,)
    assert mix2d.pdf(x2[0]).shape == (1,)  # a 1-D x is one point when d > 1


@pytest.mark.parametrize("which", ["mix1d", "mix2d"])
def test_score_matches_finite_differences(which, request, rng):
    mix = request.getfixturevalue(which)
    x = rng.normal(0.5, 2, size=(40, mix.dim))
    h = 1e-5
    fd = np.empty_like(x)
    for i in range(mix.dim):
        e = np.zeros(mix.dim)
        e[i] = h
        fd[:, i] = (mix.logpdf(x + e) - mix.logpdf(x - e)) / (2 * h)
    score = mix.score(x)
    assert score.shape == x.shape
    # central differences: truncation O(h^2 |f'''|) ~ 1e-8, round-off ~ eps |log p| / h ~ 1e-10
    np.testing.assert_allclose(score, fd, rtol=1e-6, atol=1e-6)


def _dominating_score(weights, means, covs, x):
    logs = [np.log(w) + stats.multivariate_normal(m, c).logpdf(x) for w, m, c in zip(weights, means, covs)]
    k = int(np.argmax(logs))
    return -np.linalg.inv(covs[k]) @ (x - means[k]), logsumexp(logs)


@pytest.mark.parametrize("x", [-1e3, 1e3])
def test_tail_stability_1d(mix1d, x):
    covs = VAR1[:, None, None]
    expected, expected_log = _dominating_score(W1, MU1[:, None], covs, np.array([x]))
    score, logp = mix1d.score([x]), mix1d.logpdf([x])
    assert np.all(np.isfinite(score)) and np.all(np.isfinite(logp))
    assert mix1d.pdf([x])[0] == 0.0  # underflows, as it should
    np.testing.assert_allclose(score[0], expected, rtol=1e-12)
    np.testing.assert_allclose(logp[0], expected_log, rtol=1e-12)


@pytest.mark.parametrize("x", [(1e3, 1e3), (-1e3, 0.0), (0.0, -1e3), (1e3, -1e3)])
def test_tail_stability_2d(mix2d, x):
    x = np.array(x)
    expected, expected_log = _dominating_score(W2, MU2, FULL2, x)
    score, logp = mix2d.score(x[None]), mix2d.logpdf(x[None])
    assert np.all(np.isfinite(score)) and np.all(np.isfinite(logp))
    np.testing.assert_allclose(score[0], expected, rtol=1e-10)
    np.testing.assert_allclose(logp[0], expected_log, rtol=1e-12)


def test_many_components_match_direct_computation(rng):
    # enough components that the evaluation runs over several blocks of components
    K, M = 3000, 1000
    weights = rng.uniform(0.5, 1.5, K)
    weights /= weights.sum()
    means = rng.normal(0, 5, (K, 1))
    variances = rng.uniform(0.01, 0.5, K)
    mix = GaussianMixture(weights, means, variances)
    x = np.concatenate([rng.normal(0, 6, M - 2), [-1e3, 1e3]])[:, None]
    logs = np.log(weights) - 0.5 * (x - means[:, 0]) ** 2 / variances - 0.5 * np.log(2 * np.pi * variances)
    expected_log = logsumexp(logs, axis=1)
    resp = np.exp(logs - expected_log[:, None])
    expected_score = np.sum(resp * (-(x - means[:, 0]) / variances), axis=1)
    np.testing.assert_allclose(mix.logpdf(x), expected_log, rtol=1e-12)
    np.testing.assert_allclose(mix.score(x)[:, 0], expected_score, rtol=1e-9, atol=1e-9)


def test_parametrisations_of_the_same_law_agree(rng):
    weights, means = [0.3, 0.7], [[0.0, 1.0], [-1.5, 0.5]]
    iso = GaussianMixture(weights, means, [0.5, 2.0])
    diag = GaussianMixture(weights, means, [[0.5, 0.5], [2.0, 2.0]])
    full = GaussianMixture(weights, means, [np.diag([0.5, 0.5]), np.diag([2.0, 2.0])])
    assert (iso.covariance_kind, diag.covariance_kind, full.covariance_kind) == ("isotropic", "diagonal", "full")
    x = np.concatenate([rng.normal(0, 3, (30, 2)), [[1e3, -1e3], [-1e3, 2.0]]])
    grid = Grid([(-8, 8), (-7, 9)], [32, 40])
    for other in (diag, full):
        np.testing.assert_allclose(other.covariances, iso.covariances, rtol=0, atol=0)
        np.testing.assert_allclose(other.pdf(x), iso.pdf(x), rtol=1e-13)
        np.testing.assert_allclose(other.logpdf(x), iso.logpdf(x), rtol=1e-13)
        np.testing.assert_allclose(other.score(x), iso.score(x), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(other.cell_average(grid), iso.cell_average(grid), rtol=1e-13, atol=1e-300)
    # diagonal (non-isotropic) versus the same matrices given in full
    diag2 = GaussianMixture(weights, means, [[0.5, 0.2], [2.0, 0.7]])
    full2 = GaussianMixture(weights, means, [np.diag([0.5, 0.2]), np.diag([2.0, 0.7])])
    np.testing.assert_allclose(full2.score(x), diag2.score(x), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(full2.cell_average(grid), diag2.cell_average(grid), rtol=1e-13, atol=1e-300)
    # in one dimension a (K,) array is isotropic, (K, 1) diagonal, (K, 1, 1) full: one law
    one = [GaussianMixture(W1, MU1, c) for c in (VAR1, VAR1[:, None], VAR1[:, None, None])]
    assert [m.covariance_kind for m in one] == ["isotropic", "diagonal", "full"]
    x1 = rng.normal(0, 3, 20)
    for m in one[1:]:
        np.testing.assert_allclose(m.score(x1), one[0].score(x1), rtol=1e-13)


def test_mixture_moments(mix2d):
    mean = W2 @ MU2
    cov = sum(w * (c + np.outer(m - mean, m - mean)) for w, m, c in zip(W2, MU2, FULL2))
    np.testing.assert_allclose(mix2d.mean(), mean, rtol=1e-14)
    np.testing.assert_allclose(mix2d.covariance(), cov, rtol=1e-14)


# ---------------------------------------------------------------------- sampling


def test_sample_ks_1d(mix1d):
    samples = mix1d.sample(20_000, seed=11)
    assert samples.shape == (20_000, 1)
    cdf = mixture_cdf_1d(W1, MU1, VAR1)
    assert stats.kstest(samples[:, 0], cdf).pvalue > KS_P
    # power check: the same test rejects a slightly wrong law (means shifted by 0.1)
    wrong = mixture_cdf_1d(W1, MU1 + 0.1, VAR1)
    assert stats.kstest(samples[:, 0], wrong).pvalue < KS_P


def test_sample_moments_2d(mix2d):
    n = 200_000
    samples = mix2d.sample(n, seed=5)
    assert samples.shape == (n, 2)
    mean, cov = mix2d.mean(), mix2d.covariance()
    # 5 standard errors (estimated from the samples themselves): ~6e-7 false-alarm rate per entry
    assert np.all(np.abs(samples.mean(axis=0) - mean) < 5 * np.sqrt(np.diag(cov) / n))
    centred = samples - mean
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(axis=0) / math.sqrt(n)
    assert np.all(np.abs(products.mean(axis=0) - cov) < 5 * se)


def test_sample_reproducible(mix2d):
    np.testing.assert_array_equal(mix2d.sample(100, seed=3), mix2d.sample(100, seed=3))
    assert not np.array_equal(mix2d.sample(100, seed=3), mix2d.sample(100, seed=4))
    assert mix2d.sample(0, seed=1).shape == (0, 2)


# --------------------------------------------------------------------- evolution


@pytest.mark.parametrize("process, t", [(OU(1.0, 2**0.5), 0.3), (VP(0.1, 20.0), 0.2), (VE(0.01, 50.0), 0.4)])
def test_evolve_matches_monte_carlo_1d(mix1d, process, t):
    n = 20_000
    x0 = mix1d.sample(n, seed=21)
    xt = process.sample_transition(x0, t, seed=22)
    evolved = mix1d.evolve(process, t)
    cdf = mixture_cdf_1d(evolved.weights, evolved.means[:, 0], evolved.covariances[:, 0, 0])
    assert stats.kstest(xt[:, 0], cdf).pvalue > KS_P
    # power check: the law at t = 0 is clearly rejected
    assert stats.kstest(xt[:, 0], mixture_cdf_1d(W1, MU1, VAR1)).pvalue < KS_P


def test_evolve_matches_monte_carlo_moments_2d(mix2d):
    n, t, process = 200_000, 0.5, VP(0.1, 20.0)
    xt = process.sample_transition(mix2d.sample(n, seed=1), t, seed=2)
    evolved = mix2d.evolve(process, t)
    mean, cov = evolved.mean(), evolved.covariance()
    # 5 standard errors, as in test_sample_moments_2d
    assert np.all(np.abs(xt.mean(axis=0) - mean) < 5 * np.sqrt(np.diag(cov) / n))
    centred = xt - mean
    products = centred[:, :, None] * centred[:, None, :]
    assert np.all(np.abs(products.mean(axis=0) - cov) < 5 * products.std(axis=0) / math.sqrt(n))


@pytest.mark.parametrize("kind", ["isotropic", "diagonal", "full"])
def test_evolve_single_gaussian_under_ou(kind):
    beta, sigma, s2, t = 0.5, 1.3, 0.7, 0.8
    covs = {"isotropic": [s2], "diagonal": [[s2, s2]], "full": [s2 * np.eye(2)]}[kind]
    dist = GaussianMixture([1.0], [[0.0, 0.0]], covs)
    evolved = dist.evolve(OU(beta, sigma), t)
    alpha = math.exp(-beta * t)
    v = sigma**2 / (2 * beta) * (1 - math.exp(-2 * beta * t))
    assert evolved.covariance_kind == kind
    np.testing.assert_allclose(evolved.covariances[0], (alpha**2 * s2 + v) * np.eye(2), rtol=1e-14)
    np.testing.assert_array_equal(evolved.means, [[0.0, 0.0]])


def test_evolve_means_and_full_covariances(mix2d):
    process, t = Brownian(0.7), 0.9
    evolved = mix2d.evolve(process, t)
    np.testing.assert_allclose(evolved.means, MU2, rtol=1e-15)
    np.testing.assert_allclose(evolved.covariances, FULL2 + 0.49 * 0.9 * np.eye(2), rtol=1e-14)
    np.testing.assert_array_equal(evolved.weights, mix2d.weights)


def test_evolve_at_zero_is_the_same_law(mix1d, mix2d, rng):
    for mix in (mix1d, mix2d):
        same = mix.evolve(OU(), 0.0)
        assert same is not mix
        x = rng.normal(size=(10, mix.dim))
        np.testing.assert_array_equal(same.logpdf(x), mix.logpdf(x))
        assert same.covariance_kind == mix.covariance_kind


# ------------------------------------------------------------------ cell averages


def test_cell_average_has_mass_one_on_a_wide_grid(mix1d, mix2d):
    g1 = Grid([(-12, 12)], [300])
    assert g1.integrate(mix1d.cell_average(g1)) == pytest.approx(1.0, abs=1e-13)
    diag = GaussianMixture(W2, MU2, [[1.0, 2.0], [0.5, 0.3]])
    g2 = Grid([(-12, 14), (-12, 12)], [130, 120])
    assert g2.integrate(diag.cell_average(g2)) == pytest.approx(1.0, abs=1e-13)
    # correlated covariances go through 6-point quadrature
    assert g2.integrate(mix2d.cell_average(g2)) == pytest.approx(1.0, abs=1e-10)
    assert g2.cell_average(mix2d).shape == (130, 120)


@pytest.mark.parametrize(
    "covs", [[0.5, 2.0], [[0.5, 0.3], [2.0, 0.8]]], ids=["isotropic", "diagonal"]
)
def test_cell_average_matches_fine_quadrature(covs):
    mix = GaussianMixture([0.3, 0.7], [[0.0, 1.0], [-1.5, 0.5]], covs)
    grid = Grid([(-8, 8), (-7, 9)], [80, 64])
    exact = mix.cell_average(grid)
    # 8-point Gauss–Legendre: error O((h/s)^16), far below 1e-10 for h = 0.25, s >= 0.5
    np.testing.assert_allclose(exact, grid.quadrature_average(mix.pdf, 8), rtol=0, atol=1e-10 * exact.max())


def test_cell_average_correlated_against_dblquad(mix2d):
    grid = Grid([(-6, 8), (-7, 6)], [28, 26])
    averages = mix2d.cell_average(grid)
    (x_edges, y_edges), volume = grid.edges, grid.cell_volume
    for i, j in [(12, 14), (16, 11), (10, 10), (3, 20), (20, 5)]:
        integral, _ = dblquad(
            lambda y, x: mix2d.pdf(np.array([[x, y]]))[0],
            x_edges[i], x_edges[i + 1], y_edges[j], y_edges[j + 1],
            epsabs=0, epsrel=1e-12,
        )
        # quadrature with 6 nodes per axis in cells of width 0.5 against sd >= 0.5: error ~1e-9 relative
        assert averages[i, j] == pytest.approx(integral / volume, rel=1e-7, abs=0)


@pytest.mark.parametrize("side", [1, -1])
def test_cell_average_accurate_in_the_tails(side):
    mean, sd = 0.7, 0.4
    mix = GaussianMixture([1.0], [[mean, -0.2]], [[sd**2, 1.0]])
    grid = Grid([(mean - 15 * sd, mean + 15 * sd), (-3.2, 2.8)], [300, 4])
    h = grid.spacing[0]
    averages = mix.cell_average(grid)
    i = int(np.searchsorted(grid.edges[0], mean + side * 12 * sd))  # a cell starting ~12 sd from the mean
    lo, hi = grid.edges[0][i], grid.edges[0][i + 1]
    assert abs(lo - mean) / sd > 11.9
    ref_x, _ = quad(lambda x: stats.norm.pdf(x, mean, sd), lo, hi, epsabs=0, epsrel=1e-13)
    y_edges = grid.edges[1]  # second axis: cell 1 is (-1.7, -0.2), within 1.5 sd of its mean
    ref_y = quad(lambda y: stats.norm.pdf(y, -0.2, 1.0), y_edges[1], y_edges[2], epsabs=0, epsrel=1e-13)[0]
    expected = ref_x / h * ref_y / grid.spacing[1]
    assert expected > 0 and expected < 1e-25
    assert averages[i, 1] == pytest.approx(expected, rel=1e-9, abs=0)


def test_cell_average_rejects_wrong_grid(mix1d):
    with pytest.raises(InputError, match="`grid`"):
        mix1d.cell_average(Grid([(-1, 1), (-1, 1)], [4, 4]))
    with pytest.raises(InputError, match="`grid`"):
        mix1d.cell_average("not a grid")


# ---------------------------------------------------------------------- Empirical


def test_empirical_basics(rng):
    pts = rng.normal(size=(50, 2))
    emp = Empirical(pts)
    assert (emp.dim, emp.n_points) == (2, 50)
    np.testing.assert_allclose(emp.mean(), pts.mean(axis=0))
    draw = emp.sample(500, seed=4)
    assert draw.shape == (500, 2)
    assert all(any(np.array_equal(d, p) for p in pts) for d in draw[:50])
    np.testing.assert_array_equal(draw, emp.sample(500, seed=4))
    assert Empirical([0.0, 1.0, 2.0]).dim == 1


def test_empirical_evolve_is_the_kernel_mixture(rng):
    pts = rng.normal(size=(6, 2))
    emp = Empirical(pts)
    process, t = OU(0.5, 1.3), 0.4
    mix = emp.evolve(process, t)
    alpha = math.exp(-0.5 * t)
    v = 1.3**2 / (2 * 0.5) * (1 - math.exp(-2 * 0.5 * t))
    assert isinstance(mix, GaussianMixture) and mix.covariance_kind == "isotropic"
    np.testing.assert_allclose(mix.weights, np.full(6, 1 / 6), rtol=1e-15)
    np.testing.assert_allclose(mix.means, alpha * pts, rtol=1e-15)
    np.testing.assert_allclose(mix.covariances, np.broadcast_to(v * np.eye(2), (6, 2, 2)), rtol=1e-14)
    x = rng.normal(size=(10, 2))
    direct = np.mean([stats.multivariate_normal(alpha * p, v * np.eye(2)).pdf(x) for p in pts], axis=0)
    np.testing.assert_allclose(mix.pdf(x), direct, rtol=1e-12)
    assert emp.evolve(process, 0.0) is emp


def test_empirical_cell_average_is_the_histogram():
    emp = Empirical([0.05, 0.05, 0.15, 0.95, 1.0])  # 1.0 lies on the upper bound: inside
    grid = Grid([(0.0, 1.0)], [10])
    values = emp.cell_average(grid)
    expected = np.zeros(10)
    expected[0], expected[1], expected[9] = 2, 1, 2
    np.testing.assert_allclose(values, expected / (5 * 0.1), rtol=1e-13)
    assert grid.integrate(values) == pytest.approx(1.0, rel=1e-14)


def test_empirical_cell_average_mass_one_2d(rng):
    emp = Empirical(rng.uniform(-1, 1, size=(1000, 2)))
    grid = Grid([(-1, 1), (-1, 1)], [7, 9])
    assert grid.integrate(emp.cell_average(grid)) == pytest.approx(1.0, rel=1e-13)


def test_empirical_outside_point_raises():
    emp = Empirical([[0.0, 0.0], [0.5, 2.5], [3.0, 0.1]])
    with pytest.raises(InputError, match=r"2 of 3 lie outside.*points\[1\] = \[0\.5, 2\.5\]"):
        emp.cell_average(Grid([(-1, 1), (-1, 1)], [4, 4]))


@pytest.mark.parametrize("method", ["pdf", "logpdf", "score"])
def test_empirical_has_no_density(method):
    with pytest.raises(InputError, match="evolve"):
        getattr(Empirical([0.0, 1.0]), method)(np.zeros((3, 1)))


# -------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "args, pattern",
    [
        (([0.5, 0.4], [0.0, 1.0], [1.0, 1.0]), r"`weights`.*sum to 0\.9"),
        (([0.5, 0.5 + 1e-6], [0.0, 1.0], [1.0, 1.0]), r"`weights`.*sum"),
        (([1.2, -0.2], [0.0, 1.0], [1.0, 1.0]), r"`weights` must be positive.*-0\.2"),
        (([1.0, 0.0], [0.0, 1.0], [1.0, 1.0]), r"`weights` must be positive"),
        (([[1.0]], [0.0], [1.0]), r"`weights`.*\(K,\)"),
        (([np.nan, 1.0], [0.0, 1.0], [1.0, 1.0]), r"`weights` must be finite"),
        (([0.5, 0.5], [0.0, np.nan], [1.0, 1.0]), r"`means` must be finite"),
        (([0.5, 0.5], [0.0, 1.0], [1.0, np.inf]), r"`covs` must be finite"),
        (([0.5, 0.5], [0.0, 1.0, 2.0], [1.0, 1.0]), r"`means`.*K = 2.*\(3,\)"),
        (([1.0], [0.0, 0.0], [1.0]), r"`means`"),
        (([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [1.0, 1.0, 1.0]), r"`covs` must have shape.*got shape \(3,\)"),
        (([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [[1.0, 1.0, 1.0]] * 2), r"`covs` must have shape"),
        (([0.5, 0.5], [0.0, 1.0], [1.0, -1.0]), r"`covs`.*positive.*-1"),
        (([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]), r"`covs`.*positive.*0\.0"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]]), r"`covs` must be positive definite.*covs\[0\]"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 0.0]]]), r"`covs` must be positive definite"),
        (([1.0], [[0.0, 0.0]], [[[1.0, 0.5], [0.4, 1.0]]]), r"`covs` must be symmetric.*covs\[0\]"),
        ((["a", "b"], [0.0, 1.0], [1.0, 1.0]), r"`weights`"),
    ],
)
def test_bad_mixture_inputs(args, pattern):
    with pytest.raises(InputError, match=pattern):
        GaussianMixture(*args)


def test_weights_within_tolerance_are_renormalised():
    mix = GaussianMixture([0.5, 0.5 + 1e-12], [0.0, 1.0], [1.0, 1.0])
    assert abs(mix.weights.sum() - 1.0) <= 2e-16


def test_inputs_are_copied_not_frozen():
    means = np.array([[0.0, 1.0]])
    mix = GaussianMixture([1.0], means, [1.0])
    means[0, 0] = 5.0  # the caller's array stays writeable and the mixture is unaffected
    assert mix.means[0, 0] == 0.0
    with pytest.raises(ValueError):
        mix.means[0, 0] = 1.0


def test_bad_call_arguments(mix2d):
    with pytest.raises(InputError, match="`x`"):
        mix2d.pdf(np.zeros((3, 3)))
    with pytest.raises(InputError, match="`x`"):
        mix2d.score([[np.nan, 0.0]])
    with pytest.raises(InputError, match="`n`"):
        mix2d.sample(-1)
    with pytest.raises(InputError, match="`n`"):
        mix2d.sample(2.5)
    with pytest.raises(InputError, match="`t`"):
        mix2d.evolve(OU(), -0.1)
    with pytest.raises(InputError, match="`process`"):
        mix2d.evolve("OU", 0.1)
    with pytest.raises(InputError, match="`points`"):
        Empirical([[0.0, np.nan]])
    with pytest.raises(InputError, match="`points`"):
        Empirical(np.zeros((0, 2)))
    with pytest.raises(InputError, match="`process`"):
        Empirical([0.0]).evolve(None, 0.5)


def test_repr(mix2d):
    assert repr(mix2d).startswith("GaussianMixture(weights=[0.4, 0.6]")
    assert "3 components" in repr(GaussianMixture([1 / 3] * 3, np.zeros((3, 5)), [1.0] * 3))
    assert "2 points" in repr(Empirical([0.0, 1.0]))
