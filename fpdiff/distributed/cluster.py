"""Connecting to (or starting) a Dask cluster, and the task engine shared by sweeps and ensembles.

Whether Dask is installed and a client's workers: :mod:`fpdiff._dask` (below the particle solvers, which shard
runs with it).
"""

import contextlib
import os
import uuid

import numba
from tqdm import tqdm

from .._dask import require_distributed
from ..errors import InputError

#: seconds to wait for a scheduler before giving up (``connect``)
CONNECT_TIMEOUT = 10.0
#: where a LocalCluster started by ``connect`` listens: this machine only
LOCAL_HOST = "127.0.0.1"


def _set_numba_threads(threads):
    if threads:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


# ------------------------------------------------------------------ clusters


@contextlib.contextmanager
def connect(scheduler=None, workers=None, timeout=CONNECT_TIMEOUT, processes=True, host=LOCAL_HOST):
    """A ``dask.distributed.Client`` for a run: to ``scheduler``, or to a ``LocalCluster`` started for it.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``, or a scheduler
        file path ending in ``.json``). None: start a ``LocalCluster`` of
        ``workers`` worker processes with one thread each and
        ``NUMBA_NUM_THREADS=1`` (so numba's threads do not oversubscribe the
        cores), closed when the block ends.
    workers : int, optional
        Workers of the local cluster (default: the usable cores).
    timeout : float
        Seconds to wait for the scheduler; then :class:`InputError`.
    processes : bool
        Workers as processes (default) or threads of this process (tests).
    host : str
        The interface the ``LocalCluster``'s scheduler, workers and
        dashboard listen on: ``"127.0.0.1"`` (default), so that nothing on
        the network can reach them (a Dask scheduler runs the code it is
        sent); ``"0.0.0.0"`` or a machine's address to open them to others.

    Yields
    ------
    distributed.Client
    """
    distributed = require_distributed("running on a Dask cluster")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise InputError(f"the scheduler address must be a string such as 'tcp://host:8786'; got {scheduler!r}")
        options = {"scheduler_file": scheduler} if scheduler.endswith(".json") else {"address": scheduler}
        try:
            client = distributed.Client(timeout=timeout, **options)
        except (OSError, TimeoutError, ValueError) as error:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s: {error} "
                             "(is the scheduler running, and is the address 'tcp://HOST:PORT'?)") from None
        try:
            yield client
        finally:
            client.close()
        return
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = usable if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"`workers` must be an integer >= 1; got {workers!r}")
    if not isinstance(host, str) or not host:
        raise InputError(f"`host` must be an interface address such as '127.0.0.1'; got {host!r}")
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes,
        # free ports (never clashing with another cluster's 8787), on `host` only
        dashboard_address=f"{host}:0", worker_dashboard_address=f"{host}:0",
        # worker threads talk to the scheduler in memory (inproc://); worker processes over TCP on `host`
        **({"host": host, "env": {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}} if processes else {}))
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def dashboard_link(client):
    """The Dask dashboard's address, or None when there is none (bokeh not installed).

    Parameters
    ----------
    client : dask.distributed.Client

    Returns
    -------
    str or None
        The dashboard's URL.
    """
    try:
        info = client.scheduler_info()
        if "dashboard" not in info.get("services", {}):
            return None
        # the scheduler serves its dashboard pages only with bokeh installed where it runs
        if not client.run_on_scheduler(lambda: __import__("importlib.util").util.find_spec("bokeh") is not None):
            return None
        return client.dashboard_link
    except Exception:  # a dashboard is a convenience: never fail a run over it
        return None


# ------------------------------------------------------------------ the task engine


def _call(function, args, kwargs, numba_threads):
    """Run one task; returns ``(value, None)`` or ``(None, error text)`` (the error caught where it happened)."""
    _set_numba_threads(numba_threads)
    try:
        return function(*args, **kwargs), None
    except Exception as error:  # a failed point records its error; the others go on
        return None, f"{type(error).__name__}: {error}"


def run_tasks(function, tasks, client=None, on_result=None, progress=False, desc="fpdiff", numba_threads=1,
              initial=0, total=None):
    """Run ``function(*args, **kwargs)`` for every ``(index, args, kwargs)`` of ``tasks``; call ``on_result``.

    In this process one after another (``client=None``), or as Dask tasks,
    results handled in the order they complete. ``on_result(index, value,
    error)`` runs in this process, once per index: ``error`` is None or the
    error's text (the function raised, or Dask gave up on the task after its
    workers died ``distributed.scheduler.allowed-failures`` times). When a
    worker dies, Dask reruns its tasks elsewhere; only the copy that
    completes reaches ``on_result``, so a consumer that writes results never
    writes a point twice. A tqdm bar counts completed tasks.

    Parameters
    ----------
    function : callable
        The task; picklable to run on a cluster (a module-level function).
    tasks : iterable of (int, tuple, dict)
        ``(index, args, kwargs)`` of each task.
    client : dask.distributed.Client, optional
        Run on Dask (None: one after another in this process).
    on_result : callable, optional
        ``on_result(index, value, error)``, as above.
    progress : bool
        Show a tqdm bar.
    desc : str
        The bar's label.
    numba_threads : int
        Numba threads per task (0 leaves them as they are).
    initial : int
        The bar's start count (a resumed run counts the tasks already done).
    total : int, optional
        The bar's total (default: the tasks plus ``initial``).

    Returns
    -------
    int
        The number of failed tasks.
    """
    tasks = list(tasks)
    failures = 0
    total = len(tasks) + initial if total is None else total
    with tqdm(total=total, initial=initial, desc=desc, unit="task", disable=not progress) as bar:
        if client is None:
            for index, args, kwargs in tasks:
                value, error = _call(function, args, kwargs, numba_threads)
                failures += error is not None
                if on_result is not None:
                    on_result(index, value, error)
                bar.update()
            return failures
        distributed = require_distributed("a client")
        token = uuid.uuid4().hex[:8]
        futures = {client.submit(_call, function, args, kwargs, numba_threads, key=f"fpdiff-{token}-{index}",
                                 pure=False): index for index, args, kwargs in tasks}
        try:
            for future in distributed.as_completed(futures):
                index = futures[future]
                if future.status == "error":
                    exception = future.exception()
                    value, error = None, f"{type(exception).__name__}: {exception}"
                else:
                    value, error = future.result()
                future.release()
                failures += error is not None
                if on_result is not None:
                    on_result(index, value, error)
                bar.update()
        finally:
            client.cancel([f for f in futures if not f.done()])
    return failures


