"""Binance USD-M trades and bookTicker CSV readers, on the bundled real files and small
hand-written ones (headerless dumps, bad values, duplicates)."""
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_loaders import DataError
from data_loaders.readers.binance import (market_from_filename, read_binance_book_ticker,
                                          read_binance_trades, sniff)
from data_loaders.validate import META_DEDUPED, META_SORTED

DATA = Path(__file__).resolve().parents[1] / "data_loaders" / "data"
TRADES = DATA / "BTCUSDT-trades-2024-08-08-2354.csv.gz"
BOOK = DATA / "BTCUSDT-bookTicker-2024-08-08-2354.csv.gz"
HEADER = "id,price,qty,quote_qty,time,is_buyer_maker\n"


def ts(ms):
    return pd.Timestamp(ms, unit="ms", tz="UTC")


# --------------------------------------------------------------------------- the real files
def test_real_trades():
    t = read_binance_trades(TRADES)
    assert t.num_rows == 21_313
    df = t.to_pandas()
    assert df["market"].unique().tolist() == ["BTCUSDT"]  # from the file name
    first, last = df.iloc[0], df.iloc[-1]
    assert (first.ts, first.price, first["size"], first.side) == (ts(1723161256322), 61800.3, 0.006, 1)
    assert (last.ts, last.price, last["size"]) == (ts(1723161599643), 61659.8, 0.076)
    assert df["ts"].is_monotonic_increasing


def test_real_trades_side_is_the_aggressor():
    raw = pd.read_csv(TRADES)
    side = read_binance_trades(TRADES).column("side").to_numpy()
    # is_buyer_maker=true: the seller hit the resting bid, so the trade is seller-initiated
    np.testing.assert_array_equal(side, np.where(raw["is_buyer_maker"], -1, 1))
    assert raw["is_buyer_maker"].iloc[4] and side[4] == -1  # id 5266583939


def test_real_trades_market_name():
    t = read_binance_trades(TRADES, market="BTC-USD")
    assert set(t.column("market").to_pylist()) == {"BTC-USD"}


def test_real_book_ticker():
    b = read_binance_book_ticker(BOOK, market="BTC-USD")
    assert b.num_rows == 66_089
    df = b.to_pandas()
    first, last = df.iloc[0], df.iloc[-1]
    assert (first.ts, first.bid, first.bid_size, first.ask, first.ask_size) == (
        ts(1723161256313), 61800.2, 2.507, 61800.3, 2.51)
    assert (last.ts, last.bid, last.ask, last.ask_size) == (ts(1723161600709), 61659.7, 61659.8, 0.981)
    assert (df["bid"] <= df["ask"]).all()


def test_sniff_and_market_from_filename():
    assert sniff(TRADES) == "trades" and sniff(BOOK) == "bookticker"
    assert market_from_filename(TRADES) == "BTCUSDT"
    assert market_from_filename("ETHUSDT-bookTicker-2024-01-01.csv") == "ETHUSDT"
    with pytest.raises(ValueError, match="market="):
        market_from_filename("my_trades.csv")


# --------------------------------------------------------------------------- layouts
def test_headerless_trades(tmp_path):
    path = tmp_path / "ETHUSDT-trades-2020-01-01.csv"
    path.write_text("1,130.5,2.0,261.0,1577836800000,true\n2,130.6,1.0,130.6,1577836800100,false\n")
    assert sniff(path) == "trades"
    df = read_binance_trades(path).to_pandas()
    assert df["market"].tolist() == ["ETHUSDT"] * 2
    assert df["side"].tolist() == [-1, 1] and df["price"].tolist() == [130.5, 130.6]
    assert df["ts"].tolist() == [ts(1577836800000), ts(1577836800100)]


def test_headerless_book_ticker_gz(tmp_path):
    path = tmp_path / "BTCUSDT-bookTicker-2023-05-16.csv.gz"
    path.write_bytes(gzip.compress(b"10,27000.1,1.5,27000.2,0.5,1684195200000,1684195200001\n"
                                   b"11,27000.0,2.0,27000.2,0.7,1684195200005,1684195200006\n"))
    assert sniff(path) == "bookticker"
    df = read_binance_book_ticker(path).to_pandas()
    assert df["bid"].tolist() == [27000.1, 27000.0] and df["ts"].iloc[1] == ts(1684195200005)


def test_trades_gz_round_trip_of_a_slice(tmp_path):
    head = gzip.decompress(TRADES.read_bytes()).decode().splitlines()[:101]
    path = tmp_path / "BTCUSDT-trades-x.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(head) + "\n").encode()))
    assert read_binance_trades(path).equals(read_binance_trades(TRADES).slice(0, 100))


