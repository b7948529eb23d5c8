"""Density solvers: cost per step against grid size, the memory-bandwidth bound, and work-precision.

Three studies of the forward OU problem (beta = 1, sigma = sqrt 2, no-flux boundaries), each
printed as a table with its errors beside its times and recorded in ``benchmarks/RESULTS.md``
(section "Density solvers: scaling, bandwidth, work-precision"):

1. **Scaling**: wall time per backward-Euler step against the number of cells, 2-D 64^2 to
   1024^2 and 3-D 32^3 to 128^3, fpdiff (dimension-split Thomas solves, fused time loop) against
   the scipy ``splu`` script of ``_baselines.py`` (unsplit operator; factorisation reported
   apart, sizes whose predicted factorisation exceeds ~60 s skipped), with the fitted slope of
   log(time) against log(cells).
2. **Bandwidth bound**: a STREAM triad (``a = b + s c``, numba, arrays of 2^26 doubles, far
   beyond the caches) on 1 and 2 threads; the bytes a backward-Euler step and an explicit
   operator application must move per cell; the ratio of the measured time per step to
   bytes / triad bandwidth on a 4096^2 grid (working set ~1 GB, beyond the last-level cache).
3. **Work-precision (1-D)**: the fastest configuration of each tool that reaches
   L1 <= 1e-5 at t = 1 from p0 = 0.5 N(-2, 0.09) + 0.5 N(2, 0.25) on [-10, 10]: fpdiff
   TR-BDF2 and Crank–Nicolson, the scipy Crank–Nicolson splu script, py-pde (scipy BDF) and fplanck
   (``expm_multiply``); py-pde and fplanck run from their own virtual environment
   (``--peers PYTHON``, default ``/tmp/peers/bin/python``; they are never fpdiff
   dependencies) through ``_peers.py``. First-call times (numba compilation, imports) beside
   warm times.

Usage::

    PYTHONPATH=. python benchmarks/bench_density.py [--quick] [--write] [--peers PYTHON]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from numba import prange

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from _baselines import sg_matrix, splu_script  # noqa: E402
from _machine import describe, write_section  # noqa: E402
from fpdiff.fv.fused import FusedLoop  # noqa: E402
from fpdiff.fv.operator import FluxOperator  # noqa: E402
from fpdiff.dynamics import forward_dynamics  # noqa: E402

SECTION = "## Density solvers: scaling, bandwidth, work-precision"
RESULTS = HERE / "RESULTS.md"
PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-2.0, 1.0], [1.5, -1.0]], [[0.09, 0.25], [0.36, 0.16]])
MIXTURE_3D = fd.GaussianMixture([0.4, 0.6], [[-2.0, 1.0, 0.5], [1.5, -1.0, -0.5]],
                                [[0.09, 0.25, 0.16], [0.36, 0.16, 0.25]])
#: predicted splu factorisation time (s) above which a size is skipped
SPLU_LIMIT = 60.0
TOLERANCE = 1e-5


def best_of(repeats, run):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def fit_slope(cells, times):
    """Slope of log(time) against log(cells) (least squares)."""
    return float(np.polyfit(np.log(cells), np.log(times), 1)[0])


# ---------------------------------------------------------------------------------------------- scaling

def fpdiff_per_step(grid, p0, steps=10):
    """Time per backward-Euler step (dt = 1/steps) of fpdiff's fused time loop, set-up excluded.

    The loop of :func:`fpdiff.solve_forward` for this autonomous problem
    (:class:`fpdiff.fv.fused.FusedLoop`: factors computed once) is built, then its
    ``steps`` steps, with the per-step checks, are timed (best of 3; each run continues
    from the last one's density, which changes nothing in the cost).
    """
    operator = FluxOperator(forward_dynamics(PROCESS, 1.0), grid)
    taus = np.linspace(0.0, 1.0, steps + 1)
    loop = FusedLoop("be", operator, taus, np.full(steps + 1, -1), restore=False)
    p = np.array(p0, dtype=np.float64).ravel()
    mass0 = float(p.sum()) * grid.cell_volume
    none = np.empty((0, grid.size))

    def run():
        nonlocal p
        done, status, _, _, p = loop.run(p, 0, mass0, 1e-10 * mass0, True, 1e-9, none)
        assert (done, status) == (steps, 0), (done, status)

    run()
    wall, _ = best_of(3, run)
    return wall / steps, None


def splu_per_step(grid, p0, solves=5):
    """``(factorisation time, time per solve)`` of the unsplit BE matrix (dt = 0.01)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    start = time.perf_counter()
    a = sg_matrix(grid, 1.0, 1.0)
    lu = sla.splu((sp.identity(a.shape[0], format="csc") - 0.01 * a).tocsc())
    factor = time.perf_counter() - start
    p = p0.ravel().copy()
    start = time.perf_counter()
    for _ in range(solves):
        p = lu.solve(p)
    return factor, (time.perf_counter() - start) / solves


def scaling(quick):
    studies = [("2-D", MIXTURE_2D, 8.0, [64, 128, 256] if quick else [64, 128, 256, 512, 1024]),
               ("3-D", MIXTURE_3D, 6.0, [32, 48] if quick else [32, 48, 64, 96, 128])]
    rows, slopes = [], {}
    numba.set_num_threads(1)  # one thread, like splu: the cost per cell, free of thread contention
    for label, mixture, half, sizes in studies:
        ndim = mixture.dim
        cells, ours, theirs, their_cells = [], [], [], []
        predicted = 0.0
        previous_factor = None
        for index, n in enumerate(sizes):
            grid = fd.Grid([(-half, half)] * ndim, [n] * ndim)
            p0 = grid.cell_average(mixture)
            step, setup = fpdiff_per_step(grid, p0)
            row = {"problem": label, "n": n, "cells": grid.size, "fpdiff": step, "setup": setup}
            if predicted <= SPLU_LIMIT:
                factor, solve = splu_per_step(grid, p0)
                row.update(factor=factor, solve=solve)
                theirs.append(solve)
                their_cells.append(grid.size)
                growth = 1.5  # until two sizes are measured: the nested-dissection fill-in rate of 2-D grids
                if len(their_cells) >= 2:
                    growth = max(1.0, np.log(factor / previous_factor) / np.log(their_cells[-1] / their_cells[-2]))
                previous_factor = factor
                if index + 1 < len(sizes):
                    predicted = factor * (sizes[index + 1] / n) ** (ndim * growth)
            else:
                row.update(factor=None, solve=None)
            cells.append(grid.size)
            ours.append(step)
            rows.append(row)
            splu_text = "skipped" if row["solve"] is None else f"{row['solve'] * 1e3:.3g} ms/solve"
            print(f"  scaling {label} {n}: fpdiff {step * 1e3:.3g} ms/step, splu {splu_text}", file=sys.stderr,
                  flush=True)
        slopes[label] = (fit_slope(cells, ours), fit_slope(their_cells, theirs) if len(theirs) > 1 else None,
                         fit_slope(their_cells, [r["factor"] for r in rows if r["problem"] == label
                                                 and r["factor"] is not None]) if len(theirs) > 1 else None)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return rows, slopes


def scaling_table(rows, slopes):
    lines = ["| problem | cells | fpdiff s/step | fpdiff ns/cell/step | splu factorisation (s) | splu s/solve "
             "| splu solve / fpdiff step |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        size = f"{r['n']}^{2 if r['problem'] == '2-D' else 3} = {r['cells']:,}"
        if r["solve"] is None:
            splu = f"skipped (predicted > {SPLU_LIMIT:.0f} s) | | "
        else:
            splu = f"{r['factor']:.3g} | {r['solve']:.3g} | {r['solve'] / r['fpdiff']:.1f}x"
        lines.append(f"| {r['problem']} | {size} | {r['fpdiff']:.3g} | {r['fpdiff'] / r['cells'] * 1e9:.2f} | {splu} |")
    lines.append("")
    for label, (ours, solve, factor) in slopes.items():
        text = f"- {label}: fitted slope of log(time per step) vs log(cells): fpdiff **{ours:.2f}**"
        if solve is not None:
            text += f"; splu solve {solve:.2f}, splu factorisation {factor:.2f}"
        lines.append(text)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- bandwidth

@numba.njit(parallel=True)
def _triad(a, b, c, s):
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


def stream_triad(threads, n=2**26, repeats=5):
    """Triad bandwidth in bytes/s (24 bytes per element, the STREAM convention)."""
    numba.set_num_threads(threads)
    a, b, c = np.empty(n), np.random.default_rng(0).uniform(size=n), np.random.default_rng(1).uniform(size=n)
    _triad(a, b, c, 3.0)
    best, _ = best_of(repeats, lambda: _triad(a, b, c, 3.0))
    return 24.0 * n / best


#: bytes per cell and axis that one implicit (Thomas) solve must move: read and write the density. The OU
#: drift along an axis depends on that coordinate only, so all lines of the axis share one line's LU
#: factors (N numbers, cache-resident; ``fpdiff.fv.fused``); a solve that kept each line's forward sweep in
#: cache would move nothing else. (Per-cell factors, as for a general drift, would add 24 bytes.)
IMPLICIT_BYTES_PER_AXIS = 2 * 8
#: bytes per cell of the per-step check (sum and minimum: read the density once)
CHECK_BYTES = 8
#: bytes per cell and axis of out += c L p: read wl, wr (one face per cell), p and out, write out
EXPLICIT_BYTES_PER_AXIS = 5 * 8


def bandwidth(quick):
    n = 1024 if quick else 4096
    grid = fd.Grid([(-8.0, 8.0)] * 2, [n, n])
    p0 = grid.cell_average(MIXTURE_2D)
    operator = FluxOperator(forward_dynamics(PROCESS, 1.0), grid)
    out = p0.copy()
    rows = []
    for threads in (1, 2):
        triad = stream_triad(threads)
        step, _ = fpdiff_per_step(grid, p0, steps=4)
        operator.add_all(0.0, 0.01, p0, out)
        explicit, _ = best_of(3, lambda: operator.add_all(0.0, 0.01, p0, out))
        implicit_bytes = grid.ndim * IMPLICIT_BYTES_PER_AXIS + CHECK_BYTES
        explicit_bytes = grid.ndim * EXPLICIT_BYTES_PER_AXIS
        rows.append({"threads": threads, "triad": triad, "cells": grid.size,
                     "implicit": step, "implicit_bytes": implicit_bytes,
                     "explicit": explicit, "explicit_bytes": explicit_bytes})
        print(f"  bandwidth {threads} thread(s): triad {triad / 1e9:.3g} GB/s, BE step {step * 1e3:.3g} ms, "
              f"explicit {explicit * 1e3:.3g} ms", file=sys.stderr, flush=True)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return rows, n


def bandwidth_table(rows, n):
    lines = [f"Grid {n}^2 = {n * n:,} cells (2-D), float64.", "",
             "| threads | STREAM triad (GB/s) | kernel | bytes/cell | bound (s) | measured (s) | measured / bound |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        for kernel, key in (("backward-Euler step (2 axes + check)", "implicit"),
                            ("explicit L p, 2 axes (`add_all`)", "explicit")):
            bound = r[f"{key}_bytes"] * r["cells"] / r["triad"]
            lines.append(f"| {r['threads']} | {r['triad'] / 1e9:.2f} | {kernel} | {r[f'{key}_bytes']} | "
                         f"{bound:.3g} | {r[key]:.3g} | **{r[key] / bound:.2f}** |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- work-precision

#: resolutions and step counts scanned (each tool's fastest configuration with L1 <= 1e-5 is its best)
SIZES = (1000, 1200, 1600, 2400, 3200)
FPDIFF_STEPS = (20, 30, 40, 60, 80)
CN_STEPS = (50, 75, 100, 150, 200)


def work_precision(quick, peers):
    rows = []
    sizes = (1200, 1600) if quick else SIZES
    for n in sizes:
        grid = fd.Grid([(-10.0, 10.0)], [n])
        p0 = grid.cell_average(MIXTURE_1D)
        exact = grid.cell_average(MIXTURE_1D.evolve(PROCESS, 1.0))
        for method, scan in (("trbdf2", FPDIFF_STEPS), ("cn", CN_STEPS)):
            for steps in scan:
                fd.solve_forward(PROCESS, grid, p0, 1.0, steps=steps, method=method)
                wall, solution = best_of(20, lambda: fd.solve_forward(PROCESS, grid, p0, 1.0, steps=steps,
                                                                      method=method))
                rows.append({"tool": f"fpdiff {method}", "config": f"N = {n}, {steps} steps", "warm": wall,
                             "first": None, "l1": float(grid.integrate(np.abs(solution.final - exact))), "n": n,
                             "steps": steps, "method": method})
        for steps in CN_STEPS:
            wall, final = best_of(10, lambda: splu_script(grid, p0, 1.0, steps, scheme="cn")[0])
            rows.append({"tool": "scipy CN splu script", "config": f"N = {n}, {steps} steps", "warm": wall,
                         "first": None, "l1": float(grid.integrate(np.abs(final - exact)))})
        print(f"  work-precision N = {n} done", file=sys.stderr, flush=True)
    if peers and Path(peers).exists():
        configs = [("pde", 3200, 1e-5), ("pde", 2400, 1e-5), ("pde", 3200, 1e-4), ("fplanck", 1600, 0.0),
                   ("fplanck", 2400, 0.0)]
        if quick:
            configs = [("pde", 3200, 1e-5), ("fplanck", 1600, 0.0)]
        for tool, n, param in configs:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            try:
                output = subprocess.run([peers, str(HERE / "_peers.py"), tool, str(n), str(param)], env=env,
                                        capture_output=True, text=True, check=True, timeout=600).stdout
                result = json.loads(output.strip().splitlines()[-1])
            except (subprocess.SubprocessError, ValueError, IndexError) as error:
                print(f"  {tool} N = {n} failed: {error}", file=sys.stderr, flush=True)
                continue
            name = "py-pde (scipy BDF)" if tool == "pde" else "fplanck (expm_multiply)"
            config = f"N = {n}" + (f", rtol = {param:g}" if tool == "pde" else "")
            rows.append({"tool": f"{name} {result['version']}", "config": config, "warm": result["warm"],
                         "first": result["first"], "l1": result["l1"]})
            print(f"  work-precision {tool} N = {n}: {result['warm']:.3g} s, L1 {result['l1']:.2e}", file=sys.stderr,
                  flush=True)
    return rows


def fpdiff_first_call(n, steps, method):
    """First call of the chosen fpdiff configuration in a fresh process: empty numba cache, then filled."""
    code = ("import time, fpdiff as fd; g = fd.Grid([(-10.0, 10.0)], [%d]); "
            "m = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25]); p0 = g.cell_average(m); "
            "s = time.perf_counter(); fd.solve_forward(fd.OU(beta=1.0, sigma=2**0.5), g, p0, 1.0, steps=%d, "
            "method=%r); print(time.perf_counter() - s)" % (n, steps, method))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory(prefix="fpdiff-numba-") as cache:
        cold = float(subprocess.run([sys.executable, "-c", code], env=dict(env, NUMBA_CACHE_DIR=cache),
                                    capture_output=True, text=True, check=True).stdout.split()[-1])
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    cached = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                  check=True).stdout.split()[-1])
    return cold, cached


def work_table(rows):
    lines = ["| tool | configuration | warm wall time (s) | first call (s) | L1 error at t = 1 | reaches 1e-5 |",
             "|---|---|---:|---:|---:|---|"]
    best = {}
    for r in rows:
        ok = r["l1"] <= TOLERANCE
        first = "" if r["first"] is None else f"{r['first']:.3g}"
        lines.append(f"| {r['tool']} | {r['config']} | {r['warm']:.3g} | {first} | {r['l1']:.2e} | "
                     f"{'yes' if ok else 'no'} |")
        key = r["tool"].split(" ")[0]
        if ok and (key not in best or r["warm"] < best[key]["warm"]):
            best[key] = r
    return "\n".join(lines), best


def cost_split(rows, tool, n):
    """``(seconds per call, seconds per step)``: a line fitted to the wall times of ``tool`` at ``N = n``."""
    points = [(r["steps"], r["warm"]) for r in rows if r["tool"] == tool and r.get("n") == n]
    steps, walls = np.array(points).T
    per_step, fixed = np.polyfit(steps, walls, 1)
    return fixed, per_step


def work_summary(best, first, rows):
    ours = best.get("fpdiff")
    if ours is None:
        return "fpdiff reached no configuration with L1 <= 1e-5 (widen the scan)."
    lines = [f"Fastest to L1 <= 1e-5: fpdiff {ours['method']} {ours['config']}: {ours['warm']:.3g} s warm; first call in a fresh "
             f"process {first[0]:.2f} s with an empty numba cache (compilation), {first[1]:.3g} s with the cache "
             "filled.", ""]
    targets = {"scipy": ("scipy CN splu script", 10.0), "py-pde": ("py-pde warm", 50.0),
               "fplanck": ("fplanck", 1000.0)}
    for key, (name, goal) in targets.items():
        if key not in best:
            lines.append(f"- {name}: no configuration measured reached 1e-5 (peer not run or not accurate enough)")
            continue
        ratio = best[key]["warm"] / ours["warm"]
        verdict = "met" if ratio >= goal else f"**missed by {goal / ratio:.2f}x**"
        if key == "scipy" and ratio < goal:
            fixed, per_step = cost_split(rows, ours["tool"], ours["n"])
            verdict += (f". Why: fpdiff's time is {fixed * 1e3:.3g} ms per call (checks, SG weights, the LU "
                        f"factorisation, result objects) plus {per_step * 1e6:.3g} us per step "
                        f"({per_step / ours['n'] * 1e9:.2g} ns per cell: the explicit half-step, the two "
                        "recurrences of the tridiagonal solve with their segment corrections, and the finite, "
                        "negative-mass and mass checks), both fitted over its scan at this N; "
                        f"10x would need {best[key]['warm'] / goal * 1e3:.3g} ms")
        extra = f" (first call {best[key]['first']:.3g} s)" if best[key]["first"] is not None else ""
        lines.append(f"- {name} ({best[key]['config']}): {best[key]['warm']:.3g} s{extra} = **{ratio:.0f}x** "
                     f"fpdiff (target >= {goal:g}x): {verdict}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer configurations")
    parser.add_argument("--write", action="store_true", help="rewrite the section of benchmarks/RESULTS.md")
    parser.add_argument("--peers", default="/tmp/peers/bin/python", help="python of the peers' environment")
    parser.add_argument("--only", choices=["scaling", "bandwidth", "work"], help="run one study (no --write)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    parts = {}
    if args.only in (None, "work"):
        print("work-precision ...", file=sys.stderr, flush=True)
        rows = work_precision(args.quick, args.peers)
        table, best = work_table(rows)
        ours = best.get("fpdiff")
        first = fpdiff_first_call(ours["n"], ours["steps"], ours["method"]) if ours else None
        parts["work"] = table + "\n\n" + work_summary(best, first, rows)
        print(parts["work"], flush=True)
    if args.only in (None, "scaling"):
        print("scaling ...", file=sys.stderr, flush=True)
        parts["scaling"] = scaling_table(*scaling(args.quick))
        print(parts["scaling"], flush=True)
    if args.only in (None, "bandwidth"):
        print("bandwidth ...", file=sys.stderr, flush=True)
        parts["bandwidth"] = bandwidth_table(*bandwidth(args.quick))
        print(parts["bandwidth"], flush=True)
    if args.only is not None or not args.write:
        return
    text = f"""{SECTION}

Forward OU (beta = 1, sigma = sqrt 2), no-flux boundaries. Generated by
`PYTHONPATH=. python benchmarks/bench_density.py --write{' --quick' if args.quick else ''}` in
{time.perf_counter() - start:.0f} s (1-minute load average {load_before:.1f} at the start and
{os.getloadavg()[0]:.1f} at the end: other sessions share the 2 cores, so absolute times are
inflated and noisy; compare the ratios, measured side by side in the same run) on: {describe()}.

### Work-precision (1-D)

Time to L1 <= 1e-5 at t = 1 against the exact solution, p0 = 0.5 N(-2, 0.09) + 0.5 N(2, 0.25)
on [-10, 10]. fpdiff: `solve_forward(..., method="trbdf2" or "cn", steps=...)`, whole call, best of 20
warm; scipy: Crank–Nicolson with the same SG matrix, `splu` once (`_baselines.py`), whole script, best of 10
(fpdiff `"cn"` takes the same steps on the same matrix, so its error equals the script's to round-off and
the ratio is the cost of the implementation alone); py-pde best of 5 warm calls;
py-pde and fplanck in their own environment (`_peers.py`: their setups, and why py-pde gets a
`jac_sparsity`), error against the exact point values at their nodes; first call = a fresh
process (imports, numba compilation, the first solve).

{parts['work']}

### Scaling: time per backward-Euler step against the number of cells

fpdiff: the fused time loop of `solve_forward` (factors built once, then 10 steps with
their checks; best of 3 / 10), so set-up is excluded, on one thread (like splu); splu: the unsplit matrix of `_baselines.py`, one triangular solve (its factorisation,
done once, apart). A linear cost has slope 1.

{parts['scaling']}

### Memory-bandwidth bound

The bound of a kernel is the bytes it must move per cell (below) times the cells, over the
STREAM triad bandwidth measured here; the ratio measured / bound is the target (<= 2).
The backward-Euler step is timed as in the scaling study (4 steps of the fused loop, best of 3).
Backward-Euler step: per axis read and write the density ({IMPLICIT_BYTES_PER_AXIS} bytes/cell: the OU
drift along an axis depends on that coordinate only, so the lines of an axis share one line's LU factors,
which stay in cache; the bound assumes the forward sweep of a line stays in cache for the backward one,
which 4096-long columns do not, so the axis-0 solve moves 32 bytes/cell), plus one read for the step's
sum/min check ({CHECK_BYTES} bytes). Explicit `L p` (`add_all`, the stepper loop's kernel, with weights per
face as for any drift): per axis read `wl`, `wr`, `p` and `out`, write `out`
({EXPLICIT_BYTES_PER_AXIS} bytes/cell). A ratio below 1 is possible: the triad's bandwidth counts 24
bytes per element but the hardware also reads the written array before writing it (write-allocate), which
`out += c L p` does not pay.

{parts['bandwidth']}
"""
    write_section(RESULTS, SECTION, text)
    print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
