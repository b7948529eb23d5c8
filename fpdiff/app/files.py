"""Results and checkpoint files of ``fpdiff run``: writing them with checksums, reading them with checks.

Results and checkpoint files hold fixed-length strings only (no global
heap, whose damage can make libhdf5 loop), are in HDF5's 1.10 format
(:data:`~fpdiff._hdf5.LIBVER`: checksums on the file's structure) with a
Fletcher-32 checksum on every dataset; reading a damaged file is a
:class:`~fpdiff.errors.FormatError`. Files of fpdiff 0.1 (variable-length
strings, no checksums) still read. The layout is described in
``docs/experiments.md``.
"""

import contextlib
import json
import os

import h5py
import numpy as np

from ..errors import FormatError, FpdiffError, InputError
from .._hdf5 import DAMAGE, LIBVER, atomic_path, check_storage, fixed_string, shorten
from ..processes.base import describe_process, process_from_dict
from ..scores._write import PROCESS_GROUP
from .folder import writing
from ..labelled import Dimensions

RESULTS_FORMAT = "fpdiff.results"


RESULTS_VERSION = 1


COLUMNS = ("gamma", "l1", "kl", "w1", "tv", "tv_floor", "density_seconds", "particle_seconds")


#: what reading a damaged file can raise, besides the errors of :mod:`fpdiff.scores.io`
_READ_DAMAGE = DAMAGE + (MemoryError, ArithmeticError, RecursionError)


#: deepest group nesting in a results or checkpoint file (fpdiff writes at most 5 levels)
MAX_DEPTH = 8


def write_checkpoint(path, fingerprint, arrays, attributes):
    with writing(path), atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        write_attributes(file, {"fingerprint": fingerprint, **attributes})
        for key, value in arrays.items():
            write_array(file, key, value)


def write_attributes(item, attributes):
    """Attributes of a group or file: text as fixed-length UTF-8 strings (h5py writes ``str`` variable-length)."""
    for key, value in attributes.items():
        item.attrs[key] = fixed_string(value) if isinstance(value, str) else value


def write_array(group, name, value):
    """A dataset with a Fletcher-32 checksum; text as fixed-length UTF-8 strings.

    A scalar dataset cannot have a filter: a scalar is stored as a
    one-element array with the attribute ``scalar`` (what
    :func:`_read_arrays` turns back into a scalar).
    """
    value = np.asarray(value)
    if value.dtype.kind == "U":
        value = np.char.encode(value, "utf-8")
    if value.ndim == 0:
        group.create_dataset(name, data=value.reshape(1), fletcher32=True).attrs["scalar"] = np.int8(1)
    else:
        group.create_dataset(name, data=value, fletcher32=True)


def process_arrays(process, prefix=""):
    """The datasets that record ``process`` in a results file, under ``{prefix}process/``.

    ``description`` is the JSON of its kind and scalar parameters, and each
    array parameter (a :class:`~fpdiff.Discrete` table) is a dataset of its
    own, as in a score file (:func:`fpdiff.processes.describe_process`).
    """
    scalars, arrays = describe_process(process)
    return {f"{prefix}{PROCESS_GROUP}/description": json.dumps(scalars),
            **{f"{prefix}{PROCESS_GROUP}/{key}": array for key, array in arrays.items()}}


def _read_process(path, prefix, arrays):
    """The process recorded under ``{prefix}process/`` (:func:`process_arrays`), or None in files without it."""
    group = f"{prefix}{PROCESS_GROUP}/"
    if f"{group}description" not in arrays:
        return None  # written before fpdiff recorded the process (the configuration names it)
    try:
        description = json.loads(_text(arrays[f"{group}description"], path, f"dataset '{group}description'"))
        tables = {key[len(group):]: value for key, value in arrays.items()
                  if key.startswith(group) and key != f"{group}description"}
        return process_from_dict({**description, **tables})
    except (ValueError, TypeError, AttributeError, RecursionError, OverflowError) as error:
        raise FormatError(f"{path!r}, group '{group[:-1]}': not the record of an fpdiff process "
                          f"({shorten(error)})") from None


def _open(path, what, advice=""):
    """``path`` opened for reading: FormatError if it is not a readable HDF5 file."""
    try:
        return h5py.File(path, "r")
    except _READ_DAMAGE as error:
        raise FormatError(f"{what} {path!r} is not a readable HDF5 file (not HDF5, truncated or corrupt: "
                          f"{shorten(error)}){advice}") from None


