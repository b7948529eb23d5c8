r"""Time steppers of the density view, in a registry keyed by method name.

Each stepper advances :math:`\partial_\tau p = L(\tau) p` over one step
``[tau, tau + dt]`` and declares its ``order`` in time. Implicit steppers
split the operator by dimension (:math:`L = \sum_k L_k`) so that every solve
is tridiagonal along grid lines and a step costs O(cells).
"""

import math


class Stepper:
    """Solver contract: ``name``, ``order``, ``implicit``, ``step(operator, p, tau, dt) -> (p, substeps)``.

    ``step`` returns a new array and leaves ``p`` unchanged. ``transport_only``
    steppers solve equations without diffusion only (``gamma = 0``).
    """

    name = None
    order = None
    implicit = None
    transport_only = False

    def step(self, operator, p, tau, dt):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}, order {self.order}>"


class BackwardEuler(Stepper):
    r"""Backward Euler with Lie splitting: :math:`(I - \Delta\tau L_k(\tau_{n+1})) p \leftarrow p`, k = 0, 1, ...

    First order. Each solve has an M-matrix, so densities stay non-negative
    and mass is conserved for every step size.
    """

    name = "be"
    order = 1
    implicit = True

    def step(self, operator, p, tau, dt):
        p = p.copy()  # the solves work in place; the caller's array is kept (a step may be retried)
        for axis in range(operator.grid.ndim):
            p = operator.solve(axis, tau + dt, dt, p)
        return p, 1


def strang_schedule(ndim):
    """Symmetric (Strang) splitting: ``(axis, start, length)`` fractions of a step.

    ``ndim = 2`` gives x(dt/2), y(dt), x(dt/2) — second order when each
    sub-flow is integrated to second order over its own time interval.
    """
    first = [(axis, 0.0, 0.5) for axis in range(ndim - 1)]
    last = [(axis, 0.5, 0.5) for axis in reversed(range(ndim - 1))]
    return first + [(ndim - 1, 0.0, 1.0)] + last


class TRBDF2(Stepper):
    r"""TR-BDF2 (Bank et al. 1985; Hosea & Shampine 1996), second order and L-stable.

    With :math:`\gamma = 2 - \sqrt 2` and :math:`d = \gamma/2`, a step of
    length :math:`h` is a trapezoidal stage to :math:`\tau + \gamma h` and a
    BDF2 stage to :math:`\tau + h`:

    .. math::
        (I - d h L_{n+\gamma}) p^* &= (I + d h L_n) p^n, \\
        (I - d h L_{n+1}) p^{n+1} &= \frac{p^* - (1-\gamma)^2 p^n}{\gamma(2-\gamma)}.

    In 2-D and 3-D each axis is stepped this way inside a Strang splitting.
    The trapezoidal stage is explicit in part, so unlike backward Euler the
    scheme can undershoot below zero at steps far beyond the accuracy limit;
    the solver checks for it.
    """

    name = "trbdf2"
    order = 2
    implicit = True
    GAMMA = 2.0 - math.sqrt(2.0)

    def step(self, operator, p, tau, dt):
        return _strang(self._axis_step, operator, p, tau, dt), 1

    def _axis_step(self, operator, axis, p, tau, dt):
        g = self.GAMMA
        stage = _trapezoidal(operator, axis, p, tau, g * dt)
        denominator = g * (2.0 - g)
        rhs = stage / denominator - ((1.0 - g) ** 2 / denominator) * p
        return operator.solve(axis, tau + dt, 0.5 * g * dt, rhs)


class CrankNicolson(Stepper):
    r"""Crank–Nicolson (the trapezoidal rule), second order and A-stable:

    .. math::  (I - \tfrac h2 L_{n+1}) p^{n+1} = (I + \tfrac h2 L_n) p^n,

    one tridiagonal solve per axis and step (TR-BDF2 takes two), inside a
    Strang splitting in 2-D and 3-D. It is not L-stable: modes far beyond the
    accuracy limit of the step are multiplied by a factor near -1 per step
    instead of being removed, so rough data (a point mass, a step) rings and
    undershoots; the solver halves such steps until the density is
    non-negative, as for TR-BDF2, which costs steps: use ``"trbdf2"`` there.
    For smooth data it reaches a given error with about 30% fewer
    tridiagonal solves than TR-BDF2 (the 1-D work–precision study of
    ``benchmarks/bench_density.py``).
    """

    name = "cn"
    order = 2
    implicit = True

    def step(self, operator, p, tau, dt):
        return _strang(_trapezoidal, operator, p, tau, dt), 1


