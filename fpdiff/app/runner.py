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

Files. A run holds the output folder's lock (:func:`fpdiff.app.folder.output_lock`)
and reads and deletes only fpdiff's own files there (:mod:`fpdiff.app.folder`).
Every checkpoint carries the experiment's fingerprint, checked when it is
found and again when it is assembled; results and checkpoint files are
checksummed, and reading a damaged one is a :class:`FormatError`
(:mod:`fpdiff.app.files`).

The results file layout is described in ``docs/experiments.md``.
"""

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
import warnings
from functools import partial

import h5py
import numpy as np
from tqdm import tqdm

from .. import metrics
from .._version import __version__
from ..distributed.cluster import run_tasks
from ..distributions import Empirical
from ..errors import FormatError, FpdiffError, InputError, MassWarning
from ..fv.reverse import solve_reverse
from ..fv.solve import solve_forward
from ..fv.comoving import data_scale, spread_scale
from ..fv.solve import box_problem
from ..grid import BOX_MASS_LIMIT, format_box
from ..particles.solve import sample_reverse
from ..scores.empirical import EmpiricalScore
from ..scores.exact import ExactScore
from ..scores.grid import GridScore
from .._hdf5 import LIBVER, atomic_path
from ..scores.io import load_score
from .experiment import REFERENCE_PROJECTIONS
from .files import (COLUMNS, RESULTS_FORMAT, RESULTS_VERSION, SWEEP_COLUMNS, label_dimensions, process_arrays,
                    read_checkpoint, reading, results_fingerprint, write_array, write_attributes, write_checkpoint)
from .folder import (CHECKPOINT_NAME, _checkpoint_folder, _remove_checkpoints, _remove_temporaries, output_lock,
                     writing)

#: test hook: stop (as if interrupted) after this many checkpoints have been written in one call
STOP_AFTER_ENV = "FPDIFF_STOP_AFTER_CHECKPOINTS"
#: what to do when the grid's box misses part of a law (:func:`check_box`)
MASS_ADVICE = ("enlarge [grid].bounds, set [views] comoving = true (a grid that follows the spread), or set [grid] "
               "allow_mass_outside = true to run anyway (the metrics then describe the laws inside the box)")
KL_FLOOR = 1e-300
#: the keys only the particle view (or where results go) reads: points of a sweep that differ in these alone share
#: their density solves, their score and their exact law
PARTICLE_KEYS = {"time": ("particle_steps", "particle_time_grid"),
                 "views": ("particles", "scheme", "eta", "reference_samples"), "output": ("folder",)}


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
                              **({} if experiment.eta is None else {"eta": experiment.eta}), **common)
    return {"samples": solution.samples}, {"seconds": time.perf_counter() - start, "gamma": gamma}


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


def check_box(experiment):
    """Refuse an experiment whose grid misses more than :data:`~fpdiff.grid.BOX_MASS_LIMIT` of a law it needs.

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


def run_point(experiment, shared=None):
    """Run every task of ``experiment`` in memory; returns ``(rows, arrays)``: its metric rows and result arrays.

    What one point of a sweep does (on a worker). ``arrays`` maps HDF5
    paths relative to the point's group (``gamma/{i}/density``,
    ``gamma/{i}/samples``, ``grid/edges/{axis}``, ``grid/exact``, and the
    process: ``process/description`` and its tables,
    :func:`~fpdiff.app.files.process_arrays`) to arrays.

    ``shared`` is the token of a sweep (:func:`sharing`): the points of one sweep that run in one process then
    compute once what they have in common (:func:`_memo`): the reference samples and their sorted projections, the
    exact law's cell averages, the score (one per thread), and the density solves of points that differ only in the
    particle view's keys (:data:`PARTICLE_KEYS`). Every task being deterministic given its inputs, the results are
    the same as without sharing; a shared solve reports the seconds it took once.
    """
    memo = _shared(shared)
    check_box(experiment)
    names = tasks(experiment)
    density_key = _density_key(experiment)
    # one score per thread: a score keeps its last time's values (ExactScore.distribution), which two Dask worker
    # threads of one process would overwrite under each other
    score = _memo(memo, ("score", density_key, threading.get_ident()), lambda: make_score(experiment))
    outputs = {}
    for name in names:
        if name.startswith("density"):
            gamma = experiment.gammas[int(name.split("-")[1])]
            outputs[name] = _memo(memo, ("density", density_key, gamma), partial(run_task, experiment, name, score))
        else:
            outputs[name] = run_task(experiment, name, score)
    rows, per_gamma, exact_cells = _table(experiment, outputs.__getitem__, memo)
    arrays = {"grid/exact": exact_cells}
    for axis, edges in enumerate(experiment.grid.edges):
        arrays[f"grid/edges/{axis}"] = edges
    arrays.update(process_arrays(experiment.process))
    for i, (density, samples) in per_gamma.items():
        if density is not None:
            arrays[f"gamma/{i}/density"] = density
        if samples is not None:
            arrays[f"gamma/{i}/samples"] = samples
    return rows, arrays


