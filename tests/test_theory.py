"""Tests of the closed-form oracles in fpdiff.theory, each against an independent computation."""

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import solve_ivp

from fpdiff import theory
from fpdiff.distributions import Empirical, GaussianMixture
from fpdiff.errors import InputError
from fpdiff.grid import Grid
from fpdiff.processes import OU, VE, VP

T = 1.0
T_MIN = 1e-3


@pytest.fixture
def ou():
    return OU(beta=1.0, sigma=2**0.5)


@pytest.fixture
def mixture_1d():
    return GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])


@pytest.fixture
def mixture_2d():
    return GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.0, -0.5]], [[0.6, 0.9], [0.8, 0.5]])


@pytest.fixture
def grid_1d():
    return Grid([(-10.0, 10.0)], 400)


# ------------------------------------------------------------ reverse output


def test_reverse_output_from_p_T_is_p_tmin_1d(ou, mixture_1d, grid_1d):
    # started from p_T itself the exact reversal returns p_{t_min}: the ratio q0/p_T is 1
    p_T = mixture_1d.evolve(ou, T)
    result = theory.reverse_output_density(ou, mixture_1d, p_T, T, T_MIN, grid_1d)
    exact = mixture_1d.evolve(ou, T_MIN).cell_average(grid_1d)  # erf differences, independent of the quadrature
    assert result.shape == grid_1d.shape
    assert np.max(np.abs(result - exact)) < 1e-10


def test_reverse_output_from_p_T_is_p_tmin_2d(ou, mixture_2d):
    grid = Grid([(-6.0, 6.0), (-6.0, 6.0)], [30, 30])
    t_min = 1e-2
    result = theory.reverse_output_density(ou, mixture_2d, mixture_2d.evolve(ou, T), T, t_min, grid)
    exact = mixture_2d.evolve(ou, t_min).cell_average(grid)
    assert result.shape == grid.shape
    assert np.max(np.abs(result - exact)) < 1e-10


def test_reverse_output_pdf_from_p_T_is_p_tmin_for_vp_and_empirical():
    # a time-inhomogeneous process and an Empirical p_0 (a mixture at every t > 0)
    process = VP(0.1, 20.0)
    dist0 = Empirical([[-1.0], [0.5], [2.0]])
    y = np.linspace(-3, 3, 41)
    result = theory.reverse_output_pdf(process, dist0, dist0.evolve(process, 0.7), 0.7, 0.05, y)
    assert np.allclose(result, dist0.evolve(process, 0.05).pdf(y), rtol=1e-12, atol=1e-14)


def test_reverse_output_from_prior_has_unit_mass(ou, mixture_1d, mixture_2d, grid_1d):
    # int q_out = int q0 = 1 exactly (int p_{t_min}(y) p(T | y) dy = p_T); the grids hold all but
    # ~1e-20 of the mass, and the quadratures are accurate to ~1e-12
    prior = ou.prior(T, 1)
    result = theory.reverse_output_density(ou, mixture_1d, prior, T, T_MIN, grid_1d)
    assert abs(grid_1d.integrate(result) - 1.0) < 1e-10
    # the mismatch is large: the output is visibly not p_{t_min}
    assert np.max(np.abs(result - mixture_1d.evolve(ou, T_MIN).cell_average(grid_1d))) > 1e-3

    grid = Grid([(-8.0, 8.0), (-8.0, 8.0)], [24, 24])
    result_2d = theory.reverse_output_density(ou, mixture_2d, None, T, 1e-2, grid)  # None: the prior
    assert abs(grid.integrate(result_2d) - 1.0) < 1e-9


