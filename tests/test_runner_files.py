"""The files of ``fpdiff run`` (fpdiff.app.runner): the folder's lock, what is read and deleted, damaged files.

Every test here reproduces a case of issue 16 (items 5, 6, 7, 9, 10 and 13)
that failed before: runs mixing their files, a user's file deleted, results
of another experiment overwritten, variable-length strings and no checksums,
tracebacks on damaged files, a symlinked checkpoints folder, a LocalCluster
open to the network, a scheduler taken from a file, no figure for sweeps.
"""

import ast
import errno
import hashlib
import math
import os
import shutil
import signal
import subprocess
import sys

import filelock
import h5py
import numpy as np
import pytest
from scipy.special import ndtr

import fpdiff as fd
import fpdiff.app.runner as runner
from fpdiff.errors import FormatError, InputError
from fpdiff.app.experiment import experiment_from_dict
import fpdiff.app.folder as folder
from fpdiff.app.files import read_checkpoint, read_results
from fpdiff.app.runner import STOP_AFTER_ENV, Interrupted, run_experiment

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)

#: a run of well under a second: the density view, one gamma, 40 cells
TINY = {
    "process": {"kind": "OU"},
    "data": {"kind": "builtin", "name": "bimodal-1d"},
    "grid": {"bounds": [[-6.0, 6.0]], "cells": 40},
    "time": {"T": 1.0, "t_min": 0.05, "steps": 10, "particle_steps": 10},
    "reverse": {"gammas": [0.0, 1.0], "start": "data"},
    "views": {"density": True, "particles": 0},
}


def experiment(tmp_path, folder="out", **changes):
    config = {section: dict(values) for section, values in TINY.items()}
    for section, values in changes.items():
        config.setdefault(section, {}).update(values)
    config["output"] = dict(config.get("output", {}), folder=folder)
    return experiment_from_dict(config, base=str(tmp_path))


def interrupted(run, after=1):
    """Run ``run`` (an Experiment), stopping after ``after`` checkpoints, as if killed."""
    os.environ[STOP_AFTER_ENV] = str(after)
    try:
        with pytest.raises(Interrupted):
            run_experiment(run, progress=False)
    finally:
        del os.environ[STOP_AFTER_ENV]


def fpdiff(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fpdiff", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": REPOSITORY}, timeout=300)


# ------------------------------------------------------------------ item 5: one run per folder, no foreign files


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    os.makedirs(tmp_path / "out")
    holder = filelock.FileLock(str(tmp_path / "out" / folder.LOCK_NAME))
    with holder:
        with pytest.raises(InputError, match=r"another fpdiff run is writing into .*out.*--out"):
            run_experiment(experiment(tmp_path, reverse={"gammas": [2.0]}), progress=False)
    assert not os.path.exists(tmp_path / "out" / "results.h5")
    run_experiment(experiment(tmp_path), progress=False)  # once released, the folder is free


