"""Anatomy of a particle step: where the nanoseconds of one particle-step of ``sample_reverse`` go.

The fused run (``sample_reverse(..., scheme="ei", gamma=1)`` with an exact mixture score, one thread) keeps a
block of :data:`fpdiff.particles._random.BLOCK` particles in the L1 cache while it takes every step, so a step
is compute: the normals, the mixture score (its quadratic forms, ``exp`` and log-sum-exp, transposes) and the
update. This script times each piece alone on one L1-resident block (repeated to cover 10^6 particles per
step), the whole fused run, and the bounds this CPU sets in the same process: a streaming triad from main memory
(what a step costs if the particles leave the cache each step), the same triad in L1, the throughput of the
vectorised ``exp`` (:func:`fpdiff._vmath.vexp`), of numba's scalar ``math.exp``, and of the SplitMix64 hash of
the counter-based normals; numpy's ``standard_normal(out=)`` and ``exp(out=)`` for scale. Times are
CPU nanoseconds per particle-step (per number for the bounds), the least of a few repeats, one thread.

Usage::

    PYTHONPATH=. python benchmarks/bench_particle_anatomy.py [--write]
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from fpdiff._jit import jit  # noqa: E402
from fpdiff._vmath import vexp  # noqa: E402
from fpdiff.particles import _kernels, _random  # noqa: E402
from fpdiff.particles._scores import KernelScore  # noqa: E402
from fpdiff.scores._kernels import _mixture_score_block  # noqa: E402

from _machine import describe, write_section  # noqa: E402

SECTION = "## Particle anatomy"
PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
T, T_MIN = 1.0, 1e-3
#: the problems of bench_particles.py's throughput table
MIXTURES = {
    1: fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25]),
    2: fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]],
                          [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]]]),
}
PARTICLES = 1_000_000
STEPS = 200
BLOCK = _random.BLOCK
REPEATS = PARTICLES // BLOCK  # block passes per step of 10^6 particles


@jit
def _normals_block(key, noise, steps, repeats):
    """The counter-based ziggurat normals of one block, ``steps x repeats`` times (new numbers each time)."""
    for s in range(steps):
        for r in range(repeats):
            _random.normal_rows(key, _random.STEP, r * BLOCK, s, 0, noise, 0, noise.shape[0])


@jit(contract=True)
def _normals_probe(key, noise, steps, repeats, abscissae, layers, keys, table):
    """Parts of :func:`fpdiff.particles._random.normal_rows` for d = 1 (probes, not normals): the keys and the
    first-try words (``table`` False), then also the layers' table look-up without the acceptance test (True)."""
    count = noise.shape[0]
    for s in range(steps):
        for r in range(repeats):
            stage = _random.stage_key(key, _random.STEP, s, 0)
            for m in range(count):
                keys[m] = _random._mix(stage ^ (np.uint64(r * BLOCK + m) * _random._C_PARTICLE))
            for m in range(count):
                word = _random._mix(keys[m] + _random._GOLDEN)
                layers[m] = np.int64(word & _random._LAYER_MASK)
                abscissae[m] = 2.0 * (float(np.int64(word >> _random._S11)) * _random._TO_UNIT) - 1.0
            if table:
                for m in range(count):
                    noise[m, 0] = abscissae[m] * _random._ZIGGURAT_X[layers[m]]


@jit
def _score_block(y, log_coefficients, centres, precisions, score, steps, repeats):
    """The mixture score of one block (transpose, two log-sum-exp passes, transpose back), repeated."""
    for s in range(steps):
        for r in range(repeats):
            _mixture_score_block(y, 0, y.shape[0], log_coefficients, centres, precisions, score)


@jit(contract=True)
def _update_block(y, score, noise, steps, repeats):
    """The EI update ``y <- phi y + c (y + v s) + std xi`` of one block, repeated (coefficients as in a step)."""
    flat_y, flat_s, flat_n = y.reshape(y.size), score.reshape(score.size), noise.reshape(noise.size)
    for s in range(steps):
        for r in range(repeats):
            for j in range(flat_y.size):
                flat_y[j] = 0.999 * flat_y[j] + 1e-3 * (flat_y[j] + 0.5 * flat_s[j]) + 0.03 * flat_n[j]


@jit
def _nonfinite_block(y, steps, repeats):
    bad = 0
    for s in range(steps):
        for r in range(repeats):
            bad += _kernels._nonfinite_rows(y, 0, y.shape[0])
    return bad


@jit(contract=True)
def _triad(a, b, c, repeats):
    """``a = b + 0.5 c`` over the arrays, ``repeats`` times: 24 bytes per number."""
    for r in range(repeats):
        for j in range(a.size):
            a[j] = b[j] + 0.5 * c[j]


