"""k-means over a tf.data stream, under tf.distribute, and in mini-batches.

A stream is never held in memory: each Lloyd iteration is one exact pass
over it, in which every batch is assigned and its per-cluster sums and
counts are added up (`epoch_statistics`). Under a `tf.distribute.Strategy`
each replica takes its share of every batch and one all-reduce adds the
replicas' statistics. Everything here assumes checked input: batches of
(batch_size, n_features) in float32 or float64 (`checks.check_dataset`),
centroids in centred coordinates.
"""
from typing import NamedTuple

import numpy as np

from ._tensorflow import tf
from .checks import check_magnitude
from .distances import (direct_form, nearest, power_of_two_scale,
                        squared_distances)
from .lloyd import stop_code
from .stats import cluster_sums, means_or_keep, on_sphere, relocate_empty

# Rows kept from a stream, in its first pass, to choose the start from.
INIT_SAMPLE_SIZE = 10_000


class Scan(NamedTuple):
    """What one pass over a stream tells: its size; the power of two that
    scales it (see `distances.power_of_two_scale`); its centre (n_features,)
    and mean per-feature variance, in scaled units; and a seeded sample of
    its rows, unscaled, with their weights."""
    n: int
    scale: float
    centre: tf.Tensor
    variance: float
    sample: tf.Tensor
    sample_weight: tf.Tensor


