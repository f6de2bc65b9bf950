"""Margin check and liquidation: closing at a bounded spread, fee to the insurance fund,
insurance payout of a deficit, and socialized loss when the fund runs dry."""
import numpy as np
from numba import njit

from .book_nb import touch_nb, walk_nb
from .accounts_nb import account_state_nb, has_position_nb, ledger_nb, mark_nb
from .enums import (C_DEFERRED, C_LIQ, C_UNCHECKED, LG_INSURANCE, LG_LIQ_FEE, LG_SOCIALIZED, LQ_LIQUIDATION,
                    R_LIQUIDATED)
from .fills_nb import record_fill_nb
from .orders_nb import cancel_all_nb
from .state import inlined, typed, CF_LIQ_SPREAD


@inlined
def check_margin_nb(inp, st, ts, bk):
    """Margin check of every account, in account order: liquidate those with ``NC < MMR``
    whose venue is up; flag the others, which the next check after recovery liquidates."""
    st.counters[C_UNCHECKED] = 0  # what moves during the check (a liquidation) sets it again
    n_acc = inp.ac_venue.shape[0]
    for a in range(n_acc):
        if not has_position_nb(inp, st, a):
            _flag_nb(st, a, False)
            continue
        nc, _, mmr, _ = account_state_nb(inp, st, a)
        if nc >= mmr:
            _flag_nb(st, a, False)
        elif st.up[inp.ac_venue[a]]:
            _flag_nb(st, a, False)
            liquidate_nb(inp, st, a, ts, bk)
        else:
            _flag_nb(st, a, True)


@typed("void(ST, i8, b1)")
def _flag_nb(st, a, value):
    if st.deferred[a] != value:
        st.deferred[a] = value
        st.counters[C_DEFERRED] += 1 if value else -1


@njit(cache=True)
def liquidate_nb(inp, st, a, ts, bk):
    """Close every position of account ``a`` at the oracle moved against it by
    ``liq_spread * MMF * ABR`` (``ABR = clamp(1 - NC/MMR, 0, 1)``, dYdX v4's bankruptcy
    rating), or on a market with book data against the book within ``liq_spread * MMF``; then
    fee, insurance payout and socialized loss (docs/simulation.md)."""
    v = inp.ac_venue[a]
    n_acc = inp.ac_venue.shape[0]
    first = st.counters[C_LIQ]
    nc, _, mmr, _ = account_state_nb(inp, st, a)
    abr = min(max(1.0 - nc / mmr, 0.0), 1.0) if mmr > 0.0 else 1.0  # bankruptcy rating
    fee_cap = 0.0
    total = 0.0
    for m in range(st.pos.shape[0]):
        s = st.pos[m]
        if s == 0.0 or inp.mk_account[m] != a:
            continue
        p = mark_nb(st, m)
        sign = 1.0 if s > 0.0 else -1.0
        price = p * (1.0 - sign * inp.cfg_f[CF_LIQ_SPREAD] * inp.mk_mmf[m] * abr)
        if bk is not None:  # (pruned from the copy compiled for runs without book data)
            if inp.mk_book[m] == 1 and not np.isnan(touch_nb(inp, st, m, -int(sign), ts)):
                # against the book, no worse than the full spread; the rest at that bound
                bound = p * (1.0 - sign * inp.cfg_f[CF_LIQ_SPREAD] * inp.mk_mmf[m])
                took, cost, best, edge = walk_nb(inp, st, m, -int(sign), abs(s), bound, ts)
                price = best if took == abs(s) and best == edge else (cost + (abs(s) - took) * bound) / abs(s)
        notional = abs(s) * p
        total += notional
        fee_cap += inp.mk_liq_fee[m] * notional
        record_fill_nb(inp, st, -1, ts, m, -int(sign), abs(s), price, np.nan, LQ_LIQUIDATION, 0.0)
        n = st.counters[C_LIQ]
        r = st.liquidations[n]
        r.ts = ts
        r.account = a
        r.venue = v
        r.market = m
        r.size = s
        r.oracle_price = p
        r.price = price
        r.fee = notional  # weight for now; replaced by the fee share below
        st.counters[C_LIQ] = n + 1
    q = st.cash[a]
    fee = min(fee_cap, max(q, 0.0))
    if fee > 0.0:
        st.cash[a] -= fee
        st.insurance[v] += fee
        ledger_nb(st, ts, a, LG_LIQ_FEE, -1, -fee, first)
        ledger_nb(st, ts, n_acc + v, LG_LIQ_FEE, -1, fee, first)
    deficit = max(-st.cash[a], 0.0)
    paid = min(deficit, st.insurance[v])
    if paid > 0.0:
        st.insurance[v] -= paid
        st.cash[a] += paid
        ledger_nb(st, ts, a, LG_INSURANCE, -1, paid, first)
        ledger_nb(st, ts, n_acc + v, LG_INSURANCE, -1, -paid, first)
    rest = deficit - paid
    if rest > 0.0:
        st.cash[a] += rest
        st.cp[0] -= rest
        ledger_nb(st, ts, a, LG_SOCIALIZED, -1, rest, first)
    for n in range(first, st.counters[C_LIQ]):
        r = st.liquidations[n]
        share = r.fee / total if total > 0.0 else 0.0
        r.fee = fee * share
        r.deficit = deficit * share
        r.insurance_paid = paid * share
        r.socialized = rest * share
    cancel_all_nb(st, a, ts, R_LIQUIDATED)
