"""OHLCV candles expanded into a synthetic trade path.

When a venue offers only candles, the engine still needs a tape. Each bar of length ``bar``
starting at ``t0`` becomes four trades, each of a quarter of the bar's volume:

=====================  ==========================================================
time                   price
=====================  ==========================================================
``t0``                 open
``t0 + bar // 4``      low if the bar closed up (close >= open), else high
``t0 + bar // 2``      the other extreme
``t0 + 3 * bar // 4``  close
=====================  ==========================================================

Visiting the low first in an up bar (and the high first in a down bar) is the path that fits
the bar best: it reaches the close from the extreme nearest to it. Each trade's side is the sign
of its move from the previous synthetic price (+1 up, -1 down); the open, and any trade that
does not move the price, takes the bar's direction (+1 if close >= open). Bars with zero volume
had no trades and produce none. The last quarter of every bar is empty on purpose, so the next
bar's open never shares a timestamp with this bar's close.

The result is marked as synthetic in its schema metadata, ``data_loaders.synthetic_trades =
ohlcv`` (and ``data_loaders.synthetic_bar`` = the bar length), which
:func:`~data_loaders.validate.conform` keeps.

Examples
--------
>>> import pandas as pd
>>> from data_loaders.readers.candles import candles_to_trades
>>> bars = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01"], utc=True),
...                      "open": [100.0, 103.0], "high": [104.0, 103.5], "low": [99.0, 101.0],
...                      "close": [103.0, 101.5], "volume": [2.0, 4.0]})
>>> candles_to_trades(bars, "BTC-USD").column("price").to_pylist()
[100.0, 99.0, 104.0, 103.0, 103.0, 103.5, 101.0, 101.5]
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..validate import DataError
from ._common import (Origin, conform_at, first_record, parse_float, parse_timestamps, read_csv_text,
                      reads_file, strip_suffixes)

META_SYNTHETIC = b"data_loaders.synthetic_trades"
META_BAR = b"data_loaders.synthetic_bar"
CANDLE_COLUMNS = ("ts", "open", "high", "low", "close", "volume")


def infer_bar(ts) -> pd.Timedelta:
    """The bar length of candles starting at ``ts``: the most common spacing.

    The mode rather than the minimum, so that a missing bar (a gap) does not matter.

    Examples
    --------
    >>> import pandas as pd
    >>> infer_bar(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:03"]))
    Timedelta('0 days 00:01:00')
    """
    ns = pd.DatetimeIndex(ts).as_unit("ns").asi8
    steps = np.diff(ns)
    steps = steps[steps > 0]
    if steps.size == 0:
        raise ValueError("cannot infer the bar length from fewer than two candles; pass bar=")
    values, counts = np.unique(steps, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), "ns")


def _frame(candles, origin: Origin, tz) -> pd.DataFrame:
    if isinstance(candles, pa.Table):
        candles = candles.to_pandas()
    if not isinstance(candles, pd.DataFrame):
        raise TypeError(f"candles must be a pandas.DataFrame or pyarrow.Table, got {type(candles).__name__}")
    if "ts" not in candles.columns and candles.index.name == "ts":
        candles = candles.reset_index()
    missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise DataError(origin.source, f"missing candle columns {missing}; expected {list(CANDLE_COLUMNS)}")
    ts = pd.DatetimeIndex(candles["ts"])
    if ts.tz is None:
        if tz is None:
            raise origin.error("ts", None, str(ts.dtype), "tz-aware timestamps (pass tz='UTC' or the "
                               "source's zone)", message="timezone-naive timestamps")
        ts = ts.tz_localize(tz)
    out = pd.DataFrame({"ts": ts.tz_convert("UTC").as_unit("ns").asi8})  # int ns: fast and exact
    for col in CANDLE_COLUMNS[1:]:
        out[col] = pd.to_numeric(candles[col]).to_numpy(dtype=float)
    return out


def _check(df: pd.DataFrame, bar_ns: int, origin: Origin) -> None:
    """Bars must be consistent (low <= open, close <= high) and not overlap in time."""
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    rules = [
        ("open", np.isfinite(o) & (o > 0), "a finite open > 0"),
        ("close", np.isfinite(c) & (c > 0), "a finite close > 0"),
        ("low", np.isfinite(lo) & (lo > 0), "a finite low > 0"),
        ("high", np.isfinite(h) & (h >= np.maximum(o, c)), "high >= max(open, close)"),
        ("low", lo <= np.minimum(o, c), "low <= min(open, close)"),
        ("volume", np.isfinite(v) & (v >= 0), "a finite volume >= 0"),
    ]
    for column, ok, expected in rules:
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise origin.error(column, row, float(df[column].iloc[row]), expected)
    steps = np.diff(df["ts"].to_numpy())
    if (steps < bar_ns).any():
        row = int(np.flatnonzero(steps < bar_ns)[0]) + 1
        raise origin.error("ts", row, str(pd.Timestamp(int(df["ts"].iloc[row]), tz="UTC")),
                           f"candles in time order, at least one bar ({pd.Timedelta(bar_ns, 'ns')}) apart")


def _path(o, h, lo, c) -> tuple[np.ndarray, np.ndarray]:
    """Prices (n, 4) of the synthetic path and the side of each step."""
    up = c >= o
    first = np.where(up, lo, h)
    second = np.where(up, h, lo)
    prices = np.column_stack([o, first, second, c])
    direction = np.where(up, 1, -1)
    move = np.sign(np.diff(prices, axis=1))
    move = np.where(move == 0, direction[:, None], move)
    sides = np.column_stack([direction, move]).astype(np.int8)
    return prices, sides


def candles_to_trades(candles, market: str, bar=None, *, tz: str | None = None,
                      source: str = "candles") -> pa.Table:
    """Expand OHLCV candles into a synthetic canonical trades table (four trades per bar).

    Parameters
    ----------
    candles : pandas.DataFrame or pyarrow.Table
        Columns ``ts`` (bar start; or a ``ts`` index), ``open``, ``high``, ``low``, ``close``,
        ``volume`` (base units), one market, in time order.
    market : str
        Market name of the trades.
    bar : str or Timedelta, optional
        Bar length; inferred from the most common ``ts`` spacing if omitted.
    tz : str, optional
        Zone of naive ``ts`` values (naive timestamps are an error without it).
    source : str
        Name used in error messages.

    Returns
    -------
    pyarrow.Table
        Canonical trades at ``t0``, ``t0 + bar//4``, ``t0 + bar//2``, ``t0 + 3*bar//4`` (see the
        module docstring), with ``data_loaders.synthetic_trades = ohlcv`` in the metadata.

    Raises
    ------
    DataError
        If a bar is inconsistent (high below open/close, low above them, negative volume) or
        bars overlap; rows are numbered as in ``candles``.

    Examples
    --------
    >>> import pandas as pd
    >>> bars = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01"], utc=True), "open": [10.0],
    ...                      "high": [11.0], "low": [9.0], "close": [9.5], "volume": [8.0]})
    >>> t = candles_to_trades(bars, "X", bar="1min")
    >>> t.column("side").to_pylist(), t.column("size").to_pylist()
    ([-1, 1, -1, 1], [2.0, 2.0, 2.0, 2.0])
    """
    origin = Origin(str(source))
    df = _frame(candles, origin, tz)
    bar_td = pd.Timedelta(bar) if bar is not None else infer_bar(df["ts"])
    bar_ns = int(bar_td.as_unit("ns").value)
    if bar_ns <= 0:
        raise ValueError(f"bar must be positive, got {bar!r}")
    _check(df, bar_ns, origin)
    keep = np.flatnonzero(df["volume"].to_numpy() > 0)  # no volume, no trades
    df = df.iloc[keep]
    origin = origin.take(keep)
    prices, sides = _path(*(df[k].to_numpy() for k in ("open", "high", "low", "close")))
    offsets = np.array([0, bar_ns // 4, bar_ns // 2, 3 * bar_ns // 4], dtype=np.int64)
    ts = (df["ts"].to_numpy()[:, None] + offsets).ravel()
    size = np.repeat(df["volume"].to_numpy() / 4.0, 4)
    n = ts.size
    table = pa.table({
        "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        "market": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([market])),
        "price": pa.array(prices.ravel()),
        "size": pa.array(size),
        "side": pa.array(sides.ravel()),
    }).replace_schema_metadata({META_SYNTHETIC: b"ohlcv", META_BAR: str(bar_td).encode()})
    # trade row r comes from candle r // 4
    return conform_at(table, "trades", origin.take(np.repeat(np.arange(len(df)), 4)))


@reads_file
def read_candles(path, *, tz: str | None = None, ts_unit: str | None = None) -> pd.DataFrame:
    """Read an OHLCV candle file (CSV or Parquet) with columns ``ts,open,high,low,close,volume``.

    ``ts`` may be ISO text (naive ones need ``tz``), integer epochs (with ``ts_unit``) or a
    timestamp column.

    Returns
    -------
    pandas.DataFrame
        Columns ts (UTC), open, high, low, close, volume, in file order.

    Examples
    --------
    >>> bars = read_candles("btc_1m.csv", ts_unit="ms")                 # doctest: +SKIP
    >>> trades = candles_to_trades(bars, "BTC-USD")                     # doctest: +SKIP
    """
    _, suffix = strip_suffixes(path)
    if suffix in (".parquet", ".pq"):
        table, origin = pq.read_table(path), Origin(str(path))
    else:
        header = first_record(path)
        if not header:
            raise DataError(str(path), "empty file; expected a header line ts,open,high,low,close,volume")
        table, origin = read_csv_text(path, header), Origin(str(path), line_offset=2)
    missing = [c for c in CANDLE_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(str(path), f"missing candle columns {missing}; got {table.column_names}")
    ts = parse_timestamps(table.column("ts"), "ts", origin, ts_unit=ts_unit)
    ts = pd.Series(ts.to_pandas())
    if ts.dt.tz is None:
        if tz is None:
            raise origin.error("ts", None, "naive", "tz-aware timestamps (pass tz=)",
                               message="timezone-naive timestamps")
        ts = ts.dt.tz_localize(tz)
    out = pd.DataFrame({"ts": ts.dt.tz_convert("UTC")})
    for col in CANDLE_COLUMNS[1:]:
        out[col] = parse_float(table.column(col), col, origin).to_numpy()
    return out
