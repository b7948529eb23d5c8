"""The ``fpdiff`` command and experiment files: validation, runs, resume, info."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from fpdiff.errors import InputError
from fpdiff.app.experiment import experiment_from_dict, load_experiment
from fpdiff.app.files import read_results
from fpdiff.app.runner import STOP_AFTER_ENV

SMALL = {
    "process": {"kind": "OU"},
    "data": {"kind": "builtin", "name": "bimodal-1d"},
    "grid": {"bounds": [[-8.0, 8.0]], "cells": 200},
    "time": {"T": 1.0, "t_min": 0.01, "steps": 40, "particle_steps": 100},
    "reverse": {"gammas": [0.0, 1.0], "start": "data"},
    "views": {"density": True, "particles": 20000},
}


def toml(config):
    """A minimal TOML writer for the nested dicts of these tests."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)
    return "\n".join(f"[{name}]\n" + "\n".join(f"{k} = {value(v)}" for k, v in section.items())
                     for name, section in config.items()) + "\n"


def fpdiff(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "fpdiff", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})}, timeout=600)


def with_change(section, **values):
    config = {name: dict(content) for name, content in SMALL.items()}
    config.setdefault(section, {}).update(values)
    return config


INVALID = [
    (dict(SMALL, colour={}), r"\[colour\]: unknown section"),
    (with_change("grid", spacing=0.1), r"\[grid\]\.spacing: unknown key"),
    ({**SMALL, "process": {}}, r"\[process\]\.kind: missing"),
    (with_change("process", kind="CIR"), r"\[process\]\.kind: must be one of"),
    (with_change("process", sigma_max=3.0), r"\[process\]\.sigma_max: not a parameter of OU"),
    (with_change("process", sigma=-1.0), r"\[process\]\.sigma: must be > 0"),
    (with_change("process", beta="fast"), r"\[process\]\.beta: expected a number"),
    (with_change("data", kind="images"), r"\[data\]\.kind: must be"),
    ({**SMALL, "data": {"kind": "mixture", "weights": [1.0], "covariances": [1.0]}}, r"\[data\]\.means: missing"),
    ({**SMALL, "data": {"kind": "mixture", "weights": [-1.0], "means": [[0.0]], "covariances": [1.0]}},
     r"\[data\]: not a valid mixture"),
    (with_change("data", name="swiss-roll"), r"\[data\]\.name: must be one of"),
    ({**SMALL, "data": {"kind": "points", "path": "nowhere.npy"}}, r"\[data\].path: cannot read points"),
    (with_change("grid", bounds=[[-8.0, 8.0], [0.0, 1.0]]), r"\[grid\]\.bounds: expected 1 pair"),
    (with_change("grid", bounds=[[8.0, -8.0]]), r"\[grid\]\.bounds\.0: needs lo < hi"),
    (with_change("grid", cells=1), r"\[grid\]\.cells\.0: needs at least 2"),
    (with_change("grid", cells=2.5), r"\[grid\]\.cells\.0: expected an integer"),
    (with_change("time", T=-1.0), r"\[time\]\.T: must be > 0"),
    (with_change("time", t_min=2.0), r"\[time\]\.t_min: must be < T"),
    (with_change("time", steps=0), r"\[time\]\.steps: must be > 0"),
    (with_change("reverse", gammas=[]), r"\[reverse\]\.gammas: expected a non-empty list"),
    (with_change("reverse", gammas=[1.0, -0.5]), r"\[reverse\]\.gammas\.1: must be >= 0"),
    (with_change("reverse", start="noise"), r"\[reverse\]\.start: must be"),
    (with_change("score", source="network"), r"\[score\]\.source: must be one of"),
    (with_change("score", source="file"), r"\[score\]\.path: the path of a score file is needed"),
    (with_change("score", source="file", path="missing.h5"), r"\[score\]\.path: no such file"),
    (with_change("views", particles=-5), r"\[views\]\.particles: must be >= 0"),
    (with_change("views", scheme="rk4"), r"\[views\]\.scheme: must be one of"),
    (with_change("views", density=False, particles=0), r"\[views\]: nothing to run"),
    (with_change("views", density="yes"), r"\[views\]\.density: expected true or false"),
    (with_change("output", folder=""), r"\[output\]\.folder: expected a folder name"),
    (with_change("output", seed=-1), r"\[output\]\.seed: must be >= 0"),
]


