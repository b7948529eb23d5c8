"""What the audit returns: one result type per check, and the text report :meth:`AuditResult.summary` prints."""

import dataclasses

import numpy as np

__all__ = ["AuditResult", "GirsanovCheck", "DSMError", "RealisedErrors", "Memorisation", "FieldCheck", "StoredPoints"]

#: rows of the per-time tables shown by :meth:`AuditResult.summary`
SUMMARY_ROWS = 12


@dataclasses.dataclass
class GirsanovCheck:
    r"""The Girsanov bound against the realised KL on the grid.

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    prior_kl : float
        :math:`\mathrm{KL}(p_T \| \pi)`, ``prior_kl_method`` says how.
    prior_kl_stderr : float or None
        Its Monte-Carlo standard error (None on a grid).
    prior_kl_method : str
        How ``prior_kl`` was computed.
    integral : float
        :math:`\frac12 \int_{t_{min}}^T \sigma^2 E_{p_t}|\hat s - s|^2 dt` by the
        trapezoidal rule over the audit times (``quadrature``).
    integral_stderr : float
        Monte-Carlo standard error of ``integral``: that of the per-sample
        integrals (mixture laws: each sample shares its random numbers across
        the times), or the times' standard errors added, an upper bound
        whatever their correlation (scores at points); 0 for quadrature.
    quadrature_error : float or None
        :math:`|I_h - I_{2h}|/3`, the trapezoid against itself on every other
        time (odd number of times only): an estimate of the quadrature error.
    quadrature : str
        The rule and the times it ran over.
    bound : float
        ``prior_kl + integral``.
    applies : bool
        True for :math:`\gamma = 1`, the only :math:`\gamma` the bound is proved for.
    realised_kl, realised_kl_reference : float or None
        :math:`\mathrm{KL}(p_{t_{min}} \| q)` from :func:`solve_reverse` started
        from the prior, with the learned and with the reference score (the
        latter is prior mismatch plus discretisation); None without a grid or
        when the run failed.
    prior_mismatch : float or None
        :math:`\mathrm{KL}(p_{t_{min}} \| q_{out})` of the exact reverse process
        started from the prior (:func:`fpdiff.theory.reverse_output_pdf` and
        :math:`p_{t_{min}}` at the grid's cell centres, a midpoint rule): the
        part of the realised KL that no score and no solver can remove. None
        where it has no closed form (``prior_mismatch_method`` says why).
    prior_mismatch_method : str or None
    discretisation_floor : float or None
        :math:`\mathrm{KL}(p_{t_{min}} \| q)` of the same solve with the reference
        score started from the cell averages of the exact :math:`p_T`: the
        solver's own error, the least a learned score can show.
    """

    prior_kl: float
    prior_kl_stderr: object
    prior_kl_method: str
    integral: float
    integral_stderr: float
    quadrature_error: object
    quadrature: str
    bound: float
    applies: bool
    realised_kl: object = None
    realised_kl_reference: object = None
    prior_mismatch: object = None
    prior_mismatch_method: object = None
    discretisation_floor: object = None

    @property
    def holds(self):
        """``realised_kl <= bound`` (None when there is no realised KL or the bound does not apply)."""
        if self.realised_kl is None or not self.applies:
            return None
        return bool(self.realised_kl <= self.bound)


@dataclasses.dataclass
class DSMError:
    r"""The score error weighted as in the DSM loss, :math:`\lambda(t) = v_t` (``fpdiff.audit.checks.dsm_error``).

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    times : ndarray (n,)
    weighted, weighted_stderr : ndarray (n,)
        :math:`v_t E_{p_t}|\hat s - s|^2 = E|\hat\varepsilon - \varepsilon^*|^2`
        (the excess of the eps-prediction loss over its minimum) and its
        standard error.
    integral, integral_stderr : float
        :math:`\int_{t_{min}}^T v_t E_{p_t}|\hat s - s|^2 dt` (trapezoidal
        rule over ``times``) and its Monte-Carlo standard error.
    quadrature_error : float or None
        :math:`|I_h - I_{2h}|/3` (odd number of >= 5 times only).
    mean, mean_stderr : float
        ``integral / (T - t_min)``: the excess DSM loss of :math:`t \sim U[t_{min}, T]`.
    """

    times: np.ndarray
    weighted: np.ndarray
    weighted_stderr: np.ndarray
    integral: float
    integral_stderr: float
    quadrature_error: object
    mean: float
    mean_stderr: float

    def __repr__(self):
        return f"DSMError(integral={self.integral:.4g} +- {self.integral_stderr:.2g}, mean={self.mean:.4g})"


