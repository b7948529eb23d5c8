"""Writing score files (``docs/score-format.md``): :func:`save_score`, atomically, with checksums."""

import json

import h5py
import numpy as np

from .._hdf5 import LIBVER, atomic_path, fixed_string
from ..errors import InputError
from ..processes.base import describe_process
from .field import PARAMETRIZATIONS, check_field

FORMAT = "fpdiff.score-field"

#: version 2: any process of :data:`fpdiff.processes.PROCESSES`, array parameters (a :class:`~fpdiff.Discrete`
#: table) as datasets of the group :data:`PROCESS_GROUP`; version 1 (OU, VP, VE, Brownian in JSON) still reads
VERSION = 2
#: the group holding a process's array parameters, one dataset ``process/<name>`` each (version >= 2)
PROCESS_GROUP = "process"


def save_score(path, process, t, values, *, axes=None, points=None, parametrization="score", meta=None):
    """Write a score field to the HDF5 file ``path`` (atomically; an existing file is replaced).

    Every array is stored in its own precision when it is float32 or float64
    (other dtypes are stored as float64), so :func:`load_score` returns it bit
    for bit.

    Parameters
    ----------
    path : str or os.PathLike
    process : LinearProcess
        The forward process, one of :data:`fpdiff.processes.PROCESSES`:
        stored as JSON in the attribute ``process``, with an array parameter
        (:class:`~fpdiff.Discrete`'s ``alphas_cumprod``) as the dataset
        ``process/<name>``. A :class:`~fpdiff.processes.LinearProcess`
        subclass of your own raises :class:`InputError` (:func:`load_score`
        could not rebuild it).
    t : array_like, shape (n_t,)
        Strictly increasing times > 0, at most ``process.t_max`` (1 for
        Cosine and the discrete tables).
    values : array_like
        Grid layout: shape (n_t, n_0, ..., n_{d-1}, d); point layout: (n_t, M, d).
    axes : sequence of d array_like, optional
        Node coordinates of the grid layout (strictly increasing).
    points : array_like, shape (n_t, M, d), optional
        Evaluation points of the point layout (exactly one of ``axes``, ``points``).
    parametrization : {"score", "eps", "x0", "v"}
        What ``values`` hold (see ``fpdiff.scores.tabulated``).
    meta : dict, optional
        Free-form information, stored in the group ``meta``: string keys
        (without ``/``) mapping to nested dicts, ``None``, ``str``, ``bool``,
        ``int``, ``float``, ``complex``, numpy scalars, or arrays (and lists)
        of numbers or strings.

    Returns
    -------
    None
    """
    scalars, arrays = describe_process(process)
    if parametrization not in PARAMETRIZATIONS:
        raise InputError(f"`parametrization` must be one of {PARAMETRIZATIONS}; got {parametrization!r}")
    t, values, axes, points = check_field(t, values, axes=axes, points=points)
    if float(t[-1]) > process.t_max:  # a file load_score would refuse
        raise InputError(f"`t` reaches {float(t[-1])!r}, beyond {process!r}, which is defined for t in "
                         f"[0, {process.t_max:g}]")
    if meta is not None and not isinstance(meta, dict):
        raise InputError(f"`meta` must be a dict; got {type(meta).__name__}")
    meta = _prepare_meta(meta or {}, "meta")
    with atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        file.attrs["format"] = fixed_string(FORMAT)
        file.attrs["version"] = np.int64(VERSION)
        file.attrs["process"] = fixed_string(json.dumps(scalars))
        file.attrs["parametrization"] = fixed_string(parametrization)
        if arrays:
            group = file.create_group(PROCESS_GROUP)
            for key, array in arrays.items():
                _create_dataset(group, key, array)
        _create_dataset(file, "t", _stored(t))
        if axes is not None:
            group = file.create_group("axes")
            for i, axis in enumerate(axes):
                _create_dataset(group, str(i), _stored(axis))
        else:
            _create_dataset(file, "points", _stored(points))
        _create_dataset(file, "values", _stored(values))
        _write_meta(file.create_group("meta"), meta)


def _create_dataset(group, name, array):
    """``group[name] = array`` with a Fletcher-32 checksum (chunked); a scalar cannot be chunked and has none."""
    options = {} if array.ndim == 0 else {"fletcher32": True}
    return group.create_dataset(name, data=array, **options)


def _stored(array):
    """``array`` itself when float32 or float64 (either byte order), else as float64."""
    return array if array.dtype.kind == "f" and array.dtype.itemsize in (4, 8) else array.astype(np.float64)


def _prepare_meta(meta, where):
    """Check ``meta`` before a file is opened: ``{key: ("group", dict) | ("attribute", value) | ("dataset", array)}``."""
    prepared = {}
    for key, value in meta.items():
        if not isinstance(key, str) or key in ("", ".") or "/" in key:
            raise InputError(f"`{where}` keys must be non-empty strings without '/'; got {key!r}")
        name = f"{where}/{key}"
        if isinstance(value, dict):
            prepared[key] = ("group", _prepare_meta(value, name))
        elif value is None:
            prepared[key] = ("attribute", h5py.Empty("f8"))
        elif isinstance(value, str):
            prepared[key] = ("attribute", fixed_string(value))
        elif isinstance(value, (bool, int, float, complex, np.number, np.bool_)):
            scalar = np.asarray(value)
            if scalar.dtype.kind not in "biufc":
                raise InputError(f"`{name}` = {value!r} cannot be stored (an int beyond 64 bits?)")
            prepared[key] = ("attribute", scalar[()])
        else:
            try:
                array = np.asarray(value)
            except (ValueError, TypeError) as error:
                raise InputError(f"`{name}` cannot be stored as an array: {error}") from None
            if array.dtype.kind == "U":
                array = np.char.encode(array, "utf-8")
            if array.dtype.kind not in "biufcS":
                raise InputError(f"`{name}` must be a dict, None, a string, a number, or an array of numbers or "
                                 f"strings; got {type(value).__name__} (dtype {array.dtype})")
            prepared[key] = ("dataset", array)
    return prepared


def _write_meta(group, prepared):
    for key, (kind, value) in prepared.items():
        if kind == "group":
            _write_meta(group.create_group(key), value)
        elif kind == "attribute":
            group.attrs[key] = value
        else:
            _create_dataset(group, key, value)
