"""Many runs on one prepared dataset, the plan-only ones on threads without the GIL.

A plan-only strategy (targets from ``init``, no ``on_decision``) needs no Python while it runs,
so a batch of them is dealt to a few threads, each calling the kernel
(:func:`~backtester.kernel.loop_nb.run_nb`, which releases the GIL) for its runs in turn over
the shared read-only market arrays. This is how a sweep of ``MaCross`` parameters uses every
core of one process, with no worker processes and no copies.

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

import numbers
import os
import threading
import time

from .driver import Prepared, _hybrid, engine_for, is_fast_path
from .engine import Engine
from .kernel import enums as E
from .kernel.loop_nb import run_nb
from .result import Result
from .strategy import Strategy

__all__ = ["run_engines", "run_many", "thread_count"]


def thread_count(n_threads: int | None = None) -> int:
    """``n_threads`` checked, or every core this process may use when None."""
    if n_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not isinstance(n_threads, numbers.Integral) or isinstance(n_threads, bool) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive int or None, got {n_threads!r}")
    return int(n_threads)


def run_engines(engines: list[Engine], n_threads: int | None = None, errors: str = "raise") -> list:
    """Run fast-path engines to the end, on threads over shared inputs.

    The runs are dealt round-robin to ``n_threads`` threads; each thread calls the kernel for
    its runs one after the other, and the kernel releases the GIL, so the threads run on
    separate cores (a call costs microseconds, a run milliseconds). Runs whose record buffers
    fill up are grown and go again. A run that fails (an exception in the kernel, no memory to
    grow its buffers) does not take the others with it.

    Parameters
    ----------
    engines : list of Engine
        Fast-path engines (:func:`~backtester.driver.is_fast_path`), not yet run, each with
        its own state.
    n_threads : int, optional
        Threads to split the batch over; default: every core this process may use. Never more
        than there are runs.
    errors : {'raise', 'return'}
        ``'raise'``: re-raise the first failure once every other run has finished.

    Returns
    -------
    list
        Per engine: the seconds of kernel wall time it took, or, with ``errors='return'``, the
        exception of a failed run.

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
    n_threads = thread_count(n_threads)
    _check_errors(errors)
    for i, engine in enumerate(engines):
        if not is_fast_path(engine):
            raise ValueError(f"engine {i} runs in hook mode (its strategy has on_decision); "
                             "only plan-only runs can share a kernel call")
    if len({id(e.state.counters) for e in engines}) < len(engines):
        raise ValueError("run_engines: an engine (or its state) is listed twice; each run needs its own state")
    out: list = [0.0] * len(engines)

    def run_part(part):  # in a thread: the kernel releases the GIL while it runs
        for r in part:
            t0 = time.perf_counter()
            try:
                while True:
                    code = run_nb(*refs[r])
                    if code != E.EXIT_FULL:
                        break
                    with grow_lock:  # growing is Python (numpy) work: one at a time
                        engines[r].make_room()
                        refs[r] = engines[r].refs()
                if code != E.EXIT_DONE:
                    raise RuntimeError(f"engine {r}: the kernel stopped with code {int(code)} "
                                       "(a fast-path run ends with EXIT_DONE)")
                out[r] = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - this run fails, the others go on
                out[r] = exc

    grow_lock = threading.Lock()
    refs = [e.refs() for e in engines]  # made here, in the calling thread
    parts = [list(range(i, len(engines), n_threads)) for i in range(min(n_threads, len(engines)))]
    if len(parts) == 1:
        run_part(parts[0])
    else:  # one thread per part (a pool may hand two parts to one thread that became idle)
        threads = [threading.Thread(target=run_part, args=(part,), name=f"backtester-run-{i}")
                   for i, part in enumerate(parts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors == "raise":
        for value in out:
            if isinstance(value, BaseException):
                raise value
    return out


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")


def run_many(strategies: list[Strategy], prepared: Prepared, *, n_threads: int | None = None,
             errors: str = "raise") -> list:
    """Run each strategy on ``prepared``; the plan-only ones share kernel calls.

    Each strategy's ``init`` is called in order. A strategy with ``on_decision`` is run at once
    by the hybrid driver (so whatever its ``init`` set up is still as it left it); the plan-only
    ones are run at the end together by :func:`run_engines`.

    Parameters
    ----------
    strategies : list of Strategy
        Instances; each is run once (its ``init`` is called here).
    prepared : backtester.driver.Prepared
        The dataset under one config, shared by every run.
    n_threads : int, optional
        Threads to split the plan-only runs over (default: every core).
    errors : {'raise', 'return'}
        ``'return'``: a run that raises gives its exception in its place in the list instead
        of stopping the others.

    Returns
    -------
    list
        One :class:`~backtester.result.Result` per strategy, in order (or the exception, with
        ``errors='return'``). Each equals :func:`backtester.run` of that strategy alone. Its
        ``elapsed_s`` attribute is the seconds the run took: ``init``, its kernel time (a
        batch's time split evenly between its runs) and building the Result.
    """
    _check_errors(errors)
    out: list = [None] * len(strategies)
    seconds = [0.0] * len(strategies)
    batch: dict[int, Engine] = {}
    for i, strategy in enumerate(strategies):
        t0 = time.perf_counter()
        try:
            engine = engine_for(strategy, prepared)
            if is_fast_path(engine):
                batch[i] = engine
            else:
                _hybrid(engine, strategy, False)
                out[i] = Result(engine, strategy, prepared.data, prepared.config)
        except Exception as exc:
            if errors == "raise":
                raise
            out[i] = exc
        seconds[i] = time.perf_counter() - t0
    kernel = run_engines(list(batch.values()), n_threads, errors)
    for (i, engine), spent in zip(batch.items(), kernel):
        if isinstance(spent, BaseException):
            out[i] = spent
            continue
        t0 = time.perf_counter()
        out[i] = Result(engine, strategies[i], prepared.data, prepared.config)
        seconds[i] += spent + time.perf_counter() - t0
    for res, spent in zip(out, seconds):
        if isinstance(res, Result):
            res.elapsed_s = spent
    return out
