"""``fpdiff demo``: a one-minute tour of the solvers on a 1-D Gaussian mixture.

The forward Fokker–Planck equation against the exact mixture solution at
several resolutions, then the built-in experiment :data:`DEMO` — the reverse
gamma-family with the exact score, on the grid and with particles — run by
the same engine as ``fpdiff run`` (:mod:`fpdiff.runner`), which writes
``results.h5``; figures beside it.
"""

import os
import time

import numpy as np

from .experiment import BUILTINS, experiment_from_dict
from .fv import solve_forward
from .grid import Grid
from .processes import OU

PROCESS = OU(beta=1.0, sigma=2**0.5)
DATA = BUILTINS["bimodal-1d"][1]()
T = 1.0
T_MIN = 1e-3

#: the demo's experiment, as an experiment file would give it
DEMO = {
    "process": {"kind": "OU", "beta": 1.0, "sigma": 2**0.5},
    "data": {"kind": "builtin", "name": "bimodal-1d"},
    "grid": {"bounds": [[-10.0, 10.0]], "cells": [800]},
    "time": {"T": T, "t_min": T_MIN, "particle_steps": 200},
    "reverse": {"gammas": [0.0, 0.5, 1.0, 2.0], "start": "data"},
    "score": {"source": "exact"},
    "views": {"density": True, "particles": 100_000, "scheme": "ei"},
}


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


def run_demo(out, particles=100_000, progress=True):
    """Print the demo's tables; write ``results.h5`` and figures into the folder ``out``."""
    from .commands import write_figures
    from .plot import density_evolution_figure
    from .runner import format_table, read_results, run_experiment

    print(f"fpdiff demo: {PROCESS!r}, p0 = {BUILTINS['bimodal-1d'][0]}, T = {T}")
    print("\nForward Fokker-Planck (finite volumes, TR-BDF2) against the exact mixture solution")
    print(f"{'cells':>7} {'steps':>6} {'L1 error':>10} {'wall [s]':>9}")
    rows = forward_table()
    for cells, steps, error, wall in rows:
        print(f"{cells:>7} {steps:>6} {error:>10.2e} {wall:>9.4f}")
    order = np.polyfit(np.log([r[0] for r in rows]), np.log([r[2] for r in rows]), 1)[0]
    print(f"observed order in h: {-order:.2f}")

    config = dict(DEMO, views=dict(DEMO["views"], particles=particles), output={"folder": os.path.abspath(out)})
    experiment = experiment_from_dict(config)
    print(f"\nReverse (generative) gamma-family from p_T to t_min = {T_MIN}, exact score: grid "
          f"({experiment.grid.shape[0]} cells) and {particles} particles ('ei', {experiment.particle_steps} steps)")
    path = run_experiment(experiment, resume=True, progress=progress)
    print(format_table(read_results(path)[1]))
    print("(W1 includes the Monte-Carlo error of the samples; TV grid-particles is judged against its floor,\n"
          " the expected TV of a histogram of as many exact samples)")
    print(f"\nresults written: {path}")
    for figure in write_figures(path, out):
        print(f"figure written: {figure}")
    grid = Grid([(-6.0, 6.0)], 600)
    solution = solve_forward(PROCESS, grid, DATA, T, save_at=np.linspace(0, T, 41))
    figure = os.path.join(out, "forward.png")
    density_evolution_figure(solution, exact=DATA.evolve(PROCESS, T)).savefig(figure, dpi=120)
    print(f"figure written: {figure}")
