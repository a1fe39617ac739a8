"""The public functions: the engine's only module that checks arguments
(through `checks`) and builds results.

`kmeans` picks the path (in memory, or a stream and strategy), checks its
arguments once, runs the best of n_init starts (`init`, then `lloyd.run` or
`stream.lloyd`), and turns the winning run's tuple into a `KMeansResult`.
A stream's values can only be checked as they pass: `stream.scan` does it.
"""
import os
import time
import warnings
from typing import NamedTuple

import numpy as np

from . import (bounded, distances, init as starts, lloyd, metrics, shard,
               stream)
from ._tensorflow import tf
from .checks import (check_centroids, check_dataset, check_init, check_int,
                     check_labels, check_metric, check_n_clusters,
                     check_callable, check_choice, check_number,
                     check_paths,
                     check_sample_weight,
                     check_samples, check_seed, check_strategy, unit_rows)

# Rows per batch when an array is streamed (under a strategy).
STREAM_BATCH_SIZE = 65536
# Valid names for `kmeans(algorithm=...)`.
ALGORITHMS = ("auto", "lloyd", "bounded")


class ConvergenceWarning(UserWarning):
    """k-means did not settle: max_iter cut it short, or it found fewer
    distinct clusters than asked for. Filter it like any warning:
    ``warnings.simplefilter("ignore", kmeans_tf.ConvergenceWarning)``."""


class KMeansResult(NamedTuple):
    """What `kmeans` and `minibatch_kmeans` return: NumPy arrays and plain
    Python numbers.

    centroids : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,), int32; each sample's nearest
        centroid among the returned `centroids`.
    inertia : float, total squared distance of samples to their nearest
        centroid (scikit-learn's `inertia_`), weighted by sample_weight;
        for metric="cosine", the sum of 1 - cosine similarity.
    n_iter : int, Lloyd iterations run (mini-batch steps for
        `minibatch_kmeans`).
    converged : bool, whether it settled (labels or centroids) rather than
        being stopped by `max_iter`.
    stop_reason : str, why it stopped: one of `lloyd.STOP_REASONS`
        ("ran max_steps batches" for `minibatch_kmeans`).
    inertia_history, shift_history : ndarray of shape (n_iter,)
        Per iteration: the inertia of the centroids it started from, and the
        summed squared distance the centroids then moved. Empty for
        `minibatch_kmeans`.
    """
    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    stop_reason: str
    inertia_history: np.ndarray
    shift_history: np.ndarray


