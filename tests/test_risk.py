"""Risk controls (strategies/risk.py) through `Guarded`, on hand-built tapes whose right answer
is known by construction: one market, a trade every 10 s, no fees, spread or impact, no
latency, the oracle following trades, decisions every minute. Expected times and sizes are
computed by hand from the price path (or read from a run without the control), never from
the control under test."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from strategies import BuyAndHold
from strategies.guarded import Guarded
from strategies.risk import (
    CollateralBuffer,
    DrawdownKillSwitch,
    MarginGuard,
    MaxTradeLoss,
)

BTC = "BTC-USD"
CASH = 10_000.0
START = pd.Timestamp("2024-01-01", tz="UTC")
STEP = pd.Timedelta("10s")
MIN = pd.Timedelta("1min")
FREE = bt.Market.preset(BTC, taker_fee=0.0, maker_fee=0.0, half_spread=0.0, impact=0.0)
CFG = bt.SimConfig(initial_cash=CASH, markets={BTC: FREE})


def tape(prices) -> dl.Dataset:
    """One trade every 10 s from START at ``prices`` (big sizes, so nothing depends on them)."""
    prices = np.asarray(prices, float)
    ts = START + STEP * np.arange(len(prices))
    return dl.Dataset(trades=pd.DataFrame({"ts": ts, "market": BTC, "price": prices, "size": 1e6, "side": 1}))


def decisions(n_trades: int) -> pd.DatetimeIndex:
    return pd.date_range(START, START + STEP * (n_trades - 1), freq="1min")


def seen_price(prices, t: pd.Timestamp) -> float:
    """The last trade at or before ``t`` (what a decision at ``t`` sees, zero feed latency)."""
    return float(prices[(t - START) // STEP])


def position_after(res, t) -> float:
    f = res.fills[res.fills.ts <= t]
    return float((f.side * f["size"]).sum())


class Hold(bt.Strategy):
    """Hybrid: asks for ``leverage`` every decision, ``flip_at`` onward for ``-leverage``."""

    params = dict(leverage=5.0, flip_at=10**9)
    every = "1min"

    def on_decision(self, ctx):
        sign = 1.0 if ctx.decision < self.flip_at else -1.0
        ctx.target_leverage(BTC, sign * self.leverage)


# ============================================================================ kill switch
DECLINE = 100.0 * (1.0 - 0.0005 * np.arange(360))  # -0.05 % per trade for an hour


def expected_kill(prices, leverage, max_dd):
    """First decision whose drawdown (equity / peak of decision equities - 1) <= -max_dd, by
    hand: bought leverage x cash at the first decision's price, filled at the next trade."""
    size = leverage * CASH / prices[0]
    entry = prices[1]
    peak = -np.inf
    for t in decisions(len(prices)):
        equity = CASH + (size * (seen_price(prices, t) - entry) if t > START else 0.0)
        peak = max(peak, equity)
        if equity / peak - 1.0 <= -max_dd:
            return t, equity
    return None, None


def test_kill_switch_fires_at_its_threshold_flattens_and_stops():
    data = tape(DECLINE)
    t_fire, eq_fire = expected_kill(DECLINE, 5.0, 0.2)
    assert t_fire is not None and START < t_fire < decisions(360)[-1]
    plain = bt.run(BuyAndHold(market=BTC, leverage=5.0), data, CFG)
    eq = plain.equity["equity"]  # the engine's own equity at each decision (sampled before it)
    dd = eq / eq.cummax() - 1.0
    assert dd[dd <= -0.2].index[0] == t_fire
    assert dd[dd.index < t_fire].min() > -0.2  # not one decision earlier

    kill = DrawdownKillSwitch(max_drawdown=0.2)
    g = Guarded(BuyAndHold(market=BTC, leverage=5.0), [kill])
    res = bt.run(g, data, CFG)
    assert kill.fired_at == t_fire
    assert kill.fired_equity == pytest.approx(eq_fire, rel=1e-9)
    o = res.orders
    assert len(o) == 2 and o.sent_ts.iloc[1] == t_fire and bool(o.reduce_only.iloc[1])
    assert (o.sent_ts <= t_fire).all(), "an order was sent after the kill switch fired"
    assert position_after(res, t_fire) != 0.0 and position_after(res, res.fills.ts.max()) == 0.0
    after = res.equity["equity"][res.equity.index > t_fire + pd.Timedelta("1min")]
    assert np.ptp(after.to_numpy()) == 0.0  # flat: equity no longer moves with the price
    assert g.name == "BuyAndHold(leverage=5.0)+KillSwitch(20%)"


