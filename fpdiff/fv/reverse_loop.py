"""The compiled time loop of reverse solves: stage times tabulated, every step in one kernel call.

:func:`fpdiff.fv.solve.integrate_density` hands its time loop to
:class:`ReverseLoop` when the dynamics is the gamma-family reverse dynamics
(:class:`fpdiff.dynamics.ReverseDynamics`) with a score the kernels evaluate
as data (a Gaussian mixture, training points or a table,
:meth:`fpdiff.Score.compiled`), the flux is Scharfetter–Gummel, the method
is ``"be"``, ``"trbdf2"`` or ``"cn"``, there is no per-step monitor or
adaptive step, and the solve is large enough to pay for the loop's
compilation (:data:`COMPILED_WORK`).

Before the loop, every stage time of every step (the steppers' splitting
schedules and stage fractions, :mod:`fpdiff.fv.steppers`) is listed once,
and the process's coefficients and the score's noised parameters are
tabulated there; the kernel (:func:`fpdiff.fv._reverse_loop.advance_reverse`)
then runs the steps, rebuilding each axis's operator at each stage time
inside its work units. It computes what the stepper loop computes, to
round-off.
"""

import math

import numpy as np

from ..dynamics import ReverseDynamics
from ..scores._kernels import EMPIRICAL, MIXTURE, TABULATED
from . import _fused, _reverse_loop
from .fused import FUSED_METHODS
from .steppers import METHODS, TRBDF2, strang_schedule

#: cell-steps from which a solve runs in the compiled loop. Its kernel takes 15-25 s of CPU time to compile
#: on a machine with an empty numba cache (``benchmarks/bench_cold_start.py``), and saves about 1 us per
#: cell-step in 1-D (0.1 us in 2-D): a smaller solve, which the stepper loop finishes in about a second, does
#: not pay for that (``fpdiff demo``'s reverse solves, 800 cells x 80 steps, do not)
COMPILED_WORK = 1_000_000
#: a mixture's tables may hold at most this many numbers (beyond, the stepper loop runs)
MAX_TABLE = 50_000_000
#: the separable score's factors across an axis may hold at most this many numbers (beyond, the direct score)
MAX_CROSS = 4_000_000


def _entries(method, ndim):
    """``[(axis, start, solve, end, c), ...]``: one step's solves as fractions of the step (``c`` too)."""
    if method == "be":
        return [(axis, 0.0, 1.0, 1.0, 1.0) for axis in range(ndim)]
    share = TRBDF2.GAMMA if method == "trbdf2" else 1.0  # the trapezoidal stage's share of an entry
    return [(axis, start, start + share * length, start + length, 0.5 * share * length)
            for axis, start, length in strang_schedule(ndim)]


def _layout(lines):
    """``O, N, I, kind, units, block`` of an axis: the fused loop's units (a single long line is solved in
    pieces, :func:`fpdiff.fv._reverse_loop._factor_solve_pieces`)."""
    return [*lines, *_fused.axis_layout(lines)]


