"""The fused time loop of autonomous implicit solves: factor once, step in compiled code.

:func:`fpdiff.fv.solve.integrate_density` hands its time loop to
:class:`FusedLoop` when the dynamics is autonomous (forward OU, Brownian,
VE with constant sigma...), the flux is Scharfetter–Gummel, the method is
``"be"``, ``"trbdf2"`` or ``"cn"``, and there is no per-step monitor or
adaptive step. The loop computes the same steps as the steppers of
:mod:`fpdiff.fv.steppers` (the same splitting schedules and stage
coefficients, one LU factorisation per distinct ``(axis, c)``) and makes the
driver's checks after every step; see :mod:`fpdiff.fv._fused` for the kernels.

When the drift along an axis depends on that coordinate only (every linear
drift), all lines of the axis have the same matrix: one line is factorised,
and the solves read the density alone instead of the density and three
factor arrays per cell (the bandwidth study of ``benchmarks/bench_density.py``).
"""

import math

import numba
import numpy as np

from . import _fused, _kernels
from .steppers import TRBDF2, strang_schedule

#: methods the fused loop runs
FUSED_METHODS = {"be": _fused.BE, "trbdf2": _fused.TRBDF2, "cn": _fused.CN}
#: more distinct (axis, c) pairs than this (save times cutting steps) fall back to the stepper loop
MAX_FACTOR_SETS = 16


def schedule(method, ndim, dt):
    """``[(axis, c), ...]``: the implicit solves of one step of length ``dt``, as the steppers take them."""
    if method == "be":
        return [(axis, dt) for axis in range(ndim)]
    stage = TRBDF2.GAMMA if method == "trbdf2" else 1.0  # the trapezoidal stage's share of the step
    return [(axis, 0.5 * stage * (length * dt)) for axis, _, length in strang_schedule(ndim)]


def _shared_line(wl, wr):
    """Whether every line of an axis has the weights of the first (weights ``(O, N+1, I)``): a drift along
    the axis that depends on that coordinate only, like every linear drift. Its lines then share one
    LU factorisation, and a sweep streams the density alone instead of the density and three factors."""
    if wl.shape[0] * wl.shape[2] == 1:  # one line (1-D)
        return True
    return bool(np.all(wl == wl[:1, :, :1]) and np.all(wr == wr[:1, :, :1]))


def _first_line(weights):
    """The weights of an axis's first line, as a contiguous ``(1, N+1, 1)`` array."""
    return np.ascontiguousarray(weights[:1, :, :1])


