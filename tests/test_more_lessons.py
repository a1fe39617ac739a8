"""animate.py, choose_k.py, quantize.py, cluster_file.py, the silhouette
and the BIC."""
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import silhouette_score

import functions as fn
from helpers import assert_real_image, blobs, brute_force_nearest, run_script


# %% The silhouette against scikit-learn

@pytest.mark.parametrize("n, k, seed", [(300, 3, 0), (101, 7, 1), (40, 2, 2),
                                        (2500, 5, 3)])
def test_silhouette_matches_sklearn(n, k, seed):
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(n, 3)) * rng.uniform(1, 10, 3)
    labels = rng.integers(0, k, n)
    labels[0] = k + 1            # a cluster of one, and an unused label
    ours = fn.silhouette_score(samples, labels, chunk_size=64)
    assert ours == pytest.approx(silhouette_score(samples, labels),
                                 abs=1e-5)


def test_silhouette_of_a_real_clustering():
    samples = blobs([100, 150, 80], [1, 2, 1], 2, seed=4)
    labels = fn.kmeans(samples, 3, seed=0).labels
    assert fn.silhouette_score(samples, labels) == pytest.approx(
        silhouette_score(samples, labels), abs=1e-5)


def test_silhouette_on_a_seeded_subsample_is_close_to_the_full_one():
    samples = blobs([3000, 2000, 1000], [2, 3, 1.5], 2, seed=6)
    labels = fn.kmeans(samples, 3, seed=0).labels
    full = silhouette_score(samples, labels)
    for seed in range(3):
        part = fn.silhouette_score(samples, labels, sample_size=1000,
                                   seed=seed)
        assert part == pytest.approx(full, abs=0.02)
    # Seeded: the same subset twice.
    assert part == fn.silhouette_score(samples, labels, sample_size=1000,
                                       seed=2)


def test_silhouette_is_exact_far_from_the_origin():
    samples = blobs([60, 40], [1, 2], 2, seed=8)
    labels = (samples[:, 0] > np.median(samples[:, 0])).astype(int)
    exact = silhouette_score(samples, labels)
    assert fn.silhouette_score(samples + 1e8, labels) == pytest.approx(
        exact, abs=1e-6)


@pytest.mark.parametrize("centres, sizes, spreads", [
    ([[0, 0], [1, 0], [1e8, 0]], [50, 50, 50], [0.01, 0.01, 0.01]),
    ([[0, 0], [1e-5, 0], [1e3, 1e3]], [60, 60, 180], [1e-6, 1e-6, 1])])
def test_silhouette_is_exact_with_clusters_far_apart(centres, sizes,
                                                      spreads):
    # Tight clusters near 0 beside one far away: no shift of the origin
    # keeps the expanded square's digits for both.
    rng = np.random.default_rng(0)
    samples = np.concatenate([
        centre + spread * rng.standard_normal((size, 2))
        for centre, size, spread in zip(centres, sizes, spreads)])
    labels = np.repeat([0, 1, 2], sizes)
    assert fn.silhouette_score(samples, labels) == pytest.approx(
        silhouette_score(samples, labels), abs=1e-6)


def test_silhouette_needs_two_to_n_minus_one_clusters():
    with pytest.raises(ValueError, match="between 2 and n_samples - 1"):
        fn.silhouette_score(np.zeros((5, 2)), [0] * 5)


# %% The BIC

def numpy_bic(samples, centroids):
    """X-means' BIC of a spherical Gaussian mixture, by NumPy, from the
    formula in Pelleg and Moore (2000), with the pooled variance."""
    n, d = samples.shape
    k = len(centroids)
    labels, distances = brute_force_nearest(samples, centroids)
    variance = distances.sum() / (d * (n - k))
    sizes = np.bincount(labels, minlength=k)
    sizes = sizes[sizes > 0]
    log_likelihood = sum(
        m * np.log(m / n) - m * d / 2 * np.log(2 * np.pi * variance)
        - (m - 1) * d / 2 for m in sizes) - d * (len(sizes) - k) / 2
    return log_likelihood - ((k - 1) + k * d + 1) / 2 * np.log(n)


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_bic_matches_the_formula(k):
    samples = blobs([200, 150, 100, 50], [1, 2, 1, 3], 3, seed=k)
    centroids = fn.kmeans(samples, k, seed=0).centroids
    assert fn.bic_score(samples, centroids) == pytest.approx(
        numpy_bic(samples, centroids), rel=1e-9)


