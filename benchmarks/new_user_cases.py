"""The cases of a "testing as a new user would" study of fpdiff, replayed: how each one ends today.

Usage: ``python benchmarks/new_user_cases.py [--verbose]`` (in the environment where fpdiff
is installed; about a minute, tiny grids and few particles; the exit status is
always 0: it is a study, not a test).

An earlier study tried fpdiff as a new user would and reported (issue 16) what
did not hold: a score built for one process silently used with another; a
grid's box that misses most of the mass while the numbers look perfect, and a
metric that renormalised the cut-off law; inverted or absurd parameters
accepted by the constructors; a reverse solve that could not end exactly at a
score table's first time; two runs into one output folder mixing their files;
``fpdiff run`` deleting a user's files in ``<out>/checkpoints`` and
overwriting the results of another experiment, and leaving temporary files of
killed writes; hangs and blow-ups on damaged or hostile files (link bombs in a
score file's ``meta``, a 1000 x 1000 sweep); raw tracebacks where the command
promises one line (damaged results files, overlong numbers, undecodable text,
integers beyond 64 bits, a folder as the experiment, an output path that is a
file, a read-only folder, a corrupt checkpoint, huge grids or particle counts,
Ctrl-C right after the start, a closed pipe); a Dask scheduler taken from an
experiment file alone; an unguarded ``import tomllib`` on Python 3.10;
``fpdiff audit-score`` failing on a documented export with no ``--outside``;
an integer ``[grid] cells`` refused in 2-D and a bare ``KeyError`` from
``results_figure`` on a sweep; the demo's timings including numba
compilation; ``sample_forward`` given a distribution instead of points, and
start particles outside a table's box reported as a failure "at step 1".

This script reproduces each concrete case named there, every one in its own
subprocess (``python -c CODE`` for the Python API, ``python -m fpdiff ...``
for the command) in a temporary folder, with a time limit, and classifies
how it ends:

- ``clear error``: the command ends with one line ``fpdiff: error: ...`` on
  stderr and exit status 2 (130 and one line for Ctrl-C; for
  ``audit-score --outside raise``, exit status 1 with the failed checks shown
  as FAILED); the API raises an
  :class:`fpdiff.errors.FpdiffError` (or issues a :class:`fpdiff.MassWarning`
  where a warning was asked for);
- ``works``: a case that was a bug on a success path now succeeds and the
  result is checked (e.g. the solve ends exactly at ``t_min``, the user's
  file survives; ``fpdiff info | head`` ends without a word on stderr); for
  a damaged results file, that it reads exactly as the
  undamaged file (the damage hit bytes that are never read);
- ``traceback``: another exception, a raw traceback;
- ``hang``: the time limit passed;
- ``silent``: it ended normally where an error or a warning was expected, or
  a success path gave a wrong result;
- ``other``: an exit that is none of the above (the detail says what);
- ``skipped``: the case cannot be reproduced here (the reason is printed).

It prints a table (item of the issue, case, expected, outcome, seconds), the
totals per outcome, and the details of every case that did not end as a
clear error or works.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)
sys.path.insert(0, REPOSITORY)
sys.path.insert(0, os.path.join(REPOSITORY, "tests"))

import h5py  # noqa: E402

import fpdiff as fd  # noqa: E402
from fpdiff.app.experiment import BUILTINS, experiment_from_dict  # noqa: E402
from fpdiff.app.folder import output_lock  # noqa: E402
from fpdiff.app.runner import STOP_AFTER_ENV, run_experiment  # noqa: E402

TIMEOUT = 60.0
GOOD = ("clear error", "works")
OUTCOMES = ("clear error", "works", "traceback", "hang", "silent", "other", "skipped")
ENV = {**os.environ, "PYTHONPATH": REPOSITORY + os.pathsep + os.environ.get("PYTHONPATH", "")}

#: a run of well under a second: the density view, one gamma, 40 cells
TINY = {
    "process": {"kind": "OU"},
    "data": {"kind": "builtin", "name": "bimodal-1d"},
    "grid": {"bounds": [[-6.0, 6.0]], "cells": 40},
    "time": {"T": 1.0, "t_min": 0.05, "steps": 10, "particle_steps": 10},
    "reverse": {"gammas": [1.0], "start": "data"},
    "views": {"density": True, "particles": 0},
}


def toml(config):
    """An experiment dict as TOML text (sections of scalars and lists; JSON literals are TOML literals here)."""
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        lines.extend(f"{json.dumps(key)} = {json.dumps(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def experiment_file(folder, name, output="out", **changes):
    """Write TINY with ``changes`` (section -> keys, or None to drop a section) as ``folder/name``."""
    config = {section: dict(values) for section, values in TINY.items()}
    for section, values in changes.items():
        if values is None:
            config.pop(section, None)
        else:
            config.setdefault(section, {}).update(values)
    config["output"] = dict(config.get("output", {}), folder=output)
    path = os.path.join(folder, name)
    with open(path, "w") as handle:
        handle.write(toml(config))
    return path


# ------------------------------------------------------------------ running one case


class Ended:
    """How a child process ended: its status, output, and seconds (``status`` None: killed at the time limit)."""

    def __init__(self, status, out, err, seconds):
        self.status, self.out, self.err, self.seconds = status, out, err, seconds

    @property
    def last_line(self):
        lines = [line for line in (self.err or "").strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_child(argv, cwd, timeout=TIMEOUT, shell=False, env=None):
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, shell=shell,
                              env=env or ENV, errors="replace", executable="/bin/bash" if shell else None)
    except subprocess.TimeoutExpired as expired:
        text = lambda b: b.decode(errors="replace") if isinstance(b, bytes) else (b or "")  # noqa: E731
        return Ended(None, text(expired.stdout), text(expired.stderr), time.perf_counter() - started)
    return Ended(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def fpdiff_command(args, cwd, timeout=TIMEOUT):
    return run_child([sys.executable, "-m", "fpdiff", *map(str, args)], cwd, timeout)


#: the Python side of an API case: runs BODY, reports an fpdiff error, a MassWarning, or what BODY set as ``ok``
HARNESS = """
import json, sys, warnings
import numpy as np
import fpdiff as fd
from fpdiff.errors import FpdiffError

