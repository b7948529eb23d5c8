r"""The VE bridge: a Doob h-transform of sigma B that carries pi * N(0, sigma^2) to pi in unit time.

Reproduces the construction of the lecture notes (the "VE bridge": generative
diffusion as a conditioned Brownian motion; see also Föllmer's drift and
Doob's h-transform, Rogers & Williams, *Diffusions, Markov Processes and
Martingales* vol. 2, IV.39; Song et al., ICLR 2021, eq. 9 for the VE SDE).

**Statement.** Let :math:`\pi` be a probability density on
:math:`\mathbb R^d`, :math:`\sigma > 0`, :math:`\varphi_s` the density of
:math:`N(0, s I)`, and

.. math::  h(x, t) = (\pi * \varphi_{\sigma^2 (1 - t)})(x), \qquad t \in [0, 1].

Then the solution of

.. math::  dX_t = \sigma^2 \nabla \log h(X_t, t)\, dt + \sigma\, dB_t, \qquad
           X_0 \sim h(\cdot, 0) = \pi * N(0, \sigma^2),

has :math:`X_t \sim h(\cdot, t)` for every :math:`t`, in particular :math:`X_1 \sim \pi`.

**Derivation.** (1) *h is space-time harmonic for* :math:`\sigma B`: the heat
kernel satisfies :math:`\partial_s \varphi_s = \frac12 \Delta \varphi_s`, so with
:math:`s = \sigma^2 (1 - t)`,
:math:`\partial_t h = -\sigma^2 \partial_s (\pi * \varphi_s) = -\frac{\sigma^2}{2}\Delta h`,
i.e. :math:`(\partial_t + \frac{\sigma^2}{2}\Delta) h = 0`, and :math:`h(X_t, t)` is a
martingale under :math:`X = \sigma B`. (2) *Doob's h-transform*: reweighting the
paths of :math:`\sigma B` by :math:`h(X_t, t)/h(X_0, 0)` gives, by Girsanov, the SDE
above (drift :math:`\sigma^2 \nabla\log h`). Its transition density is
:math:`q(x_0, 0; x, t) = \varphi_{\sigma^2 t}(x - x_0)\, h(x, t) / h(x_0, 0)`.
(3) *Marginals*: starting from :math:`X_0 \sim h(\cdot, 0)` (a probability density,
since :math:`\int h(x, 0) dx = 1`),

.. math::  p_t(x) = \int h(x_0, 0)\, \frac{\varphi_{\sigma^2 t}(x - x_0)\, h(x, t)}{h(x_0, 0)}\, dx_0
                 = h(x, t) \int \varphi_{\sigma^2 t}(x - x_0)\, dx_0 = h(x, t).

At :math:`t = 1`, :math:`h(\cdot, 1) = \pi`. (4) *It is the VE reverse SDE in
disguise*: the forward process :math:`dY = \sigma dW` (``fd.Brownian(sigma)``,
a VE process with linear variance :math:`v_s = \sigma^2 s`) started from
:math:`\pi` has :math:`p^Y_s = \pi * \varphi_{\sigma^2 s} = h(\cdot, 1 - s)`, and its
time reversal (:math:`\gamma = 1`, docs/theory.md, section 3) in the clock :math:`t = 1 - s` is
:math:`dX = \sigma^2 \nabla\log p^Y_{1-t}(X) dt + \sigma dB`: the same SDE.

**Checks.** :math:`\pi` is a two-component Gaussian mixture, so
:math:`h(\cdot, t)` is the mixture evolved in closed form
(:meth:`GaussianMixture.evolve` under ``fd.Brownian(sigma)`` for the time
:math:`1 - t`). Sample view: the bridge SDE itself, with its drift
:math:`\sigma^2\nabla\log h` given as an :class:`fpdiff.CallableScore` and
integrated by :func:`fpdiff.simulate` (Euler–Maruyama) on :math:`[0, 1]`,
compared with :math:`\pi` at :math:`t = 1` in :math:`W_1` and TV next to their
Monte-Carlo floors, and with the VE reverse sampler
(:func:`fpdiff.sample_reverse`). Density view: the reverse equation solved on
a grid (:func:`fpdiff.solve_reverse`) from :math:`h(\cdot, 0)`, checked against
:math:`h(\cdot, t)` at intermediate times.

What to look for in ``ve_bridge.png``: (left) the grid densities at
:math:`t = 0, 0.5, 0.9, 0.999` lie on the closed-form :math:`h(\cdot, t)`, and the
particle histograms on them; (right) at :math:`t = 1` the bridge particles
match :math:`\pi` to within the Monte-Carlo floor.

Run: ``python examples/ve_bridge.py [--out FOLDER] [--small]``.
"""

