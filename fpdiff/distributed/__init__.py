r"""Beyond one process: parameter sweeps and sharded particle ensembles, in-process or on Dask distributed.

Two kinds of work outgrow one machine in a diffusion-model study:

- **sweeps**: the product of lists of parameters (gammas x t_min x
  resolutions x scores x seeds), one independent task per point —
  :func:`sweep` (``fd.sweep`` also runs experiments: :mod:`fpdiff.app.sweeps`,
  and ``fpdiff run`` of an experiment file with a ``[sweep]`` table);
- **particle ensembles** of 10^8-10^10 samples — :func:`sample_sharded`
  (what ``fd.sample_reverse(..., client=client)`` calls) and
  :func:`sample_ensemble`, which reduces each shard to a histogram, moments
  and a quantile sketch on the cluster instead of gathering the samples.

The engine is Dask distributed (``dask.distributed.Client``: a
``LocalCluster``, an existing scheduler, dask-jobqueue on SLURM/PBS; see
``docs/cluster.md``); fpdiff has no scheduler of its own. Without a client
everything runs serially in this process, and Dask is not needed
(``pip install fpdiff[distributed]`` installs it).

Sharding is exact: the particle solvers draw every normal number as a
function of (seed, stream, step, slot, *global particle index*)
(:mod:`fpdiff.particles._random`), so the shard of particles
:math:`[a, b)` run with ``first_particle=a`` is bit for bit rows
:math:`a..b-1` of the local run with the same seed, whatever the number of
shards or workers.

Modules: :mod:`.cluster` (:func:`connect`, the task engine :func:`run_tasks`),
:mod:`.sweeps` (:func:`sweep`, :class:`SweepTable`), :mod:`.ensembles`
(:func:`sample_sharded`, :func:`sample_ensemble`). Below the particle solvers,
so that ``sample_reverse(..., client=...)`` needs nothing from this package:
the shards themselves (``fpdiff.particles.sharded``) and Dask's
availability and a client's workers (:mod:`fpdiff._dask`).
"""

from .._dask import INSTALL_HINT, DistributedUnavailable, require_distributed, workers_of
from ..particles.sharded import shard_bounds
from .cluster import CONNECT_TIMEOUT, connect, dashboard_link, run_tasks
from .ensembles import EnsembleSummary, sample_ensemble, sample_sharded
from .sweeps import SweepTable, run_sweep, sweep, sweep_points

__all__ = ["sweep", "run_sweep", "sweep_points", "SweepTable", "sample_sharded", "sample_ensemble", "EnsembleSummary",
           "shard_bounds", "connect", "dashboard_link", "workers_of", "run_tasks", "require_distributed",
           "DistributedUnavailable", "INSTALL_HINT", "CONNECT_TIMEOUT"]
