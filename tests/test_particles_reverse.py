"""The reverse particle sampler against exact laws, theory, and the density view."""

import numpy as np
import pytest
from scipy import stats

import fpdiff as fd
from fpdiff.metrics import observed_order
from fpdiff import theory
from fpdiff.particles import SCHEMES, _random, sample_reverse
from fpdiff.particles.schemes import check_scheme_options, plan_step, reference_stage
from fpdiff.timegrid import make_time_grid

OU = fd.OU(beta=1.0, sigma=2**0.5)
VP = fd.VP()
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.5**2, 0.6**2], [0.7**2, 0.5**2]])
T, T_MIN = 1.0, 1e-3


def histogram_density(samples, grid):
    counts, _ = np.histogramdd(samples, bins=grid.edges)
    return counts / (len(samples) * grid.cell_volume)


def total_variation(p, q, grid):
    return 0.5 * grid.integrate(np.abs(p - q))


def monte_carlo_floor(q, grid, n):
    r"""Expected TV between the histogram of ``n`` samples of ``q`` and ``q`` itself.

    A cell of probability :math:`p_j` holds a binomial count; for large ``n``
    :math:`E|\hat p_j - p_j| = \sqrt{2 p_j (1 - p_j) / (\pi n)}` (half-normal mean), so
    :math:`E[TV] = \tfrac12\sum_j \sqrt{2 p_j (1-p_j)/(\pi n)}`.
    """
    p = np.clip(q * grid.cell_volume, 0.0, 1.0)
    return 0.5 * np.sum(np.sqrt(2 * p * (1 - p) / (np.pi * n)))


# ------------------------------------------------------------- Dirac data


def _dirac_start(process, x0, n, seed):
    return process.alpha(T) * x0 + np.sqrt(process.variance(T)) * np.random.default_rng(seed).normal(size=(n, len(x0)))


@pytest.mark.parametrize("process", [OU, VP, fd.VE(sigma_min=0.01, sigma_max=3.0), fd.Brownian(0.8)],
                         ids=["OU", "VP", "VE", "Brownian"])
@pytest.mark.parametrize("gamma", [0.0, 0.7, 1.0, 3.0])
def test_ei_is_exact_for_dirac_data_with_three_steps(process, gamma):
    x0 = np.array([0.8, -1.3])
    score = fd.EmpiricalScore(process, x0[None, :])  # the score of p_0 = delta_x0
    n = 100_000
    y0 = _dirac_start(process, x0, n, seed=1)
    times = np.array([T, 0.4, 0.05, T_MIN])  # three uneven steps, every one long
    solution = sample_reverse(process, score, y0, T, gamma=gamma, t_min=T_MIN, steps=3, scheme="ei",
                              time_grid=times, save_at=times[1:], seed=2)
    assert solution.diagnostics["steps"] == 3
    for t in times[1:]:
        y = solution.at(t)
        mean, variance = process.alpha(t) * x0, process.variance(t)
        # 5 standard errors of the sample mean and variance of n normal samples
        assert np.all(np.abs(y.mean(axis=0) - mean) < 5 * np.sqrt(variance / n)), t
        assert np.all(np.abs(y.var(axis=0) - variance) < 5 * variance * np.sqrt(2 / n)), t
        assert stats.kstest(((y - mean) / np.sqrt(variance)).ravel(), "norm").pvalue > 1e-4


def test_other_schemes_are_not_exact_for_dirac_data():
    # the check above is discriminating: Euler–Maruyama with three steps is far off
    x0 = np.array([0.8])
    y0 = _dirac_start(OU, x0, 20_000, seed=1)
    y = sample_reverse(OU, fd.EmpiricalScore(OU, x0[None]), y0, T, gamma=1.0, t_min=0.05, steps=3, scheme="em").samples
    assert abs(y.var() - OU.variance(0.05)) > 20 * OU.variance(0.05) * np.sqrt(2 / len(y))


