"""Known-answer tests of the reference engine itself (numbers worked out by hand in comments),
plus money conservation and structural invariants on random inputs from ``gen``.

All times below are seconds after T0 (2024-01-01 00:00 UTC) unless said.
"""
import math

import pytest
from hypothesis import HealthCheck, given, settings

from .engine import (CANCELLED, INSUFFICIENT_MARGIN, IOC_UNFILLED, LIQUIDATED, NO_PRICE, NONE, REDUCE_ONLY,
                     REORG, VENUE_DOWN, CancelIntent, MarketSpec, OrderIntent, RefConfig, Reorg,
                     TargetIntent, TransferIntent, run_reference)
from .gen import HOUR, MIN, SEC, T0, liquidation_edge_cases, make_dataset, reference_inputs

BTC, ETH = "BTC-USD", "ETH-USD"


def s(x):
    """Seconds after T0 -> ns."""
    return T0 + int(round(x * SEC))


def trades(*rows):
    """rows of (seconds, market, price, size[, side])."""
    return [dict(ts=s(r[0]), market=r[1], price=float(r[2]), size=float(r[3]),
                 side=r[4] if len(r) > 4 else 1) for r in rows]


def spec(name=BTC, imf=0.05, mmf=0.03, taker=0.0, maker=0.0, hs=0.0, impact=0.0, liq_fee=0.015, venue="dydx"):
    return MarketSpec(name, venue, imf, mmf, taker, maker, hs, impact, liq_fee)


def cfg(cash=10_000.0, fund=0.0, **kw):
    return RefConfig(initial_cash={"dydx": cash}, insurance_fund={"dydx": fund}, **kw)


def trace(*rows):
    """rows of (seconds, order_latency_s, ack_s, finality_s, up, gas)."""
    return [dict(ts=s(r[0]), venue="dydx", order_latency=int(r[1] * SEC), ack_latency=int(r[2] * SEC),
                 finality=int(r[3] * SEC), up=r[4], gas_fee=float(r[5])) for r in rows]


def conserved(res, tol=1e-9):
    f = res.final
    assert abs(f["total"] - f["initial_total"]) < tol
    assert f["max_conservation_error"] < tol


def ledger_sum(res, account, kind=None):
    led = res.ledger[res.ledger.account == account]
    if kind is not None:
        led = led[led.kind == kind]
    return led.amount.sum()


# ============================================================================ fills
def test_market_order_slippage_and_taker_fee(run_engine):
    # Trades 0s @100 x3, 10s @101 x1. Buy 4 sent at 5s, no trace: zero latency, arrives at 5s
    # (step 4 of 5s, admitted at the derived oracle 100) and fills against the 10s trade.
    # V over (10s - 1h, 10s] = 3 + 1 = 4; s = m * (hs + impact * sqrt(4/4)) = 2 * (0.001 + 0.01) = 0.022
    # price = 101 * 1.022 = 103.222; fee = 0.0005 * 4 * 103.222 = 0.206444;
    # slippage_cost = 4 * (103.222 - 101) = 8.888.
    ds = make_dataset(trades((0, BTC, 100, 3), (10, BTC, 101, 1)))
    res = run_engine(ds, [spec(taker=0.0005, hs=0.001, impact=0.01)], cfg(slippage_multiplier=2.0),
                        [OrderIntent(s(5), BTC, 1, 4.0)])
    (f,) = res.fills.itertuples()
    assert f.ts == s(10) and f.liquidity == "taker" and f.trade_price == 101.0
    assert f.price == pytest.approx(103.222)
    assert f.fee == pytest.approx(0.206444)
    assert f.slippage_cost == pytest.approx(8.888)
    o = res.orders.iloc[0]
    assert (o.status, o.reason, o.filled_size, o.arrive_ts) == ("filled", NONE, 4.0, s(5))
    assert res.final["cash"]["dydx"] == pytest.approx(10_000 - 0.206444)
    assert res.final["positions"][("dydx", BTC)] == {"size": 4.0, "entry_price": pytest.approx(103.222)}
    # equity at the oracle (derived from trades: 101): 9999.793556 + 4 * (101 - 103.222)
    assert res.final["trader_equity"] == pytest.approx(9990.905556)
    assert res.final["counterparty_equity"] == pytest.approx(9.094444)
    conserved(res)


def test_zero_latency_order_sent_at_a_trade_fills_at_the_next_trade(run_engine):
    # Sent at 0s (step 8, after the 0s trade) -> fills at the 1s trade, not the 0s one.
    ds = make_dataset(trades((0, BTC, 100, 1), (1, BTC, 102, 1)))
    res = run_engine(ds, [spec()], cfg(), [OrderIntent(s(0), BTC, -1, 1.0)])
    assert list(res.fills.price) == [102.0] and list(res.fills.ts) == [s(1)]


def test_limit_maker_partial_fill_with_rebate(run_engine):
    # Two resting buy limits sent at 0s: #0 size 5 @ 99.5, #1 size 1 @ 99.2 (arrival order 0, 1).
    # 1s @100 x1    : not through either limit.
    # 2s @99.0 x2   : through both; #0 takes min(5, 2) = 2 at 99.5, nothing left for #1.
    # 3s @99.5 x10  : not strictly through 99.5: no fill.
    # 4s @99.1 x1.5 : through both; #0 (earlier arrival... same arrival, lower id) takes 1.5,
    #                 nothing left for #1.
    # maker fee -0.0002: rebates 0.0002*2*99.5 = 0.0398 and 0.0002*1.5*99.5 = 0.02985.
    # (a first print at 0s gives the market a price before the orders arrive: no NO_PRICE)
    ds = make_dataset(trades((0, BTC, 100, 1), (1, BTC, 100, 1), (2, BTC, 99.0, 2), (3, BTC, 99.5, 10),
                             (4, BTC, 99.1, 1.5)))
    res = run_engine(ds, [spec(maker=-0.0002, taker=0.001)], cfg(),
                        [OrderIntent(s(0), BTC, 1, 5.0, "limit", limit_price=99.5),
                         OrderIntent(s(0), BTC, 1, 1.0, "limit", limit_price=99.2)])
    f = res.fills
    assert list(f.order_id) == [0, 0]
    assert list(f["size"]) == [2.0, 1.5] and list(f.price) == [99.5, 99.5]
    assert list(f.trade_price) == [99.0, 99.1] and set(f.liquidity) == {"maker"}
    assert list(f.fee) == pytest.approx([-0.0398, -0.02985])
    assert list(f.slippage_cost) == [0.0, 0.0]
    o = res.orders
    assert list(o.status) == ["partially_filled", "open"]
    assert list(o.filled_size) == [3.5, 0.0]
    assert res.final["cash"]["dydx"] == pytest.approx(10_000.06965)
    assert res.final["positions"][("dydx", BTC)] == {"size": 3.5, "entry_price": 99.5}
    conserved(res)


# ============================================================================ funding
def test_funding_long_and_short_three_hours(run_engine):
    # 1s: buy 2 BTC @100 and sell 10 ETH @50 (no fees, no slippage). Funding rows carry the
    # oracle price; payment = -S * price * rate:
    #   1h  BTC  r=+0.001  p=110 : -2*110*0.001     = -0.22   ETH r=+0.001  p=40 : +10*40*0.001     = +0.40
    #   2h  BTC  r=-0.0005 p=120 : -2*120*(-0.0005) = +0.12   ETH r=-0.0005 p=45 : +10*45*(-0.0005) = -0.225
    #   3h  BTC  r=+0.002  p=90  : -2*90*0.002      = -0.36   ETH r=+0.002  p=55 : +10*55*0.002     = +1.10
    #   total +0.815
    ds = make_dataset(
        trades((0, BTC, 100, 1), (0, ETH, 50, 1), (1, BTC, 100, 10), (1, ETH, 50, 10)),
        funding=[dict(ts=T0 + h * HOUR, market=m, rate=r, oracle_price=p)
                 for h, rb, pb, re_, pe in [(1, 0.001, 110, 0.001, 40), (2, -0.0005, 120, -0.0005, 45),
                                            (3, 0.002, 90, 0.002, 55)]
                 for m, r, p in [(BTC, rb, pb), (ETH, re_, pe)]])
    res = run_engine(ds, [spec(BTC), spec(ETH)], cfg(),
                        [OrderIntent(s(0.5), BTC, 1, 2.0), OrderIntent(s(0.5), ETH, -1, 10.0)])
    fu = res.funding
    assert list(fu.market) == [BTC, ETH] * 3
    assert list(fu.position) == [2.0, -10.0] * 3
    assert list(fu.price) == [110, 40, 120, 45, 90, 55]
    assert list(fu.payment) == pytest.approx([-0.22, 0.40, 0.12, -0.225, -0.36, 1.10])
    assert ledger_sum(res, "dydx", "funding") == pytest.approx(0.815)
    assert ledger_sum(res, "counterparty", "funding") == pytest.approx(-0.815)
    assert res.final["cash"]["dydx"] == pytest.approx(10_000.815)
    conserved(res)


