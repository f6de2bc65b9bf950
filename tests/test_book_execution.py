"""Order-book execution (docs/simulation.md, "Order book") on the real BTCUSDT tape with its
real book top (Binance USD-M, 2024-08-08 23:54-24:00, bundled as ``dl.sample("btcusdt-tape")``).

Known answers: every expected price and time below is read from the data by hand (pandas on the
dataset's own tables), never from the engine. Zero latency, so an order sent at ``d`` arrives at
``d`` and meets the book rows stamped ``<= d``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl

BTC = "BTC-USD"
FEE = 0.0005
MKT = bt.Market.preset(BTC, taker_fee=FEE, maker_fee=0.0, half_spread=0.0001, impact=0.005)
CFG = bt.SimConfig(initial_cash=1_000_000.0, markets={BTC: MKT}, latency_scale=0.0)


@pytest.fixture(scope="module")
def tape():
    return dl.sample("btcusdt-tape")


@pytest.fixture(scope="module")
def frames(tape):
    book = tape.book.to_pandas()
    trades = tape.trades.to_pandas()
    return book, trades


class Send(bt.Strategy):
    """Sends the orders of ``plan`` (``{decision index: [submit kwargs]}``) at those decisions."""

    params = dict(plan={}, every="1s")

    def on_decision(self, ctx):
        for kw in self.plan.get(ctx.decision, []):
            ctx.submit(BTC, **kw)


def run(tape, plan, cfg=CFG, every="1s"):
    return bt.run(Send(plan=plan, every=every), tape, config=cfg)


def top_at(book: pd.DataFrame, t: pd.Timestamp) -> pd.Series:
    """The book-top row in force at ``t`` (the last stamped ``<= t``)."""
    return book[book.ts <= t].iloc[-1]


# ============================================================================ takers
def test_a_market_buy_inside_the_top_fills_at_the_ask_in_force_at_arrival(tape, frames):
    book, _ = frames
    res = run(tape, {30: [dict(size=0.5)]})
    f = res.fills.iloc[0]
    t = res.orders.iloc[0].sent_ts
    row = top_at(book, t)
    assert 0.5 <= row.ask_size  # inside the top
    assert f.ts == t and f.price == row.ask and f.trade_price == row.ask
    assert f.slippage_cost == 0.0 and f.fee == pytest.approx(FEE * 0.5 * row.ask, rel=1e-12)
    assert f.liquidity == "taker"


def test_a_market_sell_exactly_the_top_size_fills_at_the_bid(tape, frames):
    book, _ = frames
    probe = run(tape, {30: [dict(size=-0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    res = run(tape, {30: [dict(size=-float(row.bid_size))]})
    f = res.fills.iloc[0]
    assert f.price == row.bid and f["size"] == row.bid_size and f.slippage_cost == 0.0


def test_beyond_the_top_the_rest_pays_the_impact_model_from_the_top(tape, frames):
    book, trades = frames
    probe = run(tape, {30: [dict(size=0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    size = float(row.ask_size) + 3.0
    res = run(tape, {30: [dict(size=size)]})
    f = res.fills.iloc[0]
    # V: traded size over the hour up to the last trade before t (the whole tape is 6 minutes)
    last = trades[trades.ts < t].iloc[-1]
    V = trades[(trades.ts > last.ts - pd.Timedelta("1h")) & (trades.ts <= last.ts)]["size"].sum()
    s = 1.0 * MKT.impact * np.sqrt(3.0 / V)
    expected = (row.ask_size * row.ask + 3.0 * row.ask * (1 + s)) / size
    assert f.price == pytest.approx(expected, rel=1e-12)
    assert f.trade_price == row.ask and f.slippage_cost == pytest.approx(size * (expected - row.ask), rel=1e-9)


def test_stress_thins_the_book_and_never_improves_a_taker(tape, frames):
    book, _ = frames
    probe = run(tape, {30: [dict(size=0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    size = float(row.ask_size)  # the whole top at x1, three times the shown size at x3
    prices = [run(tape, {30: [dict(size=size)]}, dataclasses.replace(CFG, slippage_multiplier=m)).fills.iloc[0].price
              for m in (1.0, 3.0, 10.0)]
    assert prices[0] == row.ask and prices[0] < prices[1] < prices[2]


def test_without_the_book_the_same_order_follows_the_trade_tape_rule(tape, frames):
    _, trades = frames
    no_book = dataclasses.replace(tape, book=None)
    res = run(no_book, {30: [dict(size=0.5)]})
    f = res.fills.iloc[0]
    t = res.orders.iloc[0].sent_ts
    nxt = trades[trades.ts >= t].iloc[0]
    assert f.ts == nxt.ts and f.trade_price == nxt.price
    assert f.price > nxt.price  # half spread and impact on the print


def test_our_taker_fills_consume_the_top_until_the_data_sets_it_again(tape, frames):
    book, _ = frames
    probe = run(tape, {30: [dict(size=0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    half = float(row.ask_size) / 2
    # two market buys at the same time: the second meets what the first left
    res = run(tape, {30: [dict(size=half), dict(size=half * 1.5)]})
    a, b = res.fills.iloc[0], res.fills.iloc[1]
    assert a.price == row.ask and b.ts == a.ts
    assert b.price > row.ask  # half a top left at the ask, the rest beyond it


# ============================================================================ post-only and IOC
def test_a_post_only_bid_at_the_ask_is_rejected_at_arrival(tape, frames):
    book, _ = frames
    probe = run(tape, {30: [dict(size=0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    res = run(tape, {30: [dict(size=0.01, limit=float(row.ask), post_only=True),
                          dict(size=0.01, limit=float(row.bid), post_only=True)]})
    o = res.orders
    assert o.iloc[0].status == "rejected" and o.iloc[0].reason == "post_only"
    assert o.iloc[1].status != "rejected"


def test_an_ioc_takes_what_its_limit_reaches_and_cancels_the_rest(tape, frames):
    book, _ = frames
    probe = run(tape, {30: [dict(size=0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    size = float(row.ask_size) + 1.0
    res = run(tape, {30: [dict(size=size, limit=float(row.ask), ioc=True)]})
    o, f = res.orders.iloc[0], res.fills.iloc[0]
    assert f.price == row.ask and f["size"] == row.ask_size
    assert o.status == "cancelled" and o.reason == "ioc_unfilled" and o.filled == row.ask_size


# ============================================================================ queue position
def _queue_fill_by_hand(book, trades, t, price, size):
    """The conservative rule walked by hand over the data: a bid at ``price`` joined at ``t``
    behind the size the top shows there; book rows after the trades of their time."""
    ahead = float(top_at(book, t).bid_size) if top_at(book, t).bid == price else 0.0
    rows = pd.concat([book[book.ts > t].assign(kind=1), trades[trades.ts > t].assign(kind=0)])
    rows = rows.sort_values(["ts", "kind"], kind="stable")
    left = size
    for r in rows.itertuples():
        if r.kind == 1:
            if r.bid >= price:  # the level is in view (the top is at or above it)
                shown = r.bid_size if r.bid == price else 0.0
                ahead = min(ahead, shown)
        elif r.price < price:
            return r.ts, min(left, r.size)
        elif r.price == price:
            passed = r.size - ahead
            take = min(left, passed) if passed > 1e-9 * r.size else 0.0
            ahead = max(ahead - r.size, 0.0)
            if take > 0:
                return r.ts, take
    return None, 0.0


def test_a_bid_joined_at_the_best_bid_fills_only_after_the_size_ahead_has_traded(tape, frames):
    book, trades = frames
    probe = run(tape, {30: [dict(size=0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    res = run(tape, {30: [dict(size=0.01, limit=float(row.bid))]})
    o = res.orders.iloc[0]
    assert o.queue_ahead >= 0
    when, took = _queue_fill_by_hand(book, trades, t, float(row.bid), 0.01)
    assert when is not None, "the data never lets this bid fill: pick another decision"
    f = res.fills.iloc[0]
    assert f.ts == when and f.price == row.bid and f.liquidity == "maker"
    assert f["size"] == pytest.approx(took)
    # the trade-tape rule (no book) fills the same bid only when a print goes through it
    plain = run(dataclasses.replace(tape, book=None), {30: [dict(size=0.01, limit=float(row.bid))]})
    through = trades[(trades.ts > t) & (trades.price < row.bid)].iloc[0]
    assert plain.fills.iloc[0].ts == through.ts


def test_book_false_applies_the_trade_tape_rules_as_if_the_data_had_no_book(tape):
    plan = {30: [dict(size=0.5)], 60: [dict(size=-0.2, limit=61_900.0)], 90: [dict(size=-0.3)]}
    off = run(tape, plan, dataclasses.replace(CFG, book=False))
    gone = run(dataclasses.replace(tape, book=None), plan)
    assert off.engine.records("fills").tobytes() == gone.engine.records("fills").tobytes()
    assert off.engine.records("orders").tobytes() == gone.engine.records("orders").tobytes()
    on = run(tape, plan)
    assert not on.fills["price"].equals(off.fills["price"])


def test_a_liquidity_drought_thins_the_book_shown_in_its_window(tape, frames):
    from backtester import scenarios as sc

    book, _ = frames
    s = pd.Timestamp("2024-08-08 23:56", tz="UTC")
    drought = sc.LiquidityDrought(s, "1min", keep=0.5, size_factor=0.25)
    dry = sc.apply(drought, tape, seed=1).data.book.to_pandas()
    inside = (book.ts >= s) & (book.ts < s + pd.Timedelta("1min"))
    assert inside.any() and (~inside).any()
    np.testing.assert_array_equal(dry.loc[inside, "bid_size"].to_numpy(), book.loc[inside, "bid_size"].to_numpy() * 0.25)
    np.testing.assert_array_equal(dry.loc[~inside, "ask_size"].to_numpy(), book.loc[~inside, "ask_size"].to_numpy())
    assert dry[["ts", "bid", "ask"]].equals(book[["ts", "bid", "ask"]])


def test_a_price_shock_moves_the_whole_l2_book_from_its_time():
    from backtester import scenarios as sc
    from data_loaders.book import book_at

    ds = dl.synthetic(days=0.02, markets=[BTC], seed=1, book_levels=5)
    at = pd.Timestamp("2024-01-01 00:10:00.5", tz="UTC")  # between two of the generator's rows
    lv = ds.book_levels.to_pandas()
    assert not (lv.ts == at).any()
    out = sc.apply(sc.PriceShock(at, -0.2), ds).data
    before_b, before_a = book_at(ds.book_levels, BTC, at, depth=5)
    after_b, after_a = book_at(out.book_levels, BTC, at, depth=5)
    np.testing.assert_allclose(after_b.price, before_b.price * 0.8, rtol=1e-15)
    np.testing.assert_array_equal(after_a["size"], before_a["size"])
    # before the shock nothing moved
    pd.testing.assert_frame_equal(book_at(out.book_levels, BTC, at - pd.Timedelta("1ns"))[0],
                                  book_at(ds.book_levels, BTC, at - pd.Timedelta("1ns"))[0])


# ============================================================================ liquidation
T0 = pd.Timestamp("2024-01-01", tz="UTC")
LIQ_MKT = bt.Market.preset(BTC, taker_fee=0.0, maker_fee=0.0, half_spread=0.0, impact=0.0, imf=0.1, mmf=0.05,
                           liq_fee=0.0)


def _liq_tape(crash_bids):
    """Trades at 100 then one at 90 (t = 10 s: its derived oracle row liquidates a 3 BTC long
    bought at 100.1 with 40 of cash); the book is replaced at t = 5 s by ``crash_bids``."""
    s = pd.Timedelta("1s")
    trades = pd.DataFrame({"ts": [T0 + i * s for i in (0, 1, 2, 10)], "market": BTC,
                           "price": [100.0, 100.0, 100.0, 90.0], "size": 1.0, "side": 1})
    rows = [(T0, 1, 99.9, 10.0), (T0, 1, 99.0, 1.0), (T0, -1, 100.1, 10.0)]
    rows += [(T0 + 5 * s, 1, p, q) for p, q in crash_bids] + [(T0 + 5 * s, -1, 91.5, 5.0)]
    levels = pd.DataFrame(rows, columns=["ts", "side", "price", "size"]).assign(market=BTC, is_snapshot=True)
    return dl.Dataset(trades=trades, book_levels=levels[["ts", "market", "side", "price", "size", "is_snapshot"]])


@pytest.mark.parametrize("bids, price", [
    # all three levels within the bound B = 90 * (1 - 1.5 * 0.05) = 83.25: (91 + 90 + 85) / 3
    ([(91.0, 1.0), (90.0, 1.0), (85.0, 10.0)], (91.0 + 90.0 + 85.0) / 3),
    # 80 is beyond the bound: 1 at 91, the other 2 at B
    ([(91.0, 1.0), (80.0, 10.0)], (91.0 + 2 * 83.25) / 3),
    # a level exactly at the bound: its price is B either way
    ([(83.25, 10.0)], 83.25),
])
def test_a_liquidation_closes_against_the_book_within_the_full_spread_bound(bids, price):
    cfg = bt.SimConfig(initial_cash=40.0, markets={BTC: LIQ_MKT}, latency_scale=0.0, insurance_fund=1e6)
    res = run(_liq_tape(bids), {1: [dict(size=3.0)]}, cfg)
    buy = res.fills.iloc[0]
    assert buy.price == 100.1 and buy["size"] == 3.0  # the ask of the first snapshot
    (liq,) = res.liquidations.itertuples()
    assert liq.ts == T0 + pd.Timedelta("10s") and liq.oracle_price == 90.0
    assert liq.price == pytest.approx(price, rel=1e-13)


def test_without_the_book_the_same_liquidation_uses_the_bankruptcy_rating_price():
    ds = _liq_tape([(91.0, 1.0), (90.0, 1.0), (85.0, 10.0)])
    cfg = bt.SimConfig(initial_cash=40.0, markets={BTC: LIQ_MKT}, latency_scale=0.0, insurance_fund=1e6,
                       book=False)
    res = run(ds, {1: [dict(size=3.0)]}, cfg)
    (liq,) = res.liquidations.itertuples()
    buy = res.fills.iloc[0].price  # the trade-tape rule: the next print, 100, frictionless
    nc, mmr = 40.0 + 3 * (90.0 - buy), 3 * 90.0 * 0.05
    assert liq.price == pytest.approx(90.0 * (1 - 1.5 * 0.05 * (1 - nc / mmr)), rel=1e-13)


# ============================================================================ beyond the top, up to a limit
def test_an_ioc_takes_beyond_the_top_as_far_as_its_limit_allows(tape, frames):
    book, trades = frames
    probe = run(tape, {30: [dict(size=0.001)]})
    t = probe.orders.iloc[0].sent_ts
    row = top_at(book, t)
    last = trades[trades.ts < t].iloc[-1]
    V = trades[(trades.ts > last.ts - pd.Timedelta("1h")) & (trades.ts <= last.ts)]["size"].sum()
    k = MKT.impact  # multiplier 1
    limit = float(row.ask) * (1 + 0.0004)  # 4 bp above the ask
    beyond = V * (0.0004 / k) ** 2  # what the impact model prices within 4 bp
    size = float(row.ask_size) + 10 * beyond
    res = run(tape, {30: [dict(size=size, limit=limit, ioc=True)]})
    o, f = res.orders.iloc[0], res.fills.iloc[0]
    assert f["size"] == pytest.approx(row.ask_size + beyond, rel=1e-9)
    expected = (row.ask_size * row.ask + beyond * limit) / (row.ask_size + beyond)  # the rest at the limit
    assert f.price == pytest.approx(expected, rel=1e-12) and f.price <= limit
    assert o.status == "cancelled" and o.reason == "ioc_unfilled"
    # a generous limit takes as much as a market order of the same size, at the same price
    market = run(tape, {30: [dict(size=size)]}).fills.iloc[0]
    loose = run(tape, {30: [dict(size=size, limit=float(row.ask) * 1.2, ioc=True)]}).fills.iloc[0]
    assert loose["size"] == market["size"] == size and loose.price == pytest.approx(market.price, rel=1e-12)


@pytest.mark.parametrize("kw, match", [
    (dict(book="false"), "SimConfig.book: expected True or False"),
    (dict(book=None), "SimConfig.book: expected True or False"),
    (dict(queue_model="fifo"), "queue_model"),
    (dict(queue_power=-1.0), "queue_power"),
])
def test_book_settings_are_checked(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        bt.SimConfig(**kw)


def test_ctx_book_depth_must_be_a_whole_number(tape):
    class Peek(bt.Strategy):
        every = "1min"

        def on_decision(self, ctx):
            ctx.book(BTC, depth=2.5)

    with pytest.raises(ValueError, match="whole number of levels"):
        bt.run(Peek(), tape)


# ============================================================================ analysis
def test_the_liquidation_ladder_shows_what_the_book_offers_a_close(tape, frames):
    from backtester import analysis as an
    from backtester.plots import plot_ladder

    book, _ = frames
    res = run(tape, {30: [dict(size=0.5)]})
    at = pd.Timestamp("2024-08-08 23:58", tz="UTC")
    lad = an.liquidation_ladder(res, at)
    top = top_at(book, at)
    row = lad.loc[BTC]
    assert row.position == 0.5 and row.close_depth == top.bid_size     # a long closes into the bids
    assert row.close_price == (top.bid if top.bid_size >= 0.5 else np.nan)
    assert res.book(BTC, at, depth=1).best_bid == top.bid
    fig = plot_ladder(res, at=at)
    assert "book shows" in " ".join(t.get_text() for t in fig.axes[0].texts)
    # without book data the columns are NaN
    plain = an.liquidation_ladder(run(dataclasses.replace(tape, book=None), {30: [dict(size=0.5)]}), at)
    assert plain[["close_depth", "close_price"]].isna().all().all()
