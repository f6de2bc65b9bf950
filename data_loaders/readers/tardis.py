"""Readers of Tardis.dev CSV order-book files into canonical ``book_levels`` tables.

``incremental_book_L2``
    ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount``: one row per
    level change; ``amount`` is the level's new size (0 removes it); ``side`` is ``bid`` or
    ``ask``. A run of ``is_snapshot=true`` rows is a full book: it may come at the start or in
    the middle of a file (after a reconnection) and resets the whole book.
``book_snapshot_N``
    ``exchange,symbol,timestamp,local_timestamp`` then ``asks[i].price, asks[i].amount,
    bids[i].price, bids[i].amount`` for ``i < N`` (empty fields where the book is shallower):
    the top ``N`` levels each row.

Time
    Timestamps are microseconds since the epoch, UTC. ``timestamp`` is the exchange's time and
    ``local_timestamp`` the collector's receipt time. ``time="exchange"`` (the default) stamps
    rows with the exchange's time, the time at which the venue's book was in that state;
    ``time="local"`` with the receipt time (what a trader listening then could know, and the
    order Tardis writes rows in). Exchange times may step back a little where a venue's
    messages arrive out of order: that is an error naming the row, unless ``sort=True``.
Market
    ``market=None`` names the rows by their ``symbol``; a string renames a file of one symbol;
    a dict ``{symbol: market}`` keeps and renames those symbols (files grouping several).
Sizes
    ``amount`` is what the venue counts: base units on most venues, but **USD contracts** on
    Deribit's inverse contracts (``BTC-PERPETUAL``, ``ETH-PERPETUAL`` and the inverse dated
    futures: one contract is 1 USD, so ``amount`` 18640 at 6421.5 is 18,640 USD, about 2.9
    BTC). ``size_unit='quote'`` converts such sizes to base units row by row
    (``size = amount / price``); ``size_unit='base'`` reads ``amount`` as base units. Without
    ``size_unit``, ``amount`` is read as it stands and a file whose ``exchange`` and ``symbol``
    name a contract counted in USD (:data:`QUOTE_SIZED`) raises one
    :class:`~data_loaders.UnitsWarning` saying so. The choice is in the table metadata under
    ``data_loaders.size_unit`` (``venue`` when none was given).
Large files
    Read in blocks of :data:`BLOCK_BYTES` by Arrow's streaming CSV reader with typed columns;
    the conversion is vectorised (no Python object per row). A value Arrow cannot convert
    makes the reader re-read the file as text to name the row, line, column and value.

Examples
--------
>>> import io
>>> from data_loaders.readers.tardis import read_tardis_incremental_l2
>>> csv = (b"exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\\n"
...        b"deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,bid,6421.0,100\\n"
...        b"deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6421.5,200\\n"
...        b"deribit,BTC-PERPETUAL,1585699200300000,1585699200400000,false,ask,6421.5,0\\n")
>>> t = read_tardis_incremental_l2(io.BytesIO(csv), market="BTC-USD")
>>> t.column("side").to_pylist(), t.column("size").to_pylist()
([1, -1, -1], [100.0, 200.0, 0.0])
"""
from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..plausible import UnitsWarning
from ..validate import DataError
from ._common import (Origin, conform_at, epoch_to_timestamp, parse_bool, parse_float, parse_int,
                      read_csv_text, reads_file, sort_by_ts, with_metadata)