import matplotlib.pyplot as plt
import fpdiff as fd
from _common import command_line, is_small, print_table, save_figure

SIGMA = 1.5
PI = fd.GaussianMixture([0.3, 0.7], [[-1.5], [1.0]], [0.2**2, 0.3**2])
BROWNIAN = fd.Brownian(sigma=SIGMA)
BRIDGE_TIMES = (0.0, 0.5, 0.9, 1.0)
BOX = (-8.0, 8.0)
#: the grid view stops this far before t = 1 (the reverse solver needs t_min > 0 in the forward clock)
GRID_STOP = 1e-3


def h_law(t):
    r""":math:`h(\cdot, t) = \pi * N(0, \sigma^2(1 - t))` as a GaussianMixture."""
    return PI.evolve(BROWNIAN, 1.0 - float(t))


def bridge_dynamics():
    r"""The bridge SDE :math:`dX = \sigma^2\nabla\log h(X, t) dt + \sigma dB` on :math:`t \in [0, 1]` (``tau = t``)."""
    grad_log_h = fd.CallableScore(lambda x, t: h_law(t).score(x), dim=1, t_range=(0.0, 1.0))
    return fd.Dynamics(lambda x, tau: SIGMA**2 * grad_log_h(x, tau), lambda tau: SIGMA, tau_end=1.0)


