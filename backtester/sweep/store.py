"""A sweep's results on disk: a Parquet dataset directory that survives a crash and resumes.

Layout of ``out``::

    out/sweep.json                  what was swept (strategy, data hash, base config): resume checks it
    out/runs/part-*.parquet         one file per finished chunk of runs, full rows
    out/.backtester-shared/<hash>/  the dataset as Arrow IPC files for worker processes (while running)
    out/.backtester-sweep.lock      held by the sweep writing to ``out`` (one at a time)

A sweep never deletes what it did not write: ``out`` must be a new or empty folder or one
holding a sweep (its ``sweep.json``), and of ``.backtester-shared`` it removes only the files
of the dataset folder it wrote (marked in that folder's ``dataset.json``). The lock file stays
(it is empty of meaning once no process holds it).

Every part file is written under a hidden temporary name in ``runs/`` and renamed into place
(``os.replace`` is atomic on one file system), so a killed sweep leaves whole part files or
none; leftover temporary files are removed when the store is opened again. Reading drops a
``run_id`` seen before (a run is never counted twice), so the table after a resume has no
duplicate rows.

Examples
--------
>>> store = RunStore("sweep-out", {"strategy": "MaCross"})      # doctest: +SKIP
>>> store.write([{"run_id": "ab", "status": "ok"}])             # doctest: +SKIP
>>> load("sweep-out")                                           # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_loaders._lock import take_lock

from .space import FIXED_COLUMNS

_META = "sweep.json"
#: the workers' copies of the dataset, under ``out`` (a name no user folder is likely to have)
SHARED_DIR = ".backtester-shared"
#: held (``flock``) by the process whose sweep writes to ``out``
LOCK_FILE = ".backtester-sweep.lock"
_SCALARS = (bool, int, float, str, type(None), np.generic, pd.Timestamp, pd.Timedelta)


class RunStore:
    """The results folder of one sweep.

    Parameters
    ----------
    out : str or Path
        Folder (created if missing).
    meta : dict
        What identifies the sweep (JSON-able). With ``resume=True`` a folder holding a sweep
        with other meta is an error (its rows would be wrong answers for this one).
    resume : bool
        False: delete the folder's previous runs first.

    Examples
    --------
    >>> RunStore("sweep-out", {"strategy": "x"}, resume=False).rows()   # doctest: +SKIP
    []
    """

    def __init__(self, out, meta: dict, resume: bool = True):
        self.root = Path(out)
        self.runs_dir = self.root / "runs"
        self.data_dir = self.root / SHARED_DIR
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"sweep: out={str(out)!r} is a file, not a folder")
        if self.root.is_dir() and not (self.root / _META).exists() and any(self.root.iterdir()):
            raise ValueError(f"sweep: out={str(out)!r} is a folder that holds other files and no sweep "
                             f"({_META}); a sweep writes only to a new or empty folder or to its own, so "
                             "nothing of yours is overwritten or removed: choose another out")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = _take_lock(self.root)
        try:
            self._open(meta, resume)
        except BaseException:
            self.close()
            raise

    def _open(self, meta: dict, resume: bool) -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.runs_dir.glob(".part-*.tmp"):  # a crash mid-write left these: never counted
            tmp.unlink(missing_ok=True)
        meta = json.loads(json.dumps(meta, default=str))
        old = self._meta()
        if resume and old is not None and old != meta and self.parts():
            diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
            raise ValueError(f"{self.root} holds a sweep with another {', '.join(diff)} "
                             f"({old.get(diff[0])!r} there, {meta.get(diff[0])!r} now); pass resume=False "
                             "to overwrite it, or use another out folder")
        if not resume:
            for part in self.parts():
                part.unlink(missing_ok=True)
        _atomic_text(self.root / _META, json.dumps(meta, indent=2, sort_keys=True))

    def _meta(self):
        f = self.root / _META
        return json.loads(f.read_text()) if f.exists() else None

    def parts(self) -> list[Path]:
        """Part files in the order they were written."""
        return sorted(self.runs_dir.glob("part-*.parquet"))

    def rows(self) -> list[dict]:
        """Every stored row, first occurrence of each ``run_id`` only."""
        return read_rows(self.parts())

    def write(self, rows: list[dict]) -> Path | None:
        """Append ``rows`` as one part file, atomically. Returns its path (None for no rows)."""
        if not rows:
            return None
        df = pd.DataFrame([_storable(r) for r in rows])
        try:
            table = pa.Table.from_pandas(df, preserve_index=False)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # a column mixing types (5 and "a"): as text
            mixed = [c for c in df.columns if df[c].dtype == object and c != "_params"]
            df[mixed] = df[mixed].map(lambda v: v if v is None else str(v))
            table = pa.Table.from_pandas(df, preserve_index=False)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.runs_dir / f".{name}.tmp"
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.runs_dir / name)
        return self.runs_dir / name

    def compact(self) -> None:
        """Merge the part files into one (after a sweep completes; rows are kept in order)."""
        parts = self.parts()
        if len(parts) < 2:
            return
        self.write(self.rows())
        for p in parts:  # a crash here leaves duplicates, which reading drops
            p.unlink(missing_ok=True)

    def drop_data(self, digest: str) -> None:
        """Remove the workers' copy of the dataset ``digest``, if this package wrote it (only its
        files; :func:`~backtester.sweep.runner.remove_shared`)."""
        from .runner import remove_shared

        remove_shared(self.data_dir, digest)

    def close(self) -> None:
        """Release ``out`` for other sweeps (also when this process dies: the lock is the
        kernel's)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _take_lock(root: Path):
    """The lock of a sweep's ``out`` folder: one sweep writes it at a time."""
    return take_lock(root / LOCK_FILE, f"sweep: out={str(root)!r} is in use by another sweep ({{holder}}); "
                                       "wait for it to finish, or use another out folder")


def read_rows(parts) -> list[dict]:
    """Rows of part files, first occurrence of each ``run_id`` only."""
    rows, seen = [], set()
    for part in parts:
        for row in pq.read_table(part).to_pandas().to_dict("records"):
            if row["run_id"] in seen:
                continue
            seen.add(row["run_id"])
            rows.append(_restored(row))
    return rows


def load(out) -> pd.DataFrame:
    """The table of every run stored in a sweep folder (in the order they finished).

    Examples
    --------
    >>> df = load("sweep-out")   # doctest: +SKIP
    """
    root = Path(out)
    if not (root / "runs").is_dir():
        raise FileNotFoundError(f"{root}: not a sweep folder (no runs/ inside)")
    rows = read_rows(sorted((root / "runs").glob("part-*.parquet")))
    params = []
    for r in rows:
        params.extend(k for k in r.get("_params", []) if k not in params)
    return frame(rows, params)


def frame(rows: list[dict], params: list) -> pd.DataFrame:
    """The sweep table of ``rows``: run_id, params, scenario, seed, status, error, elapsed_s,
    then the metrics (float) in the order of the first row that has them."""
    metrics = []
    skip = set(FIXED_COLUMNS) | set(params) | {"_params"}
    for r in rows:
        metrics.extend(k for k in r if k not in skip and k not in metrics)
    cols = ["run_id", *params, "scenario", "seed", "status", "error", "elapsed_s", *metrics]
    df = pd.DataFrame.from_records([{k: r.get(k) for k in cols} for r in rows], columns=cols)
    df["seed"] = df["seed"].astype("int64")
    for c in ["elapsed_s", *metrics]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    for c in params:  # a column mixing types (5 and "a") shows as text, as Parquet stores it
        if df[c].dtype == object and len({type(v) for v in df[c] if v is not None}) > 1:
            df[c] = df[c].map(lambda v: v if v is None else str(v))
    df.attrs["params"] = list(params)
    return df


def _storable(row: dict) -> dict:
    """Values Parquet can hold: non-scalars (lists, Series, objects) as their repr."""
    return {k: (v if isinstance(v, _SCALARS) or k == "_params" else repr(v)) for k, v in row.items()}


def _restored(row: dict) -> dict:
    row = dict(row)
    if "_params" in row and not isinstance(row["_params"], list):
        row["_params"] = list(row["_params"])
    return {k: (None if k == "error" and isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
