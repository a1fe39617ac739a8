"""Nearest-centroid assignment in bounded memory.

The lesson computes every sample-to-centroid difference at once, an
(n_samples, n_clusters, n_features) tensor: k times the size of the data.
Here the samples are centred, cut into chunks of equal size, and assigned
one chunk at a time, so the extra memory stays near CHUNK_BYTES however
many samples there are. Within a chunk the distances come

- from plain differences when there are at most DIRECT_MAX_FEATURES
  features: a matrix product would have too little work per element to be
  fast. Compiled with XLA, as a running minimum (`running_minimum`): one
  pass over the samples keeps each one's best distance and index so far,
  cluster after cluster, and nothing of size (n_clusters, n_samples) is
  ever made, so the samples need no chunks; it reads them feature by
  feature (`Chunked.columns`), and takes the expanded square below, less
  ||x||². Otherwise (small data, run eagerly) per chunk, (n_clusters,
  n_features, chunk_size); or
- from the expanded square, ||x - c||² = ||x||² - 2 x·c + ||c||², where x·c
  for all pairs is one matrix product, and ||x||² is the same for every
  centroid, so the argmin leaves it out. Up to COLUMN_MIN_MAX_FEATURES
  features, compiled, the running minimum computes the same x·c itself,
  feature by feature, rather than the product.

Before any of it, the samples are scaled by a power of two so that their
largest magnitude is between 0.5 and 1 (`power_of_two_scale`). k-means does
not change under a scale, and a power of two changes no digit of a float,
only its exponent, so the arithmetic is the same, but squares can no longer
overflow (data near 1e20 in float32) or underflow (near 1e-25).

Everything here assumes checked input (see `checks`).
"""
import math
from typing import NamedTuple

import numpy as np

from ._tensorflow import Traced, tf

