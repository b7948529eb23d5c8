r"""A branch-free ``exp`` that LLVM vectorises across the iterations of a numba loop.

numba compiles ``math.exp`` to a call into the C library, one number at a
time: a loop over particles that calls it runs scalar (numba has no vector
math library unless Intel's SVML is installed). :func:`vexp` is plain
arithmetic on ``float64`` plus a bit cast, with selects instead of branches,
so a loop whose body uses it compiles to SIMD instructions (4 numbers per
instruction with AVX2/AVX-512 at LLVM's preferred 256-bit width). It is
accurate to a few units in the last place (the tests compare it with numpy's
libm over the whole range): Cody–Waite reduction :math:`x = n\ln 2 + r`,
:math:`|r| \le \ln 2/2` (Cody & Waite, *Software Manual for the Elementary
Functions*, 1980, ch. 6), :math:`e^r` by its Taylor polynomial of degree 13
(remainder :math:`|r|^{14}/14! < 5\cdot 10^{-18}`), :math:`2^n` built in the
exponent bits. Callers compiled with ``jit(contract=True)`` evaluate the
polynomial with FMA instructions.

The bit cast is a one-instruction numba intrinsic (LLVM ``bitcast``). Small
helpers of the vectorised loops are compiled with :func:`inline` (numba
inlines them into the caller's IR before LLVM sees it: LLVM's own inliner
declines some of them, and a call in a loop stops it from vectorising).
"""

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic


def inline(function):
    """The project's jit flags (:func:`fpdiff._jit.jit`) with numba-level inlining into every caller."""
    return numba.njit(function, inline="always", cache=True, nogil=True, error_model="numpy")


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose IEEE bits are the 64-bit integer ``bits``."""
    if not (isinstance(bits, types.Integer) and bits.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(bits), codegen


_LOG2E = 1.4426950408889634
# ln 2 split (fdlibm): the high part has 32 significant bits, so n * _LN2_HI is exact for |n| < 2^20
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
#: below this exp(x) is 0 here (true value < 3.3e-308: a weight that cannot matter against a total >= 1)
EXP_UNDERFLOW = -708.0
_EXP_OVERFLOW = 709.78


@inline
def vexp(x):
    """``exp(x)``, branch-free; 0 below :data:`EXP_UNDERFLOW`, inf above 709.78, NaN for NaN."""
    n = np.floor(x * _LOG2E + 0.5)  # a float (math.floor would convert NaN and inf to an integer)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!, then Horner down to 1
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = n if n > -1021.0 else -1021.0  # NaN selects -1021: a valid exponent, and p is NaN anyway
    k = k if k < 1024.0 else 1024.0
    value = (2.0 * p) * _as_float((int(k) + 1022) << 52)  # 2^n as 2 * 2^(n-1): n = 1024 near overflow
    value = value if not x <= EXP_UNDERFLOW else 0.0  # NaN fails both comparisons and keeps p's NaN
    return math.inf if x > _EXP_OVERFLOW else value