def report(kind, detail):
    print("@@" + json.dumps([kind, detail]), flush=True)

namespace = {"fd": fd, "np": np}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        exec(compile(BODY, "<case>", "exec"), namespace)
    except FpdiffError as error:
        report("error", f"{type(error).__name__}: {error}")
        sys.exit(0)
masses = [str(w.message) for w in caught if issubclass(w.category, fd.MassWarning)]
ok = namespace.get("ok")
report("returned", {"ok": None if ok is None else bool(ok), "detail": str(namespace.get("detail", "")),
                    "mass_warning": masses[0] if masses else None})
"""


def python_case(body, cwd, timeout=TIMEOUT):
    """Run ``body`` (Python, with ``fd`` and ``np``) in a child; returns (Ended, report or None)."""
    code = f"BODY = {textwrap.dedent(body)!r}\n" + HARNESS
    ended = run_child([sys.executable, "-c", code], cwd, timeout)
    report = None
    for line in ended.out.splitlines():
        if line.startswith("@@"):
            report = json.loads(line[2:])
    return ended, report


def classify_api(ended, report, expected, match=None):
    """Outcome and detail of an API case. ``expected``: "error", "warning" or "works" (BODY sets ``ok``)."""
    if ended.status is None:
        return "hang", f"no end within {TIMEOUT:g} s"
    if report is None:
        if "Traceback" in ended.err:
            return "traceback", ended.last_line
        return "other", f"exit status {ended.status}: {ended.last_line}"
    kind, detail = report
    if kind == "error":
        if match and not all(fragment in detail for fragment in match):
            return "other", f"an fpdiff error without {match}: {detail}"
        return "clear error", detail
    if expected == "warning" and detail["mass_warning"]:
        if match and not all(fragment in detail["mass_warning"] for fragment in match):
            return "other", f"a MassWarning without {match}: {detail['mass_warning']}"
        return "clear error", "MassWarning: " + detail["mass_warning"]
    if expected == "works":
        return ("works" if detail["ok"] else "silent"), detail["detail"] or f"ok = {detail['ok']}"
    return "silent", f"returned normally ({detail['detail'] or 'no error, no warning'})"


def one_line_error(ended, match=None, status=2, prefix="fpdiff: error:"):
    """Outcome of a command that must end with one line ``prefix ...`` and exit ``status``."""
    if ended.status is None:
        return "hang", f"no end within {TIMEOUT:g} s"
    lines = [line for line in ended.err.strip().splitlines() if line.strip()]
    if "Traceback" in ended.err:
        return "traceback", ended.last_line
    if ended.status == status and len(lines) == 1 and lines[0].startswith(prefix):
        if match and not all(fragment in lines[0] for fragment in match):
            return "other", f"one line without {match}: {lines[0]}"
        return "clear error", lines[0]
    if ended.status == 0:
        return "silent", "exit status 0" + (f"; stderr: {ended.last_line}" if ended.last_line else "")
    return "other", f"exit status {ended.status}: {ended.last_line or '(stderr empty)'}"


def works_if(ended, condition, detail):
    """Outcome of a command that must succeed (exit 0) with ``condition`` true."""
    if ended.status is None:
        return "hang", f"no end within {TIMEOUT:g} s"
    if "Traceback" in ended.err:
        return "traceback", ended.last_line
    if ended.status != 0:
        return "other", f"exit status {ended.status}: {ended.last_line}"
    return ("works", detail) if condition else ("silent", f"exit 0, but {detail}")


# ------------------------------------------------------------------ the cases

CASES = []


def case(item, name, expected):
    def register(function):
        CASES.append((item, name, expected, function))
        return function

    return register


OU_SCORE_BODY = """
mix = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
"""


@case("1", "sample_reverse(VP(), ExactScore(OU(), mix))", "clear error")
def _(work, shared):
    ended, report = python_case(OU_SCORE_BODY + """