@jit(contract=True)
def _vexp_loop(x, out, repeats):
    for r in range(repeats):
        for j in range(x.size):
            out[j] = vexp(x[j] - 1e-9 * r)


@jit
def _scalar_exp_loop(x, out, repeats):
    for r in range(repeats):
        for j in range(x.size):
            out[j] = np.exp(x[j] - 1e-9 * r)


@jit
def _hash_loop(keys, out, repeats):
    for r in range(repeats):
        increment = np.uint64(r + 1) * _random._GOLDEN
        for j in range(keys.size):
            out[j] = _random._mix(keys[j] + increment)


def per_item(function, items, repeats=3):
    """CPU nanoseconds per item of ``function()`` (the least of ``repeats``; compiled by a first call).

    CPU time, not wall time: everything here runs on one thread, and on a shared machine the CPU time of
    this process leaves out the time other processes held its core (they still share the caches).
    """
    function()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return min(times) / items * 1e9


def pieces(dim):
    """ns per particle-step of each piece on an L1-resident block, and of the whole fused run."""
    mixture = MIXTURES[dim]
    kernel_score = KernelScore(fd.ExactScore(PROCESS, mixture))
    lc, centres, precisions, alpha, variance, layout = kernel_score.data(0.3)
    rng = np.random.default_rng(0)
    y = rng.standard_normal((BLOCK, dim))
    score, noise = np.empty_like(y), rng.standard_normal((BLOCK, dim))
    key = _random.seed_key(0)
    steps = 20
    items = steps * REPEATS * BLOCK
    rows = {}
    if dim == 1:
        scratch = np.empty(BLOCK), np.empty(BLOCK, np.int64), np.empty(BLOCK, np.uint64)
        rows["normals, part: keys and first-try words (SIMD hashes)"] = per_item(
            lambda: _normals_probe(key, noise, steps, REPEATS, *scratch, False), items)
        rows["normals, part: + table look-up, no acceptance test"] = per_item(
            lambda: _normals_probe(key, noise, steps, REPEATS, *scratch, True), items)
    rows.update({
        "normals (counter-based ziggurat)": per_item(lambda: _normals_block(key, noise, steps, REPEATS), items),
        "mixture score (transposes, 2 passes, vexp)": per_item(
            lambda: _score_block(y, lc, centres, precisions, score, steps, REPEATS), items),
        "update (EI, FMA)": per_item(lambda: _update_block(y, score, noise, steps, REPEATS), items),
        "non-finite check": per_item(lambda: _nonfinite_block(y, steps, REPEATS), items),
    })
    run = lambda: fd.sample_reverse(PROCESS, fd.ExactScore(PROCESS, mixture), PARTICLES, T, t_min=T_MIN, # noqa
                                    steps=STEPS, scheme="ei", time_grid="uniform")
    rows[WHOLE] = per_item(run, PARTICLES * STEPS, repeats=2)
    return rows


