r"""A 2-D Gaussian mixture noised and regenerated: forward and reverse densities on a 2-D grid against particles.

Reproduces the standard two-dimensional illustration of score-based diffusion
(Song et al., "Score-based generative modeling through stochastic differential
equations", ICLR 2021, Fig. 1; Karras et al., "Elucidating the design space of
diffusion-based generative models", NeurIPS 2022, Fig. 1): a multimodal
:math:`p_0` is noised by the forward process into a Gaussian, and the reverse
process (:math:`\gamma = 1`, exact score) brings it back, with both views of
one law side by side:

- forward: :math:`\partial_t p = \nabla\cdot(\beta x p) + \frac{\sigma^2}{2}\Delta p`
  on a 2-D grid (:func:`fpdiff.solve_forward`, dimension splitting) and the
  exact transition with particles (:func:`fpdiff.sample_forward`);
- reverse: the stabilised equation of docs/theory.md (section 3) on the same grid
  (:func:`fpdiff.solve_reverse`) and its SDE with particles
  (:func:`fpdiff.sample_reverse`, exponential integrator), both started from
  the exact :math:`p_T`.

Each snapshot is checked against the exact mixture :math:`p_t` (closed form,
:meth:`GaussianMixture.evolve`) in L1, and the particles against the grid in
TV next to its Monte-Carlo floor (:func:`fpdiff.metrics.compare`).

What to look for in ``mixture_2d.png``: top row, the three modes of
:math:`p_0` merge into one Gaussian; bottom row, they re-emerge; in every
panel the particles (dots) fall on the grid density (colour), and the titles
give the grid's L1 error and the grid–particle TV in units of its floor
(about 1 means the samples cannot tell the two views apart).

Run: ``python examples/mixture_2d.py [--out FOLDER] [--small]``.
"""

import matplotlib.pyplot as plt
import numpy as np

import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
P0 = fd.GaussianMixture([0.3, 0.3, 0.4], [[-1.5, -1.0], [1.5, -1.0], [0.0, 1.5]],
                        [[0.4**2, 0.25**2], [0.25**2, 0.4**2], [0.5**2, 0.3**2]])
T, T_MIN = 1.0, 1e-2
TIMES = (0.0, 0.25, 1.0)
BOX = (-4.5, 4.5)
#: particles drawn in each panel (all of them enter the numbers)
SHOWN = 800


def main(out="examples-output/mixture_2d", small=None):
    """Forward and reverse, grid and particles; print the table, write ``mixture_2d.png``."""
    small = is_small(small)
    cells = 64 if small else 128
    particles = 20_000 if small else 100_000
    grid = fd.Grid([BOX, BOX], [cells, cells])
    forward = fd.solve_forward(PROCESS, grid, P0, T, save_at=TIMES)
    forward_particles = fd.sample_forward(PROCESS, P0.sample(particles, seed=1), T, save_at=TIMES, seed=2)
    reverse_times = (T, 0.25, T_MIN)
    p_T = P0.evolve(PROCESS, T)
    score = fd.ExactScore(PROCESS, P0)
    reverse = fd.solve_reverse(PROCESS, grid, score, T, q0=p_T, gamma=1.0, t_min=T_MIN, save_at=reverse_times,
                               steps=cells)
    reverse_particles = fd.sample_reverse(PROCESS, score, p_T.sample(particles, seed=3), T, gamma=1.0, t_min=T_MIN,
                                          steps=100 if small else 200, time_grid="log-snr", save_at=reverse_times,
                                          seed=4)

    rows, panels = [], []
    for label, solution, samples, times in (("forward", forward, forward_particles, TIMES),
                                            ("reverse", reverse, reverse_particles, reverse_times)):
        for t in times:
            density = solution.at(t)
            points = samples.at(t)
            views = fd.metrics.compare(density, points, grid, n_projections=32)
            l1 = fd.metrics.l1(density, P0.evolve(PROCESS, t), grid)
            rows.append((label, float(t), l1, views.tv, views.tv_floor, views.tv / views.tv_floor, views.w1))
            panels.append((label, t, density, points, l1, views))
    print_table(f"2-D mixture, OU, grid {cells}x{cells}, {particles} particles",
                ["view", "t", "L1 grid vs exact", "TV grid-particles", "TV floor", "TV/floor", "sliced W1"], rows)

    figure, axes = plt.subplots(2, 3, figsize=(13, 8.4), constrained_layout=True, sharex=True, sharey=True)
    extent = [BOX[0], BOX[1], BOX[0], BOX[1]]
    vmax = max(float(np.max(p[2])) for p in panels)
    for axis, (label, t, density, points, l1, views) in zip(axes.ravel(), panels):
        image = axis.imshow(density.T, origin="lower", extent=extent, cmap="viridis", vmin=0, vmax=vmax)
        axis.plot(points[:SHOWN, 0], points[:SHOWN, 1], ".", ms=1.5, color="w", alpha=0.5)
        axis.set_title(f"{label}, t = {t:g}\nL1 vs exact {l1:.1e};  TV vs particles {views.tv / views.tv_floor:.2f}"
                       " x floor", fontsize=10)
    for axis in axes[:, 0]:
        axis.set_ylabel("$x_2$")
    for axis in axes[1]:
        axis.set_xlabel("$x_1$")
    axes[0, 0].plot([], [], ".", color="k", label=f"particles (first {SHOWN})")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    figure.colorbar(image, ax=axes, label="grid density p(x, t)", shrink=0.8)
    figure.suptitle(r"2-D mixture: forward noising (top) and reverse generation with the exact score, "
                    r"$\gamma$ = 1 (bottom)")
    save_figure(figure, out, "mixture_2d.png")
    return {"cells": cells, "particles": particles,
            "rows": [dict(zip(("view", "t", "l1", "tv", "tv_floor", "tv_ratio", "sliced_w1"), row)) for row in rows]}


if __name__ == "__main__":
    command_line(main, __doc__, "examples-output/mixture_2d")
