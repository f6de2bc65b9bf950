"""Readers of order-book data into ``book_levels``: Tardis incremental_book_L2 and
book_snapshot_N CSV, the dYdX v4 order-book response, partitioned Parquet folders.

The real samples live in /work/shared/data (format references, not shipped): those tests skip
when it is absent. Error cases use small hand-written files."""
import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import data_loaders as dl
from data_loaders import DataError, load_book_levels
from data_loaders.book import book_at
from data_loaders.loaders import detect_format
from data_loaders.readers import tardis
from data_loaders.readers.dydx import read_dydx_orderbook
from data_loaders.readers.tardis import read_tardis_book_snapshot, read_tardis_incremental_l2

SHARED = Path("/work/shared/data")
L2_SAMPLE = SHARED / "tardis_format_samples" / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
SNAPSHOT_SAMPLE = SHARED / "tardis_format_samples" / "binance-futures_book_snapshot_5_BTCUSDT.csv"
DYDX_SAMPLE = SHARED / "dydx_v4_indexer_samples" / "http_get_orderbook.json"
#: the hand-written files are Deribit BTC-PERPETUAL rows, whose sizes warn (tests of that catch it)
pytestmark = pytest.mark.filterwarnings("ignore::data_loaders.UnitsWarning")
needs_shared = pytest.mark.skipif(not L2_SAMPLE.exists(), reason="/work/shared/data is absent")

HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
T_US = 1585699200245000


def l2_file(tmp_path, lines, name="l2.csv"):
    path = tmp_path / name
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


def row(t, snap, side, price, amount, symbol="BTC-PERPETUAL", local=None):
    return f"deribit,{symbol},{T_US + t},{T_US + t + 100 if local is None else local},{snap},{side},{price},{amount}"


GOOD = [row(0, "true", "bid", 100, 5), row(0, "true", "ask", 101, 6),
        row(10, "false", "bid", 100.5, 1), row(20, "false", "ask", 101, 0), row(20, "false", "ask", 102, 3)]


# --------------------------------------------------------------------------- real samples
@needs_shared
def test_deribit_incremental_sample():
    t = load_book_levels(L2_SAMPLE)  # detected from the header
    assert detect_format(L2_SAMPLE) == "tardis-l2"
    df = t.to_pandas()
    assert len(df) == 16 and df.is_snapshot.all() and set(df.market) == {"BTC-PERPETUAL"}
    # the snapshot holds asks only: Tardis resets the whole book, so the bids are emptied by one size-0 row
    assert (df.side.iloc[0], df["size"].iloc[0]) == (1, 0.0) and (df.side.iloc[1:] == -1).all()
    assert df.ts.iloc[0] == pd.Timestamp(1585699200245000, unit="us", tz="UTC")
    bids, asks = book_at(t, "BTC-PERPETUAL", df.ts.iloc[0], depth=3)
    assert bids.empty and asks.price.tolist() == [6421.5, 6422.0, 6422.5] and asks["size"].iloc[0] == 18640
    local = read_tardis_incremental_l2(L2_SAMPLE, time="local")
    assert local.column("ts")[0].value == 1585699200355684000
    assert local.schema.metadata[b"data_loaders.tardis_time"] == b"local"


@needs_shared
def test_binance_book_snapshot_sample_rebuilds_each_row():
    t = load_book_levels(SNAPSHOT_SAMPLE, market="BTC-USD")
    assert detect_format(SNAPSHOT_SAMPLE) == "tardis-snapshot"
    raw = pd.read_csv(SNAPSHOT_SAMPLE)
    assert t.num_rows == len(raw) * 10
    for _, r in raw.iterrows():
        at = pd.Timestamp(int(r.timestamp), unit="us", tz="UTC")
        bids, asks = book_at(t, "BTC-USD", at, depth=5)
        assert bids.price.tolist() == [r[f"bids[{i}].price"] for i in range(5)]
        assert asks["size"].tolist() == [r[f"asks[{i}].amount"] for i in range(5)]


