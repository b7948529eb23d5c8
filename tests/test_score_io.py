"""The HDF5 score-field format (``fpdiff.scores.io``, ``docs/score-format.md``).

Round trips are exact (bit for bit, float32 and float64, both layouts, every
parametrisation, free-form ``meta``) and atomic; every malformed file gives a
``FormatError`` naming the dataset or attribute and the problem; property
tests draw shapes and structural corruptions; a byte-level fuzz loop runs in a
subprocess with a timeout, because a crash or an endless loop inside libhdf5
cannot be caught in-process.
"""

import ast
import json
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fpdiff as fd
from fpdiff import _hdf5
from fpdiff.scores import io as score_io
from fpdiff.processes import describe_process
from fpdiff.errors import FormatError, InputError
from fpdiff.scores.field import PARAMETRIZATIONS

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
#: one process of every kind (a score file describes each)
PROCESSES = [fd.OU(beta=0.7, sigma=1.3), fd.VP(), fd.VE(sigma_min=0.01, sigma_max=5.0), fd.Brownian(sigma=0.8),
             fd.Cosine(s=0.01), fd.EDM(sigma_min=0.01, sigma_max=5.0, sigma_data=0.7),
             fd.LinearDiscrete(beta_start=2e-4, beta_end=0.03, n=300), fd.ScaledLinear(),
             fd.Discrete(np.cumprod(1.0 - np.geomspace(1e-4, 0.05, 700)))]
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(fd.__file__)))
PROPERTY = settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])


def grid_field(shape=(4, 5), n_t=3, dtype=np.float64, seed=0):
    """``t, axes, values`` of a grid-layout field with random values."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.1, 1.0, n_t).astype(dtype)
    axes = []  # non-uniform nodes spanning [-2, 2]
    for n in shape:
        axis = np.linspace(-2.0, 2.0, n)
        axis[1:-1] += rng.uniform(-0.2, 0.2, n - 2) * (4.0 / (n - 1))
        axes.append(axis.astype(dtype))
    values = rng.standard_normal((n_t, *shape, len(shape))).astype(dtype)
    return t, axes, values


def point_field(n_t=2, count=6, dim=3, dtype=np.float64, seed=1):
    """``t, points, values`` of a point-layout field."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.2, 0.9, n_t).astype(dtype)
    return t, rng.standard_normal((n_t, count, dim)).astype(dtype), rng.standard_normal((n_t, count, dim)).astype(dtype)


def write_with_h5py(path, t, values, axes=None, points=None, parametrization="score", process=PROCESS):
    """A score file written with h5py alone, as a program without fpdiff writes it (variable-length strings)."""
    with h5py.File(path, "w") as file:
        file.attrs["format"] = "fpdiff.score-field"
        file.attrs["version"] = 1
        file.attrs["process"] = json.dumps(process.to_dict())
        file.attrs["parametrization"] = parametrization
        file["t"] = t
        if axes is not None:
            for i, axis in enumerate(axes):
                file[f"axes/{i}"] = axis
        if points is not None:
            file["points"] = points
        file["values"] = values


def assert_bits_equal(actual, expected):
    """Same dtype, same shape, same bytes (so -0.0 and the last bit of a float32 count)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


def assert_meta_equal(actual, expected):
    assert isinstance(actual, dict) and set(actual) == set(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            assert_meta_equal(actual[key], value)
        elif isinstance(value, (np.ndarray, list)):
            assert np.array_equal(actual[key], np.asarray(value)), key
            assert np.asarray(actual[key]).dtype.kind == np.asarray(value).dtype.kind, key
        else:
            assert type(actual[key]) is type(value) and actual[key] == value, key


def leftovers(folder, keep):
    """Files in ``folder`` other than ``keep`` (temporary files a write left behind)."""
    return sorted(set(os.listdir(folder)) - set(keep))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: type(p).__name__)
def test_grid_round_trip_is_exact(tmp_path, dtype, parametrization, process):
    t, axes, values = grid_field((4, 3), n_t=3, dtype=dtype)
    values[0, 0, 0, 0] = -0.0
    path = tmp_path / "field.h5"
    fd.save_score(path, process, t, values, axes=axes, parametrization=parametrization)
    score = fd.load_score(path)
    assert isinstance(score, fd.TabulatedScore)
    assert score.process == process and score.parametrization == parametrization
    assert_bits_equal(score.t, t)
    assert_bits_equal(score.values, values)
    for loaded, axis in zip(score.axes, axes):
        assert np.array_equal(loaded, axis.astype(np.float64))
    with h5py.File(path, "r") as file:  # the file holds the arrays in their own precision
        for i, axis in enumerate(axes):
            assert_bits_equal(file[f"axes/{i}"][()], axis)
    # the loaded score is the one built in memory from the same arrays
    direct = fd.TabulatedScore(process, t, axes, values, parametrization)
    x = np.random.default_rng(3).uniform(-2.0, 2.0, (50, 2))
    assert np.array_equal(score.score(x, 0.4), direct.score(x, 0.4))
    # saving what was loaded writes the same values again
    score.save(tmp_path / "again.h5")
    again = fd.load_score(tmp_path / "again.h5")
    assert_bits_equal(again.values, values)
    assert_bits_equal(again.t, t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_point_round_trip_is_exact(tmp_path, dtype, parametrization):
    t, points, values = point_field(dtype=dtype)
    path = tmp_path / "audit.h5"
    fd.save_score(path, PROCESS, t, values, points=points, parametrization=parametrization)
    samples = fd.load_score(path)
    assert isinstance(samples, fd.ScoreSamples)
    assert samples.parametrization == parametrization and samples.process == PROCESS
    assert_bits_equal(samples.t, t)
    assert_bits_equal(samples.points, points)
    assert_bits_equal(samples.values, values)
    samples.save(tmp_path / "again.h5")
    assert_bits_equal(fd.load_score(tmp_path / "again.h5").values, values)


def test_files_written_with_h5py_alone_load(tmp_path):
    """A writer without fpdiff (h5py defaults: variable-length strings, int64 version) is read the same."""
    t, axes, values = grid_field((3, 4), dtype=np.float32)
    write_with_h5py(tmp_path / "plain.h5", t, values, axes=axes, parametrization="eps")
    fd.save_score(tmp_path / "fpdiff.h5", PROCESS, t, values, axes=axes, parametrization="eps")
    plain, ours = fd.load_score(tmp_path / "plain.h5"), fd.load_score(tmp_path / "fpdiff.h5")
    assert plain.parametrization == "eps" and plain.process == PROCESS
    x = np.random.default_rng(0).uniform(-2.0, 2.0, (20, 2))
    assert np.array_equal(plain.score(x, 0.55), ours.score(x, 0.55))


# ---------------------------------------------------------------- the process: every schedule, versions 1 and 2


def write_v1(path, process, t, values, axes, parametrization="eps"):
    """A file as fpdiff's version-1 writer wrote it: the process as JSON only, version 1, fixed-length strings."""
    with h5py.File(path, "w", libver=("v110", "v110")) as file:
        file.attrs["format"] = np.bytes_(b"fpdiff.score-field")
        file.attrs["version"] = np.int64(1)
        file.attrs["process"] = np.bytes_(json.dumps(process.to_dict()).encode())
        file.attrs["parametrization"] = np.bytes_(parametrization.encode())
        file.create_dataset("t", data=t, fletcher32=True)
        for i, axis in enumerate(axes):
            file.create_dataset(f"axes/{i}", data=axis, fletcher32=True)
        file.create_dataset("values", data=values, fletcher32=True)
        file.create_group("meta")


@pytest.mark.parametrize("process", PROCESSES[:4], ids=lambda p: type(p).__name__)
def test_version_1_files_still_load(tmp_path, process):
    t, axes, values = grid_field((4, 3))
    write_v1(tmp_path / "v1.h5", process, t, values, axes)
    loaded = fd.load_score(tmp_path / "v1.h5")
    assert loaded.process == process and loaded.parametrization == "eps"
    assert_bits_equal(loaded.values, values)
    fd.save_score(tmp_path / "v2.h5", process, t, values, axes=axes, parametrization="eps")
    with h5py.File(tmp_path / "v2.h5", "r") as file:
        assert file.attrs["version"] == 2 and json.loads(file.attrs["process"]) == process.to_dict()
    x = np.random.default_rng(4).uniform(-2.0, 2.0, (30, 2))
    assert np.array_equal(loaded.score(x, 0.3), fd.load_score(tmp_path / "v2.h5").score(x, 0.3))


