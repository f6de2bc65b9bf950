"""Known answers of the order-book rules (docs/simulation.md, "Order book (markets with book
data)"), worked out by hand in the comments, and properties of the rules on random book data from
``tests/reference/gen.py`` (``book_inputs``).

A known answer that only reads what both engines record (orders, fills, funding, liquidations,
ledger, final) takes the ``run_engine`` fixture (tests/conftest.py) and runs on the reference and
on the kernel (``tests/kernel_adapter.py``); the properties and the tests that look into the
reference's internals run on the reference alone (``run_reference``).

Times are seconds after T0. Unless said, no latency trace (zero latency: an order sent at ``x``
is processed at once after step 6 of ``x``, so it meets the book rows stamped ``x``), no fees, no
spread or impact, slippage multiplier 1, oracle derived from the trades (no delay).
"""
import math
from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_loaders import Dataset
from tests.reference.engine import (
    CANCELLED,
    INSUFFICIENT_MARGIN,
    IOC_UNFILLED,
    NONE,
    POST_ONLY,
    REDUCE_ONLY,
    CancelIntent,
    MarketSpec,
    OrderIntent,
    RefConfig,
    run_reference,
)
from tests.reference.gen import SEC, T0, book_inputs, make_dataset, reference_inputs

BTC = "BTC-USD"
BID, ASK = 1, -1


def s(x):
    return T0 + int(round(x * SEC))


def trades(*rows):
    """(seconds, price, size) of BTC."""
    return [dict(ts=s(t), market=BTC, price=float(p), size=float(q), side=1) for t, p, q in rows]


def lv(t, side, price, size, snap=False):
    """A book_levels row of BTC."""
    return dict(ts=s(t), market=BTC, side=side, price=float(price), size=float(size), is_snapshot=snap)


def top(t, bid, bid_size, ask, ask_size):
    return dict(ts=s(t), market=BTC, bid=float(bid), bid_size=float(bid_size), ask=float(ask),
                ask_size=float(ask_size))


def spec(imf=0.05, mmf=0.03, taker=0.0, maker=0.0, hs=0.0, impact=0.0):
    return MarketSpec(BTC, "dydx", imf, mmf, taker, maker, hs, impact)


def cfg(cash=100_000.0, **kw):
    return RefConfig(initial_cash={"dydx": cash}, insurance_fund={"dydx": 0.0}, **kw)


def buy(t, size, **kw):
    return OrderIntent(s(t), BTC, 1, float(size), **kw)


def sell(t, size, **kw):
    return OrderIntent(s(t), BTC, -1, float(size), **kw)


def limit(t, side, size, price, **kw):
    return OrderIntent(s(t), BTC, side, float(size), "limit", limit_price=float(price), **kw)


def run(engine, tr, intents, levels=(), book=(), oracle=(), latency=(), specs=None, config=None):
    """``engine``: ``run_reference``, or the ``run_engine`` fixture (tests/conftest.py) for a known
    answer both engines must give."""
    ds = make_dataset(tr, oracle=list(oracle), latency=list(latency), book=list(book), book_levels=list(levels))
    res = engine(ds, specs or [spec()], config or cfg(), intents)
    f = res.final
    assert abs(f["total"] - f["initial_total"]) < 1e-6 and f["max_conservation_error"] < 1e-6
    return res


ASKS = [lv(0, ASK, 100, 1, True), lv(0, ASK, 101, 2, True), lv(0, ASK, 103, 5, True),
        lv(0, BID, 99, 3, True), lv(0, BID, 98, 4, True)]


# ============================================================================ book rows, step 6
def test_arrival_at_step_4_meets_the_rows_stamped_before_it(run_engine):
    # Rows at 0: ask 100 x 5. At 5: ask 100 removed, ask 102 x 5 set (updates).
    # Trace: order latency 1 s. A buy of 1 sent at 4 arrives at step 4 of 5: the rows of 5 are
    # processed at step 6, after it, so it takes 1 @ 100.
    levels = [lv(0, ASK, 100, 5, True), lv(5, ASK, 100, 0), lv(5, ASK, 102, 5)]
    latency = [dict(ts=s(-10), venue="dydx", order_latency=SEC, ack_latency=0, finality=0, up=True, gas_fee=0.0)]
    res = run(run_engine, trades((0, 100, 1), (20, 100, 1)), [buy(4, 1)], levels, latency=latency)
    (f,) = res.fills.itertuples()
    assert (f.ts, f.price, f.trade_price, f.liquidity) == (s(5), 100.0, 100.0, "taker")


def test_zero_latency_order_sent_after_step_6_meets_the_rows_of_its_time(run_engine):
    # Same book; a zero-latency buy sent at 5 (step 8) is processed at once, after the rows of 5:
    # the ask at 100 is gone, it takes 1 @ 102.
    levels = [lv(0, ASK, 100, 5, True), lv(5, ASK, 100, 0), lv(5, ASK, 102, 5)]
    res = run(run_engine, trades((0, 100, 1), (20, 100, 1)), [buy(5, 1)], levels)
    (f,) = res.fills.itertuples()
    assert (f.ts, f.price, f.trade_price) == (s(5), 102.0, 102.0)


def test_consecutive_snapshot_rows_are_one_group_and_a_row_between_splits_them(run_engine):
    # Asks 100 x 1 and 101 x 1 as two consecutive snapshot rows of one ts and side: one group,
    # both levels. A buy of 2 takes 1 @ 100 + 1 @ 101 = 100.5.
    grouped = [lv(0, ASK, 100, 1, True), lv(0, ASK, 101, 1, True), lv(0, BID, 99, 1, True)]
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 2)], grouped)
    assert list(res.fills.price) == [100.5]
    # A bid row between them ends the run: the second ask group clears the first, the side is
    # 101 x 1 only; the buy takes 1 @ 101 and the rest (1) is beyond the shown depth:
    # edge 101, impact 0: 101. Price (101 + 101) / 2 = 101.
    split = [lv(0, ASK, 100, 1, True), lv(0, BID, 99, 1, True), lv(0, ASK, 101, 1, True)]
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 2)], split)
    assert list(res.fills.price) == [101.0] and list(res.fills.trade_price) == [101.0]


# ============================================================================ taker walks
def test_market_order_walks_the_levels_one_record_at_the_weighted_price(run_engine):
    # Asks 100 x 1, 101 x 2, 103 x 5. Buy 2.5 at 1: 1 @ 100 + 1.5 @ 101.
    # price = (100 + 151.5) / 2.5 = 100.6; trade_price = touch 100; slippage 2.5 * 0.6 = 1.5;
    # taker fee 0.001 * 2.5 * 100.6 = 0.2515. The half spread (0.01) is not used: the book has it.
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 2.5)], ASKS, specs=[spec(taker=0.001, hs=0.01)])
    (f,) = res.fills.itertuples()
    assert (f.ts, f.size, f.trade_price, f.liquidity) == (s(1), 2.5, 100.0, "taker")
    assert f.price == pytest.approx(100.6) and f.slippage_cost == pytest.approx(1.5)
    assert f.fee == pytest.approx(0.2515)
    o = res.orders.iloc[0]
    assert (o.status, o.reason, o.filled_size) == ("filled", NONE, 2.5)
    assert math.isnan(o.queue_ahead)                        # never rested


