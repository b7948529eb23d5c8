"""Scores as kernel data: which scores run inside numba (:meth:`fpdiff.Score.compiled`), and their arrays at ``t``."""

import numpy as np

from .._parallel import use_parallel
from ..errors import InputError
from ..scores._kernels import EMPIRICAL, MIXTURE, TABULATED
from ._kernels import score_divergence

_NO_PRECISIONS = np.zeros((0, 1, 1))
NO_LAYOUT = np.zeros(0, dtype=np.int64)


class KernelScore:
    """A score as the kernels see it: a kind code and parameter arrays at each time, or the Python slow path.

    ``kind`` is what the score's :meth:`~fpdiff.Score.compiled` says:
    ``MIXTURE`` (an :class:`ExactScore` of a :class:`GaussianMixture`),
    ``EMPIRICAL`` (an :class:`EmpiricalScore`, or an :class:`ExactScore` of an
    :class:`Empirical`), ``TABULATED`` (a :class:`TabulatedScore`), their
    subclasses alike, or ``None``: every other score is called from Python,
    once per stage for all particles (:meth:`python_score`). The data at the
    last two times asked for are cached (a Heun step's second time is the
    next step's first).
    """

    def __init__(self, score):
        self.score = score
        self.kind = None
        self.n_centres = 1
        self._cache = {}
        compiled = score.compiled()
        if compiled is not None:
            self.kind = compiled.kind
        # writeable C-ordered copies: the kernels are compiled (and cached) for exactly these array types
        if self.kind == MIXTURE:
            self._log_weights = np.array(compiled.log_weights, dtype=np.float64, order="C")
            self._means = np.array(compiled.means, order="C")
            self._covariances = np.array(compiled.covariances, order="C")
            self.n_centres = len(self._log_weights)
        elif self.kind == EMPIRICAL:
            self._points = np.array(compiled.points, dtype=np.float64, order="C")
            self.n_centres = len(self._points)
        elif self.kind == TABULATED:
            self._table = compiled.table
            self.n_centres = 2**score.dim  # corners per interpolation
        self.process = score.process
        self.label = {MIXTURE: "mixture (numba)", EMPIRICAL: "empirical (numba)", TABULATED: "tabulated (numba)",
                      None: "python (slow path)"}[self.kind]

    @property
    def fast(self):
        """True when the score is evaluated inside the kernels."""
        return self.kind is not None

    @property
    def exact_divergence(self):
        """True when the kernels also give the score's exact divergence."""
        return self.kind in (MIXTURE, EMPIRICAL)

    def blow_up_hint(self):
        """What to check when particles become non-finite, beyond the step size."""
        if self.kind == TABULATED and self._table.outside == "raise":
            return "; particles that leave the table's box become NaN: " + self._table.box_message()
        return ""

    def data(self, t):
        """``(log_coefficients, centres, precisions, alpha, variance, layout)`` of the score at time ``t``."""
        t = float(t)
        if t in self._cache:
            return self._cache[t]
        if self.kind == TABULATED:
            self._table.check_time(t)
            axes, table, layout = self._table.kernel_data(t)
            return axes, table, _NO_PRECISIONS, 1.0, 1.0, layout
        log_coefficients, centres, precisions, alpha, variance, centre_rows = self.tables([t])
        data = (log_coefficients[0], centres[centre_rows[0]], precisions[0], float(alpha[0]), float(variance[0]),
                NO_LAYOUT)
        if len(self._cache) >= 2:
            self._cache.pop(next(iter(self._cache)))
        self._cache[t] = data
        return data

    def tables(self, times):
        r"""The data of :meth:`data` at every time of ``times``, stacked (row ``i``: ``times[i]``).

        Returns ``(log_coefficients, centres, precisions, alpha, variance,
        centre_rows)`` with a leading time axis; the centres of time ``i`` are
        row ``centre_rows[i]`` of ``centres`` (training points do not move:
        one row for all times). Mixtures and training points only.

        For a mixture at time ``t``: covariances :math:`\alpha_t^2 C_k + v_t I`,
        their inverses (symmetrised), ``log w_k - log det(2 pi C_k(t)) / 2``
        and centres :math:`\alpha_t \mu_k`.
        """
        times = np.asarray(times, dtype=np.float64)
        for t in times:
            self.score.check_time(float(t))
        alpha = np.array([float(self.process.alpha(t)) for t in times])
        variance = np.array([float(self.process.variance(t)) for t in times])
        if self.kind == MIXTURE:
            dim = self._means.shape[1]
            covariances = ((alpha * alpha)[:, None, None, None] * self._covariances
                           + variance[:, None, None, None] * np.eye(dim))
            precisions = np.linalg.inv(covariances)
            precisions = 0.5 * (precisions + np.swapaxes(precisions, -1, -2))
            log_det = np.linalg.slogdet(2 * np.pi * covariances)[1]
            return (np.ascontiguousarray(self._log_weights - 0.5 * log_det),
                    np.ascontiguousarray(alpha[:, None, None] * self._means), np.ascontiguousarray(precisions),
                    alpha, variance, np.arange(len(times)))
        if not np.all(variance > 0):
            t = float(times[np.argmin(variance > 0)])
            raise InputError(f"the empirical score needs v_t > 0; got v = {self.process.variance(t)!r} at t = {t}")
        count = len(times)
        return (np.zeros((count, 0)), self._points[None], np.zeros((count, 0, 1, 1)), alpha, variance,
                np.zeros(count, dtype=np.int64))

    def parallel(self, count):
        """Whether ``count`` particles are worth all threads."""
        return use_parallel(count * max(1, self.n_centres))

    def kernel_score(self, y, t, with_divergence=False):
        """Score (and divergence, or None) at points ``y`` (M, d) with the kernel."""
        y = np.require(y, np.float64, ["C", "W"])  # the array type the kernel is compiled for
        out = np.empty_like(y)
        divergence = np.empty(len(y))
        score_divergence(self.kind, y, *self.data(t), out, divergence, with_divergence, self.parallel(len(y)))
        if self.kind == TABULATED and self._table.outside == "raise" and not np.all(np.isfinite(out)):
            self._table.check_domain(y, f"the points at t = {t:.6g}")
        return out, (divergence if with_divergence else None)

    def python_score(self, y, t):
        """Score at ``y`` (M, d) through the score object's own ``score(x, t)``, shape-checked."""
        values = np.asarray(self.score.score(y, t), dtype=np.float64)
        if values.shape != y.shape:
            raise InputError(f"the score returned shape {values.shape} for points of shape {y.shape} at t = {t}")
        return values

    def __call__(self, y, t):
        """Score at ``y`` (M, d), by the kernel when there is one."""
        if self.fast:
            return self.kernel_score(y, t)[0]
        return self.python_score(y, t)
