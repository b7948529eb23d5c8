r"""Consistency of a tabulated score field: the score Fokker–Planck residual and the curl.

The checks 5 and 6 of :func:`fpdiff.audit.audit`, on the table's own nodes
and times; :func:`field_check` adds the floor, the same check of the
reference score tabulated on the same nodes.
"""

import numpy as np

from ..errors import InputError
from ..scores.tabulated import tabulate_score
from ._common import safe_ratio
from .result import FieldCheck


def _node_volumes(axes):
    """Quadrature weight of each node of a (possibly non-uniform) tensor grid: products of half neighbour gaps."""
    widths = []
    for axis in axes:
        gaps = np.diff(axis)
        width = np.empty(len(axis))
        width[0], width[-1] = 0.5 * gaps[0], 0.5 * gaps[-1]
        width[1:-1] = 0.5 * (gaps[1:] + gaps[:-1])
        widths.append(width)
    volume = widths[0]
    for width in widths[1:]:
        volume = np.multiply.outer(volume, width)
    return volume


def _interior(shape, layers):
    """Mask of the nodes at least ``layers`` nodes away from every face of the box."""
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(layers, n - layers) for n in shape)] = True
    return mask


def _gradient(values, axes, axis):
    """:math:`\\partial_{axis}` of nodal ``values`` by :func:`numpy.gradient` (second order, also at the ends)."""
    return np.gradient(values, axes[axis], axis=axis, edge_order=2)


def _weighted_rms(squares, weights):
    total = float(np.sum(weights))
    return float(np.sqrt(np.sum(weights * squares) / total)) if total > 0 else float("nan")


def _table_weights(score, pdf, t, layers):
    """``p_t`` times the node volume on the interior nodes (0 elsewhere), shape ``score.shape``."""
    density = np.asarray(pdf(score.nodes(), t), dtype=np.float64).reshape(score.shape)
    return density * _node_volumes(score.axes) * _interior(score.shape, layers)


def _fields_times(score, t_range, first, last):
    lo, hi = t_range
    indices = [k for k in range(first, len(score.t) - last) if lo <= score.t[k] <= hi]
    return indices


def score_fp_residual(score, pdf, t_range=(0.0, np.inf)):
    r"""Residual of the score Fokker–Planck equation of a tabulated field, weighted by :math:`p_t`.

    .. math::

        R = \partial_t s - \nabla\Big(\beta(t)\, x\cdot s + \frac{\sigma(t)^2}{2}\big(\nabla\cdot s + |s|^2\big)\Big),

    which vanishes for the score of any solution of the forward FP equation
    (:func:`fpdiff.audit.audit`, check 5). Discretisation, on the table itself: :math:`\partial_t`
    by central differences between table slices (:func:`numpy.gradient`,
    second order also for non-uniform times), so only the interior table
    times are reported; :math:`\nabla\cdot` and :math:`\nabla` by
    :func:`numpy.gradient` on the (possibly non-uniform) axes, second order
    (``edge_order=2``). The nested gradients are second order on nodes at
    least two away from the box's faces, so only those nodes are weighted.

    Parameters
    ----------
    score : TabulatedScore
        With at least 3 times and 5 nodes per axis.
    pdf : callable ``pdf(x, t) -> (M,)``
        The weight :math:`p_t`.
    t_range : (float, float)
        Times where ``pdf`` may be evaluated.

    Returns
    -------
    FieldCheck
        ``value`` the weighted RMS of :math:`|R|` (weights :math:`p_t(x_j)`
        times the node volumes), ``scale`` the larger of the weighted RMS of
        :math:`\partial_t s` and of the gradient term (the two sides of the
        equation, equal for a true score), so ``relative`` lies in :math:`[0, 2]`.
    """
    _check_table(score, times=3, nodes=5, what="the Fokker–Planck residual")
    process, axes, d = score.process, score.axes, score.dim
    fields = score.tables
    dsdt = np.gradient(fields, score.t, axis=0)
    coordinates = np.meshgrid(*axes, indexing="ij")
    times, value, scale = [], [], []
    for k in _fields_times(score, t_range, 1, 1):
        t = float(score.t[k])
        s = fields[k]
        beta, sigma = float(process.drift_rate(t)), float(process.diffusion(t))
        divergence = sum(_gradient(s[..., i], axes, i) for i in range(d))
        potential = (beta * sum(coordinates[i] * s[..., i] for i in range(d))
                     + 0.5 * sigma * sigma * (divergence + np.sum(s * s, axis=-1)))
        right = np.stack([_gradient(potential, axes, i) for i in range(d)], axis=-1)
        residual = dsdt[k] - right
        weights = _table_weights(score, pdf, t, 2)
        times.append(t)
        value.append(_weighted_rms(np.sum(residual**2, axis=-1), weights))
        scale.append(max(_weighted_rms(np.sum(dsdt[k] ** 2, axis=-1), weights),
                         _weighted_rms(np.sum(right**2, axis=-1), weights)))
    note = ("d/dt: central differences between table slices (interior times); grad, div: numpy.gradient, "
            "second order; weighted by p_t on nodes >= 2 from the box faces")
    return FieldCheck("fp_residual", np.array(times), np.array(value), np.array(scale),
                      safe_ratio(value, scale), note)