def test_dirac_bridge_path_statistics():
    # OU(1, sqrt 2), p_0 = delta_x0, every particle started at the same arbitrary point y0: the exact reverse
    # process is the bridge of theory.dirac_bridge; "ei" is exact for Dirac data, so paths match in law
    x0, start = np.array([0.7]), 1.5
    n = 100_000
    score = fd.ExactScore(OU, fd.Empirical(x0[None]))
    times = np.array([T, 0.7, 0.4, 0.1, T_MIN])
    solution = sample_reverse(OU, score, np.full((n, 1), start), T, gamma=1.0, t_min=T_MIN, steps=4, scheme="ei",
                              time_grid=times, save_at=times, seed=4)
    for t in times[1:]:
        mean, variance = theory.dirac_bridge_moments(T, x0, [[start]], T - t)
        y = solution.at(t)
        assert abs(y.mean() - mean[0, 0]) < 5 * np.sqrt(variance / n), t
        assert abs(y.var() - variance) < 5 * variance * np.sqrt(2 / n), t
        reference = theory.dirac_bridge(T, x0, np.full((n, 1), start), T - t, seed=5)
        assert stats.ks_2samp(y[:, 0], reference[:, 0]).pvalue > 1e-4, t
    # covariance between two times of a path: Y_s2 = c Y_s1 + ..., c = sinh(T - s2)/sinh(T - s1) (the bridge from
    # (s1, Y_s1)); the estimate of Cov has standard error ~ sqrt(Var1 Var2 (1 + rho^2) / n)
    s1, s2 = T - 0.7, T - 0.1
    y1, y2 = solution.at(0.7)[:, 0], solution.at(0.1)[:, 0]
    _, variance1 = theory.dirac_bridge_moments(T, x0, [[start]], s1)
    expected = variance1 * np.sinh(T - s2) / np.sinh(T - s1)
    assert abs(np.cov(y1, y2)[0, 1] - expected) < 5 * np.sqrt(2 * y1.var() * y2.var() / n)


# ------------------------------------------------------- DDPM and DDIM formulas


def _vp_step(score, y0, gamma, t_from, t_to, seed):
    return sample_reverse(VP, score, y0, t_from, gamma=gamma, t_min=t_to, steps=1, scheme="ei", seed=seed).samples


@pytest.mark.parametrize("t_from, t_to", [(0.5, 0.45), (0.9, 0.2), (0.05, 0.01)])
def test_gamma_one_is_the_ddpm_posterior_and_gamma_zero_is_ddim(t_from, t_to):
    # Ho, Jain & Abbeel (2020), eqs. 6-7 and Song, Meng & Ermon (2021), eq. 12, written with abar = alpha^2
    # (VP: 1 - abar = v): no randomness, the sampler's own normals are replayed
    y0 = np.random.default_rng(0).normal(size=(64, 2))
    abar, abar_prev = VP.alpha(t_from) ** 2, VP.alpha(t_to) ** 2
    beta = 1 - abar / abar_prev
    for score, denoiser in [
        (fd.EmpiricalScore(VP, [[0.3, -0.8]]), lambda y: np.array([[0.3, -0.8]])),
        (fd.ExactScore(VP, MIXTURE_2D), lambda y: (y + VP.variance(t_from) * MIXTURE_2D.evolve(VP, t_from).score(y))
         / VP.alpha(t_from)),
    ]:
        x0 = denoiser(y0)
        noise = _random.normals(6, _random.STEP, 0, len(y0), 2, step=0, slot=0)
        posterior_mean = (np.sqrt(abar_prev) * beta / (1 - abar) * x0
                          + np.sqrt(1 - beta) * (1 - abar_prev) / (1 - abar) * y0)
        posterior_std = np.sqrt((1 - abar_prev) / (1 - abar) * beta)
        np.testing.assert_allclose(_vp_step(score, y0, 1.0, t_from, t_to, 6), posterior_mean + posterior_std * noise,
                                   rtol=1e-9, atol=1e-11)
        epsilon = (y0 - np.sqrt(abar) * x0) / np.sqrt(1 - abar)
        ddim = np.sqrt(abar_prev) * x0 + np.sqrt(1 - abar_prev) * epsilon
        np.testing.assert_allclose(_vp_step(score, y0, 0.0, t_from, t_to, 6), ddim, rtol=1e-9, atol=1e-11)


# ------------------------------------------------------------------- orders

ODE_SCHEMES = [name for name, scheme in SCHEMES.items() if scheme.order is not None]


