"""Lesson 1: generate samples to cluster.

k-means needs data with clusters in it. We make our own: random true
centroids, and a blob of normally distributed samples around each. The plot
colours each blob and marks each true centroid with a magenta X.

    python generate_samples.py                 # opens a window
    python generate_samples.py --save out.png  # or writes the picture
"""
import cli

args = cli.parse_args(cli.parser(__doc__))
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% Generate the blobs
# One seed fixes both the true centroids and the samples around them.
true_centroids, samples = fn.create_samples(
    args.n_clusters, args.n_samples_per_cluster, args.n_features,
    args.embiggen_factor, args.seed)
print(f"{samples.shape[0]} samples with {samples.shape[1]} features "
      f"around {true_centroids.shape[0]} true centroids:")
print(true_centroids.numpy())

# %% Plot them, one colour per generated blob
figure = fn.plot_clusters(samples, true_centroids, args.n_samples_per_cluster,
                          title="Generated samples and their true centroids")
cli.show_or_save(figure, args, __file__)
