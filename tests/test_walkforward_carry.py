"""`walk_forward(carry=True)`: one continuous account whose strategy switches at each test
window's start. It equals a run built by hand from the folds' choices, carries positions across
a boundary (flat mode does not), and no choice sees data after its training window."""
import warnings

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from backtester.sweep import walk_forward
from backtester.sweep.walkforward_carry import Fold, fold_switch
from tests.test_walkforward import _poison

T0 = pd.Timestamp("2022-11-08 00:00", tz="UTC")
WINDOWS = dict(train="3h", test="2h", start=T0)
GRID = {"leverage": [-2.0, 0.0, 2.0]}
BTC = "BTC-USD"

pytestmark = pytest.mark.filterwarnings("ignore::backtester.RejectedOrdersWarning")


class Hold(bt.Strategy):
    """A fixed leverage, restated at every decision (plan-only)."""

    params = dict(leverage=0.0)
    every = "10min"

    def init(self, data):
        self.set_targets(BTC, np.full(len(self.decision_times), float(self.leverage)), kind="leverage")


class HoldHybrid(bt.Strategy):
    """Hold, deciding in Python at each decision."""

    params = dict(leverage=0.0)
    every = "10min"

    def on_decision(self, ctx):
        ctx.target_leverage(BTC, float(self.leverage))


class Schedule(bt.Strategy):
    """Explicit leverage targets at explicit times: the hand-built run."""

    params = dict(targets=None)

    def init(self, data):
        self.set_targets(BTC, np.asarray(self.targets, float), kind="leverage")


@pytest.fixture(scope="module")
def data():
    return dl.sample().slice("2022-11-08 00:00", "2022-11-08 12:00")


@pytest.fixture(scope="module")
def carried(data):
    return walk_forward(Hold, GRID, data, metric="sharpe", carry=True, **WINDOWS)


@pytest.fixture(scope="module")
def flat(data):
    return walk_forward(Hold, GRID, data, metric="sharpe", **WINDOWS)


def test_carry_equals_a_hand_built_run(data, carried):
    folds = carried.folds
    assert folds["leverage"].nunique() > 1  # the choice changes between folds
    times = carried.result.strategy.decision_times
    lev = np.full(len(times), np.nan)
    for _, f in folds.iterrows():
        inside = (times >= f.test_start) & (times < f.test_end)
        assert inside.sum() == (f.test_end - f.test_start) / pd.Timedelta("10min")  # every 10 minutes
        lev[inside] = f.leverage
    assert not np.isnan(lev).any()
    lo, hi = folds["test_start"].iloc[0], folds["test_end"].iloc[-1]
    by_hand = bt.run(Schedule(targets=lev, every=times), data.slice(lo, hi))
    pd.testing.assert_frame_equal(carried.result.equity, by_hand.equity)
    pd.testing.assert_frame_equal(carried.result.fills, by_hand.fills)
    assert list(carried.equity.index) == list(by_hand.equity.index)
    np.testing.assert_array_equal(carried.equity.to_numpy(), by_hand.equity["equity"].to_numpy())
    # a fold's out-of-sample metric is its window's part of the continuous equity
    eq = by_hand.equity["equity"]
    for _, f in folds.iterrows():
        before = eq[eq.index < f.test_start]
        start_eq = before.iloc[-1] if len(before) else 10_000.0
        inside = eq[(eq.index >= f.test_start) & (eq.index < f.test_end)]
        r = np.diff(inside.to_numpy()) / inside.to_numpy()[:-1]
        per_year = pd.Timedelta(days=365) / by_hand.sample_every
        assert f.oos_metric == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(per_year), rel=1e-9)
        assert start_eq > 0