L2_COLUMNS = ("exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
SNAPSHOT_PREFIX = ("exchange", "symbol", "timestamp", "local_timestamp")
#: the ``time=`` choices and the column each reads
TIME_COLUMNS = {"exchange": "timestamp", "local": "local_timestamp"}
#: bytes Arrow's streaming reader parses at a time (memory per block, not a limit on file size)
BLOCK_BYTES = 16 << 20

#: the ``size_unit=`` choices: ``amount`` in base units, or in quote units (converted: amount / price)
SIZE_UNITS = ("base", "quote")
#: symbols whose ``amount`` Tardis writes in USD contracts (1 contract = 1 USD), by ``exchange``:
#: Deribit's inverse BTC and ETH perpetuals and dated futures (Deribit's API counts their
#: amounts in USD; its linear ``*_USDC-*`` contracts and options count in the base coin)
QUOTE_SIZED = {"deribit": re.compile(r"^(BTC|ETH)-(PERPETUAL|\d{1,2}[A-Z]{3}\d{2})$")}

_LEVEL = re.compile(r"^(asks|bids)\[(\d+)\]\.(price|amount)$")
_DICT = pa.dictionary(pa.int32(), pa.string())


# --------------------------------------------------------------------------- detection
def sniff(header: list[str]) -> str | None:
    """'tardis-l2', 'tardis-snapshot' or None, from a CSV header.

    A header starting ``exchange,symbol,timestamp,local_timestamp`` is Tardis's. It is a
    ``book_snapshot_N`` file if it has level columns (``asks[0].price``, ...), and an
    ``incremental_book_L2`` file if it has ``is_snapshot``, or some of ``side``, ``price`` and
    ``amount`` and no trade ``id``, even with a column missing or misnamed: the reader then
    names the missing columns (rather than the file being read as canonical CSV).

    Examples
    --------
    >>> sniff("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount".split(","))
    'tardis-l2'
    >>> sniff("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,qty".split(","))
    'tardis-l2'
    >>> sniff(["exchange", "symbol", "timestamp", "local_timestamp", "asks[0].price"])
    'tardis-snapshot'
    >>> sniff("exchange,symbol,timestamp,local_timestamp,id,side,price,amount".split(",")) is None  # trades
    True
    """
    names = [h.strip() for h in header]
    if names[:4] != list(SNAPSHOT_PREFIX):
        return None
    if set(L2_COLUMNS) <= set(names):
        return "tardis-l2"
    if any(_LEVEL.match(n) for n in names[4:]):
        return "tardis-snapshot"
    if "is_snapshot" in names or ("id" not in names and {"side", "price", "amount"} & set(names)):
        return "tardis-l2"
    return None


# --------------------------------------------------------------------------- reading
def _source_name(source) -> str:
    return "Tardis CSV" if isinstance(source, (io.IOBase, bytes)) else str(source)


def _header(source) -> list[str]:
    if isinstance(source, io.IOBase):
        pos = source.tell()
        reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=1 << 16))
        names = reader.schema.names
        source.seek(pos)
        return names
    reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=1 << 16))
    return reader.schema.names


def _stream(source, types: dict) -> pa.Table:
    """The typed columns of a CSV file, parsed block by block."""
    if isinstance(source, io.IOBase):
        source.seek(0)
    convert = pacsv.ConvertOptions(column_types=types, include_columns=list(types), strings_can_be_null=True,
                                   true_values=["true", "True", "TRUE"], false_values=["false", "False", "FALSE"])
    reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
                            convert_options=convert)
    return pa.Table.from_batches(list(reader), schema=reader.schema)


def _typed(source, types: dict, text_checks) -> pa.Table:
    """:func:`_stream`; when Arrow cannot convert a value, the file is read again as text and
    ``text_checks(raw, origin)`` raises the DataError naming the row."""
    try:
        return _stream(source, types)
    except pa.ArrowInvalid:
        if isinstance(source, io.IOBase):
            source.seek(0)
            data = source.read()
            raw = pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in types}, include_columns=list(types),
                strings_can_be_null=True))
        else:
            raw = read_csv_text(source, _header(source), include=list(types))
        text_checks(raw, Origin(_source_name(source), line_offset=2))
        raise  # nothing found by value: broken bytes or ragged lines, which reads_file reports


def _check_time(time: str) -> str:
    if time not in TIME_COLUMNS:
        raise ValueError(f"time must be 'exchange' (the exchange's timestamp, the default) or 'local' "
                         f"(local_timestamp, the receipt time), got {time!r}")
    return TIME_COLUMNS[time]


def _markets(symbols: pa.ChunkedArray, market, origin: Origin):
    """(market name per row as dictionary column, rows to keep or None)."""
    sym = symbols.cast(pa.string())
    have = sorted(set(pc.unique(sym).drop_null().to_pylist()))
    if market is None:
        return pc.dictionary_encode(sym).cast(_DICT), None
    if isinstance(market, str):
        if len(have) > 1:
            raise DataError(origin.source, f"holds the symbols {have}; market={market!r} can name only one: pass "
                            "market={symbol: market, ...} to choose and name them")
        return pa.chunked_array([pa.DictionaryArray.from_arrays(np.zeros(len(sym), np.int32), [market])]), None
    if isinstance(market, dict):
        missing = sorted(set(market) - set(have))
        if missing:
            raise DataError(origin.source, f"no rows of the symbols {missing}; the file has {have}")
        keep = np.flatnonzero(pc.is_in(sym, value_set=pa.array(list(market), pa.string()))
                              .fill_null(False).to_numpy(zero_copy_only=False))
        names = pc.take(sym, pa.array(keep)).to_numpy(zero_copy_only=False)
        mapped = np.vectorize(market.get, otypes=[object])(names) if len(names) else names
        return pc.dictionary_encode(pa.chunked_array([pa.array(mapped, pa.string())])).cast(_DICT), keep
    raise TypeError(f"market: expected None, a name or a {{symbol: market}} dict, got {type(market).__name__}")


