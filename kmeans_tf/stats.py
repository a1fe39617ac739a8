"""Per-cluster statistics: sums and counts, means, inertia, empty clusters.

Lloyd's update needs only, for each cluster, the sum of its samples and how
many there are; everything else (the new centroids, the inertia, what an
all-reduce sends between devices) is made from those. They are computed in
one place, `cluster_sums` (and `counted_sums`, for rows that carry their
count), a block of rows at a time (`segment_sums`), so that the sums of
large clusters keep their digits. Everything here assumes checked input.
"""
from ._tensorflow import tf
from .distances import squared_distances


# XLA's scatter adds one row after another, each a load, an add and a
# store: when a row goes to the same sum as the row before, the add waits
# for that store. Samples of the same cluster one after another (data in
# the order of its classes, or few clusters) make a chain of such waits.
# So narrow rows (up to NARROW_ROW values, where the wait is most of the
# cost) take turns between LANES sums per segment in each block: rows
# next to each other never add to the same sum. Measured (XLA, 2 cores),
# ms a Lloyd iteration of 1,000,000 x 2, samples in random order and
# sorted by their first feature, 1 / 2 / 4 lanes:
#            random              sorted
# k=3     1.6 / 1.1 / 1.1     3.8 / 2.1 / 1.6
# k=8     1.2 / 1.1 / 1.5     2.5 / 1.5 /  -
# k=20    1.9 / 1.9 / 2.5     3.6 / 2.5 / 2.1
# k=100   5.7 / 6.0 /  -      5.3 / 4.9 / 5.9
# (More lanes make a larger table, which loses where chains are rare.)
NARROW_ROW = 4
LANES = 2
# XLA runs a scatter on one core. Rows of more than SPLIT_ROW values, where
# each row's adds are most of the work, go to SCATTER_PARTS scatters
# instead, each over its share of the rows, which XLA runs side by side
# (in Lloyd's loop, see `lloyd`: outside XLA each would pass over every
# row). Measured (XLA, 2 cores), ms a scatter into 65 segments by blocks,
# one scatter / two:
# 200,000 x 16     0.4-0.6 / 0.5-0.8
# 200,000 x 32     1.1-1.9 / 1.1-1.5
# 200,000 x 48     2.4-2.9 / 1.7-2.1
# 200,000 x 64     2.6-2.9 / 1.6-2.3
# 100,000 x 128    3.7-4.3 / 3.4-3.5
SPLIT_ROW = 32
SCATTER_PARTS = 2


def _lanes(width):
    """Sums per segment in a block for rows of `width` values (a Python
    int, or None when unknown): LANES for narrow rows, else 1. Unknown
    counts as narrow: a table with room for more lanes than the offsets
    use still adds up right, one with fewer would drop rows."""
    return LANES if width is None or width <= NARROW_ROW else 1


def _blocks(n_rows, n_segments):
    """Rows a block for `segment_sums`, about sqrt(n_rows * n_segments)
    and at least 1 (a replica's share of a small batch may have no rows),
    and how many blocks (int32 tensors; n_rows a tensor or an int)."""
    size = tf.maximum(tf.cast(tf.math.ceil(tf.sqrt(tf.cast(
        n_rows * n_segments, tf.float32))), tf.int32), 1)
    return size, (n_rows + size - 1) // size


