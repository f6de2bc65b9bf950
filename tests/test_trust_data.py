"""Absurd but schema-valid data is an error (or a warning), not a confident wrong answer.

Issue 12, section 2: each case below used to load and run to a "successful" result. Every
class holds the case as reported, the bound exactly (at the bound passes, just beyond fails)
and what must keep working: the bundled samples, synthetic data and the stress scenarios,
which create extreme funding and price shocks on purpose.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import data_loaders as dl
from data_loaders import DataError, Dataset, conform, load_funding, load_trades, validate

DATA = Path(__file__).resolve().parents[1] / "data_loaders" / "data"
TRADES_FILE = DATA / "BTCUSDT-trades-2024-08-08-2354.csv.gz"
SHARED = Path("/work/shared/data")
T0 = pd.Timestamp("2024-01-01", tz="UTC")
MS_2024 = 1_723_161_256_322  # a real Binance USD-M trade time, epoch milliseconds


def plausible():
    """The bounds module (imported late: the file is also run against code without it)."""
    from data_loaders import plausible as mod

    return mod


def trades_frame(n=60, price=100.0, market="BTC-USD", start=T0, step="1min"):
    ts = start + pd.to_timedelta(np.arange(n) * pd.Timedelta(step).value, unit="ns")
    return pd.DataFrame({"ts": ts, "market": market, "price": price, "size": 1.0, "side": 1})


def oracle_frame(prices, market="BTC-USD", start=T0, step="1min"):
    prices = np.asarray(prices, dtype=float)
    ts = start + pd.to_timedelta(np.arange(len(prices)) * pd.Timedelta(step).value, unit="ns")
    return pd.DataFrame({"ts": ts, "market": market, "price": prices})


def funding_frame(rates, interval="1h", market="BTC-USD", start=T0, ts=None):
    rates = np.asarray(rates, dtype=float)
    if ts is None:
        ts = start + pd.to_timedelta(np.arange(len(rates)), unit="h")
    return pd.DataFrame({"ts": ts, "market": market, "rate": rates, "interval": pd.Timedelta(interval),
                         "oracle_price": 100.0})


def write_csv(path, text):
    path.write_text(text)
    return path


# ============================================================================ timestamps
class TestTimestampWindow:
    """Timestamps lie between 2009-01-01 and a year from now; the error names the source, row,
    column and value, and says when a value looks like a unit mistake."""

    def test_millisecond_epochs_read_as_ns_are_an_error(self, tmp_path):
        f = write_csv(tmp_path / "t.csv", f"ts,market,price,size,side\n{MS_2024},X,1,1,1\n{MS_2024 + 5},X,1,1,1\n")
        with pytest.raises(DataError) as err:
            load_trades(f, ts_unit="ns")
        e = err.value
        assert (e.source, e.column, e.row, e.line, e.value) == (str(f), "ts", 0, 2, MS_2024)
        assert "ts_unit='ms'" in str(e)

    def test_millisecond_epochs_read_as_us_are_an_error(self, tmp_path):
        f = write_csv(tmp_path / "t.csv", f"ts,market,price,size,side\n{MS_2024},X,1,1,1\n")
        with pytest.raises(DataError, match=r"row 0 \(line 2\).*epoch unit mismatch.*ts_unit='ms'"):
            load_trades(f, ts_unit="us")

    def test_auto_unit_reads_the_same_times(self, tmp_path):
        f = write_csv(tmp_path / "t.csv", f"ts,market,price,size,side\n{MS_2024},X,1,1,1\n")
        g = write_csv(tmp_path / "u.csv", f"ts,market,price,size,side\n{MS_2024 * 1000},X,1,1,1\n")
        want = pd.Timestamp(MS_2024, unit="ms", tz="UTC")
        assert load_trades(f, ts_unit="auto").column("ts")[0].as_py() == want
        assert load_trades(g, ts_unit="auto").column("ts")[0].as_py() == want

    def test_implausible_epoch_in_its_own_unit_names_the_row(self, tmp_path):
        # 5 ms after the epoch is plausible in no unit: the window check names it
        f = write_csv(tmp_path / "t.csv", f"ts,market,price,size,side\n{MS_2024},X,1,1,1\n5,X,1,1,1\n")
        with pytest.raises(DataError) as err:
            load_trades(f, ts_unit="ms", sort=True)
        assert (err.value.column, err.value.row, err.value.line) == ("ts", 1, 3)
        assert "implausible timestamp" in str(err.value)

    def test_year_2300_in_iso_text_names_file_row_and_column(self, tmp_path):
        f = write_csv(tmp_path / "t.csv", "ts,market,price,size,side\n2024-01-01T00:00:00Z,X,1,1,1\n"
                                          "2300-01-01T00:00:00Z,X,1,1,1\n")
        with pytest.raises(DataError) as err:  # was pandas' OutOfBoundsDatetime, with no file or row
            load_trades(f)
        e = err.value
        assert (e.source, e.column, e.row, e.line) == (str(f), "ts", 1, 3)
        assert "2300-01-01" in str(e.value)

    def test_year_2300_in_a_dataframe_and_as_epoch_names_the_row(self, tmp_path):
        ts = pd.DatetimeIndex(["2024-01-01", "2300-01-01"]).as_unit("us").tz_localize("UTC")
        df = pd.DataFrame({"ts": ts, "market": "X", "price": 1.0, "size": 1.0, "side": 1})
        with pytest.raises(DataError) as err:
            conform(df, "trades")
        assert (err.value.column, err.value.row) == ("ts", 1)
        f = write_csv(tmp_path / "t.csv", "ts,market,price,size,side\n10413792000000,X,1,1,1\n")
        with pytest.raises(DataError) as err:
            load_trades(f, ts_unit="ms")
        assert (err.value.column, err.value.row, err.value.line) == ("ts", 0, 2)

    def test_funding_of_1970_next_to_trades_of_2024_is_an_error(self):
        funding = funding_frame([1e-4, 1e-4], start=pd.Timestamp("1970-01-01", tz="UTC"))
        with pytest.raises(DataError) as err:
            Dataset(trades=trades_frame(), funding=funding)
        assert (err.value.column, err.value.row) == ("ts", 0)
        assert "funding" in err.value.source

    def test_lower_bound_exactly_passes_one_ns_before_fails(self):
        lo, _ = plausible().time_window()
        ok = trades_frame(2, start=lo)
        validate(conform(ok, "trades"), "trades")
        with pytest.raises(DataError, match="implausible timestamp") as err:
            conform(trades_frame(2, start=lo - pd.Timedelta(1, "ns")), "trades")
        assert err.value.row == 0

    def test_upper_bound_now_plus_a_year(self):
        _, hi = plausible().time_window()
        conform(trades_frame(1, start=hi), "trades")  # the bound only moves later as time passes
        with pytest.raises(DataError, match="implausible timestamp"):
            conform(trades_frame(1, start=hi + pd.Timedelta("1min")), "trades")

    def test_bounds_are_documented_module_constants(self, monkeypatch):
        mod = plausible()
        old = trades_frame(3, start=pd.Timestamp("1999-01-01", tz="UTC"))
        with pytest.raises(DataError, match="EARLIEST_TS"):
            conform(old, "trades")
        monkeypatch.setattr(mod, "EARLIEST_TS", pd.Timestamp("1990-01-01", tz="UTC"))
        assert conform(old, "trades").num_rows == 3

    def test_the_hint_names_the_unit_mistake(self):
        df = trades_frame(1, start=pd.Timestamp(MS_2024, unit="ns", tz="UTC"))
        with pytest.raises(DataError, match="milliseconds read as ns"):
            conform(df, "trades")


# ============================================================================ Binance epoch units
def _binance_us_copy(tmp_path, rows=50):
    """The first ``rows`` trades of the real file with times in microseconds (spot since 2025)."""
    raw = pd.read_csv(TRADES_FILE).head(rows)
    raw["time"] = raw["time"] * 1000 + 7  # a microsecond part the millisecond file cannot have
    f = tmp_path / "BTCUSDT-trades-2025-08-08.csv"
    raw.to_csv(f, index=False)
    return f, raw


class TestBinanceEpochUnits:
    """Binance files in ms (USD-M) or us (spot since 2025): the unit is detected from the
    magnitude and recorded; an explicit unit the magnitudes contradict is an error."""

    def test_real_millisecond_file_read_as_us_is_an_error(self):
        # was: 21,313 trades in January 1970
        with pytest.raises(DataError) as err:
            dl.load_trades(str(TRADES_FILE), time_unit="us")
        e = err.value
        assert (e.source, e.column, e.row, e.line, e.value) == (str(TRADES_FILE), "time", 0, 2, MS_2024)
        assert "time_unit='ms'" in str(e)

    def test_unit_detected_and_recorded(self):
        t = dl.load_trades(str(TRADES_FILE), market="BTC-USD")
        assert t.schema.metadata[b"data_loaders.epoch_unit"] == b"ms"
        assert t.column("ts")[0].as_py() == pd.Timestamp(MS_2024, unit="ms", tz="UTC")

    def test_microsecond_file_detected(self, tmp_path):
        f, raw = _binance_us_copy(tmp_path)
        t = dl.load_trades(f)
        assert t.schema.metadata[b"data_loaders.epoch_unit"] == b"us"
        got = t.column("ts").to_pandas()
        assert (got == pd.to_datetime(raw["time"], unit="us", utc=True)).all()

    def test_microsecond_file_read_as_ms_is_an_error(self, tmp_path):
        f, raw = _binance_us_copy(tmp_path)
        with pytest.raises(DataError, match=r"column 'time', row 0 \(line 2\).*time_unit='us'"):
            dl.load_trades(f, time_unit="ms")

    def test_mixed_units_in_one_file_are_an_error(self, tmp_path):
        f, raw = _binance_us_copy(tmp_path, rows=5)
        raw.loc[3, "time"] = raw.loc[3, "time"] // 1000
        raw.to_csv(f, index=False)
        with pytest.raises(DataError, match="mixed epoch units") as err:
            dl.load_trades(f)
        assert (err.value.row, err.value.line) == (3, 5)

    def test_book_ticker_unit_recorded(self):
        b = dl.load_book(str(DATA / "BTCUSDT-bookTicker-2024-08-08-2354.csv.gz"), market="BTC-USD")
        assert b.schema.metadata[b"data_loaders.epoch_unit"] == b"ms"

    @pytest.mark.skipif(not (SHARED / "BTCUSDT-trades-2024-08-08-2354.csv").exists(),
                        reason="shared real data not present")
    def test_shared_real_file_detected_as_ms(self):
        t = dl.load_trades(str(SHARED / "BTCUSDT-trades-2024-08-08-2354.csv"))
        assert t.num_rows == 21_313 and t.schema.metadata[b"data_loaders.epoch_unit"] == b"ms"
        with pytest.raises(DataError, match="epoch unit mismatch"):
            dl.load_trades(str(SHARED / "BTCUSDT-trades-2024-08-08-2354.csv"), time_unit="us")


# ============================================================================ funding rows
class TestFundingDuplicates:
    """One funding row per (market, ts): a repeated row would be paid twice."""

    def test_the_same_row_twice_is_an_error(self):
        df = funding_frame([1e-4, 2e-4, 3e-4])
        df = pd.concat([df.iloc[:2], df.iloc[1:]], ignore_index=True)  # row 1 repeated as row 2
        with pytest.raises(DataError, match="duplicate funding row") as err:
            conform(df, "funding", source="f.csv")
        assert (err.value.source, err.value.column, err.value.row) == ("f.csv", "ts", 2)
        assert "row 1" in str(err.value)

    def test_same_time_other_rate_is_an_error_even_with_drop_duplicates(self):
        df = funding_frame([1e-4, 2e-4], ts=[T0, T0])
        with pytest.raises(DataError, match="duplicate funding row"):
            conform(df, "funding", drop_duplicates=True)

    def test_exact_copies_are_dropped_when_asked(self):
        df = funding_frame([1e-4, 2e-4])
        t = conform(pd.concat([df, df.iloc[1:]], ignore_index=True), "funding", drop_duplicates=True)
        assert t.num_rows == 2

    def test_same_time_in_two_markets_is_fine(self):
        a, b = funding_frame([1e-4, 1e-4]), funding_frame([2e-4, 2e-4], market="ETH-USD")
        df = pd.concat([a, b]).sort_values("ts", kind="stable").reset_index(drop=True)
        assert conform(df, "funding").num_rows == 4

    def test_duplicates_in_a_dataset(self):
        df = funding_frame([1e-4, 1e-4], ts=[T0, T0])
        with pytest.raises(DataError, match="duplicate funding row"):
            Dataset(trades=trades_frame(), funding=df)


class TestFundingRateBound:
    """|rate| <= 1 % per hour of the row's interval, unless allow_extreme=True."""

    def test_fifty_percent_per_hour_is_an_error(self, tmp_path):
        with pytest.raises(DataError) as err:
            conform(funding_frame([1e-4, 0.5, 1e-4]), "funding", source="f.csv")
        e = err.value
        assert (e.source, e.column, e.row, e.value) == ("f.csv", "rate", 1, 0.5)
        assert "allow_extreme" in str(e)
        f = tmp_path / "BTC-USDT_dydx_funding_history.csv"
        f.write_text("Symbol,Date,Funding Rate\nBTC-USDT,2024-01-01 00:00:00,0.0001\n"
                     "BTC-USDT,2024-01-01 01:00:00,-0.5\n")
        with pytest.raises(DataError) as err:
            load_funding(f, tz="UTC")
        assert (err.value.column, err.value.row, err.value.line) == ("rate", 1, 3)

    @pytest.mark.parametrize("interval,hours", [("1h", 1), ("8h", 8), ("30min", 0.5)])
    def test_bound_exactly_passes_just_beyond_fails(self, interval, hours):
        bound = plausible().MAX_FUNDING_RATE_PER_HOUR * hours
        for sign in (1, -1):
            conform(funding_frame([sign * bound], interval=interval), "funding")
            beyond = np.nextafter(sign * bound, sign * np.inf)
            with pytest.raises(DataError, match="implausible funding rate"):
                conform(funding_frame([sign * beyond], interval=interval), "funding")

    def test_allow_extreme_accepts_them_everywhere(self, tmp_path):
        df = funding_frame([1e-4, 0.5])
        t = conform(df, "funding", allow_extreme=True)
        assert validate(t, "funding", allow_extreme=True) is t
        with pytest.raises(DataError):
            validate(t, "funding")
        with pytest.raises(DataError):
            Dataset(trades=trades_frame(), funding=t)
        ds = Dataset(trades=trades_frame(), funding=t, allow_extreme=True)
        assert replace(ds, meta={"x": 1}).allow_extreme  # carried over
        f = tmp_path / "f.csv"
        df.to_csv(f, index=False)
        assert load_funding(f, format="csv", allow_extreme=True).num_rows == 2
        with pytest.raises(DataError, match="implausible funding rate"):
            load_funding(f, format="csv")
        assert load_funding(df, allow_extreme=True).num_rows == 2
        # |rate| < 1 is a schema rule, not a plausibility bound: it stays
        with pytest.raises(DataError):
            conform(funding_frame([1.5]), "funding", allow_extreme=True)

    def test_allow_extreme_survives_save_and_load(self, tmp_path):
        ds = Dataset(trades=trades_frame(), funding=funding_frame([1e-4, 0.5]), allow_extreme=True)
        back = Dataset.load(ds.save(tmp_path / "ds"))
        assert back.allow_extreme and back.funding.equals(ds.funding)

    def test_funding_shock_beyond_the_bound_still_runs(self):
        import backtester as bt
        from backtester import scenarios as sc
        from strategies import BuyAndHold

        day = dl.sample().slice("2022-11-12 06:00", "2022-11-12 12:00")  # ETH -3.4e-4 at 10:00
        shock = sc.FundingShock(100.0)  # the real rates become up to 3.4e-2 per hour: beyond 1 %
        setup = sc.apply(shock, day)
        rates = setup.data.funding.column("rate").to_numpy()
        assert np.abs(rates).max() > plausible().MAX_FUNDING_RATE_PER_HOUR
        assert setup.data.allow_extreme
        res = setup.run(BuyAndHold(leverage=2))
        base = bt.run(BuyAndHold(leverage=2), day)
        assert res.stats()["funding"] != base.stats()["funding"]


