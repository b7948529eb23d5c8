"""The checks of :func:`fpdiff.audit.audit`'s arguments: each names the argument, what was expected and what came."""

import numpy as np

from .._validation import as_finite_array, as_float
from ..errors import InputError
from ..grid import Grid
from ..processes.base import LinearProcess
from ..scores.base import Score, as_score

#: lower end of the default t_min (the solvers' default)
DEFAULT_T_MIN = 1e-3
#: particles of the particle view when ``particles`` is not given (a score, not scores at points)
DEFAULT_PARTICLES = 20000


def check_scores(learned, reference, process):
    """``(reference, learned, process)``: the reference checked, the process chosen, ``learned`` made a Score."""
    if not isinstance(reference, Score) or (reference.dist0 is None and reference.grid is None):
        raise InputError("`reference` must be an ExactScore, EmpiricalScore or GridScore (a score whose law p_t "
                         f"is known); got {type(reference).__name__}")
    if process is None:
        process = getattr(learned, "process", None) or reference.process
    if not isinstance(process, LinearProcess):
        raise InputError("`process` must be an fpdiff process (a LinearProcess), or None to take the learned "
                         f"score's; got {type(process).__name__}")
    for name, score in (("learned", learned), ("reference", reference)):
        own = getattr(score, "process", None)
        if isinstance(score, Score) and own is not None and own != process:
            raise InputError(f"`{name}` belongs to {own!r}, but the audit's `process` is {process!r}")
    learned = as_score(learned, reference.dim, process, name="learned")
    return reference, learned, process


def check_interval(learned, reference, T, t_min):
    """``(T, t_min)``: given or defaulted, inside the time range both scores cover."""
    lo = max(float(learned.t_range[0]), float(reference.t_range[0]))
    hi = min(float(learned.t_range[1]), float(reference.t_range[1]))
    if T is None:
        if not np.isfinite(hi):
            raise InputError("`T` is needed: neither score has a finite time range; pass e.g. T=1.0")
        T = hi
    T = as_float(T, "T", positive=True)
    t_min = max(DEFAULT_T_MIN, lo) if t_min is None else as_float(t_min, "t_min", positive=True)
    if not t_min < T:
        raise InputError(f"`t_min` must be < `T`; got t_min={t_min:.6g}, T={T:.6g}")
    if t_min < lo or T > hi:
        raise InputError(f"[t_min, T] = [{t_min:.6g}, {T:.6g}] must lie in the time range both scores cover, "
                         f"[{lo:.6g}, {hi:.6g}] (learned {_range(learned)}, reference {_range(reference)})")
    return T, t_min


def _range(score):
    lo, hi = score.t_range
    return f"[{lo:.6g}, {hi:.6g}]"


def audit_times(times, learned, T, t_min):
    """The audit times: given (with ``t_min`` and ``T`` added) or the default of :func:`~fpdiff.audit.audit`."""
    if times is None:
        if learned.tables is not None:
            nodes = learned.t[(learned.t > t_min) & (learned.t < T)]
            nodes = np.concatenate([[t_min], nodes, [T]])
            return np.sort(np.concatenate([nodes, 0.5 * (nodes[1:] + nodes[:-1])]))
        return np.geomspace(t_min, T, 33)
    values = np.atleast_1d(as_finite_array(times, "times"))
    if values.ndim != 1 or values.size == 0:
        raise InputError(f"`times` must be a non-empty 1-D array of times; got shape {np.shape(times)}")
    tolerance = 1e-12 * T
    if np.any(values < t_min - tolerance) or np.any(values > T + tolerance):
        raise InputError(f"`times` must lie in [t_min, T] = [{t_min:.6g}, {T:.6g}]; got values from "
                         f"{values.min():.6g} to {values.max():.6g}")
    values = np.union1d(np.clip(values, t_min, T), [t_min, T])
    return values[np.concatenate([[True], np.diff(values) > tolerance])]


