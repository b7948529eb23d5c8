"""Sweeps and sharded particle ensembles, in-process and on Dask distributed (fpdiff.distributed)."""

import os
import signal
import sys
import time

import h5py
import numpy as np
import pytest

import fpdiff as fd
from fpdiff import distributed as fdd
from fpdiff.errors import InputError
from fpdiff.app.experiment import experiment_from_dict
from fpdiff.app.files import read_results
from fpdiff.app.runner import STOP_AFTER_ENV, Interrupted, run_experiment

PROCESS = fd.OU()
MIXTURE = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
SCORE = fd.ExactScore(PROCESS, MIXTURE)

#: a small sweep experiment: 12 points (2 gammas x 3 t_min x 2 seeds), both views, each point well under a second
SWEEP = {
    "process": {"kind": "OU"},
    "data": {"kind": "builtin", "name": "bimodal-1d"},
    "grid": {"bounds": [[-8.0, 8.0]], "cells": 100},
    "time": {"T": 1.0, "t_min": 0.01, "steps": 20, "particle_steps": 20},
    "reverse": {"start": "data"},
    "views": {"density": True, "particles": 2000},
    "sweep": {"reverse.gamma": [0.0, 1.0], "time.t_min": [0.01, 0.03, 0.1], "output.seed": [0, 1]},
}
METRICS = ("gamma", "l1", "kl", "w1", "tv", "tv_floor")  # everything but the wall times


def point_metrics(gamma, steps):
    """A sweep function: W1 of 2000 reverse samples to exact samples of p(t_min), and their mean."""
    if steps == 13:
        raise ValueError("13 steps are unlucky")  # the failing point of the sweep tests
    samples = fd.sample_reverse(PROCESS, SCORE, 2000, 1.0, gamma=gamma, t_min=0.01, steps=steps, seed=5).samples
    reference = MIXTURE.evolve(PROCESS, 0.01).sample(2000, seed=6)
    return {"w1": fd.metrics.w1(samples, reference), "mean": float(samples.mean())}


@pytest.fixture(scope="module")
def client():
    """Two single-threaded workers in this process (threads: quick to start on a 2-core machine)."""
    pytest.importorskip("distributed")
    with fdd.connect(workers=2, processes=False) as client:
        yield client


# ------------------------------------------------------------------ sweeps


