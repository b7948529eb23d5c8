"""Particle samplers: throughput (numba against plain numpy, 1 and 2 threads) and accuracy at equal cost.

Problems (reverse OU, beta = 1, sigma = sqrt 2, from T = 1 to t_min = 1e-3, the exact score):

- 1-D mixture 0.5 N(-2, 0.09) + 0.5 N(2, 0.25), 10^5 and 10^6 particles;
- 2-D mixture 0.4 N((-1.5, 1), C1) + 0.6 N((1.5, -1), C2) with full covariances, 10^5 particles;
- 2-D ``EmpiricalScore`` of n = 1000 training points, 10^4 particles.

Throughput: ``fd.sample_reverse(..., scheme="ei", gamma=1)`` (one score evaluation and one
normal per particle and step) with numba on 1 and 2 threads, against the same gamma
exponential integrator written in plain vectorised numpy (the mixture's numpy ``score``,
``numpy.random.Generator.standard_normal``). Rates are particle-steps per second of the whole
call (kernels compiled beforehand); numpy runs fewer steps where noted (its rate per step is
steady). The compile time of the kernels is measured in a fresh process with an empty numba cache.

Work–precision: W1 (exact, by sorting, against the mixture's CDF) at t_min of each scheme
for 10^6 particles started from the exact p_T, at equal numbers of score evaluations per
particle (``"heun"`` and ``"pc"`` with one corrector step take half as many steps),
``time_grid="log-snr"``.

Usage::

    PYTHONPATH=. python benchmarks/bench_particles.py [--quick] [--write]

``--quick`` runs fewer steps and particles; ``--write`` replaces the "Particles" section of
``benchmarks/RESULTS.md`` (other sections are kept; atomic write).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from scipy.special import ndtr

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from fpdiff.particles import sample_reverse  # noqa: E402
from fpdiff.theory import gamma_ei_coefficients  # noqa: E402

from _machine import describe, write_section  # noqa: E402

SECTION = "## Particles"
RESULTS = HERE / "RESULTS.md"
PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
T, T_MIN = 1.0, 1e-3
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]],
                                [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]]])
TRAINING = MIXTURE_2D.sample(1000, seed=0)


# ------------------------------------------------------------------ numpy baseline


def numpy_mixture_score(mixture):
    return lambda y, t: mixture.evolve(PROCESS, t).score(y)


def numpy_empirical_score(points):
    def score(y, t):
        alpha, variance = float(PROCESS.alpha(t)), float(PROCESS.variance(t))
        logits = -0.5 * np.sum((y[:, None, :] - alpha * points[None, :, :]) ** 2, axis=2) / variance
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        return (alpha * (weights @ points) - y) / variance
    return score


def numpy_ei(score, n, dim, steps, seed=0):
    """The gamma = 1 exponential integrator in plain vectorised numpy (the baseline)."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, dim))
    times = np.linspace(T, T_MIN, steps + 1)
    for t, t_next in zip(times[:-1], times[1:]):
        phi, c_x0, std = gamma_ei_coefficients(PROCESS, t, t_next, 1.0)
        alpha, variance = float(PROCESS.alpha(t)), float(PROCESS.variance(t))
        denoised = (y + variance * score(y, t)) / alpha
        y = phi * y + c_x0 * denoised + std * rng.standard_normal(y.shape)
    return y


# ---------------------------------------------------------------------- throughput


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def throughput_cases(quick):
    exact_1d = fd.ExactScore(PROCESS, MIXTURE_1D)
    exact_2d = fd.ExactScore(PROCESS, MIXTURE_2D)
    empirical = fd.EmpiricalScore(PROCESS, TRAINING)
    # (problem, particles, score, numpy score, dim, numba steps, numpy steps)
    if quick:
        yield "1-D mixture", 100_000, exact_1d, numpy_mixture_score(MIXTURE_1D), 1, 100, 50
        yield "1-D mixture", 1_000_000, exact_1d, numpy_mixture_score(MIXTURE_1D), 1, 20, 5
        yield "2-D mixture", 100_000, exact_2d, numpy_mixture_score(MIXTURE_2D), 2, 100, 20
        yield "2-D empirical, n = 1000", 10_000, empirical, numpy_empirical_score(TRAINING), 2, 10, 3
        return
    yield "1-D mixture", 100_000, exact_1d, numpy_mixture_score(MIXTURE_1D), 1, 1000, 1000
    yield "1-D mixture", 1_000_000, exact_1d, numpy_mixture_score(MIXTURE_1D), 1, 1000, 100
    yield "2-D mixture", 100_000, exact_2d, numpy_mixture_score(MIXTURE_2D), 2, 1000, 200
    yield "2-D empirical, n = 1000", 10_000, empirical, numpy_empirical_score(TRAINING), 2, 100, 20


