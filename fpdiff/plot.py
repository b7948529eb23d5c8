"""Matplotlib figures of fpdiff results (solvers never import this module)."""

import os

import matplotlib.pyplot as plt  # the backend is the user's (Jupyter's inline one, say); the command picks Agg
from matplotlib.ticker import NullLocator
import numpy as np

from ._hdf5 import atomic_path
from .audit.memorisation import MEMORISATION_RATIO, memorisation_check
from .errors import InputError
from .metrics import observed_order


def save_figure(figure, path, dpi=120):
    """Write ``figure`` to ``path`` atomically (a temporary file, then a rename) and close it.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure.
    path : str or os.PathLike
        Where to write it; the format follows the extension (``.png``,
        ``.pdf``, ``.svg``; none: PNG).
    dpi : int, optional
        Resolution of raster formats.

    Returns
    -------
    str or os.PathLike
        ``path``.
    """

    extension = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=dpi, format=extension)
    finally:
        plt.close(figure)
    return path


def density_evolution_figure(solution, exact=None):
    """x–t heat map of a 1-D :class:`DensitySolution` and its final density.

    Parameters
    ----------
    solution : DensitySolution
        A solution on a 1-D grid.
    exact : GaussianMixture, optional
        A distribution whose cell averages are drawn beside the final density.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
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
    the Girsanov bound against the realised KL, with the prior mismatch and
    the discretisation floor; and, where the audit has them, the score
    Fokker–Planck residual and the curl against t (with their floors: the
    reference score tabulated the same way), and the nearest-training-point
    distances of generated against held-out points. A check that was asked
    for but failed (``result.failed``) gets a panel that says why.

    Parameters
    ----------
    result : AuditResult
        What :func:`fpdiff.audit` returned.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    panels = ["score", "girsanov"]
    panels += [name for name in ("fp_residual", "curl", "memorisation")
               if getattr(result, name) is not None or name in result.failed]
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
        if panel in result.failed:
            _audit_failed(axis, _AUDIT_TITLES[panel], result.failed[panel])
        else:
            _AUDIT_PANELS[panel](axis, result)
    return figure


def _audit_failed(axis, title, reason):
    """The panel of a check that failed: its title marked FAILED, and the reason in words."""
    import textwrap

    axis.set_axis_off()
    axis.set_title(f"{title}: FAILED", color="C3")
    axis.text(0.0, 1.0, textwrap.fill(reason, 58), transform=axis.transAxes, va="top", ha="left", fontsize=7,
              wrap=True)


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
    realised = [(g.realised_kl, r"realised KL$(p_{t_{min}}\,\|\,q)$, learned", "C0"),
                (g.realised_kl_reference, "realised KL, reference score\n(prior mismatch + discretisation)", "C2"),
                (g.prior_mismatch, "prior mismatch\n(exact reversal from the prior)", "0.35"),
                (g.discretisation_floor, "discretisation floor\n(reference score from $p_T$)", "C8")]
    for value, label, colour in realised:
        if value is not None:  # each is known only where its run (or closed form) exists
            labels.append(label)
            values.append(value)
            colours.append(colour)
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
    elif result.density is not None and "learned" in result.density.failed:
        verdict = "learned run FAILED, not checked"
    axis.set_title(f"Girsanov bound: {verdict}")


def _audit_field_check(axis, check, color, label, ylabel, title):
    """A field check of the audit (FP residual or curl): its relative size against t, and its floor."""
    axis.plot(check.times, check.relative, "o-", markersize=3, color=color, label=label)
    if check.floor_relative is not None:
        axis.plot(check.times, check.floor_relative, "--", color="0.4",
                  label="floor: reference score tabulated the same way")
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
_AUDIT_TITLES = {"fp_residual": "Score Fokker–Planck residual", "curl": "Curl of the learned field",
                 "memorisation": "Memorisation"}


def results_figure(results_path, point=None):
    """Final densities of a results file (``fpdiff run``): grid vs exact vs particle histogram, one panel per gamma.

    1-D: curves over x; 2-D: the density view's result per gamma as an image
    (with a colour bar).

    Parameters
    ----------
    results_path : str or os.PathLike
        A ``results.h5`` written by ``fpdiff run`` or ``fpdiff demo``.
    point : int, optional
        For a sweep's results: the point whose densities to draw (its rows in
        the table). :func:`sweep_figure` draws the metrics of all points.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    from .app.files import read_results

    _, rows, arrays = read_results(results_path)
    if "points" in arrays:
        points = arrays["points"]
        if point is None:
            raise InputError(f"{os.fspath(results_path)!r} holds the results of a sweep ({len(points)} points): "
                             "fpdiff.plot.sweep_figure draws its metrics against the swept values; "
                             "results_figure(path, point=k) the densities of point k")
        if isinstance(point, bool) or not isinstance(point, (int, np.integer)) or not 0 <= point < len(points):
            raise InputError(f"`point` must be the index of a point of the sweep, 0 to {len(points) - 1}; "
                             f"got {point!r}")
        if points[point] is None:
            raise InputError(f"point {point} of the sweep failed ({arrays['errors'][point]}): it has no densities")
        rows, arrays = [row for row in rows if row["point"] == point], points[point]
    elif point is not None:
        raise InputError(f"`point` is for a sweep's results; {os.fspath(results_path)!r} holds a single run's")
    edges = arrays["edges"]
    count = len(rows)
    figure, axes = plt.subplots(1, count, figsize=(3.6 * count + (0.6 if len(edges) > 1 else 0), 3.4),
                                squeeze=False, sharey=len(edges) == 1)
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
            # show where the exact density is above 1e-4 of its peak, not the whole computational box
            visible = centres[arrays["exact"] > 1e-4 * arrays["exact"].max()]
            margin = 0.1 * (visible[-1] - visible[0])
            axis.set_xlim(visible[0] - margin, visible[-1] + margin)
        else:
            field = data.get("density", arrays["exact"])
            image = axis.imshow(field.T, origin="lower", extent=[edges[0][0], edges[0][-1], edges[1][0],
                                                                 edges[1][-1]], aspect="equal", cmap="viridis")
            figure.colorbar(image, ax=axis, shrink=0.8, label="density")
            if "samples" in data:
                shown = data["samples"][:2000]
                axis.plot(shown[:, 0], shown[:, 1], ".", ms=1, color="w", alpha=0.4)
            axis.set_xlim(edges[0][0], edges[0][-1])  # the box: particles outside it must not widen the panel
            axis.set_ylim(edges[1][0], edges[1][-1])
            axis.set_xlabel("$x_1$")
            axis.set_ylabel("$x_2$")
        axis.set_title(f"$\\gamma$ = {row['gamma']:g}")
    if len(edges) == 1:
        axes[0][0].set_ylabel("density")
        axes[0][0].legend(fontsize=7, loc="upper left")
    figure.suptitle("reverse process at $t_{min}$" + ("" if len(edges) == 1 else
                    ": grid density (image), particles (white dots)")
                    + ("" if point is None else f", sweep point {point}"))
    figure.tight_layout()
    return figure


