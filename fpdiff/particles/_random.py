r"""Counter-based normal numbers: particle ``i``'s noise depends only on ``(seed, i)``.

Every normal number the particle solvers use is a pure function of

.. math::  \xi = N(\text{seed}, \text{stream}, n, \text{slot}, i)_k ,

(the stream says what the numbers are for: prior draws, step noise, the
corrector, Hutchinson probes, ...; ``n`` is the step, ``slot`` a draw within
the step, ``i`` the global particle index, ``k`` the component), so the
samples do not depend on the number of threads, on how the particles are
split into batches, or on how many particles are run: the first 1000
particles of a 10^6-particle run are a 1000-particle run with the same seed.

Construction.

1. Keys by chaining the SplitMix64 finaliser ``mix`` (Steele, Lea & Flood,
   *Fast splittable pseudorandom number generators*, OOPSLA 2014; mixing
   constants of Stafford's "variant 13"), a bijection of 64-bit words with
   full avalanche: :math:`k_s = \mathrm{mix}(\mathrm{mix}(\mathrm{mix}(\mathrm{mix}(\text{seed} + G)
   \oplus c_1\,\text{stream}) \oplus c_2\, n) \oplus c_3\,\text{slot})` once per
   stage, then per particle :math:`k_i = \mathrm{mix}(k_s \oplus c_4\, i)`, with
   distinct odd constants :math:`c_j` and :math:`G = \lfloor 2^{64}/\varphi\rfloor`.
2. Each particle's words are the SplitMix64 sequence
   :math:`w_j = \mathrm{mix}(k_i + j\,G)`, :math:`j = 1, 2, \dots`
3. Normals by the ziggurat method with 128 layers (Marsaglia & Tsang,
   *J. Stat. Softw.* 5(8), 2000) in Doornik's form (ZIGNOR, 2005), which
   draws the layer and the abscissa from independent bits: the low 7 bits of
   a word pick the layer, its top 53 bits the uniform :math:`u \in [-1, 1)`;
   99% of normals cost one word and one multiplication; the wedges and the
   tail (Marsaglia 1964) take further words of the same sequence.

Vectorised (issue 8): a rejection method branches, and LLVM does not turn a
loop with data-dependent branches (nor, on recent Intel targets, table
lookups, which need gathers) into SIMD code. :func:`normal_rows` therefore
splits the work over a block of particles into (1) a branch-free loop across
the particles that computes, for every component ``k``, the word
:math:`w_{k+1}` a particle would use if all its earlier components were
accepted at the first try, with its layer and abscissa ``u`` (two hashes,
a shift and a conversion: SIMD); (2) a scalar loop that looks up the layer's
table entries and accepts ``u x_layer`` (about 98.8% of components), and
(3) for the rows with a rejected component (about 1.2% per component), the
plain sequential ziggurat of the whole row. The numbers are exactly those of
the sequential ziggurat (``normals_reference`` is unchanged).

:func:`normals_reference` is the plain-Python specification of the numba
kernels (the tests check that they agree).
"""

import math

import numpy as np
from numba import int64, prange, uint64

from .._jit import jit
from .._parallel import use_parallel
from .._vmath import inline
from .._validation import as_int
from ..errors import InputError

#: stream numbers: what a block of normals is used for
PRIOR, STEP, CORRECTOR, PROBE, LANGEVIN, FORWARD = 0, 1, 2, 3, 4, 5

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_C_STREAM = np.uint64(0xD6E8FEB86659FD93)
_C_STEP = np.uint64(0xE7037ED1A0B428DB)
_C_SLOT = np.uint64(0x8EBC6AF09C88C6E3)
_C_PARTICLE = np.uint64(0xA0761D6478BD642F)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_LAYER_MASK = np.uint64(0x7F)
_TO_UNIT = 2.0**-53


def _ziggurat_tables(layers=128, r=3.442619855899, v=9.91256303526217e-3):
    r"""Abscissae :math:`x_0 > x_1 = r > \dots > x_{C} = 0` of the layers of equal area ``v`` under
    :math:`e^{-x^2/2}`, and the ratios :math:`x_{i+1}/x_i` (Marsaglia & Tsang 2000; Doornik 2005)."""
    x = np.zeros(layers + 1)
    f = math.exp(-0.5 * r * r)
    x[0] = v / f  # the base layer: a rectangle of area v including the tail beyond r
    x[1] = r
    for i in range(2, layers):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f))
        f = math.exp(-0.5 * x[i] * x[i])
    return x, x[1:] / x[:-1]


