"""Schedules in the compiled particle path: a discrete table against the closed-form VP it approximates.

Issue 18 asks that a ``Discrete`` table schedule run within 1.3x of the closed-form VP. Both runs
are ``fd.sample_reverse`` with the exact mixture score (the compiled path), ``"ei"``, gamma = 1, on
the log-SNR time grid; the table is ``LinearDiscrete(0.1/n, 20/n, n = 1000)``, DDPM's betas that
tend to ``VP(0.1, 20)``. The schedule enters the run only through the per-step coefficients
(alpha, v and the integrator's weights, computed in Python once per step), so the ratio measures
that set-up: the PCHIP evaluations of the table and the bisection of its log-SNR grid. Best of 3
after a warm-up run (compilation excluded); the EDM and Cosine schedules are timed alongside.

Usage::

    PYTHONPATH=. python benchmarks/bench_schedules.py [--particles N] [--steps N] [--write]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from _machine import best_time, describe, write_section  # noqa: E402

SECTION = "## Schedules in the particle path"
REPEATS = 3
MIXTURE = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]],
                             [[[0.3, 0.1], [0.1, 0.2]], [[0.25, -0.05], [-0.05, 0.4]]])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=10**5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()

    cases = {  # name: (process, T, t_min)
        "VP(0.1, 20), closed form": (fd.VP(0.1, 20.0), 1.0, 1e-3),
        "LinearDiscrete(n=1000) table": (fd.LinearDiscrete(0.1 / 1000, 20.0 / 1000, 1000), 1.0, 1e-3),
        "Cosine": (fd.Cosine(), 0.999, 1e-3),
        "EDM": (fd.EDM(), 80.0, 0.002),
    }
    rows, baseline = [], None
    for name, (process, T, t_min) in cases.items():
        start = MIXTURE.evolve(process, T).sample(args.particles, seed=1)
        score = fd.ExactScore(process, MIXTURE)
        def run():
            return fd.sample_reverse(process, score, start, T, t_min=t_min, steps=args.steps)

        run()  # warm-up: compiles (or loads the cache) outside the timing
        seconds = best_time(run, REPEATS)
        baseline = baseline or seconds
        rows.append(f"| {name} | {seconds:.3f} | {seconds / baseline:.2f} |")
    table = "\n".join([
        f"`fd.sample_reverse`, exact 2-D mixture score, ei, gamma = 1, {args.particles} particles, {args.steps} "
        "log-SNR steps; best of 3 after a warm-up. Ratio: against the closed-form VP in the same run "
        "(target for the table: <= 1.3).", "",
        "| schedule | wall time (s) | ratio to VP |", "|---|---:|---:|", *rows, "",
        f"Machine: {describe()}.", "",
        "Command: `PYTHONPATH=. python benchmarks/bench_schedules.py --write`"])
    print(table)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, f"{SECTION}\n\n{table}\n")


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
