import numpy as np
import pytest

import fpdiff as fd


def test_forward_dynamics_of_ou():
    process = fd.VP(0.1, 20.0)
    dynamics = fd.forward_dynamics(process, T=1.0)
    x = np.array([[0.5], [-2.0]])
    np.testing.assert_allclose(dynamics.drift(x, 0.3), -process.drift_rate(0.3) * x)
    assert dynamics.noise(0.3) == pytest.approx(process.diffusion(0.3))
    assert dynamics.diffusion_coefficient(0.3) == pytest.approx(0.5 * process.diffusion(0.3) ** 2)
    assert dynamics.time_label(0.3) == pytest.approx(0.3)
    assert not dynamics.autonomous and fd.forward_dynamics(fd.OU()).autonomous


def test_linear_face_drift_equals_pointwise_evaluation():
    process = fd.OU(beta=0.7, sigma=1.0)
    grid = fd.Grid([(-2, 3), (-1, 1), (0, 2)], [5, 4, 3])
    linear = fd.forward_dynamics(process, 1.0)
    generic = fd.Dynamics(lambda x, tau: -0.7 * x, lambda tau: 1.0, 1.0)
    for axis in range(3):
        expected = generic.face_drift(grid, 0.2, axis)
        shape = list(grid.shape)
        shape[axis] += 1
        assert expected.shape == tuple(shape) and expected.flags.c_contiguous
        np.testing.assert_allclose(linear.face_drift(grid, 0.2, axis), expected, rtol=1e-15)


def test_reverse_time_labels():
    dynamics = fd.Dynamics(lambda x, tau: 0 * x, lambda tau: 1.0, 2.0, t_start=2.0, direction=-1)
    assert dynamics.time_label(0.5) == pytest.approx(1.5)
    assert dynamics.solver_time(1.5) == pytest.approx(0.5)
    with pytest.raises(fd.InputError, match="direction"):
        fd.Dynamics(lambda x, tau: x, lambda tau: 1.0, 1.0, direction=0)
    with pytest.raises(fd.InputError, match="tau_end"):
        fd.Dynamics(lambda x, tau: x, lambda tau: 1.0, -1.0)


def test_generic_dynamics_runs_in_the_density_view():
    # a user-defined dynamics (OU written by hand) gives the same density as the forward process
    from fpdiff.fv import integrate_density
    from fpdiff.fv.solve import merge_save_times

    grid = fd.Grid([(-8, 8)], 120)
    p0 = fd.GaussianMixture([1.0], [[1.0]], [0.5]).cell_average(grid)
    taus, saved = merge_save_times(np.linspace(0, 1, 21), [0.0, 1.0])
    generic = fd.Dynamics(lambda x, tau: -x, lambda tau: 2**0.5, 1.0)
    by_hand = integrate_density(generic, grid, p0, taus, saved, "trbdf2").final
    builtin = fd.solve_forward(fd.OU(), grid, p0, 1.0, steps=20).final
    np.testing.assert_allclose(by_hand, builtin, rtol=1e-12, atol=1e-15)
