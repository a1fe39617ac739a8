"""Lesson 8: colour quantisation, k-means on a real photograph.

Every pixel is a sample with 3 features (red, green, blue). k-means finds
--n-colors centroids, a palette, and each pixel is redrawn in its nearest
palette colour. Fitting on a random subsample of pixels is enough to find
the palette; then every pixel is assigned. The photograph ships with
matplotlib (Grace Hopper), or pass your own with --image.

    python quantize.py --n-colors 8 --centroid-seed 0
    python quantize.py --image my_photo.jpg --n-colors 16 --save out.png
"""
import cli

lesson = cli.base_parser(__doc__)
lesson.add_argument("--image", metavar="PATH", default=None,
                    help="a PNG or JPEG to quantise (default: the "
                         "photograph in matplotlib's sample data)")
lesson.add_argument("--n-colors", type=cli.int_at_least(1, 256), default=8,
                    help="colours in the palette (default: %(default)s)")
lesson.add_argument("--fit-pixels", type=cli.positive_int, default=10_000,
                    help="random pixels to fit the palette on (default: "
                         "%(default)s)")
args = cli.parse_args(lesson)
import os  # noqa: E402
import time  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import cbook  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The photograph, as an (n_pixels, 3) array of colours in [0, 1]
path = args.image or cbook.get_sample_data("grace_hopper.jpg",
                                           asfileobj=False)
if not os.path.isfile(path):
    lesson.error(f"--image {path}: no such file")
try:
    image = plt.imread(path)
except (OSError, SyntaxError, ValueError) as error:
    lesson.error(f"--image {path}: not a picture it can read ({error})")
if np.issubdtype(image.dtype, np.integer):     # 8 or 16 bits a channel
    image = image / np.iinfo(image.dtype).max
image = np.atleast_3d(image)[:, :, :3]               # drop alpha, grey -> 1
height, width, channels = image.shape
pixels = image.reshape(-1, channels).astype(np.float32)
print(f"{path}: {width} x {height} pixels")

# %% Fit the palette on a random subsample, then assign every pixel
started = time.perf_counter()
seed = cli.centroid_seed(args)
rng = np.random.default_rng(seed)
subsample = pixels[rng.choice(len(pixels), min(args.fit_pixels,
                                               len(pixels)), replace=False)]
n_colors = min(args.n_colors, len(np.unique(subsample, axis=0)))
palette = fn.kmeans(subsample, n_colors, seed=seed).centroids
nearest = fn.assign_labels(pixels, palette)     # in chunks: many pixels
quantised = palette[nearest].reshape(image.shape)
seconds = time.perf_counter() - started
error = float(np.mean((quantised - image) ** 2))
# PSNR, peak signal to noise: infinite when every pixel kept its colour.
psnr = f"PSNR {10 * np.log10(1 / error):.1f} dB" if error else "exact"
print(f"{n_colors} colours, fitted on {len(subsample)} pixels and assigned "
      f"to all {len(pixels)} in {seconds:.2f} s; mean squared error "
      f"{error:.5f} ({psnr})")

# %% Show the original, the quantised image and the palette
figure, (original_ax, quantised_ax, palette_ax) = plt.subplots(
    1, 3, figsize=(12, 5), gridspec_kw=dict(width_ratios=[4, 4, 1]))
original_ax.imshow(image.squeeze(), cmap="gray")
original_ax.set_title("original")
quantised_ax.imshow(np.clip(quantised, 0, 1).squeeze(), cmap="gray")
quantised_ax.set_title(f"{n_colors} colours")
swatches = np.clip(palette, 0, 1)[:, np.newaxis, :]    # (n_colors, 1, 3)
palette_ax.imshow(swatches.squeeze(-1) if channels == 1 else swatches,
                  aspect="auto", cmap="gray")
palette_ax.set_title("palette")
for ax in (original_ax, quantised_ax, palette_ax):
    ax.axis("off")
cli.show_or_save(figure, args, __file__)
