"""Argument checks used at the public boundary.

Each helper coerces a value, checks it, and raises :class:`InputError` naming
the argument, the expected form and what was received.
"""

import numbers

import numpy as np

from .errors import InputError


def as_float(value, name, *, positive=False, nonnegative=False):
    """Return ``value`` as a finite Python float, or raise ``InputError``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        if not (isinstance(value, np.ndarray) and value.ndim == 0):
            raise InputError(f"`{name}` must be a real number; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise InputError(f"`{name}` must be finite; got {value!r}")
    if positive and value <= 0:
        raise InputError(f"`{name}` must be > 0; got {value!r}")
    if nonnegative and value < 0:
        raise InputError(f"`{name}` must be >= 0; got {value!r}")
    return value


def check_time_interval(T, t_min):
    """Return ``(T, t_min)`` as floats with ``0 < t_min < T``, or raise ``InputError``."""
    T = as_float(T, "T", positive=True)
    t_min = as_float(t_min, "t_min", positive=True)
    if t_min >= T:
        raise InputError(f"`t_min` must be < `T`; got t_min={t_min}, T={T}")
    return T, t_min


def as_int(value, name, *, minimum=None):
    """Return ``value`` as a Python int (no silent truncation of floats)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise InputError(f"`{name}` must be an integer; got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InputError(f"`{name}` must be >= {minimum}; got {value}")
    return value


def as_finite_array(value, name, *, shape=None, ndim=None, nonnegative=False):
    """Return ``value`` as a float64 array; check shape, finiteness and sign.

    ``shape`` may contain ``None`` for an axis of any length.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`{name}` must be an array of real numbers; got {type(value).__name__}: {exc}") from None
    if ndim is not None and array.ndim != ndim:
        raise InputError(f"`{name}` must have {ndim} dimension(s); got shape {array.shape}")
    if shape is not None:
        expected = tuple(shape)
        if array.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, array.shape)):
            shown = tuple("any" if e is None else e for e in expected)
            raise InputError(f"`{name}` must have shape {shown}; got {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise InputError(f"`{name}` must be finite; found {array[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    if nonnegative and array.size and array.min() < 0:
        where = np.unravel_index(np.argmin(array), array.shape)
        raise InputError(
            f"`{name}` must be non-negative; min is {array.min():.3g} at index {tuple(int(i) for i in where)}"
        )
    return array


def as_points(x, dim, name="x"):
    """Return points as a float64 ``(M, dim)`` array.

    A 1-D array is accepted as M points when ``dim == 1`` and as a single
    point when its length is ``dim > 1``.
    """
    array = as_finite_array(x, name)
    if array.ndim == 1:
        array = array[:, None] if dim == 1 else array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise InputError(f"`{name}` must have shape (M, {dim}); got {np.shape(x)}")
    return array


def check_no_unknown_options(options, where):
    """Raise ``InputError`` if ``options`` (a dict of leftover keywords) is not empty."""
    if options:
        names = ", ".join(sorted(options))
        raise InputError(f"{where} got unknown option(s): {names}")


def check_choice(value, name, choices):
    """Raise ``InputError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InputError(f"`{name}` must be one of {allowed}; got {value!r}")
    return value


def format_bytes(count):
    """``count`` bytes in a readable unit: ``"1.5 GiB"``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"
