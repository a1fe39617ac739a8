"""Lesson 7: how many clusters? The elbow, the silhouette and the BIC.

k-means needs n_clusters up front. We run it for k = 1 to --max-k on the
generated data and look at three guides:

- the elbow: inertia always falls as k grows, but bends where more
  clusters stop helping much; where exactly is a judgement call;
- the silhouette: how much nearer each sample is to its own cluster than
  to the next one, from -1 to 1. It rewards clusters that are far apart,
  so two blobs that touch can score better as one;
- the BIC: how well k round blobs of one common spread explain the data,
  less a penalty for every cluster's parameters. It tells two touching
  blobs from one, because one blob cannot explain both bumps.

The suggestion is the k with the highest BIC. When the guides disagree,
look at the data: they ask different questions.

    python choose_k.py --n-clusters 4 --embiggen-factor 150
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--max-k", type=cli.int_at_least(2, 100), default=10,
                    help="try k = 1 .. max-k (default: %(default)s)")
lesson.add_argument("--silhouette-samples", type=cli.int_at_least(10),
                    default=2000,
                    help="score the silhouette on this many random samples; "
                         "its cost grows with their square (default: "
                         "%(default)s)")
args = cli.parse_args(lesson)
if args.n_clusters * args.n_samples_per_cluster < 3:
    # k = 1 and 2 need more samples than clusters, for the BIC.
    lesson.error(f"--n-clusters {args.n_clusters} x --n-samples-per-cluster "
                 f"{args.n_samples_per_cluster}: choosing k needs at least 3 "
                 f"samples")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The generated data; --n-clusters sets how many blobs there really are
samples = cli.lesson_samples(args).numpy()
seed = cli.centroid_seed(args)
ks = range(1, min(args.max_k, len(samples) - 1) + 1)

# %% k-means for each k (best of 4 starts), and the three guides
# With scikit-learn's default tol=1e-4, a run stops once the centroids
# barely move, so an inertia here can be a little above converge.py's
# (which runs with tol=0 until no label changes).
inertias, silhouettes, bics = [], [], []
print(" k      inertia  silhouette          BIC")
for k in ks:
    result = fn.kmeans(samples, k, n_init=4, seed=seed)
    inertias.append(result.inertia)
    bics.append(fn.bic_score(samples, result.centroids))
    # The silhouette compares clusters, so it needs at least two.
    silhouettes.append(fn.silhouette_score(
        samples, result.labels, sample_size=args.silhouette_samples,
        seed=seed) if k > 1 and len(np.unique(result.labels)) > 1
        else np.nan)
    print(f"{k:2d} {result.inertia:12.1f}  {silhouettes[-1]:10.3f}  "
          f"{bics[-1]:11.1f}")
best_k = ks[int(np.argmax(bics))]

# %% Plot the three guides side by side, the suggestion marked
figure, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharex=True)
elbow, silhouette, bic = axes
elbow.plot(ks, inertias, "o-")
elbow.set(xlabel="n_clusters", ylabel="inertia", title="Elbow: inertia")
silhouette.plot(ks, silhouettes, "o-")
# A fixed axis: a wiggle of 0.001 must not look like a peak.
silhouette.set(xlabel="n_clusters", ylabel="mean silhouette",
               ylim=(-1 if np.nanmin(silhouettes) < 0 else 0, 1),
               title="Silhouette: higher is better")
bic.plot(ks, bics, "o-")
bic.set(xlabel="n_clusters", ylabel="BIC",
        title="BIC: higher is better (the suggestion)")
for ax in axes:
    ax.axvline(best_k, color="magenta", linestyle="--",
               label=f"suggested: {best_k}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
figure.tight_layout()
cli.show_or_save(figure, args, __file__)
print(f"suggested n_clusters: {best_k}")
