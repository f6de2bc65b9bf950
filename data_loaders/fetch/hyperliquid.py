"""Hyperliquid info API source (``POST /info``): funding history, candles, recent trades, markets.

Requests and answers (JSON; numbers as text, times in epoch milliseconds, lists oldest first):

- ``{"type": "meta"}``: ``{"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40}, ...]}``.
  Markets are named by their coin (``BTC``). The parameters become ``imf = 1 / maxLeverage``
  and ``mmf = imf / 2`` (Hyperliquid's maintenance margin is half the initial margin at
  maximum leverage) and ``step_size = 10 ** -szDecimals``.
- ``{"type": "fundingHistory", "coin", "startTime", "endTime"}``: at most 500 rows an answer
  (paged forwards from the last time). **Funding convention**: Hyperliquid pays funding every
  hour; ``fundingRate`` is the rate of that one hour (the venue computes an 8-hour rate and
  pays an eighth of it each hour), so it is stored as it stands with ``interval`` 1 h, like
  dYdX v4's. The answer carries no oracle price (``oracle_price`` is null).
- ``{"type": "candleSnapshot", "req": {"coin", "interval", "startTime", "endTime"}}``: at most
  5000 candles an answer, and only the most recent 5000 of an interval are served at all.
- ``{"type": "recentTrades", "coin"}``: the last few trades only. Hyperliquid serves no trade
  history, so a trades partition holds what one fetch saw and is never complete; use candles
  for history. ``side`` ``B`` (bid) is a buyer-initiated trade (+1), ``A`` (ask) -1.

Examples
--------
>>> from data_loaders.fetch.hyperliquid import HyperliquidSource
>>> HyperliquidSource().client.base_url
'https://api.hyperliquid.xyz'
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..readers._common import Origin, conform_at, parse_float
from ..schemas import DEFAULT_FUNDING_INTERVAL_NS
from ..validate import DataError
from ._http import expect
from .sources import CANDLES, Piece, Source, ms

FUNDING_PAGE = 500
CANDLE_PAGE = 5000
#: the store's candle resolutions (dYdX's names) -> Hyperliquid's intervals
INTERVALS = {"1MIN": "1m", "5MINS": "5m", "15MINS": "15m", "30MINS": "30m", "1HOUR": "1h", "4HOURS": "4h",
             "1DAY": "1d"}
_BAR = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h", "4h": "4h", "1d": "1D"}
_SIDES = {"B": 1, "A": -1}


class HyperliquidSource(Source):
    """Hyperliquid's info API (see the module docstring).

    Parameters
    ----------
    base_url : str, optional
        Default ``https://api.hyperliquid.xyz``.
    policy : Policy, optional
        Default: 1 request a second (the info API budgets 1200 weight a minute; a history
        request weighs 20).
    resolution : str
        Candle interval, as dYdX names it (``1MIN`` .. ``1DAY``) or Hyperliquid does (``1m`` .. ``1d``).
    """

    VENUE = "hyperliquid"
    BASE_URL = "https://api.hyperliquid.xyz"
    RATE = 1.0
    KINDS = {"trades": "trades", "funding": "funding", "candles": CANDLES}

    def __init__(self, base_url=None, policy=None, *, resolution: str = "1MIN"):
        super().__init__(base_url, policy)
        interval = INTERVALS.get(resolution, resolution)
        if interval not in _BAR:
            raise ValueError(f"resolution {resolution!r}: expected one of {', '.join(INTERVALS)} "
                             f"(or {', '.join(_BAR)})")
        self.interval = interval
        self._first = {}

    def resolution_of(self, kind):
        return self.interval if kind == CANDLES else None

    @property
    def markets_source(self) -> str:
        return self.client.url("/info") + ' {"type":"meta"}'

    def _info(self, payload: dict) -> tuple[object, str]:
        source = f"{self.client.url('/info')} {payload}"
        return self.client.post_json("/info", payload), source

    def _list(self, payload: dict) -> tuple[list, str]:
        body, source = self._info(payload)
        expect(isinstance(body, list), source, "a JSON list", body)
        for i, row in enumerate(body):
            expect(isinstance(row, dict), f"{source} [{i}]", "an object", row)
        return body, source

    def markets(self) -> dict:
        if self._markets is None:
            body, source = self._info({"type": "meta"})
            expect(isinstance(body, dict) and isinstance(body.get("universe"), list), source,
                   "an object with a list 'universe'", body)
            out = {}
            for i, raw in enumerate(body["universe"]):
                try:
                    imf = 1.0 / float(raw["maxLeverage"])
                    out[str(raw["name"])] = {"imf": imf, "mmf": imf / 2, "step_size": 10.0 ** -int(raw["szDecimals"]),
                                             "max_leverage": float(raw["maxLeverage"]),
                                             "delisted": bool(raw.get("isDelisted", False)),
                                             "source": "Hyperliquid info meta"}
                except (KeyError, TypeError, ValueError, ZeroDivisionError):
                    raise DataError(source, f"universe[{i}]", value=str(raw)[:120],
                                    expected="an object with name, szDecimals and maxLeverage > 0") from None
            self._markets = out
        return self._markets

    def first_day(self, market, kind):
        """The day of the market's first funding row (funding starts when the market lists)."""
        if market not in self._first:
            rows, source = self._list({"type": "fundingHistory", "coin": market, "startTime": 0})
            self._first[market] = None if not rows else pd.Timestamp(int(_get(rows[0], "time", source)), unit="ms",
                                                                     tz="UTC").floor("D")
        return self._first[market]

    def fetch_day(self, kind, market, day, hi) -> Piece:
        if kind == "funding":
            return self._funding(market, day, hi)
        if kind == CANDLES:
            return self._candles(market, day, hi)
        return self._trades(market, day, hi)

    def _paged(self, payload_of, start_ms: int, page: int, time_key: str) -> tuple[list, str, int]:
        rows, first, pages = [], None, 0
        while True:
            got, source = self._list(payload_of(start_ms))
            first = first or source
            pages += 1
            rows.extend(got)
            if len(got) < page:
                return rows, first, pages
            start_ms = int(_get(got[-1], time_key, source)) + 1

    def _funding(self, market, day, hi) -> Piece:
        end = ms(hi) - 1
        rows, source, pages = self._paged(lambda s: {"type": "fundingHistory", "coin": market, "startTime": s,
                                                     "endTime": end}, ms(day), FUNDING_PAGE, "time")
        origin = Origin(source)
        n = len(rows)
        table = pa.table({
            "ts": _times(rows, "time", source),
            "market": pa.array([market] * n, pa.string()),
            "rate": parse_float(_texts(rows, "fundingRate"), "fundingRate", origin),
            "interval": pa.array(np.full(n, DEFAULT_FUNDING_INTERVAL_NS, np.int64)).cast(pa.duration("ns")),
            "oracle_price": pa.nulls(n, pa.float64()),
        })
        return Piece(conform_at(table, "funding", origin), f"{source} ({pages} pages)")

    def _candles(self, market, day, hi) -> Piece:
        from .store import CANDLE_SCHEMA

        end = ms(hi) - 1
        rows, source, pages = self._paged(
            lambda s: {"type": "candleSnapshot", "req": {"coin": market, "interval": self.interval, "startTime": s,
                                                         "endTime": end}}, ms(day), CANDLE_PAGE, "t")
        origin = Origin(source)
        n = len(rows)
        bar = pd.Timedelta(_BAR[self.interval])
        cols = {k: parse_float(_texts(rows, key), key, origin).cast(pa.float64())
                for k, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"))}
        table = pa.table({"ts": _times(rows, "t", source),
                          "market": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([market])),
                          **{k: v.combine_chunks() if n else pa.array([], pa.float64()) for k, v in cols.items()},
                          "bar": pa.array(np.full(n, bar.value, np.int64)).cast(pa.duration("ns"))},
                         schema=CANDLE_SCHEMA)
        return Piece(table, f"{source} ({pages} pages)")

    def _trades(self, market, day, hi) -> Piece:
        rows, source = self._list({"type": "recentTrades", "coin": market})
        t = np.array([int(_get(r, "time", source)) for r in rows], np.int64) * 1_000_000
        keep = [r for r, x in zip(rows, t) if day.value <= x < hi.value]
        keep.sort(key=lambda r: (int(r["time"]), int(_get(r, "tid", source))))
        bad = [r.get("side") for r in keep if r.get("side") not in _SIDES]
        if bad:
            raise DataError(source, "trade side", value=str(bad[0]), expected="'B' (bid) or 'A' (ask)")
        origin = Origin(source)
        table = pa.table({
            "ts": _times(keep, "time", source), "market": pa.array([market] * len(keep), pa.string()),
            "price": parse_float(_texts(keep, "px"), "px", origin), "size": parse_float(_texts(keep, "sz"), "sz", origin),
            "side": pa.array([_SIDES[r["side"]] for r in keep], pa.int8()),
        })
        table = conform_at(table, "trades", origin).append_column("id", pa.array([str(r["tid"]) for r in keep],
                                                                                  pa.string()))
        # only the most recent trades are served: the rows cover from the oldest one served
        oldest = pd.Timestamp(int(t.min()), tz="UTC") if len(t) else hi
        return Piece(table.replace_schema_metadata(None), source, extra={"covered_from": max(oldest, day).isoformat()})


def _get(row: dict, key: str, source: str):
    if key not in row:
        raise DataError(source, f"a row without {key!r}", value=str(sorted(row))[:120], expected=f"a field {key!r}")
    return row[key]


def _texts(rows: list, key: str) -> pa.Array:
    return pa.array([None if r.get(key) is None else str(r[key]) for r in rows], pa.string())


def _times(rows: list, key: str, source: str) -> pa.Array:
    values = np.array([int(_get(r, key, source)) for r in rows], np.int64)
    return pa.array(values * 1_000_000).cast(pa.timestamp("ns", tz="UTC"))


SOURCE = HyperliquidSource
