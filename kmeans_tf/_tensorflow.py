"""TensorFlow, imported once without its start-up lines on the terminal;
and `Traced`, a tf.function that is quick to call.

Every module of the package takes `tf` from here, so the first import of
`kmeans_tf` is the one that loads TensorFlow, and it loads it quietly.
"""
import os
import sys
import tempfile


def _import_tensorflow_quietly():
    """Import TensorFlow without its start-up log lines reaching the terminal.

    TensorFlow's C++ side writes notices (oneDNN, CUDA, absl) straight to file
    descriptor 2 while it loads, before any log level applies, so for the
    import alone we point that descriptor at a temporary file, and always
    put it back. If the import fails, what it wrote is shown after all.
    After the import, TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's info and
    warning lines but not its errors.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
            # Looking for devices is the rest of the start-up: the CUDA
            # probe logs an error on a machine without a GPU.
            tensorflow.config.list_physical_devices()
        except BaseException:
            os.dup2(saved_stderr, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
    return tensorflow


tf = _import_tensorflow_quietly()


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
    """

    def __init__(self, python_function, **options):
        self.function = tf.function(python_function, autograph=False,
                                    **options)
        self._traces = {}

    def __call__(self, *args):
        key = _key(args)
        trace = self._traces.get(key)
        if trace is None:
            trace = self.function.get_concrete_function(*args)
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
