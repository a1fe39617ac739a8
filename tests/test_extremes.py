"""The engine at the edges: values near the float limits, odd streams,
huge max_iter and n_init, arguments of the wrong kind."""
import time

import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

import kmeans_tf
from helpers import blobs, brute_force_nearest
from kmeans_tf import lloyd

BASE = blobs([60, 40, 50], [1, 2, 1], 2, seed=11)
START = BASE[[0, 1, 2]]


def sklearn_reference():
    return KMeans(3, init=START, n_init=1, tol=0, algorithm="lloyd").fit(BASE)


# k-means does not change under a scale, so BASE * s clusters exactly as
# BASE does, with centroids * s and inertia * s², whatever s: where the
# squares of the raw values would overflow or underflow too.
@pytest.mark.parametrize("dtype, scale", [
    (np.float32, 1e-30), (np.float32, 1e19), (np.float32, 1e36),
    (np.float64, 1e-300), (np.float64, 1e160), (np.float64, 1e300)])
@pytest.mark.parametrize("stream", [False, True])
def test_any_finite_scale_clusters_as_the_unscaled_data(dtype, scale,
                                                        stream):
    reference = sklearn_reference()
    samples = (BASE * scale).astype(dtype)
    data = (tf.data.Dataset.from_tensor_slices(samples).batch(37) if stream
            else samples)
    result = kmeans_tf.kmeans(data, 3, init=(START * scale).astype(dtype),
                              tol=0)
    np.testing.assert_array_equal(result.labels, reference.labels_)
    np.testing.assert_allclose(result.centroids / scale,
                               reference.cluster_centers_, rtol=1e-5)
    assert not np.isnan(result.inertia_history).any()
    with np.errstate(over="ignore", under="ignore"):  # inf beyond float64
        true_inertia = np.float64(reference.inertia_) * scale * scale
    if np.isfinite(true_inertia) and true_inertia > 1e-300:
        assert result.inertia == pytest.approx(true_inertia, rel=1e-5)
    else:
        assert result.inertia == true_inertia or (
            true_inertia < 1e-300 and result.inertia < 1e-300)


# At the very edge of a dtype no power of two brings the data near 1 and
# is itself a normal number (TensorFlow reads subnormal numbers as 0):
# refused, with the remedy; in float64 the same values cluster as BASE.
@pytest.mark.parametrize("dtype, largest, words", [
    (np.float32, 1e38, "convert them to float64"),
    (np.float32, 1e-39, "convert them to float64"),
    (np.float64, 1e-309, "rescale them")])
@pytest.mark.parametrize("stream", [False, True])
def test_data_beyond_the_scales_reach_is_refused(dtype, largest, words,
                                                 stream):
    scale = largest / np.abs(BASE).max()
    samples = (BASE * scale).astype(dtype)
    assert np.abs(samples).max() > 0          # representable, if subnormal
    data = (tf.data.Dataset.from_tensor_slices(samples).batch(37) if stream
            else samples)
    with pytest.raises(ValueError, match=f"samples must have magnitudes "
                                         f"from .* {words}"):
        kmeans_tf.kmeans(data, 3, seed=0)
    if dtype == np.float32:
        result = kmeans_tf.kmeans(samples.astype(np.float64), 3,
                                  init=START * scale, tol=0)
        np.testing.assert_array_equal(result.labels,
                                      sklearn_reference().labels_)


def test_float64_init_beyond_float32_samples_is_refused():
    with pytest.raises(ValueError, match="init must have magnitudes .* "
                                         "convert the samples to float64"):
        kmeans_tf.kmeans(BASE.astype(np.float32), 3, init=START * 1e38)


def test_batches_of_no_rows_are_skipped():
    def batches():
        yield BASE[:0]
        yield BASE[:70]
        yield BASE[:0]
        yield BASE[70:]
        yield BASE[:0]
    stream = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, 2), tf.float64)))
    result = kmeans_tf.kmeans(stream, 3, init=START, tol=0)
    np.testing.assert_array_equal(result.labels, sklearn_reference().labels_)
    mini = kmeans_tf.minibatch_kmeans(stream, 3, init=START, max_steps=8)
    np.testing.assert_array_equal(
        mini.labels, brute_force_nearest(BASE, mini.centroids)[0])


@pytest.mark.parametrize("scale", [1e-300, 1e200])
def test_silhouette_and_bic_at_the_float_limits(scale):
    labels = sklearn_reference().labels_
    assert kmeans_tf.silhouette_score(BASE * scale, labels) == \
        pytest.approx(silhouette_score(BASE, labels), abs=1e-6)
    centroids = sklearn_reference().cluster_centers_
    # BIC in the samples' own units: a scale of s shifts every k's BIC by
    # -n d log(s), the same for every k.
    shift = -BASE.size * np.log(scale)
    assert kmeans_tf.bic_score(BASE * scale, centroids * scale) == \
        pytest.approx(kmeans_tf.bic_score(BASE, centroids) + shift,
                      rel=1e-9)


def test_endless_dataset_is_refused():
    endless = tf.data.Dataset.from_tensor_slices(BASE).batch(10).repeat()
    for call in (kmeans_tf.kmeans, kmeans_tf.minibatch_kmeans):
        with pytest.raises(ValueError, match="repeats forever"):
            call(endless, 3)


