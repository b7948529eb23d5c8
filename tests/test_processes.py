"""Tests of fpdiff.processes against independent references.

alpha(t) and v(t) are checked against a numerical solution of their ODEs,
whose coefficients beta(t), sigma(t) are written here from the papers'
definitions (not taken from the code under test).
"""

import json
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import fpdiff as fd
from fpdiff.errors import InputError
from fpdiff.processes import OU, VE, VP, Brownian, process_from_dict


def _ve_sigma(t, smin, smax):
    # Song et al. (2021) eq. (30): dX = sqrt(d[s(t)^2]/dt) dW with s(t) = smin (smax/smin)^t
    s = smin * (smax / smin) ** t
    return math.sqrt(2 * s * s * math.log(smax / smin))


# (process, beta(t), sigma(t)) with the coefficients written from the definitions
CASES = [
    (OU(1.0, math.sqrt(2)), lambda t: 1.0, lambda t: math.sqrt(2)),
    (OU(0.5, 1.3), lambda t: 0.5, lambda t: 1.3),
    # Song et al. (2021) eq. (32): beta = b(t)/2, sigma = sqrt(b(t)), b linear from 0.1 to 20
    (VP(0.1, 20.0), lambda t: 0.5 * (0.1 + 19.9 * t), lambda t: math.sqrt(0.1 + 19.9 * t)),
    (VE(0.01, 50.0), lambda t: 0.0, lambda t: _ve_sigma(t, 0.01, 50.0)),
    (Brownian(0.7), lambda t: 0.0, lambda t: 0.7),
]
IDS = ["OU(1,sqrt2)", "OU(0.5,1.3)", "VP", "VE", "Brownian"]
TIMES = np.array([0.01, 0.1, 0.3, 0.55, 0.8, 1.0])


def _solve_alpha_variance(beta, sigma, s, times):
    """Integrate d alpha/dt = -beta alpha, dv/dt = -2 beta v + sigma^2 from alpha(s)=1, v(s)=0."""

    def rhs(t, y):
        b = beta(t)
        return [-b * y[0], -2 * b * y[1] + sigma(t) ** 2]

    sol = solve_ivp(rhs, (s, times[-1]), [1.0, 0.0], method="DOP853", t_eval=times, rtol=1e-10, atol=1e-14)
    assert sol.success
    return sol.y[0], sol.y[1]


@pytest.mark.parametrize("process, beta, sigma", CASES, ids=IDS)
def test_coefficients_match_definitions(process, beta, sigma):
    for t in TIMES:
        assert process.drift_rate(t) == pytest.approx(beta(t), rel=1e-13, abs=1e-15)
        assert process.diffusion(t) == pytest.approx(sigma(t), rel=1e-13, abs=0)


@pytest.mark.parametrize("process, beta, sigma", CASES, ids=IDS)
def test_alpha_and_variance_solve_their_odes(process, beta, sigma):
    alpha_ref, var_ref = _solve_alpha_variance(beta, sigma, 0.0, TIMES)
    # the ODE solver runs at rtol 1e-10; 1e-8 leaves room for its accumulated error
    np.testing.assert_allclose(process.alpha(TIMES), alpha_ref, rtol=1e-8)
    np.testing.assert_allclose(process.variance(TIMES), var_ref, rtol=1e-8)
    assert process.alpha(0.0) == 1.0
    assert process.variance(0.0) == 0.0


@pytest.mark.parametrize("process, beta, sigma", CASES, ids=IDS)
def test_transition_between_times(process, beta, sigma):
    s = 0.3
    times = TIMES[TIMES > s]
    a_ref, w_ref = _solve_alpha_variance(beta, sigma, s, times)
    for t, a_expected, w_expected in zip(times, a_ref, w_ref):
        a, w = process.transition(s, t)
        assert a == pytest.approx(a_expected, rel=1e-8, abs=0)
        assert w == pytest.approx(w_expected, rel=1e-8, abs=0)
        # composing 0 -> s -> t gives the law 0 -> t
        a1, w1 = process.transition(0.0, s)
        assert a1 * a == pytest.approx(process.alpha(t), rel=1e-13, abs=0)
        assert a * a * w1 + w == pytest.approx(process.variance(t), rel=1e-12, abs=0)


@pytest.mark.parametrize("process, beta, sigma", CASES, ids=IDS)
def test_drift_is_minus_rate_times_x(process, beta, sigma, rng):
    x = rng.normal(size=(7, 3))
    for t in (0.0, 0.4, 1.0):
        np.testing.assert_allclose(process.drift(x, t), -beta(t) * x, rtol=1e-13, atol=0)