def test_reverse_output_matches_importance_weighted_monte_carlo(ou, mixture_1d):
    # Independent reference: X_{t_min} ~ p_{t_min}, X_T | X_{t_min} by the exact transition, and
    # weight r = q0(X_T)/p_T(X_T); then E[r 1{X_{t_min} in C}] / |C| is the cell average of q_out.
    n = 200_000
    prior = ou.prior(T, 1)
    p_min, p_T = mixture_1d.evolve(ou, T_MIN), mixture_1d.evolve(ou, T)
    a, w = ou.transition(T_MIN, T)
    rng = np.random.default_rng(7)
    x_min = p_min.sample(n, seed=rng)
    x_T = a * x_min + np.sqrt(w) * rng.standard_normal(x_min.shape)
    ratio = np.exp(prior.logpdf(x_T) - p_T.logpdf(x_T))

    grid = Grid([(-4.0, 4.0)], 20)
    h = grid.spacing[0]
    cell = np.floor((x_min[:, 0] + 4.0) / h).astype(int)
    inside = (cell >= 0) & (cell < 20)
    sums = np.bincount(cell[inside], weights=ratio[inside], minlength=20)
    squares = np.bincount(cell[inside], weights=ratio[inside] ** 2, minlength=20)
    counts = np.bincount(cell[inside], minlength=20)
    estimate = sums / (n * h)
    # standard error of a sample mean of r 1_C (the weights have finite variance: q0^2/p_T is
    # integrable since p_T's variances, ~0.88-0.90, exceed half of q0's, 0.5)
    standard_error = np.sqrt((squares / n - (sums / n) ** 2) / n) / h
    # the error estimate itself is only reliable where a cell holds enough samples; the gap
    # between the modes and the far tails hold (almost) none and are left out
    reliable = counts >= 200
    k = int(reliable.sum())
    assert k >= 10

    formula = theory.reverse_output_density(ou, mixture_1d, prior, T, T_MIN, grid)
    z = (estimate - formula)[reliable] / standard_error[reliable]
    # k ~ 12 cells at 5 standard errors: a false alarm has probability ~1e-5 (and the seed is fixed)
    assert np.max(np.abs(z)) < 5.0, z
    # the check has power: the naive answer p_{t_min} is rejected by the same samples
    # (chi-square with k degrees of freedom: mean k, standard deviation sqrt(2k))
    naive = mixture_1d.evolve(ou, T_MIN).cell_average(grid)
    chi2 = np.sum(((estimate - naive)[reliable] / standard_error[reliable]) ** 2)
    assert chi2 > k + 10 * np.sqrt(2 * k), chi2
    # the cells left out carry almost no mass under the formula either
    assert grid.integrate(np.where(reliable, 0.0, formula)) < 0.01


def test_reverse_output_gauss_hermite_converged(ou, mixture_1d, grid_1d):
    prior = ou.prior(T, 1)
    default = theory.reverse_output_density(ou, mixture_1d, prior, T, T_MIN, grid_1d)
    doubled = theory.reverse_output_density(ou, mixture_1d, prior, T, T_MIN, grid_1d, quadrature_points=120)
    assert np.max(np.abs(default - doubled)) < 1e-8
    # and the check can fail: a coarse rule is visibly off
    coarse = theory.reverse_output_density(ou, mixture_1d, prior, T, T_MIN, grid_1d, quadrature_points=6)
    assert np.max(np.abs(coarse - doubled)) > 1e-6


# -------------------------------------------------- gamma exponential integrator

STEPS = [(0.5, 0.4), (0.9, 0.2), (0.05, 0.01)]


@pytest.mark.parametrize("t_from, t_to", STEPS)
def test_ddpm_coefficients_are_ho_et_al_posterior(t_from, t_to):
    process = VP(0.1, 20.0)
    abar_t, abar_prev = process.alpha(t_from) ** 2, process.alpha(t_to) ** 2
    alpha_t = abar_t / abar_prev  # Ho et al.'s alpha_t for this (non-unit) step
    beta_t = 1 - alpha_t
    # Ho, Jain & Abbeel (2020), eq. 7: posterior q(x_{t-1} | x_t, x_0)
    on_x0 = np.sqrt(abar_prev) * beta_t / (1 - abar_t)
    on_xt = np.sqrt(alpha_t) * (1 - abar_prev) / (1 - abar_t)
    variance = (1 - abar_prev) / (1 - abar_t) * beta_t
    phi, c_x0, noise_std = theory.ddpm_coefficients(process, t_from, t_to)
    assert phi == pytest.approx(on_xt, rel=1e-12)
    assert c_x0 == pytest.approx(on_x0, rel=1e-12)
    assert noise_std**2 == pytest.approx(variance, rel=1e-11)


