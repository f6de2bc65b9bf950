"""Order lifecycle: submit, arrive (admission), cancel, and the in-flight / book lists.

Orders in flight and armed client-side stops live in ``st.active``; orders that reached the
matching engine live in ``st.book`` in arrival order (limit orders share a trade's size in
that order). ``st.next_arrival[0]`` caches the earliest pending arrival or cancel so the loop
pays nothing per event while nothing is pending.
"""
import numpy as np
from numba import njit

from .accounts_nb import admits_nb, ledger_nb, mark_nb
from .enums import (C_ACTIVE, C_BOOK, C_ORDERS, LG_GAS, NO_TS, OT_STOP_MARKET, R_CANCELLED,
                    R_INSUFFICIENT_MARGIN, R_NO_PRICE, R_NONE, R_VENUE_DOWN, ST_ARMED,
                    ST_CANCELLED, ST_INFLIGHT, ST_OPEN, ST_PARTIAL, ST_REJECTED)
from .trace_nb import arrival_nb, gas_nb, order_latency_nb


@njit(cache=True)
def _remove_nb(lst, counters, c, oid):
    n = counters[c]
    j = 0
    for i in range(n):
        if lst[i] != oid:
            lst[j] = lst[i]
            j += 1
    counters[c] = j


@njit(cache=True)
def pay_gas_nb(inp, st, v, t, a, m, ref):
    gas = gas_nb(inp, v, t)
    if gas != 0.0:
        st.cash[a] -= gas
        st.cp[0] += gas
        ledger_nb(st, t, a, LG_GAS, m, -gas, ref)


@njit(cache=True)
def finish_nb(st, oid, status, reason, t):
    """Give order ``oid`` a terminal status at ``t``."""
    o = st.orders[oid]
    o.status = status
    o.reason = reason
    o.done_ts = t


@njit(cache=True)
def refresh_next_arrival_nb(st):
    nxt = NO_TS
    for i in range(st.counters[C_ACTIVE]):
        o = st.orders[st.active[i]]
        if o.status == ST_INFLIGHT and o.arrive_ts < nxt:
            nxt = o.arrive_ts
    for i in range(st.counters[C_BOOK]):
        o = st.orders[st.book[i]]
        if o.cancel_ts < nxt:
            nxt = o.cancel_ts
    st.next_arrival[0] = nxt


@njit(cache=True)
def submit_nb(inp, st, t, m, side, size, otype, limit_price, trigger_price,
              reduce_only, post_only, ioc, parent_id):
    """Send a new order at ``t``; return its id.

    Stops are armed client-side at once (no gas, no latency). Other orders pay gas at ``t``
    and travel to the engine; a venue that is down at arrival rejects them (policy ``reject``)
    or takes them when it is back up (policy ``queue``).
    """
    oid = st.counters[C_ORDERS]
    st.counters[C_ORDERS] = oid + 1
    v = inp.mk_venue[m]
    a = inp.mk_account[m]
    o = st.orders[oid]
    o.order_id = oid
    o.venue = v
    o.market = m
    o.account = a
    o.side = side
    o.type = otype
    o.reason = R_NONE
    o.reduce_only = reduce_only
    o.post_only = post_only
    o.ioc = ioc
    o.size = size
    o.filled = 0.0
    o.acked = 0.0
    o.limit_price = limit_price
    o.trigger_price = trigger_price
    o.sent_ts = t
    o.cancel_ts = NO_TS
    o.done_ts = NO_TS
    o.parent_id = parent_id
    if otype == OT_STOP_MARKET:
        o.arrive_ts = t
        o.status = ST_ARMED
        st.active[st.counters[C_ACTIVE]] = oid
        st.counters[C_ACTIVE] += 1
        st.n_armed[m] += 1
        return oid
    pay_gas_nb(inp, st, v, t, a, m, oid)
    arrive, ok = arrival_nb(inp, v, t)
    o.arrive_ts = arrive
    if not ok:
        o.status = ST_REJECTED
        o.reason = R_VENUE_DOWN
        o.done_ts = arrive
        return oid
    o.status = ST_INFLIGHT
    st.active[st.counters[C_ACTIVE]] = oid
    st.counters[C_ACTIVE] += 1
    if arrive < st.next_arrival[0]:
        st.next_arrival[0] = arrive
    return oid


