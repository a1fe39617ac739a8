"""Benchmark: this project's kmeans against scikit-learn, faiss and the lesson.

Times Lloyd's iterations of four k-means implementations on the same data
from the same initial centroids, in one process, taking turns, and prints
the median time per iteration (a whole fit divided by its iterations, so
each library's set-up counts too), the peak extra memory of a run, and the
final inertia of each, which must agree. Then it times runs to convergence,
and the k-means++ start alone, and, in fresh processes, a first fit (its
import, and the compile of its loops or their load from the cache), the
whole-process peak memory of a 10-million-sample run, and how long a lesson
script takes next to TensorFlow's own import.

    python benchmark.py            # all cases, about ten minutes on 2 cores
    python benchmark.py --quick    # small sizes, to try it out
    python benchmark.py --more     # shapes the goals do not name instead
"""
import argparse
import functools
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

# (name, n_samples, n_features, n_clusters, iterations, repeats)
CASES = [
    ("1,000,000 x 2, k=3", 1_000_000, 2, 3, 20, 5),
    ("200,000 x 64, k=64", 200_000, 64, 64, 20, 5),
    ("10,000,000 x 2, k=100", 10_000_000, 2, 100, 3, 2),
]
QUICK_CASES = [("100,000 x 2, k=3", 100_000, 2, 3, 10, 3),
               ("20,000 x 16, k=16", 20_000, 16, 16, 10, 3)]
# Shapes the goals do not name, for --more: other paths of the engine.
MORE_CASES = [("500,000 x 8, k=16", 500_000, 8, 16, 20, 3),
              ("200,000 x 16, k=128", 200_000, 16, 128, 20, 3),
              ("50,000 x 32, k=1000", 50_000, 32, 1000, 10, 3),
              ("2,000,000 x 3, k=20", 2_000_000, 3, 20, 10, 3),
              ("500,000 x 2, k=300", 500_000, 2, 300, 10, 3)]
# Time to convergence: (name, n_samples, n_features, n_clusters, side,
# repeats), on overlapping blobs (see blob_samples), tol=0, max_iter=300,
# the same start.
CONVERGENCE_CASES = [("200,000 x 64, k=64", 200_000, 64, 64, 4, 3),
                     ("100,000 x 16, k=256", 100_000, 16, 256, 6, 3)]
QUICK_CONVERGENCE_CASES = [("20,000 x 16, k=32", 20_000, 16, 32, 4, 2)]
MORE_CONVERGENCE_CASES = [("200,000 x 32, k=64", 200_000, 32, 64, 4, 3),
                          ("50,000 x 32, k=1000", 50_000, 32, 1000, 8, 2),
                          ("500,000 x 8, k=32", 500_000, 8, 32, 4, 3)]
# The k-means++ start alone: (name, n_samples, n_features, n_clusters,
# repeats), scikit-learn's kmeans_plusplus against this project's (faiss
# starts at random).
START_CASES = [("1,000,000 x 2, k=100", 1_000_000, 2, 100, 3),
               ("200,000 x 64, k=64", 200_000, 64, 64, 3),
               ("100,000 x 16, k=256", 100_000, 16, 256, 3),
               ("10,000,000 x 2, k=100", 10_000_000, 2, 100, 1)]
QUICK_START_CASES = [("100,000 x 4, k=20", 100_000, 4, 20, 2)]
# A first fit in a new process: (name, n_samples, n_features, n_clusters,
# side), on blobs as above, each library's defaults (k-means++ start).
FIRST_FIT_CASES = [("1,000,000 x 2, k=3", 1_000_000, 2, 3, 4),
                   ("200,000 x 64, k=64", 200_000, 64, 64, 4),
                   ("100,000 x 16, k=256", 100_000, 16, 256, 6)]
QUICK_FIRST_FIT_CASES = [("100,000 x 4, k=20", 100_000, 4, 20, 4)]
# The lesson's broadcast holds n x k x d floats twice over; skip it above.
LESSON_MAX_BYTES = 8 * 2**30
MEMORY_CASE = (10_000_000, 2, 100, 3)


# %% The implementations: each runs `iterations` Lloyd steps from `init`
# and returns the final centroids and the iterations it ran.

