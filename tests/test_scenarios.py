"""Stress scenarios (`bt.scenarios`): each changes exactly what it claims and nothing else.

Table edits are checked through an independent reading of the tables: a step-function lookup
written here with pandas (value in force = last row with ts <= t) at probe times inside and
outside each window, and row-by-row comparisons outside windows. Engine-level claims (an
outage removes matching in its window only; slippage x2 doubles slippage cost on the same
fills) are checked on real runs.
"""
from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import backtester as bt
import data_loaders as dl

try:
    from backtester import scenarios as sc
except ImportError:  # until backtester/__init__.py imports the package
    import backtester.scenarios as sc

BTC, ETH = "BTC-USD", "ETH-USD"
UTC = "UTC"


# ============================================================================ fixtures, helpers
@pytest.fixture(scope="module")
def day():
    """Four hours of the default sample: both markets, oracle, funding, a latency trace."""
    return dl.sample().slice("2022-11-07 00:00", "2022-11-07 04:00")


@pytest.fixture(scope="module")
def tape():
    """Six real minutes: trades and book, no oracle rows, no funding."""
    return dl.sample("btcusdt-tape")


def T(s) -> pd.Timestamp:
    return pd.Timestamp(s, tz=UTC)


def frame(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    return df


def ns(values) -> np.ndarray:
    return pd.DatetimeIndex(values).as_unit("ns").asi8


def in_force(df: pd.DataFrame, t: np.ndarray, first_holds: bool) -> pd.DataFrame:
    """Rows of ``df`` (one group, time-ordered) in force at times ``t``; before the first row:
    the first row (``first_holds``, latency traces) or NaN rows."""
    i = np.searchsorted(ns(df["ts"]), t, side="right") - 1
    if first_holds:
        i = np.maximum(i, 0)
    out = df.drop(columns="ts").reset_index(drop=True).reindex(np.where(i >= 0, i, -1))
    return out.reset_index(drop=True)


def probes(*frames_, extra=()) -> np.ndarray:
    """Every stamp of the frames, one ns either side, and the extra times."""
    t = np.concatenate([ns(f["ts"]) for f in frames_] + [np.asarray(extra, np.int64)])
    return np.unique(np.concatenate([t - 1, t, t + 1]))


def config_fields_except(a: bt.SimConfig, b: bt.SimConfig, *names) -> None:
    """Every config field other than ``names`` is unchanged."""
    for f in fields(bt.SimConfig):
        if f.name not in names:
            va, vb = getattr(a, f.name), getattr(b, f.name)
            same = va.equals(vb) if isinstance(va, pd.Series) else va == vb
            assert same, f"SimConfig.{f.name} changed: {va!r} -> {vb!r}"


def same_tables(a: dl.Dataset, b: dl.Dataset, *except_) -> None:
    for kind in dl.KINDS:
        if kind not in except_:
            assert a.table(kind).equals(b.table(kind)), f"{kind} table changed"


class Wiggle(bt.Strategy):
    """Plan-only: alternate a small long and short BTC position every minute."""

    params = dict(size=0.002)
    every = "1min"

    def init(self, data):
        n = len(self.decision_times)
        self.set_targets(BTC, np.where(np.arange(n) % 2 == 0, self.size, -self.size), kind="position")


# ============================================================================ outage / latency
def _check_trace(before: pd.DataFrame, after: pd.DataFrame, venue, s, e, inside_fn):
    old = before[before.venue == venue].reset_index(drop=True)
    new = after[after.venue == venue].reset_index(drop=True)
    assert (np.diff(ns(new["ts"])) >= 0).all()
    t = probes(old, new, extra=[s.value, e.value])  # also before the first row: first row holds
    if len(old):
        was = in_force(old, t, first_holds=True)
    else:  # no trace: zero latency, always up
        z = pd.Timedelta(0)
        was = pd.DataFrame({"venue": venue, "order_latency": z, "ack_latency": z, "finality": z,
                            "up": True, "gas_fee": 0.0}, index=range(len(t)))
    now = in_force(new, t, first_holds=True)
    inside = (t >= s.value) & (t < e.value)
    assert inside.any() and (~inside).any()
    pd.testing.assert_frame_equal(now[~inside].reset_index(drop=True), was[~inside].reset_index(drop=True),
                                  check_dtype=False)
    pd.testing.assert_frame_equal(now[inside].reset_index(drop=True),
                                  inside_fn(was[inside].reset_index(drop=True)), check_dtype=False)
    # rows of the original outside the window are all still there, unchanged
    out_old = old[(old.ts < s) | (old.ts >= e)].reset_index(drop=True)
    out_new = new[((new.ts < s) | (new.ts >= e)) & new.ts.isin(old.ts)].reset_index(drop=True)
    pd.testing.assert_frame_equal(out_new, out_old)


def _down(df):
    return df.assign(up=False)


def test_outage_sets_up_false_in_its_window_and_nothing_else(day):
    cfg = bt.SimConfig(latency_scale=1.5)
    s, e = T("2022-11-07 01:00:30"), T("2022-11-07 01:30:30")
    out = sc.apply(sc.Outage(s, "30min"), day, cfg)
    assert out.config == cfg and out.reorgs == ()
    same_tables(day, out.data, "latency")
    _check_trace(frame(day.latency), frame(out.data.latency), "dydx", s, e, _down)

    rej = sc.apply(sc.Outage(s, "30min", policy="reject"), day, cfg)
    assert rej.config.downtime_policy == "reject"
    config_fields_except(cfg, rej.config, "downtime_policy")
    assert rej.data.latency.equals(out.data.latency)


def test_outage_of_a_venue_without_trace_creates_its_rows(day):
    cfg = bt.SimConfig(markets={ETH: bt.Market.preset(ETH, venue="arb")})
    s, e = T("2022-11-07 02:00"), T("2022-11-07 02:45")
    out = sc.apply(sc.Outage(s, "45min", venue="arb"), day, cfg)
    after = frame(out.data.latency)
    _check_trace(frame(day.latency), after, "arb", s, e, _down)
    _check_trace(frame(day.latency), after, "dydx", s, s + pd.Timedelta(1), lambda df: df)  # untouched
    both = sc.apply(sc.Outage(s, "45min"), day, cfg)  # venue=None: every venue of the run
    assert sorted(frame(both.data.latency).venue.unique()) == ["arb", "dydx"]


def test_outage_before_the_first_trace_row_keeps_earlier_times(day):
    late = dl.Dataset(trades=day.trades, oracle=day.oracle,
                      latency=day.slice("2022-11-07 01:00", None).latency)
    s, e = T("2022-11-07 00:20"), T("2022-11-07 00:40")
    out = sc.apply(sc.Outage(s, "20min"), late)
    _check_trace(frame(late.latency), frame(out.data.latency), "dydx", s, e, _down)


def test_an_outage_under_way_when_the_data_starts_is_down_from_the_first_trade(day):
    # a walk-forward's window (a slice) can open inside an outage placed on the whole history
    cut = day.slice("2022-11-07 01:00", None)
    s, e = T("2022-11-07 00:30"), T("2022-11-07 01:30")
    out = sc.apply(sc.Outage(s, "1h"), cut)
    _check_trace(frame(cut.latency), frame(out.data.latency), "dydx", cut.start, e, _down)
    # the same as an outage placed at the first trade that ends at the same time
    at_first = sc.apply(sc.Outage(cut.start, e - cut.start), cut)
    assert out.data.latency.equals(at_first.data.latency)
    # one that ended by the first trade does not reach the data: refused, as one after the last
    with pytest.raises(ValueError, match="outside the data"):
        sc.apply(sc.Outage(s, cut.start - s), cut)


def test_latency_spike_multiplies_latencies_in_its_window_only(day):
    s, e = T("2022-11-07 01:10:00.5"), T("2022-11-07 01:25")
    out = sc.apply(sc.LatencySpike(s, "14min59.5s", 30), day)
    assert out.config == bt.SimConfig()
    same_tables(day, out.data, "latency")

    def slower(df):
        df = df.copy()
        for c in ("order_latency", "ack_latency", "finality"):
            df[c] = pd.to_timedelta((df[c].dt.total_seconds() * 1e9 * 30).round().astype("int64"), unit="ns")
        return df

    _check_trace(frame(day.latency), frame(out.data.latency), "dydx", s, e, slower)


# ============================================================================ oracle
def test_oracle_delay_whole_run_restamps_every_row(day):
    out = sc.apply(sc.OracleDelay("30s"), day)
    old, new = frame(day.oracle), frame(out.data.oracle)
    for m in (BTC, ETH):
        a, b = old[old.market == m].reset_index(drop=True), new[new.market == m].reset_index(drop=True)
        assert (b.ts - a.ts == pd.Timedelta("30s")).all() and (b.price == a.price).all()
    assert out.config == bt.SimConfig()  # every market has oracle rows: oracle_delay unused
    same_tables(day, out.data, "oracle")


def test_oracle_delay_on_a_window_shows_the_price_delay_earlier(day):
    s, e, d = T("2022-11-07 01:00:00.3"), T("2022-11-07 01:20:00.7"), pd.Timedelta("2min30s")
    out = sc.apply(sc.OracleDelay(d, s, "20min0.4s"), day)
    same_tables(day, out.data, "oracle")
    old, new = frame(day.oracle), frame(out.data.oracle)
    for m in (BTC, ETH):
        a, b = old[old.market == m], new[new.market == m]
        assert (np.diff(ns(b.ts)) >= 0).all()
        t = probes(a, b, extra=[s.value, e.value])
        t = t[t >= ns(a.ts)[0] + d.value]
        inside = (t >= s.value) & (t < e.value)
        now = in_force(b, t, False).price.to_numpy()
        assert np.array_equal(now[~inside], in_force(a, t[~inside], False).price.to_numpy())
        assert np.array_equal(now[inside], in_force(a, t[inside] - d.value, False).price.to_numpy())
        outside_rows = a[(a.ts < s) | (a.ts >= e)]
        assert outside_rows.reset_index(drop=True).equals(
            b[((b.ts < s) | (b.ts >= e)) & b.ts.isin(a.ts)].reset_index(drop=True))


def test_oracle_delay_without_oracle_rows(tape):
    cfg = bt.SimConfig(oracle_delay="1s")
    whole = sc.apply(sc.OracleDelay("30s"), tape, cfg)
    assert whole.config.ns("oracle_delay") == pd.Timedelta("31s").value
    config_fields_except(cfg, whole.config, "oracle_delay")
    same_tables(tape, whole.data)

    # on a window the derived oracle (trade + 1 s) is written out, then delayed inside
    s, d = T("2024-08-08 23:56:00"), pd.Timedelta("20s")
    win = sc.apply(sc.OracleDelay(d, s, "1min"), tape, cfg)
    assert win.config == cfg
    same_tables(tape, win.data, "oracle")
    tr, orc = frame(tape.trades), frame(win.data.oracle)
    t = probes(orc, extra=[s.value])
    t = t[(t >= ns(tr.ts)[0] + pd.Timedelta("21s").value)]
    inside = (t >= s.value) & (t < (s + pd.Timedelta("1min")).value)
    lag = np.where(inside, d.value, 0) + pd.Timedelta("1s").value
    expected = in_force(tr, t - lag, False).price.to_numpy()
    assert np.array_equal(in_force(orc, t, False).price.to_numpy(), expected)


# ============================================================================ slippage / funding
def _step_value(series: pd.Series | float, t: np.ndarray) -> np.ndarray:
    if not isinstance(series, pd.Series):
        return np.full(len(t), float(series))
    i = np.searchsorted(ns(series.index), t, side="right") - 1
    return np.where(i >= 0, series.to_numpy()[np.maximum(i, 0)], 1.0)


def test_slippage_edits_only_the_multiplier(day):
    base = bt.SimConfig(slippage_multiplier=1.5)
    out = sc.apply(sc.Slippage(2.0), day, base)
    assert out.config.slippage_multiplier == 3.0 and out.data is day
    config_fields_except(base, out.config, "slippage_multiplier")

    s, e = T("2022-11-07 01:00"), T("2022-11-07 02:00")
    t = probes(frame(day.trades).iloc[::50], extra=[s.value, e.value])
    inside = (t >= s.value) & (t < e.value)
    win = sc.apply(sc.Slippage(2.0, s, "1h"), day, base).config.slippage_multiplier
    assert np.array_equal(_step_value(win, t), np.where(inside, 3.0, 1.5))

    # a step series already there: the window multiplies into it
    series = pd.Series([2.0, 0.5], index=pd.DatetimeIndex([T("2022-11-07 00:30"), T("2022-11-07 01:30")]))
    both = sc.apply(sc.Slippage(4.0, s, "1h"), day, base.with_(slippage_multiplier=series))
    got = _step_value(both.config.slippage_multiplier, t)
    assert np.array_equal(got, _step_value(series, t) * np.where(inside, 4.0, 1.0))
    assert series.tolist() == [2.0, 0.5]  # the input series is not modified


def test_funding_shock_changes_rates_of_its_rows_only(day):
    old = frame(day.funding)
    flip = frame(sc.apply(sc.FundingShock(flip=True), day).data.funding)
    assert np.array_equal(flip.rate, -old.rate) and flip.drop(columns="rate").equals(old.drop(columns="rate"))

    s = T("2022-11-07 01:00")
    out = sc.apply(sc.FundingShock(10.0, start=s, duration="2h", markets=BTC), day)
    same_tables(day, out.data, "funding")
    new = frame(out.data.funding)
    hit = (old.market == BTC) & (old.ts >= s) & (old.ts < s + pd.Timedelta("2h"))
    assert hit.sum() == 2
    assert np.array_equal(new.rate, np.where(hit, old.rate * 10, old.rate))
    assert new.drop(columns="rate").equals(old.drop(columns="rate"))


# ============================================================================ price / liquidity
def test_price_shock_moves_every_price_from_its_time_and_empties_the_gap(day, tape):
    at, gap = T("2022-11-07 02:00:00.5"), pd.Timedelta("5min")
    out = sc.apply(sc.PriceShock(at, -0.2, gap=gap, markets=BTC), day)
    assert out.config == bt.SimConfig()
    tr, new = frame(day.trades), frame(out.data.trades)
    gone = (tr.market == BTC) & (tr.ts >= at) & (tr.ts < at + gap)
    assert gone.sum() > 10 and len(new) == len(tr) - gone.sum()
    kept = tr[~gone].reset_index(drop=True)
    hit = (kept.market == BTC) & (kept.ts >= at)
    assert np.allclose(new.price, np.where(hit, kept.price * 0.8, kept.price), rtol=1e-15, atol=0)
    assert new.drop(columns="price").equals(kept.drop(columns="price"))
    assert not ((new.market == BTC) & (new.ts >= at) & (new.ts < at + gap)).any()

    orc, o2 = frame(day.oracle), frame(out.data.oracle)
    for m, k in ((BTC, 0.8), (ETH, 1.0)):
        a, b = orc[orc.market == m], o2[o2.market == m]
        t = probes(a, extra=[at.value])
        want = in_force(a, t, False).price.to_numpy() * np.where(t >= at.value, k, 1.0)
        assert np.allclose(in_force(b, t, False).price.to_numpy(), want, rtol=1e-15, atol=0, equal_nan=True)
    assert (o2.ts == at).sum() == 1  # the oracle moves exactly at the shock

    fu, f2 = frame(day.funding), frame(out.data.funding)
    hit = (fu.market == BTC) & (fu.ts >= at)
    assert np.allclose(f2.oracle_price, np.where(hit, fu.oracle_price * 0.8, fu.oracle_price), rtol=1e-15)
    assert f2.drop(columns="oracle_price").equals(fu.drop(columns="oracle_price"))

    at = T("2024-08-08 23:57:00")
    pump = sc.apply(sc.PriceShock(at, 0.1, gap="0s"), tape)
    bk, b2 = frame(tape.book), frame(pump.data.book)
    after = (bk.ts >= at).to_numpy()
    for c in ("bid", "ask"):
        assert np.allclose(b2[c], np.where(after, bk[c] * 1.1, bk[c]), rtol=1e-15, atol=0)
    assert b2[["ts", "bid_size", "ask_size"]].equals(bk[["ts", "bid_size", "ask_size"]])
    assert pump.data.trades.num_rows == tape.trades.num_rows


def test_liquidity_drought_keeps_a_fraction_of_smaller_trades(day):
    s, e = T("2022-11-07 01:00"), T("2022-11-07 02:00")
    drought = sc.LiquidityDrought(s, "1h", keep=0.25, size_factor=0.4, markets=ETH)
    assert drought.random
    tr, new = frame(day.trades), frame(sc.apply(drought, day, seed=3).data.trades)
    win = (tr.market == ETH) & (tr.ts >= s) & (tr.ts < e)
    pd.testing.assert_frame_equal(new[~((new.market == ETH) & (new.ts >= s) & (new.ts < e))].reset_index(drop=True),
                                  tr[~win].reset_index(drop=True))
    got = new[(new.market == ETH) & (new.ts >= s) & (new.ts < e)].reset_index(drop=True)
    assert len(got) == round(0.25 * win.sum())
    src = tr[win].set_index("ts").loc[got.ts]  # stamps are unique in this window
    assert (src.price.to_numpy() == got.price.to_numpy()).all() and (src.side.to_numpy() == got.side.to_numpy()).all()
    assert np.allclose(got["size"], src["size"].to_numpy() * 0.4, rtol=1e-15, atol=0)


def test_reorg_and_bridge_delay(day):
    at = T("2022-11-07 01:00:03")
    out = sc.apply(sc.Reorg(at) + sc.Reorg(pd.Timedelta("2h"), venue="dydx"), day)
    assert out.reorgs == ((at, "dydx"), (day.start + pd.Timedelta("2h"), "dydx"))
    assert out.data is day and out.config == bt.SimConfig()
    bd = sc.apply(sc.BridgeDelay("6h"), day)
    assert pd.Timedelta(bd.config.bridge_delay) == pd.Timedelta("6h") and bd.data is day
    config_fields_except(bt.SimConfig(), bd.config, "bridge_delay")


@pytest.mark.parametrize("make, match", [
    (lambda: sc.Outage("2023-01-01", "1h"), "outside the data"),
    (lambda: sc.Outage(pd.Timedelta("5h"), "1h"), "outside the data"),
    (lambda: sc.Outage("2022-11-07 01:00", "1h", venue="arbitrum"), "unknown venue 'arbitrum'"),
    (lambda: sc.PriceShock("2022-11-07 01:00", -0.2, markets="SOL-USD"), "unknown market 'SOL-USD'"),
    (lambda: sc.Outage("2h", "1h"), "must start with a date"),
    (lambda: sc.Outage("2022-11-07 01:00", "-1h"), "must be > 0"),
    (lambda: sc.Outage("2022-11-07 01:00", "6"), "with a unit"),            # not 6 ns
    (lambda: sc.LatencySpike("2022-11-07 01:00", 90, 3.0), "with a unit"),
    (lambda: sc.Outage("2022-11-07 01:00", "1h", policy="drop"), "'queue', 'reject'"),
    (lambda: sc.FundingShock(), "changes nothing"),
    (lambda: sc.FundingShock(1e6), "below 1"),
    (lambda: sc.PriceShock("2022-11-07 01:00", -1.5), "> -1"),
    (lambda: sc.LiquidityDrought("2022-11-07 01:00", "1h", keep=1.5), r"\[0, 1\]"),
    (lambda: sc.Slippage(2.0, duration="1h"), "needs a start"),
])
def test_bad_arguments_give_clear_errors(day, make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sc.apply(make(), day)


# ============================================================================ engine-level claims
def test_outage_removes_matching_in_its_window_and_nowhere_else(day):
    s, e = T("2022-11-07 01:00"), T("2022-11-07 02:00")
    base = bt.run(Wiggle(), day).fills
    for policy in ("queue", "reject"):
        setup = sc.apply(sc.Outage(s, "1h", policy=policy), day)
        res = setup.run(Wiggle())
        fills = res.fills
        assert not ((fills.ts >= s) & (fills.ts < e)).any()
        assert ((base.ts >= s) & (base.ts < e)).sum() > 50  # without the outage it trades there
        cols = ["ts", "side", "size", "price", "fee", "slippage_cost"]
        pd.testing.assert_frame_equal(fills[fills.ts < s][cols], base[base.ts < s][cols])
        assert (fills.ts >= e).sum() > 50  # matching resumes after the window
    orders = res.orders  # reject: orders arriving in the window were refused as VENUE_DOWN
    refused = orders[orders.reason == "venue_down"]
    assert len(refused) >= 25 and ((refused.arrive_ts >= s) & (refused.arrive_ts < e)).all()


def test_slippage_x2_doubles_slippage_cost_on_the_same_fills(day):
    base = bt.run(Wiggle(), day).fills
    s, e = T("2022-11-07 01:00"), T("2022-11-07 02:00")
    for scenario, factor in ((sc.Slippage(2.0), lambda ts: 2.0),
                             (sc.Slippage(2.0, s, "1h"), lambda ts: np.where((ts >= s) & (ts < e), 2.0, 1.0))):
        fills = sc.apply(scenario, day).run(Wiggle()).fills
        assert fills[["ts", "side", "size", "trade_price"]].equals(base[["ts", "side", "size", "trade_price"]])
        want = base.slippage_cost.to_numpy() * factor(base.ts)
        assert np.allclose(fills.slippage_cost, want, rtol=1e-9, atol=0)  # |price - print| loses digits
        assert base.slippage_cost.gt(0).all()


# ============================================================================ determinism, composition
def _tables(setup):
    return [setup.data.table(k) for k in dl.KINDS]


def test_same_seed_same_tables_other_seed_other_draws(day):
    drought = sc.LiquidityDrought(T("2022-11-07 01:00"), "1h")
    a, b = sc.apply(drought, day, seed=7), sc.apply(drought, day, seed=7)
    assert all(x.equals(y) for x, y in zip(_tables(a), _tables(b)))
    c = sc.apply(drought, day, seed=8)
    assert c.data.trades.num_rows == a.data.trades.num_rows  # same count, other trades
    assert not c.data.trades.equals(a.data.trades)
    crash = sc.PriceShock(T("2022-11-07 01:00"), -0.1)
    assert not crash.random
    assert all(x.equals(y) for x, y in zip(_tables(sc.apply(crash, day, seed=1)), _tables(sc.apply(crash, day, seed=2))))


def test_composition_applies_left_to_right_and_names_join(day):
    q = sc.Outage(T("2022-11-07 01:00"), "1h", policy="queue")
    r = sc.Outage(T("2022-11-07 02:00"), "30min", policy="reject")
    both = q + r
    assert both.name == "outage 1h @ 2022-11-07 01:00 (queue) + outage 30min @ 2022-11-07 02:00 (reject)"
    assert sc.apply(both, day).config.downtime_policy == "reject"
    assert sc.apply(r + q, day).config.downtime_policy == "queue"
    step = sc.apply(r, sc.apply(q, day).data)
    assert sc.apply(both, day).data.latency.equals(step.data.latency)
    assert sc.apply([q, r], day).data.latency.equals(step.data.latency)
    assert (sc.NORMAL + q) is q and sc.compose().name == "normal" and sum([q, r]).name == both.name
    assert (both + sc.Slippage(2)).parts == (q, r, sc.Slippage(2))
    assert not both.random and (both + sc.LiquidityDrought(T("2022-11-07 01:00"), "1h")).random


def test_apply_none_is_the_identity(day):
    cfg = bt.SimConfig(latency_scale=2.0)
    out = sc.apply(None, day, cfg)
    assert out.data is day and out.config is cfg and out.reorgs == ()
    assert sc.NORMAL.name == "normal" and sc.apply(sc.NORMAL, day).data is day


# ============================================================================ incidents, suite
def test_incidents_match_the_data_readme():
    by_date = {i.date: i for i in sc.INCIDENTS}
    assert set(by_date) == {"2024-04-08", "2025-10-10", "2023-12-15", "2022-01-09", "2024-02-15"}
    halt = by_date["2025-10-10"]
    assert (halt.start.hour, halt.start.minute) == (21, 35)
    assert T("2025-10-10 21:35") + halt.duration == T("2025-10-11 04:00")  # "to about 04:00 UTC next day"
    assert halt.total == pd.Timedelta("8h")
    slow = by_date["2023-12-15"]
    assert (slow.start.hour, slow.start.minute, slow.duration, slow.kind) == (15, 30, pd.Timedelta("3h"), "latency")
    assert slow.multiplier == pytest.approx(782 / 26)
    assert by_date["2024-04-08"].duration == pd.Timedelta("9.5h")
    assert by_date["2022-01-09"].duration == pd.Timedelta("7h") and by_date["2024-02-15"].duration == pd.Timedelta("2h")


def test_replay_keeps_the_time_of_day_and_avoids_existing_downtime():
    ds = dl.sample()  # its own outage: 2022-11-09 14:00-17:00
    slow = next(i for i in sc.INCIDENTS if i.kind == "latency")
    r = slow.replay(ds)
    assert r.name == f"Arbitrum slowdown 2023-12-15 (3h, latency x30) replayed @ {r.at:%Y-%m-%d} 15:30"
    assert (r.at.hour, r.at.minute) == (15, 30) and r.at.date() != pd.Timestamp("2022-11-09").date()
    assert slow.replay(ds, day="2022-11-08").at == T("2022-11-08 15:30")
    with pytest.raises(ValueError, match="does not fit"):
        slow.replay(ds, day="2022-11-09")  # would meet the sample's own outage
    with pytest.raises(ValueError, match="scale="):
        slow.replay(dl.sample("btcusdt-tape"))


@pytest.mark.parametrize("name", ["default", "btcusdt-tape"])
def test_stress_suite_builds_valid_distinct_scenarios(name):
    ds = dl.sample(name)
    suite = sc.stress_suite(ds)
    names = [s.name for s in suite]
    assert len(names) == len(set(names)) and 8 <= len(suite) <= 12
    for inc in sc.INCIDENTS:
        assert any(n.startswith(inc.title) for n in names), inc.title
    first, last = ds.start, ds.end
    for s in suite:
        out = sc.apply(s, ds, seed=0)
        assert isinstance(out.data, dl.Dataset)
        dl.Dataset(**{k: out.data.table(k) for k in dl.KINDS})  # validates every table again
        changed = (out.config != bt.SimConfig() or out.reorgs
                   or any(not out.data.table(k).equals(ds.table(k)) for k in dl.KINDS))
        assert changed, f"{s.name} changes nothing on {name}"
        for part in (s.expand().parts if isinstance(s, sc.Replay) else (s,)):
            start = getattr(part, "start", None) or getattr(part, "at", None)
            if isinstance(start, pd.Timestamp):
                assert first <= start <= last, part.name
    if name == "default":
        replays = {s.incident.date: s for s in suite if isinstance(s, sc.Replay)}
        assert (replays["2025-10-10"].at.hour, replays["2025-10-10"].at.minute) == (21, 35)
        assert all(r.scale == 1.0 for r in replays.values())
    else:  # six minutes: the incidents are compressed to fit
        assert all(s.scale < 1 for s in suite if isinstance(s, sc.Replay))


def test_multipliers_are_checked_with_the_field_named():
    for make, what, zero_ok in [(lambda v: sc.Slippage(v), "Slippage.multiplier", True),
                                (lambda v: sc.FundingShock(v, flip=True), "FundingShock.multiplier", True),
                                (lambda v: sc.LatencySpike("2022-11-09 14:00", "1h", multiplier=v),
                                 "LatencySpike.multiplier", False),
                                (lambda v: sc.LiquidityDrought("2022-11-09 14:00", "1h", size_factor=v),
                                 "LiquidityDrought.size_factor", False)]:
        for bad in (-1.0, float("nan"), float("inf")) + (() if zero_ok else (0.0,)):
            with pytest.raises(ValueError, match=rf"{what}: expected a finite number {'>=' if zero_ok else '>'} 0"):
                make(bad)
        assert make(2) is not None
        if zero_ok:
            make(0)
