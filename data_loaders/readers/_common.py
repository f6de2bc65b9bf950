"""Helpers shared by the format readers.

Text formats deliver every value as a string; these helpers turn string columns into numbers,
booleans, timestamps and durations and, when a value does not parse, raise a
:class:`~data_loaders.validate.DataError` that names the source, the column, the row and (for
text files) the file line. :class:`Origin` remembers how the rows of a table map back to the
rows of the source, so that errors raised after rows were dropped or re-ordered (or, for JSON,
merged from several pages) still point at the right place.
"""
from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .. import plausible
from ..validate import (DURATION_RANGE, MAX_DURATION_NS, META_DEDUPED, META_SORTED, DataError, conform,
                        unrepresentable)

log = logging.getLogger("data_loaders")

TS_UTC = pa.timestamp("ns", tz="UTC")

#: an ISO timestamp that states its zone: ``Z``, ``UTC`` or a numeric offset after the time
_ZONED = r"(?i)\d[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|UTC|[+-]\d{2}(:?\d{2})?)$"
_INTEGER = r"^\s*[+-]?\d+\s*$"
#: ISO text starts with a date (pandas would also read words such as 'now' and 'today')
_ISO_DATE = r"^\d{4}-?\d{2}-?\d{2}([T ]|$)"
_UTC_WORD = r"(?i)\s*UTC$"


# --------------------------------------------------------------------------- where rows come from
@dataclass(frozen=True, eq=False)
class Origin:
    """Where the rows of a table being read came from, for error messages.

    ``rows`` maps a table row to the row of the source it came from (None: the same row), so
    that a reader may drop or re-order rows and still report source positions. For JSON inputs
    made of several pages, ``pages`` and ``items`` give the page and the index inside the page
    of every source row.
    """

    source: str
    line_offset: int | None = None  # file line of source row 0, text files only
    rows: np.ndarray | None = None
    pages: np.ndarray | None = None
    items: np.ndarray | None = None

    @property
    def is_identity(self) -> bool:
        return self.rows is None and self.pages is None

    def take(self, index) -> "Origin":
        """The origin of ``table.take(index)``."""
        index = np.asarray(index, dtype=np.int64)
        rows = index if self.rows is None else self.rows[index]
        return replace(self, rows=rows)

    def locate(self, row: int) -> tuple[str, int, int | None]:
        """(source name, source row, file line) of table row ``row``."""
        src_row = int(row if self.rows is None else self.rows[row])
        if self.pages is None:
            line = None if self.line_offset is None else src_row + self.line_offset
            return self.source, src_row, line
        name = self.source if self.pages.max(initial=0) == 0 else f"{self.source} (page {self.pages[src_row]})"
        return name, int(self.items[src_row]), None

    def error(self, column, row, value=None, expected=None, message=None) -> DataError:
        if row is None:
            return DataError(self.source, message, column=column, value=value, expected=expected)
        source, src_row, line = self.locate(row)
        return DataError(source, message, column=column, row=src_row, value=value,
                         expected=expected, line=line)


def conform_at(table: pa.Table, kind: str, origin: Origin, **kwargs) -> pa.Table:
    """:func:`conform` whose errors name rows of the source described by ``origin``."""
    if origin.is_identity:
        return conform(table, kind, origin.source, line_offset=origin.line_offset, **kwargs)
    try:
        return conform(table, kind, origin.source, **kwargs)
    except DataError as exc:
        if exc.row is None:
            raise
        raise _rebase(exc, origin) from None


def _rebase(exc: DataError, origin: Origin) -> DataError:
    """The same error, pointing at the source row instead of the table row."""
    parts = ([f"column {exc.column!r}"] if exc.column is not None else []) + [f"row {exc.row}"]
    prefix = f"{exc.source}: {', '.join(parts)}: "
    text = str(exc)
    text = text[len(prefix):] if text.startswith(prefix) else text
    source, row, line = origin.locate(exc.row)
    new = DataError(source, text, column=exc.column, row=row, line=line)
    new.value, new.expected = exc.value, exc.expected
    return new


