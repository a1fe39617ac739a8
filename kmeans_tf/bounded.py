"""Lloyd's algorithm with Hamerly's bounds: the same steps, fewer distances.

Hamerly (2010) keeps, for each sample, an upper bound u on the distance to
its own centroid and a lower bound l on the distance to any other. When
the centroids move, u grows by how far its own centroid moved and l
shrinks by the largest move; a sample whose u is still below
max(l, half the distance from its centroid to the nearest other centroid)
cannot have changed cluster, and gets no distances at all. Only the others
are gathered and assigned, by one matrix product. Late in a run, when the
centroids barely move, that is a small share of the samples.

The result is Lloyd's, label for label: a sample is skipped only when its
own centroid beats every other by more than the distances' rounding
(`_Margins`), so wherever Lloyd's rounded comparison could go either way,
the sample is assigned exactly as Lloyd would assign it. It runs as a
plain graph, one call per iteration: which samples get distances changes
from step to step, a shape XLA cannot compile. Everything here assumes
checked input, centred and scaled (see `distances.centred_chunks`).
"""
import time

import numpy as np

from ._tensorflow import tf
from .lloyd import stop_code
from .stats import (cluster_sums, inertia_from_sums, means_or_keep,
                    relocate_empty)


def run(data, centroids, max_iter, threshold, progress=None):
    """Lloyd's iterations with bounds; the same tuple as `lloyd.run`."""
    flat = tf.reshape(data.chunks, (-1, data.chunks.shape[-1]))[:data.n]
    weights = None if data.weights is None else data.weights[:data.n]
    margin = _margin(flat, centroids)
    labels, upper, lower = _assign_all(flat, centroids, margin)
    old_labels = -tf.ones_like(labels)
    inertias, shifts, stop, started = [], [], 0, time.perf_counter()
    while len(shifts) < max_iter and stop == 0:
        inertia, new = _update(flat, weights, labels, centroids,
                               data.sum_of_squares)
        shift = float(tf.reduce_sum((new - centroids) ** 2))
        inertias.append(float(inertia))
        shifts.append(shift)
        stop = int(stop_code(tf.reduce_all(labels == old_labels), shift,
                             threshold))
        old_labels = labels
        labels, upper, lower = _reassign(flat, labels, upper, lower,
                                         centroids, new, margin)
        centroids = new
        if progress is not None and (
                time.perf_counter() - started > 0.5 or stop):
            progress(len(shifts), max_iter, inertias[-1], shift)
            started = time.perf_counter()
    # `labels` are now those of the final centroids, as lloyd.run's final
    # assignment gives; the inertia exactly, from the differences.
    own = tf.gather(centroids, labels)
    squared = tf.reduce_sum(tf.cast(flat - own, tf.float64) ** 2, axis=1)
    if weights is not None:
        squared *= tf.cast(weights, tf.float64)
    return (centroids.numpy(), labels.numpy(), float(tf.reduce_sum(squared)),
            len(shifts), stop, np.array(inertias), np.array(shifts))


def _margin(flat, centroids):
    """How far a rounded squared distance (the expanded form, in the
    samples' dtype) can be from the true one: (d + 2) eps (|x| + |c|)²,
    with the largest lengths. A pair of squared distances closer than
    twice this is a tie that rounding may break either way."""
    eps = np.finfo(flat.dtype.as_numpy_dtype).eps
    longest = float(tf.reduce_max(tf.norm(flat, axis=1)))
    reach = longest + 2 * float(tf.reduce_max(tf.norm(centroids, axis=1)))
    return tf.constant((flat.shape[1] + 2) * eps * reach ** 2, flat.dtype)


@tf.function(reduce_retracing=True)
def _update(flat, weights, labels, centroids, sum_of_squares):
    """Lloyd's update: the inertia of `centroids` and the new centroids,
    an empty cluster relocated as `lloyd` does."""
    k = tf.shape(centroids)[0]
    sums, counts = cluster_sums(flat, labels, k, weights)
    inertia = inertia_from_sums(sum_of_squares, centroids, sums, counts)
    sums, counts = tf.cond(
        tf.reduce_any(counts == 0),
        lambda: relocate_empty(flat, tf.shape(flat)[0], centroids, labels,
                               sums, counts, weights),
        lambda: (sums, counts))
    return inertia, means_or_keep(sums, counts, centroids)


@tf.function(reduce_retracing=True)
def _two_nearest(x, centroids, margin):
    """Lloyd's label for each row of x (argmin of ||c||² - 2 x·c, as
    `distances.nearest`), an upper bound on the distance to it and a lower
    bound on the distance to any other centroid, rounding allowed for."""
    partial = (tf.reduce_sum(centroids ** 2, axis=1)
               - 2 * tf.matmul(x, centroids, transpose_b=True))   # (m, k)
    labels = tf.argmin(partial, axis=1, output_type=tf.int32)
    norms = tf.reduce_sum(x ** 2, axis=1)
    lowest = tf.reduce_min(partial, axis=1)
    others = tf.where(tf.one_hot(labels, tf.shape(centroids)[0]) > 0,
                      tf.constant(np.inf, x.dtype), partial)
    second = tf.reduce_min(others, axis=1)
    upper = tf.sqrt(tf.maximum(lowest + norms + margin, 0))
    lower = tf.sqrt(tf.maximum(second + norms - margin, 0))
    return labels, upper, lower


def _assign_all(flat, centroids, margin, rows=65536):
    """_two_nearest for every sample, a block of rows at a time."""
    parts = [_two_nearest(flat[start:start + rows], centroids, margin)
             for start in range(0, flat.shape[0], rows)]
    return tuple(tf.concat(part, axis=0) for part in zip(*parts))


@tf.function(reduce_retracing=True)
def _reassign(flat, labels, upper, lower, old, new, margin):
    """Labels for the centroids `new`, from those for `old`, with bounds.

    The bounds move with the centroids; a sample is assigned again only
    when its bounds no longer prove its cluster, by more than the margin.
    """
    moved = tf.norm(new - old, axis=1)                            # (k,)
    slack = 1 + 4 * np.finfo(flat.dtype.as_numpy_dtype).eps
    upper = (upper + tf.gather(moved, labels)) * slack
    lower = (lower - tf.reduce_max(moved)) / slack
    # Half the distance from each centroid to its nearest other: a sample
    # nearer its own centroid than that is nearer it than any other.
    between = tf.norm(new[:, tf.newaxis] - new[tf.newaxis], axis=2)
    between += tf.linalg.diag(tf.fill(tf.shape(moved),
                                      tf.constant(np.inf, moved.dtype)))
    half = tf.cast(tf.reduce_min(between, axis=1) / 2, flat.dtype)
    bound = tf.maximum(lower, tf.gather(half, labels))

    def proven(upper):           # own² + 2 margin < bound²: Lloyd agrees
        return (upper < bound) & (upper ** 2 + 2 * margin < bound ** 2)

    # First tighten u to the exact distance to its own centroid.
    loose = tf.where(~proven(upper))[:, 0]
    x = tf.gather(flat, loose)
    exact = tf.norm(x - tf.gather(new, tf.gather(labels, loose)), axis=1)
    upper = tf.tensor_scatter_nd_update(upper, loose[:, tf.newaxis],
                                        exact * slack)
    # Those still unproven get distances to every centroid.
    again = tf.where(~proven(upper))[:, 0]
    found = _two_nearest(tf.gather(flat, again), new, margin)
    index = again[:, tf.newaxis]
    return tuple(tf.tensor_scatter_nd_update(values, index, part)
                 for values, part in zip((labels, upper, lower), found))
