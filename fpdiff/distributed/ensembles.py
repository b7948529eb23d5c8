"""Sharded particle ensembles: exact shards of ``sample_reverse`` and reductions on the cluster."""

import contextlib
import operator
import os

import h5py
import numpy as np
from tqdm import tqdm

from .._dask import check_client, require_distributed
from .._hdf5 import LIBVER, atomic_path
from ..errors import FpdiffError, InputError
from ..grid import Grid
from ..particles.sharded import check_shards, run_shard, shard_bounds
from ..particles.solve import sample_reverse, start_arguments

# ------------------------------------------------------------------ sharded particles


def sample_sharded(process, score, n_or_y0, *, client, shards=None, **kwargs):
    """``fd.sample_reverse(process, score, n_or_y0, client=client, shards=shards, **kwargs)``, with ``client`` required.

    The particles are split into ``shards`` contiguous index ranges, each run
    on a worker with the noise of its own particles, and gathered: the result
    equals the local run with the same seed bit for bit
    (``fpdiff.particles.sharded`` says how).

    Parameters
    ----------
    process : LinearProcess
    score : Score or callable
    n_or_y0 : int or array_like (M, d)
        As in :func:`fpdiff.sample_reverse`.
    client : dask.distributed.Client
    shards : int, optional
        Number of index ranges (default: the cluster's worker threads).
    **kwargs
        The other arguments of :func:`fpdiff.sample_reverse`.

    Returns
    -------
    ParticleSolution
        As the local run; ``diagnostics`` adds ``shards`` and ``workers``,
        and ``wall_time`` is that of the whole distributed call.
    """
    check_client(client)
    return sample_reverse(process, score, n_or_y0, client=client, shards=shards, **kwargs)


class EnsembleSummary:
    r"""What :func:`sample_ensemble` reduces the end samples of an ensemble to (mergeable shard by shard).

    Parameters
    ----------
    count, mean, m2, edges, histogram, outside, levels, sketch, weights
        The attributes below, as :func:`sample_ensemble` computes them.

    Attributes
    ----------
    count : int
        Particles.
    mean : ndarray (d,)
    m2 : ndarray (d, d)
        :math:`\sum_i (x_i - \bar x)(x_i - \bar x)^T`; ``covariance = m2 / (count - 1)``.
    edges : list of ndarray or None
        Histogram edges per axis.
    histogram : ndarray of int64 or None
        Particle counts per cell (``np.histogramdd`` convention: the last
        edge is included); ``outside`` counts the particles outside the box.
    levels : ndarray (k,) or None
        Probability levels :math:`u_j = (j + 1/2)/k` of the quantile sketch.
    sketch, weights : ndarray (m, d), ndarray (m,) or None
        The quantile sketch: each shard's :math:`k` quantiles at ``levels``
        with weight (shard size)/k each (``m = k`` times the shards).
    """

    def __init__(self, count, mean, m2, edges=None, histogram=None, outside=0, levels=None, sketch=None,
                 weights=None):
        self.count, self.mean, self.m2 = int(count), mean, m2
        self.edges, self.histogram, self.outside = edges, histogram, int(outside)
        self.levels, self.sketch, self.weights = levels, sketch, weights

    @property
    def quantiles(self):
        r"""Approximate marginal quantiles (k, d) at ``levels``: the weighted quantiles of the sketch.

        Each shard's sketch CDF is within :math:`1/k` of its empirical CDF,
        and the weighted mean of such CDFs is within :math:`1/k` of the
        union's; so these quantiles are those of the whole ensemble to
        :math:`1/k` in rank, whatever the number of shards or the merge order.
        """
        if self.sketch is None:
            return None
        quantiles = np.empty((len(self.levels), self.sketch.shape[1]))
        cumulative_levels = self.levels * self.count
        for axis in range(self.sketch.shape[1]):
            order = np.argsort(self.sketch[:, axis], kind="stable")
            cumulative = np.cumsum(self.weights[order])
            index = np.minimum(np.searchsorted(cumulative, cumulative_levels * (1 - 1e-12)), len(order) - 1)
            quantiles[:, axis] = self.sketch[order, axis][index]
        return quantiles

    @classmethod
    def of(cls, samples, edges=None, quantile_levels=0):
        """The summary of one shard's samples (M, d)."""
        mean = samples.mean(axis=0)
        centred = samples - mean
        m2 = centred.T @ centred
        histogram = outside = None
        if edges is not None:
            histogram, _ = np.histogramdd(samples, bins=edges)
            histogram = histogram.astype(np.int64)
            outside = len(samples) - int(histogram.sum())
        levels = sketch = weights = None
        if quantile_levels:
            levels = (np.arange(quantile_levels) + 0.5) / quantile_levels
            sketch = np.quantile(samples, levels, axis=0, method="inverted_cdf")
            weights = np.full(quantile_levels, len(samples) / quantile_levels)
        return cls(len(samples), mean, m2, edges, histogram, outside or 0, levels, sketch, weights)

    @staticmethod
    def merge(a, b):
        r"""The summary of the union of two shards.

        Moments by the pairwise update of Chan, Golub & LeVeque (1979;
        *Updating formulae and a pairwise algorithm for computing sample
        variances*): :math:`\delta = \bar x_b - \bar x_a`,
        :math:`\bar x = \bar x_a + \delta\, n_b/n`,
        :math:`M_2 = M_{2,a} + M_{2,b} + \delta\delta^T n_a n_b / n`.
        Histograms add. Quantile sketches are joined (each shard's
        :math:`k` points keep their weight :math:`n_s/k`), so merging is
        exact and independent of the order (see :attr:`quantiles`).
        """
        n = a.count + b.count
        delta = b.mean - a.mean
        mean = a.mean + delta * (b.count / n)
        m2 = a.m2 + b.m2 + np.outer(delta, delta) * (a.count * b.count / n)
        histogram = None if a.histogram is None else a.histogram + b.histogram
        sketch = weights = None
        if a.sketch is not None:
            sketch, weights = np.concatenate([a.sketch, b.sketch]), np.concatenate([a.weights, b.weights])
        return EnsembleSummary(n, mean, m2, a.edges, histogram, a.outside + b.outside, a.levels, sketch, weights)

    @property
    def covariance(self):
        """The unbiased sample covariance (d, d)."""
        return self.m2 / max(self.count - 1, 1)

    def density(self):
        """The histogram as a density on its cells (count / (M * cell volume))."""
        if self.histogram is None:
            raise InputError("this summary has no histogram: pass `histogram=` edges or a Grid to sample_ensemble")
        volumes = np.ones(self.histogram.shape)
        for axis, edges in enumerate(self.edges):
            shape = [1] * len(self.edges)
            shape[axis] = len(edges) - 1
            volumes = volumes * np.diff(edges).reshape(shape)
        return self.histogram / (self.count * volumes)

    def w1(self, reference):
        r"""1-D Wasserstein-1 distance of the sketch's marginals to ``reference`` samples (n, d), per coordinate.

        :math:`W_1 = \int_0^1 |Q(u) - Q_{ref}(u)|\, du`, by the midpoint rule on
        the sketch's levels; the sketch's rank error :math:`1/k` adds at most
        :math:`(\max - \min)/k` of the samples' range.
        """
        if self.sketch is None:
            raise InputError("this summary has no quantile sketch: pass `quantiles=k` to sample_ensemble")
        reference = np.asarray(reference, dtype=np.float64)
        reference = reference[:, None] if reference.ndim == 1 else reference
        target = np.quantile(reference, self.levels, axis=0, method="inverted_cdf")
        return np.mean(np.abs(self.quantiles - target), axis=0)


