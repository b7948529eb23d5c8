"""fpdiff.audit: score errors, the Girsanov bound, realised errors, memorisation, FP residual and curl.

Every check is against something independent: closed-form moments of
Gaussians, the interpolation error bound, the realised KL of the grid solver,
the known curl of a rotation, observed orders under refinement.
"""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.audit import AuditResult, audit, score_curl, score_fp_residual
from fpdiff.errors import InputError
from fpdiff.scores.fit import fit_dsm
from fpdiff.plot import audit_figure, score_error_figure

PROCESS = fd.OU()
MIXTURE_1D = fd.GaussianMixture([0.4, 0.6], [[-1.5], [1.2]], [0.15, 0.3])
MIXTURE_2D = fd.GaussianMixture([0.5, 0.5], [[-1.0, 0.5], [1.0, -0.3]], [[0.3, 0.2], [0.25, 0.4]])
EXACT_1D = fd.ExactScore(PROCESS, MIXTURE_1D)
EXACT_2D = fd.ExactScore(PROCESS, MIXTURE_2D)
T, T_MIN = 3.0, 0.02
GRID_1D = fd.Grid([(-6, 6)], 240)
AXES_1D = [np.linspace(-7, 7, 141)]  # covers every face of GRID_1D


def pdf_of(mixture):
    return lambda x, t: mixture.evolve(PROCESS, t).pdf(x)


def slope(h, error):
    """Observed order: the slope of log(error) against log(h)."""
    return np.polyfit(np.log(h), np.log(error), 1)[0]


def perturbed_table(amplitude, times=np.geomspace(T_MIN, T, 25)):
    """The exact 1-D score on AXES_1D plus amplitude * sin(x): an imperfect 'learned' field."""
    table = fd.tabulate_score(EXACT_1D, times, AXES_1D)
    values = table._tables.reshape(len(times), -1, 1) + amplitude * np.sin(AXES_1D[0])[None, :, None]
    return fd.TabulatedScore(PROCESS, times, AXES_1D, values)


@pytest.fixture(scope="module")
def girsanov_1d():
    """One audit with the density view, memorisation and a DSM-fitted score (shared by the report tests)."""
    data = MIXTURE_1D.sample(2000, 1)
    learned = fit_dsm(PROCESS, data, np.geomspace(T_MIN, T, 30), AXES_1D, n_features=4, samples_per_time=5000,
                      seed=2)
    return audit(learned, EXACT_1D, grid=GRID_1D, n_samples=4000, particles=2000, train=data[:50], seed=3)


# ------------------------------------------------------------------ score error


def test_tabulated_exact_score_error_is_interpolation_level_and_falls_at_order_two():
    times = np.array([0.1, 0.3, 1.0])
    steps, errors = [], []
    for nodes in (31, 61, 121):
        axes = [np.linspace(-6, 6, nodes)]
        table = fd.tabulate_score(EXACT_1D, times, axes)
        result = audit(table, EXACT_1D, times=times, particles=0, n_samples=4000)
        steps.append(axes[0][1] - axes[0][0])
        errors.append(result.score_error)
        # linear interpolation: |s - I_h s| <= h^2/8 max|s''| (s'' of the exact score, by differences on a fine mesh)
        fine = np.linspace(-6, 6, 4001)[:, None]
        for k, t in enumerate(times):
            second = np.max(np.abs(np.gradient(np.gradient(EXACT_1D.score(fine, t)[:, 0], fine[:, 0]), fine[:, 0])))
            assert result.score_error[k] <= (steps[-1] ** 2 / 8 * second) ** 2
        assert np.all(result.outside_mass < 1e-6)
    errors = np.array(errors)
    for k in range(len(times)):
        # the RMS error sqrt(E|ds|^2) is O(h^2): the same random numbers at every resolution
        assert slope(steps, np.sqrt(errors[:, k])) == pytest.approx(2.0, abs=0.2)


