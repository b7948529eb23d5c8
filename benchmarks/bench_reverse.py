"""Reverse (gamma-family) density solves with the exact score: time, steps, L1 error; work-precision by time grid.

Usage: ``PYTHONPATH=. python benchmarks/bench_reverse.py [--quick] [--write]``
(``--write`` records the tables in RESULTS.md, section "Reverse solver").
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from _machine import describe, write_section  # noqa: E402

SECTION = "## Reverse solver"
RESULTS = HERE / "RESULTS.md"
OU = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.25, 0.36], [0.49, 0.25]])
T, T_MIN = 1.0, 1e-3
#: the end of the reverse-against-forward table (:func:`against_forward`)
END = 0.05


def run(mixture, grid, gamma, **kwargs):
    """Best-of-2 wall time (after a warm-up) and the L1 error at t_min of one reverse solve."""
    score, q0 = fd.ExactScore(OU, mixture), mixture.evolve(OU, T)
    exact = mixture.evolve(OU, T_MIN).cell_average(grid)
    fd.solve_reverse(OU, grid, score, T, q0=q0, gamma=gamma, t_min=T_MIN, steps=4)  # compile / warm caches
    best = np.inf
    for _ in range(2):
        start = time.perf_counter()
        solution = fd.solve_reverse(OU, grid, score, T, q0=q0, gamma=gamma, t_min=T_MIN, **kwargs)
        best = min(best, time.perf_counter() - start)
    diagnostics = solution.diagnostics
    return (best, diagnostics["substeps"], grid.integrate(np.abs(solution.final - exact)),
            f"{diagnostics['method']} ({diagnostics['flux']})")


class _GivenDrift(fd.Dynamics):
    """A non-autonomous dynamics whose face drifts are given arrays: a step's cost without the score."""

    def __init__(self, dynamics, grid, tau):
        super().__init__(dynamics.drift, dynamics.noise, dynamics.tau_end, autonomous=False)
        self._faces = [dynamics.face_drift(grid, tau, axis) for axis in range(grid.ndim)]
        self._diffusion = dynamics.diffusion_coefficient(tau)

    def face_drift(self, grid, tau, axis):
        return self._faces[axis]

    def diffusion_coefficient(self, tau):
        return self._diffusion


def score_cost(quick):
    """Score on faces (all axes, one time) against one TR-BDF2 transport step with given drifts, K = 1..8."""
    from fpdiff.dynamics import reverse_dynamics
    from fpdiff.fv.operator import FluxOperator
    from fpdiff.fv.steppers import METHODS

    rng = np.random.default_rng(8)
    grids = [fd.Grid([(-10, 10)], 3200), fd.Grid([(-6, 6)] * 2, 128 if quick else 256)]
    lines = ["| problem | cells | K | score on faces, all axes (ms) | TR-BDF2 step, drift given (ms) "
             "| score evaluations per step | score / step |", "|---|---|---:|---:|---:|---:|---:|"]
    for grid in grids:
        d = grid.ndim
        for k in (1, 2, 4, 8):
            mixture = fd.GaussianMixture(np.full(k, 1.0 / k), rng.uniform(-2, 2, size=(k, d)),
                                         rng.uniform(0.1, 0.5, size=(k, d)))
            score = fd.ExactScore(OU, mixture)
            dynamics = reverse_dynamics(OU, score, 1.0, T, T_MIN)
            tau = 0.3
            for axis in range(d):
                dynamics.face_drift(grid, tau, axis)
            faces, _ = min((_timed(lambda: [dynamics.face_drift(grid, tau, axis) for axis in range(d)])
                            for _ in range(5)), key=lambda r: r[0])
            operator = FluxOperator(_GivenDrift(dynamics, grid, tau), grid)
            p = grid.cell_average(mixture.evolve(OU, T))
            stepper = METHODS["trbdf2"]
            stepper.step(operator, p, tau, 1e-3)
            step, _ = min((_timed(lambda: stepper.step(operator, p, tau + rng.uniform(0, 1e-6), 1e-3))
                           for _ in range(5)), key=lambda r: r[0])
            real = fd.solve_reverse(OU, grid, score, T, q0=mixture.evolve(OU, T), gamma=1.0, t_min=T_MIN, steps=20)
            per_step = real.diagnostics["operator_evaluations"] / real.diagnostics["steps"] / d
            cells = "x".join(map(str, grid.shape))
            lines.append(f"| {d}-D | {cells} | {k} | {faces * 1e3:.3g} | {step * 1e3:.3g} | {per_step:.3g} | "
                         f"{faces / step:.2f} |")
            print(lines[-1], flush=True)
    return lines


