"""Experiment files: what ``fpdiff run experiment.toml`` reads, checked key by key.

An experiment is a forward process, data, a score source, a grid, the times
``T`` and ``t_min``, the gammas, and which views to run. Every key is checked
against a schema; a problem raises :class:`InputError` with the key's path
(``[score].path: ...``). The reference of every key is ``docs/experiments.md``.

Example::

    [process]
    kind = "OU"            # any kind of fpdiff.processes (OU, VP, VE, Brownian, Cosine, EDM, LinearDiscrete,
                           # ScaledLinear, Discrete) with its parameters; Discrete: alphas_cumprod = [...] or
                           # diffusers_config = "scheduler_config.json"

    [data]
    kind = "mixture"       # "mixture", "points" (path to .npy / .txt / .csv) or "builtin" (name)
    weights = [0.5, 0.5]
    means = [[-2.0], [2.0]]
    covariances = [0.09, 0.25]

    [grid]
    bounds = [[-8.0, 8.0]]
    cells = [800]

    [time]
    T = 1.0
    t_min = 1e-3

    [reverse]
    gammas = [0.0, 0.5, 1.0, 2.0]

    [score]
    source = "exact"       # "exact", "empirical", "grid" or "file"

    [views]
    density = true
    particles = 100000

    [output]
    folder = "results"

    [sweep]                # optional: run the product of these lists, one task per point
    "time.t_min" = [1e-3, 1e-2]
    "reverse.gamma" = [0.0, 1.0]   # stands for reverse.gammas = [value]

    [cluster]              # optional: the workers of the LocalCluster started for the run (on 127.0.0.1)
    workers = 2            # a remote scheduler is named on the command line only: --scheduler (docs/cluster.md)
"""

import dataclasses
import hashlib
import inspect
import json
import math
import os
import re

import tomllib  # Python >= 3.11 (setup.cfg), the version CI runs

import numpy as np

from .._validation import format_bytes
from ..distributions import Empirical, GaussianMixture
from ..distributed.sweeps import sweep_points
from ..errors import InputError
from ..fv.steppers import METHODS
from ..grid import Grid
from ..particles.schemes import SCHEMES
from ..processes import PROCESSES, Discrete, process_class
from ..timegrid import TIME_GRIDS

#: built-in data sets: name -> (description, factory)
BUILTINS = {
    "bimodal-1d": ("0.5 N(-2, 0.3^2) + 0.5 N(2, 0.5^2)",
                   lambda: GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])),
    "trimodal-1d": ("three unequal modes at -3, 0, 2.5",
                    lambda: GaussianMixture([0.2, 0.5, 0.3], [[-3.0], [0.0], [2.5]], [0.1, 0.3, 0.05])),
    "ring-2d": ("eight modes on the circle of radius 3",
                lambda: GaussianMixture(np.full(8, 1 / 8), 3 * np.stack([np.cos(np.arange(8) * np.pi / 4),
                                                                         np.sin(np.arange(8) * np.pi / 4)], 1),
                                        np.full(8, 0.1))),
    "pair-2d": ("two anisotropic modes",
                lambda: GaussianMixture([0.4, 0.6], [[-1.5, 0.5], [1.5, -0.5]], [[0.2, 0.6], [0.5, 0.15]])),
}
SCORE_SOURCES = ("exact", "empirical", "grid", "file")
#: most points a ``[sweep]`` may have (each point is checked, and run, as a whole experiment)
MAX_SWEEP_POINTS = 10_000
#: largest integer an experiment file may hold (int64): larger ones are typing slips, and numpy cannot hold them
MAX_INTEGER = 2**63 - 1
#: density view, bytes per grid cell at the solver's peak in d dimensions: 256 + 192 d (the operators' and
#: steppers' work arrays, partly per axis; measured with TR-BDF2: 570 for 2000^2 cells, 740 for 160^3, rounded up)
DENSITY_BYTES_PER_CELL = (256, 192)
#: sample view, bytes per particle coordinate at the peak (the fused loop's copies of the particles and its
#: noise; 65 measured for 2e6 particles in 2-D, rounded up)
PARTICLE_BYTES_PER_COORDINATE = 80
#: snapshots the forward solve of ``[score] source = "grid"`` keeps (the score's time table)
GRID_SCORE_SNAPSHOTS = 201

