"""Named time grids: endpoints, monotonicity, equal steps in their variable, the one-step case; merged save times."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.timegrid import TIME_GRIDS, make_time_grid, merge_save_times

PROCESSES = [fd.OU(), fd.VP(), fd.VE(), fd.Brownian()]


@pytest.mark.parametrize("name", TIME_GRIDS)
@pytest.mark.parametrize("process", PROCESSES, ids=repr)
@pytest.mark.parametrize("steps", [1, 2, 37])
def test_grids_run_from_T_down_to_t_min(name, process, steps):
    times = make_time_grid(name, process, 0.9, 1e-3, steps)
    assert len(times) == steps + 1
    assert times[0] == 0.9 and times[-1] == 1e-3
    assert np.all(np.diff(times) < 0)


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_log_snr_steps_are_equal_in_the_log_snr(process):
    times = make_time_grid("log-snr", process, 0.9, 1e-3, 25)
    snr = 2 * np.log(process.alpha(times)) - np.log(process.variance(times))
    np.testing.assert_allclose(np.diff(snr), (snr[-1] - snr[0]) / 25, rtol=1e-8)


# ------------------------------------------------------------ save times merged into the steps (both views)


def test_save_times_on_the_steps_keep_the_steps_exactly():
    # 0.3 is 0.30000000000000004 in the linspace: the step time stays, no zero-length step appears
    steps = np.linspace(0.0, 1.0, 11)
    merged, saved = merge_save_times(steps, [0.0, 0.3, 1.0])
    np.testing.assert_array_equal(merged, steps)
    assert np.flatnonzero(saved).tolist() == [0, 3, 10]


def test_save_times_between_steps_become_steps():
    merged, saved = merge_save_times(np.linspace(0.0, 1.0, 5), [0.1, 0.6, 0.6 + 1e-15, 1.0])
    np.testing.assert_array_equal(merged, [0.0, 0.1, 0.25, 0.5, 0.6, 0.75, 1.0])
    assert merged[saved].tolist() == [0.1, 0.6, 1.0]  # two save times within round-off of each other: one step


def test_decreasing_times_are_merged_as_their_mirror():
    # a reverse run's forward-time labels run from T down to t_min: the same merge, order kept
    steps = make_time_grid("log-snr", fd.OU(), 1.0, 1e-3, 7)
    save = [1.0, 0.5, steps[3], 1e-3]
    merged, saved = merge_save_times(steps, save)
    up, up_saved = merge_save_times(steps[::-1].copy(), save)
    np.testing.assert_array_equal(merged, up[::-1])
    np.testing.assert_array_equal(saved, up_saved[::-1])
    assert np.all(np.diff(merged) < 0) and len(merged) == len(steps) + 1
    assert set(steps) <= set(merged) and merged[saved].tolist() == [1.0, 0.5, steps[3], 1e-3]


def test_karras_grid_is_k_diffusion_get_sigmas_karras_without_its_zero():
    n, sigma_min, sigma_max, rho = 18, 0.002, 80.0, 7.0
    # k-diffusion's get_sigmas_karras(n + 1, sigma_min, sigma_max, rho), written out, without the appended zero
    ramp = np.linspace(0, 1, n + 1)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    expected = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    got = fd.timegrid.make_time_grid("karras", fd.EDM(), sigma_max, sigma_min, n)
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_diffusers_timesteps_are_those_of_lin_et_al_table_2():
    # Lin et al. (2024), "Common diffusion noise schedules and sample steps are flawed", Table 2: 1000 training
    # steps sampled with 10 (counted here from 0, as diffusers does; the paper counts from 1)
    leading = fd.timegrid.diffusers_timesteps(1000, 10, "leading")
    np.testing.assert_array_equal(leading, np.arange(900, -1, -100))
    np.testing.assert_array_equal(fd.timegrid.diffusers_timesteps(1000, 10, "leading", steps_offset=1),
                                  np.arange(901, 0, -100))
    np.testing.assert_array_equal(fd.timegrid.diffusers_timesteps(1000, 10, "trailing"), np.arange(999, 0, -100))
    np.testing.assert_array_equal(fd.timegrid.diffusers_timesteps(1000, 10, "linspace"), np.arange(999, -1, -111))
    grid = fd.timegrid.make_time_grid("diffusers-trailing", fd.LinearDiscrete(), None, None, 10, library=True)
    np.testing.assert_allclose(grid, np.concatenate([(np.arange(999, 0, -100) + 1) / 1000, [0.0]]), rtol=1e-15)
