"""OHLCV candles expanded into a synthetic trade path.

When a venue offers only candles, the engine still needs a tape. Each bar covering
``[t0, t1)``, of length ``L = t1 - t0``, becomes four trades, each of a quarter of the bar's
volume:

=====================  ==========================================================
time                   price
=====================  ==========================================================
``t0 + 1 ns``          open
``t0 + L // 4``        low if the bar closed up (close >= open), else high
``t0 + L // 2``        the other extreme
``t0 + 3 * L // 4``    close
=====================  ==========================================================

The open is one nanosecond (:data:`OPEN_OFFSET_NS`) *after* the bar start, not at it. This is
what makes the convention of backtrader and backtesting.py hold by construction: a decision on
the bar grid at ``t1`` sees the trades with ``ts <= t1``, which are the bars that closed by
``t1`` and not the open of the bar starting at ``t1``; a zero-latency market order sent at
``t1`` then fills against the next trade, which is that open.

Visiting the low first in an up bar (and the high first in a down bar) is the path that fits
the bar best: it reaches the close from the extreme nearest to it. Each trade's side is the sign
of its move from the previous synthetic price (+1 up, -1 down); the open, and any trade that
does not move the price, takes the bar's direction (+1 if close >= open). Bars with zero volume
had no trades and produce none. The last quarter of every bar is empty on purpose, so the next
bar's open never shares a timestamp with this bar's close.

Which end of the bar ``ts`` stamps is the ``label`` argument, never guessed from the data:
``"left"`` (the default) when ``ts`` is the bar start, as in Binance klines (open time) and
dYdX ``/v4/candles`` (``startedAt``); ``"right"`` when ``ts`` is the bar end (pandas
``resample(..., label="right")``), so each bar starts one bar before its ``ts``.

Bar lengths are fixed (``"1min"``, ``"1h"``, ``"1D"``, ``"7D"``: weeks are fixed too) or
calendar months (``"MS"``, ``"1M"``, ``"3MS"`` for quarters, ``"12MS"`` for years): a calendar
bar lasts from its start to the same day of the month ``n`` months later, which is the next
bar's start when no bar is missing, so February bars last 28 or 29 days. Without ``bar=``, bars
that all start on the first of a month at midnight are calendar bars; any others have the most
common spacing (:func:`infer_bar`). Calendar aliases are case-sensitive, as in pandas: ``"1M"``
is a month and ``"1m"`` a minute.

The result is marked as synthetic in its schema metadata, ``data_loaders.synthetic_trades =
ohlcv``, and ``data_loaders.synthetic_bar`` holds the bar length used (``"0 days 00:01:00"``
for a fixed bar, ``"MS"`` or ``"3MS"`` for calendar bars); :func:`~data_loaders.validate.conform`
keeps both.

Examples
--------
>>> import pandas as pd
>>> from data_loaders.readers.candles import candles_to_trades
>>> bars = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01"], utc=True),
...                      "open": [100.0, 103.0], "high": [104.0, 103.5], "low": [99.0, 101.0],
...                      "close": [103.0, 101.5], "volume": [2.0, 4.0]})
>>> t = candles_to_trades(bars, "BTC-USD")
>>> t.column("price").to_pylist()
[100.0, 99.0, 104.0, 103.0, 103.0, 103.5, 101.0, 101.5]
>>> (t.column("ts").to_pandas()[:4] - bars["ts"][0]).dt.total_seconds().tolist()  # after t0
[1e-09, 15.0, 30.0, 45.0]
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..validate import DataError
from ._common import (Origin, conform_at, first_record, parse_float, parse_timestamps,
                      read_csv_text, reads_file, strip_suffixes)

META_SYNTHETIC = b"data_loaders.synthetic_trades"
META_BAR = b"data_loaders.synthetic_bar"
CANDLE_COLUMNS = ("ts", "open", "high", "low", "close", "volume")

#: the open trades this long after the bar start, so a decision at the start (the previous bar's
#: end) does not see it and a zero-latency order sent then fills at it
OPEN_OFFSET_NS = 1
#: shortest bar whose four path points are strictly increasing (t0 + 1 ns < t0 + L // 4)
MIN_BAR_NS = 8 * OPEN_OFFSET_NS
#: what ``ts`` stamps: the bar start or the bar end
LABELS = ("left", "right")

#: months per unit of a calendar alias: M / MS / ME (month), Q (quarter), Y / A (year), with an
#: optional multiple in front and an optional anchor after (``QS-JAN``: any anchor is the bars' own)
_CALENDAR = re.compile(r"^(\d*)(M|Q|Y|A)(S|E)?(-[A-Z]{3})?$")
_MONTHS_PER = {"M": 1, "Q": 3, "Y": 12, "A": 12}


@dataclass(frozen=True)
class _Bar:
    """A bar length: ``ns`` nanoseconds, or ``months`` calendar months when that is > 0."""

    name: str  # as recorded in the metadata
    ns: int = 0
    months: int = 0

    def ends(self, starts: np.ndarray) -> np.ndarray:
        if not self.months:
            return starts + self.ns
        return _shift_months(starts, self.months)

    def starts(self, ends: np.ndarray) -> np.ndarray:
        if not self.months:
            return ends - self.ns
        return _shift_months(ends, -self.months)

    def __str__(self) -> str:
        return f"{self.months} calendar month{'s' * (self.months > 1)}" if self.months else str(
            pd.Timedelta(self.ns, "ns"))


def _shift_months(ns: np.ndarray, months: int) -> np.ndarray:
    index = pd.DatetimeIndex(ns.astype("datetime64[ns]"))
    return (index + pd.DateOffset(months=months)).as_unit("ns").asi8


def _months_bar(months: int) -> _Bar:
    return _Bar(name="MS" if months == 1 else f"{months}MS", months=months)


def _parse_bar(bar) -> _Bar:
    """``bar`` (str, Timedelta, timedelta or pandas offset) as a :class:`_Bar`."""
    if isinstance(bar, pd.offsets.BaseOffset) and not isinstance(bar, pd.offsets.Tick):
        bar = bar.freqstr  # MonthBegin(3) -> '3MS'
    if isinstance(bar, str):
        bar = bar.strip()
        bar = "1" + bar if bar[:1].isalpha() else bar  # 'D', 'W', 'h': one of them
        match = _CALENDAR.match(bar)
        if match:  # before Timedelta, which would read '1MS' as one millisecond
            n = int(match.group(1) or 1)
            if n <= 0:
                raise ValueError(f"bar must be positive, got {bar!r}")
            return _months_bar(n * _MONTHS_PER[match.group(2)])
    try:
        length = pd.Timedelta(bar)
    except (ValueError, TypeError):
        raise ValueError(f"bar must be a fixed length ('1min', '1h', '1D', '7D') or calendar months "
                         f"('MS', '1M', '3MS', 'QS', 'YS'), got {bar!r}") from None
    ns = int(length.as_unit("ns").value)
    if ns < MIN_BAR_NS:
        raise ValueError(f"bar must be at least {MIN_BAR_NS} ns (the four path points are strictly "
                         f"ordered), got {bar!r}")
    return _Bar(name=str(length), ns=ns)


def check_label(label) -> str:
    """``label`` if it is ``'left'`` or ``'right'``, else a ValueError naming both.

    Examples
    --------
    >>> check_label("right")
    'right'
    """
    if label not in LABELS:
        raise ValueError(f"label must be 'left' (ts is the bar start) or 'right' (ts is the bar end), "
                         f"got {label!r}")
    return label


def infer_bar(ts):
    """The bar length of candles stamped at ``ts``.

    Calendar months when every stamp is the first of a month at midnight (UTC for tz-aware
    stamps): ``MonthBegin(n)`` with ``n`` the most common number of months between stamps.
    Otherwise the most common spacing, as a Timedelta; the mode rather than the minimum, so
    that a missing bar (a gap) does not matter.

    Examples
    --------
    >>> import pandas as pd
    >>> infer_bar(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:03"]))
    Timedelta('0 days 00:01:00')
    >>> infer_bar(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]))
    <MonthBegin>
    """
    index = pd.DatetimeIndex(ts)
    if index.tz is not None:
        index = index.tz_convert("UTC")
    index = index.as_unit("ns")
    ns = index.asi8
    steps = np.diff(ns)
    steps = steps[steps > 0]
    if steps.size == 0:
        raise ValueError("cannot infer the bar length from fewer than two candles; pass bar=")
    if _all_month_starts(index):
        months = np.diff(index.year.to_numpy() * 12 + index.month.to_numpy())
        values, counts = np.unique(months[months > 0], return_counts=True)
        return pd.offsets.MonthBegin(int(values[np.argmax(counts)]))
    values, counts = np.unique(steps, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), "ns")


def _all_month_starts(index: pd.DatetimeIndex) -> bool:
    return bool(len(index)) and bool(((index.day == 1) & (index == index.normalize())).all())


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
    ts = candles["ts"]
    if ts.dtype == object or pd.api.types.is_string_dtype(ts.dtype):  # text: parsed with row errors
        ts = parse_timestamps(pa.array(ts.astype(object).tolist(), pa.string()), "ts", origin).to_pandas()
    ts = pd.DatetimeIndex(ts)
    if ts.tz is None:
        if tz is None:
            raise origin.error("ts", None, str(ts.dtype), "tz-aware timestamps (pass tz='UTC' or the "
                               "source's zone)", message="timezone-naive timestamps")
        ts = ts.tz_localize(tz)
    out = pd.DataFrame({"ts": ts.tz_convert("UTC").as_unit("ns").asi8})  # int ns: fast and exact
    for col in CANDLE_COLUMNS[1:]:
        out[col] = pd.to_numeric(candles[col]).to_numpy(dtype=float)
    return out


def _check(df: pd.DataFrame, start: np.ndarray, end: np.ndarray, bar: _Bar, origin: Origin) -> None:
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
    overlap = start[1:] < end[:-1]  # also catches stamps out of order
    if overlap.any():
        row = int(np.flatnonzero(overlap)[0]) + 1
        raise origin.error("ts", row, str(pd.Timestamp(int(df["ts"].iloc[row]), tz="UTC")),
                           f"candles in time order, at least one bar ({bar}) apart: the previous bar "
                           f"ends at {pd.Timestamp(int(end[row - 1]), tz='UTC')}")


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


def candles_to_trades(candles, market: str, bar=None, *, label: str | None = None,
                      tz: str | None = None, source: str = "candles") -> pa.Table:
    """Expand OHLCV candles into a synthetic canonical trades table (four trades per bar).

    Parameters
    ----------
    candles : pandas.DataFrame or pyarrow.Table
        Columns ``ts`` (or a ``ts`` index), ``open``, ``high``, ``low``, ``close``, ``volume``
        (base units), one market, in time order.
    market : str
        Market name of the trades.
    bar : str, Timedelta or pandas offset, optional
        Bar length: fixed (``"1min"``, ``"1h"``, ``"1D"``, ``"7D"``) or calendar months
        (``"MS"``, ``"1M"``, ``"3MS"``, ``"QS"``, ``"YS"``); inferred by :func:`infer_bar` if
        omitted.
    label : {'left', 'right'}, optional
        ``"left"``: ``ts`` is the bar start (Binance klines, dYdX candles); ``"right"``: ``ts``
        is the bar end, so each bar starts one bar before it. Default: the label
        :func:`read_candles` recorded in ``candles.attrs``, else ``"left"``.
    tz : str, optional
        Zone of naive ``ts`` values (naive timestamps are an error without it).
    source : str
        Name used in error messages.

    Returns
    -------
    pyarrow.Table
        Canonical trades at ``t0 + 1 ns``, ``t0 + L//4``, ``t0 + L//2``, ``t0 + 3*L//4`` of each
        bar ``[t0, t0 + L)`` (see the module docstring), with ``data_loaders.synthetic_trades =
        ohlcv`` and ``data_loaders.synthetic_bar`` in the metadata.

    Raises
    ------
    ValueError
        For an invalid ``label`` or ``bar``, or a ``label`` that contradicts the one recorded.
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
    >>> right = candles_to_trades(bars, "X", bar="1min", label="right")  # ts is the bar end
    >>> str(right.column("ts")[0].as_py())
    '2023-12-31 23:59:00.000000001+00:00'
    """
    label = _resolve_label(label, candles)
    origin = Origin(str(source))
    df = _frame(candles, origin, tz)
    spec = _parse_bar(bar if bar is not None else infer_bar(df["ts"]))
    stamps = df["ts"].to_numpy()
    start, end = (stamps, spec.ends(stamps)) if label == "left" else (spec.starts(stamps), stamps)
    _check(df, start, end, spec, origin)
    keep = np.flatnonzero(df["volume"].to_numpy() > 0)  # no volume, no trades
    df, start, length = df.iloc[keep], start[keep], (end - start)[keep]
    origin = origin.take(keep)
    prices, sides = _path(*(df[k].to_numpy() for k in ("open", "high", "low", "close")))
    offsets = np.column_stack([np.full(len(df), OPEN_OFFSET_NS, np.int64), length // 4, length // 2,
                               3 * length // 4])
    ts = (start[:, None] + offsets).ravel()
    size = np.repeat(df["volume"].to_numpy() / 4.0, 4)
    n = ts.size
    table = pa.table({
        "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        "market": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([market])),
        "price": pa.array(prices.ravel()),
        "size": pa.array(size),
        "side": pa.array(sides.ravel()),
    }).replace_schema_metadata({META_SYNTHETIC: b"ohlcv", META_BAR: spec.name.encode()})
    # trade row r comes from candle r // 4
    return conform_at(table, "trades", origin.take(np.repeat(np.arange(len(df)), 4)))


def _resolve_label(label, candles) -> str:
    """``label``, or the one :func:`read_candles` recorded, or ``"left"``; never from the data."""
    recorded = getattr(candles, "attrs", {}).get("label") if isinstance(candles, pd.DataFrame) else None
    if label is None:
        return check_label(recorded or "left")
    check_label(label)
    if recorded is not None and recorded != label:
        raise ValueError(f"label={label!r} contradicts label={recorded!r} with which these candles were "
                         "read (DataFrame.attrs['label'])")
    return label


@reads_file
def read_candles(path, *, label: str = "left", tz: str | None = None,
                 ts_unit: str | None = None) -> pd.DataFrame:
    """Read an OHLCV candle file (CSV or Parquet) with columns ``ts,open,high,low,close,volume``.

    ``ts`` may be ISO text (naive ones need ``tz``), integer epochs (with ``ts_unit``) or a
    timestamp column.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq``.
    label : {'left', 'right'}
        What ``ts`` stamps: the bar start (default; Binance klines' open time) or the bar end.
        Recorded in ``attrs["label"]`` for :func:`candles_to_trades`; ``ts`` is returned as in
        the file.
    tz : str, optional
        Zone of naive ISO timestamps.
    ts_unit : {'s', 'ms', 'us', 'ns'}, optional
        Unit of integer epoch timestamps.

    Returns
    -------
    pandas.DataFrame
        Columns ts (UTC), open, high, low, close, volume, in file order.

    Examples
    --------
    >>> bars = read_candles("btc_1m.csv", ts_unit="ms")                 # doctest: +SKIP
    >>> trades = candles_to_trades(bars, "BTC-USD")                     # doctest: +SKIP
    """
    check_label(label)
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
    out.attrs["label"] = label
    return out
