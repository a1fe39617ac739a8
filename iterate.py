"""Lesson 4: iterate, and the centroids settle on the clusters.

Repeating the assign and update steps moves the centroids until they stop
moving. Each line of the table is one step: the inertia of the centroids
after that step (the total squared distance of every sample to its nearest
centroid, which never grows from step to step) and how far the centroids
moved in it (their squared moves, summed). Step 0 is the start.

Exercise 2 (the README states it) asks you to turn lesson 3's single step
into 10; this script is its solution.

    python iterate.py --iterations 10 --centroid-seed 42
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--iterations", type=cli.int_at_least(1, 10**4),
                    default=10,
                    help="assign + update steps to run (default: "
                         "%(default)s)")
args = cli.parse_args(lesson)
import functions as fn  # noqa: E402  (TensorFlow loads after --help)
import tensorflow as tf  # noqa: E402  (already loaded, quietly, by fn)

# %% The samples and a random start, as in lessons 1 and 2
samples = cli.lesson_samples(args)
centroids = fn.choose_random_centroids(
    samples, args.n_clusters, seed=cli.centroid_seed(args))

# %% Iterate: assign, update, and watch the inertia fall
print("step    inertia  moved (squared, summed)")
print(f"{0:4d}  {fn.inertia(samples, centroids):9.1f}")
for step in range(1, args.iterations + 1):           # exercise 2's loop
    nearest_indices = fn.assign_to_nearest(samples, centroids)
    new_centroids = fn.update_centroids(
        samples, nearest_indices, args.n_clusters,
        previous_centroids=centroids)     # only for a cluster left empty
    moved = float(tf.reduce_sum((new_centroids - centroids) ** 2))
    centroids = new_centroids
    print(f"{step:4d}  {fn.inertia(samples, centroids):9.1f}  {moved:9.3f}")

# %% Plot the samples coloured by the cluster of their final centroid
nearest_indices = fn.assign_to_nearest(samples, centroids)
figure = fn.plot_clusters(samples, centroids, labels=nearest_indices,
                          title=f"After {args.iterations} iterations")
cli.show_or_save(figure, args, __file__)
