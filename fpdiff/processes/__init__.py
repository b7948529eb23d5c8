r"""Forward noising processes: the linear family :math:`x_t = \alpha_t x_0 + \sqrt{v_t}\,\epsilon`.

* :mod:`~fpdiff.processes.base` — :class:`LinearProcess`, the contract every
  process meets (``alpha``, ``variance``, the SDE's ``drift_rate`` and
  ``diffusion``, the noise level ``sigma`` / ``log_snr`` and their inverses);
* :mod:`~fpdiff.processes.sde` — the classic SDEs in closed form: OU, VP, VE, Brownian;
* :mod:`~fpdiff.processes.schedules` — the schedules of machine-learning code:
  Cosine, the discrete tables (Discrete, LinearDiscrete, ScaledLinear) and EDM.

:func:`process_from_dict` rebuilds any of them from :meth:`LinearProcess.to_dict`.
"""

import json

import numpy as np

from ..errors import InputError
from .base import LinearProcess, check_process
from .schedules import EDM, Cosine, Discrete, LinearDiscrete, ScaledLinear
from .sde import OU, VE, VP, Brownian

__all__ = ["LinearProcess", "OU", "VP", "VE", "Brownian", "Cosine", "Discrete", "LinearDiscrete", "ScaledLinear",
           "EDM", "PROCESSES", "ARRAY_PARAMETERS", "process_class", "process_from_dict", "describe_process",
           "check_process"]

#: every process kind by its class name (the ``kind`` of :meth:`LinearProcess.to_dict`)
PROCESSES = {cls.__name__: cls for cls in (OU, VP, VE, Brownian, Cosine, Discrete, LinearDiscrete, ScaledLinear, EDM)}
_SPELLINGS = {name.lower(): name for name in PROCESSES}
#: the array parameters of each kind, stored by files as datasets (a kind not named here has numbers only)
ARRAY_PARAMETERS = {"Discrete": ("alphas_cumprod",)}


def process_class(kind):
    """The process class named ``kind``: a class name, in any case, with ``-`` or ``_`` allowed between words.

    ``"VP"``, ``"cosine"``, ``"scaled-linear"``, ``"scaled_linear"`` and
    ``"ScaledLinear"`` all name a class; anything else raises :class:`InputError`.
    """
    name = _SPELLINGS.get(str(kind).lower().replace("-", "").replace("_", "")) if isinstance(kind, str) else None
    if name is None:
        raise InputError(f"process `kind` must be one of {sorted(PROCESSES)} (any case; '-' or '_' between words); "
                         f"got {kind!r}")
    return PROCESSES[name]


def process_from_dict(description):
    """Rebuild a process from :meth:`LinearProcess.to_dict` output (``kind`` spelled as :func:`process_class` allows)."""
    description = dict(description)
    return process_class(description.pop("kind", None))(**description)


def describe_process(process, name="process"):
    """``(scalars, arrays)``: how a file records ``process``; InputError unless it rebuilds exactly ``process``.

    ``scalars`` is :meth:`~fpdiff.processes.LinearProcess.to_dict` without
    its array parameters (JSON-ready: ``kind`` and numbers), ``arrays`` maps
    each array parameter (:class:`~fpdiff.Discrete`'s ``alphas_cumprod``) to
    a float64 array, stored as a dataset rather than as a list of numbers in
    the JSON. Only the processes of :data:`fpdiff.processes.PROCESSES` can be
    described: a user's own :class:`~fpdiff.processes.LinearProcess` subclass
    works in the solvers, but no reader could rebuild it from a file, so it
    is refused here rather than written into a file that would not load.
    """
    check_process(process, name)
    kind = type(process).__name__
    if PROCESSES.get(kind) is not type(process):
        raise InputError(f"`{name}` {kind} cannot be stored in a file: a file describes a process by its kind and "
                         f"parameters, and only fpdiff's processes ({', '.join(PROCESSES)}) can be rebuilt from "
                         f"them; a LinearProcess subclass of your own works in the solvers but not in files: "
                         f"express it as one of these (a Discrete table of alphas_cumprod fits any "
                         f"variance-preserving schedule)")
    description = process.to_dict()
    arrays = {key: np.asarray(description[key], dtype=np.float64) for key in ARRAY_PARAMETERS.get(kind, ())}
    scalars = json.loads(json.dumps({key: value for key, value in description.items() if key not in arrays}))
    if process_from_dict({**scalars, **arrays}) != process:  # a parameter that JSON or float64 cannot hold
        raise InputError(f"`{name}` {process!r} does not survive being written: its description rebuilds "
                         "another process")
    return scalars, arrays
