"""Input checks, done once, at the public boundary.

Every public function of the package (and of the lessons' `functions.py`)
checks its arguments here and nowhere else; the private functions behind
them assume checked input. A message names the argument, what was expected
and what came, in scikit-learn's words where it has them:
"n_samples=5 should be >= n_clusters=6".
"""
import os

import numpy as np

from ._tensorflow import tf
from .distances import largest_magnitude, power_of_two_scale

# Valid names for `kmeans(init=...)`; an array of centroids is also accepted.
INIT_METHODS = ("k-means++", "random")
# Valid names for `kmeans(metric=...)`.
METRICS = ("euclidean", "cosine")
# TensorFlow takes a NumPy buffer as its own, without a copy (DLPack), only
# when it is aligned as TensorFlow aligns its own buffers; an unaligned one
# aborted the process. NumPy's large arrays start 16 bytes past a page.
ALIGN_BYTES = 128


def check_samples(samples, name="samples", magnitude=False):
    """A finite, non-empty 2-D float tensor (float32 kept, else float64).

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Lists, NumPy arrays or tensors of real numbers.
    name : str
        The argument's name, for the messages.
    magnitude : bool
        Also return the largest |value|, which the check finds anyway.

    Returns
    -------
    tf.Tensor of shape (n_samples, n_features), float32 or float64; with
    `magnitude`, a pair of it and the largest |value|, a float.
    """
    if isinstance(samples, tf.Tensor):
        samples = samples.numpy()
    try:
        array = np.asarray(samples)
    except ValueError as error:   # ragged lists
        raise ValueError(f"{name} must be a 2-D array of numbers with rows "
                         f"of equal length; got {error}") from None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers; got dtype "
                        f"{array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, of shape (n_samples, "
                         f"n_features); got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must not be empty; got shape {array.shape}")
    if array.dtype != np.float32:
        array = array.astype(np.float64, copy=False)
    # The smallest and largest values are finite when every value is (a
    # NaN or inf would be one of them; quick passes in the array's own
    # dtype, 0.5 ms at 1,000,000 x 2 float32); only if they are not do we
    # look for where.
    with np.errstate(invalid="ignore"):
        low, high = array.min(), array.max()
    if not np.isfinite(low) or not np.isfinite(high):
        bad = ~np.isfinite(array)
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"{name} must be finite; got {array[row, col]} "
                         f"at row {row}, column {col} ({bad.sum()} such "
                         f"values)")
    largest = float(max(-low, high))
    check_magnitude(largest, array.dtype, name)
    samples = _as_tensor(array)
    return (samples, largest) if magnitude else samples


def check_magnitude(largest, dtype, name="samples", advice=None):
    """Refuse data whose largest magnitude (`largest`, a float) the
    engine's scale cannot bring near 1 in `dtype`: the scale, a power of
    two (`distances.power_of_two_scale`), must itself be a normal number
    in that dtype, and so must the largest value (TensorFlow reads
    subnormal numbers as 0). For float32, from 2**-126 (1.2e-38) to below
    2**126 (8.5e37); for float64, 2**-1022 to 2**1022. All zeros pass.
    `advice` ends the message (by default: convert float32 to float64,
    rescale float64)."""
    info = np.finfo(dtype)
    limit = 2.0 ** (info.maxexp - 2)
    # As Python floats: compared with a float32, 1e39 would overflow.
    if largest == 0 or float(info.tiny) <= largest < limit:
        return
    if advice is None:
        advice = ("convert them to float64" if info.dtype == np.float32
                  else "rescale them")
    raise ValueError(f"{name} must have magnitudes from {info.tiny:.3g} to "
                     f"below {limit:.3g} in {info.dtype}; the largest is "
                     f"{largest:.3g}: {advice}")


def _as_tensor(array):
    """tf.constant(array), in about half the time: a copy into an aligned
    NumPy buffer of our own, which TensorFlow then takes as it is (DLPack).
    tf.constant copies more slowly (200,000 x 64 float32: 9.6 ms, against
    4.6 for NumPy's copy); the user's own array is never shared, so that
    nothing they change later can reach the tensor."""
    buffer = np.empty(array.nbytes + ALIGN_BYTES, np.uint8)
    start = -buffer.ctypes.data % ALIGN_BYTES
    aligned = buffer[start:start + array.nbytes].view(array.dtype).reshape(
        array.shape)
    np.copyto(aligned, array)
    return tf.experimental.dlpack.from_dlpack(aligned.__dlpack__())


def check_int(value, name, minimum, maximum=None):
    """An int in [minimum, maximum]; bools and floats are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else \
            f"between {minimum} and {maximum}"
        raise ValueError(f"{name}={value} should be {bound}")
    return int(value)


def check_number(value, name, minimum):
    """A real number >= minimum, as a float (NaN is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float,
                                                         np.number)):
        raise TypeError(f"{name} must be a number; got {value!r}")
    if not value >= minimum:   # also catches NaN
        raise ValueError(f"{name}={value} should be >= {minimum}")
    return float(value)


