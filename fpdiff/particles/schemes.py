r"""Particle schemes for the gamma-family reverse SDE, in one registry.

The reverse dynamics (``docs/theory.md``, section 3) in reverse time :math:`\tau = T - t` is

.. math::

    dY = \left[\beta(t)\, Y + w(t)\, s(Y, t)\right] d\tau + \gamma(t)\,\sigma(t)\, dW,
    \qquad w(t) = \frac{1 + \gamma(t)^2}{2}\,\sigma(t)^2 ,

stepped on forward times :math:`T = t_0 > t_1 > \dots > t_N = t_{min}`,
:math:`h_n = t_n - t_{n+1}`, with :math:`\xi_n \sim N(0, I)` from the
counter-based generator (:mod:`fpdiff.particles._random`).

``"em"`` (Euler–Maruyama; Kloeden & Platen 1992, §9.1 and §14.1)
    :math:`Y_{n+1} = Y_n + h_n a(Y_n, t_n) + \gamma_n\sigma_n\sqrt{h_n}\,\xi_n`.
    Weak order 1; at :math:`\gamma = 0` explicit Euler, order 1.

``"ei"`` (gamma exponential integrator, ``docs/theory.md``, section 5)
    :math:`\hat x_0` frozen at :math:`(Y_n, t_n)`, the remaining linear SDE solved exactly:
    :math:`Y_{n+1} = \Phi Y_n + (\alpha_{n+1} - \Phi\alpha_n)\hat x_0 + \sqrt{v_{n+1} - \Phi^2 v_n}\,\xi_n`,
    :math:`\Phi = (\alpha_n/\alpha_{n+1})^{\gamma^2}(v_{n+1}/v_n)^{(1+\gamma^2)/2}`
    (:meth:`fpdiff.dynamics.ReverseDynamics.exponential_step`). DDPM at :math:`\gamma = 1`
    (Ho et al. 2020, eq. 7), DDIM at :math:`\gamma = 0` (Song, Meng & Ermon
    2021, eq. 12), exact at any step for Dirac data; weak order 1, order 1
    at :math:`\gamma = 0`. A :math:`\gamma(t)` function is frozen at :math:`t_n`.

``"heun"`` (Heun's method; Karras et al. 2022, Alg. 1 at :math:`\gamma = 0`;
the stochastic Heun scheme for additive noise, Kloeden & Platen 1992, §15.1, and Rümelin 1982)
    :math:`\tilde Y = Y_n + h a_n + g_n \Delta W`,
    :math:`Y_{n+1} = Y_n + \tfrac h2 [a(Y_n, t_n) + a(\tilde Y, t_{n+1})] + \tfrac12 (g_n + g_{n+1})\Delta W`,
    :math:`g = \gamma\sigma`, :math:`\Delta W = \sqrt h\,\xi_n`.
    Order 2 at :math:`\gamma = 0`; weak order 2 for this additive noise.

``"pc"`` (predictor–corrector; Song et al. 2021, Alg. 2–5)
    the ``predictor`` (``"ei"`` or ``"em"``) to :math:`t_{n+1}`, then
    ``corrector_steps`` unadjusted Langevin steps on :math:`p_{t_{n+1}}`,
    :math:`Y \leftarrow Y + \epsilon s + \sqrt{2\epsilon}\,z`, with
    :math:`\epsilon = 2 (r\,\lVert z\rVert / \lVert s\rVert)^2` (``r`` = ``snr``).
    Song et al. average the two norms over the batch; that would make the
    samples depend on the batch, so ``corrector_step="expected"`` (default)
    uses their expectations :math:`\mathbb E\lVert z\rVert^2 = d`,
    :math:`\mathbb E\lVert s\rVert^2 \approx d / v_t`, i.e. :math:`\epsilon = 2 r^2 v_t`,
    and ``"per-particle"`` each particle's own norms (Alg. 4/5 read per
    sample; heavy-tailed steps in low dimension, where :math:`\lVert s\rVert`
    can be near 0). The corrector's stationary law differs from
    :math:`p_t` by :math:`O(r^2)` (Langevin's step bias), which more steps do
    not remove: weak order 1 (the predictor's) only down to that floor.

The library samplers, as diffusers and k-diffusion define them, for any
process: they read the denoiser :math:`\hat x_0 = (y + v_t s)/\alpha_t` and the
noise :math:`\hat\epsilon = -\sqrt{v_t}\, s` from the score (Tweedie), with
:math:`\sigma = \sqrt{v}/\alpha` (``process.sigma``) and
:math:`\lambda = \log(\alpha^2/v)` (``process.log_snr``). They ignore ``gamma``
(their noise is the scheme's: ``eta``). A step down to :math:`t = 0` (a grid
that ends at 0, as diffusers' and k-diffusion's do) returns :math:`\hat x_0`
at the last positive time, as all of them do.

``"ddim"`` (Song, Meng & Ermon 2021, eq. 12, with ``eta``; diffusers ``DDIMScheduler``)
    :math:`Y_{n+1} = \alpha_{n+1}\hat x_0 + \sqrt{v_{n+1} - s_\eta^2}\,\hat\epsilon + s_\eta\,\xi_n`,
    :math:`s_\eta^2 = \eta^2\, v_{n+1}\,(1 - e^{\lambda_n - \lambda_{n+1}})` (for a VP table diffusers'
    :math:`\eta^2 \frac{1-\bar\alpha_{prev}}{1-\bar\alpha_t}(1 - \bar\alpha_t/\bar\alpha_{prev})`):
    the ``"ei"`` step with :math:`\Phi = \sqrt{(v_{n+1} - s_\eta^2)/v_n}`, that is with
    :math:`\gamma_n^2 = \log(1 - s_\eta^2/v_{n+1})/(\lambda_n - \lambda_{n+1})`
    (:func:`fpdiff.theory.gamma_of_eta`). Order 1 at :math:`\eta = 0`, weak order 1.

``"ddpm"`` (Ho et al. 2020, eq. 7 with :math:`\sigma_t^2 = \tilde\beta_t`; diffusers ``DDPMScheduler``)
    ``"ddim"`` at :math:`\eta = 1`, which is ``"ei"`` at :math:`\gamma = 1`. Weak order 1.

``"euler"`` (Karras et al. 2022, Alg. 1 without the Heun correction; k-diffusion ``sample_euler``,
diffusers ``EulerDiscreteScheduler``)
    Euler in :math:`\sigma` on :math:`\tilde y = y/\alpha`:
    :math:`\tilde y_{n+1} = \tilde y_n + (\sigma_{n+1} - \sigma_n)\,\hat\epsilon`. Written in :math:`y` it is
    ``"ddim"`` at :math:`\eta = 0` (``"ei"`` at :math:`\gamma = 0`) for every process; on
    :class:`~fpdiff.EDM` also ``"em"`` at :math:`\gamma = 0`. Order 1.

``"heun_sigma"`` (Karras et al. 2022, Alg. 1; k-diffusion ``sample_heun``, diffusers ``HeunDiscreteScheduler``)
    Heun in :math:`\sigma` on :math:`\tilde y`: the Euler predictor, then the average of
    :math:`\hat\epsilon` at both ends; Euler on the last step to :math:`\sigma = 0`. On
    :class:`~fpdiff.EDM` it is ``"heun"`` at :math:`\gamma = 0` (``"heun"`` is Heun in
    :math:`t` on :math:`y`). Order 2.

``"euler"`` and ``"heun_sigma"`` take Karras' churn (Alg. 2, as k-diffusion: options ``s_churn``
(0: off), ``s_tmin``, ``s_tmax``, ``s_noise``; :func:`_churn_stages`): noise first lifts the particles to
:math:`\hat\sigma = \sigma_n(1 + \gamma_n)`, where the denoiser is evaluated. (diffusers'
``EulerDiscreteScheduler`` with ``s_churn`` reuses the model output of the point before the noise: another
scheme, not replayed.) The churn's noise maps :math:`p_{\sigma_n}` to :math:`p_{\hat\sigma}` exactly (it is
the forward process in :math:`\tilde y`), so their weak orders stay 1 and 2.

``"euler_ancestral"`` (k-diffusion ``sample_euler_ancestral``, diffusers ``EulerAncestralDiscreteScheduler``)
    :math:`\sigma_{up} = \min(\sigma_{n+1}, \eta\,\sigma_{n+1}\sqrt{1 - \sigma_{n+1}^2/\sigma_n^2})`,
    :math:`\sigma_{down} = \sqrt{\sigma_{n+1}^2 - \sigma_{up}^2}`,
    :math:`\tilde y_{n+1} = \tilde y_n + (\sigma_{down} - \sigma_n)\hat\epsilon + \sigma_{up}\xi_n`.
    At :math:`\eta = 1` (the default, diffusers' only value) it is ``"ddpm"``. Weak order 1.

``"dpmpp_2m"`` (Lu et al. 2022, DPM-Solver++(2M), Alg. 2; diffusers ``DPMSolverMultistepScheduler``)
    with :math:`h = (\lambda_{n+1} - \lambda_n)/2` (the half log-SNR is their :math:`\lambda`),
    :math:`r = h_{n-1}/h`:
    :math:`Y_{n+1} = \sqrt{v_{n+1}/v_n}\, Y_n + \alpha_{n+1}(1 - e^{-h})
    \left[(1 + \tfrac1{2r})\hat x_0^{(n)} - \tfrac1{2r}\hat x_0^{(n-1)}\right]`, first order (``"ddim"``)
    on the first step and on a last step to :math:`t = 0`. Order 2.

Every scheme is a list of *stages* per step (:func:`plan_step`); a stage is a
code and a few scalars, read from the :class:`~fpdiff.dynamics.ReverseDynamics`
(the one home of the drift, noise and integrator coefficients), run by the
kernel :func:`fpdiff.particles._kernels.step_particles` or by
:func:`reference_stage`, its numpy specification (and the slow path for
scores that cannot enter numba).
"""

