r"""A learned score with few features generalises: it generates new points instead of copying the training set.

Reproduces the contrast between memorisation and generalisation of Kadkhodaie,
Guth, Simoncelli & Mallat ("Generalization in diffusion models arises from
geometry-adaptive harmonic representations", ICLR 2024) and Yoon et al.
("Diffusion probabilistic models generalize when they fail to memorize", 2023),
in one dimension: the *same* denoising score-matching loss on the *same*
training points is minimised (a) exactly, over all functions — the empirical
score, whose reverse process collapses onto the training points (see
``empirical_collapse.py``), and (b) over a small function class —
:func:`fpdiff.learn.fit_dsm` with an affine part and 4 Gaussian RBF features
per time (width 3 local spacings), which cannot resolve individual points and so smooths the data into
a density.

Both scores drive the same reverse sampler (:func:`fpdiff.sample_reverse`,
log-SNR steps) down to :math:`t_{min} = 10^{-4}`; :func:`fpdiff.audit` audits
the learned score against the exact score of the data law :math:`p_0`
(score error against t, the Girsanov bound, and its memorisation check:
nearest over second-nearest training distance :math:`d_1/d_2 < 1/3`, Yoon et
al. 2023; Gu et al. 2023, eq. 1, against fresh samples of :math:`p_0`).

What to look for in ``learned_generalises.png``: (left) the learned score's
samples spread over both modes of :math:`p_0` while the empirical score's
pile up on the training points; (right) the learned samples' distances to the
nearest training point look like those of fresh data, the empirical ones sit
orders of magnitude closer. ``learned_generalises_audit.png`` is the audit's
own figure (:func:`fpdiff.plot.audit_figure`).

Run: ``python examples/learned_generalises.py [--out FOLDER] [--small]``.
"""

import matplotlib.pyplot as plt
import numpy as np

import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure
from empirical_collapse import P0, PROCESS, T, T_MIN, collapse_radius, nearest_distance, training_points
from fpdiff.audit import memorisation_check
from fpdiff.plot import audit_figure

#: RBF features per time: too few to resolve 10 points, enough for two modes
N_FEATURES = 4
#: RBF width in local centre spacings: wider than fit_dsm's default 1.5, so that at small t (where the centres
#: sit on clusters of training points) the features still cannot resolve single points
BANDWIDTH = 3.0


