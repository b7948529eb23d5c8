"""The compiled reverse loop (fpdiff.fv.reverse_loop, fpdiff.fv._reverse_loop) against the stepper loop."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.dynamics import reverse_dynamics
from fpdiff.fv import _fused, _kernels, _reverse_loop, reverse_loop
from fpdiff.fv.operator import FluxOperator
from fpdiff.fv.solve import integrate_density
from fpdiff.timegrid import merge_save_times

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
T, T_MIN = 1.0, 1e-2


@pytest.fixture(autouse=True)
def every_size_runs_compiled(monkeypatch):
    """The small solves here run in the compiled loop too (by default only solves that pay for its compile)."""
    monkeypatch.setattr(reverse_loop, "COMPILED_WORK", 0)


def test_small_solves_run_the_stepper_loop_and_large_ones_the_compiled_loop(monkeypatch):
    monkeypatch.undo()
    grid = fd.Grid([(-8.0, 8.0)], [400])
    dynamics = reverse_dynamics(PROCESS, fd.ExactScore(PROCESS, _mixture(1)), 1.0, T, T_MIN)
    for steps, compiled in ((2000, False), (2500, True)):  # 400 x 2500 = COMPILED_WORK
        taus = np.linspace(0.0, T - T_MIN, steps + 1)
        loop = reverse_loop.reverse_loop("trbdf2", FluxOperator(dynamics, grid), taus, np.full(steps + 1, -1))
        assert (loop is not None) == compiled


def _both_loops(grid, score, method, steps, gamma=1.0, save=(T, 0.4, T_MIN), q0=None):
    """The compiled loop and the stepper loop (forced by a monitor) on the same reverse problem."""
    dynamics = reverse_dynamics(PROCESS, score, gamma, T, T_MIN)
    taus, saved = merge_save_times(np.linspace(0.0, T - T_MIN, steps + 1), T - np.array(save))
    if q0 is None:
        q0 = grid.cell_average(score.distribution(T))
    slots = np.where(saved, np.cumsum(saved) - 1, -1)
    assert reverse_loop.reverse_loop(method, FluxOperator(dynamics, grid), taus, slots) is not None
    compiled = integrate_density(dynamics, grid, q0, taus, saved, method)
    stepped = integrate_density(dynamics, grid, q0, taus, saved, method, monitor=lambda p, t: None)
    return compiled, stepped


def _mixture(ndim, full=False):
    means = [[-1.5, 1.0, 0.5][:ndim], [1.0, -0.5, -1.0][:ndim]]
    if full:
        covariances = [[[0.3, 0.12], [0.12, 0.2]], [[0.25, -0.1], [-0.1, 0.4]]]
    else:
        covariances = [[0.3, 0.2, 0.25][:ndim], [0.5, 0.35, 0.3][:ndim]]
    return fd.GaussianMixture([0.4, 0.6], means, covariances)


GRIDS = [
    fd.Grid([(-8.0, 8.0)], [300]),  # one long line
    fd.Grid([(-8.0, 8.0)], [300], boundary="absorbing"),
    fd.Grid([(-8.0, 8.0)] * 2, [24, 19]),
    fd.Grid([(-6.0, 6.0)] * 2, [150, 140]),  # above the threads' threshold: blocked units of two widths
    fd.Grid([(-6.0, 6.0)] * 3, [9, 11, 10]),
]


@pytest.mark.parametrize("method", ["be", "trbdf2", "cn"])
@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: "x".join(map(str, g.shape)) + g.boundary[0][0])
def test_compiled_loop_matches_stepper_loop(grid, method, monkeypatch):
    used = []
    monkeypatch.setattr(reverse_loop.ReverseLoop, "run", _spy(reverse_loop.ReverseLoop.run, used))
    score = fd.ExactScore(PROCESS, _mixture(grid.ndim))
    compiled, stepped = _both_loops(grid, score, method, 17)
    assert used, "the compiled loop did not run"
    np.testing.assert_allclose(compiled.values, stepped.values, rtol=1e-12, atol=1e-13 * stepped.values.max())
    np.testing.assert_array_equal(compiled.t, stepped.t)
    for key in ("steps", "substeps", "min_density"):
        assert compiled.diagnostics[key] == pytest.approx(stepped.diagnostics[key], rel=1e-9, abs=1e-300), key
    # the stepper loop's cache misses stage times that differ from a step's end by an ulp; the compiled
    # loop lists each time once, so it rebuilds an operator at most as often (a step it hands back for
    # halving is built twice: once there, once in the stepper loop)
    if compiled.diagnostics["substeps"] == compiled.diagnostics["steps"]:
        assert compiled.diagnostics["operator_evaluations"] <= stepped.diagnostics["operator_evaluations"]
    if "absorbing" not in grid.boundary:
        assert compiled.diagnostics["mass_drift"] < 1e-12


def _spy(run, calls):
    def spied(self, *args):
        calls.append(self)
        return run(self, *args)
    return spied


@pytest.mark.parametrize("case", ["full covariance", "empirical 2-D", "empirical 1-D", "gamma(t)", "gamma 0 sg",
                                  "tabulated 2-D", "tabulated 1-D"])
def test_compiled_loop_matches_stepper_loop_for_every_score_and_gamma(case, rng):
    grid = fd.Grid([(-6.0, 6.0)] * 2, [40, 36]) if "1-D" not in case else fd.Grid([(-6.0, 6.0)], [200])
    gamma = 1.0
    if case == "full covariance":
        score = fd.ExactScore(PROCESS, _mixture(2, full=True))
    elif case.startswith("empirical"):
        score = fd.EmpiricalScore(PROCESS, rng.normal(size=(7, grid.ndim)))
    elif case.startswith("tabulated"):  # a coarser table than the grid, on a larger box, with uneven times
        nodes = [np.linspace(-7.0, 7.5, 23) for _ in range(grid.ndim)]
        score = fd.tabulate_score(fd.ExactScore(PROCESS, _mixture(grid.ndim)), [T_MIN, 0.2, 0.35, 0.7, T], nodes)
    else:
        score = fd.ExactScore(PROCESS, _mixture(2))
        gamma = (lambda t: 0.5 + t) if case == "gamma(t)" else 0.0
    q0 = grid.cell_average(fd.GaussianMixture([1.0], [[0.0] * grid.ndim], [PROCESS.variance(T) + 0.6]))
    for method in ("trbdf2", "cn"):
        compiled, stepped = _both_loops(grid, score, method, 13, gamma=gamma, q0=q0)
        np.testing.assert_allclose(compiled.values, stepped.values, rtol=1e-12, atol=1e-13 * stepped.values.max())


def test_solve_reverse_runs_the_compiled_loop_with_its_defaults(monkeypatch):
    used = []
    monkeypatch.setattr(reverse_loop.ReverseLoop, "run", _spy(reverse_loop.ReverseLoop.run, used))
    mixture = _mixture(1)
    grid = fd.Grid([(-8.0, 8.0)], [400])
    solution = fd.solve_reverse(PROCESS, grid, fd.ExactScore(PROCESS, mixture), T, q0=mixture.evolve(PROCESS, T),
                                t_min=T_MIN)
    assert used
    exact = grid.cell_average(mixture.evolve(PROCESS, T_MIN))
    assert grid.integrate(np.abs(solution.final - exact)) < 2e-3


@pytest.mark.parametrize("method", ["trbdf2", "cn"])
def test_compiled_loop_hands_negative_steps_back_for_halving(method):
    # a one-cell spike and long steps: the trapezoidal stage undershoots and steps must be halved
    grid = fd.Grid([(-8.0, 8.0)], [400])
    q0 = np.zeros(grid.shape)
    q0[150] = 1.0 / grid.cell_volume
    score = fd.ExactScore(PROCESS, _mixture(1))
    compiled, stepped = _both_loops(grid, score, method, 3, q0=q0)
    assert stepped.diagnostics["substeps"] > 3  # the case does exercise the halving
    assert compiled.diagnostics["substeps"] == stepped.diagnostics["substeps"]
    np.testing.assert_allclose(compiled.values, stepped.values, rtol=1e-10, atol=1e-13 * q0.max())


def test_a_failed_step_is_restored_and_handed_back():
    grid = fd.Grid([(-8.0, 8.0)], [100])
    dynamics = reverse_dynamics(PROCESS, fd.ExactScore(PROCESS, _mixture(1)), 1.0, T, T_MIN)
    taus = np.linspace(0.0, T - T_MIN, 4)
    loop = reverse_loop.ReverseLoop("trbdf2", FluxOperator(dynamics, grid), taus, np.full(4, -1))
    start = np.ones(grid.size)
    for bad in (np.nan, -1.0):
        p = start.copy()
        p[7] = bad
        before = p.copy()
        done, status, _, _, result = loop.run(p, 0, grid.integrate(start), 1e-10, True, 1e-9,
                                              np.empty((0, grid.size)))
        assert (done, status) == (0, _fused.NEGATIVE)
        np.testing.assert_array_equal(result, before)
    p = start.copy()
    done, status, _, _, _ = loop.run(p, 0, 2.0 * grid.integrate(start), 1e-10, True, 1e-9,
                                     np.empty((0, grid.size)))  # a mass the step cannot keep
    assert (done, status) == (0, _fused.NEGATIVE)


def test_scores_the_kernels_do_not_evaluate_run_the_stepper_loop():
    grid = fd.Grid([(-8.0, 8.0)], [100])
    score = fd.ExactScore(PROCESS, _mixture(1))
    class Shifted(fd.ExactScore):
        def _score(self, x, t):
            return super()._score(x, t) + 0.1

    for candidate in (Shifted(PROCESS, _mixture(1)), lambda x, t: -x):
        dynamics = reverse_dynamics(PROCESS, fd.scores.base.as_score(candidate, 1, PROCESS), 1.0, T, T_MIN)
        assert reverse_loop.reverse_loop("trbdf2", FluxOperator(dynamics, grid), np.linspace(0, 0.5, 3),
                                         np.full(3, -1)) is None
    dynamics = reverse_dynamics(PROCESS, score, 1.0, T, T_MIN)
    assert reverse_loop.reverse_loop("ssprk3", FluxOperator(dynamics, grid), np.linspace(0, 0.5, 3),
                                     np.full(3, -1)) is None


@pytest.mark.parametrize("size", [0.0, 1e-300, 1e-12, 0.1, 0.2499, 0.25, 0.2501, 0.7, *np.logspace(0, 2.8, 9)])
def test_branch_free_bernoulli_weights_match_the_scalar_ones(size):
    h, diffusion = 0.05, 0.3
    drift = np.array([size, -size]) * diffusion / h
    wl, wr = np.empty(2), np.empty(2)
    _reverse_loop._sg_weights(drift, 2, diffusion, h, wl, wr)
    scale = diffusion / h**2
    for m in range(2):
        b_plus, b_minus = _kernels.bernoulli_pair(drift[m] * (h / diffusion))  # z rounded as the kernel rounds it
        np.testing.assert_allclose([wl[m], wr[m]], [scale * b_minus, scale * b_plus], rtol=4e-16, atol=0)


def test_separable_score_tables_give_the_mixture_score_on_faces(rng):
    grid = fd.Grid([(-5.0, 4.0), (-4.0, 6.0), (-3.0, 3.0)], [7, 9, 6])
    mixture = _mixture(3)
    score = fd.ExactScore(PROCESS, mixture)
    dynamics = reverse_dynamics(PROCESS, score, 1.0, T, T_MIN)
    loop = reverse_loop.ReverseLoop("be", FluxOperator(dynamics, grid), np.linspace(0.0, 0.5, 3), np.full(3, -1))
    assert loop.separable
    j = 1
    t = float(dynamics.time_label(np.unique(np.linspace(0.0, 0.5, 3))[j]))
    for axis in range(3):
        _reverse_loop.separable_tables(loop.kind, axis, j, 2, loop.log_coefficients, loop.centres, loop.centre_rows,
                                       loop.precisions, loop.alpha, loop.variance, loop.edges, loop.cell_centres,
                                       loop.layout, loop.face_weight, loop.face_score, loop.cross, loop.factor)
        o_count, n_cells, i_count = loop.layout[axis, :3]
        weight, score_part, cross = loop.face_weight[2], loop.face_score[2], loop.cross[2]
        values = np.einsum("kf,kq->fq", score_part[:, : n_cells + 1], cross[:, : o_count * i_count])
        values /= np.einsum("kf,kq->fq", weight[:, : n_cells + 1], cross[:, : o_count * i_count])
        values = values.reshape(n_cells + 1, o_count, i_count).transpose(1, 0, 2).reshape(-1)
        np.testing.assert_allclose(values, score.face_values(grid, t, axis).reshape(-1), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("absorbing", [False, True])
@pytest.mark.parametrize("n_cells", [256, 259, 1000, 3203])  # 259, 3203: the last piece takes a remainder
def test_line_solved_in_pieces_matches_dense_solve(rng, n_cells, absorbing):
    from fpdiff.fv import _reference

    c, h, diffusion = 0.9, 0.07, 0.8
    drift = rng.normal(scale=30.0, size=n_cells + 1)
    wl, wr = _reference.flux_weights(drift, diffusion, h, (absorbing, absorbing))
    matrix = np.eye(n_cells) - c * _reference.operator_matrix(wl, wr)
    rhs = rng.uniform(size=n_cells)
    x = rhs.copy()
    assert _fused.axis_layout((1, n_cells, 1))[0] == _fused.SEGMENTED
    _reverse_loop._factor_solve_unit(np.ascontiguousarray(wl), np.ascontiguousarray(wr), c, x, np.empty(n_cells),
                                     1, n_cells, 1, _fused.SEGMENTED, 0, 1)
    np.testing.assert_allclose(x, np.linalg.solve(matrix, rhs), rtol=1e-11, atol=1e-14)
    assert x.min() >= 0  # non-negative right-hand side, M-matrix: non-negative solution


@pytest.mark.parametrize("grid", [fd.Grid([(-8.0, 8.0)], [300]), fd.Grid([(-6.0, 6.0)] * 2, [40, 37]),
                                  fd.Grid([(-6.0, 6.0)] * 3, [9, 11, 10])], ids=["1-D", "2-D", "3-D"])
@pytest.mark.parametrize("method", ["trbdf2", "be"])
def test_threaded_and_serial_loops_give_the_same_bits(grid, method):
    # the units of an entry in threads or in turn: each unit writes its own lines, so the bits agree
    score = fd.ExactScore(PROCESS, _mixture(grid.ndim))
    dynamics = reverse_dynamics(PROCESS, score, 1.0, T, T_MIN)
    taus = np.linspace(0.0, T - T_MIN, 21)
    slots = np.full(21, -1)
    slots[[0, 10, 20]] = [0, 1, 2]
    q0 = grid.cell_average(score.distribution(T)).ravel()
    results = []
    for parallel in (False, True):
        operator = FluxOperator(dynamics, grid)
        operator.parallel = parallel
        loop = reverse_loop.ReverseLoop(method, operator, taus, slots)
        snapshots = np.zeros((3, grid.size))
        done, status, low, drift, p = loop.run(q0.copy(), 0, grid.integrate(q0.reshape(grid.shape)), 1e-10, True,
                                               1e-9, snapshots)
        assert (done, status) == (20, _fused.DONE)
        results.append((p.copy(), snapshots, low, drift))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][2:] == results[1][2:]
