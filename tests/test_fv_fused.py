"""The fused time loop (fpdiff.fv._fused, fpdiff.fv.fused) against dense solves and the stepper loop."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.dynamics import forward_dynamics
from fpdiff.fv import _fused, _kernels, _reference
from fpdiff.fv.solve import integrate_density
from fpdiff.timegrid import merge_save_times

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)


def _factors(rng, shape, absorbing, c):
    """Random SG weights on lines ``shape`` and the flat LU factors of ``I - c L``."""
    drift = rng.normal(scale=30.0, size=(shape[0], shape[1] + 1, shape[2]))
    wl, wr = np.empty_like(drift), np.empty_like(drift)
    h, diffusion = 0.07, 0.8
    _kernels.sg_weights(drift, diffusion, h, absorbing, absorbing, wl, wr, False)
    factors = [np.empty(shape) for _ in range(3)]
    _kernels.factor_lines(wl, wr, c, *factors, False)
    return drift, h, diffusion, wl, wr, [f.ravel() for f in factors]


def _dense_solve(drift, h, diffusion, absorbing, c, x, o, i):
    wl, wr = _reference.flux_weights(drift[o, :, i], diffusion, h, (absorbing, absorbing))
    matrix = _reference.operator_matrix(wl, wr)
    return np.linalg.solve(np.eye(len(matrix)) - c * matrix, x), matrix


@pytest.mark.parametrize("absorbing", [False, True])
@pytest.mark.parametrize("n_cells", [256, 259, 1000])  # 259, 1000: the last piece is longer than the others
def test_segmented_solve_matches_dense_solve(rng, n_cells, absorbing):
    c = 0.9
    drift, h, diffusion, _, _, (lower, pivot, sweep) = _factors(rng, (1, n_cells, 1), absorbing, c)
    assert _fused.axis_layout((1, n_cells, 1))[0] == _fused.SEGMENTED
    forward, backward = np.empty(n_cells), np.empty(n_cells)
    largest = _fused.segment_products(lower, pivot, sweep, n_cells, forward, backward)
    assert forward.min() >= 0 and backward.min() >= 0
    assert largest == max(forward.max(), backward.max()) < _fused.PRODUCT_LIMIT
    rhs = rng.uniform(size=n_cells)
    x = rhs.copy()
    _fused._solve_unit(lower, pivot, sweep, forward, backward, x, 1, n_cells, 1, _fused.SEGMENTED, 0, 1, False,
                       np.empty(0))
    expected, _ = _dense_solve(drift, h, diffusion, absorbing, c, rhs, 0, 0)
    np.testing.assert_allclose(x, expected, rtol=1e-11, atol=1e-14)
    assert x.min() >= 0  # non-negative right-hand side, M-matrix: non-negative solution


# (3, 9, 300): blocks of 80 inner indices (a quarter), the last one partial
@pytest.mark.parametrize("shape", [(11, 9, 1), (1, 9, 1), (3, 7, 5), (2, 6, 130), (3, 9, 300)])
def test_unit_solves_and_explicit_stage_match_dense_reference(rng, shape):
    c = 0.37
    drift, h, diffusion, wl, wr, (lower, pivot, sweep) = _factors(rng, shape, False, c)
    kind, units, block = _fused.axis_layout(shape)
    assert kind == (_fused.BLOCKED if shape[2] > 1 else _fused.GROUPED)
    assert block == (80 if shape == (3, 9, 300) else _kernels.BLOCK if shape[2] > 1 else _kernels.GROUP)
    p = rng.uniform(size=shape)
    solved, applied, rhs = p.ravel().copy(), np.empty(p.size), p.ravel() * 3.0
    coefficient = 0.25
    for unit in range(units):
        _fused._solve_unit(lower, pivot, sweep, lower, lower, solved, *shape, kind, unit, block, False, np.empty(0))
        _fused._explicit_unit(wl.ravel(), wr.ravel(), c, p.ravel(), applied, *shape, kind, unit, block, False)
        _fused._bdf2_rhs_unit(rhs, p.ravel(), 1.5, coefficient, *shape, kind, unit, block)
    solved, applied = solved.reshape(shape), applied.reshape(shape)
    np.testing.assert_allclose(rhs, 2.0 * p.ravel() - coefficient * p.ravel(), rtol=1e-15)
    for o in range(shape[0]):
        for i in range(shape[2]):
            expected, matrix = _dense_solve(drift, h, diffusion, False, c, p[o, :, i], o, i)
            np.testing.assert_allclose(solved[o, :, i], expected, rtol=1e-11, atol=1e-14)
            np.testing.assert_allclose(applied[o, :, i], p[o, :, i] + c * matrix @ p[o, :, i], rtol=1e-12,
                                       atol=1e-12)


@pytest.mark.parametrize("parallel", [False, True])
def test_sum_and_min_flat(rng, parallel):
    p = rng.normal(size=3 * _fused.CHUNK + 7)
    chunks = 4
    total, low = _fused.sum_and_min_flat(p, np.empty(chunks), np.empty(chunks), parallel)
    assert total == pytest.approx(p.sum(), rel=1e-12)
    assert low == p.min()
    p[5] = np.nan
    assert np.isnan(_fused.sum_and_min_flat(p, np.empty(chunks), np.empty(chunks), parallel)[0])


# (40, 9, 1): two full tiles of lines and a partial one
@pytest.mark.parametrize("shape", [(11, 9, 1), (40, 9, 1), (3, 7, 5), (3, 9, 300)])
def test_shared_factors_match_dense_reference(rng, shape):
    """Lines that share one line's weights: the factors and weights are stored once (``shared``)."""
    c = 0.37
    drift, h, diffusion, wl, wr, (lower, pivot, sweep) = _factors(rng, (1, shape[1], 1), False, c)
    kind, units, block = _fused.axis_layout(shape, shared=True)
    assert block == (_fused.TILE if shape[2] == 1 else _kernels.BLOCK if shape[2] < 300 else 80)
    p = rng.uniform(size=shape)
    solved, applied = p.ravel().copy(), np.empty(p.size)
    tile = np.empty(_fused.TILE * shape[1])
    for unit in range(units):
        _fused._solve_unit(lower, pivot, sweep, lower, lower, solved, *shape, kind, unit, block, True, tile)
        _fused._explicit_unit(wl.ravel(), wr.ravel(), c, p.ravel(), applied, *shape, kind, unit, block, True)
    solved, applied = solved.reshape(shape), applied.reshape(shape)
    for o in range(shape[0]):
        for i in range(shape[2]):
            expected, matrix = _dense_solve(drift, h, diffusion, False, c, p[o, :, i], 0, 0)
            np.testing.assert_allclose(solved[o, :, i], expected, rtol=1e-11, atol=1e-14)
            np.testing.assert_allclose(applied[o, :, i], p[o, :, i] + c * matrix @ p[o, :, i], rtol=1e-12,
                                       atol=1e-12)


