"""The data behind the plots (backtester.analysis), checked against the engine by other routes:
equity samples, the engine's own liquidations, hand computations from fills and oracle rows."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from backtester import analysis as an
from strategies import BuyAndHold, MaCross
from strategies.sizing import FundingAwareSizing, funding_zscore

BTC, ETH = "BTC-USD", "ETH-USD"
T0 = pd.Timestamp("2024-01-01", tz="UTC")


# ============================================================================ runs (shared with test_plots)
class Pair(bt.Strategy):
    """Long one market and short another at the first decision, then hold (two positions in
    one cross account)."""

    params = dict(long=BTC, short=ETH, lev_long=6.0, lev_short=3.0)
    every = "1min"

    def init(self, data):
        n = len(self.decision_times)
        a, b = np.full(n, np.nan), np.full(n, np.nan)
        a[0], b[0] = self.lev_long, -self.lev_short
        self.set_targets(self.long, a, kind="leverage")
        self.set_targets(self.short, b, kind="leverage")


@functools.cache
def day() -> dl.Dataset:
    """One day of the bundled sample (BTC and ETH, real dYdX funding)."""
    return dl.sample().slice("2022-11-08", "2022-11-09")


@functools.cache
def runs() -> dict:
    """Real runs: held with funding, liquidated, trading with reorgs, isolated, two positions,
    and the real Binance tape."""
    d = day()
    trading = bt.run(MaCross(fast=10, slow=40, leverage=5.0), d)
    f = trading.fills
    reorgs = [(int(pd.Timestamp(f["ts"].iat[i]).value) + 1, "dydx") for i in (2, 7, 15)]
    return {
        "hold": bt.run(BuyAndHold(leverage=3.0), d),
        "liquidated": bt.run(BuyAndHold(leverage=-40.0), d),
        "reorged": bt.run(MaCross(fast=10, slow=40, leverage=5.0), d, reorgs=reorgs),
        "isolated": bt.run(MaCross(fast=10, slow=40, leverage=5.0), d, bt.SimConfig(margin_mode="isolated")),
        "pair": bt.run(Pair(), d),
        "tape": bt.run(BuyAndHold(leverage=2.0), dl.sample("btcusdt-tape")),
    }


def crash(moves: dict, step=0.01, minutes=40, calm=10) -> dl.Dataset:
    """Oracle rows every minute, flat for ``calm`` minutes, then each market moves by
    ``moves[market] * step`` of its start price per minute; a big trade at each half minute at
    the oracle price (so the one market order fills with tiny impact). No funding, no trace."""
    start = {BTC: 100.0, ETH: 10.0}
    oracle, trades = [], []
    for m, direction in moves.items():
        for k in range(minutes):
            px = start[m] * (1.0 + direction * step * max(k - calm + 1, 0))
            oracle.append((T0 + pd.Timedelta(minutes=k), m, px))
            trades.append((T0 + pd.Timedelta(minutes=k, seconds=30), m, px, 1e7, 1))
    return dl.Dataset(trades=pd.DataFrame(trades, columns=["ts", "market", "price", "size", "side"]),
                      oracle=pd.DataFrame(oracle, columns=["ts", "market", "price"]))


def oracle_before(ds: dl.Dataset, market: str, t: pd.Timestamp) -> float:
    """Oracle price in force just before ``t`` (straight from the table)."""
    o = ds.oracle.to_pandas()
    o = o[(o["market"] == market) & (o["ts"] < t)]
    return float(o["price"].iloc[-1])


# ============================================================================ account state
def _quiet_sample_times(res, n=12):
    """Sample times without a ledger row stamped exactly then (a decision's gas at ``s`` is
    after the sample at ``s``)."""
    s = res.equity.index
    busy = set(res.ledger["ts"]) if len(res.ledger) else set()
    pick = [t for t in s[np.linspace(0, len(s) - 1, 4 * n).astype(int)] if t not in busy]
    return pick[:n]


# Catches: cash, positions or entry prices rebuilt wrongly (a partial close, a flip, a reverted
# fill, a liquidation fill), marks other than the oracle in force, the wrong account of a market
# in isolated mode, collateral in transit forgotten.
@pytest.mark.parametrize("name", ["hold", "liquidated", "reorged", "isolated", "pair", "tape"])
def test_rebuilt_state_equals_the_engine_samples(name):
    res = runs()[name]
    eq = res.equity
    for t in _quiet_sample_times(res):
        acc = an.accounts_at(res, t)
        scale = 1e-9 * (1.0 + abs(eq.loc[t, "gross_notional"]) + abs(eq.loc[t, "equity"]))
        assert acc["equity"].sum() + acc.attrs["transit"] == pytest.approx(eq.loc[t, "equity"], abs=scale), t
        assert acc["cash"].sum() == pytest.approx(eq.loc[t, "cash"], abs=scale), t
        assert acc["mmr"].sum() == pytest.approx(eq.loc[t, "mmr"], abs=scale), t
        assert acc["imr"].sum() == pytest.approx(eq.loc[t, "imr"], abs=scale), t
        assert acc["gross_notional"].sum() == pytest.approx(eq.loc[t, "gross_notional"], abs=scale), t


class Busy(bt.Strategy):
    """Hybrid: reverses and resizes a BTC position every few hours and moves collateral between
    its isolated accounts once; records what the venue reports at each decision."""

    every = "1h"

    def init(self, data):
        self.seen, self.acted = {}, set()

    def on_decision(self, ctx):
        self.seen[ctx.ts] = (ctx.equity(BTC), ctx.entry_price(BTC), ctx.margin_ratio(BTC))
        lev = {1: 3.0, 4: 5.0, 7: 2.0, 9: -4.0, 13: -1.0, 16: 6.0}.get(ctx.decision)
        if lev is not None:
            ctx.target_leverage(BTC, lev)
            self.acted.add(ctx.ts)
        if ctx.decision == 11:
            ctx.transfer(800.0, f"dydx/{ETH}", f"dydx/{BTC}")
            self.acted.add(ctx.ts)


# Catches: entry prices that are not the venue's after partial closes, flips and a reorg (the
# reversal does not restore the entry), a transfer credited to the wrong account.
def test_rebuilt_account_equals_what_the_venue_reported():
    cfg = bt.SimConfig(margin_mode="isolated")
    first = bt.run(Busy(), day(), cfg)
    t = first.fills["ts"].iat[3]
    res = bt.run(Busy(), day(), cfg, reorgs=[(t + pd.Timedelta(1, "ns"), "dydx")])
    assert res.fills["reverted"].sum() == 1 and len(res.fills) >= 6 and len(res.transfers) == 1
    checked = 0
    for ts, (equity, entry, ratio) in res.strategy.seen.items():
        if ts in res.strategy.acted:  # accounts_at(ts) already includes what the decision did
            continue
        pos = an.positions_at(res, ts)
        acc = an.accounts_at(res, positions=pos).loc[f"dydx/{BTC}"]
        assert acc["equity"] == pytest.approx(equity, rel=1e-12)
        assert acc["margin_ratio"] == pytest.approx(ratio, rel=1e-12)
        if np.isfinite(entry):
            assert pos.loc[BTC, "entry_price"] == pytest.approx(entry, rel=1e-12)
            checked += 1
    assert checked >= 10


def test_positions_follow_the_fills_and_their_reorg():
    res = runs()["reorged"]
    f = res.fills
    assert f["reverted"].sum() == 3
    q = (f["side"] * f["size"]).to_numpy()
    for i in np.flatnonzero(f["reverted"].to_numpy()):
        t = f["ts"].iat[i]
        before = q[(f["ts"] < t).to_numpy() & ~f["reverted"].to_numpy()].sum()
        # the reverted fill counts at its own time, and is gone 1 ns later (the reorg)
        assert an.positions_at(res, t).loc[BTC, "position"] == pytest.approx(before + q[i], abs=1e-9)
        assert an.positions_at(res, t + pd.Timedelta(1, "ns")).loc[BTC, "position"] == pytest.approx(before, abs=1e-9)


def test_entry_price_and_mark_of_a_single_fill():
    res = runs()["hold"]
    f = res.fills.iloc[0]
    at = res.equity.index[-1]
    pos = an.positions_at(res, at)
    assert pos.loc[BTC, "position"] == pytest.approx(f["size"])
    assert pos.loc[BTC, "entry_price"] == pytest.approx(f["price"], rel=1e-12)
    o = day().oracle.to_pandas()
    o = o[(o["market"] == BTC) & (o["ts"] <= at)]
    assert pos.loc[BTC, "price"] == o["price"].iloc[-1]
    assert pos.loc[ETH, "position"] == 0.0


def test_marks_fall_back_to_trades_without_oracle_rows():
    ds = crash({BTC: -1})
    ds = dl.Dataset(trades=ds.trades)  # no oracle rows: the oracle follows the trades
    res = bt.run(BuyAndHold(leverage=2.0), ds, bt.SimConfig(oracle_delay="10s"))
    # a trade at 12:30 is the oracle from 12:40 (delay 10 s): at 12:35 the 11:30 print is in force
    assert an.marks_at(res, T0 + pd.Timedelta(minutes=12, seconds=35))[BTC] == pytest.approx(99.0 - 1.0)
    assert an.marks_at(res, T0 + pd.Timedelta(minutes=12, seconds=40))[BTC] == pytest.approx(99.0 - 2.0)
    assert np.isnan(an.marks_at(res, T0)[BTC])  # nothing printed yet


def test_default_at_is_the_largest_exposure():
    res = runs()["pair"]
    g = res.equity["gross_notional"]
    assert an.default_at(res) == g.idxmax()
    assert an.liquidation_ladder(res).attrs["at"] == g.idxmax()


# ============================================================================ liquidation ladder
def _bracket(res, ds, market):
    liq = res.liquidations
    assert len(liq) >= 1, "the run was meant to be liquidated"
    t = liq["ts"].iat[0]
    lad = an.liquidation_ladder(res, t - pd.Timedelta(1, "ns"))
    return lad, oracle_before(ds, market, t), float(liq.loc[liq["market"] == market, "oracle_price"].iat[0])


# Catches: the ladder solving the wrong equation (MMR at the old price, NC without the position's
# own PnL, the sign of a short), or cross margin ignoring the account's other collateral.
@pytest.mark.parametrize("lev, mode", [(15.0, "cross"), (-15.0, "isolated"), (25.0, "isolated")])
def test_ladder_price_brackets_the_engine_liquidation(lev, mode):
    ds = crash({BTC: np.sign(-lev), ETH: 0})  # the position's losing direction; ETH flat
    res = bt.run(BuyAndHold(leverage=lev), ds, bt.SimConfig(margin_mode=mode))
    lad, last_ok, trigger = _bracket(res, ds, BTC)
    x = lad.loc[BTC, "liq_price"]
    if lev > 0:
        assert trigger < x <= last_ok
    else:
        assert last_ok <= x < trigger
    # by hand from the fill: NC(x) = Q + S (x - E) equals MMR(x) = |S| x MMF
    f = res.fills.iloc[0]
    cash = res.engine.initial_cash[0] - f["fee"]
    s, e = f["side"] * f["size"], f["price"]
    mmf = res.config.market(BTC).mmf
    assert cash + s * (x - e) == pytest.approx(abs(s) * x * mmf, rel=1e-9)
    assert lad.loc[BTC, "account"] == ("dydx" if mode == "cross" else f"dydx/{BTC}")
    # a single-position account: the uniform move is the same price
    assert lad.loc[BTC, "account_liq_price"] == pytest.approx(x, rel=1e-9)
    # the event's margin ratio (from the close price) is NC / MMR at the trigger, by hand
    ev = an.liquidation_events(res)
    assert ev["margin_ratio"].iat[0] == pytest.approx((cash + s * (trigger - e)) / (abs(s) * trigger * mmf), rel=1e-6)


def test_cross_ladder_one_market_alone_and_all_together():
    # ETH alone rises against the short: the ETH rung brackets the engine's liquidation
    ds = crash({BTC: 0, ETH: +1})
    res = bt.run(Pair(lev_long=6.0, lev_short=20.0), ds)
    lad, last_ok, trigger = _bracket(res, ds, ETH)
    assert set(lad.index) == {BTC, ETH}
    assert last_ok <= lad.loc[ETH, "liq_price"] < trigger
    # every price falls by the same percentage: the account rung brackets it (net long)
    ds = crash({BTC: -1, ETH: -1})
    res = bt.run(Pair(lev_long=20.0, lev_short=5.0), ds)
    lad, last_ok, trigger = _bracket(res, ds, BTC)
    assert trigger < lad.loc[BTC, "account_liq_price"] <= last_ok
    move = lad["account_liq_move"]
    assert move.nunique() == 1 and trigger / last_ok - 1 < move.iat[0] <= 0
    lo, hi = lad.loc[ETH, "account_liq_price"], lad.loc[ETH, "price"] * (1 + move.iat[0])
    assert lo == pytest.approx(hi)


def test_ladder_of_a_long_backed_beyond_its_notional_has_no_price():
    ds = crash({BTC: -1})
    res = bt.run(BuyAndHold(leverage=0.5), ds)
    lad = an.liquidation_ladder(res)
    assert np.isnan(lad.loc[BTC, "liq_price"]) and np.isnan(lad.loc[BTC, "account_liq_price"])


def test_ladder_of_a_flat_account_is_empty():
    res = runs()["hold"]
    lad = an.liquidation_ladder(res, res.equity.index[0] - pd.Timedelta("1s"))
    assert lad.empty


# ============================================================================ shock table
def test_shock_table_at_zero_is_the_current_equity_and_moves_with_exposure():
    res = runs()["pair"]
    at = an.default_at(res)
    tab = an.shock_table(res, at)
    assert list(tab.index) == pytest.approx(list(np.linspace(-0.5, 0.5, 21)))
    assert tab.loc[0.0, "equity"] == pytest.approx(res.equity.loc[at, "equity"], rel=1e-12)
    assert tab.loc[0.0, "mmr"] == pytest.approx(res.equity.loc[at, "mmr"], rel=1e-12)
    # by hand: positions from the fills, prices straight from the oracle table
    f = res.fills[res.fills["ts"] <= at]
    o = day().oracle.to_pandas()
    expo, mmr = 0.0, 0.0
    for m in (BTC, ETH):
        s = (f.loc[f["market"] == m, "side"] * f.loc[f["market"] == m, "size"]).sum()
        p = o.loc[(o["market"] == m) & (o["ts"] <= at), "price"].iloc[-1]
        expo += s * p
        mmr += abs(s) * p * res.config.market(m).mmf
    for k in (-0.5, -0.1, 0.25):
        assert tab.loc[k, "equity"] == pytest.approx(tab.loc[0.0, "equity"] + k * expo, rel=1e-9)
        assert tab.loc[k, "mmr"] == pytest.approx((1 + k) * mmr, rel=1e-9)
    assert ((tab["equity"] < tab["mmr"]) == (tab["accounts_below"] > 0)).all()
    with pytest.raises(ValueError, match="fractions > -1"):
        an.shock_table(res, at, shocks=[-1.5, 0.0])


# ============================================================================ P&L waterfall
# Catches: a cost counted twice or never (slippage inside price P&L, a liquidation spread missing,
# a reverted fill's fee kept), the wrong final marks, funding or gas of the insurance fund.
@pytest.mark.parametrize("name", ["hold", "liquidated", "reorged", "isolated", "pair", "tape"])
def test_waterfall_bars_sum_to_net_pnl(name):
    res = runs()[name]
    b = an.pnl_breakdown(res)
    assert list(b.index) == an.PNL_ITEMS
    s = res.stats()
    assert b["net"] == pytest.approx(s["final_equity"] - s["initial_equity"], abs=1e-9)
    scale = 1e-9 * (1.0 + (res.fills["size"] * res.fills["price"]).abs().sum())
    assert b.drop("net").sum() == pytest.approx(b["net"], abs=scale)
    assert b["funding"] == pytest.approx(s["funding"])
    assert b["gas"] == pytest.approx(-s["gas"])
    assert (b[["fees", "slippage"]] <= 0).all()
    if not res.fills["reverted"].any():
        assert b["fees"] == pytest.approx(-s["fees"]) and b["slippage"] == pytest.approx(-s["slippage_cost"])


# Catches: stats() (computed from the raw records, for sweep speed) drifting from what the
# decoded frames say: reverted fills counted, liquidation fills counted as trades, a
# liquidation of two markets counted twice, finality of reverted fills, the drawdown's start.
@pytest.mark.parametrize("name", ["hold", "liquidated", "reorged", "isolated", "pair", "tape"])
def test_stats_agree_with_the_frames(name):
    res = runs()[name]
    s = res.stats()
    values = res.stats_values()  # the same numbers without pandas (what sweeps read)
    assert list(values) == list(s.index)
    assert all(v == s[k] or (np.isnan(v) and np.isnan(s[k])) for k, v in values.items())
    eq, fills, liq = res.equity, res.fills, res.liquidations
    live = fills[~fills["reverted"]]
    rets = eq["equity"].pct_change().replace([np.inf, -np.inf], np.nan).dropna()
    per_year = pd.Timedelta(days=365) / res.sample_every
    assert s["sharpe"] == pytest.approx(rets.mean() / rets.std() * np.sqrt(per_year), rel=1e-12)
    assert s["max_drawdown"] == eq["drawdown"].min()
    assert s["n_fills"] == (live["liquidity"] != "liquidation").sum()
    assert s["n_liquidations"] == len(liq[["ts", "account"]].drop_duplicates())
    ttf = live["time_to_finality"]
    # the mean of the seconds (a Timedelta mean would first truncate to whole nanoseconds)
    assert s["mean_time_to_finality_s"] == pytest.approx(ttf.dt.total_seconds().mean(), rel=1e-12)
    assert s["worst_time_to_finality_s"] == ttf.max().total_seconds()
    low = eq["margin_ratio"].min()
    if len(liq):
        low = min(low, an.liquidation_events(res)["margin_ratio"].min())
    assert s["min_margin_ratio"] == low
    assert s["fees"] == pytest.approx(live["fee"].sum(), rel=1e-12)
    if name == "reorged":
        assert fills["reverted"].any() and s["n_fills"] < len(fills)
    if name == "liquidated":
        assert s["n_liquidations"] == 1 and (fills["liquidity"] == "liquidation").any()


def test_waterfall_price_pnl_by_hand():
    res = runs()["hold"]
    f = res.fills.iloc[0]
    o = day().oracle.to_pandas()
    last = o.loc[o["market"] == BTC, "price"].iloc[-1]
    b = an.pnl_breakdown(res)
    assert b["price_pnl"] == pytest.approx(f["size"] * (last - f["trade_price"]), rel=1e-12)
    assert b["funding"] != 0.0  # the run did pay/receive funding


def test_waterfall_of_a_liquidation():
    res = runs()["liquidated"]
    b = an.pnl_breakdown(res)
    s = res.stats()
    assert s["n_liquidations"] == 1 and s["final_equity"] == pytest.approx(0.0, abs=1e-6)
    payouts = res.ledger.loc[res.ledger["kind"].isin(["insurance_payout", "socialized_loss"])
                             & res.ledger["account"].isin(res.layout.accounts), "amount"].sum()
    assert b["liquidation_losses"] == pytest.approx(-s["liquidation_losses"])
    assert b["insurance_cover"] == pytest.approx(payouts) and s["insurance_cover"] == pytest.approx(payouts)
    assert b["liquidation_losses"] < 0
    # the spread and fee by hand from the liquidation records
    liq = res.liquidations
    spread = float((liq["size"].abs() * (liq["oracle_price"] - liq["price"]).abs()).sum())
    assert b["liquidation_losses"] == pytest.approx(-(spread + liq["fee"].sum()))


# ============================================================================ funding
def test_funding_frame_on_a_dataset_by_hand():
    ds = dl.sample()
    rule = FundingAwareSizing(base_risk_cap=20_000, z_window=48)
    ff = an.funding_frame(ds, BTC, sizing=rule, every="1h")
    fu = ds.funding.to_pandas()
    fu = fu[fu["market"] == BTC].set_index("ts")["rate"]
    i = np.searchsorted(fu.index.asi8, ff.index.asi8, side="right") - 1
    assert (i >= 0).all()
    np.testing.assert_array_equal(ff["funding_rate"].to_numpy(), fu.to_numpy()[i])
    z = funding_zscore(fu, 48).to_numpy()[i]
    np.testing.assert_allclose(ff["funding_z"].to_numpy(), z, equal_nan=True)
    mult = 1 + 0.5 * np.clip(np.abs(np.nan_to_num(z)) - 1.0, 0, None)
    np.testing.assert_allclose(ff["funding_risk_multiplier"].to_numpy(), mult)
    np.testing.assert_allclose(ff["max_notional"], 20_000 * ff["volatility_adjuster"] / mult)
    assert ff["funding_z"].abs().max() > 1.0  # the real Nov 2022 funding does cross the threshold
    assert ff.attrs == {"market": BTC, "z_threshold": 1.0}


def test_funding_frame_of_a_result_uses_its_market_and_cadence():
    res = runs()["hold"]
    ff = an.funding_frame(res)
    assert ff.attrs["market"] == BTC
    assert (np.diff(ff.index.asi8) == pd.Timedelta("1min").value).all()
    with pytest.raises(ValueError, match="no funding rows for market 'DOGE-USD'"):
        an.funding_frame(res, "DOGE-USD")
    with pytest.raises(TypeError, match="Result or a data_loaders.Dataset"):
        an.funding_frame(42)


# ============================================================================ finality
def test_finality_frame_matches_the_fills():
    res = runs()["reorged"]
    ff = an.finality_frame(res)
    f = res.fills
    np.testing.assert_allclose(ff["time_to_finality_s"], (f["final_ts"] - f["ts"]).dt.total_seconds())
    np.testing.assert_allclose(ff["notional"], f["size"] * f["price"])
    assert ff["reverted"].sum() == 3


@pytest.mark.parametrize("name", ["reorged", "liquidated", "tape"])
def test_pending_exposure_brute_force(name):
    res = runs()[name]
    pe = an.pending_exposure(res)
    f = res.fills
    end = f["final_ts"].copy()
    # a reverted fill stops being pending at its reorg (1 ns after it, in this run)
    end[f["reverted"]] = f.loc[f["reverted"], "ts"] + pd.Timedelta(1, "ns")
    probes = list(f["ts"]) + list(end) + list(f["ts"] + pd.Timedelta("500ms")) + list(end - pd.Timedelta(1, "ns"))
    for t in probes:
        live = (f["ts"] <= t) & (t < end)
        expected = (f.loc[live, "size"] * f.loc[live, "price"]).abs().sum()
        got = pe.asof(t) if t >= pe.index[0] else 0.0
        assert got == pytest.approx(expected, abs=1e-6), t


# ============================================================================ heatmap table
def _tidy():
    rng = np.random.default_rng(3)
    rows = [dict(scenario=sc, strategy=st, seed=k, metric=m, value=rng.normal())
            for sc in ["normal", "outage"] for st in ["B", "A"] for k in range(3) for m in ["total_return", "fees"]]
    return pd.DataFrame(rows)


def test_heatmap_table_is_the_seed_mean():
    t = _tidy()
    h = an.heatmap_table(t, "total_return")
    assert list(h.index) == ["normal", "outage"] and list(h.columns) == ["B", "A"]  # order of appearance
    for sc in h.index:
        for st in h.columns:
            sel = (t["scenario"] == sc) & (t["strategy"] == st) & (t["metric"] == "total_return")
            assert h.loc[sc, st] == pytest.approx(t.loc[sel, "value"].mean())
    wide = t.pivot_table(index=["scenario", "strategy", "seed"], columns="metric", values="value").reset_index()
    pd.testing.assert_frame_equal(an.heatmap_table(wide, "fees"), an.heatmap_table(t, "fees"), check_like=True)
    assert an.heatmap_table(h).equals(h)  # already pivoted: as is


def test_heatmap_table_errors_name_what_was_expected():
    t = _tidy()
    with pytest.raises(ValueError, match="no rows of metric 'sharp'.*total_return"):
        an.heatmap_table(t, "sharp")
    with pytest.raises(ValueError, match="name a metric"):
        an.heatmap_table(t)
    with pytest.raises(TypeError, match="expected a DataFrame"):
        an.heatmap_table([1, 2])


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="expected a timestamp"):
        an.to_ns("not a time")
    with pytest.raises(TypeError, match="expected a backtester Result"):
        an.pnl_breakdown(day())
