"""Running an experiment: tasks, checkpoints, resume, and the results file.

An :class:`~fpdiff.app.experiment.Experiment` becomes a list of tasks, one per
gamma and view (``density-0``, ``particles-0``, ...). Each finished task is
written atomically to ``<folder>/checkpoints/<task>.h5`` with the experiment's
fingerprint; ``resume=True`` skips the tasks whose checkpoint is there, so an
interrupted run continues where it stopped and — every task being
deterministic given the seed — ends with the same results as an uninterrupted
run. When all tasks are done, ``<folder>/results.h5`` is assembled
(atomically) with a table of metrics per gamma:

* ``l1``, ``kl``: the density view against the exact law at ``t_min`` (the
  density floored at :data:`KL_FLOOR` for the KL: a solver's tails can be 0
  where the exact law is 1e-80);
* ``w1``: the particle view against exact samples (sliced W1 in d >= 2);
* ``tv``, ``tv_floor``: density against particles, and the statistical floor
  of the particles' histogram (:func:`fpdiff.metrics.compare`);
* ``density_seconds``, ``particle_seconds``: wall times.

Sweeps. An experiment with a ``[sweep]`` table is a list of points (the
product of the swept values); each point is one task that runs all of its
views in memory (:func:`run_point`), in this process or on a Dask cluster
(:mod:`fpdiff.distributed`). This process alone writes: each completed
point's checkpoint ``point-<k>.h5`` (atomically), and at the end one
``results.h5`` holding every point, with the sweep coordinates as datasets.
A point that fails records its error (the others complete) and gets no
checkpoint, so ``--resume`` runs it again.

Files. A run holds the output folder's lock (:func:`output_lock`) from start
to end, so a second run into the same folder stops with an error instead of
mixing its files with the first's. Every checkpoint carries the experiment's
fingerprint, checked when it is found and again when it is assembled. fpdiff
reads and deletes only its own files: checkpoints named as its tasks
(:data:`CHECKPOINT_NAME`) and the temporary files of its atomic writes
(what a killed run leaves); anything else in the folder is left alone, and
a ``results.h5`` of a different experiment is replaced only when asked
(``overwrite=True``, ``--overwrite``). Results and checkpoint files hold
fixed-length strings only (no global heap, whose damage can make libhdf5
loop), are in HDF5's 1.10 format (:data:`LIBVER`: checksums on the file's
structure) with a Fletcher-32 checksum on every dataset; reading a damaged
file is a :class:`FormatError`.

The results file layout is described in ``docs/experiments.md``.
"""

import contextlib
import errno
import json
import os
import re
import time
import warnings

import filelock
import h5py
import numpy as np
from tqdm import tqdm

from .. import metrics
from .._version import __version__
from ..distributed import run_tasks
from ..distributions import Empirical
from ..errors import FormatError, FpdiffError, InputError, MassWarning
from ..fv import solve_forward, solve_reverse
from ..fv.comoving import data_scale, spread_scale
from ..fv.solve import BOX_MASS_LIMIT, box_problem, format_box
from ..particles import sample_reverse
from ..scores import EmpiricalScore, ExactScore, GridScore
from ..scores.io import _DAMAGE, LIBVER, _check_storage, _fixed_string, _shorten, atomic_path, load_score

RESULTS_FORMAT = "fpdiff.results"
RESULTS_VERSION = 1
#: test hook: stop (as if interrupted) after this many checkpoints have been written in one call
STOP_AFTER_ENV = "FPDIFF_STOP_AFTER_CHECKPOINTS"
#: exact samples of p(t_min) the particle view is compared with
REFERENCE_SAMPLES = 100_000
#: what to do when the grid's box misses part of a law (:func:`check_box`)
MASS_ADVICE = ("enlarge [grid].bounds, set [views] comoving = true (a grid that follows the spread), or set [grid] "
               "allow_mass_outside = true to run anyway (the metrics then describe the laws inside the box)")
KL_FLOOR = 1e-300
COLUMNS = ("gamma", "l1", "kl", "w1", "tv", "tv_floor", "density_seconds", "particle_seconds")
#: the lock file in the output folder, held while a run writes there (:func:`output_lock`)
LOCK_NAME = ".fpdiff.lock"
#: names of the checkpoint files fpdiff writes in ``<folder>/checkpoints``: nothing else there is read or deleted
CHECKPOINT_NAME = re.compile(r"(?:density|particles|point)-[0-9]+\.h5")
#: the files fpdiff writes in the output folder itself
OUTPUT_NAMES = ("results.h5", "reverse.png", "sweep.png")
#: a temporary file of :func:`fpdiff.scores.io.atomic_path` writing ``target``: ``.<target>.<12 hex digits>.tmp``
TEMPORARY_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}\.tmp")
#: what reading a damaged file can raise, besides the errors of :mod:`fpdiff.scores.io`
_READ_DAMAGE = _DAMAGE + (MemoryError, ArithmeticError, RecursionError)
#: deepest group nesting in a results or checkpoint file (fpdiff writes at most 5 levels)
MAX_DEPTH = 8


class Interrupted(KeyboardInterrupt):
    """Raised by the test hook :data:`STOP_AFTER_ENV` after the asked number of checkpoints: as if interrupted."""


