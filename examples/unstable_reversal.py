r"""Naive (unstable) versus stabilised reversal of the Fokker–Planck equation.

Reproduces the motivating figure of the score-based reverse Fokker–Planck
equation: running the forward equation backwards in time,

.. math::  \partial_\tau q = -\nabla\cdot(\beta x q) - \tfrac{\sigma^2}{2}\Delta q, \qquad \tau = T - t,

is a backward heat equation (ill-posed in the sense of Hadamard: the Fourier
mode :math:`e^{ikx}` grows like :math:`e^{\sigma^2 k^2 \tau/2}`), whereas the
gamma-family rewrite with the score (docs/theory.md, section 3; Anderson 1982 for
:math:`\gamma = 1`; Song et al., "Score-based generative modeling through
stochastic differential equations", ICLR 2021, eq. 6)

.. math::  \partial_\tau q = -\nabla\cdot\big([\beta x + \sigma^2 s]\, q\big) + \tfrac{\sigma^2}{2}\Delta q

is a well-posed, forward-parabolic equation. On a grid of spacing :math:`h`
the largest resolved wave number is :math:`k \sim \pi/h`, so round-off and
discretisation errors at the grid scale grow by :math:`e^{c\,\tau/h^2}`: the
naive reversal (:func:`fpdiff.solve_naive_reversal`) survives only a reverse
time :math:`\tau_{blow} \propto h^2` — *refining the grid makes it worse* —
and it loses positivity as it dies. The stabilised solver
(:func:`fpdiff.solve_reverse`, exact score, :math:`\gamma = 1`) converges to
the exact :math:`p_{t_{min}}` at second order in :math:`h`.

Setting: OU process :math:`dX = -X dt + \sqrt 2 dW`, :math:`p_0` a two-component
Gaussian mixture, :math:`T = 1`, :math:`t_{min} = 10^{-3}`, start from the
exact :math:`p_T`. The naive reversal takes explicit steps
:math:`\Delta\tau = 0.05\, h^2/\sigma^2`, so that its blow-up is the equation's
and not a step-size instability.

What to look for in ``unstable_reversal.png``: (left) the stabilised L1 error
falls along the :math:`h^2` line; the reverse time the naive reversal survives
also falls like :math:`h^2`, i.e. it gets worse with refinement; (right) the
naive density just before it blew up — grid-scale oscillations and negative
values — against the exact density at that time, and the stabilised result at
:math:`t_{min}` on top of the exact one.

Run: ``python examples/unstable_reversal.py [--out FOLDER] [--small]``.
"""


import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter
import numpy as np

import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
P0 = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
T, T_MIN = 1.0, 1e-3
BOX = (-8.0, 8.0)
#: explicit step of the naive reversal in units of h^2 / sigma^2: D dt / h^2 = 0.025 with D = sigma^2 / 2, far
#: below the explicit limit 1/2 of the forward heat equation, so the blow-up is not a step-size instability
NAIVE_STEP = 0.05


def naive_reversal(grid, p_T):
    """Run the naive reversal until it blows up; return (t_blow, last snapshot before it, its time)."""
    h = grid.spacing[0]
    dt = NAIVE_STEP * h**2 / PROCESS.diffusion_constant**2
    steps = int(np.ceil((T - T_MIN) / dt))
    try:
        fd.solve_naive_reversal(PROCESS, grid, p_T, T, t_min=T_MIN, steps=steps)
    except fd.BlowUpError as error:
        t_blow = error.t  # the forward time of the failing step
    else:
        return T_MIN, None, None  # survived the whole interval (a grid too coarse to see the instability)
    taken = int(round((T - t_blow) / dt))  # steps done up to and including the one that failed
    if taken < 2:
        return t_blow, p_T, T
    t_last = T - (taken - 1) * dt  # the last step that passed the checks
    last = fd.solve_naive_reversal(PROCESS, grid, p_T, T, t_min=t_last, steps=taken - 1)
    return t_blow, last.final, t_last