def test_kill_switch_cancels_resting_orders():
    class RestingBid(Hold):
        def on_decision(self, ctx):
            if ctx.decision == 0:
                ctx.target_leverage(BTC, 5.0)
            elif ctx.decision == 1:
                ctx.submit(BTC, 1.0, limit=1.0)  # far below: rests until cancelled

    kill = DrawdownKillSwitch(0.2)
    res = bt.run(Guarded(RestingBid(), [kill]), tape(DECLINE), CFG)
    bid = res.orders[res.orders.type == "limit"].iloc[0]
    assert bid.status == "cancelled" and bid.done_ts == kill.fired_at


# ============================================================================ margin guard
SLOW_CRASH = 100.0 * (1.0 - 0.15 * np.arange(1801) / 1800)  # -15 % over 5 hours


def test_margin_guard_prevents_a_liquidation_that_happens_without_it():
    data = tape(SLOW_CRASH)
    plain = bt.run(BuyAndHold(market=BTC, leverage=10.0), data, CFG)
    assert len(plain.liquidations) > 0, "the scenario must liquidate an unguarded 10x long"

    guard = MarginGuard(threshold=3.0, restore=5.0)
    res = bt.run(Guarded(BuyAndHold(market=BTC, leverage=10.0), [guard]), data, CFG)
    assert len(res.liquidations) == 0
    assert len(guard.cuts) >= 2

    # first cut: at the first decision where the unguarded run's ratio is below 3 (both runs
    # are the same until then), keeping ratio / 5 of the position
    ratio = plain.equity["margin_ratio"]
    first = ratio[ratio < 3.0].index[0]
    t, _, seen, keep = guard.cuts[0]
    assert t == first and seen == pytest.approx(ratio[first], rel=1e-9) and keep == pytest.approx(seen / 5.0)
    cut = res.orders[res.orders.sent_ts == first]
    assert len(cut) == 1 and bool(cut.reduce_only.iloc[0]) and cut.side.iloc[0] == -1
    held = position_after(res, first)
    assert cut["size"].iloc[0] == pytest.approx(held * (1.0 - seen / 5.0), rel=1e-9)

    # the ratio recovers to about `restore` after every cut and never nears liquidation
    r = res.equity["margin_ratio"]
    for t, *_ in guard.cuts:
        assert r[t + pd.Timedelta("1min")] > 4.5
    held_ratio = r[np.isfinite(r)]
    assert held_ratio.min() > 2.5


def test_margin_guard_does_not_cut_again_while_its_cut_waits_for_the_venue():
    # the ratio crosses 3 during an outage: the cut is queued, the venue's positions do not
    # change, and later decisions in the outage must not cut the same exposure again
    n = 6 * 130
    prices = np.concatenate([np.linspace(100.0, 93.0, 6 * 70), np.full(n - 6 * 70, 93.0)])
    down, up = START + 60 * MIN, START + 100 * MIN
    trace = pd.DataFrame({"ts": [START, down, up], "venue": "dydx", "order_latency": pd.Timedelta(0),
                          "ack_latency": pd.Timedelta(0), "finality": pd.Timedelta(0),
                          "up": [True, False, True], "gas_fee": 0.0})
    data = dl.Dataset(trades=tape(prices).trades, latency=trace)
    guard = MarginGuard(threshold=3.0, restore=5.0)
    res = bt.run(Guarded(BuyAndHold(market=BTC, leverage=10.0), [guard]), data, CFG)
    assert len(guard.cuts) == 1 and down < guard.cuts[0][0] < up
    cut = res.orders.iloc[1]
    assert bool(cut.reduce_only) and res.fills.ts.iloc[1] >= up
    # about `restore` (the price fell a little further after the cut was decided); cutting at
    # every decision of the outage would leave almost nothing and a ratio in the hundreds
    assert 4.0 < res.equity["margin_ratio"][up + MIN] < 5.5
    assert len(res.liquidations) == 0


