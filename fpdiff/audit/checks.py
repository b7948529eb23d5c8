r"""The score error, the Girsanov bound, and the realised errors of the density and particle views.

The checks 1 to 3 of :func:`fpdiff.audit.audit`: each takes the scores and the
reference's law (:class:`~fpdiff.audit.law.ReferenceLaw`) and returns the
numbers of its result type.
"""

import warnings

import numpy as np

from .. import metrics
from ..errors import BlowUpError, DomainError, MassWarning
from ..fv.reverse import solve_reverse
from ..particles.solve import sample_reverse
from ..theory import reverse_output_pdf
from ._common import inside_box, outside_policy
from .result import DSMError, GirsanovCheck, RealisedErrors

#: cells of the realised q at or below this fraction of max(q) are raised to it before the KL (round-off negatives)
KL_RELATIVE_FLOOR = 1e-12
#: most points of each set the energy distance uses (the first ones: the sets are independent draws); O(n^2) cost
ENERGY_SAMPLES = 2000


# ------------------------------------------------------------------ score error and the bound


def score_errors(learned, reference, law, times, n_samples, seed):
    r"""Per time: :math:`E|\hat s - s|^2`, its standard error, :math:`E|s|^2`, and the mass outside ``learned``'s box.

    Where ``learned`` is undefined outside its box (``outside='raise'``, a
    GridScore) that mass is left out of the expectations; a clamped table is
    evaluated there too. The fifth value is the per-sample
    :math:`|\hat s - s|^2`, shape ``(len(times), n_samples)``, for a mixture
    law (None for quadrature): sample ``j`` is drawn from the same random
    numbers at every time, so a time integral of it is an average of ``n``
    independent per-sample integrals (:func:`time_integral`).
    """
    error, stderr, norm, outside = (np.zeros(len(times)) for _ in range(4))
    per_sample = [] if law.kind == "mixture" else None
    defined_outside = outside_policy(learned) != "left out"
    for k, t in enumerate(times):
        t = float(t)
        points, weights = law.expectation_points(t, n_samples, seed)
        inside = inside_box(learned, points)
        exact = reference.score(points, t)
        norm[k] = float(weights @ np.sum(exact * exact, axis=1))
        outside[k] = float(np.sum(weights[~inside]))
        if defined_outside:
            inside[:] = True
        difference = np.zeros(len(points))
        if np.any(inside):
            delta = learned.score(points[inside], t) - exact[inside]
            difference[inside] = np.sum(delta * delta, axis=1)
        error[k] = float(weights @ difference)
        if per_sample is not None:
            stderr[k] = float(np.std(difference) / np.sqrt(len(points)))
            per_sample.append(difference)
    return error, stderr, norm, outside, None if per_sample is None else np.array(per_sample)


def time_integral(times, weight, error, stderr, per_sample=None):
    r""":math:`\int w(t)\, e(t)\, dt` by the trapezoidal rule over ``times``, with its errors.

    Returns ``(integral, standard_error, quadrature_error)``. With
    ``per_sample`` (:func:`score_errors`: sample ``j`` from the same random
    numbers at every time) the integral is the mean of the ``n`` independent
    per-sample integrals :math:`I_j = \sum_k q_k w_k e_{kj}` (trapezoid
    weights :math:`q_k`), and its standard error is :math:`\mathrm{sd}(I_j)/\sqrt n`.
    Without, the times' standard errors are added,
    :math:`\sum_k q_k w_k \,\mathrm{se}_k`: an upper bound of the standard error
    whatever the correlation between times. ``quadrature_error`` is
    :math:`|I_h - I_{2h}|/3` (the trapezoid against itself on every other
    time; odd number of >= 5 times only, else None).
    """
    weight = np.asarray(weight, dtype=np.float64) + 0.0 * times
    integrand = weight * error
    quadrature = np.zeros(len(times))
    quadrature[1:] += 0.5 * np.diff(times)
    quadrature[:-1] += 0.5 * np.diff(times)
    integral = float(quadrature @ integrand)
    if per_sample is not None:
        integral_stderr = float(np.std((quadrature * weight) @ per_sample) / np.sqrt(per_sample.shape[1]))
    else:
        integral_stderr = float(np.sum(quadrature * weight * stderr))
    quadrature_error = None
    if len(times) >= 5 and len(times) % 2 == 1:
        quadrature_error = abs(integral - float(np.trapezoid(integrand[::2], times[::2]))) / 3.0
    return integral, integral_stderr, quadrature_error


