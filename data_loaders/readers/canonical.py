"""Readers of tables already in canonical form: CSV, Parquet, Feather / Arrow IPC, and
partitioned Parquet datasets.

The columns carry the canonical names of :mod:`data_loaders.schemas`; extra columns (such as
a hive partition key like ``date``) are ignored. Every reader ends with
:func:`~data_loaders.validate.conform`, so what comes back is a valid canonical table and
what cannot be converted raises a :class:`~data_loaders.validate.DataError` naming the file,
column and row (and the line, for CSV).

How values are read from text:

* ``ts``: ISO 8601 strings with a zone (``2022-11-07T10:00:00Z``, ``...+03:00``, ``... UTC``),
  naive ISO strings together with a ``tz`` argument, or integer epochs together with
  ``ts_unit``. Anything else (``yesterday``, ``now``) is an error saying the value cannot be
  parsed as a timestamp, with its row and line.
* durations (latency columns, funding ``interval``): ``"250ms"``, ``"1h"`` (anything
  :func:`pandas.to_timedelta` reads) or integer nanoseconds.
* ``up``: true/false or 1/0. Empty fields are nulls (allowed only in ``oracle_price``).

Examples
--------
>>> from data_loaders.readers.canonical import read_canonical_csv
>>> trades = read_canonical_csv("trades.csv", "trades")                # doctest: +SKIP
>>> day = read_canonical_dataset("trades/", "trades", start="2022-11-07",
...                              end="2022-11-08")                      # doctest: +SKIP
"""
from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.feather as feather
import pyarrow.parquet as pq

from ..schemas import schema_for
from ..validate import DataError
from ._common import (Origin, conform_at, first_record, in_range, parse_bool, parse_durations,
                      parse_float, parse_timestamps, read_csv_text, reads_file, to_utc)

log = logging.getLogger("data_loaders")

_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def coerce_columns(table: pa.Table, kind: str, origin: Origin, *, ts_unit: str | None = None) -> pa.Table:
    """Parse the canonical columns of ``table`` that arrive as text or integers.

    ``ts`` from ISO text or integer epochs (``ts_unit``), durations from text or integer ns,
    ``up`` from true/false text, numbers from text. Columns already of a suitable Arrow type
    are left for :func:`~data_loaders.validate.conform` to convert.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from data_loaders.readers._common import Origin
    >>> t = pa.table({"ts": ["2022-11-07T00:00:00Z"], "price": ["101.5"]})
    >>> coerce_columns(t, "oracle", Origin("x.csv")).column("price").type
    DataType(double)
    """
    for field in schema_for(kind):
        if field.name not in table.column_names:
            continue
        col = table.column(field.name)
        if field.name == "ts":
            new = parse_timestamps(col, "ts", origin, ts_unit=ts_unit)
        elif pa.types.is_duration(field.type):
            new = parse_durations(col, field.name, origin)
        elif pa.types.is_boolean(field.type):
            new = parse_bool(col, field.name, origin)
        elif pa.types.is_floating(field.type) or pa.types.is_integer(field.type):
            new = parse_float(col, field.name, origin)  # side too: conform checks +-1 exactly
        else:
            continue  # market / venue strings: conform dictionary-encodes them
        table = table.set_column(table.column_names.index(field.name), field.name, new)
    return table


