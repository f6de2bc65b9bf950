"""Running a sweep's runs: in this process, or in workers of any ``concurrent.futures.Executor``.

Sharing the data
----------------
Runs are grouped by what the kernel's market inputs depend on: (config changes, scenario,
seed). A group's dataset is laid out for the kernel once (:class:`~backtester.driver.Prepared`)
and every run of the group reuses it.

With workers, the dataset is written once as Arrow IPC files (:func:`share`) and each task
carries only the path and a content hash. A worker memory-maps the files the first time it
sees the hash and keeps, in module-level caches, the dataset and the last few ``Prepared``
groups it built; the tables are never pickled per run or per task. On a cluster the path must
be readable by every worker (a shared file system), e.g. ``out=`` on one.

A task is a chunk of runs of one group; it returns one row per run. A run that raises becomes
a row with ``status='error'`` and the message; only the task itself failing (the strategy class
cannot be loaded, a worker dies) stops the sweep.

Examples
--------
>>> import data_loaders as dl
>>> shared = share(dl.sample("btcusdt-tape"), "/tmp/sweep-data")   # doctest: +SKIP
>>> shared.load().trades.num_rows > 0                               # doctest: +SKIP
True
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..batch import iter_runs, thread_count
from ..driver import Prepared

#: plan-only runs per thread in one batch (a batch holds every one of its runs' record buffers
#: until their stats are taken, so it stays small; enough to keep each thread busy)
RUNS_PER_THREAD = 16
#: Prepared groups a worker keeps (each holds the kernel's arrays of the whole dataset)
PREPARED_CACHE_SIZE = 2
_KINDS = ("trades", "funding", "oracle", "latency", "book")
_META = "dataset.json"

# per-process caches of worker processes: content hash -> object
_DATASETS: dict = {}
_PREPARED: OrderedDict = OrderedDict()


# ============================================================================ shared dataset
def dataset_digest(data) -> str:
    """Content hash of a :class:`~data_loaders.Dataset` (tables, markets and meta).

    Examples
    --------
    >>> import data_loaders as dl
    >>> ds = dl.sample("btcusdt-tape")
    >>> dataset_digest(ds) == dataset_digest(ds.slice())
    False
    """
    h = hashlib.blake2b(digest_size=16)
    for kind in _KINDS:
        sink = pa.BufferOutputStream()
        table = data.table(kind)
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        h.update(kind.encode())
        h.update(sink.getvalue())
    h.update(json.dumps({"markets": data.markets, "meta": data.meta}, sort_keys=True, default=str).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class SharedData:
    """A dataset written as Arrow IPC files, found by workers through ``path``.

    Parameters
    ----------
    path : str
        Directory holding ``<table>.arrow`` files and ``dataset.json``.
    digest : str
        :func:`dataset_digest` of the dataset (the workers' cache key).

    Examples
    --------
    >>> SharedData("/shared/sweep/.backtester-shared/ab12", "ab12").path   # doctest: +SKIP
    '/shared/sweep/.backtester-shared/ab12'
    """

    path: str
    digest: str

    def load(self):
        """The dataset, memory-mapped (cached per process by digest)."""
        ds = _DATASETS.get(self.digest)
        if ds is None:
            ds = _read(Path(self.path))
            _DATASETS.clear()  # one dataset per worker at a time: sweeps run one after another
            _DATASETS[self.digest] = ds
        return ds


#: who wrote a shared dataset folder (in its ``dataset.json``): the only folders a sweep removes
SHARED_MARK = "backtester sweep shared dataset"


def _file_digest(path: Path) -> str:
    """blake2b of a file's bytes (a worker checks the shared files with it before use)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _shared_info(path: Path):
    """The ``dataset.json`` of a folder :func:`share` wrote (None: absent, unreadable, or not
    written by a sweep)."""
    try:
        info = json.loads((path / _META).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("written_by") == SHARED_MARK else None


def _stale_files(path: Path, info: dict) -> list:
    """Files of a shared folder whose bytes differ from the checksums its writer recorded."""
    files = info.get("files", {})
    bad = [kind for kind in _KINDS if kind not in files]
    for kind, want in files.items():
        f = path / f"{kind}.arrow"
        if not f.exists() or _file_digest(f) != want:
            bad.append(kind)
    return bad


def share(data, folder, digest: str | None = None) -> SharedData:
    """Write ``data`` as Arrow IPC files into ``folder/<digest>`` (once; reused if complete and
    unchanged).

    Each file is written under a temporary name and renamed into place, and ``dataset.json``
    (the files' checksums and a mark saying a sweep wrote them) is written last, so a folder
    with it is complete. A folder whose files no longer match their checksums is rewritten.
    """
    digest = digest or dataset_digest(data)
    path = Path(folder) / digest
    info = _shared_info(path)
    if info is not None and info.get("digest") == digest and not _stale_files(path, info):
        return SharedData(str(path), digest)
    path.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind in _KINDS:
        table = data.table(kind)
        tmp = path / f".{kind}.{uuid.uuid4().hex}.tmp"
        with pa.OSFile(str(tmp), "wb") as f, pa.ipc.new_file(f, table.schema) as writer:
            writer.write_table(table)
        files[kind] = _file_digest(tmp)
        os.replace(tmp, path / f"{kind}.arrow")
    tmp = path / f".{_META}.{uuid.uuid4().hex}.tmp"
    info = {"written_by": SHARED_MARK, "digest": digest, "files": files, "markets": data.markets, "meta": data.meta}
    if getattr(data, "allow_extreme", False):  # stress data passes the workers' checks too
        info["allow_extreme"] = True
    tmp.write_text(json.dumps(info, default=str))
    os.replace(tmp, path / _META)
    return SharedData(str(path), digest)


def remove_shared(folder, digest: str) -> None:
    """Remove ``folder/<digest>`` if :func:`share` wrote it: only the files it wrote, then the
    folders if they are left empty. Anything else there (a user's file, another sweep's
    dataset) stays."""
    folder = Path(folder)
    path = folder / digest
    if _shared_info(path) is None:
        return
    for kind in _KINDS:
        (path / f"{kind}.arrow").unlink(missing_ok=True)
    (path / _META).unlink(missing_ok=True)
    for d in (path, folder):
        try:
            d.rmdir()  # only when empty
        except OSError:
            pass


def _read(path: Path):
    from data_loaders import Dataset

    info = _shared_info(path)
    if info is None:
        raise FileNotFoundError(f"sweep worker: no shared dataset at {path} (on a cluster, the sweep's "
                                "data folder must be on a file system every worker can read: pass out= "
                                "on a shared path)")
    bad = _stale_files(path, info)
    if bad:  # a stale or edited copy would change every result of the sweep
        raise RuntimeError(f"sweep worker: the shared dataset at {path} changed after the sweep wrote it "
                           f"({', '.join(f'{k}.arrow' for k in bad)} no longer match their checksums); "
                           "run the sweep again (it rewrites the folder)")
    tables = {}
    for kind in _KINDS:
        t = pa.ipc.open_file(pa.memory_map(str(path / f"{kind}.arrow"))).read_all()
        # an empty table reads back with no chunks; in memory it has one empty chunk. Keep the
        # in-memory layout: the kernel's arrays then have the same flags as in the parent
        # process, and numba reuses its compiled code instead of compiling another variant.
        tables[kind] = t.schema.empty_table() if t.num_rows == 0 else t
    return Dataset(**tables, markets=info.get("markets", {}), meta=info.get("meta", {}),
                   allow_extreme=bool(info.get("allow_extreme", False)))


# ============================================================================ tasks
@dataclass(frozen=True)
class Group:
    """One prepared dataset: the base config with ``config_params``, a scenario and a seed.

    ``key`` is a content hash (data digest, config, scenario, seed) naming the ``Prepared``
    in a worker's cache.
    """

    key: str
    config: object
    scenario: object
    seed: int


def group_key(digest: str, config, scenario, seed: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(digest.encode())
    h.update(pickle.dumps((config, repr(scenario), int(seed))))
    return h.hexdigest()


@dataclass(frozen=True)
class Task:
    """A chunk of runs of one group, as sent to a worker.

    Attributes
    ----------
    data : SharedData or Dataset
        Shared files (workers) or the dataset itself (this process).
    group : Group
    strategy : type
        The strategy class.
    base_params : dict
        Constructor arguments every run starts from (a strategy instance's params).
    runs : tuple of (run_id, dict)
        Each run's id and strategy parameters.
    n_threads : int, optional
        Threads for the batched kernel calls (None: every core).
    """

    data: object
    group: Group
    strategy: object
    base_params: dict
    runs: tuple
    n_threads: int | None = None


def pack(task: Task) -> bytes:
    """Pickle a task for a worker process.

    With cloudpickle (brought by ``distributed``), a strategy class, scenario or parameter
    defined in a notebook or script (``__main__``) travels by value, so workers need not
    import it; importable ones travel by reference.
    """
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - the cluster extra brings cloudpickle
        cls = task.strategy
        if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
            raise TypeError(f"{cls.__qualname__} is defined in __main__ (a notebook cell or a script) or "
                            "inside a function; worker processes cannot import it. Define it in a module, "
                            "or install cloudpickle") from None
        return pickle.dumps(task)
    return cloudpickle.dumps(task)


def run_packed(blob: bytes) -> list:
    """Worker entry point: unpickle a :func:`pack`-ed task and run it (see :func:`iter_task`)."""
    try:
        task = pickle.loads(blob)
    except Exception as exc:  # any unpickling failure: reported with the fix
        raise RuntimeError(f"sweep worker cannot load its task ({type(exc).__name__}: {exc}); define the "
                           "strategy (and any custom scenario) in a module the workers can import") from exc
    return run_task(task)


class PreparedCache:
    """The last ``size`` prepared groups, by group key (least recently used dropped first)."""

    def __init__(self, size: int = PREPARED_CACHE_SIZE):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()  # thread executors: build each group once

    def get(self, task: Task):
        """The group's ``Prepared``, or the exception building it raised (re-raised per run)."""
        key = task.group.key
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            while len(self.items) >= self.size:
                self.items.popitem(last=False)  # drop before building: one dataset's arrays at a time
            self.items[key] = _build(task)
            return self.items[key]


_WORKER_CACHE = PreparedCache()


def _build(task: Task):
    from .. import scenarios as sc

    data = task.data.load() if isinstance(task.data, SharedData) else task.data
    g = task.group
    try:
        setup = sc.apply(g.scenario, data, g.config, seed=g.seed)
        return Prepared.build(setup.data, setup.config, setup.reorgs)
    except Exception as exc:  # noqa: BLE001 - a scenario that does not fit the data fails its runs
        return exc


def batch_size_for(n_threads: int | None) -> int:
    """Runs per batch on ``n_threads`` threads (None: every core)."""
    return RUNS_PER_THREAD * thread_count(n_threads)


def iter_task(task: Task, cache: PreparedCache | None = None, n_threads: int | None = None,
              batch_size: int | None = None):
    """Run the task's runs, yielding a row dict per run, in order.

    Runs go in batches of ``batch_size`` (default :func:`batch_size_for`): the plan-only ones of
    a batch share kernel calls, one per thread of ``n_threads``
    (:func:`backtester.batch.iter_runs`); the others run one by one. Row keys: ``run_id``,
    ``status`` (``'ok'`` or ``'error'``), ``error`` (message or None), ``elapsed_s`` (the run's
    ``init``, its kernel time, with a batched call's wall time split evenly between its runs,
    and its ``stats()``; not the shared preparation), then the :meth:`Result.stats` metrics of
    an ``'ok'`` run.
    """
    prepared = (cache or _WORKER_CACHE).get(task)
    runs = task.runs
    batch_size = batch_size or batch_size_for(n_threads)
    for lo in range(0, len(runs), batch_size):
        yield from _run_batch(task, prepared, runs[lo:lo + batch_size], n_threads)


def _run_batch(task: Task, prepared, runs, n_threads) -> list:
    cls = task.strategy
    n = len(runs)
    errors: list = [None] * n
    metrics: list = [{}] * n
    spent = [0.0] * n
    strategies, slots = [], []
    for i, (_, params) in enumerate(runs):
        t0 = time.perf_counter()
        try:
            if isinstance(prepared, Exception):
                raise prepared
            strategies.append(cls(**{**copy.deepcopy(task.base_params), **params}))
            slots.append(i)
        except Exception as exc:  # noqa: BLE001 - recorded; the sweep goes on
            errors[i] = exc
        spent[i] += time.perf_counter() - t0
    # stats of the runs already done while the kernel threads run the others
    for j, res in iter_runs(strategies, prepared, n_threads=n_threads, errors="return") if strategies else ():
        i = slots[j]
        if isinstance(res, Exception):
            errors[i] = res
            continue
        t0 = time.perf_counter()
        try:
            metrics[i] = {k: float(v) for k, v in res.stats_values().items()}
        except Exception as exc:  # noqa: BLE001 - recorded; the sweep goes on
            errors[i] = exc
        spent[i] += res.elapsed_s + time.perf_counter() - t0
    return [_row(run_id, errors[i], spent[i], metrics[i]) for i, (run_id, _) in enumerate(runs)]


def _row(run_id, exc, elapsed: float, metrics: dict) -> dict:
    if exc is None:
        return {"run_id": run_id, "status": "ok", "error": None, "elapsed_s": elapsed, **metrics}
    return {"run_id": run_id, "status": "error", "error": f"{type(exc).__name__}: {exc}", "elapsed_s": elapsed}


def run_task(task: Task) -> list:
    """Every row of ``task`` (see :func:`iter_task`), on ``task.n_threads`` threads."""
    return list(iter_task(task, n_threads=task.n_threads))
