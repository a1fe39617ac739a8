"""The cache of XLA's compiled programs on disk (kmeans_tf/_compile_cache.py):
a later process loads them, quietly, and its fit is still scikit-learn's."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.cluster import KMeans

from helpers import ROOT, blobs
from kmeans_tf import _compile_cache

# Enough values (25,000 x 8) for Lloyd's loop to compile with XLA.
FIT = """
import sys
import numpy as np
import kmeans_tf
samples, init = np.load(sys.argv[1]), np.load(sys.argv[2])
result = kmeans_tf.kmeans(samples, len(init), init=init)
np.save(sys.argv[3], result.labels)
np.save(sys.argv[4], result.centroids)
"""


def fit_in_new_process(tmp_path, cache, name):
    """Run FIT in a fresh Python with the cache in `cache`; returns the
    finished process, its labels and its centroids."""
    files = [tmp_path / f for f in ("samples.npy", "init.npy",
                                    f"{name}_labels.npy",
                                    f"{name}_centroids.npy")]
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               KMEANS_TF_CACHE_DIR=str(cache))
    env.pop("TF_XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", FIT, *map(str, files)],
                          env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return done, np.load(files[2]), np.load(files[3])


def programs(cache):
    return sorted(path.name for path in
                  cache.glob("xla-*/xla_compile_cache__*.pb"))


def test_a_later_process_loads_the_programs_quietly(tmp_path):
    samples = blobs([5000] * 5, [1, 2, 1, 3, 2], 8, seed=11)
    init = samples[np.random.default_rng(0).choice(len(samples), 5,
                                                   replace=False)]
    np.save(tmp_path / "samples.npy", samples)
    np.save(tmp_path / "init.npy", init)
    cache = tmp_path / "cache"
    theirs = KMeans(5, init=init, n_init=1, algorithm="lloyd").fit(samples)

    _, labels, centroids = fit_in_new_process(tmp_path, cache, "first")
    written = programs(cache)
    assert written                      # Lloyd's loop, compiled and kept
    assert not list(cache.glob(".process-*"))    # its own folder removed

    later, labels_again, centroids_again = fit_in_new_process(
        tmp_path, cache, "second")
    # Every program was found on disk, so none was written; and
    # TensorFlow's error lines about loading them were dropped.
    assert programs(cache) == written
    assert later.stderr == ""

    # A file cut short (a crash, a full disk) would fail every fit that
    # loads it: the next process removes it, compiles, and shares it anew.
    biggest = max(cache.glob("xla-*/xla_compile_cache__*.pb"),
                  key=lambda path: path.stat().st_size)
    whole = biggest.read_bytes()
    biggest.write_bytes(whole[:len(whole) // 2])
    _, labels_mended, centroids_mended = fit_in_new_process(
        tmp_path, cache, "third")
    assert programs(cache) == written
    assert biggest.read_bytes()[:100] == whole[:100]
    assert _compile_cache.is_whole(biggest)

    for found, centres in ((labels, centroids),
                           (labels_again, centroids_again),
                           (labels_mended, centroids_mended)):
        np.testing.assert_array_equal(found, theirs.labels_)
        np.testing.assert_allclose(centres, theirs.cluster_centers_,
                                   rtol=1e-6)
    # The flag that points TensorFlow at a process's own folder is not
    # left for child processes (this one imported kmeans_tf too).
    assert _compile_cache.FLAG not in os.environ.get("TF_XLA_FLAGS", "")


def test_a_program_cut_short_or_garbled_is_not_whole(tmp_path):
    # A program's file as TensorFlow writes it: key, HLO, program.
    def field(number, payload):
        length, header = len(payload), bytes([number << 3 | 2])
        while length >= 0x80:
            header += bytes([length & 0x7F | 0x80])
            length >>= 7
        return header + bytes([length]) + payload
    rng = np.random.default_rng(0)
    program = (field(1, b"k" * 54) + field(2, rng.bytes(300))
               + field(3, rng.bytes(70_000)))
    path = tmp_path / "program.pb"
    path.write_bytes(program)
    assert _compile_cache.is_whole(path)
    for cut in (0, 1, 56, 57, 400, len(program) - 1):
        path.write_bytes(program[:cut])
        assert not _compile_cache.is_whole(path), cut
    path.write_bytes(program[:-70_003])        # key and HLO, no program
    assert not _compile_cache.is_whole(path)
    garbled = 0
    for seed in range(20):
        path.write_bytes(np.random.default_rng(seed).bytes(len(program)))
        garbled += _compile_cache.is_whole(path)
    assert garbled == 0


# Lines TensorFlow 2.21 logged as this machine loaded its own programs
# (the features list cut short), and one it must still show.
LOAD_LINES = [
    "E0000 00:00:1796363267.594618   10586 text_format.cc:378] Error "
    "parsing text-format tensorflow.XlaSerializedCacheEntry: 2:1: "
    "Expected identifier, got: 5",
    "E0000 00:00:1796363267.596778   10586 cpu_aot_loader.cc:220] Loading "
    "XLA:CPU AOT result. Target machine feature +prefer-no-scatter is not  "
    "supported on the host machine. Machine type used for XLA:CPU "
    "compilation doesn't match ... This could lead to execution errors "
    "such as SIGILL.",
    "E0000 00:00:1796363267.596814   10586 cpu_aot_loader.cc:220] Loading "
    "XLA:CPU AOT result. Target machine feature +prefer-no-gather is not  "
    "supported on the host machine.",
]
REAL_MISMATCH = (
    "E0000 00:00:1796363267.596814   10586 cpu_aot_loader.cc:220] Loading "
    "XLA:CPU AOT result. Target machine feature +avx512fp16 is not  "
    "supported on the host machine.")


def test_only_the_wrong_load_lines_are_dropped():
    assert all(_compile_cache.is_load_noise(line) for line in LOAD_LINES)
    assert not _compile_cache.is_load_noise(REAL_MISMATCH)
    assert not _compile_cache.is_load_noise("Traceback (most recent call")


def test_trim_drops_the_least_recently_used_first(tmp_path):
    sizes = [300, 100, 200, 400, 250]
    now = time.time()
    for age, size in enumerate(sizes):
        path = tmp_path / f"xla_compile_cache__{age}__0__XLA_CPU_JIT.pb"
        path.write_bytes(b"x" * size)
        os.utime(path, (now - 100 * age, now - 100 * age))
    limit = 1000                        # they take 1,250: over it
    _compile_cache._trim(tmp_path, limit)
    # Oldest first (the last written above) until at most 3/4 of it.
    kept, total = [], sum(sizes)
    for age in reversed(range(len(sizes))):
        if total > limit * 3 // 4:
            total -= sizes[age]
        else:
            kept.append(age)
    assert sorted(p.name.split("__")[1] for p in tmp_path.iterdir()) == \
        sorted(str(age) for age in kept)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 750

    _compile_cache._trim(tmp_path, 10_000)      # under the limit: kept
    assert len(list(tmp_path.iterdir())) == len(kept)


def test_start_makes_a_folder_of_its_own(tmp_path, monkeypatch):
    environ = {"KMEANS_TF_CACHE_DIR": str(tmp_path),
               "TF_XLA_FLAGS": "--tf_xla_min_cluster_size=4"}
    private, loads = _compile_cache.start(environ)
    assert loads and private.parent == tmp_path and private.is_dir()
    assert environ["TF_XLA_FLAGS"] == (
        f"--tf_xla_min_cluster_size=4 {_compile_cache.FLAG}={private}")
    # A relative path is made absolute: TensorFlow would take it from
    # wherever the program has moved to by the time it compiles.
    monkeypatch.chdir(tmp_path)
    relative, _ = _compile_cache.start({"KMEANS_TF_CACHE_DIR": "rel"})
    assert relative.is_absolute() and relative.parent == tmp_path / "rel"


def test_start_leaves_the_users_choice_alone(tmp_path):
    own = {"TF_XLA_FLAGS": f"{_compile_cache.FLAG}={tmp_path}"}
    assert _compile_cache.start(dict(own)) == (None, True)
    off = {"KMEANS_TF_CACHE_DIR": ""}
    assert _compile_cache.start(off) == (None, False)
    assert "TF_XLA_FLAGS" not in off
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cannot = {"KMEANS_TF_CACHE_DIR": str(a_file / "cache")}
    assert _compile_cache.start(cannot) == (None, False)
    # TensorFlow cuts its flags at spaces, so a folder with one is off.
    spaced = {"KMEANS_TF_CACHE_DIR": str(tmp_path / "my cache")}
    assert _compile_cache.start(spaced) == (None, False)
    assert "TF_XLA_FLAGS" not in spaced
    assert not list(tmp_path.glob("**/.process-*"))


def test_folders_of_ended_processes_are_removed(tmp_path):
    ended = subprocess.run([sys.executable, "-c",
                            "import os; print(os.getpid())"],
                           capture_output=True, text=True)
    host = _compile_cache.socket.gethostname()
    gone = tmp_path / f".process-{host}-{int(ended.stdout)}-abc_1234"
    alive = tmp_path / f".process-{host}-{os.getpid()}-abc_1234"
    gone.mkdir()
    alive.mkdir()
    _compile_cache._remove_abandoned(tmp_path)
    assert not gone.exists() and alive.exists()


@pytest.mark.skipif(not hasattr(os, "link"), reason="no hard links here")
def test_only_new_whole_programs_are_shared(tmp_path):
    private = tmp_path / ".process-x-1-y"
    private.mkdir()
    shared = _compile_cache.link_shared(private, "test")
    # One whole program already shared, one cut short there; then one
    # whole and one half-written by this process.
    program = (b"\x0a\x02ab" + b"\x12\x01c" + b"\x1a\x03def")
    names = [f"xla_compile_cache__{i}__{i}__XLA_CPU_JIT.pb" for i in range(4)]
    (shared / names[0]).write_bytes(program)
    (shared / names[1]).write_bytes(program[:-1])
    assert _compile_cache.link_shared(private, "test") == shared
    assert sorted(p.name for p in private.iterdir()) == [names[0]]
    assert sorted(p.name for p in shared.iterdir()) == [names[0]]
    (private / names[2]).write_bytes(program)
    (private / names[3]).write_bytes(program[:5])
    _compile_cache.publish(private, shared)
    assert sorted(p.name for p in shared.iterdir()) == names[0:3:2]
    assert sorted(p.name for p in private.iterdir()) == names[0:4:3]
    _compile_cache.finish(private, shared)
    assert not private.exists()
    assert (shared / names[0]).read_bytes() == program
    assert (shared / names[2]).read_bytes() == program
