"""Order lifecycle: submit, arrive (admission), cancel, and the in-flight / book lists.

Orders in flight and armed client-side stops live in ``st.active`` (in id order); orders that
reached the matching engine live in ``st.book`` in arrival order (limit orders share a
trade's size in that order). Arrivals, cancels and stop observations are processed by
:mod:`.dynamic_nb` in (time, step, send sequence) order.
"""
import numpy as np
from numba import njit

from .accounts_nb import admits_nb, mark_nb, pay_gas_nb
from .enums import (C_ACTIVE, C_BOOK, C_OBS, C_ORDERS, C_SEQ, EV_TRADE, NO_TS, OT_STOP_MARKET,
                    R_INSUFFICIENT_MARGIN, R_NO_PRICE, R_NONE, R_VENUE_DOWN, ST_ARMED,
                    ST_CANCELLED, ST_INFLIGHT, ST_OPEN, ST_PARTIAL, ST_REJECTED)
from .state import inlined, typed, CI_FEED_LATENCY
from .transfers_nb import next_transfer_nb
from .trace_nb import arrival_nb, order_latency_nb, trace_row_nb


@typed("void(i8[::1], i8[::1], i8, i8)")
def _remove_nb(lst, counters, c, oid):
    n = counters[c]
    j = 0
    for i in range(n):
        if lst[i] != oid:
            lst[j] = lst[i]
            j += 1
    counters[c] = j


@typed("void(ST, i8, i8, i8, i8)")
def finish_nb(st, oid, status, reason, t):
    """Give order ``oid`` a terminal status at ``t``."""
    o = st.orders[oid]
    o.status = status
    o.reason = reason
    o.done_ts = t


@typed("i8(INP, ST, i8, i8, i8, f8, i8, f8, f8, b1, b1, b1, i8)")
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
    o.queue_ahead = np.nan  # until it rests on a market with book data
    o.queue_traded = 0.0
    o.limit_price = limit_price
    o.trigger_price = trigger_price
    o.sent_ts = t
    o.cancel_ts = NO_TS
    o.done_ts = NO_TS
    o.parent_id = parent_id
    o.seq = st.counters[C_SEQ]
    o.cancel_seq = -1
    st.counters[C_SEQ] += 1
    if otype == OT_STOP_MARKET:
        o.arrive_ts = t
        o.status = ST_ARMED
        st.active[st.counters[C_ACTIVE]] = oid
        st.counters[C_ACTIVE] += 1
        sync_observer_nb(inp, st, t)  # the observer may have skipped ahead past this stop's trigger
        st.n_armed[m] += 1
        obs = next_observation_nb(inp, st)
        if obs >= 0:
            seen = inp.ev_ts[obs] + inp.cfg_i[CI_FEED_LATENCY]
            if seen < st.next_arrival[0]:
                st.next_arrival[0] = seen
        return oid
    pay_gas_nb(inp, st, v, t, a, m, oid)
    # in flight until it arrives, also when the venue will be down then (arrive_nb rejects it):
    # until then a cancel or a liquidation may end it, and the strategy cannot know the outcome
    arrive, _ = arrival_nb(inp, v, t)
    o.arrive_ts = arrive
    o.status = ST_INFLIGHT
    st.active[st.counters[C_ACTIVE]] = oid
    st.counters[C_ACTIVE] += 1
    if arrive < st.next_arrival[0]:
        st.next_arrival[0] = arrive
    return oid


@njit(cache=True)
def cancel_nb(inp, st, t, oid):
    """Send a cancel for ``oid`` at ``t``: gas now, effect at its arrival.

    Returns True when the order was live at the send time (a cancel of a finished order still
    pays gas: the client could not know).
    """
    o = st.orders[oid]
    pay_gas_nb(inp, st, o.venue, t, o.account, o.market, oid)
    seq = st.counters[C_SEQ]
    st.counters[C_SEQ] = seq + 1
    if not is_live_nb(o.status):
        return False
    effective = t + order_latency_nb(inp, o.venue, t)
    if effective < o.cancel_ts:
        o.cancel_ts = effective
        o.cancel_seq = seq
    if effective < st.next_arrival[0]:
        st.next_arrival[0] = effective
    return True


@njit(cache=True)
def is_live_nb(status):
    """True for an order that is not done: in flight, resting (open or partly filled) or an
    armed stop. A status code or an array of them (``Context.open_orders`` filters with it)."""
    return (status == ST_INFLIGHT) | (status == ST_OPEN) | (status == ST_PARTIAL) | (status == ST_ARMED)


@njit(cache=True)
def sync_observer_nb(inp, st, t):
    """Point the stop observer at the first trade observed after ``t`` (a stop is armed)."""
    feed = inp.cfg_i[CI_FEED_LATENCY]
    ev = inp.ev_ts
    a = 0
    b = ev.shape[0]
    while a < b:  # first event with ts + feed > t
        mid = (a + b) // 2
        if ev[mid] + feed <= t:
            a = mid + 1
        else:
            b = mid
    st.counters[C_OBS] = a