def score_curl(score, pdf, t_range=(0.0, np.inf)):
    r"""Curl of a tabulated field, :math:`\partial_i s_j - \partial_j s_i`, weighted by :math:`p_t` (d >= 2).

    A true score is a gradient, so its curl vanishes. At every table time:
    ``value`` is the weighted RMS of :math:`\big(\sum_{i<j} (\partial_i s_j - \partial_j s_i)^2\big)^{1/2}`,
    ``scale`` the weighted RMS of the Jacobian's Frobenius norm
    :math:`\big(\sum_{ij} (\partial_j s_i)^2\big)^{1/2}`. Derivatives by
    :func:`numpy.gradient` (second order, non-uniform axes allowed); weights
    :math:`p_t(x_j)` times the node volumes on nodes not on the box's faces.

    Parameters
    ----------
    score : TabulatedScore
        In d >= 2 dimensions, with at least 3 nodes per axis.
    pdf : callable ``pdf(x, t) -> (M,)``
        The weight :math:`p_t`.
    t_range : (float, float)
        Times where ``pdf`` may be evaluated (the table times outside are left out).

    Returns
    -------
    FieldCheck
        ``name = "curl"``, one ``value`` and ``scale`` per table time.
    """
    if score.dim < 2:
        raise InputError(f"the curl needs a field in d >= 2 dimensions; got d = {score.dim}")
    _check_table(score, times=1, nodes=3, what="the curl")
    axes, d = score.axes, score.dim
    fields = score.tables
    times, value, scale = [], [], []
    for k in _fields_times(score, t_range, 0, 0):
        t = float(score.t[k])
        jacobian = [[_gradient(fields[k][..., i], axes, j) for j in range(d)] for i in range(d)]  # [i][j] = d_j s_i
        curl = sum((jacobian[j][i] - jacobian[i][j]) ** 2 for i in range(d) for j in range(i + 1, d))
        frobenius = sum(jacobian[i][j] ** 2 for i in range(d) for j in range(d))
        weights = _table_weights(score, pdf, t, 1)
        times.append(t)
        value.append(_weighted_rms(curl, weights))
        scale.append(_weighted_rms(frobenius, weights))
    note = "d_i s_j - d_j s_i by numpy.gradient, second order; weighted by p_t on nodes off the box faces"
    return FieldCheck("curl", np.array(times), np.array(value), np.array(scale), safe_ratio(value, scale), note)


def _check_table(score, times, nodes, what):
    if getattr(score, "tables", None) is None:
        raise InputError(f"{what} needs a TabulatedScore; got {type(score).__name__}")
    if len(score.t) < times or min(score.shape) < nodes:
        raise InputError(f"{what} needs a table with >= {times} times and >= {nodes} nodes per axis; "
                         f"got {len(score.t)} times and shape {score.shape}")


def field_check(check, name, learned, reference, law, failed):
    """``check`` (:func:`score_fp_residual` or :func:`score_curl`) of the learned table, with its floor.

    The floor is the same check of the reference score tabulated on the
    learned table's nodes, at its times inside the reference's time range.
    A table too small for the differences, or a reference that cannot be
    tabulated there, is recorded in ``failed``.
    """
    try:
        result = check(learned, law.pdf, reference.t_range)
    except InputError as error:
        failed[name] = str(error)
        return None
    lo, hi = reference.t_range
    times = learned.t[(learned.t >= lo) & (learned.t <= hi)]
    try:
        table = tabulate_score(reference, times, learned.axes, process=learned.process)
        floor = check(table, law.pdf, reference.t_range)
    except InputError as error:
        failed[f"{name} floor"] = f"the reference score tabulated on the learned table's nodes: {error}"
        return result
    # the floor's times are a subset of the learned check's (the reference's range may cut the ends)
    position = {float(t): k for k, t in enumerate(floor.times)}
    index = np.array([position.get(float(t), -1) for t in result.times])
    found = index >= 0
    result.floor = np.where(found, floor.value[index], np.nan)
    result.floor_relative = np.where(found, floor.relative[index], np.nan)
    return result
