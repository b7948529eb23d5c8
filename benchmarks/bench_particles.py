"""Particle samplers: throughput (numba against plain numpy, 1 and 2 threads) and accuracy at equal cost.

Problems (reverse OU, beta = 1, sigma = sqrt 2, from T = 1 to t_min = 1e-3, the exact score):

- 1-D mixture 0.5 N(-2, 0.09) + 0.5 N(2, 0.25), 10^6 particles;
- 2-D mixture 0.4 N((-1.5, 1), C1) + 0.6 N((1.5, -1), C2) with full covariances, 10^6 particles;
- 2-D ``EmpiricalScore`` of n = 1000 training points, 10^4 particles.

Throughput: ``fd.sample_reverse(..., scheme="ei", gamma=1, time_grid="uniform")`` (one score evaluation and one
normal per particle and step) with numba on 1 and 2 threads, against the same gamma
exponential integrator written in plain vectorised numpy (the mixture's numpy ``score``,
``numpy.random.Generator.standard_normal``). Rates are particle-steps per second of the whole
call (kernels compiled beforehand); numpy runs fewer steps where noted (its rate per step is
steady). W1 to p_{t_min} of each run's samples is printed beside it (2-D: the mean of the
two marginals' W1). The compile time of the kernels is measured in a fresh process with an
empty numba cache.

Peers: Euler–Maruyama (gamma = 1, uniform steps) from the same start points (exact p_T
samples) in fpdiff (``scheme="em"``), plain numpy, diffrax (JAX on the CPU,
``UnsafeBrownianPath``) and torchsde, the last two in their own environment
(``--peers-python``, default ``/tmp/peers-particles/bin/python``; a missing one is skipped and
said so) through ``peers_particles.py``; W1 beside each time.

Memory: peak resident memory of a fresh process running 10^7 particles in 2-D (two saved
snapshots), against the M d 8 bytes of one copy of the particles.

``EmpiricalScore`` with n = 10^4 training points: evaluation rate (particle x training-point
pairs per second) of the kernel against a numpy/scipy baseline (``scipy.special.softmax`` in
chunks) and against the roofline of one ``exp`` per pair (a minimal loop of the same
vectorised ``exp``, 1 thread).

Work–precision: W1 (exact, by sorting, against the mixture's CDF) at t_min of each scheme
for 10^6 particles started from the exact p_T, at equal numbers of score evaluations per
particle (``"heun"`` and ``"pc"`` with one corrector step take half as many steps),
``time_grid="log-snr"``.

Usage::

    PYTHONPATH=. python benchmarks/bench_particles.py [--quick] [--write] [--peers-python PATH]

``--quick`` runs fewer steps and particles; ``--write`` replaces the "Particles" section of
``benchmarks/RESULTS.md`` (other sections are kept; atomic write).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# GNU OpenMP (numba's "omp" threading layer) spins at its barriers by default. On an idle machine that is the
# fast choice (2 threads 1.8-1.95x faster than 1; OMP_WAIT_POLICY=PASSIVE only 1.2x, bench_threads.py); on a
# machine whose cores other processes share, spinning threads made 2 threads 5-10x slower than 1, and
# OMP_WAIT_POLICY=PASSIVE (set in the environment before running this script) is the better choice.
import numba  # noqa: E402
import numpy as np  # noqa: E402
from scipy.special import ndtr  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from fpdiff._jit import jit  # noqa: E402
from fpdiff.scores._kernels import empirical_denoiser  # noqa: E402
from fpdiff._vmath import vexp  # noqa: E402
from fpdiff.particles import sample_reverse  # noqa: E402
from fpdiff.theory import gamma_ei_coefficients  # noqa: E402

from _machine import best_time, describe, write_section  # noqa: E402

SECTION = "## Particles"
RESULTS = HERE / "RESULTS.md"
PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
T, T_MIN = 1.0, 1e-3
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]],
                                [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]]])
TRAINING = MIXTURE_2D.sample(1000, seed=0)
PEERS_PYTHON = "/tmp/peers-particles/bin/python"
#: the label of the earlier numpy baseline (kept as a second row): (M, K, d) broadcasts and a softmax per step
OLD_NUMPY = "numpy, broadcast + softmax (earlier baseline)"


# ------------------------------------------------------------------ numpy baseline


def numpy_mixture_score(mixture):
    return lambda y, t: mixture.evolve(PROCESS, t).score(y)


class ElementwiseMixtureScore:
    """The mixture score as a careful numpy user writes it: elementwise on rows, no (M, K, d) temporaries.

    The particles are held as ``(d, M)`` (one contiguous row per coordinate); per component the
    precision :math:`P_k = (a^2 C_k + v I)^{-1}` (``d x d``, computed once per time) turns the
    log-density and its gradient into a few fused-size row operations, all written into
    preallocated buffers (``out=``); the log-sum-exp over components keeps a running maximum.
    This is the baseline issue 20 asks for: the best plain numpy, not the broadcast-and-softmax
    formulation (kept as a labelled second row).
    """

    def __init__(self, mixture, n):
        self.log_weights = np.log(mixture.weights)
        self.means, self.covariances = mixture.means, mixture.covariances
        k, d = self.means.shape
        self.diff = np.empty((k, d, n))
        self.logits = np.empty((k, n))
        self.row = np.empty(n)
        self.total = np.empty(n)
        self.out = np.empty((d, n))

    def __call__(self, y, t):
        """The score at the ``(d, M)`` particles ``y`` and time ``t``; a ``(d, M)`` view of an internal buffer."""
        a, v = float(PROCESS.alpha(t)), float(PROCESS.variance(t))
        k, d = self.means.shape
        precisions = np.linalg.inv(a * a * self.covariances + v * np.eye(d))
        log_norm = self.log_weights + 0.5 * np.linalg.slogdet(precisions)[1]  # log w_k - log det(C_k) / 2
        for c in range(k):
            for i in range(d):
                np.subtract(y[i], a * self.means[c, i], out=self.diff[c, i])
            logit = self.logits[c]
            logit.fill(log_norm[c])
            for i in range(d):  # -1/2 diff^T P diff, the symmetric form written out
                for j in range(i, d):
                    np.multiply(self.diff[c, i], self.diff[c, j], out=self.row)
                    logit -= (0.5 if i == j else 1.0) * precisions[c, i, j] * self.row
        peak = self.logits.max(axis=0, out=self.row)
        np.subtract(self.logits, peak, out=self.logits)
        np.exp(self.logits, out=self.logits)
        self.logits.sum(axis=0, out=self.total)
        self.out.fill(0.0)
        for c in range(k):
            np.divide(self.logits[c], self.total, out=self.row)  # the responsibility of component c
            for i in range(d):
                for j in range(d):  # grad log N_c = -P_c diff_c
                    self.out[i] -= precisions[c, i, j] * self.row * self.diff[c, j]
        return self.out


def numpy_ei_elementwise(mixture, n, dim, steps, seed=0):
    """The gamma = 1 exponential integrator in careful numpy: ``(d, M)`` rows, buffers, ``standard_normal(out=)``."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((dim, n))
    noise = np.empty_like(y)
    score = ElementwiseMixtureScore(mixture, n)
    times = np.linspace(T, T_MIN, steps + 1)
    for t, t_next in zip(times[:-1], times[1:]):
        phi, c_x0, std = gamma_ei_coefficients(PROCESS, t, t_next, 1.0)
        alpha, variance = float(PROCESS.alpha(t)), float(PROCESS.variance(t))
        s = score(y, t)
        # y <- phi y + c_x0 (y + v s) / alpha + std xi, with the x0-hat folded into the two coefficients
        y *= phi + c_x0 / alpha
        s *= c_x0 * variance / alpha
        y += s
        rng.standard_normal(out=noise)
        noise *= std
        y += noise
    return y.T


