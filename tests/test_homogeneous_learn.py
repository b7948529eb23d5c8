"""Learning the homogeneous score of the random time reversal by denoising score matching.

Reference: the exact homogeneous score grad log(f/m), f = (r/n) sum_i G_r(x_i -> .), from the closed-form
(Brownian) and quadrature (OU) Green's functions of :mod:`fpdiff.homogeneous.green`.
"""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.errors import InputError
from fpdiff.homogeneous.green import grad_log_green, green
from fpdiff.homogeneous.learn import LearnedHomogeneousScore, fit_homogeneous_dsm

R = 1.5
POINTS = np.array([[0.4, 0.2], [-0.6, 0.4], [0.2, -0.6], [-0.2, -0.2], [0.6, 0.6]])


def _exact_score(process, x, with_invariant=True):
    g = green(process, R, x[:, None, :], POINTS[None])
    score = np.sum(g[..., None] * grad_log_green(process, R, x[:, None, :], POINTS[None]), axis=1)
    score /= g.sum(axis=1)[:, None]
    if with_invariant and isinstance(process, fd.OU):
        score += x / process.stationary_variance  # minus grad log m, m = N(0, s^2 I)
    return score


def _test_points(process, count=3000, seed=7):
    """Fresh draws of X_zeta (the weight of the error), keeping those farther than 0.2 from every data point.

    (delta = 0.05 decay lengths ~ 0.02 here, so the masked minimiser is the exact score there; within 0.2 the
    score grows like 1/(rho log rho) and the RBF model's smoothing error dominates every other.)
    """
    rng = np.random.default_rng(seed)
    start = POINTS[rng.integers(len(POINTS), size=count)]
    killing = rng.exponential(1.0 / R, size=count)
    x = (np.asarray(process.alpha(killing))[:, None] * start
         + np.sqrt(np.asarray(process.variance(killing)))[:, None] * rng.standard_normal((count, 2)))
    distance = np.min(np.linalg.norm(x[:, None] - POINTS[None], axis=-1), axis=1)
    return x[distance > 0.2]


def _relative_error(learned, exact, x):
    """f-weighted relative L2 error sqrt(E|s_theta - s|^2 / E|s|^2) over the test points (Monte Carlo)."""
    return np.sqrt(np.mean(np.sum((learned - exact) ** 2, axis=1)) / np.mean(np.sum(exact**2, axis=1)))


def test_learned_score_error_decreases_with_features_and_samples():
    process = fd.Brownian(0.8)
    x = _test_points(process)
    exact = _exact_score(process, x)
    errors = []
    for n_features, samples in ((8, 4000), (24, 12000), (64, 32000)):
        learned = fit_homogeneous_dsm(process, POINTS, R, n_features=n_features, samples=samples, seed=3)
        errors.append(_relative_error(learned.model_score(x), exact, x))
        # the table interpolates the model: adds little (65 x 65 nodes); a few test points lie outside its box
        box = np.array(learned.table.box)
        inside = np.all((x >= box[:, 0]) & (x <= box[:, 1]), axis=1)
        assert inside.mean() > 0.99
        assert _relative_error(learned.score(x[inside]), exact[inside], x) < errors[-1] + 0.02
        assert learned.table.meta["masked_fraction"] < 0.01  # delta = 0.05 decay lengths masks < 1%
    # measured 0.45, 0.34, 0.23: the error sits next to the data, where the score grows like 1/(rho log rho)
    # and the RBFs smooth it; each step of features and samples must take a clear share of it
    assert errors[1] < 0.85 * errors[0] and errors[2] < 0.85 * errors[1]
    assert errors[2] < 0.3


def test_ou_targets_include_the_invariant_density():
    # the OU score is grad log f - grad log m; a fit without the -grad log m term would be far from it
    process = fd.OU(1.0, 1.0)
    x = _test_points(process)
    learned = fit_homogeneous_dsm(process, POINTS, R, n_features=24, samples=12000, seed=4).model_score(x)
    error = _relative_error(learned, _exact_score(process, x), x)
    wrong = _relative_error(learned, _exact_score(process, x, with_invariant=False), x)
    assert error < 0.5  # measured 0.36
    assert wrong > 1.5 * error  # measured 0.70


