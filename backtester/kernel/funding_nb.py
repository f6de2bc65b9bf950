"""Funding payments: each funding row pays ``-S * price * rate`` (longs pay when positive)."""
import numpy as np

from .state import inlined

from .accounts_nb import ledger_nb, mark_nb
from .enums import C_FUNDING, LG_FUNDING


@inlined
def pay_funding_nb(inp, st, k):
    """Apply funding row ``k`` to the position in its market (no row when flat).

    The price is the row's oracle price, else the market's oracle in force before this
    timestamp's oracle rows (funding is processed before them).
    """
    m = inp.fu_market[k]
    s = st.pos[m]
    if s == 0.0:
        return False
    price = inp.fu_price[k]
    if np.isnan(price):
        price = mark_nb(st, m)
        if np.isnan(price):
            return False
    ts = inp.fu_ts[k]
    a = inp.mk_account[m]
    rate = inp.fu_rate[k]
    payment = -s * price * rate
    st.cash[a] += payment
    st.cp[0] -= payment
    ledger_nb(st, ts, a, LG_FUNDING, m, payment, k)
    n = st.counters[C_FUNDING]
    r = st.funding[n]
    r.ts = ts
    r.account = a
    r.venue = inp.mk_venue[m]
    r.market = m
    r.position = s
    r.price = price
    r.rate = rate
    r.payment = payment
    st.counters[C_FUNDING] = n + 1
    return True
