"""Running an experiment: tasks, checkpoints, resume, and the results file.

An :class:`~fpdiff.experiment.Experiment` becomes a list of tasks, one per
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

The results file layout is described in ``docs/experiments.md``.
"""

import json
import os
import shutil
import time

import h5py
import numpy as np

from . import metrics
from .distributions import Empirical
from .errors import InputError
from .fv import solve_forward, solve_reverse
from .io import atomic_path
from .particles import sample_reverse
from .scores import EmpiricalScore, ExactScore, GridScore

RESULTS_FORMAT = "fpdiff.results"
RESULTS_VERSION = 1
#: test hook: stop (as if interrupted) after this many checkpoints have been written in one call
STOP_AFTER_ENV = "FPDIFF_STOP_AFTER_CHECKPOINTS"
#: exact samples of p(t_min) the particle view is compared with
REFERENCE_SAMPLES = 100_000
KL_FLOOR = 1e-300
COLUMNS = ("gamma", "l1", "kl", "w1", "tv", "tv_floor", "density_seconds", "particle_seconds")


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
    from .io import load_score

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
            from .dynamics import reverse_dynamics
            from .fv.comoving import ComovingDynamics, data_scale

            dynamics = reverse_dynamics(experiment.process, score, gamma, experiment.T, experiment.t_min)
            moving = ComovingDynamics(dynamics, experiment.process, data_scale(experiment.comoving))
            grid = grid.scaled(1.0 / moving.scale(experiment.t_min))
            options["comoving"] = experiment.comoving
        solution = solve_reverse(experiment.process, grid, score, q0=noised, steps=experiment.steps,
                                 method=experiment.method, time_grid=experiment.time_grid, **options, **common)
        return {"density": solution.final}, {"seconds": time.perf_counter() - start, "gamma": gamma}
    initial = experiment.particles if noised is None else noised.sample(experiment.particles, seed=experiment.seed + 2)
    solution = sample_reverse(experiment.process, score, initial, steps=experiment.particle_steps,
                              scheme=experiment.scheme, time_grid=experiment.particle_time_grid, seed=experiment.seed,
                              **common)
    return {"samples": solution.samples}, {"seconds": time.perf_counter() - start, "gamma": gamma}


def run_point(experiment):
    """Run every task of ``experiment`` in memory; returns ``(rows, arrays)``: its metric rows and result arrays.

    What one point of a sweep does (on a worker). ``arrays`` maps HDF5
    paths relative to the point's group (``gamma/{i}/density``,
    ``gamma/{i}/samples``, ``grid/edges/{axis}``, ``grid/exact``) to arrays.
    """
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


def run_experiment(experiment, resume=False, progress=True, client=None, on_point=None):
    """Run every task of ``experiment`` (skipping checkpointed ones with ``resume``); returns the results path.

    An experiment with a ``[sweep]`` runs its points as tasks, on ``client``
    (a ``dask.distributed.Client``) or, without one, in this process;
    ``on_point(index, error)`` is called after each point is recorded.

    Raises :class:`InputError` if the folder holds checkpoints of an earlier
    run and ``resume`` is false (nothing is deleted silently), or if the
    checkpoints belong to a different experiment.
    """
    from tqdm import tqdm

    checkpoints = os.path.join(experiment.folder, "checkpoints")
    done = _finished(checkpoints, experiment.fingerprint)
    if done and not resume:
        raise InputError(f"{experiment.folder!r} holds {len(done)} checkpoint(s) of an interrupted (or partly "
                         "failed) run: pass --resume to continue it, or delete the folder's 'checkpoints' to start "
                         "again")
    if experiment.sweep:
        return _run_sweep(experiment, checkpoints, done, progress, client, on_point)
    os.makedirs(checkpoints, exist_ok=True)
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0"))
    todo = [name for name in tasks(experiment) if name not in done]
    score = make_score(experiment) if todo else None
    written = 0
    with tqdm(total=len(tasks(experiment)), initial=len(tasks(experiment)) - len(todo), desc="fpdiff run",
              unit="task", disable=not progress) as bar:
        for name in todo:
            bar.set_postfix_str(name)
            arrays, attributes = run_task(experiment, name, score)
            _write_checkpoint(os.path.join(checkpoints, f"{name}.h5"), experiment.fingerprint, arrays, attributes)
            bar.update()
            written += 1
            if stop_after and written >= stop_after:
                raise Interrupted(f"stopped after {written} checkpoint(s) ({STOP_AFTER_ENV})")
    path = os.path.join(experiment.folder, "results.h5")
    _assemble(experiment, checkpoints, path)
    shutil.rmtree(checkpoints)
    return path