# ------------------------------------------------------------------ what the points of a sweep share


#: per process, what the points of the sweep it runs share: {token: {key: value}}, one sweep's at a time (a new
#: token drops an earlier sweep's values, so a long-lived Dask worker holds one sweep's at most)
_SHARED = {}
_SHARED_LOCK = threading.Lock()


@contextlib.contextmanager
def sharing(client=None):
    """A token for :func:`run_point`'s ``shared`` during a sweep; its values are dropped when the block ends.

    In this process, and on the workers of ``client`` (a ``dask.distributed.Client``) where the points ran: each
    worker process shares what its own points have in common (points run elsewhere compute it again, with the same
    results).

    Yields
    ------
    str
        The token.
    """
    token = uuid.uuid4().hex
    try:
        yield token
    finally:
        _release(token)
        if client is not None:
            try:
                client.run(_release, token)
            except Exception:  # workers that are gone hold nothing; the next sweep's token drops what others hold
                pass


def _shared(token):
    """The values shared under ``token`` in this process (a fresh dict, shared with nobody, for None)."""
    if token is None:
        return {}
    with _SHARED_LOCK:
        if token not in _SHARED:
            _SHARED.clear()
            _SHARED[token] = {}
        return _SHARED[token]


def _release(token):
    with _SHARED_LOCK:
        _SHARED.pop(token, None)


def _memo(memo, key, compute):
    """``memo[key]``, computed by ``compute()`` the first time (two threads asking at once may both compute it)."""
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _density_key(experiment):
    """What the score, the exact law and the density solves depend on, as text: the recorded configuration less the
    keys of :data:`PARTICLE_KEYS` and the gammas (a task has one), the seed unless it draws the score's training
    points, and the folder relative paths start from."""
    config = {section: dict(values) if isinstance(values, dict) else values
              for section, values in experiment.recorded_config.items() if section not in ("sweep", "cluster")}
    for section, keys in PARTICLE_KEYS.items():
        for key in keys:
            config.get(section, {}).pop(key, None)
    config.get("reverse", {}).pop("gammas", None)
    if experiment.score_source != "empirical" or isinstance(experiment.data, Empirical):
        config.get("output", {}).pop("seed", None)
    return json.dumps([config, os.path.abspath(experiment.base)], sort_keys=True)


