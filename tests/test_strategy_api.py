"""The user-facing API: Strategy params and cadence, fast path vs hybrid driver, Result frames,
stats, and the helpful errors of run(), Market and SimConfig."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from strategies import BuyAndHold, MaCross
from strategies._signals import _last_prices

BTC = "BTC-USD"
STATS_KEYS = ["total_return", "sharpe", "sortino", "max_drawdown", "fees", "slippage_cost", "funding", "gas",
              "liquidation_losses", "n_liquidations", "min_margin_ratio", "mean_time_to_finality_s",
              "worst_time_to_finality_s"]


# ============================================================================ params
class Base(bt.Strategy):
    params = dict(market=BTC, fast=10, slow=50)


class Child(Base):
    params = dict(slow=80, leverage=2.0)


def test_params_defaults_overrides_and_attribute_access():
    s = Base()
    assert s.params == {"market": BTC, "fast": 10, "slow": 50}
    assert (s.fast, s.slow, s.market) == (10, 50, BTC)
    o = Base(fast=3)
    assert o.fast == 3 and o.slow == 50
    assert Base().fast == 10, "an override leaks into the class defaults"
    assert Base.params == {"market": BTC, "fast": 10, "slow": 50}
    assert o.name == "Base(fast=3)" and s.name == "Base"
    assert repr(o) == "Base(market='BTC-USD', fast=3, slow=50)"
    with pytest.raises(AttributeError):
        o.nonexistent


def test_misspelt_param_suggests_the_close_match():
    with pytest.raises(TypeError, match=r"Base has no parameter 'sloww'; did you mean 'slow'\?"):
        Base(sloww=3)
    with pytest.raises(TypeError, match="did you mean 'leverage'"):
        MaCross(levrage=2.0)
    with pytest.raises(TypeError, match="no parameter 'zzz'.*known"):
        Base(zzz=1)


def test_subclass_params_merge_with_the_parents():
    c = Child()
    assert c.params == {"market": BTC, "fast": 10, "slow": 80, "leverage": 2.0}
    assert Child(fast=4, leverage=1.0).params == {"market": BTC, "fast": 4, "slow": 80, "leverage": 1.0}
    with pytest.raises(TypeError, match="did you mean 'fast'"):
        Child(fsat=1)


# ============================================================================ cadence
def _tape(first="2024-01-01 00:17:33", last="2024-01-01 05:42:10", n=400):
    ts = pd.date_range(first, last, periods=n, tz="UTC").floor("ms")
    px = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.05, n))
    return dl.Dataset(trades=pd.DataFrame({"ts": ts, "market": BTC, "price": px, "size": 1.0, "side": 1}))


class Recorder(bt.Strategy):
    every = "1h"

    def init(self, data):
        self.seen = []

    def on_decision(self, ctx):
        self.seen.append((ctx.decision, ctx.time))


@pytest.mark.parametrize("every", ["1h", "15min", "7min", "1D"])
def test_decisions_are_aligned_to_the_clock(every):
    ds = _tape(last="2024-01-02 05:42:10") if every == "1D" else _tape()
    first, last = pd.Timestamp("2024-01-01 00:17:33", tz="UTC"), ds.trades.column("ts")[-1].as_py()
    last = pd.Timestamp(last)
    strat = type("R", (Recorder,), {"every": every})()
    bt.run(strat, ds)
    expected = pd.date_range(first.ceil(every), last.floor(every), freq=every)
    assert [t for _, t in strat.seen] == list(expected)
    assert [d for d, _ in strat.seen] == list(range(len(expected)))
    assert list(strat.decision_times) == list(expected)
    if every == "1h":
        assert all(t.minute == 0 and t.second == 0 for _, t in strat.seen)
        assert strat.seen[0][1] == pd.Timestamp("2024-01-01 01:00", tz="UTC")


# ============================================================================ fast path vs hybrid
class HybridMaCross(MaCross):
    """MaCross deciding in on_decision with ctx.target_leverage (the hybrid driver)."""

    def init(self, data):
        if self.fast >= self.slow:
            raise ValueError("fast must be shorter than slow")
        px = _last_prices(data, self.market, self.decision_times)
        fast = px.rolling(self.fast, min_periods=self.fast).mean()
        slow = px.rolling(self.slow, min_periods=self.slow).mean()
        self.signal = (np.sign(fast - slow) * self.leverage).where(slow.notna()).to_numpy()

    def on_decision(self, ctx):
        value = self.signal[ctx.decision]
        if np.isfinite(value):
            ctx.target_leverage(self.market, value)


class FastMaCross(MaCross):
    every = "1s"


class FastHybridMaCross(HybridMaCross):
    every = "1s"


@pytest.fixture(scope="module")
def tape():
    return dl.sample("btcusdt-tape")


@pytest.fixture(scope="module")
def fast_and_hybrid(tape):
    cfg = bt.SimConfig(initial_cash=10_000.0)
    kw = dict(fast=5, slow=20, leverage=3.0)
    fast, hybrid = FastMaCross(**kw), FastHybridMaCross(**kw)
    rf = bt.run(fast, tape, cfg)
    rh = bt.run(hybrid, tape, cfg)
    assert fast.plan_only and not hybrid.plan_only
    return rf, rh


def test_fast_path_and_hybrid_give_identical_fills(fast_and_hybrid):
    rf, rh = fast_and_hybrid
    cols = ["order_id", "ts", "side", "size", "price", "trade_price", "fee", "slippage_cost", "ack_ts", "final_ts"]
    assert len(rf.fills) >= 5
    pd.testing.assert_frame_equal(rf.fills[cols], rh.fills[cols], check_exact=True)
    ocols = ["order_id", "sent_ts", "arrive_ts", "side", "size", "status", "reason", "filled"]
    pd.testing.assert_frame_equal(rf.orders[ocols], rh.orders[ocols], check_exact=True)
    assert rf.final_equity() == rh.final_equity()
    pd.testing.assert_frame_equal(rf.equity, rh.equity, check_exact=True)


# With a feed latency the fast path must size targets at the *observed* oracle, as ctx does
# (a look-ahead bug once used the oracle of the decision time itself).
def test_fast_path_and_hybrid_agree_with_a_feed_latency(tape):
    cfg = bt.SimConfig(initial_cash=10_000.0, feed_latency="2s")
    kw = dict(fast=5, slow=20, leverage=3.0)
    rf, rh = bt.run(FastMaCross(**kw), tape, cfg), bt.run(FastHybridMaCross(**kw), tape, cfg)
    cols = ["ts", "side", "size", "price"]
    pd.testing.assert_frame_equal(rf.fills[cols], rh.fills[cols], check_exact=True)


# ============================================================================ Result
def test_result_frames_have_tz_aware_times_and_names(fast_and_hybrid):
    res = fast_and_hybrid[0]
    frames = {"orders": res.orders, "fills": res.fills, "funding": res.funding,
              "liquidations": res.liquidations, "ledger": res.ledger, "equity": res.equity}
    for name, df in frames.items():
        assert isinstance(df, pd.DataFrame), name
    time_cols = {"orders": ["sent_ts", "arrive_ts"], "fills": ["ts", "ack_ts", "final_ts"], "funding": ["ts"],
                 "liquidations": ["ts"], "ledger": ["ts"]}
    for name, cols in time_cols.items():
        for c in cols:
            dt = frames[name][c].dtype
            assert isinstance(dt, pd.DatetimeTZDtype) and str(dt.tz) == "UTC", (name, c, dt)
    assert isinstance(res.equity.index, pd.DatetimeIndex) and str(res.equity.index.tz) == "UTC"
    assert {"equity", "margin_ratio", "drawdown"} <= set(res.equity.columns)
    assert set(res.fills.market) == {BTC} and set(res.fills.venue) == {"dydx"} and set(res.fills.account) == {"dydx"}
    assert set(res.fills.liquidity) <= {"maker", "taker", "liquidation"}
    assert set(res.orders.type) == {"market"} and set(res.orders.status) <= {"filled", "cancelled", "rejected", "open"}
    assert set(res.orders.reason) <= {"none", "insufficient_margin", "reduce_only"}
    assert set(res.ledger.kind) <= {"fee", "realized_pnl", "gas", "funding"}
    assert res.fills.ts.is_monotonic_increasing and (res.fills.ts >= res.fills.ts.iloc[0]).all()
    o = res.orders.set_index("order_id")
    assert (res.fills.ts.to_numpy() >= o.loc[res.fills.order_id, "sent_ts"].to_numpy()).all()


def test_stats_keys_all_finite(fast_and_hybrid):
    st = fast_and_hybrid[0].stats()
    assert isinstance(st, pd.Series)
    missing = [k for k in STATS_KEYS if k not in st.index]
    assert not missing
    bad = {k: st[k] for k in STATS_KEYS if not np.isfinite(float(st[k]))}
    assert not bad
    assert st["n_liquidations"] == 0 and st["mean_time_to_finality_s"] > 0
    assert st["worst_time_to_finality_s"] >= st["mean_time_to_finality_s"]
    assert st["max_drawdown"] <= 0 and st["min_margin_ratio"] > 1


def test_stats_finite_on_the_default_sample_too():
    ds = dl.sample().slice("2022-11-08", "2022-11-10")  # includes the 2022-11-09 outage, real funding
    res = bt.run(BuyAndHold(leverage=2.0), ds, bt.SimConfig(sample_every="1h"))
    st = res.stats()
    bad = {k: st[k] for k in STATS_KEYS if not np.isfinite(float(st[k]))}
    assert not bad
    assert st["funding"] != 0


# ============================================================================ errors
def test_run_rejects_a_strategy_class(tape):
    with pytest.raises(TypeError, match="Strategy instance.*did you forget to instantiate"):
        bt.run(BuyAndHold, tape)
    with pytest.raises(TypeError, match="Strategy instance"):
        bt.run("BuyAndHold", tape)


def test_market_presets():
    for name in ("BTC-USD", "ETH-USD"):
        m = bt.Market.preset(name)
        assert (m.imf, m.mmf) == (0.02, 0.012) and m.name == name
    sol = bt.Market.preset("SOL-USD")
    assert (sol.imf, sol.mmf) == (0.05, 0.03)
    tail = bt.Market.preset("PEPE-USD")
    assert (tail.imf, tail.mmf) == (0.20, 0.10)
    for m in (bt.Market.preset("BTC-USD"), sol, tail):
        assert (m.taker_fee, m.maker_fee) == (0.0005, 0.0001)
    assert bt.Market.preset("SOL-USD", taker_fee=0.0004).taker_fee == 0.0004
    assert bt.SimConfig().market("ETH-USD") == bt.Market.preset("ETH-USD")


def test_misspelt_market_and_config_fields_suggest_close_matches():
    with pytest.raises(TypeError, match="did you mean 'taker_fee'"):
        bt.Market.preset("BTC-USD", taker_fe=0.001)
    with pytest.raises(TypeError, match="did you mean 'taker_fee'"):
        bt.Market.preset("BTC-USD").with_(taker_fe=0.001)
    with pytest.raises(TypeError, match="did you mean 'latency_scale'"):
        bt.SimConfig().with_(latency_scal=2.0)


@pytest.mark.parametrize("make, field", [(lambda: bt.SimConfig(latency_scal=2.0), "latency_scale"),
                                         (lambda: bt.Market("BTC-USD", taker_fe=0.001), "taker_fee")],
                         ids=["SimConfig", "Market"])
def test_misspelt_constructor_keyword_suggests_close_match(make, field):
    with pytest.raises(TypeError, match=f"did you mean '{field}'"):
        make()


class LiveCheck(bt.Strategy):
    """Rests a far limit buy at the first decision, checks it at the next ones, cancels once."""

    every = "30s"

    def init(self, data):
        self.seen = []
        self.oid = None

    def on_decision(self, ctx):
        if self.oid is None:
            self.oid = ctx.submit("BTC-USD", 0.001, limit=ctx.price("BTC-USD") * 0.5)
            self.seen.append(("queued", ctx.is_live(self.oid)))
            with pytest.raises(KeyError, match="no order 99"):
                ctx.is_live(99)
            return
        live = ctx.is_live(self.oid)
        self.seen.append(("later", live))
        if live:
            ctx.cancel(self.oid)


# Catches: is_live answering from a stale status (an order cancelled or queued in this decision),
# or disagreeing with open_orders.
def test_is_live_follows_the_order(tape):
    s = LiveCheck()
    res = bt.run(s, tape)
    assert s.seen[0] == ("queued", True)  # queued in this decision: live
    later = [live for what, live in s.seen[1:]]
    assert later[0] is True and len(later) > 2 and not any(later[1:])  # cancelled at the 2nd decision
    assert res.orders.iloc[0]["status"] == "cancelled"