def test_sweep_points_are_the_product_last_axis_fastest():
    points = fdd.sweep_points({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(points) == 6 and points[0] == {"a": 1, "b": "x"} and points[1] == {"a": 1, "b": "y"}
    assert points[-1] == {"a": 2, "b": "z"}
    with pytest.raises(InputError, match=r"`axes\['b'\]` must be a non-empty list"):
        fdd.sweep_points({"a": [1], "b": []})


def test_sweep_of_12_points_on_two_workers_equals_the_serial_sweep(client):
    axes = {"gamma": [0.0, 0.5, 1.0, 2.0], "steps": [10, 13, 20]}
    serial = fd.sweep(point_metrics, axes) if hasattr(fd, "sweep") else fdd.sweep(point_metrics, axes)
    parallel = fdd.sweep(point_metrics, axes, client=client)
    assert len(serial) == 12 and serial.columns == ["point", "gamma", "steps", "w1", "mean", "error"]
    assert [row["point"] for row in parallel.rows] == list(range(12))
    for column in ("gamma", "steps", "w1", "mean"):
        np.testing.assert_array_equal(parallel.column(column), serial.column(column))
    # the points with steps = 13 fail with their error; the 8 others complete
    failed = [row for row in parallel.rows if row["error"]]
    assert len(failed) == 4 and all(row["steps"] == 13 for row in failed)
    assert all(row["error"] == "ValueError: 13 steps are unlucky" for row in failed)
    assert np.all(np.isnan([row["w1"] for row in failed]))
    assert np.all(np.isfinite([row["w1"] for row in parallel.rows if not row["error"]]))
    assert "unlucky" in str(parallel) and str(parallel).splitlines()[0].split()[:3] == ["point", "gamma", "steps"]


def test_sweep_table_to_pandas():
    pandas = pytest.importorskip("pandas")
    table = fdd.sweep(lambda a: {"b": 2 * a}, {"a": [1, 2]})
    frame = table.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and list(frame["b"]) == [2, 4]


def test_sweep_of_an_experiment_equals_the_single_runs():
    """Sweeping an experiment in memory gives, per point, the metrics of running that point's file alone."""
    config = {key: value for key, value in SWEEP.items() if key != "sweep"}
    axes = {"reverse.gamma": [0.0, 1.0], "grid.cells": [60, 100]}
    table = fd.sweep(config, axes)
    assert len(table) == 4 and table.columns[:3] == ["point", "reverse.gamma", "grid.cells"]
    from fpdiff.app.runner import run_point

    single = dict(config, grid={"bounds": [[-8.0, 8.0]], "cells": 60}, reverse={"start": "data", "gammas": [1.0]})
    rows, _ = run_point(experiment_from_dict(single))
    row = table.rows[2]  # gamma 1, 60 cells
    assert (row["reverse.gamma"], row["grid.cells"]) == (1.0, 60)
    for name in METRICS:
        assert row[name] == rows[0][name]


# ------------------------------------------------------------------ experiment files with [sweep]


def test_sweep_tables_are_checked_point_by_point(tmp_path):
    with pytest.raises(InputError, match=r"\[sweep\]\.colour\.hue: expected a key \"section.key\""):
        experiment_from_dict(dict(SWEEP, sweep={"colour.hue": [1]}), base=str(tmp_path))
    with pytest.raises(InputError, match=r"\[sweep\]\.output\.folder: the output folder cannot be swept"):
        experiment_from_dict(dict(SWEEP, sweep={"output.folder": ["a", "b"]}), base=str(tmp_path))
    with pytest.raises(InputError, match=r"\[sweep\]\.time\.T: expected a non-empty list"):
        experiment_from_dict(dict(SWEEP, sweep={"time.T": 2.0}), base=str(tmp_path))
    with pytest.raises(InputError, match=r"\[sweep\] point 1 \(time\.t_min = 5\.0\): \[time\]\.t_min: must be < T"):
        experiment_from_dict(dict(SWEEP, sweep={"time.t_min": [0.01, 5.0]}), base=str(tmp_path))
    with pytest.raises(InputError, match=r"\[cluster\]\.scheduler: expected an address"):
        experiment_from_dict(dict(SWEEP, cluster={"scheduler": 8786}), base=str(tmp_path))
    # a TOML dotted key under [sweep] is a nested table: flattened to the same dotted key
    nested = experiment_from_dict(dict(SWEEP, sweep={"time": {"t_min": [0.01, 0.1]}}), base=str(tmp_path))
    assert nested.sweep == {"time.t_min": [0.01, 0.1]} and len(nested.points()) == 2


def sweep_results(path):
    config, rows, arrays = read_results(path)
    return rows, arrays


def test_serial_sweep_run_interrupt_and_resume(tmp_path, monkeypatch):
    """A sweep experiment run in this process, interrupted after 5 points and resumed, equals an uninterrupted run."""
    config = dict(SWEEP, sweep={"time.t_min": [0.01, 0.03, 0.1], "output.seed": [0, 1]})  # 6 points
    whole = run_experiment(experiment_from_dict(dict(config, output={"folder": "whole"}), base=str(tmp_path)),
                           progress=False)
    experiment = experiment_from_dict(dict(config, output={"folder": "split"}), base=str(tmp_path))
    monkeypatch.setenv(STOP_AFTER_ENV, "4")
    with pytest.raises(Interrupted):
        run_experiment(experiment, progress=False)
    monkeypatch.delenv(STOP_AFTER_ENV)
    assert len(os.listdir(tmp_path / "split" / "checkpoints")) == 4
    with pytest.raises(InputError, match="--resume"):
        run_experiment(experiment, progress=False)
    ran = []
    split = run_experiment(experiment, resume=True, progress=False, on_point=lambda k, error: ran.append(k))
    assert sorted(ran) == [4, 5] and not os.path.exists(tmp_path / "split" / "checkpoints")
    (rows_whole, arrays_whole), (rows_split, arrays_split) = sweep_results(whole), sweep_results(split)
    assert [row["point"] for row in rows_split] == list(range(6))
    for a, b in zip(rows_whole, rows_split):
        assert all(a[name] == b[name] for name in ("point", "time.t_min", "output.seed") + METRICS)
    for k in (1, 5):  # one point run before the interruption, one after
        np.testing.assert_array_equal(arrays_split["points"][k]["gamma"][0]["samples"],
                                      arrays_whole["points"][k]["gamma"][0]["samples"])
    with h5py.File(split, "r") as file:  # the coordinates as datasets, one value per point
        np.testing.assert_array_equal(file["sweep/time.t_min"][()], [0.01, 0.01, 0.03, 0.03, 0.1, 0.1])
        np.testing.assert_array_equal(file["sweep/output.seed"][()], [0, 1] * 3)


def test_killed_worker_loses_no_point_and_writes_none_twice(tmp_path):
    """Two worker processes; when the first point is recorded, the worker busiest with points is killed (SIGKILL):
    all 12 points end up in results.h5 exactly once, with the numbers of the serial sweep."""
    pytest.importorskip("distributed")
    experiment = experiment_from_dict(dict(SWEEP, output={"folder": "out"}), base=str(tmp_path))
    recorded, lost = [], []
    with fdd.connect(workers=2, processes=True) as client:
        pids = client.run(os.getpid)

        def kill_one(index, error):
            recorded.append(index)
            if len(recorded) == 1:
                address, keys = max(client.processing().items(), key=lambda item: len(item[1]))
                lost.extend(keys)
                os.kill(pids[address], signal.SIGKILL)

        path = run_experiment(experiment, progress=False, client=client, on_point=kill_one)
    assert lost  # the killed worker was running (or holding) points: they had to be run again elsewhere
    assert sorted(recorded) == list(range(12))  # each point recorded once
    rows, arrays = sweep_results(path)
    assert arrays["errors"] == [""] * 12
    assert [row["point"] for row in rows] == list(range(12))
    serial = fd.sweep(experiment, experiment.sweep)
    for row, expected in zip(rows, serial.rows):
        assert all(row[name] == expected[name] for name in METRICS)


# ------------------------------------------------------------------ sharded particles


@pytest.mark.parametrize("scheme", ["ei", "pc"])
def test_sharded_sampling_on_two_workers_equals_the_local_run_bit_for_bit(client, scheme):
    local = fd.sample_reverse(PROCESS, SCORE, 5001, 1.0, gamma=0.7, steps=30, scheme=scheme, seed=11,
                              save_at=[1.0, 0.5, 1e-3])
    sharded = fd.sample_reverse(PROCESS, SCORE, 5001, 1.0, gamma=0.7, steps=30, scheme=scheme, seed=11,
                                save_at=[1.0, 0.5, 1e-3], client=client, shards=4)
    np.testing.assert_array_equal(sharded.t, local.t)
    np.testing.assert_array_equal(sharded.snapshots, local.snapshots)
    assert sharded.diagnostics["shards"] == 4 and sharded.diagnostics["workers"] == 2
    assert sharded.diagnostics["particles"] == 5001


def test_sharded_sampling_from_given_points_and_the_python_score_path(client):
    """Given start points are split by rows; a score called from Python (the slow path) shards the same way."""
    y0 = np.random.default_rng(0).normal(size=(999, 1))
    score = fd.CallableScore(lambda x, t: SCORE(x, t), dim=1)
    local = fd.sample_reverse(PROCESS, score, y0, 1.0, steps=10, seed=2)
    sharded = fd.sample_reverse(PROCESS, score, y0, 1.0, steps=10, seed=2, client=client, shards=3)
    np.testing.assert_array_equal(sharded.samples, local.samples)


def test_sample_sharded_is_sample_reverse_with_a_client_required(client):
    local = fd.sample_reverse(PROCESS, SCORE, 301, 1.0, steps=5, seed=3)
    sharded = fdd.sample_sharded(PROCESS, SCORE, 301, client=client, shards=3, T=1.0, steps=5, seed=3)
    np.testing.assert_array_equal(sharded.snapshots, local.snapshots)
    assert sharded.diagnostics["shards"] == 3
    with pytest.raises(InputError, match="`client` must be a dask.distributed.Client.*got NoneType"):
        fdd.sample_sharded(PROCESS, SCORE, 10, client=None, T=1.0)


def test_first_particle_gives_the_rows_of_a_larger_run():
    whole = fd.sample_reverse(PROCESS, SCORE, 300, 1.0, steps=10, seed=4).samples
    part = fd.sample_reverse(PROCESS, SCORE, 100, 1.0, steps=10, seed=4, first_particle=150).samples
    np.testing.assert_array_equal(part, whole[150:250])
    with pytest.raises(InputError, match="`shards` splits a distributed run"):
        fd.sample_reverse(PROCESS, SCORE, 10, 1.0, shards=2)


def test_ensemble_summary_reduced_on_the_cluster_matches_the_gathered_samples(client, tmp_path):
    """Histogram counts (exact), moments (to round-off), the quantile sketch's W1 (within its rank bound) and the
    samples written shard by shard (exact) against the same ensemble gathered in one array."""
    n, k = 20000, 200
    samples = fd.sample_reverse(PROCESS, SCORE, n, 1.0, steps=20, seed=9).samples
    edges = np.linspace(-6.0, 6.0, 121)
    summary = fdd.sample_ensemble(PROCESS, SCORE, n, 1.0, steps=20, seed=9, client=client, shards=5,
                                  histogram=edges, quantiles=k, out=tmp_path / "samples.h5")
    expected, _ = np.histogram(samples, edges)
    np.testing.assert_array_equal(summary.histogram, expected)
    assert summary.outside == n - expected.sum() and summary.count == n
    np.testing.assert_allclose(summary.mean, samples.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(summary.covariance, np.cov(samples.T).reshape(1, 1), rtol=1e-10)
    reference = MIXTURE.evolve(PROCESS, 1e-3).sample(n, seed=1)
    exact = fd.metrics.w1(samples, reference)
    # the sketch's CDF is within 1/k of the samples' (EnsembleSummary.merge), so its W1 is within (range)/k of
    # theirs, plus the midpoint rule's own error on k levels, of the same size for both
    spread = samples.max() - samples.min()
    assert abs(summary.w1(reference)[0] - exact) < 2 * spread / k
    with h5py.File(tmp_path / "samples.h5", "r") as file:
        np.testing.assert_array_equal(file["samples"][()], samples)
        assert list(file.attrs["shard_bounds"]) == fdd.shard_bounds(n, 5)
    serial = fdd.sample_ensemble(PROCESS, SCORE, n, 1.0, steps=20, seed=9, shards=5, histogram=edges, quantiles=k)
    np.testing.assert_array_equal(serial.histogram, summary.histogram)
    np.testing.assert_array_equal(serial.quantiles, summary.quantiles)


# ------------------------------------------------------------------ errors


def test_bad_scheduler_address_fails_clearly_within_the_timeout():
    pytest.importorskip("distributed")
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:1' within 2 s"):
        with fdd.connect("tcp://127.0.0.1:1", timeout=2):
            pass
    assert time.perf_counter() - started < 30  # the 2 s timeout plus start-up: a hang would run into minutes


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(fdd.DistributedUnavailable, match=r"pip install fpdiff\[distributed\]"):
        fdd.connect().__enter__()
    with pytest.raises(ImportError, match=r"pip install fpdiff\[distributed\]"):
        fd.sample_reverse(PROCESS, SCORE, 10, 1.0, client=object())
    assert len(fdd.sweep(lambda a: {"b": a}, {"a": [1, 2]})) == 2  # no client: no Dask needed


def test_command_sweep_records_a_failed_point_and_resume_retries_only_it(tmp_path):
    """`fpdiff run` of a sweep in this process (--workers 0): a point whose score file is not a score file fails
    at run time with its error, the other point completes; exit status 1; --resume runs only the failed point."""
    from test_cli import fpdiff, toml

    (tmp_path / "bad.h5").write_bytes(b"not HDF5")
    config = {key: value for key, value in SWEEP.items() if key != "sweep"}
    config.update(score={"path": "bad.h5"}, sweep={"score.source": ["exact", "file"]}, output={"folder": "out"})
    path = tmp_path / "exp.toml"
    path.write_text(toml(config))
    first = fpdiff("run", str(path), "--workers", "0", "--quiet", cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert "point 1 failed" in first.stdout and "--resume" in first.stderr
    _, rows, arrays = read_results(tmp_path / "out" / "results.h5")
    assert arrays["errors"][0] == "" and "bad.h5" in arrays["errors"][1]
    assert [row["point"] for row in rows] == [0] and rows[0]["score.source"] == "exact"
    assert os.listdir(tmp_path / "out" / "checkpoints") == ["point-0.h5"]
    info = fpdiff("info", str(tmp_path / "out" / "results.h5"), cwd=tmp_path)
    assert info.returncode == 0 and "source" in info.stdout and "point 1 failed" in info.stdout
    ran = []
    from fpdiff.app.experiment import load_experiment

    run_experiment(load_experiment(path), resume=True, progress=False, on_point=lambda k, error: ran.append(k))
    assert ran == [1]