#: the keys of a Discrete ``[process]``: its table, given as numbers or by a diffusers scheduler config file
TABLE_KEYS = ("alphas_cumprod", "diffusers_config")
#: every key ``[process]`` may hold (each kind accepts ``kind`` and its own parameters among them)
PROCESS_KEYS = {"kind", *TABLE_KEYS,
                *(name for cls in PROCESSES.values() for name in inspect.signature(cls).parameters)}
#: largest diffusers scheduler config read (a scheduler_config.json is under a KiB; with trained_betas, some KiB)
MAX_DIFFUSERS_CONFIG_BYTES = 2**24

#: default of ``[views] reference_samples``: exact samples of p(t_min) the particle view is compared with
REFERENCE_SAMPLES = 100_000
#: directions of the sliced W1 between the particles and the reference samples (d >= 2); the reference's sorted
#: projections on them are kept for every gamma and point (``fpdiff.metrics.SlicedReference``: 8 bytes each)
REFERENCE_PROJECTIONS = 128


def _fail(path, problem):
    raise InputError(f"[{path[0]}]{'.' + '.'.join(path[1:]) if len(path) > 1 else ''}: {problem}")


def _number(value, path, positive=False, nonnegative=False, integer=False):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not np.isfinite(value):
        _fail(path, f"expected {'an integer' if integer else 'a number'}; got {value!r}")
    if positive and not value > 0:
        _fail(path, f"must be > 0; got {value!r}")
    if nonnegative and not value >= 0:
        _fail(path, f"must be >= 0; got {value!r}")
    return value


def _table(config, name, known, required=()):
    section = config.get(name, {})
    if not isinstance(section, dict):
        _fail((name,), f"expected a table [{name}]; got {section!r}")
    unknown = sorted(set(section) - set(known))
    if unknown:
        _fail((name, unknown[0]), f"unknown key; known keys of [{name}]: {', '.join(sorted(known))}")
    for key in required:
        if key not in section:
            _fail((name, key), "missing")
    return section


@dataclasses.dataclass
class Experiment:
    """A checked experiment (see the module docstring); ``config`` is the file's content with defaults filled in."""

    config: dict
    process: object
    data: object
    grid: Grid
    T: float
    t_min: float
    steps: object
    particle_steps: int
    gammas: tuple
    start: str
    score_source: str
    score_options: dict
    density: bool
    particles: int
    scheme: str
    folder: str
    seed: int
    sweep: dict = None
    scheduler: str = None
    workers: int = None
    base: str = "."
    time_grid: str = "log-snr"
    particle_time_grid: str = "log-snr"
    method: str = None
    comoving: object = False
    reference_samples: int = 100_000
    allow_mass_outside: bool = False
    eta: float = None

    @property
    def recorded_config(self):
        """The configuration as a results file records it (its attribute ``experiment``) and the fingerprint hashes it.

        A discrete table (``[process] alphas_cumprod = [...]``, or the table a
        ``diffusers_config`` file gives) is recorded as
        ``alphas_cumprod = {"n": ..., "sha256": ...}``, the SHA-256 of the
        process's table in little-endian float64: an attribute does not hold
        a thousand numbers (the results file has the table itself, the
        dataset ``process/alphas_cumprod``), and a changed diffusers config
        file changes the fingerprint as a changed experiment file does.
        The tables of a swept ``"process.alphas_cumprod"`` are recorded so
        too (each point's table is the dataset ``point/{k}/process/alphas_cumprod``).
        Every other configuration is recorded as it is.
        """
        config, section = self.config, self.config.get("process", {})
        if any(key in section for key in TABLE_KEYS):
            summary = _table_summary(self.process.alphas_cumprod)
            config = {**config, "process": {**section, "alphas_cumprod": summary}}
        swept = (self.sweep or {}).get("process.alphas_cumprod")
        if swept is not None:
            config = {**config, "sweep": {**config["sweep"], "process.alphas_cumprod": [
                _table_summary(table) if isinstance(table, list) else table for table in swept]}}
        return config

    @property
    def fingerprint(self):
        """A hash of the configuration (without ``[cluster]``: where it runs): a resumed run must have the same."""
        config = {key: value for key, value in self.recorded_config.items() if key != "cluster"}
        return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]

    def points(self):
        """The sweep's points: a list of ``(coordinates, Experiment)`` (one point, ``{}``, without a sweep)."""
        if not self.sweep:
            return [({}, self)]

        coordinates = sweep_points(self.sweep)
        return list(zip(coordinates, self.with_sweep(self.sweep)))

    def with_sweep(self, axes):
        """The experiments of the product of ``axes`` (``{"section.key": [values]}``), each checked.

        ``"reverse.gamma"`` stands for ``reverse.gammas = [value]``. A point
        that is not a valid experiment raises :class:`InputError` naming the
        point and the key; a product of more than :data:`MAX_SWEEP_POINTS`
        points is refused before any point is built.
        """

        axes = _check_sweep(axes, ("sweep",))
        base_config = {key: value for key, value in self.config.items() if key not in ("sweep", "cluster")}
        experiments = []
        for index, point in enumerate(sweep_points(axes)):
            try:
                experiments.append(experiment_from_dict(_swept(base_config, point), base=self.base))
            except InputError as error:
                where = ", ".join(f"{name} = {value!r}" for name, value in point.items())
                raise InputError(f"[sweep] point {index} ({where}): {error}") from None
        return experiments


