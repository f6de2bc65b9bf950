"""Conversion to the canonical schemas and the checks every table must pass.

Two entry points:

* :func:`validate` checks that a table already *is* canonical (types, nulls, value ranges,
  timestamps non-decreasing per market or venue) and plausible (timestamps in a sane window,
  funding rates within a venue-plausible bound, one funding row per market and time; see
  :mod:`data_loaders.plausible`) and raises :class:`DataError` otherwise.
* :func:`conform` converts a DataFrame or Arrow table losslessly into the canonical schema
  (numeric widening, dictionary encoding, timestamp unit and zone), applies the opt-in
  ``sort`` / ``drop_duplicates`` repairs, and then validates.

Nothing is dropped, clipped or re-ordered unless asked; a repair that was asked for reports how
many rows it touched (log record on the ``data_loaders`` logger and table metadata).

Examples
--------
>>> import pandas as pd
>>> from data_loaders import conform
>>> df = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True), "market": ["BTC-USD"] * 2,
...                    "price": [100.0, -1.0], "size": [1.0, 1.0], "side": [1, -1]})
>>> conform(df, "trades")
Traceback (most recent call last):
...
data_loaders.validate.DataError: DataFrame: column 'price', row 1: value -1.0; expected a finite price > 0
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import plausible
from .schemas import DEFAULT_FUNDING_INTERVAL_NS, GROUP_COLUMN, schema_for

log = logging.getLogger("data_loaders")

#: metadata keys written by the opt-in repairs
META_SORTED = b"data_loaders.sorted_rows"
META_DEDUPED = b"data_loaders.dropped_duplicates"
#: metadata key of the epoch unit a reader used for integer timestamps (given or detected)
META_EPOCH_UNIT = b"data_loaders.epoch_unit"

#: longest duration a table may hold (2^53 ns, about 104 days): the engine scales latencies in
#: float64, which counts nanoseconds exactly only up to 2^53, and adds them to int64 times
MAX_DURATION_NS = 2**53
#: what a duration must be, in error messages
DURATION_RANGE = "a duration from 0 to 2^53 ns (about 104 days)"


class DataError(ValueError):
    """A table that does not meet its canonical schema.

    The message names the source (file path or ``"DataFrame"``), the column, the first
    offending row (0-based data row; for text files also the 1-based file line) and value, and
    what was expected. The parts are also attributes for programmatic use.
    """

    def __init__(self, source, message=None, *, column=None, row=None, value=None,
                 expected=None, line=None):
        self.source = str(source)
        self.column = column
        self.row = row
        self.value = value
        self.expected = expected
        self.line = line
        parts = []
        if column is not None:
            parts.append(f"column {column!r}")
        if row is not None:
            parts.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
        where = ", ".join(parts)
        text = message or ""
        if value is not None or expected is not None:
            detail = []
            if value is not None:
                detail.append(f"value {value!r}" if isinstance(value, str) else f"value {value}")
            if expected is not None:
                detail.append(f"expected {expected}")
            text = "; ".join(([text] if text else []) + detail)
        super().__init__(f"{self.source}: " + (f"{where}: " if where else "") + text)


@dataclass(frozen=True)
class _Where:
    """Where a table came from, for error messages."""

    source: str = "DataFrame"
    line_offset: int | None = None  # file line of data row 0 (header lines included), if any

    def error(self, column, row, value, expected, message=None):
        line = None if (row is None or self.line_offset is None) else row + self.line_offset
        return DataError(self.source, message, column=column, row=row, value=value,
                         expected=expected, line=line)


# --------------------------------------------------------------------------- validation rules
# (column, predicate over a float64 numpy array -> ok mask, expectation text)
def _finite_pos(x):
    return np.isfinite(x) & (x > 0)


def _finite_nonneg(x):
    return np.isfinite(x) & (x >= 0)


def _duration(x):
    return (x >= 0) & (x <= MAX_DURATION_NS)


_VALUE_RULES = {
    "trades": [
        ("price", _finite_pos, "a finite price > 0"),
        ("size", _finite_pos, "a finite size > 0"),
        ("side", lambda x: (x == 1) | (x == -1), "side +1 (buyer-initiated) or -1 (seller-initiated)"),
    ],
    "funding": [
        ("rate", lambda x: np.isfinite(x) & (np.abs(x) < 1), "a finite funding rate with |rate| < 1"),
        ("interval", lambda x: (x > 0) & (x <= MAX_DURATION_NS), "a funding interval > 0 and at most 2^53 ns"),
        ("oracle_price", lambda x: np.isnan(x) | _finite_pos(x), "null or a finite oracle price > 0"),
    ],
    "oracle": [
        ("price", _finite_pos, "a finite oracle price > 0"),
    ],
    "latency": [
        ("order_latency", _duration, DURATION_RANGE),
        ("ack_latency", _duration, DURATION_RANGE),
        ("finality", _duration, DURATION_RANGE),
        ("gas_fee", _finite_nonneg, "a finite gas fee >= 0"),
    ],
    "book": [
        ("bid", _finite_pos, "a finite bid price > 0"),
        ("bid_size", _finite_nonneg, "a finite bid size >= 0"),
        ("ask", _finite_pos, "a finite ask price > 0"),
        ("ask_size", _finite_nonneg, "a finite ask size >= 0"),
    ],
    "book_levels": [
        ("side", lambda x: (x == 1) | (x == -1), "side +1 (bid) or -1 (ask)"),
        ("price", _finite_pos, "a finite price > 0"),
        ("size", _finite_nonneg, "a finite size >= 0 (0 removes the level)"),
    ],
}


def _as_float(col: pa.ChunkedArray) -> np.ndarray:
    """Numeric column as float64 numpy, nulls as NaN; durations as int64 ns (nulls as 0).

    Durations stay integers: float64 holds nanoseconds exactly only up to 2^53, and the cast
    to it fails above (the range rule is exact on integers).
    """
    if pa.types.is_duration(col.type):
        return col.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    return col.cast(pa.float64()).to_numpy(zero_copy_only=False)


def _display(col: pa.ChunkedArray, row: int):
    value = col[row].as_py()
    if isinstance(value, pd.Timedelta) or hasattr(value, "total_seconds"):
        return str(value)
    return value


def _check_types(table: pa.Table, kind: str, where: _Where) -> None:
    schema = schema_for(kind)
    for field in schema:
        if field.name not in table.column_names:
            raise where.error(field.name, None, None, f"a column {field.name!r} of type {field.type}",
                              message=f"missing required column for a {kind} table")
        got = table.schema.field(field.name).type
        if got != field.type:
            raise where.error(field.name, None, str(got), f"type {field.type} (use conform() to convert)",
                              message="wrong type")


def _check_nulls(table: pa.Table, kind: str, where: _Where) -> None:
    for field in schema_for(kind):
        col = table.column(field.name)
        if field.nullable or col.null_count == 0:
            continue
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise where.error(field.name, row, None, f"a non-null {field.name}", message="null value")


def _check_values(table: pa.Table, kind: str, where: _Where) -> None:
    for name, rule, expected in _VALUE_RULES[kind]:
        col = table.column(name)
        with np.errstate(invalid="ignore"):
            bad = ~rule(_as_float(col))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise where.error(name, row, _display(col, row), expected)
    if kind == "book":
        bid, ask = _as_float(table.column("bid")), _as_float(table.column("ask"))
        # a side of size 0 is empty (docs/simulation.md): its price is no quote and cannot cross
        shown = (_as_float(table.column("bid_size")) > 0) & (_as_float(table.column("ask_size")) > 0)
        bad = shown & (bid >= ask)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise where.error("ask", row, float(ask[row]), f"ask > bid ({float(bid[row])!r}) when both sides have size > 0",
                              message="crossed book")


def _check_crossed_levels(table: pa.Table, where: _Where) -> None:
    """The book rebuilt from level rows is not crossed at the end of any timestamp."""
    from . import book  # numba: imported only when there are level rows to replay

    found = book.first_crossed(table)
    if found is None:
        return
    row, bid, ask = found
    ts = pd.Timestamp(int(_ts_int(table)[row]), tz="UTC")
    market = table.column("market")[row].as_py()
    side = "bid" if table.column("side")[row].as_py() > 0 else "ask"
    # prices in full (repr): 11657.08 and 11657.07 must not both read 11657.1
    raise where.error("price", row, float(table.column("price")[row].as_py()),
                      f"best bid < best ask after the rows of each timestamp (the {market} book rebuilt "
                      f"after the rows of {ts} has best bid {bid!r} >= best ask {ask!r}; this {side} row "
                      "sets the crossing price)", message="crossed book")


def _group_codes(table: pa.Table, column: str) -> np.ndarray:
    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return pc.dictionary_encode(col).combine_chunks().indices.to_numpy(zero_copy_only=False)


def _ts_int(table: pa.Table) -> np.ndarray:
    return table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)


def first_out_of_order(ts: np.ndarray, groups: np.ndarray) -> int | None:
    """Row of the first timestamp smaller than the previous one of its group, or None."""
    if len(ts) < 2:
        return None
    order = np.lexsort((np.arange(len(ts)), groups))  # by group, then row: stable
    t, g = ts[order], groups[order]
    bad = (t[1:] < t[:-1]) & (g[1:] == g[:-1])
    if not bad.any():
        return None
    return int(order[1:][bad].min())


def _check_window(ts: np.ndarray, where: _Where) -> None:
    """Every timestamp in the plausible window (:func:`data_loaders.plausible.time_window`)."""
    lo, hi = plausible.window_ns("ns")
    row = plausible.first_outside(ts, lo, hi)
    if row is not None:
        value = int(ts[row])
        raise where.error("ts", row, str(pd.Timestamp(value, tz="UTC")),
                          plausible.window_text() + plausible.unit_hint(value),
                          message="implausible timestamp")


def _check_funding(table: pa.Table, ts: np.ndarray, codes: np.ndarray, where: _Where,
                   allow_extreme: bool) -> None:
    """One row per (market, ts), and rates within the plausible bound unless allowed."""
    repeat = plausible.first_repeated_key(ts, codes)
    if repeat is not None:
        row, earlier = repeat
        raise where.error("ts", row, str(pd.Timestamp(int(ts[row]), tz="UTC")),
                          f"one funding row per market and time (row {earlier} has the same market "
                          f"{table.column('market')[row].as_py()!r} and ts; it would be paid twice)",
                          message="duplicate funding row")
    if allow_extreme:
        return
    rate = _as_float(table.column("rate"))
    interval = _as_float(table.column("interval"))
    row = plausible.first_extreme_rate(rate, interval)
    if row is not None:
        bound = float(plausible.funding_rate_bounds(interval[row:row + 1])[0])
        raise where.error("rate", row, float(rate[row]),
                          f"|rate| <= {bound:g} (data_loaders.plausible.MAX_FUNDING_RATE_PER_HOUR = "
                          f"{plausible.MAX_FUNDING_RATE_PER_HOUR:g} per hour of the row's interval "
                          f"{_display(table.column('interval'), row)}; pass allow_extreme=True for "
                          "deliberate stress data)", message="implausible funding rate")


def _check_order(table: pa.Table, kind: str, where: _Where, ts: np.ndarray, codes: np.ndarray) -> None:
    group = GROUP_COLUMN[kind]
    row = first_out_of_order(ts, codes)
    if row is None:
        return
    same = np.flatnonzero((codes[:row] == codes[row]))
    prev = pd.Timestamp(int(ts[same[-1]]), tz="UTC")
    label = table.column(group)[row].as_py()
    raise where.error(
        "ts", row, str(pd.Timestamp(int(ts[row]), tz="UTC")),
        f"timestamps non-decreasing per {group} ({label!r} had {prev} before; pass sort=True to sort)",
    )


def validate(table: pa.Table, kind: str, source: str = "DataFrame", *,
             line_offset: int | None = None, allow_extreme: bool = False) -> pa.Table:
    """Check that ``table`` is a valid canonical ``kind`` table and return it unchanged.

    Parameters
    ----------
    table : pyarrow.Table
        The table to check; it must already have the canonical types (see :func:`conform`).
    kind : {'trades', 'funding', 'oracle', 'latency', 'book', 'book_levels'}
    source : str
        Where the table came from, used in error messages (a file path or ``"DataFrame"``).
    line_offset : int, optional
        For text files: the 1-based file line of data row 0, so errors also name the line.
    allow_extreme : bool
        Accept funding rates beyond the plausible bound
        (:data:`data_loaders.plausible.MAX_FUNDING_RATE_PER_HOUR` per hour of the row's
        interval): stress data made extreme on purpose. ``|rate| < 1`` still holds.

    Returns
    -------
    pyarrow.Table
        ``table`` itself.

    Raises
    ------
    DataError
        On the first rule broken: a missing column or wrong type, a null, a value out of range
        (prices and sizes finite and > 0, side in {+1, -1}, ``|rate| < 1``, durations >= 0), a
        crossed book (a ``book`` row with ``bid >= ask`` while both sizes are > 0; for
        ``book_levels``, best bid >= best ask in the book rebuilt after a market's rows of a
        timestamp: see :mod:`data_loaders.book`), a
        timestamp outside the plausible window (:func:`data_loaders.plausible.time_window`:
        2009-01-01 to a year from now), a timestamp smaller than the previous one of the same
        market (venue for latency traces), two funding rows of one market at one time, or a
        funding rate beyond the plausible bound (unless ``allow_extreme``).

    Examples
    --------
    >>> from data_loaders import validate, sample
    >>> t = validate(sample().funding, "funding")
    """
    if not isinstance(table, pa.Table):
        raise TypeError(f"validate() expects a pyarrow.Table, got {type(table).__name__}; use conform()")
    where = _Where(str(source), line_offset)
    _check_types(table, kind, where)
    _check_nulls(table, kind, where)
    _check_values(table, kind, where)
    ts = _ts_int(table)
    _check_window(ts, where)
    codes = _group_codes(table, GROUP_COLUMN[kind])
    _check_order(table, kind, where, ts, codes)
    if kind == "book_levels":
        _check_crossed_levels(table, where)  # the replay needs rows in time order per market
    if kind == "funding":
        _check_funding(table, ts, codes, where, allow_extreme)
    return table


# --------------------------------------------------------------------------- conversion
_DEFAULTS = {
    ("funding", "interval"): lambda n: pa.array(np.full(n, DEFAULT_FUNDING_INTERVAL_NS, "int64")).cast(pa.duration("ns")),
    ("funding", "oracle_price"): lambda n: pa.nulls(n, pa.float64()),
    ("latency", "gas_fee"): lambda n: pa.array(np.zeros(n)),
    ("latency", "up"): lambda n: pa.array(np.ones(n, dtype=bool)),
}


def _cast_ts(col: pa.ChunkedArray, name: str, where: _Where, assume_tz: str | None) -> pa.ChunkedArray:
    t = col.type
    if not pa.types.is_timestamp(t):
        raise where.error(name, None, str(t), "timestamps (tz-aware, converted to timestamp[ns, tz=UTC])",
                          message="wrong type")
    if t.tz is None:
        if assume_tz is None:
            raise where.error(name, None, str(t), "tz-aware timestamps (pass tz='UTC' or the source's zone)",
                              message="timezone-naive timestamps")
        if t.unit != "ns":
            try:
                col = col.cast(pa.timestamp("ns"))
            except pa.ArrowInvalid as exc:
                raise unrepresentable(col, name, where, exc) from None
        try:
            col = pc.assume_timezone(col, assume_tz, ambiguous="raise", nonexistent="raise")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise _local_time_error(col, name, where, assume_tz, exc) from None
    try:
        return col.cast(pa.timestamp("ns", tz="UTC"))
    except pa.ArrowInvalid as exc:
        raise unrepresentable(col, name, where, exc) from None


def unrepresentable(col, name: str, where, exc) -> DataError:
    """The error for a timestamp column that nanoseconds since 1970 cannot hold (year 2300,
    1500), naming its first such row. ``where`` is anything with an ``error`` method taking
    ``(column, row, value, expected, message=)`` (a reader's ``Origin`` too)."""
    unit = col.type.unit
    counts = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
    limit = np.iinfo(np.int64).max // plausible.NS_PER_UNIT[unit]
    bad = np.abs(counts.astype(np.float64)) > limit  # nulls (NaN) compare False
    if not bad.any():
        return where.error(name, None, str(col.type), "timestamps representable in ns since 1970",
                           message=str(exc))
    row = int(np.argmax(bad))
    return where.error(name, row, str(np.datetime64(int(counts[row]), unit)), plausible.window_text(),
                       message="implausible timestamp")


def _local_time_error(col, name, where, tz, exc) -> DataError:
    """Name the first wall time that ``tz`` skips (DST gap) or repeats (DST fold)."""
    values = col.to_pandas()
    try:
        local = pd.DatetimeIndex(values).tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    except Exception:  # the zone itself is unknown
        return where.error(name, None, tz, "a known time zone (IANA name such as 'UTC', or '+03:00')",
                           message=str(exc).splitlines()[0])
    bad = np.flatnonzero(local.isna() & values.notna().to_numpy())
    row = int(bad[0]) if bad.size else None
    return where.error(name, row, None if row is None else str(values.iloc[row]),
                       f"a wall time that exists exactly once in {tz} (not in a DST gap or fold)",
                       message=str(exc).splitlines()[0] if row is None else None)


#: what a side column holds, by kind (trades: the aggressor; book levels: the book side)
_SIDE_TEXT = {"book_levels": "side +1 (bid) or -1 (ask)"}


def _cast_numeric(col, name, target, where, kind=None):
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            return pc.cast(col, target)
        except pa.ArrowInvalid:
            bad = [i for i, v in enumerate(col.to_pylist()) if v is not None and not _parses(v)]
            row = bad[0] if bad else None
            raise where.error(name, row, None if row is None else col[row].as_py(), f"a number ({target})") from None
    if pa.types.is_boolean(t) and target != pa.bool_():  # True would pass as a price of 1.0, a side of +1
        raise where.error(name, None, str(t), f"a numeric column ({target})", message="wrong type")
    if target == pa.int8():  # side: any integer/float whose values are exactly +-1
        x = _as_float(col)
        ok = (x == 1) | (x == -1) | np.isnan(x)
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise where.error(name, row, _display(col, row),
                              _SIDE_TEXT.get(kind, "side +1 (buyer-initiated) or -1 (seller-initiated)"))
        return pc.cast(col, pa.int8(), safe=False)
    if target == pa.bool_():
        if pa.types.is_boolean(t):
            return col
        if pa.types.is_integer(t):
            x = _as_float(col)
            ok = (x == 0) | (x == 1) | np.isnan(x)
            if not ok.all():
                row = int(np.flatnonzero(~ok)[0])
                raise where.error(name, row, _display(col, row), "a boolean (true/false or 1/0)")
            return pc.not_equal(col, 0)
        raise where.error(name, None, str(t), "a boolean column", message="wrong type")
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_null(t)):
        raise where.error(name, None, str(t), f"a numeric column ({target})", message="wrong type")
    return pc.cast(col, target, safe=False)