def _summarise_shard(process, score, start, first, kwargs, edges, quantile_levels, keep):
    samples = run_shard(sample_reverse, process, score, start, first, kwargs).samples
    summary = EnsembleSummary.of(samples, edges, quantile_levels)
    return {"summary": summary, "samples": samples if keep else None}


def _tree_reduce(client, futures):
    """Merge summaries pairwise on the cluster; the future of the total."""
    while len(futures) > 1:
        merged = [client.submit(EnsembleSummary.merge, futures[i], futures[i + 1], pure=False)
                  for i in range(0, len(futures) - 1, 2)]
        futures = merged + ([futures[-1]] if len(futures) % 2 else [])
    return futures[0]


def sample_ensemble(process, score, n, T, *, client=None, shards=None, histogram=None, quantiles=0, out=None,
                    progress=False, **kwargs):
    r"""A large reverse ensemble reduced shard by shard: histogram, moments, quantile sketch; samples optional.

    The ``n`` particles (drawn from ``process.prior(T, d)``) are split into
    ``shards`` index ranges run like :func:`sample_sharded` (so shard by
    shard they are exactly the particles of a local run with the same seed),
    but each shard's end samples are reduced where they were computed to an
    :class:`EnsembleSummary` (counts on the cells of ``histogram``, mean and
    second central moment, a ``quantiles``-level marginal sketch for W1);
    the summaries are merged pairwise on the cluster and only the total comes
    back. Memory per worker is that of one shard.

    Parameters
    ----------
    process, score, n, T
        As :func:`fpdiff.sample_reverse` (``n`` a number of particles).
    client : dask.distributed.Client, optional
        None: the shards run one after another in this process.
    shards : int, optional
        Index ranges (default: the worker threads; 1 without a client).
    histogram : Grid or sequence of edge arrays, optional
        The cells to count the samples in (a 1-D array: the edges of a 1-D histogram).
    quantiles : int
        Levels :math:`k` of the marginal quantile sketch (0: none).
    out : str or path, optional
        Also write the samples (n, d) to this HDF5 file (dataset
        ``samples``, attributes: the seed and the shard bounds). The file is
        written by this process only: each shard's samples are gathered
        when it completes, written into their rows, and released (HDF5 has
        no safe concurrent writers without MPI, and workers need not share
        a file system); the file appears atomically when all rows are in.
    progress : bool
        A tqdm bar over the completed shards.
    **kwargs
        The other arguments of :func:`fpdiff.sample_reverse` (``gamma``,
        ``t_min``, ``steps``, ``scheme``, ``seed``, ...).

    Returns
    -------
    EnsembleSummary
    """
    if client is not None:
        check_client(client)
    total, y0 = start_arguments(score, n)
    if y0 is not None:
        raise InputError("`n` must be a number of particles (sample_ensemble draws them from the prior)")
    if "save_at" in kwargs:
        raise InputError("sample_ensemble summarises the end samples only: `save_at` is not accepted")
    edges = None
    if histogram is not None:
        edges = list(histogram.edges) if isinstance(histogram, Grid) else (
            [np.asarray(histogram, dtype=np.float64)] if np.ndim(histogram[0]) == 0 else
            [np.asarray(e, dtype=np.float64) for e in histogram])
        for axis, e in enumerate(edges):
            if e.ndim != 1 or len(e) < 2 or not np.all(np.diff(e) > 0):
                raise InputError(f"`histogram` axis {axis}: edges must be increasing, at least 2; got {e!r}")
    if isinstance(quantiles, bool) or not isinstance(quantiles, (int, np.integer)) or quantiles < 0:
        raise InputError(f"`quantiles` must be an integer >= 0 (sketch levels); got {quantiles!r}")
    bounds = shard_bounds(total, check_shards(shards, client))
    kwargs = dict(kwargs, T=T)
    keep = out is not None
    writer = _SampleWriter(out, total, bounds, kwargs.get("seed", 0)) if keep else contextlib.nullcontext()
    with writer:
        if client is None:
            summary = None
            for a, b in tqdm(list(zip(bounds[:-1], bounds[1:])), desc="fpdiff shards", disable=not progress):
                result = _summarise_shard(process, score, b - a, a, kwargs, edges, quantiles, keep)
                summary = result["summary"] if summary is None else EnsembleSummary.merge(summary, result["summary"])
                if keep:
                    writer.write(a, result["samples"])
            return summary
        distributed = require_distributed("sample_ensemble with a client")
        score_future = client.scatter(score, broadcast=False, hash=False)
        shard_futures = [client.submit(_summarise_shard, process, score_future, b - a, a, kwargs, edges, quantiles,
                                       keep, pure=False) for a, b in zip(bounds[:-1], bounds[1:])]
        summaries = [client.submit(operator.getitem, f, "summary", pure=False) for f in shard_futures]
        total_future = _tree_reduce(client, summaries)
        del summaries
        try:
            if keep:
                starts = {f.key: a for f, a in zip(shard_futures, bounds[:-1])}
                samples = {client.submit(operator.getitem, f, "samples", pure=False): starts[f.key]
                           for f in shard_futures}
                for future in distributed.as_completed(samples):
                    writer.write(samples[future], future.result())
                    future.release()
            shard_futures = None
            return total_future.result()
        finally:
            client.cancel([total_future])


