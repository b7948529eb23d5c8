"""The library samplers (ddpm, ddim, euler, heun_sigma, euler_ancestral, dpmpp_2m): their place in the
gamma-family, their orders against exact laws, the compiled path against the numpy one, given noise, errors."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff import theory
from fpdiff.errors import InputError
from fpdiff.metrics import observed_order
from fpdiff.particles import SCHEMES, _random, sample_reverse
from fpdiff.particles.schemes import LIBRARY_SCHEMES, check_scheme_options, plan_step, reference_stage

VP = fd.VP()
COSINE = fd.Cosine()
TABLE = fd.LinearDiscrete()
EDM = fd.EDM()
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.5**2, 0.6**2], [0.7**2, 0.5**2]])


def _run(process, scheme, y0, times, mixture=MIXTURE_2D, **options):
    return sample_reverse(process, fd.ExactScore(process, mixture), y0, scheme=scheme, time_grid=times, seed=7,
                          **options).samples


def _y0(n=400, dim=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim))


# ------------------------------------------------------------------ DDIM's eta is a gamma


@pytest.mark.parametrize("process", [VP, COSINE, TABLE, EDM], ids=repr)
def test_gamma_of_eta_gives_the_ddim_noise_and_inverts(process):
    t, t_next = 0.6 * process_top(process), 0.35 * process_top(process)
    alpha, v = float(process.alpha(t)), float(process.variance(t))
    alpha_next, v_next = float(process.alpha(t_next)), float(process.variance(t_next))
    for eta in (0.0, 0.3, 0.5, 0.9, 1.0):
        gamma = theory.gamma_of_eta(process, eta, t, t_next)
        # DDIM's noise, eta^2 times DDPM's posterior variance, written from alpha and v
        ddim_variance = eta**2 * v_next * (1 - (alpha**2 / v) / (alpha_next**2 / v_next))
        _, _, std = theory.gamma_ei_coefficients(process, t, t_next, gamma)
        assert std**2 == pytest.approx(ddim_variance, rel=1e-12, abs=1e-300)
        assert theory.eta_of_gamma(process, gamma, t, t_next) == pytest.approx(eta, rel=1e-12, abs=1e-300)
    assert theory.gamma_of_eta(process, 1.0, t, t_next) == pytest.approx(1.0, rel=1e-13)
    # between 0 and 1, gamma_n < eta (log1p concave) and tends to eta for short steps
    assert theory.gamma_of_eta(process, 0.5, t, t_next) < 0.5
    assert theory.gamma_of_eta(process, 0.5, t, t * (1 - 1e-6)) == pytest.approx(0.5, rel=1e-5)


def process_top(process):
    return 80.0 if isinstance(process, fd.EDM) else 0.99


@pytest.mark.parametrize("eta", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("process", [VP, COSINE], ids=repr)
def test_ddim_with_eta_is_ei_with_gamma_of_eta_per_step(process, eta):
    times = fd.timegrid.log_snr(process, 0.99, 1e-3, 30)
    gammas = {times[n]: theory.gamma_of_eta(process, eta, times[n], times[n + 1]) for n in range(30)}
    gammas[times[-1]] = 0.0
    ddim = _run(process, "ddim", _y0(), times, eta=eta)
    ei = _run(process, "ei", _y0(), times, gamma=lambda t: gammas[float(t)])
    np.testing.assert_allclose(ddim, ei, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ coincidences with existing schemes


def test_euler_is_ddim_and_euler_ancestral_is_ddpm_on_any_process():
    for process in (VP, COSINE, TABLE):
        times = fd.timegrid.log_snr(process, 0.98, 2e-3, 25)
        np.testing.assert_allclose(_run(process, "euler", _y0(), times), _run(process, "ddim", _y0(), times),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(_run(process, "ddim", _y0(), times),
                                   _run(process, "ei", _y0(), times, gamma=0.0), rtol=1e-12, atol=1e-12)
        ancestral = _run(process, "euler_ancestral", _y0(), times)
        np.testing.assert_allclose(ancestral, _run(process, "ddpm", _y0(), times), rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(ancestral, _run(process, "ei", _y0(), times, gamma=1.0), rtol=1e-11, atol=1e-11)


def test_on_edm_euler_is_em_and_heun_sigma_is_heun_at_gamma_zero():
    times = fd.timegrid.karras(EDM, 80.0, 0.002, 18)
    y0 = 80.0 * _y0()
    np.testing.assert_allclose(_run(EDM, "euler", y0, times), _run(EDM, "em", y0, times, gamma=0.0),
                               rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(_run(EDM, "heun_sigma", y0, times), _run(EDM, "heun", y0, times, gamma=0.0),
                               rtol=1e-11, atol=1e-11)


def test_a_last_step_to_zero_returns_the_denoiser():
    times = np.concatenate([fd.timegrid.log_snr(VP, 0.9, 0.05, 10), [0.0]])
    score = fd.ExactScore(VP, MIXTURE_2D)
    for scheme in LIBRARY_SCHEMES:
        run = sample_reverse(VP, score, _y0(), scheme=scheme, time_grid=times, save_at=[0.05, 0.0])
        before = run.at(0.05)
        expected = (before + float(VP.variance(0.05)) * score.score(before, 0.05)) / float(VP.alpha(0.05))
        np.testing.assert_allclose(run.samples, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scheme, options", [("ddim", {}), ("euler", {}), ("heun_sigma", {}), ("dpmpp_2m", {}),
                                             ("ddpm", {}), ("ddim", {"eta": 0.6}), ("euler_ancestral", {})])
@pytest.mark.parametrize("process", [VP, COSINE, EDM], ids=repr)
def test_library_schemes_are_exact_for_dirac_data(process, scheme, options):
    # p_0 = delta_x0: xhat0 = x0 everywhere. The probability-flow map is y -> alpha_t x0 + sqrt(v_t/v_T)(y -
    # alpha_T x0), which the deterministic schemes follow path by path over three long uneven steps; the
    # stochastic ones give N(alpha_t x0, v_t) (5 standard errors of the mean and variance of n samples)
    assert SCHEMES[scheme].exact_for_dirac
    x0 = np.array([0.8, -1.3])
    T = process_top(process)
    times = np.array([T, 0.4 * T, 0.05 * T, 1e-3 * T])
    n = 100_000
    y0 = process.alpha(T) * x0 + np.sqrt(process.variance(T)) * _y0(n, seed=1)
    run = sample_reverse(process, fd.EmpiricalScore(process, x0[None, :]), y0, scheme=scheme, time_grid=times,
                         save_at=times[1:], seed=2, **options)
    for t in times[1:]:
        y, alpha, variance = run.at(t), float(process.alpha(t)), float(process.variance(t))
        if SCHEMES[scheme].order is not None and not options:
            expected = alpha * x0 + np.sqrt(variance / process.variance(T)) * (y0 - process.alpha(T) * x0)
            np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10 * np.sqrt(variance))
        else:
            assert np.all(np.abs(y.mean(axis=0) - alpha * x0) < 5 * np.sqrt(variance / n)), t
            assert np.all(np.abs(y.var(axis=0) - variance) < 5 * variance * np.sqrt(2 / n)), t


# ------------------------------------------------------------------ compiled path, noise, grids


@pytest.mark.parametrize("scheme, options", [("ddpm", {}), ("ddim", {"eta": 0.5}), ("euler_ancestral", {}),
                                             ("heun_sigma", {}), ("dpmpp_2m", {})])
def test_given_noise_replays_the_compiled_run(scheme, options):
    # the normals the compiled run draws (stream "step", slot 0, per step), given back through `noise=`: the
    # numpy stages reproduce the fused numba run
    times = np.concatenate([fd.timegrid.log_snr(COSINE, 0.99, 1e-2, 12), [0.0]])
    y0 = _y0(300)
    noise = np.array([_random.normals(7, _random.STEP, 0, 300, 2, n) for n in range(13)])
    compiled = sample_reverse(COSINE, fd.ExactScore(COSINE, MIXTURE_2D), y0, scheme=scheme, time_grid=times, seed=7,
                              **options)
    replayed = sample_reverse(COSINE, fd.ExactScore(COSINE, MIXTURE_2D), y0, scheme=scheme, time_grid=times,
                              noise=noise, **options)
    assert replayed.diagnostics["noise"] == "given"
    np.testing.assert_allclose(replayed.samples, compiled.samples, rtol=1e-11, atol=1e-11)


def test_multistep_history_survives_batches():
    # dpmpp_2m keeps each particle's previous denoiser: a tabulated-free Python score runs stage by stage in
    # batches, and must give the fused run's particles
    times = fd.timegrid.log_snr(VP, 0.99, 1e-2, 15)
    exact = fd.ExactScore(VP, MIXTURE_2D)
    slow = fd.CallableScore(lambda x, t: exact.score(x, t), 2, VP)
    fused = sample_reverse(VP, exact, _y0(1000), scheme="dpmpp_2m", time_grid=times).samples
    batched = sample_reverse(VP, slow, _y0(1000), scheme="dpmpp_2m", time_grid=times, batch_size=333).samples
    np.testing.assert_allclose(batched, fused, rtol=1e-11, atol=1e-11)


def test_bad_arguments_are_named():
    score = fd.ExactScore(VP, MIXTURE_2D)
    with pytest.raises(InputError, match="eta"):
        sample_reverse(VP, score, 10, 1.0, scheme="ddim", eta=1.5)
    with pytest.raises(InputError, match="discrete-time process"):
        sample_reverse(VP, score, 10, scheme="ddim", time_grid="diffusers-leading")
    with pytest.raises(InputError, match="steps_offset"):
        sample_reverse(TABLE, fd.ExactScore(TABLE, MIXTURE_2D), 10, scheme="ddim", time_grid="diffusers-trailing",
                       steps_offset=1)
    with pytest.raises(InputError, match="runs from"):
        sample_reverse(TABLE, fd.ExactScore(TABLE, MIXTURE_2D), 10, 0.5, scheme="ddim", time_grid="diffusers-leading")
    with pytest.raises(InputError, match="only the library schemes"):
        sample_reverse(VP, score, 10, scheme="ei", time_grid=[0.9, 0.5, 0.0])
    with pytest.raises(InputError, match=r"`noise` must have shape \(steps, M, d\)"):
        sample_reverse(VP, score, 10, 0.9, steps=4, scheme="ddpm", noise=np.zeros((3, 10, 2)))
    with pytest.raises(InputError, match="`T`"):
        sample_reverse(VP, score, 10, scheme="ddim")
    with pytest.raises(InputError, match="must be < "):
        theory.gamma_of_eta(VP, 5.0, 0.9, 0.1)


# ------------------------------------------------------------------ orders


def _affine_map(process, scheme, mixture, times):
    """A deterministic scheme with a Gaussian's (affine) score maps y to A y + B: read A and B off two points."""
    ends = _run(process, scheme, np.array([[0.0], [1.0]]), times, mixture=mixture)[:, 0]
    return ends[1] - ends[0], ends[0]


