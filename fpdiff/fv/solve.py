"""Driver of the density view: validate, build the time grid, step, check, save."""

import math
import time
import warnings

import numpy as np
from scipy.special import ndtr

from .._validation import as_finite_array, as_float, as_int, check_choice, check_no_unknown_options
from ..dynamics import forward_dynamics
from ..distributions import GaussianMixture
from ..errors import BlowUpError, InputError, MassWarning
from ..grid import BOX_MASS_LIMIT, NEGATIVE_TOLERANCE, Grid, format_box
from ..processes.base import check_process
from ..solution import DensitySolution
from ..timegrid import merge_save_times
from . import _fused, comoving
from ._kernels import sum_and_min
from .fused import FUSED_METHODS, FusedLoop
from .reverse_loop import ReverseLoop, reverse_loop
from .operator import FluxOperator
from .steppers import DEFAULT_METHOD, METHODS
from .transport import TransportOperator

#: spatial discretisations of the flux
OPERATORS = {"sg": FluxOperator, "muscl": TransportOperator}

#: largest relative mass change tolerated on a grid without absorbing boundaries
MASS_TOLERANCE = 1e-9


def initial_density(grid, p, name):
    """Cell densities from an array on ``grid`` or a distribution (cell-averaged).

    A distribution's cell averages hold its probability of the box; the
    solvers report that as ``start_mass`` (see :func:`warn_if_box_loses_mass`).
    """
    if hasattr(p, "cell_average"):
        values = grid.cell_average(p)
    else:
        values = grid.check_values(p, name)
    values = np.array(values, dtype=np.float64, order="C")
    mass = grid.integrate(values)
    if not mass > 0:
        raise InputError(f"`{name}` must have positive mass on the grid; got {mass:.3g}")
    return values


def law_outside_box(law, grid):
    r"""An upper bound on the mass of a Gaussian mixture ``law`` outside the box of ``grid`` (None for other laws).

    The box is left through some axis, so the mass outside is at most the sum
    over axes of the mass of the axis's marginal outside :math:`[lo_k, hi_k]`,
    each exact (a 1-D mixture with the diagonal variances):
    :math:`\sum_k \sum_j w_j [\Phi((lo_k - \mu_{jk})/s_{jk}) + \Phi((\mu_{jk} - hi_k)/s_{jk})]`.
    Cheap (no cells), and tight where it matters: a box that cuts a law off
    along one axis.
    """
    if not isinstance(law, GaussianMixture):
        return None
    lo, hi = np.array(grid.bounds).T
    sd = np.sqrt(np.diagonal(law.covariances, axis1=1, axis2=2))
    outside = ndtr((lo - law.means) / sd) + ndtr((law.means - hi) / sd)  # (K, d)
    return float(min(1.0, np.sum(law.weights[:, None] * outside)))


def warn_if_box_loses_mass(solution, start_name, start_is_law, outflow_is_loss):
    """Issue a :class:`MassWarning` when the box misses more than :data:`BOX_MASS_LIMIT` of the law.

    The message is :func:`box_problem`'s (see there for what is checked).
    """
    problem = box_problem(solution, start_name, start_is_law, outflow_is_loss)
    if problem is not None:
        warnings.warn(MassWarning(problem), stacklevel=3)


