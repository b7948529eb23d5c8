"""Random time reversal: the cost of ``fd.sample_homogeneous`` and the time-step bias of its output law.

Issue 20 asks for a benchmark of the time-homogeneous generative process (``docs/homogeneous.md``).

Cost: Brownian motion (sigma = 1) and OU (beta = 1, sigma = sqrt 2), killing rate r = 1, d in {2, 5, 10},
n in {10, 100, 1000} data points drawn from N(0, I); 2000 paths (OU: 2000 x 20 / n, at least 20) from the
exact start law (``start="data"``),
default step factor (0.05 / d) and stopping distance; the wall time of the call (kernels compiled
beforehand), the paths per second, the mean number of steps per path and the microseconds per step and data
point (the score of every step sums over the n points: Green's functions in closed form for Brownian motion,
a quadrature in time for OU).

Bias: started from ``"data"``, the output law is the data's (each point with probability 1/n), so the total
variation between the reached frequencies and 1/n, less its Monte-Carlo floor (the expected TV of as many
exact uniform draws, by simulation), is the bias of the discretisation; d = 2 and 5, n = 10, 20,000 paths
(OU: 5,000),
``finish="exact"`` (no stopping-distance bias), against the step factor c.

Usage::

    PYTHONPATH=. python benchmarks/bench_homogeneous.py [--quick] [--write]
"""

import argparse
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


def score_of(process, dim, n, seed=0):
    points = np.random.default_rng(seed).standard_normal((n, dim))
    return fd.HomogeneousScore(process, points, r=1.0)


def cost_rows(quick):
    dims, sizes, budget = ((2, 5), (10, 100), 500) if quick else ((2, 5, 10), (10, 100, 1000), 2000)
    rows = []
    for name, process in PROCESSES.items():
        for dim in dims:
            for n in sizes:
                # OU's score costs a quadrature of ~300 nodes per data point: fewer paths as n grows
                paths = budget if name == "Brownian" else max(20, min(budget, 20 * budget // n))
                score = score_of(process, dim, n)
                fd.sample_homogeneous(process, score, "data", n_paths=8, seed=1)  # compile (or load) outside
                start = time.perf_counter()
                result = fd.sample_homogeneous(process, score, "data", n_paths=paths, seed=2)
                wall = time.perf_counter() - start
                steps = float(np.mean(result.steps))
                rows.append(f"| {name} | {dim} | {n} | {paths} | {wall:.2f} | {paths / wall:.0f} | {steps:.0f} | "
                            f"{1e6 * wall / (paths * steps * n):.3f} |")
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def bias_rows(quick):
    factors, n = ((0.1, 0.05), 10) if quick else ((0.2, 0.1, 0.05, 0.025), 10)
    rows = []
    for name, process in PROCESSES.items():
        paths = (4000 if quick else 20000) if name == "Brownian" else (2000 if quick else 5000)
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
    cost, bias = cost_rows(args.quick), bias_rows(args.quick)
    text = "\n".join([
        "`fd.sample_homogeneous` from the exact start law (`start=\"data\"`), killing rate r = 1, data drawn from "
        "N(0, I), default step factor and stopping distance; kernels compiled beforehand.", "",
        "| process | d | data points n | paths | wall time (s) | paths/s | steps per path | us per step and point |",
        "|---|---:|---:|---:|---:|---:|---:|---:|", *cost, "",
        "Time-step bias of the output law: TV between the reached frequencies and the data's law (1/n each), its "
        "Monte-Carlo floor (the mean TV of as many exact uniform draws) and the excess, n = 10, `finish=\"exact\"`.",
        "", "| process | d | paths | step factor c | TV | floor | TV - floor | steps per path | not stopped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|", *bias, "",
        f"Machine: {describe()}.", "", "Command: `PYTHONPATH=. python benchmarks/bench_homogeneous.py --write`"])
    print(text)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, f"{SECTION}\n\n{text}\n")


if __name__ == "__main__":
    main()
