"""The reference engine's public interface: market specs, config, intents, reorgs, result.

``engine`` re-exports every name here; ``run_reference`` is in ``engine``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .records import TARGET_COLUMNS, TRANSFER_COLUMNS, frame

NAN = float("nan")


@dataclass
class MarketSpec:
    name: str
    venue: str
    imf: float
    mmf: float
    taker_fee: float
    maker_fee: float
    half_spread: float
    impact: float
    liq_fee: float = 0.015


@dataclass
class RefConfig:
    initial_cash: dict            # venue -> initial trader cash
    insurance_fund: dict          # venue -> initial insurance fund balance
    margin_mode: str = "cross"    # or "isolated"
    latency_scale: float = 1.0
    feed_latency_ns: int = 0
    slippage_multiplier: float | list = 1.0   # constant or step series [(ts_ns, value), ...]
    downtime_policy: str = "queue"            # or "reject"
    impact_window_ns: int = 3_600_000_000_000
    liq_spread: float = 1.5
    oracle_delay_ns: int = 0      # only for markets without oracle rows (oracle derived from trades)
    bridge_delay_ns: int = 1_800_000_000_000   # transfers between venues (30 min)
    rebalance_band: float = 0.05               # targets: no order inside the band
    min_trade_notional: float = 1.0            # targets: no order under this notional (quote)
    book: bool = True                          # order book: False applies the trade-tape rules everywhere
    queue_model: str = "conservative"          # order book: or "probabilistic"
    queue_power: float = 2.0                   # order book: f(x) = x ** queue_power (probabilistic)


@dataclass
class OrderIntent:
    sent_ts: int
    market: str
    side: int
    size: float
    type: str = "market"          # market | limit | stop_market
    limit_price: float = NAN
    trigger_price: float = NAN
    reduce_only: bool = False
    post_only: bool = False
    ioc: bool = False


@dataclass
class CancelIntent:
    sent_ts: int
    order_id: int


@dataclass
class Reorg:
    ts: int
    venue: str


@dataclass
class RefResult:
    orders: pd.DataFrame
    fills: pd.DataFrame
    funding: pd.DataFrame
    liquidations: pd.DataFrame
    ledger: pd.DataFrame
    final: dict
    transfers: pd.DataFrame = field(default_factory=lambda: frame([], TRANSFER_COLUMNS))
    targets: pd.DataFrame = field(default_factory=lambda: frame([], TARGET_COLUMNS))

    def acknowledged_position(self, market, t) -> float:
        """The acknowledged position of ``market`` at ``t`` from the fills: ``ack_ts <= t``,
        minus fills reverted by a reorg at ``reverted_ts <= t`` (docs: "Finality and reorgs")."""
        f = self.fills[self.fills.market == market]
        seen = (f.ack_ts <= t) & ~(f.reverted & (f.reverted_ts <= t))
        return float((f.side * f["size"])[seen].sum())


@dataclass
class TargetIntent:
    """A wish about the position of one market at decision ``sent_ts``.

    Parameters
    ----------
    sent_ts : int
        Decision time (ns); the target is executed at step 8 of this time.
    market : str
    kind : str
        ``position`` (base units), ``notional`` (quote, ``value / p``) or ``leverage``
        (``value * max(NC, 0) / p``); negative values mean short.
    value : float
        NaN means "no order at this decision".
    """
    sent_ts: int
    market: str
    kind: str
    value: float


@dataclass
class TransferIntent:
    """``ctx.transfer(amount, source, destination)`` sent at ``sent_ts``.

    Parameters
    ----------
    sent_ts : int
    amount : float
        > 0, quote currency.
    source, destination : str
        Account names. CHOICE: as the reference names accounts, the venue (``"dydx"``) in
        cross mode, ``"<venue>/<market>"`` in isolated mode.
    """
    sent_ts: int
    amount: float
    source: str
    destination: str
