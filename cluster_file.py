"""Lesson 9: cluster your own data, k-means on CSV or .npy files.

Reads DATA (CSV files of numbers with an optional header row, or NumPy .npy
files; one sample per row; several files, or a glob pattern, are one data
set), runs k-means, writes one label per input row, in input order, and
the centroids, and prints the cluster sizes and the inertia. A problem with
any file is one line naming it (and the row and column) and exit status 2,
found before TensorFlow loads where it can be; outputs are written all
together, whole, or not at all.

    python cluster_file.py data.csv --n-clusters 4 --labels-out labels.csv \\
        --centroids-out centroids.csv --save clusters.png
    python cluster_file.py 'parts/*.npy' --n-clusters 50 --workers 2 \\
        --labels-out labels/ --model-out my_model
    python cluster_file.py new.csv --model my_model --labels-out new.labels
"""
import argparse

import cli

lesson = cli.base_parser(__doc__)
lesson.add_argument("data", metavar="DATA", nargs="+",
                    help="a .csv or .npy file; several files, or a quoted "
                         "glob pattern ('parts/*.npy'), are one data set")
lesson.add_argument("--n-clusters", type=cli.positive_int,
                    help="number of clusters to find (not with --model)")
lesson.add_argument("--labels-out", metavar="PATH",
                    help="write each row's cluster, one per line; with "
                         "several DATA files, a folder that gets "
                         "NAME.labels.csv for each")
lesson.add_argument("--centroids-out", metavar="C.csv",
                    help="write the centroids, one per line")
lesson.add_argument("--model-out", metavar="FOLDER",
                    help="save the fitted model as a TensorFlow SavedModel")
lesson.add_argument("--model", metavar="FOLDER",
                    help="label DATA with a saved model instead of fitting")
lesson.add_argument("--n-init", type=cli.int_at_least(1, 1000), default=1,
                    help="k-means runs from different starts; the best is "
                         "kept (default: %(default)s)")
lesson.add_argument("--max-iter", type=cli.int_at_least(0, 10**6),
                    default=300, help="iterations at most (default: "
                                      "%(default)s)")
lesson.add_argument("--workers", type=cli.int_at_least(1, 64),
                    help="split the files among N worker processes on this "
                         "machine, each reading only its share "
                         "(MultiWorkerMirroredStrategy)")
lesson.add_argument("--timeout", type=cli.positive_int, default=3600,
                    help="seconds the workers may take (default: "
                         "%(default)s)")
# Given by the parent to each worker process; not for people.
lesson.add_argument("--worker-folder", help=argparse.SUPPRESS)
lesson.epilog = ("The plot (first two columns, of the first file) is drawn "
                 "only with --save.")
args = cli.parse_args(lesson)
import csv  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import data_files  # noqa: E402
import outputs  # noqa: E402
import workers  # noqa: E402


# %% Which files, which outputs: all checked before any work

def expand(patterns):
    """The files named: each DATA as given, or a glob pattern's matches;
    a file named twice counts once."""
    paths, seen = [], set()
    for pattern in patterns:
        matches = (sorted(glob.glob(pattern)) if glob.has_magic(pattern)
                   and not os.path.exists(pattern) else [pattern])
        if not matches:
            cli.fail(f"{pattern}: no file matches this pattern")
        for path in matches:
            if os.path.realpath(path) not in seen:
                seen.add(os.path.realpath(path))
                paths.append(path)
    return paths


def label_paths(paths):
    """Where each input's labels go: --labels-out itself for one input; for
    several, FOLDER/NAME.labels.csv."""
    if not args.labels_out:
        return {}
    if len(paths) == 1:
        return {paths[0]: args.labels_out}
    if not os.path.isdir(args.labels_out):
        cli.fail(f"--labels-out {args.labels_out}: with {len(paths)} DATA "
                 f"files this must be an existing folder")
    out = {path: os.path.join(args.labels_out, os.path.splitext(
        os.path.basename(path))[0] + ".labels.csv") for path in paths}
    if len(set(out.values())) < len(out):
        cli.fail("--labels-out: two DATA files have the same name; their "
                 "labels would overwrite each other")
    return out