@pytest.mark.parametrize("process", [c[0] for c in CASES], ids=IDS)
@pytest.mark.parametrize("t", [0.2, 1.0])
def test_sample_transition_moments(process, t):
    n = 200_000
    x0 = np.tile([1.5, -0.5], (n, 1))
    samples = process.sample_transition(x0, t, seed=123)
    assert samples.shape == (n, 2)
    alpha, v = float(process.alpha(t)), float(process.variance(t))
    # 5 standard errors: a false alarm has probability ~6e-7 per check (and the seed is fixed)
    mean_se = math.sqrt(v / n)
    np.testing.assert_allclose(samples.mean(axis=0), alpha * x0[0], rtol=0, atol=5 * mean_se)
    var_se = v * math.sqrt(2 / (n - 1))  # standard error of the sample variance of a Gaussian
    np.testing.assert_allclose(samples.var(axis=0, ddof=1), v, rtol=0, atol=5 * var_se)
    # the two coordinates are independent: sample correlation has standard error 1/sqrt(n)
    corr = np.corrcoef(samples.T)[0, 1]
    assert abs(corr) < 5 / math.sqrt(n)


@pytest.mark.parametrize("process", [c[0] for c in CASES], ids=IDS)
def test_sample_transition_reproducible(process, rng):
    x0 = rng.normal(size=(100, 2))
    a = process.sample_transition(x0, 0.5, seed=7)
    b = process.sample_transition(x0, 0.5, seed=7)
    c = process.sample_transition(x0, 0.5, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(process.sample_transition(x0, 0.0, seed=1), x0)


@pytest.mark.parametrize(
    "process, variance",
    [
        (OU(1.0, math.sqrt(2)), 1.0),
        (OU(0.5, 1.3), 1.3**2 / (2 * 0.5)),
        (VP(0.1, 20.0), 1.0),
        (VE(0.01, 50.0), 50.0**2 - 0.01**2),  # v(1) = s(1)^2 - s(0)^2
        (Brownian(0.7), 0.49),  # v(1) = sigma^2 * 1
    ],
    ids=IDS,
)
def test_prior(process, variance):
    prior = process.prior(1.0, dim=2)
    assert prior.dim == 2
    assert prior.n_components == 1
    np.testing.assert_array_equal(prior.means, np.zeros((1, 2)))
    np.testing.assert_allclose(prior.covariances[0], variance * np.eye(2), rtol=1e-12)
    np.testing.assert_allclose(prior.covariance(), variance * np.eye(2), rtol=1e-12)


@pytest.mark.parametrize("process", [c[0] for c in CASES], ids=IDS)
def test_dict_round_trip(process):
    description = json.loads(json.dumps(process.to_dict()))
    rebuilt = process_from_dict(description)
    assert rebuilt == process
    assert type(rebuilt) is type(process)
    np.testing.assert_array_equal(rebuilt.variance(TIMES), process.variance(TIMES))


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: OU(beta=0.0), "beta"),
        (lambda: OU(beta=-1.0), "beta"),
        (lambda: OU(beta=float("nan")), "beta"),
        (lambda: OU(beta="1.0"), "beta"),
        (lambda: OU(beta=True), "beta"),
        (lambda: OU(sigma=float("inf")), "sigma"),
        (lambda: OU(sigma=0.0), "sigma"),
        (lambda: VP(beta_min=0.0), "beta_min"),
        (lambda: VP(beta_max=float("nan")), "beta_max"),
        (lambda: VE(sigma_min=1.0, sigma_max=0.5), "sigma_max"),
        (lambda: VE(sigma_min=1.0, sigma_max=1.0), "sigma_max"),
        (lambda: VE(sigma_min=-0.1), "sigma_min"),
        (lambda: Brownian(sigma="x"), "sigma"),
        (lambda: process_from_dict({"kind": "Heat", "beta": 1.0}), "kind"),
        (lambda: process_from_dict({"beta": 1.0}), "kind"),
    ],
)
def test_bad_inputs_raise_input_error_naming_the_argument(make, name):
    with pytest.raises(InputError, match=f"`{name}`"):
        make()


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError):
        OU(beta=-1.0)


# ------------------------------------------------------------------ absurd parameters (issue: silent wrong answers)


@pytest.mark.parametrize("make, message", [
    (lambda: fd.VP(beta_min=20, beta_max=0.1), r"`beta_max` must be >= `beta_min`"),
    (lambda: fd.VE(sigma_max=1e300), r"unusable variance v\(t\) = inf"),
    (lambda: fd.OU(sigma=1e200), r"unusable variance"),
    (lambda: fd.Brownian(sigma=1e200), r"variance v\(t\) overflows"),
    (lambda: fd.VP(beta_min=0.1, beta_max=1e308), r"unusable alpha\(t\) = 0.0"),
])
def test_processes_refuse_parameters_whose_coefficients_are_not_finite(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_extreme_but_finite_parameters_stay_accepted():
    # a constant VP rate, a huge VE ratio with finite variance, a slow OU: all have finite, positive coefficients
    assert fd.VP(beta_min=5.0, beta_max=5.0).alpha(1.0) == pytest.approx(math.exp(-2.5))
    assert np.isfinite(fd.VE(sigma_min=1e-3, sigma_max=1e100).variance(1.0))
    assert fd.OU(beta=1e-300).variance(1.0) == pytest.approx(2.0)