def block_offsets(n_rows, n_segments, width):
    """For `segment_sums` of rows of `width` values: where each row's
    sums start in its table, (n_rows,) int32: (block * lanes + lane)
    times n_segments, the lane the row's index modulo lanes."""
    size, _ = _blocks(n_rows, n_segments)
    lanes = _lanes(width)
    rows = tf.range(n_rows)
    return (rows // size * lanes + rows % lanes) * n_segments


def segment_sums(values, segment_ids, n_segments, with_offsets=False,
                 parts=1):
    """tf.math.unsorted_segment_sum(values, segment_ids, n_segments), added
    up a block of rows at a time, then the blocks' sums.

    A scatter adds each row to its segment's running sum, one after
    another, so over a cluster of many samples the rounding grows with
    their number. In blocks of about sqrt(n_rows * n_segments) rows, each
    segment adds about sqrt(n_rows / n_segments) rows in a block, then as
    many blocks' sums. Measured in float32 (1,000,000 rows, 4 segments,
    under XLA): 1.6e-3 of the sums one after another, 3e-6 by blocks,
    for about 0.4 ms more. (scikit-learn adds chunks of 256 samples, then
    the chunks one after another.) Narrow rows take turns between LANES
    sums in each block (see NARROW_ROW). `with_offsets`: the segment ids
    already include the rows' `block_offsets` (see `lloyd`). `parts`:
    rows of more than SPLIT_ROW values are added up by that many
    scatters, each over its share of the rows.
    """
    n_rows = tf.shape(values)[0]
    static_width = values.shape[1]                  # None when unknown
    width = static_width or tf.shape(values)[1]
    if not with_offsets:
        segment_ids = segment_ids + block_offsets(n_rows, n_segments,
                                                  static_width)
    _, n_blocks = _blocks(n_rows, n_segments)
    n_sums = n_blocks * _lanes(static_width)
    size = n_sums * n_segments
    if parts == 1 or static_width is None or static_width <= SPLIT_ROW:
        table = tf.math.unsorted_segment_sum(values, segment_ids, size)
    else:
        # Each scatter leaves out the other parts' rows by an id past its
        # end.
        part = tf.range(n_rows) * parts // n_rows
        table = tf.add_n([tf.math.unsorted_segment_sum(
            values, tf.where(part == p, segment_ids, size), size)
            for p in range(parts)])
    return tf.reduce_sum(tf.reshape(table, (n_sums, n_segments, width)),
                         axis=0)


def cluster_sums(samples, labels, n_clusters, weights=None,
                 with_offsets=False, parts=1):
    """Per-cluster sums (k, d), in the samples' dtype, and counts (k,).

    `tf.math.unsorted_segment_sum` adds the rows that share a label, for all
    clusters in one op. A label equal to n_clusters marks a row to leave out
    (padding, or a sample that stays where it is): it goes to an extra
    segment, which is dropped. Without weights the counts are int32, exact
    at any size; with weights (n,) the sums are of weight * sample and the
    "counts" are the weights' sums, in the weights' dtype. The sums go by
    blocks of rows (`segment_sums`); `with_offsets`: the labels include
    the rows' `block_offsets`; `parts`: scatters for wide rows (see
    `segment_sums`).
    """
    if weights is None:
        values, ones = samples, tf.ones_like(labels)
    else:
        values, ones = samples * weights[:, tf.newaxis], weights
    sums = segment_sums(values, labels, n_clusters + 1, with_offsets, parts)
    if not with_offsets:
        counts = tf.math.unsorted_segment_sum(ones, labels, n_clusters + 1)
    else:               # a block's total is exact; the labels have blocks
        counts = segment_sums(ones[:, tf.newaxis], labels, n_clusters + 1,
                              with_offsets)[:, 0]
    return sums[:n_clusters], counts[:n_clusters]


def counted_sums(rows, labels, n_clusters, n_features, with_offsets=False):
    """cluster_sums of rows that carry a column of ones after their
    n_features features (see `distances.COUNTED_WIDTH`): one scatter adds
    up the sums and, in that column, the counts (float sums of ones, exact
    below `distances.COUNTED_MAX_SAMPLES` rows). `with_offsets`: the
    labels include the rows' `block_offsets`."""
    totals = segment_sums(rows, labels, n_clusters + 1, with_offsets)
    return (totals[:n_clusters, :n_features],
            tf.cast(totals[:n_clusters, n_features], tf.int32))


def means_or_keep(sums, counts, fallback):
    """sums / counts per cluster; where a count is 0, the fallback row.

    A count is a sum of weights, which may be below 1: only a zero count
    is replaced (by 1, to keep the division finite) before dividing.
    """
    counts = tf.cast(counts, sums.dtype)[:, tf.newaxis]
    filled = counts > 0
    return tf.where(filled, sums / tf.where(filled, counts, 1), fallback)


def inertia_from_sums(sum_of_squares, centroids, sums, counts):
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


def relocate_empty(samples, n, centroids, labels, sums, counts,
                   weights=None):
    """Give each empty cluster one of the samples farthest from their own
    centroids.

    Each sample's distance is to the centroid it is assigned to. The i-th
    empty cluster (in index order) takes the i-th farthest sample, which
    leaves the cluster it was in, with its weight: scikit-learn's rule, so
    from the same start the two agree. A cluster is empty when its weights
    sum to 0, and only samples of positive weight are taken: one of weight
    0 would leave it empty, and its centroid where it was (scikit-learn's
    would go to the origin). Rows from n on are padding and never move.
    Returns the corrected sums and counts.
    """
    k = tf.shape(sums)[0]
    empty = counts == 0
    distances = squared_distances(samples, centroids, labels)
    takeable = tf.range(tf.shape(labels)[0]) < n
    if weights is not None:
        takeable &= weights > 0
    distances = tf.where(takeable, distances, -1)
    farthest = tf.math.top_k(distances, k=k)                      # (k,)
    rank = tf.maximum(tf.cumsum(tf.cast(empty, tf.int32)) - 1, 0)
    donors = tf.gather(farthest.indices, rank)  # a sample for each cluster
    # With fewer samples to take than empty clusters, the last stay empty.
    empty &= tf.gather(farthest.values, rank) >= 0
    moved = tf.gather(samples, donors)                               # (k, d)
    moved_weights = (tf.ones_like(counts) if weights is None
                     else tf.gather(weights, donors))                # (k,)
    losers = tf.where(empty, tf.gather(labels, donors), k)
    lost_sums, lost_counts = cluster_sums(moved, losers, k, (
        None if weights is None else moved_weights))
    weighted = moved * tf.cast(moved_weights, moved.dtype)[:, tf.newaxis]
    sums = tf.where(empty[:, tf.newaxis], weighted, sums - lost_sums)
    counts = tf.where(empty, moved_weights,
                      counts - tf.cast(lost_counts, counts.dtype))
    return sums, counts


def on_sphere(centroids, radius, fallback):
    """Each centroid scaled to length `radius` (spherical k-means); a
    centroid of length 0 (opposite members cancelled) keeps its fallback
    row."""
    length = tf.norm(centroids, axis=1, keepdims=True)               # (k, 1)
    return tf.where(length > 0, centroids * radius / tf.where(
        length > 0, length, 1), fallback)
