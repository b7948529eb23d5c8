"""Density view: conservative finite volumes with Scharfetter–Gummel fluxes."""

from .naive import solve_naive_reversal
from .operator import FluxOperator
from .reverse import solve_reverse
from .solve import integrate_density, solve_forward
from .steppers import METHODS
from .transport import TransportOperator

__all__ = ["FluxOperator", "TransportOperator", "METHODS", "integrate_density", "solve_forward", "solve_reverse",
           "solve_naive_reversal"]