def test_margin_guard_caps_new_targets_at_restore():
    # 40x asks for a ratio of 1 / (40 * MMF) = 2.08; the guard allows 1 / (5 * MMF) = 16.7x
    guard = MarginGuard(threshold=3.0, restore=5.0)
    prices = np.full(60, 100.0)
    res = bt.run(Guarded(BuyAndHold(market=BTC, leverage=40.0), [guard]), tape(prices), CFG)
    size = res.fills["size"].iloc[0]
    assert size == pytest.approx(CASH / 5.0 / FREE.mmf / 100.0, rel=1e-9)
    assert res.equity["margin_ratio"].iloc[-1] == pytest.approx(5.0, rel=1e-9)
    assert guard.cuts == []


# ============================================================================ max trade loss
def test_max_trade_loss_closes_at_the_loss_and_does_not_reopen_until_the_signal_flips():
    prices = DECLINE
    flip = 30
    loss = MaxTradeLoss(max_loss=0.02)
    res = bt.run(Guarded(Hold(leverage=5.0, flip_at=flip), [loss]), tape(prices), CFG)

    # by hand: long 5x cash at the first decision's price, filled at the next trade
    size, entry = 5.0 * CASH / prices[0], prices[1]
    times = decisions(len(prices))
    upnl = np.array([size * (seen_price(prices, t) - entry) if t > START else 0.0 for t in times])
    hit = np.flatnonzero(upnl < -0.02 * (CASH + upnl))[0]
    t_exit = times[hit]
    assert [e[0] for e in loss.exits] == [t_exit]
    assert loss.exits[0][2] == pytest.approx(upnl[hit], rel=1e-9)

    o = res.orders
    close = o[o.sent_ts == t_exit]
    assert len(close) == 1 and bool(close.reduce_only.iloc[0]) and close.side.iloc[0] == -1
    k = (t_exit - START) // STEP  # the close fills at the next trade
    realized = res.ledger[(res.ledger.kind == "realized_pnl") & (res.ledger.account == "dydx")].amount.sum()
    assert realized == pytest.approx(size * (prices[k + 1] - entry), rel=1e-9)
    # about the limit: past it by at most one decision interval (6 trades) plus the fill's step
    limit = 0.02 * (CASH + upnl[hit])
    assert limit < -realized <= limit + 7 * size * prices[0] * 0.0005
    # flat and out until the strategy's desire changes sign at decision `flip`
    between = o[(o.sent_ts > t_exit) & (o.sent_ts < times[flip])]
    assert between.empty, "the losing side was re-opened"
    assert position_after(res, times[flip]) == 0.0
    short = o[o.sent_ts == times[flip]]
    assert len(short) == 1 and short.side.iloc[0] == -1 and not bool(short.reduce_only.iloc[0])
    assert position_after(res, times[flip] + STEP) < 0