def dsm_error(process, times, error, stderr, per_sample=None):
    r"""The score error weighted as in the DSM loss, :math:`\lambda(t) = v_t`, per time and integrated over t.

    .. math::  v_t\, E_{p_t}|\hat s - s|^2 = E_{p_t}|\hat\varepsilon - \varepsilon^*|^2 ,

    with :math:`\hat\varepsilon = -\sqrt{v_t}\,\hat s` the learned noise
    prediction and :math:`\varepsilon^* = E[\varepsilon \mid x_t]` the best one:
    the denoising score-matching loss with weight :math:`v_t` exceeds its
    minimum by exactly this, the cross term vanishing as in Vincent, "A
    connection between score matching and denoising autoencoders", Neural
    Comput. 23, 2011 (Song et al., "Score-based generative modeling through
    stochastic differential equations", ICLR 2021, eq. (7), with
    :math:`\lambda(t) = v_t`). Integrated by
    :func:`time_integral`; ``mean`` is the integral over :math:`T - t_{min}`,
    the excess loss of :math:`t \sim U[t_{min}, T]`.
    """
    variance = np.asarray(process.variance(times), dtype=np.float64) + 0.0 * times
    integral, integral_stderr, quadrature_error = time_integral(times, variance, error, stderr, per_sample)
    length = float(times[-1] - times[0])
    return DSMError(times=np.asarray(times), weighted=variance * error, weighted_stderr=variance * stderr,
                    integral=integral, integral_stderr=integral_stderr, quadrature_error=quadrature_error,
                    mean=integral / length, mean_stderr=integral_stderr / length)


def girsanov(process, law, times, error, stderr, T, t_min, gamma, grid, n_samples, seed, per_sample=None):
    r"""The Girsanov bound from the score errors ``error`` at ``times``, without its realised side.

    The integral :math:`\frac12\int g^2 E|\hat s - s|^2 dt` and its standard
    error by :func:`time_integral`. The realised KLs
    (:attr:`GirsanovCheck.realised_kl` and the rest) are filled in by
    :func:`~fpdiff.audit.audit` from the density view.
    """
    half_g2 = 0.5 * np.asarray(process.diffusion(times), dtype=np.float64) ** 2
    integral, integral_stderr, quadrature_error = time_integral(times, half_g2, error, stderr, per_sample)
    prior_kl, prior_stderr, prior_method = law.prior_kl(T, grid, n_samples, seed + 4)
    return GirsanovCheck(
        prior_kl=prior_kl, prior_kl_stderr=prior_stderr, prior_kl_method=prior_method, integral=integral,
        integral_stderr=integral_stderr, quadrature_error=quadrature_error,
        quadrature=f"trapezoidal rule over the {len(times)} audit times in [{t_min:.4g}, {T:.4g}]",
        bound=prior_kl + integral, applies=gamma == 1.0)


# ------------------------------------------------------------------ realised errors


def _kl_realised(p, q, grid):
    r""":math:`\mathrm{KL}(p \| q)` of a solver output ``q``, with ``q`` raised to ``KL_RELATIVE_FLOOR * max q``.

    A finite-volume solution may hold round-off negatives (or underflowed
    zeros) far in the tails, where :math:`p` is tiny but positive; they would
    make the KL infinite. Returns ``(kl, p-mass of the raised cells)``.
    """
    q = np.asarray(q, dtype=np.float64)
    floor = KL_RELATIVE_FLOOR * float(np.max(q))
    raised = q < floor
    return metrics.kl(p, np.maximum(q, floor), grid), float(grid.integrate(np.where(raised, p, 0.0)))


def _transport(a, b, grid, dim, seed):
    """W1 (sliced in d > 1) of samples or densities on ``grid``.

    Densities are normalised on purpose: the W1 of the law inside the box.
    The metrics refuse to do that silently; the audit reports the mass its
    box misses beside it (``outside_mass``, a WARNING in the summary).
    """
    a, b = (metrics.normalised_density(v, grid, name)[0] if grid is not None and np.shape(v) == grid.shape else v
            for v, name in ((a, "a"), (b, "b")))
    if dim == 1:
        return metrics.w1(a, b, grid)
    return metrics.sliced_w(a, b, grid, seed=seed)


def _energy(a, b):
    """:func:`metrics.energy_distance` of the first :data:`ENERGY_SAMPLES` points of each set (None below 2)."""
    n = min(ENERGY_SAMPLES, len(a), len(b))
    return metrics.energy_distance(a[:n], b[:n]) if n >= 2 else None


