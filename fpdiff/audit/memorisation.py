"""Memorisation: generated samples against the training set, by nearest-neighbour distances."""

import numpy as np
from scipy.spatial import cKDTree

from ._common import safe_ratio
from .result import Memorisation

#: the d1/d2 threshold below which a generated sample counts as a copy of a training point
MEMORISATION_RATIO = 1.0 / 3.0


def memorisation_check(generated, train, held_out, held_out_source="held_out"):
    r"""Nearest-training-point distances of generated samples against held-out points.

    For each generated point: :math:`d_1` (nearest training point) and
    :math:`d_2` (second nearest), by :class:`scipy.spatial.cKDTree`; a point
    is *memorised* when :math:`d_1 / d_2 <` :data:`MEMORISATION_RATIO`
    (Yoon et al. 2023; Gu et al. 2023, eq. (1)). The same for the held-out
    points gives the baseline of data the model never saw.

    Parameters
    ----------
    generated : array_like (M, d)
        Samples of the model.
    train : array_like (n, d)
        The training points.
    held_out : array_like (K, d)
        Points of the data law not trained on (or fresh samples of the reference).
    held_out_source : {"held_out", "reference"}
        Where ``held_out`` comes from, recorded in the result.

    Returns
    -------
    Memorisation
    """
    tree = cKDTree(train)
    neighbours = min(2, len(train))

    def distances(points):
        d, _ = tree.query(points, k=neighbours)
        d = np.asarray(d).reshape(len(points), neighbours)
        ratio = safe_ratio(d[:, 0], d[:, 1]) if neighbours == 2 else None
        return d[:, 0], ratio

    generated_distance, generated_ratio = distances(generated)
    held_out_distance, held_out_ratio = distances(held_out)
    median_generated = float(np.median(generated_distance))
    median_held_out = float(np.median(held_out_distance))

    def fraction(ratio):
        return None if ratio is None else float(np.mean(np.nan_to_num(ratio, nan=0.0) < MEMORISATION_RATIO))

    return Memorisation(
        generated_distance=generated_distance, held_out_distance=held_out_distance,
        generated_ratio=generated_ratio, held_out_ratio=held_out_ratio,
        median_generated=median_generated, median_held_out=median_held_out,
        median_ratio=median_generated / median_held_out if median_held_out > 0 else float("inf"),
        fraction_memorised=fraction(generated_ratio), fraction_memorised_held_out=fraction(held_out_ratio),
        held_out_source=held_out_source, n_train=len(train))
