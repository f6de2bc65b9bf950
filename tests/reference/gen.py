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
"""
from __future__ import annotations

import math

import pandas as pd
from hypothesis import strategies as st

from .engine import CancelIntent, MarketSpec, OrderIntent, RefConfig, Reorg

T0 = 1_704_067_200_000_000_000      # 2024-01-01 00:00 UTC in ns
MS = 1_000_000
SEC = 1_000 * MS
MIN = 60 * SEC
HOUR = 60 * MIN
VENUE = "dydx"
MARKET_NAMES = ["BTC-USD", "ETH-USD"]


def _ts(values):
    return pd.to_datetime(pd.Series(values, dtype="int64"), unit="ns", utc=True)


def _dur(values):
    return pd.to_timedelta(pd.Series(values, dtype="int64"), unit="ns")


# ---------------------------------------------------------------------------- trades
@st.composite
def trades_rows(draw, markets):
    """Trades of ``markets`` in time order (ties included) with random-walk prices."""
    n = draw(st.integers(5, 200))
    start = T0 + draw(st.integers(0, HOUR // MS)) * MS
    gap = st.one_of(st.just(0), st.integers(1, 30 * SEC), st.integers(30 * SEC, 15 * MIN))
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


def make_dataset(trades, funding=(), oracle=(), latency=()):
    """A data_loaders.Dataset from lists of row dicts (integer ns times and durations)."""
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
    return Dataset(**tables)


# ---------------------------------------------------------------------------- specs, config
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
def ref_configs(draw, trades):
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
        impact_window_ns=draw(st.sampled_from([HOUR, MIN, 10 * SEC])),
        liq_spread=draw(st.sampled_from([1.5, 1.0, 0.5, 0.2, 0.0])),
        oracle_delay_ns=draw(st.sampled_from([0, SEC, 30 * SEC])),
    )


# ---------------------------------------------------------------------------- intents
@st.composite
def intents_list(draw, markets, trades, cash, n_accounts):
    """0-15 order/cancel intents, sent at trade times (ties) or anywhere around the span."""
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
        size = round(lev * cash / n_accounts / ref, 4) or 0.0001
        kind = draw(st.sampled_from(["market", "limit", "stop_market"]))
        side = draw(st.sampled_from([1, -1]))
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
def _inputs(draw):
    markets = MARKET_NAMES[: draw(st.integers(1, 2))]
    trades = draw(trades_rows(markets))
    oracle = draw(oracle_rows(markets, trades))
    funding = draw(funding_rows(markets, trades))
    latency = draw(latency_rows(trades))
    specs = draw(market_specs(markets))
    config = draw(ref_configs(trades))
    n_accounts = len(markets) if config.margin_mode == "isolated" else 1
    intents = draw(intents_list(markets, trades, config.initial_cash[VENUE], n_accounts))
    first, last = trades[0]["ts"], trades[-1]["ts"]
    near_trade = st.builds(lambda t, dt: t + dt, st.sampled_from([r["ts"] for r in trades]),
                           st.integers(0, 5 * MIN))
    reorgs = [Reorg(ts=t, venue=VENUE)
              for t in draw(st.lists(st.one_of(near_trade, st.integers(first, last + MIN)), max_size=2))]
    return dict(dataset=make_dataset(trades, funding, oracle, latency), markets=specs,
                config=config, intents=intents, reorgs=reorgs)


def reference_inputs():
    """A hypothesis strategy of ``dict(dataset, markets, config, intents, reorgs)``."""
    return _inputs()
