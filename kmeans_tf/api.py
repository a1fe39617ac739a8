"""The public functions that run k-means, checking their arguments once
(through `checks`) before any work.

`kmeans` picks the path (in memory, or a stream and strategy), runs the
best of n_init starts (`init`, then `lloyd.run`, `bounded.run` or
`stream.lloyd`), and has `results.build` turn the winning run's tuple into
a `KMeansResult`. A stream's values can only be checked as they pass:
`stream.scan` does it. (The scores, `silhouette_score` and `bic_score`, are
in `metrics`.)
"""
import os
import warnings

import numpy as np

from . import bounded, distances, init as starts, lloyd, shard, stream
from ._tensorflow import tf
from .checks import (check_callable, check_centroids, check_choice,
                     check_dataset, check_init, check_int, check_metric,
                     check_n_clusters, check_number, check_paths,
                     check_log_dir, check_sample_weight, check_samples,
                     check_seed, check_strategy, unit_rows)
from .results import (Throttled, build, in_units, warn_if_unsettled,
                      write_history)

# Rows per batch when an array is streamed (under a strategy).
STREAM_BATCH_SIZE = 65536
# Valid names for `kmeans(algorithm=...)`.
ALGORITHMS = ("auto", "lloyd", "bounded")


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
        lowest inertia. With an array `init` there is one start, so one run
        (and a RuntimeWarning says so, as scikit-learn's does).
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
        Hamerly's and Yinyang's bounds skip the samples that provably keep
        their cluster (`kmeans_tf.bounded`), for more than 4 features
        (with fewer it runs Lloyd); Lloyd's iterations and result, to float
        rounding: its sums are float64, so on float32 data near-ties, and
        the runs that hinge on them, may go otherwise. "auto" may take the
        bounds for more than 4 features when n_features * n_clusters is at
        least 2,048 and an iteration at least 50 million multiply-adds
        (`bounded.worth_it`): it runs Lloyd's loop first, and takes the
        bounds once a probe of about 2,000 samples finds that they would
        prove the clusters of three quarters of them, going back to
        Lloyd's loop if they then fail; measured to convergence at 200,000
        x 64, k=64 from a k-means++ start, 381 ms against scikit-learn
        Lloyd's 1,137 on a 2-core Xeon (benchmark.py; the README has
        more).
        On data with no clusters it keeps to Lloyd's loop. The result is
        the same either way. Streams, strategies and the cosine metric
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
    log_dir = check_log_dir(log_dir)
    spherical = check_metric(metric) == "cosine"
    algorithm = check_choice(algorithm, "algorithm", ALGORITHMS)
    report = (Throttled(progress) if check_callable(progress, "progress")
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
                                strategy, reported, radius)
    else:
        pool, largest = check_samples(samples, magnitude=True)
        n_clusters = check_n_clusters(n_clusters, len(pool))
        weights = check_sample_weight(sample_weight, len(pool), pool.dtype)
        if spherical:
            pool = unit_rows(pool)
            largest = distances.largest_magnitude(pool)
        scale = distances.power_of_two_scale(largest)
        data = distances.centred_chunks(pool, n_clusters, scale, weights,
                                        centre=not spherical, counted=True)
        centre, threshold = data.centre, tol * float(data.variance)

        # Bounds only where distances come from a matrix product (more
        # than 4 features): with fewer, Lloyd's differences round otherwise.
        bounds = not spherical and (
            (algorithm == "bounded"
             and not distances.direct_form(pool.shape[1]))
            or (algorithm == "auto"
                and bounded.worth_it(*pool.shape, n_clusters)))

        def run(start):
            if bounds:
                return bounded.run(data, start, max_iter, threshold,
                                   reported, auto=algorithm == "auto")
            return lloyd.run(data, start, max_iter, threshold, reported,
                             radius)

    radius = scale if spherical else None      # the scaled samples' length
    reported = in_units(report, scale, spherical)
    init = check_init(init, pool, n_clusters)
    if not isinstance(init, str) and n_init > 1:
        warnings.warn(f"n_init={n_init} is ignored: init is an array, one "
                      f"start, so there is one run", RuntimeWarning,
                      stacklevel=2)
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
        this = build(run(tf.cast(start, centre.dtype) * scale - centre),
                     scale, centre, halve=spherical)
        if log_dir is not None:
            write_history(os.path.join(log_dir, f"run_{index}"), this)
        if result is None or this.inertia < result.inertia:
            result = this                       # the lowest inertia kept
    if report and result.n_iter:
        report.last(result.n_iter, max_iter, result.inertia_history[-1],
                    result.shift_history[-1])
    warn_if_unsettled(result, n_clusters, max_iter,
                      weighted=sample_weight is not None)
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
    return build(run, scan.scale, scan.centre, "ran max_steps batches")


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
    report = (Throttled(progress) if check_callable(progress, "progress")
              else None)
    check_int(n_clusters, "n_clusters", 1)          # before a whole pass
    workers = shard.Workers(strategy)
    if seed is None:                    # worker 0's draw, for every worker
        seed = int(workers.gather(np.array([_run_seeds(None, 1)[0]]))[0, 0])
    problems = []
    dataset = shard.file_batches(workers.share(paths), read, batch_size,
                                 problems)
    try:
        scan = stream.scan(dataset, seed, workers=workers)
        n_clusters = check_n_clusters(n_clusters, scan.n)
        init = check_init(init, scan.sample, n_clusters)
        start = starts.initial_centroids(init, scan.sample, n_clusters,
                                         seed, scan.sample_weight)
        scale = tf.constant(scan.scale, tf.float64)
        scaled = dataset.map(lambda batch, weights: (batch * scale,
                                                     weights))
        run = stream.lloyd(scaled, scan.centre, start * scale - scan.centre,
                           max_iter, tol * scan.variance, shard.LOCAL,
                           in_units(report, scan.scale), workers=workers)
    except tf.errors.OpError:
        if problems:                          # a file could not be read
            raise problems[0] from None
        raise
    return build(run, scan.scale, scan.centre)


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
    beyond a centred copy of the samples it needs only about 64 MB for
    distances, however many samples there are (see `kmeans_tf.distances`).
    """
    samples = check_samples(samples)
    centroids = check_centroids(centroids, samples)
    return distances.assign(samples, centroids).numpy()


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


def _run_seeds(seed, n_runs):
    """One int seed per run: seed, seed + 1, ...; a random first if None."""
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31))
    return [seed + run for run in range(n_runs)]
