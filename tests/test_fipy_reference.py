"""Cross-checks of fpdiff's forward solver against the FiPy reference solver on the same mesh."""

import subprocess
import sys

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.errors import InputError

pytest.importorskip("fipy")

from fpdiff.reference import solve_forward_fipy  # noqa: E402
from fpdiff.reference.fipy_solver import _fipy_mesh, from_fipy_order, to_fipy_order  # noqa: E402

OU = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-2.0, 1.0], [1.5, -1.0]], [[0.09, 0.25], [0.36, 0.16]])


def l1(p, q, grid):
    return grid.integrate(np.abs(p - q))


def test_import_does_not_import_fipy():
    code = "import sys, fpdiff.reference; assert 'fipy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "bounds, cells",
    [([(-8, 8), (-6, 6)], (16, 24)), ([(-1, 1), (-2, 2), (0, 3)], (3, 4, 5))],
)
def test_cell_order_matches_grid(bounds, cells):
    # FiPy numbers cells x fastest (Fortran order); fpdiff arrays are C order, axis k = coordinate k
    import fipy

    grid = fd.Grid(bounds, cells)
    centers = _fipy_mesh(fipy, grid).cellCenters.value
    expected = np.meshgrid(*grid.centers, indexing="ij")
    for axis in range(grid.ndim):
        np.testing.assert_allclose(from_fipy_order(centers[axis], grid), expected[axis], atol=1e-12)
    values = np.arange(grid.size, dtype=float).reshape(grid.shape)
    np.testing.assert_array_equal(from_fipy_order(to_fipy_order(values, grid), grid), values)


def test_1d_ou_is_the_same_scheme_as_fpdiff_backward_euler():
    # FiPy's ExponentialConvectionTerm + DiffusionTerm is the Scharfetter–Gummel flux of fpdiff and both
    # step by backward Euler with the coefficients at the end of the step, so in 1-D the two solutions agree
    # to round-off at every resolution (measured: L1 differences 4e-15, 1e-14, 2e-14 at N = 50, 100, 200),
    # rather than differing by a discretisation error that shrinks under refinement. We therefore check
    # agreement to 1e-8 and, separately, that both converge to the exact cell averages.
    sizes = [50, 100, 200]
    differences, errors_fipy, errors_fpdiff = [], [], []
    for n in sizes:
        grid = fd.Grid([(-10.0, 10.0)], [n])
        reference = solve_forward_fipy(OU, grid, MIXTURE_1D, 1.0, steps=n)
        ours = fd.solve_forward(OU, grid, MIXTURE_1D, 1.0, steps=n, method="be")
        exact = grid.cell_average(MIXTURE_1D.evolve(OU, 1.0))
        differences.append(l1(reference.final, ours.final, grid))
        errors_fipy.append(l1(reference.final, exact, grid))
        errors_fpdiff.append(l1(ours.final, exact, grid))
        assert reference.diagnostics["method"] == "fipy-be" and reference.diagnostics["steps"] == n
        assert reference.diagnostics["mass_drift"] < 1e-12
    print("L1(FiPy - fpdiff):", differences)
    print("L1 error vs exact (FiPy, fpdiff):", errors_fipy, errors_fpdiff)
    assert max(differences) < 1e-8
    h = 20.0 / np.array(sizes)
    for errors in (errors_fipy, errors_fpdiff):
        slope = np.polyfit(np.log(h), np.log(errors), 1)[0]
        assert slope >= 0.8, f"observed order {slope:.2f} (errors {errors})"


def test_time_dependent_coefficients_are_updated_every_step():
    # VP: beta(t) and sigma(t)^2 vary; a stale coefficient anywhere (e.g. FiPy 4.0.3's cached Péclet
    # number, usnistgov/fipy#1223) would show up as an O(1e-2) difference from fpdiff at t > first step.
    process = fd.VP(beta_min=0.1, beta_max=20.0)
    grid = fd.Grid([(-10.0, 10.0)], [60])
    save_at = [0.0, 0.3, 1.0]
    reference = solve_forward_fipy(process, grid, MIXTURE_1D, 1.0, steps=20, save_at=save_at)
    ours = fd.solve_forward(process, grid, MIXTURE_1D, 1.0, steps=20, method="be", save_at=save_at)
    np.testing.assert_allclose(reference.t, save_at)
    for p, q in zip(reference.values, ours.values):
        assert l1(p, q, grid) < 1e-8


def test_2d_non_square_agrees_with_fpdiff_up_to_splitting():
    # fpdiff's 2-D backward Euler splits by dimension, FiPy solves the unsplit step: the two differ by the
    # O(dt) splitting error (measured 0.013, 0.0067, 0.0034 at 10, 20, 40 steps), far below the error of
    # either against the exact solution on this coarse mesh (0.08). A transposed mapping would make the
    # difference O(1) and not shrink with dt.
    grid = fd.Grid([(-8.0, 8.0), (-6.0, 6.0)], (16, 24))
    exact = grid.cell_average(MIXTURE_2D.evolve(OU, 1.0))
    step_counts = [10, 20, 40]
    differences = []
    for steps in step_counts:
        reference = solve_forward_fipy(OU, grid, MIXTURE_2D, 1.0, steps=steps)
        ours = fd.solve_forward(OU, grid, MIXTURE_2D, 1.0, steps=steps, method="be")
        differences.append(l1(reference.final, ours.final, grid))
        assert reference.final.shape == grid.shape
        assert abs(reference.mass()[-1] - reference.mass()[0]) < 1e-12
        assert reference.diagnostics["min_density"] >= 0.0
    print("2-D L1(FiPy - fpdiff):", differences)
    fpdiff_error = l1(ours.final, exact, grid)
    assert differences[-1] < 0.1 * fpdiff_error
    slope = np.polyfit(np.log(step_counts), np.log(differences), 1)[0]
    assert slope <= -0.8, f"the difference should shrink like dt; slope {slope:.2f}"


def test_absorbing_grid_is_rejected():
    grid = fd.Grid([(-5.0, 5.0)], [20], boundary="absorbing")
    with pytest.raises(InputError, match="no-flux"):
        solve_forward_fipy(OU, grid, MIXTURE_1D, 1.0, steps=5)
