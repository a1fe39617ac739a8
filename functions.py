"""The k-means lesson's functions, in plain TensorFlow 2.

Each lesson script imports this file (``import functions as fn``) and uses
the steps of k-means one at a time:

- `create_samples`: blobs of samples around random true centroids;
- `plot_clusters`: a picture of samples and centroids (`cluster_colours`
  gives the colour of each cluster number);
- `choose_random_centroids`: the start, n_clusters samples at random;
- `assign_to_nearest`: each sample's nearest centroid;
- `update_centroids`: each centroid moved to the mean of its samples;
- `inertia`: the total squared distance of samples to their nearest
  centroids, the number k-means makes small.

TensorFlow 2 runs each op as soon as it is called ("eager" execution: no
sessions, no graph to build first), so a function here is read, and
debugged, like NumPy code; `.numpy()` turns a result (a `tf.Tensor`) into
a NumPy array, for printing and plotting.

Each body shows the idea in a few TensorFlow ops, at the lesson's size.
Each first checks its arguments with one call into the engine's checks
(`kmeans_tf.checks.check_arguments`), which turns them into tensors (float32
stays float32, other numbers become float64) and raises a clear error for
bad input.

Beneath this file is the engine, the `kmeans_tf` package, which does the
same work fast and in bounded memory for data of any size; its public
functions are re-exported here, so the later lessons write `fn.kmeans`:

    result = fn.kmeans(my_samples, n_clusters=5, seed=0)
    result.centroids, result.labels, result.inertia
"""
import numpy as np

import kmeans_tf  # first: it imports TensorFlow without start-up noise
import tensorflow as tf
from kmeans_tf import checks
from kmeans_tf import (KMeans, KMeansResult, assign_labels,  # noqa: F401
                       bic_score, choose_kmeans_plus_plus_centroids, kmeans,
                       minibatch_kmeans, silhouette_score)

# The lesson's spread of each blob around its true centroid.
SAMPLE_STDDEV = 5.0


def create_samples(n_clusters, n_samples_per_cluster, n_features,
                   embiggen_factor, seed):
    """Make blobs of samples around random true centroids.

    Parameters
    ----------
    n_clusters, n_samples_per_cluster, n_features : int
        How many blobs, how many samples in each, and how many features.
    embiggen_factor : float
        The true centroids are uniform in [-embiggen_factor/2,
        embiggen_factor/2) in every feature; larger spreads the blobs apart.
    seed : int
        The same seed gives the same values in every run and process.

    Returns
    -------
    true_centroids : tf.Tensor of shape (n_clusters, n_features), float32
        The centres the blobs were drawn around (k-means never sees them).
    samples : tf.Tensor of shape (n_clusters * n_samples_per_cluster,
        n_features), float32. Blob 0's samples come first, then blob 1's...

    Notes
    -----
    TensorFlow 2's stateless random ops (`tf.random.stateless_uniform`,
    `stateless_normal`) give numbers that depend only on their seed, a
    pair of ints: the same pair, the same numbers, and nothing global
    changes. Here [seed, 0] draws the centroids and [seed, 1] the noise.
    (`tf.random.Generator.from_seed(seed)` would not do: every seed starts
    one and the same stream, seed + 1 four numbers further along it, so
    the blobs of --seed 701 would be those of 700, moved over.) Each blob
    is its centroid plus normal noise with standard deviation 5, added by
    broadcasting (n_clusters, 1, n_features) against (n_clusters,
    n_samples_per_cluster, n_features).
    """
    half = embiggen_factor / 2
    centroids = tf.random.stateless_uniform(
        (n_clusters, n_features), [seed, 0], -half, half)
    noise = tf.random.stateless_normal(
        (n_clusters, n_samples_per_cluster, n_features), [seed, 1],
        stddev=SAMPLE_STDDEV)
    samples = centroids[:, tf.newaxis, :] + noise     # (k, per_cluster, d)
    # The blobs one after another: -1 lets reshape work out that axis's
    # length, k * per_cluster.
    return centroids, tf.reshape(samples, (-1, n_features))   # (n, d)


