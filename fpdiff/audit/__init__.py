r"""Audit a learned score against a reference: errors, the Girsanov bound, realised errors, consistency.

:func:`audit` is the entry point (at the top level ``fpdiff.audit`` is this
function, so ``help(fd.audit)`` shows it); its docstring states every check,
its formula and its source. The package holds one concern per module:

- :mod:`~fpdiff.audit.law`: the law :math:`p_t` of the reference score
  (exact Gaussian mixtures, training-point mixtures, a GridScore's snapshots);
- :mod:`~fpdiff.audit.checks`: the score error (and its DSM weighting), the
  Girsanov bound and the realised errors of the density and particle views;
- :mod:`~fpdiff.audit.points`: the audit of scores at points (:class:`~fpdiff.ScoreSamples`);
- :mod:`~fpdiff.audit.memorisation`: :func:`memorisation_check`;
- :mod:`~fpdiff.audit.fields`: :func:`score_fp_residual` and :func:`score_curl`
  of a tabulated field;
- :mod:`~fpdiff.audit.result`: the result types (:class:`AuditResult`,
  :class:`GirsanovCheck`, :class:`DSMError`, :class:`RealisedErrors`,
  :class:`Memorisation`, :class:`FieldCheck`, :class:`StoredPoints`) and the text report of :meth:`AuditResult.summary`;
- ``_arguments`` and ``_common``: the argument checks and small shared helpers.
"""

import time

from .._validation import as_float, as_int
from ..errors import InputError
from . import checks
from ..scores.tabulated import ScoreSamples
from ._arguments import (DEFAULT_PARTICLES, DEFAULT_T_MIN, audit_times, check_grid, check_interval, check_options,
                         check_point_options, check_points, check_scores)
from ._common import outside_policy, safe_ratio
from .checks import KL_RELATIVE_FLOOR
from .fields import field_check, score_curl, score_fp_residual
from .law import ReferenceLaw
from .memorisation import MEMORISATION_RATIO, memorisation_check
from .points import audit_points
from .result import (SUMMARY_ROWS, AuditResult, DSMError, FieldCheck, GirsanovCheck, Memorisation, RealisedErrors,
                     StoredPoints)

__all__ = ["audit", "AuditResult", "GirsanovCheck", "DSMError", "RealisedErrors", "Memorisation", "FieldCheck",
           "StoredPoints",
           "score_fp_residual", "score_curl", "memorisation_check",
           "DEFAULT_T_MIN", "KL_RELATIVE_FLOOR", "MEMORISATION_RATIO", "SUMMARY_ROWS"]


