"""Canonical Arrow schemas of the tables a backtest consumes.

Every loader converts what it reads into one of these schemas and every table is checked by
:func:`data_loaders.validate` before the engine sees it. The six kinds are

========  ==========================================================================
kind      columns
========  ==========================================================================
trades    ts, market, price, size, side (+1 buyer-initiated, -1 seller-initiated)
funding   ts, market, rate (one interval, positive: longs pay), interval, oracle_price
oracle    ts, market, price
latency   ts, venue, order_latency, ack_latency, finality, up, gas_fee
book      ts, market, bid, bid_size, ask, ask_size (the book top, L1)
book_levels ts, market, side (+1 bid, -1 ask), price, size (0 removes the level),
          is_snapshot (a run of snapshot rows of one ts, market and side replaces the side)
========  ==========================================================================

All timestamps are ``timestamp[ns, tz=UTC]``, durations ``duration[ns]``, and the ``market`` /
``venue`` columns are dictionary-encoded strings.

Examples
--------
>>> from data_loaders.schemas import SCHEMAS
>>> SCHEMAS["trades"].names
['ts', 'market', 'price', 'size', 'side']
"""
from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("ns", tz="UTC")
DURATION = pa.duration("ns")
DICT_STRING = pa.dictionary(pa.int32(), pa.string())

#: The default funding interval (dYdX v4 pays hourly).
DEFAULT_FUNDING_INTERVAL_NS = 3_600_000_000_000

TRADES = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("market", DICT_STRING, nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
        pa.field("side", pa.int8(), nullable=False),
    ]
)

FUNDING = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("market", DICT_STRING, nullable=False),
        pa.field("rate", pa.float64(), nullable=False),
        pa.field("interval", DURATION, nullable=False),
        pa.field("oracle_price", pa.float64(), nullable=True),
    ]
)

ORACLE = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("market", DICT_STRING, nullable=False),
        pa.field("price", pa.float64(), nullable=False),
    ]
)

LATENCY = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("venue", DICT_STRING, nullable=False),
        pa.field("order_latency", DURATION, nullable=False),
        pa.field("ack_latency", DURATION, nullable=False),
        pa.field("finality", DURATION, nullable=False),
        pa.field("up", pa.bool_(), nullable=False),
        pa.field("gas_fee", pa.float64(), nullable=False),
    ]
)

BOOK = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("market", DICT_STRING, nullable=False),
        pa.field("bid", pa.float64(), nullable=False),
        pa.field("bid_size", pa.float64(), nullable=False),
        pa.field("ask", pa.float64(), nullable=False),
        pa.field("ask_size", pa.float64(), nullable=False),
    ]
)

BOOK_LEVELS = pa.schema(
    [
        pa.field("ts", TS, nullable=False),
        pa.field("market", DICT_STRING, nullable=False),
        pa.field("side", pa.int8(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
        pa.field("is_snapshot", pa.bool_(), nullable=False),
    ]
)

#: kind name -> canonical schema
SCHEMAS: dict[str, pa.Schema] = {
    "trades": TRADES,
    "funding": FUNDING,
    "oracle": ORACLE,
    "latency": LATENCY,
    "book": BOOK,
    "book_levels": BOOK_LEVELS,
}

#: kind name -> the column that groups rows whose timestamps must not decrease
GROUP_COLUMN: dict[str, str] = {
    "trades": "market",
    "funding": "market",
    "oracle": "market",
    "latency": "venue",
    "book": "market",
    "book_levels": "market",
}

KINDS = tuple(SCHEMAS)


def schema_for(kind: str) -> pa.Schema:
    """Return the canonical schema of ``kind``.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`KINDS`.
    """
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise ValueError(f"unknown table kind {kind!r}; expected one of {', '.join(KINDS)}") from None


def empty_table(kind: str) -> pa.Table:
    """An empty table of the canonical schema of ``kind``."""
    return schema_for(kind).empty_table()