def scan(dataset, seed, spherical=False, workers=None):
    """One pass over a Dataset of (batch, weights) pairs: count the samples,
    their mean and variance (in float64), check every value is finite and
    every batch as wide as the first, and keep a seeded uniform sample of
    INIT_SAMPLE_SIZE rows (each row gets a random key; the rows with the
    smallest keys are kept). For spherical k-means (`spherical`, the
    batches already of unit length) the centre is zero and a row of zeros,
    which has no direction, is refused.

    The sums are kept in units of the largest magnitude seen so far (a
    power of two); when a batch raises it, the sums are rescaled, exactly,
    so no square overflows whatever the data's size.

    With `workers` (a `shard.Workers`), each worker scans its own share and
    the counts, sums and samples of all shares are combined: every worker
    gets the same Scan.
    """
    if workers is None:
        totals = _scan_share(dataset, seed, spherical, INIT_SAMPLE_SIZE)
    else:                    # a sample of each share: one of all, pooled
        size = -(-INIT_SAMPLE_SIZE // workers.count)
        totals = workers.combine_scans(
            _scan_share(dataset, [seed, workers.index], spherical, size),
            size)
    n, scale, mean, squares, kept, kept_weights, weight = totals
    if n == 0:
        raise ValueError("samples must not be empty; the Dataset yielded no "
                         "rows")
    if not weight > 0:
        raise ValueError("sample_weight must not be all zero; every weight "
                         "in the Dataset is 0")
    middle = tf.constant(0 * mean if spherical else mean,
                         dataset.element_spec[0].dtype)
    variance = float(np.mean(squares / n))
    return Scan(n, scale, middle, variance, tf.constant(kept),
                tf.constant(kept_weights))


def pooled_moments(n, mean, squares, m, other_mean, other_squares):
    """The count, mean and squares about the mean of two parts of the
    data, from each part's: (n, mean, squares) and (m, ...)."""
    if m == 0:
        return n, mean, squares
    total = n + m
    delta = other_mean - mean
    return (total, mean + delta * (m / total),
            squares + other_squares + delta ** 2 * (n * m / total))


def _scan_share(dataset, seed, spherical, sample_size):
    """scan's pass: (n, scale, mean and squares about it in scaled units,
    kept rows, their weights, the sum of all weights), keeping sample_size
    rows at most; scale is None when there are no rows.

    The mean and the squares about it are updated a batch at a time from
    the batch's own (Chan, Golub and LeVeque's pairwise update): a sum of
    squares about the origin, less n mean², would cancel every digit of
    data far from the origin (a spread of 0.5 at 1e10)."""
    rng = np.random.default_rng(seed)
    n, mean, squares, kept, kept_weights, keys = 0, 0.0, 0.0, None, None, None
    scale, largest, weight = None, 0.0, 0.0
    for index, (batch, weights) in enumerate(dataset.as_numpy_iterator()):
        if not np.isfinite(batch).all():
            raise ValueError(f"samples must be finite; batch {index} of the "
                             f"Dataset holds NaN or infinity")
        if kept is not None and batch.shape[1] != kept.shape[1]:
            raise ValueError(f"samples: batch {index} of the Dataset has "
                             f"{batch.shape[1]} features, the first had "
                             f"{kept.shape[1]}")
        if spherical and (np.abs(batch).max(axis=1) == 0).any():
            raise ValueError(f"samples must have no row of zeros for "
                             f"metric='cosine'; batch {index} of the Dataset "
                             f"has one")
        if weights.shape != (len(batch),):
            raise ValueError(f"sample_weight: batch {index} of the Dataset "
                             f"has {len(weights)} weights for {len(batch)} "
                             f"rows")
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError(f"sample_weight must be finite and >= 0; batch "
                             f"{index} of the Dataset has other weights")
        batch_largest = float(np.abs(batch).max(initial=0))
        largest, weight = max(largest, batch_largest), weight + weights.sum()
        batch_scale = power_of_two_scale(batch_largest)
        if scale is None or batch_scale < scale:
            ratio = 1.0 if scale is None else batch_scale / scale
            mean, squares = mean * ratio, squares * ratio ** 2
            scale = batch_scale
        wide = batch.astype(np.float64) * scale
        batch_mean = wide.mean(axis=0)
        n, mean, squares = pooled_moments(
            n, mean, squares, len(wide), batch_mean,
            ((wide - batch_mean) ** 2).sum(axis=0))
        kept = batch if kept is None else np.concatenate([kept, batch])
        kept_weights = np.concatenate([kept_weights, weights]
                                      if kept_weights is not None
                                      else [weights])
        keys = np.concatenate([keys if keys is not None else [],
                               rng.random(len(batch))])
        # The smallest keys, kept in stream order: a stream of at most
        # INIT_SAMPLE_SIZE rows is kept whole and in order, so its start is
        # the one the same rows in memory would get.
        smallest = np.sort(np.argsort(keys)[:sample_size])
        kept, kept_weights = kept[smallest], kept_weights[smallest]
        keys = keys[smallest]
    if n:
        check_magnitude(largest, kept.dtype)
    return n, scale, mean, squares, kept, kept_weights, weight


def lloyd(dataset, centre, centroids, max_iter, threshold, strategy,
          progress=None, radius=None, workers=None):
    """Lloyd's iterations over a stream, from centred `centroids`.

    Exact Lloyd, as in memory: it stops when the centroids do not move at
    all (no label changed), or move by at most `threshold`, or at max_iter.
    With `radius`, centroids are kept at that length (spherical k-means).
    With `workers` (a `shard.Workers`), `dataset` is this worker's share:
    each pass adds up the shares' statistics in one all-reduce, so every
    worker takes the same steps. Returns the same tuple as `lloyd.run`,
    the labels being those of this worker's share.
    """
    inertias, shifts, stop = [], [], 0
    while len(shifts) < max_iter and stop == 0:
        sums, counts, inertia = epoch_statistics(dataset, centroids, centre,
                                                 strategy)
        if workers is not None:
            sums, counts, inertia = workers.add(sums, counts, inertia)
        if not tf.reduce_sum(counts) > 0:
            raise ValueError("sample_weight must not be all zero; every "
                             "weight in the Dataset is 0")
        if tf.reduce_any(counts == 0):
            sums, counts = _relocate_empty(dataset, centroids, centre, sums,
                                           counts, workers)
        new = means_or_keep(sums, counts, tf.cast(centroids, tf.float64))
        new = tf.cast(new, centroids.dtype)
        if radius is not None:
            new = on_sphere(new, tf.constant(radius, new.dtype), centroids)
        shift = float(tf.reduce_sum((new - centroids) ** 2))
        centroids = new
        inertias.append(float(inertia))
        shifts.append(shift)
        stop = int(stop_code(shift == 0, shift, threshold))
        if progress is not None:
            progress(len(shifts), max_iter, inertias[-1], shift)
    labels, inertia = labels_and_inertia(dataset, centroids, centre)
    if workers is not None:
        inertia = float(workers.add(tf.constant(inertia, tf.float64))[0])
    return (centroids.numpy(), labels, inertia, len(shifts), stop,
            np.array(inertias), np.array(shifts))


@tf.function
def epoch_statistics(dataset, centroids, centre, strategy):
    """One pass: per-cluster sums (k, d), counts (k,) and inertia, float64,
    all weighted.

    Every worker reads every batch; within a batch, replica r of R takes
    rows r, r+R, r+2R, ... (`_replica_statistics`), and `strategy.reduce`
    adds the replicas' results together. That reduce is the all-reduce: on
    several GPUs or machines it is the one step that communicates, one
    vector of k * d + k + 1 numbers per batch.
    """
    k, d = centroids.shape
    total = tf.zeros((k * d + k + 1,), tf.float64)
    for batch, weights in dataset:
        per_replica = strategy.run(_replica_statistics,
                                   args=(batch, weights, centroids, centre))
        total += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica,
                                 axis=None)
    return tf.reshape(total[:k * d], (k, d)), total[k * d:-1], total[-1]


