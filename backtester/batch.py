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
import queue
import threading
import time

from .driver import Prepared, _hybrid, engine_for, is_fast_path
from .engine import Engine
from .kernel import enums as E
from .kernel.loop_nb import run_nb
from .result import Result
from .strategy import Strategy

__all__ = ["KernelThreads", "iter_runs", "run_engines", "run_many", "thread_count"]


def thread_count(n_threads: int | None = None) -> int:
    """``n_threads`` checked, or every core this process may use when None."""
    if n_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not isinstance(n_threads, numbers.Integral) or isinstance(n_threads, bool) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive int or None, got {n_threads!r}")
    return int(n_threads)


class KernelThreads:
    """Threads that run fast-path engines to the end, each run dealt to the next thread in turn.

    The kernel releases the GIL, so the threads run side by side, and the thread that submits
    runs is free meanwhile (to set up the next run, or read the results of finished ones).
    Finished runs arrive on :attr:`done` as ``(key, seconds or exception)``. A run whose
    buffers fill up is grown and goes on; one that fails takes no other run with it.
    """

    def __init__(self, n_threads: int):
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self._todo = [queue.SimpleQueue() for _ in range(n_threads)]
        self._grow_lock = threading.Lock()
        self._dealt = 0
        self._threads = [threading.Thread(target=self._work, args=(q,), name=f"backtester-kernel-{i}", daemon=True)
                         for i, q in enumerate(self._todo)]
        for t in self._threads:
            t.start()

    def submit(self, key, engine: Engine) -> None:
        """Run ``engine`` (fast path, not yet run) on the next thread in turn."""
        self._todo[self._dealt % len(self._todo)].put((key, engine, engine.refs()))  # refs: made here
        self._dealt += 1

    def close(self) -> None:
        """Let every submitted run finish, then stop the threads."""
        for q in self._todo:
            q.put(None)
        for t in self._threads:
            t.join()

    def _work(self, todo) -> None:
        while (item := todo.get()) is not None:
            key, engine, refs = item
            self.done.put((key, self._run(engine, refs)))

    def _run(self, engine: Engine, refs):
        t0 = time.perf_counter()
        try:
            while (code := run_nb(*refs, engine.book_flag)) == E.EXIT_FULL:
                with self._grow_lock:  # growing is Python (numpy) work: one at a time
                    engine.make_room()
                    refs = engine.refs()
            if code != E.EXIT_DONE:
                raise RuntimeError(f"the kernel stopped with code {int(code)} (a fast-path run ends with EXIT_DONE)")
            return time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - this run fails, the others go on
            return exc


def run_engines(engines: list[Engine], n_threads: int | None = None, errors: str = "raise") -> list:
    """Run fast-path engines to the end, on threads over shared inputs.

    The runs are dealt round-robin to ``n_threads`` threads (:class:`KernelThreads`); each
    thread calls the kernel for its runs one after the other, and the kernel releases the GIL,
    so the threads run on separate cores (a call costs microseconds, a run milliseconds). Runs
    whose record buffers fill up are grown and go again. A run that fails (an exception in the
    kernel, no memory to grow its buffers) does not take the others with it.

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
    if not engines:
        return out
    pool = KernelThreads(min(n_threads, len(engines)))
    try:
        for i, engine in enumerate(engines):
            pool.submit(i, engine)
    finally:
        pool.close()
    while not pool.done.empty():
        i, outcome = pool.done.get()
        out[i] = outcome
    if errors == "raise":
        for value in out:
            if isinstance(value, BaseException):
                raise value
    return out


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")


def iter_runs(strategies: list[Strategy], prepared: Prepared, *, n_threads: int | None = None,
              errors: str = "raise"):
    """Run each strategy on ``prepared``, yielding ``(index, Result)`` as runs finish.

    Each strategy's ``init`` is called in order, in this thread. A plan-only run goes at once
    to :class:`KernelThreads`, so its kernel runs while the next strategies' ``init`` run here
    and while the caller reads the results already yielded (a sweep computes their stats). A
    strategy with ``on_decision`` is run here at once by the hybrid driver (so whatever its
    ``init`` set up is still as it left it).

    Parameters
    ----------
    strategies, prepared, n_threads, errors
        As :func:`run_many`; with ``errors='return'`` a failed run yields its exception.

    Yields
    ------
    (int, Result or Exception)
        In the order the runs finish. Each Result equals :func:`backtester.run` of that
        strategy alone; its ``elapsed_s`` is the seconds of its ``init``, its kernel run and
        building the Result.

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> from backtester.driver import Prepared
    >>> from strategies import MaCross
    >>> prepared = Prepared.build(dl.sample("btcusdt-tape"), bt.SimConfig())
    >>> done = dict(iter_runs([MaCross(fast=f, slow=30) for f in (3, 5)], prepared))
    >>> sorted(done)
    [0, 1]
    """
    _check_errors(errors)
    if not strategies:
        return
    if not isinstance(prepared, Prepared):
        raise TypeError(f"expected a Prepared dataset (backtester.driver.Prepared.build(data, config)), "
                        f"got {type(prepared).__name__}")
    pool = KernelThreads(min(thread_count(n_threads), len(strategies)))
    running: dict[int, tuple] = {}  # index -> (engine, seconds of its init)

    def finished(i, outcome):
        engine, spent = running.pop(i)
        if isinstance(outcome, BaseException):
            if errors == "raise":
                raise outcome
            return i, outcome
        t0 = time.perf_counter()
        res = Result(engine, strategies[i], prepared.data, prepared.config)
        res.elapsed_s = spent + outcome + time.perf_counter() - t0
        return i, res

    try:
        for i, strategy in enumerate(strategies):
            t0 = time.perf_counter()
            try:
                engine = engine_for(strategy, prepared)
                if is_fast_path(engine):
                    running[i] = (engine, time.perf_counter() - t0)
                    pool.submit(i, engine)
                else:
                    _hybrid(engine, strategy, False)
                    res = Result(engine, strategy, prepared.data, prepared.config)
                    res.elapsed_s = time.perf_counter() - t0
                    yield i, res
            except Exception as exc:
                if errors == "raise":
                    raise
                yield i, exc
            while not pool.done.empty():  # whatever finished meanwhile
                yield finished(*pool.done.get())
        while running:
            yield finished(*pool.done.get())
    finally:
        pool.close()


def run_many(strategies: list[Strategy], prepared: Prepared, *, n_threads: int | None = None,
             errors: str = "raise") -> list:
    """Run each strategy on ``prepared``; the plan-only ones on threads (:func:`iter_runs`).

    Parameters
    ----------
    strategies : list of Strategy
        Instances; each is run once (its ``init`` is called here, in order).
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
        ``elapsed_s`` attribute is the seconds the run took: ``init``, its kernel run and
        building the Result.
    """
    out: list = [None] * len(strategies)
    for i, res in iter_runs(strategies, prepared, n_threads=n_threads, errors=errors):
        out[i] = res
    return out