class _SampleWriter:
    """Rows of one ``samples`` dataset written shard by shard from this process; atomic on success."""

    def __init__(self, path, total, bounds, seed):
        self.path, self.total, self.bounds, self.seed = os.fspath(path), total, bounds, seed
        self.written = 0

    def __enter__(self):
        self._atomic = atomic_path(self.path)
        temporary = self._atomic.__enter__()
        self.file = h5py.File(temporary, "w", libver=LIBVER)  # checksummed headers, as fpdiff's results files
        self.file.attrs["seed"] = self.seed
        self.file.attrs["shard_bounds"] = np.asarray(self.bounds, dtype=np.int64)
        self.dataset = None
        return self

    def write(self, first, samples):
        if self.dataset is None:
            self.dataset = self.file.create_dataset("samples", shape=(self.total, samples.shape[1]), dtype="f8",
                                                    chunks=(min(self.total, 1 << 16), samples.shape[1]),
                                                    fletcher32=True)
        self.dataset[first:first + len(samples)] = samples
        self.written += len(samples)

    def __exit__(self, kind, error, trace):
        self.file.close()
        if kind is None and self.written != self.total:
            error = FpdiffError(f"only {self.written} of {self.total} samples were written to {self.path!r}")
            self._atomic.__exit__(type(error), error, None)
            raise error
        if kind is None:
            self._atomic.__exit__(None, None, None)
            return False
        self._atomic.__exit__(kind, error, trace)
        return False

