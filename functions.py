"""The k-means lessons' shared functions, in TensorFlow 2.

Read it in four parts:

1. The lesson: make blobs of samples, pick initial centroids, assign each
   sample to its nearest centroid, move each centroid to the mean of its
   samples (`create_samples` ... `update_centroids`).
2. A complete k-means on the same ideas (`kmeans`), checked against
   scikit-learn: k-means++ starts, convergence, empty clusters, input checks.
3. Streaming and scale-out: `kmeans` over a tf.data.Dataset or under a
   tf.distribute.Strategy, and `minibatch_kmeans`.
4. The private, compiled inner loops that make it fast: the whole Lloyd
   loop runs in one `tf.function`, and distances are computed a chunk of
   samples at a time, so memory stays bounded however many samples.

Import it from a lesson script (``import functions as fn``) or your own code::

    result = fn.kmeans(my_samples, n_clusters=5, seed=0)
    result.centroids, result.labels, result.inertia
"""
import math
import os
import time
from typing import NamedTuple

import numpy as np


def _import_tensorflow_quietly():
    """Import TensorFlow without its start-up log lines reaching the terminal.

    TensorFlow's C++ side writes notices (oneDNN, CUDA, absl) straight to file
    descriptor 2 while it loads, before any log level applies, so we point
    that descriptor at /dev/null for the import alone, and always put it back.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    return tensorflow


tf = _import_tensorflow_quietly()

# The lesson's spread of each blob around its true centroid.
SAMPLE_STDDEV = 5.0
# Valid names for `kmeans(init=...)`; an array of centroids is also accepted.
INIT_METHODS = ("k-means++", "random")
# Extra memory one chunk of the assignment step may use: the distances of a
# chunk of samples to every centroid. Bounded, whatever n_samples is.
CHUNK_BYTES = 32 * 2**20
# Why `kmeans` stopped, by the code its compiled loop returns.
STOP_REASONS = ("reached max_iter", "no label changed",
                "centroids moved less than tol")
# Up to this many features, distances come from plain differences; above,
# from a matrix product (see _direct_form).
DIRECT_MAX_FEATURES = 4
# Rows kept from a stream, in a first pass, to choose the start from.
INIT_SAMPLE_SIZE = 10_000
# With a progress callback, kmeans reports after bursts of about this long.
PROGRESS_SECONDS = 0.5
# Below this many values (n_samples * n_features), compiling the loop with XLA
# costs more time than it saves.
XLA_MIN_VALUES = 200_000


# %% The lesson: samples, initial centroids, assignment, update -------------

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
    centroids : tf.Tensor of shape (n_clusters, n_features), float32
    samples : tf.Tensor of shape (n_clusters * n_samples_per_cluster,
        n_features), float32. Blob 0's samples come first, then blob 1's...

    Notes
    -----
    `tf.random.Generator.from_seed` is TensorFlow 2's seeded random source:
    its state lives in the generator, not in a global seed, so drawing here
    changes nothing elsewhere. Each blob is its centroid plus normal noise
    with standard deviation 5, added by broadcasting (n_clusters, 1,
    n_features) against (n_clusters, n_samples_per_cluster, n_features).
    """
    rng = tf.random.Generator.from_seed(seed)
    half = embiggen_factor / 2
    centroids = rng.uniform((n_clusters, n_features), -half, half)
    noise = rng.normal((n_clusters, n_samples_per_cluster, n_features),
                       stddev=SAMPLE_STDDEV)
    samples = centroids[:, tf.newaxis, :] + noise     # (k, per_cluster, d)
    return centroids, tf.reshape(samples, (-1, n_features))


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
    colours = plt.get_cmap("tab10")
    for group in np.unique(groups):
        members = samples[groups == group]
        ax.scatter(members[:, 0], members[:, 1], s=8, alpha=0.6,
                   color=colours(int(group) % 10))
    # A large magenta X with a dark outline stands out on any blob colour.
    ax.plot(centroids[:, 0], centroids[:, 1], "X", markersize=16,
            markerfacecolor="magenta", markeredgecolor="black",
            markeredgewidth=1.5, linestyle="none")
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    if samples.shape[1] > 2:
        ax.set_xlabel(f"feature 0 (first 2 of {samples.shape[1]} features)")
    if title:
        ax.set_title(title)
    return ax.figure


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
    tf.Tensor of shape (n_clusters, n_features), the samples' dtype.

    Notes
    -----
    The lesson's idea: shuffle the sample indices, slice off the first
    n_clusters, gather those rows. Shuffling here is `tf.argsort` of one
    random key per sample, drawn from a `tf.random.Generator`.
    """
    samples = _check_samples(samples)
    n_clusters = _check_n_clusters(n_clusters, len(samples))
    rng = _generator(seed)
    keys = rng.uniform((samples.shape[0],))
    chosen = tf.argsort(keys)[:n_clusters]             # shuffle, then slice
    return tf.gather(samples, chosen)


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
    The lesson computes every difference at once by broadcasting:
    ``samples[:, None, :] - centroids[None, :, :]`` is (n_samples,
    n_clusters, n_features), squared and summed over features, then
    `tf.argmin` over clusters. That tensor is k * d times the size of the
    data: gigabytes for a million samples. Here we expand the square
    instead, ||x - c||² = ||x||² - 2 x·c + ||c||², where x·c for all pairs is
    one matrix product (`tf.matmul`), and ||x||² is the same for every
    centroid so it cannot change the argmin. (With at most 4 features the
    plain differences are faster, and are used.) Samples go through in
    chunks so the (chunk, n_clusters) distance block stays small.
    """
    samples = _check_samples(samples)
    centroids = _check_centroids(centroids, samples)
    chunks, centre, _, _ = _centred_chunks(samples, len(centroids))
    direct = _direct_form(samples.shape[1])
    return _assign_chunks(chunks, centroids - centre,
                          direct)[:len(samples)]


