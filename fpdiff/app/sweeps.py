"""Sweeps of experiments: ``fd.sweep`` with an experiment file, its dict or an Experiment.

The engine (points, tasks, the table) is :mod:`fpdiff.distributed.sweeps`,
which knows nothing of experiments; here an experiment becomes one task per
point of its sweep, each running every view in memory
(:func:`fpdiff.app.runner.run_point`).
"""

import os

from ..distributed.sweeps import run_sweep, sweep as sweep_function, sweep_points
from ..errors import InputError
from .experiment import Experiment, experiment_from_dict, load_experiment
from .runner import run_point, sharing


def sweep(fn_or_config, axes, client=None, *, progress=False, numba_threads=1):
    r"""Run the product of ``axes`` through a function or an experiment; a table of the results.

    Parameters
    ----------
    fn_or_config : callable, or experiment (path, dict or Experiment)
        A function ``fn(**point) -> dict of metrics`` (see
        :func:`fpdiff.distributed.sweep`). Or an experiment (a TOML file's
        path, its dict, or an ``Experiment``):
        then the axis names are dotted keys of the file (``"time.t_min"``,
        ``"grid.cells"``, ``"score.source"``; ``"reverse.gamma"`` stands for
        ``reverse.gammas = [value]``), each point runs every view of the
        experiment in memory (nothing is written), and the rows are the
        metrics of ``fpdiff.app.runner`` per point and gamma. The points
        that run in one process compute once what they have in common: the
        reference samples and their sorted projections, and the density
        solves of points that differ only in the particle view's keys.
    axes : dict
        ``{name: [values]}``; the product is run, the last axis varying fastest.
    client : dask.distributed.Client, optional
        Run the points as Dask tasks (in the order they complete). None:
        serially in this process.
    progress : bool
        A tqdm bar over the completed points.
    numba_threads : int
        Numba threads per task (default 1: one task per core; 0 leaves them as they are).

    Returns
    -------
    SweepTable
        Columns ``point``, the axes, the metrics, ``error``. A point that
        raised has its error text and NaN metrics; the others complete.
    """
    if callable(fn_or_config):
        return sweep_function(fn_or_config, axes, client, progress=progress, numba_threads=numba_threads)
    if isinstance(fn_or_config, Experiment):
        base = fn_or_config
    elif isinstance(fn_or_config, dict):
        base = experiment_from_dict(fn_or_config)
    elif isinstance(fn_or_config, (str, os.PathLike)):
        base = load_experiment(fn_or_config)
    else:
        raise InputError("`fn_or_config` must be a function, or an experiment (a TOML path, a dict or an "
                         f"Experiment); got {type(fn_or_config).__name__}")
    points = sweep_points(axes)
    experiments = base.with_sweep(axes)
    with sharing(client) as token:  # what points have in common is computed once per process (run_point)
        return run_sweep(_experiment_rows, points, [((experiment, token), {}) for experiment in experiments],
                         list(axes), client, progress=progress, numba_threads=numba_threads)


def _experiment_rows(experiment, shared=None):
    rows, _ = run_point(experiment, shared)
    return rows
