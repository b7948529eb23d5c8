r"""Time-homogeneous generative processes by random time reversal.

A symmetric forward diffusion (Brownian motion, or OU with its Gaussian invariant density :math:`m`) started from
the data :math:`\alpha = \tfrac1n\sum_i \delta_{x_i}` and killed at an independent :math:`\zeta \sim \mathrm{Exp}(r)`
is reversed from :math:`X_\zeta` back to :math:`X_0`; the reversal is the time-homogeneous diffusion

.. math::  dZ = \big(b(Z) + \sigma^2 \nabla \log \tilde h(Z)\big) dt + \sigma dW, \qquad
           \tilde h = f/m, \quad f(x) = \frac{r}{n}\sum_i G_r(x_i \to x),

stopped when it reaches the data (Christensen, Kallsen, Strauch & Trottner 2025). See ``docs/homogeneous.md``.

* :mod:`.green`: the Green's functions :math:`G_r`, their gradients, the invariant density;
* :class:`HomogeneousScore`: the space-only score :math:`\nabla \log \tilde h` (numba, parallel);
* :func:`sample_homogeneous`: the stopped generative SDE with hitting-resolving adaptive steps;
* :mod:`.grid`: the density view (the resolvent equation by one sparse solve, absorbed mass per data point);
* :mod:`.learn`: learning the space-only score by denoising score matching.
"""

from .green import green, grad_log_green, invariant_log_density, log_green
from .grid import AbsorbedMass, absorbed_mass, grid_homogeneous_score, resolvent_density
from .learn import LearnedHomogeneousScore, fit_homogeneous_dsm
from .sampler import HomogeneousSample, sample_homogeneous
from .score import HomogeneousScore

__all__ = ["green", "log_green", "grad_log_green", "invariant_log_density", "HomogeneousScore", "sample_homogeneous",
           "HomogeneousSample", "resolvent_density", "grid_homogeneous_score", "absorbed_mass", "AbsorbedMass",
           "fit_homogeneous_dsm", "LearnedHomogeneousScore"]