@pytest.mark.parametrize("scheme", ODE_SCHEMES)
def test_ode_order_on_the_mixture(scheme):
    # gamma = 0 is deterministic: from fixed start points the error against a fine Heun run has no Monte-Carlo part
    score = fd.ExactScore(OU, MIXTURE_1D)
    y0 = MIXTURE_1D.evolve(OU, T).sample(200, seed=3)
    t_min = 1e-2  # with t_min = 1e-3 the first-order schemes are still pre-asymptotic at 128 uniform steps

    def run(steps, name):
        return sample_reverse(OU, score, y0, T, gamma=0.0, t_min=t_min, steps=steps, scheme=name,
                              time_grid="uniform").samples

    reference = run(4096, "heun")
    steps = [16, 32, 64, 128]
    errors = [np.max(np.abs(run(n, scheme) - reference)) for n in steps]
    declared = SCHEMES[scheme].order
    assert declared - 0.2 <= observed_order(1 / np.asarray(steps), errors) <= declared + 0.5, errors


def _exact_moment_error(scheme, process, gamma, steps, options, T=T, t_min=1e-2):
    r"""|mean error| + |variance error| at t_min of ``scheme`` for Gaussian data, without Monte Carlo.

    p_0 = N(mu0, c0) in 1-D has the linear score s = -(y - alpha mu0)/(alpha^2 c0 + v), so every stage
    (:func:`reference_stage`, the specification the kernels are tested against) is affine in the particle and its
    normals, y' = A y + b + C xi; the law stays Gaussian and its moments propagate exactly:
    m' = A m + b, V' = A^2 V + C^2. Started from the exact p_T.
    """
    mu0, c0 = 1.5, 0.25
    options = check_scheme_options(scheme, dict(options))

    def score_at(t):
        alpha, variance = float(process.alpha(t)), float(process.variance(t))
        return lambda y: -(y - alpha * mu0) / (alpha * alpha * c0 + variance)

    alpha_T = float(process.alpha(T))
    mean, variance = alpha_T * mu0, alpha_T**2 * c0 + float(process.variance(T))
    one, zero = np.ones((1, 1)), np.zeros((1, 1))
    times = make_time_grid("log-snr", process, T, t_min, steps)
    dynamics = fd.reverse_dynamics(process, fd.ExactScore(process, fd.GaussianMixture([1.0], [[mu0]], [c0])), gamma, T,
                                   t_min)
    for n in range(steps):
        for stage in plan_step(scheme, dynamics, times[n], times[n + 1], options):
            a, b = score_at(stage.t_a), score_at(stage.t_b)
            shift = reference_stage(stage, zero, a, b, zero)[0, 0]
            gain = reference_stage(stage, one, a, b, zero)[0, 0] - shift
            spread = reference_stage(stage, zero, a, b, one)[0, 0] - shift if stage.noisy else 0.0
            mean, variance = gain * mean + shift, gain**2 * variance + spread**2
    alpha = float(process.alpha(t_min))
    return abs(mean - alpha * mu0) + abs(variance - (alpha**2 * c0 + float(process.variance(t_min))))


@pytest.mark.parametrize("scheme", [name for name, scheme in SCHEMES.items() if not scheme.multistep])  # one step
@pytest.mark.parametrize("process", [OU, VP], ids=["OU", "VP"])  # at a time: multistep ones in test_samplers.py
@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_weak_order_with_exact_moments(scheme, process, gamma):
    # the corrector's O(snr^2) floor is put at 1e-6 so that the predictor's order shows
    options = {"snr": 1e-3} if scheme == "pc" else {}
    steps = [16, 32, 64, 128]
    errors = [_exact_moment_error(scheme, process, gamma, n, options) for n in steps]
    declared = SCHEMES[scheme].weak_order
    assert declared - 0.2 <= observed_order(1 / np.asarray(steps), errors) <= declared + 0.5, errors


SCHEDULES = {  # (process, T, t_min): each schedule's own time range
    "Cosine": (fd.Cosine(), 0.99, 1e-2),
    "ScaledLinear": (fd.ScaledLinear(), 1.0, 1e-2),
    "DiscreteCosine": (fd.Discrete.from_diffusers({"beta_schedule": "squaredcos_cap_v2"}), 0.99, 1e-2),
    "EDM": (fd.EDM(), 80.0, 0.002),
}


