r"""Forward noising processes: the linear family :math:`x_t = \alpha_t x_0 + \sqrt{v_t}\,\epsilon`.

* :mod:`~fpdiff.processes.base` — :class:`LinearProcess`, the contract every
  process meets (``alpha``, ``variance``, the SDE's ``drift_rate`` and
  ``diffusion``, the noise level ``sigma`` / ``log_snr`` and their inverses);
* :mod:`~fpdiff.processes.sde` — the classic SDEs in closed form: OU, VP, VE, Brownian;
* :mod:`~fpdiff.processes.schedules` — the schedules of machine-learning code:
  Cosine, the discrete tables (Discrete, LinearDiscrete, ScaledLinear) and EDM.

:func:`process_from_dict` rebuilds any of them from :meth:`LinearProcess.to_dict`, and
:func:`describe_process` says how a file records one; both read :data:`PROCESSES`, the
registry each module fills with its classes (:func:`~fpdiff.processes.base.register`).
"""

from .base import (ARRAY_PARAMETERS, PROCESSES, LinearProcess, check_process, describe_process, process_class,
                   process_from_dict)
from .sde import OU, VE, VP, Brownian  # (the classic SDEs first: the order of PROCESSES)
from .schedules import EDM, Cosine, Discrete, LinearDiscrete, ScaledLinear  # noqa: I001

__all__ = ["LinearProcess", "OU", "VP", "VE", "Brownian", "Cosine", "Discrete", "LinearDiscrete", "ScaledLinear",
           "EDM", "PROCESSES", "ARRAY_PARAMETERS", "process_class", "process_from_dict", "describe_process",
           "check_process"]