@dataclasses.dataclass
class StoredPoints:
    r"""Whether a point-layout score's points are draws of :math:`p_t` (then its averages are expectations).

    ``energy[k]``: :func:`fpdiff.metrics.energy_distance` between the first
    ``n_points`` stored points at ``times[k]`` and as many exact samples of
    :math:`p_t`; ``floor[k]``: the same statistic between two independent
    sets of exact samples (near 0, of either sign). ``energy`` well above the
    spread of ``floor`` says the points are not distributed as :math:`p_t`,
    so the score error is an average over the stored points, not
    :math:`E_{p_t}`, and the Girsanov integral is not the bound's.

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    times : ndarray (n,)
        The score file's times audited.
    energy : ndarray (n,)
        The energy distance of the stored points to exact samples, per time.
    floor : ndarray (n,)
        The same between two sets of exact samples.
    n_points : int
        Points compared per time.
    """

    times: np.ndarray
    energy: np.ndarray
    floor: np.ndarray
    n_points: int

    def __repr__(self):
        return f"StoredPoints({len(self.times)} times, max energy {np.max(self.energy):.3g}, {self.n_points} points)"


@dataclasses.dataclass
class RealisedErrors:
    r"""Errors at :math:`t_{min}` of one view, with the learned and with the reference score.

    ``view`` is ``"density"`` (:func:`solve_reverse` on ``grid``) or
    ``"particles"`` (:func:`sample_reverse`). ``learned`` and ``reference``
    map metric names to values: density view ``l1``, ``kl``, ``w1`` (exact in
    1-D, sliced W1 in more); particle view ``w1`` (or sliced) against exact
    samples of :math:`p_{t_{min}}` and ``energy`` (:func:`fpdiff.metrics.energy_distance`
    against them, on at most ``fpdiff.audit.checks.ENERGY_SAMPLES`` points
    of each), and with a grid ``l1_histogram`` (L1 of the
    samples' histogram against the reference cell averages) with its
    Monte-Carlo floor ``l1_histogram_floor`` (:func:`metrics.compare`).
    Both runs start from the prior. ``reference_from_p_T`` holds the same
    metrics of the reference score started from the exact :math:`p_T` (its
    cell averages, or exact samples): the discretisation floor, free of
    prior mismatch. ``prior_mismatch`` (density view, :math:`\gamma = 1`,
    mixture laws) holds them for the exact output of the reverse process
    started from the prior (:func:`fpdiff.theory.reverse_output_pdf`).
    ``floor`` holds Monte-Carlo floors (the W1 and the energy distance between
    two independent sets of exact samples of the same sizes). ``failed`` holds the message of a
    :class:`BlowUpError` instead of numbers when a run failed (keys
    ``"learned"``, ``"reference"``, ``"reference_from_p_T"``).

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    view : {"density", "particles"}
        The view.
    w1_kind : {"w1", "sliced_w1"}
        Exact :math:`W_1` (1-D) or sliced.
    learned, reference, reference_from_p_T, prior_mismatch : dict
        Metric names to values, of the runs described above.
    floor : dict
        Monte-Carlo floors of the metrics (particle view).
    settings : dict
        The run's settings (scheme, time grid, steps, sample sizes).
    failed : dict
        The runs that failed, to their error messages.
    samples : ndarray (M, d) or None
        The learned score's end samples (particle view), for the memorisation check.
    """

    view: str
    w1_kind: str
    learned: dict
    reference: dict
    floor: dict
    settings: dict
    failed: dict = dataclasses.field(default_factory=dict)
    samples: object = None
    reference_from_p_T: dict = dataclasses.field(default_factory=dict)
    prior_mismatch: dict = dataclasses.field(default_factory=dict)

    def __repr__(self):
        return f"RealisedErrors(view={self.view!r}, learned={self.learned}, reference={self.reference})"


