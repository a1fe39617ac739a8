"""How good a clustering is: the silhouette coefficient and the BIC.

Everything here assumes checked input (see `api.silhouette_score` and
`api.bic_score`).
"""
import numpy as np

from ._tensorflow import tf
from .distances import assign, squared_distances
from .stats import cluster_sums


def silhouette(samples, labels, chunk_size):
    """Mean silhouette of float64 samples (n, d) under int32 labels (n,).

    It needs every pairwise distance, n² of them, so it goes a chunk of
    rows at a time. Per chunk, one matrix product with the one-hot labels
    (`tf.one_hot`) sums each row's distances per cluster. The samples are
    centred first: pairwise distances do not change under a shift, and the
    expanded square ||x||² + ||y||² - 2 x·y stays accurate.
    """
    samples = samples - tf.reduce_mean(samples, axis=0)
    n = samples.shape[0]
    one_hot = tf.one_hot(labels, int(tf.reduce_max(labels)) + 1,
                         dtype=tf.float64)                        # (n, k)
    counts = tf.reduce_sum(one_hot, axis=0)                       # (k,)
    squares = tf.reduce_sum(samples ** 2, axis=1)                 # (n,)
    scores = []
    for start in range(0, n, chunk_size):
        rows = samples[start:start + chunk_size]                  # (m, d)
        squared = (squares[start:start + chunk_size, tf.newaxis] + squares
                   - 2 * tf.matmul(rows, samples, transpose_b=True))
        # A sample's distance to itself is exactly 0, whatever rounding says.
        itself = tf.one_hot(tf.range(start, start + rows.shape[0]), n,
                            on_value=True, off_value=False)
        distances = tf.where(itself, 0.0, tf.sqrt(tf.maximum(squared, 0)))
        per_cluster = tf.matmul(distances, one_hot)               # (m, k)
        own = tf.one_hot(labels[start:start + chunk_size],
                         one_hot.shape[1], on_value=True, off_value=False)
        own_count = tf.reduce_sum(tf.where(own, counts, 0), axis=1)
        a = (tf.reduce_sum(tf.where(own, per_cluster, 0), axis=1)
             / tf.maximum(own_count - 1, 1))
        others = tf.where(own | (counts == 0), float("inf"),
                          per_cluster / counts)
        b = tf.reduce_min(others, axis=1)
        spread = tf.maximum(a, b)
        scores.append(tf.where((own_count > 1) & (spread > 0),
                               (b - a) / tf.where(spread > 0, spread, 1), 0))
    return float(tf.reduce_mean(tf.concat(scores, axis=0)))


def bic(samples, centroids, scale=1.0):
    """BIC of k-means centroids as a spherical Gaussian mixture (X-means).

    Each cluster j is a Gaussian around its centroid with the same variance
    in every feature and every cluster, weighted by its share n_j / n of the
    samples; samples belong to their nearest centroid. The variance is the
    pooled estimate, inertia / (d (n - k)). Then

        log L = sum_j n_j log(n_j / n) - (n d / 2) log(2 pi variance)
                - d (n - k) / 2

    and BIC = log L - (p / 2) log n, with p = (k - 1) + k d + 1 free
    parameters (weights, centroids, the variance). Higher is better: a
    cluster more must pay for its parameters by a better fit. Samples and
    centroids are checked, in the same dtype, with n > k, and were
    multiplied by `scale`: a density in the samples' own units is scale**d
    times the scaled one, so log L gains n d log(scale).
    """
    n, d = samples.shape
    k = centroids.shape[0]
    labels = assign(samples, centroids)
    _, counts = cluster_sums(samples, labels, k)
    inertia = float(tf.reduce_sum(tf.cast(
        squared_distances(samples, centroids, labels), tf.float64)))
    if inertia == 0:
        return float("inf")                # every sample on its centroid
    variance = inertia / (d * (n - k))
    n_j = counts.numpy()[counts.numpy() > 0].astype(np.float64)
    log_likelihood = (np.sum(n_j * np.log(n_j / n))
                      - n * d / 2 * np.log(2 * np.pi * variance)
                      - d * (n - k) / 2 + n * d * np.log(scale))
    n_parameters = (k - 1) + k * d + 1
    return float(log_likelihood - n_parameters / 2 * np.log(n))
