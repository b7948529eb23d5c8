"""Reference solvers from other codes, for cross-checks and benchmarks (not for production).

:func:`solve_forward_fipy` solves the forward Fokker–Planck equation with
FiPy on the same mesh as an fpdiff grid. FiPy is imported only when the
function is called, so importing this package is cheap.
"""

from .fipy_solver import solve_forward_fipy

__all__ = ["solve_forward_fipy"]
