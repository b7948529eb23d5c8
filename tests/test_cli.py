"""The ``fpdiff`` command and experiment files: validation, runs, resume, info."""

import hashlib
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import fpdiff as fd
from fpdiff.errors import InputError
from fpdiff.app.experiment import experiment_from_dict, load_experiment
from fpdiff.app.files import read_results
from fpdiff.app.runner import STOP_AFTER_ENV, run_experiment

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
    (with_change("process", kind=3), r"\[process\]\.kind: must be one of .*Cosine.*got 3"),
    (with_change("process", kind="cosine", beta=1.0), r"\[process\]\.beta: not a parameter of Cosine; its "
                                                     r"parameters: s"),
    (with_change("process", kind="cosine", rho=7.0), r"\[process\]\.rho: unknown key"),
    (with_change("process", kind="Cosine", s=-0.1), r"\[process\]\.s: must be > 0"),
    (with_change("process", kind="edm", sigma_min=5.0, sigma_max=1.0), r"\[process\]\.sigma_max: `sigma_max` must "
                                                                       r"exceed `sigma_min`"),
    (with_change("process", kind="EDM", sigma_data=0), r"\[process\]\.sigma_data: must be > 0"),
    (with_change("process", kind="scaled-linear", n=2.5), r"\[process\]\.n: expected an integer"),
    (with_change("process", kind="linear_discrete", n=1), r"\[process\]\.n: .*`n` must be >= 2"),
    (with_change("process", kind="LinearDiscrete", beta_start=0.5, beta_end=0.1),
     r"\[process\]\.beta_start: the betas must satisfy 0 < beta_start <= beta_end < 1"),
    (with_change("process", kind="ScaledLinear", beta_end=1.5), r"\[process\]\.beta_end: the betas must satisfy"),
    (with_change("process", kind="discrete"), r"\[process\]\.alphas_cumprod: a Discrete process is a table: give "
                                              r"exactly one of alphas_cumprod"),
    (with_change("process", kind="discrete", alphas_cumprod=[0.9, 0.5], diffusers_config="s.json"),
     r"\[process\]\.alphas_cumprod: a Discrete process is a table"),
    (with_change("process", kind="discrete", alphas_cumprod=[0.5, 0.9]),
     r"\[process\]\.alphas_cumprod: `alphas_cumprod` must be strictly decreasing in \(0, 1\)"),
    (with_change("process", kind="discrete", alphas_cumprod=[0.9, 0.5, 1.5]),
     r"\[process\]\.alphas_cumprod: `alphas_cumprod` must be strictly decreasing in \(0, 1\)"),
    (with_change("process", kind="discrete", alphas_cumprod=[0.9, "x"]), r"\[process\]\.alphas_cumprod\.1: expected "
                                                                        r"a number; got 'x'"),
    (with_change("process", kind="discrete", alphas_cumprod=[0.9, 0.0]), r"\[process\]\.alphas_cumprod\.1: must be "
                                                                          r"> 0"),
    (with_change("process", kind="discrete", alphas_cumprod=0.5), r"\[process\]\.alphas_cumprod: expected a list"),
    (with_change("process", kind="discrete", diffusers_config=5), r"\[process\]\.diffusers_config: expected the "
                                                                  r"path"),
    (with_change("process", kind="discrete", diffusers_config="none.json"),
     r"\[process\]\.diffusers_config: no such file: .*none\.json"),
    (with_change("process", alphas_cumprod=[0.9, 0.5]), r"\[process\]\.alphas_cumprod: not a parameter of OU"),
    (with_change("process", kind="VP", s=0.008), r"\[process\]\.s: not a parameter of VP"),
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


# ------------------------------------------------------------------ [process]: every schedule


