"""k-means over many files: in one process, split among workers each
reading only its own files, and cluster_file.py over files and workers."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
from sklearn.cluster import KMeans

import kmeans_tf
import workers
from helpers import ROOT, blobs, brute_force_nearest, run_script

SAMPLES = blobs([300, 200, 100], [1, 2, 1], 3, seed=1)
START = SAMPLES[:3]
# Five files of uneven sizes: split among 2 workers, one gets 3, one 2,
# and 340 rows against 260.
SPLITS = [100, 170, 400, 430]


def write_parts(folder, csv_every=2):
    """SAMPLES in five files, every csv_every-th a CSV with a header."""
    paths = []
    for index, part in enumerate(np.split(SAMPLES, SPLITS)):
        if csv_every and index % csv_every == 1:
            path = folder / f"part{index}.csv"
            np.savetxt(path, part, delimiter=",", header="a,b,c",
                       comments="", fmt="%.17g")
        else:
            path = folder / f"part{index}.npy"
            np.save(path, part)
        paths.append(str(path))
    return paths


def sklearn_reference():
    return KMeans(3, init=START, n_init=1, tol=0,
                  algorithm="lloyd").fit(SAMPLES)


def test_many_files_in_one_process_match_scikit_learn(tmp_path):
    reference = sklearn_reference()
    result = kmeans_tf.kmeans_files(write_parts(tmp_path), 3, init=START,
                                    tol=0, batch_size=64)
    np.testing.assert_array_equal(result.labels, reference.labels_)
    np.testing.assert_allclose(result.centroids, reference.cluster_centers_,
                               rtol=1e-9)
    assert result.inertia == pytest.approx(reference.inertia_, rel=1e-9)
    assert result.n_iter == reference.n_iter_


WORKER = """
import json, sys
import numpy as np
import kmeans_tf
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
paths, log, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]

def read(path):                # instrumented: which files this worker reads
    with open(log, "a") as file:
        file.write(path + "\\n")
    return kmeans_tf.shard.read_array(path)

start = np.load(sys.argv[4]) if len(sys.argv) > 4 else "k-means++"
result = kmeans_tf.kmeans_files(paths, 3, init=start, tol=0, seed=5,
                                strategy=strategy, read=read, batch_size=64)
np.savez(out, centroids=result.centroids, labels=result.labels,
         inertia=result.inertia, n_iter=result.n_iter)
