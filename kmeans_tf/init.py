"""Initial centroids: chosen at random among the samples, or by k-means++.

`initial_centroids` is the one dispatch, used by the in-memory and the
streaming paths alike (a stream chooses from a seeded sample of its rows).
Everything here assumes checked input (see `checks`).
"""
import functools
import math

import numpy as np

from ._tensorflow import Traced, tf
from .distances import direct_form, largest_magnitude, power_of_two_scale

# k-means++ sums the samples' D² by blocks of this many, to draw a sample
# in two short searches (see _kmeans_plus_plus).
SAMPLING_BLOCK = 1024
# k-means++ compiles with XLA when its work, n_samples * n_features *
# n_clusters, is at least XLA_MIN_WORK, or the samples hold at least
# XLA_MIN_VALUES: below, the compile (1 to 1.5 s) costs more than it saves
# (a first start at 100,000 x 2, k=8: 1.35 s with XLA, 0.45 without), and
# the plain graph's temporaries, a few (n_trials, n_samples) tensors, stay
# small.
XLA_MIN_WORK = 200_000_000
XLA_MIN_VALUES = 2**22


def initial_centroids(init, samples, n_clusters, seed, weights=None):
    """The start for one run: (n_clusters, n_features), samples' dtype.

    `init` is "k-means++", "random", or checked starting centroids, which
    are returned as they are. `seed` is an int. With `weights` (n,), a
    sample is chosen as much more often as it weighs more (scikit-learn's
    meaning of sample_weight).
    """
    if not isinstance(init, str):
        return init
    if init == "random":
        return random_centroids(samples, n_clusters, seed, weights)
    return kmeans_plus_plus_centroids(samples, n_clusters, seed, weights)


def random_centroids(samples, n_clusters, seed, weights=None):
    """n_clusters distinct samples, uniformly at random (or in proportion
    to their weights).

    One random key u per sample, stateless from [seed, 0] (as the lesson's
    `choose_random_centroids`: unrelated starts for seeds 0, 1, 2, ...,
    which `tf.random.Generator.from_seed` would not give); the samples
    with the n_clusters smallest keys are chosen: a shuffle, then a slice.
    With weights w the key is -log(1 - u) / w, an exponential draw of rate
    w, whose smallest values draw without replacement in proportion to w
    (Efraimidis and Spirakis 2006, in logarithms); it orders the samples as
    u does when every w is the same, so the choice is then the unweighted
    one. The weights are divided by their largest first, so that the
    choice does not change with their scale (weights of 1e-6 made keys
    that all rounded to 1 in the power form, and the first rows won).
    """
    keys = tf.random.stateless_uniform((samples.shape[0],), [int(seed), 0])
    if weights is not None:
        w = tf.cast(weights, tf.float64)
        w /= tf.reduce_max(w)
        keys = tf.where(w > 0, -tf.math.log1p(-tf.cast(keys, tf.float64))
                        / w, np.inf)
    return tf.gather(samples, tf.argsort(keys)[:n_clusters])


def kmeans_plus_plus_centroids(samples, n_clusters, seed, weights=None):
    """k-means++ (greedy D² sampling, as scikit-learn does it).

    The first centroid is a sample chosen uniformly. Each next one is drawn
    with probability proportional to D², the squared distance of a sample
    to its nearest centroid so far; the greedy refinement draws
    2 + log(n_clusters) candidates per step and keeps the one that lowers
    the total D² most. The samples are scaled by a power of two and
    centred first (see `distances`), which keeps D² finite for data of any
    size, and its digits for data far from the origin.
    """
    scale = power_of_two_scale(largest_magnitude(samples))
    n_trials = 2 + int(math.log(n_clusters))
    if weights is not None:
        weights = tf.cast(weights, tf.float64)
    n, d = samples.shape
    by_columns = direct_form(d)
    xla = n * d * n_clusters >= XLA_MIN_WORK or n * d >= XLA_MIN_VALUES
    chosen = _compiled(xla)(
        samples, tf.constant(scale, samples.dtype), weights,
        tf.constant(n_clusters), tf.fill([n_clusters], -1),
        tf.constant(n_trials), tf.constant([int(seed), 0], tf.int64),
        d if by_columns else None)
    return tf.gather(samples, chosen)


