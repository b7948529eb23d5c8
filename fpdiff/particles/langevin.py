r"""Unadjusted Langevin sampling of a fixed target: the Langevin MCMC baseline."""

import time

import numba
import numpy as np

from .._parallel import use_parallel
from .._validation import as_float, as_int, check_no_unknown_options
from ..distributions import GaussianMixture
from ..errors import InputError
from ..scores.base import Score
from ..solution import ParticleSolution
from . import _random
from ._kernels import EM, MIXTURE
from ._scores import NO_LAYOUT
from .schemes import Stage
from .solve import DEFAULT_BATCH, _Runner, as_particles, blow_up, check_batch_size


class _FixedTarget:
    """A time-independent score for :class:`_Runner`: a mixture inside numba, or a Python callable."""

    def __init__(self, score_fn, dim):
        self.score_fn = score_fn
        if isinstance(score_fn, GaussianMixture):
            if score_fn.dim != dim:
                raise InputError(f"`score_fn` is a {score_fn.dim}-D mixture but `x0` has {dim} column(s)")
            log_det = np.linalg.slogdet(2 * np.pi * score_fn.covariances)[1]
            self.kind = MIXTURE
            # writeable C-ordered copies: the kernels are compiled (and cached) for exactly these array types
            self._data = (np.log(score_fn.weights) - 0.5 * log_det, np.array(score_fn.means, order="C"),
                          np.array(score_fn.precisions, order="C"), 1.0, 1.0, NO_LAYOUT)
            self.n_centres = score_fn.n_components
            self.label = "mixture (numba)"
        elif isinstance(score_fn, Score) or not callable(score_fn):
            raise InputError(
                "`score_fn` must be a GaussianMixture or a callable x -> (M, d) of the target's score; "
                f"got {type(score_fn).__name__} (for a time-dependent Score use `lambda x: score(x, t)`)"
            )
        else:
            self.kind = None
            self.n_centres = 1
            self.label = "python (slow path)"

    fast = property(lambda self: self.kind is not None)

    def data(self, t):
        return self._data

    def parallel(self, count):
        return use_parallel(count * self.n_centres)

    def python_score(self, y, t):
        values = np.asarray(self.score_fn(y), dtype=np.float64)
        if values.shape != y.shape:
            raise InputError(f"`score_fn` returned shape {values.shape} for points of shape {y.shape}")
        return values


def sample_langevin(score_fn, x0, step, n_steps, seed=0, save_every=None, **options):
    r"""Unadjusted Langevin algorithm (ULA) for a fixed target :math:`\pi`.

    .. math::  X_{k+1} = X_k + \epsilon\, \nabla\log\pi(X_k) + \sqrt{2\epsilon}\; \xi_k ,

    the Euler–Maruyama discretisation of the Langevin diffusion
    :math:`dX = \nabla\log\pi(X)\,dt + \sqrt2\, dW`, whose stationary law is
    :math:`\pi` (Roberts & Tweedie 1996; Durmus & Moulines 2017). With a
    step :math:`\epsilon > 0` the chain's stationary law is biased by
    :math:`O(\epsilon)` (no Metropolis correction), and mixing between
    separated modes is slow: the baseline that score-based diffusion improves on.

    Parameters
    ----------
    score_fn : GaussianMixture or callable
        The target: a :class:`GaussianMixture` (score evaluated inside the
        numba kernel), or a callable ``x -> (M, d)`` returning
        :math:`\nabla\log\pi` (called from Python once per step: the slow path).
    x0 : array_like (M, d)
        Start points (a 1-D array is M points in one dimension).
    step : float
        Step :math:`\epsilon > 0`.
    n_steps : int
        Number of iterations.
    seed : int
        Seed of the counter-based noise (particle ``i`` depends on ``(seed, i)`` only).
    save_every : int, optional
        Save every ``save_every`` iterations (default: only the start and the end).
    **options
        ``batch_size`` (particles per kernel call; results do not depend on it).

    Returns
    -------
    ParticleSolution
        Snapshots labelled by Langevin time :math:`k\epsilon` (ascending).
    """
    started = time.perf_counter()
    x = as_particles(x0, "x0")
    step = as_float(step, "step", positive=True)
    n_steps = as_int(n_steps, "n_steps", minimum=0)
    seed = _random.check_seed(seed)
    save_every = n_steps if save_every is None else as_int(save_every, "save_every", minimum=1)
    batch_size = check_batch_size(options.pop("batch_size", DEFAULT_BATCH))
    check_no_unknown_options(options, "sample_langevin")
    target = _FixedTarget(score_fn, x.shape[1])
    runner = _Runner(target, seed, batch_size, x.shape[1])
    stage = Stage(EM, np.array([0.0, step, np.sqrt(2.0 * step)]), 0.0, 0.0, _random.LANGEVIN, 0, True)
    iterations = [0]
    snapshots = [x.copy()]
    for k in range(n_steps):
        if runner.run(stage, x, k):
            blow_up(x, (k + 1) * step, k + 1, n_steps, "sample_langevin: reduce `step`")
        if (k + 1) % max(save_every, 1) == 0 or k + 1 == n_steps:
            iterations.append(k + 1)
            snapshots.append(x.copy())
    diagnostics = {
        "scheme": "ula",
        "steps": n_steps,
        "step": step,
        "seed": seed,
        "particles": len(x),
        "dim": x.shape[1],
        "score": target.label,
        "threads": numba.get_num_threads(),
        "iterations": np.array(iterations),
        "wall_time": time.perf_counter() - started,
    }
    return ParticleSolution(np.array(iterations) * step, np.array(snapshots), diagnostics)