from dataclasses import dataclass, field

import numpy as np

from .._validation import as_float, as_int, check_choice
from ..errors import InputError
from . import _random
from ._kernels import CORRECTOR, EI, EM, HEUN, MULTISTEP, NOISE, TWO_STAGE

#: score evaluations per particle of one stage, by stage code
EVALUATIONS = {EM: 1, EI: 1, HEUN: 2, CORRECTOR: 1, TWO_STAGE: 2, MULTISTEP: 1, NOISE: 0}
#: Karras et al. (2022), Alg. 2: the churn options of "euler" and "heun_sigma" and their defaults (churn off)
CHURN = {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.0}


@dataclass(frozen=True)
class Scheme:
    """Declared properties of a particle scheme (the registry's entries).

    Parameters
    ----------
    name, weak_order, order, evaluations, source, options, exact_for_dirac, floor, library, multistep
        The attributes below.

    Attributes
    ----------
    name : str
    weak_order : int
        Weak order of convergence for :math:`\\gamma > 0` with a smooth score.
    order : int or None
        Order of the deterministic scheme at :math:`\\gamma = 0` (``None``:
        the scheme is never deterministic).
    evaluations : int
        Score evaluations per particle and step (``"pc"``: plus ``corrector_steps``).
    options : dict
        Scheme options and their defaults.
    source : str
        Where the scheme comes from.
    exact_for_dirac : bool
        Exact at any step size when :math:`p_0` is a point mass.
    floor : str
        A bias that more steps do not remove ("" if none).
    library : str
        The sampler's names in diffusers and k-diffusion ("" for fpdiff's own schemes, which follow ``gamma``).
    multistep : bool
        The step reads the previous step's denoiser (a history per particle).
    """

    name: str
    weak_order: int
    order: object
    evaluations: int
    source: str
    options: dict = field(default_factory=dict)
    exact_for_dirac: bool = False
    floor: str = ""
    library: str = ""
    multistep: bool = False


