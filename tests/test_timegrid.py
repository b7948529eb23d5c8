"""Named time grids: endpoints, monotonicity, equal steps in their variable, and the one-step case."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.timegrid import TIME_GRIDS, make_time_grid

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
