"""Plausibility bounds: data that is schema-valid but cannot be what the source meant.

A table can have the right types, no nulls and sorted timestamps and still be absurd: oracle
prices 100x the trades, funding of 50 % per hour, a millisecond epoch read as nanoseconds
(1970), the same funding row twice. The schema checks of :func:`data_loaders.validate` let such
data through and the engine then gives a confident wrong answer, so these bounds are checked
as well. The module constants are the bounds; they are read when a check runs, so a test or a
notebook may set them (``data_loaders.plausible.EARLIEST_TS = pd.Timestamp("1990-01-01",
tz="UTC")``).

==========================  ===============================================  ===============
check                       bound                                            where
==========================  ===============================================  ===============
timestamps                  ``EARLIEST_TS`` .. now + ``LATEST_AHEAD``         every table
funding rate                ``|rate| <= MAX_FUNDING_RATE_PER_HOUR`` x hours  funding
                            of the row's interval (``allow_extreme=True``
                            lifts it)
funding rows                one per ``(market, ts)``                         funding
oracle price                within ``MAX_ORACLE_DEVIATION`` of the range of  Dataset
                            the market's trades within about
                            ``ORACLE_TRADE_WINDOW`` (``allow_extreme``)
book quotes                 the book's mid (one side's best price when the   Dataset
                            other is empty) within ``MAX_BOOK_DEVIATION``
                            of the trades near it, as for the oracle
                            (``allow_extreme``); book and book_levels
time overlap                funding, oracle and book meet the trades' range  Dataset (warns)
                            (to within ``OVERLAP_SLACK``)
epoch units                 the magnitude matches the unit                   readers
==========================  ===============================================  ===============

The functions here only find rows; :mod:`data_loaders.validate` and
:class:`data_loaders.Dataset` turn them into :class:`~data_loaders.DataError` or warnings.

Examples
--------
>>> from data_loaders import plausible
>>> lo, hi = plausible.time_window()
>>> str(lo)
'2009-01-01 00:00:00+00:00'
>>> plausible.epoch_unit_of(1723161256000, ("ms", "us"))
'ms'
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Earliest plausible timestamp: no crypto venue traded before Bitcoin's genesis block
#: (2009-01-03); a millisecond epoch read as nanoseconds lands in January 1970.
EARLIEST_TS = pd.Timestamp("2009-01-01", tz="UTC")
#: How far past the current time a timestamp may lie (a scheduled funding time, a clock that
#: runs ahead); anything later is a unit or typing mistake, such as year 2300.
LATEST_AHEAD = pd.Timedelta(days=366)

#: Largest plausible ``|rate|`` per hour of a funding row's interval. Venues cap funding far
#: below this for liquid markets (Binance USD-M BTC: 0.375 % per 8 h; dYdX v4 realised rates
#: are of order 1e-4 per hour); 1 % per hour compounds to wiping out a 1x position in 4 days.
MAX_FUNDING_RATE_PER_HOUR = 0.01
#: One hour in nanoseconds: the unit ``MAX_FUNDING_RATE_PER_HOUR`` is expressed in.
HOUR_NS = 3_600_000_000_000

#: Largest relative distance of an oracle price from the same market's trade prices nearby
#: (0.2: 20 % below the lowest or above the highest trade). A real oracle tracks the trades
#: to a fraction of a percent; a wrong scale or a wrong market misses them by far more.
MAX_ORACLE_DEVIATION = 0.20
#: How near in time a trade must be to an oracle row to be compared with it. Generous, so that
#: a stale oracle (an oracle-delay scenario of up to this long) still finds the trades it was
#: copied from: the oracle is compared with every trade within this window and up to twice it.
ORACLE_TRADE_WINDOW = pd.Timedelta("1h")

#: Largest relative distance of a book's quote (its mid, or the best price of its one
#: non-empty side) from the same market's trade prices nearby, compared as the oracle is. Real
#: trades print at the touch; a book 20 % away is another market's or another scale's.
MAX_BOOK_DEVIATION = 0.20

#: Tables that must overlap the trades in time (the latency trace is in force whenever it
#: is stamped: its first row holds before it, its last after it).
OVERLAP_KINDS = ("funding", "oracle", "book", "book_levels")
#: How far outside the trades' time range a table may lie and still count as overlapping: a
#: funding row up to one (dYdX, hourly) interval after the last trade may still be paid.
OVERLAP_SLACK = pd.Timedelta("1h")

#: Nanoseconds per epoch unit.
NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

_I64 = np.iinfo(np.int64)


class DisjointTablesWarning(UserWarning):
    """A table of a Dataset does not overlap its trades in time (its rows are never used:
    funding never paid, an oracle never in force next to a trade)."""


class UnitsWarning(UserWarning):
    """Sizes read as they stand although the source counts them in another unit than the
    base asset (Deribit's inverse perpetuals: USD contracts). The message says what the
    sizes are and how to convert them (``size_unit=`` of the Tardis readers)."""


# --------------------------------------------------------------------------- timestamps
def time_window() -> tuple[pd.Timestamp, pd.Timestamp]:
    """The plausible ``[first, last]`` timestamps now: ``EARLIEST_TS`` and now + ``LATEST_AHEAD``.

    Examples
    --------
    >>> lo, hi = time_window()
    >>> lo < pd.Timestamp.now(tz="UTC") < hi
    True
    """
    lo = pd.Timestamp(EARLIEST_TS)
    lo = lo.tz_localize("UTC") if lo.tzinfo is None else lo.tz_convert("UTC")
    return lo, pd.Timestamp.now(tz="UTC").floor("s") + pd.Timedelta(LATEST_AHEAD)


def window_ns(unit: str = "ns") -> tuple[int, int]:
    """:func:`time_window` as integer epochs in ``unit`` (the plausible counts in that unit)."""
    lo, hi = time_window()
    per = NS_PER_UNIT[unit]
    return -(-lo.as_unit("ns").value // per), hi.as_unit("ns").value // per


def window_text() -> str:
    """The plausible window, as error messages state it."""
    lo, hi = time_window()
    return (f"a time between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} (now + {pd.Timedelta(LATEST_AHEAD).days} days; "
            "bounds: data_loaders.plausible.EARLIEST_TS, LATEST_AHEAD)")


def first_outside(values: np.ndarray, lo: int, hi: int) -> int | None:
    """Row of the first integer value outside ``[lo, hi]``, or None."""
    bad = (values < lo) | (values > hi)
    return int(np.argmax(bad)) if bad.any() else None


def unit_hint(ns: int) -> str:
    """Why a timestamp of ``ns`` nanoseconds may be out of the window: the unit it looks like
    it was meant in, or ``""``."""
    lo, hi = window_ns("ns")
    for unit, words in (("us", "microseconds read as ns, or milliseconds as us"),
                        ("ms", "milliseconds read as ns"),
                        ("s", "seconds read as ns")):
        factor = NS_PER_UNIT[unit]
        if 0 < ns and lo <= ns * factor <= hi:
            return f" (a factor {factor:,} too small: {words}?)"
    return ""


# --------------------------------------------------------------------------- epoch units
def epoch_unit_of(value: int, units=("s", "ms", "us", "ns")) -> str | None:
    """The one of ``units`` in which the integer epoch ``value`` is a plausible time, or None.

    The plausible window spans less than a factor 1,000, so at most one unit fits.

    Examples
    --------
    >>> epoch_unit_of(1723161256000322), epoch_unit_of(5)
    ('us', None)
    """
    for unit in units:
        lo, hi = window_ns(unit)
        if lo <= value <= hi:
            return unit
    return None


# --------------------------------------------------------------------------- funding
def funding_rate_bounds(interval_ns: np.ndarray) -> np.ndarray:
    """The largest plausible ``|rate|`` of rows with these intervals (ns)."""
    return MAX_FUNDING_RATE_PER_HOUR * (interval_ns / HOUR_NS)


def first_extreme_rate(rate: np.ndarray, interval_ns: np.ndarray) -> int | None:
    """Row of the first funding rate beyond :func:`funding_rate_bounds`, or None."""
    bad = np.abs(rate) > funding_rate_bounds(interval_ns)
    return int(np.argmax(bad)) if bad.any() else None


def first_repeated_key(ts: np.ndarray, groups: np.ndarray) -> tuple[int, int] | None:
    """``(row, earlier_row)`` of the first row whose ``(group, ts)`` an earlier row has, or None."""
    if len(ts) < 2:
        return None
    order = np.lexsort((np.arange(len(ts)), ts, groups))  # by group, time, then row
    t, g = ts[order], groups[order]
    same = (t[1:] == t[:-1]) & (g[1:] == g[:-1])
    if not same.any():
        return None
    later = order[1:][same]
    i = int(np.argmin(later))  # the repeat that comes first in the table
    return int(later[i]), int(order[:-1][same][i])


# --------------------------------------------------------------------------- oracle vs trades
def _codes(col: pa.ChunkedArray, names: pa.Array) -> np.ndarray:
    """Index of each row's market in ``names`` (-1 for a market not there).

    Dictionary chunks are mapped through their dictionaries: looking up a few names is far
    cheaper than casting a million rows to strings.
    """
    parts = []
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            lut = pc.index_in(chunk.dictionary, value_set=names).fill_null(-1).to_numpy(zero_copy_only=False)
            parts.append(lut.astype(np.int64)[chunk.indices.to_numpy(zero_copy_only=False)])
        else:
            codes = pc.index_in(chunk, value_set=names).fill_null(-1)
            parts.append(codes.to_numpy(zero_copy_only=False).astype(np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def oracle_outlier(trades: pa.Table, oracle: pa.Table):
    """The first oracle row too far from the trades of its market near it in time.

    Each oracle row is compared with the lowest and highest price of its market's trades in
    the time buckets of width ``ORACLE_TRADE_WINDOW`` it falls in and the two either side (so
    every trade within one window of it counts, and none beyond two). It is an outlier when
    its price is below ``lowest * (1 - MAX_ORACLE_DEVIATION)`` or above ``highest * (1 +
    MAX_ORACLE_DEVIATION)``. Rows of markets without trades, or with no trade near them, are
    not compared: there is nothing to compare them with.

    Returns
    -------
    tuple or None
        ``(row, price, lowest, highest)`` of the first outlier, else None.
    """
    if trades.num_rows == 0 or oracle.num_rows == 0:
        return None
    o_ts = oracle.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    p = oracle.column("price").to_numpy(zero_copy_only=False)
    return _outlier(trades, oracle.column("market"), o_ts, p, MAX_ORACLE_DEVIATION)


def book_quotes(kind: str, table: pa.Table) -> np.ndarray:
    """The quote of each row of a ``book`` or ``book_levels`` table that a plausibility check
    compares with the trades: the mid when both sides are shown, the one shown side's price
    otherwise, NaN for an empty book (and, for level rows, on every row but the last of its
    market and timestamp: the book is only complete there)."""
    if kind == "book":
        bid, ask = (table.column(c).to_numpy(zero_copy_only=False) for c in ("bid", "ask"))
        has_bid = table.column("bid_size").to_numpy(zero_copy_only=False) > 0
        has_ask = table.column("ask_size").to_numpy(zero_copy_only=False) > 0
        bid, ask = np.where(has_bid, bid, np.nan), np.where(has_ask, ask, np.nan)
    else:
        from . import book  # numba: imported only when there are level rows to check

        bid, ask = book.tops(table)
        ends = book.group_ends(table)
        bid, ask = np.where(ends, bid, np.nan), np.where(ends, ask, np.nan)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(bid), ask, np.where(np.isnan(ask), bid, (bid + ask) / 2))


def book_outlier(trades: pa.Table, kind: str, table: pa.Table):
    """The first row of a ``book`` or ``book_levels`` table whose quote (:func:`book_quotes`)
    is more than ``MAX_BOOK_DEVIATION`` outside the range of its market's trades near it in
    time (as :func:`oracle_outlier`).

    Returns
    -------
    tuple or None
        ``(row, quote, lowest, highest)`` of the first outlier, else None.
    """
    if trades.num_rows == 0 or table.num_rows == 0:
        return None
    quote = book_quotes(kind, table)
    rows = np.flatnonzero(~np.isnan(quote))
    if rows.size == 0:
        return None
    ts = table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)[rows]
    market = table.column("market").take(pa.array(rows))
    found = _outlier(trades, market, ts, quote[rows], MAX_BOOK_DEVIATION)
    if found is None:
        return None
    i, price, lo, hi = found
    return int(rows[i]), price, lo, hi


def _outlier(trades: pa.Table, o_market: pa.ChunkedArray, o_ts: np.ndarray, p: np.ndarray,
             deviation: float):
    """The first of the prices ``p`` (of markets ``o_market`` at ``o_ts``) more than
    ``deviation`` outside the range of its market's trades near it in time."""
    names = pa.array(_unique_names(trades.column("market")), pa.string())
    t_code = _codes(trades.column("market"), names)
    o_code = _codes(o_market, names)
    t_ts = trades.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    width = max(int(pd.Timedelta(ORACLE_TRADE_WINDOW).value), 1)
    origin = min(int(t_ts.min()), int(o_ts.min()))
    # +1: bucket 0 stays free, so a neighbour lookup never reaches into another market's keys
    t_bucket = (t_ts - origin) // width + 1
    o_bucket = (o_ts - origin) // width + 1
    span = int(max(t_bucket.max(), o_bucket.max())) + 2
    t_key = t_code * span + t_bucket
    o_key = o_code * span + o_bucket
    price = trades.column("price").to_numpy(zero_copy_only=False)
    order = np.argsort(t_key, kind="stable")
    keys = t_key[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    bucket_keys = keys[starts]
    lows = np.minimum.reduceat(price[order], starts)
    highs = np.maximum.reduceat(price[order], starts)
    lo = np.full(len(o_ts), np.inf)
    hi = np.full(len(o_ts), -np.inf)
    for step in (-1, 0, 1):  # three lookups, each vectorised over all oracle rows
        want = o_key + step
        pos = np.minimum(np.searchsorted(bucket_keys, want), len(bucket_keys) - 1)
        found = (bucket_keys[pos] == want) & (o_code >= 0)
        lo = np.where(found, np.minimum(lo, lows[pos]), lo)
        hi = np.where(found, np.maximum(hi, highs[pos]), hi)
    near = np.isfinite(lo)
    with np.errstate(invalid="ignore"):
        bad = near & ((p < lo * (1 - deviation)) | (p > hi * (1 + deviation)))
    if not bad.any():
        return None
    row = int(np.argmax(bad))
    return row, float(p[row]), float(lo[row]), float(hi[row])


def _unique_names(col: pa.ChunkedArray) -> list[str]:
    names = set()
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            used = np.flatnonzero(np.bincount(chunk.indices.to_numpy(zero_copy_only=False),
                                              minlength=len(chunk.dictionary)))
            names.update(chunk.dictionary.take(pa.array(used)).to_pylist())
        else:
            names.update(pc.unique(chunk).to_pylist())
    return sorted(names)


# --------------------------------------------------------------------------- time overlap
def disjoint_from_trades(tables: dict) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """Non-empty funding, oracle and book tables whose time range misses the trades' range by
    more than ``OVERLAP_SLACK``.

    The latency trace is not compared: its first row holds before it and its last row after
    it, so a trace is in force whenever it is stamped.

    Returns
    -------
    list of (kind, first, last)
        Empty when there are no trades or every table overlaps them.
    """
    trades = tables.get("trades")
    if trades is None or trades.num_rows == 0:
        return []
    t0, t1 = _span(trades)
    slack = int(pd.Timedelta(OVERLAP_SLACK).value)
    out = []
    for kind in OVERLAP_KINDS:
        table = tables.get(kind)
        if table is None or table.num_rows == 0:
            continue
        a, b = _span(table)
        if b < t0 - slack or a > t1 + slack:
            out.append((kind, pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")))
    return out


def _span(table: pa.Table) -> tuple[int, int]:
    """First and last ``ts`` of a non-empty table, as int ns."""
    mm = pc.min_max(table.column("ts").cast(pa.int64()))
    return mm["min"].as_py(), mm["max"].as_py()
