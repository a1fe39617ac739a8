"""What a run returns and reports: KMeansResult, ConvergenceWarning, the
progress callback's pace, TensorBoard logs.

`build` turns a runner's tuple (`lloyd.run`, `bounded.run`,
`stream.lloyd`) into the KMeansResult the public functions return: the one
place that builds results.
"""
import time
import warnings
from typing import NamedTuple

import numpy as np

from ._tensorflow import tf
from .lloyd import PROGRESS_SECONDS, STOP_REASONS

# See `_sizes`.
BINCOUNT_CORES_MIN = 3_000_000


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


class Throttled:
    """A progress callback called at most every PROGRESS_SECONDS,
    however many runs there are; `last` always reports the end."""

    def __init__(self, progress):
        self.progress, self.since, self.said = progress, -np.inf, None

    def __call__(self, *values):
        if time.perf_counter() - self.since >= PROGRESS_SECONDS:
            self.last(*values)

    def last(self, *values):
        values = tuple(float(v) if i >= 2 else int(v)
                       for i, v in enumerate(values))
        if values != self.said:
            self.progress(*values)
            self.since, self.said = time.perf_counter(), values


def build(run, scale, centre, stop_reason=None, halve=False):
    """The KMeansResult of a runner's tuple, in the samples' units.

    The runners work on samples * scale - centre; squared distances come
    back in scale² units. Dividing by a power of two is exact; a true
    inertia beyond the float range becomes inf, never NaN. For unit-length
    samples (`halve`, the cosine metric), 1 - cos = |x - c|² / 2.
    """
    centroids, labels, inertia, n_iter, stop, inertias, shifts = run
    half = 0.5 if halve else 1.0
    return KMeansResult((centroids + centre.numpy()) / scale, labels,
                        float(unscale_squares(inertia, scale)) * half,
                        n_iter, stop > 0, stop_reason or STOP_REASONS[stop],
                        unscale_squares(inertias, scale) * half,
                        unscale_squares(shifts, scale))


def unscale_squares(values, scale):
    """Squared distances in a runner's scale² units, in the samples' own:
    divided by scale twice, since scale² itself may underflow."""
    with np.errstate(over="ignore"):
        return np.asarray(values, np.float64) / scale / scale


def in_units(report, scale, halve=False):
    """`report` for a runner, which reports in its scaled units: the
    inertia and shift are put back in the samples' units, as `build` puts
    back the result's."""
    if report is None:
        return None

    def report_in_units(n_iter, max_iter, inertia, shift):
        inertia, shift = unscale_squares([inertia, shift], scale)
        report(n_iter, max_iter, inertia * (0.5 if halve else 1.0), shift)

    return report_in_units


def warn_if_unsettled(result, n_clusters, max_iter, weighted=False):
    """ConvergenceWarning for a run max_iter cut short, or fewer distinct
    clusters than asked for (`weighted`: with sample weights, which may
    leave fewer samples that count)."""
    if max_iter and result.stop_reason == STOP_REASONS[0]:
        warnings.warn(f"k-means stopped at max_iter={max_iter} before it "
                      f"converged; raise max_iter, or tol", ConvergenceWarning,
                      stacklevel=3)
    found = np.count_nonzero(_sizes(result.labels, n_clusters))
    if found < n_clusters:
        which = "samples of positive weight" if weighted else "samples"
        warnings.warn(f"found {found} distinct clusters, fewer than "
                      f"n_clusters={n_clusters}: the {which} have fewer "
                      f"distinct values than that", ConvergenceWarning,
                      stacklevel=3)


def _sizes(labels, n_clusters):
    """How many labels (n,) there are of each cluster, (n_clusters,).

    TensorFlow's bincount op runs on every core, NumPy's on one, which is
    quicker for fewer labels than BINCOUNT_CORES_MIN: measured (2 cores), ms
    for 200,000 / 1,000,000 / 10,000,000 labels, NumPy's 0.26 / 1.5 / 23,
    TensorFlow's 0.5 / 1.7-2.6 / 13 (tf.math.bincount, which checks its
    input in more passes, 24 at 10,000,000; the labels are in range
    already)."""
    if len(labels) < BINCOUNT_CORES_MIN:
        return np.bincount(labels, minlength=n_clusters)
    return tf.raw_ops.Bincount(arr=labels, size=n_clusters,
                               weights=tf.constant([], tf.int32)).numpy()


def write_history(folder, result):
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