def test_score_error_of_a_perturbed_score_matches_closed_form_moments():
    mean, variances = np.array([0.5, -1.0]), np.array([0.3, 0.8])
    gaussian = fd.GaussianMixture([1.0], [mean], [variances])
    reference = fd.ExactScore(PROCESS, gaussian)
    c = 0.3
    learned = fd.CallableScore(lambda x, t: reference.score(x, t) + c * x, 2, PROCESS)
    result = audit(learned, reference, T=1.0, t_min=0.05, particles=0, n_samples=20000, seed=11)
    alpha, v = PROCESS.alpha(result.times), PROCESS.variance(result.times)
    spread = alpha[:, None] ** 2 * variances + v[:, None]  # variances of p_t per axis
    second_moment = spread.sum(axis=1) + alpha**2 * (mean @ mean)  # E|X_t|^2
    fisher = (1.0 / spread).sum(axis=1)  # E|s|^2 = trace of the precision
    # E|c x|^2 = c^2 E|x|^2: within 4 reported standard errors
    assert np.all(np.abs(result.score_error - c * c * second_moment) <= 4 * result.score_error_stderr)
    # E|s|^2: |s|^2 = sum z_i^2 / s_i, variance sum 2 / s_i^2
    fisher_stderr = np.sqrt((2.0 / spread**2).sum(axis=1) / 20000)
    assert np.all(np.abs(result.reference_norm - fisher) <= 4 * fisher_stderr)
    np.testing.assert_allclose(result.relative_score_error, result.score_error / result.reference_norm)
    # the integral 1/2 int sigma^2 c^2 E|X_t|^2 dt, by fine quadrature of the closed form
    fine = np.linspace(0.05, 1.0, 20001)
    alpha_f, v_f = PROCESS.alpha(fine), PROCESS.variance(fine)
    integrand = 0.5 * PROCESS.diffusion_constant**2 * c * c * ((alpha_f[:, None] ** 2 * variances + v_f[:, None]).sum(axis=1)
                                                  + alpha_f**2 * (mean @ mean))
    g = result.girsanov
    assert g.integral == pytest.approx(np.trapezoid(integrand, fine), abs=4 * g.integral_stderr + 3 * g.quadrature_error)
    # KL(p_T || prior) by Monte Carlo (no grid) against the Gaussian closed form
    prior_var = PROCESS.stationary_variance
    m_T, s_T = alpha[-1] * mean, spread[-1]
    exact_kl = 0.5 * np.sum(s_T / prior_var - 1 - np.log(s_T / prior_var) + m_T**2 / prior_var)
    assert g.prior_kl_stderr is not None
    assert g.prior_kl == pytest.approx(exact_kl, abs=4 * g.prior_kl_stderr)
    assert g.realised_kl is None and result.density is None and result.particles is None


def test_default_times_add_midpoints_that_see_the_time_interpolation_error():
    table = fd.tabulate_score(EXACT_1D, [0.1, 0.4, 1.6], AXES_1D)
    result = audit(table, EXACT_1D, particles=0, n_samples=2000)
    np.testing.assert_allclose(result.times, [0.1, 0.25, 0.4, 1.0, 1.6])
    # at table times only the (tiny) space interpolation error; between them the linear-in-t error
    assert result.score_error[1] > 100 * max(result.score_error[0], result.score_error[2])


def test_grid_score_reference_uses_quadrature_on_its_cells():
    variance0 = 0.3
    gaussian = fd.GaussianMixture([1.0], [[0.5]], [variance0])
    grid = fd.Grid([(-6, 6)], 400)
    forward = fd.solve_forward(PROCESS, grid, gaussian, 1.0, save_at=np.linspace(0.1, 1.0, 10))
    reference = fd.GridScore(forward)
    times = np.array([0.1, 0.5, 1.0])
    result = audit(fd.ExactScore(PROCESS, gaussian), reference, times=times, particles=0)
    spread = PROCESS.alpha(times) ** 2 * variance0 + PROCESS.variance(times)
    np.testing.assert_allclose(result.reference_norm, 1.0 / spread, rtol=2e-3)  # Fisher information 1/var
    assert np.all(result.score_error_stderr == 0)  # quadrature, not Monte Carlo
    assert np.all(result.relative_score_error < 1e-3)  # only the grid solver's discretisation
    prior = PROCESS.stationary_variance
    m = PROCESS.alpha(1.0) * 0.5
    exact_kl = 0.5 * (spread[-1] / prior - 1 - np.log(spread[-1] / prior) + m * m / prior)
    assert result.girsanov.prior_kl == pytest.approx(exact_kl, rel=1e-2)