# ============================================================================ oracle vs trades
class TestOracleAgainstTrades:
    """An oracle price more than 20 % from every trade of its market near it in time is an
    error naming the first offending row (a check across tables, in Dataset)."""

    def test_oracle_100x_the_trades_is_an_error(self):
        # was: +198 % for a 2x buy-and-hold
        with pytest.raises(DataError) as err:
            Dataset(trades=trades_frame(), oracle=oracle_frame(np.full(60, 10_000.0)))
        e = err.value
        assert (e.source, e.column, e.row, e.value) == ("Dataset.oracle", "price", 0, 10_000.0)
        assert "BTC-USD" in str(e) and "allow_extreme" in str(e)

    def test_the_first_offending_row_is_named(self):
        prices = np.full(60, 100.0)
        prices[[17, 40]] = 150.0
        with pytest.raises(DataError) as err:
            Dataset(trades=trades_frame(), oracle=oracle_frame(prices))
        assert err.value.row == 17

    def test_bound_exactly_passes_just_beyond_fails(self):
        b = plausible().MAX_ORACLE_DEVIATION
        for edge in (100.0 * (1 + b), 100.0 * (1 - b)):
            prices = np.full(60, 100.0)
            prices[30] = edge
            Dataset(trades=trades_frame(), oracle=oracle_frame(prices))
            prices[30] = np.nextafter(edge, np.inf if edge > 100 else -np.inf)
            with pytest.raises(DataError, match="oracle price far from the trades") as err:
                Dataset(trades=trades_frame(), oracle=oracle_frame(prices))
            assert err.value.row == 30

    def test_compared_with_the_range_of_nearby_trades(self):
        # trades swing between 100 and 130: an oracle of 150 is within 20 % of 130
        trades = trades_frame(60)
        trades["price"] = np.where(np.arange(60) % 2 == 0, 100.0, 130.0)
        Dataset(trades=trades, oracle=oracle_frame(np.full(60, 150.0)))

    def test_rows_without_trades_near_them_are_not_compared(self):
        window = plausible().ORACLE_TRADE_WINDOW
        later = trades_frame(10, start=T0 + 5 * window)  # a trading gap of about 5 windows
        trades = pd.concat([trades_frame(10), later], ignore_index=True)
        Dataset(trades=trades, oracle=oracle_frame([10_000.0], start=T0 + 2.5 * window))
        other = oracle_frame(np.full(10, 10_000.0), market="ETH-USD")  # a market without trades
        Dataset(trades=trades_frame(10), oracle=other)

    def test_only_the_same_market_counts(self):
        trades = pd.concat([trades_frame(30), trades_frame(30, price=2_000.0, market="ETH-USD")])
        trades = trades.sort_values("ts", kind="stable").reset_index(drop=True)
        oracle = oracle_frame(np.full(30, 2_000.0))  # ETH's price stamped as BTC's oracle
        with pytest.raises(DataError, match="BTC-USD"):
            Dataset(trades=trades, oracle=oracle)

    def test_allow_extreme_skips_it(self):
        ds = Dataset(trades=trades_frame(), oracle=oracle_frame(np.full(60, 10_000.0)), allow_extreme=True)
        assert ds.oracle.num_rows == 60

    def test_a_stale_oracle_within_the_window_passes(self):
        # prices double over two hours; an oracle an hour late still matches trades near it
        trades = trades_frame(240, step="1min")
        trades["price"] = 100.0 * 2 ** (np.arange(240) / 120)
        late = oracle_frame(trades["price"].to_numpy(), start=T0 + plausible().ORACLE_TRADE_WINDOW)
        Dataset(trades=trades, oracle=late)

    def test_checked_once_per_pair_of_tables(self, monkeypatch):
        import data_loaders.dataset as dataset_mod

        mod = plausible()
        calls = []
        real = mod.oracle_outlier
        monkeypatch.setattr(mod, "oracle_outlier", lambda t, o: calls.append(1) or real(t, o))
        ds = Dataset(trades=trades_frame(), oracle=oracle_frame(np.full(60, 100.0)))
        replace(ds, meta={"a": 1})
        replace(ds, latency=None)
        assert len(calls) == 1
        replace(ds, oracle=ds.oracle.slice(0, 30))  # a new oracle table: checked again
        assert len(calls) == 2
        assert dataset_mod._ORACLE_OK  # remembered while the tables live