@pytest.mark.parametrize("spelling, expected", [
    ({"kind": "cosine"}, fd.Cosine()), ({"kind": "COSINE", "s": 0.01}, fd.Cosine(s=0.01)),
    ({"kind": "edm", "sigma_max": 10.0}, fd.EDM(sigma_max=10.0)),
    ({"kind": "scaled-linear", "n": 500}, fd.ScaledLinear(n=500)), ({"kind": "scaled_linear"}, fd.ScaledLinear()),
    ({"kind": "ScaledLinear", "beta_start": 0.001, "beta_end": 0.01, "n": 100}, fd.ScaledLinear(0.001, 0.01, 100)),
    ({"kind": "linear-discrete", "beta_end": 0.03}, fd.LinearDiscrete(beta_end=0.03)),
    ({"kind": "Discrete", "alphas_cumprod": [0.99, 0.9, 0.5, 0.1]}, fd.Discrete([0.99, 0.9, 0.5, 0.1])),
    ({"kind": "vp", "beta_max": 10}, fd.VP(beta_max=10.0)), ({"kind": "brownian"}, fd.Brownian()),
    ({"kind": "ou", "beta": 2.0, "sigma": 1.0}, fd.OU(beta=2.0, sigma=1.0)), ({"kind": "Ve"}, fd.VE()),
], ids=lambda value: str(value.get("kind")) if isinstance(value, dict) else "")
def test_every_process_kind_and_spelling(tmp_path, spelling, expected):
    config = {**SMALL, "process": spelling, "time": {"T": 0.9, "t_min": 0.01}}
    assert experiment_from_dict(config, base=str(tmp_path)).process == expected


SCHEDULER_CONFIGS = {  # diffusers' scheduler_config.json (as a DDPMScheduler writes it) -> the fpdiff process
    "linear": ({"_class_name": "DDPMScheduler", "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
                "num_train_timesteps": 1000, "prediction_type": "epsilon"}, fd.LinearDiscrete(0.0001, 0.02, 1000)),
    "scaled_linear": ({"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
                       "num_train_timesteps": 1000}, fd.ScaledLinear(0.00085, 0.012, 1000)),
}


@pytest.mark.parametrize("name", list(SCHEDULER_CONFIGS))
def test_a_diffusers_config_is_read_relative_to_the_experiment_file(tmp_path, name):
    scheduler, expected = SCHEDULER_CONFIGS[name]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "scheduler_config.json").write_text(json.dumps(scheduler))
    path = tmp_path / "exp.toml"
    path.write_text(toml({**SMALL, "process": {"kind": "discrete", "diffusers_config": "models/scheduler_config.json"},
                          "time": {"T": 0.9, "t_min": 0.01}}))
    assert load_experiment(path).process == expected


