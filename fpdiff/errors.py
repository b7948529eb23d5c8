"""Exception types of fpdiff.

Every error fpdiff raises on purpose is a :class:`FpdiffError`; each concrete
type also subclasses the builtin a caller would naturally catch, so
``except ValueError`` keeps working for bad input.
"""


class FpdiffError(Exception):
    """Base class of every error raised by fpdiff on purpose."""


class InputError(FpdiffError, ValueError):
    """An argument has the wrong form, shape, type or value."""


class FormatError(FpdiffError, ValueError):
    """A file does not follow the format fpdiff expects."""


class BlowUpError(FpdiffError, FloatingPointError):
    """A solver produced NaN/inf, negative mass, or grew without bound.

    ``t`` is the forward time at which it happened, where the solver knows it
    (``None`` otherwise); the message says it too.
    """

    def __init__(self, message, t=None):
        super().__init__(message)
        self.t = None if t is None else float(t)