@dataclasses.dataclass
class Memorisation:
    r"""Generated samples against the training set.

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    generated_distance, held_out_distance : ndarray
        Distance of each generated / held-out point to its nearest training point.
    generated_ratio, held_out_ratio : ndarray or None
        :math:`d_1/d_2`, nearest over second-nearest training distance (None
        for a single training point).
    median_generated, median_held_out : float
    median_ratio : float
        ``median_generated / median_held_out``: well below 1 means the
        samples sit closer to the training points than fresh data does.
    fraction_memorised, fraction_memorised_held_out : float or None
        Fraction with :math:`d_1/d_2 <` :data:`~fpdiff.audit.MEMORISATION_RATIO`.
    held_out_source : str
        ``"held_out"`` (given points) or ``"reference"`` (fresh samples of the
        reference's :math:`p_{t_{min}}`).
    n_train : int
        Number of training points.
    """

    generated_distance: np.ndarray
    held_out_distance: np.ndarray
    generated_ratio: object
    held_out_ratio: object
    median_generated: float
    median_held_out: float
    median_ratio: float
    fraction_memorised: object
    fraction_memorised_held_out: object
    held_out_source: str
    n_train: int

    def __repr__(self):
        return (f"Memorisation(median_ratio={self.median_ratio:.3g}, fraction_memorised={self.fraction_memorised}, "
                f"held_out_source={self.held_out_source!r})")


@dataclasses.dataclass
class FieldCheck:
    r"""A consistency check of a tabulated field against time.

    ``value[k]`` is the :math:`p_t`-weighted RMS of the defect at ``times[k]``,
    ``scale[k]`` the weighted RMS it is compared with, ``relative = value / scale``.
    ``name`` is ``"fp_residual"`` or ``"curl"``; ``note`` states the discretisation.
    ``floor`` and ``floor_relative`` (set by :func:`~fpdiff.audit.audit`; None otherwise)
    are ``value`` and ``relative`` of the reference score tabulated on the
    same nodes and times: what the discretisation alone leaves (NaN at a time
    the reference does not cover).

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    name : {"fp_residual", "curl"}
        The check.
    times : ndarray (n,)
        The table times checked.
    value, scale, relative : ndarray (n,)
        The weighted RMS of the defect, of what it is compared with, and their ratio.
    note : str
        The discretisation.
    floor, floor_relative : ndarray (n,) or None
        ``value`` and ``relative`` of the reference score on the same table.
    """

    name: str
    times: np.ndarray
    value: np.ndarray
    scale: np.ndarray
    relative: np.ndarray
    note: str
    floor: object = None
    floor_relative: object = None

    def __repr__(self):
        worst = float(np.max(self.relative)) if len(self.relative) else float("nan")
        return f"FieldCheck({self.name!r}, {len(self.times)} times, max relative {worst:.3g})"