@pytest.mark.parametrize("separation, expected", [(20, 2), (3, 1)])
def test_bic_tells_touching_blobs_from_one(separation, expected):
    # Two round blobs of spread 5: 20 apart they touch but are two; 3 apart
    # a person sees one.
    rng = np.random.default_rng(separation)
    samples = np.concatenate([rng.normal([0, 0], 5, (500, 2)),
                              rng.normal([separation, 0], 5, (500, 2))])
    scores = [fn.bic_score(samples, fn.kmeans(samples, k, n_init=4,
                                              seed=0).centroids)
              for k in (1, 2, 3, 4)]
    assert int(np.argmax(scores)) + 1 == expected


# %% The scripts, headless

@pytest.mark.parametrize("n_features", [2, 1])     # 1: along a line
def test_animate_writes_one_frame_per_iteration(tmp_path, n_features):
    out = tmp_path / "k.gif"
    result = run_script("animate.py", "--centroid-seed", 5, "--n-features",
                        n_features, "--save", out)
    assert result.returncode == 0, result.stderr
    n_iter = int(result.stdout.split(" iterations")[0].split()[-1])
    with Image.open(out) as gif:
        assert gif.n_frames == n_iter + 1
    assert_real_image(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_choose_k_finds_the_generating_number(tmp_path, seed):
    result = run_script("choose_k.py", "--n-clusters", 4, "--embiggen-factor",
                        200, "--seed", seed, "--max-k", 7, "--centroid-seed",
                        0, "--save", tmp_path / "k.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "suggested n_clusters: 4"
    assert_real_image(tmp_path / "k.png")


# Data seeds of the lesson's generator (4 blobs, spread 70) where two of the
# true centroids lie 17 apart (touching, distinct: a person sees 4 blobs)
# or 5 apart (overlapping into one: a person sees 3).
@pytest.mark.parametrize("data_seed, seen", [(38, 4), (144, 4), (166, 3),
                                             (325, 3)])
def test_choose_k_sees_what_a_person_sees(tmp_path, data_seed, seen):
    centroids = fn.create_samples(4, 500, 2, 70.0, data_seed)[0].numpy()
    gaps = np.linalg.norm(centroids[:, None] - centroids[None], axis=2)
    closest = np.sort(gaps[np.triu_indices(4, 1)])
    assert closest[1] > 40 and (closest[0] < 6 if seen == 3
                                else 15 < closest[0] < 20)
    result = run_script("choose_k.py", "--n-clusters", 4, "--seed",
                        data_seed, "--max-k", 6, "--centroid-seed", 0,
                        "--save", tmp_path / "k.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"suggested n_clusters: {seen}"


def test_quantize_the_sample_photograph(tmp_path):
    result = run_script("quantize.py", "--n-colors", 4, "--centroid-seed", 0,
                        "--save", tmp_path / "q.png")
    assert result.returncode == 0, result.stderr
    assert "4 colours" in result.stdout and "mean squared error" in \
        result.stdout
    assert_real_image(tmp_path / "q.png")


def test_quantize_my_own_image(tmp_path):
    rng = np.random.default_rng(0)
    picture = np.repeat(rng.integers(0, 255, (3, 1, 3)), 40, 0)
    Image.fromarray(np.tile(picture, (1, 50, 1)).astype(np.uint8)).save(
        tmp_path / "mine.png")
    result = run_script("quantize.py", "--image", tmp_path / "mine.png",
                        "--n-colors", 3, "--save", tmp_path / "q.png")
    assert result.returncode == 0, result.stderr
    # Three flat colours, three palette entries: nothing is lost.
    assert "mean squared error 0.00000" in result.stdout


def test_quantize_a_16_bit_image(tmp_path):
    # A grey ramp over 16 bits (a TIFF, which matplotlib reads as uint16)
    # in 2 grey levels: in colours of 0 to 1, the error of the best 2 levels
    # for a ramp is 1/48 of the range squared; in raw 16-bit units it would
    # be 65535² times that.
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))
    Image.fromarray(ramp).save(tmp_path / "grey16.tif")
    result = run_script("quantize.py", "--image", tmp_path / "grey16.tif",
                        "--n-colors", 2, "--save", tmp_path / "q.png")
    assert result.returncode == 0, result.stderr
    error = float(result.stdout.split("mean squared error ")[1].split()[0])
    assert error == pytest.approx(1 / 48, rel=0.1)


def test_quantize_an_image_with_no_more_colours_than_asked(tmp_path):
    picture = np.zeros((40, 40, 3), np.uint8)
    picture[:, 20:] = 255                    # black and white, nothing else
    Image.fromarray(picture).save(tmp_path / "bw.png")
    result = run_script("quantize.py", "--image", tmp_path / "bw.png",
                        "--n-colors", 2, "--save", tmp_path / "q.png")
    assert result.returncode == 0, result.stderr
    assert "mean squared error 0.00000 (exact)" in result.stdout
    assert_real_image(tmp_path / "q.png")


def test_choose_k_refuses_too_few_samples_before_any_work():
    result = run_script("choose_k.py", "--n-clusters", 1,
                        "--n-samples-per-cluster", 2)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "choose_k.py: error: --n-clusters 1 x --n-samples-per-cluster 2: "
        "choosing k needs at least 3 samples")


