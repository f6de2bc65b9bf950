"""The event loop.

``run_nb(inp, st)`` processes the merged static event stream from where the state's counters
say it stopped, until the end, the next decision time (hybrid driver), or a full record
buffer, and returns an exit code; the Python driver decides, grows buffers, and re-enters.

Speed note: handing the ``inp``/``st`` tuples to a function costs a reference-count round trip
per array member (hundreds of ns), so the per-event path below reads arrays directly and calls
out only when something happens: a fill, a breach found by the array-only margin test, a due
sample, arrival, cancel or stop observation.
"""
import numpy as np
from numba import njit, objmode, uint64

from .accounts_nb import below_maintenance_nb, set_bands_nb
from .book_nb import BK_SNAPSHOT_FIRST, BK_SNAPSHOT_MORE, apply_level_nb, apply_snapshot_nb, book_rows_nb
from .decisions_nb import apply_targets_nb, sample_nb
from .dynamic_nb import advance_nb
from .enums import (C_BANDS_OK, C_UNCHECKED, C_BOOK, C_DECISION, C_DEFERRED, C_EVENT, C_FILLS, C_FUNDING, C_INTENTS,
                    C_LEDGER, C_LIQ, C_NEXT_SAMPLE, C_ORDERS, C_TRANSFERS, EV_FUNDING, EV_ORACLE,
                    EV_BOOK, EV_REORG, EV_TRACE, EV_TRADE, EXIT_DONE, EXIT_ERROR, EXIT_FULL,
                    MODE_HOOK, NO_TS, STEP_BOOK, STEP_DECISION, STEP_END, STEP_FUNDING,
                    STEP_ORACLE, STEP_TRACE, STEP_TRADE)
from .hooks import decision_hook
from .intents_nb import execute_intents_nb, snapshot_nb
from .finality_nb import reorg_nb
from .funding_nb import pay_funding_nb
from .liquidation_nb import check_margin_nb
from .match_nb import match_trade_nb
from .state import inlined, CI_END_TS, CI_MARGIN_BANDS, CI_SAMPLE_EVERY, CI_TARGET_MODE

#: step of each static event type in the same-timestamp order (index: EV_*)
STEP_OF = np.array([0] * 6, np.int64)
STEP_OF[EV_TRACE] = STEP_TRACE
STEP_OF[EV_FUNDING] = STEP_FUNDING
STEP_OF[EV_ORACLE] = STEP_ORACLE
STEP_OF[EV_TRADE] = STEP_TRADE
STEP_OF[EV_REORG] = STEP_TRADE  # reorgs follow the trades of their time, in the same step
STEP_OF[EV_BOOK] = STEP_BOOK  # book rows follow the trades of their time

# Buffer headroom. One event or one decision writes a bounded number of records: up to two per
# market of orders (a decision's targets, stops triggering), a fill per order in the book plus
# per market (liquidation closes), up to LEDGER_ROWS_PER_FILL ledger rows per fill (fee,
# realized PnL, gas or liquidation money), one funding row, one liquidation record per market.
# ROOM_SLACK covers the rest (a few account-level ledger rows, off-by-one margins).
ROOM_SLACK = 8
LEDGER_ROWS_PER_FILL = 3


@njit(cache=True)
def _room_nb(book, orders, fills, ledger, funding, liq, n_orders, n_fills, n_ledger, n_funding, n_liq, m):
    """True when every buffer can take the records of one more event (and one decision), given
    the counters' values (scalars: this runs at every event, and an array argument costs two
    reference counts a call)."""
    need = book + 2 * m + ROOM_SLACK
    return (n_orders - orders > 2 * m + ROOM_SLACK
            and n_fills - fills > need
            and n_ledger - ledger > LEDGER_ROWS_PER_FILL * need + ROOM_SLACK
            and n_funding - funding > 1
            and n_liq - liq > m)