def tasks(experiment):
    """The task names of ``experiment``, in the order they run."""
    names = []
    for i in range(len(experiment.gammas)):
        if experiment.density:
            names.append(f"density-{i}")
        if experiment.particles:
            names.append(f"particles-{i}")
    return names


def make_score(experiment):
    """The score the experiment asks for (``[score].source``)."""
    process, data = experiment.process, experiment.data
    source = experiment.score_source
    if source == "exact":
        return ExactScore(process, data)
    if source == "empirical":
        n_train = experiment.score_options["n_train"]
        points = data.points[:n_train] if isinstance(data, Empirical) else data.sample(n_train, seed=experiment.seed)
        return EmpiricalScore(process, points)
    if source == "grid":
        times = np.concatenate([[0.0], np.geomspace(experiment.t_min, experiment.T, 200)])
        forward = solve_forward(process, experiment.grid, data, experiment.T, save_at=times)
        return GridScore(forward, process)

    return load_score(experiment.score_options["path"], outside=experiment.score_options["outside"])


def reference_law(experiment):
    """The exact law of the data at ``t_min`` (a Gaussian mixture)."""
    return experiment.data.evolve(experiment.process, experiment.t_min)


def run_task(experiment, name, score):
    """Run one task; returns ``(arrays, attributes)`` to checkpoint.

    With ``[views] comoving``, ``[grid]`` is the grid at ``t_min`` (where the
    density is compared with the exact law): the solver's grid is its image
    at ``t = 0``, so the result lands on ``[grid]``.
    """
    view, index = name.split("-")
    gamma = experiment.gammas[int(index)]
    common = dict(T=experiment.T, gamma=gamma, t_min=experiment.t_min)
    noised = experiment.data.evolve(experiment.process, experiment.T) if experiment.start == "data" else None
    start = time.perf_counter()
    if view == "density":
        grid, options = experiment.grid, {}
        if experiment.comoving:  # the solver's grid is [grid] at t = 0 (fpdiff.fv.comoving: c(0) = 1)
            scale = spread_scale(experiment.process, experiment.t_min, data_scale(experiment.comoving))
            grid = grid.scaled(1.0 / scale)
            options["comoving"] = experiment.comoving
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MassWarning)  # judged here: an error unless [grid] allow_mass_outside
            solution = solve_reverse(experiment.process, grid, score, q0=noised, steps=experiment.steps,
                                     method=experiment.method, time_grid=experiment.time_grid, **options, **common)
        problem = box_problem(solution, "the start law", start_is_law=True, outflow_is_loss=True)
        if problem is not None:
            if not experiment.allow_mass_outside:
                raise InputError(f"gamma = {gamma:g}: {problem}; {MASS_ADVICE}")
            warnings.warn(MassWarning(f"gamma = {gamma:g}: {problem}"), stacklevel=2)
        return {"density": solution.final}, {"seconds": time.perf_counter() - start, "gamma": gamma}
    initial = experiment.particles if noised is None else noised.sample(experiment.particles, seed=experiment.seed + 2)
    solution = sample_reverse(experiment.process, score, initial, steps=experiment.particle_steps,
                              scheme=experiment.scheme, time_grid=experiment.particle_time_grid, seed=experiment.seed,
                              **common)
    return {"samples": solution.samples}, {"seconds": time.perf_counter() - start, "gamma": gamma}


def check_box(experiment):
    """Refuse an experiment whose grid misses more than :data:`~fpdiff.fv.solve.BOX_MASS_LIMIT` of a law it needs.

    The density view starts from the start law (the prior, or ``p_T``) and is
    compared with the exact law at ``t_min``: a box that cuts either off
    gives metrics of other laws (an L1 of 0.001 between two halves of the
    law, say) that look perfect. Checked before any task runs, unless
    ``[grid] allow_mass_outside`` (then the metrics describe the laws inside
    the box). With ``[views] comoving`` the grid moves with the start law, so
    only the law at ``t_min`` is checked here; the solver's diagnostics are
    checked after every solve in both cases.
    """
    if experiment.allow_mass_outside or not experiment.density:
        return
    laws = {"the exact law at t_min": reference_law(experiment)}
    if not experiment.comoving:
        start = experiment.data.evolve(experiment.process, experiment.T) if experiment.start == "data" else \
            experiment.process.prior(experiment.T, experiment.data.dim)
        laws[f"the start law ({'p_T' if experiment.start == 'data' else 'the prior'} at T = {experiment.T:g})"] = start
    for name, law in laws.items():
        mass = float(experiment.grid.integrate(law.cell_average(experiment.grid)))
        if 1.0 - mass > BOX_MASS_LIMIT:
            raise InputError(f"[grid].bounds {format_box(experiment.grid)} hold only {100 * mass:.3g}% of {name} "
                             f"(limit: {100 * BOX_MASS_LIMIT:g}% outside): the results would describe another law; "
                             f"{MASS_ADVICE}")


