"""kmeans_tf: k-means in TensorFlow 2, exact, fast, and able to scale out.

The engine beneath the lessons' `functions.py`. Use it from your own code::

    import kmeans_tf

    result = kmeans_tf.kmeans(samples, n_clusters=5, seed=0)
    result.centroids, result.labels, result.inertia
    labels = kmeans_tf.assign_labels(new_samples, result.centroids)

    model = kmeans_tf.KMeans(5, seed=0).fit(samples)    # scikit-learn's way
    model.predict(new_samples)
    model.save("my_model")          # a SavedModel for TF Serving, TF Lite

The map, one concern per module; the arrows are imports:

- `api`: the public functions that run k-means (`kmeans`,
  `minibatch_kmeans`, `kmeans_files`, `choose_kmeans_plus_plus_centroids`,
  `assign_labels`); each checks its arguments before any work.
- `results`: `KMeansResult`, `ConvergenceWarning`, and `build`, the one
  place that turns a run into a result; progress pacing, TensorBoard logs.
- `checks`: the input checks, with messages that name the argument (the
  lessons' `functions.py` calls them too; a stream's values are checked
  as they pass, in `stream.scan`).
- `init`: the starts, random and k-means++, one dispatch for every path.
- `distances`: the nearest-centroid assignment, a chunk of samples at a
  time, so memory stays bounded.
- `stats`: per-cluster sums and counts (written once), means, inertia from
  the sums, the empty-cluster rule.
- `lloyd`: Lloyd's loop in memory, compiled into one graph; the stop rule.
- `bounded`: the same loop with Hamerly's bounds and sums kept up to date
  (`algorithm="bounded"`, and "auto" for many features): the same
  result, fewer distances.
- `stream`: Lloyd over a tf.data stream and under tf.distribute (the same
  stop and empty-cluster rules), and mini-batch k-means.
- `shard`: many files, each worker of a cluster reading only its share
  (`kmeans_files`), and the collectives that keep the workers in step.
- `metrics`: `silhouette_score` and `bic_score`, checked, and their
  arithmetic.
- `model`: `KMeans`, the estimator (fit, predict, transform, score, save,
  load), on `kmeans`.
- `export`: the SavedModel a fitted model is saved as, and its loading.
- `keras_layer`: `KMeansLayer`, a Keras layer that adapts to data by
  k-means (imported on first use: it loads Keras).

Imports: keras_layer -> api, distances; export -> distances;
model -> api, export, distances, checks;
api -> checks, results, init, distances, lloyd, bounded, stream, shard;
metrics -> checks, stats, distances; results -> lloyd;
stream -> lloyd, stats, distances; lloyd -> stats, distances;
bounded -> lloyd, stats, distances;
init, checks -> distances; stats -> distances. Only the public functions check
their input; everything behind them assumes it checked. The package
imports TensorFlow once, quietly (`_tensorflow`), keeps what XLA compiles
on disk for the next process (`_compile_cache`), and never imports the
lessons.
"""
from .api import (assign_labels, choose_kmeans_plus_plus_centroids, kmeans,
                  kmeans_files, minibatch_kmeans)
from .metrics import bic_score, silhouette_score
from .results import ConvergenceWarning, KMeansResult
from .model import KMeans

__all__ = ["ConvergenceWarning", "KMeans", "KMeansLayer", "KMeansResult",
           "assign_labels", "bic_score", "choose_kmeans_plus_plus_centroids",
           "kmeans", "kmeans_files", "minibatch_kmeans", "silhouette_score"]


def __getattr__(name):
    """KMeansLayer on first use: importing Keras takes a moment."""
    if name == "KMeansLayer":
        from .keras_layer import KMeansLayer
        return KMeansLayer
    raise AttributeError(f"module 'kmeans_tf' has no attribute {name!r}")


__version__ = "0.1.0"