@pytest.mark.parametrize("scheme", ["ei", "heun"])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_weak_order_on_every_schedule(scheme, schedule):
    process, T_end, t_min = SCHEDULES[schedule]
    steps = [16, 32, 64, 128]
    errors = [_exact_moment_error(scheme, process, 1.0, n, {}, T=T_end, t_min=t_min) for n in steps]
    declared = SCHEMES[scheme].weak_order
    assert declared - 0.2 <= observed_order(1 / np.asarray(steps), errors) <= declared + 0.5, errors


def test_corrector_has_a_floor_set_by_snr():
    # the Langevin corrector's bias does not shrink with the steps: "pc" stops converging at ~snr^2
    errors = {snr: [_exact_moment_error("pc", OU, 1.0, n, {"snr": snr}) for n in (256, 1024)] for snr in (0.3, 1.0)}
    assert errors[1.0][1] > 0.8 * errors[1.0][0]  # first order would give 0.25
    assert 4 < errors[1.0][1] / errors[0.3][1] < 30  # ~ snr^2: (1/0.3)^2 = 11


def test_em_weak_order_on_the_mixture_with_particles():
    # error of E[Y^2] at t_min (exact for the mixture) with 10^5 particles from the exact p_T: its Monte-Carlo
    # standard error ~0.006 (common to every step count: same start points) stays below the bias,
    # which is 0.4 .. 0.05 over these step counts
    score = fd.ExactScore(OU, MIXTURE_1D)
    t_min = 1e-2
    exact = MIXTURE_1D.evolve(OU, t_min)
    second_moment = exact.covariance()[0, 0] + exact.mean()[0] ** 2
    y0 = MIXTURE_1D.evolve(OU, T).sample(100_000, seed=5)
    steps = [4, 8, 16, 32]
    errors = [abs(np.mean(sample_reverse(OU, score, y0, T, gamma=1.0, t_min=t_min, steps=n, scheme="em",
                                         time_grid="log-snr", seed=n).samples ** 2) - second_moment) for n in steps]
    assert 0.8 <= observed_order(1 / np.asarray(steps), errors) <= 1.3, errors


# --------------------------------------------------- the two views agree


def _views_agree(mixture, grid, gamma, n, seed):
    score = fd.ExactScore(OU, mixture)
    p_T = mixture.evolve(OU, T)
    density = fd.solve_reverse(OU, grid, score, T, q0=p_T, gamma=gamma, t_min=T_MIN).final
    exact = mixture.evolve(OU, T_MIN).cell_average(grid)
    samples = sample_reverse(OU, score, p_T.sample(n, seed=seed), T, gamma=gamma, t_min=T_MIN, steps=50,
                             scheme="heun", time_grid="log-snr", seed=seed).samples
    histogram = histogram_density(samples, grid)
    floor = monte_carlo_floor(density, grid, n)
    grid_error = total_variation(density, exact, grid)
    tv = total_variation(histogram, density, grid)
    # the histogram of exact samples sits at ~1 floor from the truth; 3 floors plus the grid's own error
    assert tv <= 3 * floor + grid_error, (tv, floor, grid_error)
    # and the check discriminates: the law at t = 0.2 is far outside it
    assert total_variation(histogram, mixture.evolve(OU, 0.2).cell_average(grid), grid) > 2 * (3 * floor + grid_error)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_particles_match_the_grid_1d(gamma):
    _views_agree(MIXTURE_1D, fd.Grid([(-8.0, 8.0)], 320), gamma, 200_000, seed=10)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_particles_match_the_grid_2d(gamma):
    _views_agree(MIXTURE_2D, fd.Grid([(-6.0, 6.0)] * 2, 48), gamma, 200_000, seed=11)


@pytest.mark.slow
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_particles_match_the_grid_million(gamma):
    _views_agree(MIXTURE_1D, fd.Grid([(-8.0, 8.0)], 800), gamma, 1_000_000, seed=12)
    _views_agree(MIXTURE_2D, fd.Grid([(-6.0, 6.0)] * 2, 96), gamma, 1_000_000, seed=13)


