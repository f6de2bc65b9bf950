"""Venue latency traces: step-function lookup and order arrival under downtime.

A trace's value at ``t`` is its row with the largest ``ts <= t`` (before the first row: the
first row). A venue without rows has zero latencies, zero gas and is always up.
"""
from numba import njit

from .enums import DOWNTIME_QUEUE
from .state import CF_LATENCY_SCALE, CI_DOWNTIME, typed


@typed("i8(INP, i8, i8)")  # venues come as int32 (record fields) and int64: one copy
def trace_row_nb(inp, v, t):
    """Row of venue ``v``'s trace in force at ``t`` (-1 if the venue has no trace)."""
    lo = inp.vt_start[v]
    hi = inp.vt_start[v + 1]
    if lo == hi:
        return -1
    # binary search: last row with ts <= t
    a = lo
    b = hi
    while a < b:
        mid = (a + b) // 2
        if inp.lt_ts[mid] <= t:
            a = mid + 1
        else:
            b = mid
    return max(a - 1, lo)


@njit(cache=True)
def scaled_nb(inp, ns):
    return int(round(ns * inp.cfg_f[CF_LATENCY_SCALE]))


@njit(cache=True)
def order_latency_nb(inp, v, t):
    r = trace_row_nb(inp, v, t)
    return 0 if r < 0 else scaled_nb(inp, inp.lt_order[r])


@njit(cache=True)
def ack_latency_nb(inp, v, t):
    r = trace_row_nb(inp, v, t)
    return 0 if r < 0 else scaled_nb(inp, inp.lt_ack[r])


@njit(cache=True)
def finality_nb(inp, v, t):
    r = trace_row_nb(inp, v, t)
    return 0 if r < 0 else scaled_nb(inp, inp.lt_final[r])


@njit(cache=True)
def gas_nb(inp, v, t):
    r = trace_row_nb(inp, v, t)
    return 0.0 if r < 0 else inp.lt_gas[r]


@njit(cache=True)
def arrival_nb(inp, v, sent_ts):
    """Arrival time of an order sent at ``sent_ts``, and whether the venue accepts it.

    Returns ``(arrive_ts, ok)``. If the venue is down at the natural arrival time, policy
    ``queue`` moves the arrival to the venue's next ``up`` row (not ok if it never comes back);
    policy ``reject`` returns not ok at the natural arrival time.
    """
    t = sent_ts + order_latency_nb(inp, v, sent_ts)
    r = trace_row_nb(inp, v, t)
    if r < 0 or inp.lt_up[r]:
        return t, True
    if inp.cfg_i[CI_DOWNTIME] != DOWNTIME_QUEUE:
        return t, False
    end = inp.vt_start[v + 1]
    for k in range(r + 1, end):
        # the row in force at its ts is the last of rows sharing that ts
        if inp.lt_up[k] and (k + 1 == end or inp.lt_ts[k + 1] != inp.lt_ts[k]):
            return inp.lt_ts[k], True
    return t, False

