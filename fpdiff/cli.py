"""The ``fpdiff`` command."""

import argparse
import sys

from .errors import FpdiffError


def build_parser():
    parser = argparse.ArgumentParser(prog="fpdiff", description="Fokker–Planck numerics for diffusion models.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="solve a 1-D mixture forward and backward; print a table, save figures")
    demo.add_argument("--out", default="fpdiff-demo", help="folder for the figures (default: ./fpdiff-demo)")
    return parser


def main(argv=None):
    """Entry point of the ``fpdiff`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(args.out)
    except FpdiffError as error:
        print(f"fpdiff: error: {error}", file=sys.stderr)
        return 2
    return 0