SCHEMES = {
    "em": Scheme("em", weak_order=1, order=1, evaluations=1,
                 source="Euler–Maruyama; Kloeden & Platen (1992), §9.1, §14.1"),
    "ei": Scheme("ei", weak_order=1, order=1, evaluations=1, exact_for_dirac=True,
                 source="gamma exponential integrator (docs/theory.md, section 5); DDPM (Ho et al. 2020, eq. 7) at gamma = 1, "
                        "DDIM (Song, Meng & Ermon 2021, eq. 12) at gamma = 0"),
    "heun": Scheme("heun", weak_order=2, order=2, evaluations=2,
                   source="Heun; Karras et al. (2022), Alg. 1 (gamma = 0); stochastic Heun for additive noise, "
                          "Kloeden & Platen (1992), §15.1"),
    "pc": Scheme("pc", weak_order=1, order=None, evaluations=1,
                 options={"predictor": "ei", "corrector_steps": 1, "snr": 0.16, "corrector_step": "expected"},
                 source="predictor-corrector with a Langevin corrector; Song et al. (2021), Alg. 2-5",
                 floor="O(snr^2) bias of the Langevin corrector"),
    "ddpm": Scheme("ddpm", weak_order=1, order=None, evaluations=1, exact_for_dirac=True,
                   source="Ho et al. (2020), eq. 7 (posterior variance); = ddim at eta = 1 = ei at gamma = 1",
                   library="diffusers DDPMScheduler"),
    "ddim": Scheme("ddim", weak_order=1, order=1, evaluations=1, exact_for_dirac=True, options={"eta": 0.0},
                   source="Song, Meng & Ermon (2021), eq. 12 with eta; = ei with gamma = theory.gamma_of_eta",
                   library="diffusers DDIMScheduler"),
    "euler": Scheme("euler", weak_order=1, order=1, evaluations=1, exact_for_dirac=True, options=dict(CHURN),
                    source="Euler in sigma on y / alpha; Karras et al. (2022), Alg. 1 (first stage); = ddim at eta = 0",
                    library="diffusers EulerDiscreteScheduler; k-diffusion sample_euler"),
    "heun_sigma": Scheme("heun_sigma", weak_order=2, order=2, evaluations=2, exact_for_dirac=True,
                         options=dict(CHURN),
                         source="Heun in sigma on y / alpha; Karras et al. (2022), Alg. 1",
                         library="diffusers HeunDiscreteScheduler; k-diffusion sample_heun"),
    "euler_ancestral": Scheme("euler_ancestral", weak_order=1, order=None, evaluations=1, exact_for_dirac=True,
                              options={"eta": 1.0},
                              source="Euler to sigma_down plus sigma_up noise (k-diffusion); = ddpm at eta = 1",
                              library="diffusers EulerAncestralDiscreteScheduler; k-diffusion sample_euler_ancestral"),
    "dpmpp_2m": Scheme("dpmpp_2m", weak_order=2, order=2, evaluations=1, exact_for_dirac=True, multistep=True,
                       source="DPM-Solver++(2M); Lu et al. (2022), arXiv:2211.01095, Alg. 2",
                       library="diffusers DPMSolverMultistepScheduler (dpmsolver++, order 2); "
                               "k-diffusion sample_dpmpp_2m"),
}