# ------------------------------------------------------------------ Girsanov bound and realised errors


@pytest.mark.parametrize("kind", ["fit_dsm", "perturbed"])
def test_realised_kl_on_the_grid_respects_the_girsanov_bound_for_gamma_one(kind):
    if kind == "fit_dsm":
        data = MIXTURE_1D.sample(2000, 1)
        learned = fit_dsm(PROCESS, data, np.geomspace(T_MIN, T, 30), AXES_1D, n_features=4, samples_per_time=5000,
                          seed=2)
    else:
        learned = perturbed_table(0.3)
    result = audit(learned, EXACT_1D, grid=GRID_1D, particles=0, n_samples=4000)
    g = result.girsanov
    assert g.applies and g.holds
    assert g.realised_kl <= g.bound
    # the realised KL measures the score, not the solver: the floor with the exact score is far below it
    assert g.realised_kl_reference < 1e-2 * g.realised_kl
    # and the bound is not vacuous here
    assert g.bound < 4 * g.realised_kl
    assert g.quadrature_error < 0.05 * g.integral and g.integral_stderr < 0.05 * g.integral
    assert result.density.learned["kl"] == g.realised_kl
    assert result.density.learned["l1"] > 10 * result.density.reference["l1"]


def test_bound_is_flagged_as_not_applying_for_other_gamma():
    result = audit(perturbed_table(0.1), EXACT_1D, grid=fd.Grid([(-6, 6)], 120), gamma=0.5, particles=0,
                   n_samples=1000)
    assert not result.girsanov.applies and result.girsanov.holds is None
    assert result.girsanov.realised_kl is not None
    assert "gamma = 1 only" in result.summary()


def test_particle_view_with_the_exact_score_sits_near_its_monte_carlo_floor(girsanov_1d):
    view = girsanov_1d.particles
    assert view.w1_kind == "w1"
    # the exact score's particles differ from exact samples by Monte Carlo noise plus a small time-step bias
    assert view.reference["w1"] < 3 * view.floor["w1"]
    assert view.learned["w1"] > view.reference["w1"]
    assert view.reference["l1_histogram"] < 1.5 * view.reference["l1_histogram_floor"]


def test_a_table_too_small_for_its_law_is_reported_not_fatal():
    # the box [-2.5, 2.5] misses part of p_t, and prior particles start outside it
    table = fd.tabulate_score(EXACT_1D, np.geomspace(T_MIN, T, 10), [np.linspace(-2.5, 2.5, 51)])
    result = audit(table, EXACT_1D, particles=500, n_samples=2000)
    assert np.all(result.outside_mass > 0.001)
    assert "box" in result.particles.failed["learned"] and result.particles.learned == {}
    assert result.particles.reference["w1"] > 0  # the reference run still ran
    text = result.summary()
    assert "WARNING" in text and "FAILED" in text


def gaussian_reverse_output_kl(process, mean, variance, T, t_min):
    r"""KL(p_t_min || q_out) in closed form for 1-D Gaussian data, q_out the exact reversal started from the prior.

    Independent of fpdiff.theory: the exact (gamma = 1) reversal moves x at T to y at t_min with the backward
    conditional of the Gaussian pair (X_t_min, X_T), X_T = a X_t_min + N(0, w): y | x ~ N(mu0 + c (x - muT),
    S0 - c a S0) with c = a S0 / ST; integrated against the prior N(0, P) it gives a Gaussian q_out.
    """
    alpha, v = float(process.alpha(t_min)), float(process.variance(t_min))
    S0, mu0 = alpha**2 * variance + v, alpha * mean
    a, w = (float(np.asarray(c)) for c in process.transition(t_min, T))
    ST, muT = a * a * S0 + w, a * mu0
    P, m = process.diffusion_constant**2 / (2 * process.beta), 0.0  # the OU prior: its stationary law N(0, sigma^2 / (2 beta))
    c = a * S0 / ST
    mean_q, variance_q = mu0 + c * (m - muT), c * c * P + S0 - c * a * S0
    return 0.5 * (S0 / variance_q - 1 - np.log(S0 / variance_q) + (mu0 - mean_q) ** 2 / variance_q)


