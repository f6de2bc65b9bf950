"""The ready-made strategies by command-line name, as ``backtester run`` compares them.

Examples
--------
>>> from strategies.catalog import CATALOG, build
>>> sorted(CATALOG)[:2]
['buy-and-hold', 'carry']
>>> build("buy-and-hold", market="BTC-USD", leverage=2.0).name
'BuyAndHold(leverage=2.0)'
"""
from __future__ import annotations

import difflib


def _buy_and_hold(market, leverage, hedge_market):
    from .buy_and_hold import BuyAndHold

    return BuyAndHold(market=market, leverage=leverage)


def _guarded_hold(market, leverage, hedge_market):
    from .buy_and_hold import BuyAndHold
    from .guarded import Guarded
    from .risk import DrawdownKillSwitch, MarginGuard

    return Guarded(BuyAndHold(market=market, leverage=leverage),
                   controls=(MarginGuard(), DrawdownKillSwitch(0.25)))


def _ma_cross(market, leverage, hedge_market):
    from .ma_cross import MaCross

    return MaCross(market=market, leverage=leverage)


def _trend(market, leverage, hedge_market):
    from .trend import TrendFollowing

    return TrendFollowing(market=market, leverage=leverage)


def _carry(market, leverage, hedge_market):
    from .carry import FundingCarry

    return FundingCarry(market=market)


def _hedged_carry(market, leverage, hedge_market):
    from .carry import HedgedCarry

    if hedge_market is None:
        raise ValueError("hedged-carry needs a second market (--hedge-market); the data has one market")
    return HedgedCarry(market=market, hedge_market=hedge_market)


def _mean_reversion(market, leverage, hedge_market):
    from .mean_reversion import MeanReversion

    return MeanReversion(market=market, leverage=leverage)


def _market_maker(market, leverage, hedge_market):
    from .market_maker import MarketMaker

    return MarketMaker(market=market)


#: name -> (factory(market, leverage, hedge_market), one-line description)
CATALOG = {
    "buy-and-hold": (_buy_and_hold, "baseline: long at the given leverage from the first decision"),
    "guarded-hold": (_guarded_hold, "buy-and-hold with a margin guard and a 25 % drawdown kill switch"),
    "ma-cross": (_ma_cross, "moving-average crossover, long/short at the given leverage (fast path)"),
    "trend": (_trend, "trend following with a trailing stop at the given leverage"),
    "carry": (_carry, "funding carry: receive funding when its z-score is extreme, funding-aware size"),
    "hedged-carry": (_hedged_carry, "funding carry with the opposite leg in a second market (basis risk)"),
    "mean-reversion": (_mean_reversion, "fade price z-score extremes, with a liquidation-distance guard"),
    "market-maker": (_market_maker, "post-only quotes at the touch with an inventory limit (needs book data)"),
}


def build(name: str, *, market: str = "BTC-USD", leverage: float = 3.0, hedge_market: str | None = None):
    """A ready-made strategy by its command-line name.

    Parameters
    ----------
    name : str
        A key of :data:`CATALOG`.
    market : str
    leverage : float
        Leverage of directional strategies (carry strategies size by the funding-aware rule).
    hedge_market : str, optional
        Hedge leg of ``hedged-carry``.
    """
    if name not in CATALOG:
        close = difflib.get_close_matches(name, list(CATALOG), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown strategy {name!r}{hint}; choose from: {', '.join(CATALOG)}")
    return CATALOG[name][0](market, leverage, hedge_market)