@pytest.mark.parametrize("t_from, t_to", STEPS)
def test_ddim_coefficients_are_song_et_al_eta_zero(t_from, t_to, rng):
    process = VP(0.1, 20.0)
    abar_t, abar_prev = process.alpha(t_from) ** 2, process.alpha(t_to) ** 2
    x_t, x0 = rng.standard_normal((2, 5, 3))
    # Song, Meng & Ermon (2021), eq. 12, sigma_t = 0, in eps form with eps the noise x0 implies
    eps = (x_t - np.sqrt(abar_t) * x0) / np.sqrt(1 - abar_t)
    predicted_x0 = (x_t - np.sqrt(1 - abar_t) * eps) / np.sqrt(abar_t)
    ddim = np.sqrt(abar_prev) * predicted_x0 + np.sqrt(1 - abar_prev) * eps
    phi, c_x0, noise_std = theory.ddim_coefficients(process, t_from, t_to)
    assert noise_std == 0.0
    np.testing.assert_allclose(phi * x_t + c_x0 * x0, ddim, rtol=1e-11, atol=1e-13)


def _frozen_linear_sde_moments(process, gamma, x0, y, t_from, t_to):
    """Mean and variance at t_to of the gamma reverse SDE with the Dirac score, from Y = y at t_from (ODEs)."""

    def rhs(tau, state):
        t = t_from - tau
        mean, var = state
        beta, sigma2 = process.drift_rate(t), process.diffusion(t) ** 2
        k = 0.5 * (1 + gamma**2) * sigma2 / process.variance(t)
        # dY = [beta Y + (1+g^2)/2 sigma^2 (alpha x0 - Y)/v] dtau + gamma sigma dW
        return [beta * mean + k * (process.alpha(t) * x0 - mean), 2 * (beta - k) * var + gamma**2 * sigma2]

    sol = solve_ivp(rhs, (0.0, t_from - t_to), [y, 0.0], method="DOP853", rtol=1e-12, atol=1e-14)
    assert sol.success
    return sol.y[0, -1], sol.y[1, -1]


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize(
    "process, t_from, t_to",
    [(OU(1.0, 2**0.5), 1.0, 0.4), (OU(0.5, 1.0), 0.3, 0.1), (VP(0.1, 20.0), 0.6, 0.3), (VE(0.01, 50.0), 0.5, 0.3)],
)
def test_gamma_ei_is_exact_for_a_dirac(process, t_from, t_to, gamma):
    x0, y = 0.7, -1.3
    phi, c_x0, noise_std = theory.gamma_ei_coefficients(process, t_from, t_to, gamma)
    alpha_n, alpha_m = process.alpha(t_from), process.alpha(t_to)
    v_n, v_m = process.variance(t_from), process.variance(t_to)
    # marginals: Y_n ~ N(alpha_n x0, v_n) goes to N(alpha_{n+1} x0, v_{n+1})
    assert phi * alpha_n * x0 + c_x0 * x0 == pytest.approx(alpha_m * x0, rel=1e-12)
    assert phi**2 * v_n + noise_std**2 == pytest.approx(v_m, rel=1e-10)
    # conditional law from a fixed Y_n = y: the step equals the exact solution of the linear SDE
    # (xhat0 = x0 everywhere for a Dirac p_0), here its moment ODEs integrated numerically
    mean, var = _frozen_linear_sde_moments(process, gamma, x0, y, t_from, t_to)
    scale = max(1.0, abs(alpha_m * x0))
    assert phi * y + c_x0 * x0 == pytest.approx(mean, abs=1e-8 * scale)
    assert noise_std**2 == pytest.approx(var, abs=1e-8 * max(v_m, 1.0))


