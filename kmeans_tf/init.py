"""Initial centroids: chosen at random among the samples, or by k-means++.

`initial_centroids` is the one dispatch, used by the in-memory and the
streaming paths alike (a stream chooses from a seeded sample of its rows).
Everything here assumes checked input (see `checks`).
"""
import math

from ._tensorflow import tf
from .distances import largest_magnitude, power_of_two_scale


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

    One random key u per sample from a seeded `tf.random.Generator`; the
    samples with the n_clusters smallest keys are chosen: a shuffle, then a
    slice. With weights w the key is 1 - (1 - u) ** (1 / w), whose smallest
    values draw without replacement in proportion to w (Efraimidis and
    Spirakis 2006); for w = 1 it is u itself, so the choice is the same.
    """
    keys = tf.random.Generator.from_seed(int(seed)).uniform(
        (samples.shape[0],))
    if weights is not None:
        wide = tf.cast(keys, tf.float64)
        keys = 1 - (1 - wide) ** (1 / tf.cast(weights, tf.float64))
    return tf.gather(samples, tf.argsort(keys)[:n_clusters])


def kmeans_plus_plus_centroids(samples, n_clusters, seed, weights=None):
    """k-means++ (greedy D² sampling, as scikit-learn does it).

    The first centroid is a sample chosen uniformly. Each next one is drawn
    with probability proportional to D², the squared distance of a sample
    to its nearest centroid so far; the greedy refinement draws
    2 + log(n_clusters) candidates per step and keeps the one that lowers
    the total D² most. The samples are scaled by a power of two and
    centred first (see `distances`), which keeps D² finite and exact for
    data of any size and far from the origin.
    """
    scaled = samples * power_of_two_scale(largest_magnitude(samples))
    centred = scaled - tf.reduce_mean(scaled, axis=0)
    n_trials = 2 + int(math.log(n_clusters))
    if weights is not None:
        weights = tf.cast(weights, tf.float64)
    chosen = _kmeans_plus_plus(centred, weights, tf.constant(n_clusters),
                               tf.constant(n_trials),
                               tf.constant([int(seed), 0], tf.int64))
    return tf.gather(samples, chosen)


@tf.function(reduce_retracing=True, autograph=False)
def _kmeans_plus_plus(samples, weights, n_clusters, n_trials, seed):
    """Indices (n_clusters,) of the k-means++ centroids of centred samples,
    weighted by float64 weights (n,), or None for all 1.

    Randomness is stateless: step i draws from `seed` folded with i, so the
    same seed gives the same choice in every process.
    """
    n = tf.shape(samples)[0]
    if weights is None:
        first = tf.random.stateless_uniform((), seed, 0, n, dtype=tf.int32)
    else:               # a draw on the running total of the weights
        cumulative = tf.cumsum(weights)
        draw = tf.random.stateless_uniform((1,), seed, dtype=tf.float64)
        first = tf.minimum(tf.searchsorted(
            cumulative, draw * cumulative[-1], side="right")[0], n - 1)

    def weighted(values):               # w * values, float64 with weights
        if weights is None:
            return values
        return weights * tf.cast(values, tf.float64)

    def squared_distances(index):                     # to one sample: (n,)
        return tf.reduce_sum((samples - samples[index]) ** 2, axis=1)

    def choose_next(i, chosen, closest):
        # D² sampling: a uniform draw on the running total of w D² lands
        # in a sample's interval with probability w D² / total. float64
        # keeps the running total exact enough for millions of samples.
        total = tf.cumsum(tf.cast(weighted(closest), tf.float64))
        step_seed = tf.random.experimental.stateless_fold_in(seed, i)
        draws = tf.random.stateless_uniform((n_trials,), step_seed,
                                            dtype=tf.float64) * total[-1]
        candidates = tf.minimum(tf.searchsorted(total, draws), n - 1)
        potentials = tf.map_fn(
            lambda c: tf.reduce_sum(weighted(tf.minimum(
                closest, squared_distances(c)))),
            candidates, fn_output_signature=weighted(closest).dtype)
        best = candidates[tf.argmin(potentials)]
        closest = tf.minimum(closest, squared_distances(best))
        return i + 1, chosen.write(i, best), closest

    chosen = tf.TensorArray(tf.int32, size=n_clusters).write(0, first)
    _, chosen, _ = tf.while_loop(
        lambda i, *_: i < n_clusters, choose_next,
        (tf.constant(1), chosen, squared_distances(first)))
    return chosen.stack()
