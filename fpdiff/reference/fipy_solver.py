r"""FiPy reference solver of the forward Fokker–Planck equation, for cross-checks and benchmarks.

This module is *not* a production solver: it exists so that fpdiff's own
finite-volume solver (:func:`fpdiff.solve_forward`) can be compared with an
independent, widely used finite-volume code (FiPy, Guyer, Wheeler & Warren
2009, Comput. Sci. Eng. 11(3)) on the same mesh and the same time steps, in
the tests (``tests/test_fipy_reference.py``) and in ``benchmarks/``.

FiPy is imported lazily, inside :func:`solve_forward_fipy` (importing it takes
about half a second and FiPy is only needed here), so importing
:mod:`fpdiff.reference` is cheap.

Conventions verified in the tests:

- FiPy numbers the cells of a Cartesian grid with x fastest
  (``id = i + nx j + nx ny k``), i.e. Fortran order of an ``(nx, ny, nz)``
  array, while fpdiff arrays are C-ordered with axis ``k`` = coordinate ``k``
  (``meshgrid(..., indexing="ij")``). A grid array ``p`` therefore enters
  FiPy as ``p.ravel(order="F")`` and comes back as
  ``values.reshape(grid.shape, order="F")``.
- FiPy writes a convection–diffusion equation as
  ``TransientTerm() + ConvectionTerm(u) == DiffusionTerm(D)``, i.e.
  :math:`\partial_t p + \nabla\cdot(u p) = \nabla\cdot(D \nabla p)`. The
  forward FP equation has :math:`u = -\beta(t) x` (the SDE drift).
- FiPy's default boundary condition (no constraint on exterior faces) is
  zero flux, fpdiff's ``"no-flux"``.
"""

import time

import numpy as np

from .._validation import as_float, as_int
from ..errors import InputError
from ..fv.solve import check_common, initial_density
from ..timegrid import merge_save_times
from ..processes.base import check_process
from ..solution import DensitySolution


def _fipy_mesh(fipy, grid):
    """The FiPy uniform mesh with the cells of ``grid`` (same spacing, count and origin)."""
    lows = [lo for lo, _ in grid.bounds]
    origin = tuple((lo,) for lo in lows)
    if grid.ndim == 1:
        (dx,), (nx,) = grid.spacing, grid.shape
        mesh = fipy.Grid1D(dx=dx, nx=nx)
    elif grid.ndim == 2:
        (dx, dy), (nx, ny) = grid.spacing, grid.shape
        mesh = fipy.Grid2D(dx=dx, dy=dy, nx=nx, ny=ny)
    else:
        (dx, dy, dz), (nx, ny, nz) = grid.spacing, grid.shape
        mesh = fipy.Grid3D(dx=dx, dy=dy, dz=dz, nx=nx, ny=ny, nz=nz)
    return mesh + origin


def _equation(fipy, mesh, rate, diffusion):
    """``TransientTerm() + ExponentialConvectionTerm(u) == DiffusionTerm(D)`` with ``u = -rate x``.

    Built afresh whenever the coefficients change: FiPy 4.0.3 caches the
    convection stencil's Péclet number with the *diffusion* coefficient of
    the first solve, so updating a ``Variable`` coefficient in place gives
    wrong weights afterwards (reported as usnistgov/fipy#1223; verified here
    with a time-dependent VP process, see tests/test_fipy_reference.py).
    """
    velocity = -rate * mesh.faceCenters  # rank-1 FaceVariable on every face
    return fipy.TransientTerm() + fipy.ExponentialConvectionTerm(coeff=velocity) == fipy.DiffusionTerm(
        coeff=diffusion
    )


def to_fipy_order(values, grid):
    """Flatten a grid array (C order, axis k = coordinate k) into FiPy's cell order (x fastest)."""
    return np.asarray(values, dtype=np.float64).reshape(grid.shape).ravel(order="F")


def from_fipy_order(values, grid):
    """Inverse of :func:`to_fipy_order`: FiPy cell values to a ``grid.shape`` array."""
    return np.array(values, dtype=np.float64).reshape(grid.shape, order="F").copy(order="C")


