"""fpdiff.learn.fit_dsm (fpdiff/scores/fit.py): denoising score matching with linear-in-parameters features.

Checked against independent references: the exact score of the evolved
mixture (``ExactScore``), the closed-form DSM loss of a Gaussian, fresh
samples of the data law (nearest-training-point distances), and the file
format's loader.
"""

import numpy as np
import pytest
from scipy.spatial import cKDTree

import fpdiff as fd
from fpdiff.errors import InputError
from fpdiff.scores.fit import evaluate_model, fit_dsm
from fpdiff.scores.io import load_score

PROCESS = fd.OU()
MIXTURE = fd.GaussianMixture([0.3, 0.7], [[-1.5], [1.0]], [0.1, 0.2])
EXACT = fd.ExactScore(PROCESS, MIXTURE)
FINE_AXES = [np.linspace(-6.0, 6.0, 2001)]  # table interpolation error far below the fit error


def weighted_error(learned, exact, dist0, t, n=20000, seed=5):
    r"""Monte Carlo :math:`E_{p_t}|s_{fit} - s|^2 / E_{p_t}|s|^2` with samples of the exact law at ``t``."""
    x = dist0.evolve(PROCESS, t).sample(n, seed)
    truth = exact.score(x, t)
    return np.mean(np.sum((learned.score(x, t) - truth) ** 2, axis=1)) / np.mean(np.sum(truth**2, axis=1))


def slope(sizes, errors):
    return np.polyfit(np.log(sizes), np.log(errors), 1)[0]


# ------------------------------------------------------------------ accuracy


@pytest.mark.parametrize("n_features", [0, 16])
@pytest.mark.parametrize("dim", [1, 2])
def test_gaussian_data_is_fitted_nearly_exactly(dim, n_features):
    # the noise prediction of Gaussian data is affine in x, which the (unpenalised) affine part contains;
    # what is left is Monte Carlo: ~ (1 + d + K)/N in eps units, and 1/sqrt(n_data) in the data's moments
    if dim == 1:
        gaussian = fd.GaussianMixture([1.0], [[0.5]], [0.3])
    else:
        gaussian = fd.GaussianMixture([1.0], [[0.5, -0.2]], [[[0.3, 0.1], [0.1, 0.5]]])
    times = np.array([0.1, 0.4, 1.0])
    learned = fit_dsm(PROCESS, gaussian.sample(20000, 1), times, n_features=n_features, seed=2)
    exact = fd.ExactScore(PROCESS, gaussian)
    for t in times:
        assert weighted_error(learned, exact, gaussian, t) < 5e-3


@pytest.mark.parametrize("dim", [1, 2])
def test_recorded_loss_of_a_gaussian_fit_is_the_closed_form_dsm_loss(dim):
    # for p_t = N(m_t, C_t): E[Z | X_t] = sqrt(v_t) C_t^{-1}(X_t - m_t), so the least DSM loss is
    # E|Z - E[Z|X_t]|^2 = d - v_t tr(C_t^{-1}); Monte Carlo std of the recorded loss ~ sqrt(2 d / N)
    covariance = np.diag([0.3, 0.8][:dim])
    gaussian = fd.GaussianMixture([1.0], [np.zeros(dim) + 0.4], [covariance])
    times = np.array([0.05, 0.3, 1.5])
    data = gaussian.sample(200000, 3)
    learned = fit_dsm(PROCESS, data, times, n_features=0, samples_per_time=40000, seed=4)
    alpha, variance = PROCESS.alpha(times), PROCESS.variance(times)
    expected = [dim - v * np.trace(np.linalg.inv(a * a * covariance + v * np.eye(dim)))
                for a, v in zip(alpha, variance)]
    np.testing.assert_allclose(learned.meta["loss"], expected, atol=5 * np.sqrt(2 * dim / 40000))


def test_score_error_falls_as_samples_per_time_grows():
    # at these times the error of 16 features is Monte Carlo variance (~ 1/N), well above their bias
    data = MIXTURE.sample(100000, 1)
    sizes = np.array([1000, 4000, 16000])
    times = np.array([0.2, 0.5, 1.0])
    errors = []
    for size in sizes:
        fits = [fit_dsm(PROCESS, data, times, FINE_AXES, n_features=16, samples_per_time=size, seed=seed)
                for seed in (0, 1)]
        errors.append(np.mean([weighted_error(fit, EXACT, MIXTURE, t) for fit in fits for t in times]))
    assert np.all(np.diff(errors) < 0), errors
    assert slope(sizes, errors) < -0.6, errors


def test_score_error_falls_as_features_grow():
    # at fixed N the error is bias of the feature span: the bimodal score needs resolution, which RBFs add
    data = MIXTURE.sample(100000, 1)
    counts = np.array([4, 8, 16, 32])
    times = np.array([0.05, 0.1, 0.2])
    errors = []
    for count in counts:
        fit = fit_dsm(PROCESS, data, times, FINE_AXES, n_features=count, samples_per_time=50000, seed=3)
        errors.append(np.mean([weighted_error(fit, EXACT, MIXTURE, t) for t in times]))
    assert np.all(np.diff(errors) < 0), errors
    assert slope(counts, errors) < -1.5, errors
    assert errors[-1] < 0.01, errors


