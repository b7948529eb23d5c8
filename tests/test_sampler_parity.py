"""The library samplers step for step against diffusers' schedulers (float64, same model, start points and noise).

The model both sides call is the exact noise prediction of a Gaussian mixture,
:math:`\\hat\\epsilon(x) = -\\sqrt{v}\\,\\nabla\\log p_t(x)`, written here in numpy from the
scheduler's own table (an oracle independent of fpdiff's score code); fpdiff
evaluates the same mixture's score in its numba kernels (the compiled path),
or, with ``noise=`` given, in its numpy stages.

diffusers computes its tables in float32; the tests cast them to float64 after
``set_timesteps`` (from the same float32 ``alphas_cumprod`` that
``fd.Discrete.from_diffusers`` reads), so both sides step on the same numbers.
Its Euler, Euler-ancestral and DPM-Solver schedulers also cast the sample to
float32 inside ``step`` (``sample = sample.to(torch.float32)``): the tests
give those modules a ``torch`` whose ``float32`` is float64, the only
change to diffusers' code path.
"""

import types

import numpy as np
import pytest
from scipy.special import softmax

import fpdiff as fd

# diffusers' schedulers call np.asarray(..., copy=False) on the float64 stand-in for torch the tests give them
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

WEIGHTS = np.array([0.4, 0.6])
MEANS = np.array([[-1.5, 1.0], [1.5, -1.0]])
VARIANCES = np.array([[0.5**2, 0.6**2], [0.7**2, 0.5**2]])  # diagonal covariances
MIXTURE = fd.GaussianMixture(WEIGHTS, MEANS, VARIANCES)
PARTICLES = 64
RELATIVE = 1e-10


def exact_eps(x, alpha, variance):
    r"""The mixture's :math:`\hat\epsilon` at :math:`p_t = \sum_k w_k N(\alpha\mu_k, \alpha^2 C_k + v)`."""
    spread = alpha * alpha * VARIANCES[None] + variance  # (1, K, d)
    offset = x[:, None, :] - alpha * MEANS[None]  # (M, K, d)
    log_terms = np.log(WEIGHTS) - 0.5 * np.sum(np.log(2 * np.pi * spread) + offset**2 / spread, axis=2)
    score = np.sum(softmax(log_terms, axis=1)[:, :, None] * (-offset / spread), axis=1)
    return -np.sqrt(variance) * score


class _Float64Torch(types.ModuleType):
    """``torch`` with ``float32`` read as ``float64`` (diffusers' upcasts inside ``step``, see the module docstring)."""

    float32 = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


def _double_precision(monkeypatch, scheduler):
    module = __import__(type(scheduler).__module__, fromlist=["torch"])
    monkeypatch.setattr(module, "torch", _Float64Torch("torch"))
    return module


def _scheduler(cls, beta_schedule, steps, **config):
    scheduler = cls(num_train_timesteps=1000, beta_schedule=beta_schedule, **config)
    scheduler.alphas_cumprod = scheduler.alphas_cumprod.to(torch.float64)
    process = fd.Discrete.from_diffusers(scheduler)
    scheduler.set_timesteps(steps)
    if hasattr(scheduler, "final_alpha_cumprod"):
        scheduler.final_alpha_cumprod = scheduler.final_alpha_cumprod.to(torch.float64)
    return scheduler, process


def _float64_sigmas(scheduler):
    """The scheduler's sigmas recomputed in float64 from the float64 table at its own timesteps (then 0)."""
    table = scheduler.alphas_cumprod.numpy()
    levels = np.sqrt((1 - table) / table)
    timesteps = scheduler.timesteps.numpy().astype(np.float64)
    sigmas = np.concatenate([np.interp(timesteps, np.arange(len(levels)), levels), [0.0]])
    assert np.allclose(sigmas, scheduler.sigmas.numpy(), rtol=1e-6)  # diffusers' own, to float32
    scheduler.sigmas = torch.from_numpy(sigmas)
    return sigmas


def _start(seed=0):
    return np.random.default_rng(seed).normal(size=(PARTICLES, 2))


