"""Fingerprints of fpdiff's numbers, to check that a restructuring changes none of them.

86 outputs: forward, reverse and particle solves in 1-D and 2-D (OU, VP, VE; every method and scheme; mixture,
empirical, tabulated and callable scores; both time grids), the likelihood, Langevin sampling and an audit summary
(its wall times masked). Run it on the commit before a change and after:

    PYTHONPATH=. python benchmarks/fingerprints.py write before.json      # on the old commit
    PYTHONPATH=. python benchmarks/fingerprints.py compare before.json    # on the new one

``compare`` prints each output that differs with its largest relative difference, and the worst of them.
"""
import json
import re
import argparse
import warnings

import numpy as np

import fpdiff as fd



def fingerprints():
    """The outputs, by name: arrays, and the audit summary as text."""
    warnings.simplefilter("ignore")
    out = {}
    ou, vp, ve = fd.OU(), fd.VP(), fd.VE(sigma_max=10.0)
    mix1 = fd.GaussianMixture([0.5, 0.5], [[-2.0], [2.0]], [0.09, 0.25])
    mix2 = fd.GaussianMixture([0.4, 0.6], [[-1.5, 1.0], [1.5, -1.0]], [[0.25, 0.36], [0.49, 0.25]])
    g1, g2 = fd.Grid([(-8, 8)], 200), fd.Grid([(-6, 6)] * 2, 48)
    for name, p in (("ou", ou), ("vp", vp)):
        out[f"forward_{name}"] = fd.solve_forward(p, g1, mix1, 1.0).final
        for m in ("trbdf2", "be", "cn"):
            out[f"forward_{name}_{m}"] = fd.solve_forward(p, g1, mix1, 1.0, steps=30, method=m).final
    for gamma in (0.0, 0.5, 1.0, 2.0):
        out[f"reverse_1d_g{gamma}"] = fd.solve_reverse(ou, g1, fd.ExactScore(ou, mix1), 1.0, q0=mix1.evolve(ou, 1.0),
                                                       gamma=gamma, t_min=0.01, steps=40, time_grid="uniform").final
        out[f"reverse_2d_g{gamma}"] = fd.solve_reverse(ou, g2, fd.ExactScore(ou, mix2), 1.0, gamma=gamma, t_min=0.01,
                                                       steps=20, time_grid="uniform").final
    out["reverse_ve_comoving"] = fd.solve_reverse(ve, g1, fd.ExactScore(ve, mix1), 1.0, t_min=0.01, steps=30,
                                                  comoving=True, time_grid="uniform").final
    emp = fd.EmpiricalScore(ou, mix1.sample(30, seed=1))
    tab = fd.tabulate_score(fd.ExactScore(vp, mix1), np.geomspace(0.01, 1.0, 30), [np.linspace(-8, 8, 161)],
                            outside="clamp")
    for sch in ("ei", "em", "heun", "pc"):
        for gname, gamma in (("0", 0.0), ("1", 1.0)):
            for sname, (p, s) in {"mix": (ou, fd.ExactScore(ou, mix1)), "emp": (ou, emp), "tab": (vp, tab),
                                  "mix2d": (ou, fd.ExactScore(ou, mix2))}.items():
                for tg in ("uniform", "log-snr"):
                    out[f"particles_{sch}_{gname}_{sname}_{tg}"] = fd.sample_reverse(
                        p, s, 2000, 1.0, gamma=gamma, t_min=0.01, steps=25, scheme=sch, seed=3, time_grid=tg).samples
    out["particles_callable"] = fd.sample_reverse(ou, lambda x, t: fd.ExactScore(ou, mix1).score(x, t),
                                                  np.linspace(-3, 3, 500)[:, None], 1.0, t_min=0.01, steps=20,
                                                  time_grid="uniform").samples
    out["forward_samples"] = fd.sample_forward(ou, np.linspace(-3, 3, 500)[:, None], 1.0, seed=2).samples
    lik = fd.log_likelihood(ou, fd.ExactScore(ou, mix1), np.linspace(-3, 3, 50)[:, None], T=1.0, t_min=0.01, steps=40)
    out["likelihood"] = np.asarray(getattr(lik, "log_likelihood", lik), dtype=float)
    score05 = fd.ExactScore(ou, mix1)
    lang = fd.sample_langevin(lambda x: score05.score(x, 0.5), np.linspace(-3, 3, 200)[:, None], 0.01, 30, seed=4)
    out["langevin"] = np.asarray(getattr(lang, "samples", lang), dtype=float)
    res = fd.audit(tab, fd.ExactScore(vp, mix1), particles=1000, n_samples=1000)
    out["audit_summary"] = re.sub(r"[0-9.]+ s\b", "<s>", res.summary())
    return out


def _flat(value):
    return value if isinstance(value, str) else np.asarray(value, dtype=float).ravel().tolist()


def compare(out, reference):
    """Print the outputs that differ from ``reference`` and the worst relative difference."""
    worst = 0.0
    for name, value in out.items():
        if isinstance(value, str):
            print(f"{name}: {'same' if value == reference[name] else 'DIFFERENT'}")
            continue
        a, b = np.asarray(_flat(value)), np.asarray(reference[name])
        difference = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) if a.shape == b.shape else np.inf
        worst = max(worst, difference)
        if difference > 0:
            print(f"{name}: relative max difference {difference:.3g}")
    print(f"{len(out)} fingerprints; worst relative difference {worst:.3g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("write", "compare"))
    parser.add_argument("path", help="the JSON file of fingerprints")
    args = parser.parse_args()
    out = fingerprints()
    if args.action == "write":
        with open(args.path, "w") as file:
            json.dump({name: _flat(value) for name, value in out.items()}, file)
    else:
        with open(args.path) as file:
            compare(out, json.load(file))


if __name__ == "__main__":
    main()
