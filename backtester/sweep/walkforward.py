"""Walk-forward evaluation: sweep a grid on a training window, keep the best parameters by a
metric, run them on the window that follows, move on; the stitched test windows are an
out-of-sample record of the *procedure* "sweep, then trade the winner".

Examples
--------
>>> import data_loaders as dl
>>> from strategies import MaCross
>>> data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
>>> wf = walk_forward(MaCross, {"fast": [3, 6], "slow": [20, 40]}, data, train="2h", test="1h")
>>> len(wf.folds), list(wf.folds.columns[:3])
(3, ['fold', 'train_start', 'train_end'])
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import SimConfig
from ..driver import run
from .analysis import best
from .core import _strategy, sweep
from .space import expand


@dataclass(frozen=True)
class WalkForwardResult:
    """The outcome of :func:`walk_forward`.

    Attributes
    ----------
    folds : DataFrame
        One row per fold: ``fold``, ``train_start``, ``train_end``, ``test_start``,
        ``test_end`` (windows are ``[start, end)``), the chosen grid values, ``is_metric`` (the
        winner's metric on its training window), ``oos_metric`` (its metric on the test window),
        ``n_ok`` (training runs that finished). A fold with no finished training run has NaN.
    returns : Series
        Out-of-sample simple returns between equity samples, the test windows one after
        another; each window starts flat with the initial cash, so its first return is measured
        from the initial cash.
    equity : Series
        ``initial_cash * cumprod(1 + returns)``: the stitched out-of-sample equity, each window's
        gains compounding on the previous ones.
    metric : str
    initial_cash : float
        Of the test runs (NaN if no fold had a winner).
    """

    folds: pd.DataFrame
    returns: pd.Series
    equity: pd.Series
    metric: str
    initial_cash: float

    @property
    def total_return(self) -> float:
        """Compounded out-of-sample return of the stitched test windows."""
        return float(self.equity.iloc[-1] / self.initial_cash - 1.0) if len(self.equity) else float("nan")


def walk_forward(strategy_cls, grid, data, train, test, step=None, *, anchored: bool = False, start=None,
                 metric: str = "sharpe", higher_is_better: bool | None = None, config: SimConfig | None = None,
                 n_jobs: int | None = None, executor=None) -> WalkForwardResult:
    """Rolling (or anchored) walk-forward of ``strategy_cls`` over ``grid``.

    Fold ``k`` (from 0) trains on ``[start + k*step, start + k*step + train)`` (anchored: from
    ``start``) and tests on the ``test`` that follows; folds go on while the test window ends
    at or before the last trade. On the training window the grid is swept with
    :func:`~backtester.sweep.sweep` (only that slice of the data: no choice sees anything after
    its training window) and the best successful run by ``metric`` is chosen, ties going to the
    first in grid order; the choice then runs alone on the test window, starting flat with the
    initial cash (positions are not carried across folds; a strategy's indicators warm up inside
    each window).

    Parameters
    ----------
    strategy_cls, grid, config, n_jobs, executor
        As :func:`~backtester.sweep.sweep` (no ``"scenario"`` in the grid: one venue model).
    data : data_loaders.Dataset
    train, test : str or Timedelta
        Window lengths, e.g. ``"14D"``, ``"3D"``.
    step : str or Timedelta, optional
        Between fold starts; default ``test``. At least ``test``, so test windows never
        overlap (with a larger step, the gaps are left out of the stitched record).
    anchored : bool
        True: every training window starts at ``start`` and grows.
    start : str or Timestamp, optional
        The first training window's start; default the first trade.
    metric : str
        A :meth:`Result.stats` column.
    higher_is_better : bool, optional
        Default: by metric, as :func:`~backtester.sweep.best`.

    Returns
    -------
    WalkForwardResult

    Raises
    ------
    ValueError
        A non-positive window, ``step < test``, a ``"scenario"`` grid name, or data too short
        for one fold.

    Examples
    --------
    >>> wf.folds[["fold", "fast", "slow", "is_metric", "oos_metric"]]    # doctest: +SKIP
    >>> wf.equity.plot()                                                  # doctest: +SKIP
    """
    cls, base_params = _strategy(strategy_cls)
    train, test = positive_duration("train", train), positive_duration("test", test)
    step = test if step is None else positive_duration("step", step)
    if step < test:
        raise ValueError(f"walk_forward: step ({step}) must be at least test ({test}): test windows would overlap")
    if isinstance(grid, dict) and "scenario" in grid:
        raise ValueError("walk_forward: a 'scenario' grid name is not supported; it evaluates one venue model")
    config = copy.deepcopy(config if config is not None else SimConfig())
    windows = fold_windows(data, train, test, step, anchored=anchored, start=start)
    params = expand(cls, grid).param_columns
    rows, pieces = [], []
    initial = float("nan")
    for k, (tr_lo, tr_hi, te_lo, te_hi) in enumerate(windows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # failed runs are counted in n_ok
            table = sweep(strategy_cls, grid, data.slice(tr_lo, tr_hi), config=config,
                          n_jobs=n_jobs, executor=executor, progress=False)
        winner = best(table, metric, n=1, higher_is_better=higher_is_better)
        row = {"fold": k, "train_start": tr_lo, "train_end": tr_hi, "test_start": te_lo, "test_end": te_hi}
        n_ok = int((table["status"] == "ok").sum())
        if winner.empty:
            rows.append({**row, **{p: None for p in params}, "is_metric": np.nan, "oos_metric": np.nan,
                         "n_ok": n_ok})
            continue
        choice = {p: winner[p].iloc[0] for p in params}
        spec = expand(cls, {p: [v] for p, v in choice.items()}).runs[0]
        res = run(cls(**{**copy.deepcopy(base_params), **spec.strategy_params}), data.slice(te_lo, te_hi),
                  config.with_(**spec.config_params))
        initial = float(res.engine.initial_cash.sum())
        pieces.append(_window_returns(res, initial))
        rows.append({**row, **choice, "is_metric": float(winner[metric].iloc[0]),
                     "oos_metric": float(res.stats_values()[metric]), "n_ok": n_ok})
    returns = pd.concat(pieces) if pieces else pd.Series([], dtype=float)
    returns.name = "return"
    equity = (initial * (1.0 + returns).cumprod()).rename("equity")
    return WalkForwardResult(pd.DataFrame(rows), returns, equity, metric, initial)


def fold_windows(data, train, test, step, *, anchored: bool = False, start=None) -> list[tuple]:
    """``(train_start, train_end, test_start, test_end)`` of every fold (see :func:`walk_forward`).

    Examples
    --------
    >>> import data_loaders as dl
    >>> data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
    >>> w = fold_windows(data, "2h", "1h", "1h", start="2022-11-09 12:00")
    >>> [(a.strftime("%H:%M"), d.strftime("%H:%M")) for a, b, c, d in w]   # 18:00 is after the last trade
    [('12:00', '15:00'), ('13:00', '16:00'), ('14:00', '17:00')]
    """
    train, test, step = positive_duration("train", train), positive_duration("test", test), positive_duration("step", step)
    if data.start is None:
        raise ValueError("walk_forward: the dataset has no trades")
    origin = pd.Timestamp(start) if start is not None else data.start
    if origin.tzinfo is None:
        origin = origin.tz_localize("UTC")
    end = data.end + pd.Timedelta(1, "ns")  # windows are [start, end): the last trade is inside
    out = []
    k = 0
    while True:
        lo = origin if anchored else origin + k * step
        hi = origin + k * step + train
        if hi + test > end:
            break
        out.append((lo, hi, hi, hi + test))
        k += 1
    if not out:
        raise ValueError(f"walk_forward: {data.start} .. {data.end} is shorter than one fold "
                         f"(train {train} + test {test})")
    return out


def positive_duration(name, value) -> pd.Timedelta:
    """``value`` as a positive ``pd.Timedelta`` (``"3D"``, ``"12h"``); ``ValueError`` naming ``name``."""
    try:
        td = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise ValueError(f"walk_forward: {name} must be a duration like '3D', got {value!r}") from None
    if td <= pd.Timedelta(0):
        raise ValueError(f"walk_forward: {name} must be positive, got {value!r}")
    return td


def _window_returns(res, initial: float) -> pd.Series:
    eq = res.equity["equity"]
    prev = np.concatenate([[initial], eq.to_numpy()[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev > 0, eq.to_numpy() / prev - 1.0, 0.0)  # nothing left to lose after ruin
    return pd.Series(r, index=eq.index)
