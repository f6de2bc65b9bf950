"""An L2 order book (``book_levels`` rows) consistent with the synthetic trade tape.

The touch
    With an L2 book, the quote the tape prints at *is* the book's touch. Its spread is counted
    in ticks and calibrated to the real Binance BTCUSDT bookTicker shipped in
    ``data_loaders/data`` (66,089 updates, 2024-08-08 23:54-23:59 UTC, tick 0.1 on about
    61,700): one tick 94.2 % of the time, otherwise ``1 + w`` ticks with ``w`` lognormal
    (median 7, log-sd 1.37). The spread is drawn once per second of the path, so it persists
    between trades. ``bid = floor(mid / tick - (k - 1) / 2) * tick`` and ``ask = bid + k * tick``.
Depth
    ``n`` levels a side, one tick apart from the touch outwards. Level ``j`` (0 = the touch) has
    a lognormal size with median ``top * (1 + j) ** DEPTH_EXPONENT`` and the measured log-sd;
    ``top`` is the measured median top size in USD (2.677 BTC at 61,704.4: 165,092), scaled by
    the market's median trade notional relative to BTC-USD's. The shipped data has the top
    only, so the profile's growth with depth is an assumption, not a measurement.
Size cap
    A lognormal of log-sd 2.04 is far heavier in its upper tail than the real top sizes (its
    99th percentile is 115 times its median; the real one, 8.8 times), and over a million rows
    it would draw single levels of tens of thousands of BTC. Every level size is therefore
    bounded by :data:`DEPTH_SIZE_CAP` times ``top`` (the median top size): a size ``s`` becomes
    ``cap * tanh(s / cap)``, which leaves sizes well below the cap as they are (the median top
    moves by less than 0.1 %) and bends the tail smoothly under the cap (no pile of rows at
    exactly the cap, as clipping would make). Only the touch a trade meets may exceed it, by
    holding the trade and a step.
Events (rows)
    The book changes at a grid (``book_every``) and 1 ns before every trade (so the trade meets
    the touch it prints at). At an event, a side whose touch moved is replaced by a snapshot
    group of ``n`` levels; a side whose touch stayed gets one update row refreshing the touch
    size (the refill after trades). Each trade leaves one update row at its own time lowering
    the level it hit by its size (the book after the trade; never below one step: the touch
    drawn before a trade holds at least its size plus a step).

Every trade prints at the best bid (sells) or best ask (buys) of the book in force (the rows
stamped before it), and the best bid is below the best ask after every timestamp.
"""
from __future__ import annotations

import numpy as np

from ._common import NS, round_to

#: share of bookTicker updates with a one-tick spread (BTCUSDT, data_loaders/data)
ONE_TICK_SHARE = 0.9417
#: median and log-sd of the extra ticks of a wider spread (same data: spreads above one tick)
WIDE_EXTRA_TICKS_MEDIAN, WIDE_EXTRA_TICKS_LOG_SD = 7.0, 1.37
#: median best bid/ask size (2.677 BTC) times the median bid (61,704.4), USD (same data)
TOP_NOTIONAL_MEDIAN_USD = 165_092.0
#: log-sd of best bid and ask sizes (same data: 1.99 and 2.09)
TOP_SIZE_LOG_SD = 2.04
#: growth of the median level size with depth: level j has (1 + j) ** DEPTH_EXPONENT times
#: the top's (assumed: the shipped data holds the top of the book only)
DEPTH_EXPONENT = 0.5
#: bound on every level's size, in multiples of the median top size (``top``): 50 is about the
#: 99.9th percentile of the real best bid/ask sizes (48.7 times their median; the largest is
#: 177 times, the 99th percentile 8.8 times), so deep levels stay sizes a real book shows
DEPTH_SIZE_CAP = 50.0
#: the median trade notional the top size is relative to (BTC-USD's default, tape.MEDIAN_NOTIONAL)
REFERENCE_MEDIAN_NOTIONAL = 3_000.0

#: row kinds, in the order rows of one timestamp are written: what trades took, then the grid,
#: then the touch each trade meets (all before the next trade)
_TAKEN, _GRID, _PRE_TRADE = 0, 1, 2


def spread_ticks(rng: np.random.Generator, n_seconds: int) -> np.ndarray:
    """Spread in ticks for each second of a path (>= 1)."""
    wide = rng.random(n_seconds) >= ONE_TICK_SHARE
    extra = np.round(WIDE_EXTRA_TICKS_MEDIAN * np.exp(WIDE_EXTRA_TICKS_LOG_SD * rng.standard_normal(n_seconds)))
    return np.where(wide, 1 + np.maximum(extra, 1), 1).astype(np.int64)