@njit(cache=True)
def _intent_room_nb(counters, n_orders, n_ledger, n_transfers, m):
    """How many queued intents the buffers take now while keeping the headroom of one event
    (:func:`_room_nb`'s ``2 m + ROOM_SLACK`` orders): each intent writes at most one order or
    transfer and its ledger rows (a zero-latency order may fill at once)."""
    return min(n_orders - counters[C_ORDERS] - 2 * m - ROOM_SLACK,
               (n_ledger - counters[C_LEDGER]) // LEDGER_ROWS_PER_FILL - 2 * m - ROOM_SLACK,
               n_transfers - counters[C_TRANSFERS] - 1)


@inlined
def _samples_until_nb(inp, st, t, inclusive, bk):
    """Equity samples due before ``t`` (or at ``t`` when inclusive); False when full."""
    every = inp.cfg_i[CI_SAMPLE_EVERY]
    if every <= 0:
        return True
    nxt = st.counters[C_NEXT_SAMPLE]
    while nxt < t or (inclusive and nxt == t):
        if st.next_arrival[0] <= nxt:  # arrivals, cancels, observations stamped <= nxt first
            advance_nb(inp, st, nxt, STEP_END, bk)
        if not sample_nb(inp, st, nxt):
            st.counters[C_NEXT_SAMPLE] = nxt
            return False
        nxt += every
    st.counters[C_NEXT_SAMPLE] = nxt
    return True


@njit(cache=True)
def _call_hook_nb(d):
    """The strategy's decision ``d`` in Python (kept out of ``run_nb`` so the loop compiles
    without with-lifting)."""
    with objmode(code="int64"):
        code = decision_hook(d)
    return code


@njit(cache=True)
def _moves_margin_nb(position, px, bands_ok, low, high):
    """True when an oracle move to ``px`` needs the exact margin check: the market is held and
    the price left the band set at the last check (or the bands are not valid; NaN is outside
    every band). Scalars only: it is inlined into the loop."""
    return position != 0.0 and not (bands_ok and low <= px <= high)


@njit(cache=True)
def _check_due_nb(counters):
    """True when a check event must run the full margin check whatever moved at it: an
    account waits for its venue to recover, or money or a position moved since the last check
    began (a decision's gas, a transfer sent: the next trade, oracle or funding group checks,
    as docs/simulation.md's order of events has it)."""
    return counters[C_DEFERRED] > 0 or counters[C_UNCHECKED] == 1


@njit(cache=True)
def _marked_by_trades_nb(position, oracle):
    """True when a trade moves a held market's mark: it has no oracle price yet, so its mark is
    the last trade (:func:`.accounts_nb.mark_price_nb`) and each trade needs a margin check."""
    return position != 0.0 and np.isnan(oracle)


@inlined
def _any_breach_nb(cash, pos, entry, oracle, last, mk_account, mk_mmf, n_acc):
    for a in range(n_acc):
        if below_maintenance_nb(cash, pos, entry, oracle, last, mk_account, mk_mmf, a):
            return True
    return False


