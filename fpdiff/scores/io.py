"""Reading score files (``docs/score-format.md``): :func:`load_score`, every byte checked; the format.

A score file holds a field at times ``t`` on a tensor grid (``axes/0`` ...
``axes/{d-1}`` and ``values`` (n_t, n_0, ..., n_{d-1}, d)) or at scattered
points (``points`` and ``values`` (n_t, M, d), for audits), with the file
attributes ``format``, ``version``, ``process`` (JSON) and ``parametrization``,
a process's table as the dataset ``process/alphas_cumprod`` (version 2), and
an optional group ``meta``. :func:`load_score` checks everything and
raises :class:`FormatError` naming the dataset and the problem; nothing in a
file is trusted before it is checked (the headers of all datasets -- dtype,
shape, size, storage -- are checked before any data are read).

Files are written atomically: to a temporary file in the same folder, flushed
to disk, then renamed over the target, so a crash never leaves a half-written
file or destroys the previous one. Text attributes are written as fixed-length
UTF-8 strings, so an fpdiff file has no global heap (the part of HDF5 that
holds variable-length strings, and on whose corruption libhdf5 can loop
forever). Files are in the HDF5 1.10 format (:data:`LIBVER`), whose metadata
carry checksums, and every non-scalar dataset carries a Fletcher-32
checksum, so damaged bytes are detected rather than read as other numbers.

What is read is bounded before it is read: the field's datasets together
(:data:`MAX_FIELD_BYTES`, and :data:`MAX_COMPRESSION` for compressed
data), and ``meta`` (:data:`MAX_META_DEPTH`, :data:`MAX_META_OBJECTS`,
:data:`MAX_META_BYTES`, each object once).
"""

import contextlib
import json
import math
import os

import h5py
import numpy as np

from .._hdf5 import DAMAGE, check_storage, decode_text, shorten
from .._validation import as_int, check_choice, format_bytes
from ..errors import FormatError, InputError
from ..processes.base import ARRAY_PARAMETERS, process_class, process_from_dict
from ..processes.schedules import Discrete
from ._write import FORMAT, PROCESS_GROUP, VERSION
from .field import OUTSIDE_POLICIES, PARAMETRIZATIONS, check_field, version_1_v_scale
from .tabulated import ScoreSamples, TabulatedScore

#: default of ``load_score(max_bytes=...)``: most bytes the datasets ``t``, ``axes/*``, ``points`` and ``values``
#: may declare together (a loaded score holds up to 3 times this: the values and their float64 conversion)
MAX_FIELD_BYTES = 2**30
#: deepest nesting of groups in ``meta``
MAX_META_DEPTH = 32
#: most groups, datasets and attributes read in ``meta``, each object at most once (links that reach a group
#: twice, at every level, would otherwise make the reading time double per level)
MAX_META_OBJECTS = 10_000
#: most bytes the datasets and attributes of ``meta`` may declare together
MAX_META_BYTES = 2**26


# ---------------------------------------------------------------- writing


# ---------------------------------------------------------------- reading


def load_score(path, outside="raise", max_bytes=MAX_FIELD_BYTES):
    """Read a score file: a :class:`TabulatedScore` (grid layout) or :class:`ScoreSamples` (point layout).

    Parameters
    ----------
    path : str or os.PathLike
    outside : {"raise", "clamp"}
        Policy of the :class:`TabulatedScore` outside its box.
    max_bytes : int
        Most bytes the datasets ``t``, ``axes/*``, ``points`` and ``values``
        may declare together (default ``MAX_FIELD_BYTES``, 1 GiB),
        checked before anything is read; raise it for a larger table you
        trust, memory permitting.

    Returns
    -------
    TabulatedScore or ScoreSamples
        As the file's layout says, with its process, parametrisation and ``meta``.

    Raises
    ------
    InputError
        ``path`` is not an existing regular file, or ``outside`` or
        ``max_bytes`` is invalid.
    FormatError
        For anything malformed: not HDF5, truncated or corrupt (a failed
        checksum included), a missing or misshapen dataset, non-monotone
        axes, NaN or inf, an unknown parametrisation or process, a newer
        version, an unsupported dtype, data never written or stored outside
        the file, more data than the limits (``docs/score-format.md``). The
        message names the file, the dataset or attribute, and the problem.
    """
    check_choice(outside, "outside", OUTSIDE_POLICIES)
    max_bytes = as_int(max_bytes, "max_bytes", minimum=1)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"`path` {path!r} is not a file")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise FormatError(f"{path!r} is not a readable HDF5 file (not HDF5, truncated or corrupt): {error}") from None
    try:
        with file:
            return _read_score(file, path, outside, max_bytes)
    except FormatError:
        raise
    except DAMAGE as error:
        # last resort: damage met outside the places that name what they read
        raise FormatError(f"{path!r}: corrupt score file ({type(error).__name__}: {shorten(error)})") from None