@pytest.mark.parametrize("scheme", ["ddim", "euler", "heun_sigma", "dpmpp_2m"])
@pytest.mark.parametrize("process", [VP, COSINE], ids=repr)
def test_deterministic_order_with_exact_moments(scheme, process):
    # one Gaussian: the scheme's output from the exact p_T is Gaussian, with moments from its affine map;
    # their error against the exact p_{t_min} has no Monte-Carlo part
    mu, c, T, t_min = 1.3, 0.4**2, 0.95, 1e-2
    gaussian = fd.GaussianMixture([1.0], [[mu]], [c])
    a_T, v_T = float(process.alpha(T)), float(process.variance(T))
    a_min, v_min = float(process.alpha(t_min)), float(process.variance(t_min))
    steps = [16, 32, 64, 128]  # dpmpp_2m's mean and variance errors cancel in part at 8 steps
    errors = []
    for n in steps:
        gain, shift = _affine_map(process, scheme, gaussian, fd.timegrid.log_snr(process, T, t_min, n))
        errors.append(abs(gain * a_T * mu + shift - a_min * mu) + abs(gain**2 * (a_T**2 * c + v_T) - (a_min**2 * c + v_min)))
    declared = SCHEMES[scheme].order
    assert declared - 0.2 <= observed_order(1 / np.asarray(steps), errors) <= declared + 0.5, errors


