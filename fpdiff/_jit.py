"""The project's numba jit wrappers: :func:`jit` with the project's flags, and :func:`jit_variants` for kernels
that run on one thread or on all.

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

Compile time (``benchmarks/bench_cold_start.py``): numba compiles each
kernel apart, and then again, into every kernel that calls it, all the code
it calls (LLVM optimises and emits the caller's module with its callees
linked in). A helper with one caller is therefore ``inline=True``: numba
pastes its code into the caller before typing, and it is compiled once, as
part of the caller. Not whole call trees: the fused time loop with its
stage kernels and their helpers pasted into one function compiled several
times slower than in parts (LLVM's passes grow faster than the size of a
function). And not into a caller with other ``fastmath`` flags: pasted code
is compiled with the caller's.
"""

import functools
import types

import numba
from numba.extending import overload


def jit(function=None, *, parallel=False, contract=False, reassociate=False, inline=False):
    """Compile ``function`` with numba in nopython mode, cached, optionally parallel, with FMA contraction, with
    reassociation, and inlined into its callers (``inline``, see the module docstring)."""
    flags = {"contract"} if contract else set()
    if reassociate:
        flags.add("reassoc")
    decorate = numba.njit(cache=True, parallel=parallel, nogil=True, error_model="numpy", fastmath=flags or False,
                          inline="always" if inline else "never")
    return decorate if function is None else decorate(function)


def _renamed(function, suffix):
    """A copy of ``function`` whose qualified name ends in ``suffix``.

    numba names a function's cache files after its module and qualified name,
    and its cache index tells compilations apart by signature and bytecode
    only, not by the compile flags: two compilations of one function with and
    without ``parallel`` need two names, or one would load the other's code.
    """
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__, function.__defaults__,
                              function.__closure__)
    copy.__qualname__ = function.__qualname__ + suffix
    copy.__module__ = function.__module__
    return copy


def jit_variants(function=None, **flags):
    """Compile ``function`` twice, lazily: with its ``prange`` loops run in the calling thread, and on all threads.

    The kernel's last argument, ``parallel``, picks the variant: a call from
    Python compiles (on its first use) and runs the threaded variant when it
    is true and the serial one otherwise; a call from compiled code picks one
    of the two at run time (both are compiled into the caller; arguments by
    position only). The serial variant is only ever called with ``parallel``
    false and the threaded one with it true. Both compute the same numbers:
    the loop bodies are the same code, run in the same order within each
    iteration (``fpdiff._parallel``).

    Why two: numba compiles every ``prange`` loop of a ``parallel=True``
    function into a threaded kernel of its own, whatever the flag at the
    call, and that takes several times as long as the serial loop
    (``benchmarks/bench_cold_start.py``). Most first calls are small problems
    that run serially (:func:`fpdiff._parallel.use_parallel`), so they now
    compile the serial variant only.

    Parameters
    ----------
    function : callable
        The kernel; ``flags`` are those of :func:`jit`.

    Returns
    -------
    callable
        A plain Python function with the kernel's signature and docstring; its
        ``serial`` and ``threaded`` attributes are the two numba dispatchers.
    """
    if function is None:
        return lambda function: jit_variants(function, **flags)
    serial = jit(function, **flags)
    threaded = jit(_renamed(function, "__threaded"), parallel=True, **flags)

    @functools.wraps(function)
    def call(*args, **keywords):
        return (threaded if keywords.get("parallel", args[-1] if args else False) else serial)(*args, **keywords)

    call.serial, call.threaded = serial, threaded

    def compiled(*args):  # the implementation of `call` inside compiled code
        return lambda *args: threaded(*args) if args[-1] else serial(*args)

    overload(call)(compiled)
    return call