def _read_score(file, path, outside, max_bytes):
    def problem(where, text):
        return FormatError(f"{path!r}, {where}: {text}")

    def fail(where, text):
        raise problem(where, text)

    @contextlib.contextmanager
    def reading(where):
        """Turn damage met while reading ``where`` into a FormatError naming it."""
        try:
            yield
        except FormatError:
            raise
        except DAMAGE as error:
            raise problem(where, f"unreadable, the file is corrupt ({type(error).__name__}: "
                                 f"{shorten(error)})") from None

    attrs = {}
    for key in ("format", "version", "process", "parametrization"):
        with reading(f"attribute {key!r}"):
            if key not in file.attrs:
                fail(f"attribute {key!r}", "missing (is this an fpdiff score file?)")
            attrs[key] = file.attrs[key]
    if decode_text(attrs["format"]) != FORMAT:
        fail("attribute 'format'", f"expected {FORMAT!r}, got {shorten(decode_text(attrs['format']))!r}")
    version = attrs["version"]
    if np.ndim(version) != 0 or not np.issubdtype(np.asarray(version).dtype, np.integer):
        fail("attribute 'version'", f"must be an integer; got {shorten(repr(version))}")
    if int(version) > VERSION:
        fail("attribute 'version'", f"version {int(version)} was written by a newer fpdiff; this one reads "
                                    f"version <= {VERSION}: upgrade fpdiff")
    if int(version) < 1:
        fail("attribute 'version'", f"must be >= 1; got {int(version)}")
    parametrization = decode_text(attrs["parametrization"])
    if parametrization not in PARAMETRIZATIONS:
        fail("attribute 'parametrization'", f"must be one of {PARAMETRIZATIONS}; got {shorten(parametrization)!r}")
    description, table_sets, table_bytes = _process_headers(file, int(version), attrs["process"], fail, reading)

    with reading("the root group"):
        has_axes, has_points = "axes" in file, "points" in file
    if has_axes and has_points:
        fail("'axes' and 'points'", "both present: a file holds either the grid layout (group 'axes') or the "
                                    "point layout (dataset 'points'), not both")
    if not has_axes and not has_points:
        fail("'axes' / 'points'", "neither is present: the grid layout needs group 'axes', the point layout "
                                  "dataset 'points'")

    # headers first: kinds, dtypes, ranks, sizes, storage, consistent shapes
    t_set = _dataset(file, "t", fail, reading, ndim=1)
    if has_axes:
        group = _object(file, "axes", fail, reading)
        if not isinstance(group, h5py.Group):
            fail("'axes'", f"must be a group of datasets '0', ..., 'd-1'; got a {type(group).__name__}")
        with reading("group 'axes'"):
            names = list(group.keys())
        if not names or sorted(names, key=lambda n: (len(n), n)) != [str(i) for i in range(len(names))]:
            fail("group 'axes'", f"must hold datasets '0', ..., 'd-1' (d >= 1); got {shorten(sorted(names))}")
        axis_sets = [_dataset(file, f"axes/{i}", fail, reading, ndim=1) for i in range(len(names))]
        shape = (t_set.shape[0], *(axis.shape[0] for axis in axis_sets), len(axis_sets))
        values_set = _dataset(file, "values", fail, reading, shape=shape)
        points_set = None
    else:
        axis_sets = None
        points_set = _dataset(file, "points", fail, reading, ndim=3)
        values_set = _dataset(file, "values", fail, reading, shape=points_set.shape)

    declared = table_bytes + sum(dataset.nbytes for dataset in [t_set, values_set, points_set, *(axis_sets or [])]
                                 if dataset is not None)
    if declared > max_bytes:
        fail("datasets 't', 'axes', 'points', 'values'" + (" and the process's table" if table_bytes else ""),
             f"declare {format_bytes(declared)} together, more than the {format_bytes(max_bytes)} allowed: if the "
             "file is trusted and memory suffices, pass a larger `max_bytes` to fd.load_score")

    # then the data
    t = _data(t_set, "t", fail, reading)
    axes = None if axis_sets is None else [_data(a, f"axes/{i}", fail, reading) for i, a in enumerate(axis_sets)]
    points = None if points_set is None else _data(points_set, "points", fail, reading)
    values = _data(values_set, "values", fail, reading)
    process = _process(description, {key: _data(dataset, f"{PROCESS_GROUP}/{key}", fail, reading)
                                     for key, dataset in table_sets.items()}, fail)
    check_field(t, values, axes=axes, points=points, error=FormatError,
                name=lambda key: f"{path!r}, dataset {key!r}")
    if float(t[-1]) > process.t_max:
        fail("dataset 't'", f"reaches t = {float(t[-1])!r}, beyond the process {process!r}, which is defined for t "
                            f"in [0, {process.t_max:g}]")

    meta = {}
    with reading("'meta'"):
        has_meta = "meta" in file
    if has_meta:
        group = _object(file, "meta", fail, reading)
        if not isinstance(group, h5py.Group):
            fail("'meta'", f"must be a group; got a {type(group).__name__}")
        meta = _read_meta(group, "meta", fail, reading, 0, {"seen": set(), "objects": 0, "bytes": 0})

    if parametrization == "v" and int(version) == 1:  # version 1 stored v without the division by n_t
        values = values * version_1_v_scale(process, t).reshape((-1,) + (1,) * (values.ndim - 1))
    # the conversion to the score must stay finite (v_t may underflow for t near 0)
    with np.errstate(all="ignore"):
        try:
            if axes is not None:
                return TabulatedScore(process, t, axes, values, parametrization, outside=outside, meta=meta)
            score = ScoreSamples(process, t, points, values, parametrization, meta=meta)
        except (ArithmeticError, InputError) as error:
            fail("dataset 'values'", f"converting parametrization {parametrization!r} to the score fails "
                                     f"({error}); is t[0] = {float(t[0]):.6g} too close to 0 for {process!r}?")
    for s, table in zip(t, score.scores):
        if not np.all(np.isfinite(table)):
            fail("dataset 'values'", f"converting parametrization {parametrization!r} to the score overflows at "
                                     f"t = {float(s):.6g} (values too large, or v_t too small)")
    return score


