"""Fetch real venue data into a local :class:`Store`: dYdX v4, Hyperliquid, Binance dumps.

One module per source (:mod:`~data_loaders.fetch.dydx`, :mod:`~data_loaders.fetch.hyperliquid`,
:mod:`~data_loaders.fetch.binance`; :mod:`~data_loaders.fetch.cometbft` for dYdX's latency trace
from block headers), all on one HTTP client (:mod:`~data_loaders.fetch._http`:
retries with backoff and jitter, ``Retry-After``, a polite request rate, timeouts), writing
into the partitioned Parquet store of :mod:`~data_loaders.fetch.store`.

Examples
--------
>>> from data_loaders.fetch import Store, Policy
>>> Policy().rate
5.0
"""
from ._http import Client, FetchError, NotFound, Policy
from .sources import STORE_KINDS, VENUES, make_source
from .store import CANDLE_SCHEMA, OutsideRowsWarning, PartialDayWarning, Store

__all__ = ["Store", "Policy", "Client", "FetchError", "NotFound", "PartialDayWarning", "OutsideRowsWarning", "STORE_KINDS", "VENUES",
           "CANDLE_SCHEMA", "make_source"]