def test_prior_mismatch_and_discretisation_floor_are_told_apart():
    """The reference score's run from the prior is prior mismatch, not the solver's floor (issue 16, item 15)."""
    mean, variance, T_END = 0.5, 0.3, 1.0  # a short T: the prior mismatch is far above the solver's error
    gaussian = fd.GaussianMixture([1.0], [[mean]], [variance])
    exact = fd.ExactScore(PROCESS, gaussian)
    learned = fd.tabulate_score(exact, np.geomspace(T_MIN, T_END, 30), AXES_1D)
    closed_form = gaussian_reverse_output_kl(PROCESS, mean, variance, T_END, T_MIN)
    runs = {cells: audit(learned, exact, grid=fd.Grid([(-6, 6)], cells), T=T_END, t_min=T_MIN, particles=0,
                         n_samples=500).girsanov for cells in (400, 800)}
    for g in runs.values():
        # the midpoint rule of two smooth Gaussians and 60 Gauss-Hermite nodes of a Gaussian integrand: ~exact
        assert g.prior_mismatch == pytest.approx(closed_form, rel=1e-6)
        assert g.prior_mismatch_method.startswith("exact reverse process from the prior")
        # the reference run from the prior is almost all prior mismatch; the floor (from p_T) is 1e-3 of it at most
        assert g.realised_kl_reference == pytest.approx(closed_form, rel=1e-2)
        assert g.discretisation_floor < 1e-3 * g.realised_kl_reference
        # the exact table: the learned run sits with the reference run (5%: the table's linear-in-t interpolation)
        assert g.realised_kl == pytest.approx(g.realised_kl_reference, rel=0.05)
    # both numbers that hold the solver's error fall under refinement (second order in space and time)
    coarse, fine = runs[400], runs[800]
    assert fine.discretisation_floor < coarse.discretisation_floor / 4
    assert (abs(fine.realised_kl_reference - closed_form)
            < abs(coarse.realised_kl_reference - closed_form) / 3)


def test_summary_names_the_prior_mismatch_and_the_floor(girsanov_1d):
    g = girsanov_1d.girsanov
    lines = girsanov_1d.summary().splitlines()

    def line_of(number):
        return next(line for line in lines if f"{number:.4g}" in line and "realised" not in line.lower())

    assert "discretisation" not in line_of(g.realised_kl_reference).replace("prior mismatch + discretisation", "")
    assert "discretisation floor" in line_of(g.discretisation_floor)
    assert "prior mismatch" in line_of(g.prior_mismatch)
    assert g.discretisation_floor == girsanov_1d.density.reference_from_p_T["kl"]
    assert "ref. from p_T" in "\n".join(lines)
    # the particle view also runs the reference from exact samples of p_T
    assert girsanov_1d.particles.reference_from_p_T["w1"] > 0


def test_field_checks_of_the_exact_table_sit_at_their_floors_and_a_rotation_does_not():
    times, axes = np.geomspace(0.05, 1.0, 12), [np.linspace(-5, 5, 41)] * 2
    table = fd.tabulate_score(EXACT_2D, times, axes)
    result = audit(table, EXACT_2D, particles=0, n_samples=500)
    for check in (result.fp_residual, result.curl):
        np.testing.assert_array_equal(check.floor, check.value)  # the same field, tabulated the same way
        np.testing.assert_array_equal(check.floor_relative, check.relative)
    text = result.summary()
    assert "floor RMS" in text and f"{result.fp_residual.floor[0]:.4g}" in text
    # s + eps (-y, x) is no score: both checks rise well above their floors
    eps = 0.1
    fields = table._tables.reshape(len(times), 41, 41, 2).copy()
    x, y = np.meshgrid(*axes, indexing="ij")
    fields[..., 0] -= eps * y
    fields[..., 1] += eps * x
    rotated = audit(fd.TabulatedScore(PROCESS, times, axes, fields), EXACT_2D, particles=0, n_samples=500)
    np.testing.assert_allclose(rotated.curl.floor, result.curl.value)
    assert np.all(rotated.curl.value > 2 * rotated.curl.floor)  # the curl 2 eps = 0.2 against a floor <= 0.072
    # the residual floor of 41 nodes is large at small t; the rotation's residual stays above it at every time
    ratio = rotated.fp_residual.value / rotated.fp_residual.floor
    assert np.all(ratio > 1.05) and ratio[-1] > 2