# Extra memory one chunk of the assignment step may use: the distances of a
# chunk of samples to every centroid. Fewer chunks are faster under XLA
# (200,000 x 64, k=64 in one chunk: 25 ms an iteration; in two, at 32 MB:
# 29 ms).
CHUNK_BYTES = 64 * 2**20
# Up to this many features, distances come from plain differences; above,
# from a matrix product.
DIRECT_MAX_FEATURES = 4
# Below this many values (n_samples * n_features), compiling with XLA costs
# more time than it saves.
XLA_MIN_VALUES = 200_000
# Up to this many clusters, few features under XLA take the running minimum
# (see `first_lowest`) unrolled over the clusters: measured (2 cores, 2M x
# 2), 80 ms an assignment at 256 clusters against 414 ms chunked, but at
# 512 the unrolled loop compiled for 11 s and ran slower than the chunked
# form. Above, a loop goes over groups of COLUMN_GROUP clusters, as for
# more features (see COLUMN_MIN_MAX_FEATURES). Measured (2 cores), ms a
# Lloyd iteration, the chunked differences then the groups, alternating in
# one process: 1,000,000 x 2, k=500: 560 -> 62; 200,000 x 3, k=1000:
# 189 -> 28; 1,000,000 x 4, k=300: 367 -> 43.
RUNNING_MIN_MAX_CLUSTERS = 256
# Under XLA, up to this many clusters the matrix product's argmin is a
# running minimum over its rows, and above, by groups of ARGMIN_GROUP
# clusters (see `nearest`). Measured (2 cores), ms a Lloyd iteration:
#                      running  groups  argmin
# 200,000 x 64, k=64      15.7    16.6    19.8
# 200,000 x 8, k=100      11.7    17.5    22.3
# 200,000 x 16, k=128     18.5    16.1    28.7
# 100,000 x 16, k=256     44.9    12.8    28.4
# 50,000 x 32, k=1000        -    31.6    58.3
# (With at most COLUMN_MIN_MAX_FEATURES features, while their columns fit
# in COLUMNS_MAX_BYTES, the running minimum over those columns is taken
# instead, for any number of clusters.)
PRODUCT_RUNNING_MIN_MAX_CLUSTERS = 100
ARGMIN_GROUP = 8
# Above DIRECT_MAX_FEATURES and up to this many features, under XLA, the
# running minimum takes the samples feature by feature too, from the same
# expanded square as the product: it never writes the (k, n) products
# that the minimum then reads again. Unrolled over every cluster, 200,000
# x 16, k=128 took 10.5 s to compile; so a loop goes over groups of about
# COLUMN_GROUP clusters, unrolled within a group (1.5 s, for any number of
# clusters). Measured (2 cores), ms a Lloyd iteration, old and new
# alternating in one process, the product then this:
# 500,000 x 8, k=16        4.6 ->  2.8
# 200,000 x 8, k=100      12.5 ->  5.8
# 1,000,000 x 8, k=50     38.1 -> 20.9
# 200,000 x 16, k=64       8.2 ->  6.9
# and, another day, with the product's argmin by groups (a slower day:
# the machine's speed drifts, so only each row's two figures compare):
# 200,000 x 16, k=128     21.0 -> 17.4
# 200,000 x 8, k=256      17.7 -> 12.0
# 200,000 x 12, k=256     29.9 -> 23.6
# 200,000 x 16, k=256     33.1 -> 32.2
# 100,000 x 16, k=256     14.4 -> 16.2   (the one loss; to convergence
# 100,000 x 16, k=512     33.1 -> 32.5    from k-means++, 231 -> 220 ms)
# 200,000 x 8, k=1000      142 ->   78
# 50,000 x 12, k=1000     36.6 -> 29.9
# and an assignment alone, the product in one chunk against this:
# 200,000 x 32, k=64       8.7 -> 18.3   (the product's multiply-adds
# 200,000 x 64, k=64      13.9 -> 60.4    are faster)
COLUMN_MIN_MAX_FEATURES = 16
COLUMN_GROUP = 16
# From this many features, groups of SMALL_COLUMN_GROUP clusters instead:
# a group's unrolled body is a cluster's features times its clusters, and
# a smaller body compiles faster. Measured (2 cores, ms a Lloyd iteration
# and s for a first fit of 20 iterations, groups of 16 then 8,
# alternating in one process):
# 100,000 x 16, k=256     13.1 -> 12.1 ms    3.6 -> 2.0 s
# 200,000 x 16, k=64       7.9 ->  7.7       4.3 -> 2.3
# 200,000 x 12, k=256     25.3 -> 24.3       4.2 -> 2.6
# and with fewer features the smaller groups were slower:
# 300,000 x 10, k=64      10.7 -> 11.3       3.7 -> 2.3
# 200,000 x 8, k=100       6.5 ->  7.3       2.5 -> 1.6
# 200,000 x 8, k=1000     50.2 -> 53.7       4.1 -> 2.9
SMALL_GROUP_MIN_FEATURES = 12
SMALL_COLUMN_GROUP = 8
# The samples feature by feature are a copy of them all, beside the
# chunks: with more features than DIRECT_MAX_FEATURES, taken only while it
# is at most this large (then the product's chunks, within CHUNK_BYTES).
COLUMNS_MAX_BYTES = 4 * CHUNK_BYTES
# The grouped argmin reads its chunk's distances twice, so they are best
# kept near the cache: chunks of about this many bytes, not CHUNK_BYTES.
# Measured (2 cores, 4 MB of L2), ms an assignment by chunk size:
#                        8 MB    32-64 MB   one chunk
# 100,000 x 16, k=256    11.5        14.5        17.7
# 100,000 x 64, k=256    20.8        31.9           -
# 200,000 x 16, k=128    12.2        16.3           -
# 50,000 x 32, k=1000    27.6        40.1        34.2
# (The running minimum reads them once: one chunk is best for it.)
GROUPED_CHUNK_BYTES = 8 * 2**20
# Few features: a column of ones after the features, and zeros up to
# COUNTED_WIDTH columns, lets one scatter add up each cluster's sums and
# counts together (`stats.counted_sums`), since XLA's scatter costs the
# same for rows of 1 to 4 values. Measured (2 cores, XLA), ms a Lloyd
# iteration of 2 features:
#                        counted   sums and counts apart
# 200,000 x 2, k=3          0.33        0.54
# 1,000,000 x 2, k=3        1.54        2.35
# 1,000,000 x 2, k=16       2.33        3.05
# 10,000,000 x 2, k=3      27.7        30.1
# The column costs (COUNTED_WIDTH - d) values a sample, so it is taken
# while they fit in CHUNK_BYTES (see `counted_form`).
COUNTED_WIDTH = 4
# The counts are sums of float ones: exact up to 2**24, float32's
# integers.
COUNTED_MAX_SAMPLES = 2**24
# Sums over the rows run across rows of about this many values (see
# `_wide_rows`).
WIDE_ROW = 32


