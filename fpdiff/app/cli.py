"""The ``fpdiff`` command: ``demo``, ``run``, ``audit-score``, ``info`` and ``bench``.

Every problem with the user's input ends as one line ``fpdiff: error: ...``
on stderr and exit status 2; Ctrl-C ends with one line and exit status 130
(an interrupted ``run`` can be continued with ``--resume``); output cut off
by a closed pipe (``fpdiff info FILE | head``) ends quietly.
"""

import argparse
import os
import sys

from .._version import __version__
from ..errors import FpdiffError
from ..scores.tabulated import OUTSIDE_POLICIES
from . import commands
from .commands import BENCHMARKS


def build_parser():

    parser = argparse.ArgumentParser(prog="fpdiff", description="Fokker–Planck numerics for diffusion models.")
    parser.add_argument("--version", action="version", version=f"fpdiff {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="a one-minute tour: forward and reverse solves of a 1-D mixture, "
                                            "grid and particles; a table, results.h5 and figures")
    demo.add_argument("--out", default="fpdiff-demo", help="folder for results.h5 and figures (default: ./fpdiff-demo)")
    demo.add_argument("--particles", type=int, default=100_000, help="particles per gamma (default: 100000)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")

    run = commands.add_parser("run", help="run an experiment file (TOML; see docs/experiments.md)")
    run.add_argument("experiment", help="the experiment file")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoints")
    run.add_argument("--out", help="output folder (overrides [output].folder)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--no-figures", action="store_true", help="do not write PNG figures")
    run.add_argument("--overwrite", action="store_true",
                     help="replace a results.h5 of a different experiment in the output folder (default: refuse)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run a sweep's points on this Dask scheduler (tcp://host:8786, or a scheduler .json file); "
                          "default: a LocalCluster on 127.0.0.1 started for the run. Only this option connects "
                          "to a scheduler: [cluster].scheduler of a file alone is refused (docs/cluster.md)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="workers of the LocalCluster of a sweep (default: [cluster].workers, or the cores); "
                          "0: run the points one after another in this process, without Dask")

    audit = commands.add_parser("audit-score", help="audit a learned score file (grid or point layout, any "
                                                    "dimension) against the data's exact score; exit status 1 "
                                                    "when a check failed")
    audit.add_argument("score", help="the score file (HDF5, docs/score-format.md): the grid layout gets every "
                                     "check; the point layout (scores at points) the score error at its points, "
                                     "its DSM weighting and the Girsanov integral")
    audit.add_argument("--data", required=True,
                       help="the data: 'builtin:NAME' (see `fpdiff info --builtins`) or a points file (.npy/.txt/.csv)")
    audit.add_argument("--reference", choices=("exact", "empirical"), default="exact",
                       help="reference score: the data law's exact score (a mixture, or the points' empirical "
                            "score) or the empirical score of the training points (default: exact)")
    audit.add_argument("--train", help="training points (.npy/.txt/.csv) for the memorisation check")
    audit.add_argument("--held-out", help="held-out points (.npy/.txt/.csv) for the memorisation check")
    audit.add_argument("--cells", type=int, default=None,
                       help="grid cells per axis for the density view (grid layout, d <= 3)")
    audit.add_argument("--particles", type=int, default=None,
                       help="particles for the sample view (grid layout; default: 20000)")

    audit.add_argument("--outside", choices=OUTSIDE_POLICIES, default="clamp",
                       help="the score outside the file's box: 'clamp' extends it by its value on the box's "
                            "face, so particles from the prior that leave the box go on (default); 'raise' "
                            "treats the box as the score's domain: p_t outside it is left out of the score "
                            "error and a particle leaving it fails its run")
    audit.add_argument("--out", default=None, help="folder for the audit figure (default: none)")

    info = commands.add_parser("info", help="what a results or score file holds")
    info.add_argument("file", nargs="?", help="an fpdiff results or score file (HDF5)")
    info.add_argument("--builtins", action="store_true", help="list the built-in data sets")

    bench = commands.add_parser("bench", help="run the benchmark suite (needs a source checkout: benchmarks/)")
    bench.add_argument("names", nargs="*",
                       help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all but distributed, "
                            "which needs Dask)")
    bench.add_argument("--write", action="store_true", help="record the results in benchmarks/RESULTS.md")
    return parser


def main(argv=None):
    """Entry point of the ``fpdiff`` console script."""
    args = None
    os.environ.setdefault("MPLBACKEND", "Agg")  # the command's figures are files: no window, on any machine
    try:
        args = build_parser().parse_args(argv)

        status = getattr(commands, args.command.replace("-", "_"))(args) or 0
        sys.stdout.flush()  # here, so that a closed pipe is met inside the try
        return status
    except FpdiffError as error:
        print(f"fpdiff: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = "; finished tasks are checkpointed: rerun with --resume" if args and args.command == "run" else ""
        print(f"fpdiff: interrupted{resume}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`fpdiff info FILE | head`): as the Python docs recommend for SIGPIPE,
        # point stdout at devnull so that the interpreter's final flush does not fail again, and exit quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
