"""The density view of the random time reversal: resolvent density, grid score, absorbed mass.

References: the closed-form Green's function of Brownian motion and the quadrature one of OU
(:mod:`fpdiff.homogeneous.green`), the hitting oracle G_r(x_i -> x)/sum_j G_r(x_j -> x), the exit law of
small discs (strong Markov property), and the explicitly built reversed chain.
"""

import numpy as np
import pytest

import fpdiff as fd
from fpdiff.errors import BlowUpError, InputError
from fpdiff.homogeneous import HomogeneousScore, sample_homogeneous
from fpdiff.homogeneous.green import grad_log_green, green
from fpdiff.homogeneous.grid import (absorbed_mass, data_cell_weights, forward_generator, grid_homogeneous_score,
                                     resolvent_density)

R = 1.5
#: five data points on vertices of every grid below (nested refinement keeps their sub-cell position, so the
#: error constant does not jump between resolutions and the fitted order is clean)
POINTS = np.array([[0.4, 0.2], [-0.6, 0.4], [0.2, -0.6], [-0.2, -0.2], [0.6, 0.6]])
#: start points of the generative process, away from the data
STARTS = np.array([[1.1, -1.1], [-1.3, 1.5], [0.0, 0.0]])
HALF_WIDTH = 4.0  # margin >= 3.4 around the data: 7 decay lengths sigma/sqrt(2r) = 0.46 (Brownian(0.8), r = 1.5)
CELLS = (40, 80, 160)
#: radius of the disc that one absorbing cell of width h stands for (test_absorbing_cells_follow_the_small_disc...)
RADIUS_PER_WIDTH = 1.0 / (np.exp(np.euler_gamma) * np.sqrt(8.0))


def _grid(cells, half_width=HALF_WIDTH, boundary="no-flux"):
    return fd.Grid([(-half_width, half_width)] * 2, cells, boundary=boundary)


def _exact_density(process, x):
    return R / len(POINTS) * green(process, R, x[:, None, :], POINTS[None]).sum(axis=1)


def _window(grid, stride=1):
    """Cells at distance >= 0.5 from the data (f is log-singular there) and inside [-2, 2]^2 (away from the
    reflecting boundary, whose image sources add G_r at distance >= 3.4 + 2 = 5.4: ~e^{-11.7} relative)."""
    x = grid.points()
    distance = np.min(np.linalg.norm(x[:, None] - POINTS[None], axis=-1), axis=1)
    index = np.flatnonzero((distance >= 0.5) & (np.abs(x).max(axis=1) <= 2.0))
    return index[::stride]


def _order(widths, errors):
    return np.polyfit(np.log(widths), np.log(errors), 1)[0]


def _oracle(process, x):
    g = green(process, R, x[:, None, :], POINTS[None])
    return g / g.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("process, stride", [(fd.Brownian(0.8), 1), (fd.OU(1.0, 1.0), 7)])
def test_resolvent_density_converges_at_second_order(process, stride):
    # norm: max over the window of |f_h - f| / max_window f (cell values against f at the centre: the cell
    # average differs by O(h^2), the order being tested). OU's quadrature Green's function is slower: every
    # 7th window cell.
    widths, errors, score_errors = [], [], []
    for cells in CELLS:
        grid = _grid(cells)
        f = resolvent_density(process, POINTS, R, grid)
        assert grid.integrate(f) == pytest.approx(1.0, abs=1e-10)  # no-flux: the law of X_zeta keeps its mass
        assert f.min() > 0
        index = _window(grid, stride)
        x = grid.points()[index]
        exact = _exact_density(process, x)
        errors.append(np.max(np.abs(f.ravel()[index] - exact)) / exact.max())
        widths.append(grid.spacing[0])
        # the grid score on the faces normal to axis 0, at the faces left of the window cells
        faces = grid_homogeneous_score(process, POINTS, R, grid, density=f)[0]
        i, j = np.unravel_index(index, grid.shape)
        at = grid.face_points(0)[i, j]
        g = green(process, R, at[:, None, :], POINTS[None])
        drift = np.sum(g[..., None] * grad_log_green(process, R, at[:, None, :], POINTS[None]), axis=1)
        exact_score = drift[:, 0] / g.sum(axis=1)
        if isinstance(process, fd.OU):
            exact_score += at[:, 0] / process.stationary_variance  # minus grad log m
        score_errors.append(np.max(np.abs(faces[i, j] - exact_score)) / np.max(np.abs(exact_score)))
    assert errors[-1] < 2e-3
    assert _order(widths, errors) > 1.7  # second order expected (SG = centred differences for this drift)
    assert score_errors[-1] < 1e-2
    assert _order(widths, score_errors) > 1.5  # measured 1.7 (Brownian, OU): the error sits next to the data


