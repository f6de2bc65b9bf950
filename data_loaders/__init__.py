"""Data layer: canonical Arrow schemas, validation, format readers, synthetic and sample data.

Everything the engine consumes passes through here: readers convert a source format into one
of the canonical tables of :mod:`data_loaders.schemas`, :func:`validate` checks it, and a
:class:`Dataset` bundles a run's tables.

Examples
--------
>>> import data_loaders as dl
>>> ds = dl.sample()                                  # bundled, no network
>>> tape = dl.sample("btcusdt-tape")                  # real Binance trades and book top
>>> synth = dl.synthetic(days=2, markets=["BTC-USD"], seed=7)
>>> store = dl.Store("data/")          # fetched venue data (backtester data fetch)  # doctest: +SKIP
"""
from .schemas import KINDS, SCHEMAS, schema_for
from .validate import DataError, conform, validate
from .plausible import DisjointTablesWarning, UnitsWarning
from .dataset import Dataset
from .loaders import load_book, load_book_levels, load_funding, load_latency, load_oracle, load_trades
from .synthetic import synthetic
from .sample import sample
from .fetch import Store

__all__ = [
    "KINDS", "SCHEMAS", "schema_for", "DataError", "DisjointTablesWarning", "UnitsWarning", "conform", "validate", "Dataset",
    "load_trades", "load_funding", "load_latency", "load_oracle", "load_book", "load_book_levels",
    "synthetic", "sample", "Store",
]