def power_of_two_scale(largest):
    """2**-e, with e the exponent of `largest` (a magnitude >= 0): scaled by
    it, the largest magnitude is in [0.5, 1). 1.0 for 0; at most 2**1023,
    which a float64 subnormal magnitude would exceed (`checks` refuses
    such data)."""
    if largest == 0:
        return 1.0
    return math.ldexp(1.0, min(-math.frexp(float(largest))[1], 1023))


def largest_magnitude(samples):
    """The largest |value| of a checked (n, d) tensor, as a float."""
    return float(np.max(np.abs([tf.reduce_min(samples).numpy(),
                                tf.reduce_max(samples).numpy()])))


def assign(samples, centroids):
    """Index of the nearest centroid for every sample: (n_samples,) int32.

    samples (n, d) and centroids (k, d) are checked, in the same dtype.
    """
    scale = power_of_two_scale(max(largest_magnitude(samples),
                                   largest_magnitude(centroids)))
    (n, d), k = samples.shape, centroids.shape[0]
    data = centred_chunks(samples, k, scale)
    centroids = centroids * scale - data.centre
    if data.columns is not None:
        return _running_minimum_xla(data.columns, centroids, k, d)[:n]
    return assign_chunks(data.chunks, centroids, direct_form(d))[:n]


class Chunked(NamedTuple):
    """Samples made ready for the loops (see `centred_chunks`)."""
    chunks: tf.Tensor           # (n_chunks, chunk_size, width), padded
    #                             with 0; width is n_features, or
    #                             COUNTED_WIDTH when a column of ones
    #                             follows the features (`counted_form`)
    weights: tf.Tensor          # (n_chunks * chunk_size,), 0 on padding;
    #                             None when every sample weighs 1
    n: int                      # samples; rows from n on are padding
    centre: tf.Tensor           # (d,), in scaled units
    variance: tf.Tensor         # mean per-feature variance, scaled units
    sum_of_squares: tf.Tensor   # (weighted) of the centred rows, float64
    n_features: int             # the samples' (the chunks may be wider)
    columns: tuple = None       # for the running minimum, the rows of the
    #                             chunks feature by feature: n_features
    #                             tensors (n_chunks * chunk_size,); else
    #                             None


