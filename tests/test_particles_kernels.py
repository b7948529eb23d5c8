"""Particle kernels against their numpy specifications: scores, divergences, every stage of every scheme."""

import numba
import numpy as np
import pytest

import fpdiff as fd
from fpdiff.particles import SCHEMES, _random, sample_reverse, simulate
from fpdiff.particles import solve
from fpdiff.particles._kernels import on_threads, step_particles
from fpdiff.particles._scores import KernelScore
from fpdiff.particles.schemes import check_scheme_options, plan_step, reference_stage
from fpdiff.scores._kernels import EMPIRICAL, MIXTURE

OU = fd.OU()
VP = fd.VP()
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D_FULL = fd.GaussianMixture([0.4, 0.6], [[-1.0, 0.5], [1.5, -0.5]],
                                     [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]]])
POINTS_2D = np.random.default_rng(1).normal(size=(40, 2))


def _scores():
    return {
        "mixture-1d": fd.ExactScore(OU, MIXTURE_1D),
        "mixture-2d-full": fd.ExactScore(VP, MIXTURE_2D_FULL),
        "empirical-2d": fd.EmpiricalScore(OU, POINTS_2D),
        "exact-of-empirical": fd.ExactScore(OU, fd.Empirical(POINTS_2D[:5])),
    }


@pytest.mark.parametrize("name", list(_scores()))
@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0])
def test_kernel_score_matches_the_score_objects(name, t, rng):
    score = _scores()[name]
    kernel = KernelScore(score)
    assert kernel.fast
    x = 2.0 * rng.normal(size=(300, score.dim))
    x[0] = 1e3  # far in the tails the softmax must not under/overflow
    values, _ = kernel.kernel_score(x, t)
    np.testing.assert_allclose(values, score.score(x, t), rtol=1e-9, atol=1e-9 / t)


@pytest.mark.parametrize("name", list(_scores()))
@pytest.mark.parametrize("t", [1e-2, 0.3])
def test_exact_divergence_matches_central_differences(name, t, rng):
    score = _scores()[name]
    kernel = KernelScore(score)
    x = rng.normal(size=(50, score.dim))
    _, divergence = kernel.kernel_score(x, t, with_divergence=True)
    delta = 1e-5 * np.sqrt(float(score.process.variance(t)))
    differences = np.zeros(len(x))
    for k in range(score.dim):
        shift = np.zeros(score.dim)
        shift[k] = delta
        differences += (score.score(x + shift, t)[:, k] - score.score(x - shift, t)[:, k]) / (2 * delta)
    # central differences: error O(delta^2 s''') + round-off |s| eps / delta, both ~1e-6 relative here
    np.testing.assert_allclose(divergence, differences, rtol=1e-5, atol=1e-5 / float(score.process.variance(t)))


def test_divergence_of_one_gaussian_is_minus_trace_of_precision():
    mixture = fd.GaussianMixture([1.0], [[0.5, -1.0]], [[[0.4, 0.1], [0.1, 0.3]]])
    kernel = KernelScore(fd.ExactScore(OU, mixture))
    x = np.random.default_rng(0).normal(size=(5, 2))
    _, divergence = kernel.kernel_score(x, 0.2, with_divergence=True)
    cov = np.exp(-0.4) * mixture.covariances[0] + float(OU.variance(0.2)) * np.eye(2)
    np.testing.assert_allclose(divergence, -np.trace(np.linalg.inv(cov)), rtol=1e-12)


def _stage_cases():
    for scheme in SCHEMES:
        for gamma in (0.0, 1.3):
            for option in ({}, {"corrector_step": "per-particle", "corrector_steps": 2}) if scheme == "pc" else ({},):
                yield scheme, gamma, option