fd.sample_reverse(fd.VP(), fd.ExactScore(fd.OU(), mix), 200, T=1.0, t_min=0.01, steps=10)
""", work)
    return classify_api(ended, report, "error", match=("VP", "OU"))


@case("1", "solve_reverse(VE(), grid, load_score(OU file))", "clear error")
def _(work, shared):
    ended, report = python_case(f"""
grid = fd.Grid([(-6, 6)], 60)
fd.solve_reverse(fd.VE(), grid, fd.load_score({shared['ou_score']!r}), T=1.0, t_min=0.05, steps=10)
""", work)
    return classify_api(ended, report, "error", match=("VE", "OU"))


@case("1", "GridScore(OU forward solve) with VP", "clear error")
def _(work, shared):
    ended, report = python_case(OU_SCORE_BODY + """
grid = fd.Grid([(-6, 6)], 60)
forward = fd.solve_forward(fd.OU(), grid, mix, 1.0, steps=20, save_at=np.linspace(0.0, 1.0, 11))
fd.solve_reverse(fd.VP(), grid, fd.GridScore(forward), T=1.0, t_min=0.1, steps=10)
""", work)
    return classify_api(ended, report, "error", match=("VP", "OU"))


@case("1", "experiment [process] VP + OU score file", "clear error")
def _(work, shared):
    path = experiment_file(work, "vp.toml", process={"kind": "VP"},
                           score={"source": "file", "path": shared["ou_score"]})
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work), match=("VP", "OU"))


@case("2", "API: VE sigma_max=80 on [-4,4]^2 from the prior", "clear error")
def _(work, shared):
    ended, report = python_case("""
ve = fd.VE(sigma_max=80.0)
mixture = fd.GaussianMixture([0.5, 0.5], [[-1.0, -1.0], [1.0, 1.0]], [0.05, 0.05])
solution = fd.solve_reverse(ve, fd.Grid([(-4, 4)] * 2, 32), fd.ExactScore(ve, mixture), T=1.0, steps=10)
detail = f"start_mass = {solution.diagnostics.get('start_mass')}"
""", work)
    return classify_api(ended, report, "warning", match=("comoving=True",))


@case("2", "fpdiff run: VE sigma_max=80 on [-4,4]^2 from the prior", "clear error")
def _(work, shared):
    path = experiment_file(
        work, "ve.toml", process={"kind": "VE", "sigma_max": 80.0},
        data={"kind": "mixture", "weights": [0.5, 0.5], "means": [[-1.0, -1.0], [1.0, 1.0]],
              "covariances": [0.05, 0.05]},
        grid={"bounds": [[-4.0, 4.0], [-4.0, 4.0]], "cells": [32, 32]}, reverse={"gammas": [1.0], "start": "prior"})
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work))


@case("2", "fpdiff run: bounds [[-8,-3]] for bimodal-1d", "clear error")
def _(work, shared):
    path = experiment_file(work, "cut.toml", grid={"bounds": [[-8.0, -3.0]], "cells": 100})
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work))


@case("2", "metrics.w1(samples, cut law on [-8,-3])", "clear error")
def _(work, shared):
    ended, report = python_case(OU_SCORE_BODY + """
