"""Labelled results: solutions as xarray objects, and HDF5 arrays with named dimensions.

Two views of one idea, coordinates that travel with the numbers:

- :func:`density_to_xarray` and :func:`particles_to_xarray` (reached as
  :meth:`DensitySolution.to_xarray <fpdiff.DensitySolution.to_xarray>` and
  :meth:`ParticleSolution.to_xarray <fpdiff.ParticleSolution.to_xarray>`)
  return an :class:`xarray.DataArray` with the time ``t``, the cell centres
  ``x_0, x_1, ...`` (or the particle index and the axis) as coordinates and
  the run's parameters as attributes. xarray is optional: it is imported only
  here, when a conversion is asked for.
- :class:`Dimensions` labels the arrays of an HDF5 file the way netCDF-4 does,
  so that ``xarray.open_dataset(path, engine="h5netcdf", group=...)`` (and
  ``xarray.open_datatree``) open them with their coordinates. A coordinate
  is an HDF5 dimension scale; an array names its dimensions by their
  netCDF-4 ids (the attribute ``_Netcdf4Coordinates``), not by HDF5's
  ``DIMENSION_LIST``, whose variable-length references would put a global
  heap into fpdiff's files (see :mod:`fpdiff._hdf5`: they hold none).

fpdiff's quantities carry no physical units: time is the process's time and
positions are in the data's units. The coordinates say so in ``long_name``
and ``units`` is set only where a unit exists (none here but the wall time,
in seconds, among the attributes).
"""

import json

import numpy as np

from .errors import InputError

#: the attribute netCDF-4 gives an array: the ids of its dimensions, in order
COORDINATES_ATTRIBUTE = "_Netcdf4Coordinates"
#: the attribute netCDF-4 gives a dimension scale: its id, unique in the file
DIMENSION_ID_ATTRIBUTE = "_Netcdf4Dimid"


def _xarray():
    """The xarray module, or an InputError that says how to install it."""
    try:
        import xarray
    except ImportError:
        raise InputError("labelled results need xarray, an optional dependency: pip install xarray "
                         "(or pip install 'fpdiff[xarray]')") from None
    return xarray


def attribute_value(value):
    """``value`` as a netCDF attribute: numbers and text as they are, anything else (dicts, lists, None) as JSON.

    Parameters
    ----------
    value : object
        A run parameter (an entry of a solution's ``diagnostics``).

    Returns
    -------
    int, float, str or ndarray
        What netCDF and HDF5 attributes can hold.
    """
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.ndim == 1:
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _attributes(diagnostics):
    return {key: attribute_value(value) for key, value in diagnostics.items()}


def _time_coordinate(t):
    return ("t", np.asarray(t), {"long_name": "forward time of the process",
                                 "description": "snapshots in the order they were computed (descending for a "
                                                "reverse run)"})


def density_to_xarray(solution):
    r"""A density solution as an :class:`xarray.DataArray` with dimensions ``(t, x_0, ..., x_{d-1})``.

    The values are the cell averages of :math:`p(x, t)`; ``x_i`` are the cell
    centres of axis ``i``. A co-moving solution (``solve_reverse(...,
    comoving=...)``, whose snapshot at ``t`` lives on the grid ``c(t) z``) has
    dimensions ``(t, z_0, ...)`` with the reference grid's centres ``z_i`` and
    the two-dimensional coordinates ``x_i(t, z_i) = c(t) z_i``. The grid's
    bounds, cells and boundary condition and the solver's ``diagnostics`` are
    attributes (dicts as JSON text).

    Parameters
    ----------
    solution : DensitySolution
        A density solution (also a co-moving one).

    Returns
    -------
    xarray.DataArray
        Named ``density``, with coordinates ``t`` and ``x_i`` (and ``z_i``).

    Raises
    ------
    InputError
        xarray is not installed.
    """
    xarray = _xarray()
    grid = solution.grid
    scales = getattr(solution, "scales", None)
    moving = scales is not None
    names = [f"{'z' if moving else 'x'}_{axis}" for axis in range(grid.ndim)]
    coordinates = {"t": _time_coordinate(solution.t)}
    for axis, (name, centers) in enumerate(zip(names, grid.centers)):
        coordinates[name] = (name, centers, {"long_name": f"cell centre, axis {axis}"
                                             + (" (reference grid: x = c(t) z)" if moving else "")})
        if moving:
            coordinates[f"x_{axis}"] = (("t", name), np.outer(scales, centers),
                                        {"long_name": f"cell centre in x, axis {axis}"})
    attributes = {"long_name": "density p(x, t) (cell averages)", "grid_bounds": json.dumps(grid.bounds),
                  "grid_cells": json.dumps(list(grid.shape)), "grid_boundary": json.dumps(list(grid.boundary)),
                  **_attributes(solution.diagnostics)}
    if "wall_time" in solution.diagnostics:
        attributes["wall_time_units"] = "s"
    return xarray.DataArray(solution.values, dims=("t", *names), coords=coordinates, name="density",
                            attrs=attributes)