def box_problem(solution, start_name, start_is_law, outflow_is_loss):
    """What shows that the box misses more than :data:`BOX_MASS_LIMIT` of the law, or None when nothing does.

    ``start_name`` names the start density in the message. Three numbers
    of ``solution.diagnostics`` are checked: ``start_mass`` (the start
    distribution's probability of the box; only when ``start_is_law``: an
    array start has no known outside), ``end_law_outside`` (an upper bound
    on the mass of the exact law at the end outside the box, where the
    solver knows that law: :func:`law_outside_box`; None elsewhere) and
    ``boundary_outflow`` (the share of mass that left through absorbing
    boundaries; a loss only when ``outflow_is_loss``: the reverse equation
    conserves mass, a forward problem with an absorbing wall may mean to
    lose it).
    """
    diagnostics = solution.diagnostics
    problems = []
    if start_is_law and 1.0 - diagnostics["start_mass"] > BOX_MASS_LIMIT:
        problems.append(f"{start_name} has only {_percent(diagnostics['start_mass'])} of its mass inside the box")
    end_outside = diagnostics.get("end_law_outside")
    if end_outside is not None and end_outside > BOX_MASS_LIMIT:
        problems.append(f"up to {_percent(end_outside)} of the exact law at the end lies outside the box")
    if outflow_is_loss and diagnostics["boundary_outflow"] > BOX_MASS_LIMIT:
        problems.append(f"{_percent(diagnostics['boundary_outflow'])} of the mass left through the absorbing "
                        "boundary")
    if not problems:
        return None
    return (f"the grid's box {format_box(solution.grid)} does not hold the law ({'; '.join(problems)}; limit "
            f"{100 * BOX_MASS_LIMIT:g}%): the density describes a different law. Enlarge `bounds`, or pass "
            "`comoving=True` to follow the spread of the process")


def _percent(share):
    return f"{100 * share:.3g}%"




def default_steps(grid, tau_end, method):
    """Uniform steps tied to the cell width: ``dt = h_min / 2`` for second-order methods.

    Second-order steppers get a step proportional to the cell width
    (``dt = h_min / 2`` in the units of the problem, at least 20 steps);
    backward Euler, first order, gets ``dt ~ h^2`` capped at 10^4 steps.

    The rule reads time and space in the same units, so it keeps the time
    error below the :math:`O(h^2)` space error only where the solution
    changes on a time scale of about 1 and a length scale of about 1. What
    was measured (TR-BDF2, a 1-D two-component mixture, L1 at ``T = 1``,
    ``tests/test_fv_forward.py::test_default_steps_time_error``):

    * OU and VP on ``[-10, 10]``: the time error is 0.2x (OU) and 0.02x (VP)
      the space error, from 100 to 1600 cells;
    * VE (``sigma_max / sigma_min = 1000``) on ``[-40, 40]``: 6x to 45x the
      space error. Its noise grows a thousandfold over ``[0, 1]`` and the
      wide box gives few steps. Pass ``rtol=1e-3`` (adaptive step doubling:
      the time error falls to 0.1x-0.3x the space error) or more ``steps``.

    A convergence study in space must make the time error negligible
    (``rtol`` or many steps): at the default steps its observed orders mix
    the two errors.
    """
    h = min(grid.spacing)
    if METHODS[method].order >= 2:
        return max(20, math.ceil(2.0 * tau_end / h))
    return min(10_000, max(20, math.ceil(2.0 * tau_end / h**2)))


#: a step that leaves negative mass is halved at most this many times (64 sub-steps)
MAX_REFINEMENT = 6


def _advance(stepper, operator, p, tau, dt, negative_limit, depth=0):
    """One step; halved recursively while it leaves more than ``negative_limit`` negative mass.

    Second-order implicit steps (TR-BDF2) can undershoot where the drift is
    stiff and the step long; shorter steps near such times restore
    positivity without shortening every step. Returns ``(p, substeps, sum, min)``.
    """
    new, taken = stepper.step(operator, p, tau, dt)
    total, low = sum_and_min(new)
    if low < 0 and math.isfinite(total) and depth < MAX_REFINEMENT:
        if -operator.grid.integrate(np.minimum(new, 0.0)) > negative_limit:
            half = 0.5 * dt
            middle, first, _, _ = _advance(stepper, operator, p, tau, half, negative_limit, depth + 1)
            new, second, total, low = _advance(stepper, operator, middle, tau + half, half, negative_limit, depth + 1)
            taken = first + second
    return new, taken, total, low