def test_size_equal_to_the_top_takes_it_and_our_take_consumes_the_level(run_engine):
    # Buy 1 = the top size: 1 @ 100, no slippage. A second buy of 1 in the same decision finds
    # 100 taken (available max(1 - 1, 0) = 0): the touch is 101, it takes 1 @ 101.
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 1), buy(1, 1)], ASKS)
    assert list(res.fills.price) == [100.0, 101.0] and list(res.fills.trade_price) == [100.0, 101.0]
    assert list(res.fills.slippage_cost) == [0.0, 0.0]


def test_taken_is_reset_by_a_row_at_the_level_or_a_snapshot_of_its_side(run_engine):
    # 1: buy 1 takes the ask 100 x 1. 2: an update row sets 100 to 1 again (same size): taken
    # resets, a buy at 2 takes 1 @ 100. 3: a snapshot of the bid side does not touch the asks:
    # a buy at 3 takes 101. 4: a snapshot of the ask side (100 x 1 only) resets it: 100 again.
    levels = ASKS + [lv(2, ASK, 100, 1), lv(3, BID, 99, 3, True), lv(4, ASK, 100, 1, True)]
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 1), buy(2, 1), buy(3, 1), buy(4, 1)], levels)
    assert list(res.fills.price) == [100.0, 100.0, 101.0, 100.0]


def test_beyond_the_shown_depth_the_impact_model_from_the_deepest_level(run_engine):
    # Asks 100 x 1, 101 x 2, 103 x 5 (8 in all); buy 10: 1 @ 100, 2 @ 101, 5 @ 103, rest 2
    # beyond. V = impact volume of the last trade (0 s: 4), impact 0.02, m = 1:
    # s = 0.02 * sqrt(2 / 4) = 0.0141421356; edge = the data's deepest ask 103 (all shown at
    # m = 1) -> 103 * 1.0141421356 = 104.4566400
    # price = (100 + 202 + 515 + 208.9132800) / 10 = 102.59132800
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 10)], ASKS, specs=[spec(impact=0.02, hs=0.01)])
    (f,) = res.fills.itertuples()
    beyond = 103 * (1 + 0.02 * math.sqrt(0.5))
    assert f.price == pytest.approx((100 + 202 + 515 + 2 * beyond) / 10)
    assert f.price == pytest.approx(102.591328, abs=1e-6) and f.trade_price == 100.0


def test_before_the_first_trade_the_rest_waits_for_the_tape(run_engine):
    # Oracle 100 at 0 (admission), no trade until 10. Buy 3 at 1: 1 @ 100 + 2 @ 101 = 302 / 3,
    # no V for the rest... the shown depth is 8, so all 3 walk: 100.6667. Buy 10 at 2: 103 x 5
    # left after the first (100 and 101 consumed) -> 5 @ 103 at 2, the rest 5 waits and fills at
    # the 10 s trade @ 104 by the tape rule (half spread 0.01, impact 0): 104 * 1.01 = 105.04.
    res = run(run_engine, trades((10, 104, 1)), [buy(1, 3), buy(2, 10)], ASKS, oracle=[dict(ts=s(0), market=BTC, price=100.0)],
              specs=[spec(hs=0.01)])
    f = res.fills
    assert list(f.order_id) == [0, 1, 1] and list(f.ts) == [s(1), s(2), s(10)]
    assert list(f["size"]) == [3.0, 5.0, 5.0]
    assert list(f.price) == pytest.approx([302 / 3, 103.0, 105.04])
    assert list(f.trade_price) == [100.0, 103.0, 104.0]
    assert list(res.orders.status) == ["filled", "filled"]


def test_nothing_available_the_whole_order_waits_for_the_tape(run_engine):
    # Book top at 0: bid 99 x 1, ask 101 x 0 (an empty side). Buy 1 at 1 waits; the 10 s trade
    # @ 100 fills it by the tape rule: 100 * (1 + 0.001) = 100.1, trade_price 100.
    res = run(run_engine, trades((0, 100, 1), (10, 100, 1)), [buy(1, 1)], book=[top(0, 99, 1, 101, 0)],
              specs=[spec(hs=0.001)])
    (f,) = res.fills.itertuples()
    assert (f.ts, f.trade_price) == (s(10), 100.0) and f.price == pytest.approx(100.1)


# ============================================================================ stress
def test_stress_shows_ceil_n_over_m_levels_of_d_over_m(run_engine):
    # m = 2: 3 ask levels -> ceil(3/2) = 2 shown, each D/2: 100 x 0.5, 101 x 1.
    # Buy 2: 0.5 @ 100 + 1 @ 101, rest 0.5 beyond. The edge is the data's deepest ask, 103 (hidden
    # by the stress), not the last shown level 101. V = 4, impact 0.02:
    # s = 2 * 0.02 * sqrt(0.5 / 4) = 0.0141421356; 103 * 1.0141421356 = 104.4566400
    # price = (50 + 101 + 0.5 * 104.4566400) / 2 = (151 + 52.2283200) / 2 = 101.6141600
    # (from 101 it would have been 101 * 1.0141421356 = 102.4283557 -> 101.1070889)
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 2)], ASKS, specs=[spec(impact=0.02)],
              config=cfg(slippage_multiplier=2.0))
    (f,) = res.fills.itertuples()
    beyond = 103 * (1 + 2 * 0.02 * math.sqrt(0.5 / 4))
    assert f.price == pytest.approx((50 + 101 + 0.5 * beyond) / 2)
    assert f.price == pytest.approx(101.6141600, abs=1e-6)
    assert (f.size, f.trade_price) == (2.0, 100.0) and f.slippage_cost == pytest.approx(2 * (f.price - 100))


def test_stress_exactly_one_shows_the_book_as_is(run_engine):
    # m = 1 (a step series: 3 before 0.5 s, exactly 1 from then): every level at its size.
    # Buy 5 at 1: 1 @ 100, 2 @ 101, 2 @ 103 = (100 + 202 + 206) / 5 = 101.6
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 5)], ASKS, config=cfg(slippage_multiplier=[(s(-1), 3.0), (s(0.5), 1.0)]))
    assert res.fills.price.iloc[0] == pytest.approx(101.6)


