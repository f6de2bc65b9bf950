"""The carried walk-forward (``walk_forward(..., carry=True)``): one continuous run in which the
active strategy switches, at each test window's start, to that fold's choice.

A wrapper strategy holds every fold's chosen strategy instance. Each of them is initialised
on its own warm-up data (from its training window's start to its test window's end, so its
indicators are warm when its test window opens, as they would be for an account that had
been running it) with its own decision times, and its decisions are used only inside its
test window; at a test window's first decision the account is sent to the target the chosen
strategy stands at by then (its last target, even one stated in its warm-up). When every chosen strategy is plan-only with one target kind, the wrapper is
plan-only too (one kernel call, its targets the windows' targets one after another);
otherwise it calls the active strategy's ``on_decision`` (a plan-only one's targets are
replayed with ``ctx.target_<kind>``).

Between test windows (``step > test``) and in the window of a fold without a winner there is
no decision: the account keeps what it holds (positions marked, funded, liquidatable; orders
in flight go on per the engine's rules).

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import BuyAndHold
>>> data = dl.sample().slice("2022-11-08 00:00", "2022-11-08 04:00")
>>> t = [pd.Timestamp(f"2022-11-08 0{h}:00", tz="UTC") for h in range(5)]
>>> folds = [Fold(BuyAndHold(leverage=1.0, every="10min"), t[0], t[2], t[3]),
...          Fold(BuyAndHold(leverage=2.0, every="10min"), t[1], t[3], t[4])]
>>> switch = fold_switch(folds, data)
>>> res = bt.run(switch, data.slice(t[2], t[4]))
>>> switch.plan_only, len(switch.decision_times)    # one kernel call; 6 decisions a test hour
(True, 12)
>>> int(res.stats()["n_fills"])   # each fold's first decision moves to the target it stands at
2
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..cadence import decision_times
from ..context import ContextView
from ..stats import EQUITY_METRICS, equity_values
from ..strategy import Strategy


class Fold(NamedTuple):
    """One fold's chosen strategy (None: no winner) and windows: it warms up from
    ``warm_start`` and decides in ``[test_start, test_end)``."""

    strategy: Strategy | None
    warm_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


class _FoldSwitch(Strategy):
    """Plan-only: the folds' planned targets, each inside its test window (set in ``init``)."""

    params: dict = {}

    def __init__(self, times, plan: dict, kind: str | None, inners: list, owner: list):
        super().__init__(every=times)
        self._plan, self._kind = plan, kind
        #: the chosen strategies (fold order, None for no winner) and, per decision, (fold, its own index)
        self.inners, self._owner = inners, owner

    @property
    def name(self) -> str:
        return "walk-forward(carry)"

    def __repr__(self) -> str:
        return f"_FoldSwitch({len(self.inners)} folds)"

    def init(self, data) -> None:
        for market, values in self._plan.items():
            self.set_targets(market, values, kind=self._kind)


class _FoldSwitchHybrid(_FoldSwitch):
    """Hybrid: each decision goes to the strategy of its fold."""

    def init(self, data) -> None:
        """Nothing: the folds' strategies were initialised on their own warm-up data."""

    def on_decision(self, ctx) -> None:
        k, d = self._owner[ctx.decision]
        inner = self.inners[k]
        planned, kind = inner.planned_targets
        if planned:
            target = getattr(ctx, f"target_{kind}")
            for market, values in planned.items():
                if not np.isnan(values[d]):  # the plan's "no order at this decision"
                    target(market, float(values[d]))
        else:
            inner.on_decision(_InnerContext(ctx, d))


class _InnerContext(ContextView):
    """The real context with ``decision`` the index in the inner strategy's own decision times
    (what its ``init`` precomputed against)."""

    __slots__ = ("decision",)

    def __init__(self, ctx, decision: int):
        super().__init__(ctx)
        self.decision = decision


def fold_switch(folds, data) -> _FoldSwitch:
    """The wrapper strategy of ``folds`` (:class:`Fold`, in time order, test windows disjoint)
    on ``data`` (which covers every fold's warm-up): each chosen strategy (a deep copy) is
    initialised here, on ``data`` from its ``warm_start`` to its ``test_end``."""
    inners, times, owner = [], [], []
    for k, f in enumerate(folds):
        if f.strategy is None:
            inners.append(None)
            continue
        inner = copy.deepcopy(f.strategy)
        warm = data.slice(f.warm_start, f.test_end)
        own = decision_times(inner.every, warm.start.value, warm.end.value) if warm.start is not None \
            else pd.DatetimeIndex([], tz="UTC")
        inner.decision_times = own
        inner.clear_targets()  # as the driver prepares any strategy
        inner.init(warm)
        planned, _ = inner.planned_targets
        if planned and not inner.plan_only:
            raise ValueError(f"{type(inner).__name__} sets targets in init() and overrides on_decision(); "
                             "use one or the other")
        inside = np.flatnonzero((own >= f.test_start) & (own < f.test_end))
        if len(inside):
            _stand(planned, inside[0])
        inners.append(inner)
        times.append(own[inside])
        owner.extend((k, int(d)) for d in inside)
    idx = times[0].append(times[1:]) if times else pd.DatetimeIndex([], tz="UTC")
    chosen = [s for s in inners if s is not None]
    kinds = {s.planned_targets[1] for s in chosen}
    if chosen and all(s.plan_only for s in chosen) and len(kinds) == 1:
        markets = sorted({m for s in chosen for m in s.planned_targets[0]})
        plan = {m: np.full(len(idx), np.nan) for m in markets}
        at = 0
        for k, s in enumerate(inners):
            if s is None:
                continue
            own_idx = [d for kk, d in owner if kk == k]
            for m, values in s.planned_targets[0].items():
                plan[m][at:at + len(own_idx)] = values[own_idx]
            at += len(own_idx)
        return _FoldSwitch(idx, plan, kinds.pop(), inners, owner)
    return _FoldSwitchHybrid(idx, {}, None, inners, owner)


def _stand(planned: dict, first: int) -> None:
    # a plan states a target when it changes (BuyAndHold: once) and NaN means "no order": the
    # switch at the test window's start must still move the carried account to the target the
    # strategy stands at by then, or a strategy whose last order fell in its warm-up never trades
    for values in planned.values():
        if np.isnan(values[first]):
            stated = values[:first][~np.isnan(values[:first])]
            if len(stated):
                values[first] = stated[-1]


def window_metric(res, metric: str, start, end) -> float:
    """``metric`` of ``res``'s equity samples in ``[start, end)``, from the last sample before
    ``start`` (or the initial cash): :func:`backtester.stats.equity_values`. NaN for a metric
    that is not one of :data:`~backtester.stats.EQUITY_METRICS` (fills, costs, ... are not
    split by window)."""
    if metric not in EQUITY_METRICS:
        return float("nan")
    eq = res.equity["equity"]
    before = eq[eq.index < start]
    initial = float(before.iloc[-1]) if len(before) else float(res.engine.initial_cash.sum())
    inside = eq[(eq.index >= start) & (eq.index < end)]
    return float(equity_values(inside.to_numpy(), initial, res.sample_every)[metric])