def audit(learned, reference, process=None, *, grid=None, times=None, T=None, t_min=None, gamma=1.0, steps=None,
          particle_steps=100, n_samples=20000, particles=None, train=None, held_out=None, seed=0,
          grid_options=None, particle_options=None):
    r"""Audit a learned score against a reference score whose law :math:`p_t` is known.

    Measures a learned score :math:`\hat s` (a network called through a
    :class:`~fpdiff.Score` or a plain ``fn(x, t)``, a
    :class:`~fpdiff.TabulatedScore` exported from one, or a score file's point
    layout, :class:`~fpdiff.ScoreSamples`) against a reference score
    :math:`s = \nabla \log p_t` whose law :math:`p_t` is known
    (:class:`~fpdiff.ExactScore`, :class:`~fpdiff.EmpiricalScore` or
    :class:`~fpdiff.GridScore`), for a forward process
    :math:`dX = -\beta(t) X\,dt + \sigma(t)\,dW`. Checks 1 to 4 run in any
    dimension (Monte Carlo over exact samples of the mixture laws); a grid
    (:math:`d \le 3`) adds the density view and the realised KL.

    1. **Score error** :math:`e(t) = E_{p_t}|\hat s - s|^2` at a list of times, with
       its Monte-Carlo standard error, and relative to :math:`E_{p_t}|s|^2`;
       and **weighted as in the DSM loss**, :math:`\lambda(t) = v_t`:
       :math:`v_t\, e(t) = E|\hat\varepsilon - \varepsilon^*|^2` (the excess of
       the eps-prediction loss over its minimum) and its integral
       :math:`\int_{t_{min}}^T v_t\, e(t)\, dt` (``checks.dsm_error``).
    2. **Girsanov bound** (:math:`\gamma = 1` only; Chen et al., "Sampling is as
       easy as learning the score", ICLR 2023, §5 and eq. (5); Song et al.,
       "Maximum likelihood training of score-based diffusion models", NeurIPS
       2021, Thm. 1): the output law :math:`q` of the reverse SDE with
       :math:`\hat s`, started from the prior :math:`\pi`, satisfies

       .. math::  \mathrm{KL}(p_{t_{min}} \,\|\, q) \le \mathrm{KL}(p_T \,\|\, \pi)
                  + \frac12 \int_{t_{min}}^T \sigma(t)^2\, E_{p_t}|\hat s - s|^2 \, dt ,

       (data processing applied to the path measures, whose KL is Girsanov's
       :math:`E\int |a - \hat a|^2 / (2\sigma^2)` with drift difference
       :math:`a - \hat a = \sigma^2 (s - \hat s)`). The integral is the
       trapezoidal rule over the audit times of the Monte-Carlo errors, whose
       samples share their random numbers across times, so its standard
       error is that of the per-sample integrals
       (``checks.time_integral``); :math:`\mathrm{KL}(p_T\|\pi)` is by
       Monte Carlo without a grid. With a grid it is compared with the
       realised :math:`\mathrm{KL}(p_{t_{min}} \| q)` of
       :func:`~fpdiff.solve_reverse`. The reference score's own numbers split
       what is not the learned score's fault in two: the **prior mismatch**, the
       KL of the exact reverse process started from :math:`\pi` instead of
       :math:`p_T` (:func:`fpdiff.theory.reverse_output_pdf`, :math:`\gamma = 1`
       and mixture laws), which the same solve with the reference score from the
       prior reproduces up to discretisation; and the **discretisation floor**,
       the same solve with the reference score started from the exact
       :math:`p_T`, whose exact answer is :math:`p_{t_{min}}` for every
       :math:`\gamma`.
    3. **Realised errors** at :math:`t_{min}`: the density view
       (:func:`~fpdiff.solve_reverse`; L1, KL, W1 against the reference's cell
       averages) and the particle view (:func:`~fpdiff.sample_reverse`; W1 in one
       dimension, sliced W1 in more, and the energy distance
       :func:`~fpdiff.metrics.energy_distance`, against exact samples of
       :math:`p_{t_{min}}`, each with its Monte-Carlo floor: the same statistic
       between two independent sets of exact samples), each also with the
       reference score, from the prior and from exact samples (or cell
       averages) of :math:`p_T`.
    4. **Memorisation**: distances of generated samples to the nearest training
       point, against those of held-out points, and the fraction of samples with
       :math:`d_1/d_2 < 1/3` (nearest over second-nearest training point;
       Yoon et al., "Diffusion probabilistic models generalize when they fail to
       memorize", ICML 2023 workshop; Gu et al., "On memorization in diffusion
       models", 2023, eq. (1)).
    5. **Score Fokker–Planck residual** (tabulated scores). If :math:`p_t` solves
       :math:`\partial_t p = -\nabla\cdot(f p) + \frac{g^2}{2}\Delta p`, its score
       solves

       .. math::  \partial_t s = \nabla\Big(-\nabla\cdot f - f\cdot s
                  + \frac{g^2}{2}\big(\nabla\cdot s + |s|^2\big)\Big)

       (take :math:`\nabla` of the equation for :math:`\log p`). Here
       :math:`f = -\beta x`, :math:`g = \sigma`, so
       :math:`R = \partial_t s - \nabla\big(\beta\, x\cdot s + \frac{\sigma^2}{2}(\nabla\cdot s + |s|^2)\big)`
       (the constant :math:`d\beta` has no gradient) vanishes for a true score.
    6. **Curl** (tabulated scores, :math:`d \ge 2`): a true score is a gradient,
       so :math:`\partial_i s_j - \partial_j s_i = 0`.

       Both are discretised on the table, so even a true score leaves a residual:
       each is also computed for the reference score tabulated on the same nodes
       and times (its **floor**), against which the learned field's numbers are
       read.

    A check that was asked for (or applies) but could not run or failed is
    recorded in ``AuditResult.failed`` with the reason, and shown as failed
    by the summary and the figure.

    The law :math:`p_t` of the reference is used exactly where it is known in
    closed form (Gaussian mixtures, and the mixture :math:`\frac1n \sum_i
    N(\alpha_t x_i, v_t I)` of training points), and by quadrature on its own
    grid for a :class:`~fpdiff.GridScore`.

    **Scores at points.** A :class:`~fpdiff.ScoreSamples` ``learned`` (the
    point layout, :func:`~fpdiff.load_score`) has no values between its
    points, so only check 1 and the Girsanov integral run, at the stored
    points and times in :math:`[t_{min}, T]` (default: all of them): the
    averages over the :math:`M` stored points with standard errors
    :math:`\mathrm{sd}/\sqrt M`, and the time integrals by the trapezoidal rule
    over the stored times (the standard errors of the times added: an upper
    bound, as the points of different times may be correlated). These
    averages are :math:`E_{p_t}` when the points are draws of :math:`p_t`
    (e.g. noised data); ``AuditResult.stored_points`` checks that, by the
    energy distance of the points to exact samples of :math:`p_t` against
    its floor. The reference must be an ExactScore or EmpiricalScore; ``grid``,
    ``times``, ``steps``, ``particles``, ``train``, ``held_out`` and the
    options dicts are refused (:class:`InputError`).

    Parameters
    ----------
    learned : Score, callable or ScoreSamples
        The score to audit: any fpdiff score (a model wrapped as a Score
        included) or ``fn(x, t) -> (M, d)``, in any dimension, or scores at
        points (above). A :class:`TabulatedScore` also gets the Fokker–Planck
        residual (with >= 3 times and >= 5 nodes per axis) and, in d >= 2,
        the curl check.
    reference : ExactScore, EmpiricalScore or GridScore
        The truth. Its law: :meth:`GaussianMixture.evolve` (exact samples and
        pdf), the mixture :math:`\frac1n\sum_i N(\alpha_t x_i, v_t I)` of
        training points, or a GridScore's snapshots (midpoint quadrature on
        its cells, linear in t between snapshots).
    process : LinearProcess, optional
        Default: ``learned.process`` (else ``reference.process``); must agree
        with the scores' own.
    grid : Grid, optional
        The density view's grid; without it the density view and the
        realised KL are skipped.
    times : array_like, optional
        Audit times in ``[t_min, T]``; ``t_min`` and ``T`` are always added
        (the Girsanov integral runs over ``[t_min, T]``). Default: the
        learned table's times in ``[t_min, T]`` and the midpoints between
        them (so the quadrature sees the table's linear-in-t interpolation
        error), or 33 geometric times for an untabulated score.
    T, t_min : float, optional
        Start and stop of the reverse process. Default ``T``: the end of the
        two scores' common time range; ``t_min``: the larger of
        :data:`DEFAULT_T_MIN` and the start of that range.
    gamma : float
        :math:`\gamma \ge 0` of the realised runs; the bound is proved for
        :math:`\gamma = 1` only (``girsanov.applies``).
    steps : int, optional
        Time steps of :func:`solve_reverse` (default: its automatic choice).
    particle_steps : int
        Time steps of :func:`sample_reverse` (exponential integrator).
    n_samples : int
        Monte-Carlo samples of :math:`p_t` per audit time (mixture references),
        and exact samples of :math:`p_{t_{min}}` the particles are compared with.
    particles : int, optional
        Particles of :func:`sample_reverse` (default 20000); 0 skips the
        particle view (and the memorisation check).
    train : array_like (n, d), optional
        Training points: enables the memorisation check (on the learned
        score's particles; skipped if that run failed).
    held_out : array_like (m, d), optional
        Points not trained on; default: ``min(n_samples, particles)`` fresh
        samples of the reference's :math:`p_{t_{min}}`.
    seed : int
        Seed of every random number drawn (samples of :math:`p_t`, particles).
    grid_options, particle_options : dict, optional
        Further keyword options of :func:`solve_reverse` (e.g. ``method``,
        ``time_grid``) and of :func:`sample_reverse` (e.g. ``scheme``,
        ``time_grid``, ``"log-snr"`` by default), used for
        both the learned and the reference runs.

    Returns
    -------
    AuditResult
        The score error per time and ``dsm`` (check 1), ``girsanov`` (2), ``density``
        and ``particles`` (3), ``memorisation`` (4), ``fp_residual`` (5) and
        ``curl`` (6), ``failed`` and ``settings``; :meth:`AuditResult.summary`
        prints them, :func:`fpdiff.plot.audit_figure` draws them.

    Raises
    ------
    InputError
        A bad argument, named with what was expected and what was received.

    Notes
    -----
    A :class:`BlowUpError` of a realised run (e.g. particles leaving a
    table's box) does not stop the audit: it is recorded in that view's
    ``failed`` and shown by :meth:`AuditResult.summary`.
    """
    started = time.perf_counter()
    gamma = as_float(gamma, "gamma", nonnegative=True)
    n_samples = as_int(n_samples, "n_samples", minimum=2)
    seed = as_int(seed, "seed", minimum=0)
    if isinstance(learned, ScoreSamples):
        check_point_options(grid=grid, times=times, steps=steps, particles=particles, train=train,
                            held_out=held_out, grid_options=grid_options, particle_options=particle_options)
        return audit_points(learned, reference, process, T, t_min, gamma, n_samples, seed, started)
    reference, learned, process = check_scores(learned, reference, process)
    dim = reference.dim
    T, t_min = check_interval(learned, reference, T, t_min)
    grid = check_grid(grid, dim)
    if steps is not None:
        steps = as_int(steps, "steps", minimum=1)
    particle_steps = as_int(particle_steps, "particle_steps", minimum=1)
    particles = DEFAULT_PARTICLES if particles is None else as_int(particles, "particles", minimum=0)
    grid_options = check_options(grid_options, "grid_options", ("gamma", "t_min", "steps", "q0"))
    particle_options = check_options(particle_options, "particle_options", ("gamma", "t_min", "steps", "seed"))
    times = audit_times(times, learned, T, t_min)
    train = None if train is None else check_points(train, "train", dim)
    held_out = None if held_out is None else check_points(held_out, "held_out", dim)
    if train is not None and particles == 0:
        raise InputError("`train` asks for the memorisation check, which needs generated samples: "
                         "`particles` must be >= 1; got 0")

    law = ReferenceLaw(reference, process)
    error, stderr, norm, outside, per_sample = checks.score_errors(learned, reference, law, times, n_samples, seed)
    method = (f"Monte Carlo, {n_samples} exact samples of p_t per time" if law.kind == "mixture"
              else "midpoint quadrature on the GridScore's cells")
    girsanov = checks.girsanov(process, law, times, error, stderr, T, t_min, gamma, grid, n_samples, seed,
                               per_sample)
    dsm = checks.dsm_error(process, times, error, stderr, per_sample)

    density = None
    if grid is not None:
        density = checks.density_view(process, grid, learned, reference, law, T, t_min, gamma, steps, grid_options)
        girsanov.realised_kl = density.learned.get("kl")
        girsanov.realised_kl_reference = density.reference.get("kl")
        girsanov.discretisation_floor = density.reference_from_p_T.get("kl")
        girsanov.prior_mismatch = density.prior_mismatch.get("kl")
        girsanov.prior_mismatch_method = density.settings["prior_mismatch_method"]

    particle_view = None
    if particles:
        particle_view = checks.particle_view(process, learned, reference, law, T, t_min, gamma, particle_steps,
                                             particles, n_samples, grid, seed, particle_options)

    failed = {}
    memorisation = None
    if train is not None:
        if particle_view.samples is None:
            failed["memorisation"] = ("no generated samples: the learned score's particle run failed: "
                                      + particle_view.failed["learned"])
        else:
            if held_out is None:
                held_out, source = law.sample(t_min, min(n_samples, particles), seed + 3), "reference"
            else:
                source = "held_out"
            memorisation = memorisation_check(particle_view.samples, train, held_out, source)

    fp_residual = curl = None
    if learned.tables is not None:
        fp_residual = field_check(score_fp_residual, "fp_residual", learned, reference, law, failed)
        if dim >= 2:
            curl = field_check(score_curl, "curl", learned, reference, law, failed)

    settings = {
        "learned": learned.describe(),
        "reference": reference.describe(),
        "process": repr(process),
        "dim": dim,
        "gamma": gamma,
        "T": T,
        "t_min": t_min,
        "steps": steps,
        "particle_steps": particle_steps,
        "n_samples": n_samples,
        "particles": particles,
        "grid": (f"{'x'.join(map(str, grid.shape))} cells on {[tuple(b) for b in grid.bounds]}"
                 if grid is not None else None),
        "seed": seed,
        "outside": outside_policy(learned),
        "grid_options": grid_options,
        "particle_options": particle_options,
        "wall_time": time.perf_counter() - started,
    }
    return AuditResult(times, error, stderr, norm, safe_ratio(error, norm), outside, method, girsanov, density,
                       particle_view, memorisation, fp_residual, curl, settings, failed, dsm=dsm)
