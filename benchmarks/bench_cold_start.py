"""Cold start: the first solve on a machine whose numba cache is empty, against the same call with the cache filled.

Issue 20 asks for the first ``solve_forward`` and the first ``sample_reverse`` in <= 8 s each and the first
``fpdiff demo`` in <= 30 s on an idle 2-core machine. Each case runs in a fresh Python process with
``NUMBA_CACHE_DIR`` pointing at a new empty folder (cold: every kernel it calls compiles), then again in a fresh
process with that folder filled (warm: the kernels load from the cache). The import of fpdiff is timed apart.
The compile cost of a case is its cold time minus its warm time. Compiling is single-threaded work, so the cold
process's CPU time is also given: on a loaded machine the wall time grows and the CPU time hardly does.

Where the compile time goes: numba reports the start and end of every compilation (``numba:compile`` events);
each kernel is charged the CPU time of its compilation less that of the kernels compiled inside it (a kernel
compiles the kernels it calls first, and then LLVM optimises and emits its own code with theirs linked in, which
is charged to it). A ``parallel`` kernel's threaded variant is listed as ``name__threaded``
(:func:`fpdiff._jit.jit_variants`). The demo compiles its particle kernels in a second process (hidden behind
the grid kernels), whose compilations are not listed.

``--baseline DIR`` also times the checkout in ``DIR`` (for instance a clone of the main branch), case by case
just before this one, so that both are measured under the same load.

Usage::

    PYTHONPATH=. python benchmarks/bench_cold_start.py [--baseline DIR] [--write]
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

#: run in a child: prints a JSON line {"import": s, "call": s, "cpu": s, "kernels": {name: [signatures, s]}}
CHILD = r"""
import json, sys, time
from numba.core import event

compiling, kernels = [], {}


class Compilations(event.Listener):
    def on_start(self, data):
        compiling.append([time.thread_time(), 0.0])

    def on_end(self, data):
        start, inner = compiling.pop()
        seconds = time.thread_time() - start
        if compiling:
            compiling[-1][1] += seconds
        function = data.data["dispatcher"].py_func
        name = f"{function.__module__}.{function.__qualname__}"
        if not name.startswith("fpdiff."):
            name = "numba's own functions"
        count, total = kernels.get(name, (0, 0.0))
        kernels[name] = (count + 1, total + seconds - inner)


if __name__ == "__main__":
    event.register("numba:compile", Compilations())
    cpu = time.process_time()
    start = time.perf_counter()
    import numpy as np
    import fpdiff as fd
    imported = time.perf_counter() - start
    case = sys.argv[1]
    start = time.perf_counter()
    if case == "solve_forward":
        fd.solve_forward(fd.OU(), fd.Grid([(-8, 8)], 400),
                         fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25]), 1.0)
    elif case == "sample_reverse":
        mixture = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
        fd.sample_reverse(fd.OU(), fd.ExactScore(fd.OU(), mixture), 10_000, 1.0)
    elif case == "fpdiff demo":
        from fpdiff.app.demo import run_demo
        import contextlib, io, os, tempfile
        with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
            run_demo(os.path.join(folder, "demo"), progress=False)
    called = time.perf_counter() - start
    print(json.dumps({"import": imported, "call": called, "cpu": time.process_time() - cpu, "kernels": kernels}))
"""

TARGETS = {"solve_forward": 8.0, "sample_reverse": 8.0, "fpdiff demo": 30.0}
#: the cases that compile in one thread: their cold CPU time is about their wall time on an idle machine
SINGLE_THREADED = ("solve_forward", "sample_reverse")
#: kernels listed per case and checkout
LISTED = 10


def run(case, cache, root):
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(root))
    result = subprocess.run([sys.executable, "-c", CHILD, case], capture_output=True, text=True, env=environment,
                            cwd=root)
    if result.returncode != 0:
        raise SystemExit(f"{case} failed in {root}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def label(root):
    """The checkout's branch and commit, and ``+`` when it has changes not committed."""
    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()
    changed = "+" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{git('rev-parse', '--abbrev-ref', 'HEAD')} {git('rev-parse', '--short', 'HEAD')}{changed}"


def measure(case, root):
    with tempfile.TemporaryDirectory() as cache:
        return run(case, cache, root), run(case, cache, root)


def row(case, name, cold, warm):
    total = cold["import"] + cold["call"]
    target = TARGETS[case]
    verdict = "met" if total <= target else f"missed by {total - target:.1f} s"
    if total > target and case in SINGLE_THREADED and cold["cpu"] <= target:
        verdict += f"; CPU {cold['cpu']:.1f} s: met"
    return (f"| {case} | {name} | {cold['import']:.1f} | {cold['call']:.1f} | {cold['cpu']:.1f} | "
            f"{warm['import']:.1f} | {warm['call']:.2f} | {cold['call'] - warm['call']:.1f} | {target:g} ({verdict}) |")


def kernel_line(case, name, cold):
    compiled = sorted(cold["kernels"].items(), key=lambda item: -item[1][1])
    signatures = sum(count for count, _ in cold["kernels"].values())
    listed = ", ".join(f"{kernel.split('.')[-1]} {seconds:.2f}" + (f" (x{count})" if count > 1 else "")
                       for kernel, (count, seconds) in compiled[:LISTED])
    return (f"- {case}, {name}: {len(compiled)} kernels, {signatures} compilations, "
            f"{sum(seconds for _, seconds in cold['kernels'].values()):.1f} s: {listed}"
            f"{', ...' if len(compiled) > LISTED else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="also time the checkout in this folder, case by case first")
    parser.add_argument("--write", action="store_true", help="record the table in benchmarks/RESULTS.md")
    args = parser.parse_args()
    checkouts = [(label(args.baseline), args.baseline.resolve())] if args.baseline else []
    checkouts.append((label(ROOT), ROOT))
    rows, kernel_lines = [], []
    for case in TARGETS:
        for name, root in checkouts:
            cold, warm = measure(case, root)
            rows.append(row(case, name, cold, warm))
            kernel_lines.append(kernel_line(case, name, cold))
            print(rows[-1], file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    table = "\n".join([
        "Each case in a fresh process with an empty numba cache (cold), then in a fresh process with the cache it "
        "filled (warm); wall seconds, and the CPU seconds of the cold process (import and call; compiling is "
        f"single-threaded, so the load of the machine hardly changes it); 1-minute load average {load:.1f} at "
        "the end. The targets are for an idle machine: where the load inflates the wall time of a case that "
        "compiles in one thread (all but the demo, which compiles in two processes), its CPU time stands for "
        "the idle wall time. The demo compiles its particle kernels in a second process while the first "
        "compiles the grid kernels, so its cold wall time is at least that of the particle kernels (about the "
        "sample_reverse row) plus its warm run.", "",
        "| case | checkout | import, cold | first call, cold | CPU, cold | import, warm | call, warm | "
        "compile (cold - warm) | target for import + call (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|", *rows, "",
        "Compile CPU seconds by kernel in the cold call, the most first (each kernel without the kernels compiled "
        "inside it, but with the time LLVM takes to optimise and emit their code again as part of it; "
        "`__threaded`: the threaded variant of a kernel; the demo's particle kernels compile in a second "
        "process, not listed):", "",
        *kernel_lines, "", f"Machine: {describe()}.", "",
        f"Command: `PYTHONPATH=. python benchmarks/bench_cold_start.py{' --baseline DIR' if args.baseline else ''} "
        "--write`"])
    print(table)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, f"{SECTION}\n\n{table}\n")


if __name__ == "__main__":
    main()