law = mix.evolve(fd.OU(), 0.01)
grid = fd.Grid([(-8, -3)], 200)
detail = f"w1 = {fd.metrics.w1(law.sample(1000, seed=0), law, grid)}"
""", work)
    return classify_api(ended, report, "error")


@case("3", "VP(beta_min=20, beta_max=0.1)", "clear error")
def _(work, shared):
    ended, report = python_case("""
process = fd.VP(beta_min=20, beta_max=0.1)
detail = f"accepted: {process}"
""", work)
    return classify_api(ended, report, "error")


@case("3", "Grid([(-1e308, 1e308)], 10)", "clear error")
def _(work, shared):
    ended, report = python_case("""
grid = fd.Grid([(-1e308, 1e308)], 10)
detail = f"accepted: {grid}"
""", work)
    return classify_api(ended, report, "error")


@case("3", "VE(sigma_max=1e300)", "clear error")
def _(work, shared):
    ended, report = python_case("""
process = fd.VE(sigma_max=1e300)
detail = f"accepted: {process}"
""", work)
    return classify_api(ended, report, "error")


@case("4", "table t=geomspace(0.03,3,200), solve_reverse T=3 to t_min=0.03", "works")
def _(work, shared):
    ended, report = python_case(OU_SCORE_BODY + """
