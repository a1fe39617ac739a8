"""Save a fitted model as a TensorFlow SavedModel, to serve it anywhere.

The SavedModel holds the centroids and one signature, `serving_default`:
it takes `samples` (float32, shape (None, n_features)) and returns
`cluster_index` (int32, the nearest centroid) and `distances` (float32,
(None, n_clusters), to every centroid, as `KMeans.transform`). Plain
TensorFlow serves it with no part of this package (`tf.saved_model.load`,
TF Serving), and it converts to TensorFlow Lite unchanged. The model's
settings ride along as a JSON string, so `load_model` can rebuild a
`KMeans`.
"""
import json
import os
import shutil
import tempfile

from ._tensorflow import tf
from .distances import to_every_centroid


class ServingModule(tf.Module):
    """Centroids and the serving function, as a SavedModel stores them."""

    def __init__(self, centroids, metric, config):
        super().__init__()
        # float64 for load_model to give back exactly what was fitted;
        # float32 for serving.
        self.cluster_centers = tf.Variable(
            tf.cast(centroids, tf.float64), trainable=False)
        self.centroids = tf.Variable(tf.cast(centroids, tf.float32),
                                     trainable=False)
        self.config = tf.Variable(json.dumps(config), trainable=False)
        self.cosine = metric == "cosine"
        n_features = int(self.centroids.shape[1])
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec((None, n_features), tf.float32, name="samples")])

    def _serve(self, samples):
        distances = to_every_centroid(samples, self.centroids,
                                      self.cosine)                # (n, k)
        return {"cluster_index": tf.argmin(distances, axis=1,
                                           output_type=tf.int32),
                "distances": distances}


def save_model(path, centroids, metric, config):
    """Write the SavedModel to the folder `path`, whole or not at all.

    It is written to a new folder beside `path` and renamed into place; an
    existing SavedModel folder at `path` is replaced only then.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"path {path} is a file; a SavedModel is a folder")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ValueError(f"path {path}: the folder {parent} does not exist")
    module = ServingModule(centroids, metric, config)
    staging = tempfile.mkdtemp(prefix=".saving-", dir=parent)
    try:
        tf.saved_model.save(module, staging,
                            signatures={"serving_default": module.serve})
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=".replaced-", dir=parent)
            os.rename(path, os.path.join(old, "model"))
            os.rename(staging, path)
            shutil.rmtree(old)
        else:
            os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load_model(path):
    """The centroids (float64 NumPy) and config (dict) saved at `path`."""
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"path {path} holds no SavedModel")
    loaded = tf.saved_model.load(path)
    if not hasattr(loaded, "config"):
        raise ValueError(f"path {path} holds a SavedModel, but not one "
                         f"saved by kmeans_tf")
    return (loaded.cluster_centers.numpy(),
            json.loads(loaded.config.numpy().decode()))
