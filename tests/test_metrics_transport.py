"""Transport distances computed once for many comparisons (SlicedReference), unequal sample sets, the radix sort."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import wasserstein_distance

import fpdiff as fd
from fpdiff import metrics
from fpdiff.errors import InputError
from fpdiff.metrics._sort import MAX_MOVES_PER_VALUE, RADIX_MIN, _insertion_pass, _radix_sort, sort_values

GRID = fd.Grid([[-4.0, 4.0], [-4.0, 4.0]], 24)
LAW = fd.GaussianMixture([0.4, 0.6], [[-1.0, 0.5], [1.0, -0.5]], [0.5, 0.8])


def samples(n, seed, dim=2, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, dim)) + shift


# ------------------------------------------------------- a reference projected once


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_reference_is_sliced_w_to_the_last_bit(p):
    """Sample sets of equal and unequal sizes, a density on either side, and one dimension (the exact W_p)."""
    density = GRID.cell_average(LAW)
    density = density / GRID.integrate(density)
    cases = [(samples(5000, 1), samples(5000, 2, shift=0.1), None),  # above RADIX_MIN: the radix sort
             (samples(300, 3), samples(450, 4), None),
             (density, samples(400, 5), GRID),
             (samples(400, 6), density, GRID),
             (samples(700, 7, dim=1)[:, 0], samples(500, 8, dim=1)[:, 0] + 0.2, None)]
    for a, b, grid in cases:
        for seed in (0, 11):
            reference = metrics.SlicedReference(b, grid, n_projections=64, seed=seed)
            expected = metrics.sliced_w(a, b, grid, n_projections=64, seed=seed, p=p)
            assert reference.distance(a, grid, p=p) == expected
            assert reference.distance(a, grid, p=p) == expected  # used again: the same


def test_sliced_reference_in_one_dimension_is_w1():
    x, y = samples(3000, 1, dim=1), samples(2000, 2, dim=1, shift=0.3)
    assert metrics.SlicedReference(y).distance(x) == metrics.w1(x, y)
    assert metrics.SlicedReference(y).dim == 1 and metrics.SlicedReference(samples(10, 1)).n_projections == 128


def test_sliced_reference_refuses_what_sliced_w_refuses():
    reference = metrics.SlicedReference(samples(50, 1), n_projections=8)
    with pytest.raises(InputError, match=r"`a` must have the reference's dimension, 2; got 3-D"):
        reference.distance(samples(50, 2, dim=3))
    with pytest.raises(InputError, match=r"`p` must be >= 1 .*got 0.5"):
        reference.distance(samples(50, 2), p=0.5)
    with pytest.raises(InputError, match=r"`n_projections`"):
        metrics.SlicedReference(samples(50, 1), n_projections=0)
    with pytest.raises(InputError, match=r"`seed` must be an int, None or a numpy Generator"):
        metrics.SlicedReference(samples(50, 1), seed="zero")


# ------------------------------------------------------- unequal sample sets on the line


@pytest.mark.parametrize("n, m", [(7, 13), (1000, 1500), (5000, 3001), (1, 4)])
def test_w1_of_sample_sets_of_unequal_sizes_is_scipys(n, m):
    x, y = samples(n, n, dim=1)[:, 0], samples(m, m, dim=1, shift=0.25)[:, 0]
    assert metrics.w1(x, y) == pytest.approx(wasserstein_distance(x, y), rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("p", [1, 2, 3.5])
def test_wp_of_unequal_sample_sets_is_the_pairing_of_their_common_refinement(p):
    """n and m atoms of mass 1/n and 1/m are the same laws as lcm(n, m) atoms, each repeated: paired sorted."""
    n, m = 12, 18
    x, y = samples(n, 1, dim=1)[:, 0], samples(m, 2, dim=1)[:, 0] * 2
    common = np.lcm(n, m)
    paired = np.mean(np.abs(np.sort(np.repeat(x, common // n)) - np.sort(np.repeat(y, common // m))) ** p) ** (1 / p)
    assert metrics.sliced_w(x, y, p=p) == pytest.approx(paired, rel=1e-14)


# ------------------------------------------------------- compare without its transport distance


def test_compare_without_transport_leaves_w1_nan_and_the_rest_as_it_was():
    density, points = fd.GaussianMixture([1.0], [[0.0, 0.0]], [1.0]), samples(3000, 9)
    full = metrics.compare(density, points, GRID)
    light = metrics.compare(density, points, GRID, transport=False)
    assert np.isnan(light.w1) and np.isfinite(full.w1)
    for name in ("tv", "tv_floor", "outside", "n_samples", "density_mass", "w1_kind"):
        assert getattr(light, name) == getattr(full, name)
    assert "W1" not in str(light) and "sliced W1" in str(full)
    with pytest.raises(InputError, match=r"`transport` must be True or False; got 'no'"):
        metrics.compare(density, points, GRID, transport="no")


# ------------------------------------------------------- the radix sort


def test_radix_sort_orders_like_np_sort_with_signed_zeros_infinities_subnormals_and_ties():
    special = np.array([0.0, -0.0, 5e-324, -5e-324, 2.2e-308, -2.2e-308, np.inf, -np.inf, 1.7e308, -1.7e308, 1.0, 1.0])
    rng = np.random.default_rng(0)
    values = np.concatenate([np.repeat(special, 400), rng.standard_normal(RADIX_MIN), rng.integers(-3, 3, 500) * 0.5])
    rng.shuffle(values)
    result = sort_values(values)
    np.testing.assert_array_equal(result, np.sort(values))
    zeros = result[result == 0]
    assert np.all(np.signbit(zeros[:400])) and not np.any(np.signbit(zeros[400:]))  # -0.0 first, then 0.0
    np.testing.assert_array_equal(sort_values(np.full(RADIX_MIN, 3.0)), np.full(RADIX_MIN, 3.0))


def test_radix_sort_of_values_closer_than_its_first_passes_see():
    """Values within a relative 2^-30 share the bits the first passes sort by: the insertion pass orders them, or,
    past its budget of moves (here a descending run: n^2 / 2), the low digits are sorted by radix too."""
    close = 1.0 + np.arange(2 * RADIX_MIN)[::-1] * 2.0**-50
    keys = close.view(np.uint64) | np.uint64(1 << 63)
    assert not _insertion_pass(keys.copy(), MAX_MOVES_PER_VALUE * keys.size)  # the fallback is taken
    np.testing.assert_array_equal(sort_values(close), np.sort(close))
    values = np.random.default_rng(1).standard_normal(RADIX_MIN)
    values = np.concatenate([values, values[::97] * (1 + 2.0**-45)])  # a few such pairs: the insertion pass
    np.testing.assert_array_equal(sort_values(values), np.sort(values))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 300), elements=st.floats(allow_nan=False, width=64)))
def test_radix_sort_of_any_finite_or_infinite_values(values):
    np.testing.assert_array_equal(_radix_sort(values), np.sort(values))
