"""The numba kernel agrees with the independent pure-Python reference on random inputs, on the
paths users run.

Hypothesis draws small datasets (trades with ties, oracle or derived oracle, funding with and
without oracle prices, latency traces with outages), market specs, configs, and intents
(``tests/reference/gen.py`` plus the targets and transfers drawn here). The kernel runs them

* in hook mode: ``bt.run`` with a strategy whose ``on_decision`` sends them through the public
  ``Context`` (``ctx.submit``, ``ctx.cancel``, ``ctx.target_*``, ``ctx.transfer``) at their send
  times (``tests/kernel_adapter.run_kernel``);
* on the fast path, for plans of targets: a plan-only strategy (``set_targets`` in ``init``),
  run in one kernel call (``tests/kernel_adapter.run_fast_path``).

Both must produce the reference's orders, fills, funding payments, liquidations, transfers,
ledger and final balances, and hook mode must see what the reference's targets see
(acknowledged and expected position, price, converted target, the order sent).
"""
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.kernel_adapter import assert_same_answer, run_fast_path, run_kernel, target_plan
from tests.reference.engine import Reorg, TargetIntent, TransferIntent, run_reference
from tests.reference.gen import (MARKET_NAMES, MIN, VENUE, _price_near, funding_rows, intents_list,
                                 latency_rows, make_dataset, market_specs, oracle_rows, ref_configs,
                                 reference_inputs, trades_rows)

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KINDS = ("position", "leverage", "notional")


def compare(inputs, targets=False):
    """Hook mode against the reference (``targets``: also what each target saw)."""
    ref = run_reference(**inputs)
    ker = run_kernel(**inputs)
    assert_same_answer(ker, ref, targets=targets)
    return ker, ref


# ============================================================================ input builders
@st.composite
def _tables(draw):
    """Markets, trades, oracle, funding and latency rows, specs and a config (as gen.py draws
    them), with the targets' band and minimum notional drawn too."""
    markets = MARKET_NAMES[: draw(st.integers(1, 2))]
    trades = draw(trades_rows(markets))
    config = draw(ref_configs(trades))
    # a minimum notional of exactly 0 is left out: the engines sum the expected position in
    # another order, and a gap of one ulp (a position closed to +-1e-16) is then an order in one
    # and none in the other
    config = replace(config, rebalance_band=draw(st.sampled_from([0.05, 0.0, 0.25])),
                     min_trade_notional=draw(st.sampled_from([1.0, 1e-6, 50.0])))
    return dict(markets=markets, trades=trades, oracle=draw(oracle_rows(markets, trades)),
                funding=draw(funding_rows(markets, trades)), latency=draw(latency_rows(trades)),
                specs=draw(market_specs(markets)), config=config)


def _reorgs(draw, trades):
    first, last = trades[0]["ts"], trades[-1]["ts"]
    near_trade = st.builds(lambda t, dt: t + dt, st.sampled_from([r["ts"] for r in trades]),
                           st.integers(0, 5 * MIN))
    return [Reorg(ts=t, venue=VENUE)
            for t in draw(st.lists(st.one_of(near_trade, st.integers(first, last + MIN)), max_size=2))]


def _send_time(draw, trades):
    """A trade time (ties with trades) or any time around the span."""
    if draw(st.booleans()):
        return draw(st.sampled_from([r["ts"] for r in trades]))
    return draw(st.integers(trades[0]["ts"] - MIN, trades[-1]["ts"] + MIN))


def _fresh_target(draw, kind, market, trades, t, cash):
    """A target of ``kind`` worth up to about 6x the account's cash, either sign, or flat."""
    lev = draw(st.one_of(st.just(0.0), st.floats(-6.0, 6.0)))
    if kind == "leverage":
        return lev
    notional = lev * cash
    return notional if kind == "notional" else round(notional / _price_near(trades, market, t), 4)


def _target_value(draw, kind, market, trades, t, cash, previous, band):
    """NaN, a fresh target, the previous one again, or one at the band's edge around it: a
    target ``T`` with ``|T - X| = band * |T|`` for ``X`` = the previous target (exactly on the
    edge when the position has reached it), and a hair inside or outside."""
    choice = draw(st.sampled_from(["nan", "fresh", "fresh", "same", "edge"]))
    if choice == "nan":
        return float("nan")
    if choice == "fresh" or previous is None or np.isnan(previous):
        return _fresh_target(draw, kind, market, trades, t, cash)
    if choice == "same":
        return previous
    edge = previous / draw(st.sampled_from([1.0 - band, 1.0 + band]))
    return edge * draw(st.sampled_from([1.0, 1.0 + 1e-12, 1.0 - 1e-12, 1.0 + 1e-6, 1.0 - 1e-6]))


