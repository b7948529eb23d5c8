import ast
import pathlib

import numpy as np
import pytest

import fpdiff as fd
from fpdiff import theory


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
    from fpdiff.timegrid import merge_save_times

    grid = fd.Grid([(-8, 8)], 120)
    p0 = fd.GaussianMixture([1.0], [[1.0]], [0.5]).cell_average(grid)
    taus, saved = merge_save_times(np.linspace(0, 1, 21), [0.0, 1.0])
    generic = fd.Dynamics(lambda x, tau: -x, lambda tau: 2**0.5, 1.0)
    by_hand = integrate_density(generic, grid, p0, taus, saved, "trbdf2").final
    builtin = fd.solve_forward(fd.OU(), grid, p0, 1.0, steps=20).final
    np.testing.assert_allclose(by_hand, builtin, rtol=1e-12, atol=1e-15)


# ------------------------------------------- the reverse coefficients, against the oracles of fpdiff.theory

PROCESSES = {"OU": fd.OU(), "VP": fd.VP(0.1, 20.0), "VE": fd.VE(0.01, 50.0)}
STEPS = [(1.0, 0.95), (0.6, 0.3), (0.05, 0.01)]


def _reverse(process, gamma):
    mixture = fd.GaussianMixture([1.0], [[0.5]], [0.2])
    return fd.reverse_dynamics(process, fd.ExactScore(process, mixture), gamma, T=1.0, t_min=1e-3)


@pytest.mark.parametrize("name", list(PROCESSES))
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 1.3, 2.0])
@pytest.mark.parametrize("t, t_next", STEPS)
def test_exponential_step_is_the_theory_oracle(name, gamma, t, t_next):
    process = PROCESSES[name]
    got = _reverse(process, gamma).exponential_step(t, t_next)
    np.testing.assert_allclose(got, theory.gamma_ei_coefficients(process, t, t_next, gamma), rtol=1e-14, atol=0)
    if gamma == 0.0:
        np.testing.assert_allclose(got, theory.ddim_coefficients(process, t, t_next), rtol=1e-14, atol=0)
    if gamma == 1.0:
        np.testing.assert_allclose(got, theory.ddpm_coefficients(process, t, t_next), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", list(PROCESSES))
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_reverse_coefficients_are_the_drift_and_noise(name, gamma):
    process = PROCESSES[name]
    dynamics = _reverse(process, gamma)
    x = np.array([[-1.0], [0.3], [2.5]])
    for t in (1.0, 0.4, 1e-3):
        beta, weight, noise = dynamics.coefficients(t)
        sigma = float(process.diffusion(t))
        assert beta == float(process.drift_rate(t))
        assert weight == pytest.approx(0.5 * (1 + gamma**2) * sigma**2, rel=1e-15)
        assert noise == pytest.approx(gamma * sigma, rel=1e-15)
        tau = dynamics.solver_time(t)
        np.testing.assert_allclose(dynamics.drift(x, tau), beta * x + weight * dynamics.score.score(x, t), rtol=1e-15)
        assert dynamics.noise(tau) == noise


def test_a_gamma_function_is_frozen_at_the_start_of_the_step():
    process = PROCESSES["VP"]
    step = _reverse(process, lambda t: 2.0 * t).exponential_step(0.6, 0.3)
    np.testing.assert_allclose(step, theory.gamma_ei_coefficients(process, 0.6, 0.3, 1.2), rtol=1e-14, atol=0)


def test_no_solver_module_imports_the_oracles():
    # fpdiff.theory is for checking the solvers; a solver reading its formulas would check itself
    package = pathlib.Path(fd.__file__).parent
    sources = [package / "dynamics.py", *(package / "particles").glob("*.py"), *(package / "fv").glob("*.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(name == "theory" or name.endswith(".theory") for name in names), path
