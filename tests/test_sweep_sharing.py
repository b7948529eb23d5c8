"""What the points of a sweep share: density solves, scores, exact laws and the sorted reference samples."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff import distributed as fdd
from fpdiff import metrics
from fpdiff.app import runner
from fpdiff.app.experiment import experiment_from_dict
from fpdiff.app.files import read_results
from fpdiff.app.runner import run_experiment, run_point

#: a small experiment: both views, each point well under a second
CONFIG = {
    "process": {"kind": "OU"},
    "data": {"kind": "builtin", "name": "bimodal-1d"},
    "grid": {"bounds": [[-8.0, 8.0]], "cells": 80},
    "time": {"T": 1.0, "t_min": 0.01, "steps": 20, "particle_steps": 20},
    "reverse": {"start": "data", "gammas": [0.0, 1.0]},
    "views": {"density": True, "particles": 1500, "reference_samples": 2000},
}
PLANE = dict(CONFIG, data={"kind": "builtin", "name": "pair-2d"}, grid={"bounds": [[-5.0, 5.0]] * 2, "cells": 24},
             reverse={"start": "data", "gammas": [1.0]})
METRICS = ("gamma", "l1", "kl", "w1", "tv", "tv_floor")  # everything but the wall times


@pytest.fixture
def counted(monkeypatch):
    """Counts of the density solves, the scores made and the references projected while a test runs."""
    counts = {"solves": 0, "scores": 0, "references": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(runner, "solve_reverse", counting("solves", runner.solve_reverse))
    monkeypatch.setattr(runner, "make_score", counting("scores", runner.make_score))
    monkeypatch.setattr(metrics, "SlicedReference", counting("references", metrics.SlicedReference))
    return counts


def alone(config, axes):
    """The metric rows of every point of the sweep, each point run by itself (nothing shared)."""
    rows = []
    for experiment in experiment_from_dict(config).with_sweep(axes):
        rows += run_point(experiment)[0]
    return rows


def assert_same_metrics(table_rows, rows):
    assert len(table_rows) == len(rows)
    for shared, own in zip(table_rows, rows):
        assert all(shared[name] == own[name] for name in METRICS), (shared, own)


def test_points_that_differ_in_particle_keys_share_solves_score_and_reference(counted):
    axes = {"time.particle_steps": [10, 20, 40], "views.scheme": ["ei", "em"]}
    table = fd.sweep(CONFIG, axes)
    # 6 points x 2 gammas: one solve per gamma, one score, one reference (same law, number and seed)
    assert counted == {"solves": 2, "scores": 1, "references": 1}
    assert len(table) == 12 and not table.failed
    assert np.unique(table.column("l1")).size == 2 and np.unique(table.column("w1")).size == 12
    assert runner._SHARED == {}  # released with the sweep
    counted.update(solves=0, scores=0, references=0)
    assert_same_metrics(table.rows, alone(CONFIG, axes))
    assert counted == {"solves": 12, "scores": 6, "references": 6}


def test_what_the_solve_reads_is_never_shared(counted):
    """Grid, steps, t_min, the start and the seed of an empirical score's training points each give new solves."""
    for axes, solves in [({"grid.cells": [60, 80]}, 4), ({"time.steps": [10, 20]}, 4), ({"time.t_min": [0.01, 0.1]}, 4),
                         ({"reverse.start": ["data", "prior"]}, 4), ({"output.seed": [0, 1]}, 2)]:
        counted.update(solves=0)
        table = fd.sweep(CONFIG, axes)
        assert counted["solves"] == solves, axes
        assert_same_metrics(table.rows, alone(CONFIG, axes))
    empirical = dict(CONFIG, score={"source": "empirical", "n_train": 50}, reverse={"start": "data", "gammas": [1.0]})
    counted.update(solves=0)
    table = fd.sweep(empirical, {"output.seed": [0, 1]})  # the seed draws the training points: two scores
    assert counted["solves"] == 2 and table.rows[0]["l1"] != table.rows[1]["l1"]


def test_a_two_dimensional_sweep_shares_the_sorted_projections(counted):
    axes = {"time.particle_steps": [10, 20], "views.particles": [2000, 1500]}  # equal and unequal to the reference
    table = fd.sweep(PLANE, axes)
    assert counted["references"] == 1 and counted["solves"] == 1
    assert_same_metrics(table.rows, alone(PLANE, axes))
    counted.update(references=0)
    fd.sweep(PLANE, {"output.seed": [0, 1]})  # the seed draws the reference and its directions: two
    assert counted["references"] == 2


def test_a_sweep_on_dask_workers_equals_the_serial_sweep():
    pytest.importorskip("distributed")
    axes = {"time.particle_steps": [10, 20, 40], "reverse.gamma": [0.0, 1.0]}
    serial = fd.sweep(CONFIG, axes)
    with fdd.connect(workers=2, processes=False) as client:
        parallel = fd.sweep(CONFIG, axes, client=client)
    assert_same_metrics(parallel.rows, serial.rows)
    assert runner._SHARED == {}


def test_a_sweep_file_shares_solves_and_records_what_each_point_alone_gives(tmp_path, counted):
    config = dict(CONFIG, sweep={"time.particle_steps": [10, 20]}, output={"folder": str(tmp_path / "out")})
    _, rows, _ = read_results(run_experiment(experiment_from_dict(config), progress=False))
    assert counted["solves"] == 2  # two gammas; the second point's are shared
    assert_same_metrics(rows, alone(CONFIG, {"time.particle_steps": [10, 20]}))
