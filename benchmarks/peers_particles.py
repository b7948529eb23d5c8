"""Peer SDE solvers for ``bench_particles.py``: diffrax (JAX, CPU) and torchsde, run in their own venv.

Not part of fpdiff and never imported by it: ``bench_particles.py`` runs this file with the
Python of a separate environment holding the peers (default ``/tmp/peers-particles``; create
it with ``python3 -m venv /tmp/peers-particles && /tmp/peers-particles/bin/pip install jax
diffrax torchsde torch``), so the package's dependencies never include them.

The problem is the one of ``bench_particles.py``: the reverse SDE of the OU process
(beta = 1, sigma = sqrt 2) with gamma = 1 from T down to t_min, in reverse time
tau = T - t,

    dY = [Y + 2 s(Y, T - tau)] dtau + sqrt(2) dW,

with the exact score s of the evolved Gaussian mixture: component k is
N(a mu_k, a^2 C_k + v I), a = exp(-t), v = 1 - exp(-2 t). Euler–Maruyama with ``steps``
uniform steps (diffrax ``Euler`` with ``UnsafeBrownianPath``; torchsde ``method="euler"``),
float64, from the start points in ``start.npy``.

Usage (JSON in, JSON out; the end points are written to ``<dir>/<tool>.npy``)::

    python peers_particles.py '{"tool": "diffrax", "dir": ..., "T": 1.0, "t_min": 1e-3, "steps": 200,
                                "weights": [...], "means": [[...]], "covariances": [[[...]]], "threads": 2}'
"""

import json
import os
import sys
import time

import numpy as np


def _mixture(config):
    return (np.asarray(config["weights"], float), np.asarray(config["means"], float),
            np.asarray(config["covariances"], float))


def run_diffrax(config, y0):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp
    import lineax

    weights, means, covariances = (jnp.asarray(a) for a in _mixture(config))
    count, dim = y0.shape
    T, t_min, steps = config["T"], config["t_min"], config["steps"]
    eye = jnp.eye(dim)

    def score(y, t):  # y (M, d)
        a, v = jnp.exp(-t), 1.0 - jnp.exp(-2.0 * t)
        cov = a * a * covariances + v * eye
        precision = jnp.linalg.inv(cov)
        log_det = jnp.linalg.slogdet(cov)[1]
        diff = y[:, None, :] - a * means[None, :, :]  # (M, K, d)
        grad = -jnp.einsum("kij,mkj->mki", precision, diff)
        logits = jnp.log(weights) - 0.5 * log_det - 0.5 * jnp.einsum("mki,mki->mk", diff, -grad)
        r = jax.nn.softmax(logits, axis=1)
        return jnp.einsum("mk,mki->mi", r, grad)

    def drift(tau, y, args):
        points = y.reshape(count, dim)
        return (points + 2.0 * score(points, T - tau)).reshape(-1)

    def diffusion(tau, y, args):
        return lineax.DiagonalLinearOperator(jnp.full(y.shape, 2.0**0.5))

    tau_end = T - t_min

    @jax.jit
    def solve(y, key):
        path = diffrax.UnsafeBrownianPath(shape=(count * dim,), key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, path))
        solution = diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, tau_end, tau_end / steps, y,
                                       saveat=diffrax.SaveAt(t1=True), max_steps=steps + 16,
                                       stepsize_controller=diffrax.ConstantStepSize(), adjoint=diffrax.ForwardMode())
        return solution.ys[-1]

    y = jnp.asarray(y0.reshape(-1))
    start = time.perf_counter()
    solve(y, jax.random.PRNGKey(0)).block_until_ready()  # compile (and one run)
    first = time.perf_counter() - start
    start = time.perf_counter()
    out = solve(y, jax.random.PRNGKey(1)).block_until_ready()
    wall = time.perf_counter() - start
    return np.asarray(out).reshape(count, dim), wall, first, f"jax {jax.__version__}, diffrax {diffrax.__version__}"


def run_torchsde(config, y0):
    import torch
    import torchsde

    torch.set_num_threads(config["threads"])
    weights, means, covariances = (torch.tensor(a, dtype=torch.float64) for a in _mixture(config))
    T, t_min, steps = config["T"], config["t_min"], config["steps"]
    dim = y0.shape[1]
    eye = torch.eye(dim, dtype=torch.float64)

    class ReverseSDE(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, tau, y):
            t = T - tau
            a, v = torch.exp(-t), 1.0 - torch.exp(-2.0 * t)
            cov = a * a * covariances + v * eye
            precision = torch.linalg.inv(cov)
            log_det = torch.linalg.slogdet(cov)[1]
            diff = y[:, None, :] - a * means[None, :, :]
            grad = -torch.einsum("kij,mkj->mki", precision, diff)
            logits = torch.log(weights) - 0.5 * log_det - 0.5 * torch.einsum("mki,mki->mk", diff, -grad)
            r = torch.softmax(logits, dim=1)
            return y + 2.0 * torch.einsum("mk,mki->mi", r, grad)

        def g(self, tau, y):
            return torch.full_like(y, 2.0**0.5)

    sde = ReverseSDE()
    y = torch.tensor(y0, dtype=torch.float64)
    tau_end = T - t_min
    times = torch.tensor([0.0, tau_end], dtype=torch.float64)
    torch.manual_seed(0)
    with torch.no_grad():
        start = time.perf_counter()
        out = torchsde.sdeint(sde, y, times, method="euler", dt=tau_end / steps)[-1]
        wall = time.perf_counter() - start
    return out.numpy(), wall, wall, f"torch {torch.__version__}, torchsde {torchsde.__version__}"


def main():
    config = json.loads(sys.argv[1])
    os.environ.setdefault("OMP_NUM_THREADS", str(config["threads"]))
    y0 = np.load(os.path.join(config["dir"], "start.npy"))
    runner = {"diffrax": run_diffrax, "torchsde": run_torchsde}[config["tool"]]
    out, wall, first, version = runner(config, y0)
    np.save(os.path.join(config["dir"], config["tool"] + ".npy"), out)
    print(json.dumps({"wall": wall, "first": first, "version": version}))


if __name__ == "__main__":
    main()