@dataclasses.dataclass
class AuditResult:
    r"""What :func:`~fpdiff.audit.audit` found; :meth:`summary` prints it, :func:`fpdiff.plot.audit_figure` draws it.

    Each parameter is kept as the attribute of the same name.

    Parameters
    ----------
    times : ndarray (n,)
        The audit times, ascending.
    score_error : ndarray (n,)
        :math:`E_{p_t}|\hat s - s|^2` (over the part of :math:`p_t` where the
        learned score is defined; see ``outside_mass``).
    score_error_stderr : ndarray (n,)
        Its Monte-Carlo standard error (0 for quadrature).
    reference_norm : ndarray (n,)
        :math:`E_{p_t}|s|^2`.
    relative_score_error : ndarray (n,)
        ``score_error / reference_norm``.
    outside_mass : ndarray (n,)
        Mass of :math:`p_t` outside the learned score's table box (or
        GridScore grid): left out of the expectations where the score is
        undefined (``outside='raise'``), included with the clamped values
        where it is extended (``outside='clamp'``); ``settings["outside"]``
        says which.
    score_error_method : str
    girsanov : GirsanovCheck
    dsm : DSMError or None
        The score error weighted as in the DSM loss and integrated over t.
    stored_points : StoredPoints or None
        Point-layout scores only: whether the stored points are draws of :math:`p_t`.
    density, particles : RealisedErrors or None
    memorisation : Memorisation or None
    fp_residual, curl : FieldCheck or None
    failed : dict
        Checks that were asked for or apply but gave no numbers, mapped to
        the reason (``"memorisation"`` when the learned score's particle run
        failed, ``"fp_residual"`` / ``"curl"`` for a table too small for the
        differences, ``"fp_residual floor"`` / ``"curl floor"`` when the
        reference cannot be tabulated on the learned table's nodes).
    settings : dict
        Process, gamma, T, t_min, sizes, seed, the scores' names, wall time.
    """

    times: np.ndarray
    score_error: np.ndarray
    score_error_stderr: np.ndarray
    reference_norm: np.ndarray
    relative_score_error: np.ndarray
    outside_mass: np.ndarray
    score_error_method: str
    girsanov: GirsanovCheck
    density: object = None
    particles: object = None
    memorisation: object = None
    fp_residual: object = None
    curl: object = None
    settings: dict = dataclasses.field(default_factory=dict)
    failed: dict = dataclasses.field(default_factory=dict)
    dsm: object = None
    stored_points: object = None

    def __repr__(self):
        parts = [f"{len(self.times)} times", f"bound={self.girsanov.bound:.4g}"]
        if self.girsanov.realised_kl is not None:
            parts.append(f"realised_kl={self.girsanov.realised_kl:.4g}")
        return f"AuditResult({', '.join(parts)})"

    def __str__(self):
        return self.summary()

    def summary(self):
        """A readable text report: one section per check, numbers with their method and floors."""
        return _summary(self)


# ------------------------------------------------------------------ the text report


def _rows(count):
    if count <= SUMMARY_ROWS:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, SUMMARY_ROWS).round().astype(int).tolist()))