#: the samplers of the libraries: noise set by the scheme (``eta``), not by ``gamma``
LIBRARY_SCHEMES = tuple(name for name, scheme in SCHEMES.items() if scheme.library)

CORRECTOR_STEPS = ("expected", "per-particle")


@dataclass
class Stage:
    """One kernel call: ``code``, its scalar ``coefficients``, the score's times ``t_a`` (and ``t_b``), noise block."""

    code: int
    coefficients: np.ndarray
    t_a: float
    t_b: float
    stream: int
    slot: int
    noisy: bool


def check_scheme_options(scheme, options):
    """Pop and validate ``scheme``'s options from the dict ``options``; return them with defaults."""
    check_choice(scheme, "scheme", tuple(SCHEMES))
    values = dict(SCHEMES[scheme].options)
    for name in list(values):
        if name in options:
            values[name] = options.pop(name)
    if scheme == "pc":
        check_choice(values["predictor"], "predictor", ("ei", "em"))
        values["corrector_steps"] = as_int(values["corrector_steps"], "corrector_steps", minimum=0)
        values["snr"] = as_float(values["snr"], "snr", nonnegative=True)
        check_choice(values["corrector_step"], "corrector_step", CORRECTOR_STEPS)
    if scheme == "ddim":
        values["eta"] = as_float(values["eta"], "eta", nonnegative=True)
        if values["eta"] > 1.0:  # beyond 1 the noise can exceed v_{n+1}: DDIM's direction term has no root
            raise InputError(f"`eta` of scheme 'ddim' must be in [0, 1]; got {values['eta']!r}")
    if scheme == "euler_ancestral":
        values["eta"] = as_float(values["eta"], "eta", nonnegative=True)
    if scheme in ("euler", "heun_sigma"):
        for name in ("s_churn", "s_tmin", "s_noise"):
            values[name] = as_float(values[name], name, nonnegative=True)
        values["s_tmax"] = float(values["s_tmax"])
        if not values["s_tmax"] >= values["s_tmin"]:
            raise InputError(f"`s_tmax` must be >= `s_tmin`; got s_tmin={values['s_tmin']!r}, "
                             f"s_tmax={values['s_tmax']!r}")
    return values


