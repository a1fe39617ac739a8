"""Lloyd's algorithm with bounds: the same steps, fewer distances.

Hamerly (2010) keeps, for each sample, an upper bound u on the distance to
its own centroid and a lower bound l on the distance to any other; here,
as in Yinyang k-means (Ding et al. 2015), one l for each group of
GROUP_SIZE clusters. When the centroids move, u grows by how far its own
centroid moved and each group's l shrinks by the largest move in that
group (but when a few centroids jump far, as an emptied cluster's does,
each sample's distance to the nearest of them bounds their groups
instead, see FAST_MOVERS). A
sample whose u is still below max(min l, half the distance from its
centroid to the nearest other centroid) cannot have changed cluster, and
gets no distances at all. The others are listed and assigned again by
matrix products, a block of rows at a time. Late in a run, when the
centroids barely move, that is a small share of the samples; when most
are in doubt (early on, or on data with no clusters), all are assigned
again instead.

The update is incremental too: the per-cluster sums and counts are kept
in float64, and only the samples that changed cluster are subtracted from
their old cluster and added to their new one (after a whole reassignment
they are Lloyd's own sums, made afresh). How many samples get distances
changes from step to step, but no shape does: their indices come first in
a list as long as the samples (`_listed`), and a loop runs over as many
blocks of it as they fill (`_assign_listed`). So the whole loop compiles
with XLA, as Lloyd's does (in bursts, with a progress callback), and the
bounds' tables are updated in place rather than copied at each change.

The result is Lloyd's: a sample is skipped only when its own centroid
beats every other by more than the distances' rounding (`_margin`), so
wherever Lloyd's rounded comparison could go either way, the sample is
assigned again, by the same formula. The sums, updated in float64 rather
than the samples' dtype, are a little more exact than Lloyd's: on float32
data a near-tie may go the other way (at 200,000 x 64, k=64, 99 labels of
200,000 did while the sums were float64 throughout; none since they start
again from Lloyd's after each whole reassignment), and a run that hinges
on one (duplicate samples, more clusters than distinct values) may take
another path. Where Lloyd's sums are exact
(integer data) the centroids are Lloyd's to the bit. Weights that span
many orders of magnitude (1e15 and 1) lose digits when a heavy sample
leaves a cluster. Everything here assumes checked input, centred and
scaled (see `distances.centred_chunks`).

algorithm="auto" (`run` with auto=True) starts with Lloyd's loop, and
takes the bounds only once a probe shows that they would prove the
clusters of most samples (see PROBE_ROWS); if they then fail after all,
GIVE_UP iterations in a row, the run goes back to Lloyd's loop. On data
with no clusters the probe never finds them worth it, and the run stays
Lloyd's.
"""
import functools
from typing import NamedTuple

import numpy as np

from . import lloyd
from ._tensorflow import Traced, tf
from .distances import compiled_size, direct_form, inertia_of, offsets_of
from .lloyd import HISTORY_BLOCK, bursts, stop_code
from .stats import (cluster_sums, inertia_from_sums, means_or_keep,
                    relocate_empty)

