"""The counter-based normal generator: agreement with its numpy specification, quality, reproducibility."""

import numba
import numpy as np
import pytest
from scipy import stats

import fpdiff as fd
from fpdiff.particles import SCHEMES, _random, sample_reverse

N_DRAWS = 1_000_000
# a statistic with standard error se is within 5 se with probability 1 - 6e-7: the thresholds below are
# Monte-Carlo floors (5 standard errors), so a failure means a defect, not bad luck


def test_kernel_matches_numpy_reference():
    for dim in (1, 2, 3, 5):
        for seed, stream, step, slot in [(0, _random.STEP, 0, 0), (12345, _random.CORRECTOR, 77, 3),
                                         (2**62 + 7, _random.PRIOR, 2**40, 1)]:
            first = 1000 * dim
            kernel = _random.normals(seed, stream, first, 500, dim, step, slot)
            reference = _random.normals_reference(seed, stream, np.arange(first, first + 500), step, slot, dim)
            # the ziggurat's fast path is one multiplication (bit for bit); its wedges and tail call exp and log,
            # which numpy/libm and LLVM may round differently in the last place
            np.testing.assert_allclose(kernel, reference, rtol=1e-14, atol=1e-14)


def test_moments_and_ks():
    z = _random.normals(3, _random.STEP, 0, N_DRAWS, 1)[:, 0]
    n = len(z)
    assert abs(np.mean(z)) < 5 / np.sqrt(n)
    assert abs(np.var(z) - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)
    # the KS statistic of 10^6 draws is ~ 0.87e-3 typically; p < 1e-4 would be a defect
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # tails, drawn by the ziggurat's wedges (|z| < 3.44) and its tail algorithm (beyond): binomial standard error
    for level in (2.0, 3.0, 3.5, 4.0):
        p = 2 * stats.norm.sf(level)
        assert abs(np.mean(np.abs(z) > level) - p) < 5 * np.sqrt(p / n), level
    # the wedge of every layer: counts in 128 equiprobable bins of |z| (chi-square)
    edges = stats.norm.ppf(0.5 + 0.5 * np.linspace(0, 1, 129))
    counts, _ = np.histogram(np.abs(z), bins=edges)
    assert stats.chisquare(counts).pvalue > 1e-4


def _correlation(a, b):
    return np.corrcoef(a, b)[0, 1]


def test_independence_across_particles_steps_slots_components_seeds():
    n = 200_000
    floor = 5 / np.sqrt(n)  # the standard error of a correlation of independent samples is 1/sqrt(n)
    base = _random.normals(11, _random.STEP, 0, n + 1, 2, step=4, slot=0)
    others = {
        "next particle": base[1:, 0],
        "component 1 (Box–Muller partner)": base[:-1, 1],
        "next step": _random.normals(11, _random.STEP, 0, n, 2, step=5, slot=0)[:, 0],
        "next slot": _random.normals(11, _random.STEP, 0, n, 2, step=4, slot=1)[:, 0],
        "other stream": _random.normals(11, _random.CORRECTOR, 0, n, 2, step=4, slot=0)[:, 0],
        "next seed": _random.normals(12, _random.STEP, 0, n, 2, step=4, slot=0)[:, 0],
    }
    z = base[:-1, 0]
    for name, other in others.items():
        assert abs(_correlation(z, other)) < floor, name
        # dependence beyond the linear: squares and signs
        assert abs(_correlation(z * z, other * other)) < floor, name
        assert abs(_correlation(np.sign(z), np.sign(other))) < floor, name
    # pairs of consecutive steps are jointly normal: a chi-square test of the 2-D histogram of their CDFs
    u = stats.norm.cdf(np.stack([z, others["next step"]]))
    counts, _, _ = np.histogram2d(u[0], u[1], bins=10, range=[[0, 1], [0, 1]])
    assert stats.chisquare(counts.ravel()).pvalue > 1e-4


def test_many_steps_of_one_particle_are_normal():
    # one particle's noise over 20000 steps: a path's increments must themselves be iid normal
    z = np.array([_random.normals(5, _random.STEP, 7, 1, 1, step=s)[0, 0] for s in range(20000)])
    assert stats.kstest(z, "norm").pvalue > 1e-4
    assert abs(_correlation(z[:-1], z[1:])) < 5 / np.sqrt(len(z))


def test_seed_is_validated():
    for seed in (-1, 2**63, 1.5, None, "0"):
        with pytest.raises(fd.InputError, match="seed"):
            _random.check_seed(seed)


# --------------------------------------------------------------- reproducibility

OU = fd.OU()
MIXTURE = fd.GaussianMixture([0.3, 0.7], [[-1.0, 0.5], [1.5, -0.5]], [[0.2, 0.4], [0.3, 0.1]])


def _run(n, scheme="pc", **options):
    return sample_reverse(OU, fd.ExactScore(OU, MIXTURE), n, 1.0, gamma=1.0, steps=8, scheme=scheme, seed=9,
                          **options).samples


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_same_samples_for_one_and_two_threads(scheme):
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run(50_000, scheme)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _run(50_000, scheme)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)


def test_same_samples_for_any_batch_size_and_prefix():
    full = _run(100_000)
    np.testing.assert_array_equal(_run(100_000, batch_size=777), full)
    np.testing.assert_array_equal(_run(100_000, batch_size=100_000), full)
    # the first 1000 particles of a 10^5 run are a 1000-particle run: particle i depends on (seed, i) only
    np.testing.assert_array_equal(_run(1000), full[:1000])
    np.testing.assert_array_equal(_run(1, batch_size=1), full[:1])


def test_other_seed_other_samples():
    score = fd.ExactScore(OU, MIXTURE)
    a = sample_reverse(OU, score, 100, 1.0, steps=4, seed=1).samples
    b = sample_reverse(OU, score, 100, 1.0, steps=4, seed=2).samples
    assert np.all(a != b)