def update_centroids(samples, nearest_indices, n_clusters,
                     previous_centroids=None):
    """Move each centroid to the mean of the samples assigned to it.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    nearest_indices : array-like of shape (n_samples,), ints in
        [0, n_clusters)
    n_clusters : int
    previous_centroids : array-like of shape (n_clusters, n_features),
        optional. A cluster with no samples keeps its previous centroid.
        Without them it gets the sample farthest from the mean of all
        samples (a finite point among the data, never NaN nor the origin).

    Returns
    -------
    tf.Tensor of shape (n_clusters, n_features), the samples' dtype.

    Notes
    -----
    `tf.math.unsorted_segment_sum` adds up the rows of `samples` that share
    a label, for all clusters in one op: the lesson's per-cluster
    `dynamic_partition` loop, without the Python loop. Dividing by the
    counts gives the means.
    """
    samples = _check_samples(samples)
    n_clusters = _check_n_clusters(n_clusters, len(samples))
    labels = _check_labels(nearest_indices, len(samples), n_clusters)
    if previous_centroids is None:
        farthest = tf.argmax(tf.reduce_sum(
            (samples - tf.reduce_mean(samples, axis=0)) ** 2, axis=1))
        fallback = tf.repeat(samples[farthest][tf.newaxis], n_clusters, 0)
    else:
        fallback = _check_centroids(previous_centroids, samples,
                                    "previous_centroids", n_clusters)
    sums = tf.math.unsorted_segment_sum(samples, labels, n_clusters)
    counts = tf.math.unsorted_segment_sum(
        tf.ones_like(labels, samples.dtype), labels, n_clusters)
    return _means_or_keep(sums, counts, fallback)


def inertia(samples, centroids, labels):
    """Total squared distance of each sample to its assigned centroid.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    centroids : array-like of shape (n_clusters, n_features)
    labels : array-like of shape (n_samples,), ints in [0, n_clusters)

    Returns
    -------
    float: what k-means minimises (scikit-learn calls it `inertia_`).
    """
    samples = _check_samples(samples)
    centroids = _check_centroids(centroids, samples)
    labels = _check_labels(labels, len(samples), len(centroids))
    return float(tf.reduce_sum(_squared_distances(samples, centroids,
                                                  labels)))


# %% k-means, complete: kmeans(), k-means++, empty clusters ------------------

class KMeansResult(NamedTuple):
    """What `kmeans` returns: NumPy arrays and plain Python numbers.

    centroids : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,), int32; each sample's nearest
        centroid among the returned `centroids`.
    inertia : float, total squared distance of samples to their centroids.
    n_iter : int, Lloyd iterations run.
    converged : bool, whether it settled (labels or centroids) rather than
        being stopped by `max_iter`.
    stop_reason : str, why it stopped: one of STOP_REASONS.
    inertia_history, shift_history : ndarray of shape (n_iter,)
        Per iteration: the inertia of the centroids it started from, and the
        summed squared distance the centroids then moved.
    """
    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    stop_reason: str
    inertia_history: np.ndarray
    shift_history: np.ndarray


def kmeans(samples, n_clusters, *, init="k-means++", n_init=1, max_iter=300,
           tol=1e-4, seed=None, progress=None, strategy=None):
    """Cluster samples with k-means (Lloyd's algorithm) until it converges.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features), or a
        tf.data.Dataset of batches of shape (batch_size, n_features)
        Numeric and finite: lists, NumPy arrays, tensors. float32 is kept as
        float32, anything else is computed in float64. A Dataset is
        streamed: every iteration is one exact pass over it, so the data
        need not fit in memory (see `_kmeans_streaming`).
    n_clusters : int, 1 <= n_clusters <= n_samples
    init : {"k-means++", "random"} or array-like of shape (n_clusters,
        n_features)
        "k-means++": `choose_kmeans_plus_plus_centroids`. "random": the
        lesson's `choose_random_centroids`. An array: start from these.
    n_init : int
        Run this many times from different starts and keep the run with the
        lowest inertia. With an array `init` there is one start, so one run.
    max_iter : int >= 0
    tol : float >= 0
        Stop when the centroids' summed squared movement in one iteration is
        at most tol times the mean per-feature variance of the samples
        (scikit-learn's meaning). It also stops when no label changes.
    seed : int, optional
        Seeds the starts; the same seed gives the same result.
    progress : callable, optional
        Called as progress(n_iter, max_iter, inertia, shift) about twice a
        second while it runs, for a progress line on long runs. Without it
        all iterations run in one compiled call.
    strategy : tf.distribute.Strategy, optional
        Spread each iteration over the strategy's replicas (GPUs, logical
        CPUs, or machines with MultiWorkerMirroredStrategy): each replica
        sums and counts its share of the samples per cluster, and one
        all-reduce adds them up. The result equals the single-device one
        to float rounding.

    Returns
    -------
    KMeansResult

    Notes
    -----
    Empty clusters: when a cluster has no samples, it takes the sample
    farthest from its current centroid, as scikit-learn does, so from the
    same start the two agree. Precision: the samples are centred first
    (k-means does not change under a shift), which keeps the expanded
    distance formula accurate for data far from the origin.
    """
    if isinstance(samples, tf.data.Dataset) or strategy is not None:
        return _kmeans_streaming(samples, n_clusters, init=init,
                                 n_init=n_init, max_iter=max_iter, tol=tol,
                                 seed=seed, progress=progress,
                                 strategy=strategy)
    samples = _check_samples(samples)
    n_clusters = _check_n_clusters(n_clusters, len(samples))
    starts = _check_init(init, samples, n_clusters)
    n_init = _check_int(n_init, "n_init", 1)
    max_iter = _check_int(max_iter, "max_iter", 0)
    tol = _check_number(tol, "tol", 0)
    if starts is not None:
        n_init = 1

    chunks, centre, variance, sum_of_squares = _centred_chunks(samples,
                                                                n_clusters)
    threshold = tol * float(variance)
    run_seeds = np.random.default_rng(seed).integers(2**31, size=n_init)
    best = None
    for run_seed in run_seeds:
        if starts is not None:
            start = starts
        elif init == "random":
            start = choose_random_centroids(samples, n_clusters, run_seed)
        else:
            start = choose_kmeans_plus_plus_centroids(samples, n_clusters,
                                                      run_seed)
        run = _lloyd(chunks, len(samples), sum_of_squares,
                     tf.cast(start, samples.dtype) - centre, max_iter,
                     threshold, progress)
        if best is None or run.inertia < best.inertia:
            best = run
    return best._replace(centroids=best.centroids + centre.numpy(),
                         labels=best.labels[:len(samples)])


