"""Forward Fokker–Planck finite volumes against exact Gaussian-mixture solutions."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.metrics import observed_order
from fpdiff.fv import METHODS

FORWARD_METHODS = [name for name, stepper in METHODS.items() if not stepper.transport_only]  # the forward diffuses

OU = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-2.0, 1.0], [1.5, -1.0]], [[0.3**2, 0.5**2], [0.6**2, 0.4**2]])


def l1_error(process, p0, grid, T, **kwargs):
    solution = fd.solve_forward(process, grid, p0, T, **kwargs)
    exact = p0.evolve(process, T).cell_average(grid)
    return grid.integrate(np.abs(solution.final - exact)), solution


def steps_for(method, cells):
    """Time steps refined with h so the time error scales like h^2 (or h^3 for ssprk3)."""
    order = METHODS[method].order
    if method == "ssprk3":
        return 4  # sub-stepped for stability anyway: its time error is far below the space error
    return int(np.ceil(0.03 * cells ** (2 / order))) if order == 1 else cells // 4


@pytest.mark.parametrize("method", FORWARD_METHODS)
def test_convergence_order_1d_ou(method):
    cells = [100, 200, 400, 800]
    errors = [
        l1_error(OU, MIXTURE_1D, fd.Grid([(-10, 10)], n), 1.0, steps=steps_for(method, n), method=method)[0]
        for n in cells
    ]
    order = observed_order(1 / np.asarray(cells), errors)
    assert order >= 1.8, f"{method}: errors {errors}, order {order:.2f}"
    assert errors[-1] < 1e-4


@pytest.mark.parametrize("method", FORWARD_METHODS)
def test_convergence_order_2d_ou(method):
    cells = [16, 32, 64, 128]
    errors = [
        l1_error(OU, MIXTURE_2D, fd.Grid([(-8, 8), (-8, 8)], n), 1.0, steps=steps_for(method, n), method=method)[0]
        for n in cells
    ]
    order = observed_order(1 / np.asarray(cells), errors)
    assert order >= 1.8, f"{method}: errors {errors}, order {order:.2f}"


@pytest.mark.parametrize(
    "process, bounds",
    [(fd.VP(beta_min=0.1, beta_max=20.0), (-8.0, 8.0)), (fd.VE(sigma_min=0.01, sigma_max=3.0), (-18.0, 18.0))],
    ids=["VP", "VE"],
)
def test_convergence_order_vp_ve(process, bounds):
    cells = [100, 200, 400, 800]
    errors = [l1_error(process, MIXTURE_1D, fd.Grid([bounds], n), 1.0, steps=n // 2)[0] for n in cells]
    order = observed_order(1 / np.asarray(cells), errors)
    assert order >= 1.8, f"errors {errors}, order {order:.2f}"


def test_convergence_order_3d_brownian():
    mixture = fd.GaussianMixture([1.0], [[0.5, -0.3, 0.2]], [[0.5**2, 0.4**2, 0.6**2]])
    cells = [16, 24, 32, 48]
    errors = [l1_error(fd.Brownian(0.8), mixture, fd.Grid([(-5, 5)] * 3, n), 0.5, steps=n)[0] for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= 1.8, errors


def test_default_steps_reach_space_accuracy():
    # the automatic step count keeps the time error below the O(h^2) space error:
    # doubling the steps changes the error by less than a third of it
    grid = fd.Grid([(-10, 10)], 400)
    default, solution = l1_error(OU, MIXTURE_1D, grid, 1.0)
    finer, _ = l1_error(OU, MIXTURE_1D, grid, 1.0, steps=4 * solution.diagnostics["steps"])
    assert abs(default - finer) < 0.35 * finer


@pytest.mark.parametrize("method", FORWARD_METHODS)
@pytest.mark.parametrize("ndim", [1, 2])
def test_mass_conserved_and_non_negative(method, ndim):
    # a narrow initial bump (width ~ 2 cells) and big steps: the hardest case for positivity
    grid = fd.Grid([(-5, 5)] * ndim, 60)
    bump = fd.GaussianMixture([1.0], [[0.7] * ndim], [0.15**2])
    steps = {"be": 5, "trbdf2": 40, "cn": 40, "ssprk3": 5}[method]
    solution = fd.solve_forward(OU, grid, bump, 2.0, steps=steps, method=method, save_at=np.linspace(0, 2, 11))
    mass = solution.mass()
    np.testing.assert_allclose(mass, mass[0], rtol=1e-12, atol=0)
    assert solution.values.min() >= 0.0
    assert solution.diagnostics["mass_drift"] < 1e-12


def test_backward_euler_positive_at_any_step():
    grid = fd.Grid([(-5, 5)], 200)
    p0 = np.zeros(grid.shape)
    p0[137] = 1.0 / grid.cell_volume  # all mass in one cell
    solution = fd.solve_forward(fd.OU(beta=3.0, sigma=0.2), grid, p0, 10.0, steps=3, method="be")
    assert solution.values.min() >= 0.0
    np.testing.assert_allclose(solution.mass(), 1.0, rtol=1e-12)


def test_relaxes_to_the_prior():
    process = fd.OU(beta=1.5, sigma=1.2)
    grid = fd.Grid([(-6, 6)], 300)
    solution = fd.solve_forward(process, grid, MIXTURE_1D, 12.0)
    prior = process.prior(12.0).cell_average(grid)
    # e^{-beta T} ~ 1e-8 away from the prior, plus the O(h^2) space error
    assert grid.integrate(np.abs(solution.final - prior)) < 2e-4


@pytest.mark.parametrize("method", FORWARD_METHODS)
@pytest.mark.parametrize("ndim", [1, 2])
def test_discrete_equilibrium_is_exact(method, ndim):
    # exponential fitting makes the Gaussian sampled at cell centres the exact zero-flux state
    # of the discrete OU operator (the midpoint sum of the linear drift is exact), so it must
    # stay put to round-off, even on a coarse grid
    process = fd.OU(beta=0.7, sigma=1.1)
    grid = fd.Grid([(-4, 5)] * ndim, 23)
    centres = np.meshgrid(*grid.centers, indexing="ij")
    variance = process.stationary_variance
    p0 = np.exp(-sum(c**2 for c in centres) / (2 * variance))
    p0 /= grid.integrate(p0)
    solution = fd.solve_forward(process, grid, p0, 5.0, steps=10, method=method)
    assert np.max(np.abs(solution.final - p0)) < 1e-13 * p0.max()


def test_brownian_relaxes_to_uniform_on_a_bounded_domain():
    grid = fd.Grid([(-1, 1)], 100)
    with pytest.warns(fd.MassWarning, match="of the exact law at the end lies outside the box"):  # walls: the model
        solution = fd.solve_forward(fd.Brownian(1.0), grid, fd.GaussianMixture([1.0], [[0.4]], [0.01]), 10.0)
    # slowest mode decays like exp(-D pi^2 t / L^2) = exp(-12): far below 1e-4
    assert np.max(np.abs(solution.final - 0.5)) < 1e-4


def test_absorbing_boundary_against_the_sine_mode():
    # Brownian motion on [0, 1] killed at both ends: p = sin(pi x) exp(-D pi^2 t) exactly
    sigma, T = 1.0, 0.3
    decay = np.exp(-0.5 * sigma**2 * np.pi**2 * T)
    errors, cells = [], [50, 100, 200, 400]
    for n in cells:
        grid = fd.Grid([(0, 1)], n, boundary="absorbing")
        edges = grid.edges[0]
        p0 = (np.cos(np.pi * edges[:-1]) - np.cos(np.pi * edges[1:])) / (np.pi * grid.spacing[0])
        solution = fd.solve_forward(fd.Brownian(sigma), grid, p0, T, steps=n)
        errors.append(grid.integrate(np.abs(solution.final - decay * p0)))
        assert solution.values.min() >= 0.0
        assert np.all(np.diff(solution.mass()) < 0)  # mass only leaves
    assert observed_order(1 / np.asarray(cells), errors) >= 1.8, errors


def test_save_at_and_interpolation():
    grid = fd.Grid([(-10, 10)], 200)
    solution = fd.solve_forward(OU, grid, MIXTURE_1D, 1.0, steps=10, save_at=[0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(solution.t, [0.0, 0.25, 0.5, 1.0])
    assert solution.values.shape == (4, 200)
    np.testing.assert_array_equal(solution.at(0.25), solution.values[1])
    np.testing.assert_allclose(solution.at(0.375), 0.5 * (solution.values[1] + solution.values[2]))
    np.testing.assert_array_equal(solution.final, solution.values[-1])
    exact = MIXTURE_1D.evolve(OU, 0.25).cell_average(grid)
    assert grid.integrate(np.abs(solution.at(0.25) - exact)) < 1e-2
    with pytest.raises(fd.InputError, match="outside"):
        solution.at(1.5)


def test_callable_pdf_and_array_initial_data_agree():
    grid = fd.Grid([(-10, 10)], 200)
    from_dist = fd.solve_forward(OU, grid, MIXTURE_1D, 0.5, steps=20).final
    from_array = fd.solve_forward(OU, grid, MIXTURE_1D.cell_average(grid), 0.5, steps=20).final
    np.testing.assert_array_equal(from_dist, from_array)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"p0": -np.ones(50)}, "`p0` must be non-negative"),
        ({"p0": np.full(50, np.nan)}, "`p0` must be finite"),
        ({"p0": np.ones(49)}, r"`p0` must have shape \(50,\)"),
        ({"p0": np.zeros(50)}, "`p0` must have positive mass"),
        ({"T": 0.0}, "`T` must be > 0"),
        ({"T": -1.0}, "`T` must be > 0"),
        ({"T": "one"}, "`T` must be a real number"),
        ({"method": "rk4"}, "`method` must be one of"),
        ({"steps": 0}, "`steps` must be >= 1"),
        ({"steps": 2.5}, "`steps` must be an integer"),
        ({"save_at": [0.5, 2.0]}, "`save_at` must be times in"),
        ({"grid": [(-5, 5)]}, "`grid` must be an fpdiff.Grid"),
        ({"process": "OU"}, "`process` must be an fpdiff process"),
        ({"tolerance": 1e-3}, "unknown option"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    arguments = {"process": OU, "grid": fd.Grid([(-5, 5)], 50), "p0": np.ones(50) / 10, "T": 1.0}
    arguments.update(kwargs)
    with pytest.raises(fd.InputError, match=match):
        fd.solve_forward(**arguments)


@pytest.mark.parametrize("ndim", [1, 2])
def test_crank_nicolson_is_the_trapezoidal_rule(ndim):
    """``"cn"`` against the trapezoidal rule with a dense matrix built from the numpy flux weights.

    In 1-D the step is exactly ``(I - h/2 L) p' = (I + h/2 L) p``; in 2-D each
    axis takes it inside the Strang schedule x(h/2), y(h), x(h/2).
    """
    from fpdiff.fv._reference import flux_weights, operator_matrix

    grid = fd.Grid([(-8.0, 8.0)] * ndim, [60, 44][:ndim])
    mixture = MIXTURE_1D if ndim == 1 else MIXTURE_2D
    p0 = grid.cell_average(mixture)
    steps, T = 7, 0.8
    matrices = []
    for axis in range(ndim):
        wl, wr = flux_weights(-OU.beta * grid.edges[axis], OU.diffusion_constant**2 / 2, grid.spacing[axis])
        matrices.append(operator_matrix(wl, wr))

    def trapezoidal(p, axis, h):
        identity = np.eye(len(matrices[axis]))
        lines = np.moveaxis(p, axis, 0).reshape(len(identity), -1)
        new = np.linalg.solve(identity - 0.5 * h * matrices[axis], (identity + 0.5 * h * matrices[axis]) @ lines)
        return np.moveaxis(new.reshape(np.moveaxis(p, axis, 0).shape), 0, axis)

    h = T / steps
    expected = p0.copy()
    for _ in range(steps):
        schedule = [(0, h)] if ndim == 1 else [(0, h / 2), (1, h), (0, h / 2)]
        for axis, length in schedule:
            expected = trapezoidal(expected, axis, length)
    solution = fd.solve_forward(OU, grid, p0, T, steps=steps, method="cn")
    np.testing.assert_allclose(solution.final, expected, rtol=1e-10, atol=1e-13 * p0.max())


def test_undershooting_steps_are_refined():
    # TR-BDF2's explicit half undershoots for a point mass with a step 100x the diffusive scale;
    # the solver halves that step until the density is non-negative (to the tolerance)
    grid = fd.Grid([(-5, 5)], 50)
    p0 = np.zeros(50)
    p0[25] = 1.0 / grid.cell_volume
    solution = fd.solve_forward(fd.Brownian(3.0), grid, p0, 1.0, steps=1, method="trbdf2")
    assert solution.diagnostics["substeps"] > 1
    assert -grid.integrate(np.minimum(solution.final, 0)) <= 1e-10


@pytest.mark.parametrize("process, box, options, limit", [
    (fd.OU(), (-10, 10), {}, 0.3),            # measured 0.20
    (fd.VP(), (-10, 10), {}, 0.05),           # measured 0.02
    (fd.VE(0.01, 10.0), (-40, 40), {"rtol": 1e-3}, 0.5),  # measured 0.11-0.28; without rtol 6x-45x (below)
])
def test_default_steps_time_error(process, box, options, limit):
    """What default_steps's docstring and the README claim: time error / space error at the default steps."""
    mixture = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
    for cells in (200, 400):
        grid = fd.Grid([box], cells)
        exact = grid.cell_average(mixture.evolve(process, 1.0))
        default = fd.solve_forward(process, grid, mixture, 1.0, **options)
        fine = fd.solve_forward(process, grid, mixture, 1.0, steps=4000)  # time error negligible here
        time_error = fd.metrics.l1(default.final, fine.final, grid)
        space_error = fd.metrics.l1(fine.final, exact, grid)
        assert time_error < limit * space_error
    if options:  # and without rtol the claim does not hold for VE, as documented
        plain = fd.solve_forward(process, grid, mixture, 1.0)
        assert fd.metrics.l1(plain.final, fine.final, grid) > 5 * space_error
