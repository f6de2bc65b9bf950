"""What every venue source gives the store, and the registry of sources by venue name.

A source knows its venue's market list (:meth:`Source.markets`, plain dicts), when a
market's data starts (:meth:`Source.first_day`) and how to fetch one UTC day of one kind
(:meth:`Source.fetch_day`), returning the rows as a canonical table (:class:`Piece`).

Examples
--------
>>> from data_loaders.fetch.sources import VENUES
>>> sorted(VENUES)
['binance', 'dydx', 'hyperliquid']
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from ._http import Client, Policy

#: kind name of stored OHLCV candles (not a canonical table: expanded into trades when read)
CANDLES = "candles"
#: every kind a store may hold
STORE_KINDS = ("trades", "agg_trades", "funding", "book", CANDLES, "latency")
#: the market name of partitions that belong to a venue as a whole (a latency trace)
VENUE_MARKET = "chain"
#: venue -> module of its source
VENUES = {"dydx": "dydx", "hyperliquid": "hyperliquid", "binance": "binance"}


@dataclass
class Piece:
    """Rows fetched for one day (and, for a monthly dump, the days after it).

    Attributes
    ----------
    table : pyarrow.Table
        Canonical columns of the kind (trades: plus the venue's trade ``id`` as text).
    source : str
        Where the rows came from: the URL of the first request and how many pages or files.
    covers : Timestamp, optional
        End of the span the rows cover completely when it is beyond the day asked for.
    begins : Timestamp, optional
        Start of that span when it is before the day asked for (a month's file).
    extra : dict
        More facts for the manifest (the dump's checksum, the candle resolution).
    """

    table: pa.Table
    source: str
    covers: pd.Timestamp | None = None
    extra: dict = field(default_factory=dict)
    begins: pd.Timestamp | None = None


class Source:
    """Base of the venue sources. Subclasses set the class attributes and the three methods.

    Parameters
    ----------
    base_url : str, optional
        The venue's address (default :attr:`BASE_URL`).
    policy : Policy, optional
        Retries, backoff, timeouts and rate (default: :attr:`RATE` requests per second).
    """

    #: venue name in the store
    VENUE = ""
    #: public address
    BASE_URL = ""
    #: polite requests per second
    RATE = 5.0
    #: accepted --kind names -> store kind
    KINDS: dict = {}
    default_kinds: tuple = ("trades", "funding")
    #: kinds of the venue as a whole, stored once under market=chain whatever the markets
    VENUE_WIDE: tuple = ()

    def __init__(self, base_url: str | None = None, policy: Policy | None = None):
        if policy is None:
            policy = Policy(rate=self.RATE)
        self.client = Client(base_url or self.BASE_URL, policy)
        self._markets = None

    def kind(self, name: str) -> str:
        """The store kind of a --kind name, or a ValueError listing the venue's kinds."""
        if name in self.KINDS:
            return self.KINDS[name]
        raise ValueError(f"{self.VENUE} has no kind {name!r}; it has {', '.join(self.KINDS)}")

    def check(self, kinds) -> None:
        """Refuse, before any request, kinds this source cannot fetch as configured."""

    def resolution_of(self, kind: str) -> str | None:
        """The candle resolution stored with ``kind`` (None for other kinds)."""
        return None

    @property
    def markets_source(self) -> str:
        """Where the market list comes from (a URL), for the store's records."""
        return self.client.base_url

    def markets(self) -> dict:
        """``{name: parameters}`` of the venue's markets (read once per source)."""
        raise NotImplementedError

    def first_day(self, market: str, kind: str) -> pd.Timestamp | None:
        """The first UTC day of ``market``'s data of ``kind`` (None if unknown)."""
        return None

    def fetch_day(self, kind: str, market: str, day: pd.Timestamp, hi: pd.Timestamp) -> Piece:
        """The rows of ``kind`` of ``market`` with ``day <= ts < hi``."""
        raise NotImplementedError


def make_source(venue: str, *, base_url: str | None = None, policy: Policy | None = None, **options) -> Source:
    """The source of ``venue`` ('dydx', 'hyperliquid' or 'binance').

    Examples
    --------
    >>> make_source("dydx").client.base_url
    'https://indexer.dydx.trade'
    """
    if venue not in VENUES:
        import difflib

        close = difflib.get_close_matches(str(venue), list(VENUES), n=1)
        raise ValueError(f"unknown venue {venue!r}; expected one of {', '.join(VENUES)}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    module = importlib.import_module(f".{VENUES[venue]}", __package__)
    return module.SOURCE(base_url=base_url, policy=policy, **options)


def ms(ts: pd.Timestamp) -> int:
    """Epoch milliseconds of a UTC timestamp."""
    return int(ts.value // 1_000_000)


def iso(ts: pd.Timestamp) -> str:
    """ISO text with milliseconds and ``Z``, as the dYdX indexer writes it."""
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