def kmeans(samples, n_clusters, *, sample_weight=None, metric="euclidean",
           init="k-means++", n_init=1, max_iter=300, tol=1e-4, seed=None,
           progress=None, strategy=None, log_dir=None, algorithm="auto"):
    """Cluster samples with k-means (Lloyd's algorithm) until it converges.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features), or a
        tf.data.Dataset of batches of shape (batch_size, n_features), or of
        (batch, weights) pairs with weights of shape (batch_size,)
        Numeric and finite: lists, NumPy arrays, tensors. float32 is kept as
        float32, anything else is computed in float64. A Dataset is
        streamed: every iteration is one exact pass over it, so the data
        need not fit in memory; the start is chosen from a seeded sample of
        10,000 of its rows, taken in a first pass (all of them, in order,
        when there are no more).
    n_clusters : int, 1 <= n_clusters <= n_samples
    sample_weight : array-like of shape (n_samples,), optional
        Weights >= 0, scikit-learn's meaning: a sample of weight 2 counts
        as two copies of it, in the means, the inertia and the k-means++ or
        random start. For a Dataset, give (batch, weights) pairs instead.
    metric : {"euclidean", "cosine"}
        "cosine" is spherical k-means: samples are compared by the angle
        between them (rows of zeros are refused), each centroid is the mean
        of its members put back at length 1, and the inertia is the sum of
        1 - cosine similarity.
    init : {"k-means++", "random"} or array-like of shape (n_clusters,
        n_features)
        "k-means++": greedy D² sampling, as scikit-learn's. "random":
        n_clusters distinct samples, uniformly at random. An array: start
        from these.
    n_init : int
        Run this many times from different starts and keep the run with the
        lowest inertia. With an array `init` there is one start, so one run.
    max_iter : int >= 0
    tol : float >= 0
        Stop when the centroids' summed squared movement in one iteration is
        at most tol times the mean per-feature variance of the samples
        (scikit-learn's meaning). It also stops when no label changes.
    seed : int in [0, 2**32), optional
        Seeds the starts; the same seed gives the same result. Run i of
        n_init (from 0) starts from seed + i, so a single run with
        init="random" starts from the lesson's
        `choose_random_centroids(samples, n_clusters, seed)`. Without a
        seed, the first run's seed is drawn at random.
    progress : callable, optional
        Called as progress(n_iter, max_iter, inertia, shift) at most about
        twice a second while it runs (and once at the end), for a progress
        line on long runs. Without it, in memory, all iterations run in one
        compiled call.
    strategy : tf.distribute.Strategy, optional
        Spread each iteration over the strategy's replicas (GPUs, logical
        CPUs, or machines with MultiWorkerMirroredStrategy): each replica
        sums and counts its share of the samples per cluster, and one
        all-reduce adds them up. From the same start the result equals the
        single-device one to float rounding (an array's start is chosen as
        in memory; a Dataset's from its sample, see `samples`).
    log_dir : str or path, optional
        Write each run's inertia and shift, per iteration, for TensorBoard:
        run i to log_dir/run_i (`tensorboard --logdir log_dir`).
    algorithm : {"auto", "lloyd", "bounded"}
        "lloyd": every distance, every iteration, compiled. "bounded":
        Hamerly's bounds skip the samples that provably keep their cluster
        (`kmeans_tf.bounded`); the same labels, centroids and iterations.
        "auto" is "lloyd" for now: measured on 2 cores, the bounds won only
        with many well-separated clusters (100,000 x 16, k=256: 440 ms
        against 741) and lost elsewhere (200,000 x 64, k=64, overlapping:
        2.8 s against 1.8 s). Streams, strategies and the cosine metric
        always run Lloyd.

    Returns
    -------
    KMeansResult

    Warns
    -----
    ConvergenceWarning
        When max_iter stops the kept run before it converged, and when it
        found fewer distinct clusters than n_clusters (duplicate samples).

    Notes
    -----
    Empty clusters: when clusters have no samples, the first takes the
    sample farthest from its own centroid (among all samples), the second
    the next farthest, and so on, as scikit-learn does, so from the same
    start the two agree. Precision: the samples are scaled by a power of
    two and centred first (k-means changes under neither), which keeps
    the expanded distance formula accurate for data far from the origin
    and keeps squares from overflowing.
    """
    n_init = check_int(n_init, "n_init", 1)
    max_iter = check_int(max_iter, "max_iter", 0)
    tol = check_number(tol, "tol", 0)
    seed = check_seed(seed)
    strategy = check_strategy(strategy)
    spherical = check_metric(metric) == "cosine"
    algorithm = check_choice(algorithm, "algorithm", ALGORITHMS)
    report = (_Throttled(progress) if check_callable(progress, "progress")
              else None)
    if isinstance(samples, tf.data.Dataset) or strategy is not None:
        check_int(n_clusters, "n_clusters", 1)      # before a whole pass
        dataset, scan = _scanned(samples, seed, sample_weight, spherical)
        n_clusters = check_n_clusters(n_clusters, scan.n)
        pool, weights = scan.sample, scan.sample_weight
        scale, centre = scan.scale, scan.centre
        threshold = tol * scan.variance
        strategy = strategy or tf.distribute.get_strategy()

        def run(start):
            return stream.lloyd(dataset, centre, start, max_iter, threshold,
                                strategy, report, radius)
    else:
        pool = check_samples(samples)
        n_clusters = check_n_clusters(n_clusters, len(pool))
        weights = check_sample_weight(sample_weight, len(pool), pool.dtype)
        if spherical:
            pool = unit_rows(pool)
        scale = distances.power_of_two_scale(
            distances.largest_magnitude(pool))
        data = distances.centred_chunks(pool, n_clusters, scale, weights,
                                        centre=not spherical)
        centre, threshold = data.centre, tol * float(data.variance)

        def run(start):
            if algorithm == "bounded" and not spherical:
                return bounded.run(data, start, max_iter, threshold, report)
            return lloyd.run(data, start, max_iter, threshold, report,
                             radius)

    radius = scale if spherical else None      # the scaled samples' length
    init = check_init(init, pool, n_clusters)
    if spherical and not isinstance(init, str):
        init = unit_rows(init, "init")
    # Every start first: then the checked copy of the samples can go before
    # the runs, which need only their chunks (memory at 10M samples).
    runs = [starts.initial_centroids(init, pool, n_clusters, run_seed,
                                     weights)
            for run_seed in _run_seeds(seed, 1 if not isinstance(init, str)
                                       else n_init)]
    del pool
    result = None
    for index, start in enumerate(runs):
        this = _result(run(tf.cast(start, centre.dtype) * scale - centre),
                       scale, centre, halve=spherical)
        if log_dir is not None:
            _write_history(os.path.join(os.fspath(log_dir), f"run_{index}"),
                           this)
        if result is None or this.inertia < result.inertia:
            result = this                       # the lowest inertia kept
    if report and result.n_iter:
        report.last(result.n_iter, max_iter, result.inertia_history[-1],
                    result.shift_history[-1])
    _warn_if_unsettled(result, n_clusters, max_iter)
    return result


