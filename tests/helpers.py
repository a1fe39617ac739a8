"""Independent references the tests compare against, and a script runner."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def brute_force_nearest(samples, centroids):
    """Nearest centroid by the full (n, k, d) difference tensor, in float64."""
    samples = np.asarray(samples, np.float64)
    centroids = np.asarray(centroids, np.float64)
    distances = ((samples[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    return distances.argmin(axis=1), distances.min(axis=1)


def group_means(samples, labels, n_clusters):
    """Mean of each label's samples, by a plain Python loop (NaN if empty)."""
    samples = np.asarray(samples, np.float64)
    return np.array([samples[labels == j].mean(axis=0) if (labels == j).any()
                     else np.full(samples.shape[1], np.nan)
                     for j in range(n_clusters)])


def blobs(sizes, spreads, n_features, seed, offset=0.0):
    """Blobs of unequal size and spread; returns float64 samples."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-20, 20, (len(sizes), n_features))
    parts = [rng.normal(c, s, (m, n_features))
             for c, s, m in zip(centres, spreads, sizes)]
    samples = np.concatenate(parts) + offset
    return samples[rng.permutation(len(samples))]


def run_script(name, *args, cwd=None, timeout=600):
    """Run a project script headless; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, str(ROOT / name), *map(str, args)],
                          cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_real_image(path):
    """The file is a readable picture with more than one colour in it."""
    from PIL import Image
    with Image.open(path) as image:
        assert image.width > 100 and image.height > 100
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10
