"""Random time reversal: Green's functions, the homogeneous score, and the stopped particle sampler.

References: the closed forms of G_r (module docstring of fpdiff.homogeneous.green), adaptive quadrature of
int e^{-rt} p_t dt (scipy.integrate.quad), scipy.special.kve, finite differences, the exact output law
G_r(x_i -> x) / sum_j G_r(x_j -> x) (hitting oracle), and uniformity of the output from the law of X_zeta.
"""

import numba
import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad
from scipy.special import kve

import fpdiff as fd
from fpdiff.errors import InputError
from fpdiff.homogeneous import (HomogeneousScore, grad_log_green, green, invariant_log_density, log_green,
                                sample_homogeneous)
from fpdiff.homogeneous._kernels import log_bessel_k_scaled
from fpdiff.homogeneous.green import green_nodes

BROWNIAN = fd.Brownian(1.0)
OU = fd.OU(beta=1.3, sigma=0.8)


def quadrature_green(process, r, x, y):
    """int_0^inf e^{-rt} p_t(y -> x) dt by adaptive quadrature (the independent reference)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    d = len(x)

    def integrand(t):
        a, v = float(process.alpha(t)), float(process.variance(t))
        return np.exp(-r * t - np.sum((x - a * y) ** 2) / (2 * v) - 0.5 * d * np.log(2 * np.pi * v))

    peak = np.sum((x - y) ** 2) / (d * process.diffusion_constant**2)  # where p_t peaks at short times: a break point
    return quad(integrand, 0, peak, epsabs=0, epsrel=1e-13, limit=200)[0] + \
        quad(integrand, peak, np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]


# --------------------------------------------------------------------------- Green's functions


@pytest.mark.parametrize("process, dims", [(BROWNIAN, (1, 2, 3, 5, 10)), (fd.Brownian(0.6), (2, 3)),
                                           (OU, (1, 2, 3, 5, 10))])
def test_green_matches_adaptive_quadrature(process, dims, rng):
    # relative error of the closed form (Brownian) / the log-time trapezoidal rule (OU): documented < 1e-9
    for d in dims:
        for r in (0.3, 2.0):
            for scale in (0.05, 1.0, 4.0):
                x, y = scale * rng.normal(size=d) / np.sqrt(d), 0.5 * rng.normal(size=d)
                reference = quadrature_green(process, r, x, y)
                assert green(process, r, x, y) == pytest.approx(reference, rel=1e-9), (d, r, scale)


@pytest.mark.parametrize("sigma", [1.0, 0.6, 2.5])
def test_brownian_green_closed_forms_in_one_and_three_dimensions(sigma, rng):
    # sigma scaling: G^sigma_r = sigma^-2 G^1_{r/sigma^2}, i.e. kappa = sqrt(2r)/sigma
    r = 0.7
    kappa = np.sqrt(2 * r) / sigma
    for d, closed in ((1, lambda rho: np.exp(-kappa * rho) / (kappa * sigma**2)),
                      (3, lambda rho: np.exp(-kappa * rho) / (2 * np.pi * sigma**2 * rho))):
        x, y = rng.normal(size=(7, d)), rng.normal(size=(7, d))
        rho = np.linalg.norm(x - y, axis=1)
        np.testing.assert_allclose(green(fd.Brownian(sigma), r, x, y), closed(rho), rtol=1e-13)
    unit = green(fd.Brownian(1.0), r / sigma**2, x, y) / sigma**2
    np.testing.assert_allclose(green(fd.Brownian(sigma), r, x, y), unit, rtol=1e-13)


@pytest.mark.parametrize("d", [1, 2, 3, 5, 10, 20])
def test_log_time_quadrature_matches_bessel_form(d):
    # the rule OU relies on, against the exact Brownian form, from kappa rho = 1e-3 to 300 (underflow-free logs)
    r, y = 0.5, np.zeros(d)
    x = np.zeros((8, d))
    x[:, 0] = np.geomspace(1e-3, 300, 8)
    np.testing.assert_allclose(log_green(BROWNIAN, r, x, y, method="quadrature"), log_green(BROWNIAN, r, x, y),
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(grad_log_green(BROWNIAN, r, x, y, method="quadrature"),
                               grad_log_green(BROWNIAN, r, x, y), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("process", [BROWNIAN, OU])
@pytest.mark.parametrize("d", [1, 2, 3, 10])
def test_grad_log_green_matches_finite_differences(process, d, rng):
    r, eps = 0.8, 1e-6
    x, y = rng.normal(size=(4, d)), rng.normal(size=(4, d))
    difference = np.stack([(log_green(process, r, x + eps * e, y) - log_green(process, r, x - eps * e, y)) / (2 * eps)
                           for e in np.eye(d)], axis=-1)
    # central differences: truncation eps^2 |g'''| ~ 1e-12, round-off 1e-16 |log G| / eps ~ 1e-10
    np.testing.assert_allclose(grad_log_green(process, r, x, y), difference, rtol=1e-7, atol=1e-8)


def test_green_at_the_pole_and_far_away():
    r = 1.0
    assert log_green(BROWNIAN, r, [0.0, 0.0], [0.0, 0.0]) == np.inf  # points are polar for d >= 2
    np.testing.assert_array_equal(grad_log_green(BROWNIAN, r, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]), 0.0)
    assert np.isfinite(log_green(BROWNIAN, r, [0.0], [0.0]))  # d = 1: finite
    far = log_green(BROWNIAN, r, [2000.0, 0.0, 0.0], [0.0, 0.0, 0.0])  # G underflows, its log does not
    assert far == pytest.approx(-np.sqrt(2 * r) * 2000.0 - np.log(2 * np.pi * 2000.0), rel=1e-14)


def test_invariant_log_density():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    np.testing.assert_array_equal(invariant_log_density(BROWNIAN, x), 0.0)
    expected = stats.multivariate_normal(np.zeros(2), OU.stationary_variance).logpdf(x)
    np.testing.assert_allclose(invariant_log_density(OU, x), expected, rtol=1e-14)


def test_numba_bessel_matches_scipy_kve():
    # the kernel's series (z <= 2), continued fraction (z > 2) and ratio recurrence, against scipy
    z = np.geomspace(1e-6, 1e3, 301)
    for two_nu in range(-1, 21):
        nu = two_nu / 2
        values = np.array([log_bessel_k_scaled(two_nu, v) for v in z])
        np.testing.assert_allclose(values[:, 0], np.log(kve(nu, z)), rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(values[:, 1], kve(nu + 1, z) / kve(nu, z), rtol=1e-13)


# --------------------------------------------------------------------------- the score


@pytest.mark.parametrize("process", [BROWNIAN, fd.Brownian(0.7), OU])
@pytest.mark.parametrize("d", [2, 3, 5, 20])
def test_score_kernel_matches_numpy_reference(process, d, rng):
    # the kernel's quadrature for OU is the numpy rule itself (the default table: test_ou_table_*)
    points, x = rng.normal(size=(6, d)), 1.5 * rng.normal(size=(40, d))
    score = HomogeneousScore(process, points, 0.6, method="quadrature" if process is OU else None)
    np.testing.assert_allclose(score(x), score.reference_score(x), rtol=1e-10, atol=1e-12)
    # log htilde = log((r/n) sum_i G_r(x_i -> x)) - log m(x), from the numpy Green's function
    log_f = np.log(0.6 / 6) + np.log(np.sum(np.exp(score.log_green_matrix(x)), axis=1))
    np.testing.assert_allclose(score.log_density(x), log_f - invariant_log_density(process, x), rtol=1e-11)
    distance, nearest = score.nearest(x)
    all_distances = np.linalg.norm(x[:, None] - points[None], axis=2)
    np.testing.assert_array_equal(nearest, all_distances.argmin(axis=1))
    np.testing.assert_allclose(distance, all_distances.min(axis=1), rtol=1e-12)


def test_score_is_the_gradient_of_its_log_density(rng):
    score = HomogeneousScore(OU, rng.normal(size=(5, 3)), 0.9)
    x, eps = rng.normal(size=(10, 3)), 1e-6
    difference = np.stack([(score.log_density(x + eps * e) - score.log_density(x - eps * e)) / (2 * eps)
                           for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(score(x), difference, rtol=1e-6, atol=1e-7)


def test_score_far_from_the_data_is_finite():
    # kappa rho ~ 1e4: each G underflows, the log-sum-exp does not
    score = HomogeneousScore(BROWNIAN, [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], 2.0)
    value = score([[1e4, 0.0, 0.0]])
    # d = 3: grad log G_i = -(kappa + 1/rho_i) (unit vector); the weights G_i ~ e^{-kappa rho_i}/rho_i
    rho = np.array([1e4, 1e4 - 1.0])
    weights = np.exp(-2.0 * (rho - rho[1])) / rho
    expected = -np.sum(weights * (2.0 + 1.0 / rho)) / weights.sum()
    assert value[0, 0] == pytest.approx(expected, rel=1e-12) and np.all(value[0, 1:] == 0.0)


def test_hitting_probabilities_rows():
    score = HomogeneousScore(BROWNIAN, [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], 1.0)
    probabilities = score.hitting_probabilities([[0.2, 0.1], [1.0, 0.0]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probabilities[1], [0.0, 1.0, 0.0])  # a start at a data point stays there
    assert probabilities[0].argmax() == 0


# --------------------------------------------------------------------------- the OU table


def around(y, scale, low, high, count, rng):
    """``count`` points at log-uniform distances ``scale * [low, high]`` from ``y`` (1, d), random directions."""
    direction = rng.normal(size=(count, y.shape[1]))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return y + scale * 10 ** rng.uniform(np.log10(low), np.log10(high), (count, 1)) * direction


def table_log_green(score, x):
    """log G_r(x_1 -> x) from the kernel of a one-point score: log htilde = log(r G) - log m."""
    return score.log_density(x) - np.log(score.r) + invariant_log_density(score.process, x)


@pytest.mark.parametrize("d", [2, 3, 10, 20])
@pytest.mark.parametrize("rate_ratio", [0.2, 5.0])
def test_ou_table_matches_the_quadrature(d, rate_ratio, rng):
    # the documented bounds (fpdiff.homogeneous.table): log G_r to 1e-7 absolute and grad log(G_r/m), the score's
    # term for a pair, to 1e-5 relative, from 1e-5 s to 6 s (inside the default table), against the numpy
    # log-time rule (within 1e-9 of adaptive quadrature: test_green_matches_adaptive_quadrature)
    r, spread = rate_ratio * OU.beta, np.sqrt(OU.stationary_variance)
    y = spread * rng.normal(size=(1, d))
    x = around(y, spread, 1e-5, 6.0, 300, rng)
    score = HomogeneousScore(OU, y, r)
    assert score.method == "table"
    np.testing.assert_allclose(table_log_green(score, x), log_green(OU, r, x, y), rtol=0, atol=1e-7)
    expected = grad_log_green(OU, r, x, y) + x / OU.stationary_variance
    error = np.linalg.norm(score(x) - expected, axis=1) / np.linalg.norm(expected, axis=1)
    assert error.max() < 1e-5


def test_ou_table_matches_adaptive_quadrature():
    # independent of the log-time rules: scipy's adaptive quadrature of int e^{-rt} p_t dt, including the kink of
    # log G at x . y = 0 for large |x| = |y| (section "Why these variables" of fpdiff.homogeneous.table)
    spread = np.sqrt(OU.stationary_variance)
    for d, r, x, y in [(2, 0.6, [0.3, -0.2], [0.1, 0.05]), (3, 2.0, [1.5, 0.0, 0.0], [0.0, 1.5, 0.0]),
                       (5, 0.3, [2.0, 0.4, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.1, 0.0, 0.0]),
                       (10, 1.0, 0.3 * np.ones(10), 0.25 * np.ones(10))]:
        x, y = np.array(x, float), np.array(y, float)
        score = HomogeneousScore(OU, y[None], r)
        reference = quadrature_green(OU, r, x, y)
        assert np.exp(table_log_green(score, x[None])[0]) == pytest.approx(reference, rel=1e-7), (d, x / spread)


def test_ou_table_falls_back_to_the_quadrature_outside_its_range(rng):
    points = rng.normal(size=(4, 3))
    table = HomogeneousScore(OU, points, 0.6)
    quadrature = HomogeneousScore(OU, points, 0.6, method="quadrature")
    far = np.array([[3.0 * table.max_distance, 0.0, 0.0]])  # every pair beyond max_distance
    np.testing.assert_allclose(table(far), quadrature(far), rtol=1e-12)
    np.testing.assert_allclose(table.log_density(far), quadrature.log_density(far), rtol=1e-13)


def test_ou_sampler_takes_the_same_paths_with_the_table_and_the_quadrature():
    # the same noise; the scores differ by < 1e-5 relative, far below the time-step bias: the same ends
    process, points = fd.OU(1.0, 2**0.5), five_points(3, seed=2)
    ends = [sample_homogeneous(process, HomogeneousScore(process, points, 1.0, method=method), "data", n_paths=150,
                               seed=4) for method in ("table", "quadrature")]
    assert np.mean(ends[0].reached == ends[1].reached) >= 0.99
    assert np.median(np.linalg.norm(ends[0].samples - ends[1].samples, axis=1)) < 1e-8


# --------------------------------------------------------------------------- the sampler


def five_points(d, seed=0):
    return np.random.default_rng(seed).normal(size=(5, d))


def chi_square_p_value(counts, probabilities):
    """Pearson's test of multinomial counts against probabilities (expected counts >= 5 here)."""
    expected = counts.sum() * probabilities
    return stats.chisquare(counts, expected).pvalue