def check_options(options, name, reserved):
    """A copy of the keyword options ``options`` (``{}`` for None), none of them among ``reserved``."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise InputError(f"`{name}` must be a dict of keyword options or None; got {type(options).__name__}")
    clashes = sorted(set(options) & set(reserved))
    if clashes:
        raise InputError(f"`{name}` must not set {clashes}: pass them as arguments of audit (the audit sets "
                         f"{', '.join(reserved)} itself)")
    return dict(options)


def check_points(points, name, dim):
    """``points`` as a finite (n, dim) array (a 1-D array is n points in one dimension)."""
    array = as_finite_array(points, name)
    if array.ndim == 1 and dim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != dim or array.shape[0] == 0:
        raise InputError(f"`{name}` must be points of shape (n, {dim}) with n >= 1; got shape {np.shape(points)}")
    return array


def check_grid(grid, dim):
    """``grid``: None, or an fpdiff Grid in ``dim`` dimensions."""
    if grid is not None:
        if not isinstance(grid, Grid):
            raise InputError(f"`grid` must be an fpdiff.Grid or None; got {type(grid).__name__}")
        if grid.ndim != dim:
            raise InputError(f"`grid` must be {dim}-D like the scores; got a {grid.ndim}-D grid")
    return grid


def check_point_options(**options):
    """Refuse the options of :func:`~fpdiff.audit.audit` that need a score between points, for scores at points."""
    given = [name for name, value in options.items() if value is not None and not (name == "particles" and value == 0)]
    if given:
        raise InputError(f"{', '.join('`' + name + '`' for name in given)} cannot be used with scores at points "
                         "(`learned` is a ScoreSamples, the point layout of a score file): the solvers, the "
                         "memorisation check and other audit times need the score between the stored points; "
                         "leave them out (the audit uses the stored points and times)")


def check_point_scores(samples, reference, process):
    """``(reference, process)`` for a point-layout ``learned`` (:class:`ScoreSamples`): same process and dimension."""
    if not isinstance(reference, Score) or reference.dist0 is None:
        raise InputError("`reference` must be an ExactScore or EmpiricalScore to audit scores at points (its law "
                         "p_t is sampled and evaluated in closed form, in any dimension); got "
                         f"{type(reference).__name__}")
    if process is None:
        if samples.process != reference.process:
            raise InputError(f"`learned` belongs to {samples.process!r} but `reference` to {reference.process!r}: "
                             "the scores of two processes are different fields (a score file records its "
                             "process; `fpdiff info FILE` shows it)")
        process = samples.process
    if not isinstance(process, LinearProcess):
        raise InputError("`process` must be an fpdiff process (a LinearProcess), or None to take the learned "
                         f"score's; got {type(process).__name__}")
    for name, own in (("learned", samples.process), ("reference", reference.process)):
        if own != process:
            raise InputError(f"`{name}` belongs to {own!r}, but the audit's `process` is {process!r}: a score "
                             "file records its process (`fpdiff info FILE` shows it)")
    if samples.dim != reference.dim:
        raise InputError(f"`learned` holds scores at points in {samples.dim} dimension(s), but `reference` is "
                         f"{reference.dim}-D")
    if samples.points.shape[1] < 2:
        raise InputError("`learned` must hold >= 2 points per time (a standard error needs two); got "
                         f"{samples.points.shape[1]}")
    return reference, process


def stored_times(samples, reference, T, t_min):
    """Indices of the stored times of ``samples`` in ``[t_min, T]`` (default: all), and ``(T, t_min)`` as used."""
    t = samples.t
    T = float(t[-1]) if T is None else as_float(T, "T", positive=True)
    t_min = float(t[0]) if t_min is None else as_float(t_min, "t_min", positive=True)
    tolerance = 1e-12 * max(T, 1.0)
    index = np.flatnonzero((t >= t_min - tolerance) & (t <= T + tolerance))
    if len(index) < 2:
        raise InputError(f"`learned` holds {len(index)} of its stored times {_times(t)} in [t_min, T] = "
                         f"[{t_min:.6g}, {T:.6g}]: the time integrals need >= 2; widen [t_min, T]")
    lo, hi = reference.t_range
    if t[index[0]] < lo or t[index[-1]] > hi:
        raise InputError(f"the stored times {_times(t[index])} must lie in `reference`'s time range "
                         f"[{lo:.6g}, {hi:.6g}]")
    return index, float(t[index[-1]]), float(t[index[0]])


def _times(t):
    return f"[{t[0]:.6g}, ..., {t[-1]:.6g}] ({len(t)} times)" if len(t) > 3 else str([float(f"{v:.6g}") for v in t])
