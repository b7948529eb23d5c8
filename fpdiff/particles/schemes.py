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
from ._kernels import CORRECTOR, EI, EM, HEUN


@dataclass(frozen=True)
class Scheme:
    """Declared properties of a particle scheme (the registry's entries).

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
    """

    name: str
    weak_order: int
    order: object
    evaluations: int
    source: str
    options: dict = field(default_factory=dict)
    exact_for_dirac: bool = False
    floor: str = ""


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
}

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
    return values


def plan_step(scheme, dynamics, t, t_next, options):
    """The stages of one step of ``scheme`` from forward time ``t`` to ``t_next``.

    ``dynamics`` is the :class:`~fpdiff.dynamics.ReverseDynamics`; the stages'
    scalars are its coefficients (:meth:`~fpdiff.dynamics.ReverseDynamics.coefficients`,
    :meth:`~fpdiff.dynamics.ReverseDynamics.exponential_step`). A step goes down in
    forward time; a noiseless ``"heun"`` step may also go up (``t_next > t``:
    the likelihood's probability-flow ODE from ``t_min`` to ``T``).
    """
    h = t - t_next
    process = dynamics.process
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


def reference_stage(stage, y, score_a, score_b, noise):
    """Numpy specification of one kernel stage: returns the new particles (``y`` is not modified).

    ``score_a(y)`` and ``score_b(y)`` are the score at the stage's two times;
    ``noise`` the (M, d) normals of the stage's block (ignored if the stage is
    not noisy). This is also the slow path for scores called from Python.
    """
    c = stage.coefficients
    noise = noise if stage.noisy else np.zeros_like(y)
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
    if stage.code == CORRECTOR:
        epsilon = np.full((len(y), 1), c[2])
        if c[1] != 0.0:
            score_norm = np.sum(s * s, axis=1, keepdims=True)
            ratio = np.divide(np.sum(noise * noise, axis=1, keepdims=True), score_norm,
                              out=np.zeros_like(score_norm), where=score_norm > 0)
            epsilon = 2.0 * c[0] ** 2 * ratio
        return y + epsilon * s + np.sqrt(2.0 * epsilon) * noise
    raise InputError(f"unknown stage code {stage.code}")  # pragma: no cover
