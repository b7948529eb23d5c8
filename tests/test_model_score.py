"""fpdiff.ModelScore: a model's callable (eps, x0, v or score; its own time input) as a score.

The reference is the exact Gaussian-mixture score: rewritten as an eps, x0 or
v model of its own time input (by the definitions of those quantities, and the
process's inverse time maps), it must give the exact score back to round-off,
the same reverse density and the same particles. The PyTorch and JAX adapters
are checked against the same model called by hand, and a small real network
runs through the grid, the particles and the audit.
"""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.errors import BlowUpError, InputError
from fpdiff.scores.field import coefficients as model_coefficients

MIXTURE = fd.GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.2, 0.3])
MIXTURE_2D = fd.GaussianMixture([0.5, 0.5], [[-1.0, 0.5], [1.0, -0.3]], [[0.3, 0.2], [0.25, 0.4]])
EPS = np.finfo(float).eps

# (process, the model's time input, a start time T): every schedule kind with the time variable its models use
CASES = [(fd.VP(), "t", 1.0), (fd.Cosine(), "log-snr", 0.9), (fd.EDM(), "sigma", 2.0),
         (fd.LinearDiscrete(), "index", 0.9)]
CASE_IDS = ["VP-t", "Cosine-log-snr", "EDM-sigma", "Discrete-index"]

# the forward time from the model's time input, by the process's own inverse maps
TIME_OF_INPUT = {"t": lambda process, time: time, "sigma": lambda process, time: process.t_of_sigma(time),
                 "log-snr": lambda process, time: process.t_of_log_snr(time),
                 "index": lambda process, time: process.t_of_index(time)}


def exact_model(process, exact, parametrization, time_input):
    """The exact score rewritten as a model ``fn(x, time)`` predicting ``parametrization`` from its time input.

    Each prediction from its definition: eps = -sqrt(v) s, x0 = Tweedie's
    denoiser, v = (alpha eps - sqrt(v) x0) / sqrt(alpha^2 + v).
    """
    def fn(x, time):
        assert time.shape == (len(x),) and np.all(time == time[0])  # a batch of equal times
        t = float(TIME_OF_INPUT[time_input](process, time[0]))
        alpha, variance = float(process.alpha(t)), float(process.variance(t))
        score = exact.score(x, t)
        eps = -np.sqrt(variance) * score
        x0 = (x + variance * score) / alpha
        return {"score": score, "eps": eps, "x0": x0,
                "v": (alpha * eps - np.sqrt(variance) * x0) / np.sqrt(alpha * alpha + variance)}[parametrization]
    return fn


def points_at(process, t, dim=1):
    spread = np.sqrt(float(process.alpha(t)) ** 2 * 0.4 + float(process.variance(t)))
    grid = np.linspace(-4.0, 4.0, 41) * spread
    return np.stack([grid] * dim, axis=1) + np.arange(dim) * 0.1


@pytest.mark.parametrize("parametrization", ["eps", "x0", "v", "score"])
@pytest.mark.parametrize("process, time_input, T", CASES, ids=CASE_IDS)
def test_the_exact_score_as_a_model_gives_the_exact_score_and_denoiser(process, time_input, T, parametrization):
    exact = fd.ExactScore(process, MIXTURE)
    model = fd.ModelScore(exact_model(process, exact, parametrization, time_input), process, parametrization,
                          time_input, dim=1)
    for t in (1e-3, 0.05, 0.3, T):
        x = points_at(process, t)
        alpha, variance = float(process.alpha(t)), float(process.variance(t))
        score, x0 = exact.score(x, t), exact.xhat0(x, t)
        # round-off of the conversion: the x0 form divides alpha x0 - x by v (cancellation), the others are
        # products; the time maps (t_of_sigma, t_of_log_snr by bisection) add a few ulps of t
        bound = 64 * EPS * ((np.abs(alpha * x0) + np.abs(x)) / variance + np.abs(score))
        np.testing.assert_array_less(np.abs(model.score(x, t) - score), bound)
        np.testing.assert_array_less(np.abs(model.xhat0(x, t) - x0), bound * variance / alpha)


@pytest.mark.parametrize("spelling, name", [("epsilon", "eps"), ("sample", "x0"), ("v_prediction", "v")])
def test_diffusers_spellings_are_the_same_parametrisations(spelling, name):
    process = fd.VP()
    exact = fd.ExactScore(process, MIXTURE)
    fn = exact_model(process, exact, name, "t")
    x = points_at(process, 0.4)
    ours = fd.ModelScore(fn, process, name)
    theirs = fd.ModelScore(fn, process, spelling)
    assert theirs.parametrization == name
    np.testing.assert_array_equal(theirs.score(x, 0.4), ours.score(x, 0.4))


