"""Fuzz fpdiff's results and checkpoint files: bit flips, byte overwrites and truncations, each read with a time limit.

    python tests/fuzz_results.py [--files 400] [--timeout 20] [--seed 0] [--folder DIR]

The script runs two tiny experiments with fpdiff itself (a run with both
views, and a sweep of two points), keeping their checkpoints, and so has five
pristine files: ``results.h5`` of each, ``density-0.h5``, ``particles-0.h5``
and ``point-0.h5``. It then writes ``--files`` damaged copies (taking the
sources in turn) and reads each one in a worker process, the way fpdiff
reads it: results files as ``fpdiff info FILE`` does (and
``fpdiff.app.files.read_results``), checkpoints as ``fpdiff run --resume`` does
(``fpdiff.app.files.read_checkpoint``). A worker that does not answer within
``--timeout`` seconds is killed and the file counted as a hang (and kept as
``hang-<i>.h5``). Each reading ends as one of:

- ``clear error``: an fpdiff error (one line ``fpdiff: error: ...``);
- ``identical``: read without error, every number and text as in the
  pristine file (the damage hit bytes that are not read);
- ``different``: read without error, but something differs: a silent wrong
  answer;
- ``traceback``: another exception (a raw traceback for the user);
- ``hang``, ``crash``: the time limit passed, or the worker died.

The counts are printed as a dict on the last line; the exit status is 1 if
any reading was different, a traceback, a hang or a crash.
(``tests/test_runner_files.py`` runs a small subset.)
"""

import argparse
import contextlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

OUTCOMES = ("clear error", "identical", "different", "traceback", "hang", "crash")
SOURCES = ("results.h5", "sweep.h5", "density-0.h5", "particles-0.h5", "point-0.h5")
#: the tiny experiments: a run with both views, and a sweep of two points (density view only)
RUN = {
    "process": {"kind": "OU"},
    "data": {"kind": "builtin", "name": "bimodal-1d"},
    "grid": {"bounds": [[-6.0, 6.0]], "cells": 40},
    "time": {"T": 1.0, "t_min": 0.05, "steps": 10, "particle_steps": 10},
    "reverse": {"gammas": [1.0], "start": "data"},
    "views": {"density": True, "particles": 300},
}
SWEEP = dict(RUN, views={"density": True, "particles": 0}, sweep={"time.t_min": [0.05, 0.1]})


# ------------------------------------------------------------------ the pristine files


def build(folder):
    """Run the two experiments in ``folder``; returns ``{source name: path}`` and the experiments' fingerprints."""
    from fpdiff.app.experiment import experiment_from_dict
    from fpdiff.app.runner import STOP_AFTER_ENV, Interrupted, run_experiment

    paths, fingerprints = {}, {}
    for name, config, checkpoints in (("run", RUN, ("density-0.h5", "particles-0.h5")),
                                      ("sweep", SWEEP, ("point-0.h5",))):
        experiment = experiment_from_dict(dict(config, output={"folder": name}), base=folder)
        os.environ[STOP_AFTER_ENV] = str(len(checkpoints))  # stop when the checkpoints are written: keep them
        try:
            run_experiment(experiment, progress=False)
        except Interrupted:
            pass
        finally:
            del os.environ[STOP_AFTER_ENV]
        for checkpoint in checkpoints:
            paths[checkpoint] = shutil.copy(os.path.join(folder, name, "checkpoints", checkpoint),
                                            os.path.join(folder, checkpoint))
            fingerprints[checkpoint] = experiment.fingerprint
        result = run_experiment(experiment, resume=True, progress=False)
        paths["results.h5" if name == "run" else "sweep.h5"] = shutil.copy(
            result, os.path.join(folder, "results.h5" if name == "run" else "sweep.h5"))
    return paths, fingerprints


# ------------------------------------------------------------------ the worker: reads one file per request


def _read_results_file(path):
    """What ``fpdiff info PATH`` prints (path replaced), its exit status, and ``read_results(path)``."""
    from fpdiff.app.cli import main
    from fpdiff.app.files import read_results

    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(io.StringIO()):
        status = main(["info", path])
    if status != 0:
        return None
    return output.getvalue().replace(path, "FILE"), read_results(path)


def _read_checkpoint_file(path, fingerprint):
    import fpdiff.app.runner as runner

    if hasattr(runner, "read_checkpoint"):
        return runner.read_checkpoint(path, fingerprint)
    # fpdiff 0.1 (for a comparison): what its --resume and assembly read
    import h5py

    with h5py.File(path, "r") as file:
        if file.attrs.get("fingerprint") != fingerprint:
            raise runner.InputError("different experiment")
        arrays = {}
        file.visititems(lambda name, item: arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset)
                        else None)
        return arrays, dict(file.attrs)


