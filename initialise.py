"""Lesson 2: choose initial centroids.

k-means starts from a guess. The simplest guess takes n_clusters of the
samples at random: shuffle the sample indices, slice off the first
n_clusters, gather those samples. Each run guesses anew, unless the choice
is seeded.

Exercise 1 (the README states it) asks you to make the start repeatable;
the `seed=` line below, fed by --centroid-seed, is its solution.

    python initialise.py                       # a different start each run
    python initialise.py --centroid-seed 42    # the same start every time
"""
import cli

args = cli.parse_args(cli.parser(__doc__))
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The samples from lesson 1
samples = cli.lesson_samples(args)

# %% Pick initial centroids among them
initial_centroids = fn.choose_random_centroids(
    samples, args.n_clusters,
    seed=cli.centroid_seed(args))        # exercise 1's solution: a seed
print("initial centroids:")
print(initial_centroids.numpy())
print(f"inertia of the initial centroids: "
      f"{fn.inertia(samples, initial_centroids):.1f}")

# %% Plot: the blobs as generated, the X marks where k-means will start
figure = fn.plot_clusters(samples, initial_centroids,
                          args.n_samples_per_cluster,
                          title="Initial centroids, chosen among the samples")
cli.show_or_save(figure, args, __file__)