# --------------------------------------------------------------------------- single files
@reads_file
def read_canonical_csv(path, kind: str, *, tz: str | None = None, ts_unit: str | None = None,
                       sort: bool = False, drop_duplicates: bool = False,
                       delimiter: str = ",", allow_extreme: bool = False) -> pa.Table:
    """Read a canonical ``kind`` table from a CSV file (``.csv`` or ``.csv.gz``).

    Parameters
    ----------
    path : str or Path
        The file; its first line names the columns.
    kind : {'trades', 'funding', 'oracle', 'latency', 'book'}
    tz : str, optional
        IANA zone (or ``"+03:00"``) of naive ISO timestamps; without it they are an error.
    ts_unit : {'s', 'ms', 'us', 'ns', 'auto'}, optional
        Unit of integer epoch timestamps; required if ``ts`` holds integers. ``'auto'`` detects
        it from the magnitude; a given unit that the magnitudes contradict (milliseconds read
        as ``'ns'`` would be 1970) is a DataError.
    sort, drop_duplicates : bool
        Opt-in repairs of :func:`~data_loaders.validate.conform`.
    delimiter : str
        Field separator.
    allow_extreme : bool
        Accept funding rates beyond the plausible bound (see :func:`~data_loaders.validate`).

    Returns
    -------
    pyarrow.Table
        The canonical table.

    Raises
    ------
    DataError
        Naming the file, column, data row (0-based) and file line (1-based).

    Examples
    --------
    >>> t = read_canonical_csv("latency.csv", "latency", tz="UTC")      # doctest: +SKIP
    """
    origin = Origin(str(path), line_offset=2)  # line 1 is the header
    header = first_record(path, delimiter)
    if not header:
        raise DataError(str(path), "empty file; expected a header line naming the columns")
    table = read_csv_text(path, header, delimiter=delimiter)
    table = coerce_columns(table, kind, origin, ts_unit=ts_unit)
    return conform_at(table, kind, origin, tz=tz, sort=sort, drop_duplicates=drop_duplicates,
                      allow_extreme=allow_extreme)


@reads_file
def read_canonical_parquet(path, kind: str, *, tz: str | None = None, ts_unit: str | None = None,
                           sort: bool = False, drop_duplicates: bool = False,
                           allow_extreme: bool = False) -> pa.Table:
    """Read a canonical ``kind`` table from one Parquet file.

    Parameters are those of :func:`read_canonical_csv`; ``tz`` and ``ts_unit`` matter only if
    the file stores naive timestamps or integer epochs. Errors name the file and the row.

    Examples
    --------
    >>> t = read_canonical_parquet("funding.parquet", "funding")        # doctest: +SKIP
    """
    origin = Origin(str(path))
    table = coerce_columns(pq.read_table(path), kind, origin, ts_unit=ts_unit)
    return conform_at(table, kind, origin, tz=tz, sort=sort, drop_duplicates=drop_duplicates,
                      allow_extreme=allow_extreme)


@reads_file
def read_canonical_feather(path, kind: str, *, tz: str | None = None, ts_unit: str | None = None,
                           sort: bool = False, drop_duplicates: bool = False,
                           allow_extreme: bool = False) -> pa.Table:
    """Read a canonical ``kind`` table from a Feather / Arrow IPC file (file or stream format).

    Parameters are those of :func:`read_canonical_csv`.

    Examples
    --------
    >>> t = read_canonical_feather("book.arrow", "book")                # doctest: +SKIP
    """
    origin = Origin(str(path))
    try:
        table = feather.read_table(path)
    except pa.ArrowInvalid as file_format_error:  # not the IPC *file* format: try the streaming one
        try:
            with pa.ipc.open_stream(path) as reader:
                table = reader.read_all()
        except pa.ArrowInvalid:
            raise file_format_error from None  # neither: the file format's complaint is the useful one
    table = coerce_columns(table, kind, origin, ts_unit=ts_unit)
    return conform_at(table, kind, origin, tz=tz, sort=sort, drop_duplicates=drop_duplicates,
                      allow_extreme=allow_extreme)


