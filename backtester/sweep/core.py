"""`sweep`: one strategy over a grid (or random space) of strategy parameters, config fields and
scenarios, locally or on any executor, resumable, as one tidy table.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import MaCross
>>> df = bt.sweep(MaCross, {"fast": [10, 20], "slow": [60, 120]}, dl.sample("btcusdt-tape"),
...               progress=False)                                        # doctest: +SKIP
>>> df[["fast", "slow", "status", "sharpe"]]                              # doctest: +SKIP
"""
from __future__ import annotations

import concurrent.futures as cf
import copy
import math
import os
import tempfile
import time
import warnings
from concurrent.futures.process import BrokenProcessPool

from .._workers import pool as worker_pool
from ..batch import thread_count
from ..config import SimConfig
from ..strategy import Strategy
from .runner import (
    Group,
    PreparedCache,
    Task,
    batch_size_for,
    dataset_digest,
    group_key,
    iter_task,
    pack,
    run_packed,
    share,
)
from .space import expand
from .store import RunStore, frame

#: the largest chunk of runs per task and per part file
MAX_CHUNK = 32
#: in this process, rows are written at least this often (seconds) even if a chunk is not full
FLUSH_EVERY_S = 10.0


def sweep(strategy_cls, grid, data, scenarios=None, config: SimConfig | None = None, *, executor=None,
          n_jobs: int | None = None, out=None, resume: bool = True, seeds=1, progress: bool = True,
          chunk_size: int | None = None, n_threads: int | None = None):
    """Run ``strategy_cls`` over every point of ``grid`` (and scenario and seed).

    Parameters
    ----------
    strategy_cls : type or Strategy
        A :class:`~backtester.Strategy` subclass; or an instance, whose params are then the
        defaults every run starts from. For worker processes the class is pickled with
        cloudpickle, so a class defined in a notebook works; on a Dask cluster define it in a
        module the workers can import if it uses other notebook globals.
    grid : dict or RandomSpace
        ``{name: list of values}`` (full product) or a :class:`RandomSpace`. Names are strategy
        parameters, :class:`~backtester.SimConfig` fields or ``"scenario"``; see
        :func:`backtester.sweep.space.route` (``"strategy.x"`` / ``"config.x"`` when both).
    data : data_loaders.Dataset
    scenarios : list or dict of Scenario, optional
        Every point runs under each (default: the normal venue).
    config : SimConfig, optional
        Base config; a grid's config fields change it per run, then the scenario applies.
    executor : concurrent.futures.Executor, optional
        Where chunks of runs go, e.g. ``distributed.Client(...).get_executor()``. The dataset
        is written once as Arrow IPC files under ``out`` (or a temporary folder) and
        memory-mapped by each worker; on a cluster ``out`` must be on a shared file system.
    n_jobs : int, optional
        Without ``executor``: worker processes (``None``/1: this process; -1: every core).
    out : str or Path, optional
        Results folder: each finished chunk is appended atomically to ``out/runs/`` as Parquet,
        and calling again skips the runs already there.
    resume : bool
        False: start over, deleting the runs stored in ``out``.
    seeds : int or sequence of int
        Seeds of scenarios that draw at random (they run once per seed; others once).
    progress : bool
        A tqdm bar: runs done, runs/s, time left (terminal or Jupyter).
    chunk_size : int, optional
        Runs per task (and per part file); default: a few tasks per worker, at most 32.
    n_threads : int, optional
        Threads per process for the runs of a plan-only strategy, which go to the kernel in
        batches of 16 per thread (:func:`backtester.batch.iter_runs`; the kernel releases the
        GIL, the runs' ``init`` and ``stats()`` stay on one thread).
        Default: every core in this process, 1 in each worker process.

    Returns
    -------
    DataFrame
        One row per run in grid order: ``run_id``, the grid's parameters, ``scenario``,
        ``seed``, ``status`` ('ok' or 'error'), ``error`` (message or None), ``elapsed_s``
        (init, kernel and stats, without the shared preparation; a batched kernel call's wall
        time is split evenly between its runs), then every
        :meth:`Result.stats` metric (NaN for errors).

    Raises
    ------
    ValueError
        For a grid name that is neither a strategy parameter nor a config field, a config value
        ``SimConfig`` rejects, or ``out`` holding a different sweep (with ``resume=True``).

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> from strategies import MaCross
    >>> from backtester import scenarios as sc
    >>> df = bt.sweep(MaCross, {"fast": [10, 20], "slow": [60, 120], "slippage_multiplier": [1, 3]},
    ...               dl.sample("btcusdt-tape"), scenarios=[sc.NORMAL], n_jobs=2,
    ...               out="sweep-out")                                   # doctest: +SKIP
    """
    cls, base_params, plan, config, configs = plan_runs(strategy_cls, grid, scenarios, seeds, config, "sweep")
    workers, pool = _workers(executor, n_jobs)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"sweep: chunk_size must be a positive int, got {chunk_size!r}")
    if n_threads is not None:
        try:
            thread_count(n_threads)
        except ValueError as exc:
            raise ValueError(f"sweep: {exc}") from None
    parallel = executor is not None or pool
    digest = dataset_digest(data) if (out is not None or parallel) else "local"

    store = None
    done: dict = {}
    if out is not None:
        store = RunStore(out, _meta(cls, base_params, config, digest), resume=resume)
        wanted = {r.run_id for r in plan.runs}
        done = {row["run_id"]: row for row in store.rows() if row["run_id"] in wanted}
    try:  # the store's lock on out is released however the sweep ends
        todo = [r for r in plan.runs if r.run_id not in done]
        by_id = {r.run_id: r for r in plan.runs}

        fresh: list = []
        n_errors = 0
        bar = _bar(progress, len(plan.runs), len(done), cls.__name__)

        def record(rows):
            """Rows of finished runs: kept, appended to the store, counted on the bar."""
            nonlocal n_errors
            full = [_full_row(by_id[row["run_id"]], row, plan.param_columns) for row in rows]
            fresh.extend(full)
            if store is not None:
                store.write(full)
            if bar is not None:
                n_errors += sum(r["status"] == "error" for r in full)
                if n_errors:
                    bar.set_postfix_str(f"{n_errors} error(s)", refresh=False)
                bar.update(len(rows))

        try:
            if todo and not parallel:
                tasks = _tasks(todo, configs, data, cls, base_params, digest, None)
                _run_local(tasks, record, chunk_size or MAX_CHUNK, n_threads)
            elif todo:
                _run_parallel(todo, configs, data, cls, base_params, digest, store, executor, workers, record,
                              chunk_size, n_threads or 1)
        finally:
            if bar is not None:
                bar.close()
        if store is not None:
            store.compact()
            store.drop_data(digest)
    finally:
        if store is not None:
            store.close()
    rows = {**done, **{r["run_id"]: r for r in fresh}}
    table = frame([rows[r.run_id] for r in plan.runs], plan.param_columns)
    n_err = int((table["status"] == "error").sum())
    if n_err:
        first = table.loc[table["status"] == "error", "error"].iloc[0]
        warnings.warn(f"sweep: {n_err} of {len(table)} runs raised (see the 'error' column); first: {first}",
                      RuntimeWarning, stacklevel=2)
    return table