def main(out="examples-output/ve_bridge", small=None):
    """Run the bridge with particles and on the grid; print the table, write ``ve_bridge.png``."""
    small = is_small(small)
    particles = 20_000 if small else 100_000
    steps = 200 if small else 500
    cells = 400 if small else 800
    grid = fd.Grid([BOX], cells)
    x0 = h_law(0.0).sample(particles, seed=1)
    bridge = fd.simulate(bridge_dynamics(), x0, steps=steps, scheme="em", seed=2, save_at=BRIDGE_TIMES)
    # the same process as the VE (Brownian) reverse SDE, forward-time label s = 1 - t, stopped at s = GRID_STOP
    reverse = fd.sample_reverse(BROWNIAN, fd.ExactScore(BROWNIAN, PI), x0, T=1.0, gamma=1.0, t_min=GRID_STOP,
                                steps=200, scheme="ei", time_grid="log-snr", seed=3)
    density = fd.solve_reverse(BROWNIAN, grid, fd.ExactScore(BROWNIAN, PI), T=1.0, q0=h_law(0.0), gamma=1.0,
                               t_min=GRID_STOP, steps=cells,
                               save_at=[1.0 - t if t < 1 else GRID_STOP for t in BRIDGE_TIMES])

    rows, result = [], {"marginals": []}
    for t in BRIDGE_TIMES:
        s = max(1.0 - t, GRID_STOP)
        law = h_law(t)
        samples = bridge.at(t)
        views = fd.metrics.compare(law, samples, grid)
        l1_grid = fd.metrics.l1(density.at(s), h_law(1.0 - s), grid)
        w1 = fd.metrics.w1(samples, law, grid)
        floor = fd.metrics.w1_floor(law, grid, particles)
        rows.append((float(t), float(1.0 - s), l1_grid, w1, floor, views.tv, views.tv_floor))
        result["marginals"].append({"t": float(t), "grid_time": float(1.0 - s), "l1_grid": l1_grid, "w1": w1,
                                    "w1_floor": floor, "tv": views.tv, "tv_floor": views.tv_floor})
    end = result["marginals"][-1]
    result.update(w1_end=end["w1"], w1_floor_end=end["w1_floor"], tv_end=end["tv"], tv_floor_end=end["tv_floor"],
                  w1_ve_reverse=fd.metrics.w1(reverse.samples, h_law(1.0 - GRID_STOP), grid),
                  w1_floor_ve_reverse=fd.metrics.w1_floor(h_law(1.0 - GRID_STOP), grid, particles),
                  l1_pi_vs_h_grid_stop=fd.metrics.l1(PI, h_law(1.0 - GRID_STOP), grid), particles=particles)
    print_table(f"VE bridge, sigma = {SIGMA}, pi = {PI!r}; {particles} particles (EM, {steps} steps), "
                f"grid {cells} cells",
                ["t", "grid at t", "L1 grid vs h(t)", "W1 particles vs h(t)", "W1 floor", "TV particles vs h(t)",
                 "TV floor"], rows)
    print(f"VE reverse sampler ('ei') at s = {GRID_STOP:g} vs h(1 - {GRID_STOP:g}): W1 = {result['w1_ve_reverse']:.3g} "
          f"(floor {result['w1_floor_ve_reverse']:.3g}); for scale, L1(pi, h(1 - {GRID_STOP:g})) = "
          f"{result['l1_pi_vs_h_grid_stop']:.3g}")

    figure, (marginals, end_law) = plt.subplots(1, 2, figsize=(12, 4.3), constrained_layout=True,
                                                gridspec_kw={"width_ratios": [1.4, 1]})
    x = grid.centers[0]
    for k, t in enumerate(BRIDGE_TIMES):
        s = max(1.0 - t, GRID_STOP)
        marginals.hist(bridge.at(t)[:, 0], bins=grid.edges[0][::4], density=True, color=f"C{k}", alpha=0.25)
        marginals.plot(x, density.at(s), color=f"C{k}", lw=1.5, label=f"grid, t = {1 - s:g}")
        marginals.plot(x, h_law(1.0 - s).cell_average(grid), "k--", lw=0.8)
    marginals.plot([], [], "k--", lw=0.8, label=r"closed form $h(x, t) = \pi * N(0, \sigma^2(1-t))$")
    marginals.fill_between([], [], color="0.6", alpha=0.4, label="bridge particles (histograms)")
    marginals.set_xlim(-6, 6)
    marginals.set_xlabel("x")
    marginals.set_ylabel("density of $X_t$")
    marginals.set_title(r"Marginals of $dX = \sigma^2\nabla\log h\,dt + \sigma dB$ are $h(\cdot, t)$")
    marginals.legend(fontsize=8, loc="upper left")
    end_law.hist(bridge.samples[:, 0], bins=grid.edges[0][::2], density=True, color="C3", alpha=0.4,
                 label=f"bridge particles, t = 1 ({particles:,})")
    end_law.hist(reverse.samples[:, 0], bins=grid.edges[0][::2], density=True, histtype="step", color="C0",
                 label=f"VE reverse sampler ('ei'), s = {GRID_STOP:g}")
    end_law.plot(x, PI.pdf(x[:, None]), "k--", lw=1.2, label=r"target $\pi$")
    end_law.set_xlim(-3, 3)
    end_law.set_xlabel("x")
    end_law.set_ylabel("density")
    end_law.set_title(f"End law: $W_1$ = {end['w1']:.2g} (floor {end['w1_floor']:.2g}), "
                      f"TV = {end['tv']:.2g} (floor {end['tv_floor']:.2g})", fontsize=10)
    end_law.legend(fontsize=8, loc="upper left")
    save_figure(figure, out, "ve_bridge.png")
    return result


if __name__ == "__main__":
    command_line(main, __doc__, "examples-output/ve_bridge")