def plan_step(scheme, dynamics, t, t_next, options, t_previous=None, steps=1):
    """The stages of one step of ``scheme`` from forward time ``t`` to ``t_next``.

    ``dynamics`` is the :class:`~fpdiff.dynamics.ReverseDynamics`; the stages'
    scalars are its coefficients (:meth:`~fpdiff.dynamics.ReverseDynamics.coefficients`,
    :meth:`~fpdiff.dynamics.ReverseDynamics.exponential_step`). A step goes down in
    forward time; a noiseless ``"heun"`` step may also go up (``t_next > t``:
    the likelihood's probability-flow ODE from ``t_min`` to ``T``). A multistep
    scheme reads the time of the previous step, ``t_previous`` (``None`` on the first step);
    Karras' churn the number of ``steps`` of the run.
    """
    h = t - t_next
    process = dynamics.process
    if scheme in ("euler", "heun_sigma") and options.get("s_churn", 0.0) > 0.0:
        return _churn_stages(scheme, process, t, t_next, options, steps)
    if scheme in LIBRARY_SCHEMES:
        return [_library_stage(scheme, process, t, t_next, options, t_previous)]
    if scheme == "pc":
        stages = plan_step(options["predictor"], dynamics, t, t_next, {})
        if options["corrector_steps"]:
            snr = options["snr"]
            rule = float(options["corrector_step"] == "per-particle")
            epsilon = 2.0 * snr * snr * float(process.variance(t_next))
            coefficients = np.array([snr, rule, epsilon])
            for j in range(options["corrector_steps"]):
                stages.append(Stage(CORRECTOR, coefficients, t_next, t_next, _random.CORRECTOR, j, True))
        return stages
    if scheme == "em":
        beta, w, g = dynamics.coefficients(t)
        std = g * np.sqrt(h)
        return [Stage(EM, np.array([h * beta, h * w, std]), t, t, _random.STEP, 0, std != 0.0)]
    if scheme == "ei":
        phi, c_x0, std = dynamics.exponential_step(t, t_next)
        coefficients = np.array([phi, c_x0, std, float(process.alpha(t)), float(process.variance(t))])
        return [Stage(EI, coefficients, t, t, _random.STEP, 0, std != 0.0)]
    if scheme == "heun":
        beta, w, g = dynamics.coefficients(t)
        beta_next, w_next, g_next = dynamics.coefficients(t_next)
        noisy = g != 0.0 or g_next != 0.0
        root = np.sqrt(h) if noisy else 0.0  # h < 0 (a step up in t) only without noise
        coefficients = np.array([h, beta, w, beta_next, w_next, g * root, g_next * root])
        return [Stage(HEUN, coefficients, t, t_next, _random.STEP, 0, noisy)]
    raise InputError(f"unknown scheme {scheme!r}")  # pragma: no cover (validated before)


