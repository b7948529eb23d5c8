r"""Tabulated (learned) scores: a field given on a tensor grid at a list of times.

A score network trained elsewhere is exported as its output on a grid of
nodes at times :math:`t_0 < \dots < t_{n-1}` (the HDF5 format of
:mod:`fpdiff.scores.io`, ``docs/score-format.md``). The output may be in any of the
four common parametrisations, related to the score :math:`s = \nabla\log p_t`
through the forward process (:math:`X_t = \alpha_t X_0 + \sqrt{v_t}\,\varepsilon`):

==============  ======================================  ========================================================
name            the network predicts                    score
==============  ======================================  ========================================================
``"score"``     :math:`s`                               :math:`s`
``"eps"``       :math:`\varepsilon`                     :math:`-\varepsilon/\sqrt{v_t}`
``"x0"``        :math:`\hat x_0`                        :math:`(\alpha_t \hat x_0 - x)/v_t`
``"v"``         :math:`(\alpha_t\varepsilon - \sqrt{v_t}\,\hat x_0)/n_t`  :math:`-\alpha_t V/(\sqrt{v_t}\, n_t) - x/n_t^2`
==============  ======================================  ========================================================

(for ``"v"``: :math:`n_t = \sqrt{\alpha_t^2 + v_t}`, Salimans & Ho's v-prediction of the
variance-preserving :math:`x/n_t`, the convention of :class:`~fpdiff.ModelScore` and
k-diffusion; :math:`n_t = 1` for VP-type processes, where it is diffusers' ``v_prediction``;
the coefficients are :func:`fpdiff.scores.field.coefficients`). Each is affine in the
table value :math:`V`: :math:`s = a(t) V + b(t) x`.

:class:`TabulatedScore` converts every time slice to the score at its nodes
once, then interpolates **multilinearly in x** (numba kernel, also inside the
particle kernels) and **linearly in t**. Because the conversion is affine in
``x`` and multilinear interpolation reproduces affine functions exactly, the
same field stored in any parametrisation gives the same score (to rounding).

Outside the tabulated box the policy ``outside`` decides: ``"raise"``
(default) raises :class:`InputError` with the box, ``"clamp"`` uses the value
at the nearest point of the box (constant extension). A time outside
:math:`[t_0, t_{n-1}]` always raises.
"""

import numpy as np

from .._parallel import use_parallel
from .._validation import check_choice
from ..errors import DomainError, InputError
from . import _kernels
from ._write import save_score
from .base import CompiledScore, Score, as_score, check_process
from .field import OUTSIDE_POLICIES, PARAMETRIZATIONS, check_field, from_score, grid_nodes, to_score



