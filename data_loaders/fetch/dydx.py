"""dYdX v4 indexer source: trades, hourly funding (with oracle prices), candles, market parameters.

Endpoints (GET, JSON, numbers as text; every list newest first):

- ``/v4/perpetualMarkets``: ``{"markets": {ticker: {...}}}``; ``initialMarginFraction``,
  ``maintenanceMarginFraction``, ``tickSize`` and ``stepSize`` become the plain dicts of
  :meth:`DydxSource.markets` (``imf``, ``mmf``, ``tick_size``, ``step_size``), which
  ``backtester.venue_markets`` turns into ``bt.Market`` definitions.
- ``/v4/trades/perpetualMarket/{ticker}``: paged backwards with ``createdBeforeOrAt`` (the
  day's end) and then ``createdBeforeOrAtHeight``. A full page may end inside a block, so its
  oldest block is left for the next page, which asks for that block again; no trade is
  fetched twice and none is skipped (a block with more trades than a page cannot be paged and
  is an error naming it). Trade ids are kept and checked unique.
- ``/v4/historicalFunding/{ticker}``: ``rate`` is the 1-hour rate, ``price`` the oracle price;
  paged backwards with ``effectiveBeforeOrAt``.
- ``/v4/candles/perpetualMarkets/{ticker}``: ``resolution`` ``1MIN`` .. ``1DAY``, ``fromISO`` /
  ``toISO``, paged backwards.

Conversion is done by :mod:`data_loaders.readers.dydx`.

Examples
--------
>>> from data_loaders.fetch.dydx import DydxSource
>>> DydxSource().client.base_url
'https://indexer.dydx.trade'
"""
from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa

from ..readers.dydx import RESOLUTIONS, read_dydx_candles, read_dydx_funding, read_dydx_trades
from ..validate import DataError
from ._http import expect
from .sources import CANDLES, Piece, Source, iso

#: the largest ``limit`` the indexer serves
PAGE_SIZE = 1000
#: before dYdX v4 mainnet (2023-10-26): where the search for a market's first day begins
V4_GENESIS = pd.Timestamp("2023-10-01", tz="UTC")
#: one millisecond: the indexer's bounds are inclusive and its times have millisecond precision
MS = pd.Timedelta("1ms")
_TRADE_FIELDS = ("id", "side", "size", "price", "createdAt", "createdAtHeight")


def market_spec(ticker: str, raw, url: str) -> dict:
    """The parameters of one ``/v4/perpetualMarkets`` entry as a plain dict.

    Examples
    --------
    >>> market_spec("BTC-USD", {"initialMarginFraction": "0.05", "maintenanceMarginFraction": "0.03",
    ...                         "tickSize": "1", "stepSize": "0.0001", "status": "ACTIVE"}, "u")["mmf"]
    0.03
    """
    expect(isinstance(raw, dict), f"{url} (markets[{ticker!r}])", "an object of market parameters", raw)
    out = {}
    for key, name in (("initialMarginFraction", "imf"), ("maintenanceMarginFraction", "mmf"),
                      ("tickSize", "tick_size"), ("stepSize", "step_size")):
        try:
            out[name] = float(raw[key])
        except (KeyError, TypeError, ValueError):
            raise DataError(url, f"market {ticker}: field {key!r}", value=raw.get(key), expected="a number as text") \
                from None
    out["status"] = raw.get("status")
    out["source"] = "dYdX v4 /v4/perpetualMarkets"
    return out


