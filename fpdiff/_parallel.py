r"""The one rule for running a kernel call on all numba threads: :func:`use_parallel`.

Every kernel with a ``parallel`` flag (``prange`` over blocks of work, or a
plain loop over the same blocks) gives the same numbers bit for bit either
way: each block is computed by the same code in the same order, and the
blocks write disjoint outputs. Threads pay a fixed start-up cost per call
(waking the pool and joining it: about 5 microseconds on two cores, more with
more threads), so a call runs on all threads only when its work is large
enough.

``work`` counts the inner-loop iterations of one call, each a few
floating-point operations and at most one exponential or normal draw:

==============================  ==============================================
kernel                          work
==============================  ==============================================
finite-volume operator          cells of the grid
particle / Langevin scores      particles x centres (components, points)
mixture score, denoiser         points x components (training points)
tabulated score                 points x table corners (:math:`2^d`)
normal draws                    particles x dimension
homogeneous score               points x data points x quadrature nodes
homogeneous paths               paths x (data points x nodes) x ``max_steps``
==============================  ==============================================

The threshold comes from ``benchmarks/bench_parallel_threshold.py`` (fastest
call, 2 threads, AMD EPYC): the parallel call first wins at 4,096
iterations of the cheapest iteration measured (a 1-D mixture-score term,
about 1.7 ns; 7 microseconds of serial work), at 512 faces of the
Scharfetter–Gummel weights (11 ns each) and at about 2,048 normal draws.
:data:`PARALLEL_WORK` is 4 times the cheapest crossover: at it, every kernel
measured runs at least 1.5 times faster on two threads, and the margin
absorbs the larger start-up cost of a wider thread pool. Below it a call
gives up at most a few tens of microseconds.
"""

#: inner-loop iterations of a kernel call from which it runs on all threads (see the module docstring)
PARALLEL_WORK = 16384


def use_parallel(work):
    """Whether a kernel call of ``work`` inner-loop iterations runs on all numba threads.

    Parameters
    ----------
    work : int
        The call's inner-loop iterations (the module docstring lists what
        each kernel counts).

    Returns
    -------
    bool
        ``work >= PARALLEL_WORK``.
    """
    return work >= PARALLEL_WORK
