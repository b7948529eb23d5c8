"""The exact score of a Gaussian mixture (or of training points) noised by a forward process."""

import numpy as np

from ..distributions import Empirical, GaussianMixture
from ..errors import InputError
from . import _kernels
from .base import CompiledScore, Score, check_process
from .empirical import EmpiricalScore


class ExactScore(Score):
    r"""The exact score of a Gaussian mixture :math:`p_0` noised by ``process``.

    :math:`p_t` is the mixture evolved in closed form
    (:meth:`GaussianMixture.evolve`); its score is computed stably (online
    log-sum-exp) by a numba kernel, parallel over points.
    An :class:`Empirical` ``dist0`` gives the :class:`EmpiricalScore`.

    Parameters
    ----------
    process : LinearProcess
        The forward process.
    dist0 : GaussianMixture or Empirical
        The data law :math:`p_0`.
    """

    def __init__(self, process, dist0):
        self.process = check_process(process)
        if isinstance(dist0, Empirical):
            self._empirical = EmpiricalScore(process, dist0.points)
        elif isinstance(dist0, GaussianMixture):
            self._empirical = None
        else:
            raise InputError(f"`dist0` must be a GaussianMixture or Empirical; got {type(dist0).__name__}")
        self.dist0 = dist0
        self.dim = dist0.dim
        self.t_range = (0.0 if self._empirical is None else np.finfo(float).tiny, np.inf)
        self._evolved = (None, None)

    def distribution(self, t):
        """The exact law :math:`p_t` (cached for the last ``t``)."""
        if self._evolved[0] != t:
            self._evolved = (t, self.dist0.evolve(self.process, t))
        return self._evolved[1]

    def compiled(self):
        """The mixture's log-weights, means and covariances (or the training points of an :class:`Empirical`)."""
        if not self._keeps_field(ExactScore, "distribution"):
            return None
        if self._empirical is not None:
            return CompiledScore(_kernels.EMPIRICAL, points=self.dist0.points)
        return CompiledScore(_kernels.MIXTURE, log_weights=np.log(self.dist0.weights), means=self.dist0.means,
                             covariances=self.dist0.covariances)

    def describe(self):
        return f"{type(self).__name__} of {type(self.dist0).__name__}"

    def _score(self, x, t):
        if self._empirical is not None:
            return self._empirical._score(x, t)
        return _kernels.gaussian_mixture_score(x, self.distribution(t))
