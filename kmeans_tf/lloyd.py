"""Lloyd's algorithm in memory: the whole loop in one compiled graph.

`run` takes centred, chunked samples (`distances.centred_chunks`) and a
start, and iterates assign -> sums -> means inside one `tf.while_loop`, so
no Python runs between iterations (but once a run, to compare the labels
of an iteration whose sums repeat, see REPEATED). It is compiled twice:
with XLA for large data, where fusing the steps pays, and as a plain graph
for small data, where compiling would cost more than it saves. Everything
here assumes checked input.
"""
import functools
import time
from typing import NamedTuple

import numpy as np

from ._tensorflow import Traced, tf
from .distances import (assign_chunks, compiled_size, direct_form,
                        inertia_of, running_minimum)
from .stats import (SCATTER_PARTS, block_offsets, cluster_sums,
                    counted_sums, inertia_from_sums, means_or_keep,
                    on_sphere, relocate_empty)

# Why a run stopped, by its stop code; 0 means it is still running.
STOP_REASONS = ("reached max_iter", "no label changed",
                "centroids moved less than tol")
# The stop code of a loop whose probe (see `iterate`) found that another
# algorithm would now do better; never a run's own.
PROBED = len(STOP_REASONS)
# The stop code of a loop whose last iteration made the same sums and
# counts as the one before: `iterate` then compares the two iterations'
# labels, outside the loop, to tell whether the run settled.
REPEATED = PROBED + 1
# With a progress callback, `run` reports after bursts of about this long.
PROGRESS_SECONDS = 0.5
# Iterations per compiled call at most: the call's history holds this many,
# so memory does not grow with max_iter.
HISTORY_BLOCK = 1024
# A probe (see `iterate`) runs after each of the first PROBE_EVERY_UNTIL
# iterations, then after every PROBE_PERIOD-th: on clustered data the
# bounds' probe succeeds within the first few (after 2 to 5 iterations at
# 200,000 x 64, k=64; 100,000 x 16, k=256; 50,000 x 32, k=1000), and on
# data without clusters, where it never does, it costs 2 to 4% of each
# iteration.
PROBE_EVERY_UNTIL = 8
PROBE_PERIOD = 4


def stop_code(settled, shift, threshold):
    """The one stop rule: 1 when nothing changed any more, 2 when the
    centroids' summed squared shift is at most threshold, else 0."""
    return tf.where(settled, 1, tf.where(shift <= threshold, 2, 0))


def run(data, centroids, max_iter, threshold, progress=None, radius=None):
    """Lloyd's iterations from `centroids`, in the coordinates of `data`.

    `data` is a `distances.Chunked`. With `radius` (spherical k-means, for
    the cosine metric) every new centroid is put back at that length, the
    samples' own. Without `progress`, iterations run HISTORY_BLOCK to a
    compiled call (all of them, in practice: runs rarely take more). With
    it, they run in bursts of about PROGRESS_SECONDS, and progress(n_iter,
    max_iter, inertia, shift) is called after each burst.

    Returns
    -------
    tuple (centroids (k, d), labels (n,), inertia, n_iter, stop code,
    inertia history (n_iter,), shift history (n_iter,)), NumPy values.
    """
    centroids, _, n_iter, stop, history = iterate(
        data, centroids, max_iter, threshold, progress, radius)
    return (*finish(data, centroids, radius), n_iter, stop, history[0],
            history[1])


