r"""With the empirical score the reverse process collapses onto the training points (memorisation).

Reproduces the memorisation phenomenon of diffusion models trained to the
exact optimum of their loss (Biroli, Bonnaire, de Bortoli & Mézard, "Dynamical
regimes of diffusion models", Nat. Commun. 2024; Gu et al., "On memorization
in diffusion models", 2023, eq. 1; Yoon et al. 2023): the minimiser of the
denoising score-matching loss on ``n`` training points :math:`x_i` is the
*empirical* (kernel) score (docs/theory.md, section 4)

.. math::

    s(x, t) = \frac{\alpha_t \hat x_0(x, t) - x}{v_t}, \qquad
    \hat x_0 = \sum_i \lambda_i x_i, \quad
    \lambda = \operatorname{softmax}_i\Big(-\frac{|x - \alpha_t x_i|^2}{2 v_t}\Big),

the exact score of :math:`p_0 = \frac1n\sum_i \delta_{x_i}` noised by the
process. Reversing exactly with it therefore returns
:math:`p_{t_{min}} = \frac1n\sum_i N(\alpha_{t_{min}} x_i, v_{t_{min}})`: spikes of
width :math:`\sqrt{v_{t_{min}}}` on the training points, not the data law they
were drawn from.

Setting: OU process, 10 training points drawn from a bimodal :math:`p_0`,
:math:`T = 1`, :math:`t_{min} = 10^{-4}` (spike width 0.014). Density view:
:func:`fpdiff.solve_reverse` from the empirical :math:`p_T`, checked in L1
against the closed form above, and the mass within the collapse radius
:math:`r = 3\sqrt{v_{t_{min}}}` of a training point. Sample view:
:func:`fpdiff.sample_reverse` from the prior; for each particle the distance
to its nearest training point, against fresh samples of :math:`p_0` (what a
model that generalises would produce), and the memorisation criterion of
:func:`fpdiff.audit.memorisation_check` (nearest over second-nearest distance
below 1/3).

What to look for in ``empirical_collapse.png``: (left) the reverse density is a
comb of spikes on the training points (grid, particles and the closed form
agree), nothing like :math:`p_0`; (right) generated particles sit at a
distance of order :math:`\sqrt{v_{t_{min}}}` from a training point, orders of
magnitude closer than fresh data.

Run: ``python examples/empirical_collapse.py [--out FOLDER] [--small]``.
"""

import matplotlib.pyplot as plt
import numpy as np

import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure
from fpdiff.audit import memorisation_check

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
P0 = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
T, T_MIN = 1.0, 1e-4
N_TRAIN = 10
BOX = (-5.0, 5.0)


def training_points(n=N_TRAIN, seed=7):
    """The training set: ``n`` points drawn from :data:`P0`, shape (n, 1)."""
    return P0.sample(n, seed=seed)


def collapse_radius():
    r"""Three spike widths, :math:`3\sqrt{v_{t_{min}}}`: a collapsed particle lies within it with probability 0.997."""
    return 3.0 * float(np.sqrt(PROCESS.variance(T_MIN)))


def empirical_law(points, t):
    r"""The law of the empirical :math:`p_0` at time ``t``: :math:`\frac1n\sum_i N(\alpha_t x_i, v_t)`."""
    n = len(points)
    return fd.GaussianMixture(np.full(n, 1.0 / n), PROCESS.alpha(t) * points, np.full(n, PROCESS.variance(t)))


def nearest_distance(samples, points):
    """Distance from each sample to its nearest training point."""
    return np.min(np.abs(samples[:, :1] - points[:, 0][None, :]), axis=1)


