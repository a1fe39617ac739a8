"""Lesson 5: run k-means until it converges, from two kinds of start.

Instead of a fixed 10 iterations, `kmeans` stops when no sample changes
cluster, or when the centroids move less than a tolerance. We run it from
the lesson's random start and from k-means++, which spreads the initial
centroids out, and compare how fast each settles and how low the inertia
(total squared distance of samples to their centroids) ends.

    python converge.py --centroid-seed 3 --n-clusters 5
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--max-iter", type=int, default=300,
                    help="stop after this many iterations at the latest "
                         "(default: %(default)s)")
lesson.add_argument("--tol", type=float, default=1e-4,
                    help="stop when the centroids' squared movement is at "
                         "most tol x the mean feature variance (default: "
                         "%(default)s)")
args = cli.parse_args(__doc__, lesson)
import matplotlib.pyplot as plt  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The lesson's samples
samples = cli.lesson_samples(args)
seed = cli.centroid_seed(args)

# %% k-means to convergence, from each kind of start
runs = {}
for init in ["random", "k-means++"]:
    result = fn.kmeans(samples, args.n_clusters, init=init, seed=seed,
                       max_iter=args.max_iter, tol=args.tol)
    runs[init] = result
    print(f"\nstart: {init}\nstep  movement   inertia")
    for step, (inertia, movement) in enumerate(
            zip(result.inertia_history, result.shift_history), start=1):
        print(f"{step:4d}  {movement:8.3f}  {inertia:9.1f}")
    print(f"stopped after {result.n_iter} iterations: {result.stop_reason}; "
          f"final inertia {result.inertia:.1f}")

# %% Plot: the k-means++ clusters, and both inertia curves
figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
best = runs["k-means++"]
fn.plot_clusters(samples, best.centroids, labels=best.labels, ax=left,
                 title="Clusters from k-means++, converged")
for init, result in runs.items():
    right.plot(range(1, result.n_iter + 1), result.inertia_history, "o-",
               label=f"{init} ({result.n_iter} iterations)")
right.set(xlabel="iteration", ylabel="inertia", yscale="log",
          title="Inertia at the start of each iteration")
right.legend()
cli.show_or_save(figure, args, __file__)