@pytest.mark.parametrize("config, message", INVALID)
def test_invalid_experiments_name_the_key(tmp_path, config, message):
    with pytest.raises(InputError, match=message):
        experiment_from_dict(config, base=str(tmp_path))


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_experiment(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[process\nkind = 'OU'")
    with pytest.raises(InputError, match="not valid TOML"):
        load_experiment(bad)


def test_command_reports_validation_errors_in_one_line(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(toml(with_change("time", t_min=5.0)))
    result = fpdiff("run", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["fpdiff: error: [time].t_min: must be < T = 1.0; got 5.0"]


def results_arrays(path):
    with h5py.File(path, "r") as file:
        return {name: file[f"gamma/{i}/{name}"][()] for i in range(2) for name in ("density", "samples")}, \
            {c: file["table"][c][()] for c in ("l1", "kl", "w1", "tv", "tv_floor")}


def test_run_and_resume_give_the_same_results(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(toml(with_change("output", folder="whole")))
    whole = fpdiff("run", str(path), "--quiet", "--no-figures", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr

    path.write_text(toml(with_change("output", folder="split")))
    interrupted = fpdiff("run", str(path), "--quiet", cwd=tmp_path, env={STOP_AFTER_ENV: "3"})
    assert interrupted.returncode == 130 and "--resume" in interrupted.stderr
    assert sorted(os.listdir(tmp_path / "split" / "checkpoints")) == ["density-0.h5", "density-1.h5",
                                                                    "particles-0.h5"]
    refused = fpdiff("run", str(path), "--quiet", cwd=tmp_path)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = fpdiff("run", str(path), "--quiet", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not os.path.exists(tmp_path / "split" / "checkpoints")

    arrays_whole, table_whole = results_arrays(tmp_path / "whole" / "results.h5")
    arrays_split, table_split = results_arrays(tmp_path / "split" / "results.h5")
    for name in arrays_whole:
        np.testing.assert_array_equal(arrays_split[name], arrays_whole[name])
    for name in table_whole:
        np.testing.assert_array_equal(table_split[name], table_whole[name])
    assert os.path.isfile(tmp_path / "split" / "reverse.png")

    config, rows, _ = read_results(tmp_path / "whole" / "results.h5")
    assert config["reverse"]["gammas"] == [0.0, 1.0]
    for row in rows:  # plausibility: both views recover p(t_min), and agree within the histogram's floor
        assert row["l1"] < 0.02 and row["w1"] < 0.04  # W1 Monte-Carlo error of 2e4 samples: ~1e-2
        assert row["tv"] < 3 * row["tv_floor"]

    info = fpdiff("info", str(tmp_path / "whole" / "results.h5"), cwd=tmp_path)
    assert info.returncode == 0 and "fpdiff results" in info.stdout and "bimodal-1d" in info.stdout


def test_resume_refuses_checkpoints_of_another_experiment(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(toml(with_change("output", folder="out")))
    assert fpdiff("run", str(path), "--quiet", cwd=tmp_path, env={STOP_AFTER_ENV: "1"}).returncode == 130
    path.write_text(toml(with_change("output", folder="out", seed=7)))
    result = fpdiff("run", str(path), "--quiet", "--resume", cwd=tmp_path)
    assert result.returncode == 2 and "different experiment" in result.stderr


def test_info_lists_builtins_and_rejects_other_files(tmp_path):
    result = fpdiff("info", "--builtins", cwd=tmp_path)
    assert result.returncode == 0 and "bimodal-1d" in result.stdout and "ring-2d" in result.stdout
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file["x"] = 1.0
    result = fpdiff("info", str(other), cwd=tmp_path)
    assert result.returncode == 2 and "neither an fpdiff score file nor a results file" in result.stderr
