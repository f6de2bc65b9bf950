"""Walk-forward evaluation: sweep a grid on a training window, keep the best parameters by a
metric, run them on the window that follows, move on; the stitched test windows are an
out-of-sample record of the *procedure* "sweep, then trade the winner".

Under several scenarios, the winner chosen on one of them is also ranked under the others
(:func:`winner_ranks` gives the same view of a plain sweep table), so "best on the normal venue,
liquidated in the outage" shows at a glance (:func:`~backtester.sweep.plot_scenario_ranks`).

Examples
--------
>>> import data_loaders as dl
>>> from strategies import MaCross
>>> data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
>>> wf = walk_forward(MaCross, {"fast": [3, 6], "slow": [20, 40]}, data, train="2h", test="1h")
>>> len(wf.folds), list(wf.folds.columns[:3])
(4, ['fold', 'train_start', 'train_end'])
>>> s = wf.stats()                  # the stitched out-of-sample record, as Result.stats
>>> bool(s["total_return"] == wf.total_return), wf.result is None       # flat: no continuous run
(True, True)
"""
from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import scenarios as sc
from ..config import SimConfig
from ..scenarios.base import fmt_duration, unitless
from ..driver import run
from ..stats import equity_values
from .analysis import best, param_columns
from .core import _strategy, sweep
from .runner import dataset_digest
from .space import _scenario_labels, expand
from .walkforward_carry import Fold, fold_switch, window_metric

#: what an ``out`` folder of :func:`walk_forward` holds: its arguments (resume checks them) and,
#: when done, the fold table; each fold's training sweep is in ``fold-NNN/`` (a sweep's ``out``)
WF_META = "walk_forward.json"
WF_TABLE = "walk_forward.csv"
#: metrics of the stitched record that are counts over the test runs (added up across folds)
_COUNTS = ("n_liquidations", "n_fills", "n_rejected")