def test_from_the_prior_gamma_one_matches_theory():
    # short horizon: the prior N(0, 1) is far from p_T, so the output is not p_{t_min} but q_out of theory
    horizon, t_min, n = 0.5, 1e-2, 200_000
    grid = fd.Grid([(-7.0, 7.0)], 280)
    expected = theory.reverse_output_density(OU, MIXTURE_1D, None, horizon, t_min, grid)
    samples = sample_reverse(OU, fd.ExactScore(OU, MIXTURE_1D), n, horizon, gamma=1.0, t_min=t_min, steps=50,
                             scheme="heun", time_grid="log-snr", seed=14).samples
    histogram = histogram_density(samples, grid)
    floor = monte_carlo_floor(expected, grid, n)
    # 3 Monte-Carlo floors; Heun's bias with 50 steps is ~1e-3 (the exact-moment weak-order test)
    assert total_variation(histogram, expected, grid) <= 3 * floor + 1e-3
    wrong = MIXTURE_1D.evolve(OU, t_min).cell_average(grid)  # what a start from p_T would give
    assert total_variation(histogram, wrong, grid) > 2 * (3 * floor + 1e-3)


# ------------------------------------------------------------- memorisation


def test_empirical_score_memorises_and_the_exact_score_does_not():
    training = MIXTURE_1D.sample(20, seed=15)
    delta, n = 0.02, 4000

    def fraction_near_training(score, t_min):
        y = sample_reverse(OU, score, n, T, gamma=1.0, t_min=t_min, steps=100, time_grid="log-snr", seed=16).samples
        distance = np.min(np.abs(y - training[:, 0][None, :]), axis=1)
        return np.mean(distance < delta)

    t_mins = [1e-2, 1e-3, 1e-4, 1e-5]
    memorised = [fraction_near_training(fd.EmpiricalScore(OU, training), t) for t in t_mins]
    generalised = [fraction_near_training(fd.ExactScore(OU, MIXTURE_1D), t) for t in t_mins]
    assert np.all(np.diff(memorised) > 0) and memorised[-1] > 0.99, memorised
    # with the exact score the fraction is the mass of p_{t_min} within delta of the 20 points (~0.2)
    assert max(generalised) < 0.4, generalised


@pytest.mark.parametrize(
    "scheme, options",
    [("em", {}), ("ei", {}), ("heun", {}), ("pc", {"corrector_steps": 2}), ("pc", {"corrector_step": "per-particle"})],
)
@pytest.mark.parametrize("kind", ["mixture 2-D", "empirical"])
def test_fused_run_equals_stepwise_run(monkeypatch, scheme, options, kind):
    """One kernel call for the whole run (blocks outer, steps inner) gives the stage-by-stage run bit for bit."""
    from fpdiff.particles import solve

    if kind == "empirical":
        score = fd.EmpiricalScore(OU, MIXTURE_2D.sample(300, seed=4))
    else:
        score = fd.ExactScore(OU, MIXTURE_2D)
    arguments = dict(gamma=lambda t: 0.5 + t, steps=9, scheme=scheme, seed=11, save_at=[1.0, 0.4, 0.31, T_MIN],
                     first_particle=700, **options)
    count = 2 * _random.BLOCK + 37  # two full blocks and a partial one
    fused = sample_reverse(OU, score, count, T, **arguments)
    monkeypatch.setattr(solve, "FUSED_KINDS", ())
    stepwise = sample_reverse(OU, score, count, T, batch_size=600, **arguments)
    np.testing.assert_array_equal(fused.t, stepwise.t)
    np.testing.assert_array_equal(fused.snapshots, stepwise.snapshots)
    assert fused.diagnostics["score_evaluations"] == stepwise.diagnostics["score_evaluations"]


def test_fused_run_reports_a_blow_up_like_the_stepwise_run(monkeypatch):
    from fpdiff.particles import solve

    score = fd.ExactScore(OU, MIXTURE_1D)
    start = np.linspace(-3.0, 3.0, 1500)[:, None]
    with pytest.raises(fd.BlowUpError) as fused:
        sample_reverse(OU, score, start, T, gamma=1000.0, steps=50, scheme="em")
    monkeypatch.setattr(solve, "FUSED_KINDS", ())
    with pytest.raises(fd.BlowUpError) as stepwise:
        sample_reverse(OU, score, start, T, gamma=1000.0, steps=50, scheme="em")
    assert str(fused.value) == str(stepwise.value)
    assert fused.value.t == stepwise.value.t
