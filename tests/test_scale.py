"""Chunked assignment, the compiled loop against the eager lesson, memory."""
import itertools
import subprocess
import sys

import numpy as np
import pytest
from sklearn.cluster import KMeans

import functions as fn
import tensorflow as tf
import kmeans_tf
from helpers import ROOT, blobs, brute_force_nearest
from kmeans_tf import checks, distances


@pytest.mark.parametrize("n_features", [2, 8])    # differences; product
def test_chunked_assignment_matches_brute_force(monkeypatch, n_features):
    rng = np.random.default_rng(n_features)
    samples = rng.normal(size=(1003, n_features)).astype(np.float32)
    centroids = samples[:7] + 0.01
    # Chunks of about 100 rows: 11 of them, which do not divide 1003.
    monkeypatch.setattr(distances, "CHUNK_BYTES", 4 * 7 * n_features * 100
                        if distances.direct_form(n_features) else 4 * 700)
    chunks = distances.centred_chunks(checks.check_samples(samples), 7,
                                      1.0)[0]
    assert chunks.shape[0] > 1 and 1003 % chunks.shape[0] != 0
    expected, _ = brute_force_nearest(samples, centroids)
    labels = kmeans_tf.assign_labels(samples, centroids)
    assert labels.dtype == np.int32 and labels.shape == (1003,)
    assert (labels == expected).mean() > 0.999
    monkeypatch.setattr(distances, "CHUNK_BYTES", 2**30)      # one chunk
    unchunked = kmeans_tf.assign_labels(samples, centroids)
    np.testing.assert_array_equal(labels, unchunked)


