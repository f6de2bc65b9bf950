"""Worker processes for sweeps and report plots: one home for how they are started."""
from __future__ import annotations

import multiprocessing as mp

#: modules a fork server imports once, so every worker it forks starts with them loaded
PRELOAD = ["backtester.sweep.runner", "strategies"]


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
    return ctx