@contextlib.contextmanager
def reading(path, what, advice=""):
    """Turn damage met while reading ``path`` (checksum mismatch, bad header, ...) into a FormatError."""
    try:
        yield
    except FpdiffError:
        raise
    except _READ_DAMAGE as error:
        raise FormatError(f"{what} {path!r} is corrupt ({type(error).__name__}: {shorten(error)}){advice}") \
            from None


def _text(value, path, where):
    """An attribute or dataset element as text (fixed-length bytes, or ``str`` in files of fpdiff <= 0.1)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise FormatError(f"{path!r}, {where}: text expected; got {shorten(repr(value))}")


def _attributes(item, path):
    """The attributes of a group or file, text decoded."""
    return {key: _text(value, path, f"attribute {key!r}") if isinstance(value, (bytes, np.bytes_, str)) else value
            for key, value in ((key, item.attrs[key]) for key in item.attrs)}


def _read_arrays(group, path, prefix="", depth=0):
    """Every dataset below ``group`` as ``{relative path: array}``, each header checked before its data are read."""
    if depth > MAX_DEPTH:
        raise FormatError(f"{path!r}: groups nested deeper than {MAX_DEPTH} levels; fpdiff writes at most 5")

    def fail(where, text):
        raise FormatError(f"{path!r}, {where}: {text}")

    arrays = {}
    for key in group:
        name = prefix + key
        if not isinstance(group.get(key, getlink=True), h5py.HardLink):
            fail(f"{name!r}", "is a link: fpdiff writes no links")
        item = group[key]
        if isinstance(item, h5py.Group):
            arrays.update(_read_arrays(item, path, name + "/", depth + 1))
        elif isinstance(item, h5py.Dataset):
            if item.shape is None:
                fail(f"dataset {name!r}", "has no dataspace; an array is expected")
            check_storage(item, f"dataset {name!r}", fail)
            value = item[()]
            arrays[name] = value[0] if "scalar" in item.attrs and value.shape == (1,) else value
        else:
            fail(f"{name!r}", f"unexpected object ({type(item).__name__})")
    return arrays


def read_checkpoint(path, fingerprint):
    """A checkpoint's ``(arrays, attributes)``, checked: written for ``fingerprint``, readable, checksums intact.

    ``arrays`` maps dataset paths (``density``, ``gamma/0/samples``, ...) to
    arrays.

    Raises
    ------
    InputError
        The checkpoint was written by a different experiment (or is not an
        fpdiff checkpoint).
    FormatError
        It is corrupt; the message names it and says what to do.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path)
    advice = (": delete it (then --resume runs its task again), or delete fpdiff's checkpoints in "
              f"{folder!r} and run without --resume to start again")
    with reading(path, "checkpoint", advice):
        if not os.path.isfile(path):
            raise FormatError(f"checkpoint {path!r} is not a regular file{advice}")
        with _open(path, "checkpoint", advice) as file:
            attributes = _attributes(file, path)
            theirs = attributes.get("fingerprint")
            if theirs != fingerprint:
                raise InputError(f"checkpoint {path!r} belongs to a different experiment (fingerprint {theirs!r}; "
                                 f"this experiment's is {fingerprint!r}: its configuration changed, or another "
                                 f"experiment wrote into this folder): delete fpdiff's checkpoints in {folder!r} "
                                 "(density-*.h5, particles-*.h5, point-*.h5) to start again, or choose another "
                                 "output folder (--out)")
            arrays = _read_arrays(file, path)
    return arrays, attributes