def density_view(process, grid, learned, reference, law, T, t_min, gamma, steps, options):
    """The reverse solves on ``grid``: learned and reference score from the prior, reference from the exact p_T.

    Adds the exact output of the reverse process from the prior
    (:func:`reverse_output_pdf`) where it has a closed form.
    """
    target = law.cell_average(grid, t_min)
    results, failed, settings = {}, {}, {}

    def metrics_of(q):
        kl, raised = _kl_realised(target, q, grid)
        q = np.maximum(q, 0.0)
        return {"l1": metrics.l1(target, q, grid), "kl": kl, "w1": _transport(target, q, grid, grid.ndim, 0),
                "kl_raised_mass": raised}

    # the exact p_T as start: without prior mismatch the reference run's error is the solver's alone
    exact_start = law.distribution(T) if law.kind == "mixture" else law.cell_average(grid, T)
    runs = (("learned", learned, None), ("reference", reference, None), ("reference_from_p_T", reference, exact_start))
    for name, score, q0 in runs:
        try:
            with warnings.catch_warnings():  # the audit reports the mass its box misses itself (outside_mass)
                warnings.simplefilter("ignore", MassWarning)
                solution = solve_reverse(process, grid, score, T, q0=q0, gamma=gamma, t_min=t_min, steps=steps,
                                         **options)
        except (BlowUpError, DomainError) as error:
            failed[name] = str(error)
            results[name] = {}
            continue
        results[name] = metrics_of(solution.final)
        settings[f"{name}_steps"] = solution.diagnostics.get("steps")
        settings[f"{name}_mass"] = float(grid.integrate(solution.final))
    settings["target_mass"] = float(grid.integrate(target))
    prior_mismatch, settings["prior_mismatch_method"] = {}, _prior_mismatch_method(law, gamma, grid.ndim)
    if settings["prior_mismatch_method"].startswith("exact"):
        # a property of the continuous laws: the midpoint rule on both exact densities is spectrally accurate for
        # smooth, decaying densities (cell averages would add an O(h^2) error), and 16x cheaper in 2-D
        centres = grid.points()
        p = law.pdf(centres, t_min).reshape(grid.shape)
        q = reverse_output_pdf(process, law.dist0, None, T, t_min, centres).reshape(grid.shape)
        prior_mismatch = {"l1": metrics.l1(p, q, grid), "kl": _kl_realised(p, q, grid)[0],
                          "w1": _transport(p, q, grid, grid.ndim, 0)}
    return RealisedErrors("density", "w1" if grid.ndim == 1 else "sliced_w1", results["learned"],
                          results["reference"], {}, settings, failed,
                          reference_from_p_T=results["reference_from_p_T"], prior_mismatch=prior_mismatch)


def _prior_mismatch_method(law, gamma, dim):
    """How the prior mismatch is known: ``"exact ..."``, or why it is not (then only the runs show it)."""
    if gamma != 1.0:
        return f"no closed form for gamma = {gamma:g} (fpdiff.theory.reverse_output_pdf is for gamma = 1)"
    if law.kind != "mixture":
        return "no closed form for a GridScore reference"
    if dim > 3:
        return f"no quadrature default in {dim} dimensions"
    return ("exact reverse process from the prior: fpdiff.theory.reverse_output_pdf and p_t_min at the cell "
            "centres")


def particle_view(process, learned, reference, law, T, t_min, gamma, steps, particles, n_samples, grid, seed,
                  options):
    """The reverse samplers: learned and reference score from the prior, reference from exact samples of p_T."""
    dim = reference.dim
    exact = law.sample(t_min, n_samples, seed + 1)
    fresh = law.sample(t_min, particles, seed + 2)
    results, failed, samples, diagnostics = {}, {}, None, {}
    floor = {"w1": _transport(exact, fresh, None, dim, 0), "energy": _energy(exact, fresh)}
    target = law.cell_average(grid, t_min) if grid is not None else None
    if grid is not None:
        floor["l1_histogram"] = 2 * metrics.compare(target, fresh, grid).tv
    # exact samples of p_T as start: the reference run's error is then the integrator's and Monte Carlo's alone
    runs = (("learned", learned, particles), ("reference", reference, particles),
            ("reference_from_p_T", reference, law.sample(T, particles, seed + 5)))
    for name, score, start in runs:
        try:
            solution = sample_reverse(process, score, start, T, gamma=gamma, t_min=t_min, steps=steps, seed=seed,
                                      **options)
        except (BlowUpError, DomainError) as error:
            failed[name] = str(error)
            results[name] = {}
            continue
        values = {"w1": _transport(solution.samples, exact, None, dim, 0), "energy": _energy(solution.samples, exact)}
        if grid is not None:
            comparison = metrics.compare(target, solution.samples, grid)
            values.update(l1_histogram=2 * comparison.tv, l1_histogram_floor=2 * comparison.tv_floor,
                          outside_grid=comparison.outside)
        results[name] = values
        diagnostics = solution.diagnostics
        if name == "learned":
            samples = solution.samples
    settings = {"scheme": diagnostics.get("scheme", options.get("scheme")),
                "time_grid": diagnostics.get("time_grid", options.get("time_grid")),
                "steps": steps, "particles": particles, "exact_samples": n_samples,
                "energy_samples": min(ENERGY_SAMPLES, particles, n_samples)}
    view = RealisedErrors("particles", "w1" if dim == 1 else "sliced_w1", results["learned"], results["reference"],
                          floor, settings, failed, reference_from_p_T=results["reference_from_p_T"])
    view.samples = samples
    return view