def _table_summary(table):
    """``{"n": ..., "sha256": ...}`` of a table of numbers: its length and the SHA-256 of its little-endian float64."""
    table = np.ascontiguousarray(table, dtype="<f8")
    return {"n": len(table), "sha256": hashlib.sha256(table.tobytes()).hexdigest()}


def _swept(config, point):
    """A copy of ``config`` with the sweep coordinates ``point`` (``{"section.key": value}``) set."""
    config = json.loads(json.dumps(config))
    for name, value in point.items():
        section, key = name.split(".", 1)
        if name == "reverse.gamma":
            key, value = "gammas", [value]
        config.setdefault(section, {})[key] = value
    return config


def load_experiment(path, overrides=None):
    """Read and check the experiment file ``path`` (TOML); relative paths in it are relative to its folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise InputError(f"experiment file {path!r} is a folder: give the path of a TOML file")
    try:
        with open(path, "rb") as file:
            config = tomllib.load(file)
    except FileNotFoundError:
        raise InputError(f"experiment file {path!r} does not exist") from None
    except OSError as error:
        raise InputError(f"experiment file {path!r} cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"experiment file {path!r} is not UTF-8 text (byte {error.start} is "
                         f"{error.object[error.start:error.start + 1]!r}): TOML files are UTF-8; save it as "
                         "UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"experiment file {path!r} is not valid TOML: {error}") from None
    return experiment_from_dict(config, base=os.path.dirname(os.path.abspath(path)), overrides=overrides)


def _check_integers(value, path):
    """Refuse integers beyond int64 anywhere in the file (TOML allows any size; numpy cannot hold them)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_integers(item, path + (str(key),))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_integers(item, path + (str(i),))
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        try:
            digits = len(str(abs(value)))
        except ValueError:  # Python >= 3.11 refuses str() of an int of over 4300 digits
            digits = f"about {int(value.bit_length() * np.log10(2)) + 1}"
        _fail(path, f"an integer of {digits} digits is too large (at most 2^63 - 1 = {MAX_INTEGER}); write a "
                    "float (such as 1e30) if a number that large is meant")


