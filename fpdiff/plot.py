"""Matplotlib figures of fpdiff results (solvers never import this module)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def density_evolution_figure(solution, exact=None):
    """x–t heat map of a 1-D :class:`DensitySolution` and its final density.

    ``exact`` (a distribution) adds the exact final cell averages for comparison.
    """
    grid = solution.grid
    x = grid.centers[0]
    figure, (heat, final) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    order = np.argsort(solution.t)
    mesh = heat.pcolormesh(x, solution.t[order], solution.values[order], shading="auto", cmap="viridis")
    figure.colorbar(mesh, ax=heat, label="density p(x, t)")
    heat.set_xlabel("x")
    heat.set_ylabel("t (forward time)")
    heat.set_title("Density evolution")
    final.plot(x, solution.values[order[0]], color="0.6", label=f"t = {solution.t[order[0]]:g}")
    final.plot(x, solution.final, label=f"finite volumes, t = {solution.t[-1]:g}")
    if exact is not None:
        final.plot(x, grid.cell_average(exact), "k--", linewidth=1, label="exact")
    final.set_xlabel("x")
    final.set_ylabel("density")
    final.set_title("Initial and final density")
    final.legend()
    return figure
