"""Many runs on one prepared dataset, the plan-only ones in one kernel call.

A plan-only strategy (targets from ``init``, no ``on_decision``) needs no Python while it runs,
so a batch of them goes to the kernel at once (:func:`~backtester.kernel.batch_nb.run_batch_nb`,
one call per thread, without the GIL) over the shared market arrays. This is how a sweep of
``MaCross`` parameters uses every core of one process, with no worker processes and no copies.

Each run of a batch gives exactly the records it gives alone (the tests compare them field by
field), whatever the number of threads.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from backtester.batch import run_many
>>> from backtester.driver import Prepared
>>> from strategies import MaCross
>>> prepared = Prepared.build(dl.sample("btcusdt-tape"), bt.SimConfig())
>>> results = run_many([MaCross(fast=f, slow=120) for f in (10, 20, 30)], prepared)
>>> [round(r.stats()["total_return"], 3) for r in results]           # doctest: +SKIP
[-0.46, -0.31, -0.27]
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .driver import Prepared, _hybrid, engine_for, is_fast_path
from .engine import Engine
from .kernel import enums as E
from .kernel.batch_nb import new_list_nb, push_nb, run_batch_nb
from .result import Result
from .strategy import Strategy

__all__ = ["run_engines", "run_many"]


def _typed_list(items: list):
    """``items`` as a ``numba.typed.List`` (built by cached compiled code: see ``new_list_nb``)."""
    out = new_list_nb(items[0])
    for item in items[1:]:
        push_nb(out, item)
    return out


def _threads(n_threads) -> int:
    if n_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not isinstance(n_threads, (int, np.integer)) or isinstance(n_threads, bool) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive int or None, got {n_threads!r}")
    return int(n_threads)


def run_engines(engines: list[Engine], n_threads: int | None = None) -> float:
    """Run fast-path engines to the end: one kernel call per thread, over shared inputs.

    The runs are dealt round-robin to ``n_threads`` threads; each thread hands its runs to
    :func:`~backtester.kernel.batch_nb.run_batch_nb` in one call, which releases the GIL, so
    the threads run on separate cores. Runs whose record buffers fill up are grown and only
    they re-enter the kernel.

    Parameters
    ----------
    engines : list of Engine
        Fast-path engines (:func:`~backtester.driver.is_fast_path`), not yet run.
    n_threads : int, optional
        Threads (and kernel calls) to split the batch over; default: every core this process
        may use. Never more than there are runs.

    Returns
    -------
    float
        Wall time spent in the kernel, seconds.

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> from backtester.driver import Prepared, engine_for
    >>> from strategies import MaCross
    >>> prepared = Prepared.build(dl.sample("btcusdt-tape"), bt.SimConfig())
    >>> engines = [engine_for(MaCross(fast=f, slow=30), prepared) for f in (3, 5)]
    >>> seconds = run_engines(engines, n_threads=2)
    >>> [int(e.state.counters[0]) == len(prepared.inputs.ev_ts) for e in engines]
    [True, True]
    """
    n_threads = _threads(n_threads)
    for i, engine in enumerate(engines):
        if not is_fast_path(engine):
            raise ValueError(f"engine {i} runs in hook mode (its strategy has on_decision); "
                             "only plan-only runs can share a kernel call")
    if not engines:
        return 0.0
    inps = _typed_list([e.inputs for e in engines])
    codes = np.full(len(engines), -1, np.int64)
    todo = np.arange(len(engines), dtype=np.int64)
    spent = 0.0
    while todo.size:
        sts = _typed_list([e.state for e in engines])  # rebuilt: growing replaces arrays
        # contiguous: one compiled signature whatever the split
        parts = [np.ascontiguousarray(todo[i::n_threads]) for i in range(min(n_threads, todo.size))]
        t0 = time.perf_counter()
        if len(parts) == 1:
            run_batch_nb(inps, sts, parts[0], codes)
        else:
            with ThreadPoolExecutor(len(parts)) as pool:
                for f in [pool.submit(run_batch_nb, inps, sts, part, codes) for part in parts]:
                    f.result()
        spent += time.perf_counter() - t0
        done = codes[todo]
        stuck = todo[(done != E.EXIT_DONE) & (done != E.EXIT_FULL)]
        if stuck.size:
            raise RuntimeError(f"engine {int(stuck[0])}: the kernel stopped with code {int(codes[stuck[0]])} "
                               "(a fast-path run ends with EXIT_DONE)")
        todo = todo[done == E.EXIT_FULL]
        for r in todo:
            engines[r].make_room()
    return spent


def run_many(strategies: list[Strategy], prepared: Prepared, *, n_threads: int | None = None,
             errors: str = "raise") -> list:
    """Run each strategy on ``prepared``: the plan-only ones together in one kernel call.

    Parameters
    ----------
    strategies : list of Strategy
        Instances; each is run once (its ``init`` is called here).
    prepared : backtester.driver.Prepared
        The dataset under one config, shared by every run.
    n_threads : int, optional
        Threads to split the plan-only runs over, one kernel call each (default: every core).
    errors : {'raise', 'return'}
        ``'return'``: a run that raises gives its exception in its place in the list instead
        of stopping the others.

    Returns
    -------
    list
        One :class:`~backtester.result.Result` per strategy, in order (or the exception, with
        ``errors='return'``). Each equals :func:`backtester.run` of that strategy alone.
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    out: list = [None] * len(strategies)
    batch: list[int] = []
    engines: dict[int, Engine] = {}
    for i, strategy in enumerate(strategies):
        try:
            engines[i] = engine_for(strategy, prepared)
        except Exception as exc:
            if errors == "raise":
                raise
            out[i] = exc
            continue
        if is_fast_path(engines[i]):
            batch.append(i)
    run_engines([engines[i] for i in batch], n_threads)
    batched = set(batch)
    for i, engine in engines.items():
        try:
            if i not in batched:
                _hybrid(engine, strategies[i], False)
            out[i] = Result(engine, strategies[i], prepared.data, prepared.config)
        except Exception as exc:
            if errors == "raise":
                raise
            out[i] = exc
    return out
