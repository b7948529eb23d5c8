r"""The sampler lab: the samplers of diffusers and k-diffusion, each measured against the exact answer.

Every library sampler fpdiff implements (``ddpm``, ``ddim`` at eta 0 and 0.5, ``euler``, ``heun_sigma``,
``euler_ancestral``, ``dpmpp_2m``; step for step equal to diffusers' schedulers, ``tests/test_sampler_parity.py``)
runs with the exact score of a Gaussian mixture under three schedules,

- diffusers' linear table (``fd.LinearDiscrete()``) on its ``"diffusers-trailing"`` timesteps,
- the cosine schedule (``fd.Cosine()``, :math:`T = 0.99`) on a log-SNR grid down to :math:`10^{-3}`,
- EDM (``fd.EDM()``, :math:`\sigma` from 80 to 0.002) on the Karras grid (:math:`\rho = 7`),

each grid followed by the libraries' last step to the data (:math:`\hat x_0`), from particles of the prior.
The output is compared with the exact data law :math:`p_0` (the mixture) by :math:`W_1` (1-D: exact, by
sorting; 2-D: sliced, ``fd.metrics.compare``) against the number of model evaluations, next to the
Monte-Carlo floor (the same distance for as many exact samples of :math:`p_0`), and the observed order of
each scheme is the slope of the errors above three times the floor. TV of a histogram, with its floor, is
printed for the largest runs.

What to look for in ``sampler_lab.png``: the first-order samplers (``ddim``, ``euler``, ``ddpm``,
``euler_ancestral``) fall with slope about -1 (observed orders 0.8-1.4); ``heun_sigma`` starts worst (its
few long first steps from a large sigma) and falls faster than second order towards the floor; ``dpmpp_2m``
is the most accurate from 12 evaluations on and reaches the floor first, with 24 evaluations below ``ddim`` with
48 (the published claim, DPM-Solver++ with 20 against DDIM with 50, holds here). ``euler`` lies on ``ddim``
and ``euler_ancestral`` on ``ddpm``: the same steps written in another variable (``docs/theory.md``, 5.1).
On diffusers' trailing timesteps every sampler is first order: their last timestep is ``n / steps - 1``, so the
final step to the data returns :math:`\hat x_0` from a time of order ``1 / steps``, whose bias (the
posterior's spread, :math:`O(v_t)`) then falls like ``1 / steps`` whatever the scheme; the log-SNR and Karras
grids, which end at a fixed small time, show the second order of ``heun_sigma`` and ``dpmpp_2m``.

What eta does to the density (``sampler_lab_eta.png``): as its steps shrink, one DDIM step with ``eta`` is the
gamma exponential integrator's step with :math:`\gamma_n \to \eta` (``fd.theory.gamma_of_eta``; ``docs/theory.md``,
5.1), so the grid view of DDIM(eta) is the gamma-family reverse equation at :math:`\gamma = \eta`. With the exact
score every eta gives the exact law; with a model's error it does not, and eta decides how the error shows. The
score here is 0.8 times the exact score (a model that is not confident enough, and not the exact score of any law,
so that the gammas differ); ``fd.solve_reverse(..., gamma=eta)`` on the grid and ``ddim`` with that eta and 400
steps from the same exact :math:`p_T` give the same density for each eta (their histogram TV sits at its
Monte-Carlo floor), and the larger eta lands closer to the data (L1 0.90, 0.57, 0.23 at eta 0, 0.5, 1): the
stochastic term contracts the error the drift made.

Run: ``python examples/sampler_lab.py [--out FOLDER] [--small]``.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullLocator

import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure

MIXTURES = {
    "1-D": fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2]),
    "2-D": fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.5**2, 0.6**2], [0.7**2, 0.5**2]]),
}
GRIDS = {"1-D": fd.Grid([(-5.0, 5.0)], (200,)), "2-D": fd.Grid([(-5.0, 5.0), (-5.0, 5.0)], (60, 60))}
SAMPLERS = [("ddpm", {}), ("ddim", {}), ("ddim", {"eta": 0.5}), ("euler", {}), ("euler_ancestral", {}),
            ("heun_sigma", {}), ("dpmpp_2m", {})]
#: line styles: euler coincides with ddim and euler_ancestral with ddpm (docs/theory.md, 5.1), drawn dashed on top
STYLES = {"euler": "x--", "euler_ancestral": "x--"}


def schedules():
    """(name, process, time grid of ``n`` steps, the last one to 0)."""
    table, cosine, edm = fd.LinearDiscrete(), fd.Cosine(), fd.EDM()
    return [
        ("linear table (diffusers-trailing)", table, lambda n: "diffusers-trailing"),
        ("cosine (log-SNR grid)", cosine,
         lambda n: np.concatenate([fd.timegrid.log_snr(cosine, 0.99, 1e-3, n - 1), [0.0]])),
        ("EDM (Karras grid)", edm, lambda n: np.concatenate([fd.timegrid.karras(edm, 80.0, 0.002, n - 1), [0.0]])),
    ]


def label(scheme, options):
    return scheme + (f" (eta {options['eta']})" if "eta" in options else "")


def main(out="sampler_lab_output", small=None):
    small = is_small(small)
    particles = 10_000 if small else 200_000
    projections = 16 if small else 64  # directions of the 2-D sliced W1 (its cost dominates the small run)
    evaluations = [6, 12, 24, 48] if small else [6, 12, 24, 48, 96]
    results = {}
    figure, axes = plt.subplots(2, 3, figsize=(14, 7.5), sharex=True, constrained_layout=True)
    for row, (dim, mixture) in enumerate(MIXTURES.items()):
        grid = GRIDS[dim]
        # the Monte-Carlo floor: the expected W1 of as many exact samples (1-D: its formula; 2-D: the mean of
        # four draws), and the expected TV of their histogram
        draws = [fd.metrics.compare(mixture, mixture.sample(particles, seed=seed), grid, n_projections=projections)
                 for seed in range(4)]
        floor_w1 = fd.metrics.w1_floor(mixture, grid, particles) if dim == "1-D" else \
            float(np.mean([draw.w1 for draw in draws]))
        for column, (name, process, times_of) in enumerate(schedules()):
            axis = axes[row, column]
            for scheme, options in SAMPLERS:
                per_step = fd.SCHEMES[scheme].evaluations
                errors, counts, tv = [], [], None
                for budget in evaluations:
                    steps = max(budget // per_step, 2)
                    run = fd.sample_reverse(process, fd.ExactScore(process, mixture), particles, scheme=scheme,
                                            steps=steps, time_grid=times_of(steps), seed=1, **options)
                    comparison = fd.metrics.compare(mixture, run.samples, grid, n_projections=projections)
                    errors.append(comparison.w1)
                    counts.append(run.diagnostics["score_evaluations"])
                    tv = comparison.tv
                errors, counts = np.array(errors), np.array(counts)
                above = errors > 3 * floor_w1
                # the slope of the error against 1 / evaluations, where the error is above the floor
                order = fd.metrics.observed_order(1.0 / counts[above], errors[above]) if above.sum() >= 2 \
                    else float("nan")
                results[(dim, name, label(scheme, options))] = {"evaluations": counts, "w1": errors,
                                                                 "order": order, "tv": tv}
                axis.loglog(counts, errors, STYLES.get(scheme, "o-"), label=label(scheme, options), markersize=4)
            axis.axhline(floor_w1, color="black", linestyle=":", linewidth=1.2, label="Monte-Carlo floor")
            axis.set_xticks(evaluations, [str(count) for count in evaluations])
            axis.xaxis.set_minor_locator(NullLocator())
            axis.set_title(f"{dim} mixture, {name}", fontsize=10)
            axis.grid(True, which="both", alpha=0.3)
            if row == 1:
                axis.set_xlabel("model evaluations")
            if column == 0:
                axis.set_ylabel(r"$W_1$ to the exact $p_0$" + (" (sliced)" if dim == "2-D" else ""))
        results[(dim, "floor")] = {"w1": floor_w1, "tv": draws[0].tv_floor}
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center", fontsize=9)
    figure.suptitle(f"Library samplers against the exact density ({particles:,} particles)")
    save_figure(figure, out, "sampler_lab.png")

    rows = [(dim, name, sampler, value["order"], float(value["w1"][-1]), float(value["tv"]))
            for (dim, name, *rest), value in results.items() if rest for sampler in rest]
    print_table(f"observed orders (W1 against evaluations, above 3x the floor) and the largest runs "
                f"({evaluations[-1]} evaluations)", ["mixture", "schedule", "sampler", "order", "W1", "TV"], rows)
    for dim in MIXTURES:
        print(f"{dim}: Monte-Carlo floor W1 {results[(dim, 'floor')]['w1']:.3g}, "
              f"TV {results[(dim, 'floor')]['tv']:.3g}")
    results["eta"] = eta_on_the_grid(out, particles)
    return results


def eta_on_the_grid(out, particles, etas=(0.0, 0.5, 1.0)):
    """DDIM(eta) on particles against the gamma-family at gamma = eta on the grid, with a score that has an error.

    Returns ``{eta: {"l1": L1 of the grid density to the exact p(t_min), "tv": TV of the particles' histogram
    to the grid density, "tv_floor": its Monte-Carlo floor}}``.
    """
    process, T, t_min = fd.VP(), 1.0, 1e-2
    mixture = MIXTURES["1-D"]
    exact_score = fd.ExactScore(process, mixture)
    score = fd.CallableScore(lambda x, t: 0.8 * exact_score.score(x, t), 1, process)  # the model's error
    grid = fd.Grid([(-8.0, 8.0)], (640,))  # the under-confident score spreads the output: a box that holds it
    start = mixture.evolve(process, T)
    exact = mixture.evolve(process, t_min).cell_average(grid)
    centres = grid.centers[0]
    figure, axis = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    axis.plot(centres, exact, "k:", linewidth=1.5, label="data law $p(t_{min})$")
    found = {}
    for color, eta in zip(("C0", "C1", "C3"), etas):
        density = fd.solve_reverse(process, grid, score, T, q0=start, gamma=eta, t_min=t_min, steps=200).final
        samples = fd.sample_reverse(process, score, start.sample(particles, seed=3), T, t_min=t_min, steps=400,
                                    scheme="ddim", eta=eta, time_grid="log-snr", seed=4).samples
        comparison = fd.metrics.compare(density, samples, grid)
        found[eta] = {"l1": fd.metrics.l1(density, exact, grid), "tv": comparison.tv,
                      "tv_floor": comparison.tv_floor}
        axis.plot(centres, density, color=color, linewidth=1.5, label=f"grid, $\\gamma$ = {eta:g}")
        axis.hist(samples[:, 0], bins=grid.edges[0][::8], density=True, histtype="step", color=color,
                  linewidth=0.8, label=f"ddim, eta = {eta:g} (histogram)")
    axis.set_xlabel("x")
    axis.set_ylabel("density at $t_{min}$")
    axis.set_title("DDIM(eta) is the gamma-family at gamma = eta: 0.8 x the exact score, VP")
    axis.legend(fontsize=8, loc="upper right")
    save_figure(figure, out, "sampler_lab_eta.png")
    print_table("what eta does: grid density (gamma = eta) against the data, and ddim's histogram against it",
                ["eta", "L1 grid to data", "TV ddim to grid", "TV floor"],
                [(eta, value["l1"], value["tv"], value["tv_floor"]) for eta, value in found.items()])
    return found


if __name__ == "__main__":
    command_line(main, __doc__, "sampler_lab_output")
