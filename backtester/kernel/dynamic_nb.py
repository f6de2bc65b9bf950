"""Dynamic events: order, cancel and transfer arrivals (step 4), stop observations (step 7).

They are not in the static stream; each has a key ``(time, step, sequence)`` and is processed
before any static event or decision with a larger key, so an order arriving at ``a`` is
admitted after the trace, funding and oracle rows stamped ``a`` and before the trades stamped
``a`` (docs/simulation.md, "Event order at one timestamp").
"""

from .enums import (C_ACTIVE, C_BOOK, C_OBS, EV_TRADE, NO_TS, R_CANCELLED, ST_INFLIGHT, ST_OPEN, STEP_ARRIVAL,
                    STEP_END, STEP_OBSERVE)
from .match_nb import book_arrival_nb, observe_trade_nb
from .orders_nb import arrive_nb, cancel_now_nb, is_live_nb, next_observation_nb, refresh_next_nb
from .state import inlined, typed, CI_FEED_LATENCY
from .transfers_nb import land_transfer_nb, next_transfer_nb

# kinds of dynamic items
ARRIVE = 0
CANCEL = 1
OBSERVE = 2
TRANSFER = 3


@typed("b1(i8, i8, i8, i8, i8, i8)")
def _before(t1, s1, q1, t2, s2, q2):
    if t1 != t2:
        return t1 < t2
    if s1 != s2:
        return s1 < s2
    return q1 < q2


@inlined
def _next_nb(inp, st):
    """The earliest dynamic item: (time, step, seq, kind, order id or event index)."""
    bt, bs, bq, kind, who = NO_TS, STEP_END, 0, -1, -1
    for i in range(st.counters[C_ACTIVE]):
        oid = st.active[i]
        o = st.orders[oid]
        if o.status == ST_INFLIGHT and _before(o.arrive_ts, STEP_ARRIVAL, o.seq, bt, bs, bq):
            bt, bs, bq, kind, who = o.arrive_ts, STEP_ARRIVAL, o.seq, ARRIVE, oid
        if o.cancel_ts != NO_TS and _before(o.cancel_ts, STEP_ARRIVAL, o.cancel_seq, bt, bs, bq):
            bt, bs, bq, kind, who = o.cancel_ts, STEP_ARRIVAL, o.cancel_seq, CANCEL, oid
    for i in range(st.counters[C_BOOK]):
        oid = st.book[i]
        o = st.orders[oid]
        if o.cancel_ts != NO_TS and _before(o.cancel_ts, STEP_ARRIVAL, o.cancel_seq, bt, bs, bq):
            bt, bs, bq, kind, who = o.cancel_ts, STEP_ARRIVAL, o.cancel_seq, CANCEL, oid
    obs = next_observation_nb(inp, st)
    if obs >= 0:
        seen = inp.ev_ts[obs] + inp.cfg_i[CI_FEED_LATENCY]
        if _before(seen, STEP_OBSERVE, obs, bt, bs, bq):
            bt, bs, bq, kind, who = seen, STEP_OBSERVE, obs, OBSERVE, obs
    tr = next_transfer_nb(st)
    if tr >= 0:
        r = st.transfers[tr]
        if _before(r.arrive_ts, STEP_ARRIVAL, r.seq, bt, bs, bq):
            bt, bs, bq, kind, who = r.arrive_ts, STEP_ARRIVAL, r.seq, TRANSFER, tr
    return bt, bs, kind, who


@typed("void(INP, ST, i8, i8, BK)")
def advance_nb(inp, st, t, step, bk):
    """Process the dynamic items with key ``(time, step) < (t, step)``."""
    while True:
        bt, bs, kind, who = _next_nb(inp, st)
        if kind < 0 or not (bt < t or (bt == t and bs < step)):
            break
        if kind == ARRIVE:
            arrive_nb(inp, st, who)
            if bk is not None:  # (pruned from the copy compiled for runs without book data)
                o = st.orders[who]
                if o.status == ST_OPEN and inp.mk_book[o.market] == 1:
                    book_arrival_nb(inp, st, who, o.arrive_ts)
        elif kind == CANCEL:
            o = st.orders[who]
            if is_live_nb(o.status):
                cancel_now_nb(st, who, R_CANCELLED, bt)
            o.cancel_ts = NO_TS
        elif kind == TRANSFER:
            land_transfer_nb(st, who)
        else:
            if inp.ev_type[who] == EV_TRADE:  # a scan horizon (next_observation_nb) may be any event
                observe_trade_nb(inp, st, inp.ev_idx[who], bt)
            st.counters[C_OBS] = who + 1
    refresh_next_nb(inp, st)
