"""Margin accounts: cash, positions with average entry, net collateral, IMR/MMR, the ledger.

Accounting (docs/simulation.md): each account holds cash ``Q`` and, per market, a signed
position ``S`` with average entry ``E``. ``NC = Q + sum S (P - E)`` at oracle prices,
``IMR = sum |S| P IMF``, ``MMR = sum |S| P MMF``. Cash changes only through ledger rows.
"""
import numpy as np
from numba import njit

from .state import typed

from .enums import C_BANDS_OK, C_LEDGER, C_UNCHECKED, LG_GAS
from .trace_nb import gas_nb


@typed("void(ST, i8, i8, i8, i8, f8, i8)")
def ledger_nb(st, ts, account, kind, market, amount, ref):
    """Append a ledger row (the caller moves the cash)."""
    st.counters[C_BANDS_OK] = 0  # money moved: the margin bands no longer hold,
    st.counters[C_UNCHECKED] = 1  # and the next check event must check (a decision's gas too)
    n = st.counters[C_LEDGER]
    row = st.ledger[n]
    row.ts = ts
    row.account = account
    row.kind = kind
    row.market = market
    row.amount = amount
    row.ref = ref
    st.counters[C_LEDGER] = n + 1


@typed("void(INP, ST, i8, i8, i8, i8, i8)")
def pay_gas_nb(inp, st, v, t, a, m, ref):
    """Account ``a`` pays venue ``v``'s gas in force at ``t`` to the counterparty (a submit, a
    cancel or an accepted transfer; ``ref`` is its order or transfer id, ``m`` -1 for none)."""
    gas = gas_nb(inp, v, t)
    if gas != 0.0:
        st.cash[a] -= gas
        st.cp[0] += gas
        ledger_nb(st, t, a, LG_GAS, m, -gas, ref)


@njit(cache=True)
def mark_price_nb(oracle, last):
    """The mark price rule: the ``oracle`` price, else the ``last`` trade price (NaN if
    neither). The one home of the rule: the kernel's marks, ``Context.mark`` (observed prices)
    and ``Result.marks`` (prices in force at a time) all call it.

    Examples
    --------
    >>> mark_price_nb(101.0, 100.0), mark_price_nb(float("nan"), 100.0)
    (101.0, 100.0)
    """
    if np.isnan(oracle):
        return last
    return oracle


@njit(cache=True)
def requirement_nb(gross, price, fraction):
    """The margin requirement ``|S| * P * F`` of a position of ``gross = |S|`` base units at
    price ``P`` with margin fraction ``F`` (IMF: initial, MMF: maintenance). Given a change of
    ``|S|`` it is the change of the requirement. Scalars or equal-shape arrays; the one home of
    the rule (the kernel's IMR/MMR, ``Context.requirement``, ``analysis.accounts_at``).

    Examples
    --------
    >>> requirement_nb(2.0, 100.0, 0.05)
    10.0
    """
    return gross * price * fraction


@typed("f8(ST, i8)")
def mark_nb(st, m):
    """Mark price of market ``m`` now (:func:`mark_price_nb` of its state)."""
    return mark_price_nb(st.oracle[m], st.last[m])


@typed("f8(ST, i8, f8, f8)")
def update_position_nb(st, m, q, p):
    """Apply a signed fill ``q`` at price ``p`` to market ``m``; return the realized PnL."""
    st.counters[C_BANDS_OK] = 0  # the position moved: the margin bands no longer hold,
    st.counters[C_UNCHECKED] = 1  # and the next check event must check
    s = st.pos[m]
    e = st.entry[m]
    if s == 0.0 or (s > 0.0) == (q > 0.0):
        new = s + q
        st.entry[m] = (abs(s) * e + abs(q) * p) / abs(new)
        st.pos[m] = new
        return 0.0
    r = min(abs(q), abs(s))
    sign = 1.0 if s > 0.0 else -1.0
    realized = sign * r * (p - e)
    new = s + q
    if abs(q) > abs(s):
        st.entry[m] = p
    elif abs(q) == abs(s):
        new = 0.0
        st.entry[m] = 0.0
    st.pos[m] = new
    return realized


@typed("f8(INP, ST, i8, i8, i8, f8, f8, f8, i8, i8)")
def book_trade_nb(inp, st, ts, account, m, q, p, fee, ref, kind):
    """Move position and cash for a fill of ``q`` at ``p`` paying ``fee``; the counterparty
    takes the other side. The realized PnL (returned) is a ledger row of ``kind``."""
    realized = update_position_nb(st, m, q, p)
    if realized != 0.0:
        st.cash[account] += realized
        ledger_nb(st, ts, account, kind, m, realized, ref)
    # counterparty in cash-flow accounting: independent of the entry-price bookkeeping above
    st.cp[0] += q * p + fee
    st.cp_pos[m] -= q
    return realized


