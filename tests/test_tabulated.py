"""TabulatedScore: the interpolation kernel, parametrisations, policies, and both solvers with a tabulated score."""

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

import fpdiff as fd
from fpdiff.scores import _kernels
from fpdiff.errors import BlowUpError, InputError
from fpdiff.scores.field import PARAMETRIZATIONS, from_score, grid_nodes, to_score

PROCESS = fd.OU()
MIXTURE = fd.GaussianMixture([0.3, 0.7], [[-1.5], [1.0]], [0.1, 0.2])
EXACT = fd.ExactScore(PROCESS, MIXTURE)


def random_axes(rng, lengths):
    """Strictly increasing, non-uniform axes."""
    return [np.cumsum(rng.uniform(0.2, 1.0, n)) - 2.0 for n in lengths]


@pytest.mark.parametrize("lengths", [(7,), (5, 6), (4, 3, 5)])
@pytest.mark.parametrize("parallel", [False, True])
def test_kernel_matches_scipy_multilinear(rng, lengths, parallel):
    axes = random_axes(rng, lengths)
    dim = len(lengths)
    values = rng.normal(size=(*lengths, dim))
    lo = np.array([a[0] for a in axes])
    hi = np.array([a[-1] for a in axes])
    x = lo + (hi - lo) * rng.uniform(size=(500, dim))
    x[:dim] = hi  # the upper edge of the box belongs to the last cell
    x[dim:2 * dim] = lo
    out = np.empty_like(x)
    layout = np.array([0, *lengths], dtype=np.int64)
    _kernels.table_interpolate(x, np.concatenate(axes), layout, values.reshape(-1, dim), out, parallel)
    expected = RegularGridInterpolator(axes, values)(x)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_affine_fields_are_reproduced_exactly(rng):
    # multilinear interpolation is exact for affine functions: the score of a Gaussian at a table time
    gaussian = fd.GaussianMixture([1.0], [[0.5, -0.3]], [[0.4, 0.9]])
    exact = fd.ExactScore(PROCESS, gaussian)
    axes = random_axes(rng, (9, 11))
    table = fd.tabulate_score(exact, [0.3, 0.7], axes)
    x = np.stack([rng.uniform(a[0], a[-1], 200) for a in axes], axis=1)
    for t in (0.3, 0.7):
        np.testing.assert_allclose(table.score(x, t), exact.score(x, t), rtol=1e-12, atol=1e-12)


