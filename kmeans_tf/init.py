"""Initial centroids: chosen at random among the samples, or by k-means++.

`initial_centroids` is the one dispatch, used by the in-memory and the
streaming paths alike (a stream chooses from a seeded sample of its rows).
Everything here assumes checked input (see `checks`).
"""
import math

from ._tensorflow import tf
from .distances import largest_magnitude, power_of_two_scale


def initial_centroids(init, samples, n_clusters, seed):
    """The start for one run: (n_clusters, n_features), samples' dtype.

    `init` is "k-means++", "random", or checked starting centroids, which
    are returned as they are. `seed` is an int.
    """
    if not isinstance(init, str):
        return init
    if init == "random":
        return random_centroids(samples, n_clusters, seed)
    return kmeans_plus_plus_centroids(samples, n_clusters, seed)


def random_centroids(samples, n_clusters, seed):
    """n_clusters distinct samples, uniformly at random.

    One random key per sample from a seeded `tf.random.Generator`; the
    samples with the n_clusters smallest keys are chosen: a shuffle, then a
    slice.
    """
    keys = tf.random.Generator.from_seed(int(seed)).uniform(
        (samples.shape[0],))
    return tf.gather(samples, tf.argsort(keys)[:n_clusters])


def kmeans_plus_plus_centroids(samples, n_clusters, seed):
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
    chosen = _kmeans_plus_plus(centred, tf.constant(n_clusters),
                               tf.constant(n_trials),
                               tf.constant([int(seed), 0], tf.int64))
    return tf.gather(samples, chosen)


@tf.function(reduce_retracing=True)
def _kmeans_plus_plus(samples, n_clusters, n_trials, seed):
    """Indices (n_clusters,) of the k-means++ centroids of centred samples.

    Randomness is stateless: step i draws from `seed` folded with i, so the
    same seed gives the same choice in every process.
    """
    n = tf.shape(samples)[0]
    first = tf.random.stateless_uniform((), seed, 0, n, dtype=tf.int32)

    def squared_distances(index):                     # to one sample: (n,)
        return tf.reduce_sum((samples - samples[index]) ** 2, axis=1)

    def choose_next(i, chosen, closest):
        # D² sampling: a uniform draw on the running total of D² lands in a
        # sample's interval with probability D² / total. float64 keeps the
        # running total exact enough for millions of samples.
        total = tf.cumsum(tf.cast(closest, tf.float64))
        step_seed = tf.random.experimental.stateless_fold_in(seed, i)
        draws = tf.random.stateless_uniform((n_trials,), step_seed,
                                            dtype=tf.float64) * total[-1]
        candidates = tf.minimum(tf.searchsorted(total, draws), n - 1)
        potentials = tf.map_fn(
            lambda c: tf.reduce_sum(tf.minimum(closest, squared_distances(c))),
            candidates, fn_output_signature=closest.dtype)
        best = candidates[tf.argmin(potentials)]
        closest = tf.minimum(closest, squared_distances(best))
        return i + 1, chosen.write(i, best), closest

    chosen = tf.TensorArray(tf.int32, size=n_clusters).write(0, first)
    _, chosen, _ = tf.while_loop(
        lambda i, *_: i < n_clusters, choose_next,
        (tf.constant(1), chosen, squared_distances(first)))
    return chosen.stack()
