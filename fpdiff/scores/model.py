r"""Scores from a model's own callable: a network that predicts eps, x0, v or the score from its own time input.

A trained diffusion model is a function ``fn(x, time)`` of the noisy points
and of *its* time variable (diffusers' integer timestep, k-diffusion's sigma,
a log-SNR, fpdiff's forward time ``t``), and it predicts one of four
quantities. :class:`ModelScore` turns it into an fpdiff :class:`~fpdiff.Score`
(usable by :func:`~fpdiff.solve_reverse`, :func:`~fpdiff.sample_reverse`,
:func:`~fpdiff.log_likelihood` and :func:`~fpdiff.audit`) through the forward
process :math:`X_t = \alpha_t X_0 + \sqrt{v_t}\,\varepsilon`.

Parametrisations
----------------
With :math:`\alpha = \alpha_t`, :math:`v = v_t`, :math:`n = \sqrt{\alpha^2 + v}`
and the model's output :math:`V`, the score :math:`s` and the denoiser
:math:`\hat x_0` are both affine in :math:`V`, :math:`s = A V + B x` and
:math:`\hat x_0 = C V + D x` (the two related by Tweedie's formula
:math:`s = (\alpha \hat x_0 - x)/v`):

===================  ============================  ================================  =============================
``parametrization``  the model predicts V          score s = A V + B x               denoiser xhat0 = C V + D x
===================  ============================  ================================  =============================
``"score"``          s                             V                                 (x + v V) / alpha
``"eps"``            eps                           -V / sqrt(v)                      (x - sqrt(v) V) / alpha
``"x0"``             x0                            (alpha V - x) / v                 V
``"v"``              (alpha eps - sqrt(v) x0) / n  -alpha V / (sqrt(v) n) - x / n^2  alpha x / n^2 - sqrt(v) V / n
===================  ============================  ================================  =============================

diffusers' ``prediction_type`` spellings are accepted too: ``"epsilon"`` (eps), ``"sample"`` (x0),
``"v_prediction"`` (v).

**v-prediction for any process.** Salimans & Ho (2022) define
:math:`v = a_t\varepsilon - s_t x_0` for a variance-preserving process
:math:`x = a_t x_0 + s_t \varepsilon`, :math:`a_t^2 + s_t^2 = 1`. A general
process is one after the rescaling :math:`\tilde x = x/n`:
:math:`\tilde x = a_t x_0 + s_t\varepsilon` with :math:`a_t = \alpha_t/n`,
:math:`s_t = \sqrt{v_t}/n`, and :math:`v = a_t\varepsilon - s_t x_0` is the
row above. Inverting, :math:`\varepsilon = a_t v + s_t \tilde x` and
:math:`x_0 = a_t \tilde x - s_t v`, which give the score
:math:`-\varepsilon/\sqrt{v_t}` and the denoiser in the table. For a
variance-preserving process (:class:`~fpdiff.VP`, :class:`~fpdiff.Cosine`,
:class:`~fpdiff.Discrete`: :math:`n = 1`) it is diffusers'
``v = sqrt(abar) eps - sqrt(1 - abar) x0``; for :math:`\alpha = 1`,
:math:`v_t = \sigma^2` (:class:`~fpdiff.EDM`, :class:`~fpdiff.VE`) it is
:math:`(\varepsilon - \sigma x_0)/\sqrt{1 + \sigma^2}`, k-diffusion's
``VDenoiser`` (whose :math:`\sigma_{data} = 1`). Score *files*
(``docs/score-format.md``) store :math:`n` times this value (their ``v`` is
:math:`\alpha\varepsilon - \sqrt v\, x_0`); the two agree where :math:`n = 1`.

Time input
----------
``time_input`` says what the model's time argument is, as a function of
fpdiff's forward time :math:`t`: ``"t"`` (:math:`t` itself), ``"sigma"``
(:math:`\sigma(t) = \sqrt{v_t}/\alpha_t`, ``process.sigma``), ``"log-snr"``
(:math:`\lambda(t) = \log(\alpha_t^2/v_t)`, ``process.log_snr``), ``"index"``
(diffusers' timestep of a :class:`~fpdiff.Discrete` schedule,
``process.index_of_t(t)``: fractional between the table's steps), or a
callable ``t -> time`` (a float). The model gets it as a float64 array of
shape ``(M,)`` (one entry per point, all equal: what a diffusers model's batch
of timesteps is, and what an MLP concatenates to its input), or as a Python
float with ``time_shape="scalar"``.
"""

import numpy as np