table = fd.tabulate_score(fd.ExactScore(fd.OU(), mix), np.geomspace(0.03, 3.0, 200), [np.linspace(-8, 8, 101)])
solution = fd.solve_reverse(fd.OU(), fd.Grid([(-8, 8)], 100), table, T=3.0, t_min=0.03, steps=10)
ok = solution.t[-1] == 0.03 and solution.t[0] == 3.0
detail = f"ends at t = {solution.t[-1]!r}"
""", work)
    return classify_api(ended, report, "works")


@case("5", "fpdiff run into a folder another run holds", "clear error")
def _(work, shared):
    path = experiment_file(work, "b.toml", reverse={"gammas": [2.0], "start": "data"})
    with output_lock(os.path.join(work, "out")):
        ended = fpdiff_command(["run", path, "--quiet", "--no-figures"], work)
    result = one_line_error(ended, match=("another fpdiff run",))
    if os.path.exists(os.path.join(work, "out", "results.h5")):
        return "silent", "a results.h5 was written into the locked folder; " + result[1]
    return result


@case("6", "a user's file in <out>/checkpoints survives a run", "works")
def _(work, shared):
    checkpoints = os.path.join(work, "out", "checkpoints")
    os.makedirs(checkpoints)
    user = os.path.join(checkpoints, "model-epoch-400.pt")
    with open(user, "wb") as handle:
        handle.write(b"weights")
    ended = fpdiff_command(["run", experiment_file(work, "a.toml"), "--quiet", "--no-figures"], work)
    kept = os.path.isfile(user) and open(user, "rb").read() == b"weights"
    return works_if(ended, kept, "model-epoch-400.pt " + ("kept" if kept else "deleted"))


@case("6", "results.h5 of a different experiment, no --overwrite", "clear error")
def _(work, shared):
    first = fpdiff_command(["run", experiment_file(work, "a.toml"), "--quiet", "--no-figures"], work)
    if first.status != 0:
        return "other", f"the first run failed: {first.last_line}"
    path = experiment_file(work, "b.toml", reverse={"gammas": [2.0], "start": "data"})
    ended = fpdiff_command(["run", path, "--quiet", "--no-figures"], work)
    return one_line_error(ended, match=("different experiment", "--overwrite"))


@case("6", "a leftover .tmp of fpdiff's name pattern is removed", "works")
def _(work, shared):
    from fpdiff.app.folder import TEMPORARY_NAME

    checkpoints = os.path.join(work, "out", "checkpoints")
    os.makedirs(checkpoints)
    ours = [os.path.join(work, "out", ".results.h5.0123456789ab.tmp"),
            os.path.join(checkpoints, ".density-0.h5.00ff00ff00ff.tmp")]
    theirs = os.path.join(work, "out", ".model.pt.0123456789ab.tmp")  # the pattern, but not a name fpdiff writes
    assert all(TEMPORARY_NAME.fullmatch(os.path.basename(path)) for path in ours + [theirs])
    for path in ours + [theirs]:
        with open(path, "wb") as handle:
            handle.write(b"partial")
    ended = fpdiff_command(["run", experiment_file(work, "a.toml"), "--quiet", "--no-figures"], work)
    left = [os.path.basename(path) for path in ours if os.path.exists(path)]
    return works_if(ended, not left and os.path.exists(theirs),
                    f"left: {left}; a user's .model.pt.*.tmp {'kept' if os.path.exists(theirs) else 'deleted'}")


def damaged_results_case(index):
    def check(work, shared):
        from fuzz_results import damage

        original = open(shared["results"], "rb").read()
        rng = np.random.default_rng(1600 + index)
        if index == 0:
            data, how = original[:len(original) // 2], "truncate to half"
        else:
            data, how = damage(original, rng)
        path = os.path.join(work, "damaged.h5")
        with open(path, "wb") as handle:
            handle.write(data)
        ended = fpdiff_command(["info", path], work)
        if ended.status == 0 and "Traceback" not in ended.err:
            pristine = shared["results_info"]
            same = ended.out.replace(path, "FILE") == pristine
            return ("works", f"{how}: read, same as the pristine file (the damage hit unread bytes)") if same \
                else ("silent", f"{how}: read without error, but fpdiff info differs from the pristine file's")
        outcome, detail = one_line_error(ended)
        return outcome, f"{how}: {detail}"

    return check


for _index in range(6):
    case("7/9", f"fpdiff info on a damaged results file #{_index}", "clear error")(damaged_results_case(_index))


@case("8", "load_score: meta nests 26 levels, 2 links per level", "clear error")
def _(work, shared):
    ended, report = python_case(f"fd.load_score({shared['link_bomb']!r})", work)
    return classify_api(ended, report, "error")


@case("8", "fpdiff run: 1000 x 1000 sweep refused quickly", "clear error")
def _(work, shared):
    sweep = {"time.t_min": [round(0.001 + 1e-5 * i, 8) for i in range(1000)],
             "reverse.gamma": [round(0.001 * i, 6) for i in range(1000)]}
    path = experiment_file(work, "sweep.toml", sweep=sweep)
    ended = fpdiff_command(["run", path, "--quiet", "--no-figures", "--workers", "0"], work)
    outcome, detail = one_line_error(ended)
    if outcome == "clear error" and ended.seconds > 20:
        return "other", f"refused, but after {ended.seconds:.0f} s: {detail}"
    return outcome, detail


def damaged_score(shared, work, name, change):
    import shutil

    path = shutil.copy(shared["ou_score"], os.path.join(work, name))
    with h5py.File(path, "a") as file:
        change(file)
    return path


@case("9", "fpdiff info: 400-digit number in the process JSON", "clear error")
def _(work, shared):
    path = damaged_score(shared, work, "digits.h5", lambda f: f.attrs.__setitem__(
        "process", np.bytes_(('{"kind": "OU", "beta": 1' + "0" * 400 + "}").encode())))
    return one_line_error(fpdiff_command(["info", path], work))


@case("9", "fpdiff info: a non-UTF-8 attribute", "clear error")
def _(work, shared):
    path = damaged_score(shared, work, "bytes.h5",
                         lambda f: f.attrs.__setitem__("parametrization", np.bytes_(b"\xff\xfe")))
    return one_line_error(fpdiff_command(["info", path], work))


@case("9", "fpdiff run: an integer >= 2**64 in the file", "clear error")
def _(work, shared):
    path = experiment_file(work, "big.toml", output="out")
    with open(path, "a") as handle:
        handle.write("seed = 18446744073709551616\n")  # in [output], the last section
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work))


@case("9", "fpdiff run: an experiment file that is not UTF-8", "clear error")
def _(work, shared):
    path = os.path.join(work, "latin1.toml")
    with open(path, "wb") as handle:
        handle.write(toml(TINY).encode() + b'[output]\nfolder = "r\xe9sultats"\n')
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work))


@case("9", "fpdiff run: a folder as the experiment path", "clear error")
def _(work, shared):
    os.makedirs(os.path.join(work, "exp.toml"))
    return one_line_error(fpdiff_command(["run", "exp.toml", "--quiet"], work))


@case("9", "fpdiff run --out FILE (a regular file)", "clear error")
def _(work, shared):
    with open(os.path.join(work, "taken"), "w") as handle:
        handle.write("a file\n")
    path = experiment_file(work, "a.toml")
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--out", "taken"], work))


@case("9", "fpdiff run into a read-only output folder", "clear error")
def _(work, shared):
    if os.geteuid() == 0:
        return "skipped", "running as root: chmod cannot make a folder read-only"
    folder = os.path.join(work, "out")
    os.makedirs(folder)
    os.chmod(folder, 0o555)
    try:
        return one_line_error(fpdiff_command(["run", experiment_file(work, "a.toml"), "--quiet"], work))
    finally:
        os.chmod(folder, 0o755)


def corrupt_checkpoint_case(how):
    def check(work, shared):
        path = experiment_file(work, "two.toml", reverse={"gammas": [0.5, 1.0], "start": "data"})
        stopped = run_child([sys.executable, "-m", "fpdiff", "run", path, "--quiet", "--no-figures"], work,
                            env={**ENV, STOP_AFTER_ENV: "1"})  # fpdiff's test hook: stop after one checkpoint
        checkpoint = os.path.join(work, "out", "checkpoints", "density-0.h5")
        if not os.path.isfile(checkpoint):
            return "other", f"no checkpoint left by the interrupted run (exit {stopped.status}: {stopped.last_line})"
        data = bytearray(open(checkpoint, "rb").read())
        if how == "data":  # overwrite bytes of the stored density itself
            with h5py.File(checkpoint, "r") as file:
                start = file["density"].id.get_chunk_info(0).byte_offset + 16
            data[start:start + 32] = bytes(range(1, 33))
        else:
            data = data[:len(data) - 100]
        with open(checkpoint, "wb") as handle:
            handle.write(data)
        return one_line_error(fpdiff_command(["run", path, "--resume", "--quiet", "--no-figures"], work))

    return check


case("9", "fpdiff run --resume, a checkpoint's data bytes overwritten", "clear error")(
    corrupt_checkpoint_case("data"))
case("9", "fpdiff run --resume, a checkpoint truncated by 100 bytes", "clear error")(
    corrupt_checkpoint_case("truncate"))


@case("9", "fpdiff run: [grid] cells 10**6 x 10**6 (2-D)", "clear error")
def _(work, shared):
    path = experiment_file(work, "huge.toml", data={"kind": "builtin", "name": "ring-2d"},
                           grid={"bounds": [[-5.0, 5.0], [-5.0, 5.0]], "cells": [10**6, 10**6]})
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work))


@case("9", "fpdiff run: [views] particles = 10**12", "clear error")
def _(work, shared):
    path = experiment_file(work, "many.toml", views={"density": False, "particles": 10**12})
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work))


def pipe_case(reader):
    def check(work, shared):
        command = (f"{shlex.quote(sys.executable)} -m fpdiff info --builtins | {reader}; "
                   "echo \"fpdiff exit status ${PIPESTATUS[0]}\" >&2")
        ended = run_child(command, work, shell=True)
        if ended.status is None:
            return "hang", f"no end within {TIMEOUT:g} s"
        if "Traceback" in ended.err:
            return "traceback", ended.last_line
        noise = [line for line in ended.err.strip().splitlines() if not line.startswith("fpdiff exit status")]
        return ("works" if not noise else "other"), f"stdout {ended.out.strip()[:40]!r}; {ended.last_line}" + (
            f"; stderr: {noise[-1]}" if noise else "")

    return check


case("9", "fpdiff info --builtins | head -1", "works")(pipe_case("head -1"))
case("9", "fpdiff info --builtins | true (reader gone)", "works")(pipe_case("true"))


@case("9", "fpdiff --version", "works")
def _(work, shared):
    ended = fpdiff_command(["--version"], work)
    return works_if(ended, ended.out.strip() == f"fpdiff {fd.__version__}", f"prints {ended.out.strip()!r}")


def ctrl_c_case(argv_of):
    def check(work, shared):
        started = time.perf_counter()
        child = subprocess.Popen(argv_of(), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=ENV)
        time.sleep(0.2)
        child.send_signal(signal.SIGINT)
        try:
            out, err = child.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            return "hang", f"no end within {TIMEOUT:g} s of the SIGINT"
        ended = Ended(child.returncode, out, err, time.perf_counter() - started)
        if ended.status == 0 and not err:
            return "other", "finished before the SIGINT arrived"
        if ended.status == -signal.SIGINT and "Traceback" not in err:
            return "other", "killed by SIGINT with no message (the signal came before Python's handler)"
        return one_line_error(ended, status=130, prefix="fpdiff: interrupted")

    return check


case("9", "Ctrl-C at 0.2 s: python -m fpdiff info --builtins", "clear error")(
    ctrl_c_case(lambda: [sys.executable, "-m", "fpdiff", "info", "--builtins"]))
case("9", "Ctrl-C at 0.2 s: console script fpdiff (fpdiff_launcher)", "clear error")(
    ctrl_c_case(lambda: [os.path.join(os.path.dirname(sys.executable), "fpdiff"), "info", "--builtins"]))


@case("10", "[cluster] scheduler = tcp://10.0.0.1:8786 + [sweep], no --scheduler", "clear error")
def _(work, shared):
    path = experiment_file(work, "remote.toml", sweep={"time.t_min": [0.05, 0.1]},
                           cluster={"scheduler": "tcp://10.0.0.1:8786"})
    return one_line_error(fpdiff_command(["run", path, "--quiet", "--no-figures"], work), match=("--scheduler",))


@case("11", "python_requires names a Python with tomllib, the one the tests run on", "works")
def _(work, shared):
    import configparser

    config = configparser.ConfigParser()
    config.read(os.path.join(REPOSITORY, "setup.cfg"))
    claimed = config["options"]["python_requires"]
    ok = claimed == ">=3.11" and sys.version_info >= (3, 11)
    return ("works" if ok else "silent"), f"python_requires {claimed}, running {sys.version.split()[0]}"


@case("12", "fpdiff audit-score, prior particles leave the box (default)", "works")
def _(work, shared):
    ended = fpdiff_command(["audit-score", shared["audit_score"], "--data", "builtin:bimodal-1d",
                            "--particles", 2000, "--cells", 60], work)
    return works_if(ended, "FAILED" not in ended.out, "no check FAILED" if "FAILED" not in ended.out
                    else "a check FAILED")


@case("12", "fpdiff audit-score --outside raise shows FAILED", "clear error")
def _(work, shared):
    ended = fpdiff_command(["audit-score", shared["audit_score"], "--data", "builtin:bimodal-1d",
                            "--particles", 2000, "--cells", 60, "--outside", "raise"], work)
    if ended.status is None:
        return "hang", f"no end within {TIMEOUT:g} s"
    if "Traceback" in ended.err:
        return "traceback", ended.last_line
    failed = [line.strip() for line in ended.out.splitlines() if "FAILED" in line]
    if ended.status == 1 and failed:
        return "clear error", f"exit 1; {len(failed)} line(s) FAILED, e.g. {failed[0][:90]!r}"
    return ("silent" if ended.status == 0 else "other"), f"exit status {ended.status}, {len(failed)} FAILED line(s)"


@case("13", "[grid] cells = 64 for 2-D builtin data", "works")
def _(work, shared):
    path = experiment_file(work, "ring.toml", data={"kind": "builtin", "name": "ring-2d"},
                           grid={"bounds": [[-5.0, 5.0], [-5.0, 5.0]], "cells": 64})
    ended = fpdiff_command(["run", path, "--quiet", "--no-figures"], work)
    written = os.path.isfile(os.path.join(work, "out", "results.h5"))
    return works_if(ended, written, "results.h5 written" if written else "no results.h5")


@case("13", "plot.results_figure on a sweep results file", "clear error")
def _(work, shared):
    ended, report = python_case(f"""