def _replica_statistics(batch, weights, centroids, centre):
    """This replica's share of a batch: per-cluster sums and counts, and
    its inertia, packed in one float64 vector for one all-reduce."""
    context = tf.distribute.get_replica_context()
    mine = slice(context.replica_id_in_sync_group, None,
                 context.num_replicas_in_sync)
    x, labels, distances = assign_batch(batch[mine], centroids, centre)
    weights = tf.cast(weights[mine], tf.float64)
    sums, counts = cluster_sums(tf.cast(x, tf.float64), labels,
                                centroids.shape[0], weights)
    inertia = tf.reduce_sum(tf.cast(distances, tf.float64) * weights)
    return tf.concat([tf.reshape(sums, [-1]), counts, inertia[tf.newaxis]],
                     axis=0)


def assign_batch(batch, centroids, centre):
    """A batch of a stream, centred; its labels; their squared distances."""
    x = batch - centre
    labels = nearest(x, centroids, direct_form(centroids.shape[1]))
    return x, labels, squared_distances(x, centroids, labels)


def _relocate_empty(dataset, centroids, centre, sums, counts,
                    workers=None):
    """The empty-cluster rule of `stats.relocate_empty`, over a stream.

    A second pass keeps the k samples farthest from their centroids, with
    their labels and weights; `stats.relocate_empty` then applies the
    in-memory rule to those k rows (the farthest k are all it ever takes
    from). With `workers`, every share's k farthest are gathered, and the
    k farthest of those kept.
    """
    k, d = centroids.shape
    far_distances, far_rows = np.zeros(0), np.zeros((0, d))
    far_labels, far_weights = np.zeros(0, np.int32), np.zeros(0)
    for batch, weights in dataset:
        x, labels, distances = assign_batch(batch, centroids, centre)
        # A sample of weight 0 is never taken (see stats.relocate_empty).
        distances = np.where(weights.numpy() > 0, distances.numpy(), -1)
        far_distances = np.concatenate([far_distances, distances])
        far_rows = np.concatenate([far_rows, x.numpy()])
        far_labels = np.concatenate([far_labels, labels.numpy()])
        far_weights = np.concatenate([far_weights, weights.numpy()])
        order = np.argsort(-far_distances, kind="stable")[:k]
        far_distances, far_rows = far_distances[order], far_rows[order]
        far_labels, far_weights = far_labels[order], far_weights[order]
    if workers is not None:
        far_distances, far_rows, far_labels, far_weights = (
            workers.gather_farthest(k, far_distances, far_rows, far_labels,
                                    far_weights))
    return relocate_empty(tf.constant(far_rows), k,
                          tf.cast(centroids, tf.float64),
                          tf.constant(far_labels), sums, counts,
                          tf.constant(far_weights))


def labels_and_inertia(dataset, centroids, centre):
    """Labels (n,) of every sample in stream order, and the (weighted)
    inertia."""
    labels, inertia = [], 0.0
    for batch, weights in dataset:
        _, batch_labels, distances = assign_batch(batch, centroids, centre)
        inertia += float(tf.reduce_sum(tf.cast(distances, tf.float64)
                                       * tf.cast(weights, tf.float64)))
        labels.append(batch_labels.numpy())
    return np.concatenate(labels or [np.zeros(0, np.int32)]), inertia


def minibatch(steps, dataset, centre, centroids, max_steps):
    """Mini-batch k-means: max_steps batches taken from `steps` (a Dataset
    of (batch, weights) pairs, shuffled for array input), then labels and
    inertia from one pass over `dataset` in the samples' order. Returns the
    tuple of `lloyd.run`, with stop code 0 (it runs all its steps)."""
    seen = tf.zeros((centroids.shape[0],), centroids.dtype)
    for batch, weights in steps.repeat().take(max_steps):
        centroids, seen = _minibatch_step(batch, weights, centroids, seen,
                                          centre)
    labels, inertia = labels_and_inertia(dataset, centroids, centre)
    return (centroids.numpy(), labels, inertia, max_steps, 0, np.zeros(0),
            np.zeros(0))


@tf.function
def _minibatch_step(batch, weights, centroids, seen, centre):
    """One mini-batch update, scikit-learn's rule: each centroid moves
    toward its batch members, c <- (c * w + batch_sum) / (w + batch_count),
    w the weight it has seen so far."""
    x, labels, _ = assign_batch(batch, centroids, centre)
    sums, counts = cluster_sums(x, labels, centroids.shape[0],
                                tf.cast(weights, x.dtype))
    now_seen = seen + counts
    moved = ((centroids * seen[:, tf.newaxis] + sums)
             / tf.where(now_seen > 0, now_seen, 1)[:, tf.newaxis])
    return tf.where(counts[:, tf.newaxis] > 0, moved, centroids), now_seen