@pytest.mark.parametrize("process", [fd.VE(sigma_min=0.01, sigma_max=5.0), fd.VP()], ids=["VE", "VP"])
def test_a_version_1_v_file_keeps_its_meaning(tmp_path, process):
    # version 1 stored v = alpha eps - sqrt(v) x0 without the division by n_t = sqrt(alpha^2 + v_t): read as
    # written, the exact field stored that way gives the exact score (VE: n_t up to 5; VP: n_t = 1)
    mixture = fd.GaussianMixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.5]], [0.3, 0.2])
    exact = fd.ExactScore(process, mixture)
    t, axes = np.array([0.1, 0.4, 0.9]), [np.linspace(-3, 3, 7), np.linspace(-2, 2, 5)]
    nodes = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2)
    old_v = []
    for s in t:
        alpha, v = float(process.alpha(s)), float(process.variance(s))
        x0, eps = exact.xhat0(nodes, s), -np.sqrt(v) * exact.score(nodes, s)
        old_v.append((alpha * eps - np.sqrt(v) * x0).reshape(7, 5, 2))
    write_v1(tmp_path / "v1.h5", process, t, np.array(old_v), axes, parametrization="v")
    loaded = fd.load_score(tmp_path / "v1.h5")
    for s in t:
        np.testing.assert_allclose(loaded.score(nodes, s), exact.score(nodes, s), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("layout", ["grid", "points"])
def test_every_process_round_trips(tmp_path, process, layout):
    """save -> load gives the same process (==) with the same alpha, v and sigma at every time."""
    if layout == "grid":
        t, axes, values = grid_field((4, 3))
        fd.save_score(tmp_path / "f.h5", process, t, values, axes=axes, parametrization="v")
    else:
        t, points, values = point_field()
        fd.save_score(tmp_path / "f.h5", process, t, values, points=points, parametrization="x0")
    loaded = fd.load_score(tmp_path / "f.h5").process
    assert type(loaded) is type(process) and loaded == process and hash(loaded) == hash(process)
    times = np.linspace(0.0, 1.0, 101)
    for method in ("alpha", "variance", "drift_rate", "diffusion", "sigma"):
        assert np.array_equal(getattr(loaded, method)(times), getattr(process, method)(times)), method
    if isinstance(process, fd.Discrete):
        assert np.array_equal(loaded.alphas_cumprod, process.alphas_cumprod)


def test_a_table_is_a_dataset_not_json(tmp_path):
    """A Discrete table goes to 'process/alphas_cumprod' (checksummed); the JSON holds the kind only."""
    process = PROCESSES[-1]
    t, axes, values = grid_field()
    fd.save_score(tmp_path / "f.h5", process, t, values, axes=axes)
    with h5py.File(tmp_path / "f.h5", "r") as file:
        assert json.loads(file.attrs["process"]) == {"kind": "Discrete"}
        table = file["process/alphas_cumprod"]
        assert table.fletcher32 and table.dtype == np.float64
        assert_bits_equal(table[()], process.alphas_cumprod)
        assert list(file["process"]) == ["alphas_cumprod"]
    for scalar in PROCESSES[:-1]:  # the other kinds have no group 'process'
        fd.save_score(tmp_path / "g.h5", scalar, t, values, axes=axes)
        with h5py.File(tmp_path / "g.h5", "r") as file:
            assert "process" not in file and json.loads(file.attrs["process"]) == scalar.to_dict()


class OwnSchedule(fd.LinearProcess):
    """A user's own process: usable by the solvers, not describable in a file."""

    stationary_variance = 1.0

    def alpha(self, t):
        return np.exp(-np.asarray(t, dtype=np.float64))

    def variance(self, t):
        return -np.expm1(-2 * np.asarray(t, dtype=np.float64))

    def drift_rate(self, t):
        return 1.0 + 0.0 * np.asarray(t, dtype=np.float64)

    def diffusion(self, t):
        return 2**0.5 + 0.0 * np.asarray(t, dtype=np.float64)

    def _parameters(self):
        return {}


class RenamedVP(fd.VP):
    """A subclass of an fpdiff process: its file would load as a VP, which it may not be."""


@pytest.mark.parametrize("process", [OwnSchedule(), RenamedVP()], ids=["own", "subclass"])
def test_save_refuses_what_load_cannot_rebuild(tmp_path, process):
    t, axes, values = grid_field()
    with pytest.raises(InputError, match=rf"`process` {type(process).__name__} cannot be stored in a file.*"
                                         r"LinearProcess subclass of your own"):
        fd.save_score(tmp_path / "f.h5", process, t, values, axes=axes)
    assert not os.listdir(tmp_path)  # nothing written, not even a temporary file
    with pytest.raises(InputError, match="cannot be stored"):  # through the scores' own save too
        fd.TabulatedScore(process, t, axes, values).save(tmp_path / "g.h5")


def cosine_alpha(s, t):
    """Nichol & Dhariwal's alpha_t as docs/score-format.md writes it: cos(u(t)) / cos(u(0))."""
    u = lambda time: (time + s) / (1 + s) * np.pi / 2  # noqa: E731
    return np.cos(u(t)) / np.cos(u(0.0))


def betas_table(beta_start, beta_end, n, scaled):
    """alphas_cumprod of diffusers' 'linear' / 'scaled_linear' betas, as the format's documentation defines them."""
    betas = np.linspace(beta_start**0.5, beta_end**0.5, n) ** 2 if scaled else np.linspace(beta_start, beta_end, n)
    return np.cumprod(1.0 - betas)


# (JSON the documentation shows, the table dataset or None, alpha_t and v_t from the documentation's formulas)
TABLE = np.cumprod(1.0 - np.linspace(1e-3, 0.04, 120)).astype(np.float32)  # float32, as diffusers computes it
HAND_WRITTEN = {
    "OU": ({"kind": "OU", "beta": 0.7, "sigma": 1.3}, None,
           lambda t: np.exp(-0.7 * t), lambda t: 1.3**2 / 1.4 * (1 - np.exp(-1.4 * t))),
    "VP": ({"kind": "VP", "beta_min": 0.1, "beta_max": 20.0}, None,
           lambda t: np.exp(-(0.1 * t + 9.95 * t**2) / 2), lambda t: 1 - np.exp(-(0.1 * t + 9.95 * t**2))),
    "VE": ({"kind": "VE", "sigma_min": 0.01, "sigma_max": 50.0}, None,
           lambda t: np.ones_like(t), lambda t: 0.01**2 * ((50 / 0.01) ** (2 * t) - 1)),
    "Brownian": ({"kind": "Brownian", "sigma": 0.8}, None, lambda t: np.ones_like(t), lambda t: 0.64 * t),
    "Cosine": ({"kind": "cosine", "s": 0.008}, None,
               lambda t: cosine_alpha(0.008, t), lambda t: 1 - cosine_alpha(0.008, t) ** 2),
    "EDM": ({"kind": "EDM", "sigma_min": 0.002, "sigma_max": 80.0, "sigma_data": 0.5}, None,
            lambda t: np.ones_like(t), lambda t: t**2),
    "LinearDiscrete": ({"kind": "linear-discrete", "beta_start": 1e-4, "beta_end": 0.02, "n": 1000}, None,
                       None, betas_table(1e-4, 0.02, 1000, scaled=False)),
    "ScaledLinear": ({"kind": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "n": 1000}, None,
                     None, betas_table(0.00085, 0.012, 1000, scaled=True)),
    "Discrete": ({"kind": "Discrete"}, TABLE, None, TABLE.astype(np.float64)),
}


@pytest.mark.parametrize("kind", list(HAND_WRITTEN))
def test_a_file_written_by_hand_from_the_documentation_loads(tmp_path, kind):
    """Every schedule, written with h5py as docs/score-format.md says (version 2), loads as that schedule."""
    description, table, alpha, variance = HAND_WRITTEN[kind]
    t, axes, values = grid_field((5, 4), dtype=np.float32)
    with h5py.File(tmp_path / "score.h5", "w") as f:
        f.attrs["format"] = np.bytes_(b"fpdiff.score-field")
        f.attrs["version"] = np.int64(2)
        f.attrs["process"] = np.bytes_(json.dumps(description).encode())
        f.attrs["parametrization"] = np.bytes_(b"eps")
        if table is not None:
            f.create_dataset("process/alphas_cumprod", data=table)
        f.create_dataset("t", data=t)
        for i, axis in enumerate(axes):
            f.create_dataset(f"axes/{i}", data=axis)
        f.create_dataset("values", data=values)
    score = fd.load_score(tmp_path / "score.h5")
    process = score.process
    assert type(process).__name__ == kind
    times = np.linspace(0.05, 1.0, 20)
    if alpha is not None:
        np.testing.assert_allclose(process.alpha(times), alpha(times), rtol=1e-12)
        np.testing.assert_allclose(process.variance(times), variance(times), rtol=1e-12)
    else:  # a table: alphabar at step i (t_i = (i + 1)/n) is the documented table's entry i
        n = len(variance)
        np.testing.assert_allclose(process.alpha(np.arange(1, n + 1) / n) ** 2, variance, rtol=1e-12)
    # the eps convention of the documentation: s = -V / sqrt(v_t)
    x = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2).astype(np.float64)
    expected = -values[1].reshape(-1, 2).astype(np.float64) / np.sqrt(process.variance(float(t[1])))
    np.testing.assert_allclose(score.score(x, float(t[1])), expected, rtol=1e-12)