class StepController:
    r"""Adaptive sub-steps inside each nominal step, by step doubling.

    A trial step of length ``dt`` is taken once whole and once as two halves;
    for a stepper of order :math:`p` the halves' local error is estimated as
    :math:`\|p_{halves} - p_{whole}\|_1 / (2^p - 1)` (Richardson). The halves
    are accepted when that error, relative to the mass, is at most
    ``rtol * dt / tau_end`` (so the global error is about ``rtol``), and
    ``dt`` is rescaled by :math:`0.9 (\text{allowed}/\text{error})^{1/p}`,
    clipped to ``[0.2, 4]``. The step carries over between nominal steps.
    """

    def __init__(self, stepper, operator, rtol, tau_end, mass0, negative_limit):
        self.stepper = stepper
        self.operator = operator
        self.rtol = rtol
        self.tau_end = tau_end
        self.mass0 = mass0
        self.negative_limit = negative_limit
        self.dt = None
        self.rejected = 0

    def advance(self, p, tau, length):
        """Cover ``[tau, tau + length]``; returns ``(p, substeps, sum, min)`` like :func:`_advance`."""
        end = tau + length
        dt = length if self.dt is None else min(self.dt, length)
        taken = 0
        total = low = None
        order = self.stepper.order
        while end - tau > 1e-12 * self.tau_end:
            dt = min(dt, end - tau)
            whole, n0, _, _ = _advance(self.stepper, self.operator, p, tau, dt, self.negative_limit)
            half, n1, _, _ = _advance(self.stepper, self.operator, p, tau, 0.5 * dt, self.negative_limit)
            halves, n2, total_h, low_h = _advance(self.stepper, self.operator, half, tau + 0.5 * dt, 0.5 * dt,
                                                  self.negative_limit)
            taken += n0 + n1 + n2
            error = self.operator.grid.integrate(np.abs(halves - whole)) / ((2**order - 1) * self.mass0)
            allowed = self.rtol * dt / self.tau_end
            # a non-finite step is accepted so that the caller's checks report it with its time
            if not math.isfinite(error) or error <= allowed:
                p, total, low = halves, total_h, low_h
                tau += dt
            else:
                self.rejected += 1
            if error > 0 and math.isfinite(error):
                dt *= min(4.0, max(0.2, 0.9 * (allowed / error) ** (1.0 / order)))
            else:
                dt *= 4.0
            if dt < 1e-14 * self.tau_end:
                t = float(self.operator.dynamics.time_label(tau))
                raise BlowUpError(f"the adaptive step fell below round-off near t = {t:.6g}; loosen `rtol`", t=t)
        self.dt = dt
        return p, taken, total, low


def _not_finite(t, step):
    return BlowUpError(f"the density became non-finite at t = {t:.6g} (step {step}); "
                       "increase `steps` or use method='be'", t=t)


def _mass_changed(drift, t):
    return BlowUpError(f"mass changed by {drift:.2g} (relative) at t = {t:.6g} on a no-flux grid", t=t)


def _negative_mass(negative, mass0, t, step, method):
    return BlowUpError(f"negative mass {negative:.3g} (relative {negative / mass0:.2g}) at t = {t:.6g} "
                       f"(step {step}, method {method!r}); increase `steps` or use method='be'", t=t)