def experiment_from_dict(config, base=".", overrides=None):
    """Check an experiment given as a dict (the parsed TOML); see :func:`load_experiment`."""
    if not isinstance(config, dict):
        raise InputError(f"an experiment must be a dict of sections; got {type(config).__name__}")
    for section, values in config.items():
        _check_integers(values, (str(section),))
    config = json.loads(json.dumps(config))  # a deep copy of plain types
    for section, values in (overrides or {}).items():
        config.setdefault(section, {}).update(values)
    unknown = sorted(set(config) - {"process", "data", "grid", "time", "reverse", "score", "views", "output", "sweep",
                                    "cluster"})
    if unknown:
        _fail((unknown[0],), "unknown section; sections: process, data, grid, time, reverse, score, views, output, "
                             "sweep, cluster")
    sweep = _check_sweep(config["sweep"], ("sweep",)) if "sweep" in config else None
    if sweep is not None:
        config["sweep"] = sweep
    section = _table(config, "cluster", {"scheduler", "workers"})
    scheduler = section.get("scheduler")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        _fail(("cluster", "scheduler"), f"expected an address such as \"tcp://host:8786\" or a scheduler file "
                                        f"(.json); got {scheduler!r}")
    workers = section.get("workers")
    if workers is not None:
        workers = _number(workers, ("cluster", "workers"), positive=True, integer=True)

    process = _process(_table(config, "process", PROCESS_KEYS, required=("kind",)), base)

    data = _data(_table(config, "data", {"kind", "weights", "means", "covariances", "path", "name"},
                        required=("kind",)), base)
    dim = data.dim

    section = _table(config, "grid", {"bounds", "cells", "allow_mass_outside"}, required=("bounds", "cells"))
    bounds, cells = section["bounds"], section["cells"]
    allow_mass_outside = section.setdefault("allow_mass_outside", False)
    if not isinstance(allow_mass_outside, bool):
        _fail(("grid", "allow_mass_outside"), f"expected true or false; got {allow_mass_outside!r}")
    if (not isinstance(bounds, list) or len(bounds) != dim
            or not all(isinstance(b, list) and len(b) == 2 for b in bounds)):
        _fail(("grid", "bounds"), f"expected {dim} pair(s) [lo, hi] (one per dimension of the data); got {bounds!r}")
    for i, (lo, hi) in enumerate(bounds):
        _number(lo, ("grid", "bounds", str(i))), _number(hi, ("grid", "bounds", str(i)))
        if not lo < hi:
            _fail(("grid", "bounds", str(i)), f"needs lo < hi; got [{lo}, {hi}]")
    cells = cells if isinstance(cells, list) else [cells] * dim  # an integer: every axis, as fd.Grid takes it
    if len(cells) != dim:
        _fail(("grid", "cells"), f"expected an integer or {dim} cell count(s) (one per dimension of the data); got "
                                 f"{section['cells']!r}")
    for i, n in enumerate(cells):
        if _number(n, ("grid", "cells", str(i)), integer=True) < 2:
            _fail(("grid", "cells", str(i)), f"needs at least 2 cells; got {n}")


    section = _table(config, "time", {"T", "t_min", "steps", "particle_steps", "time_grid", "particle_time_grid"},
                     required=("T",))
    T = _number(section["T"], ("time", "T"), positive=True)
    t_min = _number(section.setdefault("t_min", 1e-3), ("time", "t_min"), positive=True)
    if not t_min < T:
        _fail(("time", "t_min"), f"must be < T = {T}; got {t_min}")
    steps = section.get("steps")  # None: the density solver's automatic choice
    if steps is not None:
        steps = int(_number(steps, ("time", "steps"), positive=True, integer=True))
    particle_steps = _number(section.setdefault("particle_steps", 200), ("time", "particle_steps"),
                             positive=True, integer=True)
    time_grid = _choice(section.setdefault("time_grid", "log-snr"), ("time", "time_grid"), TIME_GRIDS)
    particle_time_grid = _choice(section.setdefault("particle_time_grid", "log-snr"), ("time", "particle_time_grid"),
                                 TIME_GRIDS)

    section = _table(config, "reverse", {"gammas", "start"})
    start = section.setdefault("start", "prior")
    if start not in ("prior", "data"):
        _fail(("reverse", "start"), f"must be \"prior\" (the process's prior at T) or \"data\" (the noised data "
                                    f"law p_T, exact); got {start!r}")
    gammas = section.setdefault("gammas", [1.0])
    if not isinstance(gammas, list) or not gammas:
        _fail(("reverse", "gammas"), f"expected a non-empty list of gammas >= 0; got {gammas!r}")
    gammas = tuple(float(_number(g, ("reverse", "gammas", str(i)), nonnegative=True)) for i, g in enumerate(gammas))

    section = _table(config, "score", {"source", "path", "n_train", "outside"})
    source = section.setdefault("source", "exact")
    if source not in SCORE_SOURCES:
        _fail(("score", "source"), f"must be one of {SCORE_SOURCES}; got {source!r}")
    score_options = {}
    if source == "file":
        if not isinstance(section.get("path"), str):
            _fail(("score", "path"), "the path of a score file is needed with source = \"file\"")
        score_options["path"] = os.path.join(base, section["path"])
        if not os.path.isfile(score_options["path"]):
            _fail(("score", "path"), f"no such file: {score_options['path']!r}")
        score_options["outside"] = section.setdefault("outside", "raise")
        if score_options["outside"] not in ("raise", "clamp"):
            _fail(("score", "outside"), f"must be \"raise\" or \"clamp\"; got {score_options['outside']!r}")
    if source == "empirical":
        default = len(data.points) if isinstance(data, Empirical) else 100
        score_options["n_train"] = _number(section.setdefault("n_train", default), ("score", "n_train"),
                                           positive=True, integer=True)


    section = _table(config, "views", {"density", "particles", "scheme", "eta", "method", "comoving",
                                       "reference_samples"})
    density = section.setdefault("density", True)
    if not isinstance(density, bool):
        _fail(("views", "density"), f"expected true or false; got {density!r}")
    particles = section.setdefault("particles", 0)
    particles = 0 if particles is False else _number(particles, ("views", "particles"), nonnegative=True,
                                                      integer=True)
    scheme = section.setdefault("scheme", "ei")

    if scheme not in SCHEMES:
        _fail(("views", "scheme"), f"must be one of {sorted(SCHEMES)}; got {scheme!r}")
    eta = section.get("eta")  # None: the scheme's own default (ddim: 0, euler_ancestral: 1)
    if eta is not None:
        eta = float(_number(eta, ("views", "eta"), nonnegative=True))
        if "eta" not in SCHEMES[scheme].options:
            _fail(("views", "eta"), f"the scheme {scheme!r} takes no eta; the schemes that do: "
                                    f"{', '.join(name for name, s in SCHEMES.items() if 'eta' in s.options)}")
    method = section.get("method")  # None: the density solver's choice (TR-BDF2; the FFSL remap for gamma = 0)
    if method is not None:
        _choice(method, ("views", "method"), tuple(METHODS))
        if density and METHODS[method].implicit and 0.0 in gammas:
            _fail(("views", "method"), f"{method!r} is implicit, and gamma = 0 (pure transport) is solved with the "
                                       "transport operator, which needs an explicit method ('ffsl' or 'ssprk3'): "
                                       "remove [views].method (automatic), set it to 'ssprk3', or drop gamma = 0")
        if density and METHODS[method].transport_only and any(gamma != 0.0 for gamma in gammas):
            _fail(("views", "method"), f"{method!r} solves pure transport (gamma = 0) only; the gammas are "
                                       f"{list(gammas)}: remove [views].method (automatic) or keep gamma = 0 alone")
    comoving = section.setdefault("comoving", False)
    if not isinstance(comoving, bool):
        comoving = _number(comoving, ("views", "comoving"), positive=True)
    if comoving and source == "grid":
        _fail(("views", "comoving"), "cannot follow the spread with [score] source = \"grid\": that score lives on "
                                     "[grid], and the co-moving grid at T is wider than it; drop comoving, or use "
                                     "another score source")
    reference_samples = _number(section.setdefault("reference_samples", REFERENCE_SAMPLES),
                                ("views", "reference_samples"), positive=True, integer=True)
    if not density and not particles:
        _fail(("views",), "nothing to run: set density = true or particles > 0")

    section = _table(config, "output", {"folder", "seed"})
    folder = section.setdefault("folder", "fpdiff-results")
    if not isinstance(folder, str) or not folder:
        _fail(("output", "folder"), f"expected a folder name; got {folder!r}")
    if os.path.exists(os.path.join(base, folder)) and not os.path.isdir(os.path.join(base, folder)):
        _fail(("output", "folder"), f"{os.path.join(base, folder)!r} exists and is not a folder: choose another "
                                    "folder (or --out)")
    seed = _number(section.setdefault("seed", 0), ("output", "seed"), nonnegative=True, integer=True)
    check_memory(cells, len(gammas), density, source, particles, reference_samples)
    try:  # after the memory check: a grid of 2**40 cells must be refused, not allocated
        grid = Grid(bounds, cells)
    except InputError as error:
        _fail(("grid",), str(error))
    experiment = Experiment(config, process, data, grid, float(T), float(t_min), steps, int(particle_steps), gammas,
                            start, source, score_options, density, int(particles), scheme, os.path.join(base, folder),
                            int(seed), sweep, scheduler, workers, base, time_grid, particle_time_grid, method,
                            comoving, int(reference_samples), allow_mass_outside, eta)
    if sweep is not None:
        _check_sweep_values(experiment, sweep)
    return experiment