def main(out="examples-output/unstable_reversal", small=None):
    """Run the comparison, print its table, write ``unstable_reversal.png``; return the numbers."""
    small = is_small(small)
    cells = [100, 200, 400] if small else [50, 100, 200, 400, 800]
    spacing, stable_l1, stable_min, survived, naive_min, naive_last = [], [], [], [], [], []
    for n in cells:
        grid = fd.Grid([BOX], n)
        p_T = P0.evolve(PROCESS, T).cell_average(grid)
        # n time steps for n cells keeps the time error below the O(h^2) space error
        stable = fd.solve_reverse(PROCESS, grid, fd.ExactScore(PROCESS, P0), T, q0=p_T, gamma=1.0, t_min=T_MIN,
                                  steps=n)
        t_blow, last, t_last = naive_reversal(grid, p_T)
        spacing.append(grid.spacing[0])
        stable_l1.append(fd.metrics.l1(stable.final, P0.evolve(PROCESS, T_MIN), grid))
        stable_min.append(float(stable.diagnostics["min_density"]))
        survived.append(T - t_blow)
        naive_min.append(float(np.min(last)) if last is not None else np.nan)
        naive_last.append((grid, last, t_last, stable.final))
    spacing = np.array(spacing)
    order_stable = -np.polyfit(np.log(1 / spacing), np.log(stable_l1), 1)[0]
    # the coarsest grids survive until the coarse-scale error, not the grid-scale one, stops them: fit the 3 finest
    order_naive = -np.polyfit(np.log(1 / spacing[-3:]), np.log(survived[-3:]), 1)[0]

    print_table("Naive vs stabilised reversal (OU, bimodal p0, T = 1, t_min = 1e-3)",
                ["cells", "h", "stabilised L1 at t_min", "min density", "naive: reverse time survived",
                 "naive min density"],
                [(n, float(h), float(e), float(m), float(s), float(nm))
                 for n, h, e, m, s, nm in zip(cells, spacing, stable_l1, stable_min, survived, naive_min)])
    print(f"observed orders in h: stabilised L1 ~ h^{order_stable:.2f}, naive survival time ~ h^{order_naive:.2f} "
          "(3 finest grids)")

    figure, (errors, densities) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    errors.loglog(spacing, stable_l1, "o-", color="C0", label=r"stabilised ($\gamma$ = 1): L1 error at $t_{min}$")
    errors.loglog(spacing, survived, "s-", color="C3", label=r"naive: reverse time $\tau$ survived before blow-up")
    for values, colour in ((stable_l1, "C0"), (survived, "C3")):
        errors.loglog(spacing, values[-1] * (spacing / spacing[-1]) ** 2, ":", color=colour, lw=1)
    errors.plot([], [], "k:", lw=1, label=r"slope 2 ($\propto h^2$)")
    errors.set_xticks(spacing, [f"{h:g}" for h in spacing], minor=False)
    errors.xaxis.set_minor_formatter(NullFormatter())
    errors.set_xlabel("grid spacing h")
    errors.set_ylabel(r"L1 error  /  reverse time $\tau = T - t$")
    errors.set_title("Refining the grid: stabilised converges, naive dies sooner")
    errors.legend(fontsize=8)
    grid, last, t_last, stable_final = naive_last[-1]
    x = grid.centers[0]
    if last is not None:
        densities.plot(x, last, color="C3", lw=1, label=f"naive, last step before blow-up (t = {t_last:.4f})")
        densities.plot(x, P0.evolve(PROCESS, t_last).cell_average(grid), "k:", lw=1.2,
                       label=f"exact p(x, t = {t_last:.4f})")
    densities.plot(x, stable_final, color="C0", lw=1.5, label=rf"stabilised at $t_{{min}}$ = {T_MIN:g}")
    densities.plot(x, P0.evolve(PROCESS, T_MIN).cell_average(grid), "k--", lw=1, label=r"exact $p(x, t_{min})$")
    densities.axhline(0.0, color="0.7", lw=0.8)
    densities.set_xlim(-4.5, 4.5)
    densities.set_xlabel("x")
    densities.set_ylabel("density")
    densities.set_title(f"Densities on the finest grid ({len(x)} cells, h = {grid.spacing[0]:.3g})")
    densities.legend(fontsize=8, loc="upper left")
    save_figure(figure, out, "unstable_reversal.png")
    return {"cells": cells, "spacing": spacing.tolist(), "stable_l1": stable_l1, "stable_min_density": stable_min,
            "naive_survival": survived, "naive_min_density": naive_min, "stable_order": float(order_stable),
            "naive_survival_order": float(order_naive)}


if __name__ == "__main__":
    command_line(main, __doc__, "examples-output/unstable_reversal")
