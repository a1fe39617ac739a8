"""The KMeans model, sample_weight, the cosine metric, saving, serving, the
Keras layer, warnings and TensorBoard logs, against scikit-learn, NumPy
and plain TensorFlow."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
from sklearn.cluster import KMeans as ScikitKMeans

import kmeans_tf
from helpers import blobs, brute_force_nearest
from kmeans_tf import KMeans, init as starts, checks

SAMPLES = blobs([300, 200, 120, 80], [1, 3, 2, 1], 3, seed=21) + 50
NEW = blobs([40, 30], [4, 4], 3, seed=22) + 50
START = SAMPLES[[0, 1, 2, 3]]
WEIGHTS = np.random.default_rng(5).uniform(0, 3, len(SAMPLES))


def fitted_pair(weights=None):
    ours = KMeans(4, init=START, tol=0).fit(SAMPLES, sample_weight=weights)
    theirs = ScikitKMeans(4, init=START, n_init=1, tol=0,
                          algorithm="lloyd").fit(SAMPLES,
                                                 sample_weight=weights)
    return ours, theirs


# %% The model against scikit-learn, with and without weights

def test_kmeans_model_takes_y_and_clones_as_scikit_learns():
    from sklearn.base import clone
    y = np.arange(len(SAMPLES)) % 3          # labels, not weights
    ours = KMeans(4, init=START, tol=0).fit(SAMPLES, y)
    theirs = ScikitKMeans(4, init=START, n_init=1, tol=0).fit(SAMPLES, y)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-9)
    np.testing.assert_allclose(ours.fit_transform(SAMPLES, y),
                               theirs.transform(SAMPLES), rtol=1e-9)
    copy = clone(ours.set_params(n_clusters=3, seed=7))
    for name, value in ours.get_params().items():
        assert np.array_equal(copy.get_params()[name], value), name
    assert copy.n_clusters == 3 and not hasattr(copy, "cluster_centers_")
    with pytest.raises(ValueError, match="no parameters"):
        ours.set_params(k=3)


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_kmeans_model_matches_scikit_learn(weights):
    ours, theirs = fitted_pair(weights)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_,
                               rtol=1e-9)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-9)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.predict(NEW), theirs.predict(NEW))
    np.testing.assert_allclose(ours.transform(NEW), theirs.transform(NEW),
                               rtol=1e-9)
    new_weights = np.linspace(0.5, 2, len(NEW))
    assert ours.score(NEW, sample_weight=new_weights) == pytest.approx(
        theirs.score(NEW, sample_weight=new_weights), rel=1e-9)
    np.testing.assert_array_equal(
        KMeans(4, init=START, tol=0).fit_predict(SAMPLES,
                                                 sample_weight=weights),
        theirs.labels_)


def test_weighted_stream_matches_scikit_learn():
    _, theirs = fitted_pair(WEIGHTS)
    pairs = tf.data.Dataset.from_tensor_slices((SAMPLES, WEIGHTS)).batch(71)
    ours = kmeans_tf.kmeans(pairs, 4, init=START, tol=0)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                               rtol=1e-9)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-9)


def test_weighted_start_that_empties_a_cluster_matches_scikit_learn():
    start = np.vstack([SAMPLES[:3], [[1e3, 1e3, 1e3]]])   # one far away
    ours = kmeans_tf.kmeans(SAMPLES, 4, init=start, sample_weight=WEIGHTS,
                            tol=0)
    theirs = ScikitKMeans(4, init=start, n_init=1, tol=0,
                          algorithm="lloyd").fit(SAMPLES,
                                                 sample_weight=WEIGHTS)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                               rtol=1e-9)


@pytest.mark.parametrize("form", ["lloyd", "bounded", "stream"])
def test_samples_of_weight_zero_count_only_for_their_labels(form):
    # Weighted k-means is the same run on the samples of positive weight
    # alone: scikit-learn's, there. Those of weight 0 lie far off, where
    # three of the start's centroids are; the clusters there are empty
    # (weight 0), so they must move to samples that count.
    rng = np.random.default_rng(3)
    counted = blobs([60, 50, 40], [1, 1.5, 0.5], 5, seed=3)
    ignored = rng.normal(200, 1, (30, 5))
    samples = np.concatenate([ignored[:15], counted, ignored[15:]])
    weights = np.concatenate([np.zeros(15), rng.uniform(0.5, 2, 150),
                              np.zeros(15)])
    start = np.concatenate([ignored[:3], counted[:3]])
    theirs = ScikitKMeans(6, init=start, n_init=1, tol=0,
                          algorithm="lloyd").fit(counted,
                                                 sample_weight=weights[15:-15])
    data = (tf.data.Dataset.from_tensor_slices((samples, weights)).batch(40)
            if form == "stream" else samples)
    ours = kmeans_tf.kmeans(data, 6, init=start, tol=0, sample_weight=(
        None if form == "stream" else weights), algorithm=(
        "lloyd" if form == "stream" else form))
    np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                               rtol=1e-9)
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=1e-9)
    np.testing.assert_array_equal(ours.labels[15:-15], theirs.labels_)
    np.testing.assert_array_equal(
        ours.labels, brute_force_nearest(samples, ours.centroids)[0])


def test_fewer_samples_of_positive_weight_than_clusters():
    # Three samples count; five clusters: each of the three is a centroid
    # (the others copies), and the warning names the reason.
    samples = np.random.default_rng(0).normal(size=(40, 6))
    weights = np.zeros(40)
    weights[[3, 17, 30]] = [1, 2, 3]
    for algorithm in ("lloyd", "bounded"):
        with pytest.warns(kmeans_tf.ConvergenceWarning,
                          match="samples of positive weight have fewer"):
            result = kmeans_tf.kmeans(samples, 5, init=samples[:5], tol=0,
                                      sample_weight=weights,
                                      algorithm=algorithm)
        assert result.inertia == pytest.approx(0, abs=1e-12)
        distinct = np.unique(result.centroids, axis=0)
        np.testing.assert_allclose(
            distinct[np.lexsort(distinct.T[::-1])],
            samples[[3, 17, 30]][np.lexsort(samples[[3, 17, 30]].T[::-1])],
            atol=1e-12)


def test_weighted_starts_pick_samples_in_proportion_to_weight():
    samples = checks.check_samples(np.arange(4.0)[:, None])
    weights = tf.constant([1.0, 2.0, 3.0, 4.0])
    for choose in (starts.random_centroids,
                   starts.kmeans_plus_plus_centroids):
        picks = [int(choose(samples, 1, seed, weights)[0, 0])
                 for seed in range(1500)]
        np.testing.assert_allclose(np.bincount(picks, minlength=4) / 1500,
                                   [0.1, 0.2, 0.3, 0.4], atol=0.04)
    # The choice does not depend on the weights' scale: equal weights,
    # however small, choose as no weights do.
    tiny = tf.fill([len(SAMPLES)], 1e-6)
    for seed in range(3):
        np.testing.assert_array_equal(
            starts.random_centroids(SAMPLES, 50, seed, tiny),
            starts.random_centroids(SAMPLES, 50, seed))
    # A sample of weight 0 is never a start while others can be.
    zero = np.where(np.arange(len(SAMPLES)) % 2 == 0, 0.0, 1.0)
    for init in ("random", "k-means++"):
        for seed in range(5):
            start = kmeans_tf.kmeans(SAMPLES, 4, init=init, seed=seed,
                                     sample_weight=zero, max_iter=0)
            rows = [np.flatnonzero(np.isclose(SAMPLES, c).all(axis=1))
                    for c in start.centroids]
            assert all(zero[r].all() for r in rows)


# %% The cosine metric against a NumPy spherical k-means

def numpy_spherical_kmeans(samples, start, n_iter):
    unit = samples / np.linalg.norm(samples, axis=1, keepdims=True)
    centroids = start / np.linalg.norm(start, axis=1, keepdims=True)
    for _ in range(n_iter):
        labels = np.argmax(unit @ centroids.T, axis=1)
        sums = np.array([unit[labels == j].sum(axis=0)
                         for j in range(len(centroids))])
        centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    labels = np.argmax(unit @ centroids.T, axis=1)
    return centroids, labels, np.sum(1 - np.max(unit @ centroids.T, axis=1))


def test_cosine_kmeans_matches_numpy_spherical_kmeans():
    rng = np.random.default_rng(2)
    directions = rng.normal(size=(4, 5))
    samples = np.concatenate([d + rng.normal(0, 0.3, (100, 5))
                              for d in directions]) * rng.uniform(
        0.1, 10, (400, 1))                      # lengths do not matter
    start = samples[[0, 100, 200, 300]]
    ours = kmeans_tf.kmeans(samples, 4, metric="cosine", init=start, tol=0,
                            max_iter=50)
    centroids, labels, inertia = numpy_spherical_kmeans(samples, start, 50)
    np.testing.assert_array_equal(ours.labels, labels)
    np.testing.assert_allclose(ours.centroids, centroids, atol=1e-9)
    assert ours.inertia == pytest.approx(inertia, rel=1e-9)
    model = KMeans(4, metric="cosine", init=start, tol=0).fit(samples)
    new = samples[::7] * -3 + 1
    unit = new / np.linalg.norm(new, axis=1, keepdims=True)
    expected = 1 - unit @ centroids.T                   # 1 - cosine
    np.testing.assert_allclose(model.transform(new), expected, atol=1e-9)
    np.testing.assert_array_equal(model.predict(new),
                                  np.argmin(expected, axis=1))


def test_cosine_refuses_a_row_of_zeros():
    samples = np.ones((5, 2))
    samples[3] = 0
    with pytest.raises(ValueError, match="row 3 is one"):
        kmeans_tf.kmeans(samples, 2, metric="cosine")


# %% Save, load, serve

def test_saved_model_serves_in_plain_tensorflow_and_tf_lite(tmp_path):
    ours, theirs = fitted_pair(WEIGHTS)
    path = tmp_path / "model"
    ours.save(path)
    np.testing.assert_array_equal(KMeans.load(path).predict(NEW),
                                  theirs.predict(NEW))
    # Plain TensorFlow, in a folder with none of this project.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    np.save(elsewhere / "new.npy", NEW.astype(np.float32))
    code = """
