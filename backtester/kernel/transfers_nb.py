"""Collateral transfers between margin accounts.

Only *final* collateral moves: the amount must not exceed the source's free collateral
(``NC - IMR``) nor its cash less the gains of fills that are still pending finality. The
amount leaves at once and arrives ``delay`` later (a bridge between venues; zero between
accounts of one venue).
"""
from numba import njit

from .state import inlined

from .accounts_nb import account_state_nb, ledger_nb, pay_gas_nb
from .enums import (C_FILLS, C_SEQ, C_TRANSFERS, C_TRANSIT, LG_TRANSFER, NO_TS, TR_ARRIVED,
                    TR_IN_TRANSIT, TR_REJECTED)


@njit(cache=True)
def withdrawable_nb(inp, st, a, t):
    """Final collateral of account ``a`` at ``t`` that may leave it."""
    nc, imr, _, _ = account_state_nb(inp, st, a)
    pending = 0.0
    for i in range(st.counters[C_FILLS]):
        f = st.fills[i]
        if f.account == a and f.final_ts > t and not f.reverted:
            gain = f.realized - f.fee
            if gain > 0.0:
                pending += gain
    return max(min(nc - imr, st.cash[a] - pending), 0.0)


@inlined
def transfer_nb(inp, st, t, src, dst, amount, delay):
    """Send ``amount`` from account ``src`` to ``dst`` at ``t``; returns the transfer id.

    A transfer larger than the withdrawable amount is recorded as rejected and moves nothing;
    an accepted one pays the source venue's gas at ``t`` (docs/simulation.md, "Transfers").
    """
    n = st.counters[C_TRANSFERS]
    st.counters[C_TRANSFERS] = n + 1
    r = st.transfers[n]
    r.transfer_id = n
    r.src = src
    r.dst = dst
    r.amount = amount
    r.sent_ts = t
    r.seq = st.counters[C_SEQ]
    st.counters[C_SEQ] += 1
    r.withdrawable = withdrawable_nb(inp, st, src, t)
    if amount > r.withdrawable or amount <= 0.0:
        r.status = TR_REJECTED
        r.arrive_ts = NO_TS
        return n
    r.status = TR_IN_TRANSIT
    r.arrive_ts = t + delay
    pay_gas_nb(inp, st, inp.ac_venue[src], t, src, -1, n)
    st.cash[src] -= amount
    st.transit[0] += amount
    ledger_nb(st, t, src, LG_TRANSFER, -1, -amount, n)
    if r.arrive_ts < st.next_arrival[0]:
        st.next_arrival[0] = r.arrive_ts
    return n


@njit(cache=True)
def next_transfer_nb(st):
    """Index of the earliest transfer in transit (-1: none)."""
    best = -1
    c = st.counters[C_TRANSIT]
    for i in range(c, st.counters[C_TRANSFERS]):
        r = st.transfers[i]
        if r.status != TR_IN_TRANSIT:
            if i == c:
                c += 1
            continue
        if best < 0 or r.arrive_ts < st.transfers[best].arrive_ts:
            best = i
    st.counters[C_TRANSIT] = c
    return best


@njit(cache=True)
def land_transfer_nb(st, i):
    r = st.transfers[i]
    r.status = TR_ARRIVED
    st.cash[r.dst] += r.amount
    st.transit[0] -= r.amount
    ledger_nb(st, r.arrive_ts, r.dst, LG_TRANSFER, -1, r.amount, i)