import matplotlib
matplotlib.use("Agg")
from fpdiff.plot import results_figure
results_figure({shared['sweep_results']!r})
detail = "drew a figure"
""", work)
    return classify_api(ended, report, "error")


@case("14", "fpdiff demo prints a numba compilation line", "works")
def _(work, shared):
    ended = fpdiff_command(["demo", "--particles", 2000, "--quiet", "--out", "demo"], work, timeout=120)
    lines = [line for line in ended.out.splitlines() if "numba compilation" in line]
    return works_if(ended, bool(lines), lines[0][:70] if lines else "no line about numba compilation")


@case("17", "sample_forward(process, mixture, 1.0)", "clear error")
def _(work, shared):
    ended, report = python_case(OU_SCORE_BODY + """
fd.sample_forward(fd.OU(), mix, 1.0)
""", work)
    return classify_api(ended, report, "error", match=("n=",))


@case("17", "sample_forward(process, mixture, 1.0, n=500)", "works")
def _(work, shared):
    ended, report = python_case(OU_SCORE_BODY + """
solution = fd.sample_forward(fd.OU(), mix, 1.0, n=500)
ok = solution.samples.shape == (500, 1) and bool(np.all(np.isfinite(solution.samples)))
detail = f"samples of shape {solution.samples.shape}"
""", work)
    return classify_api(ended, report, "works")


@case("17", "start particles outside a table's box", "clear error")
def _(work, shared):
    ended, report = python_case(OU_SCORE_BODY + """
