"""Validating what the distances take: grids, densities, samples, and laws that are either (:mod:`fpdiff.metrics`)."""

import numpy as np

from .._validation import as_finite_array
from ..distributions import Empirical
from ..errors import InputError
from ..grid import BOX_MASS_LIMIT, NEGATIVE_TOLERANCE, Grid, format_box
from ..solution import DensitySolution, ParticleSolution


def _check_grid(grid, name="grid"):
    if not isinstance(grid, Grid):
        raise InputError(f"`{name}` must be an fpdiff.Grid; got {type(grid).__name__}")
    return grid


def _solution_grid(solution):
    """The grid of a solution's final snapshot (a co-moving solution moves its grid)."""
    if hasattr(solution, "grid_at"):
        return solution.grid_at(solution.t[-1])
    return solution.grid


def _resolve_grid(grid, *values):
    """``grid`` if given, else the grid of the first :class:`DensitySolution` among ``values``."""
    if grid is not None:
        return _check_grid(grid)
    for value in values:
        if isinstance(value, DensitySolution):
            return _solution_grid(value)
    return None


def _is_samples_object(value):
    return isinstance(value, (ParticleSolution, Empirical))


def _is_distribution(value):
    return not isinstance(value, (np.ndarray, list, tuple, Grid)) and (
        hasattr(value, "cell_average") or callable(value)
    )


def _density(value, grid, name):
    """Cell densities of ``value`` on ``grid`` as a non-negative float64 array of shape ``grid.shape``.

    ``grid`` may be ``None`` only when ``value`` is a :class:`DensitySolution`.
    Returns ``(values, grid)``.
    """
    if isinstance(value, DensitySolution):
        own = _solution_grid(value)
        if grid is not None and own != grid:
            raise InputError(f"`{name}` is a DensitySolution on {own!r}; expected one on the grid given, {grid!r}")
        grid, value = own, value.final
    elif grid is None:
        raise InputError(
            f"`{name}` is a {type(value).__name__}, not a DensitySolution: pass `grid` (an fpdiff.Grid) "
            "to say which cells it lives on"
        )
    elif isinstance(value, ParticleSolution):
        raise InputError(
            f"`{name}` must be a density (cell values, DensitySolution or distribution); got a "
            "ParticleSolution (samples): use `histogram` or `compare`"
        )
    elif _is_distribution(value):
        value = grid.cell_average(value)
    values = as_finite_array(value, name)
    if values.shape != grid.shape:
        raise InputError(
            f"`{name}` must be a density on the grid: cell values of shape {grid.shape}, a DensitySolution or a "
            f"distribution; got an array of shape {values.shape}"
        )
    if values.size and values.min() < 0:
        negative = -float(np.sum(np.minimum(values, 0.0)))
        total = float(np.sum(np.abs(values)))
        if negative > NEGATIVE_TOLERANCE * total:
            where = tuple(int(i) for i in np.unravel_index(np.argmin(values), values.shape))
            raise InputError(
                f"`{name}` must be a non-negative density; min is {values.min():.3g} at cell {where}, "
                f"negative mass {negative * grid.cell_volume:.3g} (relative {negative / total:.2g}, "
                f"round-off tolerance {NEGATIVE_TOLERANCE:g})"
            )
        values = np.maximum(values, 0.0)
    return values, grid


def _density_pair(p, q, grid):
    grid = _resolve_grid(grid, p, q)
    if grid is None:
        raise InputError(
            f"`grid` is needed when neither density is a DensitySolution; got p: {type(p).__name__}, "
            f"q: {type(q).__name__}"
        )
    p, _ = _density(p, grid, "p")
    q, _ = _density(q, grid, "q")
    return p, q, grid


def _samples(value, name, dim=None, against=None):
    """Samples as a float64 ``(M, d)`` array with ``M >= 1`` (and ``d == dim`` when given)."""
    if isinstance(value, ParticleSolution):
        value = value.samples
    elif isinstance(value, Empirical):
        value = value.points
    array = as_finite_array(value, name)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError(f"`{name}` must be samples of shape (M, d), or (M,) in one dimension; got shape {np.shape(value)}")
    if array.shape[0] == 0:
        raise InputError(f"`{name}` must hold at least one sample; got shape {np.shape(value)} (empty)")
    if dim is not None and array.shape[1] != dim:
        raise InputError(
            f"`{name}` must have {dim} coordinate(s) per sample, shape (M, {dim}), like {against}; "
            f"got shape {np.shape(value)}"
        )
    return array



def _law(value, grid, name):
    """Samples or a density as ``("samples", points)`` or ``("density", values, grid)``.

    An array is a density when ``grid`` is given and its shape is
    ``grid.shape``, and samples otherwise.
    """
    if _is_samples_object(value):
        return ("samples", _samples(value, name))
    if isinstance(value, DensitySolution) or _is_distribution(value):
        values, grid = _density(value, grid, name)
        return ("density", values, grid)
    if grid is not None and np.shape(value) == grid.shape:
        values, grid = _density(value, grid, name)
        return ("density", values, grid)
    return ("samples", _samples(value, name))


def _law_dim(law):
    return law[1].shape[1] if law[0] == "samples" else law[2].ndim


def normalised_density(values, grid, name):
    """``(values / mass, mass)``: cell densities scaled to mass 1 on purpose, with the mass they had.

    For callers that compare the law inside the box and report the missing mass beside it (:func:`compare`, the
    audit); raises :class:`InputError` for a density without positive mass.
    """
    mass = _positive_mass(values, grid, name)
    return values / mass, mass


def _positive_mass(values, grid, name):
    """The integral of cell densities ``values``; :class:`InputError` unless it is positive."""
    mass = float(grid.integrate(values))
    if not mass > 0:
        raise InputError(f"`{name}` must have positive mass to be compared as a law; its integral is {mass!r}")
    return mass


def _density_mass(law, name):
    """Cell masses of a density law, which must be a probability law on the grid (mass 1 within the limit).

    A transport distance needs two laws of equal mass. Renormalising a density whose box cuts off part of the law
    would compare the law conditioned on the box, and hide what is missing.
    """
    values, grid = law[1], law[2]
    mass = _positive_mass(values, grid, name)
    if abs(mass - 1.0) > BOX_MASS_LIMIT:
        raise InputError(
            f"`{name}` has mass {mass:.6g} on the grid {format_box(grid)}, not 1 (limit {BOX_MASS_LIMIT:g}): a transport "
            "distance between laws of unequal mass is not defined. If the box cuts off part of the law, enlarge "
            "the grid's bounds (or solve with `comoving=True`); if the law inside the box is what you mean, "
            "normalise it yourself: `values / grid.integrate(values)`"
        )
    return values.ravel() * grid.cell_volume


def _laws(a, b, grid):
    if grid is not None:
        _check_grid(grid)
    law_a, law_b = _law(a, grid, "a"), _law(b, grid, "b")
    dim_a, dim_b = _law_dim(law_a), _law_dim(law_b)
    if dim_a != dim_b:
        raise InputError(f"`a` and `b` must have the same dimension; `a` is {dim_a}-D and `b` is {dim_b}-D")
    return law_a, law_b, dim_a



def _generator(seed):
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`seed` must be an int, None or a numpy Generator; got {seed!r}: {exc}") from None

