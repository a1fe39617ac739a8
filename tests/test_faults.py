"""Files that lie, disks that fill, signals mid-write: cluster_file.py and
cli.show_or_save end in the right result or in one line and exit status 2,
with the old outputs as they were and no temporary file left behind.

Most cases run the script under a wrapper in which TensorFlow cannot be
imported, so they also show the problem is found before any work.
"""
import contextlib
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, assert_real_image, run_script

# Runs a script as its command line would, after one hook (argv[1]):
# "no-tensorflow", importing TensorFlow fails, so the script must stop
# before it; or a signal's name, sent once the first output's temporary
# file is written.
WRAPPER = '''
import os, runpy, signal, sys, time
import outputs

hook, script = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
if hook == "no-tensorflow":
    sys.modules["tensorflow"] = None
else:
    write_all = outputs.write_all

    def signal_after_the_first(writers):
        (first, write), *others = writers.items()

        def write_then_signal(temporary):
            write(temporary)
            print("temporary file:", temporary, flush=True)
            os.kill(os.getpid(), getattr(signal, hook))
            while True:
                time.sleep(0.01)    # until the handler runs
        return write_all({first: write_then_signal, **dict(others)})
    outputs.write_all = signal_after_the_first
runpy.run_path(script, run_name="__main__")
'''
OLD = b"the old file\n"


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory):
    path = tmp_path_factory.mktemp("wrapper") / "wrapper.py"
    path.write_text(WRAPPER)
    return path


def run(wrapper, hook, script, *args):
    """run_script, but through the wrapper with its hook."""
    return run_script(wrapper, hook, ROOT / script, *args)


def folder_state(*folders):
    """Every name in the folders, hidden ones too, with its bytes (None for
    what is not a regular file)."""
    return {path: path.read_bytes() if path.is_file() and not path.is_symlink()
            else None for folder in folders for path in folder.iterdir()}


def assert_one_line_error(result, *phrases):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr          # no traceback
    for phrase in phrases:
        assert phrase in lines[0]


@contextlib.contextmanager
def tmpfs(folder, options):
    """A small RAM disk mounted at folder for the duration; the test is
    skipped where it cannot be mounted (not root, or not allowed)."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a disk needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder):
    """Write into folder until its disk is full."""
    with open(folder / "filler", "wb", buffering=0) as file:
        with contextlib.suppress(OSError):
            while True:
                file.write(bytes(1024))


@pytest.fixture
def tiny(tmp_path):
    """Two far-apart pairs of rows, with old labels and centroids beside
    them; returns the data's path."""
    data = tmp_path / "data.csv"
    data.write_text("0,0\n1,0\n50,50\n51,50\n")
    (tmp_path / "labels.csv").write_bytes(OLD)
    (tmp_path / "c.csv").write_bytes(OLD)
    return data


# %% Outputs that are not files, or cannot be written: refused before work

def make(kind, path):
    """A folder or a FIFO at path; for a device, /dev/null itself (safe: the
    runs that take it cannot import TensorFlow, so never reach a write)."""
    if kind == "a device":
        return Path("/dev/null")
    path.mkdir() if kind == "a folder" else os.mkfifo(path)
    return path


@pytest.mark.parametrize("linked", [False, True], ids=["itself", "a link"])
@pytest.mark.parametrize("kind", ["a FIFO", "a device", "a folder"])
def test_an_output_that_is_not_a_file_is_refused(tmp_path, wrapper, tiny,
                                                 kind, linked):
    special = output = make(kind, tmp_path / "special.csv")
    if linked:
        output = tmp_path / "link.csv"
        output.symlink_to(special)
    mode = os.stat(special).st_mode
    before = folder_state(tmp_path)
    # As in the issue: labels.csv is fine, the centroids go somewhere else.
    result = run(wrapper, "no-tensorflow", "cluster_file.py", tiny,
                 "--n-clusters", 2, "--labels-out", tmp_path / "labels.csv",
                 "--centroids-out", output)
    assert_one_line_error(result, f"{output}: {kind}, not a file")
    assert folder_state(tmp_path) == before
    assert os.stat(special).st_mode == mode      # still what it was


@pytest.mark.parametrize("script", ["cluster_file.py", "generate_samples.py"])
def test_save_to_a_fifo_is_refused_for_every_script(tmp_path, wrapper, tiny,
                                                    script):
    output = make("a FIFO", tmp_path / "plot.png")
    data = [tiny, "--n-clusters", 2] if script == "cluster_file.py" else []
    result = run(wrapper, "no-tensorflow", script, *data, "--save", output)
    assert_one_line_error(result, f"{output}: a FIFO, not a file")
    assert stat.S_ISFIFO(os.lstat(output).st_mode)