def check_seed(seed):
    """None, or an int in [0, 2**32): a seed every random source here takes
    (run i of n_init adds i to it)."""
    if seed is None:
        return None
    return check_int(seed, "seed", 0, 2**32 - 1)


def check_strategy(strategy):
    """None, or a tf.distribute.Strategy."""
    if strategy is not None and not isinstance(strategy,
                                               tf.distribute.Strategy):
        raise TypeError(f"strategy must be a tf.distribute.Strategy or "
                        f"None; got {strategy!r}")
    return strategy


def check_callable(value, name):
    """None, or something to call."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable (or None); got {value!r}")
    return value


def check_n_clusters(n_clusters, n_samples):
    """An int in [1, n_samples]."""
    if isinstance(n_clusters, (int, np.integer)) and not isinstance(
            n_clusters, bool) and n_clusters > n_samples:
        raise ValueError(f"n_samples={n_samples} should be >= "
                         f"n_clusters={n_clusters}")
    return check_int(n_clusters, "n_clusters", 1)


def check_centroids(centroids, samples, name="centroids", n_clusters=None):
    """Centroids with the samples' features (and n_clusters rows, if given),
    finite, in the samples' dtype."""
    centroids = check_samples(centroids, name)
    if centroids.shape[1] != samples.shape[1]:
        raise ValueError(f"{name} must have the samples' {samples.shape[1]} "
                         f"features; got shape {tuple(centroids.shape)}")
    if n_clusters is not None and centroids.shape[0] != n_clusters:
        raise ValueError(f"{name} must have n_clusters={n_clusters} rows; "
                         f"got shape {tuple(centroids.shape)}")
    if centroids.dtype != samples.dtype:      # float64 ones, float32 samples
        check_magnitude(largest_magnitude(centroids),
                        samples.dtype.as_numpy_dtype, name,
                        "convert the samples to float64")
    return tf.cast(centroids, samples.dtype)


def check_labels(labels, n_samples, n_clusters, name="labels"):
    """One integer label per sample, each in [0, n_clusters), as int32."""
    array = np.asarray(labels)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be integers; got dtype {array.dtype}")
    if array.shape != (n_samples,):
        raise ValueError(f"{name} must have one entry per sample, shape "
                         f"({n_samples},); got shape {array.shape}")
    if array.min() < 0 or array.max() >= n_clusters:
        raise ValueError(f"{name} must be in [0, {n_clusters}); got values "
                         f"from {array.min()} to {array.max()}")
    return tf.constant(array, tf.int32)


def check_init(init, samples, n_clusters):
    """A name from INIT_METHODS, kept as it is, or starting centroids as a
    tensor of shape (n_clusters, n_features) in the samples' dtype."""
    if isinstance(init, str):
        if init not in INIT_METHODS:
            raise ValueError(f"init must be one of {INIT_METHODS} or an "
                             f"array of centroids; got {init!r}")
        return init
    return check_centroids(init, samples, "init", n_clusters)


def check_dataset(dataset):
    """A finite Dataset of numeric batches (batch_size, n_features), or of
    (batch, weights) pairs with weights of shape (batch_size,), as pairs:
    batches cast to float32 (if they are float32) or float64, weights to
    the same dtype (1 where none are given), batches of no rows left out.
    Values, widths and weights are checked as they stream, by
    `stream.scan`. A Dataset whose cardinality is unknown (a generator, a
    filter) is taken to end; one that never does hangs."""
    spec = dataset.element_spec
    weighted = isinstance(spec, tuple) and len(spec) == 2
    batch_spec, weight_spec = spec if weighted else (spec, None)
    if not isinstance(batch_spec, tf.TensorSpec) \
            or batch_spec.shape.rank != 2 \
            or not (batch_spec.dtype.is_floating
                    or batch_spec.dtype.is_integer) \
            or (weighted and not (isinstance(weight_spec, tf.TensorSpec)
                                  and weight_spec.shape.rank == 1)):
        raise TypeError(f"samples as a Dataset must yield numeric batches "
                        f"of shape (batch_size, n_features), or (batch, "
                        f"weights) pairs with weights of shape "
                        f"(batch_size,); its elements are {spec}")
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("samples as a Dataset must end: this one repeats "
                         "forever (take a finite part, e.g. .take(n), or "
                         "drop .repeat())")
    dtype = tf.float32 if batch_spec.dtype == tf.float32 else tf.float64
    if weighted:
        dataset = dataset.map(lambda batch, weights: (
            tf.cast(batch, dtype), tf.cast(weights, dtype)))
    else:
        dataset = dataset.map(lambda batch: (tf.cast(batch, dtype), tf.ones(
            tf.shape(batch)[:1], dtype)))
    # A batch of no rows adds nothing; left in, each step would divide by
    # its size.
    return dataset.filter(lambda batch, weights: tf.shape(batch)[0] > 0)