def _library_stage(scheme, process, t, t_next, options, t_previous):
    """The one stage of a library sampler's step (module docstring), in the variable ``y``."""
    alpha, variance = float(process.alpha(t)), float(process.variance(t))
    if t_next == 0.0:  # the last step of diffusers and k-diffusion: to the data, y = xhat0(y, t)
        code = MULTISTEP if scheme == "dpmpp_2m" else EI
        return Stage(code, np.array([0.0, 1.0, 0.0, alpha, variance]), t, t, _random.STEP, 0, False)
    alpha_next, variance_next = float(process.alpha(t_next)), float(process.variance(t_next))
    sigma, sigma_next = np.sqrt(variance) / alpha, np.sqrt(variance_next) / alpha_next
    log_snr_step = float(process.log_snr(t)) - float(process.log_snr(t_next))  # lambda_n - lambda_n+1 < 0
    if scheme in ("ddim", "ddpm", "euler"):
        eta = options["eta"] if scheme == "ddim" else float(scheme == "ddpm")
        noise_variance = -eta * eta * variance_next * np.expm1(log_snr_step)  # s_eta^2
        phi = np.sqrt((variance_next - noise_variance) / variance)
        return _ei_stage(phi, alpha_next - phi * alpha, np.sqrt(noise_variance), alpha, variance, t)
    if scheme == "euler_ancestral":
        up = min(sigma_next, options["eta"] * sigma_next * np.sqrt(-np.expm1(2.0 * np.log(sigma_next / sigma))))
        down = np.sqrt(sigma_next * sigma_next - up * up)
        phi = alpha_next * down / (alpha * sigma)
        return _ei_stage(phi, alpha_next - phi * alpha, alpha_next * up, alpha, variance, t)
    if scheme == "heun_sigma":
        ratio, step = alpha_next / alpha, sigma_next - sigma
        first = -alpha_next * step * np.sqrt(variance)  # y_e = ratio y + first s(y, t): Euler in sigma
        second = -alpha_next * step * np.sqrt(variance_next)
        return Stage(TWO_STAGE, np.array([ratio, first, ratio, 0.5 * first, 0.5 * second]), t, t_next,
                     _random.STEP, 0, False)
    # dpmpp_2m: h in half log-SNR (the paper's lambda = log(alpha / sqrt(v)))
    h = -0.5 * log_snr_step
    phi = np.sqrt(variance_next / variance)
    weight = -alpha_next * np.expm1(-h)  # alpha_{n+1} (1 - e^{-h}) = alpha_{n+1} - phi alpha_n
    if t_previous is None:
        return Stage(MULTISTEP, np.array([phi, weight, 0.0, alpha, variance]), t, t, _random.STEP, 0, False)
    ratio = 0.5 * (float(process.log_snr(t)) - float(process.log_snr(t_previous))) / h  # r = h_{n-1} / h
    return Stage(MULTISTEP, np.array([phi, weight * (1.0 + 0.5 / ratio), -weight * 0.5 / ratio, alpha, variance]),
                 t, t, _random.STEP, 0, False)