class TabulatedScore(Score):
    r"""A score given on a tensor grid of nodes at times ``t``: multilinear in x, linear in t.

    Parameters
    ----------
    process : LinearProcess
        The forward process the field belongs to (converts the parametrisation).
    t : array_like, shape (n_t,)
        Strictly increasing times > 0; the score is valid on ``[t[0], t[-1]]``.
    axes : sequence of d array_like
        Strictly increasing node coordinates of each axis (uniform or not), >= 2 each.
    values : array_like, shape (n_t, n_0, ..., n_{d-1}, d)
        The field at the nodes, in ``parametrization``.
    parametrization : {"score", "eps", "x0", "v"}
        What ``values`` hold (module docstring).
    outside : {"raise", "clamp"}
        Policy for points outside the box of the axes.
    meta : dict, optional
        Free-form information (e.g. how the field was trained); kept and saved.

    Notes
    -----
    Used as the ``score`` of :func:`fpdiff.solve_reverse` (face values by
    interpolation) and of :func:`fpdiff.sample_reverse`, where it is
    interpolated inside the numba particle kernels. Save with :meth:`save`
    or :func:`fpdiff.save_score`; make one from any score with :func:`tabulate_score`.
    """

    def __init__(self, process, t, axes, values, parametrization="score", outside="raise", meta=None):
        self.process = check_process(process)
        self.parametrization = check_choice(parametrization, "parametrization", PARAMETRIZATIONS)
        self.outside = check_choice(outside, "outside", OUTSIDE_POLICIES)
        self.t, self.values, axes, _ = check_field(t, values, axes=axes)
        self.axes = tuple(np.ascontiguousarray(axis, dtype=np.float64) for axis in axes)
        self.dim = len(self.axes)
        self.shape = tuple(len(axis) for axis in self.axes)
        self.meta = dict(meta or {})
        self.t_range = (float(self.t[0]), float(self.t[-1]))
        self.box = [(float(axis[0]), float(axis[-1])) for axis in self.axes]
        nodes = self.nodes()
        self._tables = np.ascontiguousarray(np.stack([
            to_score(np.asarray(v, dtype=np.float64).reshape(-1, self.dim), nodes, float(s), process, parametrization)
            for s, v in zip(self.t, self.values)
        ]))
        bad = [float(s) for s, table in zip(self.t, self._tables) if not np.all(np.isfinite(table))]
        if bad:
            raise InputError(f"`values` converted from {parametrization!r} to the score is not finite at t = "
                             f"{bad[0]:.6g} (values too large, or v_t rounds to 0)")
        self._flat_axes = np.ascontiguousarray(np.concatenate(self.axes))
        self._layout = np.array([self.outside == "clamp", *self.shape], dtype=np.int64)
        self._last = (None, None)

    @property
    def tables(self):
        """The score at the nodes at every time ``t``, shape ``(n_t, n_0, ..., n_{d-1}, d)`` (read-only view)."""
        tables = self._tables.reshape(len(self.t), *self.shape, self.dim).view()
        tables.flags.writeable = False
        return tables

    def compiled(self):
        """The score itself: the kernels interpolate its :meth:`kernel_data` at each time."""
        return CompiledScore(_kernels.TABULATED, table=self) if self._keeps_field(TabulatedScore) else None

    def describe(self):
        return (f"{type(self).__name__} ({'x'.join(map(str, self.shape))} nodes, {len(self.t)} times, "
                f"outside={self.outside!r})")

    def nodes(self):
        """The table's nodes as points, shape ``(prod n_i, d)`` in C order (axis 0 slowest)."""
        return grid_nodes(self.axes)

    def bracket(self, t):
        """``(right, weight)``: the field at ``t`` is ``(1 - weight)`` times slice ``right - 1`` plus ``weight``
        times slice ``right`` (``(0, 1.0)`` for a table of one slice)."""
        if len(self.t) == 1:
            return 0, 1.0
        right = int(np.clip(np.searchsorted(self.t, t), 1, len(self.t) - 1))
        return right, float((t - self.t[right - 1]) / (self.t[right] - self.t[right - 1]))

    def table(self, t):
        """The score at the nodes at time ``t`` (linear in t between slices), shape ``(prod n_i, d)``."""
        t = self.check_time(t)
        if self._last[0] != t:
            right, weight = self.bracket(t)
            if len(self.t) == 1:
                table = self._tables[0]
            else:
                table = np.ascontiguousarray((1 - weight) * self._tables[right - 1] + weight * self._tables[right])
            self._last = (t, table)
        return self._last[1]

    def kernel_data(self, t):
        """``(axes, table, layout)`` for the interpolation kernels at time ``t``."""
        return self._flat_axes, self.table(t), self._layout

    def box_message(self):
        """Which box the table covers, and how to allow points outside it."""
        return (f"the TabulatedScore covers the box {self.box}; outside it, pass outside='clamp' "
                "(constant extension) or tabulate a larger box")

    def check_domain(self, x, what):
        if self.outside == "raise":
            lo, hi = np.array(self.box).T
            outside = np.any((x < lo) | (x > hi), axis=1)
            if np.any(outside):
                raise DomainError(f"{int(outside.sum())} of {what} lie outside the tabulated box, e.g. "
                                 f"{x[np.argmax(outside)].tolist()}: {self.box_message()}")

    def _score(self, x, t):
        axes, table, layout = self.kernel_data(t)
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty_like(x)
        _kernels.table_interpolate(x, axes, layout, table, out, use_parallel(len(x) << self.dim))
        if self.outside == "raise" and not np.all(np.isfinite(out[:, 0])):  # the kernel's NaN marks a point outside
            self.check_domain(x, "the point(s)")
        return out

    def save(self, path, parametrization=None, meta=None):
        """Write the field to ``path`` (HDF5, :func:`fpdiff.save_score`), converted to ``parametrization``.

        By default the values are written as given (in their own parametrisation
        and precision), so :func:`fpdiff.load_score` returns them bit for bit.
        """

        values = self.values
        if parametrization is not None and parametrization != self.parametrization:
            check_choice(parametrization, "parametrization", PARAMETRIZATIONS)
            nodes = self.nodes()
            values = np.stack([from_score(table, nodes, float(s), self.process, parametrization)
                               for s, table in zip(self.t, self._tables)]).reshape(self.values.shape)
        save_score(path, self.process, self.t, values, axes=self.axes,
                   parametrization=parametrization or self.parametrization,
                   meta=self.meta if meta is None else meta)


