import numpy as np
import pytest

import fpdiff as fd
from fpdiff.scores import _kernels

OU = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])


def test_exact_score_is_the_evolved_mixture_score(rng):
    x = rng.normal(scale=3, size=(50, 1))
    for t in [1e-3, 0.3, 2.0]:
        np.testing.assert_allclose(fd.ExactScore(OU, MIXTURE).score(x, t), MIXTURE.evolve(OU, t).score(x))


def test_tweedie_denoiser_of_a_gaussian(rng):
    # p0 = N(m, s^2): E[X0 | Xt = x] = m + s^2 alpha (x - alpha m) / (alpha^2 s^2 + v)
    m, s2, t = 0.7, 0.4, 0.6
    score = fd.ExactScore(OU, fd.GaussianMixture([1.0], [[m]], [s2]))
    x = rng.normal(size=(20, 1))
    alpha, v = OU.alpha(t), OU.variance(t)
    np.testing.assert_allclose(score.xhat0(x, t), m + s2 * alpha * (x - alpha * m) / (alpha**2 * s2 + v), rtol=1e-12)


@pytest.mark.parametrize("parallel", [False, True])
def test_empirical_kernel_matches_reference(rng, parallel):
    points = rng.normal(size=(7, 3))
    x = rng.normal(size=(40, 3))
    out = np.empty_like(x)
    _kernels.empirical_denoiser(x, points, 0.8, 0.3, out, parallel)
    np.testing.assert_allclose(out, _kernels.empirical_denoiser_reference(x, points, 0.8, 0.3), rtol=1e-12)


