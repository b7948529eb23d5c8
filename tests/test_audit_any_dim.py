"""fpdiff.audit in any dimension (d = 2 and d = 16): model scores, scores at points (the point layout), the command.

The references are independent of the audit's Monte Carlo: an exact score
written out in numpy, the closed-form moments of Gaussian laws, the
closed-form KL of the Gaussian output of a reverse SDE with an affine score
(its moments by an ODE solver), and the null spread of the realised
statistics (the same statistic between independent exact sample sets).
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import fpdiff as fd
from fpdiff.app.cli import main
from fpdiff.errors import InputError

PROCESS = fd.VP()
T, T_MIN = 1.0, 1e-3
VARIANCES = np.array([0.2, 0.35])
PARTICLES = 2000
#: exponential-integrator steps: with the exact score of a 16-D Gaussian the output's variance is 9% low at
#: 100 steps and 1.7% low at 400 (O(1/steps)); 400 keep the exact score's realised statistics inside their
#: Monte-Carlo spread
STEPS = 400


def mixture(dim):
    rng = np.random.default_rng(dim)
    return fd.GaussianMixture([0.3, 0.7], rng.normal(0.0, 1.0, (2, dim)), VARIANCES)


class NumpyMixtureScore(fd.Score):
    """A 'model': the exact score of an isotropic mixture, written in numpy (the Python path of the solvers)."""

    def __init__(self, dist0, process):
        self.law, self.process, self.dim = dist0, process, dist0.dim

    def _score(self, x, t):
        alpha, v = self.process.alpha(t), self.process.variance(t)
        means, spread = alpha * self.law.means, alpha * alpha * VARIANCES + v
        log_w = (np.log(self.law.weights) - 0.5 * self.dim * np.log(spread)
                 - 0.5 * np.sum((x[:, None, :] - means) ** 2, axis=2) / spread)
        r = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        return np.einsum("mk,mkd->md", r, (means - x[:, None, :]) / spread[:, None])


class AffinePerturbation(fd.Score):
    """``reference + c x``: a learned score off by an affine term."""

    def __init__(self, reference, c):
        self.reference, self.c = reference, c
        self.process, self.dim = reference.process, reference.dim

    def _score(self, x, t):
        return self.reference.score(x, t) + self.c * x


def run_audit(learned, reference, **options):
    return fd.audit(learned, reference, T=T, t_min=T_MIN, particles=PARTICLES, n_samples=PARTICLES,
                    particle_steps=STEPS, **options)


def null_spread(law, statistic, repeats=10):
    """Mean and standard deviation of ``statistic`` between independent exact sample sets of the audit's sizes."""
    values = [statistic(law.sample(PARTICLES, seed), law.sample(PARTICLES, seed + 1000)) for seed in range(repeats)]
    return np.mean(values), np.std(values, ddof=1)


def second_moment(dist0, times):
    """E|X_t|^2 of the isotropic mixture dist0 noised by PROCESS."""
    alpha, v = PROCESS.alpha(times), PROCESS.variance(times)
    means2 = np.sum(dist0.means**2, axis=1)
    per_component = alpha[:, None] ** 2 * (means2 + dist0.dim * VARIANCES) + dist0.dim * v[:, None]
    return per_component @ dist0.weights


# ------------------------------------------------------------------ a model score in d = 2 and d = 16


@pytest.mark.parametrize("dim", [2, 16])
def test_an_exact_model_score_sits_at_the_monte_carlo_floor(dim):
    law = mixture(dim)
    reference = fd.ExactScore(PROCESS, law)
    result = run_audit(NumpyMixtureScore(law, PROCESS), reference)
    # the numpy score is the kernel's up to round-off: every score error is round-off
    assert np.all(result.score_error <= 1e-20 * result.reference_norm)
    assert abs(result.dsm.integral) < 1e-20 and abs(result.girsanov.integral) < 1e-18
    p_min = law.evolve(PROCESS, T_MIN)
    view = result.particles
    for key, statistic in (("energy", fd.metrics.energy_distance), ("w1", fd.metrics.sliced_w)):
        mean, sd = null_spread(p_min, statistic)
        # the realised statistic of the model's samples against exact samples, and the audit's own floor, both
        # inside the spread of that statistic between independent exact sample sets (4 sd)
        assert abs(view.learned[key] - mean) < 4 * sd, key
        assert abs(view.floor[key] - mean) < 4 * sd, key
    assert result.settings["dim"] == dim and "DSM-weighted (lambda(t) = v_t)" in result.summary()
    assert "energy dist." in result.summary()


