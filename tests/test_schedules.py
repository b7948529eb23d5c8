"""The machine-learning schedules (Cosine, Discrete tables, EDM): coefficients, noise levels, interpolation order,
diffusers' tables, and the reverse solvers' convergence on each against the exact evolved mixture."""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.metrics import observed_order
from fpdiff.processes import PROCESSES, process_class, process_from_dict

MIXTURE = fd.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [0.3**2, 0.4**2])

EVERY_PROCESS = [fd.OU(), fd.VP(), fd.VE(), fd.Brownian(), fd.Cosine(), fd.EDM(), fd.LinearDiscrete(),
                 fd.ScaledLinear(), fd.Discrete.from_diffusers({"beta_schedule": "squaredcos_cap_v2"})]
IDS = ["OU", "VP", "VE", "Brownian", "Cosine", "EDM", "LinearDiscrete", "ScaledLinear", "DiscreteCosine"]


@pytest.mark.parametrize("process", EVERY_PROCESS, ids=IDS)
def test_sde_coefficients_are_derived_from_alpha_and_variance(process):
    # beta = -d log(alpha)/dt and g^2 = dv/dt + 2 beta v, by central differences away from the table's nodes
    t = np.array([0.0123, 0.1234, 0.4567, 0.8765])
    h = 1e-6
    log_alpha_rate = -(np.log(process.alpha(t + h)) - np.log(process.alpha(t - h))) / (2 * h)
    variance_rate = (process.variance(t + h) - process.variance(t - h)) / (2 * h)
    beta = process.drift_rate(t)
    np.testing.assert_allclose(beta, log_alpha_rate, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(process.diffusion(t) ** 2, variance_rate + 2 * beta * process.variance(t), rtol=1e-6)


@pytest.mark.parametrize("process", EVERY_PROCESS, ids=IDS)
def test_noise_level_and_log_snr_invert(process):
    t = np.array([1e-4, 2e-3, 0.05, 0.5, 0.97])
    sigma = process.sigma(t)
    assert np.all(np.diff(sigma) > 0) and np.all(np.diff(process.log_snr(t)) < 0)
    np.testing.assert_allclose(sigma, np.sqrt(process.variance(t)) / process.alpha(t), rtol=1e-14)
    np.testing.assert_allclose(process.log_snr(t), -2 * np.log(sigma), rtol=1e-13)
    np.testing.assert_allclose(process.t_of_sigma(sigma), t, rtol=1e-12)
    np.testing.assert_allclose(process.t_of_log_snr(process.log_snr(t)), t, rtol=1e-12)
    # the closed-form inverses agree with the generic bisection of the base class
    np.testing.assert_allclose(fd.LinearProcess.t_of_sigma(process, sigma), t, rtol=1e-12)


def test_noise_levels_outside_the_range_are_refused():
    with pytest.raises(fd.InputError, match="`sigma` must be > 0"):
        fd.VP().t_of_sigma([0.1, 0.0])
    with pytest.raises(fd.InputError, match="beyond the range of Cosine"):
        fd.Cosine().t_of_sigma(1e20)
    with pytest.raises(fd.InputError, match="beyond the range of LinearDiscrete"):
        fd.LinearDiscrete().t_of_sigma(1e3)
    table = fd.LinearDiscrete()  # a sigma one rounding above the table's last (diffusers' float32 sigmas) is the end
    assert table.t_of_sigma(table.sigma(1.0) * (1 + 4e-16)) == pytest.approx(1.0, rel=1e-14)
    with pytest.raises(fd.InputError, match=r"defined for t in \[0, 1\]"):
        fd.ScaledLinear().alpha(1.5)


def test_edm_is_the_identity_in_sigma_and_its_preconditioning_is_table_1():
    edm = fd.EDM()
    t = np.array([0.002, 0.5, 80.0])
    np.testing.assert_array_equal(edm.sigma(t), t)
    np.testing.assert_array_equal(edm.t_of_sigma(t), t)
    assert edm.prior(80.0).covariances[0, 0, 0] == 6400.0  # k-diffusion starts from randn * sigma_max
    c_skip, c_out, c_in, c_noise = edm.preconditioning(t)
    # at sigma = sigma_data the skip and output weights are equal: c_skip = 1/2, c_out = sigma_data / sqrt(2)
    c_skip_d, c_out_d, _, _ = edm.preconditioning(0.5)
    assert np.isclose(c_skip_d, 0.5) and np.isclose(c_out_d, 0.5 / np.sqrt(2))
    np.testing.assert_allclose(c_skip + c_out**2 / 0.25, 1.0)  # c_skip + c_out^2 / sigma_data^2 = 1 (Table 1)
    np.testing.assert_allclose(c_in, 1 / np.sqrt(t**2 + 0.25))
    np.testing.assert_allclose(c_noise, np.log(t) / 4)


def test_cosine_is_nichol_and_dhariwal_eq_17():
    s, t = 0.008, np.linspace(0.0, 0.99, 12)
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    np.testing.assert_allclose(fd.Cosine(s).alpha(t) ** 2, f / f[0], rtol=1e-13)
    np.testing.assert_allclose(fd.Cosine(s).variance(t), 1 - f / f[0], rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("reference, t_last", [(fd.VP(), 1.0), (fd.Cosine(), 0.9)], ids=["VP", "Cosine"])
def test_discrete_interpolation_is_third_order_in_B_and_second_in_beta(reference, t_last):
    # a table sampled from a smooth schedule at t_i = (i + 1)/n: between the nodes the PCHIP of B = -log(abar)
    # errs by O(n^-3) and its derivative, the drift rate, by O(n^-2)
    t = np.linspace(0.05, t_last, 997)
    sizes = [50, 100, 200, 400]
    alpha_errors, beta_errors = [], []
    for n in sizes:
        table = fd.Discrete(reference.alpha(np.arange(1, n + 1) / n) ** 2)
        alpha_errors.append(np.max(np.abs(np.log(table.alpha(t)) - np.log(reference.alpha(t)))))
        beta_errors.append(np.max(np.abs(table.drift_rate(t) - reference.drift_rate(t))))
        nodes = np.arange(1, n + 1) / n
        np.testing.assert_allclose(table.alpha(nodes) ** 2, table.alphas_cumprod, rtol=1e-13)  # through every entry
    assert observed_order(1 / np.asarray(sizes), alpha_errors) >= 2.8, alpha_errors
    assert observed_order(1 / np.asarray(sizes), beta_errors) >= 1.8, beta_errors


def test_discrete_interpolation_is_monotone_on_a_rough_table():
    # random (but decreasing) betas: the interpolant of B stays increasing, so sigma(t) stays invertible
    rng = np.random.default_rng(0)
    table = fd.Discrete(np.cumprod(1 - rng.uniform(1e-4, 0.05, 300)))
    t = np.linspace(0, 1, 20001)
    assert np.all(np.diff(table.sigma(t)) > 0) and np.all(table.drift_rate(t) >= 0)


def test_linear_discrete_tends_to_vp_at_first_order():
    # DDPM's betas beta_i ~ b(t_i)/n: the table converges to VP(n beta_start, n beta_end) as n grows
    t = np.linspace(0.05, 1.0, 50)
    sizes = [100, 200, 400, 800]
    errors = [np.max(np.abs(fd.LinearDiscrete(0.1 / n, 20.0 / n, n).alpha(t) - fd.VP(0.1, 20.0).alpha(t)))
              for n in sizes]
    assert 0.9 <= observed_order(1 / np.asarray(sizes), errors) <= 1.2, errors


def test_discrete_index_and_time():
    table = fd.LinearDiscrete(n=1000)
    np.testing.assert_allclose(table.t_of_index([0, 499, 999]), [0.001, 0.5, 1.0])
    np.testing.assert_allclose(table.index_of_t(table.t_of_index([0.0, 10.5, 999.0])), [0.0, 10.5, 999.0])
    np.testing.assert_allclose(table.alpha(table.t_of_index(np.arange(1000))) ** 2, table.alphas_cumprod,
                               rtol=1e-13)


@pytest.mark.parametrize("bad, match", [
    ([0.9, 0.95], "strictly decreasing"), ([1.0, 0.5], r"in \(0, 1\)"), ([0.5, 0.0], "zero terminal SNR"),
    ([0.5], "at least 2"), ([[0.9, 0.8]], "1-D|ndim|dimension"),
])
def test_bad_tables_are_refused(bad, match):
    with pytest.raises(fd.InputError, match=match):
        fd.Discrete(bad)


def test_from_diffusers_matches_diffusers_tables():
    diffusers = pytest.importorskip("diffusers")
    for config in [{"beta_schedule": "linear"}, {"beta_schedule": "scaled_linear", "beta_start": 0.00085,
                                                  "beta_end": 0.012}, {"beta_schedule": "squaredcos_cap_v2"}]:
        scheduler = diffusers.DDPMScheduler(num_train_timesteps=1000, **config)
        ours = fd.Discrete.from_diffusers(dict(scheduler.config))
        theirs = scheduler.alphas_cumprod.double().numpy()
        np.testing.assert_allclose(ours.alphas_cumprod, theirs, rtol=2e-5)  # diffusers computes in float32
        exact = fd.Discrete.from_diffusers(scheduler)  # the scheduler itself: its own numbers
        np.testing.assert_array_equal(exact.alphas_cumprod, theirs)
    assert type(fd.Discrete.from_diffusers({"beta_schedule": "scaled_linear"})) is fd.ScaledLinear
    with pytest.raises(fd.InputError, match="rescale_betas_zero_snr"):
        fd.Discrete.from_diffusers({"rescale_betas_zero_snr": True})
    with pytest.raises(fd.InputError, match="beta_schedule"):
        fd.Discrete.from_diffusers({"beta_schedule": "sigmoid"})


@pytest.mark.parametrize("process", EVERY_PROCESS, ids=IDS)
def test_every_process_round_trips_through_its_description(process):
    again = process_from_dict(process.to_dict())
    assert again == process and hash(again) == hash(process)
    np.testing.assert_array_equal(again.alpha([0.1, 0.7]), process.alpha([0.1, 0.7]))


def test_kind_names_are_spelled_freely():
    assert process_class("scaled-linear") is process_class("scaled_linear") is process_class("ScaledLinear")
    assert process_class("cosine") is fd.Cosine and process_class("edm") is fd.EDM
    assert set(PROCESSES) >= {"Cosine", "Discrete", "LinearDiscrete", "ScaledLinear", "EDM"}
    with pytest.raises(fd.InputError, match="must be one of"):
        process_class("sigmoid")


# ------------------------------------------------------------------------------------------------ the solvers

# (process, T, t_min, box half-width, co-moving data scale)
SOLVER_CASES = {
    "Cosine": (fd.Cosine(), 0.99, 1e-3, 5.0, None),
    "ScaledLinear": (fd.ScaledLinear(), 1.0, 1e-3, 5.0, None),
    "DiscreteCosine": (fd.Discrete.from_diffusers({"beta_schedule": "squaredcos_cap_v2"}), 0.99, 1e-3, 5.0, None),
    "EDM": (fd.EDM(), 80.0, 0.002, 5.0, 1.0),
}


def _grid_error(name, cells, gamma):
    process, T, t_min, half, comoving = SOLVER_CASES[name]
    grid = fd.Grid([(-half, half)], cells)
    options = {"comoving": comoving} if comoving else {}
    q0 = MIXTURE.evolve(process, T)  # a law: cell-averaged on the (co-moving) grid at T by the solver
    solution = fd.solve_reverse(process, grid, fd.ExactScore(process, MIXTURE), T, q0=q0, gamma=gamma, t_min=t_min,
                                steps=cells // 2, **options)
    final_grid = solution.grid_at(t_min) if comoving else grid
    exact = MIXTURE.evolve(process, t_min).cell_average(final_grid)
    return final_grid.integrate(np.abs(solution.final - exact))


@pytest.mark.parametrize("gamma, required", [(1.0, 1.8), (0.0, 1.5)])  # SG + TR-BDF2; limited transport at 0
@pytest.mark.parametrize("name", list(SOLVER_CASES))
def test_reverse_density_converges_on_every_schedule(name, gamma, required):
    cells = [100, 200, 400]
    errors = [_grid_error(name, n, gamma) for n in cells]
    assert observed_order(1 / np.asarray(cells), errors) >= required, errors


@pytest.mark.parametrize("name", list(SOLVER_CASES))
def test_every_view_runs_every_schedule_against_the_exact_law(name):
    # forward density, forward and reverse particles, and the likelihood, each against the exact evolved mixture
    process, T, t_min, half, comoving = SOLVER_CASES[name]
    options = {"comoving": comoving} if comoving else {}
    grid = fd.Grid([(-half, half)], 400)
    forward = fd.solve_forward(process, grid, MIXTURE, T, steps=200, **options)
    end_grid = forward.grid_at(T) if comoving else grid
    assert end_grid.integrate(np.abs(forward.final - MIXTURE.evolve(process, T).cell_average(end_grid))) < 1e-3

    samples = fd.sample_forward(process, MIXTURE.sample(20000, seed=1), T).samples
    exact = MIXTURE.evolve(process, T)
    assert abs(samples.std() - np.sqrt(exact.covariances[:, 0, 0] @ exact.weights + exact.means[:, 0] ** 2
                                       @ exact.weights)) < 0.03 * samples.std()

    score = fd.ExactScore(process, MIXTURE)
    y0 = MIXTURE.evolve(process, T).sample(40000, seed=2)
    generated = fd.sample_reverse(process, score, y0, T, t_min=t_min, steps=100, seed=3).samples
    target = MIXTURE.evolve(process, t_min).sample(40000, seed=4)
    floor = fd.metrics.sliced_w(MIXTURE.evolve(process, t_min).sample(40000, seed=5), target)
    assert fd.metrics.sliced_w(generated, target) < 3 * floor + 5e-3



@pytest.mark.parametrize("name", list(SOLVER_CASES))
def test_likelihood_converges_at_second_order_on_every_schedule(name):
    # the probability-flow ODE (Heun): its order against a fine run, and the fine run against the exact log p(t_min)
    # up to the prior mismatch q_T != p_T (ScaledLinear ends at alpha_T = 0.068: Stable Diffusion's nonzero SNR)
    process, T, t_min, _, _ = SOLVER_CASES[name]
    score, x = fd.ExactScore(process, MIXTURE), np.array([[-1.2], [0.9]])
    fine = fd.log_likelihood(process, score, x, T, t_min=t_min, steps=1600)
    assert np.max(np.abs(fine - MIXTURE.evolve(process, t_min).logpdf(x))) < 5e-4
    steps = [50, 100, 200]
    errors = [np.max(np.abs(fd.log_likelihood(process, score, x, T, t_min=t_min, steps=n) - fine)) for n in steps]
    assert observed_order(1 / np.asarray(steps), errors) >= 1.8, errors


@pytest.mark.parametrize("name", ["Cosine", "EDM"])
def test_the_audit_runs_on_every_schedule(name):
    # the audit of the exact score against itself: zero score error; a shifted model: a positive error and a
    # Girsanov bound (its law, samples and both views run on the schedule's own time range)
    process, T, t_min, half, _ = SOLVER_CASES[name]
    exact = fd.ExactScore(process, MIXTURE)
    model = fd.ExactScore(process, fd.GaussianMixture(MIXTURE.weights, 1.1 * MIXTURE.means, MIXTURE.covariances))
    same = fd.audit(exact, exact, process, T=T, t_min=t_min, particles=2000, n_samples=2000)
    shifted = fd.audit(model, exact, process, T=T, t_min=t_min, particles=2000, n_samples=2000)
    assert np.max(same.score_error) < 1e-20
    assert np.all(shifted.score_error > 0) and shifted.girsanov.integral > 10 * shifted.girsanov.integral_stderr
