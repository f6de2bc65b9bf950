"""Many fast-path runs in one kernel call.

A sweep of a plan-only strategy is many runs over the same market arrays that differ only in
their decisions and targets. ``run_batch_nb`` runs them in one call, spread over numba's
threads (``prange``): the inputs are shared read-only, each run writes only its own state, so
the runs are independent and each gives exactly what it gives alone.

Why threads over runs and not one pass over the events for all runs: on a million-trade tape a
``MaCross`` run spends ~15 ms walking the events and ~40 ms in its own fills, orders and
margin checks, so a shared walk would save little, while the run axis would have to reach into
every state array and every ``*_nb`` function.
"""
import numpy as np
from numba import njit, prange

from .loop_nb import run_nb


@njit(parallel=True, cache=True)
def run_batch_nb(inps, sts, todo, codes):
    """Run ``run_nb(inps[r], sts[r])`` for every ``r`` in ``todo``, in parallel; write each
    run's exit code to ``codes[r]``.

    ``inps`` and ``sts`` are ``numba.typed.List`` of ``Inputs`` and ``State``; the inputs must
    be fast-path ones (targets in ``tg_value``): a decision hook cannot run in a worker thread.
    """
    for j in prange(todo.shape[0]):
        r = todo[j]
        codes[r] = np.int64(run_nb(inps[r], sts[r]))