@st.composite
def plan_inputs(draw):
    """Reference inputs whose intents are a plan of targets of one kind: 1-12 decision times,
    at each a value or NaN per market, in market order (``kernel_adapter.target_plan``)."""
    tb = draw(_tables())
    trades, config, markets = tb["trades"], tb["config"], tb["markets"]
    cash = config.initial_cash[VENUE] / (len(markets) if config.margin_mode == "isolated" else 1)
    kind = draw(st.sampled_from(KINDS))
    times = sorted({_send_time(draw, trades) for _ in range(draw(st.integers(1, 12)))})
    intents, previous = [], {}
    for t in times:
        for m in markets:
            value = _target_value(draw, kind, m, trades, t, cash, previous.get(m), config.rebalance_band)
            previous[m] = value
            intents.append(TargetIntent(sent_ts=t, market=m, kind=kind, value=value))
    latency = tb["latency"]
    return dict(dataset=make_dataset(trades, tb["funding"], tb["oracle"], latency), markets=tb["specs"],
                config=config, intents=intents, reorgs=_reorgs(draw, trades))


@st.composite
def mixed_inputs(draw):
    """Orders and cancels (gen.py), targets of every kind and, in isolated mode with two
    markets, transfers between the two accounts, in any order within a decision (one decision
    reads one state: docs/simulation.md, Targets)."""
    tb = draw(_tables())
    trades, config, markets = tb["trades"], tb["config"], tb["markets"]
    n_accounts = len(markets) if config.margin_mode == "isolated" else 1
    cash = config.initial_cash[VENUE] / n_accounts
    intents = draw(intents_list(markets, trades, config.initial_cash[VENUE], n_accounts))
    previous = {}
    for _ in range(draw(st.integers(0, 10))):
        t, m, kind = _send_time(draw, trades), draw(st.sampled_from(markets)), draw(st.sampled_from(KINDS))
        value = _target_value(draw, kind, m, trades, t, cash, previous.get((m, kind)), config.rebalance_band)
        previous[(m, kind)] = value
        intents.append(TargetIntent(sent_ts=t, market=m, kind=kind, value=value))
    latency = tb["latency"]
    if n_accounts == 2 and draw(st.booleans()):
        accounts = [f"{VENUE}/{m}" for m in markets]
        for _ in range(draw(st.integers(1, 4))):
            src = draw(st.sampled_from(accounts))
            amount = draw(st.sampled_from([0.01, 0.25, 0.5, 1.0, 1.5])) * cash
            intents.append(TransferIntent(_send_time(draw, trades), amount, src, accounts[1 - accounts.index(src)]))
    # a decision's intents in any order (the reference and hook mode run them in list order)
    intents = sorted(draw(st.permutations(intents)), key=lambda it: it.sent_ts)
    return dict(dataset=make_dataset(trades, tb["funding"], tb["oracle"], latency), markets=tb["specs"],
                config=config, intents=intents, reorgs=_reorgs(draw, trades))


# ============================================================================ hook mode
@settings(max_examples=150, report_multiple_bugs=False, **SETTINGS)
@given(inputs=reference_inputs())
def test_hook_mode_matches_reference_on_random_orders(inputs):
    """Every order type, cancels (also of ids not assigned yet), reorgs, liquidations."""
    compare(inputs)


@settings(max_examples=250, report_multiple_bugs=False, **SETTINGS)
@given(inputs=mixed_inputs())
def test_hook_mode_matches_reference_with_targets_and_transfers(inputs):
    compare(inputs, targets=True)


@settings(max_examples=60, **SETTINGS)
@given(inputs=reference_inputs())
def test_kernel_conserves_money(inputs):
    ker = run_kernel(**inputs)
    f = ker.final
    assert f["total"] == pytest.approx(f["initial_total"], rel=1e-9, abs=1e-6)
    # cash moves only through the ledger
    led = ker.ledger
    for account, cash in f["cash"].items():
        start = ker.engine.initial_cash[ker.engine.layout.accounts.index(account)]
        moved = led.loc[led["account"] == account, "amount"].sum()
        assert cash == pytest.approx(start + moved, rel=1e-9, abs=1e-7)