def read_results(path):
    """The results file as ``(config, rows, arrays)``: the experiment, metric rows per gamma, and the arrays.

    For a sweep's results (``is_sweep_results``) each row also has ``point``
    and the point's coordinates, and ``arrays`` holds ``axes`` (the swept
    keys), ``errors`` (per point, ``""`` if it ran) and ``points`` (per point
    the arrays of a single run: ``edges``, ``exact``, ``gamma``; None for a
    failed point).

    ``arrays`` also holds ``process``, the forward process the run used
    (per point in a sweep; None in files written before it was recorded).

    Reads the files of every fpdiff version (those of fpdiff 0.1 have
    variable-length strings and no checksums).

    Raises
    ------
    InputError
        ``path`` is not a file.
    FormatError
        It is not an fpdiff results file, or it is damaged: a checksum
        mismatch, a missing or misshapen dataset, unreadable text.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path!r} is not a file")
    with reading(path, "results file"):  # also the checks below: a damaged value is a FormatError
        with _open(path, "results file") as file:
            attributes = _results_attributes(file, path)
            arrays = _read_arrays(file, path)
            sweep_axes = (json.loads(_text(file["sweep"].attrs["axes"], path, "attribute 'sweep/axes'"))
                          if attributes.get("layout") == "sweep" else None)
        config = json.loads(attributes["experiment"])
        if not isinstance(config, dict) or not all(isinstance(section, dict) for section in config.values()):
            raise FormatError(f"{path!r}, attribute 'experiment': not the JSON of an experiment's tables")

        def need(key):
            if key not in arrays:
                raise FormatError(f"{path!r}: dataset {key!r} is missing")
            return arrays[key]

        if sweep_axes is not None:
            return (config, *_read_sweep(path, config, sweep_axes, arrays, need))
        columns = _table_columns(path, COLUMNS, need)
        rows = [{column: float(columns[column][i]) for column in COLUMNS} for i in range(len(columns["gamma"]))]
        return config, rows, _point_arrays(path, "", len(rows), arrays, need)


def _results_attributes(file, path):
    """The file's attributes after checking ``format`` and ``version``."""
    attributes = _attributes(file, path)
    if attributes.get("format") != RESULTS_FORMAT:
        raise FormatError(f"{path!r} is not an fpdiff results file (attribute 'format' = "
                          f"{shorten(repr(attributes.get('format')), 80)}; expected {RESULTS_FORMAT!r})")
    version = attributes.get("version")
    if np.ndim(version) != 0 or not np.issubdtype(np.asarray(version).dtype, np.integer) or version < 1:
        raise FormatError(f"{path!r}, attribute 'version': an integer >= 1 expected; got {shorten(repr(version))}")
    if version > RESULTS_VERSION:
        raise FormatError(f"{path!r} was written by a newer fpdiff (results version {int(version)}; this one reads "
                          f"<= {RESULTS_VERSION}): upgrade fpdiff")
    if "experiment" not in attributes or not isinstance(attributes["experiment"], str):
        raise FormatError(f"{path!r}: the attribute 'experiment' (the configuration as JSON) is missing")
    return attributes