def test_empirical_score_is_exact_for_the_point_cloud(rng):
    points = rng.normal(size=(5, 2))
    x = rng.normal(scale=2, size=(30, 2))
    for t in [0.05, 0.5, 3.0]:
        expected = fd.Empirical(points).evolve(OU, t).score(x)
        np.testing.assert_allclose(fd.EmpiricalScore(OU, points).score(x, t), expected, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(fd.ExactScore(OU, fd.Empirical(points)).score(x, t), expected, rtol=1e-9, atol=1e-9)


def test_empirical_score_stable_for_tiny_variance():
    # v_t ~ 2e-12: every softmax weight but the nearest point's underflows; the denoiser is that point
    points = np.array([[-1.0], [0.5], [2.0]])
    score = fd.EmpiricalScore(OU, points)
    x = np.array([[0.4], [1.9], [-30.0]])
    xhat0 = score.xhat0(x, 1e-12)
    np.testing.assert_array_equal(xhat0, [[0.5], [2.0], [-1.0]])
    assert np.all(np.isfinite(score.score(x, 1e-12)))
    with pytest.raises(fd.InputError, match="outside the range"):
        score.score(x, 0.0)


def test_grid_score_on_faces_is_second_order():
    # score of a forward solution on its own grid vs the exact score at the faces
    errors, cells = [], [50, 100, 200]
    for n in cells:
        grid = fd.Grid([(-6, 6)], n)
        solution = fd.solve_forward(OU, grid, MIXTURE, 1.0, steps=4 * n, save_at=[0.5, 1.0])
        faces = fd.GridScore(solution).face_values(grid, 1.0, 0)[1:-1]
        exact = MIXTURE.evolve(OU, 1.0).score(grid.edges[0][1:-1, None])[:, 0]
        inside = np.abs(grid.edges[0][1:-1]) < 4
        errors.append(np.max(np.abs(faces - exact)[inside]))
    assert np.polyfit(np.log(cells), np.log(errors), 1)[0] <= -1.8, errors


def test_grid_score_interpolates_and_checks_its_range():
    grid = fd.Grid([(-6, 6)], 120)
    solution = fd.solve_forward(OU, grid, MIXTURE, 1.0, steps=40, save_at=np.linspace(0.5, 1.0, 21))
    score = fd.GridScore(solution)
    assert score.process == OU and score.t_range == (0.5, 1.0)
    x = np.array([[0.3], [-1.2]])
    # between snapshots 0.025 apart: linear-in-t error ~ 1e-4, space error (h = 0.1) ~ 1e-2
    exact = MIXTURE.evolve(OU, 0.7625).score(x)
    np.testing.assert_allclose(score.score(x, 0.7625), exact, atol=0.02)
    with pytest.raises(fd.InputError, match="outside the range"):
        score.score(x, 0.2)
    with pytest.raises(fd.InputError, match="outside the GridScore's box"):
        score.score([[7.0]], 0.75)



def test_scores_describe_their_domain_and_their_law():
    # what the audit reads from a score instead of switching on its type
    grid = fd.Grid([(-6, 6)], 12)
    solution = fd.solve_forward(OU, grid, MIXTURE, 1.0, steps=4, save_at=[0.5, 1.0])
    grid_score = fd.GridScore(solution)
    assert grid_score.box == [(-5.5, 5.5)] and grid_score.outside == "raise"
    assert grid_score.grid is grid and grid_score.dist0 is None and grid_score.tables is None
    assert grid_score.bracket(0.625) == (0, 1, 0.25)
    exact = fd.ExactScore(OU, MIXTURE)
    assert exact.box is None and exact.dist0 is MIXTURE and exact.grid is None
    points = np.array([[0.0], [1.0]])
    empirical_law = fd.EmpiricalScore(OU, points).dist0
    assert isinstance(empirical_law, fd.Empirical) and np.array_equal(empirical_law.points, points)
    table = fd.tabulate_score(exact, [0.5, 1.0], [np.linspace(-2, 2, 5)], outside="clamp")
    assert table.box == [(-2.0, 2.0)] and table.outside == "clamp" and table.dist0 is None
    np.testing.assert_array_equal(table.tables[1], table.table(1.0).reshape(5, 1))
    assert not table.tables.flags.writeable
    assert [s.describe() for s in (exact, grid_score, table)] == [
        "ExactScore of GaussianMixture", "GridScore (12 cells)", "TabulatedScore (5 nodes, 2 times, outside='clamp')"]


def test_callable_score_checks_its_output():
    score = fd.CallableScore(lambda x, t: -x, dim=2, process=OU)
    np.testing.assert_allclose(score.score([[1.0, 2.0]], 0.5), [[-1.0, -2.0]])
    bad = fd.CallableScore(lambda x, t: x[:, 0], dim=2)
    with pytest.raises(fd.InputError, match="returned shape"):
        bad.score([[1.0, 2.0]], 0.5)
    with pytest.raises(fd.InputError, match="no forward process"):
        bad.xhat0([[1.0, 2.0]], 0.5)


def test_bad_score_arguments():
    with pytest.raises(fd.InputError, match="`process`"):
        fd.ExactScore("OU", MIXTURE)
    with pytest.raises(fd.InputError, match="`dist0`"):
        fd.ExactScore(OU, [0.0, 1.0])
    with pytest.raises(fd.InputError, match="`points` must be finite"):
        fd.EmpiricalScore(OU, [[np.nan]])
    with pytest.raises(fd.InputError, match=r"shape \(M, 1\)"):
        fd.ExactScore(OU, MIXTURE).score(np.ones((3, 2)), 0.5)


# ------------------------------------------------------------------ a score made for another process


def test_a_score_made_for_another_process_is_refused_by_every_solver(tmp_path):
    vp, grid = fd.VP(), fd.Grid([(-6, 6)], 60)
    exact = fd.ExactScore(OU, MIXTURE)
    table = fd.tabulate_score(exact, np.geomspace(0.01, 1.0, 20), [np.linspace(-6, 6, 61)])
    table.save(tmp_path / "ou.h5")
    forward = fd.solve_forward(OU, grid, MIXTURE, 1.0, save_at=[0.0, 0.5, 1.0])
    for score in (exact, fd.load_score(tmp_path / "ou.h5"), fd.GridScore(forward),
                  fd.EmpiricalScore(OU, MIXTURE.sample(50, seed=0))):
        message = r"was made for the process OU\(beta=1\.0, .*but the solver's `process` is VP\("
        with pytest.raises(fd.InputError, match=message):
            fd.solve_reverse(vp, grid, score, T=1.0, t_min=0.01, steps=5)
        with pytest.raises(fd.InputError, match=message):
            fd.sample_reverse(vp, score, 100, T=1.0, t_min=0.01, steps=5)
    with pytest.raises(fd.InputError, match=message):  # a table labelled VP would hold OU's field
        fd.tabulate_score(exact, [0.5, 1.0], [np.linspace(-1, 1, 5)], process=vp)


def test_a_plain_callable_is_taken_as_given_and_an_equal_process_is_accepted():
    grid = fd.Grid([(-6, 6)], 60)
    exact = fd.ExactScore(fd.OU(beta=1.0, sigma=2**0.5), MIXTURE)
    run = dict(T=1.0, t_min=0.01, steps=5)
    by_object = fd.solve_reverse(OU, grid, exact, **run).final
    by_callable = fd.solve_reverse(fd.OU(), grid, lambda x, t: exact.score(x, t), **run).final
    # the mixture runs the compiled reverse loop, the callable the stepper loop: equal to round-off
    np.testing.assert_allclose(by_object, by_callable, rtol=1e-12, atol=1e-15)