# --------------------------------------------------------------------------- unreadable files
#: what decompressors, decoders and pyarrow raise when the bytes of a file are broken
_BROKEN = (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError, csv.Error,
           pa.ArrowInvalid, pa.ArrowNotImplementedError)
#: OSErrors about the path rather than the bytes: they keep their own type
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
#: bytes read at a time while looking for where a file breaks
_CHUNK = 1 << 20
#: the two bytes every gzip member starts with (RFC 1952)
_GZIP_MAGIC = b"\x1f\x8b"
#: bytes of a file quoted when it is not what its name says
_PREVIEW = 16

_KINDS = {".parquet": "Parquet", ".pq": "Parquet", ".feather": "Feather / Arrow IPC",
          ".arrow": "Feather / Arrow IPC", ".ipc": "Feather / Arrow IPC", ".json": "JSON",
          ".csv": "CSV"}


def reads_file(reader):
    """Decorator: a reader whose first argument is a path reports unreadable bytes as DataError.

    A truncated ``.gz``, a cut-off Feather file, random bytes named ``.parquet``, an empty file
    or binary data named ``.csv`` make the decompressor, the text decoder or pyarrow raise
    their own errors (``OSError: Truncated compressed stream``, ``ArrowInvalid``), which name
    neither the file nor the place. Every reader that opens files is wrapped by this one
    function, which turns those errors into a :class:`DataError` naming the file, what is
    wrong and, where it can be found, the line where the readable part ends. Errors about the
    path itself (missing file, permissions) keep their type; a DataError raised inside (an
    inner reader's, naming a more precise file) passes through.
    """
    @functools.wraps(reader)
    def wrapper(source, *args, **kwargs):
        try:
            return reader(source, *args, **kwargs)
        except (DataError, *_PATH_ERRORS):
            raise
        except _BROKEN as exc:
            if not isinstance(source, (str, os.PathLike)):
                raise  # in-memory sources: not a file problem
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a system error (no space, too many open files), not bad bytes
            raise unreadable(source, exc) from exc
    return wrapper


def unreadable(source, exc: BaseException) -> DataError:
    """A DataError saying what is wrong with the bytes of ``source`` (a file or dataset folder)."""
    path = Path(source)
    folder = None
    if path.is_dir():  # a dataset: pyarrow quotes the file it could not read
        named = [Path(p) for p in re.findall(r"'([^']+)'", str(exc))]
        files = [p for p in named if p.is_file()]
        if not files:
            return DataError(str(path), f"cannot read the Parquet dataset: {exc}")
        folder, path = path, files[0]
    if not path.is_file():
        return DataError(str(path), f"cannot read: {type(exc).__name__}: {exc}")
    _, suffix = strip_suffixes(path)
    kind = _KINDS.get(suffix, "the expected format")
    where = f" (in the dataset {folder})" if folder is not None else ""
    if path.stat().st_size == 0:
        return DataError(str(path), f"empty file (0 bytes){where}; expected {kind} data")
    if path.name.lower().endswith(".gz"):
        with open(path, "rb") as fh:
            head = fh.read(_PREVIEW)
        if not head.startswith(_GZIP_MAGIC):  # never compressed: "truncated" would mislead
            return DataError(str(path), f"not gzip data, though the name ends in .gz (the file starts "
                             f"with {head[:_PREVIEW]!r}); decompress it or drop the .gz")
        broken = _gzip_break(path)
        if broken is not None:
            lines, reason = broken
            return DataError(str(path), f"line {lines + 1}: the gzip data is truncated or corrupt; "
                             f"the file breaks off after {lines} complete lines ({reason})", line=lines + 1)
        if _gzip_is_empty(path):
            return DataError(str(path), f"empty file (gzip of 0 bytes); expected {kind} data")
    if isinstance(exc, json.JSONDecodeError):
        return DataError(str(path), f"line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})",
                         line=exc.lineno)
    if kind in ("CSV", "JSON"):
        line = _first_non_text_line(path)
        if line is not None:
            return DataError(str(path), f"line {line}: not UTF-8 text (binary data in a {kind} file?)",
                             line=line)
    return DataError(str(path), f"cannot read as {kind}{where} (corrupt, truncated or another format): "
                     f"{type(exc).__name__}: {exc}")


