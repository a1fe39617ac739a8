"""TensorFlow, imported once without its start-up lines on the terminal,
with XLA's compiled programs kept on disk between processes
(`_compile_cache`); and `Traced`, a tf.function that is quick to call.

Every module of the package takes `tf` from here, so the first import of
`kmeans_tf` is the one that loads TensorFlow, and it loads it quietly.
"""
import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import threading

from . import _compile_cache


@contextlib.contextmanager
def _stderr_captured(replay):
    """Point file descriptor 2 at a temporary file for the block, and
    always put it back; then write `replay(text, failed)` to it, where text
    is what the block wrote there and failed says if it raised.

    TensorFlow's C++ side writes its log lines straight to the descriptor,
    past Python's sys.stderr and past any log level set once it runs.
    """
    _flush(sys.stderr)
    try:
        saved_stderr = os.dup(2)
    except OSError:                     # no descriptor 2: nothing to hide
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            _flush(sys.stderr)
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            text = replay(captured.read().decode(errors="replace"), failed)
            data = text.encode()
            while data:
                data = data[os.write(2, data):]


def _flush(stream):
    """Flush Python's buffer of `stream` (None without a console), so
    that what was written before goes before the descriptor changes."""
    if stream is not None:
        stream.flush()


def _import_tensorflow_quietly():
    """Import TensorFlow without its start-up log lines reaching the terminal.

    TensorFlow writes notices (oneDNN, CUDA, absl) while it loads, before
    any log level applies, so for the import alone its lines go to a
    temporary file, shown only if the import fails. After the import,
    TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's info and warning lines but
    not its errors. The compile cache is set up first: TensorFlow reads
    TF_XLA_FLAGS when it first looks for devices.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    users_flags = os.environ.get("TF_XLA_FLAGS")
    private, loads_programs = _compile_cache.start()
    if private is not None:
        # Removed at exit, whatever happens below.
        atexit.register(shutil.rmtree, private, ignore_errors=True)
    try:
        with _stderr_captured(lambda text, failed: text if failed else ""):
            import tensorflow
            # Looking for devices is the rest of the start-up: the CUDA
            # probe logs an error on a machine without a GPU. TensorFlow
            # has read TF_XLA_FLAGS by its end.
            tensorflow.config.list_physical_devices()
    finally:
        # A child process inherits the variable, and must not write into
        # this process's folder (one that imports kmeans_tf makes its own).
        if users_flags is None:
            os.environ.pop("TF_XLA_FLAGS", None)
        else:
            os.environ["TF_XLA_FLAGS"] = users_flags
    folders = None
    if private is not None:
        shared = _compile_cache.link_shared(private, tensorflow.__version__)
        folders = private, shared
        atexit.register(_compile_cache.finish, private, shared)
    return tensorflow, loads_programs, folders


tf, _LOADS_PROGRAMS, _CACHE_FOLDERS = _import_tensorflow_quietly()

# One first call at a time has file descriptor 2 (see Traced); the same
# thread may nest them.
_first_call_lock = threading.RLock()


def _without_load_noise(text, failed):
    """`text` without TensorFlow's wrong error lines about loading a
    program from the cache (`_compile_cache.is_load_noise`)."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not _compile_cache.is_load_noise(line))


class Traced:
    """tf.function(python_function, **options), called through its traces.

    On every call, a tf.function works out which of its traces (concrete
    functions) takes these arguments, comparing their types with each
    trace's: for the nested arguments of Lloyd's loop, 1.9 ms a call
    (measured, 2 cores, without iterating), against 0.4 ms to call the
    trace itself, about a tenth of a 20-iteration run at 1,000,000 x 2,
    k=3, whose loop, final assignment and centring are three such calls.
    So each trace is kept here under a key of the arguments' shapes and
    dtypes (Python values as they are), which takes microseconds, and
    called directly. The tf.function is `function`.

    AutoGraph is off: the engine writes its loops and branches as
    tf.while_loop and tf.cond itself, so rewriting the Python source of
    every traced function, which AutoGraph does, would only cost time:
    about 2 s of a first fit's 2.8 s at 2,000 x 2 (measured, 2 cores).

    A trace's first call is where XLA compiles it (with jit_compile), or
    loads it from the cache on disk, and TensorFlow logs error lines as
    it loads that are wrong (see `_compile_cache`): so with the cache on,
    a first call's stderr goes through `_without_load_noise`, and then
    what it compiled goes to the shared folder. A trace is kept only once
    its first call returns, so that a call again after an error (an
    interrupt) goes the same way.
    """

    def __init__(self, python_function, **options):
        self.function = tf.function(python_function, autograph=False,
                                    **options)
        self._traces = {}
        self._quiet_first_call = (_LOADS_PROGRAMS
                                  and bool(options.get("jit_compile")))

    def __call__(self, *args):
        key = _key(args)
        trace = self._traces.get(key)
        if trace is None:
            trace = self.function.get_concrete_function(*args)
            if self._quiet_first_call:
                with _first_call_lock:
                    with _stderr_captured(_without_load_noise):
                        result = trace(*args)
                    if _CACHE_FOLDERS is not None:
                        _compile_cache.publish(*_CACHE_FOLDERS)
                self._traces[key] = trace
                return result
            self._traces[key] = trace
        return trace(*args)


def _key(value):
    """What picks a trace for `value`: a tensor's shape and dtype, the
    keys of a tuple's or list's items, else the value itself (hashable:
    None, numbers, a NamedTuple of options)."""
    if isinstance(value, tf.Tensor):
        return tuple(value.shape), value.dtype
    if isinstance(value, (tuple, list)):
        return type(value), tuple(_key(item) for item in value)
    return value