def centred_chunks(samples, n_clusters, scale, weights=None, centre=True,
                   counted=False):
    """Scale and centre the samples, and cut them into chunks, in one pass.

    Returns a Chunked: chunks of samples * scale - centre, padded with zero
    rows that the loops leave out by their index (>= n_samples); the
    weights (n,), if any, padded alike; the centre (n_features,) in scaled
    units (zero when not `centre`); the mean per-feature variance
    (unweighted, as scikit-learn's tol uses it) and the weighted sum of
    squares of the centred samples (float64), in scaled units too. A chunk
    is as many samples as keep its block of distances to every centroid
    within CHUNK_BYTES (GROUPED_CHUNK_BYTES for the grouped argmin, see
    `nearest`); the chunks are of equal size, so there is little
    padding. Centring costs nothing (k-means does not change under a shift)
    and keeps the expanded formula accurate for data far from the origin.
    For Lloyd's loop (`counted`), where `counted_form` says so, each row
    of the chunks carries a column of ones after its features, and zeros
    up to COUNTED_WIDTH. For the running minimum the samples come feature
    by feature as well (`Chunked.columns`), which it reads in place: taken
    from the rows in the loop, each feature was copied every iteration
    (10,000,000 x 2, k=100: 59 ms an assignment against 70).
    """
    n, n_features = samples.shape
    xla = compiled_size(n, n_features)
    width = (COUNTED_WIDTH if counted and counted_form(
        n, n_features, n_clusters, xla, weights, samples.dtype.size)
        else n_features)
    per_sample = n_clusters * (n_features if direct_form(n_features) else 1)
    budget = (GROUPED_CHUNK_BYTES if not direct_form(n_features)
              and grouped_argmin(n_clusters, xla) else CHUNK_BYTES)
    running_min = running_min_form(n_features, n_clusters, xla,
                                   samples.dtype.size * n * n_features)
    n_chunks = 1 if running_min else -(
        -n // max(1, budget // (samples.dtype.size * per_sample)))
    chunk_size = -(-n // n_chunks)
    # Small data (the lessons') run eagerly: compiling would cost more.
    prepare = _centre_and_pad_xla if xla else _centre_and_pad
    chunks, weights, middle, variance, sum_of_squares, columns = prepare(
        samples, tf.constant(scale, samples.dtype), weights, centre,
        n_chunks, chunk_size, width, running_min)
    return Chunked(chunks, weights, n, middle, variance, sum_of_squares,
                   n_features, columns)


def _centre_and_pad(samples, scale, weights, centre, n_chunks, chunk_size,
                    width, by_feature=False):
    """See centred_chunks; under XLA these steps fuse into few passes.
    With `by_feature`, the columns too, else None."""
    n, d = samples.shape
    scaled = samples * scale
    middle = (_column_sums(scaled) / n if centre
              else tf.zeros((d,), scaled.dtype))
    centred = scaled - middle
    rows = centred if width == d else tf.concat(
        [centred, tf.ones((n, 1), centred.dtype),
         tf.zeros((n, width - d - 1), centred.dtype)], axis=1)
    padded = tf.pad(rows, [[0, n_chunks * chunk_size - n], [0, 0]])
    # Squares summed in the samples' dtype a row (or a wide row, see
    # _wide_rows) at a time, a few units of rounding, and those sums in
    # float64: as exact for the inertia as float64 throughout, and under
    # XLA 20 ms against 32 at 200,000 x 64 float32 (float64 arithmetic
    # there is slow).
    if weights is None:
        unweighted = total = _sum_of_squares(centred)
    else:
        squares = tf.cast(tf.reduce_sum(centred ** 2, axis=1), tf.float64)
        unweighted = tf.reduce_sum(squares)
        total = tf.reduce_sum(squares * tf.cast(weights, tf.float64))
        weights = tf.pad(weights, [[0, n_chunks * chunk_size - n]])
    # The mean per-feature variance (unweighted, as scikit-learn's tol
    # uses it): from the same squares when they are about the mean; else
    # (spherical k-means) by a pass of its own, since subtracting the
    # mean's square would cancel digits.
    variance = (unweighted / (n * d) if centre else tf.cast(
        tf.reduce_mean(tf.nn.moments(scaled, axes=[0])[1]), tf.float64))
    columns = (tuple(padded[:, f] for f in range(d)) if by_feature
               else None)
    return (tf.reshape(padded, (n_chunks, chunk_size, width)),
            weights, middle, variance, total, columns)


def _wide_rows(x):
    """The rows of x (n, d) put r to a row, (n // r, r * d), for about
    WIDE_ROW values a row, and the fewer than r rows left over: XLA adds
    up wide rows faster (the column sums of 1,000,000 x 2: 1.05 ms
    against 2.3 as they are)."""
    n, d = x.shape
    r = max(1, WIDE_ROW // d)
    whole = n - n % r
    return tf.reshape(x[:whole], (-1, r * d)), x[whole:]


def _column_sums(x):
    """The sum of each column of x (n, d), in its dtype."""
    wide, rest = _wide_rows(x)
    d = x.shape[1]
    return (tf.reduce_sum(tf.reshape(tf.reduce_sum(wide, axis=0), (-1, d)),
                          axis=0)
            + tf.reduce_sum(rest, axis=0))


def _sum_of_squares(x):
    """The sum of the squares of x (n, d), float64: a wide row's in x's
    dtype, the rows' in float64."""
    wide, rest = _wide_rows(x)
    return (tf.reduce_sum(tf.cast(tf.reduce_sum(wide ** 2, axis=1),
                                  tf.float64))
            + tf.reduce_sum(tf.cast(rest, tf.float64) ** 2))


_centre_and_pad_xla = Traced(_centre_and_pad, jit_compile=True)


def compiled_size(n_samples, n_features):
    """Whether data of this size run compiled by XLA (see
    XLA_MIN_VALUES)."""
    return n_samples * n_features >= XLA_MIN_VALUES


def direct_form(n_features):
    """Whether distances come from differences rather than a product."""
    return n_features <= DIRECT_MAX_FEATURES


def grouped_argmin(n_clusters, compiled):
    """Whether the product's argmin goes by groups (`lowest_by_groups`),
    rather than a running minimum over its rows or tf.argmin (see
    `nearest`)."""
    return compiled and n_clusters > PRODUCT_RUNNING_MIN_MAX_CLUSTERS


def running_min_form(n_features, n_clusters, xla, n_bytes=0):
    """Whether the assignment is a running minimum (see the module's
    docstring), compiled with XLA: for any number of clusters, up to
    DIRECT_MAX_FEATURES features, or up to COLUMN_MIN_MAX_FEATURES while
    the samples (n_bytes) fit in COLUMNS_MAX_BYTES."""
    if direct_form(n_features):
        return xla
    return (xla and n_features <= COLUMN_MIN_MAX_FEATURES
            and n_bytes <= COLUMNS_MAX_BYTES)


def counted_form(n_samples, n_features, n_clusters, xla, weights,
                 itemsize):
    """Whether the samples carry a column of ones (see COUNTED_WIDTH):
    for the running minimum's few features, without weights (a weighted
    sum needs weight x sample, made anew), while the column's memory fits
    in CHUNK_BYTES and the counts are exact."""
    return (running_min_form(n_features, n_clusters, xla)
            and weights is None and n_features < COUNTED_WIDTH
            and n_samples < COUNTED_MAX_SAMPLES
            and n_samples * (COUNTED_WIDTH - n_features) * itemsize
            <= CHUNK_BYTES)


def running_minimum(columns, centroids, n_clusters, n_features):
    """Nearest centroid (m,) int32 for each of m samples, centred, given
    feature by feature: `columns`, n_features tensors (m,) (see
    `Chunked.columns`); n_clusters and n_features (small) are Python ints.

    The samples go feature by feature, which vectorises; each candidate
    is ||c||² - 2 x·c, the squared distance less ||x||², which is the
    same for every cluster: d multiply-adds per sample and cluster, made
    as `first_lowest` needs them (measured 96 ms for 10M x 2 against 100
    centroids, 147 ms with the differences). Above DIRECT_MAX_FEATURES
    features or RUNNING_MIN_MAX_CLUSTERS clusters, a loop goes over groups
    of clusters (see COLUMN_MIN_MAX_FEATURES and SMALL_COLUMN_GROUP),
    keeping the best so far across them.
    """
    offsets = tf.reduce_sum(centroids ** 2, axis=1)               # (k,)
    if direct_form(n_features) and n_clusters <= RUNNING_MIN_MAX_CLUSTERS:
        return first_lowest(
            offsets[j] + tf.add_n([-2 * centroids[j, f] * columns[f]
                                   for f in range(n_features)])
            for j in range(n_clusters))
    clusters_a_group = (SMALL_COLUMN_GROUP
                        if n_features >= SMALL_GROUP_MIN_FEATURES
                        else COLUMN_GROUP)
    n_groups = -(-n_clusters // clusters_a_group)
    size = -(-n_clusters // n_groups)                 # groups of equal size
    # The padding's clusters, at an infinite offset, never win.
    offsets = tf.pad(offsets, [[0, n_groups * size - n_clusters]],
                     constant_values=np.inf)
    scaled = tf.pad(-2 * centroids, [[0, n_groups * size - n_clusters],
                                     [0, 0]])

    def group(g, best, index):
        first = g * size
        offset = tf.slice(offsets, [first], [size])
        centroid = tf.slice(scaled, [first, 0], [size, n_features])
        for j in range(size):
            candidate = offset[j] + tf.add_n([centroid[j, f] * columns[f]
                                              for f in range(n_features)])
            # Strictly lower replaces: ties keep the lowest index.
            lower = candidate < best
            best = tf.where(lower, candidate, best)
            index = tf.where(lower, first + j, index)
        return g + 1, best, index

    m = tf.shape(columns[0])[0]
    return tf.while_loop(
        lambda g, *_: g < n_groups, group,
        (tf.constant(0), tf.fill([m], tf.constant(np.inf, columns[0].dtype)),
         tf.zeros([m], tf.int32)))[2]


def first_copies(centroids):
    """(k,) int32: for each centroid, the lowest index of a centroid
    exactly equal to it (its own index when it has no earlier copy).

    Copies tie with their first, but the matrix product can round
    identical columns differently (its kernels treat the last columns
    apart), so argmin could give some samples to a later copy, where its
    rule is the lowest index. The assignments give later copies an
    infinite offset (`offsets_of`), and distances for the user repeat the
    first copy's column (`to_every_centroid`).

    Exactly, in about k log k + k d steps rather than a k² d comparison:
    each row's bits are summed as integers with a weight per position
    (exact, in any order, so copies get equal sums), and each row is
    compared in full only with the first row of equal sum (with every
    row, if two different rows ever share a sum).
    """
    k = tf.shape(centroids)[0]
    unsigned = tf.where(centroids == 0, tf.zeros_like(centroids),
                        centroids)                        # -0.0 as +0.0
    width = centroids.dtype.size * 8                       # 16, 32 or 64
    bits = tf.bitcast(unsigned, {16: tf.int16, 32: tf.int32,
                                 64: tf.int64}[width])            # (k, d)
    # 16 bits at a time, so that the weighted sums cannot overflow.
    halves = tf.cast(tf.stack(
        [tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, tf.cast(
            shift, bits.dtype)), tf.cast(0xFFFF, bits.dtype))
         for shift in range(0, width, 16)],
        axis=-1), tf.int64)                            # (k, d, halves)
    # A random weight below 2**20 for each position, the same for every
    # row; the sums stay far below 2**63.
    weights = tf.random.stateless_uniform(
        tf.shape(halves[0]), seed=[0, 0], minval=1, maxval=2**20,
        dtype=tf.int64)                                        # (d, halves)
    sums = tf.reduce_sum(halves * weights, axis=[1, 2])            # (k,)
    # Rows in the order of their sums: each run of equal sums is compared
    # with its lowest row (a segment minimum of the rows' indices).
    order = tf.argsort(sums)                                       # (k,)
    ordered = tf.gather(sums, order)
    run = tf.cumsum(tf.cast(tf.concat(
        [[False], ordered[1:] != ordered[:-1]], axis=0), tf.int32))
    first_of_run = tf.math.unsorted_segment_min(order, run, k)
    first = tf.gather(tf.gather(first_of_run, run),
                      tf.math.invert_permutation(order))           # (k,)
    index = tf.range(k)
    same = tf.reduce_all(tf.gather(centroids, first) == centroids, axis=1)
    # A row unlike the first of its run shares its sum by chance (or by
    # crafted input), and may hide a copy further on: then, and only
    # then, every pair is compared, k² d steps, to stay exact.
    collided = tf.reduce_any(~same)

    def every_pair():
        equal = tf.reduce_all(centroids[:, tf.newaxis] == centroids,
                              axis=2)                             # (k, k)
        return tf.reduce_min(tf.where(equal, index, k), axis=1)

    return tf.cond(collided, every_pair,
                   lambda: tf.where(same, first, index))


def later_copies(centroids):
    """(k,) bool: True for a centroid exactly equal to one of lower index
    (see `first_copies`)."""
    return first_copies(centroids) < tf.range(tf.shape(centroids)[0])


def first_lowest(candidates):
    """For each of m positions, the index of the lowest of `candidates`,
    an iterable of k tensors (m,): a running minimum, (m,) int32.

    The loop is Python, so XLA sees one long expression and fuses it into
    a single pass over the m positions, cluster after cluster keeping each
    one's best value and index so far. Strictly lower replaces, so ties
    keep the lowest index, as argmin does.
    """
    candidates = iter(candidates)
    best = next(candidates)
    index = tf.zeros_like(best, tf.int32)
    for j, candidate in enumerate(candidates, start=1):
        lower = candidate < best
        best = tf.where(lower, candidate, best)
        index = tf.where(lower, j, index)
    return index


def offsets_of(centroids):
    """(k,) the centroids' squared lengths, the product's offsets in the
    expanded square, inf for the later copies of a centroid (see
    `later_copies`)."""
    return tf.where(later_copies(centroids),
                    tf.constant(np.inf, centroids.dtype),
                    tf.reduce_sum(centroids ** 2, axis=1))


def nearest(x, centroids, direct, compiled=False, offsets=None):
    """Index of the nearest centroid for each row of a chunk x (m, d): (m,).

    `direct` (a Python bool, see direct_form) picks the formula. For the
    product, `offsets` are `offsets_of(centroids)`, made here if not given
    (the differences need none: a copy's are made exactly as its first's,
    and ties keep the lowest index). `compiled` (under XLA) picks a faster
    argmin than the paired (value, index) reduction XLA makes of
    tf.argmin, which does not vectorise: for at most
    PRODUCT_RUNNING_MIN_MAX_CLUSTERS clusters, the product is made
    cluster-major, (k, m), and its rows (each contiguous) go through
    `first_lowest`, across many samples at once; for more,
    `lowest_by_groups`. Both give argmin's lowest index on ties.
    """
    if direct:
        # Samples along the last axis: the argmin over clusters (axis 0)
        # then runs across many samples at once.
        x_t = tf.transpose(x)                                     # (d, m)
        distances = tf.reduce_sum(
            (x_t[tf.newaxis] - centroids[:, :, tf.newaxis]) ** 2,
            axis=1)                                               # (k, m)
        return tf.argmin(distances, axis=0, output_type=tf.int32)  # (m,)
    centroid_sq = (offsets_of(centroids) if offsets is None
                   else offsets)                                  # (k,)
    n_clusters = centroids.shape[0]
    grouped = grouped_argmin(n_clusters, compiled)
    if compiled and not grouped:
        product = tf.matmul(centroids, x, transpose_b=True)        # (k, m)
        # Row by row, so that XLA fuses the arithmetic into the running
        # minimum, which reads the product once; made of the whole product
        # first, it wrote and read it all once more (200,000 x 64, k=64:
        # 19.3 ms against 21.0 for the assignment).
        return first_lowest(centroid_sq[j] - 2 * product[j]
                            for j in range(n_clusters))
    partial = centroid_sq - 2 * tf.matmul(x, centroids,
                                          transpose_b=True)       # (m, k)
    if grouped:
        return lowest_by_groups(partial)
    return tf.argmin(partial, axis=1, output_type=tf.int32)       # (m,)


def lowest_by_groups(values):
    """argmin along the rows of values (m, k), lowest index on ties, by
    groups of ARGMIN_GROUP columns: each group's minimum (a plain
    reduction), the first group with the lowest, then the first index in
    it with that value. Under XLA about twice as fast as tf.argmin at
    k=256 (see PRODUCT_RUNNING_MIN_MAX_CLUSTERS)."""
    m, k = tf.shape(values)[0], tf.shape(values)[1]
    grouped = tf.reshape(
        tf.pad(values, [[0, 0], [0, -k % ARGMIN_GROUP]],
               constant_values=np.inf), (m, -1, ARGMIN_GROUP))
    group = tf.argmin(tf.reduce_min(grouped, axis=2), axis=1,
                      output_type=tf.int32)                       # (m,)
    inside = tf.gather(grouped, group, batch_dims=1)      # (m, group)
    return group * ARGMIN_GROUP + tf.argmin(inside, axis=1,
                                            output_type=tf.int32)


_running_minimum_xla = Traced(running_minimum, jit_compile=True)


def assign_chunks(chunks, centroids, direct, compiled=False):
    """Nearest centroid for every row of chunks: (n_chunks * chunk_size,).

    chunks: (n_chunks, chunk_size, d); centroids: (k, d); `direct` and
    `compiled` as for `nearest`. `tf.map_fn` runs one chunk at a time, so
    only one chunk's distances exist at once.
    """
    offsets = None if direct else offsets_of(centroids)     # once, here
    labels = tf.map_fn(
        lambda x: nearest(x, centroids, direct, compiled, offsets), chunks,
        fn_output_signature=tf.int32)
    return tf.reshape(labels, [-1])


def squared_distances(samples, centroids, labels):
    """Squared distance of each sample to its own centroid: (n,).

    Computed from the differences, exactly; under XLA the gather, subtract
    and sum fuse into one pass, so no (n, d) copy is made.
    """
    return tf.reduce_sum((samples - tf.gather(centroids, labels)) ** 2,
                         axis=1)


def inertia_of(samples, centroids, labels, weights=None):
    """The (weighted) inertia of an assignment, float64: each sample's
    squared distance to its own centroid, summed over its features in the
    samples' dtype (a few units of rounding), then over the samples in
    float64, which keeps the total as exact as float64 throughout (under
    XLA, where float64 arithmetic is slow, 7.5 ms against 13.4 at 200,000
    x 64)."""
    distances = tf.cast(squared_distances(samples, centroids, labels),
                        tf.float64)
    if weights is not None:
        distances *= tf.cast(weights, tf.float64)
    return tf.reduce_sum(distances)


def pairwise(samples, centroids, metric="euclidean"):
    """Distance of every sample to every centroid: (n, k), samples' dtype.

    Euclidean distances, or for "cosine" 1 - cosine similarity; samples and
    centroids checked. Computed in float64, scaled by a power of two (see
    `to_every_centroid`); the output is a whole (n, k) matrix, so this is
    for the data you want it for, not for any size.
    """
    return tf.cast(to_every_centroid(tf.cast(samples, tf.float64),
                                     tf.cast(centroids, tf.float64),
                                     metric == "cosine"), samples.dtype)


def to_every_centroid(samples, centroids, cosine, first=None):
    """(n, k) distances in plain TensorFlow ops, for serving and Keras too.

    `first` (k,) are the centroids' `first_copies`, made here if not
    given: each centroid's column is its first copy's, so that exact
    copies tie exactly (argmin then gives the lowest index).

    Both are first scaled by a power of two (`_scale_in_graph`), as the
    engine scales its data, so that no square overflows or underflows
    (float32 data near 1e20, or 1e-22); here into a window around 1
    rather than near 1, so that rows far smaller than the largest keep
    their digits too. Cosine: 1 - the dot product of the unit-length
    samples with the (unit-length) centroids. Euclidean: the expanded
    square after a shift by the centroids' mean, which changes no distance
    but keeps the digits of data far from the origin; clipped at 0 against
    rounding, and scaled back (inf where a distance is beyond the dtype's
    range).
    """
    first = first_copies(centroids) if first is None else first
    scale = _scale_in_graph(samples, centroids)
    samples = samples * scale
    if cosine:
        unit = tf.math.divide_no_nan(
            samples, tf.norm(samples, axis=1, keepdims=True))
        return tf.gather(1 - tf.matmul(unit, centroids, transpose_b=True),
                         first, axis=1)
    centroids = centroids * scale
    middle = tf.reduce_mean(centroids, axis=0)
    x, c = samples - middle, centroids - middle
    squared = (tf.reduce_sum(x * x, axis=1, keepdims=True)
               - 2 * tf.matmul(x, c, transpose_b=True)
               + tf.reduce_sum(c * c, axis=1))                    # (n, k)
    return tf.gather(tf.sqrt(tf.maximum(squared, 0)) / scale, first,
                     axis=1)


def _scale_in_graph(samples, centroids):
    """A power of two, made by graph ops (TensorFlow Lite has them all),
    that brings the largest finite magnitude of samples and centroids,
    2**e, within 2**±(maxexp // 3) of 1 (2**±42 in float32) when it lies
    outside. There its squares cannot overflow, and rows up to 2**42
    times smaller keep theirs from underflowing (a batch served with a
    row near 1e19 among rows near 1, in float32). A rounded logarithm may
    make e one off, which still scales by a power of two, exactly.
    Infinite and NaN values are left out, so that such a row spoils only
    its own distances."""
    info = np.finfo(samples.dtype.as_numpy_dtype)
    window = info.maxexp // 3                   # float32: 42, float64: 341

    def finite_largest(x):
        return tf.reduce_max(tf.where(tf.math.is_finite(x), tf.abs(x),
                                      tf.zeros_like(x)))
    largest = tf.maximum(finite_largest(samples), finite_largest(centroids))
    exponent = tf.math.ceil(tf.math.log(tf.maximum(largest, info.tiny))
                            / math.log(2))
    shift = tf.clip_by_value(exponent, -window, window) - exponent
    return tf.pow(tf.constant(2, samples.dtype), shift)
