"""k-means over many files, each worker of a cluster reading only its share.

Under `MultiWorkerMirroredStrategy` every worker reads every batch if the
data is one stream (see `stream`). With the data in many files, worker w of
W instead reads only files w, w + W, w + 2W, ... (`Workers.share`), so
adding machines divides the reading too. Each pass, a worker adds up its
own share's per-cluster sums, counts and inertia, and one all-reduce per
pass adds the workers' totals (`Workers.add`): the workers stay in step
however unequal their shares. The start comes from a seeded sample of
every share, gathered, so no worker reads all the data to choose it.

Everything here assumes checked input.
"""
import os
import warnings

import numpy as np

from ._tensorflow import tf

# The default strategy, taken at import, outside any scope: a worker adds up
# its own share with it, with no collective per batch.
LOCAL = tf.distribute.get_strategy()


class Workers:
    """The workers of a strategy, and the two collectives k-means needs.

    Every worker must call `add` and `gather` the same number of times, in
    the same order, with the same shapes: k-means does, once or twice a
    pass. With the default strategy there is one worker, and both are
    no-ops.
    """

    def __init__(self, strategy):
        self.strategy = strategy
        resolver = getattr(strategy, "cluster_resolver", None)
        tasks = resolver.cluster_spec().as_dict() if resolver else {}
        order = [("chief", i) for i in range(len(tasks.get("chief", [])))]
        order += [("worker", i) for i in range(len(tasks.get("worker", [])))]
        self.count = max(1, len(order))
        self.index = (order.index((resolver.task_type, resolver.task_id))
                      if order else 0)
        self.local_replicas = (strategy.num_replicas_in_sync
                               // self.count)

    def share(self, paths):
        """This worker's files among `paths`: every count-th, from index."""
        return paths[self.index::self.count]

    def add(self, *values):
        """Each value (any shape) summed over the workers, as float64."""
        values = [tf.cast(v, tf.float64) for v in values]
        packed = tf.concat([tf.reshape(v, [-1]) for v in values], axis=0)
        total = self.strategy.reduce(
            tf.distribute.ReduceOp.SUM,
            self.strategy.run(self._from_first_replica, args=(packed,)),
            axis=None)
        sizes = [int(tf.size(v)) for v in values]
        return [tf.reshape(part, v.shape) for part, v in
                zip(tf.split(total, sizes), values)]

    def gather(self, block):
        """Every worker's block (same shape on all), stacked in worker
        order: (count, *block.shape). Done by `add`: each worker fills its
        own slot of a zero tensor."""
        block = tf.cast(block, tf.float64)
        slots = tf.tensor_scatter_nd_update(
            tf.zeros((self.count, *block.shape), tf.float64),
            [[self.index]], block[tf.newaxis])
        return self.add(slots)[0].numpy()

    def _from_first_replica(self, packed):
        # A worker with several local replicas (GPUs) must add its values
        # once, not once per replica.
        context = tf.distribute.get_replica_context()
        first = context.replica_id_in_sync_group % self.local_replicas == 0
        return tf.where(first, packed, tf.zeros_like(packed))

    def combine_scans(self, share, sample_size):
        """One Scan's worth of totals from every worker's `stream` share
        scan: (n, scale, mean, squares about it, sample rows, their
        weights, the sum of all weights). The means and squares pool as
        `stream.pooled_moments` pools two parts: the mean of all from each
        share's total, then each share's squares plus n (its mean - the
        mean of all)². Each share's sample rows are weighted by how many
        rows of the share each stands for, so the pooled sample is a
        sample of all the data.
        """
        n, scale, mean, squares, kept, kept_weights, weight = share
        width = 0 if kept is None else kept.shape[1]
        heads = self.gather(np.array([n, width, scale or np.inf, weight]))
        n_all, width = int(heads[:, 0].sum()), int(heads[:, 1].max())
        widths = set(heads[heads[:, 0] > 0, 1].astype(int).tolist())
        if len(widths) > 1:
            # Each worker checks only its own files' widths.
            raise ValueError(f"the workers' files have different numbers "
                             f"of columns: {sorted(widths)}; every file "
                             f"must have the same")
        common = float(heads[:, 2].min()) if n_all else 1.0
        ratio = common / scale if n else 0.0
        mean = np.broadcast_to(np.asarray(mean, np.float64) * ratio,
                               (width,))
        squares = np.broadcast_to(
            np.asarray(squares, np.float64) * ratio ** 2, (width,))
        mean_all = self.add(mean * n)[0].numpy() / max(n_all, 1)
        squares = self.add(squares + n * (mean - mean_all) ** 2)[0].numpy()
        mean = mean_all
        rows = np.zeros((sample_size, width + 2))  # row, weight, is-a-row
        if n:
            m = len(kept)
            rows[:m, :width] = kept
            rows[:m, width] = kept_weights * (n / m)
            rows[:m, width + 1] = 1
        pooled = self.gather(rows).reshape(-1, width + 2)
        pooled = pooled[pooled[:, width + 1] == 1]
        return (n_all, common, mean, squares, pooled[:, :width],
                pooled[:, width], float(heads[:, 3].sum()))

    def gather_farthest(self, k, distances, rows, labels, weights):
        """The k farthest samples of all shares, from each share's k."""
        width = rows.shape[1]
        block = np.full((k, width + 3), -1.0)           # distance -1: none
        m = len(distances)
        block[:m] = np.column_stack([distances, labels, weights, rows])
        pooled = self.gather(block).reshape(-1, width + 3)
        order = np.argsort(-pooled[:, 0], kind="stable")[:k]
        pooled = pooled[order]
        return (pooled[:, 0], pooled[:, 3:], pooled[:, 1].astype(np.int32),
                pooled[:, 2])


def read_array(path):
    """A file's samples, (n, n_features): a .npy array as stored
    (memory-mapped; one of 1 dimension is one column), or a CSV of
    numbers, float64, with or without a header row, quoted or not.
    Anything but real numbers (complex, bool, text) is refused."""
    if path.lower().endswith(".npy"):
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        if array.ndim == 1:
            array = array[:, np.newaxis]
        if not (np.issubdtype(array.dtype, np.integer)
                or np.issubdtype(array.dtype, np.floating)):
            raise ValueError(f"samples must be real numbers; got dtype "
                             f"{array.dtype}")
        return array
    with open(path, encoding="utf-8-sig") as file:
        first = file.readline()
    # A header row is one of names: no cell of it is a number (a row with a
    # blank or "NA" cell among numbers is data, and refused).
    skip = 0 if any(_is_number(cell.strip().strip('"'))
                    for cell in first.split(",")) else 1
    with warnings.catch_warnings():      # an empty file: skipped later
        warnings.simplefilter("ignore", UserWarning)
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=skip,
                          encoding="utf-8-sig", quotechar='"')


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