def run_ours(samples, init, iterations, algorithm="auto"):
    import warnings
    import functions as fn
    with warnings.catch_warnings():    # max_iter stops it on purpose
        warnings.simplefilter("ignore", fn.kmeans_tf.ConvergenceWarning)
        result = fn.kmeans(samples, len(init), init=init,
                           max_iter=iterations, tol=0, algorithm=algorithm)
    return result.centroids, result.n_iter


def run_ours_lloyd(samples, init, iterations):
    """Ours with algorithm="lloyd": on data with no clusters, such as the
    per-iteration cases' normal samples, "auto"'s bounds prove little."""
    return run_ours(samples, init, iterations, algorithm="lloyd")


def run_sklearn(samples, init, iterations, algorithm="lloyd"):
    from sklearn.cluster import KMeans
    model = KMeans(len(init), init=init, n_init=1, max_iter=iterations,
                   tol=0, algorithm=algorithm).fit(samples)
    return model.cluster_centers_, model.n_iter_


def run_elkan(samples, init, iterations):
    return run_sklearn(samples, init, iterations, algorithm="elkan")


def run_faiss(samples, init, iterations):
    import faiss
    n, d = samples.shape
    # Use every sample (faiss subsamples to 256 per centroid by default).
    model = faiss.Kmeans(d, len(init), niter=iterations,
                         max_points_per_centroid=n, min_points_per_centroid=1)
    model.train(samples, init_centroids=init)
    return model.centroids, iterations


def run_lesson(samples, init, iterations):
    """The original tutorial's formulation, in TF2 but otherwise as taught."""
    import tensorflow as tf

    step = lesson_step(len(init))
    samples = tf.constant(samples)
    centroids = tf.constant(init)
    for _ in range(iterations):
        centroids = step(samples, centroids)
    return centroids.numpy(), iterations


@functools.lru_cache()
def lesson_step(n_clusters):
    """One compiled lesson step per n_clusters, traced once, as a TF1 graph
    was built once."""
    import functions  # noqa: F401  (TensorFlow, imported quietly)
    import tensorflow as tf

    @tf.function
    def step(samples, centroids):
        # (k, n, d) differences by broadcasting, then a partition per cluster.
        differences = samples[tf.newaxis] - centroids[:, tf.newaxis]
        nearest = tf.argmin(tf.reduce_sum(differences ** 2, 2), 0,
                            output_type=tf.int32)
        parts = tf.dynamic_partition(samples, nearest, n_clusters)
        return tf.stack([tf.reduce_mean(part, 0) for part in parts])

    return step


IMPLEMENTATIONS = {"this project": run_ours,
                   "this project, lloyd": run_ours_lloyd,
                   "scikit-learn": run_sklearn,
                   "scikit-learn elkan": run_elkan, "faiss": run_faiss,
                   "lesson (broadcast)": run_lesson}


# %% Measuring

def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_of(run, *args):
    """Peak extra RSS (bytes) while run(*args) runs, polled every 2 ms by
    a thread, and its result."""
    start_rss, peak = rss_bytes(), [0]
    done = threading.Event()

    def watch():
        while not done.wait(0.002):
            peak[0] = max(peak[0], rss_bytes())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run(*args)
    finally:
        done.set()
        watcher.join()
    return max(peak[0], rss_bytes()) - start_rss, result


def taking_turns(runners, repeat):
    """The (label, run) pairs of round `repeat`, each round starting one
    further along, so that a slow spell of the machine does not fall on
    one implementation alone."""
    pairs = list(runners.items())
    turn = repeat % len(pairs)
    return pairs[turn:] + pairs[:turn]


def timed_after_itself(run, *args):
    """Seconds, peak extra RSS (bytes) and the result of run(*args), timed
    after an untimed run of the same implementation, which gives the peak
    (`peak_of`).

    faiss's and scikit-learn's OpenMP threads keep spinning for a while
    after they return, and take a core from whatever runs next, which the
    rotation of `taking_turns` does not spread: each implementation still
    follows the same other. Measured (2 cores, 100,000 x 16, k=256 to
    convergence): faiss 300-367 ms right after scikit-learn's elkan,
    284-291 after itself; this project 208-254 right after faiss, 201-212
    after itself. And the timed run is not watched: the watcher, waking
    every 2 ms, slowed the runs it watched (same case, medians of 12):
    this project 191 ms against 183, faiss 294 against 289.
    """
    peak, _ = peak_of(run, *args)
    start = time.perf_counter()
    result = run(*args)
    return time.perf_counter() - start, peak, result


