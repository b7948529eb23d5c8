"""Uniform Cartesian grids of cells for the finite-volume (density) view."""

import math

import numpy as np

from ._validation import as_finite_array, as_int, check_choice
from .errors import InputError

BOUNDARIES = ("no-flux", "absorbing")
#: largest negative mass of a density (relative to its mass) taken as round-off: solvers raise beyond it, metrics
#: set such values to zero
NEGATIVE_TOLERANCE = 1e-10
#: share of a law (missing from the start, outside the box at the end, or lost through an absorbing boundary)
#: above which the density solvers warn that the box does not hold it (:class:`~fpdiff.errors.MassWarning`), and
#: beyond which a density's mass is not 1 for a transport distance
BOX_MASS_LIMIT = 1e-3


def format_box(grid):
    """The grid's box as text: ``[lo, hi], ...``."""
    return ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in grid.bounds)


class Grid:
    """A uniform Cartesian grid of cells in 1 to 3 dimensions.

    Parameters
    ----------
    bounds : sequence of (lo, hi)
        The domain ``[lo_0, hi_0] x ... x [lo_{d-1}, hi_{d-1}]``.
    cells : int or sequence of int
        Number of cells along each axis (an int is used for every axis).
    boundary : {"no-flux", "absorbing"} or sequence of them
        Boundary condition on the domain's faces, one for all axes or one per
        axis. ``"no-flux"`` (zero total flux: mass is conserved) is the
        default; ``"absorbing"`` sets the density to zero on the boundary, so
        mass leaves through it.

    Notes
    -----
    Values on a grid are *cell averages*: ``values[i, j]`` approximates
    ``(1/|C_ij|) int_{C_ij} p dx``. Arrays are indexed like ``numpy.meshgrid``
    with ``indexing="ij"`` (axis k of the array is coordinate k).
    """

    def __init__(self, bounds, cells, boundary="no-flux"):
        bounds = as_finite_array(bounds, "bounds")
        if bounds.ndim != 2 or bounds.shape[1] != 2 or not 1 <= bounds.shape[0] <= 3:
            raise InputError(f"`bounds` must be a list of 1 to 3 (lo, hi) pairs; got shape {bounds.shape}")
        if np.any(bounds[:, 1] <= bounds[:, 0]):
            raise InputError(f"`bounds` must satisfy lo < hi on every axis; got {bounds.tolist()}")
        ndim = bounds.shape[0]
        if np.ndim(cells) == 0:
            cells = [cells] * ndim
        if len(cells) != ndim:
            raise InputError(f"`cells` must give one count per axis ({ndim}); got {list(cells)}")
        cells = tuple(as_int(n, "cells", minimum=2) for n in cells)
        if isinstance(boundary, str):
            boundary = (boundary,) * ndim
        boundary = tuple(boundary)
        if len(boundary) != ndim:
            raise InputError(f"`boundary` must be one value or one per axis ({ndim}); got {boundary}")
        for b in boundary:
            check_choice(b, "boundary", BOUNDARIES)

        with np.errstate(over="ignore"):
            widths = bounds[:, 1] - bounds[:, 0]
        spacing = widths / np.array(cells)
        # the cells must be resolvable in floating point: finite widths, and a spacing well above the rounding
        # unit of the coordinates (else neighbouring edges and centres coincide)
        resolution = 1e3 * np.finfo(float).eps * np.max(np.abs(bounds), axis=1)
        with np.errstate(over="ignore", under="ignore"):
            volume = float(np.prod(spacing))
        if np.any(~np.isfinite(widths) | (spacing <= resolution)) or not np.finfo(float).tiny < volume < np.inf:
            raise InputError(f"`bounds` {bounds.tolist()} with `cells` {list(cells)} do not give usable cells: each "
                             "axis needs a finite width hi - lo and a cell width above 1e3 rounding units of its "
                             "coordinates, and the cell volume must be a normal float; choose a box around the "
                             "data's scale")
        self.bounds = tuple((float(lo), float(hi)) for lo, hi in bounds)
        self.shape = cells
        self.boundary = boundary
        self.ndim = ndim
        self.spacing = tuple((hi - lo) / n for (lo, hi), n in zip(self.bounds, cells))
        self.edges = tuple(np.linspace(lo, hi, n + 1) for (lo, hi), n in zip(self.bounds, cells))
        self.centers = tuple(0.5 * (e[1:] + e[:-1]) for e in self.edges)
        self.cell_volume = volume
        self._face_coordinates = {}

    @property
    def size(self):
        """Total number of cells."""
        return math.prod(self.shape)

    def __repr__(self):
        return f"Grid(bounds={list(self.bounds)}, cells={list(self.shape)}, boundary={list(self.boundary)})"

    def __eq__(self, other):
        return (
            isinstance(other, Grid)
            and self.bounds == other.bounds
            and self.shape == other.shape
            and self.boundary == other.boundary
        )

    def __hash__(self):
        return hash((self.bounds, self.shape, self.boundary))

    def scaled(self, factor):
        """The grid with every coordinate multiplied by ``factor > 0`` (same cells and boundaries)."""
        return Grid([(lo * factor, hi * factor) for lo, hi in self.bounds], self.shape, self.boundary)

    def points(self):
        """Cell centres as an ``(size, ndim)`` array, in C order of the grid."""
        mesh = np.meshgrid(*self.centers, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=-1)

    def face_points(self, axis):
        """Centres of the faces normal to ``axis`` (boundary faces included).

        Returns an array of shape ``shape`` with ``shape[axis]`` replaced by
        ``shape[axis] + 1``, followed by a last axis of length ``ndim``.
        """
        coords = list(self.centers)
        coords[axis] = self.edges[axis]
        mesh = np.meshgrid(*coords, indexing="ij")
        return np.stack(mesh, axis=-1)

    def face_coordinate(self, axis):
        """Coordinate ``x_axis`` on the faces normal to ``axis``, as a full C-contiguous array.

        Shape ``grid.shape`` with ``shape[axis] + 1``; computed once per axis
        (linear drifts are this array times a rate).
        """
        if axis not in self._face_coordinates:
            shape = list(self.shape)
            shape[axis] += 1
            view = [1] * self.ndim
            view[axis] = -1
            coordinate = np.ascontiguousarray(np.broadcast_to(self.edges[axis].reshape(view), shape))
            coordinate.flags.writeable = False
            self._face_coordinates[axis] = coordinate
        return self._face_coordinates[axis]

    def integrate(self, values):
        """Integral of cell values over the domain: ``sum(values) * cell_volume``.

        ``values`` has shape ``(..., *shape)``; leading axes (e.g. time) are kept.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.shape[values.ndim - self.ndim :] != self.shape:
            raise InputError(f"`values` must end with the grid shape {self.shape}; got {values.shape}")
        axes = tuple(range(values.ndim - self.ndim, values.ndim))
        return np.sum(values, axis=axes) * self.cell_volume

    def cell_average(self, dist, quadrature_points=4):
        """Cell averages ``(1/|C|) int_C p dx`` of a distribution on this grid.

        ``dist`` is an fpdiff distribution (which computes its averages
        exactly where it can, e.g. erf products for diagonal Gaussians) or a
        callable ``pdf(x) -> (M,)`` for ``x`` of shape ``(M, ndim)``, which is
        averaged by tensor Gauss–Legendre quadrature with
        ``quadrature_points`` nodes per axis and cell (error O(h^(2q))).
        """
        if hasattr(dist, "cell_average"):
            return dist.cell_average(self)
        if not callable(dist):
            raise InputError(f"`dist` must be a distribution or a callable pdf; got {type(dist).__name__}")
        return self.quadrature_average(dist, quadrature_points)

    def quadrature_average(self, pdf, quadrature_points=4):
        """Cell averages of ``pdf`` by Gauss–Legendre quadrature in every cell."""
        nodes, weights = np.polynomial.legendre.leggauss(quadrature_points)
        nodes, weights = 0.5 * nodes, 0.5 * weights  # on [-1/2, 1/2], summing to 1
        total = np.zeros(self.shape)
        for offset in np.ndindex(*(quadrature_points,) * self.ndim):
            coords = [c + h * nodes[o] for c, h, o in zip(self.centers, self.spacing, offset)]
            mesh = np.meshgrid(*coords, indexing="ij")
            points = np.stack([m.ravel() for m in mesh], axis=-1)
            weight = np.prod([weights[o] for o in offset])
            total += weight * np.asarray(pdf(points), dtype=np.float64).reshape(self.shape)
        return total

    def check_values(self, values, name):
        """Validate a density on this grid: shape, finite, non-negative."""
        return as_finite_array(values, name, shape=self.shape, nonnegative=True)