@typed("UniTuple(f8, 4)(INP, ST, i8)")
def account_state_nb(inp, st, a):
    """(NC, IMR, MMR, gross notional) of account ``a`` at current marks."""
    nc = st.cash[a]
    imr = 0.0
    mmr = 0.0
    gross = 0.0
    for m in range(st.pos.shape[0]):
        s = st.pos[m]
        if s == 0.0 or inp.mk_account[m] != a:
            continue
        p = mark_nb(st, m)
        nc += s * (p - st.entry[m])
        gross += abs(s) * p
        imr += requirement_nb(abs(s), p, inp.mk_imf[m])
        mmr += requirement_nb(abs(s), p, inp.mk_mmf[m])
    return nc, imr, mmr, gross


@njit(cache=True)
def admits_nb(inp, st, a, m, q):
    """True when adding ``q`` to market ``m`` keeps ``IMR' <= NC`` or lowers the IMR."""
    nc, imr, _, _ = account_state_nb(inp, st, a)
    p = mark_nb(st, m)
    s = st.pos[m]
    new_imr = imr + requirement_nb(abs(s + q) - abs(s), p, inp.mk_imf[m])
    return new_imr <= nc or new_imr <= imr


@njit(cache=True)
def has_position_nb(inp, st, a):
    for m in range(st.pos.shape[0]):
        if st.pos[m] != 0.0 and inp.mk_account[m] == a:
            return True
    return False


@njit(cache=True)
def below_maintenance_nb(cash, pos, entry, oracle, last, mk_account, mk_mmf, a):
    """True when account ``a`` holds positions and ``NC < MMR``.

    Takes arrays, not the state tuple: it runs on every oracle update of a held market, and
    passing a tuple of arrays costs a reference-count round trip per member.
    """
    nc = cash[a]
    mmr = 0.0
    held = False
    for m in range(pos.shape[0]):
        s = pos[m]
        if s == 0.0 or mk_account[m] != a:
            continue
        held = True
        p = mark_price_nb(oracle[m], last[m])
        nc += s * (p - entry[m])
        mmr += requirement_nb(abs(s), p, mk_mmf[m])
    return held and nc < mmr


#: relative safety of the margin bands against float rounding: computing ``NC - MMR`` rounds
#: by about 1e-16 of the magnitudes summed; a band gives up 1e-9 of them
BAND_SAFETY = 1e-9


@njit(cache=True)
def set_bands_nb(cash, pos, entry, oracle, last, mk_account, mk_mmf, band):
    """Per held market, the oracle prices between which its account surely stays at or above
    maintenance (``NC >= MMR``) while nothing else changes; an empty band when none.

    ``NC - MMR`` is linear in each mark with slope at most ``|S| (1 + MMF)`` in size, so an
    account with room ``H = NC - MMR`` (less a rounding allowance) shared evenly among its
    ``n`` held markets stays above maintenance while each mark moves less than
    ``H / (n |S| (1 + MMF))``. Outside its band a market's move gets the exact check
    (:func:`below_maintenance_nb`), so the bands change only how often it runs, never what it
    decides.
    """
    n_acc = 0
    for m in range(pos.shape[0]):
        n_acc = max(n_acc, mk_account[m] + 1)
    for a in range(n_acc):
        nc = cash[a]
        mmr = 0.0
        scale = abs(cash[a])
        held = 0
        for m in range(pos.shape[0]):
            s = pos[m]
            if s == 0.0 or mk_account[m] != a:
                continue
            held += 1
            p = mark_price_nb(oracle[m], last[m])
            nc += s * (p - entry[m])
            mmr += requirement_nb(abs(s), p, mk_mmf[m])
            scale += abs(s) * (abs(p) + abs(entry[m]) + abs(p) * mk_mmf[m])
        room = nc - mmr - BAND_SAFETY * scale
        for m in range(pos.shape[0]):
            s = pos[m]
            if s == 0.0 or mk_account[m] != a:
                continue
            p = mark_price_nb(oracle[m], last[m])
            if room > 0.0 and np.isfinite(room) and np.isfinite(p):
                half = room / (held * abs(s) * (1.0 + mk_mmf[m]))
                band[m, 0] = p - half
                band[m, 1] = p + half
            else:  # no room (or no price): every move is checked
                band[m, 0] = np.inf
                band[m, 1] = -np.inf