def test_quantize_names_a_missing_image(tmp_path):
    result = run_script("quantize.py", "--image", tmp_path / "none.jpg")
    assert result.returncode == 2
    assert "none.jpg: no such file" in result.stderr


# %% cluster_file.py on good and bad files

@pytest.fixture
def grouped(tmp_path):
    """Three far-apart groups, rows shuffled; returns (samples, groups)."""
    rng = np.random.default_rng(0)
    groups = rng.permutation(np.repeat([0, 1, 2], 40))
    samples = np.array([[0, 0], [50, 0], [0, 50]])[groups] + rng.normal(
        size=(120, 2))
    return samples, groups


def same_partition(labels, groups):
    pairs = set(zip(labels.tolist(), groups.tolist()))
    return len(pairs) == len(set(labels)) == len(set(groups))


@pytest.mark.parametrize("form", ["csv", "npy"])
def test_cluster_file_gives_the_groups(tmp_path, grouped, form):
    samples, groups = grouped
    data = tmp_path / f"data.{form}"
    if form == "csv":
        np.savetxt(data, samples, delimiter=",", header="x,y", comments="")
    else:
        np.save(data, samples)
    result = run_script("cluster_file.py", data, "--n-clusters", 3,
                        "--labels-out", tmp_path / "labels.csv",
                        "--centroids-out", tmp_path / "c.csv", "--save",
                        tmp_path / "p.png", "--centroid-seed", 0)
    assert result.returncode == 0, result.stderr
    labels = np.loadtxt(tmp_path / "labels.csv", dtype=int)
    assert labels.shape == (120,) and same_partition(labels, groups)
    centroids = np.loadtxt(tmp_path / "c.csv", delimiter=",",
                           skiprows=1 if form == "csv" else 0)
    for j in range(3):
        np.testing.assert_allclose(centroids[j],
                                   samples[labels == j].mean(0))
    assert "sizes 40, 40, 40" in result.stdout
    assert_real_image(tmp_path / "p.png")


BAD_FILES = {
    "empty.csv": ("", "the file is empty"),
    "header_only.csv": ("a,b\n", "a header row but no data rows"),
    "word.csv": ("1,2\n3,four\n", "word.csv, row 2, column 2: 'four' is "
                                  "not a number"),
    "ragged.csv": ("1,2\n3,4\n5\n", "ragged.csv, row 3: 1 columns, but row "
                                    "1 has 2"),
    "nan.csv": ("x,y\n1,2\nnan,4\n", "nan.csv, row 3, column 1: nan is not "
                                     "a finite number"),
    "blank.csv": ("1,2\n3, \n", "blank.csv, row 2, column 2: the cell is "
                                "blank"),
    "few.csv": ("1,2\n3,4\n", "few.csv: 2 rows, fewer than "
                              "--n-clusters=3"),
}


@pytest.mark.parametrize("name", list(BAD_FILES) + ["missing.csv"])
def test_cluster_file_bad_input_exits_2_and_leaves_nothing(tmp_path, name):
    if name in BAD_FILES:
        (tmp_path / name).write_text(BAD_FILES[name][0])
        message = BAD_FILES[name][1]
    else:
        message = "missing.csv: no such file"
    before = set(tmp_path.iterdir())
    result = run_script("cluster_file.py", tmp_path / name, "--n-clusters",
                        3, "--labels-out", tmp_path / "labels.csv",
                        "--centroids-out", tmp_path / "c.csv")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1    # no traceback
    assert set(tmp_path.iterdir()) == before


def test_cluster_file_refuses_to_overwrite_its_input(tmp_path, grouped):
    data = tmp_path / "data.csv"
    np.savetxt(data, grouped[0], delimiter=",")
    original = data.read_bytes()
    result = run_script("cluster_file.py", data, "--n-clusters", 3,
                        "--labels-out", data)
    assert result.returncode == 2
    assert "may not overwrite the input" in result.stderr
    assert data.read_bytes() == original