def _table_columns(path, names, need):
    """The ``table/{name}`` datasets: 1-D, of one length."""
    columns = {name: need(f"table/{name}") for name in names}
    lengths = {np.shape(column) for column in columns.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise FormatError(f"{path!r}: the datasets 'table/...' must be 1-D arrays of one length; got shapes "
                          f"{shorten(sorted(lengths))}")
    return columns


def _point_arrays(path, prefix, count, arrays, need):
    """``edges``, ``exact`` and ``gamma`` (``count`` dicts) of a run's results under ``prefix``, shapes checked."""
    ndim = sum(1 for key in arrays if key.startswith(f"{prefix}grid/edges/"))
    edges = [need(f"{prefix}grid/edges/{axis}") for axis in range(ndim)]
    exact = need(f"{prefix}grid/exact")
    shape = tuple(len(e) - 1 for e in edges)
    if not edges or any(e.ndim != 1 or len(e) < 2 for e in edges) or exact.shape != shape:
        raise FormatError(f"{path!r}: '{prefix}grid' must hold edges per axis and 'exact' of their cells' shape; got "
                          f"{len(edges)} axes and 'exact' of shape {exact.shape}")
    gamma = []
    for i in range(count):
        results = {key: arrays[f"{prefix}gamma/{i}/{key}"] for key in ("density", "samples")
                   if f"{prefix}gamma/{i}/{key}" in arrays}
        if "density" in results and results["density"].shape != shape:
            raise FormatError(f"{path!r}: '{prefix}gamma/{i}/density' has shape {results['density'].shape}; the "
                              f"grid's is {shape}")
        if "samples" in results and (results["samples"].ndim != 2 or results["samples"].shape[1] != len(edges)):
            raise FormatError(f"{path!r}: '{prefix}gamma/{i}/samples' has shape {results['samples'].shape}; "
                              f"(M, {len(edges)}) expected")
        gamma.append(results)
    return {"edges": edges, "exact": exact, "gamma": gamma, "process": _read_process(path, prefix, arrays)}


def results_fingerprint(path):
    """The fingerprint of the experiment whose results ``path`` holds (FormatError if it is not a results file)."""
    path = os.fspath(path)
    with reading(path, "results file"), _open(path, "results file") as file:
        return _results_attributes(file, path).get("fingerprint")


SWEEP_COLUMNS = ("point",) + COLUMNS


def _read_sweep(path, config, axes, arrays, need):
    """``(rows, arrays)`` of a sweep's results (see :func:`read_results`) from the file's datasets."""
    if not isinstance(axes, list) or not all(isinstance(name, str) and name in config.get("sweep", {})
                                             for name in axes):
        raise FormatError(f"{path!r}, attribute 'sweep/axes': the swept keys of the experiment expected; got "
                          f"{shorten(repr(axes))}")
    errors = need("errors")
    if errors.ndim != 1 or errors.dtype.kind not in "OS":
        raise FormatError(f"{path!r}: dataset 'errors' must be a 1-D array of text; got {errors.dtype} "
                          f"{errors.shape}")
    errors = [_text(error, path, "dataset 'errors'") for error in errors]
    coordinates = {}
    for name in axes:
        values = need(f"sweep/{name}")
        if values.shape != (len(errors),):
            raise FormatError(f"{path!r}: dataset 'sweep/{name}' has shape {values.shape}; one value per point "
                              f"({len(errors)}) expected")
        if values.dtype.kind in "OS":
            values = [_text(v, path, f"dataset 'sweep/{name}'") for v in values]
            text_axis = not all(isinstance(v, str) for v in config["sweep"][name])
            values = [json.loads(v) if text_axis else v for v in values]
        else:
            values = values.tolist()
        coordinates[name] = values
    columns = _table_columns(path, SWEEP_COLUMNS, need)
    rows = []
    for i in range(len(columns["point"])):
        k = int(columns["point"][i])
        if not 0 <= k < len(errors) or errors[k]:
            raise FormatError(f"{path!r}: dataset 'table/point' names point {k}, which did not run or does not exist")
        rows.append({"point": k, **{name: coordinates[name][k] for name in axes},
                     **{column: float(columns[column][i]) for column in COLUMNS}})
    points = []
    for k in range(len(errors)):
        if errors[k]:
            points.append(None)
            continue
        prefix = f"point/{k}/"
        count = len({key.split("/")[3] for key in arrays if key.startswith(f"{prefix}gamma/")})
        points.append(_point_arrays(path, prefix, count, arrays, need))
    return rows, {"axes": axes, "coordinates": coordinates, "errors": errors, "points": points}


def is_sweep_results(path):
    """Whether ``path`` is the results file of a sweep (FormatError if it is not a readable results file)."""
    path = os.fspath(path)
    with reading(path, "results file"), _open(path, "results file") as file:
        return _results_attributes(file, path).get("layout") == "sweep"


def label_dimensions(file):
    """Name the dimensions of a results file's arrays, so xarray (engine ``h5netcdf``) opens them with coordinates.

    Adds the coordinates ``grid/x_i`` (cell centres) and, per ``gamma/i``
    group, ``x_i``, ``particle`` and ``axis``; the edges and ``table/gamma``
    (a sweep: ``table/point``, ``sweep/point``, ``errors``) are coordinates of
    their own (:class:`fpdiff.labelled.Dimensions`; no global heap).
    """
    dimensions = Dimensions()

    def coordinate(group, name, values=None):
        if values is not None:
            write_array(group, name, values)
        dimensions.coordinate(group[name])

    def label_columns(group, key):
        coordinate(group, key)
        for name in group:
            if name != key:
                dimensions.label(group[name], [key])

    sweep = "sweep" in file
    label_columns(file["table"], "point" if sweep else "gamma")
    if sweep:
        coordinate(file, "errors")  # one per point, at the root: its own coordinate
        write_array(file["sweep"], "point", np.arange(len(file["errors"])))
        label_columns(file["sweep"], "point")
    for run in [file[f"point/{k}"] for k in file.get("point", {})] if sweep else [file]:
        grid = run["grid"]
        centres = [0.5 * (grid[f"edges/{axis}"][1:] + grid[f"edges/{axis}"][:-1]) for axis in range(len(grid["edges"]))]
        names = [f"x_{axis}" for axis in range(len(centres))]
        for axis, values in enumerate(centres):
            coordinate(grid["edges"], str(axis))
            coordinate(grid, names[axis], values)
        dimensions.label(grid["exact"], names)
        for group in run.get("gamma", {}).values():
            if "density" in group:
                for name, values in zip(names, centres):
                    coordinate(group, name, values)
                dimensions.label(group["density"], names)
            if "samples" in group:
                coordinate(group, "particle", np.arange(group["samples"].shape[0]))
                coordinate(group, "axis", np.arange(group["samples"].shape[1]))
                dimensions.label(group["samples"], ["particle", "axis"])
