"""Ready-made strategies, each a `backtester.Strategy` subclass with documented params, and
reusable pieces (funding-aware sizing, per-market P&L split).

==================  =====================================================================
BuyAndHold          fixed leverage, the baseline
MaCross             moving-average crossover (plan-only fast path)
TrendFollowing      breakout with a client-side trailing stop
FundingCarry        hold the side receiving funding while its z-score is extreme
HedgedCarry         FundingCarry plus an opposite leg in a second market or venue
MeanReversion       fade price z-score extremes, with a liquidation guard
MarketMaker         post-only quotes at the touch with an inventory limit (book data)
Guarded             wraps any strategy with risk controls and an execution style
==================  =====================================================================

Risk controls (``strategies.risk``): MarginGuard, DrawdownKillSwitch, MaxTradeLoss,
CollateralBuffer. Execution styles (``strategies.execution``): Immediate, TWAP, LimitThenMarket.

Examples
--------
>>> import backtester as bt, data_loaders as dl
>>> from strategies import FundingCarry, leg_pnl
>>> res = bt.run(FundingCarry(z_entry=2.5), dl.sample())
>>> list(leg_pnl(res).columns)
['price_pnl', 'slippage', 'fees', 'funding', 'gas', 'liquidation', 'net']
"""
from importlib.util import find_spec

from .buy_and_hold import BuyAndHold
from .carry import FundingCarry, HedgedCarry, leg_pnl
from .ma_cross import MaCross
from .market_maker import MarketMaker
from .mean_reversion import MeanReversion
from .sizing import FundingAwareSizing, funding_zscore
from .trend import TrendFollowing

__all__ = ["BuyAndHold", "MaCross", "TrendFollowing", "FundingCarry", "HedgedCarry", "MeanReversion",
           "MarketMaker", "leg_pnl", "FundingAwareSizing", "funding_zscore"]

# risk controls, execution styles and the wrapper live in modules of their own; exported here
# when present (a module that exists but fails to import is an error, not silently skipped)
if all(find_spec(f"{__name__}.{m}") for m in ("risk", "execution", "guarded")):
    from .execution import TWAP, Immediate, LimitThenMarket
    from .guarded import Guarded
    from .risk import CollateralBuffer, DrawdownKillSwitch, MarginGuard, MaxTradeLoss

    __all__ += ["MarginGuard", "DrawdownKillSwitch", "MaxTradeLoss", "CollateralBuffer", "Immediate", "TWAP",
                "LimitThenMarket", "Guarded"]