def _kmeans_plus_plus(samples, scale, weights, n_clusters, chosen, n_trials,
                      seed, columns):
    """Indices (n_clusters,) of the k-means++ centroids of samples (n, d),
    multiplied by `scale` (a power of two) and centred here, then taken
    feature-major, (d, n), when `columns` is d (else None); weighted by
    float64 weights (n,), or None for all 1. Made in the compiled graph,
    the centred copy is the only one: made eagerly, the scaled samples,
    the centred ones and their transpose were each a copy, two of them
    alive at once (at 10,000,000 x 2, k=100, a default fit's whole-process
    peak was 1,607 MB, and is 1,522). `chosen` is an int32 table
    (n_clusters,) for the indices, its values unused: passed in, its size
    is known to XLA while the loop's end stays a tensor (see below).

    Randomness is stateless: step i draws from `seed` folded with i, so the
    same seed gives the same choice in every process.

    Each step makes two passes over the samples: one gives every
    candidate's potential (the total D² if it were chosen) at once, the
    other lowers each sample's D² by its distance to the candidate kept.
    The draws take the D² in blocks (`_draw`), with no running total over
    all the samples, in float64. Potentials add up in the samples' dtype
    (unweighted): XLA hands a long sum to YNNPACK, which takes its input
    written out, every candidate's distances (240 MB at 10,000,000 x 2,
    k=100; in float64 the process took more still, and sums by blocks of
    samples were slower). With few features
    (`distances.direct_form`) the samples come feature-major and all
    distances from differences: each candidate's sum over the samples then
    runs along a row, which XLA vectorises (at 10,000,000 x 2, 30 ms for 6
    candidates' potentials, against 358 ms sample-major). With more, the
    potentials come from one matrix product, rounding and all: they only
    rank the candidates (at 300,000 x 32, k=64, 0.29 s against 0.68 by
    differences); D² itself still comes from differences. Indices are
    taken by tf.gather: slicing by a tensor here (candidates[i] and
    x[:, i]) made XLA take every argument as a constant, fold the whole
    run while compiling (31 s at 200,000 x 2) and compile again for every
    data set.
    """
    # From here on, `samples` are the scaled and centred ones.
    scaled = samples * scale
    samples = scaled - tf.reduce_mean(scaled, axis=0)
    if columns is not None:
        samples = tf.transpose(samples)
    n = tf.shape(samples)[0 if columns is None else 1]
    if weights is None:
        first = tf.random.stateless_uniform((), seed, 0, n, dtype=tf.int32)
    else:               # in proportion to the weights, as the D² later
        first = _draw(_in_blocks(weights), tf.random.stateless_uniform(
            (1,), seed, dtype=tf.float64), n)[0]

    def weighted(values):   # w * values (float64 with weights), last axis
        if weights is None:
            return values
        return weights * tf.cast(values, tf.float64)

    def d2_blocks(closest):      # the weighted D² for `_draw`, float64
        return _in_blocks(tf.cast(weighted(closest), tf.float64))

    if columns is not None:
        def taken(indices):                            # (d, m)
            return tf.gather(samples, indices, axis=1)

        def squared_distances(centres):     # (d, m) -> (m, n), by differences
            return tf.add_n([(samples[j] - centres[j][:, tf.newaxis]) ** 2
                             for j in range(columns)])
        ranking_distances = squared_distances
    else:
        norms = tf.reduce_sum(samples ** 2, axis=1)

        def taken(indices):                            # (m, d)
            return tf.gather(samples, indices)

        def squared_distances(centres):     # (m, d) -> (m, n), by differences
            return tf.reduce_sum(
                (samples[tf.newaxis] - centres[:, tf.newaxis]) ** 2, axis=2)

        def ranking_distances(centres):     # by product: ||c||² - 2 c.x + ||x||²
            return tf.maximum(
                tf.reduce_sum(centres ** 2, axis=1)[:, tf.newaxis]
                - 2 * tf.matmul(centres, samples, transpose_b=True) + norms, 0)

    def choose_next(i, chosen, closest, blocks):
        step_seed = tf.random.experimental.stateless_fold_in(seed, i)
        candidates = _draw(blocks, tf.random.stateless_uniform(
            (n_trials,), step_seed, dtype=tf.float64), n)
        potentials = tf.reduce_sum(weighted(tf.minimum(
            closest, ranking_distances(taken(candidates)))), axis=1)
        best = tf.gather(candidates, tf.argmin(potentials))
        closest = tf.minimum(closest,
                             squared_distances(taken(best[tf.newaxis]))[0])
        chosen = tf.tensor_scatter_nd_update(chosen, [[i]], [best])
        # Of the shape it came in with, however loosely the number of
        # samples was traced (reduce_retracing), as tf.while_loop requires.
        return (i + 1, chosen, closest,
                tf.ensure_shape(d2_blocks(closest), blocks.shape))

    closest = squared_distances(taken(first[tf.newaxis]))[0]
    # The loop's end is a tensor, not a constant: XLA would unroll it.
    _, chosen, _, _ = tf.while_loop(
        lambda i, *_: i < n_clusters, choose_next,
        (tf.constant(1), tf.tensor_scatter_nd_update(chosen, [[0]], [first]),
         closest, d2_blocks(closest)))
    return chosen