# ------------------------------------------------------------------ failed checks are shown as failed


def test_memorisation_after_a_failed_particle_run_is_reported_failed_not_dropped():
    # the box [-2.5, 2.5] with outside='raise': prior particles start outside it, so the learned run fails
    table = fd.tabulate_score(EXACT_1D, np.geomspace(T_MIN, T, 10), [np.linspace(-2.5, 2.5, 51)])
    train = MIXTURE_1D.sample(50, 4)
    result = audit(table, EXACT_1D, particles=500, n_samples=1000, train=train)
    assert result.memorisation is None
    assert "particle run failed" in result.failed["memorisation"]
    text = result.summary()
    assert "Memorisation: FAILED" in text and "memorisation (no training points)" not in text
    figure = audit_figure(result)
    titles = [axis.get_title() for axis in figure.axes]
    assert "Memorisation: FAILED" in titles
    panel = figure.axes[titles.index("Memorisation: FAILED")]
    assert "particle run failed" in panel.texts[0].get_text().replace("\n", " ")


def test_a_table_too_small_for_the_field_checks_is_reported_failed():
    table = fd.tabulate_score(EXACT_2D, [0.1, 0.5], [np.linspace(-5, 5, 4)] * 2)  # 2 times, 4 nodes per axis
    result = audit(table, EXACT_2D, particles=0, n_samples=200)
    assert result.fp_residual is None and "needs a table with >= 3 times" in result.failed["fp_residual"]
    assert result.curl is not None and "curl" not in result.failed  # 4 nodes are enough for the curl
    assert "Score Fokker-Planck residual (p_t-weighted RMS): FAILED" in result.summary()
    assert "Score Fokker–Planck residual: FAILED" in [axis.get_title() for axis in audit_figure(result).axes]


def test_a_clamped_table_is_audited_outside_its_box_and_says_so():
    table = fd.tabulate_score(EXACT_1D, np.geomspace(T_MIN, T, 10), [np.linspace(-2.5, 2.5, 51)], outside="clamp")
    result = audit(table, EXACT_1D, particles=500, n_samples=2000, train=MIXTURE_1D.sample(50, 4))
    assert np.all(result.outside_mass > 0.001) and result.settings["outside"] == "clamped"
    assert not result.failed and result.memorisation is not None and not result.particles.failed
    assert "clamped (constant-extension) values are used there" in result.summary()
    # the clamped values outside the box are wrong, and counted: more error than the same table left out there
    raised = audit(fd.TabulatedScore(PROCESS, table.t, table.axes, table._tables.reshape(10, 51, 1)), EXACT_1D,
                   particles=0, n_samples=2000)
    assert np.all(result.score_error > raised.score_error)


# ------------------------------------------------------------------ memorisation


def test_empirical_score_memorises_and_the_exact_score_does_not():
    train = MIXTURE_2D.sample(20, 5)
    held_out = MIXTURE_2D.sample(2000, 6)
    # log-SNR steps resolve the last stretch to t_min, where the empirical score picks its training point
    options = dict(T=1.0, t_min=1e-4, particles=2000, n_samples=1000, train=train,
                   particle_options={"time_grid": "log-snr"})
    memorised = audit(fd.EmpiricalScore(PROCESS, train), EXACT_2D, held_out=held_out, **options).memorisation
    assert memorised.held_out_source == "held_out"
    assert memorised.fraction_memorised > 0.9
    assert memorised.median_ratio < 0.2
    # a point uniform among Poisson points has d1^2/d2^2 ~ U(0, 1) in 2-D: P(d1/d2 < 1/3) ~ 1/9
    assert memorised.fraction_memorised_held_out < 0.25
    fresh = audit(EXACT_2D, EXACT_2D, **options).memorisation
    assert fresh.held_out_source == "reference"
    assert fresh.fraction_memorised < 0.25
    assert abs(fresh.fraction_memorised - fresh.fraction_memorised_held_out) < 0.05
    assert 0.8 < fresh.median_ratio < 1.25