def test_a_batch_of_another_width_is_named():
    def batches():
        yield np.zeros((4, 2))
        yield np.zeros((4, 2))
        yield np.zeros((4, 3))
    data = tf.data.Dataset.from_generator(
        batches, output_signature=tf.TensorSpec((None, None), tf.float64))
    with pytest.raises(ValueError, match="batch 2 of the Dataset has 3 "
                                         "features, the first had 2"):
        kmeans_tf.kmeans(data, 2)


def test_history_in_blocks_is_the_whole_history(monkeypatch):
    samples = blobs([200] * 6, [3] * 6, 2, seed=3)
    whole = kmeans_tf.kmeans(samples, 6, init=samples[:6], tol=0)
    assert whole.n_iter > 4
    monkeypatch.setattr(lloyd, "HISTORY_BLOCK", 2)
    blocked = kmeans_tf.kmeans(samples, 6, init=samples[:6], tol=0)
    assert blocked.n_iter == whole.n_iter
    np.testing.assert_allclose(blocked.inertia_history, whole.inertia_history)
    np.testing.assert_allclose(blocked.shift_history, whole.shift_history)
    np.testing.assert_allclose(blocked.centroids, whole.centroids)


def test_memory_does_not_grow_with_max_iter():
    # The history was once allocated up front: 10**11 iterations failed.
    result = kmeans_tf.kmeans(BASE, 3, init=START, max_iter=10**11, tol=0)
    assert result.converged
    assert len(result.inertia_history) == result.n_iter


def test_progress_is_throttled_across_runs():
    calls = []
    started = time.perf_counter()
    result = kmeans_tf.kmeans(BASE, 3, n_init=300, seed=0,
                              progress=lambda *a: calls.append(a))
    seconds = time.perf_counter() - started
    assert len(calls) <= seconds / lloyd.PROGRESS_SECONDS + 2
    # The last call reports the end of the run that was kept.
    assert calls[-1][0] == result.n_iter


@pytest.mark.parametrize("keyword, value, words", [
    ("strategy", "mirrored", "strategy must be a tf.distribute.Strategy"),
    ("progress", 5, "progress must be callable"),
    ("seed", "one", "seed must be an integer"),
    ("seed", 2**63, "seed=9223372036854775808 should be between 0 and"),
])
def test_arguments_of_the_wrong_kind_are_named(keyword, value, words):
    with pytest.raises((TypeError, ValueError)) as raised:
        kmeans_tf.kmeans(BASE, 3, **{keyword: value})
    assert words in str(raised.value)


# %% Exact copies of a centroid: a tie that argmin gives the lowest index.
# The matrix product may round identical columns differently; these cases
# gave samples to the later copy before `distances.first_copies`.

@pytest.mark.parametrize("n, d, k", [(60, 5, 3), (60, 5, 7), (60, 33, 20),
                                     (4000, 64, 9)])
def test_copies_of_a_centroid_never_take_its_samples(n, d, k):
    for seed in (2, 11, 17, 25):
        rng = np.random.default_rng(seed)
        samples = rng.standard_normal((n, d)).astype(np.float32)
        centroids = samples[rng.choice(n, k, replace=False)].copy()
        centroids[-1] = centroids[0]
        centroids[k // 2] = centroids[1]
        expected = brute_force_nearest(samples, centroids)[0]
        np.testing.assert_array_equal(
            kmeans_tf.assign_labels(samples, centroids), expected)
        with pytest.warns(kmeans_tf.ConvergenceWarning):
            model = kmeans_tf.KMeans(k, init=centroids,
                                     max_iter=0).fit(samples)
        np.testing.assert_array_equal(model.labels_, expected)
        np.testing.assert_array_equal(model.predict(samples), expected)


@pytest.mark.parametrize("algorithm", ["lloyd", "bounded"])
def test_repeated_rows_and_copied_starts_cluster_as_scikit_learn(algorithm):
    # Every row about ten times over, and a start with two copies in it.
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((800, 20)).astype(np.float32)
    samples = rows[rng.integers(0, len(rows), 8000)]
    start = samples[rng.choice(len(samples), 40, replace=False)]
    start[-1], start[20] = start[0], start[1]
    reference = KMeans(40, init=start, n_init=1, tol=0,
                       algorithm="lloyd").fit(samples)
    result = kmeans_tf.kmeans(samples, 40, init=start, tol=0,
                              algorithm=algorithm)
    np.testing.assert_array_equal(result.labels, reference.labels_)
    assert result.n_iter == reference.n_iter_


def test_copies_are_found_when_another_centroid_shares_their_hash():
    # A and B differ, but their bits' weighted sums are equal (built for
    # first_copies' fixed weights); B's copy must still lose its ties.
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((4000, 5)).astype(np.float32)
    grid = np.round(rng.standard_normal((2000, 2)) * 64) / 64
    samples[:, :2] = np.concatenate([grid, -grid])
    centroids = samples[rng.choice(4000, 7, replace=False)].copy()
    a, b = centroids[1].copy(), centroids[1].copy()
    a.view(np.uint32)[:2] = [0x1000 | 0x3F00 << 16, 0x2000 | 0x3F00 << 16]
    b.view(np.uint32)[:2] = [(0x1000 + 293) | (0x3F00 + 276) << 16,
                             (0x2000 - 273) | (0x3F00 + 278) << 16]
    centroids[0], centroids[1], centroids[6] = a, b, b
    np.testing.assert_array_equal(
        kmeans_tf.assign_labels(samples, centroids),
        brute_force_nearest(samples, centroids)[0])