def run_point(experiment):
    """Run every task of ``experiment`` in memory; returns ``(rows, arrays)``: its metric rows and result arrays.

    What one point of a sweep does (on a worker). ``arrays`` maps HDF5
    paths relative to the point's group (``gamma/{i}/density``,
    ``gamma/{i}/samples``, ``grid/edges/{axis}``, ``grid/exact``) to arrays.
    """
    check_box(experiment)
    names = tasks(experiment)
    score = make_score(experiment)
    outputs = {name: run_task(experiment, name, score) for name in names}
    rows, per_gamma, exact_cells = _table(experiment, outputs.__getitem__)
    arrays = {"grid/exact": exact_cells}
    for axis, edges in enumerate(experiment.grid.edges):
        arrays[f"grid/edges/{axis}"] = edges
    for i, (density, samples) in per_gamma.items():
        if density is not None:
            arrays[f"gamma/{i}/density"] = density
        if samples is not None:
            arrays[f"gamma/{i}/samples"] = samples
    return rows, arrays


def run_experiment(experiment, resume=False, progress=True, client=None, on_point=None, overwrite=False):
    """Run every task of ``experiment`` (skipping checkpointed ones with ``resume``); returns the results path.

    An experiment with a ``[sweep]`` runs its points as tasks, on ``client``
    (a ``dask.distributed.Client``) or, without one, in this process;
    ``on_point(index, error)`` is called after each point is recorded.

    The run holds the output folder's lock (:func:`output_lock`). It first
    removes the temporary files that atomic writes of a killed run left
    (fpdiff's own only); at the end it deletes the checkpoints it wrote,
    and the ``checkpoints`` folder if nothing else is in it.

    Raises
    ------
    InputError
        Another run holds the folder's lock; the folder holds checkpoints of
        an earlier run and ``resume`` is false (nothing is deleted
        silently), or checkpoints of a different experiment; it holds a
        ``results.h5`` of a different experiment (or one fpdiff cannot
        read) and ``overwrite`` is false; ``<folder>/checkpoints`` is a
        symbolic link; the output path is a file; a file cannot be written
        (full or read-only disk).
    FormatError
        A checkpoint is corrupt (the message says which, and what to do).
    """

    folder = experiment.folder
    with output_lock(folder):
        checkpoints = _checkpoint_folder(folder)
        _remove_temporaries(folder, checkpoints)
        _check_earlier_results(experiment, overwrite)
        done = _finished(checkpoints, experiment.fingerprint)
        if done and not resume:
            raise InputError(f"{folder!r} holds {len(done)} checkpoint(s) of an interrupted (or partly failed) run "
                             "of this experiment: pass --resume to continue it, or delete them "
                             f"({', '.join(sorted(name + '.h5' for name in done)[:3])}"
                             f"{', ...' if len(done) > 3 else ''} in {checkpoints!r}) to start again")
        with writing(checkpoints):
            os.makedirs(checkpoints, exist_ok=True)
        if experiment.sweep:
            return _run_sweep(experiment, checkpoints, done, progress, client, on_point)
        stop_after = int(os.environ.get(STOP_AFTER_ENV, "0"))
        todo = [name for name in tasks(experiment) if name not in done]
        if todo:
            check_box(experiment)
        score = make_score(experiment) if todo else None
        written = 0
        with tqdm(total=len(tasks(experiment)), initial=len(tasks(experiment)) - len(todo), desc="fpdiff run",
                  unit="task", disable=not progress) as bar:
            for name in todo:
                bar.set_postfix_str(name)
                arrays, attributes = run_task(experiment, name, score)
                _write_checkpoint(os.path.join(checkpoints, f"{name}.h5"), experiment.fingerprint, arrays,
                                  attributes)
                bar.update()
                written += 1
                if stop_after and written >= stop_after:
                    raise Interrupted(f"stopped after {written} checkpoint(s) ({STOP_AFTER_ENV})")
        path = os.path.join(folder, "results.h5")
        _assemble(experiment, checkpoints, path)
        _remove_checkpoints(checkpoints, tasks(experiment))
        return path


# ------------------------------------------------------------------ the output folder

_held_locks = set()


@contextlib.contextmanager
def output_lock(folder):
    """Hold the lock of the output folder ``folder`` (created if missing) while the block runs.

    The lock is the OS lock (``flock``, through the ``filelock`` library) of
    the file :data:`LOCK_NAME` in the folder. The OS releases it when the
    process ends in any way (``kill -9`` included), so a run that died never
    blocks the next one; the (empty) file stays in the folder. It is
    re-entrant within a process (``fpdiff run`` holds it around the run and
    its figures). On a file system without ``flock`` (some network file
    systems) the run stops with an :class:`InputError` saying so, unless the
    installed ``filelock`` falls back to a marker file there (recent
    versions do).

    Raises
    ------
    InputError
        Another process holds the lock (another run writes into the folder);
        the folder is a file or cannot be created or written; the lock file
        is a symbolic link.
    """

    folder = os.fspath(folder)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise InputError(f"the output folder {folder!r} is a file, not a folder: choose another output folder "
                         "(--out, or [output].folder in the experiment file)")
    with writing(folder):
        os.makedirs(folder, exist_ok=True)
    key = os.path.realpath(folder)
    if key in _held_locks:
        yield
        return
    path = os.path.join(folder, LOCK_NAME)
    if os.path.islink(path):
        raise InputError(f"{path!r} is a symbolic link: fpdiff does not lock (or write) through links; remove it")
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:  # an OSError (TimeoutError): before the one below
        raise InputError(f"another fpdiff run is writing into {folder!r} (it holds {path!r}): wait until it ends, "
                         "or give this run another output folder (--out)") from None
    except NotImplementedError:  # older filelock on a file system without flock (ENOSYS)
        raise InputError(f"the file system of {folder!r} cannot lock files ({path!r}), and fpdiff locks its output "
                         "folder so that two runs never mix their files: choose an output folder on a local disk "
                         "(--out)") from None
    except OSError as error:
        raise _write_failure(path, error) from None
    _held_locks.add(key)
    try:
        yield
    finally:
        _held_locks.discard(key)
        lock.release()


