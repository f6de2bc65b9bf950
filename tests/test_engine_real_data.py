"""Known answers through the public API (`bt.run`), on real data where there is some.

(a) funding on a held long across real dYdX funding hours (rates read back from the shipped CSV
    with pandas, independently of the loader); (b) a strategy on the real Binance BTCUSDT tape:
    fills at real tape prices, within the slippage model's bounds, finite stats; (c) isolated and
    cross liquidation prices worked out by hand on an oracle walking down; (d) an order sent into
    downtime under both policies; (e) a reorg reverting a pending fill; (f) a maker rebate and a
    taker fee in one run.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from data_loaders.sample import data_path, real_dydx_funding
from strategies import MaCross

BTC, ETH = "BTC-USD", "ETH-USD"
T = pd.Timestamp("2024-01-01", tz="UTC")


def sec(x: float) -> pd.Timestamp:
    return T + pd.Timedelta(seconds=x)


def trades_frame(rows, market=BTC) -> pd.DataFrame:
    """rows of (time, price, size) -> a canonical trades DataFrame."""
    return pd.DataFrame({"ts": pd.to_datetime([r[0] for r in rows], utc=True), "market": market,
                         "price": [float(r[1]) for r in rows], "size": [float(r[2]) for r in rows], "side": 1})


def oracle_frame(rows, market=BTC) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.to_datetime([r[0] for r in rows], utc=True), "market": market,
                         "price": [float(r[1]) for r in rows]})


def latency_frame(rows) -> pd.DataFrame:
    """rows of (time, order_latency_s, ack_s, finality_s, up, gas)."""
    return pd.DataFrame({
        "ts": pd.to_datetime([r[0] for r in rows], utc=True), "venue": "dydx",
        "order_latency": pd.to_timedelta([r[1] for r in rows], unit="s"),
        "ack_latency": pd.to_timedelta([r[2] for r in rows], unit="s"),
        "finality": pd.to_timedelta([r[3] for r in rows], unit="s"),
        "up": [bool(r[4]) for r in rows], "gas_fee": [float(r[5]) for r in rows]})


def frictionless(name=BTC, **kw) -> bt.Market:
    return bt.Market(name=name, **{**dict(taker_fee=0.0, maker_fee=0.0, half_spread=0.0, impact=0.0), **kw})


class Scripted(bt.Strategy):
    """Hybrid strategy: at the decision at ``time`` send the orders listed for it.

    ``script`` maps a timestamp to a list of ``ctx.submit`` keyword dicts (market, size, ...).
    """

    params = dict(script={})
    every = "10s"

    def on_decision(self, ctx):
        for kw in self.script.get(ctx.time, []):
            ctx.submit(**kw)


class HoldPosition(bt.Strategy):
    """BuyAndHold in base units (fast path): one target position at the first decision."""

    params = dict(market=BTC, size=1.0)
    every = "10s"

    def init(self, data):
        plan = np.full(len(self.decision_times), np.nan)
        plan[0] = self.size
        self.set_targets(self.market, plan, kind="position")


# ============================================================================ (a) real funding
def test_funding_on_a_held_long_across_real_dydx_funding_hours():
    funding = real_dydx_funding(BTC, "2022-11-08 14:00", "2022-11-08 18:00")
    # the same hours read independently from the shipped CSV
    csv = pd.read_csv(data_path("BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz"))
    csv["ts"] = pd.to_datetime(csv["Date"], utc=True)
    csv = csv[(csv.ts >= "2022-11-08 14:00Z") & (csv.ts < "2022-11-08 18:00Z")]
    assert len(csv) == 4 and funding.num_rows == 4
    rates = csv["Funding Rate"].to_numpy()
    assert np.all(rates != 0) and (rates > 0).any() and (rates < 0).any()  # real hours, both signs

    times = ["2022-11-08 13:00:00", "2022-11-08 13:00:01", "2022-11-08 13:30:00", "2022-11-08 14:30:00",
             "2022-11-08 15:30:00", "2022-11-08 16:30:00", "2022-11-08 17:30:00", "2022-11-08 18:30:00"]
    oracle = [(t, 20_000.0) for t in pd.date_range("2022-11-08 12:00", "2022-11-08 19:00", freq="30min", tz="UTC")]
    ds = dl.Dataset(trades=trades_frame([(t, 20_000.0, 1.0) for t in times]), funding=funding,
                    oracle=oracle_frame(oracle))
    buy_at = pd.Timestamp("2022-11-08 13:00", tz="UTC")

    class BuyOnce(Scripted):
        every = "1h"

    cfg = bt.SimConfig(initial_cash=10_000.0, markets={BTC: frictionless()})
    res = bt.run(BuyOnce(script={buy_at: [dict(market=BTC, size=0.5)]}), ds, cfg)

    (fill,) = res.fills.itertuples()
    # sent at 13:00 after the 13:00 trade: fills at the next trade, before the first funding hour
    assert fill.ts == pd.Timestamp("2022-11-08 13:00:01", tz="UTC") and fill.price == 20_000.0
    fu = res.funding
    assert list(fu.ts) == list(csv.ts)
    assert list(fu.position) == [0.5] * 4 and list(fu.price) == [20_000.0] * 4
    np.testing.assert_array_equal(fu.rate.to_numpy(), rates)
    expected = -0.5 * 20_000.0 * rates
    np.testing.assert_allclose(fu.payment.to_numpy(), expected, rtol=1e-12, atol=0)
    led = res.ledger
    assert led.loc[led.kind == "funding", "amount"].sum() == pytest.approx(expected.sum(), rel=1e-12)
    assert res.stats()["funding"] == pytest.approx(expected.sum(), rel=1e-12)
    # no fees, no slippage, constant price: equity moves by the funding alone
    assert res.final_equity() == pytest.approx(10_000.0 + expected.sum(), rel=0, abs=1e-9)


# ============================================================================ (b) real tape
class FastMaCross(MaCross):
    every = "1s"


@pytest.fixture(scope="module")
def tape_run():
    # the trade-tape rules: without its book top (with it, takers fill at the real quotes:
    # tests/test_book_execution.py)
    ds = dataclasses.replace(dl.sample("btcusdt-tape"), book=None)
    cfg = bt.SimConfig(initial_cash=10_000.0)
    return ds, cfg, bt.run(FastMaCross(fast=5, slow=20, leverage=2.0), ds, cfg)


def test_strategy_on_the_real_binance_tape_fills_at_real_prices(tape_run):
    ds, cfg, res = tape_run
    tape = ds.trades.to_pandas()
    fills = res.fills
    taker = fills[fills.liquidity == "taker"]
    assert len(taker) >= 5 and set(taker.side) == {1, -1}  # it trades both ways
    lo, hi = tape.price.min(), tape.price.max()
    assert ((taker.price >= lo * 0.99) & (taker.price <= hi * 1.01)).all()
    # every fill is against a real print: its trade_price is the first tape price of its timestamp
    first_at = tape.groupby("ts", sort=True).first()
    assert taker.ts.isin(first_at.index).all()
    np.testing.assert_array_equal(taker.trade_price.to_numpy(), first_at.loc[taker.ts, "price"].to_numpy())

    # the slippage model exactly: s = half_spread + impact * sqrt(size / V), V the size traded in
    # (t - 1h, t] up to and including the first print at t (later same-time prints excluded)
    spec = cfg.market(BTC)
    ts = tape.ts.astype("int64").to_numpy()
    cum = np.cumsum(tape["size"].to_numpy())
    t_fill = taker.ts.astype("int64").to_numpy()
    first_row = np.searchsorted(ts, t_fill, side="left")
    window_start = np.searchsorted(ts, t_fill - pd.Timedelta(cfg.impact_window).value, side="right")
    V = cum[first_row] - np.where(window_start > 0, cum[np.maximum(window_start - 1, 0)], 0.0)
    s = spec.half_spread + spec.impact * np.sqrt(taker["size"].to_numpy() / V)
    np.testing.assert_allclose(taker.price.to_numpy(), taker.trade_price.to_numpy() * (1 + taker.side.to_numpy() * s),
                               rtol=1e-12)
    np.testing.assert_allclose(taker.fee.to_numpy(), spec.taker_fee * taker["size"] * taker.price, rtol=1e-12)
    # the widest the model allows on this tape: V is at least the smallest first print
    s_max = spec.half_spread + spec.impact * np.sqrt(taker["size"].max() / tape["size"].min())
    assert ((taker.price >= lo * (1 - s_max)) & (taker.price <= hi * (1 + s_max))).all()

    stats = res.stats()
    assert stats["n_fills"] == len(taker) and stats["fees"] > 0 and stats["slippage_cost"] > 0
    assert np.isfinite(stats.to_numpy(dtype=float)).all(), stats[~np.isfinite(stats.to_numpy(dtype=float))]


# ============================================================================ (c) liquidation
def _walk_down(market=BTC, start=100.0, step=0.5, stop=75.0, every_s=10):
    """Oracle 100 at -1s, then 100 - step * k at k * every_s seconds."""
    rows = [(sec(-1), start)]
    k = 1
    while start - step * k >= stop:
        rows.append((sec(k * every_s), start - step * k))
        k += 1
    return rows


def _first_breach(cash, size, entry, mmf, prices):
    """The first oracle price with NC < MMR, and NC and MMR there (by hand)."""
    for p in prices:
        nc, mmr = cash + size * (p - entry), abs(size) * p * mmf
        if nc < mmr:
            return p, nc, mmr
    raise AssertionError("never below maintenance")


@pytest.mark.parametrize("mode", ["isolated", "cross"])
def test_liquidation_price_on_a_walking_oracle(mode):
    # BTC IMF 0.1, MMF 0.05, no fees; ETH only gives the isolated split a second account.
    # Cash 240 (isolated: 120 per market account). Buy 10 BTC at the first decision (0s), filled
    # at the 1s trade @100. Oracle walks 100 -> 75 in 0.5 steps every 10s.
    #   isolated: NC = 120 + 10(P-100) < MMR = 0.5 P  <=> P < 92.63..: first at 92.5
    #             (NC 45, MMR 46.25, ABR = 1 - 45/46.25); close 92.5 - 0.075 * 1.25 * 2 = 92.3125,
    #             realized -76.875 -> Q 43.125; fee min(0.015*925 = 13.875, 43.125) -> Q 29.25,
    #             fund 500 -> 513.875. The ETH account keeps its 120.
    #   cross   : NC = 240 + 10(P-100) < 0.5 P <=> P < 80: first at 79.5 (NC 35, MMR 39.75);
    #             close 79.5 - 0.075 * 4.75 * 2 = 78.7875, realized -212.125 -> Q 27.875;
    #             fee min(0.015*795 = 11.925, 27.875) -> Q 15.95, fund 500 -> 511.925.
    imf, mmf, liq_fee, liq_spread, cash, size = 0.1, 0.05, 0.015, 1.5, 240.0, 10.0
    oracle = _walk_down()
    trades = trades_frame([(sec(t), 100.0, 100.0) for t in range(0, 601, 10)] + [(sec(1), 100.0, 100.0)])
    trades = trades.sort_values("ts", kind="stable").reset_index(drop=True)
    eth = trades_frame([(sec(t), 50.0, 1.0) for t in range(0, 601, 60)], market=ETH)
    # the oracle walks 25 % away from flat trades on purpose: beyond the plausibility bound
    ds = dl.Dataset(trades=pd.concat([trades, eth]).sort_values("ts", kind="stable"), oracle=oracle_frame(oracle),
                    allow_extreme=True)
    cfg = bt.SimConfig(initial_cash=cash, insurance_fund=500.0, margin_mode=mode, liq_spread=liq_spread,
                       markets={BTC: frictionless(imf=imf, mmf=mmf, liq_fee=liq_fee),
                                ETH: frictionless(ETH, imf=imf, mmf=mmf, liq_fee=liq_fee)})
    res = bt.run(HoldPosition(size=size), ds, cfg)

    acct_cash = cash / 2 if mode == "isolated" else cash
    p, nc, mmr = _first_breach(acct_cash, size, 100.0, mmf, [px for _, px in oracle])
    abr = min(max(1 - nc / mmr, 0.0), 1.0)
    close = p * (1 - liq_spread * mmf * abr)
    q = acct_cash + size * (close - 100.0)
    fee = min(liq_fee * size * p, max(q, 0.0))
    hand = {"isolated": (92.5, 92.3125, 13.875, 29.25, 513.875), "cross": (79.5, 78.7875, 11.925, 15.95, 511.925)}
    assert (p, close, fee, q - fee, 500.0 + fee) == pytest.approx(hand[mode], rel=0, abs=1e-9)
    when = next(t for t, px in oracle if px == p)

    (fill_in,) = res.fills[res.fills.liquidity != "liquidation"].itertuples()
    assert (fill_in.ts, fill_in.price, fill_in.size) == (sec(1), 100.0, size)
    (liq,) = res.liquidations.itertuples()
    assert liq.ts == when and liq.account == ("dydx/BTC-USD" if mode == "isolated" else "dydx")
    assert (liq.market, liq.size, liq.oracle_price) == (BTC, size, p)
    assert liq.price == pytest.approx(close, rel=0, abs=1e-9)
    assert liq.fee == pytest.approx(fee, rel=1e-12)
    assert (liq.deficit, liq.insurance_paid, liq.socialized) == (0.0, 0.0, 0.0)
    lf = res.fills[res.fills.liquidity == "liquidation"].iloc[0]
    assert (lf.side, lf["size"], lf.fee, lf.ts) == (-1, size, 0.0, when)
    led = res.ledger
    assert led.loc[led.account == "insurance:dydx", "amount"].sum() == pytest.approx(fee, rel=1e-12)
    assert res.equity["insurance"].iloc[-1] == pytest.approx(500.0 + fee, rel=1e-12)
    # the trader keeps Q - fee (plus, isolated, the untouched ETH account)
    other = cash / 2 if mode == "isolated" else 0.0
    assert res.final_equity() == pytest.approx(q - fee + other, rel=0, abs=1e-9)
    assert res.stats()["n_liquidations"] == 1


# ============================================================================ (d) downtime
DOWN_TRADES = [(sec(t), 100.0 + t / 100, 1.0) for t in range(0, 301, 10)]  # price 100.1 at 10s, ...
DOWN_TRACE = [(sec(0), 1, 0, 0, True, 0.1), (sec(60), 1, 0, 0, False, 0.1), (sec(120), 1, 0, 0, True, 0.1)]


@pytest.mark.parametrize("policy", ["queue", "reject"])
def test_order_sent_into_downtime(policy):
    # Latency 1s, gas 0.1; down from 60s to 120s. A buy of 1 sent at the 60s decision arrives at
    # 61s while the venue is down. queue: it reaches the engine at 120s (the first up row) and
    # fills at the 120s trade (101.2), none of the prints while down. reject: VENUE_DOWN at 61s.
    ds = dl.Dataset(trades=trades_frame(DOWN_TRADES), latency=latency_frame(DOWN_TRACE))
    cfg = bt.SimConfig(downtime_policy=policy, markets={BTC: frictionless()})
    res = bt.run(Scripted(script={sec(60): [dict(market=BTC, size=1.0)]}), ds, cfg)
    (o,) = res.orders.itertuples()
    assert o.sent_ts == sec(60)
    led = res.ledger
    assert led.loc[led.kind == "gas", "amount"].sum() == pytest.approx(-0.1)
    if policy == "queue":
        assert (o.status, o.reason, o.arrive_ts) == ("filled", "none", sec(120))
        (f,) = res.fills.itertuples()
        assert (f.ts, f.price) == (sec(120), 101.2)
    else:
        assert (o.status, o.reason, o.arrive_ts) == ("rejected", "venue_down", sec(61))
        assert res.fills.empty
        assert res.final_equity() == pytest.approx(10_000.0 - 0.1)


# ============================================================================ (e) reorg
def test_reorg_reverts_a_pending_fill():
    # Finality 60s, no latency, taker fee 0.001. Buy 1 at 0s fills @100 at 10s (final 70s);
    # buy 1 at 60s fills @102 at 70s (final 130s). A reorg at 100s reverts only the second:
    # sell 1 @102 on 2 @101 realizes +1, the fee 0.102 is refunded. Equity at 103:
    # 10000 - 0.1 + (103 - 100) = 10002.9, as if the second fill never happened.
    ds = dl.Dataset(trades=trades_frame([(sec(0), 100, 1), (sec(10), 100, 10), (sec(70), 102, 10),
                                         (sec(120), 103, 1)]),
                    latency=latency_frame([(sec(0), 0, 0, 60, True, 0.0)]))
    cfg = bt.SimConfig(markets={BTC: frictionless(taker_fee=0.001)})
    script = {sec(0): [dict(market=BTC, size=1.0)], sec(60): [dict(market=BTC, size=1.0)]}
    res = bt.run(Scripted(script=script), ds, cfg, reorgs=[(sec(100), "dydx")])
    f = res.fills
    assert list(f.ts) == [sec(10), sec(70)] and list(f.price) == [100.0, 102.0]
    assert list(f.reverted) == [False, True]
    assert list(f.final_ts) == [sec(70), sec(130)]
    o = res.orders
    assert list(o.status) == ["filled", "cancelled"] and list(o.reason) == ["none", "reorg"]
    assert list(o.filled) == [1.0, 0.0]
    rev = res.ledger[res.ledger.kind == "reorg_reversal"]
    assert sorted(rev.amount) == pytest.approx([0.102, 1.0])
    assert (rev.ts == sec(100)).all()
    live = f[~f.reverted]
    assert (live.side * live["size"]).sum() == 1.0
    assert res.final_equity() == pytest.approx(10_002.9, rel=0, abs=1e-9)


# ============================================================================ (f) fees
def test_maker_rebate_and_taker_fee():
    # Maker fee -2 bp (a rebate), taker 5 bp, half spread 1 bp. A limit buy 2 @ 99.5 (0s) rests;
    # the 20s print @99.0 is through it: filled 2 @ 99.5 as maker, rebate 0.0002*2*99.5 = 0.0398.
    # A market sell 2 at the 30s decision fills at the 40s print @101: 101*(1-0.0001) = 100.9899,
    # fee 0.0005*2*100.9899 = 0.1009899, slippage 2*0.0101 = 0.0202. Realized 2*(100.9899-99.5)
    # = 2.9798. Cash 10000 + 0.0398 - 0.1009899 + 2.9798 = 10002.9186101.
    ds = dl.Dataset(trades=trades_frame([(sec(0), 100, 1), (sec(10), 100, 1), (sec(20), 99.0, 5),
                                         (sec(30), 100, 1), (sec(40), 101, 1), (sec(50), 101, 1)]))
    cfg = bt.SimConfig(markets={BTC: frictionless(maker_fee=-0.0002, taker_fee=0.0005, half_spread=0.0001)})
    script = {sec(0): [dict(market=BTC, size=2.0, limit=99.5)], sec(30): [dict(market=BTC, size=-2.0)]}
    res = bt.run(Scripted(script=script), ds, cfg)
    f = res.fills
    assert list(f.liquidity) == ["maker", "taker"] and list(f.ts) == [sec(20), sec(40)]
    assert list(f.price) == pytest.approx([99.5, 100.9899], rel=1e-12)
    assert list(f.fee) == pytest.approx([-0.0398, 0.1009899], rel=1e-12)
    assert list(f.slippage_cost) == pytest.approx([0.0, 0.0202], rel=1e-9)
    fees = res.ledger[res.ledger.kind == "fee"]
    assert list(fees.amount) == pytest.approx([0.0398, -0.1009899], rel=1e-12)
    st = res.stats()
    assert st["fees"] == pytest.approx(0.1009899 - 0.0398, rel=1e-12)
    assert st["slippage_cost"] == pytest.approx(0.0202, rel=1e-9)
    assert res.final_equity() == pytest.approx(10_002.9186101, rel=0, abs=1e-9)
