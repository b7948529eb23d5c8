"""Exception types of fpdiff.

Every error fpdiff raises on purpose is a :class:`FpdiffError`; each concrete
type also subclasses the builtin a caller would naturally catch, so
``except ValueError`` keeps working for bad input.
"""


class FpdiffError(Exception):
    """Base class of every error raised by fpdiff on purpose."""


class InputError(FpdiffError, ValueError):
    """An argument has the wrong form, shape, type or value."""


class DomainError(InputError):
    """Points lie where a score is not defined (outside the box of a tabulated or grid score)."""


class FormatError(FpdiffError, ValueError):
    """A file does not follow the format fpdiff expects."""


class BlowUpError(FpdiffError, FloatingPointError):
    """A solver produced NaN/inf, negative mass, or grew without bound.

    Parameters
    ----------
    message : str
        What happened, and what to do about it.
    t : float, optional
        The forward time at which it happened, where the solver knows it
        (``None`` otherwise; the message says it too). Kept as the attribute ``t``.
    """

    def __init__(self, message, t=None):
        super().__init__(message)
        self.t = None if t is None else float(t)


class FpdiffWarning(UserWarning):
    """Base class of the warnings fpdiff issues: a result that is computed but may not mean what it seems."""


class MassWarning(FpdiffWarning):
    """The grid's box does not hold the law a density solve describes.

    Mass that starts outside the box, an exact end law the box cuts off, or
    mass that leaves through an absorbing boundary is missing from the answer, which
    then describes a different law, however good it looks. The limit is
    :data:`fpdiff.grid.BOX_MASS_LIMIT`; the diagnostics of the solution
    hold the numbers.
    """