def _process_headers(file, version, text, fail, reading):
    """``(description, table_sets, table_bytes)`` of the attribute ``process`` and the group ``process``.

    ``description`` is the JSON's dict; ``table_sets`` the datasets of the
    array parameters (version >= 2: ``process/<name>``, headers checked, no
    data read); ``table_bytes`` what the process's table will hold (those
    datasets, or the ``n`` steps of a table built from its betas), counted in
    the reader's byte budget.
    """
    where = "attribute 'process'"
    try:
        description = json.loads(decode_text(text))
    except (ValueError, TypeError, RecursionError) as error:
        fail(where, f"not the JSON of an fpdiff process ({shorten(error)}); got {shorten(decode_text(text))!r}")
    if not isinstance(description, dict):
        fail(where, f"not the JSON of an fpdiff process (an object with 'kind' expected); got "
                    f"{shorten(decode_text(text))!r}")
    try:
        cls = process_class(description.get("kind"))
    except InputError as error:
        fail(where, str(error))
    for key, value in description.items():
        if isinstance(value, (list, dict)):
            fail(where, f"parameter {shorten(key)!r} is a JSON {type(value).__name__}: an array parameter is the "
                        f"dataset '{PROCESS_GROUP}/{shorten(key)}' (score-format version 2), not part of the JSON")
    table_sets, table_bytes, arrays = {}, 0, ARRAY_PARAMETERS.get(cls.__name__, ())
    with reading("the root group"):
        has_group = version >= 2 and PROCESS_GROUP in file
    if has_group:
        group = _object(file, PROCESS_GROUP, fail, reading)
        if not isinstance(group, h5py.Group):
            fail(f"{PROCESS_GROUP!r}", f"must be a group of the process's array parameters; got a "
                                       f"{type(group).__name__}")
        with reading(f"group {PROCESS_GROUP!r}"):
            names = list(group.keys())
        for key in names:
            if key not in arrays or key in description:
                fail(f"group {PROCESS_GROUP!r}", f"holds {shorten(key)!r}, which is not an array parameter of "
                                                 f"{cls.__name__} (its array parameters: {list(arrays)}; each "
                                                 "given once, as a dataset, not in the JSON)")
            table_sets[key] = _dataset(file, f"{PROCESS_GROUP}/{key}", fail, reading, ndim=1)
            table_bytes += table_sets[key].nbytes
    for key in arrays:
        if key not in table_sets:
            fail(f"dataset '{PROCESS_GROUP}/{key}'", f"missing: the {key} of a {cls.__name__} process is this "
                                                     "dataset, shape (n,)")
    steps = description.get("n")
    if issubclass(cls, Discrete) and isinstance(steps, int) and steps > 0:
        table_bytes += 8 * steps  # a table built from its betas: checked before it is allocated
    return description, table_sets, table_bytes


