"""Where the threaded (``prange``) kernels start to beat the serial ones: the crossover behind ``fpdiff._parallel``.

Every kernel with a ``parallel`` flag runs the same blocks either on all numba threads or in the calling
thread (same results bit for bit); starting the threads costs a fixed few microseconds, so small calls run
serially. Three representative kernels, each at a range of sizes, serial and parallel, fastest single call
of ``--repeats`` rounds of about 20 ms:

- ``mixture score``: :func:`fpdiff.scores._kernels.mixture_score`, 1-D, 4 components; work = points x
  components (one exponential each);
- ``SG weights``: :func:`fpdiff.fv._kernels.sg_weights`, one line of cells; work = faces (one exponential each);
- ``normals``: :func:`fpdiff.particles._random.fill_normals`, 1-D; work = particles x dimension (one normal each).

The crossover is the smallest work from which the parallel call is faster at three sizes in a row.

Usage::

    PYTHONPATH=. python benchmarks/bench_parallel_threshold.py [--threads N] [--repeats R] [--write]

``--write`` replaces the "Parallel threshold" section of ``benchmarks/RESULTS.md``.
"""

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import describe, write_section  # noqa: E402

from fpdiff._parallel import PARALLEL_WORK  # noqa: E402
from fpdiff.fv import _kernels as fv_kernels  # noqa: E402
from fpdiff.particles import _random  # noqa: E402
from fpdiff.scores import _kernels as score_kernels  # noqa: E402

SIZES = [2**k for k in range(8, 21)]
SECTION = "## Parallel threshold"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _mixture(work):
    components = 4
    x = np.linspace(-3.0, 3.0, max(1, work // components))[:, None]
    means = np.linspace(-2.0, 2.0, components)[:, None]
    precisions = np.full((components, 1, 1), 2.0)
    log_coefficients = np.full(components, -1.0)
    out = np.empty_like(x)
    return lambda parallel: score_kernels.mixture_score(x, log_coefficients, means, precisions, out, parallel)


def _sg_weights(work):
    drift = np.linspace(-4.0, 4.0, work)[None, :, None].copy()
    wl = np.empty_like(drift)
    wr = np.empty_like(drift)
    return lambda parallel: fv_kernels.sg_weights(drift, 0.5, 0.01, False, False, wl, wr, parallel)


def _normals(work):
    out = np.empty((work, 1))
    key = _random.seed_key(1)
    return lambda parallel: _random.fill_normals(key, 0, 0, 0, 0, out, parallel)


KERNELS = {"mixture score": _mixture, "SG weights": _sg_weights, "normals": _normals}


def _time(call, repeats):
    """Fastest of single calls over ``repeats`` rounds of about 20 ms each.

    The fastest call, not the mean: on a shared machine a call whose second thread is descheduled waits a
    scheduler time slice (milliseconds), which says nothing about the kernel.
    """
    call()  # compiled (from the cache) and warm
    best = np.inf
    for _ in range(repeats):
        budget = time.perf_counter() + 0.02
        calls = 0
        while calls < 20 or time.perf_counter() < budget:
            start = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - start)
            calls += 1
    return best


def crossover(sizes, serial, parallel, run=3):
    """The smallest size from which ``parallel`` is below ``serial`` at ``run`` sizes in a row, or None.

    Not "at every larger size": on a shared machine a long call can lose a thread to another process for a
    scheduler time slice (milliseconds), which says nothing about where the threads start to pay.
    """
    faster = np.asarray(parallel) < np.asarray(serial)
    for k in range(len(sizes) - run + 1):
        if faster[k:k + run].all():
            return sizes[k]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    arguments = parser.parse_args()
    if arguments.threads:
        numba.set_num_threads(arguments.threads)
    lines = [SECTION, "", f"Machine: {describe()}; numba threads: {numba.get_num_threads()}. Fastest single call "
             "(microseconds) of the serial and the threaded kernel; "
             f"`fpdiff._parallel.PARALLEL_WORK` = {PARALLEL_WORK} "
             "(`PYTHONPATH=. python benchmarks/bench_parallel_threshold.py --write`).", "",
             "| kernel | work | serial (us) | parallel (us) | serial / parallel |", "|---|---:|---:|---:|---:|"]
    print("\n".join(lines))
    crossovers = []
    for name, make in KERNELS.items():
        serial, parallel = [], []
        for work in SIZES:
            call = make(work)
            serial.append(_time(lambda: call(False), arguments.repeats) * 1e6)
            parallel.append(_time(lambda: call(True), arguments.repeats) * 1e6)
            ratio = serial[-1] / parallel[-1]
            lines.append(f"| {name} | {work} | {serial[-1]:.2f} | {parallel[-1]:.2f} | {ratio:.2f} |")
            print(lines[-1])
        crossovers.append(f"{name}: {crossover(SIZES, serial, parallel)}")
    lines += ["", "Threaded faster from work = " + "; ".join(crossovers) + " (three sizes in a row; a single slow "
              "threaded call at a large size is a thread descheduled by another process).", ""]
    print("\n".join(lines[-3:]))
    if arguments.write:
        write_section(RESULTS, SECTION, "\n".join(lines))


if __name__ == "__main__":
    main()
