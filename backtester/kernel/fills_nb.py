"""Fill prices and the bookkeeping of one fill.

Market orders pay ``price * (1 + side * s)`` with
``s = multiplier(t) * (half_spread + impact * sqrt(size / V))`` (square-root impact, ``V`` the
market's traded size over the impact window); limit orders fill at their limit as makers.
"""
import numpy as np
from numba import njit

from .state import typed

from .accounts_nb import book_trade_nb, ledger_nb
from .enums import LG_REALIZED, C_FILLS, LG_FEE, LQ_TAKER

#: cap on the slippage fraction s (docs/simulation.md): prices stay positive under any stress
MAX_SLIPPAGE = 0.5
from .trace_nb import ack_latency_nb, finality_nb


@njit(cache=True)
def step_value_nb(ts, values, t):
    """Value of the step series ``(ts, values)`` in force at ``t``: the last row with
    ``ts <= t``, the first row before it (1.0 for an empty series)."""
    n = ts.shape[0]
    if n == 0:
        return 1.0
    a = 0
    b = n
    while a < b:
        mid = (a + b) // 2
        if ts[mid] <= t:
            a = mid + 1
        else:
            b = mid
    return values[max(a - 1, 0)]


@njit(cache=True)
def multiplier_nb(inp, t):
    """Slippage multiplier in force at ``t`` (step series; 1.0 without one)."""
    return step_value_nb(inp.sl_ts, inp.sl_val, t)


@njit(cache=True)
def rolling_volume_nb(ts, market, size, window, n_markets):
    """``V`` of the impact rule for every trade row: its market's traded size over
    ``(ts - window, ts]``, the row included (rows in time order, ``market`` codes below
    ``n_markets``). One pass with a trailing pointer per market; the sums are the same
    sequential prefix sums a cumulative sum gives, so ``V`` is exact to the bit."""
    n = ts.shape[0]
    out = np.empty(n)
    total = np.zeros(n_markets)    # size traded so far, per market
    dropped = np.zeros(n_markets)  # of which before the window
    left = np.zeros(n_markets, np.int64)
    for r in range(n):
        m = market[r]
        total[m] += size[r]
        lo = ts[r] - window
        j = left[m]
        while j < r and (market[j] != m or ts[j] <= lo):
            if market[j] == m:
                dropped[m] += size[j]
            j += 1
        left[m] = j
        out[r] = total[m] - dropped[m]
    return out


@njit(cache=True)
def taker_price_nb(inp, m, side, size, trade_row):
    """Price a taker of ``size`` pays against trade ``trade_row``."""
    t = inp.tr_ts[trade_row]
    s = multiplier_nb(inp, t) * (inp.mk_half_spread[m]
                                 + inp.mk_impact[m] * np.sqrt(size / inp.tr_vol[trade_row]))
    s = min(s, MAX_SLIPPAGE)  # a taker never pays over 1.5x, nor sells under 0.5x, the print
    return inp.tr_price[trade_row] * (1.0 + side * s)


@typed("i8(INP, ST, i8, i8, i8, i8, f8, f8, f8, i8, f8)")
def record_fill_nb(inp, st, order_id, ts, m, side, size, price, trade_price, liquidity, fee_rate):
    """Book a fill of the trader: position, realized PnL, fee, record. Returns the fill row."""
    a = inp.mk_account[m]
    v = inp.mk_venue[m]
    n = st.counters[C_FILLS]
    fee = fee_rate * size * price
    realized = book_trade_nb(inp, st, ts, a, m, side * size, price, fee, n, LG_REALIZED)  # ledger ref: fill id
    if fee != 0.0:
        st.cash[a] -= fee
        ledger_nb(st, ts, a, LG_FEE, m, -fee, n)
    f = st.fills[n]
    f.fill_id = n
    f.order_id = order_id
    f.ts = ts
    f.venue = v
    f.account = a
    f.market = m
    f.side = side
    f.liquidity = liquidity
    f.reverted = False
    f.size = size
    f.price = price
    f.trade_price = trade_price
    f.fee = fee
    # only takers pay slippage; a maker fills at its own limit, a liquidation's cost is its spread
    f.slippage_cost = size * abs(price - trade_price) if liquidity == LQ_TAKER else 0.0
    f.realized = realized
    f.ack_ts = ts + ack_latency_nb(inp, v, ts)
    f.final_ts = ts + finality_nb(inp, v, ts)
    st.fill_acked[n] = False
    st.counters[C_FILLS] = n + 1
    return n