def iterate(data, centroids, max_iter, threshold, progress=None,
            radius=None, probe=None, probe_rows=None):
    """`run`'s iterations without its final assignment, for a run that
    goes on in another way (see `bounded`).

    With `probe`, a function (hashable: one compilation each), the loop
    calls probe(probe_rows, centroids, new centroids) after an iteration
    (see PROBE_EVERY_UNTIL), and stops with the code PROBED as soon as it
    returns True.

    Returns the centroids (k, d) and, with a probe, the last iteration's
    labels (the assignment to the centroids before them; padded to the
    chunks' rows; else None), tensors, then n_iter, the stop code and the
    history (2, n_iter), NumPy.
    """
    xla, options = _options(data, centroids, radius, probe)
    loop, final = _compiled(xla, options)
    dtype = data.chunks.dtype
    radius = tf.constant(radius or 0, dtype)
    padded = data.chunks.shape[0] * data.chunks.shape[1]
    # No iteration before the first: its sums are NaN, which equal nothing
    # (see _lloyd_loop); the centroids before it are never looked at.
    previous = earlier = centroids
    # (Small constants from NumPy: each TensorFlow op run eagerly, such as
    # tf.zeros, costs about 0.1 ms.)
    totals = (tf.constant(np.full(centroids.shape, np.nan), dtype),
              tf.constant(np.zeros(centroids.shape[0]), _count_dtype(data)))
    labels = tf.fill((padded,), -1) if probe else tf.constant([], tf.int32)
    # Always HISTORY_BLOCK columns: one shape, so one compilation, for any
    # max_iter.
    block = tf.constant(np.zeros((2, HISTORY_BLOCK)), dtype)
    threshold = tf.constant(threshold, dtype)
    data = data._replace(n=tf.constant(data.n))

    def burst(i, until):
        nonlocal centroids, previous, earlier, totals, labels
        (next_i, centroids, previous, earlier, totals, labels, stop,
         history) = loop(data, centroids, previous, earlier, totals, labels,
                         tf.constant(i), tf.constant(until), threshold,
                         block, radius, options, probe_rows)
        next_i, stop = int(next_i), int(stop)
        if stop == REPEATED:
            # Equal labels give equal sums and counts, bit for bit (the
            # scatter adds in a fixed order), so only now can the labels
            # have repeated; the last two assignments are made again to
            # compare, by the final assignment's function. Not in the
            # loop: compiled there a second time, the assignment would
            # cost about 60 MB more at 100 clusters of few features (a long
            # running minimum).
            n = data.n
            settled = tf.reduce_all(final(data, previous, options)[0][:n]
                                    == final(data, earlier, options)[0][:n])
            stop = int(stop_code(settled, history[1, next_i - 1 - i],
                                 threshold))
        return next_i, stop, history

    n_iter, stop, history = bursts(burst, max_iter, progress)
    return centroids, labels if probe else None, n_iter, stop, history


def finish(data, centroids, radius=None):
    """The labels (n,) of `centroids` and their inertia, NumPy values."""
    xla, options = _options(data, centroids, radius)
    _, final = _compiled(xla, options)
    labels, inertia = final(data._replace(n=tf.constant(data.n)), centroids,
                            options)
    # Cut in NumPy: a slice of the tensor would be an op, and a copy.
    return centroids.numpy(), labels.numpy()[:data.n], float(inertia)


def with_offset(progress, done, max_iter):
    """A progress callback for the part of a run that starts after `done`
    of its max_iter iterations: it reports the whole run's counts."""
    if progress is None:
        return None

    def report(n_iter, _, *values):
        progress(done + n_iter, max_iter, *values)
    return report


def _options(data, centroids, radius, probe=None):
    """Whether the loop compiles with XLA, and its `_Options`."""
    xla = compiled_size(data.n, data.n_features)
    k, d = centroids.shape
    rows = data.chunks.shape[0] * data.chunks.shape[1]
    return xla, _Options(direct_form(d), radius is not None,
                         data.columns is not None, xla, k, d,
                         data.chunks.shape[-1] > d, rows > data.n, probe)


