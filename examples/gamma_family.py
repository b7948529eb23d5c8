r"""The gamma family of reverse processes: every gamma >= 0 recovers p_0 with the exact score.

Reproduces the statement behind the "family of reverse SDEs" of Song et al.
("Score-based generative modeling through stochastic differential equations",
ICLR 2021, eq. 13 and Appendix D.1) and Huang, Lim & Courville ("A variational
perspective on diffusion-based generative models", NeurIPS 2021, Thm. 1):
writing :math:`-\frac{\sigma^2}{2}\Delta q = \frac{\gamma^2\sigma^2}{2}\Delta q
- \frac{1+\gamma^2}{2}\sigma^2 \nabla\cdot(q \nabla\log q)` and replacing
:math:`\nabla \log q` by the score :math:`s = \nabla\log p_t` gives (docs/theory.md, section 3)

.. math::

    \partial_\tau q = -\nabla\cdot\Big(\big[\beta x + \tfrac{1+\gamma^2}{2}\sigma^2 s\big] q\Big)
                      + \tfrac{\gamma^2\sigma^2}{2}\Delta q,

whose solution from :math:`q = p_T` is :math:`p_t` for *every*
:math:`\gamma \ge 0`: :math:`\gamma = 0` is the probability-flow ODE,
:math:`\gamma = 1` the time reversal (Anderson 1982), :math:`\gamma = 2` a
reversal with more noise than the forward process.

Both views, for :math:`\gamma \in \{0, 0.5, 1, 2\}` (OU process, bimodal
:math:`p_0`, :math:`T = 1`, :math:`t_{min} = 10^{-3}`, exact score, start from
the exact :math:`p_T`): the grid (:func:`fpdiff.solve_reverse`) at two
resolutions, so that the error's second-order fall with :math:`h` is seen, and
particles (:func:`fpdiff.sample_reverse`, gamma exponential integrator),
measured in :math:`W_1` against the exact :math:`p_{t_{min}}` next to the
Monte-Carlo floor (the :math:`W_1` of as many *exact* samples), and in TV
against the grid next to its floor (:func:`fpdiff.metrics.compare`).

What to look for in ``gamma_family.png``: in every panel the grid density,
the particle histogram and the exact :math:`p_{t_{min}}` lie on top of each
other; the right panel shows the grid errors falling by about 4x per halving
of :math:`h` for every gamma, and the particle :math:`W_1` within a small
multiple of its Monte-Carlo floor.

Run: ``python examples/gamma_family.py [--out FOLDER] [--small]``.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
P0 = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
T, T_MIN = 1.0, 1e-3
GAMMAS = (0.0, 0.5, 1.0, 2.0)
BOX = (-8.0, 8.0)


def main(out="examples-output/gamma_family", small=None):
    """Run the gamma family on the grid and with particles; print the table, write ``gamma_family.png``."""
    small = is_small(small)
    cells = (200, 400) if small else (400, 800)
    particles = 10_000 if small else 100_000
    particle_steps = 100 if small else 400
    score = fd.ExactScore(PROCESS, P0)
    exact = P0.evolve(PROCESS, T_MIN)
    p_T = P0.evolve(PROCESS, T)
    start = p_T.sample(particles, seed=1)
    fine = fd.Grid([BOX], cells[-1])
    floor = fd.metrics.w1_floor(exact, fine, particles)

    rows, results = [], {}
    for gamma in GAMMAS:
        l1 = []
        for n in cells:
            grid = fd.Grid([BOX], n)
            # gamma > 0: n steps for n cells keeps the time error below the O(h^2) space error;
            # gamma = 0 (explicit transport) takes its stable step automatically
            steps = None if gamma == 0 else n
            solution = fd.solve_reverse(PROCESS, grid, score, T, q0=p_T, gamma=gamma, t_min=T_MIN, steps=steps)
            l1.append(fd.metrics.l1(solution, exact))
        samples = fd.sample_reverse(PROCESS, score, start, T, gamma=gamma, t_min=T_MIN, steps=particle_steps,
                                    scheme="ei", time_grid="log-snr", seed=3).samples
        w1 = fd.metrics.w1(samples, exact, fine)
        views = fd.metrics.compare(solution, samples)
        results[gamma] = {"l1": l1, "order": float(np.log2(l1[0] / l1[1])), "w1": w1, "tv": views.tv,
                          "tv_floor": views.tv_floor, "density": solution.final, "samples": samples[:, 0]}
        rows.append((gamma, l1[0], l1[1], results[gamma]["order"], w1, w1 / floor, views.tv / views.tv_floor))

    print_table(f"Gamma family, exact score: grid ({cells[0]} and {cells[1]} cells) and {particles} particles "
                f"('ei', {particle_steps} log-SNR steps); expected W1 of exact samples {floor:.3g}",
                ["gamma", f"L1 ({cells[0]})", f"L1 ({cells[1]})", "order", "W1 particles", "W1/floor",
                 "TV grid-particles / floor"], rows)

    figure = plt.figure(figsize=(15, 7.5), constrained_layout=True)
    top, bottom = figure.subfigures(2, 1, height_ratios=[1, 1.05])
    axes = top.subplots(1, len(GAMMAS), sharey=True)
    x = fine.centers[0]
    for axis, gamma in zip(axes, GAMMAS):
        r = results[gamma]
        axis.hist(r["samples"], bins=fine.edges[0][::4], density=True, color="0.8",
                  label=f"particles ({particles:,})")
        axis.plot(x, r["density"], color="C0", lw=1.5, label=f"grid ({cells[-1]} cells)")
        axis.plot(x, exact.cell_average(fine), "k--", lw=1, label=r"exact $p(x, t_{min})$")
        axis.set_xlim(-4, 4)
        axis.set_xlabel("x")
        axis.set_title(rf"$\gamma$ = {gamma:g}", fontsize=11)
    axes[0].set_ylabel("density at $t_{min}$")
    axes[0].legend(fontsize=8, loc="center")

    convergence, transport, views = bottom.subplots(1, 3)
    h = np.array([(BOX[1] - BOX[0]) / n for n in cells])
    for k, gamma in enumerate(GAMMAS):
        convergence.loglog(h, results[gamma]["l1"], "o-", color=f"C{k}", label=rf"$\gamma$ = {gamma:g}")
    convergence.loglog(h, 0.7 * results[1.0]["l1"][-1] * (h / h[-1]) ** 2, "k:", lw=1, label=r"$\propto h^2$")
    convergence.set_xticks(h, [f"{v:g}" for v in h])
    convergence.xaxis.set_minor_formatter(NullFormatter())
    convergence.set_xlabel("grid spacing h")
    convergence.set_ylabel(r"L1 error at $t_{min}$")
    convergence.set_title("Grid: L1 against the exact density")
    convergence.legend(fontsize=8)
    positions = np.arange(len(GAMMAS))
    labels = [f"{g:g}" for g in GAMMAS]
    transport.bar(positions, [results[g]["w1"] for g in GAMMAS], color=[f"C{k}" for k in positions])
    transport.axhline(floor, color="k", ls="--", lw=1, label=f"expected $W_1$ of {particles:,} exact samples")
    transport.set_xticks(positions, labels)
    transport.set_xlabel(r"$\gamma$")
    transport.set_ylabel(r"$W_1$(particles, exact $p_{t_{min}}$)")
    transport.set_title(f"Particles ('ei', {particle_steps} steps): $W_1$ vs its Monte-Carlo floor")
    transport.set_ylim(0, 1.35 * max(floor, *(results[g]["w1"] for g in GAMMAS)))
    transport.legend(fontsize=8, loc="upper center")
    views.bar(positions, [results[g]["tv"] for g in GAMMAS], color=[f"C{k}" for k in positions],
              label="TV(grid, particle histogram)")
    views.plot(positions, [results[g]["tv_floor"] for g in GAMMAS], "k_", ms=30, mew=2,
               label="its Monte-Carlo floor")
    views.set_xticks(positions, labels)
    views.set_xlabel(r"$\gamma$")
    views.set_ylabel("total variation")
    views.set_title("Grid against particles (same cells)")
    views.set_ylim(0, 1.35 * max(max(results[g]["tv"], results[g]["tv_floor"]) for g in GAMMAS))
    views.legend(fontsize=8, loc="upper center", ncol=2)
    figure.suptitle(r"Reverse gamma family with the exact score: every $\gamma$ returns $p_{t_{min}}$ "
                    r"(OU, $T$ = 1, $t_{min}$ = 1e-3)")
    save_figure(figure, out, "gamma_family.png")
    summary = {g: {k: v for k, v in r.items() if k not in ("density", "samples")} for g, r in results.items()}
    return {"gammas": list(GAMMAS), "cells": list(cells), "particles": particles, "w1_floor": floor,
            "results": summary}


if __name__ == "__main__":
    command_line(main, __doc__, "examples-output/gamma_family")
