"""Config and targets that silently answered another question (issue 12, section 3).

Each class pins one reported case: a config number or venue key that meant something else, the
isolated-margin cash split, infinite targets, cadences that cannot make a grid, a cadence longer
than the data, and orders on a market that never trades. docs/reliability.md ("Config and
targets") lists them with these tests.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from backtester import cadence
from backtester.prepare import with_decisions
from strategies import BuyAndHold, FundingCarry, HedgedCarry, MaCross, MeanReversion, TrendFollowing

BTC, ETH = "BTC-USD", "ETH-USD"
#: initial cash of the runs below (quote)
CASH = 10_000.0


@pytest.fixture(scope="module")
def tape():
    """Six real minutes of Binance BTCUSDT trades (the package's sample): BTC-USD only."""
    return dl.sample("btcusdt-tape")


@pytest.fixture(scope="module")
def tape_with_idle_eth(tape):
    """The tape plus ETH-USD oracle rows: a market with a price and no trade."""
    first = pd.Timestamp(tape.trades.column("ts")[0].as_py())
    oracle = pd.DataFrame({"ts": [first, first + pd.Timedelta("2min")], "market": [ETH, ETH],
                           "price": [2_500.0, 2_510.0]})
    return dl.Dataset(trades=tape.trades, latency=tape.latency, oracle=oracle)


def _quiet_run(strategy, data, config):
    """``bt.run`` with every warning an error (a valid run must not warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return bt.run(strategy, data, config)


class Hold(bt.Strategy):
    """Plan-only: hold ``value`` of ``kind`` in BTC from the first decision."""

    params = dict(value=0.01, kind="position")
    every = "1min"

    def init(self, data):
        self.set_targets(BTC, np.full(len(self.decision_times), self.value), kind=self.kind)


class Target(bt.Strategy):
    """Hybrid: ``ctx.target_<kind>(market, value)`` at every decision."""

    params = dict(market=BTC, value=0.01, kind="position")
    every = "1min"

    def on_decision(self, ctx):
        getattr(ctx, f"target_{self.kind}")(self.market, self.value)


class Submit(bt.Strategy):
    """Hybrid: one market buy of ``size`` in ``market`` at each of the first ``n`` decisions."""

    params = dict(market=ETH, size=0.1, n=1)
    every = "1min"

    def on_decision(self, ctx):
        if ctx.decision < self.n:
            ctx.submit(self.market, self.size)


# ============================================================================ config values
class TestConfigValues:
    """``SimConfig`` rejects cash and insurance amounts that are not finite non-negative
    numbers (cash > 0), naming the field and the value, when the config is built."""

    @pytest.mark.parametrize("kw, match", [
        (dict(initial_cash=-1000), r"SimConfig\.initial_cash: expected a finite number > 0, got -1000"),
        (dict(initial_cash=float("nan")), r"SimConfig\.initial_cash: .* got nan"),
        (dict(initial_cash=float("inf")), r"SimConfig\.initial_cash: .* got inf"),
        (dict(initial_cash=0), r"SimConfig\.initial_cash: .* > 0, got 0"),
        (dict(insurance_fund=-5), r"SimConfig\.insurance_fund: expected a finite number >= 0, got -5"),
        (dict(insurance_fund=float("inf")), r"SimConfig\.insurance_fund: .* got inf"),
        (dict(initial_cash={"dydx": -1.0}), r"SimConfig\.initial_cash\['dydx'\]: .* got -1\.0"),
        (dict(initial_cash={"dydx": float("nan")}), r"SimConfig\.initial_cash\['dydx'\]: .* got nan"),
        (dict(insurance_fund={"dydx": -5.0}), r"SimConfig\.insurance_fund\['dydx'\]: .* got -5\.0"),
        (dict(initial_cash={}), r"SimConfig\.initial_cash: no venue has any cash"),
    ])
    def test_bad_amounts_fail_when_the_config_is_built(self, kw, match):
        with pytest.raises(ValueError, match=match):
            bt.SimConfig(**kw)

    def test_with_checks_the_changed_values_too(self):
        with pytest.raises(ValueError, match="insurance_fund"):
            bt.SimConfig().with_(insurance_fund=-5)

    def test_valid_amounts_pass(self):
        cfg = bt.SimConfig(initial_cash={"dydx": CASH, "other": 0.0}, insurance_fund=0.0)
        assert cfg.per_venue("initial_cash", "dydx") == CASH and cfg.per_venue("initial_cash", "other") == 0.0


class TestVenueKeys:
    """A per-venue dict whose key is no venue of the run would fund nothing (the real venue at
    0): an error naming the close match, for cash and insurance alike."""

    @pytest.mark.parametrize("field", ["initial_cash", "insurance_fund"])
    def test_a_misspelt_venue_names_the_close_match(self, tape, field):
        cfg = bt.SimConfig(**{field: {"dydxx": CASH}})
        with pytest.raises(TypeError, match=rf"SimConfig\.{field} has no venue 'dydxx'; did you mean 'dydx'\?"):
            bt.run(Hold(), tape, cfg)

    def test_an_unknown_venue_far_from_any_lists_the_venues(self, tape):
        with pytest.raises(TypeError, match="has no venue 'binance'; known: dydx"):
            bt.run(Hold(), tape, bt.SimConfig(initial_cash={"binance": CASH}))

    def test_the_right_venue_key_funds_the_run(self, tape):
        res = _quiet_run(Hold(), tape, bt.SimConfig(initial_cash={"dydx": CASH}))
        assert res.initial_cash.to_dict() == {"dydx": CASH} and res.stats()["n_fills"] == 1


# ============================================================================ isolated cash
class TestIsolatedCashSplit:
    """Isolated margin splits a venue's cash among its markets *that trade*: a market seen only
    in oracle (or funding) rows used to take an equal share it could never use
    (docs/simulation.md, "Accounting"; the known answer on both engines is
    ``tests/reference/test_reference.py::test_isolated_cash_is_split_among_the_markets_that_trade``)."""

    def test_a_market_without_trades_gets_no_cash(self, tape_with_idle_eth):
        res = _quiet_run(BuyAndHold(leverage=1.0), tape_with_idle_eth,
                         bt.SimConfig.frictionless(initial_cash=CASH, margin_mode="isolated"))
        assert res.initial_cash.to_dict() == {f"dydx/{BTC}": CASH, f"dydx/{ETH}": 0.0}

    def test_leverage_one_buys_the_whole_venue_cash(self, tape, tape_with_idle_eth):
        # Frictionless, 1x: the first decision converts 1 x NC / mark into BTC, NC = the whole
        # 10,000 (the old split gave 5,000). It equals the same run without the ETH rows, and in
        # cross mode, fill for fill.
        cfg = bt.SimConfig.frictionless(initial_cash=CASH, margin_mode="isolated")
        res = _quiet_run(BuyAndHold(leverage=1.0), tape_with_idle_eth, cfg)
        first = res.strategy.decision_times[0]
        trades = tape.trades.to_pandas()
        mark = float(trades.price[trades.ts <= first].iloc[-1])
        (size,) = res.fills["size"]
        assert size * mark == pytest.approx(CASH, rel=1e-12)
        for data, mode in [(tape, "isolated"), (tape_with_idle_eth, "cross")]:
            other = _quiet_run(BuyAndHold(leverage=1.0), data, cfg.with_(margin_mode=mode))
            pd.testing.assert_frame_equal(other.fills[["ts", "size", "price"]], res.fills[["ts", "size", "price"]])

    def test_every_traded_market_still_gets_an_equal_share(self):
        data = dl.sample()   # BTC-USD and ETH-USD both trade
        res = _quiet_run(BuyAndHold(every="1h"), data, bt.SimConfig(initial_cash=CASH, margin_mode="isolated"))
        assert res.initial_cash.to_dict() == {f"dydx/{BTC}": CASH / 2, f"dydx/{ETH}": CASH / 2}


# ============================================================================ non-finite targets
class TestNonFiniteTargets:
    """An infinite target used to trade nothing (its rebalance band is infinite too): now a
    ``ValueError``; NaN keeps its documented meaning, no order at this decision
    (docs/simulation.md, "Targets")."""

    @pytest.mark.parametrize("kind, value", [("position", np.inf), ("notional", -np.inf), ("leverage", np.inf),
                                             ("position", -np.inf)])
    def test_an_infinite_ctx_target_is_an_error(self, tape, kind, value):
        with pytest.raises(ValueError, match=rf"target_{kind}\('BTC-USD', -?inf\): a target must be a finite number"):
            bt.run(Target(kind=kind, value=value), tape)

    @pytest.mark.parametrize("kind", ["position", "notional", "leverage"])
    def test_a_nan_ctx_target_sends_no_order(self, tape, kind):
        res = _quiet_run(Target(kind=kind, value=np.nan), tape, bt.SimConfig())
        assert res.stats()["n_fills"] == 0 and res.orders.empty

    def test_to_position_rejects_inf_and_passes_nan(self, tape):
        seen = []

        class Probe(bt.Strategy):
            every = "1min"

            def on_decision(self, ctx):
                if ctx.decision == 0:
                    seen.append(np.isnan(ctx.to_position(BTC, np.nan, "leverage")))
                    with pytest.raises(ValueError, match=r"to_position\('BTC-USD', inf\)"):
                        ctx.to_position(BTC, np.inf, "notional")
                    seen.append(True)

        _quiet_run(Probe(), tape, bt.SimConfig())
        assert seen == [True, True]

    @pytest.mark.parametrize("value", [np.inf, -np.inf])
    def test_an_infinite_plan_is_an_error_when_it_is_built(self, tape, value):
        s = Hold(value=value)
        s.decision_times = pd.date_range("2024-08-08 23:55", periods=5, freq="1min", tz="UTC")
        with pytest.raises(ValueError, match=r"targets for 'BTC-USD' \(position\): 5 of 5 values are infinite, "
                                             r"the first -?inf at decision 0 \(2024-08-08 23:55:00\+00:00\)"):
            s.init(tape)                     # set_targets: before any kernel input exists
        with pytest.raises(ValueError, match="infinite"):
            bt.run(Hold(value=value), tape)

    def test_an_infinite_series_value_is_named_at_its_decision(self):
        s = Hold()
        s.decision_times = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
        plan = pd.Series([1.0, np.nan, np.inf], index=s.decision_times[[0, 1, 2]])
        with pytest.raises(ValueError, match=r"2 of 4 values are infinite, the first inf at decision 2"):
            s.set_targets(BTC, plan, kind="leverage")   # forward-filled: decisions 2 and 3

    def test_nan_in_a_plan_still_means_no_order(self, tape):
        res = _quiet_run(Hold(value=np.nan), tape, bt.SimConfig())
        assert res.orders.empty

    def test_kernel_inputs_refuse_infinite_targets(self, tape):
        prepared = bt.driver.Prepared.build(tape, bt.SimConfig())
        targets = np.array([[np.nan], [np.inf]])
        with pytest.raises(ValueError, match="targets: 1 values are infinite, the first at decision 1, market 0"):
            with_decisions(prepared.inputs, np.array([1, 2], np.int64), targets, 0)

    @pytest.mark.parametrize("make", [
        lambda v: BuyAndHold(leverage=v), lambda v: MaCross(leverage=v), lambda v: MeanReversion(leverage=v),
        lambda v: TrendFollowing(leverage=v), lambda v: FundingCarry(max_leverage=v, every="1min"),
        lambda v: HedgedCarry(hedge_ratio=v, every="1min"),
    ], ids=["BuyAndHold", "MaCross", "MeanReversion", "TrendFollowing", "FundingCarry", "HedgedCarry"])
    @pytest.mark.parametrize("value", [np.nan, np.inf])
    def test_ready_made_strategies_reject_a_non_finite_leverage(self, tape, make, value):
        s = make(value)
        with pytest.raises(ValueError, match=rf"{type(s).__name__}: \w+ must be a finite number, got {value}"):
            bt.run(s, tape)


# ============================================================================ cadence
class TestCadence:
    """A cadence that cannot make a grid fails naming ``every``; a grid too large to hold fails
    before it is allocated, with a limit the user can raise."""

    @pytest.mark.parametrize("every", ["banana", "-1h", 5])
    def test_a_bad_every_names_every(self, every):
        with pytest.raises(ValueError, match="every"):
            BuyAndHold(every=every)

    def test_a_bad_class_level_every_fails_with_the_class(self):
        with pytest.raises(ValueError, match="every: expected a duration .* got 'banana'"):
            type("Bad", (bt.Strategy,), {"every": "banana"})

    def test_one_nanosecond_on_six_minutes_is_refused_before_allocating(self, tape):
        with pytest.raises(ValueError, match=r"every='1ns' gives 343,321,000,001 decision times over the data's "
                                             r"0 days 00:05:43.321000, more than backtester\.cadence\.MAX_DECISIONS"):
            bt.run(BuyAndHold(every="1ns"), tape)

    def test_the_limit_is_a_module_constant_that_can_be_raised(self, tape, monkeypatch):
        start, end = (tape.trades.column("ts")[i].value for i in (0, -1))
        assert cadence.MAX_DECISIONS >= 10_000_000          # tens of millions by default
        assert len(cadence.decision_times("1min", start, end)) == 5   # cached from here on
        monkeypatch.setattr(cadence, "MAX_DECISIONS", 4)
        with pytest.raises(ValueError, match="MAX_DECISIONS = 4"):   # applies to a cached grid too
            cadence.decision_times("1min", start, end)
        monkeypatch.setattr(cadence, "MAX_DECISIONS", 5)
        assert len(cadence.decision_times("1min", start, end)) == 5

    def test_explicit_and_calendar_cadences_are_not_counted_against_the_limit(self, monkeypatch):
        monkeypatch.setattr(cadence, "MAX_DECISIONS", 1)
        start, end = pd.Timestamp("2024-01-01", tz="UTC").value, pd.Timestamp("2024-06-01", tz="UTC").value
        assert len(cadence.decision_times("MS", start, end)) == 6
        times = pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC")
        assert len(cadence.decision_times(times, start, end)) == 3


class TestCadenceLongerThanTheData:
    """A cadence with no decision time inside the data gives a flat result: ``NoDecisionsWarning``
    (already in place; ``tests/test_user_traps.py`` covers ``every="MS"``)."""

    @pytest.mark.parametrize("every", ["1h", "1D", "1W"])
    def test_no_decision_within_the_data_warns(self, tape, every):
        with pytest.warns(bt.NoDecisionsWarning, match=rf"every={every}.*never decides"):
            res = bt.run(BuyAndHold(every=every), tape)
        assert res.stats()["n_fills"] == 0

    def test_one_decision_does_not_warn(self, tape):
        assert _quiet_run(BuyAndHold(every="5min"), tape, bt.SimConfig()).stats()["n_fills"] == 1


# ============================================================================ unfillable orders
class TestOrdersThatCanNeverFill:
    """An order on a market with no trades in the data is admitted (the market has an oracle
    price) and waits to the end: ``UnfillableOrdersWarning``, once per run."""

    def test_an_order_on_a_market_without_trades_warns_once(self, tape_with_idle_eth):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = bt.run(Submit(n=3), tape_with_idle_eth, bt.SimConfig())
        ours = [w for w in caught if issubclass(w.category, bt.UnfillableOrdersWarning)]
        assert len(ours) == 1
        assert "3 orders on ETH-USD, which has no trades in the data, could never fill (3 still open at the end)" \
            in str(ours[0].message)
        assert list(res.orders.status) == ["open"] * 3

    def test_a_plan_on_a_market_without_trades_warns(self, tape_with_idle_eth):
        class HoldEth(bt.Strategy):
            every = "1min"

            def init(self, data):
                self.set_targets(ETH, np.full(len(self.decision_times), 0.1), kind="position")

        with pytest.warns(bt.UnfillableOrdersWarning, match="could never fill"):
            bt.run(HoldEth(), tape_with_idle_eth)

    def test_orders_on_traded_markets_do_not_warn(self, tape_with_idle_eth):
        res = _quiet_run(Submit(market=BTC, size=0.01), tape_with_idle_eth, bt.SimConfig())
        assert res.stats()["n_fills"] == 1
