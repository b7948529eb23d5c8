"""The audit in any dimension: wall time of ``fd.audit`` for a model callable in d = 2, 16 and 64.

Issue 18 asks that a d = 16 audit run in under a minute. The learned score is a plain
callable (the Python path, as a model is) computing the exact score of a 2-component
Gaussian mixture under VP plus an affine error ``0.05 x``; the reference is the exact score.
Defaults of ``fd.audit`` (20,000 particles, 100 steps, 20,000 samples per time). The first call
(compilation or the numba cache) is reported apart from the best of 2 warm calls.

Usage::

    PYTHONPATH=. python benchmarks/bench_audit.py [--write]
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

SECTION = "## Audit in any dimension"


def case(dim):
    process = fd.VP()
    means = np.zeros((2, dim))
    means[0, 0], means[1, 0] = -1.5, 1.5
    mixture = fd.GaussianMixture([0.5, 0.5], means, [0.3, 0.5])
    exact = fd.ExactScore(process, mixture)

    def model(x, t):
        return exact.score(x, t) + 0.05 * x

    learned = fd.CallableScore(model, dim, process)
    return lambda: fd.audit(learned, exact, process, T=1.0, t_min=1e-3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    rows = []
    for dim in (2, 16, 64):
        run = case(dim)
        start = time.perf_counter()
        run()
        first = time.perf_counter() - start
        warm = []
        for _ in range(2):
            start = time.perf_counter()
            run()
            warm.append(time.perf_counter() - start)
        rows.append(f"| {dim} | {first:.1f} | {min(warm):.1f} |")
    table = "\n".join([
        "`fd.audit` of a callable score (exact 2-component mixture score under VP plus 0.05 x) against the exact "
        "score, the audit's defaults (20,000 particles, 100 steps, 20,000 samples per time). Target (issue 18): "
        "d = 16 in under a minute.", "",
        "| d | first call (s) | warm, best of 2 (s) |", "|---:|---:|---:|", *rows, "",
        f"Machine: {describe()}.", "", "Command: `PYTHONPATH=. python benchmarks/bench_audit.py --write`"])
    print(table)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, f"{SECTION}\n\n{table}\n")


if __name__ == "__main__":
    main()