def inertia(samples, centroids):
    """Inertia of the nearest-centroid assignment, in float64 NumPy."""
    centroids = np.asarray(centroids, np.float64)
    total = 0.0
    for start in range(0, len(samples), 100_000):
        x = samples[start:start + 100_000].astype(np.float64)
        distances = ((x ** 2).sum(1)[:, None] - 2 * x @ centroids.T
                     + (centroids ** 2).sum(1))
        total += np.maximum(distances.min(axis=1), 0).sum()
    return total


def benchmark_case(name, n, d, k, iterations, repeats):
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((n, d), dtype=np.float32)
    init = samples[rng.choice(n, k, replace=False)]
    runners = dict(IMPLEMENTATIONS)
    if 2 * n * k * d * 4 > LESSON_MAX_BYTES:
        print(f"  lesson (broadcast): skipped, it would need "
              f"{2 * n * k * d * 4 / 2**30:.0f} GB", flush=True)
        del runners["lesson (broadcast)"]
    times = {label: [] for label in runners}
    finals = {}
    for label, run in runners.items():     # warm up: load, trace, compile
        run(samples, init, 1)
    peaks = {label: 0 for label in runners}
    for repeat in range(repeats):
        for label, run in taking_turns(runners, repeat):
            if label.startswith("lesson") and repeat > 0:
                continue                    # slow; one run is enough
            seconds, peak, (centroids, n_iter) = timed_after_itself(
                run, samples, init, iterations)
            times[label].append(seconds / n_iter)
            peaks[label] = max(peaks[label], peak)
            finals[label] = centroids
        print(f"  {name}: round {repeat + 1}/{repeats} done", flush=True)
    # The inertia is checked after the timed runs, not between them: NumPy's
    # BLAS threads keep spinning for a while after its matrix products, and
    # took a core from the run timed next (measured: 1,000,000 x 2, k=3, a
    # run of 20 iterations after `inertia` 84 ms, against 56 alone).
    finals = {label: inertia(samples, centroids)
              for label, centroids in finals.items()}
    reference = np.median(times["scikit-learn"])
    return [(name, label, np.median(times[label]) * 1e3,
             np.median(times[label]) / reference, peaks[label] / 2**20,
             finals[label]) for label in runners]


def blob_samples(n, d, k, side, seed=0):
    """n float32 samples in k round blobs of spread 1, centres uniform in a
    cube of the given side: close enough that the blobs overlap and
    k-means takes tens of iterations, as on real data."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-side / 2, side / 2, (k, d))
    samples = centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))
    return samples.astype(np.float32)


def convergence_case(name, n, d, k, side, repeats):
    """Seconds to convergence (tol=0, at most 300 iterations) from the same
    k-means++ start, and how many labels differ from scikit-learn Lloyd's.
    faiss has no stopping rule: it runs Lloyd's iteration count."""
    from sklearn.cluster import KMeans, kmeans_plusplus
    samples = blob_samples(n, d, k, side)
    init, _ = kmeans_plusplus(samples, k, random_state=0)
    lloyd = KMeans(k, init=init, n_init=1, max_iter=300, tol=0,
                   algorithm="lloyd").fit(samples)
    runners = {label: IMPLEMENTATIONS[label] for label in
               ("this project", "scikit-learn", "scikit-learn elkan",
                "faiss")}
    # Warm up with whole runs: "auto" reaches its bounds only after a few
    # iterations, and each path compiles once.
    for label, run in runners.items():
        run(samples, init, lloyd.n_iter_ if label == "faiss" else 300)
    times = {label: [] for label in runners}
    for repeat in range(repeats):
        for label, run in taking_turns(runners, repeat):
            iterations = lloyd.n_iter_ if label == "faiss" else 300
            seconds, _, (centroids, n_iter) = timed_after_itself(
                run, samples, init, iterations)
            times[label].append(seconds)
    fastest_peer = min(np.median(times[label]) for label in runners
                       if label != "this project")
    rows = []
    for label, run in runners.items():
        iterations = lloyd.n_iter_ if label == "faiss" else 300
        centroids, n_iter = run(samples, init, iterations)
        labels = brute_nearest(samples, centroids)
        rows.append((name, label, np.median(times[label]) * 1e3, n_iter,
                     np.median(times[label]) / fastest_peer,
                     int((labels != lloyd.labels_).sum())))
    print(f"  {name}: done", flush=True)
    return rows


