"""Market specifications and dYdX v4 presets.

Examples
--------
>>> import backtester as bt
>>> bt.Market.preset("BTC-USD").imf
0.02
>>> bt.Market.preset("SOL-USD", taker_fee=0.0004).mmf
0.03
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ._names import check_names

# dYdX v4 margin fractions by liquidity tier, and tier-1 fees (DESIGN.md)
_LARGE_CAP = dict(imf=0.02, mmf=0.012)
_MID_CAP = dict(imf=0.05, mmf=0.03)
_LONG_TAIL = dict(imf=0.20, mmf=0.10)
_TIERS = {"BTC": _LARGE_CAP, "ETH": _LARGE_CAP}
_MID = {"SOL", "AVAX", "LINK", "DOGE", "MATIC", "POL", "ARB", "OP", "LTC", "XRP", "ADA", "DOT",
        "ATOM", "NEAR", "BNB", "TRX", "BCH", "UNI", "APT", "SUI"}


@dataclass(frozen=True)
class Market:
    """One perpetual market: margin fractions, fees, slippage model and venue.

    Parameters
    ----------
    name : str
        Market name as in the data (``"BTC-USD"``).
    venue : str
        Venue whose latency trace, insurance fund and collateral the market uses.
    imf, mmf : float
        Initial and maintenance margin fractions (dYdX v4: BTC/ETH 0.02/0.012, mid-cap
        0.05/0.03, long-tail 0.20/0.10).
    taker_fee, maker_fee : float
        Fee rates on notional; a negative maker fee is a rebate (tier 1: 5 bp / 1 bp).
    half_spread : float
        Half the quoted spread as a fraction of price, paid by market orders.
    impact : float
        Square-root impact coefficient: a taker of ``q`` pays ``impact * sqrt(q / V)`` more,
        ``V`` the market's traded size over the impact window.
    liq_fee : float
        Maximum liquidation fee rate on notional, paid to the insurance fund (1.5 %).
    """

    name: str
    venue: str = "dydx"
    imf: float = 0.05
    mmf: float = 0.03
    taker_fee: float = 0.0005
    maker_fee: float = 0.0001
    half_spread: float = 0.0001
    impact: float = 0.005
    liq_fee: float = 0.015

    def __post_init__(self):
        if not 0 < self.mmf < self.imf <= 1:
            raise ValueError(f"{self.name}: need 0 < mmf < imf <= 1, got imf={self.imf}, mmf={self.mmf}")
        for name in ("half_spread", "impact", "liq_fee"):
            if getattr(self, name) < 0:
                raise ValueError(f"{self.name}: {name} must be >= 0")

    @classmethod
    def preset(cls, name: str, **overrides) -> "Market":
        """dYdX v4 figures for ``name`` (tier by base asset), with ``overrides`` applied."""
        base = name.split("-")[0].upper()
        tier = _TIERS.get(base, _MID_CAP if base in _MID else _LONG_TAIL)
        return cls(name=name, **tier).with_(**overrides)

    def with_(self, **changes) -> "Market":
        """A copy with ``changes``; a misspelt field is an error naming the close match."""
        check_names("Market", "field", changes, (f.name for f in fields(self)))
        return replace(self, **changes)


def suggest_fields(cls):
    """Make the dataclass constructor of ``cls`` reject misspelt keywords with a close match."""
    init = cls.__init__
    known = [f.name for f in fields(cls)]

    def __init__(self, *args, **kwargs):
        check_names(cls.__name__, "field", kwargs, known)
        init(self, *args, **kwargs)

    __init__.__doc__ = init.__doc__
    cls.__init__ = __init__
    return cls


suggest_fields(Market)