def integrate_density(dynamics, grid, p0, taus, saved, method, negative_tolerance=NEGATIVE_TOLERANCE, flux="sg",
                      monitor=None, rtol=None):
    """Advance cell densities ``p0`` through the solver times ``taus``.

    ``flux`` is ``"sg"`` (Scharfetter–Gummel, :class:`FluxOperator`) or
    ``"muscl"`` (limited transport, :class:`TransportOperator`, explicit
    methods only). ``monitor(p, t)``, if given, is called after every step
    and may raise. With ``rtol``, each step of ``taus`` is covered by
    adaptive sub-steps (``StepController``).

    Autonomous implicit solves (``"be"``, ``"trbdf2"``, ``"cn"`` with the
    ``"sg"`` flux, no monitor, no ``rtol``) run their time loop in compiled code
    (``fpdiff.fv.fused.FusedLoop``), with the same checks; so do reverse
    solves whose score the kernels evaluate as data, when they are large
    enough to pay for that loop's compilation
    (``fpdiff.fv.reverse_loop.ReverseLoop``).

    Checks after every step that the density is finite, that its negative
    part stays below ``negative_tolerance`` times the initial mass (halving
    the step up to ``MAX_REFINEMENT`` = 6 times to get there), and (on grids
    without absorbing boundaries) that mass is conserved; each failure raises
    :class:`BlowUpError` naming the time.

    Parameters
    ----------
    dynamics : Dynamics
        The equation's drift and diffusion in solver time ``tau`` (its
        ``time_label`` gives the forward times of the result).
    grid : Grid
    p0 : ndarray, shape ``grid.shape``
        Cell averages of the start density.
    taus : ndarray (n + 1,)
        Increasing solver times, from 0; every interval is one step.
    saved : ndarray of bool (n + 1,)
        Which of ``taus`` to keep as snapshots.
    method : str
        A stepper of :data:`METHODS`.
    negative_tolerance : float
        Negative mass tolerated, relative to the initial mass.
    flux : {"sg", "muscl"}
        The face flux.
    monitor : callable, optional
        ``monitor(p, t)``, called after every step with the forward time.
    rtol : float, optional
        Relative tolerance of the adaptive sub-steps.

    Returns
    -------
    DensitySolution
        The saved snapshots, labelled by forward time, with the run's
        ``diagnostics`` (``method``, ``steps``, ``substeps``, ``mass_drift``, ...).
    """
    stepper = METHODS[method]
    operator = OPERATORS[flux](dynamics, grid)
    conserving = "absorbing" not in grid.boundary
    p = np.array(p0, dtype=np.float64, order="C")
    mass0 = grid.integrate(p)
    slots = np.cumsum(saved) - 1
    slots[~saved] = -1
    snapshots = np.empty((int(saved.sum()), grid.size))
    if saved[0]:
        snapshots[0] = p.ravel()
    min_density = float(p.min())
    mass_drift = 0.0
    substeps = 0
    controller = None
    negative_limit = negative_tolerance * mass0
    if rtol is not None:
        controller = StepController(stepper, operator, rtol, taus[-1] - taus[0], mass0, negative_limit)
    start = time.perf_counter()
    loop = None
    if (controller is None and monitor is None and flux == "sg" and dynamics.autonomous
            and method in FUSED_METHODS):
        loop = FusedLoop(method, operator, taus, slots, restore=method != "be" or min_density < 0)
        if not loop.usable:
            loop = None
    elif controller is None and monitor is None and flux == "sg":
        loop = reverse_loop(method, operator, taus, slots)
    n = 0
    while n < len(taus) - 1:
        if loop is not None:
            p = p.reshape(-1)
            done, status, low, drift, p = loop.run(p, n, mass0, negative_limit, conserving, MASS_TOLERANCE,
                                                   snapshots)
            p = p.reshape(grid.shape)
            substeps += done
            if done:
                min_density = min(min_density, low)
                mass_drift = max(mass_drift, drift)
            n += done
            if status == _fused.DONE:
                break
            t = float(dynamics.time_label(taus[n + 1]))
            if status == _fused.NOT_FINITE:
                raise _not_finite(t, n + 1)
            if status == _fused.MASS:
                raise _mass_changed(abs(grid.integrate(p) - mass0) / mass0, t)
            if not loop.restore:  # backward Euler from a non-negative start cannot get here (M-matrix solves)
                raise _negative_mass(-grid.integrate(np.minimum(p, 0.0)), mass0, t, n + 1, method)
            # NEGATIVE: this step is handed back unchanged; the stepper loop below halves it
        if controller is None:  # a step the reverse loop handed back is halved in compiled steps
            p, taken, total, low = _advance(loop if isinstance(loop, ReverseLoop) else stepper, operator, p, taus[n],
                                            taus[n + 1] - taus[n], negative_limit)
        else:
            p, taken, total, low = controller.advance(p, taus[n], taus[n + 1] - taus[n])
        substeps += taken
        mass = total * grid.cell_volume
        t = float(dynamics.time_label(taus[n + 1]))
        if not math.isfinite(mass) or not math.isfinite(low):
            raise _not_finite(t, n + 1)
        if low < 0:
            negative = -grid.integrate(np.minimum(p, 0.0))
            if negative > negative_limit:
                raise _negative_mass(negative, mass0, t, n + 1, method)
        if conserving:
            drift = abs(mass - mass0) / mass0
            if drift > MASS_TOLERANCE:
                raise _mass_changed(drift, t)
            mass_drift = max(mass_drift, drift)
        min_density = min(min_density, low)
        if monitor is not None:
            monitor(p, t)
        if saved[n + 1]:
            snapshots[slots[n + 1]] = p.ravel()
        n += 1
    diagnostics = {
        "method": method,
        "steps": len(taus) - 1,
        "substeps": substeps,
        "operator_evaluations": operator.evaluations,
        "wall_time": time.perf_counter() - start,
        "mass_drift": mass_drift,
        "min_density": min_density,
        "start_mass": float(mass0),
        "boundary_outflow": 0.0 if conserving else max(0.0, 1.0 - grid.integrate(p) / mass0),
    }
    if controller is not None:
        diagnostics.update(rtol=rtol, rejected_steps=controller.rejected)
    snapshots = snapshots.reshape((len(snapshots),) + grid.shape)
    return DensitySolution(grid, dynamics.time_label(taus[saved]), snapshots, diagnostics)