def numpy_em_elementwise(mixture, y0, steps, seed=0):
    """Euler–Maruyama of the gamma = 1 reverse SDE in careful numpy (rows, buffers; uniform steps)."""
    rng = np.random.default_rng(seed)
    y = np.array(np.asarray(y0, dtype=float).T, order="C")
    noise = np.empty_like(y)
    score = ElementwiseMixtureScore(mixture, y.shape[1])
    times = np.linspace(T, T_MIN, steps + 1)
    for t, t_next in zip(times[:-1], times[1:]):
        h = t - t_next
        beta, sigma = float(PROCESS.drift_rate(t)), float(PROCESS.diffusion(t))
        s = score(y, t)
        s *= h * sigma * sigma
        y *= 1.0 + h * beta
        y += s
        rng.standard_normal(out=noise)
        noise *= sigma * np.sqrt(h)
        y += noise
    return y.T


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


def numpy_em(score, y0, steps, seed=0):
    """Euler–Maruyama of the gamma = 1 reverse SDE in plain vectorised numpy (uniform steps)."""
    rng = np.random.default_rng(seed)
    y = np.array(y0, dtype=float)
    times = np.linspace(T, T_MIN, steps + 1)
    for t, t_next in zip(times[:-1], times[1:]):
        h = t - t_next
        beta, sigma = float(PROCESS.drift_rate(t)), float(PROCESS.diffusion(t))
        y = y + h * (beta * y + sigma * sigma * score(y, t)) + sigma * np.sqrt(h) * rng.standard_normal(y.shape)
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
    # (problem, particles, score, numpy score, dim, numba steps, numpy steps, mixture for W1)
    if quick:
        yield "1-D mixture", 1_000_000, exact_1d, numpy_mixture_score(MIXTURE_1D), 1, 20, 5, MIXTURE_1D
        yield "2-D mixture", 1_000_000, exact_2d, numpy_mixture_score(MIXTURE_2D), 2, 20, 5, MIXTURE_2D
        yield "2-D empirical, n = 1000", 10_000, empirical, numpy_empirical_score(TRAINING), 2, 10, 3, None
        return
    yield "1-D mixture", 1_000_000, exact_1d, numpy_mixture_score(MIXTURE_1D), 1, 1000, 100, MIXTURE_1D
    yield "2-D mixture", 1_000_000, exact_2d, numpy_mixture_score(MIXTURE_2D), 2, 1000, 50, MIXTURE_2D
    yield "2-D empirical, n = 1000", 10_000, empirical, numpy_empirical_score(TRAINING), 2, 100, 20, None