def particles_to_xarray(solution):
    """A particle solution as an :class:`xarray.DataArray` with dimensions ``(t, particle, axis)``.

    ``particle`` is the particle's index (a path depends only on the seed and
    this index), ``axis`` the coordinate ``0 .. d-1``; the sampler's
    ``diagnostics`` (scheme, steps, seed, ...) are attributes.

    Parameters
    ----------
    solution : ParticleSolution
        A particle solution.

    Returns
    -------
    xarray.DataArray
        Named ``samples``, shape ``(n_t, M, d)``.

    Raises
    ------
    InputError
        xarray is not installed.
    """
    xarray = _xarray()
    n_t, particles, dim = solution.snapshots.shape
    coordinates = {"t": _time_coordinate(solution.t),
                   "particle": ("particle", np.arange(particles), {"long_name": "particle index"}),
                   "axis": ("axis", np.arange(dim), {"long_name": "coordinate axis"})}
    attributes = {"long_name": "particle positions", **_attributes(solution.diagnostics)}
    if "wall_time" in solution.diagnostics:
        attributes["wall_time_units"] = "s"
    return xarray.DataArray(solution.snapshots, dims=("t", "particle", "axis"), coords=coordinates,
                            name="samples", attrs=attributes)


class Dimensions:
    """Named dimensions for the arrays of one HDF5 file, as netCDF-4 (and so xarray with h5netcdf) reads them.

    A coordinate (a 1-D dataset written by the caller) becomes a dimension
    scale of its own name with a file-wide id (:meth:`coordinate`); an array
    then names its dimensions (:meth:`label`), which must be coordinates of
    its own group or of a group above it. Only fixed-size attributes are
    written: no global heap.

    Examples
    --------
    >>> dims = Dimensions()                                      # doctest: +SKIP
    >>> dims.coordinate(group["x_0"]); dims.label(group["density"], ["x_0"])  # doctest: +SKIP
    """

    def __init__(self):
        self._ids = {}

    def coordinate(self, dataset):
        """Make the 1-D ``dataset`` the dimension scale (coordinate) named by its name.

        Parameters
        ----------
        dataset : h5py.Dataset
            A 1-D dataset; its name (the last part of its path) becomes the
            dimension's name.

        Returns
        -------
        int
            The dimension's netCDF-4 id.
        """
        if dataset.ndim != 1:
            raise InputError(f"a coordinate must be a 1-D dataset; {dataset.name!r} has shape {dataset.shape}")
        name = dataset.name.rsplit("/", 1)[-1]
        dataset.make_scale(name)
        dimension_id = len(self._ids)
        dataset.attrs[DIMENSION_ID_ATTRIBUTE] = np.int32(dimension_id)
        self._ids[dataset.name] = dimension_id
        return dimension_id

    def label(self, dataset, names):
        """Give ``dataset`` the dimensions ``names`` (coordinates of its group or a group above it).

        Parameters
        ----------
        dataset : h5py.Dataset
            The array to label.
        names : sequence of str
            One coordinate name per axis of ``dataset``.

        Returns
        -------
        tuple of int
            The dimensions' ids.
        """
        if len(names) != dataset.ndim:
            raise InputError(f"`names` must name the {dataset.ndim} dimension(s) of {dataset.name!r}; got {names}")
        ids = []
        for name in names:
            group = dataset.parent.name.rstrip("/")
            while f"{group}/{name}" not in self._ids:
                if not group:
                    raise InputError(f"no coordinate {name!r} in the group of {dataset.name!r} or above it")
                group = group.rsplit("/", 1)[0]
            ids.append(self._ids[f"{group}/{name}"])
        # netCDF-4 reads these ids on a dataset marked as a dimension scale (how it stores multidimensional
        # coordinate variables), the one way to name dimensions without DIMENSION_LIST's global heap
        dataset.attrs["CLASS"] = np.bytes_("DIMENSION_SCALE")
        dataset.attrs["NAME"] = np.bytes_(dataset.name.rsplit("/", 1)[-1])
        dataset.attrs[COORDINATES_ATTRIBUTE] = np.array(ids, dtype=np.int32)
        return tuple(ids)