def test_a_diffusers_cosine_config_is_its_capped_table(tmp_path):
    """squaredcos_cap_v2 gives diffusers' own table (betas of the cosine alphabar, capped at 0.999)."""
    diffusers = pytest.importorskip("diffusers")
    (tmp_path / "scheduler_config.json").write_text(json.dumps({"beta_schedule": "squaredcos_cap_v2",
                                                                "num_train_timesteps": 1000}))
    config = {**SMALL, "process": {"kind": "Discrete", "diffusers_config": "scheduler_config.json"},
              "time": {"T": 0.9, "t_min": 0.01}}
    process = experiment_from_dict(config, base=str(tmp_path)).process
    reference = diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2", num_train_timesteps=1000)
    # diffusers multiplies 1000 float32 factors: its rounding grows to n * eps32 relative at the last step
    np.testing.assert_allclose(process.alphas_cumprod, reference.alphas_cumprod.numpy(),
                               rtol=1000 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("content, message", [
    ("{not json", r"is not a JSON scheduler config"),
    ("[1, 2]", r"must hold a JSON object .* got a list"),
    (json.dumps({"beta_schedule": "sigmoid"}), r"diffusers `beta_schedule` 'sigmoid' is not supported"),
    (json.dumps({"beta_schedule": "linear", "rescale_betas_zero_snr": True}), r"rescale_betas_zero_snr"),
    (json.dumps({"beta_schedule": "linear", "beta_start": 0.5, "beta_end": 0.1}), r"the betas must satisfy"),
    (json.dumps({"trained_betas": [0.1, 0.2, 1.5]}), r"alphas_cumprod` must be strictly decreasing"),
])
def test_a_bad_diffusers_config_names_the_key(tmp_path, content, message):
    (tmp_path / "s.json").write_text(content)
    config = {**SMALL, "process": {"kind": "Discrete", "diffusers_config": "s.json"}, "time": {"T": 0.9}}
    with pytest.raises(InputError, match=r"^\[process\]\.diffusers_config: .*" + message):
        experiment_from_dict(config, base=str(tmp_path))


#: small runs of the new schedules: both views, start at the exact p_T (so the metrics see solver errors only)
SCHEDULE_RUNS = {
    "cosine": ({"kind": "cosine"}, fd.Cosine(), {"T": 0.95, "t_min": 0.02}, [[-7.0, 7.0]]),
    "edm": ({"kind": "EDM", "sigma_max": 20.0}, fd.EDM(sigma_max=20.0), {"T": 2.0, "t_min": 0.02}, [[-12.0, 12.0]]),
}


@pytest.mark.parametrize("name", list(SCHEDULE_RUNS))
def test_an_experiment_of_a_schedule_runs_end_to_end(tmp_path, name):
    section, process, time, bounds = SCHEDULE_RUNS[name]
    config = {**SMALL, "process": section, "grid": {"bounds": bounds, "cells": 160},
              "time": {**time, "steps": 40, "particle_steps": 60}, "reverse": {"gammas": [1.0], "start": "data"},
              "views": {"density": True, "particles": 4000, "reference_samples": 4000},
              "output": {"folder": "out"}}
    path = tmp_path / "exp.toml"
    path.write_text(toml(config))
    experiment = load_experiment(path)
    assert experiment.process == process
    results = run_experiment(experiment, progress=False)
    recorded, rows, arrays = read_results(results)
    assert recorded["process"] == section and arrays["process"] == process
    (row,) = rows
    # against the exact law at t_min: the grid's discretisation error, and the W1 noise of 4000 samples (~0.03)
    assert row["l1"] < 0.05 and row["w1"] < 0.1 and row["tv"] < 3 * row["tv_floor"]
    info = fpdiff("info", str(results), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert f"process          {type(process).__name__}" in info.stdout and "sigma(t)" in info.stdout


def test_a_table_is_recorded_as_a_dataset_and_fingerprinted_by_its_values(tmp_path):
    """alphas_cumprod goes into results.h5 as a dataset, the attribute keeps its SHA-256; a changed diffusers
    config file changes the fingerprint (the experiment file alone did not change)."""
    table = np.cumprod(1.0 - np.linspace(1e-3, 0.05, 400))
    config = {**SMALL, "process": {"kind": "Discrete", "alphas_cumprod": table.tolist()},
              "time": {"T": 0.95, "t_min": 0.02, "steps": 20}, "reverse": {"gammas": [1.0], "start": "data"},
              "views": {"density": True, "particles": 0}, "output": {"folder": "out"}}
    experiment = experiment_from_dict(config, base=str(tmp_path))
    results = run_experiment(experiment, progress=False)
    with h5py.File(results, "r") as file:
        np.testing.assert_array_equal(file["process/alphas_cumprod"][()], table)
        recorded = json.loads(file.attrs["experiment"])
        assert len(file.attrs["experiment"]) < 2000  # not 400 numbers
    assert recorded["process"]["alphas_cumprod"] == {"n": 400, "sha256": hashlib.sha256(table.tobytes()).hexdigest()}
    assert read_results(results)[2]["process"] == fd.Discrete(table)

    scheduler = tmp_path / "scheduler_config.json"
    fingerprints = []
    for beta_end in (0.02, 0.03):
        scheduler.write_text(json.dumps({"beta_schedule": "linear", "beta_end": beta_end}))
        config["process"] = {"kind": "Discrete", "diffusers_config": "scheduler_config.json"}
        fingerprints.append(experiment_from_dict(config, base=str(tmp_path)).fingerprint)
    assert fingerprints[0] != fingerprints[1]
    # an experiment without a table keeps the fingerprint of before: the configuration's hash
    plain = experiment_from_dict(SMALL, base=str(tmp_path))
    assert plain.recorded_config is plain.config


@pytest.mark.parametrize("process, parameters", [
    (fd.Discrete(np.cumprod(1.0 - np.linspace(1e-3, 0.05, 300))), ""),
    (fd.ScaledLinear(n=500), " (beta_start = 0.00085, beta_end = 0.012, n = 500)"),
    (fd.Cosine(s=0.01), " (s = 0.01)"),
    (fd.EDM(), " (sigma_min = 0.002, sigma_max = 80, sigma_data = 0.5)"),
], ids=lambda value: type(value).__name__ if isinstance(value, fd.LinearProcess) else "")
def test_info_shows_the_schedule_of_a_score_file(tmp_path, process, parameters):
    t = np.array([0.05, 0.4, 0.8])
    fd.save_score(tmp_path / "score.h5", process, t, np.zeros((3, 4, 1)), axes=[np.linspace(-2.0, 2.0, 4)],
                  parametrization="eps")
    result = fpdiff("info", str(tmp_path / "score.h5"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"  process          {type(process).__name__}{parameters}" in lines
    sigma, log_snr = process.sigma(t[[0, -1]]), process.log_snr(t[[0, -1]])
    assert (f"  sigma(t)         {sigma[0]:.6g} at t = 0.05 to {sigma[1]:.6g} at t = 0.8 "
            f"(log-SNR {log_snr[0]:.4g} to {log_snr[1]:.4g})") in lines
    if isinstance(process, fd.Discrete):
        table = process.alphas_cumprod
        assert (f"  table            {len(table)} steps, alphas_cumprod from {table[0]:.6g} (step 0) to "
                f"{table[-1]:.6g} (step {len(table) - 1})") in lines
    else:
        assert not any(line.startswith("  table") for line in lines)


def test_a_sweep_compares_library_samplers_and_eta(tmp_path):
    # [views] eta reaches the sampler: ddim at eta = 1 is ddpm step for step (the same noise), so their W1 agree;
    # a scheme without eta refuses it, naming the key
    config = {**SMALL, "process": {"kind": "VP"}, "time": {"T": 1.0, "t_min": 0.01, "particle_steps": 30},
              "reverse": {"gammas": [1.0], "start": "data"},
              "views": {"density": False, "particles": 3000, "reference_samples": 3000, "scheme": "ddim"},
              "sweep": {"views.eta": [0.0, 1.0]}, "output": {"folder": "out"}}
    experiment = experiment_from_dict(config, base=str(tmp_path))
    _, rows, _ = read_results(run_experiment(experiment, progress=False))
    ddpm = experiment_from_dict({key: value for key, value in config.items() if key != "sweep"}
                                | {"views": {**config["views"], "scheme": "ddpm"}, "output": {"folder": "ddpm"}},
                                base=str(tmp_path))
    (ddpm_row,) = read_results(run_experiment(ddpm, progress=False))[1]
    assert [row["views.eta"] for row in rows] == [0.0, 1.0]
    assert rows[1]["w1"] == pytest.approx(ddpm_row["w1"], rel=1e-9)
    assert rows[0]["w1"] != pytest.approx(rows[1]["w1"], rel=1e-3)
    bad = {key: value for key, value in config.items() if key != "sweep"} | {
        "views": {**config["views"], "scheme": "heun", "eta": 0.5}}
    with pytest.raises(fd.InputError, match=r"\[views\]\.eta: the scheme 'heun' takes no eta"):
        experiment_from_dict(bad, base=str(tmp_path))
