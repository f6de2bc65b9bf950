"""Hypothesis strategies for random inputs with order-book data (docs/simulation.md, "Order book").

``book_inputs()`` (also ``gen.reference_inputs(book=True)``) draws the same dict as
``gen.reference_inputs`` (``dataset, markets, config, intents, reorgs``) where each market has
book-top rows, book-level rows or none (at least one market has a book):

* the book follows the trades: each *book state* sits around the last trade price at its time
  (best bid at or below it, best ask above or at it, never crossed), 0-4 levels a side spaced a
  tick apart with the odd gap, sizes on a coarse grid (so a taker's size equal to the top size
  happens) or random;
* states are stamped at trade times (same-timestamp rows with the trades), a little after them,
  before the first trade, and several at one timestamp; level data sends a state as snapshot
  groups of both sides, of one side only, or as update rows of the levels that changed (size 0
  removes a level; now and then an update row repeats a level's size, which resets what our
  takers took there); a side is sometimes emptied;
* intents on book markets: market orders (sizes from a fraction of the top to beyond the shown
  depth), IOC and plain limits at the touch, inside the spread, through the touch, at a level
  behind it and at the exact price of a later trade (trades at and through resting limits), at
  the data's deepest opposite level, a little beyond it and far beyond (the rule "beyond the
  shown levels, up to a limit"),
  post-only, reduce-only, stops and cancels, plus the random orders of ``gen.intents_list``;
* the config draws ``queue_model`` and ``queue_power`` besides ``gen.ref_configs``' stress
  multipliers (constant 0, 1, 2.5, or a step series of 0.5, 1, 3), and one run in ten has
  ``book=False`` (the trade-tape rules on the same data).

Every book is uncrossed at the end of each timestamp (the data layer rejects crossed books).
"""
from __future__ import annotations

from hypothesis import strategies as st

from .engine import CancelIntent, OrderIntent
from .gen import (
    IMPACT_WINDOWS,
    MARKET_NAMES,
    MIN,
    SEC,
    VENUE,
    _price_near,
    account_names,
    funding_rows,
    intents_list,
    latency_rows,
    make_dataset,
    market_specs,
    oracle_rows,
    ref_configs,
    reorg_list,
    trades_rows,
    transfer_intents,
)

SIZES = [0.25, 0.5, 1.0, 2.0, 5.0]


# ---------------------------------------------------------------------------- book states
@st.composite
def _state(draw, price):
    """One uncrossed book around ``price``: ``(tick, {bid price: size}, {ask price: size})``."""
    tick = draw(st.sampled_from([0.01, 0.05, 0.5, 1.0]))
    k_bid = draw(st.integers(0, 3))
    k_ask = draw(st.integers(0 if k_bid else 1, 3))
    bids, asks = {}, {}
    for book, sign, k in ((bids, -1, k_bid), (asks, 1, k_ask)):
        n = draw(st.integers(0, 4))
        level = k
        for _ in range(n):
            size = draw(st.one_of(st.sampled_from(SIZES), st.floats(0.01, 6.0)))
            p = price if level == 0 else round(price + sign * level * tick, 6)
            if p > 0:
                book[p] = size
            level += draw(st.sampled_from([1, 1, 1, 2]))
    return tick, bids, asks


@st.composite
def book_states(draw, market, trades):
    """``[(ts, bids, asks)]`` of one market, in time order (ties included)."""
    mine = [r for r in trades if r["market"] == market]
    if not mine:
        return []
    first, last = mine[0]["ts"], mine[-1]["ts"]
    times = []
    if draw(st.booleans()):
        times.append(first - draw(st.integers(1, MIN)))          # a book before the first trade
    for r in mine:
        roll = draw(st.integers(0, 5))
        if roll <= 1:
            times.append(r["ts"])                                # with the trade (after it: step 6)
        elif roll == 2:
            times.append(r["ts"] + draw(st.sampled_from([1, SEC, 10 * SEC])))
        if roll == 0 and draw(st.booleans()):
            times.append(r["ts"])                                # two states at one timestamp
    times.append(draw(st.integers(first, last)))
    out = []
    for t in sorted(times):
        _tick, bids, asks = draw(_state(_price_near(trades, market, t)))
        out.append((t, bids, asks))
    return out