def _process(section, base):
    """The process of ``[process]``: ``kind`` as :func:`fpdiff.processes.process_class` spells it, then its parameters.

    Each parameter is checked by name (a number > 0; ``n`` an integer); a
    ``Discrete`` takes exactly one of ``alphas_cumprod`` (a list of numbers)
    and ``diffusers_config`` (the path of a diffusers ``scheduler_config.json``,
    relative to the experiment file, read by :meth:`fpdiff.Discrete.from_diffusers`).
    A process that refuses its parameters names the key it refuses.
    """
    kind = section["kind"]
    try:
        cls = process_class(kind)
    except InputError:
        _fail(("process", "kind"), f"must be one of {sorted(PROCESSES)} (any case, '-' or '_' between words); got "
                                   f"{kind!r}")
    accepted = TABLE_KEYS if cls is Discrete else tuple(inspect.signature(cls).parameters)
    for key, value in section.items():
        if key == "kind":
            continue
        if key not in accepted:
            _fail(("process", key), f"not a parameter of {cls.__name__}; its parameters: {', '.join(accepted)}")
        if key == "alphas_cumprod":
            if not isinstance(value, list):
                _fail(("process", key), f"expected a list of numbers (the table, strictly decreasing in (0, 1)); "
                                        f"got {value!r}")
            for i, entry in enumerate(value):
                _number(entry, ("process", key, str(i)), positive=True)
        elif key == "diffusers_config":
            if not isinstance(value, str) or not value:
                _fail(("process", key), f"expected the path of a diffusers scheduler config (.json); got {value!r}")
        else:
            _number(value, ("process", key), positive=True, integer=key == "n")
    if cls is Discrete and sum(key in section for key in TABLE_KEYS) != 1:
        _fail(("process", "alphas_cumprod"), "a Discrete process is a table: give exactly one of alphas_cumprod = "
                                             "[...] and diffusers_config = \"path/to/scheduler_config.json\"")
    parameters = {key: value for key, value in section.items() if key != "kind"}
    try:
        if "diffusers_config" in section:
            return Discrete.from_diffusers(_diffusers_config(os.path.join(base, section["diffusers_config"])))
        return cls(**parameters)
    except InputError as error:
        if "diffusers_config" in section:
            _fail(("process", "diffusers_config"), str(error))
        # the key the process names first (`sigma_max` must exceed `sigma_min`: sigma_max)
        named = sorted((match.start(), key) for key in parameters
                       for match in [re.search(rf"\b{key}\b", str(error))] if match)
        _fail(("process", named[0][1] if named else "kind"), str(error))


