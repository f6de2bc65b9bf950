"""Reader of funding-rate history CSV files with the columns ``Symbol,Date,Funding Rate``.

This is the layout of the historical funding files collected per exchange (one row per
funding event). The files do not state their time zone or funding interval, and both differ
between exchanges (the bundled dYdX files are hourly in UTC; the Binance and Bybit ones are
8-hourly in UTC+3), so the zone is a required argument and the interval has to be given when it
is not one hour. Binance's ``Date`` has milliseconds (``2020-01-01 03:00:00.000``), the others
do not; both parse.

Examples
--------
>>> from data_loaders.readers.funding_csv import read_funding_csv
>>> f = read_funding_csv("BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv.gz",
...                      utc_offset=3, interval="8h", market="BTC-USD")  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..validate import DataError
from ._common import (Origin, conform_at, first_record, parse_float, parse_timestamps, read_csv_text,
                      reads_file)

#: normalised header name -> canonical column
_COLUMNS = {"symbol": "market", "date": "ts", "funding rate": "rate"}


@reads_file
def is_funding_csv(path) -> bool:
    """True if the first line of ``path`` is a ``Symbol,Date,Funding Rate`` header.

    Examples
    --------
    >>> is_funding_csv("BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz")  # doctest: +SKIP
    True
    """
    return {f.strip().lower() for f in first_record(path)} >= set(_COLUMNS)


def utc_offset_zone(hours: float) -> str:
    """A fixed-offset zone string for ``hours`` east of UTC.

    Examples
    --------
    >>> utc_offset_zone(3), utc_offset_zone(-5.5)
    ('+03:00', '-05:30')
    """
    minutes = int(round(float(hours) * 60))
    if abs(minutes) > 14 * 60:
        raise ValueError(f"utc_offset must be within -14..+14 hours, got {hours}")
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _zone(tz, utc_offset) -> str:
    if tz is None and utc_offset is None:
        raise ValueError("funding CSV files do not state their time zone: pass tz= (an IANA "
                         "name such as 'UTC') or utc_offset= (hours, e.g. 3 for the Binance "
                         "and Bybit files)")
    if tz is not None and utc_offset is not None:
        raise ValueError(f"pass tz= or utc_offset=, not both (got {tz!r} and {utc_offset!r})")
    return tz if tz is not None else utc_offset_zone(utc_offset)


def _rename(symbols: pa.ChunkedArray, market, origin: Origin) -> pa.ChunkedArray:
    if market is None:
        return symbols
    if isinstance(market, dict):
        names = [None if s is None else market.get(s, s) for s in symbols.to_pylist()]
        return pa.chunked_array([pa.array(names, pa.string())])
    distinct = pc.unique(symbols.combine_chunks()).drop_null().to_pylist()
    if len(distinct) > 1:
        raise origin.error("Symbol", None, None, "one symbol per file when market= is a name "
                           "(pass a dict {symbol: market} to rename several)",
                           message=f"several symbols {distinct}")
    return pa.chunked_array([pa.array(np.full(len(symbols), market, dtype=object), pa.string())])


@reads_file
def read_funding_csv(path, *, tz: str | None = None, utc_offset: float | None = None,
                     interval="1h", market=None, sort: bool = False,
                     drop_duplicates: bool = False, allow_extreme: bool = False) -> pa.Table:
    """Read a ``Symbol,Date,Funding Rate`` CSV into a canonical funding table.

    Parameters
    ----------
    path : str or Path
        The file (``.csv`` or ``.csv.gz``).
    tz : str, optional
        IANA zone of ``Date`` (e.g. ``"UTC"``). Exactly one of ``tz`` and ``utc_offset``.
    utc_offset : float, optional
        Fixed offset of ``Date`` in hours east of UTC (3 for the Binance and Bybit files).
    interval : str or Timedelta
        Funding interval of every row (``"8h"`` for Binance and Bybit); the rate is per interval.
    market : str or dict, optional
        Market name for the rows (the file must then hold one symbol), or a ``{symbol: name}``
        mapping; default: the ``Symbol`` values.
    sort, drop_duplicates : bool
        Opt-in repairs of :func:`~data_loaders.validate.conform`.
    allow_extreme : bool
        Accept rates beyond the plausible bound (see :func:`~data_loaders.validate`).

    Returns
    -------
    pyarrow.Table
        Canonical funding with ``oracle_price`` null (these files carry no price).

    Raises
    ------
    ValueError
        If neither or both of ``tz`` and ``utc_offset`` are given.
    DataError
        Naming the file, column, row and line of a value that does not parse or fit.

    Examples
    --------
    >>> f = read_funding_csv("BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv.gz",
    ...                      tz="UTC", market="BTC-USD")                # doctest: +SKIP
    >>> f.num_rows                                                      # doctest: +SKIP
    17520
    """
    zone = _zone(tz, utc_offset)
    step = pd.Timedelta(interval)
    if step <= pd.Timedelta(0):
        raise ValueError(f"interval must be positive, got {interval!r}")
    origin = Origin(str(path), line_offset=2)
    header = first_record(path)
    names = {h.strip().lower(): h for h in header}
    missing = [c for c in _COLUMNS if c not in names]
    if missing:
        raise DataError(str(path), f"missing columns {missing}; expected a 'Symbol,Date,Funding "
                        f"Rate' header, got {header}")
    raw = read_csv_text(path, header)
    n = raw.num_rows
    table = pa.table({
        "ts": parse_timestamps(raw.column(names["date"]), "Date", origin),
        "market": _rename(raw.column(names["symbol"]), market, origin),
        "rate": parse_float(raw.column(names["funding rate"]), "Funding Rate", origin),
        "interval": pa.array(np.full(n, step.as_unit("ns").value, dtype=np.int64)).cast(pa.duration("ns")),
        "oracle_price": pa.nulls(n, pa.float64()),
    })
    return conform_at(table, "funding", origin, tz=zone, sort=sort, drop_duplicates=drop_duplicates,
                      allow_extreme=allow_extreme)