def bursts(burst, max_iter, progress=None):
    """Iterations 0, 1, ... until max_iter or a stop, in compiled bursts.

    burst(i, until) runs iterations i to at most until-1 and returns the
    next i, the stop code and its history block (2, >= until - i). Without
    `progress`, a burst is HISTORY_BLOCK iterations; with it, about
    PROGRESS_SECONDS, and progress(n_iter, max_iter, inertia, shift) is
    called after each. Returns n_iter, the stop code and the history
    (2, n_iter) as NumPy.
    """
    histories = [np.zeros((2, 0))]
    i, stop = 0, 0
    size = HISTORY_BLOCK if progress is None else 1
    while i < max_iter and stop == 0:
        started = time.perf_counter()
        next_i, stop, history = burst(i, min(i + size, max_iter))
        histories.append(history[:, :next_i - i].numpy())
        if progress is not None:
            progress(next_i, max_iter, *histories[-1][:, -1].tolist())
            seconds_each = (time.perf_counter() - started) / (next_i - i)
            size = min(HISTORY_BLOCK,
                       max(1, int(PROGRESS_SECONDS / seconds_each)))
        i = next_i
    return i, stop, np.concatenate(histories, axis=1)


class _Options(NamedTuple):
    """The loop's Python switches and sizes: each value is traced once."""
    direct: bool        # distances from differences (see distances)
    spherical: bool     # centroids kept at the samples' length (cosine)
    running_min: bool   # the assignment as a running minimum (distances)
    compiled: bool      # under XLA (it picks the argmin, see distances)
    n_clusters: int
    n_features: int
    counted: bool       # a column of ones follows the features (distances)
    padded: bool        # the chunks have rows of padding after the samples
    probe: object = None  # see iterate


def _assign(data, flat, centroids, options, offsets=None):
    """Labels of every row (see distances: chunks, or a running minimum),
    plus `offsets` if given (see `_offsets`)."""
    if options.running_min:
        labels = running_minimum(data.columns, centroids,
                                 options.n_clusters, options.n_features)
    else:
        # The number of clusters fixed in the trace, which may have
        # loosened it (reduce_retracing): the running minimum is unrolled
        # over them.
        centroids = tf.ensure_shape(centroids, (options.n_clusters,
                                                options.n_features))
        labels = assign_chunks(data.chunks, centroids, options.direct,
                               options.compiled)
    return labels if offsets is None else labels + offsets


def _offsets(flat, options):
    """For the running minimum, each row's `stats.block_offsets`, else
    None. The assignment adds them to the labels as it makes them (XLA
    fuses the addition into the running minimum), for the sums by blocks:
    added afterwards, in a pass of their own, they cost about 0.2 ms an
    iteration at 1,000,000 x 2, k=3, an eighth of it. XLA makes the
    offsets once for the whole loop and keeps them: 40 MB at 10,000,000
    samples."""
    if not options.running_min:
        return None
    return block_offsets(tf.shape(flat)[0], options.n_clusters + 1,
                         flat.shape[-1])


def _lloyd_step(data, flat, centroids, radius, options, offsets=None):
    """One Lloyd iteration. Returns labels (plus `offsets`, if given: see
    `_offsets`), inertia, new centroids, and the per-cluster sums and
    counts of the labels (before any empty cluster's relocation).

    The inertia is that of `centroids`, the ones the samples were assigned
    to. Clusters left empty take the samples farthest from their own
    centroids (`stats.relocate_empty`).
    """
    k = tf.shape(centroids)[0]
    labels = _assign(data, flat, centroids, options, offsets)
    kept = labels
    if options.padded:                 # padding goes to an extra cluster
        kept = tf.where(tf.range(tf.shape(labels)[0]) >= data.n,
                        k if offsets is None else k + offsets, labels)
    if options.counted:
        sums, counts = counted_sums(flat, kept, k, options.n_features,
                                    offsets is not None)
    else:
        sums, counts = cluster_sums(flat, kept, k, data.weights,
                                    offsets is not None,
                                    SCATTER_PARTS if options.compiled else 1)
    inertia = inertia_from_sums(data.sum_of_squares, centroids, sums, counts)
    totals = sums, counts
    # (The samples without a column of ones are sliced in the branch: out
    # of it, XLA would copy them every iteration.)
    sums, counts = tf.cond(
        tf.reduce_any(counts == 0),
        lambda: relocate_empty(flat[:, :options.n_features], data.n,
                               centroids, _without(labels, offsets), sums,
                               counts, data.weights),
        lambda: (sums, counts))
    new_centroids = means_or_keep(sums, counts, centroids)
    if options.spherical:
        new_centroids = on_sphere(new_centroids, radius, centroids)
    return labels, inertia, new_centroids, totals


