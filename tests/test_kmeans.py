"""kmeans() against scikit-learn, its properties, and its input checks."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.cluster import KMeans

import functions as fn
from helpers import (assert_real_image, blobs, brute_force_nearest,
                     group_means, run_script)

# Data sets of different shapes: unequal sizes and spreads, several dims.
DATA_SETS = {
    "lesson-like 2-D": (blobs([500, 500, 500], [5, 5, 5], 2, seed=1), 3),
    "unequal 3-D": (blobs([400, 40, 150, 90], [1, 4, 0.5, 2], 3, seed=2), 4),
    "overlapping 8-D": (blobs([300] * 6, [6] * 6, 8, seed=3), 6),
    "many clusters 5-D": (blobs([60] * 20, [2] * 20, 5, seed=4), 20),
    "far from origin": (blobs([200, 300, 100], [1, 2, 1], 2, seed=5,
                              offset=1e6), 3),
}


def sklearn_lloyd(samples, init, **kwargs):
    return KMeans(n_clusters=len(init), init=init, n_init=1,
                  algorithm="lloyd", **kwargs).fit(samples)


@pytest.mark.parametrize("name", DATA_SETS)
@pytest.mark.parametrize("start_seed", [0, 1])
def test_same_start_same_result_as_sklearn(name, start_seed):
    samples, k = DATA_SETS[name]
    rng = np.random.default_rng(start_seed)
    init = samples[rng.choice(len(samples), k, replace=False)]
    ours = fn.kmeans(samples, k, init=init)
    theirs = sklearn_lloyd(samples, init)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.inertia, theirs.inertia_, rtol=1e-6)
    assert ours.n_iter == theirs.n_iter_
    assert ours.centroids.dtype == ours.inertia_history.dtype == np.float64


def test_start_that_empties_a_cluster_matches_sklearn():
    samples, k = DATA_SETS["unequal 3-D"]
    init = samples[:k].copy()
    init[2] = samples.max(axis=0) + 1000     # nobody's nearest: empties
    ours = fn.kmeans(samples, k, init=init)
    theirs = sklearn_lloyd(samples, init)
    assert np.isfinite(ours.centroids).all()
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                               rtol=1e-6)


def test_tol_stops_where_sklearn_stops():
    samples, k = DATA_SETS["overlapping 8-D"]
    init = samples[:k]
    for tol in [1e-1, 1e-2, 1e-3]:
        ours = fn.kmeans(samples, k, init=init, tol=tol)
        theirs = sklearn_lloyd(samples, init, tol=tol)
        assert ours.n_iter == theirs.n_iter_
        np.testing.assert_allclose(ours.inertia, theirs.inertia_, rtol=1e-6)


def test_max_iter_stops_and_labels_belong_to_centroids():
    samples, k = DATA_SETS["overlapping 8-D"]
    result = fn.kmeans(samples, k, init=samples[:k], max_iter=2, tol=0)
    assert result.n_iter == 2 and not result.converged
    assert result.stop_reason == "reached max_iter"
    expected, distances = brute_force_nearest(samples, result.centroids)
    np.testing.assert_array_equal(result.labels, expected)
    np.testing.assert_allclose(result.inertia, distances.sum(), rtol=1e-9)
    zero = fn.kmeans(samples, k, init=samples[:k], max_iter=0)
    np.testing.assert_allclose(zero.centroids, samples[:k])


def test_kmeans_plus_plus_as_good_as_sklearns():
    # Each run ends in one of a few local minima, so the mean is noisy: 200
    # seeds bring its standard error below 1%, well inside the 3% asked.
    samples, k = DATA_SETS["many clusters 5-D"]
    ours = [fn.kmeans(samples, k, seed=s).inertia for s in range(200)]
    theirs = [KMeans(k, init="k-means++", n_init=1, random_state=s)
              .fit(samples).inertia_ for s in range(200)]
    assert abs(np.mean(ours) / np.mean(theirs) - 1) < 0.03


def test_kmeans_plus_plus_spreads_the_start():
    # Two tight, far-apart groups: k-means++ must put a centroid in each.
    samples = np.concatenate([np.zeros((500, 2)), np.ones((5, 2)) * 100])
    for seed in range(10):
        chosen = fn.choose_kmeans_plus_plus_centroids(samples, 2, seed=seed)
        assert sorted(chosen.numpy()[:, 0]) == [0, 100]


def test_seed_repeats_and_n_init_keeps_the_best():
    samples, k = DATA_SETS["overlapping 8-D"]
    a = fn.kmeans(samples, k, init="random", seed=4)
    b = fn.kmeans(samples, k, init="random", seed=4)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    many = fn.kmeans(samples, k, init="random", seed=4, n_init=8)
    assert many.inertia <= a.inertia * (1 + 1e-12)


def test_float32_stays_float32_and_agrees_with_float64():
    samples, k = DATA_SETS["lesson-like 2-D"]
    init = samples[:k]
    single = fn.kmeans(samples.astype(np.float32), k, init=init)
    double = fn.kmeans(samples, k, init=init)
    assert single.centroids.dtype == np.float32
    np.testing.assert_array_equal(single.labels, double.labels)
    np.testing.assert_allclose(single.centroids, double.centroids, rtol=1e-4)


def test_lists_and_integers_are_accepted():
    samples = [[0, 0], [0, 1], [10, 10], [10, 11]]
    result = fn.kmeans(samples, 2, init=[[0, 0], [10, 10]])
    np.testing.assert_allclose(result.centroids, [[0, 0.5], [10, 10.5]])
    np.testing.assert_array_equal(result.labels, [0, 0, 1, 1])


# %% Awkward but legal input gets an answer

def test_all_samples_identical():
    result = fn.kmeans(np.ones((20, 3)), 4, seed=0)
    np.testing.assert_allclose(result.centroids, 1.0)
    assert result.inertia == 0 and np.isfinite(result.centroids).all()


def test_as_many_clusters_as_samples():
    samples = np.random.default_rng(0).normal(size=(12, 2))
    result = fn.kmeans(samples, 12, seed=1)
    assert result.inertia == pytest.approx(0, abs=1e-12)
    assert sorted(result.labels) == list(range(12))


def test_one_cluster_is_the_mean():
    samples = np.random.default_rng(1).normal(size=(100, 4))
    result = fn.kmeans(samples, 1)
    np.testing.assert_allclose(result.centroids[0], samples.mean(axis=0))
    np.testing.assert_allclose(result.inertia,
                               ((samples - samples.mean(0)) ** 2).sum())


def test_one_feature():
    samples = np.array([[1.0], [2.0], [3.0], [11.0], [12.0], [13.0]])
    result = fn.kmeans(samples, 2, seed=0)
    np.testing.assert_allclose(sorted(result.centroids[:, 0]), [2, 12])


# %% Properties over random data

@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_properties_on_random_data(data):
    n = data.draw(st.integers(1, 40), label="n_samples")
    d = data.draw(st.integers(1, 4), label="n_features")
    k = data.draw(st.integers(1, n), label="n_clusters")
    samples = data.draw(hnp.arrays(
        np.float64, (n, d), elements=st.floats(-1e3, 1e3, width=32)))
    result = fn.kmeans(samples, k, seed=0, tol=0, max_iter=100)
    assert np.isfinite(result.centroids).all()
    assert result.labels.min() >= 0 and result.labels.max() < k
    history = result.inertia_history
    # The per-iteration inertia comes from cluster sums (_inertia_from_sums),
    # exact up to float64 rounding of the samples' total sum of squares.
    rounding = 1e-12 * (samples ** 2).sum() + 1e-9
    assert all(history[1:] <= history[:-1] * (1 + 1e-9) + rounding)
    expected, distances = brute_force_nearest(samples, result.centroids)
    np.testing.assert_allclose(result.inertia, distances.sum(), rtol=1e-6,
                               atol=1e-6)
    if result.converged:
        means = group_means(samples, result.labels, k)
        filled = ~np.isnan(means[:, 0])
        np.testing.assert_allclose(result.centroids[filled], means[filled],
                                   rtol=1e-6, atol=1e-6)


# %% Bad input gets an error naming the argument

GOOD = np.zeros((5, 2))


@pytest.mark.parametrize("call, error, words", [
    (lambda: fn.kmeans(np.zeros(5), 2), ValueError, "samples must be 2-D"),
    (lambda: fn.kmeans(np.zeros((0, 2)), 1), ValueError, "must not be empty"),
    (lambda: fn.kmeans([["a", "b"]], 1), TypeError, "real numbers"),
    (lambda: fn.kmeans(np.ones((3, 2), bool), 1), TypeError, "real numbers"),
    (lambda: fn.kmeans([[1, 2], [3]], 1), ValueError, "rows of equal length"),
    (lambda: fn.kmeans([[1.0, np.nan]], 1), ValueError,
     "samples must be finite; got nan at row 0, column 1"),
    (lambda: fn.kmeans([[np.inf, 1.0]], 1), ValueError, "finite"),
    (lambda: fn.kmeans(GOOD, 6), ValueError,
     "n_samples=5 should be >= n_clusters=6"),
    (lambda: fn.kmeans(GOOD, 0), ValueError, "n_clusters=0 should be >= 1"),
    (lambda: fn.kmeans(GOOD, 2.5), TypeError, "n_clusters must be an integer"),
    (lambda: fn.kmeans(GOOD, 2, init="kmeans++"), ValueError,
     "init must be one of ('k-means++', 'random')"),
    (lambda: fn.kmeans(GOOD, 2, init=np.zeros((3, 2))), ValueError,
     "init must have n_clusters=2 rows"),
    (lambda: fn.kmeans(GOOD, 2, init=np.zeros((2, 3))), ValueError,
     "init must have the samples' 2 features"),
    (lambda: fn.kmeans(GOOD, 2, max_iter=-1), ValueError,
     "max_iter=-1 should be >= 0"),
    (lambda: fn.kmeans(GOOD, 2, n_init=0), ValueError, "n_init=0"),
    (lambda: fn.kmeans(GOOD, 2, tol=-1), ValueError, "tol=-1"),
    (lambda: fn.kmeans(GOOD, 2, tol="big"), TypeError, "tol must be a number"),
    (lambda: fn.assign_to_nearest(GOOD, np.zeros((2, 3))), ValueError,
     "centroids must have the samples' 2 features"),
    (lambda: fn.update_centroids(GOOD, [0, 1], 2), ValueError,
     "labels must have one entry per sample, shape (5,)"),
    (lambda: fn.update_centroids(GOOD, [0, 1, 2, 0, 1], 2), ValueError,
     "labels must be in [0, 2); got values from 0 to 2"),
    (lambda: fn.update_centroids(GOOD, [0.5] * 5, 2), TypeError,
     "labels must be integers"),
    (lambda: fn.choose_random_centroids(GOOD, 9), ValueError,
     "n_samples=5 should be >= n_clusters=9"),
    (lambda: fn.inertia(GOOD, np.zeros((2, 3))), ValueError,
     "centroids must have the samples' 2 features"),
    (lambda: fn.kmeans(GOOD, 2, seed=-1), ValueError,
     "seed=-1 should be between 0 and 4294967295"),
    (lambda: fn.bic_score(GOOD, np.zeros((5, 2))), ValueError,
     "n_samples=5 should be > n_clusters=5 for the BIC"),
    (lambda: fn.silhouette_score(GOOD, [0, 1, 0, 1, 0], sample_size=1),
     ValueError, "sample_size=1 should be >= 2"),
    (lambda: fn.assign_labels(GOOD, np.zeros((2, 3))), ValueError,
     "centroids must have the samples' 2 features"),
    (lambda: fn.silhouette_score(GOOD, [0, 1, 0, 1, 0], chunk_size=0),
     ValueError, "chunk_size=0 should be >= 1"),
])
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as raised:
        call()
    assert words in str(raised.value)


def test_converge_script_starts_where_iterate_starts(tmp_path):
    result = run_script("converge.py", "--centroid-seed", 1, "--n-starts", 3,
                        "--save", tmp_path / "c.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("stopped after") == 2
    assert result.stdout.count("reached the lowest inertia") == 2
    assert_real_image(tmp_path / "c.png")
    # The random start's table equals iterate.py's for the same seed, row
    # for row: same start, same steps, the same inertia of the same
    # centroids (to float32 rounding: one is the engine's, one the
    # lesson's).
    iterate = run_script("iterate.py", "--centroid-seed", 1, "--iterations",
                         3, "--save", tmp_path / "i.png")
    random_part = result.stdout.split("start: k-means++")[0]
    converged, iterated = _rows(random_part)[:4], _rows(iterate.stdout)
    assert len(converged) == len(iterated) == 4
    for ours, theirs in zip(converged, iterated):
        np.testing.assert_allclose(np.array(ours, float),
                                   np.array(theirs, float),
                                   rtol=1e-6, atol=0.11)  # printed to 0.1


def _rows(stdout):
    return [line.split() for line in stdout.splitlines()
            if line.split() and line.split()[0].isdigit()]