@pytest.mark.parametrize("process, d, finish", [(BROWNIAN, 3, "nearest"), (BROWNIAN, 2, "exact"), (OU, 3, "nearest")])
def test_hitting_distribution_matches_oracle(process, d, finish):
    """Fixed start, five points: reached frequencies vs G_r(x_i -> x)/sum_j G_r(x_j -> x).

    Bias budget (measured in test_hitting_bias_shrinks, slow): at delta = 0.02 and the default step factor the
    bias in total variation is below 0.004 in d = 3 ("nearest"), and the "exact" finish removes the delta bias
    (d = 2, where stopping at the nearest point is biased like 1/log(1/delta)); with 3000 paths the Monte-Carlo
    standard error per point is up to 0.009, so the chi-square test at level 1e-3 sees noise, not bias.
    """
    score = HomogeneousScore(process, five_points(d), 1.0)
    start = np.full((1, d), 0.3)
    oracle = score.hitting_probabilities(start)[0]  # OU: the numpy quadrature, independent of the score's table
    result = sample_homogeneous(process, score, np.repeat(start, 3000, axis=0), stop=0.02, seed=7, finish=finish)
    assert np.all(result.reached >= 0)
    assert chi_square_p_value(result.counts(), oracle) > 1e-3
    # ended within delta of the point it reached ("nearest"), or of some point ("exact")
    distance, _ = score.nearest(result.samples)
    assert np.all(distance <= 0.02)


