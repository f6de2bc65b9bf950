"""The ready-made strategies on data where the right behaviour is known by construction, plus
runs on the bundled sample.

Hand-built datasets: one trade a minute (or every 10 s) at prices we choose, the oracle derived
from trades, funding rows we choose, no latency trace (zero latency, always up). Expected
values are computed here from the construction, never by calling the strategy code again.
"""
from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import backtester as bt
import data_loaders as dl
from strategies import BuyAndHold, FundingCarry, HedgedCarry, MaCross, MeanReversion, TrendFollowing, leg_pnl
from strategies._signals import liquidation_cap, rolling_mean

BTC, HEDGE = "BTC-USD", "BTC-USD@b"
START = pd.Timestamp("2024-01-01", tz="UTC")
CASH = 10_000.0


# ============================================================================ builders
def trades(prices, step="1min", market=BTC, start=START) -> pd.DataFrame:
    """One trade per ``step`` at ``prices`` (size 1, alternating sides)."""
    n = len(prices)
    return pd.DataFrame({"ts": start + pd.to_timedelta(np.arange(n) * pd.Timedelta(step).value, "ns"),
                         "market": market, "price": np.asarray(prices, float), "size": 1.0,
                         "side": np.where(np.arange(n) % 2 == 0, 1, -1)})


def funding(rates, market=BTC, start=START) -> pd.DataFrame:
    """Hourly funding rows from ``start`` (oracle_price null: paid at the oracle in force)."""
    return pd.DataFrame({"ts": start + pd.to_timedelta(np.arange(len(rates)), "h"), "market": market,
                         "rate": np.asarray(rates, float)})


def frictionless(name=BTC, **kw) -> bt.Market:
    return bt.Market.preset(name, taker_fee=0.0, maker_fee=0.0, half_spread=0.0, impact=0.0, **kw)


LOW_H, HIGH_H = 48, 12  # hours of steady funding, then hours of extreme funding


def carry_rates(sign=1.0, seed=0):
    """Steady 1e-5 per hour (tiny noise, so the z-score is defined) for 48 h, then 1e-4."""
    noise = np.random.default_rng(seed).normal(0.0, 1e-7, LOW_H + HIGH_H)
    return sign * (np.r_[np.full(LOW_H, 1e-5), np.full(HIGH_H, 1e-4)] + noise)


def position_at(res, market, times) -> np.ndarray:
    """Position held at each time, rebuilt from Result.fills."""
    f = res.fills
    f = f[(f["market"] == market) & ~f["reverted"]].sort_values("ts")
    cum = np.r_[0.0, np.cumsum((f["side"] * f["size"]).to_numpy())]
    return cum[np.searchsorted(f["ts"].to_numpy(), pd.DatetimeIndex(times).to_numpy(), side="right")]


# ============================================================================ funding carry
CARRY_KW = dict(base_risk_cap=20_000.0, max_leverage=3.0, z_slope=0.0, min_rate=5e-5, z_window=168,
                target_vol=100.0)  # size = base_risk_cap exactly (no vol or z scaling) by construction


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_funding_carry_collects_the_funding_it_was_built_for(sign):
    rates = carry_rates(sign)
    n_min = (LOW_H + HIGH_H) * 60
    ds = dl.Dataset(trades=trades(np.full(n_min, 20_000.0)), funding=funding(rates))
    res = bt.run(FundingCarry(**CARRY_KW), ds, bt.SimConfig(initial_cash=CASH))

    # the jump row at hour 48 is seen by the decision at hour 48 (ts <= t): one order, filled at
    # the next minute's trade, on the side that receives funding: short when longs pay
    (fill,) = res.fills.itertuples()
    jump = START + pd.Timedelta(hours=LOW_H)
    assert fill.ts == jump + pd.Timedelta("1min")
    assert fill.side == -sign and fill.size == pytest.approx(20_000.0 / 20_000.0)
    # held through the extreme stretch (its z stays above z_exit: at most 11 of 59 rows are high)
    fu = res.funding[res.funding["position"] != 0]
    assert list(fu["ts"]) == list(jump + pd.to_timedelta(np.arange(1, HIGH_H), "h"))
    assert (np.sign(fu["position"]) == -sign).all()
    # rate x notional x hours held, by hand: 1 BTC at a constant 20,000
    expected = float(np.sum(np.abs(rates[LOW_H + 1:]) * 20_000.0))
    got = res.ledger.loc[res.ledger["kind"] == "funding", "amount"].sum()
    assert got > 0 and got == pytest.approx(expected, rel=1e-9)


