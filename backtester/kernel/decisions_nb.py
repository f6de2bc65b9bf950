"""What the strategy knows at a decision, the fast path's targets, and equity samples.

The strategy's *view* of a market is its acknowledged position (fills whose ``ack_ts`` has
come) plus what its unsettled orders still intend to trade; targets are traded against that
view so an order in flight is never sent twice.
"""
import numpy as np
from numba import njit

from .accounts_nb import account_state_nb, mark_price_nb
from .enums import (SN_NC, C_ACK_CURSOR, C_FILLS, C_ORDERS, C_SAMPLES, C_VIEW_CURSOR, OT_MARKET,
                    OT_STOP_MARKET, ST_INFLIGHT, ST_OPEN, ST_PARTIAL, ST_TRIGGERED,
                    STEP_DECISION, TG_LEVERAGE, TG_NOTIONAL)
from .dynamic_nb import advance_nb
from .orders_nb import is_live_nb, submit_nb
from .state import inlined, CF_MIN_TRADE, CF_REBALANCE_BAND, CI_FEED_LATENCY, CI_TARGET_MODE
from .trace_nb import ack_latency_nb


@njit(cache=True)
def acknowledge_nb(inp, st, t):
    """Fold the fills acknowledged by ``t`` into ``st.ack_pos`` and the orders' ``acked``."""
    n = st.counters[C_FILLS]
    c = st.counters[C_ACK_CURSOR]
    for i in range(c, n):
        if st.fill_acked[i]:
            continue
        f = st.fills[i]
        if f.ack_ts > t:
            continue
        st.fill_acked[i] = True
        if not f.reverted:
            st.ack_pos[f.market] += f.side * f.size
            if f.order_id >= 0:
                st.orders[f.order_id].acked += f.size
    while c < n and st.fill_acked[c]:
        c += 1
    st.counters[C_ACK_CURSOR] = c


@njit(cache=True)
def _settled_nb(inp, o, t):
    if is_live_nb(o.status):
        return False
    if o.acked < o.filled:
        return False
    return o.done_ts + ack_latency_nb(inp, o.venue, o.done_ts) <= t


@njit(cache=True)
def view_nb(inp, st, t, out):
    """Write into ``out`` (per market) the position the strategy expects at ``t``."""
    acknowledge_nb(inp, st, t)
    for m in range(out.shape[0]):
        out[m] = st.ack_pos[m]
    n = st.counters[C_ORDERS]
    c = st.counters[C_VIEW_CURSOR]
    advancing = True
    for i in range(c, n):
        o = st.orders[i]
        if _settled_nb(inp, o, t) or o.type == OT_STOP_MARKET and o.status == ST_TRIGGERED:
            if advancing:
                c = i + 1
            continue
        advancing = False
        if o.type == OT_STOP_MARKET:
            continue  # contingent: not expected until it triggers
        live = o.status == ST_INFLIGHT or o.status == ST_OPEN or o.status == ST_PARTIAL
        left = (o.size if live else o.filled) - o.acked
        if left > 0.0:
            out[o.market] += o.side * left
    st.counters[C_VIEW_CURSOR] = c


@njit(cache=True)
def _last_row_nb(ts, market, m, t):
    """Last row of ``market == m`` with ``ts <= t`` in a time-sorted table (-1: none)."""
    a = 0
    b = ts.shape[0]
    while a < b:
        mid = (a + b) // 2
        if ts[mid] <= t:
            a = mid + 1
        else:
            b = mid
    for i in range(a - 1, -1, -1):
        if market[i] == m:
            return i
    return -1


@njit(cache=True)
def observed_price_nb(inp, m, t):
    """The mark a decision at ``t`` has seen: :func:`mark_price_nb` of the oracle and the last
    trade observed by ``t - feed_latency`` (the same rule as ``Context.mark``)."""
    seen = t - inp.cfg_i[CI_FEED_LATENCY]
    i = _last_row_nb(inp.or_ts, inp.or_market, m, seen)
    oracle = inp.or_price[i] if i >= 0 else np.nan
    last = np.nan
    if np.isnan(oracle):  # the trade is read only when the rule falls back to it
        i = _last_row_nb(inp.tr_ts, inp.tr_market, m, seen)
        last = inp.tr_price[i] if i >= 0 else np.nan
    return mark_price_nb(oracle, last)


