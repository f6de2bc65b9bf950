"""``load_trades``, ``load_funding``, ``load_oracle``, ``load_latency``, ``load_book``,
``load_book_levels``: one call from a file, directory, DataFrame, Arrow table or parsed JSON to a
valid canonical table.

The reader is chosen by ``format=`` or detected from the source:

===========================  ================================================================
source                       format
===========================  ================================================================
DataFrame / pyarrow.Table    canonical columns, converted by :func:`~data_loaders.conform`
dict / list                  ``'dydx'`` (parsed indexer JSON)
directory                    ``'dataset'`` (partitioned Parquet; the time range is pushed down;
                             ``format='parquet'`` on a directory is the same)
``*.parquet``, ``*.pq``      ``'parquet'``
``*.feather/.arrow/.ipc``    ``'feather'``
``*.json[.gz]``              ``'dydx'``
``*.csv[.gz]``               by its header: ``'binance'`` (``id,price,qty,...``),
                             ``'binance-bookticker'`` (``update_id,best_bid_price,...``),
                             ``'funding-csv'`` (``Symbol,Date,Funding Rate``),
                             ``'tardis-l2'`` (Tardis ``incremental_book_L2``),
                             ``'tardis-snapshot'`` (Tardis ``book_snapshot_N``), else ``'csv'``
===========================  ================================================================

``'candles'`` (OHLCV expanded into a synthetic trade path) is never detected: synthetic trades
must be asked for, and so must ``label="right"`` when ``ts`` stamps the bar end (the default
``"left"`` is the bar start; see :mod:`data_loaders.readers.candles`).

A file that cannot be read at all (a truncated ``.gz``, a cut-off Feather file, random bytes
named ``.parquet``, an empty file, binary data named ``.csv``) raises a
:class:`~data_loaders.validate.DataError` naming the file (the member file, for a dataset) and
what is wrong, with the line where the readable part ends when it can be found.

What ``market`` means depends on whether the source names its markets:

* canonical tables and files, dYdX funding / oracle / fills / candles: it **selects** the rows
  of that market (an error if there are none);
* Binance files (default: the symbol in the file name), dYdX trades (required) and candles
  DataFrames: it **names** the rows;
* ``'funding-csv'``: it renames the ``Symbol`` (a str, or a ``{symbol: market}`` dict).

``start`` / ``end`` keep ``start <= ts < end`` (naive bounds are UTC). For ``'dataset'`` the
range is pushed down into the Parquet scan so only that range is read; for every other format
the whole source is read and validated, then filtered.

Examples
--------
>>> import data_loaders as dl
>>> trades = dl.load_trades("BTCUSDT-trades-2024-08-08-2354.csv.gz", market="BTC-USD")  # doctest: +SKIP
>>> day = dl.load_trades("archive/trades/", start="2022-11-07", end="2022-11-08")      # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .schemas import GROUP_COLUMN
from .validate import DataError, conform
from .readers import binance, dydx, tardis
from .readers._common import first_record, in_range, reads_file, strip_suffixes
from .readers.candles import candles_to_trades, check_label, read_candles
from .readers.canonical import canonical_reader
from .readers.funding_csv import is_funding_csv, read_funding_csv

#: every format name
FORMATS = ("csv", "parquet", "feather", "dataset", "binance", "binance-bookticker", "dydx",
           "funding-csv", "candles", "tardis-l2", "tardis-snapshot")

_CANONICAL = ("csv", "parquet", "feather", "dataset")

#: formats each table kind can be loaded from
KIND_FORMATS = {
    "trades": _CANONICAL + ("binance", "dydx", "candles"),
    "funding": _CANONICAL + ("dydx", "funding-csv"),
    "oracle": _CANONICAL + ("dydx",),
    "latency": _CANONICAL,
    "book": _CANONICAL + ("binance-bookticker",),
    "book_levels": _CANONICAL + ("tardis-l2", "tardis-snapshot", "dydx"),
}

_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".feather": "feather", ".arrow": "feather",
             ".ipc": "feather", ".json": "dydx"}


# --------------------------------------------------------------------------- format detection
@reads_file
def detect_format(source) -> str:
    """The format name :func:`load_trades` and friends would use for ``source``.

    Returns ``'frame'`` for a DataFrame or Arrow table.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the extension is not one of the known ones (the message lists the formats).

    Examples
    --------
    >>> detect_format({"trades": []})
    'dydx'
    >>> detect_format("BTCUSDT-trades-2024-08-08-2354.csv.gz")         # doctest: +SKIP
    'binance'
    """
    if isinstance(source, (pd.DataFrame, pa.Table)):
        return "frame"
    if isinstance(source, (dict, list, tuple)):
        return "dydx"
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if path.is_dir():
        return "dataset"
    _, suffix = strip_suffixes(path)
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix == ".csv":
        return _sniff_csv(path)
    raise ValueError(f"{path}: cannot tell the format from the extension {suffix or '(none)'}; "
                     f"pass format= one of {', '.join(FORMATS)}")


def _sniff_csv(path) -> str:
    layout = binance.sniff(path)
    if layout == "trades":
        return "binance"
    if layout == "bookticker":
        return "binance-bookticker"
    layout = tardis.sniff(first_record(path))
    if layout is not None:
        return layout
    return "funding-csv" if is_funding_csv(path) else "csv"


#: the table kind each source format holds (dYdX JSON and canonical files: by their content)
FORMAT_KIND = {"binance": "trades", "binance-bookticker": "book", "funding-csv": "funding",
               "tardis-l2": "book_levels", "tardis-snapshot": "book_levels"}
#: the table kind of each dYdX indexer payload key (``bids``/``asks``: an order-book response)
_DYDX_KIND = {"trades": "trades", "fills": "trades", "historicalFunding": "funding", "bids": "book_levels"}


@reads_file
def detect_kind(source) -> str | None:
    """The table kind a source in a venue format holds, from its content, or None.

    Venue files say it by their layout (a Tardis header is ``book_levels``, a Binance trades
    header ``trades``, ...), dYdX JSON by its payload key. Canonical files give None: their
    columns can fit several kinds (an oracle table's are a subset of a trades table's), so
    the kind must be said. dYdX candles give None too: they become trades only when asked
    (``format='candles'``).

    Examples
    --------
    >>> detect_kind("deribit_BTC-PERPETUAL_2020-04-01.csv.gz")                    # doctest: +SKIP
    'book_levels'
    """
    fmt = detect_format(source)
    if fmt in FORMAT_KIND:
        return FORMAT_KIND[fmt]
    if fmt == "dydx":
        if isinstance(source, (str, Path)):
            source = dydx._load_json(source)
        pages = dydx._raw_pages(source)
        keys = set().union(*(set(dydx._payload(p)) for p in pages)) if pages else set()
        found = [kind for key, kind in _DYDX_KIND.items() if key in keys]
        return found[0] if found else None
    return None


def _resolve(kind: str, source, fmt: str | None) -> str:
    if fmt is None:
        return detect_format(source)
    fmt = fmt.lower()
    if isinstance(source, (pd.DataFrame, pa.Table)) and fmt != "candles":
        raise ValueError(f"an in-memory {type(source).__name__} needs no format= (only "
                         f"format='candles' applies to one); got {fmt!r}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    if fmt not in KIND_FORMATS[kind]:
        raise ValueError(f"format {fmt!r} does not hold {kind}; {kind} can be loaded from: "
                         f"{', '.join(KIND_FORMATS[kind])}")
    return fmt


# --------------------------------------------------------------------------- reading
def _name(source) -> str:
    return "pyarrow.Table" if isinstance(source, pa.Table) else "DataFrame"


def _select(table: pa.Table, kind: str, key, source) -> pa.Table:
    """Rows of one market (venue for latency) of a source that names its markets."""
    if key is None:
        return table
    column = GROUP_COLUMN[kind]
    mask = pc.equal(table.column(column).cast(pa.string()), key)
    out = table.filter(mask)
    if out.num_rows == 0 and table.num_rows:
        have = sorted(set(table.column(column).cast(pa.string()).to_pylist()))
        raise DataError(str(source), f"no rows with {column} {key!r}; the source has {have}")
    return out


def _read_canonical(kind, source, fmt, key, start, end, tz, sort, drop_duplicates, kwargs):
    if fmt == "parquet" and isinstance(source, (str, Path)) and Path(source).is_dir():
        fmt = "dataset"  # a folder of Parquet files: read as a dataset, the range pushed down
    if fmt == "frame":
        extra = {k: v for k, v in kwargs.items() if k != "allow_extreme"}
        if extra:
            raise TypeError(f"unexpected arguments for an in-memory table: {sorted(extra)}")
        table = conform(source, kind, _name(source), tz=tz, sort=sort, drop_duplicates=drop_duplicates,
                        allow_extreme=kwargs.get("allow_extreme", False))
        return _select(table, kind, key, _name(source))
    if fmt == "dataset":
        column = GROUP_COLUMN[kind]
        row_filter = None if key is None else ds.field(column) == key  # pushed down too
        return canonical_reader(fmt)(source, kind, start=start, end=end, tz=tz, sort=sort,
                                     drop_duplicates=drop_duplicates, filter=row_filter, **kwargs)
    table = canonical_reader(fmt)(source, kind, tz=tz, sort=sort, drop_duplicates=drop_duplicates, **kwargs)
    return _select(table, kind, key, source)


def _read_dydx(kind, source, market, opts):
    if kind == "book_levels":
        extra = sorted(set(opts) - {"ts", "sort", "drop_duplicates"})
        if extra:
            raise TypeError(f"unexpected arguments for a dYdX order book: {extra}")
        return dydx.read_dydx_orderbook(source, market, opts.get("ts"))
    keys = dydx.payload_keys(source)
    if kind == "trades":
        if dydx.KEYS["fills"] in keys:
            return dydx.read_dydx_fills(source, market, **opts)
        if dydx.KEYS["candles"] in keys:
            raise ValueError("these are dYdX candles: pass format='candles' to expand them into "
                             "synthetic trades")
        return dydx.read_dydx_trades(source, market, **opts)
    if kind == "funding":
        return dydx.read_dydx_funding(source, market, **opts)
    return dydx.read_dydx_oracle(source, market, **opts)  # oracle


def _read_candles(source, market, tz, opts, kwargs):
    bar = kwargs.pop("bar", None)
    label = kwargs.pop("label", None)
    if label is not None:
        check_label(label)
    if isinstance(source, (dict, list, tuple)) or (
            isinstance(source, (str, Path)) and strip_suffixes(source)[1] == ".json"):
        if label not in (None, "left"):
            raise ValueError(f"dYdX candles are stamped at the bar start (startedAt): label={label!r} "
                             "does not apply")
        return dydx.read_dydx_candle_trades(source, market, **opts)
    if not market:
        raise ValueError("candles do not name their market: pass market= (on the command line, --market)")
    if isinstance(source, (pd.DataFrame, pa.Table)):
        return candles_to_trades(source, market, bar=bar, label=label, tz=tz, source=_name(source))
    frame = read_candles(source, label=label or "left", tz=tz, **kwargs)
    return candles_to_trades(frame, market, bar=bar, source=str(source))


def _load(kind, source, fmt, market, start, end, tz, sort, drop_duplicates, kwargs) -> pa.Table:
    fmt = _resolve(kind, source, fmt)
    if fmt not in KIND_FORMATS[kind] + ("frame",):
        raise ValueError(f"{source}: detected format {fmt!r}, which does not hold {kind}; {kind} can "
                         f"be loaded from: {', '.join(KIND_FORMATS[kind])} (pass format=)")
    opts = dict(sort=sort, drop_duplicates=drop_duplicates)
    if fmt in _CANONICAL + ("frame",):
        table = _read_canonical(kind, source, fmt, market, start, end, tz, sort, drop_duplicates, kwargs)
        if fmt == "dataset" or (fmt == "parquet" and isinstance(source, (str, Path)) and Path(source).is_dir()):
            return table  # the range was applied while reading
    elif fmt == "binance":
        table = binance.read_binance_trades(source, market, **opts, **kwargs)
    elif fmt == "binance-bookticker":
        table = binance.read_binance_book_ticker(source, market, **opts, **kwargs)
    elif fmt == "funding-csv":
        table = read_funding_csv(source, tz=tz, market=market, **opts, **kwargs)
    elif fmt == "candles":
        table = _read_candles(source, market, tz, opts, dict(kwargs))
    elif fmt == "tardis-l2":
        table = tardis.read_tardis_incremental_l2(source, market, **opts, **kwargs)
    elif fmt == "tardis-snapshot":
        table = tardis.read_tardis_book_snapshot(source, market, **opts, **kwargs)
    else:  # dydx
        table = _read_dydx(kind, source, market, {**opts, **kwargs})
    return in_range(table, start, end)


# --------------------------------------------------------------------------- public API
def load_trades(source, format: str | None = None, *, market: str | None = None, start=None,
                end=None, tz: str | None = None, sort: bool = False,
                drop_duplicates: bool = False, **reader_kwargs) -> pa.Table:
    """Load a canonical trades table.

    Parameters
    ----------
    source : str, Path, pandas.DataFrame, pyarrow.Table, dict or list
        A file or dataset directory, an in-memory table with canonical columns, or parsed dYdX
        indexer JSON (``/v4/trades`` or ``/v4/fills``; ``/v4/candles`` with ``format='candles'``).
    format : str, optional
        One of ``'csv'``, ``'parquet'``, ``'feather'``, ``'dataset'``, ``'binance'``,
        ``'dydx'``, ``'candles'``; detected from the source if omitted (see the module docstring).
    market : str, optional
        Selects or names the market, depending on the format (see the module docstring).
    start, end : str, datetime or Timestamp, optional
        Keep ``start <= ts < end``; pushed down for datasets, applied after reading otherwise.
    tz : str, optional
        Zone of naive timestamps (canonical sources, candles, funding CSV); naive timestamps
        are an error without it. Binance and dYdX timestamps are absolute (epoch ms, ISO with
        ``Z``), so it does not apply to them.
    sort, drop_duplicates : bool
        Opt-in repairs; each reports what it changed (log and table metadata).
    **reader_kwargs
        Passed to the reader: ``ts_unit`` (canonical files: ``'s'``, ``'ms'``, ``'us'``,
        ``'ns'`` or ``'auto'``), ``time_unit`` (Binance: ``'auto'`` by default), ``bar``
        and ``label`` (candles: ``label="left"``, the default, when ``ts`` is the bar start as
        in Binance klines; ``"right"`` when it is the bar end; see
        :mod:`data_loaders.readers.candles`), ``date_partition`` / ``partitioning`` (datasets), ...

    Returns
    -------
    pyarrow.Table
        A valid canonical trades table.

    Raises
    ------
    DataError
        Naming the source, row (and line for text files) and column of the first bad value.
    ValueError
        For an unknown format (the message lists the valid ones) or missing arguments.

    Examples
    --------
    >>> from data_loaders import load_trades
    >>> t = load_trades("BTCUSDT-trades-2024-08-08-2354.csv.gz", market="BTC-USD")  # doctest: +SKIP
    >>> t.num_rows                                                      # doctest: +SKIP
    21313
    """
    return _load("trades", source, format, market, start, end, tz, sort, drop_duplicates, reader_kwargs)


def load_funding(source, format: str | None = None, *, market=None, start=None, end=None,
                 tz: str | None = None, sort: bool = False, drop_duplicates: bool = False,
                 allow_extreme: bool = False, **reader_kwargs) -> pa.Table:
    """Load a canonical funding table.

    Formats: ``'csv'``, ``'parquet'``, ``'feather'``, ``'dataset'``, ``'dydx'``
    (``/v4/historicalFunding``: 1-hour rates with the oracle price) and ``'funding-csv'``
    (``Symbol,Date,Funding Rate``; give ``tz=`` or ``utc_offset=``, and ``interval=`` when not
    hourly). ``allow_extreme=True`` accepts rates beyond the plausible bound
    (:data:`data_loaders.plausible.MAX_FUNDING_RATE_PER_HOUR` per hour of the interval; two
    rows of one market at one time stay an error). Other parameters as in :func:`load_trades`.

    Returns
    -------
    pyarrow.Table
        A valid canonical funding table.

    Examples
    --------
    >>> from data_loaders import load_funding
    >>> f = load_funding("BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv.gz",
    ...                  utc_offset=3, interval="8h", market="BTC-USD")  # doctest: +SKIP
    """
    return _load("funding", source, format, market, start, end, tz, sort, drop_duplicates,
                 {**reader_kwargs, "allow_extreme": allow_extreme})


def load_oracle(source, format: str | None = None, *, market: str | None = None, start=None,
                end=None, tz: str | None = None, sort: bool = False,
                drop_duplicates: bool = False, **reader_kwargs) -> pa.Table:
    """Load a canonical oracle-price table.

    Formats: ``'csv'``, ``'parquet'``, ``'feather'``, ``'dataset'`` and ``'dydx'``, which
    takes ``/v4/historicalFunding`` JSON and yields its oracle prices (``price`` at
    ``effectiveAt``). Other parameters as in :func:`load_trades`.

    Returns
    -------
    pyarrow.Table
        A valid canonical oracle table.

    Examples
    --------
    >>> from data_loaders import load_oracle
    >>> o = load_oracle("http_get_historical_funding.json", format="dydx")  # doctest: +SKIP
    """
    return _load("oracle", source, format, market, start, end, tz, sort, drop_duplicates, reader_kwargs)


def load_latency(source, format: str | None = None, *, venue: str | None = None, start=None,
                 end=None, tz: str | None = None, sort: bool = False,
                 drop_duplicates: bool = False, **reader_kwargs) -> pa.Table:
    """Load a canonical latency trace (per venue).

    Formats: ``'csv'``, ``'parquet'``, ``'feather'``, ``'dataset'``. In text files durations
    are ``"250ms"``-style strings or integer nanoseconds, ``up`` is true/false. ``venue``
    selects the rows of one venue. Other parameters as in :func:`load_trades`.

    Returns
    -------
    pyarrow.Table
        A valid canonical latency table.

    Examples
    --------
    >>> from data_loaders import load_latency
    >>> lat = load_latency("trace.csv", venue="dydx")                   # doctest: +SKIP
    """
    return _load("latency", source, format, venue, start, end, tz, sort, drop_duplicates, reader_kwargs)


def load_book(source, format: str | None = None, *, market: str | None = None, start=None,
              end=None, tz: str | None = None, sort: bool = False,
              drop_duplicates: bool = False, **reader_kwargs) -> pa.Table:
    """Load a canonical book-top table.

    Formats: ``'csv'``, ``'parquet'``, ``'feather'``, ``'dataset'`` and
    ``'binance-bookticker'``. Other parameters as in :func:`load_trades`.

    Returns
    -------
    pyarrow.Table
        A valid canonical book table.

    Examples
    --------
    >>> from data_loaders import load_book
    >>> b = load_book("BTCUSDT-bookTicker-2024-08-08-2354.csv.gz", market="BTC-USD")  # doctest: +SKIP
    """
    return _load("book", source, format, market, start, end, tz, sort, drop_duplicates, reader_kwargs)


def load_book_levels(source, format: str | None = None, *, market=None, start=None, end=None,
                     tz: str | None = None, sort: bool = False, drop_duplicates: bool = False,
                     **reader_kwargs) -> pa.Table:
    """Load a canonical ``book_levels`` table (L2 order-book levels: snapshots and updates).

    Formats: ``'csv'``, ``'parquet'`` (a file, or a folder of Parquet files read as a dataset),
    ``'feather'``, ``'dataset'``, ``'tardis-l2'`` (Tardis ``incremental_book_L2`` CSV),
    ``'tardis-snapshot'`` (Tardis ``book_snapshot_N`` CSV; both detected from the header) and
    ``'dydx'`` (one ``/v4/orderbooks`` response; pass ``market=``, and ``ts=``, the time it
    was fetched, unless its saved wrapper records it as ``isoTimestamp``; ``ts=`` wins).
    Tardis readers take ``time='exchange'`` (default: the venue's ``timestamp``) or
    ``time='local'`` (``local_timestamp``, the receipt time), and ``size_unit='base'`` or
    ``'quote'`` (``amount`` in quote units, such as Deribit's USD contracts, converted by
    ``amount / price``; without it, Deribit inverse contracts warn with
    :class:`~data_loaders.UnitsWarning`); ``market`` is None (the file's symbols), a name, or a
    ``{symbol: market}`` dict. Other parameters as in :func:`load_trades`.

    ``start`` / ``end`` cut the rows like any table's, so a range that starts after the last
    snapshot begins with updates to a book it does not hold: slice a
    :class:`~data_loaders.Dataset` instead (``Dataset.slice`` opens the slice with the book in
    force at its start).

    Returns
    -------
    pyarrow.Table
        A valid canonical book_levels table (never crossed at the end of a timestamp).

    Examples
    --------
    >>> import io
    >>> from data_loaders import load_book_levels
    >>> csv = (b"exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\\n"
    ...        b"deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,bid,6421.0,100\\n"
    ...        b"deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6421.5,200\\n")
    >>> load_book_levels(io.BytesIO(csv), format="tardis-l2", market="BTC-USD").num_rows
    2
    >>> book = {"bids": [{"price": "89947", "size": "0.1"}], "asks": [{"price": "89958", "size": "0.2"}]}
    >>> load_book_levels(book, market="BTC-USD", ts="2025-12-08T16:12:00Z").num_rows
    2
    """
    return _load("book_levels", source, format, market, start, end, tz, sort, drop_duplicates, reader_kwargs)