from .._validation import as_finite_array, as_int, as_points, check_choice
from ..errors import BlowUpError, InputError
from ..processes.base import check_process
from ..processes.schedules import Discrete
from .base import Score
from .field import coefficients

#: accepted spellings of each parametrisation (fpdiff's, then diffusers' ``prediction_type``)
PARAMETRIZATION_ALIASES = {"score": "score", "eps": "eps", "epsilon": "eps", "x0": "x0", "sample": "x0",
                           "v": "v", "v_prediction": "v"}

TIME_INPUTS = ("t", "sigma", "log-snr", "index")

TIME_SHAPES = ("batch", "scalar")


class ModelScore(Score):
    r"""The score of a model ``fn(x, time)`` that predicts eps, x0, v or the score (the conversions: :doc:`/models`).

    Evaluated from Python once per stage by the particle solvers (the slow
    path, whose overhead over the model's own batched evaluation is measured
    in ``benchmarks/bench_model_score.py``), at the face centres by the grid
    solvers, at samples by the audit.

    Parameters
    ----------
    fn : callable
        ``fn(x, time) -> (M, d)``: ``x`` is a float64 array ``(M, d)``, ``time``
        the model's time input (``time_shape``); the output is anything
        :func:`numpy.asarray` turns into an ``(M, d)`` array (a CPU torch
        tensor without grad is fine; :meth:`from_torch` and :meth:`from_jax`
        convert for their libraries).
    process : LinearProcess
        The forward process the model was trained with (it converts the
        parametrisation and the time).
    parametrization : {"eps", "x0", "v", "score", "epsilon", "sample", "v_prediction"}
        What the model predicts (diffusers' spellings accepted).
    time_input : {"t", "sigma", "log-snr", "index"} or callable
        The model's time variable as a function of fpdiff's forward time ``t``;
        ``"index"`` needs a :class:`~fpdiff.Discrete` process; a callable maps
        the float ``t`` to a float.
    batch_size : int, optional
        Evaluate at most this many points per call of ``fn`` (memory); the
        result is that of one call for a model that treats points independently.
    dim : int, optional
        The model's dimension. Needed where fpdiff draws the points itself
        (``sample_reverse(process, score, n, ...)`` with a number ``n``);
        without it the score takes points of any dimension.
    time_shape : {"batch", "scalar"}
        ``"batch"`` (default): ``time`` is a float64 array ``(M,)``;
        ``"scalar"``: a Python float.
    t_range : (float, float), optional
        The forward times the model is valid for (default: ``t > 0`` up to
        the process's ``t_max``); a time outside raises :class:`InputError`.
    name : str, optional
        The model's name in messages (default: ``fn``'s qualified name).

    Raises
    ------
    InputError
        On a bad argument; when ``fn`` returns another shape than ``(M, d)``.
    BlowUpError
        When ``fn`` returns NaN or inf (the message names the model, the time
        and the model's time input).
    """

    def __init__(self, fn, process, parametrization="eps", time_input="t", batch_size=None, *, dim=None,
                 time_shape="batch", t_range=None, name=None):
        if not callable(fn):
            raise InputError(f"`fn` must be a callable fn(x, time) of the model; got {type(fn).__name__}")
        self.fn = fn
        self.process = check_process(process)
        if parametrization not in PARAMETRIZATION_ALIASES:
            raise InputError(f"`parametrization` must be one of {', '.join(map(repr, PARAMETRIZATION_ALIASES))}; "
                             f"got {parametrization!r}")
        self.parametrization = PARAMETRIZATION_ALIASES[parametrization]
        self.time_input = _check_time_input(time_input, self.process)
        self.batch_size = None if batch_size is None else as_int(batch_size, "batch_size", minimum=1)
        self.dim = None if dim is None else as_int(dim, "dim", minimum=1)
        self.time_shape = check_choice(time_shape, "time_shape", TIME_SHAPES)
        self.t_range = _check_t_range(t_range, self.process)
        self.name = str(name) if name is not None else getattr(fn, "__qualname__", type(fn).__name__)

    # ---------------------------------------------------------------- adapters

    @classmethod
    def from_torch(cls, module, process, parametrization="eps", time_input="t", batch_size=None, *, device=None,
                   dtype=None, **options):
        r"""A :class:`ModelScore` of a PyTorch module ``module(x, time)`` (imports :mod:`torch` only here).

        Each call converts ``x`` (float64 numpy) and ``time`` to tensors of
        ``dtype`` on ``device``, runs the module under
        :func:`torch.inference_mode` (no autograd graph) and converts the output
        back to float64 numpy. The module is put in eval mode (dropout off,
        batch norm on its running statistics) and is not moved.

        Parameters
        ----------
        module : torch.nn.Module or callable
            Called as ``module(x, time)`` with tensors; wrap a module of
            another signature in a small ``nn.Module`` or function.
        process, parametrization, time_input, batch_size
            As for :class:`ModelScore`.
        device : str or torch.device, optional
            Where the inputs go (default: the device of the module's first
            parameter, else ``"cpu"``).
        dtype : torch.dtype or {"float32", "float64"}, optional
            The inputs' dtype (default: that of the module's first parameter,
            else float32).
        **options
            ``dim``, ``time_shape``, ``t_range``, ``name`` of :class:`ModelScore`.
        """
        import torch  # the optional dependency, imported only when a torch model is used

        if not callable(module):
            raise InputError(f"`module` must be a torch module (or callable) module(x, time); got "
                             f"{type(module).__name__}")
        parameter = next(iter(module.parameters()), None) if isinstance(module, torch.nn.Module) else None
        if dtype is None:
            dtype = parameter.dtype if parameter is not None else torch.float32
        elif isinstance(dtype, str):
            if dtype not in ("float32", "float64"):
                raise InputError(f"`dtype` must be a torch dtype or 'float32' or 'float64'; got {dtype!r}")
            dtype = getattr(torch, dtype)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise InputError(f"`dtype` must be a floating torch dtype; got {dtype!r}")
        device = torch.device(device if device is not None else parameter.device if parameter is not None
                              else "cpu")
        if isinstance(module, torch.nn.Module):
            module.eval()

        def as_tensor(array):
            return torch.from_numpy(array).to(device=device, dtype=dtype)  # no copy for float64 on the CPU

        def run(x, time):
            with torch.inference_mode():
                time = as_tensor(time) if isinstance(time, np.ndarray) else time
                out = module(as_tensor(x), time)
            return out.detach().to("cpu").numpy() if isinstance(out, torch.Tensor) else out

        options.setdefault("name", type(module).__name__)
        return cls(run, process, parametrization, time_input, batch_size, **options)

    @classmethod
    def from_jax(cls, fn, process, parametrization="eps", time_input="t", batch_size=None, *, dtype="float32",
                 jit=True, **options):
        r"""A :class:`ModelScore` of a JAX function ``fn(x, time)`` (imports :mod:`jax` only here).

        ``fn`` is compiled with :func:`jax.jit` (``jit=False`` leaves it as
        given); each call converts ``x`` and ``time`` to JAX arrays of
        ``dtype`` and the output back to float64 numpy. A new number of points
        compiles again: keep ``batch_size`` (or the number of particles)
        fixed to compile once or twice.

        **Precision.** JAX computes in float32 unless 64-bit mode is on
        (``jax.config.update("jax_enable_x64", True)`` before any array is
        made). ``dtype="float32"`` (default) works either way, with scores
        accurate to float32 round-off (relative ~1e-7, more near
        :math:`t \to 0` where :math:`1/\sqrt{v_t}` amplifies it);
        ``dtype="float64"`` needs 64-bit mode and raises :class:`InputError`
        without it rather than silently computing in float32.

        Parameters
        ----------
        fn : callable
            A JAX-traceable ``fn(x, time) -> (M, d)``.
        process, parametrization, time_input, batch_size
            As for :class:`ModelScore`.
        dtype : {"float32", "float64"}
        jit : bool
        **options
            ``dim``, ``time_shape``, ``t_range``, ``name`` of :class:`ModelScore`.
        """
        import jax  # the optional dependency, imported only when a JAX model is used
        import jax.numpy as jnp

        if not callable(fn):
            raise InputError(f"`fn` must be a JAX function fn(x, time); got {type(fn).__name__}")
        check_choice(dtype, "dtype", ("float32", "float64"))
        if dtype == "float64" and not jax.config.jax_enable_x64:
            raise InputError("`dtype` = 'float64' needs JAX's 64-bit mode: call "
                             "jax.config.update('jax_enable_x64', True) first, or use dtype='float32'")
        compiled = jax.jit(fn) if jit else fn
        numpy_dtype = np.dtype(dtype)

        def run(x, time):
            time = jnp.asarray(time.astype(numpy_dtype)) if isinstance(time, np.ndarray) else time
            return np.asarray(compiled(jnp.asarray(x.astype(numpy_dtype, copy=False)), time))

        options.setdefault("name", getattr(fn, "__qualname__", type(fn).__name__))
        return cls(run, process, parametrization, time_input, batch_size, **options)

    # ---------------------------------------------------------------- the Score contract

    def describe(self):
        time = self.time_input if isinstance(self.time_input, str) else "callable"
        return f"ModelScore of {self.name} ({self.parametrization}, time input {time})"

    def score(self, x, t):
        """:math:`\\nabla_x \\log p(x, t)` from the model's output (the conversions of :doc:`/models`)."""
        t = self.check_time(t)
        return self._score(self._points(x), t)

    def xhat0(self, x, t):
        r"""The denoiser :math:`\hat x_0 = C V + D x` from the model's output (Tweedie-consistent with :meth:`score`).
        """
        t = self.check_time(t)
        x = self._points(x)
        _, _, c, d = coefficients(self.process, t, self.parametrization)
        output = self.model_output(x, t)
        return c * output + d * x if d else c * output

    def model_output(self, x, t):
        """The model's raw output ``V`` at points ``x`` (M, d) and forward time ``t``, checked and in batches."""
        time = self.model_time(t)
        count = len(x)
        if self.batch_size is None or count <= self.batch_size:
            return self._call(x, time, t)
        output = np.empty_like(x)
        for first in range(0, count, self.batch_size):
            output[first:first + self.batch_size] = self._call(x[first:first + self.batch_size], time, t)
        return output

    def model_time(self, t):
        """The model's time input at forward time ``t`` (a float)."""
        if callable(self.time_input):
            return self.time_input(t)
        if self.time_input == "t":
            return t
        if self.time_input == "sigma":
            return float(self.process.sigma(t))
        if self.time_input == "log-snr":
            return float(self.process.log_snr(t))
        return float(self.process.index_of_t(t))

    def _score(self, x, t):
        a, b, _, _ = coefficients(self.process, t, self.parametrization)
        output = self.model_output(x, t)
        return a * output + b * x if b else a * output

    def _points(self, x):
        """``x`` as float64 ``(M, d)``; any d when :attr:`dim` is None (a 1-D array is M points in 1-D)."""
        if self.dim is not None:
            return as_points(x, self.dim)
        array = as_finite_array(x, "x")
        if array.ndim not in (1, 2) or array.shape[-1] == 0:
            raise InputError(f"`x` must have shape (M, d); got {array.shape}")
        return as_points(array, 1 if array.ndim == 1 else array.shape[1])

    def _call(self, x, time, t):
        """One call of the model on ``x``; its output as float64 ``(M, d)``, or raise naming the model and time."""
        if self.time_shape == "batch":
            time = np.full(len(x), time, dtype=np.float64)
        output = np.asarray(self.fn(x, time), dtype=np.float64)
        if output.shape != x.shape:
            raise InputError(f"the model {self.name} returned shape {output.shape} for points of shape {x.shape} "
                             f"at t = {t:.6g}: it must return one {self.parametrization} value per point, (M, d)")
        if not np.all(np.isfinite(output)):
            row = int(np.argmax(~np.all(np.isfinite(output), axis=1)))
            raise BlowUpError(f"the model {self.name} returned NaN or inf at t = {t:.6g} "
                              f"({self._time_text(t)}), first at point {row} (x = {x[row].tolist()})", t=t)
        return output

    def _time_text(self, t):
        if callable(self.time_input):
            return f"model time input {self.model_time(t)!r}"
        return f"model time input {self.time_input} = {self.model_time(t):.6g}"