def touch(paths, i: int, ts_ns: np.ndarray, tick: float, ticks: np.ndarray):
    """(mid, bid, ask) of market ``i`` at ``ts_ns`` with the per-second spreads ``ticks``."""
    mid = paths.price_at(i, ts_ns)
    sec = np.clip((np.asarray(ts_ns) - paths.start_ns) // NS, 0, max(len(ticks) - 1, 0))
    k = ticks[sec]
    low = np.maximum(np.floor(mid / tick - (k - 1) / 2.0), 1.0)
    return mid, round_to(low * tick, tick, "nearest"), round_to((low + k) * tick, tick, "nearest")


def book_levels(paths, i: int, rng: np.random.Generator, quote, *, n_levels: int, tick: float,
                step: float, median_notional: float, grid_ts: np.ndarray, trade_ts: np.ndarray,
                trade_side: np.ndarray, trade_size: np.ndarray):
    """(ts, side, price, size, is_snapshot) rows of market ``i``, in table order.

    ``quote(ts_ns) -> (mid, bid, ask)`` is the touch (:func:`touch`, or the tape's own
    quotes), which ``trade_*``, the market's trades in time order, printed at.
    """
    n_trades = len(trade_ts)
    ev_ts = np.concatenate([grid_ts, trade_ts - 1])
    ev_kind = np.concatenate([np.full(len(grid_ts), _GRID), np.full(n_trades, _PRE_TRADE)])
    ev_trade = np.concatenate([np.full(len(grid_ts), -1), np.arange(n_trades)])
    order = np.lexsort((ev_trade, ev_kind, ev_ts))
    ev_ts, ev_kind, ev_trade = ev_ts[order], ev_kind[order], ev_trade[order]
    # a pre-trade event carries its trade's quote (the quote at the trade's own time)
    quote_ts = np.where(ev_kind == _PRE_TRADE, trade_ts[np.maximum(ev_trade, 0)] if n_trades else 0, ev_ts)
    mid, bid, ask = quote(quote_ts)
    n_ev = len(ev_ts)
    new_bid = np.ones(n_ev, bool)
    new_ask = np.ones(n_ev, bool)
    new_bid[1:] = bid[1:] != bid[:-1]
    new_ask[1:] = ask[1:] != ask[:-1]

    top = TOP_NOTIONAL_MEDIAN_USD * median_notional / REFERENCE_MEDIAN_NOTIONAL / mid  # base units
    # rows of each event: a snapshot of n levels for a side whose touch moved, else its touch
    n_b = np.where(new_bid, n_levels, 1)
    n_a = np.where(new_ask, n_levels, 1)
    count = n_b + n_a
    ev_of = np.repeat(np.arange(n_ev), count)
    pos = np.arange(len(ev_of)) - np.repeat(np.cumsum(count) - count, count)  # index within the event
    is_bid = pos < n_b[ev_of]
    level = np.where(is_bid, pos, pos - n_b[ev_of])
    price = np.where(is_bid, bid[ev_of] - level * tick, ask[ev_of] + level * tick)
    price = round_to(price, tick, "nearest")
    median = top[ev_of] * (1.0 + level) ** DEPTH_EXPONENT
    size = median * np.exp(TOP_SIZE_LOG_SD * rng.standard_normal(len(ev_of)))
    cap = DEPTH_SIZE_CAP * top[ev_of]
    size = cap * np.tanh(size / cap)  # a smooth bound: sizes well below the cap are unchanged
    # the touch a trade meets holds at least the trade and a step, so what it leaves is > 0
    hit = (ev_kind[ev_of] == _PRE_TRADE) & (level == 0)
    t = np.maximum(ev_trade[ev_of], 0)
    if n_trades:
        hit &= np.where(is_bid, trade_side[t] < 0, trade_side[t] > 0)
        size = np.where(hit, np.maximum(size, trade_size[t] + step), size)
    size = np.maximum(round_to(size, step, "nearest"), step)
    snap = np.where(is_bid, new_bid[ev_of], new_ask[ev_of])
    side = np.where(is_bid, 1, -1).astype(np.int8)
    # a bid level deeper than the price itself does not exist (a price within n ticks of 0)
    real = price >= tick / 2
    if not real.all():
        ev_of, side, price, size, snap, hit = (a[real] for a in (ev_of, side, price, size, snap, hit))

    # what each trade left at the level it hit
    taken_ts = trade_ts
    if n_trades:
        pre = np.flatnonzero(hit)
        met = np.zeros(n_trades)
        met[ev_trade[ev_of[pre]]] = size[pre]
        taken_size = np.maximum(round_to(met - trade_size, step, "nearest"), step)
        q_bid, q_ask = quote(trade_ts)[1:]
        taken_price = np.where(trade_side > 0, q_ask, q_bid)
    else:
        taken_size = taken_price = np.zeros(0)

    all_ts = np.concatenate([ev_ts[ev_of], taken_ts])
    all_kind = np.concatenate([ev_kind[ev_of], np.full(n_trades, _TAKEN)])
    seq = np.concatenate([np.arange(len(ev_of)), np.arange(n_trades)])
    final = np.lexsort((seq, all_kind, all_ts))
    return (all_ts[final], np.concatenate([side, -trade_side.astype(np.int8)])[final],
            np.concatenate([price, taken_price])[final], np.concatenate([size, taken_size])[final],
            np.concatenate([snap, np.zeros(n_trades, bool)])[final])
