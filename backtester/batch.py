"""Many runs on one prepared dataset, the plan-only ones in one kernel call.

A plan-only strategy (targets from ``init``, no ``on_decision``) needs no Python while it runs,
so a batch of them goes to the kernel at once (:func:`~backtester.kernel.batch_nb.run_batch_nb`)
and runs on numba's threads over the shared market arrays. This is how a sweep of ``MaCross``
parameters uses every core of one process, with no worker processes and no data copies.

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

import time
from contextlib import contextmanager

import numba
import numpy as np
from numba import typed

from .driver import Prepared, _hybrid, engine_for, is_fast_path
from .engine import Engine
from .kernel import enums as E
from .kernel.batch_nb import run_batch_nb
from .result import Result
from .strategy import Strategy

__all__ = ["run_engines", "run_many", "threads"]


@contextmanager
def threads(n: int | None):
    """Use ``n`` numba threads inside the block (``None``: leave numba's setting).

    ``n`` is clipped to ``[1, NUMBA_NUM_THREADS]``; the previous setting is restored on exit.

    Examples
    --------
    >>> with threads(1):
    ...     numba.get_num_threads()
    1
    """
    if n is None:
        yield
        return
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"threads must be a positive int or None, got {n!r}")
    old = numba.get_num_threads()
    numba.set_num_threads(int(min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def run_engines(engines: list[Engine], n_threads: int | None = None) -> float:
    """Run fast-path engines to the end in one kernel call, in parallel over numba threads.

    Buffers that fill up are grown and only those runs re-enter the kernel, so a batch costs
    one call unless a run outgrows its initial record buffers.

    Parameters
    ----------
    engines : list of Engine
        Fast-path engines (:func:`~backtester.driver.is_fast_path`), not yet run.
    n_threads : int, optional
        Numba threads for the call; default: numba's setting (every core, or
        ``NUMBA_NUM_THREADS``).

    Returns
    -------
    float
        Wall time spent in the kernel, seconds.
    """
    for i, engine in enumerate(engines):
        if not is_fast_path(engine):
            raise ValueError(f"engine {i} runs in hook mode (its strategy has on_decision); "
                             "only plan-only runs can share a kernel call")
    if not engines:
        return 0.0
    inps = typed.List([e.inputs for e in engines])
    codes = np.full(len(engines), -1, np.int64)
    todo = np.arange(len(engines), dtype=np.int64)
    spent = 0.0
    with threads(n_threads):
        while todo.size:
            sts = typed.List([e.state for e in engines])  # rebuilt: growing replaces arrays
            t0 = time.perf_counter()
            run_batch_nb(inps, sts, todo, codes)
            spent += time.perf_counter() - t0
            done = codes[todo]
            if np.any((done != E.EXIT_DONE) & (done != E.EXIT_FULL)):
                bad = int(todo[(done != E.EXIT_DONE) & (done != E.EXIT_FULL)][0])
                raise RuntimeError(f"engine {bad}: the kernel stopped with code {int(codes[bad])} "
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
        Numba threads for the batched kernel call (default: numba's setting, every core).
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
