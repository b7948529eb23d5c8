"""Sweeps and sharded ensembles on Dask distributed: throughput with 1 and 2 local workers, overhead per task,
and a sharded 10^8-particle reverse ensemble reduced on the cluster, with the memory per worker.

Problems (reverse OU, beta = 1, sigma = sqrt 2, from T = 1 to t_min = 1e-3, exact score of the 1-D mixture
0.5 N(-2, 0.09) + 0.5 N(2, 0.25)):

- **sweep**: 24 points (gamma in {0, 0.5, 1, 2} x steps in {40, 60, 80} x seed in {0, 1}); each point samples
  200,000 particles and returns W1 to exact samples (``fpdiff.sweep`` of a Python function). Timed serially in
  this process, then on a ``LocalCluster`` of 1 and of 2 worker processes (one thread each, NUMBA_NUM_THREADS=1),
  each after a warm-up sweep (cluster start-up and the workers' kernel loading are reported apart);
- **overhead per task**: 200 points of a function that returns at once, on 1 worker, against in-process calls;
- **sharded ensemble**: ``fpdiff.distributed.sample_ensemble`` of 10^8 particles (``--particles``), 20 steps of
  ``"ei"`` with gamma = 1, in shards of 10^6, each shard reduced on its worker to a 400-cell histogram on
  [-6, 6], moments and a 1000-level quantile sketch, merged pairwise on the cluster; memory per worker is the
  peak resident set size of the worker process (``ru_maxrss``) and its growth during the run. The same
  ensemble's first 10^7 particles are also run on 1 worker for the speed-up.

Usage::

    PYTHONPATH=. python benchmarks/bench_distributed.py [--quick] [--particles N] [--write]

``--quick`` runs 10^6 particles and fewer points; ``--write`` replaces the "Distributed" section of
``benchmarks/RESULTS.md`` (other sections are kept; atomic write).
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from fpdiff import distributed as fdd  # noqa: E402

from _machine import describe, write_section  # noqa: E402

SECTION = "## Distributed"
RESULTS = HERE / "RESULTS.md"
PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
SCORE = fd.ExactScore(PROCESS, MIXTURE)
T, T_MIN = 1.0, 1e-3
POINT_PARTICLES = 200_000


def point(gamma, steps, seed):
    """One sweep point: W1 of reverse samples to exact samples of p(t_min)."""
    samples = fd.sample_reverse(PROCESS, SCORE, POINT_PARTICLES, T, gamma=gamma, t_min=T_MIN, steps=steps,
                                seed=seed).samples
    reference = MIXTURE.evolve(PROCESS, T_MIN).sample(POINT_PARTICLES, seed=seed + 100)
    return {"w1": fd.metrics.w1(samples, reference)}


def nothing(i):
    return {"i": i}


def peak_memory():
    """Peak resident set size of this process (MiB) and its current one."""
    current = None
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, current


def cpu_seconds():
    """User + system CPU time of this process (s)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def sweep_benchmark(axes):
    n = int(np.prod([len(v) for v in axes.values()]))
    fdd.sweep(point, {k: v[:1] for k, v in axes.items()})  # compile in this process
    cpu = cpu_seconds()
    serial, serial_seconds = timed(lambda: fdd.sweep(point, axes))
    serial_cpu = cpu_seconds() - cpu
    rows, tables = [], {}
    for workers in (1, 2):
        with_start = time.perf_counter()
        with fdd.connect(workers=workers) as client:
            start_seconds = time.perf_counter() - with_start
            _, warm_seconds = timed(lambda: fdd.sweep(point, {k: v[:2] for k, v in axes.items()}, client=client))
            cpu = client.run(cpu_seconds)
            table, seconds = timed(lambda: fdd.sweep(point, axes, client=client))
            worker_cpu = [value - cpu[address] for address, value in client.run(cpu_seconds).items()]
            tables[workers] = table
            if table.failed:
                raise RuntimeError(f"{len(table.failed)} point(s) failed, e.g. {table.failed[0]['error']}")
            if workers == 1:
                trivial = 200
                _, dask_trivial = timed(lambda: fdd.sweep(nothing, {"i": list(range(trivial))}, client=client))
                _, local_trivial = timed(lambda: fdd.sweep(nothing, {"i": list(range(trivial))}))
        rows.append((workers, start_seconds, warm_seconds, seconds, n / seconds, worker_cpu))
        same = np.array_equal(table.column("w1"), serial.column("w1"))
        print(f"sweep: {workers} worker(s): start {start_seconds:.1f} s, warm-up {warm_seconds:.1f} s, "
              f"{n} points in {seconds:.2f} s ({n / seconds:.2f} points/s), CPU per worker "
              f"{[round(c, 1) for c in worker_cpu]} s; equal to serial: {same}", flush=True)
        assert same, "a sweep on the cluster must give the serial numbers"
    overhead = ((rows[0][3] - serial_seconds) / n, (dask_trivial - local_trivial) / trivial,
                (sum(rows[0][5]) - serial_cpu) / n)
    print(f"serial: {n} points in {serial_seconds:.2f} s (CPU {serial_cpu:.1f} s); overhead per task: "
          f"{overhead[0] * 1e3:.1f} ms wall, {overhead[2] * 1e3:.1f} ms CPU (sweep), {overhead[1] * 1e3:.2f} ms "
          "(trivial tasks)", flush=True)
    return n, serial_seconds, serial_cpu, rows, overhead