def _finished(checkpoints, fingerprint):
    done = set()
    if not os.path.isdir(checkpoints):
        return done
    for entry in sorted(os.listdir(checkpoints)):
        if not entry.endswith(".h5"):
            continue  # temporary files of a write that was interrupted
        with h5py.File(os.path.join(checkpoints, entry), "r") as file:
            if file.attrs.get("fingerprint") != fingerprint:
                raise InputError(f"checkpoint {entry!r} in {checkpoints!r} belongs to a different experiment "
                                 "(its configuration changed): delete the folder's 'checkpoints' to start again")
        done.add(entry[:-3])
    return done


def _write_checkpoint(path, fingerprint, arrays, attributes):
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as file:
        file.attrs["fingerprint"] = fingerprint
        for key, value in attributes.items():
            file.attrs[key] = value
        for key, value in arrays.items():
            file.create_dataset(key, data=value)


def _read_checkpoint(path):
    with h5py.File(path, "r") as file:
        return {key: file[key][()] for key in file}, dict(file.attrs)


def results_table(experiment, checkpoints):
    """Rows of metrics per gamma (see the module docstring) from the checkpoints; NaN where a view did not run."""
    return _table(experiment, lambda name: _read_checkpoint(os.path.join(checkpoints, f"{name}.h5")))


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
    from . import __version__

    rows, arrays, exact_cells = results_table(experiment, checkpoints)
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as file:
        file.attrs["format"] = RESULTS_FORMAT
        file.attrs["version"] = RESULTS_VERSION
        file.attrs["fpdiff_version"] = __version__
        file.attrs["experiment"] = json.dumps(experiment.config, sort_keys=True)
        file.attrs["fingerprint"] = experiment.fingerprint
        table = file.create_group("table")
        for column in COLUMNS:
            table.create_dataset(column, data=np.array([row[column] for row in rows]))
        grid = file.create_group("grid")
        for axis, edges in enumerate(experiment.grid.edges):
            grid.create_dataset(f"edges/{axis}", data=edges)
        grid.create_dataset("exact", data=exact_cells)
        for i, (density, samples) in arrays.items():
            group = file.create_group(f"gamma/{i}")
            group.attrs["gamma"] = experiment.gammas[i]
            if density is not None:
                group.create_dataset("density", data=density)
            if samples is not None:
                group.create_dataset("samples", data=samples)


def read_results(path):
    """The results file as ``(config, rows, arrays)``: the experiment, metric rows per gamma, and the arrays.

    For a sweep's results (``is_sweep_results``) each row also has ``point``
    and the point's coordinates, and ``arrays`` holds ``axes`` (the swept
    keys), ``errors`` (per point, ``""`` if it ran) and ``points`` (per point
    the arrays of a single run: ``edges``, ``exact``, ``gamma``; None for a
    failed point).
    """
    with h5py.File(path, "r") as file:
        if file.attrs.get("format") != RESULTS_FORMAT:
            raise InputError(f"{os.fspath(path)!r} is not an fpdiff results file")
        if file.attrs.get("layout") == "sweep":
            return _read_sweep(file)
        config = json.loads(file.attrs["experiment"])
        columns = {column: file["table"][column][()] for column in COLUMNS}
        rows = [{column: float(columns[column][i]) for column in COLUMNS} for i in range(len(columns["gamma"]))]
        arrays = {"edges": [file["grid/edges"][str(a)][()] for a in range(len(file["grid/edges"]))],
                  "exact": file["grid/exact"][()],
                  "gamma": [{key: file[f"gamma/{i}"][key][()] for key in file[f"gamma/{i}"]} for i in
                            range(len(rows))]}
    return config, rows, arrays


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
    os.makedirs(checkpoints, exist_ok=True)
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

    from .distributed import run_tasks

    todo = [(k, (point,), {}) for k, (_, point) in enumerate(points) if f"point-{k}" not in done]
    run_tasks(run_point, todo, client, record, progress=progress, desc="fpdiff sweep", initial=len(points) - len(todo),
              total=len(points))
    path = os.path.join(experiment.folder, "results.h5")
    _assemble_sweep(experiment, points, checkpoints, errors, path)
    if not errors:
        shutil.rmtree(checkpoints)
    return path


