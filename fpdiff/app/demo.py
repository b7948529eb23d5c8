"""``fpdiff demo``: a one-minute tour of the solvers on a 1-D Gaussian mixture.

The forward Fokker–Planck equation against the exact mixture solution at
several resolutions, then the built-in experiment :data:`DEMO` — the reverse
gamma-family with the exact score, on the grid and with particles — run by
the same engine as ``fpdiff run`` (:mod:`fpdiff.app.runner`), which writes
``results.h5``; figures beside it.
"""

import multiprocessing
import os
import time

import numpy as np

from .experiment import BUILTINS, experiment_from_dict
from ..fv.reverse import solve_reverse
from ..fv.solve import solve_forward
from ..grid import Grid
from ..metrics import observed_order
from ..particles.solve import sample_reverse
from ..processes import OU
from ..scores.exact import ExactScore
from .figures import write_figures
from .files import read_results
from .runner import format_table, run_experiment

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


FORWARD_BOUNDS = (-10.0, 10.0)


def forward_table(resolutions=(200, 400, 800, 1600)):
    """Rows ``(cells, steps, L1 error vs exact, wall time)`` of forward solves at ``T``."""
    rows = []
    for cells in resolutions:
        grid = Grid([FORWARD_BOUNDS], cells)
        start = time.perf_counter()
        solution = solve_forward(PROCESS, grid, DATA, T)
        wall = time.perf_counter() - start
        exact = DATA.evolve(PROCESS, T).cell_average(grid)
        rows.append((cells, solution.diagnostics["steps"], grid.integrate(np.abs(solution.final - exact)), wall))
    return rows


def compile_density_kernels():
    """Two-step solves of the demo's kinds (forward, reverse at gamma 0 and 1), so that numba compiles their kernels.

    The first call of a kernel compiles it (or loads it from the on-disk
    cache): seconds on a new machine. Paying it here keeps the demo's wall
    times the solves' own. A small grid: the demo's grids are all below the
    threads' threshold (:func:`fpdiff._parallel.use_parallel`), so this
    compiles the serial variants their solves run, and no threaded one; and
    on the experiment's grid the gamma = 0 solve would take as many CFL
    sub-steps as the real one.
    """
    grid = Grid([FORWARD_BOUNDS], 16)
    solve_forward(PROCESS, grid, DATA, T, steps=2)
    for gamma in (0.0, 1.0):
        solve_reverse(PROCESS, grid, ExactScore(PROCESS, DATA), T, q0=DATA.evolve(PROCESS, T), gamma=gamma,
                      t_min=T_MIN, steps=2)


def compile_particle_kernels(particles):
    """A two-step particle solve of the demo's kind and size (the variants its particle tasks run, serial or
    threaded), so that numba compiles (and caches) those particle kernels."""
    start = DATA.evolve(PROCESS, T).sample(particles, seed=0)
    sample_reverse(PROCESS, ExactScore(PROCESS, DATA), start, T, t_min=T_MIN, steps=2)


def run_demo(out, particles=100_000, progress=True):
    """Print the demo's tables; write ``results.h5`` and figures into the folder ``out``."""
    # On a fresh install most of the demo's time is numba compiling kernels once. The particle kernels compile
    # in a second process (into the on-disk cache) while this one compiles the grid kernels: on 2 cores that
    # hides about 20 s. It is only a warm-up: if it fails, the particle tasks compile for themselves.
    warm_up = multiprocessing.get_context("spawn").Process(target=compile_particle_kernels, args=(particles,),
                                                           daemon=True)
    warm_up.start()
    from ..plot import convergence_figure, density_evolution_figure, save_figure  # matplotlib: only here

    print(f"fpdiff demo: {PROCESS!r}, p0 = {BUILTINS['bimodal-1d'][0]}, T = {T}")
    compiling = time.perf_counter()
    compile_density_kernels()
    compile_seconds = time.perf_counter() - compiling
    print("\nForward Fokker-Planck (finite volumes, TR-BDF2) against the exact mixture solution")
    print(f"{'cells':>7} {'steps':>6} {'L1 error':>10} {'wall [s]':>9}")
    rows = forward_table()
    for cells, steps, error, wall in rows:
        print(f"{cells:>7} {steps:>6} {error:>10.2e} {wall:>9.4f}")
    widths = [(FORWARD_BOUNDS[1] - FORWARD_BOUNDS[0]) / r[0] for r in rows]
    order = observed_order(widths, [r[2] for r in rows])
    print(f"observed order in h: {order:.2f}")
    os.makedirs(out, exist_ok=True)
    figure = save_figure(convergence_figure(
        {"forward FP, TR-BDF2 (default steps, dt ~ h)": (widths, [r[2] for r in rows])},
        xlabel="cell width h (x units)", ylabel="L1 error against the exact density at t = T"),
        os.path.join(out, "forward-convergence.png"))
    print(f"figure written: {figure}")

    compiling = time.perf_counter()
    warm_up.join()
    compile_particle_kernels(particles)  # loads what the warm-up process compiled into the cache
    compile_seconds += time.perf_counter() - compiling
    print(f"numba compilation and kernel loading: {compile_seconds:.1f} s (first use on a machine; cached on disk "
          "afterwards), kept out of the wall times")
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
    figure = save_figure(density_evolution_figure(solution, exact=DATA.evolve(PROCESS, T)),
                         os.path.join(out, "forward.png"))
    print(f"figure written: {figure}")
