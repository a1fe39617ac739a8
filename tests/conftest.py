"""Test set-up: import the project from the repository root, draw
off-screen, and keep XLA's compiled programs in a folder of the test run's
own (scripts run by the tests share it), not the user's cache."""
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["MPLBACKEND"] = "Agg"
os.environ.pop("DISPLAY", None)
os.environ.pop("WAYLAND_DISPLAY", None)
os.environ["KMEANS_TF_CACHE_DIR"] = tempfile.mkdtemp(prefix="kmeans_tf_tests-")
atexit.register(shutil.rmtree, os.environ["KMEANS_TF_CACHE_DIR"],
                ignore_errors=True)
