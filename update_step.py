"""Lesson 3: one k-means step, assign then update.

Each sample is assigned to its nearest centroid, then each centroid moves to
the mean of the samples assigned to it. The plot colours the samples by
their assignment and marks the moved centroids.

    python update_step.py --centroid-seed 42
"""
import cli

args = cli.parse_args(__doc__)
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The samples and a random start, as in lessons 1 and 2
samples = cli.lesson_samples(args)
initial_centroids = fn.choose_random_centroids(
    samples, args.n_clusters, seed=cli.centroid_seed(args))

# %% Assign: the index of the nearest centroid, for every sample
nearest_indices = fn.assign_to_nearest(samples, initial_centroids)

# %% Update: each centroid becomes the mean of its samples
updated_centroids = fn.update_centroids(samples, nearest_indices,
                                        args.n_clusters, initial_centroids)
print("initial centroids:")
print(initial_centroids.numpy())
print("after one step:")
print(updated_centroids.numpy())

# %% Plot the samples by assignment, with the updated centroids
figure = fn.plot_clusters(samples, updated_centroids,
                          labels=nearest_indices,
                          title="After one assign + update step")
cli.show_or_save(figure, args, __file__)
