"""Packaging: what ``pip install .`` installs is the whole package."""

import os

import fpdiff

PACKAGE = os.path.dirname(os.path.abspath(fpdiff.__file__))


def test_every_folder_of_modules_is_a_package():
    # setuptools' find_packages skips a folder without __init__.py: a non-editable install (CI's) would lack it
    missing = [os.path.relpath(folder, PACKAGE) for folder, _, files in os.walk(PACKAGE)
               if "__pycache__" not in folder and any(f.endswith(".py") for f in files)
               and "__init__.py" not in files]
    assert missing == []