@pytest.mark.parametrize("name", ["mixture-1d", "mixture-2d-full", "empirical-2d"])
@pytest.mark.parametrize("scheme, gamma, option", list(_stage_cases()))
def test_every_stage_kernel_matches_numpy_reference(name, scheme, gamma, option, rng):
    score = _scores()[name]
    kernel = KernelScore(score)
    process = score.process
    y = rng.normal(size=(1000, score.dim))
    options = check_scheme_options(scheme, dict(option))
    key = _random.seed_key(4)
    for stage in plan_step(scheme, fd.reverse_dynamics(process, score, gamma, 1.0), 0.5, 0.4, options):
        noise = _random.normals(4, stage.stream, 100, len(y), score.dim, 3, stage.slot)
        expected = reference_stage(stage, y, lambda x: score.score(x, stage.t_a), lambda x: score.score(x, stage.t_b),
                                   noise)
        work = [np.empty_like(y) for _ in range(4)]
        for parallel in (False, True):
            got = y.copy()
            bad = step_particles(stage.code, got, *work, kernel.kind, *kernel.data(stage.t_a),
                                 *kernel.data(stage.t_b), stage.coefficients, key, stage.stream, 100, 3, stage.slot,
                                 parallel)
            assert bad == 0
            np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)
        y = expected


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_python_slow_path_gives_the_kernel_samples(scheme, gamma):
    exact = fd.ExactScore(OU, MIXTURE_2D_FULL)
    slow = fd.CallableScore(lambda x, t: exact.score(x, t), 2, OU)
    runs = [sample_reverse(OU, score, 500, 1.0, gamma=gamma, steps=10, scheme=scheme, seed=3)
            for score in (exact, slow)]
    assert runs[0].diagnostics["score"] == "mixture (numba)"
    assert runs[1].diagnostics["score"] == "python (slow path)"
    np.testing.assert_allclose(runs[0].samples, runs[1].samples, rtol=1e-10, atol=1e-10)


# ------------------------------------------------- the compiled-score contract (Score.compiled)


class _MyExact(fd.ExactScore):
    """A user's subclass that adds a method and keeps the field: it keeps its parent's compiled path."""

    def label(self):
        return "mine"


class _MyEmpirical(fd.EmpiricalScore):
    def label(self):
        return "mine"


class _MyTabulated(fd.TabulatedScore):
    def label(self):
        return "mine"


def _parent_and_subclass(name):
    if name == "exact":
        return fd.ExactScore(OU, MIXTURE_2D_FULL), _MyExact(OU, MIXTURE_2D_FULL)
    if name == "empirical":
        return fd.EmpiricalScore(OU, POINTS_2D), _MyEmpirical(OU, POINTS_2D)
    table = fd.tabulate_score(fd.ExactScore(VP, MIXTURE_2D_FULL), np.geomspace(1e-3, 1.0, 12),
                              [np.linspace(-4, 4, 33)] * 2, outside="clamp")
    return table, _MyTabulated(VP, table.t, table.axes, table.values, outside="clamp")


@pytest.mark.parametrize("name", ["exact", "empirical", "tabulated"])
def test_a_subclass_of_a_compiled_score_keeps_its_parents_compiled_path(name):
    parent, child = _parent_and_subclass(name)
    assert KernelScore(parent).kind is not None
    assert KernelScore(child).kind == KernelScore(parent).kind
    runs = [sample_reverse(parent.process, score, 400, 1.0, steps=10, seed=5) for score in (parent, child)]
    assert runs[1].diagnostics["score"] == runs[0].diagnostics["score"] != "python (slow path)"
    np.testing.assert_array_equal(runs[1].samples, runs[0].samples)


def test_a_subclass_that_changes_the_field_takes_the_python_path():
    class Doubled(fd.ExactScore):
        def _score(self, x, t):
            return 2.0 * super()._score(x, t)

    doubled = Doubled(OU, MIXTURE_1D)
    assert doubled.compiled() is None and KernelScore(doubled).kind is None
    exact = fd.ExactScore(OU, MIXTURE_1D)
    same = fd.CallableScore(lambda x, t: 2.0 * exact.score(x, t), 1, OU)
    runs = [sample_reverse(OU, score, 300, 1.0, steps=8, seed=2) for score in (doubled, same)]
    assert runs[0].diagnostics["score"] == "python (slow path)"
    np.testing.assert_array_equal(runs[0].samples, runs[1].samples)


def test_simulate_reverse_dynamics_is_sample_reverse_em():
    # the generic path (drift from Python) and the kernel path run the same Euler–Maruyama on the same noise
    score = fd.ExactScore(OU, MIXTURE_1D)
    y0 = MIXTURE_1D.evolve(OU, 1.0).sample(2000, seed=1)
    for gamma in (0.0, 0.7):
        kernel = sample_reverse(OU, score, y0, 1.0, gamma=gamma, t_min=0.01, steps=25, scheme="em", seed=8,
                                time_grid="uniform")  # simulate's grid
        generic = simulate(fd.reverse_dynamics(OU, score, gamma, 1.0, 0.01), y0, steps=25, scheme="em", seed=8)
        np.testing.assert_allclose(generic.t, kernel.t)
        np.testing.assert_allclose(generic.samples, kernel.samples, rtol=1e-10, atol=1e-10)


# ------------------------------------------------- the vectorised kernels (issue 8)


