"""Lesson 11: a model to keep: fit, save, load, and label new points.

What k-means learns is a model: centroids that give any sample, even one
it never saw, a cluster (its nearest centroid). We fit `KMeans` on the
lesson's samples, save it as a TensorFlow SavedModel (the format TF Serving
and TensorFlow Lite read), load it back with plain TensorFlow, as a server
would, with no part of this project, and label new points with it.

    python serve.py --centroid-seed 3
    python serve.py --model-dir my_model      # keep the SavedModel
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--model-dir", metavar="PATH", default=None,
                    help="save the SavedModel to this folder (default: a "
                         "temporary folder, removed at the end)")
lesson.add_argument("--n-new", type=cli.int_at_least(1, 10_000), default=30,
                    help="new points to label (default: %(default)s)")
args = cli.parse_args(lesson)
import os  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)
import tensorflow as tf  # noqa: E402

if args.model_dir:                # checked before the fit, not after it
    try:
        fn.kmeans_tf.export.check_model_path(args.model_dir)
    except ValueError as error:
        cli.fail(f"--model-dir {args.model_dir}: {error}")

# %% Fit a model on the lesson's samples
# (With the default tol=1e-4 it stops once the centroids barely move: its
# inertia can be a little above converge.py's, which runs with tol=0.)
samples = cli.lesson_samples(args).numpy()
model = fn.KMeans(args.n_clusters, seed=cli.centroid_seed(args)).fit(samples)
print(f"fitted {args.n_clusters} centroids in {model.n_iter_} iterations; "
      f"inertia {model.inertia_:.1f}")

# %% Save it, then load it as a server would: plain TensorFlow
with tempfile.TemporaryDirectory() as folder:
    path = args.model_dir or os.path.join(folder, "model")
    model.save(path)
    served = tf.saved_model.load(path).signatures["serving_default"]
    # New points, anywhere around the data.
    rng = np.random.default_rng(args.seed)
    low, high = samples.min(axis=0), samples.max(axis=0)
    new_points = rng.uniform(low, high, (args.n_new, samples.shape[1]))
    answer = served(samples=tf.constant(new_points, tf.float32))
    clusters = answer["cluster_index"].numpy()
    nearest = answer["distances"].numpy().min(axis=1)
print(f"saved to {args.model_dir or 'a temporary folder'}; the served model "
      f"labelled {args.n_new} new points, as model.predict does: "
      f"{bool((clusters == model.predict(new_points)).all())}")
print("first points, their cluster and the distance to its centroid:")
for point, cluster, distance in list(zip(new_points, clusters, nearest))[:5]:
    print(f"  {np.round(point, 1)} -> cluster {cluster} ({distance:.1f})")

# %% Plot: the samples by cluster, the new points as diamonds in theirs
figure = fn.plot_clusters(samples, model.cluster_centers_,
                          labels=model.labels_,
                          title="New points (diamonds) labelled by the "
                                "served model")
ax = figure.axes[0]
colours = fn.cluster_colours(clusters)
ax.scatter(new_points[:, 0], new_points[:, 1] if samples.shape[1] > 1
           else 0 * new_points[:, 0], marker="D", s=60, c=colours,
           edgecolors="black", linewidths=1.2, zorder=3)
cli.show_or_save(figure, args, __file__)