def _check_time_input(time_input, process):
    if callable(time_input):
        return time_input
    if time_input == "log_snr":
        time_input = "log-snr"
    if time_input not in TIME_INPUTS:
        raise InputError(f"`time_input` must be one of {', '.join(map(repr, TIME_INPUTS))} or a callable "
                         f"t -> model time; got {time_input!r}")
    if time_input == "index" and not isinstance(process, Discrete):
        raise InputError(f"`time_input` = 'index' (diffusers' timestep) needs a Discrete schedule (fd.Discrete, "
                         f"fd.LinearDiscrete, fd.ScaledLinear, Discrete.from_diffusers); got {process!r}: use "
                         "'t', 'sigma', 'log-snr' or a callable")
    return time_input


def _check_t_range(t_range, process):
    if t_range is None:
        return (np.finfo(float).tiny, float(process.t_max))
    try:
        lo, hi = (float(value) for value in t_range)
    except (TypeError, ValueError):
        raise InputError(f"`t_range` must be a pair (t_lo, t_hi) of times; got {t_range!r}") from None
    if not 0 < lo < hi <= process.t_max:
        raise InputError(f"`t_range` must satisfy 0 < t_lo < t_hi <= {process.t_max:g} (the process's t_max); "
                         f"got {t_range!r}")
    return lo, hi