# ------------------------------------------------------------------ score Fokker-Planck residual and curl


def tables(score, dim, levels, perturb=None):
    """Tables of ``score`` at t = 0.4 +- dt on [-5, 5]^d, refining nodes and dt together by 2."""
    out = []
    for level in levels:
        nodes, dt = 10 * 2**level + 1, 0.1 / 2**level
        axes = [np.linspace(-5, 5, nodes)] * dim
        table = fd.tabulate_score(score, [0.4 - dt, 0.4, 0.4 + dt], axes)
        if perturb is not None:
            fields = perturb(table._tables.reshape(3, *table.shape, dim), np.meshgrid(*axes, indexing="ij"))
            table = fd.TabulatedScore(PROCESS, table.t, axes, fields)
        out.append((10.0 / (nodes - 1), table))
    return out


@pytest.mark.parametrize("dim", [1, 2])
def test_fp_residual_of_an_exact_table_falls_at_order_two_and_a_rescaled_one_does_not(dim):
    mixture = MIXTURE_1D if dim == 1 else MIXTURE_2D
    exact = fd.ExactScore(PROCESS, mixture)
    levels = (2, 3, 4)
    steps, residuals = zip(*[(h, score_fp_residual(table, pdf_of(mixture)).value[0])
                            for h, table in tables(exact, dim, levels)])
    assert slope(steps, residuals) == pytest.approx(2.0, abs=0.2)
    # (1 + eps) s is a gradient, but not the score of any solution of the forward equation
    eps = 0.1
    wrong = [score_fp_residual(table, pdf_of(mixture))
             for _, table in tables(exact, dim, levels, perturb=lambda s, x: (1 + eps) * s)]
    values = [check.value[0] for check in wrong]
    assert abs(slope(steps, values)) < 0.3
    assert values[-1] > 10 * residuals[-1]
    assert wrong[-1].relative[0] > 0.02


def test_curl_of_an_exact_table_falls_at_order_two_and_a_rotation_shows_its_curl():
    levels = (2, 3, 4)
    steps, curls = zip(*[(h, score_curl(table, pdf_of(MIXTURE_2D))) for h, table in tables(EXACT_2D, 2, levels)])
    values = np.array([check.value for check in curls])  # (levels, 3 times)
    for k in range(3):
        assert slope(steps, values[:, k]) == pytest.approx(2.0, abs=0.2)
    assert np.all(curls[-1].relative < 2e-3)
    # s + eps (-y, x): curl d_x s_y - d_y s_x = 2 eps everywhere (exact for np.gradient on a linear field)
    eps = 0.1

    def rotate(fields, x):
        out = fields.copy()
        out[..., 0] -= eps * x[1]
        out[..., 1] += eps * x[0]
        return out

    rotated = tables(EXACT_2D, 2, levels, perturb=rotate)
    finest = score_curl(rotated[-1][1], pdf_of(MIXTURE_2D))
    np.testing.assert_allclose(finest.value, 2 * eps, rtol=0.02)
    assert np.all(finest.relative > 0.05)
    # the rotation is time-consistent but no score: the FP residual sees it too, and does not fall
    residual = [score_fp_residual(table, pdf_of(MIXTURE_2D)).value[0] for _, table in rotated]
    assert abs(slope(steps, residual)) < 0.3


def test_audit_reports_the_consistency_checks_of_a_tabulated_field():
    table = fd.tabulate_score(EXACT_2D, np.geomspace(0.05, 1.0, 12), [np.linspace(-5, 5, 41)] * 2)
    result = audit(table, EXACT_2D, particles=0, n_samples=500)
    assert result.fp_residual is not None and result.curl is not None
    np.testing.assert_allclose(result.fp_residual.times, table.t[1:-1])
    np.testing.assert_allclose(result.curl.times, table.t)
    assert np.all(result.curl.relative < 0.02)
    assert np.all(result.fp_residual.relative < 0.5)  # coarse table times: the d/dt differences dominate


