"""``load_*``: format detection and dispatch, market selection / naming, time ranges."""
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from data_loaders import DataError, conform
from data_loaders.loaders import (FORMATS, detect_format, load_book, load_funding, load_latency,
                                  load_oracle, load_trades)
from data_loaders.readers.candles import META_SYNTHETIC

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data_loaders" / "data"
TRADES = DATA / "BTCUSDT-trades-2024-08-08-2354.csv.gz"
BOOK = DATA / "BTCUSDT-bookTicker-2024-08-08-2354.csv.gz"
DYDX_FUNDING = DATA / "BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz"
BINANCE_FUNDING = ROOT / "tests" / "data" / "funding" / "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv.gz"
DYDX_JSON = ROOT / "tests" / "data" / "dydx"


def utc(s):
    return pd.Timestamp(s, tz="UTC")


def oracle_frame():
    return pd.DataFrame({"ts": pd.to_datetime(["2022-11-07 00:00", "2022-11-07 01:00", "2022-11-07 02:00",
                                               "2022-11-07 03:00"], utc=True),
                         "market": ["BTC-USD", "ETH-USD", "BTC-USD", "ETH-USD"],
                         "price": [20000.0, 1500.0, 20100.0, 1510.0]})


# --------------------------------------------------------------------------- detection
def test_detect_format(tmp_path):
    assert detect_format(TRADES) == "binance"
    assert detect_format(BOOK) == "binance-bookticker"
    assert detect_format(DYDX_FUNDING) == "funding-csv"
    assert detect_format(DYDX_JSON / "trades.json") == "dydx"
    assert detect_format({"result": {}}) == "dydx" and detect_format([{}]) == "dydx"
    assert detect_format(oracle_frame()) == "frame"
    assert detect_format(tmp_path) == "dataset"
    for name, fmt in [("a.csv", "csv"), ("a.parquet", "parquet"), ("a.feather", "feather"),
                      ("a.arrow", "feather"), ("a.ipc", "feather")]:
        (tmp_path / name).write_text("ts,market,price\n")
        assert detect_format(tmp_path / name) == fmt


def test_unknown_format_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError) as err:
        load_trades(TRADES, format="excel")
    for fmt in FORMATS:
        assert fmt in str(err.value)
    (tmp_path / "a.xlsx").write_text("")
    with pytest.raises(ValueError, match="binance-bookticker"):
        load_trades(tmp_path / "a.xlsx")


def test_format_of_the_wrong_kind():
    with pytest.raises(ValueError, match="book can be loaded from"):
        load_book(TRADES, format="binance")
    with pytest.raises(ValueError, match="does not hold funding"):
        load_funding(TRADES)  # detected as Binance trades


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load_trades(ROOT / "nope.csv")


# --------------------------------------------------------------------------- real files
def test_binance_trades_detected_and_named():
    t = load_trades(TRADES, market="BTC-USD")
    assert t.num_rows == 21_313 and set(t.column("market").to_pylist()) == {"BTC-USD"}
    assert t.column("price")[0].as_py() == 61800.3 and t.column("side")[0].as_py() == 1
    assert load_trades(TRADES, format="binance").column("market")[0].as_py() == "BTCUSDT"


def test_binance_book_detected():
    b = load_book(BOOK, market="BTC-USD")
    assert b.num_rows == 66_089 and b.column("ask")[0].as_py() == 61800.3


def test_binance_time_range_after_reading():
    t = load_trades(TRADES, market="BTC-USD", start="2024-08-08 23:55", end="2024-08-08 23:56")
    ts = t.column("ts").to_pandas()
    assert t.num_rows > 0 and ts.min() >= utc("2024-08-08 23:55") and ts.max() < utc("2024-08-08 23:56")
    raw = pd.read_csv(TRADES)
    assert t.num_rows == int(raw["time"].between(1723161300000, 1723161359999).sum())