def test_v_prediction_on_a_variance_preserving_schedule_is_diffusers_v():
    # diffusers (DDPMScheduler, prediction_type="v_prediction"): v = sqrt(abar) eps - sqrt(1 - abar) x0 and
    # x0 = sqrt(abar) x - sqrt(1 - abar) v, with abar the alphas_cumprod entry of the timestep
    process = fd.LinearDiscrete()
    step = 417
    abar = process.alphas_cumprod[step]
    t = float(process.t_of_index(step))
    rng = np.random.default_rng(3)
    x0, eps = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    x = np.sqrt(abar) * x0 + np.sqrt(1 - abar) * eps
    v = np.sqrt(abar) * eps - np.sqrt(1 - abar) * x0
    model = fd.ModelScore(lambda x, time: v, process, "v_prediction", "index")
    np.testing.assert_allclose(model.xhat0(x, t), x0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.score(x, t), -eps / np.sqrt(1 - abar), rtol=0, atol=1e-12)


def test_the_time_input_is_the_process_time_map():
    process = fd.LinearDiscrete()
    seen = {}

    def fn(x, time):
        seen["time"] = time
        return np.zeros_like(x)

    t = 0.4321
    for time_input, expected in (("t", t), ("sigma", process.sigma(t)), ("log-snr", process.log_snr(t)),
                                 ("log_snr", process.log_snr(t)), ("index", t * process.n - 1),
                                 (lambda s: 10 * s, 10 * t)):
        fd.ModelScore(fn, process, "eps", time_input).score(np.zeros((3, 1)), t)
        np.testing.assert_allclose(seen["time"], np.full(3, expected), rtol=1e-14)
    fd.ModelScore(fn, process, "eps", "sigma", time_shape="scalar").score(np.zeros((3, 1)), t)
    assert isinstance(seen["time"], float) and seen["time"] == pytest.approx(float(process.sigma(t)), rel=1e-15)


@pytest.mark.parametrize("process, time_input, T", CASES, ids=CASE_IDS)
def test_a_v_model_gives_the_exact_scores_reverse_density_and_particles(process, time_input, T):
    exact = fd.ExactScore(process, MIXTURE)
    model = fd.ModelScore(exact_model(process, exact, "v", time_input), process, "v", time_input, dim=1)
    q0 = MIXTURE.evolve(process, T)
    grid = fd.Grid([(-8.0, 8.0)], 160)
    expected = fd.solve_reverse(process, grid, exact, T, q0=q0, t_min=0.01, steps=40)
    got = fd.solve_reverse(process, grid, model, T, q0=q0, t_min=0.01, steps=40)
    # the same field to round-off (above), through 40 implicit steps: a few hundred ulps of the peak
    np.testing.assert_allclose(got.values, expected.values, rtol=0, atol=1e3 * EPS * expected.values.max())

    start = q0.sample(2000, seed=1)
    expected = fd.sample_reverse(process, exact, start, T, t_min=0.01, steps=30, seed=4)
    got = fd.sample_reverse(process, model, start, T, t_min=0.01, steps=30, seed=4)
    # the same noise (counter-based, per particle); the exact score in numba, the model from Python
    np.testing.assert_allclose(got.samples, expected.samples, rtol=0, atol=1e3 * EPS * np.abs(start).max())


@pytest.mark.parametrize("process, time_input, T", [CASES[0], CASES[2]], ids=[CASE_IDS[0], CASE_IDS[2]])
def test_an_x0_model_gives_the_exact_scores_log_likelihood(process, time_input, T):
    exact = fd.ExactScore(process, MIXTURE)
    model = fd.ModelScore(exact_model(process, exact, "x0", time_input), process, "x0", time_input, dim=1)
    x = MIXTURE.sample(20, seed=3)
    expected = fd.log_likelihood(process, exact, x, T, t_min=0.01, steps=40, divergence="fd")
    got = fd.log_likelihood(process, model, x, T, t_min=0.01, steps=40, divergence="fd")
    # the same method on the same field: the central differences (step delta = 1e-3 sqrt(v_t) >= 1e-5 here)
    # turn the score's round-off (~1e-16 |s|) into ~1e-11 |s| of the divergence, integrated over [t_min, T]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_a_2d_model_without_dim_takes_the_points_dimension_and_samples_from_given_points():
    process = fd.VP()
    exact = fd.ExactScore(process, MIXTURE_2D)
    model = fd.ModelScore(exact_model(process, exact, "eps", "t"), process, "eps")
    assert model.dim is None
    x = points_at(process, 0.3, dim=2)
    np.testing.assert_allclose(model.score(x, 0.3), exact.score(x, 0.3), rtol=1e-13, atol=1e-13)
    start = MIXTURE_2D.evolve(process, 1.0).sample(500, seed=2)
    got = fd.sample_reverse(process, model, start, 1.0, t_min=0.01, steps=20, seed=5)
    expected = fd.sample_reverse(process, exact, start, 1.0, t_min=0.01, steps=20, seed=5)
    np.testing.assert_allclose(got.samples, expected.samples, rtol=0, atol=1e-12)