def check_sample_weight(sample_weight, n_samples, dtype):
    """None, or weights of shape (n_samples,): finite, >= 0, not all 0, as
    a tensor of `dtype`."""
    if sample_weight is None:
        return None
    array = np.asarray(sample_weight.numpy() if isinstance(
        sample_weight, tf.Tensor) else sample_weight)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"sample_weight must hold real numbers; got dtype "
                        f"{array.dtype}")
    if array.shape != (n_samples,):
        raise ValueError(f"sample_weight must have one weight per sample, "
                         f"shape ({n_samples},); got shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError("sample_weight must be finite and >= 0")
    if not array.sum() > 0:
        raise ValueError("sample_weight must not be all zero")
    # The weights are used in the samples' dtype, where their sums (and
    # weight times sample, with samples scaled below 1) must stay finite,
    # and where the smallest may round to 0.
    dtype = tf.as_dtype(dtype)
    largest = float(array.max())
    if largest * n_samples >= float(dtype.max) / 16:
        raise ValueError(f"sample_weight must be smaller for "
                         f"{dtype.name} samples: weights up to "
                         f"{largest:.3g} for {n_samples} samples would "
                         f"overflow their sums; divide them all by the same "
                         f"number (the clusters do not change)")
    weights = tf.constant(array, dtype)
    if not tf.reduce_any(weights > 0):
        raise ValueError(f"sample_weight must not be all zero; every weight "
                         f"rounds to 0 in {dtype.name}: multiply them all "
                         f"by the same number (the clusters do not change)")
    return weights


def check_paths(paths):
    """A non-empty list of file paths (str), from a sequence of str or
    os.PathLike."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    try:
        paths = [os.fspath(path) for path in paths]
    except TypeError:
        raise TypeError(f"paths must be file paths; got {paths!r}") from None
    if not paths:
        raise ValueError("paths must name at least one file")
    return paths


def check_choice(value, name, choices):
    """One of the names `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_log_dir(log_dir):
    """None, or a folder path (str) that is a folder or can be made one
    (its nearest existing ancestor a folder that can be written), so that
    a path that cannot be is refused before any work."""
    if log_dir is None:
        return None
    try:
        log_dir = os.fspath(log_dir)
    except TypeError:
        raise TypeError(f"log_dir must be a folder path; got {log_dir!r}") \
            from None
    if not isinstance(log_dir, str) or not log_dir:
        raise TypeError(f"log_dir must be a folder path; got {log_dir!r}")
    if os.path.exists(log_dir) and not os.path.isdir(log_dir):
        raise ValueError(f"log_dir={log_dir!r} is a file, not a folder")
    ancestor = os.path.abspath(log_dir)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"log_dir={log_dir!r} cannot be made a folder: "
                         f"{ancestor} is a file")
    if not os.access(ancestor, os.W_OK):
        raise ValueError(f"log_dir={log_dir!r} cannot be made a folder: "
                         f"{ancestor} cannot be written")
    return log_dir


def check_metric(metric):
    """A name from METRICS."""
    return check_choice(metric, "metric", METRICS)


def unit_rows(samples, name="samples"):
    """Checked samples (n, d) divided by their lengths, for the cosine
    metric; a row of zeros has no direction and is refused."""
    # Scaled first (exactly, see distances), so no length overflows.
    scaled = samples * power_of_two_scale(largest_magnitude(samples))
    lengths = tf.norm(scaled, axis=1, keepdims=True)                # (n, 1)
    zero = np.flatnonzero(lengths.numpy()[:, 0] == 0)
    if len(zero):
        raise ValueError(f"{name} must have no row of zeros for "
                         f"metric='cosine' (it has no direction); row "
                         f"{zero[0]} is one ({len(zero)} such rows)")
    return scaled / lengths


def check_arguments(samples, **arguments):
    """Check a lesson function's arguments in one call.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
    **arguments
        Any of: n_clusters (int), centroids (array-like of shape
        (n_clusters, n_features)), labels (array-like of shape (n_samples,),
        ints in [0, n_clusters)), previous_centroids (as centroids, or None).
        Labels are checked against n_clusters, or else against the number
        of centroids.

    Returns
    -------
    tuple
        The samples checked (`check_samples`), then each other argument
        checked, in the order they were given.
    """
    samples = check_samples(samples)
    checked = {}
    if "n_clusters" in arguments:
        checked["n_clusters"] = check_n_clusters(arguments["n_clusters"],
                                                 len(samples))
    n_clusters = checked.get("n_clusters")
    for name in ("centroids", "previous_centroids"):
        if arguments.get(name) is not None:
            checked[name] = check_centroids(arguments[name], samples, name,
                                            n_clusters)
            n_clusters = checked[name].shape[0]
        elif name in arguments:
            checked[name] = None
    if "labels" in arguments:
        checked["labels"] = check_labels(arguments["labels"], len(samples),
                                         n_clusters)
    unknown = set(arguments) - set(checked)
    if unknown:
        raise TypeError(f"check_arguments got unknown arguments "
                        f"{sorted(unknown)}")
    return (samples, *(checked[name] for name in arguments))
