"""Corrupt, truncated, empty and binary files raise DataError naming the file, whatever reads them."""
import errno
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from data_loaders import DataError, conform
from data_loaders.loaders import (detect_format, load_book, load_funding, load_latency, load_oracle,
                                  load_trades)
from data_loaders.readers.binance import read_binance_book_ticker, read_binance_trades
from data_loaders.readers.candles import read_candles
from data_loaders.readers.canonical import (read_canonical_csv, read_canonical_dataset,
                                            read_canonical_feather, read_canonical_parquet)
from data_loaders.readers.dydx import read_dydx_candle_trades, read_dydx_funding, read_dydx_trades
from data_loaders.readers.funding_csv import read_funding_csv

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data_loaders" / "data"
TRADES = DATA / "BTCUSDT-trades-2024-08-08-2354.csv.gz"
DYDX_FUNDING = DATA / "BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz"
DYDX_JSON = ROOT / "tests" / "data" / "dydx"

GARBAGE = np.random.default_rng(0).bytes(4096)  # not UTF-8, not any file format


def oracle_table(n=2000):
    frame = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=n, freq="1s", tz="UTC"),
                          "market": "BTC-USD", "price": np.linspace(100.0, 200.0, n)})
    return conform(frame, "oracle")


def truncated_gzip(path: Path, text: bytes) -> Path:
    """``text`` gzip-compressed, cut at half its compressed length."""
    packed = gzip.compress(text)
    path.write_bytes(packed[: len(packed) // 2])
    return path


def candles_csv() -> bytes:
    ts = pd.date_range("2024-01-01", periods=3000, freq="1min", tz="UTC")
    rng = np.random.default_rng(1)
    close = 100 + np.cumsum(rng.normal(0, 0.1, ts.size))
    frame = pd.DataFrame({"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": close, "high": close + 1,
                          "low": close - 1, "close": close, "volume": 1.0})
    return frame.to_csv(index=False).encode()


def assert_names_file(err, path, *words):
    text = str(err.value)
    assert str(path) in text and err.value.source == str(path), text
    for word in words:
        assert word in text.lower(), text


# --------------------------------------------------------------------------- truncated gzip
TRUNCATED_GZ = {
    "canonical": ("o.csv.gz", lambda: oracle_table().to_pandas().to_csv(index=False).encode(),
                  lambda p: load_oracle(p)),
    "binance": ("BTCUSDT-trades-2024-08-08-2354.csv.gz", lambda: gzip.decompress(TRADES.read_bytes()),
                lambda p: load_trades(p, market="BTC-USD")),
    "funding-csv": ("f.csv.gz", lambda: gzip.decompress(DYDX_FUNDING.read_bytes()),
                    lambda p: load_funding(p, tz="UTC")),
    "candles": ("bars.csv.gz", candles_csv, lambda p: load_trades(p, format="candles", market="X")),
}


@pytest.mark.parametrize("kind", sorted(TRUNCATED_GZ))
def test_truncated_gzip_csv_names_file_and_line(tmp_path, kind):
    name, text, load = TRUNCATED_GZ[kind]
    path = truncated_gzip(tmp_path / name, text())
    with pytest.raises(DataError) as err:
        load(path)
    assert_names_file(err, path, "truncated")
    # the row reached: the break is past the first line, and the message gives the line
    assert err.value.line is not None and err.value.line > 1
    assert f"line {err.value.line}" in str(err.value)


def test_truncated_gzip_direct_readers(tmp_path):
    path = truncated_gzip(tmp_path / "BTCUSDT-trades-2024-08-08-2354.csv.gz", gzip.decompress(TRADES.read_bytes()))
    with pytest.raises(DataError, match="truncated"):
        read_binance_trades(path)
    path = truncated_gzip(tmp_path / "f.csv.gz", gzip.decompress(DYDX_FUNDING.read_bytes()))
    with pytest.raises(DataError, match="truncated"):
        read_funding_csv(path, tz="UTC")
    path = truncated_gzip(tmp_path / "b.csv.gz", candles_csv())
    with pytest.raises(DataError, match="truncated"):
        read_candles(path)
    path = truncated_gzip(tmp_path / "o.csv.gz", oracle_table().to_pandas().to_csv(index=False).encode())
    with pytest.raises(DataError, match="truncated"):
        read_canonical_csv(path, "oracle")


def test_truncated_gzip_json(tmp_path):
    page = json.loads((DYDX_JSON / "trades.json").read_text())
    page["result"]["trades"] = page["result"]["trades"] * 200
    path = truncated_gzip(tmp_path / "trades.json.gz", json.dumps(page, indent=1).encode())
    with pytest.raises(DataError) as err:
        load_trades(path, market="BTC-USD")
    assert_names_file(err, path, "truncated")
    # a list of pages names the page file that is broken
    with pytest.raises(DataError) as err:
        read_dydx_trades([DYDX_JSON / "trades.json", path], market="BTC-USD")
    assert_names_file(err, path, "truncated")


# --------------------------------------------------------------------------- binary formats
def test_truncated_feather(tmp_path):
    path = tmp_path / "o.feather"
    feather.write_feather(oracle_table(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for read in (load_oracle, lambda p: read_canonical_feather(p, "oracle")):
        with pytest.raises(DataError) as err:
            read(path)
        assert_names_file(err, path, "feather")


def test_garbage_parquet(tmp_path):
    path = tmp_path / "o.parquet"
    path.write_bytes(GARBAGE)
    for read in (load_oracle, lambda p: read_canonical_parquet(p, "oracle")):
        with pytest.raises(DataError) as err:
            read(path)
        assert_names_file(err, path, "parquet")


def test_truncated_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(oracle_table(), path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError) as err:
        load_oracle(path)
    assert_names_file(err, path, "parquet")


def test_garbage_parquet_in_a_dataset_names_the_file(tmp_path):
    table = oracle_table()
    (tmp_path / "date=2024-01-01").mkdir()
    pq.write_table(table, tmp_path / "date=2024-01-01" / "part-0.parquet")
    bad = tmp_path / "date=2024-01-01" / "part-1.parquet"
    bad.write_bytes(GARBAGE)
    for read in (load_oracle, lambda p: read_canonical_dataset(p, "oracle")):
        with pytest.raises(DataError) as err:
            read(tmp_path)
        assert_names_file(err, bad, "parquet")
        assert str(tmp_path) in str(err.value)


# --------------------------------------------------------------------------- empty and binary files
EMPTY = [
    ("o.csv", lambda p: load_oracle(p)),
    ("o.csv.gz", lambda p: load_oracle(p)),
    ("o.parquet", lambda p: load_oracle(p)),
    ("o.feather", lambda p: load_oracle(p)),
    ("lat.arrow", lambda p: load_latency(p)),
    ("BTCUSDT-trades-2024-08-08.csv", lambda p: load_trades(p, format="binance")),
    ("BTCUSDT-bookTicker-2024-08-08.csv", lambda p: load_book(p, format="binance-bookticker")),
    ("f.csv", lambda p: load_funding(p, format="funding-csv", tz="UTC")),
    ("bars.csv", lambda p: load_trades(p, format="candles", market="X")),
    ("bars.parquet", lambda p: load_trades(p, format="candles", market="X")),
    ("trades.json", lambda p: load_trades(p, market="X")),
    ("candles.json", lambda p: load_trades(p, format="candles")),
]


@pytest.mark.parametrize("name, load", EMPTY, ids=[e[0] for e in EMPTY])
def test_empty_file(tmp_path, name, load):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    with pytest.raises(DataError) as err:
        load(path)
    assert_names_file(err, path, "empty")
    assert "line None" not in str(err.value)


BINARY = [
    ("o.csv", lambda p: load_oracle(p)),
    ("o.csv", lambda p: load_oracle(p, format="csv")),
    ("o.csv", lambda p: read_canonical_csv(p, "oracle")),
    ("BTCUSDT-trades-2024-08-08.csv", lambda p: load_trades(p, format="binance")),
    ("BTCUSDT-trades-2024-08-08.csv", lambda p: read_binance_trades(p)),
    ("BTCUSDT-bookTicker-2024-08-08.csv", lambda p: read_binance_book_ticker(p)),
    ("f.csv", lambda p: load_funding(p, format="funding-csv", tz="UTC")),
    ("f.csv", lambda p: read_funding_csv(p, tz="UTC")),
    ("bars.csv", lambda p: load_trades(p, format="candles", market="X")),
    ("bars.csv", lambda p: read_candles(p)),
    ("trades.json", lambda p: load_trades(p, market="X")),
    ("funding.json", lambda p: read_dydx_funding(p)),
    ("candles.json", lambda p: read_dydx_candle_trades(p)),
    ("lat.csv", lambda p: load_latency(p)),
    ("lat.csv", lambda p: detect_format(p)),
]


@pytest.mark.parametrize("name, load", BINARY, ids=[f"{i}-{e[0]}" for i, e in enumerate(BINARY)])
def test_binary_garbage_with_a_text_name(tmp_path, name, load):
    path = tmp_path / name
    path.write_bytes(GARBAGE)
    with pytest.raises(DataError) as err:
        load(path)
    assert_names_file(err, path)
    assert "line 1" in str(err.value) or "json" in str(err.value).lower()


def test_binary_garbage_after_good_lines_names_the_line(tmp_path):
    path = tmp_path / "o.csv"
    path.write_bytes(b"ts,market,price\n2024-01-01T00:00:00Z,A,1\n2024-01-01T00:00:01Z,A,2\n" + GARBAGE)
    with pytest.raises(DataError) as err:
        load_oracle(path)
    assert_names_file(err, path, "utf-8")
    assert err.value.line == 4


def test_broken_json_names_line(tmp_path):
    path = tmp_path / "trades.json"
    path.write_text('{"result": {"trades": [\n{"id": "a",\n')
    with pytest.raises(DataError) as err:
        load_trades(path, market="X")
    assert_names_file(err, path, "json")
    assert err.value.line == 3


def test_missing_file_is_still_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_canonical_parquet(tmp_path / "nope.parquet", "oracle")
    with pytest.raises(FileNotFoundError):
        read_binance_trades(tmp_path / "BTCUSDT-trades-2024-08-08.csv")


def test_system_errors_are_not_reported_as_bad_bytes(tmp_path, monkeypatch):
    path = tmp_path / "o.parquet"
    pq.write_table(oracle_table(), path)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "read_table", full_disk)
    with pytest.raises(OSError) as err:
        read_canonical_parquet(path, "oracle")
    assert not isinstance(err.value, DataError) and err.value.errno == errno.ENOSPC