def test_gamma_ei_special_cases(ou):
    assert theory.ddpm_coefficients(ou, 0.8, 0.3) == theory.gamma_ei_coefficients(ou, 0.8, 0.3, 1.0)
    phi, c_x0, noise_std = theory.gamma_ei_coefficients(ou, 0.8, 0.3, 0.0)
    assert noise_std == 0.0
    assert phi == pytest.approx(np.sqrt(ou.variance(0.3) / ou.variance(0.8)), rel=1e-14)


# ----------------------------------------------------------------- Dirac bridge


def _bridge_moment_odes(T_, x0, y0, s_values):
    """Mean/variance ODEs of dY = [Y + 2 (alpha_t x0 - Y)/v_t] dtau + sqrt 2 dW, t = T - tau, Y(0) = y0."""
    ou = OU(1.0, 2**0.5)

    def rhs(tau, state):
        t = T_ - tau
        mean, var = state[:-1], state[-1]
        v = ou.variance(t)
        return np.concatenate([mean + 2 * (ou.alpha(t) * x0 - mean) / v, [2 * (1 - 2 / v) * var + 2]])

    sol = solve_ivp(
        rhs, (0.0, s_values[-1]), np.concatenate([y0, [0.0]]), t_eval=s_values, method="DOP853", rtol=1e-12, atol=1e-13
    )
    assert sol.success
    return sol.y[:-1].T, sol.y[-1]


def test_dirac_bridge_moments_solve_the_moment_odes():
    T_ = 1.5
    x0 = np.array([0.8, -1.2])
    y0 = np.array([-2.0, 0.5])
    s_values = np.array([0.1, 0.5, 1.0, 1.3, 1.45])
    ode_means, ode_vars = _bridge_moment_odes(T_, x0, y0, s_values)
    for s, ode_mean, ode_var in zip(s_values, ode_means, ode_vars):
        mean, var = theory.dirac_bridge_moments(T_, x0, y0[None, :], s)
        assert mean.shape == (1, 2)
        np.testing.assert_allclose(mean[0], ode_mean, rtol=1e-8, atol=1e-9)
        assert var == pytest.approx(ode_var, rel=1e-8, abs=1e-10)


def test_dirac_bridge_ends_at_the_data_point():
    x0 = np.array([0.3, -0.4, 1.1])
    y0 = np.array([[2.0, 1.0, -3.0], [0.0, 0.0, 0.0]])
    start_mean, start_var = theory.dirac_bridge_moments(2.0, x0, y0, 0.0)
    np.testing.assert_allclose(start_mean, y0, rtol=1e-15)
    assert start_var == 0.0
    for gap in (1e-4, 1e-8):
        mean, var = theory.dirac_bridge_moments(2.0, x0, y0, 2.0 - gap)
        assert np.max(np.abs(mean - x0)) < 10 * gap
        assert 0 < var < 3 * gap
    end_mean, end_var = theory.dirac_bridge_moments(2.0, x0, y0, 2.0)
    np.testing.assert_allclose(end_mean, np.broadcast_to(x0, y0.shape), rtol=1e-15)
    assert end_var == 0.0
    np.testing.assert_array_equal(theory.dirac_bridge(2.0, x0, y0, 2.0, seed=1), np.broadcast_to(x0, y0.shape))


