"""Hypothesis strategies for small random valid inputs of the reference engine (and the kernel).

``reference_inputs()`` draws a dict with keys ``dataset``, ``markets``, ``config``, ``intents``
and ``reorgs``, ready for ``run_reference(**inputs)``:

* 1-2 markets on one venue ``dydx``, 5-200 trades with integer-ns timestamps (ties included),
  prices random-walking in [50, 200] with the odd jump;
* per market either oracle rows (trade times plus an offset, a little noise) or none (the oracle
  is then derived from trades with ``oracle_delay_ns``);
* hourly funding rows with the oracle price present, absent or mixed;
* no latency trace, or a few rows (latencies in whole ms, so ``latency_scale`` 0.5/2 is exact)
  including ``up=False`` stretches and gas;
* market, limit (plain, post-only, IOC), stop-market orders, reduce-only flags, cancels, reorgs.

Sizes are drawn as a leverage on the account's cash (mostly 0.1x-5x, sometimes up to 20x), so
runs are sometimes but not always liquidated.

Edges are hit *exactly*, not only approached:

* some gaps between consecutive trades are exactly the impact window (the earlier trade is just
  outside ``V`` of the later one) or one ns less (just inside);
* reorgs are often stamped exactly at a trade's time (a fill's ``fill_ts``: reverted), one ns
  before it, or at ``trade ts + latency_scale * finality`` (a fill's ``final_ts``: kept);
* about one draw in four is a *liquidation edge case* (``liquidation_edge_cases``): dyadic
  prices, sizes and margin fractions chosen so that an oracle move puts the account at exactly
  ``NC == MMR`` (not liquidated), then optionally one dyadic step past it either way, followed
  by a random tail of trades, orders and funding.

``reference_inputs(targets=True, transfers=True)`` also draws ``TargetIntent`` and
``TransferIntent`` (off by default, so callers that drive an engine without them keep working).

``reference_inputs(book=True)`` (the same as ``book_inputs()``) draws inputs with order-book data
instead: book-top or level rows around the trades and intents aimed at the book
(``gen_book.py``).
"""
from __future__ import annotations

import math

import pandas as pd
from hypothesis import strategies as st

from .engine import CancelIntent, MarketSpec, OrderIntent, RefConfig, Reorg, TargetIntent, TransferIntent
from .records import Trace, TraceRow, scaled_ns

T0 = 1_704_067_200_000_000_000      # 2024-01-01 00:00 UTC in ns
MS = 1_000_000
SEC = 1_000 * MS
MIN = 60 * SEC
HOUR = 60 * MIN
VENUE = "dydx"
VENUE2 = "hl"                        # second venue (only with transfers=True)
MARKET_NAMES = ["BTC-USD", "ETH-USD"]


def _ts(values):
    return pd.to_datetime(pd.Series(values, dtype="int64"), unit="ns", utc=True)


def _dur(values):
    return pd.to_timedelta(pd.Series(values, dtype="int64"), unit="ns")