class FusedLoop:
    """The factor sets, plan and work arrays of one autonomous solve (see the module docstring).

    Parameters
    ----------
    method : {"be", "trbdf2", "cn"}
        The implicit stepper.
    operator : FluxOperator
        Of an autonomous dynamics.
    taus : array
        Step boundaries.
    slots : int array
        Row of the snapshot array of each step boundary that is saved, -1 for
        the others.
    restore : bool
        Keep each step's start (needed when a step can leave negative mass:
        TR-BDF2, CN, or any method started from a density with negative cells).
    """

    def __init__(self, method, operator, taus, slots, restore):
        self.method = method
        self.operator = operator
        self.restore = restore
        grid = operator.grid
        # the distinct step lengths; lengths that differ by round-off (np.linspace) share one factorisation
        lengths = np.diff(taus)
        longest = lengths.max()
        if longest - lengths.min() <= 1e-12 * longest:  # uniform steps (the common case): no sort
            steps, inverse = lengths[:1], np.zeros(len(lengths), dtype=np.int64)
        else:
            _, first, inverse = np.unique(np.round(lengths / longest, 12), return_index=True, return_inverse=True)
            steps = lengths[first]
        self.usable = len(steps) * grid.ndim <= MAX_FACTOR_SETS
        if not self.usable:
            return
        keys = {}
        table = []  # factor set of each (distinct step, schedule entry)
        for dt in steps:
            table.append([keys.setdefault((axis, float(c)), len(keys))
                          for axis, c in schedule(method, grid.ndim, dt)])
        self.plan = np.ascontiguousarray(np.array(table, dtype=np.int64)[inverse.ravel()])
        self.saved_slot = np.ascontiguousarray(slots[1:], dtype=np.int64)
        size = grid.size
        weights = [operator.weights(axis, 0.0) for axis in range(grid.ndim)]
        shared = [_shared_line(wl, wr) for wl, wr in weights]
        # a shared axis keeps one line's weights (and factors); every other axis one per face (and cell)
        weights = [(_first_line(wl), _first_line(wr)) if share else (wl, wr)
                   for (wl, wr), share in zip(weights, shared)]
        layout = np.array([[*lines, *_fused.axis_layout(lines, share), share]
                           for lines, share in zip(operator.lines, shared)], dtype=np.int64)
        self.layout = layout
        segmented = bool(np.any(layout[:, 3] == _fused.SEGMENTED))
        entries = max(lines[1] if share else size for lines, share in zip(operator.lines, shared))
        self.factors = np.empty((len(keys), 3, entries))
        self.products = np.zeros((len(keys), 2, size if segmented else 1))
        self.set_c = np.empty(len(keys))
        self.set_axis = np.empty(len(keys), dtype=np.int64)
        trapezoidal = method != "be"
        faces = max((n + 1) if share else o * (n + 1) * i for (o, n, i), share in zip(operator.lines, shared))
        self.weights = np.zeros((grid.ndim, 2, faces if trapezoidal else 1))
        for (axis, c), q in keys.items():
            wl, wr = weights[axis]
            lines = (1, operator.lines[axis][1], 1) if shared[axis] else operator.lines[axis]
            parts = [self.factors[q, r, : math.prod(lines)].reshape(lines) for r in range(3)]
            _kernels.factor_lines(wl, wr, c, *parts, operator.parallel)
            if layout[axis, 3] == _fused.SEGMENTED:
                largest = _fused.segment_products(self.factors[q, 0], self.factors[q, 1], self.factors[q, 2],
                                                  lines[1], self.products[q, 0], self.products[q, 1])
                if not largest <= _fused.PRODUCT_LIMIT:  # strongly converging drift: the plain sweep
                    layout[axis, 3:6] = _fused.GROUPED, 1, 1
            self.set_c[q] = c
            self.set_axis[q] = axis
        if trapezoidal:
            for axis, (wl, wr) in enumerate(weights):
                self.weights[axis, 0, : wl.size] = wl.ravel()
                self.weights[axis, 1, : wr.size] = wr.ravel()
        tiled = [lines[1] for lines, row in zip(operator.lines, layout) if row[6] and row[3] == _fused.GROUPED]
        # one tile per run of work units: as many runs as numba may start threads
        self.tiles = np.empty((numba.config.NUMBA_NUM_THREADS, _fused.TILE * max(tiled, default=0)))
        self.stage = np.empty(size)
        self.previous = np.empty(size if restore else 1)
        n_chunks = math.ceil(size / _fused.CHUNK)
        self.partial_sum = np.empty(n_chunks)
        self.partial_min = np.empty(n_chunks)

    def run(self, p, start, mass0, negative_limit, conserving, mass_tolerance, snapshots):
        """Steps ``start, ...`` on the flat density ``p``; see :func:`fpdiff.fv._fused.advance_autonomous`.

        Returns ``(steps done, status, min density, max mass drift, density)``.
        """
        grid = self.operator.grid
        done, status, low, drift, result = _fused.advance_autonomous(
            FUSED_METHODS[self.method], self.restore, p, self.stage, self.previous, self.factors, self.products,
            self.weights, self.tiles, self.set_c, self.set_axis, self.plan, self.layout, start, grid.cell_volume, mass0,
            negative_limit, conserving, mass_tolerance, self.saved_slot, snapshots, self.partial_sum,
            self.partial_min, self.operator.parallel,
        )
        if not np.may_share_memory(result, p):  # TR-BDF2 or CN swapped its arrays: the other is the work space
            self.stage = p
        return done, status, low, drift, result