def test_the_lock_of_a_killed_run_does_not_block(tmp_path):
    """The lock is the OS's: a run killed with SIGKILL leaves its lock file, and the next run goes on."""
    os.makedirs(tmp_path / "out")
    code = ("import sys, filelock; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); print('held', flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "out" / folder.LOCK_NAME)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match="another fpdiff run"):
            run_experiment(experiment(tmp_path), progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert os.path.exists(tmp_path / "out" / folder.LOCK_NAME)
    assert read_results(run_experiment(experiment(tmp_path), progress=False))[0]["reverse"]["gammas"] == [0.0, 1.0]


def test_the_command_reports_a_locked_folder_in_one_line(tmp_path):
    from test_cli import toml

    path = tmp_path / "exp.toml"
    path.write_text(toml({**TINY, "output": {"folder": "out"}}))
    os.makedirs(tmp_path / "out")
    with filelock.FileLock(str(tmp_path / "out" / folder.LOCK_NAME)):
        result = fpdiff("run", str(path), "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("fpdiff: error: another fpdiff run is writing into")


def test_checkpoints_of_another_experiment_are_never_assembled(tmp_path):
    """Run a (gamma 0, 1) interrupted; run b (gamma 2, 3) into the same folder is refused, and its assembly
    refuses a's checkpoint even if it is found under one of b's task names."""
    a, b = experiment(tmp_path, reverse={"gammas": [0.0, 1.0]}), experiment(tmp_path, reverse={"gammas": [2.0, 3.0]})
    interrupted(a, after=1)
    with pytest.raises(InputError, match=r"density-0\.h5.*belongs to a different experiment"):
        run_experiment(b, progress=False)
    with pytest.raises(InputError, match="different experiment"):
        runner.results_table(b, str(tmp_path / "out" / "checkpoints"))
    assert os.listdir(tmp_path / "out" / "checkpoints") == ["density-0.h5"]  # a's checkpoint is kept
    assert os.path.isfile(run_experiment(a, resume=True, progress=False))


# ------------------------------------------------------------------ item 6: only fpdiff's own files


def test_a_run_deletes_only_the_checkpoints_it_wrote(tmp_path):
    checkpoints = tmp_path / "out" / "checkpoints"
    os.makedirs(checkpoints)
    (checkpoints / "model-epoch-400.pt").write_bytes(b"weights")
    (checkpoints / "notes.h5").write_bytes(b"not HDF5")  # not a checkpoint name: never opened
    path = run_experiment(experiment(tmp_path), progress=False)
    assert sorted(os.listdir(checkpoints)) == ["model-epoch-400.pt", "notes.h5"]
    assert (checkpoints / "model-epoch-400.pt").read_bytes() == b"weights"
    assert os.path.isfile(path)
    os.remove(checkpoints / "model-epoch-400.pt")
    os.remove(checkpoints / "notes.h5")
    run_experiment(experiment(tmp_path), progress=False)
    assert not os.path.exists(checkpoints)  # empty once fpdiff's checkpoints are gone: removed


def test_results_of_a_different_experiment_need_overwrite(tmp_path):
    first = run_experiment(experiment(tmp_path), progress=False)
    again = run_experiment(experiment(tmp_path), progress=False)  # the same experiment: its results are replaced
    assert again == first
    other = experiment(tmp_path, reverse={"gammas": [2.0]})
    with pytest.raises(InputError, match=r"results\.h5.*holds the results of a different experiment.*--overwrite"):
        run_experiment(other, progress=False)
    assert read_results(first)[0]["reverse"]["gammas"] == [0.0, 1.0]
    run_experiment(other, progress=False, overwrite=True)
    assert read_results(first)[0]["reverse"]["gammas"] == [2.0]
    (tmp_path / "out" / "results.h5").write_bytes(b"a user's file")
    with pytest.raises(InputError, match="not a results file fpdiff can read.*--overwrite"):
        run_experiment(other, progress=False)


def test_the_command_has_overwrite(tmp_path):
    from test_cli import toml

    path = tmp_path / "exp.toml"
    path.write_text(toml({**TINY, "output": {"folder": "out"}}))
    assert fpdiff("run", str(path), "--quiet", "--no-figures", cwd=tmp_path).returncode == 0
    path.write_text(toml({**TINY, "reverse": {"gammas": [3.0]}, "output": {"folder": "out"}}))
    refused = fpdiff("run", str(path), "--quiet", "--no-figures", cwd=tmp_path)
    assert refused.returncode == 2 and "different experiment" in refused.stderr and "--overwrite" in refused.stderr
    replaced = fpdiff("run", str(path), "--quiet", "--no-figures", "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert read_results(tmp_path / "out" / "results.h5")[0]["reverse"]["gammas"] == [3.0]


def test_temporary_files_of_a_killed_write_are_removed(tmp_path):
    """What ``atomic_path`` leaves when killed: ``.<name>.<12 hex>.tmp``, removed for fpdiff's own names only."""
    checkpoints = tmp_path / "out" / "checkpoints"
    os.makedirs(checkpoints)
    ours = [tmp_path / "out" / ".results.h5.0123456789ab.tmp", tmp_path / "out" / ".reverse.png.a1b2c3d4e5f6.tmp",
            checkpoints / ".density-1.h5.00ff00ff00ff.tmp"]
    theirs = [tmp_path / "out" / ".model.pt.0123456789ab.tmp", tmp_path / "out" / "results.h5.tmp",
              checkpoints / ".density-1.h5.tmp", checkpoints / ".notes.0123456789ab.tmp"]
    for path in ours + theirs:
        path.write_bytes(b"partial")
    run_experiment(experiment(tmp_path), progress=False)
    assert not any(path.exists() for path in ours)
    assert all(path.read_bytes() == b"partial" for path in theirs)


# ------------------------------------------------------------------ item 7: fixed-length strings, checksums


def objects(path):
    """Every group and dataset of an HDF5 file, with its name."""
    found = []
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: found.append((name, item.attrs.items(), item.dtype if isinstance(
            item, h5py.Dataset) else None, item.fletcher32 if isinstance(item, h5py.Dataset) else None)))
        root = [(key, value) for key, value in file.attrs.items()]
    return found, root


def assert_fixed_strings_and_checksums(path):
    found, root = objects(path)
    datasets = [(name, dtype, checksum) for name, _, dtype, checksum in found if dtype is not None]
    assert datasets and all(checksum for _, _, checksum in datasets), [n for n, _, c in datasets if not c]
    assert all(h5py.check_vlen_dtype(dtype) is None and dtype.kind != "O" for _, dtype, _ in datasets)
    with h5py.File(path, "r") as file:
        for name in [""] + [name for name, *_ in found]:
            item = file[name] if name else file
            for key in item.attrs:
                dtype = item.attrs.get_id(key).dtype
                string = h5py.check_string_dtype(dtype)
                assert string is None or string.length is not None, (path, name, key)
    assert b"GCOL" not in open(path, "rb").read()  # no global heap


def test_results_and_checkpoints_have_fixed_strings_and_checksums(tmp_path):
    run = experiment(tmp_path, views={"particles": 200})
    interrupted(run, after=2)
    for name in ("density-0.h5", "particles-0.h5"):
        assert_fixed_strings_and_checksums(tmp_path / "out" / "checkpoints" / name)
    assert_fixed_strings_and_checksums(run_experiment(run, resume=True, progress=False))
    sweep = experiment(tmp_path, folder="sweep", sweep={"score.source": ["exact", "grid"], "time.t_min": [0.05]})
    interrupted(sweep, after=1)
    assert_fixed_strings_and_checksums(tmp_path / "sweep" / "checkpoints" / "point-0.h5")
    assert_fixed_strings_and_checksums(run_experiment(sweep, resume=True, progress=False))


def as_old_file(path, old):
    """A copy of a results file as fpdiff 0.1 wrote it: variable-length strings, no filters, the default format."""
    with h5py.File(path, "r") as new, h5py.File(old, "w") as file:
        def copy(source, target):
            for key, value in source.attrs.items():
                target.attrs[key] = value.decode() if isinstance(value, bytes) else value
            for key, item in source.items():
                if isinstance(item, h5py.Group):
                    copy(item, target.create_group(key))
                else:
                    data = item[()]
                    if data.dtype.kind == "S":
                        data = np.array([v.decode() for v in data], dtype=h5py.string_dtype())
                    target.create_dataset(key, data=data)
                    for name, value in item.attrs.items():
                        target[key].attrs[name] = value
        copy(new, file)


def equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    return a == b or (a != a and b != b)


def test_results_of_fpdiff_0_1_still_read(tmp_path):
    sweep = experiment(tmp_path, folder="sweep", sweep={"score.source": ["exact", "grid"], "reverse.gamma": [1.0]})
    for path in (run_experiment(experiment(tmp_path), progress=False), run_experiment(sweep, progress=False)):
        old = str(path) + ".old"
        as_old_file(path, old)
        with h5py.File(old, "r") as file:
            assert isinstance(file.attrs["experiment"], str) and not file["grid/exact" if "grid" in file
                                                                         else "point/0/grid/exact"].fletcher32
        assert equal(read_results(old), read_results(path))


def test_a_checksum_mismatch_is_a_format_error(tmp_path):
    path = run_experiment(experiment(tmp_path), progress=False)
    with h5py.File(path, "r") as file:
        offset = file["gamma/1/density"].id.get_offset()
        if offset is None:  # chunked: the address of the dataset's single chunk
            offset = file["gamma/1/density"].id.get_chunk_info(0).byte_offset
    data = bytearray(open(path, "rb").read())
    data[offset + 8] ^= 0x10  # one bit of the density's data, which now reads as another number
    open(path, "wb").write(bytes(data))
    with pytest.raises(FormatError, match=r"results file .*results\.h5.* is corrupt \(OSError: .*"):
        read_results(path)


# ------------------------------------------------------------------ item 9: no tracebacks


def test_info_on_damaged_results_is_one_line(tmp_path):
    path = run_experiment(experiment(tmp_path), progress=False)
    data = open(path, "rb").read()
    damaged = [data[: len(data) // 2], data[:200] + b"\xff" * 64 + data[264:], b"\x89HDF\r\n\x1a\n" + b"\0" * 100]
    for i, content in enumerate(damaged):
        target = tmp_path / f"damaged-{i}.h5"
        target.write_bytes(content)
        result = fpdiff("info", str(target), cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("fpdiff: error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_output_path_that_is_a_file_is_an_input_error(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(InputError, match=r"\[output\]\.folder: .*out' exists and is not a folder"):
        experiment(tmp_path)  # an experiment file is refused when it is read
    with pytest.raises(InputError, match=r"the output folder .*out' is a file, not a folder"):
        with folder.output_lock(str(tmp_path / "out")):  # and the runner's API refuses it too
            pass
    with pytest.raises(InputError, match=r"cannot write .*out/inner.*a file stands where fpdiff needs a folder"):
        run_experiment(experiment(tmp_path, folder="out/inner"), progress=False)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["full", "read-only"])
def test_a_full_or_read_only_disk_is_an_input_error(tmp_path, monkeypatch, code):
    """The write of a checkpoint fails as h5py fails on a full or read-only disk: one clear error, no file left."""
    real = h5py.File

    def failing(name, mode="r", *args, **kwargs):
        if mode == "w":
            raise OSError(code, os.strerror(code))
        return real(name, mode, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", failing)
    advice = "the disk is full.*rerun with --resume" if code == errno.ENOSPC else "the folder is not writable.*--out"
    with pytest.raises(InputError, match=rf"cannot write .*density-0\.h5.*{os.strerror(code)}.*{advice}"):
        run_experiment(experiment(tmp_path), progress=False)
    assert os.listdir(tmp_path / "out" / "checkpoints") == []


def test_a_corrupt_checkpoint_says_what_to_do(tmp_path):
    run = experiment(tmp_path)
    interrupted(run, after=1)
    checkpoint = tmp_path / "out" / "checkpoints" / "density-0.h5"
    data = open(checkpoint, "rb").read()
    checkpoint.write_bytes(data[: len(data) - 100])
    with pytest.raises(FormatError, match=r"checkpoint .*density-0\.h5.*delete it \(then --resume runs its task "
                                          r"again\)"):
        run_experiment(run, resume=True, progress=False)
    os.remove(checkpoint)
    assert os.path.isfile(run_experiment(run, resume=True, progress=False))


def test_a_symlinked_checkpoints_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    os.makedirs(elsewhere)
    (elsewhere / "density-0.h5").write_bytes(b"someone else's")
    os.makedirs(tmp_path / "out")
    os.symlink(elsewhere, tmp_path / "out" / "checkpoints")
    with pytest.raises(InputError, match=r"checkpoints' is a symbolic link .*does not write its checkpoints through"):
        run_experiment(experiment(tmp_path), progress=False)
    assert os.listdir(elsewhere) == ["density-0.h5"]


# ------------------------------------------------------------------ item 10: the cluster


def test_the_local_cluster_listens_on_this_machine_only():
    pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")
    from fpdiff.distributed import connect

    with connect(workers=1, processes=False) as client:
        assert client.submit(sum, [1, 2]).result() == 3
        listening = [c.laddr.ip for c in psutil.Process().net_connections(kind="inet") if c.status == "LISTEN"]
    assert listening and set(listening) == {"127.0.0.1"}, listening


def test_a_scheduler_from_the_file_alone_is_refused(tmp_path):
    from test_cli import toml

    path = tmp_path / "exp.toml"
    config = {**TINY, "sweep": {"time.t_min": [0.05, 0.1]}, "output": {"folder": "out"},
              "cluster": {"scheduler": "tcp://198.51.100.7:8786"}}
    path.write_text(toml(config))
    result = fpdiff("run", str(path), "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "tcp://198.51.100.7:8786" in result.stderr and "pass --scheduler ADDRESS" in result.stderr
    assert not os.path.exists(tmp_path / "out")  # refused before anything ran or was written
    local = fpdiff("run", str(path), "--quiet", "--workers", "0", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    assert "[cluster].scheduler of the file is not used" in local.stderr
    assert os.path.isfile(tmp_path / "out" / "sweep.png")  # item 13: a sweep draws its figure


# ------------------------------------------------------------------ item 13: figures of sweeps


def test_figures_of_a_sweep(tmp_path):
    from fpdiff.plot import results_figure, sweep_figure

    sweep = experiment(tmp_path, folder="sweep", sweep={"reverse.gamma": [0.0, 1.0], "time.t_min": [0.05, 0.1],
                                                       "score.source": ["exact", "grid"]})
    path = run_experiment(sweep, progress=False)
    with pytest.raises(InputError, match=r"holds the results of a sweep .*sweep_figure.*point=k"):
        results_figure(path)
    figure = sweep_figure(path)
    (panel,) = figure.axes  # only the density view ran: L1
    assert panel.get_xlabel() == "time.t_min" and panel.get_ylabel().startswith("L1")
    assert len(panel.get_lines()) == 4  # 2 gammas x 2 score sources
    assert all(len(line.get_xdata()) == 2 for line in panel.get_lines())
    assert len(results_figure(path, point=3).axes) == 1
    with pytest.raises(InputError, match=r"`point` must be the index of a point of the sweep, 0 to 7"):
        results_figure(path, point=8)
    single = run_experiment(experiment(tmp_path), progress=False)
    with pytest.raises(InputError, match="not a sweep's: draw them with fpdiff.plot.results_figure"):
        sweep_figure(single)


# ------------------------------------------------------------------ the fuzzing, a small subset


def test_damaged_results_and_checkpoints_end_in_clear_errors(tmp_path):
    """tests/fuzz_results.py on 150 damaged files (the full run: 5000): no hang, no traceback, no silent change."""
    result = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_results.py"), "--files", "150", "--timeout",
                             "20", "--folder", str(tmp_path)], capture_output=True, text=True, timeout=240,
                            env={**os.environ, "PYTHONPATH": REPOSITORY})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert counts["files"] >= 140 and counts["clear error"] > 100, counts


def test_read_checkpoint_checks_the_fingerprint(tmp_path):
    run = experiment(tmp_path)
    interrupted(run, after=1)
    path = tmp_path / "out" / "checkpoints" / "density-0.h5"
    arrays, attributes = read_checkpoint(path, run.fingerprint)
    assert arrays["density"].shape == (40,) and attributes["fingerprint"] == run.fingerprint
    with pytest.raises(InputError, match="belongs to a different experiment"):
        read_checkpoint(path, "0" * 16)
    shutil.copy(path, tmp_path / "copy.h5")
    assert read_checkpoint(tmp_path / "copy.h5", run.fingerprint)[1]["gamma"] == 0.0


# ------------------------------------------------------------------ item 2: the box must hold the laws


def test_bounds_that_cut_the_data_law_are_refused_unless_allowed(tmp_path):
    # [-8, -3] holds almost none of the bimodal data: the grid's L1 against the equally cut exact law was 0.0012
    cut = {"grid": {"bounds": [[-8.0, -3.0]], "cells": 40}}
    law = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2]).evolve(fd.OU(), 0.05)  # bimodal-1d
    inside = sum(w * (ndtr((-3 - m[0]) / np.sqrt(c[0, 0])) - ndtr((-8 - m[0]) / np.sqrt(c[0, 0])))
                 for w, m, c in zip(law.weights, law.means, law.covariances))
    with pytest.raises(InputError, match=rf"\[grid\]\.bounds \[-8, -3\] hold only {100 * inside:.3g}% of the exact "
                                         r"law at t_min.*allow_mass_outside = true"):
        run_experiment(experiment(tmp_path, **cut), progress=False)
    assert not os.path.exists(tmp_path / "out" / "results.h5")
    allowed = {"grid": {"bounds": [[-8.0, -3.0]], "cells": 40, "allow_mass_outside": True}}
    with pytest.warns(fd.MassWarning):  # the library still warns; the command was told to go on
        path = run_experiment(experiment(tmp_path, folder="allowed", **allowed), progress=False)
    assert read_results(path)[1][0]["gamma"] == 0.0


def test_a_prior_the_box_misses_is_refused_and_a_solve_that_loses_mass_too(tmp_path):
    # VE with sigma_max = 80 on [-4, 4]: the prior N(0, 6400) has 4% of its mass in the box (0.16% in 2-D, where
    # the run gave L1 = 0.998 and exit status 0 before)
    ve = {"process": {"kind": "VE", "sigma_min": 0.01, "sigma_max": 80.0}, "reverse": {"gammas": [1.0],
                                                                                         "start": "prior"},
          "grid": {"bounds": [[-4.0, 4.0]], "cells": 40}}
    inside = math.erf(4.0 / (80.0 * math.sqrt(2.0)))  # N(0, 80^2 - 0.01^2) on [-4, 4], to 1e-8
    with pytest.raises(InputError, match=rf"hold only {100 * inside:.3g}% of the start law \(the prior at T = 1\)"):
        run_experiment(experiment(tmp_path, **ve), progress=False)
    # the start and end laws fit, but the solve reports lost mass (say, through an absorbing wall): caught after it
    run = experiment(tmp_path, folder="edge")
    law = run.process.prior(run.T, 1)
    assert run.grid.integrate(law.cell_average(run.grid)) > 1 - 1e-3
    with pytest.raises(InputError, match=r"left through the absorbing boundary.*allow_mass_outside"):
        with pytest.MonkeyPatch.context() as patch:  # a solver result that lost mass
            patch.setattr(runner, "box_problem", lambda *args, **kwargs: "1% of the mass left through the absorbing "
                                                                         "boundary")
            run_experiment(run, progress=False)


def test_a_file_system_without_locks_is_one_clear_error(tmp_path, monkeypatch):
    # older filelock raises NotImplementedError where flock is missing (some network file systems)
    def no_flock(self, *args, **kwargs):
        raise NotImplementedError("FileSystem does not appear to support flock")

    monkeypatch.setattr(filelock.FileLock, "acquire", no_flock)
    with pytest.raises(InputError, match=r"cannot lock files .*choose an output folder on a local disk"):
        with folder.output_lock(str(tmp_path / "out")):
            pass


# ------------------------------------------------------------------ the process in the results (issue 18)


def test_each_point_of_a_sweep_records_its_process(tmp_path):
    """A sweep over [process].kind: every point's group holds its own process, a table as a dataset."""
    table = [0.99, 0.9, 0.7, 0.4, 0.1]
    sweep = experiment(tmp_path, folder="kinds", time={"T": 0.9},
                       sweep={"process.kind": ["VP", "cosine", "scaled-linear"]})
    path = run_experiment(sweep, progress=False)
    _, rows, arrays = read_results(path)
    assert [point["process"] for point in arrays["points"]] == [fd.VP(), fd.Cosine(), fd.ScaledLinear()]
    assert all(np.isfinite(row["l1"]) for row in rows)
    discrete = experiment(tmp_path, folder="table", time={"T": 0.9},
                          process={"kind": "Discrete", "alphas_cumprod": table})
    path = run_experiment(discrete, progress=False)
    assert read_results(path)[2]["process"] == fd.Discrete(table)
    assert_fixed_strings_and_checksums(path)
    with h5py.File(path, "r") as file:
        assert file["process/alphas_cumprod"].fletcher32


def test_results_without_a_process_record_still_read(tmp_path):
    """Results written before the process was recorded: read_results gives None, info shows the configuration."""
    path = run_experiment(experiment(tmp_path), progress=False)
    with h5py.File(path, "a") as file:
        del file["process"]
    config, rows, arrays = read_results(path)
    assert arrays["process"] is None and config["process"] == {"kind": "OU"} and len(rows) == 2
    from fpdiff.app.commands import describe_file

    assert "[process] kind = 'OU'" in describe_file(str(path))


def test_a_damaged_process_record_is_a_format_error(tmp_path):
    path = run_experiment(experiment(tmp_path), progress=False)
    with h5py.File(path, "a") as file:
        del file["process/description"]
        file["process/description"] = np.bytes_(b'{"kind": "OU", "beta": -1}')
    with pytest.raises(FormatError, match=r"group 'process': not the record of an fpdiff process .*beta"):
        read_results(path)


def test_a_swept_table_is_recorded_by_its_hash(tmp_path):
    tables = [[0.99, 0.9, 0.7, 0.4, 0.1], [0.995, 0.95, 0.8, 0.5, 0.2, 0.05]]
    sweep = experiment(tmp_path, folder="tables", time={"T": 0.9},
                       process={"kind": "Discrete", "alphas_cumprod": tables[0]},
                       sweep={"process.alphas_cumprod": tables})
    path = run_experiment(sweep, progress=False)
    config, rows, arrays = read_results(path)
    summaries = [{"n": len(table), "sha256": hashlib.sha256(np.array(table).tobytes()).hexdigest()}
                 for table in tables]
    assert config["sweep"]["process.alphas_cumprod"] == summaries and config["process"]["alphas_cumprod"] == summaries[0]
    assert [point["process"] for point in arrays["points"]] == [fd.Discrete(table) for table in tables]
    assert arrays["coordinates"]["process.alphas_cumprod"] == tables and len(rows) == 4
