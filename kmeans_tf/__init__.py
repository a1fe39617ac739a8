"""kmeans_tf: k-means in TensorFlow 2, exact, fast, and able to scale out.

The engine beneath the lessons' `functions.py`. Use it from your own code::

    import kmeans_tf

    result = kmeans_tf.kmeans(samples, n_clusters=5, seed=0)
    result.centroids, result.labels, result.inertia
    labels = kmeans_tf.assign_labels(new_samples, result.centroids)

The map, one concern per module; the arrows are imports:

- `api`: the public functions (`kmeans`, `minibatch_kmeans`,
  `choose_kmeans_plus_plus_centroids`, `assign_labels`, `silhouette_score`,
  `bic_score`) and `KMeansResult`. The engine's only module that checks
  arguments and builds results.
- `checks`: the input checks, with messages that name the argument (the
  lessons' `functions.py` calls them too; a stream's values are checked
  as they pass, in `stream.scan`).
- `init`: the starts, random and k-means++, one dispatch for every path.
- `distances`: the nearest-centroid assignment, a chunk of samples at a
  time, so memory stays bounded.
- `stats`: per-cluster sums and counts (written once), means, inertia from
  the sums, the empty-cluster rule.
- `lloyd`: Lloyd's loop in memory, compiled into one graph; the stop rule.
- `stream`: Lloyd over a tf.data stream and under tf.distribute (the same
  stop and empty-cluster rules), and mini-batch k-means.
- `metrics`: the silhouette coefficient and the BIC.

Imports: api -> checks, init, distances, lloyd, stream, metrics;
stream -> lloyd, stats, distances; lloyd -> stats, distances;
metrics -> stats, distances; init -> distances; stats -> distances. Functions outside `api`
and `checks` assume checked input. The package imports TensorFlow once,
quietly (`_tensorflow`), and never imports the lessons.
"""
from .api import (KMeansResult, assign_labels, bic_score,
                  choose_kmeans_plus_plus_centroids, kmeans, minibatch_kmeans,
                  silhouette_score)

__all__ = ["KMeansResult", "assign_labels", "bic_score",
           "choose_kmeans_plus_plus_centroids", "kmeans", "minibatch_kmeans",
           "silhouette_score"]
__version__ = "0.1.0"