def test_funding_carry_sizes_by_the_funding_aware_rule_and_caps_leverage():
    # a z-score far past z_threshold shrinks the size: multiplier 1 + z_slope * (|z| - threshold)
    rates = carry_rates()
    ds = dl.Dataset(trades=trades(np.full((LOW_H + HIGH_H) * 60, 20_000.0)), funding=funding(rates))
    past = rates[:LOW_H]  # all 48 earlier rows are inside the 168-row window
    z = (rates[LOW_H] - past.mean()) / past.std(ddof=1)
    kw = dict(CARRY_KW, z_slope=0.001, z_threshold=2.0, rebalance=10.0)  # rebalance: entry size only
    res = bt.run(FundingCarry(**kw), ds, bt.SimConfig(initial_cash=CASH))
    expected = 20_000.0 / (1.0 + 0.001 * (abs(z) - 2.0))
    assert res.fills["size"].iloc[0] * 20_000.0 == pytest.approx(expected, rel=1e-6)
    # max_leverage binds when the risk cap is above it: 1.5 x 10,000
    res = bt.run(FundingCarry(**dict(CARRY_KW, max_leverage=1.5)), ds, bt.SimConfig(initial_cash=CASH))
    assert res.fills["size"].iloc[0] * 20_000.0 == pytest.approx(15_000.0, rel=1e-9)


# ============================================================================ hedged carry
def _hedge_dataset(seed=3):
    n_min = (LOW_H + HIGH_H) * 60
    rng = np.random.default_rng(seed)
    drift = np.clip(np.arange(n_min) - LOW_H * 60, 0, None) * (0.03 / (HIGH_H * 60))  # +3 % once held
    path = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 4e-4, n_min)) + drift)  # a random walk, ~+-2 %
    tr = pd.concat([trades(path, market=BTC), trades(path, market=HEDGE)]).sort_values("ts", kind="stable")
    fu = pd.concat([funding(carry_rates()), funding(np.zeros(LOW_H + HIGH_H), market=HEDGE)])
    return dl.Dataset(trades=tr, funding=fu.sort_values("ts", kind="stable")), path


