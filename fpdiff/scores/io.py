"""HDF5 files: the score-field format (``docs/score-format.md``) and atomic writing.

A score file holds a field at times ``t`` on a tensor grid (``axes/0`` ...
``axes/{d-1}`` and ``values`` (n_t, n_0, ..., n_{d-1}, d)) or at scattered
points (``points`` and ``values`` (n_t, M, d), for audits), with the file
attributes ``format``, ``version``, ``process`` (JSON) and ``parametrization``,
and an optional group ``meta``. :func:`load_score` checks everything and
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
import secrets

import h5py
import numpy as np

from .._validation import as_int, check_choice, format_bytes
from ..errors import FormatError, InputError
from ..processes import check_process, process_from_dict
from .tabulated import OUTSIDE_POLICIES, PARAMETRIZATIONS, ScoreSamples, TabulatedScore, check_field

FORMAT = "fpdiff.score-field"
VERSION = 1
#: HDF5 file format of the files written: 1.10 checksums the superblock, object headers and chunk indexes
#: (1.8's chunk B-trees have none: a flipped filter-mask bit there skips the data checksum); readers need HDF5 >= 1.10
LIBVER = ("v110", "v110")
#: largest number of elements a dataset may declare (a corrupt header must not make the loader allocate it)
MAX_ELEMENTS = 2**31
#: default of ``load_score(max_bytes=...)``: most bytes the datasets ``t``, ``axes/*``, ``points`` and ``values``
#: may declare together (a loaded score holds up to 3 times this: the values and their float64 conversion)
MAX_FIELD_BYTES = 2**30
#: most a dataset declaring over :data:`COMPRESSION_CHECK_BYTES` may expand from its stored size (a small file
#: that declares gigabytes of compressed zeros must not make the loader allocate them)
MAX_COMPRESSION = 100
COMPRESSION_CHECK_BYTES = 2**24
#: deepest nesting of groups in ``meta``
MAX_META_DEPTH = 32
#: most groups, datasets and attributes read in ``meta``, each object at most once (links that reach a group
#: twice, at every level, would otherwise make the reading time double per level)
MAX_META_OBJECTS = 10_000
#: most bytes the datasets and attributes of ``meta`` may declare together
MAX_META_BYTES = 2**26
#: what h5py raises for damage inside a file it could open
_DAMAGE = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    The temporary file gets the permissions of a new file (``0o666`` less the
    umask) and is flushed to disk before the rename.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        temporary = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
        try:
            handle = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            break
        except FileExistsError:
            continue
    os.close(handle)
    try:
        yield temporary
        handle = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


# ---------------------------------------------------------------- writing


def save_score(path, process, t, values, *, axes=None, points=None, parametrization="score", meta=None):
    """Write a score field to the HDF5 file ``path`` (atomically; an existing file is replaced).

    Parameters
    ----------
    path : str or os.PathLike
    process : LinearProcess
        The forward process; stored as JSON in the attribute ``process``.
    t : array_like, shape (n_t,)
        Strictly increasing times > 0.
    values : array_like
        Grid layout: shape (n_t, n_0, ..., n_{d-1}, d); point layout: (n_t, M, d).
    axes : sequence of d array_like, optional
        Node coordinates of the grid layout (strictly increasing).
    points : array_like, shape (n_t, M, d), optional
        Evaluation points of the point layout (exactly one of ``axes``, ``points``).
    parametrization : {"score", "eps", "x0", "v"}
        What ``values`` hold (see :mod:`fpdiff.scores.tabulated`).
    meta : dict, optional
        Free-form information, stored in the group ``meta``: string keys
        (without ``/``) mapping to nested dicts, ``None``, ``str``, ``bool``,
        ``int``, ``float``, ``complex``, numpy scalars, or arrays (and lists)
        of numbers or strings.

    Every array is stored in its own precision when it is float32 or float64
    (other dtypes are stored as float64), so :func:`load_score` returns it bit
    for bit.
    """
    check_process(process)
    if parametrization not in PARAMETRIZATIONS:
        raise InputError(f"`parametrization` must be one of {PARAMETRIZATIONS}; got {parametrization!r}")
    t, values, axes, points = check_field(t, values, axes=axes, points=points)
    if meta is not None and not isinstance(meta, dict):
        raise InputError(f"`meta` must be a dict; got {type(meta).__name__}")
    meta = _prepare_meta(meta or {}, "meta")
    with atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        file.attrs["format"] = _fixed_string(FORMAT)
        file.attrs["version"] = np.int64(VERSION)
        file.attrs["process"] = _fixed_string(json.dumps(process.to_dict()))
        file.attrs["parametrization"] = _fixed_string(parametrization)
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


def _fixed_string(text):
    """``text`` as a fixed-length UTF-8 HDF5 string (no global heap)."""
    return np.bytes_(text.encode("utf-8"))


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
            prepared[key] = ("attribute", _fixed_string(value))
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
        may declare together (default :data:`MAX_FIELD_BYTES`, 1 GiB),
        checked before anything is read; raise it for a larger table you
        trust, memory permitting.

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
    except _DAMAGE as error:
        # last resort: damage met outside the places that name what they read
        raise FormatError(f"{path!r}: corrupt score file ({type(error).__name__}: {_shorten(error)})") from None


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
        except _DAMAGE as error:
            raise problem(where, f"unreadable, the file is corrupt ({type(error).__name__}: "
                                 f"{_shorten(error)})") from None

    attrs = {}
    for key in ("format", "version", "process", "parametrization"):
        with reading(f"attribute {key!r}"):
            if key not in file.attrs:
                fail(f"attribute {key!r}", "missing (is this an fpdiff score file?)")
            attrs[key] = file.attrs[key]
    if _text(attrs["format"]) != FORMAT:
        fail("attribute 'format'", f"expected {FORMAT!r}, got {_shorten(_text(attrs['format']))!r}")
    version = attrs["version"]
    if np.ndim(version) != 0 or not np.issubdtype(np.asarray(version).dtype, np.integer):
        fail("attribute 'version'", f"must be an integer; got {_shorten(repr(version))}")
    if int(version) > VERSION:
        fail("attribute 'version'", f"version {int(version)} was written by a newer fpdiff; this one reads "
                                    f"version <= {VERSION}: upgrade fpdiff")
    if int(version) < 1:
        fail("attribute 'version'", f"must be >= 1; got {int(version)}")
    parametrization = _text(attrs["parametrization"])
    if parametrization not in PARAMETRIZATIONS:
        fail("attribute 'parametrization'", f"must be one of {PARAMETRIZATIONS}; got {_shorten(parametrization)!r}")
    try:
        process = process_from_dict(json.loads(_text(attrs["process"])))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError) as error:
        fail("attribute 'process'", f"not the JSON of an fpdiff process ({_shorten(error)}); "
                                    f"got {_shorten(_text(attrs['process']))!r}")

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
            fail("group 'axes'", f"must hold datasets '0', ..., 'd-1' (d >= 1); got {_shorten(sorted(names))}")
        axis_sets = [_dataset(file, f"axes/{i}", fail, reading, ndim=1) for i in range(len(names))]
        shape = (t_set.shape[0], *(axis.shape[0] for axis in axis_sets), len(axis_sets))
        values_set = _dataset(file, "values", fail, reading, shape=shape)
        points_set = None
    else:
        axis_sets = None
        points_set = _dataset(file, "points", fail, reading, ndim=3)
        values_set = _dataset(file, "values", fail, reading, shape=points_set.shape)

    declared = sum(dataset.nbytes for dataset in [t_set, values_set, points_set, *(axis_sets or [])]
                   if dataset is not None)
    if declared > max_bytes:
        fail("datasets 't', 'axes', 'points', 'values'",
             f"declare {format_bytes(declared)} together, more than the {format_bytes(max_bytes)} allowed: if the "
             "file is trusted and memory suffices, pass a larger `max_bytes` to fd.load_score")

    # then the data
    t = _data(t_set, "t", fail, reading)
    axes = None if axis_sets is None else [_data(a, f"axes/{i}", fail, reading) for i, a in enumerate(axis_sets)]
    points = None if points_set is None else _data(points_set, "points", fail, reading)
    values = _data(values_set, "values", fail, reading)
    check_field(t, values, axes=axes, points=points, error=FormatError,
                name=lambda key: f"{path!r}, dataset {key!r}")

    meta = {}
    with reading("'meta'"):
        has_meta = "meta" in file
    if has_meta:
        group = _object(file, "meta", fail, reading)
        if not isinstance(group, h5py.Group):
            fail("'meta'", f"must be a group; got a {type(group).__name__}")
        meta = _read_meta(group, "meta", fail, reading, 0, {"seen": set(), "objects": 0, "bytes": 0})

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
            fail(f"{shown!r}", f"is a link to the file {_shorten(link.filename)!r}: a score file must be "
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
        _check_storage(dataset, where, fail)
    return dataset


def _check_storage(dataset, where, fail):
    """Reject data held outside the file, too large to read, or never (completely) written."""
    size = dataset.size
    if size > MAX_ELEMENTS:
        fail(where, f"declares {size} elements, more than the {MAX_ELEMENTS} allowed")
    if dataset.external:
        fail(where, "keeps its data in external raw file(s); a score file must be self-contained")
    if dataset.is_virtual:
        fail(where, "is a virtual dataset (data mapped from other files); a score file must be self-contained")
    if size == 0:
        return
    if dataset.chunks is None:
        stored, needed = dataset.id.get_storage_size(), dataset.nbytes
        if stored < needed:
            fail(where, f"stores {stored} of its {needed} bytes: never written, or truncated")
    else:
        needed = math.prod(-(-n // c) for n, c in zip(dataset.shape, dataset.chunks))
        stored = dataset.id.get_num_chunks()
        if stored < needed:
            fail(where, f"only {stored} of its {needed} chunks were written")
        stored = dataset.id.get_storage_size()
        if dataset.nbytes > COMPRESSION_CHECK_BYTES and dataset.nbytes > MAX_COMPRESSION * stored:
            fail(where, f"declares {format_bytes(dataset.nbytes)} stored in {format_bytes(stored)}, compressed "
                        f"more than {MAX_COMPRESSION}:1; no score table compresses so well: the header is damaged "
                        "or the file was made to exhaust memory")


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
                    _check_storage(item, shown, fail)
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


def _text(value):
    """An attribute as text (UTF-8 decoded; undecodable bytes replaced, so the comparison fails with a message)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _shorten(value, limit=200):
    """``str(value)`` cut to ``limit`` characters (a corrupt file must not make a megabyte error message)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
