"""Deterministic synthetic market data: :func:`synthetic` builds a multi-market
:class:`~data_loaders.Dataset` (trades, funding, oracle, latency trace, optional book top).

Modules
-------
prices     correlated stochastic-volatility price paths with jumps (:func:`price_paths`)
tape       trade arrivals, sides, sizes and prices; book top; oracle
funding    funding rates calibrated to dYdX (:class:`FundingModel`, :func:`synthetic_funding`)
venues     :class:`VenueProfile`, :data:`APP_CHAIN`, :data:`OPTIMISTIC_ROLLUP`, :class:`Outage`
generator  :func:`synthetic`

Determinism: each market, venue and component draws from its own ``SeedSequence`` child of
``seed``, addressed by name (``spawn_key`` = CRC-32 of e.g. ``("trades", "BTC-USD")``) instead
of by position, so adding, removing or reordering markets or venues, or toggling the book top
or outages, leaves every other table's draws unchanged.

Examples
--------
>>> from data_loaders.synthetic import synthetic, Outage, OPTIMISTIC_ROLLUP
>>> ds = synthetic(days=1, markets=["BTC-USD"], seed=1, venues={"arb": OPTIMISTIC_ROLLUP},
...                outages=[Outage("arb", "6h", "2h")])
>>> ds.meta["generated"]
['trades', 'funding', 'oracle', 'latency']
"""
from .funding import BTC_FUNDING, ETH_FUNDING, FUNDING_MODELS, FundingModel, synthetic_funding
from .generator import synthetic
from .prices import PricePaths, price_paths
from .venues import APP_CHAIN, OPTIMISTIC_ROLLUP, Outage, VenueProfile

__all__ = [
    "synthetic", "VenueProfile", "APP_CHAIN", "OPTIMISTIC_ROLLUP", "Outage",
    "price_paths", "PricePaths", "synthetic_funding", "FundingModel", "FUNDING_MODELS",
    "BTC_FUNDING", "ETH_FUNDING",
]
