"""Dask distributed, an optional dependency: whether it is installed, and the workers of a client.

At the bottom of the layers (it imports nothing of fpdiff but its errors), so that both the sharded particle
runs (``fpdiff.particles.sharded``, what ``sample_reverse(..., client=...)`` calls) and the task engine above
them (:mod:`fpdiff.distributed`) use it. Dask is imported inside the functions: fpdiff runs without it.
"""

import inspect

from .errors import FpdiffError, InputError

#: what to install when Dask is missing
INSTALL_HINT = "pip install fpdiff[distributed]  (or: pip install 'dask[distributed]')"


class DistributedUnavailable(FpdiffError, ImportError):
    """Dask distributed is needed for this and is not installed."""


def require_distributed(what="this"):
    """Import and return ``distributed``, or raise :class:`DistributedUnavailable` saying how to install it.

    Parameters
    ----------
    what : str
        What needs Dask, for the error message.

    Returns
    -------
    module
        The ``distributed`` package.
    """
    try:
        import distributed
    except ImportError:
        raise DistributedUnavailable(f"{what} needs Dask distributed, which is not installed: {INSTALL_HINT}") \
            from None
    return distributed


def check_client(client, name="client"):
    """``client`` if it is a ``dask.distributed.Client``; else :class:`InputError` (or, without Dask,
    :class:`DistributedUnavailable`)."""
    distributed = require_distributed(f"`{name}`")
    if not isinstance(client, distributed.Client):
        raise InputError(f"`{name}` must be a dask.distributed.Client (or None: run in this process); "
                         f"got {type(client).__name__}")
    return client


def workers_of(client):
    """The scheduler's workers, all of them (``scheduler_info`` lists 5 by default).

    Parameters
    ----------
    client : dask.distributed.Client

    Returns
    -------
    dict
        ``{address: info}``, ``info`` the scheduler's record of the worker (``nthreads``, ...).
    """
    if "n_workers" in inspect.signature(client.scheduler_info).parameters:
        return client.scheduler_info(n_workers=-1)["workers"]
    return client.scheduler_info()["workers"]


def total_threads(client):
    """The worker threads of the cluster (at least 1)."""
    return max(1, sum(w.get("nthreads", 1) for w in workers_of(client).values()))