def test_batches_give_the_unbatched_result():
    process = fd.Cosine()
    exact = fd.ExactScore(process, MIXTURE_2D)
    calls = []

    def fn(x, time):
        calls.append(len(x))
        return exact_model(process, exact, "x0", "t")(x, time)

    x = np.random.default_rng(0).normal(size=(103, 2))
    whole = fd.ModelScore(fn, process, "x0").score(x, 0.5)
    assert calls == [103]
    calls.clear()
    batched = fd.ModelScore(fn, process, "x0", batch_size=10)
    np.testing.assert_array_equal(batched.score(x, 0.5), whole)
    np.testing.assert_array_equal(batched.xhat0(x, 0.5), fd.ModelScore(fn, process, "x0").xhat0(x, 0.5))
    assert calls[:11] == [10] * 10 + [3]


def test_bad_arguments_are_refused_naming_them():
    process = fd.VP()
    fn = lambda x, time: np.zeros_like(x)  # noqa: E731
    with pytest.raises(InputError, match="`fn` must be a callable"):
        fd.ModelScore("model.pt", process)
    with pytest.raises(InputError, match="`parametrization` must be one of .*'v_prediction'; got 'noise'"):
        fd.ModelScore(fn, process, "noise")
    with pytest.raises(InputError, match="`time_input` must be one of .*got 'timestep'"):
        fd.ModelScore(fn, process, "eps", "timestep")
    with pytest.raises(InputError, match="'index' .* needs a Discrete schedule"):
        fd.ModelScore(fn, process, "eps", "index")
    with pytest.raises(InputError, match="`batch_size` must be"):
        fd.ModelScore(fn, process, batch_size=0)
    with pytest.raises(InputError, match="`time_shape` must be one of"):
        fd.ModelScore(fn, process, time_shape="column")
    with pytest.raises(InputError, match="`t_range` must satisfy 0 < t_lo < t_hi <= 1"):
        fd.ModelScore(fn, fd.Cosine(), t_range=(0.1, 2.0))
    with pytest.raises(InputError, match="`process` must be"):
        fd.ModelScore(fn, "vp")
    model = fd.ModelScore(fn, process, t_range=(0.01, 1.0))
    with pytest.raises(InputError, match=r"`t` = 2 is outside the range \[0.01, 1\]"):
        model.score(np.zeros((2, 1)), 2.0)
    with pytest.raises(InputError, match="`x` must have shape"):
        model.score(np.zeros((2, 2, 2)), 0.5)
    with pytest.raises(InputError, match="`x` must have shape"):
        fd.ModelScore(fn, process, dim=2).score(np.zeros((4, 3)), 0.5)


def test_a_score_of_another_process_or_dimension_is_refused_by_the_solvers():
    model = fd.ModelScore(lambda x, time: np.zeros_like(x), fd.VP(), dim=1)
    with pytest.raises(InputError, match="was made for the process VP"):
        fd.sample_reverse(fd.Cosine(), model, 10, 0.9)
    with pytest.raises(InputError, match=r"must have 1 column\(s\) \(the score's dimension\); got shape \(5, 2\)"):
        fd.sample_reverse(fd.VP(), model, np.zeros((5, 2)), 1.0)
    with pytest.raises(InputError, match="`score` has dimension 1 but the problem has 2"):
        fd.solve_reverse(fd.VP(), fd.Grid([(-3, 3), (-3, 3)], 8), model, 1.0)