def test_linear_in_time_between_slices():
    axes = [np.linspace(-4, 4, 81)]
    table = fd.tabulate_score(EXACT, [0.2, 0.6], axes)
    x = np.linspace(-3, 3, 50)[:, None]
    expected = 0.75 * table.score(x, 0.2) + 0.25 * table.score(x, 0.6)
    np.testing.assert_allclose(table.score(x, 0.3), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_conversions_invert_each_other(rng, parametrization):
    x = rng.normal(size=(20, 2))
    scores = rng.normal(size=(20, 2))
    values = from_score(scores, x, 0.4, PROCESS, parametrization)
    np.testing.assert_allclose(to_score(values, x, 0.4, PROCESS, parametrization), scores, rtol=1e-13, atol=1e-13)


def test_parametrizations_follow_their_definitions(rng):
    # X_t = alpha X_0 + sqrt(v) eps for one draw: each parametrisation's value, converted, is the same score
    t = 0.5
    alpha, variance = PROCESS.alpha(t), PROCESS.variance(t)
    x0, eps = rng.normal(size=(10, 1)), rng.normal(size=(10, 1))
    x = alpha * x0 + np.sqrt(variance) * eps
    score = -eps / np.sqrt(variance)  # the conditional score given x0
    given = {"score": score, "eps": eps, "x0": x0, "v": alpha * eps - np.sqrt(variance) * x0}
    for name, value in given.items():
        np.testing.assert_allclose(to_score(value, x, t, PROCESS, name), score, rtol=1e-12, err_msg=name)


def test_outside_policies():
    axes = [np.linspace(-2, 2, 41)]
    table = fd.tabulate_score(EXACT, [0.1, 1.0], axes)
    with pytest.raises(InputError, match=r"outside the tabulated box.*\(-2\.0, 2\.0\).*outside='clamp'"):
        table.score([[2.5]], 0.5)
    with pytest.raises(InputError, match="outside the range"):
        table.score([[0.0]], 0.05)
    clamped = fd.tabulate_score(EXACT, [0.1, 1.0], axes, outside="clamp")
    np.testing.assert_allclose(clamped.score([[2.5], [-7.0]], 0.5), clamped.score([[2.0], [-2.0]], 0.5))
    with pytest.raises(InputError, match="outside"):
        fd.tabulate_score(EXACT, [0.1, 1.0], axes, outside="extrapolate")


def test_invalid_tables_are_rejected():
    with pytest.raises(InputError, match=r"`axes/0` must be a strictly increasing"):
        fd.TabulatedScore(PROCESS, [0.5], [[0.0, 0.0, 1.0]], np.zeros((1, 3, 1)))
    with pytest.raises(InputError, match=r"`values` must have shape \(1, 3, 1\)"):
        fd.TabulatedScore(PROCESS, [0.5], [[0.0, 0.5, 1.0]], np.zeros((1, 4, 1)))
    with pytest.raises(InputError, match=r"`t` must be strictly increasing and > 0"):
        fd.TabulatedScore(PROCESS, [0.0, 0.5], [[0.0, 1.0]], np.zeros((2, 2, 1)))
    with pytest.raises(InputError, match=r"`values` contains NaN"):
        fd.TabulatedScore(PROCESS, [0.5], [[0.0, 1.0]], np.array([[[0.0], [np.nan]]]))
    with pytest.raises(InputError, match="parametrization"):
        fd.TabulatedScore(PROCESS, [0.5], [[0.0, 1.0]], np.zeros((1, 2, 1)), parametrization="noise")


def reverse_problem(cells=200):
    return fd.Grid([(-5.0, 5.0)], [cells]), dict(T=2.0, t_min=0.02, steps=80)


def test_parametrizations_give_the_same_reverse_solutions(tmp_path):
    grid, run = reverse_problem()
    times = np.geomspace(0.02, 2.0, 30)
    axes = [np.linspace(-6.0, 6.0, 121)]
    results = []
    for name in PARAMETRIZATIONS:
        path = tmp_path / f"{name}.h5"
        fd.tabulate_score(EXACT, times, axes, parametrization=name).save(path)
        loaded = fd.load_score(path)
        assert loaded.parametrization == name
        density = fd.solve_reverse(PROCESS, grid, loaded, **run).final
        samples = fd.sample_reverse(PROCESS, loaded, 2000, seed=3, **run).samples
        results.append((density, samples))
    for density, samples in results[1:]:
        np.testing.assert_allclose(density, results[0][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(samples, results[0][1], rtol=1e-9, atol=1e-9)


def test_tabulated_reverse_density_converges_at_order_two():
    # the tabulation error alone: the same solver, mesh and steps with the exact and the tabulated score
    grid, run = reverse_problem()
    exact = fd.solve_reverse(PROCESS, grid, EXACT, **run).final
    spacings, errors = [], []
    for nodes in (31, 61, 121, 241):
        axes = [np.linspace(-6.3, 6.1, nodes)]  # nodes not aligned with the solver's faces
        times = np.geomspace(run["t_min"], run["T"], nodes // 2)
        table = fd.tabulate_score(EXACT, times, axes)
        errors.append(grid.integrate(np.abs(fd.solve_reverse(PROCESS, grid, table, **run).final - exact)))
        spacings.append(axes[0][1] - axes[0][0])
    order = np.polyfit(np.log(spacings), np.log(errors), 1)[0]
    assert 1.7 < order < 2.5, (order, errors)
    exact_density = grid.cell_average(MIXTURE.evolve(PROCESS, run["t_min"]))
    assert grid.integrate(np.abs(exact - exact_density)) < 0.02  # and the solve itself recovers p(t_min)


def test_particle_kernel_matches_the_python_path():
    times = np.geomspace(0.02, 2.0, 25)
    table = fd.tabulate_score(EXACT, times, [np.linspace(-7.0, 7.0, 141)])
    python_path = fd.CallableScore(table.score, 1, PROCESS, table.t_range)
    for scheme in ("ei", "heun"):
        fast = fd.sample_reverse(PROCESS, table, 3000, T=2.0, t_min=0.02, steps=40, scheme=scheme, seed=5)
        slow = fd.sample_reverse(PROCESS, python_path, 3000, T=2.0, t_min=0.02, steps=40, scheme=scheme, seed=5)
        assert fast.diagnostics["score"] == "tabulated (numba)"
        assert slow.diagnostics["score"] == "python (slow path)"
        np.testing.assert_allclose(fast.samples, slow.samples, rtol=1e-9, atol=1e-9)


def test_particles_leaving_the_box_fail_loudly():
    small = fd.tabulate_score(EXACT, np.geomspace(0.02, 2.0, 10), [np.linspace(-1.0, 1.0, 21)])
    inside = np.linspace(-0.9, 0.9, 500)[:, None]  # they start in the box; the score drives some out of it
    with pytest.raises(BlowUpError, match=r"box \[\(-1\.0, 1\.0\)\]"):
        fd.sample_reverse(PROCESS, small, inside, T=2.0, t_min=0.02, steps=10)
    clamped = fd.tabulate_score(EXACT, np.geomspace(0.02, 2.0, 10), [np.linspace(-1.0, 1.0, 21)], outside="clamp")
    assert np.all(np.isfinite(fd.sample_reverse(PROCESS, clamped, 500, T=2.0, t_min=0.02, steps=10).samples))


def test_start_particles_outside_the_box_are_reported_as_such_not_as_a_blow_up():
    small = fd.tabulate_score(EXACT, np.geomspace(0.02, 2.0, 10), [np.linspace(-1.0, 1.0, 21)])
    with pytest.raises(InputError, match=r"of the 500 start particles \(drawn from the prior\) lie outside the "
                                         r"tabulated box"):
        fd.sample_reverse(PROCESS, small, 500, T=2.0, t_min=0.02, steps=10)


def test_two_dimensional_table_in_both_views():
    mixture = fd.GaussianMixture([0.5, 0.5], [[-1.0, 0.5], [1.0, -0.5]], [0.2, 0.3])
    exact = fd.ExactScore(PROCESS, mixture)
    axes = [np.linspace(-6.0, 6.0, 97)] * 2
    times = np.geomspace(0.05, 1.5, 20)
    table = fd.tabulate_score(exact, times, axes)
    nodes = grid_nodes(axes)
    assert nodes.shape == (97 * 97, 2)
    grid = fd.Grid([(-4.5, 4.5)] * 2, [48, 48])
    run = dict(T=1.5, t_min=0.05, steps=30)
    q_table = fd.solve_reverse(PROCESS, grid, table, **run).final
    q_exact = fd.solve_reverse(PROCESS, grid, exact, **run).final
    assert grid.integrate(np.abs(q_table - q_exact)) < 5e-3
    y_table = fd.sample_reverse(PROCESS, table, 4000, seed=1, **run).samples
    y_exact = fd.sample_reverse(PROCESS, exact, 4000, seed=1, **run).samples
    assert np.median(np.linalg.norm(y_table - y_exact, axis=1)) < 0.05
