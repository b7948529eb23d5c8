r"""The audit of a score known only at points (the point layout of a score file, :class:`~fpdiff.ScoreSamples`).

A file in the point layout holds the learned field at stored points
:math:`x_{kj}` and times :math:`t_k`, and nothing between them: no solver can
run it. What can be measured, in any dimension, is the score error at the
stored points (an average over them, which is :math:`E_{p_t}` when they are
draws of :math:`p_t`, e.g. noised training data), its DSM-weighted integral and
the Girsanov integral, and whether the points are such draws
(:class:`~fpdiff.audit.result.StoredPoints`).
"""

import time

import numpy as np

from .. import metrics
from . import checks
from ._arguments import check_point_scores, stored_times
from ._common import safe_ratio
from .law import ReferenceLaw
from .result import AuditResult, StoredPoints

#: most stored points (and exact samples) per time in the energy-distance check of the stored points
POINT_CHECK_SAMPLES = 1000


def audit_points(samples, reference, process, T, t_min, gamma, n_samples, seed, started):
    r"""The audit of :func:`fpdiff.audit.audit` for a :class:`ScoreSamples` ``samples`` (its other checks do not apply).

    At each stored time :math:`t_k` in :math:`[t_{min}, T]`, with the
    :math:`M` stored points :math:`x_{kj}` and the stored field converted to
    the score, :math:`\hat s_{kj}`:

    .. math::  e_k = \frac1M \sum_j |\hat s_{kj} - s(x_{kj}, t_k)|^2, \qquad
               \mathrm{se}_k = \mathrm{sd}_j / \sqrt M ,

    the DSM-weighted :math:`v_{t_k} e_k` and its integral, and the Girsanov
    integral :math:`\frac12\int g^2 e\,dt`, both by the trapezoidal rule over
    the stored times (:func:`~fpdiff.audit.checks.time_integral`; the points
    of different times may be correlated, so their standard errors are added,
    an upper bound). :math:`\mathrm{KL}(p_T \| \pi)` by Monte Carlo with
    ``n_samples`` samples.
    """
    reference, process = check_point_scores(samples, reference, process)
    index, T, t_min = stored_times(samples, reference, T, t_min)
    times = samples.t[index]
    law = ReferenceLaw(reference, process)
    error, stderr, norm = (np.zeros(len(index)) for _ in range(3))
    energy, floor = np.zeros(len(index)), np.zeros(len(index))
    count = min(POINT_CHECK_SAMPLES, samples.points.shape[1])
    for k, stored in enumerate(index):
        t, points = float(samples.t[stored]), samples.points[stored]
        exact = reference.score(points, t)
        difference = np.sum((samples.scores[stored] - exact) ** 2, axis=1)
        error[k], stderr[k] = float(np.mean(difference)), float(np.std(difference) / np.sqrt(len(points)))
        norm[k] = float(np.mean(np.sum(exact * exact, axis=1)))
        draws = law.sample(t, count, seed + 1000 + 2 * k)
        energy[k] = metrics.energy_distance(points[:count], draws)
        floor[k] = metrics.energy_distance(law.sample(t, count, seed + 1001 + 2 * k), draws)
    girsanov = checks.girsanov(process, law, times, error, stderr, T, t_min, gamma, None, n_samples, seed)
    girsanov.quadrature = f"trapezoidal rule over the {len(times)} stored times in [{t_min:.4g}, {T:.4g}]"
    dsm = checks.dsm_error(process, times, error, stderr)
    points_per_time = samples.points.shape[1]
    settings = {
        "learned": f"ScoreSamples ({points_per_time} points x {len(samples.t)} times, {samples.parametrization})",
        "reference": reference.describe(),
        "process": repr(process),
        "dim": samples.dim,
        "gamma": gamma,
        "T": T,
        "t_min": t_min,
        "n_samples": n_samples,
        "seed": seed,
        "outside": None,
        "layout": "points",
        "wall_time": time.perf_counter() - started,
    }
    method = f"the {points_per_time} stored points per time; E_p_t if they are draws of p_t (see ED)"
    return AuditResult(times, error, stderr, norm, safe_ratio(error, norm), np.zeros(len(times)), method, girsanov,
                       settings=settings, dsm=dsm, stored_points=StoredPoints(times, energy, floor, count))
