"""``fpdiff demo``: a one-minute tour of the solvers on a 1-D Gaussian mixture."""

import os
import time

import numpy as np

from .distributions import GaussianMixture
from .fv import solve_forward, solve_reverse
from .grid import Grid
from .particles import sample_reverse
from .processes import OU
from .scores import ExactScore

#: the demo's data: the bimodal mixture of the foundation tests
DATA = GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
PROCESS = OU(beta=1.0, sigma=2**0.5)
T = 1.0
T_MIN = 1e-3
GAMMAS = (0.0, 0.5, 1.0, 2.0)


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


def reverse_table(cells=800, particles=100_000):
    """Rows per gamma: L1 grid vs exact, W1 particles vs exact, TV grid vs particles, wall times."""
    from scipy.stats import wasserstein_distance

    grid = Grid([(-10.0, 10.0)], cells)
    score = ExactScore(PROCESS, DATA)
    exact = DATA.evolve(PROCESS, T_MIN)
    exact_cells = exact.cell_average(grid)
    reference = exact.sample(particles, seed=1)[:, 0]
    rows = []
    for gamma in GAMMAS:
        start = time.perf_counter()
        density = solve_reverse(PROCESS, grid, score, T, q0=DATA.evolve(PROCESS, T), gamma=gamma, t_min=T_MIN)
        grid_time = time.perf_counter() - start
        start = time.perf_counter()
        start_points = DATA.evolve(PROCESS, T).sample(particles, seed=2)  # from p_T, as the grid's q0
        samples = sample_reverse(PROCESS, score, start_points, T, gamma=gamma, t_min=T_MIN, steps=200, seed=0).samples
        particle_time = time.perf_counter() - start
        histogram = np.histogram(samples[:, 0], bins=grid.edges[0])[0] / (particles * grid.cell_volume)
        rows.append((
            gamma,
            grid.integrate(np.abs(density.final - exact_cells)),
            wasserstein_distance(samples[:, 0], reference),
            0.5 * grid.integrate(np.abs(density.final - histogram)),
            grid_time,
            particle_time,
        ))
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

    print(f"\nReverse (generative) gamma-family from p_T to t_min = {T_MIN}, exact score: "
          "grid (800 cells) and 10^5 particles ('ei', 200 steps)")
    print(f"{'gamma':>6} {'L1 grid':>10} {'W1 part.':>10} {'TV grid-part.':>14} {'grid [s]':>9} {'part. [s]':>9}")
    for gamma, l1, w1, tv, grid_time, particle_time in reverse_table():
        print(f"{gamma:>6.1f} {l1:>10.2e} {w1:>10.2e} {tv:>14.2e} {grid_time:>9.3f} {particle_time:>9.3f}")
    print("(W1 includes the Monte-Carlo floor of 10^5 samples, ~5e-3; TV grid-particles the histogram noise, ~3e-2)")

    from .plot import density_evolution_figure

    grid = Grid([(-6.0, 6.0)], 600)
    solution = solve_forward(PROCESS, grid, DATA, T, save_at=np.linspace(0, T, 41))
    path = os.path.join(out, "forward.png")
    density_evolution_figure(solution, exact=DATA.evolve(PROCESS, T)).savefig(path, dpi=120)
    print(f"\nfigure written: {path}")
