"""Small helpers the audit's modules share: the learned score's box and outside policy, names, safe ratios."""

import numpy as np

from ..scores import EmpiricalScore, ExactScore, GridScore, TabulatedScore


def inside_box(score, x):
    """Mask of the points ``x`` inside the learned score's table box (or GridScore grid); all True for other scores."""
    if isinstance(score, TabulatedScore):
        lo = np.array([a for a, _ in score.box])
        hi = np.array([b for _, b in score.box])
    elif isinstance(score, GridScore):
        lo = np.array([c[0] for c in score.grid.centers])
        hi = np.array([c[-1] for c in score.grid.centers])
    else:
        return np.ones(len(x), dtype=bool)
    return np.all((x >= lo) & (x <= hi), axis=1)


def outside_policy(score):
    """What the audit does with :math:`p_t` outside the learned score's box: ``"left out"``, ``"clamped"`` or None."""
    if isinstance(score, TabulatedScore):
        return "left out" if score.outside == "raise" else "clamped"
    if isinstance(score, GridScore):
        return "left out"
    return None


def describe(score):
    """A one-line description of ``score`` for the report's settings."""
    if isinstance(score, TabulatedScore):
        return (f"TabulatedScore ({'x'.join(map(str, score.shape))} nodes, {len(score.t)} times, "
                f"outside={score.outside!r})")
    if isinstance(score, ExactScore):
        return f"ExactScore of {type(score.dist0).__name__}"
    if isinstance(score, EmpiricalScore):
        return f"EmpiricalScore ({len(score.points)} points)"
    if isinstance(score, GridScore):
        return f"GridScore ({'x'.join(map(str, score.grid.shape))} cells)"
    return type(score).__name__


def safe_ratio(numerator, denominator):
    """``numerator / denominator`` elementwise, NaN where the denominator is not positive."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan), where=denominator > 0)