@dataclass(frozen=True)
class WalkForwardResult:
    """The outcome of :func:`walk_forward`.

    Attributes
    ----------
    folds : DataFrame
        One row per fold: ``fold``, ``train_start``, ``train_end``, ``test_start``,
        ``test_end`` (windows are ``[start, end)``), the chosen grid values, ``is_metric`` (the
        winner's metric on its training window), ``oos_metric`` (its metric on the test window),
        ``n_ok`` (training runs that finished, under ``choose_on``). A fold with no finished
        training run has NaN.
        With ``scenarios=``, also per scenario label ``L``: ``rank[L]`` (the winner's rank
        among the grid's training runs under ``L``, 1 = best) and ``oos_metric[L]`` (its test
        run under ``L``); ``is_metric`` and ``oos_metric`` are those of ``choose_on``.
    returns : Series
        Out-of-sample simple returns between equity samples, the test windows one after
        another. Flat: each window starts with the initial cash, so its first return is
        measured from the initial cash. Carry: the continuous run's, gaps between windows
        included.
    equity : Series
        ``initial_cash * cumprod(1 + returns)``: the stitched out-of-sample equity, each window's
        gains compounding on the previous ones (carry: the continuous run's equity).
    metric : str
    initial_cash : float
        Of the test runs (NaN if no fold had a winner).
    sample_every : Timedelta or None
        The clock of the equity samples (None if no fold had a winner).
    result : Result or None
        Carry: the continuous run (under ``choose_on``); flat: None.
    test_stats : DataFrame or None
        Flat: :meth:`Result.stats` of each fold's test run under ``choose_on`` (one row per fold
        with a winner, indexed by fold).
    choose_on : str
        The scenario label the winners were chosen on (``"normal"`` by default).
    """

    folds: pd.DataFrame
    returns: pd.Series
    equity: pd.Series
    metric: str
    initial_cash: float
    sample_every: pd.Timedelta | None = None
    result: object = None
    test_stats: pd.DataFrame | None = None
    choose_on: str = "normal"

    @property
    def total_return(self) -> float:
        """Compounded out-of-sample return of the stitched test windows (carry: the continuous
        run's, as its :meth:`Result.stats`, at the final marks)."""
        if self.result is not None:
            return float(self.result.stats_values()["total_return"])
        return float(self.equity.iloc[-1] / self.initial_cash - 1.0) if len(self.equity) else float("nan")

    @property
    def carry(self) -> bool:
        """True for a carried walk-forward (one continuous run)."""
        return self.result is not None

    @property
    def ranks(self) -> pd.DataFrame:
        """The winner's in-sample rank under each scenario: folds x scenario labels (empty
        without ``scenarios=``)."""
        cols = [c for c in self.folds.columns if c.startswith("rank[")]
        out = self.folds.set_index("fold")[cols] if cols else pd.DataFrame(index=self.folds.get("fold"))
        return out.rename(columns=lambda c: c[len("rank["):-1]).rename_axis(columns="scenario")

    def stats(self) -> pd.Series:
        """Headline figures of the stitched out-of-sample record, as :meth:`Result.stats`.

        Carry: the continuous run's :meth:`Result.stats` (every metric). Flat: the equity
        metrics of the stitched equity (:data:`backtester.stats.EQUITY_METRICS`, from
        :func:`backtester.stats.equity_values`: the same formulas) and the counts
        (liquidations, fills, rejected orders) added up over the test runs; cost lines are
        left out (each window is a separate account, so their sums would not add up to the
        stitched equity).

        Examples
        --------
        >>> wf.stats()[["total_return", "sharpe", "max_drawdown", "n_fills"]]   # doctest: +SKIP
        """
        if self.result is not None:
            return self.result.stats().rename("walk-forward")
        if self.sample_every is None:
            return pd.Series(dtype=float, name="walk-forward")
        out = equity_values(self.equity.to_numpy(), self.initial_cash, self.sample_every)
        ts = self.test_stats
        for c in _COUNTS:
            out[c] = int(ts[c].sum()) if ts is not None and c in ts else 0
        return pd.Series(out, name="walk-forward")

    def plot(self, ax=None):
        """The stitched out-of-sample equity with the fold starts
        (:func:`~backtester.sweep.plot_walk_forward`); returns the Axes."""
        from .overfit_plots import plot_walk_forward

        return plot_walk_forward(self, ax=ax)