def choose_kmeans_plus_plus_centroids(samples, n_clusters, seed=None):
    """Choose initial centroids by k-means++ (greedy D² sampling).

    The first centroid is a sample chosen uniformly. Each next one is drawn
    with probability proportional to D², the squared distance of a sample to
    its nearest centroid so far, so far-away regions get centroids. The
    greedy refinement (as in scikit-learn) draws 2 + log(n_clusters)
    candidates per step and keeps the one that lowers the total D² most.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    n_clusters : int
    seed : int, optional

    Returns
    -------
    tf.Tensor of shape (n_clusters, n_features), the samples' dtype.
    """
    samples = _check_samples(samples)
    n_clusters = _check_n_clusters(n_clusters, len(samples))
    if seed is None:
        seed = np.random.default_rng().integers(2**31)
    centred = samples - tf.reduce_mean(samples, axis=0)
    n_trials = 2 + int(math.log(n_clusters))
    chosen = _kmeans_plus_plus(centred, tf.constant(n_clusters),
                               tf.constant(n_trials),
                               tf.constant([int(seed), 0], tf.int64))
    return tf.gather(samples, chosen)


def silhouette_score(samples, labels, chunk_size=1024):
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
        Rows of the (n_samples, n_samples) distance matrix held at once.

    Returns
    -------
    float

    Notes
    -----
    It needs every pairwise distance, n_samples² of them, so it is for
    thousands of samples, not millions. Per chunk of rows, one matrix
    product with the one-hot labels (`tf.one_hot`) sums each row's
    distances per cluster.
    """
    samples = tf.cast(_check_samples(samples), tf.float64)
    n = samples.shape[0]
    labels = _check_labels(labels, n, n)
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= n - 1:
        raise ValueError(f"labels must have between 2 and n_samples - 1 = "
                         f"{n - 1} distinct values; got {n_labels}")
    one_hot = tf.one_hot(labels, int(tf.reduce_max(labels)) + 1,
                         dtype=tf.float64)
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
        others = tf.where(own | (counts == 0), np.inf, per_cluster / counts)
        b = tf.reduce_min(others, axis=1)
        spread = tf.maximum(a, b)
        scores.append(tf.where((own_count > 1) & (spread > 0),
                               (b - a) / tf.where(spread > 0, spread, 1), 0))
    return float(tf.reduce_mean(tf.concat(scores, axis=0)))


# %% Streaming and scale-out: tf.data and tf.distribute -------------------
# minibatch_kmeans, then the passes `kmeans` makes over a stream.

def minibatch_kmeans(samples, n_clusters, *, batch_size=1024, max_steps=200,
                     init="k-means++", seed=None):
    """Approximate k-means from mini-batches (scikit-learn's MiniBatchKMeans
    update rule), for data too large for many full passes.

    Each step assigns one random batch and moves each centroid toward its
    batch members by a step that shrinks as the centroid sees more samples:
    c <- (c * w + batch_sum) / (w + batch_count), w the samples it has seen.
    It is an approximation: the centroids are not exactly the means of
    their clusters, and the inertia is usually a little higher than full
    k-means gives. (scikit-learn's random reassignment of rarely used
    centroids is left out.)

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features), or a
        tf.data.Dataset of batches (then `batch_size` is its own).
    n_clusters : int
    batch_size : int, samples per step for array input.
    max_steps : int, mini-batches to take.
    init, seed : as for `kmeans`; the start comes from a seeded sample.

    Returns
    -------
    KMeansResult; labels and inertia from one full pass at the end.
    """
    batch_size = _check_int(batch_size, "batch_size", 1)
    max_steps = _check_int(max_steps, "max_steps", 0)
    dataset, scan = _scanned_dataset(samples, n_clusters, seed)
    start = _streaming_start(init, scan, n_clusters, seed)
    if not isinstance(samples, tf.data.Dataset):
        dataset = dataset.unbatch().shuffle(
            min(scan.n, 1_000_000), seed=seed).batch(batch_size)
    centroids = start - scan.centre
    weights = tf.zeros((n_clusters,), centroids.dtype)
    for batch in dataset.repeat().take(max_steps):
        centroids, weights = _minibatch_step(batch, centroids, weights,
                                             scan.centre)
    labels, inertia = _streaming_labels(dataset, centroids, scan.centre)
    return KMeansResult(centroids.numpy() + scan.centre.numpy(), labels,
                        inertia, max_steps, False, "ran max_steps batches",
                        np.zeros(0), np.zeros(0))


class _Scan(NamedTuple):
    """What one pass over a stream tells: size, centre, variance, a sample."""
    n: int
    centre: tf.Tensor
    variance: float
    sample: tf.Tensor


def _scanned_dataset(samples, n_clusters, seed):
    """A Dataset of checked batches, and a _Scan of it (one pass).

    The pass counts the samples, computes their mean and variance (in
    float64), checks every value is finite, and keeps a seeded uniform
    sample of INIT_SAMPLE_SIZE rows: each row gets a random key, and the
    rows with the smallest keys are kept.
    """
    if isinstance(samples, tf.data.Dataset):
        spec = samples.element_spec
        if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 2 \
                or not (spec.dtype.is_floating or spec.dtype.is_integer):
            raise TypeError(f"samples as a Dataset must yield numeric "
                            f"batches of shape (batch_size, n_features); "
                            f"its elements are {spec}")
        dtype = tf.float32 if spec.dtype == tf.float32 else tf.float64
        dataset = samples.map(lambda batch: tf.cast(batch, dtype))
    else:
        checked = _check_samples(samples)
        dataset = tf.data.Dataset.from_tensor_slices(checked).batch(65536)
    rng = np.random.default_rng(seed)
    n, total, squares, kept, keys = 0, 0.0, 0.0, None, None
    for index, batch in enumerate(dataset.as_numpy_iterator()):
        if not np.isfinite(batch).all():
            raise ValueError(f"samples must be finite; batch {index} of the "
                             f"Dataset holds NaN or infinity")
        wide = batch.astype(np.float64)
        n, total = n + len(batch), total + wide.sum(axis=0)
        squares = squares + (wide ** 2).sum(axis=0)
        kept = batch if kept is None else np.concatenate([kept, batch])
        keys = np.concatenate([keys if keys is not None else [],
                               rng.random(len(batch))])
        smallest = np.argsort(keys)[:INIT_SAMPLE_SIZE]
        kept, keys = kept[smallest], keys[smallest]
    if n == 0:
        raise ValueError("samples must not be empty; the Dataset yielded no "
                         "rows")
    _check_n_clusters(n_clusters, n)
    mean = total / n
    centre = tf.constant(mean, dataset.element_spec.dtype)
    variance = float(np.mean(squares / n - mean ** 2))
    return dataset, _Scan(n, centre, variance, tf.constant(kept))


def _streaming_start(init, scan, n_clusters, seed):
    """The initial centroids for a stream: given, or chosen from its sample."""
    starts = _check_init(init, scan.sample, n_clusters)
    if starts is not None:
        return starts
    if init == "random":
        return choose_random_centroids(scan.sample, n_clusters, seed)
    return choose_kmeans_plus_plus_centroids(scan.sample, n_clusters, seed)


def _kmeans_streaming(samples, n_clusters, *, init, n_init, max_iter, tol,
                      seed, progress, strategy):
    """kmeans() over a tf.data.Dataset, or with a tf.distribute.Strategy.

    Each iteration is one pass over the data in a tf.function; per batch,
    the replicas' per-cluster sums and counts are all-reduced
    (`_epoch_statistics`). The result is exact Lloyd, as in memory: it
    stops when the centroids do not move at all (no label changed), or
    move by at most tol x the mean variance, or at max_iter.
    """
    n_clusters = _check_int(n_clusters, "n_clusters", 1)
    n_init = _check_int(n_init, "n_init", 1)
    max_iter = _check_int(max_iter, "max_iter", 0)
    tol = _check_number(tol, "tol", 0)
    strategy = strategy or tf.distribute.get_strategy()
    dataset, scan = _scanned_dataset(samples, n_clusters, seed)
    if not isinstance(init, str):
        n_init = 1
    best = None
    for run_seed in np.random.default_rng(seed).integers(2**31, size=n_init):
        centroids = _streaming_start(init, scan, n_clusters,
                                     run_seed) - scan.centre
        inertias, shifts, stop = [], [], 0
        while len(shifts) < max_iter and stop == 0:
            sums, counts, inertia = _epoch_statistics(
                dataset, centroids, scan.centre, strategy)
            if tf.reduce_any(counts == 0):
                sums, counts = _relocate_empty_streaming(
                    dataset, centroids, scan.centre, sums, counts)
            new = _means_or_keep(sums, counts, tf.cast(centroids, tf.float64))
            new = tf.cast(new, centroids.dtype)
            shift = float(tf.reduce_sum((new - centroids) ** 2))
            centroids = new
            inertias.append(float(inertia))
            shifts.append(shift)
            stop = 1 if shift == 0 else 2 if shift <= tol * scan.variance \
                else 0
            if progress is not None:
                progress(len(shifts), max_iter, inertias[-1], shift)
        labels, inertia = _streaming_labels(dataset, centroids, scan.centre)
        if best is None or inertia < best.inertia:
            best = KMeansResult(centroids.numpy() + scan.centre.numpy(),
                                labels, inertia, len(shifts), stop > 0,
                                STOP_REASONS[stop], np.array(inertias),
                                np.array(shifts))
    return best


@tf.function
def _epoch_statistics(dataset, centroids, centre, strategy):
    """One pass: per-cluster sums (k, d), counts (k,) and inertia, float64.

    Every worker reads every batch; within a batch, replica r of R takes
    rows r, r+R, r+2R, ... (`_replica_statistics`), and `strategy.reduce`
    adds the replicas' results together. That reduce is the all-reduce: on
    several GPUs or machines it is the one step that communicates, one
    vector of k * d + k + 1 numbers per batch.
    """
    k, d = centroids.shape
    total = tf.zeros((k * d + k + 1,), tf.float64)
    for batch in dataset:
        per_replica = strategy.run(_replica_statistics,
                                   args=(batch, centroids, centre))
        total += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica,
                                 axis=None)
    return tf.reshape(total[:k * d], (k, d)), total[k * d:-1], total[-1]


def _replica_statistics(batch, centroids, centre):
    """This replica's share of a batch: per-cluster sums and counts, and
    its inertia, packed in one float64 vector for one all-reduce."""
    context = tf.distribute.get_replica_context()
    mine = batch[context.replica_id_in_sync_group::
                 context.num_replicas_in_sync]
    x, labels, distances = _assign_batch(mine, centroids, centre)
    k = centroids.shape[0]
    sums = tf.math.unsorted_segment_sum(tf.cast(x, tf.float64), labels, k)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(labels, tf.float64),
                                          labels, k)
    inertia = tf.reduce_sum(tf.cast(distances, tf.float64))
    return tf.concat([tf.reshape(sums, [-1]), counts, inertia[tf.newaxis]],
                     axis=0)


def _assign_batch(batch, centroids, centre):
    """A batch of a stream, centred; its labels; their squared distances."""
    x = batch - centre
    labels = _nearest(x, centroids, _direct_form(centroids.shape[1]))
    return x, labels, _squared_distances(x, centroids, labels)


def _relocate_empty_streaming(dataset, centroids, centre, sums, counts):
    """The empty-cluster rule of `_relocate_empty`, over a stream.

    A second pass keeps the k samples farthest from their centroids, with
    their labels; `_relocate_empty` then applies the in-memory rule to
    those k rows (the farthest k are all it ever takes from).
    """
    k, d = centroids.shape
    far_distances, far_rows = np.zeros(0), np.zeros((0, d))
    far_labels = np.zeros(0, np.int32)
    for batch in dataset:
        x, labels, distances = _assign_batch(batch, centroids, centre)
        far_distances = np.concatenate([far_distances, distances.numpy()])
        far_rows = np.concatenate([far_rows, x.numpy()])
        far_labels = np.concatenate([far_labels, labels.numpy()])
        order = np.argsort(-far_distances, kind="stable")[:k]
        far_distances, far_rows = far_distances[order], far_rows[order]
        far_labels = far_labels[order]
    return _relocate_empty(tf.constant(far_rows), k,
                           tf.cast(centroids, tf.float64),
                           tf.constant(far_labels), sums, counts)


def _streaming_labels(dataset, centroids, centre):
    """Labels of every sample in stream order, and the inertia: one pass."""
    labels, inertia = [], 0.0
    for batch in dataset:
        _, batch_labels, distances = _assign_batch(batch, centroids, centre)
        inertia += float(tf.reduce_sum(tf.cast(distances, tf.float64)))
        labels.append(batch_labels.numpy())
    return np.concatenate(labels), inertia


@tf.function
def _minibatch_step(batch, centroids, weights, centre):
    """One mini-batch update (scikit-learn's rule); see minibatch_kmeans."""
    x, labels, _ = _assign_batch(batch, centroids, centre)
    k = centroids.shape[0]
    sums = tf.math.unsorted_segment_sum(x, labels, k)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(labels, x.dtype),
                                          labels, k)
    new_weights = weights + counts
    moved = ((centroids * weights[:, tf.newaxis] + sums)
             / tf.maximum(new_weights, 1)[:, tf.newaxis])
    return tf.where(counts[:, tf.newaxis] > 0, moved, centroids), new_weights