def _parses(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _cast_duration(col, name, where):
    t = col.type
    if pa.types.is_duration(t):
        return col.cast(pa.duration("ns"))
    raise where.error(name, None, str(t), "a duration (e.g. pandas Timedelta, or '250ms' in text files)",
                      message="wrong type")


def _cast_string(col, name, where):
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise where.error(name, None, str(t), "strings (market or venue names)", message="wrong type")
    return pc.dictionary_encode(col.cast(pa.string())).cast(pa.dictionary(pa.int32(), pa.string()))


def _to_table(data, where: _Where) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.DataFrame):
        frame = data
        if frame.index.name is not None and frame.index.name not in frame.columns:
            frame = frame.reset_index()  # a named index (e.g. ts) is a column the user meant
        try:
            return pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(where.source, f"cannot convert DataFrame to Arrow: {exc}") from None
    raise TypeError(f"expected a pandas.DataFrame or pyarrow.Table, got {type(data).__name__}")


def _repair(table: pa.Table, kind: str, where: _Where, sort: bool, drop_duplicates: bool) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    if drop_duplicates and table.num_rows:
        df = table.to_pandas()
        keep = ~df.duplicated(keep="first").to_numpy()
        dropped = int((~keep).sum())
        if dropped:
            table = table.filter(pa.array(keep))
        log.info("%s: dropped %d exact duplicate rows", where.source, dropped)
        meta[META_DEDUPED] = str(dropped).encode()
    if sort and table.num_rows:
        ts = _ts_int(table)
        order = np.argsort(ts, kind="stable")
        moved = int((order != np.arange(len(order))).sum())
        if moved:
            table = table.take(pa.array(order))
        log.info("%s: sorted by ts, %d rows moved", where.source, moved)
        meta[META_SORTED] = str(moved).encode()
    return table.replace_schema_metadata(meta or None)


