"""Specifications of nnref.approximation: hand-built threshold networks (lectures 000, 002, 003)."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.path import Path

from nnref import activations
from nnref import approximation as A
from nnref.mlp import MLP

# |f'(x)| = |0.8x + 0.3 sin 15x + 4.5x cos 15x - 5 sin 50x| <= 0.8 + 0.3 + 4.5 + 5 on [0, 1]
LECTURE_F_LIPSCHITZ = 10.6

coordinates = st.floats(-1.0, 1.0, allow_nan=False)
point_clouds = st.lists(st.tuples(coordinates, coordinates), min_size=3, max_size=12)


def random_convex_polygon(cloud):
    """Convex hull of a random point cloud; rejects (assume) near-degenerate hulls."""
    hull = A.convex_hull(np.array(cloud))
    assume(len(hull) >= 3 and A.signed_area(hull) > 1e-2)
    assume(np.min(np.linalg.norm(np.roll(hull, -1, axis=0) - hull, axis=1)) > 1e-6)
    return hull


def away_from_boundary(points, vertices, margin=1e-6):
    """Points whose distance to every edge line exceeds ``margin`` (no ties at the boundary)."""
    W, c = A.half_planes(vertices)
    distances = np.abs(points @ W + c) / np.linalg.norm(W, axis=0)
    return points[np.all(distances > margin, axis=1)]


def inside_by_matplotlib(points, vertices):
    """An independent point-in-polygon test (ray casting in matplotlib)."""
    return Path(vertices).contains_points(points).astype(np.float64)


# --- lecture 003's example --------------------------------------------------------------


def test_lecture_f_at_the_ends_of_the_interval():
    assert A.lecture_f(0.0) == pytest.approx(0.3)
    assert A.lecture_f(1.0) == pytest.approx(0.6 + 0.3 * np.sin(15) + 0.1 * np.cos(50))


def test_lecture_f_lipschitz_constant_bounds_the_slope():
    x = np.linspace(0, 1, 200_001)
    slopes = np.abs(np.diff(A.lecture_f(x)) / np.diff(x))
    assert slopes.max() <= LECTURE_F_LIPSCHITZ


def test_lecture_network_slide_by_slide():
    """Slide 3 is a bump of height 0.8 on (0.35, 0.7]; the last slide a three-level staircase."""
    x = np.array([-0.1, 0.0, 0.2, 0.35, 0.5, 0.7, 0.9, 1.0])
    slides = A.lecture_steps()
    assert len(slides) == 5
    np.testing.assert_array_equal(A.threshold_network(x, *slides[0]), [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(A.threshold_network(x, *slides[2]), [0, 0, 0, 0, 0.8, 0.8, 0, 0],
                               atol=1e-15)
    np.testing.assert_allclose(A.threshold_network(x, *slides[4]),
                               [0, 0, 0.4, 0.4, 0.8, 0.8, 1.5, 1.5], atol=1e-15)


# --- the two-layer network of one input -------------------------------------------------


@given(st.integers(1, 40), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_threshold_network_is_an_mlp_with_heaviside_hidden_units(H, seed):
    """Also at the switching points themselves ([s > s] = 0) and with repeated ones."""
    rng = np.random.default_rng(seed)
    s, w, w0 = rng.choice(np.linspace(0, 1, 11), H), rng.normal(size=H), rng.normal()
    x = np.concatenate([rng.uniform(-0.5, 1.5, 50), s])
    net = MLP([1, H, 1], activation="heaviside", output="identity")
    net.params = A.network_params(s, w, w0)
    np.testing.assert_allclose(A.threshold_network(x, s, w, w0), net.forward(x[:, None])[:, 0],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [0.5, 3.0, 40.0])
def test_sigmoid_network_equals_torch_sequential(k):
    """a(x) = w0 + sum_h w_h sigma(k(x - s_h)) is nn.Sequential(Linear(1, H), Sigmoid(), Linear(H, 1))."""
    rng = np.random.default_rng(0)
    H = 7
    s, w, w0 = rng.uniform(0, 1, H), rng.normal(size=H), rng.normal()
    x = rng.uniform(-0.5, 1.5, 100)
    params = A.network_params(s, w, w0, k)
    model = torch.nn.Sequential(torch.nn.Linear(1, H), torch.nn.Sigmoid(),
                                torch.nn.Linear(H, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(params["W1"].T))   # torch stores (out, in)
        model[0].bias.copy_(torch.from_numpy(params["b1"]))
        model[2].weight.copy_(torch.from_numpy(params["W2"].T))
        model[2].bias.copy_(torch.from_numpy(params["b2"]))
        expected = model(torch.from_numpy(x[:, None])).numpy()[:, 0]
    np.testing.assert_allclose(A.sigmoid_network(x, s, w, w0, k), expected, rtol=1e-12, atol=1e-14)


def test_sigmoids_tend_to_thresholds_as_steepness_grows():
    """Away from the thresholds, |sigmoid net - threshold net| <= sum|w_h| sigma(-k delta) -> 0."""
    rng = np.random.default_rng(1)
    s, w = np.array([0.2, 0.5, 0.8]), rng.normal(size=3)
    x = np.linspace(0, 1, 1001)
    delta = 0.01
    far = x[np.min(np.abs(x[:, None] - s), axis=1) >= delta]
    errors = []
    for k in [10.0, 100.0, 1000.0, 10000.0]:
        err = np.max(np.abs(A.sigmoid_network(far, s, w, k=k) - A.threshold_network(far, s, w)))
        assert err <= np.sum(np.abs(w)) * activations.sigmoid(-k * delta) + 1e-15
        errors.append(err)
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-40


def test_steep_sigmoid_network_is_stable():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = A.sigmoid_network(np.array([-1.0, 0.5, 2.0]), [0.5], [1.0], k=1e6)
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


# --- lecture 002: 1-D regression as a sum of step differences ---------------------------


sorted_breakpoints = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=12,
                              unique=True).map(sorted)


@given(sorted_breakpoints)
@settings(max_examples=50, deadline=None)
def test_staircase_takes_the_value_f_of_the_left_breakpoint_on_every_bin(b):
    b = np.array(b)
    assume(np.min(np.diff(b)) > 1e-6)
    s, w, w0 = A.step_approximator(A.lecture_f, b)
    assert len(s) == len(w) == len(b) - 2          # N bins -> N - 1 neurons and a bias
    for left, right in zip(b[:-1], b[1:]):
        x = np.linspace(left, right, 7)[1:]        # the bin (b_i, b_{i+1}]
        np.testing.assert_allclose(A.threshold_network(x, s, w, w0), A.lecture_f(left),
                                   atol=1e-12)


@given(sorted_breakpoints, st.integers(0, 2**32 - 1))
@settings(max_examples=50, deadline=None)
def test_lecture_pairs_and_differences_are_the_same_staircase_on_the_interval(b, seed):
    b = np.array(b)
    x = np.random.default_rng(seed).uniform(-0.5, 1.5, 200)
    pairs = A.threshold_network(x, *A.step_pairs_approximator(A.lecture_f, b))
    differences = A.threshold_network(x, *A.step_approximator(A.lecture_f, b))
    inside = (x > b[0]) & (x <= b[-1])
    np.testing.assert_allclose(pairs[inside], differences[inside], atol=1e-12)
    np.testing.assert_allclose(pairs[~inside], 0.0, atol=1e-12)
    assert len(A.step_pairs_approximator(A.lecture_f, b)[0]) == 2 * (len(b) - 1)


def test_step_approximation_sorts_the_breakpoints():
    rng = np.random.default_rng(2)
    b, x = rng.uniform(0, 1, 9), rng.uniform(-0.2, 1.2, 100)
    np.testing.assert_array_equal(A.step_approximation(x, b), A.step_approximation(x, np.sort(b)))


@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(0.1, 30), st.floats(0, 6.3)),
                min_size=1, max_size=4),
       st.integers(1, 200))
@settings(max_examples=40, deadline=None)
def test_staircase_error_is_at_most_lipschitz_constant_over_n(terms, N):
    """f = sum a sin(omega x + phi) is Lipschitz with L = sum |a| omega; N equal bins of width
    1/N give sup |a(x) - f(x)| <= L / N on [0, 1]."""
    def f(x):
        return sum(a * np.sin(omega * x + phi) for a, omega, phi in terms)

    L = sum(abs(a) * omega for a, omega, _ in terms)
    b = np.linspace(0, 1, N + 1)
    x = np.linspace(0, 1, 2001)
    assert A.sup_error(f, lambda t: A.step_approximation(t, b, f), x) <= L / N + 1e-12


def test_staircase_converges_on_the_lecture_function():
    x = np.linspace(0, 1, 5001)
    errors = {N: A.sup_error(A.lecture_f, lambda t: A.step_approximation(t, np.linspace(0, 1, N + 1)), x)
              for N in [10, 100, 1000]}
    for N, err in errors.items():
        assert err <= LECTURE_F_LIPSCHITZ / N
    assert errors[1000] < errors[100] < errors[10]


def test_sigmoid_staircase_tends_to_the_threshold_staircase():
    b = np.linspace(0, 1, 21)
    x = np.linspace(0, 1, 4001)
    x = x[np.min(np.abs(x[:, None] - b), axis=1) > 1e-3]
    gaps = [np.max(np.abs(A.sigmoid_step_approximation(x, b, k) - A.step_approximation(x, b)))
            for k in [10.0, 100.0, 1000.0, 100000.0]]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-12


def test_sup_error_is_the_largest_absolute_difference():
    x = np.linspace(-1, 1, 5)
    assert A.sup_error(np.sin, lambda t: np.sin(t) + t**2, x) == 1.0


# --- polygons: AND of half-planes, OR of polygons ---------------------------------------


UNIT_SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def test_half_planes_of_the_unit_square():
    """Edges of the counterclockwise square: y > 0, x < 1, y < 1, x > 0."""
    W, c = A.half_planes(UNIT_SQUARE)
    np.testing.assert_array_equal(W, [[0, -1, 0, 1], [1, 0, -1, 0]])
    np.testing.assert_array_equal(c, [0, 1, 1, 0])


@given(point_clouds)
@settings(max_examples=50, deadline=None)
def test_edge_lines_pass_through_their_vertices_and_normals_point_inside(cloud):
    v = random_convex_polygon(cloud)
    for vertices in (v, v[::-1]):                      # either orientation
        W, c = A.half_planes(vertices)
        np.testing.assert_allclose(np.sum(W.T * vertices, axis=1) + c, 0, atol=1e-12)
        np.testing.assert_allclose(np.sum(W.T * np.roll(vertices, -1, axis=0), axis=1) + c, 0,
                                   atol=1e-12)
        assert np.all(vertices.mean(axis=0) @ W + c > 0)   # the centroid is inside


@given(point_clouds, st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_polygon_network_agrees_with_a_point_in_polygon_test(cloud, seed):
    vertices = random_convex_polygon(cloud)
    points = away_from_boundary(np.random.default_rng(seed).uniform(-1.2, 1.2, (300, 2)), vertices)
    expected = inside_by_matplotlib(points, vertices)
    np.testing.assert_array_equal(A.convex_polygon_indicator(points, vertices), expected)
    np.testing.assert_array_equal(A.convex_polygon_indicator(points, vertices[::-1]), expected)


def test_polygon_network_has_one_neuron_per_edge_and_an_and():
    params = A.polygon_network_params(UNIT_SQUARE)
    assert params["W1"].shape == (2, 4) and params["W2"].shape == (4, 1)
    np.testing.assert_array_equal(params["b2"], [-3.5])


@pytest.mark.parametrize("m", [1, 2, 3, 6])
def test_and_and_or_neurons_on_every_binary_input(m):
    U = np.array([[(i >> j) & 1 for j in range(m)] for i in range(2**m)], dtype=np.float64)
    for (W, b), truth in [(A.and_neuron(m), U.all(axis=1)), (A.or_neuron(m), U.any(axis=1))]:
        np.testing.assert_array_equal(activations.heaviside(U @ W + b)[:, 0], truth)


@given(st.lists(point_clouds, min_size=1, max_size=4), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_union_network_is_the_or_of_the_polygon_indicators(clouds, seed):
    polygons = [random_convex_polygon(cloud) for cloud in clouds]
    points = np.random.default_rng(seed).uniform(-1.2, 1.2, (300, 2))
    for p in polygons:
        points = away_from_boundary(points, p)
    union = A.polygon_union_indicator(points, *polygons)
    expected = np.any([inside_by_matplotlib(points, p) for p in polygons], axis=0)
    np.testing.assert_array_equal(union, expected)


def test_union_network_shapes_and_block_structure():
    triangle = np.array([[2.0, 0.0], [3.0, 0.0], [2.5, 1.0]])
    params = A.union_network_params(UNIT_SQUARE, triangle)
    assert [params[f"W{l}"].shape for l in (1, 2, 3)] == [(2, 7), (7, 2), (2, 1)]
    np.testing.assert_array_equal(params["W2"][:4, 1], 0)   # AND 2 does not see the square
    np.testing.assert_array_equal(params["W2"][4:, 0], 0)
    np.testing.assert_array_equal(params["b2"], [-3.5, -2.5])
    points = np.array([[0.5, 0.5], [2.5, 0.3], [1.5, 0.5]])
    np.testing.assert_array_equal(A.polygon_union_indicator(points, UNIT_SQUARE, triangle), [1, 1, 0])


@given(point_clouds)
@settings(max_examples=60, deadline=None)
def test_convex_hull_is_convex_counterclockwise_and_contains_the_points(cloud):
    points = np.array(cloud)
    hull = A.convex_hull(points)
    assume(len(hull) >= 3 and A.signed_area(hull) > 1e-9)   # not (nearly) a segment
    for vertex in hull:                                # vertices are input points
        assert np.any(np.all(points == vertex, axis=1))
    turns = [A._cross(hull[j - 2], hull[j - 1], hull[j]) for j in range(len(hull))]
    assert np.all(np.array(turns) > -1e-12)            # only left turns: convex
    W, c = A.half_planes(hull)
    assert np.all(points @ W + c >= -1e-9 * np.linalg.norm(W, axis=0))


# --- depth: composed tents ---------------------------------------------------------------


@given(st.integers(1, 8), st.lists(st.floats(0, 1), min_size=1, max_size=20))
@settings(max_examples=40, deadline=None)
def test_sawtooth_matches_its_closed_form(k, xs):
    """T^k(x) = 1 - |(2^k x mod 2) - 1| on [0, 1]."""
    x = np.array(xs)
    np.testing.assert_allclose(A.sawtooth(x, k), 1 - np.abs(np.mod(2**k * x, 2) - 1), atol=1e-9)


@pytest.mark.parametrize("k", range(1, 9))
def test_k_composed_tents_have_two_to_the_k_pieces(k):
    x = np.linspace(0, 1, 2**10 + 1)                   # a dyadic grid holds every kink
    assert A.count_linear_pieces(x, A.sawtooth(x, k)) == 2**k


@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_one_hidden_layer_of_h_relus_has_at_most_h_plus_one_pieces(H, seed):
    rng = np.random.default_rng(seed)
    w, b, v = rng.normal(size=H), rng.normal(size=H), rng.normal(size=H)
    kinks = -b / w
    x = np.unique(np.concatenate([np.linspace(-3, 3, 301), kinks[np.abs(kinks) < 3]]))
    x = x[np.concatenate([[True], np.diff(x) > 1e-9])]
    y = activations.relu(x[:, None] * w + b) @ v
    assert A.count_linear_pieces(x, y, tol=1e-6) <= H + 1


# --- lecture 002: three layers for a regression in two dimensions -----------------------


def bump(points):
    return np.exp(-4 * np.sum((points - 0.3) ** 2, axis=1)) + 0.3 * np.sin(6 * points[:, 0])


@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_grid_regression_takes_the_value_at_the_cell_centre(n, seed):
    edges = np.linspace(0, 1, n + 1)
    points = np.random.default_rng(seed).uniform(-0.3, 1.3, (400, 2))
    inside = np.all((points > 0) & (points < 1), axis=1)
    cell = np.clip(np.ceil(points * n) - 1, 0, n - 1)           # (e_i, e_{i+1}] -> i
    centres = (cell + 0.5) / n
    got = A.grid_regression(points, bump, edges)
    np.testing.assert_allclose(got[inside], bump(centres[inside]), atol=1e-12)
    np.testing.assert_array_equal(got[~inside], 0.0)


def test_grid_regression_network_sizes_share_the_half_planes():
    params = A.grid_regression_params(bump, np.linspace(0, 1, 6))
    assert [params[f"W{l}"].shape for l in (1, 2, 3)] == [(2, 12), (12, 25), (25, 1)]
    np.testing.assert_array_equal(np.sort(np.unique(params["W2"].sum(axis=0))), [0.0])


def test_grid_regression_converges_like_the_cell_diameter():
    """|f(x) - f(c)| <= L |x - c| <= L h / sqrt(2) for cells of side h."""
    points = np.random.default_rng(3).uniform(0, 1, (3000, 2))
    L = np.sqrt(8 / np.e) + 1.8                    # |grad bump| <= sqrt(8/e) + 0.3 * 6
    for n in (4, 16, 64):
        err = np.max(np.abs(A.grid_regression(points, bump, np.linspace(0, 1, n + 1)) - bump(points)))
        assert err <= L / n / np.sqrt(2)
