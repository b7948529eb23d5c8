"""Parameter sweeps: the product of axes run through a function or an experiment, as a table."""

import math

import numpy as np

from ..errors import InputError
from .._dask import check_client
from .cluster import run_tasks

# ------------------------------------------------------------------ sweeps


def sweep_points(axes):
    """The product of the sweep ``axes``, as a list of dicts (last axis fastest).

    Parameters
    ----------
    axes : dict
        ``{name: [values]}``, each list non-empty.

    Returns
    -------
    list of dict
        One ``{name: value}`` per point (numpy scalars as Python numbers).
    """
    if not isinstance(axes, dict) or not axes:
        raise InputError(f"`axes` must be a non-empty dict of name -> list of values; got {axes!r}")
    for name, values in axes.items():
        if not isinstance(name, str):
            raise InputError(f"`axes`: names must be strings; got {name!r}")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise InputError(f"`axes[{name!r}]` must be a non-empty list of values; got {values!r}")
    points = [{}]
    for name, values in axes.items():
        points = [{**point, name: _plain(value)} for point in points for value in values]
    return points


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class SweepTable:
    """The result of a sweep: one row per point (or per point and gamma for experiments), as columns.

    Parameters
    ----------
    axes : list of str
        The sweep's axis names.
    rows : list of dict
        The rows (``point``, the axes, the metrics, ``error``); missing
        metrics are filled with NaN and a missing ``error`` with ``""``.

    Attributes
    ----------
    axes : list of str
        The sweep's axis names (the first columns).
    columns : list of str
        Every column: ``point`` (the index of the point in the product),
        the axes, the metrics, and ``error`` (``""`` for points that ran).
    rows : list of dict
        One dict per row, keyed by the columns; a failed point has one row,
        with its error text and NaN metrics.
    """

    def __init__(self, axes, rows):
        self.axes = list(axes)
        self.rows = list(rows)
        metrics = []
        for row in self.rows:
            metrics += [key for key in row if key not in metrics and key not in self.axes
                        and key not in ("point", "error")]
        self.columns = ["point", *self.axes, *metrics, "error"]
        for row in self.rows:
            for key in metrics:
                row.setdefault(key, math.nan)
            row.setdefault("error", "")

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, name):
        return self.column(name)

    def column(self, name):
        """The column ``name`` as an array (numbers as float, text as object)."""
        if name not in self.columns:
            raise InputError(f"no column {name!r}; columns: {', '.join(self.columns)}")
        values = [row[name] for row in self.rows]
        try:
            return np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            return np.array(values, dtype=object)

    @property
    def failed(self):
        """The rows of the points that failed."""
        return [row for row in self.rows if row["error"]]

    def to_pandas(self):
        """The table as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("SweepTable.to_pandas needs pandas: pip install pandas") from None
        return pandas.DataFrame(self.rows, columns=self.columns)

    def __str__(self):
        def cell(value):
            if isinstance(value, float):
                return "-" if math.isnan(value) else f"{value:.4g}"
            return str(value)

        table = [self.columns] + [[cell(row[c]) for c in self.columns] for row in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(self.columns))]
        return "\n".join("  ".join(text.rjust(width) for text, width in zip(line, widths)).rstrip()
                         for line in table)

    def __repr__(self):
        return f"<SweepTable {len(self.rows)} rows x {len(self.columns)} columns>\n{self}"


def sweep(fn, axes, client=None, *, progress=False, numba_threads=1):
    r"""Run the product of ``axes`` through a function; a table of the results.

    Parameters
    ----------
    fn : callable
        ``fn(**point) -> dict of metrics`` (or a list of such dicts: several
        rows for the point), called once per point of the product with the
        axis values as keyword arguments; it must be picklable to run on a
        cluster (a module-level function). (``fd.sweep`` also takes an
        experiment: :func:`fpdiff.sweep`.)
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
        Columns ``point``, the axes, the metrics, ``error``. A point whose
        function raised has its error text and NaN metrics; the others complete.

    Examples
    --------
    >>> table = fd.sweep(lambda gamma, steps: {"w1": ...}, {"gamma": [0, 1], "steps": [50, 100]})
    >>> table.column("w1"), table.to_pandas()
    """
    if not callable(fn):
        raise InputError(f"`fn` must be a function fn(**point) -> dict of metrics; got {type(fn).__name__}")
    points = sweep_points(axes)
    return run_sweep(fn, points, [((), point) for point in points], list(axes), client, progress=progress,
                     numba_threads=numba_threads)


def run_sweep(function, points, arguments, axes, client=None, *, progress=False, numba_threads=1):
    """Run ``function(*args, **kwargs)`` for each ``(args, kwargs)`` of ``arguments``; rows labelled by ``points``.

    The engine of :func:`sweep`.

    Parameters
    ----------
    function : callable
        Returns a dict of metrics (or a list of them: several rows); picklable for a cluster.
    points : list of dict
        The coordinates of each task (dicts over ``axes``), in the order of ``arguments``.
    arguments : list of (tuple, dict)
        The ``(args, kwargs)`` of each task.
    axes : list of str
        The axis names.
    client : dask.distributed.Client, optional
        Run the tasks on Dask (None: serially in this process).
    progress : bool
        A tqdm bar over the completed tasks.
    numba_threads : int
        Numba threads per task (0 leaves them as they are).

    Returns
    -------
    SweepTable
        One row per point (per metrics dict of a list); a failed task has
        one row with its error text.
    """
    if client is not None:
        check_client(client)
    rows = [None] * len(points)

    def collect(index, value, error):
        rows[index] = (value, error)

    run_tasks(function, [(i, args, kwargs) for i, (args, kwargs) in enumerate(arguments)], client, collect,
              progress=progress, desc="fpdiff sweep", numba_threads=numba_threads)
    table = []
    for index, (point, (value, error)) in enumerate(zip(points, rows)):
        if error is not None:
            table.append({"point": index, **point, "error": error})
            continue
        values = value if isinstance(value, list) else [value]
        for metrics in values:
            if not isinstance(metrics, dict):
                table.append({"point": index, **point,
                              "error": f"the function returned {type(metrics).__name__}, not a dict of metrics"})
                break
            table.append({"point": index, **point, **{k: _plain(v) for k, v in metrics.items()}})
    return SweepTable(axes, table)
