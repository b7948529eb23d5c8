"""The version of fpdiff (one place: the package, its files and ``fpdiff --version`` read it)."""

__version__ = "0.1.0"
