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
  a file still being written, or one cut short (a crash, a full disk),
  fails its compile, and so its fit, in that process and every later
  one. So TensorFlow reads and writes a folder of this process's own,
  which starts with a hard link to every file of the shared folder; after
  each compiled function's first call, when TensorFlow writes, `publish`
  moves each new file that `is_whole` into the shared folder, by one
  rename, which is atomic, once it is on the disk. The shared folder
  holds only whole files, and one that is not (it broke some other way)
  is removed as a process starts.
- The shared folder is one per TensorFlow version and per processor:
  code compiled for instructions another machine lacks would crash there.
- It is trimmed to SIZE_LIMIT bytes, least recently used first, as each
  process starts.
- TensorFlow logs error lines as it loads a program, which are wrong
  here: `is_load_noise` picks them out for `_tensorflow` to drop.

A program is found by a hash of its compiled function's name, which
counts the functions traced before it, and of its XLA program: so a
later run of the same program with data of the same shapes finds them,
and another program may not.

`KMEANS_TF_CACHE_DIR=PATH` puts the cache in PATH; `KMEANS_TF_CACHE_DIR=`
(empty) turns it off, as does a path with a space in it (TensorFlow cuts
its flags at spaces). A `--tf_xla_persistent_cache_directory` of your own
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

SIZE_LIMIT = 256 * 2**20  # bytes of programs kept (0.5 to 6 MB each)
FREE_SPACE_NEEDED = 2**30  # TensorFlow fails the compile if a write fails
FLAG = "--tf_xla_persistent_cache_directory"
_ENTRY = "xla_compile_cache__*.pb"  # how TensorFlow names a program's file


def start(environ=os.environ):
    """Make a folder of this process's own for XLA's programs, and point
    TensorFlow at it through TF_XLA_FLAGS in `environ`.

    Returns the folder, or None when there is no cache or the user chose
    a folder of their own, with whether XLA's programs will be loaded
    from disk (by either). The caller puts TF_XLA_FLAGS back once
    TensorFlow has read it, so that no child process, which inherits the
    variable, writes into this process's folder. Never raises: without a
    cache, XLA compiles as before.
    """
    flags = environ.get("TF_XLA_FLAGS", "")
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
    if any(character.isspace() for character in str(private)):
        # TensorFlow splits TF_XLA_FLAGS at spaces, and would write to
        # the path cut at the first one.
        _remove(private)
        return None, False
    environ["TF_XLA_FLAGS"] = f"{flags} {FLAG}={private}".strip()
    return private, True


def link_shared(private, tensorflow_version):
    """Fill `private` with hard links to the shared folder's programs for
    `tensorflow_version` on this processor, after trimming that folder
    and removing any file in it that is not whole, and return the shared
    folder, for `publish`. Called once TensorFlow is imported (its
    version names the folder) and before anything compiles.
    """
    shared = private.parent / f"xla-{tensorflow_version}-{_processor()}"
    try:
        shared.mkdir(exist_ok=True)
        _trim(shared, SIZE_LIMIT)
        for entry in shared.glob(_ENTRY):
            if is_whole(entry):
                os.link(entry, private / entry.name)
            else:                       # it would fail every fit that
                entry.unlink(missing_ok=True)   # loads it, until removed
    except (OSError, AttributeError):  # no hard links here: start afresh
        for entry in private.glob(_ENTRY):
            entry.unlink()
    return shared


def publish(private, shared):
    """Move the programs TensorFlow wrote to `private` into `shared`, each
    once it is whole and on the disk, by one rename.

    Called after each compiled function's first call, the only time
    TensorFlow writes, so that a process that never reaches its exit
    handlers (a worker of a multiprocessing pool, one ended by a signal)
    still shares what it compiled. A file TensorFlow left half-written
    (a full disk) is not whole, and stays where it is.
    """
    try:
        moved = False
        for entry in private.glob(_ENTRY):
            # A linked file has a second link, in `shared`; a new one has
            # only this one.
            if entry.stat().st_nlink == 1 and is_whole(entry):
                _sync(entry)
                os.replace(entry, shared / entry.name)
                moved = True
        if moved:
            _sync(shared)
    except OSError:
        pass


def finish(private, shared):
    """At exit: publish what is left in `private`, and remove it."""
    publish(private, shared)
    _remove(private)


def cache_root(environ=os.environ):
    """The folder the cache lives in, absolute, or None when it is off."""
    chosen = environ.get("KMEANS_TF_CACHE_DIR")
    if chosen is not None:
        if not chosen.strip():
            return None
        return Path(chosen).expanduser().absolute()
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).absolute() / "kmeans_tf"


def is_whole(path):
    """Whether the file at `path` is a whole program as TensorFlow writes
    it, as far as its outer structure shows.

    TensorFlow writes a protocol buffer, XlaSerializedCacheEntry: the key
    (field 1), the HLO (field 2), then the compiled program (field 3),
    each a length and that many bytes. A file cut short ends inside a
    field or before the program, and a file of other bytes does not come
    out as fields that end exactly at its end. TensorFlow fails the
    compile, and so the fit, on such a file; this check reads only the
    fields' headers.
    """
    lengths = {}
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            while file.tell() < size:
                key = _varint(file)
                number, wire_type = key >> 3, key & 7
                if wire_type == 0:
                    _varint(file)
                    length = 0
                elif wire_type == 2:
                    length = _varint(file)
                else:
                    length = {1: 8, 5: 4}.get(wire_type)
                if number == 0 or length is None or \
                        file.tell() + length > size:
                    return False
                lengths[number] = length
                file.seek(length, os.SEEK_CUR)
    except (OSError, ValueError):
        return False
    return lengths.get(1, 0) > 0 and lengths.get(3, 0) > 0


def _varint(file):
    """A protocol buffer's variable-length integer, read from `file`."""
    value = 0
    for shift in range(0, 64, 7):
        byte = file.read(1)
        if not byte:
            raise ValueError("the file ends inside a number")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise ValueError("a number longer than 64 bits")


def _sync(path):
    """Write `path` (a file, or a folder's list of names) to the disk, so
    that a rename after it cannot leave an empty file after a crash."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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


def is_load_noise(line):
    """Whether `line` is one of TensorFlow's wrong error lines about a
    program loaded from the cache."""
    return _LOAD_NOISE.search(line) is not None


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