def test_position_is_carried_across_a_boundary_not_flattened(carried, flat):
    folds, fills = carried.folds, carried.result.fills
    pos, ts = fills["size"] * fills["side"], pd.to_datetime(fills["ts"])
    for k in range(1, len(folds)):
        t = folds["test_start"].iloc[k]
        held = float(pos[ts < t].sum())
        prev, now = folds["leverage"].iloc[k - 1], folds["leverage"].iloc[k]
        assert np.sign(held) == np.sign(prev)  # the previous choice's position is still open
        if prev == now != 0:  # same choice: nothing to trade at the boundary (flat mode buys again)
            assert not ((ts >= t) & (ts < folds["test_end"].iloc[k])).any()
    # the equity goes on: no reset to the initial cash at a boundary
    assert carried.result is not None and flat.result is None
    assert carried.stats()["n_fills"] < flat.stats()["n_fills"]
    assert not np.isclose(carried.total_return, flat.total_return)
    pd.testing.assert_frame_equal(carried.folds[["fold", "leverage", "is_metric"]],
                                  flat.folds[["fold", "leverage", "is_metric"]])


def test_hybrid_inner_strategies_switch_by_time(data, carried):
    hybrid = walk_forward(HoldHybrid, GRID, data, metric="sharpe", carry=True, **WINDOWS)
    assert not hybrid.result.strategy.plan_only
    pd.testing.assert_frame_equal(hybrid.folds, carried.folds)
    pd.testing.assert_frame_equal(hybrid.result.fills, carried.result.fills)
    np.testing.assert_allclose(hybrid.equity.to_numpy(), carried.equity.to_numpy(), rtol=1e-12)


def test_inner_strategies_warm_up_on_their_training_window(data):
    # a BuyAndHold states its target once, at its first decision, which falls in its warm-up:
    # the test window's first decision still moves the account to it (the target it stands at)
    from strategies import BuyAndHold

    t = [T0 + pd.Timedelta(hours=h) for h in range(5)]
    folds = [Fold(BuyAndHold(leverage=1.0, every="10min"), t[0], t[2], t[3]),
             Fold(None, t[1], t[3], t[4])]
    switch = fold_switch(folds, data)
    res = bt.run(switch, data.slice(t[2], t[4]))
    assert len(switch.decision_times) == 6 and switch.decision_times.max() < t[3]  # none in the no-winner fold
    fills = res.fills
    assert len(fills) == 1 and fills["ts"].iloc[0] >= t[2]     # bought at the test window's start
    assert res.engine.state.pos[0] == fills["size"].iloc[0] > 0    # and held through the fold without a winner


def test_carry_refuses_config_fields_in_the_grid(data):
    with pytest.raises(ValueError, match="carry=True"):
        walk_forward(Hold, {**GRID, "slippage_multiplier": [1.0, 2.0]}, data, carry=True, **WINDOWS)


@pytest.mark.parametrize("k", [0, 2])
def test_no_look_ahead_poisoned_future_carry(data, carried, k):
    cut = carried.folds["train_end"].iloc[k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        poisoned = walk_forward(Hold, GRID, _poison(data, cut), metric="sharpe", carry=True, **WINDOWS)
    cols = ["fold", "train_start", "train_end", "leverage", "is_metric", "n_ok"]
    pd.testing.assert_frame_equal(poisoned.folds[cols].iloc[:k + 1], carried.folds[cols].iloc[:k + 1])
    before = carried.equity.index < cut
    pd.testing.assert_series_equal(poisoned.equity[before], carried.equity[before])
    assert not np.allclose(poisoned.equity.to_numpy(), carried.equity.to_numpy())


def test_gaps_between_test_windows_hold_the_position(data):
    # step 3h > test 2h: an hour between test windows with no decision; the position is held
    # (and marked: the equity has samples there)
    wf = walk_forward(Hold, GRID, data, metric="sharpe", carry=True, step="3h", **WINDOWS)
    folds, res = wf.folds, wf.result
    times = res.strategy.decision_times
    gaps = list(zip(folds["test_end"].iloc[:-1], folds["test_start"].iloc[1:]))
    assert gaps and all(b - a == pd.Timedelta("1h") for a, b in gaps)
    ts = pd.to_datetime(res.fills["ts"])
    for a, b in gaps:
        assert not ((times >= a) & (times < b)).any()
        assert not ((ts >= a) & (ts < b)).any()
        assert ((wf.equity.index >= a) & (wf.equity.index < b)).sum() > 0
    assert wf.total_return == res.stats()["total_return"] == wf.stats()["total_return"]