@needs_shared
def test_dydx_orderbook_sample():
    t = load_book_levels(DYDX_SAMPLE, market="BTC-USD", ts="2025-12-08T16:12:00Z")
    df = t.to_pandas()
    raw = json.loads(DYDX_SAMPLE.read_text())["result"]
    assert len(df) == len(raw["bids"]) + len(raw["asks"])
    assert df.price.tolist() == [float(x["price"]) for x in raw["bids"] + raw["asks"]]
    assert (df.ts == pd.Timestamp("2025-12-08T16:12:00Z")).all() and df.is_snapshot.all()


# --------------------------------------------------------------------------- incremental L2
def test_incremental_rows_and_market_names(tmp_path):
    path = l2_file(tmp_path, GOOD)
    t = read_tardis_incremental_l2(path, market="BTC-USD")
    assert t.column("side").to_pylist() == [1, -1, 1, -1, -1]
    assert set(t.column("market").to_pylist()) == {"BTC-USD"}
    assert read_tardis_incremental_l2(path).column("market")[0].as_py() == "BTC-PERPETUAL"
    bids, asks = book_at(t, "BTC-USD", pd.Timestamp(T_US + 20, unit="us", tz="UTC"))
    assert bids.price.tolist() == [100.5, 100.0] and asks.price.tolist() == [102.0]


def test_mid_file_snapshot_resets_the_book_and_is_grouped_by_side(tmp_path):
    lines = GOOD + [row(30, "true", "ask", 99, 1), row(30, "true", "bid", 98, 2), row(30, "true", "ask", 99.5, 1)]
    t = read_tardis_incremental_l2(l2_file(tmp_path, lines), market="X")
    tail = t.to_pandas().iloc[5:]
    assert list(zip(tail.side, tail.price)) == [(1, 98.0), (-1, 99.0), (-1, 99.5)]  # bids first, asks together
    bids, asks = book_at(t, "X", pd.Timestamp(T_US + 30, unit="us", tz="UTC"), depth=None)
    assert bids.price.tolist() == [98.0] and asks.price.tolist() == [99.0, 99.5]  # old levels gone


def test_several_symbols_need_a_mapping(tmp_path):
    path = l2_file(tmp_path, GOOD + [row(40, "true", "bid", 10, 1, symbol="ETH-PERPETUAL"),
                                     row(40, "true", "ask", 11, 1, symbol="ETH-PERPETUAL")])
    with pytest.raises(DataError, match="holds the symbols .*BTC-PERPETUAL.*ETH-PERPETUAL"):
        read_tardis_incremental_l2(path, market="BTC-USD")
    t = read_tardis_incremental_l2(path, market={"ETH-PERPETUAL": "ETH-USD"})
    assert t.num_rows == 2 and set(t.column("market").to_pylist()) == {"ETH-USD"}
    with pytest.raises(DataError, match="no rows of the symbols \\['SOL'\\]"):
        read_tardis_incremental_l2(path, market={"SOL": "SOL-USD"})


def test_time_choice_and_its_check(tmp_path):
    # exchange time steps back at row 2 while the receipt time does not
    lines = [row(0, "true", "bid", 100, 5, local=T_US + 500), row(0, "true", "ask", 101, 6, local=T_US + 500),
             row(-5, "false", "bid", 99, 1, local=T_US + 600)]
    path = l2_file(tmp_path, lines)
    with pytest.raises(DataError, match="row 2 \\(line 4\\).*non-decreasing.*sort=True"):
        read_tardis_incremental_l2(path)
    assert read_tardis_incremental_l2(path, time="local").num_rows == 3
    assert read_tardis_incremental_l2(path, sort=True).column("price").to_pylist()[0] == 99.0
    with pytest.raises(ValueError, match="time must be 'exchange'"):
        read_tardis_incremental_l2(path, time="receipt")