def start_case(name, n, d, k, repeats):
    """Seconds to choose k starting centroids by k-means++ on normal
    samples, this project's and scikit-learn's, and the inertia of each
    start (the mean over the repeats: the seeds differ, so the starts do).
    Each is run once untimed first: this project compiles there."""
    from sklearn.cluster import kmeans_plusplus
    import functions as fn
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((n, d), dtype=np.float32)
    runners = {
        "this project": lambda seed: fn.kmeans_tf.
        choose_kmeans_plus_plus_centroids(samples, k, seed=seed).numpy(),
        "scikit-learn": lambda seed: kmeans_plusplus(
            samples, k, random_state=seed)[0]}
    times = {label: [] for label in runners}
    inertias = {label: [] for label in runners}
    for label, run in runners.items():
        run(repeats)                            # warm up, a seed not timed
    for repeat in range(repeats):
        for label, run in taking_turns(runners, repeat):
            start = time.perf_counter()
            centroids = run(repeat)
            times[label].append(time.perf_counter() - start)
            inertias[label].append(inertia(samples, centroids))
    print(f"  {name}: done", flush=True)
    reference = np.median(times["scikit-learn"])
    return [(name, label, np.median(times[label]) * 1e3,
             np.median(times[label]) / reference, np.mean(inertias[label]))
            for label in runners]


FIRST_FIT = """
import sys, time
from benchmark import blob_samples
samples = blob_samples({n}, {d}, {k}, {side})
start = time.perf_counter()
if {ours}:
    import kmeans_tf
    imported = time.perf_counter()
    n_iter = kmeans_tf.kmeans(samples, {k}, seed=0).n_iter
else:
    from sklearn.cluster import KMeans
    imported = time.perf_counter()
    n_iter = KMeans({k}, n_init=1, random_state=0).fit(samples).n_iter_
print(imported - start, time.perf_counter() - imported, n_iter)
"""


def first_fit_case(name, n, d, k, side):
    """Seconds to import the library and make one fit, with its defaults,
    in a new process: this project compiling its loops (an empty cache of
    XLA's programs), this project loading them (the same cache, a second
    process), and scikit-learn."""
    here = os.path.dirname(os.path.abspath(__file__))
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, KMEANS_TF_CACHE_DIR=cache)
        for label, ours in (("this project, compiling", True),
                            ("this project, from the cache", True),
                            ("scikit-learn", False)):
            code = FIRST_FIT.format(n=n, d=d, k=k, side=side, ours=ours)
            out = subprocess.run([sys.executable, "-c", code], cwd=here,
                                 env=env, check=True, capture_output=True,
                                 text=True).stdout.split()
            importing, fitting, n_iter = float(out[0]), float(out[1]), out[2]
            rows.append((name, label, importing, fitting,
                         importing + fitting, n_iter))
    print(f"  {name}: done", flush=True)
    return rows