def test_dirac_bridge_samples_have_the_stated_law():
    n = 100_000
    T_, s = 1.0, 0.6
    x0 = np.array([1.5])
    y0 = np.random.default_rng(3).standard_normal((n, 1))  # a different start per sample
    samples = theory.dirac_bridge(T_, x0, y0, s, seed=11)
    mean, var = theory.dirac_bridge_moments(T_, x0, y0, s)
    z = ((samples - mean) / np.sqrt(var))[:, 0]
    # standardised residuals are N(0, 1): sample mean within 5 standard errors (1/sqrt n), sample
    # variance within 5 of its standard errors (sqrt(2/n))
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var(ddof=1) - 1) < 5 * np.sqrt(2 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # and the same seed gives the same samples
    np.testing.assert_array_equal(samples, theory.dirac_bridge(T_, x0, y0, s, seed=11))


def test_dirac_bridge_single_start_mean_and_variance():
    n = 100_000
    x0 = np.array([-0.5, 2.0])
    y0 = np.tile([1.0, -1.0], (n, 1))
    samples = theory.dirac_bridge(2.0, x0, y0, 0.8, seed=5)
    mean, var = theory.dirac_bridge_moments(2.0, x0, y0[:1], 0.8)
    assert np.all(np.abs(samples.mean(axis=0) - mean[0]) < 5 * np.sqrt(var / n))
    assert np.all(np.abs(samples.var(axis=0, ddof=1) - var) < 5 * var * np.sqrt(2 / (n - 1)))


# ------------------------------------------------------------------ bad inputs


def test_bad_step_times_raise(ou):
    with pytest.raises(InputError, match="t_to"):
        theory.gamma_ei_coefficients(ou, 0.3, 0.3, 1.0)
    with pytest.raises(InputError, match="t_to"):
        theory.ddpm_coefficients(ou, 0.3, 0.5)
    with pytest.raises(InputError, match="t_to"):
        theory.ddim_coefficients(ou, 0.3, -0.1)
    with pytest.raises(InputError, match="t_from"):
        theory.ddim_coefficients(ou, -0.2, -0.5)
    with pytest.raises(InputError, match="gamma"):
        theory.gamma_ei_coefficients(ou, 0.5, 0.3, -1.0)
    with pytest.raises(InputError, match="process"):
        theory.gamma_ei_coefficients("ou", 0.5, 0.3, 1.0)


def test_bad_reverse_output_arguments_raise(ou, mixture_1d, mixture_2d, grid_1d):
    prior = ou.prior(T, 1)
    with pytest.raises(InputError, match="q0"):
        theory.reverse_output_density(ou, mixture_1d, ou.prior(T, 2), T, T_MIN, grid_1d)
    with pytest.raises(InputError, match="grid"):
        theory.reverse_output_density(ou, mixture_2d, None, T, T_MIN, grid_1d)
    with pytest.raises(InputError, match="t_min"):
        theory.reverse_output_density(ou, mixture_1d, prior, T, -1e-3, grid_1d)
    with pytest.raises(InputError, match="t_min"):
        theory.reverse_output_density(ou, mixture_1d, prior, T, 2 * T, grid_1d)
    with pytest.raises(InputError, match="`T`"):
        theory.reverse_output_density(ou, mixture_1d, prior, -1.0, T_MIN, grid_1d)
    with pytest.raises(InputError, match="dist0"):
        theory.reverse_output_density(ou, np.zeros(3), prior, T, T_MIN, grid_1d)
    with pytest.raises(InputError, match="quadrature_points"):
        theory.reverse_output_density(ou, mixture_1d, prior, T, T_MIN, grid_1d, quadrature_points=0)
    with pytest.raises(InputError, match="y"):
        theory.reverse_output_pdf(ou, mixture_1d, prior, T, T_MIN, np.zeros((4, 2)))


def test_bad_bridge_arguments_raise():
    with pytest.raises(InputError, match="`s`"):
        theory.dirac_bridge(1.0, [0.0], [[0.0]], 1.5)
    with pytest.raises(InputError, match="`s`"):
        theory.dirac_bridge_moments(1.0, [0.0], [[0.0]], -0.1)
    with pytest.raises(InputError, match="`T`"):
        theory.dirac_bridge_moments(0.0, [0.0], [[0.0]], 0.0)
    with pytest.raises(InputError, match="y0"):
        theory.dirac_bridge(1.0, [0.0, 1.0], [[0.0, 1.0, 2.0]], 0.5)
    with pytest.raises(InputError, match="x0"):
        theory.dirac_bridge_moments(1.0, [[0.0, 1.0]], [[0.0, 1.0]], 0.5)
