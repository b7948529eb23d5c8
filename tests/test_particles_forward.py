"""Forward sampling, the generic simulate path, the result object, and failing loudly."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

import fpdiff as fd
from fpdiff.particles import sample_forward, sample_reverse, simulate
from fpdiff.solution import ParticleSolution

OU = fd.OU()
VP = fd.VP()
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])


def _mixture_cdf(mixture, x):
    return sum(w * ndtr((x - m[0]) / np.sqrt(c[0, 0]))
               for w, m, c in zip(mixture.weights, mixture.means, mixture.covariances))


@pytest.mark.parametrize("process", [OU, VP], ids=["OU", "VP"])
def test_exact_forward_transitions(process):
    n = 100_000
    x0 = np.repeat([[1.0, -2.0]], n, axis=0)  # a point mass: X_t ~ N(alpha_t x0, v_t)
    solution = sample_forward(process, x0, 1.0, save_at=[0.0, 0.05, 0.3, 1.0], seed=1)
    np.testing.assert_allclose(solution.t, [0.0, 0.05, 0.3, 1.0])
    np.testing.assert_array_equal(solution.at(0.0), x0)
    for t in (0.05, 0.3, 1.0):
        y, mean, variance = solution.at(t), process.alpha(t) * x0[0], process.variance(t)
        assert np.all(np.abs(y.mean(axis=0) - mean) < 5 * np.sqrt(variance / n))  # 5 standard errors
        assert np.all(np.abs(y.var(axis=0) - variance) < 5 * variance * np.sqrt(2 / n))
    # from mixture samples the law at T is the evolved mixture (KS against its exact CDF)
    samples = sample_forward(process, MIXTURE_1D.sample(50_000, seed=2), 1.0, seed=3).samples[:, 0]
    evolved = MIXTURE_1D.evolve(process, 1.0)
    assert stats.kstest(samples, lambda x: _mixture_cdf(evolved, x)).pvalue > 1e-4


def test_forward_euler_maruyama_converges_with_first_order():
    # OU from a point: E[X_T] = alpha_T x0 exactly; EM's mean is x0 (1 - h)^N, error ~ h x0 T e^-T / 2, which
    # the Monte-Carlo error of the mean (5e-3 for 4e4 particles) does not hide at these steps
    x0 = np.full((40_000, 1), 3.0)
    errors = [abs(sample_forward(OU, x0, 1.0, scheme="em", steps=n, seed=4).samples.mean() - 3 * np.exp(-1.0))
              for n in (4, 8, 16)]
    assert errors[0] > 1.6 * errors[1] > 1.6**2 * errors[2], errors


def test_simulate_heun_is_second_order_without_noise():
    # a dynamics of our own with g = 0: dx/dtau = -x^3 + sin(tau), against a fine Heun run
    dynamics = fd.Dynamics(lambda x, tau: -x**3 + np.sin(tau), lambda tau: 0.0, 2.0)
    x0 = np.linspace(-2, 2, 21)[:, None]
    reference = simulate(dynamics, x0, steps=4096, scheme="heun").samples
    steps = [16, 32, 64, 128]
    errors = [np.max(np.abs(simulate(dynamics, x0, steps=n, scheme="heun").samples - reference)) for n in steps]
    assert 1.8 <= -np.polyfit(np.log(steps), np.log(errors), 1)[0] <= 2.5, errors


def test_simulate_forward_dynamics_matches_the_exact_law():
    n = 50_000
    x0 = np.full((n, 1), 2.0)
    solution = simulate(fd.forward_dynamics(OU, 1.0), x0, steps=200, scheme="heun", seed=5, save_at=[0.5, 1.0])
    np.testing.assert_allclose(solution.t, [0.5, 1.0])
    y = solution.samples[:, 0]
    # Heun's weak error at 200 steps (~1e-5) is far below the 5-standard-error Monte-Carlo bounds
    assert abs(y.mean() - 2 * np.exp(-1.0)) < 5 * np.sqrt(OU.variance(1.0) / n)
    assert abs(y.var() - OU.variance(1.0)) < 5 * OU.variance(1.0) * np.sqrt(2 / n)


# -------------------------------------------------------------- the result


def test_particle_solution_contract():
    score = fd.ExactScore(OU, MIXTURE_1D)
    solution = sample_reverse(OU, score, 100, 1.0, t_min=0.01, steps=10, save_at=[1.0, 0.505, 0.01], seed=2,
                              time_grid="uniform")  # 0.505 is a step time: no step added
    np.testing.assert_allclose(solution.t, [1.0, 0.505, 0.01])  # forward-time labels, descending
    assert solution.snapshots.shape == (3, 100, 1)
    np.testing.assert_array_equal(solution.samples, solution.at(0.01))
    np.testing.assert_array_equal(solution.at(0.505), solution.snapshots[1])
    with pytest.raises(fd.InputError, match="not saved"):
        solution.at(0.3)
    assert solution.diagnostics["scheme"] == "ei" and solution.diagnostics["seed"] == 2
    assert solution.diagnostics["steps"] == 10 and solution.diagnostics["wall_time"] > 0
    assert solution.diagnostics["score"] == "mixture (numba)"
    assert "100 particles" in repr(solution)
    # a save time between grid points becomes a step boundary
    between = sample_reverse(OU, score, 100, 1.0, t_min=0.01, steps=10, save_at=[0.333])
    assert between.diagnostics["steps"] == 11
    np.testing.assert_allclose(between.t, [0.333])
    with pytest.raises(fd.InputError, match="snapshots"):
        ParticleSolution([0.0, 1.0], np.zeros((1, 3, 1)))


def test_gamma_as_a_function_of_time():
    score = fd.ExactScore(OU, MIXTURE_1D)
    constant = sample_reverse(OU, score, 200, 1.0, gamma=0.5, steps=20, scheme="heun", seed=1).samples
    function = sample_reverse(OU, score, 200, 1.0, gamma=lambda t: 0.5, steps=20, scheme="heun", seed=1).samples
    np.testing.assert_array_equal(function, constant)
    with pytest.raises(fd.InputError, match="gamma"):
        sample_reverse(OU, score, 10, 1.0, gamma=lambda t: -1.0, steps=2)


def test_bad_input_is_named():
    score = fd.ExactScore(OU, MIXTURE_1D)
    cases = [
        (dict(n_or_y0=[[0.0, 1.0]]), "n_or_y0"),
        (dict(n_or_y0=0), "n_or_y0"),
        (dict(seed=-1), "seed"),
        (dict(steps=0), "steps"),
        (dict(scheme="rk4"), "scheme"),
        (dict(gamma=-0.5), "gamma"),
        (dict(t_min=2.0), "t_min"),
        (dict(save_at=[3.0]), "save_at"),
        (dict(time_grid="cosine"), "time_grid"),
        (dict(batch_size=0), "batch_size"),
        (dict(snr=0.1), "unknown option"),  # a "pc" option given to "ei"
        (dict(scheme="pc", predictor="heun"), "predictor"),
        (dict(scheme="pc", corrector_step="batch"), "corrector_step"),
    ]
    for change, match in cases:
        arguments = dict(n_or_y0=10, T=1.0)
        arguments.update(change)
        with pytest.raises(fd.InputError, match=match):
            sample_reverse(OU, score, **arguments)
    with pytest.raises(fd.InputError, match="process"):
        sample_reverse("OU", score, 10, 1.0)
    with pytest.raises(fd.InputError, match="score"):
        sample_reverse(OU, lambda x, t: x, 10, 1.0)  # a plain callable has no dimension to draw n points in
    with pytest.raises(fd.InputError, match="outside the range"):
        sample_reverse(OU, fd.CallableScore(lambda x, t: -x, 1, OU, t_range=(0.1, 1.0)), 10, 1.0, t_min=0.01)
    with pytest.raises(fd.InputError, match="x0"):
        sample_forward(OU, [[np.nan]], 1.0)
    with pytest.raises(fd.InputError, match="scheme"):
        sample_forward(OU, [[0.0]], 1.0, scheme="heun")
    with pytest.raises(fd.InputError, match="dynamics"):
        simulate(OU, [[0.0]])


def test_blow_up_is_reported_with_time_and_step():
    # Euler–Maruyama with gamma = 1000 on the OU score: the drift (1 + gamma^2) sigma^2 / 2 s makes every step
    # multiply errors by ~1e6 until the particles overflow; the kernel path must notice
    score = fd.ExactScore(OU, MIXTURE_1D)
    with pytest.raises(fd.BlowUpError, match=r"t = .* \(step \d+ of 50"):
        sample_reverse(OU, score, 100, 1.0, gamma=1000.0, steps=50, scheme="em")
    # and the Python path for a score returning inf
    infinite = fd.CallableScore(lambda x, t: np.full_like(x, np.inf), 1, OU)
    with pytest.raises(fd.BlowUpError, match="step 1 of 5"):
        sample_reverse(OU, infinite, [[0.0]], 1.0, steps=5, scheme="em")


def test_sample_forward_draws_from_a_distribution_when_given_n():
    solution = sample_forward(OU, MIXTURE_1D, 1.0, n=20_000, seed=3)
    np.testing.assert_array_equal(solution.at(0.0), MIXTURE_1D.sample(20_000, seed=3))
    # exact transitions: the samples at T are the evolved mixture (KS test at a level that fails 1 run in 1000)
    law = MIXTURE_1D.evolve(OU, 1.0)
    cdf = lambda x: sum(w * ndtr((x - m[0]) / np.sqrt(c[0, 0])) for w, m, c in
                        zip(law.weights, law.means, law.covariances))
    assert stats.kstest(solution.samples[:, 0], cdf).pvalue > 1e-3
    with pytest.raises(fd.InputError, match=r"`x0` is a GaussianMixture \(a distribution\): pass `n=`"):
        sample_forward(OU, MIXTURE_1D, 1.0)
    with pytest.raises(fd.InputError, match=r"`n` is only for a distribution `x0`"):
        sample_forward(OU, np.zeros((5, 1)), 1.0, n=5)