class ReverseLoop:
    """The stage-time tables, plan and work arrays of one reverse solve (see the module docstring).

    ``usable`` is False when the loop cannot run this solve (a score the
    kernels do not evaluate, tables too large); the stepper loop runs it.

    Parameters
    ----------
    method : {"be", "trbdf2", "cn"}
    operator : FluxOperator
        Of a :class:`~fpdiff.dynamics.ReverseDynamics`.
    taus : array
        Step boundaries (solver time).
    slots : int array
        Row of the snapshot array of each step boundary that is saved, -1 for the others.
    """

    #: a failed step is handed back at its start, for the stepper loop to take
    restore = True

    def __init__(self, method, operator, taus, slots):
        dynamics, grid = operator.dynamics, operator.grid
        self.operator = operator
        self.method = method
        compiled = dynamics.score.compiled()
        self.kind = None if compiled is None else compiled.kind
        entries = _entries(method, grid.ndim)
        taus = np.asarray(taus, dtype=np.float64)
        start, length = taus[:-1], np.diff(taus)
        columns = []
        for _, *fractions, _ in entries:
            for fraction in fractions:  # the end of a step is the next step's start, exactly
                columns.append(taus[1:] if fraction == 1.0 else start if fraction == 0.0 else start + fraction * length)
        times, index = np.unique(np.stack(columns, axis=1), return_inverse=True)
        steps = len(length)
        self.plan_times = np.ascontiguousarray(index.reshape(steps, len(entries), 3), dtype=np.int64)
        self.plan_axis = np.ascontiguousarray(np.tile([e[0] for e in entries], (steps, 1)), dtype=np.int64)
        self.plan_c = np.ascontiguousarray(np.outer(length, [e[4] for e in entries]))
        lines = operator.lines
        faces = max(o * (n + 1) * i for o, n, i in lines)
        self.usable = self.kind in (MIXTURE, EMPIRICAL, TABULATED)
        if self.kind == MIXTURE:  # the mixture's tables hold K d^2 numbers per time; training points are not copied
            self.usable = len(times) * compiled.means.size * grid.ndim <= MAX_TABLE
        if not self.usable:
            return
        t = dynamics.time_label(times)
        for s in (t[0], t[-1]):  # the tables' times lie between these
            dynamics.score.check_time(float(s))
        beta, weight, noise = dynamics.coefficient_table(t)
        self.beta, self.weight = np.ascontiguousarray(beta), np.ascontiguousarray(weight)
        self.diffusion = np.ascontiguousarray(0.5 * noise**2)
        self.layout = np.array([_layout(line) for line in lines], dtype=np.int64)
        self.weights = np.zeros((grid.ndim, 2, 2, faces))
        self.held = np.full(grid.ndim, -1, dtype=np.int64)
        self.current = np.zeros(grid.ndim, dtype=np.int64)
        self.values = np.zeros((grid.ndim, faces))
        self.face_points = np.zeros((grid.ndim, faces * grid.ndim))
        for axis in range(grid.ndim):
            points = grid.face_points(axis).reshape(-1)
            self.face_points[axis, : points.size] = points
        along = max(grid.shape) + 1
        self.edges = np.zeros((grid.ndim, along))
        self.cell_centres = np.zeros((grid.ndim, along))
        for axis in range(grid.ndim):
            self.edges[axis, : grid.shape[axis] + 1] = grid.edges[axis]
            self.cell_centres[axis, : grid.shape[axis]] = grid.centers[axis]
        if self.kind == TABULATED:
            self.usable = self._tabulated(compiled.table, t, grid, faces)
        else:
            self._mixture(compiled, dynamics.score.process, t, grid, along)
        if not self.usable:
            return
        self.spacing = np.array(grid.spacing, dtype=np.float64)
        self.absorbing = np.array([[operator.absorbing[axis]] * 2 for axis in range(grid.ndim)], dtype=np.bool_)
        self.sweep = np.empty(grid.size)
        self.stage = np.empty(grid.size)
        self.previous = np.empty(grid.size)
        self.saved_slot = np.ascontiguousarray(slots[1:], dtype=np.int64)
        n_chunks = math.ceil(grid.size / _fused.CHUNK)
        self.partial_sum = np.empty(n_chunks)
        self.partial_min = np.empty(n_chunks)

    def _mixture(self, compiled, process, t, grid, along):
        """The tables of a mixture or of training points at the stage times ``t`` (no slices)."""
        (self.log_coefficients, self.centres, self.precisions, self.alpha, self.variance,
         centre_rows) = compiled.tables(process, t)
        self.centre_rows = np.ascontiguousarray(centre_rows, dtype=np.int64)
        # a mixture with diagonal precisions, or training points, on two or more axes: the score's
        # log-weights are sums over axes, and its tables (separable_tables) cost K exponentials per face
        # position and per cell across instead of K per face
        diagonal = self.kind == EMPIRICAL or not np.any(self.precisions * (1.0 - np.eye(grid.ndim)))
        components = self.centres.shape[1]
        across = max(o * i for o, _, i in self.operator.lines)
        self.separable = bool(diagonal and grid.ndim > 1 and 3 * components * across <= MAX_CROSS)
        if not self.separable:
            along = across = 0
        self.face_weight = np.empty((3, components, along))
        self.face_score = np.empty_like(self.face_weight)
        self.cross = np.empty((3, components, across))
        self.factor = np.empty((components, along))
        self.slices = np.empty((0, grid.ndim, 0))
        self.slice_rows = np.zeros((len(t), 2), dtype=np.int64)
        self.slice_weights = np.zeros(len(t))

    def _tabulated(self, table, t, grid, faces):
        """The face values of a :class:`~fpdiff.TabulatedScore` at the slices that bracket the stage times
        ``t`` (the score's own interpolation on the face centres), and each stage time's two slices; False
        if they would take more than :data:`MAX_TABLE` numbers."""
        brackets = [table.bracket(s) for s in t]
        rows = np.array([[max(right - 1, 0), right] for right, _ in brackets], dtype=np.int64)
        used, compact = np.unique(rows, return_inverse=True)
        if len(used) * grid.ndim * faces > MAX_TABLE:
            return False
        self.slices = np.zeros((len(used), grid.ndim, faces))
        for row, k in enumerate(used):
            for axis in range(grid.ndim):
                values = table.face_values(grid, float(table.t[k]), axis).reshape(-1)
                self.slices[row, axis, : values.size] = values
        self.slice_rows = np.ascontiguousarray(compact.reshape(rows.shape), dtype=np.int64)
        self.slice_weights = np.array([weight for _, weight in brackets])
        self.separable = False
        self.log_coefficients, self.alpha, self.variance = np.empty((len(t), 0)), np.zeros(len(t)), np.ones(len(t))
        self.centres, self.precisions = np.empty((1, 0, grid.ndim)), np.empty((len(t), 0, 1, 1))
        self.centre_rows = np.zeros(len(t), dtype=np.int64)
        self.face_weight = self.face_score = self.cross = np.empty((3, 0, 0))
        self.factor = np.empty((0, 0))
        return True

    def step(self, operator, p, tau, dt):
        """One step ``[tau, tau + dt]`` in compiled code, the :class:`~fpdiff.fv.steppers.Stepper` contract:
        the stepper loop halves a step this loop handed back with it (a loop of one step, no checks; the
        Python stepper takes a step that ends non-finite, so that the checks report it as before)."""
        one = ReverseLoop(self.method, operator, np.array([tau, tau + dt]), np.array([-1, -1]))
        done, _, _, _, result = one.run(np.array(p, dtype=np.float64).reshape(-1), 0, 1.0, math.inf, False,
                                        math.inf, np.empty((0, p.size)))
        if not done:
            return METHODS[self.method].step(operator, p, tau, dt)
        return result.reshape(p.shape), 1

    def run(self, p, start, mass0, negative_limit, conserving, mass_tolerance, snapshots):
        """Steps ``start, ...`` on the flat density ``p``, as :meth:`fpdiff.fv.fused.FusedLoop.run`.

        Returns ``(steps done, status, min density, max mass drift, density)``;
        ``status`` is ``DONE``, or ``NEGATIVE`` for a step handed back at its start.
        """
        operator = self.operator
        done, status, low, drift, evaluations, result = _reverse_loop.advance_reverse(
            FUSED_METHODS[self.method], self.kind, p, self.stage, self.previous, self.weights, self.held,
            self.current, self.sweep, self.values, self.face_points, self.separable, self.face_weight,
            self.face_score, self.cross, self.factor, self.edges, self.cell_centres, self.slices, self.slice_rows,
            self.slice_weights, self.plan_axis, self.plan_times, self.plan_c, self.layout, self.spacing,
            self.absorbing, self.log_coefficients, self.centres, self.centre_rows, self.precisions, self.alpha,
            self.variance, self.beta, self.weight, self.diffusion, start,
            operator.grid.cell_volume, mass0, negative_limit, conserving, mass_tolerance, self.saved_slot, snapshots,
            self.partial_sum, self.partial_min, operator.parallel,
        )
        operator.evaluations += evaluations
        if not np.may_share_memory(result, p):  # the stages swapped the arrays: the other is the work space
            self.stage = p
        return done, status, low, drift, result


def reverse_loop(method, operator, taus, slots):
    """A usable :class:`ReverseLoop` for this solve, or None (the stepper loop runs it): also None for a solve
    of fewer than :data:`COMPILED_WORK` cell-steps, which the stepper loop finishes in about a second."""
    if type(operator.dynamics) is not ReverseDynamics or method not in FUSED_METHODS:
        return None
    if operator.grid.size * (len(taus) - 1) < COMPILED_WORK:
        return None
    loop = ReverseLoop(method, operator, taus, slots)
    return loop if loop.usable else None