def test_an_output_on_a_read_only_disk_is_refused(tmp_path, wrapper, tiny):
    with tmpfs(tmp_path / "disk", "size=64k,ro") as disk:
        result = run(wrapper, "no-tensorflow", "cluster_file.py", tiny,
                     "--n-clusters", 2, "--labels-out", disk / "labels.csv")
        assert_one_line_error(result, f"{disk / 'labels.csv'}: the folder",
                              "is not writable")
        assert list(disk.iterdir()) == []


def test_the_same_output_twice_is_refused(tmp_path, wrapper, tiny):
    before = folder_state(tmp_path)
    result = run(wrapper, "no-tensorflow", "cluster_file.py", tiny,
                 "--n-clusters", 2, "--labels-out", tmp_path / "labels.csv",
                 "--centroids-out", f"{tmp_path}/./labels.csv")
    assert_one_line_error(result, "labels.csv: named twice as an output")
    assert folder_state(tmp_path) == before


def test_a_picture_type_whose_program_is_missing_is_refused(tmp_path,
                                                            wrapper, tiny):
    # matplotlib draws .pgf with LaTeX (xelatex, by default).
    if shutil.which("xelatex"):
        pytest.skip("xelatex is installed, so .pgf can be drawn")
    result = run(wrapper, "no-tensorflow", "cluster_file.py", tiny,
                 "--n-clusters", 2, "--save", tmp_path / "plot.pgf")
    assert_one_line_error(result, "plot.pgf: cannot draw a .pgf picture",
                          "xelatex")
    assert not (tmp_path / "plot.pgf").exists()


# %% A full disk, and signals, while writing: all outputs or none

def test_a_full_disk_leaves_every_old_output(tmp_path, tiny):
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        (disk / "plot.png").write_bytes(OLD)
        fill(disk)
        before = folder_state(tmp_path, disk)
        result = run_script("cluster_file.py", tiny, "--n-clusters", 2,
                            "--labels-out", tmp_path / "labels.csv",
                            "--save", disk / "plot.png")
        assert_one_line_error(result, f"{disk / 'plot.png'}: could not "
                                      f"write it (No space left on device)")
        # labels.csv, on another disk, was written but not renamed.
        assert folder_state(tmp_path, disk) == before


def test_a_full_disk_leaves_the_old_animation(tmp_path):
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        (disk / "k.gif").write_bytes(OLD)
        fill(disk)
        before = folder_state(disk)
        result = run_script("animate.py", "--n-samples-per-cluster", 20,
                            "--max-iter", 3, "--centroid-seed", 1,
                            "--save", disk / "k.gif")
        assert_one_line_error(result, "k.gif: could not write it (No space")
        assert folder_state(disk) == before


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_while_writing_leaves_every_old_output(tmp_path, wrapper,
                                                        tiny, name):
    before = folder_state(tmp_path)
    result = run(wrapper, name, "cluster_file.py", tiny, "--n-clusters", 2,
                 "--labels-out", tmp_path / "labels.csv",
                 "--centroids-out", tmp_path / "c.csv")
    # The process ends by the signal, as the shell expects...
    assert result.returncode == -getattr(signal, name), result.stderr
    assert "Traceback" not in result.stderr
    # ... after the labels' temporary file was complete ...
    temporary = result.stdout.split("temporary file: ")[1].strip()
    assert os.path.dirname(temporary) == str(tmp_path)
    # ... and it took that file with it, the old outputs left as they were.
    assert folder_state(tmp_path) == before


# %% The right result: umask permissions, links followed, BOM ignored

def test_outputs_are_made_as_open_would_make_them(tmp_path):
    # A byte-order mark before the header: neither data nor part of "x".
    data = tmp_path / "data.csv"
    data.write_bytes(b"\xef\xbb\xbfx,y\n0,0\n1,0\n50,50\n51,50\n52,50\n")
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "c.csv").write_bytes(OLD)
    os.chmod(kept / "c.csv", 0o604)
    (tmp_path / "c.csv").symlink_to(kept / "c.csv")
    umask = os.umask(0o027)
    try:
        result = run_script("cluster_file.py", data, "--n-clusters", 2,
                            "--labels-out", tmp_path / "labels.csv",
                            "--centroids-out", tmp_path / "c.csv", "--save",
                            tmp_path / "plot.png", "--centroid-seed", 0)
    finally:
        os.umask(umask)
    assert result.returncode == 0, result.stderr
    # New files: 0o666 less the umask. A file replaced keeps its mode, and a
    # link still points to it.
    for new in ("labels.csv", "plot.png"):
        assert stat.S_IMODE(os.stat(tmp_path / new).st_mode) == 0o640
    assert (tmp_path / "c.csv").is_symlink()
    assert stat.S_IMODE(os.stat(kept / "c.csv").st_mode) == 0o604
    labels = np.loadtxt(tmp_path / "labels.csv", dtype=int)
    assert labels.tolist() in ([0, 0, 1, 1, 1], [1, 1, 0, 0, 0])
    lines = (kept / "c.csv").read_text().splitlines()
    assert lines[0] == "x,y"
    centroids = np.loadtxt(lines[1:], delimiter=",")
    np.testing.assert_allclose(centroids[[labels[0], labels[2]]],
                               [[0.5, 0], [51, 50]])
    assert_real_image(tmp_path / "plot.png")
    assert sorted(os.listdir(tmp_path)) == ["c.csv", "data.csv", "kept",
                                            "labels.csv", "plot.png"]