def test_stress_below_one_thickens_and_zero_fills_at_the_touch(run_engine):
    # m = 0.5: sizes D / 0.5: 100 x 2, 101 x 4. Buy 3: 2 @ 100 + 1 @ 101 = 301 / 3.
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 3)], ASKS, config=cfg(slippage_multiplier=0.5))
    assert res.fills.price.iloc[0] == pytest.approx(301 / 3)
    # m = 0 (CHOICE: unbounded sizes): buy 50 at the touch 100.
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 50)], ASKS, config=cfg(slippage_multiplier=0.0))
    assert res.fills.price.iloc[0] == 100.0


# ============================================================================ IOC, limits, post-only
def test_ioc_walks_up_to_its_limit_and_cancels_the_rest(run_engine):
    # IOC buy 5 limit 101: 1 @ 100 + 2 @ 101 (103 is worse than the limit) = 302 / 3; the rest 2
    # is cancelled IOC_UNFILLED, the order ends cancelled with its fill.
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 5, 101, ioc=True)], ASKS)
    (f,) = res.fills.itertuples()
    assert f.size == 3.0 and f.price == pytest.approx(302 / 3) and f.liquidity == "taker"
    o = res.orders.iloc[0]
    assert (o.status, o.reason, o.filled_size) == ("cancelled", IOC_UNFILLED, 3.0)


def test_ioc_below_the_touch_is_cancelled_and_with_nothing_available_follows_the_tape(run_engine):
    # IOC buy limit 99.5 with the touch at 100: nothing at or better -> cancelled, no fill.
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 1, 99.5, ioc=True)], ASKS)
    assert res.fills.empty and (res.orders.status[0], res.orders.reason[0]) == ("cancelled", IOC_UNFILLED)
    # Empty ask side (top ask size 0): the tape rule, at the 10 s trade @ 99: price 99 <= 99.5.
    res = run(run_engine, trades((0, 100, 1), (10, 99, 1)), [limit(1, 1, 1, 99.5, ioc=True)], book=[top(0, 98, 1, 101, 0)])
    assert list(res.fills.price) == [99.0] and list(res.fills.ts) == [s(10)]


# ---------------------------------------------------------------------------- beyond the shown levels, up to a limit
# ASKS (100 x 1, 101 x 2, 103 x 5: 8 in all), V = 4 (the 0 s trade), impact 0.02, m = 1: k = m * impact = 0.02.
# A buy of 10 limit L walks all 8 (every level is within L >= 103: the side is used up), rest 2;
# edge = 103, x = L / 103 - 1.

def test_ioc_takes_beyond_the_shown_levels_what_the_impact_model_prices_within_its_limit(run_engine):
    # L = 104: x = 1/103; x / k = 50/103; q_b = min(2, 4 * (50/103)^2) = 10000/10609 = 0.9425959
    # at 103 * (1 + 0.02 * sqrt(q_b / 4)) = 103 * (1 + 0.02 * 50/103) = 103 + 1 = 104 = the limit.
    # Record: size 8 + 0.9425959 = 8.9425959 (10 - (2 - q_b)), price
    # (100 + 202 + 515 + 104 * 0.9425959) / 8.9425959 = (817 + 98.0299745) / 8.9425959 = 102.3226347,
    # trade_price 100, slippage 8.9425959 * 2.3226347 = 20.7703836. The rest 1.0574041 is cancelled.
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 10, 104, ioc=True)], ASKS, specs=[spec(impact=0.02)])
    (f,) = res.fills.itertuples()
    q_b = 10000 / 10609
    assert f.size == pytest.approx(8 + q_b, rel=1e-12) and f.price == pytest.approx(102.3226347, abs=1e-6)
    assert (f.size * f.price - 817) / q_b == pytest.approx(104.0, rel=1e-9)   # the beyond piece at the limit
    assert f.trade_price == 100.0 and f.slippage_cost == pytest.approx(20.7703836, abs=1e-6)
    o = res.orders.iloc[0]
    assert (o.status, o.reason) == ("cancelled", IOC_UNFILLED) and o.filled_size == pytest.approx(8 + q_b, rel=1e-12)
    assert math.isnan(o.queue_ahead)


def test_a_generous_ioc_fills_exactly_as_a_market_order(run_engine):
    # L = 200: x = 97/103 >= 0.5: all of the rest at the market order's price
    # 103 * (1 + min(0.02 * sqrt(2 / 4), 0.5)) = 104.4566400: 10 @ 102.5913280 (as
    # test_beyond_the_shown_depth_the_impact_model_from_the_deepest_level), filled exactly.
    # L = 105: x = 2/103, x / k = 100/103, 4 * (100/103)^2 = 3.77 >= rest 2: q_b = 2 (the whole
    # rest) at the same 104.4566400 <= 105: the same fill, size exactly 10.
    # Taker fee 0.001 * 10 * 102.591328 = 1.02591328.
    kw = dict(specs=[spec(impact=0.02, taker=0.001)])
    market = run(run_engine, trades((0, 100, 4)), [buy(1, 10)], ASKS, **kw)
    cols = ["ts", "size", "price", "trade_price", "fee", "slippage_cost", "liquidity"]
    for L in (200, 105):
        res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 10, L, ioc=True)], ASKS, **kw)
        (f,) = res.fills.itertuples()
        assert f.size == 10.0 and f.price == pytest.approx(102.591328, abs=1e-6)
        assert f.fee == pytest.approx(1.02591328, abs=1e-8)
        pd.testing.assert_frame_equal(res.fills[cols], market.fills[cols])
        o = res.orders.iloc[0]
        assert (o.status, o.reason, o.filled_size) == ("filled", NONE, 10.0)


def test_ioc_takes_nothing_beyond_before_the_first_trade_or_when_a_level_stands_beyond_its_limit(run_engine):
    # No trade before the IOC (oracle 100 at 0 for admission; the first trade at 10): no V,
    # nothing beyond: 8 @ (100 + 202 + 515) / 8 = 102.125, the rest 2 cancelled IOC_UNFILLED.
    res = run(run_engine, trades((10, 100, 4)), [limit(1, 1, 10, 200, ioc=True)], ASKS,
              oracle=[dict(ts=s(0), market=BTC, price=100.0)], specs=[spec(impact=0.02)])
    (f,) = res.fills.itertuples()
    assert (f.ts, f.size) == (s(1), 8.0) and f.price == pytest.approx(102.125)
    assert (res.orders.status[0], res.orders.reason[0]) == ("cancelled", IOC_UNFILLED)
    # L = 102.5 with impact 0: the walk stops before 103 (worse than L), which still has 5
    # available: the side is not used up, nothing beyond: 3 @ 302 / 3.
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 10, 102.5, ioc=True)], ASKS)
    assert list(res.fills["size"]) == [3.0] and res.fills.price[0] == pytest.approx(302 / 3)