def _churn_stages(scheme, process, t, t_next, options, steps):
    r"""Karras et al. (2022), Alg. 2 (k-diffusion ``sample_euler``/``sample_heun`` with ``s_churn``).

    :math:`\gamma_n = \min(S_{churn}/N, \sqrt2 - 1)` where :math:`S_{tmin} \le \sigma_n \le S_{tmax}`,
    :math:`\hat\sigma = \sigma_n(1 + \gamma_n)`: noise raises :math:`\tilde y = y/\alpha` to the level
    :math:`\hat\sigma`, :math:`\tilde y \leftarrow \tilde y + S_{noise}\sqrt{\hat\sigma^2 - \sigma_n^2}\,\xi`
    (at the time :math:`\hat t` of :math:`\hat\sigma`), then the Euler or Heun step from :math:`\hat t`.
    """
    sigma = float(process.sigma(t))
    churn = min(options["s_churn"] / steps, np.sqrt(2.0) - 1.0) if options["s_tmin"] <= sigma <= options["s_tmax"] \
        else 0.0
    if churn == 0.0:
        return [_library_stage(scheme, process, t, t_next, options, None)]
    sigma_hat = sigma * (1.0 + churn)
    top = float(process.sigma(process.t_max)) if np.isfinite(process.t_max) else np.inf
    if sigma_hat > top:
        raise InputError(f"the churn of scheme {scheme!r} raises sigma = {sigma!r} (t = {t!r}) to {sigma_hat!r}, "
                         f"beyond the largest sigma of {process!r}, {top!r}: lower `s_tmax` below it or `s_churn`")
    t_hat = float(process.t_of_sigma(sigma_hat))
    alpha_hat = float(process.alpha(t_hat))
    std = alpha_hat * options["s_noise"] * np.sqrt(sigma_hat * sigma_hat - sigma * sigma)
    noise = Stage(NOISE, np.array([alpha_hat / float(process.alpha(t)), std]), t, t, _random.STEP, 0, True)
    return [noise, _library_stage(scheme, process, t_hat, t_next, options, None)]


def _ei_stage(phi, c_x0, std, alpha, variance, t):
    return Stage(EI, np.array([phi, c_x0, std, alpha, variance]), t, t, _random.STEP, 0, std != 0.0)


def reference_stage(stage, y, score_a, score_b, noise, history=None):
    """Numpy specification of one kernel stage: returns the new particles (``y`` is not modified).

    ``score_a(y)`` and ``score_b(y)`` are the score at the stage's two times;
    ``noise`` the (M, d) normals of the stage's block (ignored if the stage is
    not noisy). ``history``: a ``MULTISTEP`` stage's (M, d) denoisers of the
    previous step, overwritten with this step's (``None``: a first-order step).
    This is also the slow path for scores called from Python.
    """
    c = stage.coefficients
    noise = noise if stage.noisy else np.zeros_like(y)
    if stage.code == NOISE:
        return c[0] * y + c[1] * noise
    s = score_a(y)
    if stage.code == EM:
        return y + (c[0] * y + c[1] * s) + c[2] * noise
    if stage.code == EI:
        denoised = (y + c[4] * s) / c[3]
        return c[0] * y + c[1] * denoised + c[2] * noise
    if stage.code == HEUN:
        first = c[1] * y + c[2] * s
        predicted = y + c[0] * first + c[5] * noise
        second = c[3] * predicted + c[4] * score_b(predicted)
        return y + 0.5 * c[0] * (first + second) + 0.5 * (c[5] + c[6]) * noise
    if stage.code == TWO_STAGE:
        predicted = c[0] * y + c[1] * s
        return c[2] * y + c[3] * s + c[4] * score_b(predicted)
    if stage.code == MULTISTEP:
        denoised = (y + c[4] * s) / c[3]
        new = c[0] * y + c[1] * denoised + (c[2] * history if c[2] != 0.0 else 0.0)
        if history is not None:
            history[...] = denoised
        return new
    if stage.code == CORRECTOR:
        epsilon = np.full((len(y), 1), c[2])
        if c[1] != 0.0:
            score_norm = np.sum(s * s, axis=1, keepdims=True)
            ratio = np.divide(np.sum(noise * noise, axis=1, keepdims=True), score_norm,
                              out=np.zeros_like(score_norm), where=score_norm > 0)
            epsilon = 2.0 * c[0] ** 2 * ratio
        return y + epsilon * s + np.sqrt(2.0 * epsilon) * noise
    raise InputError(f"unknown stage code {stage.code}")  # pragma: no cover