def _empty_row(ts, market, side, old):
    """A snapshot row that empties a side (size 0 at some price: it sets nothing)."""
    price = next(iter(old), 100.0)
    return dict(ts=ts, market=market, side=side, price=float(price), size=0.0, is_snapshot=True)


@st.composite
def level_rows(draw, market, states):
    """The ``book_levels`` rows that send ``states`` in order: per state, snapshot groups of
    both sides, of the changed sides only, or update rows of the changed levels."""
    rows = []
    old = {1: {}, -1: {}}
    last_ts = None
    for t, bids, asks in states:
        new = {1: bids, -1: asks}
        how = draw(st.sampled_from(["snapshot", "sides", "updates", "updates"]))
        if t == last_ts:
            # a second state at one timestamp as updates: snapshot rows of one side right after
            # the previous state's would be one group with them (the union of both)
            how = "updates"
        last_ts = t
        sides = draw(st.permutations([1, -1]))
        for side in sides:
            if how == "snapshot" or (how == "sides" and new[side] != old[side]):
                if new[side]:
                    for p in sorted(new[side], key=lambda p: -side * p):
                        rows.append(dict(ts=t, market=market, side=side, price=float(p), size=float(new[side][p]),
                                         is_snapshot=True))
                else:
                    rows.append(_empty_row(t, market, side, old[side]))
            elif how == "updates" or how == "sides":
                prices = sorted(set(old[side]) | set(new[side]), key=lambda p: -side * p)
                for p in prices:
                    size = new[side].get(p, 0.0)
                    if size != old[side].get(p, 0.0) or draw(st.integers(0, 5)) == 0:
                        rows.append(dict(ts=t, market=market, side=side, price=float(p), size=float(size),
                                         is_snapshot=False))
        old = {1: dict(bids), -1: dict(asks)}
    return rows


def top_rows(market, states):
    """The L1 ``book`` rows of ``states``: the best level of each side (size 0: an empty side)."""
    rows = []
    for t, bids, asks in states:
        bid = max(bids) if bids else None
        ask = min(asks) if asks else None
        ref = bid or ask or 100.0                   # the price of an empty side (size 0) is moot
        rows.append(dict(ts=t, market=market, bid=float(bid or ref), bid_size=float(bids[bid]) if bid else 0.0,
                         ask=float(ask or ref), ask_size=float(asks[ask]) if ask else 0.0))
    return rows


def state_at(states, t, inclusive=False):
    """The book state in force at ``t`` (rows stamped before ``t``; ``inclusive``: at it too)."""
    found = (None, {}, {})
    for s in states:
        if s[0] < t or (inclusive and s[0] == t):
            found = s
    return found


# ---------------------------------------------------------------------------- intents on book markets
@st.composite
def book_intents(draw, markets, trades, states, cash, n_accounts):
    """0-12 orders and cancels aimed at the book: see the module docstring."""
    booked = [m for m in markets if states.get(m)]
    if not booked:
        return []
    first, last = trades[0]["ts"], trades[-1]["ts"]
    out = []
    n = draw(st.integers(0, 12))
    for _ in range(n):
        m = draw(st.sampled_from(booked))
        book_times = [s[0] for s in states[m]]
        sent = draw(st.one_of(st.sampled_from([r["ts"] for r in trades]), st.sampled_from(book_times),
                              st.integers(first - MIN, last + MIN)))
        if draw(st.integers(0, 7)) == 0:
            out.append(CancelIntent(sent_ts=sent, order_id=draw(st.integers(0, n + 1))))
            continue
        _t, bids, asks = state_at(states[m], sent, inclusive=True)
        side = draw(st.sampled_from([1, -1]))
        mine, theirs = (bids, asks) if side > 0 else (asks, bids)
        ref = _price_near(trades, m, sent)
        best_theirs = (min(theirs) if side > 0 else max(theirs)) if theirs else ref
        best_mine = (max(mine) if side > 0 else min(mine)) if mine else ref
        deepest_theirs = (max(theirs) if side > 0 else min(theirs)) if theirs else ref
        top = theirs.get(best_theirs, 1.0)
        if draw(st.booleans()):                     # the top size exactly, a part, the depth, more
            size = draw(st.sampled_from([top, top * 0.5, top * 1.5, top * 4, sum(theirs.values()) or 1.0]))
        else:                                       # 0.1x-3x leverage on the account's cash
            size = draw(st.floats(0.1, 3.0)) * (cash / n_accounts) / ref
        size = round(size, 6) or 0.01
        kind = draw(st.sampled_from(["market", "market", "ioc", "limit", "limit", "post_only", "stop_market"]))
        it = OrderIntent(sent_ts=sent, market=m, side=side, size=size, type="market",
                         reduce_only=draw(st.integers(0, 4)) == 0)
        if kind == "stop_market":
            it.type = "stop_market"
            it.trigger_price = ref * (1 + draw(st.floats(-0.02, 0.02)))
        elif kind != "market":
            later = [r["price"] for r in trades if r["market"] == m and r["ts"] >= sent] or [ref]
            it.type = "limit"
            it.limit_price = float(draw(st.sampled_from([
                best_theirs,                                         # at the touch (crosses)
                best_mine,                                           # at our side's best (queue)
                (best_theirs + best_mine) / 2,                       # inside the spread
                best_theirs * (1 + side * 0.002),                    # through the touch
                draw(st.sampled_from(sorted(mine) or [ref])),        # behind the best
                draw(st.sampled_from(later[:5])),                    # a later trade's exact price
                deepest_theirs,                                      # the data's deepest level (x = 0)
                deepest_theirs * (1 + side * 0.001),                 # a little beyond it (part of q_b)
                best_theirs * (1 + side * 0.6),                      # generous (x >= 0.5: as a market order)
            ])))
            it.ioc = kind == "ioc"
            it.post_only = kind == "post_only"
        out.append(it)
    return out


