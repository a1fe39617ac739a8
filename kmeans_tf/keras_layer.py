"""`KMeansLayer`: k-means as a Keras layer, for use inside a model.

    layer = KMeansLayer(n_clusters=8, output_mode="one_hot")
    layer.adapt(samples)                 # runs k-means on them
    model = keras.Sequential([keras.Input((n_features,)), layer, ...])

Like Keras' preprocessing layers (`Normalization`, `StringLookup`) it
learns its state from data with `adapt`, not by gradient descent: its
centroids are a non-trainable weight, saved and loaded with the model.
"""
import keras
import numpy as np

from ._tensorflow import tf
from .api import kmeans
from .checks import check_int, check_magnitude, check_metric
from .distances import to_every_centroid

# What the layer can output for each sample.
OUTPUT_MODES = ("index", "one_hot", "distances")


@keras.saving.register_keras_serializable(package="kmeans_tf")
class KMeansLayer(keras.layers.Layer):
    """Maps samples (batch, n_features) to their cluster.

    Parameters
    ----------
    n_clusters : int
    output_mode : {"index", "one_hot", "distances"}
        The nearest centroid's index (batch,) int32; its one-hot vector
        (batch, n_clusters) float32; or the distance to every centroid
        (batch, n_clusters) float32 (Euclidean, or 1 - cosine).
    metric : {"euclidean", "cosine"}
    seed : int, optional
        Seeds `adapt`'s k-means.
    """

    def __init__(self, n_clusters, output_mode="index", metric="euclidean",
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}; "
                             f"got {output_mode!r}")
        self.n_clusters = check_int(n_clusters, "n_clusters", 1)
        self.output_mode = output_mode
        self.metric, self.seed = check_metric(metric), seed
        self.centroids = None

    def build(self, input_shape):
        self.centroids = self.add_weight(
            name="centroids", shape=(self.n_clusters, input_shape[-1]),
            initializer="zeros", trainable=False)

    def adapt(self, data, **kmeans_arguments):
        """Run k-means on data (an array or a Dataset of batches) and keep
        its centroids. Other arguments go to `kmeans_tf.kmeans`."""
        result = kmeans(data, self.n_clusters, metric=self.metric,
                        seed=self.seed, **kmeans_arguments)
        if self.centroids is None:
            self.build((None, result.centroids.shape[1]))
        # Centroids of float64 data may not fit the layer's dtype.
        check_magnitude(float(np.abs(result.centroids).max()),
                        tf.as_dtype(self.centroids.dtype).as_numpy_dtype,
                        "data", "the layer computes in its own dtype; "
                        "rescale the data")
        self.centroids.assign(result.centroids)

    def call(self, inputs):
        distances = to_every_centroid(
            tf.cast(inputs, self.centroids.dtype), tf.convert_to_tensor(
                self.centroids), self.metric == "cosine")         # (b, k)
        if self.output_mode == "distances":
            return distances
        index = tf.argmin(distances, axis=1, output_type=tf.int32)
        if self.output_mode == "index":
            return index
        return tf.one_hot(index, self.n_clusters, dtype=distances.dtype)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "index":
            return (input_shape[0],)
        return (input_shape[0], self.n_clusters)

    def get_config(self):
        return {**super().get_config(), "n_clusters": self.n_clusters,
                "output_mode": self.output_mode, "metric": self.metric,
                "seed": self.seed}
