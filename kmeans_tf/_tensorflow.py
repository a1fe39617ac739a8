"""TensorFlow, imported once without its start-up lines on the terminal.

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