def _law_key(law):
    """A Gaussian mixture as text: the SHA-256 of its parameters (weights, means, covariances) and their shapes."""
    digest = hashlib.sha256()
    for array in (law.weights, law.means, law.covariances):
        array = np.ascontiguousarray(array, dtype="<f8")
        digest.update(repr(array.shape).encode() + array.tobytes())
    return digest.hexdigest()


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
                write_checkpoint(os.path.join(checkpoints, f"{name}.h5"), experiment.fingerprint, arrays,
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


# ------------------------------------------------------------------ writing and reading files


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


def _table(experiment, load, memo=None):
    """:func:`results_table` with the tasks' ``(arrays, attributes)`` from ``load(task name)``.

    The reference samples are projected and sorted once for every gamma (:class:`fpdiff.metrics.SlicedReference`),
    and, with a sweep's ``memo`` (:func:`run_point`), once for every point with the same law, number and seed.
    """
    memo = {} if memo is None else memo
    law = reference_law(experiment)
    grid = experiment.grid
    law_key = _law_key(law)
    grid_key = json.dumps([edges.tolist() for edges in grid.edges])
    exact_cells = _memo(memo, ("exact", law_key, grid_key), lambda: law.cell_average(grid))
    reference = None
    if experiment.particles:
        n, seed = experiment.reference_samples, experiment.seed
        reference = _memo(memo, ("reference", law_key, n, seed), lambda: metrics.SlicedReference(
            law.sample(n, seed=seed + 1), n_projections=REFERENCE_PROJECTIONS, seed=seed))
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
            row["w1"] = reference.distance(samples)  # W1 in one dimension, sliced W1 in more
            row["particle_seconds"] = attributes["seconds"]
        if density is not None and samples is not None:
            comparison = metrics.compare(density, samples, grid, transport=False)  # its W1 is not in the table
            row["tv"], row["tv_floor"] = comparison.tv, comparison.tv_floor
        rows.append({key: float(value) for key, value in row.items()})
        arrays[i] = (density, samples)
    return rows, arrays, exact_cells


def _assemble(experiment, checkpoints, path):

    rows, arrays, exact_cells = results_table(experiment, checkpoints)
    with writing(path), atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        write_attributes(file, {"format": RESULTS_FORMAT, "version": np.int64(RESULTS_VERSION),
                                 "fpdiff_version": __version__,
                                 "experiment": json.dumps(experiment.recorded_config, sort_keys=True),
                                 "fingerprint": experiment.fingerprint})
        for column in COLUMNS:
            write_array(file, f"table/{column}", np.array([row[column] for row in rows], dtype=np.float64))
        for axis, edges in enumerate(experiment.grid.edges):
            write_array(file, f"grid/edges/{axis}", edges)
        write_array(file, "grid/exact", exact_cells)
        for key, value in process_arrays(experiment.process).items():
            write_array(file, key, value)
        for i, (density, samples) in arrays.items():
            group = file.create_group(f"gamma/{i}")
            group.attrs["gamma"] = experiment.gammas[i]
            if density is not None:
                write_array(group, "density", density)
            if samples is not None:
                write_array(group, "samples", samples)
        label_dimensions(file)


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
            write_checkpoint(os.path.join(checkpoints, f"point-{index}.h5"), experiment.fingerprint, arrays,
                              {"rows": json.dumps(rows), "coordinates": json.dumps(points[index][0])})
            written[0] += 1
        if on_point is not None:
            on_point(index, error)
        if stop_after and written[0] >= stop_after:
            raise Interrupted(f"stopped after {written[0]} checkpoint(s) ({STOP_AFTER_ENV})")


    with sharing(client) as token:
        todo = [(k, (point, token), {}) for k, (_, point) in enumerate(points) if f"point-{k}" not in done]
        run_tasks(run_point, todo, client, record, progress=progress, desc="fpdiff sweep",
                  initial=len(points) - len(todo), total=len(points))
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
            with reading(checkpoint, "checkpoint", ": delete it (then --resume runs its point again)"):
                rows += [{"point": k, **{column: float(row[column]) for column in COLUMNS}}
                         for row in json.loads(attributes["rows"])]
    with writing(path), atomic_path(path) as temporary, h5py.File(temporary, "w", libver=LIBVER) as file:
        write_attributes(file, {"format": RESULTS_FORMAT, "version": np.int64(RESULTS_VERSION), "layout": "sweep",
                                 "fpdiff_version": __version__,
                                 "experiment": json.dumps(experiment.recorded_config, sort_keys=True),
                                 "fingerprint": experiment.fingerprint})
        sweep = file.create_group("sweep")
        axes = list(experiment.sweep)
        write_attributes(sweep, {"axes": json.dumps(axes)})
        for name in axes:
            write_array(sweep, name, _coordinate_dataset([coordinates[name] for coordinates, _ in points]))
        write_array(file, "errors", np.array([errors.get(k, "") for k in range(len(points))], dtype=str))
        for k, arrays in results.items():
            group = file.create_group(f"point/{k}")
            for key, value in arrays.items():
                write_array(group, key, value)
        for column in SWEEP_COLUMNS:
            write_array(file, f"table/{column}", np.array([row[column] for row in rows],
                                                           dtype=np.int64 if column == "point" else np.float64))
        label_dimensions(file)


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