def against_forward(quick, repeats=3):
    """Reverse against forward solve at equal grid, method and steps (gamma = 1, uniform steps), per score.

    The compiled reverse loop runs every score here; the stepper loop (the reverse solver before it, forced
    by a monitor) runs the Python loop of stages. Times are the process's CPU time (run with one numba
    thread, that is the work done, and other sessions' load inflates it less than the wall time). From T to
    END = 0.05 and back: nearer 0 the training points' law is a set of spikes narrower than a cell, where
    Crank-Nicolson (not L-stable) leaves negative mass whatever the loop.
    """
    from fpdiff.dynamics import forward_dynamics, reverse_dynamics
    from fpdiff.fv import reverse_loop
    from fpdiff.fv.solve import integrate_density

    reverse_loop.COMPILED_WORK = 0  # the quick sizes too: this table measures the loop
    rng = np.random.default_rng(3)
    cases = [(MIXTURE_1D, fd.Grid([(-10, 10)], 800 if quick else 3200), 320),
             (MIXTURE_2D, fd.Grid([(-6, 6)] * 2, 128 if quick else 256), 43)]
    lines = ["| problem | cells | method | steps | score | reverse loop | forward, CPU (s) | reverse, CPU (s) "
             "| reverse / forward |",
             "|---|---|---|---:|---|---|---:|---:|---:|"]
    for mixture, grid, steps in cases:
        d = grid.ndim
        points = rng.normal(size=(10, d))
        nodes = [np.linspace(lo, hi, n + 1) for (lo, hi), n in zip(grid.bounds, grid.shape)]
        scores = [("mixture", fd.ExactScore(OU, mixture)), ("10 training points", fd.EmpiricalScore(OU, points)),
                  ("tabulated", fd.tabulate_score(fd.ExactScore(OU, mixture), np.linspace(END, T, 21), nodes))]
        p0 = grid.cell_average(mixture.evolve(OU, END))
        for method in ("trbdf2", "cn", "be"):
            taus = np.linspace(0.0, T - END, steps + 1)
            saved = np.zeros(steps + 1, dtype=bool)
            saved[-1] = True
            forward = forward_dynamics(OU, T - END)
            integrate_density(forward, grid, p0, taus, saved, method)
            forward_time = min(_timed(lambda: integrate_density(forward, grid, p0, taus, saved, method),
                                      time.process_time)[0] for _ in range(repeats))
            for name, score in scores:
                dynamics = reverse_dynamics(OU, score, 1.0, T, END)
                q0 = grid.cell_average(score.distribution(T)) if hasattr(score, "distribution") else p0
                loops = [("compiled", None)]
                if name == "mixture":
                    loops.append(("stepper (before)", lambda p, t: None))
                for loop, monitor in loops:
                    def solve():
                        return integrate_density(dynamics, grid, q0, taus, saved, method, monitor=monitor)

                    solve()
                    wall = min(_timed(solve, time.process_time)[0] for _ in range(repeats if monitor is None else 1))
                    cells = "x".join(map(str, grid.shape))
                    lines.append(f"| {d}-D | {cells} | {method} | {steps} | {name} | {loop} | {forward_time:.3g} | "
                                 f"{wall:.3g} | {wall / forward_time:.1f} |")
                    print(lines[-1], flush=True)
    return lines