# ============================================================================ inputs
def plan_runs(strategy_cls, grid, scenarios, seeds, config, caller: str):
    """The runs of a sweep: ``(cls, base_params, plan, config, configs)`` (one home for what
    :func:`sweep` and :func:`~backtester.sweep.returns.returns_matrix` both run)."""
    cls, base_params = _strategy(strategy_cls)
    plan = expand(cls, grid, scenarios, seeds)
    config = copy.deepcopy(config if config is not None else SimConfig())
    if not isinstance(config, SimConfig):
        raise TypeError(f"{caller}: config must be a bt.SimConfig, got {type(config).__name__}")
    return cls, base_params, plan, config, _configs(plan.runs, config)


def _strategy(strategy_cls):
    if isinstance(strategy_cls, Strategy):
        return type(strategy_cls), dict(strategy_cls.params)
    if isinstance(strategy_cls, type) and issubclass(strategy_cls, Strategy):
        return strategy_cls, {}
    raise TypeError(f"sweep: expected a Strategy subclass (MaCross, not MaCross()) or an instance, "
                    f"got {strategy_cls!r}")


def _configs(runs, config: SimConfig) -> dict:
    """``{config changes: SimConfig}``, built up front so a bad value fails before any run."""
    out = {}
    for r in runs:
        key = r.group[0]
        if key not in out:
            try:
                out[key] = config.with_(**r.config_params)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"sweep: config values {r.config_params} are invalid: {exc}") from None
    return out


def _meta(cls, base_params, config, digest) -> dict:
    return {"strategy": f"{cls.__module__}.{cls.__qualname__}", "data": digest, "config": repr(config),
            "base_params": repr(base_params)}


