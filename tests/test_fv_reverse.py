"""The gamma-family reverse Fokker–Planck solver against exact solutions and theory."""

import math
import warnings

import numpy as np
import pytest
from scipy.special import ndtr

import fpdiff as fd
from fpdiff.metrics import observed_order
from fpdiff import theory, timegrid
from fpdiff.fv.naive import solve_naive_reversal

OU = fd.OU(beta=1.0, sigma=2**0.5)
MIXTURE_1D = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.3**2, 0.5**2])
MIXTURE_2D = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.5**2, 0.6**2], [0.7**2, 0.5**2]])
T, T_MIN = 1.0, 1e-3


def reverse_error(process, p0, grid, gamma, steps=None, **kwargs):
    """L1 distance at t_min between the reverse solve from the exact p_T and the exact p_{t_min}."""
    solution = fd.solve_reverse(process, grid, fd.ExactScore(process, p0), T, q0=p0.evolve(process, T),
                                gamma=gamma, t_min=T_MIN, steps=steps, **kwargs)
    exact = p0.evolve(process, T_MIN).cell_average(grid)
    return grid.integrate(np.abs(solution.final - exact))


# gamma > 0: SG fluxes with TR-BDF2; gamma = 0: the semi-Lagrangian remap (tests/test_ffsl.py): second order
REQUIRED_ORDER = {0.0: 1.8, 0.5: 1.8, 1.0: 1.8, 2.0: 1.8}


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_reverse_order_1d_ou(gamma):
    cells = [100, 200, 400, 800]
    errors = [reverse_error(OU, MIXTURE_1D, fd.Grid([(-10, 10)], n), gamma, steps=None if gamma == 0 else n // 2)
              for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= REQUIRED_ORDER[gamma], errors


@pytest.mark.parametrize(
    "process, bounds",
    [(fd.VP(beta_min=0.1, beta_max=20.0), (-6.0, 6.0)), (fd.VE(sigma_min=0.01, sigma_max=3.0), (-14.0, 14.0))],
    ids=["VP", "VE"],
)
@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_reverse_order_1d_vp_ve(process, bounds, gamma):
    cells = [100, 200, 400, 800]
    errors = [reverse_error(process, MIXTURE_1D, fd.Grid([bounds], n), gamma, steps=None if gamma == 0 else n // 2)
              for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= REQUIRED_ORDER[gamma], errors


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_reverse_order_2d_ou(gamma):
    cells = [32, 64, 128]
    errors = [reverse_error(OU, MIXTURE_2D, fd.Grid([(-6, 6)] * 2, n), gamma, steps=None if gamma == 0 else n // 2)
              for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= REQUIRED_ORDER[gamma], errors


@pytest.mark.slow
def test_reverse_order_2d_ou_gamma_half():
    # cell Peclet numbers ~4 at 128^2 keep gamma = 1/2 pre-asymptotic (order 1.74 over 32..128); 64..256 is not
    cells = [64, 128, 256]
    errors = [reverse_error(OU, MIXTURE_2D, fd.Grid([(-6, 6)] * 2, n), 0.5, steps=n // 2) for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= 1.8, errors


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
def test_mass_conserved_and_non_negative(gamma):
    grid = fd.Grid([(-6, 6)] * 2, 40)
    solution = fd.solve_reverse(OU, grid, fd.ExactScore(OU, MIXTURE_2D), T, gamma=gamma,
                                save_at=np.linspace(T_MIN, T, 6))
    np.testing.assert_allclose(solution.mass(), solution.mass()[0], rtol=1e-12)
    assert solution.values.min() >= -1e-10 * solution.values.max()
    np.testing.assert_allclose(solution.t, np.linspace(T_MIN, T, 6)[::-1])  # forward labels, descending


def test_prior_start_matches_theory_for_gamma_one_only():
    # OU from the prior N(0, 1) instead of p_T at T = 1 (large mismatch): gamma = 1 converges to
    # theory.reverse_output_density; gamma = 2 converges to something else
    distances = {1.0: [], 2.0: []}
    cells = [100, 200, 400]
    for n in cells:
        grid = fd.Grid([(-8, 8)], n)
        expected = theory.reverse_output_density(OU, MIXTURE_1D, OU.prior(T), T, T_MIN, grid)
        for gamma in distances:
            solution = fd.solve_reverse(OU, grid, fd.ExactScore(OU, MIXTURE_1D), T, gamma=gamma, t_min=T_MIN,
                                        steps=n // 2)
            distances[gamma].append(grid.integrate(np.abs(solution.final - expected)))
    assert observed_order(1 / np.asarray(cells), distances[1.0]) >= 1.8, distances
    assert distances[1.0][-1] < 2e-3
    assert min(distances[2.0]) > 20 * distances[1.0][-1], distances


def test_discrete_round_trip_with_grid_score():
    # forward solve, GridScore from its snapshots, reverse on the same grid and times: p(t_min) comes back
    differences, cells = [], [100, 200, 400]
    for n in cells:
        grid = fd.Grid([(-8, 8)], n)
        steps = n // 2
        times = timegrid.uniform(T, T_MIN, steps)
        forward = fd.solve_forward(OU, grid, MIXTURE_1D.evolve(OU, T_MIN), T - T_MIN, steps=steps,
                                   save_at=T - times)
        # relabel the forward snapshots with the times they represent (the forward run starts at t_min)
        shifted = fd.DensitySolution(grid, forward.t + T_MIN, forward.values, forward.diagnostics)
        reverse = fd.solve_reverse(OU, grid, fd.GridScore(shifted, process=OU), T, q0=forward.final, gamma=1.0,
                                   t_min=T_MIN, time_grid=times)
        differences.append(grid.integrate(np.abs(reverse.final - forward.values[0])))
    assert observed_order(1 / np.asarray(cells), differences) >= 1.5, differences
    assert differences[-1] < 5e-3


def test_memorisation_with_the_empirical_score():
    # exact reverse diffusion with the kernel score of 5 points collapses onto them as t_min -> 0;
    # the fraction near the points is compared with the exact law (the point cloud evolved to t_min)
    points = np.array([[-2.1], [-0.7], [0.3], [1.2], [2.5]])
    score = fd.EmpiricalScore(OU, points)
    grid = fd.Grid([(-5, 5)], 1000)
    near = np.min(np.abs(grid.centers[0][:, None] - points[:, 0]), axis=1) <= 3 * grid.spacing[0]
    fractions = []
    for t_min in [1e-1, 1e-2, 1e-3, 1e-4]:
        q0 = fd.Empirical(points).evolve(OU, T)
        solution = fd.solve_reverse(OU, grid, score, T, q0=q0, t_min=t_min, steps=200, time_grid="geometric")
        fractions.append(grid.integrate(solution.final * near))
        exact = grid.integrate(fd.Empirical(points).evolve(OU, t_min).cell_average(grid) * near)
        assert fractions[-1] == pytest.approx(exact, abs=0.02)
    print("fraction within 3 cells of the training points vs t_min:", fractions)
    assert np.all(np.diff(fractions) > 0) and fractions[-1] > 0.95


@pytest.mark.parametrize("name", timegrid.TIME_GRIDS)
def test_time_grids_give_the_same_answer(name):
    grid = fd.Grid([(-10, 10)], 200)
    error = reverse_error(OU, MIXTURE_1D, grid, 1.0, steps=100, time_grid=name)
    assert error < 1.1 * reverse_error(OU, MIXTURE_1D, grid, 1.0, steps=2000)


def test_gamma_as_a_function_of_time():
    # any gamma(t) >= 0 recovers p_0 with the exact score: second-order convergence as for constants
    cells = [200, 400, 800]
    errors = [reverse_error(OU, MIXTURE_1D, fd.Grid([(-10, 10)], n), lambda t: 0.5 + t, steps=n // 2)
              for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= 1.8, errors


def test_naive_reversal_blows_up_loudly():
    grid = fd.Grid([(-10, 10)], 200)
    with pytest.raises(fd.BlowUpError, match=r"naive reversal blew up.* t = 0\.9") as caught:
        solve_naive_reversal(OU, grid, MIXTURE_1D.evolve(OU, T), T, t_min=T_MIN, steps=100)
    # the time is also an attribute, on the naive reversal's step grid (steps of (T - t_min) / 100)
    steps_done = (T - caught.value.t) / ((T - T_MIN) / 100)
    assert f"t = {caught.value.t:.6g}" in str(caught.value) and steps_done == pytest.approx(round(steps_done))


def test_non_finite_score_raises_with_its_time():
    def score(x, t):
        return np.where(t < 0.5, np.nan, -x)

    with pytest.raises(fd.BlowUpError, match=r"drift is not finite .* at t = 0\.4"):
        fd.solve_reverse(OU, fd.Grid([(-5, 5)], 50), score, T, steps=10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t_min": 0.0}, "`t_min` must be > 0"),
        ({"t_min": 2.0}, "`t_min` must be < `T`"),
        ({"gamma": -1.0}, "`gamma` must be >= 0"),
        ({"score": "exact"}, "`score` must be an fpdiff score"),
        ({"score": fd.ExactScore(OU, MIXTURE_2D)}, "dimension 2 but the problem has 1"),
        ({"q0": np.ones(7)}, r"`q0` must have shape \(50,\)"),
        ({"time_grid": "cosine"}, "`time_grid` must be one of"),
        ({"time_grid": [1.0, 0.5, 0.6, 1e-3]}, "strictly decreasing"),
        ({"flux": "central"}, "`flux` must be one of"),
        ({"flux": "muscl", "method": "be"}, "needs an explicit method"),
        ({"save_at": [0.0]}, "`save_at` must be times in"),
        ({"adaptive": True}, "unknown option"),
    ],
)
def test_bad_reverse_input(kwargs, match):
    arguments = {"process": OU, "grid": fd.Grid([(-5, 5)], 50), "score": fd.ExactScore(OU, MIXTURE_1D), "T": T}
    arguments.update(kwargs)
    with pytest.raises(fd.InputError, match=match):
        fd.solve_reverse(**arguments)


def test_time_outside_the_score_range_is_an_error():
    grid = fd.Grid([(-8, 8)], 100)
    forward = fd.solve_forward(OU, grid, MIXTURE_1D, 0.5, steps=10, save_at=[0.1, 0.5])
    with pytest.raises(fd.InputError, match="outside the range"):
        fd.solve_reverse(OU, grid, fd.GridScore(forward), 0.5, t_min=1e-3, steps=10)


def test_adaptive_steps_control_the_time_error():
    # step doubling: the time error (against a 4000-step reference on the same grid) tracks rtol
    grid = fd.Grid([(-10, 10)], 400)
    score, q0 = fd.ExactScore(OU, MIXTURE_1D), MIXTURE_1D.evolve(OU, T)
    reference = fd.solve_reverse(OU, grid, score, T, q0=q0, steps=4000).final
    errors = []
    for rtol in [1e-3, 1e-4, 1e-5]:
        solution = fd.solve_reverse(OU, grid, score, T, q0=q0, steps=5, rtol=rtol)
        errors.append(grid.integrate(np.abs(solution.final - reference)))
        assert errors[-1] < rtol
    assert errors[0] > 5 * errors[-1]


# ------------------------------------------------------------------ reliability


@pytest.mark.parametrize("method", ["trbdf2", "be", "cn"])
@pytest.mark.parametrize("T_start", [3.0, 2.7])
def test_a_reverse_solve_ends_exactly_at_a_tables_first_time(method, T_start):
    # T - (T - t_min) rounds below t_min = 0.03 for these T: the last stage time must still be t_min exactly
    assert T_start - (T_start - 0.03) < 0.03
    table = fd.tabulate_score(fd.ExactScore(OU, MIXTURE_1D), np.geomspace(0.03, 3.0, 200),
                              [np.linspace(-8.0, 8.0, 101)])
    grid = fd.Grid([(-8, 8)], 100)
    solution = fd.solve_reverse(OU, grid, table, T=T_start, t_min=0.03, steps=10, method=method)
    assert solution.t[-1] == 0.03 and solution.t[0] == T_start


def test_a_box_that_misses_the_prior_warns_and_reports_the_mass():
    # VE with sigma_max = 80 on [-4, 4]^2: the prior N(0, 6400 I) puts 0.16% of its mass in the box; the run "works"
    ve = fd.VE(sigma_max=80.0)
    mixture = fd.GaussianMixture([0.5, 0.5], [[-1.0, -1.0], [1.0, 1.0]], [0.05, 0.05])
    grid = fd.Grid([(-4, 4)] * 2, 32)
    with pytest.warns(fd.MassWarning, match=r"`q0` \(the process.s prior\) has only 0\.159% of its mass inside the box.*"
                                            r"comoving=True"):
        solution = fd.solve_reverse(ve, grid, fd.ExactScore(ve, mixture), T=1.0, steps=10)
    box = math.erf(4 / (80 * math.sqrt(2))) ** 2  # the prior's probability of the box, exactly
    assert solution.diagnostics["start_mass"] == pytest.approx(box, rel=1e-6)


def test_a_box_that_cuts_the_data_law_warns_and_w1_refuses_to_renormalise():
    grid = fd.Grid([(-8, -3)], 200)
    with pytest.warns(fd.MassWarning, match=r"`q0` has only 0\.\d+% of its mass inside the box; up to 100% of "
                                            r"the exact law at the end lies outside the box"):
        solution = fd.solve_reverse(OU, grid, fd.ExactScore(OU, MIXTURE_1D), T=T, t_min=0.01,
                                    q0=MIXTURE_1D.evolve(OU, T), steps=20)
    assert solution.diagnostics["end_law_outside"] > 0.99
    law = MIXTURE_1D.evolve(OU, 0.01)
    with pytest.raises(fd.InputError, match=r"`b` has mass 0\.0\d+ on the grid \[-8, -3\], not 1"):
        fd.metrics.w1(law.sample(1000, seed=0), law, grid)


def test_a_box_that_holds_the_law_stays_silent_and_absorbing_losses_are_counted():
    grid = fd.Grid([(-10, 10)], 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fd.MassWarning)
        solution = fd.solve_reverse(OU, grid, fd.ExactScore(OU, MIXTURE_1D), T=T, t_min=0.01, steps=20)
    assert solution.diagnostics["end_law_outside"] < 1e-10 and solution.diagnostics["boundary_outflow"] == 0.0
    assert solution.diagnostics["start_mass"] == pytest.approx(1.0, abs=1e-12)
    absorbing = fd.Grid([(-2.5, 2.5)], 100, boundary="absorbing")
    with pytest.warns(fd.MassWarning, match=r"left through the absorbing boundary"):
        lossy = fd.solve_reverse(OU, absorbing, fd.ExactScore(OU, MIXTURE_1D), T=T, t_min=0.01, steps=20,
                                 q0=MIXTURE_1D.evolve(OU, T))
    start, end = lossy.values[0], lossy.values[-1]
    lost = 1 - absorbing.integrate(end) / absorbing.integrate(start)
    assert lossy.diagnostics["boundary_outflow"] == pytest.approx(lost, rel=1e-12) and lost > 1e-3


def test_a_coarse_grid_whose_box_holds_the_law_stays_silent():
    # 10 cells on [-4, 4] for N(0, 1): the outer cells hold 0.14% of the mass, but the law is inside the box
    law = fd.GaussianMixture([1.0], [[0.0]], [0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error", fd.MassWarning)
        solution = fd.solve_reverse(OU, fd.Grid([(-4, 4)], 10), fd.ExactScore(OU, law), T=1.0, steps=10)
    exact = 2 * ndtr(-4 / math.sqrt(law.evolve(OU, 1e-3).covariances[0, 0, 0]))  # N(0, ~0.5) outside [-4, 4]
    assert solution.diagnostics["end_law_outside"] == pytest.approx(exact, rel=1e-10)


def test_the_end_law_bound_is_exact_along_one_axis_and_an_upper_bound_in_two():
    from fpdiff.fv.solve import law_outside_box

    law = fd.GaussianMixture([0.3, 0.7], [[0.0, 1.0], [1.0, -0.5]], [[1.0, 0.5], [0.3, 2.0]])
    grid = fd.Grid([(-2, 3), (-10, 10)], 4)  # the second axis holds the law: the bound is the first's marginal
    first = sum(w * (ndtr((-2 - m[0]) / np.sqrt(c[0, 0])) + ndtr((m[0] - 3) / np.sqrt(c[0, 0])))
                for w, m, c in zip(law.weights, law.means, law.covariances))
    assert law_outside_box(law, grid) == pytest.approx(first, rel=1e-9)
    tight = fd.Grid([(-2, 3), (-1, 1)], 4)  # both axes cut: at least the true mass outside (Monte Carlo, 1e6)
    x = law.sample(1_000_000, seed=0)
    outside = np.mean((x[:, 0] < -2) | (x[:, 0] > 3) | (x[:, 1] < -1) | (x[:, 1] > 1))
    assert law_outside_box(law, tight) >= outside


def test_both_views_default_to_the_same_time_grid():
    grid, score = fd.Grid([(-8, 8)], 40), fd.ExactScore(OU, MIXTURE_1D)
    density = fd.solve_reverse(OU, grid, score, T, steps=5)
    samples = fd.sample_reverse(OU, score, 100, T, steps=5)
    assert density.diagnostics["time_grid"] == samples.diagnostics["time_grid"] == "log-snr"
