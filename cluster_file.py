"""Lesson 9: cluster your own data, k-means on a CSV or .npy file.

Reads DATA (a CSV of numbers with an optional header row, or a NumPy .npy
file; one sample per row), runs k-means++ k-means, writes one label per
input row in input order, and the centroids, and prints the cluster sizes
and the inertia. Outputs are written whole or not at all.

    python cluster_file.py data.csv --n-clusters 4 --labels-out labels.csv \\
        --centroids-out centroids.csv --save clusters.png
"""
import cli

lesson = cli.base_parser(__doc__)
lesson.add_argument("data", metavar="DATA", help="a .csv or .npy file")
lesson.add_argument("--n-clusters", type=cli.positive_int, required=True,
                    help="number of clusters to find")
lesson.add_argument("--labels-out", metavar="LABELS.csv",
                    help="write each row's cluster, one per line")
lesson.add_argument("--centroids-out", metavar="C.csv",
                    help="write the centroids, one per line")
lesson.add_argument("--n-init", type=cli.int_at_least(1, 1000), default=1,
                    help="k-means runs from different starts; the best is "
                         "kept (default: %(default)s)")
lesson.add_argument("--max-iter", type=cli.int_at_least(0, 10**6), default=300,
                    help="iterations at most (default: %(default)s)")
lesson.epilog = "The plot (first two columns) is drawn only with --save."
args = cli.parse_args(lesson)
import csv  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def fail(message):
    """One line on stderr, exit status 2, no traceback."""
    print(f"cluster_file.py: error: {message}", file=sys.stderr)
    sys.exit(2)


# %% Reading: every problem named by file, row and column

def read_csv(path):
    """(samples, header or None). Rows count from 1, the header included."""
    with open(path, newline="") as file:
        rows = [(number, row) for number, row in
                enumerate(csv.reader(file), start=1) if "".join(row).strip()]
    if not rows:
        fail(f"{path}: the file is empty")
    header = None
    if not any(_is_number(cell) for cell in rows[0][1]):
        header, rows = rows[0][1], rows[1:]
        if not rows:
            fail(f"{path}: a header row but no data rows")
    width = len(rows[0][1])
    samples = np.empty((len(rows), width))
    for index, (number, row) in enumerate(rows):
        if len(row) != width:
            fail(f"{path}, row {number}: {len(row)} columns, but row "
                 f"{rows[0][0]} has {width}")
        for column, cell in enumerate(row, start=1):
            where = f"{path}, row {number}, column {column}"
            if not cell.strip():
                fail(f"{where}: the cell is blank")
            if not _is_number(cell):
                fail(f"{where}: {cell.strip()!r} is not a number")
            samples[index, column - 1] = value = float(cell)
            if not math.isfinite(value):
                fail(f"{where}: {cell.strip()} is not a finite number")
    return samples, header


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_npy(path):
    try:
        samples = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as error:
        fail(f"{path}: not a readable .npy file ({error})")
    if samples.ndim == 1:
        samples = samples[:, np.newaxis]    # one feature per row
    if samples.ndim != 2 or samples.size == 0:
        fail(f"{path}: expected a non-empty 2-D array (rows x features); "
             f"got shape {samples.shape}")
    if samples.dtype == bool or not np.issubdtype(samples.dtype, np.number):
        fail(f"{path}: expected numbers; got dtype {samples.dtype}")
    bad = ~np.isfinite(samples)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        fail(f"{path}, row {row} (from 0), column {column}: "
             f"{samples[row, column]} is not a finite number")
    return samples, None


def write_atomically(path, write):
    """write(file) into a temporary file beside path, then rename it."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(handle, "w", newline="") as file:
            write(file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# %% Check the paths before any work, then read
outputs = [path for path in (args.labels_out, args.centroids_out, args.save)
           if path]
if not os.path.isfile(args.data):
    fail(f"{args.data}: no such file")
for path in outputs:
    if os.path.realpath(path) == os.path.realpath(args.data):
        fail(f"{path}: an output may not overwrite the input DATA")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        fail(f"{path}: its folder does not exist")
if len(set(map(os.path.realpath, outputs))) < len(outputs):
    fail("two outputs name the same file")
if args.data.endswith(".npy"):
    samples, header = read_npy(args.data)
else:
    samples, header = read_csv(args.data)
if len(samples) < args.n_clusters:
    fail(f"{args.data}: {len(samples)} rows, fewer than --n-clusters="
         f"{args.n_clusters}")
print(f"{args.data}: {samples.shape[0]} rows, {samples.shape[1]} columns")

# %% k-means, with a progress line when it takes more than a second
import functions as fn  # noqa: E402  (TensorFlow loads after the checks)

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


result = fn.kmeans(samples, args.n_clusters, n_init=args.n_init,
                   max_iter=args.max_iter, seed=cli.centroid_seed(args),
                   progress=progress)

# %% Write the outputs, then the summary
if args.labels_out:
    write_atomically(args.labels_out, lambda file: file.writelines(
        f"{label}\n" for label in result.labels))
if args.centroids_out:
    def write_centroids(file):
        writer = csv.writer(file)
        if header:
            writer.writerow(header)
        writer.writerows(result.centroids.tolist())
    write_atomically(args.centroids_out, write_centroids)
sizes = np.bincount(result.labels, minlength=args.n_clusters)
print(f"{args.n_clusters} clusters of sizes {', '.join(map(str, sizes))}; "
      f"inertia {result.inertia:.6g} after {result.n_iter} iterations "
      f"({result.stop_reason}) in {time.perf_counter() - started:.1f} s")
for path in (args.labels_out, args.centroids_out):
    if path:
        print(f"wrote {path}")
if args.save:
    # Plot at most 20,000 rows: enough to see, quick to draw.
    shown = np.random.default_rng(0).permutation(len(samples))[:20_000]
    figure = fn.plot_clusters(samples[shown], result.centroids,
                              labels=result.labels[shown],
                              title=f"{os.path.basename(args.data)}: "
                                    f"{args.n_clusters} clusters")
    if header and len(header) >= 2:
        figure.axes[0].set(xlabel=header[0], ylabel=header[1])
    cli.show_or_save(figure, args, __file__)
