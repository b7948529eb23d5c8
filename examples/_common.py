"""Plumbing shared by the example scripts: the reduced size, the output folder, tables, the command line.

Every example has ``main(out="...", small=None) -> dict`` and runs from the
command line as ``python examples/NAME.py [--out FOLDER] [--small]``. The
reduced size (seconds instead of up to a minute) is selected by ``small=True``,
by ``--small``, or by the environment variable ``FPDIFF_EXAMPLE_SIZE=small``.
"""

import argparse
import os

import fpdiff.plot

#: environment variable that selects the reduced size ("small") when ``small`` is not given
SIZE_VARIABLE = "FPDIFF_EXAMPLE_SIZE"


def is_small(small):
    """``small`` if given, else whether ``FPDIFF_EXAMPLE_SIZE`` is ``small``."""
    if small is None:
        return os.environ.get(SIZE_VARIABLE, "").strip().lower() == "small"
    return bool(small)


def output_folder(out):
    """Create the folder ``out`` if missing and return its path."""
    os.makedirs(out, exist_ok=True)
    return os.fspath(out)


def save_figure(figure, out, name):
    """Write ``figure`` as ``out/name`` (PNG, atomically), close it, print and return the path."""
    path = fpdiff.plot.save_figure(figure, os.path.join(output_folder(out), name))
    print(f"figure written: {path}")
    return path


def print_table(title, headers, rows):
    """Print a small aligned table; floats in ``%.3g``."""
    cells = [[f"{value:.3g}" if isinstance(value, float) else str(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[k]) for row in cells)) for k, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))


def command_line(main, doc, default_out):
    """Parse ``--out`` and ``--small`` and call ``main``."""
    # sphinx-gallery runs a script without its docstring (it shows it as text): ``doc`` may be empty
    parser = argparse.ArgumentParser(description=(doc or "").strip().partition("\n")[0] or None)
    parser.add_argument("--out", default=default_out, help=f"output folder for the figures (default {default_out})")
    parser.add_argument("--small", action="store_true", default=None,
                        help=f"reduced size (seconds); also {SIZE_VARIABLE}=small")
    arguments = parser.parse_args()
    main(out=arguments.out, small=arguments.small)