def conform(data, kind: str, source: str = "DataFrame", *, tz: str | None = None,
            sort: bool = False, drop_duplicates: bool = False,
            line_offset: int | None = None, allow_extreme: bool = False) -> pa.Table:
    """Convert ``data`` to the canonical ``kind`` schema, then :func:`validate` it.

    Parameters
    ----------
    data : pandas.DataFrame or pyarrow.Table
        Canonical column names; compatible types are converted losslessly (integers to float,
        strings to dictionary, timestamp units and zones to ns UTC, integer 0/1 to bool). A named
        DataFrame index (e.g. ``ts``) is used as a column. Extra columns are not carried over.
    kind : {'trades', 'funding', 'oracle', 'latency', 'book', 'book_levels'}
    source : str
        Name for error messages (file path, or ``"DataFrame"``).
    tz : str, optional
        Zone in which *naive* timestamps are expressed (e.g. ``"UTC"``, ``"Etc/GMT-3"``). Without
        it, naive timestamps are an error.
    sort : bool
        Stable-sort rows by ``ts`` (opt-in; the number of rows moved is logged and stored in the
        table metadata under ``data_loaders.sorted_rows``).
    drop_duplicates : bool
        Drop exact duplicate rows (opt-in; count logged and stored under
        ``data_loaders.dropped_duplicates``).
    line_offset : int, optional
        File line of data row 0, for text files.
    allow_extreme : bool
        Accept funding rates beyond the plausible bound (see :func:`validate`).

    Returns
    -------
    pyarrow.Table
        The canonical table. Optional columns take their defaults when absent: funding
        ``interval`` 1 h and ``oracle_price`` null; latency ``up`` true and ``gas_fee`` 0.

    Raises
    ------
    DataError
        Naming the source, column, first offending row and value, and what was expected.
    """
    where = _Where(str(source), line_offset)
    table = _to_table(data, where)
    schema = schema_for(kind)
    n = table.num_rows
    columns = []
    for field in schema:
        name = field.name
        if name not in table.column_names:
            default = _DEFAULTS.get((kind, name))
            if default is None:
                raise where.error(name, None, None, f"a column {name!r} ({field.type}); got columns "
                                  f"{table.column_names}", message=f"missing required column for a {kind} table")
            columns.append(pa.chunked_array([default(n)], type=None).cast(field.type))
            continue
        col = table.column(name)
        if name == "ts":
            col = _cast_ts(col, name, where, tz)
        elif field.type == pa.dictionary(pa.int32(), pa.string()):
            col = _cast_string(col, name, where)
        elif pa.types.is_duration(field.type):
            col = _cast_duration(col, name, where)
        else:
            col = _cast_numeric(col, name, field.type, where, kind)
        columns.append(col)
    out = pa.Table.from_arrays(columns, schema=schema.with_metadata(table.schema.metadata))
    _check_nulls(out, kind, where)  # before repairs, so rows are numbered as in the source
    if not (sort or drop_duplicates):
        return validate(out, kind, where.source, line_offset=line_offset, allow_extreme=allow_extreme)
    _check_values(out, kind, where)
    _check_window(_ts_int(out), where)  # before repairs too: rows named as in the source
    out = _repair(out, kind, where, sort, drop_duplicates)
    return validate(out, kind, where.source, line_offset=None, allow_extreme=allow_extreme)