@contextlib.contextmanager
def writing(path):
    """Turn an ``OSError`` met while writing ``path`` (full or read-only disk, no permission) into an InputError."""
    try:
        yield
    except OSError as error:
        raise _write_failure(path, error) from None


def _write_failure(path, error):
    """The InputError for an OSError met writing ``path``: what happened and what to do."""
    resume = "; the tasks already finished stay checkpointed: rerun with --resume"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "the disk is full (or over quota): free some space" + resume
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        advice = "the folder is not writable: choose a writable output folder (--out)"
    elif error.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        advice = "a file stands where fpdiff needs a folder (or the reverse): choose another output folder (--out)"
    else:
        advice = "is the disk full or read-only? Free some space, or choose a writable output folder (--out)" + resume
    return InputError(f"cannot write {os.fspath(path)!r} ({_shorten(error)}): {advice}")


def _checkpoint_folder(folder):
    """``<folder>/checkpoints``, refused when it is a symbolic link or a file."""
    path = os.path.join(folder, "checkpoints")
    if os.path.islink(path):
        raise InputError(f"{path!r} is a symbolic link (to {os.readlink(path)!r}): fpdiff does not write its "
                         "checkpoints through a link (they would be written, and deleted, in another folder); "
                         "remove the link (what it points to is kept), or choose another output folder (--out)")
    if os.path.lexists(path) and not os.path.isdir(path):
        raise InputError(f"{path!r} is a file: fpdiff keeps its checkpoints in a folder of that name; move the file "
                         "away, or choose another output folder (--out)")
    return path


def _remove_temporaries(folder, checkpoints):
    """Remove the temporary files of fpdiff's atomic writes that a killed run left in ``folder`` and ``checkpoints``.

    Only files named as :func:`fpdiff.scores.io.atomic_path` names them, for the
    files fpdiff writes there; called with the folder's lock held, so no
    fpdiff run is writing them.
    """
    for where, owned in ((folder, OUTPUT_NAMES.__contains__), (checkpoints, CHECKPOINT_NAME.fullmatch)):
        if not os.path.isdir(where):
            continue
        for entry in os.listdir(where):
            match = TEMPORARY_NAME.fullmatch(entry)
            path = os.path.join(where, entry)
            if match and owned(match["target"]) and os.path.isfile(path) and not os.path.islink(path):
                with writing(path):
                    os.remove(path)


def _check_earlier_results(experiment, overwrite):
    """Refuse (without ``overwrite``) a ``results.h5`` in the folder that is not of this experiment."""
    path = os.path.join(experiment.folder, "results.h5")
    if overwrite or not os.path.lexists(path):
        return
    advice = "pass --overwrite to replace it, or give this run another output folder (--out)"
    try:
        fingerprint = results_fingerprint(path)
    except FpdiffError as error:
        raise InputError(f"{path!r} exists and is not a results file fpdiff can read ({error}): {advice}") from None
    if fingerprint != experiment.fingerprint:
        raise InputError(f"{path!r} holds the results of a different experiment (fingerprint {fingerprint!r}; this "
                         f"experiment's is {experiment.fingerprint!r}): {advice}")


def _finished(checkpoints, fingerprint):
    """The tasks whose checkpoints are in ``checkpoints``, each read in full and checked (:func:`read_checkpoint`)."""
    done = set()
    if not os.path.isdir(checkpoints):
        return done
    for entry in sorted(os.listdir(checkpoints)):
        if CHECKPOINT_NAME.fullmatch(entry):  # anything else is not fpdiff's: never read, never deleted
            read_checkpoint(os.path.join(checkpoints, entry), fingerprint)
            done.add(entry[:-3])
    return done


def _remove_checkpoints(checkpoints, names):
    """Delete the checkpoints ``names`` (task names), then the folder if nothing else is in it."""
    for name in names:
        with writing(checkpoints), contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(checkpoints, f"{name}.h5"))
    if not os.listdir(checkpoints):
        with writing(checkpoints):
            os.rmdir(checkpoints)


# ------------------------------------------------------------------ writing and reading files


def _write_checkpoint(path, fingerprint, arrays, attributes):
    with writing(path), atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        _write_attributes(file, {"fingerprint": fingerprint, **attributes})
        for key, value in arrays.items():
            _write_array(file, key, value)