# %% Input files that lie: one line naming file, row and column

def npy_bytes(array, save=np.save):
    buffer = io.BytesIO()
    save(buffer, array)
    return buffer.getvalue()


SIX_ROWS = npy_bytes(np.arange(12.0).reshape(6, 2))
LYING = {   # file: (its bytes, what the line says after the file's name)
    "binary.csv": (b"1,2\n\x00\x01\x02\n", ", row 2: a NUL byte"),
    "latin1.csv": ("x,y\n1,2\n3,\xe9\n".encode("latin-1"),
                   ", row 3: byte 0xe9 is not UTF-8"),
    "wide.csv": (b"1,2\n3," + b"4" * 200_000 + b"\n",
                 ", row 2: field larger than field limit (131072)"),
    "empty.npy": (b"", ": the file is empty"),
    "cut.npy": (SIX_ROWS[:-8], ": not a whole, readable .npy file"),
    "cut_header.npy": (SIX_ROWS[:40], ": not a whole, readable .npy file"),
    "archive.npy": (npy_bytes(np.ones((6, 2)), np.savez),
                    ": a .npz archive of arrays, not one .npy array"),
    "complex.npy": (npy_bytes(np.ones((6, 2)) * 1j),
                    ": expected real numbers; got dtype complex128"),
    "infinite.npy": (npy_bytes(np.array([[1, 2], [3, -np.inf]])),
                     ", row 1 (from 0), column 1: -inf is not a finite"),
    # A byte-order mark is no header: 4 rows, not a header and 3.
    "bom.csv": (b"\xef\xbb\xbf1\n2\n3\n4\n",
                ": 4 rows, fewer than --n-clusters=5"),
    "commas.csv": (b"1,2\n,\n3,4\n", ", row 2, column 1: the cell is blank"),
    "header.csv": (b"x,y,z\n1,2\n3,4\n",
                   ", row 2: 2 columns, but row 1 has 3"),
}


@pytest.mark.parametrize("name", LYING)
def test_a_lying_input_is_one_line_before_any_work(tmp_path, wrapper, tiny,
                                                   name):
    data = tmp_path / name
    data.write_bytes(LYING[name][0])
    before = folder_state(tmp_path)
    # 5 clusters: more than bom.csv's 4 rows.
    result = run(wrapper, "no-tensorflow", "cluster_file.py", data,
                 "--n-clusters", 5, "--labels-out", tmp_path / "labels.csv",
                 "--centroids-out", tmp_path / "c.csv")
    assert_one_line_error(result, f"{data}{LYING[name][1]}")
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize("kind", ["a folder", "a FIFO"])
def test_data_that_is_not_a_file_is_named_for_what_it_is(tmp_path, wrapper,
                                                         kind):
    data = make(kind, tmp_path / "data.csv")
    result = run(wrapper, "no-tensorflow", "cluster_file.py", data,
                 "--n-clusters", 2)
    assert_one_line_error(result, f"{data}: {kind}, not a file")


def test_an_unreadable_csv_is_one_line(tmp_path):
    data = tmp_path / "secret.csv"
    data.write_text("1,2\n3,4\n")
    data.chmod(0)
    command = [sys.executable, str(ROOT / "cluster_file.py"), str(data),
               "--n-clusters", "1"]
    if os.geteuid() == 0:
        # Root reads any file, unless it gives up the powers to.
        if not shutil.which("setpriv"):
            pytest.skip("root, and no setpriv to give up reading any file")
        command = ["setpriv", "--bounding-set",
                   "-dac_override,-dac_read_search", *command]
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=60)
    assert_one_line_error(result, f"{data}: cannot read it (Permission "
                                  f"denied)")