def _workers(executor, n_jobs) -> tuple[int, bool]:
    """(workers to plan chunks for, whether to start a process pool)."""
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1):
        raise ValueError(f"sweep: n_jobs must be a positive int or -1 (every core), got {n_jobs!r}")
    n = (os.cpu_count() or 1) if n_jobs == -1 else (n_jobs or 1)
    if executor is not None:
        if not isinstance(executor, cf.Executor):
            raise TypeError(f"sweep: executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
        return (n_jobs and n) or _executor_size(executor), False
    return n, n > 1


def _executor_size(executor) -> int:
    size = getattr(executor, "_max_workers", None)
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    if client is not None:
        try:
            size = sum(client.nthreads().values())
        except Exception:  # noqa: BLE001 - only a chunking hint
            size = None
    return int(size or os.cpu_count() or 1)


def _bar(progress, total, initial, name):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=f"sweep {name}", unit="run", smoothing=0.05)


def _full_row(spec, row, params) -> dict:
    """A worker's row with the run's grid values, scenario label and seed."""
    out = {"run_id": spec.run_id, **{p: spec.columns[p] for p in params}, "scenario": spec.scenario_label,
           "seed": spec.seed, "_params": list(params)}
    out.update({k: v for k, v in row.items() if k != "run_id"})
    return out


def _tasks(runs, configs, data, cls, base_params, digest, chunk, n_threads=None) -> list[Task]:
    """Tasks in group order; ``chunk=None``: one task per group."""
    groups: dict = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    tasks = []
    for key, members in groups.items():
        cfg_key, _, seed = key
        g = Group(group_key(digest, configs[cfg_key], members[0].scenario, seed), configs[cfg_key],
                  members[0].scenario, seed)
        size = chunk(len(members)) if callable(chunk) else len(members)
        for i in range(0, len(members), size):
            part = tuple((r.run_id, r.strategy_params) for r in members[i:i + size])
            tasks.append(Task(data, g, cls, base_params, part, n_threads))
    return tasks


# ============================================================================ execution
def _run_local(tasks, record, chunk_size: int, n_threads: int | None) -> None:
    """In this process, one prepared group at a time; rows written every ``chunk_size`` runs
    (or ``FLUSH_EVERY_S``), and the finished ones also when interrupted. A batch (at most
    ``chunk_size`` runs, :func:`~.runner.batch_size_for`) gives its rows when all of its runs
    are done, so an interrupt loses at most the batch in progress."""
    cache = PreparedCache(size=1)
    pending: list = []
    last = time.monotonic()
    try:
        for task in tasks:
            for row in iter_task(task, cache, n_threads, batch_size=min(chunk_size, batch_size_for(n_threads))):
                pending.append(row)
                if len(pending) >= chunk_size or time.monotonic() - last >= FLUSH_EVERY_S:
                    record(pending)
                    pending, last = [], time.monotonic()
    finally:
        if pending:
            record(pending)


def _run_parallel(todo, configs, data, cls, base_params, digest, store, executor, workers, record,
                  chunk_size, n_threads: int) -> None:
    owned = executor is None
    tmp = None
    if store is not None:
        shared = share(data, store.data_dir, digest)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bt-sweep-")
        shared = share(data, tmp.name, digest)

    def chunk(n):
        return chunk_size or max(1, min(MAX_CHUNK, math.ceil(n / (4 * workers))))

    tasks = [pack(t) for t in _tasks(todo, configs, shared, cls, base_params, digest, chunk, n_threads)]
    if owned:
        executor = worker_pool(workers)
    ok = False
    try:
        _drain(executor, tasks, 2 * workers, record)
        ok = True
    finally:
        if owned:
            executor.shutdown(wait=ok, cancel_futures=not ok)
        if tmp is not None:
            tmp.cleanup()


def _drain(executor, tasks, window: int, record) -> None:
    """Submit ``tasks`` keeping ``window`` in flight (group order, so workers' caches hit),
    recording each chunk as it finishes."""
    todo = iter(tasks)
    inflight: dict = {}

    def fill():
        while len(inflight) < window:
            task = next(todo, None)
            if task is None:
                return
            inflight[executor.submit(run_packed, task)] = task

    fill()
    try:
        while inflight:
            finished, _ = cf.wait(list(inflight), return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                inflight.pop(fut)
                record(_result(fut))
            fill()
    except BaseException:
        for fut in inflight:
            fut.cancel()
        for fut in list(inflight):  # keep what finished meanwhile
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                record(fut.result())
        raise


def _result(fut) -> list:
    try:
        return fut.result()
    except BrokenProcessPool as exc:
        raise RuntimeError("sweep: a worker process died (killed, out of memory, or a script that starts "
                           "workers without `if __name__ == '__main__':` around its code); the runs "
                           "finished so far are kept in out= if given: call sweep again to resume") from exc