# ---------------------------------------------------------------------------- random runs
@st.composite
def _book_inputs(draw, targets=False, transfers=False, kinds=("top", "levels")):
    n_markets = draw(st.integers(1, 2))
    markets = MARKET_NAMES[:n_markets]
    window = draw(st.sampled_from(IMPACT_WINDOWS))
    trades = draw(trades_rows(markets, exact_gaps=(window, window - 1)))
    kind_of = {m: draw(st.sampled_from(list(kinds) + ["none"])) for m in markets}
    if all(k == "none" for k in kind_of.values()):
        kind_of[markets[0]] = draw(st.sampled_from(list(kinds)))
    states, top, levels = {}, [], []
    for m in markets:
        if kind_of[m] == "none":
            continue
        states[m] = draw(book_states(m, trades))
        if kind_of[m] == "top":
            top += top_rows(m, states[m])
        else:
            levels += draw(level_rows(m, states[m]))
    top.sort(key=lambda r: r["ts"])                 # stable: same-ts rows keep their order
    levels.sort(key=lambda r: r["ts"])
    oracle = draw(oracle_rows(markets, trades))
    funding = draw(funding_rows(markets, trades))
    latency = draw(latency_rows(trades))
    specs = draw(market_specs(markets))
    config = draw(ref_configs(trades, impact_window_ns=window))
    config.queue_model = draw(st.sampled_from(["conservative", "probabilistic"]))
    config.queue_power = draw(st.sampled_from([2.0, 1.0, 0.5, 3.0]))
    config.book = draw(st.integers(0, 9)) > 0        # now and then book=False: the tape rules
    n_accounts = len(markets) if config.margin_mode == "isolated" else 1
    cash = config.initial_cash[VENUE]
    intents = draw(book_intents(markets, trades, states, cash, n_accounts))
    intents += draw(intents_list(markets, trades, cash, n_accounts, targets=targets))
    if transfers:
        intents += draw(transfer_intents(account_names(specs, config.margin_mode), trades, cash / n_accounts))
    intents.sort(key=lambda it: it.sent_ts)         # stable: ties keep list order
    reorgs = draw(reorg_list(trades, latency, config.latency_scale, intents=intents))
    return dict(dataset=make_dataset(trades, funding, oracle, latency, book=top, book_levels=levels),
                markets=specs, config=config, intents=intents, reorgs=reorgs)


def book_inputs(targets=False, transfers=False, kinds=("top", "levels")):
    """A hypothesis strategy of ``dict(dataset, markets, config, intents, reorgs)`` with book data.

    Parameters
    ----------
    targets : bool
        Also draw ``TargetIntent`` (their market orders walk the book too).
    transfers : bool
        Also draw ``TransferIntent`` between the accounts (isolated mode with two markets).
    kinds : tuple of {"top", "levels"}
        Which book tables the markets may have (each market has one kind, or none).
    """
    return _book_inputs(targets=targets, transfers=transfers, kinds=tuple(kinds))
