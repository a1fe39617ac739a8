"""Local worker processes for MultiWorkerMirroredStrategy, run as a group.

`run(commands, timeout)` starts one process per command on this machine,
each told the whole cluster and its own place in it by TF_CONFIG, and waits
for all of them. If one fails or dies, or time runs out, it stops the
others at once (a worker whose peer is gone would wait forever in its next
all-reduce) and raises WorkerError with one line saying why. It does not
import TensorFlow.

On real machines the same programs run with a TF_CONFIG naming the
machines: see `tf_config`.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time


class WorkerError(Exception):
    """A worker failed, died or took too long; the message is one line."""


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tf_config(addresses, index):
    """The TF_CONFIG of worker `index` in a cluster of `addresses`
    ("host:port", one per worker, the same list on every machine)."""
    return json.dumps({"cluster": {"worker": list(addresses)},
                       "task": {"type": "worker", "index": index}})


def run(commands, timeout):
    """Run one worker per command (a list of arguments) on 127.0.0.1 and
    wait for all; raise WorkerError when one fails, dies or time runs out,
    after stopping the rest."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in commands]
    logs = [tempfile.TemporaryFile() for _ in commands]
    processes = []
    # SIGTERM would end this process at once, leaving the workers running
    # (their parent gone) and the caller's temporary files behind; as an
    # exception it runs the cleanup below, and the caller's, as Ctrl-C
    # does.
    # (Only the main thread may set a handler; elsewhere it is left be.)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main else None
    try:
        for index, (command, log) in enumerate(zip(commands, logs)):
            processes.append(subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=log,
                env={**os.environ,
                     "TF_CONFIG": tf_config(addresses, index)}))
        deadline = time.monotonic() + timeout
        while True:
            codes = [process.poll() for process in processes]
            for index, code in enumerate(codes):
                if code not in (None, 0):
                    raise WorkerError(
                        f"worker {index} {_why(code, logs[index])}")
            if all(code == 0 for code in codes):
                return
            if time.monotonic() > deadline:
                raise WorkerError(f"the workers took longer than {timeout} "
                                  f"s; stopped them")
            time.sleep(0.05)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
        if main:
            signal.signal(signal.SIGTERM, previous)


def _terminated(signum, frame):
    """SIGTERM's handler during `run`: exit, as the signal would, but
    through Python's cleanup."""
    raise SystemExit(128 + signum)


def _why(code, log):
    """One line on how a worker ended: its signal, or its last words."""
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    log.seek(0)
    lines = [line for line in log.read().decode(errors="replace")
             .splitlines() if line.strip()]
    return f"failed: {lines[-1].strip() if lines else f'exit status {code}'}"
