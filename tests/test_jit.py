"""The jit wrappers (fpdiff._jit): a kernel's serial and threaded variants compile apart, on demand, and agree."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from numba import int64, prange

from fpdiff._jit import jit, jit_variants

ROOT = Path(__file__).resolve().parents[1]


@jit_variants
def _block_sums(x, out, parallel):
    """``out[b]`` = the sum of block ``b`` (8 values) of ``x``, in order."""
    for b in prange(out.size):
        first = int64(b) * 8
        total = 0.0
        for k in range(first, min(first + 8, x.size)):
            total += x[k]
        out[b] = total


@jit
def _block_sums_from_compiled_code(x, out, parallel):
    _block_sums(x, out, parallel)
    return out.sum()


def _reference(x):
    return np.array([sum(x[k:k + 8].tolist()) for k in range(0, x.size, 8)])


def test_a_serial_call_compiles_the_serial_variant_only_and_both_variants_agree(rng):
    x = rng.normal(size=1001)
    serial, threaded = np.empty(126), np.empty(126)
    _block_sums(x, serial, False)
    assert _block_sums.serial.signatures and not _block_sums.threaded.signatures
    _block_sums(x, threaded, True)
    assert _block_sums.threaded.signatures
    np.testing.assert_array_equal(serial, _reference(x))  # summed in the same order: the same bits
    np.testing.assert_array_equal(threaded, serial)
    assert _block_sums.__doc__.startswith("``out[b]``") and _block_sums.__name__ == "_block_sums"


def test_compiled_code_calls_either_variant_by_the_flag(rng):
    x = rng.normal(size=100)
    for parallel in (False, True):
        out = np.empty(13)
        assert _block_sums_from_compiled_code(x, out, parallel) == _reference(x).sum()
        np.testing.assert_array_equal(out, _reference(x))


MODULE = '''
from numba import prange
from fpdiff._jit import jit_variants

@jit_variants
def double(x, parallel):
    for k in prange(x.size):
        x[k] *= 2.0
'''

CALL = '''
import sys, numpy as np, kernels
parallel = sys.argv[1] == "threaded"
x = np.ones(5)
kernels.double(x, parallel)
assert (x == 2.0).all()
variant = kernels.double.threaded if parallel else kernels.double.serial
print(sum(variant.stats.cache_hits.values()), sum(variant.stats.cache_misses.values()))
'''


def test_the_variants_have_cache_entries_of_their_own(tmp_path):
    """numba's cache index tells compilations apart by signature, not by the ``parallel`` flag: without names of
    their own, the serial variant would load the threaded one's code from the cache (or the reverse)."""
    (tmp_path / "kernels.py").write_text(textwrap.dedent(MODULE))
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
                       PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))

    def hits_and_misses(variant):
        done = subprocess.run([sys.executable, "-c", CALL, variant], capture_output=True, text=True,
                              env=environment, cwd=tmp_path, check=True)
        return tuple(int(n) for n in done.stdout.split())

    assert hits_and_misses("threaded") == (0, 1)
    assert hits_and_misses("serial") == (0, 1)  # compiled, not the threaded code from the cache
    assert hits_and_misses("serial") == (1, 0)
    assert hits_and_misses("threaded") == (1, 0)


def test_parallel_may_be_given_by_keyword_from_python(rng):
    x = rng.normal(size=20)
    out = np.empty(3)
    _block_sums(x, out, parallel=False)
    np.testing.assert_array_equal(out, _reference(x))
    _block_sums(x=x, out=out, parallel=True)
    np.testing.assert_array_equal(out, _reference(x))
