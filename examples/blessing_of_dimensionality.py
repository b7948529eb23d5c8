r"""The blessing of dimensionality of random time reversal: started at an observation, the sampler stays local.

Christensen, Kallsen, Strauch & Trottner (2025): for the Brownian random time reversal in d >= 3 started at an
observation :math:`x` whose ball :math:`B(x, \rho)` holds a fraction :math:`\varepsilon` of the data, the output
lands in the data within :math:`B(x, (1 + \delta) \rho)` with probability at least

.. math::  1 - \frac{1}{\varepsilon} (1 + \delta)^{2 - d},

because :math:`G_r(y \to x)\, |x - y|^{d-2}` decreases in :math:`|x - y|` (it is a multiple of
:math:`z^\nu K_\nu(z)`, :math:`\nu = (d-2)/2`), so a data point at distance :math:`(1+\delta) \rho` or more is at
least :math:`(1+\delta)^{d-2}` times less likely to be reached than one inside :math:`B(x, \rho)`. The
bound is void for small d and tends to 1 quickly as d grows: "moderately noised" starts are denoised locally in
high dimension.

This script measures the probability for d in {2, 3, 5, 10, 20} on a synthetic data set (standard Gaussian
points), from several noised observations x per dimension (a data point plus noise of the size of the typical
nearest-neighbour distance), with fpdiff.sample_homogeneous, and prints
it next to the exact value
:math:`\sum_{|x_i - x| \le (1+\delta) \rho} G_r(x_i \to x) / \sum_j G_r(x_j \to x)` and the bound.
Paths stop within the default delta-neighbourhood of the data and finish="exact" draws the point from the exact
output law at the stopping point (see fpdiff.homogeneous.sampler); what remains is the Euler–Maruyama bias,
first order in the step factor c and larger in a dense cloud of points than for a few points (one d = 3
observation, 3000 paths: P = 0.827 at c = 0.05/d, the default, and 0.840 at c = 0.01/d; exact 0.837, standard
error 0.007). Here c = 0.02/d: the measured values run on average about half a standard error below the exact
ones in d = 2..5, and every one is above the bound. Full size takes a few minutes on two cores.

Run: ``python examples/blessing_of_dimensionality.py [--out FOLDER] [--small]`` (``FPDIFF_EXAMPLE_SIZE=small`` works too).
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
from scipy.spatial import cKDTree

import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure
from fpdiff.homogeneous import HomogeneousScore, sample_homogeneous

DIMENSIONS = (2, 3, 5, 10, 20)
EPS = 0.05  # fraction of the data inside B(x, rho)
DELTA = 0.5  # the outer ball is B(x, (1 + delta) rho)
R = 1.0
PROCESS = fd.Brownian(1.0)
STEP_FACTOR = 0.02  # c d of the step rule dt <= c rho^2 (default 0.05): the Euler bias, O(c), below the noise


def synthetic_data(n, d, rng):
    """``n`` standard Gaussian points in ``d`` dimensions and their median nearest-neighbour distance."""
    data = rng.normal(size=(n, d))
    nearest, _ = cKDTree(data).query(data, k=2)
    return data, float(np.median(nearest[:, 1]))


def bound(d, eps=EPS, delta=DELTA):
    """The lower bound 1 - (1/eps)(1 + delta)^(2 - d)."""
    return 1.0 - (1.0 + delta) ** (2 - d) / eps


def main(out="examples-output/blessing_of_dimensionality", small=None):
    small = is_small(small)
    n_data, n_observations, paths = (150, 3, 80) if small else (400, 4, 200)
    rng = np.random.default_rng(2025)
    rows, results = [], {"d": [], "measured": [], "standard_error": [], "exact": [], "bound": [], "ratios": []}
    for d in DIMENSIONS:
        data, spacing = synthetic_data(n_data, d, rng)
        score = HomogeneousScore(PROCESS, data, R)
        measured, exact, errors, ratios = [], [], [], []
        for k in range(n_observations):
            # a moderately noised data point: noise of norm about the nearest-neighbour distance
            x = data[rng.integers(n_data)] + spacing / np.sqrt(d) * rng.normal(size=d)
            distances = np.linalg.norm(data - x, axis=1)
            rho = np.sort(distances)[int(np.ceil(EPS * n_data)) - 1]  # alpha(B(x, rho)) = eps
            inside = distances <= (1.0 + DELTA) * rho
            result = sample_homogeneous(PROCESS, score, np.repeat(x[None], paths, axis=0), seed=100 * d + k,
                                        finish="exact", step_factor=STEP_FACTOR / d)
            hits = inside[result.reached[result.reached >= 0]]
            p = hits.sum() / paths  # paths that did not stop count as failures
            measured.append(p)
            errors.append(np.sqrt(max(p * (1 - p), 1.0 / paths) / paths))
            exact.append(score.hitting_probabilities(x[None])[0][inside].sum())
            ratios.append(distances[result.reached[result.reached >= 0]] / rho)
        for p, e, q in zip(measured, errors, exact):
            rows.append([d, p, e, q, (p - q) / e, max(bound(d), 0.0), "yes" if p >= bound(d) else "NO"])
        results["d"].append(d)
        results["measured"].append(np.array(measured))
        results["standard_error"].append(np.array(errors))
        results["exact"].append(np.array(exact))
        results["bound"].append(bound(d))
        results["ratios"].append(np.concatenate(ratios))
    print_table(f"P(end in the data within B(x, (1+delta) rho)), eps = {EPS}, delta = {DELTA}, r = {R}, "
                f"{n_data} data points, {paths} paths per observation",
                ["d", "measured", "std err", "exact", "z", "bound (>= 0)", "measured >= bound"], rows)
    results["figure"] = _figure(results, out)
    return results


def _figure(results, out):
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    dims = np.array(results["d"], dtype=float)
    for j, d in enumerate(dims):
        count = len(results["measured"][j])
        offsets = d * (1 + 0.03 * (np.arange(count) - (count - 1) / 2))
        left.errorbar(offsets, results["measured"][j], yerr=2 * results["standard_error"][j], fmt="o", ms=4,
                      color="C0", capsize=2, label="measured (± 2 s.e.)" if j == 0 else None)
        left.plot(offsets, results["exact"][j], "x", color="k", ms=6, label="exact" if j == 0 else None)
    fine = np.linspace(2, 20, 200)
    left.plot(fine, np.clip(bound(fine), 0, None), color="C3", lw=2,
              label=r"bound $1 - \varepsilon^{-1}(1+\delta)^{2-d}$ (clipped at 0)")
    left.set_xscale("log")
    left.set_xticks(dims)
    left.set_xticklabels([str(int(d)) for d in dims])
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("dimension d")
    left.set_ylabel(r"P(output in $B(x, (1+\delta)\rho)$)")
    left.set_ylim(-0.03, 1.03)
    left.set_title(rf"Started at an observation x, $\varepsilon$ = {EPS}, $\delta$ = {DELTA}")
    left.legend(loc="lower left", bbox_to_anchor=(0.0, 0.08), fontsize=8)
    for j, d in enumerate(results["d"]):
        ratios = np.sort(results["ratios"][j])
        right.plot(ratios, np.arange(1, len(ratios) + 1) / len(ratios), label=f"d = {d}", color=f"C{j}")
    right.axvline(1.0 + DELTA, color="k", ls="--", lw=1)
    right.text(1.0 + DELTA, 0.03, r" $(1+\delta)\rho$", fontsize=9)
    right.axvline(1.0, color="gray", ls=":", lw=1)
    right.text(1.0, 0.12, r" $\rho$", fontsize=9, color="gray")
    right.set_xscale("log")
    right.xaxis.set_minor_formatter(NullFormatter())
    right.set_xlabel(r"distance of the output from x, in units of $\rho$")
    right.set_ylabel("fraction of paths (empirical CDF)")
    right.set_title("Where the paths end")
    right.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return save_figure(figure, out, "blessing_of_dimensionality.png")


if __name__ == "__main__":
    command_line(main, __doc__, "examples-output/blessing_of_dimensionality")
