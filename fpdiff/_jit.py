"""The one numba jit wrapper with the project's flags.

Every kernel is a top-level function compiled with ``cache=True`` (so the
compile cost is paid once per machine, not per process) and without
``fastmath`` (which would let the compiler assume there is no NaN/inf, and
the solvers' blow-up checks rely on seeing them).
"""

import numba


def jit(function=None, *, parallel=False):
    """Compile ``function`` with numba in nopython mode, cached, optionally parallel."""
    decorate = numba.njit(cache=True, parallel=parallel, nogil=True, error_model="numpy")
    return decorate if function is None else decorate(function)
