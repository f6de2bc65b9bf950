"""OHLCV candles expanded into the synthetic four-trade path."""
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_loaders import DataError, validate
from data_loaders.loaders import load_trades
from data_loaders.readers.candles import (CANDLE_COLUMNS, META_BAR, META_SYNTHETIC, OPEN_OFFSET_NS,
                                          candles_to_trades, infer_bar, read_candles)

T0 = pd.Timestamp("2024-03-05", tz="UTC")


def bars(rows, step="1min", start=T0):
    o, h, lo, c, v = zip(*rows)
    ts = pd.date_range(start, periods=len(rows), freq=step)
    return pd.DataFrame({"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": v})


def test_up_bar_visits_low_then_high():
    t = candles_to_trades(bars([(100, 110, 95, 105, 8)]), "BTC-USD", bar="1min").to_pandas()
    assert t["price"].tolist() == [100, 95, 110, 105]
    assert t["side"].tolist() == [1, -1, 1, -1]
    assert t["size"].tolist() == [2.0] * 4
    offsets = (t["ts"] - T0).tolist()
    assert offsets == [pd.Timedelta(1, "ns"), pd.Timedelta("15s"), pd.Timedelta("30s"), pd.Timedelta("45s")]


def test_down_bar_visits_high_then_low():
    t = candles_to_trades(bars([(100, 104, 90, 92, 1)]), "X", bar="1min").to_pandas()
    assert t["price"].tolist() == [100, 104, 90, 92]
    assert t["side"].tolist() == [-1, 1, -1, 1]


def test_flat_moves_take_the_bar_direction():
    t = candles_to_trades(bars([(100, 100, 100, 100, 4)]), "X", bar="1h").to_pandas()
    assert t["side"].tolist() == [1, 1, 1, 1]  # close >= open: an up bar
    t = candles_to_trades(bars([(100, 100, 99, 99, 4)]), "X", bar="1h").to_pandas()
    assert t["price"].tolist() == [100, 100, 99, 99] and t["side"].tolist() == [-1, -1, -1, -1]


def test_bar_inferred_from_spacing_and_metadata():
    frame = bars([(1, 2, 1, 2, 1)] * 4, step="5min").drop(index=2)  # a gap does not matter
    assert infer_bar(frame["ts"]) == pd.Timedelta("5min")
    t = candles_to_trades(frame, "X")
    assert t.schema.metadata[META_SYNTHETIC] == b"ohlcv"
    assert t.schema.metadata[b"data_loaders.synthetic_bar"] == b"0 days 00:05:00"
    assert (t.column("ts").to_pandas().iloc[1] - T0) == pd.Timedelta("75s")
    validate(t, "trades")


def test_single_bar_needs_bar():
    with pytest.raises(ValueError, match="bar="):
        candles_to_trades(bars([(1, 2, 1, 2, 1)]), "X")


def test_zero_volume_bars_have_no_trades():
    t = candles_to_trades(bars([(1, 2, 1, 2, 1), (2, 2, 2, 2, 0), (2, 3, 2, 3, 2)]), "X", bar="1min")
    assert t.num_rows == 8


@pytest.mark.parametrize("row, column", [((100, 99, 95, 98, 1), "high"), ((100, 110, 101, 105, 1), "low"),
                                         ((100, 110, 95, 105, -1), "volume"), ((0, 1, 0, 1, 1), "open")])
def test_inconsistent_bar_is_an_error(row, column):
    with pytest.raises(DataError) as err:
        candles_to_trades(bars([(1, 2, 1, 2, 1), row]), "X", bar="1min", source="bars.csv")
    assert (err.value.column, err.value.row) == (column, 1)
    assert "bars.csv" in str(err.value)


def test_overlapping_bars_are_an_error():
    frame = bars([(1, 2, 1, 2, 1)] * 3, step="30s")
    with pytest.raises(DataError, match="at least one bar") as err:
        candles_to_trades(frame, "X", bar="1min")
    assert err.value.row == 1


def test_naive_timestamps_need_tz():
    frame = bars([(1, 2, 1, 2, 1)] * 2)
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    with pytest.raises(DataError, match="timezone-naive"):
        candles_to_trades(frame, "X")
    t = candles_to_trades(frame, "X", tz="America/New_York")
    assert t.column("ts")[0].as_py() == pd.Timestamp("2024-03-05 05:00", tz="UTC") + pd.Timedelta(1, "ns")


def test_accepts_arrow_and_ts_index():
    frame = bars([(1, 2, 1, 2, 1)] * 3)
    expected = candles_to_trades(frame, "X")
    assert candles_to_trades(pa.Table.from_pandas(frame), "X").equals(expected)
    assert candles_to_trades(frame.set_index("ts"), "X").equals(expected)


