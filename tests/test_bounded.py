"""Hamerly's bounds change how much is computed, never the result: labels,
iterations and centroids as plain Lloyd's and scikit-learn's."""
import numpy as np
import pytest
from sklearn.cluster import KMeans

import kmeans_tf
from helpers import blobs
from kmeans_tf._tensorflow import tf


def overlapping(n, d, k, side, seed):
    """Blobs whose centres are close enough that runs take many steps."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-side / 2, side / 2, (k, d))
    return centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))


@pytest.mark.parametrize("samples, k, ties", [
    (overlapping(3000, 8, 20, 4, 0), 20, False),
    (overlapping(4000, 16, 40, 6, 1).astype(np.float32), 40, False),
    (blobs([500, 300, 200, 100], [1, 2, 1, 3], 6, seed=2) + 1e4, 7, False),
    # Integer grid points: exact ties between centroids everywhere, which
    # scikit-learn's rounding breaks its own way: compared with Lloyd only.
    (np.random.default_rng(3).integers(0, 4, (2000, 5)).astype(float), 12,
     True),
])
def test_bounded_equals_lloyd_and_scikit_learn(samples, k, ties):
    start = samples[np.random.default_rng(k).choice(len(samples), k,
                                                    replace=False)]
    plain = kmeans_tf.kmeans(samples, k, init=start, tol=0,
                             algorithm="lloyd")
    bounded = kmeans_tf.kmeans(samples, k, init=start, tol=0,
                               algorithm="bounded")
    np.testing.assert_array_equal(bounded.labels, plain.labels)
    assert bounded.n_iter == plain.n_iter and bounded.converged
    np.testing.assert_allclose(bounded.centroids, plain.centroids,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bounded.inertia_history,
                               plain.inertia_history, rtol=1e-6)
    assert bounded.inertia == pytest.approx(plain.inertia, rel=1e-6)
    if ties:
        return
    reference = KMeans(k, init=start, n_init=1, tol=0,
                       algorithm="lloyd").fit(samples)
    assert (bounded.labels == reference.labels_).mean() > 0.999
    assert bounded.n_iter == reference.n_iter_


# 2,000 samples run as a plain graph; 40,000 x 6 compiled by XLA.
@pytest.mark.parametrize("n_samples", [2000, 40_000])
def test_bounded_with_an_emptied_cluster_and_weights_equals_lloyd(n_samples):
    samples = overlapping(n_samples, 6, 10, 4, 5)
    start = np.vstack([samples[:9], [[50.0] * 6]])     # one far away
    weights = np.random.default_rng(6).uniform(0, 2, len(samples))
    runs = [kmeans_tf.kmeans(samples, 10, init=start, tol=0,
                             sample_weight=weights, algorithm=algorithm)
            for algorithm in ("lloyd", "bounded")]
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)
    np.testing.assert_allclose(runs[0].centroids, runs[1].centroids,
                               rtol=1e-9)
    assert runs[0].n_iter == runs[1].n_iter


def test_algorithm_is_checked():
    with pytest.raises(ValueError, match="algorithm must be one of"):
        kmeans_tf.kmeans(np.zeros((5, 2)), 2, algorithm="elkan")


def test_bounded_on_compiled_data_matches_scikit_learn():
    # 30,000 x 8 float32 is large enough to be compiled (blocks under XLA,
    # and every sample assigned again while most are in doubt).
    samples = overlapping(30000, 8, 16, 4, 7).astype(np.float32)
    start = samples[np.random.default_rng(8).choice(len(samples), 16,
                                                    replace=False)]
    seen = []
    auto = kmeans_tf.kmeans(samples, 16, init=start, tol=0,
                            algorithm="bounded",
                            progress=lambda *values: seen.append(values))
    plain = kmeans_tf.kmeans(samples, 16, init=start, tol=0,
                             algorithm="lloyd")
    reference = KMeans(16, init=start, n_init=1, tol=0,
                       algorithm="lloyd").fit(samples)
    assert auto.n_iter == plain.n_iter == reference.n_iter_
    assert (auto.labels == plain.labels).mean() > 0.999
    assert (auto.labels == reference.labels_).mean() > 0.999
    np.testing.assert_allclose(auto.centroids, reference.cluster_centers_,
                               atol=1e-4)
    assert auto.inertia == pytest.approx(reference.inertia_, rel=1e-5)
    assert seen and seen[-1][0] == auto.n_iter


def spy(monkeypatch, module, name):
    """Replace module.name by a wrapper that records each call's keyword
    arguments in the list it returns, then calls the original."""
    calls, original = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *args, **kwargs:
                        calls.append(kwargs) or original(*args, **kwargs))
    return calls


def take_bounds_at_any_size(monkeypatch):
    """"auto"'s size rule is for speed; the tests' data are small."""
    monkeypatch.setattr(kmeans_tf.bounded, "BOUNDS_MIN_PRODUCTS", 0)
    monkeypatch.setattr(kmeans_tf.bounded, "BOUNDS_MIN_PER_SAMPLE", 0)


def test_auto_takes_the_bounds_on_clustered_data_with_lloyds_result(
        monkeypatch):
    # Lloyd's loop first; once the probe shows most samples proven, the
    # bounds, from the same state: the result is Lloyd's all the same.
    samples = overlapping(20000, 16, 24, 4, 11).astype(np.float32)
    start = samples[np.random.default_rng(12).choice(len(samples), 24,
                                                     replace=False)]
    take_bounds_at_any_size(monkeypatch)
    bounded_runs = spy(monkeypatch, kmeans_tf.bounded, "_run")
    seen = []
    auto = kmeans_tf.kmeans(samples, 24, init=start, tol=0,
                            progress=lambda *values: seen.append(values))
    assert len(bounded_runs) == 1
    # Lloyd's own, iteration for iteration, across the switch.
    plain = kmeans_tf.kmeans(samples, 24, init=start, tol=0,
                             algorithm="lloyd")
    np.testing.assert_array_equal(auto.labels, plain.labels)
    np.testing.assert_allclose(auto.inertia_history, plain.inertia_history,
                               rtol=1e-6)
    np.testing.assert_allclose(auto.centroids, plain.centroids, rtol=1e-5,
                               atol=1e-5)
    reference = KMeans(24, init=start, n_init=1, tol=0,
                       algorithm="lloyd").fit(samples)
    assert auto.n_iter == reference.n_iter_ and auto.converged
    assert (auto.labels == reference.labels_).mean() > 0.999
    np.testing.assert_allclose(auto.centroids, reference.cluster_centers_,
                               atol=1e-4)
    assert auto.inertia == pytest.approx(reference.inertia_, rel=1e-5)
    assert len(auto.inertia_history) == auto.n_iter
    assert [n_iter for n_iter, *_ in seen] == sorted(
        n_iter for n_iter, *_ in seen) and seen[-1][0] == auto.n_iter


@pytest.mark.filterwarnings("ignore::kmeans_tf.ConvergenceWarning")
def test_auto_hands_back_to_lloyd_where_the_bounds_fail(monkeypatch):
    # Normal samples have no clusters: the bounds prove almost nothing.
    # Made to take them at once (the probe overruled), "auto" gives the run
    # back to Lloyd's loop after a few iterations, from the same state,
    # with the same stop rule.
    samples = np.random.default_rng(9).standard_normal(
        (20000, 32)).astype(np.float32)
    start = samples[:16]
    take_bounds_at_any_size(monkeypatch)
    monkeypatch.setattr(kmeans_tf.bounded, "_bounds_would_pay",
                        lambda *args: True)
    lloyd_runs = spy(monkeypatch, kmeans_tf.lloyd, "run")
    seen = []
    auto = kmeans_tf.kmeans(samples, 16, init=start, tol=0, max_iter=30,
                            progress=lambda *values: seen.append(values))
    assert lloyd_runs                   # handed over to Lloyd's loop
    reference = KMeans(16, init=start, n_init=1, tol=0, max_iter=30,
                       algorithm="lloyd").fit(samples)
    assert auto.n_iter == reference.n_iter_ == 30
    assert (auto.labels == reference.labels_).mean() > 0.999
    assert auto.inertia == pytest.approx(reference.inertia_, rel=1e-5)
    assert len(auto.inertia_history) == 30
    assert [n_iter for n_iter, *_ in seen] == sorted(
        n_iter for n_iter, *_ in seen) and seen[-1][0] == 30


@pytest.mark.filterwarnings("ignore::kmeans_tf.ConvergenceWarning")
def test_auto_probe_keeps_lloyd_on_data_without_clusters(monkeypatch):
    # On the same normal samples the probe itself finds most samples in
    # doubt early on, so the first iterations stay Lloyd's.
    samples = np.random.default_rng(9).standard_normal(
        (20000, 32)).astype(np.float32)
    take_bounds_at_any_size(monkeypatch)
    bounded_runs = spy(monkeypatch, kmeans_tf.bounded, "_run")
    auto = kmeans_tf.kmeans(samples, 16, init=samples[:16], tol=0,
                            max_iter=6)
    plain = kmeans_tf.kmeans(samples, 16, init=samples[:16], tol=0,
                             max_iter=6, algorithm="lloyd")
    assert not bounded_runs
    np.testing.assert_array_equal(auto.labels, plain.labels)
    np.testing.assert_array_equal(auto.centroids, plain.centroids)


@pytest.mark.filterwarnings("ignore::kmeans_tf.ConvergenceWarning")
@pytest.mark.parametrize("max_iter", [1, 2, 300])
def test_auto_switching_at_once_with_weights_equals_lloyd(monkeypatch,
                                                          max_iter):
    # The probe made to say yes after the first iteration: with 1 the run
    # ends there, as Lloyd's (no iteration is left for the bounds); with
    # more, the bounds take over, weights and all.
    samples = overlapping(3000, 8, 12, 4, 14)
    weights = np.random.default_rng(15).uniform(0, 3, len(samples))
    start = samples[:12]
    take_bounds_at_any_size(monkeypatch)
    monkeypatch.setattr(kmeans_tf.bounded, "_bounds_would_pay",
                        lambda *args: True)
    runs = [kmeans_tf.kmeans(samples, 12, init=start, tol=0,
                             max_iter=max_iter, sample_weight=weights,
                             algorithm=algorithm)
            for algorithm in ("auto", "lloyd")]
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)
    np.testing.assert_allclose(runs[0].centroids, runs[1].centroids,
                               rtol=1e-9)
    assert runs[0].n_iter == runs[1].n_iter
    assert runs[0].stop_reason == runs[1].stop_reason
    np.testing.assert_allclose(runs[0].inertia_history,
                               runs[1].inertia_history, rtol=1e-9)


def test_lloyd_settles_as_sklearn_with_padded_chunks(monkeypatch):
    # Lloyd's loop compares every label with the last iteration's only
    # when the sums and counts repeat, by making the last assignment again.
    # Its chunks' padding rows sit at the samples' mean, (1, 0, ...) here,
    # which is nearer the second start than the first, and nearer the first
    # mean than the second: their labels change while no sample's does, and
    # must not count. Then it settles at the second iteration, as
    # scikit-learn does.
    monkeypatch.setattr(kmeans_tf.distances, "CHUNK_BYTES", 1200)
    rng = np.random.default_rng(3)
    axis = np.eye(8)[0]                                  # (1, 0, ..., 0)
    samples = np.concatenate([rng.normal(0, 0.5, (600, 8)) + 5 * axis,
                              rng.normal(0, 0.5, (400, 8)) - 5 * axis])
    samples += axis - samples.mean(axis=0)               # the mean exactly
    data = kmeans_tf.distances.centred_chunks(tf.constant(samples), 2, 1.0)
    assert data.chunks.shape[0] * data.chunks.shape[1] > len(samples)
    start = np.array([9 * axis, -5 * axis])
    centroids, labels, _, n_iter, stop, *_ = kmeans_tf.lloyd.run(
        data, tf.constant(start) - data.centre, 100, 0.0)
    reference = KMeans(2, init=start, n_init=1, tol=0,
                       algorithm="lloyd").fit(samples)
    assert (n_iter, stop) == (reference.n_iter_, 1) == (2, 1)
    np.testing.assert_array_equal(labels, reference.labels_)


def test_bounded_for_one_k_after_another_equals_lloyd():
    # The loop's function is traced once for several shapes (as choose_k.py
    # runs it for k = 1, 2, ...): each k must still give Lloyd's result.
    samples = overlapping(3000, 8, 9, 4, 10)
    for k in (1, 3, 9, 2):
        start = samples[:k]
        plain = kmeans_tf.kmeans(samples, k, init=start, tol=0,
                                 algorithm="lloyd")
        bounded = kmeans_tf.kmeans(samples, k, init=start, tol=0,
                                   algorithm="bounded")
        np.testing.assert_array_equal(bounded.labels, plain.labels)
        assert bounded.n_iter == plain.n_iter


@pytest.fixture
def fresh_bounded_loop():
    """The bounded loop traced anew, before and after: its constants are
    read when it is traced."""
    kmeans_tf.bounded._compiled.cache_clear()
    yield
    kmeans_tf.bounded._compiled.cache_clear()


# 3,000 samples run as a plain graph; 30,000 x 8 compiled by XLA.
@pytest.mark.parametrize("n_samples", [3000, 30_000])
def test_fastest_centroids_by_their_distances_equal_lloyd(
        monkeypatch, fresh_bounded_loop, n_samples):
    # The few centroids that moved farthest get their distances to every
    # sample instead of loosening their groups' bounds (FAST_MOVERS). Made
    # to happen at every iteration, from a start with a centroid far away
    # (its cluster empties and it jumps), groups of 4 so that there are
    # several: Lloyd's result all the same (float64 data, on which
    # scikit-learn's sums round as Lloyd's here do, to the same path).
    monkeypatch.setattr(kmeans_tf.bounded, "FAST_MOVERS", 0.0)
    monkeypatch.setattr(kmeans_tf.bounded, "RATIO", 1.0)
    monkeypatch.setattr(kmeans_tf.bounded, "GROUP_SIZE", 4)
    fastest = spy(monkeypatch, kmeans_tf.bounded, "_to_fastest")
    samples = overlapping(n_samples, 8, 15, 4, 16)
    start = np.vstack([samples[:14], np.full((1, 8), 40.0)])
    bounded = kmeans_tf.kmeans(samples, 15, init=start, tol=0,
                               algorithm="bounded")
    assert fastest                      # traced into the loop
    plain = kmeans_tf.kmeans(samples, 15, init=start, tol=0,
                             algorithm="lloyd")
    reference = KMeans(15, init=start, n_init=1, tol=0,
                       algorithm="lloyd").fit(samples)
    np.testing.assert_array_equal(bounded.labels, plain.labels)
    assert bounded.n_iter == plain.n_iter == reference.n_iter_
    np.testing.assert_array_equal(bounded.labels, reference.labels_)
    np.testing.assert_allclose(bounded.centroids, reference.cluster_centers_,
                               rtol=1e-9, atol=1e-9)
    assert bounded.inertia == pytest.approx(reference.inertia_, rel=1e-9)
