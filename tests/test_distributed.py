"""k-means from a tf.data stream and under tf.distribute strategies."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import functions as fn
from helpers import ROOT, blobs, brute_force_nearest, run_script

SAMPLES = blobs([400, 40, 150, 90], [1, 4, 0.5, 2], 3, seed=2)
START = SAMPLES[:4]


def assert_same_result(streamed, in_memory):
    np.testing.assert_allclose(streamed.centroids, in_memory.centroids,
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(streamed.labels, in_memory.labels)
    assert streamed.n_iter == in_memory.n_iter
    assert streamed.inertia == pytest.approx(in_memory.inertia, rel=1e-9)


@pytest.mark.parametrize("start", ["fills", "empties a cluster"])
def test_dataset_in_uneven_batches_gives_the_in_memory_result(start):
    init = START.copy()
    if start == "empties a cluster":
        init[2] = SAMPLES.max(axis=0) + 1000
    dataset = tf.data.Dataset.from_tensor_slices(SAMPLES).batch(97)  # 680/97
    assert_same_result(fn.kmeans(dataset, 4, init=init),
                       fn.kmeans(SAMPLES, 4, init=init))


def test_npy_memory_map_streamed_gives_the_in_memory_result(tmp_path):
    np.save(tmp_path / "samples.npy", SAMPLES)
    mapped = np.load(tmp_path / "samples.npy", mmap_mode="r")

    def batches():              # reads 128 rows at a time from disk
        for start in range(0, len(mapped), 128):
            yield np.asarray(mapped[start:start + 128])

    dataset = tf.data.Dataset.from_generator(
        batches, output_signature=tf.TensorSpec((None, 3), tf.float64))
    assert_same_result(fn.kmeans(dataset, 4, init=START, tol=0),
                       fn.kmeans(SAMPLES, 4, init=START, tol=0))


def test_stream_start_is_seeded_and_good():
    dataset = tf.data.Dataset.from_tensor_slices(SAMPLES).batch(100)
    a, b = (fn.kmeans(dataset, 4, seed=3) for _ in range(2))
    np.testing.assert_array_equal(a.centroids, b.centroids)
    best = min(fn.kmeans(SAMPLES, 4, seed=s).inertia for s in range(5))
    assert a.inertia < best * 1.2


def test_stream_far_from_the_origin_stops_where_memory_stops():
    # The tol threshold is a multiple of the variance: made from squares
    # about the origin less n mean², it lost every digit at 1e10.
    from kmeans_tf import checks, stream
    rng = np.random.default_rng(0)
    far = np.concatenate([rng.normal(c, 0.5, (300, 2)) for c in
                          [(0, 0), (4, 4), (0, 6), (7, 0)]]) + 1e10
    batches = tf.data.Dataset.from_tensor_slices(far).batch(256)
    scan = stream.scan(checks.check_dataset(batches), seed=0)
    assert scan.variance == pytest.approx(
        np.var(far * scan.scale, axis=0).mean(), rel=1e-6)
    assert_same_result(fn.kmeans(batches, 4, init="random", seed=1),
                       fn.kmeans(far, 4, init="random", seed=1))


def test_default_strategy_gives_the_in_memory_result():
    assert_same_result(
        fn.kmeans(SAMPLES, 4, init=START,
                  strategy=tf.distribute.get_strategy()),
        fn.kmeans(SAMPLES, 4, init=START))


def test_mirrored_strategy_on_two_logical_cpus():
    # Logical devices must be set before TensorFlow starts: a fresh process.
    code = """
import numpy as np, tensorflow as tf, functions as fn
from helpers import blobs
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
x = blobs([400, 40, 150, 90], [1, 4, 0.5, 2], 3, seed=2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
spread = fn.kmeans(x, 4, init=x[:4], strategy=strategy)
single = fn.kmeans(x, 4, init=x[:4])
np.testing.assert_allclose(spread.centroids, single.centroids, rtol=1e-9)
np.testing.assert_array_equal(spread.labels, single.labels)
# Weighted, under the strategy, against scikit-learn.
from sklearn.cluster import KMeans
w = np.random.default_rng(3).uniform(0, 2, len(x))
weighted = fn.kmeans(x, 4, init=x[:4], sample_weight=w, tol=0,
                     strategy=strategy)
reference = KMeans(4, init=x[:4], n_init=1, tol=0,
                   algorithm="lloyd").fit(x, sample_weight=w)
np.testing.assert_allclose(weighted.centroids, reference.cluster_centers_,
                           rtol=1e-9, atol=1e-9)
assert weighted.inertia == reference.inertia_ * (1 + 0 * weighted.inertia) \
    or abs(weighted.inertia / reference.inertia_ - 1) < 1e-9
# Batches of fewer rows than replicas: one replica gets none.
small = tf.data.Dataset.from_tensor_slices(x[:5]).batch(2)
tiny = fn.kmeans(small, 2, init=x[:2], tol=0, strategy=strategy)
reference = KMeans(2, init=x[:2], n_init=1, tol=0).fit(x[:5])
np.testing.assert_array_equal(tiny.labels, reference.labels_)
np.testing.assert_allclose(tiny.centroids, reference.cluster_centers_,
                           rtol=1e-9)
print("same")
"""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.stdout.strip() == "same", result.stderr[-2000:]


def test_two_workers_on_localhost_give_the_single_device_centroids(tmp_path):
    result = run_script("distributed.py", "--workers", 2, "--centroid-seed",
                        1, "--timeout", 240, "--save", tmp_path / "d.png",
                        timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MultiWorkerMirroredStrategy over 2 local workers" in result.stdout
    difference = float(result.stdout.split("largest difference: ")[1]
                       .split()[0])
    assert difference < 1e-4      # float32 data, float64 sums: rounding


def test_distributed_script_default_mirrored(tmp_path):
    result = run_script("distributed.py", "--centroid-seed", 2, "--save",
                        tmp_path / "d.png")
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.split("largest difference: ")[1]
                 .split()[0]) < 1e-4


def test_minibatch_is_close_to_full_kmeans():
    full = fn.kmeans(SAMPLES, 4, seed=0, n_init=3)
    mini = fn.minibatch_kmeans(SAMPLES, 4, batch_size=64, max_steps=300,
                               seed=0)
    assert mini.inertia < full.inertia * 1.05
    # The labels are in the samples' order (not the shuffled steps' order):
    # each is the nearest of the returned centroids, by brute force.
    expected, distances = brute_force_nearest(SAMPLES, mini.centroids)
    np.testing.assert_array_equal(mini.labels, expected)
    assert mini.inertia == pytest.approx(distances.sum(), rel=1e-9)


def test_bad_streams_are_named():
    with pytest.raises(TypeError, match="numeric batches of shape"):
        fn.kmeans(tf.data.Dataset.from_tensor_slices(["a", "b"]), 1)
    bad = SAMPLES.copy()
    bad[500, 1] = np.nan
    with pytest.raises(ValueError, match="batch 5 of the Dataset"):
        fn.kmeans(tf.data.Dataset.from_tensor_slices(bad).batch(100), 4)
    with pytest.raises(ValueError, match="n_samples=680 should be >= "
                                         "n_clusters=700"):
        fn.kmeans(tf.data.Dataset.from_tensor_slices(SAMPLES).batch(100),
                  700)