def _epoch_us(ints: pa.ChunkedArray, column: str, origin: Origin) -> pa.ChunkedArray:
    return epoch_to_timestamp(ints, "us", column=column, origin=origin, option="time")


def _finish(table: pa.Table, origin: Origin, sort: bool, drop_duplicates: bool, time: str) -> pa.Table:
    meta = {**(table.schema.metadata or {}), b"data_loaders.tardis_time": time.encode()}
    if sort:
        table, origin, sort_meta = sort_by_ts(table, origin)
        meta.update(sort_meta)
    return conform_at(with_metadata(table, meta), "book_levels", origin, drop_duplicates=drop_duplicates)


# --------------------------------------------------------------------------- size units
def _check_size_unit(size_unit):
    if size_unit is not None and size_unit not in SIZE_UNITS:
        raise ValueError(f"size_unit must be 'base' (amount in base units, read as it stands) or 'quote' "
                         f"(amount in quote units such as Deribit's USD contracts: size = amount / price), "
                         f"got {size_unit!r}")


def quote_sized(exchange: pa.ChunkedArray, symbol: pa.ChunkedArray) -> list[str]:
    """The ``exchange:symbol`` pairs of the rows whose ``amount`` the venue counts in USD
    contracts (:data:`QUOTE_SIZED`).

    Examples
    --------
    >>> quote_sized(pa.chunked_array([["deribit", "deribit"]]), pa.chunked_array([["BTC-PERPETUAL", "BTC_USDC-PERPETUAL"]]))
    ['deribit:BTC-PERPETUAL']
    """
    if len(exchange) == 0:
        return []
    pairs = pc.binary_join_element_wise(pc.fill_null(exchange.cast(pa.string()), ""),
                                        pc.fill_null(symbol.cast(pa.string()), ""), ":")
    found = []
    for pair in pc.unique(pairs).to_pylist():
        venue, _, name = pair.partition(":")
        pattern = QUOTE_SIZED.get(venue.strip().lower())
        if pattern is not None and pattern.match(name.strip()):
            found.append(pair)
    return sorted(found)


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside ``data_loaders`` (the user's call)."""
    import sys

    frame, level = sys._getframe(1), 1
    package = __name__.split(".")[0] + "."
    while frame is not None and (frame.f_globals.get("__name__", "") + ".").startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _size_unit_meta(raw: pa.Table, size_unit, source: str) -> dict:
    """Metadata of the size unit, warning once when none was given for USD-contract sizes."""
    if size_unit is None:
        found = quote_sized(raw.column("exchange"), raw.column("symbol"))
        if found:
            warnings.warn(
                f"{source}: the sizes of {', '.join(found)} are USD contracts (1 contract = 1 USD: "
                "Deribit's inverse contracts), not base units, and are read as they stand; pass "
                "size_unit='quote' to convert them to base units (size = amount / price, row by row), "
                "or size_unit='base' to read them as base units without this warning",
                UnitsWarning, stacklevel=_caller_level())
    return {b"data_loaders.size_unit": (size_unit or "venue").encode()}


# --------------------------------------------------------------------------- incremental_book_L2
_L2_TYPES = {"exchange": _DICT, "symbol": _DICT, "timestamp": pa.int64(), "local_timestamp": pa.int64(), "is_snapshot": pa.bool_(),
             "side": _DICT, "price": pa.float64(), "amount": pa.float64()}


def _l2_text_checks(raw: pa.Table, origin: Origin) -> None:
    for name in ("timestamp", "local_timestamp"):
        parse_int(raw.column(name), name, origin, what="an integer epoch in microseconds")
    parse_bool(raw.column("is_snapshot"), "is_snapshot", origin)
    for name in ("price", "amount"):
        parse_float(raw.column(name), name, origin)


def _side_codes(side: pa.ChunkedArray, origin: Origin) -> np.ndarray:
    text = pc.utf8_lower(side.cast(pa.string()))
    code = np.where(pc.equal(text, "bid").fill_null(False).to_numpy(zero_copy_only=False), 1,
                    np.where(pc.equal(text, "ask").fill_null(False).to_numpy(zero_copy_only=False), -1, 0))
    bad = code == 0
    if bad.any():
        row = int(np.argmax(bad))
        raise origin.error("side", row, side[row].as_py(), "'bid' or 'ask'")
    return code.astype(np.int8)


def _snapshot_blocks(ts: np.ndarray, sym: np.ndarray, snap: np.ndarray, side: np.ndarray):
    """Order of the rows with each snapshot (a run of snapshot rows of one symbol and time)
    arranged bids first, and the rows to add for a side a snapshot leaves empty.

    Tardis resets the whole book at a snapshot; the canonical table replaces a side per
    snapshot group, so each snapshot's bid rows must be one group and its ask rows another, and
    a side the snapshot has no rows for is cleared by one row of size 0.
    """
    n = len(ts)
    start = np.ones(n, bool)
    start[1:] = ~(snap[1:] & snap[:-1] & (ts[1:] == ts[:-1]) & (sym[1:] == sym[:-1]))
    block = np.cumsum(start) - 1
    order = np.lexsort((np.arange(n), np.where(snap, -side, 0), block))
    first = np.flatnonzero(start)
    has_bid = np.bincount(block, weights=(snap & (side > 0)), minlength=len(first)) > 0
    has_ask = np.bincount(block, weights=(snap & (side < 0)), minlength=len(first)) > 0
    is_snap = snap[first]
    return order, block, first[is_snap & ~has_bid], first[is_snap & ~has_ask]


@reads_file
def read_tardis_incremental_l2(path, market=None, *, time: str = "exchange", size_unit: str | None = None,
                               sort: bool = False, drop_duplicates: bool = False) -> pa.Table:
    """Read a Tardis ``incremental_book_L2`` CSV (``.csv`` or ``.csv.gz``) into ``book_levels``.

    Parameters
    ----------
    path : str, Path or binary file object
    market : None, str or dict
        None: the ``symbol`` names the rows; a string names the rows of a one-symbol file; a
        ``{symbol: market}`` dict keeps and renames those symbols.
    time : {'exchange', 'local'}
        Which timestamp stamps the rows: ``'exchange'`` (default) the venue's ``timestamp``,
        ``'local'`` the collector's ``local_timestamp`` (receipt time).
    size_unit : {None, 'base', 'quote'}
        What ``amount`` counts: ``'base'`` base units (read as it stands); ``'quote'`` quote
        units, such as Deribit's USD contracts, converted to base units row by row
        (``size = amount / price``). None (default): read as it stands, with one
        :class:`~data_loaders.UnitsWarning` when the ``exchange`` and ``symbol`` name a
        contract counted in USD (:data:`QUOTE_SIZED`: Deribit ``BTC-PERPETUAL``, ...).
    sort : bool
        Stable-sort by the chosen time (exchange times can step back; the count moved is
        recorded).
    drop_duplicates : bool
        Drop exact duplicate rows.

    Returns
    -------
    pyarrow.Table
        Canonical ``book_levels``: ``side`` +1 for ``bid``, -1 for ``ask``; ``size`` is
        ``amount`` (``amount / price`` with ``size_unit='quote'``). Each snapshot (a run of ``is_snapshot`` rows of one time) is written as a
        bid group then an ask group, and a side it has no rows for gets one row of size 0, so
        the snapshot replaces the whole book, as Tardis means it. The time used is in the
        table metadata under ``data_loaders.tardis_time``.

    Raises
    ------
    DataError
        Naming the file, row, line, column and value of a value that does not parse, a side
        that is not bid/ask, a timestamp out of order (unless ``sort``) or a crossed book.

    Examples
    --------
    >>> import io
    >>> csv = (b"exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\\n"
    ...        b"deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6421.5,18640\\n"
    ...        b"deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,bid,6421.0,500\\n")
    >>> t = read_tardis_incremental_l2(io.BytesIO(csv), time="local", size_unit="quote")
    >>> t.column("side").to_pylist(), str(t.column("ts")[0])
    ([1, -1], '2020-04-01 00:00:00.355684+00:00')
    >>> [round(x, 4) for x in t.column("size").to_pylist()]  # 500 USD at 6421.0, 18640 USD at 6421.5
    [0.0779, 2.9027]
    """
    column = _check_time(time)
    _check_size_unit(size_unit)
    origin = Origin(_source_name(path), line_offset=2)
    header = _header(path)
    missing = [c for c in L2_COLUMNS if c not in header]
    if missing:
        extra = [c for c in header if c not in L2_COLUMNS]
        raise DataError(origin.source, f"missing columns {missing} of a Tardis incremental_book_L2 file "
                        f"({','.join(L2_COLUMNS)})" + (f"; the header has {extra} instead" if extra else ""))
    raw = _typed(path, _L2_TYPES, _l2_text_checks)
    unit_meta = _size_unit_meta(raw, size_unit, origin.source)
    names, keep = _markets(raw.column("symbol"), market, origin)
    if keep is not None:
        raw, origin = raw.take(pa.array(keep)), origin.take(keep)
    side = _side_codes(raw.column("side"), origin)
    ts_ints = raw.column(column).cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    snap = raw.column("is_snapshot").fill_null(False).to_numpy(zero_copy_only=False)
    sym = pc.dictionary_encode(names.cast(pa.string()).combine_chunks()).indices.to_numpy(zero_copy_only=False)
    order, block, no_bid, no_ask = _snapshot_blocks(ts_ints, sym, snap, side)
    price = raw.column("price")
    amount = raw.column("amount")
    if size_unit == "quote":
        amount = pc.divide(amount, price)
    # an empty side of a snapshot: one row of size 0 (it clears the side, adds no level)
    extra = np.concatenate([no_bid, no_ask])
    rows = np.concatenate([order, extra])
    extra_side = np.concatenate([np.ones(len(no_bid), np.int8), -np.ones(len(no_ask), np.int8)])
    # place the bid filler first in its block and the ask filler last
    key_block = np.concatenate([block[order], block[extra]])
    key_pos = np.concatenate([np.arange(len(order)), np.where(extra_side > 0, -1, len(order))])
    final = np.lexsort((key_pos, key_block))
    rows = rows[final]
    is_extra = np.concatenate([np.zeros(len(order), bool), np.ones(len(extra), bool)])[final]
    sides = np.concatenate([side[order], extra_side])[final]
    table = pa.table({
        "ts": _epoch_us(raw.column(column), column, origin).take(pa.array(rows)),
        "market": names.take(pa.array(rows)),
        "side": pa.array(sides, pa.int8()),
        "price": price.take(pa.array(rows)),
        "size": pc.if_else(pa.array(is_extra), 0.0, amount.take(pa.array(rows)).combine_chunks()),
        "is_snapshot": raw.column("is_snapshot").take(pa.array(rows)),
    })
    return _finish(table.replace_schema_metadata(unit_meta), origin.take(rows), sort, drop_duplicates, time)


# --------------------------------------------------------------------------- book_snapshot_N
def _snapshot_depth(header: list[str], origin: Origin) -> int:
    levels = {}
    for name in header[4:]:
        m = _LEVEL.match(name.strip())
        if m:
            levels.setdefault(int(m.group(2)), set()).add((m.group(1), m.group(3)))
    depth = len(levels)
    want = {(s, f) for s in ("asks", "bids") for f in ("price", "amount")}
    for i in range(depth):
        if levels.get(i) != want:
            got = sorted(f"{s}[{i}].{f}" for s, f in want - levels.get(i, set()))
            raise DataError(origin.source, f"missing columns {got} of a Tardis book_snapshot_{depth} file "
                            "(asks[i].price, asks[i].amount, bids[i].price, bids[i].amount for each level i)")
    if depth == 0:
        raise DataError(origin.source, "no level columns (asks[0].price, ...) in a Tardis book_snapshot file")
    return depth


@reads_file
def read_tardis_book_snapshot(path, market=None, *, time: str = "exchange", size_unit: str | None = None,
                              sort: bool = False, drop_duplicates: bool = False) -> pa.Table:
    """Read a Tardis ``book_snapshot_N`` CSV (``.csv`` or ``.csv.gz``) into ``book_levels``.

    Every row becomes two snapshot groups stamped with its time: its bids (best first) then its
    asks. Empty level fields (a book shallower than ``N``) are left out; a side with no level at
    all is one row of size 0, which empties that side.

    Parameters
    ----------
    path : str, Path or binary file object
    market, time, size_unit, sort, drop_duplicates
        As in :func:`read_tardis_incremental_l2` (``time='exchange'`` by default;
        ``size_unit='quote'`` divides each ``amount`` by its own level's price).

    Returns
    -------
    pyarrow.Table
        Canonical ``book_levels``, every row a snapshot row.

    Raises
    ------
    DataError
        Naming the file, row (of the file), line, column and value of a value that does not
        parse, a level with a price but no amount, an out-of-order time or a crossed book.

    Examples
    --------
    >>> import io
    >>> csv = (b"exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,"
    ...        b"bids[0].amount\\nbinance-futures,BTCUSDT,1598918403696000,1598918403810979,11657.08,1.714,"
    ...        b"11657.07,10.896\\n")
    >>> t = read_tardis_book_snapshot(io.BytesIO(csv), market="BTC-USD")
    >>> t.column("price").to_pylist(), t.column("side").to_pylist()
    ([11657.07, 11657.08], [1, -1])
    """
    column = _check_time(time)
    _check_size_unit(size_unit)
    origin = Origin(_source_name(path), line_offset=2)
    header = _header(path)
    missing = [c for c in SNAPSHOT_PREFIX if c not in header]
    if missing:
        raise DataError(origin.source, f"missing columns {missing} of a Tardis book_snapshot file")
    depth = _snapshot_depth(header, origin)
    names_in_order = [f"{s}[{i}].{f}" for s in ("bids", "asks") for i in range(depth) for f in ("price", "amount")]
    types = {"exchange": _DICT, "symbol": _DICT, "timestamp": pa.int64(), "local_timestamp": pa.int64(),
             **{n: pa.float64() for n in names_in_order}}

    def text_checks(raw, where):
        for name in ("timestamp", "local_timestamp"):
            parse_int(raw.column(name), name, where, what="an integer epoch in microseconds")
        for name in names_in_order:
            parse_float(raw.column(name), name, where)

    raw = _typed(path, types, text_checks)
    unit_meta = _size_unit_meta(raw, size_unit, origin.source)
    market_col, keep = _markets(raw.column("symbol"), market, origin)
    if keep is not None:
        raw, origin = raw.take(pa.array(keep)), origin.take(keep)
    n = raw.num_rows
    prices = np.column_stack([raw.column(f"{s}[{i}].price").to_numpy(zero_copy_only=False)
                              for s in ("bids", "asks") for i in range(depth)]) if n else np.zeros((0, 2 * depth))
    sizes = np.column_stack([raw.column(f"{s}[{i}].amount").to_numpy(zero_copy_only=False)
                             for s in ("bids", "asks") for i in range(depth)]) if n else np.zeros((0, 2 * depth))
    half = (np.isnan(prices) != np.isnan(sizes))
    if half.any():
        r, c = np.argwhere(half)[0]
        s, i = ("bids", "asks")[c // depth], c % depth
        name = f"{s}[{i}].amount" if np.isnan(sizes[r, c]) else f"{s}[{i}].price"
        raise origin.error(name, int(r), None, f"both {s}[{i}].price and {s}[{i}].amount, or neither")
    if size_unit == "quote":
        with np.errstate(invalid="ignore", divide="ignore"):
            sizes = sizes / prices  # an empty level stays NaN; a bad price is reported by conform
    present = ~np.isnan(prices)
    any_side = present.any(axis=1)
    if n and not any_side.all():
        r = int(np.argmax(~any_side))
        raise origin.error("bids[0].price", r, None, "at least one level on either side", message="empty book")
    # a side with no level: one size-0 row at the row's first price (it only clears the side)
    fill_price = prices[np.arange(n), np.argmax(present, axis=1)] if n else np.zeros(0)
    for lo in (0, depth):
        empty = ~present[:, lo:lo + depth].any(axis=1)
        prices[empty, lo] = fill_price[empty]
        sizes[empty, lo] = 0.0
        present[empty, lo] = True
    row_of, col_of = np.nonzero(present)  # row-major: each row's bids, then its asks
    ts = _epoch_us(raw.column(column), column, origin).take(pa.array(row_of))
    table = pa.table({
        "ts": ts,
        "market": market_col.take(pa.array(row_of)),
        "side": pa.array(np.where(col_of < depth, 1, -1).astype(np.int8)),
        "price": pa.array(prices[row_of, col_of]),
        "size": pa.array(sizes[row_of, col_of]),
        "is_snapshot": pa.array(np.ones(len(row_of), bool)),
    })
    return _finish(table.replace_schema_metadata(unit_meta), origin.take(row_of), sort, drop_duplicates, time)
