"""Lesson 3: one k-means step, assign then update.

Each sample is assigned to its nearest centroid, then each centroid moves
to the mean of the samples assigned to it. The plot colours the samples by
their assignment, marks the start with white Xs and the moved centroids
with magenta Xs, and draws an arrow for each move. Cluster j is simply the
j-th centroid chosen: the numbers (and so the colours) are arbitrary, and
need not match the blob numbers of lesson 1.

    python update_step.py --centroid-seed 42
"""
import cli

args = cli.parse_args(cli.parser(__doc__))
import numpy as np  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The samples and a random start, as in lessons 1 and 2
samples = cli.lesson_samples(args)
initial_centroids = fn.choose_random_centroids(
    samples, args.n_clusters, seed=cli.centroid_seed(args))

# %% Assign: the index of the nearest centroid, for every sample
nearest_indices = fn.assign_to_nearest(samples, initial_centroids)

# %% Update: each centroid becomes the mean of its samples
updated_centroids = fn.update_centroids(
    samples, nearest_indices, args.n_clusters,
    previous_centroids=initial_centroids)   # only for a cluster left empty
sizes = np.bincount(nearest_indices.numpy(), minlength=args.n_clusters)
# How far each centroid went; "moved", as in every lesson, is the sum of
# the squares of these distances, what tol is compared with.
distances = np.linalg.norm(updated_centroids - initial_centroids, axis=1)
print("cluster  samples  distance moved")
for cluster, (size, distance) in enumerate(zip(sizes, distances)):
    print(f"{cluster:7d}  {size:7d}  {distance:14.2f}")
print(f"moved (squared, summed): {np.sum(distances ** 2):.3f}")
print(f"inertia of the initial centroids: "
      f"{fn.inertia(samples, initial_centroids):.1f}")
print(f"inertia after one step:           "
      f"{fn.inertia(samples, updated_centroids):.1f}")

# %% Plot the assignment, the start, and each centroid's move
figure = fn.plot_clusters(samples, updated_centroids,
                          labels=nearest_indices,
                          title="One step: assign to the start (white X), "
                                "move to the mean (magenta X)")
ax = figure.axes[0]
start = initial_centroids.numpy()
ax.plot(start[:, 0], start[:, 1] if start.shape[1] > 1 else 0 * start[:, 0],
        "X", markersize=10, markerfacecolor="white", markeredgecolor="black",
        linestyle="none")
# Each arrow starts at the edge of its white X and ends at the edge of the
# magenta one (shrink, in points: half of each marker), so that even a
# short move shows its head.
for old, new in zip(start, updated_centroids.numpy()):
    ax.annotate("", xy=(new[0], new[1] if len(new) > 1 else 0),
                xytext=(old[0], old[1] if len(old) > 1 else 0),
                arrowprops=dict(arrowstyle="->", lw=2, color="black",
                                shrinkA=5, shrinkB=8), zorder=4)
cli.show_or_save(figure, args, __file__)
