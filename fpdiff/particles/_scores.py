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
        self._compiled = compiled
        if self.kind == MIXTURE:
            self.n_centres = len(compiled.log_weights)
        elif self.kind == EMPIRICAL:
            self.n_centres = len(compiled.points)
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
        """The data of :meth:`data` at every time of ``times``, stacked (row ``i``: ``times[i]``), each time
        checked against the score's range: :meth:`fpdiff.scores.base.CompiledScore.tables`."""
        times = np.asarray(times, dtype=np.float64)
        for t in times:
            self.score.check_time(float(t))
        return self._compiled.tables(self.process, times)

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
