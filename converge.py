"""Lesson 5: run k-means until it converges, from two kinds of start.

Instead of a fixed 10 iterations, `kmeans` stops when no sample changes
cluster (or, with --tol, when the centroids move less than a tolerance).
We run it from the lesson's random start and from k-means++, which draws
each next centroid at random too, but favours samples far from those
already chosen (with probability in proportion to the squared distance
to the nearest). Both run to the end (--tol 0 by default), so their final
inertias compare fairly.

Why k-means++ helps: a random start can put two centroids in one blob and
none in another, and the steps cannot undo that, so the run ends in a
worse clustering (a local minimum). Spreading the start out makes that
rare, and the run usually needs fewer steps. One start proves little, so
the lesson also runs --n-starts seeds of each and counts.

    python converge.py --centroid-seed 10 --n-clusters 5
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--max-iter", type=cli.int_at_least(0, 10**6), default=300,
                    help="stop after this many iterations at the latest "
                         "(default: %(default)s)")
lesson.add_argument("--tol", type=cli.float_at_least(0), default=0.0,
                    help="also stop when the centroids' squared movement "
                         "is at most tol x the mean feature variance; "
                         "scikit-learn's default is 1e-4 (default: "
                         "%(default)s, run until no label changes)")
lesson.add_argument("--n-starts", type=cli.int_at_least(1, 1000), default=20,
                    help="seeds of each start to compare (default: "
                         "%(default)s)")
args = cli.parse_args(lesson)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The lesson's samples
samples = cli.lesson_samples(args)
seed = cli.centroid_seed(args)

# %% k-means to convergence, from each kind of start, with this seed
# The inertia column is that of the centroids after each step, as in
# iterate.py; with init="random", kmeans starts where iterate.py starts.
runs = {}
for init in ["random", "k-means++"]:
    result = fn.kmeans(samples, args.n_clusters, init=init, seed=seed,
                       max_iter=args.max_iter, tol=args.tol)
    runs[init] = result
    # Steps 0..n_iter. The steps' inertias come from the loop's float32
    # sums and the last from a float64 pass, so the last may differ from
    # the one before in its last digit, even when nothing changed.
    inertias = [*result.inertia_history, result.inertia]
    print(f"\nstart: {init}\nstep    inertia  moved (squared, summed)")
    for step, inertia in enumerate(inertias):
        moved = (f"{result.shift_history[step - 1]:9.3f}" if step else "")
        print(f"{step:4d}  {inertia:9.1f}  {moved}")
    print(f"stopped after {result.n_iter} iterations: {result.stop_reason}")

# %% Many seeds of each start: how often does each reach the best clustering?
print(f"\nover {args.n_starts} seeds ({seed} to {seed + args.n_starts - 1}):")
# The first seed's runs are the ones above.
finals = {init: [runs[init], *(fn.kmeans(samples, args.n_clusters, init=init,
                                         seed=s, max_iter=args.max_iter,
                                         tol=args.tol)
                               for s in range(seed + 1,
                                              seed + args.n_starts))]
          for init in runs}
best = min(r.inertia for results in finals.values() for r in results)
# Within 0.01% of the lowest: runs that differ by a sample or two on the
# blobs' edges count as the same clustering.
near_best = best * (1 + 1e-4)
for init, results in finals.items():
    reached = sum(r.inertia <= near_best for r in results)
    print(f"  {init:9s}: reached the lowest inertia ({best:.1f}, within "
          f"0.01%) in {reached} of {len(results)} runs; worst "
          f"{max(r.inertia for r in results):.1f}; mean "
          f"{np.mean([r.n_iter for r in results]):.1f} iterations")

# %% Plot: the clusters from each start, and both inertia curves
figure, axes = plt.subplots(1, 3, figsize=(17, 5), layout="constrained")
for ax, (init, result) in zip(axes, runs.items()):
    fn.plot_clusters(samples, result.centroids, labels=result.labels, ax=ax,
                     title=f"From a {init} start: inertia "
                           f"{result.inertia:.1f}")
right = axes[2]
for init, result in runs.items():
    right.plot(range(result.n_iter + 1),
               [*result.inertia_history, result.inertia], "o-",
               label=f"{init} start ({result.n_iter} iterations)")
right.axhline(best, color="grey", linestyle="--",
              label=f"lowest over {args.n_starts} seeds of each")
right.set(xlabel="step (0 = the start)",
          ylabel="inertia (log scale)", yscale="log",
          title=f"Inertia after each step, seed {seed}")
right.xaxis.set_major_locator(MaxNLocator(integer=True))
right.legend()
cli.show_or_save(figure, args, __file__)