def table_file(folder, table=TABLE, process='{"kind": "Discrete"}', version=2, change=None):
    """A valid v2 grid file of a Discrete process written with h5py, then ``change(file)``: its path."""
    path = os.path.join(folder, "table.h5")
    t, axes, values = grid_field()
    with h5py.File(path, "w") as file:
        file.attrs["format"] = "fpdiff.score-field"
        file.attrs["version"] = version
        file.attrs["process"] = process
        file.attrs["parametrization"] = "score"
        if table is not None:
            file["process/alphas_cumprod"] = table
        file["t"] = t
        for i, axis in enumerate(axes):
            file[f"axes/{i}"] = axis
        file["values"] = values
        if change is not None:
            change(file)
    return path


def other_file(folder):
    path = os.path.join(folder, "other.h5")
    with h5py.File(path, "w") as file:
        file["alphas_cumprod"] = TABLE
    return path


TABLE_DAMAGES = [
    ("increasing", dict(table=TABLE[::-1]), r"dataset 'process/alphas_cumprod'.*strictly decreasing in \(0, 1\)"),
    ("repeated entry", dict(table=np.concatenate([TABLE[:3], TABLE[2:]])), r"'process/alphas_cumprod'.*strictly"),
    ("entry 1", dict(table=np.concatenate([[1.0], TABLE])), r"'process/alphas_cumprod'.*strictly decreasing in"),
    ("last entry 0", dict(table=np.concatenate([TABLE, [0.0]])), r"'process/alphas_cumprod'.*zero terminal SNR"),
    ("NaN", dict(table=np.where(np.arange(len(TABLE)) == 5, np.nan, TABLE)),
     r"'process/alphas_cumprod'.*must be finite; found nan at index \(5,\)"),
    ("one entry", dict(table=TABLE[:1]), r"'process/alphas_cumprod'.*at least 2 entries"),
    ("empty", dict(table=TABLE[:0]), r"'process/alphas_cumprod'.*at least 2 entries"),
    ("2-D", dict(table=TABLE[:, None]), r"dataset 'process/alphas_cumprod': must have 1 dimension"),
    ("integers", dict(table=np.arange(10, 0, -1)), r"dataset 'process/alphas_cumprod': unsupported dtype int64"),
    ("float16", dict(table=TABLE.astype(np.float16)), r"dataset 'process/alphas_cumprod': unsupported dtype float16"),
    ("text", dict(table=np.array([b"0.9", b"0.5"])), r"dataset 'process/alphas_cumprod': unsupported dtype"),
    ("missing", dict(table=None), r"dataset 'process/alphas_cumprod': missing: the alphas_cumprod of a Discrete "
                                  r"process is this dataset"),
    ("a scalar parameter as a dataset", dict(table=None, process='{"kind": "Cosine"}',
                                             change=lambda f: f.create_dataset("process/s", data=[0.008])),
     r"group 'process': holds 's', which is not an array parameter of Cosine"),
    ("a JSON list", dict(table=None, process=json.dumps({"kind": "Discrete", "alphas_cumprod": [0.9, 0.5]})),
     r"attribute 'process': parameter 'alphas_cumprod' is a JSON list: an array parameter is the dataset "
     r"'process/alphas_cumprod'"),
    ("both", dict(process=json.dumps({"kind": "Discrete", "alphas_cumprod": 0.5})),
     r"group 'process': holds 'alphas_cumprod', which is not an array parameter of Discrete"),
    ("unknown dataset", dict(change=lambda f: f.create_dataset("process/betas", data=TABLE)),
     r"group 'process': holds 'betas', which is not an array parameter of Discrete"),
    ("array for a scalar kind", dict(process='{"kind": "Cosine"}'),
     r"group 'process': holds 'alphas_cumprod', which is not an array parameter of Cosine"),
    ("a dataset, not a group", dict(table=None, change=lambda f: f.create_dataset("process", data=TABLE)),
     r"'process': must be a group of the process's array parameters"),
    ("a group, not a dataset", dict(table=None, change=lambda f: f.create_group("process/alphas_cumprod")),
     r"dataset 'process/alphas_cumprod': must be a dataset"),
    ("never written", dict(table=None, change=lambda f: f.create_dataset("process/alphas_cumprod", (50,), "f8")),
     r"dataset 'process/alphas_cumprod': stores 0 of its 400 bytes: never written"),
    ("external link", dict(table=None, change=lambda f: f.__setitem__(
        "process/alphas_cumprod", h5py.ExternalLink(other_file(os.path.dirname(f.filename)), "alphas_cumprod"))),
     r"'process/alphas_cumprod': is a link to the file"),
]


@pytest.mark.parametrize("name, options, match", TABLE_DAMAGES, ids=[d[0] for d in TABLE_DAMAGES])
def test_a_malformed_table_is_a_format_error_naming_it(tmp_path, name, options, match):
    assert_format_error(table_file(tmp_path, **options), match)


def test_a_table_counts_in_the_byte_budget(tmp_path):
    """The table is read only within max_bytes; an n of 10^12 steps is refused before its table is built."""
    path = table_file(tmp_path)
    t, axes, values = grid_field()
    field = sum(np.asarray(a).nbytes for a in (t, values, *axes))
    fd.load_score(path, max_bytes=field + TABLE.nbytes)
    with pytest.raises(FormatError, match=r"datasets 't', 'axes', 'points', 'values' and the process's table"):
        fd.load_score(path, max_bytes=field + TABLE.nbytes - 1)
    huge = table_file(tmp_path, table=None, process='{"kind": "LinearDiscrete", "n": 1000000000000}')
    assert_format_error(huge, r"declare 7.28 TiB together, more than the 1 GiB allowed")


@pytest.mark.parametrize("process", [PROCESSES[-1], fd.Cosine(), fd.EDM()], ids=lambda p: type(p).__name__)
def test_a_grid_score_rebuilds_any_process_from_its_solution(process):
    """GridScore without a process takes the forward solution's (its diagnostics' description, a table included)."""
    data = fd.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [0.1, 0.2])
    forward = fd.solve_forward(process, fd.Grid([(-6.0, 6.0)], [60]), data, 0.5, save_at=[0.0, 0.2, 0.5])
    score = fd.GridScore(forward)
    assert type(score.process) is type(process) and score.process == process
    x = np.linspace(-2.0, 2.0, 7)[:, None]
    assert np.array_equal(score.score(x, 0.3), fd.GridScore(forward, process).score(x, 0.3))


