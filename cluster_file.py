"""Lesson 9: cluster your own data, k-means on a CSV or .npy file.

Reads DATA (a CSV of numbers with an optional header row, or a NumPy .npy
file; one sample per row), runs k-means++ k-means, writes one label per
input row in input order, and the centroids, and prints the cluster sizes
and the inertia. A problem with any file is one line naming it (and the
row and column) and exit status 2, found before TensorFlow loads where it
can be; outputs are written all together, whole, or not at all.

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
import io  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import outputs  # noqa: E402

fail = cli.fail    # one line on stderr, exit status 2, no traceback


# %% Reading: every problem named by file, row and column

def check_input(path):
    """Stop unless path is a regular file with something in it."""
    try:
        what = outputs.kind(path)
    except OSError as error:
        fail(f"{path}: {error.strerror}")
    if what is None:
        fail(f"{path}: no such file")
    if what != "a file":
        fail(f"{path}: {what}, not a file")
    if os.path.getsize(path) == 0:
        fail(f"{path}: the file is empty")


def read_csv(path):
    """(samples, header or None). Rows are the file's lines, from 1; a blank
    line is skipped, but a row of empty cells (only commas) is an error."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader
                if "".join(row).strip() or len(row) > 1]
    except csv.Error as error:
        fail(f"{path}, row {reader.line_num}: {error}")
    if not rows:
        fail(f"{path}: the file is empty")
    # A header names the columns: no cell a number, not every cell empty.
    # It counts in the width every data row must have.
    first, width = rows[0][0], len(rows[0][1])
    header = None
    if "".join(rows[0][1]).strip() and not any(map(_is_number, rows[0][1])):
        header, rows = rows[0][1], rows[1:]
        if not rows:
            fail(f"{path}: a header row but no data rows")
    samples = np.empty((len(rows), width))
    for index, (number, row) in enumerate(rows):
        if len(row) != width:
            fail(f"{path}, row {number}: {len(row)} columns, but row "
                 f"{first} has {width}")
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


def read_text(path):
    """The file's text: UTF-8 with any byte-order mark dropped (it is
    neither data nor header); a binary file is refused."""
    with open(path, "rb") as file:
        data = file.read()
    nul = data.find(b"\0")
    if nul >= 0:
        fail(f"{path}, row {_row_of(data, nul)}: a NUL byte; this is a "
             f"binary file, not a CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        fail(f"{path}, row {_row_of(data, error.start)}: byte "
             f"{data[error.start]:#04x} is not UTF-8 text; save the file "
             f"as UTF-8 CSV")


def _row_of(data, offset):
    return data.count(b"\n", 0, offset) + 1


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_npy(path):
    """(samples, None): the file's 2-D array of real numbers, memory-mapped."""
    try:
        samples = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError) as error:
        fail(f"{path}: not a whole, readable .npy file "
             f"({outputs.reason(error)})")
    if not isinstance(samples, np.ndarray):
        fail(f"{path}: a .npz archive of arrays, not one .npy array")
    if samples.ndim == 1:
        samples = samples[:, np.newaxis]    # one feature per row
    if samples.ndim != 2 or samples.size == 0:
        fail(f"{path}: expected a non-empty 2-D array (rows x features); "
             f"got shape {samples.shape}")
    if samples.dtype.kind not in "iuf":     # not bool, complex, text, dates
        fail(f"{path}: expected real numbers; got dtype {samples.dtype}")
    bad = ~np.isfinite(samples)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        fail(f"{path}, row {row} (from 0), column {column}: "
             f"{samples[row, column]} is not a finite number")
    return samples, None


# %% Check every file before any work, then read
check_input(args.data)
cli.check_outputs([path for path in (args.labels_out, args.centroids_out,
                                     args.save) if path], inputs=[args.data])
try:
    if args.data.lower().endswith(".npy"):
        samples, header = read_npy(args.data)
    else:
        samples, header = read_csv(args.data)
except OSError as error:
    fail(f"{args.data}: cannot read it ({error.strerror})")
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

# %% Write every output, or none: the labels, the centroids, the plot
def write_labels(path):
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(f"{label}\n" for label in result.labels)


def write_centroids(path):
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        if header:
            writer.writerow(header)
        writer.writerows(result.centroids.tolist())


writers = {}
if args.labels_out:
    writers[args.labels_out] = write_labels
if args.centroids_out:
    writers[args.centroids_out] = write_centroids
if args.save:
    # Plot (the first two columns) at most 20,000 rows: enough to see,
    # quick to draw.
    shown = np.random.default_rng(0).permutation(len(samples))[:20_000]
    figure = fn.plot_clusters(samples[shown], result.centroids,
                              labels=result.labels[shown],
                              title=f"{os.path.basename(args.data)}: "
                                    f"{args.n_clusters} clusters")
    if header and len(header) >= 2:
        figure.axes[0].set(xlabel=header[0], ylabel=header[1])
    writers[args.save] = cli.picture_writer(figure)
cli.save_outputs(writers)
sizes = np.bincount(result.labels, minlength=args.n_clusters)
print(f"{args.n_clusters} clusters of sizes {', '.join(map(str, sizes))}; "
      f"inertia {result.inertia:.6g} after {result.n_iter} iterations "
      f"({result.stop_reason}) in {time.perf_counter() - started:.1f} s")
for path in writers:
    print(f"wrote {path}")
