"""The fetch store: conversion speed into it, and read speed of a month of trades out of it.

Prints min / median / max over ``--repeat`` repetitions of:

* conversion, rows/s, from the downloaded formats into the store (parse, canonical table,
  atomic Parquet write with its manifest and SHA-256): dYdX indexer ``/v4/trades`` pages (JSON
  bytes, 1,000 trades a page, as the fetch receives them) and a Binance ``trades`` CSV of one
  day (as unzipped from its dump);
* reading a month (30 daily partitions) of one market's trades: ``Store.read`` of the whole
  month, of one week (the range pushed down: the other partitions are not opened, the boundary
  days' row groups filtered), and ``Store.dataset`` of the month (the canonical checks of a
  ``Dataset`` included).

The rows are synthetic (a random walk of prices, random sizes and sides); no network is used.

Usage::

    python benchmarks/bench_store.py                  # 200k trades a day, 5 repetitions
    python benchmarks/bench_store.py --quick          # 20k trades a day, 2 repetitions
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from data_loaders import Store
from data_loaders.fetch import binance
from data_loaders.readers.dydx import read_dydx_trades

MARKET = "BTC-USD"
DAY0 = pd.Timestamp("2024-04-01", tz="UTC")
DAYS_IN_MONTH = 30
PAGE = 1000


def _walk(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times (ns within one day, sorted), prices, sizes and sides of ``n`` synthetic trades."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 86_400_000, n)) * 1_000_000
    price = np.round(60_000 * np.exp(np.cumsum(rng.normal(0, 2e-5, n))), 1)
    size = np.round(rng.exponential(0.05, n) + 0.0001, 4)
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    return t, price, size, side


def dydx_pages(n: int, seed: int = 0) -> list[bytes]:
    """``n`` trades of one day as indexer pages: JSON bytes, newest first."""
    t, price, size, side = _walk(n, seed)
    stamps = np.datetime_as_string((DAY0.value + t).astype("datetime64[ns]"), unit="ms")
    rows = [{"id": f"{i:024x}", "side": "BUY" if s > 0 else "SELL", "size": str(q), "price": str(p), "type": "LIMIT",
             "createdAt": f"{at}Z", "createdAtHeight": str(20_000_000 + int(ti // 1_000_000_000))}
            for i, (ti, p, q, s, at) in enumerate(zip(t, price, size, side, stamps))][::-1]
    return [json.dumps({"trades": rows[i:i + PAGE]}).encode() for i in range(0, n, PAGE)]


def binance_csv(n: int, folder: Path, seed: int = 0) -> Path:
    """``n`` trades of one day as a Binance ``trades`` CSV (with its header)."""
    t, price, size, side = _walk(n, seed)
    frame = pd.DataFrame({"id": np.arange(n) + 5_000_000_000, "price": price, "qty": size,
                          "quote_qty": np.round(price * size, 4), "time": (DAY0.value + t) // 1_000_000,
                          "is_buyer_maker": np.where(side < 0, "true", "false")})
    path = folder / "BTCUSDT-trades-2024-04-01.csv"
    frame.to_csv(path, index=False)
    return path


def convert_dydx(store: Store, pages: list[bytes]) -> int:
    rows = [r for page in pages for r in json.loads(page)["trades"]]
    table = read_dydx_trades([{"trades": rows}], market=MARKET)
    import pyarrow as pa

    table = table.append_column("id", pa.array([r["id"] for r in reversed(rows)], pa.string()))
    store.write_partition("trades", "dydx", MARKET, DAY0, table.replace_schema_metadata(None),
                          covered=(DAY0, DAY0 + pd.Timedelta("1D")), source="bench")
    return table.num_rows


def convert_binance(store: Store, csv: Path) -> int:
    table = binance._trades(csv, "BTCUSDT")
    store.write_partition("trades", "binance", "BTCUSDT", DAY0, table, covered=(DAY0, DAY0 + pd.Timedelta("1D")),
                          source="bench")
    return table.num_rows


def month_store(folder: Path, per_day: int) -> Store:
    """A store holding ``DAYS_IN_MONTH`` complete days of ``per_day`` trades of one market."""
    import pyarrow as pa

    store = Store(folder)
    for d in range(DAYS_IN_MONTH):
        day = DAY0 + pd.Timedelta(days=d)
        t, price, size, side = _walk(per_day, seed=d)
        table = pa.table({
            "ts": pa.array(day.value + t).cast(pa.timestamp("ns", tz="UTC")),
            "market": pa.DictionaryArray.from_arrays(pa.array(np.zeros(per_day, np.int32)), pa.array([MARKET])),
            "price": price, "size": size, "side": side,
            "id": pa.array([f"{d:04d}{i:020x}" for i in range(per_day)], pa.string()),
        })
        store.write_partition("trades", "dydx", MARKET, day, table, covered=(day, day + pd.Timedelta("1D")),
                              source="bench")
    return store


def timed(fn, repeat: int) -> tuple[list[float], object]:
    out, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - t0)
    return out, result


def spread(values, fmt: str = ",.0f") -> str:
    return f"{min(values):{fmt}} / {statistics.median(values):{fmt}} / {max(values):{fmt}}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=200_000, help="trades a day (default 200,000)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--quick", action="store_true", help="20,000 trades a day, 2 repetitions")
    args = parser.parse_args(argv)
    if args.quick:
        args.per_day, args.repeat = 20_000, 2
    n = args.per_day
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pages = dydx_pages(n)
        csv = binance_csv(n, tmp)
        print(f"conversion into the store, {n:,} trades (one day), rows/s min / median / max of {args.repeat}:")
        store = Store(tmp / "convert")
        secs, rows = timed(lambda: convert_dydx(store, pages), args.repeat)
        print(f"  dYdX /v4/trades pages ({len(pages)} JSON pages): {spread([rows / s for s in secs])}")
        secs, rows = timed(lambda: convert_binance(store, csv), args.repeat)
        print(f"  Binance trades CSV:                    {spread([rows / s for s in secs])}")

        t0 = time.perf_counter()
        month = month_store(tmp / "month", n)
        print(f"\na month of trades: {DAYS_IN_MONTH} partitions x {n:,} = {DAYS_IN_MONTH * n:,} rows "
              f"(written in {time.perf_counter() - t0:,.1f} s); ms min / median / max of {args.repeat}:")
        end = DAY0 + pd.Timedelta(days=DAYS_IN_MONTH)
        for label, fn in (
            ("Store.read, the month", lambda: month.read("trades", MARKET, DAY0, end)),
            ("Store.read, one week (pushed down)", lambda: month.read("trades", MARKET, DAY0 + pd.Timedelta("10D12h"),
                                                                      DAY0 + pd.Timedelta("17D12h"))),
            ("Store.dataset, the month", lambda: month.dataset(MARKET, DAY0, end)),
        ):
            secs, result = timed(fn, args.repeat)
            rows = result.num_rows if hasattr(result, "num_rows") else result.trades.num_rows
            print(f"  {label:38s} {spread([s * 1e3 for s in secs])} ms  ({rows:,} rows; "
                  f"{spread([rows / s / 1e6 for s in secs], '.1f')} M rows/s)")


if __name__ == "__main__":
    main()
