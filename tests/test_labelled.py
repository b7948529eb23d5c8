"""Labelled results (fpdiff.labelled): solutions as xarray objects, results files that xarray opens with coordinates.

The coordinates are checked against where the numbers came from (the grid's
centres, the saved times, the table's gammas), and the results file still
holds no global heap and reads back with fpdiff's own reader.
"""

import json

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.app.demo import DEMO
from fpdiff.app.experiment import experiment_from_dict
from fpdiff.app.files import read_results
from fpdiff.app.runner import run_experiment

from test_runner_files import TINY, assert_fixed_strings_and_checksums, experiment

xarray = pytest.importorskip("xarray")
pytest.importorskip("h5netcdf")

PROCESS = fd.OU()
P0 = fd.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [0.09, 0.16])


def test_density_solution_to_xarray():
    grid = fd.Grid([(-4.0, 4.0), (-3.0, 3.0)], [16, 12])
    p0 = fd.GaussianMixture([1.0], [[0.0, 0.0]], [0.5])
    solution = fd.solve_forward(PROCESS, grid, p0, T=0.5, save_at=[0.0, 0.25, 0.5])
    array = solution.to_xarray()
    assert array.dims == ("t", "x_0", "x_1") and array.name == "density"
    np.testing.assert_array_equal(array.values, solution.values)
    np.testing.assert_array_equal(array["t"], solution.t)
    np.testing.assert_array_equal(array["x_0"], grid.centers[0])
    np.testing.assert_array_equal(array["x_1"], grid.centers[1])
    # selecting by label gives the snapshot DensitySolution.at gives
    np.testing.assert_array_equal(array.sel(t=0.25).values, solution.at(0.25))
    assert array.attrs["method"] == solution.diagnostics["method"]
    assert array.attrs["steps"] == solution.diagnostics["steps"]
    assert json.loads(array.attrs["process"]) == PROCESS.to_dict()
    assert json.loads(array.attrs["grid_cells"]) == [16, 12]
    assert json.loads(array.attrs["grid_boundary"]) == list(grid.boundary)
    # the mass from the labelled array: sum over the cells times the cell volume
    mass = (array * grid.cell_volume).sum(("x_0", "x_1"))
    np.testing.assert_allclose(mass.values, solution.mass(), rtol=1e-13)


def test_labelled_solutions_save_to_netcdf_and_read_back(tmp_path):
    """Every attribute is one netCDF holds: the arrays save with xarray and reopen unchanged."""
    grid = fd.Grid([(-4.0, 4.0)], 40)
    density = fd.solve_forward(PROCESS, grid, P0, T=0.5, save_at=[0.0, 0.5]).to_xarray()
    samples = fd.sample_reverse(PROCESS, fd.ExactScore(PROCESS, P0), 50, T=1.0, t_min=0.01, steps=10,
                                save_at=[1.0, 0.01]).to_xarray()
    for array in (density, samples):
        path = tmp_path / f"{array.name}.nc"
        array.to_netcdf(path, engine="h5netcdf")
        with xarray.open_dataarray(path, engine="h5netcdf") as back:
            xarray.testing.assert_identical(back.load(), array)


def test_comoving_solution_to_xarray_has_moving_coordinates():
    process = fd.VE(sigma_min=0.01, sigma_max=20.0)
    grid = fd.Grid([(-5.0, 5.0)], 80)
    T = 1.0
    solution = fd.solve_reverse(process, grid, fd.ExactScore(process, P0), T, q0=P0.evolve(process, T),
                                t_min=0.05, comoving=True, save_at=[T, 0.5, 0.05])
    array = solution.to_xarray()
    assert array.dims == ("t", "z_0")
    for k, t in enumerate(solution.t):
        np.testing.assert_allclose(array["x_0"].values[k], solution.grid_at(t).centers[0], rtol=1e-14)


def test_particle_solution_to_xarray():
    score = fd.ExactScore(PROCESS, P0)
    solution = fd.sample_reverse(PROCESS, score, 300, T=1.0, t_min=0.01, steps=20, save_at=[1.0, 0.5, 0.01],
                                 seed=3)
    array = solution.to_xarray()
    assert array.dims == ("t", "particle", "axis") and array.shape == (3, 300, 1)
    np.testing.assert_array_equal(array.sel(t=0.01).values, solution.at(0.01))
    np.testing.assert_array_equal(array["particle"], np.arange(300))
    assert array.attrs["seed"] == 3 and array.attrs["scheme"] == solution.diagnostics["scheme"]