def plot_clusters(all_samples, centroids, n_samples_per_cluster=None, *,
                  labels=None, ax=None, title=None):
    """Plot samples coloured by cluster, with each centroid as a magenta X.

    Parameters
    ----------
    all_samples : array-like of shape (n_samples, n_features)
    centroids : array-like of shape (n_clusters, n_features)
    n_samples_per_cluster : int, optional
        Colour consecutive runs of this many samples alike: the blobs as
        `create_samples` generated them (the lesson's picture).
    labels : array-like of shape (n_samples,), optional
        Colour each sample by its assigned cluster instead: what you want
        after k-means. Takes precedence over `n_samples_per_cluster`.
    ax : matplotlib Axes, optional
        Draw here; by default on a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. It is never shown here: the caller shows or
        saves it. With more than two features only the first two are drawn,
        and the axis labels say so.
    """
    import matplotlib.pyplot as plt

    samples = np.asarray(all_samples)
    centroids = np.asarray(centroids)
    if samples.shape[1] == 1:     # one feature: draw it along a line
        samples = np.column_stack([samples, np.zeros(len(samples))])
        centroids = np.column_stack([centroids, np.zeros(len(centroids))])
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    if labels is not None:
        groups = np.asarray(labels)
    elif n_samples_per_cluster:
        groups = np.arange(len(samples)) // n_samples_per_cluster
    else:
        groups = np.zeros(len(samples), dtype=int)
    for group in np.unique(groups):
        members = samples[groups == group]
        ax.scatter(members[:, 0], members[:, 1], s=8, alpha=0.6,
                   color=cluster_colours([group])[0])
    # A large magenta X with a dark outline stands out on any blob colour.
    ax.plot(centroids[:, 0], centroids[:, 1], "X", markersize=16,
            markerfacecolor="magenta", markeredgecolor="black",
            markeredgewidth=1.5, linestyle="none")
    n_features = np.asarray(all_samples).shape[1]
    ax.set_xlabel("feature 0" if n_features <= 2 else
                  f"feature 0 (first 2 of {n_features} features)")
    ax.set_ylabel("feature 1" if n_features > 1 else
                  "(one feature: drawn along a line)")
    if title:
        ax.set_title(title)
    return ax.figure


def cluster_colours(labels):
    """The colour `plot_clusters` gives each label: (n, 4) RGBA values.

    Cluster j is always the j-th colour of matplotlib's "tab10" palette
    (cycling after 10), so a cluster keeps its colour across pictures.
    """
    import matplotlib.pyplot as plt
    return plt.get_cmap("tab10")(np.asarray(labels, dtype=int) % 10)


def choose_random_centroids(samples, n_clusters, seed=None):
    """Choose n_clusters distinct samples, uniformly at random, as centroids.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    n_clusters : int
    seed : int, optional
        Seed the choice (exercise 1). Without it the choice differs per run.

    Returns
    -------
    tf.Tensor of shape (n_clusters, n_features), float32 for float32
    samples, else float64.

    Notes
    -----
    The lesson's idea: shuffle the sample indices, slice off the first
    n_clusters, gather those rows. To shuffle we give every sample a random
    key and sort the keys (`tf.argsort`): the order of the sorted keys is a
    random order of the samples. Without a seed the keys come from a
    `tf.random.Generator` in a fresh random state, a source of its own;
    with one, from a stateless op seeded [seed, 0] (see `create_samples`),
    so the same seed gives the same start in every run and process, and
    the next seed an unrelated one. `tf.random.set_seed` would not help
    here: it seeds TensorFlow's global random ops (`tf.random.uniform`,
    `tf.random.shuffle`), neither of these.
    """
    samples, n_clusters = checks.check_arguments(samples,
                                                 n_clusters=n_clusters)
    n = samples.shape[0]
    if seed is None:
        keys = tf.random.Generator.from_non_deterministic_state().uniform(
            (n,))                                                 # (n,)
    else:
        keys = tf.random.stateless_uniform((n,), [seed, 0])       # (n,)
    shuffled_indices = tf.argsort(keys)                           # (n,)
    return tf.gather(samples, shuffled_indices[:n_clusters])      # (k, d)


