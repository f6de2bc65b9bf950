"""Readers of dYdX v4 indexer JSON responses: ``/v4/trades``, ``/v4/historicalFunding``,
``/v4/candles``, ``/v4/fills`` and ``/v4/orderbooks/perpetualMarket/{ticker}``
(:func:`read_dydx_orderbook`: one book snapshot, stamped with a time you give).

Input
    A path to a ``.json`` (or ``.json.gz``) file, a parsed ``dict``, or a list of pages (dicts
    or paths). A page is either the raw indexer payload (``{"trades": [...]}``) or a wrapper
    holding it under ``"result"`` (``{"requestId": ..., "result": {"trades": [...]}}``).
Values
    Numbers arrive as strings (``"89942"``) and are parsed; timestamps are ISO strings in UTC
    (``"2025-12-08T16:11:30.590Z"``).
Order
    The indexer returns every page **newest first**. This is the format's order, so the readers
    reverse each page explicitly, and place pages by their oldest row (pages fetched backwards
    in time therefore line up oldest first). That is not a repair: a page that is *not*
    newest first, or pages that interleave in time, are still an error unless ``sort=True``.
Duplicates
    Consecutive pages may repeat the boundary row. Rows whose id (``id`` for trades and fills;
    ticker and time for funding; ticker, resolution and start for candles) repeats an earlier
    one are an error unless ``drop_duplicates=True``, which keeps the first and records the
    count under ``data_loaders.dropped_duplicates``.
Errors
    A :class:`~data_loaders.validate.DataError` names the source, the page (when there are
    several), the index of the row in that page's list, and the field.

Examples
--------
>>> from data_loaders.readers.dydx import read_dydx_trades
>>> page = {"trades": [
...     {"id": "b", "side": "SELL", "size": "0.5", "price": "101", "createdAt": "2025-01-01T00:00:02Z"},
...     {"id": "a", "side": "BUY", "size": "0.1", "price": "100", "createdAt": "2025-01-01T00:00:01Z"}]}
>>> read_dydx_trades(page, market="BTC-USD").column("side").to_pylist()
[1, -1]
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..validate import DataError
from ._common import (Origin, conform_at, dedupe_by_key, parse_float, parse_timestamps,
                      reads_file, sort_by_ts, with_metadata)
from .candles import candles_to_trades

#: payload key of each endpoint
KEYS = {"trades": "trades", "funding": "historicalFunding", "candles": "candles", "fills": "fills"}

#: candle ``resolution`` -> bar length
RESOLUTIONS = {"1MIN": "1min", "5MINS": "5min", "15MINS": "15min", "30MINS": "30min",
               "1HOUR": "1h", "4HOURS": "4h", "1DAY": "1D"}

_SIDES = {"BUY": 1, "SELL": -1}


# --------------------------------------------------------------------------- pages
@reads_file
def _load_json(path):
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _payload(page: dict) -> dict:
    if "result" in page and isinstance(page["result"], dict):
        return page["result"]
    return page


def payload_keys(source) -> set[str]:
    """The endpoint keys (``trades``, ``historicalFunding``, ...) present in ``source``.

    Examples
    --------
    >>> payload_keys({"result": {"candles": []}})
    {'candles'}
    """
    found = set()
    for page in _raw_pages(source):
        found |= set(_payload(page)) & set(KEYS.values())
    return found


def _raw_pages(source) -> list[dict]:
    if isinstance(source, (str, Path)):
        return _raw_pages(_load_json(source))
    if isinstance(source, dict):
        return [source]
    if isinstance(source, (list, tuple)):
        return [page for item in source for page in _raw_pages(item)]
    raise TypeError(f"expected a path, a dict or a list of pages, got {type(source).__name__}")


def read_pages(source, key: str) -> tuple[str, list[list[dict]]]:
    """(source name, rows of each page) of the endpoint payload ``key`` in ``source``.

    Examples
    --------
    >>> read_pages([{"trades": [{"id": "x"}]}, {"result": {"trades": []}}], "trades")
    ('dYdX indexer JSON', [[{'id': 'x'}], []])
    """
    name = str(source) if isinstance(source, (str, Path)) else "dYdX indexer JSON"
    pages = []
    for page in _raw_pages(source):
        payload = _payload(page)
        rows = payload.get(key)
        if not isinstance(rows, list):
            raise DataError(name, f"page {len(pages)}: expected an indexer payload with a list "
                            f"under {key!r} (or under 'result'); got keys {sorted(payload)}")
        pages.append(rows)
    return name, pages


class _Rows:
    """The rows of all pages, flattened in the order given, with their page and index."""

    def __init__(self, source, key: str):
        self.name, pages = read_pages(source, key)
        self.rows = [row for page in pages for row in page]
        self.pages = np.repeat(np.arange(len(pages)), [len(p) for p in pages])
        self.items = np.concatenate([np.arange(len(p)) for p in pages]) if pages else np.zeros(0, int)
        self.origin = Origin(self.name, pages=self.pages, items=self.items)

    def field(self, name: str) -> pa.Array:
        """One field of every row as text (numbers arrive as strings; ints are stringified)."""
        values = [row.get(name) if isinstance(row, dict) else None for row in self.rows]
        return pa.array([None if v is None else str(v) for v in values], pa.string())

    def number(self, name: str) -> pa.ChunkedArray:
        return parse_float(self.field(name), name, self.origin)

    def time(self, name: str) -> pa.ChunkedArray:
        return parse_timestamps(self.field(name), name, self.origin)

    def side(self, name: str = "side") -> pa.Array:
        text = self.field(name).to_pylist()
        bad = [i for i, v in enumerate(text) if v is not None and v.upper() not in _SIDES]
        if bad:
            raise self.origin.error(name, bad[0], text[bad[0]], "BUY or SELL")
        return pa.array([None if v is None else _SIDES[v.upper()] for v in text], pa.int8())

    def format_order(self, ts: pa.ChunkedArray) -> np.ndarray:
        """Each page reversed (the indexer sends newest first), pages by their oldest row."""
        missing = ts.is_null().to_numpy(zero_copy_only=False)
        t = ts.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        groups = []
        for p in np.unique(self.pages):
            idx = np.flatnonzero(self.pages == p)[::-1]
            valid = t[idx][~missing[idx]]  # a missing time is reported by conform, not here
            groups.append((valid.min() if valid.size else np.iinfo(np.int64).min, p, idx))
        groups.sort(key=lambda g: (g[0], g[1]))
        return np.concatenate([g[2] for g in groups]) if groups else np.zeros(0, np.int64)


def _select(table: pa.Table, origin: Origin, column: str, market, what: str):
    """Keep the rows of one market (by its name in the source)."""
    if market is None or table.num_rows == 0:
        return table, origin
    names = table.column(column)
    keep = np.flatnonzero(pc.equal(names, market).fill_null(False).to_numpy(zero_copy_only=False))
    if keep.size == 0:
        have = sorted(set(names.to_pylist()) - {None})
        raise DataError(origin.source, f"no {what} rows of market {market!r}; the source has {have}")
    return table.take(pa.array(keep)), origin.take(keep)


def _arrange(table: pa.Table, rows: _Rows, key_values, key_name: str, *, sort: bool,
             drop_duplicates: bool) -> tuple[pa.Table, Origin, dict]:
    """Format order, then the opt-in duplicate and sort repairs (rows tracked for errors)."""
    order = rows.format_order(table.column("ts"))
    table, origin = table.take(pa.array(order, pa.int64())), rows.origin.take(order)
    keys = np.asarray(key_values, dtype=object)[order]
    table, origin, meta = dedupe_by_key(table, keys, key_name, origin, drop_duplicates)
    if sort:
        table, origin, sort_meta = sort_by_ts(table, origin)
        meta = {**meta, **sort_meta}
    return table, origin, meta


def _joined(table: pa.Table, columns) -> list:
    """A text key per row made of several columns (nulls as empty)."""
    parts = [pc.fill_null(table.column(c).cast(pa.string()), "") for c in columns]
    return pc.binary_join_element_wise(*parts, " ").to_pylist()


def _finish(table, origin, meta, kind, **kwargs):
    table = with_metadata(table, meta) if meta else table
    return conform_at(table, kind, origin, **kwargs)


# --------------------------------------------------------------------------- trades
def read_dydx_trades(source, market: str, *, sort: bool = False,
                     drop_duplicates: bool = False) -> pa.Table:
    """Read ``/v4/trades`` pages into a canonical trades table.

    Parameters
    ----------
    source : str, Path, dict or list
        The JSON (see the module docstring for the accepted shapes).
    market : str
        Market name of the rows (``/v4/trades`` rows carry no ticker; it is in the request).
    sort, drop_duplicates : bool
        Opt-in repairs: sort by time; drop rows repeating an earlier ``id``.

    Returns
    -------
    pyarrow.Table
        Canonical trades, oldest first; ``side`` is the taker's side (BUY +1, SELL -1).

    Examples
    --------
    >>> t = read_dydx_trades("http_get_trades.json", market="BTC-USD")  # doctest: +SKIP
    """
    if not market:
        raise ValueError("dYdX /v4/trades rows carry no ticker: pass market= (e.g. 'BTC-USD')")
    rows = _Rows(source, KEYS["trades"])
    n = len(rows.rows)
    table = pa.table({
        "ts": rows.time("createdAt"),
        "market": pa.array([market] * n, pa.string()),
        "price": rows.number("price"),
        "size": rows.number("size"),
        "side": rows.side(),
    })
    table, origin, meta = _arrange(table, rows, rows.field("id").to_pylist(), "id", sort=sort,
                                   drop_duplicates=drop_duplicates)
    return _finish(table, origin, meta, "trades")


# --------------------------------------------------------------------------- funding and oracle
def _funding_rows(source, market, sort, drop_duplicates):
    rows = _Rows(source, KEYS["funding"])
    table = pa.table({
        "ts": rows.time("effectiveAt"),
        "market": rows.field("ticker"),
        "rate": rows.number("rate"),
        "price": rows.number("price"),
    })
    keys = _joined(table, ("market", "ts"))
    table, origin, meta = _arrange(table, rows, keys, "effectiveAt", sort=sort,
                                   drop_duplicates=drop_duplicates)
    table, origin = _select(table, origin, "market", market, "historicalFunding")
    return table, origin, meta


def read_dydx_funding(source, market: str | None = None, *, sort: bool = False,
                      drop_duplicates: bool = False, allow_extreme: bool = False) -> pa.Table:
    """Read ``/v4/historicalFunding`` pages into a canonical funding table.

    ``rate`` is already the 1-hour rate dYdX v4 pays (no conversion) and ``price`` is the
    oracle price at ``effectiveAt``, so the result has ``interval`` 1 h and ``oracle_price``
    filled.

    Parameters
    ----------
    source : str, Path, dict or list
        The JSON (see the module docstring).
    market : str, optional
        Keep only the rows of this ticker (an error if there are none); default: all rows,
        named by their ``ticker``.
    sort, drop_duplicates : bool
        Opt-in repairs (duplicates: same ticker and ``effectiveAt``).
    allow_extreme : bool
        Accept rates beyond the plausible bound (see :func:`~data_loaders.validate`).

    Returns
    -------
    pyarrow.Table
        Canonical funding, oldest first.

    Examples
    --------
    >>> f = read_dydx_funding("http_get_historical_funding.json")       # doctest: +SKIP
    >>> f.column("interval")[0].as_py()                                 # doctest: +SKIP
    datetime.timedelta(seconds=3600)
    """
    table, origin, meta = _funding_rows(source, market, sort, drop_duplicates)
    n = table.num_rows
    table = pa.table({
        "ts": table.column("ts"), "market": table.column("market"), "rate": table.column("rate"),
        "interval": pa.array(np.full(n, 3_600_000_000_000, np.int64)).cast(pa.duration("ns")),
        "oracle_price": table.column("price"),
    })
    return _finish(table, origin, meta, "funding", allow_extreme=allow_extreme)


def read_dydx_oracle(source, market: str | None = None, *, sort: bool = False,
                     drop_duplicates: bool = False) -> pa.Table:
    """The oracle prices (``price`` at ``effectiveAt``) of ``/v4/historicalFunding`` pages.

    Parameters are those of :func:`read_dydx_funding`.

    Returns
    -------
    pyarrow.Table
        Canonical oracle table, oldest first (one row per funding hour).

    Examples
    --------
    >>> o = read_dydx_oracle("http_get_historical_funding.json")        # doctest: +SKIP
    """
    table, origin, meta = _funding_rows(source, market, sort, drop_duplicates)
    table = table.select(["ts", "market", "price"])
    return _finish(table, origin, meta, "oracle")


# --------------------------------------------------------------------------- candles
def read_dydx_candles(source, market: str | None = None, *, sort: bool = False,
                      drop_duplicates: bool = False) -> pd.DataFrame:
    """Read ``/v4/candles`` pages into an OHLCV DataFrame.

    Parameters
    ----------
    source : str, Path, dict or list
        The JSON (see the module docstring).
    market : str, optional
        Keep only the candles of this ticker; required if the pages hold several.
    sort, drop_duplicates : bool
        Opt-in repairs (duplicates: same ticker, resolution and ``startedAt``).

    Returns
    -------
    pandas.DataFrame
        Columns ``ts`` (bar start, UTC), ``open``, ``high``, ``low``, ``close``, ``volume``
        (``baseTokenVolume``), oldest first; ``attrs["market"]`` is the ticker,
        ``attrs["bar"]`` the bar length from ``resolution`` and ``attrs["label"]`` is
        ``"left"`` (``ts`` stamps the bar start).

    Examples
    --------
    >>> bars = read_dydx_candles("http_get_candles.json")               # doctest: +SKIP
    >>> bars.attrs["bar"]                                               # doctest: +SKIP
    Timedelta('0 days 00:01:00')
    """
    rows = _Rows(source, KEYS["candles"])
    table = pa.table({"ts": rows.time("startedAt"), "market": rows.field("ticker"),
                      "resolution": rows.field("resolution"),
                      **{k: rows.number(k) for k in ("open", "high", "low", "close")},
                      "volume": rows.number("baseTokenVolume")})
    keys = _joined(table, ("market", "resolution", "ts"))
    table, origin, _ = _arrange(table, rows, keys, "startedAt", sort=sort, drop_duplicates=drop_duplicates)
    table, origin = _select(table, origin, "market", market, "candle")
    ticker = _single(table, origin, "market", "ticker")
    resolution = _single(table, origin, "resolution", "resolution")
    frame = table.select(["ts", "open", "high", "low", "close", "volume"]).to_pandas()
    ts = table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
    if (np.diff(ts) <= 0).any():
        row = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
        raise origin.error("startedAt", row, str(frame["ts"].iloc[row]),
                           "candles in time order (pass sort=True to sort)")
    frame.attrs.update(market=ticker, bar=_bar(resolution, origin), label="left")
    return frame


def _single(table: pa.Table, origin: Origin, column: str, what: str):
    values = pc.unique(table.column(column)).drop_null().to_pylist()
    if len(values) > 1:
        raise DataError(origin.source, f"candles of several {what}s {values}; pass market= or "
                        "split the pages")
    return values[0] if values else None


def _bar(resolution, origin: Origin):
    if resolution is None:
        return None
    if resolution not in RESOLUTIONS:
        raise DataError(origin.source, f"unknown candle resolution {resolution!r}; expected one "
                        f"of {', '.join(RESOLUTIONS)}")
    return pd.Timedelta(RESOLUTIONS[resolution])


def read_dydx_candle_trades(source, market: str | None = None, *, sort: bool = False,
                            drop_duplicates: bool = False) -> pa.Table:
    """``/v4/candles`` pages expanded into synthetic trades by :func:`candles_to_trades`.

    The bar length comes from the candles' ``resolution`` and ``startedAt`` is the bar start
    (``label="left"``), so a bar's open trades at ``startedAt + 1 ns``; the trades are marked
    ``data_loaders.synthetic_trades = ohlcv`` in the table metadata.

    Parameters
    ----------
    source : str, Path, dict or list
        The JSON.
    market : str, optional
        The ticker to read (default: the only one present); also the trades' market name.
    sort, drop_duplicates : bool
        As in :func:`read_dydx_candles`.

    Examples
    --------
    >>> t = read_dydx_candle_trades("http_get_candles.json")            # doctest: +SKIP
    >>> t.schema.metadata[b"data_loaders.synthetic_trades"]             # doctest: +SKIP
    b'ohlcv'
    """
    frame = read_dydx_candles(source, market, sort=sort, drop_duplicates=drop_duplicates)
    name = market or frame.attrs.get("market")
    if not name:
        raise ValueError("no candles to name a market from; pass market=")
    source_name = str(source) if isinstance(source, (str, Path)) else "dYdX candles"
    # dYdX stamps a candle at its start (startedAt)
    return candles_to_trades(frame, name, bar=frame.attrs.get("bar"), label="left", source=source_name)


# --------------------------------------------------------------------------- fills
_FILL_EXTRAS = {"fee": "fee", "liquidity": "liquidity", "order_id": "orderId", "fill_id": "id",
                "type": "type"}


def read_dydx_fills(source, market: str | None = None, *, as_frame: bool = False, sort: bool = False,
                    drop_duplicates: bool = False):
    """Read ``/v4/fills`` pages: the account's own fills.

    Parameters
    ----------
    source : str, Path, dict or list
        The JSON (see the module docstring).
    market : str, optional
        Keep only the fills of this market (the rows' ``market`` field).
    as_frame : bool
        Return a DataFrame with the canonical trade columns plus ``fee`` (quote, float),
        ``liquidity`` (TAKER/MAKER), ``order_id``, ``fill_id`` and ``type``.
    sort, drop_duplicates : bool
        Opt-in repairs (duplicates: same fill ``id``).

    Returns
    -------
    pyarrow.Table or pandas.DataFrame
        Canonical trades, oldest first; ``side`` is the account's side (BUY +1, SELL -1), which
        is not the aggressor's when the fill was a MAKER fill.

    Examples
    --------
    >>> fills = read_dydx_fills("http_get_fills.json", as_frame=True)   # doctest: +SKIP
    >>> list(fills.columns)[-5:]                                        # doctest: +SKIP
    ['fee', 'liquidity', 'order_id', 'fill_id', 'type']
    """
    rows = _Rows(source, KEYS["fills"])
    table = pa.table({"ts": rows.time("createdAt"), "market": rows.field("market"),
                      "price": rows.number("price"), "size": rows.number("size"), "side": rows.side()})
    table, origin, meta = _arrange(table, rows, rows.field("id").to_pylist(), "id", sort=sort,
                                   drop_duplicates=drop_duplicates)
    table, origin = _select(table, origin, "market", market, "fill")
    trades = _finish(table, origin, meta, "trades")
    if not as_frame:
        return trades
    frame = trades.to_pandas()
    source_rows = origin.rows if origin.rows is not None else np.arange(len(frame))
    for column, field in _FILL_EXTRAS.items():
        values = np.asarray(rows.field(field).to_pylist(), dtype=object)[source_rows]
        frame[column] = values
    frame["fee"] = parse_float(pa.array(frame["fee"].tolist(), pa.string()), "fee", origin).to_numpy()
    return frame


# --------------------------------------------------------------------------- order book
#: the two lists of a ``/v4/orderbooks/perpetualMarket/{ticker}`` response, and their sides
BOOK_SIDES = (("bids", 1), ("asks", -1))


#: keys of a response wrapper that hold the time the response was fetched (ISO text, UTC)
FETCH_TIME_KEYS = ("isoTimestamp",)


def fetch_time(source):
    """The fetch time a saved response's wrapper carries (``"isoTimestamp"`` next to
    ``"result"``), as its text, or None.

    Examples
    --------
    >>> fetch_time({"isoTimestamp": "2025-12-08T16:12:00.000Z", "result": {"bids": [], "asks": []}})
    '2025-12-08T16:12:00.000Z'
    >>> fetch_time({"bids": [], "asks": []}) is None
    True
    """
    pages = _raw_pages(source)
    if len(pages) != 1:
        return None
    for key in FETCH_TIME_KEYS:
        value = pages[0].get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def read_dydx_orderbook(source, market: str, ts=None) -> pa.Table:
    """Read one ``/v4/orderbooks/perpetualMarket/{ticker}`` response into ``book_levels``.

    The response is the book at the moment it was served and carries no time of its own. A
    saved response whose wrapper records when it was fetched (``"isoTimestamp"`` next to
    ``"result"``, as the dYdX client's captures do) is stamped with that time; ``ts=`` gives
    the time otherwise, and wins over the wrapper's when both are there. It becomes one snapshot of the whole book: a bid group
    then an ask group, in the response's order (best first). A side with no level is one row
    of size 0, which empties that side.

    Parameters
    ----------
    source : str, Path or dict
        The JSON file or the parsed response: ``{"bids": [{"price": "89947", "size":
        "0.0002"}, ...], "asks": [...]}``, bare or under ``"result"``.
    market : str
        Market name of the rows (the ticker is in the request, not the response).
    ts : str, datetime or Timestamp, optional
        Time of the snapshot (naive means UTC). Default: the wrapper's ``isoTimestamp``; an
        error if there is none.

    Returns
    -------
    pyarrow.Table
        Canonical ``book_levels``, every row a snapshot row.

    Raises
    ------
    DataError
        Naming the source, the list and index (``bids`` row 3) and field of a value that is not
        a finite price > 0 or size >= 0, or a best bid at or above the best ask.

    Examples
    --------
    >>> book = {"bids": [{"price": "89947", "size": "0.0002"}, {"price": "89946", "size": "0.5"}],
    ...         "asks": [{"price": "89958", "size": "0.1177"}]}
    >>> t = read_dydx_orderbook(book, "BTC-USD", "2025-12-08T16:12:00Z")
    >>> t.column("side").to_pylist(), t.column("price").to_pylist()
    ([1, 1, -1], [89947.0, 89946.0, 89958.0])
    >>> wrapped = {"isoTimestamp": "2025-12-08T16:12:00.000Z", "result": book}
    >>> str(read_dydx_orderbook(wrapped, "BTC-USD").column("ts")[0])  # the fetch time it records
    '2025-12-08 16:12:00+00:00'
    """
    if not market:
        raise ValueError("a dYdX order book names no market: pass market= (e.g. 'BTC-USD')")
    name = str(source) if isinstance(source, (str, Path)) else "dYdX indexer JSON"
    if isinstance(source, (str, Path)):
        source = _load_json(source)
    if ts is None:
        ts = fetch_time(source)
        if ts is None:
            raise ValueError("a dYdX order book carries no time (no 'isoTimestamp' next to its 'result'): "
                             "pass ts= (when it was fetched)")
        try:
            pd.Timestamp(ts)
        except ValueError:
            raise DataError(name, f"the fetch time isoTimestamp {ts!r} is not a time; pass ts=") from None
    pages = _raw_pages(source)
    if len(pages) != 1:
        raise DataError(name, f"expected one order-book response, got {len(pages)} pages")
    payload = _payload(pages[0])
    parts = {}
    for key, code in BOOK_SIDES:
        levels = payload.get(key)
        if not isinstance(levels, list):
            raise DataError(name, f"expected an order book with lists 'bids' and 'asks' (or under 'result'); "
                            f"got keys {sorted(payload)}")
        origin = Origin(f"{name} ({key})")
        field = {f: pa.array([None if not isinstance(v, dict) or v.get(f) is None else str(v.get(f))
                              for v in levels], pa.string()) for f in ("price", "size")}
        price = parse_float(field["price"], "price", origin).to_numpy(zero_copy_only=False)
        size = parse_float(field["size"], "size", origin).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            for col, values, ok, expected in (("price", price, np.isfinite(price) & (price > 0), "a finite price > 0"),
                                              ("size", size, np.isfinite(size) & (size >= 0), "a finite size >= 0")):
                if not ok.all():
                    row = int(np.argmax(~ok))
                    raise origin.error(col, row, levels[row].get(col) if isinstance(levels[row], dict) else None,
                                       expected)
        parts[key] = (origin, price, size, code)
    shown = {k: p[1][p[2] > 0] for k, p in parts.items()}
    if shown["bids"].size and shown["asks"].size and shown["bids"].max() >= shown["asks"].min():
        origin, price = parts["asks"][0], parts["asks"][1]
        row = int(np.argmin(np.where(parts["asks"][2] > 0, price, np.inf)))
        raise origin.error("price", row, float(price[row]), f"an ask above every bid (best bid "
                           f"{float(shown['bids'].max())!r})", message="crossed book")
    if not any(len(p[1]) for p in parts.values()):
        raise DataError(name, "empty order book: no bids and no asks")
    filler = next(float(p[1][0]) for p in parts.values() if len(p[1]))
    sides, prices, sizes = [], [], []
    for key, code in BOOK_SIDES:
        _, price, size, _ = parts[key]
        if not len(price):  # an empty side: one size-0 row clears it
            price, size = np.array([filler]), np.zeros(1)
        sides.append(np.full(len(price), code, np.int8))
        prices.append(price)
        sizes.append(size)
    n = sum(len(p) for p in prices)
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    table = pa.table({
        "ts": pa.array(np.full(n, stamp.as_unit("ns").value, np.int64)).cast(pa.timestamp("ns", tz="UTC")),
        "market": pa.array([market] * n, pa.string()),
        "side": pa.array(np.concatenate(sides)),
        "price": pa.array(np.concatenate(prices)),
        "size": pa.array(np.concatenate(sizes)),
        "is_snapshot": pa.array(np.ones(n, bool)),
    })
    return conform_at(table, "book_levels", Origin(name))