# Rows per block of samples assigned again: one block's (rows, k)
# distances exist at once.
BLOCK_ROWS = 2048
# Centroids per group of Yinyang's bounds (Ding et al. 2015): each sample
# keeps a lower bound for each group of this many clusters. Fewer groups
# are looser bounds but a smaller table to move each iteration. Measured
# (2 cores, to convergence as in worth_it, ms of the iterations with
# bounds, with 16 / 32): 100,000 x 16, k=256: 98 / 94; 200,000 x 64,
# k=64: 214 / 202; 200,000 x 32, k=64 and 50,000 x 32, k=1000: the same.
GROUP_SIZE = 32
# When more than this share of the samples is in doubt, all are assigned
# again: cheaper than listing most of them.
MOST = 0.5
# "auto" runs Lloyd's loop, and after each iteration probes whether the
# bounds would pay (`_bounds_would_pay`): PROBE_ROWS samples, evenly
# spaced, get bounds for the centroids before the iteration's move, the
# bounds move with it, and once at most SWITCH of those samples are left
# in doubt, the rest of the run takes the bounds: below MOST, since the
# switch costs a whole assignment with bounds, and with half the samples
# in doubt an iteration with bounds costs about Lloyd's. (2,048 samples
# measure that share to about 1%, for about 1% of an iteration's work at
# 200,000 x 64, k=64.)
PROBE_ROWS = 2048
SWITCH = 0.25
# A few centroids that move far (a relocated one, one whose cluster lost
# most of its samples) would loosen the bounds of their groups for every
# sample. When more than FAST_MOVERS of the samples would be left in doubt,
# and the FASTEST centroids that moved farthest moved more than RATIO times
# as far as the next, those leave the drift, and each sample's distance to
# the nearest of them bounds their groups instead (`_to_fastest`): n x
# FASTEST distances, against n x k for the samples left in doubt.
# Measured (2 cores, to convergence with "auto" as in worth_it): 100,000 x
# 16, k=256: 185 ms against 203 without, where one iteration had 61% of
# the samples in doubt without and 7% with; 200,000 x 64, k=64, 200,000 x
# 32, k=64 and 50,000 x 32, k=1000: the same within noise (a few ms).
FAST_MOVERS = 0.1
FASTEST = 8
RATIO = 4
# If the bounds then fail after all, GIVE_UP iterations in a row with most
# samples in doubt, Lloyd's loop takes over again.
GIVE_UP = 3
# "auto" takes the bounds when an iteration of Lloyd's would take at least
# BOUNDS_MIN_PRODUCTS multiply-adds (n_samples * n_features * n_clusters),
# and at least BOUNDS_MIN_PER_SAMPLE for each sample (n_features *
# n_clusters): below, Lloyd's iteration is so quick that the bounds'
# bookkeeping, which is per sample too, costs more.
BOUNDS_MIN_PRODUCTS = 50_000_000
BOUNDS_MIN_PER_SAMPLE = 2048
# The stop code of a run handed over to Lloyd's loop.
HANDOVER = -1


def worth_it(n_samples, n_features, n_clusters):
    """Whether algorithm="auto" may take the bounds, probing for them (see
    PROBE_ROWS): for distances by matrix product (more than
    DIRECT_MAX_FEATURES features) when an iteration is at least
    BOUNDS_MIN_PRODUCTS multiply-adds, and BOUNDS_MIN_PER_SAMPLE for each
    sample. Measured on 2 cores, to convergence on overlapping blobs from
    a k-means++ start, ms with "auto" (Lloyd's loop, then the bounds once
    the probe finds they pay) / Lloyd / the bounds from the start:

        200,000 x 32, k=64 (2,048 a sample)    315 /   719 / 408
        200,000 x 64, k=32 (2,048)             305 / 1,225 / 364
        100,000 x 16, k=128 (2,048)            154 /   196 / 204
        100,000 x 16, k=256 (4,096)            222 /   367 / 250

    and below the thresholds, where "auto" is Lloyd's loop:

        200,000 x 16, k=50 (800)               315 /   303 / 687
        50,000 x 16, k=64 (1,024; 51 M)         64 /    65 / 120

    On data with no clusters, where the bounds prove little, "auto" keeps
    to Lloyd's loop (see PROBE_ROWS). With few features Lloyd's running
    minimum is faster than any bound."""
    return (not direct_form(n_features)
            and n_features * n_clusters >= BOUNDS_MIN_PER_SAMPLE
            and n_samples * n_features * n_clusters >= BOUNDS_MIN_PRODUCTS)


class _Samples(NamedTuple):
    """What stays the same through a run."""
    flat: tf.Tensor             # (n, d), centred and scaled
    norms: tf.Tensor            # (n,), each row's squared length
    weights: tf.Tensor          # (n,), or None when every sample weighs 1
    longest: tf.Tensor          # the largest row length (see _margin)


def run(data, centroids, max_iter, threshold, progress=None, auto=False):
    """Lloyd's iterations with bounds; the same tuple as `lloyd.run`.

    With `auto` (algorithm="auto"), Lloyd's loop runs until the bounds
    would pay, and takes over again if they fail (see PROBE_ROWS), so the
    result and the iterations are the same.
    """
    if auto:
        return _auto(data, centroids, max_iter, threshold, progress)
    return _run(data, centroids, max_iter, threshold, progress)