def test_a_shifted_mixture_in_two_dimensions_shows_errors_that_grow_with_the_shift():
    law = mixture(2)
    reference = fd.ExactScore(PROCESS, law)
    energy_mean, energy_sd = null_spread(law.evolve(PROCESS, T_MIN), fd.metrics.energy_distance)
    rows = []
    for shift in (0.1, 0.2, 0.4):
        shifted = fd.GaussianMixture(law.weights, law.means + shift, VARIANCES)
        result = run_audit(fd.ExactScore(PROCESS, shifted), reference)
        rows.append([np.mean(result.score_error), result.dsm.integral, result.girsanov.integral,
                     result.particles.learned["w1"], result.particles.learned["energy"]])
        # each a real discrepancy: the DSM integral many standard errors from 0, the energy distance above its floor
        assert result.dsm.integral > 10 * result.dsm.integral_stderr
        assert result.particles.learned["energy"] > energy_mean + 4 * energy_sd
    assert np.all(np.diff(np.array(rows), axis=0) > 0)  # every number grows with the shift


# ------------------------------------------------------------------ an affine perturbation: closed forms


def gaussian_reverse_output(mean0, variance0, c, start_mean, start_variance, dim):
    r"""Mean and per-axis variance at T_MIN of the reverse SDE (gamma = 1) with the score of N(mean0, variance0 I)
    plus c x, started from N(start_mean, start_variance I) at T: a linear SDE, whose moments solve

        dm/dt = -(A m + g^2 mu_t / S_t),  dV/dt = -(2 A V + g^2),  A = beta + g^2 (c - 1/S_t)

    backwards in t (mu_t, S_t: the mean and variance of p_t), here by an 8th-order Runge-Kutta to 1e-11."""
    def rhs(t, y):
        alpha, spread = PROCESS.alpha(t), PROCESS.alpha(t) ** 2 * variance0 + PROCESS.variance(t)
        g2, rate = PROCESS.diffusion(t) ** 2, PROCESS.drift_rate(t) + PROCESS.diffusion(t) ** 2 * (c - 1 / spread)
        return -np.concatenate([rate * y[:dim] + g2 * alpha * mean0 / spread, [2 * rate * y[dim] + g2]])

    start = np.concatenate([np.broadcast_to(start_mean, (dim,)), [start_variance]])
    solution = solve_ivp(rhs, (T, T_MIN), start, method="DOP853", rtol=1e-11, atol=1e-13)
    return solution.y[:dim, -1], solution.y[dim, -1]


def gaussian_kl(mean_p, variance_p, mean_q, variance_q, dim):
    """KL(N(mean_p, variance_p I) || N(mean_q, variance_q I))."""
    ratio = variance_p / variance_q
    return 0.5 * (dim * (ratio - 1 - np.log(ratio)) + np.sum((mean_p - mean_q) ** 2) / variance_q)


@pytest.fixture(scope="module")
def affine_audits():
    """Audits in d = 16 of the exact score of N(m, 0.16 I) plus c x, for three c."""
    dim, variance0 = 16, 0.16
    mean0 = np.full(dim, 0.5)
    reference = fd.ExactScore(PROCESS, fd.GaussianMixture([1.0], [mean0], [variance0]))
    audits = {c: run_audit(AffinePerturbation(reference, c), reference) for c in (0.05, 0.1, 0.2)}
    return dim, mean0, variance0, audits


