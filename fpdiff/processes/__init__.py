r"""Forward noising processes: the linear family :math:`x_t = \alpha_t x_0 + \sqrt{v_t}\,\epsilon`.

* :mod:`~fpdiff.processes.base` — :class:`LinearProcess`, the contract every
  process meets (``alpha``, ``variance``, the SDE's ``drift_rate`` and
  ``diffusion``, the noise level ``sigma`` / ``log_snr`` and their inverses);
* :mod:`~fpdiff.processes.sde` — the classic SDEs in closed form: OU, VP, VE, Brownian;
* :mod:`~fpdiff.processes.schedules` — the schedules of machine-learning code:
  Cosine, the discrete tables (Discrete, LinearDiscrete, ScaledLinear) and EDM.

:func:`process_from_dict` rebuilds any of them from :meth:`LinearProcess.to_dict`.
"""

from ..errors import InputError
from .base import LinearProcess
from .schedules import EDM, Cosine, Discrete, LinearDiscrete, ScaledLinear
from .sde import OU, VE, VP, Brownian

__all__ = ["LinearProcess", "OU", "VP", "VE", "Brownian", "Cosine", "Discrete", "LinearDiscrete", "ScaledLinear",
           "EDM", "PROCESSES", "process_class", "process_from_dict", "check_process"]

#: every process kind by its class name (the ``kind`` of :meth:`LinearProcess.to_dict`)
PROCESSES = {cls.__name__: cls for cls in (OU, VP, VE, Brownian, Cosine, Discrete, LinearDiscrete, ScaledLinear, EDM)}
_SPELLINGS = {name.lower(): name for name in PROCESSES}


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


def check_process(process, name="process"):
    """Return ``process`` if it is an fpdiff process (a :class:`LinearProcess`), else raise :class:`InputError`.

    The one check of the solvers and scores: a user's subclass of
    :class:`LinearProcess` passes.
    """
    if not isinstance(process, LinearProcess):
        raise InputError(f"`{name}` must be an fpdiff process ({', '.join(PROCESSES)}, or a LinearProcess "
                         f"subclass); got {type(process).__name__}")
    return process


def process_from_dict(description):
    """Rebuild a process from :meth:`LinearProcess.to_dict` output (``kind`` spelled as :func:`process_class` allows)."""
    description = dict(description)
    return process_class(description.pop("kind", None))(**description)