def minibatch_kmeans(samples, n_clusters, *, sample_weight=None,
                     batch_size=1024, max_steps=200, init="k-means++",
                     seed=None):
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
        tf.data.Dataset of batches or (batch, weights) pairs (then
        `batch_size` is its own).
    n_clusters : int
    sample_weight : array-like of shape (n_samples,), optional
        As for `kmeans`.
    batch_size : int, samples per step for array input.
    max_steps : int, mini-batches to take.
    init, seed : as for `kmeans`; the start comes from a seeded sample.

    Returns
    -------
    KMeansResult; labels (in the samples' order) and inertia from one full
    pass at the end; n_iter is max_steps.
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    max_steps = check_int(max_steps, "max_steps", 0)
    seed = check_seed(seed)
    check_int(n_clusters, "n_clusters", 1)          # before a whole pass
    dataset, scan = _scanned(samples, seed, sample_weight)
    n_clusters = check_n_clusters(n_clusters, scan.n)
    init = check_init(init, scan.sample, n_clusters)
    seed = _run_seeds(seed, 1)[0]
    start = starts.initial_centroids(init, scan.sample, n_clusters, seed,
                                     scan.sample_weight)
    steps = dataset
    if not isinstance(samples, tf.data.Dataset):
        steps = dataset.unbatch().shuffle(
            min(scan.n, 1_000_000), seed=seed).batch(batch_size)
    run = stream.minibatch(steps, dataset, scan.centre,
                           start * scan.scale - scan.centre, max_steps)
    return _result(run, scan.scale, scan.centre, "ran max_steps batches")


def kmeans_files(paths, n_clusters, *, init="k-means++", max_iter=300,
                 tol=1e-4, seed=None, strategy=None, batch_size=65536,
                 read=None, progress=None):
    """k-means over the samples of many files; under a
    MultiWorkerMirroredStrategy each worker reads only its share of them.

    Parameters
    ----------
    paths : sequence of str or path
        The files, every one with the same number of columns: .npy arrays,
        or CSV files of numbers (a header row is skipped). Every worker
        must be given the same list; worker w of W reads files w, w + W,
        ... (see `kmeans_tf.shard`).
    n_clusters, init, max_iter, tol, progress : as for `kmeans`
    seed : int, optional
        Seeds the start; without it, worker 0 draws one for all.
    strategy : tf.distribute.Strategy, optional
        A MultiWorkerMirroredStrategy to share the files among its
        workers; without it, one process reads them all.
    batch_size : int
        Rows read and assigned at a time.
    read : callable, optional
        read(path) -> array-like (n, n_features); the default reads .npy
        (memory-mapped) and CSV.

    Returns
    -------
    KMeansResult, the same on every worker but for `labels`: those of this
    worker's own files, in the order of `Workers(strategy).share(paths)`.
    Label other files with `assign_labels`.
    """
    paths = check_paths(paths)
    max_iter = check_int(max_iter, "max_iter", 0)
    tol = check_number(tol, "tol", 0)
    seed = check_seed(seed)
    batch_size = check_int(batch_size, "batch_size", 1)
    strategy = check_strategy(strategy) or tf.distribute.get_strategy()
    read = check_callable(read, "read") or shard.read_array
    report = (_Throttled(progress) if check_callable(progress, "progress")
              else None)
    check_int(n_clusters, "n_clusters", 1)          # before a whole pass
    workers = shard.Workers(strategy)
    if seed is None:                    # worker 0's draw, for every worker
        seed = int(workers.gather(np.array([_run_seeds(None, 1)[0]]))[0, 0])
    dataset = shard.file_batches(workers.share(paths), read, batch_size)
    scan = stream.scan(dataset, seed, workers=workers)
    n_clusters = check_n_clusters(n_clusters, scan.n)
    init = check_init(init, scan.sample, n_clusters)
    start = starts.initial_centroids(init, scan.sample, n_clusters, seed,
                                     scan.sample_weight)
    scale = tf.constant(scan.scale, tf.float64)
    scaled = dataset.map(lambda batch, weights: (batch * scale, weights))
    run = stream.lloyd(scaled, scan.centre, start * scale - scan.centre,
                       max_iter, tol * scan.variance, shard.LOCAL, report,
                       workers=workers)
    return _result(run, scan.scale, scan.centre)


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
    samples = check_samples(samples)
    n_clusters = check_n_clusters(n_clusters, len(samples))
    seed = _run_seeds(check_seed(seed), 1)[0]
    return starts.initial_centroids("k-means++", samples, n_clusters, seed)


def assign_labels(samples, centroids):
    """Index of the nearest centroid for every sample, in bounded memory.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    centroids : array-like of shape (n_clusters, n_features)

    Returns
    -------
    ndarray of shape (n_samples,), int32

    Notes
    -----
    The same assignment `kmeans` uses: a chunk of samples at a time, so
    beyond a centred copy of the samples it needs only about 32 MB for
    distances, however many samples there are (see `kmeans_tf.distances`).
    """
    samples = check_samples(samples)
    centroids = check_centroids(centroids, samples)
    return distances.assign(samples, centroids).numpy()


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
        Rows of the (n_samples, n_samples) distance matrix held at once.
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
    labels = check_labels(labels, n, n)
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
        raise ValueError(f"labels must have between 2 and n_samples - 1 = "
                         f"{n - 1} distinct values; got {n_labels}")
    return metrics.silhouette(samples, labels, chunk_size)


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
    return metrics.bic(samples * scale, centroids * scale, scale)


def _scanned(samples, seed, sample_weight=None, spherical=False):
    """A stream of checked (batch, weights) pairs, scaled (see
    `distances`), and its first pass (`stream.scan`). The scan's sample
    weights are None when no weights were given."""
    if isinstance(samples, tf.data.Dataset):
        if sample_weight is not None:
            raise TypeError("sample_weight is for arrays; give a Dataset of "
                            "(batch, weights) pairs instead")
        weighted = isinstance(samples.element_spec, tuple)
        dataset = check_dataset(samples)
        if spherical:
            dataset = dataset.map(lambda batch, weights: (
                tf.math.divide_no_nan(batch, tf.norm(
                    batch, axis=1, keepdims=True)), weights))
        scan = stream.scan(dataset, seed, spherical)
    else:
        # An array in memory: its start is chosen from all of it, as in
        # memory.
        checked = check_samples(samples)
        weights = check_sample_weight(sample_weight, len(checked),
                                      checked.dtype)
        weighted = weights is not None
        if spherical:
            checked = unit_rows(checked)
        dataset = tf.data.Dataset.from_tensor_slices((checked, (
            weights if weighted else tf.ones(len(checked), checked.dtype))
        )).batch(STREAM_BATCH_SIZE)
        scan = stream.scan(dataset, seed, spherical)._replace(
            sample=checked, sample_weight=weights)
    if not weighted:
        scan = scan._replace(sample_weight=None)
    scale = tf.constant(scan.scale, dataset.element_spec[0].dtype)
    return dataset.map(lambda batch, weights: (batch * scale, weights)), scan


class _Throttled:
    """A progress callback called at most every lloyd.PROGRESS_SECONDS,
    however many runs there are; `last` always reports the end."""

    def __init__(self, progress):
        self.progress, self.since, self.said = progress, -np.inf, None

    def __call__(self, *values):
        if time.perf_counter() - self.since >= lloyd.PROGRESS_SECONDS:
            self.last(*values)

    def last(self, *values):
        values = tuple(float(v) if i >= 2 else int(v)
                       for i, v in enumerate(values))
        if values != self.said:
            self.progress(*values)
            self.since, self.said = time.perf_counter(), values


def _run_seeds(seed, n_runs):
    """One int seed per run: seed, seed + 1, ...; a random first if None."""
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    return [seed + run for run in range(n_runs)]


def _result(run, scale, centre, stop_reason=None, halve=False):
    """The KMeansResult of a runner's tuple, in the samples' units.

    The runners work on samples * scale - centre; squared distances come
    back in scale² units. Dividing by a power of two is exact; a true
    inertia beyond the float range becomes inf, never NaN. For unit-length
    samples (`halve`, the cosine metric), 1 - cos = |x - c|² / 2.
    """
    centroids, labels, inertia, n_iter, stop, inertias, shifts = run

    def unscale_squares(values):      # twice: scale² itself may underflow
        with np.errstate(over="ignore"):
            return np.asarray(values, np.float64) / scale / scale

    half = 0.5 if halve else 1.0
    return KMeansResult((centroids + centre.numpy()) / scale, labels,
                        float(unscale_squares(inertia)) * half, n_iter,
                        stop > 0, stop_reason or lloyd.STOP_REASONS[stop],
                        unscale_squares(inertias) * half,
                        unscale_squares(shifts))


def _warn_if_unsettled(result, n_clusters, max_iter):
    """ConvergenceWarning for a run max_iter cut short, or fewer distinct
    clusters than asked for."""
    if max_iter and result.stop_reason == lloyd.STOP_REASONS[0]:
        warnings.warn(f"k-means stopped at max_iter={max_iter} before it "
                      f"converged; raise max_iter, or tol", ConvergenceWarning,
                      stacklevel=3)
    found = len(np.unique(result.labels))
    if found < n_clusters:
        warnings.warn(f"found {found} distinct clusters, fewer than "
                      f"n_clusters={n_clusters}: the samples have fewer "
                      f"distinct values than that", ConvergenceWarning,
                      stacklevel=3)


def _write_history(folder, result):
    """A run's inertia and shift per iteration, for TensorBoard.

    `tf.summary.write` with the "scalars" plugin's tag is what
    `tf.summary.scalar` writes, without needing the tensorboard package
    installed to write it.
    """
    from tensorflow.core.framework import summary_pb2

    scalars = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="scalars"))
    writer = tf.summary.create_file_writer(folder)
    with writer.as_default():
        for step, (inertia, shift) in enumerate(zip(result.inertia_history,
                                                    result.shift_history)):
            tf.summary.write("inertia", inertia, step, metadata=scalars)
            tf.summary.write("shift", shift, step, metadata=scalars)
    writer.close()