def walk_forward(strategy_cls, grid, data, train, test, step=None, *, anchored: bool = False, start=None,
                 metric: str = "sharpe", higher_is_better: bool | None = None, config: SimConfig | None = None,
                 scenarios=None, choose_on: str | None = None, carry: bool = False, out=None,
                 resume: bool = True, n_jobs: int | None = None, executor=None) -> WalkForwardResult:
    """Rolling (or anchored) walk-forward of ``strategy_cls`` over ``grid``.

    Fold ``k`` (from 0) trains on ``[start + k*step, start + k*step + train)`` (anchored: from
    ``start``) and tests on the ``test`` that follows; folds go on while the test window ends
    at or before the last trade. On the training window the grid is swept with
    :func:`~backtester.sweep.sweep` (only that slice of the data: no choice sees anything after
    its training window) and the best successful run by ``metric`` is chosen, ties going to the
    first in grid order (:func:`~backtester.sweep.best`); the choice then trades the test window.

    Two ways to trade the test windows (``carry``):

    - flat (default): each choice runs alone on its test window, starting flat with the
      initial cash, its indicators warming up inside the window. Every fold's out-of-sample
      metric is then independent of the other folds (a bad fold cannot spill into the next),
      which is what comparing in- and out-of-sample figures fold by fold needs.
    - carry: what a live account trading the procedure would have done. One continuous run
      from the first test window's start to the last one's end, in which the active strategy
      switches at each test window's start to that fold's choice; cash, positions and orders
      in flight carry over (no flattening at a boundary: the new choice trades from what the
      account holds). Each choice is initialised on the data from its training window's start
      to its test window's end, so its indicators are warm, and only its decisions inside its
      test window are used. A fold without a winner makes no decision: the account holds what
      it has. With ``step > test`` the gaps between test windows have no decisions either;
      positions are held, marked and funded there, and the gaps are in the equity. A fold's
      ``oos_metric`` is computed on its window's part of the continuous equity (from the
      equity just before the window; :func:`backtester.stats.equity_values`), so only the
      equity metrics (total return, Sharpe, Sortino, drawdown) have one: others are NaN.
      The grid may then hold strategy parameters only (one run has one config).

    Parameters
    ----------
    strategy_cls, grid, config, n_jobs, executor
        As :func:`~backtester.sweep.sweep` (no ``"scenario"`` in the grid: see ``scenarios``).
        ``executor`` and ``n_jobs`` run the training sweeps (e.g. on a Dask cluster); the test
        runs are one per fold and scenario, in this process.
    data : data_loaders.Dataset
    train, test : str or Timedelta
        Window lengths, e.g. ``"14D"``, ``"3D"``.
    step : str or Timedelta, optional
        Between fold starts; default ``test``. At least ``test``, so test windows never
        overlap (flat: the gaps are left out of the stitched record).
    anchored : bool
        True: every training window starts at ``start`` and grows.
    start : str or Timestamp, optional
        The first training window's start; default the first trade.
    metric : str
        A :meth:`Result.stats` column.
    higher_is_better : bool, optional
        Default: by metric, as :func:`~backtester.sweep.best`.
    scenarios : list or dict of Scenario, optional
        As :func:`~backtester.sweep.sweep`: every training sweep runs under each, and so does
        every test run (flat: a scenario is applied to each test window; carry: once to the data
        from the first training window's start to the last test end, times relative to the
        data counting from there). The fold table gains ``rank[L]`` and ``oos_metric[L]``.
    choose_on : str, optional
        The scenario label the winner is chosen on; default the first scenario.
    carry : bool
        False (default): every test window starts flat; True: one continuous account (above).
    out : str or Path, optional
        A folder: each fold's training sweep is stored in ``out/fold-NNN`` (a sweep's ``out``,
        so a killed walk-forward resumes without redoing finished training runs), the
        arguments in ``out/walk_forward.json``, the fold table in ``out/walk_forward.csv``.
    resume : bool
        With ``out``: True continues the walk-forward stored there (one with other arguments
        is a ``ValueError``); False starts over (the training sweeps' stored runs are deleted
        by their sweeps; nothing the walk-forward did not write is touched).

    Returns
    -------
    WalkForwardResult

    Raises
    ------
    ValueError
        A non-positive window, ``step < test``, a ``"scenario"`` grid name, data too short for
        one fold, an unknown ``choose_on`` (the message names the labels), config fields in
        the grid with ``carry=True``, or ``out`` holding another walk-forward or other files.

    Examples
    --------
    >>> import data_loaders as dl
    >>> from strategies import MaCross
    >>> from backtester import scenarios as sc
    >>> data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
    >>> wf = walk_forward(MaCross, {"fast": [3, 6], "slow": [20, 40]}, data, train="2h", test="1h",
    ...                   carry=True, scenarios=[sc.NORMAL, sc.Slippage(4.0)])
    >>> wf.carry, list(wf.ranks.columns)
    (True, ['normal', 'slippage x4'])
    >>> wf.result.equity["equity"].equals(wf.equity)       # the continuous account
    True
    >>> ax = wf.plot()                                                    # doctest: +SKIP
    """
    cls, base_params = _strategy(strategy_cls)
    train, test = positive_duration("train", train), positive_duration("test", test)
    step = test if step is None else positive_duration("step", step)
    if isinstance(grid, dict) and "scenario" in grid:
        raise ValueError("walk_forward: a 'scenario' grid name is not supported; pass scenarios= instead")
    config = copy.deepcopy(config if config is not None else SimConfig())
    windows = fold_windows(data, train, test, step, anchored=anchored, start=start)
    labelled = _labelled(scenarios)
    choose_on = _choose_label(list(labelled), choose_on)
    plan = expand(cls, grid)
    params = plan.param_columns
    if carry and any(r.config_params for r in plan.runs):
        raise ValueError("walk_forward: carry=True runs one continuous account under one config; the grid's "
                         f"config fields {sorted(plan.runs[0].config_params)} would change it per fold")
    root = None
    if out is not None:
        root = _open_out(out, resume, {
            "strategy": f"{cls.__module__}.{cls.__qualname__}", "base_params": repr(base_params),
            "grid": repr(grid), "data": dataset_digest(data), "train": str(train), "test": str(test),
            "step": str(step), "anchored": bool(anchored), "start": str(windows[0][0]), "metric": metric,
            "higher_is_better": repr(higher_is_better), "config": repr(config),
            "scenarios": [[k, repr(v)] for k, v in labelled.items()], "choose_on": choose_on, "carry": bool(carry)})
    sweep_scenarios = None if scenarios is None else dict(labelled)
    rows, chosen = [], []
    for k, (tr_lo, tr_hi, te_lo, te_hi) in enumerate(windows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # failed runs are counted in n_ok
            table = sweep(strategy_cls, grid, data.slice(tr_lo, tr_hi), scenarios=sweep_scenarios, config=config,
                          n_jobs=n_jobs, executor=executor, progress=False,
                          out=None if root is None else root / f"fold-{k:03d}", resume=resume)
        winner, ranks = _winner(table, metric, choose_on, higher_is_better, params)
        on = table[table["scenario"] == choose_on]
        row = {"fold": k, "train_start": tr_lo, "train_end": tr_hi, "test_start": te_lo, "test_end": te_hi,
               "n_ok": int((on["status"] == "ok").sum()),
               **({f"rank[{lbl}]": ranks.get(lbl, np.nan) for lbl in labelled} if scenarios is not None else {})}
        if winner is None:
            rows.append({**row, **{p: None for p in params}, "is_metric": np.nan})
            chosen.append(None)
            continue
        choice = {p: winner[p] for p in params}
        spec = expand(cls, {p: [v] for p, v in choice.items()}).runs[0]
        chosen.append((cls(**{**copy.deepcopy(base_params), **spec.strategy_params}), spec.config_params))
        rows.append({**row, **choice, "is_metric": float(winner[metric])})
    folds = pd.DataFrame(rows)
    if carry:
        oos, extra = _carry(chosen, windows, data, config, labelled, metric, choose_on)
    else:
        oos, extra = _flat(chosen, windows, data, config, labelled, metric, choose_on)
    folds["oos_metric"] = oos[choose_on]
    if scenarios is not None:
        for lbl in labelled:
            folds[f"oos_metric[{lbl}]"] = oos[lbl]
    order = ["fold", "train_start", "train_end", "test_start", "test_end", *params, "is_metric", "oos_metric",
             "n_ok"]
    folds = folds[order + [c for c in folds.columns if c not in order]]
    wf = WalkForwardResult(folds, metric=metric, choose_on=choose_on, **extra)
    if root is not None:
        folds.to_csv(root / WF_TABLE, index=False)
    return wf


# ============================================================================ choosing
def winner_ranks(table: pd.DataFrame, metric: str = "sharpe", choose_on: str | None = None,
                 higher_is_better: bool | None = None) -> pd.Series:
    """The rank, under each scenario of a sweep ``table``, of the parameters that win on
    ``choose_on``: 1 = best, as :func:`~backtester.sweep.best` orders the scenario's runs (NaN
    last, ties in table order, so ties rank deterministically); NaN where the winner's run
    failed or has no value. With several seeds of a scenario, its first row of the winner's
    parameters counts.

    Parameters
    ----------
    table : DataFrame
        A :func:`~backtester.sweep.sweep` table.
    metric : str
    choose_on : str, optional
        A scenario label of the table; default the first.
    higher_is_better : bool, optional
        Default: by metric.

    Returns
    -------
    Series
        Indexed by scenario label (table order); all NaN when ``choose_on`` has no winner.

    Raises
    ------
    ValueError
        ``choose_on`` is not a scenario of the table (the message names those it has).

    Examples
    --------
    >>> df = pd.DataFrame({"run_id": list("abcd"), "leverage": [0.0, 3.0, 0.0, 3.0],
    ...                    "scenario": ["normal", "normal", "outage", "outage"], "seed": 0,
    ...                    "status": "ok", "total_return": [0.0, 0.2, 0.0, -0.9]})
    >>> winner_ranks(df, "total_return").to_dict()          # 3x wins on normal, last in the outage
    {'normal': 1.0, 'outage': 2.0}
    """
    params = param_columns(table)
    choose_on = _choose_label(list(dict.fromkeys(table["scenario"])), choose_on)
    _, ranks = _winner(table, metric, choose_on, higher_is_better, params)
    return pd.Series(ranks, dtype=float, name=f"rank by {metric}").rename_axis("scenario")


def _winner(table, metric, choose_on, higher_is_better, params):
    """``(winner row or None, {label: rank})``: the best run on ``choose_on`` and its rank under
    every scenario of the table."""
    labels = list(dict.fromkeys(table["scenario"]))
    if metric not in table.columns and not (table["status"] == "ok").any():
        return None, {lbl: np.nan for lbl in labels}  # a sweep whose runs all failed has no metric columns
    top = best(table[table["scenario"] == choose_on], metric, n=1, higher_is_better=higher_is_better)
    if top.empty:
        return None, {lbl: np.nan for lbl in labels}
    winner = top.iloc[0]
    key = tuple(winner[p] for p in params)
    ranks = {}
    for lbl in labels:
        sub = table[table["scenario"] == lbl]
        ranked = best(sub, metric, n=len(sub), higher_is_better=higher_is_better)
        hits = [i for i, row in enumerate(zip(*(ranked[p] for p in params))) if _same_key(row, key)]
        ranks[lbl] = float(hits[0] + 1) if hits else np.nan
    return winner, ranks


def _same_key(a, b) -> bool:
    return all(x == y or (x is None and y is None) for x, y in zip(a, b))


def _labelled(scenarios) -> dict:
    """``{label: Scenario}`` in the given order (sweep's labels)."""
    scenarios = [sc.NORMAL] if scenarios is None else scenarios
    objs = list(scenarios.values()) if isinstance(scenarios, dict) else list(scenarios)
    labels = _scenario_labels(scenarios)
    from .space import _key

    return {labels[_key(sc.as_scenario(s))]: sc.as_scenario(s) for s in objs}


def _choose_label(labels: list, choose_on):
    if choose_on is None:
        return labels[0] if labels else None
    if choose_on not in labels:
        raise ValueError(f"walk_forward: choose_on={choose_on!r} is not a scenario label; known: {labels}")
    return choose_on


# ============================================================================ trading the test windows
def _flat(chosen, windows, data, config, labelled, metric, choose_on):
    """Each choice alone on its test window under each scenario: ``({label: oos per fold}, result
    fields)``; the stitched record is ``choose_on``'s."""
    oos = {lbl: [] for lbl in labelled}
    pieces, stats = [], {}
    initial, every = float("nan"), None
    for k, (c, (_, _, te_lo, te_hi)) in enumerate(zip(chosen, windows)):
        for lbl, scen in labelled.items():
            if c is None:
                oos[lbl].append(np.nan)
                continue
            strategy, config_params = c
            setup = _applied(scen, lbl, data.slice(te_lo, te_hi), config.with_(**config_params), lbl == choose_on)
            if setup is None:
                oos[lbl].append(np.nan)
                continue
            res = run(copy.deepcopy(strategy), setup.data, setup.config, reorgs=setup.reorgs)
            values = res.stats_values()
            oos[lbl].append(float(values[metric]))
            if lbl == choose_on:
                initial, every = float(res.engine.initial_cash.sum()), res.sample_every
                pieces.append(_window_returns(res, initial))
                stats[k] = values
    returns = pd.concat(pieces) if pieces else pd.Series([], dtype=float)
    returns.name = "return"
    equity = (initial * (1.0 + returns).cumprod()).rename("equity")
    test_stats = pd.DataFrame.from_dict(stats, orient="index").rename_axis("fold") if stats else None
    return oos, dict(returns=returns, equity=equity, initial_cash=initial, sample_every=every,
                     test_stats=test_stats)


def _applied(scenario, label, data, config, required: bool):
    """``sc.apply``; a scenario that does not fit a test window (an incident at a time outside
    it) gives None and a warning, as it fails its runs in a sweep, unless it is the one the
    winners are chosen on."""
    try:
        return sc.apply(scenario, data, config)
    except Exception as exc:  # noqa: BLE001 - as a sweep records a scenario that does not fit
        if required:
            raise
        warnings.warn(f"walk_forward: scenario {label!r} does not apply to the test data "
                      f"({data.start} .. {data.end}): {exc}; its out-of-sample metric is NaN",
                      RuntimeWarning, stacklevel=4)
        return None


def _carry(chosen, windows, data, config, labelled, metric, choose_on):
    """One continuous run per scenario (:mod:`.walkforward_carry`): ``({label: oos per fold},
    result fields)``; the continuous record is ``choose_on``'s."""
    oos = {lbl: [np.nan] * len(windows) for lbl in labelled}
    empty = pd.Series([], dtype=float)
    if all(c is None for c in chosen):
        return oos, dict(returns=empty.rename("return"), equity=empty.rename("equity"), initial_cash=np.nan)
    lo, hi = windows[0][2], windows[-1][3]
    warm_lo = min(w[0] for w in windows)
    main = None
    for lbl, scen in labelled.items():
        setup = _applied(scen, lbl, data.slice(warm_lo, hi), config, lbl == choose_on)
        if setup is None:
            continue
        folds = [Fold(None if c is None else c[0], tr_lo, te_lo, te_hi)
                 for c, (tr_lo, _, te_lo, te_hi) in zip(chosen, windows)]
        switch = fold_switch(folds, setup.data)
        reorgs = [r for r in setup.reorgs if lo <= pd.Timestamp(r[0]) < hi]
        res = run(switch, setup.data.slice(lo, hi), setup.config, reorgs=reorgs)
        oos[lbl] = [np.nan if c is None else window_metric(res, metric, te_lo, te_hi)
                    for c, (_, _, te_lo, te_hi) in zip(chosen, windows)]
        if lbl == choose_on:
            main = res
    initial = float(main.engine.initial_cash.sum())
    returns = _window_returns(main, initial).rename("return")
    equity = main.equity["equity"].rename("equity")
    return oos, dict(returns=returns, equity=equity, initial_cash=initial, sample_every=main.sample_every,
                     result=main)


# ============================================================================ out folder
def _open_out(out, resume: bool, meta: dict) -> Path:
    """``out`` as a walk-forward's folder: new, empty, or holding a walk-forward (with the same
    arguments unless ``resume=False``); its arguments written."""
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ValueError(f"walk_forward: out={str(out)!r} is a file, not a folder")
    f = root / WF_META
    if root.is_dir() and not f.exists() and any(root.iterdir()):
        raise ValueError(f"walk_forward: out={str(out)!r} holds other files and no walk-forward ({WF_META}); "
                         "it writes only to a new or empty folder or to its own: choose another out")
    meta = json.loads(json.dumps(meta, default=str))
    old = json.loads(f.read_text()) if f.exists() else None
    if resume and old is not None and old != meta:
        diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
        raise ValueError(f"walk_forward: {root} holds a walk-forward with another {', '.join(diff)} "
                         f"({old.get(diff[0])!r} there, {meta.get(diff[0])!r} now); pass resume=False to "
                         "start over, or use another out folder")
    root.mkdir(parents=True, exist_ok=True)
    if not resume:
        (root / WF_TABLE).unlink(missing_ok=True)
    tmp = root / f".{WF_META}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    tmp.replace(f)  # atomic: a killed call leaves the old arguments or the new, whole
    return root


def fold_windows(data, train, test, step, *, anchored: bool = False, start=None) -> list[tuple]:
    """``(train_start, train_end, test_start, test_end)`` of every fold (see :func:`walk_forward`).

    The folds tile the span the data covers: from ``start`` (default: the start of the slice
    the dataset was cut with, else its first trade's minute) to the end of that slice (else
    the end of its last trade's minute), so a day sliced as ``"2022-11-09"`` .. ``"2022-11-10"``
    gives folds on the hour, and the last window is kept though no trade falls in its final
    second.

    Raises
    ------
    ValueError
        A non-positive or unitless window, ``step < test``, or data shorter than one fold.

    Examples
    --------
    >>> import data_loaders as dl
    >>> data = dl.sample().slice("2022-11-09 12:00", "2022-11-09 18:00")
    >>> w = fold_windows(data, "2h", "1h", "1h")
    >>> [(a.strftime("%H:%M"), d.strftime("%H:%M")) for a, b, c, d in w]
    [('12:00', '15:00'), ('13:00', '16:00'), ('14:00', '17:00'), ('15:00', '18:00')]
    """
    train, test, step = positive_duration("train", train), positive_duration("test", test), positive_duration("step", step)
    if step < test:
        raise ValueError(f"walk_forward: step ({fmt_duration(step)}) must be at least test ({fmt_duration(test)}): "
                         "test windows would overlap")
    if data.start is None:
        raise ValueError("walk_forward: the dataset has no trades")
    lo, end = data_span(data)
    origin = pd.Timestamp(start) if start is not None else lo
    if origin.tzinfo is None:
        origin = origin.tz_localize("UTC")
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
        raise ValueError(f"walk_forward: {origin:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} is shorter than one "
                         f"fold (train {fmt_duration(train)} + test {fmt_duration(test)})")
    return out


def data_span(data) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` the dataset covers: the bounds it was sliced with (``Dataset.slice``
    records them) where they hold its trades, else its first trade's minute to the end of its
    last trade's minute."""
    first, last = data.start, data.end
    lo, hi = first.floor("min"), last.floor("min") + pd.Timedelta(1, "min")
    cut = data.meta.get("slice") if isinstance(data.meta, dict) else None
    if cut and len(cut) == 2:
        a, b = (_stamp(v) for v in cut)
        if a is not None and a <= first:
            lo = a
        if b is not None and b > last:
            hi = b
    return lo, hi


def _stamp(value):
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if ts is pd.NaT or pd.isna(ts):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def positive_duration(name, value) -> pd.Timedelta:
    """``value`` as a positive ``pd.Timedelta`` (``"3D"``, ``"12h"``); ``ValueError`` naming ``name``.

    A number without a unit is refused: pandas reads ``"6"`` as 6 nanoseconds, which would make
    millions of folds rather than an error.

    Examples
    --------
    >>> positive_duration("test", "90min")
    Timedelta('0 days 01:30:00')
    >>> positive_duration("test", "6")
    Traceback (most recent call last):
    ...
    ValueError: walk_forward: test must be a duration with a unit like '3D' or '12h', got '6'
    """
    if unitless(value):
        raise ValueError(f"walk_forward: {name} must be a duration with a unit like '3D' or '12h', got {value!r}")
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

