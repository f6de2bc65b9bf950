"""OHLCV candles expanded into the synthetic four-trade path."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_loaders import DataError, validate
from data_loaders.readers.candles import (META_SYNTHETIC, candles_to_trades, infer_bar,
                                          read_candles)

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
    assert offsets == [pd.Timedelta(0), pd.Timedelta("15s"), pd.Timedelta("30s"), pd.Timedelta("45s")]


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
    assert t.column("ts")[0].as_py() == pd.Timestamp("2024-03-05 05:00", tz="UTC")


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