def _strang(axis_step, operator, p, tau, dt):
    """``axis_step(operator, axis, p, tau, dt)`` over the Strang schedule of one step."""
    for axis, start, length in strang_schedule(operator.grid.ndim):
        p = axis_step(operator, axis, p, tau + start * dt, length * dt)
    return p


def _trapezoidal(operator, axis, p, tau, dt):
    """One trapezoidal step along ``axis``: ``(I - dt/2 L(tau + dt)) p' = (I + dt/2 L(tau)) p`` (``p`` is kept)."""
    half = 0.5 * dt
    stage = p.copy()
    operator.add(axis, tau, half, p, stage)
    return operator.solve(axis, tau + dt, half, stage)


class SSPRK3(Stepper):
    r"""Explicit three-stage strong-stability-preserving Runge–Kutta (Shu & Osher 1988).

    .. math::
        p^{(1)} &= p^n + \Delta L(\tau) p^n, \\
        p^{(2)} &= \tfrac34 p^n + \tfrac14 \left(p^{(1)} + \Delta L(\tau + \Delta) p^{(1)}\right), \\
        p^{n+1} &= \tfrac13 p^n + \tfrac23 \left(p^{(2)} + \Delta L(\tau + \Delta/2) p^{(2)}\right).

    Every stage is a forward-Euler step, which keeps densities non-negative
    when :math:`\Delta \max_n(-L_{nn}) \le 1`; each requested step is cut
    into equal sub-steps with ``CFL = 0.9`` of that bound (the rate measured at
    both ends of the step), so the stable step is chosen automatically.
    """

    name = "ssprk3"
    order = 3
    implicit = False
    CFL = 0.9

    def step(self, operator, p, tau, dt):
        rate = max(operator.max_outflow_rate(tau), operator.max_outflow_rate(tau + dt))
        substeps = max(1, math.ceil(dt * rate / self.CFL))
        sub = dt / substeps
        for n in range(substeps):
            p = self._substep(operator, p, tau + n * sub, sub)
        return p, substeps

    @staticmethod
    def _substep(operator, p, tau, dt):
        first = p.copy()
        operator.add_all(tau, dt, p, first)
        second = first.copy()
        operator.add_all(tau + dt, dt, first, second)
        second = 0.75 * p + 0.25 * second
        third = second.copy()
        operator.add_all(tau + 0.5 * dt, dt, second, third)
        return p / 3.0 + (2.0 / 3.0) * third


class SemiLagrangian(Stepper):
    r"""Flux-form semi-Lagrangian transport (FFSL; Lin & Rood 1996), for pure transport (``gamma = 0``) only.

    Each axis moves the mass between the departure points of its faces onto
    the cells (:meth:`fpdiff.fv.transport.TransportOperator.remap`: positive
    PPM reconstruction, third-order back-traces of the characteristics), in
    a Strang splitting in 2-D and 3-D: second order (observed 1.9 to 3 over
    100-800 cells in 1-D, 2.5 over 32^2-128^2 in 2-D). Mass is conserved to round-off and densities stay
    non-negative. No CFL number binds the step: it is cut only where the
    drift's slope :math:`L` along an axis gives :math:`\Delta L > 1/2`
    (the departure points of neighbouring faces would cross); at the
    default steps that is rare. The step-doubling estimate of ``rtol`` does
    not see the time error of such forced sub-steps (a step and its two
    halves are cut at the same times), as for SSP-RK3's CFL sub-steps. Runs
    on the transport operator (``flux="muscl"``, whose limited fluxes it does
    not use).
    """

    name = "ffsl"
    order = 2
    implicit = False
    transport_only = True

    def step(self, operator, p, tau, dt):
        taken = 0
        for axis, start, length in strang_schedule(operator.grid.ndim):
            p, n = operator.remap(axis, tau, dt, p, (start, length))
            taken = max(taken, n)
        return p, taken


METHODS = {stepper.name: stepper for stepper in (TRBDF2(), CrankNicolson(), BackwardEuler(), SSPRK3(),
                                                 SemiLagrangian())}
DEFAULT_METHOD = "trbdf2"
