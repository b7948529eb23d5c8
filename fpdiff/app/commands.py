"""What each subcommand of ``fpdiff`` does (the parser is in :mod:`fpdiff.app.cli`)."""

import os
import re
import subprocess
import sys

import h5py
import numpy as np

from ..audit import audit as run_audit
from ..distributed import connect, dashboard_link, workers_of
from ..distributions import Empirical
from ..errors import FormatError, InputError
from ..grid import Grid
from ..processes import Discrete
from ..scores.empirical import EmpiricalScore
from ..scores.exact import ExactScore
from ..scores.tabulated import ScoreSamples
from .._hdf5 import DAMAGE, decode_text
from ..scores.io import load_score
from ..scores._write import FORMAT
from .demo import run_demo
from .experiment import BUILTINS, load_experiment, read_points
from .figures import write_figures
from .files import RESULTS_FORMAT, read_results
from .folder import output_lock
from .runner import format_sweep_table, format_table, run_experiment


def demo(args):

    run_demo(args.out, particles=args.particles, progress=not args.quiet)


def run(args):

    overrides = {"output": {"folder": os.path.abspath(args.out)}} if args.out else None
    experiment = load_experiment(args.experiment, overrides=overrides)
    workers = args.workers if args.workers is not None else experiment.workers
    if workers is not None and workers < 0:
        raise InputError(f"`--workers` must be >= 0 (0: no Dask, in this process); got {workers}")
    scheduler = args.scheduler
    if experiment.sweep and experiment.scheduler and not scheduler and args.workers is None:
        # a Dask client runs what its scheduler sends (pickled code): only the person at the command line picks it
        raise InputError(f"{args.experiment!r} names [cluster].scheduler = {experiment.scheduler!r}, which fpdiff "
                         "does not connect to on the file's word alone (a Dask scheduler can make this process run "
                         "any code): pass --scheduler ADDRESS to run there, or --workers N for a local cluster "
                         "(--workers 0: in this process)")
    if experiment.sweep and experiment.scheduler and not scheduler:
        print(f"fpdiff: note: [cluster].scheduler of the file is not used (--workers {args.workers} runs the "
              "sweep on this machine)", file=sys.stderr)
    options = dict(resume=args.resume, progress=not args.quiet, overwrite=args.overwrite)
    with output_lock(experiment.folder):  # held until the figures are written, so no other run mixes its files in
        if not experiment.sweep:
            if args.scheduler or args.workers:
                print("fpdiff: note: the experiment has no [sweep]: its tasks run in this process", file=sys.stderr)
            path = run_experiment(experiment, **options)
        elif workers == 0 and not scheduler:
            path = run_experiment(experiment, **options)
        else:

            with connect(scheduler, workers=workers or None) as client:
                link = dashboard_link(client)
                print(f"Dask: {len(workers_of(client))} worker(s) at {client.scheduler.address}"
                      + (f"; dashboard: {link}" if link else ""), flush=True)
                path = run_experiment(experiment, client=client, **options)
        _, rows, arrays = read_results(path)
        if experiment.sweep:
            print(format_sweep_table(rows, arrays["axes"], arrays["errors"]))
        else:
            print(format_table(rows))
        print(f"results written: {path}")
        if not args.no_figures and rows:
            for figure in write_figures(path, experiment.folder):
                print(f"figure written: {figure}")
    if experiment.sweep:
        failed = sum(bool(error) for error in arrays["errors"])
        if failed:
            print(f"fpdiff: {failed} point(s) failed (errors above, and in results.h5 'errors'); their "
                  "checkpoints are missing: rerun with --resume to retry them", file=sys.stderr)
            return 1


