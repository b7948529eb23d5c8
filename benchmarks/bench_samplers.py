"""The library samplers: fpdiff's compiled path against numpy and against diffusers' scheduler loop, and accuracy.

Problem: the 2-D mixture 0.4 N((-1.5, 1), diag(0.25, 0.36)) + 0.6 N((1.5, -1), diag(0.49, 0.25)) under
diffusers' linear table (``fd.LinearDiscrete()``, 1000 steps), ``time_grid="diffusers-trailing"`` (then the
last step to the data), the exact score, float64.

Throughput, for each scheme (``ddpm``, ``ddim`` with eta = 0.5, ``euler``, ``heun_sigma``,
``euler_ancestral``, ``dpmpp_2m``), 10^5 particles, 50 steps, the whole call timed (best of 3 for fpdiff, of 2 for
the others; kernels compiled beforehand):

- ``fpdiff``: ``fd.sample_reverse`` with ``fd.ExactScore`` (the mixture's score and the whole time loop
  inside numba, one fused call);
- ``numpy``: the same scheme's numpy stages (``fpdiff.particles.schemes.reference_stage``, the
  specification), the score from the mixture's vectorised numpy ``score`` (through ``fd.CallableScore``);
- ``diffusers``: the scheduler's own loop (``scale_model_input``, ``step``) with the model the mixture's
  exact noise prediction in numpy, wrapped for torch (float64 tensors; the schedulers' tables cast to float64;
  Euler, Euler-ancestral and DPM-Solver cast the sample to float32 inside ``step``, as shipped).

Accuracy: ``dpmpp_2m`` with 20 model evaluations against ``ddim`` (eta = 0) with 50, 10^6 particles from the
prior, error of the output against the exact data law (the mixture): TV of a 2-D histogram (with its
Monte-Carlo floor) and sliced W1 (``fd.metrics.compare``, 32 directions).

Usage::

    PYTHONPATH=. python benchmarks/bench_samplers.py [--quick]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.special import softmax

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from fpdiff.particles import sample_reverse  # noqa: E402

from _machine import best_time, describe, print_and_record  # noqa: E402

WEIGHTS = np.array([0.4, 0.6])
MEANS = np.array([[-1.5, 1.0], [1.5, -1.0]])
VARIANCES = np.array([[0.25, 0.36], [0.49, 0.25]])
MIXTURE = fd.GaussianMixture(WEIGHTS, MEANS, VARIANCES)
PROCESS = fd.LinearDiscrete()
GRID = "diffusers-trailing"
SCHEMES = [("ddpm", {}, "DDPMScheduler", {"clip_sample": False}),
           ("ddim", {"eta": 0.5}, "DDIMScheduler", {"clip_sample": False}),
           ("euler", {}, "EulerDiscreteScheduler", {}),
           ("heun_sigma", {}, "HeunDiscreteScheduler", {}),
           ("euler_ancestral", {}, "EulerAncestralDiscreteScheduler", {}),
           ("dpmpp_2m", {}, "DPMSolverMultistepScheduler", {})]



SECTION = "## Sampler lab"

def exact_eps(x, alpha, variance):
    """The mixture's exact noise prediction at a noise level (numpy, vectorised over the particles)."""
    spread = alpha * alpha * VARIANCES[None] + variance
    offset = x[:, None, :] - alpha * MEANS[None]
    log_terms = np.log(WEIGHTS) - 0.5 * np.sum(np.log(2 * np.pi * spread) + offset**2 / spread, axis=2)
    return np.sqrt(variance) * np.sum(softmax(log_terms, axis=1)[:, :, None] * offset / spread, axis=1)


def fpdiff_run(scheme, options, y0, steps, numpy_path=False):
    exact = fd.ExactScore(PROCESS, MIXTURE)
    score = fd.CallableScore(lambda x, t: exact.score(x, t), 2, PROCESS) if numpy_path else exact
    return sample_reverse(PROCESS, score, y0, scheme=scheme, steps=steps, time_grid=GRID, **options).samples