def test_funding_csv_as_the_sample_uses_it():
    f = load_funding(str(DYDX_FUNDING), format="funding-csv", tz="UTC", interval="1h", market="BTC-USD",
                     start="2022-11-08", end="2022-11-09")
    assert f.num_rows == 24 and set(f.column("market").to_pylist()) == {"BTC-USD"}


def test_funding_csv_detected_with_utc_offset():
    f = load_funding(BINANCE_FUNDING, utc_offset=3, interval="8h", market="BTC-USD")
    assert f.num_rows == 4_383 and f.column("ts")[0].as_py() == utc("2020-01-01")
    with pytest.raises(ValueError, match="utc_offset"):
        load_funding(BINANCE_FUNDING, interval="8h")


# --------------------------------------------------------------------------- dYdX
def test_dydx_trades_fills_funding_oracle():
    t = load_trades(DYDX_JSON / "trades.json", market="BTC-USD")
    assert t.num_rows == 3
    fills = load_trades(DYDX_JSON / "fills.json", market="ETH-USD")
    assert fills.column("price").to_pylist() == [3399.0, 3401.5]
    f = load_funding(DYDX_JSON / "historical_funding.json")
    assert f.column("oracle_price").to_pylist() == [3410.0, 3398.5, 3405.25]
    o = load_oracle(DYDX_JSON / "historical_funding.json", format="dydx")
    assert o.column("price").to_pylist() == [3410.0, 3398.5, 3405.25]
    parsed = json.loads((DYDX_JSON / "historical_funding.json").read_text())
    assert load_oracle(parsed, start="2024-03-05 02:00").num_rows == 2


def test_dydx_pages_and_duplicates():
    pages = json.loads((DYDX_JSON / "trades_pages.json").read_text())
    with pytest.raises(DataError, match="drop_duplicates=True"):
        load_trades(pages, market="BTC-USD")
    assert load_trades(pages, market="BTC-USD", drop_duplicates=True).num_rows == 5


def test_candles_must_be_asked_for():
    with pytest.raises(ValueError, match="format='candles'"):
        load_trades(DYDX_JSON / "candles.json")
    t = load_trades(DYDX_JSON / "candles.json", format="candles")
    assert t.num_rows == 12 and t.schema.metadata[META_SYNTHETIC] == b"ohlcv"


def test_dydx_candles_are_left_labelled():
    t = load_trades(DYDX_JSON / "candles.json", format="candles", label="left")
    assert t.column("ts")[0].as_py() == utc("2024-03-05") + pd.Timedelta(1, "ns")
    with pytest.raises(ValueError, match="startedAt"):
        load_trades(DYDX_JSON / "candles.json", format="candles", label="right")
    with pytest.raises(ValueError, match="'left'.*'right'"):
        load_trades(DYDX_JSON / "candles.json", format="candles", label="start")


def test_candles_label_through_load_trades(tmp_path):
    bars = pd.DataFrame({"ts": pd.date_range("2024-01-01 01:00", periods=3, freq="1h", tz="UTC"),
                         "open": [10.0, 11, 12], "high": [11.0, 12, 13], "low": [9.0, 10, 11],
                         "close": [11.0, 12, 11.5], "volume": [4.0, 4, 4]})
    bars.to_csv(tmp_path / "bars.csv", index=False)
    left = load_trades(tmp_path / "bars.csv", format="candles", market="X")
    right = load_trades(tmp_path / "bars.csv", format="candles", market="X", label="right")
    assert right.column("ts")[0].as_py() == utc("2024-01-01 00:00") + pd.Timedelta(1, "ns")
    shift = left.column("ts").to_pandas() - right.column("ts").to_pandas()
    assert (shift == pd.Timedelta("1h")).all()
    assert load_trades(bars, format="candles", market="X", label="right").equals(right)