class DydxSource(Source):
    """The dYdX v4 indexer (see the module docstring).

    Parameters
    ----------
    base_url : str, optional
        Default: the public mainnet indexer ``https://indexer.dydx.trade``.
    policy : Policy, optional
        Default: 5 requests a second.
    page_size : int
        Rows asked for per request (at most 1000, the indexer's own limit).
    resolution : str
        Candle resolution: ``1MIN``, ``5MINS``, ``15MINS``, ``30MINS``, ``1HOUR``, ``4HOURS``, ``1DAY``.
    rpc_url : str, optional
        A CometBFT RPC node of dYdX v4 (kind ``latency``: a trace from block headers, see
        :mod:`data_loaders.fetch.cometbft`); with a ``base_url`` of your own it defaults to it.
    trace_every : str
        Sampling period of the latency trace.
    """

    VENUE = "dydx"
    BASE_URL = "https://indexer.dydx.trade"
    RATE = 5.0
    KINDS = {"trades": "trades", "funding": "funding", "candles": CANDLES, "latency": "latency"}
    #: kinds of the venue as a whole, not of a market (stored under market=chain)
    VENUE_WIDE = ("latency",)

    def __init__(self, base_url=None, policy=None, *, page_size: int = PAGE_SIZE, resolution: str = "1MIN",
                 rpc_url: str | None = None, trace_every="5min"):
        super().__init__(base_url, policy)
        self.rpc_url = rpc_url
        self.trace_every = trace_every
        self._chain = None
        if not 1 < int(page_size) <= PAGE_SIZE:
            raise ValueError(f"page_size {page_size}: expected 2 .. {PAGE_SIZE} (the indexer's limit)")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution {resolution!r}: expected one of {', '.join(RESOLUTIONS)}")
        self.page_size = int(page_size)
        self.resolution = resolution
        self._first = {}

    def resolution_of(self, kind: str) -> str | None:
        return self.resolution if kind == CANDLES else None

    @property
    def markets_source(self) -> str:
        return self.client.url("/v4/perpetualMarkets")

    def markets(self) -> dict:
        if self._markets is None:
            url = self.client.url("/v4/perpetualMarkets")
            body = self.client.get_json("/v4/perpetualMarkets")
            expect(isinstance(body, dict) and isinstance(body.get("markets"), dict), url,
                   "an object with 'markets': {ticker: parameters}", body)
            self._markets = {t: market_spec(t, raw, url) for t, raw in body["markets"].items()}
        return self._markets

    def check(self, kinds) -> None:
        if "latency" in kinds:
            self.chain  # noqa: B018 (raises when no RPC node is known)

    @property
    def chain(self):
        """The block-header trace reader (kind ``latency``)."""
        if self._chain is None:
            from ._http import Client
            from .cometbft import ChainTrace

            url = self.rpc_url or (None if self.client.base_url == self.BASE_URL else self.client.base_url)
            if url is None:
                raise ValueError("kind latency reads block headers from a CometBFT RPC node of dYdX v4: give its "
                                 "address (rpc_url=, --rpc-url)")
            self._chain = ChainTrace(Client(url, self.client.policy), venue=self.VENUE, every=self.trace_every)
        return self._chain

    def first_day(self, market: str, kind: str) -> pd.Timestamp | None:
        """The day of the market's oldest daily candle: its first day of trading on v4 (for
        ``latency``: the first whole day the RPC node still serves)."""
        if kind == "latency":
            return self.chain.first_time().ceil("D")
        if market in self._first:
            return self._first[market]
        path = f"/v4/candles/perpetualMarkets/{quote(market)}"
        lo, now = V4_GENESIS, pd.Timestamp.now("UTC")
        first = None
        while lo < now and first is None:
            hi = lo + pd.Timedelta(days=self.page_size - 1)  # one window holds at most a page of days
            params = {"resolution": "1DAY", "fromISO": iso(lo), "toISO": iso(hi), "limit": self.page_size}
            rows = self._rows(path, params, "candles")
            if rows:
                first = pd.Timestamp(_field(rows[-1], "startedAt", self.client.url(path, params))).floor("D")
            lo = hi + MS
        self._first[market] = first
        return first

    def _rows(self, path: str, params: dict, key: str) -> list:
        body = self.client.get_json(path, params)
        url = self.client.url(path, params)
        expect(isinstance(body, dict) and isinstance(body.get(key), list), url, f"an object with a list {key!r}", body)
        rows = body[key]
        for i, row in enumerate(rows):
            expect(isinstance(row, dict), f"{url} ({key}[{i}])", "an object", row)
        return rows

    def fetch_day(self, kind, market, day, hi) -> Piece:
        if kind == "trades":
            return self._trades(market, day, hi)
        if kind == "funding":
            return self._funding(market, day, hi)
        if kind == "latency":
            table, source = self.chain.trace(day, hi)
            return Piece(table, source)
        return self._candles(market, day, hi)

    # ------------------------------------------------------------------ trades
    def _trades(self, market, day, hi) -> Piece:
        path = f"/v4/trades/perpetualMarket/{quote(market)}"
        params = {"limit": self.page_size, "createdBeforeOrAt": iso(hi - MS)}
        first_url, pages, kept, seen = self.client.url(path, params), 0, [], set()
        while True:
            url = self.client.url(path, params)
            rows = self._rows(path, params, "trades")
            pages += 1
            for i, row in enumerate(rows):
                missing = [f for f in _TRADE_FIELDS if f not in row]
                if missing:
                    raise DataError(f"{url} (trades[{i}])", f"a trade without {missing}", expected=
                                    f"fields {', '.join(_TRADE_FIELDS)}")
            times = _times([r["createdAt"] for r in rows], url)
            heights = np.array([int(r["createdAtHeight"]) for r in rows], np.int64)
            if len(rows) > 1 and (np.diff(times.asi8) > 0).any():
                i = int(np.flatnonzero(np.diff(times.asi8) > 0)[0]) + 1
                raise DataError(url, "trades not newest first", row=i, value=rows[i]["createdAt"],
                                expected=f"at or before {rows[i - 1]['createdAt']} (the indexer's order)")
            full = len(rows) >= self.page_size
            take = np.ones(len(rows), bool)
            if full:
                # the page may end inside its oldest block: leave that block to the next page
                take = heights != heights[-1]
                if not take.any():
                    raise DataError(url, f"block {heights[-1]} holds more trades than a page of {self.page_size}; "
                                    "ask for bigger pages (page_size)")
            take &= times.asi8 >= day.value
            for r in (r for r, t in zip(rows, take) if t):
                if r["id"] in seen:
                    raise DataError(url, f"trade id {r['id']!r} returned twice", expected="unique trade ids")
                seen.add(r["id"])
                kept.append(r)
            if not full or times.asi8[-1] < day.value:
                break
            params = {**params, "createdBeforeOrAtHeight": int(heights[-1])}
        table = read_dydx_trades([{"trades": kept}], market=market) if kept else _empty_trades(market)
        ids = pa.array([r["id"] for r in reversed(kept)], pa.string())
        table = table.append_column("id", ids).replace_schema_metadata(None)
        return Piece(table, f"{first_url} ({pages} pages)")

    # ------------------------------------------------------------------ funding
    def _funding(self, market, day, hi) -> Piece:
        path = f"/v4/historicalFunding/{quote(market)}"
        params = {"limit": self.page_size, "effectiveBeforeOrAt": iso(hi - MS)}
        first_url, pages, kept = self.client.url(path, params), 0, []
        while True:
            url = self.client.url(path, params)
            rows = self._rows(path, params, "historicalFunding")
            pages += 1
            times = _times([_field(r, "effectiveAt", url) for r in rows], url)
            kept.extend(r for r, t in zip(rows, times) if t >= day)
            if len(rows) < self.page_size or times[-1] < day:
                break
            params = {**params, "effectiveBeforeOrAt": iso(times[-1] - MS)}
        try:
            table = read_dydx_funding([{"historicalFunding": kept}], market=market)
        except DataError as exc:
            raise DataError(first_url, str(exc)) from None
        return Piece(table.replace_schema_metadata(None), f"{first_url} ({pages} pages)")

    # ------------------------------------------------------------------ candles
    def _candles(self, market, day, hi) -> Piece:
        from .store import CANDLE_SCHEMA

        path = f"/v4/candles/perpetualMarkets/{quote(market)}"
        params = {"resolution": self.resolution, "fromISO": iso(day), "toISO": iso(hi - MS), "limit": self.page_size}
        first_url, pages, kept = self.client.url(path, params), 0, []
        while True:
            url = self.client.url(path, params)
            rows = self._rows(path, params, "candles")
            pages += 1
            kept.extend(rows)
            if len(rows) < self.page_size:
                break
            oldest = pd.Timestamp(_field(rows[-1], "startedAt", url))
            params = {**params, "toISO": iso(oldest - MS)}
        bar = pd.Timedelta(RESOLUTIONS[self.resolution])
        if not kept:
            return Piece(CANDLE_SCHEMA.empty_table(), f"{first_url} ({pages} pages)")
        try:
            frame = read_dydx_candles([{"candles": kept}], market=market)
        except DataError as exc:
            raise DataError(first_url, str(exc)) from None
        n = len(frame)
        table = pa.table({
            "ts": pa.array(frame["ts"].dt.as_unit("ns")).cast(CANDLE_SCHEMA.field("ts").type),
            "market": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([market])),
            **{k: pa.array(frame[k].to_numpy(np.float64)) for k in ("open", "high", "low", "close", "volume")},
            "bar": pa.array(np.full(n, bar.value, np.int64)).cast(pa.duration("ns")),
        }, schema=CANDLE_SCHEMA)
        return Piece(table, f"{first_url} ({pages} pages)")


def _times(texts: list, url: str = "") -> pd.DatetimeIndex:
    """ISO times as a nanosecond UTC index (pandas may pick another unit for text)."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(texts, utc=True, format="ISO8601")).as_unit("ns")
    except (ValueError, TypeError) as exc:
        raise DataError(url, f"a time that is not ISO text: {exc}") from None


def _field(row: dict, name: str, url: str):
    if name not in row:
        raise DataError(url, f"a row without {name!r}", value=sorted(row)[:8], expected=f"a field {name!r}")
    return row[name]


def _empty_trades(market: str) -> pa.Table:  # noqa: ARG001 (a day without trades)
    from ..schemas import SCHEMAS

    return SCHEMAS["trades"].empty_table()


SOURCE = DydxSource