@pytest.mark.parametrize("scheme", ["ddim", "euler", "heun_sigma", "dpmpp_2m"])
def test_deterministic_order_on_the_mixture(scheme):
    # the probability-flow ODE of a mixture from fixed start points: error against a fine run of fpdiff's "heun"
    # in t (another scheme, another variable; 4000 and 8000 steps differ by 5e-6) on the cosine schedule. The
    # median over the particles: the few that start near the separatrix between the modes switch mode at
    # coarse steps (an O(1) error for those, whatever the order)
    score = fd.ExactScore(COSINE, MIXTURE_1D)
    y0 = MIXTURE_1D.evolve(COSINE, 0.95).sample(200, seed=3)
    reference = sample_reverse(COSINE, score, y0, 0.95, gamma=0.0, t_min=1e-2, steps=4000, scheme="heun",
                               time_grid="log-snr").samples
    steps = [16, 32, 64, 128]
    errors = [np.median(np.abs(sample_reverse(COSINE, score, y0, 0.95, t_min=1e-2, steps=n, scheme=scheme).samples
                               - reference)) for n in steps]
    declared = SCHEMES[scheme].order
    assert declared - 0.2 <= observed_order(1 / np.asarray(steps), errors) <= declared + 0.5, errors


@pytest.mark.parametrize("scheme, options", [("ddpm", {}), ("ddim", {"eta": 0.5}), ("euler_ancestral", {})])
def test_stochastic_weak_order_on_the_mixture(scheme, options):
    # E[Y^2] at t_min (exact for the mixture) from 10^5 particles of the exact p_T, the same start points and
    # seed at every step count: the Monte-Carlo error (~0.01, mostly common to the runs) stays below the bias
    process, T, t_min = COSINE, 0.95, 1e-2
    score = fd.ExactScore(process, MIXTURE_1D)
    exact = MIXTURE_1D.evolve(process, t_min)
    second_moment = exact.covariance()[0, 0] + exact.mean()[0] ** 2
    y0 = MIXTURE_1D.evolve(process, T).sample(100_000, seed=5)
    steps = [4, 8, 16, 32]
    errors = [abs(np.mean(sample_reverse(process, score, y0, T, t_min=t_min, steps=n, scheme=scheme, seed=11,
                                         time_grid="uniform", **options).samples ** 2) - second_moment)
              for n in steps]
    declared = SCHEMES[scheme].weak_order
    assert declared - 0.3 <= observed_order(1 / np.asarray(steps), errors) <= declared + 0.5, errors


