"""The demo and ``fpdiff audit-score`` end to end, through a subprocess as a user runs them."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.app.experiment import BUILTINS
from fpdiff.app.files import read_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fpdiff_command(*args, cwd=None, timeout=600):
    environment = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fpdiff", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=environment)


def test_demo_table_is_plausible_and_its_files_are_written(tmp_path):
    out = tmp_path / "demo"
    done = fpdiff_command("demo", "--out", str(out), "--particles", "20000", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "observed order in h" in done.stdout
    for name in ("results.h5", "reverse.png", "forward.png", "forward-convergence.png"):
        assert (out / name).stat().st_size > 1000, name
    _, rows, _ = read_results(out / "results.h5")
    assert [row["gamma"] for row in rows] == [0.0, 0.5, 1.0, 2.0]
    for row in rows:
        # grid: 800 cells on [-10, 10] reach L1 ~ 1e-3 at t_min for every gamma (tests/test_fv_reverse.py gives
        # the convergence); particles: 2e4 samples have a W1 Monte-Carlo error ~ 1e-2 and the 200 steps add less;
        # TV between the grid and the histogram must sit at its statistical floor (the bias is below it)
        assert 0 < row["l1"] < 1e-2, row
        assert 0 <= row["kl"] < 1e-3, row
        assert 0 < row["w1"] < 3e-2, row
        assert row["tv"] < 1.5 * row["tv_floor"], row
    # a second run into the same folder reproduces every number (seeded particles), timings aside
    again = fpdiff_command("demo", "--out", str(out), "--particles", "20000", "--quiet")
    assert again.returncode == 0, again.stderr

    def numbers(table):
        return [{key: value for key, value in row.items() if not key.endswith("_seconds")} for row in table]

    assert numbers(read_results(out / "results.h5")[1]) == numbers(rows)


@pytest.fixture(scope="module")
def score_file(tmp_path_factory):
    """The exact score of the built-in bimodal data, tabulated and written as an eps-network file."""
    data = BUILTINS["bimodal-1d"][1]()
    exact = fd.ExactScore(fd.OU(), data)
    table = fd.tabulate_score(exact, np.geomspace(1e-3, 1.0, 30), [np.linspace(-6, 6, 241)])
    path = tmp_path_factory.mktemp("score") / "exact-table.h5"
    table.save(path, parametrization="eps")
    return path


def test_audit_score_reports_and_draws(score_file, tmp_path):
    done = fpdiff_command("audit-score", str(score_file), "--data", "builtin:bimodal-1d", "--cells", "200",
                          "--particles", "2000", "--out", str(tmp_path / "audit"))
    assert done.returncode == 0, done.stderr
    assert "Girsanov" in done.stdout
    assert (tmp_path / "audit" / "audit.png").stat().st_size > 10_000


@pytest.mark.parametrize("extra, message", [
    (["--data", "builtin:nope"], "unknown built-in 'nope'"),
    (["--data", "missing.npy"], "missing.npy"),
    (["--data", "builtin:bimodal-1d", "--reference", "empirical"], "needs the training points"),
])
def test_audit_score_errors_are_one_line(score_file, tmp_path, extra, message):
    done = fpdiff_command("audit-score", str(score_file), *extra, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fpdiff: error:") and message in lines[0], done.stderr


def test_audit_score_rejects_a_file_that_is_not_a_score(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    done = fpdiff_command("audit-score", str(bad), "--data", "builtin:bimodal-1d")
    assert done.returncode == 2 and "bad.h5" in done.stderr
