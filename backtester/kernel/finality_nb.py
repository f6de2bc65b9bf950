"""Reorgs: a reorg at ``R`` on a venue reverts the fills still pending there
(``fill_ts <= R < final_ts``), latest first, as an opposite fill at the same price with the
fee refunded; the order is cancelled with reason REORG."""

from .state import inlined

from .accounts_nb import book_trade_nb, ledger_nb
from .enums import C_FILLS, LG_REORG, LQ_LIQUIDATION, R_REORG, ST_CANCELLED, ST_OPEN, ST_PARTIAL
from .orders_nb import remove_from_book_nb


@inlined
def reorg_nb(inp, st, k):
    ts = inp.ro_ts[k]
    v = inp.ro_venue[k]
    for n in range(st.counters[C_FILLS] - 1, -1, -1):
        f = st.fills[n]
        if f.venue != v or f.reverted or f.liquidity == LQ_LIQUIDATION:
            continue
        if not (f.ts <= ts < f.final_ts):
            continue
        f.reverted = True
        book_trade_nb(inp, st, ts, f.account, f.market, -f.side * f.size, f.price, -f.fee,
                      n, LG_REORG)
        if f.fee != 0.0:
            st.cash[f.account] += f.fee
            ledger_nb(st, ts, f.account, LG_REORG, f.market, f.fee, n)
        if st.fill_acked[n]:
            st.ack_pos[f.market] -= f.side * f.size
        o = st.orders[f.order_id]
        if o.status == ST_OPEN or o.status == ST_PARTIAL:
            remove_from_book_nb(st, f.order_id)
        o.filled -= f.size
        o.status = ST_CANCELLED
        o.reason = R_REORG
        o.done_ts = ts
