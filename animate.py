"""Lesson 6: watch k-means converge, one frame per iteration.

Each frame is one assign + update step on the lesson's data: samples
coloured by the centroid they are nearest to now, each centroid with the
trail of where it has been. Frame 0 is the random start. It runs until no
sample changes cluster, or --max-iter steps.

    python animate.py --centroid-seed 5                  # plays in a window
    python animate.py --centroid-seed 5 --save kmeans.gif
"""
import cli

lesson = cli.parser(__doc__)
lesson.add_argument("--max-iter", type=cli.int_at_least(1, 1000), default=20,
                    help="at most this many steps (default: %(default)s)")
lesson.add_argument("--interval", type=cli.int_at_least(1, 60_000),
                    default=700,
                    help="milliseconds per frame (default: %(default)s)")
args = cli.parse_args(lesson)
# An animation saves as a GIF, which every viewer plays (a .png would hold
# the frames too, but most viewers show only the first).
if args.save is not None and not args.save.lower().endswith(".gif"):
    cli.fail(f"--save {args.save}: an animation is saved as a .gif; "
             f"give a name ending in .gif")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402
import functions as fn  # noqa: E402  (TensorFlow loads after --help)

# %% The lesson's samples and a random start
samples = cli.lesson_samples(args)
centroids = fn.choose_random_centroids(samples, args.n_clusters,
                                       seed=cli.centroid_seed(args))

# %% Run the steps, keeping every state to draw
# frames[i] = (centroids after i steps, labels those centroids give)
frames = [(centroids.numpy(), fn.assign_to_nearest(samples, centroids))]
for step in range(args.max_iter):
    labels = frames[-1][1]
    centroids = fn.update_centroids(samples, labels, args.n_clusters,
                                    previous_centroids=centroids)
    new_labels = fn.assign_to_nearest(samples, centroids)
    frames.append((centroids.numpy(), new_labels))
    if np.array_equal(new_labels, labels):
        break
n_steps = len(frames) - 1
print(f"{n_steps} iterations, {len(frames)} frames (the start and one per "
      f"iteration)")
if n_steps < args.max_iter:
    # `kmeans` (lesson 5) counts one more: the iteration whose assignment
    # finds that no label changed. Here that assignment is the last frame's.
    print(f"no sample changed cluster after iteration {n_steps}; "
          f"converge.py would say {n_steps + 1} iterations")

# %% Animate: redraw the samples and the trails for each frame
figure, ax = plt.subplots(figsize=(6, 5))
points = samples.numpy()


def draw(frame):
    ax.clear()
    centroids, labels = frames[frame]
    fn.plot_clusters(points, centroids, labels=labels, ax=ax,
                     title=f"k-means, iteration {frame} of {n_steps}")
    trails = np.stack([c for c, _ in frames[:frame + 1]])  # (t, k, d)
    if trails.shape[2] == 1:       # one feature: along a line, as the points
        trails = np.concatenate([trails, np.zeros_like(trails)], axis=2)
    for cluster in range(trails.shape[1]):
        ax.plot(trails[:, cluster, 0], trails[:, cluster, 1], "k--", lw=1)


animation = FuncAnimation(figure, draw, frames=len(frames),
                          interval=args.interval, repeat=False)
cli.show_or_save(figure, args, __file__, animation)
