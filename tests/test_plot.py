"""Figures of fpdiff.plot: they build from real results, say what they show, and are written atomically."""

import os

import numpy as np
import pytest

import fpdiff as fd
from fpdiff import plot
from fpdiff.metrics import observed_order


def _texts(figure):
    texts = []
    for axis in figure.axes:
        texts += [axis.get_xlabel(), axis.get_ylabel(), axis.get_title()]
        legend = axis.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    texts += [t.get_text() for t in figure.texts]
    if figure._suptitle is not None:
        texts.append(figure._suptitle.get_text())
    return texts


def test_observed_order_recovers_power_laws():
    h = np.array([0.4, 0.2, 0.1, 0.05])
    assert observed_order(h, 3.0 * h**2) == pytest.approx(2.0)
    assert observed_order(h, 0.1 * h**0.5) == pytest.approx(0.5)


@pytest.mark.parametrize("spacing, error", [([0.1], [0.2]), ([0.1, 0.2], [0.2]), ([0.1, -0.2], [1.0, 2.0]),
                                            ([0.1, 0.2], [0.0, 1.0])])
def test_observed_order_rejects_bad_input(spacing, error):
    with pytest.raises(fd.InputError, match="spacing"):
        observed_order(spacing, error)


def test_convergence_figure_states_each_observed_order(tmp_path):
    h = np.array([0.2, 0.1, 0.05, 0.025])
    figure = plot.convergence_figure({"be": (h, 0.3 * h), "trbdf2": (h, 0.2 * h**2)}, xlabel="h (x units)")
    texts = _texts(figure)
    assert "be (observed order 1.00)" in texts and "trbdf2 (observed order 2.00)" in texts
    assert "h (x units)" in texts
    path = plot.save_figure(figure, tmp_path / "convergence.png")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["convergence.png"]  # no temporary left behind


def test_save_figure_keeps_the_old_file_when_drawing_fails(tmp_path, monkeypatch):
    path = tmp_path / "figure.png"
    path.write_bytes(b"old")
    figure = plot.work_precision_figure({"a": ([1.0, 2.0], [1e-3, 1e-4])}, target=1e-4)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(figure, "savefig", fail)
    with pytest.raises(RuntimeError):
        plot.save_figure(figure, path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["figure.png"]


def test_work_precision_figure_labels_points(tmp_path):
    figure = plot.work_precision_figure({"fpdiff": ([1e-3, 1e-2], [1e-4, 1e-6], ["N=200", "N=800"])}, target=1e-5)
    texts = _texts(figure) + [t.get_text() for t in figure.axes[0].texts]
    assert {"wall time (s)", "N=200", "N=800", "target 1e-05"} <= set(texts)


def test_density_panels_figure_of_a_2d_solution():
    process = fd.OU()
    p0 = fd.GaussianMixture([0.5, 0.5], [[-1.5, 0.0], [1.5, 0.5]], [np.eye(2) * 0.2, np.eye(2) * 0.3])
    grid = fd.Grid([(-5, 5), (-5, 5)], [32, 32])
    solution = fd.solve_forward(process, grid, p0, 0.5, save_at=[0.0, 0.25, 0.5])
    samples = {0.5: fd.sample_forward(process, p0.sample(200, seed=1), 0.5, seed=2).samples}
    figure = plot.density_panels_figure(solution, exact=lambda t: p0.evolve(process, t), samples=samples)
    texts = _texts(figure)
    assert {"t = 0", "t = 0.25", "t = 0.5", "$x_1$", "$x_2$"} <= set(texts)
    assert any("particles" in t and "exact" in t for t in texts)
    line = fd.solve_forward(process, fd.Grid([(-5, 5)], 40), fd.GaussianMixture([1.0], [[0.0]], [[[1.0]]]), 0.1)
    with pytest.raises(fd.InputError, match="2-D"):
        plot.density_panels_figure(line)


def test_memorisation_figure_counts_memorised_samples():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(20, 2))
    copies = train[rng.integers(0, 20, 300)] + 1e-4 * rng.normal(size=(300, 2))
    fresh = rng.normal(size=(300, 2))
    figure = plot.memorisation_figure(np.vstack([copies, fresh]), train, held_out=rng.normal(size=(300, 2)))
    titles = [axis.get_title() for axis in figure.axes]
    # the copies sit 1e-4 from a training point whose nearest neighbour is O(0.1) away, so all of them are memorised;
    # fresh normal points are memorised only by chance (a few per cent)
    fraction = float(titles[0].split(":")[1].split("%")[0]) / 100
    assert 0.5 <= fraction <= 0.6
    assert "Nearest-neighbour distances" in titles