def _auto(data, centroids, max_iter, threshold, progress):
    """Lloyd's iterations, then the bounds once they would prove the
    clusters of most samples; the same tuple as `lloyd.run`."""
    centroids, labels, n_iter, stop, history = lloyd.iterate(
        data, centroids, max_iter, threshold, progress,
        probe=_bounds_would_pay, probe_rows=_probe_rows(data))
    if stop != lloyd.PROBED or n_iter == max_iter:
        # No iteration left for the bounds: a run that reached max_iter.
        return (*lloyd.finish(data, centroids), n_iter,
                0 if stop == lloyd.PROBED else stop, history[0],
                history[1])
    return _continued(n_iter, history, _run(
        data, centroids, max_iter - n_iter, threshold,
        lloyd.with_offset(progress, n_iter, max_iter),
        previous_labels=labels[:data.n], give_up=GIVE_UP))


def _continued(n_iter, history, rest):
    """The tuple of a run whose first n_iter iterations, with their
    history (2, n_iter), came before `rest`, the tuple (as `lloyd.run`'s)
    of the iterations after them."""
    *outcome, more, stop, inertias, shifts = rest
    return (*outcome, n_iter + more, stop,
            np.concatenate([history[0], inertias]),
            np.concatenate([history[1], shifts]))


def _flat(data):
    """The samples of a `distances.Chunked`, (n, d), without the padding:
    a view."""
    return tf.reshape(data.chunks, (-1, data.chunks.shape[-1]))[:data.n]