def w1_of(samples, mixture):
    """W1 of the samples to ``mixture`` evolved to t_min: exact in 1-D, the mean over the marginals in 2-D."""
    if mixture is None:
        return float("nan")
    target = mixture.evolve(PROCESS, T_MIN)
    return float(np.mean([w1_to_mixture(samples[:, k], target, axis=k) for k in range(samples.shape[1])]))


def measure_throughput(quick):
    rows = []
    threads = numba.get_num_threads()
    try:
        for problem, n, score, numpy_score, dim, steps, numpy_steps, mixture in throughput_cases(quick):
            sample_reverse(PROCESS, score, 64, T, t_min=T_MIN, steps=2)  # compile (or load) the kernels
            start = time.perf_counter()
            if mixture is not None:  # the careful baseline; the broadcast formulation as a labelled second row
                samples = numpy_ei_elementwise(mixture, n, dim, numpy_steps)
            else:
                samples = numpy_ei(numpy_score, n, dim, numpy_steps)
            numpy_time = time.perf_counter() - start
            numpy_rate = n * numpy_steps / numpy_time
            rows.append((problem, n, "numpy", 1, numpy_steps, numpy_time, numpy_rate, 1.0, w1_of(samples, mixture)))
            print(f"  {problem}, {n}: numpy {numpy_rate:.3g}/s", file=sys.stderr, flush=True)
            if mixture is not None:
                start = time.perf_counter()
                samples = numpy_ei(numpy_score, n, dim, numpy_steps)
                wall = time.perf_counter() - start
                rows.append((problem, n, OLD_NUMPY, 1, numpy_steps, wall, n * numpy_steps / wall,
                             n * numpy_steps / wall / numpy_rate, w1_of(samples, mixture)))
            for count in (1, 2):
                numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
                start = time.perf_counter()
                samples = sample_reverse(PROCESS, score, n, T, t_min=T_MIN, steps=steps, scheme="ei",
                                         time_grid="uniform").samples
                wall = time.perf_counter() - start
                rate = n * steps / wall
                rows.append((problem, n, "fpdiff (numba)", numba.get_num_threads(), steps, wall, rate,
                             rate / numpy_rate, w1_of(samples, mixture)))
                print(f"  {problem}, {n}: numba x{count} {rate:.3g}/s", file=sys.stderr, flush=True)
    finally:
        numba.set_num_threads(threads)
    return rows