import numpy as np, tensorflow as tf
serve = tf.saved_model.load("MODEL").signatures["serving_default"]
out = serve(samples=tf.constant(np.load("new.npy")))
np.save("index.npy", out["cluster_index"].numpy())
np.save("distances.npy", out["distances"].numpy())
""".replace("MODEL", str(path))
    subprocess.run([sys.executable, "-c", code], cwd=elsewhere, check=True,
                   capture_output=True, env={"PATH": os.environ["PATH"]})
    np.testing.assert_array_equal(np.load(elsewhere / "index.npy"),
                                  theirs.predict(NEW))
    np.testing.assert_allclose(np.load(elsewhere / "distances.npy"),
                               theirs.transform(NEW), rtol=1e-4, atol=1e-4)
    # TensorFlow Lite, converted from the SavedModel: the same answers.
    lite = tf.lite.TFLiteConverter.from_saved_model(str(path)).convert()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the interpreter's deprecation
        interpreter = tf.lite.Interpreter(model_content=lite)
    out = interpreter.get_signature_runner("serving_default")(
        samples=NEW.astype(np.float32))
    np.testing.assert_array_equal(out["cluster_index"], theirs.predict(NEW))
    np.testing.assert_allclose(out["distances"], theirs.transform(NEW),
                               rtol=1e-4, atol=1e-4)


def test_save_replaces_a_saved_model_and_refuses_a_file(tmp_path):
    first = KMeans(2, seed=0).fit(SAMPLES)
    second = KMeans(4, seed=0).fit(SAMPLES)
    first.save(tmp_path / "m")
    second.save(tmp_path / "m")
    assert KMeans.load(tmp_path / "m").cluster_centers_.shape == (4, 3)
    assert sorted(os.listdir(tmp_path)) == ["m"]       # nothing left over
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        first.save(tmp_path / "file")
    with pytest.raises(ValueError, match="holds no SavedModel"):
        KMeans.load(tmp_path)


def test_a_loaded_model_keeps_its_arguments_and_fits_as_scikit_learn(
        tmp_path):
    saved = KMeans(np.int64(4), init=START.astype(np.float32),
                   max_iter=np.int32(50), tol=0.5, seed=9).fit(SAMPLES)
    saved.save(tmp_path / "m")
    loaded = KMeans.load(tmp_path / "m")
    for name, value in saved.get_params().items():
        assert np.array_equal(loaded.get_params()[name], value), name
    theirs = ScikitKMeans(4, init=START.astype(np.float32), n_init=1,
                          max_iter=50, tol=0.5,
                          algorithm="lloyd").fit(SAMPLES)
    loaded.fit(SAMPLES)
    np.testing.assert_array_equal(loaded.labels_, theirs.labels_)
    assert loaded.n_iter_ == theirs.n_iter_
    KMeans(3, init="random", n_init=2, seed=4).fit(SAMPLES).save(
        tmp_path / "m")
    assert KMeans.load(tmp_path / "m").get_params() == dict(
        n_clusters=3, init="random", n_init=2, max_iter=300, tol=1e-4,
        metric="euclidean", seed=4, strategy=None, progress=None,
        log_dir=None)


def test_serve_lesson_labels_new_points_with_the_served_model(tmp_path):
    from helpers import assert_real_image, run_script
    result = run_script("serve.py", "--centroid-seed", 3, "--model-dir",
                        tmp_path / "model", "--save", tmp_path / "s.png")
    assert result.returncode == 0, result.stderr
    assert "as model.predict does: True" in result.stdout
    assert (tmp_path / "model" / "saved_model.pb").is_file()
    assert_real_image(tmp_path / "s.png")


# %% The Keras layer

@pytest.mark.parametrize("mode", ["index", "one_hot", "distances"])
def test_keras_layer_in_a_model_saved_and_loaded(tmp_path, mode):
    import keras
    samples = SAMPLES.astype(np.float32)
    layer = kmeans_tf.KMeansLayer(4, output_mode=mode, seed=0)
    layer.adapt(samples)
    reference = KMeans(4, seed=0).fit(samples)
    outputs = layer(NEW.astype(np.float32)).numpy()
    expected = {"index": reference.predict(NEW),
                "one_hot": np.eye(4)[reference.predict(NEW)],
                "distances": reference.transform(NEW)}[mode]
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-4)
    model = keras.Sequential([keras.Input((3,)), layer])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    # The same centroids, saved exactly; predict runs the layer in a
    # compiled graph, which may round a distance differently in the last
    # place than the eager call above.
    np.testing.assert_allclose(loaded.predict(NEW, verbose=0), outputs,
                               rtol=1e-6)
    np.testing.assert_array_equal(loaded.layers[-1].centroids.numpy(),
                                  layer.centroids.numpy())


# %% Warnings where they belong, and TensorBoard logs

def test_warnings_where_they_belong_and_nowhere_else():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kmeans_tf.kmeans(SAMPLES, 4, seed=0)            # converges: silent
    with pytest.warns(kmeans_tf.ConvergenceWarning, match="max_iter=1"):
        kmeans_tf.kmeans(SAMPLES, 4, seed=0, max_iter=1, tol=0)
    duplicates = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5, axis=0)
    with pytest.warns(kmeans_tf.ConvergenceWarning,
                      match="found 2 distinct clusters"):
        kmeans_tf.kmeans(duplicates, 3, seed=0)
    with pytest.warns(RuntimeWarning, match="n_init=3 is ignored"):
        ours = kmeans_tf.kmeans(SAMPLES, 4, init=START, n_init=3, tol=0)
    np.testing.assert_array_equal(ours.labels, fitted_pair()[1].labels_)


def test_log_dir_holds_each_runs_history(tmp_path):
    from tensorflow.core.util import event_pb2
    kmeans_tf.kmeans(SAMPLES, 4, seed=0, n_init=2, tol=0, log_dir=tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["run_0", "run_1"]
    for run, seed in (("run_0", 0), ("run_1", 1)):
        logged = {"inertia": {}, "shift": {}}
        for path in (tmp_path / run).iterdir():
            for record in tf.data.TFRecordDataset(str(path)):
                event = event_pb2.Event.FromString(record.numpy())
                for value in event.summary.value:
                    logged[value.tag][event.step] = float(
                        tf.make_ndarray(value.tensor))
        # Run i is the single run seeded seed + i.
        alone = kmeans_tf.kmeans(SAMPLES, 4, seed=seed, tol=0)
        steps = range(alone.n_iter)
        np.testing.assert_allclose([logged["inertia"][i] for i in steps],
                                   alone.inertia_history)
        np.testing.assert_allclose([logged["shift"][i] for i in steps],
                                   alone.shift_history)


# %% Bad input, named

@pytest.mark.parametrize("call, error, words", [
    (lambda: kmeans_tf.kmeans(SAMPLES, 2, sample_weight=[1.0, 2.0]),
     ValueError, "sample_weight must have one weight per sample"),
    (lambda: kmeans_tf.kmeans(SAMPLES, 2, sample_weight=-WEIGHTS),
     ValueError, "sample_weight must be finite and >= 0"),
    (lambda: kmeans_tf.kmeans(SAMPLES, 2, sample_weight=0 * WEIGHTS),
     ValueError, "must not be all zero"),
    (lambda: kmeans_tf.kmeans(SAMPLES, 2, metric="manhattan"), ValueError,
     "metric must be one of ('euclidean', 'cosine')"),
    (lambda: KMeans(2).predict(SAMPLES), ValueError, "not fitted yet"),
    (lambda: KMeans(2, seed=0).fit(SAMPLES).predict(SAMPLES[:, :2]),
     ValueError, "X has 2 features, but this KMeans was fitted with 3"),
    (lambda: kmeans_tf.KMeansLayer(2, output_mode="argmax"), ValueError,
     "output_mode must be one of"),
    (lambda: kmeans_tf.kmeans(tf.data.Dataset.from_tensor_slices(SAMPLES)
                              .batch(9), 2, sample_weight=WEIGHTS),
     TypeError, "(batch, weights) pairs"),
    # Weights are used in the samples' dtype, float32 here.
    (lambda: kmeans_tf.kmeans(SAMPLES.astype(np.float32), 2,
                              sample_weight=WEIGHTS * 1e39),
     ValueError, "sample_weight must be smaller for float32 samples"),
    (lambda: kmeans_tf.kmeans(SAMPLES.astype(np.float32), 2,
                              sample_weight=WEIGHTS * 1e-50),
     ValueError, "every weight rounds to 0 in float32"),
    (lambda: kmeans_tf.minibatch_kmeans(tf.data.Dataset.from_tensor_slices(
        (SAMPLES, 0 * WEIGHTS)).batch(50), 2, seed=0),
     ValueError, "sample_weight must not be all zero"),
])
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as raised:
        call()
    assert words in str(raised.value)


# %% Found by a hostile pass: nothing lost, the weights' scale never matters

@pytest.mark.parametrize("scale", [1e-5, 0.01, 1e3])
def test_scaling_every_weight_changes_nothing(scale):
    _, theirs = fitted_pair(WEIGHTS)
    ours = kmeans_tf.kmeans(SAMPLES, 4, init=START, tol=0,
                            sample_weight=WEIGHTS * scale)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centroids, theirs.cluster_centers_,
                               rtol=1e-9)
    assert ours.inertia == pytest.approx(theirs.inertia_ * scale, rel=1e-9)


def test_a_log_dir_that_cannot_be_made_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="log_dir=.* cannot be made a "
                                         "folder: .*file is a file"):
        kmeans_tf.kmeans(SAMPLES, 4, seed=0, log_dir=tmp_path / "file" / "x")


# Squares of float32 values near 1e20 overflow, and near 1e-22 underflow:
# the served model and the Keras layer scale by a power of two first.
@pytest.mark.parametrize("scale", [1e20, 1e-22])
def test_served_model_and_layer_at_the_float32_limits(tmp_path, scale):
    samples = (SAMPLES * scale).astype(np.float32)
    new = (NEW * scale).astype(np.float32)
    model = KMeans(4, seed=0).fit(samples)
    model.save(tmp_path / "model")
    served = tf.saved_model.load(str(tmp_path / "model")).signatures[
        "serving_default"](samples=tf.constant(new))
    layer = kmeans_tf.KMeansLayer(4, output_mode="distances", seed=0)
    layer.adapt(samples)
    for centroids, index, distances in (
            (model.cluster_centers_, served["cluster_index"].numpy(),
             served["distances"].numpy()),
            (layer.centroids.numpy(), None, layer(new).numpy())):
        centroids = np.asarray(centroids, np.float64)
        expected = np.sqrt(((new[:, None, :].astype(np.float64)
                             - centroids) ** 2).sum(-1))
        np.testing.assert_allclose(distances, expected, rtol=1e-4)
        if index is not None:
            np.testing.assert_array_equal(index, expected.argmin(axis=1))


@pytest.mark.parametrize("offset", [1e7, 1e9])
def test_served_model_far_from_the_origin_labels_as_numpy(tmp_path, offset):
    # Blobs of spread 0.1 around 1e7 or 1e9: float32 holds such values to
    # 1 or 64 units, coarser than the clusters, so the centroids rounded to
    # float32 move, or merge. The served batch is float32 all the same: it
    # must get the labels that its float32 values have, in float64.
    samples = blobs([300, 300, 300], [1, 1, 1], 8, seed=4) / 10 + offset
    model = KMeans(3, seed=0).fit(samples)
    model.save(tmp_path / "model")
    batch = samples.astype(np.float32)
    served = tf.saved_model.load(str(tmp_path / "model")).signatures[
        "serving_default"](samples=tf.constant(batch))
    wide = batch.astype(np.float64)
    expected = np.sqrt(((wide[:, None] - model.cluster_centers_) ** 2)
                       .sum(-1))
    clear = np.diff(np.sort(expected, axis=1)[:, :2], axis=1)[:, 0] > 1e-3
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(served["cluster_index"].numpy()[clear],
                                  expected.argmin(axis=1)[clear])
    np.testing.assert_allclose(served["distances"].numpy(), expected,
                               rtol=1e-5, atol=1e-3)


def test_one_bad_row_in_a_served_batch_spoils_only_itself(tmp_path):
    model = KMeans(4, seed=0).fit(SAMPLES)
    model.save(tmp_path / "model")
    serve = tf.saved_model.load(str(tmp_path / "model")).signatures[
        "serving_default"]
    layer = kmeans_tf.KMeansLayer(4, output_mode="index", seed=0)
    layer.adapt(SAMPLES)
    for bad in (np.inf, np.nan, 1e30):
        batch = np.vstack([NEW, [[bad, 0, 0]]]).astype(np.float32)
        for centroids, labels in (
                (model.cluster_centers_,
                 serve(samples=tf.constant(batch))["cluster_index"]),
                (layer.centroids.numpy(), layer(batch))):
            expected = ((NEW[:, None, :] - centroids) ** 2).sum(-1).argmin(1)
            np.testing.assert_array_equal(np.asarray(labels)[:len(NEW)],
                                          expected)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_keras_layer_in_16_bits_labels_as_numpy(dtype):
    layer = kmeans_tf.KMeansLayer(4, seed=0, dtype=dtype)
    layer.adapt(SAMPLES - 50)
    centroids = layer.centroids.numpy().astype(np.float64)
    new = tf.cast(tf.constant(NEW[:20] - 50), dtype).numpy().astype(
        np.float64)
    expected = ((new[:, None, :] - centroids) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(layer(NEW[:20] - 50).numpy(), expected)


def test_save_refuses_centroids_beyond_float32(tmp_path):
    model = KMeans(4, seed=0).fit(SAMPLES * 1e37)     # float64, near 7e38
    with pytest.raises(ValueError, match="the served model computes in "
                                         "float32"):
        model.save(tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_save_never_replaces_a_folder_that_is_not_a_saved_model(
        tmp_path, monkeypatch):
    model = KMeans(2, seed=0).fit(SAMPLES)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    for path in (precious, "", "."):
        with pytest.raises(ValueError):
            model.save(path)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["precious"]


def test_a_saved_model_folder_gets_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        KMeans(2, seed=0).fit(SAMPLES).save(tmp_path / "m")
    finally:
        os.umask(old)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o755


def test_load_refuses_a_saved_model_not_made_here(tmp_path):
    tf.saved_model.save(tf.Module(), str(tmp_path / "other"))
    with pytest.raises(ValueError, match="not one saved by kmeans_tf"):
        KMeans.load(tmp_path / "other")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "saved_model.pb").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable SavedModel"):
        KMeans.load(tmp_path / "broken")


def test_a_weighted_stream_with_odd_weights_is_named():
    zero = tf.data.Dataset.from_tensor_slices(
        (SAMPLES, np.zeros(len(SAMPLES)))).batch(50)
    with pytest.raises(ValueError, match="must not be all zero"):
        kmeans_tf.kmeans(zero, 2, seed=0)
    uneven = tf.data.Dataset.zip((
        tf.data.Dataset.from_tensor_slices(SAMPLES).batch(7),
        tf.data.Dataset.from_tensor_slices(WEIGHTS).batch(5)))
    with pytest.raises(ValueError, match="batch 0 of the Dataset has 5 "
                                         "weights for 7 rows"):
        kmeans_tf.kmeans(uneven, 2, seed=0)


def test_serve_refuses_a_model_dir_that_is_not_a_model_before_fitting(
        tmp_path):
    from helpers import run_script
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    result = run_script("serve.py", "--model-dir", tmp_path / "precious",
                        "--centroid-seed", 1, "--save", tmp_path / "s.png")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not a saved model" in result.stderr
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"
    assert "fitted" not in result.stdout