@njit(cache=True)
def cancel_nb(inp, st, t, oid):
    """Send a cancel for ``oid`` at ``t`` (armed stops are disarmed at once, client-side).

    Returns False when the order is already done.
    """
    o = st.orders[oid]
    if o.status == ST_ARMED:
        finish_nb(st, oid, ST_CANCELLED, R_CANCELLED, t)
        _remove_nb(st.active, st.counters, C_ACTIVE, oid)
        st.n_armed[o.market] -= 1
        return True
    if o.status != ST_INFLIGHT and o.status != ST_OPEN and o.status != ST_PARTIAL:
        return False
    pay_gas_nb(inp, st, o.venue, t, o.account, o.market, oid)
    effective = t + order_latency_nb(inp, o.venue, t)
    if effective < o.arrive_ts:
        effective = o.arrive_ts  # the engine cannot cancel what it has not seen yet
    if effective < o.cancel_ts:
        o.cancel_ts = effective
    if o.cancel_ts < st.next_arrival[0]:
        st.next_arrival[0] = o.cancel_ts
    return True


@njit(cache=True)
def remove_from_book_nb(st, oid):
    _remove_nb(st.book, st.counters, C_BOOK, oid)
    st.n_open[st.orders[oid].market] -= 1


@njit(cache=True)
def arrive_nb(inp, st, oid):
    """Order ``oid`` reaches the matching engine: admission, then the book."""
    o = st.orders[oid]
    _remove_nb(st.active, st.counters, C_ACTIVE, oid)
    m = o.market
    if not o.reduce_only:
        if np.isnan(mark_nb(st, m)):
            finish_nb(st, oid, ST_REJECTED, R_NO_PRICE, o.arrive_ts)
            return
        if not admits_nb(inp, st, o.account, m, o.side * o.size):
            finish_nb(st, oid, ST_REJECTED, R_INSUFFICIENT_MARGIN, o.arrive_ts)
            return
    o.status = ST_OPEN
    st.book[st.counters[C_BOOK]] = oid
    st.counters[C_BOOK] += 1
    st.n_open[m] += 1


@njit(cache=True)
def process_pending_nb(inp, st, t):
    """Arrivals and cancels due at or before ``t``, earliest first (ties: arrival, then id)."""
    while st.next_arrival[0] <= t:
        best = -1
        best_ts = NO_TS
        is_cancel = False
        for i in range(st.counters[C_ACTIVE]):
            oid = st.active[i]
            o = st.orders[oid]
            if o.status == ST_INFLIGHT and (o.arrive_ts < best_ts or (o.arrive_ts == best_ts and oid < best)):
                best, best_ts, is_cancel = oid, o.arrive_ts, False
        for i in range(st.counters[C_BOOK]):
            oid = st.book[i]
            o = st.orders[oid]
            if o.cancel_ts < best_ts:
                best, best_ts, is_cancel = oid, o.cancel_ts, True
        if best < 0 or best_ts > t:
            refresh_next_arrival_nb(st)
            break
        if is_cancel:
            finish_nb(st, best, ST_CANCELLED, R_CANCELLED, best_ts)
            remove_from_book_nb(st, best)
        else:
            arrive_nb(inp, st, best)
            o = st.orders[best]
            if o.cancel_ts <= o.arrive_ts and o.status == ST_OPEN:
                finish_nb(st, best, ST_CANCELLED, R_CANCELLED, o.arrive_ts)
                remove_from_book_nb(st, best)
        refresh_next_arrival_nb(st)


@njit(cache=True)
def cancel_all_nb(st, a, t, reason):
    """Cancel every order of account ``a`` at the engine, in flight, or armed."""
    i = 0
    while i < st.counters[C_BOOK]:
        oid = st.book[i]
        if st.orders[oid].account == a:
            finish_nb(st, oid, ST_CANCELLED, reason, t)
            remove_from_book_nb(st, oid)
        else:
            i += 1
    i = 0
    while i < st.counters[C_ACTIVE]:
        oid = st.active[i]
        o = st.orders[oid]
        if o.account == a:
            if o.status == ST_ARMED:
                st.n_armed[o.market] -= 1
            finish_nb(st, oid, ST_CANCELLED, reason, t)
            _remove_nb(st.active, st.counters, C_ACTIVE, oid)
        else:
            i += 1
    refresh_next_arrival_nb(st)