# --------------------------------------------------------------------------- partitioned datasets
@reads_file
def read_canonical_dataset(path, kind: str, *, start=None, end=None, tz: str | None = None,
                           ts_unit: str | None = None, filter: ds.Expression | None = None,
                           partitioning="hive", date_partition: str | None = "date",
                           sort: bool = False, drop_duplicates: bool = False,
                           allow_extreme: bool = False) -> pa.Table:
    """Read the rows with ``start <= ts < end`` of a partitioned Parquet dataset (a directory).

    Only that range is read: the bounds become a ``pyarrow.dataset`` filter on ``ts``, which
    skips row groups by their statistics, and, if the directories carry a UTC day key such as
    ``date=2022-11-07/``, partitions outside the days of the range are not opened at all.

    Parameters
    ----------
    path : str or Path
        The dataset's root directory.
    kind : {'trades', 'funding', 'oracle', 'latency', 'book'}
    start, end : str, datetime or Timestamp, optional
        Half-open range; naive bounds are UTC.
    tz, ts_unit : optional
        As in :func:`read_canonical_csv`, for naive or integer ``ts`` columns.
    filter : pyarrow.dataset.Expression, optional
        A further row filter, pushed down too (e.g. ``ds.field("market") == "BTC-USD"``).
    partitioning : str or pyarrow.dataset.Partitioning
        Passed to :func:`pyarrow.dataset.dataset`; ``"hive"`` reads ``key=value/`` directories.
        Partition keys that are not canonical columns are ignored.
    date_partition : str or None
        Name of a partition key holding the UTC day (``YYYY-MM-DD``) of the rows below it, used
        to prune partitions; None disables pruning by day.
    sort, drop_duplicates : bool
        Opt-in repairs of :func:`~data_loaders.validate.conform`.

    Returns
    -------
    pyarrow.Table
        The canonical table. Files are read in natural path order (``part-2`` before
        ``part-10``); rows must be in time order per market in that order unless ``sort=True``.
        Error rows are numbered within the rows read.

    Examples
    --------
    >>> day = read_canonical_dataset("trades/", "trades", start="2022-11-07",
    ...                              end="2022-11-08")                  # doctest: +SKIP
    """
    dataset = ds.dataset(path, format="parquet", partitioning=partitioning)
    origin = Origin(str(path))
    ts_type = dataset.schema.field("ts").type if "ts" in dataset.schema.names else None
    row_filter = _combine(_ts_filter(ts_type, start, end, tz, ts_unit, origin), filter)
    prune = _combine(row_filter, _day_filter(dataset.schema, date_partition, start, end, ts_type))
    fragments = sorted(dataset.get_fragments(filter=prune), key=_natural_key)
    _check_fragment_types(fragments, dataset.schema)
    subset = ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
    table = subset.to_table(filter=row_filter)
    table = coerce_columns(table, kind, origin, ts_unit=ts_unit)
    table = conform_at(table, kind, origin, tz=tz, sort=sort, drop_duplicates=drop_duplicates,
                       allow_extreme=allow_extreme)
    # exact bounds in UTC: the pushed-down filter is widened for naive or text timestamps
    return in_range(table, start, end)