def audit_score(args):
    """Audit a score file (``fpdiff audit-score``); exit status 1 when a check failed (shown as FAILED).

    A grid-layout file gets every check; a point-layout file (scores at
    points, any dimension) the score error at its points, its DSM weighting
    and the Girsanov integral, and the options that need a score between the
    points are refused.
    """
    for flag, value, minimum in (("--cells", args.cells, 2), ("--particles", args.particles, 0)):
        if value is not None and value < minimum:
            raise InputError(f"`{flag}` must be >= {minimum}; got {value}")
    learned = load_score(args.score, outside=args.outside)
    points_layout = isinstance(learned, ScoreSamples)
    if points_layout:
        given = [flag for flag, value in (("--cells", args.cells), ("--particles", args.particles),
                                          ("--held-out", args.held_out)) if value is not None]
        if args.train and args.reference != "empirical":
            given.append("--train (without --reference empirical)")
        if given:
            raise InputError(f"{', '.join(given)}: {args.score!r} holds scores at points (the point layout), which "
                             "no solver can run: the density and particle views and the memorisation check need "
                             "a score between the points (the grid layout); leave these options out")
    if args.data.startswith("builtin:"):
        name = args.data.split(":", 1)[1]
        if name not in BUILTINS:
            raise InputError(f"`--data`: unknown built-in {name!r}; built-ins: {', '.join(sorted(BUILTINS))}")
        data = BUILTINS[name][1]()
    else:
        data = Empirical(read_points(args.data, "--data"))
    if data.dim != learned.dim:
        raise InputError(f"`--data` is {data.dim}-D but {args.score!r} holds a {learned.dim}-D score")
    train = read_points(args.train, "--train") if args.train else None
    held_out = read_points(args.held_out, "--held-out") if args.held_out else None
    if args.reference == "empirical":
        if train is None:
            raise InputError("`--reference empirical` needs the training points: pass --train")
        reference = EmpiricalScore(learned.process, train)
    else:
        reference = ExactScore(learned.process, data)
    if points_layout:
        result = run_audit(learned, reference)
    else:
        grid = None
        if args.cells:
            grid = Grid(learned.box, [args.cells] * learned.dim)
        result = run_audit(learned, reference, grid=grid, particles=args.particles, train=train,
                           held_out=held_out)
    failures = _command_line_failures(result)
    print(result.summary())
    if args.out:
        from ..plot import audit_figure, save_figure

        os.makedirs(args.out, exist_ok=True)
        path = save_figure(audit_figure(result), os.path.join(args.out, "audit.png"))
        print(f"figure written: {path}")
    if failures:
        print(f"fpdiff: {failures} check(s) of the audit failed: see FAILED above", file=sys.stderr)
        return 1


#: the library's advice to pass ``outside='clamp'`` to ``load_score``, which the command spells ``--outside clamp``
_CLAMP_ADVICE = re.compile(r"(pass )?outside\s*=\s*['\"]clamp['\"]")


def _command_line_failures(result):
    """Reword the failure messages of an audit for the command line; return how many checks of the learned score failed.

    The library's messages tell a Python caller to load the score with
    ``outside='clamp'``; from the command line that is ``--outside clamp``.
    A reference run or a floor that could not be computed is shown as
    FAILED too, but is not a failed check of the learned score: it does not
    count (it does not make the exit status 1).
    """
    def reword(message):
        return _CLAMP_ADVICE.sub(lambda match: ("rerun with " if match.group(1) else "") + "--outside clamp",
                                 message)

    records = [view.failed for view in (result.density, result.particles) if view is not None] + [result.failed]
    for record in records:
        for key in record:
            record[key] = reword(record[key])
    return sum(1 for record in records for key in record
               if not key.startswith("reference") and not key.endswith(" floor"))


def info(args):
    if args.builtins or args.file is None:

        print("built-in data sets (use as [data] kind = \"builtin\", name = ... or --data builtin:NAME):")
        for name, (description, factory) in BUILTINS.items():
            print(f"  {name:<12} {factory().dim}-D  {description}")
        return
    print(describe_file(args.file))