def throughput_table(rows):
    lines = ["| problem | particles | implementation | threads | steps | wall time (s) | particle-steps/s "
             "| vs numpy | W1 to p_t_min |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for problem, n, implementation, threads, steps, wall, rate, ratio, w1 in rows:
        lines.append(f"| {problem} | {n:,} | {implementation} | {threads} | {steps} | {wall:.3g} | {rate:.3g} "
                     f"| {ratio:.1f}x | {w1:.2e} |".replace("| nan |", "| - |"))
    return "\n".join(lines)


def scaling_lines(rows):
    """The 2-thread / 1-thread speed-up of fpdiff per problem."""
    rates = {}
    for problem, n, implementation, threads, steps, wall, rate, ratio, w1 in rows:
        if implementation.startswith("fpdiff"):
            rates.setdefault(problem, {})[threads] = rate
    return "; ".join(f"{problem}: {r[2] / r[1]:.2f}x" for problem, r in rates.items() if 1 in r and 2 in r)


def targets_lines(throughput, peer_rows):
    """Issue 8's particle targets against this run's numbers: met, or missed by how much."""
    def verdict(value, target):
        return "met" if value >= target else f"missed: {value / target:.0%} of it"

    lines = []
    rates = {}
    for problem, n, implementation, threads, steps, wall, rate, ratio, w1 in throughput:
        rates.setdefault(problem, {})[implementation, threads] = rate
    for problem in ("1-D mixture", "2-D mixture"):
        if problem not in rates:
            continue
        r = rates[problem]
        best = max(r.get(("fpdiff (numba)", 1), 0.0), r.get(("fpdiff (numba)", 2), 0.0))
        numpy_rate = r[("numpy", 1)]
        lines.append(f"- {problem}, >= 10x numpy: {best / numpy_rate:.1f}x ({verdict(best / numpy_rate, 10)})")
        if ("fpdiff (numba)", 1) in r:
            one = r[("fpdiff (numba)", 1)] / numpy_rate
            lines.append(f"- {problem}, 1 thread >= 8x careful numpy (issue 20): {one:.1f}x ({verdict(one, 8)})")
        if problem == "1-D mixture":
            lines.append(f"- 1-D, >= 1.2e8 particle-steps/s: {best:.3g} ({verdict(best, 1.2e8)})")
        if ("fpdiff (numba)", 1) in r and ("fpdiff (numba)", 2) in r:
            scaling = r[("fpdiff (numba)", 2)] / r[("fpdiff (numba)", 1)]
            lines.append(f"- {problem}, 2 threads >= 1.8x 1 thread: {scaling:.2f}x ({verdict(scaling, 1.8)})")
    for problem in ("1-D mixture", "2-D mixture"):
        for tool, target in (("diffrax", 5), ("torchsde", 50)):  # thread for thread (issue 20: diffrax >= 5x)
            found = [(ratio, rate) for row_problem, n, steps, label, threads, wall, first, rate, ratio, w1 in peer_rows
                     if row_problem == problem and label.startswith(tool)]
            if not found:
                continue
            ratio, rate = found[0]
            line = (f"- {problem}, >= {target}x {tool} (same steps, same start points, W1 in the table): "
                    f"{ratio:.1f}x ({verdict(ratio, target)})")
            if tool == "torchsde" and ratio < target:
                # the target was set from the torchsde figure (1.2-1.5e6/s in 2-D): say what it now asks
                line += (f"; torchsde ran at {rate:.3g} particle-steps/s here, so 50x would need "
                         f"{target * rate:.2g}/s from fpdiff")
                if problem == "2-D mixture":
                    line += (f"; against the issue's 2-D figure (1.2-1.5e6/s) fpdiff's {rate * ratio:.3g}/s is "
                             f"{rate * ratio / 1.5e6:.0f}-{rate * ratio / 1.2e6:.0f}x")
            lines.append(line)
    return "\n".join(lines)


# ------------------------------------------------------------------------- peers


def run_peer(tool, directory, mixture, steps, peers_python, threads=2):
    """Run ``peers_particles.py`` for ``tool``; ``(samples, wall, first call, version)`` or ``None`` if absent."""
    if not Path(peers_python).exists():
        return None
    config = {"tool": tool, "dir": directory, "T": T, "t_min": T_MIN, "steps": steps, "threads": threads,
              "weights": mixture.weights.tolist(), "means": mixture.means.tolist(),
              "covariances": mixture.covariances.tolist()}
    result = subprocess.run([peers_python, str(HERE / "peers_particles.py"), json.dumps(config)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(f"  {tool} failed or is not installed:\n{result.stderr[-2000:]}", file=sys.stderr, flush=True)
        return None
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return np.load(Path(directory) / f"{tool}.npy"), report["wall"], report["first"], report["version"]


def measure_peers(quick, peers_python):
    """EM on the same start points: fpdiff (1, 2 threads), numpy, diffrax, torchsde; W1 beside each."""
    n, steps = (10_000, 50) if quick else (100_000, 100)
    rows, versions = [], {}
    threads = numba.get_num_threads()
    for problem, mixture in (("1-D mixture", MIXTURE_1D), ("2-D mixture", MIXTURE_2D)):
        score = fd.ExactScore(PROCESS, mixture)
        start_points = mixture.evolve(PROCESS, T).sample(n, seed=21)
        sample_reverse(PROCESS, score, start_points[:64], T, t_min=T_MIN, steps=2, scheme="em")
        results = []
        try:
            for count in (1, 2):
                numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
                begin = time.perf_counter()
                samples = sample_reverse(PROCESS, score, start_points, T, t_min=T_MIN, steps=steps, gamma=1.0,
                                         scheme="em", time_grid="uniform").samples
                results.append(("fpdiff (numba)", numba.get_num_threads(), time.perf_counter() - begin, None,
                                samples))
        finally:
            numba.set_num_threads(threads)
        begin = time.perf_counter()
        samples = numpy_em_elementwise(mixture, start_points, steps)
        results.append(("numpy", 1, time.perf_counter() - begin, None, samples))
        begin = time.perf_counter()
        samples = numpy_em(numpy_mixture_score(mixture), start_points, steps)
        results.append((OLD_NUMPY, 1, time.perf_counter() - begin, None, samples))
        with tempfile.TemporaryDirectory() as directory:
            np.save(Path(directory) / "start.npy", start_points)
            for tool in ("diffrax", "torchsde"):
                peer = run_peer(tool, directory, mixture, steps, peers_python, threads=1)
                if peer is None:
                    versions[tool] = "skipped (not installed)"
                    continue
                samples, wall, first, versions[tool] = peer
                label = "diffrax (JAX CPU, UnsafeBrownianPath)" if tool == "diffrax" else "torchsde"
                results.append((label, 1, wall, first, samples))
        fastest = min(wall for label, count, wall, first, samples in results if label.startswith("fpdiff")
                      and count == 1)
        for label, count, wall, first, samples in results:
            rows.append((problem, n, steps, label, count, wall, first, n * steps / wall, wall / fastest,
                         w1_of(samples, mixture)))
            print(f"  peers {problem}: {label} x{count} {n * steps / wall:.3g}/s", file=sys.stderr, flush=True)
    return rows, versions


def peers_table(rows):
    lines = ["| problem | particles | steps | implementation | threads | wall time (s) | first call (s) "
             "| particle-steps/s | time / fpdiff's 1 thread | W1 to p_t_min |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for problem, n, steps, label, threads, wall, first, rate, ratio, w1 in rows:
        first = "-" if first is None else f"{first:.3g}"
        lines.append(f"| {problem} | {n:,} | {steps} | {label} | {threads} | {wall:.3g} | {first} | {rate:.3g} "
                     f"| {ratio:.1f}x | {w1:.2e} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------ memory


MEMORY_PROBE = """
import resource, sys, tracemalloc, numpy as np, fpdiff as fd
from fpdiff.particles import sample_reverse
n, steps = int(sys.argv[1]), int(sys.argv[2])
mixture = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]],
                             [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]]])
process = fd.OU(beta=1.0, sigma=2**0.5)
score = fd.ExactScore(process, mixture)
sample_reverse(process, score, 64, 1.0, t_min=1e-3, steps=2)
tracemalloc.start()  # numpy reports its array memory to tracemalloc
solution = sample_reverse(process, score, n, 1.0, t_min=1e-3, steps=steps)
current, peak = tracemalloc.get_traced_memory()
print(peak, current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def measure_memory(quick):
    """Peak numpy memory (tracemalloc) of ``sample_reverse`` with 10^7 2-D particles in a fresh process."""
    n = 1_000_000 if quick else 10_000_000
    results = []
    for steps in (5, 20):
        output = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(n), str(steps)], capture_output=True,
                                text=True, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout.split()
        results.append((steps, int(output[0]), int(output[1]), int(output[2])))
    return n, results


def memory_lines(memory):
    n, results = memory
    copy = n * 2 * 8
    parts = [f"{steps} steps: peak array memory {peak / 2**20:,.0f} MiB = {peak / copy:.1f} x M d 8 bytes "
             f"(held at the end: {current / copy:.1f} x; process peak RSS {rss / 2**20:,.0f} MiB)"
             for steps, peak, current, rss in results]
    return (f"{n:,} particles in 2-D (one copy of the particles: M d 8 bytes = {copy / 2**20:,.0f} MiB, "
            "numpy memory traced by `tracemalloc` during the call); " + "; ".join(parts)
            + ". The peak holds the particles and the two saved snapshots (T and t_min; a block's work arrays are "
            "a few KiB): it does not grow with the number of steps")


# ---------------------------------------------------------------- empirical score


@jit
def _exp_roofline(x, out, repeats):
    """The minimal loop of the empirical kernel's one ``exp`` per pair: its rate bounds the kernel's."""
    for _ in range(repeats):
        for i in range(x.shape[0]):
            out[i] = vexp(x[i])


def numpy_denoiser(x, points, alpha, variance, chunk=1000):
    from scipy.special import softmax

    out = np.empty_like(x)
    for first in range(0, len(x), chunk):
        block = x[first:first + chunk]
        distances = (np.sum(block * block, axis=1)[:, None] - 2 * alpha * block @ points.T
                     + alpha * alpha * np.sum(points * points, axis=1)[None, :])
        out[first:first + chunk] = softmax(-0.5 * distances / variance, axis=1) @ points
    return out


def measure_empirical(quick):
    """Kernel denoiser of n = 10^4 training points: pairs per second against numpy/scipy and the exp roofline."""
    n_points, n_particles = 10_000, (2_000 if quick else 10_000)
    points = MIXTURE_2D.sample(n_points, seed=2)
    x = MIXTURE_2D.evolve(PROCESS, 0.3).sample(n_particles, seed=3)
    alpha, variance = float(PROCESS.alpha(0.3)), float(PROCESS.variance(0.3))
    out = np.empty_like(x)
    pairs = n_points * n_particles
    rows = []
    start = time.perf_counter()
    reference = numpy_denoiser(x, points, alpha, variance)
    rows.append(("numpy/scipy (softmax, chunks of 1000)", 1, pairs / (time.perf_counter() - start)))
    threads = numba.get_num_threads()
    try:
        for count in (1, 2):
            numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
            empirical_denoiser(x[:64], points, alpha, variance, out[:64], True)
            rows.append(("fpdiff kernel", numba.get_num_threads(),
                         pairs / best_time(lambda: empirical_denoiser(x, points, alpha, variance, out, True))))
    finally:
        numba.set_num_threads(threads)
    error = float(np.max(np.abs(out - reference)))
    logits = -np.random.default_rng(0).uniform(0, 30, 4096)
    buffer = np.empty_like(logits)
    _exp_roofline(logits, buffer, 1)
    repeats = 500
    roofline = repeats * len(logits) / best_time(lambda: _exp_roofline(logits, buffer, repeats), 5)
    return n_points, n_particles, rows, roofline, error


def empirical_lines(empirical):
    n_points, n_particles, rows, roofline, error = empirical
    lines = [f"`EmpiricalScore` denoiser, n = {n_points:,} training points (2-D), {n_particles:,} particles "
             f"(max difference between the kernel and numpy: {error:.1e}); roofline: one vectorised `exp` per "
             f"pair, {roofline:.3g} exp/s on 1 thread (a minimal loop of the kernel's own `exp`, L1-resident; "
             "best of 5, kernels best of 3).", "",
             "| implementation | threads | pairs/s | vs numpy | of the 1-thread exp roofline |",
             "|---|---:|---:|---:|---:|"]
    numpy_rate = rows[0][2]
    for label, threads, rate in rows:
        lines.append(f"| {label} | {threads} | {rate:.3g} | {rate / numpy_rate:.1f}x | {rate / roofline:.0%} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ work-precision


def w1_to_mixture(samples, mixture, axis=0):
    """W1 = int |F_n - F| dx between the empirical CDF and the CDF of the mixture's marginal ``axis``."""
    grid = np.linspace(-8.0, 8.0, 64001)
    empirical = np.searchsorted(np.sort(samples), grid, side="right") / len(samples)
    exact = sum(w * ndtr((grid - m[axis]) / np.sqrt(c[axis, axis]))
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


def wait_policy_note():
    policy = os.environ.get("OMP_WAIT_POLICY")
    fused = ("The throughput rows' runs are fused (one kernel call for the whole run), which splits its blocks "
             "between Python threads (no OpenMP, no spinning barriers); the OpenMP wait policy concerns the other "
             "kernels: ")
    return fused + (f"`OMP_WAIT_POLICY={policy}`." if policy else
                    "GNU OpenMP's default (spinning barriers; see `bench_threads.py` for both policies).")


def contention_note(load_before):
    """A warning when other processes kept cores busy (the 1-minute load average before this run started)."""
    if load_before < 0.5:
        return ""
    return (f"\n\n**Caveat**: before this run started the 1-minute load average was already {load_before:.1f} "
            f"(other processes on {os.cpu_count()} cores). A parallel run waits for its slowest thread, "
            "so a thread that shares its core with another busy process slows the run: the 2-thread rows "
            "then measure that contention, not the scaling of the kernels (results are identical for any "
            "number of threads; only the time differs).")


def section(throughput, accuracy, compile_times, quick, elapsed, load_before=0.0, peers=None, memory=None,
            empirical=None):
    n, budgets, floor, results = accuracy
    first, warm = compile_times
    peer_rows, versions = peers
    peer_versions = "; ".join(f"{tool}: {version}" for tool, version in versions.items())
    return f"""{SECTION}

Reverse OU (beta = 1, sigma = sqrt 2) from T = 1 to t_min = 1e-3 with the exact score.
1-D: 0.5 N(-2, 0.09) + 0.5 N(2, 0.25); 2-D: 0.4 N((-1.5, 1), C1) + 0.6 N((1.5, -1), C2)
with full covariances; empirical: `EmpiricalScore` of 1000 points drawn from the 2-D mixture.

Generated by `PYTHONPATH=. python benchmarks/bench_particles.py --write{' --quick' if quick else ''}` \
in {elapsed:.0f} s (1-minute load average at the end {os.getloadavg()[0]:.1f}; other processes on the
machine inflate timings, the multithreaded ones most) on: {describe()}.

**Throughput** of `sample_reverse(..., scheme="ei", gamma=1, time_grid="uniform")` (one score
evaluation and one normal per particle and step, particles drawn from the prior, the whole call
timed with compiled kernels) against the same exponential integrator in careful numpy (the
particles as `(d, M)` rows, the mixture's score written elementwise into preallocated buffers with
a running-max log-sum-exp, `Generator.standard_normal(out=)`; `ElementwiseMixtureScore`), the
baseline issue 20 asks for; the earlier formulation (`(M, K, d)` broadcasts and a softmax per
step, the mixture's own numpy `score`) is kept as a labelled row. numpy runs
fewer steps where the table says so: its rate per step is steady. W1 to p_t_min beside each (particles from the prior
N(0, 1), not p_T, so the W1 includes that start error; 2-D: mean of the two marginals' W1;
numpy's fewer steps have a larger discretisation error).{contention_note(load_before)}

{throughput_table(throughput)}

fpdiff 2 threads / 1 thread: {scaling_lines(throughput)}. {wait_policy_note()}

**Peers** (Euler–Maruyama, gamma = 1, uniform steps, the same exact-p_T start points for every
tool; the same elementwise score in numpy, diffrax (under `jax.jit`) and torchsde; diffrax and
torchsde in their own venv, never a dependency of fpdiff, on one thread each (thread for thread
with fpdiff's 1-thread row);
diffrax's wall time is its second call, the first (compile + run) beside it; {peer_versions}):

{peers_table(peer_rows)}

**Memory**: {memory_lines(memory)}.

**Kernel design and what bounds it**: a stage runs per block of 512 particles, every loop across the
particles (SIMD, FMA): the counter-based ziggurat's two hashes per normal (its table look-ups, which
LLVM will not turn into gathers on this CPU, and its ~1.2% rejections run in a scalar pass), the
mixture's log-sum-exp with a branch-free polynomial `exp` (one per component and particle), the
update. Per particle-step on one thread the normals and the score cost about the same (a normal
~5 ns, the 2-component 1-D score ~6 ns, CPU time measured on this loaded machine); careful numpy
is bound by memory traffic: every elementwise operation reads and writes whole (M,) rows, about
20 passes per component and step, where the kernel keeps a block of particles in registers and L1. The 2-thread rows
cannot show scaling while other processes keep both cores busy (load above).

**Particle targets in this run** (issue 8's, and issue 20's thread-for-thread ones against the careful
baselines; ratios from the same run; absolute rates and the
2-thread scaling are what the machine's other processes left, see the load above):

{targets_lines(throughput, peer_rows)}

{empirical_lines(empirical)}

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
    parser.add_argument("--peers-python", default=PEERS_PYTHON,
                        help="Python of the environment with jax, diffrax, torch, torchsde (skipped if absent)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    print("compile time ...", file=sys.stderr, flush=True)
    compile_times = measure_compile()
    print("throughput ...", file=sys.stderr, flush=True)
    throughput = measure_throughput(args.quick)
    print("peers ...", file=sys.stderr, flush=True)
    peers = measure_peers(args.quick, args.peers_python)
    print("memory ...", file=sys.stderr, flush=True)
    memory = measure_memory(args.quick)
    print("empirical score ...", file=sys.stderr, flush=True)
    empirical = measure_empirical(args.quick)
    print("work-precision ...", file=sys.stderr, flush=True)
    accuracy = measure_accuracy(args.quick)
    text = section(throughput, accuracy, compile_times, args.quick, time.perf_counter() - start, load_before,
                   peers, memory, empirical)
    print(text)
    if args.write:
        write_section(RESULTS, SECTION, text)
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