def _probe_rows(data):
    """At most PROBE_ROWS samples, evenly spaced from first to last (all
    of them if fewer)."""
    return _flat(data)[::-(-data.n // PROBE_ROWS)]


def _bounds_would_pay(rows, old, new):
    """Whether at most SWITCH of `rows` are left in doubt by their bounds
    for the centroids `old` moved to `new`: in Lloyd's loop, its graph."""
    _, longest = _lengths(rows)
    labels, upper, lower = _two_nearest(rows, old, _margin(longest, old),
                                        offsets_of(old))
    *_, loose = _moved_bounds(labels, upper, lower, old, new,
                              _margin(longest, new))
    return tf.reduce_mean(tf.cast(loose, tf.float32)) <= SWITCH


def _run(data, centroids, max_iter, threshold, progress=None,
         previous_labels=None, give_up=None):
    """The bounded iterations from `centroids`; `previous_labels` (n,)
    the assignment before them, if any. With `give_up`, after that many
    iterations in a row with most samples in doubt, the rest of the run is
    Lloyd's loop (`lloyd.run`), from the same state: one in which the last
    assignment changed labels (see `_loop`), as Lloyd's first iteration,
    which has none before it to compare with, takes it to be."""
    flat = _flat(data)
    start, loop, lengths = _compiled(compiled_size(data.n, flat.shape[1]))
    norms, longest = lengths(flat)
    samples = _Samples(flat, norms, None if data.weights is None else
                       data.weights[:data.n], longest)
    # -1: no label before, so every label changed.
    labels, upper, lower, totals, n_changed = start(
        samples, centroids, tf.fill([data.n + 1], -1) if
        previous_labels is None else tf.pad(previous_labels, [[0, 1]]))
    give_up = give_up or np.iinfo(np.int32).max
    streak = tf.constant(0)        # whole reassignments in a row, so far

    def burst(i, until):
        nonlocal centroids, labels, upper, lower, totals, n_changed, streak
        (next_i, stop, history, centroids, labels, upper, lower, totals,
         n_changed, streak) = loop(
            samples, data.sum_of_squares, tf.constant(i), tf.constant(until),
            tf.constant(threshold, flat.dtype), tf.constant(give_up),
            tf.constant(np.zeros((2, HISTORY_BLOCK)), flat.dtype), centroids,
            labels, upper, lower, totals, n_changed, streak)
        next_i, stop = int(next_i), int(stop)
        if stop == 0 and int(streak) >= give_up and int(n_changed) > 0:
            stop = HANDOVER
        return next_i, stop, history

    n_iter, stop, history = bursts(burst, max_iter, progress)
    labels = labels[:data.n]           # without the tables' spare row
    if stop == HANDOVER:
        return _continued(n_iter, history, lloyd.run(
            data, centroids, max_iter - n_iter, threshold,
            lloyd.with_offset(progress, n_iter, max_iter)))
    # `labels` are now those of the final centroids, as lloyd.run's final
    # assignment gives.
    return (centroids.numpy(), labels.numpy(),
            float(_inertia(flat, samples.weights, centroids, labels)),
            n_iter, stop, history[0], history[1])


def _lengths(flat):
    """Each row's squared length (n,), and the largest row length."""
    norms = tf.reduce_sum(flat ** 2, axis=1)
    return norms, tf.sqrt(tf.reduce_max(norms))


def _inertia_of(flat, weights, centroids, labels):
    """The (weighted) inertia, as Lloyd's final assignment makes it
    (`distances.inertia_of`), fused by XLA into one pass."""
    return inertia_of(flat, centroids, labels, weights)


_inertia = Traced(_inertia_of, jit_compile=True)


def _margin(longest, centroids):
    """How far a rounded squared distance to `centroids` (the expanded
    form, in their dtype) can be from the true one: (d + 2) eps (|x| +
    2 |c|)², with the largest lengths; it bounds the error of a squared
    distance between two centroids too, at most (d + 2) eps (2 |c|)². A
    pair of squared distances closer than twice this is a tie that
    rounding may break either way. Taken from the centroids in use each
    time, so a far start does not loosen every later bound."""
    eps = np.finfo(centroids.dtype.as_numpy_dtype).eps
    reach = longest + 2 * tf.reduce_max(tf.norm(centroids, axis=1))
    d = tf.cast(tf.shape(centroids)[1], centroids.dtype)
    return (d + 2) * eps * reach ** 2


def _two_nearest(x, centroids, margin, offsets):
    """Lloyd's label for each row of x (argmin of ||c||² - 2 x·c, as
    `distances.nearest`), an upper bound (m,) on the distance to it and,
    for each group of GROUP_SIZE centroids, a lower bound (m, n_groups) on
    the distance to any centroid of the group but the own, rounding
    allowed for (inf for a group with no other centroid). `offsets` are
    `distances.offsets_of(centroids)`: infinite for a later copy of a
    centroid, which so never wins; a group holding one is bounded by the
    distance to the own centroid, which the copy's equals or exceeds.

    The candidates are made cluster-major, (k, m), so that each group's
    minimum is a reduction across the samples' axis, which vectorises
    (measured at 2,048 x 16, k=256, groups of 16: 0.68 ms a block against
    0.83 with the product sample-major). The own cluster is in the first
    group with the lowest, at the first index there with it, which is
    argmin's lowest index on ties. Only that group's candidates are looked
    at again, for the second lowest.
    """
    k = tf.shape(centroids)[0]
    partial = (offsets[:, tf.newaxis]
               - 2 * tf.matmul(centroids, x, transpose_b=True))   # (k, m)
    grouped = tf.reshape(tf.pad(partial, [[0, -k % GROUP_SIZE], [0, 0]],
                                constant_values=np.inf),
                         (-1, GROUP_SIZE, tf.shape(x)[0]))  # (n_groups, g, m)
    group_lowest = tf.reduce_min(grouped, axis=1)         # (n_groups, m)
    own_group = tf.argmin(group_lowest, axis=0, output_type=tf.int32)
    inside = tf.gather(tf.transpose(grouped, (2, 0, 1)), own_group,
                       batch_dims=1)                              # (m, g)
    within = tf.argmin(inside, axis=1, output_type=tf.int32)
    lowest = tf.reduce_min(inside, axis=1)
    own_second = tf.reduce_min(tf.where(
        tf.range(GROUP_SIZE) == within[:, tf.newaxis],
        tf.constant(np.inf, x.dtype), inside), axis=1)
    second = tf.where(
        tf.range(tf.shape(group_lowest)[0]) == own_group[:, tf.newaxis],
        own_second[:, tf.newaxis], tf.transpose(group_lowest))
    with_copy = tf.reduce_any(tf.reshape(tf.pad(
        tf.math.is_inf(offsets), [[0, -k % GROUP_SIZE]]),
        (-1, GROUP_SIZE)), axis=1)                             # (n_groups,)
    second = tf.where(with_copy, lowest[:, tf.newaxis], second)
    norms = tf.reduce_sum(x ** 2, axis=1)
    upper = tf.sqrt(tf.maximum(lowest + norms + margin, 0))
    lower = tf.sqrt(tf.maximum(second + norms[:, tf.newaxis] - margin, 0))
    return own_group * GROUP_SIZE + within, upper, lower


def _every_row(n):
    """The list (see `_listed`) of all n rows."""
    return tf.concat([tf.range(n), tf.fill([BLOCK_ROWS], n)], axis=0)


def _listed(chosen):
    """The indices of the True entries of chosen (n,), in order, first in
    a list of n + BLOCK_ROWS; after them n, the tables' spare row, so that
    any block from the start reads only real rows or that one."""
    n = tf.shape(chosen)[0]
    # Each chosen row's place in the list; the others all go to its last
    # entry, which no block reaches (see _assign_listed).
    place = tf.where(chosen, tf.cumsum(tf.cast(chosen, tf.int32)) - 1,
                     n + BLOCK_ROWS - 1)
    return tf.tensor_scatter_nd_update(
        tf.fill([n + BLOCK_ROWS], n), place[:, tf.newaxis], tf.range(n))


def _assign_listed(samples, order, count, centroids, labels, upper, lower,
                   totals=None):
    """_two_nearest for the first `count` rows of the list `order` (see
    `_listed`), a block of BLOCK_ROWS at a time, written into the tables
    labels, upper (n + 1,) and lower (n + 1, n_groups), whose last row is
    a spare that takes the writes of the blocks' unused places.

    Returns the tables, how many rows changed cluster and, given the
    `totals` (`_totals`) before, the totals kept up to date by those rows
    alone (else None: Lloyd's are made afresh after a whole assignment).
    Exact ties break as Lloyd's, at the lowest index; within rounding, a
    near-tie may not, since the products here are made a block of rows at
    a time, cluster-major, and Lloyd's otherwise: feature by feature in
    its running minimum up to 16 features, else by its own chunks,
    sample-major above 100 clusters (see `distances`).
    """
    n = tf.shape(samples.flat)[0]
    k = tf.shape(centroids)[0]
    margin = _margin(samples.longest, centroids)
    offsets = offsets_of(centroids)

    track = totals is not None
    # Each row is listed once, so its label before is the one it had when
    # the loop began: read from there, `labels` is only written to in the
    # loop, in place (XLA copied the table twice a block otherwise).
    before = labels

    def block(b, labels, upper, lower, n_changed, totals):
        rows = tf.slice(order, [b * BLOCK_ROWS], [BLOCK_ROWS])
        real = rows < n
        x = tf.gather(samples.flat, tf.minimum(rows, n - 1))  # (B, d)
        w = None if samples.weights is None else tf.gather(
            samples.weights, tf.minimum(rows, n - 1))
        found, found_upper, found_lower = _two_nearest(x, centroids, margin,
                                                       offsets)
        old = tf.gather(before, rows)
        moved = real & (found != old)
        if track:
            # Label k leaves a row out (see stats.cluster_sums).
            totals += (_totals(x, w, tf.where(moved, found, k), k)
                       - _totals(x, w, tf.where(moved, old, k), k))
        at = rows[:, tf.newaxis]
        return (b + 1, tf.tensor_scatter_nd_update(labels, at, found),
                tf.tensor_scatter_nd_update(upper, at, found_upper),
                tf.tensor_scatter_nd_update(lower, at, found_lower),
                n_changed + tf.math.count_nonzero(moved, dtype=tf.int32),
                totals)

    _, labels, upper, lower, n_changed, totals = tf.while_loop(
        lambda b, *_: b * BLOCK_ROWS < count, block,
        (tf.constant(0), labels, upper, lower, tf.constant(0),
         totals if track else tf.constant(0, tf.float64)))  # a placeholder
    return labels, upper, lower, n_changed, totals if track else None


def _start(samples, centroids, previous):
    """Every sample assigned to `centroids`: the tables (see
    _assign_listed), Lloyd's totals (`_lloyd_totals`), and how many labels
    differ from `previous` (n + 1,), the labels before."""
    n = tf.shape(samples.flat)[0]
    k = tf.shape(centroids)[0]
    n_groups = -(-k // GROUP_SIZE)
    labels, upper, lower, n_changed, _ = _assign_listed(
        samples, _every_row(n), n, centroids, previous,
        tf.zeros([n + 1], centroids.dtype),
        tf.zeros([n + 1, n_groups], centroids.dtype))
    return (labels, upper, lower, _lloyd_totals(
        samples.flat, samples.weights, labels[:n], k), n_changed)


def _totals(x, weights, labels, n_clusters):
    """Per-cluster totals (k, d + 2), float64: the (weighted) sums of the
    rows of x, then the weights' sums (the counts, unweighted), then how
    many members of positive weight: 0 exactly when a cluster is empty,
    which float sums kept up to date by subtraction could miss."""
    x = tf.cast(x, tf.float64)
    if weights is None:
        w = tf.ones_like(labels, tf.float64)
    else:
        w = tf.cast(weights, tf.float64)
    columns = tf.concat([x * w[:, tf.newaxis], w[:, tf.newaxis],
                         tf.cast(w > 0, tf.float64)[:, tf.newaxis]], axis=1)
    return cluster_sums(columns, labels, n_clusters)[0]


def _lloyd_totals(x, weights, labels, n_clusters):
    """`_totals` of every row of x from Lloyd's own sums and counts
    (`stats.cluster_sums`, in the samples' dtype), made float64: under
    XLA, 3 ms at 200,000 x 64 against 19 for a float64 scatter."""
    sums, counts = cluster_sums(x, labels, n_clusters, weights)
    members = counts if weights is None else tf.math.unsorted_segment_sum(
        tf.cast(weights > 0, tf.int32), labels, n_clusters)
    return tf.concat([tf.cast(sums, tf.float64),
                      tf.cast(counts, tf.float64)[:, tf.newaxis],
                      tf.cast(members, tf.float64)[:, tf.newaxis]], axis=1)


def _sums_and_counts(totals, weighted):
    """The sums (k, d) and counts (k,) of the totals (see `_totals`):
    counts exactly 0 for the empty clusters; int32 without weights."""
    members = totals[:, -1]
    if not weighted:
        return totals[:, :-2], tf.cast(members, tf.int32)
    return totals[:, :-2], tf.where(members > 0, totals[:, -2], 0)


def _loop(samples, sum_of_squares, i, until, threshold, give_up, history,
          centroids, labels, upper, lower, totals, n_changed, streak):
    """Iterations i, ..., until-1 (as lloyd's loop) from the state after
    the assignment to `centroids`: the labels and bounds (the tables of
    `_assign_listed`, with their spare row), the totals (`_totals`), and
    how many labels that assignment changed. It ends early, at the start
    of an iteration, once `streak` (iterations in a row that assigned
    every sample again) reaches give_up, unless that iteration settles
    (no label changed): so a run is never handed over to Lloyd's loop
    settled, which would not know it."""
    first = i

    def not_done(i, stop, history, centroids, labels, upper, lower, totals,
                 n_changed, streak):
        return ((i < until) & (stop == 0)
                & ((streak < give_up) | (n_changed == 0)))

    def iterate(i, stop, history, centroids, labels, upper, lower, totals,
                n_changed, streak):
        sums, counts = _sums_and_counts(totals, samples.weights is not None)
        inertia = inertia_from_sums(sum_of_squares, centroids, sums, counts)
        settled = n_changed == 0
        shapes = [values.shape for values in (labels, upper, lower, totals)]
        new, labels, upper, lower, totals, n_changed, whole = _step(
            samples, centroids, labels, upper, lower, sums, counts, totals)
        # Kept as they came in, however loosely the centroids' shape was
        # traced (reduce_retracing), as tf.while_loop requires.
        labels, upper, lower, totals = (
            tf.ensure_shape(values, shape) for values, shape in
            zip((labels, upper, lower, totals), shapes))
        shift = tf.reduce_sum((new - centroids) ** 2)
        # Settled when the assignment to `centroids` changed no label, as
        # in Lloyd's loop (not the assignment to `new`, just made).
        stop = stop_code(settled, shift, threshold)
        history = tf.tensor_scatter_nd_update(
            history, [[0, i - first], [1, i - first]],
            tf.stack([tf.cast(inertia, shift.dtype), shift]))
        return (i + 1, stop, history, new, labels, upper, lower, totals,
                n_changed, tf.where(whole, streak + 1, 0))

    return tf.while_loop(not_done, iterate,
                         (i, tf.constant(0), history, centroids, labels,
                          upper, lower, totals, n_changed, streak))


def _step(samples, centroids, labels, upper, lower, sums, counts, totals):
    """The means, the bounded assignment to them, the totals kept up to
    date by the samples that changed cluster alone, how many did, and
    whether most samples were in doubt."""
    n = tf.shape(samples.flat)[0]
    k = tf.shape(centroids)[0]
    empty = tf.reduce_any(counts == 0)
    # Divided in the samples' dtype, as Lloyd divides: where its sums are
    # exact (integer data, say), the centroids are then Lloyd's to the bit,
    # and exact ties break alike.
    new = tf.cond(empty, lambda: _relocated_means(samples, centroids, labels),
                  lambda: means_or_keep(tf.cast(sums, centroids.dtype),
                                        counts, centroids))
    # The bounds hold however far the centroids moved, relocated or not.
    upper, lower, loose = _moved_bounds(
        labels, upper, lower, centroids, new, _margin(samples.longest, new),
        samples)
    loose = loose[:n]                                 # not the spare row
    count = tf.math.count_nonzero(loose, dtype=tf.int32)
    whole = (tf.cast(count, tf.float32)
             > MOST * tf.cast(n, tf.float32))
    # One assignment for either case, so that XLA compiles it once.
    order, count = tf.cond(whole, lambda: (_every_row(n), n),
                           lambda: (_listed(loose), count))
    labels, upper, lower, n_changed, kept = _assign_listed(
        samples, order, count, new, labels, upper, lower, totals)
    # After a whole reassignment many labels changed: Lloyd's sums, made
    # afresh, keep the totals Lloyd's.
    totals = tf.cond(whole, lambda: _lloyd_totals(
        samples.flat, samples.weights, labels[:n], k), lambda: kept)
    # Most samples in doubt after a relocation is not for want of bounds.
    return new, labels, upper, lower, totals, n_changed, whole & ~empty


def _relocated_means(samples, centroids, labels):
    """Lloyd's update with empty clusters relocated (`stats`): rare, so
    done plainly."""
    flat, weights = samples.flat, samples.weights
    n = tf.shape(flat)[0]
    # Lloyd's sums, from scratch in the samples' dtype, as `lloyd` makes
    # them: which samples fill the empty clusters depends on them.
    sums, counts = cluster_sums(flat, labels[:n], tf.shape(centroids)[0],
                                weights)
    sums, counts = relocate_empty(flat, n, centroids, labels[:n], sums,
                                  counts, weights)
    return means_or_keep(sums, counts, centroids)


def _slack(values, down=False):
    """values made larger (or smaller) by a few units of rounding, so that
    a bound stays a bound whichever way the arithmetic rounded."""
    slack = 1 + 4 * np.finfo(values.dtype.as_numpy_dtype).eps
    return values / slack if down else values * slack


def _proven(upper, bound, margin):
    """Whether a sample's own centroid is nearer than any other by more
    than rounding: own² + 2 margin < bound², so Lloyd's choice agrees."""
    return (upper < bound) & (upper ** 2 + 2 * margin < bound ** 2)


def _moved_bounds(labels, upper, lower, old, new, margin, samples=None):
    """The bounds after the centroids moved from `old` to `new`, and
    which samples they no longer prove.

    Given the `samples` (`_Samples`), a few centroids that moved far may
    be left out of their groups' drift, those groups' bounds then taking
    each sample's distance to the nearest of them (see FAST_MOVERS).
    """
    moved = tf.norm(new - old, axis=1)                            # (k,)
    k = tf.shape(moved)[0]
    upper = _slack(upper + tf.gather(moved, labels))
    # A sample nearer its own centroid than half the way to the nearest
    # other is nearer it than any other. The centroids' distances come from
    # their product, not a (k, k, d) tensor of differences (1.3 ms against
    # 5.7 at k=1000, d=32), less `margin`, which bounds its rounding for
    # any pair of centroids too (see _margin): `half` stays a lower bound.
    lengths = tf.reduce_sum(new ** 2, axis=1)                     # (k,)
    squared = (lengths[:, tf.newaxis] + lengths
               - 2 * tf.matmul(new, new, transpose_b=True))       # (k, k)
    squared += tf.linalg.diag(tf.fill(tf.shape(moved),
                                      tf.constant(np.inf, moved.dtype)))
    # XLA would fuse this reduction into the gather by label below, and
    # make it again for every sample (4 ms an iteration at 200,000 x 64,
    # k=32); a scatter it makes once, so the k minimums go through one,
    # each to its own place. The square root comes after the minimum,
    # which it does not change: k of them, not k².
    nearest_other = tf.sqrt(tf.maximum(tf.math.unsorted_segment_min(
        tf.reduce_min(squared, axis=1), tf.range(k), k) - margin, 0))
    half = _slack(nearest_other / 2, down=True)
    own_half = tf.gather(half, labels)

    def moved_by(drifting, closer=None):
        """The lower bounds, each group's fallen by the largest of the
        `drifting` moves in it (with many clusters, a few fast centroids
        no longer loosen them all), and at most `closer`; and which
        samples they leave in doubt."""
        drift = tf.reduce_max(tf.reshape(
            tf.pad(drifting, [[0, -k % GROUP_SIZE]]), (-1, GROUP_SIZE)),
            axis=1)                                        # (n_groups,)
        moved_lower = _slack(lower - drift, down=True)    # (n, n_groups)
        if closer is not None:
            nearest_fast, with_fast = closer
            moved_lower = tf.where(with_fast, tf.minimum(
                moved_lower, nearest_fast[:, tf.newaxis]), moved_lower)
        bound = tf.maximum(tf.reduce_min(moved_lower, axis=1), own_half)
        return moved_lower, ~_proven(upper, bound, margin)

    lower_moved, loose = moved_by(moved)
    if samples is None:
        return upper, lower_moved, loose
    # The moves padded with zeros, so that there are FASTEST + 1 of them
    # however few clusters; -1 marks no cluster.
    top = tf.math.top_k(tf.pad(moved, [[0, FASTEST + 1]]), FASTEST + 1)
    fastest = tf.where(top.indices[:FASTEST] < k, top.indices[:FASTEST], -1)
    n = tf.shape(samples.flat)[0]
    # The samples in doubt are counted only when the moves call for it: a
    # pass over them all, which most iterations need not make.
    few_fast = tf.cond(
        top.values[0] > RATIO * top.values[FASTEST],
        lambda: (tf.cast(tf.math.count_nonzero(loose[:n]), tf.float32)
                 > FAST_MOVERS * tf.cast(n, tf.float32)),
        lambda: tf.constant(False))
    apart = tf.reduce_any(tf.range(k)[:, tf.newaxis] == fastest, axis=1)
    lower_moved, loose = tf.cond(few_fast, lambda: moved_by(
        tf.where(apart, tf.zeros_like(moved), moved),
        _to_fastest(samples, labels, new, fastest, margin)),
        lambda: (lower_moved, loose))
    return upper, lower_moved, loose


def _to_fastest(samples, labels, centroids, fastest, margin):
    """A lower bound (n + 1,) on each row's distance to the nearest of
    the centroids `fastest` (FASTEST indices; -1 for none) but its own
    (inf for the tables' spare row), and which groups (n_groups,) hold any
    of them. By the expanded form, as `_two_nearest` makes it, rounding
    allowed for.

    One bound for all the groups that hold a fast centroid, not one for
    each: it is all that this iteration's test reads (their minimum), and
    a (n, n_groups) table of them took XLA 1 ms at 100,000 samples, k=256.
    """
    n, k = tf.shape(samples.flat)[0], tf.shape(centroids)[0]
    real = fastest >= 0
    chosen = tf.maximum(fastest, 0)
    c = tf.gather(centroids, chosen)                             # (J, d)
    squared = (tf.reduce_sum(c ** 2, axis=1)
               - 2 * tf.matmul(samples.flat, c, transpose_b=True)
               + samples.norms[:, tf.newaxis])                   # (n, J)
    squared = tf.where((labels[:n, tf.newaxis] == chosen) | ~real,
                       tf.constant(np.inf, squared.dtype), squared)
    nearest = _slack(tf.sqrt(tf.maximum(
        tf.reduce_min(squared, axis=1) - margin, 0)), down=True)   # (n,)
    groups = tf.range(-(-k // GROUP_SIZE))
    with_fast = tf.reduce_any(
        real & (groups[:, tf.newaxis] == chosen // GROUP_SIZE), axis=1)
    return tf.pad(nearest, [[0, 1]], constant_values=np.inf), with_fast


@functools.lru_cache(maxsize=None)
def _compiled(xla):
    """`_start`, `_loop` and `_lengths` as tf.functions (`Traced`): with
    XLA for large data, as a plain graph for small (see
    `lloyd._compiled`)."""
    return tuple(Traced(f, jit_compile=xla, reduce_retracing=True)
                 for f in (_start, _loop, _lengths))