def check_arguments(paths, labels_out):
    if (args.model is None) == (args.n_clusters is None):
        cli.fail("give --n-clusters to fit a model, or --model to use one "
                 "(not both)")
    if args.model and (args.model_out or args.workers):
        cli.fail("--model labels with a saved model: it takes neither "
                 "--model-out nor --workers")
    if args.workers and args.n_init > 1:
        cli.fail("--workers runs k-means once, from one start: it takes no "
                 "--n-init")
    others = [*labels_out.values(), *[path for path in (
        args.centroids_out, args.save) if path]]
    if args.model_out:
        # The model folder is replaced whole: nothing else may be in it.
        folder = os.path.realpath(args.model_out)
        for path in [*paths, *others]:
            if os.path.realpath(path).startswith(folder + os.sep):
                cli.fail(f"{path} is inside --model-out {args.model_out}, "
                         f"which is replaced by the saved model")
    cli.check_outputs(others, inputs=paths)


def read_all(paths):
    """Every file's samples, checked, and the first file's header."""
    arrays, header = [], None
    try:
        for path in paths:
            samples, names = data_files.read(path)
            if arrays and samples.shape[1] != arrays[0].shape[1]:
                cli.fail(f"{path}: {samples.shape[1]} columns, but "
                         f"{paths[0]} has {arrays[0].shape[1]}")
            arrays.append(samples)
            header = header if len(arrays) > 1 else names
    except data_files.DataError as error:
        cli.fail(error)
    return arrays, header


# %% A worker (started by the parent): k-means on its share of the files

def run_worker(paths):
    """Fit with the other workers; save this worker's labels, per file, and
    (worker 0) the centroids, into --worker-folder."""
    import functions as fn
    strategy = fn.tf.distribute.MultiWorkerMirroredStrategy()
    share = fn.kmeans_tf.shard.Workers(strategy).share(paths)
    # Every file checked before work; only their lengths are kept.
    lengths = [len(array) for array in read_all(share)[0]]
    result = fn.kmeans_tf.kmeans_files(
        paths, args.n_clusters, max_iter=args.max_iter, strategy=strategy,
        seed=args.centroid_seed, read=lambda path: data_files.read(path)[0])
    ends = np.cumsum(lengths)
    for path, end, rows in zip(share, ends, lengths):
        np.save(os.path.join(args.worker_folder, f"{paths.index(path)}.npy"),
                result.labels[end - rows:end])
    if share and paths.index(share[0]) == 0:
        np.save(os.path.join(args.worker_folder, "centroids.npy"),
                result.centroids)
        with open(os.path.join(args.worker_folder, "run.json"), "w") as file:
            json.dump(dict(inertia=result.inertia, n_iter=result.n_iter,
                           stop_reason=result.stop_reason), file)
    sys.exit(0)


# %% The run: in this process, or split among workers

def fit_here(arrays):
    """(labels per file, centroids, inertia, n_iter, stop reason, model)."""
    import functions as fn
    samples = np.concatenate(arrays)
    if args.model:
        try:
            model = fn.KMeans.load(args.model)
        except ValueError as error:
            cli.fail(f"--model {args.model}: {error}")
        if samples.shape[1] != model.n_features_in_:
            cli.fail(f"{paths[0]}: {samples.shape[1]} columns, but the "
                     f"model was fitted on {model.n_features_in_}")
        try:
            labels = model.predict(samples)
        except ValueError as error:          # a row of zeros, for cosine
            cli.fail(f"{paths[0]}: {error}")
        about = (-model.score(samples), 0, "labelled by a saved model")
    else:
        model = fn.KMeans(args.n_clusters, n_init=args.n_init,
                          max_iter=args.max_iter,
                          seed=cli.centroid_seed(args), progress=progress)
        try:
            model.fit(samples)
        except ValueError as error:         # values beyond the dtype's range
            cli.fail(f"{', '.join(paths)}: {error}")
        labels = model.labels_
        about = (model.inertia_, model.n_iter_, f"{model.n_iter_} "
                 f"iterations")
    split = np.cumsum([len(array) for array in arrays])[:-1]
    return np.split(labels, split), model.cluster_centers_, *about, model