def test_score_error_falls_as_features_grow_in_two_dimensions():
    # the k-means placement of the centres (d >= 2); slope about -1.1 with these sizes
    mixture = fd.GaussianMixture([0.5, 0.5], [[-1.0, 0.5], [1.0, -0.3]], [[0.1, 0.2], [0.15, 0.1]])
    exact = fd.ExactScore(PROCESS, mixture)
    data = mixture.sample(100000, 2)
    axes = [np.linspace(-5.0, 5.0, 201)] * 2
    counts = np.array([8, 16, 32])
    times = np.array([0.05, 0.1, 0.2])
    errors = []
    for count in counts:
        fit = fit_dsm(PROCESS, data, times, axes, n_features=count, samples_per_time=30000, seed=1)
        errors.append(np.mean([weighted_error(fit, exact, mixture, t) for t in times]))
    assert np.all(np.diff(errors) < 0), errors
    assert slope(counts, errors) < -0.7, errors


# ------------------------------------------------------------------ generalisation vs memorisation


def test_few_features_generate_new_points_while_the_empirical_score_memorises():
    train = MIXTURE.sample(50, 3)
    T, t_min = 3.0, 1e-7  # sqrt(v_{t_min}) ~ 4.5e-4, far below the typical spacing of the training points
    learned = fit_dsm(PROCESS, train, np.geomspace(t_min, T, 40), n_features=8, seed=0)
    run = dict(T=T, t_min=t_min, steps=200, time_grid="log-snr", seed=1)
    generated = fd.sample_reverse(PROCESS, learned, 2000, **run).samples
    memorised = fd.sample_reverse(PROCESS, fd.EmpiricalScore(PROCESS, train), 2000, **run).samples

    tree = cKDTree(train)
    fresh = tree.query(MIXTURE.sample(2000, 11))[0]  # the reference: new points from the data law
    learned_distance = tree.query(generated)[0]
    memorised_distance = tree.query(memorised)[0]
    # learned samples sit as far from the training points as fresh ones (median within a factor 1.5) ...
    assert 1 / 1.5 < np.median(learned_distance) / np.median(fresh) < 1.5
    # ... and as rarely close to one: fresh samples fall within r of the 50 points with probability ~ 10 %
    r = 0.1 * np.median(fresh)
    assert np.mean(learned_distance < r) < 2 * np.mean(fresh < r) + 0.02
    # the empirical score (exact minimiser of DSM on the training set) returns the training points
    assert np.median(memorised_distance) < 0.05 * np.median(fresh)
    assert np.mean(memorised_distance < r) > 0.95
    # and the learned samples are not a collapse elsewhere: their spread is the data's
    assert 0.8 < generated.std() / train.std() < 1.2


# ------------------------------------------------------------------ file, meta, reproducibility