# ---------------------------------------------------------------------------- trades
@st.composite
def trades_rows(draw, markets, exact_gaps=(), start=None):
    """Trades of ``markets`` in time order (ties included) with random-walk prices.

    ``exact_gaps``: gaps (ns) also drawn between consecutive trades, e.g. the impact window and
    one ns less. ``start``: time of the first trade (default: random in the first hour)."""
    n = draw(st.integers(5, 200))
    if start is None:
        start = T0 + draw(st.integers(0, HOUR // MS)) * MS
    choices = [st.just(0), st.integers(1, 30 * SEC), st.integers(30 * SEC, 15 * MIN)]
    if exact_gaps:
        choices.append(st.sampled_from(list(exact_gaps)))
    gap = st.one_of(*choices)
    gaps = draw(st.lists(gap, min_size=n, max_size=n))
    which = draw(st.lists(st.integers(0, len(markets) - 1), min_size=n, max_size=n))
    moves = draw(st.lists(st.floats(-0.01, 0.01), min_size=n, max_size=n))
    for i in draw(st.lists(st.integers(0, n - 1), max_size=2)):      # the odd jump
        moves[i] = draw(st.sampled_from([-0.12, 0.12]))
    sizes = draw(st.lists(st.floats(0.01, 5.0), min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n))
    price = {m: draw(st.floats(60.0, 190.0)) for m in markets}
    rows, t = [], start
    for i in range(n):
        t += gaps[i] if i else 0
        m = markets[which[i]]
        price[m] = min(200.0, max(50.0, price[m] * (1.0 + moves[i])))
        rows.append(dict(ts=t, market=m, price=price[m], size=sizes[i], side=sides[i]))
    return rows


def _price_near(trades, market, t, default=100.0):
    """The last trade price of ``market`` at or before t (else its first, else ``default``)."""
    mine = [r for r in trades if r["market"] == market]
    if not mine:
        return default
    before = [r["price"] for r in mine if r["ts"] <= t]
    return before[-1] if before else mine[0]["price"]


# ---------------------------------------------------------------------------- other tables
@st.composite
def oracle_rows(draw, markets, trades):
    """Per market: no rows (derived from trades) or rows at trade times + an offset."""
    rows = []
    for m in markets:
        if not draw(st.booleans()):
            continue
        offset = draw(st.sampled_from([0, 1, 500 * MS, 2 * SEC]))
        for r in trades:
            if r["market"] == m and draw(st.integers(0, 3)) > 0:
                noise = draw(st.floats(-0.01, 0.01))
                rows.append(dict(ts=r["ts"] + offset, market=m, price=r["price"] * (1 + noise)))
    return sorted(rows, key=lambda r: r["ts"])


@st.composite
def funding_rows(draw, markets, trades):
    """Hourly rows over the trades' span; oracle_price all present, all null or mixed."""
    first, last = trades[0]["ts"], trades[-1]["ts"]
    mode = draw(st.sampled_from(["present", "null", "mixed"]))
    rows = []
    h = first - first % HOUR
    while h <= last + HOUR:
        for m in markets:
            present = mode == "present" or (mode == "mixed" and draw(st.booleans()))
            op = _price_near(trades, m, h) * (1 + draw(st.floats(-0.005, 0.005))) if present else None
            rows.append(dict(ts=h, market=m, rate=draw(st.floats(-0.002, 0.002)), interval=HOUR,
                             oracle_price=op))
        h += HOUR
    return rows


@st.composite
def latency_rows(draw, trades):
    """None, or 1-5 rows of one venue with distinct times, down stretches and gas."""
    if draw(st.integers(0, 4)) == 0:
        return []
    first, last = trades[0]["ts"], trades[-1]["ts"]
    k = draw(st.integers(1, 5))
    times = sorted(set(draw(st.lists(st.integers(first - MIN, last + MIN), min_size=k, max_size=k))))
    rows = []
    for t in times:
        rows.append(dict(ts=t, venue=VENUE,
                         order_latency=draw(st.integers(0, 3_000)) * MS,
                         ack_latency=draw(st.integers(0, 2_000)) * MS,
                         finality=draw(st.sampled_from([0, 1_000, 60_000, 600_000, 3_600_000])) * MS,
                         up=draw(st.integers(0, 9)) >= 2,
                         gas_fee=draw(st.sampled_from([0.0, 0.01, 0.25]))))
    return rows


def make_dataset(trades, funding=(), oracle=(), latency=(), book=(), book_levels=()):
    """A data_loaders.Dataset from lists of row dicts (integer ns times and durations).

    ``book`` rows: ``ts, market, bid, bid_size, ask, ask_size`` (the L1 top); ``book_levels``
    rows: ``ts, market, side (+1 bid, -1 ask), price, size, is_snapshot`` (L2).

    ``allow_extreme=True``: these are engine inputs built to hit rules exactly, where the
    oracle is an input of its own (an oracle at 2x the trades, a step to a liquidation price)
    and funding may be large; the data layer's plausibility bounds are for real data."""
    from data_loaders import Dataset

    tables = {}
    if trades:
        df = pd.DataFrame(trades)
        df["ts"] = _ts(df["ts"])
        tables["trades"] = df
    if funding:
        df = pd.DataFrame(funding)
        df["ts"] = _ts(df["ts"])
        df["interval"] = _dur(df.get("interval", pd.Series([HOUR] * len(df))))
        df["oracle_price"] = pd.Series([math.nan if v is None else v for v in df["oracle_price"]],
                                       dtype="float64")
        tables["funding"] = df
    if oracle:
        df = pd.DataFrame(oracle)
        df["ts"] = _ts(df["ts"])
        tables["oracle"] = df
    if latency:
        df = pd.DataFrame(latency)
        df["ts"] = _ts(df["ts"])
        for c in ("order_latency", "ack_latency", "finality"):
            df[c] = _dur(df[c])
        df["up"] = df["up"].astype(bool)
        tables["latency"] = df
    if book:
        df = pd.DataFrame(book)
        df["ts"] = _ts(df["ts"])
        tables["book"] = df
    if book_levels:
        df = pd.DataFrame(book_levels)
        df["ts"] = _ts(df["ts"])
        df["side"] = df["side"].astype("int8")
        df["is_snapshot"] = df["is_snapshot"].astype(bool)
        tables["book_levels"] = df
    return Dataset(**tables, allow_extreme=True)


# ---------------------------------------------------------------------------- specs, config
IMPACT_WINDOWS = [HOUR, MIN, 10 * SEC]


@st.composite
def market_specs(draw, markets):
    specs = []
    for m in markets:
        imf = draw(st.floats(0.02, 0.2))
        specs.append(MarketSpec(
            name=m, venue=VENUE, imf=imf, mmf=imf * draw(st.floats(0.4, 0.8)),
            taker_fee=draw(st.sampled_from([0.0, 0.0005, 0.001])),
            maker_fee=draw(st.sampled_from([-0.0002, 0.0, 0.0001, 0.0003])),
            half_spread=draw(st.sampled_from([0.0, 0.0005, 0.002])),
            impact=draw(st.sampled_from([0.0, 0.001, 0.02])),
            liq_fee=draw(st.sampled_from([0.015, 0.0, 0.01, 0.02]))))
    return specs


@st.composite
def ref_configs(draw, trades, impact_window_ns=None):
    first, last = trades[0]["ts"], trades[-1]["ts"]
    if draw(st.booleans()):
        slip = draw(st.sampled_from([1.0, 0.0, 2.5]))
    else:
        k = draw(st.integers(1, 3))
        times = sorted(draw(st.lists(st.integers(first - MIN, last), min_size=k, max_size=k)))
        slip = [(t, draw(st.sampled_from([0.5, 1.0, 3.0]))) for t in times]
    return RefConfig(
        initial_cash={VENUE: draw(st.sampled_from([500.0, 1000.0, 2500.0, 5000.0]))},
        insurance_fund={VENUE: draw(st.sampled_from([0.0, 5.0, 50.0, 300.0, 5000.0]))},
        margin_mode=draw(st.sampled_from(["cross", "isolated"])),
        latency_scale=draw(st.sampled_from([1.0, 0.5, 2.0])),
        feed_latency_ns=draw(st.sampled_from([0, 1, 500 * MS, 5 * SEC])),
        slippage_multiplier=slip,
        downtime_policy=draw(st.sampled_from(["queue", "reject"])),
        impact_window_ns=(draw(st.sampled_from(IMPACT_WINDOWS)) if impact_window_ns is None
                          else impact_window_ns),
        liq_spread=draw(st.sampled_from([1.5, 1.0, 0.5, 0.2, 0.0])),
        oracle_delay_ns=draw(st.sampled_from([0, SEC, 30 * SEC])),
    )


# ---------------------------------------------------------------------------- intents
@st.composite
def intents_list(draw, markets, trades, cash, n_accounts, targets=False):
    """0-15 order/cancel intents, sent at trade times (ties) or anywhere around the span.

    ``targets=True``: about a third of them are ``TargetIntent`` (position, notional or
    leverage, either sign, now and then NaN)."""
    first, last = trades[0]["ts"], trades[-1]["ts"]
    trade_times = [r["ts"] for r in trades]
    n = draw(st.integers(0, 15))
    out = []
    for _ in range(n):
        if draw(st.booleans()):
            sent = draw(st.sampled_from(trade_times))
        else:
            sent = draw(st.integers(first - MIN, last + MIN))
        if draw(st.integers(0, 6)) == 0:
            out.append(CancelIntent(sent_ts=sent, order_id=draw(st.integers(0, n + 1))))
            continue
        m = draw(st.sampled_from(markets))
        ref = _price_near(trades, m, sent)
        lev = draw(st.one_of(st.floats(0.1, 5.0), st.floats(0.1, 5.0), st.floats(5.0, 20.0)))
        side = draw(st.sampled_from([1, -1]))
        if targets and draw(st.integers(0, 2)) == 0:
            out.append(draw(_target(sent, m, side * lev, cash / n_accounts, ref)))
            continue
        size = round(lev * cash / n_accounts / ref, 4) or 0.0001
        kind = draw(st.sampled_from(["market", "limit", "stop_market"]))
        it = OrderIntent(sent_ts=sent, market=m, side=side, size=size, type=kind,
                         reduce_only=draw(st.integers(0, 4)) == 0)
        if kind == "limit":
            it.limit_price = ref * (1 + draw(st.floats(-0.05, 0.05)))
            flag = draw(st.sampled_from(["plain", "plain", "post_only", "ioc"]))
            it.post_only, it.ioc = flag == "post_only", flag == "ioc"
        elif kind == "stop_market":
            it.trigger_price = ref * (1 + draw(st.floats(-0.08, 0.08)))
        out.append(it)
    return out


@st.composite
def _target(draw, sent, market, lev, cash, ref):
    """A target of ``lev`` times the account's cash (``lev`` signed), or NaN."""
    kind = draw(st.sampled_from(["position", "notional", "leverage"]))
    if draw(st.integers(0, 7)) == 0:
        value = math.nan
    elif kind == "position":
        value = round(lev * cash / ref, 4)
    elif kind == "notional":
        value = round(lev * cash, 2)
    else:
        value = round(lev, 3)
    return TargetIntent(sent_ts=sent, market=market, kind=kind, value=value)


def account_names(specs, margin_mode):
    """The reference's account names: venues (cross) or ``venue/market`` (isolated)."""
    if margin_mode == "cross":
        return list(dict.fromkeys(m.venue for m in specs))
    return [f"{m.venue}/{m.name}" for m in specs]


@st.composite
def transfer_intents(draw, accounts, trades, cash_per_account):
    """0-4 transfers between distinct accounts, some larger than anything withdrawable."""
    if len(accounts) < 2:
        return []
    first, last = trades[0]["ts"], trades[-1]["ts"]
    out = []
    for _ in range(draw(st.integers(0, 4))):
        src, dst = draw(st.permutations(accounts))[:2]
        sent = draw(st.one_of(st.sampled_from([r["ts"] for r in trades]), st.integers(first, last + MIN)))
        amount = round(cash_per_account * draw(st.floats(0.001, 1.2)), 4) or 0.0001
        out.append(TransferIntent(sent_ts=sent, amount=amount, source=src, destination=dst))
    return out


# ---------------------------------------------------------------------------- reorgs at the edges
def likely_fill_times(trades, latency, latency_scale, intents, venue=VENUE):
    """Where the market orders among ``intents`` probably fill: the first trade of their market
    after the send and at or after ``sent + scale * order_latency(sent)`` (ignores downtime,
    admission and the order's venue, so only a guess; limit orders are not guessed)."""
    trace = _trace(latency, venue)
    times = []
    for it in intents:
        if not isinstance(it, (OrderIntent, TargetIntent)) or getattr(it, "type", "market") != "market":
            continue
        arrive = it.sent_ts + scaled_ns(trace.at(it.sent_ts).order_latency, latency_scale)
        later = [r["ts"] for r in trades if r["market"] == it.market and r["ts"] > it.sent_ts and r["ts"] >= arrive]
        if later:
            times.append(later[0])
    return times


def _trace(latency, venue):
    return Trace([TraceRow(r["ts"], r["order_latency"], r["ack_latency"], r["finality"], bool(r["up"]),
                           r["gas_fee"]) for r in latency if r["venue"] == venue])


def edge_reorg_times(fill_times, latency, latency_scale, venue=VENUE):
    """Times a reorg of ``venue`` hits the window edges of fills at ``fill_times`` exactly:
    ``fill_ts`` (reverted), one ns before (kept) and ``fill_ts + scale * finality(fill_ts)``
    (``final_ts``: kept)."""
    trace = _trace(latency, venue)
    times = set()
    for t in fill_times:
        times |= {t, t - 1, t + scaled_ns(trace.at(t).finality, latency_scale)}
    return sorted(times)


@st.composite
def reorg_list(draw, trades, latency, latency_scale, after=None, intents=()):
    """0-2 reorgs of VENUE: half at exact window edges of likely fills (of ``intents``' market
    orders, else of any trade), the rest near trades or anywhere. ``after``: only reorgs later
    than this time."""
    first, last = trades[0]["ts"], trades[-1]["ts"]
    fills = likely_fill_times(trades, latency, latency_scale, intents) or [r["ts"] for r in trades]
    edges = edge_reorg_times(fills, latency, latency_scale)
    if after is not None:
        edges = [t for t in edges if t > after] or [last + 1]
    near_trade = st.builds(lambda t, dt: t + dt, st.sampled_from([r["ts"] for r in trades]),
                           st.integers(0, 5 * MIN))
    when = st.one_of(near_trade, st.integers(first, last + MIN), st.sampled_from(edges), st.sampled_from(edges))
    times = draw(st.lists(when, max_size=2))
    if after is not None:
        times = [t for t in times if t > after]
    return [Reorg(ts=t, venue=VENUE) for t in times]


# ---------------------------------------------------------------------------- random runs
@st.composite
def _inputs(draw, targets=False, transfers=False):
    n_markets = draw(st.integers(1, 2))
    if transfers and draw(st.booleans()):
        n_markets = 2                     # two accounts (isolated, or two venues) more often
    markets = MARKET_NAMES[:n_markets]
    window = draw(st.sampled_from(IMPACT_WINDOWS))
    trades = draw(trades_rows(markets, exact_gaps=(window, window - 1)))
    oracle = draw(oracle_rows(markets, trades))
    funding = draw(funding_rows(markets, trades))
    latency = draw(latency_rows(trades))
    specs = draw(market_specs(markets))
    config = draw(ref_configs(trades, impact_window_ns=window))
    if transfers and len(specs) == 2 and draw(st.booleans()):
        specs[1].venue = VENUE2           # a second venue: transfers between them use the bridge
        config.initial_cash[VENUE2] = draw(st.sampled_from([0.0, 500.0, 2500.0]))
        config.insurance_fund[VENUE2] = draw(st.sampled_from([0.0, 50.0]))
        config.bridge_delay_ns = draw(st.sampled_from([0, 30 * MIN, 2 * MIN]))
    n_accounts = len(markets) if config.margin_mode == "isolated" else 1
    intents = draw(intents_list(markets, trades, config.initial_cash[VENUE], n_accounts, targets=targets))
    if targets:
        config.rebalance_band = draw(st.sampled_from([0.05, 0.0, 0.2]))
        config.min_trade_notional = draw(st.sampled_from([1.0, 0.0, 50.0]))
    if transfers:
        extra = draw(transfer_intents(account_names(specs, config.margin_mode), trades,
                                      config.initial_cash[VENUE] / n_accounts))
        intents = sorted(intents + extra, key=lambda it: it.sent_ts)   # stable: ties keep list order
    reorgs = draw(reorg_list(trades, latency, config.latency_scale, intents=intents))
    return dict(dataset=make_dataset(trades, funding, oracle, latency), markets=specs,
                config=config, intents=intents, reorgs=reorgs)


# ---------------------------------------------------------------------------- NC == MMR exactly
@st.composite
def _liquidation_edge(draw, targets=False):
    """Inputs where market 0's account reaches exactly NC == MMR, and what must happen.

    Market 0 (no spread, impact or gas; fees dyadic) opens ``S`` at ``E`` at the first trades
    after ``t0``; the oracle then moves to ``P`` (dyadic) with
    ``Q = |S| * MMF * P - S * (P - E)`` as the account's cash after the fee, so
    ``NC = Q + S * (P - E) = |S| * P * MMF = MMR`` exactly: not liquidated. In mode ``below`` a
    second oracle row moves one dyadic step (E / 1024) against the position: liquidated there;
    in mode ``above`` one step for it: safe. A random tail (trades, orders, funding, oracle,
    trace rows, reorgs) follows after both. Returns ``(inputs, expect)`` with
    ``expect = dict(market, edge_ts, past_ts, mode)``.
    """
    markets = MARKET_NAMES[: draw(st.integers(1, 2))]
    m0 = markets[0]
    margin_mode = draw(st.sampled_from(["cross", "isolated"]))
    n_accounts = len(markets) if margin_mode == "isolated" else 1
    imf, mmf = draw(st.sampled_from([(1 / 8, 1 / 16), (1 / 16, 1 / 32), (1 / 4, 1 / 8), (1 / 8, 1 / 32), (1 / 2, 1 / 4)]))
    E = draw(st.sampled_from([64.0, 96.0, 128.0, 100.0, 48.0]))
    size = draw(st.sampled_from([0.5, 0.75, 1.0, 2.0, 3.0, 8.0]))
    side = draw(st.sampled_from([1, -1]))
    # P at which NC == MMR, with Q >= |S| * E * IMF so that the opening order is admitted.
    if side > 0:
        factors = [f for f in (1 / 2, 5 / 8, 3 / 4, 7 / 8, 15 / 16) if f * (1 - mmf) <= 1 - imf]
    else:
        factors = [f for f in (17 / 16, 9 / 8, 5 / 4, 3 / 2, 2.0) if f * (1 + mmf) >= 1 + imf]
    P = E * draw(st.sampled_from(factors))
    S = side * size
    Q = abs(S) * mmf * P - S * (P - E)
    taker = draw(st.sampled_from([0.0, 2.0 ** -10, 2.0 ** -11]))
    mode = draw(st.sampled_from(["equal", "below", "above"]))
    step = E / 1024

    t0 = T0 + draw(st.integers(0, HOUR // SEC)) * SEC
    edge_ts, past_ts, tail_ts = t0 + 20 * SEC, t0 + 30 * SEC, t0 + 40 * SEC
    latency = [dict(ts=t0 - MIN, venue=VENUE, order_latency=draw(st.integers(0, 3_000)) * MS,
                    ack_latency=draw(st.integers(0, 2_000)) * MS,
                    finality=draw(st.sampled_from([0, 1_000, 60_000, 600_000])) * MS, up=True, gas_fee=0.0)]
    trades = [dict(ts=t0 + k * SEC, market=m0, price=E, size=100.0, side=1) for k in range(11)]
    oracle = [dict(ts=t0, market=m0, price=E), dict(ts=edge_ts, market=m0, price=P)]
    if mode != "equal":
        oracle.append(dict(ts=past_ts, market=m0, price=P - side * step if mode == "below" else P + side * step))
    intents = [OrderIntent(sent_ts=t0 + MS, market=m0, side=side, size=size)]

    # the random tail, all after past_ts
    tail = draw(trades_rows(markets, start=tail_ts))
    tail_oracle = [r for r in draw(oracle_rows(markets, tail)) if r["market"] != m0]
    tail_oracle += [dict(ts=r["ts"], market=m0, price=r["price"]) for r in tail if r["market"] == m0]
    funding = [r for r in draw(funding_rows(markets, tail)) if r["ts"] > past_ts]
    latency += [r for r in draw(latency_rows(tail)) if r["ts"] > past_ts]
    # isolated cash is split among the markets that trade (the tail may have no trade of the
    # other market): market 0's account must start with exactly Q + its entry fee
    n_funded = len({r["market"] for r in trades + tail}) if margin_mode == "isolated" else 1
    cash = (Q + taker * size * E) * n_funded
    specs = draw(market_specs(markets))
    specs[0] = MarketSpec(name=m0, venue=VENUE, imf=imf, mmf=mmf, taker_fee=taker, maker_fee=specs[0].maker_fee,
                          half_spread=0.0, impact=0.0, liq_fee=specs[0].liq_fee)
    config = draw(ref_configs(trades + tail))
    config.initial_cash = {VENUE: cash}
    config.margin_mode = margin_mode
    config.latency_scale = draw(st.sampled_from([1.0, 0.5, 2.0]))
    tail_intents = draw(intents_list(markets, tail, cash, n_accounts, targets=targets))
    intents += sorted((it for it in tail_intents if it.sent_ts > past_ts), key=lambda it: it.sent_ts)
    all_trades = trades + tail
    reorgs = draw(reorg_list(all_trades, latency, config.latency_scale, after=past_ts, intents=intents))
    inputs = dict(dataset=make_dataset(all_trades, funding, oracle + tail_oracle, latency), markets=specs,
                  config=config, intents=intents, reorgs=reorgs)
    return inputs, dict(market=m0, edge_ts=edge_ts, past_ts=past_ts, mode=mode)


def liquidation_edge_cases(targets=False):
    """A hypothesis strategy of ``(inputs, expect)``: inputs at exactly NC == MMR (see
    ``_liquidation_edge``); ``expect`` says when the edge is reached and what follows."""
    return _liquidation_edge(targets=targets)


@st.composite
def _any_inputs(draw, targets=False, transfers=False):
    if draw(st.integers(0, 3)) == 0:
        return draw(_liquidation_edge(targets=targets))[0]
    return draw(_inputs(targets=targets, transfers=transfers))


def reference_inputs(targets=False, transfers=False, book=False):
    """A hypothesis strategy of ``dict(dataset, markets, config, intents, reorgs)``.

    Parameters
    ----------
    book : bool
        Inputs with order-book data instead (``gen_book.book_inputs``: book-top or level rows
        around the trades, intents aimed at the book, ``queue_model``/``queue_power`` drawn).
    targets : bool
        Also draw ``TargetIntent`` (and the config's ``rebalance_band``/``min_trade_notional``).
    transfers : bool
        Also draw ``TransferIntent`` between the accounts, and sometimes put the second
        market on a second venue (``VENUE2``) so transfers cross the bridge.
    """
    if book:
        return book_inputs(targets=targets, transfers=transfers)
    return _any_inputs(targets=targets, transfers=transfers)


def book_inputs(targets=False, transfers=False, kinds=("top", "levels")):
    """Inputs with order-book data: see ``gen_book.book_inputs``."""
    from .gen_book import book_inputs as strategy   # gen_book builds on this module

    return strategy(targets=targets, transfers=transfers, kinds=kinds)
