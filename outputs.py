"""Outputs written whole or not at all.

`check(paths)` refuses, before any work, an output that could not be
written safely. `write_all({path: write})` has each write(temporary) fill a
new file beside its output and renames them all over the outputs only once
every one is complete, so a failure, a full disk, SIGINT or SIGTERM leaves
the old files as they were and no temporary file behind.

    write_all({"labels.csv": lambda path: np.savetxt(path, labels, "%d")})
"""
import contextlib
import os
import secrets
import signal
import stat

# What may not stand where an output goes, by the test of its mode.
NOT_FILES = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
             (stat.S_ISSOCK, "a socket")]
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class OutputError(Exception):
    """An output cannot be written; the message names it, on one line."""


class _Signalled(BaseException):
    """SIGINT or SIGTERM came while the outputs were being written."""


def kind(path):
    """What is at path, links followed: None (nothing), "a file", or one of
    the NOT_FILES names. Raises OSError if path cannot be looked at."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(mode):
        return "a file"
    return next(name for is_kind, name in NOT_FILES if is_kind(mode))


def check(paths, inputs=()):
    """Raise OutputError unless every path can become a new regular file.

    Each must be a file or nothing (a link is followed, and judged by what
    it points to), in a folder that exists and is writable, none of the
    inputs, and no two the same file.
    """
    inputs = {os.path.realpath(path) for path in inputs}
    seen = set()
    for path in paths:
        target = os.path.realpath(path)
        folder = os.path.dirname(target)
        try:
            what = kind(target)
        except OSError as error:
            raise OutputError(f"{path}: {error.strerror}") from None
        if what not in (None, "a file"):
            raise OutputError(f"{path}: {what}, not a file; an output must "
                              f"be a file or not exist yet")
        if not os.path.isdir(folder):
            raise OutputError(f"{path}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"{path}: the folder {folder} is not writable")
        if target in inputs:
            raise OutputError(f"{path}: an output may not overwrite the "
                              f"input")
        if target in seen:
            raise OutputError(f"{path}: named twice as an output")
        seen.add(target)


def write_all(writers):
    """Write every output, or none: writers maps path -> write(temporary).

    Raises OutputError, naming the output, if a check or a write fails. A
    signal (SIGINT, SIGTERM) while writing ends the process by that signal,
    once the temporary files are gone. Call it from the main thread, where
    Python runs signal handlers.
    """
    check(writers)
    temporaries = {}    # output -> its temporary file, named before it exists
    arrived = []        # the signals that came

    def hold(signum, frame):
        arrived.append(signum)

    def interrupt(signum, frame):
        arrived.append(signum)
        raise _Signalled

    # Signals stop a write at once, but wait while the files are renamed or
    # removed: each output is then old or new, never missing.
    with _on_signals(hold):
        try:
            with _on_signals(interrupt):
                for path, write in writers.items():
                    temporaries[path] = _beside(path)
                    _write_new(path, temporaries[path], write)
            for path, temporary in temporaries.items():
                _attempt(path, os.replace, temporary, os.path.realpath(path))
        except BaseException as error:
            for temporary in temporaries.values():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
            if not isinstance(error, _Signalled):
                raise
    if arrived:
        signal.signal(arrived[0], signal.SIG_DFL)
        signal.raise_signal(arrived[0])


def _beside(path):
    """A new name in the folder of path's target, with its extension, which
    tells matplotlib and Pillow the picture format."""
    folder, name = os.path.split(os.path.realpath(path))
    stem, extension = os.path.splitext(name)
    return os.path.join(folder,
                        f".{stem}.part-{secrets.token_hex(8)}{extension}")


def _write_new(path, temporary, write):
    """write(temporary) into a new file, made as open() would make path,
    and put it on the disk."""
    # 0o666 less the umask, as for open(); an existing output keeps its mode
    # (set last, so that a read-only mode does not stop the write).
    handle = _attempt(path, os.open, temporary,
                      os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _attempt(path, write, temporary)
        if os.path.isfile(path):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        _attempt(path, os.fsync, handle)    # complete before it is renamed
    finally:
        os.close(handle)


def reason(error):
    """An exception as a short reason on one line: the system's words for
    an OSError ("No space left on device"), else its message's first line."""
    text = getattr(error, "strerror", None) or str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _attempt(path, action, *arguments):
    """action(*arguments), any failure an OutputError naming path."""
    try:
        return action(*arguments)
    except Exception as error:
        raise OutputError(f"{path}: could not write it ({reason(error)})") \
            from None


@contextlib.contextmanager
def _on_signals(handler):
    """Within, SIGINT and SIGTERM call handler(signum, frame)."""
    previous = [signal.signal(signum, handler) for signum in SIGNALS]
    try:
        yield
    finally:
        for signum, before in zip(SIGNALS, previous):
            signal.signal(signum, before)
