"""Lesson 4: iterate, and the centroids settle on the clusters.

Repeating the assign and update steps moves the centroids until they stop
moving. Exercise 2 (solved here) runs 10 iterations; each line printed shows
how far the centroids moved (their squared distances moved, summed) and the
inertia, the total squared distance of the samples to their centroids,
which can only shrink from step to step.

    python iterate.py --iterations 10 --centroid-seed 42
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--iterations", type=cli.positive_int, default=10,
                    help="assign + update steps to run (default: "
                         "%(default)s)")
args = cli.parse_args(__doc__, lesson)
import functions as fn  # noqa: E402  (TensorFlow loads after --help)
import tensorflow as tf  # noqa: E402

# %% The samples and a random start, as in lessons 1 and 2
samples = cli.lesson_samples(args)
centroids = fn.choose_random_centroids(
    samples, args.n_clusters, seed=cli.centroid_seed(args))

# %% Iterate: assign, update, and watch the movement shrink
print("step  movement  inertia")
for step in range(1, args.iterations + 1):
    nearest_indices = fn.assign_to_nearest(samples, centroids)
    new_centroids = fn.update_centroids(samples, nearest_indices,
                                        args.n_clusters, centroids)
    movement = float(tf.reduce_sum((new_centroids - centroids) ** 2))
    centroids = new_centroids
    print(f"{step:4d}  {movement:8.3f}  "
          f"{fn.inertia(samples, centroids, nearest_indices):.1f}")

# %% Plot the samples coloured by the cluster of their final centroid
nearest_indices = fn.assign_to_nearest(samples, centroids)
figure = fn.plot_clusters(samples, centroids, labels=nearest_indices,
                          title=f"After {args.iterations} iterations")
cli.show_or_save(figure, args, __file__)
