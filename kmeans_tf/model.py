"""`KMeans`: k-means as a model, with scikit-learn's estimator conventions.

    model = KMeans(n_clusters=5, seed=0).fit(samples)
    model.cluster_centers_, model.labels_, model.inertia_, model.n_iter_
    model.predict(new_samples)        # nearest centroid
    model.transform(new_samples)      # distance to every centroid
    model.save("my_model")            # a SavedModel, served by plain TF
    KMeans.load("my_model").predict(new_samples)

Code and habits from scikit-learn's `KMeans` carry over: `fit(X, y=None,
sample_weight=None)` (y ignored, as scikit-learn's), `get_params` and
`set_params` (so `sklearn.base.clone` copies it). `fit` runs `kmeans`, so
an array, a tf.data.Dataset and a tf.distribute strategy all work, and
`save` writes a SavedModel (see `export`).
"""
import numpy as np

from . import distances, export
from ._tensorflow import tf
from .api import kmeans
from .checks import (check_centroids, check_metric, check_sample_weight,
                     check_samples, unit_rows)


class KMeans:
    """k-means clustering (Lloyd's algorithm), as a model to fit and use.

    Parameters
    ----------
    n_clusters : int
    init, n_init, max_iter, tol, metric, seed, strategy, progress, log_dir
        As for `kmeans_tf.kmeans`.

    Attributes (after `fit`)
    ------------------------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,), int32
    inertia_ : float
        Total squared distance of the samples to their nearest centroid,
        weighted by sample_weight (for metric="cosine": the sum of
        1 - cosine similarity).
    n_iter_ : int
    n_features_in_ : int
    """

    def __init__(self, n_clusters, *, init="k-means++", n_init=1,
                 max_iter=300, tol=1e-4, metric="euclidean", seed=None,
                 strategy=None, progress=None, log_dir=None):
        self.n_clusters, self.init, self.n_init = n_clusters, init, n_init
        self.max_iter, self.tol, self.metric = max_iter, tol, metric
        self.seed, self.strategy = seed, strategy
        self.progress, self.log_dir = progress, log_dir

    # The constructor's arguments, for get_params and set_params.
    PARAMETERS = ("n_clusters", "init", "n_init", "max_iter", "tol",
                  "metric", "seed", "strategy", "progress", "log_dir")
    # Those that `save` keeps: not the machine's (strategy, progress and
    # log_dir).
    SAVED = PARAMETERS[:7]

    def get_params(self, deep=True):
        """The constructor's arguments, as a dict (scikit-learn's
        convention; `deep` is accepted, there is nothing nested)."""
        return {name: getattr(self, name) for name in self.PARAMETERS}

    def set_params(self, **params):
        """Set constructor arguments by name; returns the model."""
        unknown = set(params) - set(self.PARAMETERS)
        if unknown:
            raise ValueError(f"KMeans has no parameters {sorted(unknown)}; "
                             f"it has {list(self.PARAMETERS)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def fit(self, X, y=None, sample_weight=None):
        """Cluster X: an array (n_samples, n_features) or a Dataset.

        y : ignored, as by scikit-learn's KMeans (it is there so that a
        call fit(X, y) does not take y for the weights).
        sample_weight : array-like of shape (n_samples,), optional; for a
        Dataset, give (batch, weights) pairs. Returns the model.
        """
        result = kmeans(X, self.n_clusters, sample_weight=sample_weight,
                        metric=self.metric, init=self.init,
                        n_init=self.n_init, max_iter=self.max_iter,
                        tol=self.tol, seed=self.seed, progress=self.progress,
                        strategy=self.strategy, log_dir=self.log_dir)
        self.cluster_centers_ = result.centroids
        self.labels_, self.inertia_ = result.labels, result.inertia
        self.n_iter_ = result.n_iter
        self.n_features_in_ = result.centroids.shape[1]
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """fit, then the labels of X: (n_samples,) int32 (y ignored)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X, y=None, sample_weight=None):
        """fit, then transform X (y ignored)."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def predict(self, X):
        """Index of the nearest centroid for each sample of X (an array or
        a Dataset of batches): (n_samples,) int32."""
        return np.concatenate([np.argmin(d, axis=1).astype(np.int32)
                               for d in self._distances(X)])

    def transform(self, X):
        """Distance of each sample of X to every centroid: (n_samples,
        n_clusters); Euclidean, as scikit-learn's, or 1 - cosine."""
        return np.concatenate(list(self._distances(X)))

    def score(self, X, y=None, sample_weight=None):
        """Minus the inertia of X under the fitted centroids (higher is
        better), weighted by sample_weight, as scikit-learn's (y
        ignored)."""
        nearest = np.min(self.transform(X), axis=1)
        weights = check_sample_weight(sample_weight, len(nearest),
                                      tf.float64)
        losses = nearest if self.metric == "cosine" else nearest ** 2
        if weights is not None:
            losses = losses * weights.numpy()
        return -float(np.sum(losses, dtype=np.float64))

    def save(self, path):
        """Write the fitted model as a TensorFlow SavedModel folder (see
        `kmeans_tf.export`); `KMeans.load(path)` reads it back, with the
        constructor's arguments but `strategy`, `progress` and `log_dir`,
        which belong to the machine that fitted it."""
        self._check_fitted()
        # As JSON: NumPy's numbers and arrays (an init of centroids) become
        # Python's.
        kept = {}
        for name in self.SAVED:
            value = getattr(self, name)
            kept[name] = (value if isinstance(value, str)
                          else np.asarray(value).tolist())
        export.save_model(path, self.cluster_centers_, self.metric, dict(
            kept, inertia=self.inertia_, n_iter=self.n_iter_))

    @classmethod
    def load(cls, path):
        """A fitted KMeans from a folder written by `save`: it predicts
        and transforms as the saved one did, and fits again as it would
        (labels_ are not saved)."""
        centroids, config = export.load_model(path)
        # (Folders saved before init, n_init, max_iter, tol and seed were
        # kept get the constructor's defaults for them.)
        model = cls(**{name: config[name] for name in cls.SAVED
                       if name in config})
        if isinstance(model.init, list):
            model.init = np.array(model.init)
        model.cluster_centers_ = centroids
        model.inertia_, model.n_iter_ = config["inertia"], config["n_iter"]
        model.n_features_in_ = centroids.shape[1]
        return model

    def _distances(self, X):
        """transform's (m, n_clusters) blocks, one per array or batch."""
        self._check_fitted()
        if isinstance(X, tf.data.Dataset) and isinstance(X.element_spec,
                                                         tuple):
            raise TypeError("X as a Dataset must yield batches of samples, "
                            "not (batch, weights) pairs")
        batches = X if isinstance(X, tf.data.Dataset) else [X]
        empty = True
        for batch in batches:
            empty = False
            samples = check_samples(batch, "X")
            if samples.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {samples.shape[1]} features, but "
                                 f"this KMeans was fitted with "
                                 f"{self.n_features_in_}")
            if check_metric(self.metric) == "cosine":
                samples = unit_rows(samples, "X")
            centroids = check_centroids(self.cluster_centers_, samples)
            yield distances.pairwise(samples, centroids, self.metric).numpy()
        if empty:
            raise ValueError("X must not be empty; the Dataset yielded no "
                             "batches")

    def _check_fitted(self):
        if not hasattr(self, "cluster_centers_"):
            raise ValueError("this KMeans is not fitted yet: call fit first")