def test_ioc_with_no_impact_whose_limit_is_the_edge_fills_the_rest_at_the_edge(run_engine):
    # Impact 0 (m * impact = 0): "all of the rest" at the edge 103 when the edge is no worse than
    # the limit (CHOICE: x = 103 / 103 - 1 = 0 included): 10 @ (100 + 202 + 515 + 206) / 10 = 102.3.
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 10, 103, ioc=True)], ASKS)
    (f,) = res.fills.itertuples()
    assert f.size == 10.0 and f.price == pytest.approx(102.3)
    assert (res.orders.status[0], res.orders.filled_size[0]) == ("filled", 10.0)


def test_nothing_beyond_when_the_deepest_level_is_worse_than_the_limit_also_without_impact(run_engine):
    # m = 3 shows ceil(3/3) = 1 ask level: 100 x 1/3 (101 and 103 hidden). Impact 0 (k = 0).
    # IOC buy 1 limit 101: takes 1/3 @ 100, the side is used up; edge = the data's deepest ask 103,
    # x = 101 / 103 - 1 < 0: the impact model prices nothing within the limit (at k = 0 it prices
    # everything at 103 > 101), nothing beyond (CHOICE: "all of the rest when k = 0" only when
    # x >= 0). The rest 2/3 is cancelled IOC_UNFILLED. A GTC limit rests its 2/3 at 101 (A = 0).
    kw = dict(config=cfg(slippage_multiplier=3.0))
    for ioc, status in ((True, "cancelled"), (False, "partially_filled")):
        res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 1, 101, ioc=ioc)], ASKS, **kw)
        (f,) = res.fills.itertuples()
        assert f.size == pytest.approx(1 / 3) and f.price == pytest.approx(100.0)
        assert res.orders.status[0] == status and res.orders.filled_size[0] == pytest.approx(1 / 3)


def test_crossing_limit_takes_beyond_the_shown_levels_then_rests(run_engine):
    # GTC buy 10 limit 104 at 1: the walk and the beyond piece of the IOC above (8.9425959 @
    # 102.3226347, taker); the rest 10 - 8.9425959 = 1.0574041 rests at 104 with A = D(104) on
    # the bid side = 0. Trade @ 103.5 x 5 at 5 (through the limit): fills min(1.0574041, 5) @ 104
    # as maker; the order is filled.
    q_b = 10000 / 10609
    res = run(run_engine, trades((0, 100, 4), (5, 103.5, 5)), [limit(1, 1, 10, 104)], ASKS, specs=[spec(impact=0.02)])
    f = res.fills
    assert list(f.liquidity) == ["taker", "maker"] and list(f.ts) == [s(1), s(5)]
    assert list(f["size"]) == pytest.approx([8 + q_b, 2 - q_b], rel=1e-12)
    assert list(f.price) == pytest.approx([102.3226347, 104.0], abs=1e-6)
    o = res.orders.iloc[0]
    assert (o.status, o.queue_ahead) == ("filled", 0.0) and o.filled_size == pytest.approx(10.0, rel=1e-12)


def test_marketable_limit_walks_then_rests_at_its_limit(run_engine):
    # Buy limit 101 size 5: takes 1 @ 100 + 2 @ 101 as taker (302 / 3), rests 2 at 101 with
    # A = D(101) on the bid side = 0. A trade exactly at 101 of 0.5 at 5: avail 0.5 - A 0 > dust:
    # 0.5 maker @ 101 (maker fee -0.0002 * 0.5 * 101 = -0.0101).
    res = run(run_engine, trades((0, 100, 4), (5, 101, 0.5)), [limit(1, 1, 5, 101)], ASKS, specs=[spec(maker=-0.0002)])
    f = res.fills
    assert list(f.liquidity) == ["taker", "maker"] and list(f["size"]) == [3.0, 0.5]
    assert list(f.price) == pytest.approx([302 / 3, 101.0]) and f.fee.iloc[1] == pytest.approx(-0.0101)
    o = res.orders.iloc[0]
    assert (o.status, o.filled_size, o.queue_ahead) == ("partially_filled", 3.5, 0.0)


def test_post_only_that_would_take_is_rejected(run_engine):
    # Post-only buy at 100 (the ask touch): would take -> rejected POST_ONLY.
    # Post-only buy at 99.5 (inside the spread): rests, A = D(99.5) = 0.
    # Post-only buy at 99 (at the bid): rests behind the bid's 3.
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 1, 100, post_only=True), limit(1, 1, 1, 99.5, post_only=True),
                                     limit(1, 1, 1, 99, post_only=True)], ASKS)
    o = res.orders
    assert list(o.status) == ["rejected", "open", "open"] and list(o.reason) == [POST_ONLY, NONE, NONE]
    assert math.isnan(o.queue_ahead[0]) and list(o.queue_ahead[1:]) == [0.0, 3.0]
    assert res.fills.empty


def test_post_only_at_a_level_our_takes_consumed_rests(run_engine):
    # Buy 1 takes the ask 100 x 1 (available 0 afterwards); a post-only buy at 100 then finds no
    # shown level with available size at or better than 100 (101 is worse): it rests, A = 0.
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 1), limit(1, 1, 1, 100, post_only=True)], ASKS)
    assert list(res.orders.status) == ["filled", "open"] and res.orders.queue_ahead[1] == 0.0


def test_reduce_only_clips_at_the_walk_and_cancels_the_rest(run_engine):
    # Buy 1 @ 100 (long 1). Reduce-only sell 3 at 2: clipped to |S| = 1, walks the bids: 1 @ 99,
    # the rest cancelled REDUCE_ONLY. Reduce-only sell 1 at 3 (flat now): cancelled REDUCE_ONLY.
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 1), sell(2, 3, reduce_only=True), sell(3, 1, reduce_only=True)], ASKS)
    assert list(res.fills.price) == [100.0, 99.0] and list(res.fills["size"]) == [1.0, 1.0]
    o = res.orders
    assert list(o.status) == ["filled", "cancelled", "cancelled"]
    assert list(o.reason) == [NONE, REDUCE_ONLY, REDUCE_ONLY] and list(o.filled_size) == [1.0, 1.0, 0.0]
    assert res.final["positions"][("dydx", BTC)]["size"] == 0.0


