"""The particle solver's overhead over a model callable: ``fd.sample_reverse`` with a ``fd.ModelScore``.

Target (issue 18): the whole ``fd.sample_reverse`` call with a model costs at most 1.2x the model's
own batched evaluation for the same number of calls.

Problem: reverse VP (beta from 0.1 to 20), d = 2, 10^5 particles from the prior, T = 1 to
t_min = 1e-3, 50 steps of the exponential integrator (``scheme="ei"``, gamma = 1: one model
call per step). The model is an eps-prediction network: the exact eps of N(0, I) data,
sqrt(v_t) x, plus a residual MLP (x, t) -> 64 -> 64 -> 2 with SiLU activations and fixed
random weights scaled to 0.01 (the cost, not the accuracy, is measured; the exact part keeps
the particles bounded, as a trained model does), in two forms:

- **numpy**: the MLP in float64 numpy, ``fn(x, t)`` of ``fd.ModelScore``;
- **torch**: the same MLP as a ``torch.nn.Module`` in float32 on the CPU, through
  ``fd.ModelScore.from_torch`` (skipped when torch is absent).

Baseline ("model alone"): the same model called 50 times on 10^5 points in its own
form (numpy arrays; float32 tensors made once, under ``torch.inference_mode``), nothing else.
The ratio is the solver's time over the baseline's, in CPU time of the process (all its
threads) and in wall time; each is the best of ``--repeats`` runs, alternating, so that a
loaded machine slows both alike. Everything runs on ``--threads`` threads (default 1: numpy's
OpenBLAS, torch and numba), because on a machine whose cores other processes share, wall
times of several threads measure the neighbours; CPU time then measures the work. The parts of
the overhead are timed too: the counter-based normals of one stage and the ``ModelScore``
conversion (time input, output check, parametrisation) of one call.

Usage::

    PYTHONPATH=. python benchmarks/bench_model_score.py [--particles N] [--steps K] [--repeats R] [--threads T]
"""

import argparse
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # the BLAS reads its thread count once, when numpy is first imported
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv[:-1] else "1"
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = _threads

import numba  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import fpdiff as fd  # noqa: E402
from fpdiff.particles import _random  # noqa: E402

from _machine import describe, print_and_record  # noqa: E402

PROCESS = fd.VP()
T, T_MIN = 1.0, 1e-3
DIM, WIDTH = 2, 64



SECTION = "## Model callables in the particle solver"

def weights(seed=0):
    """Fixed random weights of the MLP (x, t) -> WIDTH -> WIDTH -> DIM (Glorot-like scale, the last layer 0.01x)."""
    rng = np.random.default_rng(seed)
    shapes = [(DIM + 1, WIDTH), (WIDTH, WIDTH), (WIDTH, DIM)]
    layers = [(rng.normal(size=shape) / np.sqrt(shape[0]), 0.1 * rng.normal(size=shape[1])) for shape in shapes]
    layers[-1] = (0.01 * layers[-1][0], 0.01 * layers[-1][1])
    return layers


def vp_std(t, exp):
    """sqrt(v_t) of fd.VP() (beta from 0.1 to 20), with the array library's ``exp``."""
    return (1.0 - exp(-(0.1 * t + 0.5 * (20.0 - 0.1) * t * t))) ** 0.5


def numpy_mlp(layers):
    def silu(z):
        return z / (1.0 + np.exp(-z))

    def fn(x, t):
        h = np.concatenate([x, t[:, None]], axis=1)
        for i, (w, b) in enumerate(layers):
            h = h @ w + b
            if i < len(layers) - 1:
                h = silu(h)
        return vp_std(t, np.exp)[:, None] * x + h
    return fn


def torch_mlp(torch, layers):
    class EpsNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linears = torch.nn.ModuleList()
            for w, b in layers:
                linear = torch.nn.Linear(*w.shape)
                linear.weight.data = torch.from_numpy(w.T.copy()).float()
                linear.bias.data = torch.from_numpy(b).float()
                self.linears.append(linear)

        def forward(self, x, t):
            h = torch.cat([x, t[:, None]], dim=1)
            for i, linear in enumerate(self.linears):
                h = linear(h)
                if i < len(self.linears) - 1:
                    h = torch.nn.functional.silu(h)
            return vp_std(t, torch.exp)[:, None] * x + h
    return EpsNet().eval()


class Timed:
    """A model wrapper that adds up the CPU and wall time spent inside the model (``cpu``, ``wall``)."""

    def __init__(self, model):
        self.model = model
        self.cpu = self.wall = 0.0

    def __call__(self, *args):
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return self.model(*args)
        finally:
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall


