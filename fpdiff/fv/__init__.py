"""Density view: conservative finite volumes with Scharfetter–Gummel fluxes."""

from .operator import FluxOperator
from .solve import integrate_density, solve_forward
from .steppers import METHODS

__all__ = ["FluxOperator", "METHODS", "integrate_density", "solve_forward"]