def step_anatomy(quick, repeats=20):
    """Where a TR-BDF2 step of the compiled reverse loop goes (one thread, CPU time): each piece of an entry
    timed alone on every work unit of its axis, times the number of such calls a step makes, against the
    whole loop's and the forward solve's time per step."""
    from fpdiff.dynamics import forward_dynamics, reverse_dynamics
    from fpdiff.fv import _fused, _reverse_loop, reverse_loop
    from fpdiff.fv.operator import FluxOperator
    from fpdiff.fv.solve import integrate_density

    reverse_loop.COMPILED_WORK = 0  # the quick sizes too

    def best(run):
        run()
        return min(_timed(run, time.process_time)[0] for _ in range(repeats))

    # calls per TR-BDF2 step: (face weights, factor and solve, explicit stage) per axis; 2-D is x/2, y, x/2
    per_step = {1: [(2, 2, 1)], 2: [(4, 4, 2), (2, 2, 1)]}
    cases = [(MIXTURE_1D, fd.Grid([(-10, 10)], 800 if quick else 3200), 320),
             (MIXTURE_2D, fd.Grid([(-6, 6)] * 2, 128 if quick else 256), 43)]
    lines = ["| problem | piece | axis | one call, all units (us) | calls per step | per step (us) "
             "| share of the step |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for mixture, grid, steps in cases:
        d, cells = grid.ndim, "x".join(map(str, grid.shape))
        dynamics = reverse_dynamics(OU, fd.ExactScore(OU, mixture), 1.0, T, END)
        operator = FluxOperator(dynamics, grid)
        taus = np.linspace(0.0, T - END, steps + 1)
        loop = reverse_loop.ReverseLoop("trbdf2", operator, taus, np.full(steps + 1, -1))
        p = grid.cell_average(mixture.evolve(OU, T)).ravel()
        sweep, stage = np.empty(grid.size), np.empty(grid.size)
        rows = []
        for axis in range(d):
            n_outer, n_cells, n_inner, kind, units, block = loop.layout[axis]
            faces = n_outer * (n_cells + 1) * n_inner
            points, drift = loop.face_points[axis, : faces * d], loop.values[axis, :faces]
            wl, wr = np.empty(faces), np.empty(faces)
            tables = (loop.face_weight, loop.face_score, loop.cross, loop.slices, loop.slice_rows, loop.slice_weights)
            j = 1
            if loop.separable:
                _reverse_loop.separable_tables(loop.kind, axis, j, 2, loop.log_coefficients, loop.centres,
                                               loop.centre_rows, loop.precisions, loop.alpha, loop.variance,
                                               loop.edges, loop.cell_centres, loop.layout, loop.face_weight,
                                               loop.face_score, loop.cross, loop.factor)

            def weights():
                for unit in range(units):
                    _reverse_loop._unit_weights(
                        loop.kind, points, drift, d, axis, j, 2, loop.separable, tables, loop.log_coefficients,
                        loop.centres, loop.centre_rows, loop.precisions, loop.alpha, loop.variance, loop.beta,
                        loop.weight, loop.diffusion, grid.spacing[axis], loop.edges, False, False, wl, wr, n_outer,
                        n_cells, n_inner, kind, unit, block)

            def solve():
                x = p.copy()
                for unit in range(units):
                    _reverse_loop._factor_solve_unit(wl, wr, 1e-3, x, sweep, n_outer, n_cells, n_inner, kind, unit,
                                                     block)

            def explicit():
                for unit in range(units):
                    _fused._explicit_unit(wl, wr, 1e-3, p, stage, n_outer, n_cells, n_inner, kind, unit, block,
                                          False)

            weights()
            for piece, run, count in zip(("face score and SG weights", "factor and solve (with a copy)",
                                          "explicit stage"), (weights, solve, explicit), per_step[d][axis]):
                rows.append((piece, axis, best(run), count))
        saved = np.zeros(steps + 1, dtype=bool)
        saved[-1] = True
        q0 = grid.cell_average(mixture.evolve(OU, T))
        whole = best(lambda: integrate_density(dynamics, grid, q0, taus, saved, "trbdf2")) / steps
        forward = forward_dynamics(OU, T - END)
        p0 = grid.cell_average(mixture.evolve(OU, END))
        forward_step = best(lambda: integrate_density(forward, grid, p0, taus, saved, "trbdf2")) / steps
        for piece, axis, seconds, count in rows:
            lines.append(f"| {d}-D {cells} | {piece} | {axis} | {seconds * 1e6:.1f} | {count} | "
                         f"{seconds * count * 1e6:.1f} | {seconds * count / whole:.0%} |")
        lines.append(f"| {d}-D {cells} | **whole step** (the loop's time / steps) | | | | {whole * 1e6:.1f} | 100% |")
        lines.append(f"| {d}-D {cells} | forward step, same grid and method | | | | {forward_step * 1e6:.1f} | "
                     f"{forward_step / whole:.0%} |")
        print(*lines[-len(rows) - 2:], sep="\n", flush=True)
    return lines


def transport(quick):
    """gamma = 0 by the semi-Lagrangian remap (the default) and by MUSCL/SSP-RK3, against gamma = 1 (TR-BDF2)."""
    cases = [("1-D", MIXTURE_1D, fd.Grid([(-10, 10)], 800 if quick else 3200)),
             ("2-D", MIXTURE_2D, fd.Grid([(-6, 6)] * 2, 128 if quick else 256))]
    lines = ["| problem | cells | gamma | method (flux) | steps (sub-steps) | wall time (s) | time / gamma = 1 "
             "| L1 error at t_min | error / gamma = 1 |", "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for name, mixture, grid in cases:
        base_wall, base_steps, base_error, base_method = run(mixture, grid, 1.0)
        rows = [run(mixture, grid, 0.0, method=method) for method in ("ffsl", "ssprk3")]
        for gamma, (wall, substeps, error, method) in zip((0, 0, 1), rows + [(base_wall, base_steps, base_error,
                                                                               base_method)]):
            cells = "x".join(map(str, grid.shape))
            lines.append(f"| {name} | {cells} | {gamma} | {method} | default ({substeps}) | {wall:.3g} | "
                         f"{wall / base_wall:.2f} | {error:.2e} | {error / base_error:.3f} |")
            print(lines[-1], flush=True)
    return lines


def equal_error(quick):
    """Work-precision of gamma = 0 (ffsl) and gamma = 1 (TR-BDF2) over grids at the default steps: the cheapest
    gamma = 0 run at least as accurate as gamma = 1 on the finest grid, and its time against that run's."""
    cases = [("1-D", MIXTURE_1D, [(-10, 10)], (200, 400, 800) if quick else (200, 400, 800, 1600, 3200)),
             ("2-D", MIXTURE_2D, [(-6, 6)] * 2, (32, 64, 128) if quick else (32, 64, 128, 256))]
    lines = ["| problem | gamma | method | cells | wall time (s) | L1 error at t_min |", "|---|---:|---|---|---:|---:|"]
    summary = ["| problem | gamma = 1 on the finest grid: time (s), error | cheapest gamma = 0 with no larger error: "
               "cells, time (s), error | time ratio |", "|---|---|---|---:|"]
    for name, mixture, bounds, sizes in cases:
        runs = {}
        for gamma in (1.0, 0.0):
            for size in sizes:
                grid = fd.Grid(bounds, size)
                wall, _, error, method = run(mixture, grid, gamma)
                runs.setdefault(gamma, []).append((size, wall, error))
                lines.append(f"| {name} | {gamma:g} | {method} | {'x'.join(map(str, grid.shape))} | {wall:.3g} | "
                             f"{error:.2e} |")
                print(lines[-1], flush=True)
        size1, wall1, error1 = runs[1.0][-1]
        good = [r for r in runs[0.0] if r[2] <= error1]
        if good:
            size0, wall0, error0 = min(good, key=lambda r: r[1])
            summary.append(f"| {name} | {size1} cells: {wall1:.3g}, {error1:.2e} | {size0} cells: {wall0:.3g}, "
                           f"{error0:.2e} | {wall0 / wall1:.2f} |")
        else:
            summary.append(f"| {name} | {size1} cells: {wall1:.3g}, {error1:.2e} | none | - |")
        print(summary[-1], flush=True)
    return lines, summary


def _timed(run, clock=time.perf_counter):
    start = clock()
    result = run()
    return clock() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip 3200 cells and 256^2")
    parser.add_argument("--write", action="store_true", help="record the tables in RESULTS.md")
    parser.add_argument("--threads", type=int, default=None,
                        help="numba threads (default: numba's; 1 avoids waiting on a descheduled thread when other "
                             "processes load the machine)")
    args = parser.parse_args()
    if args.threads is not None:
        import numba

        numba.set_num_threads(args.threads)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    cases = [("1-D", MIXTURE_1D, fd.Grid([(-10, 10)], 800)), ("2-D", MIXTURE_2D, fd.Grid([(-6, 6)] * 2, 128))]
    if not args.quick:
        cases.insert(1, ("1-D", MIXTURE_1D, fd.Grid([(-10, 10)], 3200)))
        cases.append(("2-D", MIXTURE_2D, fd.Grid([(-6, 6)] * 2, 256)))
    lines = ["| problem | cells | gamma | method (flux) | steps (sub-steps) | wall time (s) | L1 error at t_min |",
             "|---|---|---:|---|---:|---:|---:|"]
    for name, mixture, grid in cases:
        for gamma in (0.0, 0.5, 1.0, 2.0):
            wall, substeps, error, method = run(mixture, grid, gamma)
            cells = "x".join(map(str, grid.shape))
            lines.append(f"| {name} | {cells} | {gamma:g} | {method} | default ({substeps}) | {wall:.3g} | {error:.2e} |")
            print(lines[-1], flush=True)
    work = ["| time grid | steps | wall time (s) | L1 error at t_min |", "|---|---:|---:|---:|"]
    grid = fd.Grid([(-10, 10)], 3200 if not args.quick else 800)
    for time_grid in ("uniform", "log-snr", "karras"):
        for steps in (10, 20, 40, 80, 160, 320):
            wall, _, error, _ = run(MIXTURE_1D, grid, 1.0, steps=steps, time_grid=time_grid)
            work.append(f"| {time_grid} | {steps} | {wall:.3g} | {error:.2e} |")
            print(work[-1], flush=True)
    versus = against_forward(args.quick)
    anatomy = step_anatomy(args.quick)
    cost = score_cost(args.quick)
    pure = transport(args.quick)
    precision, equal = equal_error(args.quick)
    text = "\n".join([
        SECTION, "",
        "OU (beta = 1, sigma = sqrt 2), exact mixture score, q0 = p_T, T = 1 to t_min = 1e-3; L1 against the exact",
        "cell averages of p(t_min). 1-D: 0.5 N(-2, 0.09) + 0.5 N(2, 0.25) on [-10, 10]; 2-D: two diagonal",
        "components on [-6, 6]^2. Best of 2 warm runs.",
        "",
        f"Generated by `PYTHONPATH=. python benchmarks/bench_reverse.py{' --quick' if args.quick else ''}"
        f"{f' --threads {args.threads}' if args.threads else ''} --write` in {time.perf_counter() - started:.0f} s "
        f"(1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end: other sessions "
        "share the 2 cores and inflate the times; numba threads: "
        f"{args.threads or 'default'}) on: {describe()}.", "",
        *lines, "",
        f"Work-precision, 1-D {grid.shape[0]} cells, gamma = 1, TR-BDF2, by time grid (the error levels off at the",
        "space error of the grid):", "",
        *work, "",
        "Reverse against forward solve at equal grid, method and steps (issue 20 target: reverse <= 3x forward;",
        "gamma = 1, uniform steps, the same start density, t = 1 to 0.05 and back; CPU time of the process, best",
        "of 3). The reverse loop",
        "runs in compiled code (`fpdiff.fv.reverse_loop`) for scores the kernels evaluate as data (mixture,",
        "training points, table); before, every reverse solve ran the Python loop of stages (the",
        "`stepper (before)` rows, forced by a monitor, best of 1).", "",
        *versus, "",
        "The target is missed: 4.9-5.7x in 1-D and 5.9-6.5x in 2-D with the mixture (from 32-39x and 17-20x),",
        "and why is in the anatomy of a step below (TR-BDF2, one thread). The forward loop factorises each",
        "axis once per run; a reverse step rebuilds the operator at every stage time: 2 face evaluations per",
        "step in 1-D and 6 in 2-D (x at 4 new times, y at 2), each the score on every face and its",
        "Scharfetter-Gummel weights (an exponential per face), and as many factorisations. The score is",
        "already cheap (2-D: separable tables, 2K multiply-adds per face; 1-D: a 3200-cell line factorised",
        "and solved in 8 pieces side by side), so the weights' exponential and the solves are most of it; at",
        "3x the forward step a 256^2 step would have about 1 ns per face and stage for all of it. What was",
        "tried: the Python stage loop moved into one kernel (3-10x), the stage coefficients tabulated, the",
        "factorisation fused into the solve, the branch-free vectorised Bernoulli function, the separable",
        "score, the partitioned 1-D solve. What would reach it: fewer operator builds per step (a scheme that",
        "freezes the operator at one time per axis and step is still second order, but it is another scheme,",
        "and the target asks for the same one).", "",
        *anatomy, "",
        "Score evaluation on faces against the transport step (issue 8 target: the exact mixture score with",
        "K <= 8 components costs no more than the step): `dynamics.face_drift` for every axis at one time (the",
        "mixture score on all faces plus the linear part), against one TR-BDF2 step whose face drifts are",
        "given (SG weights, LU factors and solves of every axis of the Strang splitting); per step the solver",
        "evaluates the drift of each axis this many times (stage times). Best of 5.", "",
        *cost, "",
        "gamma = 0, the probability-flow transport (issue 20 target: at most 2x the wall time of gamma = 1 at",
        "equal or smaller error), at the default steps: the flux-form semi-Lagrangian remap (`ffsl`, the",
        "default; positive PPM reconstruction, RK3 back-traces, no CFL limit: sub-steps only where the drift's",
        "slope would let departure points cross) and the explicit MUSCL/SSP-RK3 solve it replaces (CFL-bound",
        "sub-steps), against gamma = 1 (TR-BDF2, SG) in the same run. The remap evaluates the drift at the",
        "start, middle and end of each step (a Strang half step interpolates its middle in time): 2 face drifts",
        "per step in 1-D, as TR-BDF2, and 4 in 2-D, where TR-BDF2 takes 6; in 2-D they are about 40% of its time.",
        "",
        *pure, "",
        "At equal or smaller error (the target's terms): gamma = 1 and gamma = 0 at their default steps over",
        "several grids; the cheapest gamma = 0 run whose error is no larger than gamma = 1's on the finest grid,",
        "against that run's time.", "",
        *equal, "",
        *precision, "",
    ])
    if args.write:
        write_section(RESULTS, SECTION, text)


if __name__ == "__main__":
    main()