def test_linear_drift_axes_share_their_factors():
    from fpdiff.dynamics import Dynamics
    from fpdiff.fv.fused import FusedLoop
    from fpdiff.fv.operator import FluxOperator

    grid = fd.Grid([(-8.0, 8.0)] * 2, [24, 19])
    taus, slots = np.linspace(0.0, 1.0, 3), np.array([0, -1, 1])
    loop = FusedLoop("trbdf2", FluxOperator(forward_dynamics(PROCESS, 1.0), grid), taus, slots, restore=True)
    assert loop.layout[:, 6].tolist() == [1, 1]
    assert loop.factors.shape[2] == 24  # one line's factors per set, not one per cell
    # a drift along x_0 that depends on x_1 too: every line has its own factors
    coupled = Dynamics(lambda x, tau: -x - np.stack([x[:, 1], 0 * x[:, 1]], axis=1), lambda tau: 1.0, 1.0,
                       autonomous=True)
    loop = FusedLoop("trbdf2", FluxOperator(coupled, grid), taus, slots, restore=True)
    assert loop.layout[:, 6].tolist() == [0, 1]
    assert loop.factors.shape[2] == grid.size
    p0 = grid.cell_average(fd.GaussianMixture([1.0], [[0.5, -0.3]], [[0.5, 0.8]]))
    taus, saved = merge_save_times(np.linspace(0.0, 1.0, 9), np.array([0.0, 1.0]))
    fused = integrate_density(coupled, grid, p0, taus, saved, "trbdf2")
    stepped = integrate_density(coupled, grid, p0, taus, saved, "trbdf2", monitor=lambda p, t: None)
    np.testing.assert_allclose(fused.values, stepped.values, rtol=1e-12, atol=1e-14 * p0.max())