def _gzip_break(path) -> tuple[int, str] | None:
    """(complete lines before the break, reason) if ``path`` does not decompress to its end."""
    lines = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read1(_CHUNK):  # read1: what decompressed before a break is counted
                lines += chunk.count(b"\n")
    except (OSError, EOFError, zlib.error) as exc:
        return lines, str(exc)
    return None


def _gzip_is_empty(path) -> bool:
    with gzip.open(path, "rb") as fh:
        return not fh.read(1)


def _first_non_text_line(path) -> int | None:
    """1-based line of the first line that is not UTF-8 text (or holds a NUL byte), or None.

    Line by line is exact: no byte of a multi-byte UTF-8 character is a newline.
    """
    opener = gzip.open if Path(path).name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
            if b"\x00" in line:
                return number
    return None


# --------------------------------------------------------------------------- files
def open_text(path) -> io.TextIOBase:
    """Open a text file, decompressing ``.gz`` transparently (a UTF-8 byte-order mark is dropped)."""
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def first_record(path, delimiter: str = ",") -> list[str]:
    """The fields of the first CSV record of ``path`` ([] for an empty file)."""
    with open_text(path) as fh:
        return next(csv.reader(fh, delimiter=delimiter), [])


def strip_suffixes(path) -> tuple[str, str]:
    """(file name without compression suffix, lower-case format suffix) of ``path``."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return name, Path(name).suffix.lower()


def read_csv_text(path, names: list[str], *, has_header: bool = True, include=None,
                  delimiter: str = ",") -> pa.Table:
    """Every field of a CSV file as text (empty fields null); ragged lines name their line.

    Values are parsed afterwards by the ``parse_*`` helpers, which can name the row of a value
    that does not parse (Arrow's own CSV conversion errors do not).
    """
    read = pacsv.ReadOptions(column_names=names, skip_rows=1 if has_header else 0)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=include,
                                   strings_can_be_null=True, null_values=[""])
    try:
        return pacsv.read_csv(path, read_options=read, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                              convert_options=convert)
    except pa.ArrowInvalid as exc:
        line = locate_bad_record(path, len(names), skip=int(has_header), delimiter=delimiter)
        if line is None:  # not a ragged record: bad bytes, which reads_file diagnoses
            raise
        raise DataError(str(path), f"line {line}: cannot parse CSV ({exc})", line=line) from None


def locate_bad_record(path, n_fields: int, skip: int, delimiter: str = ",") -> int | None:
    """1-based line of the first record whose field count is not ``n_fields``."""
    with open_text(path) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        for i, rec in enumerate(reader):
            if i >= skip and rec and len(rec) != n_fields:
                return reader.line_num
    return None


# --------------------------------------------------------------------------- value parsing
def _strings(col) -> pa.ChunkedArray:
    col = col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([pa.array(col)])
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col


def _is_text(col) -> bool:
    return pa.types.is_string(col.type) or pa.types.is_large_string(col.type)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_null(t)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _raise_first_bad(col, ok: np.ndarray, column: str, origin: Origin, expected: str, message=None):
    bad = ~ok & ~col.is_null().to_numpy(zero_copy_only=False)
    row = _first(bad) if bad.any() else None
    value = None if row is None else col[row].as_py()
    raise origin.error(column, row, value, expected, message=message)


def parse_float(col, column: str, origin: Origin) -> pa.ChunkedArray:
    """A text (or numeric) column as float64; nulls stay null."""
    col = _strings(col)
    if _is_number(col.type):
        return col.cast(pa.float64())
    if not _is_text(col):  # booleans would cast to 1.0 and 0.0: a column of flags, not prices
        raise origin.error(column, None, str(col.type), "numbers", message="wrong type")
    try:  # the fast path; the slow one only runs to find the row to blame
        return pc.cast(col, pa.float64())
    except pa.ArrowInvalid:
        parsed = pd.to_numeric(pd.Series(col.to_pylist(), dtype=object), errors="coerce")
        _raise_first_bad(col, parsed.notna().to_numpy(), column, origin, "a number")


def parse_int(col, column: str, origin: Origin, *, what: str = "an integer",
              message: str | None = None) -> pa.ChunkedArray:
    """A text (or integer) column as int64; nulls stay null.

    ``what`` and ``message`` word the error for a value that is not an integer.
    """
    col = _strings(col)
    if pa.types.is_integer(col.type):
        return col.cast(pa.int64())
    if not _is_text(col):
        raise origin.error(column, None, str(col.type), "integers", message="wrong type")
    ok = pc.match_substring_regex(col, _INTEGER).fill_null(True).to_numpy(zero_copy_only=False)
    if not ok.all():
        _raise_first_bad(col, ok, column, origin, what, message)
    return pc.cast(pc.utf8_trim_whitespace(col), pa.int64())


def parse_epoch(col, column: str, origin: Origin, unit: str, *, units=tuple(plausible.NS_PER_UNIT),
                param: str = "ts_unit") -> tuple[pa.ChunkedArray, str]:
    """A column of integer epoch counts (text or integers) as UTC timestamps, and its unit.

    ``unit`` is one of ``units``, or ``'auto'`` to detect it from the magnitude (see
    :func:`epoch_unit`); ``param`` is the reader's name for it in error messages.
    """
    ints = parse_int(col, column, origin, what=f"an integer epoch time in {unit}",
                     message="cannot be parsed as a timestamp")
    unit = epoch_unit(ints, unit, column, origin, units=units, param=param)
    return epoch_to_timestamp(ints, unit, column=column, origin=origin, option=param), unit


def epoch_unit(ints: pa.ChunkedArray, unit: str, column: str, origin: Origin, *,
               units=tuple(plausible.NS_PER_UNIT), param: str = "ts_unit") -> str:
    """The unit of a column of integer epochs: ``unit`` checked against the magnitudes, or, for
    ``unit='auto'``, the one of ``units`` that makes the first value a plausible time.

    A given unit is an error at the first value that is implausible in it but plausible in
    another unit (a millisecond epoch read as ``'us'`` lands in 1970; Binance spot files moved
    from milliseconds to microseconds in 2025). Detection is an error at the first value that
    no unit makes plausible, or whose magnitude differs from the first value's. Values
    plausible in no unit at all, with a given unit, are left to :func:`~data_loaders.validate`
    (it names them with the window). Vectorised: a few comparisons per row.

    Examples
    --------
    >>> epoch_unit(pa.chunked_array([[1723161256000]]), "auto", "time", Origin("x.csv"))
    'ms'
    """
    if unit != "auto" and unit not in plausible.NS_PER_UNIT:
        raise ValueError(f"{param} must be one of {', '.join(map(repr, units))} or 'auto', got {unit!r}")
    present = ~ints.is_null().to_numpy(zero_copy_only=False)
    if not present.any():
        return "ms" if unit == "auto" else unit  # nothing to tell (conform reports the nulls)
    values = ints.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    if unit == "auto":
        ref = _first(present)
        unit = plausible.epoch_unit_of(int(values[ref]), units)
        if unit is None:
            raise origin.error(column, ref, int(values[ref]),
                               f"an integer epoch in {' or '.join(units)} giving {plausible.window_text()}",
                               message="cannot tell the epoch unit")
        lo, hi = plausible.window_ns(unit)
        bad = present & ((values < lo) | (values > hi))
        if bad.any():
            row = _first(bad)
            raise origin.error(column, row, int(values[row]),
                               f"every epoch in {unit}, as row {ref} is ({param}='auto' detected {unit!r}; "
                               f"{plausible.window_text()})", message="mixed epoch units")
        return unit
    lo, hi = plausible.window_ns(unit)
    bad = present & ((values < lo) | (values > hi))
    if bad.any():
        row = _first(bad)
        seems = plausible.epoch_unit_of(int(values[row]))
        if seems is not None and seems != unit:
            raise origin.error(column, row, int(values[row]),
                               f"an epoch in {unit} ({param}={unit!r}); its magnitude is that of an "
                               f"epoch in {seems}: pass {param}={seems!r} (or 'auto')",
                               message="epoch unit mismatch")
    return unit


_TRUE = pa.array(["true", "t", "1", "yes", "y"])
_FALSE = pa.array(["false", "f", "0", "no", "n"])


def parse_bool(col, column: str, origin: Origin) -> pa.ChunkedArray:
    """A text column of true/false (also 1/0, yes/no; any case) as bool; nulls stay null."""
    col = _strings(col)
    if pa.types.is_boolean(col.type) or pa.types.is_integer(col.type):
        return col  # conform() checks and converts integer 0/1
    if not _is_text(col):
        raise origin.error(column, None, str(col.type), "a boolean column", message="wrong type")
    words = pc.utf8_lower(pc.utf8_trim_whitespace(col))
    true, false = pc.is_in(words, value_set=_TRUE), pc.is_in(words, value_set=_FALSE)
    ok = pc.or_(pc.or_(true, false), col.is_null()).to_numpy(zero_copy_only=False)
    if not ok.all():
        _raise_first_bad(col, ok, column, origin, "a boolean (true/false or 1/0)")
    return pc.if_else(col.is_null(), pa.scalar(None, pa.bool_()), true)


#: nanoseconds per epoch unit
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
#: digits of an epoch count between 2001 and 2286 in each unit: a count that does not fit the
#: unit given is most likely one of these
_UNIT_OF_DIGITS = {10: "s", 13: "ms", 16: "us", 19: "ns"}


def epoch_to_timestamp(ints: pa.ChunkedArray, unit: str, *, column: str | None = None,
                       origin: Origin | None = None, option: str = "ts_unit") -> pa.ChunkedArray:
    """Integer epoch counts in ``unit`` ('s', 'ms', 'us', 'ns') as UTC timestamps.

    With ``origin``, a count outside the nanosecond range (1677 to 2262) is an error naming
    its row and suggesting the unit its number of digits suggests, by the reader's parameter
    ``option`` (microseconds read as milliseconds would otherwise fail later, naming no row).
    """
    if unit not in _NS_PER_UNIT:
        raise ValueError(f"{option} must be one of 's', 'ms', 'us', 'ns', got {unit!r}")
    ints = ints.cast(pa.int64())
    if origin is not None and len(ints):
        limit = np.iinfo(np.int64).max // _NS_PER_UNIT[unit]
        counts = ints.fill_null(0).to_numpy(zero_copy_only=False)
        bad = np.abs(counts) > limit
        if bad.any():
            row = _first(bad)
            guess = _UNIT_OF_DIGITS.get(len(str(abs(int(counts[row])))))
            hint = f" (it looks like {guess}: pass {option}='{guess}')" if guess not in (None, unit) else ""
            raise origin.error(column, row, int(counts[row]),
                               f"an epoch time in {unit} between the years 1677 and 2262{hint}",
                               message="timestamp out of range")
    return ints.cast(pa.timestamp(unit, tz="UTC"))


def parse_timestamps(col, column: str, origin: Origin, *, ts_unit: str | None = None):
    """A timestamp column from ISO text, integer epochs (with ``ts_unit``) or timestamps.

    ISO strings that state a zone (``Z``, ``UTC``, ``+03:00``) become UTC timestamps; strings
    without one stay naive (:func:`conform` localizes them with its ``tz`` argument or rejects
    them). Errors name the first offending row, in this order: a value that is not a timestamp
    at all (``yesterday``, ``now``, ``2022-13-45``: pandas would read ``now`` from the clock, so
    ISO text must start with a date), then a column mixing integer epochs with ISO text, then
    one mixing zoned and naive text (the reading would depend on the row).

    Examples
    --------
    >>> col = ["2024-01-01T00:00:00Z", "yesterday"]
    >>> parse_timestamps(col, "ts", Origin("x.csv", line_offset=2))
    Traceback (most recent call last):
    ...
    data_loaders.validate.DataError: x.csv: column 'ts', row 1 (line 3): cannot be parsed as a timestamp; \
value 'yesterday'; expected an ISO 8601 timestamp such as 2024-01-01T00:00:00Z, or an integer epoch
    """
    col = _strings(col)
    if pa.types.is_timestamp(col.type):
        return col
    if pa.types.is_integer(col.type):
        return _epoch(col, column, origin, ts_unit)
    if not _is_text(col):
        raise origin.error(column, None, str(col.type), "timestamps (ISO text or integer epochs)",
                           message="wrong type")
    notnull = ~col.is_null().to_numpy(zero_copy_only=False)
    if not notnull.any():  # nothing to interpret (conform reports nulls in a non-empty column)
        return pa.chunked_array([pa.nulls(len(col), TS_UTC)])
    text = pc.utf8_trim_whitespace(col)
    is_int = _matches(text, _INTEGER, null=True)
    if is_int.all():
        return _epoch(parse_int(col, column, origin), column, origin, ts_unit)
    text = pc.replace_substring_regex(text, _UTC_WORD, "Z")  # pandas reads 'Z', not 'UTC'
    parsed = pd.to_datetime(pd.Series(text.to_pylist(), dtype=object), format="ISO8601", utc=True,
                            errors="coerce")
    readable = is_int | (_matches(text, _ISO_DATE, null=False) & parsed.notna().to_numpy())
    _first_unless(notnull & ~readable, col, column, origin, "cannot be parsed as a timestamp",
                  "an ISO 8601 timestamp such as 2024-01-01T00:00:00Z, or an integer epoch")
    ref = _first(notnull)
    _first_unless(notnull & (is_int != is_int[ref]), col, column, origin,
                  "mixed integer epochs and ISO text", "every timestamp in the same form")
    zoned = _matches(text, _ZONED, null=False)
    _first_unless(notnull & (zoned != zoned[ref]), col, column, origin, "mixed zones",
                  "every timestamp with a zone, or every one without")
    if not zoned[ref]:
        parsed = parsed.dt.tz_localize(None)  # naive text was read as UTC wall time: undo
    out = pa.chunked_array([pa.Array.from_pandas(parsed)])  # pandas keeps the unit it parsed
    target = pa.timestamp("ns", tz="UTC" if zoned[ref] else None)
    try:
        return out.cast(target)
    except pa.ArrowInvalid as exc:  # year 2300: no ns timestamp holds it
        raise unrepresentable(out, column, origin, exc) from None


def _matches(text, pattern: str, *, null: bool) -> np.ndarray:
    return pc.match_substring_regex(text, pattern).fill_null(null).to_numpy(zero_copy_only=False)


def _first_unless(bad: np.ndarray, col, column, origin, message, expected) -> None:
    """Raise for the first row of ``bad``, if any."""
    if bad.any():
        row = _first(bad)
        raise origin.error(column, row, col[row].as_py(), expected, message=message)


def _epoch(ints, column, origin, ts_unit):
    if ts_unit is None:
        raise origin.error(column, 0, ints[0].as_py() if len(ints) else None,
                           "ISO timestamps, or pass ts_unit='ms' (or 's', 'us', 'ns', 'auto') for integer epochs",
                           message="integer timestamps without a unit")
    return epoch_to_timestamp(ints, epoch_unit(ints, ts_unit, column, origin), column=column, origin=origin,
                              option="ts_unit")


def parse_durations(col, column: str, origin: Origin) -> pa.ChunkedArray:
    """A duration column from text ("250ms", "1h", or integer nanoseconds) or integers (ns).

    A duration longer than :data:`~data_loaders.validate.MAX_DURATION_NS` is an error naming its
    row: past 2^63 ns it would not fit in the int64 column at all.
    """
    col = _strings(col)
    if pa.types.is_duration(col.type):
        return col
    if pa.types.is_integer(col.type):
        if pa.types.is_unsigned_integer(col.type):  # uint64 may not fit in int64
            ns = col.to_numpy(zero_copy_only=False)
            _first_unless(ns > MAX_DURATION_NS, col, column, origin, "duration too long", DURATION_RANGE)
        return col.cast(pa.int64()).cast(pa.duration("ns"))
    if not _is_text(col):
        raise origin.error(column, None, str(col.type), "durations ('250ms', '1h' or integer ns)",
                           message="wrong type")
    # parse each distinct text once: traces repeat a few latency values over many rows
    codes, uniques = pd.factorize(col.to_pandas())  # nulls get code -1
    parsed = [_duration_ns(u) for u in uniques]
    ok = np.array([v is not None for v in parsed] + [True])[codes]  # [-1] -> the null slot
    if not ok.all():
        _raise_first_bad(col, ok, column, origin, "a duration such as '250ms', '1h' or integer nanoseconds")
    fits = np.array([abs(v) <= MAX_DURATION_NS for v in parsed] + [True])[codes]
    _first_unless(~fits, col, column, origin, "duration too long", DURATION_RANGE)
    ns = np.array([v or 0 for v in parsed] + [0], dtype=np.int64)[codes]
    return pa.chunked_array([pa.array(ns, mask=codes < 0).cast(pa.duration("ns"))])


def _duration_ns(text: str) -> int | None:
    """Nanoseconds of '250ms' / '1h' / '1500000' (bare integers are ns), None if unreadable."""
    text = text.strip()
    if re.fullmatch(_INTEGER, text):
        return int(text)
    try:
        td = pd.Timedelta(text)
    except (OverflowError, pd.errors.OutOfBoundsTimedelta):
        return MAX_DURATION_NS + 1  # past pandas' ~292 years: a duration, too long (the caller says so)
    except ValueError:
        return None
    return None if pd.isna(td) else int(td.as_unit("ns").value)


# --------------------------------------------------------------------------- time ranges
def to_utc(value) -> pd.Timestamp | None:
    """``value`` (str, datetime, Timestamp, None) as a UTC Timestamp; naive values are UTC."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def ts_scalar(value) -> pa.Scalar | None:
    ts = to_utc(value)
    return None if ts is None else pa.scalar(ts.as_unit("ns").value, type=TS_UTC)


def in_range(table: pa.Table, start=None, end=None) -> pa.Table:
    """Rows of a canonical table with ``start <= ts < end`` (either bound may be None)."""
    lo, hi = ts_scalar(start), ts_scalar(end)
    mask = None
    if lo is not None:
        mask = pc.greater_equal(table.column("ts"), lo)
    if hi is not None:
        upper = pc.less(table.column("ts"), hi)
        mask = upper if mask is None else pc.and_(mask, upper)
    return table if mask is None else table.filter(mask)


# --------------------------------------------------------------------------- repairs by key
def with_metadata(table: pa.Table, extra: dict[bytes, bytes]) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta.update(extra)
    return table.replace_schema_metadata(meta)


def dedupe_by_key(table: pa.Table, keys, key_name: str, origin: Origin, drop: bool):
    """Drop rows whose key repeats an earlier row's (if ``drop``), else raise on the first.

    Returns the table, its origin and the metadata to record. Readers of formats that carry a
    row id (trade id, update id) use this instead of conform's exact-duplicate repair, which
    would also drop distinct trades that share time, price and size.
    """
    dup = pd.Series(keys).duplicated(keep="first").to_numpy()
    if not dup.any():
        return table, origin, ({META_DEDUPED: b"0"} if drop else {})
    if not drop:
        row = _first(dup)
        raise origin.error(key_name, row, keys[row], f"unique {key_name} values (pass drop_duplicates=True to "
                           "keep the first of each)", message="duplicate row")
    keep = np.flatnonzero(~dup)
    log.info("%s: dropped %d rows with a repeated %s", origin.source, int(dup.sum()), key_name)
    return table.take(pa.array(keep)), origin.take(keep), {META_DEDUPED: str(int(dup.sum())).encode()}


def sort_by_ts(table: pa.Table, origin: Origin):
    """Stable sort by ``ts`` (opt-in repair); returns the table, its origin and the metadata."""
    ts = table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    order = np.argsort(ts, kind="stable")
    moved = int((order != np.arange(len(order))).sum())
    log.info("%s: sorted by ts, %d rows moved", origin.source, moved)
    meta = {META_SORTED: str(moved).encode()}
    if not moved:
        return table, origin, meta
    return table.take(pa.array(order)), origin.take(order), meta
