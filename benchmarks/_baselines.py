"""scipy.sparse baselines: the same Scharfetter–Gummel operator, assembled once, factorised once by splu.

What a careful user would write with SciPy alone for the forward OU problem
``dp/dt = d/dx_k (beta x_k p) + D laplace p`` (no-flux boundaries): the
1-D SG matrix of every axis from :func:`fpdiff.fv._reference.flux_weights`
(vectorised numpy), the d-D operator as the Kronecker sum of the axes
(unsplit: the OU drift along axis k depends on x_k only), then
``splu(I - dt A)`` once (backward Euler) or ``splu(I - dt/2 A)`` with the
explicit half ``I + dt/2 A`` (Crank–Nicolson) and ``steps`` triangular solves.
The whole script is timed: assembly, factorisation and solves.
"""

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from fpdiff.fv._reference import flux_weights


def sg_matrix(grid, beta, diffusion):
    """The unsplit SG operator A (CSC) of the forward OU problem on ``grid`` (C order, like fpdiff arrays)."""
    axes = []
    for k in range(grid.ndim):
        wl, wr = flux_weights(-beta * grid.edges[k], diffusion, grid.spacing[k])
        axes.append(sp.diags([wl[1:-1], -(wr[:-1] + wl[1:]), wr[1:-1]], [-1, 0, 1], format="csr"))
    total = None
    for k, a in enumerate(axes):
        # identity on every other axis: kron(I_before, A_k, I_after)
        left = sp.identity(int(np.prod(grid.shape[:k])), format="csr")
        right = sp.identity(int(np.prod(grid.shape[k + 1:])), format="csr")
        term = sp.kron(sp.kron(left, a, format="csr"), right, format="csr")
        total = term if total is None else total + term
    return total.tocsc()


def splu_script(grid, p0, T, steps, beta=1.0, diffusion=1.0, scheme="be"):
    """Run the baseline; returns ``(final density, wall time, factorisation time)``."""
    start = time.perf_counter()
    a = sg_matrix(grid, beta, diffusion)
    dt = T / steps
    identity = sp.identity(a.shape[0], format="csc")
    if scheme == "be":
        lu = sla.splu((identity - dt * a).tocsc())
        explicit = None
    else:
        lu = sla.splu((identity - 0.5 * dt * a).tocsc())
        explicit = (identity + 0.5 * dt * a).tocsr()
    factored = time.perf_counter() - start
    p = np.asarray(p0, dtype=np.float64).ravel().copy()
    for _ in range(steps):
        p = lu.solve(p if explicit is None else explicit @ p)
    return p.reshape(grid.shape), time.perf_counter() - start, factored