_ZIGGURAT_R = 3.442619855899
_ZIGGURAT_X, _ZIGGURAT_RATIO = _ziggurat_tables()


@inline
def _mix(z):
    """SplitMix64 finaliser (a bijection of uint64)."""
    z = uint64(z)
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@inline
def _unit(word):
    """The top 53 bits of a word as a float in [0, 1)."""
    return float(word >> _S11) * _TO_UNIT


@inline  # into its one caller: one compiled kernel less on a cold start
def _ziggurat(state):
    """One standard normal from the SplitMix64 sequence at ``state``; returns ``(z, new state)``."""
    while True:
        state += _GOLDEN
        word = _mix(state)
        layer = int64(word & _LAYER_MASK)
        u = 2.0 * _unit(word) - 1.0
        if abs(u) < _ZIGGURAT_RATIO[layer]:
            return u * _ZIGGURAT_X[layer], state
        if layer == 0:  # the tail beyond r (Marsaglia 1964)
            while True:
                state += _GOLDEN
                a = 1.0 - _unit(_mix(state))
                state += _GOLDEN
                b = 1.0 - _unit(_mix(state))
                x = math.log(a) / _ZIGGURAT_R
                if -2.0 * math.log(b) >= x * x:
                    break
            return (x - _ZIGGURAT_R if u < 0.0 else _ZIGGURAT_R - x), state
        x = u * _ZIGGURAT_X[layer]
        f0 = math.exp(-0.5 * (_ZIGGURAT_X[layer] ** 2 - x * x))
        f1 = math.exp(-0.5 * (_ZIGGURAT_X[layer + 1] ** 2 - x * x))
        state += _GOLDEN
        if f1 + _unit(_mix(state)) * (f0 - f1) < 1.0:
            return x, state


@inline
def stage_key(key, stream, step, slot):
    """Key of the normals ``(stream, step, slot)`` under a seed key."""
    k = _mix(uint64(key) ^ (uint64(stream) * _C_STREAM))
    k = _mix(k ^ (uint64(step) * _C_STEP))
    return _mix(k ^ (uint64(slot) * _C_SLOT))


@jit
def _row_ziggurat(stage, particle, rows, row, dim):
    """The sequential ziggurat normals of one particle into ``rows[row d .. row d + d - 1]``."""
    state = _mix(stage ^ (uint64(particle) * _C_PARTICLE))
    for k in range(dim):
        z, state = _ziggurat(state)
        rows[row * dim + k] = z


@jit
def normal_rows(key, stream, first_particle, step, slot, out, lo, hi):
    """Rows ``lo..hi-1`` of ``out`` (M, d): row ``m`` gets the normals of particle ``first_particle + m``."""
    stage = stage_key(key, stream, step, slot)
    dim = out.shape[1]
    count = hi - lo
    rows = out.reshape(out.size)[lo * dim:hi * dim]  # a view from row lo, indexed from 0
    abscissae = np.empty(dim * count)  # component-major scratch: contiguous across the particles
    layers = np.empty(dim * count, np.int64)
    keys = np.empty(count, np.uint64)
    for m in range(count):  # (1) SIMD: the particles' keys, then the first-try word of every component
        keys[m] = _mix(stage ^ (uint64(first_particle + lo + m) * _C_PARTICLE))
    for k in range(dim):
        increment = uint64(k + 1) * _GOLDEN
        for m in range(count):
            word = _mix(keys[m] + increment)
            layers[k * count + m] = int64(word & _LAYER_MASK)
            abscissae[k * count + m] = 2.0 * (float(int64(word >> _S11)) * _TO_UNIT) - 1.0
    if dim == 1:  # (2) table look-ups and the acceptance test; (3) the rare rejected row
        for m in range(count):
            u = abscissae[m]
            layer = layers[m]
            if abs(u) < _ZIGGURAT_RATIO[layer]:
                rows[m] = u * _ZIGGURAT_X[layer]
            else:
                _row_ziggurat(stage, first_particle + lo + m, rows, m, dim)  # dim, not 1: one compiled variant
        return
    for m in range(count):
        for k in range(dim):
            u = abscissae[k * count + m]
            layer = layers[k * count + m]
            if abs(u) < _ZIGGURAT_RATIO[layer]:
                rows[m * dim + k] = u * _ZIGGURAT_X[layer]
            else:
                _row_ziggurat(stage, first_particle + lo + m, rows, m, dim)
                break


