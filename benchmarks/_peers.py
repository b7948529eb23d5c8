"""Peer tools of the work-precision study, run in their own virtual environment (never fpdiff's).

Called by ``bench_density.py`` as ``<peer python> _peers.py TOOL N PARAM``; prints one JSON line
``{"first": s, "warm": s, "l1": e, ...}``. The problem: forward OU (beta = 1, sigma = sqrt 2,
so dp/dt = d/dx (x p) + p'') from p0 = 0.5 N(-2, 0.09) + 0.5 N(2, 0.25) to t = 1 on [-10, 10];
each tool's L1 error is against the exact density at its own nodes (both are point-value
schemes), ``sum |p - p_exact| h``.

- ``pde`` (py-pde): ``PDE({"p": "p + x * d_dx(p) + laplace(p)"})`` on a cell-centred
  CartesianGrid of N cells, zero-derivative boundaries (the density is ~e^-50 there), solver
  ``"scipy"`` = ``scipy.integrate.solve_ivp(method="BDF")`` with ``rtol = PARAM``,
  ``atol = 1e-12`` and the tridiagonal ``jac_sparsity`` (without it BDF estimates a dense
  Jacobian and one solve takes ~10 s at N = 1600). py-pde's own implicit and Crank–Nicolson
  solvers do not converge at dt >= dx^2/4 (issue 8).
- ``fplanck``: ``fokker_planck(temperature=1/k_B, drag=1, extent=20, resolution=20/N,
  boundary=reflecting, force=-x)`` (so D = 1), ``propagate`` (``expm_multiply``, exact in
  time) on its node grid shifted to [-10, 10). NumPy 2 removed ``np.product``, which fplanck
  calls: patched to ``np.prod``.
"""

import json
import sys
import time

import numpy as np

MIXTURE = ((0.5, -2.0, 0.09), (0.5, 2.0, 0.25))


def exact(x, t):
    """Density at time t of the OU-noised mixture (mean m e^-t, variance v e^-2t + 1 - e^-2t)."""
    a = np.exp(-t)
    out = np.zeros_like(x)
    for weight, mean, var in MIXTURE:
        s2 = var * a * a + 1.0 - a * a
        out += weight * np.exp(-((x - mean * a) ** 2) / (2.0 * s2)) / np.sqrt(2.0 * np.pi * s2)
    return out


def run_pde(n, rtol):
    import pde
    import scipy.sparse as sp

    grid = pde.CartesianGrid([[-10.0, 10.0]], [n])
    x = grid.axes_coords[0]
    state = pde.ScalarField(grid, exact(x, 0.0))
    equation = pde.PDE({"p": "p + x * d_dx(p) + laplace(p)"}, bc={"derivative": 0})
    sparsity = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1])

    def solve():
        return equation.solve(state, t_range=1.0, solver="scipy", method="BDF", rtol=rtol, atol=1e-12,
                              jac_sparsity=sparsity, tracker=None).data

    return x, 20.0 / n, solve, pde.__version__


def run_fplanck(n, _):
    np.product = np.prod  # removed in NumPy 2; fplanck still calls it
    import fplanck
    from scipy import constants

    h = 20.0 / n
    solver = fplanck.fokker_planck(temperature=1 / constants.k, drag=1.0, extent=20.0, resolution=h,
                                   boundary=fplanck.boundary.reflecting, force=lambda x: -x)
    x = solver.grid[0]  # cell centres of [-10, 10]

    def solve():  # the matrix is built in the constructor: time it too, it is part of the call
        return solver.propagate(lambda x: exact(x, 0.0), 1.0) / h  # normalised to mass per node

    return x, h, solve, getattr(fplanck, "__version__", "?")


def main():
    tool, n, param = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    start = time.perf_counter()
    x, h, solve, version = (run_pde if tool == "pde" else run_fplanck)(n, param)
    values = solve()
    first = time.perf_counter() - start
    warm = first
    repeats = 5 if tool == "pde" else 0  # fplanck: nothing compiles, one call is the warm time too
    for _ in range(repeats):
        start = time.perf_counter()
        values = solve()
        warm = min(warm, time.perf_counter() - start)
    l1 = float(np.abs(values - exact(x, 1.0)).sum() * h)
    print(json.dumps({"first": first, "warm": warm, "l1": l1, "version": version}))


if __name__ == "__main__":
    main()