@njit(cache=True, nogil=True)
def run_nb(inp, st, bk):
    """Run until done, a full buffer or an error in the decision hook; return EXIT_* .

    ``bk`` is ``state.BOOK`` when the inputs have book data and ``None`` otherwise: numba then
    prunes every ``bk is not None`` branch, so a run without a book compiles (and loads from
    the cache) none of the order-book code.

    Releases the GIL (the decision hook's objmode block takes it back), so fast-path runs of a
    batch run side by side on threads (:func:`backtester.batch.run_engines`).

    Same-timestamp event order (docs/simulation.md, "Event order at one timestamp"):

    1. latency-trace rows (order/ack latency, up/down, gas) of the venue;
    2. funding rows, paid at the row's oracle price or the oracle in force before step 3;
       then a margin check;
    3. oracle price updates, then a margin check;
    4. orders and cancels arriving at this time reach the engine (in send order);
    5. each trade is matched against the book (nothing matches while the venue is down) and
       followed by a margin check; then reorgs stamped at this time;
    7. client-side stops observe the trades stamped ``ts - feed_latency``;
    8. a decision at ``d`` runs after all of the above at ``d``; its orders leave at ``d``:
       fast path: targets traded in the kernel; hook mode: the strategy's ``on_decision``
       runs through :func:`.hooks.decision_hook` (objmode) and its queued intents are
       executed in order.

    A margin check liquidates accounts with ``NC < MMR`` whose venue is up and flags the others
    for the first check after recovery. Arrivals, cancels and observations are events of their
    own time (``dynamic_nb``); those still due after the last event are processed at the end. Equity is sampled every ``sample_every``; a sample at ``s``
    reflects every event with ``ts <= s``.
    """
    ev_ts = inp.ev_ts
    ev_type = inp.ev_type
    ev_idx = inp.ev_idx
    tr_market = inp.tr_market
    tr_price = inp.tr_price
    or_market = inp.or_market
    or_price = inp.or_price
    mk_venue = inp.mk_venue
    mk_account = inp.mk_account
    mk_mmf = inp.mk_mmf
    counters = st.counters
    cash = st.cash
    pos = st.pos
    entry = st.entry
    oracle = st.oracle
    last = st.last
    last_row = st.last_row
    bk_market = inp.bk_market
    bk_side = inp.bk_side
    bk_price = inp.bk_price
    bk_size = inp.bk_size
    bk_flag = inp.bk_flag
    n_bk = bk_flag.shape[0]
    lv_key = st.lv_key
    lv_size = st.lv_size
    lv_taken = st.lv_taken
    lv_n = st.lv_n
    up = st.up
    n_open = st.n_open
    next_arrival = st.next_arrival
    n_orders = st.orders.shape[0]
    n_fills = st.fills.shape[0]
    n_ledger = st.ledger.shape[0]
    n_funding = st.funding.shape[0]
    n_liq = st.liquidations.shape[0]
    n_mk = pos.shape[0]
    n_acc = inp.ac_venue.shape[0]
    every = inp.cfg_i[CI_SAMPLE_EVERY]
    n_ev = ev_ts.shape[0]
    n_dec = inp.dc_ts.shape[0]
    mode = inp.cfg_i[CI_TARGET_MODE]
    bands = inp.cfg_i[CI_MARGIN_BANDS] == 1
    band = st.band
    view = np.zeros(n_mk)
    dirty = False  # a funding/oracle group changed a held market: check margin at its end
    k = counters[C_EVENT]
    d = counters[C_DECISION]
    next_dec = inp.dc_ts[d] if d < n_dec else NO_TS
    while True:
        if not dirty and not _check_due_nb(counters):
            # Quiet stretch: trades that meet no order and oracle rows that keep every held
            # market inside its margin band change nothing but a price, so they need no room,
            # sample, arrival or margin test. They run here until a due decision, sample or
            # arrival, or until an event needs the full treatment below (which then handles it
            # from the start: nothing of it has been applied). Most events of a tape pass here.
            # First find where the stretch ends (loads only: a loop that also stores runs ~2x
            # slower), then apply its prices: only each market's last ones matter. A trade's
            # test reads the oracle from before the stretch; where that differs (no oracle yet,
            # then a row in the stretch) the stretch ends early, which is always safe.
            lim = min(next_dec, counters[C_NEXT_SAMPLE] if every > 0 else NO_TS, next_arrival[0] - 1)
            bands_ok = bands and counters[C_BANDS_OK] == 1
            k0 = k
            if n_mk == 1:
                # one market: what a trade's test reads cannot change within the stretch, so it
                # is tested once, and a trade costs its time and type; the loop below takes over
                # at anything else (a book row) and tests it again
                trades_stop = n_open[0] > 0 or _marked_by_trades_nb(pos[0], oracle[0])
                held = pos[0]
                low, high = band[0, 0], band[0, 1]
                while k < n_ev:
                    if ev_ts[k] > lim:
                        break
                    typ = ev_type[k]
                    if typ == EV_TRADE:
                        if trades_stop:
                            break
                    elif typ == EV_ORACLE:
                        if _moves_margin_nb(held, or_price[uint64(ev_idx[k])], bands_ok, low, high):
                            break
                    else:
                        break
                    k += 1
            while k < n_ev:
                if ev_ts[k] > lim:
                    break
                i = uint64(ev_idx[k])  # unsigned: no negative-index code in the hottest loop
                typ = ev_type[k]
                if typ == EV_TRADE:
                    m = uint64(tr_market[i])
                    if n_open[m] > 0 or _marked_by_trades_nb(pos[m], oracle[m]):
                        break
                elif typ == EV_ORACLE:
                    m = uint64(or_market[i])
                    if _moves_margin_nb(pos[m], or_price[i], bands_ok, band[m, 0], band[m, 1]):
                        break
                elif typ == EV_BOOK and bk is not None:
                    # no order of ours rests on its market: nothing but the levels change, applied
                    # in order, a run of book rows per call (a group's rows share one time, so lim
                    # never splits it)
                    b = ev_idx[k]
                    if n_open[uint64(bk_market[b])] > 0:
                        break
                    r = 2 * bk_market[b] + (1 if bk_side[b] < 0 else 0)
                    if bk_flag[b] == BK_SNAPSHOT_FIRST:
                        if b + 1 < n_bk and bk_flag[b + 1] == BK_SNAPSHOT_MORE:
                            k += apply_snapshot_nb(inp, st, r, b) - b + 1  # a group: whole, one call
                            continue
                        lv_n[r] = 0  # a group of one row (a book-top side)
                    # the one place the level update is inlined: most book rows pass here
                    apply_level_nb(lv_key, lv_size, lv_taken, lv_n, r, bk_price[b], bk_side[b], bk_size[b])
                else:
                    break
                k += 1
            if n_mk == 1:  # the last trade and the last oracle row of the stretch
                seen_trade = False
                seen_oracle = False
                j = k - 1
                while j >= k0 and not (seen_trade and seen_oracle):
                    i = uint64(ev_idx[j])
                    if ev_type[j] == EV_TRADE:
                        if not seen_trade:
                            last[0] = tr_price[i]
                            last_row[0] = i
                            seen_trade = True
                    elif ev_type[j] == EV_ORACLE and not seen_oracle:
                        oracle[0] = or_price[i]
                        seen_oracle = True
                    j -= 1
            else:
                for j in range(k0, k):
                    i = uint64(ev_idx[j])
                    if ev_type[j] == EV_TRADE:
                        last[uint64(tr_market[i])] = tr_price[i]
                        last_row[uint64(tr_market[i])] = i
                    elif ev_type[j] == EV_ORACLE:
                        oracle[uint64(or_market[i])] = or_price[i]
        t = ev_ts[k] if k < n_ev else NO_TS
        if next_dec < t:
            # samples due before d see only what happened by their own time, then d's step 4-7
            # (calls guarded inline: handing over the state tuples costs ~0.4 us each)
            if every > 0 and counters[C_NEXT_SAMPLE] < next_dec:
                if not _samples_until_nb(inp, st, next_dec, False, bk):
                    counters[C_EVENT] = k
                    return EXIT_FULL
            if next_arrival[0] <= next_dec:
                advance_nb(inp, st, next_dec, STEP_DECISION, bk)
            if every > 0 and counters[C_NEXT_SAMPLE] == next_dec:
                if not _samples_until_nb(inp, st, next_dec, True, bk):
                    counters[C_EVENT] = k
                    return EXIT_FULL
            counters[C_EVENT] = k
            counters[C_DECISION] = d
            if not _room_nb(counters[C_BOOK], counters[C_ORDERS], counters[C_FILLS], counters[C_LEDGER],
                            counters[C_FUNDING], counters[C_LIQ], n_orders, n_fills, n_ledger, n_funding, n_liq, n_mk):
                return EXIT_FULL
            if mode == MODE_HOOK:
                if counters[C_INTENTS] == 0:  # not resuming a decision whose intents overflowed
                    snapshot_nb(inp, st, next_dec)
                    if _call_hook_nb(d) < 0:
                        return EXIT_ERROR
                if counters[C_INTENTS] > 0:
                    room = _intent_room_nb(counters, n_orders, n_ledger, st.transfers.shape[0], n_mk)
                    if not execute_intents_nb(inp, st, next_dec, room, bk):
                        return EXIT_FULL
            else:
                apply_targets_nb(inp, st, d, next_dec, view, bk)
            d += 1
            counters[C_DECISION] = d
            next_dec = inp.dc_ts[d] if d < n_dec else NO_TS
            continue
        if k >= n_ev:
            break
        if not _room_nb(counters[C_BOOK], counters[C_ORDERS], counters[C_FILLS], counters[C_LEDGER],
                            counters[C_FUNDING], counters[C_LIQ], n_orders, n_fills, n_ledger, n_funding, n_liq, n_mk):
            counters[C_EVENT] = k
            return EXIT_FULL
        if every > 0 and counters[C_NEXT_SAMPLE] < t:
            if not _samples_until_nb(inp, st, t, False, bk):
                counters[C_EVENT] = k
                return EXIT_FULL
        typ = ev_type[k]
        i = ev_idx[k]
        if next_arrival[0] <= t:
            advance_nb(inp, st, t, STEP_OF[typ], bk)
        if typ == EV_TRADE:
            m = tr_market[i]
            last[m] = tr_price[i]
            last_row[m] = i
            filled = False
            if n_open[m] > 0 and up[mk_venue[m]]:
                before = counters[C_FILLS]
                match_trade_nb(inp, st, i)
                filled = counters[C_FILLS] > before
            if filled or _check_due_nb(counters) or _marked_by_trades_nb(pos[m], oracle[m]):
                check_margin_nb(inp, st, t, bk)
                counters[C_BANDS_OK] = 0
        elif typ == EV_ORACLE:
            m = or_market[i]
            px = or_price[i]
            oracle[m] = px
            # a held market's move needs the exact check unless it stays within the band set
            # at the last check (NaN is outside every band)
            if _moves_margin_nb(pos[m], px, bands and counters[C_BANDS_OK] == 1, band[m, 0], band[m, 1]):
                dirty = True
            if k + 1 >= n_ev or ev_ts[k + 1] != t or ev_type[k + 1] != typ:  # last of its group
                if _check_due_nb(counters) or (dirty and _any_breach_nb(cash, pos, entry, oracle, last,
                                                                        mk_account, mk_mmf, n_acc)):
                    check_margin_nb(inp, st, t, bk)
                if dirty and bands:
                    set_bands_nb(cash, pos, entry, oracle, last, mk_account, mk_mmf, band)
                    counters[C_BANDS_OK] = 1
                dirty = False
        elif typ == EV_FUNDING:
            if pay_funding_nb(inp, st, i):
                dirty = True
            if k + 1 >= n_ev or ev_ts[k + 1] != t or ev_type[k + 1] != typ:  # last of its group
                if dirty or _check_due_nb(counters):
                    check_margin_nb(inp, st, t, bk)
                dirty = False
        elif typ == EV_BOOK:
            # a snapshot group is applied whole: its rows are consecutive events of one time
            if bk is not None:
                k += book_rows_nb(inp, st, i) - i
        elif typ == EV_TRACE:
            up[inp.lt_venue[i]] = inp.lt_up[i]
        elif typ == EV_REORG:
            reorg_nb(inp, st, i)
            check_margin_nb(inp, st, t, bk)
        k += 1
    counters[C_EVENT] = k
    if not _samples_until_nb(inp, st, inp.cfg_i[CI_END_TS], True, bk):
        return EXIT_FULL
    if next_arrival[0] != NO_TS:
        # what is still on its way when the data ends arrives all the same: orders and cancels
        # (admitted or rejected), transfers (they land), stops observing the last trades
        if not _room_nb(counters[C_BOOK], counters[C_ORDERS], counters[C_FILLS], counters[C_LEDGER],
                            counters[C_FUNDING], counters[C_LIQ], n_orders, n_fills, n_ledger, n_funding, n_liq, n_mk):
            return EXIT_FULL
        advance_nb(inp, st, NO_TS, 9, bk)
    return EXIT_DONE
