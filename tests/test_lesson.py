"""The lesson functions against NumPy brute force, and the lesson scripts."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import functions as fn
from helpers import (ROOT, assert_real_image, brute_force_nearest,
                     group_means, run_script)

LESSON_SCRIPTS = ["generate_samples.py", "initialise.py", "update_step.py",
                  "iterate.py"]


# %% create_samples

def test_create_samples_shapes_dtypes_and_ranges():
    centroids, samples = fn.create_samples(4, 300, 3, 70, seed=1)
    assert centroids.shape == (4, 3) and samples.shape == (1200, 3)
    assert centroids.dtype == samples.dtype == tf.float32
    centroids, samples = centroids.numpy(), samples.numpy()
    assert (centroids >= -35).all() and (centroids < 35).all()
    # Blob j is rows 300j..300j+299, spread with stddev 5 around centroid j.
    blob_samples = samples.reshape(4, 300, 3)
    np.testing.assert_allclose(blob_samples.mean(axis=1), centroids, atol=1.0)
    np.testing.assert_allclose(blob_samples.std(axis=1), 5.0, rtol=0.15)


def test_create_samples_same_seed_same_values_across_processes():
    here = fn.create_samples(3, 500, 2, 70, seed=700)[1].numpy()
    code = ("import functions as fn; import numpy as np, sys; "
            "np.save(sys.stdout.buffer, fn.create_samples(3, 500, 2, 70, "
            "700)[1].numpy())")
    import io
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         capture_output=True, check=True).stdout
    np.testing.assert_array_equal(here, np.load(io.BytesIO(out)))
    other = fn.create_samples(3, 500, 2, 70, seed=701)[1].numpy()
    assert not np.allclose(here, other)


# %% choose_random_centroids

def test_random_centroids_are_distinct_samples():
    samples = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    chosen = fn.choose_random_centroids(samples, 7, seed=3).numpy()
    assert chosen.shape == (7, 2) and chosen.dtype == np.float32
    rows = [np.flatnonzero((samples == c).all(axis=1)) for c in chosen]
    assert all(len(r) == 1 for r in rows)
    assert len({int(r[0]) for r in rows}) == 7


def test_random_centroids_seeded_repeat_unseeded_vary():
    samples = np.arange(2000, dtype=np.float32).reshape(1000, 2)
    a = fn.choose_random_centroids(samples, 3, seed=5).numpy()
    b = fn.choose_random_centroids(samples, 3, seed=5).numpy()
    np.testing.assert_array_equal(a, b)
    draws = {fn.choose_random_centroids(samples, 3).numpy().tobytes()
             for _ in range(5)}
    assert len(draws) > 1


def test_random_centroids_are_uniform_over_samples():
    # Each of 10 samples should be picked about 3/10 of the time.
    samples = np.arange(10, dtype=np.float32)[:, None]
    counts = np.zeros(10)
    for seed in range(600):
        chosen = fn.choose_random_centroids(samples, 3, seed=seed).numpy()
        counts[chosen[:, 0].astype(int)] += 1
    np.testing.assert_allclose(counts / 600, 0.3, atol=0.08)


def test_next_seeds_draw_unrelated_starts_and_blobs():
    # A stream shared by every seed, seed + 1 a few numbers along it (as
    # tf.random.Generator.from_seed makes), would pick the sample 4 rows
    # before the last seed's, nearly every time; independent draws, about
    # 1 in 1,000. The engine's random start (run i of n_init takes seed + i)
    # and the lesson's must both draw anew.
    samples = np.arange(1000, dtype=np.float32)[:, None]
    lesson = [int(fn.choose_random_centroids(samples, 1, seed=s)[0, 0])
              for s in range(100)]
    engine = [int(fn.kmeans(samples, 1, init="random", seed=s,
                            max_iter=0).centroids[0, 0]) for s in range(100)]
    assert lesson == engine
    steps = np.diff(lesson)
    assert np.mean(np.abs(steps) <= 8) < 0.1
    # Nor do the next seed's blobs repeat any of the last seed's centres.
    for seed in (700, 701, 702):
        these = fn.create_samples(3, 10, 2, 70, seed)[0].numpy()
        those = fn.create_samples(3, 10, 2, 70, seed + 1)[0].numpy()
        assert not np.isin(these, those).any()


# %% assign_to_nearest

@pytest.mark.parametrize("n, k, d, offset", [
    (1500, 3, 2, 0.0), (1001, 7, 5, 0.0), (10, 10, 1, 0.0),
    (3000, 16, 64, 0.0), (2000, 4, 3, 1e4)])
def test_assign_matches_brute_force(n, k, d, offset):
    rng = np.random.default_rng(n + k + d)
    samples = (rng.normal(size=(n, d)) * 10 + offset).astype(np.float32)
    centroids = samples[rng.choice(n, k, replace=False)] + rng.normal(
        size=(k, d)).astype(np.float32)
    labels = fn.assign_to_nearest(samples, centroids)
    assert labels.dtype == tf.int32 and labels.shape == (n,)
    expected, distances = brute_force_nearest(samples, centroids)
    # Exact ties in float32 aside, the labels must agree; where they differ
    # the two centroids must be equally near.
    labels = labels.numpy()
    differ = labels != expected
    chosen = ((samples[differ] - centroids[labels[differ]]) ** 2).sum(1)
    np.testing.assert_allclose(chosen, distances[differ], rtol=1e-5)
    assert differ.mean() < 0.001


# %% update_centroids

def test_update_matches_group_means():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(500, 4))
    labels = rng.integers(0, 6, 500)
    updated = fn.update_centroids(samples, labels, 6).numpy()
    np.testing.assert_allclose(updated, group_means(samples, labels, 6),
                               rtol=1e-12)


def test_update_empty_group_keeps_previous_or_stays_finite():
    samples = np.array([[0.0, 0.0], [1.0, 1.0], [10.0, 10.0]], np.float32)
    labels = np.array([0, 0, 2])
    previous = np.array([[5, 5], [7, -7], [9, 9]], np.float32)
    kept = fn.update_centroids(samples, labels, 3,
                               previous_centroids=previous).numpy()
    np.testing.assert_allclose(kept, [[0.5, 0.5], [7, -7], [10, 10]])
    # Without previous centroids an empty cluster is an error, never NaN.
    with pytest.raises(ValueError, match=r"clusters \[1\] have no samples"):
        fn.update_centroids(samples, labels, 3)


# %% The lesson scripts, headless, as a learner runs them

@pytest.mark.parametrize("script", LESSON_SCRIPTS)
def test_script_saves_a_real_picture_quietly(script, tmp_path):
    out = tmp_path / "plot.png"
    result = run_script(script, "--centroid-seed", 3, "--save", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""    # no TensorFlow start-up lines
    assert f"saved the figure to {out}" in result.stdout
    assert_real_image(out)


def test_script_without_display_saves_next_to_where_it_runs(tmp_path):
    result = run_script("initialise.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "centroid seed: " in result.stdout   # so the run can be repeated
    assert_real_image(tmp_path / "initialise.png")


def test_centroid_seed_repeats_a_run(tmp_path):
    runs = [run_script("initialise.py", "--centroid-seed", 11, "--save",
                       tmp_path / "a.png").stdout for _ in range(2)]
    assert runs[0] == runs[1]


def _table(stdout):
    """The numeric rows of a lesson's step table, as lists of strings."""
    return [line.split() for line in stdout.splitlines()
            if line.split() and line.split()[0].isdigit()]