# ------------------------------------------------------------------ Karras' churn


def _k_diffusion_loop(denoise, x, sigmas, noise, heun, s_churn, s_tmin, s_tmax):
    """k-diffusion's ``sample_euler`` / ``sample_heun`` with churn (Karras et al. 2022, Alg. 2), written out."""
    for i in range(len(sigmas) - 1):
        gamma = min(s_churn / (len(sigmas) - 1), 2**0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.0
        sigma_hat = sigmas[i] * (gamma + 1)
        if gamma > 0:
            x = x + noise[i] * (sigma_hat**2 - sigmas[i] ** 2) ** 0.5
        d = (x - denoise(x, sigma_hat)) / sigma_hat
        dt = sigmas[i + 1] - sigma_hat
        if not heun or sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = (x_2 - denoise(x_2, sigmas[i + 1])) / sigmas[i + 1]
            x = x + (d + d_2) / 2 * dt
    return x


@pytest.mark.parametrize("scheme", ["euler", "heun_sigma"])
def test_churn_is_k_diffusions_stochastic_sampler(scheme):
    # on EDM (y = y / alpha, sigma = t), the same noise: fpdiff's stages against the loop written out
    times = np.concatenate([fd.timegrid.karras(EDM, 80.0, 0.002, 14), [0.0]])
    y0 = 80.0 * _y0(200)
    noise = np.random.default_rng(4).normal(size=(15, 200, 2))
    churn = {"s_churn": 10.0, "s_tmin": 0.05, "s_tmax": 50.0}
    score = fd.ExactScore(EDM, MIXTURE_2D)

    def denoise(x, sigma):  # Tweedie: xhat0 = x + sigma^2 s(x, sigma)
        return x + sigma * sigma * score.score(x, sigma)

    expected = _k_diffusion_loop(denoise, y0, times, noise, scheme == "heun_sigma", **churn)
    run = sample_reverse(EDM, score, y0, scheme=scheme, time_grid=times, noise=noise, **churn)
    np.testing.assert_allclose(run.samples, expected, rtol=1e-11, atol=1e-11)
    # and the compiled run draws the same noise from its stream
    stream = np.array([_random.normals(5, _random.STEP, 0, 200, 2, n) for n in range(15)])
    compiled = sample_reverse(EDM, score, y0, scheme=scheme, time_grid=times, seed=5, **churn).samples
    np.testing.assert_allclose(compiled, _k_diffusion_loop(denoise, y0, times, stream, scheme == "heun_sigma",
                                                           **churn), rtol=1e-11, atol=1e-11)


def test_churn_adds_noise_only_in_its_sigma_range():
    times = fd.timegrid.karras(EDM, 80.0, 0.002, 10)
    score = fd.ExactScore(EDM, MIXTURE_2D)
    outside = sample_reverse(EDM, score, 80.0 * _y0(), scheme="euler", time_grid=times, s_churn=5.0, s_tmin=100.0,
                             s_tmax=200.0)
    plain = sample_reverse(EDM, score, 80.0 * _y0(), scheme="euler", time_grid=times)
    np.testing.assert_array_equal(outside.samples, plain.samples)
    assert outside.diagnostics["score_evaluations"] == plain.diagnostics["score_evaluations"] == 10


@pytest.mark.parametrize("scheme", ["euler", "heun_sigma"])
def test_churn_weak_order_with_exact_moments(scheme):
    # one Gaussian N(mu, c) on EDM: every stage is affine in y with Gaussian noise, so the mean and variance
    # propagate exactly (probes 0 and 1, and the noise's coefficient). The churn's noise maps p_sigma to
    # p_sigma_hat exactly, so the weak order stays the deterministic step's: 1 (euler) and 2 (heun_sigma)
    mu, c, T, t_min = 0.7, 0.3**2, 80.0, 0.05
    score = fd.ExactScore(EDM, fd.GaussianMixture([1.0], [[mu]], [c]))
    dynamics = fd.reverse_dynamics(EDM, score, 0.0, T, t_min)
    options = check_scheme_options(scheme, {"s_churn": 4.0})  # gamma_n = 4 / N below its cap sqrt(2) - 1
    errors, steps = [], [32, 64, 128, 256, 512]
    for n in steps:
        times = fd.timegrid.karras(EDM, T, t_min, n)
        mean, variance = mu, c + T * T
        for k in range(n):
            for stage in plan_step(scheme, dynamics, times[k], times[k + 1], options, None, n):
                at_a, at_b = (lambda y, t=stage.t_a: score.score(y, t)), (lambda y, t=stage.t_b: score.score(y, t))
                zero, one = np.zeros((1, 1)), np.ones((1, 1))
                shift = reference_stage(stage, zero, at_a, at_b, zero)[0, 0]
                gain = reference_stage(stage, one, at_a, at_b, zero)[0, 0] - shift
                spread = reference_stage(stage, zero, at_a, at_b, one)[0, 0] - shift if stage.noisy else 0.0
                mean, variance = gain * mean + shift, gain**2 * variance + spread**2
        errors.append(abs(mean - mu) + abs(variance - (c + t_min**2)))
    declared = SCHEMES[scheme].weak_order
    assert declared - 0.2 <= observed_order(1 / np.asarray(steps), errors) <= declared + 0.5, errors


def test_churn_beyond_a_bounded_schedule_is_refused():
    score = fd.ExactScore(TABLE, MIXTURE_2D)
    with pytest.raises(InputError, match="s_tmax"):
        sample_reverse(TABLE, score, 10, scheme="euler", time_grid="diffusers-trailing", steps=10, s_churn=5.0)


def test_gamma_of_eta_tends_to_eta_as_the_step_shrinks():
    # gamma_n^2 = log(1 + eta^2 expm1(-d)) / (-d), d the step's log-SNR increment: eta^2 + O(d), so the grid view
    # of DDIM(eta) is the gamma-family at gamma = eta (examples/sampler_lab.py draws it)
    process, t, eta = fd.VP(), 0.5, 0.5
    steps = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = [abs(theory.gamma_of_eta(process, eta, t, t - h) - eta) for h in steps]
    assert 0.9 <= fd.metrics.observed_order(steps, errors) <= 1.1, errors
