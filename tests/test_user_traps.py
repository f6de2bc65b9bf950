"""Traps a new user fell into (issue 10), each pinned by a test that failed before its fix.

Parameters holding arrays, parameter names that clash with attributes, cadences, silently
rejected orders, margin presets chosen by surprise, the frictionless switch, the equity-sample
clock on long bar data, the kernel cache guard under ``NUMBA_CACHE_DIR``, and timing
assertions in the suite.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import backtester as bt
import data_loaders as dl
from backtester.cadence import decision_times
from data_loaders.readers.candles import candles_to_trades

ROOT = Path(__file__).resolve().parents[1]
BTC = "BTC-USD"


@pytest.fixture(scope="module")
def tape():
    """Six real minutes of Binance BTCUSDT trades (the package's sample)."""
    return dl.sample("btcusdt-tape")


class Hold(bt.Strategy):
    """Plan-only: hold ``size`` BTC from the first decision (``signal`` is only carried)."""

    params = dict(size=0.01, signal=None)
    every = "1min"

    def init(self, data):
        self.set_targets(BTC, np.full(len(self.decision_times), self.size), kind="position")


# ---------------------------------------------------------------------------- params and labels
@pytest.mark.parametrize("value", [pd.Series([1.0, 2.0, 3.0]), np.arange(4.0), pd.DataFrame({"a": [1, 2]}),
                                   (lambda x: x), [0.1] * 40], ids=["series", "array", "frame", "callable", "list"])
def test_any_param_value_gives_a_short_stable_label(tape, value):
    s = Hold(signal=value)
    assert s.name.startswith("Hold(signal=") and len(s.name) < 60
    assert Hold(signal=value).name == s.name  # stable
    assert "signal=" in repr(s)
    res = bt.run(s, tape, bt.SimConfig())
    assert res.stats().name == s.name        # raised "truth value of a Series is ambiguous"
    assert s.name in repr(res)


def test_labels_tell_different_arrays_apart_and_equal_ones_together():
    a, b = Hold(signal=np.arange(3.0)), Hold(signal=np.arange(3.0) + 1)
    assert a.name != b.name
    assert a.name == Hold(signal=np.arange(3.0)).name
    assert Hold(signal=None).name == "Hold"  # the default is not shown


def test_compare_labels_strategies_with_series_params(tape):
    sig = pd.Series([1.0], index=pd.to_datetime(["2024-08-08 23:55"], utc=True))
    cmp = bt.compare([Hold(signal=sig), Hold(size=0.02)], tape, seeds=1, progress=False)
    assert len(cmp.pivot("total_return").columns) == 2


@pytest.mark.parametrize("clash", ["name", "plan_only", "init", "set_targets", "decision_times", "params"])
def test_a_param_named_like_an_attribute_is_an_error_at_class_creation(clash):
    with pytest.raises(TypeError, match=f"parameter '{clash}' clashes with the attribute"):
        type("Bad", (bt.Strategy,), {"params": {clash: 1}})


def test_a_param_shadowed_by_the_subclass_own_method_is_an_error():
    with pytest.raises(TypeError, match="'signal' clashes with the attribute Bad.signal"):
        class Bad(bt.Strategy):
            params = dict(signal=1.0)

            def signal(self):
                return 0.0


def test_a_subclass_method_clashing_with_an_inherited_param_is_an_error():
    with pytest.raises(TypeError, match="'size' clashes"):
        class Bad(Hold):
            size = 3.0


def test_every_is_a_param_of_every_strategy(tape):
    s = Hold(every="30s")
    assert s.every == "30s" and s.name == "Hold(every=30s)"
    res = bt.run(s, tape, bt.SimConfig())
    steps = np.diff(s.decision_times.asi8)
    assert len(steps) and (steps == 30 * 10**9).all()

    class Declared(bt.Strategy):
        params = dict(every="2min")
    assert Declared().every == "2min" and Declared(every="1h").every == "1h"
    with pytest.raises(ValueError, match="every"):
        Hold(every="soon")
    with pytest.raises(ValueError, match="positive"):
        Hold(every="-1min")
    assert res.stats()["n_fills"] == 1


# ---------------------------------------------------------------------------- decision grid
def _ns(text):
    return pd.Timestamp(text, tz="UTC").value


def test_weekly_decisions_fall_on_mondays_at_midnight():
    times = decision_times("1W", _ns("2024-01-01 00:00:01"), _ns("2024-03-01"))
    assert set(times.day_name()) == {"Monday"} and (times.hour == 0).all()
    assert times[0] == pd.Timestamp("2024-01-08", tz="UTC")
    two = decision_times("14D", _ns("2024-01-01"), _ns("2024-03-01"))
    assert set(two.day_name()) == {"Monday"}
    # a plain day count keeps the epoch origin (pandas floor): 3D is not a week multiple
    assert decision_times("3D", _ns("1970-01-01"), _ns("1970-01-07"))[1] == pd.Timestamp("1970-01-04", tz="UTC")


def test_monday_exactly_at_the_start_is_a_decision():
    times = decision_times("1W", _ns("2024-01-08"), _ns("2024-01-20"))
    assert times[0] == pd.Timestamp("2024-01-08", tz="UTC") and len(times) == 2


def test_calendar_and_explicit_decision_times():
    months = decision_times("MS", _ns("2023-12-15"), _ns("2024-04-01"))
    assert list(months.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    given = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:07"], utc=True)
    assert list(decision_times(given, 0, 1)) == list(given)
    with pytest.raises(ValueError, match="sorted"):
        decision_times(given[::-1], 0, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        decision_times(pd.to_datetime(["2024-01-01"]), 0, 1)


# ---------------------------------------------------------------------------- rejected orders
class Oversized(bt.Strategy):
    """Buys 10 BTC each minute (five decisions on the tape): far more than 100 USD allows."""

    every = "1min"

    def on_decision(self, ctx):
        ctx.submit(BTC, 10.0)


def test_a_run_whose_orders_are_all_rejected_says_so(tape):
    with pytest.warns(bt.RejectedOrdersWarning, match=r"5 of 5 orders were rejected \(insufficient_margin: 5\)"):
        res = bt.run(Oversized(), tape, bt.SimConfig(initial_cash=100.0))
    s = res.stats()
    assert s["n_fills"] == 0
    assert (s["n_rejected"], s["rejected_insufficient_margin"], s["rejected_venue_down"]) == (5, 5, 0)
    assert res.rejections().to_dict() == {"insufficient_margin": 5}
    assert "5 orders rejected" in repr(res)


def test_a_clean_run_does_not_warn(tape):
    with warnings.catch_warnings():
        warnings.simplefilter("error", bt.RejectedOrdersWarning)
        res = bt.run(Oversized(), tape, bt.SimConfig(initial_cash=1e6))
    assert res.stats()["n_rejected"] == 0 and res.stats()["n_fills"] == 5


# ---------------------------------------------------------------------------- market presets
def test_a_market_built_by_name_gets_its_own_preset():
    m = bt.Market(name=BTC, taker_fee=0.0003)
    assert (m.imf, m.mmf, m.tier) == (0.02, 0.012, "large-cap preset")  # was mid-cap 0.05/0.03
    assert bt.Market("SOL-USD").imf == 0.05 and bt.Market("BTCUSDT").imf == 0.02
    assert bt.Market("X-USD", imf=0.1, mmf=0.05).tier == "given"


def test_an_unknown_market_name_warns_which_preset_it_got():
    with pytest.warns(bt.UnknownMarketWarning, match="'GOOG' is not a known dYdX v4 market.*long-tail"):
        m = bt.SimConfig().market("GOOG")
    assert (m.imf, m.mmf) == (0.2, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bt.UnknownMarketWarning)
        bt.Market("GOOG", imf=0.1, mmf=0.05)  # margins given: nothing to warn about


def test_a_markets_key_must_be_the_markets_name():
    with pytest.raises(ValueError, match=r"markets\['ETH-USD'\] holds the market named 'BTC-USD'"):
        bt.SimConfig(markets={"ETH-USD": bt.Market(BTC)})


def test_config_and_result_show_each_markets_margins_and_fees(tape):
    cfg = bt.SimConfig(markets={BTC: bt.Market(BTC, taker_fee=0.0002)})
    assert "BTC-USD (large-cap preset): imf 2%, mmf 1.2%, taker 2bp" in repr(cfg)
    res = bt.run(Hold(), tape, cfg)
    assert res.markets.loc[BTC, ["imf", "mmf", "taker_fee"]].tolist() == [0.02, 0.012, 0.0002]
    assert "imf 2%, mmf 1.2%" in repr(res)


# ---------------------------------------------------------------------------- frictionless
class SmaCross(bt.Strategy):
    """Long ``size`` when the fast SMA of decision-time prices is above the slow one, else short
    (plan-only: targets from ``init``)."""

    params = dict(fast=5, slow=20, size=0.5)
    every = "1s"

    def init(self, data):
        ts, px = data.market_prices("trades", BTC)
        seen = px[np.searchsorted(ts, self.decision_times.asi8, side="right") - 1]
        s = pd.Series(seen)
        signal = np.sign(s.rolling(self.fast).mean() - s.rolling(self.slow).mean())
        self.set_targets(BTC, (self.size * signal).to_numpy(), kind="position")


class SmaCrossHook(SmaCross):
    """The same decisions through ``on_decision`` (hook mode)."""

    def init(self, data):
        self.prices = []

    def on_decision(self, ctx):
        self.prices.append(ctx.price(BTC))
        p = np.array(self.prices[-self.slow:])
        if len(p) == self.slow:
            ctx.target_position(BTC, self.size * np.sign(p[-self.fast:].mean() - p.mean()))


def numpy_sma_cross(trade_ts, trade_px, times, fast, slow, size):
    """The ten-line reference: decide on the last trade at or before each decision time, fill
    at the first trade after it (zero latency, at the print)."""
    seen = pd.Series(trade_px[np.searchsorted(trade_ts, times, side="right") - 1])
    target = (size * np.sign(seen.rolling(fast).mean() - seen.rolling(slow).mean())).to_numpy()
    fills, held = [], 0.0
    for t, want in zip(times, target):
        if np.isnan(want) or want == held:
            continue
        j = np.searchsorted(trade_ts, t, side="right")  # the next print after the decision
        fills.append((trade_ts[j], trade_px[j], abs(want - held), np.sign(want - held)))
        held = want
    return pd.DataFrame(fills, columns=["ts", "price", "size", "side"])


@pytest.mark.parametrize("strategy", [SmaCross, SmaCrossHook], ids=["fast-path", "hook"])
def test_frictionless_sma_cross_equals_numpy_fill_by_fill_on_the_real_tape(tape, strategy):
    res = bt.run(strategy(), tape, bt.SimConfig.frictionless(initial_cash=1_000.0))
    ts, px = tape.market_prices("trades", BTC)
    want = numpy_sma_cross(ts, px, decision_times("1s", int(ts[0]), int(ts[-1])).asi8, 5, 20, 0.5)
    got = res.fills
    assert len(got) == len(want) > 10
    np.testing.assert_array_equal(got["ts"].astype("int64").to_numpy(), want["ts"].to_numpy())
    np.testing.assert_array_equal(got["price"].to_numpy(), want["price"].to_numpy())
    np.testing.assert_allclose(got["size"].to_numpy(), want["size"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(got["side"].to_numpy(), want["side"].to_numpy())
    assert (got["fee"] == 0).all() and (got["slippage_cost"] == 0).all() and not len(res.ledger.query("kind == 'gas'"))
    cash = -(want["side"] * want["size"] * want["price"]).sum()
    position = (want["side"] * want["size"]).sum()
    assert res.final_equity() == pytest.approx(1_000.0 + cash + position * px[-1], rel=1e-12)


def test_frictionless_margin_never_binds(tape):
    """50x leverage on 1,000 USD: rejected under the BTC preset, filled when frictionless."""
    big = SmaCross(size=0.8)  # ~50,000 USD of BTC
    with pytest.warns(bt.RejectedOrdersWarning):
        assert bt.run(big, tape, bt.SimConfig(initial_cash=1_000.0)).stats()["n_rejected"] > 0
    s = bt.run(big, tape, bt.SimConfig.frictionless(initial_cash=1_000.0)).stats()
    assert s["n_rejected"] == 0 and s["n_liquidations"] == 0


def test_frictionless_pays_no_funding_and_no_gas():
    ds = dl.sample()
    s = bt.run(Hold(size=0.1), ds, bt.SimConfig.frictionless(initial_cash=10_000.0)).stats()
    assert (s["funding"], s["gas"], s["fees"], s["slippage_cost"]) == (0.0, 0.0, 0.0, 0.0)
    assert bt.run(Hold(size=0.1), ds, bt.SimConfig()).stats()["funding"] != 0.0  # the data has funding


# ---------------------------------------------------------------------------- equity samples
def _daily_bars(years: int) -> dl.Dataset:
    days = pd.date_range("2015-01-01", periods=365 * years, freq="D", tz="UTC")
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
    open_ = np.r_[100.0, close[:-1]]
    bars = pd.DataFrame({"ts": days, "open": open_, "high": np.maximum(open_, close) * 1.01,
                         "low": np.minimum(open_, close) * 0.99, "close": close, "volume": 1_000.0})
    return dl.Dataset(trades=candles_to_trades(bars, BTC, bar="1D"))


def test_equity_samples_follow_the_data_not_a_fixed_minute():
    ds = _daily_bars(9)
    res = bt.run(Hold(every="1D"), ds, bt.SimConfig())
    assert res.sample_every == pd.Timedelta("6h")        # the bars' path points are 6 h apart
    assert len(res.equity) < 15_000                       # was 4.7 million one-minute samples
    explicit = bt.run(Hold(every="1D"), ds, bt.SimConfig(sample_every="1D"))
    assert explicit.sample_every == pd.Timedelta("1D") and len(explicit.equity) < 3_400


def test_auto_samples_stay_at_a_minute_on_tick_data(tape):
    assert bt.run(Hold(), tape, bt.SimConfig()).sample_every == pd.Timedelta("1min")


# ---------------------------------------------------------------------------- kernel cache guard
_PROBE = """
import sys
from pathlib import Path
from backtester import kernel
dirs = kernel.cache_dirs()
assert len(dirs) == 1, dirs
d = dirs[0]
print(d)
if sys.argv[1] == "plant":
    d.mkdir(parents=True, exist_ok=True)
    (d / "loop_nb.run_nb-1.py311.nbi").write_text("stale")
    (d / kernel.MARKER).write_text("sources of another version")
    (d / "someone_else.f-1.py311.nbi").write_text("not ours")
print(kernel.is_cached())
"""


def test_the_stale_cache_guard_honours_numba_cache_dir(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, "-c", _PROBE, "plant"], env=env, capture_output=True, text=True,
                           cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    where = Path(first.stdout.split()[0])
    assert tmp_path in where.parents                       # numba's own location, not the tree
    # the planted machine code claims other sources: the next import must drop it
    second = subprocess.run([sys.executable, "-c", _PROBE, "look"], env=env, capture_output=True, text=True,
                            cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[1] == "False"
    assert not (where / "loop_nb.run_nb-1.py311.nbi").exists()
    assert (where / "someone_else.f-1.py311.nbi").exists()  # nothing the guard did not make goes
    assert len((where / "kernel-sources.sha256").read_text()) == 64


def test_the_in_tree_cache_is_used_without_numba_cache_dir():
    from backtester import kernel

    if os.environ.get("NUMBA_CACHE_DIR"):
        pytest.skip("NUMBA_CACHE_DIR is set for this session")
    dirs = kernel.cache_dirs()
    assert dirs == [Path(kernel.__file__).resolve().parent / "__pycache__"] or \
        not os.access(Path(kernel.__file__).parent, os.W_OK)  # read-only installs use numba's fallback


# ---------------------------------------------------------------------------- no timing asserts
_CLOCKS = {"perf_counter", "time", "monotonic", "process_time", "perf_counter_ns", "monotonic_ns"}


def test_no_test_asserts_on_wall_clock_time():
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert):
                for sub in ast.walk(node.test):
                    if isinstance(sub, ast.Attribute) and sub.attr in _CLOCKS and \
                            isinstance(sub.value, ast.Name) and sub.value.id == "time":
                        offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"timing assertions (speed belongs in benchmarks/): {offenders}"


# ---------------------------------------------------------------------------- labels, property
from hypothesis import given, settings, strategies as st  # noqa: E402

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
    | st.builds(np.array, st.lists(st.floats(allow_nan=True), max_size=5))
    | st.builds(pd.Series, st.lists(st.integers(), max_size=5))
    | st.just(len) | st.just(pd.DataFrame({"a": [1.0, np.nan]})),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(a=_values, b=_values)
def test_labels_never_raise_and_stay_short(a, b):
    s = Hold(signal=a, size=b)
    assert s.name.startswith("Hold") and len(s.name) < 120
    assert s.name == Hold(signal=a, size=b).name
    repr(s)


# ---------------------------------------------------------------------------- bars, next open
DAILY = ROOT / "tests" / "data" / "candles" / "BTCUSD-1d-2023-generated.csv"


class DailySmaCross(SmaCross):
    params = dict(fast=5, slow=20, size=1.0, every="1D")


def numpy_bar_cross(bars, fast, slow, size):
    """backtesting.py's convention in ten lines: the signal of the closes up to bar k-1 trades
    at the open of bar k."""
    close, open_ = bars["close"].to_numpy(), bars["open"].to_numpy()
    signal = np.sign(pd.Series(close).rolling(fast).mean() - pd.Series(close).rolling(slow).mean()).to_numpy()
    fills, held = [], 0.0
    for k in range(1, len(bars)):
        want = size * signal[k - 1]
        if np.isnan(want) or want == held:
            continue
        fills.append((bars["ts"].iloc[k], open_[k], abs(want - held), np.sign(want - held)))
        held = want
    return pd.DataFrame(fills, columns=["bar", "price", "size", "side"])


@pytest.mark.parametrize("strategy", [DailySmaCross, type("DailySmaCrossHook", (SmaCrossHook,),
                                                          {"params": dict(fast=5, slow=20, size=1.0, every="1D")})],
                         ids=["fast-path", "hook"])
def test_frictionless_sma_cross_on_daily_bars_trades_at_the_next_bars_open(strategy):
    bars = pd.read_csv(DAILY, parse_dates=["ts"])
    data = dl.Dataset(trades=dl.load_trades(DAILY, format="candles", market=BTC))
    res = bt.run(strategy(), data, bt.SimConfig.frictionless(initial_cash=100_000.0))
    want = numpy_bar_cross(bars, 5, 20, 1.0)
    got = res.fills
    assert len(got) == len(want) > 5
    # each fill is the open of the bar its decision started, one nanosecond after the bar start
    np.testing.assert_array_equal(got["ts"].to_numpy(), (want["bar"] + pd.Timedelta(1, "ns")).to_numpy())
    np.testing.assert_array_equal(got["price"].to_numpy(), want["price"].to_numpy())
    np.testing.assert_allclose(got["size"].to_numpy(), want["size"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(got["side"].to_numpy(), want["side"].to_numpy())
    cash = -(want["side"] * want["size"] * want["price"]).sum()
    last = (want["side"] * want["size"]).sum() * bars["close"].iloc[-1]
    assert res.final_equity() == pytest.approx(100_000.0 + cash + last, rel=1e-12)


# ---------------------------------------------------------------------------- found by a new user
@pytest.mark.parametrize("kw, match", [
    (dict(taker_fee=float("nan")), "taker_fee must be a finite number"),
    (dict(taker_fee=-0.01), "only a maker fee can be a rebate"),
    (dict(taker_fee=5.0), "basis points or percent"),
    (dict(maker_fee=-0.01), "rebate larger than 10 bp"),
    (dict(half_spread=0.2), "implausible"),
])
def test_implausible_market_fees_are_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        bt.Market(BTC, **kw)


@pytest.mark.parametrize("kw, err, match", [
    (dict(initial_cash=0), ValueError, r"initial_cash: expected a finite number > 0, got 0"),
    (dict(initial_cash=-5.0), ValueError, "> 0"),
    (dict(initial_cash=float("nan")), ValueError, "nan"),
    (dict(initial_cash="10k"), TypeError, "expected a number, got '10k'"),
    (dict(initial_cash={"dydx": 0.0}), ValueError, "no venue has any cash"),
    (dict(insurance_fund=float("nan")), ValueError, "insurance_fund"),
    (dict(latency_scale="2"), TypeError, "latency_scale: expected a number"),
    (dict(slippage_multiplier=-1.0), ValueError, "slippage_multiplier"),
    (dict(liq_spread=-1.0), ValueError, "liq_spread"),
    (dict(funding="no"), TypeError, "funding"),
    (dict(impact_window="0s"), ValueError, "impact_window: must be a positive duration"),
])
def test_bad_config_numbers_fail_when_the_config_is_built(kw, err, match):
    with pytest.raises(err, match=match):
        bt.SimConfig(**kw)


def test_a_misspelt_venue_in_per_venue_cash_is_an_error(tape):
    with pytest.raises(TypeError, match="initial_cash has no venue 'dydxx'; did you mean 'dydx'"):
        bt.run(Hold(), tape, bt.SimConfig(initial_cash={"dydxx": 10_000.0}))
    assert bt.run(Hold(), tape, bt.SimConfig(initial_cash={"dydx": 10_000.0})).stats()["n_fills"] == 1


def test_repr_shows_markets_as_the_run_uses_them():
    cfg = bt.SimConfig(market_overrides=dict(taker_fee=0.0), markets={BTC: bt.Market(BTC, taker_fee=0.0003)})
    assert "taker 0bp" in repr(cfg)
    assert bt.Market(BTC, imf=0.5).tier == "large-cap preset, imf given"


@pytest.mark.parametrize("every", [5, 5.0])
def test_a_cadence_without_a_unit_is_an_error(every):
    with pytest.raises(ValueError, match="has no unit"):
        Hold(every=every)


def test_bare_w_is_the_monday_week():
    times = decision_times("W", _ns("2024-01-01 00:00:01"), _ns("2024-02-01"))
    assert set(times.day_name()) == {"Monday"}
    assert set(decision_times("W-SUN", _ns("2024-01-01"), _ns("2024-02-01")).day_name()) == {"Sunday"}


def test_a_strategy_that_can_never_decide_warns(tape):
    with pytest.warns(bt.NoDecisionsWarning, match="never decides"):
        res = bt.run(Hold(every="MS"), tape, bt.SimConfig())
    assert res.stats()["n_fills"] == 0


def test_long_list_and_dict_params_get_distinct_labels():
    a = Hold(signal=[pd.Timestamp("2024-01-01", tz="UTC")] * 3)
    b = Hold(signal=[pd.Timestamp("2024-01-02", tz="UTC")] * 3)
    assert a.name != b.name and "list[3]#" in a.name
    assert Hold(signal={f"k{i}": i for i in range(9)}).name != Hold(signal={f"k{i}": -i for i in range(9)}).name


def test_a_strategy_signature_lists_its_parameters():
    import inspect

    assert list(inspect.signature(SmaCross).parameters) == ["fast", "slow", "size", "every"]
    assert "taker_fee" in inspect.signature(bt.Market).parameters
    assert "initial_cash" in inspect.signature(bt.SimConfig).parameters