small = fd.tabulate_score(fd.ExactScore(fd.OU(), mix), np.geomspace(0.02, 2.0, 10), [np.linspace(-1.0, 1.0, 21)])
try:
    fd.sample_reverse(fd.OU(), small, 500, T=2.0, t_min=0.02, steps=10)
except fd.DomainError:
    raise
except fd.FpdiffError as error:
    raise SystemExit(f"not a DomainError: {type(error).__name__}: {error}")
""", work)
    return classify_api(ended, report, "error", match=("start particles",))


# ------------------------------------------------------------------ shared files, the table


def meta_links_doubling(file):
    """26 levels, each linking twice to the next: a walk that follows every link reads 2^26 groups."""
    group = file.require_group("meta")
    for _ in range(26):
        deeper = group.create_group("a")
        group["b"] = deeper
        group = deeper


def shared_files(folder):
    """The files several cases read: score files, a results file and its ``fpdiff info``, a sweep's results."""
    ou, mix = fd.OU(), BUILTINS["bimodal-1d"][1]()
    exact = fd.ExactScore(ou, mix)
    shared = {"ou_score": os.path.join(folder, "ou-score.h5"), "link_bomb": os.path.join(folder, "link-bomb.h5"),
              "audit_score": os.path.join(folder, "audit-score.h5")}
    fd.tabulate_score(exact, np.geomspace(0.01, 1.0, 20), [np.linspace(-6.0, 6.0, 61)]).save(shared["ou_score"])
    fd.tabulate_score(exact, np.geomspace(0.01, 1.0, 20), [np.linspace(-6.0, 6.0, 61)]).save(shared["link_bomb"])
    with h5py.File(shared["link_bomb"], "a") as file:
        meta_links_doubling(file)
    # [-3, 3]: 0.27% of the prior N(0, 1) starts outside, so a few of 2000 particles leave the box
    fd.tabulate_score(exact, np.geomspace(1e-3, 1.0, 20), [np.linspace(-3.0, 3.0, 121)]).save(shared["audit_score"])
    config = {section: dict(values) for section, values in TINY.items()}
    config["views"] = {"density": True, "particles": 300}
    shared["results"] = run_experiment(experiment_from_dict(dict(config, output={"folder": "run"}), base=folder),
                                       progress=False)
    info = fpdiff_command(["info", shared["results"]], folder)
    shared["results_info"] = info.out.replace(shared["results"], "FILE")
    sweep = dict(TINY, sweep={"time.t_min": [0.05, 0.1]}, output={"folder": "sweep"})
    shared["sweep_results"] = run_experiment(experiment_from_dict(sweep, base=folder), progress=False)
    return shared


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print each case's detail under its row")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fpdiff-new-user-") as root:
        shared = shared_files(root)
        for number, (item, name, expected, function) in enumerate(CASES):
            work = os.path.join(root, f"case-{number}")
            os.makedirs(work)
            begun = time.perf_counter()
            try:
                outcome, detail = function(work, shared)
            except Exception as error:  # a fault of this script, not of fpdiff: shown as such
                outcome, detail = "other", f"the study script failed: {type(error).__name__}: {error}"
            seconds = time.perf_counter() - begun
            rows.append((item, name, expected, outcome, seconds, str(detail)))
            print(f"{item:>4}  {name[:62]:<62}  {expected:<11}  {outcome:<11}  {seconds:6.1f}", flush=True)
            if args.verbose:
                print(f"      {detail[:300]}", flush=True)
    print()
    totals = {outcome: sum(row[3] == outcome for row in rows) for outcome in OUTCOMES}
    print("totals: " + ", ".join(f"{outcome} {count}" for outcome, count in totals.items() if count))
    tried = [row for row in rows if row[3] != "skipped"]
    print(f"ended well (clear error or works): {sum(row[3] in GOOD for row in tried)} of {len(tried)} cases tried "
          f"({len(rows) - len(tried)} skipped)")
    others = [row for row in rows if row[3] not in GOOD]
    if others:
        print("\ncases that did not end as a clear error or works:")
        for item, name, expected, outcome, seconds, detail in others:
            print(f"  item {item}, {name}: {outcome}: {detail}")
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