# ============================================================================ fast path
@settings(max_examples=250, report_multiple_bugs=False, **SETTINGS)
@given(inputs=plan_inputs())
def test_fast_path_and_hook_mode_match_reference_on_target_plans(inputs):
    """A plan of targets on the fast path (one kernel call) and the same targets sent through
    ``ctx.target_*`` in hook mode: both give the reference's answer, and each other's."""
    assert target_plan(inputs["intents"], sorted(m.name for m in inputs["markets"])) is not None
    ref = run_reference(**inputs)
    fast = run_fast_path(**inputs)
    assert_same_answer(fast, ref)
    hook = run_kernel(**inputs)
    assert_same_answer(hook, ref, targets=True)
    assert_same_answer(fast, hook)


# ============================================================================ pinned disagreements
def _two_leverage_targets_with_gas():
    """Two markets in one cross account (cash 1000), trades @100, zero latency, gas 0.25 per
    transaction. At 5s: leverage 1 on BTC-USD, then leverage 1 on ETH-USD. BTC converts with
    NC = 1000: buy 10, paying 0.25 gas. ETH: the reference (and the fast path) convert with the
    account's NC after that gas, 999.75: buy 9.9975; hook mode converts with the NC the decision
    started with (``Context`` balances are taken when the decision starts), 1000: buy 10."""
    from tests.reference.engine import MarketSpec, RefConfig
    from tests.reference.gen import SEC, T0

    names = ("BTC-USD", "ETH-USD")
    trades = [dict(ts=T0 + t * SEC, market=m, price=100.0, size=size, side=1)
              for t, size in ((0, 1.0), (10, 100.0)) for m in names]
    latency = [dict(ts=T0, venue=VENUE, order_latency=0, ack_latency=0, finality=0, up=True, gas_fee=0.25)]
    return dict(dataset=make_dataset(trades, latency=latency), reorgs=[],
                markets=[MarketSpec(m, VENUE, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0) for m in names],
                config=RefConfig(initial_cash={VENUE: 1000.0}, insurance_fund={VENUE: 0.0}),
                intents=[TargetIntent(T0 + 5 * SEC, m, "leverage", 1.0) for m in names])


def test_leverage_targets_after_gas_agree_on_the_fast_path():
    inputs = _two_leverage_targets_with_gas()
    fast, ref = run_fast_path(**inputs), run_reference(**inputs)
    assert list(ref.orders["size"]) == [10.0, 10.0]  # both convert with the NC at d (one state)
    assert_same_answer(fast, ref)


def test_leverage_target_after_a_send_in_the_same_decision():
    inputs = _two_leverage_targets_with_gas()
    assert_same_answer(run_kernel(**inputs), run_reference(**inputs), targets=True)


def test_target_after_a_cancel_in_the_same_decision():
    """Zero latency. At 5s: a limit buy 1 @1 (order 0, rests), a cancel of order 0, then a
    position target of 1. One decision reads one state (docs/simulation.md, Targets): order 0
    counts in full although its cancel is already sent (X = 1: no order)."""
    from tests.reference.engine import CancelIntent, MarketSpec, OrderIntent, RefConfig
    from tests.reference.gen import SEC, T0

    trades = [dict(ts=T0 + t * SEC, market="BTC-USD", price=100.0, size=10.0, side=1) for t in (0, 10)]
    t = T0 + 5 * SEC
    inputs = dict(dataset=make_dataset(trades), reorgs=[],
                  markets=[MarketSpec("BTC-USD", VENUE, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0)],
                  config=RefConfig(initial_cash={VENUE: 1000.0}, insurance_fund={VENUE: 0.0}),
                  intents=[OrderIntent(t, "BTC-USD", 1, 1.0, "limit", limit_price=1.0), CancelIntent(t, 0),
                           TargetIntent(t, "BTC-USD", "position", 1.0)])
    ref = run_reference(**inputs)
    assert list(ref.targets["expected"]) == [1.0] and list(ref.targets["order_id"]) == [-1]
    assert_same_answer(run_kernel(**inputs), ref, targets=True)