@pytest.mark.parametrize("process", [fd.Cosine(), PROCESSES[-1], fd.ScaledLinear()], ids=lambda p: type(p).__name__)
def test_times_beyond_the_schedule_are_refused_by_both(tmp_path, process):
    """A schedule defined on [0, 1]: save_score refuses t = 1.5 as load_score does (no file it cannot read)."""
    t, axes, values = np.array([0.5, 1.5]), [np.linspace(-1.0, 1.0, 3)], np.zeros((2, 3, 1))
    with pytest.raises(InputError, match=r"`t` reaches 1.5, beyond .* defined for t in \[0, 1\]"):
        fd.save_score(tmp_path / "f.h5", process, t, values, axes=axes)
    description, arrays = describe_process(process)
    with h5py.File(tmp_path / "f.h5", "w") as file:
        file.attrs.update({"format": "fpdiff.score-field", "version": 2, "process": json.dumps(description),
                           "parametrization": "score"})
        for key, array in arrays.items():
            file[f"process/{key}"] = array
        file["t"], file["axes/0"], file["values"] = t, axes[0], values
    assert_format_error(tmp_path / "f.h5", r"dataset 't': reaches t = 1.5, beyond the process .* defined for t in "
                                           r"\[0, 1\]")
    fd.save_score(tmp_path / "ok.h5", process, [0.5, 1.0], values, axes=axes)  # t_max itself is in the range
    assert fd.load_score(tmp_path / "ok.h5").t_range == (0.5, 1.0)


def test_a_version_1_file_ignores_a_group_process(tmp_path):
    """Version 1 had no group 'process' (objects not in the format are ignored): its JSON alone is the process."""
    path = table_file(tmp_path, process='{"kind": "VP"}', version=1)
    assert fd.load_score(path).process == fd.VP()


@pytest.mark.parametrize("parametrization", PARAMETRIZATIONS)
def test_parametrizations_follow_the_documented_conventions(tmp_path, parametrization):
    """Values written by hand from the documented formulas give the exact score.

    p_0 = delta_m, so p_t = N(alpha m, v I) and s = -(x - alpha m)/v, affine
    in x: multilinear interpolation reproduces it to rounding.
    """
    process, m = fd.OU(beta=0.8, sigma=1.1), np.array([0.3, -0.5])
    t = np.array([0.2, 0.6, 1.5])
    axes = [np.linspace(-2.0, 2.0, 5), np.array([-3.0, -1.0, 0.5, 2.0])]
    nodes = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    slices = []
    for s in t:
        alpha, variance = float(process.alpha(s)), float(process.variance(s))
        eps = (nodes - alpha * m) / np.sqrt(variance)
        slices.append({"score": -eps / np.sqrt(variance), "eps": eps, "x0": np.broadcast_to(m, nodes.shape),
                       "v": (alpha * eps - np.sqrt(variance) * m) / np.sqrt(alpha**2 + variance)}[parametrization])
    fd.save_score(tmp_path / "f.h5", process, t, np.stack(slices), axes=axes, parametrization=parametrization)
    score = fd.load_score(tmp_path / "f.h5")
    x = np.random.default_rng(1).uniform([-2.0, -3.0], [2.0, 2.0], (40, 2))
    for s in t:
        exact = -(x - float(process.alpha(s)) * m) / float(process.variance(s))
        np.testing.assert_allclose(score.score(x, s), exact, rtol=1e-12, atol=1e-12)


def test_meta_round_trip(tmp_path):
    meta = {
        "model": "unet-σβ",  # non-ASCII text
        "epochs": 120,
        "large": 2**62,
        "negative": -7,
        "learning_rate": 3e-4,
        "complex": 1.5 - 2j,
        "ema": True,
        "none": None,
        "empty": "",
        "losses": np.array([0.5, 0.25, 0.125]),
        "steps": [1, 2, 3],
        "mask": np.array([True, False]),
        "names": ["train", "valid"],
        "image": np.arange(12, dtype=np.float32).reshape(3, 4),
        "training": {"optimizer": {"name": "adam", "betas": np.array([0.9, 0.999])}, "seed": 0},
        "nothing": {},
    }
    t, axes, values = grid_field((3,))
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes, meta=meta)
    score = fd.load_score(tmp_path / "f.h5")
    assert_meta_equal(score.meta, meta)
    assert score.meta["image"].dtype == np.float32
    score.save(tmp_path / "again.h5")  # meta travels with the score
    assert_meta_equal(fd.load_score(tmp_path / "again.h5").meta, meta)


@pytest.mark.parametrize("meta, match", [
    ({"a/b": 1}, "keys must be non-empty strings without '/'"),
    ({1: 1}, "keys must be non-empty strings"),
    ({"": 1}, "keys must be non-empty strings"),
    ({"ok": {"bad/key": 1}}, r"`meta/ok` keys"),
    ({"objects": [{"a": 1}]}, r"`meta/objects` must be"),
    ({"huge": 2**70}, r"`meta/huge`"),
    ("not a dict", "`meta` must be a dict"),
])
def test_bad_meta_is_an_input_error_and_writes_nothing(tmp_path, meta, match):
    t, axes, values = grid_field((3,))
    with pytest.raises(InputError, match=match):
        fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes, meta=meta)
    assert os.listdir(tmp_path) == []


def test_save_rejects_bad_arguments(tmp_path):
    t, axes, values = grid_field((3,))
    path = tmp_path / "f.h5"
    with pytest.raises(InputError, match="`process`"):
        fd.save_score(path, "OU", t, values, axes=axes)
    with pytest.raises(InputError, match="`parametrization`"):
        fd.save_score(path, PROCESS, t, values, axes=axes, parametrization="epsilon")
    with pytest.raises(InputError, match="either"):
        fd.save_score(path, PROCESS, t, values, axes=axes, points=np.zeros((3, 2, 1)))
    with pytest.raises(InputError, match="`t`.*strictly increasing"):
        fd.save_score(path, PROCESS, t[::-1], values, axes=axes)
    with pytest.raises(InputError, match="`values`.*NaN or inf"):
        fd.save_score(path, PROCESS, t, np.full_like(values, np.nan), axes=axes)
    assert os.listdir(tmp_path) == []


def test_other_dtypes_are_stored_as_float64(tmp_path):
    """float16 and integer input is widened on writing, so the file is one fpdiff reads."""
    t = np.array([0.25, 0.5], dtype=np.float16)
    axes = [np.array([-1, 0, 2])]
    values = np.arange(6, dtype=np.int32).reshape(2, 3, 1)
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes)
    with h5py.File(tmp_path / "f.h5", "r") as file:
        assert {file[name].dtype for name in ("t", "axes/0", "values")} == {np.dtype(np.float64)}
    score = fd.load_score(tmp_path / "f.h5")
    assert np.array_equal(score.t, t.astype(np.float64)) and np.array_equal(score.values, values)


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "f.h5"
    t, axes, values = grid_field((4,), dtype=np.float32)
    fd.save_score(path, PROCESS, t, values, axes=axes, meta={"run": 1})
    t2, points, values2 = point_field()
    fd.save_score(path, fd.VP(), t2, values2, points=points, parametrization="x0", meta={"run": 2})
    loaded = fd.load_score(path)
    assert isinstance(loaded, fd.ScoreSamples) and loaded.meta == {"run": 2} and loaded.process == fd.VP()
    assert_bits_equal(loaded.values, values2)
    assert leftovers(tmp_path, ["f.h5"]) == []


def test_new_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        t, axes, values = grid_field((3,))
        fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "f.h5").st_mode & 0o777 == 0o640