def _both_loops(grid, p0, method, steps, save=(0.0, 0.3, 1.0)):
    """The fused loop and the stepper loop (forced by a monitor) on the same forward problem."""
    dynamics = forward_dynamics(PROCESS, 1.0)
    taus, saved = merge_save_times(np.linspace(0.0, 1.0, steps + 1), np.array(save))
    fused = integrate_density(dynamics, grid, p0, taus, saved, method)
    stepped = integrate_density(dynamics, grid, p0, taus, saved, method, monitor=lambda p, t: None)
    return fused, stepped


GRIDS = [
    fd.Grid([(-10.0, 10.0)], [300]),  # one segmented line
    fd.Grid([(-10.0, 10.0)], [300], boundary="absorbing"),
    fd.Grid([(-10.0, 10.0)], [40]),  # one short line
    fd.Grid([(-8.0, 8.0)] * 2, [24, 19]),
    fd.Grid([(-8.0, 8.0)] * 2, [150, 150]),  # above the threads' threshold
    fd.Grid([(-6.0, 6.0)] * 3, [9, 11, 10]),
]


@pytest.mark.parametrize("method", ["be", "trbdf2", "cn"])
@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: "x".join(map(str, g.shape)) + g.boundary[0][0])
def test_fused_loop_matches_stepper_loop(grid, method):
    mixture = fd.GaussianMixture([0.4, 0.6], [[-1.5] * grid.ndim, [1.0] * grid.ndim], [0.3, 0.5])
    p0 = grid.cell_average(mixture)
    fused, stepped = _both_loops(grid, p0, method, 23)
    # only the segmented 1-D solve rounds differently (a different order of the same operations)
    np.testing.assert_allclose(fused.values, stepped.values, rtol=1e-12, atol=1e-14 * p0.max())
    np.testing.assert_array_equal(fused.t, stepped.t)
    for key in ("steps", "substeps", "operator_evaluations", "min_density"):
        assert fused.diagnostics[key] == pytest.approx(stepped.diagnostics[key], rel=1e-9, abs=1e-300), key
    assert fused.diagnostics["mass_drift"] < 1e-12


@pytest.mark.parametrize("method", ["trbdf2", "cn"])
def test_fused_loop_hands_negative_steps_back_for_halving(method):
    # a one-cell spike and long steps: the trapezoidal stage undershoots and steps must be halved
    grid = fd.Grid([(-10.0, 10.0)], [400])
    p0 = np.zeros(grid.shape)
    p0[150] = 1.0 / grid.cell_volume
    fused, stepped = _both_loops(grid, p0, method, 4)
    assert stepped.diagnostics["substeps"] > 4  # the case does exercise the halving
    assert fused.diagnostics["substeps"] == stepped.diagnostics["substeps"]
    np.testing.assert_allclose(fused.values, stepped.values, rtol=1e-10, atol=1e-14 * p0.max())


def test_fused_kernel_reports_non_finite_density():
    grid = fd.Grid([(-10.0, 10.0)], [300])
    dynamics = forward_dynamics(PROCESS, 1.0)
    from fpdiff.fv.fused import FusedLoop
    from fpdiff.fv.operator import FluxOperator

    taus = np.linspace(0.0, 1.0, 6)
    slots = np.full(6, -1)
    loop = FusedLoop("be", FluxOperator(dynamics, grid), taus, slots, restore=False)
    p = np.ones(grid.size)
    p[7] = np.nan
    done, status, _, _, _ = loop.run(p, 0, 1.0, 1e-10, True, 1e-9, np.empty((0, grid.size)))
    assert (done, status) == (0, _fused.NOT_FINITE)
    p = np.ones(grid.size)
    done, status, _, _, _ = loop.run(p, 0, 2.0, 1e-10, True, 1e-9, np.empty((0, grid.size)))  # wrong mass0
    assert (done, status) == (0, _fused.MASS)