@pytest.mark.parametrize("process", [fd.Brownian(0.8), fd.OU(1.0, 1.0)])
def test_reversal_absorbed_mass_converges_to_the_hitting_oracle(process):
    oracle = _oracle(process, STARTS)
    widths, errors = [], []
    for cells in CELLS:
        grid = _grid(cells)
        result = absorbed_mass(process, POINTS, R, grid, STARTS)
        assert result.mass.shape == (len(STARTS), len(POINTS))
        np.testing.assert_allclose(result.mass.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(result.unabsorbed, 0.0, atol=1e-12)
        errors.append(np.max(np.abs(result.mass - oracle)))
        widths.append(grid.spacing[0])
    assert errors[-1] < 2e-3  # measured 1.2e-3 Brownian, 4.0e-4 OU
    # second order, reached late: the start (0, 0) lies 0.28 from a data point (fitted over all three widths:
    # 1.4 Brownian, 1.6 OU; last step 1.7 Brownian, 1.5 OU)
    assert _order(widths, errors) > 1.2
    assert _order(widths[1:], errors[1:]) > 1.3


def test_reversal_is_the_exit_law_of_the_reversed_chain():
    # Independent route: build the reversed chain's generator Q (rate x -> y: f(y) A[x, y] / f(x), killing at
    # rate r alpha / f) explicitly, solve for the occupation measure of a start mass, and read the killed mass.
    process = fd.OU(0.7, 1.2)
    grid = _grid(24, half_width=3.0)
    A = forward_generator(process, grid).toarray()
    cells, weights = data_cell_weights(POINTS, grid)
    sources = np.zeros((len(POINTS), grid.size))
    for i in range(len(POINTS)):
        sources[i, cells[i]] = weights[i] / grid.cell_volume
    alpha = sources.mean(axis=0)
    f = resolvent_density(process, POINTS, R, grid).ravel()
    Q = (f[:, None] * A.T) / f[None, :]  # Q[y, x] = f(y) A[x, y] / f(x), the rate x -> y
    np.fill_diagonal(Q, 0.0)
    assert Q.min() >= 0.0
    killing = R * alpha / f
    Q -= np.diag(Q.sum(axis=0) + killing)
    start = np.zeros(grid.size)
    start_cells, start_weights = data_cell_weights(STARTS[:1], grid)
    start[start_cells[0]] = start_weights[0]
    occupation = np.linalg.solve(-Q, start)
    killed = killing * occupation  # mass killed (ending) in each cell; split between points by their share
    share = sources / (len(POINTS) * alpha[None, :] + (alpha[None, :] == 0))
    expected = share @ killed
    result = absorbed_mass(process, POINTS, R, grid, STARTS[0])
    np.testing.assert_allclose(result.mass[0], expected, rtol=1e-9, atol=1e-12)
    assert expected.sum() == pytest.approx(1.0, abs=1e-10)


def _small_disc_exit_law(process, x, radius):
    r"""Exit law of the continuous generative process stopped within ``radius`` of the data.

    Doob: P_x(stop at disc j) = E_x[f(B_T); B_T in disc j] / f(x) for the killed Brownian motion B, T its
    first hitting of the union of discs. Since G_r(x_k -> .) is r-harmonic off x_k, the hitting probabilities
    p_j(x) solve G_r(x_k -> x) = sum_j p_j(x) M_jk, with M_jk = G_r(x_k -> x_j) (j != k, up to O(radius))
    and M_kk = G_r at distance ``radius`` (exact: G_r(x_k -> .) is constant on the circle); f on disc j is
    proportional to sum_k M_jk.
    """
    g = green(process, R, x[:, None, :], POINTS[None])
    M = green(process, R, POINTS[:, None, :], POINTS[None])  # inf on the diagonal, replaced below
    np.fill_diagonal(M, float(green(process, R, np.array([radius, 0.0]), np.zeros(2))))
    u = np.linalg.solve(M.T, g.T).T * M.sum(axis=1)
    return u / g.sum(axis=1, keepdims=True)


def test_absorbing_cells_follow_the_small_disc_exit_law():
    # A single absorbing cell of the 5-point (continuous-time simple random walk) operator absorbs like a disc
    # of radius h / (e^gamma sqrt 8) ~ 0.1985 h: the constant term of the lattice potential kernel,
    # a(x) = (2/pi) log|x| + (2 gamma + log 8)/pi + O(|x|^-2) (Lawler & Limic 2010, Thm 4.4.4).
    # The grid converges to that exit law (about first order, measured 1.2); its distance to the point oracle,
    # the disc's own bias, decays only like 1/log(1/h) in 2-D.
    process = fd.Brownian(0.8)
    widths, errors = [], []
    for cells in CELLS:
        grid = _grid(cells)
        result = absorbed_mass(process, POINTS, R, grid, STARTS, scheme="absorbing")
        np.testing.assert_allclose(result.mass.sum(axis=1), 1.0, atol=1e-10)
        reference = _small_disc_exit_law(process, STARTS, RADIUS_PER_WIDTH * grid.spacing[0])
        errors.append(np.max(np.abs(result.mass - reference)))
        widths.append(grid.spacing[0])
    assert np.all(np.diff(errors) < 0)
    assert errors[-1] < 0.06
    assert _order(widths, errors) > 0.8
    # the exact score on the faces instead of the grid score: the same limit
    exact = _ExactScore(process)
    with_exact = absorbed_mass(process, POINTS, R, _grid(CELLS[-1]), STARTS, scheme="absorbing", score=exact)
    reference = _small_disc_exit_law(process, STARTS, RADIUS_PER_WIDTH * 2 * HALF_WIDTH / CELLS[-1])
    assert np.max(np.abs(with_exact.mass - reference)) < 0.06


def _particle_frequencies(process, starts, paths, delta, seed):
    """Frequencies of the reached points, (len(starts), n), and their standard errors, from the particles."""
    score = HomogeneousScore(process, POINTS, R)
    result = sample_homogeneous(process, score, np.repeat(starts, paths, axis=0), stop=delta, seed=seed)
    assert np.all(result.reached >= 0)
    reached = result.reached.reshape(len(starts), paths)
    frequencies = np.stack([np.bincount(row, minlength=len(POINTS)) / paths for row in reached])
    return frequencies, np.sqrt(frequencies * (1 - frequencies) / paths)


def test_absorbing_cells_agree_with_particles_stopped_at_the_equivalent_radius():
    # Particles stopped within delta = 0.1985 h of the data against the grid with absorbing cells of width h.
    # Measured |grid - particles| (4000 paths x 3 starts): 0.075, 0.026, 0.006 at h = 0.1, 0.05, 0.025 (the slow
    # test); here one start, h = 0.05: the grid's own error (<= 0.04 at this width) plus 3 standard errors.
    process = fd.Brownian(0.8)
    grid = _grid(160)
    delta = RADIUS_PER_WIDTH * grid.spacing[0]
    frequencies, error = _particle_frequencies(process, STARTS[:1], 1000, delta, seed=5)
    mass = absorbed_mass(process, POINTS, R, grid, STARTS[:1], scheme="absorbing").mass
    assert np.all(np.abs(mass - frequencies) <= 0.04 + 3 * error)


@pytest.mark.slow
def test_absorbing_cells_converge_to_the_particles():
    process = fd.Brownian(0.8)
    differences, standard_errors = [], []
    for cells in (80, 160, 320):
        grid = _grid(cells)
        frequencies, error = _particle_frequencies(process, STARTS, 4000, RADIUS_PER_WIDTH * grid.spacing[0], 1)
        mass = absorbed_mass(process, POINTS, R, grid, STARTS, scheme="absorbing").mass
        differences.append(np.max(np.abs(mass - frequencies)))
        standard_errors.append(error.max())
    assert differences[0] > differences[1] > differences[2]
    assert differences[-1] < 4 * standard_errors[-1]  # measured 0.006 with standard errors <= 0.008


class _ExactScore:
    """grad log f from the closed-form Green's function (Brownian: m = 1)."""

    def __init__(self, process):
        self.process = process

    def score(self, x):
        g = green(self.process, R, x[:, None, :], POINTS[None])
        gradient = grad_log_green(self.process, R, x[:, None, :], POINTS[None])
        return np.sum(g[..., None] * gradient, axis=1) / g.sum(axis=1)[:, None]


def test_start_density_and_start_points_agree():
    process = fd.OU(1.0, 1.0)
    grid = _grid(32)
    start = np.zeros(grid.shape)
    i, j = 20, 9
    start[i, j] = 1.0 / grid.cell_volume  # unit mass in one cell = a start at its centre
    for scheme in ("reversal", "absorbing"):
        from_density = absorbed_mass(process, POINTS, R, grid, start, scheme=scheme)
        centre = np.array([grid.centers[0][i], grid.centers[1][j]])
        from_point = absorbed_mass(process, POINTS, R, grid, centre, scheme=scheme)
        assert from_density.mass.shape == (len(POINTS),)
        np.testing.assert_allclose(from_density.mass, from_point.mass[0], atol=1e-12)
        np.testing.assert_allclose(from_density.probability[:, i, j], from_density.mass, atol=1e-12)
        # linear in the start: half the mass in another cell
        start2 = start.copy()
        start2[5, 25] = 1.0 / grid.cell_volume
        mixed = absorbed_mass(process, POINTS, R, grid, 0.5 * start2, scheme=scheme)
        np.testing.assert_allclose(mixed.mass, 0.5 * (from_density.mass + from_density.probability[:, 5, 25]),
                                   atol=1e-12)


def test_absorbing_grid_boundary_loses_mass():
    # On a small box with absorbing walls the forward process is also killed at the wall: the resolvent loses
    # mass; the reversed chain still always ends at a data point, while the absorbing-cell dynamics loses paths.
    process = fd.Brownian(0.8)
    grid = _grid(40, half_width=1.5, boundary="absorbing")
    f = resolvent_density(process, POINTS, R, grid)
    assert 0.5 < grid.integrate(f) < 1.0
    result = absorbed_mass(process, POINTS, R, grid, STARTS[:1], scheme="absorbing")
    assert 0.0 < result.unabsorbed[0] < 1.0
    reversal = absorbed_mass(process, POINTS, R, grid, STARTS[:1])
    assert reversal.mass.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("call, name", [
    (lambda g: resolvent_density(fd.VP(), POINTS, R, g), "process"),
    (lambda g: resolvent_density(fd.Brownian(), POINTS, -1.0, g), "r"),
    (lambda g: resolvent_density(fd.Brownian(), POINTS, R, "grid"), "grid"),
    (lambda g: resolvent_density(fd.Brownian(), POINTS[:, :1], R, g), "points"),
    (lambda g: resolvent_density(fd.Brownian(), POINTS + 10.0, R, g), "points"),
    (lambda g: grid_homogeneous_score(fd.Brownian(), POINTS, R, g, density=np.ones(3)), "density"),
    (lambda g: absorbed_mass(fd.Brownian(), POINTS, R, g, [[9.0, 0.0]]), "start"),
    (lambda g: absorbed_mass(fd.Brownian(), POINTS, R, g, "x"), "start"),
    (lambda g: absorbed_mass(fd.Brownian(), POINTS, R, g, np.full(g.shape, -1.0)), "start"),
    (lambda g: absorbed_mass(fd.Brownian(), POINTS, R, g, STARTS, scheme="euler"), "scheme"),
    (lambda g: absorbed_mass(fd.Brownian(), POINTS, R, g, STARTS, score=lambda x: x), "score"),
    (lambda g: absorbed_mass(fd.Brownian(), POINTS, R, g, STARTS, scheme="absorbing", score=3), "score"),
    (lambda g: absorbed_mass(fd.Brownian(), POINTS, R, g, STARTS, steps=3), "steps"),
])
def test_bad_inputs_raise_input_error_naming_the_argument(call, name):
    with pytest.raises(InputError, match=name):
        call(_grid(16))


def test_points_sharing_a_cell_are_refused_by_the_absorbing_scheme():
    with pytest.raises(InputError, match="distinct cells"):
        absorbed_mass(fd.Brownian(), [[0.01, 0.01], [0.02, 0.02]], R, _grid(16), STARTS, scheme="absorbing")


def test_underflowing_density_is_reported():
    # decay length sigma/sqrt(2r) = 1e-4 on a box of half-width 40 (cells 0.625 wide): the discrete f drops by
    # a factor ~ D/(h^2 r) ~ 3e-8 per cell and underflows to 0 some 40 cells from the data
    with pytest.raises(BlowUpError, match="too large"):
        grid_homogeneous_score(fd.Brownian(1e-3), POINTS, 50.0, _grid(128, half_width=40.0))
