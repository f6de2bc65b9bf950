"""Many fast-path runs in one kernel call.

A sweep of a plan-only strategy is many runs over the same market arrays that differ only in
their decisions and targets. ``run_batch_nb`` runs a list of them in one call. It releases the
GIL (``nogil=True``), so the Python side (:func:`backtester.batch.run_engines`) spreads a batch
over a few threads, one call each, over the same read-only inputs; each run writes only its own
state, so a run gives exactly what it gives alone.

Why runs side by side and not one pass over the events for all runs: on a million-trade tape a
``MaCross`` run spends ~15 ms walking the events and the rest in its own fills, orders and
margin checks, so a shared walk would save little, while a run axis would have to reach into
every state array and every ``*_nb`` function. And why threads from Python rather than numba's
``prange``: the parallel version takes ~4x longer to compile (about 22 s against 6 s, once per
install) and brings a threading layer whose OpenMP flavour is not fork-safe.
"""
import numpy as np
from numba import njit
from numba.typed import List

from .loop_nb import run_nb


@njit(cache=True, nogil=True)
def run_batch_nb(inps, sts, todo, codes):
    """Run ``run_nb(inps[r], sts[r])`` for every ``r`` in ``todo``, in order; write each run's
    exit code to ``codes[r]``.

    ``inps`` and ``sts`` are ``numba.typed.List`` of ``InputsRef`` and ``StateRef``; the inputs must
    be fast-path ones (targets in ``tg_value``): a decision hook needs the GIL and one run at a
    time.
    """
    for j in range(todo.shape[0]):
        r = todo[j]
        codes[r] = np.int64(run_nb(inps[r], sts[r]))


@njit(cache=True)
def new_list_nb(first):
    """A ``numba.typed.List`` holding ``first``, built in compiled code so that the list's
    methods are compiled once and cached on disk (a ``typed.List`` made in Python compiles them
    again in every process, about 2 s for these item types)."""
    out = List()
    out.append(first)
    return out


@njit(cache=True)
def push_nb(lst, item):
    """Append ``item`` to a list from :func:`new_list_nb` (compiled and cached likewise)."""
    lst.append(item)
