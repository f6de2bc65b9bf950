"""dYdX v4 indexer JSON readers.

Two sources: our own small fixtures in ``tests/data/dydx`` (invented values, same format), so
the readers are tested on a clean checkout, and the real indexer responses kept in the shared
folder next to the repository (LGPL test data of another project: read from there, never
copied in), skipped when that folder is absent.
"""
import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from data_loaders import DataError, validate
from data_loaders.readers.candles import META_SYNTHETIC
from data_loaders.readers.dydx import (payload_keys, read_dydx_candle_trades, read_dydx_candles,
                                       read_dydx_fills, read_dydx_funding, read_dydx_oracle,
                                       read_dydx_trades, read_pages)
from data_loaders.validate import META_DEDUPED, META_SORTED

FIXTURES = Path(__file__).resolve().parent / "data" / "dydx"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dydx_v4_indexer_samples"


def utc(s):
    return pd.Timestamp(s, tz="UTC")


def load(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def shared():
    if not SHARED.is_dir():
        pytest.skip("shared dYdX indexer samples not present")
    return SHARED


# --------------------------------------------------------------------------- trades
def test_trades_reversed_into_time_order():
    t = read_dydx_trades(FIXTURES / "trades.json", market="BTC-USD")
    df = t.to_pandas()
    # the file lists newest first; equal timestamps keep the reversed (oldest first) order
    assert df["price"].tolist() == [62009.0, 62011.0, 62010.5]
    assert df["size"].tolist() == [0.004, 1.5, 0.25]
    assert df["side"].tolist() == [1, 1, -1]
    assert df["ts"].tolist() == [utc("2024-03-05 12:00:02"), utc("2024-03-05 12:00:02"),
                                 utc("2024-03-05 12:00:03.250")]
    assert df["market"].unique().tolist() == ["BTC-USD"]
    validate(t, "trades")


def test_trades_accept_path_dict_raw_payload_and_pages():
    wrapped = load("trades.json")
    expected = read_dydx_trades(FIXTURES / "trades.json", market="X")
    assert read_dydx_trades(wrapped, market="X").equals(expected)
    assert read_dydx_trades(wrapped["result"], market="X").equals(expected)  # raw payload
    assert read_dydx_trades([wrapped], market="X").equals(expected)
    assert read_dydx_trades(str(FIXTURES / "trades.json"), market="X").equals(expected)


def test_trades_need_market():
    with pytest.raises(ValueError, match="market="):
        read_dydx_trades(FIXTURES / "trades.json", market=None)


def test_multi_page_with_repeated_boundary_row():
    path = FIXTURES / "trades_pages.json"
    with pytest.raises(DataError, match="duplicate") as err:
        read_dydx_trades(path, market="BTC-USD")
    # page 1 is older, so it comes first; page 0's last item repeats page 1's first
    assert "page 0" in str(err.value) and err.value.row == 2 and err.value.column == "id"
    t = read_dydx_trades(path, market="BTC-USD", drop_duplicates=True)
    assert t.schema.metadata[META_DEDUPED] == b"1"
    assert t.column("price").to_pylist() == [62011.0, 62010.5, 62015.0, 62018.0, 62020.0]
    assert t.column("ts").to_pandas().is_monotonic_increasing


def test_pages_in_either_order_give_the_same_table():
    pages = load("trades_pages.json")
    a = read_dydx_trades(pages, market="X", drop_duplicates=True)
    b = read_dydx_trades(pages[::-1], market="X", drop_duplicates=True)
    assert a.column("price").equals(b.column("price"))


def test_page_not_newest_first_is_an_error_unless_sort():
    page = load("trades.json")
    page["result"]["trades"].reverse()  # now oldest first: not the indexer's order
    with pytest.raises(DataError, match="sort=True") as err:
        read_dydx_trades(page, market="X")
    assert err.value.column == "ts"
    t = read_dydx_trades(page, market="X", sort=True)
    assert t.column("ts").to_pandas().is_monotonic_increasing
    assert int(t.schema.metadata[META_SORTED]) > 0


def test_bad_values_name_page_item_and_field():
    pages = load("trades_pages.json")
    pages[1]["trades"][2]["price"] = "sixty-two thousand"
    with pytest.raises(DataError) as err:
        read_dydx_trades(pages, market="X", drop_duplicates=True)
    e = err.value
    assert (e.column, e.row, e.value) == ("price", 2, "sixty-two thousand")
    assert "page 1" in str(e)
    pages = load("trades_pages.json")
    pages[0]["trades"][1]["size"] = "-0.2"
    with pytest.raises(DataError) as err:
        read_dydx_trades(pages, market="X", drop_duplicates=True)
    assert (err.value.column, err.value.row) == ("size", 1) and "page 0" in str(err.value)
    page = load("trades.json")
    page["result"]["trades"][0]["side"] = "LONG"
    with pytest.raises(DataError, match="BUY or SELL"):
        read_dydx_trades(page, market="X")


def test_unparseable_time_names_page_item_and_field():
    pages = load("trades_pages.json")
    pages[1]["trades"][1]["createdAt"] = "yesterday"
    with pytest.raises(DataError, match="cannot be parsed as a timestamp") as err:
        read_dydx_trades(pages, market="X", drop_duplicates=True)
    e = err.value
    assert (e.column, e.row, e.value) == ("createdAt", 1, "yesterday")
    assert "page 1" in str(e) and "mixed" not in str(e)


def test_missing_payload_key():
    with pytest.raises(DataError, match="'trades'"):
        read_dydx_trades(load("fills.json"), market="X")
    assert payload_keys(FIXTURES / "fills.json") == {"fills"}
    name, pages = read_pages(load("trades_pages.json"), "trades")
    assert [len(p) for p in pages] == [3, 3]


# --------------------------------------------------------------------------- funding and oracle
def test_funding():
    f = read_dydx_funding(FIXTURES / "historical_funding.json")
    df = f.to_pandas()
    assert df["ts"].tolist() == [utc("2024-03-05 01:00:00.120"), utc("2024-03-05 02:00:00.733"),
                                 utc("2024-03-05 03:00:00.401")]
    assert df["rate"].tolist() == [0.00001, 0.0000081, -0.0000125]  # already 1-hour rates
    assert df["oracle_price"].tolist() == [3410.0, 3398.5, 3405.25]
    assert (df["interval"] == pd.Timedelta("1h")).all()
    assert df["market"].unique().tolist() == ["ETH-USD"]
    validate(f, "funding")


def test_oracle_from_funding_rows():
    o = read_dydx_oracle(FIXTURES / "historical_funding.json")
    assert o.column_names == ["ts", "market", "price"]
    assert o.column("price").to_pylist() == [3410.0, 3398.5, 3405.25]
    f = read_dydx_funding(FIXTURES / "historical_funding.json")
    assert o.column("ts").equals(f.column("ts"))


def test_funding_market_selects():
    assert read_dydx_funding(FIXTURES / "historical_funding.json", "ETH-USD").num_rows == 3
    with pytest.raises(DataError, match="ETH-USD"):
        read_dydx_funding(FIXTURES / "historical_funding.json", "BTC-USD")


def test_funding_duplicate_hours_across_pages():
    page = load("historical_funding.json")
    older = copy.deepcopy(page)
    older["result"]["historicalFunding"] = older["result"]["historicalFunding"][2:]
    with pytest.raises(DataError, match="duplicate"):
        read_dydx_funding([page, older])
    assert read_dydx_funding([page, older], drop_duplicates=True).num_rows == 3


# --------------------------------------------------------------------------- candles
def test_candles_frame():
    c = read_dydx_candles(FIXTURES / "candles.json")
    assert list(c.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert c["ts"].tolist() == [utc("2024-03-05 00:00"), utc("2024-03-05 00:05"), utc("2024-03-05 00:10")]
    assert c["open"].tolist() == [3400.0, 3395.0, 3402.0] and c["volume"].tolist() == [2.4, 4.0, 8.0]
    assert c.attrs == {"market": "ETH-USD", "bar": pd.Timedelta("5min"), "label": "left"}


def test_candle_trades():
    t = read_dydx_candle_trades(FIXTURES / "candles.json")
    assert t.schema.metadata[META_SYNTHETIC] == b"ohlcv"
    df = t.to_pandas()
    assert len(df) == 12 and df["market"].unique().tolist() == ["ETH-USD"]
    # first bar 3400 -> 3395 is a down bar: open, high, low, close at 1 ns, 75, 150, 225 s after
    # startedAt, which is the bar start (label="left")
    assert df["price"].tolist()[:4] == [3400.0, 3401.0, 3390.0, 3395.0]
    assert (df["ts"].iloc[:4] - utc("2024-03-05")).tolist() == [pd.Timedelta(1, "ns")] + [
        pd.Timedelta(s, "s") for s in (75, 150, 225)]
    assert df["size"].iloc[:4].tolist() == [0.6] * 4


def test_candles_of_several_tickers():
    page = load("candles.json")
    page["result"]["candles"][0]["ticker"] = "BTC-USD"
    with pytest.raises(DataError, match="several tickers"):
        read_dydx_candles(page)
    assert len(read_dydx_candles(page, market="ETH-USD")) == 2


# --------------------------------------------------------------------------- fills
def test_fills_table_and_frame():
    t = read_dydx_fills(FIXTURES / "fills.json")
    validate(t, "trades")
    assert t.column("market").to_pylist() == ["ETH-USD", "BTC-USD", "ETH-USD"]
    assert t.column("side").to_pylist() == [1, 1, -1]  # the account's side
    f = read_dydx_fills(FIXTURES / "fills.json", as_frame=True)
    assert f["fee"].tolist() == [2.124375, 0.31, -0.170075]  # negative: maker rebate
    assert f["liquidity"].tolist() == ["TAKER", "TAKER", "MAKER"]
    assert f["order_id"].iloc[2] == "a0000002-0000-4000-8000-000000000002"
    assert f["fill_id"].iloc[0] == "f0000001-0000-4000-8000-000000000001"


def test_fills_market_selects():
    f = read_dydx_fills(FIXTURES / "fills.json", "ETH-USD", as_frame=True)
    assert f["price"].tolist() == [3399.0, 3401.5] and f["fee"].tolist() == [2.124375, -0.170075]


# --------------------------------------------------------------------------- real indexer responses
def test_real_trades(shared):
    t = read_dydx_trades(shared / "http_get_trades.json", market="BTC-USD").to_pandas()
    assert len(t) == 3
    assert t["price"].tolist() == [89969.0, 89970.0, 89942.0]
    assert t["ts"].iloc[-1] == utc("2025-12-08 16:11:30.590") and (t["side"] == 1).all()


def test_real_funding_and_oracle(shared):
    f = read_dydx_funding(shared / "http_get_historical_funding.json").to_pandas()
    assert f["ts"].tolist() == [utc("2025-12-08 14:00:00.112"), utc("2025-12-08 15:00:00.586"),
                                utc("2025-12-08 16:00:00.219")]
    assert f["rate"].iloc[-1] == 0.000002375 and f["oracle_price"].iloc[-1] == 89993.8
    o = read_dydx_oracle(shared / "http_get_historical_funding.json")
    assert o.column("price").to_pylist()[0] == 91459.59191


def test_real_candles(shared):
    c = read_dydx_candles(shared / "http_get_candles.json")
    assert c["open"].tolist() == [90002.0, 90043.0, 89934.0] and c.attrs["bar"] == pd.Timedelta("1min")
    t = read_dydx_candle_trades(shared / "http_get_candles.json")
    assert t.num_rows == 12 and t.column("price")[0].as_py() == 90002.0


def test_real_fills(shared):
    f = read_dydx_fills(shared / "http_get_fills.json", as_frame=True)
    assert f["side"].tolist() == [-1, -1, 1] and f["price"].tolist() == [104746.0, 104746.0, 105117.0]
    assert f["ts"].iloc[-1] == utc("2025-11-12 11:19:52.470") and (f["liquidity"] == "TAKER").all()


def test_empty_pages():
    assert read_dydx_trades({"trades": []}, market="X").num_rows == 0
    assert read_dydx_funding([{"result": {"historicalFunding": []}}, load("historical_funding.json")]).num_rows == 3
    assert read_dydx_fills({"fills": []}, as_frame=True).empty