@pytest.mark.parametrize("n_samples", [1003, 40_001])  # eager, XLA; rows over
@pytest.mark.parametrize("centre", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_centred_chunks_statistics_match_numpy(n_samples, centre, weighted):
    rng = np.random.default_rng(n_samples)
    samples = (rng.normal(size=(n_samples, 6)) * [1, 2, 3, 4, 5, 6]
               + 50).astype(np.float32)
    weights = rng.uniform(0, 3, n_samples).astype(np.float32) \
        if weighted else None
    scale = 2.0 ** -6
    data = distances.centred_chunks(
        tf.constant(samples), 4, scale,
        None if weights is None else tf.constant(weights), centre=centre)
    wide = samples.astype(np.float64) * scale
    middle = wide.mean(axis=0) if centre else 0
    squares = ((wide - middle) ** 2).sum(axis=1)
    if weighted:
        squares *= weights
    # The variance is unweighted, about the mean, as scikit-learn's tol.
    assert float(data.variance) == pytest.approx(
        wide.var(axis=0).mean(), rel=1e-5)
    assert float(data.sum_of_squares) == pytest.approx(squares.sum(),
                                                       rel=1e-5)
    flat = tf.reshape(data.chunks, (-1, 6))[:n_samples].numpy()
    np.testing.assert_allclose(flat, wide - middle, atol=1e-5)


@pytest.mark.parametrize("n_samples, n_features", [
    (3000, 3),         # a plain graph
    (120_000, 2),      # compiled with XLA (n * d >= XLA_MIN_VALUES)
    (30_000, 10)])     # XLA, matrix-product distances
def test_compiled_loop_equals_eager_lesson_steps(n_samples, n_features):
    k = 5
    samples = blobs([n_samples // k] * k, [3] * k, n_features, seed=9)
    init = samples[:k]
    centroids = init
    for steps in range(1, 5):
        labels = fn.assign_to_nearest(samples, centroids)
        centroids = fn.update_centroids(
            samples, labels, k, previous_centroids=centroids).numpy()
        compiled = fn.kmeans(samples, k, init=init, max_iter=steps, tol=0)
        if compiled.n_iter < steps:      # it stopped: nothing moves now
            break
        np.testing.assert_allclose(compiled.centroids, centroids,
                                   rtol=1e-9, atol=1e-9)


def test_few_features_compiled_stop_where_sklearn_stops():
    # 200,000 x 2 runs compiled, over rows that carry a column of ones (one
    # scatter adds up sums and counts), and its loop compares every label
    # only when the sums and counts repeat: float64 (no rounding apart),
    # so the same labels, iterations and centroids as scikit-learn's Lloyd,
    # with and without a progress callback (compiled calls of a few
    # iterations, each handing the last sums and counts to the next).
    samples = blobs([50_000] * 4, [3] * 4, 2, seed=11)
    k = 6                        # more clusters than blobs: a long run
    data = distances.centred_chunks(tf.constant(samples), k, 1.0,
                                    counted=True)
    assert data.chunks.shape[-1] == distances.COUNTED_WIDTH
    init = samples[:k]
    theirs = KMeans(k, init=init, n_init=1, tol=0,
                    algorithm="lloyd").fit(samples)
    for progress in [None, lambda *args: None]:
        ours = fn.kmeans(samples, k, init=init, tol=0, progress=progress)
        assert ours.stop_reason == "no label changed"
        assert ours.n_iter == theirs.n_iter_ > 100
        np.testing.assert_array_equal(ours.labels, theirs.labels_)
        np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                                   rtol=1e-9)


@pytest.mark.parametrize("n_rows, n_segments, width, parts", [
    (1_000_003, 4, 3, 1), (5000, 300, 3, 1), (200_001, 5, 40, 2)])
def test_segment_sums_by_blocks_are_near_float64(n_rows, n_segments, width,
                                                 parts):
    # Many rows of one float32 value in few segments: added one after
    # another, the rounding grows with the rows (1e-3 of the sum at a
    # million); by blocks, a few units in 1e-6, as in float64. Narrow rows
    # take turns between lanes; wide ones go to `parts` scatters, each
    # over its share of the rows (an odd number of them).
    rng = np.random.default_rng(4)
    values = np.resize(np.float32([1.6666666, -2.5, 1e3]), (n_rows, width))
    values[::7] *= -3
    ids = rng.integers(0, n_segments, n_rows).astype(np.int32)
    exact, magnitude = np.zeros((2, n_segments, width))
    np.add.at(exact, ids, values.astype(np.float64))
    np.add.at(magnitude, ids, np.abs(values.astype(np.float64)))
    blocked = tf.function(kmeans_tf.stats.segment_sums, jit_compile=True)(
        tf.constant(values), tf.constant(ids), n_segments, parts=parts)
    # Relative to the sum of the magnitudes, where signs cancel.
    assert (np.abs(blocked.numpy() - exact) <= 2e-6 * magnitude).all()


def test_duplicate_samples_give_their_own_values():
    # 600,000 copies of three points, far from the origin, compiled: the
    # centroids are the points themselves to float32's precision, with
    # scikit-learn's labels and iterations (its own centroids come out 4e-3
    # off: it adds chunks of 256 samples, then the chunks one after
    # another). With two clusters more than points, the inertia is not
    # above scikit-learn's. (Such a run need not settle: a cluster's mean
    # of copies of a point comes out a rounding off the point, an emptied
    # cluster takes the point itself, which wins the copies, and so on.
    # Over 24 such runs, 3 went on to max_iter before the sums took turns
    # between lanes, 1 after: which ones is down to rounding.)
    points = np.array([[0, 0], [5, 0], [0, 5]], np.float32) + 100
    samples = points[np.random.default_rng(5).integers(0, 3, 600_000)]
    for init in (points + 1, np.vstack([points, points[:2] + 0.5])):
        k = len(init)
        ours = fn.kmeans(samples, k, init=init, tol=0, max_iter=20)
        theirs = KMeans(k, init=init, n_init=1, tol=0,
                        algorithm="lloyd").fit(samples)
        assert ours.inertia <= theirs.inertia_ + 1e-3
        own = [samples[ours.labels == j] for j in range(k)]
        for centroid, members in zip(ours.centroids, own):
            if len(members):
                np.testing.assert_allclose(centroid, members[0], atol=1e-4)
                assert (members == members[0]).all()
        if k == 3:
            np.testing.assert_array_equal(ours.labels, theirs.labels_)
            assert ours.n_iter == theirs.n_iter_
            assert ours.stop_reason == "no label changed"


def test_progress_reports_and_changes_nothing():
    samples = blobs([300] * 4, [4] * 4, 3, seed=2)
    calls = []
    quiet = fn.kmeans(samples, 4, seed=1, tol=0)
    reported = fn.kmeans(samples, 4, seed=1, tol=0,
                         progress=lambda *args: calls.append(args))
    np.testing.assert_array_equal(quiet.centroids, reported.centroids)
    assert calls and calls[-1][:2] == (reported.n_iter, 300)
    assert calls[-1][2] == pytest.approx(reported.inertia_history[-1])


@pytest.mark.parametrize("algorithm", ["lloyd", "bounded"])
def test_progress_reports_in_the_samples_units(algorithm):
    # Samples of size about 1e3 are scaled by 2**-10 inside; every report
    # during the run must still be in the samples' units, as the result's
    # history is. 30,000 x 8 takes the compiled paths.
    samples = blobs([7500] * 4, [1] * 4, 8, seed=3) * 1e3
    calls = []
    result = fn.kmeans(samples, 4, seed=2, tol=0, algorithm=algorithm,
                       progress=lambda *args: calls.append(args))
    assert calls
    for n_iter, _, inertia, shift in calls:
        assert inertia == pytest.approx(result.inertia_history[n_iter - 1])
        assert shift == pytest.approx(result.shift_history[n_iter - 1])


def test_memory_stays_bounded_for_two_million_samples():
    # 2,000,000 x 2 float32 (16 MB) with k=100: the full distance matrix
    # would be 800 MB, the lesson's broadcast 1.6 GB. After a warm-up run of
    # the same shape (XLA compiles once), a 3-iteration run must add less
    # than 200 MB at its peak.
    code = """
import threading, numpy as np, functions as fn
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
x = np.random.default_rng(0).standard_normal((2_000_000, 2), np.float32)
fn.kmeans(x, 100, init=x[:100], max_iter=1)
base = peak = rss()
done = threading.Event()
def watch():
    global peak
    while not done.wait(0.002):
        peak = max(peak, rss())
watcher = threading.Thread(target=watch)
watcher.start()
fn.kmeans(x, 100, init=x[:100], max_iter=3)
done.set()
watcher.join()
print((max(peak, rss()) - base) / 2**20)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert float(out) < 200


def tied_integers(n_features, n_clusters, reach):
    """Samples (5000, d) and centroids (k, d) of small integers in
    [-reach, reach], float32: every distance and product exact, and many
    exact ties (duplicate centroids, points halfway between two)."""
    rng = np.random.default_rng(n_clusters)
    return (rng.integers(-reach, reach + 1, (5000, n_features)).astype(
        np.float32), rng.integers(-reach, reach + 1, (
            n_clusters, n_features)).astype(np.float32))


def assert_lowest_nearest(labels, samples, centroids):
    """labels are NumPy's brute-force argmin (lowest index on ties), and
    the data do have ties."""
    squared = ((samples[:, None, :].astype(np.float64)
                - centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, squared.argmin(axis=1))
    assert (squared == squared.min(axis=1, keepdims=True)).sum(1).max() > 1


@pytest.mark.parametrize("n_features, n_clusters", [(1, 7), (2, 100),
                                                    (4, 256), (2, 300),
                                                    (5, 3), (8, 40),
                                                    (16, 300)])
def test_running_minimum_equals_brute_force_lowest_index_on_ties(
        n_features, n_clusters):
    # Unrolled over the clusters up to 4 features and 256 clusters; else by
    # groups of clusters in a loop (40 clusters of 8 features: 3 groups of
    # 14, with 2 clusters of padding; 300 of 2: 19 groups of 16, with 4; 300
    # of 16: 38 groups of 8, with 4).
    samples, centroids = tied_integers(n_features, n_clusters, 8)
    labels = kmeans_tf.distances._running_minimum_xla(
        [tf.constant(column) for column in samples.T],
        tf.constant(centroids), n_clusters, n_features).numpy()
    assert_lowest_nearest(labels, samples, centroids)


@pytest.mark.parametrize("n_features, n_clusters", [(5, 3), (16, 64),
                                                    (8, 100), (8, 101),
                                                    (6, 300)])
def test_compiled_products_argmin_equals_brute_force_lowest_index_on_ties(
        n_features, n_clusters):
    # Many features under XLA, as Lloyd's loop runs them: the running
    # minimum over the product's rows up to 100 clusters, by groups above.
    samples, centroids = tied_integers(n_features, n_clusters, 3)
    nearest = tf.function(kmeans_tf.distances.nearest, jit_compile=True)
    labels = nearest(tf.constant(samples), tf.constant(centroids),
                     False, True).numpy()
    assert_lowest_nearest(labels, samples, centroids)


def test_large_data_with_some_features_runs_lloyd_as_scikit_learn():
    # 40,000 x 8, k=20 is XLA-sized: the running minimum by groups of
    # clusters (2 groups of 10). scikit-learn's labels and iterations from
    # the same start, the labels brute force's, the inertia exact.
    samples = blobs([2_000] * 20, [3] * 20, 8, seed=6).astype(np.float32)
    assert kmeans_tf.distances.running_min_form(8, 20, True)
    init = samples[:20]
    ours = fn.kmeans(samples, 20, init=init, tol=0, algorithm="lloyd")
    theirs = KMeans(20, init=init, n_init=1, tol=0,
                    algorithm="lloyd").fit(samples)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    assert ours.n_iter == theirs.n_iter_
    expected, distances = brute_force_nearest(samples, ours.centroids)
    np.testing.assert_array_equal(ours.labels, expected)
    assert ours.inertia == pytest.approx(distances.sum(), rel=1e-6)


@pytest.mark.parametrize("n_features, n_clusters, n_samples",
                         [(2, 300, 120_000), (8, 150, 40_000)])
def test_many_clusters_run_lloyd_as_scikit_learn(n_features, n_clusters,
                                                 n_samples):
    # Past 256 clusters with 2 features, and past 100 with 8 (where the
    # product's argmin would go by groups), the running minimum goes by
    # groups of clusters in a loop. Blobs on a grid, 4 apart and of spread
    # 0.3, each start within 1 of its blob: no sample near a tie, so
    # scikit-learn's labels and iterations exactly.
    rng = np.random.default_rng(n_clusters)
    side = int(np.ceil(n_clusters ** (1 / n_features)))
    centres = 4.0 * np.array(list(itertools.product(
        range(side), repeat=n_features))[:n_clusters])
    samples = (centres[rng.integers(0, n_clusters, n_samples)]
               + rng.normal(0, 0.3, (n_samples, n_features))).astype(
                   np.float32)
    init = (centres + rng.uniform(-1, 1, centres.shape)).astype(np.float32)
    assert kmeans_tf.distances.running_min_form(n_features, n_clusters,
                                                True)
    ours = fn.kmeans(samples, n_clusters, init=init, tol=0,
                     algorithm="lloyd")
    theirs = KMeans(n_clusters, init=init, n_init=1, tol=0,
                    algorithm="lloyd").fit(samples)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    assert ours.n_iter == theirs.n_iter_
    # Coordinates up to 68 (2 features): float32 sums of 400 of them
    # round near 1e-5.
    np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                               atol=1e-4)


def test_large_data_with_few_features_takes_the_running_minimum():
    # 300,000 x 2 is XLA-sized: one chunk, the running minimum; labels as
    # NumPy's brute force, the inertia exact.
    samples = blobs([100_000] * 3, [2] * 3, 2, seed=4).astype(np.float32)
    assert kmeans_tf.distances.running_min_form(2, 3, True)
    result = fn.kmeans(samples, 3, init=samples[:3], tol=0)
    expected, distances = brute_force_nearest(samples, result.centroids)
    assert (result.labels == expected).mean() > 0.9999
    assert result.inertia == pytest.approx(distances.sum(), rel=1e-6)


# %% k-means++ on large data: draws in blocks, compiled with XLA

@pytest.mark.parametrize("compiled", [False, True])
def test_kmeans_plus_plus_draws_as_a_search_of_the_running_total(compiled):
    # Values with zeros among them, over one block or many: each draw must
    # land where NumPy's search of the whole running total lands.
    draw = tf.function(kmeans_tf.init._draw, jit_compile=compiled)
    rng = np.random.default_rng(0)
    for n in [1, 5, 1023, 1024, 1025, 70_001]:
        values = rng.random(n) ** 4
        values[rng.random(n) < 0.3] = 0
        values[-1] = 1.0                       # not all zero
        uniforms = rng.random(50)
        running = np.cumsum(values)
        expected = np.minimum(np.searchsorted(running, uniforms * running[-1]),
                              n - 1)
        got = draw(kmeans_tf.init._in_blocks(tf.constant(values)),
                   tf.constant(uniforms), n).numpy()
        np.testing.assert_array_equal(got, expected)
        assert (values[got] > 0).all()


@pytest.mark.parametrize("n_samples, n_features", [(100_000, 2),
                                                    (60_000, 5)])
def test_kmeans_plus_plus_under_xla_as_good_as_sklearns(
        monkeypatch, n_samples, n_features):
    # Compiled by XLA, which takes over from init.XLA_MIN_WORK on, here
    # lowered to 0: by differences (2 features) and by product (5). Random
    # starts end 4.7 times as far from the samples as k-means++'s (5
    # features), so a draw that strayed from D² would show.
    from sklearn.cluster import kmeans_plusplus
    monkeypatch.setattr(kmeans_tf.init, "XLA_MIN_WORK", 0)
    rng = np.random.default_rng(0)
    k = 20
    centres = rng.uniform(-10, 10, (k, n_features))
    samples = (centres[rng.integers(0, k, n_samples)]
               + rng.standard_normal((n_samples, n_features))
               ).astype(np.float32)

    def inertia(centroids):
        return brute_force_nearest(samples, centroids)[1].sum()

    ours = [inertia(fn.kmeans(samples, k, seed=s, max_iter=0).centroids)
            for s in range(30)]
    theirs = [inertia(kmeans_plusplus(samples, k, random_state=s)[0])
              for s in range(30)]
    assert abs(np.mean(ours) / np.mean(theirs) - 1) < 0.1
