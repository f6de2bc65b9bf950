"""Matching one tape trade against the orders at the engine, and client-side stops.

Market (and IOC) orders take the whole size at the slipped price of the first trade they see;
resting limit orders fill as makers when a trade prints strictly through their price, sharing
the printed size in arrival order. Reduce-only orders are clipped to the open position.
"""
import numpy as np
from numba import njit

from .state import typed

from .enums import (C_ACTIVE, C_BOOK, LQ_MAKER, LQ_TAKER, OT_LIMIT, OT_MARKET, R_IOC_UNFILLED,
                    R_NONE, R_REDUCE_ONLY, ST_ARMED, ST_CANCELLED, ST_FILLED, ST_PARTIAL, ST_TRIGGERED)
from .fills_nb import record_fill_nb, taker_price_nb
from .orders_nb import _remove_nb, finish_nb, remove_from_book_nb, submit_nb


@njit(cache=True)
def reduce_only_size_nb(st, m, side, want):
    """Size a reduce-only order may fill now (0 when flat or on the same side)."""
    s = st.pos[m]
    if s == 0.0 or (s > 0.0) == (side > 0):
        return 0.0
    return min(want, abs(s))


@typed("b1(INP, ST, i8, i8, f8, f8, f8, i8, f8)")
def _fill_order_nb(inp, st, oid, ts, size, price, trade_price, liquidity, fee_rate):
    o = st.orders[oid]
    record_fill_nb(inp, st, oid, ts, o.market, o.side, size, price, trade_price, liquidity, fee_rate)
    o.filled += size
    if o.filled >= o.size:
        finish_nb(st, oid, ST_FILLED, R_NONE, ts)
        remove_from_book_nb(st, oid)
        return True
    o.status = ST_PARTIAL
    if liquidity == LQ_TAKER:  # a taker fill clipped by reduce-only: the rest cannot rest
        finish_nb(st, oid, ST_CANCELLED, R_REDUCE_ONLY, ts)
        remove_from_book_nb(st, oid)
        return True
    return False


@njit(cache=True)
def match_trade_nb(inp, st, row):
    """Match trade ``row`` against the book of its market (the venue is known to be up)."""
    m = inp.tr_market[row]
    ts = inp.tr_ts[row]
    price = inp.tr_price[row]
    avail = inp.tr_size[row]
    i = 0
    while i < st.counters[C_BOOK]:
        oid = st.book[i]
        o = st.orders[oid]
        if o.market != m:
            i += 1
            continue
        remaining = o.size - o.filled
        taker = o.type == OT_MARKET or o.ioc
        if not taker:
            through = price < o.limit_price if o.side > 0 else price > o.limit_price
            if not through or avail <= 0.0:
                i += 1
                continue
        if o.reduce_only:  # checked only when a fill would happen
            remaining = reduce_only_size_nb(st, m, o.side, remaining)
            if remaining <= 0.0:
                finish_nb(st, oid, ST_CANCELLED, R_REDUCE_ONLY, ts)
                remove_from_book_nb(st, oid)
                continue
        if taker:
            p = taker_price_nb(inp, m, o.side, remaining, row)
            if o.type == OT_LIMIT and (p - o.limit_price) * o.side > 0.0:
                finish_nb(st, oid, ST_CANCELLED, R_IOC_UNFILLED, ts)
                remove_from_book_nb(st, oid)
                continue
            _fill_order_nb(inp, st, oid, ts, remaining, p, price, LQ_TAKER, inp.mk_taker[m])
            continue
        q = min(remaining, avail)
        avail -= q
        if not _fill_order_nb(inp, st, oid, ts, q, o.limit_price, price, LQ_MAKER, inp.mk_maker[m]):
            i += 1


@njit(cache=True)
def observe_trade_nb(inp, st, row, seen):
    """Client-side stops of the trade's market observe it at ``seen`` (= its ts + feed latency);
    those armed before ``seen`` whose trigger it crosses send a market order now, in id order."""
    m = inp.tr_market[row]
    price = inp.tr_price[row]
    i = 0
    while i < st.counters[C_ACTIVE]:
        oid = st.active[i]
        o = st.orders[oid]
        if o.market != m or o.status != ST_ARMED or o.sent_ts >= seen:
            i += 1
            continue
        hit = price >= o.trigger_price if o.side > 0 else price <= o.trigger_price
        if not hit:
            i += 1
            continue
        finish_nb(st, oid, ST_TRIGGERED, R_NONE, seen)
        _remove_nb(st.active, st.counters, C_ACTIVE, oid)
        st.n_armed[m] -= 1
        submit_nb(inp, st, seen, m, o.side, o.size, OT_MARKET, np.nan, np.nan,
                  o.reduce_only, False, False, oid)