class FileError(ValueError):
    """A file could not be read as samples; the message names it."""


def file_batches(paths, read, batch_size, problems):
    """A Dataset of (batch, weights) pairs, float64, from the files in
    `paths` in order, read one at a time by `read(path)`. A file that
    cannot be read stops the stream, and its FileError is appended to
    `problems` (an exception inside tf.data reaches the caller only as a
    TensorFlow error, without the file's name). So does a file whose
    width differs from the first file's (files of no rows are skipped),
    or, on the first pass through the files, a value that is NaN or
    infinite (the later passes read the same values, so they skip that
    check)."""
    width, first_pass = None, True

    def batches():
        nonlocal width, first_pass
        for path in paths:
            try:
                # Numbers as they are: a memory-mapped .npy stays on disk,
                # and each batch is converted to float64 as it is read.
                array = np.asarray(read(os.fspath(path)))
                if array.dtype.kind not in "iuf":
                    array = np.asarray(array, np.float64)
                if array.ndim != 2:
                    raise ValueError(f"expected a 2-D array (rows x "
                                     f"features); got shape {array.shape}")
                if len(array) == 0:
                    continue              # adds nothing (nor its width)
                width = array.shape[1] if width is None else width
                if array.shape[1] != width:
                    raise ValueError(f"has {array.shape[1]} columns, the "
                                     f"first file {width}; every file must "
                                     f"have the same")
            except Exception as error:
                problems.append(FileError(f"{path}: {error}"))
                raise
            for start in range(0, len(array), batch_size):
                batch = np.asarray(array[start:start + batch_size],
                                   np.float64)
                if first_pass and not np.isfinite(batch).all():
                    row = start + int(np.argmin(
                        np.isfinite(batch).all(axis=1)))
                    problems.append(FileError(
                        f"{path}: samples must be finite; row {row} (from "
                        f"0, after any header) holds NaN or infinity"))
                    raise problems[-1]
                yield batch, np.ones(len(batch))
        first_pass = False
    return tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, None), tf.float64),
        tf.TensorSpec((None,), tf.float64)))
