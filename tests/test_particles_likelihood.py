"""The likelihood view: log_likelihood against exact log-densities and against the grid's density."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.particles import log_likelihood

OU = fd.OU()
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.5**2, 0.6**2], [0.7**2, 0.5**2]])
T, T_MIN = 1.0, 1e-3


@pytest.mark.parametrize("mixture", [MIXTURE_1D, MIXTURE_2D], ids=["1d", "2d"])
def test_exact_score_gives_the_exact_log_density_with_second_order(mixture):
    # gamma = 0 maps p_T to p_{t_min} exactly: started from the exact p_T, the flow's log-density is log p_{t_min}
    score = fd.ExactScore(OU, mixture)
    p_min = mixture.evolve(OU, T_MIN)
    x = p_min.sample(50, seed=1)
    steps = [50, 100, 200, 400]
    errors = [np.max(np.abs(log_likelihood(OU, score, x, T, T_MIN, steps=n, prior=mixture.evolve(OU, T))
                            - p_min.logpdf(x))) for n in steps]
    assert errors[-2] < 1e-3, errors  # 200 steps
    assert -np.polyfit(np.log(steps), np.log(errors), 1)[0] >= 1.8, errors  # Heun: order 2


def test_matches_the_log_of_the_grid_density():
    # a third view of the same model: the gamma = 0 density solve from the same prior N(0, 1) (not p_T)
    score = fd.ExactScore(OU, MIXTURE_1D)
    x = None
    distances = []
    for cells_count in (400, 1200):  # the centres of the coarse grid are centres of the fine one
        grid = fd.Grid([(-8.0, 8.0)], cells_count)
        density = fd.solve_reverse(OU, grid, score, T, gamma=0.0, t_min=T_MIN).final
        if x is None:
            cells = np.flatnonzero(density > 0.02)[::4]
            x = grid.centers[0][cells]
            likelihood = log_likelihood(OU, score, x, T, T_MIN, steps=800)
            # the start differs from p_T, so the answer is not log p_{t_min}; both views must agree on it anyway
            assert np.max(np.abs(likelihood - MIXTURE_1D.evolve(OU, T_MIN).logpdf(x))) > 0.1
        cells = np.searchsorted(grid.edges[0], x) - 1
        # the value at a cell centre from the cell averages, to fourth order: a cell average differs from it by
        # h^2 p''/24 (up to 1e-3 relative here), more than the two solvers differ
        point = density[cells] - (density[cells + 1] - 2 * density[cells] + density[cells - 1]) / 24
        distances.append(np.max(np.abs(likelihood - np.log(point))))
    # the density solve (semi-Lagrangian) and the ODE (Heun, 800 steps) agree to 1e-4 in log, and the
    # distance falls with the grid's error
    assert distances[-1] < 1e-4 and distances[0] > 2 * distances[-1], distances


@pytest.mark.parametrize("mixture", [MIXTURE_1D, MIXTURE_2D], ids=["1d", "2d"])
def test_finite_difference_divergence_agrees_with_exact(mixture):
    score = fd.ExactScore(OU, mixture)
    x = mixture.evolve(OU, T_MIN).sample(20, seed=3)
    exact = log_likelihood(OU, score, x, T, T_MIN, steps=50, divergence="exact")
    differences = log_likelihood(OU, score, x, T, T_MIN, steps=50, divergence="fd")
    # central differences with delta = 1e-3 sqrt(v_t): relative error ~1e-6 of the divergence
    np.testing.assert_allclose(differences, exact, atol=1e-4)


def test_hutchinson_is_unbiased():
    # 400 copies of each of 3 points: each copy has its own Rademacher probe (particle index), so the mean of the
    # 400 estimates is within 5 standard errors of the exact-divergence value (in 1-D the probe is exact)
    score = fd.ExactScore(OU, MIXTURE_2D)
    x = MIXTURE_2D.evolve(OU, T_MIN).sample(3, seed=4)
    exact = log_likelihood(OU, score, x, T, T_MIN, steps=50)
    estimates = log_likelihood(OU, score, np.repeat(x, 400, axis=0), T, T_MIN, steps=50, divergence="hutchinson",
                               seed=5).reshape(3, 400)
    standard_error = estimates.std(axis=1) / np.sqrt(400)
    assert np.all(np.abs(estimates.mean(axis=1) - exact) < 5 * standard_error + 1e-9)
    more_probes = log_likelihood(OU, score, x, T, T_MIN, steps=50, divergence="hutchinson", probes=400, seed=5)
    assert np.all(np.abs(more_probes - exact) < 5 * estimates.std(axis=1) / np.sqrt(400) + 1e-9)


def test_empirical_score_exact_divergence_and_slow_path():
    points = MIXTURE_2D.sample(30, seed=6)
    score = fd.EmpiricalScore(OU, points)
    t_min = 0.05
    x = fd.Empirical(points).evolve(OU, t_min).sample(10, seed=7)
    exact = log_likelihood(OU, score, x, T, t_min, steps=100, prior=fd.Empirical(points).evolve(OU, T))
    # the empirical model at t_min is the mixture of N(alpha x_i, v I): its log-density is known exactly
    np.testing.assert_allclose(exact, fd.Empirical(points).evolve(OU, t_min).logpdf(x), atol=2e-3)
    slow = fd.CallableScore(lambda y, t: score.score(y, t), 2, OU)
    with pytest.raises(fd.InputError, match="divergence='fd'"):
        log_likelihood(OU, slow, x, T, t_min, divergence="exact")
    np.testing.assert_allclose(log_likelihood(OU, slow, x, T, t_min, steps=100, prior=fd.Empirical(points).evolve(
        OU, T)), exact, atol=1e-4)  # the default for a Python score is "fd"


def test_bad_input_is_named():
    score = fd.ExactScore(OU, MIXTURE_1D)
    with pytest.raises(fd.InputError, match="divergence"):
        log_likelihood(OU, score, [0.0], T, T_MIN, divergence="autograd")
    with pytest.raises(fd.InputError, match="t_min"):
        log_likelihood(OU, score, [0.0], T, 2.0)
    with pytest.raises(fd.InputError, match="`x`"):
        log_likelihood(OU, score, [[0.0, 1.0]], T, T_MIN)
    with pytest.raises(fd.InputError, match="unknown option"):
        log_likelihood(OU, score, [0.0], T, T_MIN, tolerance=1e-3)
    with pytest.raises(fd.InputError, match="prior"):
        log_likelihood(OU, score, [0.0], T, T_MIN, prior=MIXTURE_2D)