# ============================================================================ pinned agreements
def _pinned(case):
    """Minimal inputs of disagreements the comparison found in the kernel (fixed): one market
    @100, cash 1000, IMF 0.1."""
    from tests.reference.engine import CancelIntent, MarketSpec, OrderIntent, RefConfig
    from tests.reference.gen import SEC, T0

    def s(x):
        return T0 + int(round(x * SEC))

    def row(t, latency, up):
        return dict(ts=s(t), venue=VENUE, order_latency=int(latency * SEC), ack_latency=0, finality=0, up=up,
                    gas_fee=0.0)

    btc = "BTC-USD"
    trades = [dict(ts=s(t), market=btc, price=100.0, size=1.0, side=1) for t in (0, 10)]
    if case == "cancel_reaches_an_order_doomed_to_venue_down":
        # buy 1 sent at 3s arrives at 5s, when the venue is down for good: rejected VENUE_DOWN
        # then, unless the cancel sent at 3.5s (zero latency from 3.2s) cancels it first. The
        # kernel rejected it at the send and the cancel found nothing live.
        latency = [row(0, 2, True), row(3.2, 0, True), row(4, 0, False)]
        intents = [OrderIntent(s(3), btc, 1, 1.0), CancelIntent(s(3.5), 0)]
    elif case == "order_doomed_to_venue_down_is_expected_until_it_arrives":
        # the same order without the cancel; a NaN target at 4s (observe only) must still count
        # it (X = 1): its rejection comes at 5s. The kernel's expected position already had it gone.
        latency = [row(0, 2, True), row(4, 0, False)]
        intents = [OrderIntent(s(3), btc, 1, 1.0), TargetIntent(s(4), btc, "position", float("nan"))]
    else:  # "order_arriving_after_the_last_event_is_admitted_or_rejected"
        # buy 150 sent at the last trade (10s) arrives at 12s, after every row of the data:
        # IMR' = 150 * 100 * 0.1 = 1500 > NC = 1000: rejected INSUFFICIENT_MARGIN. The kernel
        # stopped at the last event, leaving it in flight.
        latency = [row(0, 2, True)]
        intents = [OrderIntent(s(10), btc, 1, 150.0)]
    return dict(dataset=make_dataset(trades, latency=latency), reorgs=[],
                markets=[MarketSpec(btc, VENUE, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0)],
                config=RefConfig(initial_cash={VENUE: 1000.0}, insurance_fund={VENUE: 0.0}), intents=intents)


@pytest.mark.parametrize("case", ["cancel_reaches_an_order_doomed_to_venue_down",
                                  "order_doomed_to_venue_down_is_expected_until_it_arrives",
                                  "order_arriving_after_the_last_event_is_admitted_or_rejected"])
def test_pinned_cases_agree(case):
    inputs = _pinned(case)
    ref = run_reference(**inputs)
    expected = {"cancel_reaches_an_order_doomed_to_venue_down": ("cancelled", 6),
                "order_doomed_to_venue_down_is_expected_until_it_arrives": ("rejected", 2),
                "order_arriving_after_the_last_event_is_admitted_or_rejected": ("rejected", 1)}[case]
    assert tuple(ref.orders[["status", "reason"]].iloc[0]) == expected
    if len(ref.targets):
        assert list(ref.targets["expected"]) == [1.0]
    assert_same_answer(run_kernel(**inputs), ref, targets=True)


@pytest.mark.parametrize("second, sends", [(16.0, False), (16.015625, True)])
def test_fast_path_band_edge(second, sends):
    """The band on the fast path, both sides of its edge with exact numbers (as the reference's
    test_target_band_edge for ctx.target_position): oracle 64, band 1/16. Position 15 at 0.5s
    fills at 1s; then 16 at 5s: |delta| * p = 64 == 1/16 * 16 * 64, no order (the band is
    inclusive); 16 + 2^-6: 65 > 64.0625, buy 1.015625."""
    from tests.reference.engine import MarketSpec, RefConfig
    from tests.reference.gen import SEC, T0

    btc = "BTC-USD"
    trades = [dict(ts=T0 + t * SEC, market=btc, price=64.0, size=20.0, side=1) for t in (0, 1, 10)]
    inputs = dict(dataset=make_dataset(trades, oracle=[dict(ts=T0, market=btc, price=64.0)]), reorgs=[],
                  markets=[MarketSpec(btc, VENUE, 0.05, 0.03, 0.0, 0.0, 0.0, 0.0)],
                  config=RefConfig(initial_cash={VENUE: 10_000.0}, insurance_fund={VENUE: 0.0}, rebalance_band=0.0625),
                  intents=[TargetIntent(T0 + SEC // 2, btc, "position", 15.0), TargetIntent(T0 + 5 * SEC, btc, "position", second)])
    ref = run_reference(**inputs)
    assert list(ref.orders["size"]) == ([15.0, 1.015625] if sends else [15.0])
    assert_same_answer(run_fast_path(**inputs), ref)
    assert_same_answer(run_kernel(**inputs), ref, targets=True)
