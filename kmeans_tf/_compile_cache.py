"""XLA's compiled programs kept on disk, so that the next process loads
them instead of compiling them again.

The engine compiles its loops with XLA for each new shape of data, and
that takes seconds: a first fit at 100,000 x 16, k=256 took 6.6 s, and
the same fit in a new process took 6.6 s again (2-core AMD EPYC,
TensorFlow 2.21). TensorFlow can save each program XLA compiles and load
it in a later process (`TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=
DIR`): the new process's first fit then took 2.95 s, the rest being the
tracing and the lowering to XLA, whose result is what a program is
found by. `start` turns that on, in the user's cache folder, and makes
it safe to share between processes:

- TensorFlow writes a program's file in place, and a process that reads
  a file still being written, or one left half-written by a process that
  was killed, fails its compile, and so its fit. So TensorFlow reads and
  writes a folder of this process's own, which starts with a hard link
  to every file of the shared folder; at exit, the files this process
  wrote move into the shared folder, each by one rename, which is atomic:
  the shared folder only ever holds whole files.
- The shared folder is one per TensorFlow version and per processor:
  code compiled for instructions another machine lacks would crash there.
- It is trimmed to SIZE_LIMIT bytes, least recently used first, as each
  process starts.
- TensorFlow logs two kinds of error lines as it loads a program, both
  wrong here, which `is_load_noise` picks out for `_tensorflow` to drop.

`KMEANS_TF_CACHE_DIR=PATH` puts the cache in PATH; `KMEANS_TF_CACHE_DIR=`
(empty) turns it off. A `--tf_xla_persistent_cache_directory` of your own
in TF_XLA_FLAGS is used as it is, and then none of the above applies.
TensorFlow reads TF_XLA_FLAGS once, when it first needs them, so `start`
runs before `kmeans_tf` looks for devices: if your program used
TensorFlow (not just imported it) before importing `kmeans_tf`, nothing
is cached.
"""
import hashlib
import os
import platform
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

SIZE_LIMIT = 256 * 2**20  # bytes of programs kept (about 1.5 MB each)
FREE_SPACE_NEEDED = 2**30  # TensorFlow fails the compile if a write fails
FLAG = "--tf_xla_persistent_cache_directory"
_ENTRY = "xla_compile_cache__*.pb"  # how TensorFlow names a program's file
_MINE = "KMEANS_TF_CACHE_FLAG"  # the flag this package added, for children


def start(environ=os.environ):
    """Make a folder of this process's own for XLA's programs, and point
    TensorFlow at it through TF_XLA_FLAGS in `environ`.

    Returns the folder, or None when there is no cache or the user chose
    a folder of their own, with whether XLA's programs will be loaded
    from disk (by either). A child process inherits TF_XLA_FLAGS: the
    flag added here is marked (KMEANS_TF_CACHE_FLAG), so that the child
    makes a folder of its own instead of writing into this one. Never
    raises: without a cache, XLA compiles as before.
    """
    flags = environ.get("TF_XLA_FLAGS", "")
    inherited = environ.pop(_MINE, None)
    if inherited and inherited in flags:
        flags = " ".join(flags.replace(inherited, " ").split())
        environ["TF_XLA_FLAGS"] = flags
    if FLAG in flags:
        return None, True               # the user's own folder
    root = cache_root(environ)
    if root is None:
        return None, False
    try:
        root.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(root).free < FREE_SPACE_NEEDED:
            return None, False
        _remove_abandoned(root)
        private = Path(tempfile.mkdtemp(
            prefix=f".process-{socket.gethostname()}-{os.getpid()}-",
            dir=root))
    except OSError:
        return None, False
    own_flag = f"{FLAG}={private}"
    environ["TF_XLA_FLAGS"] = f"{flags} {own_flag}".strip()
    environ[_MINE] = own_flag
    return private, True