def worker_memory():
    return peak_memory()


def ensemble_benchmark(particles, shard):
    edges = np.linspace(-6.0, 6.0, 401)
    common = dict(steps=20, gamma=1.0, t_min=T_MIN, seed=0, histogram=edges, quantiles=1000)
    results = []
    small = min(particles, 10_000_000)
    for workers, count in ((1, small), (2, small), (2, particles)):
        if workers == 2 and count == small and particles == small:
            continue
        with fdd.connect(workers=workers) as client:
            before = client.run(worker_memory)
            fdd.sample_ensemble(PROCESS, SCORE, 2 * shard, T, client=client, shards=2, **common)  # warm-up
            cpu = client.run(cpu_seconds)
            summary, seconds = timed(lambda: fdd.sample_ensemble(PROCESS, SCORE, count, T, client=client,
                                                                 shards=max(1, count // shard), **common))
            worker_cpu = [value - cpu[address] for address, value in client.run(cpu_seconds).items()]
            after = client.run(worker_memory)
        peak = max(m[0] for m in after.values())
        growth = max(after[a][0] - before[a][1] for a in after)
        reference = MIXTURE.evolve(PROCESS, T_MIN).sample(1_000_000, seed=1)
        w1 = summary.w1(reference)[0]
        rate = count * common["steps"] / seconds
        results.append((workers, count, seconds, rate, peak, growth, w1, worker_cpu))
        print(f"ensemble: {count:.0e} particles on {workers} worker(s): {seconds:.1f} s, {rate:.3g} "
              f"particle-steps/s, CPU per worker {[round(c, 1) for c in worker_cpu]} s, peak RSS per worker {peak:.0f} MiB (+{growth:.0f} MiB), mean "
              f"{summary.mean[0]:+.5f}, W1 sketch {w1:.2e}", flush=True)
    return results, common


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--particles", type=int, default=None, help="particles of the sharded ensemble")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    axes = {"gamma": [0.0, 0.5, 1.0, 2.0], "steps": [40, 60, 80], "seed": [0, 1]}
    if args.quick:
        axes = {"gamma": [0.0, 1.0], "steps": [40, 60], "seed": [0, 1]}
    particles = args.particles or (1_000_000 if args.quick else 100_000_000)
    shard = min(1_000_000, particles)
    n, serial_seconds, serial_cpu, sweep_rows, overhead = sweep_benchmark(axes)
    ensemble, common = ensemble_benchmark(particles, shard)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()[0]

    ratio = sweep_rows[1][4] / sweep_rows[0][4]
    lines = [
        SECTION, "",
        "Reverse OU (beta = 1, sigma = sqrt 2) from T = 1 to t_min = 1e-3 (started from the prior), exact score of",
        "the 1-D mixture 0.5 N(-2, 0.09) + 0.5 N(2, 0.25). Dask `LocalCluster`s of worker processes with one thread each and",
        "NUMBA_NUM_THREADS=1 (`fpdiff.distributed.connect`).", "",
        f"Generated by `PYTHONPATH=. python benchmarks/bench_distributed.py{' --quick' if args.quick else ''}"
        f"{f' --particles {args.particles}' if args.particles else ''} --write` in {elapsed:.0f} s "
        f"(1-minute load average {load_before:.1f} at the start, {load_after:.1f} at the end) on: {describe()}.", "",
        "**Caveat**: other sessions share the 2 cores (a load average of 7-10 means each of our processes gets a "
        "fraction of a core, varying from minute to minute), so wall times here measure that contention as much "
        "as fpdiff. The CPU seconds each worker process spent (`getrusage`, read on the workers) depend on it "
        "much less (a shared core still slows each instruction, through caches and hyper-threads): they show how "
        "the work splits and what Dask adds. The speed-up a free machine would give is the "
        "1-worker CPU time over the 2-worker maximum per worker.", "",
        f"**Sweep throughput**: {n} points (gamma x steps x seed), each {POINT_PARTICLES:,} particles and W1 to exact "
        "samples (`fd.sweep` of a Python function), after a warm-up sweep on the same cluster. Every table equals "
        "the serial one exactly.", "",
        "| run | cluster start (s) | warm-up (s) | sweep wall (s) | points/s | wall vs 1 worker | CPU per worker (s) |"
        " CPU speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| serial, in-process | - | - | {serial_seconds:.2f} | {n / serial_seconds:.2f} | - | {serial_cpu:.1f} | - |",
    ]
    for workers, start_seconds, warm_seconds, seconds, rate, worker_cpu in sweep_rows:
        lines.append(f"| LocalCluster, {workers} worker(s) | {start_seconds:.1f} | {warm_seconds:.1f} | "
                     f"{seconds:.2f} | {rate:.2f} | {rate / sweep_rows[0][4]:.2f}x | "
                     f"{', '.join(f'{c:.1f}' for c in worker_cpu)} | "
                     f"{max(sweep_rows[0][5]) / max(worker_cpu):.2f}x |")
    lines += [
        "", f"2 workers / 1 worker: wall throughput **{ratio:.2f}x** (under the load above), CPU speed-up "
        f"**{max(sweep_rows[0][5]) / max(sweep_rows[1][5]):.2f}x**. Overhead per task against the serial run: "
        f"**{overhead[2] * 1e3:.1f} ms CPU** per sweep point (1 worker's CPU against the serial CPU; "
        f"{overhead[0] * 1e3:.0f} ms wall), and **{overhead[1] * 1e3:.2f} ms** wall per task for a function that "
        "returns at once (200 tasks, 1 worker, against in-process calls): Dask pays off for points of a tenth of a "
        "second and more.", "",
        f"**Sharded ensemble** (`fpdiff.distributed.sample_ensemble`): {common['steps']} steps of `\"ei\"`, gamma = 1, "
        f"shards of {shard:,} particles, each reduced on its worker to a 400-cell histogram on [-6, 6], moments and a "
        "1000-level quantile sketch, merged pairwise on the cluster (only the summary reaches the client). Memory: "
        "peak resident set of a worker process, and its growth over the worker's size before the run.", "",
        "| particles | workers | wall time (s) | particle-steps/s (wall) | CPU per worker (s) | particle-steps per "
        "CPU-s | peak RSS per worker (MiB) | growth (MiB) | W1 sketch |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, count, seconds, rate, peak, growth, w1, worker_cpu in ensemble:
        lines.append(f"| {count:,} | {workers} | {seconds:.1f} | {rate:.3g} | "
                     f"{', '.join(f'{c:.1f}' for c in worker_cpu)} | {count * common['steps'] / sum(worker_cpu):.3g} | "
                     f"{peak:.0f} | {growth:.0f} | {w1:.2e} |")
    if len(ensemble) >= 2 and ensemble[0][1] == ensemble[1][1]:
        lines += ["", f"2 workers over 1 at {ensemble[0][1]:,} particles: wall {ensemble[0][2] / ensemble[1][2]:.2f}x "
                      f"(under the load above), CPU speed-up {max(ensemble[0][7]) / max(ensemble[1][7]):.2f}x."]
    lines += ["", "W1 sketch: `EnsembleSummary.w1` against 10^6 exact samples of p(t_min). It is the error of the "
                  "sampler set-up, not of the sharding: the start from the prior N(0, 1) at T = 1 (p_T differs from "
                  "it) and 20 steps; the sketch itself adds at most range/1000 (its rank error 1/1000), the "
                  "reference samples ~1e-3."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(RESULTS, SECTION, text)
        print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