def diffusers_run(name, config, options, y0, steps):
    import diffusers
    import torch

    scheduler = getattr(diffusers, name)(timestep_spacing="trailing", **config)
    scheduler.alphas_cumprod = scheduler.alphas_cumprod.to(torch.float64)
    scheduler.set_timesteps(steps)
    table = scheduler.alphas_cumprod.numpy()
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None:  # the sigma schedulers: float64 sigmas at their timesteps
        levels = np.sqrt((1 - table) / table)
        sigmas = np.concatenate([np.interp(scheduler.timesteps.numpy().astype(float), np.arange(len(table)), levels),
                                 [0.0]])
        scheduler.sigmas = torch.from_numpy(sigmas)
        lookup = dict(zip(scheduler.timesteps.numpy().tolist(), sigmas))
    x = torch.from_numpy(y0 * (np.sqrt(sigmas[0] ** 2 + 1) if sigmas is not None and name != "DPMSolverMultistepScheduler"
                               else 1.0))
    step_options = {"eta": options["eta"]} if "eta" in options else {}
    for timestep in scheduler.timesteps:
        if sigmas is None:
            a = table[int(timestep)]
            alpha, variance = np.sqrt(a), 1 - a
        else:
            sigma = lookup[float(timestep)]
            alpha, variance = 1 / np.sqrt(sigma**2 + 1), sigma**2 / (sigma**2 + 1)
        model_input = scheduler.scale_model_input(x, timestep)
        eps = torch.from_numpy(exact_eps(model_input.numpy(), alpha, variance))
        x = scheduler.step(eps, timestep, x, **step_options).prev_sample
    return x.numpy()


def throughput(particles, steps, repeats):
    y0 = np.random.default_rng(0).normal(size=(particles, 2))
    try:
        import diffusers  # noqa: F401
        have_diffusers = True
    except ImportError:
        have_diffusers = False
    rows = []
    for scheme, options, name, config in SCHEMES:
        fpdiff_run(scheme, options, y0[:100], steps)  # compile
        compiled = best_time(lambda: fpdiff_run(scheme, options, y0, steps), repeats)
        slow_repeats = min(repeats, 2)
        numpy_time = best_time(lambda: fpdiff_run(scheme, options, y0, steps, numpy_path=True), slow_repeats)
        library = best_time(lambda: diffusers_run(name, config, options, y0, steps), slow_repeats) \
            if have_diffusers else None
        rows.append((scheme, name, compiled, numpy_time, library))
    lines = [f"Throughput: {particles:,} particles, {steps} steps, 2-D mixture, LinearDiscrete, {GRID} (seconds)", "",
             "| scheme | fpdiff (numba) | numpy | numpy / fpdiff | diffusers loop | diffusers / fpdiff |",
             "|---|---|---|---|---|---|"]
    for scheme, name, compiled, numpy_time, library in rows:
        diff = f"{library:.3f} ({name}) | {library / compiled:.1f}x" if library is not None else "absent | -"
        lines.append(f"| {scheme} | {compiled:.3f} | {numpy_time:.3f} | {numpy_time / compiled:.1f}x | {diff} |")
    return lines


def accuracy(particles):
    cells = fd.Grid([(-5.0, 5.0), (-5.0, 5.0)], (100, 100))
    lines = [f"Accuracy against the data law (2-D mixture), {particles:,} particles from the prior, {GRID}:", "",
             "| scheme | model evaluations | TV (histogram) | TV floor | sliced W1 |", "|---|---|---|---|---|"]
    for scheme, steps in (("ddim", 50), ("dpmpp_2m", 20), ("ddim", 20), ("dpmpp_2m", 50)):
        run = sample_reverse(PROCESS, fd.ExactScore(PROCESS, MIXTURE), particles, scheme=scheme, steps=steps,
                             time_grid=GRID, seed=1)
        result = fd.metrics.compare(MIXTURE, run.samples, cells, n_projections=32)
        lines.append(f"| {scheme} | {run.diagnostics['score_evaluations']} | {result.tv:.4f} | "
                     f"{result.tv_floor:.4f} | {result.w1:.4f} |")
    return lines


def main():
    """Parse the arguments, run :func:`report`, print (and with ``--write`` record) its output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 particles, 1 repeat")
    parser.add_argument("--write", action="store_true", help="record the output in benchmarks/RESULTS.md")
    args = parser.parse_args()
    print_and_record(lambda: report(args), SECTION, "PYTHONPATH=. python benchmarks/bench_samplers.py --write", args.write)

def report(args):
    """Run the measurements and print their tables."""
    particles, repeats = (10_000, 1) if args.quick else (100_000, 3)
    print(describe())
    print()
    print("\n".join(throughput(particles, 50, repeats)))
    print()
    print("\n".join(accuracy(100_000 if args.quick else 1_000_000)))


if __name__ == "__main__":
    main()