def link_shared(private, tensorflow_version):
    """Fill `private` with hard links to the shared folder's programs for
    `tensorflow_version` on this processor, after trimming that folder,
    and return the shared folder, for `finish`. Called once TensorFlow is
    imported (its version names the folder) and before anything compiles.
    """
    shared = private.parent / f"xla-{tensorflow_version}-{_processor()}"
    try:
        shared.mkdir(exist_ok=True)
        _trim(shared, SIZE_LIMIT)
        for entry in shared.glob(_ENTRY):
            os.link(entry, private / entry.name)
    except (OSError, AttributeError):  # no hard links here: start afresh
        for entry in private.glob(_ENTRY):
            entry.unlink()
    return shared


def finish(private, shared):
    """Move the programs this process compiled from `private` into
    `shared`, each by one rename, and remove `private`. If a compile
    failed in this process, nothing moves: a write that failed half-way
    (a full disk) would leave a file that fails every later load."""
    if not _compile_failed:
        try:
            for entry in private.glob(_ENTRY):
                # A linked file has a second link, in `shared`; a new one
                # has only this one.
                if entry.stat().st_nlink == 1:
                    os.replace(entry, shared / entry.name)
        except OSError:
            pass
    _remove(private)


def cache_root(environ=os.environ):
    """The folder the cache lives in, or None when it is turned off."""
    chosen = environ.get("KMEANS_TF_CACHE_DIR")
    if chosen is not None:
        return Path(chosen).expanduser() if chosen.strip() else None
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kmeans_tf"


# TensorFlow 2.21's lines as it loads a program (both logged as errors):
# it tries the file as text before reading it as binary, and it compares
# the processor's features with those the program was compiled for,
# including LLVM's tuning flags prefer-no-gather and prefer-no-scatter,
# which are not instructions, so they are never among the processor's.
_LOAD_NOISE = re.compile(
    r"text_format\.cc:\d+\] Error parsing text-format "
    r"tensorflow\.XlaSerializedCacheEntry"
    r"|cpu_aot_loader\.cc:\d+\] Loading XLA:CPU AOT result\. Target machine"
    r" feature \+prefer-no-(gather|scatter) is not +supported")


def compile_failed():
    """Note that a compile failed in this process (see `finish`)."""
    _compile_failed.append(True)


def is_load_noise(line):
    """Whether `line` is one of TensorFlow's wrong error lines about a
    program loaded from the cache."""
    return _LOAD_NOISE.search(line) is not None


_compile_failed = []


def _processor():
    """A short hash of what this processor can run: its model and its
    instruction-set flags (from /proc/cpuinfo where there is one)."""
    description = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "model name", "Features")):
                    description += line
                if line.strip() == "":
                    break               # the first processor is enough
    except OSError:
        pass
    return hashlib.sha256(description.encode()).hexdigest()[:12]


def _trim(shared, limit):
    """Delete the least recently used programs in `shared` until they
    take at most three quarters of `limit`, if they take more than it."""
    entries = []
    for entry in shared.glob(_ENTRY):
        try:
            status = entry.stat()
        except OSError:
            continue                    # another process trimmed it
        entries.append((max(status.st_atime, status.st_mtime),
                        status.st_size, entry))
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return
    for _, size, entry in sorted(entries):
        entry.unlink(missing_ok=True)
        total -= size
        if total <= limit * 3 // 4:
            return


def _remove_abandoned(root):
    """Remove the folders of processes on this machine that ended
    without `finish` (killed), and any older than a week."""
    host = socket.gethostname()
    week_ago = time.time() - 7 * 24 * 3600
    for folder in root.glob(".process-*"):
        _, _, rest = folder.name.partition("-")
        owner, _, pid = rest.rpartition("-")[0].rpartition("-")
        mine = owner == host and pid.isdigit()
        try:
            old = folder.stat().st_mtime < week_ago
        except OSError:
            continue                    # another process removed it
        if old or (mine and not _alive(int(pid))):
            _remove(folder)


def _alive(pid):
    """Whether a process `pid` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True                     # it runs, as another user
    return True


def _remove(folder):
    shutil.rmtree(folder, ignore_errors=True)
