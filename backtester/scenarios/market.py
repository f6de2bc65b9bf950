"""Market scenarios: slippage multiplier, funding spike or flip, price shock, liquidity drought.

Examples
--------
>>> import data_loaders as dl
>>> from backtester import scenarios as sc
>>> s = sc.apply(sc.PriceShock("2022-11-10 00:00", -0.2), dl.sample())
>>> s.data.trades.num_rows < dl.sample().trades.num_rows   # the 5-minute gap has no trades
True
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from . import _tables as T
from .base import (Scenario, as_names, earliest, factor, fmt_duration, fmt_factor, fmt_moment,
                   fmt_window, markets_of, moment, pick, resolve, set_attr, span, window)


def _market_label(markets) -> str:
    return "" if markets is None else " on " + ",".join(markets)


def _window_fields(obj, what: str, *, required: bool = False) -> None:
    if obj.start is None and (required or obj.duration is not None):
        raise ValueError(f"{what}: {'a window needs a start' if not required else 'start is required'}")
    if obj.start is not None:
        set_attr(obj, "start", moment(obj.start, f"{what}.start"))
    if obj.duration is not None:
        set_attr(obj, "duration", span(obj.duration, f"{what}.duration"))
    elif required:
        raise ValueError(f"{what}: duration is required")


# ============================================================================ slippage
def _step(value) -> tuple[np.ndarray, np.ndarray, float]:
    """A slippage multiplier as (stamps ns, values, value before the first stamp)."""
    if isinstance(value, pd.Series):
        idx = pd.DatetimeIndex(value.index)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        return idx.as_unit("ns").asi8.copy(), value.to_numpy(np.float64).copy(), 1.0
    return np.zeros(0, np.int64), np.zeros(0), float(value)


def multiply_slippage(value, factor: float, s, e: int, floor: int):
    """``value`` (constant or step series) times ``factor`` on ``[s, e)`` (``s=None``: always).

    The result is a constant when it can be, else a step series that also holds its value
    before the first stamp: a row at ``floor`` is added when that value is not the 1.0 the
    engine assumes before a series starts.

    Examples
    --------
    >>> multiply_slippage(2.0, 3.0, None, 0, 0)
    6.0
    >>> multiply_slippage(2.0, 3.0, 10, 20, 0).tolist()
    [2.0, 6.0, 2.0]
    """
    ts, vals, before = _step(value)
    if s is None and len(ts) == 0:
        return before * factor

    def f(t):
        if s is None:
            return np.full(len(t), factor)
        return np.where((t >= s) & (t < e), factor, 1.0)

    edges = [] if s is None else [s] + ([e] if e < T.NS_MAX else [])
    points = np.unique(np.concatenate([ts, np.asarray(edges, np.int64)]))
    i = np.searchsorted(ts, points, side="right") - 1
    base = np.where(i >= 0, vals[np.maximum(i, 0)] if len(vals) else before, before)
    out = base * f(points)
    first_value = before * (factor if s is None else 1.0)
    if first_value != 1.0 and floor < points[0]:
        points, out = np.concatenate([[floor], points]), np.concatenate([[first_value], out])
    return pd.Series(out, index=pd.DatetimeIndex(pd.to_datetime(points, utc=True)), name="slippage_multiplier")


@dataclass(frozen=True)
class Slippage(Scenario):
    """Taker slippage multiplied by ``multiplier``, over the whole run or on a window.

    Parameters
    ----------
    multiplier : float
        ``>= 0``.
    start, duration : optional
        Window; None = the whole run.

    Notes
    -----
    Edits ``SimConfig.slippage_multiplier`` only: a constant is multiplied; a window makes (or
    multiplies into) the step series the engine reads (value in force = last at or before the
    trade; see the SimConfig docstring), so it composes multiplicatively with an existing one.

    Examples
    --------
    >>> Slippage(3).name, Slippage(2, "2022-11-10 14:00", "2h").name
    ('slippage x3', 'slippage x2 2h @ 2022-11-10 14:00')
    """

    multiplier: float
    start: object = None
    duration: object = None

    def __post_init__(self):
        set_attr(self, "multiplier", factor(self.multiplier, "Slippage.multiplier", zero=True))
        _window_fields(self, "Slippage")

    @property
    def name(self) -> str:
        return f"slippage {fmt_factor(self.multiplier)}{fmt_window(self.start, self.duration)}"

    def apply(self, setup, rng):
        s, e = window(self.start, self.duration, setup.data, "Slippage")
        value = multiply_slippage(setup.config.slippage_multiplier, self.multiplier, s, e, earliest(setup.data))
        return setup.with_(config=setup.config.with_(slippage_multiplier=value))


# ============================================================================ funding
@dataclass(frozen=True)
class FundingShock(Scenario):
    """Funding rates multiplied (spike) and/or sign-reversed (flip), whole run or on a window.

    Parameters
    ----------
    multiplier : float
        Rates times this (``>= 0``).
    flip : bool
        Reverse the sign: who received funding pays it.
    start, duration : optional
        Window of funding-row timestamps; None = the whole run.
    markets : str or list of str, optional
        Default: every market.

    Notes
    -----
    Only the ``rate`` column of the funding rows changes. A rate reaching ``|rate| >= 1`` is
    an error; rates beyond the data layer's plausible bound are accepted (the returned
    dataset has ``allow_extreme=True``). On data without funding rows the scenario changes
    nothing.

    Examples
    --------
    >>> FundingShock(flip=True).name, FundingShock(10, markets="BTC-USD").name
    ('funding flip', 'funding x10 on BTC-USD')
    """

    multiplier: float = 1.0
    flip: bool = False
    start: object = None
    duration: object = None
    markets: object = None

    def __post_init__(self):
        m = factor(self.multiplier, "FundingShock.multiplier", zero=True)
        if m == 1.0 and not self.flip:
            raise ValueError("FundingShock: multiplier=1 without flip changes nothing; pass multiplier= or flip=True")
        set_attr(self, "multiplier", m)
        set_attr(self, "flip", bool(self.flip))
        set_attr(self, "markets", as_names(self.markets, "FundingShock.markets"))
        _window_fields(self, "FundingShock")

    @property
    def name(self) -> str:
        what = " ".join((["flip"] if self.flip else []) + ([fmt_factor(self.multiplier)] if self.multiplier != 1 else []))
        return f"funding {what}{_market_label(self.markets)}{fmt_window(self.start, self.duration)}"

    def apply(self, setup, rng):
        data = setup.data
        s, e = window(self.start, self.duration, data, "FundingShock")
        markets = pick(self.markets, markets_of(data), "market", "FundingShock")
        fu = data.funding
        ts = T.ts_ns(fu)
        lo = np.iinfo(np.int64).min if s is None else s
        rows = T.in_groups(fu, "market", markets) & (ts >= lo) & (ts < e)
        factor = self.multiplier * (-1.0 if self.flip else 1.0)
        rate = T.floats(fu, "rate")
        if rows.any() and np.abs(rate[rows] * factor).max() >= 1:
            raise ValueError(f"{self.name}: a shocked funding rate reaches {np.abs(rate[rows] * factor).max():.3g} "
                             "per interval; rates must stay below 1 in absolute value")
        # extreme funding is the point of the scenario: the data's plausibility bound is lifted
        return setup.with_(data=replace(data, funding=T.scale_rows(fu, "rate", rows, factor), allow_extreme=True))


# ============================================================================ price shock
@dataclass(frozen=True)
class PriceShock(Scenario):
    """A crash or pump: from ``at`` every price of the markets times ``1 + change``, with no
    trades during ``[at, at + gap)``.

    Parameters
    ----------
    at : str, Timestamp or Timedelta
    change : float
        ``-0.2`` is a 20 % crash; ``> -1``, not 0.
    gap : str or Timedelta
        How long the market has no trades after the shock (``"0s"``: none removed).
    markets : str or list of str, optional
        Default: every market.

    Notes
    -----
    Shocked from ``at`` on: trade prices, oracle prices (a row carrying the shocked value in
    force is added at ``at`` so the oracle moves exactly then), book bid and ask, and funding
    ``oracle_price``. Oracle rows inside the gap are kept (shocked): a venue's oracle keeps
    updating from other exchanges while its own book is empty. A market whose oracle is derived
    from its trades has no oracle update until trading resumes. Sizes are unchanged. The
    returned dataset has ``allow_extreme=True``: during a long gap the shocked oracle stands
    far from the last (unshocked) trades, which the data layer would otherwise reject.

    Examples
    --------
    >>> PriceShock("2022-11-10 00:00", -0.2).name
    'crash -20% @ 2022-11-10 00:00 (5min gap)'
    """

    at: object
    change: float
    gap: object = "5min"
    markets: object = None

    def __post_init__(self):
        set_attr(self, "at", moment(self.at, "PriceShock.at"))
        c = float(self.change)
        if not (np.isfinite(c) and c > -1 and c != 0):
            raise ValueError(f"PriceShock.change: expected a fraction > -1 and != 0 (-0.2 = 20% crash), got {self.change!r}")
        set_attr(self, "change", c)
        set_attr(self, "gap", span(self.gap, "PriceShock.gap", zero=True))
        set_attr(self, "markets", as_names(self.markets, "PriceShock.markets"))

    @property
    def name(self) -> str:
        kind = "crash" if self.change < 0 else "pump"
        gap = f" ({fmt_duration(self.gap)} gap)" if self.gap.value else ""
        return f"{kind} {self.change * 100:+g}% @ {fmt_moment(self.at)}{gap}{_market_label(self.markets)}"

    def apply(self, setup, rng):
        data = setup.data
        at = resolve(self.at, data, "PriceShock.at")
        markets = pick(self.markets, markets_of(data), "market", "PriceShock")
        k = 1.0 + self.change
        tr = data.trades
        ts, mine = T.ts_ns(tr), T.in_groups(tr, "market", markets)
        tr = T.scale_rows(tr, "price", mine & (ts >= at), k)
        tr = tr.filter(pa.array(~(mine & (ts >= at) & (ts < at + int(self.gap.value)))))
        tables = {"trades": tr, "oracle": _shock_oracle(data.oracle, markets, at, k)}
        for kind, cols in (("book", ("bid", "ask")), ("funding", ("oracle_price",))):
            t = data.table(kind)
            rows = T.in_groups(t, "market", markets) & (T.ts_ns(t) >= at)
            for c in cols:
                t = T.scale_rows(t, c, rows, k)
            tables[kind] = t
        if data.book_levels.num_rows:
            tables["book_levels"] = _shock_levels(data.book_levels, markets, at, k)
        # a jump with no trades after it is the point: the oracle may stand far from the last
        # trades until trading resumes, so the data's plausibility bounds are lifted
        return setup.with_(data=replace(data, **tables, allow_extreme=True))


def _shock_levels(levels: pa.Table, markets, at: int, k: float) -> pa.Table:
    """Book levels moved by ``k`` from ``at``: the book in force just before ``at``, moved, as
    snapshot groups stamped ``at`` (levels set earlier would otherwise stay at the old prices),
    then every later row moved."""
    from data_loaders.book import book_state

    mine = T.in_groups(levels, "market", markets)
    state = book_state(levels.filter(pa.array(mine)), at - 1)
    state = state.set_column(0, "ts", pa.array(np.full(state.num_rows, at, np.int64)).cast(levels.schema.field("ts").type))
    state = T.scale_rows(state, "price", np.ones(state.num_rows, bool), k)
    moved = T.scale_rows(levels, "price", mine & (T.ts_ns(levels) >= at), k)
    both = pa.concat_tables([state, moved.cast(state.schema)])
    first = np.concatenate([np.zeros(state.num_rows, np.int8), np.ones(moved.num_rows, np.int8)])
    order = np.lexsort((np.arange(both.num_rows), first, T.ts_ns(both)))  # the state before rows stamped at
    return both.take(pa.array(order))


def _shock_oracle(oracle: pa.Table, markets, at: int, k: float) -> pa.Table:
    if oracle.num_rows == 0:
        return oracle
    ts = T.ts_ns(oracle)
    takes, stamps, flags = [], [], []
    for m in T.names(oracle, "market"):
        p = T.group_rows(oracle, "market", m)
        if m in markets:
            tk, st, fl = T.step_window(ts[p], p, at, T.NS_MAX, None)
        else:
            tk, st, fl = p, ts[p], np.zeros(len(p), bool)
        takes.append(tk), stamps.append(st), flags.append(fl)
    out, order = T.rebuild(oracle, np.concatenate(takes), np.concatenate(stamps))
    return T.scale_rows(out, "price", np.concatenate(flags)[order], k)


# ============================================================================ liquidity
@dataclass(frozen=True)
class LiquidityDrought(Scenario):
    """Fewer, smaller trades on a window: a random fraction ``keep`` of the trades is kept and
    their sizes are scaled by ``size_factor``; so are the sizes of the book rows (top or levels)
    stamped in the window: the book is thinner too (docs/simulation.md, "Order book").

    Parameters
    ----------
    start, duration
        The window (required).
    keep : float
        Fraction of each market's trades in the window that is kept, in ``[0, 1]``; exactly
        ``round(keep * n)`` of its ``n`` trades, drawn without replacement from the generator.
    size_factor : float
        ``> 0``; sizes of the kept trades are multiplied by it (less volume also means more
        square-root impact).
    markets : str or list of str, optional
        Default: every market.

    Examples
    --------
    >>> LiquidityDrought("2022-11-10 14:00", "6h").name
    'liquidity drought 6h @ 2022-11-10 14:00 (keep 30%, size x0.5)'
    """

    start: object
    duration: object
    keep: float = 0.3
    size_factor: float = 0.5
    markets: object = None

    random = True

    def __post_init__(self):
        _window_fields(self, "LiquidityDrought", required=True)
        keep = float(self.keep)
        if not 0 <= keep <= 1:
            raise ValueError(f"LiquidityDrought.keep: expected a fraction in [0, 1], got {self.keep!r}")
        f = factor(self.size_factor, "LiquidityDrought.size_factor")
        set_attr(self, "keep", keep)
        set_attr(self, "size_factor", f)
        set_attr(self, "markets", as_names(self.markets, "LiquidityDrought.markets"))

    @property
    def name(self) -> str:
        return (f"liquidity drought{fmt_window(self.start, self.duration)} (keep {self.keep * 100:g}%, "
                f"size {fmt_factor(self.size_factor)}){_market_label(self.markets)}")

    def apply(self, setup, rng):
        data = setup.data
        s, e = window(self.start, self.duration, data, "LiquidityDrought")
        markets = sorted(pick(self.markets, markets_of(data), "market", "LiquidityDrought"))
        tr = data.trades
        ts = T.ts_ns(tr)
        inside = (ts >= s) & (ts < e)
        drop = np.zeros(tr.num_rows, bool)
        for m in markets:  # sorted, so the draws do not depend on the order markets were given
            rows = np.flatnonzero(inside & T.in_groups(tr, "market", [m]))
            kept = rng.choice(len(rows), size=int(round(self.keep * len(rows))), replace=False)
            drop[np.delete(rows, kept)] = True
        tr = T.scale_rows(tr, "size", inside & T.in_groups(tr, "market", markets) & ~drop, self.size_factor)
        books = {}
        for kind, columns in (("book", ("bid_size", "ask_size")), ("book_levels", ("size",))):
            table = getattr(data, kind)
            if table.num_rows:  # the book thins too: sizes shown in the window scaled alike
                bts = T.ts_ns(table)
                rows = (bts >= s) & (bts < e) & T.in_groups(table, "market", markets)
                for col in columns:
                    table = T.scale_rows(table, col, rows, self.size_factor)
                books[kind] = table
        return setup.with_(data=replace(data, trades=tr.filter(pa.array(~drop)), **books))