# %% Private: the compiled inner loops. They assume checked input. -----------

def _centred_chunks(samples, n_clusters):
    """Centre the samples and cut them into chunks, in one compiled pass.

    Returns chunks (n_chunks, chunk_size, n_features), padded with zero rows
    that the loops leave out by their index (>= n_samples); the centre
    (n_features,); the mean per-feature variance; and the sum of squares of
    the centred samples (float64). A chunk is as many samples as keep its
    block of distances to every centroid within CHUNK_BYTES; the chunks are
    of equal size, so there is little padding.
    """
    n, n_features = samples.shape
    per_sample = n_clusters * (n_features if _direct_form(n_features) else 1)
    n_chunks = -(-n // max(1, CHUNK_BYTES // (samples.dtype.size
                                               * per_sample)))
    chunk_size = -(-n // n_chunks)
    # Small data (the lessons') run eagerly: compiling would cost more.
    prepare = (_centre_and_pad_xla if n * n_features >= XLA_MIN_VALUES
               else _centre_and_pad)
    return prepare(samples, n_chunks, chunk_size)


def _centre_and_pad(samples, n_chunks, chunk_size):
    """See _centred_chunks; under XLA these steps fuse into few passes."""
    centre, variance = tf.nn.moments(samples, axes=[0])
    centred = samples - centre
    padded = tf.pad(centred, [[0, n_chunks * chunk_size - samples.shape[0]],
                              [0, 0]])
    return (tf.reshape(padded, (n_chunks, chunk_size, samples.shape[1])),
            centre, tf.reduce_mean(variance),
            tf.reduce_sum(tf.cast(centred, tf.float64) ** 2))


_centre_and_pad_xla = tf.function(_centre_and_pad, jit_compile=True)


def _direct_form(n_features):
    """Whether to compute distances from differences rather than a product.

    With very few features a matrix product has too little work per element
    to be fast, and the plain differences are both faster and exact. (It
    broadcasts only a chunk: (n_clusters, n_features, chunk_size).)
    """
    return n_features <= DIRECT_MAX_FEATURES


def _nearest(x, centroids, direct):
    """Index of the nearest centroid for each sample of a chunk x: (m, d).

    `direct` (a Python bool, see _direct_form) picks the formula.
    """
    if direct:
        # Samples along the last axis: the argmin over clusters (axis 0)
        # then runs across many samples at once.
        x_t = tf.transpose(x)                                     # (d, m)
        distances = tf.reduce_sum(
            (x_t[tf.newaxis] - centroids[:, :, tf.newaxis]) ** 2, axis=1)
        return tf.argmin(distances, axis=0, output_type=tf.int32)  # (m,)
    # ||x - c||² = ||x||² - 2 x·c + ||c||²: one matrix product for all
    # pairs, and ||x||² is the same for every centroid, so the argmin can
    # leave it out.
    centroid_sq = tf.reduce_sum(centroids ** 2, axis=1)           # (k,)
    partial = centroid_sq - 2 * tf.matmul(x, centroids, transpose_b=True)
    return tf.argmin(partial, axis=1, output_type=tf.int32)       # (m,)


def _assign_chunks(chunks, centroids, direct):
    """Nearest centroid for every row of chunks: (n_chunks * chunk_size,).

    chunks: (n_chunks, chunk_size, d); centroids: (k, d). `tf.map_fn` runs
    one chunk at a time, so only one chunk's distances exist at once.
    """
    labels = tf.map_fn(lambda x: _nearest(x, centroids, direct), chunks,
                       fn_output_signature=tf.int32)
    return tf.reshape(labels, [-1])


def _squared_distances(flat, centroids, labels):
    """Squared distance of each sample to its own centroid: (n,).

    Computed from the differences, exactly; under XLA the gather, subtract
    and sum fuse into one pass, so no (n, d) copy is made.
    """
    return tf.reduce_sum((flat - tf.gather(centroids, labels)) ** 2, axis=1)


def _cluster_sums(flat, labels, n, k):
    """Per-cluster sums (k, d) and counts (k,) int32 of the first n rows."""
    # Padding rows go to an extra segment k, which is then dropped.
    segments = tf.where(tf.range(tf.shape(labels)[0]) < n, labels, k)
    sums = tf.math.unsorted_segment_sum(flat, segments, k + 1)[:k]
    counts = tf.math.unsorted_segment_sum(tf.ones_like(labels), segments,
                                          k + 1)[:k]
    return sums, counts


def _inertia_from_sums(sum_of_squares, centroids, sums, counts):
    """Inertia of an assignment, from the per-cluster sums alone.

    sum over samples of ||x - c||² = sum ||x||² - 2 sum_j c_j·S_j
    + sum_j n_j ||c_j||², with S_j and n_j the sum and count of cluster j:
    (k, d) work instead of a pass over the data. It subtracts large
    numbers, so it is done in float64.
    """
    c, s = tf.cast(centroids, tf.float64), tf.cast(sums, tf.float64)
    n_j = tf.cast(counts, tf.float64)
    return (sum_of_squares - 2 * tf.reduce_sum(c * s)
            + tf.reduce_sum(n_j * tf.reduce_sum(c ** 2, axis=1)))


def _means_or_keep(sums, counts, fallback):
    """sums / counts per cluster; where a count is 0, the fallback row."""
    counts = tf.cast(counts, sums.dtype)[:, tf.newaxis]
    return tf.where(counts > 0, sums / tf.maximum(counts, 1), fallback)


def _relocate_empty(flat, n, centroids, labels, sums, counts):
    """Give each empty cluster one of the samples farthest from its centroid.

    The i-th empty cluster (in index order) takes the i-th farthest sample,
    which leaves the cluster it was in: scikit-learn's rule.
    """
    k = tf.shape(sums)[0]
    empty = counts == 0
    distances = _squared_distances(flat, centroids, labels)
    distances = tf.where(tf.range(tf.shape(labels)[0]) < n, distances, -1)
    farthest = tf.math.top_k(distances, k=k).indices               # (k,)
    rank = tf.maximum(tf.cumsum(tf.cast(empty, tf.int32)) - 1, 0)
    donors = tf.gather(farthest, rank)         # a sample for each cluster
    moved = tf.gather(flat, donors)                                  # (k, d)
    losers = tf.where(empty, tf.gather(labels, donors), k)
    sums -= tf.math.unsorted_segment_sum(moved, losers, k + 1)[:k]
    counts -= tf.math.unsorted_segment_sum(
        tf.ones_like(counts), losers, k + 1)[:k]
    sums = tf.where(empty[:, tf.newaxis], moved, sums)
    counts = tf.where(empty, tf.ones_like(counts), counts)
    return sums, counts


def _lloyd_step(flat, chunks, n, centroids, sum_of_squares, direct):
    """One Lloyd iteration. Returns labels, inertia and new centroids.

    The inertia is that of `centroids`, the ones the samples were assigned
    to. A cluster left empty takes the sample farthest from its centroid.
    """
    k = tf.shape(centroids)[0]
    labels = _assign_chunks(chunks, centroids, direct)
    sums, counts = _cluster_sums(flat, labels, n, k)
    inertia = _inertia_from_sums(sum_of_squares, centroids, sums, counts)
    sums, counts = tf.cond(
        tf.reduce_any(counts == 0),
        lambda: _relocate_empty(flat, n, centroids, labels, sums, counts),
        lambda: (sums, counts))
    return labels, inertia, _means_or_keep(sums, counts, centroids)


def _lloyd_loop(chunks, n, sum_of_squares, centroids, labels, i, until,
                threshold, history, direct):
    """Lloyd's iterations i, i+1, ... until-1 in one graph: no Python runs
    between iterations.

    Stops early when no label changes, or when the centroids move (summed
    squared shift) by at most `threshold`. `labels` are the previous
    iteration's (-1 before the first). `history`, of shape (2, max_iter),
    gets each iteration's inertia and shift; `sum_of_squares` is that of
    all samples, for the inertia (see _inertia_from_sums). Returns the next
    i, the centroids and labels, the stop code (an index into STOP_REASONS;
    0 while still running) and the history.
    """
    flat = tf.reshape(chunks, (-1, tf.shape(chunks)[-1]))       # a view

    def not_done(i, centroids, labels, stop, history):
        return tf.logical_and(i < until, stop == 0)

    def iterate(i, centroids, old_labels, stop, history):
        labels, inertia, new_centroids = _lloyd_step(
            flat, chunks, n, centroids, sum_of_squares, direct)
        shift = tf.reduce_sum((new_centroids - centroids) ** 2)
        stop = tf.where(tf.reduce_all(labels == old_labels), 1,
                        tf.where(shift <= threshold, 2, 0))
        history = tf.tensor_scatter_nd_update(
            history, [[0, i], [1, i]],
            tf.stack([tf.cast(inertia, shift.dtype), shift]))
        return i + 1, new_centroids, labels, stop, history

    return tf.while_loop(not_done, iterate,
                         (i, centroids, labels, tf.constant(0), history))


def _final_assignment(chunks, n, centroids, direct):
    """Labels for the final centroids, and their inertia."""
    flat = tf.reshape(chunks, (-1, tf.shape(chunks)[-1]))
    labels = _assign_chunks(chunks, centroids, direct)
    return labels, tf.reduce_sum(_squared_distances(flat, centroids,
                                                    labels)[:n])


# Each compiled twice: with XLA for large data, as a plain graph for small.
# reduce_retracing: one trace serves all shapes (XLA still compiles each
# shape once, and caches it).
_COMPILED = {
    xla: (tf.function(_lloyd_loop, jit_compile=xla, reduce_retracing=True),
          tf.function(_final_assignment, jit_compile=xla,
                      reduce_retracing=True))
    for xla in (True, False)}


def _lloyd(chunks, n, sum_of_squares, centroids, max_iter, threshold,
           progress=None):
    """Run the compiled loop and return a KMeansResult (centred, padded).

    Without `progress`, all iterations run in one call. With it, they run
    in bursts of about PROGRESS_SECONDS, and progress(n_iter, max_iter,
    inertia, shift) is called after each burst.
    """
    xla = n * chunks.shape[-1] >= XLA_MIN_VALUES
    loop, final = _COMPILED[xla]
    direct = _direct_form(chunks.shape[-1])
    dtype = chunks.dtype
    n_rows = chunks.shape[0] * chunks.shape[1]
    labels = -tf.ones((n_rows,), tf.int32)
    history = tf.zeros((2, max(max_iter, 1)), dtype)
    threshold = tf.constant(threshold, dtype)
    i, stop, burst = 0, 0, max_iter if progress is None else 1
    while i < max_iter and stop == 0:
        started = time.perf_counter()
        until = min(i + burst, max_iter)
        next_i, centroids, labels, stop, history = loop(
            chunks, tf.constant(n), sum_of_squares, centroids, labels,
            tf.constant(i), tf.constant(until), threshold, history, direct)
        next_i, stop = int(next_i), int(stop)
        if progress is not None:
            progress(next_i, max_iter, float(history[0, next_i - 1]),
                     float(history[1, next_i - 1]))
            seconds_each = (time.perf_counter() - started) / (next_i - i)
            burst = max(1, int(PROGRESS_SECONDS / seconds_each))
        i = next_i
    labels, inertia = final(chunks, tf.constant(n), centroids, direct)
    return KMeansResult(centroids.numpy(), labels.numpy(), float(inertia),
                        i, stop > 0, STOP_REASONS[stop],
                        history[0, :i].numpy(), history[1, :i].numpy())


@tf.function(reduce_retracing=True)
def _kmeans_plus_plus(samples, n_clusters, n_trials, seed):
    """Indices of the k-means++ centroids; samples centred, checked.

    Randomness is stateless: step i draws from `seed` folded with i, so the
    same seed gives the same choice in every process.
    """
    n = tf.shape(samples)[0]
    first = tf.random.stateless_uniform((), seed, 0, n, dtype=tf.int32)

    def squared_distances(index):                     # to one sample: (n,)
        return tf.reduce_sum((samples - samples[index]) ** 2, axis=1)

    def choose_next(i, chosen, closest):
        # D² sampling: a uniform draw on the running total of D² lands in a
        # sample's interval with probability D² / total. float64 keeps the
        # running total exact enough for millions of samples.
        total = tf.cumsum(tf.cast(closest, tf.float64))
        step_seed = tf.random.experimental.stateless_fold_in(seed, i)
        draws = tf.random.stateless_uniform((n_trials,), step_seed,
                                            dtype=tf.float64) * total[-1]
        candidates = tf.minimum(tf.searchsorted(total, draws), n - 1)
        potentials = tf.map_fn(
            lambda c: tf.reduce_sum(tf.minimum(closest, squared_distances(c))),
            candidates, fn_output_signature=closest.dtype)
        best = candidates[tf.argmin(potentials)]
        closest = tf.minimum(closest, squared_distances(best))
        return i + 1, chosen.write(i, best), closest

    chosen = tf.TensorArray(tf.int32, size=n_clusters).write(0, first)
    _, chosen, _ = tf.while_loop(
        lambda i, *_: i < n_clusters, choose_next,
        (tf.constant(1), chosen, squared_distances(first)))
    return chosen.stack()


def _generator(seed):
    """A tf.random.Generator: seeded, or from fresh entropy if seed is None."""
    if seed is None:
        return tf.random.Generator.from_non_deterministic_state()
    return tf.random.Generator.from_seed(int(seed))


# %% Private: input checks, at the public boundary only ----------------------

def _check_samples(samples, name="samples"):
    """A finite, non-empty 2-D float tensor (float32 kept, else float64)."""
    if isinstance(samples, tf.Tensor):
        samples = samples.numpy()
    try:
        array = np.asarray(samples)
    except ValueError as error:   # ragged lists
        raise ValueError(f"{name} must be a 2-D array of numbers with rows "
                         f"of equal length; got {error}") from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers; got dtype "
                        f"{array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, of shape (n_samples, "
                         f"n_features); got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must not be empty; got shape {array.shape}")
    if array.dtype != np.float32:
        array = array.astype(np.float64, copy=False)
    # A sum is finite when every value is (one quick pass); only if it is
    # not do we look for where.
    if not np.isfinite(array.sum(dtype=np.float64)):
        bad = ~np.isfinite(array)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"{name} must be finite; got {array[row, col]} "
                             f"at row {row}, column {col} ({bad.sum()} such "
                             f"values)")
    return tf.constant(array)


