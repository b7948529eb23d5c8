import numpy as np
import pytest

import fpdiff as fd


def test_geometry_2d():
    grid = fd.Grid([(-1, 3), (0, 1)], [4, 5])
    assert grid.ndim == 2 and grid.shape == (4, 5) and grid.size == 20
    assert grid.spacing == (1.0, 0.2)
    assert grid.cell_volume == pytest.approx(0.2)
    np.testing.assert_allclose(grid.centers[0], [-0.5, 0.5, 1.5, 2.5])
    np.testing.assert_allclose(grid.edges[1], np.linspace(0, 1, 6))
    points = grid.points()
    assert points.shape == (20, 2)
    np.testing.assert_allclose(points[6], [0.5, 0.3])  # C order: index (1, 1)
    faces = grid.face_points(0)
    assert faces.shape == (5, 5, 2)
    np.testing.assert_allclose(faces[2, 3], [1.0, 0.7])
    assert grid.boundary == ("no-flux", "no-flux")


def test_integrate_keeps_leading_axes():
    grid = fd.Grid([(0, 2), (0, 1), (0, 1)], [4, 2, 3])
    values = np.ones((5, 4, 2, 3))
    np.testing.assert_allclose(grid.integrate(values), np.full(5, 2.0))
    with pytest.raises(fd.InputError, match="grid shape"):
        grid.integrate(np.ones((4, 2)))


def test_quadrature_average_is_exact_for_polynomials():
    grid = fd.Grid([(0, 1), (-1, 1)], [3, 4])
    averages = grid.cell_average(lambda x: x[:, 0] ** 5 * x[:, 1] ** 2)
    edges_x, edges_y = grid.edges
    expected = np.outer(np.diff(edges_x**6) / 6 / grid.spacing[0], np.diff(edges_y**3) / 3 / grid.spacing[1])
    np.testing.assert_allclose(averages, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bounds": [(1, 0)]}, "lo < hi"),
        ({"bounds": [(0, 1)] * 4, "cells": 3}, "1 to 3"),
        ({"bounds": [(0, np.inf)]}, "`bounds` must be finite"),
        ({"cells": [10, 10]}, "one count per axis"),
        ({"cells": 1}, "`cells` must be >= 2"),
        ({"cells": 10.0}, "`cells` must be an integer"),
        ({"boundary": "periodic"}, "`boundary` must be one of"),
    ],
)
def test_bad_grids(kwargs, match):
    arguments = {"bounds": [(0, 1)], "cells": 10}
    arguments.update(kwargs)
    with pytest.raises(fd.InputError, match=match):
        fd.Grid(**arguments)


def test_equality_and_absorbing_per_axis():
    a = fd.Grid([(0, 1), (0, 2)], 8, boundary=["absorbing", "no-flux"])
    assert a == fd.Grid([(0, 1), (0, 2)], [8, 8], boundary=("absorbing", "no-flux"))
    assert a != fd.Grid([(0, 1), (0, 2)], 8)
    assert hash(a) == hash(fd.Grid([(0, 1), (0, 2)], 8, boundary=["absorbing", "no-flux"]))


@pytest.mark.parametrize("bounds, cells", [
    ([(-1e308, 1e308)], 10),        # the width overflows to inf
    ([(1e16, 1e16 + 4)], 10),       # cells narrower than the rounding of their coordinates
    ([(-1e300, 1e300)] * 2, 10),    # the cell volume overflows
    ([(0.0, 1e-200)] * 2, 10),      # the cell volume underflows
])
def test_grids_whose_cells_are_not_representable_are_refused(bounds, cells):
    with pytest.raises(fd.InputError, match="do not give usable cells"):
        fd.Grid(bounds, cells)