def test_the_affine_perturbation_in_sixteen_dimensions_matches_the_closed_forms(affine_audits):
    dim, mean0, variance0, audits = affine_audits
    fine = np.linspace(T_MIN, T, 20001)
    alpha_f, v_f, g2_f = PROCESS.alpha(fine), PROCESS.variance(fine), PROCESS.diffusion(fine) ** 2
    moment_f = alpha_f**2 * (mean0 @ mean0 + dim * variance0) + dim * v_f  # E|X_t|^2
    prior = PROCESS.prior(T, dim)
    prior_variance = prior.covariances[0][0, 0]
    np.testing.assert_array_equal(prior.covariances[0], prior_variance * np.eye(dim))  # isotropic, as the ODE needs
    p_min_mean = PROCESS.alpha(T_MIN) * mean0
    p_min_variance = PROCESS.alpha(T_MIN) ** 2 * variance0 + PROCESS.variance(T_MIN)
    p_T = (PROCESS.alpha(T) * mean0, PROCESS.alpha(T) ** 2 * variance0 + PROCESS.variance(T))
    # the ODE reference itself: with c = 0 from the exact p_T the reverse process ends exactly in p_T_MIN
    assert gaussian_kl(p_min_mean, p_min_variance, *gaussian_reverse_output(mean0, variance0, 0.0, *p_T, dim),
                       dim) < 1e-12
    for c, result in audits.items():
        alpha, v = PROCESS.alpha(result.times), PROCESS.variance(result.times)
        moment = alpha**2 * (mean0 @ mean0 + dim * variance0) + dim * v
        # E|c x|^2 = c^2 E|X_t|^2 at every time, within 4 reported standard errors
        assert np.all(np.abs(result.score_error - c * c * moment) <= 4 * result.score_error_stderr)
        g, dsm = result.girsanov, result.dsm
        # the two time integrals against fine quadrature of the closed form (Monte Carlo + quadrature error)
        assert dsm.integral == pytest.approx(np.trapezoid(v_f * c * c * moment_f, fine),
                                             abs=4 * dsm.integral_stderr + 3 * dsm.quadrature_error)
        assert g.integral == pytest.approx(np.trapezoid(0.5 * g2_f * c * c * moment_f, fine),
                                           abs=4 * g.integral_stderr + 3 * g.quadrature_error)
        assert dsm.mean == pytest.approx(dsm.integral / (T - T_MIN))
        # the bound holds for the exact KL of the Gaussian output, from the prior and (integral alone) from p_T
        from_prior = gaussian_reverse_output(mean0, variance0, c, prior.means[0], prior_variance, dim)
        from_p_T = gaussian_reverse_output(mean0, variance0, c, *p_T, dim)
        assert gaussian_kl(p_min_mean, p_min_variance, *from_prior, dim) <= g.bound - 4 * g.integral_stderr
        assert gaussian_kl(p_min_mean, p_min_variance, *from_p_T, dim) <= g.integral - 4 * g.integral_stderr
    numbers = np.array([[r.dsm.integral, r.girsanov.bound, r.particles.learned["w1"], r.particles.learned["energy"]]
                        for r in audits.values()])
    assert np.all(np.diff(numbers, axis=0) > 0)  # every number grows with c


def test_the_reported_standard_errors_of_the_time_integrals_are_the_spread_over_seeds():
    dim, c = 16, 0.1
    reference = fd.ExactScore(PROCESS, mixture(dim))
    learned = AffinePerturbation(reference, c)
    runs = [fd.audit(learned, reference, T=T, t_min=T_MIN, particles=0, n_samples=500, seed=seed)
            for seed in range(12)]
    for name in ("girsanov", "dsm"):
        integrals = [getattr(r, name).integral for r in runs]
        reported = np.mean([getattr(r, name).integral_stderr for r in runs])
        # 12 independent audits: their sample sd / the true sd lies in [0.45, 1.6] with probability ~0.99
        # (chi distribution, 11 degrees of freedom)
        assert 0.45 < np.std(integrals, ddof=1) / reported < 1.6, name


def test_memorisation_in_sixteen_dimensions_tells_a_memorising_score_from_the_exact_one():
    law = mixture(16)
    reference = fd.ExactScore(PROCESS, law)
    train = law.sample(50, 11)
    options = dict(T=T, t_min=T_MIN, particles=1000, n_samples=1000, particle_steps=100, train=train)
    memorising = fd.audit(fd.EmpiricalScore(PROCESS, train), reference, **options).memorisation
    exact = fd.audit(reference, reference, **options).memorisation
    # the empirical score's reverse process ends within sqrt(d v_t_min) ~ 0.04 of a training point, far below
    # the training points' spacing (~3): nearly every sample is a copy; exact samples are as far as fresh data
    assert memorising.fraction_memorised > 0.9 and memorising.median_ratio < 0.1
    assert exact.fraction_memorised < 0.05 and 0.8 < exact.median_ratio < 1.25


# ------------------------------------------------------------------ scores at points (the point layout)


def stored_field(law, reference, times, count, c=0.0, seed=0, parametrization="score"):
    """Points drawn from p_t and the field reference + c x at them, in ``parametrization``."""
    points = np.stack([law.evolve(PROCESS, t).sample(count, seed + k) for k, t in enumerate(times)])
    scores = np.stack([reference.score(x, t) + c * x for x, t in zip(points, times)])
    if parametrization == "eps":
        scores = -np.sqrt(PROCESS.variance(times))[:, None, None] * scores
    return points, scores