def brute_nearest(samples, centroids):
    """Each sample's nearest centroid, in float64 NumPy, by chunks."""
    centroids = np.asarray(centroids, np.float64)
    return np.concatenate([
        ((x[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
        for x in np.array_split(samples.astype(np.float64),
                                max(1, len(samples) // 2000))])


def whole_process_peak(code):
    """Peak RSS (MB) of a fresh Python process running `code`.

    Read from VmHWM, the high-water mark of this process's own memory
    (ru_maxrss would carry over the parent's peak through fork and exec).
    """
    here = os.path.dirname(os.path.abspath(__file__))
    probe = (code + "\nprint([int(line.split()[1]) / 1024 for line in "
             "open('/proc/self/status') if line.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=here, check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def seconds_of(command, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True,
                       cwd=os.path.dirname(os.path.abspath(__file__)))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def print_table(headings, formats, rows):
    """A Markdown table, as the README shows it: two text columns, then
    numbers aligned right."""
    print("\n| " + " | ".join(headings) + " |")
    print("|---|---|" + "---:|" * (len(headings) - 2))
    for row in rows:
        print("| " + " | ".join(form.format(value) for form, value in
                                 zip(formats, row)) + " |")


def run_table(title, cases, run, headings, formats):
    """Run each case, saying which, and print their rows as one table."""
    rows = []
    for case in cases:
        print(f"{title} {case[0]}:", flush=True)
        rows += run(*case)
    print_table(headings, formats, rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.
                                     RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes only, and skip the 10M probe")
    parser.add_argument("--more", action="store_true",
                        help="other shapes instead of the named ones, "
                        "and skip the 10M probe")
    parser.add_argument("--convergence-only", action="store_true",
                        help="only the time-to-convergence table")
    parser.add_argument("--case", default="", metavar="TEXT",
                        help="only the cases whose name contains TEXT, "
                        "e.g. --case 'k=100'")
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(f"machine: {os.cpu_count()} cores, {cpu}, "
          f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f}"
          f" GB, Python {platform.python_version()}", flush=True)

    rows = []
    def chosen(cases):
        return [case for case in cases if args.case in case[0]]

    cases = (QUICK_CASES if args.quick else MORE_CASES if args.more
             else CASES)
    for case in chosen([] if args.convergence_only else cases):
        print(f"case {case[0]}, {case[4]} iterations:", flush=True)
        rows += benchmark_case(*case)
    print_table(["case", "implementation", "ms / iteration",
                 "vs scikit-learn", "peak extra MB", "final inertia"],
                ["{}", "{}", "{:.1f}", "{:.2f}", "{:.0f}", "{:.7g}"], rows)

    run_table("convergence", chosen(
        QUICK_CONVERGENCE_CASES if args.quick else MORE_CONVERGENCE_CASES
        if args.more else CONVERGENCE_CASES), convergence_case,
        ["case (blobs, to convergence)", "implementation", "ms",
         "iterations", "vs fastest peer", "labels unlike Lloyd's"],
        ["{}", "{}", "{:.0f}", "{}", "{:.2f}", "{}"])
    if args.convergence_only or args.more:
        return
    run_table("k-means++ start", chosen(
        QUICK_START_CASES if args.quick else START_CASES), start_case,
        ["case (k-means++ start)", "implementation", "ms",
         "vs scikit-learn", "mean inertia of the start"],
        ["{}", "{}", "{:.0f}", "{:.2f}", "{:.7g}"])
    run_table("first fit in a new process", chosen(
        QUICK_FIRST_FIT_CASES if args.quick else FIRST_FIT_CASES),
        first_fit_case,
        ["case (a new process)", "implementation", "import s",
         "first fit s", "total s", "iterations"],
        ["{}", "{}", "{:.1f}", "{:.1f}", "{:.1f}", "{}"])
    if args.case:
        return
    if not args.quick:
        n, d, k, iterations = MEMORY_CASE
        tensorflow_alone = whole_process_peak("import functions")
        whole = whole_process_peak(
            "import numpy as np, functions as fn\n"
            f"x = np.random.default_rng(0).standard_normal(({n}, {d}), "
            "dtype=np.float32)\n"
            f"fn.kmeans(x, {k}, init=x[:{k}], max_iter={iterations})")
        print(f"\nwhole-process peak RSS, {n:,} x {d} float32, k={k}, "
              f"{iterations} iterations: {whole:.0f} MB "
              f"(TensorFlow imported alone: {tensorflow_alone:.0f} MB)")
    with tempfile.TemporaryDirectory() as folder:
        lesson = seconds_of([sys.executable, "iterate.py", "--centroid-seed",
                             "1", "--save", os.path.join(folder, "i.png")])
    importing = seconds_of([sys.executable, "-c", "import tensorflow"])
    print(f"iterate.py at the lesson's size: {lesson:.1f} s; "
          f"`import tensorflow` alone: {importing:.1f} s")


if __name__ == "__main__":
    main()
