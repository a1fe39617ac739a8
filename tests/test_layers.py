"""The two layers: the lesson's functions and the engine agree; the engine
installs as a package of its own and never imports the lessons."""
import ast
import shutil
import subprocess
import sys

import numpy as np
import pytest

import functions as fn
import kmeans_tf
from helpers import ROOT, brute_force_nearest, group_means
from kmeans_tf import checks, init

# The lesson's data: 3 blobs of 500 samples in 2 features, spread 70, seed 700.
SAMPLES = fn.create_samples(3, 500, 2, 70.0, 700)[1].numpy()


@pytest.mark.parametrize("centroid_seed", [1, 5, 42])
def test_lesson_and_engine_agree_step_by_step(centroid_seed):
    # Two independent codes: the lesson's broadcast and segment sums, and
    # the engine's chunked, centred, compiled loop. Same start, 10 steps.
    start = fn.choose_random_centroids(SAMPLES, 3, seed=centroid_seed)
    centroids = start
    for step in range(1, 11):
        previous = centroids
        labels = fn.assign_to_nearest(SAMPLES, centroids).numpy()
        np.testing.assert_array_equal(
            labels, kmeans_tf.assign_labels(SAMPLES, centroids))
        centroids = fn.update_centroids(SAMPLES, labels, 3,
                                        previous_centroids=centroids)
        engine = kmeans_tf.kmeans(SAMPLES, 3, init=start, max_iter=step,
                                  tol=0)
        np.testing.assert_allclose(engine.centroids, centroids, rtol=1e-5,
                                   atol=1e-4)
        np.testing.assert_array_equal(
            engine.labels, fn.assign_to_nearest(SAMPLES, centroids))
        # One inertia: the engine's history and the lesson's function
        # measure the same centroids alike.
        assert engine.inertia == pytest.approx(
            fn.inertia(SAMPLES, centroids), rel=1e-5)
        if engine.n_iter < step:         # settled: nothing moves any more
            break
        assert engine.inertia_history[-1] == pytest.approx(
            fn.inertia(SAMPLES, previous), rel=1e-5)


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 3])
def test_one_start_per_seed(seed):
    lesson = fn.choose_random_centroids(SAMPLES, 3, seed=seed).numpy()
    engine = kmeans_tf.kmeans(SAMPLES, 3, init="random", seed=seed,
                              max_iter=0)
    # Equal but for float32 rounding: the engine works centred.
    np.testing.assert_allclose(engine.centroids, lesson, rtol=1e-6)
    # Run i of n_init starts from seed + i; the best of them is kept.
    runs = [kmeans_tf.kmeans(SAMPLES, 5, init="random", seed=seed + i,
                             tol=0) for i in range(3)]
    best = kmeans_tf.kmeans(SAMPLES, 5, init="random", seed=seed, n_init=3,
                            tol=0)
    assert best.inertia == min(run.inertia for run in runs)


def test_a_small_stream_starts_where_memory_starts():
    import tensorflow as tf
    batches = tf.data.Dataset.from_tensor_slices(SAMPLES).batch(100)
    for method in ["random", "k-means++"]:
        streamed = kmeans_tf.kmeans(batches, 3, init=method, seed=4,
                                    max_iter=0)
        in_memory = kmeans_tf.kmeans(SAMPLES, 3, init=method, seed=4,
                                     max_iter=0)
        np.testing.assert_allclose(streamed.centroids,
                                   in_memory.centroids, rtol=1e-6)


def test_lesson_and_engine_random_starts_are_the_same_samples():
    for seed in range(5):
        lesson = fn.choose_random_centroids(SAMPLES, 3, seed=seed).numpy()
        engine = init.random_centroids(checks.check_samples(SAMPLES), 3,
                                       seed).numpy()
        np.testing.assert_array_equal(lesson, engine)


def test_engine_never_imports_the_lessons():
    lessons = {"functions", "cli"}
    for module in (ROOT / "kmeans_tf").glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not lessons & {name.split(".")[0] for name in names}, \
                f"{module.name} imports {names}"


def test_pip_install_runs_kmeans_from_another_folder(tmp_path):
    # Build from a copy, so the checkout gets no build/ folder.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "kmeans_tf", source / "kmeans_tf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, source)
    target, elsewhere = tmp_path / "target", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # --no-deps: TensorFlow and NumPy are in this environment already;
    # --no-build-isolation: build with this environment's setuptools.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(source)], check=True,
                   capture_output=True)
    metadata = next(target.glob("kmeans_tf-*.dist-info")) / "METADATA"
    assert "Requires-Dist: tensorflow" in metadata.read_text()
    code = ("import sys, numpy as np, kmeans_tf\n"
            "x = np.load(sys.argv[1])\n"
            "r = kmeans_tf.kmeans(x, 3, seed=0, tol=0)\n"
            "print(kmeans_tf.__file__)\n"
            "np.save(sys.argv[2], r.centroids)\n")
    np.save(tmp_path / "x.npy", SAMPLES)
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.npy"),
         str(tmp_path / "c.npy")], cwd=elsewhere, check=True,
        capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)}).stdout
    assert out.strip().startswith(str(target))
    centroids = np.load(tmp_path / "c.npy")
    # Converged k-means: each centroid is the mean of the samples nearest
    # to it, and none is empty.
    labels, _ = brute_force_nearest(SAMPLES, centroids)
    np.testing.assert_allclose(centroids, group_means(SAMPLES, labels, 3),
                               rtol=1e-4, atol=1e-3)