def _number(value, digits=4):
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def _summary(result):
    s = result.settings
    lines = [
        f"fpdiff audit: {s['learned']} against {s['reference']}",
        f"  process {s['process']}, d = {s['dim']}, gamma = {s['gamma']:g}, T = {s['T']:.4g}, "
        f"t_min = {s['t_min']:.4g}, seed {s['seed']}, {s['wall_time']:.1f} s",
        "",
        f"Score error E_p_t |s - s_ref|^2 ({result.score_error_method})",
    ]
    shown = _rows(len(result.times))
    outside = np.any(result.outside_mass > 0)
    dsm, stored = result.dsm, result.stored_points
    header = f"  {'t':>10}  {'E|ds|^2':>11}  {'+-':>9}  {'relative':>9}  {'E|s_ref|^2':>11}"
    header += f"  {'v_t E|ds|^2':>11}" if dsm is not None else ""
    header += f"  {'outside':>8}" if outside else ""
    header += f"  {'ED(points)':>10}  {'ED floor':>9}" if stored is not None else ""
    lines.append(header)
    for k in shown:
        row = (f"  {result.times[k]:>10.4g}  {result.score_error[k]:>11.4g}  {result.score_error_stderr[k]:>9.2g}  "
               f"{result.relative_score_error[k]:>9.3g}  {result.reference_norm[k]:>11.4g}")
        row += f"  {dsm.weighted[k]:>11.4g}" if dsm is not None else ""
        row += f"  {result.outside_mass[k]:>8.2g}" if outside else ""
        row += f"  {stored.energy[k]:>10.3g}  {stored.floor[k]:>9.2g}" if stored is not None else ""
        lines.append(row)
    if len(shown) < len(result.times):
        lines.append(f"  ({len(shown)} of {len(result.times)} times shown)")
    if stored is not None:
        lines.append(f"  ED(points): energy distance of {stored.n_points} stored points to as many exact samples of "
                     "p_t; ED floor: between two exact sample sets (the points average to E_p_t only if they are "
                     "draws of p_t)")
    if np.max(result.outside_mass) > 1e-3:
        what = ("its clamped (constant-extension) values are used there" if s.get("outside") == "clamped"
                else "it is left out of E|ds|^2 (and of the bound)")
        lines.append(f"  WARNING: up to {np.max(result.outside_mass):.2g} of p_t lies outside the learned score's "
                     f"box; {what}")
    if dsm is not None:
        quadrature = ("" if dsm.quadrature_error is None
                      else f", quadrature error estimate {dsm.quadrature_error:.2g}")
        lines.append(f"  DSM-weighted (lambda(t) = v_t): int v_t E|ds|^2 dt = {dsm.integral:.4g} +- "
                     f"{dsm.integral_stderr:.2g}{quadrature}; per unit time {dsm.mean:.4g} +- {dsm.mean_stderr:.2g} "
                     "(the excess DSM loss over its minimum)")

    lines += _girsanov_lines(result)
    for view in (result.density, result.particles):
        if view is not None:
            lines += _view_lines(view, s)
    lines += _memorisation_lines(result)
    for name, title in (("fp_residual", "Score Fokker-Planck residual (p_t-weighted RMS)"),
                        ("curl", "Curl of the learned field (p_t-weighted RMS)")):
        lines += _field_lines(result, name, title)
    if s.get("layout") == "points":
        lines += ["", "Not available from scores at points (nothing to evaluate between them): the density and "
                      "particle views, the realised KL, memorisation"]
        return "\n".join(lines)
    not_run = [what for what, missing in (("density view and realised KL (no grid)", result.density is None),
                                          ("particle view (0 particles)", result.particles is None),
                                          ("memorisation (no training points)", result.memorisation is None
                                           and "memorisation" not in result.failed))
               if missing]
    if not_run:
        lines += ["", "Not asked for: " + "; ".join(not_run)]
    return "\n".join(lines)


def _girsanov_lines(result):
    g, s = result.girsanov, result.settings
    lines = ["", "Girsanov bound: KL(p_t_min || q) <= KL(p_T || prior) + 1/2 int sigma^2 E|ds|^2 dt"
             + ("" if g.applies else f"   (proved for gamma = 1 only; this audit ran gamma = {s['gamma']:g})")]
    prior = _number(g.prior_kl) + (f" +- {g.prior_kl_stderr:.2g}" if g.prior_kl_stderr is not None else "")
    lines.append(f"  KL(p_T || prior)             {prior}   ({g.prior_kl_method})")
    quadrature = g.quadrature + (f", error estimate {g.quadrature_error:.2g}" if g.quadrature_error is not None
                                 else "")
    lines.append(f"  1/2 int sigma^2 E|ds|^2 dt   {_number(g.integral)} +- {g.integral_stderr:.2g}   ({quadrature})")
    lines.append(f"  bound                        {_number(g.bound)}")
    density = result.density
    if density is None:
        return lines
    lines.append("  realised KL(p_t_min || q) of solve_reverse on the grid:")
    if g.realised_kl is not None:
        verdict = {True: "holds", False: "VIOLATED", None: "not applicable"}[g.holds]
        lines.append(f"    learned score, from the prior     {_number(g.realised_kl)}   (bound {verdict})")
    else:
        lines.append("    learned score, from the prior     FAILED (see the density view); bound not checked")
    if g.realised_kl_reference is not None:
        lines.append(f"    reference score, from the prior   {_number(g.realised_kl_reference)}   "
                     "(prior mismatch + discretisation)")
    if g.prior_mismatch is not None:
        lines.append(f"    prior mismatch                    {_number(g.prior_mismatch)}   ({g.prior_mismatch_method})")
    else:
        lines.append(f"    prior mismatch                    -   ({g.prior_mismatch_method})")
    if g.discretisation_floor is not None:
        lines.append(f"    discretisation floor              {_number(g.discretisation_floor)}   "
                     "(reference score from the exact p_T)")
    return lines


