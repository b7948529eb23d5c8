"""``fpdiff demo``: a one-minute tour of the solvers on a 1-D Gaussian mixture."""

import os
import time

import numpy as np

from .distributions import GaussianMixture
from .fv import solve_forward
from .grid import Grid
from .processes import OU

#: the demo's data: the bimodal mixture of the foundation tests
DATA = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
PROCESS = OU(beta=1.0, sigma=2**0.5)
T = 1.0


def forward_table(resolutions=(200, 400, 800, 1600)):
    """Rows ``(cells, steps, L1 error vs exact, wall time)`` of forward solves at ``T``."""
    rows = []
    for cells in resolutions:
        grid = Grid([(-10.0, 10.0)], cells)
        start = time.perf_counter()
        solution = solve_forward(PROCESS, grid, DATA, T)
        wall = time.perf_counter() - start
        exact = DATA.evolve(PROCESS, T).cell_average(grid)
        rows.append((cells, solution.diagnostics["steps"], grid.integrate(np.abs(solution.final - exact)), wall))
    return rows


def run_demo(out):
    """Print the demo's tables and write its figures into the folder ``out``."""
    os.makedirs(out, exist_ok=True)
    print(f"fpdiff demo: {PROCESS!r}, p0 = 0.5 N(-2, 0.3^2) + 0.5 N(2, 0.5^2), T = {T}")
    print("\nForward Fokker-Planck (finite volumes, TR-BDF2) against the exact mixture solution")
    print(f"{'cells':>7} {'steps':>6} {'L1 error':>10} {'wall [s]':>9}")
    rows = forward_table()
    for cells, steps, error, wall in rows:
        print(f"{cells:>7} {steps:>6} {error:>10.2e} {wall:>9.4f}")
    order = np.polyfit(np.log([r[0] for r in rows]), np.log([r[2] for r in rows]), 1)[0]
    print(f"observed order in h: {-order:.2f}")

    from .plot import density_evolution_figure

    grid = Grid([(-6.0, 6.0)], 600)
    solution = solve_forward(PROCESS, grid, DATA, T, save_at=np.linspace(0, T, 41))
    path = os.path.join(out, "forward.png")
    density_evolution_figure(solution, exact=DATA.evolve(PROCESS, T)).savefig(path, dpi=120)
    print(f"\nfigure written: {path}")
