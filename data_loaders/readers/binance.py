"""Readers of Binance USD-M futures public-data CSV files: trades and bookTicker.

Trades files (``BTCUSDT-trades-2024-08-08.csv``) hold ``id,price,qty,quote_qty,time,
is_buyer_maker`` with ``time`` in epoch milliseconds (USD-M futures) or microseconds (spot
files since 2025). The unit is detected from the magnitude by default (``time_unit='auto'``)
and recorded in the table metadata under ``data_loaders.epoch_unit``; a unit given explicitly
that does not match the magnitude is an error. ``is_buyer_maker=true`` means the buyer's
order was resting, so the *seller* was the aggressor: the canonical side is -1; false gives +1.

bookTicker files hold ``update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,
transaction_time,event_time`` (some captures append more columns, e.g. ``local_recv_ns``,
which are ignored). The canonical ``ts`` is ``transaction_time`` (the matching engine's time).

Older dumps have no header line; both layouts are read (a header is recognised by its first
field). ``.csv.gz`` files are decompressed transparently. Rows whose ``id`` / ``update_id``
repeats an earlier one are an error unless ``drop_duplicates=True`` (then the first is kept
and the count recorded), because exact-row de-duplication would also merge distinct trades.

Examples
--------
>>> from data_loaders.readers.binance import read_binance_trades
>>> t = read_binance_trades("BTCUSDT-trades-2024-08-08-2354.csv.gz", market="BTC-USD")  # doctest: +SKIP
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..validate import META_EPOCH_UNIT, DataError
from ._common import (Origin, conform_at, dedupe_by_key, first_record, parse_bool, parse_epoch,
                      parse_float, parse_int, read_csv_text, reads_file, sort_by_ts,
                      with_metadata)

TRADES_COLUMNS = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker")
BOOK_TICKER_COLUMNS = ("update_id", "best_bid_price", "best_bid_qty", "best_ask_price",
                       "best_ask_qty", "transaction_time", "event_time")

_FILE_NAME = re.compile(r"^([A-Za-z0-9]+)-(trades|aggTrades|bookTicker)-")


def market_from_filename(path) -> str:
    """The symbol a Binance public-data file name starts with.

    Examples
    --------
    >>> market_from_filename("data/BTCUSDT-trades-2024-08-08.csv.gz")
    'BTCUSDT'
    """
    match = _FILE_NAME.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path}: cannot tell the market from the file name (expected "
                         "'SYMBOL-trades-...' or 'SYMBOL-bookTicker-...'); pass market=")
    return match.group(1)


#: column names no canonical table uses, by layout: a header with a few of them is a Binance
#: file even when a column is missing (the reader then names the missing one)
_OWN_COLUMNS = {"trades": {"id", "qty", "quote_qty", "time", "is_buyer_maker"},
                "bookticker": {"update_id", "best_bid_price", "best_bid_qty", "best_ask_price",
                               "best_ask_qty", "transaction_time", "event_time"}}
#: Binance-only header names that make a file Binance's
_ENOUGH_OWN = 2
_LAYOUT_OF_NAME = {"trades": "trades", "bookTicker": "bookticker"}


@reads_file
def sniff(path) -> str | None:
    """'trades', 'bookticker' or None: which Binance CSV layout ``path`` has.

    A header line decides: Binance's own header, or one with a few of its column names and no
    canonical ``ts`` (a file missing a column is still Binance's, and its reader names the
    column, rather than a canonical CSV missing ``ts``). A headerless file is recognised by
    its file name (``SYMBOL-trades-...``) together with a numeric first field; its reader
    checks the number of fields.

    Examples
    --------
    >>> sniff("BTCUSDT-trades-2024-08-08-2354.csv.gz")                  # doctest: +SKIP
    'trades'
    """
    first = [f.strip().lower() for f in first_record(path)]
    if first[: len(TRADES_COLUMNS)] == list(TRADES_COLUMNS):
        return "trades"
    if first[: len(BOOK_TICKER_COLUMNS)] == list(BOOK_TICKER_COLUMNS):
        return "bookticker"
    if not first:
        return None
    match = _FILE_NAME.match(Path(path).name)
    by_name = None if match is None else _LAYOUT_OF_NAME.get(match.group(2))
    if first[0].isdigit():  # no header: only the name can tell
        return by_name
    if "ts" in first:  # a canonical header
        return None
    shared = {layout: len(own & set(first)) for layout, own in _OWN_COLUMNS.items()}
    layout = max(shared, key=shared.get)
    if shared[layout] >= _ENOUGH_OWN:
        return layout
    return by_name if by_name is not None and shared[by_name] else None


def _read(path, expected: tuple[str, ...]) -> tuple[pa.Table, Origin]:
    """All fields as text, with the expected names whether or not the file has a header."""
    first = first_record(path)
    if not first:
        raise DataError(str(path), "empty file")
    has_header = not first[0].strip().lstrip("-").replace(".", "", 1).isdigit()
    if has_header:
        names = [f.strip().lower() for f in first]
        missing = [c for c in expected if c not in names]
        if missing:
            raise DataError(str(path), f"missing columns {missing}; header is {first}")
    else:
        if len(first) < len(expected):
            raise DataError(str(path), f"line 1: {len(first)} fields, expected {len(expected)} "
                            f"({','.join(expected)})")
        names = list(expected) + [f"extra_{i}" for i in range(len(first) - len(expected))]
    table = read_csv_text(path, names, has_header=has_header, include=list(expected))
    return table, Origin(str(path), line_offset=2 if has_header else 1)


#: epoch units Binance files use: milliseconds (USD-M futures), microseconds (spot since 2025)
TIME_UNITS = ("ms", "us")


def _epoch(raw: pa.Table, column: str, origin: Origin, time_unit: str) -> tuple[pa.ChunkedArray, str]:
    return parse_epoch(raw.column(column), column, origin, time_unit, units=TIME_UNITS, param="time_unit")


def _finish(columns: dict, raw: pa.Table, kind: str, key: str, origin: Origin,
            sort: bool, drop_duplicates: bool, unit: str) -> pa.Table:
    """Assemble, de-duplicate by the row id, optionally sort, then conform."""
    table = pa.table(columns)
    ids = parse_int(raw.column(key), key, origin).to_numpy()
    table, origin, meta = dedupe_by_key(table, ids, key, origin, drop_duplicates)
    meta = {**meta, META_EPOCH_UNIT: unit.encode()}
    if sort:
        table, origin, sort_meta = sort_by_ts(table, origin)
        meta = {**meta, **sort_meta}
    return conform_at(with_metadata(table, meta), kind, origin)


def _market_column(market: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([market]))


@reads_file
def read_binance_trades(path, market: str | None = None, *, time_unit: str = "auto",
                        sort: bool = False, drop_duplicates: bool = False) -> pa.Table:
    """Read a Binance USD-M trades CSV into a canonical trades table.

    Parameters
    ----------
    path : str or Path
        ``SYMBOL-trades-DATE.csv`` or ``.csv.gz``, with or without a header line.
    market : str, optional
        Market name of the rows (e.g. ``"BTC-USD"``); default: the symbol in the file name.
    time_unit : {'auto', 'ms', 'us'}
        Unit of the ``time`` column: USD-M futures files use milliseconds, spot files since 2025
        microseconds. ``'auto'`` (default) detects it from the magnitude; a given unit that the
        magnitudes contradict is a DataError (a millisecond file read as ``'us'`` would be in
        1970). The unit used is in the table metadata under ``data_loaders.epoch_unit``.
    sort : bool
        Stable-sort by time (opt-in; the count of moved rows is recorded).
    drop_duplicates : bool
        Keep the first of rows sharing an ``id`` instead of raising.

    Returns
    -------
    pyarrow.Table
        Canonical trades: ``size`` is ``qty``; ``side`` is -1 where ``is_buyer_maker`` is true
        (the seller took liquidity), else +1. ``quote_qty`` is not carried.

    Raises
    ------
    DataError
        Naming the file, column (Binance's name for parse errors, the canonical one after),
        data row and file line.

    Examples
    --------
    >>> t = read_binance_trades("BTCUSDT-trades-2024-08-08-2354.csv.gz")  # doctest: +SKIP
    >>> t.column("market")[0].as_py()                                   # doctest: +SKIP
    'BTCUSDT'
    """
    market = market or market_from_filename(path)
    raw, origin = _read(path, TRADES_COLUMNS)
    maker_bought = parse_bool(raw.column("is_buyer_maker"), "is_buyer_maker", origin)
    # a missing flag stays null (conform reports it) rather than silently becoming a buy
    side = pc.if_else(maker_bought, pa.scalar(-1, pa.int8()), pa.scalar(1, pa.int8()))
    ts, unit = _epoch(raw, "time", origin, time_unit)
    columns = {
        "ts": ts,
        "market": _market_column(market, raw.num_rows),
        "price": parse_float(raw.column("price"), "price", origin),
        "size": parse_float(raw.column("qty"), "qty", origin),
        "side": side,
    }
    return _finish(columns, raw, "trades", "id", origin, sort, drop_duplicates, unit)


@reads_file
def read_binance_book_ticker(path, market: str | None = None, *, time_unit: str = "auto",
                             sort: bool = False, drop_duplicates: bool = False) -> pa.Table:
    """Read a Binance USD-M bookTicker CSV into a canonical book-top table.

    Parameters
    ----------
    path : str or Path
        ``SYMBOL-bookTicker-DATE.csv`` or ``.csv.gz``, with or without a header line.
    market : str, optional
        Market name of the rows; default: the symbol in the file name.
    time_unit : {'auto', 'ms', 'us'}
        Unit of ``transaction_time``, as in :func:`read_binance_trades`.
    sort, drop_duplicates : bool
        As in :func:`read_binance_trades` (duplicates by ``update_id``).

    Returns
    -------
    pyarrow.Table
        Canonical book: ``ts`` from ``transaction_time``; bid/ask prices and sizes.

    Examples
    --------
    >>> b = read_binance_book_ticker("BTCUSDT-bookTicker-2024-08-08-2354.csv.gz",
    ...                              market="BTC-USD")                  # doctest: +SKIP
    """
    market = market or market_from_filename(path)
    raw, origin = _read(path, BOOK_TICKER_COLUMNS)
    ts, unit = _epoch(raw, "transaction_time", origin, time_unit)
    columns = {
        "ts": ts,
        "market": _market_column(market, raw.num_rows),
        "bid": parse_float(raw.column("best_bid_price"), "best_bid_price", origin),
        "bid_size": parse_float(raw.column("best_bid_qty"), "best_bid_qty", origin),
        "ask": parse_float(raw.column("best_ask_price"), "best_ask_price", origin),
        "ask_size": parse_float(raw.column("best_ask_qty"), "best_ask_qty", origin),
    }
    return _finish(columns, raw, "book", "update_id", origin, sort, drop_duplicates, unit)