def test_written_file_loads_with_the_same_score_and_meta(tmp_path, rng):
    data = MIXTURE.sample(500, 2)
    times = np.geomspace(0.01, 2.0, 12)
    path = tmp_path / "learned.h5"
    learned = fit_dsm(PROCESS, data, times, path=path, n_features=12, samples_per_time=4000, seed=5,
                      meta={"note": "unit test"})
    loaded = load_score(path)
    lo, hi = learned.box[0]
    x = rng.uniform(lo, hi, size=(300, 1))
    for t in (times[0], 0.05, 0.5, times[-1]):
        np.testing.assert_array_equal(loaded.score(x, t), learned.score(x, t))
    meta = loaded.meta
    assert meta["fitter"] == "fpdiff.learn.fit_dsm" and meta["note"] == "unit test"
    assert (meta["n_data"], meta["dim"], meta["n_features"], meta["samples_per_time"], meta["seed"]) == \
        (500, 1, 12, 4000, 5)
    assert meta["ridge"] == 1e-3 and meta["bandwidth"] > 0
    np.testing.assert_array_equal(meta["loss"], learned.meta["loss"])
    assert meta["loss"].shape == (len(times),)
    for key, value in learned.meta["model"].items():
        np.testing.assert_array_equal(meta["model"][key], value)
    # the stored model reproduces the table at its nodes: s = -eps / sqrt(v_t)
    nodes = loaded.nodes()
    for j, t in enumerate(times):
        eps = evaluate_model(meta["model"], j, nodes)
        np.testing.assert_allclose(loaded.score(nodes, t), -eps / np.sqrt(PROCESS.variance(t)), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("parametrization", ["eps", "x0", "v"])
def test_parametrization_changes_the_storage_not_the_score(tmp_path, rng, parametrization):
    data = MIXTURE.sample(300, 4)
    times = np.array([0.1, 0.5])
    reference = fit_dsm(PROCESS, data, times, n_features=6, samples_per_time=2000)
    path = tmp_path / "stored.h5"
    other = fit_dsm(PROCESS, data, times, path=path, n_features=6, samples_per_time=2000,
                    parametrization=parametrization)
    assert load_score(path).parametrization == parametrization
    x = rng.uniform(-3, 3, size=(100, 1))
    for t in (0.1, 0.3, 0.5):
        np.testing.assert_allclose(load_score(path).score(x, t), reference.score(x, t), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(other.score(x, t), reference.score(x, t), rtol=1e-10, atol=1e-10)


def test_same_seed_same_fit_other_seed_other_fit():
    data = MIXTURE.sample(300, 4)
    times = np.array([0.1, 0.5])
    fit = lambda seed: fit_dsm(PROCESS, data, times, n_features=8, samples_per_time=3000, seed=seed)  # noqa: E731
    np.testing.assert_array_equal(fit(7).values, fit(7).values)
    assert not np.allclose(fit(7).values, fit(8).values)
    # a time's fit does not depend on the other times (its noise comes from its own stream)
    first = fit_dsm(PROCESS, data, times[:1], fit(7).axes, n_features=8, samples_per_time=3000, seed=7)
    np.testing.assert_array_equal(first.values[0], fit(7).values[0])


def test_default_axes_cover_the_noised_data_and_the_prior():
    data = np.array([[-1.0, 2.0], [3.0, 0.5]])
    times = np.array([0.01, 0.5, 2.0])
    learned = fit_dsm(PROCESS, data, times, n_features=3, samples_per_time=1000)
    assert learned.shape == (65, 65)
    prior_sd = np.sqrt(PROCESS.stationary_variance)
    for axis, (lo, hi) in enumerate(learned.box):
        for t in times:
            alpha, sd = PROCESS.alpha(t), np.sqrt(PROCESS.variance(t))
            assert lo <= alpha * data[:, axis].min() - 5 * sd and hi >= alpha * data[:, axis].max() + 5 * sd
        assert lo <= -5 * prior_sd and hi >= 5 * prior_sd
    assert fit_dsm(PROCESS, [0.0, 1.0], times, n_features=2, samples_per_time=100).shape == (129,)


def test_outside_policy_is_passed_on():
    learned = fit_dsm(PROCESS, [0.0, 1.0], [0.5], [np.linspace(-1, 1, 5)], n_features=2, samples_per_time=100,
                      outside="clamp")
    np.testing.assert_array_equal(learned.score([[5.0]], 0.5), learned.score([[1.0]], 0.5))
    strict = fit_dsm(PROCESS, [0.0, 1.0], [0.5], [np.linspace(-1, 1, 5)], n_features=2, samples_per_time=100)
    with pytest.raises(InputError, match="outside the tabulated box"):
        strict.score([[5.0]], 0.5)


# ------------------------------------------------------------------ input errors


@pytest.mark.parametrize("change, message", [
    (dict(process="OU"), r"`process` must be an fpdiff process"),
    (dict(data_points=np.zeros((0, 1))), r"`data_points` must be a non-empty array of shape \(n, d\)"),
    (dict(data_points=[[np.nan]]), r"`data_points` must be finite"),
    (dict(data_points=np.zeros((2, 2, 2))), r"`data_points` must be .* got shape \(2, 2, 2\)"),
    (dict(times=[0.5, 0.1]), r"`times` must be strictly increasing and > 0; got \[0.5 0.1\]"),
    (dict(times=[0.0, 0.1]), r"`times` must be strictly increasing and > 0"),
    (dict(times=[]), r"`times` must be a non-empty"),
    (dict(axes=[np.linspace(-1, 1, 5)] * 2), r"`axes` must hold one coordinate array per dimension .*\(1\); got 2"),
    (dict(axes=[[0.0, 0.0, 1.0]]), r"`axes\[0\]` must be a strictly increasing"),
    (dict(n_features=-1), r"`n_features` must be >= 0; got -1"),
    (dict(n_features=2.5), r"`n_features` must be an integer; got 2.5"),
    (dict(bandwidth=0.0), r"`bandwidth` must be > 0; got 0.0"),
    (dict(ridge=-1.0), r"`ridge` must be >= 0"),
    (dict(samples_per_time=10, n_features=16), r"`samples_per_time` must be >= 18; got 10"),
    (dict(seed=-3), r"`seed` must be >= 0"),
    (dict(parametrization="noise"), r"`parametrization` must be one of 'score', 'eps', 'x0', 'v'; got 'noise'"),
    (dict(outside="wrap"), r"`outside` must be one of 'raise', 'clamp'; got 'wrap'"),
    (dict(meta=["a"]), r"`meta` must be a dict; got list"),
    (dict(meta={"loss": 1.0}), r"`meta` must not hold the keys the fit records .*\['loss'\]"),
])
def test_bad_input_is_named(change, message):
    arguments = dict(process=PROCESS, data_points=[0.0, 1.0, 2.0], times=[0.1, 0.5], n_features=2,
                     samples_per_time=100)
    arguments.update(change)
    with pytest.raises(InputError, match=message):
        fit_dsm(**arguments)


def test_unknown_keyword_is_an_error():
    with pytest.raises(TypeError, match="n_centres"):
        fit_dsm(PROCESS, [0.0, 1.0], [0.5], n_centres=3)