def _family(t: pa.DataType) -> str:
    """The kind of values a column type holds, for comparing the files of a dataset."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    for name in ("timestamp", "duration", "boolean", "date", "null"):
        if getattr(pa.types, f"is_{name}")(t):
            return name
    return str(t)


def _check_fragment_types(fragments, schema: pa.Schema) -> None:
    """Every file of a dataset holds each column as the same kind of value as the first file.

    pyarrow takes the dataset's schema from its first file and casts every other file to it
    while scanning, so a file whose prices are text fails with ``ArrowInvalid: Failed to parse
    string 'x'``, naming neither the file nor the row, and one whose prices are booleans is
    silently read as 1.0. Checking the files' own schemas (their footers) first names the file,
    the column and both types; for text in a numeric column, also the first row that is not a
    number. Widths may differ (int32 and int64, float and double): that cast is lossless.
    """
    if len(fragments) < 2:
        return
    first = fragments[0].path
    for fragment in fragments:
        own = fragment.physical_schema
        for field in own:
            if field.name not in schema.names:
                continue
            want = schema.field(field.name).type
            if _family(field.type) == _family(want):
                continue
            row = value = None
            if _family(field.type) == "text" and _family(want) == "number":
                col = fragment.to_table(columns=[field.name]).column(field.name)
                numbers = pd.to_numeric(pd.Series(col.to_pylist(), dtype=object), errors="coerce")
                bad = np.flatnonzero(numbers.isna().to_numpy() & ~col.is_null().to_numpy(zero_copy_only=False))
                if bad.size:
                    row, value = int(bad[0]), col[int(bad[0])].as_py()
            raise DataError(fragment.path, f"holds {field.type} in this file of the dataset but {want} "
                            f"in its first file {first}", column=field.name, row=row, value=value,
                            expected=None if row is None else "a number")


def _combine(a, b):
    if a is None:
        return b
    return a if b is None else a & b


def _natural_key(fragment) -> list:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", fragment.path)]


def _ts_filter(ts_type, start, end, tz, ts_unit, origin):
    """A ``ts`` filter expression in the column's own type, or None if it cannot be pushed."""
    lo, hi = to_utc(start), to_utc(end)
    if ts_type is None or (lo is None and hi is None):
        return None
    if pa.types.is_timestamp(ts_type) and ts_type.tz is not None:
        def scalar(t):
            return pa.scalar(t.as_unit("ns").value, pa.timestamp("ns", tz="UTC"))
    elif pa.types.is_timestamp(ts_type):
        if tz is None:
            raise origin.error("ts", None, str(ts_type), "tz-aware timestamps (pass tz='UTC' or the "
                               "source's zone)", message="timezone-naive timestamps")
        # local wall times: widen by a day (more than any UTC offset); trimmed exactly after reading
        lo = None if lo is None else lo - pd.Timedelta(days=1)
        hi = None if hi is None else hi + pd.Timedelta(days=1)

        def scalar(t):
            return pa.scalar(t.tz_localize(None).as_unit("ns").value, pa.timestamp("ns"))
    elif pa.types.is_integer(ts_type) and ts_unit in _NS_PER:
        def scalar(t):  # ceil: an integer epoch e is in range iff e >= ceil(bound / unit)
            return pa.scalar(-(-t.as_unit("ns").value // _NS_PER[ts_unit]), pa.int64())
    else:
        log.info("%s: ts stored as %s; range applied after reading", origin.source, ts_type)
        return None
    return _range("ts", None if lo is None else scalar(lo), None if hi is None else scalar(hi))


def _range(field: str, lo, hi, *, hi_inclusive: bool = False):
    """``lo <= field < hi`` (``<= hi`` if ``hi_inclusive``); a None bound is open."""
    expr = None if lo is None else ds.field(field) >= lo
    if hi is not None:
        expr = _combine(expr, ds.field(field) <= hi if hi_inclusive else ds.field(field) < hi)
    return expr


def _day_filter(schema: pa.Schema, key, start, end, ts_type):
    """Prune ``key=YYYY-MM-DD`` partitions that cannot hold rows of ``[start, end)``."""
    if key is None or key not in schema.names or key == "ts":
        return None
    lo, hi = to_utc(start), to_utc(end)
    if lo is None and hi is None:
        return None
    naive = ts_type is not None and pa.types.is_timestamp(ts_type) and ts_type.tz is None
    slack = pd.Timedelta(days=1 if naive else 0)  # local-day partitions may straddle UTC days
    first = None if lo is None else (lo - slack).date()
    last = None if hi is None else (hi - pd.Timedelta(1, "ns") + slack).date()
    key_type = schema.field(key).type
    if pa.types.is_string(key_type) or pa.types.is_large_string(key_type):
        def scalar(d):
            return pa.scalar(d.isoformat())  # ISO days sort as strings
    elif pa.types.is_date(key_type):
        def scalar(d):
            return pa.scalar(d, key_type)
    else:
        return None
    return _range(key, None if first is None else scalar(first), None if last is None else scalar(last),
                  hi_inclusive=True)


def canonical_reader(fmt: str):
    """The reader function of canonical format ``fmt`` ('csv', 'parquet', 'feather', 'dataset').

    Examples
    --------
    >>> canonical_reader("parquet").__name__
    'read_canonical_parquet'
    """
    return {"csv": read_canonical_csv, "parquet": read_canonical_parquet,
            "feather": read_canonical_feather, "dataset": read_canonical_dataset}[fmt]
