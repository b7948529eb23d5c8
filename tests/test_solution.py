"""The results of every solver share one base (fpdiff.solution.Result): times, diagnostics, a one-line repr."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.homogeneous import HomogeneousScore, sample_homogeneous
from fpdiff.solution import Result

OU = fd.OU()
MIXTURE = fd.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [0.2, 0.3])
GRID = fd.Grid([(-6, 6)], 60)
SCORE = fd.ExactScore(OU, MIXTURE)
POINTS = np.array([[-1.0, 0.0], [0.0, 1.0], [1.5, -0.5]])
HOMOGENEOUS = HomogeneousScore(fd.Brownian(1.0), POINTS, 1.0)

#: one small run of each solver
RUNS = {
    "solve_forward": lambda: fd.solve_forward(OU, GRID, MIXTURE, 0.5, steps=4),
    "solve_reverse": lambda: fd.solve_reverse(OU, GRID, SCORE, 0.5, t_min=0.05, steps=4),
    # from OU's stationary law, which the ill-posed naive reversal keeps
    "solve_naive_reversal": lambda: fd.solve_naive_reversal(OU, GRID, fd.GaussianMixture([1.0], [[0.0]], [1.0]), 0.5,
                                                            t_min=0.45, steps=4),
    "sample_reverse": lambda: fd.sample_reverse(OU, SCORE, 50, 0.5, t_min=0.05, steps=4),
    "sample_forward": lambda: fd.sample_forward(OU, MIXTURE.sample(50, seed=1), 0.5),
    "simulate": lambda: fd.simulate(fd.forward_dynamics(OU, 0.5), MIXTURE.sample(50, seed=1), steps=4),
    "sample_langevin": lambda: fd.sample_langevin(MIXTURE, MIXTURE.sample(50, seed=1), 0.01, 4),
    "sample_homogeneous": lambda: sample_homogeneous(fd.Brownian(1.0), HOMOGENEOUS, np.zeros((40, 2)), stop=0.05,
                                                     seed=3),
}


def _documented_keys():
    """The ``key`` names of Result's docstring (its table of what each solver writes)."""
    return set(Result.__doc__.replace("``", "`").split("`")[1::2])


@pytest.mark.parametrize("solver", RUNS)
def test_every_result_is_a_result_and_documents_its_diagnostics(solver):
    result = RUNS[solver]()
    assert isinstance(result, Result)
    assert solver in Result.__doc__
    assert "wall_time" in result.diagnostics
    assert ("steps" in result.diagnostics) == (solver != "sample_homogeneous")
    assert set(result.diagnostics) <= _documented_keys()
    assert repr(result).startswith(f"{type(result).__name__}(") and "\n" not in repr(result)


def test_homogeneous_sample_times_are_the_stopping_times_of_its_paths():
    result = sample_homogeneous(fd.Brownian(1.0), HOMOGENEOUS, np.zeros((40, 2)), stop=0.05, seed=3)
    assert result.t is result.times and result.t.shape == (40,)
    assert np.all(result.t > 0) and np.all(result.steps >= 1)
    assert f"t=[{result.t.min():g} .. {result.t.max():g}] (per path)" in repr(result)


def test_a_subclass_repr_names_the_subclass():
    solution = fd.solve_forward(fd.VE(sigma_max=5.0), GRID, MIXTURE, 0.5, steps=4, comoving=True)
    assert type(solution).__name__ == "ComovingDensitySolution"
    assert repr(solution).startswith("ComovingDensitySolution(grid=") and "method='trbdf2'" in repr(solution)