def test_a_model_returning_the_wrong_shape_or_nan_raises_naming_the_model_and_time():
    process = fd.EDM()

    def wrong_shape(x, time):
        return x[:, :1]

    def unstable(x, time):
        out = np.zeros_like(x)
        out[2, 0] = np.nan if time[0] > 1 else 0.0
        return out

    x = np.ones((4, 2))
    with pytest.raises(InputError, match=r"the model .*wrong_shape returned shape \(4, 1\) for points of shape "
                                         r"\(4, 2\) at t = 0.5"):
        fd.ModelScore(wrong_shape, process).score(x, 0.5)
    model = fd.ModelScore(unstable, process, "eps", "sigma", name="unet")
    np.testing.assert_array_equal(model.score(x, 0.5), 0.0)
    with pytest.raises(BlowUpError, match=r"the model unet returned NaN or inf at t = 3 \(model time input sigma = "
                                          r"3\), first at point 2") as caught:
        model.score(x, 3.0)
    assert caught.value.t == 3.0
    with pytest.raises(BlowUpError, match="the model unet returned NaN"):
        fd.sample_reverse(process, model, x, 5.0, t_min=0.5, steps=5)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_the_denoiser_is_diffusers_pred_original_sample(prediction_type):
    # the real library: DDPMScheduler.step's x0 estimate from the same model output at the same timestep
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    scheduler = diffusers.DDPMScheduler(prediction_type=prediction_type, clip_sample=False)
    process = fd.Discrete.from_diffusers(scheduler)
    rng = np.random.default_rng(7)
    x, output = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    model = fd.ModelScore(lambda x, time: output, process, prediction_type, "index")
    for step in (0, 10, 500, 999):
        t = process.t_of_index(step).item()
        expected = scheduler.step(torch.from_numpy(output), step, torch.from_numpy(x)).pred_original_sample
        # diffusers forms its coefficients (sqrt(abar), 1 - abar, ...) in float32 from its float32 alphas_cumprod,
        # which the Discrete schedule holds exactly: a few float32 ulps of each of the two terms C V and D x
        _, _, c, d = model_coefficients(process, t, model.parametrization)
        bound = 8 * np.finfo(np.float32).eps * (np.abs(c * output) + np.abs(d * x))
        np.testing.assert_array_less(np.abs(model.xhat0(x, t) - expected.numpy()), bound)


# ---------------------------------------------------------------- PyTorch