def tabulate_score(score, t, axes, process=None, parametrization="score", outside="raise"):
    """Sample any fpdiff score on the nodes of ``axes`` at times ``t``: a :class:`TabulatedScore`.

    Parameters
    ----------
    score : Score or callable
        Any fpdiff score (or ``fn(x, t)`` with ``process`` given).
    t : array_like, shape (n_t,)
        Strictly increasing times > 0, where ``score`` may be evaluated.
    axes : sequence of d array_like
        Strictly increasing node coordinates of each axis.
    process : LinearProcess, optional
        The forward process (default: the score's own).
    parametrization : {"score", "eps", "x0", "v"}
        What the table stores (it matters only for :meth:`TabulatedScore.save`).
    outside : {"raise", "clamp"}
        The table's policy outside its box.

    Returns
    -------
    TabulatedScore
    """
    process = score.process if process is None else process
    if process is None:
        raise InputError(f"{type(score).__name__} has no forward process: pass `process=`")
    axes = [np.asarray(axis, dtype=np.float64) for axis in axes]
    score = as_score(score, len(axes), process)  # a table labelled with another process would convert wrongly
    t = np.asarray(t, dtype=np.float64)
    shape = tuple(len(axis) for axis in axes)
    nodes = grid_nodes(axes)
    values = np.stack([from_score(score.score(nodes, float(s)), nodes, float(s), process, parametrization)
                       for s in t]).reshape(len(t), *shape, len(axes))
    return TabulatedScore(process, t, axes, values, parametrization=parametrization, outside=outside)


class ScoreSamples:
    """A score field at scattered points (the point layout of the format): for audits, not for solving.

    ``scores`` holds the values converted to the score, shape (n_t, M, d).

    Parameters
    ----------
    process : LinearProcess
        The forward process the field belongs to (converts the parametrisation).
    t : array_like, shape (n_t,)
        Strictly increasing times > 0.
    points : array_like, shape (n_t, M, d)
        The evaluation points at each time.
    values : array_like, shape (n_t, M, d)
        The field at the points, in ``parametrization``.
    parametrization : {"score", "eps", "x0", "v"}
        What ``values`` hold.
    meta : dict, optional
        Free-form information; kept and saved.
    """

    def __init__(self, process, t, points, values, parametrization="score", meta=None):
        self.process = check_process(process)
        self.parametrization = check_choice(parametrization, "parametrization", PARAMETRIZATIONS)
        self.t, self.values, _, self.points = check_field(t, values, points=points)
        self.dim = self.points.shape[2]
        self.meta = dict(meta or {})
        self.scores = np.stack([to_score(np.asarray(v, np.float64), np.asarray(p, np.float64), float(s), process,
                                         parametrization) for s, p, v in zip(self.t, self.points, self.values)])

    def save(self, path, meta=None):
        """Write the samples to ``path`` (HDF5, point layout, values as given)."""

        save_score(path, self.process, self.t, self.values, points=self.points,
                   parametrization=self.parametrization, meta=self.meta if meta is None else meta)