def test_line_with_growing_products_falls_back_to_plain_sweep(monkeypatch):
    # a drift converging on x = 0 (beta = 400, sigma = 0.1): forward factors above 1, segment products up to
    # ~2e4 at dt = 0.5 (far from overflow in practice); with the limit lowered below that the axis must be
    # solved by the plain sweep, and the result is the stepper loop's to the last bit
    from fpdiff.fv.fused import FusedLoop
    from fpdiff.fv.operator import FluxOperator

    monkeypatch.setattr(_fused, "PRODUCT_LIMIT", 100.0)
    grid = fd.Grid([(-10.0, 10.0)], [2048])
    dynamics = forward_dynamics(fd.OU(beta=400.0, sigma=0.1), 1.0)
    loop = FusedLoop("be", FluxOperator(dynamics, grid), np.linspace(0.0, 1.0, 3), np.array([0, -1, 1]),
                     restore=False)
    assert loop.layout[0, 3] == _fused.GROUPED
    p0 = grid.cell_average(fd.GaussianMixture([1.0], [[3.0]], [1.0]))
    dynamics = forward_dynamics(fd.OU(beta=400.0, sigma=0.1), 1.0)
    taus, saved = merge_save_times(np.linspace(0.0, 1.0, 3), np.array([0.0, 1.0]))
    fused = integrate_density(dynamics, grid, p0, taus, saved, "be")
    stepped = integrate_density(dynamics, grid, p0, taus, saved, "be", monitor=lambda p, t: None)
    np.testing.assert_array_equal(fused.values, stepped.values)


@pytest.mark.parametrize("method", ["be", "trbdf2"])
def test_threaded_and_serial_kernels_give_the_same_bits(method):
    # 40 lines of unit stride sharing their factors: three tiles of TILE lines, dealt out in two runs of
    # unequal length when threaded; the other axis in blocks of inner indices
    from fpdiff.fv.fused import FusedLoop
    from fpdiff.fv.operator import FluxOperator

    grid = fd.Grid([(-8.0, 8.0)] * 2, [40, 37])
    mixture = fd.GaussianMixture([0.4, 0.6], [[-1.5, 0.5], [1.0, -1.0]], [0.3, 0.5])
    p0 = grid.cell_average(mixture).ravel()
    taus, slots = np.linspace(0.0, 1.0, 6), np.array([0, -1, -1, 1, -1, 2])
    results = []
    for parallel in (False, True):
        operator = FluxOperator(forward_dynamics(PROCESS, 1.0), grid)
        operator.parallel = parallel
        loop = FusedLoop(method, operator, taus, slots, restore=True)
        snapshots = np.zeros((3, grid.size))
        done, status, low, drift, p = loop.run(p0.copy(), 0, 1.0, 1e-10, True, 1e-9, snapshots)
        assert (done, status) == (5, _fused.DONE)
        results.append((p, snapshots, low, drift))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][2:] == results[1][2:]


SOLVE = """
import fpdiff as fd
solution = fd.solve_forward(fd.OU(), fd.Grid([(-8.0, 8.0)], 300), fd.GaussianMixture([1.0], [[0.5]], [0.4]), 1.0,
                            steps=5)
print(repr(float(solution.final.sum())))
"""


def test_a_fused_solve_runs_from_the_cache_in_a_fresh_process(tmp_path):
    """The serial kernels, loaded from numba's cache by a process that has not started numba's threads (a kernel
    calling ``numba.get_thread_id`` crashed there), give what they gave when compiled."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path),
                       PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    compiled, loaded = (subprocess.run([sys.executable, "-c", SOLVE], capture_output=True, text=True,
                                       env=environment, check=True).stdout for _ in range(2))
    assert float(loaded) == float(compiled) > 0