def describe_file(path):
    """A readable description of an fpdiff score or results file.

    Raises InputError or FormatError (never another exception) for a path
    that is not a file, not HDF5, or a damaged file.
    """

    if not os.path.isfile(path):
        raise InputError(f"{path!r} is not a file")
    try:
        with h5py.File(path, "r") as file:
            kind = file.attrs.get("format")
    except OSError:
        raise InputError(f"{path!r} is not an HDF5 file") from None
    except DAMAGE + (MemoryError,) as error:
        raise FormatError(f"{path!r}: corrupt HDF5 file, its attribute 'format' is unreadable "
                          f"({type(error).__name__}: {error})") from None
    text = decode_text(kind) if isinstance(kind, (bytes, np.bytes_, str)) else None
    if text == FORMAT:
        score = load_score(path)
        lines = [f"{path}: fpdiff score field (format {FORMAT!r})",
                 *_schedule_lines(score.process, score.t),
                 f"  parametrization  {score.parametrization}",
                 f"  times            {len(score.t)} in [{score.t[0]:.4g}, {score.t[-1]:.4g}]"]
        if hasattr(score, "axes"):
            lines.append(f"  grid layout      {' x '.join(map(str, score.shape))} nodes, box {score.box}")
        else:
            lines.append(f"  point layout     {score.points.shape[1]} points in {score.dim}-D per time")
        lines.append(f"  dtype            {score.values.dtype}")
        for key, value in score.meta.items():
            lines.append(f"  meta.{key:<11} {_short(value)}")
        return "\n".join(lines)
    if text == RESULTS_FORMAT:

        config, rows, arrays = read_results(path)
        lines = [f"{path}: fpdiff results (format {RESULTS_FORMAT!r})"]
        if arrays.get("process") is not None:  # a sweep's points record theirs: the [process] lines show them
            time = config.get("time", {})
            lines += _schedule_lines(arrays["process"], [time.get("t_min", 1e-3), time.get("T", 1.0)])
        for section, values in config.items():
            lines.append(f"  [{section}] " + ", ".join(f"{k} = {_short(v)}" for k, v in values.items()))
        lines.append(format_sweep_table(rows, arrays["axes"], arrays["errors"]) if "axes" in arrays
                     else format_table(rows))
        return "\n".join(lines)
    raise InputError(f"{path!r} is HDF5 but neither an fpdiff score file nor a results file (format = "
                     f"{_short(kind)})")


def _schedule_lines(process, t):
    """The lines of ``fpdiff info`` that show a schedule: its kind and parameters, its table (a discrete
    schedule's steps and first and last alphas_cumprod), and its noise level over the times ``t`` (a score
    file's, or a run's ``[t_min, T]``)."""
    parameters = {key: value for key, value in process.to_dict().items() if key not in ("kind", "alphas_cumprod")}
    lines = [f"  process          {type(process).__name__}"
             + (f" ({', '.join(f'{key} = {value:.6g}' for key, value in parameters.items())})" if parameters else "")]
    if isinstance(process, Discrete):
        table = process.alphas_cumprod
        lines.append(f"  table            {process.n} steps, alphas_cumprod from {table[0]:.6g} (step 0) to "
                     f"{table[-1]:.6g} (step {process.n - 1})")
    ends = np.array([t[0], t[-1]], dtype=np.float64)
    sigma, log_snr = process.sigma(ends), process.log_snr(ends)
    lines.append(f"  sigma(t)         {sigma[0]:.6g} at t = {ends[0]:.4g} to {sigma[1]:.6g} at t = {ends[1]:.4g} "
                 f"(log-SNR {log_snr[0]:.4g} to {log_snr[1]:.4g})")
    return lines


def _short(value, width=60):
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= width else text[:width - 3] + "..."


BENCHMARKS = ("forward", "density", "reverse", "particles", "particle_anatomy", "threads", "schedules", "samplers",
              "model_score", "audit", "parallel_threshold", "cold_start", "homogeneous", "sweeps", "distributed")
#: run by a plain ``fpdiff bench``; ``distributed`` needs Dask and several minutes, so it runs when named
DEFAULT_BENCHMARKS = BENCHMARKS[:-1]


def bench(args):
    folder = _benchmark_folder()
    names = args.names or list(DEFAULT_BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            raise InputError(f"unknown benchmark {name!r}; benchmarks: {', '.join(BENCHMARKS)}")
    for name in names:
        command = [sys.executable, os.path.join(folder, f"bench_{name}.py")] + (["--write"] if args.write else [])
        print(f"$ {' '.join(command)}", flush=True)
        if subprocess.call(command) != 0:
            raise InputError(f"benchmark {name!r} failed (see above)")


def _benchmark_folder():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder in (os.path.join(here, "benchmarks"), os.path.join(os.getcwd(), "benchmarks")):
        if os.path.isfile(os.path.join(folder, "_machine.py")):
            return folder
    raise InputError("`fpdiff bench` runs the scripts in benchmarks/ of a source checkout: run it inside the "
                     "fpdiff repository (git clone, then `pip install .`)")