def _coordinate_dataset(values):
    """A sweep axis as an HDF5-friendly array: numbers as numbers, anything else as JSON text."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64 if any(isinstance(v, float) for v in values) else np.int64)
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=h5py.string_dtype())
    return np.array([json.dumps(v) for v in values], dtype=h5py.string_dtype())


def _assemble_sweep(experiment, points, checkpoints, errors, path):
    from . import __version__

    rows = []
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as file:
        file.attrs["format"] = RESULTS_FORMAT
        file.attrs["version"] = RESULTS_VERSION
        file.attrs["layout"] = "sweep"
        file.attrs["fpdiff_version"] = __version__
        file.attrs["experiment"] = json.dumps(experiment.config, sort_keys=True)
        file.attrs["fingerprint"] = experiment.fingerprint
        sweep = file.create_group("sweep")
        axes = list(experiment.sweep)
        sweep.attrs["axes"] = json.dumps(axes)
        for name in axes:
            sweep.create_dataset(name, data=_coordinate_dataset([coordinates[name] for coordinates, _ in points]))
        file.create_dataset("errors", data=np.array([errors.get(k, "") for k in range(len(points))],
                                                   dtype=h5py.string_dtype()))
        for k in range(len(points)):
            if k in errors:
                continue
            with h5py.File(os.path.join(checkpoints, f"point-{k}.h5"), "r") as checkpoint:
                attributes = dict(checkpoint.attrs)
                group = file.create_group(f"point/{k}")
                for key in checkpoint:
                    checkpoint.copy(checkpoint[key], group, name=key)
            rows += [{"point": k, **row} for row in json.loads(attributes["rows"])]
        table = file.create_group("table")
        for column in SWEEP_COLUMNS:
            table.create_dataset(column, data=np.array([row[column] for row in rows],
                                                       dtype=np.int64 if column == "point" else np.float64))


def _read_sweep(file):
    config = json.loads(file.attrs["experiment"])
    axes = json.loads(file["sweep"].attrs["axes"])
    coordinates = {}
    for name in axes:
        values = file["sweep"][name][()]
        if values.dtype.kind in "OS":
            values = [v.decode() if isinstance(v, bytes) else v for v in values]
            text_axis = not all(isinstance(v, str) for v in config["sweep"][name])
            values = [json.loads(v) if text_axis else v for v in values]
        else:
            values = values.tolist()
        coordinates[name] = values
    errors = [e.decode() if isinstance(e, bytes) else e for e in file["errors"][()]]
    columns = {column: file["table"][column][()] for column in SWEEP_COLUMNS}
    rows = []
    for i in range(len(columns["point"])):
        k = int(columns["point"][i])
        rows.append({"point": k, **{name: coordinates[name][k] for name in axes},
                     **{column: float(columns[column][i]) for column in COLUMNS}})
    points = []
    for k in range(len(errors)):
        if errors[k]:
            points.append(None)
            continue
        group = file[f"point/{k}"]
        points.append({"edges": [group["grid/edges"][str(a)][()] for a in range(len(group["grid/edges"]))],
                       "exact": group["grid/exact"][()],
                       "gamma": [{key: group[f"gamma/{i}"][key][()] for key in group[f"gamma/{i}"]}
                                 for i in sorted(map(int, group["gamma"]))]})
    return config, rows, {"axes": axes, "coordinates": coordinates, "errors": errors, "points": points}


def is_sweep_results(path):
    """Whether ``path`` is the results file of a sweep."""
    with h5py.File(path, "r") as file:
        return file.attrs.get("layout") == "sweep"


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
