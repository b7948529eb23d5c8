"""Small helpers the audit's modules share: the learned score's box and outside policy, safe ratios."""

import numpy as np



def inside_box(score, x):
    """Mask of the points ``x`` inside the learned score's ``box`` (a table's, a GridScore's cell centres).

    All True for a score defined everywhere (``box`` None).
    """
    if score.box is None:
        return np.ones(len(x), dtype=bool)
    lo = np.array([a for a, _ in score.box])
    hi = np.array([b for _, b in score.box])
    return np.all((x >= lo) & (x <= hi), axis=1)


def outside_policy(score):
    """What the audit does with :math:`p_t` outside the learned score's box: ``"left out"``, ``"clamped"`` or None."""
    if score.box is None:
        return None
    return "clamped" if score.outside == "clamp" else "left out"


def safe_ratio(numerator, denominator):
    """``numerator / denominator`` elementwise, NaN where the denominator is not positive."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan), where=denominator > 0)