def test_output_from_the_law_of_x_zeta_is_uniform():
    # started from X_zeta (draw a point, an Exp(r) time, diffuse), the output law is the data's: uniform
    for process, d, paths in ((BROWNIAN, 3, 2500), (OU, 2, 2500)):
        points = five_points(d, seed=3)
        score = HomogeneousScore(process, points, 1.0)
        result = sample_homogeneous(process, score, "data", n_paths=paths, stop=0.05, seed=11, finish="exact")
        assert result.diagnostics["stopped"] == 1.0
        assert chi_square_p_value(result.counts(), np.full(5, 0.2)) > 1e-3, (process, result.counts())


def test_energy_rule_stops_paths_at_the_oracle_law():
    # the implicit rule: stop once int sigma^2 |s|^2 dt >= E; in d = 3 the energy grows by ~2 log(rho0/rho1)
    # near a point, so E = 20 means within e^-10 of the distance where the path committed: nearest is right
    score = HomogeneousScore(BROWNIAN, five_points(3), 1.0)
    start = np.full((1200, 3), 0.3)
    result = sample_homogeneous(BROWNIAN, score, start, stop={"energy": 20.0}, seed=5)
    assert np.all(result.reached >= 0) and np.all(result.energy >= 20.0)
    assert chi_square_p_value(result.counts(), score.hitting_probabilities(start[:1])[0]) > 1e-3


