"""TensorFlow, imported once without its start-up lines on the terminal.

Every module of the package takes `tf` from here, so the first import of
`kmeans_tf` is the one that loads TensorFlow, and it loads it quietly.
"""
import os


def _import_tensorflow_quietly():
    """Import TensorFlow without its start-up log lines reaching the terminal.

    TensorFlow's C++ side writes notices (oneDNN, CUDA, absl) straight to file
    descriptor 2 while it loads, before any log level applies, so we point
    that descriptor at /dev/null for the import alone, and always put it back:
    errors raised later in the run still reach the terminal.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    return tensorflow


tf = _import_tensorflow_quietly()
