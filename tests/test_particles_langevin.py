"""Unadjusted Langevin sampling: exact stationary law of the discretised chain, step-size bias, slow path."""

import numpy as np
import pytest
from scipy.special import ndtr

import fpdiff as fd
from fpdiff.particles import sample_langevin


def test_gaussian_target_has_the_known_step_size_bias():
    # for pi = N(m, c) the chain is x' = x + eps (m - x)/c + sqrt(2 eps) xi: its stationary law is
    # N(m, c / (1 - eps/(2c))) exactly, so the O(eps) bias is known in closed form
    mean, variance, n = 0.5, 0.8, 100_000
    target = fd.GaussianMixture([1.0], [[mean]], [variance])
    x0 = np.random.default_rng(0).normal(size=(n, 1)) * 3
    for step in (0.05, 0.2):
        # the variance relaxes as (1 - eps/c)^(2k): 6 c/eps steps bring the start (variance 9) within 1e-4
        samples = sample_langevin(target, x0, step, int(6 * variance / step), seed=1).samples[:, 0]
        stationary = variance / (1 - step / (2 * variance))
        # 5 standard errors of the sample mean and variance of n normals
        assert abs(samples.mean() - mean) < 5 * np.sqrt(stationary / n)
        assert abs(samples.var() - stationary) < 5 * stationary * np.sqrt(2 / n)
    assert abs(samples.var() - variance) > 20 * variance * np.sqrt(2 / n)  # the bias is real at eps = 0.2


def _w1_to_mixture(samples, weights, means, std):
    """Exact 1-D W1 = int |F_n - F| between the empirical CDF and the mixture's, on a fine grid."""
    grid = np.linspace(-6, 6, 24001)
    empirical = np.searchsorted(np.sort(samples), grid) / len(samples)
    exact = sum(w * ndtr((grid - m) / std) for w, m in zip(weights, means))
    return np.sum(np.abs(empirical - exact)) * (grid[1] - grid[0])


def test_mixture_target_converges_with_first_order_step_bias():
    target = fd.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [0.25, 0.25])
    x0 = np.random.default_rng(2).normal(size=(20_000, 1)) * 2
    steps = [0.2, 0.1, 0.05]
    # Langevin time 10 per run: the chain has mixed (relaxation time ~1 for these overlapping modes)
    distances = [_w1_to_mixture(sample_langevin(target, x0, eps, int(10 / eps), seed=3).samples[:, 0],
                                [0.5, 0.5], [-1.0, 1.0], 0.5) for eps in steps]
    # Monte-Carlo floor of W1 with 2e4 samples ~ 0.006; biases 0.10 .. 0.025 dominate it
    assert distances[-1] < 0.04, distances
    slope = np.polyfit(np.log(steps), np.log(distances), 1)[0]
    assert 0.7 <= slope <= 1.3, (slope, distances)


def test_callable_slow_path_gives_the_kernel_samples():
    target = fd.GaussianMixture([0.3, 0.7], [[-1.0, 0.0], [1.0, 0.5]], [0.3, 0.5])
    x0 = np.random.default_rng(4).normal(size=(300, 2))
    fast = sample_langevin(target, x0, 0.05, 20, seed=5, save_every=5)
    slow = sample_langevin(target.score, x0, 0.05, 20, seed=5, save_every=5)
    assert fast.diagnostics["score"] == "mixture (numba)" and slow.diagnostics["score"] == "python (slow path)"
    np.testing.assert_allclose(slow.snapshots, fast.snapshots, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fast.t, 0.05 * np.array([0, 5, 10, 15, 20]))
    np.testing.assert_array_equal(fast.at(1.0), fast.samples)
    np.testing.assert_array_equal(fast.at(0.5), fast.snapshots[2])


def test_bad_input_is_named():
    target = fd.GaussianMixture([1.0], [[0.0]], [1.0])
    with pytest.raises(fd.InputError, match="step"):
        sample_langevin(target, [[0.0]], -0.1, 10)
    with pytest.raises(fd.InputError, match="score_fn"):
        sample_langevin(fd.ExactScore(fd.OU(), target), [[0.0]], 0.1, 10)
    with pytest.raises(fd.InputError, match="column"):
        sample_langevin(target, [[0.0, 1.0]], 0.1, 10)
    with pytest.raises(fd.BlowUpError, match="step"):
        sample_langevin(fd.GaussianMixture([1.0], [[0.0]], [1e-3]), [[1.0]], 1.0, 2000)