def pop_common_options(options):
    """Pop and validate the options both density solvers take.

    Returns ``(negative_tolerance, data_scale or None, rtol or None)``.
    """
    negative_tolerance = as_float(options.pop("negative_tolerance", NEGATIVE_TOLERANCE), "negative_tolerance",
                                  nonnegative=True)
    scale = comoving.data_scale(options.pop("comoving", None))
    rtol = options.pop("rtol", None)
    if rtol is not None:
        rtol = as_float(rtol, "rtol", positive=True)
    return negative_tolerance, scale, rtol


def check_common(grid, T, steps, method, save_at, t_range):
    """Validate the arguments shared by the forward and reverse solvers."""
    if not isinstance(grid, Grid):
        raise InputError(f"`grid` must be an fpdiff.Grid; got {type(grid).__name__}")
    method = DEFAULT_METHOD if method is None else method
    check_choice(method, "method", tuple(METHODS))
    if steps is not None:
        steps = as_int(steps, "steps", minimum=1)
    lo, hi = t_range
    if save_at is None:
        save_at = np.array([lo, hi])
    else:
        save_at = as_finite_array(save_at, "save_at")
        save_at = np.atleast_1d(save_at)
        if save_at.ndim != 1 or np.any(save_at < lo - 1e-12 * hi) or np.any(save_at > hi + 1e-12 * hi):
            raise InputError(f"`save_at` must be times in [{lo}, {hi}]; got {save_at.tolist()}")
    return method, steps, np.clip(save_at, lo, hi)