@pytest.mark.parametrize("dim", [2, 16])
def test_scores_at_points_of_the_exact_field_have_zero_error_and_points_drawn_from_p_t(dim, tmp_path):
    law = mixture(dim)
    reference = fd.ExactScore(PROCESS, law)
    times = np.geomspace(0.01, 1.0, 9)
    points, values = stored_field(law, reference, times, 800, parametrization="eps")
    fd.save_score(tmp_path / "points.h5", PROCESS, times, values, points=points, parametrization="eps")
    samples = fd.load_score(tmp_path / "points.h5")
    assert isinstance(samples, fd.ScoreSamples)
    result = fd.audit(samples, reference)
    np.testing.assert_array_equal(result.times, times)
    assert np.all(result.score_error <= 1e-20 * result.reference_norm)  # eps -> score: round-off only
    assert (result.settings["T"], result.settings["t_min"]) == (times[-1], times[0])
    # the points are draws of p_t: their energy distance to exact samples within 4 sd of the null spread
    stored = result.stored_points
    for k, t in enumerate(times):
        mean, sd = null_spread(law.evolve(PROCESS, t), lambda a, b: fd.metrics.energy_distance(a[:800], b[:800]), 8)
        assert abs(stored.energy[k] - mean) < 4 * sd and abs(stored.floor[k] - mean) < 4 * sd
    assert result.particles is None and result.density is None and result.memorisation is None
    assert "Not available from scores at points" in result.summary()


def test_scores_at_points_of_an_affine_perturbation_match_the_closed_form_in_sixteen_dimensions():
    dim, c = 16, 0.1
    law = mixture(dim)
    reference = fd.ExactScore(PROCESS, law)
    times = np.geomspace(0.01, 1.0, 9)
    points, values = stored_field(law, reference, times, 2000, c=c, seed=5)
    result = fd.audit(fd.ScoreSamples(PROCESS, times, points, values), reference)
    moment = second_moment(law, times)
    assert np.all(np.abs(result.score_error - c * c * moment) <= 4 * result.score_error_stderr)
    # the integrals over the stored times: the same trapezoidal rule on the closed form, within the reported
    # standard errors (an upper bound: the times' errors added)
    dsm, g = result.dsm, result.girsanov
    assert dsm.integral == pytest.approx(np.trapezoid(PROCESS.variance(times) * c * c * moment, times),
                                         abs=4 * dsm.integral_stderr)
    assert g.integral == pytest.approx(np.trapezoid(0.5 * PROCESS.diffusion(times) ** 2 * c * c * moment, times),
                                       abs=4 * g.integral_stderr)
    np.testing.assert_allclose(dsm.weighted, PROCESS.variance(times) * result.score_error)
    # [t_min, T] selects stored times
    part = fd.audit(fd.ScoreSamples(PROCESS, times, points, values), reference, T=0.5, t_min=0.02)
    np.testing.assert_array_equal(part.times, times[(times >= 0.02) & (times <= 0.5)])


def test_points_not_drawn_from_p_t_are_told_by_their_energy_distance():
    dim = 16
    law = mixture(dim)
    reference = fd.ExactScore(PROCESS, law)
    times = np.array([0.1, 0.5, 1.0])
    # points of the prior N(0, I) scaled by 1.5 at every time: not p_t
    points = 1.5 * np.random.default_rng(3).standard_normal((len(times), 800, dim))
    values = np.stack([reference.score(x, t) for x, t in zip(points, times)])
    stored = fd.audit(fd.ScoreSamples(PROCESS, times, points, values), reference).stored_points
    for k, t in enumerate(times):
        mean, sd = null_spread(law.evolve(PROCESS, t), lambda a, b: fd.metrics.energy_distance(a[:800], b[:800]), 8)
        assert stored.energy[k] > mean + 10 * sd


# ------------------------------------------------------------------ bad input


def point_samples(process=PROCESS, dim=2, times=(0.1, 0.5, 1.0), count=10):
    rng = np.random.default_rng(0)
    shape = (len(times), count, dim)
    return fd.ScoreSamples(process, np.array(times), rng.normal(size=shape), rng.normal(size=shape))


