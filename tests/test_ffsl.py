"""The flux-form semi-Lagrangian transport (method "ffsl", gamma = 0): exactness, order, mass, positivity."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.fv import _ffsl_kernels
from fpdiff.metrics import observed_order

OU = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.5**2, 0.6**2], [0.7**2, 0.5**2]])
T, T_MIN = 1.0, 1e-3


def reverse(process, mixture, grid, q0=None, **kwargs):
    """The gamma = 0 density solve with the exact score, from the exact p_T unless ``q0`` is given."""
    q0 = mixture.evolve(process, T) if q0 is None else q0
    return fd.solve_reverse(process, grid, fd.ExactScore(process, mixture), T, q0=q0, gamma=0.0, t_min=T_MIN,
                            **kwargs)


def error(process, mixture, grid, **kwargs):
    """L1 distance at t_min from the exact p_{t_min} (the exact score maps p_T onto it)."""
    solution = reverse(process, mixture, grid, **kwargs)
    return grid.integrate(np.abs(solution.final - mixture.evolve(process, T_MIN).cell_average(grid)))


def test_a_constant_drift_of_whole_cells_is_an_exact_shift():
    # a drift of exactly 3 cells per step: every departure point is a face, so the remap moves whole cells
    # (nothing reconstructed), and the no-flux right wall collects what arrives at it
    n, h, dt = 40, 0.25, 0.5
    p = np.random.default_rng(1).random((1, n, 1))
    drift = np.full((1, n + 1, 1), 3 * h / dt)
    out = np.empty_like(p)
    _ffsl_kernels.remap(p, drift, drift, drift, dt, h, False, False, out, False)
    np.testing.assert_array_equal(out[0, 3:-1, 0], p[0, :-4, 0])
    assert np.all(out[0, :3, 0] == 0.0)  # the left wall lets nothing in
    assert out[0, -1, 0] == pytest.approx(p[0, -4:, 0].sum(), rel=1e-14)
    np.testing.assert_allclose(out.sum(), p.sum(), rtol=1e-14)


def test_an_absorbing_wall_lets_the_mass_out():
    # the same shift through absorbing walls: the 3 cells that cross the right face leave, nothing enters
    n, h, dt = 40, 0.25, 0.5
    p = np.random.default_rng(2).random((1, n, 1))
    drift = np.full((1, n + 1, 1), 3 * h / dt)
    out = np.empty_like(p)
    _ffsl_kernels.remap(p, drift, drift, drift, dt, h, True, True, out, False)
    np.testing.assert_array_equal(out[0, 3:, 0], p[0, :-3, 0])
    assert np.all(out[0, :3, 0] == 0.0)


def test_parallel_blocks_give_the_same_numbers():
    rng = np.random.default_rng(3)
    p = rng.random((3, 50, 17))
    drifts = [rng.normal(size=(3, 51, 17)) for _ in range(3)]
    serial, parallel = np.empty_like(p), np.empty_like(p)
    _ffsl_kernels.remap(p, *drifts, 0.01, 0.1, False, True, serial, False)
    _ffsl_kernels.remap(p, *drifts, 0.01, 0.1, False, True, parallel, True)
    np.testing.assert_array_equal(serial, parallel)


@pytest.mark.parametrize(
    "process, bounds",
    [(OU, (-10.0, 10.0)), (fd.VP(beta_min=0.1, beta_max=20.0), (-6.0, 6.0))],
    ids=["OU", "VP"],
)
def test_second_order_in_1d(process, bounds):
    cells = [100, 200, 400, 800]
    errors = [error(process, MIXTURE_1D, fd.Grid([bounds], n)) for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= 1.9, errors


def test_second_order_in_2d():
    cells = [32, 64, 128]
    errors = [error(OU, MIXTURE_2D, fd.Grid([(-6, 6)] * 2, n)) for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= 1.9, errors


def test_it_is_the_default_for_gamma_zero_and_no_cfl_number_binds_it():
    # 1-D OU at 800 cells: the drift crosses up to ~15 cells per step, yet every step is one remap (its drift
    # slope stays below the step condition), and the error is below the CFL-bound MUSCL/SSP-RK3 solve's
    grid = fd.Grid([(-10, 10)], 800)
    solution = reverse(OU, MIXTURE_1D, grid)
    assert solution.diagnostics["method"] == "ffsl"
    assert solution.diagnostics["substeps"] == solution.diagnostics["steps"]
    dynamics = fd.dynamics.reverse_dynamics(OU, fd.ExactScore(OU, MIXTURE_1D), 0.0, T, T_MIN)
    dt = (T - T_MIN) / solution.diagnostics["steps"]
    courant = max(np.abs(dynamics.face_drift(grid, tau, 0)).max() for tau in np.linspace(0, T - T_MIN, 11))
    assert courant * dt / grid.spacing[0] > 10
    old = error(OU, MIXTURE_1D, grid, method="ssprk3")
    assert error(OU, MIXTURE_1D, grid) < 0.1 * old


def test_agrees_with_muscl_ssprk3_off_the_exact_path():
    # from the prior N(0, 1) instead of p_T there is no closed form; the two gamma = 0 schemes must converge to
    # the same density (their distance falls with the grid like their errors)
    cells = [100, 200, 400]
    distances = []
    for n in cells:
        grid = fd.Grid([(-8, 8)], n)
        new = reverse(OU, MIXTURE_1D, grid, q0=OU.prior(T)).final
        old = reverse(OU, MIXTURE_1D, grid, q0=OU.prior(T), method="ssprk3").final
        distances.append(grid.integrate(np.abs(new - old)))
    assert observed_order(1 / np.asarray(cells), distances) >= 1.5, distances
    assert distances[-1] < 3e-3, distances


@pytest.mark.parametrize("ndim, cells", [(1, 200), (2, 40), (3, 16)])
def test_mass_is_conserved_and_densities_stay_non_negative(ndim, cells):
    # two steps over [t_min, T]: the last spans a drift slope far beyond the step condition, so it is cut
    mixture = fd.GaussianMixture([0.3, 0.7], [[-1.0] * ndim, [1.5] * ndim], [[0.2] * ndim, [0.4] * ndim])
    grid = fd.Grid([(-6, 6)] * ndim, cells)
    solution = reverse(OU, mixture, grid, steps=2, save_at=[T_MIN, 0.5, T])
    masses = solution.mass()
    np.testing.assert_allclose(masses, masses[0], rtol=1e-13)
    assert solution.values.min() >= 0.0
    assert solution.diagnostics["substeps"] > 2


def test_a_point_mass_start_stays_non_negative():
    # a start of one cell (the roughest data): the unlimited parabolas are scaled back to non-negative ones
    grid = fd.Grid([(-6, 6)] * 2, 48)
    q0 = np.zeros(grid.shape)
    q0[30, 20] = 1.0 / grid.cell_volume
    solution = fd.solve_reverse(OU, grid, fd.ExactScore(OU, MIXTURE_2D), T, q0=q0, gamma=0.0, t_min=0.05, steps=10,
                                save_at=np.linspace(0.05, T, 5))
    assert solution.values.min() >= 0.0
    np.testing.assert_allclose(solution.mass(), 1.0, rtol=1e-13)


def test_absorbing_walls_lose_what_muscl_loses():
    # a box that cuts the law: the mass that leaves agrees with the MUSCL/SSP-RK3 solve's to its discretisation
    grid = fd.Grid([(-2.5, 2.5)], 400, boundary="absorbing")
    lost = {}
    for method in ("ffsl", "ssprk3"):
        with pytest.warns(fd.MassWarning):
            solution = reverse(OU, MIXTURE_1D, grid, method=method, steps=40)
        assert solution.values.min() >= 0.0
        lost[method] = solution.diagnostics["boundary_outflow"]
    assert lost["ffsl"] > 1e-2
    assert lost["ffsl"] == pytest.approx(lost["ssprk3"], rel=1e-3)


def test_a_comoving_grid_keeps_the_accuracy():
    # VE spreads far beyond the data: on the co-moving grid the transport is still pure and second order
    ve = fd.VE(sigma_min=0.01, sigma_max=10.0)
    cells = [100, 200, 400]
    errors = []
    for n in cells:
        solution = reverse(ve, MIXTURE_1D, fd.Grid([(-5, 5)], n), comoving=True)
        end = solution.grid_at(T_MIN)
        errors.append(end.integrate(np.abs(solution.final - MIXTURE_1D.evolve(ve, T_MIN).cell_average(end))))
    assert solution.diagnostics["method"] == "ffsl"
    assert observed_order(1 / np.asarray(cells), errors) >= 1.9, errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gamma": 0.5, "method": "ffsl"}, r"`method='ffsl'` solves pure transport.*got gamma=0\.5, flux='sg'"),
        ({"gamma": lambda t: 0.0, "method": "ffsl"}, r"needs a constant gamma = 0"),
        ({"gamma": 0.0, "method": "ffsl", "flux": "sg"}, r"got gamma=0\.0, flux='sg'"),
        ({"gamma": 0.0, "method": "trbdf2"}, r"needs an explicit method \('ffsl' or 'ssprk3'\)"),
    ],
)
def test_bad_ffsl_input(kwargs, match):
    with pytest.raises(fd.InputError, match=match):
        fd.solve_reverse(OU, fd.Grid([(-5, 5)], 50), fd.ExactScore(OU, MIXTURE_1D), T, steps=5, **kwargs)


def test_the_forward_equation_refuses_ffsl():
    with pytest.raises(fd.InputError, match=r"`method='ffsl'` solves pure transport .* the forward equation diffuses"):
        fd.solve_forward(OU, fd.Grid([(-5, 5)], 50), MIXTURE_1D, 1.0, method="ffsl")
