"""fpdiff: Fokker–Planck numerics for diffusion generative models.

One dynamics, two views: the density view (finite volumes on grids) and the
sample view (particle SDE solvers), cross-checked against each other and
against closed-form results. See ``docs/theory.md`` for the mathematics.
"""

from ._version import __version__
from .distributions import Empirical, GaussianMixture
from .dynamics import Dynamics, forward_dynamics, reverse_dynamics
from .errors import BlowUpError, DomainError, FormatError, FpdiffError, FpdiffWarning, InputError, MassWarning
from .fv import solve_forward, solve_naive_reversal, solve_reverse
from .grid import Grid
from .homogeneous import HomogeneousSample, HomogeneousScore, sample_homogeneous
from . import metrics, theory
from .audit import audit
from .particles import SCHEMES, log_likelihood, sample_forward, sample_langevin, sample_reverse, simulate
from .processes import EDM, OU, VE, VP, Brownian, Cosine, Discrete, LinearDiscrete, LinearProcess, ScaledLinear
from .scores import (CallableScore, EmpiricalScore, ExactScore, GridScore, ModelScore, Score, ScoreSamples,
                     TabulatedScore, load_score, save_score, tabulate_score)
from .scores import fit as learn  # the documented name of the DSM fit: fd.learn.fit_dsm
from .solution import DensitySolution, ParticleSolution
from .app.sweeps import sweep  # the application layer last: it builds on everything above


__all__ = [
    "__version__",
    "OU",
    "VP",
    "VE",
    "Brownian",
    "Cosine",
    "Discrete",
    "LinearDiscrete",
    "ScaledLinear",
    "EDM",
    "LinearProcess",
    "GaussianMixture",
    "Empirical",
    "Grid",
    "Dynamics",
    "forward_dynamics",
    "reverse_dynamics",
    "Score",
    "ExactScore",
    "EmpiricalScore",
    "GridScore",
    "CallableScore",
    "ModelScore",
    "TabulatedScore",
    "ScoreSamples",
    "tabulate_score",
    "load_score",
    "save_score",
    "metrics",
    "learn",
    "theory",
    "audit",
    "sweep",
    "HomogeneousScore",
    "HomogeneousSample",
    "sample_homogeneous",
    "solve_forward",
    "solve_reverse",
    "solve_naive_reversal",
    "DensitySolution",
    "ParticleSolution",
    "sample_forward",
    "sample_reverse",
    "simulate",
    "sample_langevin",
    "log_likelihood",
    "SCHEMES",
    "FpdiffError",
    "InputError",
    "FormatError",
    "DomainError",
    "BlowUpError",
    "FpdiffWarning",
    "MassWarning",
]