def clock(run):
    """(CPU, wall) seconds of ``run()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(label, score, timed, alone, particles, steps, repeats):
    """One row: the model alone, the solver with it, and the time inside the model during that solve.

    ``score`` is a ModelScore whose model is ``timed`` (a :class:`Timed`). Per repeat the model runs
    alone, then in the solver; the row keeps the best of each (CPU time, then wall time).
    """
    def solve():
        fd.sample_reverse(PROCESS, score, particles, T, t_min=T_MIN, steps=steps, scheme="ei", seed=0,
                          time_grid="uniform")

    solve()  # compiled kernels, a warm model
    best_alone, best_solve, best_inside = (np.inf, np.inf), (np.inf, np.inf), None
    for _ in range(repeats):
        best_alone = min(best_alone, clock(alone))
        timed.cpu = timed.wall = 0.0
        spent = clock(solve)
        if spent < best_solve:
            best_solve, best_inside = spent, (timed.cpu, timed.wall)
    x = np.random.default_rng(1).normal(size=(particles, DIM))
    # the conversion alone: a ModelScore of a model that returns a ready array
    ready = np.asarray(score.model_output(x, 0.5))
    instant = fd.ModelScore(lambda x, t: ready, PROCESS, "eps", dim=DIM)
    convert = min(clock(lambda: [instant.score(x, 0.5) for _ in range(steps)]) for _ in range(repeats))
    return label, best_alone, best_solve, best_inside, convert[0] / steps


def main():
    """Parse the arguments, run :func:`report`, print (and with ``--write`` record) its output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads of numpy's BLAS, torch and numba")
    parser.add_argument("--write", action="store_true", help="record the output in benchmarks/RESULTS.md")
    args = parser.parse_args()
    print_and_record(lambda: report(args), SECTION, "PYTHONPATH=. python benchmarks/bench_model_score.py --write", args.write)

def report(args):
    """Run the measurements and print their tables."""
    numba.set_num_threads(args.threads)
    n, steps = args.particles, args.steps
    layers = weights()
    x = np.random.default_rng(1).normal(size=(n, DIM))
    t = np.full(n, 0.5)

    rows = []
    numpy_fn = numpy_mlp(layers)
    timed = Timed(numpy_fn)
    rows.append(measure("numpy MLP (float64)", fd.ModelScore(timed, PROCESS, "eps", dim=DIM), timed,
                        lambda: [numpy_fn(x, t) for _ in range(steps)], n, steps, args.repeats))
    try:
        import torch
    except ImportError:
        print("torch is absent: its row is skipped")
    else:
        torch.set_num_threads(args.threads)
        net = torch_mlp(torch, layers)
        x32, t32 = torch.from_numpy(x).float(), torch.from_numpy(t).float()

        def torch_alone():
            with torch.inference_mode():
                for _ in range(steps):
                    net(x32, t32)

        timed = Timed(net)  # the module's own time; the adapter's tensor conversions count as overhead
        rows.append(measure("torch MLP (float32)",
                            fd.ModelScore.from_torch(timed, PROCESS, "eps", dim=DIM, dtype=torch.float32), timed,
                            torch_alone, n, steps, args.repeats))

    noise = min(clock(lambda: _random.normals(0, 0, 0, n, DIM, 0, 0)) for _ in range(args.repeats))
    print(f"ModelScore in sample_reverse: {n} particles, d = {DIM}, {steps} steps (scheme 'ei', one model call "
          f"per step), VP; {args.threads} thread(s); best of {args.repeats}; target: solver / model <= 1.2")
    print(f"machine: {describe()}; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print()
    print("CPU seconds; 'in the model': the model's own time inside the same solve (immune to load that changes "
          "between runs)")
    print(f"{'model':22s} {'model alone':>12s} {'sample_reverse':>15s} {'in the model':>13s} "
          f"{'solve/alone':>12s} {'solve/in model':>15s} {'(wall)':>7s} {'ModelScore/call':>16s}")
    for label, alone, solve, inside, convert in rows:
        print(f"{label:22s} {alone[0]:11.3f}s {solve[0]:14.3f}s {inside[0]:12.3f}s {solve[0] / alone[0]:12.3f} "
              f"{solve[0] / inside[0]:15.3f} {solve[1] / inside[1]:7.3f} {1e3 * convert:14.3f}ms")
    print()
    print(f"one stage's normals ({n} x {DIM}, counter-based): {1e3 * noise[0]:.3f} ms CPU")


if __name__ == "__main__":
    main()
