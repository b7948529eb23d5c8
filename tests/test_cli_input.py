"""Bad input and interruptions end in one line, never a traceback; the experiment file's newer keys.

Each case here once ended in a traceback (issue 16, items 8, 9, 11 and 13):
huge integers, undecodable or folder paths, runs too large for the memory,
sweeps too large to check, Ctrl-C during the imports, a closed pipe; and the
keys an experiment file could not set.
"""

import importlib.abc
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import fpdiff
import fpdiff_launcher
from fpdiff.app import cli, experiment as experiment_module, runner
from fpdiff.errors import InputError
from fpdiff.app.experiment import MAX_SWEEP_POINTS, experiment_from_dict

from test_cli import SMALL, fpdiff as run_fpdiff, toml, with_change


def one_line_error(result, *fragments):
    """``result`` (a finished ``fpdiff``) failed with exit status 2 and one line naming ``fragments``."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("fpdiff: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ---------------------------------------------------------------- the command


def test_version(tmp_path):
    result = run_fpdiff("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"fpdiff {fpdiff.__version__}"


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`fpdiff info ... | head`: the reader is gone before fpdiff writes; no BrokenPipeError traceback."""
    process = subprocess.Popen([sys.executable, "-m", "fpdiff", "info", "--builtins"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": os.getcwd()})
    process.stdout.close()  # before the child has imported fpdiff, so every write meets a closed pipe
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 1 and stderr == b""


def test_a_closed_pipe_in_process(monkeypatch, capsys):
    read_end, write_end = os.pipe()

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return write_end

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    try:
        assert cli.main(["info", "--builtins"]) == 1
    finally:
        os.close(read_end)
        os.close(write_end)
    assert capsys.readouterr().err == ""


class InterruptingImport(importlib.abc.MetaPathFinder):
    """Ctrl-C while ``fpdiff.app.cli`` is being imported."""

    def find_spec(self, name, path=None, target=None):
        if name == "fpdiff.app.cli":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_during_the_imports_is_one_line(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "fpdiff.app.cli")
    monkeypatch.setattr(sys, "meta_path", [InterruptingImport(), *sys.meta_path])
    assert fpdiff_launcher.main() == 130
    assert capsys.readouterr().err == "fpdiff: interrupted\n"


def test_ctrl_c_before_a_command_runs_is_one_line(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["info", "--builtins"]) == 130
    assert capsys.readouterr().err == "fpdiff: interrupted\n"


def test_the_console_script_goes_through_the_launcher():
    """setup.cfg's entry point is the launcher, which catches Ctrl-C during ``import fpdiff``."""
    setup = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.cfg")).read()
    assert "fpdiff = fpdiff_launcher:main" in setup and "py_modules = fpdiff_launcher" in setup


@pytest.mark.parametrize("attribute, value, fragment", [
    ("process", np.bytes_(b'{"kind": "OU", "beta": 1' + b"0" * 400 + b"}"), "attribute 'process': not the JSON"),
    ("format", np.bytes_(b"fpdiff.score-field\xff"), "neither an fpdiff score file nor a results file"),
], ids=["400-digit number in the process", "non-UTF-8 format"])
def test_info_on_a_damaged_score_file_is_one_line(tmp_path, attribute, value, fragment):
    path = tmp_path / "score.h5"
    fpdiff.save_score(path, fpdiff.OU(), [0.5, 1.0], np.zeros((2, 3, 1)), axes=[[-1.0, 0.0, 1.0]])
    with h5py.File(path, "a") as file:
        file.attrs[attribute] = value
    one_line_error(run_fpdiff("info", str(path), cwd=tmp_path), fragment)


# ---------------------------------------------------------------- experiment files


def test_the_package_claims_the_python_it_is_tested_on():
    """setup.cfg's python_requires is the oldest Python the package runs on: CI runs the tests on it.

    Python 3.10 (end of life in October 2026) has no ``tomllib``; the package needs 3.11 and says so.
    """
    import configparser

    config = configparser.ConfigParser()
    config.read(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.cfg"))
    assert config["options"]["python_requires"] == ">=3.11"
    assert sys.version_info >= (3, 11)


def test_a_folder_or_undecodable_file_is_one_line(tmp_path):
    (tmp_path / "folder.toml").mkdir()
    one_line_error(run_fpdiff("run", str(tmp_path / "folder.toml"), cwd=tmp_path), "is a folder")
    (tmp_path / "latin1.toml").write_bytes(toml(SMALL).encode() + b"# caf\xe9\n")
    one_line_error(run_fpdiff("run", str(tmp_path / "latin1.toml"), cwd=tmp_path), "is not UTF-8 text",
                   "b'\\xe9'")


@pytest.mark.parametrize("section, key, value, where", [
    ("grid", "cells", 2**64, "[grid].cells"),
    ("output", "seed", 2**64, "[output].seed"),
    ("process", "beta", 10**400, "[process].beta"),
    ("views", "particles", -(2**70), "[views].particles"),
], ids=["cells 2^64", "seed 2^64", "beta 10^400", "particles -2^70"])
def test_integers_beyond_64_bits_are_refused(tmp_path, section, key, value, where):
    with pytest.raises(InputError, match=r"too large \(at most 2\^63 - 1") as error:
        experiment_from_dict(with_change(section, **{key: value}), base=str(tmp_path))
    assert str(error.value).startswith(where)


def test_an_integer_beyond_64_bits_in_a_file_is_one_line(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(toml(SMALL) + "[output]\nseed = 18446744073709551616\n")
    one_line_error(run_fpdiff("run", str(path), cwd=tmp_path), "[output].seed: an integer of 20 digits is too large")


def test_an_integer_beyond_64_bits_in_a_sweep(tmp_path):
    config = {**SMALL, "sweep": {"output.seed": [0, 2**64]}}
    with pytest.raises(InputError, match=r"^\[sweep\]\.output\.seed\.1: an integer of 20 digits"):
        experiment_from_dict(config, base=str(tmp_path))


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(InputError, match=r"\[output\]\.folder: .*taken' exists and is not a folder"):
        experiment_from_dict(with_change("output", folder="taken"), base=str(tmp_path))


@pytest.mark.parametrize("change, key", [
    (dict(section="grid", bounds=[[-8.0, 8.0]], cells=2**40), r"\[grid\]\.cells"),
    (dict(section="views", particles=10**13), r"\[views\]\.particles"),
])
def test_runs_larger_than_the_memory_are_refused_up_front(tmp_path, change, key):
    section = change.pop("section")
    with pytest.raises(InputError, match=rf"^{key}: the run needs about .* of memory .* and this machine has "):
        experiment_from_dict(with_change(section, **change), base=str(tmp_path))


def test_the_memory_estimate_and_message(tmp_path, monkeypatch):
    monkeypatch.setattr(experiment_module, "available_memory", lambda: (2**29, "available"))
    config = {**with_change("grid", bounds=[[-8.0, 8.0], [-8.0, 8.0]], cells=1000),
              "data": {"kind": "builtin", "name": "ring-2d"}}
    # 1e6 cells: 640 B each for the solver, 8 B per gamma kept and 16 B for the exact law and the histogram
    assert experiment_module.memory_estimate([1000, 1000], 2, True, "exact", 0, 10**5) == 10**6 * (640 + 16 + 16)
    # and 2e4 particles (1e5 reference samples) in 2-D: 80 B per coordinate, 8 B per coordinate and gamma kept, and
    # the reference's sorted projections on 128 directions
    needed = 10**6 * (640 + 16 + 16) + 10**5 * 2 * 80 + 8 * 20_000 * 2 * 2 + 8 * 10**5 * 128
    assert experiment_module.memory_estimate([1000, 1000], 2, True, "exact", 20_000, 10**5) == needed
    with pytest.raises(InputError, match=r"^\[grid\]\.cells: the run needs about 754 MiB of memory \(1e\+06 grid "
                                         r"cells, 2e\+04 particles in 2-D\) and this machine has 512 MiB available"):
        experiment_from_dict(config, base=str(tmp_path))
    monkeypatch.setattr(experiment_module, "available_memory", lambda: (2**30, "available"))
    assert experiment_from_dict(config, base=str(tmp_path)).grid.shape == (1000, 1000)


def test_without_psutil_the_physical_memory_bounds_a_run(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` raises ImportError
    available, what = experiment_module.available_memory()
    assert what == "of physical memory" and available == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_the_memory_check_is_one_line(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(toml(with_change("views", particles=10**13)))
    one_line_error(run_fpdiff("run", str(path), cwd=tmp_path), "[views].particles: the run needs about")


# ---------------------------------------------------------------- sweeps


def test_a_sweep_too_large_is_refused_at_once(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(experiment_module, "Grid", lambda *args: calls.append(args))
    config = {**SMALL, "sweep": {"output.seed": list(range(1000)), "reverse.gamma": [0.1 * i for i in range(1000)]}}
    with pytest.raises(InputError, match=rf"^\[sweep\]: 1000 x 1000 = 1000000 points, more than the "
                                         rf"{MAX_SWEEP_POINTS} a sweep may have"):
        experiment_from_dict(config, base=str(tmp_path))
    assert calls == []  # refused before any point was built


def test_a_sweep_is_checked_in_time_linear_in_its_axes(tmp_path, monkeypatch):
    checked = []
    original = experiment_module.experiment_from_dict

    def counting(config, *args, **kwargs):
        checked.append(config)
        return original(config, *args, **kwargs)

    monkeypatch.setattr(experiment_module, "experiment_from_dict", counting)
    config = {**SMALL, "sweep": {"output.seed": list(range(30)), "reverse.gamma": [0.0, 0.5, 1.0, 2.0]}}
    experiment = experiment_module.experiment_from_dict(config, base=str(tmp_path))
    assert len(checked) == 1 + 30 + 4  # the file, then each value of each axis once (not 120 points, twice)
    checked.clear()
    points = experiment.points()  # the product, built once, when the sweep runs
    assert len(points) == 120 and len(checked) == 120
    assert points[-1][1].seed == 29 and points[-1][1].gammas == (2.0,)


def test_a_bad_sweep_value_names_its_point(tmp_path):
    """The value checked alone is the point with the other axes at their first values: named as such."""
    config = {**SMALL, "sweep": {"output.seed": [0, 1, 2], "time.t_min": [0.01, 0.1, 5.0], "reverse.gamma": [0, 1]}}
    with pytest.raises(InputError, match=r"^\[sweep\] point 4 \(output\.seed = 0, time\.t_min = 5\.0, reverse\.gamma "
                                         r"= 0\): \[time\]\.t_min: must be < T = 1\.0; got 5\.0"):
        experiment_from_dict(config, base=str(tmp_path))
    valid = dict(config, sweep={**config["sweep"], "time.t_min": [0.01, 0.1, 0.2]})  # point 4 is the same point
    assert experiment_from_dict(valid, base=str(tmp_path)).points()[4][0] == {"output.seed": 0, "time.t_min": 0.2,
                                                                               "reverse.gamma": 0}


def test_swept_values_are_checked_with_the_other_axes_first_values(tmp_path):
    """T = 1 in the file, t_min = 1.5 swept with T in {2, 3}: valid at every point, so accepted."""
    config = {**SMALL, "sweep": {"time.T": [2.0, 3.0], "time.t_min": [1.5]}}
    experiment = experiment_from_dict(config, base=str(tmp_path))
    assert [point.T for _, point in experiment.points()] == [2.0, 3.0]


# ---------------------------------------------------------------- the keys of item 13


def test_an_integer_cell_count_means_every_axis(tmp_path):
    config = {**with_change("grid", bounds=[[-4.0, 4.0], [-5.0, 5.0]], cells=64),
              "data": {"kind": "builtin", "name": "ring-2d"}}
    assert experiment_from_dict(config, base=str(tmp_path)).grid.shape == (64, 64)


NEW_KEYS = {("time", "time_grid"): ("log-snr", "karras"), ("time", "particle_time_grid"): ("log-snr", "uniform"),
            ("views", "method"): (None, "ssprk3"), ("views", "comoving"): (False, 2.0),
            ("views", "reference_samples"): (100_000, 5000)}


def test_the_new_keys_have_defaults_and_enter_the_fingerprint(tmp_path):
    base = experiment_from_dict(SMALL, base=str(tmp_path))
    assert (base.time_grid, base.particle_time_grid, base.method, base.comoving, base.reference_samples) == \
        tuple(default for default, _ in NEW_KEYS.values())
    assert base.reference_samples == experiment_module.REFERENCE_SAMPLES
    fingerprints = {base.fingerprint}
    for (section, key), (_, value) in NEW_KEYS.items():
        changed = experiment_from_dict(with_change(section, **{key: value}), base=str(tmp_path))
        assert getattr(changed, key) == value
        fingerprints.add(changed.fingerprint)
    assert len(fingerprints) == 1 + len(NEW_KEYS)


@pytest.mark.parametrize("section, key, value, message", [
    ("time", "time_grid", "linear", r"\[time\]\.time_grid: must be one of 'uniform', 'geometric', 'log-snr', 'karras'"),
    ("time", "particle_time_grid", 3, r"\[time\]\.particle_time_grid: must be one of"),
    ("views", "method", "rk4", r"\[views\]\.method: must be one of .*'trbdf2'"),
    ("views", "method", "be", r"\[views\]\.method: 'be' is implicit, and gamma = 0 .* explicit method \('ffsl' or "
                              r"'ssprk3'\)"),
    ("views", "method", "ffsl", r"\[views\]\.method: 'ffsl' solves pure transport \(gamma = 0\) only; the gammas "
                                r"are \[0\.0, "),
    ("views", "comoving", -1.0, r"\[views\]\.comoving: must be > 0"),
    ("views", "comoving", "yes", r"\[views\]\.comoving: expected a number"),
    ("views", "reference_samples", 0, r"\[views\]\.reference_samples: must be > 0"),
    ("views", "reference_samples", 1.5, r"\[views\]\.reference_samples: expected an integer"),
])
def test_the_new_keys_are_checked(tmp_path, section, key, value, message):
    with pytest.raises(InputError, match=message):
        experiment_from_dict(with_change(section, **{key: value}), base=str(tmp_path))


def test_the_new_keys_reach_the_solvers(tmp_path, monkeypatch):
    calls = {}

    def fake_solve(process, grid, score, **options):
        calls["density"] = dict(options, grid=grid)
        return type("Solution", (), {"final": np.zeros(grid.shape), "grid": grid,
                                     "diagnostics": {"start_mass": 1.0, "boundary_outflow": 0.0}})()

    def fake_sample(process, score, initial, **options):
        calls["particles"] = options
        return type("Solution", (), {"samples": np.zeros((10, 1))})()

    monkeypatch.setattr(runner, "solve_reverse", fake_solve)
    monkeypatch.setattr(runner, "sample_reverse", fake_sample)
    config = json.loads(json.dumps(SMALL))
    config["time"].update(time_grid="geometric", particle_time_grid="karras")
    config["views"].update(method="be", comoving=2.0, particles=10)
    config["reverse"]["gammas"] = [0.5]
    experiment = experiment_from_dict(config, base=str(tmp_path))
    score = runner.make_score(experiment)
    runner.run_task(experiment, "density-0", score)
    runner.run_task(experiment, "particles-0", score)
    density, particles = calls["density"], calls["particles"]
    assert (density["method"], density["time_grid"], density["comoving"]) == ("be", "geometric", 2.0)
    assert particles["time_grid"] == "karras"
    # co-moving: the solver's grid is [grid] at t = 0, scaled by 1/c(t_min), so that the result lands on [grid]
    process, t_min = experiment.process, experiment.t_min
    scale = np.sqrt(process.alpha(t_min) ** 2 + process.variance(t_min) / 2.0**2)
    assert np.isclose(density["grid"].bounds[0][1] * scale, experiment.grid.bounds[0][1], rtol=1e-12)


def test_comoving_and_reference_samples_in_a_run(tmp_path, monkeypatch):
    """A co-moving density lands on [grid] and matches the fixed grid's; the reference sample size is used."""
    config = json.loads(json.dumps(SMALL))
    config["views"].update(particles=2000, reference_samples=3000)
    config["reverse"]["gammas"] = [1.0]
    fixed = experiment_from_dict(config, base=str(tmp_path))
    config["views"]["comoving"] = 2.0  # data scale 2: the grid shrinks to 0.59 of [grid] at T
    moving = experiment_from_dict(config, base=str(tmp_path))
    rows_fixed, arrays_fixed = runner.run_point(fixed)
    rows_moving, arrays_moving = runner.run_point(moving)
    assert rows_moving[0]["l1"] < 0.02 and rows_fixed[0]["l1"] < 0.02
    assert np.abs(arrays_moving["gamma/0/density"] - arrays_fixed["gamma/0/density"]).max() < 0.05
    sizes = []
    original = runner.reference_law

    def recording(experiment):
        law = original(experiment)
        sample = law.sample
        law.sample = lambda n, seed: sizes.append(n) or sample(n, seed=seed)
        return law

    monkeypatch.setattr(runner, "reference_law", recording)
    runner.run_point(fixed)
    assert sizes == [3000]


def test_comoving_with_a_grid_score_is_refused_when_read(tmp_path):
    # the GridScore lives on [grid]; the co-moving grid at T is wider: the run failed with a DomainError mid-way
    config = {"process": {"kind": "VE", "sigma_max": 10.0}, "data": {"kind": "builtin", "name": "bimodal-1d"},
              "grid": {"bounds": [[-6.0, 6.0]], "cells": 40}, "time": {"T": 1.0}, "score": {"source": "grid"},
              "views": {"comoving": True}}
    with pytest.raises(InputError, match=r"\[views\]\.comoving: cannot follow the spread with \[score\] source"):
        experiment_from_dict(config, base=str(tmp_path))