def test_reduce_only_ioc_and_crossing_limit_clip_at_the_walk(run_engine):
    # Long 1 (buy 1 @ 100). IOC sell 3 limit 98, reduce-only: the bid 99 is within the limit, the
    # walk is for |S| = 1: 1 @ 99, all of q filled: the rest is cancelled REDUCE_ONLY (CHOICE).
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 1), limit(2, -1, 3, 98, ioc=True, reduce_only=True)], ASKS)
    assert list(res.fills.price) == [100.0, 99.0]
    assert (res.orders.status[1], res.orders.reason[1], res.orders.filled_size[1]) == ("cancelled", REDUCE_ONLY, 1.0)
    # The same as a plain limit: crosses, walks 1 @ 99, the rest cancelled REDUCE_ONLY.
    res = run(run_engine, trades((0, 100, 4)), [buy(1, 1), limit(2, -1, 3, 98, reduce_only=True)], ASKS)
    assert (res.orders.status[1], res.orders.reason[1], res.orders.filled_size[1]) == ("cancelled", REDUCE_ONLY, 1.0)
    assert math.isnan(res.orders.queue_ahead[1])


def test_reduce_only_limit_whose_walk_stops_at_its_limit_rests_and_is_clipped_as_maker(run_engine):
    # Long 5: buy 5 walks 1 @ 100, 2 @ 101, 2 @ 103 = 508 / 5 = 101.6.
    # Sell limit 99 size 10, reduce-only: q = |S| = 5; bids 99 x 3 (98 is worse than 99): 3 @ 99;
    # q not all filled: the rest rests at 99 (unfilled 7) with A = D(99) on the ask side = 0.
    # Trade @ 99 x 10 at 5 (at the limit): avail - A = 10: min(7, 10) = 7, clipped to |S| = 2;
    # a clipped limit keeps resting, now flat (filled 5 of 10).
    res = run(run_engine, trades((0, 100, 4), (5, 99, 10)), [buy(1, 5), limit(2, -1, 10, 99, reduce_only=True)], ASKS)
    f = res.fills
    assert list(f.liquidity) == ["taker", "taker", "maker"] and list(f["size"]) == [5.0, 3.0, 2.0]
    assert f.price.iloc[0] == pytest.approx(101.6) and list(f.price[1:]) == [99.0, 99.0]
    o = res.orders.iloc[1]
    assert (o.status, o.filled_size, o.queue_ahead) == ("partially_filled", 5.0, 0.0)
    assert res.final["positions"][("dydx", BTC)]["size"] == 0.0


def test_queue_advances_at_a_trade_the_earlier_order_took_in_full(run_engine):
    # #0 buy 5 limit 99.5 (inside the spread, A = 0), #1 buy 1 limit 99 (A = 3). Trade @ 99 x 2:
    # through #0's limit: it takes 2 (avail 0), A = 0; at #1's limit: avail - A = -3, no fill,
    # but A = max(3 - 2, 0) = 1 and T = 2 all the same (CHOICE).
    res = run(run_engine, trades((0, 100, 4), (2, 99, 2)), [limit(1, 1, 5, 99.5), limit(1, 1, 1, 99)], ASKS)
    assert list(res.fills.order_id) == [0] and list(res.fills["size"]) == [2.0]
    assert list(res.orders.queue_ahead) == [0.0, 1.0]


def test_admission_comes_before_the_post_only_check(run_engine):
    # Cash 1: a post-only buy of 10 at the ask would take and is short of margin: the admission
    # rejects it first (INSUFFICIENT_MARGIN), CHOICE.
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 10, 100, post_only=True)], ASKS, config=cfg(cash=1.0))
    assert res.orders.reason[0] == INSUFFICIENT_MARGIN


# ============================================================================ queue position at trades
def test_trade_at_the_limit_advances_the_queue_and_fills_past_it(run_engine):
    # Buy limit 99 size 2 behind the bid's 3 (A = 3).
    # 2: trade @ 99 x 2: avail - A = -1, no fill; A = 1, T = 2.
    # 3: trade @ 99 x 1.5: avail - A = 0.5: fill 0.5 @ 99 (maker); A = max(1 - 1.5, 0) = 0.
    # 4: trade @ 99 x 1: fill 1 (A = 0). 5: trade @ 98.9 x 10 (one tick through): fills the
    # last 0.5 (min(unfilled, avail)).
    tr = trades((0, 100, 4), (2, 99, 2), (3, 99, 1.5), (4, 99, 1), (5, 98.9, 10))
    res = run(run_engine, tr, [limit(1, 1, 2, 99)], ASKS)
    f = res.fills
    assert list(f.ts) == [s(3), s(4), s(5)] and list(f["size"]) == [0.5, 1.0, 0.5]
    assert list(f.price) == [99.0] * 3 and set(f.liquidity) == {"maker"}
    assert res.orders.status[0] == "filled" and res.orders.queue_ahead[0] == 0.0


def test_queue_ahead_exactly_consumed_gives_no_fill_the_next_trade_does(run_engine):
    # A = 3; trade @ 99 x 3: avail - A = 0, no fill, A = 0. Then a trade @ 99 x 0.25 fills 0.25.
    res = run(run_engine, trades((0, 100, 4), (2, 99, 3), (3, 99, 0.25)), [limit(1, 1, 1, 99)], ASKS)
    assert list(res.fills.ts) == [s(3)] and list(res.fills["size"]) == [0.25]
    assert res.orders.queue_ahead[0] == 0.0


def test_at_the_limit_vs_one_tick_through_with_a_queue(run_engine):
    # A = 3 at 99, trade of 1: exactly at 99 no fill (1 - 3 < 0), A = 2; through at 98.9 fills
    # min(1, 1) = 1 and sets A = 0.
    at = run(run_engine, trades((0, 100, 4), (2, 99, 1)), [limit(1, 1, 1, 99)], ASKS)
    assert at.fills.empty and at.orders.queue_ahead[0] == 2.0
    through = run(run_engine, trades((0, 100, 4), (2, 98.9, 1)), [limit(1, 1, 1, 99)], ASKS)
    assert list(through.fills["size"]) == [1.0] and through.orders.queue_ahead[0] == 0.0


def test_float_dust_over_the_queue_is_not_a_fill(run_engine):
    # D(99) = 0.3 -> A = 0.3; trade @ 99 of 0.1 + 0.2 = 0.30000000000000004: avail - A = 5.6e-17,
    # under 1e-9 * 0.3: no fill; A = max(0.3 - 0.30000000000000004, 0) = 0.
    levels = [lv(0, ASK, 100, 1, True), lv(0, BID, 99, 0.3, True)]
    res = run(run_engine, trades((0, 100, 4), (2, 99, 0.1 + 0.2)), [limit(1, 1, 1, 99)], levels)
    assert res.fills.empty and res.orders.queue_ahead[0] == 0.0


def test_own_orders_at_one_level_share_the_trade_each_behind_the_data(run_engine):
    # Two buys of 1 at 99, each A = D(99) = 3 (the data does not show our orders: CHOICE).
    # Trade @ 99 x 4.5: #0 avail 4.5 - 3 = 1.5 -> 1; avail 3.5; #1 3.5 - 3 = 0.5 -> 0.5.
    res = run(run_engine, trades((0, 100, 4), (2, 99, 4.5)), [limit(1, 1, 1, 99), limit(1, 1, 1, 99)], ASKS)
    assert list(res.fills.order_id) == [0, 1] and list(res.fills["size"]) == [1.0, 0.5]
    assert list(res.orders.queue_ahead) == [0.0, 0.0]


