"""The event loop.

``run_nb(inp, st)`` processes the merged static event stream from where the state's counters
say it stopped, until the end, the next decision time (hybrid driver), or a full record
buffer, and returns an exit code; the Python driver decides, grows buffers, and re-enters.
"""
import numpy as np
from numba import njit

from .decisions_nb import apply_targets_nb, sample_nb
from .enums import (C_BOOK, C_DECISION, C_EVENT, C_FILLS, C_FUNDING, C_LEDGER, C_LIQ,
                    C_NEXT_SAMPLE, C_ORDERS, EV_FUNDING, EV_ORACLE, EV_REORG, EV_TRACE,
                    EV_TRADE, EXIT_DECISION, EXIT_DONE, EXIT_FULL, NO_TS)
from .finality_nb import reorg_nb
from .funding_nb import pay_funding_nb
from .liquidation_nb import check_margin_nb
from .match_nb import check_stops_nb, match_trade_nb
from .orders_nb import process_pending_nb
from .state import CI_END_TS, CI_SAMPLE_EVERY, CI_TARGET_MODE


@njit(cache=True)
def _room_nb(inp, st):
    """True when every buffer can take the records of one more event (and one decision)."""
    m = st.pos.shape[0]
    book = st.counters[C_BOOK]
    need = book + 2 * m + 8
    return (st.orders.shape[0] - st.counters[C_ORDERS] > 2 * m + 8
            and st.fills.shape[0] - st.counters[C_FILLS] > need
            and st.ledger.shape[0] - st.counters[C_LEDGER] > 3 * need + 8
            and st.funding.shape[0] - st.counters[C_FUNDING] > 1
            and st.liquidations.shape[0] - st.counters[C_LIQ] > m)


@njit(cache=True)
def _samples_until_nb(inp, st, t, inclusive):
    """Equity samples due before ``t`` (or at ``t`` when inclusive); False when full."""
    every = inp.cfg_i[CI_SAMPLE_EVERY]
    if every <= 0:
        return True
    nxt = st.counters[C_NEXT_SAMPLE]
    while nxt < t or (inclusive and nxt == t):
        if not sample_nb(inp, st, nxt):
            st.counters[C_NEXT_SAMPLE] = nxt
            return False
        nxt += every
    st.counters[C_NEXT_SAMPLE] = nxt
    return True


@njit(cache=True)
def _trade_nb(inp, st, k):
    m = inp.tr_market[k]
    st.last[m] = inp.tr_price[k]
    filled = False
    if st.n_open[m] > 0 and st.up[inp.mk_venue[m]]:
        n = st.counters[C_FILLS]
        match_trade_nb(inp, st, k)
        filled = st.counters[C_FILLS] > n
    if filled or np.isnan(st.oracle[m]):
        check_margin_nb(inp, st, inp.tr_ts[k])  # marks move with trades only without an oracle
    if st.n_armed[m] > 0:
        check_stops_nb(inp, st, k)


@njit(cache=True)
def run_nb(inp, st):
    """Run until done, a decision (hybrid) or a full buffer; return EXIT_* .

    Same-timestamp event order (DESIGN.md, docs/simulation.md):

    1. latency-trace rows (order/ack latency, up/down, gas) of the venue;
    2. funding rows, paid at the row's oracle price or the oracle in force before step 3;
    3. oracle price updates;
    4. orders (and cancels) whose arrival time has come reach the engine, earliest first;
    5. the trade is matched against the book (nothing matches while the venue is down);
    6. margin check at oracle prices, liquidation when net collateral < MMR (after 2, 3, 5);
    7. client-side stops see the trade ``feed_latency`` later and send market orders;
    8. a decision at ``d`` runs after every event with ``ts <= d``; its orders leave at ``d``.

    Reorg events run after the trades of their timestamp. Equity is sampled every
    ``sample_every``; a sample at ``s`` reflects every event with ``ts <= s``.
    """
    n_ev = inp.ev_ts.shape[0]
    n_dec = inp.dc_ts.shape[0]
    hybrid = inp.cfg_i[CI_TARGET_MODE] < 0
    view = np.zeros(st.pos.shape[0])
    k = st.counters[C_EVENT]
    d = st.counters[C_DECISION]
    while True:
        t = inp.ev_ts[k] if k < n_ev else NO_TS
        next_dec = inp.dc_ts[d] if d < n_dec else NO_TS
        if next_dec < t:
            process_pending_nb(inp, st, next_dec)
            if not _samples_until_nb(inp, st, next_dec, True):
                st.counters[C_EVENT] = k
                return EXIT_FULL
            if hybrid:
                st.counters[C_EVENT] = k
                st.counters[C_DECISION] = d
                return EXIT_DECISION
            if not _room_nb(inp, st):
                st.counters[C_EVENT] = k
                st.counters[C_DECISION] = d
                return EXIT_FULL
            apply_targets_nb(inp, st, d, next_dec, view)
            d += 1
            st.counters[C_DECISION] = d
            continue
        if k >= n_ev:
            break
        if not _room_nb(inp, st) or not _samples_until_nb(inp, st, t, False):
            st.counters[C_EVENT] = k
            return EXIT_FULL
        if st.next_arrival[0] <= t:
            process_pending_nb(inp, st, t)
        typ = inp.ev_type[k]
        i = inp.ev_idx[k]
        if typ == EV_TRADE:
            _trade_nb(inp, st, i)
        elif typ == EV_ORACLE:
            st.oracle[inp.or_market[i]] = inp.or_price[i]
            check_margin_nb(inp, st, t)
        elif typ == EV_FUNDING:
            if pay_funding_nb(inp, st, i):
                check_margin_nb(inp, st, t)
        elif typ == EV_TRACE:
            st.up[inp.lt_venue[i]] = inp.lt_up[i]
        elif typ == EV_REORG:
            reorg_nb(inp, st, i)
            check_margin_nb(inp, st, t)
        k += 1
    st.counters[C_EVENT] = k
    if not _samples_until_nb(inp, st, inp.cfg_i[CI_END_TS], True):
        return EXIT_FULL
    return EXIT_DONE
