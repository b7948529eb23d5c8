r"""The law :math:`p_t` behind a reference score: exact mixtures, or a GridScore's snapshots.

:func:`fpdiff.audit.audit` measures a learned score in expectations over
:math:`p_t`, compares realised outputs with :math:`p_{t_{min}}` and
starts runs from :math:`p_T`; :class:`ReferenceLaw` is where all of these
come from.
"""

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from .. import metrics


class ReferenceLaw:
    r"""The law :math:`p_t` behind a reference score, as the score gives it (:class:`fpdiff.Score`).

    ``kind`` is ``"mixture"`` (the score's ``dist0`` evolved exactly at every
    t: the mixture of an :class:`ExactScore`, the training points of an
    :class:`EmpiricalScore`) or ``"grid"`` (the score's density snapshots on
    its ``grid``, a :class:`GridScore`'s, linear in t between them).
    """

    def __init__(self, reference, process):
        self.reference = reference
        self.process = process
        if reference.dist0 is None:
            self.kind = "grid"
            self.grid = reference.grid
            self._densities = np.exp(reference.log_values)
        else:
            self.kind = "mixture"
            self.dist0 = reference.dist0
        self._cache = {}

    def distribution(self, t):
        """The exact :class:`GaussianMixture` :math:`p_t` (mixture kind only)."""
        key = ("distribution", t)
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = self.dist0.evolve(self.process, t)
        return self._cache[key]

    def density(self, t):
        """Cell values of :math:`p_t` on the GridScore's grid, linear in t between snapshots (grid kind only)."""
        left, right, weight = self.reference.bracket(t)
        return (1 - weight) * self._densities[left] + weight * self._densities[right]

    def expectation_points(self, t, n, seed):
        """``(points, weights)`` with :math:`E_{p_t} h \\approx \\sum_j w_j h(x_j)`, weights summing to 1.

        Mixture: ``n`` exact samples (weights ``1/n``), the same random
        numbers at every ``t``. Grid: the cell centres weighted by the cell
        masses (midpoint quadrature).
        """
        if self.kind == "mixture":
            points = self.distribution(t).sample(n, seed)
            return points, np.full(n, 1.0 / n)
        mass = self.density(t).ravel() * self.grid.cell_volume
        keep = mass > 0
        return self.grid.points()[keep], mass[keep] / np.sum(mass[keep])

    def sample(self, t, n, seed):
        """``n`` samples of :math:`p_t` (grid kind: from the piecewise-constant density of its cells)."""
        if self.kind == "mixture":
            return self.distribution(t).sample(n, seed)
        rng = np.random.default_rng(seed)
        mass = self.density(t).ravel()
        cells = rng.choice(mass.size, size=n, p=mass / np.sum(mass))
        centres = self.grid.points()[cells]
        return centres + (rng.uniform(size=centres.shape) - 0.5) * np.asarray(self.grid.spacing)

    def pdf(self, x, t):
        """:math:`p_t(x)` at points ``x`` (M, d); grid kind: multilinear in the cell values, 0 outside."""
        if self.kind == "mixture":
            return self.distribution(t).pdf(x)
        interpolate = RegularGridInterpolator(self.grid.centers, self.density(t), bounds_error=False, fill_value=0.0)
        return interpolate(x)

    def cell_average(self, grid, t):
        """Cell averages of :math:`p_t` on ``grid`` (exact for mixtures; own cells, else 4-point quadrature)."""
        if self.kind == "mixture":
            return self.distribution(t).cell_average(grid)
        if grid == self.grid:
            return self.density(t)
        return grid.quadrature_average(lambda x: self.pdf(x, t))

    def prior_kl(self, T, grid, n, seed):
        r""":math:`\mathrm{KL}(p_T \| \pi)` and how it was computed.

        On ``grid`` (or the GridScore's own grid) by :func:`metrics.kl` of cell
        averages; with no grid, by Monte Carlo,
        :math:`\frac1n \sum_j \log p_T(X_j) - \log \pi(X_j)`, :math:`X_j \sim p_T`.
        Returns ``(value, standard_error or None, method)``.
        """
        prior = self.process.prior(T, self.reference.dim)
        grid = grid if grid is not None else (self.grid if self.kind == "grid" else None)
        if grid is not None:
            value = metrics.kl(self.cell_average(grid, T), prior.cell_average(grid), grid)
            return value, None, f"cell averages on the {'x'.join(map(str, grid.shape))}-cell grid"
        points = self.distribution(T).sample(n, seed)
        log_ratio = self.distribution(T).logpdf(points) - prior.logpdf(points)
        return float(np.mean(log_ratio)), float(np.std(log_ratio) / np.sqrt(n)), f"Monte Carlo, {n} samples of p_T"