def test_candles_from_a_frame_and_a_file(tmp_path):
    bars = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC"),
                         "open": [10.0, 11, 12], "high": [11.0, 12, 13], "low": [9.0, 10, 11],
                         "close": [11.0, 12, 11.5], "volume": [4.0, 4, 4]})
    with pytest.raises(ValueError, match="market="):
        load_trades(bars, format="candles")
    t = load_trades(bars, format="candles", market="X", start="2024-01-01 01:00")
    assert t.num_rows == 8 and t.schema.metadata[META_SYNTHETIC] == b"ohlcv"
    bars.to_csv(tmp_path / "bars.csv", index=False)
    u = load_trades(tmp_path / "bars.csv", format="candles", market="X", bar="1h")
    assert u.num_rows == 12


# --------------------------------------------------------------------------- canonical sources
def test_in_memory_frame_and_table():
    frame = oracle_frame()
    o = load_oracle(frame)
    assert o.num_rows == 4
    assert load_oracle(pa.Table.from_pandas(frame), market="ETH-USD").column("price").to_pylist() == [1500.0, 1510.0]
    with pytest.raises(DataError, match="the source has"):
        load_oracle(frame, market="SOL-USD")
    with pytest.raises(ValueError, match="needs no format"):
        load_oracle(frame, format="csv")


def test_in_memory_naive_needs_tz():
    frame = oracle_frame()
    frame["ts"] = frame["ts"].dt.tz_localize(None)
    with pytest.raises(DataError, match="timezone-naive"):
        load_oracle(frame)
    assert load_oracle(frame, tz="UTC").num_rows == 4


@pytest.mark.parametrize("suffix, write", [(".parquet", pq.write_table), (".feather", feather.write_feather)])
def test_binary_files_select_market_and_range(tmp_path, suffix, write):
    table = conform(oracle_frame(), "oracle")
    write(table, tmp_path / f"o{suffix}")
    o = load_oracle(tmp_path / f"o{suffix}", market="BTC-USD", end="2022-11-07 02:00")
    assert o.column("price").to_pylist() == [20000.0]


def test_canonical_csv_kwargs_and_unsorted(tmp_path):
    path = tmp_path / "lat.csv"
    path.write_text("ts,venue,order_latency,ack_latency,finality\n"
                    "1667779260000,dydx,250ms,100ms,1s\n1667779200000,dydx,300ms,100ms,1s\n"
                    "1667779200000,arb,1s,1s,20min\n")
    with pytest.raises(DataError, match="sort=True"):
        load_latency(path, ts_unit="ms")
    lat = load_latency(path, ts_unit="ms", venue="dydx", sort=True)
    assert lat.column("order_latency").to_pylist() == [pd.Timedelta("300ms"), pd.Timedelta("250ms")]


def test_dataset_pushdown_through_load(tmp_path):
    frame = pd.DataFrame({"ts": pd.date_range("2022-11-07", periods=96, freq="1h", tz="UTC"),
                          "market": "BTC-USD", "price": range(1, 97)})
    frame["date"] = frame["ts"].dt.strftime("%Y-%m-%d")
    for day, part in frame.groupby("date"):
        (tmp_path / f"date={day}").mkdir()
        pq.write_table(conform(part, "oracle"), tmp_path / f"date={day}" / "part-0.parquet")
    (tmp_path / "date=2022-11-10" / "part-0.parquet").write_bytes(b"corrupt")  # outside the range
    o = load_oracle(tmp_path, start="2022-11-08 12:00", end="2022-11-10", market="BTC-USD")
    assert o.column("price").to_pylist() == list(range(37, 73))


def test_reader_kwargs_for_frames_are_rejected():
    with pytest.raises(TypeError, match="ts_unit"):
        load_oracle(oracle_frame(), ts_unit="ms")


def test_in_memory_local_time_in_a_dst_fold_names_the_row():
    # 02:30 on 2022-10-30 happened twice in Berlin (clocks went back from 03:00 to 02:00)
    frame = pd.DataFrame({"ts": pd.to_datetime(["2022-10-30 01:30", "2022-10-30 02:30"]),
                          "market": "A", "price": [1.0, 2.0]})
    with pytest.raises(DataError, match="DST") as err:
        load_oracle(frame, tz="Europe/Berlin")
    assert (err.value.source, err.value.column, err.value.row) == ("DataFrame", "ts", 1)
