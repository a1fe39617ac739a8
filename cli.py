"""What every lesson script shares: its arguments, its seed, showing a plot.

Nothing here imports TensorFlow, so `--help` answers at once; a script
imports `functions` (and with it TensorFlow) only after its arguments parse.
"""
import argparse
import io
import math
import os
import random
import sys

import outputs

# The lesson's data: 3 blobs of 500 samples in 2 features, spread by 70.
DEFAULTS = dict(n_clusters=3, n_samples_per_cluster=500, n_features=2,
                embiggen_factor=70.0, seed=700)
# Seeds are whole numbers in [0, SEED_LIMIT): what every random source takes.
SEED_LIMIT = 2**32
# The lessons' broadcast, (n_samples, n_clusters, n_features), at most this
# many values (400 MB of float32).
MAX_BROADCAST_VALUES = 10**8


def int_at_least(minimum, maximum=None):
    """argparse type: an integer in [minimum, maximum], with a message
    naming the value."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
        if value < minimum or (maximum is not None and value > maximum):
            bound = (f">= {minimum}" if maximum is None
                     else f"between {minimum} and {maximum}")
            raise argparse.ArgumentTypeError(f"{value} should be {bound}")
        return value
    return parse


def float_at_least(minimum, strictly=False, maximum=math.inf):
    """argparse type: a finite number >= minimum (> minimum if strictly),
    and at most maximum."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number")
        if not math.isfinite(value) or value < minimum or value > maximum \
                or (strictly and value == minimum):
            relation = ">" if strictly else ">="
            upper = f" and <= {maximum:g}" if maximum < math.inf else ""
            raise argparse.ArgumentTypeError(
                f"{text} should be a finite number {relation} {minimum}"
                f"{upper}")
        return value
    return parse


positive_int = int_at_least(1)
seed_int = int_at_least(0, SEED_LIMIT - 1)


def base_parser(doc):
    """The flags every script has: --centroid-seed and --save.

    The description is the script's docstring, so `--help` tells the lesson.
    """
    lesson = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    lesson.add_argument("--centroid-seed", type=seed_int, default=None,
                        help="seed for the initial centroids; without it "
                             "they differ per run, and the seed used is "
                             "printed so you can repeat a run")
    lesson.add_argument("--save", metavar="PATH", default=None,
                        help="write the figure to PATH (.png, .pdf, .svg, "
                             "...) instead of opening a window")
    return lesson


def parser(doc):
    """The lessons' parser: the base flags and the generated data's.

    A script may add flags of its own to what this returns.
    """
    lesson = base_parser(doc)
    data = lesson.add_argument_group("the generated data")
    data.add_argument("--n-clusters", type=positive_int,
                      default=DEFAULTS["n_clusters"],
                      help="number of blobs, and of clusters to find "
                           "(default: %(default)s)")
    data.add_argument("--n-samples-per-cluster", type=positive_int,
                      default=DEFAULTS["n_samples_per_cluster"],
                      help="samples in each blob (default: %(default)s)")
    data.add_argument("--n-features", type=positive_int,
                      default=DEFAULTS["n_features"],
                      help="features per sample; plots show the first two "
                           "(default: %(default)s)")
    data.add_argument("--embiggen-factor", type=float_at_least(0, True, 1e9),
                      default=DEFAULTS["embiggen_factor"],
                      help="true centroids are uniform in [-f/2, f/2) per "
                           "feature (default: %(default)s)")
    data.add_argument("--seed", type=seed_int, default=DEFAULTS["seed"],
                      help="seed for the generated data (default: "
                           "%(default)s)")
    return lesson


def parse_args(lesson, argv=None):
    """Parse the command line with the parser `lesson`, then choose a
    matplotlib backend.

    Without a display (or with --save) matplotlib draws off-screen, so no
    script ever waits on or fails for a missing window.
    """
    args = lesson.parse_args(argv)
    _check_data_size(lesson, args)
    if args.save is not None or not has_display():
        import matplotlib
        matplotlib.use("Agg")
    if args.save is not None:
        _check_save_path(args.save)
    return args