def _fpdiff(process, scheme, times_or_name, steps, y0, **options):
    """fpdiff's run, with every step saved: the snapshots after steps 0, 1, ..., N (rows: start, then each step)."""
    score = fd.ExactScore(process, MIXTURE)
    grid = fd.timegrid.make_time_grid(times_or_name, process, None, None, steps, library=True,
                                      steps_offset=options.get("steps_offset", 0))
    run = fd.sample_reverse(process, score, y0, scheme=scheme, steps=steps, time_grid=times_or_name, save_at=grid,
                            **options)
    np.testing.assert_array_equal(run.t, grid)
    return run.snapshots


def _close(fpdiff_steps, diffusers_steps):
    """Every step's particles equal to ``RELATIVE`` of the largest coordinate."""
    fpdiff_steps, diffusers_steps = np.asarray(fpdiff_steps), np.asarray(diffusers_steps)
    assert fpdiff_steps.shape == diffusers_steps.shape
    scale = np.max(np.abs(diffusers_steps), axis=(1, 2), keepdims=True)
    worst = np.max(np.abs(fpdiff_steps - diffusers_steps) / scale)
    assert worst <= RELATIVE, worst


SCHEDULES = ["linear", "squaredcos_cap_v2"]


# ---------------------------------------------------------- DDPM and DDIM (timesteps on the table)


def _replay_noise(monkeypatch, module, noise):
    """diffusers' ``randn_tensor`` in ``module`` returns ``noise[0], noise[1], ...`` in turn."""
    blocks = iter(noise)
    monkeypatch.setattr(module, "randn_tensor", lambda *args, **kwargs: torch.from_numpy(next(blocks)))


def _table_loop(scheduler, y0, step_options=lambda k: {}):
    table = scheduler.alphas_cumprod.numpy()
    x = torch.from_numpy(y0.copy())
    states = [y0]
    for k, timestep in enumerate(scheduler.timesteps):
        a = table[int(timestep)]
        eps = torch.from_numpy(exact_eps(x.numpy(), np.sqrt(a), 1 - a))
        x = scheduler.step(eps, timestep, x, **step_options(k)).prev_sample
        states.append(x.numpy())
    return states


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
@pytest.mark.parametrize("spacing, steps", [("leading", 20), ("trailing", 20), ("linspace", 13)])
def test_ddpm_equals_diffusers_ddpm_scheduler(monkeypatch, beta_schedule, spacing, steps):
    scheduler, process = _scheduler(diffusers.DDPMScheduler, beta_schedule, steps, clip_sample=False,
                                    timestep_spacing=spacing)
    y0 = _start()
    noise = np.random.default_rng(1).normal(size=(steps, PARTICLES, 2))
    # the last step goes to the data with variance 0, which diffusers clamps to 1e-20 and still draws (when
    # its timestep is > 0): a zero block keeps its 1e-10 noise out; fpdiff's last step draws none
    noise[-1] = 0.0
    _replay_noise(monkeypatch, __import__(type(scheduler).__module__, fromlist=["x"]), noise)
    reference = _table_loop(scheduler, y0)
    _close(_fpdiff(process, "ddpm", f"diffusers-{spacing}", steps, y0, noise=noise), reference)


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("spacing, offset", [("leading", 0), ("leading", 1), ("trailing", 0)])
def test_ddim_equals_diffusers_ddim_scheduler(beta_schedule, eta, spacing, offset):
    # DDIM steps from timestep k to k - 1000 // steps: the next timestep of the leading spacing, and of the
    # trailing one when steps divides 1000 (diffusers' linspace DDIM steps off its own list: not replayed)
    steps = 25
    scheduler, process = _scheduler(diffusers.DDIMScheduler, beta_schedule, steps, clip_sample=False,
                                    timestep_spacing=spacing, steps_offset=offset)
    y0 = _start()
    noise = np.random.default_rng(2).normal(size=(steps, PARTICLES, 2))
    options = (lambda k: {"eta": eta, "variance_noise": torch.from_numpy(noise[k])}) if eta else \
        (lambda k: {"eta": 0.0})
    reference = _table_loop(scheduler, y0, options)
    given = {"noise": noise} if eta else {}  # eta = 0: the compiled path
    _close(_fpdiff(process, "ddim", f"diffusers-{spacing}", steps, y0, eta=eta, steps_offset=offset, **given),
           reference)


# ---------------------------------------------------------- the sigma schedulers (Euler, Heun, DPM-Solver)


