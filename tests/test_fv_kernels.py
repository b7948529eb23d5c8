"""The numba finite-volume kernels agree with their dense numpy references."""

import numpy as np
import pytest

from fpdiff.fv import _kernels, _reference


@pytest.mark.parametrize("z", [0.0, 1e-12, -1e-12, 1e-6, 0.3, -0.3, 5.0, -5.0, 40.0, -40.0, 800.0, -800.0])
def test_bernoulli_pair_matches_reference(z):
    b_plus, b_minus = _kernels.bernoulli_pair(z)
    np.testing.assert_allclose(b_plus, _reference.bernoulli(z), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(b_minus, _reference.bernoulli(-z), rtol=1e-14, atol=1e-300)
    assert b_plus >= 0 and b_minus >= 0


def _lines(rng, shape, absorbing, diffusion, parallel):
    n_outer, n_cells, n_inner = shape
    drift = rng.normal(scale=30.0, size=(n_outer, n_cells + 1, n_inner))
    h = 0.07
    wl = np.empty_like(drift)
    wr = np.empty_like(drift)
    _kernels.sg_weights(drift, diffusion, h, absorbing, absorbing, wl, wr, parallel)
    return drift, h, wl, wr


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("absorbing", [False, True])
@pytest.mark.parametrize("diffusion", [0.0, 1e-3, 0.8])
# (11, 9, 1): lines of unit stride in lockstep groups (GROUP = 8) with a partial group;
# (1, 600, 2): more faces and rows than one work unit of sg_weights / add_operator (ROWS = 256);
# (2, 600, 1): the same on lines of unit stride (add_operator's branch-free line loop and its end rows);
# (3, 1, 1): lines of one cell; (2, 5, 300): blocks of 80 inner indices (block_width), the last one partial
@pytest.mark.parametrize("shape", [(1, 9, 1), (3, 7, 5), (2, 6, 130), (11, 9, 1), (1, 600, 2), (2, 600, 1),
                                   (3, 1, 1), (2, 5, 300)])
def test_kernels_match_dense_reference(rng, shape, diffusion, absorbing, parallel):
    drift, h, wl, wr = _lines(rng, shape, absorbing, diffusion, parallel)
    p = rng.uniform(size=shape)
    c = 0.37
    applied = p.copy()
    _kernels.add_operator(wl, wr, c, p, applied, parallel)
    factors = [np.empty(shape) for _ in range(3)]
    _kernels.factor_lines(wl, wr, c, *factors, parallel)
    solved = p.copy()
    _kernels.substitute_lines(*factors, solved, parallel)
    for o in range(shape[0]):
        for i in range(shape[2]):
            ref_wl, ref_wr = _reference.flux_weights(drift[o, :, i], diffusion, h, (absorbing, absorbing))
            # atol: weights below 1e-300 (Peclet numbers near 700) underflow differently in the reference
            np.testing.assert_allclose(wl[o, :, i], ref_wl, rtol=1e-13, atol=1e-300)
            np.testing.assert_allclose(wr[o, :, i], ref_wr, rtol=1e-13, atol=1e-300)
            matrix = _reference.operator_matrix(ref_wl, ref_wr)
            np.testing.assert_allclose(applied[o, :, i], p[o, :, i] + c * matrix @ p[o, :, i], rtol=1e-12, atol=1e-12)
            expected = np.linalg.solve(np.eye(shape[1]) - c * matrix, p[o, :, i])
            np.testing.assert_allclose(solved[o, :, i], expected, rtol=1e-11, atol=1e-14)


def test_operator_is_conservative_and_monotone(rng):
    drift, h, wl, wr = _lines(rng, (1, 12, 1), False, 0.3, False)
    matrix = _reference.operator_matrix(wl[0, :, 0], wr[0, :, 0])
    # columns sum to zero: mass moves between cells and never leaves a no-flux line
    np.testing.assert_allclose(matrix.sum(axis=0), 0.0, atol=1e-12 * np.abs(matrix).max())
    off_diagonal = matrix - np.diag(np.diag(matrix))
    assert off_diagonal.min() >= 0.0
    # hence (I - cL)^-1 >= 0: an implicit step keeps densities non-negative
    assert np.linalg.inv(np.eye(12) - 50.0 * matrix).min() >= -1e-15


def test_sum_and_min(rng):
    p = rng.normal(size=(4, 5, 6))
    total, low = _kernels.sum_and_min(p)
    assert total == pytest.approx(p.sum(), rel=1e-13)
    assert low == p.min()
    p[1, 2, 3] = np.nan
    assert np.isnan(_kernels.sum_and_min(p)[0])