def test_xarray_is_imported_only_when_asked_for():
    import subprocess
    import sys
    code = "import sys, fpdiff, fpdiff.labelled, fpdiff.app.runner; print('xarray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def check_run_group(path, group, grid_edges, rows, run_arrays):
    """The groups of one run (root, or a sweep's ``point/k``) open in xarray with their coordinates."""
    prefix = f"{group}/" if group else ""
    grid = xarray.open_dataset(path, engine="h5netcdf", group=f"{prefix}grid")
    centres = 0.5 * (grid_edges[0][1:] + grid_edges[0][:-1])
    np.testing.assert_array_equal(grid["x_0"], centres)
    assert grid["exact"].dims == ("x_0",)
    np.testing.assert_array_equal(grid["exact"], run_arrays["exact"])
    for i, arrays in enumerate(run_arrays["gamma"]):
        labelled = xarray.open_dataset(path, engine="h5netcdf", group=f"{prefix}gamma/{i}")
        if "density" in arrays:
            assert labelled["density"].dims == ("x_0",)
            np.testing.assert_array_equal(labelled["x_0"], centres)
            np.testing.assert_array_equal(labelled["density"], arrays["density"])
        if "samples" in arrays:
            assert labelled["samples"].dims == ("particle", "axis")
            np.testing.assert_array_equal(labelled["samples"], arrays["samples"])


def test_results_file_of_a_run_opens_in_xarray_with_coordinates(tmp_path):
    path = run_experiment(experiment(tmp_path, views={"particles": 200}), progress=False)
    config, rows, arrays = read_results(path)  # fpdiff's reader still reads it
    table = xarray.open_dataset(path, engine="h5netcdf", group="table")
    np.testing.assert_array_equal(table["gamma"], TINY["reverse"]["gammas"])
    assert table["l1"].dims == ("gamma",)
    np.testing.assert_array_equal(table["l1"].sel(gamma=1.0), rows[1]["l1"])
    check_run_group(path, "", arrays["edges"], rows, arrays)
    tree = xarray.open_datatree(path, engine="h5netcdf")  # every group opens
    assert json.loads(tree.attrs["experiment"]) == config
    assert_fixed_strings_and_checksums(path)  # the labels add no global heap and no unchecked dataset


def test_results_file_of_the_demo_opens_in_xarray(tmp_path):
    # the demo's experiment (fpdiff.app.demo.DEMO) written as `fpdiff demo` writes it, with fewer particles
    config = dict(DEMO, grid={"bounds": [[-10.0, 10.0]], "cells": [200]}, time=dict(DEMO["time"], particle_steps=20),
                  views=dict(DEMO["views"], particles=500), output={"folder": str(tmp_path / "demo")})
    path = run_experiment(experiment_from_dict(config), progress=False)
    _, rows, arrays = read_results(path)
    table = xarray.open_dataset(path, engine="h5netcdf", group="table")
    np.testing.assert_array_equal(table["gamma"], DEMO["reverse"]["gammas"])
    check_run_group(path, "", arrays["edges"], rows, arrays)


def test_results_file_of_a_sweep_opens_in_xarray(tmp_path):
    run = experiment(tmp_path, folder="sweep", sweep={"time.t_min": [0.05, 0.1]})
    path = run_experiment(run, progress=False)
    _, rows, arrays = read_results(path)
    sweep = xarray.open_dataset(path, engine="h5netcdf", group="sweep")
    np.testing.assert_array_equal(sweep["point"], [0, 1])
    np.testing.assert_array_equal(sweep["time.t_min"], [0.05, 0.1])
    table = xarray.open_dataset(path, engine="h5netcdf", group="table")
    np.testing.assert_array_equal(table["point"], [row["point"] for row in rows])
    for k, point in enumerate(arrays["points"]):
        check_run_group(path, f"point/{k}", point["edges"], rows, point)
    xarray.open_datatree(path, engine="h5netcdf")
    assert_fixed_strings_and_checksums(path)

