"""Worker processes for sweeps and report plots: one home for how they are started, and for
their leaving when the process that started them dies."""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time

#: modules a fork server imports once, so every worker it forks starts with them loaded
PRELOAD = ["backtester.sweep.runner", "strategies"]
#: seconds between a worker's checks that the process that started it is still alive
PARENT_POLL_S = 1.0
#: exit status of a worker that left because its parent died
EXIT_PARENT_GONE = 3


def context():
    """A multiprocessing context that starts fresh worker processes.

    Forking a process that already runs pyarrow, tqdm or kernel threads is unsafe (a lock held
    by another thread stays held in the child). Where available, a fork server that has
    imported the backtester once forks the workers (about 1.5 s less start-up than spawn on a
    2-core machine); neither re-runs the caller's ``__main__``.
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # used if the server starts now
    _start_forkserver()
    return ctx


_START_LOCK = threading.Lock()


def _start_forkserver() -> None:
    """Start the fork server with this process's ``sys.path``.

    The server is ``python -c ...``: Python puts the working directory first on its path and,
    up to 3.12, ignores the ``sys_path`` multiprocessing hands it. Started from a project
    folder, the workers would import that folder's ``backtester`` instead of the installed one
    this process runs (a second compile, possibly other code). The environment is changed
    only while the server starts, so nothing else this process launches sees it.
    """
    from multiprocessing import forkserver

    with _START_LOCK:
        saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PYTHONSAFEPATH")}
        os.environ["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        os.environ["PYTHONSAFEPATH"] = "1"  # no working directory ahead of that path
        try:
            forkserver.ensure_running()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def pool(n: int):
    """A ``ProcessPoolExecutor`` of ``n`` fresh workers (:func:`context`) that exit by
    themselves when this process dies (killed, out of memory, a notebook restart), instead of
    waiting for work forever."""
    import concurrent.futures as cf

    return cf.ProcessPoolExecutor(n, mp_context=context(), initializer=exit_with_parent,
                                  initargs=(os.getpid(),))


def exit_with_parent(owner_pid: int) -> None:
    """Worker initializer: a daemon thread ends this process when ``owner_pid`` (the process
    that made the pool) or this process's own parent (a fork server, which exits with the
    owner) is gone."""
    parent = os.getppid()
    threading.Thread(target=_watch, args=(owner_pid, parent), daemon=True, name="backtester-exit-with-parent").start()


def _watch(owner_pid: int, parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent or not alive(owner_pid):
            os._exit(EXIT_PARENT_GONE)  # no cleanup to run: the work was the dead parent's


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (killed, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (not Linux): kill(0) is all we know
        return True