# ------------------------------------------------------------------ report, figure, validation


def test_summary_holds_the_key_numbers(girsanov_1d):
    text = girsanov_1d.summary()
    assert str(girsanov_1d) == text
    g = girsanov_1d.girsanov
    for number in (g.bound, g.realised_kl, g.realised_kl_reference, g.prior_kl, g.integral,
                   girsanov_1d.density.learned["l1"], girsanov_1d.particles.learned["w1"],
                   girsanov_1d.memorisation.median_generated):
        assert f"{number:.4g}" in text
    assert "bound holds" in text
    for section in ("Score error", "Girsanov bound", "density view", "particle view", "Memorisation",
                    "Fokker-Planck residual"):
        assert section in text
    assert "Curl" not in text  # 1-D
    assert isinstance(girsanov_1d, AuditResult) and "bound=" in repr(girsanov_1d)


def test_figure_builds_with_every_panel(tmp_path):
    data = MIXTURE_2D.sample(30, 1)
    learned = fit_dsm(PROCESS, data, np.geomspace(0.05, 1.0, 10), [np.linspace(-5, 5, 25)] * 2, n_features=8,
                      samples_per_time=2000, seed=2, outside="clamp")
    result = audit(learned, EXACT_2D, grid=fd.Grid([(-4, 4)] * 2, 24), particles=500, n_samples=500, train=data,
                   particle_steps=40)
    assert result.density.w1_kind == "sliced_w1" and "Curl" in result.summary()
    figure = audit_figure(result)
    titles = [axis.get_title() for axis in figure.axes]
    assert sum(bool(title) for title in titles) == 5  # score, Girsanov, residual, curl, memorisation (+ a twin axis)
    assert any("Girsanov" in title for title in titles)
    path = tmp_path / "audit.png"
    figure.savefig(path, dpi=50)
    assert path.stat().st_size > 10_000


def test_figure_of_a_minimal_audit_has_two_panels():
    result = audit(fd.CallableScore(lambda x, t: EXACT_1D.score(x, t) * 1.1, 1, PROCESS), EXACT_1D, T=1.0,
                   particles=0, n_samples=500)
    figure = audit_figure(result)
    assert sum(bool(axis.get_title()) for axis in figure.axes) == 2
    alone = score_error_figure(result)
    assert alone.axes[0].get_title().startswith("Score error of") and alone.axes[0].get_yscale() == "log"
    # the 10% perturbation gives a relative error of exactly 0.01 at every time (right axis)
    np.testing.assert_allclose(alone.axes[1].lines[0].get_ydata(), 0.01, rtol=1e-6)


@pytest.mark.parametrize("change, match", [
    (dict(reference=fd.CallableScore(lambda x, t: -x, 1, PROCESS)), "`reference` must be an ExactScore"),
    (dict(grid=fd.Grid([(-3, 3)] * 2, 8)), "`grid` must be 1-D"),
    (dict(grid=[(-3, 3)]), "`grid` must be an fpdiff.Grid"),
    (dict(times=[0.01, 5.0]), "`times` must lie in"),
    (dict(T=10.0), "must lie in the time range"),
    (dict(train=np.zeros((5, 2))), r"`train` must be points of shape \(n, 1\)"),
    (dict(train=np.zeros((5, 1)), particles=0), "`particles` must be >= 1"),
    (dict(process=fd.VP()), "belongs to OU"),
    (dict(gamma=-1.0), "`gamma` must be >= 0"),
    (dict(n_samples=1), "`n_samples` must be >= 2"),
    (dict(particle_options={"seed": 3}), r"`particle_options` must not set \['seed'\]"),
    (dict(grid_options=3), "`grid_options` must be a dict"),
])
def test_bad_input_is_named(change, match):
    arguments = dict(learned=perturbed_table(0.1), reference=EXACT_1D, particles=0, n_samples=100)
    arguments.update(change)
    with pytest.raises(InputError, match=match):
        audit(**arguments)