def _process(description, tables, fail):
    """The process of the JSON ``description`` and the arrays ``tables`` (read from ``process/<name>``)."""
    try:
        return process_from_dict({**description, **tables})
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError) as error:
        named = [key for key in tables if f"`{key}`" in str(error)]
        if named:
            fail(f"dataset '{PROCESS_GROUP}/{named[0]}'", f"not a valid table of {description.get('kind')} "
                                                         f"({shorten(error)})")
        fail("attribute 'process'", f"not the JSON of an fpdiff process ({shorten(error)}); got "
                                    f"{shorten(json.dumps(description))!r}")


def _object(group, name, fail, reading, shown=None):
    """The object at ``name`` in ``group``, which must be stored in this file (no external link).

    ``shown``: the name used in messages (default ``name``).
    """
    shown = name if shown is None else shown
    with reading(f"{shown!r}"):
        link = group.get(name, getlink=True)
        if link is None:
            fail(f"dataset {shown!r}", "missing")
        if isinstance(link, h5py.ExternalLink):
            fail(f"{shown!r}", f"is a link to the file {shorten(link.filename)!r}: a score file must be "
                               "self-contained")
        return group[name]


def _dataset(file, name, fail, reading, ndim=None, shape=None):
    """Dataset ``name`` after checking its header: kind, dtype, rank, shape, size and storage (no data read)."""
    dataset = _object(file, name, fail, reading)
    where = f"dataset {name!r}"
    if not isinstance(dataset, h5py.Dataset):
        fail(where, f"must be a dataset; got a {type(dataset).__name__}")
    with reading(where):
        dtype, declared = dataset.dtype, dataset.shape
        if dtype.kind != "f" or dtype.itemsize not in (4, 8):
            fail(where, f"unsupported dtype {dtype}: float32 or float64 expected")
        if declared is None:
            fail(where, "has no dataspace (an empty attribute-like dataset); an array is expected")
        if ndim is not None and len(declared) != ndim:
            fail(where, f"must have {ndim} dimension(s); got shape {declared}")
        if shape is not None and declared != tuple(shape):
            fail(where, f"must have shape {tuple(shape)}; got {declared}")
        check_storage(dataset, where, fail)
    return dataset


