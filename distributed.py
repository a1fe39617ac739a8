"""Lesson 10: k-means beyond one device, with tf.distribute.

Lloyd's update splits cleanly: each replica sums and counts its own samples
per cluster, and one all-reduce adds those up into the new centroids. By
default this splits the CPU into 2 logical devices and runs k-means under
MirroredStrategy; with --workers N it starts N worker processes on this
machine (127.0.0.1), each told the cluster by TF_CONFIG, under
MultiWorkerMirroredStrategy (see workers.py). Either way the centroids
equal the single-device run's up to float rounding (the printed largest
difference): the replicas' sums are added in another order. The
all-reduce is the `strategy.reduce` call in
`kmeans_tf.stream.epoch_statistics`.

    python distributed.py --centroid-seed 1
    python distributed.py --workers 2 --centroid-seed 1
"""
import argparse
import os
import sys
import tempfile

import cli
import workers

lesson = cli.parser(__doc__)
lesson.add_argument("--workers", type=cli.int_at_least(1, 16), default=None,
                    help="run N local worker processes under "
                         "MultiWorkerMirroredStrategy")
lesson.add_argument("--timeout", type=cli.positive_int, default=300,
                    help="seconds the workers may take (default: "
                         "%(default)s)")
# Given by the parent to each worker process; not for people.
lesson.add_argument("--worker-start", help=argparse.SUPPRESS)
lesson.add_argument("--worker-result", help=argparse.SUPPRESS)
args = cli.parse_args(lesson)
DATA_FLAGS = ["--n-clusters", args.n_clusters, "--n-samples-per-cluster",
              args.n_samples_per_cluster, "--n-features", args.n_features,
              "--embiggen-factor", args.embiggen_factor, "--seed", args.seed]


def run_workers(n_workers, start_path, result_path):
    """Start n_workers copies of this script as workers on this machine
    (`workers.run`): each runs k-means from the start saved at start_path;
    worker 0 saves the centroids to result_path."""
    commands = [[sys.executable, os.path.abspath(__file__),
                 *map(str, DATA_FLAGS), "--worker-start", start_path]
                for _ in range(n_workers)]
    commands[0] += ["--worker-result", result_path]
    try:
        workers.run(commands, args.timeout)
    except workers.WorkerError as error:
        cli.fail(error)


if args.worker_start:
    # %% A worker: join the cluster, run k-means; worker 0 saves the result
    import numpy as np
    import functions as fn
    strategy = fn.tf.distribute.MultiWorkerMirroredStrategy()
    samples = cli.lesson_samples(args)
    result = fn.kmeans(samples, args.n_clusters,
                       init=np.load(args.worker_start), strategy=strategy)
    if args.worker_result:
        np.save(args.worker_result, result.centroids)
    sys.exit(0)

import numpy as np  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)
tf = fn.tf

# %% Split the CPU in two, before TensorFlow sets up its devices
if args.workers is None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

# %% The lesson's samples and one random start for every run
samples = cli.lesson_samples(args)
start = fn.choose_random_centroids(samples, args.n_clusters,
                                   seed=cli.centroid_seed(args)).numpy()

# %% k-means on one device, then spread out
single = fn.kmeans(samples, args.n_clusters, init=start)
if args.workers is None:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    spread = fn.kmeans(samples, args.n_clusters, init=start,
                       strategy=strategy).centroids
    how = "MirroredStrategy over 2 logical CPU devices"
else:
    with tempfile.TemporaryDirectory() as folder:
        start_path = os.path.join(folder, "start.npy")
        result_path = os.path.join(folder, "centroids.npy")
        np.save(start_path, start)
        run_workers(args.workers, start_path, result_path)
        spread = np.load(result_path)
    how = f"MultiWorkerMirroredStrategy over {args.workers} local workers"
difference = float(np.abs(spread - single.centroids).max())
print(f"single device, {single.n_iter} iterations:\n{single.centroids}")
print(f"{how}:\n{spread}")
print(f"largest difference: {difference:.3g}")

# %% Plot: the clusters of the spread-out centroids
labels = fn.assign_to_nearest(samples, spread)
figure = fn.plot_clusters(samples, spread, labels=labels,
                          title=f"k-means with {how}")
cli.show_or_save(figure, args, __file__)