def _write_attributes(item, attributes):
    """Attributes of a group or file: text as fixed-length UTF-8 strings (h5py writes ``str`` variable-length)."""
    for key, value in attributes.items():
        item.attrs[key] = _fixed_string(value) if isinstance(value, str) else value


def _write_array(group, name, value):
    """A dataset with a Fletcher-32 checksum; text as fixed-length UTF-8 strings.

    A scalar dataset cannot have a filter: a scalar is stored as a
    one-element array with the attribute ``scalar`` (what
    :func:`_read_arrays` turns back into a scalar).
    """
    value = np.asarray(value)
    if value.dtype.kind == "U":
        value = np.char.encode(value, "utf-8")
    if value.ndim == 0:
        group.create_dataset(name, data=value.reshape(1), fletcher32=True).attrs["scalar"] = np.int8(1)
    else:
        group.create_dataset(name, data=value, fletcher32=True)


def _open(path, what, advice=""):
    """``path`` opened for reading: FormatError if it is not a readable HDF5 file."""
    try:
        return h5py.File(path, "r")
    except _READ_DAMAGE as error:
        raise FormatError(f"{what} {path!r} is not a readable HDF5 file (not HDF5, truncated or corrupt: "
                          f"{_shorten(error)}){advice}") from None


@contextlib.contextmanager
def _reading(path, what, advice=""):
    """Turn damage met while reading ``path`` (checksum mismatch, bad header, ...) into a FormatError."""
    try:
        yield
    except FpdiffError:
        raise
    except _READ_DAMAGE as error:
        raise FormatError(f"{what} {path!r} is corrupt ({type(error).__name__}: {_shorten(error)}){advice}") \
            from None


def _text(value, path, where):
    """An attribute or dataset element as text (fixed-length bytes, or ``str`` in files of fpdiff <= 0.1)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise FormatError(f"{path!r}, {where}: text expected; got {_shorten(repr(value))}")


def _attributes(item, path):
    """The attributes of a group or file, text decoded."""
    return {key: _text(value, path, f"attribute {key!r}") if isinstance(value, (bytes, np.bytes_, str)) else value
            for key, value in ((key, item.attrs[key]) for key in item.attrs)}


def _read_arrays(group, path, prefix="", depth=0):
    """Every dataset below ``group`` as ``{relative path: array}``, each header checked before its data are read."""
    if depth > MAX_DEPTH:
        raise FormatError(f"{path!r}: groups nested deeper than {MAX_DEPTH} levels; fpdiff writes at most 5")

    def fail(where, text):
        raise FormatError(f"{path!r}, {where}: {text}")

    arrays = {}
    for key in group:
        name = prefix + key
        if not isinstance(group.get(key, getlink=True), h5py.HardLink):
            fail(f"{name!r}", "is a link: fpdiff writes no links")
        item = group[key]
        if isinstance(item, h5py.Group):
            arrays.update(_read_arrays(item, path, name + "/", depth + 1))
        elif isinstance(item, h5py.Dataset):
            if item.shape is None:
                fail(f"dataset {name!r}", "has no dataspace; an array is expected")
            _check_storage(item, f"dataset {name!r}", fail)
            value = item[()]
            arrays[name] = value[0] if "scalar" in item.attrs and value.shape == (1,) else value
        else:
            fail(f"{name!r}", f"unexpected object ({type(item).__name__})")
    return arrays


def read_checkpoint(path, fingerprint):
    """A checkpoint's ``(arrays, attributes)``, checked: written for ``fingerprint``, readable, checksums intact.

    ``arrays`` maps dataset paths (``density``, ``gamma/0/samples``, ...) to
    arrays.

    Raises
    ------
    InputError
        The checkpoint was written by a different experiment (or is not an
        fpdiff checkpoint).
    FormatError
        It is corrupt; the message names it and says what to do.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path)
    advice = (": delete it (then --resume runs its task again), or delete fpdiff's checkpoints in "
              f"{folder!r} and run without --resume to start again")
    with _reading(path, "checkpoint", advice):
        if not os.path.isfile(path):
            raise FormatError(f"checkpoint {path!r} is not a regular file{advice}")
        with _open(path, "checkpoint", advice) as file:
            attributes = _attributes(file, path)
            theirs = attributes.get("fingerprint")
            if theirs != fingerprint:
                raise InputError(f"checkpoint {path!r} belongs to a different experiment (fingerprint {theirs!r}; "
                                 f"this experiment's is {fingerprint!r}: its configuration changed, or another "
                                 f"experiment wrote into this folder): delete fpdiff's checkpoints in {folder!r} "
                                 "(density-*.h5, particles-*.h5, point-*.h5) to start again, or choose another "
                                 "output folder (--out)")
            arrays = _read_arrays(file, path)
    return arrays, attributes


def results_table(experiment, checkpoints):
    """Rows of metrics per gamma (see the module docstring) from the checkpoints; NaN where a view did not run.

    Each checkpoint is checked again (:func:`read_checkpoint`): a file of
    another experiment is never assembled.
    """
    def load(name):
        path = os.path.join(checkpoints, f"{name}.h5")
        arrays, attributes = read_checkpoint(path, experiment.fingerprint)
        needed = "density" if name.startswith("density") else "samples"
        if needed not in arrays or "seconds" not in attributes:
            raise FormatError(f"checkpoint {path!r} lacks the dataset {needed!r} or the attribute 'seconds': delete "
                              "it (then --resume runs its task again)")
        return arrays, attributes

    return _table(experiment, load)