def main(out="examples-output/empirical_collapse", small=None):
    """Run the empirical score in both views; print the table, write ``empirical_collapse.png``."""
    small = is_small(small)
    cells = 2000 if small else 4000  # h = 0.005 / 0.0025 against the spike width 0.014
    particles = 10_000 if small else 100_000
    points = training_points()
    score = fd.EmpiricalScore(PROCESS, points)
    grid = fd.Grid([BOX], cells)
    radius = collapse_radius()

    # the stiff score near t_min wants small steps there: a log-SNR time grid
    solution = fd.solve_reverse(PROCESS, grid, score, T, q0=empirical_law(points, T), gamma=1.0, t_min=T_MIN,
                                steps=400, time_grid="log-snr")
    closed_form = empirical_law(points, T_MIN)
    l1 = fd.metrics.l1(solution, closed_form)
    x = grid.centers[0]
    near = nearest_distance(x[:, None], points) < radius
    grid_mass_near = float(grid.integrate(np.where(near, solution.final, 0.0)))

    generated = fd.sample_reverse(PROCESS, score, particles, T, gamma=1.0, t_min=T_MIN, steps=200,
                                  time_grid="log-snr", seed=11).samples
    fresh = P0.sample(particles, seed=12)
    d_generated, d_fresh = nearest_distance(generated, points), nearest_distance(fresh, points)
    memorised = memorisation_check(generated, points, fresh, held_out_source="reference")
    result = {
        "l1_grid_vs_closed_form": l1, "grid_mass_within_radius": grid_mass_near, "radius": radius,
        "fraction_within_radius": float(np.mean(d_generated < radius)),
        "fraction_within_radius_fresh": float(np.mean(d_fresh < radius)),
        "median_distance": float(np.median(d_generated)), "median_distance_fresh": float(np.median(d_fresh)),
        "fraction_memorised": memorised.fraction_memorised,
        "fraction_memorised_fresh": memorised.fraction_memorised_held_out,
        "tv_grid_vs_particles": fd.metrics.compare(solution, generated).tv,
    }
    print_table(f"Empirical score, {N_TRAIN} training points, t_min = {T_MIN:g} (collapse radius r = {radius:.3g})",
                ["", "reverse (empirical score)", "fresh samples of p0"],
                [("fraction within r of a training point", result["fraction_within_radius"],
                  result["fraction_within_radius_fresh"]),
                 ("median nearest-point distance", result["median_distance"], result["median_distance_fresh"]),
                 ("fraction memorised (d1/d2 < 1/3)", result["fraction_memorised"], result["fraction_memorised_fresh"]),
                 ("grid: mass within r", grid_mass_near, "")])
    print(f"grid vs closed form: L1 = {l1:.3g}; grid vs particles: TV = {result['tv_grid_vs_particles']:.3g}")

    figure, (density, distances) = plt.subplots(1, 2, figsize=(12, 4.3), constrained_layout=True)
    density.hist(generated[:, 0], bins=grid.edges[0][::2], density=True, color="0.75",
                 label=f"particles ({particles:,})")
    density.plot(x, solution.final, color="C0", lw=1, label=f"grid ({cells} cells)")
    density.plot(x, closed_form.cell_average(grid), "k:", lw=1,
                 label=r"closed form $\frac{1}{n}\sum_i N(\alpha x_i, v)$")
    density.plot(x, P0.cell_average(grid), color="C1", lw=1.5, label=r"data law $p_0$ the points were drawn from")
    density.plot(points[:, 0], np.zeros(len(points)), "v", color="C3", ms=8, label="training points")
    density.set_xlim(-3.5, 3.5)
    density.set_xlabel("x")
    density.set_ylabel("density at $t_{min}$")
    density.set_title(f"Reverse process with the empirical score ({N_TRAIN} points)")
    density.legend(fontsize=8, loc="upper left")
    both = np.concatenate([d_generated, d_fresh])
    bins = np.geomspace(max(both.min(), 1e-6), both.max(), 60)
    for values, colour, label in ((d_fresh, "0.5", r"fresh samples of $p_0$"),
                                  (d_generated, "C0", "generated (empirical score)")):
        distances.hist(np.maximum(values, bins[0]), bins=bins, color=colour, alpha=0.6, label=label,
                       weights=np.full(len(values), 1.0 / len(values)))
    distances.axvline(radius, color="C3", ls="--", label=rf"collapse radius $3\sqrt{{v_{{t_{{min}}}}}}$ = {radius:.3g}")
    distances.set_xscale("log")
    distances.set_xlabel("distance to the nearest training point")
    distances.set_ylabel("fraction of points per bin")
    distances.set_title(f"Memorisation: {100 * result['fraction_within_radius']:.0f}% of particles within r "
                        f"(fresh data: {100 * result['fraction_within_radius_fresh']:.0f}%)")
    distances.legend(fontsize=8)
    save_figure(figure, out, "empirical_collapse.png")
    return result


if __name__ == "__main__":
    command_line(main, __doc__, "examples-output/empirical_collapse")
