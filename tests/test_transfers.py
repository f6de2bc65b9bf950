"""Collateral transfers between venues: only final collateral moves, after the bridge delay."""
import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from data_loaders.synthetic import APP_CHAIN, OPTIMISTIC_ROLLUP

HOUR = pd.Timedelta("1h")


@pytest.fixture(scope="module")
def two_venues():
    return dl.synthetic(days=0.25, markets=("BTC-USD", "ETH-USD"), seed=11,
                        venues={"dydx": APP_CHAIN, "arb": OPTIMISTIC_ROLLUP}, trades_per_second=0.2)


def config(**kw):
    markets = {"BTC-USD": bt.Market.preset("BTC-USD", venue="dydx"),
               "ETH-USD": bt.Market.preset("ETH-USD", venue="arb")}
    return bt.SimConfig(initial_cash={"dydx": 10_000.0, "arb": 1_000.0}, markets=markets,
                        bridge_delay="20min", sample_every="1min", **kw)


class Bridge(bt.Strategy):
    """At the first decision: send ``amount`` from dydx to arb."""

    params = dict(amount=2_500.0)
    every = "1h"

    def init(self, data):
        self.sent = []

    def on_decision(self, ctx):
        if ctx.decision == 0:
            self.sent.append((ctx.ts, ctx.transfer(self.amount, "dydx", "arb")))


def test_transfer_leaves_at_once_and_arrives_after_the_bridge_delay(two_venues):
    strat = Bridge(amount=2_500.0)
    res = bt.run(strat, two_venues, config())
    t_sent, tid = strat.sent[0]
    tr = res.transfers.iloc[tid]
    assert tr.status == "arrived" and tr.amount == 2_500.0
    assert tr.arrive_ts - tr.sent_ts == pd.Timedelta("20min")
    led = res.ledger[res.ledger["kind"] == "transfer"]
    assert list(led["account"]) == ["dydx", "arb"]
    assert list(led["amount"]) == [-2_500.0, 2_500.0]
    assert list(led["ts"]) == [tr.sent_ts, tr.arrive_ts]
    # no position was ever opened: every equity sample is the whole initial cash, money on the
    # bridge included
    assert np.allclose(res.equity["equity"], 11_000.0)
    assert dict(zip(res.layout.accounts, res.engine.state.cash)) == {"dydx": 7_500.0, "arb": 3_500.0}


def test_more_than_the_free_collateral_is_rejected(two_venues):
    strat = Bridge(amount=10_000.01)
    res = bt.run(strat, two_venues, config())
    tr = res.transfers.iloc[0]
    assert tr.status == "rejected" and tr.withdrawable == pytest.approx(10_000.0)
    assert not (res.ledger["kind"] == "transfer").any()


class LongThenBridge(bt.Strategy):
    """Buy BTC on dydx at decision 0, try to move everything free at decision 1."""

    every = "1h"

    def init(self, data):
        self.tried = []

    def on_decision(self, ctx):
        if ctx.decision == 0:
            ctx.target_leverage("BTC-USD", 5.0)
        elif ctx.decision == 1:
            free = ctx.free_collateral("BTC-USD")
            self.tried.append(free)
            ctx.transfer(free * 1.01, "dydx", "arb")   # over the limit: rejected
            ctx.transfer(free * 0.5, "dydx", "arb")    # within it: sent


def test_withdrawable_is_capped_by_free_collateral(two_venues):
    strat = LongThenBridge()
    res = bt.run(strat, two_venues, config())
    assert list(res.transfers["status"]) == ["rejected", "arrived"]
    free = strat.tried[0]
    # final collateral: the free collateral, or less if cash (less unfinal gains) is smaller
    assert 0 < res.transfers["withdrawable"].iloc[0] <= free + 1e-9