def _in_blocks(values):
    """values (n,) in rows of SAMPLING_BLOCK, the last padded with zeros."""
    values = tf.pad(values, [[0, -tf.shape(values)[0] % SAMPLING_BLOCK]])
    return tf.reshape(values, (-1, SAMPLING_BLOCK))


def _draw(blocks, uniforms, n):
    """For each uniform u in [0, 1) (m,), the index of the first of the n
    values (in `_in_blocks`, each >= 0) whose running total reaches u
    times their total: each index drawn with probability its value / total.

    In two short searches: for the block among the blocks' running totals,
    then for the value in that block's own, rather than one search of a
    running total over all n (on 10,000,000 values under XLA, a running
    total and tf.searchsorted took 71 ms, against 3 for this).
    """
    running = tf.cumsum(tf.reduce_sum(blocks, axis=1))       # (n_blocks,)
    draws = uniforms * running[-1]
    # The first block whose running total reaches the draw...
    block = tf.minimum(_count_below(running, draws),
                       tf.shape(running)[0] - 1)
    before = tf.where(block > 0,
                      tf.gather(running, tf.maximum(block - 1, 0)),
                      tf.zeros_like(draws))
    # ... and in it, the first value whose running total does; a draw past
    # the block's total by rounding takes its last value above zero (the
    # first to reach that total).
    within = tf.cumsum(tf.gather(blocks, block), axis=1)
    left = tf.minimum(draws - before, within[:, -1])
    return tf.minimum(block * SAMPLING_BLOCK + _count_below(within, left),
                      n - 1)


def _count_below(running, values):
    """For each value (m,), how many of its row of running totals ((m, b),
    or one row (b,) for all) are below it: the first index at which the
    row reaches the value, as a left searchsorted, by a sum that XLA
    fuses (tf.searchsorted took it 24 ms at 10,000,000)."""
    if running.shape.rank == 1:
        running = running[tf.newaxis]
    return tf.reduce_sum(tf.cast(running < values[:, tf.newaxis], tf.int32),
                         axis=1)


@functools.lru_cache(maxsize=None)
def _compiled(xla):
    """`_kmeans_plus_plus` as a tf.function (`Traced`): with XLA for large
    data, as a plain graph for small (see `lloyd._compiled`)."""
    return Traced(_kmeans_plus_plus, jit_compile=xla, reduce_retracing=True)
