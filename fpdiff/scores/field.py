r"""The conventions of a score field, shared by tables in memory and score files.

A field is a score (or eps, x0, v: :data:`PARAMETRIZATIONS`) tabulated at
times ``t`` on a tensor grid or at points; :func:`to_score` and
:func:`from_score` convert between a parametrisation and the score through
the forward process (:math:`X_t = \alpha_t X_0 + \sqrt{v_t}\,\varepsilon`),
and :func:`check_field` checks the arrays of a field.
"""

import numpy as np

from ..errors import InputError

PARAMETRIZATIONS = ("score", "eps", "x0", "v")


OUTSIDE_POLICIES = ("raise", "clamp")


def coefficients(process, t, parametrization):
    r"""``(A, B, C, D)``: the score :math:`s = A V + B x` and denoiser :math:`\hat x_0 = C V + D x` of values ``V``.

    ``V`` is in ``parametrization`` at time ``t`` (the one table of
    :mod:`fpdiff.scores.tabulated` and :mod:`fpdiff.scores.model`). For ``"v"``,
    :math:`V = (\alpha_t\varepsilon - \sqrt{v_t}\,x_0)/n_t` with
    :math:`n_t = \sqrt{\alpha_t^2 + v_t}`: Salimans & Ho's v-prediction of the
    variance-preserving :math:`x/n_t` (:math:`n_t = 1` for VP, Cosine, the
    discrete tables and OU with :math:`\sigma^2 = 2\beta`).
    """
    alpha, variance = float(process.alpha(t)), float(process.variance(t))
    std = np.sqrt(variance)
    if parametrization == "score":
        return 1.0, 0.0, variance / alpha, 1.0 / alpha
    if parametrization == "eps":
        return -1.0 / std, 0.0, -std / alpha, 1.0 / alpha
    if parametrization == "x0":
        return alpha / variance, -1.0 / variance, 1.0, 0.0
    norm2 = alpha * alpha + variance  # "v"
    norm = np.sqrt(norm2)
    return -alpha / (std * norm), -1.0 / norm2, -std / norm, alpha / norm2


def score_coefficients(process, t, parametrization):
    """``(a, b)`` with score ``s = a V + b x`` for table values ``V`` in ``parametrization`` at time ``t``."""
    return coefficients(process, t, parametrization)[:2]


def version_1_v_scale(process, t):
    r"""The factor :math:`1/n_t` that turns a version-1 file's ``"v"`` values into today's.

    Score files of version 1 stored :math:`\alpha_t\varepsilon - \sqrt{v_t}\,x_0`
    without the division by :math:`n_t = \sqrt{\alpha_t^2 + v_t}` (the same
    number where :math:`n_t = 1`).
    """
    return 1.0 / np.sqrt(process.alpha(t) ** 2 + process.variance(t))


def to_score(values, points, t, process, parametrization):
    """The score from table values ``values`` (..., d) at points ``points`` (broadcastable) and time ``t``."""
    a, b = score_coefficients(process, t, parametrization)
    return a * values + b * points if b else a * values


def from_score(scores, points, t, process, parametrization):
    """Inverse of :func:`to_score`: the table values in ``parametrization`` of the score ``scores``."""
    a, b = score_coefficients(process, t, parametrization)
    return (scores - b * points) / a if b else scores / a


def check_field(t, values, axes=None, points=None, error=InputError, name=lambda key: f"`{key}`"):
    """Check the arrays of a score field; raise ``error`` naming the array (``name(key)``) and the problem.

    ``t`` (n_t,) strictly increasing and > 0; grid layout: ``axes`` d arrays, each
    strictly increasing with at least 2 nodes, ``values`` (n_t, n_0, ..., n_{d-1}, d);
    point layout: ``points`` and ``values`` (n_t, M, d). Everything finite.
    Returns the arrays as float arrays of their own precision (float32 stays float32).
    """
    def floating(array, key):
        array = np.asarray(array)
        if array.dtype.kind not in "fiu" or array.dtype.itemsize > 8:
            raise error(f"{name(key)} must hold real numbers (float32 or float64); got dtype {array.dtype}")
        if array.dtype.kind != "f":
            array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise error(f"{name(key)} contains NaN or inf (first at index {_first_bad(array)})")
        return array

    t = floating(t, "t")
    if t.ndim != 1 or len(t) == 0:
        raise error(f"{name('t')} must be a non-empty 1-D array of times; got shape {t.shape}")
    if np.any(np.diff(t) <= 0) or t[0] <= 0:
        raise error(f"{name('t')} must be strictly increasing and > 0; got {_preview(t)}")
    if (axes is None) == (points is None):
        raise error(f"a score field has either {name('axes')} (grid layout) or {name('points')} (point layout)")
    if axes is not None:
        if len(axes) == 0:
            raise error(f"{name('axes')} must hold one coordinate array per dimension; got none")
        axes = [floating(axis, f"axes/{i}") for i, axis in enumerate(axes)]
        for i, axis in enumerate(axes):
            if axis.ndim != 1 or len(axis) < 2 or np.any(np.diff(axis) <= 0):
                raise error(f"{name(f'axes/{i}')} must be a strictly increasing 1-D array of at least 2 "
                            f"coordinates; got shape {axis.shape}: {_preview(axis)}")
        expected = (len(t), *(len(axis) for axis in axes), len(axes))
    else:
        points = floating(points, "points")
        if points.ndim != 3 or points.shape[0] != len(t) or 0 in points.shape:
            raise error(f"{name('points')} must have shape (n_t, M, d) = ({len(t)}, M, d) with M, d >= 1; "
                        f"got {points.shape}")
        expected = points.shape
    values = floating(values, "values")
    if values.shape != expected:
        raise error(f"{name('values')} must have shape {expected} (n_t, "
                    f"{'n_0, ..., n_{d-1}' if axes is not None else 'M'}, d); got {values.shape}")
    return t, values, axes, points


def grid_nodes(axes):
    """The nodes of the tensor grid of ``axes`` as points, shape ``(prod n_i, d)``, axis 0 slowest."""
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)


def _first_bad(array):
    return tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])


def _preview(array, count=6):
    text = np.array2string(np.asarray(array).ravel()[:count], precision=6, separator=", ")
    return text[:-1] + ", ...]" if np.size(array) > count else text