"""


def run_two_workers(tmp_path, paths, *extra):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    commands = [[sys.executable, str(script), json.dumps(paths),
                 str(tmp_path / f"read{index}.log"),
                 str(tmp_path / f"out{index}.npz"), *extra]
                for index in range(2)]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT)
    try:
        workers.run(commands, timeout=300)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    return [np.load(tmp_path / f"out{index}.npz") for index in range(2)]


def test_two_workers_read_only_their_files_and_agree(tmp_path):
    paths = write_parts(tmp_path)
    np.save(tmp_path / "start.npy", START)
    outs = run_two_workers(tmp_path, paths, str(tmp_path / "start.npy"))
    reference = sklearn_reference()
    rows = np.split(np.arange(len(SAMPLES)), SPLITS)
    for index, out in enumerate(outs):
        # The single-process centroids, to float rounding, on each worker.
        np.testing.assert_allclose(out["centroids"],
                                   reference.cluster_centers_, rtol=1e-9)
        assert float(out["inertia"]) == pytest.approx(reference.inertia_,
                                                      rel=1e-9)
        assert int(out["n_iter"]) == reference.n_iter_
        # Its labels are those of its own files: 0, 2, 4 or 1, 3.
        mine = np.concatenate(rows[index::2])
        np.testing.assert_array_equal(out["labels"],
                                      reference.labels_[mine])
        read = set((tmp_path / f"read{index}.log").read_text().split())
        assert read == set(paths[index::2])


def test_two_workers_choose_one_start_from_every_share(tmp_path):
    outs = run_two_workers(tmp_path, write_parts(tmp_path, csv_every=0))
    np.testing.assert_array_equal(outs[0]["centroids"], outs[1]["centroids"])
    # A good clustering: each centroid the mean of the samples nearest it.
    labels, _ = brute_force_nearest(SAMPLES, outs[0]["centroids"])
    for cluster in range(3):
        np.testing.assert_allclose(outs[0]["centroids"][cluster],
                                   SAMPLES[labels == cluster].mean(axis=0),
                                   rtol=1e-9)


# %% cluster_file.py over several files, and over workers

def test_cluster_file_over_files_and_workers_labels_each_file(tmp_path):
    paths = write_parts(tmp_path)
    out = tmp_path / "labels"
    out.mkdir()
    for extra in ([], ["--workers", 2]):
        result = run_script("cluster_file.py", str(tmp_path / "part*.*"),
                            "--n-clusters", 3, "--centroid-seed", 4,
                            "--labels-out", out, "--centroids-out",
                            tmp_path / "c.csv", *extra, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        centroids = np.loadtxt(tmp_path / "c.csv", delimiter=",", ndmin=2)
        nearest, _ = brute_force_nearest(SAMPLES, centroids)
        for path, rows in zip(paths, np.split(np.arange(len(SAMPLES)),
                                              SPLITS)):
            name = os.path.splitext(os.path.basename(path))[0]
            labels = np.loadtxt(out / f"{name}.labels.csv", dtype=int,
                                ndmin=1)
            np.testing.assert_array_equal(labels, nearest[rows])


def test_a_killed_worker_ends_the_run_in_one_line_with_nothing_written(
        tmp_path):
    write_parts(tmp_path)
    out = tmp_path / "labels"
    out.mkdir()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "cluster_file.py"),
         str(tmp_path / "part*.*"), "--n-clusters", "3", "--workers", "2",
         "--labels-out", str(out), "--centroids-out",
         str(tmp_path / "c.csv")], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    # Kill a worker as soon as there is one: it takes seconds to load
    # TensorFlow, so it is always mid-run.
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        children = psutil.Process(process.pid).children()
        victim = next((child for child in children
                       if "--worker-folder" in child.cmdline()), None)
        time.sleep(0.05)
    assert victim is not None
    victim.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "was killed by SIGKILL" in lines[0], stderr
    assert list(out.iterdir()) == [] and not (tmp_path / "c.csv").exists()


def test_sigterm_to_the_parent_stops_its_workers_and_cleans_up(tmp_path):
    write_parts(tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "cluster_file.py"),
         str(tmp_path / "part*.*"), "--n-clusters", "3", "--workers", "2",
         "--centroids-out", str(tmp_path / "c.csv")], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    workers_seen = []
    while len(workers_seen) < 2 and time.monotonic() < deadline:
        workers_seen = [child for child in
                        psutil.Process(process.pid).children()
                        if "--worker-folder" in child.cmdline()]
        time.sleep(0.05)
    assert len(workers_seen) == 2
    command = workers_seen[0].cmdline()
    folder = command[command.index("--worker-folder") + 1]
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    gone, alive = psutil.wait_procs(workers_seen, timeout=10)
    assert alive == []
    assert not os.path.exists(folder)
    assert not (tmp_path / "c.csv").exists()


def test_cluster_file_saves_a_model_and_labels_with_it(tmp_path):
    paths = write_parts(tmp_path, csv_every=0)
    fitted = run_script("cluster_file.py", paths[0], "--n-clusters", 3,
                        "--centroid-seed", 0, "--model-out",
                        tmp_path / "model", "--centroids-out",
                        tmp_path / "c.csv")
    assert fitted.returncode == 0, fitted.stderr
    labelled = run_script("cluster_file.py", paths[2], "--model",
                          tmp_path / "model", "--labels-out",
                          tmp_path / "l.csv")
    assert labelled.returncode == 0, labelled.stderr
    centroids = np.loadtxt(tmp_path / "c.csv", delimiter=",")
    expected, _ = brute_force_nearest(np.load(paths[2]), centroids)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "l.csv", dtype=int),
                                  expected)


@pytest.mark.parametrize("arguments, words", [
    (["--n-clusters", "3", "--model", "m"], "not both"),
    ([], "give --n-clusters to fit a model, or --model"),
    (["--model", "m", "--workers", "2"], "takes neither"),
    (["--n-clusters", "3", "--workers", "2", "--n-init", "5"],
     "takes no --n-init"),
    (["--n-clusters", "3", "--labels-out", "x.csv"],
     "must be an existing folder"),
])
def test_cluster_file_bad_combinations_are_one_line(tmp_path, arguments,
                                                    words):
    write_parts(tmp_path)
    result = run_script("cluster_file.py", str(tmp_path / "part*"),
                        *arguments, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_a_pattern_that_matches_nothing_is_named(tmp_path):
    result = run_script("cluster_file.py", str(tmp_path / "none*.npy"),
                        "--n-clusters", 2)
    assert result.returncode == 2
    assert "no file matches this pattern" in result.stderr


def test_a_file_that_cannot_be_read_is_named(tmp_path):
    paths = write_parts(tmp_path, csv_every=0)
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\nx,y,z\n")
    with pytest.raises(ValueError, match="bad.csv"):
        kmeans_tf.kmeans_files([*paths, str(bad)], 3, seed=0)
    with pytest.raises(ValueError, match="missing.npy"):
        kmeans_tf.kmeans_files([str(tmp_path / "missing.npy")], 3, seed=0)


def test_a_file_of_another_width_or_with_nan_is_named(tmp_path):
    paths = write_parts(tmp_path, csv_every=2)
    narrow = tmp_path / "narrow.npy"
    np.save(narrow, SAMPLES[:10, :2])
    with pytest.raises(ValueError, match="narrow.npy: has 2 columns, the "
                       "first file 3"):
        kmeans_tf.kmeans_files([*paths, str(narrow)], 3, seed=0)
    # Row 7 of the second file, a CSV with a header, read in batches of 4.
    holed = np.genfromtxt(paths[1], delimiter=",", skip_header=1)
    holed[7, 2] = np.nan
    np.savetxt(paths[1], holed, delimiter=",", header="a,b,c", comments="")
    with pytest.raises(ValueError, match="part1.csv: samples must be "
                       "finite; row 7 "):
        kmeans_tf.kmeans_files(paths, 3, seed=0, batch_size=4)


def test_a_first_row_with_a_blank_cell_is_data_and_empty_files_add_nothing(
        tmp_path):
    # Taken for a header, the row was dropped, and every label was one off.
    blank = tmp_path / "blank.csv"
    blank.write_text("1,,3\n1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="blank.csv: .*row 0, column 2"):
        kmeans_tf.kmeans_files([str(blank)], 2, seed=0)
    paths = write_parts(tmp_path, csv_every=0)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "names.csv").write_text("a,b,c\n")
    result = kmeans_tf.kmeans_files(
        [str(tmp_path / "empty.csv"), *paths, str(tmp_path / "names.csv")],
        3, init=START, tol=0)
    np.testing.assert_array_equal(result.labels,
                                  sklearn_reference().labels_)


def test_the_file_reader_reads_as_cluster_file_does(tmp_path):
    # One column as a 1-D .npy, an upper-case extension, quoted numbers:
    # the same samples each way, clustered as scikit-learn does them.
    column = SAMPLES[:, :1]
    np.save(tmp_path / "flat.npy", column[:, 0])
    with open(tmp_path / "UPPER.NPY", "wb") as file:
        np.save(file, column)
    (tmp_path / "quoted.csv").write_text(
        '"x"\n' + "".join(f'"{value:.17g}"\n' for value in column[:, 0]))
    reference = KMeans(2, init=column[:2], n_init=1, tol=0,
                       algorithm="lloyd").fit(column)
    for name in ("flat.npy", "UPPER.NPY", "quoted.csv"):
        result = kmeans_tf.kmeans_files([str(tmp_path / name)], 2,
                                        init=column[:2], tol=0)
        np.testing.assert_array_equal(result.labels, reference.labels_)
    for dtype in (complex, bool):
        np.save(tmp_path / "odd.npy", np.ones((4, 2), dtype))
        with pytest.raises(ValueError, match="odd.npy: samples must be "
                           "real numbers"):
            kmeans_tf.kmeans_files([str(tmp_path / "odd.npy")], 2, seed=0)


def test_workers_refuse_files_of_other_widths_and_values_out_of_range(
        tmp_path):
    paths = write_parts(tmp_path, csv_every=0)
    # Worker 1 of 2 reads files 1 and 3, each of them consistent.
    np.save(paths[1], SAMPLES[100:170, :2])
    np.save(paths[3], SAMPLES[400:430, :2])
    result = run_script("cluster_file.py", *paths, "--n-clusters", 3,
                        "--workers", 2)
    assert result.returncode == 2
    assert "different numbers of columns: [2, 3]" in result.stderr
    np.save(paths[3], SAMPLES[400:430])
    np.save(paths[1], SAMPLES[100:170] * 1e39)      # beyond float32
    outputs = [tmp_path / "l", tmp_path / "c.csv", tmp_path / "m"]
    outputs[0].mkdir()
    result = run_script("cluster_file.py", *paths, "--n-clusters", 3,
                        "--labels-out", outputs[0], "--centroids-out",
                        outputs[1], "--model-out", outputs[2])
    assert result.returncode == 2 and "float32" in result.stderr
    assert os.listdir(outputs[0]) == [] and not outputs[1].exists()
    huge = SAMPLES[100:170].copy()
    huge[5, 1] = 5e307                              # beyond the scale's reach
    np.save(paths[1], huge)
    result = run_script("cluster_file.py", *paths, "--n-clusters", 3)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "part1.npy" in lines[0] and "rescale them" in lines[0]


def test_nothing_inside_the_model_folder_and_more_workers_than_files(
        tmp_path):
    paths = write_parts(tmp_path, csv_every=0)
    model = tmp_path / "m"
    first = run_script("cluster_file.py", paths[0], "--n-clusters", 3,
                       "--model-out", model)
    assert first.returncode == 0, first.stderr
    inside = model / "data.npy"
    result = run_script("cluster_file.py", paths[0], "--n-clusters", 3,
                        "--model-out", model, "--centroids-out", inside)
    assert result.returncode == 2 and "inside --model-out" in result.stderr
    two = run_script("cluster_file.py", paths[0], paths[1], "--n-clusters",
                     3, "--workers", 3, "--centroids-out", tmp_path / "c.csv",
                     timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "on 2 workers" in two.stdout