_RUN_LABELS = {"learned": "learned", "reference": "reference", "reference_from_p_T": "ref. from p_T",
               "prior_mismatch": "exact, prior"}


def _view_lines(view, s):
    kind = "W1" if view.w1_kind == "w1" else "sliced W1"
    if view.view == "density":
        title = f"Realised errors at t_min, density view (solve_reverse, {s['grid']})"
        columns = [("L1", "l1"), ("KL", "kl"), (kind, "w1")]
    else:
        title = (f"Realised errors at t_min, particle view (sample_reverse, {view.settings['particles']} particles, "
                 f"{view.settings['steps']} steps; {kind} against {view.settings['exact_samples']} exact samples, "
                 f"the energy distance on {view.settings.get('energy_samples')} of each)")
        columns = ([(kind, "w1"), ("energy dist.", "energy")]
                   + ([("L1 histogram", "l1_histogram")] if "l1_histogram" in view.floor else []))
    lines = ["", title, "  " + f"{'score':<14}" + "".join(f"{label:>14}" for label, _ in columns)]
    names = ["learned", "reference", "reference_from_p_T"] + (["prior_mismatch"] if view.prior_mismatch else [])
    for name in names:
        label = _RUN_LABELS[name]
        if name in view.failed:
            lines.append(f"  {label:<14}FAILED: {view.failed[name]}")
        else:
            values = getattr(view, name)
            lines.append("  " + f"{label:<14}" + "".join(f"{_number(values.get(key)):>14}" for _, key in columns))
    if view.floor:
        lines.append("  " + f"{'MC floor':<14}" + "".join(f"{_number(view.floor.get(key)):>14}"
                                                          for _, key in columns))
    lines.append("  (learned, reference: from the prior; ref. from p_T: the reference score from the exact p_T, "
                 "the discretisation floor" + ("; exact, prior: the exact reverse process from the prior, "
                                              "the prior mismatch)" if view.prior_mismatch else ")"))
    return lines


def _memorisation_lines(result):
    m = result.memorisation
    if "memorisation" in result.failed:
        return ["", f"Memorisation: FAILED: {result.failed['memorisation']}"]
    if m is None:
        return []
    source = "held-out points" if m.held_out_source == "held_out" else "fresh samples of p_t_min"
    lines = ["", f"Memorisation ({m.n_train} training points; baseline: {source})",
             f"  median distance to the nearest training point: generated {m.median_generated:.4g}, "
             f"baseline {m.median_held_out:.4g} (ratio {m.median_ratio:.3g})"]
    if m.fraction_memorised is not None:
        lines.append(f"  fraction with d1/d2 < 1/3: generated {m.fraction_memorised:.3g}, "
                     f"baseline {m.fraction_memorised_held_out:.3g}")
    return lines


def _field_lines(result, name, title):
    check = getattr(result, name)
    if name in result.failed:
        return ["", f"{title}: FAILED: {result.failed[name]}"]
    if check is None:
        return []
    lines = ["", f"{title}; {check.note}"]
    if check.floor is not None:
        lines += ["  floor: the reference score tabulated on the same nodes and times",
                  f"  {'t':>10}  {'RMS':>11}  {'relative':>9}  {'floor RMS':>11}  {'floor rel.':>10}"]
    else:
        lines.append(f"  {'t':>10}  {'RMS':>11}  {'relative':>9}")
    rows = _rows(len(check.times))
    for k in rows:
        row = f"  {check.times[k]:>10.4g}  {check.value[k]:>11.4g}  {check.relative[k]:>9.3g}"
        if check.floor is not None:
            row += f"  {check.floor[k]:>11.4g}  {check.floor_relative[k]:>10.3g}"
        lines.append(row)
    if len(rows) < len(check.times):
        lines.append(f"  ({len(rows)} of {len(check.times)} times shown)")
    if f"{name} floor" in result.failed:
        lines.append(f"  floor FAILED: {result.failed[name + ' floor']}")
    return lines