def _sigma_grid(process, sigmas):
    # timestep n - 1 (t = 1) has the table's last sigma, which sqrt((1 - a)/a) here and process.sigma(1) may
    # round to neighbouring floats: t_of_sigma takes a sigma within round-off of the end as the end
    return np.concatenate([process.t_of_sigma(sigmas[:-1]), [0.0]])


def _sigma_loop(scheduler, y0, sigmas, scaled, evaluations=None):
    """diffusers' loop; returns the states in fpdiff's variable ``y = alpha x`` after each full step."""
    lookup = dict(zip(scheduler.timesteps.numpy().tolist(), sigmas[:len(scheduler.timesteps)]))
    x = torch.from_numpy(y0 * (np.sqrt(sigmas[0] ** 2 + 1) if scaled else 1.0))
    states = [y0]
    for i, timestep in enumerate(scheduler.timesteps):
        sigma = lookup[float(timestep)]
        model_input = scheduler.scale_model_input(x, timestep)
        eps = exact_eps(model_input.numpy(), 1 / np.sqrt(sigma**2 + 1), sigma**2 / (sigma**2 + 1))
        x = scheduler.step(torch.from_numpy(eps), timestep, x).prev_sample
        last = i == len(scheduler.timesteps) - 1  # Heun's last step is an Euler step (its first stage)
        if getattr(scheduler, "state_in_first_order", True) or last:  # Heun: after its second stage
            index = len(states)
            alpha = 1 / np.sqrt(sigmas[_full_step(scheduler, index)] ** 2 + 1) if scaled else 1.0
            states.append(x.numpy() * alpha)
    return states


def _full_step(scheduler, k):
    """Index in the scheduler's sigmas of the noise level reached after ``k`` full steps."""
    return 2 * k - 1 if isinstance(scheduler, diffusers.HeunDiscreteScheduler) else k


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("scheme, cls", [("euler", "EulerDiscreteScheduler"), ("heun_sigma", "HeunDiscreteScheduler"),
                                         ("euler_ancestral", "EulerAncestralDiscreteScheduler")])
def test_sigma_schedulers_equal_diffusers(monkeypatch, beta_schedule, spacing, scheme, cls):
    steps = 20
    scheduler, process = _scheduler(getattr(diffusers, cls), beta_schedule, steps, timestep_spacing=spacing)
    module = _double_precision(monkeypatch, scheduler)
    sigmas = _float64_sigmas(scheduler)
    if scheme == "heun_sigma":  # its sigmas repeat the interior levels: one per stage
        sigmas = np.concatenate([sigmas[:1], sigmas[1::2]])
    y0 = _start()
    noise = np.random.default_rng(3).normal(size=(steps, PARTICLES, 2))
    given = {}
    if scheme == "euler_ancestral":
        _replay_noise(monkeypatch, module, noise)
        given = {"noise": noise}
    reference = _sigma_loop(scheduler, y0, _float64_sigmas(scheduler), scaled=True)
    # diffusers' linspace keeps fractional timesteps and interpolates sigma linearly: replay its sigmas; the
    # leading and trailing timesteps are on the table, so fpdiff's named grids are the same times
    grid = _sigma_grid(process, sigmas) if spacing == "linspace" else f"diffusers-{spacing}"
    if spacing != "linspace":  # the named grid's noise levels are diffusers' sigmas
        times = fd.timegrid.make_time_grid(grid, process, None, None, steps, library=True)
        np.testing.assert_allclose(process.sigma(times[:-1]), sigmas[:-1], rtol=1e-13)
    _close(_fpdiff(process, scheme, grid, steps, y0, **given), reference)


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
@pytest.mark.parametrize("spacing, steps", [("linspace", 20), ("leading", 12), ("trailing", 20)])
def test_dpmpp_2m_equals_diffusers_dpm_solver_multistep(monkeypatch, beta_schedule, spacing, steps):
    scheduler, process = _scheduler(diffusers.DPMSolverMultistepScheduler, beta_schedule, steps,
                                    timestep_spacing=spacing)
    _double_precision(monkeypatch, scheduler)
    sigmas = _float64_sigmas(scheduler)
    reference = _sigma_loop(scheduler, _start(), sigmas, scaled=False)
    # its own spacings (not DDIM's): replay its timesteps, which are on the table
    grid = np.concatenate([process.t_of_index(scheduler.timesteps.numpy()), [0.0]])
    _close(_fpdiff(process, "dpmpp_2m", grid, steps, _start()), reference)
