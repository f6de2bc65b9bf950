"""`run`: one strategy on one dataset under one config, by the fast path or the hybrid driver.

Fast path: a strategy whose targets are all planned in ``init`` runs in a single kernel call.
Hybrid: the kernel runs to the next decision time, Python calls ``on_decision``, the kernel
resumes where it stopped (a cached kernel re-entered, no Python inside the loop).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from data_loaders.dataset import sealed

from .cadence import decision_times
from .config import SimConfig
from .context import Context
from .engine import Engine
from .kernel import enums as E
from .kernel import hooks
from .kernel.state import CI_TARGET_MODE, conform
from .market_data import MarketData
from .prepare import layout_for, prepare, with_decisions
from .result import Result
from .strategy import TARGET_KINDS, Strategy, label


class NoDecisionsWarning(UserWarning):
    """A strategy's cadence gives no decision time within the data: it can never trade."""


def run(strategy: Strategy, data, config: SimConfig | None = None, *, reorgs=(), progress: bool = False) -> Result:
    """Backtest ``strategy`` on ``data`` under ``config``.

    Parameters
    ----------
    strategy : Strategy
        An instance (``MaCross(fast=10)``).
    data : data_loaders.Dataset
    config : SimConfig, optional
        Frictions and model choices; defaults to ``SimConfig()``.
    reorgs : sequence of (timestamp, venue)
        Reorg events: fills still pending on that venue at that time are reverted.
    progress : bool
        Show a progress bar over decisions (hybrid driver).

    Returns
    -------
    Result

    Examples
    --------
    >>> import backtester as bt, data_loaders as dl
    >>> from strategies import BuyAndHold
    >>> res = bt.run(BuyAndHold(leverage=2.0), dl.sample("btcusdt-tape"), bt.SimConfig())
    >>> res.stats()["total_return"]  # doctest: +SKIP
    """
    _check_strategy(strategy)
    config = config or SimConfig()
    result = run_prepared(strategy, Prepared.build(data, config, reorgs), progress=progress)
    result.warn_rejections()
    result.warn_unfillable()
    return result


class Prepared(NamedTuple):
    """One dataset under one config, laid out for the kernel once and shared by many runs.

    Every strategy run on a ``Prepared`` receives the very same market arrays (only decision
    times and fast-path targets differ), so :func:`backtester.compare` can prove by hashing
    that no strategy was given other data or costs.
    """

    data: object
    config: SimConfig
    layout: object
    inputs: object
    reorgs: tuple

    @classmethod
    def build(cls, data, config: SimConfig | None = None, reorgs=()) -> Prepared:
        config = config or SimConfig()
        layout = layout_for(data, config)
        inputs, _ = prepare(data, config, layout, reorgs=reorgs)
        # read-only for good: the runs share these arrays, so a write into them is an error at
        # once rather than a difference found later (the kernel's own types are read-only too)
        locked = inputs._make(sealed(a)[:] for a in inputs)
        return cls(data, config, layout, conform(locked), tuple(reorgs))


def run_prepared(strategy: Strategy, prepared: Prepared, *, progress: bool = False) -> Result:
    """:func:`run` on an already prepared dataset (the path of compare and sweeps)."""
    engine = engine_for(strategy, prepared)
    if is_fast_path(engine):
        engine.run()
    else:
        _hybrid(engine, strategy, progress)
    return Result(engine, strategy, prepared.data, prepared.config)


def engine_for(strategy: Strategy, prepared: Prepared) -> Engine:
    """Call ``strategy.init`` and set up its engine, not yet run.

    A plan-only strategy (targets from ``init``, no ``on_decision``) gets fast-path inputs,
    the others hook mode (:func:`is_fast_path` tells which).
    """
    _check_strategy(strategy)
    data, config, layout = prepared.data, prepared.config, prepared.layout
    times = decision_times(strategy.every, layout.start_ns, layout.end_ns)
    if not len(times):
        warnings.warn(f"{strategy.name}: no decision time of every={label(strategy.every)} falls within the data "
                      f"({pd.Timestamp(layout.start_ns, tz='UTC')} .. {pd.Timestamp(layout.end_ns, tz='UTC')}): "
                      "the strategy never decides", NoDecisionsWarning, stacklevel=3)
    strategy.decision_times = times
    strategy.clear_targets()
    strategy.init(data)
    planned, kind = strategy.planned_targets
    dc = times.asi8
    if strategy.plan_only:
        targets = np.full((len(dc), len(layout.markets)), np.nan)
        for market, values in planned.items():
            if market not in layout.markets:
                raise KeyError(f"targets for unknown market {market!r}; markets: {layout.markets}")
            targets[:, layout.markets.index(market)] = values
        inp = with_decisions(prepared.inputs, dc, targets, TARGET_KINDS[kind])
    else:
        if planned:
            raise ValueError(f"{type(strategy).__name__} sets targets in init() and overrides on_decision(); "
                             "use one or the other")
        inp = with_decisions(prepared.inputs, dc, None, E.MODE_HOOK)
    return Engine(inp, layout, config)


def is_fast_path(engine: Engine) -> bool:
    """True when the engine's decisions are targets traded in the kernel (no Python)."""
    return int(engine.inputs.cfg_i[CI_TARGET_MODE]) >= 0


def _check_strategy(strategy) -> None:
    if not isinstance(strategy, Strategy):
        raise TypeError(f"run() expects a Strategy instance, got {type(strategy).__name__}"
                        + (" (did you forget to instantiate it?)" if isinstance(strategy, type) else ""))


def _hybrid(engine: Engine, strategy: Strategy, progress: bool) -> None:
    """Run with ``on_decision`` called from inside the kernel (``backtester.kernel.hooks``)."""
    md = MarketData(engine.inputs)
    dc = engine.inputs.dc_ts.tolist()
    decide = strategy.on_decision
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(dc), desc=type(strategy).__name__, unit="decision")

    def callback(d):
        decide(Context(engine, md, d, dc[d]))
        if bar is not None:
            bar.update(1)

    try:
        # the kernel finds the callback in the hooks module, per thread
        with hooks.installed(callback) as hook:
            code = engine.step()
            if code == E.EXIT_ERROR:
                hook.raise_pending()
    finally:
        if bar is not None:
            bar.close()
