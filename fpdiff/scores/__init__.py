"""Scores: the :class:`Score` contract and every kind of score, their kernels, their files and their fit.

==================  =================================================================================
module              what it holds
==================  =================================================================================
:mod:`.base`        :class:`Score` (the contract), :class:`CallableScore`, :func:`as_score`,
                    :func:`check_process`
:mod:`.exact`       :class:`ExactScore`: a Gaussian mixture (or training points) noised in closed form
:mod:`.empirical`   :class:`EmpiricalScore`: the kernel score of training points
:mod:`.grid`        :class:`GridScore`: the score of a forward density solution
:mod:`.model`       :class:`ModelScore`: a model's callable (eps, x0, v or score; its own time input)
:mod:`.tabulated`   :class:`TabulatedScore`, :class:`ScoreSamples`, :func:`tabulate_score`,
                    the parametrisations (score, eps, x0, v)
:mod:`._kernels`    the numba kernels (mixture, empirical denoiser, table interpolation)
:mod:`.io`          the HDF5 score-field format: :func:`save_score`, :func:`load_score`
:mod:`.fit`         denoising score matching (:func:`~fpdiff.learn.fit_dsm`; ``fpdiff.learn``)
==================  =================================================================================
"""

from .base import CallableScore, Score, as_score, check_process
from .empirical import EmpiricalScore
from .exact import ExactScore
from .grid import GridScore
from .model import ModelScore
from .tabulated import ScoreSamples, TabulatedScore, tabulate_score
from ._write import save_score
from .io import load_score
from . import fit

__all__ = [
    "Score",
    "CallableScore",
    "ExactScore",
    "EmpiricalScore",
    "GridScore",
    "TabulatedScore",
    "ModelScore",
    "ScoreSamples",
    "tabulate_score",
    "as_score",
    "check_process",
    "load_score",
    "save_score",
    "fit",
]
