"""``fpdiff audit-score`` on a score file written as docs/score-format.md shows (h5py alone): ``--outside``,
failed checks shown as failed, advice a command-line user can follow (issue 16, item 12)."""

import json

import h5py
import numpy as np
import pytest

import fpdiff as fd
from fpdiff.app.cli import main
from fpdiff.app.experiment import BUILTINS

PROCESS = fd.OU(beta=1.0, sigma=2**0.5)
DATA = BUILTINS["bimodal-1d"][1]()


def write_like_the_docs(path, lo, hi):
    """The exact eps of the built-in bimodal data, written as docs/score-format.md's h5py example does (1-D)."""
    exact = fd.ExactScore(PROCESS, DATA)
    times = np.geomspace(1e-3, 1.0, 20)
    axes = [np.linspace(lo, hi, 121)]
    nodes = axes[0][:, None]
    values = np.stack([-np.sqrt(PROCESS.variance(t)) * exact.score(nodes, t) for t in times]).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = np.bytes_(b"fpdiff.score-field")
        f.attrs["version"] = np.int64(1)
        f.attrs["process"] = np.bytes_(json.dumps({"kind": "OU", "beta": 1.0, "sigma": 2**0.5}).encode())
        f.attrs["parametrization"] = np.bytes_(b"eps")
        f.create_dataset("t", data=times)
        for i, axis in enumerate(axes):
            f.create_dataset(f"axes/{i}", data=axis)
        f.create_dataset("values", data=values, chunks=(1, *values.shape[1:]), compression="gzip")
        f.create_group("meta").attrs["network"] = np.bytes_(b"unet-small")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit-cli")
    # [-3, 3]: 0.27% of the prior N(0, 1) starts outside, so a few of 2000 particles leave the box
    score = write_like_the_docs(folder / "score.h5", -3.0, 3.0)
    train = folder / "train.npy"
    np.save(train, DATA.sample(100, 3))
    return score, train


def audit_score(capsys, *arguments):
    status = main(["audit-score", *map(str, arguments)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_documented_export_is_audited_in_full_by_default(files, capsys, tmp_path):
    score, train = files
    status, out, err = audit_score(capsys, score, "--data", "builtin:bimodal-1d", "--particles", 2000,
                                   "--train", train, "--cells", 120, "--out", tmp_path)
    assert status == 0, err
    assert "FAILED" not in out and err == ""
    assert "outside='clamp'" in out.splitlines()[0]  # the default policy, named in the header
    for section in ("particle view", "Memorisation (100 training points", "discretisation floor",
                    "prior mismatch", "floor RMS"):
        assert section in out
    assert (tmp_path / "audit.png").stat().st_size > 10_000


def test_outside_raise_shows_the_failed_checks_and_advises_the_flag(files, capsys, tmp_path):
    score, train = files
    status, out, err = audit_score(capsys, score, "--data", "builtin:bimodal-1d", "--particles", 2000,
                                   "--train", train, "--outside", "raise", "--out", tmp_path)
    assert status == 1
    assert "check(s) of the audit failed" in err
    assert any(line.split()[:2] == ["learned", "FAILED:"] for line in out.splitlines() if line.strip())
    assert "Memorisation: FAILED: no generated samples" in out
    # the advice is the command line's, not the library's keyword
    assert "rerun with --outside clamp" in out and "outside='clamp'" not in out.split("\n", 1)[1]
    assert (tmp_path / "audit.png").stat().st_size > 10_000


@pytest.mark.parametrize("extra, message", [
    (["--outside", "wrap"], None),  # argparse: invalid choice
    (["--cells", "1"], "`--cells` must be >= 2; got 1"),
    (["--particles", "-5"], "`--particles` must be >= 0; got -5"),
])
def test_bad_options_are_one_line(files, capsys, extra, message):
    score, _ = files
    if message is None:
        with pytest.raises(SystemExit) as exit_info:
            main(["audit-score", str(score), "--data", "builtin:bimodal-1d", *extra])
        assert exit_info.value.code == 2
        assert "invalid choice: 'wrap'" in capsys.readouterr().err
        return
    status, _, err = audit_score(capsys, score, "--data", "builtin:bimodal-1d", *extra)
    assert status == 2 and err.strip() == f"fpdiff: error: {message}"


def test_only_checks_of_the_learned_score_set_the_exit_status():
    from types import SimpleNamespace

    from fpdiff.app.commands import _command_line_failures

    view = SimpleNamespace(failed={"reference": "blew up", "learned": "left the box: pass outside='clamp'"})
    result = SimpleNamespace(density=view, particles=None, failed={"curl floor": "table too small"})
    assert _command_line_failures(result) == 1  # the learned run; not the reference run, not a floor
    assert view.failed["learned"] == "left the box: rerun with --outside clamp"