def test_written_files_have_no_global_heap(tmp_path):
    """Text attributes are fixed-length strings: no global heap collection, whose corruption hangs libhdf5."""
    t, axes, values = grid_field((3,))
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes,
                  meta={"name": "x", "names": ["a", "b"], "nested": {"text": "y"}})
    assert b"GCOL" not in (tmp_path / "f.h5").read_bytes()


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_crash_while_writing_keeps_the_previous_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "f.h5"
    t, axes, values = grid_field((4, 3))
    fd.save_score(path, PROCESS, t, values, axes=axes, meta={"version": "old"})
    before = path.read_bytes()
    written = []

    def failing_create_dataset(self, name, *args, **kwargs):
        written.append(name)
        if name == "values":  # midway: t and the axes are already in the temporary file
            raise failure
        return original(self, name, *args, **kwargs)

    original = h5py.Group.create_dataset
    monkeypatch.setattr(h5py.Group, "create_dataset", failing_create_dataset)
    with pytest.raises(type(failure)):
        fd.save_score(path, fd.VP(), t, 2 * values, axes=axes, meta={"version": "new"})
    monkeypatch.undo()
    assert written[:2] == ["t", "0"]
    assert path.read_bytes() == before
    loaded = fd.load_score(path)
    assert loaded.meta == {"version": "old"} and loaded.process == PROCESS
    assert_bits_equal(loaded.values, values)
    assert leftovers(tmp_path, ["f.h5"]) == []


