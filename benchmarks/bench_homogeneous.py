"""Random time reversal: the cost of ``fd.sample_homogeneous`` and the time-step bias of its output law.

Issue 20 asks for a benchmark of the time-homogeneous generative process (``docs/homogeneous.md``).

Cost: Brownian motion (sigma = 1) and OU (beta = 1, sigma = sqrt 2), killing rate r = 1, d in {2, 5, 10},
n in {10, 100, 1000} data points drawn from N(0, I); 2000 paths from the exact start law (``start="data"``),
default step factor (0.05 / d) and stopping distance; the time to build the score (OU: its table of
log(G_r/m), ``fpdiff.homogeneous.table``), the wall time of the call (kernels compiled beforehand), the paths per
second, the mean number of steps per path and the microseconds per step and data point (the score of every step
sums over the n points: Green's functions in closed form for Brownian motion, the bicubic table for OU), and its
ratio to Brownian motion's at the same d and n, measured in the same run. The baseline is the OU score with
``method="quadrature"`` (the log-time trapezoidal rule the sampler used before the table, 170 to 270 nodes per
data point at its default accuracy range), with fewer paths (2000 x 4 / n, at least 10).

Bias: started from ``"data"``, the output law is the data's (each point with probability 1/n), so the total
variation between the reached frequencies and 1/n, less its Monte-Carlo floor (the expected TV of as many
exact uniform draws, by simulation), is the bias of the discretisation; d = 2 and 5, n = 10, 20,000 paths,
``finish="exact"`` (no stopping-distance bias), against the step factor c.

Usage::

    PYTHONPATH=. python benchmarks/bench_homogeneous.py [--quick] [--write]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from _machine import describe, write_section  # noqa: E402

SECTION = "## Random time reversal"
PROCESSES = {"Brownian": fd.Brownian(1.0), "OU": fd.OU(1.0, 2**0.5)}
#: (label, process name, HomogeneousScore method) of the cost table's rows
VARIANTS = (("Brownian", "Brownian", None), ("OU (table)", "OU", "table"), ("OU (quadrature)", "OU", "quadrature"))


def score_of(process, dim, n, seed=0, method=None):
    points = np.random.default_rng(seed).standard_normal((n, dim))
    return fd.HomogeneousScore(process, points, r=1.0, method=method)


def cost_rows(quick):
    dims, sizes, budget = ((2, 5), (10, 100), 500) if quick else ((2, 5, 10), (10, 100, 1000), 2000)
    rows = []
    for dim in dims:
        for n in sizes:
            brownian = None
            for label, name, method in VARIANTS:
                process = PROCESSES[name]
                # the quadrature costs ~200 nodes per data point: fewer paths
                paths = budget if method != "quadrature" else max(10, 4 * budget // n)
                start = time.perf_counter()
                score = score_of(process, dim, n, method=method)
                build = time.perf_counter() - start
                fd.sample_homogeneous(process, score, "data", n_paths=8, seed=1)  # compile (or load) outside
                start = time.perf_counter()
                result = fd.sample_homogeneous(process, score, "data", n_paths=paths, seed=2)
                wall = time.perf_counter() - start
                steps = float(np.mean(result.steps))
                cost = 1e6 * wall / (paths * steps * n)
                brownian = cost if brownian is None else brownian
                rows.append(f"| {label} | {dim} | {n} | {paths} | {build:.2f} | {wall:.2f} | {paths / wall:.0f} | "
                            f"{steps:.0f} | {cost:.3f} | {cost / brownian:.1f} |")
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def bias_rows(quick):
    factors, n = ((0.1, 0.05), 10) if quick else ((0.2, 0.1, 0.05, 0.025), 10)
    rows = []
    for name, process in PROCESSES.items():
        paths = 4000 if quick else 20000
        rng = np.random.default_rng(7)
        draws = [np.bincount(rng.integers(0, n, paths), minlength=n) / paths for _ in range(200)]
        floor = float(np.mean([0.5 * np.abs(f - 1.0 / n).sum() for f in draws]))
        for dim in (2, 5):
            score = score_of(process, dim, n)
            for factor in factors:
                result = fd.sample_homogeneous(process, score, "data", n_paths=paths, seed=3, step_factor=factor,
                                               finish="exact")
                reached = result.reached[result.reached >= 0]
                frequencies = np.bincount(reached, minlength=n) / max(len(reached), 1)
                tv = 0.5 * float(np.abs(frequencies - 1.0 / n).sum())
                rows.append(f"| {name} | {dim} | {paths} | {factor:g} | {tv:.4f} | {floor:.4f} | {max(tv - floor, 0.0):.4f} | "
                            f"{np.mean(result.steps):.0f} | {np.mean(result.reached < 0):.4f} |")
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and paths")
    parser.add_argument("--write", action="store_true", help="record the tables in benchmarks/RESULTS.md")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    cost, bias = cost_rows(args.quick), bias_rows(args.quick)
    load_after = os.getloadavg()[0]
    text = "\n".join([
        "`fd.sample_homogeneous` from the exact start law (`start=\"data\"`), killing rate r = 1, data drawn from "
        "N(0, I), default step factor and stopping distance; kernels compiled beforehand. OU evaluates its Green's "
        "functions from a bicubic table of log(G_r/m) in two scaled variables (`fpdiff.homogeneous.table`: absolute "
        "error of log G_r below 1e-7, relative error of the score's terms below 1e-5, tested); the baseline row "
        "`OU (quadrature)` is the log-time trapezoidal rule it replaces (`method=\"quadrature\"`, fewer paths). "
        "`build`: constructing the score (the table); `/ Brownian`: the cost per step and data point over Brownian "
        "motion's at the same d and n, in the same run.", "",
        "| process | d | data points n | paths | build (s) | wall time (s) | paths/s | steps per path | "
        "us per step and point | / Brownian |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *cost, "",
        "Time-step bias of the output law: TV between the reached frequencies and the data's law (1/n each), its "
        "Monte-Carlo floor (the mean TV of as many exact uniform draws) and the excess, n = 10, `finish=\"exact\"`.",
        "", "| process | d | paths | step factor c | TV | floor | TV - floor | steps per path | not stopped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|", *bias, "",
        f"Machine: {describe()}; load average {load_before:.2f} at the start and {load_after:.2f} at the end (2 cores "
        "shared with other jobs: absolute times are inflated by the load, the ratios within a row group less so).",
        "", "Command: `PYTHONPATH=. python benchmarks/bench_homogeneous.py --write`"])
    print(text)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, f"{SECTION}\n\n{text}\n")


if __name__ == "__main__":
    main()