def test_iterate_prints_the_inertia_of_each_steps_centroids(tmp_path):
    result = run_script("iterate.py", "--iterations", 6, "--centroid-seed",
                        2, "--save", tmp_path / "p.png")
    rows = _table(result.stdout)
    assert [int(row[0]) for row in rows] == [0, 1, 2, 3, 4, 5, 6]
    # The same steps by NumPy: inertia of the centroids after each step,
    # to their nearest samples (scikit-learn's inertia_).
    samples = fn.create_samples(3, 500, 2, 70.0, 700)[1].numpy()
    centroids = fn.choose_random_centroids(samples, 3, seed=2).numpy()
    previous = None
    for row in rows:
        labels, distances = brute_force_nearest(samples, centroids)
        assert float(row[1]) == pytest.approx(distances.sum(), abs=0.06)
        if previous is not None:            # how far this step moved them
            assert float(row[2]) == pytest.approx(
                ((centroids - previous) ** 2).sum(), abs=2e-3)
        previous, centroids = centroids, group_means(samples, labels, 3)


def test_update_step_moved_is_iterates_first_moved(tmp_path):
    result = run_script("update_step.py", "--centroid-seed", 2, "--save",
                        tmp_path / "u.png")
    # One step by NumPy, from the same start.
    samples = fn.create_samples(3, 500, 2, 70.0, 700)[1].numpy()
    start = fn.choose_random_centroids(samples, 3, seed=2).numpy()
    labels = brute_force_nearest(samples, start)[0]
    steps = np.linalg.norm(group_means(samples, labels, 3) - start, axis=1)
    rows = _table(result.stdout)
    assert [int(row[1]) for row in rows] == np.bincount(labels).tolist()
    np.testing.assert_allclose([float(row[2]) for row in rows], steps,
                               atol=0.006)
    moved = result.stdout.split("moved (squared, summed): ")[1].split()[0]
    assert float(moved) == pytest.approx((steps ** 2).sum(), abs=2e-3)


