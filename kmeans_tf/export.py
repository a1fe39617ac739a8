"""Save a fitted model as a TensorFlow SavedModel, to serve it anywhere.

The SavedModel holds the centroids and one signature, `serving_default`:
it takes `samples` (float32, shape (None, n_features)) and returns
`cluster_index` (int32, the nearest centroid) and `distances` (float32,
(None, n_clusters), to every centroid, as `KMeans.transform`). A row
holding NaN or inf gets NaN or inf distances and index 0: the served
graph refuses nothing, so check `distances` where such rows can come. Plain
TensorFlow serves it with no part of this package (`tf.saved_model.load`,
TF Serving), and it converts to TensorFlow Lite unchanged. The model's
settings ride along as a JSON string, so `load_model` can rebuild a
`KMeans`.
"""
import json
import os
import shutil
import tempfile

import numpy as np

from ._tensorflow import tf
from .checks import check_magnitude
from .distances import first_copies, to_every_centroid


class ServingModule(tf.Module):
    """Centroids and the serving function, as a SavedModel stores them."""

    def __init__(self, centroids, metric, config):
        super().__init__()
        # float64 for load_model to give back exactly what was fitted;
        # float32 for a reader of the SavedModel (serving uses `offsets`).
        self.cluster_centers = tf.Variable(
            tf.cast(centroids, tf.float64), trainable=False)
        self.centroids = tf.Variable(tf.cast(centroids, tf.float32),
                                     trainable=False)
        self.config = tf.Variable(json.dumps(config), trainable=False)
        self.cosine = metric == "cosine"
        # Euclidean distances are served from the centroids' mean: each
        # sample less `origin` (their mean in float32), against `offsets`,
        # each centroid less that origin, made in float64 and then rounded.
        # Centroids near 1e7 rounded to float32 move by up to 0.5 and
        # could merge; their offsets keep their digits, so a float32 batch
        # is labelled as `assign_labels` labels it. (Angles do not change
        # under a scale, but do under a shift: cosine takes the centroids.)
        wide = np.asarray(centroids, np.float64)
        origin = np.zeros(wide.shape[1], np.float32)
        if not self.cosine:
            origin = wide.mean(axis=0).astype(np.float32)
        self.origin = tf.constant(origin)
        self.offsets = tf.constant(
            (wide - origin.astype(np.float64)).astype(np.float32))
        # Made once here, so the served graph needs none of its ops.
        self.first = tf.constant(first_copies(self.offsets))
        n_features = int(self.centroids.shape[1])
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec((None, n_features), tf.float32, name="samples")])

    def _serve(self, samples):
        distances = to_every_centroid(samples - self.origin, self.offsets,
                                      self.cosine, self.first)    # (n, k)
        return {"cluster_index": tf.argmin(distances, axis=1,
                                           output_type=tf.int32),
                "distances": distances}


# What a SavedModel folder holds; a folder holding anything else is never
# replaced.
SAVED_MODEL_ENTRIES = {"saved_model.pb", "variables", "assets",
                       "fingerprint.pb"}


def check_model_path(path):
    """The absolute path of a folder a model may be saved to: one that does
    not exist yet, or a SavedModel folder and nothing else. Raises
    ValueError naming the problem."""
    text = os.fspath(path)
    if not text or not isinstance(text, str):
        raise ValueError(f"path must name a folder; got {path!r}")
    path = os.path.abspath(text)
    parent = os.path.dirname(path)
    if os.path.lexists(path):
        if not os.path.isdir(path) or os.path.islink(path):
            raise ValueError(f"path {path} is not a folder; a SavedModel "
                             f"is one")
        entries = set(os.listdir(path))
        if "saved_model.pb" not in entries or entries - SAVED_MODEL_ENTRIES:
            raise ValueError(f"path {path} is a folder that is not a saved "
                             f"model; only a SavedModel folder is replaced")
        if os.path.realpath(path) == os.path.realpath(os.getcwd()):
            raise ValueError(f"path {path} is the current folder")
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise ValueError(f"path {path}: the folder {parent} does not exist "
                         f"or cannot be written")
    return path


def save_model(path, centroids, metric, config):
    """Write the SavedModel to the folder `path`, whole or not at all.

    It is written to a new folder beside `path` and renamed into place; an
    existing SavedModel folder at `path` (and only one: `check_model_path`)
    is replaced only then. The folder gets the permissions the umask gives.
    """
    path = check_model_path(path)
    check_servable(centroids)
    parent = os.path.dirname(path)
    module = ServingModule(centroids, metric, config)
    staging = tempfile.mkdtemp(prefix=".saving-", dir=parent)
    try:
        tf.saved_model.save(module, staging,
                            signatures={"serving_default": module.serve})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)      # mkdtemp made it 0700
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


def check_servable(centroids):
    """Refuse centroids (k, d) the served model cannot hold: it computes
    in float32, and centroids of float64 data may not fit."""
    check_magnitude(float(np.abs(centroids).max()), np.float32,
                    "the centroids", "the served model computes in "
                    "float32; fit on rescaled data")


def load_model(path):
    """The centroids (float64 NumPy) and config (dict) saved at `path`."""
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"path {path} holds no SavedModel")
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as error:
        raise ValueError(f"path {path}: not a readable SavedModel "
                         f"({str(error).splitlines()[0]})") from None
    try:
        centroids = loaded.cluster_centers.numpy()
        config = json.loads(loaded.config.numpy().decode())
        for key in ("n_clusters", "metric", "inertia", "n_iter"):
            config[key]
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ValueError(f"path {path} holds a SavedModel, but not one "
                         f"saved by kmeans_tf") from None
    return centroids, config