# --------------------------------------------------------------------------- errors
def test_negative_price_names_file_column_row_line(tmp_path):
    path = tmp_path / "BTCUSDT-trades-bad.csv"
    lines = [HEADER.strip()] + [f"{i},{100 + i}.5,1.0,100.5,{1700000000000 + i},false" for i in range(6)]
    lines[4] = "3,-103.5,1.0,100.5,1700000000003,false"  # data row 3, file line 5
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        read_binance_trades(path)
    e = err.value
    assert (e.column, e.row, e.line, e.value) == ("price", 3, 5, -103.5)
    assert str(path) in str(e) and "'price'" in str(e) and "row 3 (line 5)" in str(e)


def test_negative_price_line_in_headerless_file(tmp_path):
    path = tmp_path / "BTCUSDT-trades-bad.csv"
    path.write_text("1,100,1,100,1700000000000,false\n2,-1,1,1,1700000000001,false\n")
    with pytest.raises(DataError) as err:
        read_binance_trades(path)
    assert (err.value.row, err.value.line) == (1, 2)


def test_unparsable_number_and_flag(tmp_path):
    path = tmp_path / "BTCUSDT-trades-bad.csv"
    path.write_text(HEADER + "1,100,1,100,1700000000000,false\n2,100,x,100,1700000000001,false\n")
    with pytest.raises(DataError) as err:
        read_binance_trades(path)
    assert (err.value.column, err.value.row, err.value.line, err.value.value) == ("qty", 1, 3, "x")
    path.write_text(HEADER + "1,100,1,100,1700000000000,maybe\n")
    with pytest.raises(DataError, match="is_buyer_maker"):
        read_binance_trades(path)


def test_unparseable_time_is_not_a_timestamp(tmp_path):
    path = tmp_path / "BTCUSDT-trades-bad.csv"
    path.write_text(HEADER + "1,100,1,100,1700000000000,false\n2,100,1,100,yesterday,false\n")
    with pytest.raises(DataError, match="cannot be parsed as a timestamp") as err:
        read_binance_trades(path)
    assert (err.value.column, err.value.row, err.value.line, err.value.value) == ("time", 1, 3, "yesterday")


def test_missing_flag_is_not_a_buy(tmp_path):
    path = tmp_path / "BTCUSDT-trades-x.csv"
    path.write_text(HEADER + "1,100,1,100,1700000000000,\n")
    with pytest.raises(DataError, match="null value"):
        read_binance_trades(path)


def test_crossed_book_is_an_error(tmp_path):
    path = tmp_path / "BTCUSDT-bookTicker-x.csv"
    path.write_text("update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
                    "1,100,1,101,1,1700000000000,1700000000000\n2,102,1,101,1,1700000000001,1700000000001\n")
    with pytest.raises(DataError, match="crossed book") as err:
        read_binance_book_ticker(path)
    assert (err.value.row, err.value.line) == (1, 3)


def test_missing_column(tmp_path):
    path = tmp_path / "BTCUSDT-trades-x.csv"
    path.write_text("id,price,qty,time\n1,100,1,1700000000000\n")
    with pytest.raises(DataError, match="missing columns"):
        read_binance_trades(path)


def test_duplicate_ids(tmp_path):
    path = tmp_path / "BTCUSDT-trades-x.csv"
    path.write_text(HEADER + "1,100,1,100,1700000000000,false\n2,100,1,100,1700000000000,false\n"
                    "2,100,1,100,1700000000000,false\n3,101,1,101,1700000000001,true\n")
    with pytest.raises(DataError, match="duplicate") as err:
        read_binance_trades(path)
    assert (err.value.column, err.value.row, err.value.line) == ("id", 2, 4)
    t = read_binance_trades(path, drop_duplicates=True)
    assert t.num_rows == 3 and t.schema.metadata[META_DEDUPED] == b"1"


def test_identical_distinct_trades_are_kept(tmp_path):
    # same ms, price, size and side but different ids: two real trades, not a duplicate
    path = tmp_path / "BTCUSDT-trades-x.csv"
    path.write_text(HEADER + "1,100,1,100,1700000000000,false\n2,100,1,100,1700000000000,false\n")
    assert read_binance_trades(path, drop_duplicates=True).num_rows == 2


def test_error_row_after_dropping_duplicates_points_at_the_file(tmp_path):
    path = tmp_path / "BTCUSDT-trades-x.csv"
    path.write_text(HEADER + "1,100,1,100,1700000000000,false\n1,100,1,100,1700000000000,false\n"
                    "2,0,1,100,1700000000001,false\n")
    with pytest.raises(DataError) as err:
        read_binance_trades(path, drop_duplicates=True)
    assert (err.value.column, err.value.row, err.value.line) == ("price", 2, 4)


def test_unsorted_needs_sort(tmp_path):
    path = tmp_path / "BTCUSDT-trades-x.csv"
    path.write_text(HEADER + "1,100,1,100,1700000000005,false\n2,100,1,100,1700000000001,false\n")
    with pytest.raises(DataError, match="sort=True") as err:
        read_binance_trades(path)
    assert (err.value.row, err.value.line) == (1, 3)
    t = read_binance_trades(path, sort=True)
    assert t.column("ts").to_pylist() == [ts(1700000000001), ts(1700000000005)]
    assert t.schema.metadata[META_SORTED] == b"2"
