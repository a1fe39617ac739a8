"""How good a clustering is: the silhouette coefficient and the BIC.

`silhouette_score` and `bic_score` are public: they check their input and
call `silhouette` and `bic`, which assume it checked.
"""
import numpy as np

from . import distances
from ._tensorflow import Traced, tf
from .checks import (check_centroids, check_int, check_labels, check_samples,
                     check_seed)
from .distances import assign, inertia_of
from .stats import cluster_sums

# The silhouette's distances held at once: 32 MB of float64.
DISTANCE_VALUES = 2**22


def silhouette(samples, labels, chunk_size):
    """Mean silhouette of float64 samples (n, d) under int32 labels (n,).

    It needs every pairwise distance, n² of them, so it goes a chunk of
    rows at a time: at most chunk_size, and few enough that the chunk's
    distances (m, n) hold at most DISTANCE_VALUES numbers. Per chunk, one
    matrix product with the one-hot labels (`tf.one_hot`) sums each row's
    distances per cluster. The distances come from the differences,
    exactly: the expanded square ||x||² + ||y||² - 2 x·y loses the digits
    of small distances wherever the data lie far from the origin chosen
    (tight clusters near 0 and a large one near 1e3: 0.830 about the
    median, 0.867 about the mean, against 0.925). Each chunk is compiled
    by XLA (`_chunk_scores`), which makes the distances from the
    differences in one pass, with no (m, n, d) tensor of them.
    """
    n, _ = samples.shape
    one_hot = tf.one_hot(labels, int(tf.reduce_max(labels)) + 1,
                         dtype=tf.float64)                        # (n, k)
    counts = tf.reduce_sum(one_hot, axis=0)                       # (k,)
    chunk_size = max(1, min(chunk_size, DISTANCE_VALUES // n))
    columns = tf.transpose(samples)                               # (d, n)
    scores = [_chunk_scores(columns[:, start:start + chunk_size],
                            labels[start:start + chunk_size], columns,
                            one_hot, counts)
              for start in range(0, n, chunk_size)]
    return float(tf.reduce_mean(tf.concat(scores, axis=0)))


def _silhouettes(rows, row_labels, columns, one_hot, counts):
    """The silhouette of each of the m samples `rows` (d, m), labelled
    `row_labels`, among all n samples `columns` (d, n), whose labels are
    `one_hot` (n, k) and the clusters' sizes `counts` (k,). Feature-major:
    each row's distances then add up along the samples' axis, which XLA
    vectorises."""
    distances = tf.sqrt(tf.reduce_sum(
        (rows[:, :, tf.newaxis] - columns[:, tf.newaxis, :]) ** 2,
        axis=0))                                                  # (m, n)
    per_cluster = tf.matmul(distances, one_hot)                   # (m, k)
    own = tf.one_hot(row_labels, one_hot.shape[1], on_value=True,
                     off_value=False)
    own_count = tf.reduce_sum(tf.where(own, counts, 0), axis=1)
    a = (tf.reduce_sum(tf.where(own, per_cluster, 0), axis=1)
         / tf.maximum(own_count - 1, 1))
    others = tf.where(own | (counts == 0), tf.constant(np.inf, tf.float64),
                      per_cluster / counts)
    b = tf.reduce_min(others, axis=1)
    spread = tf.maximum(a, b)
    return tf.where((own_count > 1) & (spread > 0),
                    (b - a) / tf.where(spread > 0, spread, 1), 0)


# One compilation for each shape of chunk and number of labels: at most two
# for a silhouette.
_chunk_scores = Traced(_silhouettes, jit_compile=True)


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
    inertia = float(inertia_of(samples, centroids, labels))
    if inertia == 0:
        return float("inf")                # every sample on its centroid
    variance = inertia / (d * (n - k))
    n_j = counts.numpy()[counts.numpy() > 0].astype(np.float64)
    log_likelihood = (np.sum(n_j * np.log(n_j / n))
                      - n * d / 2 * np.log(2 * np.pi * variance)
                      - d * (n - k) / 2 + n * d * np.log(scale))
    n_parameters = (k - 1) + k * d + 1
    return float(log_likelihood - n_parameters / 2 * np.log(n))


def silhouette_score(samples, labels, chunk_size=1024, *, sample_size=None,
                     seed=None):
    """Mean silhouette coefficient of a clustering, from -1 to 1.

    For each sample, a is its mean distance to the other samples of its own
    cluster and b its mean distance to the samples of the nearest other
    cluster; its silhouette is (b - a) / max(a, b), and 0 when it is alone
    in its cluster. Near 1: tight, well-separated clusters. It agrees with
    scikit-learn's `silhouette_score`.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    labels : array-like of shape (n_samples,), ints in [0, n_samples)
        with at least 2 distinct values and fewer than n_samples.
    chunk_size : int
        Rows of the (n_samples, n_samples) distance matrix held at once, at
        most (fewer when their distances would exceed DISTANCE_VALUES
        numbers).
    sample_size : int >= 2, optional
        Score a random subset of this many samples (as scikit-learn's
        `sample_size`): the cost falls from n_samples² to sample_size².
    seed : int, optional
        Seeds the subset.

    Returns
    -------
    float

    Notes
    -----
    It needs every pairwise distance, n_samples² of them, so for more than
    a few thousand samples give a `sample_size`.
    """
    samples = check_samples(samples)
    # The silhouette does not change under a scale; scaled, no square
    # overflows.
    samples = tf.cast(samples, tf.float64) * distances.power_of_two_scale(
        distances.largest_magnitude(samples))
    n = samples.shape[0]
    labels = labels_all = check_labels(labels, n, n)
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    seed = check_seed(seed)
    if sample_size is not None and check_int(sample_size, "sample_size",
                                             2) < n:
        subset = np.sort(np.random.default_rng(seed).choice(
            n, sample_size, replace=False))
        samples, labels, n = (tf.gather(samples, subset),
                              tf.gather(labels, subset), sample_size)
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= n - 1:
        among = (f" among the sample_size={n} samples scored"
                 if n < len(labels_all) else "")
        raise ValueError(f"labels must have between 2 and n_samples - 1 = "
                         f"{n - 1} distinct values{among}; got {n_labels}")
    return silhouette(samples, labels, chunk_size)


def bic_score(samples, centroids):
    """Bayesian information criterion of centroids (higher is better).

    Scores the centroids as a mixture of spherical Gaussians of one shared
    variance, each sample belonging to its nearest centroid (as X-means
    does; Pelleg and Moore 2000), less a penalty for the parameters. Used
    to choose n_clusters: run `kmeans` for each k and keep the k with the
    highest BIC. Unlike the silhouette it is defined for k = 1, and it
    tells two blobs that touch from one blob.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    centroids : array-like of shape (n_clusters, n_features), with
        n_clusters < n_samples

    Returns
    -------
    float; +inf when every sample sits on its centroid.
    """
    samples = check_samples(samples)
    centroids = check_centroids(centroids, samples)
    if not len(centroids) < len(samples):
        raise ValueError(f"n_samples={len(samples)} should be > "
                         f"n_clusters={len(centroids)} for the BIC")
    scale = distances.power_of_two_scale(max(
        distances.largest_magnitude(samples),
        distances.largest_magnitude(centroids)))
    return bic(samples * scale, centroids * scale, scale)