def _table(experiment, load):
    """:func:`results_table` with the tasks' ``(arrays, attributes)`` from ``load(task name)``."""
    law = reference_law(experiment)
    grid = experiment.grid
    exact_cells = law.cell_average(grid)
    reference = law.sample(experiment.reference_samples, seed=experiment.seed + 1) if experiment.particles else None
    rows, arrays = [], {}
    for i, gamma in enumerate(experiment.gammas):
        row = dict.fromkeys(COLUMNS, np.nan)
        row["gamma"] = float(gamma)
        density = samples = None
        if experiment.density:
            data, attributes = load(f"density-{i}")
            density = data["density"]
            row["l1"] = metrics.l1(exact_cells, density, grid)
            row["kl"] = metrics.kl(exact_cells, density, grid, floor=KL_FLOOR)
            row["density_seconds"] = attributes["seconds"]
        if experiment.particles:
            data, attributes = load(f"particles-{i}")
            samples = data["samples"]
            row["w1"] = (metrics.w1(samples, reference) if grid.ndim == 1
                         else metrics.sliced_w(samples, reference, seed=experiment.seed))
            row["particle_seconds"] = attributes["seconds"]
        if density is not None and samples is not None:
            comparison = metrics.compare(density, samples, grid)
            row["tv"], row["tv_floor"] = comparison.tv, comparison.tv_floor
        rows.append({key: float(value) for key, value in row.items()})
        arrays[i] = (density, samples)
    return rows, arrays, exact_cells


def _assemble(experiment, checkpoints, path):

    rows, arrays, exact_cells = results_table(experiment, checkpoints)
    with writing(path), atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        _write_attributes(file, {"format": RESULTS_FORMAT, "version": np.int64(RESULTS_VERSION),
                                 "fpdiff_version": __version__,
                                 "experiment": json.dumps(experiment.config, sort_keys=True),
                                 "fingerprint": experiment.fingerprint})
        for column in COLUMNS:
            _write_array(file, f"table/{column}", np.array([row[column] for row in rows], dtype=np.float64))
        for axis, edges in enumerate(experiment.grid.edges):
            _write_array(file, f"grid/edges/{axis}", edges)
        _write_array(file, "grid/exact", exact_cells)
        for i, (density, samples) in arrays.items():
            group = file.create_group(f"gamma/{i}")
            group.attrs["gamma"] = experiment.gammas[i]
            if density is not None:
                _write_array(group, "density", density)
            if samples is not None:
                _write_array(group, "samples", samples)


def read_results(path):
    """The results file as ``(config, rows, arrays)``: the experiment, metric rows per gamma, and the arrays.

    For a sweep's results (``is_sweep_results``) each row also has ``point``
    and the point's coordinates, and ``arrays`` holds ``axes`` (the swept
    keys), ``errors`` (per point, ``""`` if it ran) and ``points`` (per point
    the arrays of a single run: ``edges``, ``exact``, ``gamma``; None for a
    failed point).

    Reads the files of every fpdiff version (those of fpdiff 0.1 have
    variable-length strings and no checksums).

    Raises
    ------
    InputError
        ``path`` is not a file.
    FormatError
        It is not an fpdiff results file, or it is damaged: a checksum
        mismatch, a missing or misshapen dataset, unreadable text.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path!r} is not a file")
    with _reading(path, "results file"):  # also the checks below: a damaged value is a FormatError
        with _open(path, "results file") as file:
            attributes = _results_attributes(file, path)
            arrays = _read_arrays(file, path)
            sweep_axes = (json.loads(_text(file["sweep"].attrs["axes"], path, "attribute 'sweep/axes'"))
                          if attributes.get("layout") == "sweep" else None)
        config = json.loads(attributes["experiment"])
        if not isinstance(config, dict) or not all(isinstance(section, dict) for section in config.values()):
            raise FormatError(f"{path!r}, attribute 'experiment': not the JSON of an experiment's tables")

        def need(key):
            if key not in arrays:
                raise FormatError(f"{path!r}: dataset {key!r} is missing")
            return arrays[key]

        if sweep_axes is not None:
            return (config, *_read_sweep(path, config, sweep_axes, arrays, need))
        columns = _table_columns(path, COLUMNS, need)
        rows = [{column: float(columns[column][i]) for column in COLUMNS} for i in range(len(columns["gamma"]))]
        return config, rows, _point_arrays(path, "", len(rows), arrays, need)


def _results_attributes(file, path):
    """The file's attributes after checking ``format`` and ``version``."""
    attributes = _attributes(file, path)
    if attributes.get("format") != RESULTS_FORMAT:
        raise FormatError(f"{path!r} is not an fpdiff results file (attribute 'format' = "
                          f"{_shorten(repr(attributes.get('format')), 80)}; expected {RESULTS_FORMAT!r})")
    version = attributes.get("version")
    if np.ndim(version) != 0 or not np.issubdtype(np.asarray(version).dtype, np.integer) or version < 1:
        raise FormatError(f"{path!r}, attribute 'version': an integer >= 1 expected; got {_shorten(repr(version))}")
    if version > RESULTS_VERSION:
        raise FormatError(f"{path!r} was written by a newer fpdiff (results version {int(version)}; this one reads "
                          f"<= {RESULTS_VERSION}): upgrade fpdiff")
    if "experiment" not in attributes or not isinstance(attributes["experiment"], str):
        raise FormatError(f"{path!r}: the attribute 'experiment' (the configuration as JSON) is missing")
    return attributes