# ============================================================================ queue position at book rows
def _queue_after(engine, rows, model="conservative", tr=((0, 100, 4),), power=2.0):
    """The queue ahead of a buy limit of 1 at 99 (sent at 1, behind the bid's 3) after ``rows``."""
    res = run(engine, trades(*tr), [limit(1, 1, 1, 99)], ASKS + rows, config=cfg(queue_model=model, queue_power=power))
    return res.orders.queue_ahead[0]


def test_conservative_queue_only_shrinks_to_what_the_level_shows(run_engine):
    # 3 -> 5: A = min(3, 5) = 3; 5 -> 2: A = min(3, 2) = 2.
    assert _queue_after(run_engine, [lv(2, BID, 99, 5)]) == 3.0
    assert _queue_after(run_engine, [lv(2, BID, 99, 5), lv(3, BID, 99, 2)]) == 2.0


def test_probabilistic_queue_counts_cancellations_ahead(run_engine):
    # 3 -> 5 (chg < 0): A = min(3, 5) = 3. Then 5 -> 2: chg = 5 - 2 - 0 = 3; front 3,
    # back max(5 - 3, 0) = 2, power 2: p = 4 / (4 + 9) = 4/13;
    # A = min(3 - (9/13) * 3 + min(2 - (4/13) * 3, 0), 2) = min(12/13 + 0, 2) = 12/13.
    assert _queue_after(run_engine, [lv(2, BID, 99, 5), lv(3, BID, 99, 2)], "probabilistic") == pytest.approx(12 / 13)
    # power 1: p = 2/5; A = 3 - (3/5) * 3 + min(2 - 6/5, 0) = 1.2
    assert _queue_after(run_engine, [lv(2, BID, 99, 5), lv(3, BID, 99, 2)], "probabilistic", power=1.0) == pytest.approx(1.2)
    # 3 -> 0 with the level in view (98 shown): chg = 3; front 3, back 0: p = 0;
    # A = min(3 - 3 + min(0 - 0, 0), 0) = 0.
    assert _queue_after(run_engine, [lv(2, BID, 99, 0)], "probabilistic") == 0.0


def test_probabilistic_change_exactly_traded_is_no_cancellation(run_engine):
    # Trade @ 99 x 2 at 2: A = 1, T = 2. Row 99: 3 -> 1 at 3: chg = 3 - 1 - 2 = 0 -> A = min(1, 1) = 1.
    # With a row 3 -> 0.5 instead: chg = 0.5 > 0: front 1, back 2, p = 4/5;
    # A = min(1 - 0.2 * 0.5 + min(2 - 0.4, 0), 0.5) = min(0.9, 0.5) = 0.5.
    tr = ((0, 100, 4), (2, 99, 2))
    assert _queue_after(run_engine, [lv(3, BID, 99, 1)], "probabilistic", tr) == 1.0
    assert _queue_after(run_engine, [lv(3, BID, 99, 0.5)], "probabilistic", tr) == 0.5


def test_traded_at_level_resets_at_a_change_only(run_engine):
    # Trade @ 99 x 1 at 2: A = 2, T = 1. Row 99 3 -> 3 at 3 (no change: T kept). Row 3 -> 1 at 4:
    # chg = 3 - 1 - 1 = 1 > 0: front 2, back 1, p = 1/5; A = min(2 - 0.8 + min(1 - 0.2, 0), 1) = 1.
    # Had T been reset at 3, chg = 2: A = min(2 - 1.6 + min(1 - 0.4, 0), 1) = 0.4.
    tr = ((0, 100, 4), (2, 99, 1))
    assert _queue_after(run_engine, [lv(3, BID, 99, 3), lv(4, BID, 99, 1)], "probabilistic", tr) == pytest.approx(1.0)


def test_out_of_view_leaves_the_queue_alone(run_engine):
    # L1 top: bid 99 x 3 -> A = 3. The bid moves up to 100 x 1 (ask 101): D(99) 3 -> 0 but every
    # level shown is better than 99: out of view, A stays 3. It moves down to 98 x 1 instead: in
    # view, A = min(3, 0) = 0.
    book0 = [top(0, 99, 3, 100, 1)]
    up = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 1, 99)], book=book0 + [top(2, 100, 1, 101, 1)])
    assert up.orders.queue_ahead[0] == 3.0
    down = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 1, 99)], book=book0 + [top(2, 98, 1, 100, 1)])
    assert down.orders.queue_ahead[0] == 0.0
    # An empty bid side (size 0): out of view too.
    empty = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 1, 99)], book=book0 + [top(2, 98, 0, 100, 1)])
    assert empty.orders.queue_ahead[0] == 3.0


def test_snapshot_clearing_the_level_is_one_change_at_the_group_end(run_engine):
    # A bid snapshot at 2 of 99 x 2 then 99 x 1 (one group, the last row sets 1): one change
    # 3 -> 1, conservative A = 1. A snapshot of 98 x 1 alone clears 99: 3 -> 0 in view: A = 0.
    # The order keeps resting either way (CHOICE).
    assert _queue_after(run_engine, [lv(2, BID, 99, 2, True), lv(2, BID, 99, 1, True)]) == 1.0
    res = run(run_engine, trades((0, 100, 4)), [limit(1, 1, 1, 99)], ASKS + [lv(2, BID, 98, 1, True)])
    assert res.orders.queue_ahead[0] == 0.0 and res.orders.status[0] == "open"


def test_queue_ahead_is_kept_when_the_order_ends(run_engine):
    # Cancelled at 3 after a trade at 99 x 1 (A 3 -> 2): queue_ahead 2; a later trade does not
    # change it. Orders on markets without book data have NaN.
    res = run(run_engine, trades((0, 100, 4), (2, 99, 1), (4, 99, 1)), [limit(1, 1, 1, 99), CancelIntent(s(3), 0)], ASKS)
    o = res.orders.iloc[0]
    assert (o.status, o.reason, o.queue_ahead) == ("cancelled", CANCELLED, 2.0)
    plain = run(run_engine, trades((0, 100, 4), (2, 99, 1)), [limit(1, 1, 1, 99)])
    assert math.isnan(plain.orders.queue_ahead[0])


# ============================================================================ liquidation against the book
LIQ_BOOK = [lv(0, ASK, 100, 100, True), lv(0, BID, 99, 2, True), lv(0, BID, 90, 3, True), lv(0, BID, 80, 100, True)]


