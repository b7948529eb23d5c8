"""The figures ``fpdiff run`` and ``fpdiff demo`` write beside a results file."""

import os

from .files import is_sweep_results
from .folder import writing


def write_figures(results_path, folder):
    """Write the figures of a results file into ``folder`` (``reverse.png``, or ``sweep.png`` for a sweep)."""
    from ..plot import results_figure, save_figure, sweep_figure  # matplotlib: only when figures are drawn

    if is_sweep_results(results_path):
        figure, name = sweep_figure(results_path), "sweep.png"
    else:
        figure, name = results_figure(results_path), "reverse.png"
    path = os.path.join(folder, name)
    with writing(path):
        return [save_figure(figure, path)]