#: rows handled by one work unit of the kernels
BLOCK = 512


@jit(parallel=True)
def fill_normals(key, stream, first_particle, step, slot, out, parallel):
    """Fill ``out`` (M, d): row ``m`` holds the normals of particle ``first_particle + m``."""
    count = out.shape[0]
    n_blocks = (count + BLOCK - 1) // BLOCK
    if parallel:
        for b in prange(n_blocks):
            normal_rows(key, stream, first_particle, step, slot, out, b * BLOCK, min(count, (b + 1) * BLOCK))
    else:
        normal_rows(key, stream, first_particle, step, slot, out, int64(0), count)  # int64: not a literal variant


def check_seed(seed):
    """Validate a seed: an integer in ``[0, 2**63)``."""
    seed = as_int(seed, "seed", minimum=0)
    if seed >= 2**63:
        raise InputError(f"`seed` must be < 2**63; got {seed}")
    return seed


def seed_key(seed):
    """The 64-bit key of a seed (``0 <= seed < 2**63``), as ``numpy.uint64``."""
    with np.errstate(over="ignore"):
        return _mix_reference(np.uint64(seed) + _GOLDEN)


def normals(seed, stream, first_particle, count, dim, step=0, slot=0):
    """The (count, dim) normals of particles ``first_particle, ...`` for one ``(stream, step, slot)``."""
    out = np.empty((count, dim))
    fill_normals(seed_key(check_seed(seed)), stream, first_particle, step, slot, out, use_parallel(count * dim))
    return out


# ------------------------------------------------------------ the specification


def _mix_reference(z):
    with np.errstate(over="ignore"):
        z = np.uint64(z)
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def normals_reference(seed, stream, particles, step, slot, dim):
    """Plain-Python reference of :func:`fill_normals` for a list of particle indices (the specification)."""
    with np.errstate(over="ignore"):
        key = _mix_reference(np.uint64(seed) + _GOLDEN)
        stage = _mix_reference(key ^ (np.uint64(stream) * _C_STREAM))
        stage = _mix_reference(stage ^ (np.uint64(step) * _C_STEP))
        stage = _mix_reference(stage ^ (np.uint64(slot) * _C_SLOT))
        out = np.empty((len(particles), dim))
        for row, particle in enumerate(particles):
            words = _Words(_mix_reference(stage ^ (np.uint64(particle) * _C_PARTICLE)))
            for k in range(dim):
                out[row, k] = _ziggurat_reference(words)
    return out


class _Words:
    """The SplitMix64 sequence mix(state + j G), j = 1, 2, ..."""

    def __init__(self, state):
        self.state = state

    def next(self):
        with np.errstate(over="ignore"):
            self.state = self.state + _GOLDEN
        return _mix_reference(self.state)


def _ziggurat_reference(words):
    x_table, ratio = _ZIGGURAT_X, _ZIGGURAT_RATIO
    while True:
        word = words.next()
        layer = int(word & _LAYER_MASK)
        u = 2.0 * (float(word >> _S11) * _TO_UNIT) - 1.0
        if abs(u) < ratio[layer]:
            return u * x_table[layer]
        if layer == 0:
            while True:
                x = math.log(1.0 - float(words.next() >> _S11) * _TO_UNIT) / _ZIGGURAT_R
                y = math.log(1.0 - float(words.next() >> _S11) * _TO_UNIT)
                if -2.0 * y >= x * x:
                    return x - _ZIGGURAT_R if u < 0.0 else _ZIGGURAT_R - x
        x = u * x_table[layer]
        f0 = math.exp(-0.5 * (x_table[layer] ** 2 - x * x))
        f1 = math.exp(-0.5 * (x_table[layer + 1] ** 2 - x * x))
        if f1 + float(words.next() >> _S11) * _TO_UNIT * (f0 - f1) < 1.0:
            return x
