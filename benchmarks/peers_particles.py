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
N(a mu_k, a^2 C_k + v I), a = exp(-t), v = 1 - exp(-2 t), written elementwise
(:func:`elementwise_score`: what a careful user writes; ``"elementwise": false`` in the
config runs the earlier broadcast-and-softmax formulation instead). Euler–Maruyama with ``steps``
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


def elementwise_score(xp, weights, means, covariances):
    """The exact mixture score written elementwise, as a careful user writes it for ``xp`` (jax.numpy or torch).

    Per component the precision :math:`P_k = (a^2 C_k + v I)^{-1}` of the tiny ``d x d``
    covariance is formed with numpy-level scalars (closed form in 1-D and 2-D), and the
    log-density and gradient are sums of products of ``(M,)`` columns: no ``(M, K, d)``
    temporaries, no batched matrix inverse per call, a running-max log-sum-exp.
    ``score(y, t, a)`` takes ``a = exp(-t)`` in ``xp``'s own type (a traced value under jit).
    """
    k_count, dim = np.shape(means)
    log_weights = np.log(weights).tolist()
    means, covariances = np.asarray(means).tolist(), np.asarray(covariances).tolist()  # Python floats: any xp

    def precision(c, a, v):  # (P, log det P) of a^2 C_c + v I, written out for d = 1, 2
        cov = [[a * a * covariances[c][i][j] + (v if i == j else 0.0) for j in range(dim)] for i in range(dim)]
        if dim == 1:
            return [[1.0 / cov[0][0]]], -xp.log(cov[0][0])
        det = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0]
        return [[cov[1][1] / det, -cov[0][1] / det], [-cov[1][0] / det, cov[0][0] / det]], -xp.log(det)

    def score(y, t, a):
        v = 1.0 - a * a
        columns = [y[:, i] for i in range(dim)]
        logits, gradients = [], []
        for c in range(k_count):
            p, log_det_p = precision(c, a, v)
            diff = [columns[i] - a * means[c][i] for i in range(dim)]
            grad = [-sum(p[i][j] * diff[j] for j in range(dim)) for i in range(dim)]
            quadratic = sum(-diff[i] * grad[i] for i in range(dim))
            logits.append(log_weights[c] + 0.5 * log_det_p - 0.5 * quadratic)
            gradients.append(grad)
        peak = logits[0]
        for logit in logits[1:]:
            peak = xp.maximum(peak, logit)
        shares = [xp.exp(logit - peak) for logit in logits]
        total = sum(shares)
        return xp.stack([sum(shares[c] * gradients[c][i] for c in range(k_count)) / total for i in range(dim)], 1)

    return score


def broadcast_score(xp, softmax, weights, means, covariances):
    """The earlier baseline: ``(M, K, d)`` broadcasts, a batched inverse and a softmax per call."""
    weights, means, covariances = (xp.asarray(np.asarray(a)) for a in (weights, means, covariances))
    eye = xp.asarray(np.eye(means.shape[1]))

    def score(y, t, a):
        v = 1.0 - a * a
        cov = a * a * covariances + v * eye
        precision = xp.linalg.inv(cov)
        log_det = xp.linalg.slogdet(cov)[1]
        diff = y[:, None, :] - a * means[None, :, :]
        grad = -xp.einsum("kij,mkj->mki", precision, diff)
        logits = xp.log(weights) - 0.5 * log_det - 0.5 * xp.einsum("mki,mki->mk", diff, -grad)
        return xp.einsum("mk,mki->mi", softmax(logits, 1), grad)

    return score


def run_diffrax(config, y0):
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp
    import lineax

    weights, means, covariances = _mixture(config)
    count, dim = y0.shape
    T, t_min, steps = config["T"], config["t_min"], config["steps"]
    score = elementwise_score(jnp, weights, means, covariances) if config.get("elementwise", True) else \
        broadcast_score(jnp, jax.nn.softmax, weights, means, covariances)

    def drift(tau, y, args):
        points = y.reshape(count, dim)
        return (points + 2.0 * score(points, T - tau, jnp.exp(-(T - tau)))).reshape(-1)

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
    T, t_min, steps = config["T"], config["t_min"], config["steps"]
    weights, means, covariances = _mixture(config)
    score = elementwise_score(torch, weights, means, covariances) if config.get("elementwise", True) else \
        broadcast_score(torch, lambda z, axis: torch.softmax(z, dim=axis), weights, means, covariances)

    class ReverseSDE(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, tau, y):
            t = T - tau
            return y + 2.0 * score(y, t, torch.exp(-torch.as_tensor(t, dtype=torch.float64)))

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
    if config["threads"] == 1:  # XLA's CPU backend: one intra-op thread, read when jax starts
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    y0 = np.load(os.path.join(config["dir"], "start.npy"))
    runner = {"diffrax": run_diffrax, "torchsde": run_torchsde}[config["tool"]]
    out, wall, first, version = runner(config, y0)
    np.save(os.path.join(config["dir"], config["tool"] + ".npy"), out)
    print(json.dumps({"wall": wall, "first": first, "version": version}))


if __name__ == "__main__":
    main()