def fit_with_workers(paths):
    """The same, from --workers processes, each reading its share."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, os.path.abspath(__file__), *paths,
                   "--n-clusters", str(args.n_clusters), "--max-iter",
                   str(args.max_iter), "--centroid-seed",
                   str(cli.centroid_seed(args)), "--worker-folder", folder]
        try:
            # More workers than files would leave some with nothing to read.
            workers.run([command] * min(args.workers, len(paths)),
                        args.timeout)
        except workers.WorkerError as error:
            cli.fail(error)
        labels = [np.load(os.path.join(folder, f"{index}.npy"))
                  for index in range(len(paths))]
        centroids = np.load(os.path.join(folder, "centroids.npy"))
        with open(os.path.join(folder, "run.json")) as file:
            run = json.load(file)
    import functions as fn
    model = fn.KMeans(args.n_clusters)
    model.cluster_centers_, model.inertia_ = centroids, run["inertia"]
    model.n_iter_, model.n_features_in_ = run["n_iter"], centroids.shape[1]
    return (labels, centroids, run["inertia"], run["n_iter"],
            f"{run['n_iter']} iterations ({run['stop_reason']}) on "
            f"{min(args.workers, len(paths))} workers", model)


started = time.perf_counter()
first_report = None


def progress(n_iter, max_iter, inertia, shift):
    # The first report comes after tracing and compiling; only a run still
    # going a second after it is long enough to want progress lines.
    global first_report
    first_report = first_report or time.perf_counter()
    if time.perf_counter() - first_report > 1:
        print(f"  iteration {n_iter}/{max_iter}: inertia {inertia:.6g}, "
              f"centroids moved {shift:.3g}", file=sys.stderr, flush=True)


paths = expand(args.data)
if args.worker_folder:
    run_worker(paths)
labels_out = label_paths(paths)
check_arguments(paths, labels_out)
if args.model_out or args.model:
    import functions as fn
    if args.model_out:                  # checked before the fit, not after
        try:
            fn.kmeans_tf.export.check_model_path(args.model_out)
        except ValueError as error:
            cli.fail(f"--model-out {args.model_out}: {error}")
if args.workers:
    try:
        _, header = data_files.read(paths[0])     # its header, for C.csv
    except data_files.DataError as error:
        cli.fail(error)
    labels, centroids, inertia, n_iter, how, model = fit_with_workers(paths)
else:
    arrays, header = read_all(paths)
    rows = sum(len(array) for array in arrays)
    if args.n_clusters and rows < args.n_clusters:
        cli.fail(f"{paths[0]}: {rows} rows, fewer than --n-clusters="
                 f"{args.n_clusters}")
    print(f"{len(paths)} file{'s' * (len(paths) > 1)}: {rows} rows, "
          f"{arrays[0].shape[1]} columns")
    labels, centroids, inertia, n_iter, how, model = fit_here(arrays)


# %% Write every output, or none: labels, centroids, plot, then the model
import functions as fn  # noqa: E402  (loaded already, by the run)


def labels_writer(file_labels):
    def write(path):
        with open(path, "w", encoding="utf-8") as file:
            file.writelines(f"{label}\n" for label in file_labels)
    return write


def write_centroids(path):
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow(header)
        writer.writerows(centroids.tolist())


writers = {out: labels_writer(labels[paths.index(path)])
           for path, out in labels_out.items()}
if args.centroids_out:
    writers[args.centroids_out] = write_centroids
if args.save:
    # The first file's first two columns, at most 20,000 rows: enough to
    # see, quick to draw.
    first = data_files.read(paths[0])[0]
    shown = np.random.default_rng(0).permutation(len(first))[:20_000]
    figure = fn.plot_clusters(first[shown], centroids,
                              labels=labels[0][shown],
                              title=f"{os.path.basename(paths[0])}: "
                                    f"{len(centroids)} clusters")
    if header and len(header) >= 2:
        figure.axes[0].set(xlabel=header[0], ylabel=header[1])
    writers[args.save] = cli.picture_writer(figure)
if args.model_out:                      # all or nothing: before any is written
    try:
        fn.kmeans_tf.export.check_servable(centroids)
    except ValueError as error:
        cli.fail(f"--model-out {args.model_out}: {error}")
cli.save_outputs(writers)
if args.model_out:
    try:
        model.save(args.model_out)      # staged beside it, then renamed
    except (OSError, ValueError) as error:
        cli.fail(f"--model-out {args.model_out}: {outputs.reason(error)}")
sizes = np.bincount(np.concatenate(labels), minlength=len(centroids))
print(f"{len(centroids)} clusters of sizes {', '.join(map(str, sizes))}; "
      f"inertia {inertia:.6g}, {how}, in "
      f"{time.perf_counter() - started:.1f} s")
for path in [*writers, args.model_out]:
    if path:
        print(f"wrote {path}")
