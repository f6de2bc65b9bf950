"""Execution algorithms (strategies/execution.py) and the `Guarded` wrapper
(strategies/guarded.py): TWAP slicing, limit-then-market, and the wrapper replaying a
plan-only strategy exactly as the fast path runs it.

Hand-built tapes: one market, a trade every 10 s, no fees, spread or impact, no latency,
decisions every minute, so every order's time and size is known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from strategies import BuyAndHold, MaCross
from strategies.execution import TWAP, Immediate, LimitThenMarket
from strategies.guarded import Guarded

BTC = "BTC-USD"
START = pd.Timestamp("2024-01-01", tz="UTC")
STEP = pd.Timedelta("10s")
MIN = pd.Timedelta("1min")
FREE = bt.Market.preset(BTC, taker_fee=0.0, maker_fee=0.0, half_spread=0.0, impact=0.0)
CFG = bt.SimConfig(initial_cash=10_000.0, markets={BTC: FREE})


def tape(prices, sizes=1e6) -> dl.Dataset:
    prices = np.asarray(prices, float)
    ts = START + STEP * np.arange(len(prices))
    return dl.Dataset(trades=pd.DataFrame({"ts": ts, "market": BTC, "price": prices, "size": sizes, "side": 1}))


FLAT = tape(np.full(6 * 30, 100.0))  # 30 decisions at 100


class Plan(bt.Strategy):
    """Plan-only: position targets by decision, ``{decision: position}``, NaN elsewhere."""

    params = dict(plan={})
    every = "1min"

    def init(self, data):
        values = np.full(len(self.decision_times), np.nan)
        for d, pos in self.plan.items():
            values[d] = pos
        self.set_targets(BTC, values, kind="position")


class Steps(bt.Strategy):
    """Hybrid: ``target_position`` every decision, the last step at or before it."""

    params = dict(steps={0: 0.0})
    every = "1min"

    def on_decision(self, ctx):
        ctx.target_position(BTC, self.steps[max(d for d in self.steps if d <= ctx.decision)])


def at(d: int) -> pd.Timestamp:
    return START + d * MIN


def orders_of(res):
    o = res.orders
    return o.assign(signed=o.side * o["size"])


# ============================================================================ TWAP
@pytest.mark.parametrize("inner", [Plan(plan={3: 8.0, 10: -4.0}), Steps(steps={0: 0.0, 3: 8.0, 10: -4.0})],
                         ids=["plan-only", "hybrid"])
def test_twap_slices_each_change_into_equal_orders_at_successive_decisions(inner):
    res = bt.run(Guarded(inner, execution=TWAP(slices=4)), FLAT, CFG)
    o = orders_of(res)
    assert list(o.sent_ts) == [at(d) for d in (3, 4, 5, 6, 10, 11, 12, 13)]
    np.testing.assert_allclose(o.signed, [2.0] * 4 + [-3.0] * 4, rtol=1e-12)
    assert o.signed.iloc[:4].sum() == pytest.approx(8.0) and o.signed.iloc[4:].sum() == pytest.approx(-12.0)
    assert (o.type == "market").all() and (o.status == "filled").all()


def test_twap_replans_the_rest_when_the_target_changes():
    # 8 from decision 3; at decision 5 (after two slices, +4) the target becomes 0: re-planned
    # from 4 over 4 fresh slices of -1
    res = bt.run(Guarded(Plan(plan={3: 8.0, 5: 0.0}), execution=TWAP(4)), FLAT, CFG)
    o = orders_of(res)
    assert list(o.sent_ts) == [at(d) for d in (3, 4, 5, 6, 7, 8)]
    np.testing.assert_allclose(o.signed, [2.0, 2.0, -1.0, -1.0, -1.0, -1.0], rtol=1e-12)


def test_twap_state_does_not_leak_between_runs():
    # the target changes at the last decision: the run ends with three slices still planned
    last = len(FLAT.trades) // 6 - 1
    make = lambda: Guarded(Plan(plan={last: 4.0}), execution=TWAP(4))
    g = make()
    bt.run(g, FLAT, CFG)
    assert g.execution.goals() == {BTC: 4.0}
    again, fresh = bt.run(g, FLAT, CFG), bt.run(make(), FLAT, CFG)
    cols = ["sent_ts", "side", "size"]
    pd.testing.assert_frame_equal(again.orders[cols], fresh.orders[cols])
    assert list(again.orders.sent_ts) == [at(last)]


# ============================================================================ limit then market
def test_limit_fills_as_maker_when_the_price_comes_through():
    prices = np.full(60, 100.0)
    prices[3 * 6 + 2] = 99.95  # 20 s after decision 3 a print goes through the bid at 99.99
    res = bt.run(Guarded(Plan(plan={3: 2.0}), execution=LimitThenMarket(offset_bps=1.0, patience=2)),
                 tape(prices), CFG)
    o, f = res.orders, res.fills
    assert len(o) == 1 and o.type.iloc[0] == "limit" and o.status.iloc[0] == "filled"
    assert o.limit_price.iloc[0] == pytest.approx(100.0 * (1 - 1e-4), rel=1e-12)
    assert len(f) == 1 and f.liquidity.iloc[0] == "maker" and f.price.iloc[0] == o.limit_price.iloc[0]
    assert f.ts.iloc[0] == START + (3 * 6 + 2) * STEP and f["size"].iloc[0] == pytest.approx(2.0)


@pytest.mark.parametrize("target, drift", [(2.0, +0.01), (-2.0, -0.01)], ids=["buy", "sell"])
def test_limit_falls_back_to_market_after_patience(target, drift):
    prices = 100.0 + drift * np.arange(60)  # always away from the resting limit: never filled
    res = bt.run(Guarded(Plan(plan={3: target}), execution=LimitThenMarket(offset_bps=1.0, patience=2)),
                 tape(prices), CFG)
    o = orders_of(res)
    assert list(o.type) == ["limit", "market"]
    limit, market = o.iloc[0], o.iloc[1]
    assert limit.sent_ts == at(3) and limit.status == "cancelled" and limit.filled == 0.0
    assert np.sign(limit.limit_price - prices[18]) == -np.sign(target)  # improved, not crossing
    assert market.sent_ts == at(5) and market.status == "filled"
    assert market.signed == pytest.approx(target)
    assert (res.fills.side * res.fills["size"]).sum() == pytest.approx(target)


def test_limit_partly_filled_falls_back_for_the_remainder():
    prices = np.full(60, 100.0)
    sizes = np.full(60, 1e6)
    prices[3 * 6 + 1], sizes[3 * 6 + 1] = 99.9, 0.5  # a small print through the bid: 0.5 of 2
    res = bt.run(Guarded(Plan(plan={3: 2.0}), execution=LimitThenMarket(offset_bps=1.0, patience=1)),
                 tape(prices, sizes), CFG)
    o = orders_of(res)
    assert list(o.type) == ["limit", "market"]
    assert o.status.iloc[0] == "cancelled" and o.filled.iloc[0] == pytest.approx(0.5)
    assert o.sent_ts.iloc[1] == at(4) and o.signed.iloc[1] == pytest.approx(1.5)
    assert (res.fills.side * res.fills["size"]).sum() == pytest.approx(2.0)


# ============================================================================ Guarded replays
class SecondMaCross(MaCross):
    every = "1s"


@pytest.fixture(scope="module")
def tape_real():
    return dl.sample("btcusdt-tape")  # real Binance minutes with the dydx latency trace


@pytest.mark.parametrize("make", [lambda: BuyAndHold(leverage=3.0),
                                  lambda: SecondMaCross(fast=5, slow=20, leverage=3.0)],
                         ids=["BuyAndHold", "MaCross"])
def test_guarded_without_controls_replays_the_fast_path_exactly(make, tape_real):
    cfg = bt.SimConfig(initial_cash=10_000.0)
    plain, inner = make(), make()
    a = bt.run(plain, tape_real, cfg)
    g = Guarded(inner)
    b = bt.run(g, tape_real, cfg)
    assert plain.plan_only and not g.plan_only
    cols = ["order_id", "ts", "side", "size", "price", "fee", "ack_ts", "final_ts"]
    assert len(a.fills) >= 1
    pd.testing.assert_frame_equal(a.fills[cols], b.fills[cols], check_exact=True)
    ocols = ["sent_ts", "arrive_ts", "side", "size", "status", "reason"]
    pd.testing.assert_frame_equal(a.orders[ocols], b.orders[ocols], check_exact=True)
    assert a.final_equity() == b.final_equity()
    assert list(inner.decision_times) == list(g.decision_times)


def test_guarded_passes_its_cadence_to_the_inner_strategy():
    inner = Plan(plan={1: 1.0})
    g = Guarded(inner, every="5min")
    res = bt.run(g, FLAT, CFG)
    assert g.every == "5min" and list(inner.decision_times) == list(pd.date_range(START, periods=6, freq="5min"))
    assert res.orders.sent_ts.iloc[0] == START + pd.Timedelta("5min")


def test_guarded_name_and_errors():
    assert Guarded(BuyAndHold(), execution=Immediate()).name == "BuyAndHold"
    assert Guarded(BuyAndHold(), execution=TWAP(3)).name == "BuyAndHold+TWAP(3)"
    assert Guarded(BuyAndHold()).params == {}
    with pytest.raises(TypeError, match="Execution"):
        Guarded(BuyAndHold(), execution="twap")
    with pytest.raises(ValueError, match="slices"):
        TWAP(0)
    with pytest.raises(ValueError, match="patience"):
        LimitThenMarket(patience=0)
    with pytest.raises(ValueError, match="every"):
        Guarded(BuyAndHold(), every="often")