def test_funding_without_oracle_price_uses_oracle_before_this_timestamp(run_engine):
    # BTC has oracle rows 30min @103 and 1h @105: the 1h funding row (no oracle_price) is paid
    # at 103, the price in force *before* the 1h oracle rows: -2*103*0.001 = -0.206.
    # ETH has no oracle rows; derived with oracle_delay 2h its oracle has no value at 1h, so
    # the last trade price (52) is used: +10*52*0.001 = +0.52.
    ds = make_dataset(
        trades((0, BTC, 100, 1), (0, ETH, 50, 1), (1, BTC, 100, 10), (1, ETH, 52, 10)),
        funding=[dict(ts=T0 + HOUR, market=BTC, rate=0.001, oracle_price=None),
                 dict(ts=T0 + HOUR, market=ETH, rate=0.001, oracle_price=None)],
        oracle=[dict(ts=T0 + HOUR // 2, market=BTC, price=103.0), dict(ts=T0 + HOUR, market=BTC, price=105.0)])
    res = run_engine(ds, [spec(BTC), spec(ETH)], cfg(oracle_delay_ns=2 * HOUR),
                        [OrderIntent(s(0.5), BTC, 1, 2.0), OrderIntent(s(0.5), ETH, -1, 10.0)])
    assert list(res.funding.price) == [103.0, 52.0]
    assert list(res.funding.payment) == pytest.approx([-0.206, 0.52])
    assert res.final["oracle"] == {BTC: 105.0, ETH: 52.0}
    conserved(res)


# ============================================================================ downtime
DOWN_TRADES = trades((5, BTC, 100, 1), (15, BTC, 101, 1), (20, BTC, 102, 1), (25, BTC, 103, 1))


@pytest.mark.parametrize("policy", ["queue", "reject"])
def test_order_sent_into_downtime(policy, run_engine):
    # Trace: 0s up, latency 1s, gas 0.1; 10s down; 20s up again. A buy sent at 9s arrives at
    # 10s, when the venue is down. Gas 0.1 is charged at 9s either way.
    #   queue : arrival moves to 20s (first up row after 10s); the 20s trade (step 5 after the
    #           arrival at step 4) fills it at 102.
    #   reject: rejected VENUE_DOWN at 10s, no fill.
    ds = make_dataset(DOWN_TRADES, latency=trace((0, 1, 0, 0, True, 0.1), (10, 1, 0, 0, False, 0.1),
                                                 (20, 1, 0, 0, True, 0.1)))
    res = run_engine(ds, [spec()], cfg(downtime_policy=policy), [OrderIntent(s(9), BTC, 1, 1.0)])
    o = res.orders.iloc[0]
    assert ledger_sum(res, "dydx", "gas") == pytest.approx(-0.1)
    if policy == "queue":
        assert (o.status, o.arrive_ts) == ("filled", s(20))
        assert list(res.fills.price) == [102.0] and list(res.fills.ts) == [s(20)]
    else:
        assert (o.status, o.reason, o.arrive_ts) == ("rejected", VENUE_DOWN, s(10))
        assert res.fills.empty
        assert res.final["cash"]["dydx"] == pytest.approx(10_000 - 0.1)
    conserved(res)


def test_queue_never_up_again_is_rejected_and_no_trade_matches_while_down(run_engine):
    # 0s up, 10s down for good. A first print at 0s @100 gives the market a price (derived
    # oracle 100 from step 3 of 0s). A limit buy @ 95 sent 1s arrives 2s: processed at step 4 of
    # 2s, admitted at mark 100 (IMR' = 1*100*0.05 = 5 <= 10000), rests. 5s @100 is not below
    # 95: no fill. 15s @90 and 20s @89 print through it but the venue is down: no fill.
    # A market buy sent at 9s arrives at 10s: down, never up again -> rejected VENUE_DOWN at
    # 10s even under queue.
    ds = make_dataset(trades((0, BTC, 100, 1), (5, BTC, 100, 1), (15, BTC, 90, 1), (20, BTC, 89, 1)),
                      latency=trace((0, 1, 0, 0, True, 0), (10, 1, 0, 0, False, 0)))
    res = run_engine(ds, [spec()], cfg(downtime_policy="queue"),
                        [OrderIntent(s(1), BTC, 1, 1.0, "limit", limit_price=95.0), OrderIntent(s(9), BTC, 1, 1.0)])
    o = res.orders
    assert list(o.status) == ["open", "rejected"] and o.reason.iloc[1] == VENUE_DOWN
    assert list(o.arrive_ts) == [s(2), s(10)]
    assert res.fills.empty


# ============================================================================ liquidation
LIQ_TRADES = trades((1, BTC, 100, 20), (10, BTC, 100, 1))


def liq_oracle(p3):
    """Oracle 100 at 0s, 95 at 2s, ``p3`` at 3s."""
    return [dict(ts=s(0), market=BTC, price=100.0), dict(ts=s(2), market=BTC, price=95.0),
            dict(ts=s(3), market=BTC, price=float(p3))]


def _liq_run(run_engine, p3, fund, liq_spread=1.5):
    # Cash 100, IMF 0.1, MMF 0.05, no fees. Buy 10 sent at 0.5s (zero latency: processed at step 4
    # of 0.5s, oracle 100): IMR' = 10*100*0.1 = 100, not > NC = 100 -> admitted; fills at the 1s
    # trade @100. A limit sell 1 @ 200 sent at 1.5s: S' = 9, IMR' = 90 < IMR = 100 -> admitted
    # (it lowers the requirement); it rests (the 10s trade @100 is not above 200).
    # Oracle 95 at 2s: NC = 100 + 10*(95-100) = 50 >= MMR = 10*95*0.05 = 47.5: safe.
    # Oracle p3 at 3s: the margin check after step 3 of 3s decides (see each test).
    ds = make_dataset(LIQ_TRADES, oracle=liq_oracle(p3))
    return run_engine(ds, [spec(imf=0.1, mmf=0.05)], cfg(cash=100.0, fund=fund, liq_spread=liq_spread),
                         [OrderIntent(s(0.5), BTC, 1, 10.0),
                          OrderIntent(s(1.5), BTC, -1, 1.0, "limit", limit_price=200.0)])


def test_liquidation_fee_goes_to_insurance_fund(run_engine):
    # Oracle 93.75 at 3s: NC = 100 + 10*(93.75-100) = 37.5 < MMR = 10*93.75*0.05 = 46.875.
    # ABR = clamp(1 - 37.5/46.875, 0, 1) = 1 - 0.8 = 0.2 (strictly between 0 and 1), so the close
    # is at 93.75 * (1 - 1.5*0.05*0.2) = 93.75 * 0.985 = 92.34375 (the full spread would give
    # 93.75 * 0.925 = 86.71875). Realized 10*(92.34375-100) = -76.5625 -> Q = 23.4375
    # (= NC - liq_spread*MMR*ABR = 37.5 - 14.0625). Fee = min(0.015*10*93.75, 23.4375) = 14.0625;
    # Q = 9.375 >= 0; fund 50 -> 64.0625. Counterparty: its short 10 @100 bought back at
    # 92.34375 realizes +76.5625. Check: 9.375 + 64.0625 + 76.5625 = 150 = 100 + 50.
    res = _liq_run(run_engine, 93.75, 50.0)
    (liq,) = res.liquidations.itertuples()
    assert (liq.ts, liq.size, liq.oracle_price) == (s(3), 10.0, 93.75)
    assert liq.price == pytest.approx(92.34375, rel=0, abs=1e-9)
    assert liq.fee == pytest.approx(14.0625)
    assert (liq.deficit, liq.insurance_paid, liq.socialized) == (0.0, 0.0, 0.0)
    assert res.final["insurance"]["dydx"] == pytest.approx(64.0625)
    assert res.final["cash"]["dydx"] == pytest.approx(9.375)
    assert res.final["positions"][("dydx", BTC)]["size"] == 0.0
    assert res.final["counterparty_cash"] == pytest.approx(76.5625)
    f = res.fills.iloc[-1]
    assert (f.order_id, f.liquidity, f.side, f["size"], f.fee) == (-1, "liquidation", -1, 10.0, 0.0)
    assert f.price == pytest.approx(92.34375, rel=0, abs=1e-9)
    assert math.isnan(f.trade_price)
    assert ledger_sum(res, "dydx", "realized_pnl") == pytest.approx(-76.5625)
    assert ledger_sum(res, "dydx", "liquidation_fee") == pytest.approx(-14.0625)
    assert ledger_sum(res, "insurance:dydx", "liquidation_fee") == pytest.approx(14.0625)
    assert list(res.orders.status) == ["filled", "cancelled"]
    assert res.orders.reason.iloc[1] == LIQUIDATED
    conserved(res)


def test_liquidation_just_under_maintenance_closes_near_the_oracle(run_engine):
    # ABR close to 0. Oracle 94.7 at 3s: NC = 100 + 10*(94.7-100) = 47 < MMR = 10*94.7*0.05
    # = 47.35; ABR = 1 - 47/47.35 = 0.35/47.35 (about 0.0074). Close at
    # 94.7 * (1 - 1.5*0.05*0.35/47.35) = 94.7 - 0.075*0.35*(94.7/47.35) = 94.7 - 0.075*0.35*2
    # = 94.7 - 0.0525 = 94.6475 (94.7/47.35 = 2 = 1/(10*MMF)), i.e. 0.0525 under the oracle where
    # the full spread would be 94.7*0.075 = 7.1025 under it.
    # Realized 10*(94.6475-100) = -53.525 -> Q = 46.475; fee = min(0.015*10*94.7 = 14.205,
    # 46.475) = 14.205; Q = 32.27; fund 0 -> 14.205.
    res = _liq_run(run_engine, 94.7, 0.0)
    (liq,) = res.liquidations.itertuples()
    assert (liq.ts, liq.oracle_price) == (s(3), 94.7)
    assert liq.price == pytest.approx(94.6475, rel=0, abs=1e-9)
    assert liq.fee == pytest.approx(14.205)
    assert (liq.deficit, liq.insurance_paid, liq.socialized) == (0.0, 0.0, 0.0)
    assert res.final["cash"]["dydx"] == pytest.approx(32.27)
    assert res.final["insurance"]["dydx"] == pytest.approx(14.205)
    conserved(res)


def test_liquidation_deficit_paid_by_insurance_fund(run_engine):
    # A gap: oracle 95 (safe) -> 88 at 3s in one step: NC = 100 + 10*(88-100) = -20 < 0 <
    # MMR = 10*88*0.05 = 44. ABR = clamp(1 - (-20)/44, 0, 1) = clamp(1.4545.., 0, 1) = 1: the full
    # spread, close at 88 * (1 - 1.5*0.05) = 88 * 0.925 = 81.4. Realized 10*(81.4-100) = -186;
    # Q = -86 -> fee = min(0.015*10*88 = 13.2, max(Q, 0)) = 0; the fund (100) pays 86 -> 14.
    # Counterparty: +10*(100-81.4) = +186. Check: 0 + 14 + 186 = 200 = 100 + 100.
    res = _liq_run(run_engine, 88.0, 100.0)
    (liq,) = res.liquidations.itertuples()
    assert (liq.ts, liq.oracle_price) == (s(3), 88.0)
    assert liq.price == pytest.approx(81.4, rel=0, abs=1e-9)
    assert liq.fee == 0.0
    assert liq.deficit == pytest.approx(86.0) and liq.insurance_paid == pytest.approx(86.0)
    assert liq.socialized == 0.0
    assert res.final["insurance"]["dydx"] == pytest.approx(14.0)
    assert res.final["cash"]["dydx"] == 0.0
    assert ledger_sum(res, "dydx", "insurance_payout") == pytest.approx(86.0)
    assert ledger_sum(res, "insurance:dydx", "insurance_payout") == pytest.approx(-86.0)
    assert res.final["counterparty_cash"] == pytest.approx(186.0)
    conserved(res)


def test_liquidation_deficit_socialized_when_fund_too_small(run_engine):
    # Same gap as above (close at 81.4, Q = -86) with a fund of 30: it pays 30, the remaining 56
    # is socialized (the counterparty book absorbs it), the fund ends at 0 and the account at 0.
    res = _liq_run(run_engine, 88.0, 30.0)
    (liq,) = res.liquidations.itertuples()
    assert liq.price == pytest.approx(81.4, rel=0, abs=1e-9)
    assert liq.deficit == pytest.approx(86.0)
    assert liq.insurance_paid == pytest.approx(30.0) and liq.socialized == pytest.approx(56.0)
    assert res.final["insurance"]["dydx"] == 0.0
    assert res.final["cash"]["dydx"] == 0.0
    assert ledger_sum(res, "counterparty", "socialized_loss") == pytest.approx(-56.0)
    assert ledger_sum(res, "dydx", "socialized_loss") == pytest.approx(56.0)
    # counterparty: realized +10*(100-81.4) = +186 on its short, -56 socialized -> 130
    # (check: 0 + 0 + 130 = 130 = 100 + 30).
    assert res.final["counterparty_cash"] == pytest.approx(130.0)
    conserved(res)


# ============================================================================ admission
def test_admission_rejections(run_engine):
    # Cash 100, IMF 0.1, MMF 0.01, taker fee 0.001.
    # #0 buy 10 at 0.5s -> fills @100 at 1s (IMR' = 100 = NC, not > NC: admitted); fee 1.0, Q = 99.
    # oracle 92 at 2s: NC = 99 + 10*(92-100) = 19, IMR = 92, MMR = 9.2 (no liquidation).
    # #1 buy 0.1 (3s)  : IMR' = 10.1*92*0.1 = 92.92 > NC and > IMR       -> INSUFFICIENT_MARGIN
    # #2 sell 13 (3s)  : S' = -3, IMR' = 27.6 > NC = 19 but < IMR = 92    -> admitted (lowers it)
    # #3 buy 1 ETH (3s): ETH has no trade and no oracle                    -> NO_PRICE
    ds = make_dataset(trades((1, BTC, 100, 20), (10, BTC, 92, 1)),
                      oracle=[dict(ts=s(0), market=BTC, price=100.0), dict(ts=s(2), market=BTC, price=92.0)])
    res = run_engine(ds, [spec(BTC, imf=0.1, mmf=0.01, taker=0.001), spec(ETH)], cfg(cash=100.0),
                        [OrderIntent(s(0.5), BTC, 1, 10.0), OrderIntent(s(3), BTC, 1, 0.1),
                         OrderIntent(s(3), BTC, -1, 13.0), OrderIntent(s(3), ETH, 1, 1.0)])
    o = res.orders
    assert list(o.status) == ["filled", "rejected", "filled", "rejected"]
    assert list(o.reason) == [NONE, INSUFFICIENT_MARGIN, NONE, NO_PRICE]
    assert res.final["positions"][("dydx", BTC)]["size"] == -3.0
    conserved(res)


# ============================================================================ reduce-only
def test_reduce_only_clipping(run_engine):
    # A first print at 0s @100 gives the market a price (derived oracle 100), so #0 buy 2
    # (sent and processed at 0.5s, zero latency) is admitted (IMR' = 2*100*0.05 = 10) and fills
    # @100 at 1s. At 2s (arrive 2s, reduce-only: no admission check, they rest in arrival
    # order #1, #2): at the 3s trade #1 reduce-only buy 1 is on the same side as the long:
    # cancelled REDUCE_ONLY at its fill attempt; #2 reduce-only sell 5 is clipped to |S| = 2,
    # fills @101, rest cancelled REDUCE_ONLY; #3 reduce-only sell 1 (sent 3.5s) finds the
    # position flat at the 4s trade: cancelled REDUCE_ONLY, nothing filled.
    # Realized PnL: 2 * (101 - 100) = 2.
    ds = make_dataset(trades((0, BTC, 100, 5), (1, BTC, 100, 5), (3, BTC, 101, 5), (4, BTC, 102, 5)))
    res = run_engine(ds, [spec()], cfg(),
                        [OrderIntent(s(0.5), BTC, 1, 2.0), OrderIntent(s(2), BTC, 1, 1.0, reduce_only=True),
                         OrderIntent(s(2), BTC, -1, 5.0, reduce_only=True),
                         OrderIntent(s(3.5), BTC, -1, 1.0, reduce_only=True)])
    o = res.orders
    assert list(o.status) == ["filled", "cancelled", "cancelled", "cancelled"]
    assert list(o.reason) == [NONE, REDUCE_ONLY, REDUCE_ONLY, REDUCE_ONLY]
    assert list(o.filled_size) == [2.0, 0.0, 2.0, 0.0]
    assert list(res.fills["size"]) == [2.0, 2.0]
    assert res.final["positions"][("dydx", BTC)] == {"size": 0.0, "entry_price": 0.0}
    assert ledger_sum(res, "dydx", "realized_pnl") == pytest.approx(2.0)
    conserved(res)


def test_reduce_only_limit_filled_in_parts_ends_filled(run_engine):
    # #0 sell 0.4 (0.5s) fills @100 at 1s: short 0.4. #1 reduce-only buy limit 0.4 @99 (2s)
    # rests; the 3s print @98 x0.1 fills 0.1 (maker), the 4s print @98 x0.3 fills the rest:
    # size - filled = 0.4 - 0.1 = 0.30000000000000004 in floats, the clip to |S| gives 0.3, and
    # the fills sum to 0.1 + 0.3 = 0.4 = size: filled, not "cancelled (REDUCE_ONLY)" with 5.6e-17
    # of dust at the 5s print, which a running difference 0.4 - 0.1 - 0.3 would leave
    # (CHOICES.md item 38).
    ds = make_dataset(trades((0, BTC, 100, 5), (1, BTC, 100, 5), (3, BTC, 98, 0.1), (4, BTC, 98, 0.3),
                             (5, BTC, 97, 1)))
    res = run_engine(ds, [spec()], cfg(),
                     [OrderIntent(s(0.5), BTC, -1, 0.4),
                      OrderIntent(s(2), BTC, 1, 0.4, "limit", limit_price=99.0, reduce_only=True)])
    o = res.orders
    assert list(o.status) == ["filled", "filled"] and list(o.reason) == [NONE, NONE]
    assert list(res.fills["size"]) == [0.4, 0.1, 0.3]
    conserved(res)


def test_ioc_unfilled_and_cancel(run_engine):
    # A first print at 0s @100 gives the market a price, so both orders (sent and processed at
    # 0.5s) pass admission (IMR' = 1*100*0.05 = 5 each, then 10).
    # IOC buy limit 100.5 (0.5s): the first trade at/after its arrival, 1s @101, gives a price
    # 101 > 100.5 -> IOC_UNFILLED. A limit buy @ 90 (0.5s) rests (1s @101, 3s @95 are not below
    # 90); a cancel sent at 2s arrives at 2s and is processed at step 4 of 2s: CANCELLED, so the
    # 4s trade @89, which prints through 90, fills nothing.
    ds = make_dataset(trades((0, BTC, 100, 5), (1, BTC, 101, 5), (3, BTC, 95, 5), (4, BTC, 89, 5)))
    res = run_engine(ds, [spec()], cfg(),
                        [OrderIntent(s(0.5), BTC, 1, 1.0, "limit", limit_price=100.5, ioc=True),
                         OrderIntent(s(0.5), BTC, 1, 1.0, "limit", limit_price=90.0),
                         CancelIntent(s(2), 1)])
    assert list(res.orders.status) == ["cancelled", "cancelled"]
    assert list(res.orders.reason) == [IOC_UNFILLED, CANCELLED]
    assert res.fills.empty


# ============================================================================ stops
def test_stop_market_trigger_with_feed_latency(run_engine):
    # Feed latency 2s, order latency 1s, gas 0.05. Buy stop @105 size 1 sent at 0s (id 0).
    # Trades: 1s @100, 3s @104, 5s @106 (observed at 7s: triggers), 6s @107, 8s @108, 9s @109.
    # At 7s the stop sends market order id 1 (parent 0), arriving 8s: step 4 of 8s, so the 8s
    # trade (step 5) fills it at 108. Only the child pays gas (0.05, at 7s).
    # A plain order sent at 7.5s gets id 2.
    ds = make_dataset(trades((1, BTC, 100, 1), (3, BTC, 104, 1), (5, BTC, 106, 1), (6, BTC, 107, 1),
                             (8, BTC, 108, 1), (9, BTC, 109, 1)),
                      latency=trace((0, 1, 0.5, 0, True, 0.05)))
    res = run_engine(ds, [spec()], cfg(feed_latency_ns=2 * SEC),
                        [OrderIntent(s(0), BTC, 1, 1.0, "stop_market", trigger_price=105.0),
                         OrderIntent(s(7.5), BTC, 1, 0.5, "limit", limit_price=50.0)])
    o = res.orders.set_index("order_id")
    assert o.loc[0, "status"] == "triggered"
    assert (o.loc[1, "type"], o.loc[1, "parent_id"], o.loc[1, "sent_ts"], o.loc[1, "arrive_ts"]) == \
        ("market", 0, s(7), s(8))
    assert o.loc[2, "sent_ts"] == s(7.5)
    (f,) = res.fills.itertuples()
    assert (f.order_id, f.ts, f.price, f.ack_ts) == (1, s(8), 108.0, s(8.5))
    gas = res.ledger[(res.ledger.account == "dydx") & (res.ledger.kind == "gas")]
    assert list(gas.ts) == [s(7), s(7.5)] and list(gas.amount) == [-0.05, -0.05]
    conserved(res)


def test_stop_market_trigger_far_down_a_long_tape(run_engine):
    # As above, with 6000 trades @100 (0.01s apart from 1s, each with its derived oracle row:
    # 12000 events, more than the kernel's stop observer scans at once) between the stop and
    # the trade that crosses it: 65s @106, observed at 67s, sends market order id 1 arriving at
    # 68s, which the 68s trade fills at 108. Nothing triggers before.
    quiet = [(1 + i * 0.01, BTC, 100, 0.1) for i in range(6000)]
    ds = make_dataset(trades(*quiet, (65, BTC, 106, 1), (66, BTC, 107, 1), (68, BTC, 108, 1), (69, BTC, 109, 1)),
                      latency=trace((0, 1, 0.5, 0, True, 0.05)))
    res = run_engine(ds, [spec()], cfg(feed_latency_ns=2 * SEC),
                     [OrderIntent(s(0), BTC, 1, 1.0, "stop_market", trigger_price=105.0)])
    o = res.orders.set_index("order_id")
    assert o.loc[0, "status"] == "triggered"
    assert (o.loc[1, "parent_id"], o.loc[1, "sent_ts"], o.loc[1, "arrive_ts"]) == (0, s(67), s(68))
    (f,) = res.fills.itertuples()
    assert (f.order_id, f.ts, f.price) == (1, s(68), 108.0)
    conserved(res)


# ============================================================================ reorg
def test_reorg_reverts_pending_fill(run_engine):
    # Finality 60s, no latency, taker fee 0.001. A first print at 0s @100 (derived oracle 100)
    # gives #0 a price at its arrival (0.5s); it is admitted (IMR' = 5).
    # #0 buy 1 (0.5s) fills @100 at 1s, final at 61s.  #1 buy 1 (70s) fills @102 at 71s, final 131s.
    # A reorg at 100s reverts fill 1 only (71 <= 100 < 131; fill 0 is final since 61s):
    # opposite fill of 1 @102 on 2 @101 realizes +1 (reorg_reversal), fee 0.102 refunded.
    # Position back to 1; equity as if fill 1 never happened.
    ds = make_dataset(trades((0, BTC, 100, 1), (1, BTC, 100, 10), (71, BTC, 102, 10), (120, BTC, 103, 1)),
                      latency=trace((0, 0, 0, 60, True, 0)))
    res = run_engine(ds, [spec(taker=0.001)], cfg(),
                        [OrderIntent(s(0.5), BTC, 1, 1.0), OrderIntent(s(70), BTC, 1, 1.0)],
                        reorgs=[Reorg(s(100), "dydx")])
    assert list(res.fills.reverted) == [False, True]
    assert list(res.fills.final_ts) == [s(61), s(131)]
    o = res.orders
    assert list(o.status) == ["filled", "cancelled"] and o.reason.iloc[1] == REORG
    assert list(o.filled_size) == [1.0, 0.0]
    rev = res.ledger[(res.ledger.account == "dydx") & (res.ledger.kind == "reorg_reversal")]
    assert sorted(rev.amount) == pytest.approx([0.102, 1.0])
    assert res.final["positions"][("dydx", BTC)]["size"] == 1.0
    # equity at 103: 10000 - 0.1 + (103 - 100) = 10002.9
    assert res.final["trader_equity"] == pytest.approx(10_002.9)
    conserved(res)


# ============================================================================ isolated
def test_isolated_accounts_split_cash_and_liquidate_alone(run_engine):
    # Isolated: 200 cash split into 100 per market. The BTC account (cash 100) buys 10 @100 and is
    # liquidated at the 3s oracle 93.75 exactly as in test_liquidation_fee_goes_to_insurance_fund:
    # NC = 37.5, MMR = 46.875, ABR = 0.2, close 92.34375, Q = 23.4375, fee 14.0625 -> keeps 9.375;
    # fund 50 -> 64.0625. The ETH account (flat, derived oracle 50) keeps its 100. Had the
    # accounts been cross, the ETH account's 100 would have kept BTC above maintenance.
    ds = make_dataset(LIQ_TRADES + trades((1, ETH, 50, 1)), oracle=liq_oracle(93.75))
    res = run_engine(ds, [spec(BTC, imf=0.1, mmf=0.05), spec(ETH)],
                        cfg(cash=200.0, fund=50.0, margin_mode="isolated"),
                        [OrderIntent(s(0.5), BTC, 1, 10.0)])
    assert res.final["cash"] == {"dydx/BTC-USD": pytest.approx(9.375), "dydx/ETH-USD": 100.0}
    assert list(res.liquidations.account) == ["dydx/BTC-USD"]
    assert res.liquidations.price.iloc[0] == pytest.approx(92.34375, rel=0, abs=1e-9)
    assert res.final["insurance"]["dydx"] == pytest.approx(64.0625)
    conserved(res)
    # Cross (same 200 in one account): NC = 200 + 10*(93.75-100) = 137.5 >= MMR = 46.875: safe.
    cross = run_engine(ds, [spec(BTC, imf=0.1, mmf=0.05), spec(ETH)], cfg(cash=200.0, fund=50.0),
                          [OrderIntent(s(0.5), BTC, 1, 10.0)])
    assert cross.liquidations.empty and cross.final["positions"][("dydx", BTC)]["size"] == 10.0


def test_isolated_cash_is_split_among_the_markets_that_trade(run_engine):
    # Isolated, 200 cash, BTC trades, ETH appears only in a funding row and an oracle row (it can
    # never fill an order): the BTC account starts with all 200 and ETH's with 0. Buying 30 BTC
    # @100 (imf 0.5: IMR' = 1500 > NC = 200) is rejected either way; buying 3 (IMR' = 150) is
    # admitted with 200 but would have been rejected with 100 (the old equal split: IMR' > NC).
    ds = make_dataset(trades((0, BTC, 100, 10), (2, BTC, 100, 10), (4, BTC, 100, 10)),
                      funding=[dict(ts=s(1), market=ETH, rate=0.0001, oracle_price=50.0)],
                      oracle=[dict(ts=s(1), market=ETH, price=50.0)])
    res = run_engine(ds, [spec(BTC, imf=0.5, mmf=0.25), spec(ETH)], cfg(cash=200.0, margin_mode="isolated"),
                     [OrderIntent(s(1), BTC, 1, 3.0)])
    assert list(res.fills["size"]) == [3.0] and res.fills.price.iloc[0] == 100.0
    assert res.final["cash"] == {"dydx/BTC-USD": 200.0, "dydx/ETH-USD": 0.0}
    conserved(res)


# ============================================================================ random runs
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(reference_inputs())
def test_money_conservation_and_invariants_on_random_runs(inputs):
    res = run_reference(**inputs)
    f = res.final
    scale = f["initial_total"] + sum(abs(x) for x in res.ledger.amount)
    # trader equity + insurance + counterparty equity is constant, after every timestamp.
    assert f["max_conservation_error"] <= 1e-9 * scale
    assert abs(f["trader_equity"] + sum(f["insurance"].values()) + f["counterparty_equity"]
               - f["initial_total"]) <= 1e-9 * scale
    # every trader cash movement is a ledger row
    initial = initial_cash_of(inputs["markets"], inputs["config"], inputs["dataset"])
    for acct, cash in f["cash"].items():
        assert cash == pytest.approx(initial[acct] + ledger_sum(res, acct), abs=1e-6)
    assert all(v >= -1e-9 for v in f["insurance"].values())
    # orders: ids in send order; nothing fills before it arrives; ids of fills exist
    o = res.orders
    assert list(o.order_id) == list(range(len(o)))
    assert (o.sent_ts.diff().dropna() >= 0).all()
    fills = res.fills[res.fills.order_id >= 0]
    arrive = o.set_index("order_id").arrive_ts
    assert (fills.ts.to_numpy() > fills.order_id.map(arrive).to_numpy() - 1).all()
    assert (o.filled_size <= o["size"] + 1e-12).all()
    # positions never opened by reduce-only orders / liquidations close positions
    assert set(res.liquidations.account) <= set(f["cash"])


# ============================================================================ documented choices
def test_impact_window_multiplier_series_and_latency_scale(run_engine):
    # Trades 0s x3 @100, 2h x1 @100; window 1h: V at 2h = 1 (the 0s trade is outside (1h, 2h]).
    # Multiplier series [(1h, 3.0)] -> m = 3 at 2h. s = 3 * (0 + 0.01 * sqrt(1/1)) = 0.03, so a
    # sell of 1 fills at 100 * (1 - 0.03) = 97. Trace: latency 10s, ack 1s, finality 5s, scaled
    # by 2: sent at 1h, arrives 1h + 20s; fill at 2h acknowledged 2s and final 10s later.
    ds = make_dataset(trades((0, BTC, 100, 3), (7200, BTC, 100, 1)), latency=trace((0, 10, 1, 5, True, 0)))
    res = run_engine(ds, [spec(impact=0.01)],
                        cfg(slippage_multiplier=[(T0 + HOUR, 3.0)], latency_scale=2.0),
                        [OrderIntent(T0 + HOUR, BTC, -1, 1.0)])
    assert res.orders.arrive_ts.iloc[0] == T0 + HOUR + 20 * SEC
    (f,) = res.fills.itertuples()
    assert f.price == pytest.approx(97.0) and f.slippage_cost == pytest.approx(3.0)
    assert (f.ack_ts - f.ts, f.final_ts - f.ts) == (2 * SEC, 10 * SEC)


def test_arrival_is_admitted_at_its_own_time_not_at_the_next_event(run_engine):
    # An order arriving at a is processed at step 4 of time a, with the oracle in force at a.
    # A buy of 6 sent at 4s arrives at 5s (latency 1s); the oracle is 100 until the 10s row
    # moves it to 200: IMR' = 6 * 100 * 0.1 = 60 <= NC = 100 -> admitted (with the 10s
    # oracle it would be 6 * 200 * 0.1 = 120 > 100, rejected). It then fills at the 10s trade.
    ds = make_dataset(trades((0, BTC, 100, 1), (10, BTC, 200, 1)),
                      oracle=[dict(ts=s(0), market=BTC, price=100.0), dict(ts=s(10), market=BTC, price=200.0)],
                      latency=trace((0, 1, 0, 0, True, 0)))
    res = run_engine(ds, [spec(imf=0.1, mmf=0.05)], cfg(cash=100.0), [OrderIntent(s(4), BTC, 1, 6.0)])
    o = res.orders.iloc[0]
    assert (o.status, o.reason, o.arrive_ts) == ("filled", NONE, s(5))
    assert res.fills.iloc[0].ts == s(10) and res.fills.iloc[0].price == 200.0


def test_order_arriving_at_a_trades_time_meets_that_trade(run_engine):
    # Arrivals are step 4, trades step 5 of the same time: a buy of 1 sent at 4s with latency
    # 1s arrives at 5s and takes the 5s trade @101, not the 10s one @102 (a loop that let the
    # 5s trade pass before the arrival would fill at 102). The 0s trade's derived oracle is 100.
    ds = make_dataset(trades((0, BTC, 100, 1), (5, BTC, 101, 1), (10, BTC, 102, 1)),
                      latency=trace((0, 1, 0, 0, True, 0)))
    res = run_engine(ds, [spec()], cfg(), [OrderIntent(s(4), BTC, 1, 1.0)])
    (f,) = res.fills.itertuples()
    assert (f.ts, f.price) == (s(5), 101.0)
    assert res.orders.iloc[0].arrive_ts == s(5)


def test_zero_latency_send_after_step_4_is_processed_at_once(run_engine):
    # "Something created after step 4 of its own arrival time (a zero-latency order sent at
    # step 7 or 8) is processed at once". Zero latency, gas 0.5, cash 100.5, IMF 0.1.
    # At 0s (step 8, after the 0s trade @100, derived oracle 100):
    #   #0 buy 10 : gas -> Q = 100; processed at once: IMR' = 10*100*0.1 = 100, not > NC = 100
    #               -> admitted; it fills at the 1s trade @100.
    #   #1 limit sell 1 @ 200 : gas -> Q = 99.5; IMR' = 1*100*0.1 = 10 <= 99.5 -> admitted, rests.
    # Had #0 been admitted only after all sends of 0s, it would see NC = 99.5 < 100: rejected.
    ds = make_dataset(trades((0, BTC, 100, 1), (1, BTC, 100, 1)), latency=trace((0, 0, 0, 0, True, 0.5)))
    res = run_engine(ds, [spec(imf=0.1, mmf=0.05)], cfg(cash=100.5),
                        [OrderIntent(s(0), BTC, 1, 10.0),
                         OrderIntent(s(0), BTC, -1, 1.0, "limit", limit_price=200.0)])
    o = res.orders
    assert list(o.status) == ["filled", "open"] and list(o.arrive_ts) == [s(0), s(0)]
    assert list(res.fills.ts) == [s(1)] and list(res.fills.price) == [100.0]
    assert ledger_sum(res, "dydx", "gas") == pytest.approx(-1.0)
    assert res.final["cash"]["dydx"] == pytest.approx(99.5)
    conserved(res)


@pytest.mark.parametrize("gas, liquidated", [(0.0, False), (2.0 ** -7, True)])
def test_a_decisions_gas_under_maintenance_liquidates_at_the_next_trade(gas, liquidated, run_engine):
    # Every trade is followed by a margin check, also when it fills nothing and the oracle did
    # not move: what moved NC may be a decision's gas. Cash 92, IMF 1/8, MMF 1/16, no fees.
    # Buy 8 sent at 0.5s fills at the 1s trade @64; oracle 56 at 2s: NC = 28 = MMR (safe).
    # A cancel of the filled order at 20s pays the gas in force (2^-7 from 15s): NC = 28 - 2^-7
    # < MMR, so the next trade (30s, no fill, same oracle) liquidates; with no gas, nothing does.
    ds = make_dataset(trades((1, BTC, 64, 20), (10, BTC, 64, 1), (30, BTC, 64, 1), (40, BTC, 64, 1)),
                      oracle=[dict(ts=s(0), market=BTC, price=64.0), dict(ts=s(2), market=BTC, price=56.0)],
                      latency=trace((0, 0, 0, 0, True, 0), (15, 0, 0, 0, True, gas)))
    res = run_engine(ds, [spec(imf=0.125, mmf=0.0625)], cfg(cash=92.0),
                     [OrderIntent(s(0.5), BTC, 1, 8.0), CancelIntent(s(20), 0)])
    assert ledger_sum(res, "dydx", "gas") == pytest.approx(-gas)
    if liquidated:
        (liq,) = res.liquidations.itertuples()
        assert (liq.ts, liq.size, liq.oracle_price) == (s(30), 8.0, 56.0)
    else:
        assert len(res.liquidations) == 0
    conserved(res)


def test_a_decisions_gas_under_maintenance_liquidates_at_the_next_oracle_row_of_any_market(run_engine):
    # As above, but the first check event after the gas is an oracle row of ETH, which the
    # account does not hold (BTC's mark is unchanged): every oracle group is followed by a
    # margin check, so the account is liquidated there, at 25s, before the 30s trade.
    ds = make_dataset(trades((1, BTC, 64, 20), (10, BTC, 64, 1), (30, BTC, 64, 1), (40, BTC, 64, 1),
                             (1, ETH, 8, 1)),
                      oracle=[dict(ts=s(0), market=BTC, price=64.0), dict(ts=s(2), market=BTC, price=56.0),
                              dict(ts=s(0), market=ETH, price=8.0), dict(ts=s(25), market=ETH, price=8.0)],
                      latency=trace((0, 0, 0, 0, True, 0), (15, 0, 0, 0, True, 2.0 ** -7)))
    res = run_engine(ds, [spec(imf=0.125, mmf=0.0625), spec(ETH, imf=0.125, mmf=0.0625)], cfg(cash=92.0),
                     [OrderIntent(s(0.5), BTC, 1, 8.0), CancelIntent(s(20), 0)])
    (liq,) = res.liquidations.itertuples()
    assert (liq.ts, liq.market, liq.size) == (s(25), BTC, 8.0)
    conserved(res)


# ============================================================================ boundaries (issue 10)
# Each test pins both sides of one edge with exactly representable numbers (powers of two), so
# a `<` turned into `<=` (or the reverse) changes an exact answer.
EDGE_P = 56.0 - 2.0 ** -10        # 55.9990234375, one dyadic step under the 56 of NC == MMR


def test_liquidation_edge_nc_equal_to_mmr_is_safe_just_below_is_liquidated(run_engine):
    # Cash 92, IMF 1/8, MMF 1/16, no fees. Buy 8 sent at 0.5s (oracle 64): IMR' = 8*64/8 = 64
    # <= 92, admitted; fills at the 1s trade @64.
    # Oracle 56 at 2s: NC = 92 + 8*(56-64) = 28, MMR = 8*56/16 = 28: NC == MMR, not liquidated
    #                  (the rule is NC < MMR).
    # Oracle 56 - 2^-10 = 55.9990234375 at 3s: NC = 92 + 8*(55.9990234375-64) = 27.9921875
    #                  < MMR = 8*55.9990234375/16 = 27.99951171875: liquidated at 3s.
    ds = make_dataset(trades((1, BTC, 64, 20), (10, BTC, 64, 1)),
                      oracle=[dict(ts=s(0), market=BTC, price=64.0), dict(ts=s(2), market=BTC, price=56.0),
                              dict(ts=s(3), market=BTC, price=EDGE_P)])
    res = run_engine(ds, [spec(imf=0.125, mmf=0.0625)], cfg(cash=92.0), [OrderIntent(s(0.5), BTC, 1, 8.0)])
    (liq,) = res.liquidations.itertuples()
    assert (liq.ts, liq.size, liq.oracle_price) == (s(3), 8.0, EDGE_P)
    nc, mmr = 27.9921875, 27.99951171875
    assert 92.0 + 8.0 * (EDGE_P - 64.0) == nc and 8.0 * EDGE_P * 0.0625 == mmr
    abr = 1.0 - nc / mmr
    assert liq.price == pytest.approx(EDGE_P * (1.0 - 1.5 * 0.0625 * abr), rel=0, abs=1e-12)
    assert res.fills.ts.iloc[-1] == s(3) and res.fills.liquidity.iloc[-1] == "liquidation"
    conserved(res)


@pytest.mark.parametrize("reorg_s, reverted", [(1 - 1e-9, False), (1, True), (61 - 1e-9, True), (61, False)])
def test_reorg_window_edges(reorg_s, reverted, run_engine):
    # Finality 60s, no latency: buy 1 sent 0.5s fills @100 at the 1s trade, final_ts = 61s.
    # A reorg at R reverts it iff fill_ts <= R < final_ts:
    #   1s - 1ns : before the fill (nothing to revert)            -> kept
    #   1s       : after the 1s trade (step 5: trades, then reorgs) -> reverted
    #   61s - 1ns: still pending                                   -> reverted
    #   61s      : final at 61s                                    -> kept
    ds = make_dataset(trades((0, BTC, 100, 1), (1, BTC, 100, 10), (120, BTC, 101, 1)),
                      latency=trace((0, 0, 0, 60, True, 0)))
    res = run_engine(ds, [spec()], cfg(), [OrderIntent(s(0.5), BTC, 1, 1.0)], reorgs=[Reorg(s(reorg_s), "dydx")])
    assert list(res.fills.final_ts) == [s(61)]
    assert list(res.fills.reverted) == [reverted]
    o = res.orders.iloc[0]
    if reverted:
        assert (o.status, o.reason, o.filled_size) == ("cancelled", REORG, 0.0)
        assert res.final["positions"][("dydx", BTC)]["size"] == 0.0
        assert res.final["trader_equity"] == 10_000.0
    else:
        assert (o.status, o.reason, o.filled_size) == ("filled", NONE, 1.0)
        assert res.final["positions"][("dydx", BTC)]["size"] == 1.0
    conserved(res)


def test_reorg_of_acknowledged_fill_leaves_the_acknowledged_position(run_engine):
    # Ack latency 2s, finality 60s, no order latency, all trades @64.
    #   #0 buy 1 (0.5s) fills at 1s, acknowledged at 3s;  #1 buy 1 (8s) fills at 9s, ack at 11s.
    # A reorg at 10s reverts both (9 <= 10 < 69 and 1 <= 10 < 61), latest first.
    # Decisions (NaN targets only observe; (acknowledged A, expected X)):
    #   2s  : A = 0 (fill 0 not acknowledged), X = 1 (order 0 filled, 1 not acknowledged yet)
    #   5s  : A = 1, X = 1
    #   9.5s: A = 1 (fill 1 not acknowledged), X = 2
    #   10s : A = 0: the reverted fill 0 was acknowledged (3s <= 10s) and leaves A at R = 10s;
    #         X = 0 (both orders cancelled REORG, nothing filled)
    #   12s : A = 0: fill 1 (ack 11s) was reverted before its ack and never enters A; X = 0
    # A position target of 1 at 12s then sends buy 1 again (|delta| * p = 64 > 3.2 = the band):
    # order #2, filled at the 20s trade.
    ds = make_dataset(trades((0, BTC, 64, 1), (1, BTC, 64, 10), (9, BTC, 64, 10), (20, BTC, 64, 10)),
                      latency=trace((0, 0, 2, 60, True, 0)))
    probe = [TargetIntent(s(t), BTC, "position", math.nan) for t in (2, 5, 9.5, 10, 12)]
    res = run_engine(ds, [spec()], cfg(),
                        [OrderIntent(s(0.5), BTC, 1, 1.0), OrderIntent(s(8), BTC, 1, 1.0)] + probe
                        + [TargetIntent(s(12), BTC, "position", 1.0)],
                        reorgs=[Reorg(s(10), "dydx")])
    tg = res.targets
    assert list(tg.ts) == [s(2), s(5), s(9.5), s(10), s(12), s(12)]
    assert list(tg.acknowledged) == [0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert list(tg.expected) == [1.0, 1.0, 2.0, 0.0, 0.0, 0.0]
    assert list(tg.order_id) == [-1, -1, -1, -1, -1, 2]
    assert list(res.fills.reverted) == [True, True, False]
    assert list(res.orders.status) == ["cancelled", "cancelled", "filled"]
    assert list(res.orders.reason) == [REORG, REORG, NONE]
    assert res.fills.ts.iloc[2] == s(20)
    assert res.final["positions"][("dydx", BTC)]["size"] == 1.0
    conserved(res)


@pytest.mark.parametrize("first_ns, V, price", [(0, 1.0, 72.0), (1, 4.0, 68.0)])
def test_impact_window_edge(first_ns, V, price, run_engine):
    # Window 1h = (t - 1h, t]. Trades: x3 @64 at T0 + first_ns, x1 @64 at T0 + 1h. A buy of 1
    # sent at T0 + 1min fills at the 1h trade; impact 1/8, no spread, multiplier 1:
    #   first trade at exactly t - 1h : outside the window, V = 1, s = 1/8 * sqrt(1/1) = 1/8,
    #                                   price 64 * 1.125 = 72
    #   one ns later                  : inside, V = 4, s = 1/8 * sqrt(1/4) = 1/16, price 68
    ds = make_dataset([dict(ts=T0 + first_ns, market=BTC, price=64.0, size=3.0, side=1),
                       dict(ts=T0 + HOUR, market=BTC, price=64.0, size=1.0, side=1)])
    res = run_engine(ds, [spec(impact=0.125)], cfg(), [OrderIntent(T0 + MIN, BTC, 1, 1.0)])
    (f,) = res.fills.itertuples()
    assert (f.ts, f.price, f.slippage_cost) == (T0 + HOUR, price, price - 64.0)
    assert 64.0 * (1 + 0.125 * math.sqrt(1.0 / V)) == price


# ============================================================================ transfers
HL = "hl"


def test_transfer_withdrawable_excludes_gains_not_final(run_engine):
    # BTC on dydx (cash 1024; finality 60s, no latency, no gas), ETH on hl (cash 0, no trace).
    # #0 buy 1 (0.5s) fills @64 at 1s (realized 0, final 61s); #1 sell 1 (4s) fills @96 at 5s:
    # realized +32, final 65s. Flat, Q = 1056, NC - IMR = 1056, pending gains G = 32 until 65s.
    #   10s       transfer 1024.5 dydx -> hl: W = max(min(1056, 1056 - 32), 0) = 1024 -> rejected
    #   10s       transfer 1024: amount == W -> accepted; leaves dydx at 10s, arrives at hl
    #             30 min later (the default bridge delay)
    #   65s - 1ns transfer 1: Q = 32, G = 32 (final_ts 65s > t) -> W = 0 -> rejected
    #   65s       transfer 32: the gain is final (final_ts > t is false) -> W = 32 -> accepted
    ds = make_dataset(trades((0, BTC, 64, 1), (0, ETH, 32, 1), (1, BTC, 64, 10), (5, BTC, 96, 10),
                             (100, BTC, 96, 1)),
                      latency=trace((0, 0, 0, 60, True, 0)))
    config = RefConfig(initial_cash={"dydx": 1024.0, HL: 0.0}, insurance_fund={"dydx": 0.0, HL: 0.0})
    res = run_engine(ds, [spec(BTC), spec(ETH, venue=HL)], config,
                        [OrderIntent(s(0.5), BTC, 1, 1.0), OrderIntent(s(4), BTC, -1, 1.0),
                         TransferIntent(s(10), 1024.5, "dydx", HL), TransferIntent(s(10), 1024.0, "dydx", HL),
                         TransferIntent(s(65) - 1, 1.0, "dydx", HL), TransferIntent(s(65), 32.0, "dydx", HL)])
    tr = res.transfers
    assert list(tr.transfer_id) == [0, 1, 2, 3]
    assert list(tr.status) == ["rejected", "arrived", "rejected", "arrived"]
    assert list(tr.withdrawable) == [1024.0, 1024.0, 0.0, 32.0]
    assert list(tr.amount) == [1024.5, 1024.0, 1.0, 32.0]
    assert list(tr.src) == ["dydx"] * 4 and list(tr.dst) == [HL] * 4
    assert list(tr.sent_ts) == [s(10), s(10), s(65) - 1, s(65)]
    assert list(tr.arrive_ts) == [s(10), s(10) + 30 * MIN, s(65) - 1, s(65) + 30 * MIN]
    moves = res.ledger[res.ledger.kind == "transfer"]
    assert list(zip(moves.ts, moves.account, moves.amount, moves.ref)) == [
        (s(10), "dydx", -1024.0, 1), (s(65), "dydx", -32.0, 3),
        (s(10) + 30 * MIN, HL, 1024.0, 1), (s(65) + 30 * MIN, HL, 32.0, 3)]
    assert res.final["cash"] == {"dydx": 0.0, HL: 1056.0}
    assert res.final["trader_equity"] == 1056.0
    # money conservation after every timestamp, also while 1024 was on the bridge
    conserved(res)


def test_transfer_between_isolated_accounts_is_instant_and_bounded_by_free_collateral(run_engine):
    # Isolated: 2048 split into dydx/BTC-USD and dydx/ETH-USD with 1024 each; gas 0.5 per
    # transaction; IMF 1/8. BTC buys 8 (0.5s, gas -> Q = 1023.5) @64 at 1s. Oracle 32 at 2s:
    # NC = 1023.5 + 8*(32-64) = 767.5, IMR = 8*32/8 = 32, so W = min(767.5 - 32, 1023.5 - 0)
    # = 735.5 (free collateral binds; MMR = 16, safe).
    #   5s transfer 735.5 + 2^-10 BTC -> ETH: > W -> rejected, no gas
    #   5s transfer 735.5: accepted; gas 0.5 on top; arrives at once (same venue)
    # BTC account: Q = 1023.5 - 0.5 - 735.5 = 287.5, NC = 31.5 >= MMR = 16; ETH account: 1759.5.
    ds = make_dataset(trades((0, BTC, 64, 1), (0, ETH, 32, 1), (1, BTC, 64, 10), (10, BTC, 32, 1)),
                      oracle=[dict(ts=s(0), market=BTC, price=64.0), dict(ts=s(2), market=BTC, price=32.0),
                              dict(ts=s(0), market=ETH, price=32.0)],
                      latency=trace((0, 0, 0, 0, True, 0.5)))
    a_btc, a_eth = "dydx/BTC-USD", "dydx/ETH-USD"
    res = run_engine(ds, [spec(BTC, imf=0.125, mmf=0.0625), spec(ETH)], cfg(cash=2048.0, margin_mode="isolated"),
                        [OrderIntent(s(0.5), BTC, 1, 8.0),
                         TransferIntent(s(5), 735.5 + 2.0 ** -10, a_btc, a_eth), TransferIntent(s(5), 735.5, a_btc, a_eth)])
    tr = res.transfers
    assert list(tr.status) == ["rejected", "arrived"]
    assert list(tr.withdrawable) == [735.5, 735.5]
    assert list(tr.arrive_ts) == [s(5), s(5)]
    assert res.final["cash"] == {a_btc: 287.5, a_eth: 1759.5}
    gas = res.ledger[(res.ledger.kind == "gas") & (res.ledger.account == a_btc)]
    assert list(zip(gas.ts, gas.amount, gas.ref)) == [(s(0.5), -0.5, 0), (s(5), -0.5, 1)]
    assert res.liquidations.empty
    conserved(res)


def test_transfer_pays_the_source_venue_gas_in_force_at_send_when_accepted_none_when_rejected(run_engine):
    # "An accepted transfer ... pays the source venue's gas_fee in force at t (ledger gas, no
    # market, the transfer's id as reference), on top of the amount and after the check
    # against W"; "amount > W is recorded rejected and moves nothing (no gas)".
    # dydx (BTC): cash 100, gas 0.25 from 0s, 0.5 from 20s; hl (ETH): cash 8, gas 1. No orders.
    #   10s #0 100.25 dydx -> hl: W = 100 -> rejected, no gas
    #   10s #1 64 dydx -> hl: accepted, gas 0.25 (dydx, row of 0s) -> dydx Q = 35.75
    #   30s #2 35.75 dydx -> hl: W = 35.75, amount == W -> accepted; the gas 0.5 (row of 20s)
    #       is charged after the check, on top: dydx Q = -0.5
    #   40s #3 4 hl -> dydx: hl W = 8 -> accepted, gas 1 of hl (the source) -> hl Q = 3
    # Final (all arrived, 30 min bridge): dydx -0.5 + 4 = 3.5; hl 3 + 64 + 35.75 = 102.75.
    lat = [dict(ts=s(0), venue="dydx", order_latency=0, ack_latency=0, finality=0, up=True, gas_fee=0.25),
           dict(ts=s(20), venue="dydx", order_latency=0, ack_latency=0, finality=0, up=True, gas_fee=0.5),
           dict(ts=s(0), venue=HL, order_latency=0, ack_latency=0, finality=0, up=True, gas_fee=1.0)]
    ds = make_dataset(trades((0, BTC, 64, 1), (0, ETH, 32, 1), (100, BTC, 64, 1)), latency=lat)
    config = RefConfig(initial_cash={"dydx": 100.0, HL: 8.0}, insurance_fund={"dydx": 0.0, HL: 0.0})
    res = run_engine(ds, [spec(BTC), spec(ETH, venue=HL)], config,
                     [TransferIntent(s(10), 100.25, "dydx", HL), TransferIntent(s(10), 64.0, "dydx", HL),
                      TransferIntent(s(30), 35.75, "dydx", HL), TransferIntent(s(40), 4.0, HL, "dydx")])
    tr = res.transfers
    assert list(tr.status) == ["rejected", "arrived", "arrived", "arrived"]
    assert list(tr.withdrawable) == [100.0, 100.0, 35.75, 8.0]
    gas = res.ledger[res.ledger.kind == "gas"]
    trader_gas = gas[gas.account != "counterparty"]
    assert list(zip(trader_gas.ts, trader_gas.account, trader_gas.market, trader_gas.amount, trader_gas.ref)) == [
        (s(10), "dydx", "", -0.25, 1), (s(30), "dydx", "", -0.5, 2), (s(40), HL, "", -1.0, 3)]
    assert gas[gas.account == "counterparty"].amount.sum() == 1.75     # mirrored like any gas
    moves = res.ledger[(res.ledger.kind == "transfer") & (res.ledger.amount < 0)]
    assert list(zip(moves.account, moves.amount, moves.ref)) == [("dydx", -64.0, 1), ("dydx", -35.75, 2),
                                                                 (HL, -4.0, 3)]
    assert res.final["cash"] == {"dydx": 3.5, HL: 102.75}
    assert res.final["trader_equity"] == 106.25                        # 108 - 1.75 gas
    conserved(res)


# ============================================================================ targets
@pytest.mark.parametrize("band, min_notional", [(0.0625, 1.0), (0.0, 64.0)])
def test_target_band_edge(band, min_notional, run_engine):
    # Oracle 64. Buy 15 (0.5s) fills @64 at 1s; no latency, so A = X = 15 from 1s.
    #   5s target 16        : delta 1, |delta| * p = 64 == max(min_notional, band * 16 * 64) = 64
    #                         -> no order (the band is inclusive)
    #   6s target 16 + 2^-6 : delta 1.015625, |delta| * p = 65 > max(min_notional,
    #                         band * 16.015625 * 64) = 64.0625 (band) or 64 (minimum) -> buy 1.015625
    ds = make_dataset(trades((0, BTC, 64, 1), (1, BTC, 64, 20), (10, BTC, 64, 20)),
                      oracle=[dict(ts=s(0), market=BTC, price=64.0)])
    res = run_engine(ds, [spec()], cfg(rebalance_band=band, min_trade_notional=min_notional),
                        [OrderIntent(s(0.5), BTC, 1, 15.0), TargetIntent(s(5), BTC, "position", 16.0),
                         TargetIntent(s(6), BTC, "position", 16.015625)])
    tg = res.targets
    assert list(tg.expected) == [15.0, 15.0] and list(tg.price) == [64.0, 64.0]
    assert list(tg.delta) == [1.0, 1.015625]
    assert list(tg.order_id) == [-1, 1]
    o = res.orders.iloc[1]
    assert (o.type, o.side, o["size"], o.sent_ts, o.reduce_only) == ("market", 1, 1.015625, s(6), False)
    assert res.final["positions"][("dydx", BTC)]["size"] == 16.015625


def test_target_leverage_and_notional_conversion(run_engine):
    # Feed latency 2s, cash 1024, no latency. Oracle 64 at 0s, 128 at 9s, 128 at 13s.
    # Buy 4 (0.5s) fills @64 at 1s.
    #   10s leverage 1 : p = observed oracle (ts <= 8s) = 64; NC at the marks in force (128)
    #                    = 1024 + 4*(128-64) = 1280; T = 1 * 1280 / 64 = 20; X = 4 -> buy 16,
    #                    filled @128 at 11s.
    #   12s notional -640: p = oracle with ts <= 10s = 128; T = -640/128 = -5; X = 20 -> sell 25,
    #                    filled @128 at 13s.
    ds = make_dataset(trades((0, BTC, 64, 1), (1, BTC, 64, 10), (9, BTC, 128, 1), (11, BTC, 128, 20),
                             (13, BTC, 128, 30)),
                      oracle=[dict(ts=s(0), market=BTC, price=64.0), dict(ts=s(9), market=BTC, price=128.0)])
    res = run_engine(ds, [spec()], cfg(cash=1024.0, feed_latency_ns=2 * SEC),
                        [OrderIntent(s(0.5), BTC, 1, 4.0), TargetIntent(s(10), BTC, "leverage", 1.0),
                         TargetIntent(s(12), BTC, "notional", -640.0)])
    tg = res.targets
    assert list(tg.price) == [64.0, 128.0]
    assert list(tg.target) == [20.0, -5.0]
    assert list(tg.expected) == [4.0, 20.0]
    assert list(tg.delta) == [16.0, -25.0]
    assert list(tg.order_id) == [1, 2]
    assert list(res.orders.side) == [1, 1, -1] and list(res.orders["size"]) == [4.0, 16.0, 25.0]
    assert list(res.fills.ts) == [s(1), s(11), s(13)]
    assert res.final["positions"][("dydx", BTC)]["size"] == -5.0
    conserved(res)


def test_target_counts_orders_in_flight_and_sent_in_this_decision(run_engine):
    # Order latency 2s, ack 3s, all trades @64, band 0.05, minimum notional 1.
    #   5s   target 4 : X = 0 -> order #0 buy 4, arrives 7s, filled by the 7s trade, ack 10s
    #   5s   target 4 : same decision, X = 4 (order #0 sent in this decision) -> no order
    #   5.5s stop buy 1 @1000 (order #1): a stop counts nothing until it triggers
    #   6s   target 4 : X = 4 (#0 in flight) -> no order
    #   8s   target 4 : X = 4 (#0 filled at 7s, not acknowledged until 10s) -> no order
    #   8s   target 6 : X = 4 -> order #2 buy 2, arrives 10s, filled at 20s
    #   11s  target 6 : A = 4 (#0 acknowledged at 10s) + 2 (#2 resting) = 6 -> no order
    ds = make_dataset(trades((0, BTC, 64, 1), (7, BTC, 64, 10), (20, BTC, 64, 10)),
                      latency=trace((0, 2, 3, 0, True, 0)))
    res = run_engine(ds, [spec()], cfg(),
                        [TargetIntent(s(5), BTC, "position", 4.0), TargetIntent(s(5), BTC, "position", 4.0),
                         OrderIntent(s(5.5), BTC, 1, 1.0, "stop_market", trigger_price=1000.0),
                         TargetIntent(s(6), BTC, "position", 4.0), TargetIntent(s(8), BTC, "position", 4.0),
                         TargetIntent(s(8), BTC, "position", 6.0), TargetIntent(s(11), BTC, "position", 6.0)])
    tg = res.targets
    assert list(tg.acknowledged) == [0.0, 0.0, 0.0, 0.0, 0.0, 4.0]
    assert list(tg.expected) == [0.0, 4.0, 4.0, 4.0, 4.0, 6.0]
    assert list(tg.order_id) == [0, -1, -1, -1, 2, -1]
    assert list(res.orders["size"]) == [4.0, 1.0, 2.0]
    assert list(res.orders.status) == ["filled", "open", "filled"]
    assert list(res.fills.ts) == [s(7), s(20)]
    assert res.final["positions"][("dydx", BTC)]["size"] == 6.0


def test_leverage_targets_of_one_decision_convert_with_nc_before_its_own_gas(run_engine):
    # "One decision, one state": "the gas or transfers of its earlier sends do not change the NC
    # its leverage targets convert with". Cross, BTC and ETH on dydx, cash 1000, both @100,
    # zero latency, gas 0.25 per submit.
    #   0.5s leverage 1 BTC: NC = 1000, p = 100 -> T = 10, X = 0 -> #0 buy 10 (gas 0.25)
    #   0.5s leverage 1 ETH: NC before the decision's sends = 1000 -> T = 10 -> #1 buy 10
    #        (converting with NC after #0's gas, 999.75, would give 9.9975)
    # Both fill @100 at 1s: Q = 1000 - 0.5.
    ds = make_dataset(trades((0, BTC, 100, 1), (0, ETH, 100, 1), (1, BTC, 100, 20), (1, ETH, 100, 20)),
                      latency=trace((0, 0, 0, 0, True, 0.25)))
    res = run_engine(ds, [spec(BTC), spec(ETH)], cfg(cash=1000.0),
                     [TargetIntent(s(0.5), BTC, "leverage", 1.0), TargetIntent(s(0.5), ETH, "leverage", 1.0)])
    tg = res.targets
    assert list(tg.price) == [100.0, 100.0]
    assert list(tg.target) == [10.0, 10.0] and list(tg.expected) == [0.0, 0.0]
    assert list(tg.order_id) == [0, 1]
    assert list(res.orders["size"]) == [10.0, 10.0] and list(res.orders.status) == ["filled", "filled"]
    assert res.final["cash"]["dydx"] == 999.5
    conserved(res)


def test_leverage_targets_of_one_decision_convert_with_nc_before_its_own_transfer(run_engine):
    # Isolated: cash 2000 -> dydx/BTC-USD and dydx/ETH-USD 1000 each; both @100, zero latency,
    # gas 0.25 per submit and per transfer.
    #   0.5s transfer 500 BTC -> ETH: W = 1000 -> accepted, gas 0.25; arrives at once (one venue):
    #        BTC Q = 499.75, ETH Q = 1500
    #   0.5s leverage 1 BTC: NC before the decision's sends = 1000 -> T = 10 -> #0 buy 10
    #        (not 499.75 / 100 = 4.9975)
    #   0.5s leverage 1 ETH: NC before the decision's sends = 1000 -> T = 10 -> #1 buy 10 (not 15)
    #   2s   leverage 1 ETH, the next decision sees the transfer: NC = 1500 - 0.25 = 1499.75,
    #        T = 14.9975, X = 10 (filled @100 at 1s, acknowledged at once) -> #2 buy 4.9975
    ds = make_dataset(trades((0, BTC, 100, 1), (0, ETH, 100, 1), (1, BTC, 100, 20), (1, ETH, 100, 20),
                             (3, ETH, 100, 20)),
                      latency=trace((0, 0, 0, 0, True, 0.25)))
    a_btc, a_eth = "dydx/BTC-USD", "dydx/ETH-USD"
    res = run_engine(ds, [spec(BTC), spec(ETH)], cfg(cash=2000.0, margin_mode="isolated"),
                     [TransferIntent(s(0.5), 500.0, a_btc, a_eth), TargetIntent(s(0.5), BTC, "leverage", 1.0),
                      TargetIntent(s(0.5), ETH, "leverage", 1.0), TargetIntent(s(2), ETH, "leverage", 1.0)])
    assert list(res.transfers.status) == ["arrived"] and list(res.transfers.arrive_ts) == [s(0.5)]
    tg = res.targets
    assert list(tg.target) == [10.0, 10.0, 1499.75 / 100.0]
    assert list(tg.expected) == [0.0, 0.0, 10.0]
    assert list(tg.order_id) == [0, 1, 2]
    assert list(res.orders["size"]) == [10.0, 10.0, 1499.75 / 100.0 - 10.0]
    assert list(res.fills.ts) == [s(1), s(1), s(3)]
    assert res.final["cash"] == {a_btc: 499.5, a_eth: 1499.5}
    conserved(res)


def _one_state_run(run_engine, case, later):
    """Zero latency and gas; BTC @100 (derived oracle), the only fill chance the 10s trade.

    case "cancelled": at 5s, #0 limit buy 1 @1 (rests at once), a cancel of #0 (cancelled at
        once), then target position 1.
    case "rejected": cash 1, at 5s #0 market buy 1 (rejected at once: IMR' = 1 * 100 * 0.05 = 5
        > NC = 1), then target position 1.
    case "earlier": #0 limit buy 1 @1 at 1s (rests); at 5s a cancel of #0, then target 1.
    ``later``: one more target position 1 at 6s, the next decision."""
    ds = make_dataset(trades((0, BTC, 100, 1), (10, BTC, 100, 5)))
    limit = dict(type="limit", limit_price=1.0)
    if case == "cancelled":
        intents, cash = [OrderIntent(s(5), BTC, 1, 1.0, **limit), CancelIntent(s(5), 0)], 10_000.0
    elif case == "rejected":
        intents, cash = [OrderIntent(s(5), BTC, 1, 1.0)], 1.0
    else:
        intents, cash = [OrderIntent(s(1), BTC, 1, 1.0, **limit), CancelIntent(s(5), 0)], 10_000.0
    intents.append(TargetIntent(s(5), BTC, "position", 1.0))
    if later:
        intents.append(TargetIntent(s(6), BTC, "position", 1.0))
    return run_engine(ds, [spec()], cfg(cash=cash), intents)


STATUS_AT_ONCE = {"cancelled": ("cancelled", CANCELLED), "rejected": ("rejected", INSUFFICIENT_MARGIN),
                  "earlier": ("cancelled", CANCELLED)}


@pytest.mark.parametrize("case", ["cancelled", "rejected", "earlier"])
def test_target_reads_the_state_before_its_decisions_sends_at_zero_latency(case, run_engine):
    # "a cancel or a rejection of an order sent in this decision shows at the next decision
    # (even at zero latency)"; X counts "orders already sent in this decision at their full
    # size". cancelled / rejected: X = 0 before the decision + #0 sent in it at its full size 1
    # = 1, though #0 is already cancelled / rejected when the target is processed -> delta 0,
    # no order. earlier: X before the decision's sends = 1 (#0 resting), and the decision's own
    # cancel of #0 does not show either -> no order.
    res = _one_state_run(run_engine, case, later=False)
    tg = res.targets
    assert list(tg.acknowledged) == [0.0] and list(tg.expected) == [1.0]
    assert list(tg.target) == [1.0] and list(tg.delta) == [0.0] and list(tg.order_id) == [-1]
    assert len(res.orders) == 1
    assert (res.orders.status.iloc[0], res.orders.reason.iloc[0]) == STATUS_AT_ONCE[case]
    assert res.fills.empty


@pytest.mark.parametrize("case", ["cancelled", "rejected", "earlier"])
def test_target_at_the_next_decision_sees_the_cancel_or_rejection(case, run_engine):
    # Same inputs plus target position 1 at 6s: the cancel / rejection of #0 now shows, X = 0
    # -> #1 market buy 1 (|delta| * p = 100 > max(1, 0.05 * 1 * 100)). It fills @100 at 10s,
    # except in case rejected, where cash 1 rejects it at once as it did #0.
    res = _one_state_run(run_engine, case, later=True)
    tg = res.targets
    assert list(tg.expected) == [1.0, 0.0] and list(tg.delta) == [0.0, 1.0]
    assert list(tg.order_id) == [-1, 1]
    o = res.orders.iloc[1]
    assert (o.type, o.side, o["size"], o.sent_ts) == ("market", 1, 1.0, s(6))
    if case == "rejected":
        assert (o.status, o.reason) == ("rejected", INSUFFICIENT_MARGIN) and res.fills.empty
    else:
        assert o.status == "filled" and list(res.fills.ts) == [s(10)]
        assert res.final["positions"][("dydx", BTC)]["size"] == 1.0


def test_target_nan_or_without_price_sends_nothing(run_engine):
    # 0.5s: target 1 before any trade: no observed price -> no order (price NaN).
    # 1.5s: NaN target after the 1s print @64: "no order at this decision" (price 64, target NaN).
    ds = make_dataset(trades((1, BTC, 64, 1), (2, BTC, 64, 1)))
    res = run_engine(ds, [spec()], cfg(),
                        [TargetIntent(s(0.5), BTC, "position", 1.0), TargetIntent(s(1.5), BTC, "leverage", math.nan)])
    tg = res.targets
    assert math.isnan(tg.price.iloc[0]) and tg.price.iloc[1] == 64.0
    assert tg.target.isna().all() and list(tg.order_id) == [-1, -1]
    assert res.orders.empty and res.fills.empty


# ============================================================================ random runs at the edges
def initial_cash_of(markets, config, dataset):
    """Initial cash per account name (cross: the venue's cash; isolated: an equal split among
    the venue's markets with trades, all of them when none trades)."""
    venues = list(dict.fromkeys(m.venue for m in markets))
    if config.margin_mode == "cross":
        return {v: config.initial_cash.get(v, 0.0) for v in venues}
    traded = set(dataset.trades.column("market").to_pylist())
    out = {}
    for v in venues:
        mine = [m.name for m in markets if m.venue == v]
        funded = [m for m in mine if m in traded] or mine
        out.update({f"{v}/{m}": config.initial_cash.get(v, 0.0) / len(funded) if m in funded else 0.0
                    for m in mine})
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(liquidation_edge_cases(targets=True))
def test_nc_equal_to_mmr_exactly_is_not_liquidated_on_random_runs(case):
    inputs, expect = case
    res = run_reference(**inputs)
    m, edge, past = expect["market"], expect["edge_ts"], expect["past_ts"]
    entry = res.fills[res.fills.order_id == 0]
    # the entry filled at the print (no spread or impact), before the edge
    assert len(entry) == 1 and entry.ts.iloc[0] < edge and entry.price.iloc[0] == entry.trade_price.iloc[0]
    liq = res.liquidations[res.liquidations.market == m]
    assert not (liq.ts <= edge).any()                   # NC == MMR exactly: not liquidated
    assert (liq.ts == past).any() == (expect["mode"] == "below")
    conserved(res, tol=1e-9 * (1 + sum(abs(x) for x in res.ledger.amount)))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(reference_inputs(targets=True, transfers=True))
def test_targets_and_transfers_on_random_runs(inputs):
    res = run_reference(**inputs)
    f = res.final
    scale = f["initial_total"] + sum(abs(x) for x in res.ledger.amount)
    assert f["max_conservation_error"] <= 1e-9 * scale
    for acct, cash0 in initial_cash_of(inputs["markets"], inputs["config"], inputs["dataset"]).items():
        assert f["cash"][acct] == pytest.approx(cash0 + ledger_sum(res, acct), abs=1e-6)
    # transfers: accepted ones never exceed W, every accepted one has arrived by the end, and
    # the transfer rows of the ledger net to zero
    tr = res.transfers
    assert (tr.withdrawable >= 0).all()
    assert (tr.amount[tr.status == "rejected"] > tr.withdrawable[tr.status == "rejected"]).all()
    assert (tr.amount[tr.status == "arrived"] <= tr.withdrawable[tr.status == "arrived"]).all()
    assert set(tr.status) <= {"arrived", "rejected"}
    assert abs(res.ledger.amount[res.ledger.kind == "transfer"].sum()) <= 1e-9 * scale
    # targets: the acknowledged position matches the fills; an order iff outside the band
    cfg_ = inputs["config"]
    orders = res.orders.set_index("order_id")
    for t in res.targets.itertuples():
        assert t.acknowledged == pytest.approx(res.acknowledged_position(t.market, t.ts), abs=1e-12)
        if t.order_id >= 0:
            o = orders.loc[t.order_id]
            assert (o.sent_ts, o.market, o.type, o.side) == (t.ts, t.market, "market", 1 if t.delta > 0 else -1)
            assert o["size"] == pytest.approx(abs(t.delta))
            assert abs(t.delta) * t.price > max(cfg_.min_trade_notional, cfg_.rebalance_band * abs(t.target) * t.price)
        elif not (math.isnan(t.value) or math.isnan(t.price)):
            assert abs(t.delta) * t.price <= max(cfg_.min_trade_notional, cfg_.rebalance_band * abs(t.target) * t.price)
