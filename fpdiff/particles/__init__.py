"""The sample view: particle solvers for the SDEs whose Fokker–Planck equations :mod:`fpdiff.fv` solves.

- :func:`sample_reverse`: the gamma-family reverse SDE (schemes ``"ei"``,
  ``"em"``, ``"heun"``, ``"pc"``; registry :data:`SCHEMES`);
- :func:`sample_forward`: the noising process (exact transitions or Euler–Maruyama);
- :func:`simulate`: any :class:`~fpdiff.dynamics.Dynamics` (generic path);
- :func:`sample_langevin`: unadjusted Langevin for a fixed target;
- :func:`log_likelihood`: the log-density of points under the gamma = 0
  model, by the probability-flow ODE and its divergence.

Kernels are numba, parallel over particles; every normal number is a
function of (seed, particle, step), so samples do not depend on threads or
batches (:mod:`fpdiff.particles._random`).
"""

from .langevin import sample_langevin
from .likelihood import log_likelihood
from .schemes import SCHEMES, Scheme
from .solve import sample_forward, sample_reverse, simulate

__all__ = ["sample_reverse", "sample_forward", "simulate", "sample_langevin", "log_likelihood", "SCHEMES", "Scheme"]