def solve_forward_fipy(process, grid, p0, T, steps, save_at=None):
    r"""Solve the forward Fokker–Planck equation with FiPy (reference solver, backward Euler).

    .. math::  \partial_t p = \nabla\cdot(\beta(t)\, x\, p) + \tfrac{\sigma(t)^2}{2} \Delta p,
               \qquad p(0) = p_0, \quad t \in [0, T],

    with zero flux through the boundary, written for FiPy as

    .. math::  \partial_t p + \nabla\cdot(u\, p) = \nabla\cdot(D \nabla p),
               \qquad u = -\beta(t)\, x, \quad D = \sigma(t)^2 / 2,

    i.e. ``TransientTerm() + ExponentialConvectionTerm(u) == DiffusionTerm(D)``
    on the same cells as ``grid``. FiPy's exponential scheme (Patankar 1980,
    ch. 5) combined with the diffusion term is the Scharfetter–Gummel flux
    that fpdiff uses (FiPy switches to a central average where the cell
    Péclet number is below 1e-3), so in 1-D this solver and
    ``fpdiff.solve_forward(..., method="be")`` agree to round-off. Each step
    is backward Euler with the coefficients evaluated at the end of the step
    (the equation is rebuilt every step for a time-dependent process, see
    ``_equation``), solved with FiPy's sparse LU solver. In 2-D and 3-D
    the step is *unsplit* (one sparse solve over all cells), whereas fpdiff's
    ``method="be"`` splits by dimension: the two then differ by the O(dt)
    splitting error.

    FiPy is imported inside this function (the import takes about 0.5 s);
    ``diagnostics["wall_time"]`` counts the mesh and term set-up and the
    time stepping, not the import.

    Parameters
    ----------
    process : LinearProcess
        ``fd.OU``, ``fd.VP``, ``fd.VE`` or ``fd.Brownian``.
    grid : Grid
        A grid with ``"no-flux"`` boundaries on every axis.
    p0 : array of shape ``grid.shape`` or distribution
        Initial cell densities, or a distribution (``grid.cell_average``).
    T : float
        Final time, > 0.
    steps : int
        Number of uniform backward-Euler steps on ``[0, T]`` (save times are
        merged into the step boundaries, as in :func:`fpdiff.solve_forward`).
    save_at : sequence of float, optional
        Times in ``[0, T]`` to save (default ``[0, T]``).

    Returns
    -------
    DensitySolution
        Snapshots at ``save_at``; ``diagnostics`` holds ``method`` (``"fipy-be"``),
        ``steps``, ``wall_time`` (s), ``mass_drift`` and ``min_density``.

    Raises
    ------
    InputError
        For a bad argument (named in the message), or an absorbing grid.
    """
    check_process(process)
    T = as_float(T, "T", positive=True)
    steps = as_int(steps, "steps", minimum=1)
    _, _, save_at = check_common(grid, T, steps, "be", save_at, (0.0, T))
    if any(b != "no-flux" for b in grid.boundary):
        raise InputError(f"the FiPy reference solver supports only 'no-flux' boundaries; got {grid.boundary}")
    p0 = initial_density(grid, p0, "p0")
    times, saved = merge_save_times(np.linspace(0.0, T, steps + 1), save_at)

    import fipy  # lazily: slow to import, and only needed here

    start = time.perf_counter()
    mesh = _fipy_mesh(fipy, grid)
    density = fipy.CellVariable(mesh=mesh, value=to_fipy_order(p0, grid))
    equation = None
    solver = fipy.LinearLUSolver(tolerance=1e-13, iterations=10)

    mass0 = grid.integrate(p0)
    snapshots = [p0.copy()] if saved[0] else []
    min_density = float(p0.min())
    mass_drift = 0.0
    for n in range(len(times) - 1):
        t_end = float(times[n + 1])
        if equation is None or not process.time_homogeneous:
            rate, diffusion = float(process.drift_rate(t_end)), 0.5 * float(process.diffusion(t_end)) ** 2
            equation = _equation(fipy, mesh, rate, diffusion)  # coefficients at the end of the step
        equation.solve(var=density, dt=t_end - float(times[n]), solver=solver)
        values = density.value
        min_density = min(min_density, float(values.min()))
        mass = float(values.sum()) * grid.cell_volume
        mass_drift = max(mass_drift, abs(mass - mass0) / mass0)
        if saved[n + 1]:
            snapshots.append(from_fipy_order(values, grid))
    diagnostics = {
        "method": "fipy-be",
        "steps": len(times) - 1,
        "wall_time": time.perf_counter() - start,
        "mass_drift": mass_drift,
        "min_density": min_density,
        "process": process.to_dict(),
    }
    return DensitySolution(grid, times[saved], np.array(snapshots), diagnostics)
