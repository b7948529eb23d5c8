r"""Sharded particle runs: what ``sample_reverse(..., client=client)`` does on a Dask cluster.

The particles (drawn from the prior, or the rows of the given start points)
are split into ``shards`` contiguous index ranges :math:`[a, b)`; shard
:math:`[a, b)` runs ``sample_reverse(..., first_particle=a)`` on a worker,
which draws exactly the noise of particles :math:`a..b-1` of a local run
(every normal number is a function of (seed, stream, step, slot, *global
particle index*): :mod:`fpdiff.particles._random`); the shards' snapshots are
gathered and concatenated in index order. The result equals the local run
with the same seed bit for bit, whatever the number of shards or workers.

This module sits below :mod:`fpdiff.particles.solve` (which imports it) and
does not import it back: the sampler to run on each shard is passed in
(``sample_reverse`` passes itself). Reductions of ensembles too large to
gather are :func:`fpdiff.distributed.sample_ensemble`, built on the same shards.
"""

import time

import numpy as np

from .._dask import check_client, total_threads, workers_of
from ..errors import InputError
from ..solution import ParticleSolution


def shard_bounds(count, shards):
    """Boundaries ``[0, b_1, ..., count]`` of ``shards`` near-equal index ranges (at most ``count`` shards).

    Parameters
    ----------
    count : int
        Number of particles.
    shards : int
        Number of ranges wanted (at least 1 is made, at most ``count``).

    Returns
    -------
    list of int
        ``b_k = count * k // shards``: shard ``k`` holds the indices ``b_k <= i < b_{k+1}``.
    """
    shards = max(1, min(int(shards), int(count)))
    return [count * k // shards for k in range(shards + 1)]


def check_shards(shards, client):
    """The number of shards: ``shards`` checked, or one per worker thread of ``client`` (1 without one)."""
    if shards is None:
        return total_threads(client) if client is not None else 1
    if isinstance(shards, bool) or not isinstance(shards, (int, np.integer)) or shards < 1:
        raise InputError(f"`shards` must be an integer >= 1 (or None: one per worker thread); got {shards!r}")
    return int(shards)


def run_shard(sample, process, score, start, first, kwargs):
    """One shard: ``sample(process, score, start, first_particle=first, **kwargs)`` (``start``: a count or rows)."""
    return sample(process, score, start, first_particle=first, **kwargs)


def sample_sharded(sample, process, score, total, y0, *, client, shards=None, **kwargs):
    """Run ``sample`` (``sample_reverse``) as ``shards`` index ranges of ``total`` particles on ``client``; gather.

    Parameters
    ----------
    sample : callable
        The local sampler, ``sample(process, score, start, first_particle=a, **kwargs)``.
    process, score
        As :func:`fpdiff.sample_reverse`.
    total : int
        The number of particles.
    y0 : ndarray (total, d) or None
        The start points, split by rows; None: each shard draws its particles from the prior.
    client : dask.distributed.Client
    shards : int, optional
        Number of index ranges (default: the cluster's worker threads).
    **kwargs
        The other arguments of ``sample``.

    Returns
    -------
    ParticleSolution
        As the local run; ``diagnostics`` adds ``shards`` and ``workers``,
        and ``wall_time`` is that of the whole distributed call.
    """
    started = time.perf_counter()
    check_client(client)
    bounds = shard_bounds(total, check_shards(shards, client))
    score_future = client.scatter(score, broadcast=False, hash=False)
    futures = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        start = (b - a) if y0 is None else client.scatter(y0[a:b], hash=False)
        futures.append(client.submit(run_shard, sample, process, score_future, start, a, kwargs, pure=False))
    try:
        solutions = client.gather(futures)
    finally:
        client.cancel(futures)
    first = solutions[0]
    snapshots = np.concatenate([solution.snapshots for solution in solutions], axis=1)
    diagnostics = dict(first.diagnostics, particles=total, shards=len(solutions),
                       workers=len(workers_of(client)), wall_time=time.perf_counter() - started)
    return ParticleSolution(first.t, snapshots, diagnostics)
