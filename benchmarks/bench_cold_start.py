"""Cold start: the first solve on a machine whose numba cache is empty, against the same call with the cache filled.

Issue 20 asks for the first ``solve_forward`` and the first ``sample_reverse`` in <= 8 s each and the first
``fpdiff demo`` in <= 30 s on an idle 2-core machine. Each case runs in a fresh Python process with
``NUMBA_CACHE_DIR`` pointing at a new empty folder (cold: every kernel it calls compiles), then again in a fresh
process with that folder filled (warm: the kernels load from the cache). The import of fpdiff is timed apart.
The compile cost of a case is its cold time minus its warm time; which kernels compile is listed by numba's
dispatchers after the cold call (those with a compiled signature), with their count of signatures.

Usage::

    PYTHONPATH=. python benchmarks/bench_cold_start.py [--write]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _machine import describe, write_section  # noqa: E402

SECTION = "## Cold start"

#: run in a child: prints a JSON line {"import": s, "call": s, "kernels": {name: signatures}}
CHILD = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
import fpdiff as fd
imported = time.perf_counter() - start
case = sys.argv[1]
start = time.perf_counter()
if case == "solve_forward":
    fd.solve_forward(fd.OU(), fd.Grid([(-8, 8)], 400), fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25]),
                     1.0)
elif case == "sample_reverse":
    mixture = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
    fd.sample_reverse(fd.OU(), fd.ExactScore(fd.OU(), mixture), 10_000, 1.0)
elif case == "fpdiff demo":
    from fpdiff.app.demo import run_demo
    import contextlib, io, os, tempfile
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        run_demo(os.path.join(folder, "demo"))
called = time.perf_counter() - start
import numba.core.registry
kernels = {}
for module in list(sys.modules.values()):
    if getattr(module, "__name__", "").startswith("fpdiff"):
        for name, value in vars(module).items():
            signatures = getattr(value, "signatures", None)
            if isinstance(value, numba.core.registry.CPUDispatcher) and signatures:
                kernels[f"{value.py_func.__module__}.{name}"] = len(signatures)
print(json.dumps({"import": imported, "call": called, "kernels": kernels}))
"""


def run(case, cache):
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", CHILD, case], capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"{case} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    targets = {"solve_forward": 8.0, "sample_reverse": 8.0, "fpdiff demo": 30.0}
    rows, kernel_lines = [], []
    for case, target in targets.items():
        with tempfile.TemporaryDirectory() as cache:
            cold, warm = run(case, cache), run(case, cache)
        total = cold["import"] + cold["call"]
        verdict = "met" if total <= target else f"missed by {total - target:.1f} s"
        rows.append(f"| {case} | {cold['import']:.1f} | {cold['call']:.1f} | {warm['import']:.1f} | "
                    f"{warm['call']:.2f} | {cold['call'] - warm['call']:.1f} | {target:g} ({verdict}) |")
        compiled = sorted(cold["kernels"].items(), key=lambda item: -item[1])
        kernel_lines.append(f"- {case}: {len(compiled)} kernels, {sum(n for _, n in compiled)} signatures "
                            f"({', '.join(f'{name.split(chr(46))[-1]} x{n}' for name, n in compiled[:8])}"
                            f"{', ...' if len(compiled) > 8 else ''})")
        print(rows[-1], file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    table = "\n".join([
        "Each case in a fresh process with an empty numba cache (cold), then in a fresh process with the cache it "
        f"filled (warm); wall seconds; 1-minute load average {load:.1f} at the end.", "",
        "| case | import, cold | first call, cold | import, warm | call, warm | compile (cold - warm) | "
        "target for import + call (s) |", "|---|---:|---:|---:|---:|---:|---|", *rows, "",
        "Kernels compiled by the cold call (numba dispatchers with a signature, the most signatures first):", "",
        *kernel_lines, "", f"Machine: {describe()}.", "",
        "Command: `PYTHONPATH=. python benchmarks/bench_cold_start.py --write`"])
    print(table)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, f"{SECTION}\n\n{table}\n")


if __name__ == "__main__":
    main()