@pytest.mark.parametrize("bad, column, value", [
    (row(10, "false", "bid", "10x0", 1), "price", "10x0"),
    (row(10, "false", "bid", 100, "lots"), "amount", "lots"),
    (row(10, "maybe", "bid", 100, 1), "is_snapshot", "maybe"),
    (row(10, "false", "buy", 100, 1), "side", "buy"),
    (row(10, "false", "bid", -100, 1), "price", -100.0),
    (row(10, "false", "bid", 100, -1), "size", -1.0),
])
def test_bad_values_name_file_row_line_column_and_value(tmp_path, bad, column, value):
    path = l2_file(tmp_path, GOOD[:2] + [bad])
    with pytest.raises(DataError) as err:
        read_tardis_incremental_l2(path)
    e = err.value
    assert (e.source, e.row, e.line, e.column, e.value) == (str(path), 2, 4, column, value)


def test_crossed_book_is_an_error_naming_the_row(tmp_path):
    path = l2_file(tmp_path, GOOD[:2] + [row(10, "false", "bid", 101.5, 1)])
    with pytest.raises(DataError, match="crossed book") as err:
        read_tardis_incremental_l2(path)
    assert (err.value.source, err.value.row, err.value.line, err.value.column) == (str(path), 2, 4, "price")


def test_missing_column_and_empty_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price\n")
    with pytest.raises(DataError, match="missing columns \\['amount'\\]"):
        read_tardis_incremental_l2(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_tardis_incremental_l2(empty)


def test_gzip_and_small_blocks_read_the_same(tmp_path, monkeypatch):
    lines = GOOD + [row(30 + i, "false", "bid" if i % 2 else "ask", 100 - (i % 7) * 0.5 if i % 2 else
                        101 + (i % 5), i % 4) for i in range(2000)]
    plain = l2_file(tmp_path, lines)
    packed = tmp_path / "l2.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    whole = read_tardis_incremental_l2(plain)
    monkeypatch.setattr(tardis, "BLOCK_BYTES", 4096)  # many blocks
    assert read_tardis_incremental_l2(packed).equals(whole)
    bad = l2_file(tmp_path, lines[:1500] + [row(5000, "false", "bid", "oops", 1)], name="bad.csv")
    with pytest.raises(DataError) as err:
        read_tardis_incremental_l2(bad)
    assert (err.value.row, err.value.line, err.value.value) == (1500, 1502, "oops")


# --------------------------------------------------------------------------- book_snapshot_N
SNAP_HEADER = ("exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,"
               "asks[1].price,asks[1].amount,bids[1].price,bids[1].amount\n")


def snap_file(tmp_path, lines):
    path = tmp_path / "snap.csv"
    path.write_text(SNAP_HEADER + "".join(line + "\n" for line in lines))
    return path


def test_snapshot_rows_become_bid_then_ask_groups(tmp_path):
    path = snap_file(tmp_path, [f"b,BTCUSDT,{T_US},{T_US + 9},101,1,100,2,102,3,99,4",
                                f"b,BTCUSDT,{T_US + 5},{T_US + 9},101,1,100,2,,,,"])
    table = read_tardis_book_snapshot(path, market="BTC-USD")
    t = table.to_pandas()
    assert list(zip(t.side, t.price)) == [(1, 100), (1, 99), (-1, 101), (-1, 102), (1, 100), (-1, 101)]
    assert t.is_snapshot.all()
    bids, asks = book_at(table, "BTC-USD", pd.Timestamp(T_US + 5, unit="us", tz="UTC"), depth=None)
    assert bids.price.tolist() == [100.0] and asks.price.tolist() == [101.0]  # the shallower row replaced both


def test_snapshot_side_without_levels_is_emptied(tmp_path):
    path = snap_file(tmp_path, [f"b,BTCUSDT,{T_US},{T_US},101,1,100,2,,,,", f"b,BTCUSDT,{T_US + 1},{T_US + 1},101,1,,,,,,"])
    t = read_tardis_book_snapshot(path, market="X")
    bids, asks = book_at(t, "X", pd.Timestamp(T_US + 1, unit="us", tz="UTC"))
    assert bids.empty and asks.price.tolist() == [101.0]


@pytest.mark.parametrize("line, column, message", [
    (f"b,BTCUSDT,{T_US},{T_US},101,1,100,x,,,,", "bids[0].amount", "a number"),
    (f"b,BTCUSDT,{T_US},{T_US},101,1,100,,,,,", "bids[0].amount", "or neither"),
    (f"b,BTCUSDT,{T_US},{T_US},,,,,,,,", "bids[0].price", "empty book"),
    (f"b,BTCUSDT,{T_US},{T_US},100,1,101,2,,,,", "price", "crossed book"),
])
def test_snapshot_errors_name_row_and_column(tmp_path, line, column, message):
    path = snap_file(tmp_path, [f"b,BTCUSDT,{T_US - 1},{T_US},101,1,100,2,,,,", line])
    with pytest.raises(DataError, match=message) as err:
        read_tardis_book_snapshot(path)
    assert (err.value.source, err.value.column, err.value.line) == (str(path), column, 3)


def test_snapshot_header_without_all_level_columns(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price\n")
    with pytest.raises(DataError, match="missing columns \\['bids\\[0\\].amount'\\]"):
        read_tardis_book_snapshot(path)


# --------------------------------------------------------------------------- dYdX
BOOK = {"bids": [{"price": "100", "size": "1"}, {"price": "99", "size": "2"}],
        "asks": [{"price": "101", "size": "3"}]}


def test_dydx_orderbook_needs_market_and_ts():
    with pytest.raises(ValueError, match="pass ts="):
        read_dydx_orderbook(BOOK, "BTC-USD", None)
    with pytest.raises(ValueError, match="pass market="):
        load_book_levels(BOOK, ts="2025-01-01")
    t = read_dydx_orderbook({"result": BOOK}, "BTC-USD", "2025-01-01 00:00")
    assert t.column("ts")[0].value == pd.Timestamp("2025-01-01", tz="UTC").value


@pytest.mark.parametrize("book, source, column, row", [
    ({**BOOK, "asks": [{"price": "101", "size": "-3"}]}, "dYdX indexer JSON (asks)", "size", 0),
    ({**BOOK, "bids": [{"price": "100", "size": "1"}, {"price": "x", "size": "2"}]}, "dYdX indexer JSON (bids)",
     "price", 1),
    ({**BOOK, "asks": [{"price": "102", "size": "1"}, {"price": "99.5", "size": "1"}]}, "dYdX indexer JSON (asks)",
     "price", 1),
])
def test_dydx_orderbook_errors_name_list_and_index(book, source, column, row):
    with pytest.raises(DataError) as err:
        read_dydx_orderbook(book, "BTC-USD", "2025-01-01")
    assert (err.value.source, err.value.column, err.value.row) == (source, column, row)


def test_dydx_orderbook_with_an_empty_side_and_an_empty_book():
    t = read_dydx_orderbook({"bids": [], "asks": BOOK["asks"]}, "X", "2025-01-01")
    bids, asks = book_at(t, "X", "2025-01-01")
    assert bids.empty and asks.price.tolist() == [101.0]
    with pytest.raises(DataError, match="empty order book"):
        read_dydx_orderbook({"bids": [], "asks": []}, "X", "2025-01-01")
    with pytest.raises(DataError, match="lists 'bids' and 'asks'"):
        read_dydx_orderbook({"trades": []}, "X", "2025-01-01")


# --------------------------------------------------------------------------- Parquet folders
def test_parquet_folder_is_read_as_a_dataset_with_the_range_pushed_down(tmp_path):
    t = read_tardis_incremental_l2(l2_file(tmp_path, GOOD), market="BTC-USD")
    for i, part in enumerate((t.slice(0, 2), t.slice(2, 3))):
        folder = tmp_path / "levels" / f"part={i}"
        folder.mkdir(parents=True)
        pq.write_table(part, folder / "data.parquet")
    whole = load_book_levels(tmp_path / "levels", format="parquet")
    assert whole.num_rows == 5 and whole.column("price").to_pylist() == t.column("price").to_pylist()
    later = load_book_levels(tmp_path / "levels", format="parquet", start=pd.Timestamp(T_US + 10, unit="us"))
    assert later.num_rows == 3
    trades = load_book_levels(tmp_path / "levels", format="parquet", market="BTC-USD")
    assert trades.num_rows == 5
    # every kind: a folder of trades too
    tr = dl.sample("btcusdt-tape").trades.slice(0, 100)
    (tmp_path / "tr").mkdir()
    pq.write_table(tr, tmp_path / "tr" / "a.parquet")
    assert dl.load_trades(tmp_path / "tr", format="parquet").num_rows == 100


def test_canonical_csv_of_book_levels(tmp_path):
    path = tmp_path / "levels.csv"
    text = ("ts,market,side,price,size,is_snapshot\n2024-01-01T00:00:00Z,BTC-USD,1,100,1,true\n"
            "2024-01-01T00:00:00Z,BTC-USD,-1,101,1,true\n2024-01-01T00:00:01Z,BTC-USD,-1,100.5,1,false\n")
    path.write_text(text)
    assert np.array_equal(load_book_levels(path, end="2024-01-01T00:00:01Z").column("side").to_numpy(), [1, -1])
    path.write_text(text.replace("100.5", "99"))
    with pytest.raises(DataError, match="column 'price', row 2 \\(line 4\\): crossed book"):
        load_book_levels(path)


# --------------------------------------------------------------------------- units of Tardis sizes
def test_deribit_inverse_sizes_warn_unless_a_unit_is_given(tmp_path):
    path = l2_file(tmp_path, [row(0, "true", "bid", 6421.0, 500), row(0, "true", "ask", 6421.5, 18640)])
    with pytest.warns(dl.UnitsWarning, match=r"deribit:BTC-PERPETUAL are USD contracts.*size_unit='quote'"):
        as_is = load_book_levels(path, market="BTC-USD")
    assert as_is.column("size").to_pylist() == [500.0, 18640.0]
    assert as_is.schema.metadata[b"data_loaders.size_unit"] == b"venue"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quote = load_book_levels(path, market="BTC-USD", size_unit="quote")
        base = read_tardis_incremental_l2(path, size_unit="base")
    assert quote.column("size").to_pylist() == pytest.approx([500 / 6421.0, 18640 / 6421.5])  # per row
    assert quote.schema.metadata[b"data_loaders.size_unit"] == b"quote"
    assert base.column("size").to_pylist() == [500.0, 18640.0]
    with pytest.raises(ValueError, match="size_unit must be 'base'.*got 'usd'"):
        read_tardis_incremental_l2(path, size_unit="usd")


def test_only_contracts_counted_in_usd_warn(tmp_path):
    linear = l2_file(tmp_path, [row(0, "true", "bid", 100, 5, symbol="BTC_USDC-PERPETUAL"),
                                row(0, "true", "ask", 101, 6, symbol="BTC_USDC-PERPETUAL")], "linear.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_tardis_incremental_l2(linear)
    assert tardis.quote_sized(pa.chunked_array([["deribit", "deribit", "binance-futures"]]),
                              pa.chunked_array([["ETH-PERPETUAL", "BTC-27DEC24", "BTCUSDT"]])) == [
        "deribit:BTC-27DEC24", "deribit:ETH-PERPETUAL"]


def test_snapshot_reader_converts_each_level_by_its_own_price(tmp_path):
    path = tmp_path / "snap.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,asks[1].price,"
                    "asks[1].amount,bids[0].price,bids[0].amount,bids[1].price,bids[1].amount\n"
                    f"deribit,ETH-PERPETUAL,{T_US},{T_US},200.5,1000,201,2010,200,400,,\n")
    with pytest.warns(dl.UnitsWarning, match="ETH-PERPETUAL"):
        read_tardis_book_snapshot(path)
    t = read_tardis_book_snapshot(path, size_unit="quote").to_pandas()
    assert t.price.tolist() == [200.0, 200.5, 201.0]
    assert t["size"].tolist() == pytest.approx([2.0, 1000 / 200.5, 10.0])


# --------------------------------------------------------------------------- a Tardis header with a column missing
def test_misnamed_tardis_column_is_named_not_read_as_canonical_csv(tmp_path):
    path = tmp_path / "l2.csv"
    path.write_text(HEADER.replace("amount", "qty") + row(0, "true", "ask", 6421.5, 18640) + "\n")
    assert detect_format(path) == "tardis-l2"
    with pytest.raises(DataError, match=r"missing columns \['amount'\] of a Tardis incremental_book_L2 "
                                        r"file .*the header has \['qty'\] instead"):
        load_book_levels(path)


def test_kinds_are_detected_from_the_content():
    from data_loaders.loaders import detect_kind

    assert detect_kind(DYDX_BOOK) == "book_levels"
    assert detect_kind({"result": {"trades": []}}) == "trades"


# --------------------------------------------------------------------------- dYdX order book: the fetch time
DYDX_BOOK = {"requestId": "r", "status": "success", "isoTimestamp": "2025-12-08T16:12:00.000Z",
             "result": {"bids": [{"price": "89947", "size": "0.1"}], "asks": [{"price": "89958", "size": "0.2"}]}}


def test_dydx_orderbook_takes_its_fetch_time_from_the_wrapper(tmp_path):
    path = tmp_path / "ob.json"
    path.write_text(json.dumps(DYDX_BOOK))
    t = load_book_levels(path, market="BTC-USD")
    assert set(t.column("ts").to_pylist()) == {pd.Timestamp("2025-12-08T16:12:00Z")}
    given = read_dydx_orderbook(path, "BTC-USD", ts="2025-12-08T16:13:00Z")  # an explicit ts wins
    assert set(given.column("ts").to_pylist()) == {pd.Timestamp("2025-12-08T16:13:00Z")}
    with pytest.raises(ValueError, match="no 'isoTimestamp'.*pass ts="):
        read_dydx_orderbook(DYDX_BOOK["result"], "BTC-USD")


def test_cli_validates_book_files_without_hints_in_their_names(tmp_path, capsys):
    from backtester.cli import main

    book = tmp_path / "orderbook.json"
    book.write_text(json.dumps(DYDX_BOOK))
    assert main(["data", "validate", str(book), "--kind", "book_levels", "--market", "BTC-USD"]) == 0
    assert main(["data", "validate", str(book), "--market", "BTC-USD", "--ts", "2025-12-08T16:13:00Z"]) == 0
    bare = tmp_path / "ob2.json"
    bare.write_text(json.dumps(DYDX_BOOK["result"]))
    assert main(["data", "validate", str(bare), "--market", "BTC-USD"]) == 2
    assert "--ts" in capsys.readouterr().err
    assert main(["data", "validate", str(bare), "--market", "BTC-USD", "--ts", "2025-12-08T16:13:00Z"]) == 0
    tardis_file = l2_file(tmp_path, GOOD, "deribit_2020-04-01.csv")  # no "book" in the name
    assert main(["data", "validate", str(tardis_file)]) == 0
    assert "valid book_levels table" in capsys.readouterr().out
    assert main(["data", "validate", str(tardis_file), "--ts", "2020-04-01"]) == 2
    assert "--ts 2020-04-01: does not apply to tardis-l2 files" in capsys.readouterr().err
    assert main(["data", "validate", str(tardis_file), "--size-unit", "quote"]) == 0
    assert "UnitsWarning" not in capsys.readouterr().err


# --------------------------------------------------------------------------- crossed books: the prices in full
def test_crossed_snapshot_names_the_crossing_price_in_full(tmp_path):
    path = tmp_path / "snap.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,"
                    "bids[0].amount,asks[1].price,asks[1].amount,bids[1].price,bids[1].amount\n"
                    f"binance-futures,BTCUSDT,{T_US},{T_US},11657.07,1.714,11657.08,10.896,11657.54,5.4,11656.97,0.2\n")
    with pytest.raises(DataError, match="crossed book") as err:
        read_tardis_book_snapshot(path)
    text = str(err.value)
    assert "best bid 11657.08 >= best ask 11657.07" in text and "11657.1" not in text
    assert (err.value.value, err.value.line) == (11657.07, 2)  # the best ask, not the deeper 11657.54


def test_dydx_crossed_book_prints_prices_in_full():
    book = {"bids": [{"price": "11657.08", "size": "1"}], "asks": [{"price": "11657.07", "size": "1"}]}
    with pytest.raises(DataError, match=r"best bid 11657.08\)"):
        read_dydx_orderbook(book, "BTC-USD", "2025-01-01")