def bounds():
    """ns per number of the CPU's limits that bound a particle-step (one thread)."""
    n = 4 * PARTICLES  # 32 MiB per array: beyond the caches
    a, b, c = np.zeros(n), np.ones(n), np.ones(n)
    small = [np.zeros(BLOCK), np.ones(BLOCK), np.ones(BLOCK)]
    x = np.linspace(-20.0, 0.0, BLOCK)
    out = np.empty(BLOCK)
    keys = np.arange(BLOCK, dtype=np.uint64)
    words = np.empty(BLOCK, np.uint64)
    generator = np.random.default_rng(0)
    big = np.empty(PARTICLES)
    passes = 20 * REPEATS
    return {
        "triad a = b + 0.5 c from main memory (24 bytes)": per_item(lambda: _triad(a, b, c, 5), 5 * n),
        "triad in L1 (one block)": per_item(lambda: _triad(*small, passes), passes * BLOCK),
        "vexp (degree-13 polynomial, SIMD)": per_item(lambda: _vexp_loop(x, out, passes), passes * BLOCK),
        "math.exp in a numba loop (libm, scalar)": per_item(lambda: _scalar_exp_loop(x, out, passes // 4),
                                                            passes // 4 * BLOCK),
        "SplitMix64 hash (one 64-bit word, SIMD)": per_item(lambda: _hash_loop(keys, words, passes), passes * BLOCK),
        "numpy standard_normal(out=) (PCG64, ziggurat)": per_item(lambda: generator.standard_normal(out=big),
                                                                  PARTICLES),
        "numpy exp(out=)": per_item(lambda: np.exp(big, out=big) if big.fill(-1.0) is None else None, PARTICLES),
    }


def simd_flags():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next(line for line in cpuinfo if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return ", ".join(flag for flag in ("avx2", "fma", "avx512f", "avx512dq", "avx512vl") if flag in flags)


def report():
    numba.set_num_threads(1)
    load_before = os.getloadavg()[0]
    lines = [f"One thread; 1-minute load average {load_before:.1f} before, {{after}} after. SIMD: {simd_flags()}; "
             f"numba's target CPU: {numba.config.CPU_NAME or 'host'} "
             f"({__import__('llvmlite.binding', fromlist=['x']).get_host_cpu_name()}).", "",
             "| piece (1 thread, one L1-resident block of 512 particles) | 1-D, ns per particle-step "
             "| 2-D, ns per particle-step |", "|---|---:|---:|"]
    one, two = pieces(1), pieces(2)
    for name in one:
        lines.append(f"| {name} | {one[name]:.2f} | {two.get(name, float('nan')):.2f} |".replace("| nan |", "| - |"))
    summed = {d: sum(v for k, v in rows.items() if not k.startswith(("whole", "normals, part")))
              for d, rows in ((1, one), (2, two))}
    lines.append(f"| sum of the pieces | {summed[1]:.2f} | {summed[2]:.2f} |")
    lines.append(f"| the fused loop's own cost (whole run - sum) | {one[WHOLE] - summed[1]:.2f} "
                 f"| {two[WHOLE] - summed[2]:.2f} |")
    limits = bounds()
    lines += ["", "| bound (1 thread) | ns per number |", "|---|---:|"]
    for name, value in limits.items():
        lines.append(f"| {name} | {value:.3f} |")
    lines[0] = lines[0].format(after=f"{os.getloadavg()[0]:.1f}")
    return "\n".join(lines + ["", analysis(one, two, limits, numpy_step_ns())])


WHOLE = "whole fused run (sample_reverse)"


def numpy_step_ns():
    """CPU ns per particle-step of the careful numpy loop of ``bench_particles.py`` (10^6 particles, 1-D and 2-D)."""
    from bench_particles import numpy_ei_elementwise

    steps = 10
    return {dim: per_item(lambda: numpy_ei_elementwise(MIXTURES[dim], PARTICLES, dim, steps), PARTICLES * steps,
                          repeats=2) for dim in (1, 2)}


def analysis(one, two, limits, numpy_ns):
    """Where the time goes, in words, from this run's numbers."""
    normals, score, update = (one[k] for k in ("normals (counter-based ziggurat)",
                                               "mixture score (transposes, 2 passes, vexp)", "update (EI, FMA)"))
    words = one["normals, part: keys and first-try words (SIMD hashes)"]
    table = one["normals, part: + table look-up, no acceptance test"]
    vexp = limits["vexp (degree-13 polynomial, SIMD)"]
    hash_ = limits["SplitMix64 hash (one 64-bit word, SIMD)"]
    triad = limits["triad a = b + 0.5 c from main memory (24 bytes)"]
    components = len(MIXTURES[1].weights)
    return "\n".join([
        "**Analysis.** The fused run is not memory-bound: a block of particles stays in the L1 cache for all its "
        f"steps, and a step touches its numbers only there; streaming the particles from main memory each step "
        f"(one read and one write, 16 bytes a number, at the triad's {triad:.2f} ns per 24 bytes) would alone "
        f"cost about {triad * 2 / 3:.2f} ns per number. The step is compute, three pieces "
        f"(1-D, {one[WHOLE]:.2f} ns per particle-step):",
        "",
        f"- **Normals, {normals:.2f} ns ({normals / one[WHOLE]:.0%})**: the counter-based hashes cost {words:.2f} ns "
        f"(two SplitMix64 words a normal, {2 * hash_:.2f} ns at the hash's SIMD throughput, plus the conversion); "
        f"the ziggurat's table look-up adds {table - words:.2f} ns (gathers); the acceptance test (a branch) and "
        "the ~1.2% of normals rejected at the first try (wedge or tail: two libm exps or logs, a new word, "
        f"mispredicted branches; at most {(normals - table) / 0.012:.0f} ns each, the row replayed sequentially) "
        f"add {normals - table:.2f} ns. A branch-free acceptance pass (a select after gathers of both tables) was "
        "tried and was slower on this CPU: gathers are slow here. numpy's PCG64 ziggurat costs "
        f"{limits['numpy standard_normal(out=) (PCG64, ziggurat)']:.1f} ns a normal here.",
        f"- **Mixture score, {score:.2f} ns ({score / one[WHOLE]:.0%})** for K = {components}: {components} "
        f"vectorised exps at {vexp:.2f} ns ({components * vexp:.2f} ns: the degree-13 polynomial of "
        "`fpdiff._vmath.vexp` is 13 FMAs and a reduction per number, LLVM's 256-bit vectors); the rest is the "
        "first pass (largest log-weight), the transposes, the division by the total and the work array "
        "allocated per call. The two-pass log-sum-exp evaluates each quadratic form twice (cheap next to the "
        "exps). Numba's scalar `math.exp` costs "
        f"{limits['math.exp in a numba loop (libm, scalar)']:.1f} ns: the SIMD exp is what makes the score cheap.",
        f"- **Update and checks, {update + one['non-finite check']:.2f} ns**; the fused loop itself (stage "
        "dispatch, the scratch arrays allocated per stage and block, block copies) "
        f"{one[WHOLE] - sum(v for k, v in one.items() if not k.startswith(('whole', 'normals, part'))):.2f} ns.",
        "",
        "What the targets need: issue 20 asks for 8x a careful numpy loop, which runs at "
        f"{numpy_ns[1]:.0f} ns per particle-step in 1-D and {numpy_ns[2]:.0f} ns in 2-D (`bench_particles.py`'s "
        f"baseline, CPU time in this run: fpdiff is {numpy_ns[1] / one[WHOLE]:.1f}x and "
        f"{numpy_ns[2] / two[WHOLE]:.1f}x it), so {numpy_ns[1] / 8:.1f} ns and {numpy_ns[2] / 8:.1f} ns. Normals and "
        f"exps alone cost {normals + components * vexp:.1f} ns in 1-D, so the target needs both a cheaper "
        "normal (a branch-free method whose every lane takes the same path, e.g. a vectorised Box–Muller or "
        "an inversion with a SIMD log, about 1 ns; a new random stream, hence a statistical, not a bitwise, "
        "check) and fewer or cheaper exps in the mixture score (K = 2 needs one exp: the responsibilities "
        "are a logistic function of the log-weights' difference; a shorter polynomial or a table-driven exp "
        "halves the cost of each). Both live outside `fpdiff/particles` (`fpdiff/scores/_kernels.py`, "
        "`fpdiff/_vmath.py`) or change the random stream, and are not done here.",
    ])


def cold_start():
    """The first ``sample_reverse`` in a fresh process with an empty numba cache (``bench_cold_start.py``'s case)."""
    from bench_cold_start import run

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as cache:
        cold = run("sample_reverse", cache, ROOT)
        middle = resource.getrusage(resource.RUSAGE_CHILDREN)
        warm = run("sample_reverse", cache, ROOT)
    cpu = middle.ru_utime + middle.ru_stime - before.ru_utime - before.ru_stime
    compiled = sorted(cold["kernels"].items(), key=lambda item: -item[1][1])  # {name: [signatures, seconds]}
    return "\n".join([
        "**Cold start** of `sample_reverse` (the case of `bench_cold_start.py`: 10^4 particles, 1-D mixture, the "
        "defaults; a fresh process with an empty numba cache, then one with the cache it filled): import "
        f"{cold['import']:.1f} s, first call {cold['call']:.1f} s cold (the cold process: {cpu:.1f} s of CPU time, "
        f"import included), {warm['call']:.2f} s warm; load average {os.getloadavg()[0]:.1f}; "
        f"{len(compiled)} kernels compiled, {sum(n for _, (n, _) in compiled)} signatures "
        f"({', '.join(name.split('.')[-1] for name, _ in compiled)}). Before issue 20's changes to "
        "`fpdiff/particles` (commit 9ca2799, the same case on this machine at a load average of 0.6): first "
        "call 17.3 s, 22 kernels (the training points' and the table's score kernels, a parallel and a serial "
        "copy of the fused loop, a parallel `fill_normals` for the prior); side by side with this version at a "
        "load average of 4, the first call took 32.2 s before and 7.9 s after, the cold process 20.0 s and "
        "8.6 s of CPU time (2.3x less), the warm call 0.20 s and 0.16 s. Now the fused path has one call site "
        "per large kernel, runs serial kernels on Python threads, compiles only the score kind it runs "
        "(`numba.literally`) and draws the prior with its own kernel. Most of what remains is the mixture's "
        "block kernels in `fpdiff/scores/_kernels.py`, compiled for d = 1, 2 and any d whatever the run's d."])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the section in benchmarks/RESULTS.md")
    args = parser.parse_args()
    started = time.perf_counter()
    table = report() + "\n\n" + cold_start()
    text = (f"{SECTION}\n\nGenerated by `PYTHONPATH=. python benchmarks/bench_particle_anatomy.py --write` in "
            f"{time.perf_counter() - started:.0f} s on: {describe()}.\n\n{table}\n")
    print(text)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, text)


if __name__ == "__main__":
    main()