def measure_throughput(quick):
    rows = []
    threads = numba.get_num_threads()
    try:
        for problem, n, score, numpy_score, dim, steps, numpy_steps in throughput_cases(quick):
            sample_reverse(PROCESS, score, 64, T, t_min=T_MIN, steps=2)  # compile (or load) the kernels
            numpy_time = timed(lambda: numpy_ei(numpy_score, n, dim, numpy_steps))
            numpy_rate = n * numpy_steps / numpy_time
            rows.append((problem, n, "numpy", 1, numpy_steps, numpy_time, numpy_rate, 1.0))
            print(f"  {problem}, {n}: numpy {numpy_rate:.3g}/s", file=sys.stderr, flush=True)
            for count in (1, 2):
                numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
                wall = timed(lambda: sample_reverse(PROCESS, score, n, T, t_min=T_MIN, steps=steps, scheme="ei"))
                rate = n * steps / wall
                rows.append((problem, n, "fpdiff (numba)", numba.get_num_threads(), steps, wall, rate,
                             rate / numpy_rate))
                print(f"  {problem}, {n}: numba x{count} {rate:.3g}/s", file=sys.stderr, flush=True)
    finally:
        numba.set_num_threads(threads)
    return rows


def throughput_table(rows):
    lines = ["| problem | particles | implementation | threads | steps | wall time (s) | particle-steps/s "
             "| vs numpy |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for problem, n, implementation, threads, steps, wall, rate, ratio in rows:
        lines.append(f"| {problem} | {n:,} | {implementation} | {threads} | {steps} | {wall:.3g} | {rate:.3g} "
                     f"| {ratio:.1f}x |")
    return "\n".join(lines)


# ------------------------------------------------------------------ work-precision


def w1_to_mixture(samples, mixture):
    """W1 = int |F_n - F| dx between the empirical CDF and the 1-D mixture's CDF (fine quadrature)."""
    grid = np.linspace(-8.0, 8.0, 64001)
    empirical = np.searchsorted(np.sort(samples), grid, side="right") / len(samples)
    exact = sum(w * ndtr((grid - m[0]) / np.sqrt(c[0, 0]))
                for w, m, c in zip(mixture.weights, mixture.means, mixture.covariances))
    return float(np.sum(np.abs(empirical - exact)) * (grid[1] - grid[0]))


BUDGETS = (8, 16, 32, 64, 128)
SCHEME_STAGES = {"em": 1, "ei": 1, "heun": 2, "pc": 2}


def measure_accuracy(quick):
    n = 50_000 if quick else 1_000_000
    budgets = BUDGETS[:3] if quick else BUDGETS
    score = fd.ExactScore(PROCESS, MIXTURE_1D)
    target = MIXTURE_1D.evolve(PROCESS, T_MIN)
    start = MIXTURE_1D.evolve(PROCESS, T).sample(n, seed=1)
    # W1 of exact samples of the same size: it varies from sample to sample (the share of each mode is
    # binomial), so its mean and spread over 10 samples
    exact = [w1_to_mixture(target.sample(n, seed=100 + k)[:, 0], target) for k in range(10)]
    floor = (float(np.mean(exact)), float(np.std(exact)))
    results = {}
    for gamma in (0.0, 1.0):
        for scheme, stages in SCHEME_STAGES.items():
            if scheme == "pc" and gamma == 0.0:
                continue  # the corrector adds noise: "pc" has no deterministic version
            results[(gamma, scheme)] = [
                w1_to_mixture(sample_reverse(PROCESS, score, start, T, gamma=gamma, t_min=T_MIN,
                                             steps=budget // stages, scheme=scheme, time_grid="log-snr",
                                             seed=3).samples[:, 0], target)
                for budget in budgets]
            print(f"  W1 gamma={gamma} {scheme}: {results[(gamma, scheme)]}", file=sys.stderr, flush=True)
    return n, budgets, floor, results


def accuracy_table(budgets, results):
    header = "| gamma | scheme | " + " | ".join(f"{b} evals" for b in budgets) + " |"
    lines = [header, "|---|---|" + "---:|" * len(budgets)]
    for (gamma, scheme), values in results.items():
        lines.append(f"| {gamma:g} | {scheme} | " + " | ".join(f"{v:.2e}" for v in values) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------- compile time


PROBE = """
import time, fpdiff as fd
from fpdiff.particles import sample_reverse
score = fd.ExactScore(fd.OU(), fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25]))
for label in ("first", "warm"):
    start = time.perf_counter()
    for scheme in ("em", "ei", "heun", "pc"):
        sample_reverse(fd.OU(), score, 1000, 1.0, steps=10, scheme=scheme)
    print(label, time.perf_counter() - start)
"""


def measure_compile():
    """First-call and warm times of the four schemes in a fresh process with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        output = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                                check=True).stdout
    times = dict(line.split() for line in output.strip().splitlines())
    return float(times["first"]), float(times["warm"])


# ------------------------------------------------------------------------ report


def contention_note(load_before):
    """A warning when other processes kept cores busy (the 1-minute load average before this run started)."""
    if load_before < 0.5:
        return ""
    return (f"\n\n**Caveat**: before this run started the 1-minute load average was already {load_before:.1f} "
            f"(other processes on {os.cpu_count()} cores). A numba parallel loop waits for its slowest thread, "
            "so a thread that shares its core with another busy process slows every step: the 2-thread rows "
            "then measure that contention, not the scaling of the kernels (results are identical for any "
            "number of threads; only the time differs).")


def section(throughput, accuracy, compile_times, quick, elapsed, load_before=0.0):
    n, budgets, floor, results = accuracy
    first, warm = compile_times
    return f"""{SECTION}

Reverse OU (beta = 1, sigma = sqrt 2) from T = 1 to t_min = 1e-3 with the exact score.
1-D: 0.5 N(-2, 0.09) + 0.5 N(2, 0.25); 2-D: 0.4 N((-1.5, 1), C1) + 0.6 N((1.5, -1), C2)
with full covariances; empirical: `EmpiricalScore` of 1000 points drawn from the 2-D mixture.

Generated by `PYTHONPATH=. python benchmarks/bench_particles.py --write{' --quick' if quick else ''}` \
in {elapsed:.0f} s (1-minute load average at the end {os.getloadavg()[0]:.1f}; other processes on the
machine inflate timings, the multithreaded ones most) on: {describe()}.

**Throughput** of `sample_reverse(..., scheme="ei", gamma=1)` (one score evaluation and one normal per
particle and step, particles drawn from the prior, the whole call timed with compiled kernels)
against the same exponential integrator in plain vectorised numpy (the mixture's numpy `score`,
`Generator.standard_normal`; Python loop over steps). numpy runs fewer steps where the table
says so: its rate per step is steady.{contention_note(load_before)}

{throughput_table(throughput)}

**Accuracy at equal cost**: W1 at t_min (exact, against the mixture's CDF) of {n:,} particles
started from the exact p_T (1-D mixture), against the number of score evaluations per particle
(`heun`, and `pc` with its one corrector step, take half as many steps), `time_grid="log-snr"`,
`pc` with its defaults (predictor `ei`, snr = 0.16). Monte-Carlo floor: W1 of {n:,} exact
samples is {floor[0]:.1e} +- {floor[1]:.1e} (mean and standard deviation over 10 samples; the start
sample carries such an error too, which is why the columns level off near it).

{accuracy_table(budgets, results)}

Compile time of the particle kernels (four schemes, 1000 particles, 10 steps, measured in a fresh
process with an empty numba cache): first call {first:.1f} s, warm {warm:.3f} s: **compile
{first - warm:.1f} s**, paid once per machine (`cache=True`).
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and particles")
    parser.add_argument("--write", action="store_true", help="rewrite the section of benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    print("compile time ...", file=sys.stderr, flush=True)
    compile_times = measure_compile()
    print("throughput ...", file=sys.stderr, flush=True)
    throughput = measure_throughput(args.quick)
    print("work-precision ...", file=sys.stderr, flush=True)
    accuracy = measure_accuracy(args.quick)
    text = section(throughput, accuracy, compile_times, args.quick, time.perf_counter() - start, load_before)
    print(text)
    if args.write:
        write_section(RESULTS, SECTION, text)
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
