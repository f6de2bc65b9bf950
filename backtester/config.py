"""`SimConfig`: every friction and model choice of a run, in one object.

Examples
--------
>>> import backtester as bt
>>> cfg = bt.SimConfig(initial_cash=10_000, latency_scale=2.0, downtime_policy="reject")
>>> cfg.with_(slippage_multiplier=3.0).slippage_multiplier
3.0
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import pandas as pd

from ._names import check_names
from .market import Market, suggest_fields


def _td_ns(value, name: str) -> int:
    try:
        ns = pd.Timedelta(value).value
    except (ValueError, TypeError):
        raise ValueError(f"SimConfig.{name}: expected a duration such as '250ms' or '1h', got {value!r}") from None
    if ns < 0:
        raise ValueError(f"SimConfig.{name}: must be >= 0, got {value!r}")
    return ns


@dataclass(frozen=True)
class SimConfig:
    """Frictions and model choices of a backtest.

    Parameters
    ----------
    initial_cash : float or dict
        Starting collateral (quote currency) per venue; a float goes to every venue.
    markets : dict, optional
        ``{name: Market}`` overrides; markets not given use :meth:`Market.preset`.
    insurance_fund : float or dict
        Initial insurance-fund balance per venue.
    margin_mode : {'cross', 'isolated'}
        Cross: one account per venue. Isolated: one account per market, funded with an equal
        split of its venue's ``initial_cash``.
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
        Clock of the equity / margin samples.
    min_trade_notional : float
        Target-following orders smaller than this (quote) are not sent.
    bridge_delay : str
        Time for collateral transferred between venues to arrive (``ctx.transfer``); transfers
        between accounts of one venue arrive at once.
    rebalance_band : float
        Targets are traded only when the gap exceeds this fraction of the target's notional
        (0.05: a 3x target is left alone between about 2.85x and 3.15x).
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
    sample_every: str | pd.Timedelta = "1min"
    min_trade_notional: float = 1.0
    rebalance_band: float = 0.05
    bridge_delay: str | pd.Timedelta = "30min"

    def __post_init__(self):
        if self.margin_mode not in ("cross", "isolated"):
            raise ValueError(f"SimConfig.margin_mode: expected 'cross' or 'isolated', got {self.margin_mode!r}")
        if self.downtime_policy not in ("queue", "reject"):
            raise ValueError(f"SimConfig.downtime_policy: expected 'queue' or 'reject', got {self.downtime_policy!r}")
        if self.latency_scale < 0:
            raise ValueError("SimConfig.latency_scale must be >= 0")
        for name in ("feed_latency", "impact_window", "oracle_delay", "sample_every", "bridge_delay"):
            _td_ns(getattr(self, name), name)
        for name, m in self.markets.items():
            if not isinstance(m, Market):
                raise TypeError(f"SimConfig.markets[{name!r}]: expected a bt.Market, got {type(m).__name__}")

    def with_(self, **changes) -> "SimConfig":
        """A copy with ``changes``; a misspelt field is an error naming the close match."""
        check_names("SimConfig", "field", changes, (f.name for f in fields(self)))
        return replace(self, **changes)

    def market(self, name: str) -> Market:
        """The :class:`Market` used for ``name``."""
        return self.markets.get(name) or Market.preset(name)

    def ns(self, name: str) -> int:
        """A duration setting in nanoseconds."""
        return _td_ns(getattr(self, name), name)

    def per_venue(self, name: str, venue: str) -> float:
        value = getattr(self, name)
        return float(value.get(venue, 0.0)) if isinstance(value, dict) else float(value)


suggest_fields(SimConfig)