def test_a_failed_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "f.h5"
    t, axes, values = grid_field((3,))
    fd.save_score(path, PROCESS, t, values, axes=axes)
    before = path.read_bytes()

    def failing_replace(source, target):
        raise OSError("rename failed")

    monkeypatch.setattr(_hdf5.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        fd.save_score(path, PROCESS, t, 2 * values, axes=axes)
    monkeypatch.undo()
    assert path.read_bytes() == before and leftovers(tmp_path, ["f.h5"]) == []


@st.composite
def valid_fields(draw, layouts=("grid", "points"), min_times=1):
    """Random valid fields: d 1..3, n_t 1..4, axis lengths 2..6, float32 or float64."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    width = 32 if dtype == np.float32 else 64
    layout = draw(st.sampled_from(layouts))
    dim, n_t = draw(st.integers(1, 3)), draw(st.integers(min_times, 4))

    def increasing(count, low):
        steps = draw(hnp.arrays(np.float64, count, elements=st.floats(0.05, 2.0)))
        return (low + np.cumsum(steps)).astype(dtype)

    t = increasing(n_t, 0.0)
    if layout == "grid":
        axes = [increasing(draw(st.integers(2, 6)), -3.0) for _ in range(dim)]
        shape = (n_t, *(len(axis) for axis in axes), dim)
        points = None
    else:
        axes = None
        shape = (n_t, draw(st.integers(1, 5)), dim)
        points = draw(hnp.arrays(dtype, shape, elements=st.floats(-5, 5, width=width)))
    values = draw(hnp.arrays(dtype, shape, elements=st.floats(-1e6, 1e6, width=width)))
    return {"t": t, "axes": axes, "points": points, "values": values,
            "parametrization": draw(st.sampled_from(PARAMETRIZATIONS))}


@PROPERTY
@given(field=valid_fields())
def test_property_random_fields_round_trip_exactly(field):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "f.h5")
        fd.save_score(path, PROCESS, field["t"], field["values"], axes=field["axes"], points=field["points"],
                      parametrization=field["parametrization"])
        loaded = fd.load_score(path)
        assert leftovers(folder, ["f.h5"]) == []
    assert loaded.parametrization == field["parametrization"]
    assert_bits_equal(loaded.t, field["t"])
    assert_bits_equal(loaded.values, field["values"])
    if field["axes"] is not None:
        for axis, expected in zip(loaded.axes, field["axes"]):
            assert np.array_equal(axis, expected)
    else:
        assert_bits_equal(loaded.points, field["points"])


# ---------------------------------------------------------------- malformed files


def replace(file, name, data, **options):
    del file[name]
    file.create_dataset(name, data=data, **options)


def edit(name, change):
    """Damage: replace dataset ``name`` by ``change(its data)``."""
    return lambda file: replace(file, name, change(file[name][()]))


def at(index, value):
    """``change`` that sets one element (``index`` may be negative) to ``value``."""
    def change(array):
        array = array.copy()
        array.reshape(-1)[index] = value
        return array
    return change


def set_attribute(key, value):
    def damage(file):
        file.attrs[key] = value
    return damage


def delete(name):
    def damage(file):
        del file[name]
    return damage


def delete_attribute(key):
    def damage(file):
        del file.attrs[key]
    return damage


def last_axis(file):
    return f"axes/{len(file['axes']) - 1}"


def rename_last_axis(file):  # {0, ..., d-2, d}: a gap
    file.move(last_axis(file), f"axes/{len(file['axes'])}")


def extra_axis_name(file):
    file["axes/x"] = np.array([0.0, 1.0])


def empty_axes(file):
    del file["axes"]
    file.create_group("axes")


def axes_as_dataset(file):
    del file["axes"]
    file["axes"] = np.linspace(-1.0, 1.0, 4)


def axis_as_group(file):
    del file["axes/0"]
    file.create_group("axes/0")


def values_as_group(file):
    del file["values"]
    file.create_group("values")


def add_points(file):
    file["points"] = np.zeros((len(file["t"]), 2, len(file["axes"])))


def single_node_axis(file):
    axis, values = file["axes/0"][()], file["values"][()]
    replace(file, "axes/0", axis[:1])
    replace(file, "values", values[:, :1])


def empty_times(file):
    t, values = file["t"][()], file["values"][()]
    replace(file, "t", t[:0])
    replace(file, "values", values[:0])


def repeated_time(file):
    t, values = file["t"][()], file["values"][()]
    replace(file, "t", np.concatenate([t, t[-1:]]))
    replace(file, "values", np.concatenate([values, values[-1:]]))


def values_never_written(file):
    shape, dtype = file["values"].shape, file["values"].dtype
    del file["values"]
    file.create_dataset("values", shape=shape, dtype=dtype)


def values_partly_written(file):
    """Chunked, one chunk per time slice, only the first slice written (n_t >= 2)."""
    values = file["values"][()]
    del file["values"]
    dataset = file.create_dataset("values", shape=values.shape, dtype=values.dtype, chunks=(1, *values.shape[1:]))
    dataset[0] = values[0]


def values_in_external_raw_file(file):
    values = file["values"][()]
    raw = file.filename + ".raw"
    with open(raw, "wb") as handle:
        handle.write(values.tobytes())
    del file["values"]
    file.create_dataset("values", shape=values.shape, dtype=values.dtype, external=[(raw, 0, values.nbytes)])


def values_virtual(file):
    values = file["values"][()]
    source = file.filename + ".source.h5"
    with h5py.File(source, "w") as handle:
        handle["values"] = values
    del file["values"]
    layout = h5py.VirtualLayout(shape=values.shape, dtype=values.dtype)
    layout[...] = h5py.VirtualSource(source, "values", shape=values.shape)
    file.create_virtual_dataset("values", layout)


def t_as_external_link(file):
    other = file.filename + ".other.h5"
    with h5py.File(other, "w") as handle:
        handle["t"] = file["t"][()]
    del file["t"]
    file["t"] = h5py.ExternalLink(other, "/t")


def meta_as_dataset(file):
    if "meta" in file:
        del file["meta"]
    file["meta"] = np.arange(3)


def meta_link_cycle(file):
    file.require_group("meta")["loop"] = file.require_group("meta")


def meta_links_doubling(file):
    """26 levels, each linking twice to the next: a walk that follows every link reads 2^26 groups."""
    group = file.require_group("meta")
    for level in range(26):
        deeper = group.create_group("a")
        group["b"] = deeper
        group = deeper


def meta_nested_too_deep(file):
    group = file.require_group("meta")
    for _ in range(40):
        group = group.create_group("g")


def meta_compressed_too_much(file):
    """Declares 128 MiB, stored in chunks of compressed zeros."""
    file.require_group("meta").create_dataset("big", shape=(2**24,), dtype="f8", chunks=(2**20,),
                                              compression="gzip")[:] = 0.0


def t_compressed_too_much(file):
    """A small file whose 't' declares 64 MiB of compressed zeros (a decompression bomb)."""
    del file["t"]
    file.create_dataset("t", shape=(2**23,), dtype="f8", chunks=(2**20,), compression="gzip")[:] = 0.0


def meta_dangling_link(file):
    file.require_group("meta")["gone"] = h5py.SoftLink("/nowhere")


def meta_external_link(file):
    file.require_group("meta")["elsewhere"] = h5py.ExternalLink("/etc/hostname", "/x")


def meta_dataset_never_written(file):
    file.require_group("meta").create_dataset("history", shape=(1000,), dtype="f8")


def not_utf8_parametrization(file):
    file.attrs.create("parametrization", np.bytes_(b"\xff\xfe"))


# Structural damages to a valid grid-layout file (d >= 1, n_t >= 2) and the message each must give.
GRID_DAMAGES = [
    ("no t", delete("t"), r"dataset 't': missing"),
    ("no values", delete("values"), r"dataset 'values': missing"),
    ("no last axis", lambda f: delete(last_axis(f))(f), r"(dataset 'values': must have shape|group 'axes')"),
    ("no format", delete_attribute("format"), r"attribute 'format': missing"),
    ("no version", delete_attribute("version"), r"attribute 'version': missing"),
    ("no process", delete_attribute("process"), r"attribute 'process': missing"),
    ("no parametrization", delete_attribute("parametrization"), r"attribute 'parametrization': missing"),
    ("t rank 2", edit("t", lambda a: a[:, None]), r"dataset 't': must have 1 dimension"),
    ("t scalar", edit("t", lambda a: a[0]), r"dataset 't': must have 1 dimension"),
    ("t no dataspace", lambda f: replace(f, "t", h5py.Empty("f8")), r"dataset 't': has no dataspace"),
    ("values rank", edit("values", lambda a: a[..., 0]), r"dataset 'values': must have shape"),
    ("values short axis", edit("values", lambda a: a[:, :-1]), r"dataset 'values': must have shape"),
    ("values wrong d", edit("values", lambda a: np.concatenate([a, a[..., :1]], axis=-1)),
     r"dataset 'values': must have shape"),
    ("values fewer times", edit("values", lambda a: a[:-1]), r"dataset 'values': must have shape"),
    ("axis rank 2", edit("axes/0", lambda a: a[:, None]), r"dataset 'axes/0': must have 1 dimension"),
    ("axis decreasing", edit("axes/0", lambda a: a[::-1]), r"dataset 'axes/0' must be a strictly increasing"),
    ("axis duplicate node", edit("axes/0", lambda a: np.concatenate([a[:1], a[:-1]])),
     r"dataset 'axes/0' must be a strictly increasing"),
    ("axis single node", single_node_axis, r"dataset 'axes/0' must be .* at least 2"),
    ("t NaN", edit("t", at(-1, np.nan)), r"dataset 't' contains NaN or inf"),
    ("t inf", edit("t", at(0, np.inf)), r"dataset 't' contains NaN or inf"),
    ("axis NaN", edit("axes/0", at(0, np.nan)), r"dataset 'axes/0' contains NaN or inf"),
    ("axis inf", edit("axes/0", at(-1, np.inf)), r"dataset 'axes/0' contains NaN or inf"),
    ("values NaN", edit("values", at(-1, np.nan)), r"dataset 'values' contains NaN or inf"),
    ("values -inf", edit("values", at(0, -np.inf)), r"dataset 'values' contains NaN or inf"),
    ("t zero", edit("t", at(0, 0.0)), r"dataset 't' must be strictly increasing and > 0"),
    ("t negative", edit("t", at(0, -0.5)), r"dataset 't' must be strictly increasing and > 0"),
    ("t decreasing", edit("t", lambda a: a[::-1]), r"dataset 't' must be strictly increasing"),
    ("t repeated", repeated_time, r"dataset 't' must be strictly increasing"),
    ("t empty", empty_times, r"dataset 't' must be a non-empty"),
    ("unknown parametrization", set_attribute("parametrization", "epsilon"),
     r"attribute 'parametrization': must be one of .*got 'epsilon'"),
    ("parametrization not UTF-8", not_utf8_parametrization, r"attribute 'parametrization': must be one of"),
    ("version 3", set_attribute("version", 3), r"attribute 'version': version 3 was written by a newer fpdiff"),
    ("version 0", set_attribute("version", 0), r"attribute 'version': must be >= 1"),
    ("version float", set_attribute("version", 1.0), r"attribute 'version': must be an integer"),
    ("version text", set_attribute("version", "1"), r"attribute 'version': must be an integer"),
    ("version array", set_attribute("version", np.array([1, 2])), r"attribute 'version': must be an integer"),
    ("version bool", set_attribute("version", True), r"attribute 'version': must be an integer"),
    ("wrong format", set_attribute("format", "fpdiff.density"),
     r"attribute 'format': expected 'fpdiff.score-field', got 'fpdiff.density'"),
    ("process not JSON", set_attribute("process", "{kind: OU"), r"attribute 'process': not the JSON"),
    ("process unknown kind", set_attribute("process", '{"kind": "Cosmic"}'), r"attribute 'process': .*Cosmic"),
    ("process no kind", set_attribute("process", '{"beta": 1.0}'), r"attribute 'process': .*kind"),
    ("process bad parameter", set_attribute("process", '{"kind": "OU", "beta": -1.0}'),
     r"attribute 'process': .*beta"),
    ("process unknown parameter", set_attribute("process", '{"kind": "OU", "gamma": 2.0}'),
     r"attribute 'process': .*gamma"),
    ("process a list", set_attribute("process", "[1, 2]"), r"attribute 'process': not the JSON"),
    ("process 400-digit number", set_attribute("process", '{"kind": "OU", "beta": 1' + "0" * 400 + "}"),
     r"attribute 'process': not the JSON of an fpdiff process"),
    ("format not UTF-8", set_attribute("format", np.bytes_(b"fpdiff\xff\xfe")), r"attribute 'format': expected"),
    ("process deeply nested", set_attribute("process", "[" * 50_000 + "]" * 50_000),
     r"attribute 'process': not the JSON"),
    ("values int", edit("values", lambda a: np.round(a).astype(np.int64)),
     r"dataset 'values': unsupported dtype int64"),
    ("values float16", edit("values", lambda a: np.clip(a, -1e4, 1e4).astype(np.float16)),
     r"dataset 'values': unsupported dtype float16"),
    ("t float16", edit("t", lambda a: np.clip(a, 0.0, 1e4).astype(np.float16)), r"dataset 't': unsupported dtype float16"),
    ("axis complex", edit("axes/0", lambda a: a.astype(np.complex128)),
     r"dataset 'axes/0': unsupported dtype complex128"),
    ("t text", edit("t", lambda a: a.astype("S8")), r"dataset 't': unsupported dtype"),
    ("values compound", edit("values", lambda a: np.rec.fromarrays([a, a]).view(np.ndarray)),
     r"dataset 'values': unsupported dtype"),
    ("axes gap", rename_last_axis, r"group 'axes': must hold datasets '0', ..., 'd-1'"),
    ("axes extra name", extra_axis_name, r"group 'axes': must hold datasets '0', ..., 'd-1'"),
    ("axes empty", empty_axes, r"group 'axes': must hold datasets '0', ..., 'd-1'"),
    ("axes a dataset", axes_as_dataset, r"'axes': must be a group"),
    ("axis a group", axis_as_group, r"dataset 'axes/0': must be a dataset"),
    ("values a group", values_as_group, r"dataset 'values': must be a dataset"),
    ("both layouts", add_points, r"'axes' and 'points': both present"),
    ("neither layout", delete("axes"), r"neither is present"),
    ("values never written", values_never_written, r"dataset 'values': stores 0 of its \d+ bytes: never written"),
    ("values partly written", values_partly_written, r"dataset 'values': only 1 of its \d+ chunks were written"),
    ("values in an external raw file", values_in_external_raw_file, r"dataset 'values': keeps its data in external"),
    ("values virtual", values_virtual, r"dataset 'values': is a virtual dataset"),
    ("t an external link", t_as_external_link, r"'t': is a link to the file .*self-contained"),
    ("meta a dataset", meta_as_dataset, r"'meta': must be a group"),
    ("meta link cycle", meta_link_cycle, r"group 'meta/loop': is reached a second time .* link cycle"),
    ("meta links doubling per level", meta_links_doubling, r"group 'meta(/a)+/b': is reached a second time"),
    ("meta nested too deep", meta_nested_too_deep, r"group 'meta(/g)+': nested deeper than 32 levels"),
    ("t compressed too much", t_compressed_too_much, r"dataset 't': declares 64 MiB stored in .* compressed more "
                                                      r"than 100:1"),
    ("meta compressed too much", meta_compressed_too_much, r"dataset 'meta/big': declares 128 MiB stored in"),
    ("meta dangling link", meta_dangling_link, r"'meta/gone': unreadable"),
    ("meta external link", meta_external_link, r"'meta/elsewhere': is a link to the file"),
    ("meta dataset never written", meta_dataset_never_written, r"dataset 'meta/history': stores 0 of its"),
]

POINT_DAMAGES = [
    ("no points", delete("points"), r"neither is present"),
    ("points rank", edit("points", lambda a: a[..., 0]), r"dataset 'points': must have 3 dimension"),
    ("points int", edit("points", lambda a: np.round(a).astype(np.int32)), r"dataset 'points': unsupported dtype int32"),
    ("points NaN", edit("points", at(3, np.nan)), r"dataset 'points' contains NaN or inf"),
    ("values shape", edit("values", lambda a: a[:, :-1]), r"dataset 'values': must have shape"),
    ("points and values fewer times", lambda f: (edit("points", lambda a: a[:-1])(f), edit("values", lambda a: a[:-1])(f)),
     r"dataset 'points' must have shape \(n_t, M, d\)"),
    ("no sample", lambda f: (edit("points", lambda a: a[:, :0])(f), edit("values", lambda a: a[:, :0])(f)),
     r"dataset 'points' must have shape .* M, d >= 1"),
    ("values inf", edit("values", at(-1, np.inf)), r"dataset 'values' contains NaN or inf"),
]


def damaged_copy(folder, damage, layout="grid", field=None):
    """A valid file written with h5py, then ``damage(file)`` applied: its path."""
    path = os.path.join(folder, "damaged.h5")
    if layout == "grid":
        t, axes, values = grid_field() if field is None else field
        write_with_h5py(path, t, values, axes=axes)
    else:
        t, points, values = point_field()
        write_with_h5py(path, t, values, points=points)
    with h5py.File(path, "a") as file:
        damage(file)
    return path


def assert_format_error(path, match):
    with pytest.raises(FormatError, match=match) as error:
        fd.load_score(path)
    assert repr(os.fspath(path)) in str(error.value)  # every message names the file
    return error.value


@pytest.mark.parametrize("name, damage, match", GRID_DAMAGES, ids=[d[0] for d in GRID_DAMAGES])
def test_malformed_grid_file_is_a_format_error(tmp_path, name, damage, match):
    assert_format_error(damaged_copy(tmp_path, damage), match)


@pytest.mark.parametrize("name, damage, match", POINT_DAMAGES, ids=[d[0] for d in POINT_DAMAGES])
def test_malformed_point_file_is_a_format_error(tmp_path, name, damage, match):
    assert_format_error(damaged_copy(tmp_path, damage, layout="points"), match)


def test_format_error_is_a_value_error_and_hides_the_h5py_traceback(tmp_path):
    error = assert_format_error(damaged_copy(tmp_path, set_attribute("version", 3)), "newer")
    assert isinstance(error, ValueError) and isinstance(error, fd.FpdiffError)
    error = assert_format_error(damaged_copy(tmp_path, meta_dangling_link), "'meta/gone'")
    assert error.__cause__ is None and error.__suppress_context__


def test_score_conversion_overflow_is_a_format_error(tmp_path):
    """A valid-looking time so close to 0 that v_t underflows: the 'eps' conversion divides by 0."""
    process = fd.VE(sigma_min=0.01, sigma_max=5.0)
    t, axes, values = grid_field((3,), n_t=2)
    t = np.array([5e-324, 1.0])
    write_with_h5py(tmp_path / "f.h5", t, values, axes=axes, parametrization="eps", process=process)
    assert_format_error(tmp_path / "f.h5", r"dataset 'values': converting parametrization 'eps' to the score")


def test_overflow_names_the_time_slice(tmp_path):
    t, axes, values = grid_field((3,), n_t=3)
    t = np.array([0.01, 0.05, 1.0])
    values[1] = 1e308  # x0: s = (alpha V - x)/v, alpha/v ~ 10 at t = 0.05
    write_with_h5py(tmp_path / "f.h5", t, values, axes=axes, parametrization="x0")
    assert_format_error(tmp_path / "f.h5", r"dataset 'values': converting parametrization 'x0' .* not finite at t = 0\.05 ")


def good_file(folder):
    t, axes, values = grid_field()
    path = os.path.join(folder, "good.h5")
    fd.save_score(path, PROCESS, t, values, axes=axes, meta={"note": "x"})
    return path


def test_text_file_is_a_format_error(tmp_path):
    (tmp_path / "notes.h5").write_text("t, values\n0.1, 2.0\n")
    assert_format_error(tmp_path / "notes.h5", "not a readable HDF5 file")


def test_empty_file_is_a_format_error(tmp_path):
    (tmp_path / "empty.h5").write_bytes(b"")
    assert_format_error(tmp_path / "empty.h5", "not a readable HDF5 file")


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.01])
def test_truncated_file_is_a_format_error(tmp_path, keep):
    data = open(good_file(tmp_path), "rb").read()
    (tmp_path / "cut.h5").write_bytes(data[: int(keep * len(data))])
    assert_format_error(tmp_path / "cut.h5", "truncated")


def test_overwritten_superblock_is_a_format_error(tmp_path):
    data = bytearray(open(good_file(tmp_path), "rb").read())
    data[8:64] = np.random.default_rng(0).integers(0, 256, 56, dtype=np.uint8).tobytes()
    (tmp_path / "bad.h5").write_bytes(bytes(data))
    assert_format_error(tmp_path / "bad.h5", "not a readable HDF5 file")


def test_overwritten_data_bytes_name_the_dataset(tmp_path):
    """0xff... over the raw data of 'values' (written without checksum) is a NaN pattern, found and named."""
    t, axes, values = grid_field()
    path = tmp_path / "plain.h5"
    write_with_h5py(path, t, values, axes=axes)
    with h5py.File(path, "r") as file:
        offset = file["values"].id.get_offset()
    data = bytearray(open(path, "rb").read())
    data[offset + 16: offset + 32] = b"\xff" * 16
    (tmp_path / "bad.h5").write_bytes(bytes(data))
    assert_format_error(tmp_path / "bad.h5", r"dataset 'values' contains NaN or inf \(first at index \(0, 0, 1, 0\)\)")


def test_every_dataset_fpdiff_writes_has_a_checksum(tmp_path):
    t, axes, values = grid_field()
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes,
                  meta={"losses": [0.5, 0.25], "names": ["a", "b"], "empty": np.zeros(0), "scalar": np.array(2.0),
                        "nested": {"image": np.ones((2, 3), dtype=np.float32)}})
    datasets = []
    with h5py.File(tmp_path / "f.h5", "r") as file:
        file.visititems(lambda name, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None)
        assert len(datasets) == 9
        for dataset in datasets:  # a scalar dataset cannot be chunked, so it has no checksum
            assert dataset.fletcher32 == (dataset.shape != ()), dataset.name
    assert fd.load_score(tmp_path / "f.h5").meta["scalar"] == 2.0


@pytest.mark.parametrize("name", ["values", "axes/1", "t", "meta/losses"])
def test_a_flipped_bit_fails_the_checksum(tmp_path, name):
    """One flipped bit in the data is a different, finite number: only the checksum tells, naming the dataset."""
    t, axes, values = grid_field()
    path = tmp_path / "f.h5"
    fd.save_score(path, PROCESS, t, values, axes=axes, meta={"losses": np.linspace(1.0, 2.0, 50)})
    with h5py.File(path, "r") as file:
        offset = file[name].id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 1] ^= 0x04  # a low mantissa bit of the first number
    (tmp_path / "bad.h5").write_bytes(bytes(data))
    assert_format_error(tmp_path / "bad.h5", rf"dataset '{name}': fails its Fletcher-32 checksum")


def test_missing_path_or_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="is not a file"):
        fd.load_score(tmp_path / "nothing.h5")
    with pytest.raises(InputError, match="is not a file"):
        fd.load_score(tmp_path)


def test_bad_outside_policy_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="`outside`"):
        fd.load_score(good_file(tmp_path), outside="extrapolate")


def test_outside_policy_reaches_the_score(tmp_path):
    path = good_file(tmp_path)
    with pytest.raises(InputError, match="outside the tabulated box"):
        fd.load_score(path).score(np.array([[5.0, 0.0]]), 0.5)
    clamped = fd.load_score(path, outside="clamp")
    assert np.array_equal(clamped.score(np.array([[5.0, 0.0]]), 0.5), clamped.score(np.array([[2.0, 0.0]]), 0.5))


@PROPERTY
@given(field=valid_fields(layouts=("grid",), min_times=2),
       damage=st.sampled_from(GRID_DAMAGES))
def test_property_structural_corruptions_are_format_errors(field, damage):
    name, damage, match = damage
    with tempfile.TemporaryDirectory() as folder:
        path = damaged_copy(folder, damage, field=(field["t"], field["axes"], field["values"]))
        with pytest.raises(FormatError) as error:
            fd.load_score(path)
    assert re.search(match, str(error.value)), (name, str(error.value))


def test_the_field_size_is_bounded_before_reading(tmp_path, monkeypatch):
    path = good_file(tmp_path)  # t (3,), axes (4,), (5,), values (3, 4, 5, 2): 1056 bytes in float64

    def no_read(*args):
        raise AssertionError("data read before the size was checked")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", no_read)
    with pytest.raises(FormatError, match=r"good.h5', datasets 't', 'axes', 'points', 'values': declare 1.03 KiB "
                                          r"together, more than the 1000 bytes allowed: .* pass a larger `max_bytes`"):
        fd.load_score(path, max_bytes=1000)
    monkeypatch.undo()
    assert fd.load_score(path, max_bytes=1056).values.shape == (3, 4, 5, 2)
    with pytest.raises(InputError, match="`max_bytes` must be >= 1"):
        fd.load_score(path, max_bytes=0)


def test_meta_objects_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(score_io, "MAX_META_OBJECTS", 20)
    t, axes, values = grid_field()
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes, meta={f"key{i}": i for i in range(21)})
    assert_format_error(tmp_path / "f.h5", r"group 'meta': 'meta' holds more than 20 groups, datasets and attributes")
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes, meta={f"key{i}": {} for i in range(21)})
    assert_format_error(tmp_path / "f.h5", r"group 'meta': 'meta' holds more than 20")
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes, meta={f"key{i}": i for i in range(20)})
    assert len(fd.load_score(tmp_path / "f.h5").meta) == 20


@pytest.mark.parametrize("meta, where", [({"big": np.zeros(200)}, "dataset 'meta/big'"),
                                         ({"a": np.zeros(100), "b": {"c": np.zeros(100)}}, "dataset 'meta/b/c'"),
                                         ({"text": "x" * 1700}, "attribute 'text' of group 'meta'")])
def test_meta_bytes_are_bounded_before_reading(tmp_path, monkeypatch, meta, where):
    """A large meta array used to be read whole (MemoryError); its declared size is checked first."""
    monkeypatch.setattr(score_io, "MAX_META_BYTES", 1536)
    t, axes, values = grid_field()
    fd.save_score(tmp_path / "f.h5", PROCESS, t, values, axes=axes, meta=meta)
    assert_format_error(tmp_path / "f.h5", rf"{where}: 'meta' declares more than 1.5 KiB of data")


# ---------------------------------------------------------------- byte-level fuzzing, in a subprocess

FUZZ_SCRIPT = r"""
import os, sys
import numpy as np
from hypothesis import given, settings, strategies as st, HealthCheck
import fpdiff as fd
from fpdiff.errors import FormatError, InputError
from fpdiff.scores.field import check_field

folder = sys.argv[1]
rng = np.random.default_rng(0)
sources = {}
grid = os.path.join(folder, "grid.h5")
fd.save_score(grid, fd.VP(), np.array([0.1, 0.5, 1.0]), rng.standard_normal((3, 4, 5, 2)).astype(np.float32),
              axes=[np.linspace(-1, 1, 4), np.linspace(-2, 2, 5)], parametrization="v",
              meta={"epochs": 3, "name": "unet", "none": None, "nested": {"losses": np.arange(4.0), "tags": ["a", "b"]}})
points = os.path.join(folder, "points.h5")
fd.save_score(points, fd.Discrete(np.cumprod(1 - np.linspace(1e-3, 0.05, 60))), np.array([0.2, 0.7]),
              rng.standard_normal((2, 6, 3)),
              points=rng.standard_normal((2, 6, 3)), parametrization="x0")
originals = {}
for path in (grid, points):
    sources[path] = open(path, "rb").read()
    originals[path] = fd.load_score(path)
target = os.path.join(folder, "corrupt.h5")
progress = os.path.join(folder, "progress.txt")
counts = {"loaded": 0, "rejected": 0}

edits = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=32)),
                 min_size=1, max_size=4)