def assign_to_nearest(samples, centroids):
    """Index of the nearest centroid (Euclidean distance) for every sample.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    centroids : array-like of shape (n_clusters, n_features)

    Returns
    -------
    tf.Tensor of shape (n_samples,), int32

    Notes
    -----
    Broadcasting computes every sample-to-centroid difference at once:
    samples are given a cluster axis (`tf.newaxis`), centroids a sample
    axis, and subtracting the two gives an (n_samples, n_clusters,
    n_features) tensor. Squaring and summing over features
    (`tf.reduce_sum`) gives the squared distances, and `tf.argmin` over
    the clusters picks the nearest. That tensor is n_clusters times the
    size of the samples, n_samples * n_clusters * n_features numbers:
    9,000 at the lesson's size, 2 GB of float32 for a million samples of
    50 features and 10 clusters. For large data use `fn.assign_labels` (the
    engine's `kmeans_tf.assign_labels`, which returns a NumPy array): it
    goes a chunk of samples at a time.
    """
    samples, centroids = checks.check_arguments(samples, centroids=centroids)
    differences = (samples[:, tf.newaxis, :]
                   - centroids[tf.newaxis, :, :])                 # (n, k, d)
    distances = tf.reduce_sum(differences ** 2, axis=2)           # (n, k)
    return tf.argmin(distances, axis=1, output_type=tf.int32)     # (n,)


def update_centroids(samples, nearest_indices, n_clusters, *,
                     previous_centroids=None):
    """Move each centroid to the mean of the samples assigned to it.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    nearest_indices : array-like of shape (n_samples,), ints in
        [0, n_clusters)
    n_clusters : int
    previous_centroids : array-like of shape (n_clusters, n_features),
        optional
        Used only for a cluster that has no samples: it keeps its previous
        centroid. Without them, an empty cluster is an error. (The engine,
        `kmeans`, moves an empty cluster's centroid to a far-away sample
        instead, as scikit-learn does; see `kmeans_tf.stats`.)

    Returns
    -------
    tf.Tensor of shape (n_clusters, n_features), float32 for float32
    samples, else float64.

    Notes
    -----
    `tf.math.unsorted_segment_sum(values, segment_ids, n)` adds up the rows
    of `values` that share a segment id, for all n segments in one op: with
    the samples as values and the labels as ids, row j is the sum of
    cluster j's samples (k, d). With a column of ones as values, row j is
    how many samples cluster j has (k, 1). Dividing the sums by the counts
    gives the means; the (k, 1) counts broadcast over the d features.
    An empty cluster would divide 0 by 0, giving NaN, so we divide by at
    least 1 and let `tf.where` put the previous centroid in its row.
    """
    samples, n_clusters, labels, previous = checks.check_arguments(
        samples, n_clusters=n_clusters, labels=nearest_indices,
        previous_centroids=previous_centroids)
    sums = tf.math.unsorted_segment_sum(samples, labels, n_clusters)  # (k, d)
    counts = tf.math.unsorted_segment_sum(
        tf.ones_like(samples[:, :1]), labels, n_clusters)             # (k, 1)
    means = sums / tf.maximum(counts, 1)                              # (k, d)
    if previous is None:
        _refuse_empty_clusters(counts)
        return means
    return tf.where(counts > 0, means, previous)


def inertia(samples, centroids):
    """Total squared distance of each sample to its nearest centroid.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    centroids : array-like of shape (n_clusters, n_features)

    Returns
    -------
    float: what k-means makes small, step by step (scikit-learn's
    `inertia_`). Every lesson prints this number for the centroids it
    shows, so the same centroids give the same inertia everywhere.

    Notes
    -----
    `assign_to_nearest` finds each sample's nearest centroid; `tf.gather`
    picks that centroid's row for every sample, and the squared differences
    are summed over samples and features. The sum runs in float64
    (`tf.cast`): float32 keeps only about 7 digits, and a sum of thousands
    of float32 numbers would lose the last ones.
    """
    samples, centroids = checks.check_arguments(samples, centroids=centroids)
    nearest = tf.gather(centroids,
                        assign_to_nearest(samples, centroids))    # (n, d)
    squared = tf.cast((samples - nearest) ** 2, tf.float64)       # (n, d)
    return float(tf.reduce_sum(squared))


def _refuse_empty_clusters(counts):
    """Raise a ValueError naming the clusters whose count (k, 1) is 0."""
    empty = [j for j, count in enumerate(counts[:, 0].numpy()) if count == 0]
    if empty:
        raise ValueError(f"clusters {empty} have no samples; pass "
                         f"previous_centroids to keep their centroids")
