"""Lesson 2: choose initial centroids.

k-means starts from a guess. The simplest guess takes n_clusters of the
samples at random: shuffle the sample indices, slice off the first
n_clusters, gather those samples. Each run guesses anew; exercise 1 (solved
here) seeds the choice with --centroid-seed so a run can be repeated.

    python initialise.py                       # a different start each run
    python initialise.py --centroid-seed 42    # the same start every time
"""
import cli

args = cli.parse_args(__doc__)
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The samples from lesson 1
samples = cli.lesson_samples(args)

# %% Pick initial centroids among them
initial_centroids = fn.choose_random_centroids(
    samples, args.n_clusters, seed=cli.centroid_seed(args))
print("initial centroids:")
print(initial_centroids.numpy())

# %% Plot: the blobs as generated, the X marks where k-means will start
figure = fn.plot_clusters(samples, initial_centroids,
                          args.n_samples_per_cluster,
                          title="Initial centroids, chosen among the samples")
cli.show_or_save(figure, args, __file__)
