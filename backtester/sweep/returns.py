"""Per-run return series of a sweep's grid, as one time x runs matrix: the input of
:func:`~backtester.sweep.overfit.pbo` and of the Sharpe-ratio statistics, which need each run's
returns and not only its summary row.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import MaCross
>>> data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
>>> rets = returns_matrix(MaCross, {"fast": [3, 6], "slow": [20, 40]}, data)
>>> rets.shape[1]
4
>>> bt.pbo(rets, n_blocks=4).n_combinations
6
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd

from ..batch import iter_runs
from ..config import SimConfig
from ..records import to_timestamps
from .core import _tasks, plan_runs
from .runner import PreparedCache

#: what the returns are relative to (see :func:`returns_matrix`)
KINDS = ("simple", "initial")


def returns_matrix(strategy_cls, grid, data, scenarios=None, config: SimConfig | None = None, *, seeds=1,
                   kind: str = "simple", n_threads: int | None = None) -> pd.DataFrame:
    """Run every point of ``grid`` (and scenario and seed) as :func:`~backtester.sweep.sweep`
    does, in this process, and return each run's returns between equity samples.

    The runs and their ids are those of ``bt.sweep`` with the same arguments, so the columns
    join with a sweep's table on ``run_id``. Each run's equity is read at its samples
    (``SimConfig.sample_every``), preceded by its initial cash; runs on different clocks (other
    scenarios) are aligned on the union of their timestamps, each holding its last equity.

    Parameters
    ----------
    strategy_cls, grid, data, scenarios, config, seeds
        As :func:`~backtester.sweep.sweep`.
    kind : {"simple", "initial"}
        ``"simple"``: change of equity over the previous equity (``e[t] / e[t-1] - 1``; after
        the equity reaches 0 or below, the run's returns are 0: nothing is left to lose).
        ``"initial"``: change of equity over the initial cash, well defined whatever the equity
        does (for accounts that can be wiped out and still be compared).
    n_threads : int, optional
        Threads for the batched kernel calls (None: every core).

    Returns
    -------
    DataFrame
        Index: sample timestamps (UTC); columns: ``run_id``, in the sweep's order. A run that
        raised is a column of NaN (with a ``RuntimeWarning``): drop it before
        :func:`~backtester.sweep.overfit.pbo`, which rejects NaN.

    Raises
    ------
    ValueError
        An unknown ``kind``, or the grid / config errors of ``bt.sweep``.

    Examples
    --------
    >>> import data_loaders as dl
    >>> from strategies import MaCross
    >>> data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
    >>> r = returns_matrix(MaCross, {"fast": [3], "slow": [20]}, data, kind="initial")
    >>> bool(r.index.is_monotonic_increasing), r.columns.name
    (True, 'run_id')
    """
    if kind not in KINDS:
        raise ValueError(f"returns_matrix: kind must be one of {KINDS}, got {kind!r}")
    cls, base_params, plan, config, configs = plan_runs(strategy_cls, grid, scenarios, seeds, config,
                                                        "returns_matrix")
    series: dict = {}
    errors: dict = {}
    cache = PreparedCache(size=1)
    for task in _tasks(plan.runs, configs, data, cls, base_params, "local", None, n_threads):
        prepared = cache.get(task)
        if isinstance(prepared, Exception):
            errors.update({run_id: prepared for run_id, _ in task.runs})
            continue
        strategies, ids = [], []
        for run_id, params in task.runs:
            try:
                strategies.append(cls(**{**copy.deepcopy(task.base_params), **params}))
                ids.append(run_id)
            except Exception as exc:  # noqa: BLE001 - as in a sweep: recorded, the others go on
                errors[run_id] = exc
        for j, res in iter_runs(strategies, prepared, n_threads=n_threads, errors="return") if strategies else ():
            if isinstance(res, Exception):
                errors[ids[j]] = res
            else:
                series[ids[j]] = _equity(res)
    table = _align([r.run_id for r in plan.runs], series, kind)
    if errors:
        first = next(iter(errors.items()))
        warnings.warn(f"returns_matrix: {len(errors)} of {len(plan.runs)} runs raised (NaN columns); first: "
                      f"{first[0]}: {type(first[1]).__name__}: {first[1]}", RuntimeWarning, stacklevel=2)
    return table


def _equity(res) -> tuple[np.ndarray, np.ndarray, float]:
    """(sample timestamps in ns, equity at them, initial cash) of one run."""
    samples = res.engine.records("samples")
    return (np.asarray(samples["ts"], dtype=np.int64), np.asarray(samples["equity"], dtype=float),
            float(res.engine.initial_cash.sum()))


def _align(order: list, series: dict, kind: str) -> pd.DataFrame:
    stamps = np.unique(np.concatenate([s[0] for s in series.values()])) if series else np.array([], np.int64)
    columns = {}
    for run_id in order:
        if run_id not in series:
            columns[run_id] = np.full(len(stamps), np.nan)
            continue
        ts, eq, initial = series[run_id]
        # the equity each run had at every timestamp: its last sample at or before it
        at = np.searchsorted(ts, stamps, side="right") - 1
        held = np.where(at >= 0, eq[np.maximum(at, 0)], initial)
        prev = np.concatenate([[initial], held[:-1]])
        change = held - prev
        if kind == "initial":
            columns[run_id] = change / initial
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                columns[run_id] = np.where(prev > 0, change / prev, 0.0)
    index = to_timestamps(stamps)
    index.name = "ts"
    out = pd.DataFrame(columns, index=index)
    out.columns.name = "run_id"
    return out