def test_read_candles_csv(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("ts,open,high,low,close,volume\n1709596800000,10,11,9,10.5,4\n1709596860000,10.5,12,10,11,2\n")
    frame = read_candles(path, ts_unit="ms")
    assert frame["ts"].tolist() == [T0, T0 + pd.Timedelta("1min")]
    assert candles_to_trades(frame, "X").num_rows == 8


candle = st.tuples(st.floats(1, 1e5), st.floats(1, 1e5), st.floats(1e-3, 1e3), st.floats(0, 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(candle, min_size=1, max_size=30))
def test_path_properties(raw):
    rows = []
    for a, b, vol, w in raw:
        lo, hi = min(a, b), max(a, b)
        rows.append((a, hi, lo, min(hi, lo + w * (hi - lo)), vol))
    frame = bars(rows)
    t = candles_to_trades(frame, "X", bar="1min").to_pandas()
    p = t["price"].to_numpy().reshape(-1, 4)
    np.testing.assert_array_equal(p[:, 0], frame["open"])
    np.testing.assert_allclose(p[:, 3], frame["close"])
    np.testing.assert_array_equal(p.max(axis=1), frame["high"])
    np.testing.assert_array_equal(p.min(axis=1), frame["low"])
    np.testing.assert_allclose(t["size"].to_numpy().reshape(-1, 4).sum(axis=1), frame["volume"])
    assert t["ts"].is_monotonic_increasing
    moves = np.diff(t["price"].to_numpy().reshape(-1, 4), axis=1)
    s = t["side"].to_numpy().reshape(-1, 4)[:, 1:]
    assert ((moves == 0) | (np.sign(moves) == s)).all()


# --------------------------------------------------------------------------- path times
def test_open_is_one_nanosecond_after_the_bar_start():
    # a decision at the bar boundary t1 sees bars closed by t1 but not the open of the bar
    # starting at t1; a zero-latency order sent at t1 fills at that open
    assert OPEN_OFFSET_NS == 1
    frame = bars([(100, 110, 95, 105, 8), (105, 106, 90, 91, 4)], step="1h")
    t = candles_to_trades(frame, "X", bar="1h").to_pandas()
    starts = [T0, T0 + pd.Timedelta("1h")]
    assert not t["ts"].isin(starts).any()
    assert t["ts"].tolist() == [s + pd.Timedelta(q) for s in starts
                                for q in (pd.Timedelta(1, "ns"), "15min", "30min", "45min")]
    assert (t["ts"] <= starts[1]).sum() == 4  # what a decision at the boundary may see: bar 0
    first_after = t[t["ts"] > starts[1]].iloc[0]
    assert first_after["price"] == 105 and first_after["ts"] == starts[1] + pd.Timedelta(1, "ns")


def test_label_right_shifts_by_exactly_one_bar():
    frame = bars([(100, 110, 95, 105, 8), (105, 106, 90, 91, 4), (91, 93, 90, 92, 1)], step="4h")
    left = candles_to_trades(frame, "X", bar="4h", label="left")
    right = candles_to_trades(frame, "X", bar="4h", label="right")
    shift = (left.column("ts").to_pandas() - right.column("ts").to_pandas()).unique().tolist()
    assert shift == [pd.Timedelta("4h")]
    assert left.drop_columns(["ts"]).equals(right.drop_columns(["ts"]))
    # bars stamped at their end, read with label="right", are the left-stamped bars
    ends = frame.assign(ts=frame["ts"] + pd.Timedelta("4h"))
    assert candles_to_trades(ends, "X", label="right").equals(candles_to_trades(frame, "X"))
    assert candles_to_trades(frame, "X").equals(left)  # left is the default


@pytest.mark.parametrize("label", ["center", "Right", None, 1])
def test_invalid_label(label):
    frame = bars([(1, 2, 1, 2, 1)] * 2)
    if label is None:  # None means the default
        candles_to_trades(frame, "X", label=label)
        return
    with pytest.raises(ValueError, match="'left'.*'right'"):
        candles_to_trades(frame, "X", label=label)
    with pytest.raises(ValueError, match="'left'.*'right'"):
        load_trades(frame, format="candles", market="X", label=label)


def test_bar_shorter_than_the_path_is_rejected():
    with pytest.raises(ValueError, match="bar"):
        candles_to_trades(bars([(1, 2, 1, 2, 1)]), "X", bar=pd.Timedelta(4, "ns"))


# --------------------------------------------------------------------------- calendar bars
def monthly(n=24, start="2023-01-01"):
    rng = np.random.default_rng(3)
    close = 20000 * np.exp(np.cumsum(rng.normal(0, 0.1, n)))
    open_ = np.r_[20000, close[:-1]]
    return pd.DataFrame({"ts": pd.date_range(start, periods=n, freq="MS", tz="UTC"), "open": open_,
                         "high": np.maximum(open_, close) * 1.05, "low": np.minimum(open_, close) * 0.95,
                         "close": close, "volume": rng.uniform(1e4, 1e5, n)})


def bar_lengths(trades, starts):
    """Bar length of each bar, from the close's offset (3L/4) after the bar start."""
    close = trades.column("ts").to_pandas().iloc[3::4].reset_index(drop=True)
    return (close - pd.Series(starts).reset_index(drop=True)) * 4 / 3


def days(trades, starts):
    return bar_lengths(trades, starts).dt.round("1D").dt.days.tolist()


def test_monthly_file_loads_with_calendar_lengths(tmp_path):
    frame = monthly()
    path = tmp_path / "btc_1M.csv"
    frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
    t = load_trades(path, format="candles", market="BTC-USD")  # no bar=: month starts are detected
    assert t.schema.metadata[META_BAR] == b"MS"
    lengths = days(t, frame["ts"])
    assert lengths == [pd.Timestamp(s).days_in_month for s in frame["ts"]]
    assert lengths[1] == 28 and lengths[13] == 29 and lengths[-1] == 31  # Feb 2023, Feb 2024, Dec 2024
    ts = t.column("ts").to_pandas()
    assert ts.iloc[0] == frame["ts"].iloc[0] + pd.Timedelta(1, "ns")
    assert ts.iloc[7] == pd.Timestamp("2023-02-22", tz="UTC")  # Feb 2023: 3/4 of 28 days
    assert ts.iloc[4 * 13 + 3] == pd.Timestamp("2024-02-22 18:00", tz="UTC")  # 3/4 of 29 days
    validate(t, "trades")


@pytest.mark.parametrize("bar", ["MS", "1MS", "M", "1M", "ME", pd.offsets.MonthBegin(1)])
def test_monthly_bar_given(bar):
    frame = monthly(6)
    t = candles_to_trades(frame, "X", bar=bar)
    assert t.equals(candles_to_trades(frame, "X"))
    assert t.schema.metadata[META_BAR] == b"MS"


def test_monthly_label_right_starts_one_month_earlier():
    frame = monthly(13, start="2023-02-01")  # stamped at the end: Jan 2023 .. Jan 2024
    t = candles_to_trades(frame, "X", label="right")
    starts = frame["ts"] - pd.DateOffset(months=1)
    assert t.column("ts").to_pandas().iloc[::4].tolist() == (starts + pd.Timedelta(1, "ns")).tolist()
    assert t.equals(candles_to_trades(frame.assign(ts=starts), "X"))


def test_monthly_gap_keeps_a_month_and_overlap_is_an_error():
    frame = monthly(4).drop(index=2)  # Jan, Feb, Apr: March is missing
    t = candles_to_trades(frame, "X")
    assert days(t, frame["ts"]) == [31, 28, 30]
    late = monthly(3)
    late.loc[2, "ts"] = pd.Timestamp("2023-02-15", tz="UTC")  # inside February's bar
    with pytest.raises(DataError, match="at least one bar") as err:
        candles_to_trades(late, "X", bar="MS")
    assert (err.value.column, err.value.row) == ("ts", 2)


def test_quarterly_and_yearly_bars():
    q = monthly(8).iloc[::3].reset_index(drop=True)  # Jan, Apr, Jul
    assert infer_bar(q["ts"]) == pd.offsets.MonthBegin(3)
    t = candles_to_trades(q, "X")
    assert t.schema.metadata[META_BAR] == b"3MS"
    assert days(t, q["ts"]) == [90, 91, 92]
    assert candles_to_trades(q, "X", bar="QS").equals(t)


def test_weekly_bars_are_fixed_length():
    frame = bars([(1, 2, 1, 2, 1)] * 5, step="7D", start=pd.Timestamp("2024-01-01", tz="UTC"))  # Mondays
    assert infer_bar(frame["ts"]) == pd.Timedelta("7D")
    t = candles_to_trades(frame, "X")
    assert t.schema.metadata[META_BAR] == b"7 days 00:00:00"
    assert (bar_lengths(t, frame["ts"]) == pd.Timedelta("7D")).all()
    assert candles_to_trades(frame, "X", bar="1W").equals(t)


def test_infer_bar_on_month_starts():
    starts = pd.date_range("2023-01-01", periods=24, freq="MS", tz="UTC")
    assert infer_bar(starts) == pd.offsets.MonthBegin(1)
    assert infer_bar(starts[::12]) == pd.offsets.MonthBegin(12)
    assert infer_bar(starts[[0, 1]]) == pd.offsets.MonthBegin(1)  # two bars 31 days apart
    # not all month starts: the most common spacing, as before
    assert infer_bar(starts + pd.Timedelta("1h")) == pd.Timedelta("31D")


def test_invalid_bar_names_the_forms():
    with pytest.raises(ValueError, match="MS"):
        candles_to_trades(bars([(1, 2, 1, 2, 1)] * 2), "X", bar="fortnightly")


# --------------------------------------------------------------------------- files and loaders
def test_read_candles_records_the_label(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("ts,open,high,low,close,volume\n1709596860000,10,11,9,10.5,4\n1709596920000,10.5,12,10,11,2\n")
    right = read_candles(path, ts_unit="ms", label="right")
    assert right.attrs["label"] == "right"
    t = candles_to_trades(right, "X")
    assert t.column("ts")[0].as_py() == T0 + pd.Timedelta(1, "ns")
    with pytest.raises(ValueError, match="label"):
        candles_to_trades(right, "X", label="left")  # contradicts how it was read
    u = load_trades(path, format="candles", market="X", ts_unit="ms", label="right")
    assert u.equals(t)
    with pytest.raises(ValueError, match="'left'.*'right'"):
        read_candles(path, ts_unit="ms", label="end")


def test_unparseable_candle_time_in_a_frame():
    frame = bars([(1, 2, 1, 2, 1)] * 2)
    frame["ts"] = ["2024-03-05T00:00:00Z", "yesterday"]
    with pytest.raises(DataError, match="cannot be parsed as a timestamp") as err:
        candles_to_trades(frame, "X")
    assert (err.value.column, err.value.row) == ("ts", 1)


# --------------------------------------------------------------------------- bar files
DATA = Path(__file__).resolve().parent / "data"
DAILY = DATA / "candles" / "BTCUSD-1d-2023-generated.csv"
TAPE = Path(__file__).resolve().parents[1] / "data_loaders" / "data" / "BTCUSDT-trades-2024-08-08-2354.csv.gz"


def test_daily_bar_file():
    raw = pd.read_csv(DAILY)
    assert len(raw) == 365 and list(raw.columns) == list(CANDLE_COLUMNS)
    t = load_trades(DAILY, format="candles", market="BTC-USD")
    validate(t, "trades")
    assert t.num_rows == 4 * 365 and t.schema.metadata[META_BAR] == b"1 days 00:00:00"
    ts, price = t.column("ts").to_pandas(), t.column("price").to_numpy()
    day = pd.Timestamp("2023-01-01", tz="UTC")
    assert ts.iloc[0] == day + pd.Timedelta(1, "ns") and ts.iloc[3] == day + pd.Timedelta("18h")
    np.testing.assert_array_equal(price[::4], raw["open"])
    np.testing.assert_array_equal(price[3::4], raw["close"])
    # a daily decision at midnight sees the bars closed by then; the next trade is the day's open
    decision = pd.Timestamp("2023-07-01", tz="UTC")
    seen = ts <= decision
    assert price[seen.to_numpy()][-1] == raw.loc[raw["ts"] == "2023-06-30T00:00:00Z", "close"].item()
    assert price[int(seen.sum())] == raw.loc[raw["ts"] == "2023-07-01T00:00:00Z", "open"].item()
    right = load_trades(DAILY, format="candles", market="BTC-USD", label="right")
    assert ((ts - right.column("ts").to_pandas()) == pd.Timedelta("1D")).all()


def test_real_minute_bars_from_the_binance_tape():
    """1-minute bars of the real bundled tape, made by pandas in both labels, replay the tape's OHLCV."""
    tape = load_trades(TAPE, market="BTC-USD").to_pandas().set_index("ts")
    agg = {"open": ("price", "first"), "high": ("price", "max"), "low": ("price", "min"),
           "close": ("price", "last"), "volume": ("size", "sum")}
    left = tape.resample("1min", label="left", closed="left").agg(**agg).reset_index()
    right = tape.resample("1min", label="right", closed="left").agg(**agg).reset_index()
    assert len(left) == 6 and left["ts"].iloc[0] == pd.Timestamp("2024-08-08 23:54", tz="UTC")
    t = candles_to_trades(left, "BTC-USD", label="left")
    assert t.equals(candles_to_trades(right, "BTC-USD", label="right"))
    p = t.column("price").to_numpy().reshape(-1, 4)
    np.testing.assert_array_equal(p.max(axis=1), left["high"])
    np.testing.assert_array_equal(p.min(axis=1), left["low"])
    np.testing.assert_allclose(t.column("size").to_numpy().sum(), tape["size"].sum())
    # every synthetic trade lies inside the minute whose tape it summarizes
    minute = t.column("ts").to_pandas().dt.floor("1min").to_numpy().reshape(-1, 4)
    assert (minute == left["ts"].to_numpy()[:, None]).all()