def test_liquidation_closes_against_the_book_within_the_bound(run_engine):
    # Cash 100, imf 0.1, mmf 0.05, liq_spread 1.5. Buy 10 at 1 takes 10 @ 100 (IMR' 100 = NC).
    # Oracle 92 at 2: NC = 100 - 80 = 20 < MMR = 46: liquidated. B = 92 * (1 - 1.5 * 0.05) = 85.1.
    # Sell 10 into the bids: 2 @ 99, 3 @ 90, 80 < B stops; rest 5 @ 85.1.
    # price = (198 + 270 + 425.5) / 10 = 89.35; realized 10 * (89.35 - 100) = -106.5 -> Q = -6.5:
    # fee min(0.015 * 920, 0) = 0, deficit 6.5 socialized (no insurance).
    oracle = [dict(ts=s(0), market=BTC, price=100.0), dict(ts=s(2), market=BTC, price=92.0)]
    res = run(run_engine, trades((0, 100, 10)), [buy(1, 10)], LIQ_BOOK, oracle=oracle, specs=[spec(imf=0.1, mmf=0.05)],
              config=cfg(cash=100.0))
    (liq,) = res.liquidations.itertuples()
    assert liq.price == pytest.approx(89.35) and liq.deficit == pytest.approx(6.5)
    assert liq.socialized == pytest.approx(6.5) and liq.fee == 0.0
    f = res.fills.iloc[1]
    assert (f.liquidity, f.side, f["size"]) == ("liquidation", -1, 10.0) and math.isnan(f.trade_price)


def test_liquidation_with_every_level_beyond_the_bound_closes_at_the_bound(run_engine):
    # Bids only at 80 (worse than B = 85.1): nothing taken, all 10 close at B = 85.1 (CHOICE).
    # With no bid at all the tape price applies: ABR = 1 - 20 / 46 = 13/23;
    # 92 * (1 - 1.5 * 0.05 * 13/23) = 88.1
    oracle = [dict(ts=s(0), market=BTC, price=100.0), dict(ts=s(2), market=BTC, price=92.0)]
    kw = dict(oracle=oracle, specs=[spec(imf=0.1, mmf=0.05)], config=cfg(cash=100.0))
    far = run(run_engine, trades((0, 100, 10)), [buy(1, 10)], [LIQ_BOOK[0], LIQ_BOOK[3]], **kw)
    assert far.liquidations.price[0] == pytest.approx(85.1)
    none = run(run_engine, trades((0, 100, 10)), [buy(1, 10)], [LIQ_BOOK[0]], **kw)
    assert none.liquidations.price[0] == pytest.approx(88.1)


def test_trades_while_the_venue_is_down_do_not_advance_the_queue(run_engine):
    # Trace: up, down from 1.5 to 2.5 (zero latency). Buy limit 99 at 1: A = 3.
    # 2 (down): trade @ 99 x 2 is not matched: A stays 3 (CHOICE). 3: trade @ 99 x 2:
    # avail - A = -1, no fill, A = 1. (Counted at 2 as well, A would be 1 there and the 3 s trade
    # would fill 1.)
    latency = [dict(ts=s(t), venue="dydx", order_latency=0, ack_latency=0, finality=0, up=up, gas_fee=0.0)
               for t, up in ((-10, True), (1.5, False), (2.5, True))]
    res = run(run_engine, trades((0, 100, 4), (2, 99, 2), (3, 99, 2)), [limit(1, 1, 1, 99)], ASKS, latency=latency)
    assert res.fills.empty and res.orders.queue_ahead[0] == 1.0


def test_no_margin_check_after_a_walk_at_arrival(run_engine):
    # Cash 100, imf 0.1, mmf 0.05, oracle 100. Buy 10 at 1 walks 5 @ 100 + 5 @ 120 = 110
    # (admission at the oracle: IMR' = 100 <= NC 100). Now NC = 100 + 10 * (100 - 110) = 0 < MMR
    # 50, but margin checks are at steps 2, 3 and 5 only (CHOICE): the account is liquidated at
    # the next one, the oracle row at 3. There B = 100 * 0.925 = 92.5 and the bid 99 is within
    # it: closes 10 @ 99, realized 10 * (99 - 110) = -110, Q = -10: socialized 10.
    levels = [lv(0, ASK, 100, 5, True), lv(0, ASK, 120, 5, True), lv(0, BID, 99, 100, True)]
    oracle = [dict(ts=s(0), market=BTC, price=100.0), dict(ts=s(3), market=BTC, price=100.0)]
    res = run(run_engine, trades((0, 100, 10)), [buy(1, 10)], levels, oracle=oracle, specs=[spec(imf=0.1, mmf=0.05)],
              config=cfg(cash=100.0))
    assert res.fills.price.iloc[0] == pytest.approx(110.0)
    (liq,) = res.liquidations.itertuples()
    assert liq.ts == s(3) and liq.price == 99.0 and liq.socialized == pytest.approx(10.0)


# ============================================================================ properties (reference alone)
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck))


def _conserved(res):
    f = res.final
    scale = f["initial_total"] + sum(abs(x) for x in res.ledger.amount)
    assert f["max_conservation_error"] <= 1e-9 * scale


@settings(max_examples=150, **SETTINGS)
@given(book_inputs(targets=True, transfers=True))
def test_money_is_conserved_and_queues_are_sane_on_random_book_runs(inputs):
    res = run_reference(**inputs)
    _conserved(res)
    q = res.orders.queue_ahead
    assert (q.dropna() >= 0).all()
    # only limits (not IOC) rest with a queue
    rested = res.orders[q.notna()]
    assert ((rested.type == "limit") & ~rested.ioc).all()
    # a taker never gets a better price than the touch; slippage_cost is what walking past cost
    takers = res.fills[res.fills.liquidity == "taker"]
    assert (takers.side * (takers.price - takers.trade_price) >= -1e-9 * takers.trade_price).all()


@settings(max_examples=100, **SETTINGS)
@given(book_inputs())
def test_queue_ahead_never_grows_for_a_resting_order(inputs):
    from tests.reference import engine

    seen = {}
    original = engine.Simulation.audit_conservation

    def audit(sim):
        original(sim)
        for o in sim.orders:
            if not math.isnan(o.queue_ahead):
                assert o.queue_ahead >= 0.0
                assert o.queue_ahead <= seen.get(o.order_id, math.inf)
                seen[o.order_id] = o.queue_ahead

    engine.Simulation.audit_conservation = audit
    try:
        run_reference(**inputs)
    finally:
        engine.Simulation.audit_conservation = original