def _without(labels, offsets):
    """The labels, without the offsets they were given (if any)."""
    return labels if offsets is None else labels - offsets


def _count_dtype(data):
    """The dtype of the clusters' counts: int32, or the weights'."""
    return tf.int32 if data.weights is None else data.weights.dtype


def _lloyd_loop(data, centroids, previous, earlier, totals, labels, i,
                until, threshold, history, radius, options, probe_rows=None):
    """Lloyd's iterations i, i+1, ... until-1 in one graph.

    `previous` are the centroids of the iteration before i, `earlier`
    those of the one before that, and `totals` the sums and counts of the
    assignment to `previous` (NaN sums before the first iteration).
    `labels` are that assignment with a probe (see iterate), else empty.
    `history`, of shape (2, at least until - i), gets each iteration's
    inertia and shift, iteration i in column 0. Returns the next i, the
    centroids, the two sets before them, the totals, the labels, the stop
    code (see stop_code; or REPEATED) and the history.
    """
    flat = tf.reshape(data.chunks, (-1, tf.shape(data.chunks)[-1]))  # view
    offsets = _offsets(flat, options)
    first = i

    def not_done(i, centroids, previous, earlier, old_totals, old_labels,
                 stop, history):
        return tf.logical_and(i < until, stop == 0)

    def step(i, centroids, previous, earlier, old_totals, old_labels, stop,
             history):
        labels, inertia, new_centroids, totals = _lloyd_step(
            data, flat, centroids, radius, options, offsets)
        shift = tf.reduce_sum((new_centroids - centroids) ** 2)
        # Lloyd's stop rule compares every label with the last iteration's.
        # While the sums and counts differ, so do the labels; when they
        # repeat, the loop stops for `iterate` to compare the labels. So
        # no labels are kept from one iteration to the next, which XLA
        # would copy every time.
        repeated = tf.reduce_all([tf.reduce_all(new == old)
                                  for new, old in zip(totals, old_totals)])
        stop = tf.where(repeated, REPEATED,
                        stop_code(False, shift, threshold))
        if options.probe is not None:
            due = (stop == 0) & ((i < PROBE_EVERY_UNTIL)
                                 | (i % PROBE_PERIOD == 0))
            stop = tf.where(tf.cond(due, lambda: options.probe(
                probe_rows, centroids, new_centroids), lambda: False),
                PROBED, stop)
        history = tf.tensor_scatter_nd_update(
            history, [[0, i - first], [1, i - first]],
            tf.stack([tf.cast(inertia, shift.dtype), shift]))
        return (i + 1, new_centroids, centroids, previous, totals,
                _without(labels, offsets) if options.probe is not None
                else old_labels, stop, history)

    return tf.while_loop(not_done, step,
                         (i, centroids, previous, earlier, totals, labels,
                          tf.constant(0), history))


def _final_assignment(data, centroids, options):
    """Labels for the final centroids (every row of the chunks, padding
    included), and their (weighted) inertia."""
    flat = tf.reshape(data.chunks, (-1, tf.shape(data.chunks)[-1]))
    labels = _assign(data, flat, centroids, options)
    return labels, inertia_of(
        flat[:data.n, :options.n_features], centroids, labels[:data.n],
        None if data.weights is None else data.weights[:data.n])


@functools.lru_cache(maxsize=None)
def _compiled(xla, options):
    """The loop and the final assignment as tf.functions (`Traced`), with
    XLA for large data, as a plain graph for small; one pair per set of
    options, each traced once per shape, so nothing retraces again and
    again when a program runs k-means for many k (choose_k.py)."""
    return tuple(Traced(f, jit_compile=xla, reduce_retracing=True)
                 for f in (_lloyd_loop, _final_assignment))
