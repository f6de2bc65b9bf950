"""Ready-made strategies, each a `backtester.Strategy` subclass with documented params, and
reusable pieces (funding-aware sizing)."""
from .buy_and_hold import BuyAndHold
from .ma_cross import MaCross
from .sizing import FundingAwareSizing, funding_zscore

__all__ = ["BuyAndHold", "MaCross", "FundingAwareSizing", "funding_zscore"]