# ============================================================================ time overlap
class TestDisjointTables:
    """A table whose time range does not meet the trades' warns DisjointTablesWarning."""

    def test_funding_of_another_year_warns(self):
        funding = funding_frame([1e-4, 1e-4], start=pd.Timestamp("2020-01-01", tz="UTC"))
        with pytest.warns(plausible().DisjointTablesWarning, match="Dataset.funding"):
            Dataset(trades=trades_frame(), funding=funding)
        assert issubclass(dl.DisjointTablesWarning, UserWarning)

    def test_oracle_after_the_last_trade_warns(self):
        oracle = oracle_frame([100.0], start=T0 + pd.Timedelta("2D"))
        with pytest.warns(dl.DisjointTablesWarning, match="Dataset.oracle"):
            Dataset(trades=trades_frame(), oracle=oracle)

    def test_slack_exactly_passes_just_beyond_warns(self):
        last = T0 + pd.Timedelta("59min")
        edge = last + plausible().OVERLAP_SLACK
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Dataset(trades=trades_frame(), funding=funding_frame([1e-4], start=edge))
        with pytest.warns(dl.DisjointTablesWarning, match="Dataset.funding"):
            Dataset(trades=trades_frame(), funding=funding_frame([1e-4], start=edge + pd.Timedelta(1, "ns")))
        before = T0 - plausible().OVERLAP_SLACK - pd.Timedelta(1, "ns")
        with pytest.warns(dl.DisjointTablesWarning, match="Dataset.book"):
            book = pd.DataFrame({"ts": [before], "market": "BTC-USD", "bid": 99.0, "bid_size": 1.0,
                                 "ask": 101.0, "ask_size": 1.0})
            Dataset(trades=trades_frame(), book=book)

    def test_a_latency_trace_stamped_before_the_trades_does_not_warn(self):
        # its one row holds before and after it: the trace is in force for every trade
        trace = pd.DataFrame({"ts": [T0 - pd.Timedelta("30D")], "venue": "dydx",
                              "order_latency": pd.Timedelta("100ms"), "ack_latency": pd.Timedelta("100ms"),
                              "finality": pd.Timedelta("1s")})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Dataset(trades=trades_frame(), latency=trace)

    def test_touching_and_overlapping_tables_do_not_warn(self):
        last = T0 + pd.Timedelta("59min")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Dataset(trades=trades_frame(), funding=funding_frame([1e-4], start=last),
                    oracle=oracle_frame([100.0], start=last))
            Dataset(funding=funding_frame([1e-4]))  # nothing to compare with