@typed("void(ST, i8, i8, i8)")
def cancel_now_nb(st, oid, reason, t):
    """Cancel a live order at ``t`` wherever it is (in flight, book, armed)."""
    o = st.orders[oid]
    if o.status == ST_OPEN or o.status == ST_PARTIAL:
        remove_from_book_nb(st, oid)
    else:
        _remove_nb(st.active, st.counters, C_ACTIVE, oid)
        if o.status == ST_ARMED:
            st.n_armed[o.market] -= 1
    finish_nb(st, oid, ST_CANCELLED, reason, t)


@njit(cache=True)
def remove_from_book_nb(st, oid):
    _remove_nb(st.book, st.counters, C_BOOK, oid)
    st.n_open[st.orders[oid].market] -= 1


@inlined
def arrive_nb(inp, st, oid):
    """Order ``oid`` reaches the matching engine: rejected if the venue is down (policy
    ``reject``, or ``queue`` when it never comes back up), else admission, then the book."""
    o = st.orders[oid]
    _remove_nb(st.active, st.counters, C_ACTIVE, oid)
    r = trace_row_nb(inp, o.venue, o.arrive_ts)
    if r >= 0 and not inp.lt_up[r]:
        finish_nb(st, oid, ST_REJECTED, R_VENUE_DOWN, o.arrive_ts)
        return
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


@inlined
def cancel_all_nb(st, a, t, reason):
    """Cancel every live order of account ``a``: resting, in flight, armed."""
    i = 0
    while i < st.counters[C_BOOK]:
        oid = st.book[i]
        if st.orders[oid].account == a:
            cancel_now_nb(st, oid, reason, t)
        else:
            i += 1
    i = 0
    while i < st.counters[C_ACTIVE]:
        oid = st.active[i]
        if st.orders[oid].account == a:
            cancel_now_nb(st, oid, reason, t)
        else:
            i += 1


#: events the stop observer scans per call at most (then it wakes the loop at that horizon):
#: ~5 us of scanning, against a wake every 4096 events while a stop is armed
OBS_SCAN_EVENTS = 4096


@njit(cache=True)
def next_observation_nb(inp, st):
    """Event index of the next trade that triggers an armed stop (-1: none, or no stops).

    Trades that cross no armed trigger are skipped: observing them would change nothing, and
    waking the loop for each one cost microseconds per trade. Skipping ahead is safe because
    the armed set only loosens (stops trigger or are cancelled) until a new stop is armed, and
    arming re-points the observer (:func:`sync_observer_nb`).

    The scan stops after :data:`OBS_SCAN_EVENTS` events and returns that horizon instead: the
    loop wakes there, observes it (a no-op unless it is a trade crossing a trigger) and scans
    on. A strategy that moves a far stop at every decision (a trailing stop) re-arms, and so
    rescans, often: without the horizon each rescan ran to the trigger or the end of the tape.
    """
    if st.n_armed.sum() == 0:
        return -1
    k = st.counters[C_OBS]
    n = inp.ev_ts.shape[0]
    ev_type, ev_idx = inp.ev_type, inp.ev_idx
    tr_market, tr_price = inp.tr_market, inp.tr_price
    n_armed, active, orders = st.n_armed, st.active, st.orders
    n_active = st.counters[C_ACTIVE]
    end = min(n, k + OBS_SCAN_EVENTS)
    while k < end:
        if ev_type[k] == EV_TRADE:
            row = ev_idx[k]
            m = tr_market[row]
            if n_armed[m] > 0:
                px = tr_price[row]
                hit = False
                for i in range(n_active):  # inline: a call per trade is what this avoids
                    o = orders[active[i]]
                    if o.status == ST_ARMED and o.market == m:
                        if (px >= o.trigger_price) if o.side > 0 else (px <= o.trigger_price):
                            hit = True
                            break
                if hit:
                    break
        k += 1
    st.counters[C_OBS] = k
    return k if k < n else -1


@inlined
def refresh_next_nb(inp, st):
    """Recompute ``st.next_arrival[0]``: the earliest pending arrival, cancel, stop observation
    or transfer."""
    nxt = NO_TS
    for i in range(st.counters[C_ACTIVE]):
        o = st.orders[st.active[i]]
        if o.status == ST_INFLIGHT and o.arrive_ts < nxt:
            nxt = o.arrive_ts
        if o.cancel_ts < nxt:
            nxt = o.cancel_ts
    for i in range(st.counters[C_BOOK]):
        o = st.orders[st.book[i]]
        if o.cancel_ts < nxt:
            nxt = o.cancel_ts
    obs = next_observation_nb(inp, st)
    if obs >= 0:
        seen = inp.ev_ts[obs] + inp.cfg_i[CI_FEED_LATENCY]
        if seen < nxt:
            nxt = seen
    tr = next_transfer_nb(st)
    if tr >= 0 and st.transfers[tr].arrive_ts < nxt:
        nxt = st.transfers[tr].arrive_ts
    st.next_arrival[0] = nxt