def _table_columns(path, names, need):
    """The ``table/{name}`` datasets: 1-D, of one length."""
    columns = {name: need(f"table/{name}") for name in names}
    lengths = {np.shape(column) for column in columns.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise FormatError(f"{path!r}: the datasets 'table/...' must be 1-D arrays of one length; got shapes "
                          f"{_shorten(sorted(lengths))}")
    return columns


def _point_arrays(path, prefix, count, arrays, need):
    """``edges``, ``exact`` and ``gamma`` (``count`` dicts) of a run's results under ``prefix``, shapes checked."""
    ndim = sum(1 for key in arrays if key.startswith(f"{prefix}grid/edges/"))
    edges = [need(f"{prefix}grid/edges/{axis}") for axis in range(ndim)]
    exact = need(f"{prefix}grid/exact")
    shape = tuple(len(e) - 1 for e in edges)
    if not edges or any(e.ndim != 1 or len(e) < 2 for e in edges) or exact.shape != shape:
        raise FormatError(f"{path!r}: '{prefix}grid' must hold edges per axis and 'exact' of their cells' shape; got "
                          f"{len(edges)} axes and 'exact' of shape {exact.shape}")
    gamma = []
    for i in range(count):
        results = {key: arrays[f"{prefix}gamma/{i}/{key}"] for key in ("density", "samples")
                   if f"{prefix}gamma/{i}/{key}" in arrays}
        if "density" in results and results["density"].shape != shape:
            raise FormatError(f"{path!r}: '{prefix}gamma/{i}/density' has shape {results['density'].shape}; the "
                              f"grid's is {shape}")
        if "samples" in results and (results["samples"].ndim != 2 or results["samples"].shape[1] != len(edges)):
            raise FormatError(f"{path!r}: '{prefix}gamma/{i}/samples' has shape {results['samples'].shape}; "
                              f"(M, {len(edges)}) expected")
        gamma.append(results)
    return {"edges": edges, "exact": exact, "gamma": gamma}


def results_fingerprint(path):
    """The fingerprint of the experiment whose results ``path`` holds (FormatError if it is not a results file)."""
    path = os.fspath(path)
    with _reading(path, "results file"), _open(path, "results file") as file:
        return _results_attributes(file, path).get("fingerprint")


def format_table(rows):
    """The metric rows as an aligned text table."""
    header = (f"{'gamma':>6} {'L1 grid':>10} {'KL grid':>10} {'W1 part.':>10} {'TV grid-part.':>14} "
              f"{'TV floor':>9} {'grid [s]':>9} {'part. [s]':>9}")
    lines = [header]
    for row in rows:
        lines.append(f"{row['gamma']:>6.2f} {row['l1']:>10.2e} {row['kl']:>10.2e} {row['w1']:>10.2e} "
                     f"{row['tv']:>14.2e} {row['tv_floor']:>9.2e} {row['density_seconds']:>9.3f} "
                     f"{row['particle_seconds']:>9.3f}")
    return "\n".join(lines).replace("nan", "  -")


# ------------------------------------------------------------------ sweeps

SWEEP_COLUMNS = ("point",) + COLUMNS


def _run_sweep(experiment, checkpoints, done, progress, client, on_point):
    points = experiment.points()
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0"))
    errors = {}
    written = [0]

    def record(index, value, error):
        if error is not None:
            errors[index] = error
        else:
            rows, arrays = value
            _write_checkpoint(os.path.join(checkpoints, f"point-{index}.h5"), experiment.fingerprint, arrays,
                              {"rows": json.dumps(rows), "coordinates": json.dumps(points[index][0])})
            written[0] += 1
        if on_point is not None:
            on_point(index, error)
        if stop_after and written[0] >= stop_after:
            raise Interrupted(f"stopped after {written[0]} checkpoint(s) ({STOP_AFTER_ENV})")


    todo = [(k, (point,), {}) for k, (_, point) in enumerate(points) if f"point-{k}" not in done]
    run_tasks(run_point, todo, client, record, progress=progress, desc="fpdiff sweep", initial=len(points) - len(todo),
              total=len(points))
    path = os.path.join(experiment.folder, "results.h5")
    _assemble_sweep(experiment, points, checkpoints, errors, path)
    if not errors:
        _remove_checkpoints(checkpoints, [f"point-{k}" for k in range(len(points))])
    return path


def _coordinate_dataset(values):
    """A sweep axis as an HDF5-friendly array: numbers as numbers, anything else as (fixed-length) JSON text."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64 if any(isinstance(v, float) for v in values) else np.int64)
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=str)
    return np.array([json.dumps(v) for v in values], dtype=str)


def _assemble_sweep(experiment, points, checkpoints, errors, path):

    rows, results = [], {}
    for k in range(len(points)):
        if k not in errors:  # every checkpoint read and checked before the results file is begun
            checkpoint = os.path.join(checkpoints, f"point-{k}.h5")
            results[k], attributes = read_checkpoint(checkpoint, experiment.fingerprint)
            with _reading(checkpoint, "checkpoint", ": delete it (then --resume runs its point again)"):
                rows += [{"point": k, **{column: float(row[column]) for column in COLUMNS}}
                         for row in json.loads(attributes["rows"])]
    with writing(path), atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        _write_attributes(file, {"format": RESULTS_FORMAT, "version": np.int64(RESULTS_VERSION), "layout": "sweep",
                                 "fpdiff_version": __version__,
                                 "experiment": json.dumps(experiment.config, sort_keys=True),
                                 "fingerprint": experiment.fingerprint})
        sweep = file.create_group("sweep")
        axes = list(experiment.sweep)
        _write_attributes(sweep, {"axes": json.dumps(axes)})
        for name in axes:
            _write_array(sweep, name, _coordinate_dataset([coordinates[name] for coordinates, _ in points]))
        _write_array(file, "errors", np.array([errors.get(k, "") for k in range(len(points))], dtype=str))
        for k, arrays in results.items():
            group = file.create_group(f"point/{k}")
            for key, value in arrays.items():
                _write_array(group, key, value)
        for column in SWEEP_COLUMNS:
            _write_array(file, f"table/{column}", np.array([row[column] for row in rows],
                                                           dtype=np.int64 if column == "point" else np.float64))


def _read_sweep(path, config, axes, arrays, need):
    """``(rows, arrays)`` of a sweep's results (see :func:`read_results`) from the file's datasets."""
    if not isinstance(axes, list) or not all(isinstance(name, str) and name in config.get("sweep", {})
                                             for name in axes):
        raise FormatError(f"{path!r}, attribute 'sweep/axes': the swept keys of the experiment expected; got "
                          f"{_shorten(repr(axes))}")
    errors = need("errors")
    if errors.ndim != 1 or errors.dtype.kind not in "OS":
        raise FormatError(f"{path!r}: dataset 'errors' must be a 1-D array of text; got {errors.dtype} "
                          f"{errors.shape}")
    errors = [_text(error, path, "dataset 'errors'") for error in errors]
    coordinates = {}
    for name in axes:
        values = need(f"sweep/{name}")
        if values.shape != (len(errors),):
            raise FormatError(f"{path!r}: dataset 'sweep/{name}' has shape {values.shape}; one value per point "
                              f"({len(errors)}) expected")
        if values.dtype.kind in "OS":
            values = [_text(v, path, f"dataset 'sweep/{name}'") for v in values]
            text_axis = not all(isinstance(v, str) for v in config["sweep"][name])
            values = [json.loads(v) if text_axis else v for v in values]
        else:
            values = values.tolist()
        coordinates[name] = values
    columns = _table_columns(path, SWEEP_COLUMNS, need)
    rows = []
    for i in range(len(columns["point"])):
        k = int(columns["point"][i])
        if not 0 <= k < len(errors) or errors[k]:
            raise FormatError(f"{path!r}: dataset 'table/point' names point {k}, which did not run or does not exist")
        rows.append({"point": k, **{name: coordinates[name][k] for name in axes},
                     **{column: float(columns[column][i]) for column in COLUMNS}})
    points = []
    for k in range(len(errors)):
        if errors[k]:
            points.append(None)
            continue
        prefix = f"point/{k}/"
        count = len({key.split("/")[3] for key in arrays if key.startswith(f"{prefix}gamma/")})
        points.append(_point_arrays(path, prefix, count, arrays, need))
    return rows, {"axes": axes, "coordinates": coordinates, "errors": errors, "points": points}


def is_sweep_results(path):
    """Whether ``path`` is the results file of a sweep (FormatError if it is not a readable results file)."""
    path = os.fspath(path)
    with _reading(path, "results file"), _open(path, "results file") as file:
        return _results_attributes(file, path).get("layout") == "sweep"


def format_sweep_table(rows, axes, errors=()):
    """The rows of a sweep's results as an aligned text table (coordinates first), then the failed points."""
    names = [name.split(".", 1)[1] if name != "reverse.gamma" else "gamma*" for name in axes]
    widths = [max(len(n), 8) for n in names]
    header = (f"{'point':>5} " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths)) +
              format_table([]).splitlines()[0].replace("gamma", "gamma", 1))
    lines = [header]
    for row in rows:
        coordinates = " ".join(f"{_short_value(row[name]):>{w}}" for name, w in zip(axes, widths))
        lines.append(f"{row['point']:>5} {coordinates}" + format_table([row]).splitlines()[1])
    for k, error in enumerate(errors):
        if error:
            lines.append(f"point {k} failed: {error}")
    return "\n".join(lines)


def _short_value(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value).replace(" ", "")