@pytest.mark.parametrize("ratio", [1.0, 0.5])
def test_hedged_carry_on_a_second_venue_nets_price_and_keeps_funding(ratio):
    ds, path = _hedge_dataset()
    # the same underlying on a second venue "b": its own account (and cash), its own market name
    cfg = bt.SimConfig(initial_cash=CASH, markets={HEDGE: bt.Market.preset(HEDGE, venue="b")})
    res = bt.run(HedgedCarry(hedge_market=HEDGE, hedge_ratio=ratio, **CARRY_KW), ds, cfg)

    f = res.fills
    carry, hedge = f[f["market"] == BTC], f[f["market"] == HEDGE]
    assert len(carry) == 1 and len(hedge) == 1
    c, h = carry.iloc[0], hedge.iloc[0]
    assert c["side"] == -1 and h["side"] == 1  # carry short (positive funding), hedge long
    assert h["size"] * h["trade_price"] == pytest.approx(ratio * c["size"] * c["trade_price"], rel=1e-9)
    assert c["ts"] == h["ts"]  # identical tapes: both legs fill against the same print

    legs = leg_pnl(res)
    assert set(legs.index) == {BTC, HEDGE}
    # identical price paths: the hedge's price P&L is -ratio times the carry's, nothing else
    carry_price = legs.loc[BTC, "price_pnl"]
    assert abs(carry_price) > 20.0, "the path should move the unhedged leg"
    assert legs.loc[HEDGE, "price_pnl"] == pytest.approx(-ratio * carry_price, rel=1e-6)
    # the funding earned remains: the carry leg's by hand, rate x notional over the hours held
    size = c["size"]
    hours = START + pd.to_timedelta(np.arange(LOW_H + 1, LOW_H + HIGH_H), "h")
    # paid at the oracle in force just before the hour's own trade (step 2 precedes step 3)
    marks = path[((hours - START) // pd.Timedelta("1min")).to_numpy() - 1]
    expected = float(np.sum(carry_rates()[LOW_H + 1:] * size * marks))
    assert legs.loc[BTC, "funding"] == pytest.approx(expected, rel=1e-9)
    assert legs.loc[HEDGE, "funding"] == 0.0
    # the split adds up to the run's P&L (two venues: 2 x initial cash)
    assert legs["net"].sum() == pytest.approx(res.final_equity() - 2 * CASH, abs=1e-6)
    if ratio == 1.0:
        assert abs(legs["price_pnl"].sum()) < 1e-6 * 20_000.0
        costs = legs[["fees", "slippage"]].to_numpy().sum()
        assert costs < 0 and legs["net"].sum() == pytest.approx(expected + costs, rel=1e-6)


def test_hedged_carry_on_one_account_caps_gross_leverage():
    ds, _ = _hedge_dataset()
    kw = dict(CARRY_KW, base_risk_cap=50_000.0, max_leverage=2.0)
    res = bt.run(HedgedCarry(hedge_market=HEDGE, hedge_ratio=1.0, **kw), ds, bt.SimConfig(initial_cash=CASH))
    f = res.fills
    gross = (f["size"] * f["trade_price"]).sum()  # both legs, one account: 2 x 10,000 at most
    assert gross == pytest.approx(2.0 * CASH, rel=1e-3)


# ============================================================================ trend following
def _trend_path(rise_h=24.0, drop=0.10, drop_min=30, after_h=6.0, recover=0.02, step_s=10):
    """Clean rise of 0.5 %/h, a sharp fall of ``drop`` over ``drop_min`` minutes, then a partial
    recovery of ``recover`` that stays below the peak."""
    per_h = 3600 // step_s
    up = 20_000.0 * np.exp(np.arange(int(rise_h * per_h)) * np.log(1.005) / per_h)
    down = up[-1] * np.exp(np.linspace(0, np.log(1 - drop), drop_min * 60 // step_s + 1)[1:])
    back = down[-1] * np.exp(np.linspace(0, np.log(1 + recover), int(after_h * per_h) + 1)[1:])
    return np.r_[up, down, back], len(up)


def test_trend_follower_is_long_in_a_clean_uptrend_and_makes_money():
    path, n_up = _trend_path()
    ds = dl.Dataset(trades=trades(path[:n_up], step="10s"))
    res = bt.run(TrendFollowing(lookback=12, leverage=3.0), ds, bt.SimConfig(initial_cash=CASH))
    f = res.fills
    assert len(f) == 1 and f["side"].iloc[0] == 1  # long, and never stopped on the way up
    # entry after the 12-decision channel fills: first breakout at the 13th 5-min decision
    assert f["ts"].iloc[0] > START + pd.Timedelta("1h") and f["ts"].iloc[0] < START + pd.Timedelta("1h6min")
    size, entry = f["size"].iloc[0], f["price"].iloc[0]
    assert size * entry == pytest.approx(3.0 * CASH, rel=0.01)
    by_hand = CASH + size * (path[n_up - 1] - entry) - f["fee"].iloc[0]
    assert res.final_equity() == pytest.approx(by_hand, rel=1e-9)
    assert res.final_equity() > CASH * 1.25  # ~ +9 % of price at 3x


def test_trailing_stop_closes_near_the_high_water_mark_and_waits_for_a_fresh_signal():
    path, n_up = _trend_path()
    ds = dl.Dataset(trades=trades(path, step="10s"))
    trail, step = 0.03, 0.002
    strat = TrendFollowing(lookback=144, leverage=3.0, trail=trail, step=step, allow_short=False)
    res = bt.run(strat, ds, bt.SimConfig(initial_cash=CASH))
    f = res.fills.merge(res.orders[["order_id", "parent_id"]], on="order_id")
    assert list(f["side"]) == [1, -1]  # one entry, one exit, no re-entry on the stale signal
    exit_ = f.iloc[1]
    parent = res.orders.set_index("order_id").loc[exit_["parent_id"]]
    assert parent["type"] == "stop_market" and parent["status"] == "triggered"
    hwm = path[:n_up].max()
    level = hwm * (1 - trail)
    # within a small loss of hwm x (1 - trail): the stop ratchets in steps, triggers on the first
    # print through it, and the market order fills at the next print (10 s of a 10 %/30 min fall)
    assert level * (1 - step - 0.002) <= exit_["price"] <= level
    assert exit_["ts"] > START + pd.Timedelta(hours=24)
    assert res.fills["size"].iloc[1] == pytest.approx(res.fills["size"].iloc[0])  # flat after


def test_trend_follower_goes_short_on_a_downside_breakout_when_shorts_are_allowed():
    path, _ = _trend_path(drop=0.2, drop_min=120, after_h=1.0, recover=0.0)
    ds = dl.Dataset(trades=trades(path, step="10s"))
    res = bt.run(TrendFollowing(lookback=144, trail=0.03), ds, bt.SimConfig(initial_cash=CASH))
    pos = position_at(res, BTC, [START + pd.Timedelta(hours=23), res.fills["ts"].max()])
    assert pos[0] > 0 and pos[1] < 0


# ============================================================================ mean reversion
def _liq_distance(res, market=BTC):
    """Distance to the liquidation price at each equity sample with a position, from the margin
    contract: NC(P) = NC + S (P - P0) hits MMR(P) = |S| P m at P_liq = (S P0 - NC) / (S - |S| m)."""
    eq = res.equity
    s = position_at(res, market, eq.index)
    held = (np.abs(s) > 1e-12) & (eq["gross_notional"].to_numpy() > 0)
    s, e = s[held], eq[held]
    p0 = e["gross_notional"].to_numpy() / np.abs(s)
    m = e["mmr"].to_numpy() / e["gross_notional"].to_numpy()
    p_liq = (s * p0 - e["equity"].to_numpy()) / (s - np.abs(s) * m)
    return pd.Series(np.abs(p_liq / p0 - 1.0), index=e.index)


@pytest.fixture(scope="module")
def volatile_day():
    return dl.synthetic(days=1, markets=(BTC,), seed=11, annual_vol=1.5, trades_per_second=0.3,
                        funding=False, oracle_every="10s")


def test_liquidation_guard_keeps_every_position_far_from_liquidation(volatile_day):
    D = 0.15
    res = bt.run(MeanReversion(leverage=20.0, min_liq_distance=D, lookback=24), volatile_day)
    dist = _liq_distance(res)
    assert len(dist) > 100, "the strategy should hold positions for a good part of the day"
    assert dist.min() >= D - 0.01  # prices move between 5-min decisions
    assert res.stats()["n_liquidations"] == 0
    lev = (res.equity["gross_notional"] / res.equity["equity"]).max()
    assert lev < 6.5  # capped well below the 20x asked for
    o = res.orders
    cut_back = o["reduce_only"] & (o["status"] == "filled")
    assert cut_back.any(), "an adverse move should have made the guard cut back"
    # the same strategy without a meaningful guard runs far closer to liquidation
    loose = _liq_distance(bt.run(MeanReversion(leverage=20.0, min_liq_distance=0.01, lookback=24), volatile_day))
    assert loose.min() < 0.06


@pytest.mark.parametrize("side", [1, -1])
def test_liquidation_cap_matches_the_engines_liquidation_price(side):
    """A position of exactly the cap is liquidated just past D away, and not just before it."""
    D, p0 = 0.15, 20_000.0
    mmf = bt.Market.preset(BTC).mmf

    class Open(bt.Strategy):
        every = "1min"

        def on_decision(self, ctx):
            if ctx.decision == 0:
                ctx.target_notional(BTC, side * liquidation_cap(ctx.equity(), mmf, D, side))

    outcomes = []
    for k in (0.98, 1.02):
        target = p0 * (1 - side * D * k)
        path = np.r_[np.full(5, p0), np.linspace(p0, target, 60), np.full(5, target)]
        res = bt.run(Open(), dl.Dataset(trades=trades(path)), bt.SimConfig(markets={BTC: frictionless()}))
        assert res.fills["size"].iloc[0] * p0 == pytest.approx(liquidation_cap(CASH, mmf, D, side), rel=1e-9)
        outcomes.append(res.stats()["n_liquidations"])
    assert outcomes == [0, 1]


def test_mean_reversion_fades_moves_on_an_oscillating_price():
    minutes = np.arange(2 * 24 * 60)
    noise = np.random.default_rng(5).normal(0.0, 2e-4, len(minutes))
    path = 20_000.0 * (1 + 0.02 * np.sin(2 * np.pi * minutes / 240.0) + noise)  # 4-hour cycle, +-2 %
    ds = dl.Dataset(trades=trades(path))
    lookback, z_entry = 48, 1.2  # the window spans one cycle: its mean is the centre
    res = bt.run(MeanReversion(lookback=lookback, z_entry=z_entry, z_exit=0.3, leverage=2.0), ds,
                 bt.SimConfig(initial_cash=CASH))
    f = res.fills.sort_values("ts")
    before = position_at(res, BTC, f["ts"] - pd.Timedelta("1ns"))
    after = before + (f["side"] * f["size"]).to_numpy()
    opening = np.abs(after) > np.abs(before) + 1e-12
    assert opening.sum() >= 10
    # the decision behind each opening fill, and its z-score recomputed from the tape
    px = pd.Series(path, index=START + pd.to_timedelta(minutes, "min"))
    decisions = px[px.index.minute % 5 == 0]  # decision-time prices (a trade at every minute)
    for ts, side in zip(f["ts"][opening], f["side"][opening]):
        window = decisions[: ts.floor("5min")].iloc[-lookback:]
        z = (window.iloc[-1] - window.mean()) / window.std(ddof=1)
        assert side == (-1 if z >= z_entry else 1 if z <= -z_entry else 0), (ts, z)
    assert res.final_equity() > CASH  # a clean oscillation pays the fader


# ============================================================================ params and no look-ahead
ALL = [BuyAndHold, MaCross, TrendFollowing, FundingCarry, HedgedCarry, MeanReversion]


@pytest.mark.parametrize("cls", [TrendFollowing, FundingCarry, HedgedCarry, MeanReversion])
def test_params_are_documented_and_misspelt_ones_raise(cls):
    doc = inspect.getdoc(cls)
    assert "Parameters" in doc and "Examples" in doc
    for name in cls._defaults():
        assert name in doc, f"{cls.__name__}: parameter {name!r} is not documented"
    with pytest.raises(TypeError, match="did you mean 'every'"):
        cls(evrey="15min")
    s = cls(every="15min")
    assert s.every == "15min" and s.name == f"{cls.__name__}(every=15min)"


def _alter_after(ds: dl.Dataset, cut: pd.Timestamp) -> dl.Dataset:
    """Prices after ``cut`` x 1.2 and funding rates after it x -5: a different future."""
    def scaled(table, col, factor):
        df = table.to_pandas()
        df.loc[df["ts"] > cut, col] *= factor
        return pa.Table.from_pandas(df, schema=table.schema, preserve_index=False)

    return dataclasses.replace(ds, trades=scaled(ds.trades, "price", 1.2), oracle=scaled(ds.oracle, "price", 1.2),
                               funding=scaled(ds.funding, "rate", -5.0))


@pytest.mark.parametrize("cls", [TrendFollowing, FundingCarry, HedgedCarry, MeanReversion])
def test_no_decision_sees_its_future(cls):
    ds = dl.sample().slice("2022-11-08", "2022-11-10")
    cut = pd.Timestamp("2022-11-09 07:17:30", tz="UTC")  # after the carry's entry at the 11-08 spike
    kw = dict(lookback=24) if cls is TrendFollowing else {}
    a, b = bt.run(cls(**kw), ds), bt.run(cls(**kw), _alter_after(ds, cut))
    cols = ["sent_ts", "market", "side", "size", "type", "trigger_price"]
    before_a = a.orders.loc[a.orders["sent_ts"] < cut, cols].reset_index(drop=True)
    before_b = b.orders.loc[b.orders["sent_ts"] < cut, cols].reset_index(drop=True)
    assert len(before_a) > 0
    pd.testing.assert_frame_equal(before_a, before_b)
    assert not a.orders[cols].equals(b.orders[cols]), "the altered future should change later orders"


# ============================================================================ the bundled sample
@pytest.fixture(scope="module")
def two_days():
    return dl.sample().slice("2022-11-08", "2022-11-10")


@pytest.mark.parametrize("cls", ALL)
def test_runs_on_the_sample_with_sensible_stats(cls, two_days):
    res = bt.run(cls(), two_days)
    s = res.stats()
    assert np.isfinite(s["final_equity"]) and s["final_equity"] > 0
    assert -0.5 < s["total_return"] < 0.5 and s["max_drawdown"] > -0.5
    assert s["n_liquidations"] == 0 and s["n_fills"] >= 1
    assert s["fees"] >= 0 and s["slippage_cost"] >= 0
    assert s["min_margin_ratio"] > 1.0
    if cls is HedgedCarry:  # both legs traded, opposite sides
        legs = res.fills.groupby("market")["side"].first()
        assert set(legs.index) == {"BTC-USD", "ETH-USD"} and legs.prod() == -1
        assert leg_pnl(res)["net"].sum() == pytest.approx(res.final_equity() - CASH, abs=1e-6)
    if cls is FundingCarry:  # in the FTX funding collapse (longs paid) the carry is long and is paid
        assert s["funding"] > 0
        held = position_at(res, BTC, pd.date_range("2022-11-08 19:30", "2022-11-09 23:30", freq="30min", tz="UTC"))
        assert held[0] > 0 and (held >= 0).all()  # long from the first spike, never short in it


# Catches: a remembered rolling mean served for an array changed since (a writable input), or
# for another array that took a freed one's id; numerics that drift from pandas' rolling mean.
def test_rolling_mean_is_pandas_and_remembers_only_read_only_inputs():
    rng = np.random.default_rng(3)
    x = rng.normal(100.0, 1.0, 500)
    expected = pd.Series(x).rolling(20, min_periods=20).mean().to_numpy()
    np.testing.assert_array_equal(rolling_mean(x, 20), expected)
    x[:] += 5.0  # writable: changed in place, so computed again
    np.testing.assert_array_equal(rolling_mean(x, 20), pd.Series(x).rolling(20, min_periods=20).mean())
    ro = x.copy()
    ro.setflags(write=False)
    first = rolling_mean(ro, 20)
    assert rolling_mean(ro, 20) is first and not first.flags.writeable
    assert rolling_mean(ro, 21) is not first
    other = np.array(ro)  # equal values, another array: its own entry
    other.setflags(write=False)
    assert rolling_mean(other, 20) is not first
    np.testing.assert_array_equal(rolling_mean(other, 20), first)