#: the metrics :func:`sweep_figure` draws by default, and their axis labels
SWEEP_METRICS = {"l1": "L1 error (grid vs exact)", "w1": "W1 error (particles vs exact)",
                 "kl": "KL (exact || grid)", "tv": "TV (grid vs particles)"}


def sweep_figure(results_path, metrics=("l1", "w1")):
    """The metrics of a sweep's results file against a swept value: one line per gamma (and other swept values).

    The x axis is the first swept key with numeric values other than the
    gamma (log-scaled when its values span a factor 20 or more); without
    one, the gamma, or else the first swept key's values side by side. Each
    line is one gamma and one combination of the other swept keys; one panel
    per metric of ``metrics`` that the run computed (``l1``, ``kl``: density
    view; ``w1``: particles; ``tv``: both). Failed points are left out (the
    title counts them).

    Parameters
    ----------
    results_path : str or os.PathLike
        The ``results.h5`` of a sweep.
    metrics : sequence of str, optional
        Columns of the results table, one panel each.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    from .app.files import read_results

    _, rows, arrays = read_results(results_path)
    if "axes" not in arrays:
        raise InputError(f"{os.fspath(results_path)!r} holds a single run's results, not a sweep's: draw them "
                         "with fpdiff.plot.results_figure")
    unknown = [name for name in metrics if name not in SWEEP_METRICS]
    if unknown or not metrics:
        raise InputError(f"`metrics` must name some of {', '.join(SWEEP_METRICS)}; got {metrics!r}")
    shown = [name for name in metrics if any(np.isfinite(row[name]) for row in rows)]
    if not shown:
        raise InputError(f"{os.fspath(results_path)!r}: no point has a value of {', '.join(metrics)} (failed points, "
                         "or views that did not run): nothing to draw")
    axes_names = arrays["axes"]

    def numeric(name):
        return all(isinstance(row[name], (int, float)) and not isinstance(row[name], bool) for row in rows)

    candidates = [name for name in axes_names if name != "reverse.gamma" and numeric(name)]
    x_name = candidates[0] if candidates else "reverse.gamma" if "reverse.gamma" in axes_names else axes_names[0]
    categorical = not numeric(x_name)
    categories = list(dict.fromkeys(_value_text(row[x_name]) for row in rows)) if categorical else None
    others = [name for name in axes_names if name not in (x_name, "reverse.gamma")]
    lines = {}
    for row in rows:
        label = ([] if x_name == "reverse.gamma" else [f"$\\gamma$ = {row['gamma']:g}"]) + \
                [f"{name} = {_value_text(row[name])}" for name in others]
        x = categories.index(_value_text(row[x_name])) if categorical else row[x_name]
        lines.setdefault(", ".join(label), []).append((x, row))
    figure, panels = plt.subplots(1, len(shown), figsize=(4.6 * len(shown), 3.6), squeeze=False,
                                  constrained_layout=True)
    for panel, metric in zip(panels[0], shown):
        for label, points in lines.items():
            points.sort(key=lambda item: item[0])
            panel.plot([x for x, _ in points], [row[metric] for _, row in points], "o-", ms=4, lw=1.2,
                       label=label or None)
        values = np.array([row[metric] for row in rows])
        if np.all(values[np.isfinite(values)] > 0):
            panel.set_yscale("log")
        if categorical:
            panel.set_xticks(range(len(categories)), categories)
        else:
            xs = np.unique([row[x_name] for row in rows]).astype(float)
            if np.all(xs > 0) and xs.max() >= 20 * xs.min():
                panel.set_xscale("log")
            if len(xs) <= 12:  # the swept values themselves as ticks, not a log axis's powers of ten
                panel.xaxis.set_minor_locator(NullLocator())
                panel.set_xticks(xs, [f"{x:g}" for x in xs])
        panel.set_xlabel("$\\gamma$" if x_name == "reverse.gamma" else x_name)
        panel.set_ylabel(SWEEP_METRICS[metric])
        if any(lines):
            panel.legend(fontsize=7 if len(lines) <= 8 else 5)
    failed = sum(bool(error) for error in arrays["errors"])
    figure.suptitle(f"sweep: {len(arrays['errors'])} points" + (f", {failed} failed (not drawn)" if failed else ""))
    return figure


def _value_text(value):
    """A swept value as short text (numbers as they are, other values as compact JSON)."""
    import json

    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


# ------------------------------------------------------------------ 2-D densities


def density_panels_figure(solution, times=None, exact=None, samples=None, columns=4):
    """2-D densities of a :class:`DensitySolution` at several times, one image panel each.

    Parameters
    ----------
    solution : DensitySolution
        A solution on a 2-D grid.
    times : sequence of float, optional
        Forward times to show (each must be a saved time of ``solution``);
        default: up to ``columns`` saved times, evenly spread.
    exact : callable, optional
        ``exact(t)`` -> a distribution (or cell densities) at time ``t``; drawn
        as white contours over the finite-volume image.
    samples : dict, optional
        ``{t: (M, 2) array}``: particles at time ``t``, drawn as dots (at most
        3000 each).
    columns : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    grid = solution.grid
    if grid.ndim != 2:
        raise InputError(f"`solution` must be on a 2-D grid for density_panels_figure; got a {grid.ndim}-D grid")
    if times is None:
        order = np.argsort(solution.t)
        pick = np.unique(np.linspace(0, len(order) - 1, min(columns, len(order))).round().astype(int))
        times = solution.t[order[pick]]
    times = list(times)
    rows = -(-len(times) // columns)
    shown_columns = min(columns, len(times))
    figure, axes = plt.subplots(rows, shown_columns, figsize=(3.3 * shown_columns + 0.8, 3.1 * rows),
                                squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    fields = [solution.at(t) for t in times]
    top = max(float(field.max()) for field in fields)
    (x_lo, x_hi), (y_lo, y_hi) = grid.bounds
    x, y = grid.centers
    image = None
    for axis, t, field in zip(axes.ravel(), times, fields):
        image = axis.imshow(field.T, origin="lower", extent=[x_lo, x_hi, y_lo, y_hi], cmap="viridis",
                            vmin=0.0, vmax=top, aspect="equal", interpolation="nearest")
        if exact is not None:
            reference = exact(t)
            reference = grid.cell_average(reference) if not isinstance(reference, np.ndarray) else reference
            axis.contour(x, y, reference.T, levels=np.linspace(0, top, 8)[1:], colors="w", linewidths=0.7)
        if samples is not None and t in samples:
            shown = np.asarray(samples[t])[:3000]
            axis.plot(shown[:, 0], shown[:, 1], ".", markersize=1.2, color="C1", alpha=0.5)
        axis.set_title(f"t = {t:g}", fontsize=10)
    for axis in axes[-1]:
        axis.set_xlabel("$x_1$")
    for axis in axes[:, 0]:
        axis.set_ylabel("$x_2$")
    for axis in axes.ravel()[len(times):]:
        axis.remove()
    figure.colorbar(image, ax=axes, shrink=0.85, label="density (finite volumes)")
    legend = ["finite volumes (image)"]
    legend += ["exact (white contours)"] if exact is not None else []
    legend += ["particles (orange dots)"] if samples is not None else []
    figure.suptitle("; ".join(legend), fontsize=9)
    return figure


# ------------------------------------------------------------------ scores and memorisation


def score_error_figure(result):
    r"""Score error :math:`E_{p_t}|\hat s - s|^2` against t of an :class:`fpdiff.audit.AuditResult`.

    Absolute error with its Monte-Carlo band (left axis) and relative error
    :math:`E|\hat s - s|^2 / E|s|^2` (right axis); log time axis when the
    times span decades.

    Parameters
    ----------
    result : AuditResult
        What :func:`fpdiff.audit` returned.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    figure, axis = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    _audit_score(axis, result)
    axis.set_title(f"Score error of {result.settings['learned']}")
    return figure


def memorisation_figure(generated, train, held_out=None):
    r"""Generated samples against the training points: where they are, and how close.

    Left: the points themselves (first two coordinates; 1-D data against a
    jittered second axis), generated points coloured by whether they are
    memorised (:math:`d_1/d_2 < 1/3`). Right: :math:`d_1` (nearest training
    point) against :math:`d_2` (second nearest) for generated and, when
    given, held-out points, with the line :math:`d_1 = d_2/3`.

    Parameters
    ----------
    generated, train : array_like (M, d), (n, d)
        Generated samples, and the training points.
    held_out : array_like (m, d), optional
        Data the model never saw (the baseline cloud on the right).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    generated = np.asarray(generated, dtype=float).reshape(len(generated), -1)
    train = np.asarray(train, dtype=float).reshape(len(train), -1)
    baseline = generated[:0] if held_out is None else np.asarray(held_out, dtype=float).reshape(len(held_out), -1)
    check = memorisation_check(generated, train, baseline)
    figure, (space, ratio) = plt.subplots(1, 2, figsize=(10, 4.3), constrained_layout=True)

    def coordinates(points):
        if points.shape[1] >= 2:
            return points[:, 0], points[:, 1]
        jitter = np.random.default_rng(0).uniform(-1, 1, len(points))
        return points[:, 0], jitter

    memorised = np.zeros(len(generated), bool) if check.generated_ratio is None else \
        np.nan_to_num(check.generated_ratio, nan=0.0) < MEMORISATION_RATIO
    shown = slice(0, 4000)
    gx, gy = coordinates(generated[shown])
    space.plot(gx[~memorised[shown]], gy[~memorised[shown]], ".", ms=2, color="C0", alpha=0.5, label="generated, new")
    space.plot(gx[memorised[shown]], gy[memorised[shown]], ".", ms=2, color="C3", alpha=0.5,
               label=r"generated, memorised ($d_1/d_2 < 1/3$)")
    tx, ty = coordinates(train)
    space.plot(tx, ty, "kx", ms=4, mew=0.8, label=f"training points (n = {len(train)})")
    space.set_xlabel("$x_1$")
    space.set_ylabel("$x_2$" if generated.shape[1] >= 2 else "jitter (no meaning)")
    space.set_title(f"Samples: {100 * memorised.mean():.0f}% memorised")
    space.legend(fontsize=8, loc="best")

    if check.generated_ratio is not None:
        tree_pairs = [(generated, check.generated_distance, check.generated_ratio, "C0", "generated")]
        if held_out is not None:
            tree_pairs.append((baseline, check.held_out_distance, check.held_out_ratio, "0.5", "held out"))
        positive = []
        for _, d1, r, colour, label in tree_pairs:
            d2 = np.where(r > 0, d1 / np.where(r > 0, r, 1.0), np.nan)
            ok = np.isfinite(d2) & (d1 > 0)
            ratio.loglog(d2[ok][:4000], d1[ok][:4000], ".", ms=2, color=colour, alpha=0.5, label=label)
            positive.append(np.concatenate([d1[ok], d2[ok]]))
        values = np.concatenate(positive) if positive else np.array([1e-3, 1.0])
        if values.size:
            line = np.geomspace(values.min(), values.max(), 10)
            ratio.loglog(line, line * MEMORISATION_RATIO, "k--", lw=1, label=r"$d_1 = d_2/3$")
        ratio.set_xlabel("$d_2$: distance to the second-nearest training point")
        ratio.set_ylabel("$d_1$: distance to the nearest training point")
        ratio.set_title("Nearest-neighbour distances")
        ratio.legend(fontsize=8)
    else:
        ratio.set_axis_off()
    return figure


# ------------------------------------------------------------------ convergence and work–precision


def convergence_figure(studies, xlabel="cell width h", ylabel="L1 error", reference_orders=(1, 2)):
    """Error against resolution on log-log axes, each study's observed order in its legend.

    Parameters
    ----------
    studies : dict
        ``{label: (spacing, error)}``, arrays of equal length (>= 2), spacing
        being the cell width, the time step or any quantity that goes to 0.
    xlabel, ylabel : str
        Axis labels (say the units).
    reference_orders : sequence of int
        Slopes drawn as grey guide lines below the most accurate study.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    figure, axis = plt.subplots(figsize=(5.5, 4.2), constrained_layout=True)
    lowest = None
    for index, (label, (spacing, error)) in enumerate(studies.items()):
        spacing, error = np.asarray(spacing, dtype=float), np.asarray(error, dtype=float)
        axis.loglog(spacing, error, "o-", color=f"C{index}",
                    label=f"{label} (observed order {observed_order(spacing, error):.2f})")
        coarsest = np.argmax(spacing)
        if lowest is None or error[coarsest] < lowest[1]:
            lowest = (spacing[coarsest], error[coarsest], spacing.min())
    if lowest is not None:
        # guide lines start a factor 2 below the most accurate study's coarsest point, so they never hide data
        h_max, e_max, h_min = lowest
        h = np.geomspace(h_min, h_max, 10)
        for order, style in zip(reference_orders, (":", "--", "-.")):
            axis.loglog(h, 0.5 * e_max * (h / h_max) ** order, style, color="0.55", lw=1, label=f"slope {order}")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title("Convergence")
    axis.legend(fontsize=8)
    return figure


def work_precision_figure(studies, target=None, ylabel="L1 error at t = 1"):
    """Error against wall time on log-log axes: the lower left wins.

    Parameters
    ----------
    studies : dict
        ``{label: (seconds, error)}`` or ``{label: (seconds, error, point_labels)}``;
        ``point_labels`` (e.g. ``"N=800"``) annotate the points.
    target : float, optional
        An accuracy target drawn as a horizontal line.
    ylabel : str, optional
        Label of the error axis (say what is measured, and when).

    Returns
    -------
    matplotlib.figure.Figure
        The figure (:func:`save_figure` writes and closes it).
    """
    figure, axis = plt.subplots(figsize=(6, 4.4), constrained_layout=True)
    for index, (label, study) in enumerate(studies.items()):
        seconds, error = np.asarray(study[0], dtype=float), np.asarray(study[1], dtype=float)
        axis.loglog(seconds, error, "o-", color=f"C{index}", label=label)
        for text, x, y in zip(study[2] if len(study) > 2 else (), seconds, error):
            axis.annotate(str(text), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7, color=f"C{index}")
    if target is not None:
        axis.axhline(target, color="k", ls="--", lw=1, label=f"target {target:g}")
    axis.set_xlabel("wall time (s)")
    axis.set_ylabel(ylabel)
    axis.set_title("Work–precision")
    axis.legend(fontsize=8)
    return figure