def _data(dataset, name, fail, reading):
    where = f"dataset {name!r}"
    with reading(where):
        try:
            return dataset[()]
        except MemoryError:
            fail(where, f"declares {dataset.size} elements ({dataset.nbytes / 2**30:.3g} GiB): not enough memory "
                        "to read it")
        except OSError as error:
            if "filter" not in str(error):  # h5py: "filter returned failure during read"
                raise
            # the checksum is the last filter written and the first checked: damage fails it before the others
            failed = "fails its Fletcher-32 checksum" if dataset.fletcher32 else "fails to decode (a filter failed)"
            fail(where, f"{failed}: its data were damaged after they were written (the file is corrupt)")


def _read_meta(group, where, fail, reading, depth, budget):
    """The group ``where`` of ``meta`` as a dict (attributes and datasets; subgroups recursively).

    ``budget`` is shared by the whole of ``meta``: ``seen`` (the objects read,
    each allowed once), ``objects`` and ``bytes`` (what has been read, against
    :data:`MAX_META_OBJECTS` and :data:`MAX_META_BYTES`). Every count and size
    is checked before the reading it bounds.
    """
    if depth > MAX_META_DEPTH:
        fail(f"group {where!r}", f"nested deeper than {MAX_META_DEPTH} levels")
    _visit(group, f"group {where!r}", fail, reading, budget)
    meta = {}
    with reading(f"attributes of group {where!r}"):
        _count(len(group.attrs), f"group {where!r}", fail, budget)
        keys = list(group.attrs.keys())
    for key in keys:
        shown = f"attribute {key!r} of group {where!r}"
        with reading(shown):
            attribute = group.attrs.get_id(key)
            _spend(0 if attribute.shape is None else math.prod(attribute.shape) * attribute.dtype.itemsize,
                   shown, fail, budget)
            meta[key] = _meta_value(group.attrs[key])
    with reading(f"group {where!r}"):
        _count(len(group), f"group {where!r}", fail, budget)
        keys = list(group.keys())
    for key in keys:
        name = f"{where}/{key}"
        item = _object(group, key, fail, reading, shown=name)
        if isinstance(item, h5py.Group):
            meta[key] = _read_meta(item, name, fail, reading, depth + 1, budget)
        elif isinstance(item, h5py.Dataset):
            shown = f"dataset {name!r}"
            _visit(item, shown, fail, reading, budget)
            with reading(shown):
                if item.shape is not None:
                    check_storage(item, shown, fail)
                    _spend(item.nbytes, shown, fail, budget)
            meta[key] = _meta_value(_data(item, name, fail, reading))
        else:
            fail(f"{name!r}", f"unsupported object {type(item).__name__} in 'meta'")
    return meta


def _visit(item, shown, fail, reading, budget):
    """Record that ``item`` is read; a second visit (a hard or soft link to it, or a link cycle) is refused.

    (Counted among :data:`MAX_META_OBJECTS` by its group's link count.)
    """
    with reading(shown):
        identity = item.id  # h5py object ids compare (and hash) equal for the same object in the file
        seen = identity in budget["seen"]
    if seen:
        fail(shown, "is reached a second time (a second link to an object already read, or a link cycle): "
                    "'meta' must be a tree")
    budget["seen"].add(identity)


def _count(objects, shown, fail, budget):
    budget["objects"] += objects
    if budget["objects"] > MAX_META_OBJECTS:
        fail(shown, f"'meta' holds more than {MAX_META_OBJECTS} groups, datasets and attributes")


def _spend(nbytes, shown, fail, budget):
    budget["bytes"] += nbytes
    if budget["bytes"] > MAX_META_BYTES:
        fail(shown, f"'meta' declares more than {format_bytes(MAX_META_BYTES)} of data (here "
                    f"{format_bytes(nbytes)})")


def _meta_value(value):
    """A meta attribute or dataset value as written: None, str, Python number, or array (strings decoded)."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":
        return np.char.decode(value, "utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype.kind == "O":
        return np.array([v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
                         for v in value.ravel()], dtype=object).reshape(value.shape)
    return value.item() if isinstance(value, np.generic) else value