def test_score_file_round_trip(tmp_path):
    process = fd.OU(1.0, 1.0)
    path = tmp_path / "homogeneous.h5"
    learned = fit_homogeneous_dsm(process, POINTS, R, n_features=8, samples=3000, seed=1, path=path,
                                  meta={"note": "test"})
    loaded = LearnedHomogeneousScore.load(path)
    x = np.array([[0.1, 0.3], [-1.0, 0.5]])
    np.testing.assert_array_equal(loaded.score(x), learned.score(x))
    np.testing.assert_array_equal(loaded.score(x, 5.0), learned.score(x))  # no time dependence
    assert loaded.r == R and loaded.process == process
    table = fd.load_score(path)  # an ordinary one-slice score file
    np.testing.assert_array_equal(table.t, [1.0 / R])
    assert table.meta["homogeneous"] == 1 and table.meta["r"] == R and table.meta["note"] == "test"
    # the same seed gives the same fit
    again = fit_homogeneous_dsm(process, POINTS, R, n_features=8, samples=3000, seed=1)
    np.testing.assert_array_equal(again.table.values, learned.table.values)


def test_a_time_dependent_table_is_not_a_homogeneous_score():
    table = fd.TabulatedScore(fd.OU(), [0.5], [np.linspace(-1, 1, 3)] * 2, np.zeros((1, 3, 3, 2)),
                                        meta={"r": 1.0, "points": POINTS})
    with pytest.raises(InputError, match="homogeneous"):
        LearnedHomogeneousScore(table)


@pytest.mark.parametrize("kwargs, name", [
    ({"process": fd.VP()}, "process"),
    ({"r": 0.0}, "r"),
    ({"data_points": POINTS[:, :1]}, "data_points"),
    ({"data_points": [[np.nan, 0.0]]}, "data_points"),
    ({"delta": -1.0}, "delta"),
    ({"delta": 100.0}, "delta"),
    ({"samples": 0}, "samples"),
    ({"n_features": -1}, "n_features"),
    ({"axes": [np.linspace(0, 1, 3)]}, "axes"),
    ({"meta": {"r": 2.0}}, "meta"),
    ({"outside": "wrap"}, "outside"),
    ({"steps": 3}, "steps"),
])
def test_bad_inputs_raise_input_error_naming_the_argument(kwargs, name):
    arguments = {"process": fd.Brownian(), "data_points": POINTS, "r": R, "n_features": 4, "samples": 500}
    arguments.update(kwargs)
    with pytest.raises(InputError, match=name):
        fit_homogeneous_dsm(arguments.pop("process"), arguments.pop("data_points"), arguments.pop("r"),
                            **arguments)


def test_learned_score_drives_the_sampler_like_the_exact_score():
    # The learned score as the sampler's score (engine="python"), against the exact HomogeneousScore with the
    # same noise (same seed: the paths are coupled, so the difference is smaller than independent MC error).
    # Measured (400 paths): learned [0.17, 0.01, 0.65, 0.11, 0.06], exact [0.17, 0.01, 0.68, 0.10, 0.05].
    from fpdiff.homogeneous import HomogeneousScore, sample_homogeneous

    process = fd.Brownian(0.8)
    learned = fit_homogeneous_dsm(process, POINTS, R, n_features=64, samples=32000, seed=3, outside="clamp")
    starts = np.repeat([[1.1, -1.1]], 400, axis=0)
    with_learned = sample_homogeneous(process, learned, starts, stop=0.05, seed=1, engine="python")
    with_exact = sample_homogeneous(process, HomogeneousScore(process, POINTS, R), starts, stop=0.05, seed=1)
    assert np.all(with_learned.reached >= 0)
    frequencies = [np.bincount(result.reached, minlength=len(POINTS)) / len(starts)
                   for result in (with_learned, with_exact)]
    standard_error = np.sqrt(frequencies[1] * (1 - frequencies[1]) / len(starts))
    assert np.all(np.abs(frequencies[0] - frequencies[1]) <= 0.03 + 3 * standard_error)