@pytest.mark.parametrize("learned, reference, options, match", [
    (point_samples(fd.VE()), fd.ExactScore(PROCESS, mixture(2)), {},
     r"`learned` belongs to VE\(.*\) but `reference` to VP"),
    (point_samples(dim=3), fd.ExactScore(PROCESS, mixture(2)), {},
     r"`learned` holds scores at points in 3 dimension\(s\), but `reference` is 2-D"),
    (point_samples(), fd.ExactScore(PROCESS, mixture(2)), {"process": fd.OU()}, r"`learned` belongs to VP"),
    (point_samples(count=1), fd.ExactScore(PROCESS, mixture(2)), {},
     r"must hold >= 2 points per time \(a standard error needs two\); got 1"),
    (point_samples(), fd.ExactScore(PROCESS, mixture(2)), {"T": 0.3, "t_min": 0.2},
     r"holds 0 of its stored times \[0.1, 0.5, 1.0\] in \[t_min, T\] = \[0.2, 0.3\]"),
    (point_samples(), fd.ExactScore(PROCESS, mixture(2)), {"grid": fd.Grid([(-3, 3)] * 2, 8), "particles": 100},
     r"`grid`, `particles` cannot be used with scores at points"),
    (point_samples(), fd.ExactScore(PROCESS, mixture(2)), {"train": np.zeros((4, 2))}, r"`train` cannot be used"),
    (point_samples(), "exact", {}, r"`reference` must be an ExactScore or EmpiricalScore.*got str"),
])
def test_bad_point_audits_are_named(learned, reference, options, match):
    with pytest.raises(InputError, match=match):
        fd.audit(learned, reference, **options)


# ------------------------------------------------------------------ the command


@pytest.fixture(scope="module")
def point_file(tmp_path_factory):
    """A 16-D point-layout file (eps) of an empirical law's exact score plus 0.1 x, and the law's points."""
    folder = tmp_path_factory.mktemp("audit-points")
    data = mixture(16).sample(300, 7)
    np.save(folder / "data.npy", data)
    empirical = fd.Empirical(data)
    reference = fd.ExactScore(PROCESS, empirical)
    times = np.geomspace(0.01, 1.0, 7)
    points, values = stored_field(empirical, reference, times, 500, c=0.1, parametrization="eps")
    fd.save_score(folder / "points.h5", PROCESS, times, values, points=points, parametrization="eps")
    return folder


def audit_command(capsys, *arguments):
    status = main(["audit-score", *map(str, arguments)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_command_audits_a_point_layout_file_in_sixteen_dimensions(point_file, capsys, tmp_path):
    status, out, err = audit_command(capsys, point_file / "points.h5", "--data", point_file / "data.npy",
                                     "--out", tmp_path)
    assert status == 0 and err == "", err
    assert "d = 16" in out and "ScoreSamples (500 points x 7 times, eps)" in out
    for section in ("DSM-weighted (lambda(t) = v_t)", "ED(points)", "Girsanov bound",
                    "Not available from scores at points"):
        assert section in out
    assert "FAILED" not in out
    assert (tmp_path / "audit.png").stat().st_size > 10_000
    # the same numbers as the library's audit of the loaded file
    data = np.load(point_file / "data.npy")
    result = fd.audit(fd.load_score(point_file / "points.h5"), fd.ExactScore(PROCESS, fd.Empirical(data)))
    assert f"{result.dsm.integral:.4g} +- {result.dsm.integral_stderr:.2g}" in out


@pytest.mark.parametrize("extra, message", [
    (["--data", "builtin:bimodal-1d"], "`--data` is 1-D but"),
    (["--cells", "10"], "--cells: "),
    (["--particles", "100"], "--particles: "),
    (["--train", "{data}"], "--train (without --reference empirical): "),
])
def test_options_a_point_layout_file_cannot_use_are_one_line(point_file, capsys, extra, message):
    extra = [value.format(data=point_file / "data.npy") for value in extra]
    data = [] if "--data" in extra else ["--data", point_file / "data.npy"]
    status, out, err = audit_command(capsys, point_file / "points.h5", *data, *extra)
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fpdiff: error: ") and message in lines[0], err


def test_the_command_takes_the_empirical_reference_for_a_point_layout_file(point_file, capsys):
    status, out, err = audit_command(capsys, point_file / "points.h5", "--data", point_file / "data.npy",
                                     "--reference", "empirical", "--train", point_file / "data.npy")
    assert status == 0 and "against ExactScore of Empirical" not in out and "EmpiricalScore" in out, err