def _check_int(value, name, minimum, maximum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else \
            f"between {minimum} and {maximum}"
        raise ValueError(f"{name}={value} should be {bound}")
    return int(value)


def _check_number(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, float,
                                                         np.number)):
        raise TypeError(f"{name} must be a number; got {value!r}")
    if not value >= minimum:   # also catches NaN
        raise ValueError(f"{name}={value} should be >= {minimum}")
    return float(value)


def _check_n_clusters(n_clusters, n_samples):
    if isinstance(n_clusters, (int, np.integer)) and not isinstance(
            n_clusters, bool) and n_clusters > n_samples:
        raise ValueError(f"n_samples={n_samples} should be >= "
                         f"n_clusters={n_clusters}")
    return _check_int(n_clusters, "n_clusters", 1)


def _check_centroids(centroids, samples, name="centroids", n_clusters=None):
    centroids = _check_samples(centroids, name)
    if centroids.shape[1] != samples.shape[1]:
        raise ValueError(f"{name} must have the samples' {samples.shape[1]} "
                         f"features; got shape {tuple(centroids.shape)}")
    if n_clusters is not None and centroids.shape[0] != n_clusters:
        raise ValueError(f"{name} must have n_clusters={n_clusters} rows; "
                         f"got shape {tuple(centroids.shape)}")
    return tf.cast(centroids, samples.dtype)


def _check_labels(labels, n_samples, n_clusters):
    array = np.asarray(labels)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"labels must be integers; got dtype {array.dtype}")
    if array.shape != (n_samples,):
        raise ValueError(f"labels must have one entry per sample, shape "
                         f"({n_samples},); got shape {array.shape}")
    if array.min() < 0 or array.max() >= n_clusters:
        raise ValueError(f"labels must be in [0, {n_clusters}); got values "
                         f"from {array.min()} to {array.max()}")
    return tf.constant(array, tf.int32)


def _check_init(init, samples, n_clusters):
    """None for a named method, else the starting centroids as a tensor."""
    if isinstance(init, str):
        if init not in INIT_METHODS:
            raise ValueError(f"init must be one of {INIT_METHODS} or an "
                             f"array of centroids; got {init!r}")
        return None
    return _check_centroids(init, samples, "init", n_clusters)
