"""The co-moving grid against the exact VE mixture solution (sigma_max = 50, data of scale 2)."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.fv.comoving import ComovingDynamics

VE = fd.VE(sigma_min=0.01, sigma_max=50.0)
MIXTURE = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
T, T_MIN = 1.0, 1e-3


def comoving_reverse_error(cells):
    grid = fd.Grid([(-10, 10)], cells)
    solution = fd.solve_reverse(VE, grid, fd.ExactScore(VE, MIXTURE), T, q0=MIXTURE.evolve(VE, T),
                                t_min=T_MIN, steps=cells, comoving=2.0)
    final_grid = solution.grid_at(T_MIN)
    return final_grid.integrate(np.abs(solution.final - MIXTURE.evolve(VE, T_MIN).cell_average(final_grid)))


def test_comoving_reverse_converges_and_beats_a_fixed_grid():
    cells = [100, 200, 400]
    errors = [comoving_reverse_error(n) for n in cells]
    assert -np.polyfit(np.log(cells), np.log(errors), 1)[0] >= 1.8, errors
    # a fixed grid must hold the spread at T (std 50): with 4x the cells it is still worse
    fixed = fd.Grid([(-250, 250)], 1600)
    solution = fd.solve_reverse(VE, fixed, fd.ExactScore(VE, MIXTURE), T, q0=MIXTURE.evolve(VE, T), t_min=T_MIN,
                                steps=400)
    fixed_error = fixed.integrate(np.abs(solution.final - MIXTURE.evolve(VE, T_MIN).cell_average(fixed)))
    assert errors[-1] < fixed_error / 10, (errors, fixed_error)


def test_comoving_forward_matches_exact_at_every_snapshot():
    grid = fd.Grid([(-10, 10)], 400)
    solution = fd.solve_forward(VE, grid, MIXTURE, T, comoving=2.0, save_at=[0.0, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(solution.scales[-1], np.sqrt(1 + VE.variance(T) / 4))
    np.testing.assert_allclose(solution.mass(), solution.mass()[0], rtol=1e-12)
    for t in solution.t:
        x_grid = solution.grid_at(t)
        exact = MIXTURE.evolve(VE, t).cell_average(x_grid)
        assert x_grid.integrate(np.abs(solution.at(t) - exact)) < 2e-3
    with pytest.raises(fd.InputError, match="not a saved time"):
        solution.at(0.7)


def test_comoving_drift_is_the_change_of_variables():
    # Z = X / c(t): the z-drift is a(c z)/c - (d ln c/dt) z; check d ln c/dt by finite differences
    dynamics = ComovingDynamics(fd.forward_dynamics(fd.VP(), 1.0), fd.VP(), 0.7)
    for tau in [0.1, 0.5, 0.9]:
        h = 1e-6
        numeric = (np.log(dynamics.scale(tau + h)) - np.log(dynamics.scale(tau - h))) / (2 * h)
        assert dynamics.log_scale_rate(tau) == pytest.approx(numeric, rel=1e-6)
    with pytest.raises(fd.InputError, match="`comoving` must be > 0"):
        fd.solve_forward(VE, fd.Grid([(-5, 5)], 20), MIXTURE, 1.0, comoving=-1.0)
