"""The entry point of the ``fpdiff`` console script, outside the package.

Importing :mod:`fpdiff` (numpy, numba, h5py, ...) takes a moment, and a
Ctrl-C during it happens before :func:`fpdiff.app.cli.main` exists to catch it:
this module catches it, so that the command ends with one line and exit
status 130 rather than a traceback.
"""

import sys


def main():
    try:
        from fpdiff.app.cli import main as fpdiff_main
    except KeyboardInterrupt:
        print("fpdiff: interrupted", file=sys.stderr)
        return 130
    return fpdiff_main()
