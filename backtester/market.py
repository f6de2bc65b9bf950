"""Market specifications and dYdX v4 presets.

Examples
--------
>>> import backtester as bt
>>> bt.Market.preset("BTC-USD").imf
0.02
>>> bt.Market.preset("SOL-USD", taker_fee=0.0004).mmf
0.03
>>> bt.Market("BTC-USD", taker_fee=0.0003).describe()   # margins from the name's preset
'BTC-USD (large-cap preset): imf 2%, mmf 1.2%, taker 3bp, maker 1bp, venue dydx'
"""
from __future__ import annotations

import functools
import math
import numbers
import re
import warnings
from dataclasses import dataclass, field, fields, replace

from ._names import check_names

# dYdX v4 margin fractions by liquidity tier (initial, maintenance), and tier-1 fees
_TIER_FRACTIONS = {"large-cap": dict(imf=0.02, mmf=0.012), "mid-cap": dict(imf=0.05, mmf=0.03),
                   "long-tail": dict(imf=0.20, mmf=0.10)}
_LARGE = {"BTC", "ETH"}
_MID = {"SOL", "AVAX", "LINK", "DOGE", "MATIC", "POL", "ARB", "OP", "LTC", "XRP", "ADA", "DOT",
        "ATOM", "NEAR", "BNB", "TRX", "BCH", "UNI", "APT", "SUI"}
#: quote suffixes of exchange symbols written without a separator ("BTCUSDT", "ETHPERP")
_QUOTE_SUFFIX = re.compile(r"(USDT|USDC|BUSD|USD|PERP)+$")


#: largest plausible fee, spread or liquidation-fee rate (beyond it the units are likely wrong)
MAX_RATE = 0.1
#: largest plausible maker rebate (dYdX v4's best tier pays 1.1 bp)
MAX_REBATE = 0.001


class UnknownMarketWarning(UserWarning):
    """A market name that is not a known dYdX v4 market got the long-tail margin preset."""


def base_asset(name: str) -> str:
    """The base asset of a market name: ``"BTC-USD"``, ``"BTC/USDT"``, ``"BTCUSDT"`` -> ``"BTC"``.

    Examples
    --------
    >>> base_asset("eth-usd"), base_asset("BTCUSDT"), base_asset("SOL/USDC:USDC")
    ('ETH', 'BTC', 'SOL')
    """
    head = re.split(r"[-/_:]", name.strip().upper(), maxsplit=1)[0]
    if head == name.strip().upper():
        head = _QUOTE_SUFFIX.sub("", head) or head
    return head


def preset_tier(name: str) -> str:
    """The dYdX v4 liquidity tier the presets give ``name``: large-cap, mid-cap or long-tail."""
    base = base_asset(name)
    return "large-cap" if base in _LARGE else "mid-cap" if base in _MID else "long-tail"


def _warn_unknown(name: str) -> None:
    f = _TIER_FRACTIONS["long-tail"]
    warnings.warn(f"market {name!r} is not a known dYdX v4 market: it gets the long-tail preset (imf "
                  f"{f['imf']:.0%}, mmf {f['mmf']:.0%}); give bt.Market({name!r}, imf=..., mmf=...) in "
                  f"SimConfig.markets to set its margins", UnknownMarketWarning, stacklevel=5)


@dataclass(frozen=True)
class Market:
    """One perpetual market: margin fractions, fees, slippage model and venue.

    Parameters
    ----------
    name : str
        Market name as in the data (``"BTC-USD"``).
    venue : str
        Venue whose latency trace, insurance fund and collateral the market uses.
    imf, mmf : float, optional
        Initial and maintenance margin fractions. Omitted: the dYdX v4 preset of the name's
        base asset (BTC/ETH 0.02/0.012, mid-cap 0.05/0.03, anything else long-tail 0.20/0.10,
        with an :class:`UnknownMarketWarning`). ``tier`` says which was used.
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
    imf: float | None = None
    mmf: float | None = None
    taker_fee: float = 0.0005
    maker_fee: float = 0.0001
    half_spread: float = 0.0001
    impact: float = 0.005
    liq_fee: float = 0.015
    #: where the margin fractions came from: "given", or "<tier> preset"
    tier: str = field(default="", compare=False)

    def __post_init__(self):
        if self.imf is None or self.mmf is None:
            tier = preset_tier(self.name)
            if tier == "long-tail" and not self.tier:
                _warn_unknown(self.name)
            preset = _TIER_FRACTIONS[tier]
            given = [k for k in ("imf", "mmf") if getattr(self, k) is not None]
            object.__setattr__(self, "imf", preset["imf"] if self.imf is None else self.imf)
            object.__setattr__(self, "mmf", preset["mmf"] if self.mmf is None else self.mmf)
            object.__setattr__(self, "tier", f"{tier} preset" + (f", {given[0]} given" if given else ""))
        elif not self.tier:
            object.__setattr__(self, "tier", "given")
        if not 0 < self.mmf < self.imf <= 1:
            raise ValueError(f"{self.name}: need 0 < mmf < imf <= 1, got imf={self.imf}, mmf={self.mmf}")
        for name in ("imf", "mmf", "taker_fee", "maker_fee", "half_spread", "impact", "liq_fee"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"{self.name}: {name} must be a finite number, got {value!r}")
        for name in ("half_spread", "impact", "liq_fee", "taker_fee"):
            if getattr(self, name) < 0:
                raise ValueError(f"{self.name}: {name} must be >= 0, got {getattr(self, name)!r}"
                                 + (" (only a maker fee can be a rebate)" if name == "taker_fee" else ""))
        for name in ("taker_fee", "maker_fee", "half_spread", "liq_fee"):
            if abs(getattr(self, name)) > MAX_RATE:
                raise ValueError(f"{self.name}: {name}={getattr(self, name)!r} is a rate on notional (0.0005 is "
                                 f"5 bp); above {MAX_RATE:.0%} it is implausible (basis points or percent?)")
        if self.maker_fee < -self.taker_fee and self.maker_fee < -MAX_REBATE:
            raise ValueError(f"{self.name}: maker_fee={self.maker_fee!r}: a rebate larger than "
                             f"{MAX_REBATE * 1e4:g} bp is implausible")

    @classmethod
    def preset(cls, name: str, **overrides) -> "Market":
        """dYdX v4 figures for ``name`` (tier by base asset), with ``overrides`` applied."""
        return cls(name=name, **overrides)

    def with_(self, **changes) -> "Market":
        """A copy with ``changes``; a misspelt field is an error naming the close match."""
        check_names("Market", "field", changes, (f.name for f in fields(self) if f.name != "tier"))
        tier = self.tier if not {"imf", "mmf"} & set(changes) else "given"
        return replace(self, **changes, tier=tier)

    def describe(self) -> str:
        """One line: name, where the margins came from, IMF/MMF and fees."""
        return (f"{self.name} ({self.tier}): imf {self.imf * 100:.3g}%, mmf {self.mmf * 100:.3g}%, "
                f"taker {self.taker_fee * 1e4:.3g}bp, maker {self.maker_fee * 1e4:.3g}bp, venue {self.venue}")


def suggest_fields(cls):
    """Make the dataclass constructor of ``cls`` reject misspelt keywords with a close match."""
    init = cls.__init__
    known = [f.name for f in fields(cls)]

    @functools.wraps(init)  # keeps the signature: shift-tab in a notebook lists the fields
    def __init__(self, *args, **kwargs):
        check_names(cls.__name__, "field", kwargs, known)
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


suggest_fields(Market)