def test_neither_torch_nor_jax_is_imported_until_an_adapter_is_used():
    import subprocess
    import sys

    code = ("import sys, numpy as np, fpdiff as fd; "
            "fd.ModelScore(lambda x, t: x, fd.VP()).score(np.zeros((2, 1)), 0.5); "
            "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "[]"


def _trained_torch_model(torch, process, steps=150):
    """A small MLP eps(x, t) trained by denoising score matching on samples of MIXTURE (about a second).

    One thread: the tests share their cores, and threads that wait on each other cost more than they give.
    """
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(torch, process, steps)
    finally:
        torch.set_num_threads(threads)


def _train(torch, process, steps):

    class EpsNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64),
                                           torch.nn.SiLU(), torch.nn.Linear(64, 1))

        def forward(self, x, t):
            return self.net(torch.cat([x, t[:, None]], dim=1))

    net = EpsNet()
    data = torch.from_numpy(MIXTURE.sample(4096, seed=0)).float()
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x0 = data[torch.randint(len(data), (512,), generator=generator)]
        t = 0.01 + 0.99 * torch.rand(512, generator=generator)
        alpha = torch.from_numpy(process.alpha(t.double().numpy())).float()[:, None]
        std = torch.from_numpy(np.sqrt(process.variance(t.double().numpy()))).float()[:, None]
        eps = torch.randn(512, 1, generator=generator)
        loss = ((net(alpha * x0 + std * eps, t) - eps) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net


def test_the_torch_adapter_is_the_module_called_by_hand():
    torch = pytest.importorskip("torch")
    process = fd.VP()
    net = _trained_torch_model(torch, process, steps=1)
    net.train()
    model = fd.ModelScore.from_torch(net, process, "eps", dim=1)
    assert not net.training  # eval mode
    assert model.name == "EpsNet"
    x = points_at(process, 0.3)
    with torch.no_grad():
        by_hand = net(torch.from_numpy(x).float(), torch.full((len(x),), 0.3)).double().numpy()
    np.testing.assert_allclose(model.score(x, 0.3), -by_hand / np.sqrt(process.variance(0.3)), rtol=4 * EPS)
    double = fd.ModelScore.from_torch(net.double(), process, "eps", dim=1)  # the dtype follows the module
    with torch.no_grad():
        by_hand = net(torch.from_numpy(x), torch.full((len(x),), 0.3, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(double.score(x, 0.3), -by_hand / np.sqrt(process.variance(0.3)), rtol=4 * EPS)
    with pytest.raises(InputError, match="`dtype` must be a torch dtype or 'float32' or 'float64'; got 'half'"):
        fd.ModelScore.from_torch(net, process, dtype="half")


def test_a_trained_torch_mlp_runs_through_the_grid_the_particles_and_the_audit():
    torch = pytest.importorskip("torch")
    process = fd.VP()
    model = fd.ModelScore.from_torch(_trained_torch_model(torch, process), process, "epsilon", "t", dim=1,
                                     batch_size=4096, t_range=(0.01, 1.0))
    grid = fd.Grid([(-5.0, 5.0)], 100)
    density = fd.solve_reverse(process, grid, model, 1.0, t_min=0.01, steps=30)
    assert np.all(np.isfinite(density.values)) and density.final.min() > -1e3 * EPS * density.final.max()
    samples = fd.sample_reverse(process, model, 3000, 1.0, t_min=0.01, steps=30, seed=0)
    assert np.all(np.isfinite(samples.samples))
    result = fd.audit(model, fd.ExactScore(process, MIXTURE), grid=grid, T=1.0, t_min=0.01,
                      times=np.geomspace(0.01, 1.0, 9), n_samples=2000, particles=2000, steps=30,
                      particle_steps=30)
    assert not result.failed
    assert np.all(np.isfinite(result.score_error)) and np.isfinite(result.girsanov.bound)
    # it learned something: its output is much closer to p_{t_min} than the prior it starts from is
    target = grid.cell_average(MIXTURE.evolve(process, 0.01))
    prior = grid.cell_average(process.prior(1.0))
    assert result.density.learned["kl"] < 0.5 * fd.metrics.kl(target, prior, grid)


# ---------------------------------------------------------------- JAX


def test_the_jax_adapter_gives_the_exact_score_to_float32_round_off():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    process = fd.VP()
    gaussian = fd.GaussianMixture([1.0], [[0.5]], [0.2])  # one Gaussian: eps in closed form

    def eps(x, t):
        # p_t = N(alpha m, alpha^2 c + v): eps = -sqrt(v) s = sqrt(v) (x - alpha m) / (alpha^2 c + v)
        log_alpha = -0.25 * t * t * (20.0 - 0.1) - 0.5 * t * 0.1  # VP(beta_min=0.1, beta_max=20)
        alpha = jnp.exp(log_alpha)[:, None]
        variance = 1.0 - alpha * alpha
        return jnp.sqrt(variance) * (x - alpha * 0.5) / (alpha * alpha * 0.2 + variance)

    model = fd.ModelScore.from_jax(eps, process, "eps", dim=1, batch_size=64)
    exact = fd.ExactScore(process, gaussian)
    for t in (0.05, 0.4, 1.0):
        x = points_at(process, t)
        score = exact.score(x, t)
        np.testing.assert_allclose(model.score(x, t), score, rtol=0, atol=64 * np.finfo(np.float32).eps
                                   * np.abs(score).max())
    samples = fd.sample_reverse(process, model, 1000, 1.0, t_min=0.05, steps=20, seed=0)
    assert np.all(np.isfinite(samples.samples))
    if not jax.config.jax_enable_x64:
        with pytest.raises(InputError, match="needs JAX's 64-bit mode"):
            fd.ModelScore.from_jax(eps, process, dtype="float64")


# ---------------------------------------------------------------- docs/models.md


def test_the_bring_your_model_examples_run_as_printed(tmp_path, monkeypatch):
    """Every ```python block of docs/models.md (not the ```python no-run ones), in order, in one namespace."""
    import contextlib
    import io
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "models.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 4
    monkeypatch.chdir(tmp_path)  # the file route writes score.h5
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            if "import torch" in block:
                pytest.importorskip("torch")
            exec(compile(block, "docs/models.md", "exec"), namespace)
    lines = printed.getvalue().splitlines()
    # the stand-in model is the exact eps of N(1, 0.5^2): its samples' mean is 1 within Monte-Carlo error
    # (10^4 samples: standard error 0.005) and discretisation; its score error is round-off
    assert lines[0] == "file: mean of the samples 1.00 (data: 1.00)"
    assert float(lines[1].split()[-1]) < 1e-20
    assert lines[2] == "torch: 10000 samples, finite: True"
