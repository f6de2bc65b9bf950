"""`SimConfig`: every friction and model choice of a run, in one object.

Examples
--------
>>> import backtester as bt
>>> cfg = bt.SimConfig(initial_cash=10_000, latency_scale=2.0, downtime_policy="reject")
>>> cfg.with_(slippage_multiplier=3.0).slippage_multiplier
3.0
>>> free = bt.SimConfig.frictionless(fee=0.0004)     # for comparing with other backtesters
>>> free.market("BTC-USD").taker_fee, free.rebalance_band
(0.0004, 0.0)
"""
from __future__ import annotations

import math
import numbers
from dataclasses import MISSING, dataclass, field, fields, replace

import numpy as np
import pandas as pd

from ._names import check_names
from .market import Market, suggest_fields


#: initial margin fraction of the frictionless preset: a position may be 10^9 x equity
FRICTIONLESS_IMF = 1e-9


def _number(value, where: str, positive: bool = False) -> None:
    """A finite real number >= 0 (> 0 with ``positive``), else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{where}: expected a finite number {'> 0' if positive else '>= 0'}, got {value!r}")


def _td_ns(value, name: str) -> int:
    try:
        ns = pd.Timedelta(value).value
    except (ValueError, TypeError):
        raise ValueError(f"SimConfig.{name}: expected a duration such as '250ms' or '1h', got {value!r}") from None
    if ns < 0:
        raise ValueError(f"SimConfig.{name}: must be >= 0, got {value!r}")
    return ns


#: ``SimConfig.queue_model`` values, index = the kernel's code (``kernel.book_nb.QUEUE_*``)
QUEUE_MODELS = ("conservative", "probabilistic")

@dataclass(frozen=True)
class SimConfig:
    """Frictions and model choices of a backtest.

    Parameters
    ----------
    initial_cash : float or dict
        Starting collateral (quote currency) per venue; a float goes to every venue.
    markets : dict, optional
        ``{name: Market}``; each key must be its market's name. Markets not given use
        :meth:`Market.preset` (the dYdX v4 tier of the name; an unknown name warns).
        ``Result.markets`` shows what a run used.
    market_overrides : dict, optional
        Fields set on *every* market, given or preset (``dict(taker_fee=0.0)``).
    insurance_fund : float or dict
        Initial insurance-fund balance per venue.
    margin_mode : {'cross', 'isolated'}
        Cross: one account per venue. Isolated: one account per market, funded with an equal
        split of its venue's ``initial_cash`` among the venue's markets that have trades (a
        market only in funding or oracle rows starts at 0; docs/simulation.md, "Accounting").
    latency_scale : float
        Multiplies order, acknowledgement and finality latency from the traces.
    feed_latency : str or Timedelta
        How late the strategy sees market data.
    slippage_multiplier : float or pandas.Series
        Constant, or a step series indexed by UTC timestamps (value in force = last at or before).
    downtime_policy : {'queue', 'reject'}
        What happens to orders arriving while the venue is down.
    impact_window : str
        Window of traded volume that scales square-root impact.
    liq_spread : float
        Liquidation closes at the oracle moved against the trader by ``liq_spread * MMF``.
    oracle_delay : str
        For markets without oracle rows: the oracle follows trades this much later.
    sample_every : str
        Clock of the equity / margin samples. ``"auto"`` (default): one minute, coarser when the
        data is (the median spacing of its trades) and never more than 100,000 samples a run
        (docs/simulation.md, "Equity samples").
    min_trade_notional : float
        Target-following orders smaller than this (quote) are not sent.
    bridge_delay : str
        Time for collateral transferred between venues to arrive (``ctx.transfer``); transfers
        between accounts of one venue arrive at once.
    rebalance_band : float
        Targets are traded only when the gap exceeds this fraction of the target's notional
        (0.05: a 3x target is left alone between about 2.85x and 3.15x).
    gas_scale : float
        Multiplies the gas fee of the latency traces (0: no gas).
    funding : bool
        Pay funding (False: funding rows are not paid; the rates stay visible to strategies).
    book : bool
        Fill against book data where the data has it (docs/simulation.md, "Order book");
        False: the trade-tape rules on every market, as on data without a book
        (:meth:`frictionless` sets it, so fills are at the print).
    queue_model : {'conservative', 'probabilistic'}
        Markets with book data: how a resting limit order's queue ahead moves when the size
        shown at its price shrinks. ``'conservative'``: only trades advance it;
        ``'probabilistic'``: a share of each decrease counts as cancellations ahead
        (docs/simulation.md, "Queue position").
    queue_power : float
        Exponent ``n`` of the probabilistic rule's ``f(x) = x ** n`` (>= 0; default 2; 0 gives
        even odds that a decrease was ahead).

    See Also
    --------
    SimConfig.frictionless : no latency, spread, impact, gas, funding or margin limits.
    """

    initial_cash: float | dict = 10_000.0
    markets: dict = field(default_factory=dict)
    insurance_fund: float | dict = 1_000_000.0
    margin_mode: str = "cross"
    latency_scale: float = 1.0
    feed_latency: str | pd.Timedelta = "0s"
    slippage_multiplier: float | pd.Series = 1.0
    downtime_policy: str = "queue"
    impact_window: str | pd.Timedelta = "1h"
    liq_spread: float = 1.5
    oracle_delay: str | pd.Timedelta = "0s"
    sample_every: str | pd.Timedelta = "auto"
    min_trade_notional: float = 1.0
    rebalance_band: float = 0.05
    bridge_delay: str | pd.Timedelta = "30min"
    market_overrides: dict = field(default_factory=dict)
    gas_scale: float = 1.0
    funding: bool = True
    book: bool = True
    queue_model: str = "conservative"
    queue_power: float = 2.0

    def __post_init__(self):
        if self.margin_mode not in ("cross", "isolated"):
            raise ValueError(f"SimConfig.margin_mode: expected 'cross' or 'isolated', got {self.margin_mode!r}")
        if self.downtime_policy not in ("queue", "reject"):
            raise ValueError(f"SimConfig.downtime_policy: expected 'queue' or 'reject', got {self.downtime_policy!r}")
        for name in ("latency_scale", "gas_scale", "rebalance_band", "min_trade_notional", "liq_spread"):
            _number(getattr(self, name), f"SimConfig.{name}")
        for name in ("funding", "book"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"SimConfig.{name}: expected True or False, got {getattr(self, name)!r}")
        if self.queue_model not in QUEUE_MODELS:
            raise ValueError(f"SimConfig.queue_model: expected one of {', '.join(map(repr, QUEUE_MODELS))}, "
                             f"got {self.queue_model!r}")
        _number(self.queue_power, "SimConfig.queue_power")
        for name in ("initial_cash", "insurance_fund"):
            value = getattr(self, name)
            for venue, amount in (value.items() if isinstance(value, dict) else [(None, value)]):
                where = f"SimConfig.{name}" + (f"[{venue!r}]" if venue is not None else "")
                # one scalar of cash funds every venue: it must be > 0; a dict may leave a venue
                # empty (funded later by a transfer) but not every venue
                _number(amount, where, positive=name == "initial_cash" and venue is None)
        if isinstance(self.initial_cash, dict) and not sum(self.initial_cash.values()) > 0:
            raise ValueError(f"SimConfig.initial_cash: no venue has any cash: {self.initial_cash!r}")
        if not isinstance(self.slippage_multiplier, pd.Series):
            _number(self.slippage_multiplier, "SimConfig.slippage_multiplier")
        for name in ("feed_latency", "impact_window", "oracle_delay", "bridge_delay"):
            _td_ns(getattr(self, name), name)
        if _td_ns(self.impact_window, "impact_window") == 0:  # V over an empty window would be 0
            raise ValueError("SimConfig.impact_window: must be a positive duration (the impact rule divides by "
                             "the size traded in it)")
        if self.sample_every != "auto" and _td_ns(self.sample_every, "sample_every") == 0:
            raise ValueError("SimConfig.sample_every: must be a positive duration or 'auto'")
        for name, m in self.markets.items():
            if not isinstance(m, Market):
                raise TypeError(f"SimConfig.markets[{name!r}]: expected a bt.Market, got {type(m).__name__}")
            if m.name != name:
                raise ValueError(f"SimConfig.markets[{name!r}] holds the market named {m.name!r}; the key must "
                                 f"be the market's name (as in the data)")
        check_names("SimConfig.market_overrides", "market field", self.market_overrides,
                    [f.name for f in fields(Market) if f.name not in ("name", "tier")])

    @classmethod
    def frictionless(cls, fee: float = 0.0, **changes) -> "SimConfig":
        """A config with every friction off, for comparisons with other backtesters or papers.

        Zero latency (order, acknowledgement, finality, feed), no spread, impact or slippage
        (fills at the print, also where the data has a book: ``book=False``), no gas, no funding, no rebalance band or minimum trade, and margin
        fractions so small that margin never binds (docs/simulation.md, "Frictionless runs").
        Venue downtime in the data still applies.

        Parameters
        ----------
        fee : float
            Taker and maker fee rate on notional.
        **changes
            Any other field (``initial_cash=...``).

        Examples
        --------
        >>> import backtester as bt
        >>> cfg = bt.SimConfig.frictionless(fee=0.001, initial_cash=1_000)
        >>> m = cfg.market("ETH-USD")
        >>> (m.imf, m.half_spread, m.impact, m.taker_fee, cfg.latency_scale, cfg.funding)
        (1e-09, 0.0, 0.0, 0.001, 0.0, False)
        """
        overrides = dict(imf=FRICTIONLESS_IMF, mmf=FRICTIONLESS_IMF / 2, half_spread=0.0, impact=0.0,
                         taker_fee=float(fee), maker_fee=float(fee))
        base = dict(latency_scale=0.0, feed_latency="0s", oracle_delay="0s", slippage_multiplier=1.0,
                    rebalance_band=0.0, min_trade_notional=0.0, gas_scale=0.0, funding=False, book=False,
                    market_overrides=overrides)
        base.update(changes)
        return cls(**base)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "markets":
                continue
            if f.default is not MISSING:
                same = f.default is value or (type(value) is type(f.default) and value == f.default)
            else:
                same = not value
            if not same:
                parts.append(f"{f.name}={value!r}")
        markets = "; ".join(self.market(name).describe() for name in self.markets)
        tail = f"markets: {markets}; others: dYdX v4 presets by name" if markets else \
            "markets: dYdX v4 presets by name"
        return f"SimConfig({', '.join(parts + [tail])})"

    def with_(self, **changes) -> "SimConfig":
        """A copy with ``changes``; a misspelt field is an error naming the close match."""
        check_names("SimConfig", "field", changes, (f.name for f in fields(self)))
        return replace(self, **changes)

    def market(self, name: str) -> Market:
        """The :class:`Market` used for ``name`` (given, else the preset; then
        ``market_overrides``)."""
        m = self.markets.get(name) or Market.preset(name)
        return m.with_(**self.market_overrides) if self.market_overrides else m

    def ns(self, name: str) -> int:
        """A duration setting in nanoseconds."""
        return _td_ns(getattr(self, name), name)

    def check_venues(self, venues) -> None:
        """Per-venue amounts (``initial_cash``, ``insurance_fund`` given as dicts) must name
        venues of the run: a misspelt venue would silently leave the real one at 0."""
        for name in ("initial_cash", "insurance_fund"):
            value = getattr(self, name)
            if isinstance(value, dict):
                check_names(f"SimConfig.{name}", "venue", value, venues)

    def per_venue(self, name: str, venue: str) -> float:
        value = getattr(self, name)
        return float(value.get(venue, 0.0)) if isinstance(value, dict) else float(value)


suggest_fields(SimConfig)
