r"""The one rule for running a kernel call on all numba threads: :func:`use_parallel`.

Every kernel with a ``parallel`` flag (``prange`` over blocks of work, or a
plain loop over the same blocks) gives the same numbers bit for bit either
way: each block is computed by the same code in the same order, and the
blocks write disjoint outputs. Threads pay a fixed start-up cost per call
(waking the pool and joining it: about 5 microseconds on two cores, more with
more threads), so a call runs on all threads only when its work is large
enough. The two ways are two compilations of the kernel
(:func:`fpdiff._jit.jit_variants`): a process whose calls all stay below the
threshold never compiles the threaded one, which takes several times as
long to compile.

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
call, 2 threads, AMD EPYC; the table is in ``benchmarks/RESULTS.md``). On the
idle machine the threaded call first wins at 4,096 iterations of the
cheapest iteration measured (a 1-D mixture-score term, about 1.7 ns: 7
microseconds of serial work), at 512 faces of the Scharfetter–Gummel weights
(11 ns each) and at about 2,048 normal draws; with other processes on the
cores these crossovers move up by a factor of 2 to 4. :data:`PARALLEL_WORK`
is 8 times the cheapest idle crossover: from it on, every kernel measured
runs at least 1.75 times faster on two threads (of at most 2), so the
threads are only started where they nearly halve the time, and the margin
covers the larger start-up cost of a wider pool and a thread that another
process has descheduled (a threaded call can then wait a scheduler time
slice, which a serial call never does). Below it a call gives up at most
about 25 microseconds (the cheapest kernel) to 170 (the weights, whose
iterations cost most).
"""

#: inner-loop iterations of a kernel call from which it runs on all threads (see the module docstring)
PARALLEL_WORK = 32768


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
