"""Sorting float64 values by their bits: a least-significant-digit radix sort, 2.5-5x ``np.sort`` for 10^4 to 10^6.

A sliced distance sorts the projection of a sample set on every direction (128 sorts of :math:`10^5` values for one
comparison in two dimensions), which made the sort most of a sweep point's time. A float64 is mapped to an unsigned
integer that orders the same way (the sign bit set for a non-negative value, every bit flipped for a negative one),
then sorted in six passes of 11 bits, each a stable counting sort; a pass whose digit is the same for every value is
skipped. The result equals ``np.sort``'s for finite values (``-0.0`` comes before ``0.0``, which ``np.sort`` leaves
in either order: equal values, so nothing computed from the sorted values changes).
"""

import numpy as np

from .._jit import jit

#: bits per digit: 6 passes for 64 bits, tables of 2048 counts (16 KiB each) that stay in the L1/L2 cache
DIGIT_BITS = 11
#: below this many values ``np.sort`` is as fast (the six count tables would dominate)
RADIX_MIN = 4096


def sort_values(values):
    """``values`` (a 1-D float64 array of finite numbers) sorted in increasing order, as a new array.

    Parameters
    ----------
    values : ndarray
        1-D, float64, finite (NaN would be placed by its sign bit).

    Returns
    -------
    ndarray
        The sorted values.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.size < RADIX_MIN:
        return np.sort(values)
    return _radix_sort(values)


@jit
def _radix_sort(values):
    n = values.size
    passes = (64 + DIGIT_BITS - 1) // DIGIT_BITS
    mask = np.uint64((1 << DIGIT_BITS) - 1)
    sign = np.uint64(1) << np.uint64(63)
    keys = np.empty(n, np.uint64)
    raw = values.view(np.uint64)
    counts = np.zeros((passes, 1 << DIGIT_BITS), np.int64)
    for i in range(n):  # the ordered keys, and every pass's digit counts in one read
        key = raw[i]
        key = ~key if key & sign else key | sign
        keys[i] = key
        for d in range(passes):
            counts[d, (key >> np.uint64(DIGIT_BITS * d)) & mask] += 1
    source, target = keys, np.empty_like(keys)
    for d in range(passes):
        shift = np.uint64(DIGIT_BITS * d)
        count = counts[d]
        if count[(source[0] >> shift) & mask] == n:  # one digit for all: this pass would move nothing
            continue
        start = 0
        for digit in range(count.size):  # counts to the start of each digit's run
            size = count[digit]
            count[digit] = start
            start += size
        for i in range(n):
            key = source[i]
            digit = (key >> shift) & mask
            target[count[digit]] = key
            count[digit] += 1
        source, target = target, source
    result = np.empty(n, np.float64)
    bits = result.view(np.uint64)
    for i in range(n):
        key = source[i]
        bits[i] = key & ~sign if key & sign else ~key
    return result
