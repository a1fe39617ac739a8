"""Lesson 7: how many clusters? The elbow and the silhouette.

k-means needs n_clusters up front. We run it for k = 1 to --max-k on the
generated data and plot two guides: inertia against k, which always falls
but bends at an "elbow" where more clusters stop helping much, and the mean
silhouette score, which peaks where clusters are tight and well apart. The
suggestion is the k with the best silhouette.

    python choose_k.py --n-clusters 4 --embiggen-factor 150
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--max-k", type=cli.positive_int, default=10,
                    help="try k = 1 .. max-k (default: %(default)s)")
args = cli.parse_args(__doc__, lesson)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The generated data; --n-clusters sets how many blobs there really are
samples = cli.lesson_samples(args)
seed = cli.centroid_seed(args)
ks = range(1, min(args.max_k, samples.shape[0] - 1) + 1)

# %% k-means for each k (best of 4 starts), and its silhouette
inertias, silhouettes = [], []
print(" k    inertia  silhouette")
for k in ks:
    result = fn.kmeans(samples, k, n_init=4, seed=seed)
    inertias.append(result.inertia)
    # The silhouette compares clusters, so it needs at least two.
    silhouettes.append(fn.silhouette_score(samples, result.labels)
                       if k > 1 else np.nan)
    print(f"{k:2d} {result.inertia:10.1f}  {silhouettes[-1]:10.3f}")
best_k = ks[int(np.nanargmax(silhouettes))]

# %% Plot both guides side by side, the suggestion marked
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
left.plot(ks, inertias, "o-")
left.set(xlabel="n_clusters", ylabel="inertia", title="Elbow: inertia")
right.plot(ks, silhouettes, "o-")
right.set(xlabel="n_clusters", ylabel="mean silhouette",
          title="Silhouette: higher is better")
for ax in (left, right):
    ax.axvline(best_k, color="magenta", linestyle="--",
               label=f"suggested: {best_k}")
    ax.legend()
cli.show_or_save(figure, args, __file__)
print(f"suggested n_clusters: {best_k}")
