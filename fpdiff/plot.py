"""Matplotlib figures of fpdiff results (solvers never import this module)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def density_evolution_figure(solution, exact=None):
    """x–t heat map of a 1-D :class:`DensitySolution` and its final density.

    ``exact`` (a distribution) adds the exact final cell averages for comparison.
    """
    grid = solution.grid
    x = grid.centers[0]
    figure, (heat, final) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    order = np.argsort(solution.t)
    mesh = heat.pcolormesh(x, solution.t[order], solution.values[order], shading="auto", cmap="viridis")
    figure.colorbar(mesh, ax=heat, label="density p(x, t)")
    heat.set_xlabel("x")
    heat.set_ylabel("t (forward time)")
    heat.set_title("Density evolution")
    final.plot(x, solution.values[order[0]], color="0.6", label=f"t = {solution.t[order[0]]:g}")
    final.plot(x, solution.final, label=f"finite volumes, t = {solution.t[-1]:g}")
    if exact is not None:
        final.plot(x, grid.cell_average(exact), "k--", linewidth=1, label="exact")
    final.set_xlabel("x")
    final.set_ylabel("density")
    final.set_title("Initial and final density")
    final.legend()
    return figure


def audit_figure(result):
    """Panels of an :class:`fpdiff.audit.AuditResult`: what :meth:`AuditResult.summary` reports, drawn.

    Score error against t (absolute, with its Monte-Carlo band, and relative);
    the Girsanov bound against the realised KL; and, where the audit has them,
    the score Fokker–Planck residual and the curl against t, and the
    nearest-training-point distances of generated against held-out points.
    """
    panels = ["score", "girsanov"]
    panels += [name for name in ("fp_residual", "curl", "memorisation") if getattr(result, name) is not None]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows), constrained_layout=True,
                                squeeze=False)
    axes = axes.ravel()
    for extra in axes[len(panels):]:
        extra.remove()
    settings = result.settings
    figure.suptitle(f"Audit of {settings['learned']} against {settings['reference']}\n"
                    f"{settings['process']}, d = {settings['dim']}, gamma = {settings['gamma']:g}", fontsize=10)
    for axis, panel in zip(axes, panels):
        _AUDIT_PANELS[panel](axis, result)
    return figure


def _log_time_axis(axis, times):
    times = np.asarray(times)
    if len(times) and times.min() > 0 and times.max() / times.min() > 20:
        axis.set_xscale("log")
    axis.set_xlabel("t (forward time)")


def _audit_score(axis, result):
    t, error, band = result.times, result.score_error, 2 * result.score_error_stderr
    axis.plot(t, error, "o-", markersize=3, color="C0", label=r"$E_{p_t}|\hat s - s|^2$")
    if np.any(band > 0):
        axis.fill_between(t, np.maximum(error - band, error * 1e-3), error + band, color="C0", alpha=0.25,
                          label="Monte-Carlo ±2 s.e.")
    axis.set_yscale("log")
    axis.set_ylabel(r"$E_{p_t}|\hat s - s|^2$", color="C0")
    _log_time_axis(axis, t)
    relative = axis.twinx()
    relative.plot(t, result.relative_score_error, "s--", markersize=3, color="C1",
                  label=r"relative: $E|\hat s - s|^2 / E|s|^2$")
    relative.set_yscale("log")
    relative.set_ylabel(r"$E|\hat s - s|^2 \,/\, E|s|^2$", color="C1")
    lines = axis.get_legend_handles_labels()
    more = relative.get_legend_handles_labels()
    axis.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="best")
    axis.set_title("Score error")


def _audit_girsanov(axis, result):
    g = result.girsanov
    labels = [r"KL$(p_T\,\|\,\pi)$", r"$\frac{1}{2}\int\sigma^2 E|\hat s - s|^2 dt$", "bound (sum)"]
    values = [g.prior_kl, g.integral, g.bound]
    colours = ["0.6", "0.6", "C3"]
    if g.realised_kl is not None:
        labels.append(r"realised KL$(p_{t_{min}}\,\|\,q)$, learned")
        values.append(g.realised_kl)
        colours.append("C0")
    if g.realised_kl_reference is not None:
        labels.append("realised KL, reference score\n(discretisation floor)")
        values.append(g.realised_kl_reference)
        colours.append("C2")
    positive = [v for v in values if v is not None and v > 0]
    floor = min(positive) / 10 if positive else 1e-12
    shown = [v if v is not None and v > 0 else floor for v in values]
    y = np.arange(len(values))[::-1]
    axis.barh(y, shown, color=colours)
    for position, value in zip(y, values):
        axis.text(value if value and value > 0 else floor, position, f" {value:.3g}", va="center", fontsize=8)
    axis.set_yticks(y)
    axis.set_yticklabels(labels, fontsize=8)
    axis.set_xscale("log")
    axis.set_xlim(floor, max(shown) * 30)
    axis.set_xlabel("KL (nats)")
    verdict = {True: "bound holds", False: "bound VIOLATED", None: "no realised KL (no grid)"}[g.holds]
    if not g.applies:
        verdict = "bound proved for gamma = 1 only"
    axis.set_title(f"Girsanov bound: {verdict}")


def _audit_field_check(axis, check, color, label, ylabel, title):
    """A field check of the audit (FP residual or curl): its relative size against t."""
    axis.plot(check.times, check.relative, "o-", markersize=3, color=color, label=label)
    axis.set_yscale("log")
    axis.set_ylabel(ylabel)
    _log_time_axis(axis, check.times)
    axis.legend(fontsize=8)
    axis.set_title(title)


def _audit_fp_residual(axis, result):
    _audit_field_check(axis, result.fp_residual, "C4",
                       r"$R = \partial_t s - \nabla(\beta x\cdot s + \frac{\sigma^2}{2}(\nabla\cdot s + |s|^2))$",
                       r"$\|R\|_{p_t}$ / size of the two sides", "Score Fokker–Planck residual")


def _audit_curl(axis, result):
    _audit_field_check(axis, result.curl, "C5", r"$\partial_i s_j - \partial_j s_i$, $p_t$-weighted RMS",
                       r"$\|\mathrm{curl}\, s\|_{p_t} \,/\, \|\nabla s\|_{p_t}$", "Curl of the learned field")


def _audit_memorisation(axis, result):
    m = result.memorisation
    both = np.concatenate([m.generated_distance, m.held_out_distance])
    positive = both[both > 0]
    lo = positive.min() if positive.size else 1e-12
    bins = np.geomspace(lo, max(both.max(), lo * 10), 40)
    baseline = "held-out points" if m.held_out_source == "held_out" else r"fresh samples of $p_{t_{min}}$"
    for distance, colour, alpha, label in ((m.held_out_distance, "0.5", 0.5, baseline),
                                           (m.generated_distance, "C0", 0.6, "generated samples")):
        axis.hist(np.maximum(distance, lo), bins=bins, alpha=alpha, color=colour, label=label,
                  weights=np.full(len(distance), 1.0 / len(distance)))
    axis.set_xscale("log")
    axis.set_xlabel("distance $d_1$ to the nearest training point")
    axis.set_ylabel("fraction of points per bin")
    title = "Memorisation"
    if m.fraction_memorised is not None:
        title += f": {100 * m.fraction_memorised:.0f}% with $d_1/d_2 < 1/3$"
    axis.set_title(title)
    axis.legend(fontsize=8)


_AUDIT_PANELS = {"score": _audit_score, "girsanov": _audit_girsanov, "fp_residual": _audit_fp_residual,
                 "curl": _audit_curl, "memorisation": _audit_memorisation}


def results_figure(results_path):
    """Final densities of a results file (``fpdiff run``): grid vs exact vs particle histogram, one panel per gamma.

    1-D: curves over x; 2-D: the density view's result per gamma as an image.
    """
    from .runner import read_results

    _, rows, arrays = read_results(results_path)
    edges = arrays["edges"]
    count = len(rows)
    figure, axes = plt.subplots(1, count, figsize=(3.6 * count, 3.4), squeeze=False, sharey=len(edges) == 1)
    for axis, row, data in zip(axes[0], rows, arrays["gamma"]):
        if len(edges) == 1:
            centres = 0.5 * (edges[0][1:] + edges[0][:-1])
            if "samples" in data:
                axis.hist(data["samples"][:, 0], bins=edges[0][::4], density=True, color="0.8",
                          label="particles (histogram)")
            axis.plot(centres, arrays["exact"], "k--", lw=1.2, label="exact $p(t_{min})$")
            if "density" in data:
                axis.plot(centres, data["density"], color="C0", lw=1.2, label="grid")
            axis.set_xlabel("x")
        else:
            field = data.get("density", arrays["exact"])
            axis.imshow(field.T, origin="lower", extent=[edges[0][0], edges[0][-1], edges[1][0], edges[1][-1]],
                        aspect="auto", cmap="viridis")
            if "samples" in data:
                shown = data["samples"][:2000]
                axis.plot(shown[:, 0], shown[:, 1], ".", ms=1, color="w", alpha=0.4)
            axis.set_xlabel("$x_1$")
            axis.set_ylabel("$x_2$")
        axis.set_title(f"$\\gamma$ = {row['gamma']:g}")
    if len(edges) == 1:
        axes[0][0].set_ylabel("density")
        axes[0][0].legend(fontsize=7, loc="upper left")
    figure.suptitle("reverse process at $t_{min}$")
    figure.tight_layout()
    return figure