@pytest.mark.parametrize("script", LESSON_SCRIPTS)
def test_help_explains_every_flag(script):
    result = run_script(script, "--help")
    assert result.returncode == 0
    for flag in ["--n-clusters", "--n-samples-per-cluster", "--n-features",
                 "--embiggen-factor", "--seed", "--centroid-seed", "--save"]:
        assert flag in result.stdout


def test_help_does_not_load_tensorflow():
    code = ("import sys, runpy; sys.argv = ['iterate.py', '--help']\n"
            "try: runpy.run_path('iterate.py', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                   capture_output=True)


@pytest.mark.parametrize("script, flag, value", [
    ("iterate.py", "--n-clusters", "0"),
    ("iterate.py", "--iterations", "-3"),
    ("iterate.py", "--centroid-seed", "-1"),
    ("initialise.py", "--seed", "2.5"),
    ("generate_samples.py", "--embiggen-factor", "nan"),
    ("generate_samples.py", "--embiggen-factor", "1e300"),
    ("generate_samples.py", "--n-samples-per-cluster", "100000000"),
    ("converge.py", "--max-iter", "-1"),
    ("converge.py", "--tol", "-0.5"),
    ("converge.py", "--n-starts", "0"),
    ("choose_k.py", "--max-k", "1"),
    ("choose_k.py", "--silhouette-samples", "1"),
    ("animate.py", "--interval", "0"),
    ("animate.py", "--save", "frames.svg"),     # an animation is a .gif
    ("quantize.py", "--n-colors", "0"),
    ("distributed.py", "--workers", "0"),
    ("cluster_file.py", "--n-init", "0"),
])
def test_bad_flag_value_is_one_line_naming_the_flag(script, flag, value):
    args = ["docs/example_data.csv", "--n-clusters", "2"] \
        if script == "cluster_file.py" else []
    result = run_script(script, *args, flag, value)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: error:") and flag in last
    assert "Traceback" not in result.stderr


def test_unwritable_save_path_is_refused_before_any_work(tmp_path):
    result = run_script("iterate.py", "--save", tmp_path / "nope" / "x.png")
    assert result.returncode == 2
    assert "the folder" in result.stderr and "does not exist" in \
        result.stderr
    result = run_script("iterate.py", "--save", tmp_path / "x.txt")
    assert result.returncode == 2 and "unknown picture type 'txt'" in \
        result.stderr
    result = run_script("iterate.py", "--save", "")
    assert result.returncode == 2 and "--save needs a file name" in \
        result.stderr and "inertia" not in result.stdout