# ============================================================================ what must keep working
@pytest.fixture(scope="module")
def samples():
    return {"default": dl.sample(), "btcusdt-tape": dl.sample("btcusdt-tape")}


class TestBundledDataStillLoads:
    """The samples, synthetic data and every stress scenario pass the new checks, without
    warnings, with the checks on (allow_extreme only where a scenario shocks on purpose)."""

    @pytest.mark.parametrize("name", ["default", "btcusdt-tape"])
    def test_samples_rebuilt_pass_every_check(self, samples, name):
        ds = samples[name]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # fresh copies of the tables: no memo, every check runs
            fresh = {k: pa.table(ds.table(k).columns, schema=ds.table(k).schema) for k in dl.KINDS}
            again = Dataset(**fresh, markets=ds.markets, meta=ds.meta)
        assert not again.allow_extreme

    def test_synthetic_passes(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = dl.synthetic(days=2, markets=["BTC-USD", "ETH-USD"], seed=7)
        assert ds.trades.num_rows and ds.oracle.num_rows and ds.funding.num_rows

    @pytest.mark.parametrize("name", ["default", "btcusdt-tape"])
    def test_every_stress_scenario_applies_without_error_or_warning(self, samples, name):
        from backtester import scenarios as sc

        data = samples[name]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for scenario in sc.stress_suite(data):
                setup = sc.apply(scenario, data, seed=0)
                assert setup.data.allow_extreme == isinstance(scenario, (sc.FundingShock, sc.PriceShock))

    def test_long_gap_price_shock_and_long_oracle_delay_apply(self, samples):
        from backtester import scenarios as sc

        data = samples["default"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sc.apply(sc.PriceShock("2022-11-09 00:00", -0.5, gap="3h"), data)
            delayed = sc.apply(sc.OracleDelay("1h"), data)  # checked, not exempted
        assert not delayed.data.allow_extreme
