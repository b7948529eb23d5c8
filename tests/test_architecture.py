"""The architecture of docs/architecture.md, checked: import contracts, module sizes."""

import os
import re
import subprocess
import sys

import fpdiff

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.dirname(os.path.abspath(fpdiff.__file__))
#: the longest a module may grow (the restructuring's limit: one job per module)
MAX_LINES = 800


def test_the_import_contracts_hold():
    # setup.cfg's [importlinter] contracts: the layers, no solver importing the oracles, no cycles
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    result = subprocess.run([lint, "--no-cache"], cwd=REPOSITORY, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_module_is_longer_than_the_limit():
    lengths = {os.path.relpath(os.path.join(folder, name), PACKAGE): sum(1 for _ in open(os.path.join(folder, name)))
               for folder, _, files in os.walk(PACKAGE) for name in files if name.endswith(".py")}
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_one_rule_decides_when_kernels_run_on_all_threads():
    # fpdiff._parallel.use_parallel is the only threshold: no other module keeps one of its own
    own = re.compile(r"^\s*PARALLEL\w*\s*=|>=?\s*PARALLEL|parallel\s*=\s*\w+\s*>", re.MULTILINE)
    found = {os.path.relpath(os.path.join(folder, name), PACKAGE)
             for folder, _, files in os.walk(PACKAGE) for name in files
             if name.endswith(".py") and own.search(open(os.path.join(folder, name)).read())}
    assert found == {"_parallel.py"}