def _same(a, b):
    """Equal, recursively: arrays by shape, dtype and values (NaN equal to NaN), floats likewise."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.all((a == b) | ((a != a) & (b != b))))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and a == b


def worker(paths, fingerprints):
    """Answer requests ``SOURCE PATH`` on stdin with one JSON line: the outcome of reading PATH as SOURCE."""
    from fpdiff.errors import FpdiffError

    def read(source, path):
        if source in ("results.h5", "sweep.h5"):
            return _read_results_file(path)
        return _read_checkpoint_file(path, fingerprints[source])

    pristine = {source: read(source, path) for source, path in paths.items()}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        source, path = line.rstrip("\n").split(" ", 1)
        try:
            value = read(source, path)
        except FpdiffError as error:
            answer = {"outcome": "clear error", "detail": str(error)[:300]}
        except Exception as error:  # what the fuzzing looks for: anything that is not an fpdiff error
            answer = {"outcome": "traceback", "detail": f"{type(error).__name__}: {str(error)[:300]}"}
        else:
            if value is None:  # fpdiff info exited 2 with its one line
                answer = {"outcome": "clear error", "detail": "fpdiff info: exit status 2"}
            else:
                answer = {"outcome": "identical" if _same(value, pristine[source]) else "different", "detail": ""}
        print(json.dumps(answer), flush=True)


class Worker:
    """A worker process (``--worker``), restarted after a hang or a crash."""

    def __init__(self, folder):
        self.folder = folder
        self.process = None

    def start(self):
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", self.folder],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, bufsize=1)
        answer = self.process.stdout.readline()
        if not answer or not json.loads(answer).get("ready"):
            raise RuntimeError("the fuzz worker did not start (it reads the pristine files: are they valid?)")

    def read(self, source, path, timeout):
        """The outcome and detail of reading ``path`` as ``source``, within ``timeout`` seconds."""
        if self.process is None:
            self.start()
        self.process.stdin.write(f"{source} {path}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        answer = self.process.stdout.readline() if ready else None
        if answer:
            answer = json.loads(answer)
            return answer["outcome"], answer["detail"]
        self.stop()
        return ("hang", f"no answer within {timeout:g} s") if not ready else ("crash", "the worker died")

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


# ------------------------------------------------------------------ damage


def damage(data, rng):
    """A damaged copy of ``data`` and a description: bit flips, byte overwrites, or a truncation."""
    data = bytearray(data)
    kind = rng.choice(["flip", "overwrite", "truncate"], p=[0.45, 0.4, 0.15])
    if kind == "flip":
        where = rng.integers(0, len(data), size=rng.integers(1, 7))
        for position in where:
            data[position] ^= 1 << int(rng.integers(0, 8))
        return bytes(data), f"flip bits at {sorted(where.tolist())}"
    if kind == "overwrite":
        length, edits = len(data), []
        for _ in range(rng.integers(1, 5)):
            start, size = int(rng.integers(0, length)), int(rng.integers(1, 33))
            data[start:start + size] = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
            edits.append((start, size))
        return bytes(data[:length]), f"overwrite (start, bytes) {edits}"  # an edit at the end must not lengthen it
    keep = int(rng.integers(0, len(data)))
    return bytes(data[:keep]), f"truncate to {keep} of {len(data)} bytes"


def fuzz(folder, files, timeout, seed, log=print):
    """Damage ``files`` copies of the pristine files in ``folder`` and read each; returns the counts and examples."""
    with open(os.path.join(folder, "pristine.json")) as handle:
        paths = json.load(handle)["paths"]
    originals = {source: open(paths[source], "rb").read() for source in SOURCES}
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(OUTCOMES, 0)
    examples = {}
    worker = Worker(folder)
    try:
        for i in range(files):
            source = SOURCES[i % len(SOURCES)]
            data, description = damage(originals[source], rng)
            size = len(originals[source])
            if data[:size] == originals[source] and len(data) == size:
                continue  # a flip that flipped the same bit twice: not damaged
            path = os.path.join(folder, f"damaged-{i}.h5")
            with open(path, "wb") as handle:
                handle.write(data)
            outcome, detail = worker.read(source, path, timeout)
            counts[outcome] += 1
            if outcome in ("hang", "crash"):
                shutil.copy(path, os.path.join(folder, f"{outcome}-{i}.h5"))
            if outcome != "clear error" and outcome != "identical":
                log(f"{outcome}: {source} {description}: {detail}")
            examples.setdefault(outcome, f"{source} {description}: {detail}")
            os.remove(path)
    finally:
        worker.stop()
    counts["files"] = sum(counts[outcome] for outcome in OUTCOMES)
    return counts, examples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=400, help="damaged files to read (default 400)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds allowed per file (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the damage (default 0)")
    parser.add_argument("--folder", help="work folder (default: a temporary folder, removed at the end)")
    parser.add_argument("--reuse", action="store_true",
                        help="damage the pristine files already in --folder (e.g. written by another fpdiff version)")
    parser.add_argument("--worker", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        with open(os.path.join(args.worker, "pristine.json")) as handle:
            state = json.load(handle)
        worker(state["paths"], state["fingerprints"])
        return 0
    with contextlib.ExitStack() as stack:
        folder = args.folder or stack.enter_context(tempfile.TemporaryDirectory(prefix="fpdiff-fuzz-"))
        os.makedirs(folder, exist_ok=True)
        started = time.perf_counter()
        if not (args.reuse and args.folder):
            paths, fingerprints = build(os.path.abspath(folder))
            with open(os.path.join(folder, "pristine.json"), "w") as handle:
                json.dump({"paths": paths, "fingerprints": fingerprints}, handle)
        counts, examples = fuzz(os.path.abspath(folder), args.files, args.timeout, args.seed)
        for outcome, example in examples.items():
            print(f"e.g. {outcome}: {example}")
        print(f"{time.perf_counter() - started:.0f} s")
        print(counts)
    return int(any(counts[outcome] for outcome in ("different", "traceback", "hang", "crash")))


if __name__ == "__main__":
    sys.exit(main())
