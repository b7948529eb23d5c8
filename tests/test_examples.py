"""The example scripts (``examples/``) run at their reduced size and reproduce what their docstrings claim.

Each test imports a script by path, calls ``main(out=tmp_path, small=True)``,
checks that its figure was written, and asserts the quantitative statement
from the numbers it returns (as py-pde's ``test_examples.py`` does).
"""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def run_example(tmp_path, monkeypatch):
    """Import ``examples/NAME.py`` and run it at the reduced size; return (numbers, output folder)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the scripts import examples/_common.py

    def run(name, figures):
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.__doc__ and "Run:" in module.__doc__
        out = tmp_path / name
        result = module.main(out=out, small=True)
        for figure in figures:
            assert (out / figure).stat().st_size > 10_000, figure
        return result

    return run


def test_size_switch(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from _common import is_small

    monkeypatch.setenv("FPDIFF_EXAMPLE_SIZE", "small")
    assert is_small(None) and not is_small(False)
    monkeypatch.delenv("FPDIFF_EXAMPLE_SIZE")
    assert not is_small(None) and is_small(True)


def test_unstable_reversal(run_example):
    r = run_example("unstable_reversal", ["unstable_reversal.png"])
    # the stabilised solver converges at its declared second order and stays non-negative to round-off
    assert np.all(np.diff(r["stable_l1"]) < 0), r["stable_l1"]
    assert r["stable_order"] >= 1.8, r["stable_l1"]
    assert min(r["stable_min_density"]) > -1e-10
    # the naive reversal dies sooner on every finer grid; theory: tau_blow ~ h^2 (the grid-scale mode
    # grows like exp(sigma^2 k^2 tau / 2), k ~ 1/h); 1.5 leaves room for the log factor of the seed amplitude
    assert np.all(np.diff(r["naive_survival"]) < 0), r["naive_survival"]
    assert r["naive_survival_order"] >= 1.5, r["naive_survival"]


def test_gamma_family(run_example):
    r = run_example("gamma_family", ["gamma_family.png"])
    for gamma, numbers in r["results"].items():
        # second order on the grid for every gamma (gamma = 0: the semi-Lagrangian remap, as in
        # tests/test_fv_reverse.py), and an absolute L1 of the size that order gives at h = 16/400 = 0.04
        assert numbers["order"] >= 1.8, (gamma, numbers["l1"])
        assert numbers["l1"][-1] < 5e-3, (gamma, numbers["l1"])
        # particles: W1 of M exact samples is a half-normal-like variable with mean `w1_floor` (dominated by the
        # binomial split of mass between the two modes); P(W1 > 4 x mean) is about 1e-3 for such a variable
        assert numbers["w1"] < 4 * r["w1_floor"], (gamma, numbers["w1"], r["w1_floor"])
        # grid vs particles: TV within 1.5x its Monte-Carlo floor (fpdiff.metrics.Comparison)
        assert numbers["tv"] < 1.5 * numbers["tv_floor"], (gamma, numbers["tv"], numbers["tv_floor"])


def test_empirical_collapse(run_example):
    r = run_example("empirical_collapse", ["empirical_collapse.png"])
    # a particle on the spike N(alpha x_i, v) is within 3 standard deviations with probability 0.997
    assert r["fraction_within_radius"] > 0.99
    assert r["grid_mass_within_radius"] > 0.99
    # fresh data lands that close to one of 10 points far less often (about 2 r n p0 ~ 0.27 here)
    assert r["fraction_within_radius_fresh"] < 0.5
    assert r["median_distance"] < 0.2 * r["median_distance_fresh"]
    # grid vs the closed form 1/n sum N(alpha x_i, v): second order with h / spike width = 0.35
    assert r["l1_grid_vs_closed_form"] < 0.02


def test_learned_generalises(run_example):
    r = run_example("learned_generalises", ["learned_generalises.png", "learned_generalises_audit.png"])
    learned, empirical, fresh = r["learned"], r["empirical"], r["fresh"]
    assert empirical["fraction_within_radius"] > 0.99
    assert learned["fraction_within_radius"] < 0.6
    # memorisation criterion d1/d2 < 1/3: the learned score's samples look like fresh data (within 0.1),
    # the empirical score's do not
    assert abs(learned["fraction_memorised"] - fresh["fraction_memorised"]) < 0.1
    assert empirical["fraction_memorised"] > fresh["fraction_memorised"] + 0.3
    assert r["audit_fraction_memorised"] < r["audit_fraction_memorised_held_out"] + 0.1
    # it generalises: its samples are closer to p0 (W1) than the 10 training points themselves
    assert learned["w1_to_p0"] < 0.7 * fresh["w1_to_p0"]


def test_mixture_2d(run_example):
    r = run_example("mixture_2d", ["mixture_2d.png"])
    for row in r["rows"]:
        # particles against the grid: within 1.5x the Monte-Carlo floor of the TV
        assert row["tv_ratio"] < 1.5, row
        # grid against the exact mixture: second order; at 64 cells (h = 0.14, smallest standard deviation
        # 0.25) the measured error is at most 0.012 (reverse at t_min); 0.03 leaves room, not a factor 10
        assert row["l1"] < 0.03, row


def test_ve_bridge(run_example):
    r = run_example("ve_bridge", ["ve_bridge.png"])
    # X_1 ~ pi: W1 and TV within their Monte-Carlo floors (W1 < 3x its mean, see test_gamma_family; TV 1.5x)
    assert r["w1_end"] < 3 * r["w1_floor_end"], r
    assert r["tv_end"] < 1.5 * r["tv_floor_end"], r
    assert r["w1_ve_reverse"] < 3 * r["w1_floor_ve_reverse"], r
    for marginal in r["marginals"]:
        # the grid view's marginals are h(., t) (second order, 400 cells, 400 steps)
        assert marginal["l1_grid"] < 5e-3, marginal
        assert marginal["tv"] < 1.5 * marginal["tv_floor"], marginal


def test_blessing_of_dimensionality(run_example):
    r = run_example("blessing_of_dimensionality", ["blessing_of_dimensionality.png"])
    for measured, error, exact, bound in zip(r["measured"], r["standard_error"], r["exact"], r["bound"]):
        assert np.all(measured >= bound)  # the theorem's lower bound, every observation
        assert np.all(np.abs(measured - exact) <= 4 * error + 0.03)  # Monte-Carlo error plus the time-step bias


def test_sampler_lab(run_example):
    r = run_example("sampler_lab", ["sampler_lab.png", "sampler_lab_eta.png"])
    # the grid view of DDIM(eta) is the gamma-family at gamma = eta: the two views agree within the histogram's
    # Monte-Carlo floor, and with the model's error a larger eta lands closer to the data
    eta = r.pop("eta")
    for value in eta.values():
        assert value["tv"] < 2 * value["tv_floor"], eta
    assert eta[1.0]["l1"] < eta[0.5]["l1"] < eta[0.0]["l1"], eta
    for dim in ("1-D", "2-D"):
        for schedule in ("linear table (diffusers-trailing)", "cosine (log-SNR grid)", "EDM (Karras grid)"):
            runs = {sampler: r[(dim, schedule, sampler)] for sampler in ("ddim", "euler", "ddpm", "euler_ancestral",
                                                                          "dpmpp_2m")}
            # the coincidences of docs/theory.md 5.1: the same samples (to round-off), so the same W1
            np.testing.assert_allclose(runs["euler"]["w1"], runs["ddim"]["w1"], rtol=1e-10)
            np.testing.assert_allclose(runs["euler_ancestral"]["w1"], runs["ddpm"]["w1"], rtol=1e-10)
            assert 0.8 <= runs["ddim"]["order"] <= 1.4, (dim, schedule, runs["ddim"])  # first order
            if schedule != "linear table (diffusers-trailing)":  # the published claim, on the smooth grids
                evaluations = list(runs["ddim"]["evaluations"])
                assert runs["dpmpp_2m"]["w1"][evaluations.index(24)] < runs["ddim"]["w1"][evaluations.index(48)]