def _diffusers_config(path):
    """The dictionary of the diffusers scheduler config file ``path`` (``[process].diffusers_config``)."""
    where = ("process", "diffusers_config")
    if not os.path.isfile(path):
        _fail(where, f"no such file: {path!r}")
    if os.path.getsize(path) > MAX_DIFFUSERS_CONFIG_BYTES:
        _fail(where, f"{path!r} holds {format_bytes(os.path.getsize(path))}, more than the "
                     f"{format_bytes(MAX_DIFFUSERS_CONFIG_BYTES)} a scheduler config may have")
    try:
        with open(path, "rb") as file:
            config = json.loads(file.read().decode("utf-8"))
    except OSError as error:
        _fail(where, f"{path!r} cannot be read: {error.strerror or error}")
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        _fail(where, f"{path!r} is not a JSON scheduler config ({error})")
    if not isinstance(config, dict):
        _fail(where, f"{path!r} must hold a JSON object (a diffusers scheduler config); got a {type(config).__name__}")
    return config


def _choice(value, path, choices):
    if value not in choices:
        _fail(path, f"must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def memory_estimate(cells, n_gammas, density, score_source, particles, reference_samples):
    """Bytes a run needs at its peak, estimated from its sizes (``docs/experiments.md``).

    ``cells`` is the list of cells per axis. The density view:
    :data:`DENSITY_BYTES_PER_CELL` per cell for the solver, plus one float64
    array per gamma (the results kept), the exact law and, for ``[score]
    source = "grid"``, the :data:`GRID_SCORE_SNAPSHOTS` snapshots of the
    forward solve. The sample view: :data:`PARTICLE_BYTES_PER_COORDINATE`
    per coordinate of the particles (or of the reference samples, if more),
    plus one float64 copy of the particles per gamma and, in two dimensions
    or more, the reference samples' sorted projections on
    :data:`REFERENCE_PROJECTIONS` directions.
    """
    size, dim = math.prod(cells), len(cells)
    solver = DENSITY_BYTES_PER_CELL[0] + DENSITY_BYTES_PER_CELL[1] * dim
    total = 8 * size * 2  # the exact law's cell averages, and a histogram of the particles
    if density:
        total += size * (solver + 8 * n_gammas)
    if score_source == "grid":
        total += size * (solver + 8 * GRID_SCORE_SNAPSHOTS)
    if particles:
        total += max(particles, reference_samples) * dim * PARTICLE_BYTES_PER_COORDINATE
        total += 8 * particles * dim * n_gammas
        if dim > 1:
            total += 8 * reference_samples * REFERENCE_PROJECTIONS
    return total


def available_memory():
    """``(bytes, what)``: the memory available here (psutil's estimate), else the physical memory; ``(None, "")``
    if neither is known."""
    try:
        import psutil

        return int(psutil.virtual_memory().available), "available"
    except ImportError:
        pass
    try:  # without psutil, the whole physical memory: the free pages alone would omit the reclaimable cache
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "of physical memory"
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or the name is unknown
        return None, ""


def check_memory(cells, n_gammas, density, score_source, particles, reference_samples):
    """Refuse a run whose :func:`memory_estimate` (same arguments) exceeds the memory available here.

    The message names ``[grid].cells`` or ``[views].particles``, whichever needs more.
    """
    needed = memory_estimate(cells, n_gammas, density, score_source, particles, reference_samples)
    available, what = available_memory()
    if available is None or needed <= available:
        return
    grid_part = memory_estimate(cells, n_gammas, density, score_source, 0, reference_samples)
    size = math.prod(cells)
    _fail(("grid", "cells") if 2 * grid_part >= needed else ("views", "particles"),
          f"the run needs about {format_bytes(needed)} of memory ({size:.3g} grid cells, {particles:.3g} particles "
          f"in {len(cells)}-D) and this machine has {format_bytes(available)} {what}: use fewer cells or particles "
          "(the estimate: docs/experiments.md)")


#: sections whose keys a sweep may vary
SWEEP_SECTIONS = ("process", "data", "grid", "time", "reverse", "score", "views", "output")


def _check_sweep(sweep, path):
    """The ``[sweep]`` table as ``{"section.key": [values]}`` (nested TOML tables flattened to dotted keys)."""
    if not isinstance(sweep, dict) or not sweep:
        _fail(path, f"expected a table of \"section.key\" = [values]; got {sweep!r}")
    flat = {}
    for name, values in sweep.items():
        if isinstance(values, dict):  # time.t_min = [...] in TOML is the nested table {"time": {"t_min": [...]}}
            for key, value in values.items():
                flat[f"{name}.{key}"] = value
        else:
            flat[name] = values
    for name, values in flat.items():
        section = name.split(".", 1)[0]
        if name.count(".") != 1 or section not in SWEEP_SECTIONS:
            _fail(path + (name,), f"expected a key \"section.key\" of the sections {', '.join(SWEEP_SECTIONS)}")
        if name == "output.folder":
            _fail(path + (name,), "the output folder cannot be swept: all points go into one results file")
        if not isinstance(values, list) or not values:
            _fail(path + (name,), f"expected a non-empty list of values; got {values!r}")
        if name == "reverse.gammas" and "reverse.gamma" in flat:
            _fail(path + (name,), "sweep either reverse.gamma (one gamma per point) or reverse.gammas, not both")
    size = math.prod(len(values) for values in flat.values())
    if size > MAX_SWEEP_POINTS:
        _fail(path, f"{' x '.join(str(len(values)) for values in flat.values())} = {size} points, more than the "
                    f"{MAX_SWEEP_POINTS} a sweep may have: sweep fewer values, or split the study into several files")
    return flat


def _check_sweep_values(experiment, sweep):
    """Check each value of each axis of ``sweep`` once (time linear in the axes, not in their product).

    A value is checked as the point with that value and the other swept
    keys at their first values, and an error names that point as
    :meth:`Experiment.with_sweep` does. Every point of the product is built,
    and checked as a whole experiment, when the sweep runs
    (:meth:`Experiment.points`), before any of them runs.
    """
    base_config = {key: value for key, value in experiment.config.items() if key not in ("sweep", "cluster")}
    first = {name: values[0] for name, values in sweep.items()}
    stride = math.prod(len(values) for values in sweep.values())
    for name, values in sweep.items():
        stride //= len(values)  # the last axis varies fastest
        for index, value in enumerate(values):
            point = {**first, name: value}
            try:
                experiment_from_dict(_swept(base_config, point), base=experiment.base)
            except InputError as error:
                where = ", ".join(f"{key} = {coordinate!r}" for key, coordinate in point.items())
                raise InputError(f"[sweep] point {index * stride} ({where}): {error}") from None


def _data(section, base):
    kind = section["kind"]
    if kind == "mixture":
        for key in ("weights", "means", "covariances"):
            if key not in section:
                _fail(("data", key), "missing (a mixture needs weights, means and covariances)")
        try:
            return GaussianMixture(section["weights"], section["means"], section["covariances"])
        except (InputError, ValueError, TypeError) as error:
            _fail(("data",), f"not a valid mixture: {error}")
    if kind == "points":
        if not isinstance(section.get("path"), str):
            _fail(("data", "path"), "the path of a points file (.npy, .txt or .csv) is needed with kind = \"points\"")
        return Empirical(read_points(os.path.join(base, section["path"]), "[data].path"))
    if kind == "builtin":
        name = section.get("name")
        if name not in BUILTINS:
            _fail(("data", "name"), f"must be one of {sorted(BUILTINS)}; got {name!r}")
        return BUILTINS[name][1]()
    _fail(("data", "kind"), f"must be \"mixture\", \"points\" or \"builtin\"; got {kind!r}")


def read_points(path, name):
    """Data points (n, d) from a .npy, .txt or .csv file; ``name`` is what the error messages call it."""
    try:
        points = np.load(path) if path.endswith(".npy") else np.loadtxt(
            path, delimiter="," if path.endswith(".csv") else None, ndmin=2)
    except (OSError, ValueError) as error:
        raise InputError(f"{name}: cannot read points from {path!r}: {error}") from None
    points = points[:, None] if points.ndim == 1 else points
    if points.ndim != 2 or len(points) == 0 or not np.all(np.isfinite(points)):
        raise InputError(f"{name}: {path!r} must hold finite points of shape (n, d); got shape {points.shape}")
    return points
