"""The empirical (kernel) score of training points: the exact minimiser of denoising score matching on them."""

import numpy as np

from .._validation import as_finite_array, as_points
from ..distributions import Empirical
from ..errors import InputError
from . import _kernels
from .base import CompiledScore, Score, check_process


class EmpiricalScore(Score):
    r"""The kernel score of ``n`` training points: the exact minimiser of denoising score matching on them.

    .. math::  \hat x_0(x,t) = \sum_i \lambda_i x_i, \quad
               \lambda = \operatorname{softmax}_i\!\left(-\frac{|x-\alpha_t x_i|^2}{2 v_t}\right), \quad
               s = \frac{\alpha_t \hat x_0 - x}{v_t}.

    It is the score of :math:`p_t` for :math:`p_0 = \frac1n\sum_i \delta_{x_i}`; exact reverse
    diffusion with it reproduces the training points (memorisation). Numba,
    parallel over evaluation points, O(M n d), stable for tiny :math:`v_t`.
    Valid for ``t > 0``.

    Parameters
    ----------
    process : LinearProcess
        The forward process.
    points : array_like (n, d)
        The training points :math:`x_i` (shape (n,) in one dimension).
    """

    def __init__(self, process, points):
        self.process = check_process(process)
        points = as_finite_array(points, "points")
        if points.ndim == 1:
            points = points[:, None]
        if points.ndim != 2 or len(points) == 0:
            raise InputError(f"`points` must have shape (n, d) with n >= 1; got {np.shape(points)}")
        self.points = np.ascontiguousarray(points)
        self.dim = points.shape[1]
        self.t_range = (np.finfo(float).tiny, np.inf)

    @property
    def dist0(self):
        """The law :math:`p_0 = \\frac1n\\sum_i \\delta_{x_i}` of the training points (an :class:`Empirical`)."""
        return Empirical(self.points)

    def compiled(self):
        """The training points, for the kernels' denoiser."""
        if not self._keeps_field(EmpiricalScore, "_xhat0"):
            return None
        return CompiledScore(_kernels.EMPIRICAL, points=self.points)

    def describe(self):
        return f"{type(self).__name__} ({len(self.points)} points)"

    def distribution(self, t):
        """The law :math:`p_t` whose score this is: the training points noised to ``t > 0`` (a GaussianMixture)."""
        return Empirical(self.points).evolve(self.process, self.check_time(t))

    def _xhat0(self, x, t):
        return _kernels.denoise(np.ascontiguousarray(x), self.points, self.process.alpha(t),
                                      self.process.variance(t))

    def xhat0(self, x, t):
        return self._xhat0(as_points(x, self.dim), self.check_time(t))

    def _score(self, x, t):
        alpha, variance = self.process.alpha(t), self.process.variance(t)
        return (alpha * self._xhat0(x, t) - x) / variance