def main(out="examples-output/learned_generalises", small=None):
    """Fit a score, sample with it and with the empirical score, audit; print the table, write the figures."""
    small = is_small(small)
    particles = 5_000 if small else 100_000
    points = training_points()
    radius = collapse_radius()
    times = np.geomspace(T_MIN, T, 16 if small else 48)
    learned = fd.learn.fit_dsm(PROCESS, points, times, n_features=N_FEATURES, bandwidth=BANDWIDTH,
                               samples_per_time=5_000 if small else 20_000, outside="clamp", seed=0)
    empirical = fd.EmpiricalScore(PROCESS, points)
    fresh = P0.sample(particles, seed=12)
    runs = {}
    for name, score in (("learned", learned), ("empirical", empirical)):
        samples = fd.sample_reverse(PROCESS, score, particles, T, gamma=1.0, t_min=T_MIN, steps=200,
                                    time_grid="log-snr", seed=11).samples
        check = memorisation_check(samples, points, fresh, held_out_source="reference")
        d = nearest_distance(samples, points)
        runs[name] = {"samples": samples[:, 0], "distance": d, "fraction_within_radius": float(np.mean(d < radius)),
                      "fraction_memorised": check.fraction_memorised, "median_distance": float(np.median(d)),
                      "w1_to_p0": fd.metrics.w1(samples, P0, fd.Grid([(-6.0, 6.0)], 1200))}
    report = fd.audit(learned, fd.ExactScore(PROCESS, P0), T=T, t_min=T_MIN, particles=particles // 2,
                      n_samples=particles // 2, train=points, particle_options={"time_grid": "log-snr"}, seed=1)
    d_fresh = nearest_distance(fresh, points)
    baseline = {"fraction_within_radius": float(np.mean(d_fresh < radius)),
                "fraction_memorised": report.memorisation.fraction_memorised_held_out,
                "median_distance": float(np.median(d_fresh)), "w1_to_p0": fd.metrics.w1(points, P0, fd.Grid(
                    [(-6.0, 6.0)], 1200))}
    rows = [(name, r["fraction_within_radius"], r["fraction_memorised"], r["median_distance"], r["w1_to_p0"])
            for name, r in (("learned score (fit_dsm)", runs["learned"]), ("empirical score", runs["empirical"]),
                            ("fresh samples of p0 / the training set itself (W1)", baseline))]
    print_table(f"Learned ({N_FEATURES} RBF features) vs empirical score, {len(points)} training points, "
                f"t_min = {T_MIN:g}, {particles} particles",
                ["samples", f"within r = {radius:.3g}", "memorised (d1/d2 < 1/3)", "median d1", "W1 to p0"], rows)
    memorised = report.memorisation
    print(f"audit of the learned score (its own particles): fraction memorised {memorised.fraction_memorised:.3g}, "
          f"held-out {memorised.fraction_memorised_held_out:.3g}; median d1 ratio generated/held-out "
          f"{memorised.median_ratio:.3g}")

    figure, (density, distances) = plt.subplots(1, 2, figsize=(12, 4.3), constrained_layout=True)
    bins = np.linspace(-3.5, 3.5, 281)
    density.hist(runs["empirical"]["samples"], bins=bins, density=True, color="C3", alpha=0.45,
                 label="empirical score (memorises)")
    density.hist(runs["learned"]["samples"], bins=bins, density=True, color="C0", alpha=0.6,
                 label=f"learned score, fit_dsm ({N_FEATURES} features)")
    x = np.linspace(-3.5, 3.5, 701)
    density.plot(x, P0.pdf(x[:, None]), "k--", lw=1.2, label=r"data law $p_0$")
    density.plot(points[:, 0], np.zeros(len(points)), "v", color="C3", ms=8, label="training points")
    density.set_ylim(0, 1.6)
    density.set_xlabel("x")
    density.set_ylabel(r"density of the samples at $t_{min}$")
    density.set_title(f"Same {len(points)} training points, same loss, two minimisers")
    density.legend(fontsize=8, loc="upper center")
    edges = np.geomspace(1e-5, 3.0, 60)
    for values, colour, alpha, label in ((d_fresh, "0.5", 0.5, r"fresh samples of $p_0$"),
                                         (runs["empirical"]["distance"], "C3", 0.45, "empirical score"),
                                         (runs["learned"]["distance"], "C0", 0.6, "learned score")):
        distances.hist(np.clip(values, edges[0], edges[-1]), bins=edges, color=colour, alpha=alpha, label=label,
                       weights=np.full(len(values), 1.0 / len(values)))
    distances.axvline(radius, color="k", ls=":", lw=1, label=f"collapse radius {radius:.3g}")
    distances.set_xscale("log")
    distances.set_xlabel("distance to the nearest training point")
    distances.set_ylabel("fraction of samples per bin")
    distances.set_title(f"Memorised (d1/d2 < 1/3): learned {100 * runs['learned']['fraction_memorised']:.0f}%, "
                        f"empirical {100 * runs['empirical']['fraction_memorised']:.0f}%, "
                        f"fresh {100 * baseline['fraction_memorised']:.0f}%", fontsize=10)
    distances.legend(fontsize=8, loc="upper left")
    save_figure(figure, out, "learned_generalises.png")
    save_figure(audit_figure(report), out, "learned_generalises_audit.png")
    summary = {name: {k: v for k, v in r.items() if k not in ("samples", "distance")} for name, r in runs.items()}
    return {**summary, "fresh": baseline, "radius": radius,
            "audit_fraction_memorised": report.memorisation.fraction_memorised,
            "audit_fraction_memorised_held_out": report.memorisation.fraction_memorised_held_out}


if __name__ == "__main__":
    command_line(main, __doc__, "examples-output/learned_generalises")