class NumpyScore:
    """The numpy specification of HomogeneousScore (scipy's kve) as a plain callable for engine='python'."""

    def __init__(self, score):
        self.dim, self.points, self.r, self.process = score.dim, score.points, score.r, score.process
        self.reference_score = score.reference_score

    def __call__(self, x):
        return self.reference_score(x)


def test_numba_and_python_engines_take_the_same_paths():
    # same noise and rules; the python engine steps all paths together with the numpy score and a k-d tree
    score = HomogeneousScore(BROWNIAN, five_points(3), 1.0)
    start = np.full((60, 3), 0.2)
    fast = sample_homogeneous(BROWNIAN, score, start, stop={"delta": 0.05, "energy": 30.0}, seed=2)
    slow = sample_homogeneous(BROWNIAN, NumpyScore(score), start, stop={"delta": 0.05, "energy": 30.0}, seed=2,
                              engine="python")
    np.testing.assert_array_equal(fast.reached, slow.reached)
    np.testing.assert_array_equal(fast.steps, slow.steps)
    np.testing.assert_allclose(fast.samples, slow.samples, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(fast.energy, slow.energy, rtol=1e-9)


def test_paths_do_not_depend_on_threads_or_on_how_many_are_run():
    score = HomogeneousScore(BROWNIAN, five_points(2), 1.0)
    start = np.random.default_rng(1).normal(size=(100, 2))
    full = sample_homogeneous(BROWNIAN, score, start, stop=0.05, seed=4)
    part = sample_homogeneous(BROWNIAN, score, start[:30], stop=0.05, seed=4)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        single = sample_homogeneous(BROWNIAN, score, start, stop=0.05, seed=4)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(full.samples[:30], part.samples)
    np.testing.assert_array_equal(full.samples, single.samples)
    other_seed = sample_homogeneous(BROWNIAN, score, start[:30], stop=0.05, seed=5)
    assert not np.array_equal(other_seed.samples, part.samples)


def test_budget_exhausted_paths_are_marked():
    score = HomogeneousScore(BROWNIAN, five_points(3), 1.0)
    result = sample_homogeneous(BROWNIAN, score, np.full((5, 3), 10.0), stop=1e-3, max_steps=3)
    np.testing.assert_array_equal(result.reached, -1)
    np.testing.assert_array_equal(result.steps, 3)
    # a start inside the neighbourhood stops at once
    inside = sample_homogeneous(BROWNIAN, score, score.points[2:3] + 1e-4, stop=1e-3)
    assert inside.reached[0] == 2 and inside.steps[0] == 0


def test_start_laws(rng):
    points = five_points(2)
    score = HomogeneousScore(OU, points, 0.5)
    invariant = sample_homogeneous(OU, score, "invariant", n_paths=40, max_steps=0).start
    assert invariant.shape == (40, 2)
    brownian_score = HomogeneousScore(BROWNIAN, points, 0.5)
    noise = sample_homogeneous(BROWNIAN, brownian_score, "noise", n_paths=4000, max_steps=0).start
    # data moved to their mean: X_zeta - mean = W_zeta, E|W_zeta|^2 = d sigma^2 E[zeta] = 2 / r = 4
    squared = np.sum((noise - points.mean(axis=0)) ** 2, axis=1)
    assert abs(squared.mean() - 4.0) < 4 * squared.std() / np.sqrt(len(squared))
    data = sample_homogeneous(BROWNIAN, brownian_score, "data", n_paths=30, max_steps=0, seed=9).start
    again = sample_homogeneous(BROWNIAN, brownian_score, "data", n_paths=10, max_steps=0, seed=9).start
    np.testing.assert_array_equal(data[:10], again)


@pytest.mark.parametrize("call, name", [
    (lambda s: HomogeneousScore(BROWNIAN, np.zeros((4, 1)), 1.0), "points"),
    (lambda s: HomogeneousScore(BROWNIAN, np.zeros((4, 2)), -1.0), "r"),
    (lambda s: HomogeneousScore(fd.VP(), np.zeros((4, 2)), 1.0), "process"),
    (lambda s: green(BROWNIAN, 0.0, [0.0], [1.0]), "r"),
    (lambda s: green(BROWNIAN, 1.0, [0.0, 1.0], [1.0]), "x"),
    (lambda s: sample_homogeneous(BROWNIAN, s, np.zeros((3, 3))), "start"),
    (lambda s: sample_homogeneous(BROWNIAN, s, "data"), "n_paths"),
    (lambda s: sample_homogeneous(BROWNIAN, s, "invariant", n_paths=3), "invariant"),
    (lambda s: sample_homogeneous(BROWNIAN, s, "prior", n_paths=3), "start"),
    (lambda s: sample_homogeneous(BROWNIAN, s, np.zeros((3, 2)), stop={"radius": 1.0}), "stop"),
    (lambda s: sample_homogeneous(BROWNIAN, s, np.zeros((3, 2)), stop=-0.1), "stop"),
    (lambda s: sample_homogeneous(BROWNIAN, s, np.zeros((3, 2)), step_factor=0.0), "step_factor"),
    (lambda s: sample_homogeneous(BROWNIAN, s, np.zeros((3, 2)), steps=10), "steps"),
    (lambda s: sample_homogeneous(OU, s, np.zeros((3, 2))), "process"),
    (lambda s: sample_homogeneous(BROWNIAN, lambda x: x, np.zeros((3, 2))), "score"),
    (lambda s: sample_homogeneous(BROWNIAN, s, np.zeros((3, 2)), finish="random"), "finish"),
    (lambda s: HomogeneousScore(OU, np.zeros((4, 2)), 1.0, method="exact"), "method"),
    (lambda s: HomogeneousScore(BROWNIAN, np.zeros((4, 2)), 1.0, method="table"), "method"),
])
def test_bad_inputs_raise_input_error_naming_the_argument(call, name):
    score = HomogeneousScore(BROWNIAN, five_points(2), 1.0)
    with pytest.raises(InputError, match=name):
        call(score)


def test_green_nodes_cover_the_integrand():
    # the rule's first and last nodes carry a negligible share of G at the extreme distances it is built for
    for process in (BROWNIAN, OU):
        log_weights, scale, variance = green_nodes(process, 1.0, 3, 1e-3, 20.0)
        for rho in (1e-3, 20.0):
            x = np.array([rho, 0.0, 0.0])
            terms = log_weights - np.sum((x - scale[:, None] * 0.0) ** 2, axis=1) / (2 * variance)
            share = np.exp(terms - terms.max())
            assert share[0] < 1e-15 and share[-1] < 1e-15


# --------------------------------------------------------------------------- bias trends (slow)


def total_variation_excess(counts, probabilities):
    """Bias estimate: sqrt of max(0, chi2 - (k - 1)) / n, the chi-square's excess over its mean under H0."""
    n = counts.sum()
    chi2 = np.sum((counts - n * probabilities) ** 2 / (n * probabilities))
    return np.sqrt(max(chi2 - (len(counts) - 1), 0.0) / n)


@pytest.mark.slow
def test_hitting_bias_shrinks_with_delta_and_step_factor():
    """The two biases of the oracle test, each alone.

    delta (d = 3, "nearest" finish, fine steps): a path stopped at distance delta from x_j would have ended
    elsewhere with probability O(delta) (the 3-d capacity of a ball), so the bias falls about like delta;
    step factor (d = 3 and 2, "exact" finish, large delta): Euler–Maruyama's weak error falls with c.
    """
    paths = 20000
    score3 = HomogeneousScore(BROWNIAN, five_points(3), 1.0)
    start3 = np.full((paths, 3), 0.3)
    oracle3 = score3.hitting_probabilities(start3[:1])[0]
    deltas = [0.4, 0.2, 0.1]
    bias = [total_variation_excess(sample_homogeneous(BROWNIAN, score3, start3, stop=delta, seed=1).counts(),
                                   oracle3) for delta in deltas]
    assert bias[0] > bias[1] > bias[2]
    slope = np.polyfit(np.log(deltas), np.log(bias), 1)[0]
    assert 0.5 < slope < 2.0, (bias, slope)
    for d, score in ((3, score3), (2, HomogeneousScore(BROWNIAN, five_points(2), 1.0))):
        start = np.full((paths, d), 0.3)
        oracle = score.hitting_probabilities(start[:1])[0]
        factors = [1.0, 0.4, 0.1]
        bias = [total_variation_excess(
            sample_homogeneous(BROWNIAN, score, start, stop=0.2, seed=1, finish="exact", step_factor=c / d,
                               max_dt=1.0).counts(), oracle) for c in factors]
        assert bias[0] > bias[1] > bias[2], (d, bias)


def test_the_time_indexed_solvers_refuse_the_space_only_score():
    # s(x) of the random time reversal has no time and no p_t: a reverse solve or an audit with it would be wrong
    process = fd.Brownian(sigma=1.0)
    score = fd.HomogeneousScore(process, np.array([[0.0, 0.0], [1.0, 0.0]]), r=1.0)
    with pytest.raises(fd.InputError, match="space-only score.*sample_homogeneous"):
        fd.sample_reverse(process, score, 10, 1.0)
    with pytest.raises(fd.InputError, match="space-only score"):
        fd.solve_reverse(process, fd.Grid([(-3, 3)] * 2, 20), score, 1.0)