flips = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=6)
corruptions = st.one_of(st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
                        st.tuples(st.just("overwrite"), edits), st.tuples(st.just("flip"), flips))

@settings(max_examples=int(sys.argv[2]), deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(source=st.sampled_from(sorted(sources)), corruption=corruptions)
def fuzz(source, corruption):
    data = bytearray(sources[source])
    kind, argument = corruption
    if kind == "truncate":
        data = data[: int(argument * len(data))]
    elif kind == "overwrite":
        for where, replacement in argument:
            start = int(where * len(data))
            data[start: start + len(replacement)] = replacement
            del data[len(sources[source]):]
    else:
        for where, bit in argument:
            data[int(where * len(data))] ^= 1 << bit
    with open(progress, "w") as handle:  # read by the parent if this example hangs or kills the interpreter
        handle.write(f"{os.path.basename(source)}: {kind} {argument!r}")
    with open(target, "wb") as handle:
        handle.write(bytes(data))
    try:
        score = fd.load_score(target)
    except (FormatError, InputError):
        counts["rejected"] += 1
        return
    # what loads is the field that was written: checksums catch damaged data and metadata
    original = originals[source]
    assert (score.process, score.parametrization, score.meta.keys()) == (original.process, original.parametrization,
                                                                          original.meta.keys())
    assert np.array_equal(score.t, original.t) and np.array_equal(score.values, original.values)
    if isinstance(score, fd.TabulatedScore):
        assert all(np.array_equal(a, b) for a, b in zip(score.axes, original.axes))
    else:
        assert np.array_equal(score.points, original.points)
    # and a valid field
    if isinstance(score, fd.TabulatedScore):
        check_field(score.t, score.values, axes=score.axes)
        x = np.stack([np.linspace(lo, hi, 7) for lo, hi in score.box], axis=-1)
        for s in score.t:
            assert np.all(np.isfinite(score.score(x, float(s))))
    else:
        check_field(score.t, score.values, points=score.points)
        assert np.all(np.isfinite(score.scores))
    counts["loaded"] += 1

fuzz()
print(counts)
"""


def test_byte_level_fuzzing_never_crashes_or_hangs(tmp_path):
    """Truncations, random overwrites and bit flips: the field as written or FormatError/InputError, in a time limit.

    Never different numbers: the checksums of datasets (Fletcher-32) and of
    the file's metadata (HDF5 1.10 format) catch every damage that matters.

    In a subprocess, so that a segfault or an endless loop in libhdf5 fails
    this test (with the corruption that caused it) instead of the test run.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPOSITORY, os.environ.get("PYTHONPATH")])))
    try:
        run = subprocess.run([sys.executable, "-c", FUZZ_SCRIPT, str(tmp_path), "400"], env=env,
                             capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"load_score hung on {(tmp_path / 'progress.txt').read_text()}")
    last = (tmp_path / "progress.txt").read_text() if (tmp_path / "progress.txt").exists() else "(none)"
    assert run.returncode == 0, f"exit {run.returncode} at {last}\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    counts = ast.literal_eval(run.stdout.strip().splitlines()[-1])
    assert counts["rejected"] > 100 and counts["loaded"] > 10, counts