# ============================================================================ collateral buffer
def test_collateral_buffer_keeps_free_collateral_at_every_decision():
    buffer = 0.5
    n = 6 * 180  # three hours: down 3 %, up 3 %, down 3 %
    legs = np.concatenate([np.linspace(0, -0.03, n // 3), np.linspace(-0.03, 0, n // 3), np.linspace(0, -0.03, n // 3)])
    prices = 100.0 * (1.0 + legs)
    data = tape(prices)

    def free_share(res):
        e = res.equity
        e = e[e.index > START]  # from the first decision that holds a position
        return 1.0 - e["imr"] / e["equity"]

    plain = bt.run(BuyAndHold(market=BTC, leverage=40.0), data, CFG)
    assert free_share(plain).min() < 0.25  # 40x: the requirement eats 80 % of equity

    res = bt.run(Guarded(BuyAndHold(market=BTC, leverage=40.0), [CollateralBuffer(buffer)]), data, CFG)
    # the first target is capped so that IMR = (1 - buffer) x equity: 25x instead of 40x
    assert res.fills["size"].iloc[0] == pytest.approx((1 - buffer) * CASH / FREE.imf / prices[0], rel=1e-9)
    # at each decision (sampled before it acts): within the band, plus one minute of drift
    band = CFG.rebalance_band
    drift = 25 * 0.03 / (n // 3) * 6 * 1.5  # leverage x price move per minute, with margin
    share = free_share(res)
    assert share.min() >= 1 - (1 - buffer) * (1 + band) * (1 + drift)
    assert share.min() < buffer  # the price path does push it under the buffer...
    assert len(res.orders) > 1  # ...and the control sold to restore it


# ============================================================================ state
@pytest.mark.parametrize("make", [
    lambda: Guarded(BuyAndHold(market=BTC, leverage=5.0), [DrawdownKillSwitch(0.2)]),
    lambda: Guarded(Hold(leverage=5.0), [MaxTradeLoss(0.02)]),
], ids=["kill-switch", "max-loss"])
def test_controls_do_not_leak_state_between_runs(make):
    rising = tape(100.0 * (1.0 + 0.0005 * np.arange(360)))
    g = make()
    first = bt.run(g, tape(DECLINE), CFG)
    control = g.controls[0]
    assert getattr(control, "fired_at", None) is not None or getattr(control, "exits", None)
    second = bt.run(g, rising, CFG)
    fresh = bt.run(make(), rising, CFG)
    assert getattr(control, "fired_at", None) is None and not getattr(control, "exits", None)
    cols = ["order_id", "sent_ts", "side", "size", "status"]
    pd.testing.assert_frame_equal(second.orders[cols], fresh.orders[cols])
    assert len(second.orders) >= 1 and len(first.orders) >= 2


@pytest.mark.parametrize("make, match", [
    (lambda: MarginGuard(threshold=3.0, restore=2.0), "restore"),
    (lambda: DrawdownKillSwitch(max_drawdown=1.5), "max_drawdown"),
    (lambda: MaxTradeLoss(max_loss=0.0), "max_loss"),
    (lambda: CollateralBuffer(buffer=1.0), "buffer"),
    (lambda: Guarded(BuyAndHold, []), "instantiate"),
    (lambda: Guarded(BuyAndHold(), [object()]), "RiskControl"),
])
def test_bad_settings_are_clear_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_market_specs_are_built_once_per_run_not_per_decision(monkeypatch):
    # the guards read IMF / MMF at every decision (Context.market_spec, Context.requirement):
    # the run builds each Market once instead of rebuilding and revalidating it every time
    calls = []
    market = bt.SimConfig.market
    monkeypatch.setattr(bt.SimConfig, "market", lambda self, name: calls.append(name) or market(self, name))
    guard = MarginGuard(threshold=3.0, restore=5.0)
    cfg = bt.SimConfig(initial_cash=CASH, market_overrides=dict(taker_fee=0.0, maker_fee=0.0, half_spread=0.0,
                                                                impact=0.0))
    res = bt.run(Guarded(BuyAndHold(market=BTC, leverage=10.0), [guard]), tape(SLOW_CRASH), cfg)
    assert len(guard.cuts) >= 2 and len(res.equity) > 100  # the guard decided and cut many times
    assert calls.count(BTC) <= 3