@st.composite
def _one_taker(draw):
    """One market order walking a fresh book, under two multipliers ``m1 <= m2``."""
    side = draw(st.sampled_from([1, -1]))
    n = draw(st.integers(1, 5))
    gaps = draw(st.lists(st.sampled_from([0.5, 1.0, 3.0]), min_size=n, max_size=n))
    sizes = draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=n, max_size=n))
    prices, p = [], 100.0
    for g in gaps:
        p += side * g
        prices.append(p)
    levels = [lv(0, -side, price, size, True) for price, size in zip(prices, sizes)]
    levels.append(lv(0, side, 100.0 - side * 0.5, 1.0, True))          # our own side, not walked
    m1 = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0]))
    m2 = m1 * draw(st.sampled_from([1.0, 1.5, 2.0, 3.0]))
    q = draw(st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.5, 6.0, 12.0]))
    impact = draw(st.sampled_from([0.0, 0.02, 0.5]))
    return levels, sizes, side, q, m1, m2, impact


@settings(max_examples=200, **SETTINGS)
@given(_one_taker())
def test_more_stress_never_improves_a_takers_fill(case):
    # The walk under m2 >= m1 sees a prefix of m1's levels with less at each, and what goes
    # beyond the shown levels fills from the data's deepest price (no better than any shown
    # level) at a slippage that grows with m and with the size beyond: every unit of the order
    # fills at a price no better, within the shown depth or beyond it.
    levels, sizes, side, q, m1, m2, impact = case
    prices = []
    for m in (m1, m2):
        res = run(run_reference, trades((0, 100, 4)), [OrderIntent(s(1), BTC, side, q)], levels, specs=[spec(impact=impact)],
                  config=cfg(slippage_multiplier=m))
        (f,) = res.fills.itertuples()
        assert f.ts == s(1) and f.size == q
        assert side * (f.price - f.trade_price) >= -1e-12 * f.trade_price   # never better than the touch
        prices.append(f.price)
    assert side * (prices[1] - prices[0]) >= -1e-12 * prices[0]


@settings(max_examples=100, **SETTINGS)
@given(_one_taker(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 20.0]))
def test_an_ioc_fills_no_less_than_a_market_order_within_its_limit(case, step):
    # An IOC at a limit L at or beyond the data's deepest level: a larger L fills no less, never
    # better than the touch, and an L far beyond (x >= 0.5) fills exactly as the market order.
    levels, _sizes, side, q, m, _m2, impact = case
    kw = dict(specs=[spec(impact=impact)], config=cfg(slippage_multiplier=m))
    deepest = max((r["price"] for r in levels if r["side"] == -side), key=lambda p: side * p)
    market = run(run_reference, trades((0, 100, 4)), [OrderIntent(s(1), BTC, side, q)], levels, **kw).fills
    filled = []
    for L in (deepest + side * step, deepest + side * (step + 1.0), deepest * (1 + side * 0.6)):
        res = run(run_reference, trades((0, 100, 4)), [limit(1, side, q, L, ioc=True)], levels, **kw)
        filled.append(res.fills["size"].sum())
        assert (res.fills.side * (res.fills.price - res.fills.trade_price) >= -1e-12 * res.fills.trade_price).all()
    assert filled[0] <= filled[1] * (1 + 1e-12) and filled[1] <= filled[2] * (1 + 1e-12)
    assert filled[2] == q
    pd.testing.assert_frame_equal(res.fills[["size", "price"]], market[["size", "price"]])


def test_stress_does_not_improve_a_fill_that_goes_beyond_the_shown_depth(run_engine):
    # Asks 100.5 x 1, 101 x 1, 110 x 1, impact 0.02, V = 4, buy 3.
    # m = 1: (100.5 + 101 + 110) / 3 = 103.8333333.
    # m = 2: ceil(3/2) = 2 levels of 0.5: 0.5 @ 100.5 + 0.5 @ 101 = 100.75, rest 2 beyond the
    #   edge 110 (the data's deepest ask, hidden by the stress):
    #   s = 2 * 0.02 * sqrt(2 / 4) = 0.0282842712; 110 * 1.0282842712 = 113.1112698
    #   price = (100.75 + 226.2225397) / 3 = 108.9908466 > 103.8333: the thinner book fills worse.
    #   (Under the old rule, beyond the last shown level 101, it was 102.8211: better.)
    levels = [lv(0, ASK, 100.5, 1, True), lv(0, ASK, 101, 1, True), lv(0, ASK, 110, 1, True), lv(0, BID, 99.5, 1, True)]
    out = []
    for m in (1.0, 2.0):
        res = run(run_engine, trades((0, 100, 4)), [buy(1, 3)], levels, specs=[spec(impact=0.02)],
                  config=cfg(slippage_multiplier=m))
        out.append(res.fills.price.iloc[0])
    beyond = 110 * (1 + 2 * 0.02 * math.sqrt(0.5))
    assert out == pytest.approx([311.5 / 3, (100.75 + 2 * beyond) / 3])
    assert out[1] == pytest.approx(108.9908466, abs=1e-6) and out[1] > out[0]


@settings(max_examples=60, **SETTINGS)
@given(reference_inputs(targets=True))
def test_empty_book_tables_change_nothing(inputs):
    ds = inputs["dataset"]
    empty = Dataset(trades=ds.trades, funding=ds.funding, oracle=ds.oracle, latency=ds.latency,
                    book=pd.DataFrame(columns=["ts", "market", "bid", "bid_size", "ask", "ask_size"]).astype(
                        {"ts": "datetime64[ns, UTC]", "market": str, "bid": float, "bid_size": float, "ask": float,
                         "ask_size": float}),
                    book_levels=pd.DataFrame(columns=["ts", "market", "side", "price", "size", "is_snapshot"]).astype(
                        {"ts": "datetime64[ns, UTC]", "market": str, "side": "int8", "price": float, "size": float,
                         "is_snapshot": bool}),
                    allow_extreme=True)
    assert empty.book.num_rows == 0 and empty.book_levels.num_rows == 0
    a = run_reference(**inputs)
    b = run_reference(**{**inputs, "dataset": empty})
    for name in ("orders", "fills", "funding", "liquidations", "ledger", "targets"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.final == b.final



@settings(max_examples=40, **SETTINGS)
@given(book_inputs())
def test_book_false_is_the_tape_on_the_same_data(inputs):
    # SimConfig(book=False): the trade-tape rules everywhere, as if the book tables were absent
    ds = inputs["dataset"]
    off = run_reference(**{**inputs, "config": replace(inputs["config"], book=False)})
    bare = Dataset(trades=ds.trades, funding=ds.funding, oracle=ds.oracle, latency=ds.latency, allow_extreme=True)
    tape = run_reference(**{**inputs, "dataset": bare, "config": replace(inputs["config"], book=True)})
    for name in ("orders", "fills", "liquidations", "ledger"):
        pd.testing.assert_frame_equal(getattr(off, name), getattr(tape, name))