def fail(message):
    """Stop: one line on stderr naming the script, exit status 2, no
    traceback."""
    print(f"{os.path.basename(sys.argv[0])}: error: {message}",
          file=sys.stderr)
    sys.exit(2)


def _check_data_size(lesson, args):
    """Refuse generated data whose lesson broadcast, an (n_samples,
    n_clusters, n_features) tensor, would not fit in memory."""
    if not hasattr(args, "n_samples_per_cluster"):
        return
    size = (args.n_clusters ** 2 * args.n_samples_per_cluster
            * args.n_features)
    if size > MAX_BROADCAST_VALUES:
        lesson.error(f"--n-clusters {args.n_clusters} x "
                     f"--n-samples-per-cluster {args.n_samples_per_cluster}"
                     f" x --n-features {args.n_features}: the lessons' "
                     f"broadcast would hold {size:,} values, more than "
                     f"{MAX_BROADCAST_VALUES:,}; choose fewer")


def _check_save_path(path):
    """Refuse, before any work, a --save path that cannot be written or a
    picture type that cannot be drawn here."""
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.figure import Figure

    if not path:
        fail("--save needs a file name, such as picture.png; got ''")
    check_outputs([path])
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    known = set(FigureCanvasBase.get_supported_filetypes()) | {"gif"}
    if extension not in known:
        fail(f"--save {path}: unknown picture type {extension!r}; use one "
             f"of {', '.join(sorted(known))}")
    # Some types need a program that may be missing (.pgf needs LaTeX):
    # draw a tiny picture now rather than fail after all the work.
    try:
        probe = Figure()
        probe.text(0.5, 0.5, "k")
        probe.savefig(io.BytesIO(), format=extension)
    except Exception as error:
        fail(f"--save {path}: cannot draw a .{extension} picture here "
             f"({outputs.reason(error)})")


def check_outputs(paths, inputs=()):
    """outputs.check: stop with one line if an output cannot be written."""
    try:
        outputs.check(paths, inputs)
    except outputs.OutputError as error:
        fail(error)


def save_outputs(writers):
    """outputs.write_all: all outputs written, or one line and none."""
    try:
        outputs.write_all(writers)
    except outputs.OutputError as error:
        fail(error)


def picture_writer(figure, animation=None):
    """write(path) for save_outputs: the figure, or the animation by Pillow
    (a GIF); the path's extension names the format."""
    if animation is not None:
        return lambda path: animation.save(path, writer="pillow")
    return lambda path: figure.savefig(path, dpi=100, bbox_inches="tight")


def has_display():
    """Whether a plot window can open here."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def lesson_samples(args):
    """The samples of lesson 1 (generate_samples.py), shaped by the flags.

    Returns a float32 tensor of shape (n_clusters * n_samples_per_cluster,
    n_features). Imports `functions`, and so TensorFlow.
    """
    import functions as fn
    _, samples = fn.create_samples(
        args.n_clusters, args.n_samples_per_cluster, args.n_features,
        args.embiggen_factor, args.seed)
    return samples


def centroid_seed(args):
    """The seed for the initial centroids: --centroid-seed, or a fresh one.

    A fresh seed is printed, so any run can be repeated exactly.
    """
    if args.centroid_seed is not None:
        return args.centroid_seed
    seed = random.SystemRandom().randrange(2**31)
    print(f"centroid seed: {seed} (repeat this run with --centroid-seed "
          f"{seed})")
    return seed


def show_or_save(figure, args, script_file, animation=None):
    """Save the figure to --save, or show it; with no display, save it.

    Without a display the file is `<script name>.png` (`.gif` for an
    animation) in the current folder, and the path is printed. The picture
    is written whole or not at all (see outputs.py).
    """
    import matplotlib.pyplot as plt

    path = args.save
    if path is None and not has_display():
        stem = os.path.splitext(os.path.basename(script_file))[0]
        path = stem + (".gif" if animation else ".png")
    if path is None:
        plt.show()
        return None
    save_outputs({path: picture_writer(figure, animation)})
    print(f"saved the figure to {path}")
    return path