def solve_forward(process, grid, p0, T, steps=None, method=None, save_at=None, **options):
    r"""Solve the forward Fokker–Planck equation of a noising process on a grid.

    .. math::  \partial_t p = \nabla\cdot(\beta(t)\, x\, p) + \tfrac{\sigma(t)^2}{2} \Delta p,
               \qquad p(0) = p_0, \quad t \in [0, T],

    by conservative finite volumes with Scharfetter–Gummel (exponentially
    fitted) fluxes, second order in space.

    Parameters
    ----------
    process : LinearProcess
        ``fd.OU``, ``fd.VP``, ``fd.VE`` or ``fd.Brownian``.
    grid : Grid
    p0 : array of shape ``grid.shape`` or distribution
        Initial cell densities, or a distribution (cell-averaged exactly).
    T : float
        Final time, > 0.
    steps : int, optional
        Number of (uniform) time steps; by default ``dt = h / 2``
        (``default_steps``), which keeps the time error below the space
        error for OU and VP on unit-scale data but not for VE, whose noise
        changes fast: there pass ``rtol`` (e.g. ``1e-3``) or more steps.
    method : {"trbdf2", "cn", "be", "ssprk3"}
        ``"trbdf2"`` (default): second order, L-stable; ``"cn"``:
        Crank–Nicolson, second order with one solve per step (TR-BDF2 takes
        two), for smooth data (not L-stable: rough data rings); ``"be"``:
        backward Euler, first order, positivity-preserving at any step;
        ``"ssprk3"``: explicit, third order, each step cut into stable sub-steps.
    save_at : sequence of float, optional
        Times in ``[0, T]`` to save (default ``[0, T]``); steps land on them.
    negative_tolerance : float, optional
        Negative mass (relative) tolerated before raising (default 1e-10).
    rtol : float, optional
        Adaptive time steps: each of the ``steps`` nominal steps is covered
        by sub-steps whose step-doubling error estimate keeps the global
        error near ``rtol`` (relative L1; see ``StepController``).
    comoving : bool or float, optional
        Solve on a grid that follows the spread, ``x = c(t) z`` with
        ``c = sqrt(alpha_t^2 + v_t / s0^2)`` (``True``: ``s0 = 1``; a float is
        the data scale ``s0``); ``grid`` is the grid at ``t = 0``. See
        ``fpdiff.fv.comoving``.

    Returns
    -------
    DensitySolution
        Snapshots at ``save_at`` with diagnostics (a
        ``ComovingDensitySolution`` with ``comoving``).

    Raises
    ------
    InputError
        For a bad argument (named in the message).
    BlowUpError
        If the density becomes non-finite or markedly negative.
    """
    check_process(process)
    T = as_float(T, "T", positive=True)
    method, steps, save_at = check_common(grid, T, steps, method, save_at, (0.0, T))
    if METHODS[method].transport_only:
        raise InputError(f"`method={method!r}` solves pure transport (solve_reverse with gamma = 0) and the forward "
                         f"equation diffuses; got method={method!r}: use 'trbdf2', 'cn', 'be' or 'ssprk3'")
    negative_tolerance, scale, rtol = pop_common_options(options)
    check_no_unknown_options(options, "solve_forward")
    p0_law = p0
    p0 = initial_density(grid, p0, "p0")  # c(0) = 1: the same in z and x
    if steps is None:
        steps = default_steps(grid, T, method)
    dynamics = forward_dynamics(process, T)
    if scale is not None:
        dynamics = comoving.ComovingDynamics(dynamics, process, scale)
    taus, saved = merge_save_times(np.linspace(0.0, T, steps + 1), save_at)
    solution = integrate_density(dynamics, grid, p0, taus, saved, method, negative_tolerance, rtol=rtol)
    if scale is not None:
        solution = comoving.comoving_solution(solution, dynamics)
    solution.diagnostics["process"] = process.to_dict()
    end_law = p0_law.evolve(process, T) if hasattr(p0_law, "evolve") else None
    solution.diagnostics["end_law_outside"] = law_outside_box(end_law, grid if scale is None else solution.grid_at(T))
    warn_if_box_loses_mass(solution, "`p0`", start_is_law=hasattr(p0_law, "cell_average"), outflow_is_loss=False)
    return solution