@njit(cache=True)
def to_position_nb(kind, value, price, nc):
    """A target of ``kind`` (``TG_POSITION``, ``TG_LEVERAGE`` of the net collateral ``nc``,
    ``TG_NOTIONAL``) as a position in base units at ``price`` (docs/simulation.md, "Targets").
    The one home of the conversion: the fast path and ``Context.to_position`` call it.

    Examples
    --------
    >>> to_position_nb(TG_LEVERAGE, 2.0, 100.0, 1_000.0)   # 2x of 1,000 at 100: 20 units
    20.0
    """
    if kind == TG_LEVERAGE:
        return value * max(nc, 0.0) / price
    if kind == TG_NOTIONAL:
        return value / price
    return value


@njit(cache=True)
def would_trade_nb(target, current, price, min_trade_notional, rebalance_band):
    """True when a target of ``target`` base units, from ``current``, sends an order: the gap's
    notional is above ``max(min_trade_notional, rebalance_band * |target| * price)``
    (docs/simulation.md, "Targets"). The one home of the band: the fast path and
    ``Context.would_trade`` call it.

    Examples
    --------
    >>> would_trade_nb(3.0, 2.9, 100.0, 1.0, 0.05)   # 10 quote, within the band of 15
    False
    """
    band = max(min_trade_notional, rebalance_band * abs(target) * price)
    return abs(target - current) * price > band


@inlined
def apply_targets_nb(inp, st, d, t, view, bk):
    """Fast path: trade each market toward its target of decision ``d`` with a market order."""
    kind = inp.cfg_i[CI_TARGET_MODE]
    view_nb(inp, st, t, view)
    # one decision reads one state (docs/simulation.md, "Targets"): leverage converts with the
    # NC the decision started with, not the NC left by its earlier sends' gas
    if kind == TG_LEVERAGE:
        for a in range(inp.ac_venue.shape[0]):
            st.snapshot[a, SN_NC] = account_state_nb(inp, st, a)[0]
    sees_all = inp.cfg_i[CI_FEED_LATENCY] == 0  # everything up to t is seen: the loop's own marks
    for m in range(view.shape[0]):
        target = inp.tg_value[d, m]
        if np.isnan(target):
            continue
        if sees_all:
            price = mark_price_nb(st.oracle[m], st.last[m])
        else:
            price = observed_price_nb(inp, m, t)  # never the oracle of (t - feed_latency, t]
        if np.isnan(price):
            continue
        nc = st.snapshot[inp.mk_account[m], SN_NC] if kind == TG_LEVERAGE else 0.0
        target = to_position_nb(kind, target, price, nc)
        if not would_trade_nb(target, view[m], price, inp.cfg_f[CF_MIN_TRADE], inp.cfg_f[CF_REBALANCE_BAND]):
            continue
        delta = target - view[m]
        side = 1 if delta > 0.0 else -1
        submit_nb(inp, st, t, m, side, abs(delta), OT_MARKET, np.nan, np.nan, False, False, False, -1)
        if st.next_arrival[0] <= t:  # a zero-latency order is admitted before the next send
            advance_nb(inp, st, t, STEP_DECISION, bk)


@njit(cache=True)
def sample_nb(inp, st, t):
    """Append an equity sample at ``t``; False when the buffer is full."""
    n = st.counters[C_SAMPLES]
    if n >= st.samples.shape[0]:
        return False
    nc_sum = 0.0
    cash = 0.0
    imr_sum = 0.0
    mmr_sum = 0.0
    gross_sum = 0.0
    for a in range(inp.ac_venue.shape[0]):
        nc, imr, mmr, gross = account_state_nb(inp, st, a)
        nc_sum += nc
        cash += st.cash[a]
        imr_sum += imr
        mmr_sum += mmr
        gross_sum += gross
    s = st.samples[n]
    s.ts = t
    s.equity = nc_sum + st.transit[0]  # collateral on a bridge is still the trader's
    s.cash = cash
    s.upnl = nc_sum - cash
    s.imr = imr_sum
    s.mmr = mmr_sum
    s.gross_notional = gross_sum
    s.insurance = st.insurance.sum()
    st.counters[C_SAMPLES] = n + 1
    return True
