"""Matching: one tape trade against the orders at the engine, an order's arrival on a market
with book data, and client-side stops.

Trade-tape rules: market (and IOC) orders take the whole size at the slipped price of the first
trade they see; resting limit orders fill as makers when a trade prints strictly through their
price, sharing the printed size in arrival order. On a market with book data (docs/simulation.md,
"Order book") takers walk the book at arrival and a trade at exactly a resting order's price
fills what passes its queue ahead. Reduce-only orders are clipped to the open position.
"""
import numpy as np
from numba import njit

from .state import inlined, typed

from .book_nb import deepest_nb, join_queue_nb, touch_nb, walk_nb
from .enums import (C_ACTIVE, C_BOOK, LQ_MAKER, LQ_TAKER, OT_LIMIT, OT_MARKET, R_IOC_UNFILLED,
                    R_NONE, R_POST_ONLY, R_REDUCE_ONLY, ST_ARMED, ST_CANCELLED, ST_FILLED, ST_PARTIAL,
                    ST_REJECTED, ST_TRIGGERED)
from .fills_nb import MAX_SLIPPAGE, multiplier_nb, record_fill_nb, taker_price_nb
from .orders_nb import _remove_nb, finish_nb, remove_from_book_nb, submit_nb


#: a trade passing a queue leaves less than this share of its size for us: float dust of
#: subtracting decimal sizes, not a fill (docs/simulation.md, "Queue position")
QUEUE_DUST = 1e-9


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


@inlined
def match_trade_nb(inp, st, row):
    """Match trade ``row`` against the book of its market (the venue is known to be up)."""
    m = inp.tr_market[row]
    ts = inp.tr_ts[row]
    price = inp.tr_price[row]
    avail = inp.tr_size[row]
    book = inp.mk_book[m] == 1
    i = 0
    while i < st.counters[C_BOOK]:
        oid = st.book[i]
        o = st.orders[oid]
        if o.market != m:
            i += 1
            continue
        remaining = o.size - o.filled
        taker = o.type == OT_MARKET or o.ioc
        maker_cap = avail  # what of the trade this maker may take
        if not taker:
            through = price < o.limit_price if o.side > 0 else price > o.limit_price
            if book and not through and price == o.limit_price:
                # at its price the trade first eats the queue ahead (docs/simulation.md, "Queue position")
                maker_cap = avail - o.queue_ahead
                if maker_cap <= QUEUE_DUST * inp.tr_size[row]:  # decimal sizes subtracted in binary
                    maker_cap = 0.0
                o.queue_ahead = max(o.queue_ahead - inp.tr_size[row], 0.0)
                o.queue_traded += inp.tr_size[row]
            elif not through:
                i += 1
                continue
            elif book:
                o.queue_ahead = 0.0
            if maker_cap <= 0.0:
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
        q = min(remaining, maker_cap)
        avail -= q
        if not _fill_order_nb(inp, st, oid, ts, q, o.limit_price, price, LQ_MAKER, inp.mk_maker[m]):
            i += 1


@typed("void(INP, ST, i8, i8)")
def book_arrival_nb(inp, st, oid, t):
    """Order ``oid`` was admitted at ``t`` on a market with book data (docs/simulation.md,
    "Order book"): a post-only order that would take is rejected; a market order, an IOC or a
    crossing limit walks the book; what rests joins the queue at its price; a taker that finds
    nothing to take waits for the trade-tape rule."""
    o = st.orders[oid]
    m = o.market
    side = o.side
    resting = o.type == OT_LIMIT and not o.ioc
    touch = touch_nb(inp, st, m, side, t)
    crosses = not np.isnan(touch) and (o.type == OT_MARKET or (touch - o.limit_price) * side <= 0.0)
    if resting and o.post_only:
        if crosses:
            finish_nb(st, oid, ST_REJECTED, R_POST_ONLY, t)
            remove_from_book_nb(st, oid)
        else:
            join_queue_nb(st, oid)
        return
    if np.isnan(touch) or (resting and not crosses):
        # a limit that does not cross rests; a taker with nothing to take waits for the tape
        if resting:
            join_queue_nb(st, oid)
        return
    if not crosses:  # an IOC whose limit reaches no level: nothing would fill (no reduce-only check)
        finish_nb(st, oid, ST_CANCELLED, R_IOC_UNFILLED, t)
        remove_from_book_nb(st, oid)
        return
    want = o.size - o.filled
    if o.reduce_only:
        want = reduce_only_size_nb(st, m, side, want)
        if want <= 0.0:
            finish_nb(st, oid, ST_CANCELLED, R_REDUCE_ONLY, t)
            remove_from_book_nb(st, oid)
            return
    limit = np.nan if o.type == OT_MARKET else o.limit_price
    filled, cost, first, edge = walk_nb(inp, st, m, side, want, limit, t)
    rest = want - filled
    lr = st.last_row[m]
    one_price = filled > 0.0 and first == edge  # all at one level: its price, not a rounded mean
    if rest > 0.0 and lr >= 0 and np.isnan(touch_nb(inp, st, m, side, t)):
        # the side is used up: beyond it the impact model from the last level taken, for a
        # limit as much as that prices within its limit
        k = multiplier_nb(inp, t) * inp.mk_impact[m]
        v = inp.tr_vol[lr]
        edge = deepest_nb(st, m, side)  # where the data's book ends, whatever stress hides
        beyond = rest
        if o.type == OT_LIMIT:
            x = side * (o.limit_price / edge - 1.0)  # the slippage fraction the limit allows
            if not x >= 0.0:  # the data's deepest level is already worse than the limit (or NaN)
                beyond = 0.0
            elif k > 0.0 and x < MAX_SLIPPAGE:
                beyond = min(rest, v * (x / k) ** 2)
        if beyond > 0.0:
            cost += beyond * edge * (1.0 + side * min(k * np.sqrt(beyond / v), MAX_SLIPPAGE))
            if beyond == rest:  # all of it: exactly the size asked for (no float remainder)
                filled = want
                rest = 0.0
            else:
                filled += beyond
                rest -= beyond
            one_price = False
    clipped = want < o.size - o.filled
    if filled > 0.0:
        record_fill_nb(inp, st, oid, t, m, side, filled, first if one_price else cost / filled, first, LQ_TAKER,
                       inp.mk_taker[m])
        o.filled += filled
        o.status = ST_PARTIAL
    if o.filled >= o.size:
        finish_nb(st, oid, ST_FILLED, R_NONE, t)
        remove_from_book_nb(st, oid)
    elif clipped and rest <= 0.0:  # reduce-only took the whole position: the rest cannot trade
        finish_nb(st, oid, ST_CANCELLED, R_REDUCE_ONLY, t)
        remove_from_book_nb(st, oid)
    elif o.ioc:
        finish_nb(st, oid, ST_CANCELLED, R_IOC_UNFILLED, t)
        remove_from_book_nb(st, oid)
    elif resting:
        join_queue_nb(st, oid)
    # else a market order with no trade yet to price the rest: it waits for the tape rule


@inlined
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
