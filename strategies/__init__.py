"""Ready-made strategies, each a `backtester.Strategy` subclass with documented params."""
from .buy_and_hold import BuyAndHold
from .ma_cross import MaCross

__all__ = ["BuyAndHold", "MaCross"]
