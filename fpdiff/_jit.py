"""The one numba jit wrapper with the project's flags.

Every kernel is a top-level function compiled with ``cache=True`` (so the
compile cost is paid once per machine, not per process) and without
``fastmath`` (which would let the compiler assume there is no NaN/inf, and
the solvers' blow-up checks rely on seeing them). ``contract=True`` allows
only the fusion of a multiplication and an addition into one FMA instruction
(LLVM's ``contract`` flag: one rounding instead of two, NaN and inf kept),
which roughly halves the cost of polynomial kernels such as
:func:`fpdiff._vmath.vexp`. ``reassociate=True`` (LLVM's ``reassoc``) lets a
sum be reordered, so that a reduction loop runs in SIMD lanes; NaN and inf
still propagate (the sum of the lanes is NaN if any term is).
"""

import numba


def jit(function=None, *, parallel=False, contract=False, reassociate=False):
    """Compile ``function`` with numba in nopython mode, cached, optionally parallel, with FMA contraction and
    with reassociation."""
    flags = {"contract"} if contract else set()
    if reassociate:
        flags.add("reassoc")
    decorate = numba.njit(cache=True, parallel=parallel, nogil=True, error_model="numpy", fastmath=flags or False)
    return decorate if function is None else decorate(function)
