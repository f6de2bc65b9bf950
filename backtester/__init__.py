"""An event-driven backtester for leveraged perpetual futures on Layer-2 venues.

Examples
--------
>>> import backtester as bt
>>> import data_loaders as dl
>>> from strategies import MaCross
>>> res = bt.run(MaCross(fast=20, slow=120), dl.sample(), bt.SimConfig(initial_cash=10_000))
>>> bool(res.stats()["n_fills"] > 0)
True
"""
from data_loaders import Dataset

from .config import SimConfig
from .context import Context
from .driver import NoDecisionsWarning, run
from .market import Market, UnknownMarketWarning
from .result import RejectedOrdersWarning, Result, UnfillableOrdersWarning
from .strategy import Strategy

from . import scenarios  # noqa: E402  (needs config and prepare loaded first)
from .comparison import Comparison, compare  # noqa: E402
from . import report  # noqa: E402
from .sweep import pbo, returns_matrix, sweep, walk_forward  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Dataset", "SimConfig", "Market", "Strategy", "Context", "Result", "run", "compare", "Comparison",
           "RejectedOrdersWarning", "UnknownMarketWarning", "NoDecisionsWarning", "UnfillableOrdersWarning",
           "scenarios", "report", "sweep", "returns_matrix", "pbo", "walk_forward",
           "__version__"]