def test_vectorised_exp_matches_libm_to_a_few_ulp():
    from fpdiff._jit import jit
    from fpdiff._vmath import EXP_UNDERFLOW, vexp

    @jit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = vexp(x[i])

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-708.0, 709.7, 200_000), rng.uniform(-1.0, 1.0, 100_000),
                        np.arange(-700.0, 709.0), [0.0, -0.0, 709.7, -707.99]])
    out = np.empty_like(x)
    apply(x, out)
    # Cody–Waite reduction and a degree-13 Taylor polynomial (remainder < 5e-18): a few units of 2.2e-16
    np.testing.assert_allclose(out, np.exp(x), rtol=4e-16, atol=0)
    special = np.array([np.nan, -np.inf, np.inf, EXP_UNDERFLOW - 1.0, 710.0])
    out = np.empty_like(special)
    apply(special, out)
    assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == np.inf and out[3] == 0.0 and out[4] == np.inf


def _general_path_scores():
    # d = 1 (empirical) and d = 3 (both) take the general loops of the block kernels, d = 1, 2 the special ones
    mixture_3d = fd.GaussianMixture([0.2, 0.5, 0.3], [[-1.0, 0.5, 0.0], [1.5, -0.5, 1.0], [0.0, 0.0, -2.0]],
                                    [np.diag([0.3, 0.2, 0.5]), [[0.4, 0.1, 0.0], [0.1, 0.3, 0.05], [0.0, 0.05, 0.2]],
                                     0.1 * np.eye(3)])
    points_3d = np.random.default_rng(2).normal(size=(30, 3))
    return {
        "mixture-3d": fd.ExactScore(OU, mixture_3d),
        "empirical-1d": fd.EmpiricalScore(OU, POINTS_2D[:, :1]),
        "empirical-3d": fd.EmpiricalScore(VP, points_3d),
    }


@pytest.mark.parametrize("name", list(_general_path_scores()))
@pytest.mark.parametrize("t", [1e-3, 0.5])
def test_block_kernels_in_every_dimension_match_the_score_objects(name, t, rng):
    score = _general_path_scores()[name]
    x = 2.0 * rng.normal(size=(1100, score.dim))  # two full blocks and a partial one
    x[5] = 1e3
    values, _ = KernelScore(score).kernel_score(x, t)
    np.testing.assert_allclose(values, score.score(x, t), rtol=1e-9, atol=1e-9 / t)


def test_stage_counts_the_particles_that_became_non_finite():
    score = fd.ExactScore(OU, MIXTURE_2D_FULL)
    kernel = KernelScore(score)
    y = np.random.default_rng(5).normal(size=(1500, 2))
    y[3, 1] = np.nan
    y[700] = np.inf  # both components of one particle: one particle
    y[1499, 0] = -np.inf
    stage = plan_step("ei", fd.reverse_dynamics(OU, score, 1.0, 1.0), 0.5, 0.4, {})[0]
    work = [np.empty_like(y) for _ in range(4)]
    for parallel in (False, True):
        got = y.copy()
        bad = step_particles(stage.code, got, *work, kernel.kind, *kernel.data(0.5), *kernel.data(0.5),
                             stage.coefficients, _random.seed_key(1), stage.stream, 0, 0, 0, parallel)
        assert bad == 3
        finite = np.all(np.isfinite(got), axis=1)
        assert np.flatnonzero(~finite).tolist() == [3, 700, 1499]


@pytest.mark.parametrize("kind", [MIXTURE, EMPIRICAL])
@pytest.mark.parametrize("count, dim, threads", [(_random.BLOCK + 37, 2, 1), (40_000, 1, 2), (20_000, 3, 2)])
def test_prior_normals_of_the_fused_kernel_are_the_normals_kernels(kind, count, dim, threads):
    """The prior's normals drawn by a run's own kernel (one NOISE stage from zeros) are the stream's, bit for bit,
    on one thread or split between threads (the larger counts run on all threads)."""
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        fused = solve._fused_normals(kind, 13, _random.PRIOR, 321, count, dim)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(fused, _random.normals(13, _random.PRIOR, 321, count, dim))


def test_on_threads_covers_every_block_once_in_ranges():
    calls = []
    on_threads(True, lambda lo, hi, tag: calls.append((lo, hi, tag)), 7, "x")
    threads = min(numba.get_num_threads(), 7)
    assert sorted(calls) == [(7 * i // threads, 7 * (i + 1) // threads, "x") for i in range(threads)]
    calls.clear()
    on_threads(False, lambda lo, hi, tag: calls.append((lo, hi, tag)), 7, "y")
    assert calls == [(0, 7, "y")]
